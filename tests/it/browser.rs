//! The demo report opened in a real headless Chromium.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{DemoProject, project_dir, text};

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].iter().map(PathBuf::from).find(|p| p.is_file())
}

fn headless(chromium: &Path, profile: &Path, extra: &[String]) -> std::process::Output {
    Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .output()
        .expect("starting chromium")
}

#[test]
fn the_report_opens_in_headless_chromium_and_shows_the_figures() {
    let Some(chromium) = chromium() else {
        assert!(std::env::var("CI").is_err(), "Chromium is required under CI (apt-get install chromium) but was not found");
        eprintln!("NOT RUN: the_report_opens_in_headless_chromium: no Chromium at /usr/bin/chromium (apt-get install chromium)");
        return;
    };
    let project = DemoProject::new();
    let output = project.run(&["run"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let report = project.path("reports/out/2023/index.html");
    let url = format!("file://{}", report.display());
    let profile = tempfile::tempdir().unwrap();

    // The DOM as Chromium parsed it holds the figures and the Chinese labels.
    let dom = headless(&chromium, profile.path(), &["--dump-dom".into(), url.clone()]);
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.status.success(), "{}", String::from_utf8_lossy(&dom.stderr));
    for needle in ["2023 城镇发展监测月报", "目标进展", "嘉兴五个特色小镇", "106.80", "66.16", "序时进度"] {
        assert!(dom_text.contains(needle), "{needle:?} not in the page Chromium rendered");
    }
    // Every target row's value and gap, as rendered, equal the engine's figures at the indicator's decimals.
    let config = config::Config::load(&project.path("config/townpulse.toml"), &config::Environment::default()).unwrap();
    let names: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
    let observations = ingest::Warehouse::new(&config.output.warehouse_dir).current(&names).unwrap();
    let metrics = transform::compute(&observations, &config.catalogue, "2023".parse().unwrap(), &transform::Settings::eurostat()).unwrap();
    let targets_section = &dom_text[dom_text.find("<section id=\"targets\">").unwrap()..];
    let targets_section = &targets_section[..targets_section.find("</section>").unwrap()];
    let rows: Vec<&str> = targets_section.split("<tr data-entity=").skip(1).collect();
    assert_eq!(rows.len(), metrics.targets.height(), "one rendered row per target");
    let cell = |row: &str, class: &str| -> String {
        let start = row.find(&format!("class=\"n {class}\">")).unwrap_or_else(|| panic!("no {class} cell in {row}"));
        let text = &row[start..];
        text[text.find('>').unwrap() + 1..text.find("</td>").unwrap()].to_string()
    };
    let mut compared = 0;
    for (index, row) in rows.iter().enumerate() {
        let indicator = metrics.targets.column("indicator").unwrap().get(index).unwrap().str_value().to_string();
        let decimals = config.catalogue.indicators[&indicator].decimals;
        let value = metrics.targets.column("value").unwrap().get(index).unwrap().extract::<f64>();
        assert_eq!(cell(row, "value"), report::format_number(value, decimals), "row {index}: value");
        let gap = metrics.targets.column("gap").unwrap().get(index).unwrap().extract::<f64>();
        let shown_gap = cell(row, "gap");
        assert_eq!(shown_gap.trim_start_matches('+'), report::format_number(gap, decimals), "row {index}: gap");
        compared += usize::from(value.is_some());
    }
    assert!(compared >= 5, "only {compared} rendered figures compared");

    // At phone width nothing overflows horizontally: a probe page loads the report into a 390 px
    // frame and writes what it measured into its own DOM, which Chromium then dumps.
    let probe = project.path("reports/out/2023/probe.html");
    std::fs::write(
        &probe,
        r#"<!DOCTYPE html><html><body style="margin:0"><iframe id="f" src="index.html" style="width:390px;height:800px;border:0"></iframe>
<script>
document.getElementById('f').addEventListener('load', function () {
  var d = this.contentDocument.documentElement;
  var wide = Array.prototype.filter.call(this.contentDocument.querySelectorAll('body *'), function (e) {
    return e.getBoundingClientRect().right > d.clientWidth + 1 && !e.closest('.scroll');
  }).length;
  var out = document.createElement('pre');
  out.id = 'result';
  out.textContent = 'scrollWidth=' + d.scrollWidth + ' clientWidth=' + d.clientWidth + ' wide=' + wide;
  document.body.appendChild(out);
});
</script></body></html>"#,
    )
    .unwrap();
    let measured = headless(
        &chromium,
        profile.path(),
        &[
            "--allow-file-access-from-files".into(),
            "--virtual-time-budget=5000".into(),
            "--enable-logging=stderr".into(),
            "--v=0".into(),
            "--dump-dom".into(),
            format!("file://{}", probe.display()),
        ],
    );
    let dom = String::from_utf8_lossy(&measured.stdout);
    let result = dom.split("<pre id=\"result\">").nth(1).and_then(|r| r.split("</pre>").next()).unwrap_or_else(|| panic!("the probe did not run: {dom}"));
    let number = |key: &str| -> i64 { result.split(&format!("{key}=")).nth(1).and_then(|v| v.split(' ').next()).unwrap().parse().unwrap() };
    assert_eq!(number("clientWidth"), 390, "{result}");
    assert!(number("scrollWidth") <= 390, "the report overflows at 390 px: {result}");
    assert_eq!(number("wide"), 0, "elements stick out at 390 px: {result}");
    let stderr = String::from_utf8_lossy(&measured.stderr);
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains("CONSOLE") && !l.contains("probe.html")).collect();
    assert!(console.is_empty(), "console messages from the report: {console:?}");

    // Screenshots at desktop and phone width, kept as test artifacts.
    let artifacts = project_dir().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    for (width, name) in [(1280, "report-1280.png"), (390, "report-390.png")] {
        let path = artifacts.join(name);
        let _ = std::fs::remove_file(&path);
        let shot = headless(
            &chromium,
            profile.path(),
            &[format!("--window-size={width},2400"), format!("--screenshot={}", path.display()), url.clone()],
        );
        assert!(shot.status.success(), "{}", String::from_utf8_lossy(&shot.stderr));
        let bytes = std::fs::read(&path).unwrap_or_default();
        assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000, "screenshot {name} is missing or blank");
    }
}
