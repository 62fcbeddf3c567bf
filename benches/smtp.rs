//! Load tool for the SMTP listener (`cargo bench --bench smtp`): 200 KB
//! submissions over 1 and 16 concurrent sessions, sent by one client (this
//! tool) to two servers in the same run:
//!
//! - intake's listener, which stores each message durably (blob + inbound
//!   row) before its `250`, then decides and records it in the background;
//! - Python's `aiosmtpd` (tests/tools/smtp_sink.py --discard), which keeps
//!   nothing: the baseline.
//!
//! Reported: messages/s to the last `250`, p50/p99 of the time from `MAIL`
//! to `250`, and for intake also messages/s until every message is recorded
//! (decided, SR opened, jobs and answer in the outbox). Every message is
//! distinct (own Message-ID, own random sample in a ZipCrypto `infected`
//! wrapper). Needs PostgreSQL on localhost, python3 and aiosmtpd.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use intake::smtp::{self, Protocol, SmtpConfig};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const LAB: &str = "samples@lab.example";
const MESSAGE_SIZE: usize = 200_000;

mod bench_db;
#[path = "../tests/harness/tools.rs"]
#[allow(dead_code)]
mod tools;

use bench_db::BenchDb;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

struct Sink(Child);

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn run() {
    let id = &uuid::Uuid::new_v4().simple().to_string()[..10];
    let bench = BenchDb::new(id, 32).await;
    let (pool, intake) = (bench.pool.clone(), bench.intake.clone());
    let cfg = SmtpConfig {
        accept: vec![LAB.to_owned()],
        ..SmtpConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let ours = listener.local_addr().expect("addr").port();
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(smtp::serve(
        listener,
        cfg.policy(Protocol::Smtp),
        cfg.clone(),
        None,
        intake.clone(),
        stop,
    ));

    let sink_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let root = env!("CARGO_MANIFEST_DIR");
    let _sink = Sink(
        Command::new(tools::python())
            .arg(format!("{root}/tests/tools/smtp_sink.py"))
            .args(["--port", &sink_port.to_string(), "--discard"])
            .stdout(Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd"),
    );
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", sink_port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "sink did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    println!(
        "{:<9} {:<10} {:>6} {:>10} {:>9} {:>9} {:>12} {:>8}",
        "sessions", "server", "msgs", "msgs/s", "p50 ms", "p99 ms", "recorded/s", "vs sink"
    );
    let mut serial = 0u64;
    for (sessions, per_session) in [(1usize, 1000usize), (16, 100)] {
        let n = sessions * per_session;
        let sink = load(sink_port, sessions, messages(&mut serial, n)).await;
        print_row(sessions, "aiosmtpd", &sink, None, None);
        let before: i64 = recorded(&pool).await;
        let started = Instant::now();
        let mine = load(ours, sessions, messages(&mut serial, n)).await;
        // Stored before the 250; now wait for deciding and recording. What
        // the backlog could not hold waits for the replay loop, run here
        // once the background work is done.
        let deferred = intake.metrics.smtp_deferred.get() as i64;
        while recorded(&pool).await < before + n as i64 - deferred {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if deferred > 0 {
            intake.replay_pending().await.expect("replay");
            println!("intake: {deferred} messages past the in-memory backlog, recorded by replay");
        }
        while recorded(&pool).await < before + n as i64 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let rec_rate = n as f64 / started.elapsed().as_secs_f64();
        print_row(
            sessions,
            "intake",
            &mine,
            Some(rec_rate),
            Some(mine.rate / sink.rate),
        );
    }

    // Where intake's time to 250 goes: storing (blob + inbound row).
    let text = intake.metrics.render();
    let read = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(0.0)
    };
    let (sum, count) = (
        read("intake_smtp_store_seconds_sum"),
        read("intake_smtp_store_seconds_count"),
    );
    if count > 0.0 {
        println!(
            "intake: storing took {:.2} ms per message on average",
            1e3 * sum / count
        );
    }
    drop(pool);
    bench.remove().await;
}

async fn recorded(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM inbound WHERE state = 'recorded'")
        .fetch_one(pool)
        .await
        .expect("count")
}

fn print_row(sessions: usize, server: &str, r: &Load, recorded: Option<f64>, ratio: Option<f64>) {
    println!(
        "{sessions:<9} {server:<10} {:>6} {:>10.1} {:>9.2} {:>9.2} {:>12} {:>8}",
        r.count,
        r.rate,
        r.p50 * 1e3,
        r.p99 * 1e3,
        recorded.map_or("-".to_owned(), |x| format!("{x:.1}")),
        ratio.map_or("-".to_owned(), |x| format!("{x:.2}x")),
    );
    let _ = std::io::stdout().flush();
}

struct Load {
    count: usize,
    rate: f64,
    p50: f64,
    p99: f64,
}

/// Sends `msgs` over `sessions` connections, each message a full
/// MAIL/RCPT/DATA transaction; times each from MAIL to the 250.
async fn load(port: u16, sessions: usize, msgs: Vec<Vec<u8>>) -> Load {
    let count = msgs.len();
    let mut shares: Vec<Vec<Vec<u8>>> = (0..sessions).map(|_| Vec::new()).collect();
    for (i, m) in msgs.into_iter().enumerate() {
        shares[i % sessions].push(m);
    }
    let start = Instant::now();
    let tasks: Vec<_> = shares
        .into_iter()
        .map(|share| tokio::spawn(session(port, share)))
        .collect();
    let mut times = Vec::with_capacity(count);
    for t in tasks {
        times.extend(t.await.expect("session"));
    }
    let elapsed = start.elapsed().as_secs_f64();
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    Load {
        count,
        rate: count as f64 / elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
    }
}

async fn session(port: u16, msgs: Vec<Vec<u8>>) -> Vec<f64> {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    expect(&mut rd, "220").await;
    wr.write_all(b"EHLO bench.example\r\n")
        .await
        .expect("write");
    expect(&mut rd, "250").await;
    let mut times = Vec::with_capacity(msgs.len());
    for m in msgs {
        let t = Instant::now();
        wr.write_all(b"MAIL FROM:<bench@bench.example>\r\n")
            .await
            .expect("write");
        expect(&mut rd, "250").await;
        wr.write_all(format!("RCPT TO:<{LAB}>\r\n").as_bytes())
            .await
            .expect("write");
        expect(&mut rd, "250").await;
        wr.write_all(b"DATA\r\n").await.expect("write");
        expect(&mut rd, "354").await;
        wr.write_all(&m).await.expect("write");
        wr.write_all(b".\r\n").await.expect("write");
        expect(&mut rd, "250").await;
        times.push(t.elapsed().as_secs_f64());
    }
    let _ = wr.write_all(b"QUIT\r\n").await;
    times
}

/// Reads one (possibly multi-line) reply and checks its code.
async fn expect(rd: &mut BufReader<tokio::net::tcp::OwnedReadHalf>, code: &str) {
    let mut line = String::new();
    loop {
        line.clear();
        rd.read_line(&mut line).await.expect("read");
        assert!(line.starts_with(code), "expected {code}, got {line:?}");
        if line.as_bytes().get(3) != Some(&b'-') {
            return;
        }
    }
}

/// `n` distinct ~200 KB submissions, dot-stuffed and CRLF-terminated.
fn messages(serial: &mut u64, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|_| {
            *serial += 1;
            message(*serial)
        })
        .collect()
}

fn message(k: u64) -> Vec<u8> {
    use zip::unstable::write::FileOptionsExt;
    // A random (incompressible) file sized so the message is ~200 KB.
    let mut state = k.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let payload: Vec<u8> = (0..MESSAGE_SIZE * 3 / 4 - 2_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .with_deprecated_encryption(b"infected")
        .expect("password");
    w.start_file("sample.bin", opts).expect("start");
    w.write_all(&payload).expect("write");
    let zip = w.finish().expect("finish").into_inner();
    use base64::Engine;
    let flat = base64::engine::general_purpose::STANDARD.encode(zip);
    let b64: Vec<&str> = flat
        .as_bytes()
        .chunks(76)
        .map(|l| std::str::from_utf8(l).unwrap_or(""))
        .collect();
    format!(
        "From: bench@bench.example\r\nTo: {LAB}\r\nSubject: bench {k}\r\nMessage-ID: <smtp-bench-{k}@bench.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nGrant Number: B-1\r\nFile List: sample.bin\r\nSymptoms: none\r\nDetected: no\r\nMcAfee Product Name: ENS\r\nEngine Version: 1\r\nDAT Version: 1\r\nOperating System: Windows\r\n--B\r\nContent-Type: application/zip; name=s.zip\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--B--\r\n",
        b64.join("\r\n")
    )
    .into_bytes()
}
