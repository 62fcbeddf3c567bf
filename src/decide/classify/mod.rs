//! Judging a file by its content, never its name: is it something the lab does
//! not want (a screenshot, a security product's log, a Prefetch file), a zip
//! that the transport rules must look into, or a specimen — and what kind.
//! Each detector is a small module with its own tests; this module orders them
//! by the contract's precedence.

mod av_log;
mod hijackthis;
mod image;
mod kind;
mod prefetch;
mod reason;
mod script;
mod text;

pub use kind::{Kind, kind_of};
pub use reason::RejectReason;
pub use text::text_head;

/// What a file is, before any transport rule is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A file the lab refuses whatever way it came: `reason` is one of
    /// `empty`, `screenshot`, `av_log`, `hijackthis_log`, `prefetch`.
    Unwanted {
        reason: RejectReason,
        detail: String,
    },
    /// Starts with a zip signature: a wrapper, a plain zip, an OOXML file or a
    /// jar; the transport rules decide which by opening it.
    Zip,
    /// Anything else: a specimen of this kind.
    Specimen(Kind),
}

/// Identifies `bytes`. Only a bounded head is inspected, so the cost does not
/// grow with the file.
pub fn identify(bytes: &[u8]) -> Identity {
    if bytes.is_empty() {
        return unwanted(RejectReason::Empty, "zero bytes");
    }
    if let Some(format) = image::detect(bytes) {
        return unwanted(RejectReason::Screenshot, &format!("{format} image"));
    }
    let text = text_head(bytes);
    // A log may quote the command it blocked; a script may echo a log's
    // phrases. Which one a file is follows from which of the two fills it.
    if let Some(t) = text
        .as_deref()
        .filter(|t| !script::evidence(t).outweighs_log())
    {
        if hijackthis::detect(t) {
            return unwanted(RejectReason::HijackthisLog, "HijackThis log");
        }
        if let Some(product) = av_log::detect(t) {
            return unwanted(RejectReason::AvLog, &format!("{product} log"));
        }
    }
    if let Some(detail) = prefetch::detect(bytes) {
        return unwanted(RejectReason::Prefetch, &detail);
    }
    if has_zip_signature(bytes) {
        return Identity::Zip;
    }
    Identity::Specimen(kind_of(bytes, text.as_deref()))
}

fn unwanted(reason: RejectReason, detail: &str) -> Identity {
    Identity::Unwanted {
        reason,
        detail: detail.to_owned(),
    }
}

/// A local file header, an empty archive's end record, or a spanning marker.
/// Only the start counts: an executable with a zip appended (a self-extractor)
/// is an executable.
pub fn has_zip_signature(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
        || bytes.starts_with(b"PK\x05\x06")
        || bytes.starts_with(b"PK\x07\x08PK\x03\x04")
}

/// How a sample's kind is written in reports.
impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pe => "pe",
            Kind::Elf => "elf",
            Kind::Macho => "macho",
            Kind::Script => "script",
            Kind::Html => "html",
            Kind::Pdf => "pdf",
            Kind::Office => "office",
            Kind::Archive => "archive",
            Kind::Java => "java",
            Kind::Lnk => "lnk",
            Kind::Text => "text",
            Kind::Other => "other",
        }
    }
}

#[cfg(test)]
mod tests;
