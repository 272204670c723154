//! Checks a timeout plan (TOML) for misaligned timeouts along a request path.
//!
//! `cargo run --bin timeout_plan -- examples/plans/misaligned.toml`
//!
//! Prints the findings as a report; exits 1 when any finding is an error, 2 when the
//! plan cannot be read.

use std::process::ExitCode;

use tollgate_deadline::checker::{check, Plan};

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: timeout_plan <plan.toml>");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::from(2);
        }
    };
    let plan = match Plan::from_toml(&text) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::from(2);
        }
    };
    let report = check(&plan);
    println!("timeout plan {path}");
    println!("{report}");
    if report.has_errors() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
