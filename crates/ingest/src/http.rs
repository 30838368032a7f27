//! Fetching a source over HTTP: a timeout per attempt, retries with exponential backoff and
//! jitter on timeouts, connection failures and 5xx (never on 4xx), and a final error that names
//! the source, the URL and what happened on the last attempt.

use std::time::Duration;

use tracing::warn;

use crate::IngestError;

/// How to fetch one URL.
#[derive(Debug, Clone)]
pub struct Fetch<'a> {
    pub source: &'a str,
    pub url: &'a str,
    /// Per attempt, connecting and reading the whole body.
    pub timeout: Duration,
    /// Attempts after the first.
    pub retries: u32,
    /// The first wait before a retry; doubled each time, plus up to half again of jitter.
    pub backoff: Duration,
}

/// What one attempt gave.
enum Attempt {
    Body(Vec<u8>),
    /// Worth another try: a timeout, a refused or dropped connection, a 5xx.
    Transient(String),
    /// Not worth another try: a 4xx, a malformed URL.
    Permanent(String),
}

/// The bytes at `fetch.url`, after as many retries as allowed. Blocking: call it off the async
/// runtime (from `spawn_blocking`, or a plain thread).
pub fn fetch(fetch: &Fetch<'_>) -> Result<Vec<u8>, IngestError> {
    let client = reqwest::Client::builder()
        .timeout(fetch.timeout)
        .connect_timeout(fetch.timeout)
        .user_agent(concat!("townpulse/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| failed(fetch, 1, format!("cannot build the HTTP client: {e}")))?;
    let run = async {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match once(&client, fetch.url).await {
                Attempt::Body(body) => return Ok(body),
                Attempt::Permanent(message) => return Err(failed(fetch, attempt, message)),
                Attempt::Transient(message) if attempt > fetch.retries => return Err(failed(fetch, attempt, message)),
                Attempt::Transient(message) => {
                    let wait = backoff(fetch.backoff, attempt, fetch.url);
                    warn!(message = "Fetch failed; retrying.", source = fetch.source, url = fetch.url, attempt, error = %message, retry_in_ms = wait.as_millis() as u64);
                    tokio::time::sleep(wait).await;
                }
            }
        }
    };
    // Inside a runtime's blocking thread, use that runtime; elsewhere, a small one of our own.
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.block_on(run),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| failed(fetch, 0, format!("cannot start an async runtime: {e}")))?
            .block_on(run),
    }
}

async fn once(client: &reqwest::Client, url: &str) -> Attempt {
    let response = match client.get(url).send().await {
        Ok(response) => response,
        Err(error) if error.is_builder() => return Attempt::Permanent(format!("not a usable URL: {}", unravel(&error))),
        Err(error) if error.is_timeout() => return Attempt::Transient("timed out".to_string()),
        Err(error) => return Attempt::Transient(unravel(&error)),
    };
    let status = response.status();
    if status.is_server_error() {
        return Attempt::Transient(format!("HTTP {status}"));
    }
    if !status.is_success() {
        return Attempt::Permanent(format!("HTTP {status}"));
    }
    match response.bytes().await {
        Ok(body) => Attempt::Body(body.to_vec()),
        Err(error) if error.is_timeout() => Attempt::Transient("timed out reading the body".to_string()),
        Err(error) => Attempt::Transient(format!("reading the body: {}", unravel(&error))),
    }
}

/// `base · 2^(attempt-1)`, plus a jitter of up to half that, spread by the URL and the clock so
/// that several sources failing together do not retry in step.
fn backoff(base: Duration, attempt: u32, url: &str) -> Duration {
    let wait = base.saturating_mul(2u32.saturating_pow(attempt - 1));
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos() as u64);
    let spread = url.bytes().fold(nanos, |h, b| h.wrapping_mul(31).wrapping_add(b as u64)) % 1000;
    wait + wait.mul_f64(spread as f64 / 2000.0)
}

fn failed(fetch: &Fetch<'_>, attempts: u32, message: String) -> IngestError {
    IngestError::Fetch { source_name: fetch.source.to_string(), url: fetch.url.to_string(), attempts, message }
}

/// The error and its causes, joined: reqwest's own message is often just "error sending request".
fn unravel(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let more = inner.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = inner.source();
    }
    text
}
