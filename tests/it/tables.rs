//! `tables.xlsx` read back by a real reader (calamine) and compared with the computed frames.

use calamine::{Data, Reader, Xlsx, open_workbook};

use crate::{DemoProject, text};

#[test]
fn tables_xlsx_holds_the_computed_figures_and_is_stable_across_runs() {
    let project = DemoProject::new();
    let output = project.run(&["run", "--period", "2015-09"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let path = project.path("reports/out/2015-09/tables.xlsx");
    let bytes = std::fs::read(&path).unwrap();

    // The same metrics, computed here from the warehouse the run wrote.
    let config = config::Config::load(&project.path("config/townpulse.toml"), &config::Environment::default()).unwrap();
    let names: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
    let observations = ingest::Warehouse::new(&config.output.warehouse_dir).current(&names).unwrap();
    let metrics = transform::compute(&observations, &config.catalogue, "2015-09".parse().unwrap(), &transform::Settings::eurostat()).unwrap();

    let mut workbook: Xlsx<_> = open_workbook(&path).unwrap();
    assert_eq!(workbook.sheet_names(), ["目标进展", "指标最新值", "数据质量附录"]);
    let targets = workbook.worksheet_range("目标进展").unwrap();
    let rows: Vec<&[Data]> = targets.rows().collect();
    assert_eq!(rows[0][1], Data::String("地区".into()));
    assert_eq!(rows.len() - 1, metrics.targets.height(), "one row per target");
    let number = |cell: &Data| match cell {
        Data::Float(v) => Some(*v),
        Data::Int(v) => Some(*v as f64),
        _ => None,
    };
    let columns = [("value", 12), ("gap", 13), ("progress_pct", 14), ("time_pct", 15)];
    let mut compared = 0;
    for (index, row) in rows.iter().skip(1).enumerate() {
        assert_eq!(row[0], Data::String(metrics.targets.column("entity").unwrap().get(index).unwrap().str_value().to_string()));
        for (name, column) in columns {
            let expected = metrics.targets.column(name).unwrap().get(index).unwrap().extract::<f64>();
            assert_eq!(number(&row[column]), expected, "row {} column {name}", index + 2);
            compared += usize::from(expected.is_some());
        }
    }
    assert!(compared >= 10, "only {compared} figures compared");
    // Jiaxing's 1—9月 investment against the plan, unrounded.
    let jx5 = rows.iter().find(|r| r[0] == Data::String("jx5".into())).expect("jx5 row");
    assert_eq!(number(&jx5[12]), Some(45.06));
    assert!((number(&jx5[14]).unwrap() - 45.06 / 106.8 * 100.0).abs() < 1e-9);

    let latest = workbook.worksheet_range("指标最新值").unwrap();
    assert_eq!(latest.rows().count() - 1, metrics.latest.height(), "one row per latest value");

    // A second run writes the same bytes.
    let again = project.run(&["run", "--period", "2015-09"], &[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(std::fs::read(&path).unwrap() == bytes, "tables.xlsx changed on a re-run");
}

// The report's data-quality appendix lists the most severe problems; tables.xlsx has them all.
fn problem(level: &str, check: &str, i: usize) -> report::ProblemInfo {
    report::ProblemInfo { level: level.to_string(), place: format!("33 · gdp · 2025-{i:02}"), message: format!("{check}: case {i}") }
}

#[test]
fn a_short_appendix_lists_every_problem_in_order() {
    let problems: Vec<report::ProblemInfo> = (0..5).map(|i| problem(if i == 3 { "error" } else { "info" }, "outlier", i)).collect();
    let (listed, note, counts) = report::problem_listing(&problems, &report::labels_for("en"));
    assert_eq!(listed.len(), 5);
    assert_eq!(listed[0].message, "outlier: case 3", "errors first");
    assert_eq!(listed[1].message, "outlier: case 0", "then the rest in their order");
    assert!(note.is_empty() && counts.is_empty());
}

#[test]
fn a_long_appendix_lists_the_most_severe_and_counts_each_check() {
    let mut problems: Vec<report::ProblemInfo> = (0..300).map(|i| problem("info", "outlier", i)).collect();
    problems.extend((0..10).map(|i| problem("warn", "freshness", i)));
    problems.push(problem("error", "revision", 0));
    let (listed, note, counts) = report::problem_listing(&problems, &report::labels_for("en"));
    assert_eq!(listed.len(), report::PROBLEMS_LISTED);
    assert_eq!(listed[0].message, "revision: case 0");
    assert!(listed[1..11].iter().all(|p| p.level == "warning"));
    assert_eq!(listed[11].message, "outlier: case 0");
    assert!(note.contains("200") && note.contains("311") && note.contains("tables.xlsx"), "{note}");
    let count = |level: &str, check: &str, count: usize| report::ProblemCount { level: level.into(), check: check.into(), count };
    assert_eq!(counts, vec![count("error", "revision", 1), count("warning", "freshness", 10), count("note", "outlier", 300)]);
    let (zh_listed, zh, zh_counts) = report::problem_listing(&problems, &report::labels_for("zh-CN"));
    assert!(zh.contains("311") && zh.contains("数据质量附录"), "{zh}");
    // Levels in the report's language.
    assert_eq!((zh_listed[0].level.as_str(), zh_listed[1].level.as_str(), zh_listed[11].level.as_str()), ("错误", "警告", "提示"));
    assert_eq!(zh_counts, vec![count("错误", "revision", 1), count("警告", "freshness", 10), count("提示", "outlier", 300)]);
}
