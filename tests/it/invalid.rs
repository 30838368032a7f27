//! Bad configuration: one clear message per problem, naming the file, line and field.

use crate::{DemoProject, text};

fn replace_in(project: &DemoProject, file: &str, from: &str, to: &str) {
    let path = project.path(file);
    let content = std::fs::read_to_string(&path).unwrap();
    assert!(content.contains(from), "{file} does not contain {from:?}");
    std::fs::write(&path, content.replacen(from, to, 1)).unwrap();
}

fn line_of(project: &DemoProject, file: &str, needle: &str) -> usize {
    let content = std::fs::read_to_string(project.path(file)).unwrap();
    content.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn a_missing_config_file_is_named() {
    let project = DemoProject::new();
    let output = project.run(&["run", "--config", "config/nope.toml"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output).contains("error: config/nope.toml: cannot read the configuration file: No such file or directory"), "{}", text(&output));
}

#[test]
fn malformed_toml_names_the_line() {
    let project = DemoProject::new();
    replace_in(&project, "config/townpulse.toml", "language = \"zh-CN\"", "language = zh-CN");
    let output = project.run(&["validate"], &[]);
    assert_eq!(output.status.code(), Some(2));
    let line = line_of(&project, "config/townpulse.toml", "language = zh-CN");
    assert!(text(&output).contains(&format!("config/townpulse.toml: line {line}:")), "{}", text(&output));
}

#[test]
fn unknown_keys_are_refused() {
    let project = DemoProject::new();
    replace_in(&project, "config/townpulse.toml", "[output]", "[output]\nreport_folder = \"x\"");
    let output = project.run(&["validate"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output).contains("unknown field `report_folder`"), "{}", text(&output));
}

#[test]
fn every_catalogue_problem_is_reported_at_once_with_file_line_and_field() {
    let project = DemoProject::new();
    let targets = "config/targets.csv";
    replace_in(&project, targets, "jx5,fai,>=,106.8,2015-12,plan", "jx5,fai_typo,>=,106.8,2015-12,plan");
    replace_in(&project, targets, "110119,urban_rate_resident,≈,60,2020", "110119,urban_rate_resident,≈,60,2020-13");
    replace_in(&project, "config/entities.csv", "3304,嘉兴市,prefecture,33", "3304,嘉兴市,prefecture,99");
    let fai_line = line_of(&project, targets, "fai_typo");
    let deadline_line = line_of(&project, targets, "2020-13");
    let parent_line = line_of(&project, "config/entities.csv", "3304,嘉兴市");
    let output = project.run(&["validate"], &[]);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(2), "{out}");
    assert!(out.contains("invalid configuration, 3 problems"), "{out}");
    assert!(out.contains(&format!("config/targets.csv:{fai_line}: field `indicator`: unknown indicator \"fai_typo\": it is not in the indicator catalogue")), "{out}");
    assert!(out.contains(&format!("config/targets.csv:{deadline_line}: field `deadline`: expected a period like 2025, 2025Q3 or 2025-09, got \"2020-13\"")), "{out}");
    assert!(out.contains(&format!("config/entities.csv:{parent_line}: field `parent`: unknown entity \"99\"")), "{out}");
}

#[test]
fn duplicated_keys_and_deadlines_before_bases_are_refused() {
    let project = DemoProject::new();
    let path = project.path("config/targets.csv");
    let mut content = std::fs::read_to_string(&path).unwrap();
    let first = content.lines().nth(1).unwrap().to_string();
    content.push_str(&first);
    content.push('\n');
    content.push_str("CN,urban_rate_resident,>=,70,2020,level,2023,,,\n");
    std::fs::write(&path, &content).unwrap();
    let n = content.lines().count();
    let output = project.run(&["validate"], &[]);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(2), "{out}");
    assert!(out.contains(&format!("config/targets.csv:{}: field `entity`: duplicated key", n - 1)) && out.contains("first defined on line 2"), "{out}");
    assert!(out.contains(&format!("config/targets.csv:{n}: field `base_period`: base period 2023 is not before the deadline 2020")), "{out}");
}

#[test]
fn recipients_and_delivery_are_checked_by_name() {
    let project = DemoProject::new();
    replace_in(&project, "config/townpulse.toml", "follows = [\"3304\"]", "follows = [\"9999\"]");
    replace_in(&project, "config/townpulse.toml", "from = \"townpulse <townpulse@localhost>\"", "from = \"nobody\"");
    let output = project.run(&["validate"], &[("TOWNPULSE_SMTP_URL", "ftp://mail.example.org")]);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(2), "{out}");
    assert!(out.contains("recipients[1] \"tjj@jiaxing.example.gov.cn\": `follows` names unknown entity \"9999\""), "{out}");
    assert!(out.contains("delivery.from: expected an address"), "{out}");
    assert!(out.contains("delivery.smtp_url: must start with smtp:// or smtps://, got \"ftp://mail.example.org\""), "{out}");
}

#[test]
fn assessment_settings_are_checked_by_name() {
    let project = DemoProject::new();
    replace_in(&project, "config/townpulse.toml", "rate_method = \"cagr\"", "rate_method = \"geometric\"");
    replace_in(&project, "config/townpulse.toml", "moderate = 0.60", "moderate = 0.99");
    let output = project.run(&["validate"], &[]);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(2), "{out}");
    assert!(out.contains("assessment.rate_method: expected cagr or linear, got \"geometric\""), "{out}");
    assert!(out.contains("assessment: `moderate` (0.99) must be at least 0 and below `on_track` (0.95)"), "{out}");
}

#[test]
fn the_report_level_is_checked_by_name() {
    let project = DemoProject::new();
    replace_in(&project, "config/townpulse.toml", "# deepest_level = \"county\"", "deepest_level = \"township\"");
    let output = project.run(&["validate"], &[]);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(2), "{out}");
    assert!(out.contains("report.deepest_level: expected nation, province, prefecture, county or town, got \"township\""), "{out}");
}

fn compute_in(dir: &std::path::Path, files: &[(&str, &str)], extra: &[&str]) -> std::process::Output {
    for (name, content) in files {
        std::fs::write(dir.join(name), content).unwrap();
    }
    let mut command = std::process::Command::new(crate::binary());
    command.current_dir(dir).args(["compute", "--observations", "obs.csv", "--indicators", "ind.csv", "--out", "out"]).args(extra);
    command.env("TOWNPULSE_LOG", "warn").output().unwrap()
}

const IND: &str = "code,name,unit,kind,accumulation,direction,decimals\ngdp,地区生产总值,亿元,flow,,up,1\n";

#[test]
fn compute_sets_aside_bad_rows_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let observations = "entity,indicator,period,value\nA,gdp,2024,100\nA,gdp,2025/01,101\nA,gpd,2025,102\nA,gdp,2025,abc\nA,gdp,2025,103\n";
    let output = compute_in(dir.path(), &[("obs.csv", observations), ("ind.csv", IND)], &[]);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    let mut reader = csv::Reader::from_path(dir.path().join("out/quality.csv")).unwrap();
    let messages: Vec<(String, String)> = reader.records().map(|r| r.unwrap()).map(|r| (r[0].to_string(), r[5].to_string())).collect();
    let expected = [
        "obs.csv:3: field `period`: expected a period like 2025, 2025Q3 or 2025-09, got \"2025/01\"",
        "obs.csv:4: field `indicator`: unknown indicator \"gpd\": it is not in the indicator catalogue",
        "obs.csv:5: field `value`: expected a number or an empty cell, got \"abc\"",
    ];
    assert_eq!(messages, expected.map(|m| ("error".to_string(), m.to_string())));
    // The good rows were still computed: 103 against 100.
    let series = std::fs::read_to_string(dir.path().join("out/series.csv")).unwrap();
    assert!(series.lines().any(|l| l.starts_with("A,gdp,2025,103.0,percent,3.0")), "{series}");
}

#[test]
fn compute_refuses_a_deadline_before_its_base_and_a_group_with_an_unknown_member() {
    let dir = tempfile::tempdir().unwrap();
    let entities = "code,name,level,parent,members\nA,甲,town,,\nG,组,group,,A;Z\n";
    let targets = "entity,indicator,comparator,target,deadline,kind,base_period\nA,gdp,>=,120,2020,level,2024\n";
    let output = compute_in(
        dir.path(),
        &[("obs.csv", "entity,indicator,period,value\nA,gdp,2024,100\n"), ("ind.csv", IND), ("ent.csv", entities), ("tgt.csv", targets)],
        &["--entities", "ent.csv", "--targets", "tgt.csv"],
    );
    let out = text(&output);
    assert_eq!(output.status.code(), Some(2), "{out}");
    assert!(out.contains("ent.csv:3: field `members`: group \"G\" lists unknown member \"Z\""), "{out}");
    assert!(out.contains("tgt.csv:2: field `base_period`: base period 2024 is not before the deadline 2020"), "{out}");
}

#[test]
fn compute_keeps_the_latest_vintage_and_reports_the_revision() {
    let dir = tempfile::tempdir().unwrap();
    let observations = "entity,indicator,period,value,vintage\nA,gdp,2024,100,2025-03-01\nA,gdp,2025,110,2026-02-01\nA,gdp,2024,104,2026-02-01\n";
    let output = compute_in(dir.path(), &[("obs.csv", observations), ("ind.csv", IND)], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let series = std::fs::read_to_string(dir.path().join("out/series.csv")).unwrap();
    assert!(series.lines().any(|l| l.starts_with("A,gdp,2024,104.0,")), "the later vintage was not kept:\n{series}");
    let mut reader = csv::Reader::from_path(dir.path().join("out/quality.csv")).unwrap();
    let revisions: Vec<String> = reader.records().map(|r| r.unwrap()).filter(|r| &r[1] == "revision").map(|r| r[5].to_string()).collect();
    assert_eq!(revisions, ["obs.csv:4: revised from 100 (vintage 2025-03-01) to 104 (vintage 2026-02-01)"]);
}

#[test]
fn compute_measures_change_from_a_configured_base_period() {
    let dir = tempfile::tempdir().unwrap();
    let observations = "entity,indicator,period,value\nA,gdp,2020,100\nA,gdp,2022,121\nA,gdp,2024,146.41\n";
    let output = compute_in(dir.path(), &[("obs.csv", observations), ("ind.csv", IND)], &["--base-period", "2022"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let mut reader = csv::Reader::from_path(dir.path().join("out/series.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let latest = rows.iter().find(|r| &r[2] == "2024").unwrap();
    assert_eq!(&latest[column("base_period")], "2022");
    let cagr: f64 = latest[column("cagr_since_base_pct")].parse().unwrap();
    assert!((cagr - 10.0).abs() < 1e-9, "{cagr}");
    // 2020 lies before the base: its change is measured backwards, with no growth rate.
    let earlier = rows.iter().find(|r| &r[2] == "2020").unwrap();
    assert_eq!(&earlier[column("cagr_since_base_pct")], "");
    let bad = compute_in(dir.path(), &[], &["--base-period", "2022-13"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad).contains("--base-period: expected a period like 2025, 2025Q3 or 2025-09, got \"2022-13\""), "{}", text(&bad));
}

#[test]
fn rows_with_too_few_or_too_many_fields_are_named() {
    let dir = tempfile::tempdir().unwrap();
    // Line 2 leaves off the optional columns (accepted); line 3 lacks a required one; line 4 has
    // an extra field where the last column is not free text.
    let observations = "entity,indicator,period,value,unit\nA,gdp,2024,100\nA,gdp,2025\nA,gdp,2023,90,亿元,extra\n";
    let output = compute_in(dir.path(), &[("obs.csv", observations), ("ind.csv", IND)], &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let mut reader = csv::Reader::from_path(dir.path().join("out/quality.csv")).unwrap();
    let messages: Vec<String> = reader.records().map(|r| r.unwrap()[5].to_string()).collect();
    assert_eq!(messages, ["obs.csv:3: field `row`: expected 5 fields like the header, got 3", "obs.csv:4: field `row`: expected 5 fields like the header, got 6"]);
}

#[test]
fn compute_writes_only_the_named_series_measures_and_names_an_unknown_one() {
    let dir = tempfile::tempdir().unwrap();
    let observations = "entity,indicator,period,value\nA,gdp,2024,100\nA,gdp,2025,125\n";
    let output = compute_in(dir.path(), &[("obs.csv", observations), ("ind.csv", IND)], &["--columns", "rank_growth,yoy_pct"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let series = std::fs::read_to_string(dir.path().join("out/series.csv")).unwrap();
    assert_eq!(series.lines().collect::<Vec<_>>(), ["entity,indicator,period,rank_growth,yoy_pct", "A,gdp,2024,,", "A,gdp,2025,1,25.0"]);
    // The other tables are whole.
    let targets = std::fs::read_to_string(dir.path().join("out/targets.csv")).unwrap();
    assert_eq!(targets.lines().next().unwrap(), transform::TARGET_COLUMNS.join(","));

    let output = compute_in(dir.path(), &[], &["--columns", "yoy_pct,yoy,entity"]);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(2), "{out}");
    assert!(out.contains("--columns: no series measure named `yoy`, `entity`; expected some of: value, basis, yoy_pct,"), "{out}");
}
