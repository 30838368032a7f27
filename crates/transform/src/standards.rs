//! Standards (达标 checklists): each condition met or not at the latest value, each clause, each standard.
//!
//! Three-valued: a condition without a value is unknown (null); an unknown decides a clause or a
//! standard only when nothing else does (one false condition fails an all-of clause regardless).

use contract::columns::*;
use contract::{Catalogue, Combine, Comparator};
use polars::prelude::*;

/// The columns of the standards table, in order.
pub const STANDARD_COLUMNS: [&str; 12] = [
    "standard",
    "name",
    "entity",
    "clause",
    "indicator",
    "comparator",
    "threshold",
    "period",
    "value",
    "condition_met",
    "clause_met",
    "standard_met",
];

/// Combines booleans with AND (`all = true`) or OR, given the counts of true, false and unknown.
fn combine(all: Expr, n_true: Expr, n_false: Expr, n_unknown: Expr) -> Expr {
    when(all.clone().and(n_false.clone().gt(lit(0))))
        .then(lit(false))
        .when(all.clone().not().and(n_true.clone().gt(lit(0))))
        .then(lit(true))
        .when(n_unknown.gt(lit(0)))
        .then(lit(NULL).cast(DataType::Boolean))
        .otherwise(all)
}

fn counts(flag: &str) -> [Expr; 3] {
    [
        col(flag).eq(lit(true)).sum().alias("_n_true"),
        col(flag).eq(lit(false)).sum().alias("_n_false"),
        col(flag).is_null().sum().alias("_n_unknown"),
    ]
}

/// Checks every standard of the catalogue against `latest` (the latest value of each entity and indicator).
pub(crate) fn assess(latest: LazyFrame, catalogue: &Catalogue) -> PolarsResult<LazyFrame> {
    let mut rows: Vec<(String, String, bool, String, u32, String, &'static str, f64)> = Vec::new();
    for standard in &catalogue.standards {
        for entity in standard.entities(catalogue) {
            for condition in &standard.conditions {
                rows.push((
                    standard.code.clone(),
                    standard.name.clone(),
                    standard.combine == Combine::All,
                    entity.clone(),
                    condition.clause,
                    condition.indicator.clone(),
                    if condition.comparator == Comparator::AtMost { "<=" } else { ">=" },
                    condition.threshold,
                ));
            }
        }
    }
    let conditions = df![
        "standard" => rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        "name" => rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
        "_all" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        "entity" => rows.iter().map(|r| r.3.as_str()).collect::<Vec<_>>(),
        "clause" => rows.iter().map(|r| r.4).collect::<Vec<_>>(),
        "indicator" => rows.iter().map(|r| r.5.as_str()).collect::<Vec<_>>(),
        "comparator" => rows.iter().map(|r| r.6).collect::<Vec<_>>(),
        "threshold" => rows.iter().map(|r| r.7).collect::<Vec<_>>(),
    ]?;
    let values = latest.select([col(ENTITY).alias("_v_entity"), col(INDICATOR).alias("_v_indicator"), col(PERIOD), col(VALUE)]);
    let checked = conditions
        .lazy()
        .join(values, [col("entity"), col("indicator")], [col("_v_entity"), col("_v_indicator")], JoinArgs::new(JoinType::Left))
        .with_column(
            when(col("comparator").eq(lit(">=")))
                .then(col(VALUE).gt_eq(col("threshold")))
                .otherwise(col(VALUE).lt_eq(col("threshold")))
                .alias("condition_met"),
        );
    // Within a clause the operator is the other one: an all-of standard ORs its clause's conditions.
    let clause_key = [col("standard"), col("entity"), col("clause")];
    let mut clause_aggs = counts("condition_met").to_vec();
    clause_aggs.push(col("_all").first());
    let clauses = checked
        .clone()
        .group_by(clause_key.clone())
        .agg(clause_aggs)
        .with_column(combine(col("_all").not(), col("_n_true"), col("_n_false"), col("_n_unknown")).alias("clause_met"))
        .select([col("standard").alias("_c_standard"), col("entity").alias("_c_entity"), col("clause").alias("_c_clause"), col("clause_met"), col("_all")]);
    let mut standard_aggs = counts("clause_met").to_vec();
    standard_aggs.push(col("_all").first());
    let standards = clauses
        .clone()
        .group_by([col("_c_standard"), col("_c_entity")])
        .agg(standard_aggs)
        .with_column(combine(col("_all"), col("_n_true"), col("_n_false"), col("_n_unknown")).alias("standard_met"))
        .select([col("_c_standard").alias("_s_standard"), col("_c_entity").alias("_s_entity"), col("standard_met")]);
    Ok(checked
        .join(
            clauses.select([col("_c_standard"), col("_c_entity"), col("_c_clause"), col("clause_met")]),
            clause_key,
            [col("_c_standard"), col("_c_entity"), col("_c_clause")],
            JoinArgs::new(JoinType::Left),
        )
        .join(standards, [col("standard"), col("entity")], [col("_s_standard"), col("_s_entity")], JoinArgs::new(JoinType::Left))
        .sort(["standard", "entity", "clause", "indicator"], SortMultipleOptions::default())
        .select(STANDARD_COLUMNS.iter().map(|c| col(*c)).collect::<Vec<_>>()))
}
