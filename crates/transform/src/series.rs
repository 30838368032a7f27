//! Growth of each series: year on year, period on period, year to date, since the base.

use contract::columns::*;
use contract::{Catalogue, Period};
use polars::prelude::*;

use crate::frames::{indicator_frame, membership_frame};
use crate::out::*;

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

/// Rows keyed (`_k`) by the period `months` after their own, carrying `carried` along: joined
/// back on `_k`, each row meets the values of the period that many months before it.
fn keyed_later(frame: LazyFrame, months: Expr, carried: Vec<Expr>) -> LazyFrame {
    let mut columns = vec![(col(KEY) + months).alias(KEY)];
    columns.extend(carried);
    frame.select(columns)
}

/// Months from one period of a row's frequency to the next.
fn step() -> Expr {
    when(col(FREQ).eq(lit("M"))).then(lit(1u64)).when(col(FREQ).eq(lit("Q"))).then(lit(3u64)).otherwise(lit(12u64))
}

fn join_on_key(frame: LazyFrame, other: LazyFrame) -> LazyFrame {
    join_on(frame, other, KEY)
}

/// A left join on one integer key that keeps the left frame's row order.
fn join_on(frame: LazyFrame, other: LazyFrame, key: &str) -> LazyFrame {
    let mut args = JoinArgs::new(JoinType::Left);
    args.maintain_order = MaintainOrderJoin::Left;
    frame.join(other, [col(key)], [col(key)], args)
}

/// Integer keys, so that joins and windows compare one number instead of several strings.
/// `_sid`: the series (entity, indicator, frequency); `_k`: the series and the period's end
/// month; `_pk`: the parent's `_k`; `_peer`: parent, level, indicator and period.
const KEY: &str = "_k";
const SERIES_ID: &str = "_sid";
const PARENT_KEY: &str = "_pk";
const PEERS: &str = "_peer";
const ENTITY_PERIOD: &str = "_ek";
/// Entity and indicator, kept in the series frame for [`latest`].
const ENTITY_INDICATOR: &str = "_ei";
/// Bits of each part: entities, levels, indicators, frequencies and end months.
const ENTITY_BITS: u32 = 20;
const INDICATOR_BITS: u32 = 12;
const MONTH_BITS: u32 = 16;

fn shifted(expr: Expr, bits: u32) -> Expr {
    expr * lit(1u64 << bits)
}

/// `_eid`, `_peid` (the parent's id, or a sentinel no entity has), `_lvl` and the parent and level as text.
fn entity_ids(catalogue: &Catalogue) -> PolarsResult<DataFrame> {
    let index: std::collections::HashMap<&str, u64> = catalogue.entities.keys().enumerate().map(|(i, code)| (code.as_str(), i as u64)).collect();
    let entities: Vec<_> = catalogue.entities.values().collect();
    let root = (1u64 << ENTITY_BITS) - 1;
    df![
        "_e_entity" => entities.iter().map(|e| e.code.as_str()).collect::<Vec<_>>(),
        "_eid" => entities.iter().map(|e| index[e.code.as_str()]).collect::<Vec<_>>(),
        "_peid" => entities.iter().map(|e| e.parent.as_deref().and_then(|p| index.get(p).copied()).unwrap_or(root)).collect::<Vec<_>>(),
        "_lvl" => entities.iter().map(|e| e.level as u64).collect::<Vec<_>>(),
        "_e_parent" => entities.iter().map(|e| e.parent.clone()).collect::<Vec<_>>(),
        "_e_level" => entities.iter().map(|e| format!("{:?}", e.level).to_lowercase()).collect::<Vec<_>>(),
    ]
}

/// Adds the integer keys to observations joined with [`entity_ids`] and the indicators' `_iid`.
fn with_keys(frame: LazyFrame) -> LazyFrame {
    let freq = when(col(FREQ).eq(lit("M"))).then(lit(0u64)).when(col(FREQ).eq(lit("Q"))).then(lit(1u64)).otherwise(lit(2u64));
    let month = col(END_MONTH).cast(DataType::UInt64);
    let series = |entity: Expr| shifted(shifted(entity, INDICATOR_BITS) + col("_iid"), 2) + freq.clone();
    frame.with_columns([
        series(col("_eid")).alias(SERIES_ID),
        (shifted(series(col("_eid")), MONTH_BITS) + month.clone()).alias(KEY),
        (shifted(series(col("_peid")), MONTH_BITS) + month.clone()).alias(PARENT_KEY),
        (shifted(series(shifted(col("_peid"), 3) + col("_lvl")), MONTH_BITS) + month.clone()).alias(PEERS),
        (shifted(shifted(col("_eid"), 2) + freq.clone(), MONTH_BITS) + month).alias(ENTITY_PERIOD),
        (shifted(col("_eid"), INDICATOR_BITS) + col("_iid")).alias(ENTITY_INDICATOR),
    ])
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
///
/// The observations are sorted once by series and period into a wide frame that is never
/// reordered again. The measures are computed on a narrow frame of keys, values and flags, whose
/// joins keep its row order (each key is unique), and are then set beside the wide frame's
/// columns: the strings of the wide frame are never gathered by a join.
pub(crate) fn series(observations: LazyFrame, catalogue: &Catalogue, period: Period, base_period: Option<Period>) -> PolarsResult<LazyFrame> {
    let indicators = indicator_frame(catalogue)?.lazy().with_row_index("_iid", None).with_column(col("_iid").cast(DataType::UInt64));
    let in_scope = observations.filter(col(END_MONTH).lt_eq(lit(period.end_month_index())));
    let with_groups = with_group_totals(in_scope, catalogue)?;
    let frame = with_groups
        .join(entity_ids(catalogue)?.lazy(), [col(ENTITY)], [col("_e_entity")], JoinArgs::new(JoinType::Left))
        .join(indicators, [col(INDICATOR)], [col("indicator")], JoinArgs::new(JoinType::Left));
    // One row per key: where two sources give the same figure, the first source's is used.
    let wide = with_keys(frame).unique_stable(Some(cols([KEY])), UniqueKeepStrategy::First).sort([KEY], SortMultipleOptions::default()).collect()?;
    let id_of = |name: &str| catalogue.indicators.keys().position(|code| code == name).map(|i| i as u64);
    let hukou = id_of("urban_rate_hukou").zip(id_of("urban_rate_resident"));
    let narrow = wide
        .clone()
        .lazy()
        .select([
            col(KEY),
            col(SERIES_ID),
            col(PARENT_KEY),
            col(PEERS),
            col(ENTITY_PERIOD),
            col("_iid"),
            col(VALUE),
            col(FREQ),
            col(YEAR),
            col(SUB),
            col(END_MONTH),
            col(PERIOD),
            col(BASIS).eq(lit("points")).alias("_points"),
            col("kind").eq(lit("flow")).alias("_flow"),
            col("accumulation").eq(lit("ytd")).alias("_ytd"),
            col("accumulation").eq(lit("period")).alias("_period_flow"),
            when(col("direction").eq(lit("down"))).then(lit(-1.0)).otherwise(lit(1.0)).alias("_sign"),
        ])
        .collect()?;
    let inputs: Vec<String> = narrow.get_column_names().iter().map(|n| n.to_string()).collect();
    let measured = measures(narrow.lazy(), base_period, hukou)?.collect()?;
    let added: Vec<Column> = measured.columns().iter().filter(|c| !inputs.iter().any(|i| i == c.name().as_str())).cloned().collect();
    let series = wide.hstack(&added)?.drop_many([KEY, SERIES_ID, PARENT_KEY, PEERS, ENTITY_PERIOD, "_eid", "_peid", "_lvl", "_iid"]);
    with_group_peers(series.lazy(), catalogue)
}

/// Every growth measure of the narrow frame, in its row order.
fn measures(frame: LazyFrame, base_period: Option<Period>, hukou: Option<(u64, u64)>) -> PolarsResult<LazyFrame> {
    let points = col("_points");
    // Year-to-date totals: the published total for `ytd` flows; the sum of every month so far
    // for `period` flows, empty when any month is missing (never read as zero).
    let window = [col(SERIES_ID), col(YEAR)];
    let present_so_far = col(VALUE).is_not_null().cast(DataType::Int32).cum_sum(false).over(window.clone())?;
    let frame = frame.with_column(
        when(col("_flow").and(col(FREQ).eq(lit("Y"))))
            .then(col(VALUE))
            .when(col("_flow").and(col("_ytd")))
            .then(col(VALUE))
            .when(col("_flow").and(col("_period_flow")).and(present_so_far.eq(col(SUB))))
            .then(col(VALUE).cum_sum(false).over(window)?)
            .otherwise(null_f64())
            .alias(YTD_VALUE),
    );
    // The same period a year and two years earlier, and the previous period.
    let last_year = keyed_later(frame.clone(), lit(12u64), vec![col(VALUE).alias(VALUE_LAST_YEAR), col(YTD_VALUE).alias("ytd_value_last_year")]);
    let two_years_ago = keyed_later(frame.clone(), lit(24u64), vec![col(VALUE).alias("value_two_years_ago")]);
    let previous = keyed_later(frame.clone(), step(), vec![col(VALUE).alias("value_previous")]);
    // The base: the configured base period's observation, else the series' first with a value.
    let candidates = frame.clone().filter(col(VALUE).is_not_null());
    let candidates = match base_period {
        Some(base) => candidates.filter(col(PERIOD).eq(lit(base.to_string()))),
        None => candidates,
    };
    let base = candidates.filter(col(END_MONTH).eq(col(END_MONTH).min().over([col(SERIES_ID)])?)).select([
        col(SERIES_ID),
        col(PERIOD).alias(BASE_PERIOD),
        col(VALUE).alias(BASE_VALUE),
        col(END_MONTH).alias("base_end_month"),
    ]);
    let joined = join_on(join_on_key(join_on_key(join_on_key(frame, last_year), two_years_ago), previous), base, SERIES_ID);

    let joined = joined.collect()?.lazy();
    let years_since_base = (col(END_MONTH) - col("base_end_month")).cast(DataType::Float64) / lit(12.0);
    // The value of the period itself: a year-to-date total differenced within its year (the
    // first period is its own total; a missing earlier month leaves it empty, never invented).
    let is_ytd = col("_ytd").and(col(FREQ).neq(lit("Y")));
    let joined = joined.with_column(
        when(is_ytd.clone().not())
            .then(col(VALUE))
            .when(col(SUB).eq(lit(1)))
            .then(col(VALUE))
            .otherwise(col(VALUE) - col("value_previous"))
            .alias(PERIOD_VALUE),
    );
    let previous_period_value = keyed_later(joined.clone(), step(), vec![col(PERIOD_VALUE).alias("period_value_previous")]);
    let joined = join_on_key(joined, previous_period_value);
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
    with_parent_measures(result.collect()?.lazy(), points, hukou)
}

/// Share of the parent, contribution (贡献率) and pull (拉动) to the parent's growth, and dense
/// ranks among peers (same parent and level) by value and by growth, honouring the direction;
/// `hukou` holds the ids of the registered and the resident urbanization rates, where both are indicators.
fn with_parent_measures(frame: LazyFrame, points: Expr, hukou: Option<(u64, u64)>) -> PolarsResult<LazyFrame> {
    let parent_values =
        frame.clone().select([col(KEY).alias(PARENT_KEY), col(VALUE).alias("parent_value"), col(VALUE_LAST_YEAR).alias("parent_value_last_year")]);
    let frame = join_on(frame, parent_values, PARENT_KEY);
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
    let dense = RankOptions { method: RankMethod::Dense, descending: true };
    let peers = [col(PEERS)];
    // 两率差: the resident minus the registered (户籍) urbanization rate, in points.
    let frame = match hukou {
        Some((registered, resident)) => {
            let rates = frame.clone().filter(col("_iid").eq(lit(registered))).select([col(ENTITY_PERIOD), col(VALUE).alias("_hukou_rate")]);
            join_on(frame, rates, ENTITY_PERIOD).with_column(
                when(col("_iid").eq(lit(resident))).then(col(VALUE) - col("_hukou_rate")).otherwise(null_f64()).alias(RESIDENT_MINUS_HUKOU_PP),
            )
        }
        None => frame.with_columns([null_f64().alias("_hukou_rate"), null_f64().alias(RESIDENT_MINUS_HUKOU_PP)]),
    };
    let frame = frame.with_columns([
        (col(VALUE) - col("parent_value")).alias(GAP_TO_PARENT),
        (col(VALUE) - col(VALUE).mean().over(peers.clone())?).alias(GAP_TO_PEER_AVERAGE),
        (col(VALUE) * col("_sign")).rank(dense, None).over(peers.clone())?.cast(DataType::UInt32).alias(RANK_VALUE),
        (col(GROWTH) * col("_sign")).rank(dense, None).over(peers.clone())?.cast(DataType::UInt32).alias(RANK_GROWTH),
        col(VALUE).count().over(peers)?.cast(DataType::UInt32).alias(PEER_COUNT),
    ]);
    // Movers: the change in rank and in growth since the previous period, keyed by the period that follows it.
    let frame = frame.collect()?.lazy();
    let previous = keyed_later(frame.clone(), step(), vec![col(RANK_VALUE).alias("_rank_previous"), col(GROWTH).alias("_growth_previous")]);
    Ok(join_on_key(frame, previous)
        .with_columns([
            (col("_rank_previous").cast(DataType::Int64) - col(RANK_VALUE).cast(DataType::Int64)).alias(RANK_CHANGE),
            (col(GROWTH) - col("_growth_previous")).alias(GROWTH_CHANGE),
        ])
        .drop(cols(["_rank_previous", "_growth_previous"])))
}

/// Rank and gap to the average within a configured group, for its members (an entity in several
/// groups is placed in the first by code).
fn with_group_peers(frame: LazyFrame, catalogue: &Catalogue) -> PolarsResult<LazyFrame> {
    let members = membership_frame(catalogue)?;
    if members.height() == 0 {
        return Ok(frame.with_columns([
            lit(NULL).cast(DataType::String).alias(PEER_GROUP),
            lit(NULL).cast(DataType::UInt32).alias(RANK_VALUE_IN_GROUP),
            null_f64().alias(GAP_TO_GROUP_AVERAGE),
            lit(NULL).cast(DataType::UInt32).alias(GROUP_COUNT),
        ]));
    }
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
    let rank = when(col(VALUE).is_not_null()).then(col(END_MONTH) * lit(4) + freq_rank).otherwise(lit(NULL).cast(DataType::Int32));
    // One filter of the wide frame, by a mask computed on narrow columns.
    Ok(series.filter(rank.clone().eq(rank.max().over([col(ENTITY_INDICATOR)])?)).sort([ENTITY, INDICATOR], SortMultipleOptions::default()))
}
