//! Baseline figures and quantitative targets out of Chinese policy documents.
//!
//! [`extract`] reads the text of a document (for example the national new-type urbanization pilot
//! compilation, split into plans by their title blocks) and returns every baseline figure and target it
//! states, each with its region, its line and the exact words. The rules are deterministic phrase rules;
//! the phrasing they handle is catalogued in `seeds/gold/CONVENTIONS.md`.
//!
//! Around that: [`decode`] turns file bytes into text (UTF-8, else GB18030), [`write_csv`] / [`write_json`]
//! write rows, [`read_rows_csv`] reads reviewed rows back, [`to_targets`] turns reviewed target rows into
//! rows of the project's targets file, and [`score`] measures rows against the hand-made gold tables.
#![forbid(unsafe_code)]

mod io;
mod layout;
mod rules;
pub mod score;
mod targets;

use std::path::Path;

pub use io::{CSV_HEADER, read_rows_csv, write_csv, write_json};
pub use score::{Scores, summary};
pub use targets::{Problem, TargetRow, to_targets, write_targets_csv};

/// An indicator of the catalogue: its code and the names (name and synonyms) it goes by in text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorName {
    pub code: String,
    pub names: Vec<String>,
}

/// What the extractor maps indicator texts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub indicators: Vec<IndicatorName>,
}

impl Default for Options {
    /// The six baseline codes (`area`, `pop_resident`, `pop_hukou`, `urban_rate_resident`,
    /// `urban_rate_hukou`, `gdp`) with their built-in names.
    fn default() -> Options {
        Options {
            indicators: rules::builtin_indicators(),
        }
    }
}

impl Options {
    /// The built-in names of the six baseline codes plus the names of a catalogue (name and synonyms per
    /// code). Names of a code given twice are merged.
    pub fn with_catalogue(catalogue: Vec<IndicatorName>) -> Options {
        let mut options = Options::default();
        for entry in catalogue {
            match options.indicators.iter_mut().find(|i| i.code == entry.code) {
                Some(existing) => {
                    for name in entry.names {
                        if !existing.names.contains(&name) {
                            existing.names.push(name);
                        }
                    }
                }
                None => options.indicators.push(entry),
            }
        }
        options
    }
}

/// Whether a row states the situation at the start (a baseline) or a figure to reach (a target).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Baseline,
    Target,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Baseline => "baseline",
            Kind::Target => "target",
        }
    }
}

/// One figure found in a document.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Row {
    /// First line of the plan's title block; `None` in a document without that structure.
    pub section_line: Option<usize>,
    /// The plan's region as its title writes it; empty without that structure.
    pub region: String,
    pub kind: Kind,
    /// The catalogue code the indicator text maps to, if any.
    pub indicator: Option<String>,
    pub indicator_text: String,
    /// The value as written (digits, a range "1—2", a ratio "8:4:1" with ASCII colons, or words "翻一番").
    pub value: String,
    /// The unit as written ("万人", "%", "平方公里"); empty when the text gives none.
    pub unit: String,
    /// `>=`, `<=`, `≈` or `=`.
    pub comparator: String,
    pub year: Option<i32>,
    /// 1-based line of the input where the value starts.
    pub line: usize,
    /// The source words around the value, line breaks removed, the source's spaces kept.
    pub quote: String,
}

/// Errors of this crate; each message names the file (and line and field where there is one).
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("{path}: cannot decode the text: not valid {tried}")]
    Decode { path: String, tried: String },
    #[error("{path}:{line}: {field}: {message}")]
    Field {
        path: String,
        line: usize,
        field: String,
        message: String,
    },
    #[error("{path}: {message}")]
    Format { path: String, message: String },
    #[error("writing rows: {0}")]
    Write(String),
}

/// Decodes a file's bytes: UTF-8 (with or without a byte-order mark) first, else GB18030 (which covers
/// GBK) when the bytes decode cleanly; otherwise an error naming the file and the encodings tried.
pub fn decode(path: &Path, bytes: &[u8]) -> Result<String, ExtractError> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(text) = std::str::from_utf8(body) {
        return Ok(text.to_string());
    }
    if body.len() == bytes.len()
        && let Some(text) =
            encoding_rs::GB18030.decode_without_bom_handling_and_without_replacement(bytes)
    {
        return Ok(text.into_owned());
    }
    let tried = if body.len() == bytes.len() {
        "UTF-8 or GB18030 (GBK)"
    } else {
        "UTF-8 (the file starts with a UTF-8 byte-order mark)"
    };
    Err(ExtractError::Decode {
        path: path.display().to_string(),
        tried: tried.to_string(),
    })
}

/// Every baseline figure and quantitative target the text states, in document order.
pub fn extract(text: &str, options: &Options) -> Vec<Row> {
    rules::extract(text, options)
}
