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
