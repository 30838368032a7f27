//! The real binary on the bundled demo: report, outbox, ledger, exit codes, idempotence.

use mail_parser::{MessageParser, MimeHeaders};

use crate::{DemoProject, text};

/// Asserts two versions of a file are the same bytes, showing the first differing line if not.
fn assert_same(before: &[u8], after: &[u8], what: &str) {
    if before != after {
        let (b, a) = (String::from_utf8_lossy(before), String::from_utf8_lossy(after));
        let line = b.lines().zip(a.lines()).position(|(x, y)| x != y).unwrap_or(0);
        panic!("{what} changed at line {}:\n- {}\n+ {}", line + 1, b.lines().nth(line).unwrap_or(""), a.lines().nth(line).unwrap_or(""));
    }
}

fn ledger_count(project: &DemoProject, sql: &str) -> i64 {
    let connection = rusqlite::Connection::open(project.path("reports/ledger.sqlite")).unwrap();
    connection.query_row(sql, [], |row| row.get(0)).unwrap()
}

#[test]
fn demo_run_writes_report_emails_and_ledger_and_a_second_run_changes_nothing() {
    let project = DemoProject::new();
    let first = project.run(&["run"], &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    assert!(text(&first).contains("period 2023"), "{}", text(&first));

    let report_path = project.path("reports/out/2023/index.html");
    let report = std::fs::read_to_string(&report_path).unwrap();
    assert!(report.contains("<html lang=\"zh-CN\">"));
    assert!(report.contains("2023 城镇发展监测月报"));
    // Figures from the seed documents, formatted at the indicator's decimals.
    assert!(report.contains("浙江省27个小城市培育试点镇"), "the zj27 group is missing");
    assert!(report.contains("45.06"), "Jiaxing 1—9月 investment 45.06 亿元 missing");
    assert!(report.contains("106.80"), "Jiaxing annual plan 106.8 亿元 missing");
    assert!(report.contains("66.16"), "national urbanization 2023 missing");
    assert!(report.contains("目标进展") && report.contains("序时进度"));

    let emails = project.outbox();
    assert_eq!(emails.len(), 4, "one email per recipient: {emails:?}");
    for path in &emails {
        let bytes = std::fs::read(path).unwrap();
        let message = MessageParser::default().parse(&bytes).unwrap_or_else(|| panic!("{} is not MIME", path.display()));
        let subject = message.subject().unwrap_or_default().to_string();
        assert!(subject.contains("2023"), "subject {subject:?}");
        let to = message.to().and_then(|to| to.first()).and_then(|a| a.address()).unwrap_or_default().to_string();
        assert!(to.contains('@'), "recipient missing in {}", path.display());
        let text_body = message.body_text(0).unwrap_or_default().to_string();
        let html_body = message.body_html(0).unwrap_or_default().to_string();
        assert!(!text_body.is_empty() && !text_body.contains("<table"), "plain-text part of {}", path.display());
        assert!(html_body.contains("<table"), "HTML part of {}", path.display());
        assert!(message.message_id().is_some());
    }
    // Without a base URL the full report travels as an attachment; the HTML part stays small.
    let first_email = std::fs::read(&emails[0]).unwrap();
    let attached = MessageParser::default().parse(&first_email).unwrap();
    let attachment = attached.attachments().find(|a| a.attachment_name() == Some("index.html")).expect("the report is attached");
    assert_eq!(attachment.text_contents().unwrap().replace("\r\n", "\n"), report.replace("\r\n", "\n"));
    assert!(attached.body_html(0).unwrap().len() < 100 * 1024, "the HTML part would be clipped by Gmail");
    // The Jiaxing official follows only Jiaxing: the national targets are not in that email.
    let jiaxing = std::fs::read(project.path("reports/outbox/2023__tjj_jiaxing.example.gov.cn.eml")).unwrap();
    let jiaxing = MessageParser::default().parse(&jiaxing).unwrap();
    let jiaxing_text = jiaxing.body_text(0).unwrap().to_string();
    let jiaxing_html = jiaxing.body_html(0).unwrap().to_string();
    assert!(jiaxing_text.contains("嘉兴五个特色小镇"), "{jiaxing_text}");
    // Every image the HTML references is an inline PNG part of the message (Content-ID).
    let cids: Vec<&str> = jiaxing_html.split("src=\"cid:").skip(1).filter_map(|rest| rest.split('"').next()).collect();
    assert!(cids.len() >= 3, "progress bars expected in the Jiaxing email: {cids:?}");
    for cid in &cids {
        let part = jiaxing.parts.iter().find(|p| p.content_id() == Some(*cid)).unwrap_or_else(|| panic!("cid:{cid} does not resolve"));
        assert_eq!(part.content_type().map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or(""))), Some("image/png".to_string()));
        assert!(part.contents().starts_with(b"\x89PNG"), "cid:{cid} is not a PNG");
    }
    assert!(!jiaxing_html.contains("<svg"), "no SVG in email");
    // The plain text and the HTML carry the same figures.
    for figure in ["45.06", "106.80", "13.56", "3.52", "10.00", "进度不足", "已实现"] {
        assert!(jiaxing_text.contains(figure) && jiaxing_html.contains(figure), "{figure} is not in both parts");
    }
    assert!(!jiaxing_text.contains("延庆"), "{jiaxing_text}");
    // The English recipient gets English.
    let english = std::fs::read(project.path("reports/outbox/2023__pilots_ndrc.example.gov.cn.eml")).unwrap();
    let english = MessageParser::default().parse(&english).unwrap();
    assert!(english.subject().unwrap().contains("Urban development monitor"));

    assert_eq!(ledger_count(&project, "SELECT COUNT(*) FROM runs WHERE state = 'done' AND period = '2023'"), 1);
    assert_eq!(ledger_count(&project, "SELECT COUNT(*) FROM inputs WHERE length(sha256) = 64"), 3);
    assert_eq!(ledger_count(&project, "SELECT COUNT(*) FROM deliveries WHERE state = 'sent'"), 4);
    assert_eq!(ledger_count(&project, "SELECT COUNT(DISTINCT stage) FROM stages"), 4);

    // Again: byte-identical report, no email sent twice.
    let report_bytes = std::fs::read(&report_path).unwrap();
    let email_bytes: Vec<Vec<u8>> = emails.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let second = project.run(&["run"], &[]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    assert!(text(&second).contains("0 emails sent, 4 already sent earlier"), "{}", text(&second));
    assert_same(&report_bytes, &std::fs::read(&report_path).unwrap(), "the report on a re-run");
    assert_eq!(project.outbox(), emails);
    assert_eq!(emails.iter().map(|p| std::fs::read(p).unwrap()).collect::<Vec<_>>(), email_bytes);
    assert_eq!(ledger_count(&project, "SELECT COUNT(*) FROM deliveries"), 4);

    // --force re-sends.
    let forced = project.run(&["run", "--force"], &[]);
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced));
    assert_eq!(ledger_count(&project, "SELECT COUNT(*) FROM deliveries WHERE state = 'sent'"), 8);
    assert_same(&report_bytes, &std::fs::read(&report_path).unwrap(), "the report on a forced re-run");
}

#[test]
fn an_explicit_period_reports_what_was_known_then() {
    let project = DemoProject::new();
    let output = project.run(&["run", "--period", "2015-08"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let report = std::fs::read_to_string(project.path("reports/out/2015-08/index.html")).unwrap();
    // 1—8月 32.5 亿元 against the 106.8 亿元 plan: 30.4% done, 66.7% of the year gone.
    let row_start = report.find("data-entity=\"jx5\" data-indicator=\"fai\"").expect("jx5 plan row");
    let row = &report[row_start..row_start + report[row_start..].find("</tr>").unwrap()];
    assert!(row.contains("32.50") && row.contains("30.4") && row.contains("66.7"), "{row}");
    assert!(row.contains("data-status=\"insufficient\""), "{row}");
    // The headline's key figures lead with the most senior entity's target: the five towns together.
    let key = &report[report.find("id=\"key-figures\"").expect("key figures")..];
    assert!(key[..key.find("</div>\n  </div>").unwrap_or(key.len())].contains("嘉兴五个特色小镇 · 固定资产投资（2015-08）"), "{}", &key[..400.min(key.len())]);
    assert!(!report.contains("45.06"), "a figure of 2015-09 leaked into the 2015-08 report");

    // A month later the plan row carries a trend chart: two points and the dashed plan line.
    let output = project.run(&["run", "--period", "2015-09"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let report = std::fs::read_to_string(project.path("reports/out/2015-09/index.html")).unwrap();
    let row_start = report.find("data-entity=\"jx5\" data-indicator=\"fai\"").expect("jx5 plan row");
    let row = &report[row_start..row_start + report[row_start..].find("</tr>").unwrap()];
    let chart = &row[row.find("<svg class=\"chart trend\"").expect("no trend chart")..];
    assert_eq!(chart.matches("<circle").count(), 2, "{chart}");
    assert!(chart.contains("stroke-dasharray") && chart.contains(">2015-08<") && chart.contains(">2015-09<"), "{chart}");
}

#[test]
fn bad_rows_are_set_aside_with_reasons_and_the_run_goes_on_with_exit_1() {
    let project = DemoProject::new();
    let source = project.path("data/demo/seeds_001.csv");
    let mut text_in = std::fs::read_to_string(&source).unwrap();
    text_in.push_str("110119,pop_resident,2016,not-a-number,万人,,\n");
    text_in.push_str("110119,no_such_indicator,2015,1,,,\n");
    text_in.push_str("110119,area,2015-13,1993.75,km²,,\n");
    text_in.push_str("110119,area,2015,1993.75,km²,,\n");
    std::fs::write(&source, &text_in).unwrap();
    let lines = text_in.lines().count();

    let output = project.run(&["run"], &[]);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains(&format!("data/demo/seeds_001.csv:{}: field `value`: expected a number or an empty cell, got \"not-a-number\"", lines - 3)), "{out}");
    assert!(out.contains(&format!("data/demo/seeds_001.csv:{}: field `indicator`: unknown indicator \"no_such_indicator\"", lines - 2)), "{out}");
    assert!(out.contains(&format!("data/demo/seeds_001.csv:{}: field `period`: expected a period like 2025, 2025Q3 or 2025-09, got \"2015-13\"", lines - 1)), "{out}");
    assert!(out.contains(&format!("data/demo/seeds_001.csv:{lines}: field `period`: duplicated key 110119,area,2015: first given on line")), "{out}");

    let quarantine = std::fs::read_to_string(project.path("reports/warehouse/quarantine/national_pilots_2015.csv")).unwrap();
    assert_eq!(quarantine.lines().count(), 5, "{quarantine}");
    assert!(quarantine.contains("not-a-number") && quarantine.contains("duplicated key"));
    // The good rows still made the report.
    let report = std::fs::read_to_string(project.path("reports/out/2023/index.html")).unwrap();
    assert!(report.contains("延庆") && report.contains("not-a-number"));
}

#[test]
fn a_source_that_cannot_be_read_is_reported_and_the_others_still_run() {
    let project = DemoProject::new();
    let first = project.run(&["run"], &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    // Now the file turns into GBK bytes that are not UTF-8: the source fails, its last good vintage stays.
    std::fs::write(project.path("data/demo/seeds_002_004.csv"), b"entity,indicator,period,value\nCN,gdp,2023,\xb9\xfa\n").unwrap();
    let output = project.run(&["run", "--period", "2023"], &[]);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains("source \"lishui_and_national\"") && out.contains("seeds_002_004.csv:2: not valid UTF-8"), "{out}");
    let report = std::fs::read_to_string(project.path("reports/out/2023/index.html")).unwrap();
    assert!(report.contains("66.16"), "the failed source's last good vintage was lost");
    let alerts = &report[report.find("<section id=\"alerts\">").unwrap()..report.find("<section id=\"targets\">").unwrap()];
    assert!(alerts.contains("数据问题") && alerts.contains("not valid UTF-8"), "the failed source is not among the alerts:\n{alerts}");
}

#[test]
fn a_killed_run_leaves_the_previous_outputs_intact_and_the_next_run_completes() {
    let project = DemoProject::new();
    let first = project.run(&["run"], &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let report_path = project.path("reports/out/2023/index.html");
    let report = std::fs::read(&report_path).unwrap();
    // Kill runs at a spread of moments; every file must stay whole and readable.
    for delay_ms in [5u64, 20, 40, 80, 120, 200] {
        let mut child = std::process::Command::new(crate::binary())
            .args(["run", "--force"])
            .current_dir(project.dir.path())
            .env("TOWNPULSE_LOG", "off")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        assert_same(&report, &std::fs::read(&report_path).unwrap(), &format!("the report after a kill at {delay_ms} ms"));
        for email in project.outbox() {
            let bytes = std::fs::read(&email).unwrap();
            let parsed = MessageParser::default().parse(&bytes);
            assert!(parsed.is_some_and(|m| m.body_html(0).is_some_and(|h| h.contains("</html>"))), "{} is not a whole email", email.display());
        }
        for parquet in walk(&project.path("reports/warehouse/current")).into_iter().filter(|p| !is_temp(p)) {
            let frame = polars::prelude::LazyFrame::scan_parquet(
                polars::prelude::PlRefPath::new(parquet.to_str().unwrap()),
                Default::default(),
            )
            .and_then(|f| f.collect());
            assert!(frame.is_ok(), "{} unreadable after a kill at {delay_ms} ms", parquet.display());
        }
    }
    let last = project.run(&["run"], &[]);
    assert!(matches!(last.status.code(), Some(0)), "{}", text(&last));
    assert_same(&report, &std::fs::read(&report_path).unwrap(), "the report after the kills");
    assert_eq!(ledger_count(&project, "SELECT COUNT(*) FROM runs WHERE state = 'running'"), 0);
    let leftovers: Vec<_> = walk(&project.path("reports")).into_iter().filter(|p| is_temp(p)).collect();
    assert!(leftovers.is_empty(), "temporary files left after a clean run: {leftovers:?}");
}

fn is_temp(path: &std::path::Path) -> bool {
    path.file_name().is_some_and(|n| n.to_string_lossy().starts_with(".tmp-"))
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return files };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

#[test]
fn a_new_vintage_that_changes_a_published_value_is_reported_as_a_revision() {
    let project = DemoProject::new();
    let first = project.run(&["run"], &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let first_report = std::fs::read(project.path("reports/out/2023/index.html")).unwrap();
    // 延庆's 2015 area, revised in a new delivery of the source.
    let source = project.path("data/demo/seeds_001.csv");
    let content = std::fs::read_to_string(&source).unwrap();
    assert!(content.contains("110119,area,2015,1993.75"));
    std::fs::write(&source, content.replace("110119,area,2015,1993.75", "110119,area,2015,1994.5")).unwrap();
    let second = project.run(&["run"], &[]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    let report = std::fs::read_to_string(project.path("reports/out/2023/index.html")).unwrap();
    assert!(report.contains("revision: revised from 1993.75 (vintage"), "no revision in the data-quality appendix");
    assert!(report.contains("to 1994.5 (vintage"));
    assert_eq!(ledger_count(&project, "SELECT COUNT(*) FROM problems WHERE message LIKE 'revision:%1993.75%'"), 1);
    // Both vintages stay in the warehouse, listed with their fetch times.
    let index_path = project.path("reports/warehouse/vintages/national_pilots_2015/index.csv");
    let index = std::fs::read_to_string(&index_path).unwrap();
    let vintages: Vec<Vec<&str>> = index.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(vintages.len(), 2, "{index}");
    for v in &vintages {
        assert!(project.path(&format!("reports/warehouse/vintages/national_pilots_2015/{}.parquet", v[0])).is_file());
    }
    // Reading the unchanged input again adds no vintage, and the report stays the same.
    let second_report = std::fs::read(project.path("reports/out/2023/index.html")).unwrap();
    let third = project.run(&["run"], &[]);
    assert_eq!(third.status.code(), Some(0), "{}", text(&third));
    assert_eq!(std::fs::read_to_string(&index_path).unwrap(), index);
    assert_same(&second_report, &std::fs::read(project.path("reports/out/2023/index.html")).unwrap(), "the report after an unchanged input");
    // The report as of the first fetch is the first report, byte for byte; as of the second, the second.
    for (as_of, expected) in [(vintages[0][2], &first_report), (vintages[1][2], &second_report)] {
        let reproduced = project.run(&["run", "--period", "2023", "--as-of", as_of], &[]);
        assert_eq!(reproduced.status.code(), Some(0), "{}", text(&reproduced));
        let stamp = chrono::DateTime::parse_from_rfc3339(as_of).unwrap().format("%Y%m%dT%H%M%SZ").to_string();
        let path = project.path(&format!("reports/out/as-of-{stamp}/2023/index.html"));
        assert_same(expected, &std::fs::read(&path).unwrap(), &format!("the report as of {as_of}"));
    }
    assert_eq!(project.outbox().len(), 4, "a reproduction sends nothing");
    // A date is the end of that day in the configured zone; before the first fetch there is nothing.
    let before = project.run(&["run", "--period", "2023", "--as-of", "2000-01-01"], &[]);
    let out = text(&before);
    assert_eq!(before.status.code(), Some(2), "{out}");
    assert!(out.contains("the warehouse holds no vintage fetched by 2000-01-01T15:59:59.000Z: nothing to reproduce (the first was fetched at "), "{out}");
    let bad = project.run(&["run", "--as-of", "yesterday"], &[]);
    assert!(text(&bad).contains("--as-of: expected a date like 2026-10-31 or an RFC 3339 time, got \"yesterday\""), "{}", text(&bad));
    assert_eq!(ledger_count(&project, "SELECT COUNT(*) FROM runs WHERE state = 'reproduced'"), 2);
}

#[test]
fn a_second_run_while_one_holds_the_lock_exits_3_or_waits() {
    use std::io::Write;
    let project = DemoProject::new();
    std::fs::create_dir_all(project.path("reports")).unwrap();
    // Stand in for a run in progress: hold the same OS lock, with the holder's description.
    let mut held = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(project.path("reports/ledger.lock")).unwrap();
    held.try_lock().unwrap();
    write!(held, "pid 4242, period 2023, cron since 2026-11-05T01:00:00Z").unwrap();
    let output = project.run(&["run"], &[]);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(3), "{out}");
    assert!(out.contains("another run holds the lock") && out.contains("pid 4242, period 2023, cron"), "{out}");
    assert!(!project.path("reports/out/2023/index.html").exists(), "a locked-out run wrote a report");

    // With --wait it runs once the holder lets go.
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(700));
        drop(held);
    });
    let waited = project.run(&["run", "--wait"], &[]);
    release.join().unwrap();
    assert_eq!(waited.status.code(), Some(0), "{}", text(&waited));
    assert!(project.path("reports/out/2023/index.html").exists());
}

#[test]
fn hostile_names_appear_as_text_in_the_report_and_the_emails() {
    let project = DemoProject::new();
    let entities = project.path("config/entities.csv");
    let content = std::fs::read_to_string(&entities).unwrap();
    let hostile = r#"嘉兴<script>alert("x")</script> & 'co'"#;
    assert!(content.contains("jx5,嘉兴五个特色小镇,"));
    std::fs::write(&entities, content.replace("jx5,嘉兴五个特色小镇,", &format!("jx5,\"{}\",", hostile.replace('"', "\"\"")))).unwrap();
    let indicators = project.path("config/indicators.csv");
    let content = std::fs::read_to_string(&indicators).unwrap();
    std::fs::write(&indicators, content.replace("fai,固定资产投资,", "fai,\"固定资产投资<b>&amp;\",")).unwrap();
    let output = project.run(&["run", "--period", "2015-09"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let report = std::fs::read_to_string(project.path("reports/out/2015-09/index.html")).unwrap();
    assert!(!report.contains("<script>") && !report.contains("<b>&amp;"), "markup from the data reached the report");
    assert!(report.contains("固定资产投资&lt;b&gt;&amp;amp;"), "the indicator name is not shown as text");
    assert!(report.contains("嘉兴&lt;script&gt;alert("), "the entity name is not shown as text");
    assert!(report.contains("aria-label=\"嘉兴&lt;script&gt;"), "the chart's label is not escaped");
    let email = std::fs::read(project.path("reports/outbox/2015-09__tjj_jiaxing.example.gov.cn.eml")).unwrap();
    let email = mail_parser::MessageParser::default().parse(&email).unwrap();
    let html = email.body_html(0).unwrap();
    assert!(!html.contains("<script>") && !html.contains("<b>&amp;"), "markup from the data reached the email");
    assert!(html.contains("嘉兴&lt;script&gt;"), "the entity name is not shown as text in the email");
    assert!(email.body_text(0).unwrap().contains("固定资产投资<b>&amp;"), "the plain text shows the name as written");
    assert!(email.body_text(0).unwrap().contains(hostile), "the plain text shows the entity name as written");
    // In the workbook the name is a text cell, exactly as written.
    use calamine::Reader;
    let mut workbook: calamine::Xlsx<_> = calamine::open_workbook(project.path("reports/out/2015-09/tables.xlsx")).unwrap();
    let targets = workbook.worksheet_range("目标进展").unwrap();
    assert!(targets.rows().any(|r| r[1] == calamine::Data::String(hostile.to_string())), "the name is not a text cell in tables.xlsx");
}

#[test]
fn preview_writes_what_would_be_sent_and_sends_nothing() {
    let project = DemoProject::new();
    let output = project.run(&["preview", "--period", "2015-09", "--recipient", "tjj@jiaxing.example.gov.cn"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let eml = std::fs::read(project.path("reports/preview/2015-09__tjj_jiaxing.example.gov.cn.eml")).unwrap();
    let html = std::fs::read_to_string(project.path("reports/preview/2015-09__tjj_jiaxing.example.gov.cn.html")).unwrap();
    let message = MessageParser::default().parse(&eml).unwrap();
    // MIME carries text with CRLF line ends; the .html file keeps the template's.
    assert_eq!(message.body_html(0).unwrap().replace("\r\n", "\n").trim_end(), html.trim_end(), "the .html is the email's HTML part");
    assert!(html.contains("嘉兴五个特色小镇") && html.contains("45.06"), "{html}");
    assert!(project.outbox().is_empty(), "a preview sent email");
    assert!(!project.path("reports/ledger.sqlite").exists() && !project.path("reports/warehouse").exists(), "a preview recorded or stored something");
    // The same as the run then sends.
    let run = project.run(&["run", "--period", "2015-09"], &[]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let sent = std::fs::read(project.path("reports/outbox/2015-09__tjj_jiaxing.example.gov.cn.eml")).unwrap();
    let sent = MessageParser::default().parse(&sent).unwrap();
    assert_eq!(sent.body_html(0).unwrap(), message.body_html(0).unwrap());
    assert_eq!(sent.subject(), message.subject());

    let unknown = project.run(&["preview", "--recipient", "nobody@example.org"], &[]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown).contains("no recipient \"nobody@example.org\" in the configuration"), "{}", text(&unknown));
}

#[test]
fn status_and_history_read_the_ledger() {
    let project = DemoProject::new();
    let none = project.run(&["status"], &[]);
    assert!(text(&none).contains("no runs yet"), "{}", text(&none));
    let first = project.run(&["run"], &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let status = project.run(&["status"], &[]);
    let out = text(&status);
    assert_eq!(status.status.code(), Some(0), "{out}");
    assert!(out.contains("run 1 · period 2023 · cli · done (exit 0)"), "{out}");
    for stage in ["ingest", "transform", "render", "deliver"] {
        assert!(out.lines().any(|l| l.trim_start().starts_with(stage) && l.contains(" rows ") && l.ends_with(" ms")), "stage {stage} missing:\n{out}");
    }
    assert!(out.contains("national_pilots_2015: 58 rows, 0 set aside, ok, sha256 "), "{out}");
    assert_eq!(out.lines().filter(|l| l.contains(": sent (")).count(), 4, "{out}");

    let again = project.run(&["run", "--period", "2015-08"], &[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let history = text(&project.run(&["history"], &[]));
    let rows: Vec<&str> = history.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{history}");
    assert!(rows[0].contains("2015-08") && rows[1].contains("2023"), "newest first:\n{history}");
}

#[test]
fn the_report_is_in_english_when_configured() {
    let project = DemoProject::new();
    let path = project.path("config/townpulse.toml");
    let config = std::fs::read_to_string(&path).unwrap().replace("language = \"zh-CN\"", "language = \"en\"");
    std::fs::write(&path, config).unwrap();
    let output = project.run(&["run", "--period", "2015-09"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let report = std::fs::read_to_string(project.path("reports/out/2015-09/index.html")).unwrap();
    assert!(report.contains("<html lang=\"en\">") && report.contains("Urban development monitor — 2015-09"));
    assert!(report.contains("Progress toward targets") && report.contains("Insufficient progress") && !report.contains("目标进展"));
}

#[test]
fn the_full_report_stops_at_the_deepest_level_and_summaries_keep_every_followed_entity() {
    let project = DemoProject::new();
    let body_of = |address: &str| {
        let bytes = std::fs::read(project.path(&format!("reports/outbox/2023__{address}.eml"))).unwrap();
        MessageParser::default().parse(&bytes).unwrap().body_text(0).unwrap().to_string()
    };
    let first = project.run(&["run"], &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let report_path = project.path("reports/out/2023/index.html");
    let report = std::fs::read_to_string(&report_path).unwrap();
    // 织里镇 is a town with targets; 迁安市 a county.
    assert!(report.contains("织里镇") && report.contains("迁安市"), "both levels are in the report by default");
    assert!(!report.contains("<section id=\"below\">"), "nothing is below when every level is listed");
    let targets = report.split("<section id=\"targets\">").nth(1).and_then(|rest| rest.split("</section>").next()).unwrap();
    let town_targets = targets.matches("<tr data-entity=\"330502100\"").count();
    let zhejiang = body_of("fgw_zhejiang.example.gov.cn");
    assert!(zhejiang.contains("织里镇"), "{zhejiang}");

    let path = project.path("config/townpulse.toml");
    let config = std::fs::read_to_string(&path).unwrap().replace("# deepest_level = \"county\"", "deepest_level = \"county\"");
    std::fs::write(&path, config).unwrap();
    let cut = project.run(&["run", "--force"], &[]);
    assert_eq!(cut.status.code(), Some(0), "{}", text(&cut));
    let report = std::fs::read_to_string(&report_path).unwrap();
    assert!(!report.contains("织里镇"), "towns are below the deepest level");
    assert!(report.contains("迁安市") && report.contains("浙江省27个小城市培育试点镇"), "counties and groups stay");
    // The towns' targets are counted by status under their county (吴兴区 for 织里镇, its one town with targets).
    let below = report.split("<section id=\"below\">").nth(1).and_then(|rest| rest.split("</section>").next()).expect("a section of the targets below");
    let row = below.split("<tr data-entity=\"330502\">").nth(1).and_then(|rest| rest.split("</tr>").next()).expect("a row for 吴兴区");
    let total = format!("<td data-label=\"目标数\" class=\"n\">{town_targets}</td>");
    assert!(town_targets > 0 && row.contains(&total), "{total} expected in {row}");
    let by_status: usize = row.split("class=\"n st-").skip(1).filter_map(|cell| cell.split('>').nth(1)?.split('<').next()?.parse::<usize>().ok()).sum();
    assert_eq!(by_status, town_targets, "{row}");
    assert!(row.contains("吴兴区"), "{row}");
    let tables = std::fs::read(project.path("reports/out/2023/tables.xlsx")).unwrap();
    let mut workbook = calamine::Xlsx::new(std::io::Cursor::new(tables)).unwrap();
    use calamine::Reader;
    let cells: Vec<String> = workbook
        .worksheets()
        .into_iter()
        .flat_map(|(_, range)| range.rows().flat_map(|row| row.iter().map(|c| c.to_string()).collect::<Vec<_>>()).collect::<Vec<_>>())
        .collect();
    assert!(cells.iter().any(|c| c == "130283") && !cells.iter().any(|c| c == "330502100"), "tables.xlsx is cut at the same level");
    // The province's summary still lists the town it follows.
    assert_eq!(body_of("fgw_zhejiang.example.gov.cn"), zhejiang);
}

#[test]
fn demo_data_is_deterministic_in_the_contract_and_runs_end_to_end() {
    let temp = tempfile::tempdir().unwrap();
    let divisions = crate::shared_dir().join("data/admin-divisions");
    let generate = |out: &str| {
        let output = crate::townpulse(temp.path(), &["demo-data", "--scale", "25", "--out", out, "--divisions", divisions.to_str().unwrap()], &[], "warn")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
        text(&output)
    };
    let said = generate("a");
    // 25 townships × (15 indicators × 36 months + 5 year-to-date flows × 33 months without January).
    assert!(said.contains("25 townships in 2 counties: 17625 observations, 75 targets"), "{said}");
    generate("b");
    for file in ["observations.csv", "observations.parquet", "entities.csv", "targets.csv", "townpulse.toml"] {
        assert_same(&std::fs::read(temp.path().join("a").join(file)).unwrap(), &std::fs::read(temp.path().join("b").join(file)).unwrap(), file);
    }
    let entities = std::fs::read_to_string(temp.path().join("a/entities.csv")).unwrap();
    assert!(entities.contains("\n11,\"北京市\",province,CN\n") && entities.contains("\n1101,\"市辖区\",prefecture,11\n"), "{entities}");
    let observations = std::fs::read_to_string(temp.path().join("a/observations.csv")).unwrap();
    assert!(!observations.contains(",industrial_output_ytd,2024-01,"), "January of a year-to-date flow is never published");
    let missing = observations.lines().filter(|l| l.ends_with(',')).count();
    assert!((50..=300).contains(&missing), "about 1% of cells missing, got {missing}");
    // The generated configuration runs: one summary per county.
    let run = crate::townpulse(&temp.path().join("a"), &["--config", "townpulse.toml", "run"], &[], "warn").output().unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert_eq!(std::fs::read_dir(temp.path().join("a/reports/outbox")).unwrap().count(), 2);
}

#[test]
fn a_report_too_large_to_attach_is_named_by_its_place_and_the_operator_is_told() {
    let project = DemoProject::new();
    let path = project.path("config/townpulse.toml");
    let config = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, config.replace("from = \"townpulse <townpulse@localhost>\"", "from = \"townpulse <townpulse@localhost>\"\nmax_attachment_mb = 0.01")).unwrap();
    let output = project.run(&["run"], &[]);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains("is over delivery.max_attachment_mb (0.0): emails say where it is kept instead; set delivery.report_base_url to link it"), "{out}");
    let emails = project.outbox();
    assert_eq!(emails.len(), 4);
    for email in &emails {
        let raw = std::fs::read(email).unwrap();
        let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert!(message.attachments().all(|a| a.attachment_name() != Some("index.html")), "{} carries the report", email.display());
        let text = message.body_text(0).unwrap().to_string();
        assert!(text.contains("reports/out/2023/index.html"), "{text}");
        assert!(text.contains("未随邮件附上") || text.contains("too large to attach"), "{text}");
    }
}
