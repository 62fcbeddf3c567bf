//! `intake load` and `intake audit`: the proof under load and faults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow};
use intake::audit;
use intake::load::{self, client::Portal, faults, inputs::Sender, ledger::FaultKind};

#[derive(clap::Args)]
pub struct LoadArgs {
    /// intake's SMTP listener; repeat for several serves.
    #[arg(long)]
    smtp: Vec<SocketAddr>,
    /// intake's LMTP listener (emails alternate between the two by
    /// connection); repeat for several serves.
    #[arg(long)]
    lmtp: Vec<SocketAddr>,
    /// The portal's base URL, for uploads over the API (a customer account
    /// and token are made in the database for the run).
    #[arg(long)]
    portal: Option<String>,
    /// Inputs to send (replies to needs-info answers come on top).
    #[arg(long)]
    count: Option<u64>,
    /// Or send for this many seconds.
    #[arg(long)]
    duration: Option<u64>,
    /// Inputs per second; leave out to send as fast as intake takes them.
    #[arg(long)]
    rate: Option<f64>,
    /// Connections sending at once.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// KIND=WEIGHT,…: good, needs_info, rejected, duplicate, upload; and
    /// reply=PERCENT of needs-info answers replied to.
    #[arg(
        long,
        default_value = "good=55,needs_info=10,rejected=5,duplicate=5,upload=25,reply=100"
    )]
    mix: String,
    /// Bytes of each sample (sent in an `infected` zip).
    #[arg(long, default_value_t = 100_000)]
    size: usize,
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long, default_value = "bob@acme.example")]
    from: String,
    #[arg(long, default_value = "samples@localhost")]
    to: String,
    #[arg(long, default_value = "4321-0001")]
    grant: String,
    /// Where the ledger is written (one JSON line per input and fault).
    #[arg(long, default_value = "load-ledger.jsonl")]
    ledger: PathBuf,
    /// Faults to inject, comma-separated: kill_serve, kill_worker, broker,
    /// database, cut, blob_full.
    #[arg(long, value_delimiter = ',')]
    faults: Vec<FaultKind>,
    /// Times each fault is injected.
    #[arg(long, default_value_t = 1)]
    fault_each: u32,
    /// Seconds a broker stop, a cut or a full disk lasts.
    #[arg(long, default_value_t = 5)]
    fault_hold: u64,
    /// Run and supervise `intake serve` (this command line), restarting it
    /// after a kill as systemd would.
    #[arg(long)]
    serve: Option<String>,
    /// Run and supervise an analysis worker (this command line).
    #[arg(long)]
    worker: Option<String>,
    /// Number of workers to run with `--worker`.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Run `--serve` this many times (several hosts, simulated); each gets
    /// INTAKE_INSTANCE=N and must be told its own ports by its command.
    #[arg(long, default_value_t = 1)]
    serves: usize,
    /// Folder for the supervised processes' logs.
    #[arg(long, default_value = "target/load")]
    logs: PathBuf,
    /// Listen here and forward to --broker, so `cut` can sever intake from
    /// RabbitMQ (point INTAKE_AMQP_URL of the processes at this address).
    #[arg(long)]
    broker_proxy: Option<SocketAddr>,
    #[arg(long, default_value = "127.0.0.1:5672")]
    broker: SocketAddr,
    /// The blob folder, on a small file system of its own, for `blob_full`.
    #[arg(long)]
    blob_fs: Option<PathBuf>,
    /// How PostgreSQL is restarted.
    #[arg(long)]
    database_restart: Option<String>,
    /// Receive intake's answers here (set INTAKE_ANSWER_RELAY to it), into
    /// the Maildir --mailbox.
    #[arg(long)]
    sink: Option<SocketAddr>,
    #[arg(long, default_value = "target/load/mailbox")]
    mailbox: PathBuf,
    /// Seconds an input is tried before it is given up.
    #[arg(long, default_value_t = 300)]
    give_up: u64,
    /// Seconds to wait after the last input for answers still to reply to.
    #[arg(long, default_value_t = 60)]
    reply_wait: u64,
    /// When done, wait for intake to drain and audit the ledger (the
    /// supervised processes run until then).
    #[arg(long)]
    audit: bool,
    #[arg(long, default_value_t = 600)]
    drain_timeout: u64,
}

#[derive(clap::Args)]
pub struct AuditArgs {
    ledger: PathBuf,
    /// The sink's Maildir: deliveries are counted per Message-ID.
    #[arg(long)]
    mailbox: Option<PathBuf>,
    /// Seconds to wait for intake to drain first.
    #[arg(long, default_value_t = 300)]
    drain_timeout: u64,
}

fn database_restart_default() -> String {
    let version = std::fs::read_dir("/etc/postgresql")
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .unwrap_or_else(|| "15".to_owned());
    format!("pg_ctlcluster --skip-systemctl-redirect {version} main restart")
}

pub async fn run(config: Option<&Path>, a: &LoadArgs) -> anyhow::Result<()> {
    let cfg = intake::config::Config::load(config)?;
    std::fs::create_dir_all(&a.logs).with_context(|| a.logs.display().to_string())?;
    let mix = a.mix.parse().map_err(|e: String| anyhow!("--mix: {e}"))?;
    let proxy = match a.broker_proxy {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("--broker-proxy {addr}"))?;
            Some(load::proxy::Proxy::start(l, a.broker))
        }
        None => None,
    };
    // The answer sink runs until the audit is done: answers still drain
    // after the last input.
    let (answers, sink) = match a.sink {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("--sink {addr}"))?;
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let task = tokio::spawn(load::sink::run(l, a.mailbox.clone(), tx));
            (Some(rx), Some(task))
        }
        None => (None, None),
    };
    let serves = supervise("serve", a.serve.as_deref(), a.serves, &a.logs)?;
    let workers = supervise("worker", a.worker.as_deref(), a.workers, &a.logs)?;
    // Wait for intake to listen before the clock starts.
    for &addr in a.smtp.iter().chain(a.lmtp.iter()) {
        let until = tokio::time::Instant::now() + Duration::from_secs(120);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            if tokio::time::Instant::now() >= until {
                anyhow::bail!(
                    "nothing listens on {addr} (see the logs in {})",
                    a.logs.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let portal = match &a.portal {
        None => None,
        Some(url) => {
            let pool = intake::store::database::connect(&cfg.database_url, 2)
                .await
                .map_err(crate::app::explain)?;
            let email = format!(
                "load+{}@{}",
                a.grant,
                a.from.rsplit('@').next().unwrap_or("acme.example")
            );
            let (token, prefix) = load::portal_account(&pool, &a.grant, &email).await?;
            pool.close().await;
            Some((Portal::new(url, &token)?, prefix))
        }
    };
    let seed = a
        .seed
        .unwrap_or_else(|| chrono::Utc::now().timestamp_micros() as u64);
    let run_id = format!("L{}", chrono::Utc::now().format("%Y%m%d%H%M%S"));
    let plan = load::Plan {
        mix,
        rate: a.rate.filter(|r| *r > 0.0),
        count: a.count,
        duration: a.duration.map(Duration::from_secs),
        connections: a.connections,
        smtp: a.smtp.clone(),
        lmtp: a.lmtp.clone(),
        portal,
        sender: Sender {
            from: a.from.clone(),
            to: a.to.clone(),
            grant: a.grant.clone(),
        },
        size: a.size,
        seed,
        run_id,
        give_up: Duration::from_secs(a.give_up),
        ledger: a.ledger.clone(),
        faults: a.faults.clone(),
        fault_each: a.fault_each,
        targets: faults::Targets {
            serve: serves.clone(),
            worker: workers.clone(),
            proxy,
            blob_dir: a.blob_fs.clone(),
            hold: Duration::from_secs(a.fault_hold),
            database_restart: a
                .database_restart
                .clone()
                .unwrap_or_else(database_restart_default),
        },
        answers,
        reply_wait: Duration::from_secs(a.reply_wait),
        progress: true,
    };
    if a.count.is_none() && a.duration.is_none() {
        anyhow::bail!("say how much to send: --count N or --duration SECONDS");
    }
    let summary = load::run(plan).await?;
    let mut kinds: Vec<String> = summary
        .sent
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    kinds.sort();
    let mut faults: Vec<String> = summary
        .faults
        .iter()
        .map(|(k, n)| format!("{} {n}", k.name()))
        .collect();
    faults.sort();
    println!(
        "sent {} inputs in {:.1} s ({}); accepted {}, {} after a retry, {} not accepted; faults: {}; ledger {}",
        summary.sent.values().sum::<u64>(),
        summary.seconds,
        kinds.join(", "),
        summary.accepted,
        summary.retried,
        summary.not_accepted,
        if faults.is_empty() {
            "none".to_owned()
        } else {
            faults.join(", ")
        },
        a.ledger.display()
    );
    let result = if a.audit {
        audit_ledger(
            &cfg,
            &a.ledger,
            a.sink.map(|_| a.mailbox.as_path()),
            Duration::from_secs(a.drain_timeout),
        )
        .await
    } else {
        Ok(())
    };
    if let Some(t) = sink {
        t.abort();
    }
    for p in serves.iter().chain(workers.iter()) {
        p.stop().await;
    }
    result
}

/// `count` copies of `command` (`{n}` in it is the copy's number), each
/// logging to `NAME-n.log` and restarted when it dies.
fn supervise(
    name: &str,
    command: Option<&str>,
    count: usize,
    logs: &Path,
) -> std::io::Result<Vec<load::supervise::Supervised>> {
    let Some(cmd) = command else {
        return Ok(Vec::new());
    };
    (0..count.max(1))
        .map(|n| {
            load::supervise::Supervised::start(
                &format!("{name}-{n}"),
                &cmd.replace("{n}", &n.to_string()),
                logs.join(format!("{name}-{n}.log")),
            )
        })
        .collect()
}

pub async fn audit(config: Option<&Path>, a: &AuditArgs) -> anyhow::Result<()> {
    let cfg = intake::config::Config::load(config)?;
    audit_ledger(
        &cfg,
        &a.ledger,
        a.mailbox.as_deref(),
        Duration::from_secs(a.drain_timeout),
    )
    .await
}

async fn audit_ledger(
    cfg: &intake::config::Config,
    ledger: &Path,
    mailbox: Option<&Path>,
    drain: Duration,
) -> anyhow::Result<()> {
    let lines = load::ledger::read(ledger)?;
    let pool = intake::store::database::connect(&cfg.database_url, 2)
        .await
        .map_err(crate::app::explain)?;
    let topology = intake::store::queue::Topology::new(&cfg.queue_prefix);
    let sources = audit::facts::Sources {
        pool: &pool,
        amqp_url: &cfg.amqp_url,
        topology: &topology,
        mailbox,
    };
    let backlog = audit::facts::drained(&sources, drain).await?;
    if mailbox.is_some() && backlog.drained() {
        // The mailer's last answers reach the sink a moment after the outbox
        // row is marked sent; wait until the count stops moving.
        let mut last = usize::MAX;
        for _ in 0..20 {
            let n = mailbox.map_or(0, |m| {
                load::sink::read_mailbox(m).map(|v| v.len()).unwrap_or(0)
            });
            if n == last {
                break;
            }
            last = n;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let facts = audit::facts::read(&lines, &sources).await?;
    let report = audit::judge(&lines, &facts);
    print!("{}", audit::render(&report));
    if report.ok() && report.backlog.drained() {
        Ok(())
    } else if !report.backlog.drained() {
        Err(anyhow!("intake did not drain within {} s", drain.as_secs()))
    } else {
        Err(anyhow!("the audit found inputs lost or duplicated"))
    }
}
