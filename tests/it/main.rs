//! townpulse's integration tests: one binary driving the public APIs and the built CLI.

mod browser;
mod cli;
mod contract;

mod engine;
mod extract;
mod ingest;
mod invalid;
mod properties;
mod published;
mod serve;
mod sources;
mod smtp;
mod tables;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The workspace root.
pub fn project_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// The shared reference folder beside the checkout (`../shared`).
pub fn shared_dir() -> PathBuf {
    let dir = project_dir().join("../shared");
    assert!(dir.is_dir(), "the shared reference folder {} is missing", dir.display());
    dir
}

/// The `townpulse` binary, built once per test run in the same profile as the tests.
pub fn binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut command = Command::new(cargo);
            command.args(["build", "--quiet", "-p", "townpulse", "--bin", "townpulse"]).current_dir(project_dir());
            // The package variables cargo set for this test process would make build scripts
            // (ring's, for one) rerun and rebuild half the tree: drop them.
            for (name, _) in std::env::vars() {
                if name.starts_with("CARGO_") && !matches!(name.as_str(), "CARGO_HOME" | "CARGO_TARGET_DIR") {
                    command.env_remove(name);
                }
            }
            let status = command
                .status()
                .expect("running cargo build for the townpulse binary");
            assert!(status.success(), "building the townpulse binary failed");
            let exe = std::env::current_exe().expect("test executable path");
            let profile_dir = exe.parent().and_then(Path::parent).expect("target profile folder");
            let path = profile_dir.join("townpulse");
            assert!(path.is_file(), "{} was not built", path.display());
            path
        })
        .clone()
}

/// `townpulse ARGS` in `dir`, with townpulse's own variables cleared, then `env` set, and logs at `log_level`.
pub fn townpulse(dir: &Path, args: &[&str], env: &[(&str, &str)], log_level: &str) -> Command {
    let mut command = Command::new(binary());
    command.args(args).current_dir(dir);
    for name in ["TOWNPULSE_SMTP_URL", "TOWNPULSE_SMTP_PASSWORD", "TOWNPULSE_CONFIG", "TOWNPULSE_LOG_FORMAT"] {
        command.env_remove(name);
    }
    command.env("TOWNPULSE_LOG", log_level);
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

/// A copy of the demo project (config and demo data) in a temporary folder.
pub struct DemoProject {
    pub dir: tempfile::TempDir,
}

impl DemoProject {
    pub fn new() -> DemoProject {
        let dir = tempfile::tempdir().expect("temp dir");
        for folder in ["config", "data/demo"] {
            let from = project_dir().join(folder);
            let to = dir.path().join(folder);
            std::fs::create_dir_all(&to).expect("create folder");
            for entry in std::fs::read_dir(&from).expect("read folder") {
                let entry = entry.expect("entry");
                if entry.file_type().expect("type").is_file() {
                    std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
                }
            }
        }
        DemoProject { dir }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Runs `townpulse ARGS` in the project folder with a clean environment for townpulse's variables.
    pub fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        townpulse(self.dir.path(), args, env, "warn").output().expect("running townpulse")
    }

    pub fn outbox(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.path("reports/outbox"))
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e == "eml")).collect())
            .unwrap_or_default();
        files.sort();
        files
    }
}

pub fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}
