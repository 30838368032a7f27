//! The one entry point that runs a period: ingest → warehouse → transform → report → deliver,
//! recorded in the run ledger. The CLI and the scheduler both call [`run_period`].
//!
//! Blocking: callers on an async runtime run it in `spawn_blocking`.

mod compute;
mod demo_data;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use config::{Config, SourceKind, Transport};
use contract::Period;
use ingest::{CsvOptions, Warehouse};
use ledger::{DeliveryState, Ledger};
use polars::prelude::DataFrame;
use polars::prelude::IntoLazy;
use report::{EmailRequest, Mailer, ProblemInfo, Renderer, ReportInput, SourceInfo};
use sha2::{Digest, Sha256};
use rayon::prelude::*;
use tracing::{debug_span, info, info_span, warn};

pub use compute::{ComputeOutcome, ComputeRequest, compute_files};
pub use transform::{Measures, SERIES_MEASURES};
pub use demo_data::{DemoDataOutcome, DemoDataRequest, Scale, demo_data};

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// An operator's `townpulse run` or `resend`.
    Cli,
    /// A scheduled fire of a job.
    Cron,
    /// A period the daemon missed while it was down, or did not complete, run at its start.
    CatchUp,
    /// `townpulse backfill`.
    Backfill,
}

impl Trigger {
    pub fn code(self) -> &'static str {
        match self {
            Trigger::Cli => "cli",
            Trigger::Cron => "cron",
            Trigger::CatchUp => "catch_up",
            Trigger::Backfill => "backfill",
        }
    }
}

/// Told each stage's name as it starts.
pub type StageCallback = Arc<dyn Fn(&str) + Send + Sync>;

/// Ways for a caller to watch and stop a run: a stop flag checked between stages and between
/// deliveries (never in the middle of a write), and a callback told each stage as it starts.
#[derive(Clone, Default)]
pub struct Hooks {
    pub stop: Option<Arc<AtomicBool>>,
    pub on_stage: Option<StageCallback>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks").field("stop", &self.stop).field("on_stage", &self.on_stage.is_some()).finish()
    }
}

impl Hooks {
    fn stopping(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst))
    }

    /// Enters `stage`: tells the watcher, or refuses with [`PipelineError::Interrupted`] when asked to stop.
    fn enter(&self, stage: &'static str, current: &mut &'static str) -> Result<(), PipelineError> {
        *current = stage;
        if self.stopping() {
            return Err(PipelineError::Interrupted { stage });
        }
        if let Some(on_stage) = &self.on_stage {
            on_stage(stage);
        }
        Ok(())
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The period to report; `None` reports the latest period present in the data.
    pub period: Option<Period>,
    /// The scheduled job asking, or `cli`.
    pub job: String,
    pub trigger: Trigger,
    /// Do nothing (fail with [`PipelineError::AlreadyDone`]) when a run already completed the
    /// period: the run key of scheduled runs. Checked while holding the run lock.
    pub skip_if_done: bool,
    /// Send the summaries (false: compute and render only, as a backfill does by default).
    pub deliver: bool,
    pub hooks: Hooks,
    /// Reproduce the report from the warehouse as it stood at this time: no ingest, no delivery;
    /// the report goes to `<report_dir>/as-of-<time>/<period>/` and the run is `reproduced`.
    pub as_of: Option<chrono::DateTime<chrono::Utc>>,
    /// Re-render and re-send even what was already sent.
    pub force: bool,
    /// Wait for another run holding the lock to finish, instead of failing.
    pub wait: bool,
    /// Deliver only to these addresses (all recipients when empty).
    pub only: Vec<String>,
    /// Deliver only to recipients whose last delivery of the period did not succeed.
    pub failed_only: bool,
    /// The time of the run, for the ledger and email dates (the only clock reading).
    pub now: chrono::DateTime<chrono::Utc>,
}

impl RunRequest {
    /// An operator's run of `period` (default: the latest in the data): delivers, not forced.
    pub fn cli(period: Option<Period>, now: chrono::DateTime<chrono::Utc>) -> RunRequest {
        RunRequest {
            period,
            job: "cli".to_string(),
            trigger: Trigger::Cli,
            skip_if_done: false,
            deliver: true,
            hooks: Hooks::default(),
            as_of: None,
            force: false,
            wait: false,
            only: Vec::new(),
            failed_only: false,
            now,
        }
    }
}

/// How a run ended, when it did not fail.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run_id: i64,
    pub period: Period,
    pub report_path: String,
    pub observations: usize,
    pub targets: usize,
    pub emails_sent: usize,
    pub emails_already_sent: usize,
    /// Problems that did not stop the run: rows or sources set aside, deliveries that failed.
    pub problems: Vec<String>,
}

impl RunOutcome {
    /// 0 when the run was clean, 1 when it finished with problems.
    pub fn exit_code(&self) -> i32 {
        if self.problems.is_empty() { 0 } else { 1 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Ledger(#[from] ledger::LedgerError),
    #[error(transparent)]
    Ingest(#[from] ingest::IngestError),
    #[error(transparent)]
    Transform(#[from] transform::TransformError),
    #[error(transparent)]
    Report(#[from] report::ReportError),
    #[error("no observations: every source failed or delivered no rows, so there is nothing to report")]
    NoData,
    #[error("the warehouse holds no vintage fetched by {as_of}: nothing to reproduce (the first was fetched at {first})")]
    NothingAsOf { as_of: String, first: String },
    #[error("invalid catalogue, {0}")]
    Catalogue(contract::Problems),
    #[error("no recipient {address:?} in the configuration")]
    UnknownRecipient { address: String },
    #[error("another run holds the lock {path} ({holder}); wait for it or pass --wait")]
    Locked { path: String, holder: String },
    #[error("run lock {path}: {error}")]
    Lock { path: String, error: std::io::Error },
    #[error("period {period} was already completed by run {run_id}; nothing to do")]
    AlreadyDone { period: String, run_id: i64 },
    #[error("stopped before stage {stage}, as asked; the next run completes the period")]
    Interrupted { stage: &'static str },
    #[error("the series writer stopped before the engine's last part")]
    WriterStopped,
    #[error("run {run_id} failed in stage {stage}: {error}")]
    Failed { run_id: i64, stage: &'static str, error: Box<PipelineError> },
}

impl PipelineError {
    /// The stage a failed run stopped in, when known.
    pub fn stage(&self) -> Option<&'static str> {
        match self {
            PipelineError::Failed { stage, .. } | PipelineError::Interrupted { stage } => Some(stage),
            _ => None,
        }
    }
}

struct Clock {
    started: Instant,
}

impl Clock {
    fn start() -> Clock {
        Clock { started: Instant::now() }
    }

    /// Records a finished stage in the ledger and the log: its rows and duration.
    fn finish(&self, ledger: &Ledger, run_id: i64, stage: &'static str, rows: usize) -> Result<(), PipelineError> {
        let duration_ms = self.started.elapsed().as_millis();
        info!(message = "Stage finished.", stage, rows, duration_ms = duration_ms as u64);
        Ok(ledger.record_stage(run_id, stage, rows, duration_ms)?)
    }
}

/// Shows `path` relative to the project (the configuration folder's parent) when it lies inside it.
fn display_path(config: &Config, path: &Path) -> String {
    let root = config.path.parent().and_then(Path::parent).unwrap_or(Path::new(""));
    path.strip_prefix(root).map_or_else(|_| path.display().to_string(), |p| p.display().to_string())
}

/// Maps a Polars error of a pipeline step to the engine's error, naming the step.
pub(crate) fn polars_stage(stage: &'static str) -> impl FnOnce(polars::prelude::PolarsError) -> PipelineError {
    move |error| PipelineError::Transform(transform::TransformError::Polars { stage, error })
}

/// Where a source is read from, for messages and the report.
fn source_place(config: &Config, source: &config::Source) -> String {
    match source.location() {
        config::Location::File(path) => display_path(config, &path),
        config::Location::Url(url) => url,
    }
}

/// Reads (or fetches) one configured source and checks it against the catalogue.
fn read_source(config: &Config, source: &config::Source) -> Result<ingest::SourceBatch, ingest::IngestError> {
    match &source.kind {
        SourceKind::Csv { path, encoding } => ingest::read_csv_source(
            &CsvOptions { name: &source.name, path, gb18030: *encoding == config::Encoding::Gb18030, max_bad_row_share: source.max_bad_row_share },
            &config.catalogue,
        ),
        SourceKind::Reader(reader) => ingest::read_reader_source(
            &ingest::ReaderOptions {
                name: &source.name,
                location: match &reader.location {
                    config::Location::File(path) => ingest::Location::File(path),
                    config::Location::Url(url) => ingest::Location::Url(url),
                },
                spec: &reader.spec,
                fetch: ingest::FetchSettings { timeout: reader.timeout, retries: reader.retries, backoff: reader.retry_backoff },
                entities: &reader.entities,
                indicators: &reader.indicators,
                nbs_codes: reader.nbs_codes,
                skip_unknown_indicators: reader.skip_unknown_indicators,
                max_bad_row_share: source.max_bad_row_share,
            },
            &config.catalogue,
        ),
    }
}

/// The revisions a source's own vintages show, as data-quality findings.
pub(crate) fn revision_findings(revisions: &[ingest::Revision]) -> Vec<transform::Finding> {
    revisions
        .iter()
        .map(|r| transform::Finding {
            level: "warn",
            check: "revision",
            entity: Some(r.entity.clone()),
            indicator: Some(r.indicator.clone()),
            period: Some(r.period.clone()),
            message: format!("{}: {}", r.place, transform::revision_message(r.old_value, &r.old_vintage, r.new_value, &r.new_vintage)),
        })
        .collect()
}

/// Findings as rows of the report's data-quality appendix.
fn finding_rows(findings: &[transform::Finding]) -> Vec<ProblemInfo> {
    findings
        .iter()
        .map(|finding| ProblemInfo {
            level: finding.level.into(),
            place: [&finding.entity, &finding.indicator, &finding.period].iter().filter_map(|p| p.as_deref()).collect::<Vec<_>>().join(" · "),
            message: format!("{}: {}", finding.check, finding.message),
        })
        .collect()
}

/// Records problems in the ledger and the report's data-quality appendix.
fn record_rows(ledger: &Ledger, run_id: i64, new: Vec<ProblemInfo>, rows: &mut Vec<ProblemInfo>) -> Result<(), PipelineError> {
    ledger.record_problems(run_id, new.iter().map(|row| (row.level.as_str(), row.place.as_str(), row.message.as_str())))?;
    rows.extend(new);
    Ok(())
}

/// Records findings in the ledger and the report's data-quality appendix.
fn record_findings(ledger: &Ledger, run_id: i64, findings: &[transform::Finding], rows: &mut Vec<ProblemInfo>) -> Result<(), PipelineError> {
    record_rows(ledger, run_id, finding_rows(findings), rows)
}

/// The values a source's latest vintage (as of `as_of`, if given) changed from the vintage before it.
fn vintage_revisions(warehouse: &Warehouse, source: &str, as_of: Option<&str>) -> Result<Vec<transform::Finding>, PipelineError> {
    let vintages: Vec<ingest::Vintage> = warehouse.vintages(source)?.into_iter().filter(|v| as_of.is_none_or(|t| v.fetched_at.as_str() <= t)).collect();
    match vintages.as_slice() {
        [.., previous, latest] if previous.vintage != latest.vintage => {
            let previous = warehouse.vintage_frame(source, &previous.vintage)?;
            let latest = warehouse.vintage_frame(source, &latest.vintage)?;
            transform::revisions(&previous, &latest).map_err(polars_stage("revisions"))
        }
        _ => Ok(Vec::new()),
    }
}

/// The metrics a report reads, and how many series rows were computed. Of the series only the
/// rows of the entities and indicators with a target are kept (the report draws them as trend
/// charts): the engine works indicator by indicator, so memory holds one part's series at a time.
fn report_metrics(observations: &DataFrame, config: &Config, period: Period) -> Result<(transform::Metrics, usize), PipelineError> {
    use contract::columns::{END_MONTH, ENTITY, FREQ, INDICATOR, PERIOD, VALUE};
    use polars::prelude::*;
    let pairs: Vec<(&str, &str)> = config.catalogue.targets.iter().map(|t| (t.entity.as_str(), t.indicator.as_str())).collect();
    let charted = df![
        "_c_entity" => pairs.iter().map(|p| p.0).collect::<Vec<_>>(),
        "_c_indicator" => pairs.iter().map(|p| p.1).collect::<Vec<_>>(),
    ]
    .and_then(|f| f.unique_stable(None, UniqueKeepStrategy::First, None))
    .map_err(polars_stage("charted series"))?;
    let mut kept = Vec::new();
    let assessed = transform::compute_by_indicator(observations, &config.catalogue, period, &settings(&config.assessment), |series| {
        let rows = series
            .lazy()
            .select([col(ENTITY), col(INDICATOR), col(PERIOD), col(FREQ), col(VALUE), col(END_MONTH)])
            .join(charted.clone().lazy(), [col(ENTITY), col(INDICATOR)], [col("_c_entity"), col("_c_indicator")], JoinArgs::new(JoinType::Inner))
            .collect()
            .and_then(transform::own_strings)
            .map_err(polars_stage("charted series"))?;
        kept.push(rows.lazy());
        Ok::<(), PipelineError>(())
    })?;
    let series = match kept.is_empty() {
        true => df![ENTITY => Vec::<String>::new(), INDICATOR => Vec::<String>::new(), PERIOD => Vec::<String>::new(), FREQ => Vec::<String>::new(), VALUE => Vec::<f64>::new(), END_MONTH => Vec::<i32>::new()],
        false => concat(kept, UnionArgs::default()).and_then(LazyFrame::collect),
    }
    .map_err(polars_stage("charted series"))?;
    let metrics = transform::Metrics { period, series, latest: assessed.latest, targets: assessed.targets, findings: assessed.findings, standards: assessed.standards };
    Ok((metrics, assessed.series_rows))
}

/// The view of the full report, and the frames it shows when they are not all of `input`'s:
/// every entity, or those down to `report.deepest_level` with the targets below them counted
/// by status under each.
fn full_report(config: &Config, input: &ReportInput<'_>, by_entity: &report::ByEntity) -> Result<(report::View, Option<report::Frames>), PipelineError> {
    let labels = report::labels_for(config.language.code());
    match config.report_entities() {
        None => Ok((report::build_view(input, labels, None)?, None)),
        Some(shown) => {
            let frames = by_entity.frames_of(&shown)?;
            let mut view = report::build_view(&frames.input(input), labels, None)?;
            view.below = report::targets_below(input.targets, &config.catalogue, &shown, &view.t)?;
            Ok((view, Some(frames)))
        }
    }
}

/// What the report stage reads: the metrics of a period with the catalogue, sources and problems.
fn report_input<'a>(config: &'a Config, metrics: &'a transform::Metrics, sources: &'a [SourceInfo], problems: &'a [ProblemInfo]) -> ReportInput<'a> {
    ReportInput {
        catalogue: &config.catalogue,
        period: metrics.period,
        series: &metrics.series,
        standards: &metrics.standards,
        latest: &metrics.latest,
        targets: &metrics.targets,
        sources,
        problems,
    }
}

/// How many summaries are composed at once (in parallel, while the batch before is delivered one by one).
const COMPOSED_AHEAD: usize = 32;

/// Recipients with the summaries composed for them, ready to deliver.
type Composed<'a> = Vec<(&'a config::Recipient, Result<report::Email, PipelineError>)>;

/// The summary email of one recipient: the regions they follow, in their language.
#[allow(clippy::too_many_arguments)]
fn compose_for(
    config: &Config,
    input: &ReportInput<'_>,
    by_entity: &report::ByEntity,
    followed: &BTreeSet<String>,
    renderer: &Renderer,
    recipient: &config::Recipient,
    report_link: &str,
    attachment: Option<&report::Attachment>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<report::Email, PipelineError> {
    let frames = debug_span!("summary step", step = "rows").in_scope(|| by_entity.frames_of(followed))?;
    // A summary lists targets and alerts only; the sources and data problems stay in the report.
    let summary = ReportInput { sources: &[], problems: &[], ..frames.input(input) };
    let view = debug_span!("summary step", step = "view")
        .in_scope(|| report::build_view(&summary, report::labels_for(recipient.language.code()), Some(followed)))?;
    let _email = debug_span!("summary step", step = "email").entered();
    Ok(report::compose_email(
        renderer,
        &EmailRequest {
            from: &config.delivery.from,
            to_address: &recipient.address,
            to_name: &recipient.name,
            view: &view,
            report_link,
            identity: &format!("{}/{}", input.period, recipient.address),
            attachment,
            date: now.into(),
        },
    )?)
}

/// Where emails point to the full report: under the configured base URL, else the attachment.
/// `attached`: the report goes with the email; otherwise, without a base URL, the email says
/// where the report is kept (`report_path`).
fn report_link(config: &Config, period: Period, t: &report::Labels, attached: bool, report_path: &Path) -> String {
    match &config.delivery.report_base_url {
        Some(base) => format!("{}/{period}/index.html", base.trim_end_matches('/')),
        None if attached => t.see_attachment.to_string(),
        None => format!("{}{}", t.too_large_to_attach, report_path.display()),
    }
}

/// The report attached to emails, encoded once for all of them: when no base URL links to it
/// and it is small enough.
fn attachment(config: &Config, html: &str) -> Result<Option<report::Attachment>, PipelineError> {
    if config.delivery.report_base_url.is_some() || html.len() > config.delivery.max_attachment_bytes {
        return Ok(None);
    }
    Ok(Some(report::Attachment::html("index.html", html)?))
}

/// What `ingest` did: each source's state and every problem.
#[derive(Debug)]
pub struct IngestOutcome {
    pub run_id: i64,
    pub sources: Vec<SourceInfo>,
    /// Rows set aside (with their place) and sources that failed.
    pub problems: Vec<String>,
}

/// Reads every source into the warehouse — new vintages, quarantine, revisions — without
/// computing or reporting; recorded in the ledger as a run of period `-` in state `ingested`.
pub fn ingest_only(config: &Config, now: chrono::DateTime<chrono::Utc>) -> Result<IngestOutcome, PipelineError> {
    let request = RunRequest::cli(None, now);
    let now_text = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (_lock, ledger) = locked_ledger(config, &request, &now_text)?;
    let run_id = ledger.begin_run("-", "cli", "cli", &now_text)?;
    let span = info_span!("ingest_only", run_id);
    let _entered = span.enter();
    let warehouse = Warehouse::new(&config.output.warehouse_dir);
    let (mut problems, mut problem_rows, mut sources) = (Vec::new(), Vec::new(), Vec::new());
    let clock = Clock::start();
    let fetched_at = fetch_time(now);
    let result = ingest_sources(config, &ledger, run_id, &fetched_at, &warehouse, &mut problems, &mut problem_rows, &mut sources);
    match result {
        Ok(accepted) => {
            clock.finish(&ledger, run_id, "ingest", accepted)?;
            let code = if problems.is_empty() { 0 } else { 1 };
            ledger.finish_run(run_id, "ingested", code, None, &now_text)?;
            Ok(IngestOutcome { run_id, sources, problems })
        }
        Err(error) => {
            let _ = ledger.finish_run(run_id, "failed", 2, Some(&error.to_string()), &now_text);
            Err(error)
        }
    }
}

/// What a preview wrote.
#[derive(Debug)]
pub struct PreviewOutcome {
    pub period: Period,
    pub eml: std::path::PathBuf,
    pub html: std::path::PathBuf,
    pub problems: Vec<String>,
}

/// Writes exactly what `run` would send `address` for `period` (default: the latest), as `.eml`
/// and `.html` in `reports/preview/`, without sending, recording or touching the warehouse:
/// the sources are read in memory.
pub fn preview(config: &Config, period: Option<Period>, address: &str, now: chrono::DateTime<chrono::Utc>) -> Result<PreviewOutcome, PipelineError> {
    let recipient = config
        .recipients
        .iter()
        .find(|r| r.address.eq_ignore_ascii_case(address))
        .ok_or_else(|| PipelineError::UnknownRecipient { address: address.to_string() })?;
    let mut problems = Vec::new();
    let mut frames = Vec::new();
    for source in &config.sources {
        match read_source(config, source) {
            Err(error) => problems.push(error.to_string()),
            Ok(batch) => {
                problems.extend(batch.issues.iter().map(ToString::to_string));
                match batch.over_limit() {
                    Some(error) => problems.push(error.to_string()),
                    None => frames.push(batch.frame.lazy()),
                }
            }
        }
    }
    if frames.is_empty() {
        return Err(PipelineError::NoData);
    }
    let observations = polars::prelude::concat(frames, polars::prelude::UnionArgs::default())
        .and_then(polars::prelude::LazyFrame::collect)
        .map_err(polars_stage("combining sources"))?;
    let period = match period {
        Some(period) => period,
        None => transform::latest_period(&observations).ok_or(PipelineError::NoData)?,
    };
    let (metrics, _) = report_metrics(&observations, config, period)?;
    let renderer = Renderer::new()?;
    let input = report_input(config, &metrics, &[], &[]);
    let by_entity = report::ByEntity::new(&input)?;
    let labels = report::labels_for(recipient.language.code());
    let attachment = match config.delivery.report_base_url {
        Some(_) => None,
        None => attachment(config, &renderer.report_html(&full_report(config, &input, &by_entity)?.0)?)?,
    };
    let report_path = config.output.report_dir.join(period.to_string()).join("index.html");
    let link = report_link(config, period, &labels, attachment.is_some(), &report_path);
    let followed = config.entities_followed_by(recipient);
    let email = compose_for(config, &input, &by_entity, &followed, &renderer, recipient, &link, attachment.as_ref(), now)?;
    let folder = config.output.report_dir.parent().map_or_else(|| std::path::PathBuf::from("preview"), |p| p.join("preview"));
    let stem = format!("{period}__{}", report::address_stem(&recipient.address));
    let eml = report::write_output(&folder.join(format!("{stem}.eml")), &email.message.formatted())?;
    let html = report::write_output(&folder.join(format!("{stem}.html")), email.html.as_bytes())?;
    Ok(PreviewOutcome { period, eml, html, problems })
}

/// The mailer of the configured transport.
pub fn mailer(config: &Config) -> Result<Mailer, PipelineError> {
    Ok(match &config.delivery.transport {
        Transport::Outbox => Mailer::outbox(&config.output.outbox_dir),
        Transport::Smtp { url, password } => Mailer::smtp(url, password.as_deref())?,
    })
}

/// Checks what a run needs beyond a valid configuration — the templates, every source, the
/// output folders and, when `online`, the SMTP relay — and returns every problem, each by name.
pub fn check(config: &Config, online: bool) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(error) = Renderer::new() {
        problems.push(format!("templates: {error}"));
    }
    for source in &config.sources {
        match (source.location(), &source.kind) {
            (config::Location::File(path), _) => {
                if let Err(error) = std::fs::File::open(&path) {
                    problems.push(format!("sources {:?}: cannot read {}: {error}", source.name, path.display()));
                }
            }
            (config::Location::Url(url), SourceKind::Reader(reader)) if online => {
                // One attempt, as a run would make it: reachable and answering 2xx.
                let fetch = ingest::http::Fetch { source: &source.name, url: &url, timeout: reader.timeout, retries: 0, backoff: reader.retry_backoff };
                if let Err(error) = ingest::http::fetch(&fetch) {
                    problems.push(format!("sources {:?}: {error}", source.name));
                }
            }
            _ => {}
        }
    }
    let output = &config.output;
    for (key, dir) in [("warehouse_dir", &output.warehouse_dir), ("report_dir", &output.report_dir), ("outbox_dir", &output.outbox_dir)] {
        if let Err(error) = std::fs::create_dir_all(dir) {
            problems.push(format!("output.{key}: cannot create {}: {error}", dir.display()));
        }
    }
    if let Err(error) = Ledger::open(&output.ledger) {
        problems.push(format!("output.ledger: {error}"));
    }
    if online || matches!(config.delivery.transport, Transport::Outbox) {
        match mailer(config).map_err(|e| e.to_string()).and_then(|m| m.check().map_err(|e| e.to_string())) {
            Ok(()) => {}
            Err(error) => problems.push(format!("delivery: {error}")),
        }
    }
    problems
}

/// The engine's settings: the Eurostat defaults with the configured assessment.
fn settings(assessment: &config::Assessment) -> transform::Settings {
    transform::Settings {
        on_track: assessment.on_track,
        moderate: assessment.moderate,
        linear_for_rates: assessment.linear_for_rates,
        approx_tolerance_points: assessment.approx_tolerance_points,
        approx_tolerance_percent: assessment.approx_tolerance_percent,
        ..transform::Settings::eurostat()
    }
}

/// The run lock: an OS file lock beside the ledger, released by the OS if the process dies.
/// One run at a time writes the warehouse, the reports and the outbox.
fn acquire_lock(config: &Config, request: &RunRequest, now: &str) -> Result<std::fs::File, PipelineError> {
    use std::io::{Read, Seek, Write};
    let path = config.output.ledger.with_extension("lock");
    let path_text = path.display().to_string();
    let io = |error| PipelineError::Lock { path: path_text.clone(), error };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) if request.wait => {
            info!(message = "Waiting for the run that holds the lock.", lock = %path_text);
            file.lock().map_err(io)?;
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(PipelineError::Locked { path: path_text, holder: holder.trim().to_string() });
        }
        Err(std::fs::TryLockError::Error(error)) => return Err(io(error)),
    }
    let requested = request.period.map_or_else(|| "latest".to_string(), |p| p.to_string());
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    write!(file, "pid {}, period {requested}, {} since {now}", std::process::id(), request.trigger.code()).map_err(io)?;
    Ok(file)
}

/// Takes the run lock and opens the ledger, marking runs that a dead process left `running` as abandoned.
fn locked_ledger(config: &Config, request: &RunRequest, now: &str) -> Result<(std::fs::File, Ledger), PipelineError> {
    let lock = acquire_lock(config, request, now)?;
    let ledger = Ledger::open(&config.output.ledger)?;
    let abandoned = ledger.abandon_stale_runs(now)?;
    if abandoned > 0 {
        warn!(message = "Earlier runs were interrupted; marked abandoned.", count = abandoned);
    }
    Ok((lock, ledger))
}

/// A vintage's fetch time, to the millisecond: two runs within a second are two points in history.
fn fetch_time(now: chrono::DateTime<chrono::Utc>) -> String {
    now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Runs one period end to end and records it in the ledger.
pub fn run_period(config: &Config, request: &RunRequest) -> Result<RunOutcome, PipelineError> {
    let now = request.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (_lock, ledger) = locked_ledger(config, request, &now)?;
    let requested = request.period.map_or_else(|| "latest".to_string(), |p| p.to_string());
    if request.skip_if_done
        && let Some(period) = request.period
        && let Some(run_id) = ledger.done_run(&period.to_string())?
    {
        return Err(PipelineError::AlreadyDone { period: period.to_string(), run_id });
    }
    let run_id = ledger.begin_run(&requested, &request.job, request.trigger.code(), &now)?;
    let span = info_span!("run", run_id, job = %request.job, period = tracing::field::Empty, trigger = request.trigger.code());
    if let Some(period) = request.period {
        span.record("period", tracing::field::display(period));
    }
    let _entered = span.enter();
    let mut stage = "start";
    match run_inner(config, request, &ledger, run_id, &now, &mut stage) {
        Ok(outcome) => {
            let state = match (request.as_of, outcome.problems.is_empty()) {
                (Some(_), _) => "reproduced",
                (None, true) => "done",
                (None, false) => "done_with_problems",
            };
            ledger.finish_run(run_id, state, outcome.exit_code(), None, &now)?;
            info!(message = "Run finished.", state, period = %outcome.period, emails_sent = outcome.emails_sent);
            Ok(outcome)
        }
        Err(error @ PipelineError::Interrupted { .. }) => {
            let _ = ledger.finish_run(run_id, "interrupted", 4, Some(&error.to_string()), &now);
            warn!(message = "Run stopped as asked.", stage);
            Err(error)
        }
        Err(error) => {
            let error = PipelineError::Failed { run_id, stage, error: Box::new(error) };
            let message = error.to_string();
            let _ = ledger.finish_run(run_id, "failed", 2, Some(&message), &now);
            tracing::error!(message = "Run failed.", stage, error = %message);
            Err(error)
        }
    }
}

fn run_inner(
    config: &Config,
    request: &RunRequest,
    ledger: &Ledger,
    run_id: i64,
    now: &str,
    stage: &mut &'static str,
) -> Result<RunOutcome, PipelineError> {
    let hooks = &request.hooks;
    hooks.enter("ingest", stage)?;
    let output = &config.output;
    let swept: usize = [&output.warehouse_dir, &output.report_dir, &output.outbox_dir]
        .iter()
        .map(|dir| contract::atomic::remove_stale_temps(dir))
        .sum();
    if swept > 0 {
        info!(message = "Removed temporary files left by an interrupted run.", count = swept);
    }
    let mut problems: Vec<String> = Vec::new();
    let mut problem_rows: Vec<ProblemInfo> = Vec::new();
    let mut source_rows: Vec<SourceInfo> = Vec::new();

    let warehouse = Warehouse::new(&config.output.warehouse_dir);
    let names: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
    let (observations, report_dir): (DataFrame, std::path::PathBuf) = match request.as_of {
        None => {
            let clock = Clock::start();
            let fetched_at = fetch_time(request.now);
            let accepted = ingest_sources(config, ledger, run_id, &fetched_at, &warehouse, &mut problems, &mut problem_rows, &mut source_rows)?;
            clock.finish(ledger, run_id, "ingest", accepted)?;
            // Read the current warehouse: sources that failed this time keep their last good vintage.
            hooks.enter("transform", stage)?;
            (warehouse.current(&names)?, config.output.report_dir.clone())
        }
        Some(as_of) => {
            let as_of_text = fetch_time(as_of);
            let (frame, used) = warehouse.as_of(&names, &as_of_text)?;
            if used.is_empty() {
                let mut first: Vec<String> = Vec::new();
                for name in &names {
                    first.extend(warehouse.vintages(name)?.into_iter().next().map(|v| v.fetched_at));
                }
                first.sort();
                let first = first.into_iter().next().unwrap_or_else(|| "never".to_string());
                return Err(PipelineError::NothingAsOf { as_of: as_of_text, first });
            }
            for (source, vintage) in used {
                let notes = warehouse.notes(&source, &vintage.vintage)?;
                let notes = notes.into_iter().map(|(level, place, message)| ProblemInfo { level, place, message }).collect();
                record_rows(ledger, run_id, notes, &mut problem_rows)?;
                let revised = vintage_revisions(&warehouse, &source, Some(&as_of_text))?;
                record_rows(ledger, run_id, finding_rows(&revised), &mut problem_rows)?;
                let path = config.sources.iter().find(|s| s.name == source).map(|s| source_place(config, s)).unwrap_or_default();
                source_rows.push(SourceInfo {
                    name: source,
                    path,
                    vintage: vintage.vintage,
                    rows: vintage.rows,
                    set_aside: vintage.set_aside,
                    state: if vintage.set_aside == 0 { "ok" } else { "ok_with_rows_set_aside" }.into(),
                });
            }
            info!(message = "Warehouse read as of a past time.", as_of = %as_of_text, rows = frame.height());
            hooks.enter("transform", stage)?;
            (frame, config.output.report_dir.join(format!("as-of-{}", as_of.format("%Y%m%dT%H%M%SZ"))))
        }
    };
    let clock = Clock::start();
    if observations.height() == 0 {
        return Err(PipelineError::NoData);
    }
    let period = match request.period {
        Some(period) => period,
        None => transform::latest_period(&observations).ok_or(PipelineError::NoData)?,
    };
    ledger.set_period(run_id, &period.to_string())?;
    if request.period.is_none() {
        tracing::Span::current().record("period", tracing::field::display(period));
    }
    let (metrics, series_rows) = {
        let span = info_span!("transform", rows = observations.height());
        let _entered = span.enter();
        report_metrics(&observations, config, period)?
    };
    info!(message = "Metrics computed.", series = series_rows, targets = metrics.targets.height(), findings = metrics.findings.len());
    record_findings(ledger, run_id, &metrics.findings, &mut problem_rows)?;
    clock.finish(ledger, run_id, "transform", series_rows)?;

    // Render the full report (down to `report.deepest_level`).
    hooks.enter("render", stage)?;
    let clock = Clock::start();
    let renderer = Renderer::new()?;
    let input = report_input(config, &metrics, &source_rows, &problem_rows);
    let by_entity = report::ByEntity::new(&input)?;
    let (full_view, full_frames) = full_report(config, &input, &by_entity)?;
    let full_input = full_frames.as_ref().map_or(input, |frames| frames.input(&input));
    let html = renderer.report_html(&full_view)?;
    let report_path = {
        let span = info_span!("render", template = "report.html", targets = full_view.targets.len(), bytes = html.len());
        let _entered = span.enter();
        report::write_report(&report_dir, &period.to_string(), &html)?
    };
    ledger.record_output(run_id, &report_path.display().to_string(), &format!("{:x}", Sha256::digest(html.as_bytes())))?;
    let tables = report::tables_xlsx(&full_input, &report::labels_for(config.language.code()))?;
    let tables_path = report::write_output(&report_dir.join(period.to_string()).join("tables.xlsx"), &tables)?;
    ledger.record_output(run_id, &tables_path.display().to_string(), &format!("{:x}", Sha256::digest(&tables)))?;
    clock.finish(ledger, run_id, "render", full_view.targets.len())?;

    // One summary per recipient, each sent at most once per period unless forced.
    hooks.enter("deliver", stage)?;
    let clock = Clock::start();
    let mailer = mailer(config)?;
    let attach = attachment(config, &html)?;
    if attach.is_none() && config.delivery.report_base_url.is_none() {
        let message = format!(
            "the report ({:.1} MB) is over delivery.max_attachment_mb ({:.1}): emails say where it is kept instead; set delivery.report_base_url to link it",
            html.len() as f64 / 1e6,
            config.delivery.max_attachment_bytes as f64 / 1e6
        );
        warn!(message = "Report too large to attach.", size_mb = html.len() as f64 / 1e6);
        ledger.record_problem(run_id, "warn", &report_path.display().to_string(), &message)?;
        problems.push(message);
    }
    let (mut sent, mut already) = (0, 0);
    let period_text = period.to_string();
    let chosen = |address: &str| request.only.is_empty() || request.only.iter().any(|o| o.eq_ignore_ascii_case(address));
    let deliver = request.deliver && request.as_of.is_none();
    let tree = config.catalogue.tree();
    let recipients: Vec<&config::Recipient> = config.recipients.iter().filter(|r| deliver && chosen(&r.address)).collect();
    let run_span = tracing::Span::current();
    // Asked to stop: the stage ends with what was sent so far.
    let stop_if_asked = |sent: usize| -> Result<(), PipelineError> {
        if hooks.stopping() {
            clock.finish(ledger, run_id, "deliver", sent)?;
            return Err(PipelineError::Interrupted { stage: "deliver" });
        }
        Ok(())
    };
    // Composing sends nothing, so a batch's summaries are composed in parallel.
    let compose = |due: &[&config::Recipient]| -> Vec<Result<report::Email, PipelineError>> {
        due.par_iter()
            .map(|recipient| {
                let _entered = debug_span!(parent: &run_span, "summary", recipient = %recipient.address).entered();
                let link = report_link(config, period, &report::labels_for(recipient.language.code()), attach.is_some(), &report_path);
                let followed = Config::followed_in(&tree, recipient);
                compose_for(config, &input, &by_entity, &followed, &renderer, recipient, &link, attach.as_ref(), request.now)
            })
            .collect()
    };
    // Delivered one by one: the ledger records each hand-over before it happens.
    let deliver_batch = |composed: Composed<'_>, sent: &mut usize, problems: &mut Vec<String>| -> Result<(), PipelineError> {
        for (recipient, email) in composed {
            stop_if_asked(*sent)?;
            let span = info_span!("deliver", recipient = %recipient.address, transport = %mailer.describe());
            let _entered = span.enter();
            let email = email?;
            let delivery =
                ledger.begin_delivery(run_id, &period_text, &recipient.address, &email.message_id, &email.content_sha256, &mailer.describe(), now)?;
            let stem = format!("{period_text}__{}", report::address_stem(&recipient.address));
            match mailer.send(&email, &stem, config.delivery.retries, config.delivery.retry_backoff) {
                Ok(result) => {
                    ledger.finish_delivery(delivery, DeliveryState::Sent, &result, now)?;
                    *sent += 1;
                    info!(message = "Summary delivered.", result = %result);
                }
                Err(error) => {
                    ledger.finish_delivery(delivery, DeliveryState::Failed, &error.to_string(), now)?;
                    warn!(message = "Delivery failed.", error = %error);
                    problems.push(error.to_string());
                }
            }
        }
        Ok(())
    };
    // Each batch is composed on a thread of its own while the batch before it is delivered:
    // delivering waits on the disk or the relay, composing on the cores.
    let mut composed: Composed<'_> = Vec::new();
    for batch in recipients.chunks(COMPOSED_AHEAD) {
        stop_if_asked(sent)?;
        // The ledger says who in this batch is due, before anything is composed.
        let mut due = Vec::with_capacity(batch.len());
        for recipient in batch {
            let span = info_span!("deliver", recipient = %recipient.address, transport = %mailer.describe());
            let _entered = span.enter();
            let state = ledger.delivery_state(&period_text, &recipient.address)?;
            if request.failed_only && matches!(state, Some(DeliveryState::Sent) | None) {
                if state.is_some() {
                    already += 1;
                }
                continue;
            }
            match state {
                Some(DeliveryState::Sent) if !request.force => {
                    already += 1;
                    info!(message = "Already sent for this period; skipped.");
                    continue;
                }
                Some(DeliveryState::Sending) if !request.force && !request.failed_only => {
                    let message = format!(
                        "delivery of {period_text} to {} was interrupted and its outcome is unknown; not resent (use --force to resend)",
                        recipient.address
                    );
                    warn!(message = "Delivery outcome unknown; not resent.");
                    ledger.record_problem(run_id, "warn", &recipient.address, &message)?;
                    problems.push(message);
                    continue;
                }
                _ => due.push(*recipient),
            }
        }
        let previous = std::mem::take(&mut composed);
        let (delivered, emails) = std::thread::scope(|scope| {
            let composing = scope.spawn(|| compose(&due));
            let delivered = deliver_batch(previous, &mut sent, &mut problems);
            (delivered, composing.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
        });
        delivered?;
        composed = due.into_iter().zip(emails).collect();
    }
    deliver_batch(composed, &mut sent, &mut problems)?;
    clock.finish(ledger, run_id, "deliver", sent)?;

    Ok(RunOutcome {
        run_id,
        period,
        report_path: report_path.display().to_string(),
        observations: observations.height(),
        targets: metrics.targets.height(),
        emails_sent: sent,
        emails_already_sent: already,
        problems,
    })
}

/// Reads every configured source into the warehouse; a failing source is reported and the
/// others go on. Returns the rows accepted.
#[allow(clippy::too_many_arguments)]
fn ingest_sources(
    config: &Config,
    ledger: &Ledger,
    run_id: i64,
    fetched_at: &str,
    warehouse: &Warehouse,
    problems: &mut Vec<String>,
    problem_rows: &mut Vec<ProblemInfo>,
    source_rows: &mut Vec<SourceInfo>,
) -> Result<usize, PipelineError> {
    let mut rows_accepted = 0;
    for source in &config.sources {
        let span = info_span!("ingest", source = %source.name, rows = tracing::field::Empty, set_aside = tracing::field::Empty);
        let _entered = span.enter();
        let shown_path = source_place(config, source);
        match read_source(config, source) {
            Err(error) => {
                warn!(message = "Source failed.", error = %error);
                problems.push(error.to_string());
                problem_rows.push(ProblemInfo { level: "error".into(), place: shown_path.clone(), message: error.to_string() });
                ledger.record_input(run_id, &source.name, &shown_path, "", 0, 0, "failed")?;
                ledger.record_problem(run_id, "error", &shown_path, &error.to_string())?;
                source_rows.push(SourceInfo { name: source.name.clone(), path: shown_path, vintage: String::new(), rows: 0, set_aside: 0, state: "failed".into() });
            }
            Ok(batch) => {
                warehouse.keep_raw_and_quarantine(&batch)?;
                // What this delivery says about itself: its rows set aside and, once accepted,
                // the revisions within it. Kept beside its vintage, so that `--as-of` shows them too.
                let mut notes: Vec<ProblemInfo> = batch
                    .issues
                    .iter()
                    .map(|issue| ProblemInfo {
                        level: "warn".into(),
                        place: issue.place(&shown_path),
                        message: format!("field `{}`: {}", issue.field, issue.reason),
                    })
                    .collect();
                problems.extend(notes.iter().map(|n| format!("{}: {}", n.place, n.message)));
                let state = match batch.over_limit() {
                    Some(error) => {
                        warn!(message = "Source set aside: too many bad rows.", error = %error);
                        record_rows(ledger, run_id, std::mem::take(&mut notes), problem_rows)?;
                        problems.push(error.to_string());
                        problem_rows.push(ProblemInfo { level: "error".into(), place: shown_path.clone(), message: error.to_string() });
                        "failed"
                    }
                    None => {
                        notes.extend(finding_rows(&revision_findings(&batch.revisions)));
                        // The notes first: the vintage joins the index (history) last.
                        warehouse.keep_notes(&batch, &notes.iter().map(|n| (n.level.clone(), n.place.clone(), n.message.clone())).collect::<Vec<_>>())?;
                        warehouse.accept(&batch, fetched_at)?;
                        record_rows(ledger, run_id, notes, problem_rows)?;
                        // Values the latest vintage changed from the one before it.
                        let revised = vintage_revisions(warehouse, &source.name, None)?;
                        record_rows(ledger, run_id, finding_rows(&revised), problem_rows)?;
                        rows_accepted += batch.frame.height();
                        if batch.issues.is_empty() { "ok" } else { "ok_with_rows_set_aside" }
                    }
                };
                span.record("rows", batch.frame.height());
                span.record("set_aside", batch.issues.len());
                info!(message = "Source read.", rows = batch.frame.height(), set_aside = batch.issues.len(), state);
                ledger.record_input(run_id, &source.name, &batch.path, &batch.sha256, batch.rows_read, batch.issues.len(), state)?;
                source_rows.push(SourceInfo {
                    name: source.name.clone(),
                    path: shown_path,
                    vintage: batch.vintage().to_string(),
                    rows: batch.frame.height(),
                    set_aside: batch.issues.len(),
                    state: state.into(),
                });
            }
        }
    }
    Ok(rows_accepted)
}
