//! The vectorised path for a file in the observations contract.
//!
//! Polars reads the whole file and checks every row at once: joins against the catalogue's
//! entities and indicators, one parse per distinct period, a cast of the values, the indicator's
//! range and unit, and a count per key for duplicates. Rows that pass every check go straight into
//! the canonical frame. The few rows that fail any check ("suspect" rows) are handed, as CSV text
//! with their original line numbers, to the row-by-row checker, which reports them exactly as it
//! always has (and keeps the ones it can use, such as a value with a thousands separator or a unit
//! that converts). Files the vectorised path cannot read faithfully (quoted fields, CR line ends,
//! blank lines, ragged rows, padded free text) are left to the row-by-row reader: same result, slower.

use std::io::Cursor;

use contract::{Catalogue, Period, columns};
use polars::prelude::*;

use crate::IngestError;

/// The part of a contract file the vectorised path checked.
pub(crate) struct Vectorised {
    /// Rows that passed every check, in the canonical columns (vintage still null where the file gave none).
    pub good: DataFrame,
    /// The suspect rows as CSV text under the file's header, and each one's line in the file.
    pub suspect_text: String,
    pub suspect_lines: Vec<u64>,
}

const OPTIONAL: [&str; 4] = ["unit", "source", "vintage", "note"];

fn cell_text(frame: &DataFrame, name: &str) -> PolarsResult<Vec<String>> {
    let column = frame.column(name)?.cast(&DataType::String)?;
    Ok(column.str()?.iter().flatten().map(str::to_string).collect())
}

/// Reads `raw` (CSV when `parquet` is false) with the vectorised checks, or `None` when the file
/// needs the row-by-row reader.
pub(crate) fn read(raw: &[u8], parquet: bool, catalogue: &Catalogue) -> Result<Option<Vectorised>, PolarsError> {
    let (frame, csv_text) = if parquet {
        (ParquetReader::new(Cursor::new(raw)).finish()?, None)
    } else {
        let Some(text) = plain_csv(raw) else { return Ok(None) };
        let frame = CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .into_reader_with_file_handle(Cursor::new(text.as_bytes()))
            .finish();
        match frame {
            Ok(frame) if frame.height() + 1 == count_lines(text) => (frame, Some(text)),
            _ => return Ok(None),
        }
    };
    let names: Vec<String> = frame.get_column_names().iter().map(|n| n.to_string()).collect();
    let unique_names: std::collections::HashSet<&String> = names.iter().collect();
    if unique_names.len() != names.len()
        || names.iter().any(|n| n.trim() != n || n.is_empty())
        || ["entity", "indicator", "period", "value"].iter().any(|r| !names.iter().any(|n| n == r))
    {
        return Ok(None);
    }
    let has = |name: &str| names.iter().any(|n| n == name);
    // Free text the row reader would trim or read as empty: leave such files to it.
    for name in OPTIONAL.iter().filter(|n| has(n)) {
        let distinct = frame.column(name)?.cast(&DataType::String)?.unique()?;
        if distinct.str()?.iter().flatten().any(|v| v.trim() != v || v.is_empty()) {
            return Ok(None);
        }
    }

    // One parse per distinct period.
    let distinct_periods = cell_text(&frame.select(["period"])?.lazy().select([col("period").cast(DataType::String).unique()]).collect()?, "period")?;
    let parsed: Vec<(String, Period)> = distinct_periods.into_iter().filter_map(|text| text.parse::<Period>().ok().map(|p| (text, p))).collect();
    let periods = df![
        "_p_text" => parsed.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        "_p_id" => (0..parsed.len() as u64).collect::<Vec<_>>(),
        "_p_canon" => parsed.iter().map(|(_, p)| p.to_string()).collect::<Vec<_>>(),
        columns::FREQ => parsed.iter().map(|(_, p)| p.frequency().code()).collect::<Vec<_>>(),
        columns::YEAR => parsed.iter().map(|(_, p)| p.year()).collect::<Vec<_>>(),
        columns::SUB => parsed.iter().map(|(_, p)| p.sub()).collect::<Vec<_>>(),
        columns::END_MONTH => parsed.iter().map(|(_, p)| p.end_month_index()).collect::<Vec<_>>(),
    ]?;
    let entities = df![
        "_e_code" => catalogue.entities.keys().map(String::as_str).collect::<Vec<_>>(),
        "_e_id" => (0..catalogue.entities.len() as u64).collect::<Vec<_>>(),
    ]?;
    let indicators: Vec<_> = catalogue.indicators.values().collect();
    let indicators = df![
        "_i_code" => indicators.iter().map(|i| i.code.as_str()).collect::<Vec<_>>(),
        "_i_id" => (0..indicators.len() as u64).collect::<Vec<_>>(),
        "_i_unit" => indicators.iter().map(|i| i.unit.as_str()).collect::<Vec<_>>(),
        "_i_min" => indicators.iter().map(|i| i.min).collect::<Vec<_>>(),
        "_i_max" => indicators.iter().map(|i| i.max).collect::<Vec<_>>(),
    ]?;

    // Left joins that keep the file's row order.
    let left = || {
        let mut args = JoinArgs::new(JoinType::Left);
        args.maintain_order = MaintainOrderJoin::Left;
        args
    };
    let text = |name: &str| col(name).cast(DataType::String);
    let value_text = text("value");
    let value = col("value").cast(DataType::Float64);
    let frame = frame
        .lazy()
        .with_row_index("_row", None)
        .with_columns([text("entity").alias("entity"), text("indicator").alias("indicator"), text("period").alias("period")])
        .join(entities.lazy(), [col("entity")], [col("_e_code")], left())
        .join(indicators.lazy(), [col("indicator")], [col("_i_code")], left())
        .join(periods.lazy(), [col("period")], [col("_p_text")], left())
        .with_column(value.clone().alias("_value"));
    let is_finite = col("_value").abs().lt_eq(lit(f64::MAX));
    let known = col("_e_id").is_not_null().and(col("_i_id").is_not_null()).and(col("_p_id").is_not_null());
    let mut suspect = known
        .not()
        .or(value_text.is_not_null().and(is_finite.clone().not().or(col("_value").is_null())))
        .or(col("_value").lt(col("_i_min")).fill_null(lit(false)))
        .or(col("_value").gt(col("_i_max")).fill_null(lit(false)));
    if has("unit") {
        suspect = suspect.or(text("unit").is_not_null().and(text("unit").neq(col("_i_unit"))));
    }
    // Entity, indicator and period as one integer: a count above one is a duplicated key.
    let key = (col("_e_id") * lit(1u64 << 40)) + (col("_i_id") * lit(1u64 << 20)) + col("_p_id");
    let suspect = suspect.or(key.clone().len().over([key])?.gt(lit(1)));
    let frame = frame.with_column(suspect.alias("_suspect")).collect()?;

    let optional = |name: &str| if has(name) { text(name).alias(name) } else { lit(NULL).cast(DataType::String).alias(name) };
    // Without suspect rows (the usual case) the columns are taken as they are, not copied by a filter.
    let any_suspect = frame.column("_suspect")?.bool()?.any();
    let checked = if any_suspect { frame.clone().lazy().filter(col("_suspect").not()) } else { frame.clone().lazy() };
    let good = checked
        .select([
            col("entity").alias(columns::ENTITY),
            col("indicator").alias(columns::INDICATOR),
            col("_p_canon").alias(columns::PERIOD),
            col(columns::FREQ),
            col(columns::YEAR),
            col(columns::SUB),
            col(columns::END_MONTH),
            col("_value").alias(columns::VALUE),
            optional("source").alias(columns::SOURCE),
            optional("vintage").alias(columns::VINTAGE),
            optional("note").alias(columns::NOTE),
        ])
        .collect()?;
    let suspects = if any_suspect { frame.lazy().filter(col("_suspect")).collect()? } else { frame.clear() };
    let rows: Vec<u64> = suspects.column("_row")?.cast(&DataType::UInt64)?.u64()?.into_no_null_iter().collect();
    let suspect_lines: Vec<u64> = rows.iter().map(|row| row + 2).collect();
    let suspect_text = match csv_text {
        // The lines as the file has them.
        Some(text) => {
            let mut lines = text.split('\n');
            let mut out = lines.next().unwrap_or_default().to_string();
            let mut at = 0u64;
            for row in &rows {
                let line = lines.nth((row - at) as usize).unwrap_or_default();
                at = row + 1;
                out.push('\n');
                out.push_str(line);
            }
            out
        }
        // Parquet rows written as CSV, as the row reader has always reported them.
        None => {
            let mut selected = suspects.select(names.iter().map(String::as_str))?;
            let mut bytes = Vec::new();
            CsvWriter::new(&mut bytes).include_header(true).finish(&mut selected)?;
            let text = String::from_utf8(bytes).map_err(|e| PolarsError::ComputeError(e.to_string().into()))?;
            // A value with a line end in it: the lines would not be the rows.
            if text.trim_end_matches('\n').split('\n').count() != rows.len() + 1 {
                return Ok(None);
            }
            text
        }
    };
    Ok(Some(Vectorised { good, suspect_text, suspect_lines }))
}

/// The text of a CSV file the vectorised reader reads exactly as the row reader would: UTF-8
/// (a byte-order mark is skipped), no quotes, no CR, and a final line end at most once.
fn plain_csv(raw: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(raw).ok()?;
    let text = contract::strip_bom(text);
    if text.bytes().any(|b| b == b'"' || b == b'\r') {
        return None;
    }
    let text = text.strip_suffix('\n').unwrap_or(text);
    // Every line must have the header's number of fields (this also refuses blank lines).
    let mut lines = text.split('\n');
    let header_commas = lines.next()?.bytes().filter(|b| *b == b',').count();
    lines.all(|line| line.bytes().filter(|b| *b == b',').count() == header_commas).then_some(text)
}

/// Lines in `text`, which has no final line end.
fn count_lines(text: &str) -> usize {
    text.bytes().filter(|b| *b == b'\n').count() + 1
}

impl IngestError {
    pub(crate) fn vectorised(source_name: &str, path: &str) -> impl FnOnce(PolarsError) -> IngestError {
        IngestError::polars(format!("source {source_name:?}: {path}: reading the contract file"))
    }
}
