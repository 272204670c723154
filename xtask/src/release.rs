//! The release checks: every published crate packaged and verified, the docs as docs.rs
//! builds them, and the API compared with the last release (see CONTRIBUTING.md).

use std::path::PathBuf;
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
    forget_stale_extractions(&crates)?;
    forget_stale_builds(&crates)?;
    let mut args = vec!["package", "--allow-dirty"];
    for krate in &crates {
        args.extend(["-p", krate.as_str()]);
    }
    cargo(&args, &[])
}

/// Removes our crates from the source cache of the local overlay that `cargo package`
/// verifies against. Cargo extracts a package there once per name and version and
/// reuses the extraction ever after, so a sibling changed since the last run (at the
/// same version) would be verified from its old source: a new item it exports would be
/// missing. The overlay's caches are the directories of `$CARGO_HOME/registry/src`
/// named `-<hash>` (a local registry has no host); crates.io's are left alone.
fn forget_stale_extractions(crates: &[String]) -> Result<(), String> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    let Some(Ok(registries)) = home.map(|home| home.join("registry").join("src").read_dir()) else {
        return Ok(());
    };
    for registry in registries.flatten() {
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        let Ok(extracted) = registry.path().read_dir() else {
            continue;
        };
        for package in extracted.flatten() {
            let name = package.file_name().to_string_lossy().into_owned();
            // `<crate>-<version>`: a version starts with a digit.
            let ours = crates.iter().any(|krate| {
                suffix_of(&name, krate)
                    .is_some_and(|version| version.starts_with(|c: char| c.is_ascii_digit()))
            });
            if ours {
                std::fs::remove_dir_all(package.path())
                    .map_err(|e| format!("removing {}: {e}", package.path().display()))?;
            }
        }
    }
    Ok(())
}

/// Removes the builds of our crates' packages from the target directory. Cargo takes a
/// registry package as immutable, and writes every packaged file with one fixed time,
/// so a build of a sibling's old package (same version) passes its freshness check and
/// would be reused for the new one. Such a build is one whose dep-info names sources
/// in the overlay's cache (`registry/src/-<hash>`); forgetting its fingerprint makes
/// cargo build it again. The workspace's own builds are left alone.
fn forget_stale_builds(crates: &[String]) -> Result<(), String> {
    let target = root().join("target").join("debug");
    let Ok(deps) = target.join("deps").read_dir() else {
        return Ok(());
    };
    for dep_info in deps.flatten() {
        let name = dep_info.file_name().to_string_lossy().into_owned();
        // `<crate, with underscores>-<16 hex digits>.d`.
        let Some(unit) = crates.iter().find_map(|krate| {
            let hash = suffix_of(&name, &krate.replace('-', "_"))?.strip_suffix(".d")?;
            (hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| format!("{krate}-{hash}"))
        }) else {
            continue;
        };
        let packaged = std::fs::read_to_string(dep_info.path())
            .is_ok_and(|text| text.contains("/registry/src/-"));
        let fingerprint = target.join(".fingerprint").join(unit);
        if packaged && fingerprint.exists() {
            std::fs::remove_dir_all(&fingerprint)
                .map_err(|e| format!("removing {}: {e}", fingerprint.display()))?;
        }
    }
    Ok(())
}

/// What follows `<krate>-` in `name`, if `name` starts so.
fn suffix_of<'a>(name: &'a str, krate: &str) -> Option<&'a str> {
    name.strip_prefix(krate)?.strip_prefix('-')
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
