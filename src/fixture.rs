//! Test fixtures: zips and messages built in memory with the zip crate's
//! writer, so unit tests need no files. Harmless content only.

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{AesMode, CompressionMethod, ZipWriter};

pub const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// How entries are protected.
#[derive(Clone, Copy)]
pub enum Lock<'p> {
    None,
    ZipCrypto(&'p [u8]),
    Aes(AesMode, &'p str),
}

/// One entry to write.
pub enum Item<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
}

/// A zip of `items`, deflated, locked as asked.
pub fn zip(items: &[Item<'_>], lock: Lock<'_>) -> Vec<u8> {
    zip_with(items, lock, CompressionMethod::Deflated)
}

pub fn zip_with(items: &[Item<'_>], lock: Lock<'_>, method: CompressionMethod) -> Vec<u8> {
    use zip::unstable::write::FileOptionsExt;
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let base = SimpleFileOptions::default().compression_method(method);
    let opts = match lock {
        Lock::None => base,
        Lock::ZipCrypto(p) => base.with_deprecated_encryption(p).expect("password"),
        Lock::Aes(mode, p) => base.with_aes_encryption(mode, p),
    };
    for item in items {
        match item {
            Item::File(name, data) => {
                w.start_file(*name, opts).expect("start");
                w.write_all(data).expect("write");
            }
            Item::Dir(name) => w.add_directory(*name, base).expect("dir"),
            Item::Symlink(name, target) => w.add_symlink(*name, *target, opts).expect("link"),
        }
    }
    w.finish().expect("finish").into_inner()
}

/// `zip` with every occurrence of the name `from` (in local headers and the
/// central directory) replaced by `to`, of the same length: how tests make
/// an archive whose directory lists one name twice, which the zip crate's
/// writer refuses to write. Names are plaintext even in encrypted archives.
pub fn renamed(mut zip: Vec<u8>, from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len(), "same length keeps every offset");
    let (from, to) = (from.as_bytes(), to.as_bytes());
    let mut at = 0;
    while let Some(p) = memchr::memmem::find(&zip[at..], from) {
        zip[at + p..at + p + from.len()].copy_from_slice(to);
        at += p + from.len();
    }
    zip
}

/// A wrapper the way customers make them: ZipCrypto with `infected`.
pub fn wrapper(items: &[Item<'_>]) -> Vec<u8> {
    zip(items, Lock::ZipCrypto(b"infected"))
}

/// An RFC 5322 message with `body` as text/plain and base64 attachments.
pub fn email(body: &str, attachments: &[(&str, &[u8])]) -> Vec<u8> {
    use base64_engine::encode;
    let mut m = String::from(
        "From: Bob <bob@acme.example>\r\nTo: samples@lab.example\r\nSubject: sample\r\nMessage-ID: <t1@acme.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BOUNDARY\"\r\n\r\n",
    );
    m.push_str("--BOUNDARY\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
    m.push_str(body);
    m.push_str("\r\n");
    for (name, data) in attachments {
        m.push_str(&format!(
            "--BOUNDARY\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            encode(data)
        ));
    }
    m.push_str("--BOUNDARY--\r\n");
    m.into_bytes()
}

mod base64_engine {
    use base64::Engine;

    /// Base64 in 76-column lines, as mail carries it.
    pub fn encode(data: &[u8]) -> String {
        let flat = base64::engine::general_purpose::STANDARD.encode(data);
        flat.as_bytes()
            .chunks(76)
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect::<Vec<_>>()
            .join("\r\n")
    }
}

/// The moment an RFC 3339 literal of a test names.
pub fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|e| panic!("{s:?} is not an RFC 3339 time: {e}"))
}
