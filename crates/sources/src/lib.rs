//! Readers that turn the bytes of one statistical source into raw long records.
//!
//! Every reader takes the input's bytes, a `label` used in messages (a file path or a URL) and,
//! where the format needs one, a spec saying which columns or dimensions hold what. It returns a
//! [`Read`]: one [`Record`] per observation (`value: None` for a cell the source marks as missing),
//! the [`Problem`]s of cells that could not be read (an unparseable number, an unreadable period…),
//! and counts. A fatal input error (undecodable bytes, not the expected structure, an API error
//! object) is a [`SourceError`].
//!
//! The readers do not know the indicator catalogue: `entity` and `indicator` are the source's
//! values after the spec's mapping (unmapped values stay as written), `unit` is the unit the
//! source states, and periods are in the project's syntax (`2020`, `2020-09`, `2020Q3`).
//!
//! | format | entry point |
//! | --- | --- |
//! | delimited text (UTF-8 / GBK / GB18030) | [`read_csv`] with a [`CsvSpec`] |
//! | xlsx statistical-yearbook sheets | [`read_xlsx`] with an [`XlsxSpec`] |
//! | World Bank bulk CSV | [`worldbank_bulk_csv`] |
//! | World Bank API v2 JSON page | [`worldbank_page`] |
//! | NBS easyquery JSON | [`nbs_easyquery`] with an [`NbsSpec`] |
//! | JSON-stat 1.x / 2.0 | [`jsonstat`] with a [`JsonStatSpec`] |
//! | NBS division codes | [`divisions`] |
#![forbid(unsafe_code)]

mod decode;
mod divisions;
mod jsonstat;
mod nbs;
mod table;
mod text;
mod worldbank;
mod xlsx;

use std::fmt;

pub use decode::{Encoding, decode};
pub use divisions::{Division, Level, divisions};
pub use jsonstat::{DatasetInfo, JsonStat, JsonStatIndicator, JsonStatSpec, Link, jsonstat, jsonstat_datasets};
pub use nbs::{NbsEntity, NbsSpec, nbs_easyquery};
pub use table::{CsvSpec, EntitySpec, IndicatorFrom, Layout, TableSpec, Unresolved, read_csv};
pub use text::{is_missing_marker, normalize_period, parse_number, unit_factor, unit_in_header};
pub use worldbank::{PageInfo, worldbank_bulk_csv, worldbank_page};
pub use xlsx::{XlsxSpec, read_xlsx};

/// Where in an input a record or a problem comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Place {
    /// The input's label: a file path or a URL.
    pub label: String,
    /// The 1-based line in a text file, where there is one.
    pub line: Option<u64>,
    /// A cell or item reference, e.g. `Sheet1!C7`, `page 2, item 14` or `datanodes[12]`.
    pub cell: Option<String>,
    /// The header, column or dimension name the value sits under.
    pub field: String,
}

impl Place {
    fn text(label: &str, line: u64, field: &str) -> Place {
        Place { label: label.to_string(), line: Some(line), cell: None, field: field.to_string() }
    }

    fn cell(label: &str, cell: String, field: &str) -> Place {
        Place { label: label.to_string(), line: None, cell: Some(cell), field: field.to_string() }
    }
}

impl fmt::Display for Place {
    /// `label:line`, `label: cell`, `label:line: cell` or `label` (the field is not included).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.label)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(cell) = &self.cell {
            write!(f, ": {cell}")?;
        }
        Ok(())
    }
}

/// One observation as the source gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The entity code after the spec's mapping (unmapped values stay as written, trimmed).
    pub entity: String,
    /// The indicator code after the spec's mapping (unmapped values stay as written, trimmed).
    pub indicator: String,
    /// The period in the project's syntax: `2020`, `2020-09` or `2020Q3`.
    pub period: String,
    /// The value; `None` where the source marks the observation as missing.
    pub value: Option<f64>,
    /// The unit the source states for this value, if it states one.
    pub unit: Option<String>,
    /// Where the value was read.
    pub place: Place,
    /// The value as written: the cell's text for tables, the observation's JSON for JSON sources.
    pub raw: String,
}

/// A cell or row that could not be read. The rest of the input is still read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where.
    pub place: Place,
    /// What was wrong and what was expected.
    pub reason: String,
    /// The whole row (tables) or observation (JSON) as written.
    pub raw: String,
}

impl fmt::Display for Problem {
    /// `label:line: field `x`: reason` (or `label: Sheet1!C7: field `x`: reason`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: field `{}`: {}", self.place, self.place.field, self.reason)
    }
}

/// Why a source left an observation out (see [`Read::missing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MissingWhy {
    /// January of a cumulative (累计) monthly series: NBS publishes January only together with
    /// February (as 1–2月), so this cell is never filled.
    JanuaryOfCumulative,
    /// No indicator has a value for this period: it was not yet released when the data was queried.
    NotYetReleased,
    /// The source has no value for this cell for another reason (e.g. a discontinued series).
    NotPublished,
}

/// An observation the source explicitly marks as not available (NBS `hasdata: false`).
/// Its record is in [`Read::records`] with `value: None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// The entity code (mapped).
    pub entity: String,
    /// The indicator code (mapped).
    pub indicator: String,
    /// The period.
    pub period: String,
    /// Where.
    pub place: Place,
    /// Why it is missing.
    pub why: MissingWhy,
}

/// What one reader got out of one input.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Read {
    /// One record per observation, in input order.
    pub records: Vec<Record>,
    /// Cells and rows that could not be read.
    pub problems: Vec<Problem>,
    /// Data rows (tables) or observations (JSON) looked at, counting those with problems and
    /// those skipped; not counting blank rows, header rows and notes.
    pub rows_read: usize,
    /// Observations the source marks as not available, with the reason (NBS easyquery only;
    /// each also has a record with `value: None`).
    pub missing: Vec<Missing>,
    /// Rows deliberately not read and not errors: label-only rows inside a table, and rows whose
    /// entity cannot be resolved when the spec says [`Unresolved::Skip`].
    pub skipped: Vec<Problem>,
    /// Notes below a table (注、资料来源…) and remarks about the input's structure.
    pub notes: Vec<String>,
}

/// A fatal error: the input as a whole cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The bytes are not text in any of the encodings tried.
    #[error("{label}: cannot decode the text: {tried}")]
    Decode {
        /// The input's label.
        label: String,
        /// Each encoding tried and the line of its first bad byte.
        tried: String,
    },
    /// The input does not have the structure the reader expects.
    #[error("{place}: expected {expected}")]
    Structure {
        /// Where (at least the label).
        place: String,
        /// What was expected, and what was found.
        expected: String,
    },
    /// A column the spec names is not in the header.
    #[error("{place}: no column `{column}` in the header (found: {found})")]
    Column {
        /// The label and header line or row.
        place: String,
        /// The column the spec asked for.
        column: String,
        /// The first headers found.
        found: String,
    },
    /// The input is not valid JSON.
    #[error("{label}: expected JSON: {source}")]
    Json {
        /// The input's label.
        label: String,
        /// The parser's error, with its line and column.
        source: serde_json::Error,
    },
    /// The World Bank API answered with an error object.
    #[error("{label}: the World Bank API returned error {id} ({key}): {message}")]
    Api {
        /// The input's label.
        label: String,
        /// The error's `id`.
        id: String,
        /// The error's `key`.
        key: String,
        /// The error's `value`.
        message: String,
    },
    /// An xlsx workbook could not be opened or a sheet could not be read.
    #[error("{label}: expected an xlsx workbook: {detail}")]
    Workbook {
        /// The input's label.
        label: String,
        /// What calamine said.
        detail: String,
    },
    /// A file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl SourceError {
    fn structure(place: impl fmt::Display, expected: impl Into<String>) -> SourceError {
        SourceError::Structure { place: place.to_string(), expected: expected.into() }
    }
}

/// A reader with its spec: what a configured source says about its input's format.
#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    /// A delimited table ([`read_csv`]).
    Csv(CsvSpec),
    /// An xlsx sheet ([`read_xlsx`]).
    Xlsx(XlsxSpec),
    /// A World Bank bulk-download CSV ([`worldbank_bulk_csv`]), optionally limited to some countries.
    WorldBankCsv { countries: Option<Vec<String>> },
    /// World Bank API v2 JSON pages ([`worldbank_page`]); the caller fetches each page.
    WorldBankApi,
    /// An NBS easyquery answer ([`nbs_easyquery`]).
    Nbs(NbsSpec),
    /// A JSON-stat dataset ([`jsonstat`]).
    JsonStat(JsonStatSpec),
}

impl Spec {
    /// A short name of the format, for messages.
    pub fn format(&self) -> &'static str {
        match self {
            Spec::Csv(_) => "table (csv)",
            Spec::Xlsx(_) => "table (xlsx)",
            Spec::WorldBankCsv { .. } => "World Bank bulk CSV",
            Spec::WorldBankApi => "World Bank API",
            Spec::Nbs(_) => "NBS easyquery",
            Spec::JsonStat(_) => "JSON-stat",
        }
    }
}

/// Reads one input (one page, for the World Bank API) with its spec. A JSON-stat collection,
/// which holds links rather than data, is a [`SourceError::Structure`] naming its first links.
pub fn read(label: &str, bytes: &[u8], spec: &Spec) -> Result<Read, SourceError> {
    match spec {
        Spec::Csv(spec) => read_csv(label, bytes, spec),
        Spec::Xlsx(spec) => read_xlsx(label, bytes, spec),
        Spec::WorldBankCsv { countries } => {
            let codes: Option<Vec<&str>> = countries.as_ref().map(|c| c.iter().map(String::as_str).collect());
            worldbank_bulk_csv(label, bytes, codes.as_deref())
        }
        Spec::WorldBankApi => worldbank_page(label, bytes).map(|(_, read)| read),
        Spec::Nbs(spec) => nbs_easyquery(label, bytes, spec),
        Spec::JsonStat(spec) => match jsonstat(label, bytes, spec)? {
            JsonStat::Data(read) => Ok(read),
            JsonStat::Collection(links) => Err(SourceError::structure(
                label,
                format!(
                    "a JSON-stat dataset, got a collection of {} links (configure one of them as the source: {})",
                    links.len(),
                    links.iter().take(3).map(|l| l.href.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )),
        },
    }
}
