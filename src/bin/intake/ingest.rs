//! `intake ingest-eml` (one message on stdin, for an MTA's pipe transport)
//! and `intake ingest-dir` (a Maildir or a folder of `.eml` files). Both
//! store each message before anything judges it, exactly as the listeners do.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use futures_util::StreamExt;
use intake::mail::Delivery;

use crate::app::App;

/// sysexits.h: what an MTA's pipe transport understands.
const EX_DATAERR: u8 = 65;
const EX_TEMPFAIL: u8 = 75;

#[derive(clap::Args)]
pub struct EmlArgs {
    /// The envelope sender (`${sender}` in Postfix's pipe); `<>` or empty for
    /// the null sender.
    #[arg(long)]
    sender: Option<String>,
    /// The envelope recipient(s) (`${recipient}`).
    #[arg(long)]
    recipient: Vec<String>,
    /// The client's address, if the MTA passes it (`${client_address}`).
    #[arg(long)]
    client: Option<String>,
}

/// 0 once the message is stored; 75 (try again) when it could not be; 65
/// (bounce) when it is over the size limit.
pub async fn eml(config: Option<&Path>, args: &EmlArgs) -> ExitCode {
    match eml_inner(config, args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("intake: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::from(EX_TEMPFAIL)
        }
    }
}

async fn eml_inner(config: Option<&Path>, args: &EmlArgs) -> anyhow::Result<ExitCode> {
    let app = App::start_without_broker(config).await?;
    let max = app.cfg.smtp.max_message_size;
    let mut raw = Vec::new();
    std::io::stdin()
        .lock()
        .take(max + 1)
        .read_to_end(&mut raw)
        .context("reading the message from stdin")?;
    if raw.len() as u64 > max {
        eprintln!("intake: message exceeds the limit of {max} bytes");
        return Ok(ExitCode::from(EX_DATAERR));
    }
    let delivery = (args.sender.is_some() || !args.recipient.is_empty()).then(|| Delivery {
        mail_from: args
            .sender
            .as_deref()
            .unwrap_or("")
            .trim_matches(['<', '>'])
            .to_owned(),
        rcpt_to: args.recipient.clone(),
        client: args.client.clone(),
        helo: None,
    });
    let raw = std::sync::Arc::new(raw);
    let inbound = app.intake.receive_email(raw.clone(), delivery).await?;
    let id = inbound.id;
    // Stored: from here the MTA may forget the message. A failure to record
    // is repaired by `intake serve`'s replay.
    match app.intake.process_email(inbound, raw).await {
        Ok(rec) => println!(
            "{} {} {}",
            rec.sr_number,
            rec.outcome.as_str(),
            rec.submission_id
        ),
        Err(e) => eprintln!("intake: stored as input {id}; recording deferred: {e}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Every message file under `dir`: a Maildir's `new/` and `cur/`, or the
/// `.eml` files of a plain folder, in name order.
pub fn messages(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let maildir = dir.join("cur").is_dir() || dir.join("new").is_dir();
    let folders: Vec<PathBuf> = if maildir {
        vec![dir.join("new"), dir.join("cur")]
    } else {
        vec![dir.to_owned()]
    };
    let mut out = Vec::new();
    for f in folders.iter().filter(|f| f.is_dir()) {
        for e in std::fs::read_dir(f).with_context(|| format!("reading {}", f.display()))? {
            let e = e?;
            let path = e.path();
            // Only regular files: a symlink in a mail folder is not a message.
            if !e.file_type()?.is_file() {
                continue;
            }
            let is_eml = path
                .extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("eml"));
            let hidden = e.file_name().to_string_lossy().starts_with('.');
            if (maildir || is_eml) && !hidden {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

pub async fn dir(config: Option<&Path>, dir: &Path, jobs: usize) -> anyhow::Result<()> {
    let app = App::start_without_broker(config).await?;
    let files = messages(dir)?;
    let bar = indicatif::ProgressBar::new(files.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} messages, {per_sec}, eta {eta} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let max = app.cfg.smtp.max_message_size;
    let intake = &app.intake;
    let results: Vec<(PathBuf, anyhow::Result<String>)> = futures_util::stream::iter(files)
        .map(|path| {
            let bar = bar.clone();
            async move {
                let r = async {
                    let size = std::fs::metadata(&path)?.len();
                    if size > max {
                        anyhow::bail!("over the size limit of {max} bytes");
                    }
                    let raw = tokio::fs::read(&path).await?;
                    let rec = intake.email(raw, None).await?;
                    Ok(if rec.duplicate {
                        "duplicate".to_owned()
                    } else {
                        rec.outcome.as_str().to_owned()
                    })
                }
                .await;
                bar.inc(1);
                (path, r)
            }
        })
        .buffer_unordered(jobs.max(1))
        .collect()
        .await;
    bar.finish_and_clear();
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    let mut failed = 0;
    for (path, r) in &results {
        match r {
            Ok(what) => *counts.entry(what.clone()).or_default() += 1,
            Err(e) => {
                failed += 1;
                eprintln!("{}: {e:#}", path.display());
            }
        }
    }
    let summary: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    println!(
        "{} messages: {}{}",
        results.len(),
        summary.join(", "),
        if failed > 0 {
            format!(", {failed} failed")
        } else {
            String::new()
        }
    );
    if failed > 0 {
        anyhow::bail!("{failed} messages could not be taken in; they are listed above");
    }
    Ok(())
}
