//! Sample uploads over HTTP, for the pages and the API alike: the limits
//! and the quota checked before the body is read, the multipart body
//! streamed into the blob store (hashed and neutered as it comes, never
//! whole in memory), the form's facts read by the same code as an upload
//! directory's `metadata.json`, then the one ingest path every channel
//! takes. The sender is the signed-in account, never a form field.

use axum::extract::Multipart;
use axum::http::{HeaderMap, header};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::quota::{self, Over, Quota};
use super::web::Portal;
use crate::decide::metadata::{Field, Metadata};
use crate::digest::Sha256;
use crate::ingest::{Upload, UploadFile};
use crate::sr::SrNumber;
use crate::store::accounts::Account;
use crate::store::blob::{Blobs, Spool};
use crate::store::uploads::{self, Submitted};

/// Upload limits; the quota per grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UploadConfig {
    /// Most bytes one upload request may carry.
    pub max_bytes: u64,
    /// Most files in one upload.
    pub max_files: usize,
    pub quota: Quota,
}

impl Default for UploadConfig {
    fn default() -> Self {
        UploadConfig {
            max_bytes: 256 << 20,
            max_files: 100,
            quota: Quota::default(),
        }
    }
}

/// Longest text field (a symptom description, the metadata JSON).
const TEXT_MAX: usize = 64 * 1024;
/// Most text fields in one upload.
const TEXT_FIELDS_MAX: usize = 64;
/// Pieces of a file are written to the spool this many bytes at a time.
const FLUSH: usize = 1 << 20;

/// Why an upload was not taken.
#[derive(Debug)]
pub(super) enum Refusal {
    /// Over the request's or one file's size limit (`413`).
    TooLarge { max: u64 },
    /// More files than allowed (`413`).
    TooManyFiles { max: usize },
    /// Over the grant's quota (`429`).
    Quota(Over),
    /// No file in it (`422`).
    NoFiles,
    /// Not a form we can read (`400`).
    Malformed(String),
    /// The page's CSRF token is missing or wrong (`403`).
    Csrf,
    /// The account has no grant to count against (`403`).
    NoGrant,
    /// Our failure, logged (`500`).
    Failed,
}

impl Refusal {
    /// The metric label of the refusal.
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::TooLarge { .. } => "too_large",
            Refusal::TooManyFiles { .. } => "too_many_files",
            Refusal::Quota(_) => "quota",
            Refusal::NoFiles => "no_files",
            Refusal::Malformed(_) => "malformed",
            Refusal::Csrf => "csrf",
            Refusal::NoGrant => "no_grant",
            Refusal::Failed => "failed",
        }
    }

    /// Counts the refusal on `/metrics` and hands it on.
    pub fn counted(self, p: &Portal) -> Refusal {
        p.intake
            .metrics
            .uploads_refused
            .get_or_create(&crate::metrics::label("why", self.kind()))
            .inc();
        self
    }

    fn failed(e: impl std::fmt::Display) -> Refusal {
        tracing::error!(error = %e, "upload");
        Refusal::Failed
    }
}

/// Who uploads and where to: the account, the SR it adds to (already
/// checked visible), and, for pages, the CSRF cookie the form must match.
pub(super) struct Sender<'a> {
    pub account: &'a Account,
    pub sr: Option<SrNumber>,
    pub csrf_cookie: Option<&'a str>,
    /// The client's own id for the upload (`Idempotency-Key`): the same id
    /// sent again finds the first upload.
    pub key: Option<&'a str>,
}

/// Refuses what is over the size limit or the quota before the body is
/// read, from `Content-Length`.
pub(super) async fn admit(p: &Portal, a: &Account, headers: &HeaderMap) -> Result<(), Refusal> {
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(n) = announced
        && n > p.uploads.max_bytes
    {
        return Err(Refusal::TooLarge {
            max: p.uploads.max_bytes,
        });
    }
    let grant = a.grant_number.as_deref().ok_or(Refusal::NoGrant)?;
    let now = p.now();
    let used = uploads::usage(&p.intake.pool, grant, now)
        .await
        .map_err(Refusal::failed)?;
    quota::admit(&p.uploads.quota, &used, announced.unwrap_or(0), now).map_err(Refusal::Quota)
}

/// The upload id of the client's `id` for account `a`: every id is the
/// account's own, so one account's ids never find another's uploads.
pub(super) fn upload_id(a: &Account, id: &str) -> String {
    format!("account-{}:{id}", a.id)
}

/// An upload received whole, not yet handed to ingest.
pub(super) struct Received {
    upload: Upload,
    note: Note,
    /// The client's id for it.
    pub id: String,
}

/// Receives an upload's body: its files into the blob store, its facts
/// read as an upload directory's would be.
pub(super) async fn receive_body(
    p: &Portal,
    who: Sender<'_>,
    mut body: Multipart,
) -> Result<Received, Refusal> {
    let a = who.account;
    let grant = a.grant_number.clone().ok_or(Refusal::NoGrant)?;
    let max_file = p.intake.policy.limits.max_file;
    let got = receive(
        &mut body,
        &p.intake.blobs,
        &p.uploads,
        max_file,
        who.csrf_cookie,
    )
    .await?;
    if got.files.is_empty() {
        return Err(Refusal::NoFiles);
    }
    let mut facts = got.facts;
    let title = facts
        .remove("title")
        .and_then(|t| t.as_str().map(one_line))
        .filter(|t| !t.is_empty());
    let facts = Value::Object(facts);
    let mut metadata = Metadata::from_value(&facts);
    metadata.offer(Field::GrantNumber, &grant);
    let passwords = Metadata::passwords_from_value(&facts);
    let id = who
        .key
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let upload = Upload {
        upload_id: upload_id(a, &id),
        sr: who.sr,
        title,
        account: Some(a.id),
        sender: Some(a.email.clone()),
        lang: Some(a.lang),
        metadata,
        passwords,
        files: got.files,
    };
    let note = Note {
        pool: p.intake.pool.clone(),
        grant,
        account: a.id,
        at: p.now(),
        bytes: got.bytes,
    };
    Ok(Received { upload, note, id })
}

/// Hands `r` to ingest and answers with what was recorded.
pub(super) async fn record(p: &Portal, r: Received) -> Result<Submitted, Refusal> {
    let rec = p.intake.upload(r.upload).await.map_err(Refusal::failed)?;
    r.note.of(&rec).await.map_err(Refusal::failed)?;
    uploads::submitted(&p.intake.pool, rec.submission_id)
        .await
        .map_err(Refusal::failed)
}

/// Stores `r` durably and decides it in the background (bounded, like
/// every decision, by the decision pool); returns the client's id for it.
/// A crash before it is recorded leaves it to the replay loop.
pub(super) async fn store(p: &Portal, r: Received) -> Result<String, Refusal> {
    let inbound = p
        .intake
        .receive_upload(&r.upload)
        .await
        .map_err(Refusal::failed)?;
    let intake = p.intake.clone();
    let (upload, note) = (r.upload, r.note);
    tokio::spawn(async move {
        match intake.process_upload(inbound, upload).await {
            Ok(rec) => {
                if let Err(e) = note.of(&rec).await {
                    tracing::error!(error = %e, "noting an upload");
                }
            }
            Err(e) => tracing::error!(error = %e, "deciding an upload; left for replay"),
        }
    });
    Ok(r.id)
}

/// An upload to note against its grant's quota once recorded.
struct Note {
    pool: sqlx::PgPool,
    grant: String,
    account: i64,
    at: chrono::DateTime<chrono::Utc>,
    bytes: u64,
}

impl Note {
    async fn of(&self, rec: &crate::store::record::Recorded) -> Result<(), uploads::UploadsError> {
        if rec.duplicate {
            return Ok(());
        }
        let counted = uploads::note(
            &self.pool,
            &self.grant,
            self.account,
            self.at,
            self.bytes,
            rec.submission_id,
        )
        .await?;
        tracing::info!(sr = %rec.sr_number, submission = %rec.submission_id, bytes = self.bytes,
            counted, "portal upload");
        Ok(())
    }
}

/// A title on one line, without control characters, at most 200 long.
fn one_line(t: &str) -> String {
    t.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .chars()
        .take(200)
        .collect()
}

/// What the body held: the form's facts (as `metadata.json` would hold
/// them), the stored files and the bytes received.
struct Form {
    facts: Map<String, Value>,
    files: Vec<UploadFile>,
    bytes: u64,
}

/// Reads the multipart body. Files go to the blob store piece by piece;
/// text fields are kept (a `metadata` field holds the facts as JSON, for
/// scripts; `passwords` holds one archive password per line). With a CSRF
/// cookie (a page's form) the first field must be the matching token, so
/// nothing of a forged post is stored.
async fn receive(
    body: &mut Multipart,
    blobs: &Blobs,
    cfg: &UploadConfig,
    max_file: u64,
    csrf_cookie: Option<&str>,
) -> Result<Form, Refusal> {
    let malformed = |e: axum::extract::multipart::MultipartError| Refusal::Malformed(e.body_text());
    let mut got = Form {
        facts: Map::new(),
        files: Vec::new(),
        bytes: 0,
    };
    let mut passwords: Vec<Value> = Vec::new();
    let mut texts = 0;
    let mut first = true;
    // A page's form has a field per fact; the API's, one `metadata` part.
    let page = csrf_cookie.is_some();
    while let Some(mut field) = body.next_field().await.map_err(malformed)? {
        let name = field.name().unwrap_or("").to_owned();
        if std::mem::take(&mut first)
            && let Some(cookie) = csrf_cookie
        {
            let token = read_text(&mut field, &mut got.bytes, cfg.max_bytes).await?;
            if name != "csrf" || cookie.is_empty() || !crate::account::token::same(cookie, &token) {
                return Err(Refusal::Csrf);
            }
            continue;
        }
        if name == "file"
            && let Some(file_name) = field.file_name().map(str::to_owned)
        {
            if let Some(f) = store_file(&mut field, blobs, &mut got.bytes, cfg, max_file).await? {
                if got.files.len() >= cfg.max_files {
                    return Err(Refusal::TooManyFiles { max: cfg.max_files });
                }
                got.files.push(UploadFile {
                    name: Some(file_name),
                    sha256: f,
                    not_a_file: None,
                });
            }
            continue;
        }
        texts += 1;
        if texts > TEXT_FIELDS_MAX {
            return Err(Refusal::Malformed("too many form fields".into()));
        }
        let text = read_text(&mut field, &mut got.bytes, cfg.max_bytes).await?;
        match name.as_str() {
            // The facts as one JSON object (scripts), or `null`: anything
            // else is refused, so a script's mistake is told, not taken as
            // no facts.
            "metadata" => match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(m)) => {
                    for (k, v) in m {
                        match (k.as_str(), v) {
                            ("passwords", Value::Array(list)) => passwords.extend(list),
                            ("passwords", _) => {}
                            (_, v) => {
                                got.facts.entry(k).or_insert(v);
                            }
                        }
                    }
                }
                // `null`: no facts given.
                Ok(Value::Null) => {}
                _ => {
                    return Err(Refusal::Malformed(
                        "metadata: send the facts as one JSON object".into(),
                    ));
                }
            },
            "passwords" if page => passwords.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(|l| Value::String(l.to_owned())),
            ),
            // A page's form: each fact as a field of its own.
            "title" if page => {
                got.facts.entry(name).or_insert(Value::String(text));
            }
            _ if page && Field::ALL.iter().any(|f| f.key() == name) => {
                got.facts.entry(name).or_insert(Value::String(text));
            }
            _ => return Err(Refusal::Malformed(format!("unknown form field {name:?}"))),
        }
    }
    got.facts
        .insert("passwords".to_owned(), Value::Array(passwords));
    Ok(got)
}

/// A text field, at most [`TEXT_MAX`] bytes.
async fn read_text(
    field: &mut axum::extract::multipart::Field<'_>,
    total: &mut u64,
    max_total: u64,
) -> Result<String, Refusal> {
    let mut buf = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| Refusal::Malformed(e.body_text()))?
    {
        *total += chunk.len() as u64;
        if *total > max_total {
            return Err(Refusal::TooLarge { max: max_total });
        }
        if buf.len() + chunk.len() > TEXT_MAX {
            return Err(Refusal::Malformed(format!(
                "a form field is over {TEXT_MAX} bytes"
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Streams one file part into the blob store; `None` for the empty part a
/// browser sends when no file was chosen.
async fn store_file(
    field: &mut axum::extract::multipart::Field<'_>,
    blobs: &Blobs,
    total: &mut u64,
    cfg: &UploadConfig,
    max_file: u64,
) -> Result<Option<Sha256>, Refusal> {
    let b = blobs.clone();
    let mut spool: Spool = run(move || b.spool()).await?;
    let mut pending: Vec<u8> = Vec::with_capacity(FLUSH);
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| Refusal::Malformed(e.body_text()))?
    {
        *total += chunk.len() as u64;
        if *total > cfg.max_bytes {
            return Err(Refusal::TooLarge { max: cfg.max_bytes });
        }
        if spool.size() + (pending.len() + chunk.len()) as u64 > max_file {
            return Err(Refusal::TooLarge { max: max_file });
        }
        pending.extend_from_slice(&chunk);
        if pending.len() >= FLUSH {
            (spool, pending) = flush(spool, pending).await?;
        }
    }
    if !pending.is_empty() {
        (spool, pending) = flush(spool, pending).await?;
    }
    drop(pending);
    if spool.size() == 0 && field.file_name().is_some_and(str::is_empty) {
        return Ok(None);
    }
    let b = blobs.clone();
    let (sha256, _) = run(move || b.keep(spool)).await?;
    Ok(Some(sha256))
}

/// Writes `pending` to the spool on a blocking thread; hands both back,
/// the buffer emptied for reuse.
async fn flush(mut spool: Spool, mut pending: Vec<u8>) -> Result<(Spool, Vec<u8>), Refusal> {
    run(move || {
        spool.write(&pending)?;
        pending.clear();
        Ok((spool, pending))
    })
    .await
}

/// Runs blocking blob I/O off the async threads.
async fn run<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, Refusal> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(e)) => Err(Refusal::failed(format!("storing an upload: {e}"))),
        Err(e) => Err(Refusal::failed(e)),
    }
}

/// One accepted sample of an upload's result.
#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct SampleView {
    pub path: String,
    pub sha256: String,
    pub size: u64,
    pub kind: String,
    /// The verdict already known for it (a re-upload).
    pub verdict: Option<String>,
}

/// One refused file of an upload's result.
#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct RejectedView {
    pub path: String,
    pub reason: String,
    pub advice: String,
}

/// An upload's result as pages and the API show it: never the bytes,
/// never the archive passwords.
pub(super) fn views(s: &Submitted) -> (Vec<SampleView>, Vec<RejectedView>, Vec<String>) {
    let samples = s
        .report
        .samples
        .iter()
        .map(|x| SampleView {
            path: x.path.clone(),
            sha256: x.sha256.to_hex(),
            size: x.size,
            kind: x.kind.as_str().to_owned(),
            verdict: s.known.get(&x.sha256.to_hex()).cloned(),
        })
        .collect();
    let rejected = s
        .report
        .rejected
        .iter()
        .map(|r| RejectedView {
            path: r.path.clone(),
            reason: r.reason.as_str().to_owned(),
            advice: r.reason.advice().to_owned(),
        })
        .collect();
    let missing = s
        .report
        .missing_fields
        .iter()
        .map(|f| f.key().to_owned())
        .collect();
    (samples, rejected, missing)
}

/// The facts a page's form asks for, by key, in the handbook's order.
pub(super) fn form_fields() -> Vec<&'static str> {
    Field::ALL
        .iter()
        .filter(|f| **f != Field::GrantNumber)
        .map(|f| f.key())
        .collect()
}
