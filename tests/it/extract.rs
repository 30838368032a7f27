//! `extract`: baselines and targets out of policy documents, scored against the gold tables of
//! `../shared/seeds/gold` (read in place), and each phrasing class of its CONVENTIONS.md.

use std::path::Path;

use crate::shared_dir;
use extract::{Kind, Options, Row};

// ---------------------------------------------------------------------------------------------------
// Synthetic documents in the compilation's layout
// ---------------------------------------------------------------------------------------------------

/// Lays paragraphs out like the compilation: each text line followed by an empty line, the last line of
/// a paragraph ending with a space. `⏎` inside a paragraph marks a line break of the source.
fn layout(paragraphs: &[&str]) -> String {
    let mut out = String::new();
    for paragraph in paragraphs {
        let lines: Vec<&str> = paragraph.split('⏎').collect();
        for (i, line) in lines.iter().enumerate() {
            out.push_str(line);
            if i + 1 == lines.len() {
                out.push(' ');
            }
            out.push_str("\n\n");
        }
    }
    out
}

/// One plan: a two-line title block naming the region, a 基本情况 part and a goals part.
fn plan(region_line: &str, baseline: &[&str], goals: &[&str]) -> String {
    let mut paragraphs = vec![region_line, "新型城镇化试点工作方案要点", "一、基本情况"];
    paragraphs.extend_from_slice(baseline);
    paragraphs.push("二、总体思路及目标");
    paragraphs.extend_from_slice(goals);
    layout(&paragraphs)
}

/// The 1-based line of the first line containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} is not in the text"))
        + 1
}

fn run(text: &str) -> Vec<Row> {
    extract::extract(text, &Options::default())
}

/// The one row of `kind` with this value.
fn the<'a>(rows: &'a [Row], kind: Kind, value: &str) -> &'a Row {
    let found: Vec<&Row> = rows
        .iter()
        .filter(|r| r.kind == kind && r.value == value)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {kind:?} row with value {value:?}, got {found:#?}\nall rows: {rows:#?}"
    );
    found[0]
}

fn values(rows: &[Row], kind: Kind) -> Vec<&str> {
    rows.iter()
        .filter(|r| r.kind == kind)
        .map(|r| r.value.as_str())
        .collect()
}

const REGION: &str = "湖南省青山市绿水县产城融合";

// ---------------------------------------------------------------------------------------------------
// The goal: part 1 of the compilation against the gold tables
// ---------------------------------------------------------------------------------------------------

#[test]
fn part1_meets_the_precision_and_recall_goals() {
    let seeds = shared_dir().join("seeds");
    let path = seeds.join("001_58abb6e4dd5ecd1a.part1.txt");
    let text = extract::decode(&path, &std::fs::read(&path).unwrap()).unwrap();
    let rows = extract::extract(&text, &Options::default());
    let gold_targets = std::fs::read_to_string(seeds.join("gold/targets.part1.csv")).unwrap();
    let gold_baselines = std::fs::read_to_string(seeds.join("gold/baselines.part1.csv")).unwrap();
    let scores = extract::score::score(&rows, &gold_targets, &gold_baselines);
    println!("{}", extract::summary(&scores));
    for missed in &scores.missed_targets {
        println!("missed target: {missed}");
    }
    for extra in &scores.extra_targets {
        println!("extra target: {extra}");
    }
    assert_eq!(scores.unreadable_gold_rows, 0);
    assert_eq!(
        scores.targets.true_positives + scores.targets.false_negatives,
        268
    );
    assert!(
        scores.targets.precision >= 0.95,
        "{}",
        extract::summary(&scores)
    );
    assert!(
        scores.targets.recall >= 0.90,
        "{}",
        extract::summary(&scores)
    );
    assert!(
        scores.baselines.precision >= 0.95,
        "{}",
        extract::summary(&scores)
    );
    assert!(
        scores.baselines.recall >= 0.90,
        "{}",
        extract::summary(&scores)
    );
    // Every row of part 1 belongs to one of its 55 plans.
    let plans: std::collections::BTreeSet<usize> =
        rows.iter().filter_map(|r| r.section_line).collect();
    assert!(plans.len() <= 55 && rows.iter().all(|r| r.section_line.is_some()));
    assert!(
        rows.iter()
            .all(|r| r.quote.chars().count() <= 50 && !r.quote.contains('\n'))
    );
}

#[test]
fn other_seed_documents_give_rows_without_plan_structure() {
    for name in [
        "000_c822c4c5b5df47b9.txt",
        "002_389cea291b68c6d6.txt",
        "003_33ffd65821f4f84d.txt",
        "004_fc855ef621f909c8.txt",
    ] {
        let path = shared_dir().join("seeds").join(name);
        let text = extract::decode(&path, &std::fs::read(&path).unwrap()).unwrap();
        let rows = run(&text);
        assert!(!rows.is_empty(), "{name}: no rows");
        assert!(
            rows.iter()
                .all(|r| r.region.is_empty() && r.section_line.is_none()),
            "{name}"
        );
        let line_count = text.lines().count();
        assert!(
            rows.iter().all(|r| r.line >= 1 && r.line <= line_count),
            "{name}"
        );
    }
    // The Lishui guidance states 2025 targets.
    let path = shared_dir().join("seeds/002_389cea291b68c6d6.txt");
    let rows = run(&std::fs::read_to_string(&path).unwrap());
    let rate = rows
        .iter()
        .find(|r| r.indicator.as_deref() == Some("urban_rate_resident"))
        .expect("the 2025 target");
    assert_eq!(
        (
            rate.kind,
            rate.value.as_str(),
            rate.comparator.as_str(),
            rate.year
        ),
        (Kind::Target, "75", ">=", Some(2025))
    );
    let ratio = rows
        .iter()
        .find(|r| r.indicator_text.contains("收入比"))
        .expect("the income ratio target");
    assert_eq!(
        (ratio.value.as_str(), ratio.comparator.as_str()),
        ("1.6", "<=")
    );
}

// ---------------------------------------------------------------------------------------------------
// Compilation structure
// ---------------------------------------------------------------------------------------------------

#[test]
fn a_compilation_is_split_into_plans_by_their_title_blocks() {
    let mut text = plan(
        REGION,
        &["全县总面积 800 平方公里。"],
        &["到 2020 年，常住人口城镇化率达到 55%。"],
    );
    text.push_str("9\n\n");
    // The second title keeps 新型城镇化 on the region line, and has no 基本情况 heading.
    text.push_str(&layout(&[
        "江西省红岭市白沙镇新型城镇化",
        "综合试点工作方案要点",
        "白沙镇镇域面积 60 平方公里，常住人口 4.5 万人。",
        "一、总体思路及目标",
        "到 2020 年，户籍人口城镇化率达到 40%。",
    ]));
    let rows = run(&text);
    let first = the(&rows, Kind::Target, "55");
    assert_eq!(
        (first.section_line, first.region.as_str()),
        (Some(1), "湖南省青山市绿水县")
    );
    let second_start = line_of(&text, "江西省红岭市白沙镇");
    let area = the(&rows, Kind::Baseline, "60");
    assert_eq!(
        (area.section_line, area.region.as_str()),
        (Some(second_start), "江西省红岭市白沙镇")
    );
    assert_eq!(area.indicator.as_deref(), Some("area"));
    assert_eq!(
        the(&rows, Kind::Baseline, "4.5").indicator.as_deref(),
        Some("pop_resident")
    );
    assert_eq!(
        the(&rows, Kind::Target, "40").section_line,
        Some(second_start)
    );
}

#[test]
fn page_numbers_and_urls_inside_a_sentence_are_skipped() {
    let text = plan(
        REGION,
        &["全县常住人口 30⏎⏎12⏎⏎万人，户籍人口城镇化率⏎http://example.com/some/page.htm⏎ 35%。"],
        &["到 2020 年，常住人口城镇化率达到⏎https://www.bing.com/knows/x⏎60%以上。"],
    );
    let rows = run(&text);
    let pop = the(&rows, Kind::Baseline, "30");
    assert_eq!(
        (pop.unit.as_str(), pop.indicator.as_deref()),
        ("万人", Some("pop_resident"))
    );
    assert_eq!(
        the(&rows, Kind::Baseline, "35").indicator.as_deref(),
        Some("urban_rate_hukou")
    );
    let target = the(&rows, Kind::Target, "60");
    assert_eq!(
        (target.comparator.as_str(), target.indicator.as_deref()),
        (">=", Some("urban_rate_resident"))
    );
    assert!(
        !rows.iter().any(|r| r.value == "12"),
        "a page number is not a value"
    );
}

// ---------------------------------------------------------------------------------------------------
// Baseline phrasing (CONVENTIONS §4, entries 1–16)
// ---------------------------------------------------------------------------------------------------

#[test]
fn baseline_canonical_statement_with_split_year_and_unit() {
    let text = plan(
        REGION,
        &[
            "绿水县地处湘中丘陵，县域面积 1 234.5 平⏎方公里。截至 2015⏎年底，全县常住人口 45.6 万人，户籍人口⏎50.1 万人，常住人口城镇化率 48.2%，户籍人⏎口城镇化率 30.5%。",
        ],
        &[],
    );
    let rows = run(&text);
    let pop = the(&rows, Kind::Baseline, "45.6");
    assert_eq!(
        (pop.indicator.as_deref(), pop.year, pop.unit.as_str()),
        (Some("pop_resident"), Some(2015), "万人")
    );
    assert_eq!(pop.line, line_of(&text, "年底，全县常住人口"));
    let hukou = the(&rows, Kind::Baseline, "50.1");
    assert_eq!(
        (hukou.indicator.as_deref(), hukou.line),
        (Some("pop_hukou"), line_of(&text, "50.1 万人"))
    );
    assert_eq!(
        the(&rows, Kind::Baseline, "48.2").indicator.as_deref(),
        Some("urban_rate_resident")
    );
    let rate = the(&rows, Kind::Baseline, "30.5");
    assert_eq!(rate.indicator.as_deref(), Some("urban_rate_hukou"));
    assert_eq!(rate.quote, "户籍人口城镇化率 30.5%");
    assert!(values(&rows, Kind::Target).is_empty());
}

#[test]
fn baseline_people_not_ten_thousands_and_gdp_in_wan_yuan() {
    let text = plan(
        REGION,
        &[
            "2015 年户籍人口为 28765 人，其中农业户籍⏎人口 15001 人。全镇生产总值 86543 万元，⏎财政总收入 120000 万元，工业增加值 5.5 亿元。",
        ],
        &[],
    );
    let rows = run(&text);
    let hukou = the(&rows, Kind::Baseline, "28765");
    assert_eq!(
        (hukou.indicator.as_deref(), hukou.unit.as_str()),
        (Some("pop_hukou"), "人")
    );
    assert_eq!(
        the(&rows, Kind::Baseline, "15001").indicator,
        None,
        "a sub-group is not the hukou population"
    );
    let gdp = the(&rows, Kind::Baseline, "86543");
    assert_eq!(
        (gdp.indicator.as_deref(), gdp.unit.as_str()),
        (Some("gdp"), "万元")
    );
    assert_eq!(the(&rows, Kind::Baseline, "120000").indicator, None);
    assert_eq!(
        the(&rows, Kind::Baseline, "5.5").indicator,
        None,
        "增加值 is not GDP"
    );
}

#[test]
fn baseline_labels_that_are_not_taken_for_resident_figures() {
    let text = plan(
        REGION,
        &[
            "全县总人口 52.3 万人，城镇常住人口 20 万人，县城常住人口⏎15.2 万人，镇区人口 3 万人，城镇化率 41%，城镇常住人口城⏎镇化率 38%。目⏎前，全县常住人口达到 48 万人。",
        ],
        &[],
    );
    let rows = run(&text);
    for value in ["52.3", "20", "15.2", "3", "41"] {
        assert_eq!(the(&rows, Kind::Baseline, value).indicator, None, "{value}");
    }
    assert_eq!(
        the(&rows, Kind::Baseline, "38").indicator.as_deref(),
        Some("urban_rate_resident")
    );
    assert_eq!(
        the(&rows, Kind::Baseline, "48").indicator.as_deref(),
        Some("pop_resident")
    );
}

#[test]
fn baseline_rates_with_verbs_pairings_and_no_spaces() {
    let text = plan(
        REGION,
        &[
            "县域面积612平方公里，总人口27.4⏎万人。2015年常住人口城镇化率达到 44.1%，户籍⏎人口城镇化率为 31.9%。",
            "常住人口和户籍人口城镇⏎化率分别为 52.8%和 47.2%；地区生产总值、固定资产投资分别达 88.8 亿元和 40.1 亿元。",
        ],
        &[],
    );
    let rows = run(&text);
    assert_eq!(
        the(&rows, Kind::Baseline, "612").indicator.as_deref(),
        Some("area")
    );
    let total = the(&rows, Kind::Baseline, "27.4");
    assert_eq!(
        (total.indicator.as_deref(), total.unit.as_str()),
        (None, "万人")
    );
    assert_eq!(
        the(&rows, Kind::Baseline, "44.1").indicator.as_deref(),
        Some("urban_rate_resident")
    );
    assert_eq!(
        the(&rows, Kind::Baseline, "31.9").indicator.as_deref(),
        Some("urban_rate_hukou")
    );
    assert_eq!(
        the(&rows, Kind::Baseline, "52.8").indicator.as_deref(),
        Some("urban_rate_resident")
    );
    assert_eq!(
        the(&rows, Kind::Baseline, "47.2").indicator.as_deref(),
        Some("urban_rate_hukou")
    );
    assert_eq!(
        the(&rows, Kind::Baseline, "88.8").indicator.as_deref(),
        Some("gdp")
    );
    assert_eq!(the(&rows, Kind::Baseline, "40.1").indicator, None);
}

#[test]
fn baseline_areas_in_ten_thousand_km2_malformed_units_and_sub_areas() {
    let text = plan(
        REGION,
        &[
            "全市行政区划面积 2.7 万平方公里，建成区面积 80 平方公里。区域总面积 1830平方公里（其中陆域面积 1200平方公里）。全县总面积990 平方米公里。",
        ],
        &[],
    );
    let rows = run(&text);
    let big = the(&rows, Kind::Baseline, "2.7");
    assert_eq!(
        (big.indicator.as_deref(), big.unit.as_str()),
        (Some("area"), "万平方公里")
    );
    assert_eq!(
        extract::score::baseline_in_gold_unit("area", &big.value, &big.unit),
        Some(27_000.0)
    );
    assert_eq!(the(&rows, Kind::Baseline, "80").indicator, None);
    assert_eq!(
        the(&rows, Kind::Baseline, "1830").indicator.as_deref(),
        Some("area")
    );
    assert_eq!(the(&rows, Kind::Baseline, "1200").indicator, None);
    assert_eq!(
        the(&rows, Kind::Baseline, "990").indicator.as_deref(),
        Some("area")
    );
}

#[test]
fn baseline_from_to_and_approximations() {
    let text = plan(
        REGION,
        &[
            "常住人口城镇化率由“十二五”初期的 31%增加到 49%。全市城镇化率由2010⏎年的40.5%提高到2015年的50.2%。常住人口 9 万余人，户籍人口约 7.5 万人，常驻人口城镇化率 52%。三次产业比例为7.1：48.3：44.6。",
        ],
        &[],
    );
    let rows = run(&text);
    assert_eq!(
        the(&rows, Kind::Baseline, "49").indicator.as_deref(),
        Some("urban_rate_resident")
    );
    assert_eq!(
        the(&rows, Kind::Baseline, "31").indicator,
        None,
        "the earlier figure is history"
    );
    assert_eq!(
        the(&rows, Kind::Baseline, "50.2").indicator,
        None,
        "城镇化率 without 常住 is not taken for 常住"
    );
    let approx = the(&rows, Kind::Baseline, "9");
    assert_eq!(
        (approx.indicator.as_deref(), approx.unit.as_str()),
        (Some("pop_resident"), "万余人")
    );
    assert_eq!(
        the(&rows, Kind::Baseline, "7.5").indicator.as_deref(),
        Some("pop_hukou")
    );
    assert_eq!(
        the(&rows, Kind::Baseline, "52").indicator.as_deref(),
        Some("urban_rate_resident")
    );
    assert_eq!(the(&rows, Kind::Baseline, "7.1:48.3:44.6").unit, "");
}

// ---------------------------------------------------------------------------------------------------
// Target phrasing (CONVENTIONS §4, entries 17–30)
// ---------------------------------------------------------------------------------------------------

#[test]
fn target_about_and_split_indicator() {
    let text = plan(
        REGION,
        &[],
        &[
            "加快完善基础设施，到2020年实现常住人口城镇化⏎率达到62%左右；到 2017 年户籍人口城镇化率达到 41%⏎左右。",
        ],
    );
    let rows = run(&text);
    let t = the(&rows, Kind::Target, "62");
    assert_eq!(
        (t.comparator.as_str(), t.year, t.indicator.as_deref()),
        ("=", Some(2020), Some("urban_rate_resident"))
    );
    assert_eq!(t.line, line_of(&text, "率达到62%左右"));
    assert_eq!(t.quote, "到2020年实现常住人口城镇化率达到62%左右");
    let u = the(&rows, Kind::Target, "41");
    assert_eq!(
        (u.comparator.as_str(), u.year),
        ("=", Some(2017)),
        "左右 trailing onto the next line"
    );
}

#[test]
fn target_two_years_in_one_sentence_and_paired_values() {
    let text = plan(
        REGION,
        &[],
        &[
            "2017 年常住人口城镇化率达到 66%以上，2020 年常住人口城镇化率达到 71%。",
            "到 2017 年，常⏎住人口城镇化率和户籍人口城镇化率分别达到 57%和 33%。到 2020⏎年，常住和户籍人口城镇化率分别达到 61%和 38%以上。",
        ],
    );
    let rows = run(&text);
    let first = the(&rows, Kind::Target, "66");
    assert_eq!((first.year, first.comparator.as_str()), (Some(2017), ">="));
    assert_eq!(the(&rows, Kind::Target, "71").year, Some(2020));
    let a = the(&rows, Kind::Target, "57");
    let b = the(&rows, Kind::Target, "33");
    assert_eq!(
        (a.indicator.as_deref(), a.year),
        (Some("urban_rate_resident"), Some(2017))
    );
    assert_eq!(
        (b.indicator.as_deref(), b.year, b.comparator.as_str()),
        (Some("urban_rate_hukou"), Some(2017), ">=")
    );
    let c = the(&rows, Kind::Target, "61");
    let d = the(&rows, Kind::Target, "38");
    assert_eq!(
        (c.indicator.as_deref(), c.year),
        (Some("urban_rate_resident"), Some(2020)),
        "year split from 年"
    );
    assert_eq!(
        (d.indicator.as_deref(), d.comparator.as_str()),
        (Some("urban_rate_hukou"), ">=")
    );
}

#[test]
fn target_ratio_split_over_lines_and_comparators_on_the_next_line() {
    let text = plan(
        REGION,
        &[],
        &[
            "到 2020 年，政府、企业、个人成本分担比例稳定在 7：⏎3：1，审批时限平均缩短 40%⏎以上，驻地企业税收留镇部分不⏎低于 15%，单个项目投资达 500⏎—3000 万元。",
        ],
    );
    let rows = run(&text);
    let ratio = the(&rows, Kind::Target, "7:3:1");
    assert_eq!(
        (ratio.comparator.as_str(), ratio.line),
        ("=", line_of(&text, "稳定在 7："))
    );
    assert!(ratio.quote.ends_with("7：3：1"), "{}", ratio.quote);
    assert_eq!(the(&rows, Kind::Target, "40").comparator, ">=");
    assert_eq!(the(&rows, Kind::Target, "15").comparator, ">=");
    let range = the(&rows, Kind::Target, "500—3000");
    assert_eq!(
        (range.unit.as_str(), range.line),
        ("万元", line_of(&text, "投资达 500"))
    );
}

#[test]
fn target_words_growth_floors_and_magnitudes() {
    let text = plan(
        REGION,
        &[],
        &[
            "GDP 年均增速不低于 7%，到 2020 年地区生产总值比 2010 年翻一番。力争矿业集团营业收入超千亿，力争物流业产值突破百亿元。县域经济保持在全省二十强以内。",
        ],
    );
    let rows = run(&text);
    let floor = the(&rows, Kind::Target, "7");
    assert_eq!((floor.comparator.as_str(), floor.year), (">=", None));
    let double = the(&rows, Kind::Target, "翻一番");
    assert_eq!(
        double.year,
        Some(2020),
        "比 2010 年 is a reference year, not the deadline"
    );
    assert_eq!(the(&rows, Kind::Target, "千亿").comparator, ">=");
    assert_eq!(the(&rows, Kind::Target, "百亿").unit, "元");
    let rank = the(&rows, Kind::Target, "二十");
    assert_eq!((rank.unit.as_str(), rank.comparator.as_str()), ("强", "<="));
}

#[test]
fn target_from_to_relative_changes_and_percentage_points() {
    let text = plan(
        REGION,
        &[],
        &[
            "到 2017 年，城镇化率从 52%提高到 63%，城乡收入比从 2.1 下降⏎到 1.9，地区生产总值、税收收入较 2016 年增长 12%，第三产业比重提升 3 个百分点。到2020年，投资、镇区人口较2016年增长一倍，高耗能产业产值较2016年减少一半。",
        ],
    );
    let rows = run(&text);
    let to = the(&rows, Kind::Target, "63");
    assert_eq!(
        (to.comparator.as_str(), to.year, to.indicator.as_deref()),
        (">=", Some(2017), None)
    );
    assert_eq!(
        the(&rows, Kind::Baseline, "52").kind,
        Kind::Baseline,
        "the from value is a baseline"
    );
    assert_eq!(the(&rows, Kind::Target, "1.9").comparator, "<=");
    assert_eq!(the(&rows, Kind::Baseline, "2.1").kind, Kind::Baseline);
    let growth: Vec<&Row> = rows
        .iter()
        .filter(|r| r.kind == Kind::Target && r.value == "12")
        .collect();
    assert_eq!(growth.len(), 2, "one target per subject of 较 2016 年增长");
    assert!(growth.iter().all(|r| r.year == Some(2017)));
    assert_eq!(the(&rows, Kind::Target, "3").unit, "个百分点");
    assert_eq!(rows.iter().filter(|r| r.value == "一倍").count(), 2);
    assert_eq!(the(&rows, Kind::Target, "一半").year, Some(2020));
}

#[test]
fn target_ceilings_late_years_fractions_and_colons() {
    let text = plan(
        REGION,
        &[],
        &[
            "预计至 2018 年，将区内人口调控在 95 万⏎人以内。到 2025 年，城镇化率达到 88%以上。到 2020 年，美丽乡村数占全县乡村总数的 3/4 左右；特色产业占比约达 64%。；城乡居民收入差距缩小到 1.6：1，城乡收入比缩小到 1.5∶1。",
        ],
    );
    let rows = run(&text);
    let cap = the(&rows, Kind::Target, "95");
    assert_eq!(
        (cap.comparator.as_str(), cap.year, cap.unit.as_str()),
        ("<=", Some(2018), "万人")
    );
    assert_eq!(the(&rows, Kind::Target, "88").year, Some(2025));
    assert_eq!(the(&rows, Kind::Target, "3/4").comparator, "=");
    assert_eq!(the(&rows, Kind::Target, "64").comparator, "=", "约 gives =");
    assert_eq!(the(&rows, Kind::Target, "1.6:1").comparator, "<=");
    assert_eq!(
        the(&rows, Kind::Target, "1.5:1").comparator,
        "<=",
        "the ratio colon U+2236"
    );
}

#[test]
fn target_ranges_digits_in_names_periods_and_split_units() {
    let text = plan(
        REGION,
        &[],
        &[
            "到 2020 年，各组团发展成为 30—60 万人口规模的中等城市，培育 2—3 个重点镇成为 5 万人以上的小城市，创建 1—⏎2 个国家级、6 个省级特色小镇。",
            "到 2020 年，SO2、NO2、PM10、PM2.5 四项主要污染物浓⏎度均累计下降 25%以上。",
            "2016—2020 年，⏎实现 30 万农业转移人口市民化。到2017年，实现农业转移人口3⏎万人。",
        ],
    );
    let rows = run(&text);
    assert_eq!(the(&rows, Kind::Target, "30—60").unit, "万");
    assert_eq!(the(&rows, Kind::Target, "2—3").unit, "个");
    assert_eq!(the(&rows, Kind::Target, "5").comparator, ">=");
    let split = the(&rows, Kind::Target, "1—2");
    assert_eq!(split.line, line_of(&text, "创建 1—"));
    assert_eq!(the(&rows, Kind::Target, "6").unit, "个");
    assert_eq!(
        values(&rows, Kind::Target)
            .iter()
            .filter(|v| ["2", "10", "2.5"].contains(v))
            .count(),
        0,
        "PM2.5 is a name"
    );
    assert_eq!(the(&rows, Kind::Target, "25").comparator, ">=");
    assert_eq!(
        the(&rows, Kind::Target, "30").year,
        Some(2020),
        "a period target takes its end year"
    );
    let split_unit = the(&rows, Kind::Target, "3");
    assert_eq!(
        (split_unit.unit.as_str(), split_unit.year),
        ("万人", Some(2017))
    );
}

#[test]
fn target_blocks_without_year_and_recurring_targets() {
    let text = plan(
        REGION,
        &["全镇常住人口 8.2 万人。"],
        &[
            "预期目标：镇域经济占全县地区生产总值的比重提高到 35%；全镇总人口达⏎到 12 万人；人均公共绿地面积 15 平方米。",
            "三、试点任务",
            "实施技能提升行动，每年培训农民⏎工 3000 人以上；每年新增城市绿化面积 120⏎万平方米以上。76 个行政村平均增收 10 万元以上。",
        ],
    );
    let rows = run(&text);
    for value in ["35", "12", "15", "3000", "120", "10"] {
        assert_eq!(the(&rows, Kind::Target, value).year, None, "{value}");
    }
    assert_eq!(the(&rows, Kind::Target, "3000").comparator, ">=");
    assert!(
        !values(&rows, Kind::Target).contains(&"76"),
        "a number inside the indicator's scope"
    );
    assert_eq!(
        the(&rows, Kind::Target, "12").indicator,
        None,
        "总人口 is not 常住人口"
    );
}

#[test]
fn what_is_not_a_target() {
    let text = plan(
        REGION,
        &[],
        &[
            "以“3315”行动（3 项改革、3项试点、15 个项目）为推手，实施八大工程，通过 5 年左右的努力，争创 4A 级景区，建立 12 年公共教育服务体系。",
            "加快推动 3 个省级重点镇建设，以甲镇、乙镇 2 个特色小镇为试点。沿江以西 4.2 平方公里的居住社区为组团。",
            "方案分三阶段实施：2016 年启动，2017—2018 年推进，2019—2020 年总结。",
            "到 2020 年，政府、企业、个人分担比例8：3：1。明确政府、企业、个人成本分担8：3：1比例。",
            "到 2020 年，实现全县 45 个边远自然村全搬迁。全面完成 30 个贫困村脱贫、45 个边远偏僻自然村整村搬迁。",
        ],
    );
    let rows = run(&text);
    let targets = values(&rows, Kind::Target);
    assert_eq!(targets, vec!["8:3:1", "45", "30"], "{rows:#?}");
}

#[test]
fn target_counts_need_an_action_verb() {
    let text = plan(
        REGION,
        &[],
        &[
            "到 2020 年，建设 12 个乡村公园，4个游客集散中心，6 条精品线路；撤销 30 个，新建 3 个；组建 9 个“大部门”；2个特色镇达到省级水平。",
        ],
    );
    let rows = run(&text);
    assert_eq!(
        values(&rows, Kind::Target),
        vec!["12", "4", "6", "30", "3", "9", "2"]
    );
}

#[test]
fn years_carry_within_a_paragraph_that_opens_with_one() {
    let text = plan(
        REGION,
        &[],
        &[
            "到 2017 年，试点取得阶段性成果。地区生产总值年均增长 9%，新增城镇就业超过 1.5 万人。",
            "城乡居民收入年均增长 8%。",
        ],
    );
    let rows = run(&text);
    assert_eq!(the(&rows, Kind::Target, "9").year, Some(2017));
    assert_eq!(the(&rows, Kind::Target, "1.5").comparator, ">=");
    assert_eq!(
        the(&rows, Kind::Target, "8").year,
        None,
        "a new paragraph has no year of its own"
    );
}

// ---------------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------------

#[test]
fn gbk_text_is_decoded() {
    let text = plan(
        REGION,
        &["全县常住人口 45.6 万人。"],
        &["到 2020 年，常住人口城镇化率达到 60%。"],
    );
    let (bytes, _, had_errors) = encoding_rs::GB18030.encode(&text);
    assert!(!had_errors);
    assert!(
        std::str::from_utf8(&bytes).is_err(),
        "the test needs bytes that are not UTF-8"
    );
    let decoded = extract::decode(Path::new("plan.txt"), &bytes).unwrap();
    assert_eq!(decoded, text);
    assert_eq!(run(&decoded), run(&text));
}

#[test]
fn utf8_with_a_byte_order_mark_is_decoded() {
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice("常住人口 3 万人".as_bytes());
    assert_eq!(
        extract::decode(Path::new("a.txt"), &bytes).unwrap(),
        "常住人口 3 万人"
    );
}

#[test]
fn invalid_bytes_are_refused_with_the_file_and_the_encodings_tried() {
    let bytes = [0x41, 0xFF, 0xFE, 0xFF, 0x42];
    let error = extract::decode(Path::new("docs/broken.txt"), &bytes).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("docs/broken.txt"), "{message}");
    assert!(
        message.contains("UTF-8") && message.contains("GB18030"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------------------------------
// Writing and reading rows
// ---------------------------------------------------------------------------------------------------

fn sample_rows() -> Vec<Row> {
    run(&plan(
        REGION,
        &["总面积 500 平方公里，常住人口 20 万人。"],
        &[
            "到 2020 年，常住人口城镇化率达到 60%，城乡收入比缩小到 1.8：1，地区生产总值翻一番，“5+1”体系, 建设 3 个园区。",
        ],
    ))
}

#[test]
fn csv_has_the_contract_header_and_reads_back() {
    let rows = sample_rows();
    let mut out = Vec::new();
    extract::write_csv(&rows, &mut out).unwrap();
    let csv = String::from_utf8(out).unwrap();
    assert_eq!(
        csv.lines().next().unwrap(),
        "section_line,region,kind,indicator,indicator_text,value,unit,comparator,year,line,quote"
    );
    let back = extract::read_rows_csv("review.csv", &csv).unwrap();
    assert_eq!(back, rows);
}

#[test]
fn json_has_the_same_fields() {
    let rows = sample_rows();
    let mut out = Vec::new();
    extract::write_json(&rows, &mut out).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let first = &value.as_array().unwrap()[0];
    for field in extract::CSV_HEADER {
        assert!(first.get(field).is_some(), "{field}");
    }
    assert_eq!(first["kind"], "baseline");
}

#[test]
fn reading_a_bad_review_names_the_file_line_and_field() {
    let header = extract::CSV_HEADER.join(",");
    let text = format!(
        "{header}\n1,甲县,target,,常住人口城镇化率,60,%,>=,2020,12,q\n1,甲县,target,,x,60,%,>=,twenty,13,q\n"
    );
    let message = extract::read_rows_csv("review.csv", &text)
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "review.csv:3: year: expected a year, got \"twenty\""
    );
    let missing = extract::read_rows_csv("review.csv", "region,kind\n")
        .unwrap_err()
        .to_string();
    assert!(
        missing.starts_with("review.csv: missing column `section_line`"),
        "{missing}"
    );
    let kind = format!("{header}\n,,goal,,x,1,%,>=,,4,q\n");
    assert!(
        extract::read_rows_csv("r.csv", &kind)
            .unwrap_err()
            .to_string()
            .starts_with("r.csv:2: kind:")
    );
}

// ---------------------------------------------------------------------------------------------------
// Reviewed rows to targets
// ---------------------------------------------------------------------------------------------------

#[test]
fn reviewed_rows_become_targets_and_the_rest_problems() {
    let header = extract::CSV_HEADER.join(",");
    let review = format!(
        "{header}\n\
         1,甲县,baseline,area,总面积,500,平方公里,=,,3,总面积 500 平方公里\n\
         1,甲县,target,,常住人口城镇化率,60,%,>=,2020,10,常住人口城镇化率达到 60%\n\
         1,甲县,target,,城乡收入比,1.8:1,,<=,2020,11,城乡收入比缩小到 1.8：1\n\
         1,甲县,target,gdp,地区生产总值,翻一番,,=,2020,12,地区生产总值翻一番\n\
         1,甲县,target,,新增城镇就业,2.5,万人,=,2020,13,新增城镇就业 2.5 万人\n\
         1,甲县,target,urban_rate_hukou,户籍人口城镇化率,45,%,=,,14,户籍人口城镇化率 45%左右\n\
         1,甲县,target,,户籍人口城镇化率,48,%,=,2020,15,户籍人口城镇化率达到 48%左右\n"
    );
    let rows = extract::read_rows_csv("review.csv", &review).unwrap();
    let options = Options::with_catalogue(vec![extract::IndicatorName {
        code: "income_ratio".to_string(),
        names: vec!["城乡居民收入比".to_string(), "城乡收入比".to_string()],
    }]);
    let (targets, problems) = extract::to_targets(&rows, "seeds/plan.txt", &options);
    let summary: Vec<(String, String, f64, String, String)> = targets
        .iter()
        .map(|t| {
            (
                t.indicator.clone(),
                t.comparator.clone(),
                t.value,
                t.period.clone(),
                t.source.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "urban_rate_resident".into(),
                ">=".into(),
                60.0,
                "2020".into(),
                "seeds/plan.txt:10".into()
            ),
            (
                "income_ratio".into(),
                "<=".into(),
                1.8,
                "2020".into(),
                "seeds/plan.txt:11".into()
            ),
            (
                "urban_rate_hukou".into(),
                "≈".into(),
                48.0,
                "2020".into(),
                "seeds/plan.txt:15".into()
            ),
        ]
    );
    assert_eq!(targets[0].entity, "甲县");
    let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        problems,
        vec![
            "seeds/plan.txt:12: value: \"翻一番\" is not a number",
            "seeds/plan.txt:13: indicator: \"新增城镇就业\" maps to no catalogue code; fill in the `indicator` column",
            "seeds/plan.txt:14: year: the target has no year; fill in the `year` column",
        ]
    );
}

// ---------------------------------------------------------------------------------------------------
// Scoring
// ---------------------------------------------------------------------------------------------------

#[test]
fn scoring_matches_one_to_one_within_two_lines_and_converts_units() {
    let gold_targets = "plan_start_line,region_full_name,indicator_text,target_value,unit,comparator,target_year,source_line,quote\n\
        1,甲县,a,60,%,>=,2020,10,q\n1,甲县,b,60,%,>=,2020,11,q\n1,甲县,c,8:4:1,ratio,=,,20,q\n";
    let gold_baselines = "plan_start_line,region_full_name,province,admin_level,pilot_theme,base_year,area_km2,resident_pop_10k,hukou_pop_10k,resident_urban_rate_pct,hukou_urban_rate_pct,gdp_100m_yuan,other_baseline\n\
        1,甲县,,,,2015,33000,3.2741,,,,10.4924,\n";
    let row = |kind: Kind, indicator: Option<&str>, value: &str, unit: &str, line: usize| Row {
        section_line: Some(1),
        region: "甲县".into(),
        kind,
        indicator: indicator.map(String::from),
        indicator_text: String::new(),
        value: value.into(),
        unit: unit.into(),
        comparator: "=".into(),
        year: None,
        line,
        quote: String::new(),
    };
    let rows = vec![
        row(Kind::Target, None, "60.0", "%", 12),
        row(Kind::Target, None, "8：4：1", "", 21),
        row(Kind::Target, None, "70", "%", 10),
        row(Kind::Baseline, Some("area"), "3.3", "万平方公里", 3),
        row(Kind::Baseline, Some("pop_resident"), "32741", "人", 4),
        row(Kind::Baseline, Some("pop_resident"), "3.2741", "万人", 5),
        row(Kind::Baseline, Some("gdp"), "104924", "万元", 6),
        row(Kind::Baseline, Some("pop_hukou"), "5", "万人", 7),
        row(Kind::Baseline, None, "99", "个", 8),
    ];
    let scores = extract::score::score(&rows, gold_targets, gold_baselines);
    let t = scores.targets;
    assert_eq!(
        (t.true_positives, t.false_positives, t.false_negatives),
        (2, 1, 1)
    );
    let b = scores.baselines;
    assert_eq!(
        (b.true_positives, b.false_positives, b.false_negatives),
        (3, 1, 0)
    );
    assert_eq!(b.precision, 0.75);
    assert!(
        extract::summary(&scores)
            .starts_with("targets: precision 0.667, recall 0.667 (tp 2, fp 1, fn 1)")
    );
}

#[test]
fn statements_of_the_present_and_asides_in_the_goals() {
    let text = plan(
        REGION,
        &["全县常住人口 40 万人。"],
        &[
            "目前，全县城镇化率仅为 38%，低于全省 6 个百分点。到 2020 年，常住人口城镇化率达到 52%（比 2015 年提高 9 个百分点），城市空气质量优良天数保持 300 天以上，PM2.5 年均浓度下降到 40 微克/立方米以下，常住人口城镇化率保持 52%。",
        ],
    );
    let rows = run(&text);
    assert_eq!(the(&rows, Kind::Baseline, "38").kind, Kind::Baseline);
    assert_eq!(the(&rows, Kind::Baseline, "6").kind, Kind::Baseline);
    let aside = the(&rows, Kind::Target, "9");
    assert_eq!(
        (aside.unit.as_str(), aside.year),
        ("个百分点", Some(2020)),
        "a figure in brackets is still a target"
    );
    let pm = the(&rows, Kind::Target, "40");
    assert_eq!(
        (pm.unit.as_str(), pm.comparator.as_str()),
        ("微克/立方米", "<=")
    );
    let kept: Vec<&Row> = rows
        .iter()
        .filter(|r| r.kind == Kind::Target && r.value == "52")
        .collect();
    assert_eq!(kept.len(), 2);
    assert!(
        kept.iter()
            .all(|r| r.indicator.as_deref() == Some("urban_rate_resident"))
    );
}

#[test]
fn targets_are_written_in_the_targets_file_layout() {
    let target = extract::TargetRow {
        entity: "甲县".into(),
        indicator: "urban_rate_resident".into(),
        period: "2020".into(),
        comparator: ">=".into(),
        value: 60.5,
        unit: "%".into(),
        source: "seeds/plan.txt:10".into(),
        quote: "常住人口城镇化率达到 60.5%".into(),
    };
    let mut out = Vec::new();
    extract::write_targets_csv(&[target], &mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "entity,indicator,comparator,target,deadline,kind,base_period,tolerance,source,note\n\
         甲县,urban_rate_resident,>=,60.5,2020,,,,seeds/plan.txt:10,常住人口城镇化率达到 60.5%\n"
    );
}

#[test]
fn arbitrary_text_does_not_break_the_extractor() {
    // A deterministic stream of tricky characters: digits, units, colons, dashes, brackets, quotes,
    // line breaks, title and heading words.
    let alphabet: Vec<&str> = vec![
        "1",
        "2",
        "0",
        ".",
        "5",
        "%",
        "：",
        "∶",
        ":",
        "—",
        "-",
        "/",
        "万",
        "人",
        "亿元",
        "个",
        "平方",
        "公里",
        "以上",
        "左右",
        "以内",
        "约",
        "到",
        "2020",
        "年",
        "（",
        "）",
        "“",
        "”",
        "《",
        "》",
        "，",
        "。",
        "；",
        "、",
        "和",
        "分别达到",
        "由",
        "提高到",
        "常住人口",
        "城镇化率",
        "户籍",
        "面积",
        "翻一番",
        "千亿",
        "十强以内",
        "\n",
        "\n\n",
        " \n\n",
        "一、基本情况 \n\n",
        "二、目标 \n\n",
        "湖南省青山市绿水县\n\n新型城镇化试点工作方案要点 \n\n",
        "7\n\n",
        "http://x\n\n",
    ];
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    for _ in 0..200 {
        let mut text = String::new();
        for _ in 0..300 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            text.push_str(alphabet[(state % alphabet.len() as u64) as usize]);
        }
        let line_count = text.split('\n').count();
        for row in run(&text) {
            assert!(row.line >= 1 && row.line <= line_count);
            assert!(!row.value.is_empty());
        }
    }
    assert!(run("").is_empty());
}

#[test]
fn the_cli_extracts_scores_and_imports_reviewed_rows_into_the_targets_file() {
    let project = crate::DemoProject::new();
    let document = shared_dir().join("seeds/001_58abb6e4dd5ecd1a.part1.txt");
    let document = document.to_str().unwrap();
    let rows = project.run(&["extract", document, "--out", "rows.csv"], &[]);
    assert_eq!(rows.status.code(), Some(0), "{}", crate::text(&rows));
    let csv = std::fs::read_to_string(project.path("rows.csv")).unwrap();
    assert_eq!(csv.lines().next(), Some("section_line,region,kind,indicator,indicator_text,value,unit,comparator,year,line,quote"));
    assert!(csv.contains("148,北京市延庆区,target,urban_rate_resident,常住人口城镇化率,60,%,=,2020,192,到2020年实现常住人口城镇化率达到60%左右"), "{}", &csv[..2000]);
    // JSON carries the same rows.
    let json = project.run(&["extract", document, "--format", "json"], &[]);
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(parsed.as_array().map(Vec::len), Some(csv.lines().count() - 1));
    // The figures the `just extract-score` recipe prints.
    let gold = shared_dir().join("seeds/gold");
    let scored = project.run(
        &[
            "extract",
            document,
            "--gold-targets",
            gold.join("targets.part1.csv").to_str().unwrap(),
            "--gold-baselines",
            gold.join("baselines.part1.csv").to_str().unwrap(),
        ],
        &[],
    );
    let out = crate::text(&scored);
    assert!(out.contains("targets: precision") && out.contains("baselines: precision"), "{out}");
    // Reviewed rows → the targets file: regions and indicators through the catalogue; the rest listed.
    let imported = project.run(&["targets", "import", "rows.csv", "--document", "seeds/001", "--out", "imported.csv"], &[]);
    let out = crate::text(&imported);
    assert_eq!(imported.status.code(), Some(1), "some regions are not in the demo's entities: {out}");
    let targets = std::fs::read_to_string(project.path("imported.csv")).unwrap();
    assert!(targets.starts_with("entity,indicator,comparator,target,deadline,kind,base_period,tolerance,source,note\n"));
    assert!(targets.contains("110119,urban_rate_resident,≈,60,2020,,,,seeds/001:192,"), "{targets}");
    assert!(out.contains("left out: seeds/001:") && out.contains("is not the name of an entity in the entities file"), "{out}");
    // The imported file loads as the catalogue's targets file.
    let config = project.path("config/townpulse.toml");
    std::fs::copy(project.path("imported.csv"), project.path("config/targets.csv")).unwrap();
    let valid = project.run(&["validate", "--offline"], &[]);
    assert_eq!(valid.status.code(), Some(0), "{} ({})", crate::text(&valid), config.display());
    // A file that is neither UTF-8 nor GBK is refused, naming the encodings tried.
    std::fs::write(project.path("bad.txt"), [0xff, 0xfe, 0x00, 0x81, 0x20, 0xff]).unwrap();
    let refused = project.run(&["extract", "bad.txt"], &[]);
    let out = crate::text(&refused);
    assert_eq!(refused.status.code(), Some(2), "{out}");
    assert!(out.contains("bad.txt") && out.contains("UTF-8") && out.contains("GB18030"), "{out}");
}
