//! Reading sources into the canonical long frame, setting bad rows aside, and the warehouse.
//!
//! This is the only crate that reads outside inputs (source files) and the warehouse.

mod catalogue_files;
mod csv_source;
mod fast_contract;
pub mod http;
mod reader_source;
mod warehouse;

pub use catalogue_files::{CatalogueFiles, load_catalogue};
pub use csv_source::{CsvOptions, read_csv_source, read_csv_source_in_parts};
pub use fast_contract::PART_ROWS;
pub use reader_source::{FetchSettings, Location, ReaderOptions, read_reader_source};
pub use warehouse::{QUARANTINE_HEADER, Vintage, Warehouse};

use polars::prelude::*;

/// A row a source delivered that could not be used, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RowIssue {
    /// The configured source name.
    pub source: String,
    pub path: String,
    /// The 1-based line in a text input; 0 where the place is a cell.
    pub line: u64,
    /// The cell or item (`Sheet1!C7`, `page 2, item 14`, `datanodes[12]`) where there is no line.
    pub cell: Option<String>,
    pub field: String,
    pub reason: String,
    /// The row as it stood in the file.
    pub raw: String,
}

impl RowIssue {
    /// What identifies the issue's row: its line, or its cell without the column (`Sheet1!C7` →
    /// `Sheet1!7`; JSON items are rows of their own).
    pub fn row_key(&self) -> (u64, String) {
        let cell = self.cell.as_deref().map(|cell| match cell.split_once('!') {
            Some((sheet, reference)) => format!("{sheet}!{}", reference.trim_start_matches(|c: char| c.is_ascii_alphabetic())),
            None => cell.to_string(),
        });
        (self.line, cell.unwrap_or_default())
    }

    /// `path:line`, `path: cell` or `path:line: cell`, with `path` shown as the caller likes.
    pub fn place(&self, shown_path: &str) -> String {
        let mut place = shown_path.to_string();
        if self.line > 0 {
            place.push_str(&format!(":{}", self.line));
        }
        if let Some(cell) = &self.cell {
            place.push_str(&format!(": {cell}"));
        }
        place
    }
}

impl std::fmt::Display for RowIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: field `{}`: {}", self.place(&self.path), self.field, self.reason)
    }
}

/// A value that a later vintage of the same source changed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Revision {
    pub entity: String,
    pub indicator: String,
    pub period: String,
    pub old_value: Option<f64>,
    pub old_vintage: String,
    pub new_value: Option<f64>,
    pub new_vintage: String,
    /// Where the later vintage stands in the source.
    pub place: String,
}

/// What one source delivered: the good rows as a frame, the rows set aside, and the raw input.
#[derive(Debug, Clone)]
pub struct SourceBatch {
    pub source: String,
    pub path: String,
    /// The raw bytes as read, kept in the warehouse beside their checksum.
    pub raw: Vec<u8>,
    /// Hex SHA-256 of `raw`.
    pub sha256: String,
    pub rows_read: usize,
    /// Rows that passed the vectorised checks of a contract file; the rest were checked row by row.
    pub vectorised_rows: usize,
    pub frame: DataFrame,
    pub issues: Vec<RowIssue>,
    /// Keys given in several vintages within the source; the latest vintage is kept.
    pub revisions: Vec<Revision>,
    pub max_bad_row_share: f64,
}

impl SourceBatch {
    /// The vintage stamped on every row: the first 12 hex digits of the input's checksum.
    pub fn vintage(&self) -> &str {
        &self.sha256[..12]
    }

    /// How many rows have at least one issue (a row of a table may have several bad cells).
    pub fn bad_rows(&self) -> usize {
        self.issues.iter().map(RowIssue::row_key).collect::<std::collections::HashSet<_>>().len()
    }

    /// The error that fails this source when its share of bad rows is over its limit.
    pub fn over_limit(&self) -> Option<IngestError> {
        let bad = self.bad_rows();
        let share = if self.rows_read == 0 { 0.0 } else { bad as f64 / self.rows_read as f64 };
        (share > self.max_bad_row_share).then(|| IngestError::TooManyBadRows {
            source_name: self.source.clone(),
            path: self.path.clone(),
            bad,
            total: self.rows_read,
            share: share * 100.0,
            limit: self.max_bad_row_share * 100.0,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("source {source_name:?}: {path}: cannot read: {error}")]
    Read { source_name: String, path: String, error: std::io::Error },
    #[error("source {source_name:?}: {path}:{line}: not valid {encoding} (configure `encoding` for this source if it is GBK)")]
    Decode { source_name: String, path: String, line: u64, encoding: &'static str },
    #[error("source {source_name:?}: {path}: {message}")]
    Header { source_name: String, path: String, message: String },
    #[error(
        "source {source_name:?}: {path}: {bad} of {total} rows are bad ({share:.0}%), over the limit of {limit:.0}%; the source is set aside"
    )]
    TooManyBadRows { source_name: String, path: String, bad: usize, total: usize, share: f64, limit: f64 },
    #[error("source {source_name:?}: {url}: {message} (after {attempts} attempt{})", if *.attempts == 1 { "" } else { "s" })]
    Fetch { source_name: String, url: String, attempts: u32, message: String },
    #[error("source {source_name:?}: {message}")]
    Source { source_name: String, message: String },
    #[error("warehouse {path}: {error}")]
    Warehouse { path: String, error: std::io::Error },
    #[error("{context}: {error}")]
    Polars { context: String, error: PolarsError },
}

impl IngestError {
    pub(crate) fn polars(context: impl Into<String>) -> impl FnOnce(PolarsError) -> IngestError {
        let context = context.into();
        move |error| IngestError::Polars { context, error }
    }
}

/// The text of a contract file: CSV as it is, or Parquet (by its `.parquet` extension) written
/// out as CSV.
pub fn read_contract_file(source_name: &str, path: &std::path::Path) -> Result<Vec<u8>, IngestError> {
    let raw = std::fs::read(path).map_err(|error| IngestError::Read { source_name: source_name.to_string(), path: path.display().to_string(), error })?;
    if is_parquet(path) { parquet_as_csv(source_name, path, &raw) } else { Ok(raw) }
}

/// Whether `path` names a Parquet file (by its extension).
pub(crate) fn is_parquet(path: &std::path::Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

/// A Parquet contract file written out as CSV, so that the row reader checks it like a CSV (a
/// Parquet row N is reported as line N + 1).
pub(crate) fn parquet_as_csv(source_name: &str, path: &std::path::Path, raw: &[u8]) -> Result<Vec<u8>, IngestError> {
    let context = || format!("source {source_name:?}: {}: reading Parquet", path.display());
    let mut frame = ParquetReader::new(std::io::Cursor::new(raw)).finish().map_err(IngestError::polars(context()))?;
    let mut bytes = Vec::new();
    CsvWriter::new(&mut bytes).include_header(true).finish(&mut frame).map_err(IngestError::polars(context()))?;
    Ok(bytes)
}

/// The schema of the canonical long frame.
pub fn observation_schema() -> Schema {
    use contract::columns::*;
    Schema::from_iter([
        Field::new(ENTITY.into(), DataType::String),
        Field::new(INDICATOR.into(), DataType::String),
        Field::new(PERIOD.into(), DataType::String),
        Field::new(FREQ.into(), DataType::String),
        Field::new(YEAR.into(), DataType::Int32),
        Field::new(SUB.into(), DataType::Int32),
        Field::new(END_MONTH.into(), DataType::Int32),
        Field::new(VALUE.into(), DataType::Float64),
        Field::new(SOURCE.into(), DataType::String),
        Field::new(VINTAGE.into(), DataType::String),
        Field::new(NOTE.into(), DataType::String),
    ])
}
