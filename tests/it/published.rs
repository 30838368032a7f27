//! Every published figure in `shared/reference/published_cases` reproduced, through the API and
//! through the `townpulse compute` command's CSV outputs.

use std::collections::BTreeMap;
use std::path::Path;

use contract::{Catalogue, SourceText};
use polars::prelude::*;

use crate::{binary, shared_dir};

/// A table read back: rows of column → text.
type Table = Vec<BTreeMap<String, String>>;

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
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

fn frame_table(frame: &DataFrame) -> Table {
    (0..frame.height())
        .map(|row| {
            frame
                .columns()
                .iter()
                .map(|c| {
                    let value = c.get(row).unwrap();
                    let text = if value.is_null() { String::new() } else { value.str_value().to_string() };
                    (c.name().to_string(), text)
                })
                .collect()
        })
        .collect()
}

fn csv_table(path: &Path) -> Table {
    let (headers, rows) = read_csv(path);
    rows.into_iter().map(|row| headers.iter().cloned().zip(row).collect()).collect()
}

/// One published case's inputs, written as files in a temporary folder.
struct Case {
    dir: tempfile::TempDir,
    expected: Vec<Vec<String>>,
}

fn cases() -> BTreeMap<String, Case> {
    let dir = shared_dir().join("reference/published_cases");
    let (obs_headers, obs_rows) = read_csv(&dir.join("observations.csv"));
    let (target_headers, target_rows) = read_csv(&dir.join("targets.csv"));
    let (_, expected) = read_csv(&dir.join("expected.csv"));
    let case_of = |headers: &[String]| headers.iter().position(|h| h == "case").unwrap();
    let (obs_case, target_case) = (case_of(&obs_headers), case_of(&target_headers));
    let mut cases: BTreeMap<String, Case> = BTreeMap::new();
    for row in expected {
        let case = row[0].clone();
        if !cases.contains_key(&case) {
            let temp = tempfile::tempdir().unwrap();
            let observations: Vec<&Vec<String>> = obs_rows.iter().filter(|r| r[obs_case] == case).collect();
            let targets: Vec<&Vec<String>> = target_rows.iter().filter(|r| r[target_case] == case).collect();
            // The observations as published, line for line (their `source` quotations hold unquoted commas).
            let raw = std::fs::read_to_string(dir.join("observations.csv")).unwrap();
            let mut lines = raw.lines();
            let header = lines.next().unwrap().strip_prefix("case,").expect("case column first");
            let prefix = format!("{case},");
            let body: String = lines.filter_map(|l| l.strip_prefix(&prefix)).map(|l| format!("{l}\n")).collect();
            assert_eq!(body.lines().count(), observations.len(), "case {case}");
            std::fs::write(temp.path().join("observations.csv"), format!("{header}\n{body}")).unwrap();
            std::fs::write(temp.path().join("targets.csv"), to_csv(&target_headers, &targets, "case")).unwrap();
            std::fs::copy(dir.join("indicators.csv"), temp.path().join("indicators.csv")).unwrap();
            cases.insert(case.clone(), Case { dir: temp, expected: Vec::new() });
        }
        cases.get_mut(&case).unwrap().expected.push(row);
    }
    cases
}

/// Checks every expected figure of a case against its series and targets tables; returns how many were checked.
fn check(case: &str, expected: &[Vec<String>], series: &Table, targets: &Table, failures: &mut Vec<String>) -> usize {
    let mut checked = 0;
    for row in expected {
        let [_, table, entity, indicator, period, measure, want, tolerance, note] = &row[..] else { panic!("bad expected row {row:?}") };
        let rows = if table == "series" { series } else { targets };
        let found = rows.iter().find(|r| r["entity"] == *entity && r["indicator"] == *indicator && r["period"] == *period);
        let Some(found) = found else {
            failures.push(format!("{case} {table} {entity} {indicator} {period}: no row"));
            continue;
        };
        let Some(got) = found.get(measure.as_str()) else {
            failures.push(format!("{case} {table}: no column {measure}"));
            continue;
        };
        checked += 1;
        if tolerance.is_empty() {
            if got != want {
                failures.push(format!("{case} {measure}: expected {want}, got {got:?} ({note})"));
            }
        } else {
            let (want, tolerance): (f64, f64) = (want.parse().unwrap(), tolerance.parse().unwrap());
            match got.parse::<f64>() {
                Ok(value) if (value - want).abs() <= tolerance + 1e-9 => {}
                _ => failures.push(format!("{case} {measure}: expected {want} ± {tolerance}, got {got:?} ({note})")),
            }
        }
    }
    checked
}

#[test]
fn published_cases_are_reproduced_by_the_engine() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (case, inputs) in cases() {
        let path = |name: &str| inputs.dir.path().join(name);
        let observations = std::fs::read_to_string(path("observations.csv")).unwrap();
        let mut entities: Vec<&str> = observations.lines().skip(1).filter_map(|l| l.split(',').next()).collect();
        entities.sort();
        entities.dedup();
        let entities_text = format!("code,name,level\n{}", entities.iter().map(|e| format!("{e},{e},pilot\n")).collect::<String>());
        let catalogue = Catalogue::load(
            SourceText { path: "entities.csv", text: &entities_text },
            SourceText { path: "indicators.csv", text: &std::fs::read_to_string(path("indicators.csv")).unwrap() },
            SourceText { path: "targets.csv", text: &std::fs::read_to_string(path("targets.csv")).unwrap() },
        )
        .unwrap_or_else(|p| panic!("case {case}: {p}"));
        let observations_path = path("observations.csv");
        let options = ingest::CsvOptions { name: "published", path: &observations_path, gb18030: false, max_bad_row_share: 0.0 };
        let batch = ingest::read_csv_source(&options, &catalogue).unwrap();
        assert!(batch.issues.is_empty(), "case {case}: {:?}", batch.issues);
        let period = transform::latest_period(&batch.frame).unwrap();
        let metrics = transform::compute(&batch.frame, &catalogue, period, &transform::Settings::eurostat()).unwrap();
        checked += check(&case, &inputs.expected, &frame_table(&metrics.series), &frame_table(&metrics.targets), &mut failures);
    }
    assert!(failures.is_empty(), "{} of {checked} published figures differ:\n{}", failures.len(), failures.join("\n"));
    assert!(checked >= 30, "only {checked} figures checked");
}

/// Writes `name.csv` of a case again as `name.parquet`, read by Polars with every column as text.
fn to_parquet(dir: &Path, name: &str) {
    // Re-quote first: Polars' CSV reader does not fold unquoted commas of the last column.
    let (headers, rows) = read_csv(&dir.join(format!("{name}.csv")));
    let csv = dir.join(format!("{name}.quoted.csv"));
    std::fs::write(&csv, to_csv(&headers, &rows.iter().collect::<Vec<_>>(), "")).unwrap();
    let mut frame = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(csv))
        .unwrap()
        .finish()
        .unwrap();
    let file = std::fs::File::create(dir.join(format!("{name}.parquet"))).unwrap();
    ParquetWriter::new(file).finish(&mut frame).unwrap();
}

#[test]
fn published_cases_are_reproduced_by_the_compute_command() {
    compute_command_reproduces_published_cases("csv");
}

#[test]
fn published_cases_are_reproduced_from_parquet_inputs() {
    compute_command_reproduces_published_cases("parquet");
}

fn compute_command_reproduces_published_cases(extension: &str) {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (case, inputs) in cases() {
        let path = |name: &str| inputs.dir.path().join(name);
        if extension == "parquet" {
            for name in ["observations", "indicators", "targets"] {
                to_parquet(inputs.dir.path(), name);
            }
        }
        let out = path("out");
        let output = std::process::Command::new(binary())
            .arg("compute")
            .arg("--observations")
            .arg(path(&format!("observations.{extension}")))
            .arg("--indicators")
            .arg(path(&format!("indicators.{extension}")))
            .arg("--targets")
            .arg(path(&format!("targets.{extension}")))
            .arg("--out")
            .arg(&out)
            .env("TOWNPULSE_LOG", "warn")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "case {case}: {}", crate::text(&output));
        let series = csv_table(&out.join("series.csv"));
        let targets = csv_table(&out.join("targets.csv"));
        let quality = csv_table(&out.join("quality.csv"));
        let errors: Vec<_> = quality.iter().filter(|f| f["level"] == "error").collect();
        assert!(errors.is_empty(), "case {case}: rows set aside {errors:?}");
        assert_eq!(series.first().map(|r| r.len()), Some(transform::SERIES_COLUMNS.len()), "case {case}: series.csv columns");
        checked += check(&case, &inputs.expected, &series, &targets, &mut failures);
    }
    assert!(failures.is_empty(), "{} of {checked} published figures differ:\n{}", failures.len(), failures.join("\n"));
    assert!(checked >= 30, "only {checked} figures checked");
}
