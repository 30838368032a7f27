//! The `townpulse` command line: a thin layer over `pipeline` that decides exit codes.
//!
//! Exit codes: 0 done, 1 done with problems (rows or sources set aside, a delivery failed),
//! 2 failed (bad configuration, nothing to report, an output that could not be written),
//! 3 another run holds the lock.

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
    },
    /// Check the configuration and the catalogue files, reporting every problem at once.
    Validate,
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
    /// The latest run: period, state, stages with rows and durations, inputs, problems and deliveries.
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
    },
}

fn init_tracing(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("TOWNPULSE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.with_target(false).init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.log_format);
    let _ = rustls::crypto::ring::default_provider().install_default();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {error:#}");
            let locked = matches!(error.downcast_ref::<pipeline::PipelineError>(), Some(pipeline::PipelineError::Locked { .. }));
            ExitCode::from(if locked { 3 } else { 2 })
        }
    }
}

/// Runs the pipeline off the async runtime, on a blocking thread with room for Polars' recursion.
fn run_blocking(config: config::Config, request: pipeline::RunRequest) -> anyhow::Result<pipeline::RunOutcome> {
    // Polars' query optimiser recurses deeply; the default 2 MiB thread stack is not always enough.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().thread_stack_size(64 << 20).build()?;
    Ok(runtime.block_on(async move { tokio::task::spawn_blocking(move || pipeline::run_period(&config, &request)).await })??)
}

/// Parses an optional period flag, naming the flag in the error.
fn parse_period(text: Option<String>, flag: &'static str) -> anyhow::Result<Option<contract::Period>> {
    Ok(text.map(|p| p.parse::<contract::Period>()).transpose().with_context(|| flag)?)
}

fn load_config(path: &PathBuf) -> anyhow::Result<config::Config> {
    Ok(config::Config::load(path, &config::Environment::from_process())?)
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Validate => {
            let config = load_config(&cli.config)?;
            println!(
                "{}: ok ({} sources, {} entities, {} indicators, {} targets, {} recipients)",
                cli.config.display(),
                config.sources.len(),
                config.catalogue.entities.len(),
                config.catalogue.indicators.len(),
                config.catalogue.targets.len(),
                config.recipients.len()
            );
            Ok(0)
        }
        Command::Compute { observations, indicators, targets, entities, standards, out, format, period, base_period } => {
            let period = parse_period(period, "--period")?;
            let base_period = parse_period(base_period, "--base-period")?;
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
            let request = pipeline::RunRequest {
                period,
                trigger: pipeline::Trigger::Cli,
                force: !failed_only,
                wait: false,
                only: to,
                failed_only,
                now: chrono::Utc::now(),
            };
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
            let Some(details) = ledger.latest_run_details()? else {
                println!("no runs yet ({})", config.output.ledger.display());
                return Ok(0);
            };
            let run = &details.run;
            println!(
                "run {} · period {} · {} · {} (exit {}) · started {} · finished {}",
                run.id,
                run.period,
                run.trigger,
                run.state,
                run.exit_code.map_or("-".to_string(), |c| c.to_string()),
                run.started_at,
                run.finished_at.as_deref().unwrap_or("-")
            );
            if let Some(error) = &run.error {
                println!("error: {error}");
            }
            println!("stages:");
            for (stage, rows, ms) in &details.stages {
                println!("  {stage:<10} {rows:>8} rows {ms:>8} ms");
            }
            println!("inputs:");
            for (source, sha, rows, set_aside, state) in &details.inputs {
                println!("  {source}: {rows} rows, {set_aside} set aside, {state}, sha256 {}", &sha[..sha.len().min(12)]);
            }
            let errors = details.problems.iter().filter(|p| p.0 == "error").count();
            println!("problems: {} ({errors} errors)", details.problems.len());
            for (level, place, message) in details.problems.iter().filter(|p| p.0 == "error").take(20) {
                println!("  {level} {place}: {message}");
            }
            println!("deliveries:");
            for (recipient, state, result) in &details.deliveries {
                println!("  {recipient}: {state}{}", result.as_deref().map(|r| format!(" ({r})")).unwrap_or_default());
            }
            Ok(0)
        }
        Command::History { limit } => {
            let config = load_config(&cli.config)?;
            let ledger = ledger::Ledger::open(&config.output.ledger)?;
            println!("{:>5}  {:<8}  {:<7}  {:<20}  {:<4}  {:<25}", "run", "period", "trigger", "state", "exit", "started");
            for run in ledger.recent_runs(limit)? {
                println!(
                    "{:>5}  {:<8}  {:<7}  {:<20}  {:<4}  {:<25}",
                    run.id,
                    run.period,
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
        Command::Run { period, force, wait } => {
            let period = parse_period(period, "--period")?;
            let config = load_config(&cli.config)?;
            let request =
                pipeline::RunRequest { period, trigger: pipeline::Trigger::Cli, force, wait, only: Vec::new(), failed_only: false, now: chrono::Utc::now() };
            let outcome = run_blocking(config, request)?;
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
