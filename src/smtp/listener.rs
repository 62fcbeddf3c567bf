//! The socket side of a listener: accepts connections up to the limit,
//! reads lines with caps on length and time, answers pipelined commands in
//! one write, stores each message through [`Intake::receive_email`] before
//! the `250`, and hands it to deciding and recording in the background.
//!
//! After `STARTTLS` the conversation continues over TLS on the same socket.
//! Bytes a client pipelined behind `STARTTLS` are refused and the
//! connection closed: they arrived in the clear and must never be read as
//! commands of the protected session (the STARTTLS command-injection class).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tracing::Instrument;

use super::data::DataReader;
use super::session::{DataEnd, Reply, Session, SessionPolicy, Step};
use super::{SmtpConfig, command};
use crate::ingest::Intake;
use crate::metrics::label;
use crate::tls::Certificates;

/// Longest command line (RFC 5321 says 512; extensions make it longer).
const MAX_COMMAND: usize = 2048;

/// Runs `listener` until `stop` turns true; sessions in progress finish.
pub async fn serve(
    listener: TcpListener,
    policy: SessionPolicy,
    cfg: SmtpConfig,
    tls: Option<Arc<Certificates>>,
    intake: Intake,
    mut stop: watch::Receiver<bool>,
) {
    let policy = Arc::new(policy);
    let cfg = Arc::new(cfg);
    let slots = Arc::new(Semaphore::new(cfg.max_connections));
    let deciding = Arc::new(Backlog::new());
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "smtp: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let (policy, cfg, intake, deciding, tls) = (
            policy.clone(),
            cfg.clone(),
            intake.clone(),
            deciding.clone(),
            tls.clone(),
        );
        let proto = match policy.protocol {
            super::Protocol::Smtp => "smtp",
            super::Protocol::Lmtp => "lmtp",
        };
        intake
            .metrics
            .smtp_sessions
            .get_or_create(&label("protocol", proto))
            .inc();
        let span = tracing::info_span!("smtp", peer = %peer, proto);
        tokio::spawn(
            async move {
                let total = Duration::from_secs(cfg.session_timeout_secs);
                let ctx = Ctx {
                    policy: &policy,
                    cfg: &cfg,
                    intake: &intake,
                    deciding: &deciding,
                    tls: tls.as_deref(),
                };
                let run = session(stream, peer.to_string(), &ctx);
                match tokio::time::timeout(total, run).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::debug!(error = %e, "session ended"),
                    Err(_) => tracing::info!("session over its time limit; closed"),
                }
                drop(slot);
            }
            .instrument(span),
        );
    }
}

async fn refuse(mut stream: TcpStream) {
    let _ = stream
        .write_all(b"421 4.7.0 too many connections, try again later\r\n")
        .await;
    let _ = stream.shutdown().await;
}

/// How a capped line read ended.
enum Line {
    Full,
    TooLong,
    Eof,
}

/// Reads one line (with its ending) into `out`, keeping at most `cap`
/// bytes; a longer line is consumed to its end and reported, not kept.
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    out: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<Line> {
    out.clear();
    let mut too_long = false;
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok(Line::Eof);
        }
        let (take, done) = match memchr::memchr(b'\n', buf) {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if !too_long && out.len() + take <= cap {
            out.extend_from_slice(&buf[..take]);
        } else {
            too_long = true;
            out.clear();
        }
        r.consume(take);
        if done {
            return Ok(if too_long { Line::TooLong } else { Line::Full });
        }
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// What a session works with.
struct Ctx<'a> {
    policy: &'a SessionPolicy,
    cfg: &'a SmtpConfig,
    intake: &'a Intake,
    deciding: &'a Arc<Backlog>,
    tls: Option<&'a Certificates>,
}

/// How a conversation on one transport ended.
enum Ended {
    /// Closed (by either side, or a limit).
    Closed,
    /// The client asked for TLS and nothing followed the command.
    StartTls,
}

async fn session(stream: TcpStream, peer: String, ctx: &Ctx<'_>) -> std::io::Result<()> {
    let mut s = Session::new(ctx.policy, Some(peer));
    let (rd, wr) = stream.into_split();
    let mut rd = BufReader::with_capacity(64 << 10, rd);
    let mut wr = BufWriter::new(wr);
    wr.write_all(&s.greeting().to_wire()).await?;
    wr.flush().await?;
    if let Ended::Closed = converse(&mut rd, &mut wr, &mut s, ctx).await? {
        return Ok(());
    }
    // `converse` returns StartTls only with nothing buffered behind the
    // command, so dropping the buffers loses nothing.
    let stream = rd
        .into_inner()
        .reunite(wr.into_inner())
        .map_err(std::io::Error::other)?;
    let acceptor = match ctx.tls.map(Certificates::acceptor) {
        Some(Ok(a)) => a,
        _ => return Ok(()),
    };
    let handshake = Duration::from_secs(ctx.cfg.command_timeout_secs);
    let tls = match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            tracing::info!(error = %e, "smtp: TLS handshake failed");
            return Ok(());
        }
        Err(_) => return Ok(()),
    };
    s.tls_started();
    let (rd, wr) = tokio::io::split(tls);
    let mut rd = BufReader::with_capacity(64 << 10, rd);
    let mut wr = BufWriter::new(wr);
    converse(&mut rd, &mut wr, &mut s, ctx).await?;
    Ok(())
}

/// Answers commands until the session ends or turns to TLS.
async fn converse<R, W>(
    rd: &mut BufReader<R>,
    wr: &mut BufWriter<W>,
    s: &mut Session<'_>,
    ctx: &Ctx<'_>,
) -> std::io::Result<Ended>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let policy = ctx.policy;
    let command_timeout = Duration::from_secs(ctx.cfg.command_timeout_secs);
    let data_timeout = Duration::from_secs(ctx.cfg.data_timeout_secs);
    let mut line = Vec::with_capacity(512);
    loop {
        let read = tokio::time::timeout(command_timeout, read_line(rd, &mut line, MAX_COMMAND));
        let step = match read.await {
            Err(_) => {
                send(wr, &Reply::new(421, "4.4.2 idle too long, closing")).await?;
                return Ok(Ended::Closed);
            }
            Ok(r) => match r? {
                Line::Eof => return Ok(Ended::Closed),
                Line::TooLong => s.line_too_long(),
                Line::Full => s.command(command::parse(trim_eol(&line))),
            },
        };
        match step {
            Step::Reply(r) => {
                wr.write_all(&r.to_wire()).await?;
                // Pipelining: answer a batch of commands in one write.
                if rd.buffer().is_empty() {
                    wr.flush().await?;
                }
            }
            Step::Close(r) => {
                send(wr, &r).await?;
                return Ok(Ended::Closed);
            }
            Step::StartTls(r) => {
                if !rd.buffer().is_empty() {
                    let refuse = Reply::new(
                        554,
                        "5.5.0 commands pipelined behind STARTTLS are refused; closing",
                    );
                    send(wr, &refuse).await?;
                    return Ok(Ended::Closed);
                }
                send(wr, &r).await?;
                return Ok(Ended::StartTls);
            }
            Step::Data(r) => {
                send(wr, &r).await?;
                let mut data = DataReader::new(
                    policy.limits.max_message_size,
                    policy.limits.max_line_length,
                );
                // Whole buffers at a time: the time limit runs per read.
                loop {
                    let buf = match tokio::time::timeout(data_timeout, rd.fill_buf()).await {
                        Err(_) => {
                            send(wr, &Reply::new(421, "4.4.2 data timeout, closing")).await?;
                            return Ok(Ended::Closed);
                        }
                        Ok(r) => r?,
                    };
                    // The client went away mid-message: nothing was accepted.
                    if buf.is_empty() {
                        return Ok(Ended::Closed);
                    }
                    let (used, done) = data.feed(buf);
                    rd.consume(used);
                    if done {
                        break;
                    }
                }
                let (end, raw) = data.finish();
                let started = std::time::Instant::now();
                let stored = match end {
                    DataEnd::Complete => store(ctx.intake, ctx.deciding, raw, s).await,
                    _ => Err(String::new()),
                };
                let m = &ctx.intake.metrics;
                let reply = match (&end, &stored) {
                    (DataEnd::Complete, Ok(_)) => {
                        m.smtp_store_seconds
                            .observe(started.elapsed().as_secs_f64());
                        "accepted"
                    }
                    (DataEnd::Complete, Err(_)) => "temp_failure",
                    (DataEnd::TooBig, _) => "too_big",
                    (DataEnd::LineTooLong, _) => "line_too_long",
                };
                m.smtp_messages.get_or_create(&label("reply", reply)).inc();
                for r in s.data_end(end, stored) {
                    wr.write_all(&r.to_wire()).await?;
                }
                wr.flush().await?;
            }
        }
    }
}

async fn send<W: AsyncWriteExt + Unpin>(wr: &mut W, r: &Reply) -> std::io::Result<()> {
    wr.write_all(&r.to_wire()).await?;
    wr.flush().await
}

/// Stores the message durably and starts deciding it; the inbound id, or why
/// storing failed.
async fn store(
    intake: &Intake,
    deciding: &Arc<Backlog>,
    raw: Vec<u8>,
    s: &Session<'_>,
) -> Result<i64, String> {
    let raw = Arc::new(raw);
    let inbound = intake
        .receive_email(raw.clone(), Some(s.delivery()))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "storing a message failed; the sender will retry");
            "storage unavailable".to_owned()
        })?;
    let id = inbound.id;
    let Some(held) = deciding.hold(raw.len()) else {
        // Stored and answered; the replay loop reads it back when it is old
        // enough that nothing here is still working on it.
        tracing::info!(inbound = id, "backlog full: left for the replay loop");
        intake.metrics.smtp_deferred.inc();
        return Ok(id);
    };
    let (intake, deciding) = (intake.clone(), deciding.clone());
    tokio::spawn(
        async move {
            let _held = held;
            let _running = deciding.running.acquire().await;
            if let Err(e) = intake.process_email(inbound, raw).await {
                // The inbound row stays `received`; the replay loop retries it.
                tracing::error!(inbound = id, error = %e, "recording failed; left for replay");
            }
        }
        .in_current_span(),
    );
    Ok(id)
}

/// Stored messages this process decides and records in the background.
///
/// As many run at once as there are decision threads (see
/// `decide::threads::count`); recording one overlaps deciding the next.
/// Messages waiting their turn are held in memory only up to [`HELD_BYTES`]:
/// past that, a burst stays on disk, stored, for the replay loop.
struct Backlog {
    running: Semaphore,
    held_kib: Arc<Semaphore>,
}

/// Raw bytes of messages held in memory for deciding.
const HELD_BYTES: usize = 256 << 20;

impl Backlog {
    fn new() -> Backlog {
        Backlog::holding(HELD_BYTES)
    }

    fn holding(bytes: usize) -> Backlog {
        Backlog {
            running: Semaphore::new(crate::decide::threads::count()),
            held_kib: Arc::new(Semaphore::new(bytes >> 10)),
        }
    }

    /// Room for a message of `len` bytes, if there is any.
    fn hold(&self, len: usize) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let kib = u32::try_from((len >> 10).max(1)).ok()?;
        self.held_kib.clone().try_acquire_many_owned(kib).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::Backlog;

    #[test]
    fn the_backlog_holds_messages_up_to_its_bound_and_frees_room_as_they_finish() {
        let backlog = Backlog::holding(1 << 20);
        let first = backlog.hold(600 << 10).expect("room for the first");
        assert!(backlog.hold(600 << 10).is_none(), "over the bound");
        let small = backlog.hold(100).expect("a tiny message counts as 1 KiB");
        drop(first);
        assert!(backlog.hold(600 << 10).is_some(), "room again");
        drop(small);
        assert!(
            backlog.hold(2 << 20).is_none(),
            "larger than the whole bound"
        );
    }
}
