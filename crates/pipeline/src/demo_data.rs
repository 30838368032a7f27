//! A deterministic generator of demo data in the data contract, at the scale of a province or
//! the whole country: the real township codes and parents of the NBS division codes, 20
//! indicators over 36 months, targets for three of them, and a configuration that reports to
//! every county. For benchmarks (`just bench`) and for trying townpulse on realistic volumes.
//!
//! Values come from a hash of (entity, indicator, month), never from a random generator's state,
//! so any slice of the data is the same whatever the scale or the order of generation.

use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::PipelineError;

/// How much to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Guizhou's 1,510 townships (the province closest to the ~1,500 of a typical province).
    Province,
    /// All 41,352 townships.
    National,
    /// The first N townships by code, across the country.
    Townships(usize),
}

/// What to generate, and where.
#[derive(Debug, Clone)]
pub struct DemoDataRequest<'a> {
    /// The NBS division-code folder (`../shared/data/admin-divisions`).
    pub divisions: &'a Path,
    pub scale: Scale,
    pub out: &'a Path,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct DemoDataOutcome {
    pub townships: usize,
    pub counties: usize,
    pub observations: usize,
    pub targets: usize,
    pub files: Vec<PathBuf>,
}

/// (code, name, unit, kind, accumulation, direction, decimals): 10 year-to-date flows (the first
/// five never publish January on its own, as NBS does), 5 period flows, 5 rates.
const INDICATORS: [(&str, &str, &str, &str, &str, &str, u8); 20] = [
    ("industrial_output_ytd", "规模以上工业总产值（累计）", "亿元", "flow", "ytd", "up", 2),
    ("fai_ytd", "固定资产投资（累计）", "亿元", "flow", "ytd", "up", 2),
    ("retail_sales_ytd", "社会消费品零售总额（累计）", "亿元", "flow", "ytd", "up", 2),
    ("fiscal_revenue_ytd", "一般公共预算收入（累计）", "亿元", "flow", "ytd", "up", 2),
    ("tax_revenue_ytd", "税收收入（累计）", "亿元", "flow", "ytd", "up", 2),
    ("exports_ytd", "出口总额（累计）", "万美元", "flow", "ytd", "up", 1),
    ("electricity_ytd", "全社会用电量（累计）", "万千瓦时", "flow", "ytd", "none", 1),
    ("housing_sales_ytd", "商品房销售面积（累计）", "万平方米", "flow", "ytd", "none", 2),
    ("tourism_revenue_ytd", "旅游收入（累计）", "亿元", "flow", "ytd", "up", 2),
    ("new_jobs_ytd", "城镇新增就业（累计）", "人", "flow", "ytd", "up", 0),
    ("freight_volume", "货运量（当月）", "万吨", "flow", "period", "none", 1),
    ("passenger_volume", "客运量（当月）", "万人次", "flow", "period", "none", 1),
    ("new_firms", "新登记市场主体（当月）", "户", "flow", "period", "up", 0),
    ("power_generation", "发电量（当月）", "万千瓦时", "flow", "period", "none", 1),
    ("water_use", "用水量（当月）", "万立方米", "flow", "period", "down", 1),
    ("urban_rate", "常住人口城镇化率", "%", "rate", "", "up", 2),
    ("unemployment_rate", "城镇调查失业率", "%", "rate", "", "down", 1),
    ("forest_cover", "森林覆盖率", "%", "rate", "", "up", 1),
    ("good_air_days", "空气质量优良天数比例", "%", "rate", "", "up", 1),
    ("broadband_rate", "固定宽带家庭普及率", "%", "rate", "", "up", 1),
];

const FIRST_YEAR: i32 = 2023;
const MONTHS: usize = 36;

/// A 64-bit mix of the inputs (splitmix64 over FNV-1a): the only source of "randomness".
fn hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in *part {
            h ^= u64::from(*byte);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
    }
    let mut z = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A number in [0, 1) from the inputs.
fn unit(parts: &[&[u8]]) -> f64 {
    (hash(parts) >> 11) as f64 / (1u64 << 53) as f64
}

/// One township's series of one indicator: 36 monthly values (None where missing).
fn series(entity: &str, indicator: usize) -> [Option<f64>; MONTHS] {
    let (code, _, _, kind, accumulation, _, _) = INDICATORS[indicator];
    let key = |salt: &[u8]| unit(&[entity.as_bytes(), code.as_bytes(), salt]);
    let mut out = [None; MONTHS];
    if kind == "rate" {
        let base = 20.0 + 70.0 * key(b"base");
        let drift = -1.0 + 3.0 * key(b"drift");
        for (m, slot) in out.iter_mut().enumerate() {
            let noise = key(&(m as u32).to_le_bytes()) - 0.5;
            *slot = Some((base + drift * m as f64 / 12.0 + noise).clamp(0.0, 100.0));
        }
    } else {
        // Log-uniform sizes over three orders of magnitude, a yearly growth of −2% to +12%,
        // a seasonal swing and ±5% noise.
        let base = 10f64.powf(-1.0 + 3.0 * key(b"base"));
        let growth = -0.02 + 0.14 * key(b"growth");
        let mut ytd = 0.0;
        for (m, slot) in out.iter_mut().enumerate() {
            let month = m % 12;
            if month == 0 {
                ytd = 0.0;
            }
            let season = 1.0 + 0.25 * (std::f64::consts::TAU * month as f64 / 12.0).sin();
            let noise = 0.95 + 0.1 * key(&(m as u32).to_le_bytes());
            let value = base * (1.0 + growth).powf(m as f64 / 12.0) * season * noise;
            ytd += value;
            *slot = Some(if accumulation == "ytd" { ytd } else { value });
        }
    }
    // About 1% of cells missing; January never published alone for the first five flows.
    for (m, slot) in out.iter_mut().enumerate() {
        if key(&[b'x', m as u8]) < 0.01 || (indicator < 5 && m % 12 == 0) {
            *slot = None;
        }
    }
    out
}

fn period(m: usize) -> String {
    format!("{}-{:02}", FIRST_YEAR + (m / 12) as i32, m % 12 + 1)
}

/// Above this many towns the generated configuration stops the full report at the counties.
const REPORT_TOWNS_AT_MOST: usize = 5_000;

/// Writes `observations.parquet`, `observations.csv`, `entities.csv`, `indicators.csv`,
/// `targets.csv` and `townpulse.toml` (a CSV source on the Parquet file, one recipient per county,
/// the outbox) into `out`.
pub fn demo_data(request: &DemoDataRequest<'_>) -> Result<DemoDataOutcome, PipelineError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |error: std::io::Error| PipelineError::Report(report::ReportError::Write { path, error })
    };
    let source_error = |error: sources::SourceError| PipelineError::Ingest(ingest::IngestError::Source { source_name: "divisions".into(), message: error.to_string() });
    std::fs::create_dir_all(request.out).map_err(io(request.out))?;
    let mut divisions = sources::divisions(request.divisions, sources::Level::Township).map_err(source_error)?;
    divisions.sort_by(|a, b| a.code.cmp(&b.code));
    let towns: Vec<&sources::Division> = {
        let all = divisions.iter().filter(|d| d.level == sources::Level::Township);
        match request.scale {
            Scale::Province => all.filter(|d| d.code.starts_with("52")).collect(),
            Scale::National => all.collect(),
            Scale::Townships(n) => all.take(n).collect(),
        }
    };
    // The towns and every ancestor of theirs, under the nation.
    let by_code: std::collections::HashMap<&str, &sources::Division> = divisions.iter().map(|d| (d.code.as_str(), d)).collect();
    let mut keep = std::collections::BTreeSet::new();
    for town in &towns {
        let mut at = Some(town.code.as_str());
        while let Some(code) = at {
            if !keep.insert(code) {
                break;
            }
            at = by_code.get(code).and_then(|d| d.parent.as_deref());
        }
    }
    let mut entities = String::from("code,name,level,parent\nCN,全国,nation,\n");
    let mut counties = Vec::new();
    for code in &keep {
        let d = by_code[code];
        let level = match d.level {
            sources::Level::Province => "province",
            sources::Level::Prefecture => "prefecture",
            sources::Level::County => {
                counties.push(d.code.clone());
                "county"
            }
            sources::Level::Township => "town",
        };
        entities.push_str(&format!("{},\"{}\",{level},{}\n", d.code, d.name.replace('"', "\"\""), d.parent.as_deref().unwrap_or("CN")));
    }
    let mut indicators = String::from("code,name,unit,kind,accumulation,direction,decimals\n");
    for (code, name, unit, kind, accumulation, direction, decimals) in INDICATORS {
        indicators.push_str(&format!("{code},{name},{unit},{kind},{accumulation},{direction},{decimals}\n"));
    }

    // Observations, a chunk of towns at a time, to Parquet and CSV.
    let periods: Vec<String> = (0..MONTHS).map(period).collect();
    let parquet_path = request.out.join("observations.parquet");
    let csv_path = request.out.join("observations.csv");
    let schema = Schema::from_iter([
        Field::new("entity".into(), DataType::String),
        Field::new("indicator".into(), DataType::String),
        Field::new("period".into(), DataType::String),
        Field::new("value".into(), DataType::Float64),
    ]);
    let polars_io = |path: &Path| {
        let path = path.display().to_string();
        move |error: PolarsError| PipelineError::Report(report::ReportError::Write { path, error: std::io::Error::other(error) })
    };
    let parquet_file = std::fs::File::create(&parquet_path).map_err(io(&parquet_path))?;
    let mut parquet = ParquetWriter::new(parquet_file).with_compression(ParquetCompression::Zstd(None)).batched(&schema).map_err(polars_io(&parquet_path))?;
    let mut csv_file = std::io::BufWriter::new(std::fs::File::create(&csv_path).map_err(io(&csv_path))?);
    let mut targets = String::from("entity,indicator,comparator,target,deadline,kind,base_period,tolerance,source,note\n");
    let mut observations = 0;
    for (chunk_index, chunk) in towns.chunks(1000).enumerate() {
        let (mut entity, mut indicator, mut period_col, mut value) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for town in chunk {
            for (i, spec) in INDICATORS.iter().enumerate() {
                let values = series(&town.code, i);
                for (m, v) in values.iter().enumerate() {
                    // The unpublished Januaries are absent; other missing cells are empty values.
                    if i < 5 && m % 12 == 0 {
                        continue;
                    }
                    entity.push(town.code.as_str());
                    indicator.push(spec.0);
                    period_col.push(periods[m].as_str());
                    value.push(*v);
                }
                // Targets for three indicators: a level for the end of the third year.
                if let (true, Some(last_first_year)) = (matches!(i, 1 | 3 | 15), values[11]) {
                    let (target, comparator) = if spec.3 == "rate" { ((last_first_year + 3.0).min(100.0), ">=") } else { (last_first_year * 1.25, ">=") };
                    targets.push_str(&format!("{},{},{comparator},{target:.2},2025-12,level,2023-12,,generated,\n", town.code, spec.0));
                }
            }
        }
        observations += entity.len();
        let mut frame = DataFrame::new(
            entity.len(),
            vec![
                Column::new("entity".into(), entity),
                Column::new("indicator".into(), indicator),
                Column::new("period".into(), period_col),
                Column::new("value".into(), value),
            ],
        )
        .map_err(polars_io(&parquet_path))?;
        parquet.write_batch(&frame).map_err(polars_io(&parquet_path))?;
        CsvWriter::new(&mut csv_file).include_header(chunk_index == 0).finish(&mut frame).map_err(polars_io(&csv_path))?;
    }
    parquet.finish().map_err(polars_io(&parquet_path))?;
    csv_file.flush().map_err(io(&csv_path))?;

    let mut config = String::from(
        "# Generated by `townpulse demo-data`: a CSV-contract source on the Parquet file, one recipient per county.\n\
         [catalogue]\nindicators = \"indicators.csv\"\nentities = \"entities.csv\"\ntargets = \"targets.csv\"\n\n\
         [[sources]]\nname = \"generated\"\ntype = \"csv\"\npath = \"observations.parquet\"\n\n\
         [output]\nwarehouse_dir = \"reports/warehouse\"\nreport_dir = \"reports/out\"\noutbox_dir = \"reports/outbox\"\nledger = \"reports/ledger.sqlite\"\n\n\
         [delivery]\nfrom = \"townpulse <townpulse@localhost>\"\n",
    );
    if towns.len() > REPORT_TOWNS_AT_MOST {
        // Every town's targets with their trend charts would make a report of gigabytes: the
        // full report stops at the counties, and each county's email lists its towns.
        config.push_str("\n# The full report stops at the counties; each county's summary lists its towns.\n[report]\ndeepest_level = \"county\"\n");
    }
    for county in &counties {
        config.push_str(&format!("\n[[recipients]]\naddress = \"county-{county}@example.gov.cn\"\nname = \"{county}\"\nfollows = [\"{county}\"]\n"));
    }
    let mut files = vec![parquet_path, csv_path];
    for (name, text) in [("entities.csv", &entities), ("indicators.csv", &indicators), ("targets.csv", &targets), ("townpulse.toml", &config)] {
        let path = request.out.join(name);
        contract::atomic::write_file(&path, text.as_bytes()).map_err(io(&path))?;
        files.push(path);
    }
    Ok(DemoDataOutcome { townships: towns.len(), counties: counties.len(), observations, targets: targets.lines().count() - 1, files })
}
