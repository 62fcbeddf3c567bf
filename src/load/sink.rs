//! A sink relay: the SMTP server intake's answers are sent to during a load
//! run. Each message delivered lands in a Maildir (`tmp/` then `new/`, so a
//! reader never sees half a message), as a real mailbox would keep it; the
//! audit counts deliveries per Message-ID there. Answers to needs-info
//! inputs are handed to the load, which replies to them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::smtp::Reply;
use crate::smtp::data::DataReader;
use crate::smtp::session::DataEnd;

/// What the sink keeps of one message: intake's answers are small.
const MAX_MESSAGE: u64 = 64 << 20;

/// The headers of one delivered message the load cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub subject: Option<String>,
    pub reply_to: Option<String>,
}

/// The headers of `raw` (angle brackets kept on ids, as intake writes them).
pub fn headers(raw: &[u8]) -> Delivered {
    let msg = mail_parser::MessageParser::default().parse_headers(raw);
    let id = |v: Option<&str>| v.map(|s| format!("<{s}>"));
    match msg {
        None => Delivered {
            message_id: None,
            in_reply_to: None,
            subject: None,
            reply_to: None,
        },
        Some(m) => Delivered {
            message_id: id(m.message_id()),
            in_reply_to: id(m.in_reply_to().as_text()),
            subject: m.subject().map(str::to_owned),
            reply_to: m
                .reply_to()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .map(str::to_owned),
        },
    }
}

/// Every message in the Maildir at `dir`: its file and headers.
pub fn read_mailbox(dir: &Path) -> std::io::Result<Vec<(PathBuf, Delivered)>> {
    let mut out = Vec::new();
    let new = dir.join("new");
    if !new.is_dir() {
        return Ok(out);
    }
    for e in std::fs::read_dir(new)? {
        let p = e?.path();
        let raw = std::fs::read(&p)?;
        out.push((p, headers(&raw)));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Runs the sink on `listener`, storing into `dir`, telling `tell` of each
/// message. Runs until the task is dropped.
pub async fn run(listener: TcpListener, dir: PathBuf, tell: mpsc::UnboundedSender<Delivered>) {
    let seq = Arc::new(AtomicU64::new(0));
    for sub in ["tmp", "new", "cur"] {
        if let Err(e) = std::fs::create_dir_all(dir.join(sub)) {
            tracing::error!(error = %e, "sink mailbox");
            return;
        }
    }
    loop {
        let Ok((s, _)) = listener.accept().await else {
            continue;
        };
        let (dir, tell, seq) = (dir.clone(), tell.clone(), seq.clone());
        tokio::spawn(async move {
            if let Err(e) = session(s, &dir, &tell, &seq).await {
                tracing::debug!(error = %e, "sink session ended");
            }
        });
    }
}

async fn session(
    s: tokio::net::TcpStream,
    dir: &Path,
    tell: &mpsc::UnboundedSender<Delivered>,
    seq: &AtomicU64,
) -> std::io::Result<()> {
    let (r, mut w) = s.into_split();
    let mut r = BufReader::new(r);
    let reply = |code, text: &str| Reply::new(code, text).to_wire();
    w.write_all(&reply(220, "sink.load.intake ESMTP")).await?;
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => {
                let ehlo = Reply {
                    code: 250,
                    lines: vec!["sink.load.intake".into(), "8BITMIME".into()],
                };
                w.write_all(&ehlo.to_wire()).await?
            }
            "DATA" => {
                w.write_all(&reply(354, "go on")).await?;
                let raw = read_data(&mut r).await?;
                let n = seq.fetch_add(1, Ordering::Relaxed);
                let name = format!(
                    "{}.{n}.{}.eml",
                    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0),
                    std::process::id()
                );
                let tmp = dir.join("tmp").join(&name);
                std::fs::write(&tmp, &raw)?;
                std::fs::rename(&tmp, dir.join("new").join(&name))?;
                let _ = tell.send(headers(&raw));
                w.write_all(&reply(250, "2.0.0 delivered")).await?;
            }
            "QUIT" => {
                w.write_all(&reply(221, "bye")).await?;
                return Ok(());
            }
            _ => w.write_all(&reply(250, "ok")).await?,
        }
    }
}

/// The message up to the lone dot, read as intake's own listener reads it.
async fn read_data<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> std::io::Result<Vec<u8>> {
    let mut data = DataReader::new(MAX_MESSAGE, 1 << 20);
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let (used, done) = data.feed(buf);
        r.consume(used);
        if done {
            break;
        }
    }
    match data.finish() {
        (DataEnd::Complete, raw) => Ok(raw),
        (end, _) => Err(std::io::Error::other(format!("message refused: {end:?}"))),
    }
}
