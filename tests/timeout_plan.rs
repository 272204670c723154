//! The example timeout plans: the seed's misaligned path is flagged with clear fixes,
//! the aligned one passes, and the `timeout_plan` binary exits accordingly.

use std::process::Command;

use tollgate_deadline::checker::{check, Plan, Rule};

fn load(name: &str) -> Plan {
    let path = format!("{}/examples/plans/{name}", env!("CARGO_MANIFEST_DIR"));
    Plan::from_toml(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn misaligned_plan_is_flagged_with_fixes() {
    let report = check(&load("misaligned.toml"));
    let rules: Vec<Rule> = report.findings().iter().map(|f| f.rule).collect();
    assert_eq!(
        rules,
        [
            Rule::InnerExceedsOuter,
            Rule::InnerExceedsOuter,
            Rule::RetriesExceedTotal,
            Rule::DrainGraceTooShort,
            Rule::UpstreamKeepAliveTooShort,
            Rule::BreakerWindowTooShort,
        ],
        "{report}"
    );
    assert_eq!(
        report.findings()[0].fix,
        "lower app.request to at most 4s 900ms (5s minus the 100ms margin)"
    );
    assert!(
        report.to_string().ends_with("5 errors, 1 warning"),
        "{report}"
    );
}

#[test]
fn aligned_plan_passes() {
    let report = check(&load("aligned.toml"));
    assert!(report.findings().is_empty(), "{report}");
}

#[test]
fn timeout_plan_binary_exits_non_zero_on_errors() {
    // Cargo builds the package's binaries for its integration tests, however it was
    // invoked (`--all-targets`, `--test timeout_plan`, ...), and names them here.
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_timeout_plan"));
    let run = |plan: &str| {
        Command::new(exe)
            .arg(format!(
                "{}/examples/plans/{plan}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", exe.display()))
    };
    let bad = run("misaligned.toml");
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stdout).contains("fix:"));
    assert_eq!(run("aligned.toml").status.code(), Some(0));
    assert_eq!(run("missing.toml").status.code(), Some(2));
}
