//! A sample's bytes leave intake one way only: to staff, as a zip encrypted
//! with AES-256 and the password `infected`, the file inside named by its
//! SHA-256 (never the customer's name for it) and without an execute bit,
//! and every download is an event on the SR it was taken from.

use std::io::Write;

use zip::write::SimpleFileOptions;

use super::{By, TriageError, lock_sr};
use crate::digest::Sha256;
use crate::ingest::Intake;
use crate::sr::{Event, SrNumber};
use crate::store::events;

/// The password of every zip of samples (the industry's convention).
pub const PASSWORD: &str = "infected";

/// The stored bytes of `sha256`, checked against it.
pub async fn bytes(intake: &Intake, sha256: &Sha256) -> Result<Vec<u8>, TriageError> {
    let blobs = intake.blobs.clone();
    let want = *sha256;
    let got = tokio::task::spawn_blocking(move || blobs.get(&want))
        .await
        .map_err(|e| TriageError::Blob(e.to_string()))?
        .map_err(|e| TriageError::Blob(e.to_string()))?;
    if Sha256::of(&got) != *sha256 {
        return Err(TriageError::Blob(format!(
            "the stored bytes of {sha256} do not hash to it"
        )));
    }
    Ok(got)
}

/// `bytes` in a zip encrypted with AES-256 and [`PASSWORD`], as one file
/// named `name`, read-only.
pub fn encrypted_zip(name: &str, bytes: &[u8]) -> Result<Vec<u8>, zip::result::ZipError> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o444)
        .with_aes_encryption(zip::AesMode::Aes256, PASSWORD);
    w.start_file(name, options)?;
    w.write_all(bytes)?;
    Ok(w.finish()?.into_inner())
}

/// The zip of file `sha256` of SR `sr` for `by`, and the download recorded.
pub async fn download(
    intake: &Intake,
    sr: &SrNumber,
    sha256: &Sha256,
    by: By<'_>,
) -> Result<Vec<u8>, TriageError> {
    super::held_by(&intake.pool, sr, sha256).await?;
    let plain = bytes(intake, sha256).await?;
    let name = sha256.to_hex();
    let zipped = tokio::task::spawn_blocking(move || encrypted_zip(&name, &plain))
        .await
        .map_err(|e| TriageError::Blob(e.to_string()))?
        .map_err(|e| TriageError::Blob(e.to_string()))?;
    let mut tx = intake.pool.begin().await?;
    let h = lock_sr(&mut tx, sr).await?;
    let e = Event::SampleDownloaded { sha256: *sha256 };
    events::on_sr(&mut *tx, by.actor, h.id, by.now, &e).await?;
    tx.commit().await?;
    Ok(zipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zip_opens_with_infected_only() {
        let data = crate::fixture::EICAR;
        let z = encrypted_zip("abc", data).expect("zip");
        let mut a = zip::ZipArchive::new(std::io::Cursor::new(&z)).expect("archive");
        assert!(a.by_index_raw(0).expect("entry").encrypted());
        assert!(a.by_index_decrypt(0, b"wrong").is_err());
        let mut f = a.by_index_decrypt(0, PASSWORD.as_bytes()).expect("opens");
        assert_eq!(f.name().expect("name"), "abc");
        assert_eq!(f.unix_mode().map(|m| m & 0o111), Some(0));
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut out).expect("reads");
        assert_eq!(out, data);
        // The plain bytes are nowhere in the zip.
        assert!(!z.windows(20).any(|w| w == &data[..20]));
    }
}
