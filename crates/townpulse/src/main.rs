//! The `townpulse` command line: a thin layer over `pipeline` that decides exit codes.
//!
//! Exit codes: 0 done, 1 done with problems (rows or sources set aside, a delivery failed),
//! 2 failed (bad configuration, nothing to report, an output that could not be written),
//! 3 another run holds the lock, 4 stopped by SIGTERM/SIGINT at a stage boundary (run again
//! to complete the period).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "townpulse", version, about = "Track towns, counties and cities against their plan targets, every month")]
struct Cli {
    /// The configuration file.
    #[arg(long, global = true, env = "TOWNPULSE_CONFIG", default_value = "config/townpulse.toml")]
    config: PathBuf,
    /// Log format: `text` (default) or `json`.
    #[arg(long, global = true, env = "TOWNPULSE_LOG_FORMAT", default_value = "text")]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest the sources, compute the metrics, render the report and email each recipient.
    Run {
        /// The period to report (`2025`, `2025Q3`, `2025-09`); default: the latest period in the data.
        #[arg(long)]
        period: Option<String>,
        /// Re-send emails already sent for this period.
        #[arg(long)]
        force: bool,
        /// If another run holds the lock, wait for it instead of exiting with code 3.
        #[arg(long)]
        wait: bool,
        /// Reproduce the report from the warehouse as it stood at the end of DATE (`2026-10-31`,
        /// in the configured time zone, or an RFC 3339 time): no ingest, nothing sent.
        #[arg(long, value_name = "DATE")]
        as_of: Option<String>,
    },
    /// Read every source into the warehouse (new vintages, rows set aside with reasons), without reporting.
    Ingest,
    /// Check the configuration, catalogue, templates, sources, output folders and the SMTP relay,
    /// reporting every problem at once.
    Validate {
        /// Skip the network checks (the SMTP relay).
        #[arg(long)]
        offline: bool,
    },
    /// Run the scheduled jobs until SIGTERM/SIGINT: catch up missed periods, then fire on each cron.
    Serve,
    /// Run a range of periods in order, with a progress bar; completed periods are skipped.
    Backfill {
        /// The first period (`2024-01`, `2024Q1`, `2024`).
        #[arg(long)]
        from: String,
        /// The last period, of the same frequency.
        #[arg(long)]
        to: String,
        /// List what would run, and what is already done, without running anything.
        #[arg(long)]
        dry_run: bool,
        /// Also email each period's summaries (default: compute and render only).
        #[arg(long)]
        send: bool,
        /// Run periods that are already done again.
        #[arg(long)]
        force: bool,
    },
    /// Send a period's summaries again: to everyone, to the failed ones only, or to named recipients.
    Resend {
        /// The period whose summaries to send.
        #[arg(long)]
        period: String,
        /// Only recipients whose last delivery of the period failed or was interrupted.
        #[arg(long)]
        failed_only: bool,
        /// Only these addresses (repeatable).
        #[arg(long = "to")]
        to: Vec<String>,
    },
    /// The latest run of each job: period, state, stages with rows and durations, inputs, problems and deliveries.
    Status,
    /// The most recent runs, newest first.
    History {
        /// How many runs to list.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Write exactly what a run would send one recipient, as .eml and .html, without sending anything.
    Preview {
        /// The period (default: the latest in the data).
        #[arg(long)]
        period: Option<String>,
        /// The recipient's address, as configured.
        #[arg(long)]
        recipient: String,
    },
    /// Read baselines and targets out of policy documents: every figure with its region, line and words.
    Extract {
        /// Policy documents (UTF-8 or GBK text).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// `csv` (default) or `json`.
        #[arg(long, default_value = "csv", value_parser = ["csv", "json"])]
        format: String,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write the targets file of the data contract instead (regions and indicators mapped
        /// through the configured catalogue; what cannot be mapped is listed, not dropped).
        #[arg(long)]
        to_targets: bool,
        /// Score the rows against reviewed gold tables: `--gold-targets T.csv --gold-baselines B.csv`.
        #[arg(long, requires = "gold_baselines")]
        gold_targets: Option<PathBuf>,
        #[arg(long, requires = "gold_targets")]
        gold_baselines: Option<PathBuf>,
    },
    /// Generate deterministic demo data in the data contract (real township codes, 20 indicators,
    /// 36 months, targets, a configuration reporting to every county), for benchmarks.
    DemoData {
        /// `province` (Guizhou's 1,510 townships), `national` (41,352) or a number of townships.
        #[arg(long, default_value = "province")]
        scale: String,
        /// The folder to write to.
        #[arg(long)]
        out: PathBuf,
        /// The NBS division-code folder.
        #[arg(long, default_value = "../shared/data/admin-divisions")]
        divisions: PathBuf,
    },
    /// The targets file.
    Targets {
        #[command(subcommand)]
        command: TargetsCommand,
    },
    /// Compute every metric for files you name, without configuration: writes series, targets and quality tables.
    Compute {
        /// Observations: `entity,indicator,period,value` (CSV).
        #[arg(long)]
        observations: PathBuf,
        /// The indicator catalogue: `code,name,unit,kind,accumulation,direction,decimals`.
        #[arg(long)]
        indicators: PathBuf,
        /// Targets: `entity,indicator,comparator,target,deadline[,kind,base_period,tolerance,source]`.
        #[arg(long)]
        targets: Option<PathBuf>,
        /// Entities: `code,name,level,parent[,members]`; without it each entity stands alone.
        #[arg(long)]
        entities: Option<PathBuf>,
        /// Standards (达标 checklists): `standard,name,combine,applies_to,clause,indicator,comparator,threshold`.
        #[arg(long)]
        standards: Option<PathBuf>,
        /// The folder to write `series`, `targets`, `quality` and `standards` to.
        #[arg(long)]
        out: PathBuf,
        /// `csv` (default) or `parquet`.
        #[arg(long, default_value = "csv", value_parser = ["csv", "parquet"])]
        format: String,
        /// Assess at this period; default: the latest in the observations.
        #[arg(long)]
        period: Option<String>,
        /// The base period of the change since the base; default: each series' first observation.
        #[arg(long)]
        base_period: Option<String>,
        /// The series measures to compute and write after `entity,indicator,period`, comma-separated
        /// (for example `yoy_pct,pop_pct,rank_growth`); default: every measure of the contract.
        /// Steps that no named measure needs are skipped.
        #[arg(long)]
        columns: Option<String>,
    },
}

#[derive(Subcommand)]
enum TargetsCommand {
    /// Turn reviewed `extract` rows (CSV) into rows of the targets file, keeping each target's document and line.
    Import {
        /// The reviewed CSV that `townpulse extract` wrote.
        reviewed: PathBuf,
        /// The document the rows came from, for each target's `source` (default: the CSV's name).
        #[arg(long)]
        document: Option<String>,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Logs to standard error, filtered by `TOWNPULSE_LOG` (default: `default_level`, with the
/// scheduler crate's own chatter at warn). At debug level the engine's steps are logged as
/// they close, with their duration.
fn init_tracing(format: &str, default_level: &str) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::fmt::format::FmtSpan;
    let mut directives = std::env::var("TOWNPULSE_LOG").ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| default_level.to_string());
    if !directives.contains("tokio_cron_scheduler") {
        directives.push_str(",tokio_cron_scheduler=warn");
    }
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new(default_level));
    let span_events = if directives.contains("debug") || directives.contains("trace") { FmtSpan::CLOSE } else { FmtSpan::NONE };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_span_events(span_events);
    if format == "json" {
        builder.json().init();
    } else {
        builder.with_target(false).with_ansi(std::io::stderr().is_terminal()).init();
    }
}

/// Polars allocates and frees a column per expression; mimalloc reuses that memory where the
/// system allocator returns it to the kernel and zeroes fresh pages each time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its position in `mi_option_e`, mimalloc.h, v3 as built by
/// libmimalloc-sys 0.1.49, whose bindings name no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long memory the engine freed stays with the process before mimalloc returns it to the
/// kernel (mimalloc's default: 1 s). The engine computes a national table in parts of a few
/// seconds each, and each part allocates what the part before freed: returned to the kernel in
/// between, every page comes back as a fresh page the kernel must zero (a fifth to a quarter of
/// a national `compute`'s CPU, and more in a spell of slow page faults on a virtual machine).
/// Kept for 10 s, the next part reuses them (national `compute` 42 → 37 s, peak 6.7 → 7.6 GiB:
/// bench/RESULTS.md). `MIMALLOC_PURGE_DELAY` in the environment still wins.
const PURGE_DELAY_MS: std::ffi::c_long = 10_000;

/// Sets [`PURGE_DELAY_MS`] unless the environment sets mimalloc's purge delay.
#[allow(unsafe_code)]
fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: a plain setter of an integer option, called before any other thread starts
        // (mimalloc's options are not thread safe to set); mimalloc reads it at each purge.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    }
}

fn main() -> ExitCode {
    keep_freed_memory();
    let cli = Cli::parse();
    // A backfill shows a progress bar; its per-stage logs would only scroll it away.
    let default_level = if matches!(cli.command, Command::Backfill { .. }) { "warn" } else { "info" };
    init_tracing(&cli.log_format, default_level);
    let _ = rustls::crypto::ring::default_provider().install_default();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(match error.downcast_ref::<pipeline::PipelineError>() {
                Some(pipeline::PipelineError::Locked { .. }) => 3,
                Some(pipeline::PipelineError::Interrupted { .. }) => 4,
                _ => 2,
            })
        }
    }
}

/// The async runtime: Polars' query optimiser recurses deeply, and the default 2 MiB thread
/// stack is not always enough, so every thread gets 64 MiB.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().thread_stack_size(64 << 20).build()?)
}

/// Resolves at the first SIGTERM or SIGINT.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs the pipeline off the async runtime, on a blocking thread; SIGTERM/SIGINT ask it to stop
/// at its next stage boundary.
fn run_blocking(config: config::Config, mut request: pipeline::RunRequest) -> anyhow::Result<pipeline::RunOutcome> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    request.hooks.stop = Some(stop.clone());
    runtime()?.block_on(async move {
        let watcher = tokio::spawn(async move {
            shutdown_signal().await;
            tracing::warn!(message = "Stopping at the next stage boundary, as asked.");
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let result = tokio::task::spawn_blocking(move || pipeline::run_period(&config, &request)).await;
        watcher.abort();
        Ok(result??)
    })
}

/// `--as-of`: a date means the end of that day in the configured zone; or an RFC 3339 time.
fn parse_as_of(text: &str, zone: chrono_tz::Tz) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    use chrono::TimeZone;
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&chrono::Utc));
    }
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .with_context(|| format!("--as-of: expected a date like 2026-10-31 or an RFC 3339 time, got {text:?}"))?;
    let end = date.and_hms_opt(23, 59, 59).context("--as-of: end of day")?;
    let local = zone.from_local_datetime(&end).earliest().with_context(|| format!("--as-of: {text} does not exist in {zone}"))?;
    Ok(local.with_timezone(&chrono::Utc))
}

/// Parses an optional period flag, naming the flag in the error.
fn parse_period(text: Option<String>, flag: &'static str) -> anyhow::Result<Option<contract::Period>> {
    Ok(text.map(|p| p.parse::<contract::Period>()).transpose().with_context(|| flag)?)
}

fn load_config(path: &std::path::Path) -> anyhow::Result<config::Config> {
    Ok(config::Config::load(path, &config::Environment::from_process())?)
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Validate { offline } => {
            let config = load_config(&cli.config)?;
            let problems = pipeline::check(&config, !offline);
            if !problems.is_empty() {
                println!("{}: {} problem{}:", cli.config.display(), problems.len(), if problems.len() == 1 { "" } else { "s" });
                for problem in &problems {
                    println!("  {problem}");
                }
                return Ok(2);
            }
            println!(
                "{}: ok ({} sources, {} entities, {} indicators, {} targets, {} recipients, {} jobs){}",
                cli.config.display(),
                config.sources.len(),
                config.catalogue.entities.len(),
                config.catalogue.indicators.len(),
                config.catalogue.targets.len(),
                config.recipients.len(),
                config.jobs.len(),
                if offline { "; network checks skipped" } else { "" }
            );
            Ok(0)
        }
        Command::Serve => serve(&cli.config),
        Command::DemoData { scale, out, divisions } => {
            let scale = match scale.as_str() {
                "province" => pipeline::Scale::Province,
                "national" => pipeline::Scale::National,
                n => pipeline::Scale::Townships(n.parse().with_context(|| format!("--scale: expected province, national or a number of townships, got {n:?}"))?),
            };
            let outcome = pipeline::demo_data(&pipeline::DemoDataRequest { divisions: &divisions, scale, out: &out })?;
            println!(
                "{} townships in {} counties: {} observations, {} targets",
                outcome.townships, outcome.counties, outcome.observations, outcome.targets
            );
            for file in &outcome.files {
                println!("  {}", file.display());
            }
            Ok(0)
        }
        Command::Ingest => {
            let config = load_config(&cli.config)?;
            let outcome = runtime()?.block_on(async move { tokio::task::spawn_blocking(move || pipeline::ingest_only(&config, chrono::Utc::now())).await })??;
            for source in &outcome.sources {
                println!(
                    "{}: {} rows, {} set aside, {}{}",
                    source.name,
                    source.rows,
                    source.set_aside,
                    source.state,
                    if source.vintage.is_empty() { String::new() } else { format!(", vintage {}", source.vintage) }
                );
            }
            if !outcome.problems.is_empty() {
                println!("{} problems (rows set aside are in the warehouse's quarantine folder):", outcome.problems.len());
                for problem in outcome.problems.iter().take(50) {
                    println!("  {problem}");
                }
                if outcome.problems.len() > 50 {
                    println!("  … and {} more (`townpulse status`)", outcome.problems.len() - 50);
                }
            }
            Ok(if outcome.problems.is_empty() { 0 } else { 1 })
        }
        Command::Extract { files, format, out, to_targets, gold_targets, gold_baselines } => {
            let catalogue = optional_catalogue(&cli.config);
            let options = extract_options(catalogue.as_ref());
            let mut rows = Vec::new();
            let mut targets = Vec::new();
            let mut problems = Vec::new();
            for file in &files {
                let bytes = std::fs::read(file).with_context(|| format!("{}: cannot read", file.display()))?;
                let text = extract::decode(file, &bytes)?;
                let found = extract::extract(&text, &options);
                if to_targets {
                    let (new, mut trouble) = extract::to_targets(&found, &file.display().to_string(), &options);
                    targets.extend(new);
                    problems.append(&mut trouble);
                }
                rows.extend(found);
            }
            if let (Some(gold_targets), Some(gold_baselines)) = (gold_targets, gold_baselines) {
                let read = |p: &PathBuf| std::fs::read_to_string(p).with_context(|| format!("{}: cannot read", p.display()));
                let scores = extract::score::score(&rows, &read(&gold_targets)?, &read(&gold_baselines)?);
                println!("{}", extract::summary(&scores));
                return Ok(0);
            }
            if to_targets {
                return write_targets(targets, problems, catalogue.as_ref(), out.as_deref());
            }
            let mut buffer = Vec::new();
            if format == "json" {
                extract::write_json(&rows, &mut buffer)?;
            } else {
                extract::write_csv(&rows, &mut buffer)?;
            }
            write_or_print(out.as_deref(), &buffer)?;
            eprintln!("{} rows ({} targets) from {} file(s)", rows.len(), rows.iter().filter(|r| r.kind == extract::Kind::Target).count(), files.len());
            Ok(0)
        }
        Command::Targets { command: TargetsCommand::Import { reviewed, document, out } } => {
            let catalogue = optional_catalogue(&cli.config);
            let options = extract_options(catalogue.as_ref());
            let label = reviewed.display().to_string();
            let text = std::fs::read_to_string(&reviewed).with_context(|| format!("{label}: cannot read"))?;
            let rows = extract::read_rows_csv(&label, &text)?;
            let (targets, problems) = extract::to_targets(&rows, document.as_deref().unwrap_or(&label), &options);
            write_targets(targets, problems, catalogue.as_ref(), out.as_deref())
        }
        Command::Backfill { from, to, dry_run, send, force } => backfill(&cli.config, &from, &to, dry_run, send, force),
        Command::Compute { observations, indicators, targets, entities, standards, out, format, period, base_period, columns } => {
            let period = parse_period(period, "--period")?;
            let base_period = parse_period(base_period, "--base-period")?;
            let measures = match columns {
                None => pipeline::Measures::All,
                Some(names) => pipeline::Measures::parse_list(&names).map_err(|unknown| {
                    anyhow::anyhow!(
                        "--columns: no series measure named {}; expected some of: {}",
                        unknown.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
                        pipeline::SERIES_MEASURES.join(", ")
                    )
                })?,
            };
            let outcome = pipeline::compute_files(&pipeline::ComputeRequest {
                observations: &observations,
                indicators: &indicators,
                targets: targets.as_deref(),
                entities: entities.as_deref(),
                standards: standards.as_deref(),
                out: &out,
                parquet: format == "parquet",
                period,
                base_period,
                measures,
            })?;
            println!(
                "period {}: {} series rows, {} targets, {} data-quality findings",
                outcome.period, outcome.series_rows, outcome.target_rows, outcome.findings
            );
            for file in &outcome.files {
                println!("  {}", file.display());
            }
            Ok(if outcome.rows_set_aside > 0 { 1 } else { 0 })
        }
        Command::Resend { period, failed_only, to } => {
            let period = parse_period(Some(period), "--period")?;
            let config = load_config(&cli.config)?;
            let request = pipeline::RunRequest { force: !failed_only, only: to, failed_only, ..pipeline::RunRequest::cli(period, chrono::Utc::now()) };
            let outcome = run_blocking(config, request)?;
            println!("period {}: {} emails sent, {} left alone (already sent)", outcome.period, outcome.emails_sent, outcome.emails_already_sent);
            for problem in &outcome.problems {
                println!("  {problem}");
            }
            Ok(outcome.exit_code() as u8)
        }
        Command::Status => {
            let config = load_config(&cli.config)?;
            let ledger = ledger::Ledger::open(&config.output.ledger)?;
            let latest = ledger.latest_run_per_job()?;
            if latest.is_empty() {
                println!("no runs yet ({})", config.output.ledger.display());
            }
            for job in config.jobs.iter().filter(|j| !latest.iter().any(|r| r.job == j.name)) {
                println!("job {}: no runs yet (cron {:?}, {})", job.name, job.cron, job.time_zone);
            }
            for run in latest {
                print_status(&ledger.run_details(run)?);
            }
            Ok(0)
        }
        Command::History { limit } => {
            let config = load_config(&cli.config)?;
            let ledger = ledger::Ledger::open(&config.output.ledger)?;
            println!("{:>5}  {:<8}  {:<10}  {:<8}  {:<20}  {:<4}  {:<25}", "run", "period", "job", "trigger", "state", "exit", "started");
            for run in ledger.recent_runs(limit)? {
                println!(
                    "{:>5}  {:<8}  {:<10}  {:<8}  {:<20}  {:<4}  {:<25}",
                    run.id,
                    run.period,
                    run.job,
                    run.trigger,
                    run.state,
                    run.exit_code.map_or("-".to_string(), |c| c.to_string()),
                    run.started_at
                );
            }
            Ok(0)
        }
        Command::Preview { period, recipient } => {
            let period = parse_period(period, "--period")?;
            let config = load_config(&cli.config)?;
            let outcome = pipeline::preview(&config, period, &recipient, chrono::Utc::now())?;
            println!("period {}: what {recipient} would receive", outcome.period);
            println!("  {}", outcome.eml.display());
            println!("  {}", outcome.html.display());
            for problem in &outcome.problems {
                println!("  problem: {problem}");
            }
            Ok(0)
        }
        Command::Run { period, force, wait, as_of } => {
            let period = parse_period(period, "--period")?;
            let config = load_config(&cli.config)?;
            let as_of = as_of.map(|text| parse_as_of(&text, config.time_zone)).transpose()?;
            // After waiting for another run, a period it completed is not run again (unless forced).
            let request =
                pipeline::RunRequest { force, wait, skip_if_done: wait && !force, as_of, ..pipeline::RunRequest::cli(period, chrono::Utc::now()) };
            let outcome = match run_blocking(config, request) {
                Err(error) => match error.downcast_ref::<pipeline::PipelineError>() {
                    Some(done @ pipeline::PipelineError::AlreadyDone { .. }) => {
                        println!("{done}");
                        return Ok(0);
                    }
                    _ => return Err(error),
                },
                Ok(outcome) => outcome,
            };
            println!("period {}: report {}", outcome.period, outcome.report_path);
            println!(
                "{} observations, {} targets; {} emails sent, {} already sent earlier",
                outcome.observations, outcome.targets, outcome.emails_sent, outcome.emails_already_sent
            );
            if !outcome.problems.is_empty() {
                println!("{} problems (rows set aside are in the warehouse's quarantine folder):", outcome.problems.len());
                for problem in &outcome.problems {
                    println!("  {problem}");
                }
            }
            Ok(outcome.exit_code() as u8)
        }
    }
}

fn print_status(details: &ledger::RunDetails) {
    let run = &details.run;
    println!(
        "job {} · run {} · period {} · {} · {} (exit {}) · started {} · finished {}",
        run.job,
        run.id,
        run.period,
        run.trigger,
        run.state,
        run.exit_code.map_or("-".to_string(), |c| c.to_string()),
        run.started_at,
        run.finished_at.as_deref().unwrap_or("-")
    );
    if let Some(error) = &run.error {
        println!("  error: {error}");
    }
    println!("  stages:");
    for (stage, rows, ms) in &details.stages {
        println!("    {stage:<10} {rows:>8} rows {ms:>8} ms");
    }
    println!("  inputs:");
    for (source, sha, rows, set_aside, state) in &details.inputs {
        println!("    {source}: {rows} rows, {set_aside} set aside, {state}, sha256 {}", &sha[..sha.len().min(12)]);
    }
    let errors = details.problems.iter().filter(|p| p.0 == "error").count();
    println!("  problems: {} ({errors} errors)", details.problems.len());
    for (level, place, message) in details.problems.iter().filter(|p| p.0 == "error").take(20) {
        println!("    {level} {place}: {message}");
    }
    println!("  deliveries:");
    for (recipient, state, result) in &details.deliveries {
        println!("    {recipient}: {state}{}", result.as_deref().map(|r| format!(" ({r})")).unwrap_or_default());
    }
}

/// `townpulse serve`: validates (refusing to start on any problem), then runs the daemon until
/// SIGTERM/SIGINT. A failing job never stops it; the exit code is 0 after a clean shutdown.
fn serve(path: &std::path::Path) -> anyhow::Result<u8> {
    let config = load_config(path)?;
    let problems = pipeline::check(&config, true);
    if !problems.is_empty() {
        anyhow::bail!("refusing to start, {} problem(s):{}", problems.len(), problems.iter().map(|p| format!("\n  {p}")).collect::<String>());
    }
    if config.jobs.is_empty() {
        anyhow::bail!("{}: no [[jobs]] configured; nothing to serve", path.display());
    }
    let daemon = daemon::Daemon::new(config, std::sync::Arc::new(daemon::SystemClock), daemon::pipeline_runner());
    let runs = runtime()?.block_on(daemon.serve(shutdown_signal()))?;
    let failed = runs.iter().filter(|r| matches!(r.outcome, daemon::Outcome::Failed { .. })).count();
    tracing::info!(message = "Stopped.", runs = runs.len(), failed);
    Ok(0)
}

/// `townpulse backfill`: every period from `from` to `to` in order, skipping completed ones
/// unless forced, with a progress bar over periods and stages.
fn backfill(path: &std::path::Path, from: &str, to: &str, dry_run: bool, send: bool, force: bool) -> anyhow::Result<u8> {
    let from = parse_period(Some(from.to_string()), "--from")?.context("--from")?;
    let to = parse_period(Some(to.to_string()), "--to")?.context("--to")?;
    anyhow::ensure!(from.frequency() == to.frequency(), "--from {from} and --to {to} must be periods of the same frequency");
    anyhow::ensure!(from <= to, "--from {from} comes after --to {to}");
    let mut periods = vec![from];
    while let Some(&last) = periods.last()
        && last < to
    {
        periods.push(last.next());
    }
    let config = load_config(path)?;
    let ledger = ledger::Ledger::open(&config.output.ledger)?;
    let mut todo = Vec::new();
    for period in &periods {
        match ledger.done_run(&period.to_string())? {
            Some(run) if !force => println!("{period}: done (run {run}), skipped"),
            _ => todo.push(*period),
        }
    }
    if dry_run {
        for period in &todo {
            println!("{period}: would run{}", if send { " and send" } else { "" });
        }
        println!("{} of {} periods would run", todo.len(), periods.len());
        return Ok(0);
    }
    drop(ledger);
    let bar = indicatif::ProgressBar::new(todo.len() as u64 * 4);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} stages · {msg} · {elapsed}").unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut worst = 0u8;
    for period in todo {
        let stage_bar = bar.clone();
        let on_stage: pipeline::StageCallback = std::sync::Arc::new(move |stage: &str| {
            stage_bar.set_message(format!("{period} {stage}"));
            stage_bar.inc(1);
        });
        let request = pipeline::RunRequest {
            trigger: pipeline::Trigger::Backfill,
            deliver: send,
            force,
            hooks: pipeline::Hooks { stop: None, on_stage: Some(on_stage) },
            ..pipeline::RunRequest::cli(Some(period), chrono::Utc::now())
        };
        let position = bar.position();
        match run_blocking(config.clone(), request) {
            Ok(outcome) => {
                bar.println(format!("{period}: run {} {}", outcome.run_id, if outcome.problems.is_empty() { "done" } else { "done with problems" }));
                worst = worst.max(outcome.exit_code() as u8);
            }
            Err(error) => {
                bar.println(format!("{period}: failed: {error:#}"));
                if matches!(error.downcast_ref::<pipeline::PipelineError>(), Some(pipeline::PipelineError::Interrupted { .. })) {
                    bar.abandon();
                    return Ok(4);
                }
                worst = 2;
            }
        }
        bar.set_position(position + 4);
    }
    bar.finish_with_message("done");
    Ok(worst)
}

/// The catalogue of the configuration, when there is a valid one (extraction works without).
fn optional_catalogue(path: &std::path::Path) -> Option<contract::Catalogue> {
    if !path.exists() {
        return None;
    }
    match load_config(path) {
        Ok(config) => Some(config.catalogue),
        Err(error) => {
            tracing::warn!(message = "Extracting without the catalogue: the configuration does not load.", error = %error);
            None
        }
    }
}

/// The extractor's indicator names: the built-in six plus every catalogue indicator's name and synonyms.
fn extract_options(catalogue: Option<&contract::Catalogue>) -> extract::Options {
    let names = catalogue
        .map(|c| {
            c.indicators
                .values()
                .map(|i| extract::IndicatorName { code: i.code.clone(), names: std::iter::once(i.name.clone()).chain(i.synonyms.iter().cloned()).collect() })
                .collect()
        })
        .unwrap_or_default();
    extract::Options::with_catalogue(names)
}

fn write_or_print(out: Option<&std::path::Path>, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    match out {
        Some(path) => contract::atomic::write_file(path, bytes).with_context(|| format!("{}: cannot write", path.display())),
        None => Ok(std::io::stdout().write_all(bytes)?),
    }
}

/// Writes target rows as the targets file: regions mapped to entity codes by name, values
/// converted to the indicator's unit; every row that cannot be is listed on standard error.
/// Exit code 1 when some rows were left out.
fn write_targets(
    targets: Vec<extract::TargetRow>,
    mut problems: Vec<extract::Problem>,
    catalogue: Option<&contract::Catalogue>,
    out: Option<&std::path::Path>,
) -> anyhow::Result<u8> {
    let mut kept = Vec::new();
    for mut target in targets {
        let (path, line) = target.source.rsplit_once(':').map_or((target.source.clone(), 0), |(p, l)| (p.to_string(), l.parse().unwrap_or(0)));
        let mut problem = |field: &str, reason: String| problems.push(extract::Problem { path: path.clone(), line, field: field.to_string(), reason });
        if let Some(catalogue) = catalogue {
            // The region as written ("北京市延庆区"): an entity by code or name, else the one entity
            // whose name ends it.
            let exact = catalogue.entities.values().find(|e| e.name == target.entity || e.code == target.entity);
            let mut by_suffix = catalogue.entities.values().filter(|e| e.name.chars().count() >= 2 && target.entity.ends_with(&e.name));
            let found = exact.or_else(|| match (by_suffix.next(), by_suffix.next()) {
                (Some(one), None) => Some(one),
                _ => None,
            });
            match found {
                Some(entity) => target.entity = entity.code.clone(),
                None => {
                    problem("region", format!("{:?} is not the name of an entity in the entities file", target.entity));
                    continue;
                }
            }
            if let Some(indicator) = catalogue.indicators.get(&target.indicator)
                && !target.unit.is_empty()
                && target.unit != indicator.unit
            {
                match sources::unit_factor(&target.unit, &indicator.unit) {
                    Some(factor) => {
                        target.value *= factor;
                        target.unit = indicator.unit.clone();
                    }
                    None => {
                        problem("unit", format!("{:?} does not convert to {:?}, the unit of {}", target.unit, indicator.unit, indicator.code));
                        continue;
                    }
                }
            }
        }
        kept.push(target);
    }
    let mut buffer = Vec::new();
    extract::write_targets_csv(&kept, &mut buffer)?;
    write_or_print(out, &buffer)?;
    for problem in &problems {
        eprintln!("left out: {problem}");
    }
    eprintln!("{} targets written, {} rows left out", kept.len(), problems.len());
    Ok(if problems.is_empty() { 0 } else { 1 })
}
