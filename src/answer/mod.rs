//! What intake writes back to the customer, and when it must stay silent.
//! Pure: [`correspondent`] decides whom to answer (never automated mail,
//! never ourselves, never mail its own MTA found forged), [`compose`] turns
//! a notice into a message from the templates in `templates/mail/<lang>/`.
//! Answers are written to the outbox in the same transaction that records
//! the input, and `store::mailer` delivers them through the configured relay.

mod account;
mod templates;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use account::{AccountMail, AccountMailKind, compose_account};

use crate::decide::metadata::Field;
use crate::decide::report::{Outcome, RejectedEntry};
use crate::digest::Sha256;
use crate::mail::{Delivery, Headers};
use crate::sr::{AnswerKind, Lang, SrNumber};

/// Settings of outgoing answers.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnswerConfig {
    /// The From address of answers (and an address intake never answers).
    pub from: String,
    /// The SMTP relay answers go through, `host:port`; empty keeps them in
    /// the outbox unsent (they go out once a relay is configured).
    pub relay: String,
    /// The right-hand side of answers' Message-IDs.
    pub hostname: String,
    /// Answers sent at once, each over its own relay connection. One at a
    /// time, an answer costs a relay's round trips and a commit, and an
    /// outbreak's answers would queue behind each other.
    pub senders: usize,
    /// The vendor's name in the "<vendor> Product Name" label of forms.
    #[serde(skip)]
    pub vendor: String,
    /// The key of the reply tokens in answers' `Reply-To` (the lab's own,
    /// loaded from the database at start).
    #[serde(skip)]
    pub reply_key: crate::mail::token::ReplyKey,
}

impl Default for AnswerConfig {
    fn default() -> Self {
        AnswerConfig {
            from: "samples@localhost".to_owned(),
            relay: String::new(),
            hostname: "intake.localhost".to_owned(),
            senders: 4,
            vendor: "McAfee".to_owned(),
            reply_key: Default::default(),
        }
    }
}

/// Whom an answer goes to, threaded to the message it answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Correspondent {
    pub to: String,
    pub lang: Lang,
    /// The customer's Message-ID, for `In-Reply-To`.
    pub message_id: Option<String>,
    /// Their `References` plus their Message-ID.
    pub references: Vec<String>,
}

/// Why a message gets no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Silence {
    /// `MAIL FROM:<>`: a bounce or an auto-reply (RFC 5321 §4.5.5).
    NullSender,
    /// `Auto-Submitted` other than `no` (RFC 3834).
    AutoSubmitted(String),
    /// `Precedence: bulk/junk/list`.
    Bulk(String),
    /// A mailing list's message.
    MailingList,
    /// From one of our own addresses: answering would loop.
    OurOwn,
    /// No usable From address.
    NoAddress,
    /// The receiving MTA found the sender forged (SPF/DMARC fail): an answer
    /// would be backscatter to a stranger.
    Forged(String),
}

impl Silence {
    /// A metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            Silence::NullSender => "null_sender",
            Silence::AutoSubmitted(_) => "auto_submitted",
            Silence::Bulk(_) => "bulk",
            Silence::MailingList => "mailing_list",
            Silence::OurOwn => "our_own",
            Silence::NoAddress => "no_address",
            Silence::Forged(_) => "forged",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Silence::NullSender => "null sender".to_owned(),
            Silence::AutoSubmitted(v) => format!("Auto-Submitted: {v}"),
            Silence::Bulk(v) => format!("Precedence: {v}"),
            Silence::MailingList => "mailing list".to_owned(),
            Silence::OurOwn => "sent by intake itself".to_owned(),
            Silence::NoAddress => "no sender address".to_owned(),
            Silence::Forged(v) => format!("sender authentication failed ({v})"),
        }
    }
}

/// What decides whether and how to answer one message.
pub struct Asked<'a> {
    pub sender: Option<&'a str>,
    pub message_id: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub body: &'a str,
    pub headers: &'a Headers,
    pub delivery: Option<&'a Delivery>,
    pub auth: &'a crate::mail::SenderAuth,
}

/// Whom to answer, or why not. `ours` tells our own addresses.
pub fn correspondent(m: &Asked<'_>, ours: impl Fn(&str) -> bool) -> Result<Correspondent, Silence> {
    if m.delivery.is_some_and(Delivery::is_null_sender) {
        return Err(Silence::NullSender);
    }
    let h = m.headers;
    if let Some(v) = &h.auto_submitted
        && !v.trim().eq_ignore_ascii_case("no")
    {
        return Err(Silence::AutoSubmitted(v.clone()));
    }
    if let Some(v) = &h.precedence {
        let p = v.trim().to_ascii_lowercase();
        if matches!(p.as_str(), "bulk" | "junk" | "list") {
            return Err(Silence::Bulk(v.clone()));
        }
    }
    if h.list_id {
        return Err(Silence::MailingList);
    }
    if let Some(failed) = m.auth.failed() {
        return Err(Silence::Forged(failed));
    }
    let to = m
        .sender
        .map(str::trim)
        .filter(|s| valid_address(s))
        .ok_or(Silence::NoAddress)?;
    if ours(to) {
        return Err(Silence::OurOwn);
    }
    let mut references = h.references.clone();
    if let Some(id) = m.message_id
        && !references.iter().any(|r| r == id)
    {
        references.push(id.to_owned());
    }
    // A long thread: keep the first and the most recent (RFC 5322 §3.6.4).
    if references.len() > 20 {
        let tail = references.split_off(references.len() - 19);
        references.truncate(1);
        references.extend(tail);
    }
    Ok(Correspondent {
        to: to.to_owned(),
        lang: Lang::of(h.content_language.as_deref(), m.subject, m.body),
        message_id: m.message_id.map(str::to_owned),
        references,
    })
}

/// An address we are willing to write to: one `@`, no spaces, controls or
/// brackets, a dotted domain.
fn valid_address(a: &str) -> bool {
    let Some((local, domain)) = a.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && a.len() <= 254
        && domain.contains('.')
        && !a
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "<>()[],;:\"\\".contains(c))
}

/// One accepted file, as the answer lists it.
#[derive(Debug, Clone, Serialize)]
pub struct FileLine {
    pub path: String,
    pub size: u64,
    pub sha256: Sha256,
}

/// What an answer tells.
#[derive(Debug, Clone)]
pub enum Notice<'a> {
    /// The acknowledgement of an input: accepted, needs_info, rejected, or
    /// held for verification.
    Received {
        outcome: Outcome,
        /// Why the submission waits for staff, when it does.
        held: Option<String>,
        samples: &'a [FileLine],
        rejected: &'a [RejectedEntry],
        missing: &'a [Field],
        /// This message completed an earlier needs_info submission.
        completed: bool,
    },
    /// Staff closed the SR (`no_contact`: after the attempts to reach
    /// the customer went unanswered).
    Closed {
        note: Option<&'a str>,
        no_contact: bool,
    },
    /// Staff wrote to the customer, or (`asks_info`) asked for
    /// information.
    Message { text: &'a str, asks_info: bool },
    /// An emergency detection package for a malicious file: the rule and
    /// the hash list go as attachments.
    Detection {
        path: &'a str,
        sha256: Sha256,
        detection: &'a str,
        rule_name: &'a str,
        rule: &'a str,
        hash_list: &'a str,
    },
    /// Staff recorded a verdict for one file.
    Verdict {
        path: &'a str,
        sha256: Sha256,
        verdict: &'a str,
        /// The detection name of a malicious file.
        detection: Option<&'a str>,
        note: Option<&'a str>,
    },
}

/// A composed answer, as the outbox keeps it until it is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub sr_number: SrNumber,
    pub kind: AnswerKind,
    pub to: String,
    pub subject: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub lang: Lang,
    pub body: String,
    /// Text files sent with the answer (a detection package's rule and
    /// hash list).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// A text file an answer carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The file's name: ours, never a customer's.
    pub name: String,
    pub text: String,
}

/// A template failed to render: a bug in a template file, never the input's.
#[derive(Debug, Clone, thiserror::Error)]
#[error("answer template {template}: {detail}")]
pub struct TemplateError {
    template: String,
    detail: String,
}

impl TemplateError {
    fn new(template: &str, e: &minijinja::Error) -> Self {
        // minijinja's alternate form names the line and the cause.
        TemplateError {
            template: template.to_owned(),
            detail: format!("{e:#}"),
        }
    }
}

/// How many accepted and how many refused files an answer lists by name;
/// the rest are counted. A message of thousands of files must not make an
/// answer of megabytes.
pub const LISTED: usize = 50;

/// Composes the answer for `notice` on SR `sr` to `to`.
pub fn compose(
    sr: &SrNumber,
    to: &Correspondent,
    notice: &Notice<'_>,
    vendor: &str,
) -> Result<Answer, TemplateError> {
    use minijinja::value::{Serde, Value};
    let sr_text = sr.to_string();
    let (kind, ctx) = match notice {
        Notice::Received {
            outcome,
            held,
            samples,
            rejected,
            missing,
            completed,
        } => {
            let kind = match (outcome, held) {
                (Outcome::Rejected, _) => AnswerKind::Rejected,
                (_, Some(_)) => AnswerKind::Held,
                (Outcome::NeedsInfo, None) => AnswerKind::NeedsInfo,
                (Outcome::Accepted, None) => AnswerKind::Accepted,
            };
            let rejected_shown: Vec<_> = rejected
                .iter()
                .take(LISTED)
                .map(|r| serde_json::json!({ "path": r.path, "reason": r.reason.as_str() }))
                .collect();
            let missing: Vec<&str> = missing.iter().map(|f| f.key()).collect();
            let ctx = minijinja::context! {
                sr => sr_text,
                vendor => vendor,
                held => held.clone().unwrap_or_default(),
                samples => Value::from(Serde(&samples[..samples.len().min(LISTED)])),
                sample_count => samples.len(),
                samples_more => samples.len().saturating_sub(LISTED),
                rejected => Value::from(Serde(&rejected_shown)),
                rejected_more => rejected.len().saturating_sub(LISTED),
                missing => Value::from(Serde(&missing)),
                completed => *completed,
            };
            (kind, ctx)
        }
        Notice::Closed { note, no_contact } => (
            AnswerKind::Closed,
            minijinja::context! {
                sr => sr_text, note => note.unwrap_or_default(), no_contact => *no_contact,
            },
        ),
        Notice::Message { text, asks_info } => (
            if *asks_info {
                AnswerKind::InfoRequest
            } else {
                AnswerKind::Message
            },
            minijinja::context! { sr => sr_text, text => *text },
        ),
        Notice::Detection {
            path,
            sha256,
            detection,
            rule_name,
            ..
        } => (
            AnswerKind::Detection,
            minijinja::context! {
                sr => sr_text, path => *path, sha256 => sha256.to_hex(),
                detection => *detection, rule_name => *rule_name,
            },
        ),
        Notice::Verdict {
            path,
            sha256,
            verdict,
            detection,
            note,
        } => (
            AnswerKind::Verdict,
            minijinja::context! {
                sr => sr_text, path => *path, sha256 => sha256.to_hex(),
                verdict => *verdict, detection => detection.unwrap_or_default(),
                note => note.unwrap_or_default(),
            },
        ),
    };
    let attachments = match notice {
        Notice::Detection {
            rule_name,
            rule,
            hash_list,
            ..
        } => vec![
            Attachment {
                name: format!("{rule_name}.yar"),
                text: (*rule).to_owned(),
            },
            Attachment {
                name: format!("{rule_name}.hashes.txt"),
                text: (*hash_list).to_owned(),
            },
        ],
        _ => Vec::new(),
    };
    let (subject, body) = templates::render(to.lang, kind, ctx)?;
    Ok(Answer {
        sr_number: sr.clone(),
        kind,
        to: to.to.clone(),
        subject,
        in_reply_to: to.message_id.clone(),
        references: to.references.clone(),
        lang: to.lang,
        body,
        attachments,
    })
}
