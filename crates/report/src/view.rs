//! The report as plain data for templates: numbers formatted at the indicator's decimals, labels in one language.

use std::collections::{BTreeMap, BTreeSet};

use contract::{Catalogue, Period};
use polars::prelude::*;
use serde::Serialize;

use crate::ReportError;
use crate::labels::{Labels, status_label};

/// What a report is built from.
#[derive(Clone, Copy)]
pub struct ReportInput<'a> {
    pub catalogue: &'a Catalogue,
    pub period: Period,
    /// The series drawn as trend charts: those of the entities and indicators with a target
    /// are enough (`entity, indicator, period, freq, value, end_month`).
    pub series: &'a DataFrame,
    pub standards: &'a DataFrame,
    pub latest: &'a DataFrame,
    pub targets: &'a DataFrame,
    pub sources: &'a [SourceInfo],
    pub problems: &'a [ProblemInfo],
}

/// A source as the report lists it.
#[derive(Debug, Clone, Serialize)]
pub struct SourceInfo {
    pub name: String,
    pub path: String,
    pub vintage: String,
    pub rows: usize,
    pub set_aside: usize,
    pub state: String,
}

/// A data problem as the report lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ProblemInfo {
    pub level: String,
    pub place: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct View {
    pub lang: &'static str,
    pub t: Labels,
    pub period: String,
    pub title: String,
    pub lead: String,
    pub headline: Vec<HeadlineFigure>,
    pub key_figures: Vec<KeyFigure>,
    pub status_counts: Vec<StatusCount>,
    pub alerts: Vec<TargetRow>,
    /// Data problems at level error, shown among the alerts.
    pub data_alerts: Vec<ProblemInfo>,
    pub targets: Vec<TargetRow>,
    pub indicators: Vec<IndicatorSection>,
    pub standards: Vec<StandardRow>,
    pub sources: Vec<SourceInfo>,
    /// The data-quality appendix: at most [`PROBLEMS_LISTED`] problems, the most severe first.
    pub problems: Vec<ProblemInfo>,
    /// When some problems are not listed: what the reader is told, and the count of each check.
    pub problems_note: String,
    pub problem_counts: Vec<ProblemCount>,
    /// When the report stops at a level: the targets below it, counted by status under each
    /// listed entity (see [`targets_below`]); empty otherwise.
    pub below: Vec<BelowRow>,
    /// The statuses in the order of `BelowRow::counts`, with their labels (the table's header).
    pub below_statuses: Vec<StatusCount>,
    pub n_entities: usize,
}

/// The targets of the entities under a listed entity that the report does not list, by status.
#[derive(Debug, Clone, Serialize)]
pub struct BelowRow {
    pub entity: String,
    pub entity_name: String,
    pub total: usize,
    /// One count per status, in the order of [`STATUS_ORDER`].
    pub counts: Vec<StatusCount>,
}

/// `count` targets of `status`, with its label.
fn status_count(status: &str, t: &Labels, count: usize) -> StatusCount {
    StatusCount { status: status.to_string(), label: status_label(status, t).to_string(), count }
}

/// A zero count of each status, in [`STATUS_ORDER`], with its label.
fn zero_counts(t: &Labels) -> Vec<StatusCount> {
    STATUS_ORDER.iter().map(|s| status_count(s, t, 0)).collect()
}

/// The statuses from best to worst, then no data.
pub const STATUS_ORDER: [&str; 6] = ["achieved", "on_track", "moderate", "insufficient", "moving_away", "insufficient_data"];

/// The targets of entities not in `shown`, counted by status under their nearest ancestor
/// in `shown` (following parents in the catalogue); the rows in the order of the listed
/// entities' codes. Targets with no listed ancestor are not counted.
pub fn targets_below(targets: &DataFrame, catalogue: &Catalogue, shown: &BTreeSet<String>, t: &Labels) -> Result<Vec<BelowRow>, ReportError> {
    // Each hidden entity's nearest listed ancestor: a walk up the catalogue, once per entity.
    let parent_of = |code: &str| catalogue.entities.get(code).and_then(|e| e.parent.as_deref());
    let ancestor_of = |code: &str| std::iter::successors(parent_of(code), |p| parent_of(p)).find(|p| shown.contains(*p)).map(str::to_string);
    let (hidden, ancestors): (Vec<&str>, Vec<String>) =
        catalogue.entities.keys().filter(|code| !shown.contains(*code)).filter_map(|code| ancestor_of(code).map(|a| (code.as_str(), a))).unzip();
    let mapping = df!["_b_entity" => hidden, "_b_ancestor" => ancestors].map_err(ReportError::frame("targets below"))?;
    let counted = targets
        .clone()
        .lazy()
        .select([col("entity"), col("status")])
        .join(mapping.lazy(), [col("entity")], [col("_b_entity")], JoinArgs::new(JoinType::Inner))
        .group_by([col("_b_ancestor"), col("status")])
        .agg([len().alias("_b_count")])
        .sort(["_b_ancestor", "status"], SortMultipleOptions::default())
        .collect()
        .map_err(ReportError::frame("targets below"))?;
    let frame = Frame(&counted);
    let (ancestors, statuses, counts) = (frame.text("_b_ancestor")?, frame.text("status")?, frame.number("_b_count")?);
    let mut rows: Vec<BelowRow> = Vec::new();
    for (i, ancestor) in ancestors.into_iter().enumerate() {
        let Some(ancestor) = ancestor else { continue };
        if rows.last().is_none_or(|row| row.entity != ancestor) {
            let entity_name = catalogue.entities.get(&ancestor).map_or_else(|| ancestor.clone(), |e| e.name.clone());
            let counts = zero_counts(t);
            rows.push(BelowRow { entity: ancestor, entity_name, total: 0, counts });
        }
        let row = rows.last_mut().expect("pushed above");
        let count = counts[i].unwrap_or(0.0) as usize;
        let status = statuses[i].as_deref().unwrap_or("insufficient_data");
        let slot = STATUS_ORDER.iter().position(|s| *s == status).unwrap_or(STATUS_ORDER.len() - 1);
        row.counts[slot].count += count;
        row.total += count;
    }
    Ok(rows)
}

/// How many problems of one check (the message up to its first colon) at one level.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProblemCount {
    pub level: String,
    pub check: String,
    pub count: usize,
}

/// The most problems the report's appendix lists; `tables.xlsx` has them all.
pub const PROBLEMS_LISTED: usize = 200;

/// The appendix of `problems`: the first [`PROBLEMS_LISTED`] by severity (errors, then
/// warnings, then the rest, each in their order; levels in the report's language), and when that
/// is not all of them, a note and the count of each check.
pub fn problem_listing(problems: &[ProblemInfo], t: &Labels) -> (Vec<ProblemInfo>, String, Vec<ProblemCount>) {
    let severity = |level: &str| match level {
        "error" => 0,
        "warn" | "warning" => 1,
        _ => 2,
    };
    let mut listed: Vec<&ProblemInfo> = problems.iter().collect();
    listed.sort_by_key(|p| severity(&p.level));
    let listed: Vec<ProblemInfo> = listed
        .into_iter()
        .take(PROBLEMS_LISTED)
        .map(|p| ProblemInfo { level: crate::labels::level_label(&p.level, t).to_string(), ..p.clone() })
        .collect();
    if listed.len() == problems.len() {
        return (listed, String::new(), Vec::new());
    }
    let mut counts: BTreeMap<(usize, &str, &str), usize> = BTreeMap::new();
    for p in problems {
        let check = p.message.split_once(':').map_or(p.message.as_str(), |(check, _)| check);
        *counts.entry((severity(&p.level), p.level.as_str(), check)).or_default() += 1;
    }
    let counts = counts.into_iter().map(|((_, level, check), count)| ProblemCount { level: crate::labels::level_label(level, t).to_string(), check: check.to_string(), count }).collect();
    (listed, t.problems_not_all_listed(PROBLEMS_LISTED, problems.len()), counts)
}

#[derive(Debug, Clone, Serialize)]
pub struct HeadlineFigure {
    pub label: String,
    pub value: String,
}

/// A key figure at the top of the report: a target's latest value, its growth and its status.
#[derive(Debug, Clone, Serialize)]
pub struct KeyFigure {
    pub entity_name: String,
    pub indicator_name: String,
    pub value: String,
    pub unit: String,
    pub period: String,
    pub growth: String,
    pub status: String,
    pub status_label: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusCount {
    pub status: String,
    pub label: String,
    pub count: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetRow {
    pub entity: String,
    pub entity_name: String,
    pub indicator: String,
    pub indicator_name: String,
    pub unit: String,
    pub kind: String,
    pub target: String,
    pub deadline: String,
    pub base: String,
    pub period: String,
    pub value: String,
    pub gap: String,
    pub progress: String,
    pub time_share: String,
    pub schedule_gap: String,
    pub status: String,
    pub status_label: String,
    pub source: String,
    pub quote: String,
    /// A progress bar drawn by this crate (safe to embed).
    pub bar_svg: String,
    /// The series with the target line, drawn by this crate (safe to embed).
    pub trend_svg: String,
}

/// One entity's result against a standard, with the conditions behind it.
#[derive(Debug, Clone, Serialize)]
pub struct StandardRow {
    pub standard: String,
    pub entity: String,
    pub entity_name: String,
    /// `met`, `not_met` or `unknown`.
    pub state: String,
    pub label: String,
    pub conditions: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct IndicatorSection {
    pub code: String,
    pub name: String,
    pub unit: String,
    pub basis: String,
    pub rows: Vec<SeriesRow>,
    /// The latest values ranked, drawn by this crate (safe to embed).
    pub ranking_svg: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeriesRow {
    pub entity: String,
    pub entity_name: String,
    pub period: String,
    pub value: String,
    pub yoy: String,
    pub base_period: String,
    pub change_since_base: String,
    pub avg_change: String,
    pub source: String,
    /// Dense rank among peers (same parent and level), best first by the indicator's direction.
    pub rank: String,
    /// The entity's target on this indicator, if any: target, gap, status.
    pub target: String,
    pub gap: String,
    pub status: String,
    pub status_label: String,
}

/// Rounds half away from zero (四舍五入) at `decimals` and formats; empty for a missing value.
pub fn format_number(value: Option<f64>, decimals: u8) -> String {
    match value {
        None => String::new(),
        Some(v) if !v.is_finite() => String::new(),
        Some(v) => fixed(v, decimals),
    }
}

/// `value` rounded half away from zero at `decimals` and written with that many decimals
/// (never `-0`). The rounded value is a whole number of units of the last decimal, written as
/// an integer with the point set in: the same text as formatting the rounded float at that
/// precision, without the float formatter's exact mode (a fifth of composing a summary, with
/// the trend charts' coordinates).
pub(crate) fn fixed(value: f64, decimals: u8) -> String {
    let prec = usize::from(decimals);
    let units = (value * 10f64.powi(i32::from(decimals))).round();
    // Below 2^52 units, the rounded float is nearer to its decimal than half a unit; beyond, the float formatter.
    if units.is_nan() || units.abs() >= 4.0e15 {
        let rounded = units / 10f64.powi(i32::from(decimals));
        let rounded = if rounded == 0.0 { 0.0 } else { rounded };
        return format!("{rounded:.prec$}");
    }
    let units = units as i64;
    let sign = if units < 0 { "-" } else { "" };
    let digits = units.unsigned_abs().to_string();
    if prec == 0 {
        return format!("{sign}{digits}");
    }
    let digits = format!("{digits:0>width$}", width = prec + 1);
    let (whole, fraction) = digits.split_at(digits.len() - prec);
    format!("{sign}{whole}.{fraction}")
}

fn signed(value: Option<f64>, decimals: u8) -> String {
    let text = format_number(value, decimals);
    if value.is_some_and(|v| v > 0.0) && !text.chars().all(|c| c == '0' || c == '.') { format!("+{text}") } else { text }
}

/// A growth figure in its basis: `+13.9%` for percent, `+7.6 个百分点` / `+7.6 pp` for points.
fn growth_text(value: Option<f64>, points: bool, decimals: u8, t: &Labels) -> String {
    match value {
        None => String::new(),
        Some(_) if points => format!("{} {}", signed(value, decimals), t.points),
        Some(_) => format!("{}%", signed(value, 1)),
    }
}

/// Reads a metrics frame's columns as plain vectors for formatting.
pub(crate) struct Frame<'a>(pub(crate) &'a DataFrame);

impl Frame<'_> {
    pub(crate) fn text(&self, name: &str) -> Result<Vec<Option<String>>, ReportError> {
        let column = self.0.column(name).map_err(ReportError::frame(name))?;
        let casted = column.cast(&DataType::String).map_err(ReportError::frame(name))?;
        let values = casted.str().map_err(ReportError::frame(name))?;
        Ok(values.iter().map(|v| v.map(str::to_string)).collect())
    }

    pub(crate) fn number(&self, name: &str) -> Result<Vec<Option<f64>>, ReportError> {
        let column = self.0.column(name).map_err(ReportError::frame(name))?;
        let casted = column.cast(&DataType::Float64).map_err(ReportError::frame(name))?;
        let values = casted.f64().map_err(ReportError::frame(name))?;
        Ok(values.iter().collect())
    }

    pub(crate) fn flag(&self, name: &str) -> Result<Vec<Option<bool>>, ReportError> {
        let column = self.0.column(name).map_err(ReportError::frame(name))?;
        let values = column.bool().map_err(ReportError::frame(name))?;
        Ok(values.iter().collect())
    }
}

/// A horizontal bar: progress (filled) against the share of time elapsed (a marker).
fn progress_bar(progress: Option<f64>, time_share: Option<f64>, status: &str) -> String {
    let Some(progress) = progress else { return String::new() };
    let width = 160.0;
    let filled = (progress.clamp(0.0, 100.0) / 100.0 * width).round();
    let marker = time_share.map(|t| (t.clamp(0.0, 100.0) / 100.0 * width).round());
    let mut svg = format!(
        r##"<svg class="bar" role="img" aria-label="{progress:.1}%" width="{width}" height="12" viewBox="0 0 {width} 12" xmlns="http://www.w3.org/2000/svg"><rect width="{width}" height="12" fill="#e5e7eb"/><rect class="s-{status}" width="{filled}" height="12"/>"##
    );
    if let Some(x) = marker {
        svg.push_str(&format!(r##"<rect x="{}" width="2" height="12" fill="#111827"/>"##, (x - 1.0).max(0.0)));
    }
    svg.push_str("</svg>");
    svg
}

/// Builds the view of the whole report, or of the entities in `only` when given.
pub fn build_view(input: &ReportInput<'_>, t: Labels, only: Option<&BTreeSet<String>>) -> Result<View, ReportError> {
    let catalogue = input.catalogue;
    let entity_name = |code: &str| catalogue.entities.get(code).map_or_else(|| code.to_string(), |e| e.name.clone());
    let keep = |code: &str| only.is_none_or(|set| set.contains(code));

    // Each series' points, for the trend charts: (end month, frequency, period, value), of the
    // entities the view shows (a recipient's frames hold only theirs already: see `ByEntity`).
    let series = input.series;
    let sf = Frame(series);
    let (p_entities, p_indicators, p_periods, p_freqs, p_values) = (sf.text("entity")?, sf.text("indicator")?, sf.text("period")?, sf.text("freq")?, sf.number("value")?);
    let p_months = sf.number("end_month")?;
    let mut points: BTreeMap<(String, String), Vec<(i64, String, String, f64)>> = BTreeMap::new();
    for i in 0..series.height() {
        if let (Some(entity), Some(indicator), Some(period), Some(freq), Some(value), Some(month)) =
            (&p_entities[i], &p_indicators[i], &p_periods[i], &p_freqs[i], p_values[i], p_months[i])
            && keep(entity)
        {
            points.entry((entity.clone(), indicator.clone())).or_default().push((month as i64, freq.clone(), period.clone(), value));
        }
    }
    let trend_of = |entity: &str, indicator: &str, target: Option<f64>, label: &str| -> String {
        let Some(series) = points.get(&(entity.to_string(), indicator.to_string())) else { return String::new() };
        let mut series = series.clone();
        series.sort_by_key(|p| p.0);
        let latest_freq = series.last().map(|p| p.1.clone()).unwrap_or_default();
        let line: Vec<(String, f64)> = series.into_iter().filter(|p| p.1 == latest_freq).map(|p| (p.2, p.3)).collect();
        crate::charts::trend(&line, target, label)
    };

    // Targets.
    let tf = Frame(input.targets);
    let (entities, indicators, kinds, targets_v, deadlines) =
        (tf.text("entity")?, tf.text("indicator")?, tf.text("kind")?, tf.number("target")?, tf.text("deadline")?);
    let (comparators, base_periods, base_values, periods, values) =
        (tf.text("comparator")?, tf.text("base_period")?, tf.number("base_value")?, tf.text("period")?, tf.number("value")?);
    let (gaps, progress, time_share, schedule_gap, statuses) =
        (tf.number("gap")?, tf.number("progress_pct")?, tf.number("time_pct")?, tf.number("schedule_gap_pp")?, tf.text("status")?);
    let (sources, notes, approx) = (tf.text("target_source")?, tf.text("target_note")?, tf.flag("achieved_approx")?);
    let mut target_rows = Vec::new();
    for i in 0..input.targets.height() {
        let entity = entities[i].clone().unwrap_or_default();
        if !keep(&entity) {
            continue;
        }
        let indicator_code = indicators[i].clone().unwrap_or_default();
        let Some(indicator) = catalogue.indicators.get(&indicator_code) else { continue };
        let decimals = indicator.decimals;
        let kind = kinds[i].clone().unwrap_or_default();
        let status = statuses[i].clone().unwrap_or_default();
        let comparator = comparators[i].clone().unwrap_or_default();
        let target_text = match kind.as_str() {
            "growth" => format!("{comparator} {}%/{}", format_number(targets_v[i], 1), t.per_year),
            "relative" => format!("{} {}", t.above_parent, targets_v[i].map(|m| format!("+{} {}", format_number(Some(m), 1), t.points)).unwrap_or_default()),
            _ => format!("{comparator} {}", format_number(targets_v[i], decimals)),
        };
        let base = match (&base_periods[i], base_values[i]) {
            (Some(p), Some(v)) => format!("{} ({p})", format_number(Some(v), decimals)),
            _ => String::new(),
        };
        let mut label = status_label(&status, &t).to_string();
        if status == "achieved" && approx[i] == Some(true) {
            label = t.achieved_approx.to_string();
        }
        // The target line is drawn where the target is a level the series can reach.
        let line = if kind == "level" || kind == "plan" { targets_v[i] } else { None };
        let trend_svg = trend_of(&entity, &indicator_code, line, &format!("{} {}", entity_name(&entity), indicator.name));
        target_rows.push(TargetRow {
            entity_name: entity_name(&entity),
            entity,
            indicator_name: indicator.name.clone(),
            indicator: indicator_code,
            unit: indicator.unit.clone(),
            kind,
            target: target_text,
            deadline: deadlines[i].clone().unwrap_or_default(),
            base,
            period: periods[i].clone().unwrap_or_default(),
            value: format_number(values[i], decimals),
            gap: signed(gaps[i], decimals),
            progress: format_number(progress[i], 1),
            time_share: format_number(time_share[i], 1),
            schedule_gap: signed(schedule_gap[i], 1),
            bar_svg: progress_bar(progress[i], time_share[i], &status),
            trend_svg,
            status_label: label,
            status,
            source: sources[i].clone().unwrap_or_default(),
            quote: notes[i].clone().unwrap_or_default(),
        });
    }

    // Indicator sections from the latest values.
    let lf = Frame(input.latest);
    let (l_entities, l_indicators, l_periods, l_values) = (lf.text("entity")?, lf.text("indicator")?, lf.text("period")?, lf.number("value")?);
    let (l_growth, l_base_period, l_change, l_avg, l_source) =
        (lf.number("growth")?, lf.text("base_period")?, lf.number("change_since_base")?, lf.number("avg_change_since_base")?, lf.text("source")?);
    let (l_rank, l_peers) = (lf.number("rank_value")?, lf.number("peer_count")?);
    let (l_group_rank, l_group_size, l_group) = (lf.number("rank_value_in_group")?, lf.number("group_count")?, lf.text("peer_group")?);
    let mut sections: BTreeMap<String, IndicatorSection> = BTreeMap::new();
    let mut covered = BTreeSet::new();
    for i in 0..input.latest.height() {
        let entity = l_entities[i].clone().unwrap_or_default();
        if !keep(&entity) {
            continue;
        }
        let code = l_indicators[i].clone().unwrap_or_default();
        let Some(indicator) = catalogue.indicators.get(&code) else { continue };
        covered.insert(entity.clone());
        let points = indicator.kind.changes_in_points();
        let decimals = indicator.decimals;
        let section = sections.entry(code.clone()).or_insert_with(|| IndicatorSection {
            code: code.clone(),
            name: indicator.name.clone(),
            unit: indicator.unit.clone(),
            basis: if points { t.points.to_string() } else { "%".to_string() },
            rows: Vec::new(),
            ranking_svg: String::new(),
        });
        let base_period = l_base_period[i].clone().unwrap_or_default();
        let is_base = base_period == l_periods[i].clone().unwrap_or_default();
        section.rows.push(SeriesRow {
            entity_name: entity_name(&entity),
            entity,
            period: l_periods[i].clone().unwrap_or_default(),
            value: format_number(l_values[i], decimals),
            yoy: growth_text(l_growth[i], points, decimals, &t),
            base_period: if is_base { String::new() } else { base_period },
            change_since_base: if is_base { String::new() } else { signed(l_change[i], decimals) },
            avg_change: if is_base { String::new() } else { signed(l_avg[i], decimals) },
            source: l_source[i].clone().unwrap_or_default(),
            // Within the configured group where there is one, else among peers; nothing when alone.
            target: String::new(),
            gap: String::new(),
            status: String::new(),
            status_label: String::new(),
            rank: match (l_group_rank[i], l_group_size[i], l_rank[i], l_peers[i]) {
                (Some(rank), Some(size), ..) if size >= 2.0 => {
                    format!("{rank:.0}/{size:.0}（{}）", entity_name(l_group[i].as_deref().unwrap_or("")))
                }
                (_, _, Some(rank), Some(size)) if size >= 2.0 => format!("{rank:.0}/{size:.0}"),
                _ => String::new(),
            },
        });
    }
    // Each entity's target on the indicator, beside its latest value (the first listed).
    let mut target_of: BTreeMap<(&str, &str), &TargetRow> = BTreeMap::new();
    for target in &target_rows {
        target_of.entry((target.entity.as_str(), target.indicator.as_str())).or_insert(target);
    }
    for section in sections.values_mut() {
        for row in &mut section.rows {
            if let Some(target) = target_of.get(&(row.entity.as_str(), section.code.as_str())) {
                row.target = format!("{}（{}）", target.target, target.deadline);
                row.gap = target.gap.clone();
                row.status = target.status.clone();
                row.status_label = target.status_label.clone();
            }
        }
    }

    // Rankings of the latest values, best first by the indicator's direction.
    let mut latest_values: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    for i in 0..input.latest.height() {
        let entity = l_entities[i].clone().unwrap_or_default();
        if let (true, Some(code), Some(value)) = (keep(&entity), &l_indicators[i], l_values[i]) {
            latest_values.entry(code.clone()).or_default().push((entity_name(&entity), value));
        }
    }
    for (code, mut values) in latest_values {
        let Some(section) = sections.get_mut(&code) else { continue };
        let down = catalogue.indicators.get(&code).is_some_and(|i| i.direction == contract::Direction::Down);
        values.sort_by(|a, b| if down { a.1.total_cmp(&b.1) } else { b.1.total_cmp(&a.1) }.then_with(|| a.0.cmp(&b.0)));
        if values.len() >= 3 {
            values.truncate(15);
            section.ranking_svg = crate::charts::ranking(&values, &section.name);
        }
    }

    // Standards: one row per entity and standard, the conditions spelled out.
    let sf = Frame(input.standards);
    let (s_names, s_entities, s_indicators, s_comparators) = (sf.text("name")?, sf.text("entity")?, sf.text("indicator")?, sf.text("comparator")?);
    let (s_thresholds, s_values, s_condition, s_met) = (sf.number("threshold")?, sf.number("value")?, sf.flag("condition_met")?, sf.flag("standard_met")?);
    let mut standards: Vec<StandardRow> = Vec::new();
    for i in 0..input.standards.height() {
        let entity = s_entities[i].clone().unwrap_or_default();
        if !keep(&entity) {
            continue;
        }
        let name = s_names[i].clone().unwrap_or_default();
        let indicator = catalogue.indicators.get(s_indicators[i].as_deref().unwrap_or(""));
        let decimals = indicator.map_or(2, |ind| ind.decimals);
        let mark = match s_condition[i] {
            Some(true) => "✓",
            Some(false) => "✗",
            None => "?",
        };
        let condition = format!(
            "{mark} {} {} {}（{}）",
            indicator.map_or("", |ind| ind.name.as_str()),
            s_comparators[i].clone().unwrap_or_default(),
            format_number(s_thresholds[i], decimals),
            s_values[i].map_or_else(|| t.insufficient_data.to_string(), |v| format_number(Some(v), decimals))
        );
        match standards.last_mut() {
            Some(last) if last.standard == name && last.entity == entity => {
                last.conditions.push_str("；");
                last.conditions.push_str(&condition);
            }
            _ => {
                let (state, label) = match s_met[i] {
                    Some(true) => ("met", t.standard_met),
                    Some(false) => ("not_met", t.standard_not_met),
                    None => ("unknown", t.insufficient_data),
                };
                standards.push(StandardRow {
                    standard: name,
                    entity_name: entity_name(&entity),
                    entity,
                    state: state.to_string(),
                    label: label.to_string(),
                    conditions: condition,
                });
            }
        }
    }

    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for row in &target_rows {
        *counts.entry(row.status.as_str()).or_default() += 1;
    }
    let status_counts: Vec<StatusCount> = STATUS_ORDER
        .iter()
        .filter_map(|s| counts.get(s).map(|c| status_count(s, &t, *c)))
        .collect();
    let alerts: Vec<TargetRow> =
        target_rows.iter().filter(|r| matches!(r.status.as_str(), "moving_away" | "insufficient" | "moderate")).cloned().collect();
    let assessed = target_rows.iter().filter(|r| r.status != "insufficient_data").count();
    let fine = target_rows.iter().filter(|r| matches!(r.status.as_str(), "achieved" | "on_track")).count();
    let worst = target_rows
        .iter()
        .filter(|r| r.status == "moving_away" || r.status == "insufficient")
        .min_by(|a, b| a.schedule_gap.parse::<f64>().unwrap_or(0.0).total_cmp(&b.schedule_gap.parse::<f64>().unwrap_or(0.0)))
        .map(|r| format!("{}{}", r.entity_name, r.indicator_name));
    let lead = t.lead(target_rows.len(), assessed, fine, worst.as_deref());
    // Key figures: the targets of the most senior entities that have a value (at most six).
    let seniority = |code: &str| {
        use contract::Level::*;
        match catalogue.entities.get(code).map(|e| e.level) {
            Some(Nation) => 0,
            Some(Province) => 1,
            Some(Prefecture) => 2,
            Some(Group) => 3,
            Some(County) => 4,
            Some(Pilot) => 5,
            _ => 6,
        }
    };
    let growth_of: BTreeMap<(String, String), String> = (0..input.latest.height())
        .filter_map(|i| {
            let indicator = catalogue.indicators.get(l_indicators[i].as_deref()?)?;
            let growth = growth_text(l_growth[i], indicator.kind.changes_in_points(), indicator.decimals, &t);
            Some(((l_entities[i].clone()?, indicator.code.clone()), growth))
        })
        .collect();
    let mut senior: Vec<&TargetRow> = target_rows.iter().filter(|r| !r.value.is_empty()).collect();
    senior.sort_by_key(|r| seniority(&r.entity));
    let key_figures: Vec<KeyFigure> = senior
        .into_iter()
        .take(6)
        .map(|r| KeyFigure {
            entity_name: r.entity_name.clone(),
            indicator_name: r.indicator_name.clone(),
            value: r.value.clone(),
            unit: r.unit.clone(),
            period: r.period.clone(),
            growth: growth_of.get(&(r.entity.clone(), r.indicator.clone())).cloned().unwrap_or_default(),
            status: r.status.clone(),
            status_label: r.status_label.clone(),
        })
        .collect();
    let headline = vec![
        HeadlineFigure { label: t.targets_tracked.to_string(), value: target_rows.len().to_string() },
        HeadlineFigure { label: t.targets_fine.to_string(), value: fine.to_string() },
        HeadlineFigure { label: t.alerts.to_string(), value: alerts.len().to_string() },
        HeadlineFigure { label: t.entities_covered.to_string(), value: covered.len().to_string() },
    ];
    let (problems, problems_note, problem_counts) = problem_listing(input.problems, &t);
    Ok(View {
        lang: t.lang,
        title: t.title(&input.period.to_string()),
        period: input.period.to_string(),
        lead,
        headline,
        key_figures,
        status_counts,
        data_alerts: input.problems.iter().filter(|p| p.level == "error").cloned().collect(),
        alerts,
        targets: target_rows,
        indicators: sections.into_values().collect(),
        standards,
        sources: input.sources.to_vec(),
        problems,
        problems_note,
        problem_counts,
        below: Vec::new(),
        below_statuses: zero_counts(&t),
        n_entities: covered.len(),
        t,
    })
}
