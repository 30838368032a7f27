//! Rows in and out: CSV and JSON writers, and the reader for reviewed CSV files.

use std::io::Write;

use crate::{ExtractError, Kind, Row};

/// The CSV columns, in order: a public contract.
pub const CSV_HEADER: [&str; 11] = [
    "section_line",
    "region",
    "kind",
    "indicator",
    "indicator_text",
    "value",
    "unit",
    "comparator",
    "year",
    "line",
    "quote",
];

fn write_error(error: impl std::fmt::Display) -> ExtractError {
    ExtractError::Write(error.to_string())
}

/// Writes rows as CSV with the header `section_line,region,kind,indicator,indicator_text,value,unit,comparator,year,line,quote`.
pub fn write_csv(rows: &[Row], out: impl Write) -> Result<(), ExtractError> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(CSV_HEADER).map_err(write_error)?;
    for row in rows {
        let section_line = row.section_line.map(|l| l.to_string()).unwrap_or_default();
        let year = row.year.map(|y| y.to_string()).unwrap_or_default();
        let line = row.line.to_string();
        writer
            .write_record([
                section_line.as_str(),
                row.region.as_str(),
                row.kind.as_str(),
                row.indicator.as_deref().unwrap_or(""),
                row.indicator_text.as_str(),
                row.value.as_str(),
                row.unit.as_str(),
                row.comparator.as_str(),
                year.as_str(),
                line.as_str(),
                row.quote.as_str(),
            ])
            .map_err(write_error)?;
    }
    writer.flush().map_err(write_error)
}

/// Writes rows as a JSON array of objects with the CSV's field names (absent values are `null`).
pub fn write_json(rows: &[Row], mut out: impl Write) -> Result<(), ExtractError> {
    serde_json::to_writer_pretty(&mut out, rows).map_err(write_error)?;
    out.write_all(b"\n").map_err(write_error)
}

/// Reads reviewed rows back from CSV text (columns by name, in any order). Errors name `path_label`,
/// the CSV line and the field.
pub fn read_rows_csv(path_label: &str, text: &str) -> Result<Vec<Row>, ExtractError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| ExtractError::Format {
            path: path_label.to_string(),
            message: format!("cannot read the header: {e}"),
        })?
        .clone();
    let mut index = [0usize; 11];
    for (slot, name) in index.iter_mut().zip(CSV_HEADER) {
        *slot = headers
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| ExtractError::Format {
                path: path_label.to_string(),
                message: format!(
                    "missing column `{name}` (expected {})",
                    CSV_HEADER.join(",")
                ),
            })?;
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line() as usize);
            ExtractError::Field {
                path: path_label.to_string(),
                line,
                field: "record".to_string(),
                message: e.to_string(),
            }
        })?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let get = |column: usize| record.get(index[column]).unwrap_or("").trim();
        let field_error = |field: &str, message: String| ExtractError::Field {
            path: path_label.to_string(),
            line,
            field: field.to_string(),
            message,
        };
        let optional_number = |column: usize| -> Result<Option<usize>, ExtractError> {
            let v = get(column);
            if v.is_empty() {
                return Ok(None);
            }
            v.parse().map(Some).map_err(|_| {
                field_error(
                    CSV_HEADER[column],
                    format!("expected a line number, got {v:?}"),
                )
            })
        };
        let section_line = optional_number(0)?;
        let kind = match get(2) {
            "baseline" => Kind::Baseline,
            "target" => Kind::Target,
            other => {
                return Err(field_error(
                    "kind",
                    format!("expected `baseline` or `target`, got {other:?}"),
                ));
            }
        };
        let comparator = get(7).to_string();
        if !matches!(comparator.as_str(), ">=" | "<=" | "≈" | "=") {
            return Err(field_error(
                "comparator",
                format!("expected one of >=, <=, ≈, =, got {comparator:?}"),
            ));
        }
        let year = match get(8) {
            "" => None,
            v => Some(
                v.parse::<i32>()
                    .map_err(|_| field_error("year", format!("expected a year, got {v:?}")))?,
            ),
        };
        let source_line = optional_number(9)?
            .ok_or_else(|| field_error("line", "the line of the value is required".to_string()))?;
        let indicator = Some(get(3).to_string()).filter(|s| !s.is_empty());
        rows.push(Row {
            section_line,
            region: get(1).to_string(),
            kind,
            indicator,
            indicator_text: get(4).to_string(),
            value: get(5).to_string(),
            unit: get(6).to_string(),
            comparator,
            year,
            line: source_line,
            quote: record.get(index[10]).unwrap_or("").to_string(),
        });
    }
    Ok(rows)
}
