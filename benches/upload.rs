//! Load tool for portal uploads (`cargo bench --bench upload`): 1 MB and
//! 50 MB files over 1 and 8 concurrent clients, each upload one `curl`
//! multipart POST, to two servers in the same run:
//!
//! - nginx (Debian's) with `client_body_in_file_only`: the body written to
//!   a temporary file, then `201` from a second server block — the
//!   baseline. It does not flush the file to disk.
//! - intake's upload API with `Prefer: respond-async`: streamed into the
//!   blob store (hashed, neutered, flushed to disk with its folder), the
//!   upload's manifest stored and its inbound row committed, then `202`.
//!   Deciding is held back during the round (the decision pool is kept
//!   busy), so the round measures receiving; then it is let go and the
//!   time until every upload is recorded is reported.
//!
//! Reported per round: uploads/s, MB/s, intake's rate as a share of
//! nginx's, and intake's peak resident memory while receiving and while
//! deciding (the decision pool's bound: `decide::threads::count()`
//! decisions at once). A last round waits for each decision (no
//! `respond-async`): the whole path as a page or a plain API call sees it.
//! Needs PostgreSQL on localhost; provisions curl and nginx.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use intake::portal::UploadConfig;
use intake::portal::quota::Quota;
use intake::portal::web::{Portal, router};

mod bench_db;
#[path = "../tests/harness/tools.rs"]
#[allow(dead_code)]
mod tools;

use bench_db::BenchDb;

const MB: usize = 1_000_000;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        // TERM, not KILL: the master stops its workers, which would
        // otherwise outlive it (holding this tool's output open).
        if let Ok(pid) = i32::try_from(self.0.id()) {
            // SAFETY: kill takes plain integers and touches no memory of ours.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let _ = self.0.wait();
    }
}

/// Where the time of storing 50 MB goes, each part alone on one core:
/// hashing, neutering, writing with a flush, and the blob store's spool
/// doing all three — the floor under intake's receiving.
fn floor(dir: &Path, blobs: &intake::store::blob::Blobs) {
    use std::io::Write;
    let data = vec![0x5au8; 50 * MB];
    let time = |what: &str, f: &mut dyn FnMut()| {
        let started = Instant::now();
        for _ in 0..4 {
            f();
        }
        let secs = started.elapsed().as_secs_f64() / 4.0;
        println!("floor: {what:<34} {:>7.0} MB/s", 50.0 / secs);
    };
    time("SHA-256", &mut || {
        let mut h = intake::digest::Sha256::hasher();
        for piece in data.chunks(1 << 20) {
            h.update(piece);
        }
        std::hint::black_box(h.finish());
    });
    let keys = intake::store::blob::Keyring::default();
    time("ChaCha20 (neutering)", &mut || {
        let (_, mut c) = keys.start([7; 12]);
        let mut buf = vec![0u8; 1 << 20];
        for piece in data.chunks(1 << 20) {
            use chacha20::cipher::StreamCipher;
            buf[..piece.len()].copy_from_slice(piece);
            c.apply_keystream(&mut buf[..piece.len()]);
            std::hint::black_box(&buf);
        }
    });
    let path = dir.join("floor.bin");
    time("write + fsync", &mut || {
        let mut f = std::fs::File::create(&path).expect("file");
        for piece in data.chunks(1 << 20) {
            f.write_all(piece).expect("write");
        }
        f.sync_data().expect("sync");
    });
    time("write, no fsync (as nginx)", &mut || {
        let mut f = std::fs::File::create(&path).expect("file");
        for piece in data.chunks(1 << 20) {
            f.write_all(piece).expect("write");
        }
    });
    let _ = std::fs::remove_file(&path);
    let mut round = 0u8;
    time("blob spool: all three, new blob", &mut || {
        // A byte of its own each time: a new blob, as distinct samples are.
        round += 1;
        let mut s = blobs.spool().expect("spool");
        s.write(&[round]).expect("write");
        for piece in data.chunks(1 << 20) {
            s.write(piece).expect("write");
        }
        std::hint::black_box(blobs.keep(s).expect("keep"));
    });
    time("blob spool: all three, same blob again", &mut || {
        let mut s = blobs.spool().expect("spool");
        for piece in data.chunks(1 << 20) {
            s.write(piece).expect("write");
        }
        std::hint::black_box(blobs.keep(s).expect("keep"));
    });
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

/// nginx on `port`, writing bodies under `dir`.
fn nginx(dir: &Path, port: u16) -> Nginx {
    let done = free_port();
    let conf = format!(
        "user root;\nworker_processes auto;\ndaemon off;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log;\nevents {{ worker_connections 512; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n\
           proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fcgi;\n  uwsgi_temp_path {d}/uwsgi;\n\
           scgi_temp_path {d}/scgi;\n\
           server {{\n    listen 127.0.0.1:{port};\n    client_max_body_size 200m;\n\
             location /upload {{\n      client_body_in_file_only clean;\n\
               proxy_pass_request_body off;\n      proxy_set_header Content-Length \"\";\n\
               proxy_set_header X-Body-File $request_body_file;\n\
               proxy_pass http://127.0.0.1:{done}/done;\n    }}\n  }}\n\
           server {{\n    listen 127.0.0.1:{done};\n    location /done {{ return 201; }}\n  }}\n}}\n",
        d = dir.display()
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).expect("conf");
    let child = Command::new(tools::nginx())
        .arg("-c")
        .arg(&path)
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "nginx did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Nginx(child)
}

/// This process's resident memory now and at its peak since the last
/// [`reset_peak`], in MB.
fn rss() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |key: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1000.0
    };
    (kb("VmRSS:"), kb("VmHWM:"))
}

fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// One round's figures.
struct Round {
    uploads: usize,
    secs: f64,
    failed: usize,
}

impl Round {
    fn rate(&self) -> f64 {
        self.uploads as f64 / self.secs
    }
}

/// `n` uploads of `file` to `url` over `clients` concurrent `curl`s.
async fn load(url: &str, headers: &[String], file: &Path, clients: usize, n: usize) -> Round {
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (url, headers, file, next) = (
            url.to_owned(),
            headers.to_vec(),
            file.to_owned(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut failed = 0;
            while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < n {
                let mut c = tokio::process::Command::new(tools::curl());
                c.args(["-s", "-o", "/dev/null", "-w", "%{http_code}"]);
                for h in &headers {
                    c.arg("-H").arg(h);
                }
                c.arg("-F")
                    .arg(format!("file=@{};filename=sample.bin", file.display()))
                    .arg(&url);
                let out = c.output().await.expect("curl");
                let code = String::from_utf8_lossy(&out.stdout).to_string();
                if !code.starts_with('2') {
                    failed += 1;
                }
            }
            failed
        }));
    }
    let mut failed = 0;
    for t in tasks {
        failed += t.await.expect("client");
    }
    Round {
        uploads: n,
        secs: started.elapsed().as_secs_f64(),
        failed,
    }
}

/// Keeps every decision thread busy until the sender is dropped.
fn hold_deciding() -> std::sync::mpsc::Sender<()> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let rx = Arc::new(std::sync::Mutex::new(rx));
    for _ in 0..intake::decide::threads::count() {
        let rx = rx.clone();
        tokio::spawn(intake::decide::threads::run(move || {
            // Each blocker waits for the channel to close.
            let _ = rx.lock().map(|r| r.recv());
        }));
    }
    tx
}

async fn recorded(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM inbound WHERE state = 'recorded'")
        .fetch_one(pool)
        .await
        .unwrap_or(0)
}

async fn run() {
    let id = &uuid::Uuid::new_v4().simple().to_string()[..10];
    let bench = BenchDb::new(id, 32).await;
    let (pool, intake) = (bench.pool.clone(), bench.intake.clone());
    sqlx::query(
        "INSERT INTO accounts (realm, email, name, grant_number, password_hash, created_at, confirmed_at)
         VALUES ('customer', 'load@bench.example', 'Load', 'B-1', 'none', now(), now())",
    )
    .execute(&pool)
    .await
    .expect("account");
    let token = "bench-token-0123456789abcdefghijklmnopqrstuv";
    sqlx::query(
        "INSERT INTO api_tokens (token_sha256, account_id, name, created_at)
         SELECT $1, id, 'bench', now() FROM accounts",
    )
    .bind(intake::account::token::digest(token).to_hex())
    .execute(&pool)
    .await
    .expect("token");
    let app = intake::http::site([router(Portal {
        intake: intake.clone(),
        uploads: UploadConfig {
            quota: Quota {
                uploads_per_hour: 0,
                uploads_per_day: 0,
                bytes_per_hour: 0,
                bytes_per_day: 0,
            },
            ..UploadConfig::default()
        },
        public_url: "http://127.0.0.1".into(),
        vendor: "McAfee".into(),
        backoff: Default::default(),
        trusted_proxies: Vec::new(),
    })]);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let ours = format!("http://{}/api/v1/uploads", l.local_addr().expect("addr"));
    tokio::spawn(
        axum::serve(
            l,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .into_future(),
    );
    let work = tempfile::tempdir_in(".").expect("tmp");
    let nginx_port = free_port();
    let _nginx = nginx(work.path(), nginx_port);
    let theirs = format!("http://127.0.0.1:{nginx_port}/upload");
    let files: Vec<(usize, PathBuf)> = [MB, 50 * MB]
        .into_iter()
        .map(|size| {
            let path = work.path().join(format!("{}mb.bin", size / MB));
            let mut bytes = vec![0u8; size];
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ size as u64;
            for b in bytes.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            std::fs::write(&path, bytes).expect("file");
            (size, path)
        })
        .collect();
    {
        let (dir, blobs) = (work.path().to_owned(), intake.blobs.clone());
        tokio::task::spawn_blocking(move || floor(&dir, &blobs))
            .await
            .expect("floor");
    }
    if std::env::var("UPLOAD_BENCH").as_deref() == Ok("floor") {
        bench.remove().await;
        return;
    }
    let auth = format!("Authorization: Bearer {token}");
    let asynchronous = [auth.clone(), "Prefer: respond-async".to_owned()];

    println!(
        "{:>5} {:>7} {:<22} {:>7} {:>9} {:>8} {:>8} {:>10} {:>10}",
        "size",
        "clients",
        "server",
        "uploads",
        "uploads/s",
        "MB/s",
        "vs nginx",
        "peak MB",
        "decide s"
    );
    for (size, file) in &files {
        for clients in [1usize, 8] {
            let n = if *size == MB { 200 } else { 16 };
            let mb = (*size / MB) as f64;
            let base = load(&theirs, &[], file, clients, n).await;
            println!(
                "{:>4}M {:>7} {:<22} {:>7} {:>9.1} {:>8.1} {:>8} {:>10} {:>10}",
                mb,
                clients,
                "nginx",
                base.uploads - base.failed,
                base.rate(),
                base.rate() * mb,
                "",
                "",
                ""
            );
            let before = recorded(&pool).await;
            let held = hold_deciding();
            reset_peak();
            let ours_round = load(&ours, &asynchronous, file, clients, n).await;
            let (_, receiving_peak) = rss();
            let released = Instant::now();
            reset_peak();
            drop(held);
            while recorded(&pool).await < before + n as i64 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let (_, deciding_peak) = rss();
            println!(
                "{:>4}M {:>7} {:<22} {:>7} {:>9.1} {:>8.1} {:>7.0}% {:>10.0} {:>10.1}",
                mb,
                clients,
                "intake (receive)",
                ours_round.uploads - ours_round.failed,
                ours_round.rate(),
                ours_round.rate() * mb,
                100.0 * ours_round.rate() / base.rate(),
                receiving_peak,
                released.elapsed().as_secs_f64()
            );
            println!(
                "{:>5} {:>7} {:<22} {:>7} {:>9} {:>8} {:>8} {:>10.0} {:>10}",
                "", "", "  deciding afterwards", "", "", "", "", deciding_peak, ""
            );
        }
    }
    // The whole path per upload: receive, decide, record, answer.
    for (size, file) in &files {
        let clients = 8;
        let n = if *size == MB { 200 } else { 16 };
        let mb = (*size / MB) as f64;
        reset_peak();
        let whole = load(&ours, std::slice::from_ref(&auth), file, clients, n).await;
        let (_, peak) = rss();
        println!(
            "{:>4}M {:>7} {:<22} {:>7} {:>9.1} {:>8.1} {:>8} {:>10.0} {:>10}",
            mb,
            clients,
            "intake (whole path)",
            whole.uploads - whole.failed,
            whole.rate(),
            whole.rate() * mb,
            "",
            peak,
            ""
        );
    }
    println!(
        "decision pool: {} decisions at once (2 per core)",
        intake::decide::threads::count()
    );
    drop(_nginx);
    bench.remove().await;
}
