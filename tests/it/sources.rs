//! The `sources` readers on the real samples in `../shared/data` (read in place) and on inputs
//! built here: census tables (UTF-8 and GBK), yearbook sheets, World Bank, NBS, JSON-stat,
//! division codes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

use sources::*;

fn data_dir() -> PathBuf {
    crate::shared_dir().join("data")
}

fn read_bytes(relative: &str) -> Vec<u8> {
    let path = data_dir().join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn find<'r>(read: &'r Read, entity: &str, indicator: &str, period: &str) -> &'r Record {
    read.records
        .iter()
        .find(|r| r.entity == entity && r.indicator == indicator && r.period == period)
        .unwrap_or_else(|| panic!("no record {entity} {indicator} {period}"))
}

fn value(read: &Read, entity: &str, indicator: &str, period: &str) -> f64 {
    find(read, entity, indicator, period).value.unwrap_or_else(|| panic!("{entity} {indicator} {period} is missing"))
}

// ---------------------------------------------------------------- census (delimited text)

fn census_2020_spec() -> CsvSpec {
    let entity = EntitySpec {
        column: "区划代码".into(),
        map: map(&[("全国", "000000")]),
        fallback_column: Some("区县".into()),
        unresolved: Unresolved::Skip,
    };
    let layout = Layout::Columns { period: "2020".into(), map: map(&[("城镇人口", "urban_pop"), ("人口数_合计", "pop")]) };
    let mut table = TableSpec::new(entity, layout);
    table.header_row = Some(1);
    table.unit = Some("人".into());
    CsvSpec::new(table)
}

const CENSUS_2020: &str = "census-2010-2020/census_county_2020.csv";

#[test]
fn census_2020_urban_and_total_population() {
    let bytes = read_bytes(CENSUS_2020);
    let read = read_csv("census_county_2020.csv", &bytes, &census_2020_spec()).unwrap();

    assert_eq!(read.rows_read, 3358);
    assert!(read.problems.is_empty(), "{:?}", read.problems.first());
    // 3,312 rows with a code plus the national row (code NA, 全国 → 000000); the 45 other NA rows
    // (development zones and the like) have no code and are skipped.
    assert_eq!(read.skipped.len(), 45);
    assert_eq!(read.records.len(), 3313 * 2);
    let entities: BTreeSet<&str> = read.records.iter().map(|r| r.entity.as_str()).collect();
    assert_eq!(entities.len(), 3313);
    assert_eq!(entities.iter().filter(|e| e.len() == 6 && e.ends_with("0000") && **e != "000000").count(), 31);
    let counties = entities.iter().filter(|e| !e.ends_with("00")).count();
    assert_eq!(counties, 2943);

    let urban = value(&read, "000000", "urban_pop", "2020");
    let total = value(&read, "000000", "pop", "2020");
    assert_eq!(urban, 899_991_162.0);
    assert_eq!(total, 1_409_778_724.0);
    assert_eq!((urban / total * 10_000.0).round() / 100.0, 63.84);
    let bj = find(&read, "110000", "urban_pop", "2020");
    assert_eq!(bj.value, Some(19_166_433.0));
    assert_eq!(bj.unit.as_deref(), Some("人"));
    assert_eq!(bj.place.line, Some(3));
    assert_eq!(bj.place.field, "城镇人口");
    assert_eq!(bj.raw, "19166433");

    let skipped = &read.skipped[0];
    assert_eq!(
        skipped.to_string(),
        "census_county_2020.csv:252: field `区划代码`: expected an entity, got \"NA\" and `区县` \"山西转型综合改革示范区\" is not in the entity mapping"
    );
    assert!(skipped.raw.starts_with("NA,山西省,太原市,山西转型综合改革示范区,"));
}

#[test]
fn census_2020_every_column_reads() {
    let bytes = read_bytes(CENSUS_2020);
    let header = std::str::from_utf8(&bytes).unwrap().lines().next().unwrap().trim_start_matches('\u{feff}');
    let columns: Vec<&str> = header.split(',').skip(4).collect();
    assert_eq!(columns.len(), 149);
    let mut spec = census_2020_spec();
    spec.table.layout = Layout::Columns { period: "2020".into(), map: columns.iter().map(|c| (c.to_string(), c.to_string())).collect() };
    let read = read_csv("census_county_2020.csv", &bytes, &spec).unwrap();
    assert_eq!(read.records.len() + read.problems.len(), 3313 * 149);
    // "NA" cells are missing values, not problems.
    assert!(read.problems.is_empty(), "{:?}", read.problems.first());
    assert!(read.records.iter().any(|r| r.value.is_none() && r.raw == "NA"));
    let share = find(&read, "110000", "少数民族人口比重（%）", "2020");
    assert_eq!((share.value, share.unit.as_deref()), (Some(4.79), Some("%")));
}

#[test]
fn census_2020_in_gbk_reads_the_same() {
    let bytes = read_bytes(CENSUS_2020);
    let text = std::str::from_utf8(&bytes).unwrap().trim_start_matches('\u{feff}');
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(text);
    assert!(!unmappable);
    let utf8 = read_csv("census.csv", &bytes, &census_2020_spec()).unwrap();
    for encoding in [Encoding::Auto, Encoding::Gb18030] {
        let mut spec = census_2020_spec();
        spec.encoding = encoding;
        let read = read_csv("census.csv", &gbk, &spec).unwrap();
        assert_eq!(read.records, utf8.records, "{encoding:?}");
        assert_eq!(read.skipped, utf8.skipped);
    }
    let mut spec = census_2020_spec();
    spec.encoding = Encoding::Utf8;
    let err = read_csv("census_gbk.csv", &gbk, &spec).unwrap_err();
    assert_eq!(err.to_string(), "census_gbk.csv: cannot decode the text: not UTF-8 (first bad byte on line 1)");
}

#[test]
fn undecodable_bytes_name_the_encodings_and_lines() {
    let bytes = b"a,b,c\n1,2,3\n4,\xff,6\n";
    let spec = CsvSpec::new(TableSpec::new(EntitySpec::column("a"), Layout::Columns { period: "2020".into(), map: map(&[("b", "x")]) }));
    let err = read_csv("bad.csv", bytes, &spec).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad.csv: cannot decode the text: not UTF-8 (first bad byte on line 3) and not GB18030 (first bad byte on line 3)"
    );
    assert!(matches!(err, SourceError::Decode { .. }));
}

#[test]
fn census_2010_codes_problems_and_notes() {
    let bytes = read_bytes("census-2010-2020/census_county_2010.csv");
    let layout = Layout::Columns {
        period: "2010".into(),
        map: map(&[
            ("城镇人口", "urban_pop"),
            ("合计", "pop"),
            ("户籍人口", "registered_pop"),
            ("非农业户口人口比重", "nonagri_hukou_share"),
            ("各种职业人口总计", "employed"),
        ]),
    };
    let spec = CsvSpec::new(TableSpec::new(EntitySpec::column("区划代码"), layout));
    let read = read_csv("census_county_2010.csv", &bytes, &spec).unwrap();

    // 3,248 non-blank rows below the header; the bbs.jjxj.org watermark at the end is a note.
    assert_eq!(read.rows_read, 3248);
    assert_eq!(read.notes, vec!["首发论坛：经济学家bbs.jjxj.org".to_string()]);
    // 南沙群岛 and 中沙群岛: a name and nothing else.
    assert_eq!(read.skipped.len(), 2);
    assert_eq!(read.skipped[0].place.line, Some(2280));
    // 25 rows without a code (市辖区, 县, …) and one unreadable number.
    assert_eq!(read.problems.len(), 26);
    assert_eq!(read.problems[0].to_string(), "census_county_2010.csv:3: field `区划代码`: expected an entity, got \"\"");
    let bad: Vec<String> = read.problems.iter().filter(|p| p.place.field != "区划代码").map(ToString::to_string).collect();
    assert_eq!(
        bad,
        vec![
            "census_county_2010.csv:1781: field `各种职业人口总计`: expected a number, got \"8842                                  30\""
                .to_string()
        ]
    );
    assert_eq!(read.records.len(), 3221 * 5 - 1);

    let urban = value(&read, "110000", "urban_pop", "2010");
    let total = value(&read, "110000", "pop", "2010");
    assert_eq!((urban, total), (16_858_692.0, 19_612_368.0));
    assert_eq!((urban / total * 10_000.0).round() / 100.0, 85.96);
    assert_eq!(value(&read, "110000", "registered_pop", "2010"), 12_554_049.0);
    let share = find(&read, "110000", "nonagri_hukou_share", "2010");
    assert_eq!(share.value, Some(61.79));
    assert_eq!(share.unit.as_deref(), Some("%"));
    assert_eq!(share.place.field, "非农业户口人口比重（%）");
    // Empty cells are missing values, not problems: 东城区 has no 乡村人口, but that column is not read here.
    assert!(read.records.iter().all(|r| r.value.is_some() || r.raw.is_empty()));
}

#[test]
fn census_2010_names_are_trimmed_and_mapped() {
    let bytes = read_bytes("census-2010-2020/census_county_2010.csv");
    let entity =
        EntitySpec { column: "地区".into(), map: map(&[("北京市", "110000"), ("东城区", "110101")]), ..EntitySpec::default() };
    let layout = Layout::Columns { period: "2010".into(), map: map(&[("乡村人口", "rural_pop")]) };
    let read = read_csv("census_county_2010.csv", &bytes, &CsvSpec::new(TableSpec::new(entity, layout))).unwrap();
    assert!(read.problems.iter().all(|p| p.place.field == "地区"), "{:?}", read.problems.first());
    assert_eq!(value(&read, "110000", "rural_pop", "2010"), 2_753_676.0);
    // "  东城区" (indented) maps; its empty 乡村人口 cell is a missing value.
    let dc = find(&read, "110101", "rural_pop", "2010");
    assert_eq!(dc.value, None);
    assert_eq!(dc.raw, "");
    // Unmapped names stay as written, trimmed.
    assert!(read.records.iter().any(|r| r.entity == "西城区"));
}

#[test]
fn a_missing_column_names_the_header_line_and_what_is_there() {
    let bytes = read_bytes(CENSUS_2020);
    let mut spec = census_2020_spec();
    spec.table.layout = Layout::Columns { period: "2020".into(), map: map(&[("城市人口", "urban_pop")]) };
    let err = read_csv("census_county_2020.csv", &bytes, &spec).unwrap_err();
    assert_eq!(
        err.to_string(),
        "census_county_2020.csv:1: no column `城市人口` in the header (found: 区划代码, 省, 市, 区县, 人口数_合计, 人口数_男, 人口数_女, 性别比（女=100）, 少数民族人口比重（%）, 城镇人口, 乡村人口, 城区人口, …)"
    );
}

// ---------------------------------------------------------------- delimited tables built here

#[test]
fn wide_table_with_titles_two_row_header_units_and_notes() {
    let text = "\
表2-1 各地区主要指标,,,,
,,,,
地区,地区生产总值（亿元）,,常住人口（万人）,
,2019年,2020年,2019,2020
北京,\"35,445.1\",36102.6,2153.6,2189.0
天津,—,14083.7,…,1387
河北,12..3,\"36,206.9\",-,7464
,,,,
注：本表按当年价格计算。,,,,
资料来源：国家统计局。,,,,
";
    let entity = EntitySpec {
        column: "地区".into(),
        map: map(&[("北京", "110000"), ("天津", "120000"), ("河北", "130000")]),
        ..EntitySpec::default()
    };
    let mut table = TableSpec::new(entity, Layout::Wide { indicator: IndicatorFrom::ParentHeader, unit_column: None });
    table.two_row_header = true;
    table.indicators = map(&[("地区生产总值", "gdp"), ("常住人口", "pop")]);
    let read = read_csv("yearbook.csv", text.as_bytes(), &CsvSpec::new(table)).unwrap();
    assert_eq!(read.rows_read, 3);
    assert_eq!(read.notes, vec!["注：本表按当年价格计算。".to_string(), "资料来源：国家统计局。".to_string()]);
    assert_eq!(read.problems.len(), 1);
    assert_eq!(read.problems[0].to_string(), "yearbook.csv:7: field `地区生产总值（亿元）_2019年`: expected a number, got \"12..3\"");
    assert_eq!(read.problems[0].raw, "河北,12..3,\"36,206.9\",-,7464");
    assert_eq!(read.records.len(), 11);
    let gdp = find(&read, "110000", "gdp", "2019");
    assert_eq!(gdp.value, Some(35_445.1));
    assert_eq!(gdp.unit.as_deref(), Some("亿元"));
    assert_eq!(gdp.raw, "35,445.1");
    assert_eq!(value(&read, "130000", "gdp", "2020"), 36_206.9);
    assert_eq!(find(&read, "120000", "gdp", "2019").value, None);
    assert_eq!(find(&read, "120000", "pop", "2019").value, None);
    assert_eq!(find(&read, "130000", "pop", "2019").value, None);
    let pop = find(&read, "120000", "pop", "2020");
    assert_eq!((pop.value, pop.unit.as_deref()), (Some(1387.0), Some("万人")));
}

#[test]
fn wide_table_with_an_indicator_column_and_monthly_headers() {
    let text = "地区,指标,2019年9月,2019M10,2019-11,2019年12月\n\
                全国,居民消费价格指数(上年同月=100),103.0,103.8,104.5,104.5\n\
                全国,城镇登记失业率 %,NA,..,3.6,\n";
    let mut table =
        TableSpec::new(EntitySpec::column("地区"), Layout::Wide { indicator: IndicatorFrom::Column("指标".into()), unit_column: None });
    table.indicators = map(&[("居民消费价格指数", "cpi_yoy")]);
    table.header_row = Some(1);
    let read = read_csv("monthly.csv", text.as_bytes(), &CsvSpec::new(table)).unwrap();
    assert!(read.problems.is_empty(), "{:?}", read.problems);
    assert_eq!(read.records.len(), 8);
    let cpi = find(&read, "全国", "cpi_yoy", "2019-10");
    assert_eq!((cpi.value, cpi.unit.as_deref()), (Some(103.8), Some("上年同月=100")));
    let periods: Vec<&str> = read.records[..4].iter().map(|r| r.period.as_str()).collect();
    assert_eq!(periods, ["2019-09", "2019-10", "2019-11", "2019-12"]);
    // Unmapped indicator texts stay as written; the unit comes from the text.
    let u = find(&read, "全国", "城镇登记失业率 %", "2019-11");
    assert_eq!((u.value, u.unit.as_deref()), (Some(3.6), Some("%")));
    assert_eq!(find(&read, "全国", "城镇登记失业率 %", "2019-09").value, None);
    assert_eq!(find(&read, "全国", "城镇登记失业率 %", "2019-12").value, None);
}

#[test]
fn long_table_with_unit_column_and_bad_periods() {
    let text = "region,indicator,period,value,unit\n\
                110000,gdp,2020,\"36,102.6\",亿元\n\
                110000,gdp,2020Q3,25759.5,亿元\n\
                110000,gdp,2020年13月,1,亿元\n\
                110000,pop,2020年,2189.0,\n\
                ,pop,2020,1,万人\n";
    let layout = Layout::Long {
        indicator_column: "indicator".into(),
        period_column: "period".into(),
        value_column: "value".into(),
        unit_column: Some("unit".into()),
    };
    let mut table = TableSpec::new(EntitySpec::column("region"), layout);
    table.unit = Some("万人".into());
    let read = read_csv("long.csv", text.as_bytes(), &CsvSpec::new(table)).unwrap();
    assert_eq!(read.rows_read, 5);
    assert_eq!(read.records.len(), 3);
    assert_eq!(find(&read, "110000", "gdp", "2020").value, Some(36_102.6));
    assert_eq!(find(&read, "110000", "gdp", "2020Q3").unit.as_deref(), Some("亿元"));
    assert_eq!(find(&read, "110000", "pop", "2020").unit.as_deref(), Some("万人"));
    let problems: Vec<String> = read.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        problems,
        [
            "long.csv:4: field `period`: expected a period like 2020, 2020-09 or 2020Q3, got \"2020年13月\"",
            "long.csv:6: field `region`: expected an entity, got \"\"",
        ]
    );
}

#[test]
fn two_row_header_without_merges_carries_the_parent() {
    let text = "代码,人口数,,,城镇人口\n,合计,男,女,\n11,100,60,40,90\n";
    let layout = Layout::Columns {
        period: "2020".into(),
        map: map(&[("人口数_合计", "pop"), ("人口数_女", "pop_f"), ("城镇人口", "urban")]),
    };
    let mut table = TableSpec::new(EntitySpec::column("代码"), layout);
    table.two_row_header = true;
    let read = read_csv("two.csv", text.as_bytes(), &CsvSpec::new(table)).unwrap();
    assert!(read.problems.is_empty(), "{:?}", read.problems);
    assert_eq!(value(&read, "11", "pop", "2020"), 100.0);
    assert_eq!(value(&read, "11", "pop_f", "2020"), 40.0);
    assert_eq!(value(&read, "11", "urban", "2020"), 90.0);
    assert_eq!(find(&read, "11", "pop_f", "2020").place.field, "人口数_女");
}

// ---------------------------------------------------------------- xlsx built here

fn yearbook_workbook(merge: bool) -> Vec<u8> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let plain = Format::new();
    let sheet = book.add_worksheet();
    sheet.set_name("表2-1").unwrap();
    sheet.merge_range(0, 0, 0, 4, "表2-1 各地区主要指标（2019—2020年）", &plain).unwrap();
    if merge {
        sheet.merge_range(2, 0, 3, 0, "地区", &plain).unwrap();
        sheet.merge_range(2, 1, 2, 2, "地区生产总值\n（亿元）", &plain).unwrap();
        sheet.merge_range(2, 3, 2, 4, "年末常住人口（万人）", &plain).unwrap();
    } else {
        sheet.write_string(2, 0, "地区").unwrap();
        sheet.write_string(2, 1, "地区生产总值\n（亿元）").unwrap();
        sheet.write_string(2, 3, "年末常住人口（万人）").unwrap();
    }
    sheet.write_number(3, 1, 2019).unwrap();
    sheet.write_number(3, 2, 2020).unwrap();
    sheet.write_string(3, 3, "2019年").unwrap();
    sheet.write_string(3, 4, "2020年").unwrap();
    let rows: [(&str, [&str; 4]); 3] = [
        ("北  京", ["35445.1", "36102.6", "2153.6", "2189"]),
        ("天  津", ["—", "14083.7", "…", "1387"]),
        ("河  北", ["12..3", "36,206.9", "-", "7464"]),
    ];
    for (i, (name, cells)) in rows.iter().enumerate() {
        let r = 4 + i as u32;
        sheet.write_string(r, 0, *name).unwrap();
        for (j, cell) in cells.iter().enumerate() {
            let c = 1 + j as u16;
            match cell.parse::<f64>() {
                Ok(v) => sheet.write_number(r, c, v).unwrap(),
                Err(_) => sheet.write_string(r, c, *cell).unwrap(),
            };
        }
    }
    sheet.write_string(8, 0, "注：地区生产总值按当年价格计算。").unwrap();
    let other = book.add_worksheet();
    other.set_name("Sheet2").unwrap();
    other.write_string(0, 0, "地区").unwrap();
    other.write_string(0, 1, "城镇化率 %").unwrap();
    other.write_string(1, 0, "北京").unwrap();
    other.write_number(1, 1, 87.5).unwrap();
    book.save_to_buffer().unwrap()
}

fn yearbook_spec() -> TableSpec {
    let entity = EntitySpec {
        column: "地区".into(),
        map: map(&[("北京", "110000"), ("天津", "120000"), ("河北", "130000")]),
        ..EntitySpec::default()
    };
    let mut table = TableSpec::new(entity, Layout::Wide { indicator: IndicatorFrom::ParentHeader, unit_column: None });
    table.two_row_header = true;
    table.indicators = map(&[("地区生产总值", "gdp"), ("年末常住人口", "pop")]);
    table
}

#[test]
fn xlsx_yearbook_sheet_with_merged_two_row_header() {
    for merge in [true, false] {
        let bytes = yearbook_workbook(merge);
        let spec = XlsxSpec { sheet: None, table: yearbook_spec() };
        let read = read_xlsx("yearbook.xlsx", &bytes, &spec).unwrap();
        assert_eq!(read.rows_read, 3, "merge {merge}");
        assert_eq!(read.notes, vec!["注：地区生产总值按当年价格计算。".to_string()]);
        let problems: Vec<String> = read.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            problems,
            ["yearbook.xlsx: 表2-1!B7: field `地区生产总值（亿元）_2019`: expected a number, got \"12..3\""],
            "merge {merge}"
        );
        assert_eq!(read.problems[0].raw, "河  北,12..3,\"36,206.9\",-,7464");
        assert_eq!(read.records.len(), 11);
        // "北  京" (padded as yearbooks do) maps to 北京.
        let bj = find(&read, "110000", "gdp", "2019");
        assert_eq!((bj.value, bj.unit.as_deref()), (Some(35_445.1), Some("亿元")));
        assert_eq!(bj.place.cell.as_deref(), Some("表2-1!B5"));
        assert_eq!(bj.place.to_string(), "yearbook.xlsx: 表2-1!B5");
        assert_eq!(bj.raw, "35445.1");
        let tj = find(&read, "120000", "pop", "2020");
        assert_eq!((tj.value, tj.unit.as_deref()), (Some(1387.0), Some("万人")));
        assert_eq!(find(&read, "120000", "gdp", "2019").value, None);
        assert_eq!(find(&read, "130000", "pop", "2019").value, None);
        assert_eq!(value(&read, "130000", "gdp", "2020"), 36_206.9);
    }
}

#[test]
fn xlsx_header_row_given_sheet_named_and_errors() {
    let bytes = yearbook_workbook(true);
    let mut table = yearbook_spec();
    table.header_row = Some(3);
    let read = read_xlsx("yearbook.xlsx", &bytes, &XlsxSpec { sheet: Some("表2-1".into()), table }).unwrap();
    assert_eq!(value(&read, "110000", "gdp", "2020"), 36_102.6);

    let layout = Layout::Columns { period: "2020年".into(), map: map(&[("城镇化率", "urban_share")]) };
    let sheet2 = XlsxSpec { sheet: Some("Sheet2".into()), table: TableSpec::new(EntitySpec::column("地区"), layout) };
    let read = read_xlsx("yearbook.xlsx", &bytes, &sheet2).unwrap();
    let r = find(&read, "北京", "urban_share", "2020");
    assert_eq!((r.value, r.unit.as_deref(), r.place.cell.as_deref()), (Some(87.5), Some("%"), Some("Sheet2!B2")));

    let missing = XlsxSpec { sheet: Some("Sheet9".into()), table: yearbook_spec() };
    let err = read_xlsx("yearbook.xlsx", &bytes, &missing).unwrap_err();
    assert_eq!(err.to_string(), "yearbook.xlsx: expected an xlsx workbook: no sheet `Sheet9` (sheets: 表2-1, Sheet2)");
    let err = read_xlsx("not.xlsx", b"not a zip", &XlsxSpec { sheet: None, table: yearbook_spec() }).unwrap_err();
    assert!(err.to_string().starts_with("not.xlsx: expected an xlsx workbook: "), "{err}");

    let mut no_header = yearbook_spec();
    no_header.entity.column = "省份".into();
    let err = read_xlsx("yearbook.xlsx", &bytes, &XlsxSpec { sheet: None, table: no_header }).unwrap_err();
    assert_eq!(err.to_string(), "yearbook.xlsx: expected a header row with a cell `省份` within the first 50 rows");
}

// ---------------------------------------------------------------- World Bank

const WB_BULK: &str = "worldbank/API_SP.URB.TOTL.IN.ZS_DS2_en_csv_v2_22447.csv";

#[test]
fn worldbank_bulk_csv_urban_share() {
    let bytes = read_bytes(WB_BULK);
    let all = worldbank_bulk_csv("wb.csv", &bytes, None).unwrap();
    assert_eq!(all.rows_read, 266);
    assert!(all.problems.is_empty());
    assert_eq!(all.records.len(), 266 * 65);
    assert_eq!(all.records.iter().filter(|r| r.value.is_none()).count(), 195);

    let read = worldbank_bulk_csv("wb.csv", &bytes, Some(&["CHN", "WLD"])).unwrap();
    assert_eq!(read.rows_read, 2);
    assert_eq!(read.records.len(), 130);
    let chn = find(&read, "CHN", "SP.URB.TOTL.IN.ZS", "2024");
    assert_eq!(chn.value, Some(65.544));
    assert_eq!(chn.unit.as_deref(), Some("%"));
    assert_eq!(chn.place.field, "2024");
    assert_eq!(value(&read, "CHN", "SP.URB.TOTL.IN.ZS", "2020"), 61.428);
    assert_eq!(value(&read, "WLD", "SP.URB.TOTL.IN.ZS", "1960"), find(&all, "WLD", "SP.URB.TOTL.IN.ZS", "1960").value.unwrap());

    let err = worldbank_bulk_csv("census.csv", &read_bytes(CENSUS_2020), None).unwrap_err();
    assert!(err.to_string().starts_with("census.csv: expected a World Bank bulk CSV"), "{err}");
}

/// One API v2 page built from observations `(iso3, iso2, name, year, value)`.
fn wb_page(page: u64, pages: u64, total: u64, items: &[(&str, &str, &str, &str, Option<f64>)]) -> Vec<u8> {
    let items: Vec<serde_json::Value> = items
        .iter()
        .map(|(iso3, iso2, name, year, value)| {
            serde_json::json!({
                "indicator": {"id": "SP.URB.TOTL.IN.ZS", "value": "Urban population (% of total population)"},
                "country": {"id": iso2, "value": name},
                "countryiso3code": iso3,
                "date": year,
                "value": value,
                "unit": "",
                "obs_status": "",
                "decimal": 1
            })
        })
        .collect();
    let meta =
        serde_json::json!({"page": page, "pages": pages, "per_page": 4, "total": total, "sourceid": "2", "lastupdated": "2025-07-01"});
    serde_json::to_vec(&serde_json::json!([meta, items])).unwrap()
}

#[test]
fn worldbank_api_pages() {
    let bulk = worldbank_bulk_csv("wb.csv", &read_bytes(WB_BULK), Some(&["CHN", "WLD"])).unwrap();
    let v = |c: &str, y: &str| Some(value(&bulk, c, "SP.URB.TOTL.IN.ZS", y));
    let pages = [
        wb_page(
            1,
            2,
            7,
            &[
                ("CHN", "CN", "China", "2020", v("CHN", "2020")),
                ("CHN", "CN", "China", "2019", v("CHN", "2019")),
                ("CHN", "CN", "China", "2018", v("CHN", "2018")),
                ("WLD", "1W", "World", "2021", None),
            ],
        ),
        // An aggregate whose countryiso3code is empty: the entity falls back to country.id.
        wb_page(
            2,
            2,
            7,
            &[
                ("WLD", "1W", "World", "2020", v("WLD", "2020")),
                ("WLD", "1W", "World", "2019", v("WLD", "2019")),
                ("", "1W", "World", "2018", v("WLD", "2018")),
            ],
        ),
    ];
    let mut records = Vec::new();
    let mut page = 1;
    loop {
        let (info, read) = worldbank_page(&format!("api?page={page}"), &pages[page as usize - 1]).unwrap();
        assert!(read.problems.is_empty());
        assert_eq!((info.page, info.pages, info.total), (page, 2, 7));
        records.extend(read.records);
        if info.page >= info.pages {
            break;
        }
        page += 1;
    }
    assert_eq!(records.len(), 7);
    let r = |e: &str, p: &str| records.iter().find(|r| r.entity == e && r.period == p).unwrap();
    assert_eq!(r("CHN", "2020").value, Some(61.428));
    assert_eq!(r("WLD", "2019").value, v("WLD", "2019"));
    assert_eq!(r("WLD", "2021").value, None);
    assert_eq!(r("1W", "2018").value, v("WLD", "2018"));
    assert_eq!(r("CHN", "2018").place.to_string(), "api?page=1: page 1, item 3");
    assert_eq!(r("CHN", "2018").unit, None);
    assert!(r("CHN", "2018").raw.contains("\"obs_status\":\"\""));

    let empty = br#"[{"page":0,"pages":0,"per_page":50,"total":0,"sourceid":null,"lastupdated":null},null]"#;
    let (info, read) = worldbank_page("empty", empty).unwrap();
    assert_eq!((info.pages, read.records.len()), (0, 0));
}

#[test]
fn worldbank_api_errors() {
    let error = br#"[{"message":[{"id":"120","key":"Invalid value","value":"The provided parameter value is not valid"}]}]"#;
    let err = worldbank_page("https://api.worldbank.org/v2/country/XXX/indicator/SP.URB.TOTL.IN.ZS?format=json", error).unwrap_err();
    assert_eq!(
        err.to_string(),
        "https://api.worldbank.org/v2/country/XXX/indicator/SP.URB.TOTL.IN.ZS?format=json: the World Bank API returned error 120 (Invalid value): The provided parameter value is not valid"
    );
    assert!(matches!(err, SourceError::Api { ref id, .. } if id == "120"));

    let err = worldbank_page("page.json", b"[{\"page\": 1,\n \"pages\": }]").unwrap_err();
    assert_eq!(err.to_string(), "page.json: expected JSON: expected value at line 2 column 11");
    let err = worldbank_page("page.json", b"{\"page\": 1}").unwrap_err();
    assert_eq!(
        err.to_string(),
        "page.json: expected a World Bank API v2 page: a JSON array [ {page, pages, total, …}, [observations] ], got an object"
    );
}

// ---------------------------------------------------------------- NBS easyquery

fn nbs(name: &str, indicators: &[(&str, &str)]) -> Read {
    let bytes = read_bytes(&format!("nbs-easyquery-fixtures/{name}.json"));
    let spec = NbsSpec { indicators: map(indicators), entity: NbsEntity::Fixed("000000".into()) };
    nbs_easyquery(&format!("{name}.json"), &bytes, &spec).unwrap()
}

#[test]
fn nbs_house_investment_monthly_with_missing_cells() {
    let read = nbs("house_investcache", &[("A060101", "re_investment"), ("A060102", "re_investment_growth")]);
    assert!(read.problems.is_empty());
    assert_eq!(read.rows_read, 416);
    assert_eq!(read.records.len(), 416);
    let indicators: HashSet<&str> = read.records.iter().map(|r| r.indicator.as_str()).collect();
    let periods: BTreeSet<&str> = read.records.iter().map(|r| r.period.as_str()).collect();
    assert_eq!((indicators.len(), periods.len()), (32, 13));
    assert_eq!(periods.first(), Some(&"2018-09"));
    assert_eq!(periods.last(), Some(&"2019-09"));
    assert_eq!(read.records.iter().filter(|r| r.value.is_none()).count(), 86);
    assert_eq!(read.missing.len(), 86);
    let count = |why: MissingWhy| read.missing.iter().filter(|m| m.why == why).count();
    assert_eq!(count(MissingWhy::JanuaryOfCumulative), 32);
    assert!(read.missing.iter().filter(|m| m.why == MissingWhy::JanuaryOfCumulative).all(|m| m.period == "2019-01"));
    assert_eq!(count(MissingWhy::NotYetReleased), 32);
    assert!(read.missing.iter().filter(|m| m.why == MissingWhy::NotYetReleased).all(|m| m.period == "2019-09"));
    // 房地产配套工程投资 (A060103/A060104) is not published in any month.
    assert_eq!(count(MissingWhy::NotPublished), 22);
    assert!(
        read.missing.iter().filter(|m| m.why == MissingWhy::NotPublished).all(|m| m.indicator == "A060103" || m.indicator == "A060104")
    );

    let r = find(&read, "000000", "re_investment", "2019-08");
    assert_eq!((r.value, r.unit.as_deref()), (Some(84_589.06), Some("亿元")));
    assert_eq!(r.place.to_string(), "house_investcache.json: datanodes[1]");
    assert_eq!(find(&read, "000000", "re_investment_growth", "2019-08").unit.as_deref(), Some("%"));
    assert_eq!(find(&read, "000000", "A06010A", "2019-08").unit.as_deref(), Some("%"));
}

#[test]
fn nbs_quarterly_gdp_and_monthly_cpi() {
    let gdp = nbs("gdpcache", &[("A010301", "gdp_index_q")]);
    assert!(gdp.problems.is_empty() && gdp.missing.is_empty());
    assert_eq!(gdp.records.len(), 192);
    let periods: BTreeSet<&str> = gdp.records.iter().map(|r| r.period.as_str()).collect();
    assert_eq!(periods.into_iter().collect::<Vec<_>>(), ["2018Q1", "2018Q2", "2018Q3", "2018Q4", "2019Q1", "2019Q2"]);
    let q = find(&gdp, "000000", "gdp_index_q", "2019Q2");
    assert_eq!((q.value, q.unit.as_deref()), (Some(106.2), None));
    assert_eq!(value(&gdp, "000000", "gdp_index_q", "2019Q1"), 106.4);

    for (name, code, august) in [("m2mcache", "A01030101", 100.7), ("y2ycache", "A01010101", 102.8)] {
        let cpi = nbs(name, &[(code, "cpi")]);
        assert!(cpi.problems.is_empty());
        assert_eq!(cpi.records.len(), 117, "{name}");
        assert_eq!(cpi.missing.len(), 9, "{name}");
        assert!(cpi.missing.iter().all(|m| m.why == MissingWhy::NotYetReleased && m.period == "2019-09"));
        assert_eq!(value(&cpi, "000000", "cpi", "2019-08"), august);
        // Not cumulative: January is published.
        assert!(find(&cpi, "000000", "cpi", "2019-01").value.is_some());
    }
}

#[test]
fn nbs_regions_and_errors() {
    let doc = serde_json::json!({
        "returncode": 200,
        "returndata": {
            "datanodes": [
                {"code": "zb.A0101_reg.110000_sj.2019", "data": {"data": 2153.6, "hasdata": true, "strdata": "2153.6"},
                 "wds": [{"wdcode": "zb", "valuecode": "A0101"}, {"wdcode": "reg", "valuecode": "110000"}, {"wdcode": "sj", "valuecode": "2019"}]},
                {"code": "zb.A0101_reg.120000_sj.2019", "data": {"data": 0, "hasdata": false, "strdata": ""},
                 "wds": [{"wdcode": "zb", "valuecode": "A0101"}, {"wdcode": "reg", "valuecode": "120000"}, {"wdcode": "sj", "valuecode": "2019"}]},
                {"code": "zb.A0101_reg.130000_sj.2019", "data": {"data": 7592, "hasdata": true, "strdata": "7,592"},
                 "wds": [{"wdcode": "zb", "valuecode": "A0101"}, {"wdcode": "reg", "valuecode": "130000"}, {"wdcode": "sj", "valuecode": "2019"}]}
            ],
            "wdnodes": [
                {"wdcode": "zb", "wdname": "指标", "nodes": [{"code": "A0101", "cname": "年末常住人口", "unit": "万人"}]},
                {"wdcode": "reg", "wdname": "地区", "nodes": [{"code": "110000", "cname": "北京市", "unit": ""}, {"code": "120000", "cname": "天津市", "unit": ""}, {"code": "130000", "cname": "河北省", "unit": ""}]},
                {"wdcode": "sj", "wdname": "时间", "nodes": [{"code": "2019", "cname": "2019年", "unit": ""}]}
            ]
        }
    });
    let bytes = serde_json::to_vec(&doc).unwrap();
    let spec = NbsSpec { indicators: map(&[("A0101", "pop")]), entity: NbsEntity::Region(map(&[("110000", "BJ")])) };
    let read = nbs_easyquery("fsnd.json", &bytes, &spec).unwrap();
    assert_eq!(read.records.len(), 3);
    assert_eq!(find(&read, "BJ", "pop", "2019").unit.as_deref(), Some("万人"));
    assert_eq!(value(&read, "130000", "pop", "2019"), 7592.0);
    assert_eq!(read.missing.len(), 1);
    assert_eq!(read.missing[0].why, MissingWhy::NotPublished);

    let fixed = NbsSpec { indicators: BTreeMap::new(), entity: NbsEntity::Fixed("000000".into()) };
    let err = nbs_easyquery("fsnd.json", &bytes, &fixed).unwrap_err();
    assert_eq!(
        err.to_string(),
        "fsnd.json: expected one region for NbsEntity::Fixed, found a reg dimension with 3 regions (use NbsEntity::Region)"
    );
    let err = nbs_easyquery("q.json", br#"{"returncode": 501, "returndata": "bad request"}"#, &fixed).unwrap_err();
    assert!(err.to_string().starts_with("q.json: expected an NBS easyquery answer"), "{err}");
    assert!(err.to_string().ends_with("got returncode 501: bad request"), "{err}");
}

// ---------------------------------------------------------------- JSON-stat

fn jsonstat_read(name: &str, spec: &JsonStatSpec) -> Read {
    let bytes = read_bytes(&format!("jsonstat-samples/{name}"));
    match jsonstat(name, &bytes, spec).unwrap() {
        JsonStat::Data(read) => read,
        JsonStat::Collection(_) => panic!("{name} is a collection"),
    }
}

#[test]
fn jsonstat_galicia_2_0() {
    let bytes = read_bytes("jsonstat-samples/galicia-2.0.json");
    let err = jsonstat("galicia-2.0.json", &bytes, &JsonStatSpec::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "galicia-2.0.json: expected one category or a fixed one (JsonStatSpec::fixed) in every dimension but the entity, time and indicator: dimension `birth` of dataset `dataset` has 6 (T, C, P, G, A, F)"
    );
    let spec = JsonStatSpec {
        fixed: map(&[("birth", "T"), ("age", "T"), ("gender", "T")]),
        entities: map(&[("T", "ES11"), ("15", "ES111")]),
        indicators: map(&[("pop", "population")]),
        ..JsonStatSpec::default()
    };
    let read = jsonstat_read("galicia-2.0.json", &spec);
    assert!(read.problems.is_empty() && read.notes.is_empty());
    assert_eq!(read.records.len(), 10);
    assert_eq!(value(&read, "ES11", "population", "2011"), 2_772_928.0);
    assert_eq!(value(&read, "ES11", "population", "2001"), 2_695_880.0);
    assert_eq!(value(&read, "ES111", "population", "2001"), 1_096_027.0);
    assert_eq!(value(&read, "36", "population", "2011"), 954_877.0);
    assert_eq!(find(&read, "27", "population", "2011").unit.as_deref(), Some("persons"));
    assert_eq!(find(&read, "27", "population", "2011").value, Some(348_067.0));

    let bad = JsonStatSpec { fixed: map(&[("birth", "X"), ("age", "T"), ("gender", "T")]), ..JsonStatSpec::default() };
    let err = jsonstat("galicia-2.0.json", &bytes, &bad).unwrap_err();
    assert_eq!(
        err.to_string(),
        "galicia-2.0.json: expected a category `X` (fixed in the spec) in dimension `birth` of dataset `dataset` (categories: T, C, P, G, A, F)"
    );
}

#[test]
fn jsonstat_oecd_canada_bundle() {
    let bytes = read_bytes("jsonstat-samples/oecd-canada.json");
    let infos = jsonstat_datasets("oecd-canada.json", &bytes).unwrap();
    let names: Vec<&str> = infos.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["canada", "oecd"]);
    assert_eq!(infos[1].dimensions, [("concept".to_string(), 1), ("area".to_string(), 36), ("year".to_string(), 12)]);
    let err = jsonstat("oecd-canada.json", &bytes, &JsonStatSpec::default()).unwrap_err();
    assert_eq!(err.to_string(), "oecd-canada.json: expected one dataset, found 2 (canada, oecd): name one in JsonStatSpec::dataset");

    let oecd = jsonstat_read("oecd-canada.json", &JsonStatSpec { dataset: Some("oecd".into()), ..JsonStatSpec::default() });
    assert!(oecd.problems.is_empty());
    assert_eq!(oecd.records.len(), 36 * 12);
    let au = find(&oecd, "AU", "UNR", "2013");
    assert_eq!((au.value, au.unit.as_deref()), (Some(5.50415003), Some("%")));
    assert_eq!(au.raw, r#"{"index":10,"status":"e","value":5.50415003}"#);
    assert_eq!(au.place.to_string(), "oecd-canada.json: dataset oecd, value[10]");
    assert_eq!(value(&oecd, "US", "UNR", "2009"), 9.275245924);
    assert_eq!(value(&oecd, "EU15", "UNR", "2014"), 11.99849464);

    let spec = JsonStatSpec { dataset: Some("canada".into()), fixed: map(&[("age", "T"), ("sex", "T")]), ..JsonStatSpec::default() };
    let canada = jsonstat_read("oecd-canada.json", &spec);
    assert_eq!(canada.records.len(), 2);
    let pop = find(&canada, "CA", "POP", "2012");
    assert_eq!((pop.value, pop.unit.as_deref()), (Some(34_880.5), Some("thousands of persons")));
    assert_eq!(value(&canada, "CA", "PERCENT", "2012"), 100.0);
    let males = JsonStatSpec {
        dataset: Some("canada".into()),
        fixed: map(&[("age", "4"), ("sex", "M")]),
        indicator: Some(JsonStatIndicator::Dimension("concept".into())),
        ..JsonStatSpec::default()
    };
    assert_eq!(value(&jsonstat_read("oecd-canada.json", &males), "CA", "POP", "2012"), 988.7);
}

#[test]
fn jsonstat_qs104ew_1_x_sparse_with_a_wrong_size() {
    let spec = JsonStatSpec { fixed: map(&[("CL_0000035", "CI_0000121")]), ..JsonStatSpec::default() };
    let read = jsonstat_read("QS104EW.json", &spec);
    assert_eq!(read.records.len(), 1);
    let r = &read.records[0];
    assert_eq!(
        (r.entity.as_str(), r.indicator.as_str(), r.period.as_str(), r.value),
        ("K04000001", "Segment_1", "2011", Some(56_075_912.0))
    );
    assert_eq!(
        read.notes,
        [
            "QS104EW.json: dataset `QS104EW`: size [3, 1, 1] does not match its 4 dimensions [2011WARDH, CL_0000035, Att_000001, CL_0000137]; used the category counts [1, 3, 1, 1]"
        ]
    );
    let males = JsonStatSpec {
        fixed: map(&[("CL_0000035", "CI_0000071")]),
        indicator: Some(JsonStatIndicator::Fixed("pop_male".into())),
        ..JsonStatSpec::default()
    };
    let read = jsonstat_read("QS104EW.json", &males);
    assert_eq!(value(&read, "K04000001", "pop_male", "2011"), 27_573_376.0);
}

#[test]
fn jsonstat_collection_lists_links() {
    let bytes = read_bytes("jsonstat-samples/collection.json");
    let JsonStat::Collection(links) = jsonstat("collection.json", &bytes, &JsonStatSpec::default()).unwrap() else {
        panic!("not a collection")
    };
    assert_eq!(links.len(), 8);
    assert_eq!(links[0].href, "https://json-stat.org/samples/oecd.json");
    assert_eq!(links[2].label.as_deref(), Some("Population by province of residence, place of birth, age, gender and year in Galicia"));
    assert!(links.iter().all(|l| l.class.as_deref() == Some("dataset")));
}

// ---------------------------------------------------------------- division codes

#[test]
fn division_codes() {
    let dir = data_dir().join("admin-divisions");
    let all = divisions(&dir, Level::Township).unwrap();
    let count = |level: Level| all.iter().filter(|d| d.level == level).count();
    assert_eq!((count(Level::Province), count(Level::Prefecture), count(Level::County), count(Level::Township)), (31, 342, 2978, 41_352));
    let codes: HashMap<&str, Level> = all.iter().map(|d| (d.code.as_str(), d.level)).collect();
    assert_eq!(codes.len(), all.len(), "codes are unique");
    for d in &all {
        let digits = match d.level {
            Level::Province => 2,
            Level::Prefecture => 4,
            Level::County => 6,
            Level::Township => 9,
        };
        assert_eq!(d.code.len(), digits, "{d:?}");
        match &d.parent {
            None => assert_eq!(d.level, Level::Province),
            Some(p) => {
                assert!(codes.contains_key(p.as_str()), "parent of {d:?} missing");
                assert!(d.code.starts_with(p.as_str()), "{d:?}");
            }
        }
    }
    let street = all.iter().find(|d| d.code == "110101001").unwrap();
    assert_eq!((street.name.as_str(), street.parent.as_deref()), ("东华门街道", Some("110101")));
    assert_eq!(divisions(&dir, Level::County).unwrap().len(), 31 + 342 + 2978);
    let err = divisions(&dir.join("nowhere"), Level::Province).unwrap_err();
    assert!(err.to_string().contains("provinces.csv: cannot read: "), "{err}");
}

// ---------------------------------------------------------------- units and periods

#[test]
fn units_in_headers_and_factors() {
    let cases = [
        ("城镇人口（万人）", "城镇人口", Some("万人")),
        ("地区生产总值(亿元)", "地区生产总值", Some("亿元")),
        ("比重 %", "比重", Some("%")),
        ("比重%", "比重", Some("%")),
        ("GDP 亿元", "GDP", Some("亿元")),
        ("行政区域面积（平方公里）", "行政区域面积", Some("平方公里")),
        ("人均地区生产总值（元/人）", "人均地区生产总值", Some("元/人")),
        ("性别比（女=100）", "性别比", Some("女=100")),
        ("有65岁及以上老年人口的户数（户）-合计", "有65岁及以上老年人口的户数-合计", Some("户")),
        ("人口密度（单位：人/平方公里）", "人口密度", Some("人/平方公里")),
        ("0岁（男）", "0岁（男）", None),
        ("城镇人口", "城镇人口", None),
    ];
    for (header, name, unit) in cases {
        assert_eq!(unit_in_header(header), (name.to_string(), unit.map(str::to_string)), "{header}");
    }
    let f = |a: &str, b: &str| unit_factor(a, b);
    assert_eq!(f("万人", "人"), Some(1e4));
    assert_eq!(f("人", "万人"), Some(1e-4));
    assert_eq!(f("亿人", "万人"), Some(1e4));
    assert_eq!(f("亿元", "万元"), Some(1e4));
    assert_eq!(f("元", "亿元"), Some(1e-8));
    assert_eq!(f("万平方公里", "km²"), Some(1e4));
    assert_eq!(f("平方千米", "平方公里"), Some(1.0));
    assert_eq!(f("%", "%"), Some(1.0));
    assert_eq!(f("‰", "‰"), Some(1.0));
    assert_eq!(f("%", "‰"), Some(10.0));
    assert_eq!(f("个", "个"), Some(1.0));
    assert_eq!(f("万户", "户"), Some(1e4));
    assert_eq!(f("万元/人", "元/人"), Some(1e4));
    assert_eq!(f("上年=100", "上年=100"), Some(1.0));
    assert_eq!(f("人", "元"), None);
    assert_eq!(f("个", "户"), None);
    assert_eq!(f("元", "美元"), None);
    assert_eq!(f("%", "人"), None);
    assert_eq!(f("furlongs", "人"), None);
}

#[test]
fn period_forms() {
    for (text, period) in [
        ("2010", "2010"),
        ("2010年", "2010"),
        ("2019年9月", "2019-09"),
        ("2019-09", "2019-09"),
        ("2019M09", "2019-09"),
        ("2018Q1", "2018Q1"),
        ("2018年第四季度", "2018Q4"),
    ] {
        assert_eq!(normalize_period(text).as_deref(), Some(period), "{text}");
    }
    assert_eq!(normalize_period("合计"), None);
    assert!(is_missing_marker("—") && is_missing_marker("…") && is_missing_marker("NA") && !is_missing_marker("0"));
    assert_eq!(parse_number("1,409,778,724"), Some(1_409_778_724.0));
}
