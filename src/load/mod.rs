//! `intake load`: the proof under load. Sends a mix of inputs — emails over
//! SMTP and LMTP (good, needs-info, rejected, resent duplicates, replies
//! that complete needs-info SRs) and portal uploads over the API — at a fixed
//! rate or as fast as intake takes them, over N connections, while faults are
//! injected, and writes a ledger (one line per input and per fault) that
//! `intake audit` (the `audit` module) checks against what intake recorded.
//!
//! The run can own the processes it hurts: given `--serve` and `--worker`
//! commands it starts them and restarts them after a kill, as systemd would.

pub mod client;
pub mod faults;
pub mod inputs;
pub mod ledger;
pub mod proxy;
pub mod sink;
pub mod supervise;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;

use client::{MailSession, Outcome, Portal};
use inputs::{Asked, Email, Kind, Mix, Sender};
use ledger::{Channel, FaultKind, Input, Line};

/// What to send, how fast, and where.
pub struct Plan {
    pub mix: Mix,
    /// Inputs per second; `None`: as fast as intake takes them.
    pub rate: Option<f64>,
    /// Stop after this many inputs (replies not counted)...
    pub count: Option<u64>,
    /// ...or after this long, whichever comes first.
    pub duration: Option<Duration>,
    pub connections: usize,
    /// intake's SMTP listeners (several serves: connections spread over them).
    pub smtp: Vec<SocketAddr>,
    pub lmtp: Vec<SocketAddr>,
    /// The portal API and the upload id prefix of the token's account.
    pub portal: Option<(Portal, String)>,
    pub sender: Sender,
    /// Bytes of each sample.
    pub size: usize,
    pub seed: u64,
    /// Prefix of every input id: unique per run.
    pub run_id: String,
    /// An input still refused after this long is given up (and reported).
    pub give_up: Duration,
    pub ledger: PathBuf,
    pub faults: Vec<FaultKind>,
    /// Times each fault kind is injected.
    pub fault_each: u32,
    pub targets: faults::Targets,
    /// What the answer sink ([`sink::run`], started by the caller, who
    /// keeps it for as long as answers may come) receives.
    pub answers: Option<mpsc::UnboundedReceiver<sink::Delivered>>,
    /// How long to wait, after the last input, for needs-info answers still
    /// to be replied to.
    pub reply_wait: Duration,
    pub progress: bool,
}

/// Why a run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("the ledger: {0}")]
    Ledger(#[from] std::io::Error),
    #[error("{0}")]
    Plan(String),
}

/// What a run did, for its last line.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub sent: HashMap<Kind, u64>,
    pub accepted: u64,
    pub retried: u64,
    pub not_accepted: u64,
    pub faults: HashMap<FaultKind, u64>,
    pub seconds: f64,
}

impl Summary {
    fn count(&mut self, i: &Input) {
        *self.sent.entry(i.kind).or_default() += 1;
        if i.accepted {
            self.accepted += 1;
        } else {
            self.not_accepted += 1;
        }
        if i.attempts > 1 {
            self.retried += 1;
        }
    }
}

/// One input to send.
enum Job {
    New(u64),
    Reply(u64, Asked, String),
}

/// State the connections share.
struct Shared {
    plan: Plan,
    ledger: Mutex<ledger::Writer>,
    /// The last good email accepted, to resend as a duplicate.
    last_good: Mutex<Option<Arc<Email>>>,
    /// Needs-info inputs to reply to, by their Message-ID.
    awaiting_reply: Mutex<HashMap<String, String>>,
    replies: AtomicU64,
    summary: Mutex<Summary>,
}

/// Runs the plan to its end and returns what it did.
pub async fn run(mut plan: Plan) -> Result<Summary, LoadError> {
    if plan.smtp.is_empty() && plan.lmtp.is_empty() && plan.portal.is_none() {
        return Err(LoadError::Plan(
            "nothing to send to: give --smtp, --lmtp or --portal".into(),
        ));
    }
    if plan.mix.has(Kind::Upload) && plan.portal.is_none() {
        return Err(LoadError::Plan(
            "the mix has uploads but no --portal".into(),
        ));
    }
    if plan.smtp.is_empty() && plan.lmtp.is_empty() && plan.mix.has(Kind::Good) {
        return Err(LoadError::Plan(
            "the mix has emails but no --smtp or --lmtp".into(),
        ));
    }
    for k in &plan.faults {
        faults::available(&plan.targets, *k)
            .map_err(|why| LoadError::Plan(format!("{}: {why}", k.name())))?;
    }
    let mut writer = ledger::Writer::create(&plan.ledger)?;
    let started = Utc::now();
    writer.write(&Line::Run {
        at: started,
        rate: plan.rate,
        connections: plan.connections,
        mix: format!("{:?}", plan.mix),
    })?;
    let answers = plan.answers.take();
    let shared = Arc::new(Shared {
        plan,
        ledger: Mutex::new(writer),
        last_good: Mutex::new(None),
        awaiting_reply: Mutex::new(HashMap::new()),
        replies: AtomicU64::new(0),
        summary: Mutex::new(Summary::default()),
    });
    let p = &shared.plan;
    let window = p
        .duration
        .or_else(|| Some(Duration::from_secs_f64(p.count? as f64 / p.rate?)))
        .unwrap_or(Duration::from_secs(60));
    let bar = progress(p, window);

    // The connections take jobs from one queue; replies go first.
    let (jobs_tx, jobs_rx) = async_channel();
    let (reply_tx, reply_rx) = async_channel();
    let mut conns = Vec::new();
    for c in 0..p.connections.max(1) {
        let (s, jobs, replies, bar) = (
            shared.clone(),
            jobs_rx.clone(),
            reply_rx.clone(),
            bar.clone(),
        );
        conns.push(tokio::spawn(async move {
            connection(c, s, jobs, replies, bar).await
        }));
    }
    drop((jobs_rx, reply_rx));

    // Answers to needs-info inputs become replies.
    let replier = answers.map(|mut answers| {
        let s = shared.clone();
        let reply_tx = reply_tx.clone();
        tokio::spawn(async move {
            while let Some(d) = answers.recv().await {
                let Some(irt) = d.in_reply_to.clone() else {
                    continue;
                };
                let original = s
                    .awaiting_reply
                    .lock()
                    .ok()
                    .and_then(|m| m.get(&irt).cloned());
                let (Some(original), Some(reply_to), Some(mid)) =
                    (original, d.reply_to, d.message_id)
                else {
                    continue;
                };
                let asked = Asked {
                    reply_to,
                    subject: d.subject.unwrap_or_default(),
                    message_id: mid,
                    in_reply_to: irt.clone(),
                };
                let n = s.replies.fetch_add(1, Ordering::Relaxed);
                if reply_tx.send(Job::Reply(n, asked, original)).await.is_err() {
                    return;
                }
                // Off the list only once queued, so the run waits for it.
                if let Ok(mut m) = s.awaiting_reply.lock() {
                    m.remove(&irt);
                }
            }
        })
    });

    // Faults at their moments.
    let fault_task = {
        let s = shared.clone();
        let plan = faults::schedule(&p.faults, p.fault_each, window, p.seed);
        let bar = bar.clone();
        tokio::spawn(async move {
            let t0 = tokio::time::Instant::now();
            let mut done: HashMap<FaultKind, u64> = HashMap::new();
            for (at, kind) in plan {
                tokio::time::sleep_until(t0 + at).await;
                bar.set_message(format!("fault: {}", kind.name()));
                let nth = done.get(&kind).copied().unwrap_or(0) as usize;
                let f = faults::inject(&s.plan.targets, kind, nth).await;
                tracing::warn!(fault = kind.name(), note = %f.note, "fault injected and undone");
                *done.entry(kind).or_default() += 1;
                if let Ok(mut w) = s.ledger.lock() {
                    let _ = w.write(&Line::Fault(f));
                }
                bar.set_message(String::new());
            }
            done
        })
    };

    // The producer: input n at start + n / rate.
    let t0 = tokio::time::Instant::now();
    let mut n = 0u64;
    loop {
        if p.count.is_some_and(|c| n >= c) || p.duration.is_some_and(|d| t0.elapsed() >= d) {
            break;
        }
        if let Some(rate) = p.rate {
            tokio::time::sleep_until(t0 + Duration::from_secs_f64(n as f64 / rate)).await;
        }
        if jobs_tx.send(Job::New(n)).await.is_err() {
            break;
        }
        n += 1;
    }
    drop(jobs_tx);
    // Give needs-info answers still coming their replies.
    let wait_until = tokio::time::Instant::now() + p.reply_wait;
    loop {
        let pending = shared.awaiting_reply.lock().map(|m| m.len()).unwrap_or(0);
        if pending == 0 || tokio::time::Instant::now() >= wait_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Some(r) = replier {
        r.abort();
    }
    drop(reply_tx);
    for c in conns {
        let _ = c.await;
    }
    let faults = fault_task.await.unwrap_or_default();
    let ended = Utc::now();
    if let Ok(mut w) = shared.ledger.lock() {
        w.write(&Line::End { at: ended })?;
    }
    bar.finish_and_clear();
    let mut summary = shared.summary.lock().map(|m| m.clone()).unwrap_or_default();
    summary.faults = faults;
    summary.seconds = (ended - started).num_milliseconds() as f64 / 1000.0;
    Ok(summary)
}

fn async_channel() -> (
    mpsc::Sender<Job>,
    Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>,
) {
    let (tx, rx) = mpsc::channel(64);
    (tx, Arc::new(tokio::sync::Mutex::new(rx)))
}

fn progress(p: &Plan, window: Duration) -> indicatif::ProgressBar {
    if !p.progress {
        return indicatif::ProgressBar::hidden();
    }
    let bar = match p.count {
        Some(c) => indicatif::ProgressBar::new(c),
        None => indicatif::ProgressBar::new(window.as_secs()),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} {per_sec} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

type Queue = Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>;

/// One connection: takes jobs until both queues end.
async fn connection(
    c: usize,
    s: Arc<Shared>,
    jobs: Queue,
    replies: Queue,
    bar: indicatif::ProgressBar,
) {
    let mut smtp: Option<MailSession> = None;
    let mut lmtp: Option<MailSession> = None;
    let mut jobs_open = true;
    loop {
        // Replies first, without waiting for one.
        // The lock is let go before waiting on either queue.
        let ready = replies.lock().await.try_recv();
        let job = match ready {
            Ok(j) => j,
            Err(_) if jobs_open => match jobs.lock().await.recv().await {
                Some(j) => j,
                None => {
                    // No more new inputs: serve replies until they end.
                    jobs_open = false;
                    continue;
                }
            },
            Err(_) => match replies.lock().await.recv().await {
                Some(j) => j,
                None => break,
            },
        };
        let line = send(c, &s, job, &mut smtp, &mut lmtp).await;
        let Some(line) = line else { continue };
        if s.plan.count.is_some() && line.replies_to.is_none() {
            bar.inc(1);
        } else if s.plan.count.is_none() {
            bar.set_position(bar.elapsed().as_secs());
        }
        if let Ok(mut m) = s.summary.lock() {
            m.count(&line);
        }
        if let Ok(mut w) = s.ledger.lock()
            && let Err(e) = w.write(&Line::Input(line))
        {
            tracing::error!(error = %e, "ledger");
        }
    }
    for m in [smtp, lmtp].into_iter().flatten() {
        m.quit().await;
    }
}

/// Builds job's input, sends it until accepted, refused for good or given
/// up, and returns its ledger line.
async fn send(
    c: usize,
    s: &Shared,
    job: Job,
    smtp: &mut Option<MailSession>,
    lmtp: &mut Option<MailSession>,
) -> Option<Input> {
    let p = &s.plan;
    let (id, kind, replies_to, to, e) = match job {
        Job::Reply(n, asked, original) => {
            let id = format!("{}-r{n:07}", p.run_id);
            let e = inputs::reply(&id, &p.sender, &asked);
            (id, Kind::Reply, Some(original), asked.reply_to, Arc::new(e))
        }
        Job::New(n) => {
            let id = format!("{}-{n:07}", p.run_id);
            let mut kind = p.mix.kind(n, p.seed);
            if kind == Kind::Duplicate {
                let again = s.last_good.lock().ok().and_then(|g| g.clone());
                match again {
                    Some(e) => {
                        let to = &p.sender.to;
                        return Some(deliver(c, s, id, Kind::Duplicate, to, &e, smtp, lmtp).await);
                    }
                    None => kind = Kind::Good,
                }
            }
            if kind == Kind::Upload {
                return Some(upload(s, id).await);
            }
            let e = match inputs::email(kind, &id, &p.sender, p.size, p.seed) {
                Ok(e) => e,
                Err(err) => {
                    tracing::error!(error = %err, "cannot build input");
                    return None;
                }
            };
            if kind == Kind::NeedsInfo
                && p.mix.replies_to(n, p.seed)
                && let Ok(mut m) = s.awaiting_reply.lock()
            {
                m.insert(e.message_id.clone(), id.clone());
            }
            (id, kind, None, p.sender.to.clone(), Arc::new(e))
        }
    };
    let line = deliver(c, s, id, kind, &to, &e, smtp, lmtp).await;
    if kind == Kind::Good
        && line.accepted
        && let Ok(mut g) = s.last_good.lock()
    {
        *g = Some(e);
    }
    Some(Input { replies_to, ..line })
}

/// Sends one email over SMTP or LMTP (by connection number, so both carry
/// every kind), as an MTA would: again after a 4xx or a lost session.
#[allow(clippy::too_many_arguments)]
async fn deliver(
    c: usize,
    s: &Shared,
    id: String,
    kind: Kind,
    to: &str,
    e: &Email,
    smtp: &mut Option<MailSession>,
    lmtp: &mut Option<MailSession>,
) -> Input {
    let p = &s.plan;
    let mut tries = Tries::new(p.give_up);
    // Connection c: SMTP when even (or no LMTP), on listener c/2 of its kind.
    let pick = |v: &[SocketAddr]| v.get((c / 2) % v.len().max(1)).copied();
    let (channel, addr, session) = match (pick(&p.smtp), pick(&p.lmtp)) {
        (Some(a), Some(_)) if c.is_multiple_of(2) => (Channel::Smtp, a, smtp),
        (_, Some(a)) => (Channel::Lmtp, a, lmtp),
        (Some(a), None) => (Channel::Smtp, a, smtp),
        (None, None) => {
            let no = Outcome::Refused("no --smtp or --lmtp to send it to".into());
            let (m, samples) = (e.message_id.clone(), e.samples.clone());
            return tries.line(id, kind, Channel::Smtp, m, samples, no);
        }
    };
    let outcome = loop {
        let o = match session.as_mut() {
            None => match MailSession::open(addr, channel == Channel::Lmtp).await {
                Ok(m) => {
                    *session = Some(m);
                    continue;
                }
                Err(err) => Outcome::Later(format!("connect: {err}")),
            },
            Some(m) => match m.send(&p.sender.from, to, &e.bytes).await {
                Ok(o) => o,
                Err(err) => {
                    *session = None;
                    Outcome::Later(format!("session lost: {err}"))
                }
            },
        };
        if let Some(done) = tries.after(o).await {
            break done;
        }
        // A 4xx may leave the session in any state: start afresh.
        if let Some(m) = session.take() {
            m.quit().await;
        }
    };
    let (m, samples) = (e.message_id.clone(), e.samples.clone());
    tries.line(id, kind, channel, m, samples, outcome)
}

/// The tries of one input, as a patient sender makes them: counted, the
/// first refusal kept, backing off between them, given up after a while.
struct Tries {
    sent_at: chrono::DateTime<Utc>,
    started: tokio::time::Instant,
    count: u32,
    first_refusal: Option<String>,
    backoff: Duration,
    give_up: Duration,
}

impl Tries {
    fn new(give_up: Duration) -> Tries {
        Tries {
            sent_at: Utc::now(),
            started: tokio::time::Instant::now(),
            count: 0,
            first_refusal: None,
            backoff: Duration::from_millis(100),
            give_up,
        }
    }

    /// Counts one try: `Some` when the input is done (accepted, refused for
    /// good, or given up), else waits its back-off.
    async fn after(&mut self, o: Outcome) -> Option<Outcome> {
        self.count += 1;
        let Outcome::Later(why) = &o else {
            return Some(o);
        };
        self.first_refusal.get_or_insert_with(|| why.clone());
        if self.started.elapsed() >= self.give_up {
            return Some(o);
        }
        tokio::time::sleep(self.backoff).await;
        self.backoff = (self.backoff * 2).min(Duration::from_secs(2));
        None
    }

    /// The ledger's line for the input these tries ended with `outcome`.
    fn line(
        self,
        id: String,
        kind: Kind,
        channel: Channel,
        external_id: String,
        samples: Vec<crate::digest::Sha256>,
        outcome: Outcome,
    ) -> Input {
        let (accepted, answer) = match outcome {
            Outcome::Accepted(a) => (true, a),
            Outcome::Later(a) => (false, format!("given up: {a}")),
            Outcome::Refused(a) => (false, a),
        };
        Input {
            id,
            kind,
            channel,
            external_id,
            answer,
            accepted,
            attempts: self.count,
            first_refusal: self.first_refusal,
            samples,
            sent_at: self.sent_at,
            answered_at: Utc::now(),
            replies_to: None,
        }
    }
}

/// One portal upload, tried again (same Idempotency-Key) until taken.
async fn upload(s: &Shared, id: String) -> Input {
    let p = &s.plan;
    let mut tries = Tries::new(p.give_up);
    // Refused before a try: no portal in the plan, or no upload to build.
    let ready = match &p.portal {
        None => Err("no portal".to_owned()),
        Some((portal, prefix)) => inputs::upload(&id, p.size, p.seed)
            .map(|u| (portal, prefix, u))
            .map_err(|e| e.to_string()),
    };
    let (portal, prefix, u) = match ready {
        Ok(r) => r,
        Err(why) => {
            let no = Outcome::Refused(why);
            return tries.line(
                id.clone(),
                Kind::Upload,
                Channel::Portal,
                id,
                Vec::new(),
                no,
            );
        }
    };
    let outcome = loop {
        if let Some(done) = tries.after(portal.upload(&u).await).await {
            break done;
        }
    };
    let external = format!("{prefix}{}", u.key);
    tries.line(
        id,
        Kind::Upload,
        Channel::Portal,
        external,
        u.samples,
        outcome,
    )
}

/// A confirmed customer account on `grant` with a fresh API token, for the
/// portal share of the load: made (or found) in the database, as the portal
/// would after sign-up and confirmation. Returns the token and the prefix of
/// its upload ids (`account-ID:`).
pub async fn portal_account(
    pool: &sqlx::PgPool,
    grant: &str,
    email: &str,
) -> Result<(String, String), PortalAccountError> {
    let now = Utc::now();
    // A password nobody knows: the account is used through its token only.
    let secret = crate::account::token::Secret::generate()?;
    let hash = crate::account::password::hash(secret.as_str())?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO accounts (realm, email, name, grant_number, password_hash, created_at, confirmed_at)
         VALUES ('customer', $1, 'intake load', $2, $3, $4, $4)
         ON CONFLICT (realm, email) DO UPDATE SET confirmed_at = coalesce(accounts.confirmed_at, $4)
         RETURNING id",
    )
    .bind(email.to_ascii_lowercase())
    .bind(grant)
    .bind(hash)
    .bind(now)
    .fetch_one(pool)
    .await?;
    // One token per run; the oldest make way (an account holds a few).
    sqlx::query(
        "UPDATE api_tokens SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .execute(pool)
    .await?;
    let token = crate::store::accounts::create_token(pool, id, "intake load", now)
        .await?
        .ok_or(PortalAccountError::NoToken)?;
    Ok((token.as_str().to_owned(), format!("account-{id}:")))
}

/// Why the load's portal account could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PortalAccountError {
    #[error("PostgreSQL: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Account(#[from] crate::store::accounts::AccountError),
    #[error("{0}")]
    Randomness(#[from] crate::account::token::RandomnessError),
    #[error("{0}")]
    Password(#[from] crate::account::password::PasswordError),
    #[error("the account holds as many tokens as it may")]
    NoToken,
}
