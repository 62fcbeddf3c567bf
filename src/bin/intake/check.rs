//! `intake check`: the decision on one input, as the fixed JSON report or a
//! human summary. Exit 0 whenever a report was produced, 2 when the arguments
//! or the path are unusable.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use std::path::Path;

use intake::config::Config;
use intake::decide::{self, Discard};
use intake::{mail, portal};

#[derive(clap::Args)]
pub struct Args {
    /// An .eml file (email) or an upload directory holding metadata.json (portal).
    file: PathBuf,
    /// How the input arrived.
    #[arg(long, value_enum, default_value = "email")]
    channel: ChannelArg,
    /// Print exactly one JSON object (the contract of shared/CHECK_REPORT.md).
    #[arg(long)]
    json: bool,
    /// The vendor name in the "<vendor> Product Name" label (default: the
    /// configuration's, McAfee unless set).
    #[arg(long)]
    vendor: Option<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ChannelArg {
    Email,
    Portal,
}

/// Decides `args.file` with the policy of the configuration at `config`
/// (its `[limits]` and vendor), as the running pipeline would.
pub fn run(args: &Args, config: Option<&Path>) -> ExitCode {
    let mut cfg = match Config::load(config) {
        Ok(c) => c,
        Err(e) => return unusable(&e.to_string()),
    };
    if let Some(v) = &args.vendor {
        cfg.vendor = v.clone();
    }
    let policy = cfg.policy();
    let report = match args.channel {
        ChannelArg::Email => {
            let raw = match std::fs::read(&args.file) {
                Ok(r) => r,
                Err(e) => return unusable(&format!("{}: {e}", args.file.display())),
            };
            let env = mail::parse(&raw);
            let input = env.into_input(&policy.labels);
            decide::decide(&input, &policy, &Discard)
        }
        ChannelArg::Portal => match portal::read_upload(&args.file) {
            Ok(input) => decide::decide(&input, &policy, &Discard),
            Err(e) => return unusable(&e.to_string()),
        },
    };
    let report = match report {
        Ok(r) => r,
        // Discard never fails; keep the edge honest anyway.
        Err(e) => return unusable(&e.to_string()),
    };
    let out = if args.json {
        match serde_json::to_string(&report) {
            Ok(s) => s + "\n",
            Err(e) => return unusable(&e.to_string()),
        }
    } else {
        report.summary()
    };
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
    ExitCode::SUCCESS
}

fn unusable(msg: &str) -> ExitCode {
    eprintln!("intake check: {msg}");
    ExitCode::from(2)
}
