//! Scoring extracted rows against the hand-made gold tables (`seeds/gold/*.part1.csv`).
//!
//! Targets: an extracted target matches a gold target when their lines are at most 2 apart and their
//! values are equal (numerically when both are numbers, else after normalising ratio colons and removing
//! spaces); matching is greedy and one-to-one. Baselines: facts (plan, field, value) of the six core
//! fields, extracted values converted to the gold's units; distinct facts are counted.

use std::collections::HashMap;

use crate::{Kind, Row};

/// Counts and rates for one table.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Score {
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    pub precision: f64,
    pub recall: f64,
}

impl Score {
    fn new(true_positives: usize, false_positives: usize, false_negatives: usize) -> Score {
        let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
        Score {
            true_positives,
            false_positives,
            false_negatives,
            precision: ratio(true_positives, true_positives + false_positives),
            recall: ratio(true_positives, true_positives + false_negatives),
        }
    }
}

/// The scores for targets and for baselines, and what did not match (for reading, one line each).
#[derive(Debug, Clone, Default)]
pub struct Scores {
    pub targets: Score,
    pub baselines: Score,
    /// Gold targets no extracted row matched: "line value quote".
    pub missed_targets: Vec<String>,
    /// Extracted targets that matched no gold row: "line value quote".
    pub extra_targets: Vec<String>,
    /// Gold baseline facts not found: "plan field value".
    pub missed_baselines: Vec<String>,
    /// Extracted baseline facts of the six fields that are not gold: "plan field value".
    pub extra_baselines: Vec<String>,
    /// Gold rows that could not be read (missing or malformed columns).
    pub unreadable_gold_rows: usize,
}

/// The gold baseline fields and the catalogue codes they correspond to.
pub const BASELINE_FIELDS: [(&str, &str); 6] = [
    ("area_km2", "area"),
    ("resident_pop_10k", "pop_resident"),
    ("hukou_pop_10k", "pop_hukou"),
    ("resident_urban_rate_pct", "urban_rate_resident"),
    ("hukou_urban_rate_pct", "urban_rate_hukou"),
    ("gdp_100m_yuan", "gdp"),
];

fn normalise_value(v: &str) -> String {
    v.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| if c == '：' || c == '∶' { ':' } else { c })
        .collect()
}

fn values_equal(a: &str, b: &str) -> bool {
    let (a, b) = (normalise_value(a), normalise_value(b));
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        _ => a == b,
    }
}

fn close(x: f64, y: f64) -> bool {
    (x - y).abs() < 1e-6 * x.abs().max(y.abs()).max(1e-12)
}

/// The value of an extracted baseline in the gold's unit for its code, if the unit is known.
pub fn baseline_in_gold_unit(code: &str, value: &str, unit: &str) -> Option<f64> {
    let x: f64 = normalise_value(value).parse().ok()?;
    let unit: String = unit
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '余' && *c != '多')
        .collect();
    let factor = match (code, unit.as_str()) {
        ("area", "平方公里" | "平方千米" | "平方米公里" | "km²" | "km2") => 1.0,
        ("area", "万平方公里") => 10_000.0,
        ("pop_resident" | "pop_hukou", "万人" | "万") => 1.0,
        ("pop_resident" | "pop_hukou", "人") => 1e-4,
        ("urban_rate_resident" | "urban_rate_hukou", "%" | "％") => 1.0,
        ("gdp", "亿元") => 1.0,
        ("gdp", "万元") => 1e-4,
        _ => return None,
    };
    Some(x * factor)
}

/// Scores rows against the gold targets and baselines CSV texts.
pub fn score(rows: &[Row], gold_targets_csv: &str, gold_baselines_csv: &str) -> Scores {
    let mut scores = Scores::default();
    score_targets(rows, gold_targets_csv, &mut scores);
    score_baselines(rows, gold_baselines_csv, &mut scores);
    scores
}

fn read_table(text: &str) -> (Vec<HashMap<String, String>>, usize) {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let Ok(headers) = reader.headers().cloned() else {
        return (Vec::new(), 0);
    };
    let mut rows = Vec::new();
    let mut unreadable = 0;
    for record in reader.records() {
        match record {
            Ok(r) => rows.push(
                headers
                    .iter()
                    .zip(r.iter())
                    .map(|(h, v)| (h.to_string(), v.trim().to_string()))
                    .collect(),
            ),
            Err(_) => unreadable += 1,
        }
    }
    (rows, unreadable)
}

fn score_targets(rows: &[Row], gold_csv: &str, scores: &mut Scores) {
    let (gold, unreadable) = read_table(gold_csv);
    scores.unreadable_gold_rows += unreadable;
    let extracted: Vec<&Row> = rows.iter().filter(|r| r.kind == Kind::Target).collect();
    let mut used = vec![false; extracted.len()];
    let mut matched = 0;
    let mut readable = 0;
    for g in &gold {
        let (Some(line), Some(value)) = (
            g.get("source_line").and_then(|l| l.parse::<i64>().ok()),
            g.get("target_value"),
        ) else {
            scores.unreadable_gold_rows += 1;
            continue;
        };
        readable += 1;
        let best = extracted
            .iter()
            .enumerate()
            .filter(|(i, r)| {
                !used[*i] && (r.line as i64 - line).abs() <= 2 && values_equal(&r.value, value)
            })
            .min_by_key(|(i, r)| ((r.line as i64 - line).abs(), *i));
        match best {
            Some((i, _)) => {
                used[i] = true;
                matched += 1;
            }
            None => scores.missed_targets.push(format!(
                "{line} {value} {}",
                g.get("quote").map(String::as_str).unwrap_or("")
            )),
        }
    }
    for (i, r) in extracted.iter().enumerate() {
        if !used[i] {
            scores
                .extra_targets
                .push(format!("{} {}{} {}", r.line, r.value, r.unit, r.quote));
        }
    }
    scores.targets = Score::new(matched, extracted.len() - matched, readable - matched);
}

fn score_baselines(rows: &[Row], gold_csv: &str, scores: &mut Scores) {
    let (gold, unreadable) = read_table(gold_csv);
    scores.unreadable_gold_rows += unreadable;
    // Gold facts: (plan, field) -> value.
    let mut facts: Vec<(usize, &str, f64)> = Vec::new();
    for g in &gold {
        let Some(plan) = g
            .get("plan_start_line")
            .and_then(|p| p.parse::<usize>().ok())
        else {
            scores.unreadable_gold_rows += 1;
            continue;
        };
        for (field, _) in BASELINE_FIELDS {
            if let Some(v) = g.get(field).filter(|v| !v.is_empty()) {
                match v.parse::<f64>() {
                    Ok(x) => facts.push((plan, field, x)),
                    Err(_) => scores.unreadable_gold_rows += 1,
                }
            }
        }
    }
    // Distinct extracted facts of the six fields.
    let mut extracted: Vec<(usize, &str, Option<f64>, String)> = Vec::new();
    for r in rows.iter().filter(|r| r.kind == Kind::Baseline) {
        let (Some(plan), Some(code)) = (r.section_line, r.indicator.as_deref()) else {
            continue;
        };
        let Some(&(field, _)) = BASELINE_FIELDS.iter().find(|(_, c)| *c == code) else {
            continue;
        };
        let value = baseline_in_gold_unit(code, &r.value, &r.unit);
        let duplicate = extracted.iter().any(|(p, f, v, raw)| {
            *p == plan
                && *f == field
                && match (v, value) {
                    (Some(a), Some(b)) => close(*a, b),
                    (None, None) => *raw == r.value,
                    _ => false,
                }
        });
        if !duplicate {
            extracted.push((plan, field, value, format!("{}{}", r.value, r.unit)));
        }
    }
    let mut found = vec![false; facts.len()];
    let mut tp = 0;
    for (plan, field, value, raw) in &extracted {
        let hit = facts
            .iter()
            .enumerate()
            .find(|(_, (p, f, g))| p == plan && f == field && value.is_some_and(|v| close(v, *g)));
        match hit {
            Some((k, _)) => {
                tp += 1;
                found[k] = true;
            }
            None => scores.extra_baselines.push(format!("{plan} {field} {raw}")),
        }
    }
    let missed: Vec<String> = facts
        .iter()
        .zip(&found)
        .filter(|(_, f)| !**f)
        .map(|((p, f, v), _)| format!("{p} {f} {v}"))
        .collect();
    let fn_count = missed.len();
    scores.missed_baselines = missed;
    let matched_gold = facts.len() - fn_count;
    let fp = extracted.len() - tp;
    let mut s = Score::new(matched_gold, fp, fn_count);
    // Precision counts distinct extracted facts; recall counts gold facts.
    s.precision = if extracted.is_empty() {
        1.0
    } else {
        tp as f64 / extracted.len() as f64
    };
    scores.baselines = s;
}

/// The figures as a few lines of text.
pub fn summary(scores: &Scores) -> String {
    let line = |name: &str, s: &Score| {
        format!(
            "{name}: precision {:.3}, recall {:.3} (tp {}, fp {}, fn {})",
            s.precision, s.recall, s.true_positives, s.false_positives, s.false_negatives
        )
    };
    let mut out = format!(
        "{}\n{}\n",
        line("targets", &scores.targets),
        line("baselines", &scores.baselines)
    );
    if scores.unreadable_gold_rows > 0 {
        out.push_str(&format!(
            "unreadable gold rows: {}\n",
            scores.unreadable_gold_rows
        ));
    }
    out
}
