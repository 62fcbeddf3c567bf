//! Opening zip files the way the transport rules need: telling a wrapper (a zip
//! encrypted with the password `infected`) from a plain zip, a wrong password and
//! a broken file, and reading a wrapper's entries under limits that are checked
//! on the bytes actually produced, never on what the headers claim.
//!
//! Nothing here decides what an entry *is*; that is `classify`'s job, and
//! `decide` walks the tree. Everything works on bytes in memory: inputs are
//! already bounded by the message or upload size limit.

mod directory;
mod name;
#[cfg(test)]
mod tests;

use std::io::Read;

use directory::{Directory, Listed, View};

use zip::ZipArchive;
use zip::result::ZipError;

pub use name::{SafeName, safe_name};

/// The one password a wrapper may use.
pub const PASSWORD: &[u8] = b"infected";

/// Unpacking limits. Defaults are the support policy's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct Limits {
    /// Largest single file kept (64 MiB).
    pub max_file: u64,
    /// Most bytes unpacked for one submission (1 GiB).
    pub max_total: u64,
    /// Largest uncompressed:compressed ratio of one entry (1000:1) ...
    pub max_ratio: u64,
    /// ... once the entry has produced this many bytes (1 MiB), so a small
    /// file of zeros is not called a bomb.
    pub ratio_floor: u64,
    /// Most entries in one archive (10,000).
    pub max_entries: usize,
    /// Deepest wrapper unpacked; the attached wrapper is depth 1 (3).
    pub max_depth: u32,
    /// Most attachments or uploaded files of one input judged (1,000); one
    /// rejection stands for the rest.
    pub max_files: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file: 64 << 20,
            max_total: 1 << 30,
            max_ratio: 1000,
            ratio_floor: 1 << 20,
            max_entries: 10_000,
            max_depth: 3,
            max_files: 1_000,
        }
    }
}

/// A zip file as the transport rules see it.
pub enum Probe<'a> {
    /// Encrypted, and at least one of the passwords tried passes its check:
    /// to be unpacked.
    Wrapper(Wrapper<'a>),
    /// No encrypted entries: a specimen kept whole (`office` tells an OOXML or
    /// OpenDocument file from a plain archive, jar or apk).
    Plain { office: bool },
    /// Encrypted, and none of the passwords tried opens it.
    Locked,
    /// Not readable as a zip.
    Corrupt(String),
}

/// Looks into the zip in `bytes`, trying `passwords` in order (`infected`
/// first, then those the customer gave).
pub fn probe<'a>(bytes: &'a [u8], passwords: &[&[u8]]) -> Probe<'a> {
    let Directory { entries, view } = match directory::read(bytes) {
        Ok(d) => d,
        Err(e) => return Probe::Corrupt(format!("not a readable zip: {e}")),
    };
    let mut archive = match ZipArchive::new(view) {
        Ok(a) => a,
        Err(e) => return Probe::Corrupt(describe(&e)),
    };
    if archive.len() != entries.len() {
        return Probe::Corrupt("the central directory does not read back".to_owned());
    }
    let office = entries
        .iter()
        .any(|e| e.name == "[Content_Types].xml" || e.name == "mimetype");
    let Some(i) = entries.iter().position(|e| e.encrypted) else {
        return Probe::Plain { office };
    };
    // A password check (ZipCrypto's byte, AES's verifier) lets some wrong
    // passwords through; every one that passes stays a candidate, and the
    // walk moves to the next when the entries fail their CRC or MAC.
    let mut candidates = Vec::new();
    for (k, password) in passwords.iter().enumerate() {
        match archive.by_index_decrypt(i, password) {
            Ok(_) => candidates.push((k, password.to_vec())),
            Err(ZipError::InvalidPassword) => {}
            Err(e) => return Probe::Corrupt(describe(&e)),
        }
    }
    if candidates.is_empty() {
        return Probe::Locked;
    }
    candidates.reverse();
    let Some((index, password)) = candidates.pop() else {
        return Probe::Locked;
    };
    Probe::Wrapper(Wrapper {
        archive,
        entries: entries.into(),
        password,
        index,
        others: candidates,
    })
}

fn describe(e: &ZipError) -> String {
    match e {
        ZipError::InvalidArchive(m) => format!("not a readable zip: {m}"),
        ZipError::UnsupportedArchive(m) => format!("unsupported zip: {m}"),
        ZipError::CompressionMethodNotSupported(m) => {
            format!("unsupported compression method {m}")
        }
        other => format!("unreadable zip: {other}"),
    }
}

/// An open wrapper. Cloning is cheap (the parsed directory is shared), which
/// lets entries be read on several threads.
#[derive(Clone)]
pub struct Wrapper<'a> {
    archive: ZipArchive<View<'a>>,
    /// Every record of the central directory, duplicates and all.
    entries: std::sync::Arc<[Listed]>,
    /// The password entries are read with ...
    password: Vec<u8>,
    /// ... its place in the list `probe` was given ...
    index: usize,
    /// ... and the other candidates still to try, last first.
    others: Vec<(usize, Vec<u8>)>,
}

/// What reading one entry produced.
#[derive(Debug)]
pub enum Entry {
    /// A directory: skipped silently.
    Dir,
    /// The entry's bytes, read in full and verified (CRC or AES MAC).
    File { bytes: Vec<u8>, encrypted: bool },
    /// A symlink, device, FIFO or socket; `bytes` is its content (a link's
    /// target) when it was small enough to read.
    NotAFile {
        kind: &'static str,
        bytes: Option<Vec<u8>>,
    },
    /// Stopped at the per-file limit; `head` is what was read.
    TooLarge { head: Vec<u8> },
    /// Passed the ratio limit: the archive is a bomb.
    Bomb { produced: u64, compressed: u64 },
    /// Encrypted and failed to decrypt: a wrong password (ZipCrypto's check
    /// byte lets 1 in 256 through) or damage. The caller tells which from
    /// whether other entries decrypted.
    DecryptFailed(String),
    /// Unreadable for another reason (damage, unsupported method).
    Corrupt(String),
}

impl Wrapper<'_> {
    /// Which of the passwords given to `probe` this wrapper is read with.
    pub fn password_index(&self) -> usize {
        self.index
    }

    /// The same wrapper read with the next candidate password, when the
    /// current one passed the check but decrypts nothing.
    pub fn next_password(mut self) -> Option<Self> {
        let (index, password) = self.others.pop()?;
        self.index = index;
        self.password = password;
        Some(self)
    }

    /// Number of entries the central directory lists.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The name of entry `i` as the archive lists it, decoded: UTF-8 when
    /// the bytes are UTF-8 (many tools omit the flag), else CP437.
    pub fn name(&self, i: usize) -> &str {
        self.entries.get(i).map_or("", |e| e.name.as_str())
    }

    /// Whether entry `i` is named as a directory (its name ends in a
    /// separator); reading tells whether it is one.
    pub fn is_dir(&self, i: usize) -> bool {
        self.entries.get(i).is_some_and(|e| e.is_dir)
    }

    /// Reads entry `i` under `limits`.
    pub fn read(&mut self, i: usize, limits: &Limits) -> Entry {
        let meta = match self.archive.by_index_data(i) {
            Ok(m) => m,
            Err(e) => return Entry::Corrupt(describe(&e)),
        };
        let encrypted = meta.encrypted();
        let compressed = meta.compressed_size();
        let declared = meta.size();
        let special = special_kind(meta.unix_mode(), meta.is_symlink());
        let is_dir = meta.is_dir();
        let mut file = match self.archive.by_index_decrypt(i, &self.password) {
            Ok(f) => f,
            Err(ZipError::InvalidPassword) => {
                return Entry::DecryptFailed("the password does not open it".to_owned());
            }
            Err(e) => return Entry::Corrupt(describe(&e)),
        };
        if let Some(kind) = special {
            let mut target = Vec::new();
            let full = (&mut file)
                .take(LINK_MAX + 1)
                .read_to_end(&mut target)
                .is_ok()
                && target.len() as u64 <= LINK_MAX;
            return Entry::NotAFile {
                kind,
                bytes: full.then_some(target),
            };
        }
        // The header's claim only sizes the reservation, capped by the limit:
        // reserving does not touch memory, and a lie just means regrowth.
        let mut bytes = Vec::with_capacity(declared.min(limits.max_file) as usize);
        let mut chunk = vec![0u8; 256 << 10];
        loop {
            let n = match file.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if encrypted => return Entry::DecryptFailed(e.to_string()),
                Err(e) => return Entry::Corrupt(format!("damaged entry: {e}")),
            };
            let produced = (bytes.len() + n) as u64;
            if produced > limits.ratio_floor
                && produced > limits.max_ratio.saturating_mul(compressed.max(1))
            {
                return Entry::Bomb {
                    produced,
                    compressed,
                };
            }
            if produced > limits.max_file {
                let room = (limits.max_file as usize).saturating_sub(bytes.len());
                bytes.extend_from_slice(&chunk[..room.min(n)]);
                return Entry::TooLarge { head: bytes };
            }
            bytes.extend_from_slice(&chunk[..n]);
        }
        // A directory is skipped only when it holds nothing: a name ending
        // in a separator must not hide data.
        if is_dir && bytes.is_empty() {
            return Entry::Dir;
        }
        Entry::File { bytes, encrypted }
    }
}

/// Largest symlink target read for hashing.
const LINK_MAX: u64 = 64 << 10;

/// What kind of non-regular entry the Unix mode bits describe, if any.
fn special_kind(mode: Option<u32>, symlink: bool) -> Option<&'static str> {
    if symlink {
        return Some("symbolic link");
    }
    match mode? & 0o170000 {
        0o120000 => Some("symbolic link"),
        0o020000 => Some("character device"),
        0o060000 => Some("block device"),
        0o010000 => Some("FIFO"),
        0o140000 => Some("socket"),
        _ => None,
    }
}
