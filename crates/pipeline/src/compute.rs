//! The stateless `compute` command: metrics for files an analyst names, written as tables.

use std::path::{Path, PathBuf};

use contract::Period;

use crate::PipelineError;

/// The files of one `compute` run.
pub struct ComputeRequest<'a> {
    pub observations: &'a Path,
    pub indicators: &'a Path,
    pub targets: Option<&'a Path>,
    pub entities: Option<&'a Path>,
    pub standards: Option<&'a Path>,
    pub out: &'a Path,
    /// Parquet instead of CSV.
    pub parquet: bool,
    /// The period to assess at; default: the latest in the observations.
    pub period: Option<Period>,
    /// The base of the change since the base; default: each series' first observation.
    pub base_period: Option<Period>,
    /// The series measures to compute and write (after entity, indicator and period).
    pub measures: transform::Measures,
}

#[derive(Debug)]
pub struct ComputeOutcome {
    pub period: Period,
    pub series_rows: usize,
    pub target_rows: usize,
    /// Observation rows that could not be used (also in the findings, at level error).
    pub rows_set_aside: usize,
    pub findings: usize,
    pub files: Vec<PathBuf>,
}

/// Reads the inputs, computes the metrics and writes `series`, `targets` and `quality` tables to `out`.
pub fn compute_files(request: &ComputeRequest<'_>) -> Result<ComputeOutcome, PipelineError> {
    let catalogue = ingest::load_catalogue(&ingest::CatalogueFiles {
        indicators: request.indicators,
        entities: request.entities,
        targets: request.targets,
        standards: request.standards,
        observations: request.observations,
    })
    .map_err(|error| match error {
        Ok(problems) => PipelineError::Catalogue(problems),
        Err(error) => PipelineError::Ingest(error),
    })?;
    let options = ingest::CsvOptions { name: "observations", path: request.observations, gb18030: false, max_bad_row_share: 1.0 };
    let started = std::time::Instant::now();
    let batch = ingest::read_csv_source(&options, &catalogue)?;
    let stage_done = |stage: &str, rows: usize, started: std::time::Instant| {
        tracing::info!(message = "Stage finished.", stage, rows, duration_ms = started.elapsed().as_millis() as u64);
    };
    stage_done("read", batch.frame.height(), started);
    let started = std::time::Instant::now();
    let period = match request.period {
        Some(period) => period,
        None => transform::latest_period(&batch.frame).ok_or(PipelineError::NoData)?,
    };
    let settings = transform::Settings { base_period: request.base_period, measures: request.measures.clone(), ..transform::Settings::eurostat() };
    // The series are written part by part as the engine hands them on, so that memory holds one
    // part's measures at a time (see `transform::compute_by_indicator`). A writer thread writes
    // each part while the engine computes the next: Polars leaves part of the second core idle,
    // and writing fills it (memory holds at most two parts).
    let extension = if request.parquet { "parquet" } else { "csv" };
    let series_path = request.out.join(format!("series.{extension}"));
    let mut series_writer = report::TableWriter::new(&series_path, &request.measures.series_columns(), request.parquet)?;
    let (metrics, written) = std::thread::scope(|scope| {
        let (parts, received) = std::sync::mpsc::sync_channel::<polars::prelude::DataFrame>(0);
        let span = tracing::Span::current();
        let writer = scope.spawn(move || {
            let _entered = span.entered();
            for series in received {
                let _part = tracing::debug_span!("write series part", rows = series.height()).entered();
                series_writer.write(&series)?;
                // Syncing part by part leaves only the last part to sync once the engine is done.
                series_writer.sync_so_far()?;
            }
            Ok::<_, report::ReportError>(series_writer)
        });
        let metrics = transform::compute_by_indicator(&batch.frame, &catalogue, period, &settings, |series| {
            parts.send(series).map_err(|_| PipelineError::WriterStopped)
        });
        drop(parts);
        (metrics, writer.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    });
    // A part the writer refused is explained by the writer's own error. The table is moved into
    // place only when the engine finished too: a failed run leaves no partial series behind.
    let series_writer = written?;
    let metrics = metrics?;
    series_writer.finish()?;

    // Rows set aside are findings at level error; the engine's checks add warnings.
    let field = |raw: &str, index: usize| Some(raw.split(',').nth(index).unwrap_or("").trim().to_string()).filter(|f| !f.is_empty());
    let mut findings: Vec<transform::Finding> = batch
        .issues
        .iter()
        .map(|issue| transform::Finding {
            level: "error",
            check: "unreadable_row",
            entity: field(&issue.raw, 0),
            indicator: field(&issue.raw, 1),
            period: field(&issue.raw, 2),
            message: issue.to_string(),
        })
        .collect();
    findings.extend(crate::revision_findings(&batch.revisions));
    findings.extend(metrics.findings.iter().cloned());
    let quality = transform::findings_frame(&findings)
        .map_err(crate::polars_stage("quality findings"))?;
    stage_done("transform", metrics.series_rows, started);
    let started = std::time::Instant::now();

    let mut files = vec![series_path];
    for (name, frame, columns) in [
        ("targets", &metrics.targets, &transform::TARGET_COLUMNS[..]),
        ("quality", &quality, &transform::QUALITY_COLUMNS[..]),
        ("standards", &metrics.standards, &transform::STANDARD_COLUMNS[..]),
    ] {
        let path = request.out.join(format!("{name}.{extension}"));
        report::write_table(frame, columns, &path, request.parquet)?;
        files.push(path);
    }
    stage_done("write", metrics.targets.height() + quality.height() + metrics.standards.height(), started);
    Ok(ComputeOutcome {
        period,
        series_rows: metrics.series_rows,
        target_rows: metrics.targets.height(),
        rows_set_aside: batch.issues.len(),
        findings: quality.height(),
        files,
    })
}

