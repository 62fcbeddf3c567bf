//! The mail channel end to end, with clients and servers no one here wrote:
//! `swaks` and Python's `smtplib` send to a real `intake serve`, answers are
//! caught by a Python `aiosmtpd` sink, all against the real PostgreSQL and
//! RabbitMQ.

mod harness;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use harness::{Env, eventually, free_port, root};
use mail_parser::MessageParser;

const LAB: &str = "samples@lab.example";

/// A port nothing listens on, below Linux's ephemeral range (32768–60999)
/// so that no client socket of a parallel test can take it meanwhile.
/// How waiting for a child's port ended, when not with the port open.
#[derive(Debug)]
enum NotUp {
    /// The child exited first (a port taken meanwhile, say).
    Exited,
    /// Nothing listened within the deadline.
    Timeout,
}

/// Waits until something accepts connections on `port`, watching `child`.
fn wait_for_port(port: u16, child: &mut Child) -> Result<(), NotUp> {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(_)) = child.try_wait() {
            return Err(NotUp::Exited);
        }
        if start.elapsed() > Duration::from_secs(90) {
            return Err(NotUp::Timeout);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// A child process killed when the test ends, whatever happens.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The aiosmtpd sink and the folder it writes answers to.
struct Sink {
    _proc: Proc,
    port: u16,
    dir: tempfile::TempDir,
}

impl Sink {
    fn start() -> Sink {
        let dir = tempfile::tempdir().expect("tmp");
        for _ in 0..5 {
            let port = free_port();
            // Owned by `Proc` at once: a sink that does not come up is killed
            // before the next try.
            let mut proc = Proc(
                Command::new(harness::tools::python())
                    .arg(root().join("tests/tools/smtp_sink.py"))
                    .args(["--port", &port.to_string(), "--dir"])
                    .arg(dir.path())
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("python3 with aiosmtpd"),
            );
            if wait_for_port(port, &mut proc.0).is_ok() {
                return Sink {
                    _proc: proc,
                    port,
                    dir,
                };
            }
        }
        panic!("the aiosmtpd sink did not start five times");
    }

    /// The answers received so far, oldest first.
    fn answers(&self) -> Vec<Vec<u8>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|x| x == "eml"));
        files.sort();
        files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
    }

    async fn wait_for(&self, n: usize) -> Vec<Vec<u8>> {
        eventually(Duration::from_secs(90), "answers in the sink", || async {
            let a = self.answers();
            (a.len() >= n).then_some(a)
        })
        .await
    }
}

/// `intake serve` on free ports, for one test's database and queues.
struct Server {
    proc: Option<Proc>,
    smtp: u16,
    lmtp: u16,
    http: u16,
    vars: Vec<(String, String)>,
    log: tempfile::TempDir,
}

impl Server {
    fn start(env: &Env, sink: &Sink, extra: &[(&str, &str)]) -> Server {
        let base = std::env::var("INTAKE_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
        let mut vars: Vec<(String, String)> = vec![
            (
                "INTAKE_DATABASE_URL".into(),
                format!("{base}/{}", env.db_name),
            ),
            ("INTAKE_QUEUE_PREFIX".into(), env.prefix.clone()),
            ("INTAKE_BLOB_DIR".into(), path(env.blob_dir.path())),
            ("INTAKE_SMTP_ACCEPT".into(), LAB.into()),
            ("INTAKE_ANSWER_FROM".into(), LAB.into()),
            (
                "INTAKE_ANSWER_RELAY".into(),
                format!("127.0.0.1:{}", sink.port),
            ),
            ("RUST_LOG".into(), "warn,intake=info".into()),
        ];
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut s = Server {
            proc: None,
            smtp: 0,
            lmtp: 0,
            http: 0,
            vars,
            log: tempfile::tempdir().expect("tmp"),
        };
        // A port taken between choosing and binding makes `serve` exit: choose again.
        for _ in 0..5 {
            (s.smtp, s.lmtp, s.http) = (free_port(), free_port(), free_port());
            match s.spawn() {
                Ok(()) => return s,
                Err(NotUp::Exited) => continue,
                Err(NotUp::Timeout) => break,
            }
        }
        panic!("intake serve did not start: {}", s.stderr());
    }

    /// Starts `intake serve` on the chosen ports and waits for its HTTP
    /// endpoint, bound last.
    fn spawn(&mut self) -> Result<(), NotUp> {
        let log = std::fs::File::create(self.log.path().join("stderr")).expect("log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_intake"))
            .arg("serve")
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .env("INTAKE_LISTEN", format!("127.0.0.1:{}", self.http))
            .env("INTAKE_SMTP_LISTEN", format!("127.0.0.1:{}", self.smtp))
            .env("INTAKE_LMTP_LISTEN", format!("127.0.0.1:{}", self.lmtp))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("intake serve");
        let up = wait_for_port(self.http, &mut child);
        self.proc = Some(Proc(child));
        up
    }

    /// What `intake serve` wrote to stderr.
    fn stderr(&self) -> String {
        std::fs::read_to_string(self.log.path().join("stderr")).unwrap_or_default()
    }

    /// Starts `intake serve` again on the same ports (after [`Server::kill`]).
    fn restart(&mut self) {
        if let Err(e) = self.spawn() {
            panic!("intake serve did not restart ({e:?}): {}", self.stderr());
        }
    }

    /// The Prometheus text of `/metrics`.
    fn metrics(&self) -> String {
        let mut c = TcpStream::connect(("127.0.0.1", self.http)).expect("http");
        c.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
            .expect("write");
        let mut out = String::new();
        c.read_to_string(&mut out).expect("read");
        out
    }

    /// SIGKILL: no chance to finish anything.
    fn kill(&mut self) {
        self.proc = None;
    }
}

fn path(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn sample(name: &str) -> String {
    path(&root().join("samples/email").join(name))
}

fn swaks(port: u16, from: &str, to: &str, data: &str) -> (bool, String) {
    let out = Command::new(harness::tools::swaks())
        .args(["--server", &format!("127.0.0.1:{port}")])
        .args(["--from", from, "--to", to, "--data", data])
        .args(["--timeout", "60"])
        .output()
        .expect("swaks (apt install swaks)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn smtplib(args: &[&str]) -> serde_json::Value {
    let out = Command::new(harness::tools::python())
        .arg(root().join("tests/tools/smtp_client.py"))
        .args(args)
        .output()
        .expect("python3");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "smtp_client.py: {e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn header(raw: &[u8], name: &str) -> String {
    MessageParser::default()
        .parse(raw)
        .and_then(|m| m.header_raw(name).map(|v| v.trim().to_owned()))
        .unwrap_or_default()
}

fn subject(raw: &[u8]) -> String {
    MessageParser::default()
        .parse(raw)
        .and_then(|m| m.subject().map(str::to_owned))
        .unwrap_or_default()
}

fn body(raw: &[u8]) -> String {
    MessageParser::default()
        .parse(raw)
        .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
        .unwrap_or_default()
}

/// Bob of ACME mails the accepted demo submission with swaks; swaks's
/// transcript.
fn swaks_bobs_submission(server: &Server) -> String {
    let (ok, out) = swaks(
        server.smtp,
        "bob@acme.example",
        LAB,
        &sample("01-accepted-zipcrypto.eml"),
    );
    assert!(ok, "{out}");
    out
}

async fn submissions(env: &Env) -> i64 {
    env.count("SELECT count(*) FROM submissions").await
}

#[tokio::test(flavor = "multi_thread")]
async fn swaks_submission_is_recorded_and_answered_in_its_thread() {
    let env = Env::new().await;
    let sink = Sink::start();
    let server = Server::start(&env, &sink, &[]);

    let out = swaks_bobs_submission(&server);
    assert!(out.contains("<-  250 2.0.0 accepted as"), "{out}");

    let answers = sink.wait_for(1).await;
    let sr: String = sqlx::query_scalar(
        "SELECT sr.sr_number FROM submissions s JOIN service_requests sr ON sr.id = s.sr_id",
    )
    .fetch_one(&env.pool)
    .await
    .expect("one SR");
    let (outcome, envelope): (String, serde_json::Value) = sqlx::query_as(
        "SELECT s.outcome, i.envelope FROM submissions s JOIN inbound i ON i.id = s.inbound_id",
    )
    .fetch_one(&env.pool)
    .await
    .expect("submission");
    assert_eq!(outcome, "accepted");
    assert_eq!(envelope["mail_from"], "bob@acme.example");
    assert_eq!(envelope["rcpt_to"][0], LAB);
    assert_eq!(
        env.count("SELECT count(*) FROM outbox WHERE kind = 'sample.analyse'")
            .await,
        4
    );

    let a = &answers[0];
    assert!(subject(a).contains(&format!("[{sr}]")));
    assert_eq!(header(a, "In-Reply-To"), "<demo-01@acme.example>");
    assert!(header(a, "References").contains("<demo-01@acme.example>"));
    assert_eq!(header(a, "Auto-Submitted"), "auto-replied");
    assert!(header(a, "To").contains("bob@acme.example"));
    assert!(body(a).contains("4 files went to analysis"), "{}", body(a));

    // The same message again (an MTA retry): one submission, no new answer.
    swaks_bobs_submission(&server);
    eventually(
        Duration::from_secs(10),
        "the retry to be recorded",
        || async {
            let n = env
                .count("SELECT count(*) FROM inbound WHERE state = 'recorded'")
                .await;
            (n == 1).then_some(())
        },
    )
    .await;
    assert_eq!(submissions(&env).await, 1);
    let metrics = server.metrics();
    for line in [
        "intake_smtp_messages_total{reply=\"accepted\"} 2",
        // The readiness probe's connection counts as a session too.
        "intake_smtp_sessions_total{protocol=\"smtp\"} ",
        "intake_answers_sent_total 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    drop(server);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_size_at_mail_and_at_data_and_unknown_recipients() {
    let env = Env::new().await;
    let sink = Sink::start();
    let server = Server::start(&env, &sink, &[("INTAKE_SMTP_MAX_SIZE", "200000")]);
    let big = tempfile::NamedTempFile::new().expect("tmp");
    let mut text = String::from(
        "From: bob@acme.example\r\nTo: samples@lab.example\r\nSubject: big\r\nMessage-ID: <big@acme.example>\r\n\r\n",
    );
    while text.len() < 300_000 {
        text.push_str("0123456789012345678901234567890123456789012345678901234567890123456789\r\n");
    }
    std::fs::write(big.path(), &text).expect("write");
    let port = server.smtp.to_string();

    // smtplib announces SIZE=, so the refusal comes at MAIL.
    let r = smtplib(&[
        "send",
        &path(big.path()),
        "--port",
        &port,
        "--sender",
        "bob@acme.example",
        "--to",
        LAB,
    ]);
    assert_eq!(r["code"], 552, "{r}");
    assert_eq!(r["stage"], "mail", "{r}");

    // swaks does not: the message is read to its end and refused then.
    let (ok, out) = swaks(server.smtp, "bob@acme.example", LAB, &path(big.path()));
    assert!(!ok);
    assert!(out.contains("<** 552 5.3.4"), "{out}");

    // A recipient intake does not take mail for.
    let (ok, out) = swaks(
        server.smtp,
        "bob@acme.example",
        "postmaster@elsewhere.example",
        &sample("01-accepted-zipcrypto.eml"),
    );
    assert!(!ok);
    assert!(out.contains("<** 550 5.1.1"), "{out}");
    let r = smtplib(&[
        "send",
        &sample("01-accepted-zipcrypto.eml"),
        "--port",
        &port,
        "--sender",
        "bob@acme.example",
        "--to",
        "nobody@elsewhere.example",
    ]);
    assert_eq!(
        (r["code"].as_i64(), r["stage"].as_str()),
        (Some(550), Some("rcpt"))
    );

    assert_eq!(env.count("SELECT count(*) FROM inbound").await, 0);
    drop(server);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_sessions_each_give_one_submission() {
    let env = Env::new().await;
    let sink = Sink::start();
    let server = Server::start(&env, &sink, &[]);
    let r = smtplib(&[
        "concurrent",
        &sample("01-accepted-zipcrypto.eml"),
        "--port",
        &server.smtp.to_string(),
        "--sender",
        "bob@acme.example",
        "--to",
        LAB,
        "--n",
        "50",
    ]);
    assert_eq!(r["ok"], 50, "{r}");
    eventually(Duration::from_secs(60), "50 submissions", || async {
        (submissions(&env).await == 50).then_some(())
    })
    .await;
    // Fifty submissions of the same files: four samples, fifty SRs.
    assert_eq!(env.count("SELECT count(*) FROM samples").await, 4);
    assert_eq!(env.count("SELECT count(*) FROM service_requests").await, 50);
    // The answers go out four at a time (the default senders): each one
    // once, each marked sent after one try.
    let answers = sink.wait_for(50).await;
    eventually(Duration::from_secs(30), "answers marked sent", || async {
        let unsent =
            "SELECT count(*) FROM outbox WHERE kind = 'mail.answer' AND published_at IS NULL";
        (env.count(unsent).await == 0).then_some(())
    })
    .await;
    let tried_again = "SELECT count(*) FROM outbox WHERE kind = 'mail.answer' AND attempts <> 1";
    assert_eq!(env.count(tried_again).await, 0);
    let ids: std::collections::HashSet<String> =
        answers.iter().map(|a| header(a, "Message-ID")).collect();
    assert_eq!((answers.len(), ids.len()), (50, 50));
    drop(server);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reply_to_needs_info_completes_the_submission() {
    let env = Env::new().await;
    let sink = Sink::start();
    let server = Server::start(&env, &sink, &[]);
    let port = server.smtp.to_string();
    let r = smtplib(&[
        "send",
        &sample("02-needs-info-gbk-aes256.eml"),
        "--port",
        &port,
        "--sender",
        "li.wei@example.cn",
        "--to",
        LAB,
    ]);
    assert_eq!(r["ok"], true, "{r}");
    let answers = sink.wait_for(1).await;
    let ask = &answers[0];
    let asked = subject(ask);
    let text = body(ask);
    // Chinese mail gets a Chinese answer naming the one missing field.
    assert!(asked.contains("需要补充信息"), "{asked}");
    assert!(text.contains("DAT 版本"), "{text}");
    assert_eq!(header(ask, "In-Reply-To"), "<demo-02@example.cn>");

    // The customer answers the form in a reply, as a mail client would.
    let form: String = text
        .lines()
        .filter(|l| l.ends_with(": "))
        .map(|l| format!("{l}11025.0\r\n"))
        .collect();
    assert_eq!(form, "DAT 版本: 11025.0\r\n");
    let answer_id = header(ask, "Message-ID");
    // Replies go to the answer's Reply-To: the research address with the
    // SR's reply token, which proves the reply answers our message.
    let reply_to = header(ask, "Reply-To");
    assert!(reply_to.starts_with("samples+SR-"), "{reply_to}");
    let reply = format!(
        "From: Li Wei <li.wei@example.cn>\r\nTo: {reply_to}\r\nSubject: Re: {asked}\r\n\
         Message-ID: <reply-1@example.cn>\r\nIn-Reply-To: {answer_id}\r\nReferences: <demo-02@example.cn> {answer_id}\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         您好，\r\n\r\n{form}\r\n谢谢\r\n"
    );
    let file = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(file.path(), reply).expect("write");
    let r = smtplib(&[
        "send",
        &path(file.path()),
        "--port",
        &port,
        "--sender",
        "li.wei@example.cn",
        "--to",
        &reply_to,
    ]);
    assert_eq!(r["ok"], true, "{r}");

    let answers = sink.wait_for(2).await;
    let (earlier_done, outcome, jobs, srs): (i64, String, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM submissions WHERE completed_by IS NOT NULL),
                (SELECT outcome FROM submissions WHERE completed_by IS NULL),
                (SELECT count(*) FROM outbox WHERE kind = 'sample.analyse'),
                (SELECT count(*) FROM service_requests)",
    )
    .fetch_one(&env.pool)
    .await
    .expect("state");
    assert_eq!(
        (earlier_done, outcome.as_str(), jobs, srs),
        (1, "accepted", 2, 1)
    );
    let status: String = sqlx::query_scalar("SELECT status FROM service_requests")
        .fetch_one(&env.pool)
        .await
        .expect("status");
    assert_eq!(status, "in_analysis");
    let done = &answers[1];
    assert!(subject(done).contains("正在分析中"), "{}", subject(done));
    assert_eq!(header(done, "In-Reply-To"), "<reply-1@example.cn>");
    assert!(
        body(done).contains("已有 2 个文件进入分析"),
        "{}",
        body(done)
    );
    drop(server);
    env.cleanup().await;
}

/// Kill intake after the client has sent the whole message but before it
/// has read the `250`: the client does not know the message was taken and
/// sends it again; exactly one submission results.
#[tokio::test(flavor = "multi_thread")]
async fn killed_before_the_250_is_read_the_retry_gives_one_submission() {
    let env = Env::new().await;
    let sink = Sink::start();
    let mut server = Server::start(&env, &sink, &[]);
    let raw = std::fs::read(sample("01-accepted-zipcrypto.eml")).expect("sample");

    let mut c = TcpStream::connect(("127.0.0.1", server.smtp)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let reply = |c: &mut TcpStream| {
        let mut buf = [0u8; 4096];
        let n = c.read(&mut buf).expect("read");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert!(reply(&mut c).starts_with("220"));
    c.write_all(b"EHLO killer.test\r\n").expect("write");
    assert!(reply(&mut c).contains("250 "));
    c.write_all(b"MAIL FROM:<bob@acme.example>\r\nRCPT TO:<samples@lab.example>\r\nDATA\r\n")
        .expect("write");
    let mut got = String::new();
    while !got.contains("354") {
        got += &reply(&mut c);
    }
    c.write_all(&raw).expect("write");
    c.write_all(b"\r\n.\r\n").expect("write");
    c.flush().expect("flush");
    // The whole message is on the wire; intake dies before we read a reply.
    server.kill();
    drop(c);

    // The sending MTA tries again once intake is back.
    server.restart();
    swaks_bobs_submission(&server);
    eventually(
        Duration::from_secs(30),
        "the retry to be recorded",
        || async {
            let left = env
                .count("SELECT count(*) FROM inbound WHERE state <> 'recorded'")
                .await;
            (left == 0 && submissions(&env).await >= 1).then_some(())
        },
    )
    .await;
    assert_eq!(env.count("SELECT count(*) FROM inbound").await, 1);
    assert_eq!(submissions(&env).await, 1);
    assert_eq!(
        env.count("SELECT count(*) FROM outbox WHERE kind = 'mail.answer'")
            .await,
        1
    );
    drop(server);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lmtp_delivery_and_mail_that_must_not_be_answered() {
    let env = Env::new().await;
    let sink = Sink::start();
    // The lab's MTA, whose Authentication-Results intake believes.
    let server = Server::start(
        &env,
        &sink,
        &[("INTAKE_TRUSTED_AUTHSERV_IDS", "mx.lab.example")],
    );
    // LMTP as an MTA speaks it; swaks knows the protocol.
    let auto = "From: robot@acme.example\r\nTo: samples@lab.example\r\nSubject: Out of office\r\n\
                Message-ID: <ooo@acme.example>\r\nAuto-Submitted: auto-replied\r\n\r\nI am away.\r\n";
    let file = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(file.path(), auto).expect("write");
    let out = Command::new(harness::tools::swaks())
        .args(["--server", &format!("127.0.0.1:{}", server.lmtp)])
        .args(["--protocol", "LMTP", "--from", "", "--to", LAB, "--data"])
        .arg(file.path())
        .output()
        .expect("swaks");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("<-  250 2.0.0 accepted as"), "{text}");
    eventually(
        Duration::from_secs(30),
        "the auto-reply to be recorded",
        || async { (submissions(&env).await == 1).then_some(()) },
    )
    .await;
    // Recorded (rejected: no file), but never answered.
    assert_eq!(
        env.count("SELECT count(*) FROM outbox WHERE kind = 'mail.answer'")
            .await,
        0
    );
    // A message our MTA found forged: its checks are recorded, no answer
    // goes to the innocent address in its From.
    let forged = "Authentication-Results: mx.lab.example; spf=fail smtp.mailfrom=acme.example; dkim=none; dmarc=fail\r\n\
                  From: bob@acme.example\r\nTo: samples@lab.example\r\nSubject: invoice\r\n\
                  Message-ID: <forged@acme.example>\r\n\r\nsee attached\r\n";
    std::fs::write(file.path(), forged).expect("write");
    let (ok, out) = swaks(server.smtp, "bob@acme.example", LAB, &path(file.path()));
    assert!(ok, "{out}");
    let auth: serde_json::Value =
        eventually(Duration::from_secs(30), "the forged mail", || async {
            sqlx::query_scalar(
                "SELECT sender_auth FROM submissions WHERE sender = 'bob@acme.example'",
            )
            .fetch_optional(&env.pool)
            .await
            .expect("query")
        })
        .await;
    assert_eq!(auth["spf"], "fail");
    assert_eq!(auth["dmarc"], "fail");
    assert_eq!(auth["authserv_id"], "mx.lab.example");
    assert_eq!(
        env.count("SELECT count(*) FROM outbox WHERE kind = 'mail.answer'")
            .await,
        0
    );
    assert_eq!(
        env.count("SELECT count(*) FROM submissions WHERE outcome = 'rejected'")
            .await,
        2
    );
    drop(server);
    env.cleanup().await;
}

fn intake_cmd(env: &Env, extra: &[(&str, &str)]) -> Command {
    let base = std::env::var("INTAKE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let mut c = Command::new(env!("CARGO_BIN_EXE_intake"));
    c.env("INTAKE_DATABASE_URL", format!("{base}/{}", env.db_name))
        .env("INTAKE_QUEUE_PREFIX", &env.prefix)
        .env("INTAKE_BLOB_DIR", env.blob_dir.path())
        .env("RUST_LOG", "error");
    for (k, v) in extra {
        c.env(k, v);
    }
    c
}

fn run_with_stdin(mut c: Command, input: &[u8]) -> (Option<i32>, String, String) {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The MTA pipe transport: exit 0 when stored, 65 when refused for good,
/// 75 when the MTA should try again later.
#[tokio::test(flavor = "multi_thread")]
async fn ingest_eml_speaks_the_exit_codes_of_a_pipe_transport() {
    let env = Env::new().await;
    let raw = std::fs::read(sample("02-needs-info-gbk-aes256.eml")).expect("sample");
    let mut c = intake_cmd(&env, &[]);
    c.args([
        "ingest-eml",
        "--sender",
        "li.wei@example.cn",
        "--recipient",
        LAB,
    ]);
    let (code, out, err) = run_with_stdin(c, &raw);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains(" needs_info "), "{out}");
    let envelope: serde_json::Value = sqlx::query_scalar("SELECT envelope FROM inbound")
        .fetch_one(&env.pool)
        .await
        .expect("inbound");
    assert_eq!(envelope["mail_from"], "li.wei@example.cn");

    let mut c = intake_cmd(&env, &[("INTAKE_SMTP_MAX_SIZE", "1000")]);
    c.arg("ingest-eml");
    assert_eq!(run_with_stdin(c, &raw).0, Some(65));

    let mut c = intake_cmd(&env, &[]);
    c.env(
        "INTAKE_DATABASE_URL",
        "postgres://postgres@127.0.0.1:1/nowhere",
    )
    .arg("ingest-eml");
    let (code, _, err) = run_with_stdin(c, &raw);
    assert_eq!(code, Some(75), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("PostgreSQL"), "{err}");
    assert_eq!(submissions(&env).await, 1);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ingest_dir_takes_a_maildir_once() {
    let env = Env::new().await;
    let maildir = tempfile::tempdir().expect("tmp");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir(maildir.path().join(sub)).expect("mkdir");
    }
    let copy = |name: &str, to: &str| {
        std::fs::copy(sample(name), maildir.path().join(to)).expect("copy");
    };
    copy("01-accepted-zipcrypto.eml", "new/1700000000.1.host");
    copy("04-rejections.eml", "cur/1700000001.2.host:2,S");
    // Half-delivered mail in tmp/ is not a message yet.
    copy("06-zip-bomb.eml", "tmp/1700000002.3.host");
    for round in ["first", "second"] {
        let mut c = intake_cmd(&env, &[]);
        c.arg("ingest-dir").arg(maildir.path());
        let (code, out, err) = run_with_stdin(c, b"");
        assert_eq!(code, Some(0), "{round}: {out}{err}");
        if round == "first" {
            assert_eq!(out.trim(), "2 messages: 1 accepted, 1 rejected", "{out}");
        } else {
            assert_eq!(out.trim(), "2 messages: 2 duplicate", "{out}");
        }
    }
    assert_eq!(submissions(&env).await, 2);
    env.cleanup().await;
}

/// Staff record a verdict and close the SR; the customer hears of both, in
/// the thread of their submission.
#[tokio::test(flavor = "multi_thread")]
async fn staff_verdict_and_closing_reach_the_customer() {
    let env = Env::new().await;
    let sink = Sink::start();
    let server = Server::start(&env, &sink, &[]);
    swaks_bobs_submission(&server);
    sink.wait_for(1).await;
    let (sr, sha): (String, String) = sqlx::query_as(
        "SELECT sr.sr_number, ss.sha256 FROM submission_samples ss
         JOIN submissions s ON s.id = ss.submission_id
         JOIN service_requests sr ON sr.id = s.sr_id
         WHERE ss.path LIKE '%eicar.com'",
    )
    .fetch_one(&env.pool)
    .await
    .expect("eicar sample");
    let cli = |args: &[&str]| {
        let mut c = intake_cmd(&env, &[]);
        c.args(args);
        let (code, out, err) = run_with_stdin(c, b"");
        assert_eq!(code, Some(0), "{args:?}: {out}{err}");
        out
    };
    let out = cli(&[
        "sr",
        "verdict",
        &sr,
        &sha,
        "malicious",
        "--detection",
        "EICAR-Test-File",
        "--by",
        "analyst1",
    ]);
    assert!(out.contains("1 customer notice(s) queued"), "{out}");
    cli(&[
        "sr",
        "close",
        &sr,
        "--note",
        "Detected from DAT 11026.",
        "--by",
        "analyst1",
    ]);

    let answers = sink.wait_for(3).await;
    let verdict = &answers[1];
    assert!(subject(verdict).contains(&format!("[{sr}] Analysis result: malicious")));
    assert!(
        body(verdict).contains("samples.zip/eicar.com")
            && body(verdict).contains("Detection: EICAR-Test-File"),
        "{}",
        body(verdict)
    );
    assert!(header(verdict, "References").contains("<demo-01@acme.example>"));
    let closed = &answers[2];
    assert!(subject(closed).contains("is closed"));
    assert!(body(closed).contains("Detected from DAT 11026."));
    let (status, decided_by): (String, String) = sqlx::query_as(
        "SELECT sr.status, v.decided_by FROM service_requests sr, verdicts v WHERE v.sha256 = $1",
    )
    .bind(&sha)
    .fetch_one(&env.pool)
    .await
    .expect("state");
    assert_eq!(
        (status.as_str(), decided_by.as_str()),
        ("closed", "analyst1")
    );
    assert_eq!(
        env.count("SELECT count(*) FROM events WHERE actor = 'analyst1'")
            .await,
        2
    );
    drop(server);
    env.cleanup().await;
}

/// Hostile sessions: an endless command line, an endless message line, and
/// garbage commands until the session is closed — each refused cleanly, the
/// listener unharmed.
#[tokio::test(flavor = "multi_thread")]
async fn overlong_lines_and_garbage_get_clean_refusals() {
    let env = Env::new().await;
    let sink = Sink::start();
    let server = Server::start(&env, &sink, &[]);
    let mut c = TcpStream::connect(("127.0.0.1", server.smtp)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut replies = String::new();
    let mut until = |c: &mut TcpStream, code: &str| {
        let mut buf = [0u8; 4096];
        while !replies.lines().any(|l| l.starts_with(code)) {
            let n = c.read(&mut buf).expect("read");
            assert!(n > 0, "closed early; got {replies}");
            replies.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        let got = replies.clone();
        replies.clear();
        got
    };
    until(&mut c, "220");
    c.write_all(&[b'A'; 10_000]).expect("write");
    c.write_all(b"\r\n").expect("write");
    assert!(until(&mut c, "500").contains("500 5.5.2"));
    c.write_all(
        b"EHLO x\r\nMAIL FROM:<bob@acme.example>\r\nRCPT TO:<samples@lab.example>\r\nDATA\r\n",
    )
    .expect("write");
    until(&mut c, "354");
    c.write_all(b"Subject: x\r\n\r\n").expect("write");
    c.write_all(&vec![b'x'; 100 << 10]).expect("write");
    c.write_all(b"\r\n.\r\n").expect("write");
    assert!(until(&mut c, "500").contains("500 5.5.6"));
    for _ in 0..11 {
        c.write_all(b"XYZZY\r\n").expect("write");
    }
    assert!(until(&mut c, "421").contains("421 4.7.0"));
    // The listener still serves others, and nothing was stored.
    swaks_bobs_submission(&server);
    eventually(Duration::from_secs(30), "the good message", || async {
        (submissions(&env).await == 1).then_some(())
    })
    .await;
    drop(server);
    env.cleanup().await;
}

/// Sends `session` in one write after the greeting and reads replies until
/// the server closes after `QUIT`: every reply line's code, in order.
fn replies_to(port: u16, session: &[u8]) -> Vec<String> {
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let mut text = String::new();
    let mut sent = false;
    loop {
        let n = c.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        if !sent && text.contains("220 ") {
            c.write_all(session).expect("write");
            sent = true;
        }
    }
    for line in text.lines() {
        // The last line of a multi-line reply has a space after the code.
        if line.len() >= 4 && line.as_bytes()[3] == b' ' {
            got.push(line[..3].to_owned());
        }
    }
    got
}

/// SMTP smuggling: a bare-LF "end of data" followed by a second envelope.
/// A safe server reads one message; a lax one runs the lines after it as
/// commands and answers 250, 250, 250, 354. Same with a bare CR, on SMTP and
/// on LMTP.
#[tokio::test(flavor = "multi_thread")]
async fn bare_lf_or_cr_end_of_data_smuggles_nothing() {
    let env = Env::new().await;
    let sink = Sink::start();
    let server = Server::start(&env, &sink, &[]);
    let smuggle = |hello: &str, end: &str| {
        format!(
            "{hello} client.example\r\nMAIL FROM:<bob@acme.example>\r\nRCPT TO:<{LAB}>\r\nDATA\r\n\
             From: bob@acme.example\r\nMessage-ID: <smuggle-{hello}-{}@acme.example>\r\nSubject: x\r\n\r\n\
             first{end}.{end}MAIL FROM:<evil@evil.test>\r\nRCPT TO:<{LAB}>\r\nDATA\r\nforged\r\n.\r\nQUIT\r\n",
            u32::from(end.as_bytes()[0])
        )
    };
    for (port, hello) in [(server.smtp, "EHLO"), (server.lmtp, "LHLO")] {
        for end in ["\n", "\r"] {
            let codes = replies_to(port, smuggle(hello, end).as_bytes());
            assert_eq!(
                codes,
                ["220", "250", "250", "250", "354", "250", "221"],
                "{hello} with {end:?}"
            );
        }
    }
    eventually(Duration::from_secs(30), "four messages", || async {
        (submissions(&env).await == 4).then_some(())
    })
    .await;
    assert_eq!(
        env.count("SELECT count(*) FROM submissions WHERE sender LIKE '%evil%'")
            .await,
        0
    );
    drop(server);
    env.cleanup().await;
}

/// Python's smtplib: EHLO, STARTTLS, EHLO again (no STARTTLS offered
/// twice), one message; prints the server certificate's fingerprint.
const STARTTLS_CLIENT: &str = r#"
import hashlib, smtplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
s.ehlo()
assert s.has_extn("starttls"), "STARTTLS not offered"
s.starttls(context=ctx)
s.ehlo()
assert not s.has_extn("starttls"), "STARTTLS offered again inside TLS"
der = s.sock.getpeercert(binary_form=True)
msg = "From: bob@acme.example\r\nMessage-ID: <%s@acme.example>\r\nSubject: tls\r\n\r\nhi\r\n" % sys.argv[2]
s.sendmail("bob@acme.example", [sys.argv[3]], msg)
s.quit()
print(hashlib.sha256(der).hexdigest())
"#;

fn smtplib_starttls(port: u16, id: &str) -> String {
    let out = Command::new("python3")
        .args(["-c", STARTTLS_CLIENT, &port.to_string(), id, LAB])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// STARTTLS with a certificate the test makes: swaks --tls and Python's
/// smtplib deliver over TLS; a renewed certificate is served without a
/// restart; a command pipelined behind STARTTLS is refused, never run.
#[tokio::test(flavor = "multi_thread")]
async fn starttls_with_swaks_and_smtplib_and_a_renewed_certificate() {
    let env = Env::new().await;
    let sink = Sink::start();
    let certs = tempfile::tempdir().expect("tmp");
    let first = harness::tools::certificate(certs.path());
    let cert = path(&certs.path().join("cert.pem"));
    let key = path(&certs.path().join("key.pem"));
    let server = Server::start(
        &env,
        &sink,
        &[
            ("INTAKE_SMTP_TLS_CERT", &cert),
            ("INTAKE_SMTP_TLS_KEY", &key),
        ],
    );
    let out = Command::new(harness::tools::swaks())
        .args(["--server", &format!("127.0.0.1:{}", server.smtp), "--tls"])
        .args(["--from", "bob@acme.example", "--to", LAB])
        .args(["--data", &sample("01-accepted-zipcrypto.eml")])
        .args(["--timeout", "60"])
        .output()
        .expect("swaks");
    let transcript = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{transcript}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(transcript.contains("TLS started"), "{transcript}");
    assert!(transcript.contains("250 2.0.0 accepted as"), "{transcript}");

    assert_eq!(smtplib_starttls(server.smtp, "tls-1"), first);
    // The certificate is renewed on disk: the next session gets the new one.
    let renewed = harness::tools::certificate(certs.path());
    assert_ne!(renewed, first);
    assert_eq!(smtplib_starttls(server.smtp, "tls-2"), renewed);

    // A command pipelined behind STARTTLS is refused and the session closed.
    let codes = replies_to(
        server.smtp,
        b"EHLO x\r\nSTARTTLS\r\nMAIL FROM:<evil@evil.test>\r\n",
    );
    assert_eq!(codes, ["220", "250", "554"]);
    eventually(Duration::from_secs(30), "three messages", || async {
        (submissions(&env).await == 3).then_some(())
    })
    .await;
    drop(server);
    env.cleanup().await;
}

/// Answers of one SR go out in the order they were made, however many
/// senders run: one waits while an older one of its SR is being sent (here,
/// held locked as a sender holds it mid-send); other SRs' answers pass it.
#[tokio::test(flavor = "multi_thread")]
async fn an_answer_waits_for_the_older_answers_of_its_sr() {
    use intake::answer::{Answer, AnswerConfig};
    let env = Env::new().await;
    let sink = Sink::start();
    let queue = |sr: u32, subject: &'static str| {
        let answer = Answer {
            sr_number: intake::sr::SrNumber::new(2026, sr),
            kind: intake::sr::AnswerKind::Message,
            to: "bob@acme.example".into(),
            subject: subject.into(),
            in_reply_to: None,
            references: vec![],
            lang: intake::sr::Lang::En,
            body: format!("{subject}\n"),
            attachments: vec![],
        };
        let pool = env.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "INSERT INTO outbox (kind, routing_key, priority, payload)
                 VALUES ('mail.answer', '', 0, $1) RETURNING id",
            )
            .bind(serde_json::to_value(&answer).expect("json"))
            .fetch_one(&pool)
            .await
            .expect("queue")
        }
    };
    let first = queue(1, "first of SR 1").await;
    queue(1, "second of SR 1").await;
    queue(2, "only of SR 2").await;
    let cfg = AnswerConfig {
        relay: format!("127.0.0.1:{}", sink.port),
        ..AnswerConfig::default()
    };
    let relay = intake::store::mailer::transport(&cfg).expect("relay");

    let mut held = env.pool.begin().await.expect("begin");
    sqlx::query("SELECT id FROM outbox WHERE id = $1 FOR UPDATE")
        .bind(first)
        .execute(&mut *held)
        .await
        .expect("lock");
    let sent = intake::store::mailer::send_batch(&env.pool, &relay, &cfg, 10)
        .await
        .expect("send");
    assert_eq!(sent, 1, "only SR 2's answer may pass SR 1's first");
    assert_eq!(subject(&sink.wait_for(1).await[0]), "only of SR 2");
    held.rollback().await.expect("release");

    let sent = intake::store::mailer::send_batch(&env.pool, &relay, &cfg, 10)
        .await
        .expect("send");
    assert_eq!(sent, 2);
    let subjects: Vec<String> = sink.wait_for(3).await.iter().map(|a| subject(a)).collect();
    assert_eq!(
        subjects,
        ["only of SR 2", "first of SR 1", "second of SR 1"]
    );
    env.cleanup().await;
}
