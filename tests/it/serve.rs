//! `townpulse serve` and the scheduler library: cron fires, catch-up from the ledger with an
//! injectable clock, one run per period, graceful SIGTERM, and jobs that fail or panic.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};

use crate::smtp::{PySmtp, set_retries};
use crate::{DemoProject, text};

/// Replaces the demo's monthly job with `job` (a TOML table body).
fn set_job(project: &DemoProject, job: &str) {
    let path = project.path("config/townpulse.toml");
    let config = std::fs::read_to_string(&path).unwrap();
    let start = config.find("[[jobs]]").expect("the demo has a job");
    let end = config[start..].find("\n\n").map_or(config.len(), |i| start + i);
    std::fs::write(&path, format!("{}[[jobs]]\n{job}\n{}", &config[..start], &config[end..])).unwrap();
}

fn load(project: &DemoProject) -> config::Config {
    config::Config::load(&project.path("config/townpulse.toml"), &config::Environment::default()).expect("valid configuration")
}

/// `(period, job, trigger, state)` of every run, oldest first.
/// (Empty while the ledger does not exist yet.)
fn runs(project: &DemoProject) -> Vec<(String, String, String, String)> {
    let path = project.path("reports/ledger.sqlite");
    let Ok(ledger) = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY) else { return Vec::new() };
    let Ok(mut statement) = ledger.prepare("SELECT period, job, trigger, state FROM runs ORDER BY id") else { return Vec::new() };
    statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap().map(Result::unwrap).collect()
}

fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn serve(project: &DemoProject, env: &[(&str, &str)]) -> Child {
    let mut command = crate::townpulse(project.dir.path(), &["serve"], env, "info");
    command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("starting townpulse serve")
}

/// Sends SIGTERM and returns the exit code and everything the daemon printed.
fn terminate(child: Child) -> (Option<i32>, String) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    (output.status.code(), text(&output))
}

/// The year before the current one in Asia/Shanghai: what a `previous_year` job reports now.
fn previous_year() -> String {
    use chrono::Datelike;
    (Utc::now().with_timezone(&chrono_tz_shanghai()).year() - 1).to_string()
}

fn chrono_tz_shanghai() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).unwrap()
}

#[test]
fn a_job_with_an_every_second_cron_fires_and_produces_a_run() {
    let project = DemoProject::new();
    set_job(&project, "name = \"every_second\"\ncron = \"* * * * * *\"\nperiod = \"previous_year\"\ncatch_up = \"none\"");
    let child = serve(&project, &[]);
    let period = previous_year();
    wait_until("a run by the cron job", Duration::from_secs(60), || runs(&project).iter().any(|r| r.3 == "done"));
    // Later fires of the same period do nothing: the run key is the period.
    std::thread::sleep(Duration::from_millis(2500));
    let (code, log) = terminate(child);
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(runs(&project), [(period.clone(), "every_second".into(), "cron".into(), "done".into())], "{log}");
    assert!(log.contains("Period already done; nothing to do."), "{log}");
    assert!(log.contains(&format!("job=every_second period={period} trigger=\"cron\"")), "{log}");
    assert_eq!(project.outbox().len(), 4, "one summary a recipient");
}

/// A runtime like the CLI's: room for Polars' recursion on every thread.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().thread_stack_size(64 << 20).build().unwrap()
}

#[test]
fn a_daemon_started_after_two_missed_periods_catches_up_exactly_those_two() {
    for (policy, expected) in [("all", vec!["2026-01", "2026-02"]), ("latest", vec!["2026-02"]), ("none", vec![])] {
        let project = DemoProject::new();
        set_job(&project, &format!("name = \"monthly\"\ncron = \"0 0 9 5 * *\"\ntime_zone = \"Asia/Shanghai\"\ncatch_up = \"{policy}\""));
        // First start on 10 January: nothing was missed yet; the ledger notes when the job was first seen.
        let clock = Arc::new(daemon::ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 10, 2, 0, 0).unwrap()));
        let daemon = daemon::Daemon::new(load(&project), clock.clone(), daemon::pipeline_runner());
        let rt = runtime();
        assert_eq!(rt.block_on(daemon.catch_up()).unwrap(), [], "policy {policy}: a first start catches nothing up");
        // Down until 6 March 10:00 in Shanghai: the fires of 5 February and 5 March (09:00) were missed.
        clock.set(Utc.with_ymd_and_hms(2026, 3, 6, 2, 0, 0).unwrap());
        let caught: Vec<String> = rt.block_on(daemon.catch_up()).unwrap().iter().map(|r| r.period.to_string()).collect();
        assert_eq!(caught, expected, "policy {policy}");
        let ran: Vec<String> = runs(&project).into_iter().filter(|r| r.3 == "done" && r.2 == "catch_up").map(|r| r.0).collect();
        assert_eq!(ran, expected, "policy {policy}: each exactly once");
        assert_eq!(project.outbox().len(), 4 * expected.len(), "policy {policy}");
        // Starting again at the same time finds nothing due.
        assert_eq!(rt.block_on(daemon.catch_up()).unwrap(), [], "policy {policy}: a second start runs nothing again");
        // A fire at 09:00 on 5 March in Shanghai is 01:00 UTC: the zone decides the period.
        let job = &load(&project).jobs[0];
        assert_eq!(daemon::period_at(job, Utc.with_ymd_and_hms(2026, 3, 5, 1, 0, 0).unwrap()).to_string(), "2026-02");
        let fires = daemon::fire_times(job, Utc.with_ymd_and_hms(2026, 1, 10, 0, 0, 0).unwrap(), Utc.with_ymd_and_hms(2026, 3, 6, 0, 0, 0).unwrap(), 10).unwrap();
        assert_eq!(fires, [Utc.with_ymd_and_hms(2026, 2, 5, 1, 0, 0).unwrap(), Utc.with_ymd_and_hms(2026, 3, 5, 1, 0, 0).unwrap()]);
    }
}

#[test]
fn two_concurrent_runs_of_one_period_produce_one_run() {
    let project = DemoProject::new();
    let start = || {
        let mut command = crate::townpulse(project.dir.path(), &["run", "--period", "2023", "--wait"], &[], "warn");
        command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    };
    let (first, second) = (start(), start());
    let (first, second) = (first.wait_with_output().unwrap(), second.wait_with_output().unwrap());
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    let said = format!("{}{}", text(&first), text(&second));
    assert!(said.contains("period 2023 was already completed by run 1; nothing to do"), "{said}");
    assert_eq!(runs(&project), [("2023".into(), "cli".into(), "cli".into(), "done".into())]);
    assert_eq!(project.outbox().len(), 4);
}

#[test]
fn sigterm_in_the_middle_of_a_run_then_a_restart_completes_the_period_with_no_email_sent_twice() {
    let temp = tempfile::tempdir().unwrap();
    // A slow relay: each message is held 1.5 s, so the run is stopped while it delivers.
    let Some(server) = PySmtp::start("sigterm_in_the_middle…", temp.path(), "nobody@example.org", &temp.path().join("no-marker"), 1.5) else {
        return;
    };
    let project = DemoProject::new();
    set_retries(&project, 0, 10);
    set_job(&project, "name = \"monthly\"\ncron = \"* * * * * *\"\nperiod = \"previous_year\"\ncatch_up = \"none\"");
    let url = format!("smtp://127.0.0.1:{}", server.port);
    let env = [("TOWNPULSE_SMTP_URL", url.as_str())];
    let period = previous_year();

    let child = serve(&project, &env);
    wait_until("the first message", Duration::from_secs(60), || !server.received().is_empty());
    let (code, log) = terminate(child);
    assert_eq!(code, Some(0), "a clean shutdown: {log}");
    let delivered = server.received().len();
    assert!((1..4).contains(&delivered), "stopped mid-delivery, after {delivered} of 4: {log}");
    assert_eq!(runs(&project), [(period.clone(), "monthly".into(), "cron".into(), "interrupted".into())], "{log}");
    assert!(log.contains("Shutting down"), "{log}");

    // The next start completes the period: the unfinished run is caught up whatever the policy.
    let child = serve(&project, &env);
    wait_until("the period to complete", Duration::from_secs(60), || runs(&project).iter().any(|r| r.3 == "done"));
    let (code, log) = terminate(child);
    assert_eq!(code, Some(0), "{log}");
    let states: Vec<(String, String)> = runs(&project).into_iter().map(|r| (r.2, r.3)).collect();
    assert_eq!(states, [("cron".into(), "interrupted".into()), ("catch_up".into(), "done".into())], "{log}");
    let mut received = server.received();
    assert_eq!(received.len(), 4, "{received:?}");
    received.sort();
    received.dedup();
    assert_eq!(received.len(), 4, "somebody got the summary twice");
}

/// Captures what the daemon logs, for asserting on it.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_job_that_panics_is_logged_and_the_next_one_still_runs() {
    let project = DemoProject::new();
    set_job(&project, "name = \"every_second\"\ncron = \"* * * * * *\"\nperiod = \"previous_year\"\ncatch_up = \"none\"\nretries = 0");
    let calls = Arc::new(AtomicUsize::new(0));
    let (done_sender, done) = tokio::sync::oneshot::channel::<()>();
    let done_sender = Arc::new(Mutex::new(Some(done_sender)));
    let runner: daemon::Runner = {
        let calls = calls.clone();
        Arc::new(move |config, request| {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("boom in the first run");
            }
            let outcome = pipeline::run_period(config, request);
            if let Some(sender) = done_sender.lock().unwrap().take() {
                let _ = sender.send(());
            }
            outcome
        })
    };
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let daemon = daemon::Daemon::new(load(&project), Arc::new(daemon::SystemClock), runner);
    let runs_done = tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().thread_stack_size(64 << 20).build().unwrap();
        rt.block_on(daemon.serve(async move {
            let _ = done.await;
        }))
    })
    .unwrap();
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(runs_done.len() >= 2, "{runs_done:?}");
    match &runs_done[0].outcome {
        daemon::Outcome::Failed { attempts: 1, error, .. } => assert!(error.contains("panicked: boom in the first run"), "{error}"),
        other => panic!("the first run should fail with the panic, got {other:?}"),
    }
    assert!(matches!(runs_done[1].outcome, daemon::Outcome::Done { .. }), "{runs_done:?}");
    assert!(log.contains("The run panicked.") && log.contains("boom in the first run"), "{log}");
    assert!(log.contains("Run failed for good."), "{log}");
    assert_eq!(runs(&project).iter().filter(|r| r.3 == "done").count(), 1);
}

#[test]
fn a_run_that_finally_fails_is_retried_and_the_operators_are_told() {
    let project = DemoProject::new();
    set_job(
        &project,
        "name = \"monthly\"\ncron = \"0 0 9 5 * *\"\ncatch_up = \"all\"\nretries = 2\nretry_backoff_s = 0\nnotify = [\"ops@example.gov.cn\"]",
    );
    // Every source without a usable header: each attempt finds nothing to report.
    for file in std::fs::read_dir(project.path("data/demo")).unwrap() {
        std::fs::write(file.unwrap().path(), "not,a,header\n1,2,3\n").unwrap();
    }
    let clock = Arc::new(daemon::ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 10, 2, 0, 0).unwrap()));
    let daemon = daemon::Daemon::new(load(&project), clock.clone(), daemon::pipeline_runner());
    let rt = runtime();
    rt.block_on(daemon.catch_up()).unwrap();
    clock.set(Utc.with_ymd_and_hms(2026, 2, 6, 2, 0, 0).unwrap());
    let caught = rt.block_on(daemon.catch_up()).unwrap();
    assert_eq!(caught.len(), 1);
    match &caught[0].outcome {
        daemon::Outcome::Failed { attempts, stage, error } => {
            assert_eq!((*attempts, stage.as_str()), (3, "transform"), "{error}");
            assert!(error.contains("no observations"), "{error}");
        }
        other => panic!("expected a final failure, got {other:?}"),
    }
    let states: Vec<String> = runs(&project).into_iter().map(|r| r.3).collect();
    assert_eq!(states, ["failed", "failed", "failed"]);
    let notices: Vec<_> = std::fs::read_dir(project.path("reports/outbox")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    let notice = std::fs::read_to_string(&notices[0]).unwrap();
    assert!(notice.contains("To: ops@example.gov.cn") && notice.contains("job monthly failed for 2026-01"), "{notice}");
    assert!(notice.contains("Stage: transform"), "{notice}");
    // A failed period is tried again at the next start.
    assert_eq!(rt.block_on(daemon.catch_up()).unwrap().iter().map(|r| r.period.to_string()).collect::<Vec<_>>(), ["2026-01"]);
}

#[test]
fn validate_reports_every_problem_by_name_and_serve_refuses_to_start() {
    let project = DemoProject::new();
    // An outbox folder that cannot be created (its parent is a file), and a relay that is down.
    let config_path = project.path("config/townpulse.toml");
    let config_text = std::fs::read_to_string(&config_path).unwrap().replace(
        "outbox_dir = \"../reports/outbox\"",
        "outbox_dir = \"townpulse.toml/outbox\"",
    );
    std::fs::write(&config_path, config_text).unwrap();
    let port = crate::smtp::free_port();
    let url = format!("smtp://127.0.0.1:{port}");
    let env = [("TOWNPULSE_SMTP_URL", url.as_str())];
    let output = project.run(&["validate"], &env);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(2), "{out}");
    assert!(out.contains("2 problems"), "{out}");
    assert!(out.contains("output.outbox_dir: cannot create") && out.contains("townpulse.toml/outbox"), "{out}");
    assert!(out.contains(&format!("smtp://127.0.0.1:{port}")) && out.contains("not reachable"), "{out}");
    // Offline, only the file problem remains.
    let offline = project.run(&["validate", "--offline"], &env);
    let out = text(&offline);
    assert_eq!(offline.status.code(), Some(2), "{out}");
    assert!(out.contains("1 problem:") && out.contains("outbox_dir") && !out.contains("not reachable"), "{out}");
    // The daemon runs the same checks and will not start.
    let served = project.run(&["serve"], &env);
    let out = text(&served);
    assert_eq!(served.status.code(), Some(2), "{out}");
    assert!(out.contains("refusing to start, 2 problem(s)"), "{out}");
}

#[test]
fn backfill_runs_each_period_once_and_a_dry_run_runs_nothing() {
    let project = DemoProject::new();
    let dry = project.run(&["backfill", "--from", "2021", "--to", "2023", "--dry-run"], &[]);
    let out = text(&dry);
    assert_eq!(dry.status.code(), Some(0), "{out}");
    assert!(out.contains("2021: would run") && out.contains("2023: would run") && out.contains("3 of 3 periods would run"), "{out}");
    assert!(!project.path("reports/ledger.sqlite").exists() || runs(&project).is_empty(), "a dry run ran something");
    let done = project.run(&["backfill", "--from", "2021", "--to", "2023"], &[]);
    assert_eq!(done.status.code(), Some(0), "{}", text(&done));
    let periods: Vec<String> = runs(&project).into_iter().map(|r| r.0).collect();
    assert_eq!(periods, ["2021", "2022", "2023"]);
    assert!(project.path("reports/out/2022/index.html").exists());
    assert!(project.outbox().is_empty(), "a backfill sends nothing unless asked (--send)");
    let again = project.run(&["backfill", "--from", "2022", "--to", "2024", "--dry-run"], &[]);
    let out = text(&again);
    assert!(out.contains("2022: done (run 2), skipped") && out.contains("2024: would run") && out.contains("1 of 3 periods would run"), "{out}");
    let mixed = project.run(&["backfill", "--from", "2022", "--to", "2024-01"], &[]);
    assert_eq!(mixed.status.code(), Some(2));
    assert!(text(&mixed).contains("must be periods of the same frequency"), "{}", text(&mixed));
}

#[test]
fn json_logs_carry_the_run_span_and_a_line_per_stage_with_rows_and_duration() {
    let project = DemoProject::new();
    let output = project.run(&["run", "--period", "2023"], &[("TOWNPULSE_LOG_FORMAT", "json"), ("TOWNPULSE_LOG", "info")]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let log = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    let stages: Vec<&serde_json::Value> = lines.iter().filter(|l| l["fields"]["message"] == "Stage finished.").collect();
    let names: Vec<&str> = stages.iter().map(|l| l["fields"]["stage"].as_str().unwrap()).collect();
    assert_eq!(names, ["ingest", "transform", "render", "deliver"]);
    for line in &stages {
        assert!(line["fields"]["rows"].is_u64() && line["fields"]["duration_ms"].is_u64(), "{line}");
        let run = &line["span"];
        assert_eq!((run["name"].as_str(), run["job"].as_str(), run["trigger"].as_str()), (Some("run"), Some("cli"), Some("cli")), "{line}");
        assert_eq!(run["period"].as_str(), Some("2023"), "{line}");
        assert!(run["run_id"].is_u64(), "{line}");
    }
    // The level comes from TOWNPULSE_LOG.
    let quiet = project.run(&["run", "--period", "2023"], &[("TOWNPULSE_LOG_FORMAT", "json"), ("TOWNPULSE_LOG", "error")]);
    assert!(String::from_utf8(quiet.stderr).unwrap().trim().is_empty());
}
