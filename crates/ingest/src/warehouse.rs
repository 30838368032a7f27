//! The warehouse: every vintage a source delivered, its raw input, and the rows set aside.
//!
//! Layout under the warehouse folder:
//!
//! ```text
//! raw/<source>/<sha256>.<ext>        the input exactly as read, named by its checksum
//! vintages/<source>/<vintage>.parquet the good rows of each vintage, never overwritten
//! current/<source>.parquet            the latest good vintage of each source
//! quarantine/<source>.csv             the rows of the latest read that were set aside, with reasons
//! ```
//!
//! Every file is replaced atomically, so a kill leaves the previous state intact.

use std::path::{Path, PathBuf};

use contract::atomic;
use polars::prelude::*;

use crate::{IngestError, RowIssue, SourceBatch, observation_schema};

/// The header of a quarantine file.
pub const QUARANTINE_HEADER: &str = "source,path,line,field,reason,raw";

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
        let extension = Path::new(&batch.path).extension().and_then(|e| e.to_str()).unwrap_or("bin");
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

    /// Stores the good rows of an accepted batch as a new vintage and as the source's current data.
    pub fn accept(&self, batch: &SourceBatch) -> Result<(), IngestError> {
        let vintage_path = self.root.join("vintages").join(&batch.source).join(format!("{}.parquet", batch.vintage()));
        if !vintage_path.exists() {
            self.write_parquet(&vintage_path, &batch.frame)?;
        }
        let current = self.current_path(&batch.source);
        self.write_parquet(&current, &batch.frame)
    }

    fn write_parquet(&self, path: &Path, frame: &DataFrame) -> Result<(), IngestError> {
        let mut frame = frame.clone();
        atomic::write_file_with(path, |file| {
            ParquetWriter::new(file)
                .with_compression(ParquetCompression::Zstd(None))
                .finish(&mut frame)
                .map(|_| ())
                .map_err(std::io::Error::other)
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
            if !path.exists() {
                continue;
            }
            let path_text = path.display().to_string();
            let frame = LazyFrame::scan_parquet(PlRefPath::new(&path_text), ScanArgsParquet::default())
                .map_err(IngestError::polars(format!("reading {path_text}")))?;
            frames.push(frame);
        }
        if frames.is_empty() {
            return Ok(DataFrame::empty_with_schema(&observation_schema()));
        }
        concat(frames, UnionArgs::default())
            .and_then(|frame| frame.collect())
            .map_err(IngestError::polars(format!("reading the warehouse {}", self.root.display())))
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
            issue.field.as_str(),
            issue.reason.as_str(),
            issue.raw.as_str(),
        ]);
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}
