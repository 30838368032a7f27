//! The `csv` source: a file in the observations contract.

use std::collections::HashMap;
use std::path::Path;

use contract::{Catalogue, Period, Problems, columns};
use polars::prelude::*;
use sha2::{Digest, Sha256};

use crate::{IngestError, Revision, RowIssue, SourceBatch};

/// How to read one CSV source.
#[derive(Debug, Clone)]
pub struct CsvOptions<'a> {
    pub name: &'a str,
    pub path: &'a Path,
    /// Decode as GB18030 (a superset of GBK) instead of UTF-8.
    pub gb18030: bool,
    /// The share of bad rows above which the source fails.
    pub max_bad_row_share: f64,
}

/// Reads a CSV source, checking each row against the catalogue.
///
/// Bad rows are returned as issues, not dropped silently; [`SourceBatch::over_limit`] tells
/// whether their share fails the whole source.
pub fn read_csv_source(options: &CsvOptions<'_>, catalogue: &Catalogue) -> Result<SourceBatch, IngestError> {
    read_csv_source_in_parts(options, catalogue, crate::fast_contract::PART_ROWS)
}

/// [`read_csv_source`], checking `part_rows` rows of a contract file at once on the vectorised
/// path (the result does not depend on it; memory does).
pub fn read_csv_source_in_parts(options: &CsvOptions<'_>, catalogue: &Catalogue, part_rows: usize) -> Result<SourceBatch, IngestError> {
    let path_text = options.path.display().to_string();
    let source_name = options.name.to_string();
    let raw = std::fs::read(options.path).map_err(|error| IngestError::Read { source_name: source_name.clone(), path: path_text.clone(), error })?;
    let parquet = crate::is_parquet(options.path);
    if !options.gb18030
        && let Some(fast) = crate::fast_contract::read(&raw, parquet, catalogue, part_rows).map_err(IngestError::vectorised(&source_name, &path_text))?
    {
        let mut checker = Checker::new(&source_name, &path_text, catalogue);
        let line_of = |line: u64| if line <= 1 { line } else { fast.suspect_lines.get(line as usize - 2).copied().unwrap_or(line) };
        let rows_read = check_text(&mut checker, &source_name, &path_text, &fast.suspect_text, &line_of)?;
        let good_rows = fast.good.height();
        // A key the row reader kept that the checked rows also have (a code padded with spaces,
        // say) is a duplicate only the row reader sees whole: read the file row by row.
        if checker.out.entity.is_empty() || !checker.collides_with(&fast.good).map_err(IngestError::vectorised(&source_name, &path_text))? {
            return checker.finish(source_name, path_text, raw, Some(fast.good), good_rows + rows_read, options.max_bad_row_share);
        }
    }
    let text_bytes = if parquet { crate::parquet_as_csv(&source_name, options.path, &raw)? } else { raw.clone() };
    let text = decode(&text_bytes, options.gb18030)
        .map_err(|(line, encoding)| IngestError::Decode { source_name: source_name.clone(), path: path_text.clone(), line, encoding })?;
    let mut checker = Checker::new(&source_name, &path_text, catalogue);
    let rows_read = check_text(&mut checker, &source_name, &path_text, &text, &|line| line)?;
    checker.finish(source_name, path_text, raw, None, rows_read, options.max_bad_row_share)
}

/// Checks the rows of a contract CSV text row by row; `line_of` maps a line of `text` to the
/// file's. Returns how many rows were read.
fn check_text(checker: &mut Checker<'_>, source_name: &str, path_text: &str, text: &str, line_of: &dyn Fn(u64) -> u64) -> Result<usize, IngestError> {
    let mut structural = Problems::default();
    let rows = contract::read_table(path_text, text, &["entity", "indicator", "period", "value"], &mut structural);
    if rows.is_empty() && !structural.is_empty() && structural.0[0].line <= 1 {
        let message = structural.0.iter().map(|p| format!("field `{}`: {}", p.field, p.message)).collect::<Vec<_>>().join("; ");
        return Err(IngestError::Header { source_name: source_name.to_string(), path: path_text.to_string(), message });
    }
    let lines: Vec<&str> = text.lines().collect();
    let raw_line = |line: u64| lines.get((line as usize).wrapping_sub(1)).copied().unwrap_or_default();
    for p in structural.0 {
        checker.issue(line_of(p.line), None, &p.field, p.message, raw_line(p.line).to_string());
    }
    let unreadable_rows = checker.issues.iter().filter(|i| i.field == "row").count();
    for row in &rows {
        let value = match row.get("value") {
            None => Ok(None),
            Some(text) => match text.replace(',', "").parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(Some(v)),
                _ => Err(format!("expected a number or an empty cell, got {text:?}")),
            },
        };
        checker.check(Candidate {
            entity: row.get("entity").unwrap_or(""),
            indicator: row.get("indicator").unwrap_or(""),
            period: row.get("period").unwrap_or(""),
            value,
            unit: row.get("unit"),
            source: row.get("source"),
            vintage: row.get("vintage"),
            note: row.get("note"),
            line: line_of(row.line),
            cell: None,
            raw: raw_line(row.line),
        });
    }
    Ok(rows.len() + unreadable_rows)
}

/// One observation offered by a reader, before it is checked against the catalogue.
pub(crate) struct Candidate<'a> {
    pub entity: &'a str,
    pub indicator: &'a str,
    pub period: &'a str,
    /// The number, none for a missing value, or why the cell is not a number.
    pub value: Result<Option<f64>, String>,
    /// The unit the source states, converted to the catalogue's when it differs.
    pub unit: Option<&'a str>,
    pub source: Option<&'a str>,
    pub vintage: Option<&'a str>,
    pub note: Option<&'a str>,
    /// 1-based line in a text input (0 when the place is a cell).
    pub line: u64,
    /// A cell or item, for inputs without lines.
    pub cell: Option<String>,
    /// The row as the source wrote it.
    pub raw: &'a str,
}

#[derive(Default)]
struct Columns {
    entity: Vec<String>,
    indicator: Vec<String>,
    period: Vec<String>,
    freq: Vec<&'static str>,
    year: Vec<i32>,
    sub: Vec<i32>,
    end_month: Vec<i32>,
    value: Vec<Option<f64>>,
    source: Vec<Option<String>>,
    vintage: Vec<Option<String>>,
    note: Vec<Option<String>>,
}

/// Entity, indicator and period: one value each per source.
type SeriesKey = (String, String, Period);
/// Where a key was first given (line, or cell) and its row in the output.
type FirstSeen = (u64, Option<String>, usize);

/// Checks candidates against the catalogue — known entity and indicator, a period, a number in
/// the indicator's range, a unit that converts, one value per key — and gathers the good ones.
pub(crate) struct Checker<'c> {
    source_name: String,
    path_text: String,
    catalogue: &'c Catalogue,
    out: Columns,
    /// Each key's first line or cell and its row in the output; a key given again in another
    /// vintage is a revision.
    seen: HashMap<SeriesKey, FirstSeen>,
    pub issues: Vec<RowIssue>,
    revisions: Vec<Revision>,
}

impl<'c> Checker<'c> {
    pub fn new(source_name: &str, path_text: &str, catalogue: &'c Catalogue) -> Checker<'c> {
        Checker {
            source_name: source_name.to_string(),
            path_text: path_text.to_string(),
            catalogue,
            out: Columns::default(),
            seen: HashMap::new(),
            issues: Vec::new(),
            revisions: Vec::new(),
        }
    }

    /// Records an issue; the same reason for two cells of one row (an unknown entity, say) is one issue.
    pub fn issue(&mut self, line: u64, cell: Option<String>, field: &str, reason: String, raw: String) {
        let issue = RowIssue {
            source: self.source_name.clone(),
            path: self.path_text.clone(),
            line,
            cell,
            field: field.to_string(),
            reason,
            raw,
        };
        let key = issue.row_key();
        if self.issues.iter().rev().take(8).any(|i| i.row_key() == key && i.field == issue.field && i.reason == issue.reason) {
            return;
        }
        self.issues.push(issue);
    }

    pub fn check(&mut self, row: Candidate<'_>) {
        let problem = |checker: &mut Checker<'_>, field: &str, reason: String| checker.issue(row.line, row.cell.clone(), field, reason, row.raw.to_string());
        let entity = row.entity;
        if !self.catalogue.entities.contains_key(entity) {
            problem(self, "entity", format!("unknown entity {entity:?}: it is not in the entities file"));
            return;
        }
        let indicator_code = row.indicator;
        let Some(indicator) = self.catalogue.indicators.get(indicator_code) else {
            problem(self, "indicator", format!("unknown indicator {indicator_code:?}: it is not in the indicator catalogue"));
            return;
        };
        let period = match row.period.parse::<Period>() {
            Ok(period) => period,
            Err(error) => {
                problem(self, "period", error.to_string());
                return;
            }
        };
        let mut value = match row.value {
            Ok(value) => value,
            Err(reason) => {
                problem(self, "value", reason);
                return;
            }
        };
        if let Some(unit) = row.unit.map(str::trim).filter(|u| !u.is_empty())
            && unit != indicator.unit
        {
            match sources::unit_factor(unit, &indicator.unit) {
                Some(factor) => value = value.map(|v| v * factor),
                None => {
                    problem(
                        self,
                        "unit",
                        format!("expected {:?} (the unit of {indicator_code} in the catalogue) or a unit that converts to it, got {unit:?}", indicator.unit),
                    );
                    return;
                }
            }
        }
        if let Some(v) = value
            && (indicator.min.is_some_and(|min| v < min) || indicator.max.is_some_and(|max| v > max))
        {
            let range = format!(
                "{} to {}",
                indicator.min.map_or("-∞".to_string(), |m| m.to_string()),
                indicator.max.map_or("∞".to_string(), |m| m.to_string())
            );
            problem(self, "value", format!("{v} is outside the range of {indicator_code} ({range})"));
            return;
        }
        let key = (entity.to_string(), indicator_code.to_string(), period);
        let row_vintage = row.vintage.map(str::to_string);
        if let Some((first_line, first_cell, index)) = self.seen.get(&key).cloned() {
            let out = &mut self.out;
            let earlier_vintage = out.vintage[index].clone();
            match (&earlier_vintage, &row_vintage) {
                (Some(earlier), Some(later)) if earlier != later => {
                    let (old_vintage, new_vintage, old_value, new_value) = if later > earlier {
                        (earlier.clone(), later.clone(), out.value[index], value)
                    } else {
                        (later.clone(), earlier.clone(), value, out.value[index])
                    };
                    self.revisions.push(Revision {
                        entity: entity.to_string(),
                        indicator: indicator_code.to_string(),
                        period: period.to_string(),
                        old_value,
                        old_vintage,
                        new_vintage,
                        new_value,
                        place: match &row.cell {
                            Some(cell) => format!("{}: {cell}", self.path_text),
                            None => format!("{}:{}", self.path_text, row.line),
                        },
                    });
                    if later > earlier {
                        out.value[index] = value;
                        out.source[index] = row.source.map(str::to_string);
                        out.note[index] = row.note.map(str::to_string);
                        out.vintage[index] = row_vintage;
                    }
                }
                _ => {
                    let first = first_cell.unwrap_or_else(|| format!("line {first_line}"));
                    problem(self, "period", format!("duplicated key {entity},{indicator_code},{period}: first given on {first}"));
                }
            }
            return;
        }
        let out = &mut self.out;
        self.seen.insert(key, (row.line, row.cell.clone(), out.entity.len()));
        out.entity.push(entity.to_string());
        out.indicator.push(indicator_code.to_string());
        out.period.push(period.to_string());
        out.freq.push(period.frequency().code());
        out.year.push(period.year());
        out.sub.push(period.sub());
        out.end_month.push(period.end_month_index());
        out.value.push(value);
        out.source.push(row.source.map(str::to_string));
        out.vintage.push(row_vintage);
        out.note.push(row.note.map(str::to_string));
    }

    /// Whether a key this checker kept is also a key of `checked` (rows in the canonical columns).
    fn collides_with(&self, checked: &DataFrame) -> PolarsResult<bool> {
        let keys = [columns::ENTITY, columns::INDICATOR, columns::PERIOD];
        let mine = df![
            columns::ENTITY => &self.out.entity,
            columns::INDICATOR => &self.out.indicator,
            columns::PERIOD => &self.out.period,
        ]?;
        let on: Vec<Expr> = keys.iter().map(|k| col(*k)).collect();
        let both = mine.lazy().join(checked.clone().lazy().select(on.clone()), on.clone(), on, JoinArgs::new(JoinType::Inner)).collect()?;
        Ok(both.height() > 0)
    }

    /// The batch: the good rows as the canonical frame (after `checked`, rows the vectorised
    /// path accepted), stamped with the input's vintage where a row has none of its own.
    pub fn finish(
        self,
        source_name: String,
        path: String,
        raw: Vec<u8>,
        checked: Option<DataFrame>,
        rows_read: usize,
        max_bad_row_share: f64,
    ) -> Result<SourceBatch, IngestError> {
        let sha256 = format!("{:x}", Sha256::digest(&raw));
        let vintage = sha256[..12].to_string();
        let context = || format!("source {source_name:?}: building the frame");
        let mut frame = build_frame(self.out, &vintage).map_err(IngestError::polars(context()))?;
        let vectorised_rows = checked.as_ref().map_or(0, DataFrame::height);
        if let Some(mut checked) = checked {
            // Rows without vintages throughout get the input's as one value for all of them
            // (filling nulls would spell it out row by row).
            let given = checked.column(columns::VINTAGE).map_err(IngestError::polars(context()))?;
            if given.null_count() == given.len() {
                let stamped = Column::new_scalar(columns::VINTAGE.into(), Scalar::from(PlSmallStr::from(vintage.as_str())), checked.height());
                checked.with_column(stamped).map_err(IngestError::polars(context()))?;
            } else {
                checked = checked.lazy().with_column(col(columns::VINTAGE).fill_null(lit(vintage.clone()))).collect().map_err(IngestError::polars(context()))?;
            }
            frame = crate::fast_contract::stack(vec![checked, frame]).map_err(IngestError::polars(context()))?;
        }
        Ok(SourceBatch { source: source_name, path, raw, sha256, rows_read, vectorised_rows, frame, issues: self.issues, revisions: self.revisions, max_bad_row_share })
    }
}

fn build_frame(out: Columns, vintage: &str) -> PolarsResult<DataFrame> {
    let height = out.entity.len();
    DataFrame::new(
        height,
        vec![
            Column::new(columns::ENTITY.into(), out.entity),
            Column::new(columns::INDICATOR.into(), out.indicator),
            Column::new(columns::PERIOD.into(), out.period),
            Column::new(columns::FREQ.into(), out.freq),
            Column::new(columns::YEAR.into(), out.year),
            Column::new(columns::SUB.into(), out.sub),
            Column::new(columns::END_MONTH.into(), out.end_month),
            Column::new(columns::VALUE.into(), out.value),
            Column::new(columns::SOURCE.into(), out.source),
            Column::new(columns::VINTAGE.into(), out.vintage.into_iter().map(|v| v.unwrap_or_else(|| vintage.to_string())).collect::<Vec<_>>()),
            Column::new(columns::NOTE.into(), out.note),
        ],
    )
}

/// Decodes the bytes of a source; on failure gives the line of the first bad byte and the encoding tried.
fn decode(raw: &[u8], gb18030: bool) -> Result<String, (u64, &'static str)> {
    if gb18030 {
        let (text, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(raw);
        if had_errors {
            let at = text.find('\u{fffd}').unwrap_or(0);
            return Err((text[..at].matches('\n').count() as u64 + 1, "GB18030/GBK"));
        }
        return Ok(text.into_owned());
    }
    match std::str::from_utf8(raw) {
        Ok(text) => Ok(contract::strip_bom(text).to_string()),
        Err(error) => Err((raw[..error.valid_up_to()].iter().filter(|b| **b == b'\n').count() as u64 + 1, "UTF-8")),
    }
}
