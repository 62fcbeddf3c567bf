//! An upload as a directory: the files plus the form's facts as
//! `metadata.json` (for `intake check --channel portal`, the demo, and
//! uploads spooled to disk).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::decide::metadata::Metadata;
use crate::decide::report::Channel;
use crate::decide::{Attachment, Input};

/// The file holding the form's facts.
pub const METADATA_FILE: &str = "metadata.json";

/// Most files taken from one upload directory (deeper trees are cut here).
const MAX_FILES: usize = 10_000;

/// Reading an upload directory failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{0}: not a directory")]
    NotADirectory(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> UploadError + '_ {
    move |source| UploadError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Reads the upload in `dir`: every regular file except `metadata.json`, in
/// name order, with sub-folders as path steps. Symlinks are never followed;
/// they become `not_a_file` rejections.
pub fn read_upload(dir: &Path) -> Result<Input<'static>, UploadError> {
    let meta = fs::symlink_metadata(dir).map_err(io_err(dir))?;
    if !meta.is_dir() {
        return Err(UploadError::NotADirectory(dir.to_owned()));
    }
    // The form's facts, and the optional sender address the portal adds.
    let form = match fs::read(dir.join(METADATA_FILE)) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err(dir)(e)),
    };
    let metadata = form.as_deref().map(Metadata::from_json).unwrap_or_default();
    let passwords = form
        .as_deref()
        .map(Metadata::passwords_from_json)
        .unwrap_or_default();
    let sender = form
        .as_deref()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .and_then(|v| v.get("sender").and_then(|s| s.as_str()).map(str::to_owned));
    let mut attachments = Vec::new();
    walk(dir, "", &mut attachments)?;
    Ok(Input {
        channel: Channel::Portal,
        message_id: None,
        sender,
        attachments,
        metadata,
        passwords,
    })
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<Attachment<'static>>) -> Result<(), UploadError> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for name in names {
        if out.len() >= MAX_FILES {
            break;
        }
        let shown = format!("{prefix}{}", name.to_string_lossy());
        if prefix.is_empty() && name == METADATA_FILE {
            continue;
        }
        let path = dir.join(&name);
        let meta = fs::symlink_metadata(&path).map_err(io_err(&path))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            walk(&path, &format!("{shown}/"), out)?;
        } else if ft.is_file() {
            let bytes = fs::read(&path).map_err(io_err(&path))?;
            out.push(Attachment::new(Some(shown), bytes));
        } else {
            // Never followed: a link's content is its target, kept as evidence.
            let (kind, bytes) = if ft.is_symlink() {
                let target = fs::read_link(&path).map_err(io_err(&path))?;
                (
                    "symbolic link",
                    target.into_os_string().into_encoded_bytes(),
                )
            } else {
                ("special file", Vec::new())
            };
            out.push(Attachment {
                name: Some(shown),
                bytes: bytes.into(),
                not_a_file: Some(kind),
            });
        }
    }
    Ok(())
}
