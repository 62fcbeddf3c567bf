//! The load's senders: an SMTP/LMTP client that keeps its session for many
//! messages, and the portal API's upload. Each tries again as a real sender
//! would: an MTA after a `4xx` or a broken connection, an API client after a
//! `5xx`, a `429` or no answer — the portal with the same Idempotency-Key,
//! mail with the same Message-ID — until accepted, refused for good
//! (`5xx` mail, `4xx` API), or the give-up time has passed.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::inputs::UploadInput;
use crate::smtp::Reply;

/// What one try came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `2xx`.
    Accepted(String),
    /// Try again later (`4xx` mail; `5xx` or `429` HTTP; no connection).
    Later(String),
    /// Refused for good.
    Refused(String),
}

/// What a reply to a message means for the sender.
fn outcome(r: &Reply) -> Outcome {
    let s = format!("{} {}", r.code, r.lines.join(" "));
    match r.code {
        200..=299 => Outcome::Accepted(s),
        400..=499 => Outcome::Later(s),
        _ => Outcome::Refused(s),
    }
}

/// An SMTP or LMTP session.
pub struct MailSession {
    r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: tokio::net::tcp::OwnedWriteHalf,
}

const IO_TIMEOUT: Duration = Duration::from_secs(120);

impl MailSession {
    /// Connects and greets (`EHLO`, or `LHLO` for LMTP).
    pub async fn open(addr: SocketAddr, lmtp: bool) -> std::io::Result<MailSession> {
        let s = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(addr)).await??;
        s.set_nodelay(true)?;
        let (r, w) = s.into_split();
        let mut m = MailSession {
            r: BufReader::new(r),
            w,
        };
        m.expect(220).await?;
        m.command(if lmtp {
            "LHLO load.intake"
        } else {
            "EHLO load.intake"
        })
        .await
        .and_then(|r| ok(r, 250))?;
        Ok(m)
    }

    async fn read_reply(&mut self) -> std::io::Result<Reply> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(IO_TIMEOUT, self.r.read_line(&mut line)).await??;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let line = line.trim_end();
            let code = line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| std::io::Error::other(format!("not an SMTP reply: {line:?}")))?;
            lines.push(line.get(4..).unwrap_or("").to_owned());
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(Reply { code, lines });
            }
        }
    }

    async fn expect(&mut self, code: u16) -> std::io::Result<Reply> {
        self.read_reply().await.and_then(|r| ok(r, code))
    }

    async fn command(&mut self, c: &str) -> std::io::Result<Reply> {
        tokio::time::timeout(IO_TIMEOUT, self.w.write_all(format!("{c}\r\n").as_bytes())).await??;
        self.read_reply().await
    }

    /// Sends one message. An I/O error means the session is gone.
    pub async fn send(&mut self, from: &str, to: &str, message: &[u8]) -> std::io::Result<Outcome> {
        let r = self.command(&format!("MAIL FROM:<{from}>")).await?;
        if r.code != 250 {
            self.command("RSET").await?;
            return Ok(outcome(&r));
        }
        let r = self.command(&format!("RCPT TO:<{to}>")).await?;
        if r.code != 250 {
            self.command("RSET").await?;
            return Ok(outcome(&r));
        }
        let r = self.command("DATA").await?;
        if r.code != 354 {
            self.command("RSET").await?;
            return Ok(outcome(&r));
        }
        let mut data = dot_stuffed(message);
        data.extend_from_slice(b".\r\n");
        tokio::time::timeout(IO_TIMEOUT, self.w.write_all(&data)).await??;
        // LMTP answers once per recipient; there is one.
        Ok(outcome(&self.read_reply().await?))
    }

    pub async fn quit(mut self) {
        let _ = self.command("QUIT").await;
    }
}

fn ok(r: Reply, code: u16) -> std::io::Result<Reply> {
    if r.code == code {
        Ok(r)
    } else {
        Err(std::io::Error::other(format!(
            "{} {}",
            r.code,
            r.lines.join(" ")
        )))
    }
}

/// `message` with CRLF line ends and leading dots doubled (RFC 5321 4.5.2),
/// ending in CRLF.
pub fn dot_stuffed(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    let mut at_line_start = true;
    let mut prev = 0u8;
    for &b in message {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
        prev = b;
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The portal's API, as one customer's token.
#[derive(Clone)]
pub struct Portal {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Portal {
    pub fn new(base: &str, token: &str) -> Result<Portal, reqwest::Error> {
        Ok(Portal {
            http: reqwest::Client::builder()
                .timeout(IO_TIMEOUT)
                .pool_max_idle_per_host(64)
                .build()?,
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    /// One try of an upload, answered as soon as it is stored.
    pub async fn upload(&self, u: &UploadInput) -> Outcome {
        let part = reqwest::multipart::Part::bytes(u.file.clone()).file_name(u.file_name.clone());
        let form = reqwest::multipart::Form::new()
            .text("metadata", u.metadata.to_string())
            .part("file", part);
        let sent = self
            .http
            .post(format!("{}/api/v1/uploads", self.base))
            .bearer_auth(&self.token)
            .header("Idempotency-Key", &u.key)
            .header("Prefer", "respond-async")
            .multipart(form)
            .send()
            .await;
        match sent {
            Err(e) => Outcome::Later(format!("no answer: {e}")),
            Ok(r) => {
                let status = r.status();
                let s = format!("HTTP {}", status.as_u16());
                if status.is_success() {
                    Outcome::Accepted(s)
                } else if status.is_server_error() || status.as_u16() == 429 {
                    Outcome::Later(s)
                } else {
                    let body = r.text().await.unwrap_or_default();
                    Outcome::Refused(format!(
                        "{s}: {}",
                        body.chars().take(200).collect::<String>()
                    ))
                }
            }
        }
    }
}
