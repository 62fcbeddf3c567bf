//! A blob written as it streams in (a portal upload): neutered and hashed
//! piece by piece into a private temporary file, then kept under its digest
//! once the last piece is in. The sample's bytes are never whole in memory
//! and never on disk as they are. The file takes a random nonce, named in
//! its header, since the digest that would give the usual one is known
//! only at the end.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use chacha20::ChaCha20;
use chacha20::cipher::StreamCipher;

use super::Keyring;
use crate::digest::{Hasher, Sha256};

/// Pieces are enciphered through a buffer of this size.
const PIECE: usize = 256 * 1024;

/// An unfinished blob. Dropped before [`super::Blobs::keep`], its file is
/// removed.
pub struct Spool {
    file: fs::File,
    path: Option<PathBuf>,
    cipher: ChaCha20,
    hasher: Hasher,
    size: u64,
    buf: Vec<u8>,
}

/// A spool written out and flushed: its digest, size and file.
pub(super) struct Written {
    pub sha256: Sha256,
    pub size: u64,
    pub path: PathBuf,
}

impl Spool {
    pub(super) fn create(dir: &Path, keys: &Keyring) -> io::Result<Spool> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| io::Error::other(e.to_string()))?;
        let (header, cipher) = keys.start(nonce);
        let path = dir.join(format!("spool.{}", uuid::Uuid::new_v4()));
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        if let Err(e) = file.write_all(&header) {
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        Ok(Spool {
            file,
            path: Some(path),
            cipher,
            hasher: Sha256::hasher(),
            size: 0,
            buf: Vec::new(),
        })
    }

    /// Appends `piece` of the original bytes.
    pub fn write(&mut self, piece: &[u8]) -> io::Result<()> {
        self.hasher.update(piece);
        self.size += piece.len() as u64;
        for part in piece.chunks(PIECE) {
            self.buf.clear();
            self.buf.extend_from_slice(part);
            self.cipher.apply_keystream(&mut self.buf);
            self.file.write_all(&self.buf)?;
        }
        Ok(())
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Flushes the file to disk; the caller moves it into place.
    pub(super) fn finish(mut self) -> io::Result<Written> {
        self.file.sync_data()?;
        let path = self
            .path
            .take()
            .ok_or_else(|| io::Error::other("spool finished twice"))?;
        Ok(Written {
            sha256: std::mem::take(&mut self.hasher).finish(),
            size: self.size,
            path,
        })
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = fs::remove_file(p);
        }
    }
}
