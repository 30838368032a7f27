//! Sources read by a `sources` reader — census and yearbook tables, World Bank, NBS, JSON-stat —
//! from a file or over HTTP, checked against the catalogue like every other source.

use std::path::Path;
use std::time::Duration;

use contract::Catalogue;
use tracing::info;

use crate::csv_source::{Candidate, Checker};
use crate::http::{Fetch, fetch};
use crate::{IngestError, SourceBatch};

/// Where a source's input is.
#[derive(Debug, Clone, Copy)]
pub enum Location<'a> {
    File(&'a Path),
    Url(&'a str),
}

impl Location<'_> {
    pub fn label(&self) -> String {
        match self {
            Location::File(path) => path.display().to_string(),
            Location::Url(url) => url.to_string(),
        }
    }
}

/// How to fetch a URL source.
#[derive(Debug, Clone, Copy)]
pub struct FetchSettings {
    pub timeout: Duration,
    pub retries: u32,
    pub backoff: Duration,
}

/// How to read one source with a reader.
#[derive(Debug, Clone)]
pub struct ReaderOptions<'a> {
    pub name: &'a str,
    pub location: Location<'a>,
    pub spec: &'a sources::Spec,
    pub fetch: FetchSettings,
    /// Reader values → entity codes, for readers that do not map them themselves (World Bank).
    pub entities: &'a std::collections::BTreeMap<String, String>,
    /// Reader values → indicator codes, likewise.
    pub indicators: &'a std::collections::BTreeMap<String, String>,
    /// Six-digit NBS codes become division codes (`330000` → `33`, `330100` → `3301`).
    pub nbs_codes: bool,
    /// Leave out, counted but not as problems, observations of indicators the catalogue does not
    /// have (an API answer with 32 indicators when 2 are tracked).
    pub skip_unknown_indicators: bool,
    /// The share of bad rows above which the source fails.
    pub max_bad_row_share: f64,
}

/// Reads (or fetches) a source's input, reads it with its reader and checks every observation
/// against the catalogue. A World Bank API source is fetched page by page.
pub fn read_reader_source(options: &ReaderOptions<'_>, catalogue: &Catalogue) -> Result<SourceBatch, IngestError> {
    let label = options.location.label();
    let source_name = options.name.to_string();
    let source_error = |error: sources::SourceError| IngestError::Source { source_name: source_name.clone(), message: error.to_string() };
    let get = |url: &str| {
        let settings = options.fetch;
        fetch(&Fetch { source: options.name, url, timeout: settings.timeout, retries: settings.retries, backoff: settings.backoff })
    };
    let (raw, reads) = match (options.location, options.spec) {
        (Location::Url(url), sources::Spec::WorldBankApi) => {
            let mut raw = Vec::new();
            let mut reads = Vec::new();
            let mut page = 1;
            loop {
                let page_url = with_page(url, page);
                let bytes = get(&page_url)?;
                let (info, read) = sources::worldbank_page(&page_url, &bytes).map_err(source_error)?;
                raw.extend_from_slice(&bytes);
                raw.push(b'\n');
                reads.push(read);
                info!(message = "Page read.", page, pages = info.pages, total = info.total);
                if info.pages <= u64::from(page) {
                    break;
                }
                page += 1;
            }
            (raw, reads)
        }
        (location, spec) => {
            let bytes = match location {
                Location::File(path) => std::fs::read(path).map_err(|error| IngestError::Read { source_name: source_name.clone(), path: label.clone(), error })?,
                Location::Url(url) => get(url)?,
            };
            let read = sources::read(&label, &bytes, spec).map_err(source_error)?;
            (bytes, vec![read])
        }
    };
    // A delimited table's lines, to set a bad row aside whole rather than its one cell.
    let text = match options.spec {
        sources::Spec::Csv(spec) => sources::decode(&label, &raw, spec.encoding).ok(),
        _ => None,
    };
    let lines: Vec<&str> = text.as_deref().map(|t| t.lines().collect()).unwrap_or_default();
    let mut checker = Checker::new(&source_name, &label, catalogue);
    let mut rows_read = 0;
    let mut left_out = 0;
    for read in reads {
        rows_read += read.rows_read;
        for note in &read.notes {
            info!(message = "Note in the source.", note = %note);
        }
        for problem in read.problems {
            checker.issue(problem.place.line.unwrap_or(0), problem.place.cell.clone(), &problem.place.field, problem.reason, problem.raw);
        }
        for record in &read.records {
            let entity = options.entities.get(&record.entity).map_or(record.entity.as_str(), String::as_str);
            let entity = if options.nbs_codes { nbs_code(entity) } else { entity };
            let indicator = options.indicators.get(&record.indicator).map_or(record.indicator.as_str(), String::as_str);
            if options.skip_unknown_indicators && !catalogue.indicators.contains_key(indicator) {
                left_out += 1;
                continue;
            }
            checker.check(Candidate {
                entity,
                indicator,
                period: &record.period,
                value: Ok(record.value),
                unit: record.unit.as_deref(),
                source: None,
                vintage: None,
                note: None,
                line: record.place.line.unwrap_or(0),
                cell: record.place.cell.clone(),
                raw: row_text(&lines, record.place.line, &record.raw),
            });
        }
    }
    if left_out > 0 {
        info!(message = "Observations of indicators not in the catalogue left out, as configured.", count = left_out);
    }
    checker.finish(source_name, label, raw, None, rows_read - left_out.min(rows_read), options.max_bad_row_share)
}

/// The URL of page `page` of a paged API: `page=N` set or added.
fn with_page(url: &str, page: u32) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut parts: Vec<String> = query.split('&').filter(|p| !p.is_empty() && !p.starts_with("page=")).map(str::to_string).collect();
    parts.push(format!("page={page}"));
    format!("{base}?{}", parts.join("&"))
}

/// A six-digit NBS code as the division code it stands for: `330000` → `33` (a province),
/// `330100` → `3301` (a prefecture); county codes and anything else as they are.
fn nbs_code(code: &str) -> &str {
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        if let Some(province) = code.strip_suffix("0000") {
            return province;
        }
        if let Some(prefecture) = code.strip_suffix("00") {
            return prefecture;
        }
    }
    code
}

/// The whole line a record stands on, when the input has lines; else the record's own text.
fn row_text<'t>(lines: &[&'t str], line: Option<u64>, cell: &'t str) -> &'t str {
    line.and_then(|l| lines.get((l as usize).wrapping_sub(1)).copied()).unwrap_or(cell)
}
