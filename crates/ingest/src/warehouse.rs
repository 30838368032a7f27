//! The warehouse: every vintage a source delivered, its raw input, and the rows set aside.
//!
//! Layout under the warehouse folder:
//!
//! ```text
//! raw/<source>/<sha256>.<ext>        the input exactly as read, named by its checksum
//! vintages/<source>/<vintage>.parquet the good rows of each vintage, never overwritten
//! vintages/<source>/index.csv         each vintage as it arrived: vintage, sha256, fetched_at, rows, set_aside
//! current/<source>.parquet            the latest good vintage of each source
//! quarantine/<source>.csv             the rows of the latest read that were set aside, with reasons
//! ```
//!
//! Every file is replaced atomically, so a kill leaves the previous state intact. The index is
//! written last: a vintage is part of history once it is listed, and `as_of` reads only listed
//! vintages, so any earlier report can be reproduced from the vintages it used.

use std::path::{Path, PathBuf};

use contract::atomic;
use polars::prelude::*;

use crate::{IngestError, RowIssue, SourceBatch, observation_schema};

/// One vintage of a source, as listed in its index.
#[derive(Debug, Clone, PartialEq)]
pub struct Vintage {
    pub vintage: String,
    pub sha256: String,
    /// RFC 3339, UTC.
    pub fetched_at: String,
    pub rows: usize,
    pub set_aside: usize,
}

const INDEX_HEADER: &str = "vintage,sha256,fetched_at,rows,set_aside";

/// The header of a quarantine file.
pub const QUARANTINE_HEADER: &str = "source,path,line,cell,field,reason,raw";

pub struct Warehouse {
    root: PathBuf,
}

impl Warehouse {
    pub fn new(root: &Path) -> Warehouse {
        Warehouse { root: root.to_path_buf() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn io(&self, path: &Path) -> impl FnOnce(std::io::Error) -> IngestError {
        let path = path.display().to_string();
        move |error| IngestError::Warehouse { path, error }
    }

    pub fn current_path(&self, source: &str) -> PathBuf {
        self.root.join("current").join(format!("{source}.parquet"))
    }

    pub fn quarantine_path(&self, source: &str) -> PathBuf {
        self.root.join("quarantine").join(format!("{source}.csv"))
    }

    /// Keeps the raw input beside its checksum and writes the rows set aside.
    ///
    /// Called for every batch read, whether or not its rows are accepted.
    pub fn keep_raw_and_quarantine(&self, batch: &SourceBatch) -> Result<PathBuf, IngestError> {
        // A file's own extension; a URL's answer (or anything odd) is `.bin`.
        let extension = Path::new(&batch.path)
            .extension()
            .and_then(|e| e.to_str())
            .filter(|e| !batch.path.contains("://") && e.len() <= 5 && e.chars().all(|c| c.is_ascii_alphanumeric()))
            .unwrap_or("bin");
        let raw_path = self.root.join("raw").join(&batch.source).join(format!("{}.{extension}", batch.sha256));
        if !atomic::same_content(&raw_path, &batch.raw) {
            atomic::write_file(&raw_path, &batch.raw).map_err(self.io(&raw_path))?;
        }
        let quarantine_path = self.quarantine_path(&batch.source);
        let text = quarantine_csv(&batch.issues);
        if !atomic::same_content(&quarantine_path, text.as_bytes()) {
            atomic::write_file(&quarantine_path, text.as_bytes()).map_err(self.io(&quarantine_path))?;
        }
        Ok(quarantine_path)
    }

    fn index_path(&self, source: &str) -> PathBuf {
        self.root.join("vintages").join(source).join("index.csv")
    }

    fn vintage_path(&self, source: &str, vintage: &str) -> PathBuf {
        self.root.join("vintages").join(source).join(format!("{vintage}.parquet"))
    }

    /// Every vintage of `source`, oldest first.
    pub fn vintages(&self, source: &str) -> Result<Vec<Vintage>, IngestError> {
        let path = self.index_path(source);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(self.io(&path)(error)),
        };
        Ok(text
            .lines()
            .skip(1)
            .filter_map(|line| {
                let fields: Vec<&str> = line.split(',').collect();
                (fields.len() == 5).then(|| Vintage {
                    vintage: fields[0].to_string(),
                    sha256: fields[1].to_string(),
                    fetched_at: fields[2].to_string(),
                    rows: fields[3].parse().unwrap_or(0),
                    set_aside: fields[4].parse().unwrap_or(0),
                })
            })
            .collect())
    }

    /// Stores the good rows of an accepted batch as the source's current data and, when its
    /// input differs from the latest vintage's, as a new vintage fetched at `fetched_at`.
    /// Returns whether a vintage was added (re-reading an unchanged input adds none).
    pub fn accept(&self, batch: &SourceBatch, fetched_at: &str) -> Result<bool, IngestError> {
        let vintage_path = self.vintage_path(&batch.source, batch.vintage());
        if !vintage_path.exists() {
            self.write_parquet(&vintage_path, &batch.frame)?;
        }
        // The current rows are the vintage's rows: a copy of its file, not a second encoding.
        let current = self.current_path(&batch.source);
        atomic::write_file_with(&current, |file| std::io::copy(&mut std::fs::File::open(&vintage_path)?, file).map(|_| ())).map_err(self.io(&current))?;
        let mut vintages = self.vintages(&batch.source)?;
        if vintages.last().is_some_and(|v| v.sha256 == batch.sha256) {
            return Ok(false);
        }
        vintages.push(Vintage {
            vintage: batch.vintage().to_string(),
            sha256: batch.sha256.clone(),
            fetched_at: fetched_at.to_string(),
            rows: batch.frame.height(),
            set_aside: batch.issues.len(),
        });
        let mut text = format!("{INDEX_HEADER}\n");
        for v in &vintages {
            text.push_str(&format!("{},{},{},{},{}\n", v.vintage, v.sha256, v.fetched_at, v.rows, v.set_aside));
        }
        let index = self.index_path(&batch.source);
        atomic::write_file(&index, text.as_bytes()).map_err(self.io(&index))?;
        Ok(true)
    }

    /// The observations of the named sources as the warehouse held them at `as_of` (RFC 3339,
    /// UTC): each source's latest vintage fetched by then, with that vintage's description.
    pub fn as_of(&self, sources: &[&str], as_of: &str) -> Result<(DataFrame, Vec<(String, Vintage)>), IngestError> {
        let mut frames = Vec::new();
        let mut used = Vec::new();
        for source in sources {
            let Some(vintage) = self.vintages(source)?.into_iter().rev().find(|v| v.fetched_at.as_str() <= as_of) else { continue };
            let path = self.vintage_path(source, &vintage.vintage);
            frames.push(self.scan(&path)?);
            used.push((source.to_string(), vintage));
        }
        Ok((self.concat(frames)?, used))
    }

    /// The rows of one vintage.
    pub fn vintage_frame(&self, source: &str, vintage: &str) -> Result<DataFrame, IngestError> {
        let frame = self.scan(&self.vintage_path(source, vintage))?;
        frame.collect().map_err(IngestError::polars(format!("reading vintage {vintage} of {source}")))
    }

    fn notes_path(&self, source: &str, vintage: &str) -> PathBuf {
        self.root.join("vintages").join(source).join(format!("{vintage}.notes.csv"))
    }

    /// Keeps what a delivery said about itself (`level, place, message`: rows set aside,
    /// revisions within it) beside its vintage.
    pub fn keep_notes(&self, batch: &SourceBatch, notes: &[(String, String, String)]) -> Result<(), IngestError> {
        let path = self.notes_path(&batch.source, batch.vintage());
        let mut writer = csv::Writer::from_writer(Vec::new());
        let _ = writer.write_record(["level", "place", "message"]);
        for (level, place, message) in notes {
            let _ = writer.write_record([level, place, message]);
        }
        let bytes = writer.into_inner().unwrap_or_default();
        if !atomic::same_content(&path, &bytes) {
            atomic::write_file(&path, &bytes).map_err(self.io(&path))?;
        }
        Ok(())
    }

    /// The notes kept beside a vintage (none if there are none).
    pub fn notes(&self, source: &str, vintage: &str) -> Result<Vec<(String, String, String)>, IngestError> {
        let path = self.notes_path(source, vintage);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(self.io(&path)(error)),
        };
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        Ok(reader.records().filter_map(Result::ok).filter(|r| r.len() == 3).map(|r| (r[0].to_string(), r[1].to_string(), r[2].to_string())).collect())
    }

    fn scan(&self, path: &Path) -> Result<LazyFrame, IngestError> {
        let path_text = path.display().to_string();
        LazyFrame::scan_parquet(PlRefPath::new(&path_text), ScanArgsParquet::default()).map_err(IngestError::polars(format!("reading {path_text}")))
    }

    fn concat(&self, frames: Vec<LazyFrame>) -> Result<DataFrame, IngestError> {
        if frames.is_empty() {
            return Ok(DataFrame::empty_with_schema(&observation_schema()));
        }
        concat(frames, UnionArgs::default())
            .and_then(|frame| frame.collect())
            .and_then(nulls_as_one)
            .map_err(IngestError::polars(format!("reading the warehouse {}", self.root.display())))
    }

    /// Writes `frame` a chunk at a time (one row group each). A column that holds one value for
    /// all the rows (the reader's optional columns a file lacks) is spelled out for one chunk at
    /// a time: written whole, its single chunk would not line up with the other columns' chunks,
    /// and the writer would first copy every column into one chunk (at 10,000 townships, 0.5 GB
    /// more and twice the time).
    fn write_parquet(&self, path: &Path, frame: &DataFrame) -> Result<(), IngestError> {
        let lengths: Vec<usize> = match frame.columns().iter().find_map(Column::as_series) {
            Some(series) => series.chunk_lengths().collect(),
            None => vec![frame.height()],
        };
        atomic::write_file_with(path, |file| {
            let write = || -> PolarsResult<()> {
                let mut writer = ParquetWriter::new(file).with_compression(ParquetCompression::Lz4Raw).batched(frame.schema())?;
                let mut offset = 0;
                for length in lengths {
                    let mut chunk = frame.slice(offset as i64, length);
                    chunk.align_chunks_par();
                    writer.write_batch(&chunk)?;
                    offset += length;
                }
                writer.finish().map(|_| ())
            };
            write().map_err(std::io::Error::other)
        })
        .map_err(self.io(path))
    }

    /// The current observations of the named sources, concatenated in the order given.
    ///
    /// A source with no current data yet (it never delivered a good batch) contributes nothing.
    pub fn current(&self, sources: &[&str]) -> Result<DataFrame, IngestError> {
        let mut frames = Vec::new();
        for source in sources {
            let path = self.current_path(source);
            if path.exists() {
                frames.push(self.scan(&path)?);
            }
        }
        self.concat(frames)
    }
}

fn quarantine_csv(issues: &[RowIssue]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let _ = writer.write_record(QUARANTINE_HEADER.split(','));
    for issue in issues {
        let _ = writer.write_record([
            issue.source.as_str(),
            issue.path.as_str(),
            &issue.line.to_string(),
            issue.cell.as_deref().unwrap_or(""),
            issue.field.as_str(),
            issue.reason.as_str(),
            issue.raw.as_str(),
        ]);
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// `frame` with each column that holds no value (often the optional source, vintage and note)
/// kept as one null for all its rows: a column of nulls costs a view and a bit per row, and is
/// copied by every gather. A national `run` peaked 0.7 GB lower with it. The contract reader
/// gives the columns a file lacks as one value itself (`fast_contract::stack`); what spells such
/// a column out row by row (appending to it, writing it beside chunked columns) must not, or
/// each clone spells it out again (a national `compute` once peaked 0.85 GB higher so).
fn nulls_as_one(frame: DataFrame) -> PolarsResult<DataFrame> {
    let height = frame.height();
    if height == 0 || !frame.columns().iter().any(|column| column.null_count() == height) {
        return Ok(frame);
    }
    let columns = frame
        .columns()
        .iter()
        .map(|column| match column.null_count() == height {
            true => Column::full_null(column.name().clone(), height, column.dtype()),
            false => column.clone(),
        })
        .collect();
    DataFrame::new(height, columns)
}
