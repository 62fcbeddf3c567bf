//! The one decision every channel runs (and `intake check` exposes): given the
//! files and facts of one input, which files are samples, which are refused and
//! why, which required facts are missing, and so the outcome.
//!
//! The walk is pure over bytes. The one effect is [`Keep`]: every file's bytes
//! are handed to it as soon as they are hashed, so the live pipeline can store
//! samples and quarantine without holding a whole submission in memory, and
//! `check` passes [`Discard`]. The report, not the calls to `Keep`, is the
//! decision: bytes kept for an archive later refused as a bomb are simply not
//! referenced.

pub mod classify;
pub mod metadata;
pub mod report;
#[cfg(test)]
mod tests;
pub mod threads;
pub mod unpack;

use std::borrow::Cow;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use crate::digest::Sha256;
use classify::{Identity, Kind};
use metadata::{Labels, Metadata};
use report::{Channel, Opened, Outcome, RejectReason, RejectedEntry, Report, SampleEntry};
use unpack::{Entry, Limits, Probe, Wrapper, safe_name};

/// Everything the decision depends on besides the input.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub limits: Limits,
    pub labels: Labels,
}

/// One file as the channel delivered it: an email attachment or an uploaded file.
#[derive(Debug, Clone)]
pub struct Attachment<'a> {
    /// The name the sender gave, if any (unsafe until made safe here).
    pub name: Option<String>,
    pub bytes: Cow<'a, [u8]>,
    /// `Some(kind)` for something that is not a regular file (a symlink in an
    /// upload directory).
    pub not_a_file: Option<&'static str>,
}

impl<'a> Attachment<'a> {
    pub fn new(name: Option<String>, bytes: impl Into<Cow<'a, [u8]>>) -> Self {
        Attachment {
            name,
            bytes: bytes.into(),
            not_a_file: None,
        }
    }
}

/// One input, whatever channel it came by.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub channel: Channel,
    pub message_id: Option<String>,
    pub sender: Option<String>,
    pub attachments: Vec<Attachment<'a>>,
    pub metadata: Metadata,
    /// Archive passwords the customer gave, tried after `infected` on every
    /// zip. Input only: never reported.
    pub passwords: Vec<String>,
}

/// The most passwords tried on one zip: each costs a decryption attempt.
pub const MAX_PASSWORDS: usize = 8;

/// The warning on every sample that came out of a zip a customer's password
/// opened.
pub const GIVEN_PASSWORD_WARNING: &str = "opened with a password the customer gave";

/// The warning on an encrypted zip inside a wrapper that no known password
/// opens: kept whole, since malware travels that way.
pub const LOCKED_WARNING: &str = "encrypted, password unknown";

/// Where the bytes of judged files go. Called from several threads, in no
/// particular order, possibly more than once for the same digest.
pub trait Keep: Sync {
    fn keep(&self, sha256: &Sha256, bytes: &[u8]) -> std::io::Result<()>;
}

/// A [`Keep`] that keeps nothing (for `intake check`).
pub struct Discard;

impl Keep for Discard {
    fn keep(&self, _: &Sha256, _: &[u8]) -> std::io::Result<()> {
        Ok(())
    }
}

/// The decision could not be completed because bytes could not be kept.
#[derive(Debug, thiserror::Error)]
#[error("could not keep {sha256}: {source}")]
pub struct KeepError {
    pub sha256: Sha256,
    #[source]
    pub source: std::io::Error,
}

/// Decides `input`. Fails only when `keep` fails.
pub fn decide(input: &Input<'_>, policy: &Policy, keep: &dyn Keep) -> Result<Report, KeepError> {
    let mut passwords: Vec<&[u8]> = vec![unpack::PASSWORD];
    // Where each candidate stands in the customer's list (none for infected).
    let mut given = vec![None];
    for (i, p) in input.passwords.iter().enumerate() {
        if passwords.len() >= MAX_PASSWORDS {
            break;
        }
        if !p.is_empty() && !passwords.contains(&p.as_bytes()) {
            passwords.push(p.as_bytes());
            given.push(Some(i));
        }
    }
    let walk = Walk {
        limits: &policy.limits,
        keep,
        email: input.channel == Channel::Email,
        unpacked: AtomicU64::new(0),
        passwords,
        given,
        opened: Mutex::new(Vec::new()),
    };
    let mut leaves = Vec::new();
    let mut names = Unique::default();
    for (i, a) in input.attachments.iter().enumerate() {
        if i >= walk.limits.max_files {
            let max = walk.limits.max_files;
            let rest = &input.attachments[i..];
            leaves.push(too_many_files(rest, i, walk.email, &mut names, max));
            break;
        }
        let mut safe = attachment_name(a, i, walk.email);
        let mut warnings = Vec::new();
        if safe.changed && a.name.is_some() {
            warnings.push(renamed_warning(a.name.as_deref().unwrap_or("")));
        }
        safe.name = names.claim(&safe.name, &mut warnings);
        if let Some(kind) = a.not_a_file {
            let sha256 = Sha256::of(&a.bytes);
            keep.keep(&sha256, &a.bytes)
                .map_err(|source| KeepError { sha256, source })?;
            leaves.push(Leaf::rejected(
                safe.name,
                Some(sha256),
                a.bytes.len() as u64,
                RejectReason::NotAFile,
                format!("a {kind}, not a regular file"),
            ));
            continue;
        }
        match walk.judge(&a.bytes, &safe.name, 0, warnings, false) {
            Ok(found) => leaves.extend(found),
            Err(Stop::Keep(e)) => return Err(e),
            // judge() turns Total into a refusal at depth 0; kept for completeness.
            Err(Stop::Total) => {}
        }
    }
    let metadata = input.metadata.clone();
    let missing_fields = metadata.missing_fields();
    let mut samples = Vec::new();
    let mut rejected = Vec::new();
    // Names are unique level by level; a safe name with a `/` of its own can
    // still meet a nested path (`a/b.exe` beside a wrapper `a` holding
    // `b.exe`), so every path is checked once more here.
    let mut paths = Unique::default();
    for leaf in leaves {
        match leaf {
            Leaf::Sample(mut s) => {
                s.path = paths.claim(&s.path, &mut s.warnings);
                samples.push(s);
            }
            Leaf::Rejected(mut r) => {
                r.path = paths.claim(&r.path, &mut Vec::new());
                rejected.push(r);
            }
        }
    }
    Ok(Report {
        channel: input.channel,
        message_id: input.message_id.clone(),
        sender: input.sender.clone(),
        outcome: Outcome::decide(samples.len(), &missing_fields),
        missing_fields,
        metadata,
        samples,
        rejected,
        opened_with: walk
            .opened
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    })
}

enum Leaf {
    Sample(SampleEntry),
    Rejected(RejectedEntry),
}

/// Names already given at one level of a submission. Two files may carry
/// the same name (two attachments, two entries of one zip, `../a.exe` and
/// `a.exe` once made safe): the later ones get `~2`, `~3`, ... so every path
/// of a report names one file.
#[derive(Default)]
struct Unique(std::collections::HashSet<String>);

impl Unique {
    /// `name`, or the first free `name~n`; a renamed file says so in
    /// `warnings`.
    fn claim(&mut self, name: &str, warnings: &mut Vec<String>) -> String {
        if self.0.insert(name.to_owned()) {
            return name.to_owned();
        }
        let mut n = 2u64;
        loop {
            let candidate = format!("{name}~{n}");
            if self.0.insert(candidate.clone()) {
                warnings.push(format!(
                    "another file of this submission is also named {name:?}"
                ));
                return candidate;
            }
            n += 1;
        }
    }
}

impl Leaf {
    fn rejected(
        path: String,
        sha256: Option<Sha256>,
        size: u64,
        reason: RejectReason,
        detail: String,
    ) -> Leaf {
        Leaf::Rejected(RejectedEntry {
            path,
            sha256,
            size,
            reason,
            detail,
        })
    }
}

/// Why a whole wrapper is refused.
enum Refusal {
    Bomb(String),
    WrongPassword(String),
}

/// Why the walk stops climbing: bytes could not be kept, or the submission's
/// total unpacked size passed its limit (refused at the attached wrapper,
/// whichever nested one tripped it, so the outcome does not depend on which
/// thread got there first).
enum Stop {
    Keep(KeepError),
    Total,
}

impl From<KeepError> for Stop {
    fn from(e: KeepError) -> Self {
        Stop::Keep(e)
    }
}

/// What reading one entry of a wrapper gave.
#[derive(Default)]
struct EntryOut {
    leaves: Vec<Leaf>,
    /// An encrypted entry decrypted and verified: the password is right.
    decrypted: bool,
    /// An encrypted entry failed to decrypt: (path, why).
    failed: Option<(String, String)>,
    bomb: Option<String>,
}

struct Walk<'p> {
    limits: &'p Limits,
    keep: &'p dyn Keep,
    email: bool,
    unpacked: AtomicU64,
    /// `infected`, then the customer's.
    passwords: Vec<&'p [u8]>,
    /// For each of `passwords`, its place in the customer's list.
    given: Vec<Option<usize>>,
    /// Archives the customer's passwords opened.
    opened: Mutex<Vec<Opened>>,
}

impl Walk<'_> {
    fn keep(&self, sha256: &Sha256, bytes: &[u8]) -> Result<(), KeepError> {
        self.keep.keep(sha256, bytes).map_err(|source| KeepError {
            sha256: *sha256,
            source,
        })
    }

    /// Judges one file found at `depth` (0: attached or uploaded; n: inside the
    /// wrapper at depth n); `given` says a wrapper on its way was opened with
    /// a password the customer gave.
    fn judge(
        &self,
        bytes: &[u8],
        path: &str,
        depth: u32,
        mut warnings: Vec<String>,
        given: bool,
    ) -> Result<Vec<Leaf>, Stop> {
        // Hashed only when the file is reported: an unpacked wrapper is not,
        // and hashing tens of megabytes of it would be serial time wasted.
        let sha256 = std::cell::OnceCell::new();
        let sha256 = || *sha256.get_or_init(|| Sha256::of(bytes));
        let size = bytes.len() as u64;
        let reject = |reason, detail: String| -> Result<Vec<Leaf>, Stop> {
            let sha256 = sha256();
            self.keep(&sha256, bytes)?;
            Ok(vec![Leaf::rejected(
                path.to_owned(),
                Some(sha256),
                size,
                reason,
                detail,
            )])
        };
        let outer = depth == 0;
        let kind = match classify::identify(bytes) {
            Identity::Unwanted { reason, detail } => return reject(reason, detail),
            Identity::Specimen(kind) if outer && self.email => {
                return reject(
                    RejectReason::NotArchived,
                    format!("a {} file attached without a zip", kind.as_str()),
                );
            }
            Identity::Specimen(kind) => kind,
            Identity::Zip => match unpack::probe(bytes, &self.passwords) {
                Probe::Corrupt(d) => return reject(RejectReason::CorruptArchive, d),
                Probe::Locked if outer => return reject(RejectReason::WrongPassword, locked()),
                Probe::Locked => {
                    warnings.push(LOCKED_WARNING.to_owned());
                    Kind::Archive
                }
                Probe::Plain { .. } if outer && self.email => {
                    return reject(
                        RejectReason::NotEncrypted,
                        "a zip without a password".to_owned(),
                    );
                }
                Probe::Plain { office: true } => Kind::Office,
                Probe::Plain { office: false } => Kind::Archive,
                Probe::Wrapper(_) if depth + 1 > self.limits.max_depth => {
                    return reject(
                        RejectReason::TooDeep,
                        format!(
                            "a wrapper at depth {}, deeper than the limit of {}",
                            depth + 1,
                            self.limits.max_depth
                        ),
                    );
                }
                Probe::Wrapper(w) => {
                    let before = self.unpacked.load(Ordering::SeqCst);
                    match self.unpack(w, path, depth + 1, given) {
                        Ok(Ok(leaves)) => return Ok(leaves),
                        Ok(Err(Refusal::Bomb(d))) => return reject(RejectReason::ArchiveBomb, d),
                        Ok(Err(Refusal::WrongPassword(d))) if outer => {
                            return reject(RejectReason::WrongPassword, d);
                        }
                        // Every candidate passed the check and decrypted
                        // nothing: as locked as a zip no password passes.
                        Ok(Err(Refusal::WrongPassword(_))) => {
                            warnings.push(LOCKED_WARNING.to_owned());
                            Kind::Archive
                        }
                        Err(Stop::Total) if outer => {
                            // The refused wrapper's bytes no longer count.
                            self.unpacked.store(before, Ordering::SeqCst);
                            return reject(
                                RejectReason::ArchiveBomb,
                                format!(
                                    "unpacking passes the limit of {} bytes per submission",
                                    self.limits.max_total
                                ),
                            );
                        }
                        Err(stop) => return Err(stop),
                    }
                }
            },
        };
        if size > self.limits.max_file {
            return reject(
                RejectReason::TooLarge,
                format!("over the per-file limit of {} bytes", self.limits.max_file),
            );
        }
        warnings.extend(name_mismatch(path, kind));
        if given {
            warnings.push(GIVEN_PASSWORD_WARNING.to_owned());
        }
        let sha256 = sha256();
        self.keep(&sha256, bytes)?;
        Ok(vec![Leaf::Sample(SampleEntry {
            path: path.to_owned(),
            sha256,
            size,
            kind,
            warnings,
        })])
    }

    /// Unpacks the wrapper at `path`, which sits at `depth` (1 for the attached
    /// one), with each candidate password in turn until one decrypts.
    fn unpack(
        &self,
        mut w: Wrapper<'_>,
        path: &str,
        depth: u32,
        given: bool,
    ) -> Result<Result<Vec<Leaf>, Refusal>, Stop> {
        let before = self.unpacked.load(Ordering::SeqCst);
        loop {
            let given = given || w.password_index() > 0;
            match self.unpack_with(&w, path, depth, given)? {
                Err(Refusal::WrongPassword(d)) => match w.next_password() {
                    Some(next) => {
                        self.unpacked.store(before, Ordering::SeqCst);
                        w = next;
                    }
                    None => return Ok(Err(Refusal::WrongPassword(d))),
                },
                done => {
                    if done.is_ok()
                        && let Some(Some(password)) = self.given.get(w.password_index())
                    {
                        self.opened
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push(Opened {
                                path: path.to_owned(),
                                password: *password,
                            });
                    }
                    return Ok(done);
                }
            }
        }
    }

    /// Unpacks the wrapper with the password it holds. The attached wrapper's
    /// entries are read in parallel; results keep the archive's order.
    fn unpack_with(
        &self,
        w: &Wrapper<'_>,
        path: &str,
        depth: u32,
        given: bool,
    ) -> Result<Result<Vec<Leaf>, Refusal>, Stop> {
        if w.len() > self.limits.max_entries {
            return Ok(Err(Refusal::Bomb(format!(
                "{} entries, over the limit of {}",
                w.len(),
                self.limits.max_entries
            ))));
        }
        // Each entry's path, made safe and then unique in this wrapper, in
        // the directory's order. Directory entries take no name: they are
        // skipped silently unless reading finds data under one (the final
        // pass in `decide` keeps such a path unique).
        let mut names = Unique::default();
        let named: Vec<(usize, String, Vec<String>)> = (0..w.len())
            .map(|i| {
                let raw = w.name(i);
                let safe = safe_name(raw, &format!("entry-{}", i + 1));
                let mut warnings = if safe.changed && !w.is_dir(i) {
                    vec![renamed_warning(raw)]
                } else {
                    Vec::new()
                };
                let name = if w.is_dir(i) {
                    safe.name
                } else {
                    names.claim(&safe.name, &mut warnings)
                };
                (i, format!("{path}/{name}"), warnings)
            })
            .collect();
        let read = |(i, entry_path, warnings): (usize, String, Vec<String>)| {
            let mut w = w.clone();
            self.entry(&mut w, i, entry_path, warnings, depth, given)
        };
        let outs: Vec<Result<EntryOut, Stop>> = if depth == 1 {
            named.into_par_iter().map(read).collect()
        } else {
            named.into_iter().map(read).collect()
        };
        let mut entries = Vec::with_capacity(outs.len());
        for o in outs {
            entries.push(o?);
        }
        if let Some(d) = entries.iter().find_map(|e| e.bomb.clone()) {
            return Ok(Err(Refusal::Bomb(d)));
        }
        let password_ok = entries.iter().any(|e| e.decrypted);
        let mut leaves = Vec::new();
        for e in entries {
            leaves.extend(e.leaves);
            if let Some((entry_path, why)) = e.failed {
                if !password_ok {
                    return Ok(Err(Refusal::WrongPassword(format!("{} ({why})", locked()))));
                }
                // Other entries decrypted with the same password: this one is damaged.
                leaves.push(Leaf::rejected(
                    entry_path,
                    None,
                    0,
                    RejectReason::CorruptArchive,
                    format!("damaged entry: {why}"),
                ));
            }
        }
        Ok(Ok(leaves))
    }

    /// Reads and judges entry `i` of a wrapper, reported as `path`.
    fn entry(
        &self,
        w: &mut Wrapper<'_>,
        i: usize,
        path: String,
        warnings: Vec<String>,
        depth: u32,
        given: bool,
    ) -> Result<EntryOut, Stop> {
        let mut out = EntryOut::default();
        match w.read(i, self.limits) {
            Entry::Dir => {}
            Entry::File { bytes, encrypted } => {
                let total = self
                    .unpacked
                    .fetch_add(bytes.len() as u64, Ordering::SeqCst)
                    + bytes.len() as u64;
                if total > self.limits.max_total {
                    return Err(Stop::Total);
                }
                out.decrypted = encrypted;
                out.leaves = self.judge(&bytes, &path, depth, warnings, given)?;
            }
            Entry::NotAFile { kind, bytes } => {
                let sha256 = bytes.as_deref().map(Sha256::of);
                if let (Some(d), Some(b)) = (&sha256, &bytes) {
                    self.keep(d, b)?;
                }
                let size = bytes.as_ref().map_or(0, |b| b.len() as u64);
                out.leaves.push(Leaf::rejected(
                    path,
                    sha256,
                    size,
                    RejectReason::NotAFile,
                    format!("a {kind}, not a regular file"),
                ));
            }
            Entry::TooLarge { head } => {
                // What the file is still outranks its size (a huge screenshot
                // is a screenshot), judged on the part that was read.
                let (reason, detail) = match classify::identify(&head) {
                    Identity::Unwanted { reason, detail } => (reason, detail),
                    _ => (
                        RejectReason::TooLarge,
                        format!(
                            "over the per-file limit of {} bytes; reading stopped there",
                            self.limits.max_file
                        ),
                    ),
                };
                out.leaves.push(Leaf::rejected(
                    path,
                    None,
                    head.len() as u64,
                    reason,
                    detail,
                ));
            }
            Entry::Bomb {
                produced,
                compressed,
            } => {
                out.bomb = Some(format!(
                    "{path}: {produced} bytes from {compressed} compressed, over the {}:1 ratio limit",
                    self.limits.max_ratio
                ));
            }
            Entry::DecryptFailed(why) => out.failed = Some((path, why)),
            Entry::Corrupt(why) => {
                out.leaves.push(Leaf::rejected(
                    path,
                    None,
                    0,
                    RejectReason::CorruptArchive,
                    why,
                ));
            }
        }
        Ok(out)
    }
}

/// The safe name of attachment `index`. By email an attachment has a file
/// name, not a path: some clients send the sender's full path, which must
/// not read as archive steps.
fn attachment_name(a: &Attachment<'_>, index: usize, email: bool) -> unpack::SafeName {
    let fallback = format!("attachment-{}", index + 1);
    let mut safe = safe_name(a.name.as_deref().unwrap_or(""), &fallback);
    if email && let Some((_, base)) = safe.name.rsplit_once('/') {
        safe.name = base.to_owned();
    }
    safe
}

/// The one rejection that stands for the files of an input past the limit:
/// named after the first of them, not read (no digest).
fn too_many_files(
    rest: &[Attachment<'_>],
    index: usize,
    email: bool,
    names: &mut Unique,
    max: usize,
) -> Leaf {
    let first = &rest[0];
    let name = names.claim(&attachment_name(first, index, email).name, &mut Vec::new());
    Leaf::rejected(
        name,
        None,
        first.bytes.len() as u64,
        RejectReason::TooManyFiles,
        format!(
            "the input holds {} files, over the limit of {max}; {} were not read",
            index + rest.len(),
            rest.len()
        ),
    )
}

/// Why an attached or uploaded zip stays shut.
fn locked() -> String {
    "encrypted, and neither infected nor a password the customer gave opens it".to_owned()
}

fn renamed_warning(original: &str) -> String {
    let shown: String = original.chars().take(200).collect();
    format!("name made safe; the original was {shown:?}")
}

/// A warning when a name's extension promises one type and the content is
/// another: staff should know that "invoice.pdf" is really an executable.
fn name_mismatch(path: &str, kind: Kind) -> Option<String> {
    let file = path.rsplit('/').next().unwrap_or(path);
    let ext = file.rsplit_once('.')?.1.to_ascii_lowercase();
    let expected: &[Kind] = match ext.as_str() {
        "exe" | "dll" | "sys" | "scr" | "cpl" | "ocx" => &[Kind::Pe],
        "pdf" => &[Kind::Pdf],
        "doc" | "docx" | "docm" | "xls" | "xlsx" | "xlsm" | "ppt" | "pptx" | "rtf" => {
            &[Kind::Office]
        }
        "txt" | "log" | "csv" => &[Kind::Text],
        // A real picture would have been refused as a screenshot.
        "jpg" | "jpeg" | "png" | "gif" | "bmp" => &[],
        _ => return None,
    };
    (!expected.contains(&kind)).then(|| {
        format!(
            "the name ends in .{ext} but the content is {}",
            kind.as_str()
        )
    })
}
