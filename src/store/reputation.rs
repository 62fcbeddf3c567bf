//! Hashes the lab already has an opinion on: its own verdicts and imported
//! lists, looked up by MD5, SHA-1 or SHA-256 — the fingerprint look-up of the
//! support handbook, so a sample judged before is recognised at once.

use std::io::Read;

use serde::Deserialize;
use sqlx::PgPool;

/// One known hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Known {
    pub hash: String,
    pub verdict: String,
    pub source: String,
    pub note: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum HashListError {
    #[error("line {line}: {why}")]
    Row { line: usize, why: String },
    #[error(transparent)]
    Csv(#[from] csv::Error),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

#[derive(Deserialize)]
struct Row {
    hash: String,
    verdict: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

/// Parses `hash,verdict,source,note` (header line first); `default_source`
/// names rows without a source.
pub fn parse_csv(input: impl Read, default_source: &str) -> Result<Vec<Known>, HashListError> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(input);
    let mut out = Vec::new();
    for (i, rec) in rdr.deserialize::<Row>().enumerate() {
        let row = rec?;
        let line = i + 2;
        let hash = row.hash.to_ascii_lowercase();
        if !matches!(hash.len(), 32 | 40 | 64) || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(HashListError::Row {
                line,
                why: format!("{:?} is not an MD5, SHA-1 or SHA-256", row.hash),
            });
        }
        let verdict = row.verdict.to_ascii_lowercase();
        if !matches!(verdict.as_str(), "malicious" | "suspicious" | "clean") {
            return Err(HashListError::Row {
                line,
                why: format!(
                    "verdict {:?} is not malicious, suspicious or clean",
                    row.verdict
                ),
            });
        }
        out.push(Known {
            hash,
            verdict,
            source: row
                .source
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| default_source.to_owned()),
            note: row.note.filter(|s| !s.is_empty()),
        });
    }
    Ok(out)
}

/// Inserts or replaces `known`.
pub async fn import(pool: &PgPool, known: &[Known]) -> Result<usize, HashListError> {
    let mut tx = pool.begin().await?;
    for chunk in known.chunks(1000) {
        sqlx::query(
            "INSERT INTO hash_verdicts (hash, verdict, source, note)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[])
             ON CONFLICT (hash) DO UPDATE SET verdict = EXCLUDED.verdict, source = EXCLUDED.source,
                 note = EXCLUDED.note, imported_at = now()",
        )
        .bind(chunk.iter().map(|k| k.hash.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|k| k.verdict.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|k| k.source.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|k| k.note.as_deref()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(known.len())
}

/// Every known entry among `hashes` (lower-case hex).
pub async fn lookup(pool: &PgPool, hashes: &[String]) -> Result<Vec<Known>, sqlx::Error> {
    let rows: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT hash, verdict, source, note FROM hash_verdicts WHERE hash = ANY($1) ORDER BY hash",
    )
    .bind(hashes)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(hash, verdict, source, note)| Known {
            hash,
            verdict,
            source,
            note,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_are_checked() {
        let ok = "hash,verdict,source,note\n275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F,malicious,,EICAR\n44d88612fea8a8f36de82e1278abb02f,clean,vendor-list,\n";
        let rows = parse_csv(ok.as_bytes(), "import").expect("parses");
        assert_eq!(
            rows[0].hash,
            "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
        );
        assert_eq!(rows[0].source, "import");
        assert_eq!(rows[1].source, "vendor-list");
        assert!(parse_csv("hash,verdict\nxyz,malicious\n".as_bytes(), "i").is_err());
        assert!(
            parse_csv(
                "hash,verdict\n44d88612fea8a8f36de82e1278abb02f,evil\n".as_bytes(),
                "i"
            )
            .is_err()
        );
    }
}
