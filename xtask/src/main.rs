//! The workspace's task runner. `cargo xtask test` runs every check CI runs:
//! formatting, clippy, each crate's rust-version against its dependencies', every feature of every library crate on its own (cargo-hack,
//! installed when missing), the tests (with a real `redis-server` and a headless
//! `chromium`, installed when
//! missing) of every crate (doc tests and examples included),
//! the docs with warnings denied (and as docs.rs builds them, when a nightly toolchain is
//! installed), every published crate packaged and verified from its packaged form, and
//! the loom models of every crate that has them.
//!
//! `cargo xtask mutants [crate ...]` runs cargo-mutants over the pure cores (TESTING.md).
//!
//! `cargo xtask semver [rev]` checks the published crates' API against a baseline
//! (cargo-semver-checks): see CONTRIBUTING.md.
//!
//! The loom build uses `--cfg loom`, which changes every crate's code, so it lives in
//! its own target directory (`target/loom`) and never invalidates the normal build.

mod msrv;
mod mutants;
mod release;

use msrv::msrv;
use mutants::mutants;
use release::{docs_rs, package, semver};
use std::env;
use std::path::PathBuf;
use std::process::{exit, Command};

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  test      formatting, clippy, features, every test, docs (and docs.rs), packages, then the loom models (what CI runs)
  lint      formatting and clippy only
  msrv      each library crate's rust-version covers its dependencies' (Cargo.lock)
  features  each feature of each library crate built on its own (cargo-hack)
  loom      the loom models only (crates/*/tests/loom.rs)
  package   every published crate packaged and built from its package (cargo package)
  docsrs    the docs as docs.rs builds them (nightly, --cfg docsrs), warnings denied
  semver    the published API against a baseline: `semver [rev]`, default the latest v* tag
  mutants   cargo-mutants over the pure cores: `mutants [crate ...]`, default all (hours; not in `test`)";

fn main() {
    let task = env::args().nth(1);
    let result = match task.as_deref() {
        Some("test") => {
            warn_if_short_of_disk();
            ensure_package("redis-server", &["redis-server", "redis-cli"])
                .and_then(|()| ensure_package("chromium", &["chromium"]))
                .and_then(|()| lint())
                .and_then(|()| msrv())
                .and_then(|()| features())
                .and_then(|()| tests())
                .and_then(|()| docs_rs())
                .and_then(|()| package())
                .and_then(|()| loom())
        }
        Some("lint") => lint(),
        Some("msrv") => msrv(),
        Some("features") => features(),
        Some("loom") => loom(),
        Some("package") => package(),
        Some("docsrs") => docs_rs(),
        Some("semver") => semver(env::args().nth(2)),
        Some("mutants") => mutants(&env::args().skip(2).collect::<Vec<_>>()),
        _ => {
            eprintln!("{USAGE}");
            exit(2);
        }
    };
    if let Err(failed) = result {
        eprintln!("xtask: `{failed}` failed");
        exit(1);
    }
    eprintln!("xtask: all checks passed");
}

fn lint() -> Result<(), String> {
    cargo(&["fmt", "--all", "--", "--check"], &[])?;
    cargo(
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )
}

/// Every feature of every library crate on its own, without dev-dependencies, so a
/// feature that compiles only thanks to another (or to a dev-dependency) is caught.
fn features() -> Result<(), String> {
    ensure_cargo_tool("hack", "cargo-hack")?;
    for krate in library_crates() {
        cargo(
            &[
                "hack",
                "check",
                "--each-feature",
                "--no-dev-deps",
                "-p",
                &krate,
            ],
            &[],
        )?;
    }
    Ok(())
}

/// Installs the cargo plugin `krate` (run as `cargo <subcommand>`) when it is missing,
/// so the tasks work on a fresh machine.
fn ensure_cargo_tool(subcommand: &str, krate: &str) -> Result<(), String> {
    let cargo_bin = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let present = Command::new(&cargo_bin)
        .args([subcommand, "--version"])
        .output()
        .is_ok_and(|out| out.status.success());
    if present {
        return Ok(());
    }
    eprintln!("xtask: {krate} is missing; installing it");
    cargo(&["install", "--locked", krate], &[])
}

/// What everything `test` builds takes on disk from a clean checkout (5 GB measured on
/// x86_64 Linux, with `.ci/run`'s settings), with some room to spare.
const TEST_BUILD_BYTES: u64 = 6 << 30;

/// Says at once, rather than after minutes of building, when the disk that holds the
/// target directory has less free space than a build from scratch takes (a warm target
/// directory needs less, so it is a warning). Silent where `df` cannot tell.
fn warn_if_short_of_disk() {
    let target = root().join("target");
    let dir = if target.is_dir() { target } else { root() };
    let free_kib = Command::new("df")
        .args(["-Pk"])
        .arg(&dir)
        .output()
        .ok()
        .and_then(|out| {
            let text = String::from_utf8(out.stdout).ok()?;
            // POSIX format: a header line, then "filesystem blocks used available ...".
            text.lines()
                .nth(1)?
                .split_whitespace()
                .nth(3)?
                .parse::<u64>()
                .ok()
        });
    if let Some(free) = free_kib.map(|kib| kib << 10) {
        if free < TEST_BUILD_BYTES {
            eprintln!(
                "xtask: warning: {:.1} GB free on the disk of {}; a build from scratch takes about {} GB",
                free as f64 / f64::from(1u32 << 30),
                dir.display(),
                TEST_BUILD_BYTES >> 30,
            );
        }
    }
}

/// A Debian package the tests need: the Redis tests start their own `redis-server` on
/// loopback, the dashboard test drives a headless `chromium`. Installs `package` when
/// one of `tools` is missing (as root), or stops at once saying the one command that does.
fn ensure_package(package: &str, tools: &[&str]) -> Result<(), String> {
    let present = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success())
    };
    if tools.iter().all(|tool| present(tool)) {
        return Ok(());
    }
    let as_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0"));
    if as_root && present("apt-get") {
        eprintln!("xtask: {package} is missing; installing it");
        for args in [
            &["update", "-qq"][..],
            &["install", "-y", "-qq", package][..],
        ] {
            let status = Command::new("apt-get").args(args).status();
            if !status.is_ok_and(|s| s.success()) {
                return Err(format!("apt-get {}", args.join(" ")));
            }
        }
        return Ok(());
    }
    Err(format!(
        "{package} is missing: install it with `sudo apt-get install -y {package}`"
    ))
}

fn tests() -> Result<(), String> {
    cargo(
        &["test", "--workspace", "--all-features", "--all-targets"],
        &[],
    )?;
    // `--all-targets` leaves out doc tests: run them on their own.
    cargo(&["test", "--workspace", "--all-features", "--doc"], &[])?;
    cargo(
        &["doc", "--workspace", "--no-deps", "--all-features"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )
}

fn loom() -> Result<(), String> {
    let target = root().join("target").join("loom");
    let target = target.to_str().expect("target path is UTF-8");
    for krate in loom_crates() {
        cargo(
            &["test", "--release", "-p", &krate, "--test", "loom"],
            &[
                ("RUSTFLAGS", "--cfg loom"),
                ("CARGO_TARGET_DIR", target),
                // tokio's CI setting: every interleaving with up to two preemptions.
                ("LOOM_MAX_PREEMPTIONS", "2"),
            ],
        )?;
        // Models that need a crate's internals live in its source, in `mod loom_model`.
        if has_unit_models(&root().join("crates").join(&krate).join("src")) {
            cargo(
                &["test", "--release", "-p", &krate, "--lib", "loom_model"],
                &[
                    ("RUSTFLAGS", "--cfg loom"),
                    ("CARGO_TARGET_DIR", target),
                    ("LOOM_MAX_PREEMPTIONS", "2"),
                ],
            )?;
        }
    }
    Ok(())
}

/// Whether any source file under `dir` declares `mod loom_model`.
fn has_unit_models(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| {
            let path = entry.path();
            if path.is_dir() {
                has_unit_models(&path)
            } else {
                std::fs::read_to_string(&path).is_ok_and(|text| text.contains("mod loom_model"))
            }
        })
}

/// Every crate with a `tests/loom.rs`, in name order.
fn loom_crates() -> Vec<String> {
    crates_where(|dir| dir.join("tests").join("loom.rs").is_file())
}

/// Every library crate under `crates/`, in name order.
fn library_crates() -> Vec<String> {
    crates_where(|dir| dir.join("src").join("lib.rs").is_file())
}

fn crates_where(keep: impl Fn(&std::path::Path) -> bool) -> Vec<String> {
    let crates = root().join("crates");
    let mut names: Vec<String> = std::fs::read_dir(&crates)
        .unwrap_or_else(|e| panic!("reading {}: {e}", crates.display()))
        .filter_map(Result::ok)
        .filter(|entry| keep(&entry.path()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

fn cargo(args: &[&str], envs: &[(&str, &str)]) -> Result<(), String> {
    let line = format!("cargo {}", args.join(" "));
    eprintln!("xtask: {line}");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(root())
        .status()
        .map_err(|e| format!("{line} ({e})"))?;
    if status.success() {
        Ok(())
    } else {
        Err(line)
    }
}

fn root() -> PathBuf {
    // `cargo run` sets CARGO_MANIFEST_DIR for the program too: prefer it to the path
    // baked in at compile time, which is stale when a target directory is copied
    // between checkouts.
    let manifest_dir = env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
