//! The gap to each target, assessed at the latest period with data (METRICS.md §2).

use contract::columns::*;
use contract::Catalogue;
use polars::prelude::*;

use crate::Settings;
use crate::frames::target_frame;
use crate::series::{ENTITY_INDICATOR, entity_indicator_keys};
use crate::out::*;

fn null_f64() -> Expr {
    lit(NULL).cast(DataType::Float64)
}

fn years(months: Expr) -> Expr {
    months.cast(DataType::Float64) / lit(12.0)
}

/// Compound annual growth from `from` to `to` over `n` years, in percent; empty unless both are positive and `n > 0`.
fn cagr_pct(to: Expr, from: Expr, n: Expr) -> Expr {
    when(from.clone().gt(lit(0.0)).and(to.clone().gt(lit(0.0))).and(n.clone().gt(lit(0.0))))
        .then(((to / from).pow(lit(1.0) / n) - lit(1.0)) * lit(100.0))
        .otherwise(null_f64())
}

/// The catalogue's targets ([`target_frame`]) with each target's entity and indicator, and its
/// parent's, as the series' integer key (`_ei`, `_pei`): the joins of [`assess`] compare one
/// number, not two strings. Built once for all the parts of a computation.
pub(crate) fn keyed_targets(catalogue: &Catalogue) -> PolarsResult<DataFrame> {
    let mut frame = target_frame(catalogue)?;
    let keys = entity_indicator_keys(catalogue, &frame, &[("entity", "_ei"), ("parent", "_pei")], "indicator")?;
    frame.hstack_mut(&keys)?;
    Ok(frame)
}

/// Assesses every target of `targets` ([`keyed_targets`]) at `period`.
///
/// `series` is the output of the series stage (group totals included). The output holds one
/// row per target, in catalogue order, with the columns named in the `compute` contract.
/// With `indicators`, only the targets on those indicators are assessed.
pub(crate) fn assess(series: LazyFrame, targets: &DataFrame, catalogue: &Catalogue, settings: &Settings, indicators: Option<&[&str]>) -> PolarsResult<LazyFrame> {
    let targets = match indicators {
        Some(codes) => targets.clone().lazy().filter(crate::any_of("indicator", codes)).collect()?,
        None => targets.clone(),
    };
    // A part whose indicators have no target: the joins below run on none of its rows (the
    // columns are the same), not on all of them against nothing.
    let series = if targets.height() == 0 { series.slice(0, 0) } else { series };
    let targets = targets.lazy();
    let observed = series.clone().filter(col(VALUE).is_not_null());

    // The assessed observation: the latest with a value up to the period; for an annual plan,
    // the latest within the plan's year.
    let candidates = targets
        .clone()
        .select([col("target_id"), col("_ei"), col("kind"), col("deadline_year")])
        .join(
            observed.clone().select([
                col(ENTITY_INDICATOR),
                col(PERIOD),
                col(crate::series::FREQUENCY_ID),
                col(YEAR),
                col(END_MONTH),
                col(VALUE),
                col(GROWTH),
                col(BASE_PERIOD).alias("series_base_period"),
                col(BASE_VALUE).alias("series_base_value"),
                col("base_end_month").alias("series_base_end_month"),
                col(VINTAGE),
                col(SOURCE).alias("value_source"),
            ]),
            [col("_ei")],
            [col(ENTITY_INDICATOR)],
            JoinArgs::new(JoinType::Inner),
        )
        .filter(col("kind").neq(lit("plan")).or(col(YEAR).eq(col("deadline_year"))))
        .with_column(crate::series::recency().alias("_rank"));
    let best = col("_rank").max().over([col("target_id")])?;
    let assessed = candidates.filter(col("_rank").eq(best)).select([
        col("target_id"),
        col(PERIOD),
        col(END_MONTH),
        col(VALUE),
        col(GROWTH),
        col("series_base_period"),
        col("series_base_value"),
        col("series_base_end_month"),
        col(VINTAGE),
        col("value_source"),
    ]);

    // The series rows the targets can use, found by an inner join with the targets' distinct
    // keys (whose hash table is small), before they are joined onto the targets.
    // `keys`: each target column with the name of the rows' column it matches.
    let narrowed = |rows: LazyFrame, keys: &[(&str, &str)]| {
        let on: Vec<Expr> = keys.iter().map(|(_, name)| col(*name)).collect();
        let keys = targets.clone().select(keys.iter().map(|(column, name)| col(*column).alias(*name)).collect::<Vec<_>>());
        let keys = keys.drop_nulls(None).unique(None, UniqueKeepStrategy::Any);
        rows.join(keys, on.clone(), on, JoinArgs::new(JoinType::Inner))
    };
    // The configured base period's value, where one is given.
    let configured_base = narrowed(
        observed.clone().select([
            col(ENTITY_INDICATOR).alias("_b_ei"),
            col(PERIOD).alias("_b_period"),
            col(VALUE).alias("configured_base_value"),
            col(END_MONTH).alias("configured_base_end_month"),
        ]),
        &[("_ei", "_b_ei"), ("target_base_period", "_b_period")],
    );
    // The parent's growth in the assessed period, for relative targets.
    let parent_growth = narrowed(
        series.select([
            col(ENTITY_INDICATOR).alias("_p_ei"),
            col(PERIOD).alias("_p_period"),
            col(GROWTH).alias("parent_growth"),
        ]),
        &[("_pei", "_p_ei")],
    );

    let frame = targets
        .join(assessed, [col("target_id")], [col("target_id")], JoinArgs::new(JoinType::Left))
        .join(
            configured_base,
            [col("_ei"), col("target_base_period")],
            [col("_b_ei"), col("_b_period")],
            JoinArgs::new(JoinType::Left),
        )
        .join(
            parent_growth,
            [col("_pei"), col(PERIOD)],
            [col("_p_ei"), col("_p_period")],
            JoinArgs::new(JoinType::Left),
        )
        .join(
            crate::frames::indicator_frame(catalogue)?.lazy().select([col("indicator").alias("_i"), col(BASIS), col("direction")]),
            [col("indicator")],
            [col("_i")],
            JoinArgs::new(JoinType::Left),
        )
        .sort(["target_id"], SortMultipleOptions::default())
        .collect()?
        .lazy();

    let is_plan = col("kind").eq(lit("plan"));
    let has_configured_base = col("target_base_period").is_not_null();
    // Base value and base month: 0 at the end of the previous year for a plan, else the
    // configured base period, else the series' first observation.
    let frame = frame.with_columns([
        when(is_plan.clone())
            .then(lit(NULL).cast(DataType::String))
            .when(has_configured_base.clone())
            .then(col("target_base_period"))
            .otherwise(col("series_base_period"))
            .alias(BASE_PERIOD),
        when(is_plan.clone())
            .then(lit(0.0))
            .when(has_configured_base.clone())
            .then(col("configured_base_value"))
            .otherwise(col("series_base_value"))
            .alias(BASE_VALUE),
        when(is_plan)
            .then(col("deadline_year") * lit(12) - lit(1))
            .when(has_configured_base)
            .then(col("configured_base_end_month"))
            .otherwise(col("series_base_end_month"))
            .alias("base_end_month"),
    ]);

    let y0 = col(BASE_VALUE);
    let yt = col(VALUE);
    let target = col("target");
    let points = col(BASIS).eq(lit("points"));
    // d: +1 when higher is better, −1 when lower is better; for `≈`, the way from the base to the target.
    let direction = when(col("comparator").eq(lit(">=")))
        .then(lit(1.0))
        .when(col("comparator").eq(lit("<=")))
        .then(lit(-1.0))
        .when(target.clone().lt(y0.clone()))
        .then(lit(-1.0))
        .when(y0.clone().is_null().and(col("direction").eq(lit("down"))))
        .then(lit(-1.0))
        .otherwise(lit(1.0));
    let frame = frame.with_columns([
        direction.alias("_d"),
        years(col(END_MONTH) - col("base_end_month")).alias("_n"),
        years(col("deadline_end_month") - col("base_end_month")).alias("_n_total"),
        years(col("deadline_end_month") - col(END_MONTH)).alias("_n_left"),
        when(col("comparator").eq(lit("≈")))
            .then(col("tolerance").fill_null(when(points.clone()).then(lit(settings.approx_tolerance_points)).otherwise(
                target.clone().abs() * lit(settings.approx_tolerance_percent / 100.0),
            )))
            .otherwise(lit(0.0))
            .alias("_tolerance"),
    ]);
    let d = col("_d");
    let n = col("_n");
    let n_total = col("_n_total");
    let n_left = col("_n_left");

    let cagr_actual = cagr_pct(yt.clone(), y0.clone(), n.clone());
    let frame = frame.with_columns([
        cagr_actual.clone().alias("cagr_actual_pct"),
        cagr_pct(target.clone(), y0.clone(), n_total.clone()).alias("cagr_required_pct"),
    ]);
    let cagr_a = col("cagr_actual_pct");
    let cagr_r = col("cagr_required_pct");
    let sign_y0 = when(y0.clone().lt(lit(0.0))).then(lit(-1.0)).otherwise(lit(1.0));
    let defined = |condition: Expr, value: Expr| when(condition).then(value).otherwise(null_f64());

    let kind = col("kind");
    let is_growth = kind.clone().eq(lit("growth"));
    let is_relative = kind.clone().eq(lit("relative"));
    let margin = target.clone().fill_null(lit(0.0));
    let relative_lead = col(GROWTH) - col("parent_growth");

    // Level and plan targets compare the value; growth targets the CAGR; relative targets the lead over the parent.
    let achieved = when(is_growth.clone())
        .then((d.clone() * (cagr_a.clone() - target.clone())).gt_eq(lit(0.0)))
        .when(is_relative.clone())
        .then(relative_lead.clone().gt_eq(margin.clone()))
        .otherwise((d.clone() * (yt.clone() - target.clone())).gt_eq(-col("_tolerance")));
    let gap = when(is_growth.clone())
        .then(target.clone() - cagr_a.clone())
        .when(is_relative.clone())
        .then(margin.clone() - relative_lead.clone())
        .otherwise(d.clone() * (target.clone() - yt.clone()));
    let achievement = when(is_growth.clone())
        .then(defined(target.clone().neq(lit(0.0)), cagr_a.clone() / target.clone() * lit(100.0)))
        .when(d.clone().gt(lit(0.0)))
        .then(defined(target.clone().neq(lit(0.0)), yt.clone() / target.clone() * lit(100.0)))
        .otherwise(defined(yt.clone().neq(lit(0.0)), target.clone() / yt.clone() * lit(100.0)));
    let span = (target.clone() - y0.clone()).abs();
    let raw_progress = d.clone() * (yt.clone() - y0.clone()) / span.clone();
    let progress = defined(
        span.clone().gt(lit(0.0)),
        when(raw_progress.clone().gt(lit(1.0))).then(lit(1.0)).otherwise(raw_progress) * lit(100.0),
    );
    let time_share = defined(n_total.clone().gt(lit(0.0)), n.clone() / n_total.clone() * lit(100.0));
    let growth_ratio = defined(cagr_r.clone().abs().gt(lit(0.0)), d.clone() * sign_y0 * cagr_a.clone() / cagr_r.clone().abs());
    let linear_ratio = defined(
        n.clone().gt(lit(0.0)).and(n_total.clone().gt(lit(0.0))).and(span.clone().gt(lit(0.0))),
        d.clone() * ((yt.clone() - y0.clone()) / n.clone()) / (span / n_total.clone()),
    );
    let projected = defined(cagr_a.clone().is_not_null().and(n_left.clone().gt_eq(lit(0.0))), yt.clone() * (lit(1.0) + cagr_a.clone() / lit(100.0)).pow(n_left.clone()));
    let required_pace = when(n_left.clone().lt_eq(lit(0.0)))
        .then(null_f64())
        .when(points.clone())
        .then((target.clone() - yt.clone()) / n_left.clone())
        .otherwise(cagr_pct(target.clone(), yt.clone(), n_left.clone()));

    let frame = frame.with_columns([
        achieved.alias("achieved"),
        (col("comparator").eq(lit("≈")).and((yt.clone() - target.clone()).abs().lt_eq(col("_tolerance")))).alias("achieved_approx"),
        gap.alias("gap"),
        achievement.alias("achievement_pct"),
        progress.alias("progress_pct"),
        time_share.alias("time_pct"),
        growth_ratio.alias("growth_ratio"),
        linear_ratio.alias("growth_ratio_linear"),
        projected.alias("projected_value"),
        required_pace.alias("required_pace"),
    ]);
    let frame = frame.with_columns([
        (col("progress_pct") - col("time_pct")).alias("schedule_gap_pp"),
        defined(
            (target.clone() - y0.clone()).neq(lit(0.0)),
            (col("projected_value") - y0.clone()) / (target.clone() - y0.clone()),
        )
        .alias("anticipated_ratio"),
    ]);

    // The ratio that decides the status: progress over elapsed time for a plan, the CAGR
    // floor's ratio for a growth target, else the growth ratio (linear for rates if so set).
    let judge = when(col("kind").eq(lit("plan")))
        .then(defined(col("time_pct").gt(lit(0.0)), col("progress_pct") / col("time_pct")))
        .when(is_growth)
        .then(defined(target.clone().gt(lit(0.0)), cagr_a.clone() / target.clone()))
        .when(is_relative)
        .then(when(relative_lead.clone().gt_eq(margin)).then(lit(1.0)).when(relative_lead.is_null()).then(null_f64()).otherwise(lit(-1.0)))
        .when(points.and(lit(settings.linear_for_rates)))
        .then(col("growth_ratio_linear"))
        .otherwise(col("growth_ratio"));
    let status = when(col("achieved").fill_null(lit(false)))
        .then(lit("achieved"))
        .when(judge.clone().is_null())
        .then(lit("insufficient_data"))
        .when(judge.clone().gt_eq(lit(settings.on_track)))
        .then(lit("on_track"))
        .when(judge.clone().gt_eq(lit(settings.moderate)))
        .then(lit("moderate"))
        .when(judge.gt_eq(lit(0.0)))
        .then(lit("insufficient"))
        .otherwise(lit("moving_away"));

    // Dense rank of progress among the targets of the same indicator, kind and deadline under one parent.
    let dense = RankOptions { method: RankMethod::Dense, descending: true };
    let rank_progress = col("progress_pct")
        .rank(dense, None)
        .over([col("parent"), col("indicator"), col("kind"), col("deadline")])?
        .cast(DataType::UInt32);
    Ok(frame.with_columns([status.alias(STATUS), rank_progress.alias("rank_progress")]).select([
        col("entity"),
        col("indicator"),
        col("kind"),
        col("comparator"),
        col("target"),
        col("deadline"),
        col(BASE_PERIOD),
        col(BASE_VALUE),
        col(PERIOD),
        col(VALUE),
        col("achieved"),
        col("achieved_approx"),
        col("gap"),
        col("achievement_pct"),
        col("progress_pct"),
        col("time_pct"),
        col("schedule_gap_pp"),
        col("cagr_actual_pct"),
        col("cagr_required_pct"),
        col("growth_ratio"),
        col("growth_ratio_linear"),
        col("projected_value"),
        col("anticipated_ratio"),
        col("required_pace"),
        col(STATUS),
        col("rank_progress"),
        col("parent_growth"),
        col(GROWTH),
        col("target_source"),
        col("target_note"),
        col(VINTAGE),
        col("value_source"),
        // The catalogue order, for gathering the targets of several parts (then dropped).
        col("target_id"),
    ]))
}
