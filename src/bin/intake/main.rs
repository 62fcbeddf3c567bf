//! The `intake` command: the operator's edge of the library. Errors become one
//! clear line and an exit status; nothing here decides anything.

mod check;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "intake", version, about = "Malware-sample submission intake for a support lab")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// What would intake do with this input? Runs the ingress rules on one
    /// email (.eml) or portal upload directory, without database or broker.
    Check(check::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check::run(&args),
    }
}
