//! Blobs at rest are neutered: every stored file is the original bytes run
//! through a keyed stream cipher (ChaCha20) behind a small header naming the
//! format and the key. An antivirus on the storage host (the lab's own
//! product, say) then finds nothing to quarantine or delete — which would be
//! loss — and a stray double-click on a stored file runs nothing. This is
//! neutering, not secrecy: the built-in key is public, like CaRT's default
//! RC4 key. A deployment may name its own key (`blob_key`); every key ever
//! used must stay configured for reading.
//!
//! The nonce is the first 12 bytes of the content's SHA-256: the same bytes
//! always store as the same file (content addressing stays idempotent), and
//! two different contents never share a keystream.
//!
//! Header: `\x7fINTAKE\x01`, the key id's length (one byte) and the id, the
//! 12-byte nonce; then the enciphered bytes. Files without the header are
//! read as they are (blobs written before neutering, until `intake blobs
//! neuter` has converted them).

use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher};

use crate::digest::Sha256;

/// The first bytes of a neutered blob.
pub const MAGIC: &[u8; 8] = b"\x7fINTAKE\x01";

/// The id of the built-in key.
pub const BUILTIN_ID: &str = "builtin-1";

/// One key and the id stored in each header written with it.
#[derive(Clone)]
struct Key {
    id: String,
    bytes: [u8; 32],
}

/// The key new blobs are written with, and every key blobs can be read with.
#[derive(Clone)]
pub struct Keyring {
    write: Key,
    read: Vec<Key>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Ids only: keys stay out of logs.
        let ids: Vec<&str> = self.read.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("Keyring")
            .field("write", &self.write.id)
            .field("read", &ids)
            .finish()
    }
}

/// A stored blob could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NeuterError {
    #[error("neutered blob with a damaged header")]
    Header,
    #[error("neutered with key {0:?}, which is not configured")]
    UnknownKey(String),
    #[error("blob key {0:?}: expected id:64 hex digits")]
    BadKey(String),
}

impl Default for Keyring {
    fn default() -> Self {
        let builtin = Key {
            id: BUILTIN_ID.to_owned(),
            bytes: *Sha256::of(b"intake blob neutering key 1").as_bytes(),
        };
        Keyring {
            write: builtin.clone(),
            read: vec![builtin],
        }
    }
}

impl Keyring {
    /// The built-in key, plus `configured` (`id:64 hex digits`) when given,
    /// which then writes new blobs.
    pub fn new(configured: Option<&str>) -> Result<Keyring, NeuterError> {
        let mut ring = Keyring::default();
        let Some(spec) = configured.filter(|s| !s.is_empty()) else {
            return Ok(ring);
        };
        let bad = || NeuterError::BadKey(spec.split(':').next().unwrap_or("").to_owned());
        let (id, hex_key) = spec.split_once(':').ok_or_else(bad)?;
        let bytes: [u8; 32] = hex::decode(hex_key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(bad)?;
        if id.is_empty() || id.len() > 64 || id == BUILTIN_ID {
            return Err(bad());
        }
        let key = Key {
            id: id.to_owned(),
            bytes,
        };
        ring.read.push(key.clone());
        ring.write = key;
        Ok(ring)
    }

    /// The stored form of `plain`, whose digest is `sha256`.
    pub fn encode(&self, sha256: &Sha256, plain: &[u8]) -> Vec<u8> {
        let nonce = nonce_of(sha256);
        let (mut out, mut c) = self.start(nonce);
        let body = out.len();
        out.reserve(plain.len());
        out.extend_from_slice(plain);
        c.apply_keystream(&mut out[body..]);
        out
    }

    /// The header of a blob written with `nonce`, and the cipher for its
    /// body. A blob written as it streams in (an upload, whose digest is
    /// known only at its end) takes a random nonce; [`Keyring::decode`]
    /// reads whichever the header names.
    pub fn start(&self, nonce: [u8; 12]) -> (Vec<u8>, ChaCha20) {
        let id = self.write.id.as_bytes();
        let mut header = Vec::with_capacity(MAGIC.len() + 1 + id.len() + 12);
        header.extend_from_slice(MAGIC);
        header.push(id.len() as u8);
        header.extend_from_slice(id);
        header.extend_from_slice(&nonce);
        (
            header,
            ChaCha20::new(&self.write.bytes.into(), &nonce.into()),
        )
    }

    /// The original bytes of a stored blob; a file without the header is
    /// returned as it is.
    pub fn decode(&self, mut stored: Vec<u8>) -> Result<Vec<u8>, NeuterError> {
        if !is_neutered(&stored) {
            return Ok(stored);
        }
        let id_len = *stored.get(MAGIC.len()).ok_or(NeuterError::Header)? as usize;
        let id_at = MAGIC.len() + 1;
        let nonce_at = id_at + id_len;
        let body = nonce_at + 12;
        if stored.len() < body {
            return Err(NeuterError::Header);
        }
        let id = std::str::from_utf8(&stored[id_at..nonce_at]).map_err(|_| NeuterError::Header)?;
        let key = self
            .read
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| NeuterError::UnknownKey(id.to_owned()))?;
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&stored[nonce_at..body]);
        let mut c = ChaCha20::new(&key.bytes.into(), &nonce.into());
        c.apply_keystream(&mut stored[body..]);
        stored.drain(..body);
        Ok(stored)
    }
}

/// Whether `stored` carries the neutered header.
pub fn is_neutered(stored: &[u8]) -> bool {
    stored.starts_with(MAGIC)
}

fn nonce_of(sha256: &Sha256) -> [u8; 12] {
    let mut n = [0u8; 12];
    n.copy_from_slice(&sha256.as_bytes()[..12]);
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

    #[test]
    fn neutered_bytes_hide_the_content_and_read_back() {
        let ring = Keyring::default();
        let d = Sha256::of(EICAR);
        let stored = ring.encode(&d, EICAR);
        assert!(is_neutered(&stored));
        assert!(memchr::memmem::find(&stored, b"EICAR").is_none());
        assert!(!stored.starts_with(b"MZ") && !stored.starts_with(b"X5O"));
        assert_eq!(ring.encode(&d, EICAR), stored, "the same bytes store alike");
        assert_eq!(ring.decode(stored).expect("decodes"), EICAR);
        // Blobs from before neutering read as they are.
        assert_eq!(ring.decode(EICAR.to_vec()).expect("raw"), EICAR);
    }

    #[test]
    fn a_configured_key_writes_and_the_builtin_still_reads() {
        let old = Keyring::default().encode(&Sha256::of(b"a"), b"a");
        let ring = Keyring::new(Some(&format!("lab-2026:{}", "ab".repeat(32)))).expect("key");
        let new = ring.encode(&Sha256::of(b"b"), b"b");
        assert_eq!(ring.decode(old).expect("old"), b"a");
        assert_eq!(ring.decode(new.clone()).expect("new"), b"b");
        assert_eq!(
            Keyring::default().decode(new),
            Err(NeuterError::UnknownKey("lab-2026".into()))
        );
        for bad in [
            "nocolon",
            "x:abcd",
            &format!("{BUILTIN_ID}:{}", "00".repeat(32)),
        ] {
            assert!(Keyring::new(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn damaged_headers_are_errors_not_panics() {
        let ring = Keyring::default();
        let mut h = MAGIC.to_vec();
        assert_eq!(ring.decode(h.clone()), Err(NeuterError::Header));
        h.push(200);
        assert_eq!(ring.decode(h), Err(NeuterError::Header));
    }
}
