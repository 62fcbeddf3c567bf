//! File type by content: intake's own kind plus `infer`'s MIME type.

use super::{AnalyseError, Analyser};
use crate::decide::classify::{kind_of, text_head};
use crate::store::queue::SampleJob;

pub struct FileType;

impl Analyser for FileType {
    fn name(&self) -> &'static str {
        "filetype"
    }
    fn version(&self) -> String {
        "1".to_owned()
    }
    fn analyse(&self, bytes: &[u8], _job: &SampleJob) -> Result<serde_json::Value, AnalyseError> {
        let text = text_head(bytes);
        let kind = kind_of(bytes, text.as_deref());
        let mime = infer::get(bytes).map(|t| t.mime_type());
        Ok(serde_json::json!({ "kind": kind.as_str(), "mime": mime, "text": text.is_some() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::consume::tests::job_for;

    #[test]
    fn pe_and_text() {
        let v = FileType
            .analyse(b"MZ\x90\0", &job_for(b"MZ\x90\0"))
            .expect("ok");
        assert_eq!(v["kind"], "pe");
        let v = FileType
            .analyse(b"#!/bin/sh\necho hi\n", &job_for(b""))
            .expect("ok");
        assert_eq!(v["kind"], "script");
        assert_eq!(v["text"], true);
    }
}
