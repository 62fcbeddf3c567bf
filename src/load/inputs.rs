//! The inputs a load run sends, built from a seed and an index so that two
//! runs with the same seed send the same bytes, and every sample is unique to
//! its run (a sample seen before would be answered from old findings, which
//! measures nothing). Harmless only: each sample is a shell script that
//! echoes one line and exits, padded with a comment of random text to the
//! size asked; screenshots are a PNG header and nothing that renders.

use std::fmt;
use std::io::{Cursor, Write};
use std::str::FromStr;

use zip::write::SimpleFileOptions;
use zip::{AesMode, CompressionMethod, ZipWriter};

use crate::digest::Sha256;

/// What an input is meant to test.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Every required fact and a sample in an `infected` zip: accepted.
    Good,
    /// A sample, but facts missing: the SR waits for them.
    NeedsInfo,
    /// Only a screenshot: refused with its reason.
    Rejected,
    /// An earlier good email sent again, same Message-ID: one record.
    Duplicate,
    /// The missing facts, answering a needs-info answer (its reply token).
    Reply,
    /// A portal upload over the API: the sample and the facts.
    Upload,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Good,
        Kind::NeedsInfo,
        Kind::Rejected,
        Kind::Duplicate,
        Kind::Reply,
        Kind::Upload,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Good => "good",
            Kind::NeedsInfo => "needs_info",
            Kind::Rejected => "rejected",
            Kind::Duplicate => "duplicate",
            Kind::Reply => "reply",
            Kind::Upload => "upload",
        }
    }

    /// Whether its samples must get findings.
    pub fn carries_samples(self) -> bool {
        matches!(self, Kind::Good | Kind::NeedsInfo | Kind::Upload)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown input kind {s:?} (one of: good, needs_info, rejected, duplicate, reply, upload)"))
    }
}

/// How the inputs divide between kinds: `good=60,needs_info=10,...`. A
/// reply is sent for a share of needs-info answers (`reply` is that share in
/// percent), not drawn from the mix: it can only go once its answer came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    weights: Vec<(Kind, u32)>,
    /// Percent of needs-info SRs whose answer gets a reply.
    pub reply_percent: u32,
}

impl Default for Mix {
    fn default() -> Self {
        "good=55,needs_info=10,rejected=5,duplicate=5,upload=25,reply=100"
            .parse()
            .unwrap_or(Mix {
                weights: vec![(Kind::Good, 1)],
                reply_percent: 0,
            })
    }
}

impl FromStr for Mix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut weights = Vec::new();
        let mut reply_percent = 0;
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let (k, w) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?}: expected KIND=WEIGHT"))?;
            let kind: Kind = k.trim().parse()?;
            let w: u32 = w
                .trim()
                .parse()
                .map_err(|_| format!("{part:?}: the weight is not a whole number"))?;
            if kind == Kind::Reply {
                if w > 100 {
                    return Err("reply is a percentage of needs-info answers: 0 to 100".into());
                }
                reply_percent = w;
            } else if w > 0 {
                weights.push((kind, w));
            }
        }
        if weights.is_empty() {
            return Err("the mix has no kind with a weight above 0".into());
        }
        Ok(Mix {
            weights,
            reply_percent,
        })
    }
}

impl Mix {
    /// The kind of input number `n`: spread evenly (a weighted round robin
    /// over a shuffled cycle), so that a short run has every kind.
    pub fn kind(&self, n: u64, seed: u64) -> Kind {
        let total: u64 = self.weights.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut r = Rng::new(seed ^ n.rotate_left(17)).next_u64() % total.max(1);
        for (k, w) in &self.weights {
            let w = u64::from(*w);
            if r < w {
                return *k;
            }
            r -= w;
        }
        Kind::Good
    }

    /// Whether needs-info input number `n` gets a reply.
    pub fn replies_to(&self, n: u64, seed: u64) -> bool {
        Rng::new(seed.wrapping_add(n).rotate_left(29)).next_u64() % 100
            < u64::from(self.reply_percent)
    }

    pub fn has(&self, kind: Kind) -> bool {
        self.weights.iter().any(|(k, _)| *k == kind)
    }
}

/// splitmix64: enough randomness for test bytes and schedules, and the same
/// sequence from the same seed everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Who the load sends as: a company with a grant, so inputs are verified.
#[derive(Debug, Clone)]
pub struct Sender {
    pub from: String,
    pub to: String,
    pub grant: String,
}

/// One email, ready to send.
#[derive(Debug, Clone)]
pub struct Email {
    pub message_id: String,
    pub bytes: Vec<u8>,
    pub samples: Vec<Sha256>,
}

/// One portal upload, ready to send.
#[derive(Debug, Clone)]
pub struct UploadInput {
    pub key: String,
    pub file_name: String,
    pub file: Vec<u8>,
    pub metadata: serde_json::Value,
    pub samples: Vec<Sha256>,
}

/// The harmless sample of input `id`: `size` bytes, unique to the id.
pub fn sample(id: &str, size: usize, seed: u64) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = format!("#!/bin/sh\necho 'intake load sample {id}'\nexit 0\n# ").into_bytes();
    // FNV-1a of the id: a seed per input.
    let fnv = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut rng = Rng::new(seed ^ fnv);
    while out.len() < size {
        let r = rng.next_u64();
        for i in 0..8 {
            if out.len() >= size {
                break;
            }
            out.push(ALPHABET[((r >> (i * 8)) & 63) as usize]);
        }
        if out.len().is_multiple_of(76) && out.len() < size {
            out.extend_from_slice(b"\n# ");
        }
    }
    out.push(b'\n');
    out
}

/// `name` holding `data`, deflated and locked with AES-256 and `infected`:
/// how customers are told to send samples.
pub fn infected_zip(name: &str, data: &[u8]) -> Result<Vec<u8>, zip::result::ZipError> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .with_aes_encryption(
            AesMode::Aes256,
            std::str::from_utf8(crate::decide::unpack::PASSWORD).unwrap_or_default(),
        );
    w.start_file(name, opts)?;
    w.write_all(data)?;
    Ok(w.finish()?.into_inner())
}

/// The facts the lab requires, as a customer writes them in a mail body.
fn full_facts(grant: &str, file: &str) -> String {
    format!(
        "Grant Number: {grant}\r\nFile List:\r\n{file} - found in C:\\Users\\load\\AppData\\Local\\Temp\r\n\
         Symptoms: pop-ups, CPU at 100%\r\nDetected: No\r\nMcAfee Product Name: Endpoint Security\r\n\
         Engine Version: 6700.10107\r\nDAT Version: 5390.0\r\nOperating System: Windows 10 Pro 22H2\r\n\
         Service Pack: none\r\n"
    )
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\x90wS\xde\0\0\0\x0cIDATx\x9cc\xf8\xcf\xc0\0\0\x03\x01\x01\0\xc9\xfe\x92\xef\0\0\0\0IEND\xaeB`\x82";

/// The email of input `id` of `kind` (not `Reply` or `Upload`).
pub fn email(
    kind: Kind,
    id: &str,
    sender: &Sender,
    size: usize,
    seed: u64,
) -> Result<Email, zip::result::ZipError> {
    let message_id = format!("<{id}@load.intake>");
    let file = format!("{id}.sh");
    let (body, attachment, samples) = match kind {
        Kind::Rejected => (
            full_facts(&sender.grant, "screen.png"),
            ("screen.png", "image/png", PNG.to_vec()),
            Vec::new(),
        ),
        _ => {
            let data = sample(id, size, seed);
            let sha = Sha256::of(&data);
            let body = if kind == Kind::NeedsInfo {
                format!(
                    "Grant Number: {}\r\nPlease look at this file.\r\n",
                    sender.grant
                )
            } else {
                full_facts(&sender.grant, &file)
            };
            (
                body,
                (
                    "samples.zip",
                    "application/zip",
                    infected_zip(&file, &data)?,
                ),
                vec![sha],
            )
        }
    };
    let bytes = mime(
        &sender.from,
        &sender.to,
        &format!("Suspicious file {id}"),
        &message_id,
        &[],
        &body,
        Some(attachment),
    );
    Ok(Email {
        message_id,
        bytes,
        samples,
    })
}

/// What a needs-info answer said, for the reply to it.
#[derive(Debug, Clone)]
pub struct Asked {
    /// Its Reply-To: the SR's reply token address.
    pub reply_to: String,
    pub subject: String,
    pub message_id: String,
    /// The input it answered.
    pub in_reply_to: String,
}

/// A reply giving the facts an answer asked for, sent to its reply token.
pub fn reply(id: &str, sender: &Sender, asked: &Asked) -> Email {
    let message_id = format!("<{id}@load.intake>");
    let subject = if asked.subject.to_ascii_lowercase().starts_with("re:") {
        asked.subject.clone()
    } else {
        format!("Re: {}", asked.subject)
    };
    let refs = [asked.in_reply_to.clone(), asked.message_id.clone()];
    let body = full_facts(&sender.grant, "the file I sent");
    let bytes = mime(
        &sender.from,
        &asked.reply_to,
        &subject,
        &message_id,
        &refs,
        &body,
        None,
    );
    Email {
        message_id,
        bytes,
        samples: Vec::new(),
    }
}

/// A portal upload: the sample in an `infected` zip and the facts.
pub fn upload(id: &str, size: usize, seed: u64) -> Result<UploadInput, zip::result::ZipError> {
    let data = sample(id, size, seed);
    let file = format!("{id}.sh");
    Ok(UploadInput {
        key: id.to_owned(),
        file_name: "samples.zip".to_owned(),
        file: infected_zip(&file, &data)?,
        metadata: serde_json::json!({
            "file_list": format!("{file} (Temp)"),
            "symptoms": "pop-ups, CPU at 100%",
            "detected": false,
            "product_name": "Endpoint Security",
            "engine_version": "6700.10107",
            "dat_version": "5390.0",
            "os": "Windows 10 Pro 22H2",
            "service_pack": "none",
            "title": format!("load {id}"),
        }),
        samples: vec![Sha256::of(&data)],
    })
}

/// A multipart message, base64 bodies, CRLF lines.
fn mime(
    from: &str,
    to: &str,
    subject: &str,
    message_id: &str,
    references: &[String],
    body: &str,
    attachment: Option<(&str, &str, Vec<u8>)>,
) -> Vec<u8> {
    use base64::Engine;
    let b64 = |bytes: &[u8]| {
        let s = base64::engine::general_purpose::STANDARD.encode(bytes);
        let mut out = String::with_capacity(s.len() + s.len() / 38);
        for line in s.as_bytes().chunks(76) {
            out.push_str(std::str::from_utf8(line).unwrap_or_default());
            out.push_str("\r\n");
        }
        out
    };
    let mut m = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {}\r\nMessage-ID: {message_id}\r\nMIME-Version: 1.0\r\n",
        chrono::Utc::now().to_rfc2822()
    );
    if let Some(last) = references.last() {
        m.push_str(&format!(
            "In-Reply-To: {last}\r\nReferences: {}\r\n",
            references.join(" ")
        ));
    }
    const B: &str = "=_intake_load";
    m.push_str(&format!(
        "Content-Type: multipart/mixed; boundary=\"{B}\"\r\n\r\n--{B}\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
        b64(body.as_bytes())
    ));
    if let Some((name, ctype, bytes)) = attachment {
        m.push_str(&format!(
            "--{B}\r\nContent-Type: {ctype}\r\nContent-Transfer-Encoding: base64\r\n\
             Content-Disposition: attachment; filename=\"{name}\"\r\n\r\n{}",
            b64(&bytes)
        ));
    }
    m.push_str(&format!("--{B}--\r\n"));
    m.into_bytes()
}
