//! Ingesting real sources through the configuration: the census tables (with the division codes
//! as the catalogue, reproducing the 2020 national urban share of 63.84%), a yearbook workbook,
//! NBS and World Bank answers — the latter served over HTTP by a real server on loopback that
//! fails, stalls, pages and answers garbage.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use polars::prelude::*;

use crate::{project_dir, shared_dir, text};

/// A project folder with its own configuration and catalogue, written by the test.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    /// A copy of `config/examples/NAME` whose paths into `../shared` are made absolute, with
    /// every output inside the temporary folder.
    fn example(name: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let from = project_dir().join("config/examples").join(name);
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        for entry in std::fs::read_dir(&from).unwrap() {
            let entry = entry.unwrap();
            let text = std::fs::read_to_string(entry.path()).unwrap();
            let shared = shared_dir().canonicalize().unwrap();
            let text = text.replace("../../../../shared", shared.to_str().unwrap()).replace(&format!("../../../reports/examples/{name}"), "../reports");
            std::fs::write(dir.path().join("config").join(entry.file_name()), text).unwrap();
        }
        Project { dir }
    }

    /// A project with this catalogue and these `[[sources]]` tables.
    fn new(entities: &str, indicators: &str, sources: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        std::fs::create_dir_all(&config).unwrap();
        std::fs::write(config.join("entities.csv"), entities).unwrap();
        std::fs::write(config.join("indicators.csv"), indicators).unwrap();
        std::fs::write(config.join("targets.csv"), "entity,indicator,comparator,target,deadline\n").unwrap();
        let first = entities.lines().nth(1).and_then(|l| l.split(',').next()).unwrap();
        std::fs::write(
            config.join("townpulse.toml"),
            format!(
                "[catalogue]\nindicators = \"indicators.csv\"\nentities = \"entities.csv\"\ntargets = \"targets.csv\"\n\n{sources}\n\n\
                 [delivery]\nfrom = \"townpulse <townpulse@localhost>\"\n\n[[recipients]]\naddress = \"a@example.org\"\nname = \"A\"\nfollows = [\"{first}\"]\n"
            ),
        )
        .unwrap();
        Project { dir }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        crate::townpulse(self.dir.path(), args, &[], "warn").output().unwrap()
    }

    fn config(&self) -> config::Config {
        config::Config::load(&self.path("config/townpulse.toml"), &config::Environment::default()).expect("valid configuration")
    }

    /// The warehouse's current observations of every source.
    fn observations(&self) -> DataFrame {
        let config = self.config();
        let names: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
        ingest::Warehouse::new(&config.output.warehouse_dir).current(&names).unwrap()
    }
}

/// `value` of (entity, indicator, period) in a frame with those columns.
fn value_of(frame: &DataFrame, entity: &str, indicator: &str, period: &str) -> Option<f64> {
    let found = frame
        .clone()
        .lazy()
        .filter(col("entity").eq(lit(entity)).and(col("indicator").eq(lit(indicator))).and(col("period").eq(lit(period))))
        .select([col("value")])
        .collect()
        .unwrap();
    found.column("value").unwrap().f64().unwrap().get(0)
}

fn count(frame: &DataFrame, predicate: Expr) -> usize {
    frame.clone().lazy().filter(predicate).collect().unwrap().height()
}

#[test]
fn census_tables_give_the_urban_share_of_every_county_and_the_nation_for_2010_and_2020() {
    let project = Project::example("census");
    let ingested = project.run(&["ingest"]);
    let out = text(&ingested);
    assert_eq!(ingested.status.code(), Some(1), "rows were set aside: {out}");
    assert!(out.contains("census_2020: 6554 rows, 36 set aside, ok_with_rows_set_aside"), "{out}");
    assert!(out.contains("census_2010: 8565 rows, 366 set aside, ok_with_rows_set_aside"), "{out}");
    // A county code of 2020 that the 2022 division codes no longer have, with its line.
    assert!(out.contains("census_county_2020.csv:1616: field `entity`: unknown entity \"410306\": it is not in the entities file"), "{out}");
    let quarantine = std::fs::read_to_string(project.path("reports/warehouse/quarantine/census_2020.csv")).unwrap();
    assert!(quarantine.starts_with("source,path,line,cell,field,reason,raw\n"), "{quarantine}");
    assert!(
        quarantine.contains(",1616,,entity,\"unknown entity \"\"410306\"\": it is not in the entities file\",\"410306,河南省,洛阳市,吉利区,"),
        "the row set aside whole: {quarantine}"
    );
    assert_eq!(quarantine.lines().count(), 37);

    // The engine derives the urbanization rate (pop_urban / pop_resident × 100) for every entity.
    let config = project.config();
    let observations = project.observations();
    let settings = transform::Settings::eurostat();
    let metrics = transform::compute(&observations, &config.catalogue, "2020".parse().unwrap(), &settings).unwrap();
    let series = &metrics.series;
    let rate = |entity: &str, period: &str| value_of(series, entity, "urban_rate_resident", period).unwrap_or(f64::NAN);
    assert_eq!(format!("{:.2}", rate("CN", "2020")), "63.84", "899,991,162 / 1,409,778,724");
    assert_eq!(format!("{:.2}", rate("11", "2010")), "85.96", "Beijing 2010: 16,858,692 / 19,612,368");
    assert_eq!(format!("{:.2}", rate("1301", "2020")), "70.18", "Shijiazhuang's prefecture, 2020");
    let counties: std::collections::HashSet<&str> =
        config.catalogue.entities.values().filter(|e| e.level == contract::Level::County).map(|e| e.code.as_str()).collect();
    let with_rate = |period: &str| {
        let codes = series
            .clone()
            .lazy()
            .filter(col("indicator").eq(lit("urban_rate_resident")).and(col("period").eq(lit(period))).and(col("value").is_not_null()))
            .select([col("entity")])
            .collect()
            .unwrap();
        let codes = codes.column("entity").unwrap().str().unwrap().clone();
        (0..codes.len()).filter_map(|i| codes.get(i)).filter(|c| counties.contains(c)).count()
    };
    let (in_2020, in_2010) = (with_rate("2020"), with_rate("2010"));
    // 2,943 counties in the 2020 census, less those whose codes the 2022 division codes no longer
    // have; in 2010 more codes have changed since (map old codes to new in the source's `entities`).
    assert_eq!((in_2020, in_2010), (2_907, 2_503), "counties with an urban share in 2020 and 2010");
    // Counties' shares are shares.
    let bad = count(series, col("indicator").eq(lit("urban_rate_resident")).and(col("value").lt(lit(0.0)).or(col("value").gt(lit(100.0)))));
    assert_eq!(bad, 0);
    // Resident population converted from 人 to the catalogue's 万人.
    assert_eq!(value_of(&observations, "CN", "pop_resident", "2020"), Some(140_977.872_4));
}

#[test]
fn a_yearbook_workbook_and_a_gbk_wide_table_are_read_with_their_problems_by_cell_and_line() {
    use rust_xlsxwriter::{Format, Workbook};
    let project = Project::new(
        "code,name,level,parent\nCN,全国,nation,\n11,北京市,province,CN\n12,天津市,province,CN\n",
        "code,name,unit,kind,accumulation,direction,decimals\ngdp,地区生产总值,亿元,flow,,up,1\npop_resident,常住人口,万人,level,,none,2\n",
        "[[sources]]\nname = \"yearbook\"\ntype = \"table\"\npath = \"yearbook.xlsx\"\nentity_column = \"地区\"\n\
         entities = { \"北京\" = \"11\", \"天津\" = \"12\" }\ntwo_row_header = true\nlayout = \"wide\"\nindicator_from_header = true\n\
         indicators = { \"地区生产总值\" = \"gdp\" }\n\n\
         [[sources]]\nname = \"gbk_population\"\ntype = \"table\"\npath = \"population_gbk.csv\"\nentity_column = \"地区\"\n\
         entities = { \"北京市\" = \"11\", \"天津市\" = \"12\" }\nlayout = \"wide\"\nindicator = \"pop_resident\"\nunit = \"人\"",
    );
    // A yearbook sheet: a title row, a merged two-row header with the unit, notes below, a
    // missing marker and a number that is not one.
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet().set_name("表2-1").unwrap();
    sheet.write(0, 0, "2-1 各地区生产总值").unwrap();
    sheet.write(1, 0, "地区").unwrap();
    sheet.merge_range(1, 1, 1, 2, "地区生产总值（亿元）", &Format::new()).unwrap();
    sheet.write(2, 1, "2022年").unwrap();
    sheet.write(2, 2, "2023年").unwrap();
    sheet.write(3, 0, "北京").unwrap();
    sheet.write(3, 1, 41610.9).unwrap();
    sheet.write(3, 2, 43760.7).unwrap();
    sheet.write(4, 0, "天津").unwrap();
    sheet.write(4, 1, "…").unwrap();
    sheet.write(4, 2, "16737..3").unwrap();
    sheet.write(6, 0, "注：本表按当年价格计算。").unwrap();
    workbook.save(project.path("config/yearbook.xlsx")).unwrap();
    // A GBK export with years as columns, in persons.
    let csv = "地区,2022年,2023年\n北京市,21840000,21858000\n天津市,13630000,13640000\n";
    std::fs::write(project.path("config/population_gbk.csv"), encoding_rs::GBK.encode(csv).0).unwrap();

    let ingested = project.run(&["ingest"]);
    let out = text(&ingested);
    assert_eq!(ingested.status.code(), Some(1), "{out}");
    assert!(out.contains("yearbook: 3 rows, 1 set aside"), "{out}");
    assert!(out.contains("yearbook.xlsx: 表2-1!C5: field `地区生产总值（亿元）_2023年`: expected a number, got \"16737..3\""), "{out}");
    assert!(out.contains("gbk_population: 4 rows, 0 set aside, ok"), "{out}");
    let observations = project.observations();
    assert_eq!(value_of(&observations, "11", "gdp", "2023"), Some(43760.7));
    assert_eq!(count(&observations, col("entity").eq(lit("12")).and(col("indicator").eq(lit("gdp"))).and(col("value").is_null())), 1, "… is missing, not bad");
    assert_eq!(value_of(&observations, "12", "pop_resident", "2023"), Some(1364.0), "persons converted to 万人");
}

#[test]
fn an_nbs_answer_with_unpublished_januaries_is_read_as_missing_values() {
    let fixture = shared_dir().join("data/nbs-easyquery-fixtures/house_investcache.json");
    let project = Project::new(
        "code,name,level,parent\nCN,全国,nation,\n",
        "code,name,unit,kind,accumulation,direction,decimals\nre_invest,房地产开发投资,亿元,flow,ytd,up,2\nre_invest_growth,房地产开发投资增速,%,rate,,up,1\n",
        &format!(
            "[[sources]]\nname = \"nbs_real_estate\"\ntype = \"nbs\"\npath = \"{}\"\nindicators = {{ \"A060101\" = \"re_invest\", \"A060102\" = \"re_invest_growth\" }}\nmax_bad_row_share = 1.0",
            fixture.display()
        ),
    );
    let ingested = project.run(&["ingest"]);
    let out = text(&ingested);
    // The other 30 NBS indicators are not in the catalogue: set aside by name, not lost.
    assert!(out.contains("unknown indicator \"A060103\""), "{out}");
    let observations = project.observations();
    assert_eq!(count(&observations, col("indicator").eq(lit("re_invest"))), 13);
    assert_eq!(value_of(&observations, "CN", "re_invest", "2019-01"), None, "January is never published on its own");
    assert!(value_of(&observations, "CN", "re_invest", "2019-08").is_some_and(|v| v > 80_000.0), "the year-to-date investment");
}

// ---------------------------------------------------------------------------------------------
// HTTP sources, from a real server on loopback.

/// What the server does with one request to a path.
#[derive(Clone)]
enum Reply {
    Ok(Vec<u8>),
    Status(u16),
    /// Accept the connection and never answer.
    Stall,
}

/// A tiny HTTP/1.1 server on 127.0.0.1: for each request path (query included), the replies in
/// order (the last one repeats). Counts requests per path.
struct Server {
    port: u16,
    hits: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(routes: Vec<(&str, Vec<Reply>)>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let routes: Arc<Vec<(String, Vec<Reply>, AtomicUsize)>> =
            Arc::new(routes.into_iter().map(|(p, r)| (p.to_string(), r, AtomicUsize::new(0))).collect());
        let hits = Arc::new(Mutex::new(Vec::new()));
        let seen = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (routes, seen) = (routes.clone(), seen.clone());
                std::thread::spawn(move || serve_one(stream, &routes, &seen));
            }
        });
        Server { port, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().iter().filter(|p| p.as_str() == path).count()
    }
}

fn serve_one(mut stream: TcpStream, routes: &[(String, Vec<Reply>, AtomicUsize)], seen: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).map_or(true, |n| n == 0) || header == "\r\n" {
            break;
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
    seen.lock().unwrap().push(path.clone());
    let reply = match routes.iter().find(|(p, _, _)| *p == path) {
        Some((_, replies, next)) => {
            let i = next.fetch_add(1, Ordering::SeqCst).min(replies.len() - 1);
            replies[i].clone()
        }
        None => Reply::Status(404),
    };
    let (status, body) = match reply {
        Reply::Stall => {
            std::thread::sleep(Duration::from_secs(30));
            return;
        }
        Reply::Ok(body) => ("200 OK".to_string(), body),
        Reply::Status(code) => (format!("{code} {}", if code == 404 { "Not Found" } else { "Service Unavailable" }), b"{}".to_vec()),
    };
    let head = format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
    let _ = stream.flush();
    let _ = reader.read(&mut [0u8; 1]);
}

/// A World Bank API v2 page of (country, year, value) from the bulk CSV's figures.
fn wb_page(page: u64, pages: u64, items: &[(&str, &str)]) -> Vec<u8> {
    let bulk = sources::worldbank_bulk_csv(
        "bulk",
        &std::fs::read(shared_dir().join("data/worldbank/API_SP.URB.TOTL.IN.ZS_DS2_en_csv_v2_22447.csv")).unwrap(),
        Some(&["CHN", "WLD"]),
    )
    .unwrap();
    let items: Vec<serde_json::Value> = items
        .iter()
        .map(|(iso3, year)| {
            let value = bulk.records.iter().find(|r| r.entity == *iso3 && r.period == *year).and_then(|r| r.value);
            serde_json::json!({
                "indicator": {"id": "SP.URB.TOTL.IN.ZS", "value": "Urban population (% of total population)"},
                "country": {"id": &iso3[..2], "value": iso3}, "countryiso3code": iso3, "date": year,
                "value": value, "unit": "", "obs_status": "", "decimal": 1
            })
        })
        .collect();
    let meta = serde_json::json!({"page": page, "pages": pages, "per_page": 3, "total": 5, "sourceid": "2", "lastupdated": "2025-07-01"});
    serde_json::to_vec(&serde_json::json!([meta, items])).unwrap()
}

const WB_ENTITIES: &str = "code,name,level,parent\nWLD,World,nation,\nCHN,China,nation,\n";
const WB_INDICATORS: &str = "code,name,unit,kind,accumulation,direction,decimals\nurban_share_un,Urban population share (World Bank/UN),%,rate,,up,1\n";

fn wb_source(name: &str, url: &str, timeout_s: u64) -> String {
    format!(
        "[[sources]]\nname = \"{name}\"\ntype = \"worldbank\"\nurl = \"{url}\"\nindicators = {{ \"SP.URB.TOTL.IN.ZS\" = \"urban_share_un\" }}\n\
         timeout_s = {timeout_s}\nretries = 2\nretry_backoff_ms = 50\n"
    )
}

#[test]
fn a_paged_api_that_fails_twice_then_answers_is_read_whole_and_4xx_is_not_retried() {
    let base = "/v2/country/CHN;WLD/indicator/SP.URB.TOTL.IN.ZS?format=json&per_page=3";
    let (page1, page2) = (format!("{base}&page=1"), format!("{base}&page=2"));
    let server = Server::start(vec![
        (page1.as_str(), vec![Reply::Ok(wb_page(1, 2, &[("CHN", "2020"), ("CHN", "2019"), ("WLD", "2020")]))]),
        (page2.as_str(), vec![Reply::Status(503), Reply::Status(503), Reply::Ok(wb_page(2, 2, &[("WLD", "2019"), ("CHN", "2024")]))]),
        ("/gone", vec![Reply::Status(404)]),
    ]);
    let sources = format!("{}\n{}", wb_source("wb_urban", &server.url(base), 5), wb_source("wb_gone", &server.url("/gone"), 5));
    let project = Project::new(WB_ENTITIES, WB_INDICATORS, &sources);
    let ingested = project.run(&["ingest"]);
    let out = text(&ingested);
    assert_eq!(ingested.status.code(), Some(1), "{out}");
    assert!(out.contains("wb_urban: 5 rows, 0 set aside, ok"), "{out}");
    assert_eq!((server.hits(&page1), server.hits(&page2)), (1, 3), "page 2 failed twice, then answered");
    let observations = project.observations();
    assert_eq!(value_of(&observations, "CHN", "urban_share_un", "2024"), Some(65.544));
    assert_eq!(value_of(&observations, "CHN", "urban_share_un", "2020"), Some(61.428));
    // A 4xx is final at once, named with the URL; the other source was still ingested.
    assert_eq!(server.hits("/gone?page=1"), 1);
    assert!(out.contains(&format!("source \"wb_gone\": {}: HTTP 404 Not Found (after 1 attempt)", server.url("/gone?page=1"))), "{out}");
    assert!(out.contains("wb_gone: 0 rows, 0 set aside, failed"), "{out}");
}

#[test]
fn a_server_that_never_answers_times_out_and_malformed_json_is_named_with_its_position() {
    let server = Server::start(vec![
        ("/stall?page=1", vec![Reply::Stall]),
        ("/garbage?page=1", vec![Reply::Ok(b"[{\"page\": 1, \"pages\": 1,}".to_vec())]),
        ("/error?page=1", vec![Reply::Ok(br#"[{"message":[{"id":"120","key":"Invalid value","value":"The provided parameter value is not valid"}]}]"#.to_vec())]),
        ("/ok?page=1", vec![Reply::Ok(wb_page(1, 1, &[("CHN", "2020")]))]),
    ]);
    let sources = ["stall", "garbage", "error", "ok"].map(|n| wb_source(&format!("wb_{n}"), &server.url(&format!("/{n}")), 1)).join("\n");
    let project = Project::new(WB_ENTITIES, WB_INDICATORS, &sources);
    let started = std::time::Instant::now();
    let ingested = project.run(&["ingest"]);
    let out = text(&ingested);
    assert_eq!(ingested.status.code(), Some(1), "{out}");
    assert!(out.contains(&format!("source \"wb_stall\": {}: timed out (after 3 attempts)", server.url("/stall?page=1"))), "{out}");
    assert_eq!(server.hits("/stall?page=1"), 3, "a timeout is retried");
    assert!(
        out.contains(&format!("source \"wb_garbage\": {}: expected JSON: trailing comma at line 1 column 25", server.url("/garbage?page=1"))),
        "{out}"
    );
    assert!(
        out.contains("the World Bank API returned error 120 (Invalid value): The provided parameter value is not valid"),
        "{out}"
    );
    assert_eq!(server.hits("/error?page=1"), 1, "an error object is not retried");
    assert!(out.contains("wb_ok: 1 rows, 0 set aside, ok"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(25), "three 1 s attempts, not the server's 30 s stall");
}

#[test]
fn every_kind_of_bad_row_in_a_published_table_is_set_aside_with_its_line_field_and_reason() {
    let project = Project::new(
        "code,name,level,parent\nCN,全国,nation,\n33,浙江省,province,CN\n",
        "code,name,unit,kind,accumulation,direction,decimals\npop_resident,常住人口,万人,level,,none,2\nurban_rate,城镇化率,%,rate,,up,2\n",
        "[[sources]]\nname = \"long_table\"\ntype = \"table\"\npath = \"long.csv\"\nentity_column = \"地区\"\n\
         entities = { \"全国\" = \"CN\", \"浙江\" = \"33\" }\nlayout = \"long\"\nindicator_column = \"指标\"\nperiod_column = \"时间\"\n\
         value_column = \"数值\"\nunit_column = \"单位\"\nindicators = { \"常住人口\" = \"pop_resident\", \"城镇化率\" = \"urban_rate\" }\n\
         max_bad_row_share = 0.9",
    );
    let table = "地区,指标,时间,数值,单位\n\
                 浙江,常住人口,2023年,66270000,人\n\
                 浙江,城镇化率,2023年,74.2,%\n\
                 上海,常住人口,2023年,2487.45,万人\n\
                 浙江,GDP,2023年,82553,亿元\n\
                 浙江,常住人口,2023年,6627,万人\n\
                 全国,城镇化率,2023年,166.2,%\n\
                 全国,常住人口,2023年,-5,万人\n\
                 全国,常住人口,2022年,141175,亩\n\
                 全国,常住人口,2021年,14.1亿,万人\n";
    std::fs::write(project.path("config/long.csv"), table).unwrap();
    let ingested = project.run(&["ingest"]);
    let out = text(&ingested);
    assert_eq!(ingested.status.code(), Some(1), "{out}");
    assert!(out.contains("long_table: 2 rows, 7 set aside, ok_with_rows_set_aside"), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.iter().filter(|l| l.contains("config/long.csv:")).count(), 7, "{out}");
    for expected in [
        "long.csv:4: field `entity`: unknown entity \"上海\": it is not in the entities file",
        "long.csv:5: field `indicator`: unknown indicator \"GDP\": it is not in the indicator catalogue",
        "long.csv:6: field `period`: duplicated key 33,pop_resident,2023: first given on line 2",
        "long.csv:7: field `value`: 166.2 is outside the range of urban_rate (0 to 100)",
        "long.csv:8: field `value`: -5 is outside the range of pop_resident (0 to ∞)",
        "long.csv:9: field `unit`: expected \"万人\" (the unit of pop_resident in the catalogue) or a unit that converts to it, got \"亩\"",
        "long.csv:10: field `数值`: expected a number, got \"14.1亿\"",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    // 66,270,000 persons are 6,627 万人.
    assert_eq!(value_of(&project.observations(), "33", "pop_resident", "2023"), Some(6627.0));
    // Everything set aside is in the quarantine file with its reason and the row as written.
    let quarantine = std::fs::read_to_string(project.path("reports/warehouse/quarantine/long_table.csv")).unwrap();
    assert_eq!(quarantine.lines().count(), 8, "{quarantine}");
    assert!(quarantine.contains(",9,,unit,") && quarantine.contains("\"全国,常住人口,2022年,141175,亩\""), "{quarantine}");
    // The raw input is kept beside its checksum.
    let raw: Vec<_> = std::fs::read_dir(project.path("reports/warehouse/raw/long_table")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(raw.len(), 1);
    let name = raw[0].to_string_lossy().to_string();
    assert!(name.ends_with(".csv") && name.len() == 64 + 4, "{name}");
    // Over the source's limit, the whole source is set aside and the run says so.
    let config = std::fs::read_to_string(project.path("config/townpulse.toml")).unwrap().replace("max_bad_row_share = 0.9", "max_bad_row_share = 0.5");
    std::fs::write(project.path("config/townpulse.toml"), config).unwrap();
    let failed = project.run(&["ingest"]);
    let out = text(&failed);
    assert!(out.contains("7 of 9 rows are bad (78%), over the limit of 50%; the source is set aside"), "{out}");
}

#[test]
fn world_bank_bulk_csv_and_json_stat_files_are_sources_too() {
    let data = shared_dir().join("data");
    let sources = format!(
        "[[sources]]\nname = \"wb_bulk\"\ntype = \"worldbank\"\npath = \"{}\"\nentities = {{ \"CHN\" = \"CHN\", \"WLD\" = \"WLD\" }}\n\
         indicators = {{ \"SP.URB.TOTL.IN.ZS\" = \"urban_share_un\" }}\n\n\
         [[sources]]\nname = \"galicia\"\ntype = \"jsonstat\"\npath = \"{}\"\nentity_dimension = \"residence\"\n\
         entities = {{ \"T\" = \"GAL\" }}\nindicator = \"population\"\nfixed = {{ \"birth\" = \"T\", \"age\" = \"T\", \"gender\" = \"T\" }}\n\
         max_bad_row_share = 1.0",
        data.join("worldbank/API_SP.URB.TOTL.IN.ZS_DS2_en_csv_v2_22447.csv").display(),
        data.join("jsonstat-samples/galicia-2.0.json").display()
    );
    let project = Project::new(
        "code,name,level,parent\nWLD,World,nation,\nCHN,China,nation,\nGAL,Galicia,province,\n",
        &format!("{WB_INDICATORS}population,Population,persons,level,,none,0\n"),
        &sources,
    );
    let ingested = project.run(&["ingest"]);
    let out = text(&ingested);
    assert!(out.contains("wb_bulk: 130 rows, 0 set aside, ok"), "{out}");
    let observations = project.observations();
    assert_eq!(value_of(&observations, "CHN", "urban_share_un", "2024"), Some(65.544));
    // Galicia's four provinces are not in this catalogue: set aside by name, the total kept.
    assert!(out.contains("galicia: 2 rows, 8 set aside"), "{out}");
    assert!(out.contains("field `residence`") || out.contains("unknown entity \"15\""), "{out}");
    assert_eq!(value_of(&observations, "GAL", "population", "2011"), Some(2_772_928.0), "{out}");
}

#[test]
fn the_samples_example_reads_each_published_format_in_place_and_reports() {
    let project = Project::example("samples");
    let ingested = project.run(&["ingest"]);
    let out = text(&ingested);
    for line in [
        "worldbank_urban_share: 195 rows, 0 set aside, ok",
        "nbs_real_estate: 26 rows, 0 set aside, ok",
        "nbs_gdp_index: 6 rows, 0 set aside, ok",
        "nbs_cpi: 13 rows, 0 set aside, ok",
        "galicia_population: 2 rows, 8 set aside, ok_with_rows_set_aside",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert!(out.contains("galicia-2.0.json: dataset dataset, value[1]: field `entity`: unknown entity \"15\""), "{out}");
    let run = project.run(&["run"]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let observations = project.observations();
    assert_eq!(value_of(&observations, "CN", "urban_share_wb", "2024"), Some(65.544));
    assert_eq!(value_of(&observations, "CN", "re_invest", "2019-01"), None);
}

#[test]
fn source_configuration_problems_are_reported_together_each_by_name() {
    let project = Project::new(
        "code,name,level,parent\nCN,全国,nation,\n",
        "code,name,unit,kind,accumulation,direction,decimals\ngdp,地区生产总值,亿元,flow,,up,1\n",
        "[[sources]]\nname = \"t\"\ntype = \"table\"\npath = \"missing.csv\"\nlayout = \"diagonal\"\n\n\
         [[sources]]\nname = \"w\"\ntype = \"worldbank\"\npath = \"x.csv\"\nurl = \"https://api.worldbank.org/v2/x\"\n\n\
         [[sources]]\nname = \"n\"\ntype = \"nbs\"\nurl = \"ftp://example.org/x\"\nsheet = \"Sheet1\"\nunknown_indicators = \"drop\"\n\n\
         [[sources]]\nname = \"s\"\ntype = \"sdmx\"\npath = \"x\"",
    );
    let output = project.run(&["validate", "--offline"]);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(2), "{out}");
    for expected in [
        "sources[0] \"t\" (table): `path`",
        "does not exist",
        "sources[0] \"t\" (table): `entity_column` is required for a table",
        "sources[0] \"t\" (table): `layout` must be long, wide or columns, got \"diagonal\"",
        "sources[1] \"w\" (worldbank): give `path` or `url`, not both",
        "sources[2] \"n\" (nbs): `sheet` does not apply to a nbs source",
        "sources[2] \"n\" (nbs): `url` must start with http:// or https://, got \"ftp://example.org/x\"",
        "sources[2] \"n\" (nbs): `unknown_indicators` must be \"skip\" or \"problem\", got \"drop\"",
        "sources[3] \"s\" (sdmx): `type` must be csv, table, worldbank, nbs or jsonstat, got \"sdmx\"",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

/// The catalogue of the contract-reader tests: the nation, two provinces, GDP and the urbanization rate.
fn two_provinces() -> contract::Catalogue {
    contract::Catalogue::load(
        contract::SourceText { path: "entities.csv", text: "code,name,level,parent\nCN,全国,nation,\n33,浙江省,province,CN\n11,北京市,province,CN\n" },
        contract::SourceText {
            path: "indicators.csv",
            text: "code,name,unit,kind,accumulation,direction,decimals\ngdp,地区生产总值,亿元,flow,,up,1\nurban_rate,城镇化率,%,rate,,up,2\n",
        },
        contract::SourceText { path: "targets.csv", text: "entity,indicator,comparator,target,deadline\n" },
    )
    .unwrap()
}

/// `csv` (every column read as text) written as the Parquet file `parquet`.
fn write_as_parquet(csv: &std::path::Path, parquet: &std::path::Path) {
    let mut frame = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(csv.to_path_buf()))
        .unwrap()
        .finish()
        .unwrap();
    ParquetWriter::new(std::fs::File::create(parquet).unwrap()).finish(&mut frame).unwrap();
}

/// Reads `path` (a contract file) through the vectorised path, and the same rows row by row: a
/// copy in GB18030 (which turns the vectorised path off) under the same name in `row_dir`.
fn read_both_ways(catalogue: &contract::Catalogue, path: &std::path::Path, row_dir: &std::path::Path) -> (ingest::SourceBatch, ingest::SourceBatch) {
    let read = |path: &std::path::Path, gb18030| {
        ingest::read_csv_source(&ingest::CsvOptions { name: "obs", path, gb18030, max_bad_row_share: 1.0 }, catalogue).unwrap()
    };
    let copy = row_dir.join(path.file_name().unwrap());
    let utf8 = std::fs::read_to_string(path).unwrap();
    let (text, _, _) = encoding_rs::GB18030.encode(&utf8);
    std::fs::write(&copy, text).unwrap();
    (read(path, false), read(&copy, true))
}

fn sorted_rows(frame: &DataFrame) -> Vec<String> {
    let mut rows: Vec<String> = (0..frame.height())
        .map(|i| frame.columns().iter().map(|c| c.get(i).unwrap().to_string()).collect::<Vec<_>>().join("|"))
        .collect();
    rows.sort();
    rows
}

#[test]
fn the_vectorised_contract_reader_agrees_with_the_row_reader_on_every_kind_of_row_in_csv_and_parquet() {
    let catalogue = two_provinces();
    let dir = tempfile::tempdir().unwrap();
    let row_dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("obs.csv");
    let text = "entity,indicator,period,value,unit,vintage\n\
                33,gdp,2023,82553,亿元,v1\n\
                11,gdp,2023,43760.7,,v1\n\
                CN,gdp,2023,,,v1\n\
                44,gdp,2023,135673,亿元,v1\n\
                33,GDP,2023,82553,亿元,v1\n\
                33,gdp,2023/01,1,亿元,v1\n\
                33,gdp,2022,abc,亿元,v1\n\
                33,urban_rate,2023,174.2,%,v1\n\
                33,gdp,2021,735160000,万元,v1\n\
                33,gdp,2020,6,亩,v1\n\
                11,gdp,2022,41610.9,亿元,v1\n\
                11,gdp,2022,41611.0,亿元,v1\n\
                11,urban_rate,2022,87.6,%,v1\n\
                11,urban_rate,2022,87.8,%,v2\n\
                ,,,,,\n\
                CN,urban_rate, 2023,66.16,%,v1\n\
                11,gdp,2021,inf,亿元,v1\n";
    std::fs::write(&csv, text).unwrap();
    let (fast, slow) = read_both_ways(&catalogue, &csv, row_dir.path());
    // The good rows without a problem were checked vectorised; the rest went through the row checker.
    assert_eq!(fast.vectorised_rows, 4, "{:?}", fast.frame);
    assert_eq!(slow.vectorised_rows, 0);
    let messages = |batch: &ingest::SourceBatch| {
        let shown = |m: String| m.replace(&row_dir.path().display().to_string(), &dir.path().display().to_string());
        batch.issues.iter().map(|i| shown(i.to_string())).collect::<Vec<_>>()
    };
    assert_eq!(messages(&fast), messages(&slow));
    assert_eq!(fast.issues.len(), 8, "{:#?}", messages(&fast));
    assert!(messages(&fast).contains(&format!("{}:13: field `period`: duplicated key 11,gdp,2022: first given on line 12", csv.display())), "{:#?}", messages(&fast));
    let places = |batch: &ingest::SourceBatch| batch.revisions.iter().map(|r| r.place.rsplit('/').next().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(places(&fast), places(&slow));
    assert_eq!(fast.revisions.len(), 1);
    assert_eq!((fast.rows_read, fast.bad_rows()), (slow.rows_read, slow.bad_rows()));
    assert_eq!(sorted_rows(&fast.frame), sorted_rows(&slow.frame));
    // 735,160,000 万元 are 73,516 亿元: converted by the row checker, kept beside the vectorised rows.
    assert_eq!(value_of(&fast.frame, "33", "gdp", "2021"), Some(73516.0));
    assert_eq!(value_of(&fast.frame, "CN", "urban_rate", "2023"), Some(66.16));

    // The same rows as Parquet: the same issues (a row N reported as line N + 1), the same frame.
    let parquet = dir.path().join("obs.parquet");
    write_as_parquet(&csv, &parquet);
    let fast_parquet = ingest::read_csv_source(&ingest::CsvOptions { name: "obs", path: &parquet, gb18030: false, max_bad_row_share: 1.0 }, &catalogue).unwrap();
    assert_eq!(fast_parquet.vectorised_rows, 4);
    let relocated = messages(&fast_parquet).iter().map(|m| m.replace("obs.parquet", "obs.csv")).collect::<Vec<_>>();
    assert_eq!(relocated, messages(&fast));
    // The Parquet file's own bytes are its checksum; its rows, with the file's vintage where a row has none, are the CSV's.
    assert_eq!(fast_parquet.sha256, format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(std::fs::read(&parquet).unwrap())));
    assert_eq!(sorted_rows(&fast_parquet.frame), sorted_rows(&fast.frame));

    // A quoted field, a short row or CR line ends send the whole file to the row reader.
    for variant in [text.replace("v2\n", "\"v2\"\n"), text.replace(",,,,,\n", ",,\n"), text.replace('\n', "\r\n")] {
        std::fs::write(&csv, &variant).unwrap();
        let (fast, slow) = read_both_ways(&catalogue, &csv, row_dir.path());
        assert_eq!(fast.vectorised_rows, 0, "{variant}");
        assert_eq!(messages(&fast), messages(&slow));
    }
}

#[test]
fn a_contract_file_checked_in_parts_gives_what_it_gives_checked_whole_in_csv_and_parquet() {
    let catalogue = two_provinces();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("obs.csv");
    // Good rows, bad rows, a period met again in later parts and a key given twice eight rows apart.
    std::fs::write(
        &csv,
        "entity,indicator,period,value,unit\n\
         33,gdp,2023,82553,亿元\n\
         11,gdp,2022,41610.9,亿元\n\
         CN,gdp,2023,,\n\
         44,gdp,2023,135673,亿元\n\
         33,urban_rate,2023,174.2,%\n\
         33,gdp,2022,abc,亿元\n\
         CN,gdp,2022,1200,亿元\n\
         33,urban_rate,2022,70.1,%\n\
         11,gdp,2022,41611.0,亿元\n\
         11,urban_rate,2023,87.8,%\n",
    )
    .unwrap();
    let parquet = dir.path().join("obs.parquet");
    write_as_parquet(&csv, &parquet);
    for path in [&csv, &parquet] {
        let options = ingest::CsvOptions { name: "obs", path, gb18030: false, max_bad_row_share: 1.0 };
        let whole = ingest::read_csv_source(&options, &catalogue).unwrap();
        let messages = |batch: &ingest::SourceBatch| batch.issues.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(whole.vectorised_rows, 5, "{}: {:?}", path.display(), whole.frame);
        assert_eq!(whole.issues.len(), 4, "{:#?}", messages(&whole));
        assert!(messages(&whole).contains(&format!("{}:10: field `period`: duplicated key 11,gdp,2022: first given on line 3", path.display())), "{:#?}", messages(&whole));
        for part_rows in [1, 2, 3, 4, 9, 10, 11] {
            let parts = ingest::read_csv_source_in_parts(&options, &catalogue, part_rows).unwrap();
            assert!(parts.frame.equals_missing(&whole.frame), "{} in parts of {part_rows}: {:?}", path.display(), parts.frame);
            assert_eq!(messages(&parts), messages(&whole), "{} in parts of {part_rows}", path.display());
            assert_eq!((parts.vectorised_rows, parts.rows_read), (whole.vectorised_rows, whole.rows_read));
        }
    }
    // A header alone: no rows, nothing set aside, in any size of part.
    std::fs::write(&csv, "entity,indicator,period,value\n").unwrap();
    let options = ingest::CsvOptions { name: "obs", path: &csv, gb18030: false, max_bad_row_share: 1.0 };
    let empty = ingest::read_csv_source_in_parts(&options, &catalogue, 3).unwrap();
    assert_eq!((empty.frame.height(), empty.issues.len(), empty.rows_read), (0, 0, 0));
}

#[test]
fn optional_columns_a_clean_contract_file_lacks_are_one_value_for_all_its_rows() {
    let catalogue = two_provinces();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("obs.csv");
    std::fs::write(&csv, "entity,indicator,period,value\n33,gdp,2023,82553\n11,gdp,2022,41610.9\nCN,gdp,2023,1260582\n11,urban_rate,2023,87.8\n33,urban_rate,2022,70.1\n").unwrap();
    let parquet = dir.path().join("obs.parquet");
    write_as_parquet(&csv, &parquet);
    for path in [&csv, &parquet] {
        let options = ingest::CsvOptions { name: "obs", path, gb18030: false, max_bad_row_share: 1.0 };
        // In parts of two rows: the value is the same in every part, so it stays one.
        let batch = ingest::read_csv_source_in_parts(&options, &catalogue, 2).unwrap();
        assert_eq!((batch.frame.height(), batch.vectorised_rows, batch.issues.len()), (5, 5, 0), "{}", path.display());
        let vintage = &batch.sha256[..12];
        for (name, value) in [("source", None), ("note", None), ("vintage", Some(vintage))] {
            let column = batch.frame.column(name).unwrap();
            // One value held once (Polars' scalar column), not a copy per row that every later step would gather.
            assert!(matches!(column, Column::Scalar(_)), "{}: `{name}` is {column:?}", path.display());
            let values: Vec<Option<&str>> = column.str().unwrap().iter().collect();
            assert_eq!(values, vec![value; 5], "{}: `{name}`", path.display());
        }
        // The same frame as read whole, where each optional column is null or the input's vintage.
        assert!(batch.frame.equals_missing(&ingest::read_csv_source(&options, &catalogue).unwrap().frame));
    }
}

#[test]
fn the_warehouse_reads_a_column_without_values_as_one_null_and_every_value_as_written() {
    let project = Project::new(
        "code,name,level,parent\nCN,全国,nation,\n33,浙江省,province,CN\n",
        "code,name,unit,kind,accumulation,direction,decimals\npop_resident,常住人口,万人,level,,none,2\n",
        "[[sources]]\nname = \"contract\"\ntype = \"csv\"\npath = \"observations.csv\"",
    );
    // The optional columns: `source` has a value on one row, `note` on none.
    let file = "entity,indicator,period,value,source,note\n33,pop_resident,2022,6577,yearbook,\n33,pop_resident,2023,6627,,\nCN,pop_resident,2023,,,\n";
    std::fs::write(project.path("config/observations.csv"), file).unwrap();
    let ingested = project.run(&["ingest"]);
    assert_eq!(ingested.status.code(), Some(0), "{}", text(&ingested));
    let observations = project.observations();
    assert_eq!(observations.height(), 3);
    // `note` is one null for all rows; `value` and `source` keep a cell per row.
    assert!(matches!(observations.column("note").unwrap(), Column::Scalar(_)), "{observations}");
    assert_eq!(observations.column("note").unwrap().null_count(), 3);
    assert!(!matches!(observations.column("value").unwrap(), Column::Scalar(_)));
    assert!(!matches!(observations.column("source").unwrap(), Column::Scalar(_)));
    // Read so, the frame equals the warehouse file as written.
    let path = ingest::Warehouse::new(&project.config().output.warehouse_dir).current_path("contract");
    let written = ParquetReader::new(std::fs::File::open(&path).unwrap()).finish().unwrap();
    assert!(observations.equals_missing(&written), "{observations}\n{written}");
    assert_eq!(value_of(&observations, "33", "pop_resident", "2023"), Some(6627.0));
    assert_eq!(value_of(&observations, "CN", "pop_resident", "2023"), None);
}
