//! Every published figure in `shared/reference/published_cases` reproduced by the engine.

use std::collections::BTreeMap;

use contract::{Catalogue, SourceText};
use polars::prelude::*;

use crate::shared_dir;

fn read_csv(path: &std::path::Path) -> (Vec<String>, Vec<Vec<String>>) {
    // The last column (`source`, a quotation) may hold unquoted commas: fold extra fields into it.
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    let width = headers.len();
    let rows = reader
        .records()
        .map(|r| {
            let mut fields: Vec<String> = r.unwrap().iter().map(str::to_string).collect();
            if fields.len() > width {
                let tail = fields.split_off(width - 1).join(",");
                fields.push(tail);
            }
            fields.resize(width, String::new());
            fields
        })
        .collect();
    (headers, rows)
}

fn to_csv(headers: &[String], rows: &[&Vec<String>], skip: &str) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let keep: Vec<usize> = (0..headers.len()).filter(|i| headers[*i] != skip).collect();
    writer.write_record(keep.iter().map(|i| &headers[*i])).unwrap();
    for row in rows {
        writer.write_record(keep.iter().map(|i| &row[*i])).unwrap();
    }
    String::from_utf8(writer.into_inner().unwrap()).unwrap()
}

fn cell(frame: &DataFrame, column: &str, row: usize) -> AnyValue<'static> {
    frame.column(column).unwrap_or_else(|e| panic!("column {column}: {e}")).get(row).unwrap().into_static()
}

fn find(frame: &DataFrame, keys: &[(&str, &str)]) -> Option<usize> {
    (0..frame.height()).find(|row| keys.iter().all(|(column, value)| cell(frame, column, *row).str_value() == *value))
}

#[test]
fn published_cases_are_reproduced() {
    let dir = shared_dir().join("reference/published_cases");
    let (obs_headers, obs_rows) = read_csv(&dir.join("observations.csv"));
    let (target_headers, target_rows) = read_csv(&dir.join("targets.csv"));
    let indicators = std::fs::read_to_string(dir.join("indicators.csv")).unwrap();
    let (_, expected) = read_csv(&dir.join("expected.csv"));
    let case_of = |headers: &[String]| headers.iter().position(|h| h == "case").unwrap();
    let (obs_case, target_case) = (case_of(&obs_headers), case_of(&target_headers));

    let mut by_case: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    for row in expected {
        by_case.entry(row[0].clone()).or_default().push(row);
    }
    let mut checked = 0;
    let mut failures = Vec::new();
    for (case, rows) in &by_case {
        let observations: Vec<&Vec<String>> = obs_rows.iter().filter(|r| &r[obs_case] == case).collect();
        let targets: Vec<&Vec<String>> = target_rows.iter().filter(|r| &r[target_case] == case).collect();
        let entity_column = obs_headers.iter().position(|h| h == "entity").unwrap();
        let mut entities: Vec<&str> = observations.iter().map(|r| r[entity_column].as_str()).collect();
        entities.sort();
        entities.dedup();
        let entities_text = format!("code,name,level\n{}", entities.iter().map(|e| format!("{e},{e},pilot\n")).collect::<String>());
        let targets_text = to_csv(&target_headers, &targets, "case");
        let catalogue = Catalogue::load(
            SourceText { path: "entities.csv", text: &entities_text },
            SourceText { path: "indicators.csv", text: &indicators },
            SourceText { path: "targets.csv", text: &targets_text },
        )
        .unwrap_or_else(|p| panic!("case {case}: {p}"));
        let temp = tempfile::tempdir().unwrap();
        let obs_path = temp.path().join("observations.csv");
        std::fs::write(&obs_path, to_csv(&obs_headers, &observations, "case")).unwrap();
        let batch = ingest::read_csv_source(
            &ingest::CsvOptions { name: "published", path: &obs_path, gb18030: false, max_bad_row_share: 0.0 },
            &catalogue,
        )
        .unwrap();
        assert!(batch.issues.is_empty(), "case {case}: {:?}", batch.issues);
        let period = transform::latest_period(&batch.frame).unwrap();
        let metrics = transform::compute(&batch.frame, &catalogue, period, &transform::Settings::eurostat()).unwrap();
        for row in rows {
            let [_, table, entity, indicator, period, measure, want, tolerance, note] = &row[..] else { panic!("bad expected row {row:?}") };
            let frame = if table == "series" { &metrics.series } else { &metrics.targets };
            let Some(index) = find(frame, &[("entity", entity), ("indicator", indicator), ("period", period)]) else {
                failures.push(format!("{case} {table} {entity} {indicator} {period}: no row"));
                continue;
            };
            let got = cell(frame, measure, index);
            checked += 1;
            if tolerance.is_empty() {
                if got.str_value() != want.as_str() {
                    failures.push(format!("{case} {measure}: expected {want}, got {got} ({note})"));
                }
            } else {
                let (want, tolerance): (f64, f64) = (want.parse().unwrap(), tolerance.parse().unwrap());
                match got.extract::<f64>() {
                    Some(value) if (value - want).abs() <= tolerance + 1e-9 => {}
                    _ => failures.push(format!("{case} {measure}: expected {want} ± {tolerance}, got {got} ({note})")),
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {checked} published figures differ:\n{}", failures.len(), failures.join("\n"));
    assert!(checked >= 30, "only {checked} figures checked");
}
