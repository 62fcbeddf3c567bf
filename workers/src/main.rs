//! `intake-worker`: takes sample jobs from RabbitMQ, runs the analysers over
//! the stored sample and records findings in PostgreSQL. Run any number of
//! them on any number of hosts against one broker, database and blob store.
//! SIGTERM finishes the jobs in flight; unacknowledged ones go to another
//! worker. Worker metrics are served on `INTAKE_WORKER_LISTEN`
//! (default 127.0.0.1:9091) at `/metrics`.

mod executable;
#[cfg(test)]
mod fixtures;
mod reputation;
mod rules;
mod similarity;
mod strings;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use intake::analysis::{self, Analyser, Consumer};
use intake::config::Config;
use intake::metrics::Metrics;
use intake::store::queue::Topology;

/// The rules directory: `INTAKE_RULES_DIR`, else the starter set beside the
/// package (development) or under /usr/share/intake (installed).
fn rules_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("INTAKE_RULES_DIR") {
        return d.into();
    }
    let dev = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules");
    if dev.is_dir() {
        dev
    } else {
        PathBuf::from("/usr/share/intake/rules")
    }
}

/// Every analyser: the library's, then the worker's.
fn analysers(pool: Option<sqlx::PgPool>) -> Vec<Box<dyn Analyser>> {
    let mut v = analysis::builtin();
    v.push(Box::new(similarity::Similarity));
    v.push(Box::new(executable::Executable));
    v.push(Box::new(strings::Strings));
    v.push(Box::new(rules::Rules::open(&rules_dir())));
    if let Some(pool) = pool {
        v.push(Box::new(reputation::Reputation {
            pool,
            runtime: tokio::runtime::Handle::current(),
        }));
    }
    v
}

/// `intake-worker analyse [--time] FILE...`: the analysers (all but the
/// database look-up) on local files, one JSON object per file — for
/// cross-checks against other tools. `--time` reports on stderr the bytes
/// analysed and the seconds the analysers took (start-up and rule compiling
/// excluded), in all and per analyser, for the speed benchmark. Never
/// executes the files.
fn analyse_files(args: &[String]) -> ExitCode {
    let time = args.first().is_some_and(|a| a == "--time");
    let files = &args[usize::from(time)..];
    let set = analysers(None);
    let mut status = ExitCode::SUCCESS;
    let (mut analysed, mut busy) = (0u64, std::time::Duration::ZERO);
    let mut each = vec![std::time::Duration::ZERO; set.len()];
    for f in files {
        let bytes = match std::fs::read(f) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("intake-worker: {f}: {e}");
                status = ExitCode::from(2);
                continue;
            }
        };
        let job = intake::store::queue::SampleJob {
            job_id: uuid::Uuid::nil(),
            sha256: intake::digest::Sha256::of(&bytes),
            size: bytes.len() as u64,
            kind: intake::decide::classify::kind_of(
                &bytes,
                intake::decide::classify::text_head(&bytes).as_deref(),
            ),
            sr_number: intake::sr::SrNumber::new(0, 0),
            submission_id: uuid::Uuid::nil(),
            severity: intake::sr::Severity::MEDIUM,
            attempt: 1,
        };
        let mut out = serde_json::Map::new();
        out.insert("file".into(), serde_json::json!(f));
        for (a, spent) in set.iter().zip(each.iter_mut()) {
            let started = std::time::Instant::now();
            let r = a
                .analyse(&bytes, &job)
                .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }));
            let took = started.elapsed();
            *spent += took;
            busy += took;
            out.insert(a.name().into(), r);
        }
        analysed += bytes.len() as u64;
        println!("{}", serde_json::Value::Object(out));
    }
    if time {
        eprintln!("analysed {analysed} bytes in {:.6} s", busy.as_secs_f64());
        for (a, spent) in set.iter().zip(&each) {
            eprintln!("  {:<12} {:.6} s", a.name(), spent.as_secs_f64());
        }
    }
    status
}

fn main() -> ExitCode {
    init_logs();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("analyse") {
        return analyse_files(&args[1..]);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("intake-worker: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("intake-worker: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let path = std::env::var_os("INTAKE_CONFIG").map(std::path::PathBuf::from);
    let cfg = Config::load(path.as_deref())?;
    let pool = intake::store::database::connect(&cfg.database_url, 8)
        .await
        .context("PostgreSQL (start it, set INTAKE_DATABASE_URL, or run `intake migrate`)")?;
    let blobs = cfg
        .blobs(tokio::runtime::Handle::current())
        .context("blob store")?;
    let metrics = Metrics::new();
    let listen = std::env::var("INTAKE_WORKER_LISTEN").unwrap_or_else(|_| "127.0.0.1:9091".into());
    let served = metrics.clone();
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    tokio::spawn(async move {
        let app = axum::Router::new()
            .route(
                "/metrics",
                axum::routing::get(move || async move { served.render() }),
            )
            .route("/healthz", axum::routing::get(|| async { "ok\n" }));
        let _ = axum::serve(listener, app).await;
    });
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|| "worker".into());
    let consumer = Consumer {
        pool: pool.clone(),
        blobs,
        topology: Topology::new(&cfg.queue_prefix),
        amqp_url: cfg.amqp_url.clone(),
        prefetch: cfg.prefetch,
        max_attempts: cfg.max_attempts,
        max_starts: cfg.max_starts,
        retry_delay_ms: cfg.retry_delay_ms,
        analysers: Arc::new(analysers(Some(pool.clone()))),
        metrics,
        actor: format!("worker@{host}-{}", std::process::id()),
    };
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return,
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("stopping: finishing the jobs in flight");
        let _ = stop_tx.send(true);
    });
    tracing::info!(actor = %consumer.actor, "consuming");
    let handled = consumer.run_until_stopped(stop).await;
    tracing::info!(handled, "stopped");
    Ok(())
}

fn init_logs() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,intake=info,intake_worker=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
