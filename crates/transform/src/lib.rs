//! The metrics engine: growth of each series and the gap to each target, as Polars expressions.
//!
//! Pure: no IO, no clock. The reporting period and the settings are parameters; the inputs are
//! the canonical long frame of observations and the checked catalogue.

mod frames;
mod quality;
mod series;
mod standards;
mod targets;

use contract::{Catalogue, Period};
use polars::prelude::*;

pub use frames::{indicator_frame, target_frame};
pub use quality::{Finding, QUALITY_COLUMNS, findings_frame, revision_message, revisions};
pub use standards::STANDARD_COLUMNS;

/// Column names of the outputs.
pub mod out {
    pub const BASIS: &str = "basis";
    pub const VALUE_LAST_YEAR: &str = "value_last_year";
    pub const YOY_PCT: &str = "yoy_pct";
    pub const YOY_CHANGE: &str = "yoy_change";
    pub const YOY_NOTE: &str = "yoy_note";
    pub const POP_PCT: &str = "pop_pct";
    pub const POP_CHANGE: &str = "pop_change";
    pub const YTD_VALUE: &str = "ytd_value";
    pub const YTD_YOY_PCT: &str = "ytd_yoy_pct";
    pub const BASE_PERIOD: &str = "base_period";
    pub const BASE_VALUE: &str = "base_value";
    pub const CHANGE_SINCE_BASE: &str = "change_since_base";
    pub const CAGR_SINCE_BASE_PCT: &str = "cagr_since_base_pct";
    pub const AVG_CHANGE_SINCE_BASE: &str = "avg_change_since_base";
    /// Growth in the indicator's basis: percent for levels and flows, points for rates and ratios.
    pub const GROWTH: &str = "growth";
    pub const TWO_YEAR_AVG_PCT: &str = "two_year_avg_pct";
    pub const SHARE_OF_PARENT_PCT: &str = "share_of_parent_pct";
    pub const CONTRIBUTION_PCT: &str = "contribution_pct";
    pub const PULL_PP: &str = "pull_pp";
    pub const RANK_VALUE: &str = "rank_value";
    pub const RANK_GROWTH: &str = "rank_growth";
    /// The value of the period itself (a year-to-date total differenced within its year).
    pub const PERIOD_VALUE: &str = "period_value";
    /// Value minus the parent's, in the indicator's unit (points for rates).
    pub const GAP_TO_PARENT: &str = "gap_to_parent";
    /// Value minus the average of its peers (same parent and level).
    pub const GAP_TO_PEER_AVERAGE: &str = "gap_to_peer_average";
    /// Why `cagr_since_base_pct` is empty, where it is.
    pub const BASE_NOTE: &str = "base_note";
    /// The configured group an entity is ranked in (the first by code when it is in several).
    pub const PEER_GROUP: &str = "peer_group";
    pub const RANK_VALUE_IN_GROUP: &str = "rank_value_in_group";
    /// How many peers (same parent and level) have a value: the size of the `rank_value` field.
    pub const PEER_COUNT: &str = "peer_count";
    /// How many members of the entity's group have a value.
    pub const GROUP_COUNT: &str = "group_count";
    pub const GAP_TO_GROUP_AVERAGE: &str = "gap_to_group_average";
    /// Places gained in the value ranking since the previous period (positive: moved up).
    pub const RANK_CHANGE: &str = "rank_change";
    /// Growth minus the previous period's growth, in points.
    pub const GROWTH_CHANGE: &str = "growth_change";
    /// 两率差: resident minus registered urbanization rate, on `urban_rate_resident` rows.
    pub const RESIDENT_MINUS_HUKOU_PP: &str = "resident_minus_hukou_pp";
    pub const STATUS: &str = "status";
}

/// The columns of `series.csv` in the `compute` contract, in order.
pub const SERIES_COLUMNS: [&str; 34] = [
    "entity",
    "indicator",
    "period",
    "value",
    out::BASIS,
    out::YOY_PCT,
    out::YOY_CHANGE,
    out::POP_PCT,
    out::POP_CHANGE,
    out::YTD_VALUE,
    out::YTD_YOY_PCT,
    out::TWO_YEAR_AVG_PCT,
    out::BASE_PERIOD,
    out::CHANGE_SINCE_BASE,
    out::CAGR_SINCE_BASE_PCT,
    out::AVG_CHANGE_SINCE_BASE,
    out::SHARE_OF_PARENT_PCT,
    out::CONTRIBUTION_PCT,
    out::PULL_PP,
    out::RANK_VALUE,
    out::RANK_GROWTH,
    out::YOY_NOTE,
    out::PERIOD_VALUE,
    out::GAP_TO_PARENT,
    out::GAP_TO_PEER_AVERAGE,
    out::RESIDENT_MINUS_HUKOU_PP,
    out::RANK_CHANGE,
    out::GROWTH_CHANGE,
    out::BASE_NOTE,
    out::PEER_GROUP,
    out::RANK_VALUE_IN_GROUP,
    out::GAP_TO_GROUP_AVERAGE,
    out::PEER_COUNT,
    out::GROUP_COUNT,
];

/// How many of [`SERIES_COLUMNS`] identify a row: `entity`, `indicator` and `period`.
const SERIES_IDENTITY: usize = 3;

/// The measures of the series table one can name ([`Measures::Only`]): every column of
/// [`SERIES_COLUMNS`] after those that identify a row.
pub const SERIES_MEASURES: &[&str] = SERIES_COLUMNS.split_at(SERIES_IDENTITY).1;

/// The columns of `targets.csv` in the `compute` contract, in order.
pub const TARGET_COLUMNS: [&str; 26] = [
    "entity",
    "indicator",
    "kind",
    "comparator",
    "target",
    "deadline",
    "base_period",
    "base_value",
    "period",
    "value",
    "achieved",
    "gap",
    "achievement_pct",
    "progress_pct",
    "time_pct",
    "schedule_gap_pp",
    "cagr_actual_pct",
    "cagr_required_pct",
    "growth_ratio",
    "growth_ratio_linear",
    "projected_value",
    "anticipated_ratio",
    "required_pace",
    "status",
    "achieved_approx",
    "rank_progress",
];

/// Thresholds and methods for judging progress, with the Eurostat defaults in [`Settings::eurostat`].
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// A growth ratio at or above this is `on_track`.
    pub on_track: f64,
    /// A growth ratio at or above this (and below `on_track`) is `moderate`; from 0 up to it, `insufficient`.
    pub moderate: f64,
    /// For rates and ratios, judge progress by the linear (points a year) ratio instead of the CAGR ratio.
    pub linear_for_rates: bool,
    /// Default tolerance of a `≈` target on a rate or ratio, in points.
    pub approx_tolerance_points: f64,
    /// Default tolerance of a `≈` target on a level or flow, in percent of the target.
    pub approx_tolerance_percent: f64,
    /// A monthly indicator whose latest value is older than this many months before the period is stale.
    pub stale_after_months_monthly: i32,
    pub stale_after_months_quarterly: i32,
    pub stale_after_months_yearly: i32,
    /// A growth more than this many standard deviations from its series' mean is an outlier…
    pub outlier_sigmas: f64,
    /// …when the series has at least this many other growths;
    pub outlier_min_history: usize,
    /// …and the deviation is taken as at least this much (percent or points).
    pub outlier_min_std: f64,
    /// The base of every series' change since the base; `None`: each series' first observation.
    pub base_period: Option<Period>,
    /// About this many observations are computed at once; more are split into parts by
    /// indicator, which bounds memory (the results are the same).
    pub part_rows: usize,
    /// The measures of the series frame to compute.
    pub measures: Measures,
}

/// Which measures of the series frame ([`SERIES_COLUMNS`] after `entity`, `indicator` and
/// `period`) the engine computes. With [`Measures::Only`] it skips the steps no requested
/// measure needs (the comparisons with the parent, two years back or the registered rate; the
/// ranks and gaps among peers or within a group), so the series frame holds the requested
/// measures and those the engine reads itself (value, basis, growth, the base), and may lack
/// the others. The targets, findings and standards are the same either way.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Measures {
    #[default]
    All,
    Only(Vec<String>),
}

impl Measures {
    /// The measures named in `names` (a comma-separated list, each once, in its order), or every
    /// unknown name.
    pub fn parse_list(names: &str) -> Result<Measures, Vec<String>> {
        let mut names: Vec<String> = names.split(',').map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).collect();
        let mut seen = std::collections::HashSet::new();
        names.retain(|n| seen.insert(n.clone()));
        let unknown: Vec<String> = names.iter().filter(|n| !SERIES_MEASURES.contains(&n.as_str())).cloned().collect();
        if unknown.is_empty() { Ok(Measures::Only(names)) } else { Err(unknown) }
    }

    /// The columns of the series table with these measures: the identifying columns, then the
    /// measures (all of [`SERIES_COLUMNS`], or those named, in their order).
    pub fn series_columns(&self) -> Vec<&str> {
        match self {
            Measures::All => SERIES_COLUMNS.to_vec(),
            Measures::Only(names) => SERIES_COLUMNS[..SERIES_IDENTITY].iter().copied().chain(names.iter().map(String::as_str)).collect(),
        }
    }

    pub(crate) fn wants(&self, name: &str) -> bool {
        match self {
            Measures::All => true,
            Measures::Only(names) => names.iter().any(|n| n == name),
        }
    }

    pub(crate) fn wants_any(&self, names: &[&str]) -> bool {
        names.iter().any(|name| self.wants(name))
    }
}

impl Settings {
    /// Eurostat's SDG thresholds (0.95 and 0.60), CAGR ratios, ±0.5 points or ±1% for `≈`.
    pub fn eurostat() -> Settings {
        Settings {
            on_track: 0.95,
            moderate: 0.60,
            linear_for_rates: false,
            approx_tolerance_points: 0.5,
            approx_tolerance_percent: 1.0,
            stale_after_months_monthly: 3,
            stale_after_months_quarterly: 6,
            stale_after_months_yearly: 24,
            outlier_sigmas: 3.0,
            outlier_min_history: 5,
            outlier_min_std: 1.0,
            base_period: None,
            // Parts of a quarter of a million observations (one indicator a part from 10,000
            // towns up): at 10,000 towns (7 M observations) 10 % faster than a million and 0.4 GB
            // lower at the peak, at a province 0.3 GB lower (bench/RESULTS.md, items 16 and 19).
            part_rows: 250_000,
            measures: Measures::All,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    #[error("computing {stage}: {error}")]
    Polars { stage: &'static str, error: PolarsError },
}

fn polars_error(stage: &'static str) -> impl FnOnce(PolarsError) -> TransformError {
    move |error| TransformError::Polars { stage, error }
}

/// Everything computed for one reporting period.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub period: Period,
    /// One row per observation up to the period, with its growth measures.
    pub series: DataFrame,
    /// The latest observation of each entity and indicator up to the period.
    pub latest: DataFrame,
    /// One row per target, assessed at the latest period with data.
    pub targets: DataFrame,
    /// Data-quality findings on the series.
    pub findings: Vec<Finding>,
    /// One row per standard, entity and condition, with the clause's and the standard's result.
    pub standards: DataFrame,
}

/// Computes series growth and target gaps for `period` from the canonical observations.
///
/// Each step runs in a debug span (`engine step`), so `TOWNPULSE_LOG=transform=debug` shows
/// how long each took (the engine itself never reads the clock).
pub fn compute(observations: &DataFrame, catalogue: &Catalogue, period: Period, settings: &Settings) -> Result<Metrics, TransformError> {
    let mut parts = Vec::new();
    let assessed = compute_by_indicator(observations, catalogue, period, settings, |series| {
        parts.push(series.lazy());
        Ok::<(), TransformError>(())
    })?;
    let series = if parts.is_empty() {
        DataFrame::empty()
    } else {
        concat(parts, UnionArgs { rechunk: false, ..UnionArgs::default() }).and_then(LazyFrame::collect).map_err(polars_error("series"))?
    };
    Ok(Metrics { period, series, latest: assessed.latest, targets: assessed.targets, findings: assessed.findings, standards: assessed.standards })
}

/// Everything [`compute`] gives but the series, which [`compute_by_indicator`] hands on part by part.
#[derive(Debug, Clone)]
pub struct Assessed {
    pub latest: DataFrame,
    pub targets: DataFrame,
    pub findings: Vec<Finding>,
    pub standards: DataFrame,
    /// Rows of all the series parts together.
    pub series_rows: usize,
}

/// Indicators computed together: all of them when the observations are few; else about
/// `rows / part_rows` parts of consecutive indicators, the registered and resident urbanization
/// rates always in the same part, as their difference (两率差) needs both.
fn indicator_parts(catalogue: &Catalogue, rows: usize, part_rows: usize) -> Vec<Vec<&str>> {
    let mut units: Vec<Vec<&str>> = Vec::new();
    for code in catalogue.indicators.keys() {
        match code.as_str() {
            "urban_rate_hukou" if catalogue.indicators.contains_key("urban_rate_resident") => {}
            "urban_rate_resident" if catalogue.indicators.contains_key("urban_rate_hukou") => units.push(vec!["urban_rate_hukou", "urban_rate_resident"]),
            code => units.push(vec![code]),
        }
    }
    let parts = rows.div_ceil(part_rows.max(1)).clamp(1, units.len().max(1));
    let per_part = units.len().div_ceil(parts).max(1);
    units.chunks(per_part).map(|chunk| chunk.concat()).collect()
}
/// `column` equals one of `values`.
pub(crate) fn any_of(column: &str, values: &[&str]) -> Expr {
    values.iter().map(|v| col(column).eq(lit(v.to_string()))).reduce(Expr::or).unwrap_or(lit(false))
}

/// [`compute`] one indicator at a time: every measure of a series depends only on series of
/// the same indicator (and 两率差 on its pair), so each part's series frame is handed to `each`
/// and dropped, and memory holds one indicator's measures at a time. The latest values, targets,
/// findings and standards are gathered whole (their string columns copied out of the part's, so
/// that no part's series stays in memory through them).
pub fn compute_by_indicator<E: From<TransformError>>(
    observations: &DataFrame,
    catalogue: &Catalogue,
    period: Period,
    settings: &Settings,
    mut each: impl FnMut(DataFrame) -> Result<(), E>,
) -> Result<Assessed, E> {
    let step = |name: &'static str| tracing::debug_span!("engine step", step = name).entered();
    let observations = {
        let _step = step("derived ratios");
        derive_ratios(observations, catalogue).map_err(polars_error("derived ratios"))?
    };
    let observations = {
        let _step = step("group totals and ids");
        series::identified(&observations, catalogue).map_err(polars_error("group totals and ids"))?
    };
    let (mut latest, mut targets, mut findings, mut series_rows) = (Vec::new(), Vec::new(), Vec::new(), 0);
    // No indicators: one empty part still gives every frame its columns.
    let parts = match indicator_parts(catalogue, observations.height(), settings.part_rows) {
        parts if parts.is_empty() => vec![Vec::new()],
        parts => parts,
    };
    let whole = parts.len() <= 1;
    let keyed_targets = targets::keyed_targets(catalogue).map_err(polars_error("targets"))?;
    let rows = {
        let _step = step("rows by part");
        series::rows_by_part(&observations, catalogue, &parts, period).map_err(polars_error("rows by part"))?
    };
    for (codes, rows) in parts.into_iter().zip(rows) {
        let _part = tracing::debug_span!("engine part", indicators = codes.join(",")).entered();
        let series = {
            let _step = step("series");
            series::series(&observations, &rows, catalogue, settings.base_period, &settings.measures).and_then(LazyFrame::collect).map_err(polars_error("series"))?
        };
        {
            let _step = step("latest values");
            let part_latest = series::latest(series.clone().lazy()).and_then(LazyFrame::collect).and_then(own_strings);
            latest.push(part_latest.map_err(polars_error("latest values"))?.lazy());
        }
        {
            let _step = step("targets");
            let assessed = targets::assess(series.clone().lazy(), &keyed_targets, catalogue, settings, (!whole).then_some(&codes[..]))
                .and_then(LazyFrame::collect)
                .and_then(own_strings)
                .map_err(polars_error("targets"))?;
            targets.push(assessed.lazy());
        }
        {
            let _step = step("data quality");
            findings.extend(quality::quality(&series, period, settings).map_err(polars_error("data quality"))?);
        }
        series_rows += series.height();
        if series.height() > 0 {
            each(series)?;
        }
    }
    // Findings by check, each check's in the order of the indicators.
    let order = ["completeness", "freshness", "outlier", "revision"];
    findings.sort_by_key(|f| order.iter().position(|c| *c == f.check).unwrap_or(order.len()));
    let gathered = |frames: Vec<LazyFrame>, sort: &[&str], stage: &'static str| -> Result<DataFrame, TransformError> {
        concat(frames, UnionArgs::default()).and_then(|f| f.sort(sort.iter().copied(), SortMultipleOptions::default()).collect()).map_err(polars_error(stage))
    };
    let latest = gathered(latest, &[contract::columns::ENTITY, contract::columns::INDICATOR], "latest values")?;
    let targets = gathered(targets, &["target_id"], "targets")?.drop("target_id").map_err(polars_error("targets"))?;
    let standards = {
        let _step = step("standards");
        standards::assess(latest.clone().lazy(), catalogue).and_then(LazyFrame::collect).map_err(polars_error("standards"))?
    };
    Ok(Assessed { latest, targets, findings, standards, series_rows })
}

/// Adds the values of ratio indicators (`ratio = numerator/denominator` in the catalogue) wherever
/// both parts are observed for an entity and period and the indicator itself is not: the value is
/// numerator / denominator, ×100 when the indicator's unit is `%`. A published figure wins.
pub fn derive_ratios(observations: &DataFrame, catalogue: &Catalogue) -> PolarsResult<DataFrame> {
    use contract::columns::*;
    let keys = [ENTITY, PERIOD, FREQ, YEAR, SUB, END_MONTH];
    let mut derived = Vec::new();
    for indicator in catalogue.indicators.values() {
        let Some((numerator, denominator)) = &indicator.ratio else { continue };
        let part = |code: &str, name: &str| {
            observations
                .clone()
                .lazy()
                .filter(col(INDICATOR).eq(lit(code.to_string())).and(col(VALUE).is_not_null()))
                .select(keys.iter().map(|k| col(*k)).chain([col(VALUE).alias(name), col(VINTAGE).alias(format!("{name}_vintage"))]).collect::<Vec<_>>())
        };
        let scale = if indicator.unit == "%" { 100.0 } else { 1.0 };
        let published = observations
            .clone()
            .lazy()
            .filter(col(INDICATOR).eq(lit(indicator.code.clone())))
            .select(keys.iter().map(|k| col(*k)).chain([lit(true).alias("published")]).collect::<Vec<_>>())
            .unique(None, UniqueKeepStrategy::Any);
        let on: Vec<Expr> = keys.iter().map(|k| col(*k)).collect();
        let rows = part(numerator, "num")
            .join(part(denominator, "den"), on.clone(), on.clone(), JoinArgs::new(JoinType::Inner))
            .join(published, on.clone(), on, JoinArgs::new(JoinType::Left))
            .filter(col("published").is_null().and(col("den").neq(lit(0.0))))
            .select([
                col(ENTITY),
                lit(indicator.code.clone()).alias(INDICATOR),
                col(PERIOD),
                col(FREQ),
                col(YEAR),
                col(SUB),
                col(END_MONTH),
                (col("num") / col("den") * lit(scale)).alias(VALUE),
                lit(NULL).cast(DataType::String).alias(SOURCE),
                col("num_vintage").alias(VINTAGE),
                lit(format!("derived: {numerator}/{denominator}")).alias(NOTE),
            ]);
        derived.push(rows);
    }
    if derived.is_empty() {
        return Ok(observations.clone());
    }
    let mut frames = vec![observations.clone().lazy()];
    frames.extend(derived);
    concat(frames, UnionArgs::default())?.collect()
}

/// The latest period present in the observations, which a run reports by default.
pub fn latest_period(observations: &DataFrame) -> Option<Period> {
    use contract::columns::*;
    // Periods order by their end month, then by frequency: only rows with a value in the latest
    // end month can hold the latest period, and those few rows are the only ones compared.
    let given = col(VALUE).is_not_null();
    let end_with_value = when(given.clone()).then(col(END_MONTH)).otherwise(lit(NULL).cast(DataType::Int32));
    let frame = observations
        .clone()
        .lazy()
        .filter(given.and(col(END_MONTH).eq(end_with_value.max())))
        .select([col(FREQ), col(YEAR), col(SUB)])
        .unique(None, UniqueKeepStrategy::Any)
        .collect()
        .ok()?;
    let freq = frame.column(FREQ).ok()?.str().ok()?.clone();
    let year = frame.column(YEAR).ok()?.i32().ok()?.clone();
    let sub = frame.column(SUB).ok()?.i32().ok()?.clone();
    (0..frame.height())
        .filter_map(|i| Period::from_parts(contract::Frequency::from_code(freq.get(i)?)?, year.get(i)?, sub.get(i)?))
        .max()
}

/// `frame` with each string column copied into buffers of its own. A filter, join or gather of a
/// string column shares the buffers of the column it came from, so a few rows kept from a large
/// frame would keep all of that frame's strings in memory.
pub fn own_strings(frame: DataFrame) -> PolarsResult<DataFrame> {
    // The other columns are shared (cloning a column clones a reference).
    let height = frame.height();
    let columns = frame
        .columns()
        .iter()
        .map(|column| match column.dtype() {
            DataType::String => {
                let name = column.name().clone();
                column.str().map(|values| values.iter().collect::<StringChunked>().with_name(name).into_column())
            }
            _ => Ok(column.clone()),
        })
        .collect::<PolarsResult<Vec<Column>>>()?;
    DataFrame::new(height, columns)
}
