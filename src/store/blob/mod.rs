//! Content-addressed blob storage for raw inputs, samples and quarantined
//! files. A blob's name is its SHA-256 (of the original bytes), never
//! anything the sender chose, so a sample cannot land under its original
//! name, and writing the same bytes twice is a no-op. What is stored is
//! neutered ([`neuter`]): no stored file holds a sample's bytes as they are.
//! Local files are mode 0600 in 0700 folders: never executable. Calls block;
//! use them from blocking contexts.

pub mod neuter;
mod spool;

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use serde::Deserialize;

use crate::decide::Keep;
use crate::digest::Sha256;
pub use neuter::Keyring;
pub use spool::Spool;

/// Blob storage.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum BlobConfig {
    /// A local directory (one host).
    Local { dir: PathBuf },
    /// An S3-compatible object store (several hosts).
    S3 {
        bucket: String,
        #[serde(default)]
        endpoint: Option<String>,
        #[serde(default = "default_region")]
        region: String,
        #[serde(default)]
        access_key_id: Option<String>,
        #[serde(default)]
        secret_access_key: Option<String>,
        #[serde(default)]
        allow_http: bool,
    },
}

fn default_region() -> String {
    "us-east-1".to_owned()
}

/// Where blobs live.
#[derive(Clone)]
pub enum Blobs {
    Local(LocalBlobs),
    S3(S3Blobs),
}

impl Blobs {
    /// Opens the store the configuration names, neutering with `keys`.
    /// `runtime` drives the S3 client.
    pub fn open(
        cfg: &BlobConfig,
        keys: Keyring,
        runtime: tokio::runtime::Handle,
    ) -> io::Result<Blobs> {
        match cfg {
            BlobConfig::Local { dir } => Ok(Blobs::Local(LocalBlobs::open(dir)?.with_keys(keys))),
            BlobConfig::S3 {
                bucket,
                endpoint,
                region,
                access_key_id,
                secret_access_key,
                allow_http,
            } => {
                let mut b = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_allow_http(*allow_http);
                if let Some(e) = endpoint {
                    b = b.with_endpoint(e);
                }
                if let Some(k) = access_key_id {
                    b = b.with_access_key_id(k);
                }
                if let Some(s) = secret_access_key {
                    b = b.with_secret_access_key(s);
                }
                let store = b.build().map_err(io::Error::other)?;
                Ok(Blobs::S3(S3Blobs {
                    store: Arc::new(store),
                    runtime,
                    keys: Arc::new(keys),
                }))
            }
        }
    }

    pub fn put(&self, sha256: &Sha256, bytes: &[u8]) -> io::Result<()> {
        match self {
            Blobs::Local(l) => l.put(sha256, bytes),
            Blobs::S3(s) => s.put(sha256, bytes),
        }
    }

    /// The original bytes of blob `sha256`.
    pub fn get(&self, sha256: &Sha256) -> io::Result<Vec<u8>> {
        match self {
            Blobs::Local(l) => l.get(sha256),
            Blobs::S3(s) => s.get(sha256),
        }
    }

    /// A new blob to write piece by piece, kept by [`Blobs::keep`].
    pub fn spool(&self) -> io::Result<Spool> {
        match self {
            Blobs::Local(l) => Spool::create(&l.root.join("tmp"), &l.keys),
            Blobs::S3(s) => {
                let dir = std::env::temp_dir().join("intake-spool");
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&dir)?;
                Spool::create(&dir, &s.keys)
            }
        }
    }

    /// Stores a finished spool durably under its digest; returns the digest
    /// and the size of the original bytes.
    pub fn keep(&self, spool: Spool) -> io::Result<(Sha256, u64)> {
        let w = spool.finish()?;
        let kept = match self {
            Blobs::Local(l) => l.keep(&w.sha256, &w.path),
            Blobs::S3(s) => s.keep(&w.sha256, &w.path),
        };
        let _ = fs::remove_file(&w.path);
        kept.map(|()| (w.sha256, w.size))
    }

    /// Rewrites every blob stored before neutering in neutered form.
    pub fn neuter_all(&self) -> io::Result<Converted> {
        match self {
            Blobs::Local(l) => l.neuter_all(),
            Blobs::S3(s) => s.neuter_all(),
        }
    }
}

/// What `intake blobs neuter` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Converted {
    /// Rewritten in neutered form.
    pub converted: u64,
    /// Already neutered.
    pub kept: u64,
    /// Whose content does not hash to their name (torn or tampered): left
    /// as they are and reported.
    pub damaged: u64,
}

impl Converted {
    /// Counts one stored blob named `sha256`: kept when already neutered,
    /// rewritten by `rewrite` when it holds those bytes as they came, left
    /// as it is when it holds anything else.
    fn count(
        &mut self,
        sha256: &Sha256,
        stored: &[u8],
        rewrite: impl FnOnce() -> io::Result<()>,
    ) -> io::Result<()> {
        if neuter::is_neutered(stored) {
            self.kept += 1;
        } else if Sha256::of(stored) == *sha256 {
            rewrite()?;
            self.converted += 1;
        } else {
            self.damaged += 1;
        }
        Ok(())
    }
}

/// The digest a blob's key or file name gives, if it is one.
fn digest_of_name(name: &str) -> Option<Sha256> {
    (name.len() == 64).then(|| name.parse().ok()).flatten()
}

fn invalid(e: neuter::NeuterError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl Keep for Blobs {
    fn keep(&self, sha256: &Sha256, bytes: &[u8]) -> io::Result<()> {
        self.put(sha256, bytes)
    }
}

/// Blobs in a local directory, sharded `ab/cd/abcd…` to keep folders small.
#[derive(Debug, Clone)]
pub struct LocalBlobs {
    root: PathBuf,
    keys: Arc<Keyring>,
}

impl LocalBlobs {
    /// Opens (and creates) the store at `root`, neutering with the built-in
    /// key.
    pub fn open(root: &Path) -> io::Result<LocalBlobs> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root.join("tmp"))?;
        Ok(LocalBlobs {
            root: root.to_owned(),
            keys: Arc::new(Keyring::default()),
        })
    }

    /// The same store, neutering with `keys`.
    pub fn with_keys(mut self, keys: Keyring) -> LocalBlobs {
        self.keys = Arc::new(keys);
        self
    }

    /// Where the blob `sha256` lives.
    pub fn path(&self, sha256: &Sha256) -> PathBuf {
        let hex = sha256.to_hex();
        self.root.join(&hex[0..2]).join(&hex[2..4]).join(hex)
    }

    /// Writes durably before returning: the caller may then acknowledge the
    /// input. The common case writes the final name directly (`O_EXCL`), then
    /// fsyncs the file and its folder, both at once — a rename would cost a
    /// second journal commit. A file already there counts only if its
    /// content hashes to its name (a crash mid-write leaves a torn file);
    /// otherwise it is replaced atomically through a temporary file.
    pub fn put(&self, sha256: &Sha256, bytes: &[u8]) -> io::Result<()> {
        let dest = self.path(sha256);
        let dir = dest.parent().unwrap_or(&self.root).to_owned();
        if dest.exists() {
            return self.verify_or_replace(sha256, &dest, &dir, bytes);
        }
        let stored = self.keys.encode(sha256, bytes);
        let bytes = &stored[..];
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        let mut f = match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&dest)
        {
            Ok(f) => f,
            // Another writer got there first; make sure of what it wrote.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return self.verify_or_replace(sha256, &dest, &dir, bytes);
            }
            Err(e) => return Err(e),
        };
        if let Err(e) = write_and_sync(&mut f, bytes, &dir) {
            let _ = fs::remove_file(&dest);
            return Err(e);
        }
        Ok(())
    }

    fn verify_or_replace(
        &self,
        sha256: &Sha256,
        dest: &Path,
        dir: &Path,
        bytes: &[u8],
    ) -> io::Result<()> {
        // Whole when it reads back as the blob (`get` checks its hash).
        if self.get(sha256).is_ok() {
            return Ok(());
        }
        self.replace(sha256, dest, dir, &self.keys.encode(sha256, bytes))
    }

    /// Puts `stored` at `dest` atomically, through a temporary file.
    fn replace(&self, sha256: &Sha256, dest: &Path, dir: &Path, stored: &[u8]) -> io::Result<()> {
        let bytes = stored;
        let tmp =
            self.root
                .join("tmp")
                .join(format!("{}.{}", sha256.to_hex(), uuid::Uuid::new_v4()));
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        if let Err(e) = f.write_all(bytes).and_then(|()| f.sync_all()) {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        fs::rename(&tmp, dest)?;
        fs::File::open(dir)?.sync_all()
    }

    /// Moves the flushed file `spooled` into place as blob `sha256`. An
    /// existing blob of that name is replaced: both hold the same bytes,
    /// and the new file is known whole.
    fn keep(&self, sha256: &Sha256, spooled: &Path) -> io::Result<()> {
        let dest = self.path(sha256);
        let dir = dest.parent().unwrap_or(&self.root);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        fs::rename(spooled, &dest)?;
        fs::File::open(dir)?.sync_all()
    }

    /// The original bytes of blob `sha256`, only when they hash to its name.
    /// [`LocalBlobs::put`] writes the final name in place, so a reader can
    /// meet a file still being written, or one a full disk or a crash tore:
    /// the proof's 100,000-input run decided such a truncated message (the
    /// repair loop read it while the sender's retry was writing it). A torn
    /// blob is an error, as a missing one is: the input is parked, and its
    /// sender's next try, whose write is whole, brings it back.
    pub fn get(&self, sha256: &Sha256) -> io::Result<Vec<u8>> {
        let bytes = self
            .keys
            .decode(fs::read(self.path(sha256))?)
            .map_err(invalid)?;
        if Sha256::of(&bytes) != *sha256 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "blob {sha256} is torn or still being written: its {} bytes do not hash to its name",
                    bytes.len()
                ),
            ));
        }
        Ok(bytes)
    }

    /// Rewrites every blob stored as it came in neutered form; a crash
    /// midway leaves each file whole (old or new), so it can run again.
    pub fn neuter_all(&self) -> io::Result<Converted> {
        let mut done = Converted::default();
        for a in fs::read_dir(&self.root)? {
            let a = a?.path();
            if !a.is_dir() || a.file_name().is_some_and(|n| n == "tmp") {
                continue;
            }
            for b in fs::read_dir(&a)? {
                let b = b?.path();
                if !b.is_dir() {
                    continue;
                }
                for f in fs::read_dir(&b)? {
                    let f = f?.path();
                    let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    let Some(sha256) = digest_of_name(name) else {
                        continue;
                    };
                    let stored = fs::read(&f)?;
                    done.count(&sha256, &stored, || {
                        self.replace(&sha256, &f, &b, &self.keys.encode(&sha256, &stored))
                    })?;
                }
            }
        }
        Ok(done)
    }
}

/// Writes `bytes` to the new file `f` and makes them and the file's entry in
/// `dir` durable. The two flushes run at once, on two threads: the disk
/// takes them together instead of one after the other, which is most of the
/// time a customer's MTA waits for its `250`.
fn write_and_sync(f: &mut fs::File, bytes: &[u8], dir: &Path) -> io::Result<()> {
    let sync_dir = || fs::File::open(dir).and_then(|d| d.sync_all());
    std::thread::scope(|s| {
        let entry = std::thread::Builder::new().spawn_scoped(s, sync_dir);
        let data = f.write_all(bytes).and_then(|()| f.sync_data());
        let entry = match entry {
            Ok(t) => t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("syncing the folder failed"))),
            // No thread to spare: one after the other.
            Err(_) => sync_dir(),
        };
        data.and(entry)
    })
}

/// Blobs in an S3-compatible bucket, under `blobs/ab/cd/abcd…`.
#[derive(Clone)]
pub struct S3Blobs {
    store: Arc<dyn ObjectStore>,
    runtime: tokio::runtime::Handle,
    keys: Arc<Keyring>,
}

impl S3Blobs {
    fn key(sha256: &Sha256) -> ObjectPath {
        let hex = sha256.to_hex();
        ObjectPath::from(format!("blobs/{}/{}/{hex}", &hex[0..2], &hex[2..4]))
    }

    fn put(&self, sha256: &Sha256, bytes: &[u8]) -> io::Result<()> {
        let key = Self::key(sha256);
        let payload = PutPayload::from(self.keys.encode(sha256, bytes));
        self.runtime
            .block_on(self.store.put(&key, payload))
            .map(|_| ())
            .map_err(io::Error::other)
    }

    /// Uploads the spooled (already neutered) file in parts, never whole
    /// in memory.
    fn keep(&self, sha256: &Sha256, spooled: &Path) -> io::Result<()> {
        use std::io::Read;
        let key = Self::key(sha256);
        let mut file = fs::File::open(spooled)?;
        self.runtime.block_on(async {
            let upload = self
                .store
                .put_multipart(&key)
                .await
                .map_err(io::Error::other)?;
            let mut w = object_store::WriteMultipart::new(upload);
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                w.wait_for_capacity(4).await.map_err(io::Error::other)?;
                w.write(&buf[..n]);
            }
            w.finish().await.map(|_| ()).map_err(io::Error::other)
        })
    }

    fn get(&self, sha256: &Sha256) -> io::Result<Vec<u8>> {
        let key = Self::key(sha256);
        let stored = self
            .runtime
            .block_on(async { self.store.get(&key).await?.bytes().await })
            .map(|b| b.to_vec())
            .map_err(io::Error::other)?;
        self.keys.decode(stored).map_err(invalid)
    }

    fn neuter_all(&self) -> io::Result<Converted> {
        use futures_util::StreamExt;
        let prefix = ObjectPath::from("blobs");
        let keys: Vec<ObjectPath> = self
            .runtime
            .block_on(async {
                self.store
                    .list(Some(&prefix))
                    .map(|m| m.map(|m| m.location))
                    .collect::<Vec<_>>()
                    .await
            })
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(io::Error::other)?;
        let mut done = Converted::default();
        for key in keys {
            let Some(sha256) = key.filename().and_then(digest_of_name) else {
                continue;
            };
            let stored = self
                .runtime
                .block_on(async { self.store.get(&key).await?.bytes().await })
                .map_err(io::Error::other)?;
            done.count(&sha256, &stored, || self.put(&sha256, &stored))?;
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn local_blobs_are_addressed_by_digest_private_and_not_executable() {
        let dir = tempfile::tempdir().expect("tmp");
        let blobs = LocalBlobs::open(dir.path()).expect("open");
        let data = b"#!/bin/sh\necho harmless\n";
        let d = Sha256::of(data);
        blobs.put(&d, data).expect("put");
        blobs.put(&d, data).expect("second put is a no-op");
        let p = blobs.path(&d);
        assert!(p.ends_with(d.to_hex()));
        assert_eq!(blobs.get(&d).expect("get"), data);
        let mode = fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let parent = fs::metadata(p.parent().expect("dir"))
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(parent, 0o700);
        assert_eq!(
            fs::read_dir(dir.path().join("tmp")).expect("tmp").count(),
            0
        );
    }

    /// A file under a blob's name whose bytes are not the blob's (being
    /// written, or torn) is never read as the blob.
    #[test]
    fn a_torn_blob_is_an_error_not_its_first_bytes() {
        let dir = tempfile::tempdir().expect("tmp");
        let blobs = LocalBlobs::open(dir.path()).expect("open");
        let data = b"From: bob@acme.example\r\nSubject: a whole message\r\n\r\nbody\r\n";
        let d = Sha256::of(data);
        blobs.put(&d, data).expect("put");
        let whole = fs::read(blobs.path(&d)).expect("read");
        fs::write(blobs.path(&d), &whole[..whole.len() / 2]).expect("tear");
        let e = blobs.get(&d).expect_err("torn");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("torn"), "{e}");
        // The sender's next try replaces it, and it reads whole again.
        blobs.put(&d, data).expect("put again");
        assert_eq!(blobs.get(&d).expect("get"), data);
    }

    /// A blob written piece by piece lands under its digest, neutered,
    /// private, and leaves nothing in the spool; one dropped unfinished
    /// leaves nothing at all.
    #[test]
    fn spooled_blobs_are_kept_under_their_digest() {
        let dir = tempfile::tempdir().expect("tmp");
        let blobs = Blobs::Local(LocalBlobs::open(dir.path()).expect("open"));
        let pieces: [&[u8]; 3] = [b"MZ\x90\x00", &[7u8; 700_000], b"echo harmless\n"];
        let whole: Vec<u8> = pieces.concat();
        let mut spool = blobs.spool().expect("spool");
        for p in pieces {
            spool.write(p).expect("write");
        }
        let (sha, size) = blobs.keep(spool).expect("keep");
        assert_eq!((sha, size), (Sha256::of(&whole), whole.len() as u64));
        assert_eq!(blobs.get(&sha).expect("get"), whole);
        let Blobs::Local(local) = &blobs else {
            unreachable!("local")
        };
        let stored = fs::read(local.path(&sha)).expect("stored");
        assert!(neuter::is_neutered(&stored));
        assert!(!stored.windows(4).any(|w| w == b"MZ\x90\x00"));
        let mode = fs::metadata(local.path(&sha))
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        // The same bytes again: still one good blob.
        let mut again = blobs.spool().expect("spool");
        again.write(&whole).expect("write");
        assert_eq!(blobs.keep(again).expect("keep").0, sha);
        assert_eq!(blobs.get(&sha).expect("get"), whole);
        let mut dropped = blobs.spool().expect("spool");
        dropped.write(b"half").expect("write");
        drop(dropped);
        assert_eq!(
            fs::read_dir(dir.path().join("tmp")).expect("tmp").count(),
            0
        );
    }

    /// Blobs written before neutering read as they are, and `neuter_all`
    /// rewrites them; a torn file is reported, not touched.
    #[test]
    fn old_blobs_are_converted_in_place() {
        let dir = tempfile::tempdir().expect("tmp");
        let blobs = LocalBlobs::open(dir.path()).expect("open");
        let old = b"MZ an old sample stored raw";
        let d = Sha256::of(old);
        let p = blobs.path(&d);
        fs::create_dir_all(p.parent().expect("dir")).expect("mkdir");
        fs::write(&p, old).expect("raw");
        let torn = Sha256::of(b"whole");
        fs::create_dir_all(blobs.path(&torn).parent().expect("dir")).expect("mkdir");
        fs::write(blobs.path(&torn), b"wh").expect("torn");
        assert_eq!(blobs.get(&d).expect("raw reads"), old);
        let done = blobs.neuter_all().expect("convert");
        assert_eq!((done.converted, done.kept, done.damaged), (1, 0, 1));
        assert!(neuter::is_neutered(&fs::read(&p).expect("read")));
        assert_eq!(blobs.get(&d).expect("neutered reads"), old);
        let again = blobs.neuter_all().expect("again");
        assert_eq!((again.converted, again.kept), (0, 1));
        // A new put of the same bytes finds the neutered file good.
        blobs.put(&d, old).expect("put");
        assert_eq!(blobs.get(&d).expect("get"), old);
    }
}
