//! The townpulse configuration: `config/townpulse.toml` and the catalogue files it names.
//!
//! Parsing (serde, unknown keys refused) is followed by validation into [`Config`], which
//! reports every problem at once, each by the key it concerns. Relative paths are resolved
//! against the folder of the configuration file. This crate reads only configuration files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use contract::{Catalogue, Level, Problems, SourceText, Tree};
use serde::Deserialize;

/// The environment variable that selects SMTP delivery, overriding `delivery.smtp_url`.
pub const ENV_SMTP_URL: &str = "TOWNPULSE_SMTP_URL";
/// The only place an SMTP password is read from.
pub const ENV_SMTP_PASSWORD: &str = "TOWNPULSE_SMTP_PASSWORD";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read the configuration file: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: invalid configuration, {} problem{}:{}", .problems.len(), if .problems.len() == 1 { "" } else { "s" }, .problems.iter().map(|p| format!("\n  {p}")).collect::<String>())]
    Invalid { path: String, problems: Vec<String> },
    #[error("invalid catalogue, {0}")]
    Catalogue(Problems),
}

// ---------------------------------------------------------------------------------------------
// The file as written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    /// The time zone that decides which month is "last month".
    #[serde(default = "default_time_zone")]
    time_zone: String,
    /// Report language when a recipient does not choose one: `zh-CN` or `en`.
    #[serde(default = "default_language")]
    language: String,
    catalogue: RawCatalogue,
    #[serde(default)]
    sources: Vec<RawSource>,
    #[serde(default)]
    output: RawOutput,
    #[serde(default)]
    report: RawReport,
    delivery: RawDelivery,
    #[serde(default)]
    recipients: Vec<RawRecipient>,
    /// Scheduled jobs for `townpulse serve`.
    #[serde(default)]
    jobs: Vec<RawJob>,
    #[serde(default)]
    assessment: Option<RawAssessment>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAssessment {
    /// A growth ratio at or above this is on track (Eurostat: 0.95).
    on_track: Option<f64>,
    /// A growth ratio at or above this, below `on_track`, needs acceleration (Eurostat: 0.60).
    moderate: Option<f64>,
    /// How rates and ratios are judged: `cagr` (Eurostat, default) or `linear` (points a year).
    rate_method: Option<String>,
    /// The default tolerance of a `≈` target on a rate or ratio, in points (0.5).
    approx_tolerance_points: Option<f64>,
    /// The default tolerance of a `≈` target on a level or flow, in percent of the target (1).
    approx_tolerance_percent: Option<f64>,
}

fn default_time_zone() -> String {
    "Asia/Shanghai".into()
}

fn default_language() -> String {
    "zh-CN".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalogue {
    indicators: PathBuf,
    entities: PathBuf,
    targets: PathBuf,
    /// Standards (达标 checklists), optional.
    #[serde(default)]
    standards: Option<PathBuf>,
    /// The NBS division-code folder (`provinces.csv`, `cities.csv`, `areas.csv`, `streets.csv`):
    /// its divisions join the entities (those the entities file names stay as written there).
    #[serde(default)]
    divisions: Option<PathBuf>,
    /// How deep: `province`, `prefecture`, `county` (default) or `town`.
    #[serde(default)]
    divisions_depth: Option<String>,
    /// The entity code of the nation, the provinces' parent (optional).
    #[serde(default)]
    divisions_parent: Option<String>,
}

/// A source as written. `type` says which reader; each type uses some of the other keys, and a
/// key that its type does not use is reported.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSource {
    /// `csv` (a file in the observations contract), `table` (a published CSV or xlsx table),
    /// `worldbank`, `nbs` or `jsonstat`.
    #[serde(rename = "type")]
    kind: String,
    name: String,
    /// A file, or…
    path: Option<PathBuf>,
    /// …a URL (http or https): `worldbank`, `nbs`, `jsonstat`.
    url: Option<String>,
    /// The share of bad rows above which the whole source fails (default 0.5).
    max_bad_row_share: Option<f64>,
    /// `csv`: `utf-8` (default) or `gbk`; `table`: `auto` (default), `utf-8` or `gbk`.
    encoding: Option<String>,
    /// Source values → entity codes (World Bank: also the countries read).
    #[serde(default)]
    entities: std::collections::BTreeMap<String, String>,
    /// `nbs`: six-digit NBS codes (`330000`, `330100`) become division codes (`33`, `3301`).
    entity_codes: Option<String>,
    /// `skip`: leave out observations of indicators the catalogue does not have (default: set
    /// them aside as problems).
    unknown_indicators: Option<String>,
    /// Source indicator names or codes → indicator codes.
    #[serde(default)]
    indicators: std::collections::BTreeMap<String, String>,
    /// Seconds per HTTP attempt (default 30).
    timeout_s: Option<u64>,
    /// Attempts after the first on timeouts and 5xx (default 3).
    retries: Option<u32>,
    /// The first wait before a retry, doubled each time, with jitter (default 1000).
    retry_backoff_ms: Option<u64>,
    // `table`:
    /// `,` (default), `tab` or `;`.
    delimiter: Option<String>,
    /// xlsx: the sheet (default: the first).
    sheet: Option<String>,
    /// The 1-based row of the header (default: the first row holding `entity_column`).
    header_row: Option<u32>,
    two_row_header: Option<bool>,
    entity_column: Option<String>,
    /// Looked up in `entities` when the entity cell is empty or `NA` (a name column, say).
    entity_fallback_column: Option<String>,
    /// Leave out (listed, not errors) rows whose entity cannot be resolved.
    skip_unresolved: Option<bool>,
    /// `long`, `wide` or `columns`.
    layout: Option<String>,
    /// `columns`: the period of every value.
    period: Option<String>,
    /// `columns`: column header → indicator code.
    #[serde(default)]
    columns: std::collections::BTreeMap<String, String>,
    /// `wide`, `jsonstat`: one indicator code for every value.
    indicator: Option<String>,
    /// `wide`/`long`: the column holding the indicator.
    indicator_column: Option<String>,
    /// `wide`: the indicator is the parent row of a two-row header.
    indicator_from_header: Option<bool>,
    period_column: Option<String>,
    value_column: Option<String>,
    unit_column: Option<String>,
    /// The unit of values whose header or unit column states none.
    unit: Option<String>,
    // `nbs`:
    /// The entity of a national series (default `CN`).
    entity: Option<String>,
    /// The answer has a `reg` dimension (regional databases), mapped through `entities`.
    regional: Option<bool>,
    // `jsonstat`:
    dataset: Option<String>,
    entity_dimension: Option<String>,
    time_dimension: Option<String>,
    indicator_dimension: Option<String>,
    /// Dimension → the one category to read.
    #[serde(default)]
    fixed: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    warehouse_dir: Option<PathBuf>,
    report_dir: Option<PathBuf>,
    outbox_dir: Option<PathBuf>,
    ledger: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawReport {
    /// The full report (HTML and tables) lists entities down to this level: `nation`,
    /// `province`, `prefecture`, `county` or `town`; every level when absent. Each recipient's
    /// email still shows all the entities they follow.
    deepest_level: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDelivery {
    /// The sender, as `Name <address>`.
    from: String,
    /// `smtp://host:port` or `smtps://user@host:port`; empty means the outbox folder.
    #[serde(default)]
    smtp_url: Option<String>,
    /// Where the full reports are published, for links in emails.
    #[serde(default)]
    report_base_url: Option<String>,
    /// Without a base URL the report is attached when it is at most this large (default 10 MB;
    /// many mail servers refuse messages over 20–25 MB); above it, emails say where it is kept.
    #[serde(default)]
    max_attachment_mb: Option<f64>,
    /// How often a transient SMTP failure is retried (default 3).
    #[serde(default)]
    retries: Option<u32>,
    /// The first wait before a retry, doubled each time (default 1000).
    #[serde(default)]
    retry_backoff_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecipient {
    address: String,
    name: String,
    /// Entity codes; each covers its descendants and, for a group, its members.
    follows: Vec<String>,
    #[serde(default)]
    language: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    name: String,
    /// Six fields, seconds first: `0 0 9 5 * *` is 09:00 on the 5th.
    cron: String,
    /// Default: the configuration's `time_zone`.
    #[serde(default)]
    time_zone: Option<String>,
    /// Which period a fire reports: `previous_month` (default), `previous_quarter`, `previous_year`.
    #[serde(default)]
    period: Option<String>,
    /// `all`, `latest` or `none`: which missed periods to run when the daemon starts.
    #[serde(default = "default_catch_up")]
    catch_up: String,
    /// How often a failed run is tried again (default 2).
    #[serde(default)]
    retries: Option<u32>,
    /// The first wait before a retry, doubled each time (default 60).
    #[serde(default)]
    retry_backoff_s: Option<u64>,
    /// Operators emailed when a run finally fails.
    #[serde(default)]
    notify: Vec<String>,
}

fn default_catch_up() -> String {
    "latest".into()
}

// ---------------------------------------------------------------------------------------------
// The checked configuration.

#[derive(Debug, Clone)]
pub struct Config {
    /// The configuration file itself.
    pub path: PathBuf,
    pub time_zone: chrono_tz::Tz,
    pub language: Language,
    pub catalogue: Catalogue,
    pub catalogue_files: Vec<PathBuf>,
    pub sources: Vec<Source>,
    pub output: Output,
    pub report: Report,
    pub delivery: Delivery,
    pub recipients: Vec<Recipient>,
    pub jobs: Vec<Job>,
    pub assessment: Assessment,
}

/// How progress toward targets is judged.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub on_track: f64,
    pub moderate: f64,
    pub linear_for_rates: bool,
    pub approx_tolerance_points: f64,
    pub approx_tolerance_percent: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Zh,
    En,
}

impl Language {
    fn parse(text: &str) -> Option<Language> {
        match text {
            "zh-CN" | "zh" => Some(Language::Zh),
            "en" | "en-US" | "en-GB" => Some(Language::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Language::Zh => "zh-CN",
            Language::En => "en",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Gb18030,
}

#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub kind: SourceKind,
    pub max_bad_row_share: f64,
}

#[derive(Debug, Clone)]
pub enum SourceKind {
    /// A file in the observations contract.
    Csv { path: PathBuf, encoding: Encoding },
    /// A published table or API answer, read by a `sources` reader.
    Reader(Box<ReaderSource>),
}

impl Source {
    /// Where the source's input is: its file or its URL.
    pub fn location(&self) -> Location {
        match &self.kind {
            SourceKind::Csv { path, .. } => Location::File(path.clone()),
            SourceKind::Reader(reader) => reader.location.clone(),
        }
    }
}

/// Where a source's input is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    File(PathBuf),
    Url(String),
}

/// A source read by a `sources` reader.
#[derive(Debug, Clone)]
pub struct ReaderSource {
    pub location: Location,
    pub spec: sources::Spec,
    /// Source values → entity codes, applied to what the reader gives.
    pub entities: std::collections::BTreeMap<String, String>,
    /// Source indicator values → indicator codes, applied to what the reader gives.
    pub indicators: std::collections::BTreeMap<String, String>,
    /// Six-digit NBS codes become division codes (`330000` → `33`, `330100` → `3301`).
    pub nbs_codes: bool,
    /// Leave out observations of indicators the catalogue does not have.
    pub skip_unknown_indicators: bool,
    pub timeout: std::time::Duration,
    pub retries: u32,
    pub retry_backoff: std::time::Duration,
}

#[derive(Debug, Clone)]
pub struct Output {
    pub warehouse_dir: PathBuf,
    pub report_dir: PathBuf,
    pub outbox_dir: PathBuf,
    pub ledger: PathBuf,
}

/// What the full report shows.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Entities below this level are left out of the full report; `None`: every level.
    pub deepest_level: Option<Level>,
}

#[derive(Debug, Clone)]
pub struct Delivery {
    pub from: String,
    pub transport: Transport,
    pub report_base_url: Option<String>,
    /// The largest report attached to emails, in bytes.
    pub max_attachment_bytes: usize,
    pub retries: u32,
    pub retry_backoff: std::time::Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// `.eml` files in a folder.
    Outbox,
    /// An SMTP relay.
    Smtp { url: String, password: Option<String> },
}

#[derive(Debug, Clone)]
pub struct Recipient {
    pub address: String,
    pub name: String,
    pub follows: Vec<String>,
    pub language: Language,
}

/// A scheduled job of `townpulse serve`.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    /// Six fields, seconds first, checked to parse.
    pub cron: String,
    pub time_zone: chrono_tz::Tz,
    pub period: PeriodRule,
    pub catch_up: CatchUp,
    pub retries: u32,
    pub retry_backoff: std::time::Duration,
    pub notify: Vec<String>,
}

/// Which period a job's fire reports, from the fire's date in the job's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodRule {
    PreviousMonth,
    PreviousQuarter,
    PreviousYear,
}

impl PeriodRule {
    /// The period reported by a fire on `date` (local to the job's time zone).
    pub fn period_for(self, date: chrono::NaiveDate) -> contract::Period {
        use chrono::Datelike;
        use contract::Period;
        let (year, month) = (date.year(), date.month() as u8);
        match self {
            PeriodRule::PreviousMonth => Period::Month(year, month).previous(),
            PeriodRule::PreviousQuarter => Period::Quarter(year, (month - 1) / 3 + 1).previous(),
            PeriodRule::PreviousYear => Period::Year(year - 1),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatchUp {
    All,
    Latest,
    None,
}

/// The environment that configuration may read: the SMTP URL and password.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub smtp_url: Option<String>,
    pub smtp_password: Option<String>,
}

impl Environment {
    /// Reads `TOWNPULSE_SMTP_URL` and `TOWNPULSE_SMTP_PASSWORD`; empty values count as unset.
    pub fn from_process() -> Environment {
        let get = |name| std::env::var(name).ok().filter(|v: &String| !v.trim().is_empty());
        Environment { smtp_url: get(ENV_SMTP_URL), smtp_password: get(ENV_SMTP_PASSWORD) }
    }
}

impl Config {
    /// Reads, parses and validates the configuration at `path` and the catalogue files it names.
    pub fn load(path: &Path, env: &Environment) -> Result<Config, ConfigError> {
        let display = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: display.clone(), source })?;
        let raw: RawConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse { path: display.clone(), message: toml_message(&text, &e) })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        validate(raw, path, &base, env)
    }

    /// The recipient's language, or the configured default.
    pub fn entities_followed_by(&self, recipient: &Recipient) -> BTreeSet<String> {
        Self::followed_in(&self.catalogue.tree(), recipient)
    }

    /// [`Config::entities_followed_by`] with the catalogue's tree built once for many recipients.
    pub fn followed_in(tree: &Tree<'_>, recipient: &Recipient) -> BTreeSet<String> {
        recipient.follows.iter().flat_map(|code| tree.covered_by(code)).collect()
    }

    /// The entities the full report shows when `report.deepest_level` is set (configured
    /// groups always); `None`: all of them.
    pub fn report_entities(&self) -> Option<BTreeSet<String>> {
        let deepest = self.report.deepest_level?.depth()?;
        let shown = |level: Level| level.depth().is_none_or(|depth| depth <= deepest);
        Some(self.catalogue.entities.values().filter(|e| shown(e.level)).map(|e| e.code.clone()).collect())
    }
}

/// Removes `.` and `..` components lexically (the path need not exist).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn toml_message(text: &str, error: &toml::de::Error) -> String {
    let line = error.span().map(|span| text[..span.start.min(text.len())].lines().count().max(1));
    let message = error.message().trim_end_matches('.').to_string();
    match line {
        Some(line) => format!("line {line}: {message}"),
        None => message,
    }
}

/// Checks a source's keys for its type and builds what ingest needs; `None` when it cannot.
fn check_source(source: &RawSource, label: &str, resolve: &dyn Fn(&Path) -> PathBuf, problems: &mut Vec<String>) -> Option<SourceKind> {
    use sources::{CsvSpec, Encoding as TextEncoding, EntitySpec, IndicatorFrom, JsonStatIndicator, JsonStatSpec, Layout, NbsEntity, NbsSpec, Spec, TableSpec, Unresolved, XlsxSpec};
    let start = problems.len();
    let mut problem = |message: String| problems.push(format!("{label}: {message}"));
    // Keys each type uses, beyond `type`, `name` and `max_bad_row_share`.
    let allowed: &[&str] = match source.kind.as_str() {
        "csv" => &["path", "encoding"],
        "table" => &[
            "path", "encoding", "entities", "unknown_indicators", "entity_codes", "indicators", "delimiter", "sheet", "header_row", "two_row_header", "entity_column",
            "entity_fallback_column", "skip_unresolved", "layout", "period", "columns", "indicator", "indicator_column", "indicator_from_header",
            "period_column", "value_column", "unit_column", "unit",
        ],
        "worldbank" => &["path", "url", "entities", "unknown_indicators", "indicators", "timeout_s", "retries", "retry_backoff_ms"],
        "nbs" => &["path", "url", "entities", "unknown_indicators", "entity_codes", "indicators", "timeout_s", "retries", "retry_backoff_ms", "entity", "regional"],
        "jsonstat" => &[
            "path", "url", "entities", "unknown_indicators", "entity_codes", "indicators", "timeout_s", "retries", "retry_backoff_ms", "dataset", "entity_dimension",
            "time_dimension", "indicator_dimension", "indicator", "fixed",
        ],
        other => {
            problem(format!("`type` must be csv, table, worldbank, nbs or jsonstat, got {other:?}"));
            return None;
        }
    };
    let given: [(&str, bool); 35] = [
        ("unknown_indicators", source.unknown_indicators.is_some()),
        ("path", source.path.is_some()),
        ("url", source.url.is_some()),
        ("encoding", source.encoding.is_some()),
        ("entities", !source.entities.is_empty()),
        ("entity_codes", source.entity_codes.is_some()),
        ("indicators", !source.indicators.is_empty()),
        ("timeout_s", source.timeout_s.is_some()),
        ("retries", source.retries.is_some()),
        ("retry_backoff_ms", source.retry_backoff_ms.is_some()),
        ("delimiter", source.delimiter.is_some()),
        ("sheet", source.sheet.is_some()),
        ("header_row", source.header_row.is_some()),
        ("two_row_header", source.two_row_header.is_some()),
        ("entity_column", source.entity_column.is_some()),
        ("entity_fallback_column", source.entity_fallback_column.is_some()),
        ("skip_unresolved", source.skip_unresolved.is_some()),
        ("layout", source.layout.is_some()),
        ("period", source.period.is_some()),
        ("columns", !source.columns.is_empty()),
        ("indicator", source.indicator.is_some()),
        ("indicator_column", source.indicator_column.is_some()),
        ("indicator_from_header", source.indicator_from_header.is_some()),
        ("period_column", source.period_column.is_some()),
        ("value_column", source.value_column.is_some()),
        ("unit_column", source.unit_column.is_some()),
        ("unit", source.unit.is_some()),
        ("entity", source.entity.is_some()),
        ("regional", source.regional.is_some()),
        ("dataset", source.dataset.is_some()),
        ("entity_dimension", source.entity_dimension.is_some()),
        ("time_dimension", source.time_dimension.is_some()),
        ("indicator_dimension", source.indicator_dimension.is_some()),
        ("fixed", !source.fixed.is_empty()),
        ("max_bad_row_share", false),
    ];
    for (key, present) in given {
        if present && !allowed.contains(&key) {
            problem(format!("`{key}` does not apply to a {} source", source.kind));
        }
    }
    let location = match (&source.path, &source.url) {
        (Some(path), None) => {
            let resolved = resolve(path);
            if !resolved.is_file() {
                problem(format!("`path` {} does not exist", resolved.display()));
            }
            Some(Location::File(resolved))
        }
        (None, Some(url)) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                problem(format!("`url` must start with http:// or https://, got {url:?}"));
            }
            Some(Location::Url(url.clone()))
        }
        (Some(_), Some(_)) => {
            problem("give `path` or `url`, not both".to_string());
            None
        }
        (None, None) => {
            problem(if allowed.contains(&"url") { "`path` or `url` is required" } else { "`path` is required" }.to_string());
            None
        }
    };
    let required = |value: &Option<String>, key: &str, what: &str, problem: &mut dyn FnMut(String)| -> String {
        value.clone().unwrap_or_else(|| {
            problem(format!("`{key}` is required {what}"));
            String::new()
        })
    };
    let nbs_codes = match source.entity_codes.as_deref() {
        None => false,
        Some("nbs") => true,
        Some(other) => {
            problem(format!("`entity_codes` must be \"nbs\", got {other:?}"));
            false
        }
    };
    let skip_unknown_indicators = match source.unknown_indicators.as_deref() {
        None | Some("problem") => false,
        Some("skip") => true,
        Some(other) => {
            problem(format!("`unknown_indicators` must be \"skip\" or \"problem\", got {other:?}"));
            false
        }
    };
    let spec = match source.kind.as_str() {
        "csv" => {
            let encoding = match source.encoding.as_deref().unwrap_or("utf-8").to_ascii_lowercase().as_str() {
                "utf-8" | "utf8" => Encoding::Utf8,
                "gbk" | "gb2312" | "gb18030" => Encoding::Gb18030,
                other => {
                    problem(format!("`encoding` must be utf-8, gbk or gb18030, got {other:?}"));
                    Encoding::Utf8
                }
            };
            let location = location?;
            let Location::File(path) = location else { return None };
            return (problems.len() == start).then_some(SourceKind::Csv { path, encoding });
        }
        "table" => {
            let entity = EntitySpec {
                column: required(&source.entity_column, "entity_column", "for a table", &mut problem),
                map: source.entities.clone(),
                fallback_column: source.entity_fallback_column.clone(),
                unresolved: if source.skip_unresolved.unwrap_or(false) { Unresolved::Skip } else { Unresolved::Problem },
            };
            let layout = match source.layout.as_deref() {
                Some("columns") => {
                    if source.columns.is_empty() {
                        problem("`columns` (header → indicator code) is required for the columns layout".to_string());
                    }
                    Layout::Columns { period: required(&source.period, "period", "for the columns layout", &mut problem), map: source.columns.clone() }
                }
                Some("wide") => {
                    let indicator = match (&source.indicator, &source.indicator_column, source.indicator_from_header.unwrap_or(false)) {
                        (Some(code), None, false) => IndicatorFrom::Fixed(code.clone()),
                        (None, Some(column), false) => IndicatorFrom::Column(column.clone()),
                        (None, None, true) => IndicatorFrom::ParentHeader,
                        _ => {
                            problem("the wide layout needs exactly one of `indicator`, `indicator_column` or `indicator_from_header = true`".to_string());
                            IndicatorFrom::ParentHeader
                        }
                    };
                    Layout::Wide { indicator, unit_column: source.unit_column.clone() }
                }
                Some("long") => Layout::Long {
                    indicator_column: required(&source.indicator_column, "indicator_column", "for the long layout", &mut problem),
                    period_column: required(&source.period_column, "period_column", "for the long layout", &mut problem),
                    value_column: required(&source.value_column, "value_column", "for the long layout", &mut problem),
                    unit_column: source.unit_column.clone(),
                },
                other => {
                    problem(match other {
                        Some(other) => format!("`layout` must be long, wide or columns, got {other:?}"),
                        None => "`layout` (long, wide or columns) is required for a table".to_string(),
                    });
                    Layout::Columns { period: String::new(), map: Default::default() }
                }
            };
            let table = TableSpec {
                header_row: source.header_row,
                two_row_header: source.two_row_header.unwrap_or(false),
                entity,
                layout,
                indicators: source.indicators.clone(),
                unit: source.unit.clone(),
            };
            let xlsx = matches!(&location, Some(Location::File(p)) if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("xlsx")));
            if xlsx {
                Spec::Xlsx(XlsxSpec { sheet: source.sheet.clone(), table })
            } else {
                if source.sheet.is_some() {
                    problem("`sheet` applies to an .xlsx file only".to_string());
                }
                let encoding = match source.encoding.as_deref().unwrap_or("auto").to_ascii_lowercase().as_str() {
                    "auto" => TextEncoding::Auto,
                    "utf-8" | "utf8" => TextEncoding::Utf8,
                    "gbk" | "gb2312" | "gb18030" => TextEncoding::Gb18030,
                    other => {
                        problem(format!("`encoding` must be auto, utf-8, gbk or gb18030, got {other:?}"));
                        TextEncoding::Auto
                    }
                };
                let delimiter = match source.delimiter.as_deref().unwrap_or(",") {
                    "," => b',',
                    "tab" | "\t" => b'\t',
                    ";" => b';',
                    other => {
                        problem(format!("`delimiter` must be \",\", \"tab\" or \";\", got {other:?}"));
                        b','
                    }
                };
                Spec::Csv(CsvSpec { encoding, delimiter, table })
            }
        }
        "worldbank" => match &location {
            Some(Location::Url(_)) => Spec::WorldBankApi,
            _ => Spec::WorldBankCsv { countries: (!source.entities.is_empty()).then(|| source.entities.keys().cloned().collect()) },
        },
        "nbs" => Spec::Nbs(NbsSpec {
            indicators: source.indicators.clone(),
            entity: if source.regional.unwrap_or(false) {
                NbsEntity::Region(source.entities.clone())
            } else {
                NbsEntity::Fixed(source.entity.clone().unwrap_or_else(|| "CN".to_string()))
            },
        }),
        _ => Spec::JsonStat(JsonStatSpec {
            dataset: source.dataset.clone(),
            entity: source.entity_dimension.clone(),
            time: source.time_dimension.clone(),
            indicator: match (&source.indicator_dimension, &source.indicator) {
                (Some(dimension), None) => Some(JsonStatIndicator::Dimension(dimension.clone())),
                (None, Some(code)) => Some(JsonStatIndicator::Fixed(code.clone())),
                (None, None) => None,
                (Some(_), Some(_)) => {
                    problem("give `indicator_dimension` or `indicator`, not both".to_string());
                    None
                }
            },
            fixed: source.fixed.clone(),
            entities: source.entities.clone(),
            indicators: source.indicators.clone(),
        }),
    };
    let location = location?;
    (problems.len() == start).then(|| {
        SourceKind::Reader(Box::new(ReaderSource {
            location,
            spec,
            // The other readers map codes themselves, through their spec.
            entities: if source.kind == "worldbank" { source.entities.clone() } else { Default::default() },
            indicators: if source.kind == "worldbank" { source.indicators.clone() } else { Default::default() },
            nbs_codes,
            skip_unknown_indicators,
            timeout: std::time::Duration::from_secs(source.timeout_s.unwrap_or(30)),
            retries: source.retries.unwrap_or(3),
            retry_backoff: std::time::Duration::from_millis(source.retry_backoff_ms.unwrap_or(1000)),
        }))
    })
}

/// The entities file's text with the divisions it does not name appended as rows.
fn with_divisions(entities: &str, divisions: &[sources::Division], nation: Option<&str>) -> String {
    let named: BTreeSet<&str> = entities.lines().skip(1).filter_map(|l| l.split(',').next()).collect();
    let header = entities.lines().next().unwrap_or("code,name,level,parent");
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    let mut writer = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    for division in divisions.iter().filter(|d| !named.contains(d.code.as_str())) {
        let level = match division.level {
            sources::Level::Province => "province",
            sources::Level::Prefecture => "prefecture",
            sources::Level::County => "county",
            sources::Level::Township => "town",
        };
        let parent = division.parent.as_deref().or(nation).unwrap_or("");
        let row: Vec<&str> = columns
            .iter()
            .map(|c| match *c {
                "code" => division.code.as_str(),
                "name" => division.name.as_str(),
                "level" => level,
                "parent" => parent,
                _ => "",
            })
            .collect();
        let _ = writer.write_record(&row);
    }
    let rows = String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default();
    let mut text = entities.trim_end().to_string();
    text.push('\n');
    text.push_str(&rows);
    text
}

/// Parses a six-field cron expression (seconds first), as the scheduler will.
pub fn parse_cron(text: &str) -> Result<croner::Cron, String> {
    if text.split_whitespace().count() != 6 {
        return Err(format!("expected six fields, seconds first (like `0 0 9 5 * *`), got {text:?}"));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .build()
        .parse(text)
        .map_err(|e| format!("{text:?} is not a valid cron expression: {e}"))
}

fn looks_like_address(text: &str) -> bool {
    text.split_once('@').is_some_and(|(user, host)| !user.is_empty() && !host.is_empty()) && !text.contains(char::is_whitespace)
}

fn check_cron(text: &str) -> Result<(), String> {
    parse_cron(text).map(|_| ())
}

fn read_catalogue_file(path: &Path, problems: &mut Vec<String>, key: &str) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            problems.push(format!("catalogue.{key}: cannot read {}: {error}", path.display()));
            String::new()
        }
    }
}

fn validate(raw: RawConfig, path: &Path, base: &Path, env: &Environment) -> Result<Config, ConfigError> {
    let mut problems = Vec::new();
    let resolve = |p: &Path| normalize(&if p.is_absolute() { p.to_path_buf() } else { base.join(p) });

    let time_zone = raw.time_zone.parse::<chrono_tz::Tz>().unwrap_or_else(|_| {
        problems.push(format!("time_zone: unknown time zone {:?} (expected a name like Asia/Shanghai)", raw.time_zone));
        chrono_tz::Asia::Shanghai
    });
    let language = Language::parse(&raw.language).unwrap_or_else(|| {
        problems.push(format!("language: expected zh-CN or en, got {:?}", raw.language));
        Language::Zh
    });

    let mut names = BTreeSet::new();
    let mut sources = Vec::new();
    for (index, source) in raw.sources.into_iter().enumerate() {
        let label = format!("sources[{index}] {:?} ({})", source.name, source.kind);
        if source.name.trim().is_empty() || !source.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            problems.push(format!("{label}: `name` must be letters, digits, `_` or `-`, got {:?}", source.name));
        }
        if !names.insert(source.name.clone()) {
            problems.push(format!("{label}: `name` is used by another source"));
        }
        let share = source.max_bad_row_share.unwrap_or(0.5);
        if !(0.0..=1.0).contains(&share) {
            problems.push(format!("{label}: `max_bad_row_share` must be between 0 and 1, got {share}"));
        }
        if let Some(kind) = check_source(&source, &label, &resolve, &mut problems) {
            sources.push(Source { name: source.name, kind, max_bad_row_share: share });
        }
    }
    if sources.is_empty() {
        problems.push("sources: at least one source is required".to_string());
    }

    let output = Output {
        warehouse_dir: resolve(raw.output.warehouse_dir.as_deref().unwrap_or(Path::new("../reports/warehouse"))),
        report_dir: resolve(raw.output.report_dir.as_deref().unwrap_or(Path::new("../reports/out"))),
        outbox_dir: resolve(raw.output.outbox_dir.as_deref().unwrap_or(Path::new("../reports/outbox"))),
        ledger: resolve(raw.output.ledger.as_deref().unwrap_or(Path::new("../reports/ledger.sqlite"))),
    };

    let deepest_level = raw.report.deepest_level.as_deref().and_then(|text| match Level::parse(text).filter(|l| l.depth().is_some()) {
        Some(level) => Some(level),
        None => {
            problems.push(format!("report.deepest_level: expected nation, province, prefecture, county or town, got {text:?}"));
            None
        }
    });
    let report = Report { deepest_level };

    if !raw.delivery.from.contains('@') {
        problems.push(format!("delivery.from: expected an address like `townpulse <reports@example.org>`, got {:?}", raw.delivery.from));
    }
    let smtp_url = env.smtp_url.clone().or(raw.delivery.smtp_url.filter(|u| !u.trim().is_empty()));
    let transport = match smtp_url {
        None => Transport::Outbox,
        Some(url) => {
            if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                problems.push(format!("delivery.smtp_url: must start with smtp:// or smtps://, got {url:?}"));
            }
            if url.split("://").nth(1).is_some_and(|rest| rest.split('@').next().is_some_and(|u| u.contains(':')) && rest.contains('@')) {
                problems.push(format!("delivery.smtp_url: must not hold a password; set {ENV_SMTP_PASSWORD} instead"));
            }
            Transport::Smtp { url, password: env.smtp_password.clone() }
        }
    };

    let catalogue_files = vec![resolve(&raw.catalogue.entities), resolve(&raw.catalogue.indicators), resolve(&raw.catalogue.targets)];
    let mut entities_text = read_catalogue_file(&catalogue_files[0], &mut problems, "entities");
    if let Some(dir) = raw.catalogue.divisions.as_deref().map(resolve) {
        let depth = match raw.catalogue.divisions_depth.as_deref().unwrap_or("county") {
            "province" => Some(sources::Level::Province),
            "prefecture" => Some(sources::Level::Prefecture),
            "county" => Some(sources::Level::County),
            "town" => Some(sources::Level::Township),
            other => {
                problems.push(format!("catalogue.divisions_depth: expected province, prefecture, county or town, got {other:?}"));
                None
            }
        };
        match depth.map(|depth| sources::divisions(&dir, depth)) {
            Some(Ok(divisions)) => entities_text = with_divisions(&entities_text, &divisions, raw.catalogue.divisions_parent.as_deref()),
            Some(Err(error)) => problems.push(format!("catalogue.divisions: {error}")),
            None => {}
        }
    }
    let indicators_text = read_catalogue_file(&catalogue_files[1], &mut problems, "indicators");
    let targets_text = read_catalogue_file(&catalogue_files[2], &mut problems, "targets");
    let [entities_path, indicators_path, targets_path] =
        [&catalogue_files[0], &catalogue_files[1], &catalogue_files[2]].map(|p| p.display().to_string());
    let catalogue = Catalogue::load(
        SourceText { path: &entities_path, text: &entities_text },
        SourceText { path: &indicators_path, text: &indicators_text },
        SourceText { path: &targets_path, text: &targets_text },
    );

    let mut recipients = Vec::new();
    let mut addresses = BTreeSet::new();
    for (index, recipient) in raw.recipients.into_iter().enumerate() {
        let label = format!("recipients[{index}] {:?}", recipient.address);
        if !looks_like_address(&recipient.address) {
            problems.push(format!("{label}: `address` is not an email address"));
        }
        if !addresses.insert(recipient.address.to_ascii_lowercase()) {
            problems.push(format!("{label}: `address` is listed twice"));
        }
        if recipient.follows.is_empty() {
            problems.push(format!("{label}: `follows` must name at least one entity"));
        }
        if let Ok(catalogue) = &catalogue {
            for code in &recipient.follows {
                if !catalogue.entities.contains_key(code) {
                    problems.push(format!("{label}: `follows` names unknown entity {code:?}"));
                }
            }
        }
        let recipient_language = match recipient.language.as_deref() {
            None => language,
            Some(text) => Language::parse(text).unwrap_or_else(|| {
                problems.push(format!("{label}: `language` must be zh-CN or en, got {text:?}"));
                language
            }),
        };
        recipients.push(Recipient { address: recipient.address, name: recipient.name, follows: recipient.follows, language: recipient_language });
    }

    let mut jobs: Vec<Job> = Vec::new();
    for (index, job) in raw.jobs.into_iter().enumerate() {
        let label = format!("jobs[{index}] ({:?})", job.name);
        if job.name.trim().is_empty() {
            problems.push(format!("jobs[{index}].name: must not be empty"));
        } else if jobs.iter().any(|j| j.name == job.name) || job.name == "cli" {
            problems.push(format!("{label}.name: {:?} is used twice (or is the reserved name `cli`)", job.name));
        }
        if let Err(message) = check_cron(&job.cron) {
            problems.push(format!("{label}.cron: {message}"));
        }
        let zone_text = job.time_zone.unwrap_or_else(|| raw.time_zone.clone());
        let zone = zone_text.parse::<chrono_tz::Tz>().unwrap_or_else(|_| {
            problems.push(format!("{label}.time_zone: unknown time zone {zone_text:?} (expected a name like Asia/Shanghai)"));
            time_zone
        });
        let period = match job.period.as_deref().unwrap_or("previous_month") {
            "previous_month" => PeriodRule::PreviousMonth,
            "previous_quarter" => PeriodRule::PreviousQuarter,
            "previous_year" => PeriodRule::PreviousYear,
            other => {
                problems.push(format!("{label}.period: expected previous_month, previous_quarter or previous_year, got {other:?}"));
                PeriodRule::PreviousMonth
            }
        };
        let catch_up = match job.catch_up.as_str() {
            "all" => CatchUp::All,
            "latest" => CatchUp::Latest,
            "none" => CatchUp::None,
            other => {
                problems.push(format!("{label}.catch_up: expected all, latest or none, got {other:?}"));
                CatchUp::Latest
            }
        };
        for address in &job.notify {
            if !looks_like_address(address) {
                problems.push(format!("{label}.notify: {address:?} is not an email address"));
            }
        }
        jobs.push(Job {
            name: job.name,
            cron: job.cron,
            time_zone: zone,
            period,
            catch_up,
            retries: job.retries.unwrap_or(2),
            retry_backoff: std::time::Duration::from_secs(job.retry_backoff_s.unwrap_or(60)),
            notify: job.notify,
        });
    }

    let raw_assessment = raw.assessment.unwrap_or(RawAssessment {
        on_track: None,
        moderate: None,
        rate_method: None,
        approx_tolerance_points: None,
        approx_tolerance_percent: None,
    });
    let assessment = Assessment {
        on_track: raw_assessment.on_track.unwrap_or(0.95),
        moderate: raw_assessment.moderate.unwrap_or(0.60),
        linear_for_rates: match raw_assessment.rate_method.as_deref().unwrap_or("cagr") {
            "cagr" => false,
            "linear" => true,
            other => {
                problems.push(format!("assessment.rate_method: expected cagr or linear, got {other:?}"));
                false
            }
        },
        approx_tolerance_points: raw_assessment.approx_tolerance_points.unwrap_or(0.5),
        approx_tolerance_percent: raw_assessment.approx_tolerance_percent.unwrap_or(1.0),
    };
    if !(assessment.moderate >= 0.0 && assessment.moderate < assessment.on_track) {
        problems.push(format!(
            "assessment: `moderate` ({}) must be at least 0 and below `on_track` ({})",
            assessment.moderate, assessment.on_track
        ));
    }
    if assessment.approx_tolerance_points < 0.0 || assessment.approx_tolerance_percent < 0.0 {
        problems.push("assessment: tolerances must not be negative".to_string());
    }

    let catalogue = match (catalogue, raw.catalogue.standards.as_deref().map(resolve)) {
        (Ok(mut catalogue), Some(path)) => {
            let text = read_catalogue_file(&path, &mut problems, "standards");
            match catalogue.load_standards(SourceText { path: &path.display().to_string(), text: &text }) {
                Ok(()) => Ok(catalogue),
                Err(standard_problems) => Err(standard_problems),
            }
        }
        (catalogue, _) => catalogue,
    };
    let catalogue = match catalogue {
        Ok(catalogue) => catalogue,
        Err(catalogue_problems) => {
            problems.extend(catalogue_problems.0.iter().map(ToString::to_string));
            Catalogue::default()
        }
    };
    if !problems.is_empty() {
        return Err(ConfigError::Invalid { path: path.display().to_string(), problems });
    }
    Ok(Config {
        path: path.to_path_buf(),
        time_zone,
        language,
        catalogue,
        catalogue_files,
        sources,
        output,
        report,
        delivery: Delivery {
            from: raw.delivery.from,
            transport,
            report_base_url: raw.delivery.report_base_url,
            max_attachment_bytes: (raw.delivery.max_attachment_mb.unwrap_or(10.0).max(0.0) * 1_000_000.0) as usize,
            retries: raw.delivery.retries.unwrap_or(3),
            retry_backoff: std::time::Duration::from_millis(raw.delivery.retry_backoff_ms.unwrap_or(1000)),
        },
        recipients,
        jobs,
        assessment,
    })
}
