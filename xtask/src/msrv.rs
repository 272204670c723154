//! `cargo xtask msrv`: every library crate's `rust-version` is at least that of every
//! crate it builds with (normal and build dependencies, every feature on, for this
//! machine's target, with the versions in Cargo.lock). The one toolchain here cannot
//! build with an older compiler, so this and clippy's `incompatible_msrv` (for the
//! standard library's APIs) are what keep each `rust-version` true.

use std::process::Command;

use serde_json::Value;

use crate::{library_crates, root};

pub(crate) fn msrv() -> Result<(), String> {
    let metadata = cargo_output(&["metadata", "--format-version", "1", "--locked"])?;
    let metadata: Value =
        serde_json::from_str(&metadata).map_err(|e| format!("cargo metadata: {e}"))?;
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    let rust_version = |name: &str, version: &str| -> Option<(u64, u64)> {
        packages
            .iter()
            .find(|p| p["name"] == name && p["version"] == version)
            .and_then(|p| p["rust_version"].as_str())
            .map(parse)
    };
    let host = host_target()?;
    let mut violations = Vec::new();
    for krate in library_crates() {
        let tree = cargo_output(&[
            "tree",
            "-p",
            &krate,
            "-e",
            "normal,build",
            "--all-features",
            "--target",
            &host,
            "--prefix",
            "none",
            "--format",
            "{p}",
            "--locked",
        ])?;
        let mut lines = tree.lines().map(|line| line.split_whitespace());
        let Some(own) = lines.next().and_then(|mut l| {
            let (name, version) = (l.next()?, l.next()?.trim_start_matches('v'));
            rust_version(name, version)
        }) else {
            return Err(format!("msrv: {krate} has no rust-version"));
        };
        for mut line in lines {
            let (Some(name), Some(version)) = (line.next(), line.next()) else {
                continue;
            };
            let version = version.trim_start_matches('v');
            if let Some(needed) = rust_version(name, version) {
                if needed > own {
                    violations.push(format!(
                        "{krate} says rust-version {}.{}, but {name} {version} needs {}.{}",
                        own.0, own.1, needed.0, needed.1
                    ));
                }
            }
        }
    }
    violations.sort();
    violations.dedup();
    if violations.is_empty() {
        eprintln!("xtask: every rust-version covers its dependencies ({host})");
        Ok(())
    } else {
        for v in &violations {
            eprintln!("xtask: {v}");
        }
        Err("msrv: raise the rust-version or pin the dependency".into())
    }
}

/// `1.88` or `1.88.0` as (1, 88).
fn parse(version: &str) -> (u64, u64) {
    let mut parts = version.split('.').map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

fn host_target() -> Result<String, String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .map_err(|e| format!("rustc -vV ({e})"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| "rustc -vV: no host line".into())
}

fn cargo_output(args: &[&str]) -> Result<String, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(args)
        .current_dir(root())
        .output()
        .map_err(|e| format!("cargo {} ({e})", args.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "cargo {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
