//! The vectorised path for a file in the observations contract.
//!
//! Polars reads the file and checks its rows a quarter of a million at a time: joins against the
//! catalogue's entities and indicators, one parse per distinct period, a cast of the values, the
//! indicator's range and unit; then the keys of the whole file are sorted once to find duplicates.
//! Rows that pass every check go straight into the canonical frame. The few rows that fail any check ("suspect" rows) are handed, as CSV text
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

/// Rows checked at once. A file is checked in slices of this many rows, so the lookups joined
/// onto each row (ids, units, ranges, the parsed period) never exist for the whole file at once,
/// and a CSV file's text columns exist for one slice at a time. A quarter of a million: against
/// two million, national `ingest` peaks 0.8 GB lower and `run` 0.3 GB lower, while `compute`
/// peaks 0.25 GB higher in the same time (bench/RESULTS.md, item 19).
pub const PART_ROWS: usize = 250_000;

/// The catalogue as join tables, and each distinct period text met so far with its id.
struct Lookups {
    entities: DataFrame,
    indicators: DataFrame,
    period_ids: std::collections::HashMap<String, Option<(u64, Period)>>,
}

impl Lookups {
    fn new(catalogue: &Catalogue) -> PolarsResult<Lookups> {
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
        Ok(Lookups { entities, indicators, period_ids: Default::default() })
    }

    /// The periods of `part` that parse, with ids that are the same in every part: one parse per
    /// distinct period text in the whole file.
    fn periods(&mut self, part: &DataFrame) -> PolarsResult<DataFrame> {
        let distinct = cell_text(&part.select(["period"])?.lazy().select([col("period").cast(DataType::String).unique()]).collect()?, "period")?;
        let mut parsed: Vec<(String, u64, Period)> = Vec::new();
        for text in distinct {
            let next = self.period_ids.len() as u64;
            let known = *self.period_ids.entry(text.clone()).or_insert_with(|| text.parse::<Period>().ok().map(|period| (next, period)));
            if let Some((id, period)) = known {
                parsed.push((text, id, period));
            }
        }
        df![
            "_p_text" => parsed.iter().map(|(t, _, _)| t.as_str()).collect::<Vec<_>>(),
            "_p_id" => parsed.iter().map(|(_, id, _)| *id).collect::<Vec<_>>(),
            "_p_canon" => parsed.iter().map(|(_, _, p)| p.to_string()).collect::<Vec<_>>(),
            columns::FREQ => parsed.iter().map(|(_, _, p)| p.frequency().code()).collect::<Vec<_>>(),
            columns::YEAR => parsed.iter().map(|(_, _, p)| p.year()).collect::<Vec<_>>(),
            columns::SUB => parsed.iter().map(|(_, _, p)| p.sub()).collect::<Vec<_>>(),
            columns::END_MONTH => parsed.iter().map(|(_, _, p)| p.end_month_index()).collect::<Vec<_>>(),
        ]
    }
}

/// The file as read: a Parquet frame, or a plain CSV text.
enum Input<'a> {
    Parquet(DataFrame),
    Csv(&'a str),
}

/// Reads `raw` (CSV when `parquet` is false) with the vectorised checks, or `None` when the file
/// needs the row-by-row reader; `part_rows` rows are checked at once.
pub(crate) fn read(raw: &[u8], parquet: bool, catalogue: &Catalogue, part_rows: usize) -> Result<Option<Vectorised>, PolarsError> {
    let part_rows = part_rows.max(1);
    let mut lookups = Lookups::new(catalogue)?;
    let mut parts: Vec<DataFrame> = Vec::new();
    let step = |name: &'static str| tracing::debug_span!("read step", step = name).entered();
    let input = if parquet {
        let decoding = step("decode parquet");
        let frame = ParquetReader::new(Cursor::new(raw)).finish()?;
        drop(decoding);
        let _checking = step("check parts");
        let names: Vec<String> = frame.get_column_names().iter().map(|n| n.to_string()).collect();
        if !usable(&names) {
            return Ok(None);
        }
        // At least one part, an empty one for a file without rows.
        for first in (0..frame.height().max(1)).step_by(part_rows) {
            let Some(part) = check_part(&frame.slice(first as i64, part_rows), first, &names, &mut lookups)? else { return Ok(None) };
            parts.push(part);
        }
        Input::Parquet(frame)
    } else {
        let Some(text) = plain_csv(raw) else { return Ok(None) };
        let (header, body) = text.split_once('\n').unwrap_or((text, ""));
        let names: Vec<String> = header.split(',').map(str::to_string).collect();
        if !usable(&names) {
            return Ok(None);
        }
        let schema: SchemaRef = Arc::new(names.iter().map(|n| Field::new(n.as_str().into(), DataType::String)).collect());
        let _checking = step("parse and check parts");
        let mut first = 0;
        for (chunk, lines) in line_chunks(body, part_rows) {
            let frame = if lines == 0 {
                DataFrame::empty_with_schema(&schema)
            } else {
                let read = CsvReadOptions::default()
                    .with_has_header(false)
                    .with_schema(Some(schema.clone()))
                    .into_reader_with_file_handle(Cursor::new(chunk.as_bytes()))
                    .finish();
                match read {
                    Ok(frame) if frame.height() == lines => frame,
                    _ => return Ok(None),
                }
            };
            let Some(part) = check_part(&frame, first, &names, &mut lookups)? else { return Ok(None) };
            parts.push(part);
            first += lines;
        }
        Input::Csv(text)
    };
    // Every file gives at least one part, an empty one for a header alone.
    if parts.is_empty() {
        return Ok(None);
    }
    let stacking = step("stack parts and mark duplicates");
    let mut checked = stack(parts)?;
    mark_duplicates(&mut checked)?;
    drop(stacking);
    let _selecting = step("select good rows");

    // Without suspect rows (the usual case) the columns are taken as they are, not copied by a filter.
    let any_suspect = checked.column("_suspect")?.bool()?.any();
    let canonical = [
        columns::ENTITY,
        columns::INDICATOR,
        columns::PERIOD,
        columns::FREQ,
        columns::YEAR,
        columns::SUB,
        columns::END_MONTH,
        columns::VALUE,
        columns::SOURCE,
        columns::VINTAGE,
        columns::NOTE,
    ];
    let rows: Vec<u64> = if any_suspect {
        let suspects = checked.clone().lazy().filter(col("_suspect")).select([col("_row")]).collect()?;
        suspects.column("_row")?.cast(&DataType::UInt64)?.u64()?.into_no_null_iter().collect()
    } else {
        Vec::new()
    };
    let good = if any_suspect { checked.lazy().filter(col("_suspect").not()) } else { checked.lazy() };
    let good = good.select(canonical.map(col)).collect()?;
    let suspect_lines: Vec<u64> = rows.iter().map(|row| row + 2).collect();
    let suspect_text = match input {
        // The lines as the file has them.
        Input::Csv(text) => {
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
        Input::Parquet(frame) => {
            let positions = IdxCa::from_vec("_row".into(), rows.iter().map(|row| *row as IdxSize).collect());
            let mut selected = frame.take(&positions)?;
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

/// The parts (at least one, with the same columns) one under the other. A column that holds one
/// value in every part with rows (an optional column the file lacks, null throughout) stays one
/// value for all the rows, as Polars keeps a literal: no row of it is ever written out, gathered
/// or copied later. Parts without rows are left out (appending one would spell such columns out).
pub(crate) fn stack(parts: Vec<DataFrame>) -> PolarsResult<DataFrame> {
    let parts: Vec<DataFrame> = match parts.iter().any(|part| part.height() > 0) {
        true => parts.into_iter().filter(|part| part.height() > 0).collect(),
        false => parts.into_iter().take(1).collect(),
    };
    let height = parts.iter().map(DataFrame::height).sum();
    let names = parts[0].get_column_names_owned();
    let constant = |name: &PlSmallStr| -> Option<Scalar> {
        let mut values = parts.iter().map(|part| match part.column(name) {
            Ok(Column::Scalar(value)) => Some(value.scalar().clone()),
            _ => None,
        });
        let first = values.next()??;
        values.all(|value| value.as_ref() == Some(&first)).then_some(first)
    };
    let constants: Vec<Option<Scalar>> = names.iter().map(constant).collect();
    let varying: Vec<PlSmallStr> = names.iter().zip(&constants).filter(|(_, c)| c.is_none()).map(|(name, _)| name.clone()).collect();
    let mut parts = parts.into_iter().map(|part| part.select(varying.clone()));
    let mut stacked = parts.next().expect("at least one part")?;
    for part in parts {
        stacked.vstack_mut_owned(part?)?;
    }
    let columns = names.into_iter().zip(constants).map(|(name, constant)| match constant {
        Some(value) => Ok(Column::new_scalar(name, value, height)),
        None => stacked.column(&name).cloned(),
    });
    DataFrame::new(height, columns.collect::<PolarsResult<Vec<_>>>()?)
}

/// Whether the vectorised path can read a file with these columns: distinct, untrimmed, named,
/// and the four required ones present.
fn usable(names: &[String]) -> bool {
    let unique_names: std::collections::HashSet<&String> = names.iter().collect();
    unique_names.len() == names.len()
        && !names.iter().any(|n| n.trim() != n || n.is_empty())
        && ["entity", "indicator", "period", "value"].iter().all(|r| names.iter().any(|n| n == r))
}

/// `body` (lines without a final line end) in runs of at most `rows` whole lines, each with its
/// number of lines; at least one run (of no lines when `body` is empty).
fn line_chunks(body: &str, rows: usize) -> Vec<(&str, usize)> {
    let mut chunks = Vec::new();
    let mut rest = body;
    loop {
        match rest.match_indices('\n').nth(rows.saturating_sub(1)) {
            Some((end, _)) => {
                chunks.push((&rest[..end], rows));
                rest = &rest[end + 1..];
            }
            None => {
                let lines = if rest.is_empty() { 0 } else { rest.bytes().filter(|b| *b == b'\n').count() + 1 };
                chunks.push((rest, lines));
                return chunks;
            }
        }
    }
}

/// Checks one slice of the file, whose first row is the file's row `first`: every check but the
/// duplicated key. Gives the canonical columns, the row (`_row`), the key as one integer (`_key`)
/// and whether the row is suspect (`_suspect`); `None` when the file needs the row-by-row reader.
fn check_part(part: &DataFrame, first: usize, names: &[String], lookups: &mut Lookups) -> PolarsResult<Option<DataFrame>> {
    let has = |name: &str| names.iter().any(|n| n == name);
    // Free text the row reader would trim or read as empty: leave such files to it.
    for name in OPTIONAL.iter().filter(|n| has(n)) {
        let distinct = part.column(name)?.cast(&DataType::String)?.unique()?;
        if distinct.str()?.iter().flatten().any(|v| v.trim() != v || v.is_empty()) {
            return Ok(None);
        }
    }
    let periods = lookups.periods(part)?;

    // Left joins that keep the file's row order.
    let left = || {
        let mut args = JoinArgs::new(JoinType::Left);
        args.maintain_order = MaintainOrderJoin::Left;
        args
    };
    let text = |name: &str| col(name).cast(DataType::String);
    // Whether the file gave a value, whatever its type (a Parquet file's numbers are not written
    // out as text only to ask that).
    let value_given = col("value").is_not_null();
    let value = col("value").cast(DataType::Float64);
    let frame = part
        .clone()
        .lazy()
        .with_row_index("_row", Some(first as IdxSize))
        .with_columns([text("entity").alias("entity"), text("indicator").alias("indicator"), text("period").alias("period")])
        .join(lookups.entities.clone().lazy(), [col("entity")], [col("_e_code")], left())
        .join(lookups.indicators.clone().lazy(), [col("indicator")], [col("_i_code")], left())
        .join(periods.lazy(), [col("period")], [col("_p_text")], left())
        .with_column(value.clone().alias("_value"));
    let is_finite = col("_value").abs().lt_eq(lit(f64::MAX));
    let known = col("_e_id").is_not_null().and(col("_i_id").is_not_null()).and(col("_p_id").is_not_null());
    let mut suspect = known
        .not()
        .or(value_given.and(is_finite.clone().not().or(col("_value").is_null())))
        .or(col("_value").lt(col("_i_min")).fill_null(lit(false)))
        .or(col("_value").gt(col("_i_max")).fill_null(lit(false)));
    if has("unit") {
        suspect = suspect.or(text("unit").is_not_null().and(text("unit").neq(col("_i_unit"))));
    }
    // Entity, indicator and period as one integer (null where any is unknown).
    let key = (col("_e_id") * lit(1u64 << 40)) + (col("_i_id") * lit(1u64 << 20)) + col("_p_id");
    let optional = |name: &str| if has(name) { text(name).alias(name) } else { lit(NULL).cast(DataType::String).alias(name) };
    let checked = frame
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
            col("_row"),
            key.alias("_key"),
            suspect.alias("_suspect"),
        ])
        .collect()?;
    Ok(Some(checked))
}

/// Marks as suspect every row whose key another row has too: the keys are sorted, and a key equal
/// to the next is duplicated (each such key once), then joined back onto the rows.
fn mark_duplicates(checked: &mut DataFrame) -> PolarsResult<()> {
    let key = col("_key");
    let duplicated = checked
        .select(["_key"])?
        .lazy()
        .filter(key.clone().is_not_null())
        .sort(["_key"], SortMultipleOptions::default())
        .filter(key.clone().eq(key.clone().shift(lit(-1))).and(key.clone().neq(key.clone().shift(lit(1))).fill_null(lit(true))))
        .with_column(lit(true).alias("_duplicated"))
        .collect()?;
    if duplicated.height() == 0 {
        return Ok(());
    }
    let mut args = JoinArgs::new(JoinType::Left);
    args.maintain_order = MaintainOrderJoin::Left;
    *checked = checked
        .clone()
        .lazy()
        .join(duplicated.lazy(), [key.clone()], [key], args)
        .with_column(col("_suspect").or(col("_duplicated").fill_null(lit(false))).alias("_suspect"))
        .collect()?;
    Ok(())
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

impl IngestError {
    pub(crate) fn vectorised(source_name: &str, path: &str) -> impl FnOnce(PolarsError) -> IngestError {
        IngestError::polars(format!("source {source_name:?}: {path}: reading the contract file"))
    }
}

