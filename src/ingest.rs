//! Receive → decide → record, the same for every channel. The raw input is
//! stored (blob + `inbound` row) before anything judges it, so a crash at any
//! later point is repaired by [`Intake::replay_pending`]; a second delivery of
//! the same Message-ID or upload id finds the first one and changes nothing.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tracing::Instrument;

use crate::answer::{self, AnswerConfig, Asked, Correspondent, Silence};
use crate::clock::Clock;
use crate::decide::metadata::Metadata;
use crate::decide::report::{Channel, Report};
use crate::decide::{self, Attachment, Input, Keep, KeepError, Policy};
use crate::digest::Sha256;
use crate::mail::token::TokenCheck;
use crate::mail::{self, Delivery, Recipients, ReplyProof, SenderAuth};
use crate::metrics::{Metrics, label};
use crate::sr::SrNumber;
use crate::store::blob::Blobs;
use crate::store::inputs::{self, Claim, Failure, NotClaimed};
use crate::store::record::{self, RecordError, Recorded, Recording};

/// Ingesting an input failed. Nothing is lost: the raw input is stored and
/// its inbound row stays `received` for replay (or, when storing itself
/// failed, the sender was not told "accepted" and sends again).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("storing blobs: {0}")]
    Store(#[from] std::io::Error),
    #[error("keeping a file: {0}")]
    Keep(#[from] KeepError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("recording: {0}")]
    Record(#[from] RecordError),
    #[error("stored input {0} is unreadable: {1}")]
    BadStoredInput(i64, String),
    #[error("internal task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Deciders(#[from] decide::threads::Failed),
    #[error("input {0} not taken: {1:?}")]
    NotClaimed(i64, NotClaimed),
}

impl IngestError {
    /// What this failure says about the input it happened to.
    pub fn failure(&self) -> Failure {
        match self {
            IngestError::Deciders(decide::threads::Failed::Panicked(_)) => Failure::Counted,
            IngestError::BadStoredInput(..) => Failure::Unreadable,
            IngestError::Store(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Failure::Unreadable
            }
            _ => Failure::Transient,
        }
    }
}

/// The shared ingress path.
#[derive(Clone)]
pub struct Intake {
    pub pool: PgPool,
    pub blobs: Blobs,
    pub policy: Arc<Policy>,
    pub metrics: Metrics,
    /// Wakes this process's relay when outbox rows were committed.
    pub outbox_wake: Arc<tokio::sync::Notify>,
    pub mail: Arc<MailPolicy>,
    /// The time every rule here reads (leases, replay age, the recording).
    pub clock: Arc<dyn Clock>,
}

/// How the mail channel treats senders: whom it answers and from where,
/// and whose `Authentication-Results` it believes.
#[derive(Debug, Clone, Default)]
pub struct MailPolicy {
    pub answers: AnswerConfig,
    /// Our own addresses: mail from them is never answered (loops).
    pub ours: Recipients,
    /// `authserv-id`s of the MTAs in front of intake; empty believes the
    /// top-most header.
    pub trusted_authserv_ids: Vec<String>,
}

impl MailPolicy {
    fn is_ours(&self, address: &str) -> bool {
        self.ours.accepts(address) || address.eq_ignore_ascii_case(&self.answers.from)
    }
}

/// What the mail channel adds to a decision for recording.
struct MailFacts {
    sr_reference: Option<SrNumber>,
    /// Whether the message proves it comes from the customer, when it
    /// names an SR.
    proof: ReplyProof,
    subject: Option<String>,
    answer_to: Result<Correspondent, Silence>,
    auth: SenderAuth,
    /// An out-of-office notice.
    away: Option<mail::away::Away>,
}

/// A stored email judged and not yet recorded.
pub struct DecidedEmail {
    inbound: Inbound,
    report: Report,
    facts: MailFacts,
}

/// An input stored durably and not yet (or already) recorded.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub id: i64,
    pub recorded: bool,
    /// The lease this process holds on it, once claimed for deciding.
    pub claim: Option<Claim>,
    /// The SMTP envelope, for mail that came with one.
    pub delivery: Option<Delivery>,
}

/// A portal upload whose files are in the blob store, plus the form. It is
/// what the portal hands over and what is stored as the input's raw blob
/// (JSON), so replay reads back exactly what was received.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Upload {
    /// The portal's id for it: a second hand-over of the same id finds the
    /// first one.
    pub upload_id: String,
    /// The SR the files are added to; none opens a new one.
    #[serde(default)]
    pub sr: Option<SrNumber>,
    /// A new SR's title.
    pub title: Option<String>,
    /// The signed-in account that sent it.
    #[serde(default)]
    pub account: Option<i64>,
    /// Its address, and whom the SR answers; never a form field.
    pub sender: Option<String>,
    /// The account's language, for mail about the SR.
    #[serde(default)]
    pub lang: Option<crate::sr::Lang>,
    pub metadata: Metadata,
    /// Archive passwords from the form: input only, never reported.
    #[serde(default)]
    pub passwords: Vec<String>,
    pub files: Vec<UploadFile>,
}

/// One uploaded file, stored under its digest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadFile {
    /// The name the customer gave it (shown escaped, never used on disk).
    pub name: Option<String>,
    pub sha256: Sha256,
    /// `symbolic link` or `special file` for what a directory upload held
    /// instead of a file.
    #[serde(default)]
    pub not_a_file: Option<String>,
}

impl Upload {
    /// The input to decide: the files read back from `blobs`.
    fn input(&self, blobs: &Blobs) -> std::io::Result<Input<'static>> {
        let attachments = self
            .files
            .iter()
            .map(|f| {
                let not_a_file = f.not_a_file.as_deref().map(|k| {
                    if k == "symbolic link" {
                        "symbolic link"
                    } else {
                        "special file"
                    }
                });
                Ok(Attachment {
                    name: f.name.clone(),
                    bytes: blobs.get(&f.sha256)?.into(),
                    not_a_file,
                })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Input {
            channel: Channel::Portal,
            message_id: None,
            sender: self.sender.clone(),
            attachments,
            metadata: self.metadata.clone(),
            passwords: self.passwords.clone(),
        })
    }

    /// Whom answers about it go to: the signed-in account.
    fn correspondent(&self) -> Option<Correspondent> {
        Some(Correspondent {
            to: self.sender.clone()?,
            lang: self.lang?,
            message_id: None,
            references: Vec::new(),
        })
    }
}

/// What a channel adds to a decision for recording.
enum Facts<'a> {
    Mail(&'a MailFacts),
    Portal(&'a Upload),
}

impl Intake {
    /// Takes one email end to end.
    pub async fn email(
        &self,
        raw: Vec<u8>,
        delivery: Option<Delivery>,
    ) -> Result<Recorded, IngestError> {
        let raw = Arc::new(raw);
        let inbound = self.receive_email(raw.clone(), delivery).await?;
        self.process_email(inbound, raw).await
    }

    /// Stores `raw` and its inbound row; the point after which the sender may
    /// be told the message is accepted.
    pub async fn receive_email(
        &self,
        raw: Arc<Vec<u8>>,
        delivery: Option<Delivery>,
    ) -> Result<Inbound, IngestError> {
        self.metrics
            .inputs_received
            .get_or_create(&label("channel", "email"))
            .inc();
        let r = raw.clone();
        let (sha, id) = tokio::task::spawn_blocking(move || {
            let sha = Sha256::of(&r);
            // No Message-ID: the content is the identity.
            let id = mail::message_id(&r).unwrap_or_else(|| format!("sha256:{sha}"));
            (sha, id)
        })
        .await?;
        // The blob and the row are written at once: both are durable before
        // the caller answers. A crash between the two leaves a row without
        // its blob, unanswered, so the sender retries and the retry writes
        // the blob (replay meanwhile reports the row and leaves it).
        let blobs = self.blobs.clone();
        let r = raw.clone();
        let blob = tokio::task::spawn_blocking(move || blobs.put(&sha, &r));
        let row = self.inbound(Channel::Email, &id, &sha, raw.len(), delivery);
        let (blob, row) = tokio::join!(blob, row);
        blob??;
        let (inbound, parked) = row?;
        if parked {
            self.revive(&inbound, &sha).await?;
        }
        Ok(inbound)
    }

    /// A sender's new try of an input parked because its blob was missing
    /// (the try that wrote the row failed to write the blob — a full disk, a
    /// crash — and was answered 4xx): its bytes are stored now, so it goes
    /// back to be decided instead of waiting for staff. Only when the bytes
    /// are the ones the row names.
    async fn revive(&self, inbound: &Inbound, sha: &Sha256) -> Result<(), IngestError> {
        let revived = sqlx::query(
            "UPDATE inbound SET state = 'received', error = NULL, failed_at = NULL,
                    attempts = 0, lease_until = NULL
             WHERE id = $1 AND state = 'failed' AND raw_sha256 = $2",
        )
        .bind(inbound.id)
        .bind(sha.to_hex())
        .execute(&self.pool)
        .await?;
        if revived.rows_affected() == 1 {
            tracing::warn!(
                inbound = inbound.id,
                "a parked input's sender tried again with its bytes: deciding it"
            );
        }
        Ok(())
    }

    /// Decides and records a stored email.
    pub async fn process_email(
        &self,
        inbound: Inbound,
        raw: Arc<Vec<u8>>,
    ) -> Result<Recorded, IngestError> {
        let started = Instant::now();
        if inbound.recorded
            && let Some(done) = record::recorded(&self.pool, inbound.id).await?
        {
            return Ok(done);
        }
        let span = submission_span(Channel::Email, inbound.id);
        self.claimed(inbound, |inbound| async move {
            let decided = self.decide_email(inbound, raw).await?;
            self.record_email(decided, started).await
        })
        .instrument(span)
        .await
    }

    /// Runs `work` on `inbound` under a claim: taken here unless the caller
    /// holds one, renewed while `work` runs, and given back with the reason
    /// when it fails (parking the input once its tries run out).
    async fn claimed<F, Fut>(&self, mut inbound: Inbound, work: F) -> Result<Recorded, IngestError>
    where
        F: FnOnce(Inbound) -> Fut,
        Fut: Future<Output = Result<Recorded, IngestError>>,
    {
        let claim = match inbound.claim {
            Some(c) => c,
            None => match self.claim_or_wait(inbound.id).await? {
                Ok(c) => c,
                Err(done) => return Ok(done),
            },
        };
        inbound.claim = Some(claim);
        let renewing = Renewing::start(self.pool.clone(), self.clock.clone(), claim);
        let result = work(inbound).await;
        drop(renewing);
        if let Err(e) = &result {
            self.note_failure(claim, e).await;
        }
        result
    }

    /// Claims input `id`; when another decision holds it (a redelivery
    /// racing the first delivery), waits for that one's recording and
    /// answers with it. Gives up after [`CLAIM_WAIT`]: the input is stored,
    /// and the replay loop takes it if its holder died.
    async fn claim_or_wait(&self, id: i64) -> Result<Result<Claim, Recorded>, IngestError> {
        let started = Instant::now();
        loop {
            match inputs::claim(&self.pool, id, self.clock.now()).await? {
                Ok(c) => return Ok(Ok(c)),
                Err(NotClaimed::Recorded) => {
                    return match record::recorded(&self.pool, id).await? {
                        Some(done) => Ok(Err(done)),
                        None => Err(IngestError::NotClaimed(id, NotClaimed::Recorded)),
                    };
                }
                Err(NotClaimed::Busy) if started.elapsed() < CLAIM_WAIT => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(other) => return Err(IngestError::NotClaimed(id, other)),
            }
        }
    }

    /// Records a failed try on the claimed input, parking it when its tries
    /// ran out or it cannot be read back.
    async fn note_failure(&self, claim: Claim, e: &IngestError) {
        let failure = e.failure();
        let parked = inputs::fail(&self.pool, claim, failure, &e.to_string(), self.clock.now())
            .await
            .unwrap_or(false);
        self.metrics
            .decide_failures
            .get_or_create(&vec![
                ("kind", failure.as_str().to_owned()),
                ("parked", parked.to_string()),
            ])
            .inc();
        if parked {
            tracing::error!(inbound = claim.id, attempt = claim.attempt, error = %e,
                "input parked as failed; `intake inputs failed` lists it");
        }
    }

    /// The decision half of [`Intake::process_email`]: reads the message and
    /// judges it on a decision thread; writes only the samples it keeps.
    pub async fn decide_email(
        &self,
        inbound: Inbound,
        raw: Arc<Vec<u8>>,
    ) -> Result<DecidedEmail, IngestError> {
        let policy = self.policy.clone();
        let blobs = self.blobs.clone();
        let mail_policy = self.mail.clone();
        let delivery = inbound.delivery.clone();
        let today = self.clock.now().date_naive();
        let (report, facts) = decide::threads::run(move || {
            crate::fault::before_deciding(&raw);
            let env = mail::parse(&raw);
            let facts = mail_facts(&env, delivery.as_ref(), &mail_policy, today);
            let input = env.into_input(&policy.labels);
            decide::decide(&input, &policy, &blobs).map(|r| (r, facts))
        })
        .await??;
        Ok(DecidedEmail {
            inbound,
            report,
            facts,
        })
    }

    /// The recording half of [`Intake::process_email`]: the SR, submission,
    /// jobs and answer, in one write. `started` is when processing began.
    pub async fn record_email(
        &self,
        decided: DecidedEmail,
        started: Instant,
    ) -> Result<Recorded, IngestError> {
        let DecidedEmail {
            inbound,
            report,
            facts,
        } = decided;
        if let Err(why) = &facts.answer_to {
            tracing::info!(why = %why.describe(), "not answering");
            self.metrics
                .answers_withheld
                .get_or_create(&label("why", why.kind()))
                .inc();
        }
        self.finish(&inbound, &report, Facts::Mail(&facts), started)
            .await
    }

    /// Takes one portal upload held in memory end to end (an upload
    /// directory, `intake check`): its files are stored, then it goes the
    /// way of every [`Upload`].
    pub async fn portal(
        &self,
        upload_id: &str,
        title: Option<String>,
        input: Input<'static>,
    ) -> Result<Recorded, IngestError> {
        let blobs = self.blobs.clone();
        let files = tokio::task::spawn_blocking(move || {
            input
                .attachments
                .iter()
                .map(|a| {
                    let sha256 = Sha256::of(&a.bytes);
                    blobs.put(&sha256, &a.bytes)?;
                    Ok(UploadFile {
                        name: a.name.clone(),
                        sha256,
                        not_a_file: a.not_a_file.map(str::to_owned),
                    })
                })
                .collect::<std::io::Result<Vec<_>>>()
                .map(|files| (files, input))
        })
        .await??;
        let (files, input) = files;
        self.upload(Upload {
            upload_id: upload_id.to_owned(),
            sr: None,
            title,
            account: None,
            sender: input.sender,
            lang: None,
            metadata: input.metadata,
            passwords: input.passwords,
            files,
        })
        .await
    }

    /// Takes one portal upload, whose files are already stored, end to
    /// end: stores the upload itself, then decides and records it.
    pub async fn upload(&self, upload: Upload) -> Result<Recorded, IngestError> {
        let started = Instant::now();
        let inbound = self.receive_upload(&upload).await?;
        self.process_portal(inbound, upload, started).await
    }

    /// Stores an upload durably (its manifest blob and inbound row) without
    /// deciding it: once this returns, the upload survives a crash, and
    /// [`Intake::process_upload`] or the replay loop records it.
    pub async fn receive_upload(&self, upload: &Upload) -> Result<Inbound, IngestError> {
        self.metrics
            .inputs_received
            .get_or_create(&label("channel", "portal"))
            .inc();
        let bytes = serde_json::to_vec(upload).map_err(std::io::Error::other)?;
        let sha = Sha256::of(&bytes);
        let size = bytes.len();
        let blobs = self.blobs.clone();
        tokio::task::spawn_blocking(move || blobs.put(&sha, &bytes)).await??;
        let (inbound, _) = self
            .inbound(Channel::Portal, &upload.upload_id, &sha, size, None)
            .await?;
        Ok(inbound)
    }

    /// Decides and records an upload [`Intake::receive_upload`] stored.
    pub async fn process_upload(
        &self,
        inbound: Inbound,
        upload: Upload,
    ) -> Result<Recorded, IngestError> {
        self.process_portal(inbound, upload, Instant::now()).await
    }

    /// Decides and records a stored upload. Its files are read back inside
    /// the decision pool, so the pool's bound is also the bound on uploads
    /// held in memory.
    async fn process_portal(
        &self,
        inbound: Inbound,
        upload: Upload,
        started: Instant,
    ) -> Result<Recorded, IngestError> {
        let span = submission_span(Channel::Portal, inbound.id);
        self.claimed(inbound, |inbound| async move {
            let policy = self.policy.clone();
            let blobs = self.blobs.clone();
            let keep = KeepNew {
                blobs: self.blobs.clone(),
                stored: upload.files.iter().map(|f| f.sha256).collect(),
            };
            let job = upload.clone();
            let report = decide::threads::run(move || {
                let input = job.input(&blobs)?;
                Ok::<_, IngestError>(decide::decide(&input, &policy, &keep)?)
            })
            .await??;
            self.finish(&inbound, &report, Facts::Portal(&upload), started)
                .await
        })
        .instrument(span)
        .await
    }

    /// Records a decided input with what its channel found out.
    async fn finish(
        &self,
        inbound: &Inbound,
        report: &Report,
        facts: Facts<'_>,
        started: Instant,
    ) -> Result<Recorded, IngestError> {
        let no_auth = SenderAuth::default();
        let portal_to;
        let recording = match facts {
            Facts::Mail(m) => Recording {
                inbound_id: inbound.id,
                report,
                sr_reference: m.sr_reference.clone(),
                reply_proof: Some(&m.proof),
                subject: m.subject.as_deref(),
                account: None,
                answer_to: m.answer_to.as_ref().ok(),
                sender_auth: &m.auth,
                away: m.away,
                vendor: &self.mail.answers.vendor,
                now: self.clock.now(),
            },
            Facts::Portal(u) => {
                portal_to = u.correspondent();
                Recording {
                    inbound_id: inbound.id,
                    report,
                    sr_reference: u.sr.clone(),
                    reply_proof: None,
                    subject: u.title.as_deref(),
                    account: u.account,
                    answer_to: portal_to.as_ref(),
                    sender_auth: &no_auth,
                    away: None,
                    vendor: &self.mail.answers.vendor,
                    now: self.clock.now(),
                }
            }
        };
        let rec = record::record(&self.pool, recording).await?;
        if rec.jobs > 0 && !rec.duplicate {
            self.outbox_wake.notify_one();
        }
        let span = tracing::Span::current();
        span.record("sr", rec.sr_number.to_string());
        span.record("submission", rec.submission_id.to_string());
        if !rec.duplicate {
            self.metrics
                .decisions
                .get_or_create(&label("outcome", rec.outcome.as_str()))
                .inc();
            self.metrics
                .record_seconds
                .observe(started.elapsed().as_secs_f64());
        }
        tracing::info!(outcome = rec.outcome.as_str(), jobs = rec.jobs, duplicate = rec.duplicate,
            verification = %rec.verification, "recorded");
        Ok(rec)
    }

    /// Inserts the inbound row, or finds the one a previous delivery made;
    /// says whether that one is parked as failed.
    async fn inbound(
        &self,
        channel: Channel,
        external_id: &str,
        sha: &Sha256,
        size: usize,
        delivery: Option<Delivery>,
    ) -> Result<(Inbound, bool), IngestError> {
        let row: (i64, String) = sqlx::query_as(
            "INSERT INTO inbound (channel, external_id, raw_sha256, raw_size, envelope, received_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (channel, external_id) DO UPDATE SET channel = EXCLUDED.channel
             RETURNING id, state",
        )
        .bind(channel.as_str())
        .bind(external_id)
        .bind(sha.to_hex())
        .bind(size as i64)
        .bind(delivery.as_ref().map(sqlx::types::Json))
        .bind(self.clock.now())
        .fetch_one(&self.pool)
        .await?;
        Ok((
            Inbound {
                id: row.0,
                recorded: row.1 == "recorded",
                claim: None,
                delivery,
            },
            row.1 == "failed",
        ))
    }

    /// Re-processes every stored input that was never recorded (a crash
    /// between receiving and recording). Returns how many were recorded.
    pub async fn replay_pending(&self) -> Result<usize, IngestError> {
        self.replay_older_than(std::time::Duration::ZERO).await
    }

    /// Re-processes stored inputs left unrecorded for longer than `age`
    /// (the serve loop's repair of a failed background recording), as many
    /// at once as there are decision threads. Each input is claimed first,
    /// so one being decided here or by another process is left alone; one
    /// that fails is recorded as such and the rest go on.
    pub async fn replay_older_than(&self, age: std::time::Duration) -> Result<usize, IngestError> {
        let lanes = (0..decide::threads::count()).map(|_| self.replay_lane(age));
        let mut done = 0;
        for lane in futures_util::future::join_all(lanes).await {
            done += lane?;
        }
        Ok(done)
    }

    /// Claims and records inputs one after another until none is left.
    async fn replay_lane(&self, age: std::time::Duration) -> Result<usize, IngestError> {
        let mut done = 0;
        while let Some(p) = inputs::claim_next(&self.pool, age, self.clock.now()).await? {
            let id = p.claim.id;
            match self.replay_one(p).await {
                Ok(_) => done += 1,
                Err(e) => {
                    tracing::error!(inbound = id, error = %e, "replay failed; recorded on the input")
                }
            }
        }
        Ok(done)
    }

    /// Reads one claimed input back from the blob store and records it.
    async fn replay_one(&self, p: inputs::Pending) -> Result<Recorded, IngestError> {
        let id = p.claim.id;
        let delivery = p
            .envelope
            .and_then(|e| serde_json::from_value::<Delivery>(e).ok());
        let inbound = Inbound {
            id,
            recorded: false,
            claim: Some(p.claim),
            delivery,
        };
        let claim = p.claim;
        let read = async {
            let sha: Sha256 = p
                .raw_sha256
                .parse()
                .map_err(|e| IngestError::BadStoredInput(id, format!("{e}")))?;
            let blobs = self.blobs.clone();
            let raw = tokio::task::spawn_blocking(move || blobs.get(&sha))
                .await?
                .map_err(|e| IngestError::BadStoredInput(id, format!("raw input {sha}: {e}")))?;
            if p.channel == "email" {
                return Ok(ReadBack::Email(raw));
            }
            let upload: Upload = serde_json::from_slice(&raw)
                .map_err(|e| IngestError::BadStoredInput(id, e.to_string()))?;
            Ok(ReadBack::Portal(Box::new(upload)))
        };
        // A stored input that cannot be read back is a failure of that input,
        // recorded on it, not of the replay.
        match read.await {
            Err(e) => {
                self.note_failure(claim, &e).await;
                Err(e)
            }
            Ok(ReadBack::Email(raw)) => self.process_email(inbound, Arc::new(raw)).await,
            Ok(ReadBack::Portal(upload)) => {
                self.process_portal(inbound, *upload, Instant::now()).await
            }
        }
    }
}

/// A stored input read back for replay.
enum ReadBack {
    Email(Vec<u8>),
    Portal(Box<Upload>),
}

/// How long a second delivery of an input waits for the first one's
/// decision before leaving it to the replay loop.
const CLAIM_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Renews a claim's lease in the background until dropped, so a long
/// decision keeps its input and a crashed process lets it go within
/// [`inputs::LEASE`].
struct Renewing(tokio::task::JoinHandle<()>);

impl Renewing {
    fn start(pool: PgPool, clock: Arc<dyn Clock>, claim: Claim) -> Renewing {
        Renewing(tokio::spawn(async move {
            loop {
                tokio::time::sleep(inputs::RENEW).await;
                if let Err(e) = inputs::renew(&pool, claim, clock.now()).await {
                    tracing::warn!(inbound = claim.id, error = %e, "renewing a lease failed");
                }
            }
        }))
    }
}

impl Drop for Renewing {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Keeps through the blob store, except bytes this input already stored when
/// it was received: putting them again would only re-read and re-hash them to
/// verify the copy on disk.
struct KeepNew {
    blobs: Blobs,
    stored: HashSet<Sha256>,
}

impl Keep for KeepNew {
    fn keep(&self, sha256: &Sha256, bytes: &[u8]) -> std::io::Result<()> {
        if self.stored.contains(sha256) {
            return Ok(());
        }
        self.blobs.put(sha256, bytes)
    }
}

/// The SR reference, whom to answer and the sender checks of one message.
fn mail_facts(
    env: &mail::Envelope<'_>,
    delivery: Option<&Delivery>,
    policy: &MailPolicy,
    today: chrono::NaiveDate,
) -> MailFacts {
    let h = &env.headers;
    let claimed = env
        .subject
        .as_deref()
        .and_then(SrNumber::find_in)
        .or_else(|| {
            h.in_reply_to
                .iter()
                .chain(h.references.iter().rev())
                .find_map(|r| SrNumber::find_in(r))
        });
    let auth = SenderAuth::from_headers(&h.authentication_results, &policy.trusted_authserv_ids);
    // A reply token may stand in the envelope's recipients or, without an
    // envelope, in To and Cc: its MAC, not its place, is the proof.
    let rcpts = delivery
        .map(|d| d.rcpt_to.iter())
        .into_iter()
        .flatten()
        .chain(h.recipients.iter())
        .map(String::as_str);
    let token = policy.answers.reply_key.check(rcpts);
    let from_domain = env.sender.as_deref().and_then(crate::sr::domain_of);
    let (sr_reference, proof) = match token {
        TokenCheck::Valid(sr) => (Some(sr), ReplyProof::Token),
        _ if from_domain.as_deref().is_some_and(|d| auth.aligned_pass(d)) => {
            (claimed, ReplyProof::Authenticated)
        }
        TokenCheck::Forged => (
            claimed,
            ReplyProof::Unproven("its reply token does not verify".to_owned()),
        ),
        TokenCheck::Absent if auth.authserv_id.is_none() => (
            claimed,
            ReplyProof::Unproven(
                "no reply token, and no Authentication-Results from a trusted server".to_owned(),
            ),
        ),
        TokenCheck::Absent => (
            claimed,
            ReplyProof::Unproven(format!(
                "no reply token, and {} vouched for no domain aligned with the sender's (spf={}, dkim={}, dmarc={})",
                auth.authserv_id.as_deref().unwrap_or(""),
                auth.spf.as_deref().unwrap_or("none"),
                auth.dkim.as_deref().unwrap_or("none"),
                auth.dmarc.as_deref().unwrap_or("none"),
            )),
        ),
    };
    let asked = Asked {
        sender: env.sender.as_deref(),
        message_id: env.message_id.as_deref(),
        subject: env.subject.as_deref(),
        body: &env.body,
        headers: h,
        delivery,
        auth: &auth,
    };
    let answer_to = answer::correspondent(&asked, |a| policy.is_ours(a));
    MailFacts {
        sr_reference,
        proof,
        subject: env.subject.clone(),
        answer_to,
        auth,
        away: mail::away::notice(h, env.subject.as_deref(), &env.body, today),
    }
}

/// The span every log line of one input carries; `finish` fills in the SR and
/// submission once they are known.
fn submission_span(channel: Channel, inbound: i64) -> tracing::Span {
    tracing::info_span!(
        "submission",
        channel = channel.as_str(),
        inbound,
        sr = tracing::field::Empty,
        submission = tracing::field::Empty
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(raw: &str, delivery: Option<&Delivery>) -> MailFacts {
        let policy = MailPolicy {
            answers: AnswerConfig {
                from: "samples@lab.example".into(),
                ..AnswerConfig::default()
            },
            ours: Recipients::new(&["samples@lab.example".to_owned()]),
            trusted_authserv_ids: vec!["mx.lab.example".into()],
        };
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap_or_default();
        mail_facts(&mail::parse(raw.as_bytes()), delivery, &policy, today)
    }

    /// The SR the message `raw` names, as text.
    fn sr_of(raw: &str) -> Option<String> {
        facts(raw, None).sr_reference.map(|s| s.to_string())
    }

    #[test]
    fn the_sr_comes_from_the_subject_or_the_thread() {
        assert_eq!(
            sr_of("From: a@b.example\r\nSubject: Re: [SR-2026-000123] x\r\n\r\nhi\r\n").as_deref(),
            Some("SR-2026-000123")
        );
        // A client that rewrote the subject still threads by References.
        assert_eq!(
            sr_of("From: a@b.example\r\nSubject: new question\r\nReferences: <x@b.example> <SR-2026-000007.answer-3@intake.localhost>\r\n\r\nhi\r\n").as_deref(),
            Some("SR-2026-000007")
        );
        assert_eq!(
            sr_of("From: a@b.example\r\nSubject: hello\r\n\r\nhi\r\n"),
            None
        );
    }

    #[test]
    fn our_own_answers_and_bounces_are_not_answered() {
        let own = facts(
            "From: samples@lab.example\r\nSubject: x\r\n\r\nhi\r\n",
            None,
        );
        assert_eq!(own.answer_to, Err(Silence::OurOwn));
        let bounce = Delivery::default();
        let b = facts(
            "From: a@b.example\r\nSubject: x\r\n\r\nhi\r\n",
            Some(&bounce),
        );
        assert_eq!(b.answer_to, Err(Silence::NullSender));
        // Only the trusted MTA's results count.
        let f = facts(
            "Authentication-Results: mx.lab.example; spf=fail\r\nFrom: a@b.example\r\nSubject: x\r\n\r\nhi\r\n",
            None,
        );
        assert_eq!(f.auth.spf.as_deref(), Some("fail"));
        assert!(matches!(f.answer_to, Err(Silence::Forged(_))));
        let untrusted = facts(
            "Authentication-Results: forged.example; spf=fail\r\nFrom: a@b.example\r\nSubject: x\r\n\r\nhi\r\n",
            None,
        );
        assert!(untrusted.answer_to.is_ok());
    }
}
