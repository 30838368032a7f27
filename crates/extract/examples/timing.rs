//! Times `extract` on part 1 of the compilation (8,531 lines), or on the files named:
//! `cargo run --release -p extract --example timing [FILE...]` (`just bench-extract`).
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let named: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let paths = if named.is_empty() {
        vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/seeds/001_58abb6e4dd5ecd1a.part1.txt")]
    } else {
        named
    };
    for path in paths {
        time(&path);
    }
}

fn time(path: &std::path::Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let started = Instant::now();
    let text = extract::decode(path, &bytes).expect("decode");
    let decoded = started.elapsed();
    let options = extract::Options::default();
    let runs = 20;
    let mut rows = Vec::new();
    let started = Instant::now();
    for _ in 0..runs {
        rows = extract::extract(&text, &options);
    }
    let per_run = started.elapsed() / runs;
    println!(
        "{}: {} lines, {} rows: decode {:.1} ms, extract {:.1} ms per run (mean of {runs})",
        path.display(),
        text.lines().count(),
        rows.len(),
        decoded.as_secs_f64() * 1e3,
        per_run.as_secs_f64() * 1e3
    );
}
