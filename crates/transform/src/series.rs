//! Growth of each series: year on year, period on period, year to date, since the base.

use contract::columns::*;
use contract::{Catalogue, Period};
use polars::prelude::*;

use crate::frames::{entity_frame, indicator_frame, membership_frame};
use crate::out::*;

/// Keys of one series observation, without the period.
const SERIES_KEY: [&str; 3] = [ENTITY, INDICATOR, FREQ];

fn named(names: &[&str]) -> Vec<Expr> {
    names.iter().map(|n| col(*n)).collect()
}

fn null_f64() -> Expr {
    lit(NULL).cast(DataType::Float64)
}

/// Percent change from `base` to `value`, defined only for a positive base and a non-negative value.
pub(crate) fn percent_change(value: Expr, base: Expr) -> Expr {
    when(base.clone().gt(lit(0.0)).and(value.clone().gt_eq(lit(0.0))))
        .then((value / base - lit(1.0)) * lit(100.0))
        .otherwise(null_f64())
}

/// Why a percent change is empty, or null when it is not.
fn percent_change_note(value: Expr, base: Expr, points: Expr) -> Expr {
    when(value.clone().is_null())
        .then(lit("no value"))
        .when(base.clone().is_null())
        .then(lit("no value for the comparison period"))
        .when(points.clone().not().and(base.clone().lt_eq(lit(0.0))))
        .then(lit("base is zero or negative: percent change undefined"))
        .when(points.not().and(value.lt(lit(0.0))))
        .then(lit("sign change: percent change undefined"))
        .otherwise(lit(NULL).cast(DataType::String))
}

/// The series keys moved to the period that follows each row, carrying `carried` along: joined
/// back on the keys, each row meets its previous period's values.
fn keyed_by_next_period(frame: LazyFrame, carried: Vec<Expr>) -> LazyFrame {
    let mut columns = vec![
        col(ENTITY),
        col(INDICATOR),
        col(FREQ),
        when(wraps_again()).then(col(YEAR) + lit(1)).otherwise(col(YEAR)).alias(YEAR),
        when(col(FREQ).eq(lit("Y"))).then(lit(0)).when(wraps_again()).then(lit(1)).otherwise(col(SUB) + lit(1)).alias(SUB),
    ];
    columns.extend(carried);
    frame.select(columns)
}

/// True where the period is the last of its year, so the next one starts a new year.
fn wraps_again() -> Expr {
    let per_year = when(col(FREQ).eq(lit("M"))).then(lit(12)).otherwise(lit(4));
    col(FREQ).eq(lit("Y")).or(col(SUB).eq(per_year))
}

/// Appends, for each group without a figure of its own, the sum of its members where every member has one.
fn with_group_totals(observations: LazyFrame, catalogue: &Catalogue) -> PolarsResult<LazyFrame> {
    let members = membership_frame(catalogue)?;
    if members.height() == 0 {
        return Ok(observations);
    }
    let period_keys = [INDICATOR, PERIOD, FREQ, YEAR, SUB, END_MONTH];
    let mut group_by = vec![col("group")];
    group_by.extend(named(&period_keys));
    let sums = observations
        .clone()
        .join(members.lazy(), [col(ENTITY)], [col("member")], JoinArgs::new(JoinType::Inner))
        .group_by(group_by)
        .agg([
            col(VALUE).sum().alias(VALUE),
            col(VALUE).count().alias("n_present"),
            col("n_members").first().alias("n_members"),
            col(VINTAGE).max().alias(VINTAGE),
        ])
        .filter(col("n_present").cast(DataType::UInt32).eq(col("n_members")))
        .rename(["group"], [ENTITY], true);
    let own = observations.clone().select([col(ENTITY), col(INDICATOR), col(PERIOD), lit(true).alias("_own")]);
    let missing = sums
        .join(own, named(&[ENTITY, INDICATOR, PERIOD]), named(&[ENTITY, INDICATOR, PERIOD]), JoinArgs::new(JoinType::Left))
        .filter(col("_own").is_null())
        .select([
            col(ENTITY),
            col(INDICATOR),
            col(PERIOD),
            col(FREQ),
            col(YEAR),
            col(SUB),
            col(END_MONTH),
            col(VALUE),
            lit("sum of the group's members").alias(SOURCE),
            col(VINTAGE),
            lit(NULL).cast(DataType::String).alias(NOTE),
        ]);
    let observations = observations.select(named(&[ENTITY, INDICATOR, PERIOD, FREQ, YEAR, SUB, END_MONTH, VALUE, SOURCE, VINTAGE, NOTE]));
    concat([observations, missing], UnionArgs::default())
}

/// The series frame: each observation up to `period` with its growth measures.
pub(crate) fn series(observations: LazyFrame, catalogue: &Catalogue, period: Period, base_period: Option<Period>) -> PolarsResult<LazyFrame> {
    let indicators = indicator_frame(catalogue)?.lazy();
    let in_scope = observations.filter(col(END_MONTH).lt_eq(lit(period.end_month_index())));
    let with_groups = with_group_totals(in_scope, catalogue)?;
    let points = col(BASIS).eq(lit("points"));
    let is_flow = col("kind").eq(lit("flow"));

    // Year-to-date totals: the published total for `ytd` flows; the sum of every month so far
    // for `period` flows, empty when any month is missing (never read as zero).
    let window = named(&[ENTITY, INDICATOR, FREQ, YEAR]);
    let present_so_far = col(VALUE).is_not_null().cast(DataType::Int32).cum_sum(false).over(window.clone())?;
    let frame = with_groups
        .join(indicators, [col(INDICATOR)], [col("indicator")], JoinArgs::new(JoinType::Left))
        .sort([ENTITY, INDICATOR, FREQ, YEAR, SUB], SortMultipleOptions::default())
        .with_column(
        when(is_flow.clone().and(col(FREQ).eq(lit("Y"))))
            .then(col(VALUE))
            .when(is_flow.clone().and(col("accumulation").eq(lit("ytd"))))
            .then(col(VALUE))
            .when(is_flow.and(col("accumulation").eq(lit("period"))).and(present_so_far.eq(col(SUB))))
            .then(col(VALUE).cum_sum(false).over(window)?)
            .otherwise(null_f64())
            .alias(YTD_VALUE),
    );

    // The same period a year earlier.
    let last_year = frame.clone().select([
        col(ENTITY),
        col(INDICATOR),
        col(FREQ),
        (col(YEAR) + lit(1)).alias(YEAR),
        col(SUB),
        col(VALUE).alias(VALUE_LAST_YEAR),
        col(YTD_VALUE).alias("ytd_value_last_year"),
    ]);
    // The same period two years earlier, for the two-year average growth.
    let two_years_ago = frame.clone().select([
        col(ENTITY),
        col(INDICATOR),
        col(FREQ),
        (col(YEAR) + lit(2)).alias(YEAR),
        col(SUB),
        col(VALUE).alias("value_two_years_ago"),
    ]);
    // The previous period.
    let previous = keyed_by_next_period(frame.clone(), vec![col(VALUE).alias("value_previous")]);
    // The base: the configured base period's observation, else the series' first with a value.
    let by_series = named(&SERIES_KEY);
    let candidates = frame.clone().filter(col(VALUE).is_not_null());
    let candidates = match base_period {
        Some(base) => candidates.filter(col(PERIOD).eq(lit(base.to_string()))),
        None => candidates,
    };
    let base = candidates
        .group_by(by_series.clone())
        .agg([
            col(PERIOD).sort_by([col(END_MONTH)], SortMultipleOptions::default()).first().alias(BASE_PERIOD),
            col(VALUE).sort_by([col(END_MONTH)], SortMultipleOptions::default()).first().alias(BASE_VALUE),
            col(END_MONTH).min().alias("base_end_month"),
        ]);

    let period_key = named(&[ENTITY, INDICATOR, FREQ, YEAR, SUB]);
    let joined = frame
        .join(last_year, period_key.clone(), period_key.clone(), JoinArgs::new(JoinType::Left))
        .join(two_years_ago, period_key.clone(), period_key.clone(), JoinArgs::new(JoinType::Left))
        .join(previous, period_key.clone(), period_key, JoinArgs::new(JoinType::Left))
        .join(base, by_series.clone(), by_series, JoinArgs::new(JoinType::Left));

    let joined = joined.collect()?.lazy();
    let years_since_base = (col(END_MONTH) - col("base_end_month")).cast(DataType::Float64) / lit(12.0);
    // The value of the period itself: a year-to-date total differenced within its year (the
    // first period is its own total; a missing earlier month leaves it empty, never invented).
    let is_ytd = col("accumulation").eq(lit("ytd")).and(col(FREQ).neq(lit("Y")));
    let joined = joined.with_column(
        when(is_ytd.clone().not())
            .then(col(VALUE))
            .when(col(SUB).eq(lit(1)))
            .then(col(VALUE))
            .otherwise(col(VALUE) - col("value_previous"))
            .alias(PERIOD_VALUE),
    );
    let previous_period_value = keyed_by_next_period(joined.clone(), vec![col(PERIOD_VALUE).alias("period_value_previous")]);
    let period_key = named(&[ENTITY, INDICATOR, FREQ, YEAR, SUB]);
    let joined = joined.join(previous_period_value, period_key.clone(), period_key, JoinArgs::new(JoinType::Left));
    let result = joined.with_columns([
        when(points.clone()).then(null_f64()).otherwise(percent_change(col(VALUE), col(VALUE_LAST_YEAR))).alias(YOY_PCT),
        (col(VALUE) - col(VALUE_LAST_YEAR)).alias(YOY_CHANGE),
        percent_change_note(col(VALUE), col(VALUE_LAST_YEAR), points.clone()).alias(YOY_NOTE),
        when(points.clone()).then(null_f64()).otherwise(percent_change(col(PERIOD_VALUE), col("period_value_previous"))).alias(POP_PCT),
        (col(PERIOD_VALUE) - col("period_value_previous")).alias(POP_CHANGE),
        percent_change(col(YTD_VALUE), col("ytd_value_last_year")).alias(YTD_YOY_PCT),
        (col(VALUE) - col(BASE_VALUE)).alias(CHANGE_SINCE_BASE),
        when(points.clone().not().and(years_since_base.clone().gt(lit(0.0))).and(col(BASE_VALUE).gt(lit(0.0))).and(col(VALUE).gt(lit(0.0))))
            .then(((col(VALUE) / col(BASE_VALUE)).pow(lit(1.0) / years_since_base.clone()) - lit(1.0)) * lit(100.0))
            .otherwise(null_f64())
            .alias(CAGR_SINCE_BASE_PCT),
        when(years_since_base.clone().gt(lit(0.0)))
            .then((col(VALUE) - col(BASE_VALUE)) / years_since_base.clone())
            .otherwise(null_f64())
            .alias(AVG_CHANGE_SINCE_BASE),
        // Why the growth since the base is empty, where it is.
        when(col(VALUE).is_null())
            .then(lit("no value"))
            .when(col(BASE_VALUE).is_null())
            .then(lit("no value at the base period"))
            .when(years_since_base.clone().eq(lit(0.0)))
            .then(lit("this is the base period"))
            .when(years_since_base.lt(lit(0.0)))
            .then(lit("before the base period"))
            .when(points.clone())
            .then(lit("changes in points: see change_since_base and avg_change_since_base"))
            .when(col(BASE_VALUE).lt_eq(lit(0.0)))
            .then(lit("base is zero or negative: growth undefined"))
            .when(col(VALUE).lt_eq(lit(0.0)))
            .then(lit("value is zero or negative: growth undefined"))
            .otherwise(lit(NULL).cast(DataType::String))
            .alias(BASE_NOTE),
    ]);
    let result = result.with_columns([
        when(points.clone()).then(col(YOY_CHANGE)).otherwise(col(YOY_PCT)).alias(GROWTH),
        // sqrt(y_t / y_{t-2}) - 1: the level form, which works when the middle year is missing.
        when(points.clone().not().and(col("value_two_years_ago").gt(lit(0.0))).and(col(VALUE).gt_eq(lit(0.0))))
            .then(((col(VALUE) / col("value_two_years_ago")).sqrt() - lit(1.0)) * lit(100.0))
            .otherwise(null_f64())
            .alias(TWO_YEAR_AVG_PCT),
    ]);
    // Materialise at the stage boundary: one deep lazy plan overflows thread stacks in the optimiser.
    with_parent_measures(result.collect()?.lazy(), catalogue, points)
}

/// Share of the parent, contribution (贡献率) and pull (拉动) to the parent's growth, and dense
/// ranks among peers (same parent and level) by value and by growth, honouring the direction.
fn with_parent_measures(frame: LazyFrame, catalogue: &Catalogue, points: Expr) -> PolarsResult<LazyFrame> {
    let parent_values = frame.clone().select([
        col(ENTITY).alias("_p_entity"),
        col(INDICATOR).alias("_p_indicator"),
        col(PERIOD).alias("_p_period"),
        col(VALUE).alias("parent_value"),
        col(VALUE_LAST_YEAR).alias("parent_value_last_year"),
    ]);
    let frame = frame
        .join(entity_frame(catalogue)?.lazy(), [col(ENTITY)], [col("_e_entity")], JoinArgs::new(JoinType::Left))
        .join(
            parent_values,
            [col("_e_parent"), col(INDICATOR), col(PERIOD)],
            [col("_p_entity"), col("_p_indicator"), col("_p_period")],
            JoinArgs::new(JoinType::Left),
        );
    let parent_change = col("parent_value") - col("parent_value_last_year");
    let percent_basis = points.not();
    let frame = frame.with_columns([
        when(percent_basis.clone().and(col("parent_value").neq(lit(0.0))))
            .then(col(VALUE) / col("parent_value") * lit(100.0))
            .otherwise(null_f64())
            .alias(SHARE_OF_PARENT_PCT),
        when(percent_basis.clone().and(parent_change.clone().neq(lit(0.0))))
            .then(col(YOY_CHANGE) / parent_change * lit(100.0))
            .otherwise(null_f64())
            .alias(CONTRIBUTION_PCT),
        when(percent_basis.and(col("parent_value_last_year").gt(lit(0.0))))
            .then(col(YOY_CHANGE) / col("parent_value_last_year") * lit(100.0))
            .otherwise(null_f64())
            .alias(PULL_PP),
    ]);
    // Higher is better unless the indicator's direction is down: rank a signed key, descending.
    let sign = when(col("direction").eq(lit("down"))).then(lit(-1.0)).otherwise(lit(1.0));
    let dense = RankOptions { method: RankMethod::Dense, descending: true };
    let peers = [col("_e_parent"), col("_e_level"), col(INDICATOR), col(PERIOD)];
    // 两率差: the resident minus the registered (户籍) urbanization rate, in points.
    let hukou_rate = frame.clone().filter(col(INDICATOR).eq(lit("urban_rate_hukou"))).select([
        col(ENTITY).alias("_h_entity"),
        col(PERIOD).alias("_h_period"),
        col(VALUE).alias("_hukou_rate"),
    ]);
    let frame = frame
        .join(hukou_rate, [col(ENTITY), col(PERIOD)], [col("_h_entity"), col("_h_period")], JoinArgs::new(JoinType::Left))
        .with_columns([
            (col(VALUE) - col("parent_value")).alias(GAP_TO_PARENT),
            (col(VALUE) - col(VALUE).mean().over(peers.clone())?).alias(GAP_TO_PEER_AVERAGE),
            when(col(INDICATOR).eq(lit("urban_rate_resident")))
                .then(col(VALUE) - col("_hukou_rate"))
                .otherwise(null_f64())
                .alias(RESIDENT_MINUS_HUKOU_PP),
        ]);
    let frame = frame.with_columns([
        (col(VALUE) * sign.clone()).rank(dense, None).over(peers.clone())?.cast(DataType::UInt32).alias(RANK_VALUE),
        (col(GROWTH) * sign).rank(dense, None).over(peers.clone())?.cast(DataType::UInt32).alias(RANK_GROWTH),
        col(VALUE).count().over(peers)?.cast(DataType::UInt32).alias(PEER_COUNT),
    ]);
    let frame = with_group_peers(frame, catalogue)?;
    // Movers: the change in rank and in growth since the previous period, keyed by the period that follows it.
    let frame = frame.collect()?.lazy();
    let previous = keyed_by_next_period(frame.clone(), vec![col(RANK_VALUE).alias("_rank_previous"), col(GROWTH).alias("_growth_previous")]);
    let key = named(&[ENTITY, INDICATOR, FREQ, YEAR, SUB]);
    Ok(frame.join(previous, key.clone(), key, JoinArgs::new(JoinType::Left)).with_columns([
        (col("_rank_previous").cast(DataType::Int64) - col(RANK_VALUE).cast(DataType::Int64)).alias(RANK_CHANGE),
        (col(GROWTH) - col("_growth_previous")).alias(GROWTH_CHANGE),
    ]))
}

/// Rank and gap to the average within a configured group, for its members (an entity in several
/// groups is placed in the first by code).
fn with_group_peers(frame: LazyFrame, catalogue: &Catalogue) -> PolarsResult<LazyFrame> {
    let members = membership_frame(catalogue)?;
    let first_group = members
        .lazy()
        .group_by([col("member")])
        .agg([col("group").min().alias(PEER_GROUP)]);
    let frame = frame.join(first_group, [col(ENTITY)], [col("member")], JoinArgs::new(JoinType::Left));
    let in_group = [col(PEER_GROUP), col(INDICATOR), col(PERIOD)];
    let sign = when(col("direction").eq(lit("down"))).then(lit(-1.0)).otherwise(lit(1.0));
    let dense = RankOptions { method: RankMethod::Dense, descending: true };
    Ok(frame.with_columns([
        when(col(PEER_GROUP).is_not_null())
            .then((col(VALUE) * sign).rank(dense, None).over(in_group.clone())?.cast(DataType::UInt32))
            .otherwise(lit(NULL).cast(DataType::UInt32))
            .alias(RANK_VALUE_IN_GROUP),
        when(col(PEER_GROUP).is_not_null())
            .then(col(VALUE) - col(VALUE).mean().over(in_group.clone())?)
            .otherwise(null_f64())
            .alias(GAP_TO_GROUP_AVERAGE),
        when(col(PEER_GROUP).is_not_null())
            .then(col(VALUE).count().over(in_group)?.cast(DataType::UInt32))
            .otherwise(lit(NULL).cast(DataType::UInt32))
            .alias(GROUP_COUNT),
    ]))
}

/// The latest observation with a value of each entity and indicator (a yearly figure wins
/// over a monthly one ending in the same month).
pub(crate) fn latest(series: LazyFrame) -> PolarsResult<LazyFrame> {
    let freq_rank = when(col(FREQ).eq(lit("Y"))).then(lit(2)).when(col(FREQ).eq(lit("Q"))).then(lit(1)).otherwise(lit(0));
    let rank = col(END_MONTH) * lit(4) + freq_rank;
    let latest_rank = col("_rank").max().over([col(ENTITY), col(INDICATOR)])?;
    Ok(series
        .filter(col(VALUE).is_not_null())
        .with_column(rank.alias("_rank"))
        .filter(col("_rank").eq(latest_rank))
        .drop(cols(["_rank"]))
        .sort([ENTITY, INDICATOR], SortMultipleOptions::default()))
}
