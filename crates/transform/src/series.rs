//! Growth of each series: year on year, period on period, year to date, since the base.

use contract::columns::*;
use contract::{Catalogue, Frequency, Period};
use polars::prelude::*;

use crate::frames::{indicator_frame, membership_frame};
use crate::Measures;
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
    first_note(&[
        (value.clone().is_null(), "no value"),
        (base.clone().is_null(), "no value for the comparison period"),
        (points.clone().not().and(base.lt_eq(lit(0.0))), "base is zero or negative: percent change undefined"),
        (points.not().and(value.lt(lit(0.0))), "sign change: percent change undefined"),
    ])
}

/// The text of the first of `cases` whose condition holds, else null. The conditions choose a
/// small integer and the texts are gathered once by it: a chain of `when/then` on strings would
/// build a whole string column per case.
pub(crate) fn first_note(cases: &[(Expr, &str)]) -> Expr {
    let texts = Series::new("notes".into(), cases.iter().map(|(_, text)| *text).collect::<Vec<_>>());
    let code = cases.iter().enumerate().rev().fold(lit(NULL).cast(DataType::UInt32), |otherwise, (i, (condition, _))| {
        when(condition.clone()).then(lit(i as u32)).otherwise(otherwise)
    });
    lit(texts).gather(code, false)
}

/// A left join on one integer key that keeps the left frame's row order.
fn join_on(frame: LazyFrame, other: LazyFrame, key: &str) -> LazyFrame {
    join_on_exprs(frame, other, col(key), col(key))
}

fn join_on_exprs(frame: LazyFrame, other: LazyFrame, left: Expr, right: Expr) -> LazyFrame {
    let mut args = JoinArgs::new(JoinType::Left);
    args.maintain_order = MaintainOrderJoin::Left;
    frame.join(other, [left], [right], args)
}

/// Integer keys, so that joins and windows compare one number instead of several strings.
/// `_sid`: the series (entity, indicator, frequency); `_k`: the series and the period's end
/// month; `_pk`: the parent's `_k`; `_peer`: parent, level, indicator and period.
const KEY: &str = "_k";
pub(crate) const SERIES_ID: &str = "_sid";
const PARENT_KEY: &str = "_pk";
const PEERS: &str = "_peer";
const ENTITY_PERIOD: &str = "_ek";
/// Entity and indicator, kept in the series frame for [`latest`] and the targets: see [`entity_indicator_keys`].
pub(crate) const ENTITY_INDICATOR: &str = "_ei";
/// Months from one period of the series to the next: 1, 3 or 12.
const STEP: &str = "_step";
/// Higher is better (1.0) or lower is (-1.0): the indicator's direction, as a sign for ranks.
const SIGN: &str = "_sign";
/// A row's position in the sorted frame, and the positions of the rows it is compared with.
const ROW: &str = "_row";
/// Bits of each part: entities, levels, indicators, frequencies and end months.
const ENTITY_BITS: u32 = 20;
const INDICATOR_BITS: u32 = 12;
const MONTH_BITS: u32 = 16;

/// Each code's catalogue id: its position among the catalogue's codes.
fn catalogue_ids<V>(codes: &std::collections::BTreeMap<String, V>) -> std::collections::HashMap<&str, u64> {
    codes.keys().enumerate().map(|(i, code)| (code.as_str(), i as u64)).collect()
}

/// The [`ENTITY_INDICATOR`] keys of `frame`'s rows, one column for each (entity code column,
/// name) of `entities` with the indicator codes of `indicator` (null where the catalogue lacks
/// either): their catalogue ids as one integer, as the series frame has them.
pub(crate) fn entity_indicator_keys(catalogue: &Catalogue, frame: &DataFrame, entities: &[(&str, &str)], indicator: &str) -> PolarsResult<Vec<Column>> {
    let (entity_ids, indicator_ids) = (catalogue_ids(&catalogue.entities), catalogue_ids(&catalogue.indicators));
    let indicators = frame.column(indicator)?.str()?;
    entities
        .iter()
        .map(|(codes, name)| {
            let keys = frame.column(codes)?.str()?.iter().zip(indicators.iter()).map(|(entity, indicator)| {
                Some((entity_ids.get(entity?)? << INDICATOR_BITS) + indicator_ids.get(indicator?)?)
            });
            Ok(Column::new((*name).into(), keys.collect::<Vec<_>>()))
        })
        .collect()
}

/// The indicator and frequency of a row of the series frame, as one integer (the low bits of `_sid`).
pub(crate) fn indicator_key() -> Expr {
    col(SERIES_ID) % lit(1u64 << (INDICATOR_BITS + 2))
}

fn shifted(expr: Expr, bits: u32) -> Expr {
    expr * lit(1u64 << bits)
}

/// The catalogue ids of an observation's entity and indicator (their positions in the catalogue,
/// `u32`), which [`identified`] adds.
pub(crate) const ENTITY_ID: &str = "_eid";
pub(crate) const INDICATOR_ID: &str = "_iid";
/// The frequency as a number that orders it: its position in [`FREQUENCIES`] (`u8`).
pub(crate) const FREQUENCY_ID: &str = "_freq";
/// The frequencies, least to most recent within one end month: [`FREQUENCY_ID`] is the position here.
const FREQUENCIES: [Frequency; 3] = Frequency::ALL;

/// The observations with the groups' totals appended and each row's [`ENTITY_ID`] and
/// [`INDICATOR_ID`] (null for a code the catalogue lacks) and [`FREQUENCY_ID`]: strings are
/// joined to ids once, for all the observations, so that each part is chosen by an integer and
/// keyed without joining or comparing strings.
/// The ids are joined on a narrow copy of the two code columns and set beside the others, which
/// are shared, not copied.
pub(crate) fn identified(observations: &DataFrame, catalogue: &Catalogue) -> PolarsResult<DataFrame> {
    let ids = |codes: Vec<&str>, id: &str| df!["_code" => &codes, id => (0..codes.len() as u32).collect::<Vec<_>>()];
    let entities = ids(catalogue.entities.keys().map(String::as_str).collect(), ENTITY_ID)?;
    let indicators = ids(catalogue.indicators.keys().map(String::as_str).collect(), INDICATOR_ID)?;
    let observations = with_group_totals(observations.clone().lazy(), catalogue)?.collect()?;
    // Each id from its own one-column frame: a join carries the other columns through (a copy
    // of each code column at national scale, 0.5 GB each, at the run's peak).
    let joined_id = |code: &str, table: DataFrame, id: &str| -> PolarsResult<Column> {
        let joined = join_on_exprs(observations.select([code])?.lazy(), table.lazy(), col(code), col("_code")).select([col(id)]).collect()?;
        Ok(joined.column(id)?.clone())
    };
    // The position in FREQUENCIES of the row's code (the last, yearly, for any other code).
    let last = FREQUENCIES.len() - 1;
    let frequency = FREQUENCIES[..last]
        .iter()
        .enumerate()
        .rev()
        .fold(lit(last as u8), |otherwise, (i, f)| when(col(FREQ).eq(lit(f.code()))).then(lit(i as u8)).otherwise(otherwise));
    let frequency = observations.select([FREQ])?.lazy().select([frequency.alias(FREQUENCY_ID)]).collect()?;
    let ids = DataFrame::new(
        observations.height(),
        vec![joined_id(ENTITY, entities, ENTITY_ID)?, joined_id(INDICATOR, indicators, INDICATOR_ID)?, frequency.column(FREQUENCY_ID)?.clone()],
    )?;
    // In chunks of the same lengths as the other columns': a filter of columns chunked
    // differently would first copy them all into one chunk.
    // (A column of one value for all rows has no chunks: the entity column always has.)
    let lengths: Vec<usize> = observations.column(ENTITY)?.as_materialized_series().chunk_lengths().collect();
    let matched = ids.columns().iter().map(|ids| {
        let ids = ids.as_materialized_series().rechunk();
        let chunks = ids.chunks().first().map(|chunk| lengths.iter().scan(0, |at, len| {
            let slice = chunk.sliced(*at, *len);
            *at += len;
            Some(slice)
        }).collect::<Vec<_>>());
        Series::try_from((ids.name().clone(), chunks.unwrap_or_default())).map(Column::from)
    });
    observations.hstack(&matched.collect::<PolarsResult<Vec<_>>>()?)
}

/// The rows of each part of `parts` (groups of indicator codes) up to `period`, as their
/// positions in `observations` (ascending): one pass over all the observations, not one per
/// part. One part takes every row, whatever its indicator.
pub(crate) fn rows_by_part(observations: &DataFrame, catalogue: &Catalogue, parts: &[Vec<&str>], period: Period) -> PolarsResult<Vec<IdxCa>> {
    let part = match parts.len() {
        0 | 1 => lit(0u32).cast(DataType::UInt32),
        _ => {
            let of_id: Vec<Option<u32>> =
                catalogue.indicators.keys().map(|code| parts.iter().position(|codes| codes.contains(&code.as_str())).map(|i| i as u32)).collect();
            lit(Series::new("_parts".into(), of_id)).gather(col(INDICATOR_ID), false)
        }
    };
    let rows = observations
        .select([INDICATOR_ID, END_MONTH])?
        .lazy()
        .with_row_index("_src", None)
        .filter(col(END_MONTH).lt_eq(lit(period.end_month_index())))
        .select([col("_src"), part.alias("_part")])
        .filter(col("_part").is_not_null())
        .collect()?;
    let mut by_part = vec![IdxCa::from_vec("_src".into(), Vec::new()); parts.len().max(1)];
    for part in rows.partition_by_stable(["_part"], true)? {
        if let Some(i) = part.column("_part")?.u32()?.get(0) {
            by_part[i as usize] = part.column("_src")?.idx()?.clone();
        }
    }
    Ok(by_part)
}

/// Each column of `table`, whose row `i` describes id `i`, at the id in column `by` (null where
/// the id is null): a gather per column, no join.
fn looked_up(table: &DataFrame, by: &str) -> Vec<Expr> {
    table.columns().iter().map(|column| lit(column.as_materialized_series().clone()).gather(col(by), false).alias(column.name().clone())).collect()
}

/// By entity id: `_peid` (the parent's id, or a sentinel no entity has) and `_lvl`.
fn entity_table(catalogue: &Catalogue) -> PolarsResult<DataFrame> {
    let index = catalogue_ids(&catalogue.entities);
    let entities: Vec<_> = catalogue.entities.values().collect();
    let root = (1u64 << ENTITY_BITS) - 1;
    df![
        "_peid" => entities.iter().map(|e| e.parent.as_deref().and_then(|p| index.get(p).copied()).unwrap_or(root)).collect::<Vec<_>>(),
        "_lvl" => entities.iter().map(|e| e.level as u64).collect::<Vec<_>>(),
    ]
}

/// By indicator id: the basis and the flags the measures read.
fn indicator_table(catalogue: &Catalogue) -> PolarsResult<DataFrame> {
    indicator_frame(catalogue)?
        .lazy()
        .select([
            col(BASIS),
            col(BASIS).eq(lit("points")).alias("_points"),
            col("kind").eq(lit("flow")).alias("_flow"),
            col("accumulation").eq(lit("ytd")).alias("_ytd"),
            col("accumulation").eq(lit("period")).alias("_period_flow"),
            when(col("direction").eq(lit("down"))).then(lit(-1.0)).otherwise(lit(1.0)).alias(SIGN),
        ])
        .collect()
}

/// An id column as `u64`, for the keys' arithmetic.
fn id(name: &str) -> Expr {
    col(name).cast(DataType::UInt64)
}

/// The series key of a row whose entity (or parent, or peers' place) is `entity`: entity,
/// indicator and frequency in one integer.
fn series_key(entity: Expr) -> Expr {
    shifted(shifted(entity, INDICATOR_BITS) + id(INDICATOR_ID), 2) + id(FREQUENCY_ID)
}

/// A series key with the row's end month: unique per observation of one source.
fn month_key(series: Expr) -> Expr {
    shifted(series, MONTH_BITS) + id(END_MONTH)
}

/// Adds the integer keys but [`KEY`] (see [`series`]) to observations with their ids and
/// [`entity_table`]'s columns.
fn with_keys(frame: LazyFrame) -> LazyFrame {
    frame.with_columns([
        series_key(id(ENTITY_ID)).alias(SERIES_ID),
        month_key(series_key(col("_peid"))).alias(PARENT_KEY),
        month_key(series_key(shifted(col("_peid"), 3) + col("_lvl"))).alias(PEERS),
        month_key(shifted(id(ENTITY_ID), 2) + id(FREQUENCY_ID)).alias(ENTITY_PERIOD),
        (shifted(id(ENTITY_ID), INDICATOR_BITS) + id(INDICATOR_ID)).alias(ENTITY_INDICATOR),
        // Months from one period of the series to the next.
        lit(Series::new("_months".into(), FREQUENCIES.map(|f| (12 / f.per_year()) as u64))).gather(col(FREQUENCY_ID), false).alias(STEP),
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

/// The series frame: each observation of [`identified`]'s frame at the positions `rows` (a part's, from
/// [`rows_by_part`]) with its growth measures, and the series' integer id `_sid` (entity,
/// indicator, frequency), `_ei` (entity, indicator) and `_freq` for the later steps.
///
/// The keys are computed on a narrow frame of the identifying columns and sorted by series and
/// period; the observations are then gathered into that order (the first source's row where
/// two sources give the same figure). The measures compare rows by position: each
/// comparison (a year earlier, the previous period, the parent, the base) is a column of row
/// positions found by joining two key columns, and the values are gathered from those
/// positions, so no join ever copies the frame itself.
pub(crate) fn series(observations: &DataFrame, rows: &IdxCa, catalogue: &Catalogue, base_period: Option<Period>, wanted: &Measures) -> PolarsResult<LazyFrame> {
    // The part's rows are gathered in their order in the observations, then ordered by their
    // key (one sort of the key alone) and gathered into that order: two gathers that each copy
    // a string's view, where one gather in the keys' order would copy each string (see
    // [`take_rows`]). The other keys and the lookups are computed on the ordered rows, beside
    // the sorted key.
    let gathering = sub_step("gather observations");
    let part = take_rows(observations.clone(), rows)?;
    drop(gathering);
    let sorting = sub_step("keys and order");
    // One row per key: where two sources give the same figure, the first source's is used.
    let order = part
        .clone()
        .lazy()
        .select([month_key(series_key(id(ENTITY_ID))).alias(KEY)])
        .with_row_index("_pos", None)
        .sort([KEY], SortMultipleOptions::default().with_maintain_order(true))
        .filter(col(KEY).neq_missing(col(KEY).shift(lit(1))))
        .collect()?;
    let ordered = take_rows(part, order.column("_pos")?.idx()?)?.hstack(&[order.column(KEY)?.clone()])?;
    let mut looked_up = looked_up(&entity_table(catalogue)?, ENTITY_ID);
    looked_up.extend(self::looked_up(&indicator_table(catalogue)?, INDICATOR_ID));
    let wide = with_keys(ordered.lazy().with_columns(looked_up)).drop(cols(["_peid", "_lvl"])).collect()?;
    drop(sorting);
    let indicator_ids = catalogue_ids(&catalogue.indicators);
    let id_of = |name: &str| indicator_ids.get(name).map(|i| *i as u32);
    let hukou = id_of("urban_rate_hukou").zip(id_of("urban_rate_resident")).filter(|_| wanted.wants(RESIDENT_MINUS_HUKOU_PP));
    let narrow = wide.select([
        KEY,
        SERIES_ID,
        PARENT_KEY,
        PEERS,
        ENTITY_PERIOD,
        INDICATOR_ID,
        VALUE,
        STEP,
        YEAR,
        SUB,
        END_MONTH,
        PERIOD,
        "_points",
        "_flow",
        "_ytd",
        "_period_flow",
        SIGN,
    ])?;
    let inputs: Vec<String> = narrow.get_column_names().iter().map(|n| n.to_string()).collect();
    let measured = measures(narrow, base_period, hukou, wanted)?;
    let added: Vec<Column> =
        measured.columns().iter().filter(|c| !inputs.iter().any(|i| i == c.name().as_str()) && !c.name().starts_with('_')).cloned().collect();
    let series = wide.hstack(&added)?.drop_many([KEY, PARENT_KEY, PEERS, ENTITY_PERIOD, ENTITY_ID, INDICATOR_ID, STEP, "_points", "_flow", "_ytd", "_period_flow"]);
    let series = if wanted.wants_any(&GROUP_PEER_MEASURES) { with_group_peers(series.lazy(), catalogue)? } else { series.lazy() };
    Ok(series.drop(cols([SIGN])))
}

/// The rows of `frame` at `positions` (no nulls), in their order, as one chunk per column.
/// Polars gathers from a string column of several chunks (the reader's row groups and parts,
/// the group totals) value by value, copying each string into new buffers; from one chunk it
/// copies the strings' 16-byte views and shares their buffers. So positions that ascend (a
/// part's rows, from [`rows_by_part`]) are split by chunk and each chunk gathers its run;
/// other positions are left to Polars. Each column of `frame` is dropped once it is gathered;
/// a frame of single chunks asked for all its rows in order (input already in key order) is
/// given back as it is.
fn take_rows(mut frame: DataFrame, positions: &IdxCa) -> PolarsResult<DataFrame> {
    let contiguous = positions.rechunk();
    let positions = contiguous.cont_slice()?;
    if !positions.is_sorted() {
        return frame.take(&contiguous);
    }
    // Strictly ascending positions, as many as the rows, are every row in order.
    let every_row = positions.len() == frame.height() && positions.is_sorted_by(|a, b| a < b);
    if every_row && frame.columns().iter().all(|column| column.n_chunks() <= 1) {
        return Ok(frame);
    }
    let names = frame.get_column_names_owned();
    let columns = names.iter().map(|name| frame.drop_in_place(name).and_then(|column| take_ascending(&column, positions)));
    DataFrame::new(positions.len(), columns.collect::<PolarsResult<Vec<_>>>()?)
}

/// The values of `column` at `positions`, which ascend, each chunk gathering its own run.
fn take_ascending(column: &Column, positions: &[IdxSize]) -> PolarsResult<Column> {
    let Some(series) = column.as_series().filter(|series| series.n_chunks() > 1) else {
        return column.take_slice(positions);
    };
    let mut gathered = series.clear();
    let (mut start, mut from) = (0usize, 0usize);
    for length in series.chunk_lengths() {
        let end = start + length;
        let to = from + positions[from..].partition_point(|p| (*p as usize) < end);
        let local: Vec<IdxSize> = positions[from..to].iter().map(|p| p - start as IdxSize).collect();
        gathered.append_owned(series.slice(start as i64, length).take_slice(&local)?)?;
        (start, from) = (end, to);
    }
    // One chunk again: the views are copied, the strings' buffers shared.
    Ok(Column::from(gathered.rechunk()))
}

/// A debug span around one step of the series stage, beside the engine's own steps.
fn sub_step(name: &'static str) -> tracing::span::EnteredSpan {
    tracing::debug_span!("series step", step = name).entered()
}

/// For each probe and each row of `frame`, the position (`_row`) of the row of `rows` whose
/// `_want` equals the probe, or null, as columns named `names`: one join of key columns only
/// (the probes stacked, so `rows` is hashed once), in the frame's row order.
fn positions<const N: usize>(frame: &DataFrame, probes: [Expr; N], rows: LazyFrame, names: [&str; N]) -> PolarsResult<[Column; N]> {
    let stacked = probes.into_iter().map(|probe| frame.clone().lazy().select([probe.alias("_want")])).collect::<Vec<_>>();
    let found = join_on(concat(stacked, UnionArgs::default())?, rows, "_want").select([col(ROW)]).collect()?;
    let (found, height) = (found.column(ROW)?, frame.height());
    Ok(std::array::from_fn(|i| found.slice((i * height) as i64, height).with_name(names[i].into())))
}

/// [`positions`] for probes that ascend with the frame's rows, in `rows` whose `_want` ascends
/// too: each probe is one merge of two sorted key columns (Polars' sorted left join), no hashing.
/// Both orders are the caller's promise: a probe marked ascending that is not gives wrong positions.
/// Each probe is given with the name of its column of positions.
fn ascending_positions(frame: &DataFrame, probes: &[(Expr, &str)], rows: DataFrame) -> PolarsResult<Vec<Column>> {
    let mut rows = rows;
    rows.apply("_want", |want| ascending(want.clone()))?;
    let probed = frame.clone().lazy().select(probes.iter().enumerate().map(|(i, (probe, _))| probe.clone().alias(format!("_want{i}"))).collect::<Vec<_>>()).collect()?;
    let mut found = Vec::with_capacity(probes.len());
    for (i, (_, name)) in probes.iter().enumerate() {
        let probe = ascending(probed.column(&format!("_want{i}"))?.clone().with_name("_want".into()));
        let joined = join_on(DataFrame::new(probe.len(), vec![probe])?.lazy(), rows.clone().lazy(), "_want").select([col(ROW).alias(*name)]).collect()?;
        found.push(joined.column(name)?.clone());
    }
    Ok(found)
}

/// `frame` with `expr` added, materialised on its own. Windows that rebuild each group (ranks,
/// running sums) are evaluated so: in one `with_columns` Polars runs them in parallel, and two
/// rank windows together take about three times as long as one after the other (Polars 0.55,
/// two cores).
fn with_alone(frame: DataFrame, expr: Expr) -> PolarsResult<DataFrame> {
    frame.lazy().with_column(expr).collect()
}

/// `frame` with `expr` added as the column `name`, marked ascending, so that windows over it
/// group runs of rows without hashing. The caller promises the order: a column so marked that
/// does not ascend gives wrong groups.
fn with_ascending(frame: DataFrame, expr: Expr, name: &str) -> PolarsResult<DataFrame> {
    let column = frame.clone().lazy().select([expr.alias(name)]).collect()?.column(name)?.clone();
    frame.hstack(&[ascending(column)])
}

/// `column` marked ascending, which Polars trusts: the caller promises the order.
fn ascending(mut column: Column) -> Column {
    column.set_sorted_flag(polars::series::IsSorted::Ascending);
    column
}

/// Dense rank of `value` within `group`, best first: higher is better unless the indicator's
/// direction is down (a signed key, ranked descending).
fn rank_within(value: Expr, group: &[Expr]) -> PolarsResult<Expr> {
    let dense = RankOptions { method: RankMethod::Dense, descending: true };
    Ok((value * col(SIGN)).rank(dense, None).over(group)?.cast(DataType::UInt32))
}

/// Within each group (the rows with equal `group` columns): each value's gap to the group's
/// average and the group's count of values (`gap_and_count`: their names, where wanted) and the
/// dense rank of each column of `ranks` (value column, name), as columns in `frame`'s row order. They run on a narrow copy
/// sorted stably by the group, so that each group is one run of rows (grouped without hashing),
/// each rank materialised on its own ([`with_alone`]).
fn within_groups(frame: &DataFrame, group: &[&str], gap_and_count: Option<(&str, &str)>, ranks: &[(&str, &str)]) -> PolarsResult<Vec<Column>> {
    let mut inputs = group.to_vec();
    for name in [VALUE, SIGN].into_iter().chain(ranks.iter().map(|(value, _)| *value)) {
        if !inputs.contains(&name) {
            inputs.push(name);
        }
    }
    let keys = named(group);
    let sorted = frame.select(inputs)?.with_row_index("_order".into(), None)?.sort(group.to_vec(), SortMultipleOptions::default().with_maintain_order(true))?;
    let mut sorted = match gap_and_count {
        Some((gap, count)) => sorted
            .lazy()
            .with_columns([
                (col(VALUE) - col(VALUE).mean().over(keys.clone())?).alias(gap),
                col(VALUE).count().over(keys.clone())?.cast(DataType::UInt32).alias(count),
            ])
            .collect()?,
        None => sorted,
    };
    for (value, name) in ranks {
        sorted = with_alone(sorted, rank_within(col(*value), &keys)?.alias(*name))?;
    }
    let gap_and_count = gap_and_count.into_iter().flat_map(|(gap, count)| [gap, count]);
    let outputs: Vec<&str> = std::iter::once("_order").chain(gap_and_count).chain(ranks.iter().map(|(_, name)| *name)).collect();
    let back = sorted.select(outputs)?.sort(["_order"], SortMultipleOptions::default())?;
    Ok(back.columns()[1..].to_vec())
}

/// The value of `expr` at the row positions in `at` (null where there is none).
fn at(expr: Expr, at: &str) -> Expr {
    expr.gather(col(at), true)
}

/// The measures of the series frame by the step that computes them, for [`Measures`]: each
/// step runs only where a requested measure needs it.
const TWO_YEAR_MEASURES: [&str; 1] = [TWO_YEAR_AVG_PCT];
const PARENT_MEASURES: [&str; 4] = [SHARE_OF_PARENT_PCT, CONTRIBUTION_PCT, PULL_PP, GAP_TO_PARENT];
const PEER_MEASURES: [&str; 5] = [RANK_VALUE, RANK_GROWTH, GAP_TO_PEER_AVERAGE, PEER_COUNT, RANK_CHANGE];
const GROUP_PEER_MEASURES: [&str; 4] = [PEER_GROUP, RANK_VALUE_IN_GROUP, GAP_TO_GROUP_AVERAGE, GROUP_COUNT];
/// Measures of the growth step that nothing else reads: left out of its plan when not requested.
const GROWTH_ONLY_MEASURES: [&str; 10] =
    [YOY_NOTE, POP_PCT, POP_CHANGE, YTD_VALUE, YTD_YOY_PCT, CHANGE_SINCE_BASE, CAGR_SINCE_BASE_PCT, AVG_CHANGE_SINCE_BASE, BASE_NOTE, PERIOD_VALUE];

/// Every growth measure of the narrow frame that `wanted` needs, in its row order.
fn measures(frame: DataFrame, base_period: Option<Period>, hukou: Option<(u32, u32)>, wanted: &Measures) -> PolarsResult<DataFrame> {
    let finding = sub_step("positions");
    let mut frame = frame.with_row_index(ROW.into(), None)?;
    // Positions of the same period a year and two years earlier, of the previous period and of
    // the parent's row: the rows whose key is this row's key moved back by that many months, or
    // the parent's key (a key never moves back past its series' months: month indexes are
    // years × 12, far above 24). The frame is sorted by its unique key, so the keys moved back
    // ascend with it too, and are merged; the parents' keys do not, and are hashed.
    let keys = frame.select([KEY, ROW])?.lazy().rename([KEY], ["_want"], true).collect()?;
    let two_years = wanted.wants_any(&TWO_YEAR_MEASURES);
    let mut probes = vec![(col(KEY) - lit(12u64), "_at_last_year"), (col(KEY) - col(STEP), "_at_previous")];
    if two_years {
        probes.push((col(KEY) - lit(24u64), "_at_two_years_ago"));
    }
    let mut found = ascending_positions(&frame, &probes, keys.clone())?;
    if wanted.wants_any(&PARENT_MEASURES) {
        let [parent] = positions(&frame, [col(PARENT_KEY)], keys.lazy(), ["_at_parent"])?;
        found.push(parent);
    }
    // The base: the configured base period's observation, else the series' first with a value
    // (the frame is sorted by series and period, so the first is the lowest position).
    let candidates = frame.clone().lazy().filter(col(VALUE).is_not_null());
    let candidates = match base_period {
        Some(base) => candidates.filter(col(PERIOD).eq(lit(base.to_string()))),
        None => candidates,
    };
    let base_rows = candidates
        .group_by([col(SERIES_ID)])
        .agg([col(ROW).min()])
        .select([col(SERIES_ID).alias("_want"), col(ROW)])
        .sort(["_want"], SortMultipleOptions::default())
        .collect()?;
    found.extend(ascending_positions(&frame, &[(col(SERIES_ID), "_at_base")], base_rows)?);
    let hukou_rows = match hukou {
        Some((registered, _)) => {
            let rates = frame.clone().lazy().filter(col(INDICATOR_ID).eq(lit(registered))).select([col(ENTITY_PERIOD).alias("_want"), col(ROW)]);
            let [rows] = positions(&frame, [col(ENTITY_PERIOD)], rates, ["_at_hukou"])?;
            Some(rows)
        }
        None => None,
    };
    frame.hstack_mut(&found)?;
    if let Some(rows) = hukou_rows {
        frame.with_column(rows)?;
    }

    drop(finding);
    let _growth = sub_step("growth");
    let points = col("_points");
    // Year-to-date totals: the published total for `ytd` flows; the sum of every month so far
    // for `period` flows, empty when any month is missing (never read as zero).
    // The running sums are windows over each series' year, only where the part has a period flow.
    let (present_so_far, running_total) = if frame.column("_period_flow")?.bool()?.any() {
        // The frame is sorted by series and period, so each series' year is one run of rows.
        frame = with_ascending(frame, shifted(col(SERIES_ID), MONTH_BITS) + col(YEAR).cast(DataType::UInt64), "_series_year")?;
        let series_year = [col("_series_year")];
        let present = col(VALUE).is_not_null().cast(DataType::Int32).cum_sum(false).over(series_year.clone())?;
        frame = with_alone(frame, present.alias("_present_so_far"))?;
        frame = with_alone(frame, col(VALUE).cum_sum(false).over(series_year)?.alias("_running_total"))?;
        (col("_present_so_far"), col("_running_total"))
    } else {
        (lit(NULL).cast(DataType::Int32), null_f64())
    };
    let yearly = col(STEP).eq(lit(12u64));
    let frame = frame.lazy().with_columns([
        when(col("_flow").and(yearly.clone()))
            .then(col(VALUE))
            .when(col("_flow").and(col("_ytd")))
            .then(col(VALUE))
            .when(col("_flow").and(col("_period_flow")).and(present_so_far.eq(col(SUB))))
            .then(running_total)
            .otherwise(null_f64())
            .alias(YTD_VALUE),
        at(col(VALUE), "_at_last_year").alias(VALUE_LAST_YEAR),
        if two_years { at(col(VALUE), "_at_two_years_ago") } else { null_f64() }.alias("_value_two_years_ago"),
        at(col(VALUE), "_at_previous").alias("_value_previous"),
        at(col(PERIOD), "_at_base").alias(BASE_PERIOD),
        at(col(VALUE), "_at_base").alias(BASE_VALUE),
        at(col(END_MONTH), "_at_base").alias("base_end_month"),
    ]);
    let years_since_base = (col(END_MONTH) - col("base_end_month")).cast(DataType::Float64) / lit(12.0);
    // The value of the period itself: a year-to-date total differenced within its year (the
    // first period is its own total; a missing earlier month leaves it empty, never invented).
    let is_ytd = col("_ytd").and(yearly.not());
    let frame = frame.with_columns([
        at(col(YTD_VALUE), "_at_last_year").alias("_ytd_value_last_year"),
        when(is_ytd.clone().not())
            .then(col(VALUE))
            .when(col(SUB).eq(lit(1)))
            .then(col(VALUE))
            .otherwise(col(VALUE) - col("_value_previous"))
            .alias(PERIOD_VALUE),
    ]);
    let frame = frame.with_column(at(col(PERIOD_VALUE), "_at_previous").alias("_period_value_previous"));
    let result = frame.with_columns([
        when(points.clone()).then(null_f64()).otherwise(percent_change(col(VALUE), col(VALUE_LAST_YEAR))).alias(YOY_PCT),
        (col(VALUE) - col(VALUE_LAST_YEAR)).alias(YOY_CHANGE),
        percent_change_note(col(VALUE), col(VALUE_LAST_YEAR), points.clone()).alias(YOY_NOTE),
        when(points.clone()).then(null_f64()).otherwise(percent_change(col(PERIOD_VALUE), col("_period_value_previous"))).alias(POP_PCT),
        (col(PERIOD_VALUE) - col("_period_value_previous")).alias(POP_CHANGE),
        percent_change(col(YTD_VALUE), col("_ytd_value_last_year")).alias(YTD_YOY_PCT),
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
        first_note(&[
            (col(VALUE).is_null(), "no value"),
            (col(BASE_VALUE).is_null(), "no value at the base period"),
            (years_since_base.clone().eq(lit(0.0)), "this is the base period"),
            (years_since_base.lt(lit(0.0)), "before the base period"),
            (points.clone(), "changes in points: see change_since_base and avg_change_since_base"),
            (col(BASE_VALUE).lt_eq(lit(0.0)), "base is zero or negative: growth undefined"),
            (col(VALUE).lt_eq(lit(0.0)), "value is zero or negative: growth undefined"),
        ])
        .alias(BASE_NOTE),
    ]);
    let result = result.with_columns([
        when(points.clone()).then(col(YOY_CHANGE)).otherwise(col(YOY_PCT)).alias(GROWTH),
        // sqrt(y_t / y_{t-2}) - 1: the level form, which works when the middle year is missing.
        when(points.clone().not().and(col("_value_two_years_ago").gt(lit(0.0))).and(col(VALUE).gt_eq(lit(0.0))))
            .then(((col(VALUE) / col("_value_two_years_ago")).sqrt() - lit(1.0)) * lit(100.0))
            .otherwise(null_f64())
            .alias(TWO_YEAR_AVG_PCT),
    ]);
    // Measures no one asked for are left out of the plan (and so not computed).
    let unwanted: Vec<&str> = GROWTH_ONLY_MEASURES.into_iter().chain(TWO_YEAR_MEASURES).filter(|name| !wanted.wants(name)).collect();
    // Materialise at the stage boundary: one deep lazy plan overflows thread stacks in the optimiser.
    let result = result.drop(cols(unwanted)).collect()?.lazy();
    drop(_growth);
    let _parents = sub_step("parents, peers and ranks");
    with_parent_measures(result, points, hukou, wanted)?.collect()
}

/// The parent's measures ([`with_parent_shares`]), 两率差 and dense ranks among peers (same parent
/// and level) by value and by growth, honouring the direction; `hukou` holds the ids of the
/// registered and the resident urbanization rates, where both are indicators and 两率差 is wanted.
/// Only the measures `wanted` asks for are computed (the parent's where [`measures`] found the
/// parents' rows, `_at_parent`, for them).
fn with_parent_measures(frame: LazyFrame, points: Expr, hukou: Option<(u32, u32)>, wanted: &Measures) -> PolarsResult<LazyFrame> {
    let frame = if wanted.wants_any(&PARENT_MEASURES) { with_parent_shares(frame, points) } else { frame };
    let frame = frame.with_column(
        // 两率差: the resident minus the registered (户籍) urbanization rate, in points.
        match hukou {
            Some((_, resident)) => when(col(INDICATOR_ID).eq(lit(resident))).then(col(VALUE) - at(col(VALUE), "_at_hukou")).otherwise(null_f64()),
            None => null_f64(),
        }
        .alias(RESIDENT_MINUS_HUKOU_PP),
    );
    let frame = frame.collect()?;
    // Movers: the change in growth (and below, in rank) since the previous period.
    let growth_change = (col(GROWTH) - at(col(GROWTH), "_at_previous")).alias(GROWTH_CHANGE);
    if !wanted.wants_any(&PEER_MEASURES) {
        return Ok(frame.lazy().with_column(growth_change));
    }
    let rank_value = wanted.wants_any(&[RANK_VALUE, RANK_CHANGE]).then_some((VALUE, RANK_VALUE));
    let rank_growth = wanted.wants(RANK_GROWTH).then_some((GROWTH, RANK_GROWTH));
    let ranks: Vec<(&str, &str)> = rank_value.into_iter().chain(rank_growth).collect();
    let gap_and_count = wanted.wants_any(&[GAP_TO_PEER_AVERAGE, PEER_COUNT]).then_some((GAP_TO_PEER_AVERAGE, PEER_COUNT));
    let peers = within_groups(&frame, &[PEERS], gap_and_count, &ranks)?;
    let frame = frame.hstack(&peers)?;
    let rank_change = match rank_value {
        Some(_) => at(col(RANK_VALUE), "_at_previous").cast(DataType::Int64) - col(RANK_VALUE).cast(DataType::Int64),
        None => lit(NULL).cast(DataType::Int64),
    };
    Ok(frame.lazy().with_columns([rank_change.alias(RANK_CHANGE), growth_change]))
}

/// Share of the parent, contribution (贡献率) and pull (拉动) to the parent's growth, and the
/// gap to the parent's value, for a frame with `_at_parent`.
fn with_parent_shares(frame: LazyFrame, points: Expr) -> LazyFrame {
    let frame = frame.with_columns([
        at(col(VALUE), "_at_parent").alias("_parent_value"),
        at(col(VALUE_LAST_YEAR), "_at_parent").alias("_parent_value_last_year"),
    ]);
    let parent_change = col("_parent_value") - col("_parent_value_last_year");
    let percent_basis = points.not();
    frame.with_columns([
        when(percent_basis.clone().and(col("_parent_value").neq(lit(0.0))))
            .then(col(VALUE) / col("_parent_value") * lit(100.0))
            .otherwise(null_f64())
            .alias(SHARE_OF_PARENT_PCT),
        when(percent_basis.clone().and(parent_change.clone().neq(lit(0.0))))
            .then(col(YOY_CHANGE) / parent_change * lit(100.0))
            .otherwise(null_f64())
            .alias(CONTRIBUTION_PCT),
        when(percent_basis.and(col("_parent_value_last_year").gt(lit(0.0))))
            .then(col(YOY_CHANGE) / col("_parent_value_last_year") * lit(100.0))
            .otherwise(null_f64())
            .alias(PULL_PP),
        (col(VALUE) - col("_parent_value")).alias(GAP_TO_PARENT),
    ])
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
    let frame = frame.join(first_group, [col(ENTITY)], [col("member")], JoinArgs::new(JoinType::Left)).collect()?;
    let measured = within_groups(&frame, &[PEER_GROUP, INDICATOR, PERIOD], Some((GAP_TO_GROUP_AVERAGE, GROUP_COUNT)), &[(VALUE, RANK_VALUE_IN_GROUP)])?;
    // Only the members of a group have a place in it.
    let in_group = col(PEER_GROUP).is_not_null();
    Ok(frame.hstack(&measured)?.lazy().with_columns(
        [GAP_TO_GROUP_AVERAGE, GROUP_COUNT, RANK_VALUE_IN_GROUP].map(|name| when(in_group.clone()).then(col(name)).otherwise(lit(NULL)).alias(name)),
    ))
}

/// How recent a row of the series frame is: its end month, and within one end month a yearly
/// figure before a quarterly and a quarterly before a monthly one (higher is more recent).
pub(crate) fn recency() -> Expr {
    col(END_MONTH) * lit(4) + col(FREQUENCY_ID).cast(DataType::Int32)
}

/// The latest observation with a value of each entity and indicator (a yearly figure wins
/// over a monthly one ending in the same month), in the series' order: [`crate::compute_by_indicator`]
/// sorts the parts' rows together.
pub(crate) fn latest(series: LazyFrame) -> PolarsResult<LazyFrame> {
    let rank = when(col(VALUE).is_not_null()).then(recency()).otherwise(lit(NULL).cast(DataType::Int32));
    // One filter of the wide frame, by a mask computed on narrow columns.
    Ok(series.filter(rank.clone().eq(rank.max().over([col(ENTITY_INDICATOR)])?)))
}
