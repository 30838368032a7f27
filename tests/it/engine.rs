//! Identities and rules of METRICS.md on small constructed inputs.

use contract::{Catalogue, SourceText};
use polars::prelude::*;

fn compute(entities: &str, indicators: &str, observations: &str, period: &str) -> transform::Metrics {
    let catalogue = Catalogue::load(
        SourceText { path: "entities.csv", text: entities },
        SourceText { path: "indicators.csv", text: indicators },
        SourceText { path: "targets.csv", text: "entity,indicator,comparator,target,deadline\n" },
    )
    .unwrap_or_else(|p| panic!("{p}"));
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join("observations.csv");
    std::fs::write(&path, observations).unwrap();
    let batch = ingest::read_csv_source(&ingest::CsvOptions { name: "t", path: &path, gb18030: false, max_bad_row_share: 0.0 }, &catalogue).unwrap();
    assert!(batch.issues.is_empty(), "{:?}", batch.issues);
    transform::compute(&batch.frame, &catalogue, period.parse().unwrap(), &transform::Settings::eurostat()).unwrap()
}

fn value(frame: &DataFrame, entity: &str, period: &str, column: &str) -> Option<f64> {
    let row = (0..frame.height()).find(|i| {
        frame.column("entity").unwrap().get(*i).unwrap().str_value() == entity && frame.column("period").unwrap().get(*i).unwrap().str_value() == period
    })?;
    frame.column(column).unwrap().get(row).unwrap().extract::<f64>()
}

const INDICATORS: &str = "code,name,unit,kind,accumulation,direction,decimals\n\
    gdp,地区生产总值,亿元,flow,,up,1\n\
    ratio,城乡居民收入比,,ratio,,down,2\n";
const ENTITIES: &str = "code,name,level,parent\nP,上级,county,\nA,甲镇,town,P\nB,乙镇,town,P\n";

#[test]
fn pulls_sum_to_the_parents_growth_and_contributions_to_100() {
    let observations = "entity,indicator,period,value\n\
        P,gdp,2024,100\nA,gdp,2024,60\nB,gdp,2024,40\n\
        P,gdp,2025,104\nA,gdp,2025,66\nB,gdp,2025,38\n";
    let metrics = compute(ENTITIES, INDICATORS, observations, "2025");
    let series = &metrics.series;
    let parent_growth = value(series, "P", "2025", "yoy_pct").unwrap();
    assert!((parent_growth - 4.0).abs() < 1e-9);
    let pulls = value(series, "A", "2025", "pull_pp").unwrap() + value(series, "B", "2025", "pull_pp").unwrap();
    assert!((pulls - parent_growth).abs() < 1e-9, "pulls sum to {pulls}, parent grew {parent_growth}");
    let contributions = value(series, "A", "2025", "contribution_pct").unwrap() + value(series, "B", "2025", "contribution_pct").unwrap();
    assert!((contributions - 100.0).abs() < 1e-9, "contributions sum to {contributions}");
    assert!((value(series, "A", "2025", "contribution_pct").unwrap() - 150.0).abs() < 1e-9);
    assert!((value(series, "A", "2025", "share_of_parent_pct").unwrap() - 66.0 / 104.0 * 100.0).abs() < 1e-9);
    // Dense ranks among the parent's towns: A is larger and grew; B shrank.
    assert_eq!(value(series, "A", "2025", "rank_value"), Some(1.0));
    assert_eq!(value(series, "B", "2025", "rank_value"), Some(2.0));
    assert_eq!(value(series, "B", "2025", "rank_growth"), Some(2.0));
}

#[test]
fn ranks_honour_a_lower_is_better_direction_and_points_have_no_percent() {
    let observations = "entity,indicator,period,value\n\
        A,ratio,2024,2.10\nB,ratio,2024,1.90\nA,ratio,2025,2.00\nB,ratio,2025,1.95\n";
    let metrics = compute(ENTITIES, INDICATORS, observations, "2025");
    let series = &metrics.series;
    // The lower income ratio ranks first.
    assert_eq!(value(series, "B", "2025", "rank_value"), Some(1.0));
    assert_eq!(value(series, "A", "2025", "rank_value"), Some(2.0));
    // A ratio changes in points: −0.10 for A, which is the better change when lower is better.
    assert!((value(series, "A", "2025", "yoy_change").unwrap() + 0.10).abs() < 1e-9);
    assert_eq!(value(series, "A", "2025", "yoy_pct"), None);
    assert_eq!(value(series, "A", "2025", "rank_growth"), Some(1.0));
}

#[test]
fn two_year_average_growth_uses_the_level_form_and_missing_stays_missing() {
    let observations = "entity,indicator,period,value\nA,gdp,2023,100\nA,gdp,2025,121\nB,gdp,2023,0\nB,gdp,2025,5\n";
    let metrics = compute(ENTITIES, INDICATORS, observations, "2025");
    let series = &metrics.series;
    assert!((value(series, "A", "2025", "two_year_avg_pct").unwrap() - 10.0).abs() < 1e-9);
    // 2024 is missing: no year-on-year growth, never a zero.
    assert_eq!(value(series, "A", "2025", "yoy_pct"), None);
    // A zero base gives no percent growth, only the absolute change.
    assert_eq!(value(series, "B", "2025", "two_year_avg_pct"), None);
    assert_eq!(value(series, "B", "2025", "cagr_since_base_pct"), None);
    assert_eq!(value(series, "B", "2025", "change_since_base"), Some(5.0));
}
