//! Delivery through a real SMTP server on loopback, chosen by TOWNPULSE_SMTP_URL.

use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use mail_parser::MessageParser;
use mogimail::SmtpServer;

use crate::{DemoProject, text};

/// A real SMTP server on a free loopback port; returns its port and the messages it accepts.
fn smtp_server() -> (u16, mpsc::Receiver<mogimail::Email>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = SmtpServer::new("townpulse-test.local").start_with_listener(listener, sender);
    });
    (port, receiver)
}

#[test]
fn smtp_delivery_sends_each_recipient_one_message_once() {
    let (port, received) = smtp_server();
    let project = DemoProject::new();
    let url = format!("smtp://127.0.0.1:{port}");
    let env = [("TOWNPULSE_SMTP_URL", url.as_str())];
    let output = project.run(&["run"], &env);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(project.outbox().is_empty(), "SMTP was configured, yet the outbox was used");
    let messages: Vec<mogimail::Email> = received.try_iter().collect();
    assert_eq!(messages.len(), 4, "one message per recipient");
    let mut recipients: Vec<String> = messages.iter().flat_map(|m| m.to.clone()).collect();
    recipients.sort();
    assert_eq!(
        recipients,
        ["fgw@zhejiang.example.gov.cn", "lishui@lishui.example.gov.cn", "pilots@ndrc.example.gov.cn", "tjj@jiaxing.example.gov.cn"]
    );
    // mogimail drops the blank lines of the DATA it captures, so the body cannot be parsed back
    // here (the outbox tests parse the same message whole); the headers and both parts are checked.
    for email in &messages {
        let message = MessageParser::default().parse(email.data.as_bytes()).expect("MIME headers");
        assert!(message.subject().unwrap().contains("2023 城镇发展监测月报") || message.subject().unwrap().contains("2023"), "{:?}", message.subject());
        assert!(email.data.contains("Content-Type: multipart/alternative"), "not multipart/alternative");
        assert!(email.data.contains("Content-Type: text/plain; charset=utf-8") && email.data.contains("Content-Type: text/html; charset=utf-8"));
        assert!(email.data.contains("Message-ID: <2023."));
    }
    // A second run sends nothing.
    let again = project.run(&["run"], &env);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(received.recv_timeout(Duration::from_millis(300)).is_err(), "a re-run sent email again");
}

/// Sets the delivery retries and backoff of a demo project.
pub(crate) fn set_retries(project: &DemoProject, retries: u32, backoff_ms: u64) {
    let path = project.path("config/townpulse.toml");
    let config = std::fs::read_to_string(&path).unwrap();
    let config = config.replace(
        "from = \"townpulse <townpulse@localhost>\"",
        &format!("from = \"townpulse <townpulse@localhost>\"\nretries = {retries}\nretry_backoff_ms = {backoff_ms}"),
    );
    std::fs::write(&path, config).unwrap();
}

/// A port with nothing listening on it (bound, then released).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A real SMTP server that starts listening on `port` only after `delay`.
fn smtp_server_later(port: u16, delay: Duration) -> mpsc::Receiver<mogimail::Email> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let _ = SmtpServer::new("townpulse-test.local").start_with_listener(listener, sender);
    });
    receiver
}

#[test]
fn a_server_down_at_first_and_up_later_gets_every_message_once() {
    let port = free_port();
    let received = smtp_server_later(port, Duration::from_millis(1500));
    let project = DemoProject::new();
    set_retries(&project, 5, 300);
    let url = format!("smtp://127.0.0.1:{port}");
    let output = project.run(&["run"], &[("TOWNPULSE_SMTP_URL", url.as_str())]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    std::thread::sleep(Duration::from_millis(200));
    let messages: Vec<mogimail::Email> = received.try_iter().collect();
    assert_eq!(messages.len(), 4, "every recipient once");
    let connection = rusqlite::Connection::open(project.path("reports/ledger.sqlite")).unwrap();
    let retried: i64 = connection.query_row("SELECT COUNT(*) FROM deliveries WHERE state = 'sent' AND result LIKE '%retries%'", [], |r| r.get(0)).unwrap();
    assert!(retried >= 1, "the first delivery should have needed retries");
}

#[test]
fn resend_failed_only_delivers_just_the_failed_and_to_names_one_recipient() {
    let port = free_port();
    let project = DemoProject::new();
    set_retries(&project, 0, 10);
    let url = format!("smtp://127.0.0.1:{port}");
    let env = [("TOWNPULSE_SMTP_URL", url.as_str())];
    let failed = project.run(&["run"], &env);
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
    // The server comes up; only the failed deliveries go out, once.
    let received = smtp_server_later(port, Duration::ZERO);
    std::thread::sleep(Duration::from_millis(200));
    let resent = project.run(&["resend", "--period", "2023", "--failed-only"], &env);
    assert_eq!(resent.status.code(), Some(0), "{}", text(&resent));
    assert!(text(&resent).contains("4 emails sent"), "{}", text(&resent));
    let again = project.run(&["resend", "--period", "2023", "--failed-only"], &env);
    assert!(text(&again).contains("0 emails sent, 4 left alone"), "{}", text(&again));
    // An operator re-sends one recipient's summary by name.
    let one = project.run(&["resend", "--period", "2023", "--to", "tjj@jiaxing.example.gov.cn"], &env);
    assert_eq!(one.status.code(), Some(0), "{}", text(&one));
    std::thread::sleep(Duration::from_millis(200));
    let messages: Vec<mogimail::Email> = received.try_iter().collect();
    assert_eq!(messages.len(), 5, "four failed ones, then the one named");
    assert_eq!(messages.iter().filter(|m| m.to.iter().any(|t| t == "tjj@jiaxing.example.gov.cn")).count(), 2);
}

#[test]
fn an_unreachable_smtp_server_is_a_reported_problem_and_nothing_is_marked_sent() {
    let port = free_port();
    let project = DemoProject::new();
    set_retries(&project, 2, 10);
    let url = format!("smtp://127.0.0.1:{port}");
    let output = project.run(&["run"], &[("TOWNPULSE_SMTP_URL", url.as_str())]);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains(&format!("delivering to fgw@zhejiang.example.gov.cn by smtp smtp://127.0.0.1:{port}: failed after 3 attempts")), "{out}");
    let connection = rusqlite::Connection::open(project.path("reports/ledger.sqlite")).unwrap();
    let sent: i64 = connection.query_row("SELECT COUNT(*) FROM deliveries WHERE state = 'sent'", [], |r| r.get(0)).unwrap();
    let failed: i64 = connection.query_row("SELECT COUNT(*) FROM deliveries WHERE state = 'failed'", [], |r| r.get(0)).unwrap();
    assert_eq!((sent, failed), (0, 4));
}

/// Python with aiosmtpd, which `.ci/run` installs; without it the test says it did not run (and fails under CI).
fn aiosmtpd_python(test: &str) -> Option<&'static str> {
    let ok = std::process::Command::new("python3").args(["-c", "import aiosmtpd"]).output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var("CI").is_err(), "aiosmtpd is required under CI (python3 -m pip install aiosmtpd) but was not found");
        eprintln!("NOT RUN: {test}: python3 with aiosmtpd not found (python3 -m pip install aiosmtpd)");
    }
    ok.then_some("python3")
}

/// A real SMTP server (aiosmtpd, `tests/data/smtp_refusing.py`) on loopback: it refuses
/// `refused` while `marker` exists, holds each message `delay_s` seconds, and logs each
/// accepted message's recipients, a line a message. Killed on drop.
pub(crate) struct PySmtp {
    child: std::process::Child,
    pub port: u16,
    pub log: std::path::PathBuf,
}

impl PySmtp {
    pub(crate) fn start(test: &str, dir: &std::path::Path, refused: &str, marker: &std::path::Path, delay_s: f64) -> Option<PySmtp> {
        let python = aiosmtpd_python(test)?;
        let log = dir.join("received.log");
        let port = free_port();
        let mut child = std::process::Command::new(python)
            .arg(crate::project_dir().join("tests/data/smtp_refusing.py"))
            .args([port.to_string().as_str(), refused])
            .arg(&log)
            .arg(marker)
            .arg(delay_s.to_string())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut ready = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut ready).unwrap();
        assert_eq!(ready.trim(), "ready");
        Some(PySmtp { child, port, log })
    }

    /// The recipients of each accepted message, in order.
    pub(crate) fn received(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log).unwrap_or_default().lines().map(str::to_string).collect()
    }
}

impl Drop for PySmtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_refused_recipient_is_recorded_the_others_delivered_and_resend_failed_only_sends_just_that_one() {
    let temp = tempfile::tempdir().unwrap();
    let marker = temp.path().join("refuse");
    std::fs::write(&marker, "").unwrap();
    let Some(server) = PySmtp::start("a_refused_recipient…", temp.path(), "tjj@jiaxing.example.gov.cn", &marker, 0.0) else { return };
    let (port, log) = (server.port, server.log.clone());
    let project = DemoProject::new();
    set_retries(&project, 3, 10);
    let url = format!("smtp://127.0.0.1:{port}");
    let env = [("TOWNPULSE_SMTP_URL", url.as_str())];
    let first = project.run(&["run"], &env);
    let out = text(&first);
    assert_eq!(first.status.code(), Some(1), "{out}");
    assert!(out.contains("delivering to tjj@jiaxing.example.gov.cn") && out.contains("refused permanently after 1 attempts"), "{out}");
    let received = std::fs::read_to_string(&log).unwrap();
    assert_eq!(received.lines().count(), 3, "the others were delivered: {received}");
    assert!(!received.contains("tjj@"), "{received}");
    let status = text(&project.run(&["status"], &[]));
    assert!(status.contains("tjj@jiaxing.example.gov.cn: failed ("), "{status}");

    // The mailbox is back: only the refused recipient is sent, once.
    std::fs::remove_file(&marker).unwrap();
    let resent = project.run(&["resend", "--period", "2023", "--failed-only"], &env);
    assert_eq!(resent.status.code(), Some(0), "{}", text(&resent));
    let received = std::fs::read_to_string(&log).unwrap();
    assert_eq!(received.lines().collect::<Vec<_>>()[3..], ["tjj@jiaxing.example.gov.cn"], "{received}");
}

#[test]
fn no_secret_appears_in_any_output_or_log() {
    // mogimail offers no AUTH, so these deliveries fail; what matters is where the password goes.
    let (port, _received) = smtp_server();
    let project = DemoProject::new();
    set_retries(&project, 2, 10);
    let secret = "s3cr3t-Passw0rd-do-not-leak";
    let url = format!("smtp://reports@127.0.0.1:{port}");
    let env = [("TOWNPULSE_SMTP_URL", url.as_str()), ("TOWNPULSE_SMTP_PASSWORD", secret), ("TOWNPULSE_LOG", "debug")];
    let output = project.run(&["run"], &env);
    let logs = text(&output);
    assert_eq!(output.status.code(), Some(1), "{logs}");
    assert!(logs.contains("failed after 1 attempts"), "a configuration error must not be retried: {logs}");
    assert!(!logs.contains(secret), "the password is in the logs");
    assert!(!logs.contains("reports@127.0.0.1"), "the SMTP user is in the logs unredacted");
    let status = text(&project.run(&["status"], &env));
    assert!(!status.contains(secret));
    let mut files = vec![project.path("reports")];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "the password is in {}", path.display());
        }
    }
}
