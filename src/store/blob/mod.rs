//! Content-addressed blob storage for raw inputs, samples and quarantined
//! files. A blob's name is its SHA-256 (of the original bytes), never
//! anything the sender chose, so a sample cannot land under its original
//! name, and writing the same bytes twice is a no-op. What is stored is
//! neutered ([`neuter`]): no stored file holds a sample's bytes as they are.
//! Local files are mode 0600 in 0700 folders: never executable. Calls block;
//! use them from blocking contexts.

pub mod neuter;

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
        let have = fs::read(dest).ok().map(|b| self.keys.decode(b));
        if let Some(Ok(have)) = have
            && Sha256::of(&have) == *sha256
        {
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

    /// The original bytes of blob `sha256`.
    pub fn get(&self, sha256: &Sha256) -> io::Result<Vec<u8>> {
        self.keys
            .decode(fs::read(self.path(sha256))?)
            .map_err(invalid)
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
