//! The release checks: every published crate packaged and verified, the docs as docs.rs
//! builds them, and the API compared with the last release (see CONTRIBUTING.md).

use std::process::Command;

use crate::{cargo, ensure_cargo_tool, library_crates, root};

/// Packages every published crate (every library under `crates/`) and builds each one
/// from its packaged form. One `cargo package` for all of them: cargo packages them in
/// dependency order and verifies each against the others' packages (a local overlay of
/// crates.io), so siblings need not be published first. Catches a file the package
/// leaves out (an `include_str!` reaching outside the crate, a missing README) and a
/// dependency only the workspace provides.
pub(crate) fn package() -> Result<(), String> {
    let crates = library_crates();
    let mut args = vec!["package", "--allow-dirty"];
    for krate in &crates {
        args.extend(["-p", krate.as_str()]);
    }
    cargo(&args, &[])
}

/// The docs as docs.rs builds them (`--cfg docsrs`, so `doc_cfg` badges the
/// feature-gated items; every feature on), with warnings denied. `doc_cfg` needs a
/// nightly rustdoc: without one installed this says so and passes (the stable docs
/// build in `tests` still denies warnings).
pub(crate) fn docs_rs() -> Result<(), String> {
    let nightly = Command::new("rustup")
        .args(["run", "nightly", "rustdoc", "--version"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !nightly {
        eprintln!("xtask: no nightly toolchain; skipping the docs.rs build (--cfg docsrs)");
        return Ok(());
    }
    // Its own target directory: nightly artifacts would evict the stable ones.
    let target = root().join("target").join("docsrs");
    let target = target.to_str().expect("target path is UTF-8");
    let crates = library_crates();
    let mut args = vec![
        "run",
        "nightly",
        "cargo",
        "doc",
        "--no-deps",
        "--all-features",
    ];
    for krate in &crates {
        args.extend(["-p", krate.as_str()]);
    }
    let line = format!("rustup {}", args.join(" "));
    eprintln!("xtask: {line}");
    let status = Command::new("rustup")
        .args(&args)
        .env("RUSTDOCFLAGS", "--cfg docsrs -D warnings")
        .env("CARGO_TARGET_DIR", target)
        .current_dir(root())
        .status()
        .map_err(|e| format!("{line} ({e})"))?;
    if status.success() {
        Ok(())
    } else {
        Err(line)
    }
}

/// cargo-semver-checks on every published crate against `baseline` (a git rev), or the
/// latest tag matching `v*` when none is given. Installs cargo-semver-checks when it is
/// missing. Not part of `test`: before the first release there is nothing to compare.
pub(crate) fn semver(baseline: Option<String>) -> Result<(), String> {
    let baseline = match baseline {
        Some(rev) => rev,
        None => latest_release_tag()?,
    };
    ensure_cargo_tool("semver-checks", "cargo-semver-checks")?;
    let crates = library_crates();
    let mut args = vec!["semver-checks", "--baseline-rev", baseline.as_str()];
    for krate in &crates {
        args.extend(["-p", krate.as_str()]);
    }
    cargo(&args, &[])
}

/// The newest tag matching `v*` reachable from HEAD, the previous release.
fn latest_release_tag() -> Result<String, String> {
    let out = Command::new("git")
        .args(["describe", "--tags", "--abbrev=0", "--match", "v*"])
        .current_dir(root())
        .output()
        .map_err(|e| format!("git describe ({e})"))?;
    let tag = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if out.status.success() && !tag.is_empty() {
        Ok(tag)
    } else {
        Err("git describe --tags --match 'v*': no release tag yet; \
             give a baseline: `cargo xtask semver <rev>`"
            .into())
    }
}
