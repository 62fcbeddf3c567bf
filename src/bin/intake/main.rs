//! The `intake` command: the operator's edge of the library. Errors become one
//! clear line and an exit status; nothing here decides anything.

mod app;
mod check;
mod demo;
mod ingest;
mod load;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "intake",
    version,
    about = "Malware-sample submission intake for a support lab"
)]
struct Cli {
    /// Configuration file (TOML); INTAKE_* variables override it.
    #[arg(long, global = true, env = "INTAKE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// What would intake do with this input? Runs the ingress rules on one
    /// email (.eml) or portal upload directory, without database or broker.
    Check(check::Args),
    /// Run the whole pipeline on the demo corpus and print what happened.
    Demo {
        /// The demo corpus.
        #[arg(long, default_value = "samples")]
        samples: PathBuf,
    },
    /// Run the ingress service: SMTP and LMTP listeners, outbox relay,
    /// answer sender, health, readiness and metrics.
    Serve,
    /// Take one message from stdin (an MTA's pipe transport). Exit status 0:
    /// stored; 75: temporary failure, try again; 65: refused (too big).
    IngestEml(ingest::EmlArgs),
    /// Take every message of a Maildir or a folder of .eml files.
    IngestDir {
        dir: PathBuf,
        /// Messages taken in at once.
        #[arg(long, default_value_t = 4)]
        jobs: usize,
    },
    /// Create the database if needed and apply the migrations: the only
    /// command that changes the schema (besides `demo` on its own database).
    Migrate,
    /// Record inputs that were stored but never recorded (after a crash).
    Replay,
    /// Stored inputs whose deciding failed and that were parked.
    Inputs {
        #[command(subcommand)]
        action: InputsAction,
    },
    /// Manage entitlements.
    Grants {
        #[command(subcommand)]
        action: GrantsAction,
    },
    /// The blob store.
    Blobs {
        #[command(subcommand)]
        action: BlobsAction,
    },
    /// Manage known hashes (the lab's verdicts and imported lists).
    Hashes {
        #[command(subcommand)]
        action: HashesAction,
    },
    /// Staff actions on a service request; the customer is told.
    Sr {
        #[command(subcommand)]
        action: SrAction,
    },
    /// The staff's queues.
    Triage {
        #[command(subcommand)]
        action: TriageAction,
    },
    /// Lab staff accounts.
    Staff {
        #[command(subcommand)]
        action: StaffAction,
    },
    /// Send a mix of inputs (SMTP, LMTP, portal uploads) at a rate or as fast
    /// as intake takes them, inject faults, and write a ledger; with
    /// `--audit`, audit it once intake drains.
    Load(Box<load::LoadArgs>),
    /// Match a load ledger against the database, the broker and the sink's
    /// mailbox: exits non-zero on any input lost or duplicated.
    Audit(load::AuditArgs),
    /// Queue every known sample for analysis again, so analysers with a new
    /// version (new YARA rules, say) run over old samples. Analysers whose
    /// finding exists at their current version are skipped by the workers.
    Reanalyse,
}

#[derive(Subcommand)]
enum SrAction {
    /// Everything about the SR: facts, deadlines, submissions with each
    /// sample's findings, contact attempts, correspondence, history.
    Show {
        sr: intake::sr::SrNumber,
        /// The whole record as JSON (the API's shape).
        #[arg(long)]
        json: bool,
    },
    /// Any action of the handbook, with its fields as KEY=VALUE: claim,
    /// assign assignee=, severity severity=, verdict sha256= verdict=
    /// detection= note=, message text=, ask_info text=, contact via=phone|mail
    /// note=, escalate why=, close resolution= note=, reopen, retry sha256=,
    /// detection sha256=.
    Act {
        sr: intake::sr::SrNumber,
        action: String,
        fields: Vec<String>,
        #[arg(long, env = "USER", default_value = "staff")]
        by: String,
    },
    /// Write one sample as a zip encrypted with the password `infected`
    /// (never the raw bytes).
    Download {
        sr: intake::sr::SrNumber,
        sha256: intake::digest::Sha256,
        /// Where to write the zip.
        #[arg(long, short)]
        output: std::path::PathBuf,
        #[arg(long, env = "USER", default_value = "staff")]
        by: String,
    },
    /// Close the SR.
    Close {
        sr: intake::sr::SrNumber,
        /// A line for the customer.
        #[arg(long)]
        note: Option<String>,
        /// resolved, no_contact, duplicate or withdrawn.
        #[arg(long, default_value = "resolved")]
        resolution: String,
        /// Who closes it (the event log's actor).
        #[arg(long, env = "USER", default_value = "staff")]
        by: String,
    },
    /// Set the SR's severity; its deadlines are planned afresh from now.
    Severity {
        sr: intake::sr::SrNumber,
        /// 1 (business stopped) to 5 (information request)
        severity: u8,
        #[arg(long, env = "USER", default_value = "staff")]
        by: String,
    },
    /// Record staff's verdict on one file of the SR.
    Verdict {
        sr: intake::sr::SrNumber,
        sha256: intake::digest::Sha256,
        /// malicious (with --detection), potentially_unwanted or clean
        verdict: String,
        /// The detection name of a malicious file.
        #[arg(long)]
        detection: Option<String>,
        #[arg(long)]
        note: Option<String>,
        #[arg(long, env = "USER", default_value = "staff")]
        by: String,
    },
}

#[derive(Subcommand)]
enum TriageAction {
    /// One page of a queue, the next deadline first; breached deadlines
    /// say by how long.
    List {
        /// urgent, sev1..sev5, unverified, needs_info or dead
        #[arg(long, default_value = "urgent")]
        queue: intake::triage::queue::Queue,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// The key the previous page ended with.
        #[arg(long)]
        after: Option<intake::triage::queue::Key>,
        /// KEY=VALUE, repeatable: status, tier, severity, channel,
        /// assignee (none or an address), verdict, grant (number or
        /// company), older_than_days.
        #[arg(long = "filter", value_parser = key_value)]
        filters: Vec<(String, String)>,
    },
    /// Give SRs to a staff member (or, with `--to none`, to no one), all
    /// or none.
    Assign {
        #[arg(required = true)]
        srs: Vec<intake::sr::SrNumber>,
        /// A staff account's address, or `none`.
        #[arg(long)]
        to: String,
        /// Who assigns (the event log's actor).
        #[arg(long, env = "USER", default_value = "staff")]
        by: String,
    },
    /// The first-response figures (average and 95th percentile over the
    /// last day and week), with the acknowledgement's beside them.
    FirstResponse,
    /// Run one pass of the escalation clock now (as `intake serve` does
    /// every `clock_interval_secs`), and say how long it took.
    Pass,
}

fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

#[derive(Subcommand)]
enum StaffAction {
    /// Add a staff account; its password is read from the first line of
    /// stdin (the handbook's rules apply).
    Add {
        email: String,
        #[arg(long)]
        name: String,
        /// analyst, lead or admin
        #[arg(long, default_value = "analyst")]
        role: intake::account::Role,
        /// Who adds it (the event log's actor).
        #[arg(long, env = "USER", default_value = "operator")]
        by: String,
    },
    /// Disable a staff account: no more sign-ins, its sessions and API
    /// tokens end.
    Disable {
        email: String,
        #[arg(long, env = "USER", default_value = "operator")]
        by: String,
    },
    /// List the staff accounts.
    List,
    /// Make an API token for a staff member's scripts (the triage API);
    /// printed this once.
    Token {
        email: String,
        /// What the token is for.
        #[arg(long)]
        name: String,
        /// Who makes it (the event log's actor).
        #[arg(long, env = "USER", default_value = "staff")]
        by: String,
    },
}

#[derive(Subcommand)]
enum BlobsAction {
    /// Rewrite every blob stored before neutering in neutered form (safe to
    /// run again, and while intake runs).
    Neuter,
}

#[derive(Subcommand)]
enum InputsAction {
    /// List the inputs parked as failed, with their tries and reason.
    Failed {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Put a parked input back for the replay loop, its tries counted afresh.
    Retry { id: i64 },
}

#[derive(Subcommand)]
enum HashesAction {
    /// Import a CSV: hash,verdict,source,note (verdict: malicious, suspicious
    /// or clean; hash: MD5, SHA-1 or SHA-256).
    Import {
        file: PathBuf,
        /// Source name for rows that give none.
        #[arg(long, default_value = "import")]
        source: String,
    },
}

#[derive(Subcommand)]
enum GrantsAction {
    /// Import grants from a CSV file:
    /// grant_number,company,email_domains,support_level,expires_on
    Import { file: PathBuf },
    /// Set a grant's business-day calendar (for the contact-attempt rule),
    /// or with no option show it.
    Calendar {
        grant: String,
        /// IANA time zone, such as Asia/Shanghai (default UTC).
        #[arg(long)]
        time_zone: Option<String>,
        /// ISO weekdays that are business days, 1 (Monday) to 7 (default 1,2,3,4,5).
        #[arg(long, value_delimiter = ',')]
        weekdays: Option<Vec<u8>>,
        /// A holiday (YYYY-MM-DD); repeat for each.
        #[arg(long = "holiday")]
        holidays: Vec<chrono::NaiveDate>,
        /// Who sets it (the event log's actor).
        #[arg(long, env = "USER", default_value = "staff")]
        by: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Check(args) = &cli.command {
        return check::run(args, cli.config.as_deref());
    }
    // The demo prints its own table; its logs stay quiet unless asked for.
    init_logs(if matches!(cli.command, Command::Demo { .. }) {
        "warn"
    } else {
        "warn,intake=info"
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("intake: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = cli.config.as_deref();
    if let Command::IngestEml(args) = &cli.command {
        return runtime.block_on(ingest::eml(config, args));
    }
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Check(_) | Command::IngestEml(_) => Ok(()),
            Command::IngestDir { dir, jobs } => ingest::dir(config, dir, *jobs).await,
            Command::Demo { samples } => demo::run(config, samples).await,
            Command::Serve => serve::run(config).await,
            Command::Load(args) => load::run(config, args).await,
            Command::Audit(args) => load::audit(config, args).await,
            Command::Migrate => {
                // Needs PostgreSQL only (and a role that may change the schema).
                let cfg = intake::config::Config::load(config)?;
                intake::store::database::migrate(&cfg.database_url, 2)
                    .await
                    .map_err(app::explain)?;
                println!(
                    "migrations applied (schema version {})",
                    intake::store::database::schema_wanted()
                );
                Ok(())
            }
            Command::Replay => {
                let app = app::App::start(config).await?;
                let n = app.intake.replay_pending().await?;
                println!("recorded {n} stored inputs");
                Ok(())
            }
            Command::Blobs {
                action: BlobsAction::Neuter,
            } => {
                let app = app::App::start_without_broker(config).await?;
                let blobs = app.intake.blobs.clone();
                let done = tokio::task::spawn_blocking(move || blobs.neuter_all()).await??;
                println!(
                    "neutered {} blobs; {} already were; {} do not hash to their name (left as they are)",
                    done.converted, done.kept, done.damaged
                );
                Ok(())
            }
            Command::Inputs { action } => {
                let app = app::App::start_without_broker(config).await?;
                let pool = &app.intake.pool;
                match action {
                    InputsAction::Failed { json } => {
                        let parked = intake::store::inputs::failed(pool).await?;
                        if *json {
                            for p in &parked {
                                println!("{}", serde_json::to_string(p)?);
                            }
                        } else {
                            print_parked(&parked);
                        }
                    }
                    InputsAction::Retry { id } => {
                        if intake::store::inputs::retry(pool, *id).await? {
                            println!("input {id} goes back to the replay loop of `intake serve`");
                        } else {
                            anyhow::bail!("input {id} is not parked as failed");
                        }
                    }
                }
                Ok(())
            }
            Command::Hashes {
                action: HashesAction::Import { file, source },
            } => {
                let app = app::App::start(config).await?;
                let f = std::fs::File::open(file)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
                let rows = intake::store::reputation::parse_csv(f, source)?;
                let n = intake::store::reputation::import(&app.intake.pool, &rows).await?;
                println!("imported {n} known hashes");
                Ok(())
            }
            Command::Sr { action } => {
                let app = app::App::start_without_broker(config).await?;
                let now = app.intake.clock.now();
                let (sr, what, by) = match action {
                    SrAction::Show { sr, json } => {
                        let Some(d) = intake::triage::dossier::read(&app.intake, sr, now).await?
                        else {
                            anyhow::bail!("no service request {sr}");
                        };
                        if *json {
                            println!("{}", serde_json::to_string_pretty(&d)?);
                        } else {
                            print_dossier(&d);
                        }
                        return Ok(());
                    }
                    SrAction::Download {
                        sr,
                        sha256,
                        output,
                        by,
                    } => {
                        let by = intake::triage::By { actor: by, now };
                        let zip = intake::triage::sample::download(&app.intake, sr, sha256, by)
                            .await?;
                        std::fs::write(output, &zip)
                            .map_err(|e| anyhow::anyhow!("{}: {e}", output.display()))?;
                        println!(
                            "{}: {} bytes, AES-256, password {}",
                            output.display(),
                            zip.len(),
                            intake::triage::sample::PASSWORD
                        );
                        return Ok(());
                    }
                    SrAction::Act {
                        sr,
                        action,
                        fields,
                        by,
                    } => {
                        let mut pairs = Vec::new();
                        for f in fields {
                            let (k, v) = f.split_once('=').ok_or_else(|| {
                                anyhow::anyhow!("{f:?}: fields are KEY=VALUE")
                            })?;
                            pairs.push((k.to_owned(), v.to_owned()));
                        }
                        let get = |k: &str| {
                            pairs
                                .iter()
                                .find(|(n, _)| n == k)
                                .map(|(_, v)| v.as_str())
                        };
                        let what =
                            intake::triage::Act::parse(action, get).map_err(anyhow::Error::msg)?;
                        (sr, what, by)
                    }
                    SrAction::Severity { sr, severity, by } => {
                        let severity = intake::sr::Severity::try_from(*severity)
                            .map_err(anyhow::Error::msg)?;
                        (sr, intake::triage::Act::Severity(severity), by)
                    }
                    SrAction::Close {
                        sr,
                        note,
                        resolution,
                        by,
                    } => {
                        let what = intake::triage::Act::Close {
                            resolution: resolution.parse().map_err(anyhow::Error::msg)?,
                            note: note.clone(),
                        };
                        (sr, what, by)
                    }
                    SrAction::Verdict {
                        sr,
                        sha256,
                        verdict,
                        detection,
                        note,
                        by,
                    } => {
                        let verdict =
                            intake::sr::StaffVerdict::parse(verdict, detection.as_deref())
                                .map_err(anyhow::Error::msg)?;
                        let what = intake::triage::Act::Verdict {
                            sha256: *sha256,
                            verdict,
                            note: note.clone(),
                        };
                        (sr, what, by)
                    }
                };
                let by = intake::triage::By { actor: by, now };
                let done = intake::triage::act(&app.intake, sr, &what, by).await?;
                let srs: Vec<String> = done.srs.iter().map(ToString::to_string).collect();
                println!(
                    "{}: done on {}; {} customer notice(s) queued",
                    what.name(),
                    srs.join(", "),
                    done.notified
                );
                Ok(())
            }
            Command::Triage {
                action:
                    TriageAction::List {
                        queue,
                        limit,
                        after,
                        filters,
                    },
            } => {
                use intake::triage::queue;
                let filter = queue::Filter::parse(filters.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    .map_err(anyhow::Error::msg)?;
                if let Some((k, _)) = filters.iter().find(|(k, _)| !queue::FILTER_KEYS.contains(&k.as_str())) {
                    anyhow::bail!("{k:?} is not a filter ({})", queue::FILTER_KEYS.join(", "));
                }
                let app = app::App::start_without_broker(config).await?;
                let now = app.intake.clock.now();
                // No one is signed in here: `assignee=me` matches nothing.
                let reader = queue::Reader { account_id: 0, now };
                let limit = (*limit).clamp(1, 1000);
                let lines = queue::page(&app.intake.pool, *queue, &filter, reader, *after, limit).await?;
                println!(
                    "{:<15} {:>3} {:<11} {:<16} {:<7} {:<20} {:<22} {:<24} company",
                    "sr", "sev", "tier", "status", "channel", "next deadline", "breached", "assignee"
                );
                for l in &lines {
                    let breached = l
                        .late_by(now)
                        .map(|d| format!("BREACHED by {}", queue::late(d)))
                        .unwrap_or_else(|| if l.waiting { "(waits on customer)".into() } else { String::new() });
                    println!(
                        "{:<15} {:>3} {:<11} {:<16} {:<7} {:<20} {:<22} {:<24} {}",
                        l.number.to_string(),
                        l.severity.level(),
                        l.tier.as_str(),
                        l.status.as_str(),
                        l.channel.as_str(),
                        l.next_due
                            .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
                            .unwrap_or_else(|| "-".into()),
                        breached,
                        l.assignee.as_deref().unwrap_or("-"),
                        l.company.as_deref().unwrap_or("")
                    );
                }
                if let Some(last) = lines.last().filter(|_| lines.len() as i64 == limit) {
                    println!("more: --after {}", last.key);
                }
                Ok(())
            }
            Command::Triage {
                action: TriageAction::Assign { srs, to, by },
            } => {
                use intake::triage::{AssignTo, By};
                let app = app::App::start_without_broker(config).await?;
                let to = match to.as_str() {
                    "none" => AssignTo::Nobody,
                    email => AssignTo::Staff(email.to_owned()),
                };
                let by = By {
                    actor: by,
                    now: app.intake.clock.now(),
                };
                let n = intake::triage::assign(&app.intake.pool, srs, &to, by).await?;
                println!("{n} of {} SRs changed hands", srs.len());
                Ok(())
            }
            Command::Triage {
                action: TriageAction::Pass,
            } => {
                let app = app::App::start_without_broker(config).await?;
                let started = std::time::Instant::now();
                let n = intake::triage::clock::pass(&app.intake.pool, app.intake.clock.now(), &app.intake.metrics)
                    .await?;
                println!("escalated {n} SRs in {:.1} ms", started.elapsed().as_secs_f64() * 1000.0);
                Ok(())
            }
            Command::Triage {
                action: TriageAction::FirstResponse,
            } => {
                let app = app::App::start_without_broker(config).await?;
                let f = intake::triage::response::figures(&app.intake.pool, app.intake.clock.now()).await?;
                let min = |s: Option<f64>| s.map_or("-".to_owned(), |s| format!("{:.1} min", s / 60.0));
                println!("{:<6} {:<16} {:>10} {:>10} {:>6} {:>8}", "window", "of", "average", "p95", "SRs", "waiting");
                for (name, w) in [("day", f.day), ("week", f.week)] {
                    for (of, x) in [("staff", w.staff), ("acknowledgement", w.acknowledgement)] {
                        println!(
                            "{name:<6} {of:<16} {:>10} {:>10} {:>6} {:>8}",
                            min(x.avg_secs),
                            min(x.p95_secs),
                            x.srs,
                            x.waiting
                        );
                    }
                }
                println!("target: {} min on average", f.target_avg_secs / 60);
                Ok(())
            }
            Command::Staff { action } => {
                let app = app::App::start_without_broker(config).await?;
                let (pool, now) = (&app.intake.pool, app.intake.clock.now());
                match action {
                    StaffAction::Add {
                        email,
                        name,
                        role,
                        by,
                    } => {
                        let mut password = String::new();
                        std::io::stdin().read_line(&mut password)?;
                        let password = password.trim_end_matches(['\r', '\n']);
                        if let Err(problems) = intake::account::password::check(password) {
                            let said: Vec<String> =
                                problems.iter().map(ToString::to_string).collect();
                            anyhow::bail!("the password on stdin: {}", said.join("; "));
                        }
                        let owned = password.to_owned();
                        let hash = tokio::task::spawn_blocking(move || {
                            intake::account::password::hash(&owned)
                        })
                        .await??;
                        intake::store::staff::add(pool, email, name, *role, &hash, by, now)
                            .await?;
                        println!("added {email} ({})", role.as_str());
                    }
                    StaffAction::Disable { email, by } => {
                        intake::store::staff::disable(pool, email, by, now).await?;
                        println!("disabled {email}");
                    }
                    StaffAction::Token { email, name, by } => {
                        let secret = intake::store::staff::token(pool, email, name, by, now).await?;
                        println!("{}", secret.as_str());
                        eprintln!("the token is shown this once; send it as `Authorization: Bearer <token>`");
                    }
                    StaffAction::List => {
                        println!("{:<32} {:<8} {:<20} {:<10} name", "email", "role", "added", "state");
                        for m in intake::store::staff::list(pool).await? {
                            println!(
                                "{:<32} {:<8} {:<20} {:<10} {}",
                                m.email,
                                m.role.as_str(),
                                m.created_at.format("%Y-%m-%d %H:%M"),
                                if m.disabled_at.is_some() { "disabled" } else { "active" },
                                m.name
                            );
                        }
                    }
                }
                Ok(())
            }
            Command::Reanalyse => {
                let app = app::App::start(config).await?;
                let n = intake::store::record::requeue_all(&app.intake.pool).await?;
                println!("queued {n} samples for analysis; `intake serve` relays them");
                Ok(())
            }
            Command::Grants {
                action: GrantsAction::Import { file },
            } => {
                let app = app::App::start(config).await?;
                let f = std::fs::File::open(file)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
                let n = intake::store::grants::import(&app.intake.pool, &intake::store::grants::parse_csv(f)?)
                    .await?;
                println!("imported {n} grants");
                Ok(())
            }
            Command::Grants {
                action:
                    GrantsAction::Calendar {
                        grant,
                        time_zone,
                        weekdays,
                        holidays,
                        by,
                    },
            } => {
                use intake::sr::calendar::CalendarSpec;
                let app = app::App::start_without_broker(config).await?;
                let pool = &app.intake.pool;
                if time_zone.is_some() || weekdays.is_some() || !holidays.is_empty() {
                    let d = CalendarSpec::default();
                    let spec = CalendarSpec {
                        time_zone: time_zone.clone().unwrap_or(d.time_zone),
                        weekdays: weekdays.clone().unwrap_or(d.weekdays),
                        holidays: holidays.clone(),
                    };
                    let now = app.intake.clock.now();
                    intake::store::grants::set_calendar(pool, grant, &spec, by, now).await?;
                }
                let c = intake::store::grants::calendar(pool, grant).await?;
                println!("{grant}: {c}");
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, the causes joined: the operator reads this, not a trace.
            eprintln!("intake: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

/// The parked inputs as a table, one line each; the reason on one line.
fn print_parked(parked: &[intake::store::inputs::Parked]) {
    if parked.is_empty() {
        println!("no input is parked as failed");
        return;
    }
    println!(
        "{:>8}  {:<7}  {:<20}  {:>5}  {:<40}  reason",
        "input", "channel", "failed at", "tries", "message id / upload id"
    );
    for p in parked {
        let when = p
            .failed_at
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        let reason = p.error.as_deref().unwrap_or("").replace(['\n', '\r'], " ");
        let id: String = p.external_id.chars().take(40).collect();
        println!(
            "{:>8}  {:<7}  {:<20}  {:>5}  {:<40}  {reason}",
            p.id, p.channel, when, p.attempts, id
        );
    }
}

fn init_logs(default: &str) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

/// The terminal's view of an SR.
fn print_dossier(d: &intake::triage::dossier::Dossier) {
    println!(
        "{} · severity {} · {} · {}{}",
        d.number,
        d.severity,
        d.tier.as_str(),
        d.status,
        d.resolution
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    );
    println!(
        "grant {} · {} · customer {} · assignee {}",
        d.grant_number.as_deref().unwrap_or("—"),
        d.company.as_deref().unwrap_or("—"),
        d.customer_email.as_deref().unwrap_or("—"),
        d.assignee.as_deref().unwrap_or("nobody")
    );
    println!(
        "next deadline {} · contact attempts counted {}/{}",
        d.next_due.map(|t| t.to_rfc3339()).unwrap_or("—".into()),
        d.contact.standing.counted,
        d.contact.standing.needed
    );
    for s in &d.submissions {
        println!("submission {} · {} · {}", s.id, s.created_at, s.outcome);
        for x in &s.samples {
            // Names are the customer's: shown escaped, never as they are.
            println!(
                "  {} {:?} · {} · provisional {} · staff {} · {} SRs, {} companies{}",
                x.sha256,
                x.path,
                x.kind,
                x.provisional,
                x.staff_verdict
                    .as_ref()
                    .map(|v| v.verdict.as_str())
                    .unwrap_or("—"),
                x.cluster.srs,
                x.cluster.companies,
                if x.pending {
                    " · analysis pending"
                } else {
                    ""
                }
            );
        }
        for r in &s.rejected {
            println!("  refused {:?}: {}", r.path, r.reason);
        }
    }
    println!("history:");
    for e in &d.history {
        println!(
            "  {} {} {} {}",
            e.at.to_rfc3339(),
            e.actor,
            e.kind,
            e.detail
        );
    }
}
