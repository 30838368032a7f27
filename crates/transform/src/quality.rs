//! Data-quality findings on the series (METRICS.md §4): completeness, freshness and outliers.
//!
//! Rows that could not be read (unparseable, out of range, duplicated) are found by `ingest`;
//! revisions between vintages need the warehouse's history and are not checked here yet.

use contract::{Frequency, Period};
use contract::columns::*;
use polars::prelude::*;

use crate::Settings;
use crate::out::GROWTH;
use crate::series::{SERIES_ID, indicator_key};

/// The columns of a findings frame.
pub const QUALITY_COLUMNS: [&str; 6] = ["level", "check", "entity", "indicator", "period", "message"];

/// One data-quality finding.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// `warn` or `error`.
    pub level: &'static str,
    pub check: &'static str,
    pub entity: Option<String>,
    pub indicator: Option<String>,
    pub period: Option<String>,
    pub message: String,
}

/// The findings as a frame with [`QUALITY_COLUMNS`].
pub fn findings_frame(findings: &[Finding]) -> PolarsResult<DataFrame> {
    df![
        "level" => findings.iter().map(|f| f.level).collect::<Vec<_>>(),
        "check" => findings.iter().map(|f| f.check).collect::<Vec<_>>(),
        "entity" => findings.iter().map(|f| f.entity.clone()).collect::<Vec<_>>(),
        "indicator" => findings.iter().map(|f| f.indicator.clone()).collect::<Vec<_>>(),
        "period" => findings.iter().map(|f| f.period.clone()).collect::<Vec<_>>(),
        "message" => findings.iter().map(|f| f.message.clone()).collect::<Vec<_>>(),
    ]
}

fn strings(frame: &DataFrame, name: &str) -> PolarsResult<Vec<Option<String>>> {
    Ok(frame.column(name)?.cast(&DataType::String)?.str()?.iter().map(|v| v.map(str::to_string)).collect())
}

fn numbers(frame: &DataFrame, name: &str) -> PolarsResult<Vec<Option<f64>>> {
    Ok(frame.column(name)?.cast(&DataType::Float64)?.f64()?.iter().collect())
}

/// Checks the series (the output of the series stage) as of `period`.
pub fn quality(series: &DataFrame, period: Period, settings: &Settings) -> PolarsResult<Vec<Finding>> {
    let mut findings = Vec::new();
    // Integer keys (from the series stage) instead of the entity, indicator and frequency strings.
    let by_indicator = [indicator_key()];

    // Completeness: at each indicator's latest period, how many of the entities that report it have a value.
    let completeness = series
        .clone()
        .lazy()
        .with_column(col(SERIES_ID).n_unique().over(by_indicator.clone())?.alias("expected"))
        .filter(col(END_MONTH).eq(col(END_MONTH).max().over(by_indicator.clone())?))
        .group_by([col(INDICATOR), col(FREQ), col(PERIOD)])
        .agg([col(VALUE).count().alias("present"), col("expected").first()])
        .filter(col("present").cast(DataType::Int64).lt(col("expected").cast(DataType::Int64)))
        .sort([INDICATOR, FREQ, PERIOD], SortMultipleOptions::default())
        .collect()?;
    let (indicators, periods) = (strings(&completeness, INDICATOR)?, strings(&completeness, PERIOD)?);
    let (present, expected) = (numbers(&completeness, "present")?, numbers(&completeness, "expected")?);
    for i in 0..completeness.height() {
        findings.push(Finding {
            level: "warn",
            check: "completeness",
            entity: None,
            indicator: indicators[i].clone(),
            period: periods[i].clone(),
            message: format!(
                "{} of {} entities reporting this indicator have a value for its latest period",
                present[i].unwrap_or(0.0),
                expected[i].unwrap_or(0.0)
            ),
        });
    }

    // Freshness: the latest value of each indicator against the reporting period.
    let freshness = series
        .clone()
        .lazy()
        .filter(col(VALUE).is_not_null())
        .filter(col(END_MONTH).eq(col(END_MONTH).max().over(by_indicator.clone())?))
        .group_by([col(INDICATOR), col(FREQ), col(PERIOD)])
        .agg([col(END_MONTH).first()])
        .with_column((lit(period.end_month_index()) - col(END_MONTH)).alias("lag_months"))
        .with_column(
            when(col(FREQ).eq(lit(Frequency::Month.code())))
                .then(lit(settings.stale_after_months_monthly))
                .when(col(FREQ).eq(lit(Frequency::Quarter.code())))
                .then(lit(settings.stale_after_months_quarterly))
                .otherwise(lit(settings.stale_after_months_yearly))
                .alias("limit"),
        )
        .filter(col("lag_months").gt(col("limit")))
        .sort([INDICATOR, FREQ, PERIOD], SortMultipleOptions::default())
        .collect()?;
    let (indicators, periods, lags) = (strings(&freshness, INDICATOR)?, strings(&freshness, PERIOD)?, numbers(&freshness, "lag_months")?);
    for i in 0..freshness.height() {
        findings.push(Finding {
            level: "warn",
            check: "freshness",
            entity: None,
            indicator: indicators[i].clone(),
            period: periods[i].clone(),
            message: format!("the latest value is for {}, {} months before {period}", periods[i].clone().unwrap_or_default(), lags[i].unwrap_or(0.0)),
        });
    }

    // Outliers: a growth far from the mean of the series' other growths, in their standard
    // deviations (leave-one-out: with the point itself included, one outlier among n points can
    // never be more than (n−1)/√n deviations away).
    let series_key = [col(SERIES_ID)];
    let (g, n_others) = (col(GROWTH), col("_n") - lit(1.0));
    let mean_others = (col("_sum") - g.clone()) / n_others.clone();
    let variance_others =
        (col("_sum_sq") - g.clone() * g.clone() - n_others.clone() * mean_others.clone() * mean_others.clone()) / (n_others.clone() - lit(1.0));
    // The test runs on the numbers alone; the names are gathered for the few rows it flags.
    let flagged = series
        .clone()
        .lazy()
        .select([col(SERIES_ID), col(GROWTH)])
        .with_row_index("_r", None)
        .filter(col(GROWTH).is_not_null())
        .with_columns([
            col(GROWTH).sum().over(series_key.clone())?.alias("_sum"),
            (col(GROWTH) * col(GROWTH)).sum().over(series_key.clone())?.alias("_sum_sq"),
            col(GROWTH).count().over(series_key)?.cast(DataType::Float64).alias("_n"),
        ])
        .filter(n_others.clone().gt_eq(lit(settings.outlier_min_history as f64)))
        .with_columns([mean_others.alias("_mean"), variance_others.alias("_var")])
        // A floor on the deviation keeps a flat history from making every wobble an outlier.
        .with_column(
            when(col("_var").gt(lit(settings.outlier_min_std * settings.outlier_min_std)))
                .then(col("_var").sqrt())
                .otherwise(lit(settings.outlier_min_std))
                .alias("_std"),
        )
        .filter(((g - col("_mean")) / col("_std")).abs().gt(lit(settings.outlier_sigmas)))
        .select([col("_r"), col(GROWTH), col("_mean")])
        .collect()?;
    let outliers = series
        .select([ENTITY, INDICATOR, FREQ, PERIOD])?
        .take(flagged.column("_r")?.idx()?)?
        .hstack(&flagged.columns()[1..])?
        .lazy()
        .sort([ENTITY, INDICATOR, FREQ, PERIOD], SortMultipleOptions::default())
        .collect()?;
    let (entities, indicators, periods) = (strings(&outliers, ENTITY)?, strings(&outliers, INDICATOR)?, strings(&outliers, PERIOD)?);
    let (growths, means) = (numbers(&outliers, GROWTH)?, numbers(&outliers, "_mean")?);
    for i in 0..outliers.height() {
        findings.push(Finding {
            level: "warn",
            check: "outlier",
            entity: entities[i].clone(),
            indicator: indicators[i].clone(),
            period: periods[i].clone(),
            message: format!(
                "growth {:.1} is more than {} standard deviations from the series' other growths (mean {:.1})",
                growths[i].unwrap_or(0.0),
                settings.outlier_sigmas,
                means[i].unwrap_or(0.0)
            ),
        });
    }
    Ok(findings)
}

/// How a revision reads in findings: `revised from 100 (vintage a) to 104 (vintage b)`.
pub fn revision_message(old: Option<f64>, old_vintage: &str, new: Option<f64>, new_vintage: &str) -> String {
    let shown = |v: Option<f64>| v.map_or_else(|| "empty".to_string(), |v| v.to_string());
    format!("revised from {} (vintage {old_vintage}) to {} (vintage {new_vintage})", shown(old), shown(new))
}

/// Values of `current` that differ from `previous` (an earlier vintage of the same source), as
/// `revision` findings; keys present in only one of them are not revisions.
pub fn revisions(previous: &DataFrame, current: &DataFrame) -> PolarsResult<Vec<Finding>> {
    let keys = [col(ENTITY), col(INDICATOR), col(PERIOD)];
    let earlier = previous.clone().lazy().select([
        col(ENTITY),
        col(INDICATOR),
        col(PERIOD),
        col(VALUE).alias("_old_value"),
        col(VINTAGE).alias("_old_vintage"),
    ]);
    let changed = current
        .clone()
        .lazy()
        .join(earlier, keys.clone(), keys, JoinArgs::new(JoinType::Inner))
        .filter(col(VALUE).neq_missing(col("_old_value")))
        .sort([ENTITY, INDICATOR, PERIOD], SortMultipleOptions::default())
        .collect()?;
    let (entities, indicators, periods) = (strings(&changed, ENTITY)?, strings(&changed, INDICATOR)?, strings(&changed, PERIOD)?);
    let (old, new) = (numbers(&changed, "_old_value")?, numbers(&changed, VALUE)?);
    let (old_vintage, new_vintage) = (strings(&changed, "_old_vintage")?, strings(&changed, VINTAGE)?);
    Ok((0..changed.height())
        .map(|i| Finding {
            level: "warn",
            check: "revision",
            entity: entities[i].clone(),
            indicator: indicators[i].clone(),
            period: periods[i].clone(),
            message: revision_message(old[i], old_vintage[i].as_deref().unwrap_or(""), new[i], new_vintage[i].as_deref().unwrap_or("")),
        })
        .collect())
}
