//! The scheduler behind `townpulse serve`: each configured job fires on its cron in its time zone
//! (tokio-cron-scheduler) and runs the period it reports through the same entry point as
//! `townpulse run`.
//!
//! The run key is the reported period, not the clock tick: a fire for a period already done
//! does nothing, so a double fire is harmless. Which periods are due at start — missed while the
//! daemon was down, or started and not completed — is computed from the run ledger and the cron
//! expression, never from the scheduler's own state. Time comes from a [`Clock`], so tests can
//! move it. A failed run is retried with doubling backoff; a final failure is logged with its
//! stage and cause and, if configured, emailed to the operators. A job that fails or panics
//! never stops the daemon. On shutdown the run in progress stops at its next stage boundary.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SubsecRound, Utc};
use config::{CatchUp, Config, Job};
use contract::Period;
use pipeline::{Hooks, PipelineError, RunOutcome, RunRequest, Trigger};
use tracing::{error, info, info_span, warn, Instrument};

/// Where the daemon reads the time.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until moved: for tests and dry runs.
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(now: DateTime<Utc>) -> ManualClock {
        ManualClock(Mutex::new(now))
    }

    pub fn set(&self, now: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = now;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What runs a period: [`pipeline::run_period`] unless a test substitutes it. Blocking.
pub type Runner = Arc<dyn Fn(&Config, &RunRequest) -> Result<RunOutcome, PipelineError> + Send + Sync>;

/// The real runner: `pipeline::run_period`.
pub fn pipeline_runner() -> Runner {
    Arc::new(pipeline::run_period)
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Ledger(#[from] ledger::LedgerError),
    #[error("job {job:?}: cron {cron:?}: {message}")]
    Cron { job: String, cron: String, message: String },
    #[error("job {job:?}: the scheduler refused it: {message}")]
    Scheduler { job: String, message: String },
    #[error("the ledger says job {job:?} was first seen at {at:?}, which is not an RFC 3339 time")]
    FirstSeen { job: String, at: String },
}

/// How one job's period ended, after any retries.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Run to the end; `problems` counts rows set aside and failed deliveries.
    Done { run_id: i64, problems: usize, emails_sent: usize },
    /// Another run had completed the period: nothing to do.
    AlreadyDone { run_id: i64 },
    /// Stopped at a stage boundary because the daemon is shutting down.
    Interrupted { stage: String },
    /// Failed on every attempt; `stage` and `error` are the last attempt's.
    Failed { attempts: u32, stage: String, error: String },
}

/// A job's period and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRun {
    pub job: String,
    pub period: Period,
    pub trigger: Trigger,
    pub outcome: Outcome,
}

/// The scheduled fire times of `job` after `after` up to and including `until`, oldest first
/// (at most `limit`, the latest ones).
pub fn fire_times(job: &Job, after: DateTime<Utc>, until: DateTime<Utc>, limit: usize) -> Result<Vec<DateTime<Utc>>, DaemonError> {
    let cron = config::parse_cron(&job.cron).map_err(|message| DaemonError::Cron { job: job.name.clone(), cron: job.cron.clone(), message })?;
    // Cron fires fall on whole seconds.
    let (after, until) = (after.trunc_subsecs(0), until.trunc_subsecs(0));
    let mut times = Vec::new();
    for fire in cron.iter_before(until.with_timezone(&job.time_zone) + chrono::Duration::seconds(1)) {
        let fire = fire.with_timezone(&Utc);
        if fire > until {
            continue;
        }
        if fire <= after || times.len() >= limit {
            break;
        }
        times.push(fire);
    }
    times.reverse();
    Ok(times)
}

/// The period a fire at `at` reports: the job's rule applied to the date in its time zone.
pub fn period_at(job: &Job, at: DateTime<Utc>) -> Period {
    job.period.period_for(at.with_timezone(&job.time_zone).date_naive())
}

/// The periods `job` must run when the daemon starts at `now`: those whose fire fell while the
/// daemon was down (since the ledger first saw the job) and are not done, chosen by the job's
/// catch-up policy; and, whatever the policy, those the job started and did not complete.
pub fn due_at_start(job: &Job, ledger: &ledger::Ledger, now: DateTime<Utc>) -> Result<Vec<Period>, DaemonError> {
    let first_seen_text = ledger.job_first_seen(&job.name, &now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))?;
    let first_seen = DateTime::parse_from_rfc3339(&first_seen_text)
        .map_err(|_| DaemonError::FirstSeen { job: job.name.clone(), at: first_seen_text.clone() })?
        .with_timezone(&Utc);
    // Enough fires for years of monthly jobs; a per-second job maps them to few periods anyway.
    let fires = fire_times(job, first_seen, now, 100_000)?;
    let mut fired: Vec<Period> = fires.into_iter().map(|fire| period_at(job, fire)).collect();
    fired.dedup();
    // `latest` looks at the latest fire only: once that period is done, older misses stay missed.
    let candidates = match job.catch_up {
        CatchUp::All => fired,
        CatchUp::Latest => fired.last().copied().into_iter().collect(),
        CatchUp::None => Vec::new(),
    };
    let mut due = BTreeSet::new();
    for period in candidates {
        if ledger.done_run(&period.to_string())?.is_none() {
            due.insert(period);
        }
    }
    for text in ledger.unfinished_periods(&job.name)? {
        if let Ok(period) = text.parse::<Period>() {
            due.insert(period);
        }
    }
    Ok(due.into_iter().collect())
}

/// The daemon: the configuration, a clock, a runner and a stop flag.
#[derive(Clone)]
pub struct Daemon {
    config: Arc<Config>,
    clock: Arc<dyn Clock>,
    runner: Runner,
    stop: Arc<AtomicBool>,
    stopped: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Daemon {
    pub fn new(config: Config, clock: Arc<dyn Clock>, runner: Runner) -> Daemon {
        Daemon { config: Arc::new(config), clock, runner, stop: Arc::new(AtomicBool::new(false)), stopped: Arc::new(tokio::sync::watch::Sender::new(false)) }
    }

    /// Asks the daemon to stop: no new work; the run in progress stops at its next stage boundary.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.stopped.send_replace(true);
    }

    /// Resolves once [`Daemon::stop`] has been called (at once if it already was).
    async fn stopped(&self) {
        let mut receiver = self.stopped.subscribe();
        let _ = receiver.wait_for(|stopped| *stopped).await;
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Runs every job's due periods (see [`due_at_start`]), oldest first, each once.
    pub async fn catch_up(&self) -> Result<Vec<JobRun>, DaemonError> {
        let mut runs = Vec::new();
        for job in &self.config.jobs {
            let due = {
                let ledger = ledger::Ledger::open(&self.config.output.ledger)?;
                due_at_start(job, &ledger, self.clock.now())?
            };
            if !due.is_empty() {
                info!(message = "Catching up.", job = %job.name, periods = ?due.iter().map(ToString::to_string).collect::<Vec<_>>());
            }
            for period in due {
                if self.stopping() {
                    return Ok(runs);
                }
                runs.push(self.run_job(job, period, Trigger::CatchUp).await);
            }
        }
        Ok(runs)
    }

    /// Runs `job` for `period`, retrying failures with doubling backoff; never panics.
    pub async fn run_job(&self, job: &Job, period: Period, trigger: Trigger) -> JobRun {
        let span = info_span!("job", job = %job.name, period = %period, trigger = trigger.code());
        let outcome = self.attempts(job, period, trigger).instrument(span).await;
        JobRun { job: job.name.clone(), period, trigger, outcome }
    }

    async fn attempts(&self, job: &Job, period: Period, trigger: Trigger) -> Outcome {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let request = RunRequest {
                job: job.name.clone(),
                trigger,
                skip_if_done: true,
                wait: true,
                hooks: Hooks { stop: Some(self.stop.clone()), on_stage: None },
                ..RunRequest::cli(Some(period), self.clock.now())
            };
            let (config, runner) = (self.config.clone(), self.runner.clone());
            let result = tokio::task::spawn_blocking(move || runner(&config, &request)).await;
            let (stage, message) = match result {
                Ok(Ok(outcome)) => {
                    return Outcome::Done { run_id: outcome.run_id, problems: outcome.problems.len(), emails_sent: outcome.emails_sent };
                }
                Ok(Err(PipelineError::AlreadyDone { run_id, .. })) => {
                    info!(message = "Period already done; nothing to do.", run_id);
                    return Outcome::AlreadyDone { run_id };
                }
                Ok(Err(PipelineError::Interrupted { stage })) => return Outcome::Interrupted { stage: stage.to_string() },
                Ok(Err(error)) => (error.stage().unwrap_or("start").to_string(), error.to_string()),
                Err(join) if join.is_panic() => {
                    let payload = join.into_panic();
                    let text = payload
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic without a message".to_string());
                    error!(message = "The run panicked.", panic = %text, attempt);
                    ("unknown (panic)".to_string(), format!("panicked: {text}"))
                }
                Err(join) => ("unknown".to_string(), format!("the run's task was cancelled: {join}")),
            };
            if attempt > job.retries || self.stopping() {
                error!(message = "Run failed for good.", stage = %stage, error = %message, attempts = attempt);
                self.notify_operators(job, period, &stage, &message, attempt).await;
                return Outcome::Failed { attempts: attempt, stage, error: message };
            }
            let wait = job.retry_backoff * 2u32.saturating_pow(attempt - 1);
            warn!(message = "Run failed; retrying.", stage = %stage, error = %message, attempt, retry_in_s = wait.as_secs_f64());
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.stopped() => {}
            }
            if self.stopping() {
                return Outcome::Interrupted { stage };
            }
        }
    }

    /// Emails the job's operators that a period failed for good; problems are logged, not raised.
    async fn notify_operators(&self, job: &Job, period: Period, stage: &str, message: &str, attempts: u32) {
        if job.notify.is_empty() {
            return;
        }
        let config = self.config.clone();
        let (job, now) = (job.clone(), self.clock.now());
        let (stage, message) = (stage.to_string(), message.to_string());
        let sent = tokio::task::spawn_blocking(move || -> Result<usize, String> {
            let mailer = pipeline::mailer(&config).map_err(|e| e.to_string())?;
            let subject = format!("townpulse: job {} failed for {period}", job.name);
            let body = format!(
                "The scheduled run of job {:?} for period {period} failed after {attempts} attempt(s).\n\nStage: {stage}\nCause: {message}\n\n\
                 The next start of the daemon tries the period again; `townpulse status` shows the run, `townpulse run --period {period}` runs it now.\n",
                job.name
            );
            let stamp = now.format("%Y%m%dT%H%M%S");
            let mut sent = 0;
            for address in &job.notify {
                let identity = format!("notice/{}/{period}/{stamp}/{address}", job.name);
                let email = report::compose_notice(&config.delivery.from, address, &subject, &body, &identity, now.into()).map_err(|e| e.to_string())?;
                let stem = format!("notice__{}__{period}__{stamp}__{}", report::address_stem(&job.name), report::address_stem(address));
                mailer.send(&email, &stem, config.delivery.retries, config.delivery.retry_backoff).map_err(|e| e.to_string())?;
                sent += 1;
            }
            Ok(sent)
        })
        .await;
        match sent {
            Ok(Ok(count)) => info!(message = "Operators told of the failure.", count),
            Ok(Err(error)) => error!(message = "Could not tell the operators of the failure.", error = %error),
            Err(join) => error!(message = "Could not tell the operators of the failure.", error = %join),
        }
    }

    /// Catches up, then runs each job on its cron until `shutdown` resolves or [`Daemon::stop`]
    /// is called; returns every job run, in order. One period runs at a time.
    pub async fn serve(&self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<Vec<JobRun>, DaemonError> {
        let watcher = {
            let daemon = self.clone();
            tokio::spawn(async move {
                shutdown.await;
                info!(message = "Shutting down: no new work; the run in progress stops at its next stage.");
                daemon.stop();
            })
        };
        let mut runs = self.catch_up().await?;
        let (sender, mut fires) = tokio::sync::mpsc::unbounded_channel::<usize>();
        let mut scheduler = tokio_cron_scheduler::JobScheduler::new()
            .await
            .map_err(|e| DaemonError::Scheduler { job: String::new(), message: e.to_string() })?;
        for (index, job) in self.config.jobs.iter().enumerate() {
            let sender = sender.clone();
            let scheduled = tokio_cron_scheduler::Job::new_async_tz(job.cron.as_str(), job.time_zone, move |_id, _scheduler| {
                let sender = sender.clone();
                Box::pin(async move {
                    let _ = sender.send(index);
                })
            })
            .map_err(|e| DaemonError::Scheduler { job: job.name.clone(), message: e.to_string() })?;
            scheduler.add(scheduled).await.map_err(|e| DaemonError::Scheduler { job: job.name.clone(), message: e.to_string() })?;
            info!(message = "Job scheduled.", job = %job.name, cron = %job.cron, time_zone = %job.time_zone);
        }
        scheduler.start().await.map_err(|e| DaemonError::Scheduler { job: String::new(), message: e.to_string() })?;
        while !self.stopping() {
            let index = tokio::select! {
                fired = fires.recv() => match fired { Some(index) => index, None => break },
                _ = self.stopped() => break,
            };
            let job = &self.config.jobs[index];
            // The fire's scheduled time, in the job's own zone, decides the period; a fire that
            // comes twice, or late, maps to the same period and the run key makes it a no-op.
            let now = self.clock.now();
            let fire = fire_times(job, now - chrono::Duration::days(366), now, 1)?.pop().unwrap_or(now);
            let period = period_at(job, fire);
            runs.push(self.run_job(job, period, Trigger::Cron).await);
        }
        let _ = scheduler.shutdown().await;
        watcher.abort();
        Ok(runs)
    }
}
