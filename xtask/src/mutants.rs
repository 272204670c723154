//! `cargo xtask mutants [crate ...]`: cargo-mutants over the pure cores, each mutant
//! tested by its crate's own tests and bounded in time, with a score per crate.
//! Equivalent mutants are excluded, each with its reason, in `.cargo/mutants.toml`.
//! Not part of `cargo xtask test`: a full run takes hours on two cores. TESTING.md
//! records the last one.

use std::fs;

use crate::{cargo, ensure_cargo_tool, root};

/// The pure cores: the files where a behaviour lives without I/O, by crate.
const CORES: &[(&str, &[&str])] = &[
    (
        "tollgate-core",
        &[
            "crates/tollgate-core/src/quota.rs",
            "crates/tollgate-core/src/random.rs",
            "crates/tollgate-core/src/counter.rs",
        ],
    ),
    (
        "tollgate-bucket",
        &[
            "crates/tollgate-bucket/src/gcra.rs",
            "crates/tollgate-bucket/src/direct.rs",
            "crates/tollgate-bucket/src/sketch.rs",
            "crates/tollgate-bucket/src/keyed/*.rs",
        ],
    ),
    (
        "tollgate-leaky",
        &[
            "crates/tollgate-leaky/src/shaper.rs",
            "crates/tollgate-leaky/src/shaper/*.rs",
        ],
    ),
    (
        "tollgate-breaker",
        &[
            "crates/tollgate-breaker/src/window/*.rs",
            "crates/tollgate-breaker/src/shared/*.rs",
        ],
    ),
    (
        "tollgate-deadline",
        &["crates/tollgate-deadline/src/checker/rules.rs"],
    ),
    ("tollgate-drain", &["crates/tollgate-drain/src/tracker.rs"]),
    (
        "tollgate-http",
        &["crates/tollgate-http/src/deadline/wire.rs"],
    ),
    (
        "tollgate-redis",
        &[
            "crates/tollgate-redis/src/script.rs",
            "crates/tollgate-redis/src/local.rs",
        ],
    ),
];

/// Runs the mutants of `only` (every core when empty); prints each crate's score.
pub(crate) fn mutants(only: &[String]) -> Result<(), String> {
    ensure_cargo_tool("mutants", "cargo-mutants")?;
    if let Some(unknown) = only
        .iter()
        .find(|name| !CORES.iter().any(|(krate, _)| krate == name))
    {
        return Err(format!("mutants: no pure core in `{unknown}`"));
    }
    let mut scores = Vec::new();
    for (krate, files) in CORES {
        if !only.is_empty() && !only.iter().any(|name| name == krate) {
            continue;
        }
        let out = root().join("target").join("mutants").join(krate);
        fs::create_dir_all(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;
        let out = out.to_str().expect("target path is UTF-8").to_owned();
        let mut args = vec![
            "mutants",
            "-p",
            krate,
            "--jobs",
            "1",
            "--timeout",
            "120",
            "-o",
            &out,
        ];
        for file in *files {
            args.extend(["-f", file]);
        }
        // cargo-mutants exits non-zero when a mutant survives: the score says so.
        let _ = cargo(&args, &[]);
        scores.push(score(krate, &out)?);
    }
    eprintln!("xtask: mutants caught / (caught + missed), timeouts counted as caught:");
    for line in &scores {
        eprintln!("  {line}");
    }
    Ok(())
}

/// `krate: caught/(caught+missed) = N%`, from cargo-mutants' lists in `out`.
fn score(krate: &str, out: &str) -> Result<String, String> {
    let count = |list: &str| -> Result<usize, String> {
        let path = format!("{out}/mutants.out/{list}.txt");
        fs::read_to_string(&path)
            .map(|text| text.lines().filter(|l| !l.trim().is_empty()).count())
            .map_err(|e| format!("reading {path}: {e}"))
    };
    let caught = count("caught")? + count("timeout")?;
    let missed = count("missed")?;
    let unviable = count("unviable")?;
    let percent = if caught + missed == 0 {
        100.0
    } else {
        100.0 * caught as f64 / (caught + missed) as f64
    };
    Ok(format!(
        "{krate}: {caught}/{} = {percent:.1}% ({unviable} unviable; survivors in \
         {out}/mutants.out/missed.txt)",
        caught + missed
    ))
}
