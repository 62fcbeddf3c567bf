//! Content-addressed blob storage for raw inputs, samples and quarantined
//! files. A blob's name is its SHA-256, never anything the sender chose, so a
//! sample cannot land under its original name, and writing the same bytes
//! twice is a no-op. Local files are mode 0600 in 0700 folders: never
//! executable. Calls block; use them from blocking contexts.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::config::BlobConfig;
use crate::decide::Keep;
use crate::digest::Sha256;

/// Where blobs live.
#[derive(Clone)]
pub enum Blobs {
    Local(LocalBlobs),
    S3(S3Blobs),
}

impl Blobs {
    /// Opens the store the configuration names. `runtime` drives the S3 client.
    pub fn open(cfg: &BlobConfig, runtime: tokio::runtime::Handle) -> io::Result<Blobs> {
        match cfg {
            BlobConfig::Local { dir } => Ok(Blobs::Local(LocalBlobs::open(dir)?)),
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

    pub fn get(&self, sha256: &Sha256) -> io::Result<Vec<u8>> {
        match self {
            Blobs::Local(l) => l.get(sha256),
            Blobs::S3(s) => s.get(sha256),
        }
    }
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
}

impl LocalBlobs {
    pub fn open(root: &Path) -> io::Result<LocalBlobs> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root.join("tmp"))?;
        Ok(LocalBlobs {
            root: root.to_owned(),
        })
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
        if fs::read(dest).is_ok_and(|have| Sha256::of(&have) == *sha256) {
            return Ok(());
        }
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

    pub fn get(&self, sha256: &Sha256) -> io::Result<Vec<u8>> {
        fs::read(self.path(sha256))
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
}

impl S3Blobs {
    fn key(sha256: &Sha256) -> ObjectPath {
        let hex = sha256.to_hex();
        ObjectPath::from(format!("blobs/{}/{}/{hex}", &hex[0..2], &hex[2..4]))
    }

    fn put(&self, sha256: &Sha256, bytes: &[u8]) -> io::Result<()> {
        let key = Self::key(sha256);
        let payload = PutPayload::from(bytes.to_vec());
        self.runtime
            .block_on(self.store.put(&key, payload))
            .map(|_| ())
            .map_err(io::Error::other)
    }

    fn get(&self, sha256: &Sha256) -> io::Result<Vec<u8>> {
        let key = Self::key(sha256);
        self.runtime
            .block_on(async { self.store.get(&key).await?.bytes().await })
            .map(|b| b.to_vec())
            .map_err(io::Error::other)
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
}
