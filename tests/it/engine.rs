//! Identities and rules of METRICS.md on small constructed inputs.

use contract::{Catalogue, SourceText};
use polars::prelude::*;

pub(crate) fn compute(entities: &str, indicators: &str, observations: &str, period: &str) -> transform::Metrics {
    compute_with(entities, indicators, observations, period, &transform::Settings::eurostat())
}

fn compute_with(entities: &str, indicators: &str, observations: &str, period: &str, settings: &transform::Settings) -> transform::Metrics {
    let (catalogue, frame) = canonical(entities, indicators, observations);
    transform::compute(&frame, &catalogue, period.parse().unwrap(), settings).unwrap()
}

/// The catalogue of `entities` and `indicators` and the observations of `csv` in the canonical
/// frame (every row must be good).
fn canonical(entities: &str, indicators: &str, csv: &str) -> (Catalogue, DataFrame) {
    let catalogue = Catalogue::load(
        SourceText { path: "entities.csv", text: entities },
        SourceText { path: "indicators.csv", text: indicators },
        SourceText { path: "targets.csv", text: "entity,indicator,comparator,target,deadline\n" },
    )
    .unwrap_or_else(|p| panic!("{p}"));
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join("observations.csv");
    std::fs::write(&path, csv).unwrap();
    let batch = ingest::read_csv_source(&ingest::CsvOptions { name: "t", path: &path, gb18030: false, max_bad_row_share: 0.0 }, &catalogue).unwrap();
    assert!(batch.issues.is_empty(), "{:?}", batch.issues);
    (catalogue, batch.frame)
}

/// The value of `column` in the one row of `entity` at `period` (of `indicator`, where several share them).
fn value_of(frame: &DataFrame, entity: &str, indicator: Option<&str>, period: &str, column: &str) -> Option<f64> {
    let text = |name: &str, i: usize| frame.column(name).unwrap().get(i).unwrap().str_value().to_string();
    let rows: Vec<usize> = (0..frame.height())
        .filter(|i| text("entity", *i) == entity && text("period", *i) == period && indicator.is_none_or(|ind| text("indicator", *i) == ind))
        .collect();
    assert!(rows.len() <= 1, "{entity} {period}: {} rows; name the indicator", rows.len());
    frame.column(column).unwrap().get(*rows.first()?).unwrap().extract::<f64>()
}

pub(crate) fn value(frame: &DataFrame, entity: &str, period: &str, column: &str) -> Option<f64> {
    value_of(frame, entity, None, period, column)
}

pub(crate) const INDICATORS: &str = "code,name,unit,kind,accumulation,direction,decimals\n\
    gdp,地区生产总值,亿元,flow,,up,1\n\
    ratio,城乡居民收入比,,ratio,,down,2\n";
pub(crate) const ENTITIES: &str = "code,name,level,parent\nP,上级,county,\nA,甲镇,town,P\nB,乙镇,town,P\n";

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

pub(crate) const MONTHLY: &str = "code,name,unit,kind,accumulation,direction,decimals\n\
    fai,固定资产投资,亿元,flow,ytd,up,2\n\
    sales,主营业务收入,亿元,flow,period,up,2\n";

#[test]
fn year_to_date_flows_are_differenced_within_the_year_and_a_missing_january_is_never_zero() {
    // A: January published. B: January never published (1—2月 first), as NBS does since 2013.
    let observations = "entity,indicator,period,value\n\
        A,fai,2025-01,10\nA,fai,2025-02,25\nA,fai,2025-03,45\n\
        B,fai,2025-02,30\nB,fai,2025-03,50\nB,fai,2025-04,75\n";
    let metrics = compute(ENTITIES, MONTHLY, observations, "2025-04");
    let series = &metrics.series;
    assert_eq!(value(series, "A", "2025-01", "period_value"), Some(10.0));
    assert_eq!(value(series, "A", "2025-02", "period_value"), Some(15.0));
    assert_eq!(value(series, "A", "2025-03", "period_value"), Some(20.0));
    assert!((value(series, "A", "2025-03", "pop_pct").unwrap() - (20.0 / 15.0 - 1.0) * 100.0).abs() < 1e-9);
    // B's February covers 1—2月: no February value of its own, so no growth of March against it.
    assert_eq!(value(series, "B", "2025-02", "period_value"), None);
    assert_eq!(value(series, "B", "2025-03", "period_value"), Some(20.0));
    assert_eq!(value(series, "B", "2025-03", "pop_pct"), None);
    assert!((value(series, "B", "2025-04", "pop_pct").unwrap() - 25.0).abs() < 1e-9);
    // Year to date is the published total.
    assert_eq!(value(series, "B", "2025-03", "ytd_value"), Some(50.0));
}

#[test]
fn a_period_flow_with_a_missing_month_has_no_year_to_date_total() {
    let observations = "entity,indicator,period,value\n\
        A,sales,2025-01,10\nA,sales,2025-03,12\nB,sales,2025-01,5\nB,sales,2025-02,6\n";
    let metrics = compute(ENTITIES, MONTHLY, observations, "2025-03");
    assert_eq!(value(&metrics.series, "A", "2025-03", "ytd_value"), None, "February is missing: no total");
    assert_eq!(value(&metrics.series, "B", "2025-02", "ytd_value"), Some(11.0));
}

#[test]
fn gaps_to_parent_and_peers_and_the_two_rate_gap_are_in_points_for_rates() {
    let indicators = "code,name,unit,kind,accumulation,direction,decimals\n\
        urban_rate_resident,常住人口城镇化率,%,rate,,up,2\n\
        urban_rate_hukou,户籍人口城镇化率,%,rate,,up,2\n";
    let observations = "entity,indicator,period,value\n\
        P,urban_rate_resident,2025,60\nA,urban_rate_resident,2025,70\nB,urban_rate_resident,2025,50\n\
        A,urban_rate_hukou,2025,45.5\n";
    let metrics = compute(ENTITIES, indicators, observations, "2025");
    let series = &metrics.series;
    let resident = Some("urban_rate_resident");
    assert_eq!(value_of(series, "A", resident, "2025", "gap_to_parent"), Some(10.0));
    assert_eq!(value_of(series, "B", resident, "2025", "gap_to_peer_average"), Some(-10.0));
    assert_eq!(value_of(series, "A", resident, "2025", "resident_minus_hukou_pp"), Some(24.5));
    assert_eq!(value_of(series, "B", resident, "2025", "resident_minus_hukou_pp"), None);
    assert_eq!(value_of(series, "A", Some("urban_rate_hukou"), "2025", "resident_minus_hukou_pp"), None);
}

#[test]
fn quality_findings_flag_stale_incomplete_and_outlying_series() {
    let mut observations = String::from("entity,indicator,period,value\n");
    // A grows 5% a year for eight years, then jumps 80%; B stops reporting after 2019.
    let mut level = 100.0_f64;
    for year in 2015..=2023 {
        observations.push_str(&format!("A,gdp,{year},{level}\n"));
        level *= if year == 2022 { 1.8 } else { 1.05 };
    }
    observations.push_str("B,gdp,2018,50\nB,gdp,2019,52\nA,ratio,2019,2.5\n");
    let metrics = compute(ENTITIES, INDICATORS, &observations, "2023");
    let find = |check: &str, indicator: &str| metrics.findings.iter().find(|f| f.check == check && f.indicator.as_deref() == Some(indicator));
    let outlier = find("outlier", "gdp").expect("the 80% jump is an outlier");
    assert_eq!((outlier.entity.as_deref(), outlier.period.as_deref(), outlier.level), (Some("A"), Some("2023"), "warn"));
    let complete = find("completeness", "gdp").expect("B has no 2023 value");
    assert!(complete.message.starts_with("1 of 2 entities"), "{}", complete.message);
    let stale = find("freshness", "ratio").expect("the ratio's latest value is from 2019");
    assert!(stale.message.contains("48 months before 2023"), "{}", stale.message);
    assert!(find("freshness", "gdp").is_none(), "gdp has a 2023 value");
}

#[test]
fn movers_show_rank_and_growth_changes_since_the_previous_period() {
    let observations = "entity,indicator,period,value\n\
        A,gdp,2023,100\nB,gdp,2023,90\n\
        A,gdp,2024,105\nB,gdp,2024,110\n\
        A,gdp,2025,110\nB,gdp,2025,121\n";
    let metrics = compute(ENTITIES, INDICATORS, observations, "2025");
    let series = &metrics.series;
    // B overtook A in 2024: up one place, A down one.
    assert_eq!(value(series, "B", "2024", "rank_change"), Some(1.0));
    assert_eq!(value(series, "A", "2024", "rank_change"), Some(-1.0));
    assert_eq!(value(series, "B", "2025", "rank_change"), Some(0.0));
    // B grew 22.2% then 10%: growth slowed by 12.2 points.
    let slowdown = value(series, "B", "2025", "growth_change").unwrap();
    assert!((slowdown - (10.0 - (110.0 / 90.0 - 1.0) * 100.0)).abs() < 1e-9, "{slowdown}");
}

pub(crate) fn assess(targets: &str, observations: &str, period: &str, settings: &transform::Settings) -> DataFrame {
    let indicators = "code,name,unit,kind,accumulation,direction,decimals\n\
        urban_rate_resident,常住人口城镇化率,%,rate,,up,2\ngdp,地区生产总值,亿元,flow,,up,1\n";
    let catalogue = Catalogue::load(
        SourceText { path: "entities.csv", text: ENTITIES },
        SourceText { path: "indicators.csv", text: indicators },
        SourceText { path: "targets.csv", text: targets },
    )
    .unwrap_or_else(|p| panic!("{p}"));
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join("observations.csv");
    std::fs::write(&path, observations).unwrap();
    let batch = ingest::read_csv_source(&ingest::CsvOptions { name: "t", path: &path, gb18030: false, max_bad_row_share: 0.0 }, &catalogue).unwrap();
    transform::compute(&batch.frame, &catalogue, period.parse().unwrap(), settings).unwrap().targets
}

pub(crate) fn target_cell(targets: &DataFrame, row: usize, column: &str) -> String {
    targets.column(column).unwrap().get(row).unwrap().str_value().to_string()
}

pub(crate) fn target_number(targets: &DataFrame, row: usize, column: &str) -> f64 {
    targets.column(column).unwrap().get(row).unwrap().extract::<f64>().unwrap_or_else(|| panic!("{column} is empty"))
}

#[test]
fn progress_ranks_peers_and_the_configured_thresholds_decide_the_status() {
    // China's urbanization 2012 → 2016 against 60% by 2020 (published: growth ratio 1.32, on track),
    // and two towns under one parent toward the same target.
    let targets = "entity,indicator,comparator,target,deadline,kind,base_period\n\
        P,urban_rate_resident,>=,60,2020,level,2012\n\
        A,urban_rate_resident,>=,60,2020,level,2012\n\
        B,urban_rate_resident,>=,60,2020,level,2012\n";
    let observations = "entity,indicator,period,value\n\
        P,urban_rate_resident,2012,52.57\nP,urban_rate_resident,2016,57.35\n\
        A,urban_rate_resident,2012,50\nA,urban_rate_resident,2016,55\n\
        B,urban_rate_resident,2012,50\nB,urban_rate_resident,2016,51\n";
    let eurostat = assess(targets, observations, "2016", &transform::Settings::eurostat());
    assert_eq!(target_cell(&eurostat, 0, "status"), "on_track");
    assert_eq!((target_cell(&eurostat, 1, "rank_progress"), target_cell(&eurostat, 2, "rank_progress")), ("1".into(), "2".into()));
    let strict = transform::Settings { on_track: 1.4, ..transform::Settings::eurostat() };
    assert_eq!(target_cell(&assess(targets, observations, "2016", &strict), 0, "status"), "moderate");
    // Judged linearly (points a year): (57.35 − 52.57)/4 against (60 − 52.57)/8.
    let linear = transform::Settings { linear_for_rates: true, ..transform::Settings::eurostat() };
    let ratio = target_number(&assess(targets, observations, "2016", &linear), 0, "growth_ratio_linear");
    assert!((ratio - (4.78 / 4.0) / (7.43 / 8.0)).abs() < 1e-9, "ratio {ratio}");
}

#[test]
fn growth_relative_and_approximate_targets() {
    let targets = "entity,indicator,comparator,target,deadline,kind,base_period,tolerance\n\
        A,gdp,>=,6,2025,growth,2020,\n\
        B,gdp,>=,,2025,relative,,\n\
        A,urban_rate_resident,≈,60,2025,level,,\n";
    let observations = "entity,indicator,period,value\n\
        A,gdp,2020,100\nA,gdp,2024,120\nA,gdp,2025,130\n\
        B,gdp,2024,50\nB,gdp,2025,54\nP,gdp,2024,200\nP,gdp,2025,210\n\
        A,urban_rate_resident,2020,55\nA,urban_rate_resident,2025,59.6\n";
    let targets = assess(targets, observations, "2025", &transform::Settings::eurostat());
    // A: CAGR 2020→2025 = 1.3^(1/5) − 1 = 5.39% < the 6% floor.
    assert_eq!(target_cell(&targets, 0, "achieved"), "false");
    let gap = target_number(&targets, 0, "gap");
    assert!((gap - (6.0 - (1.3f64.powf(0.2) - 1.0) * 100.0)).abs() < 1e-9, "gap {gap}: {targets}");
    // B grew 8% while its parent grew 5%: above the parent, achieved.
    assert_eq!(target_cell(&targets, 1, "achieved"), "true");
    assert!((target_number(&targets, 1, "gap") + 3.0).abs() < 1e-9);
    // 59.6 against "60%左右" is within the default 0.5 points: achieved (approx.).
    assert_eq!((target_cell(&targets, 2, "status"), target_cell(&targets, 2, "achieved_approx")), ("achieved".into(), "true".into()));
}

#[test]
fn standards_combine_clauses_and_treat_a_missing_value_as_unknown() {
    let entities = "code,name,level,parent,members\nP,县,county,,\nA,甲镇,town,P,\nB,乙镇,town,P,\nC,丙镇,town,P,\nD,丁镇,town,P,\nG,试点镇,group,P,A;B;C;D\n";
    let indicators = "code,name,unit,kind,accumulation,direction,decimals\n\
        built_up_area,建成区面积,km²,level,,up,2\npop_hukou,户籍人口,万人,level,,none,2\npop_resident,常住人口,万人,level,,none,2\n";
    // Built-up area ≥ 8 and (户籍 ≥ 6 or 常住 ≥ 10), as in Zhejiang's small-city standard.
    let standards = "standard,name,combine,applies_to,clause,indicator,comparator,threshold\n\
        s,小城市标准,all,G,1,built_up_area,>=,8\ns,小城市标准,all,G,2,pop_hukou,>=,6\ns,小城市标准,all,G,2,pop_resident,>=,10\n";
    let observations = "entity,indicator,period,value\n\
        A,built_up_area,2025,9\nA,pop_hukou,2025,4\nA,pop_resident,2025,12\n\
        B,built_up_area,2025,9\nB,pop_hukou,2025,4\nB,pop_resident,2025,8\n\
        C,built_up_area,2025,7\nC,pop_hukou,2025,7\n\
        D,built_up_area,2025,9\nD,pop_hukou,2025,4\n";
    let mut catalogue = Catalogue::load(
        SourceText { path: "entities.csv", text: entities },
        SourceText { path: "indicators.csv", text: indicators },
        SourceText { path: "targets.csv", text: "entity,indicator,comparator,target,deadline\n" },
    )
    .unwrap();
    catalogue.load_standards(SourceText { path: "standards.csv", text: standards }).unwrap();
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join("observations.csv");
    std::fs::write(&path, observations).unwrap();
    let batch = ingest::read_csv_source(&ingest::CsvOptions { name: "t", path: &path, gb18030: false, max_bad_row_share: 0.0 }, &catalogue).unwrap();
    let metrics = transform::compute(&batch.frame, &catalogue, "2025".parse().unwrap(), &transform::Settings::eurostat()).unwrap();
    let standards = &metrics.standards;
    let met = |entity: &str| {
        let row = (0..standards.height()).find(|i| standards.column("entity").unwrap().get(*i).unwrap().str_value() == entity).unwrap();
        standards.column("standard_met").unwrap().get(row).unwrap().extract_bool()
    };
    // A: 常住 12 ≥ 10 rescues the population clause. B: neither population condition holds.
    assert_eq!(met("A"), Some(true));
    assert_eq!(met("B"), Some(false));
    // C: the built-up area fails, so the missing 常住 value does not matter.
    assert_eq!(met("C"), Some(false));
    // D: 户籍 fails and 常住 is missing: the population clause, and so the standard, is unknown.
    assert_eq!(met("D"), None);
    assert_eq!(standards.height(), 12, "one row per member and condition");
}

#[test]
fn a_bad_standards_file_names_every_problem() {
    let mut catalogue = Catalogue::load(
        SourceText { path: "entities.csv", text: ENTITIES },
        SourceText { path: "indicators.csv", text: INDICATORS },
        SourceText { path: "targets.csv", text: "entity,indicator,comparator,target,deadline\n" },
    )
    .unwrap();
    let standards = "standard,name,combine,applies_to,clause,indicator,comparator,threshold\n\
        s,标准,every,A,1,gdp,>=,8\ns,标准,all,Z,one,gpd,=,x\n";
    let problems = catalogue.load_standards(SourceText { path: "standards.csv", text: standards }).unwrap_err().to_string();
    for expected in [
        "standards.csv:2: field `combine`: expected all or any, got \"every\"",
        "standards.csv:3: field `applies_to`: unknown entity \"Z\"",
        "standards.csv:3: field `clause`: expected a whole number, got \"one\"",
        "standards.csv:3: field `indicator`: unknown indicator \"gpd\"",
        "standards.csv:3: field `comparator`: expected >= or <=, got \"=\"",
        "standards.csv:3: field `threshold`: expected a number, got \"x\"",
    ] {
        assert!(problems.contains(expected), "missing {expected:?} in:\n{problems}");
    }
}

#[test]
fn configured_groups_rank_their_members_and_an_undefined_growth_says_why() {
    let entities = "code,name,level,parent,members\nP,县,county,,\nQ,另一县,county,,\nA,甲镇,town,P,\nB,乙镇,town,Q,\nG,试点镇,group,,A;B\n";
    let observations = "entity,indicator,period,value\nA,gdp,2024,-5\nA,gdp,2025,30\nB,gdp,2024,10\nB,gdp,2025,20\n";
    let metrics = compute(entities, INDICATORS, observations, "2025");
    let series = &metrics.series;
    // A and B have different parents, so they are not peers by parent, but they share the group G.
    assert_eq!(value(series, "A", "2025", "rank_value"), Some(1.0));
    assert_eq!(value(series, "B", "2025", "rank_value"), Some(1.0));
    assert_eq!(value(series, "A", "2025", "rank_value_in_group"), Some(1.0));
    assert_eq!(value(series, "B", "2025", "rank_value_in_group"), Some(2.0));
    assert_eq!(value(series, "B", "2025", "gap_to_group_average"), Some(-5.0));
    // −5 → 30: no percent growth, and the reason is given.
    assert_eq!(value(series, "A", "2025", "cagr_since_base_pct"), None);
    let note = series.column("base_note").unwrap();
    let row = (0..series.height())
        .find(|i| series.column("entity").unwrap().get(*i).unwrap().str_value() == "A" && series.column("period").unwrap().get(*i).unwrap().str_value() == "2025")
        .unwrap();
    assert_eq!(note.get(row).unwrap().str_value(), "base is zero or negative: growth undefined");
    assert_eq!(value(series, "A", "2025", "yoy_pct"), None);
}

/// Every row of `frame` as text, sorted: frames equal up to row order.
fn rows_as_text(frame: &DataFrame) -> Vec<String> {
    let mut rows: Vec<String> = (0..frame.height())
        .map(|i| frame.columns().iter().map(|c| format!("{}={}", c.name(), c.get(i).unwrap())).collect::<Vec<_>>().join("|"))
        .collect();
    rows.sort();
    rows
}

#[test]
fn computing_indicator_by_indicator_in_parts_gives_the_same_results_as_all_at_once() {
    let temp = tempfile::tempdir().unwrap();
    let divisions = crate::shared_dir().join("data/admin-divisions");
    let output = crate::townpulse(temp.path(), &["demo-data", "--scale", "25", "--out", "data", "--divisions", divisions.to_str().unwrap()], &[], "warn")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", crate::text(&output));
    let data = temp.path().join("data");
    let (observations, indicators, entities, targets) =
        (data.join("observations.parquet"), data.join("indicators.csv"), data.join("entities.csv"), data.join("targets.csv"));
    let files = ingest::CatalogueFiles {
        indicators: &indicators,
        entities: Some(&entities),
        targets: Some(&targets),
        standards: None,
        observations: &observations,
    };
    let catalogue = ingest::load_catalogue(&files).unwrap_or_else(|e| panic!("{e:?}"));
    let batch = ingest::read_csv_source(&ingest::CsvOptions { name: "t", path: &observations, gb18030: false, max_bad_row_share: 0.0 }, &catalogue).unwrap();
    assert_eq!(batch.frame.height(), 17625);
    let period = "2025-12".parse().unwrap();
    let whole = transform::compute(&batch.frame, &catalogue, period, &transform::Settings::eurostat()).unwrap();
    // 17,625 observations in parts of about 3,000 rows: 6 parts wanted, 20 indicators, so 4 a part in 5 parts.
    let mut parts = Vec::new();
    let settings = transform::Settings { part_rows: 3_000, ..transform::Settings::eurostat() };
    let assessed = transform::compute_by_indicator(&batch.frame, &catalogue, period, &settings, |series| {
        parts.push(series);
        Ok::<(), transform::TransformError>(())
    })
    .unwrap();
    assert_eq!(parts.len(), 5);
    assert!(parts.iter().all(|p| p.height() < whole.series.height() / 3));
    let mut gathered = parts[0].clone();
    for part in &parts[1..] {
        gathered.vstack_mut(part).unwrap();
    }
    assert_eq!(assessed.series_rows, whole.series.height());
    assert_eq!(rows_as_text(&gathered), rows_as_text(&whole.series));
    assert_eq!(assessed.latest, whole.latest);
    assert_eq!(assessed.targets, whole.targets);
    assert_eq!(assessed.targets.height(), 75);
    assert_eq!(assessed.standards, whole.standards);
    let findings = |f: &[transform::Finding]| {
        let mut all: Vec<String> = f.iter().map(|f| format!("{f:?}")).collect();
        all.sort();
        all
    };
    assert_eq!(findings(&assessed.findings), findings(&whole.findings));
    assert!(!whole.findings.is_empty());
}

#[test]
fn the_latest_period_is_the_latest_with_a_value_and_a_year_outranks_its_december() {
    let latest = |csv: &str| transform::latest_period(&canonical(ENTITIES, INDICATORS, csv).1).map(|p| p.to_string());
    // A December and the year it ends: the yearly figure is the more recent.
    assert_eq!(latest("entity,indicator,period,value\nA,gdp,2023-11,1\nA,gdp,2023-12,2\nB,gdp,2023,3\nB,gdp,2023Q4,4\n").as_deref(), Some("2023"));
    // A later month without a value does not count; a quarter ending later than a month does.
    assert_eq!(latest("entity,indicator,period,value\nA,gdp,2024-02,\nA,gdp,2023Q4,1\nB,gdp,2023-11,2\n").as_deref(), Some("2023Q4"));
    assert_eq!(latest("entity,indicator,period,value\nA,gdp,2024-02,\n"), None);
}

#[test]
fn each_measure_computed_alone_equals_the_whole_computation_and_unasked_steps_are_skipped() {
    let entities = "code,name,level,parent,members\nP,县,county,,\nA,甲镇,town,P,\nB,乙镇,town,P,\nC,丙镇,town,P,\nG,试点镇,group,P,A;B\n";
    let indicators = "code,name,unit,kind,accumulation,direction,decimals\n\
        sales,销售额,亿元,flow,ytd,up,1\n\
        jobs,新增就业,人,flow,period,up,0\n\
        cost,成本,元,level,,down,1\n\
        urban_rate_resident,常住人口城镇化率,%,rate,,up,2\n\
        urban_rate_hukou,户籍人口城镇化率,%,rate,,up,2\n";
    // Three years of months for every entity and indicator, with a few gaps and a sign change.
    let mut observations = String::from("entity,indicator,period,value\n");
    for (e, entity) in ["P", "A", "B", "C"].iter().enumerate() {
        for (i, indicator) in ["sales", "jobs", "cost", "urban_rate_resident", "urban_rate_hukou"].iter().enumerate() {
            for year in 2023..=2025 {
                for month in 1..=12 {
                    let t = f64::from((year - 2023) * 12 + month);
                    let value = match *indicator {
                        "sales" => f64::from(month) * (10.0 + e as f64 + t / 10.0),
                        "urban_rate_resident" => 50.0 + e as f64 + t / 5.0,
                        "urban_rate_hukou" => 40.0 + e as f64 + t / 7.0,
                        _ => 3.0 * (e + i) as f64 + (t * 0.7).sin() * 4.0,
                    };
                    let cell = if (e + i + month as usize).is_multiple_of(17) { String::new() } else { format!("{value:.3}") };
                    observations.push_str(&format!("{entity},{indicator},{year}-{month:02},{cell}\n"));
                }
            }
        }
    }
    let whole = compute(entities, indicators, &observations, "2025-12");
    let measures = transform::SERIES_MEASURES;
    for measure in measures {
        // The data exercise every measure: none is empty in the whole computation.
        assert!(whole.series.column(measure).unwrap().null_count() < whole.series.height(), "{measure} is empty throughout");
        let settings = transform::Settings { measures: transform::Measures::Only(vec![measure.to_string()]), ..transform::Settings::eurostat() };
        let alone = compute_with(entities, indicators, &observations, "2025-12", &settings);
        let columns = ["entity", "indicator", "period", measure];
        let (alone_rows, whole_rows) = (rows_as_text(&alone.series.select(columns).unwrap()), rows_as_text(&whole.series.select(columns).unwrap()));
        assert_eq!(alone_rows.len(), whole_rows.len(), "{measure}");
        let first_difference = alone_rows.iter().zip(&whole_rows).find(|(alone, whole)| alone != whole);
        assert_eq!(first_difference, None, "{measure}: alone, then in the whole computation");
        assert_eq!(alone.targets, whole.targets, "{measure}");
        assert_eq!(alone.latest.select(["entity", "indicator", "period", "value"]).unwrap(), whole.latest.select(["entity", "indicator", "period", "value"]).unwrap());
    }
    // The suite of the benchmark's peers: the parents' and groups' steps are not run.
    let suite = transform::Measures::parse_list("yoy_pct, pop_pct,rank_growth,yoy_pct").unwrap();
    assert_eq!(suite, transform::Measures::Only(vec!["yoy_pct".into(), "pop_pct".into(), "rank_growth".into()]));
    let settings = transform::Settings { measures: suite, ..transform::Settings::eurostat() };
    let names = compute_with(entities, indicators, &observations, "2025-12", &settings).series.get_column_names_owned();
    for skipped in ["share_of_parent_pct", "rank_value", "rank_value_in_group", "two_year_avg_pct", "base_note"] {
        assert!(!names.iter().any(|n| n.as_str() == skipped), "{skipped} was computed");
    }
    assert_eq!(transform::Measures::parse_list("yoy_pct,growth,entity"), Err(vec!["growth".to_string(), "entity".to_string()]));
}
