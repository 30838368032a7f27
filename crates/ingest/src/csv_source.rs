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

/// Reads a CSV source, checking each row against the catalogue.
///
/// Bad rows are returned as issues, not dropped silently; [`SourceBatch::over_limit`] tells
/// whether their share fails the whole source.
pub fn read_csv_source(options: &CsvOptions<'_>, catalogue: &Catalogue) -> Result<SourceBatch, IngestError> {
    let path_text = options.path.display().to_string();
    let source_name = options.name.to_string();
    let raw = crate::read_contract_file(&source_name, options.path)?;
    let text = decode(&raw, options.gb18030)
        .map_err(|(line, encoding)| IngestError::Decode { source_name: source_name.clone(), path: path_text.clone(), line, encoding })?;
    let sha256 = format!("{:x}", Sha256::digest(&raw));
    let vintage = sha256[..12].to_string();

    let mut structural = Problems::default();
    let rows = contract::read_table(&path_text, &text, &["entity", "indicator", "period", "value"], &mut structural);
    if rows.is_empty() && !structural.is_empty() && structural.0[0].line <= 1 {
        let message = structural.0.iter().map(|p| format!("field `{}`: {}", p.field, p.message)).collect::<Vec<_>>().join("; ");
        return Err(IngestError::Header { source_name, path: path_text, message });
    }
    let lines: Vec<&str> = text.lines().collect();
    let raw_line = |line: u64| lines.get(line.saturating_sub(1) as usize).map(|l| l.to_string()).unwrap_or_default();
    let mut issues: Vec<RowIssue> = structural
        .0
        .into_iter()
        .map(|p| RowIssue { source: source_name.clone(), raw: raw_line(p.line), path: p.path, line: p.line, field: p.field, reason: p.message })
        .collect();

    let mut out = Columns::default();
    // Each key's first line and its row in the output; a key given again in another vintage is a revision.
    let mut seen: HashMap<(String, String, Period), (u64, usize)> = HashMap::new();
    let mut revisions: Vec<Revision> = Vec::new();
    for row in &rows {
        let mut problem = |field: &str, reason: String| {
            issues.push(RowIssue {
                source: source_name.clone(),
                path: path_text.clone(),
                line: row.line,
                field: field.to_string(),
                reason,
                raw: raw_line(row.line),
            });
        };
        let entity = row.get("entity").unwrap_or("");
        if !catalogue.entities.contains_key(entity) {
            problem("entity", format!("unknown entity {entity:?}: it is not in the entities file"));
            continue;
        }
        let indicator_code = row.get("indicator").unwrap_or("");
        let Some(indicator) = catalogue.indicators.get(indicator_code) else {
            problem("indicator", format!("unknown indicator {indicator_code:?}: it is not in the indicator catalogue"));
            continue;
        };
        let period_text = row.get("period").unwrap_or("");
        let period = match period_text.parse::<Period>() {
            Ok(period) => period,
            Err(error) => {
                problem("period", error.to_string());
                continue;
            }
        };
        let value = match row.get("value") {
            None => None,
            Some(text) => match text.replace(',', "").parse::<f64>() {
                Ok(v) if v.is_finite() => Some(v),
                _ => {
                    problem("value", format!("expected a number or an empty cell, got {text:?}"));
                    continue;
                }
            },
        };
        if let Some(v) = value {
            if indicator.min.is_some_and(|min| v < min) || indicator.max.is_some_and(|max| v > max) {
                let range = format!(
                    "{} to {}",
                    indicator.min.map_or("-∞".to_string(), |m| m.to_string()),
                    indicator.max.map_or("∞".to_string(), |m| m.to_string())
                );
                problem("value", format!("{v} is outside the range of {indicator_code} ({range})"));
                continue;
            }
        }
        if let Some(unit) = row.get("unit")
            && unit != indicator.unit
        {
            problem("unit", format!("expected {:?}, the unit of {indicator_code} in the catalogue, got {unit:?}", indicator.unit));
            continue;
        }
        let key = (entity.to_string(), indicator_code.to_string(), period);
        let row_vintage = row.get("vintage").map(str::to_string);
        if let Some(&(first, index)) = seen.get(&key) {
            let earlier_vintage = out.vintage[index].clone();
            match (&earlier_vintage, &row_vintage) {
                (Some(earlier), Some(later)) if earlier != later => {
                    let (old_vintage, new_vintage, old_value, new_value) = if later > earlier {
                        (earlier.clone(), later.clone(), out.value[index], value)
                    } else {
                        (later.clone(), earlier.clone(), value, out.value[index])
                    };
                    revisions.push(Revision {
                        entity: entity.to_string(),
                        indicator: indicator_code.to_string(),
                        period: period.to_string(),
                        old_value,
                        old_vintage,
                        new_vintage,
                        new_value,
                        place: format!("{path_text}:{}", row.line),
                    });
                    if later > earlier {
                        out.value[index] = value;
                        out.source[index] = row.get("source").map(str::to_string);
                        out.note[index] = row.get("note").map(str::to_string);
                        out.vintage[index] = row_vintage;
                    }
                }
                _ => problem("period", format!("duplicated key {entity},{indicator_code},{period}: first given on line {first}")),
            }
            continue;
        }
        seen.insert(key, (row.line, out.entity.len()));
        out.entity.push(entity.to_string());
        out.indicator.push(indicator_code.to_string());
        out.period.push(period.to_string());
        out.freq.push(period.frequency().code());
        out.year.push(period.year());
        out.sub.push(period.sub());
        out.end_month.push(period.end_month_index());
        out.value.push(value);
        out.source.push(row.get("source").map(str::to_string));
        out.vintage.push(row_vintage);
        out.note.push(row.get("note").map(str::to_string));
    }

    let rows_read = rows.len() + issues.iter().filter(|i| i.field == "row").count();
    let frame = build_frame(out, &vintage).map_err(IngestError::polars(format!("source {source_name:?}: building the frame")))?;
    Ok(SourceBatch {
        source: source_name,
        path: path_text,
        raw,
        sha256,
        rows_read,
        frame,
        issues,
        revisions,
        max_bad_row_share: options.max_bad_row_share,
    })
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
