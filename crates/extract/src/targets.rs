//! Reviewed rows to rows of the project's targets file.

use std::fmt;

use std::io::Write;

use crate::{ExtractError, Kind, Options, Row};

/// One row of the targets file (`entity,indicator,comparator,target,deadline,…,source`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TargetRow {
    /// The row's region text; the caller maps it to an entity code.
    pub entity: String,
    pub indicator: String,
    /// The deadline year.
    pub period: String,
    /// `>=`, `<=` or `≈` (a point target "=" becomes `≈`, the targets file's "within a tolerance").
    pub comparator: String,
    pub value: f64,
    pub unit: String,
    /// `<document>:<line>`.
    pub source: String,
    pub quote: String,
}

/// A reviewed row that could not become a target, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub line: usize,
    pub field: String,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.path, self.line, self.field, self.reason
        )
    }
}

/// The number a target value stands for: digits, or a ratio "x:1" (the ratio x).
fn numeric_value(value: &str) -> Option<f64> {
    let v: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let v = v.replace(['：', '∶'], ":");
    if let Some((x, one)) = v.split_once(':') {
        return match one.parse::<f64>() {
            Ok(1.0) => x.parse().ok(),
            _ => None,
        };
    }
    let v = v.trim_end_matches(['%', '％']);
    v.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// Turns reviewed rows into targets-file rows. Only `target` rows are converted; each one that lacks a
/// year, has a value that is not a number, has an unknown comparator, or whose indicator cannot be mapped
/// (from the `indicator` column, else from `indicator_text` through the options' names) is returned as a
/// [`Problem`] naming `document:line`, never dropped silently.
pub fn to_targets(
    rows: &[Row],
    document: &str,
    options: &Options,
) -> (Vec<TargetRow>, Vec<Problem>) {
    let mut targets = Vec::new();
    let mut problems = Vec::new();
    for row in rows.iter().filter(|r| r.kind == Kind::Target) {
        let mut problem = |field: &str, reason: String| {
            problems.push(Problem {
                path: document.to_string(),
                line: row.line,
                field: field.to_string(),
                reason,
            });
        };
        let indicator = row
            .indicator
            .clone()
            .filter(|i| !i.trim().is_empty())
            .or_else(|| crate::rules::indicator_for_text(&row.indicator_text, &row.unit, options));
        if indicator.is_none() {
            problem(
                "indicator",
                format!(
                    "{:?} maps to no catalogue code; fill in the `indicator` column",
                    row.indicator_text
                ),
            );
        }
        let value = numeric_value(&row.value);
        if value.is_none() {
            problem("value", format!("{:?} is not a number", row.value));
        }
        if row.year.is_none() {
            problem(
                "year",
                "the target has no year; fill in the `year` column".to_string(),
            );
        }
        let comparator = match row.comparator.as_str() {
            ">=" | "<=" | "≈" => Some(row.comparator.clone()),
            "=" => Some("≈".to_string()),
            other => {
                problem(
                    "comparator",
                    format!("expected one of >=, <=, ≈, =, got {other:?}"),
                );
                None
            }
        };
        if let (Some(indicator), Some(value), Some(year), Some(comparator)) =
            (indicator, value, row.year, comparator)
        {
            targets.push(TargetRow {
                entity: row.region.clone(),
                indicator,
                period: year.to_string(),
                comparator,
                value,
                unit: row.unit.clone(),
                source: format!("{document}:{}", row.line),
                quote: row.quote.clone(),
            });
        }
    }
    (targets, problems)
}

/// Writes target rows in the targets file's layout:
/// `entity,indicator,comparator,target,deadline,kind,base_period,tolerance,source,note` (the quote goes
/// to `note`). The entity is the region text as the document writes it; map it to an entity code first.
pub fn write_targets_csv(rows: &[TargetRow], out: impl Write) -> Result<(), ExtractError> {
    let error = |e: csv::Error| ExtractError::Write(e.to_string());
    let mut writer = csv::Writer::from_writer(out);
    writer
        .write_record([
            "entity",
            "indicator",
            "comparator",
            "target",
            "deadline",
            "kind",
            "base_period",
            "tolerance",
            "source",
            "note",
        ])
        .map_err(error)?;
    for row in rows {
        let target = row.value.to_string();
        writer
            .write_record([
                row.entity.as_str(),
                row.indicator.as_str(),
                row.comparator.as_str(),
                target.as_str(),
                row.period.as_str(),
                "",
                "",
                "",
                row.source.as_str(),
                row.quote.as_str(),
            ])
            .map_err(error)?;
    }
    writer
        .flush()
        .map_err(|e| ExtractError::Write(e.to_string()))
}
