//! The tollgate command line: `tollgate check config.toml` validates a config file
//! (every bad value named by its key path) and prints the timeout checker's findings
//! for the server stack and each client stack.
//!
//! Exits 0 when the file is valid and aligned (warnings allowed), 1 when the checker
//! finds errors, 2 when the file cannot be read or holds a bad value.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "tollgate", about = "Checks tollgate config files")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validates a config file and prints the timeout checker's findings.
    Check {
        /// The config file (TOML).
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let Command::Check { config: path } = Cli::parse().command;
    let config = match tollgate::Config::from_file(&path) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let mut failed = false;
    for (name, report) in config.check() {
        println!("[{name}]");
        println!("{report}\n");
        failed |= report.has_errors();
    }
    if failed {
        ExitCode::FAILURE
    } else {
        println!("{}: valid", path.display());
        ExitCode::SUCCESS
    }
}
