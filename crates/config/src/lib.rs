//! The townpulse configuration: `config/townpulse.toml` and the catalogue files it names.
//!
//! Parsing (serde, unknown keys refused) is followed by validation into [`Config`], which
//! reports every problem at once, each by the key it concerns. Relative paths are resolved
//! against the folder of the configuration file. This crate reads only configuration files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use contract::{Catalogue, Problems, SourceText};
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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "snake_case")]
enum RawSource {
    /// A CSV file in the observations contract (`entity,indicator,period,value`, optional `unit,source,vintage,note`).
    Csv {
        name: String,
        path: PathBuf,
        /// `utf-8` (default, a BOM is allowed) or `gbk` / `gb18030`.
        #[serde(default)]
        encoding: Option<String>,
        /// The share of bad rows above which the whole source fails (default 0.5).
        #[serde(default)]
        max_bad_row_share: Option<f64>,
    },
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    warehouse_dir: Option<PathBuf>,
    report_dir: Option<PathBuf>,
    outbox_dir: Option<PathBuf>,
    ledger: Option<PathBuf>,
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
    Csv { path: PathBuf, encoding: Encoding },
}

#[derive(Debug, Clone)]
pub struct Output {
    pub warehouse_dir: PathBuf,
    pub report_dir: PathBuf,
    pub outbox_dir: PathBuf,
    pub ledger: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Delivery {
    pub from: String,
    pub transport: Transport,
    pub report_base_url: Option<String>,
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
        recipient.follows.iter().flat_map(|code| self.catalogue.covered_by(code)).collect()
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
        match source {
            RawSource::Csv { name, path: source_path, encoding, max_bad_row_share } => {
                let label = format!("sources[{index}] {name:?} (csv)");
                if name.trim().is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                    problems.push(format!("{label}: `name` must be letters, digits, `_` or `-`, got {name:?}"));
                }
                if !names.insert(name.clone()) {
                    problems.push(format!("{label}: `name` is used by another source"));
                }
                let encoding = match encoding.as_deref().unwrap_or("utf-8").to_ascii_lowercase().as_str() {
                    "utf-8" | "utf8" => Encoding::Utf8,
                    "gbk" | "gb2312" | "gb18030" => Encoding::Gb18030,
                    other => {
                        problems.push(format!("{label}: `encoding` must be utf-8, gbk or gb18030, got {other:?}"));
                        Encoding::Utf8
                    }
                };
                let share = max_bad_row_share.unwrap_or(0.5);
                if !(0.0..=1.0).contains(&share) {
                    problems.push(format!("{label}: `max_bad_row_share` must be between 0 and 1, got {share}"));
                }
                let resolved = resolve(&source_path);
                if !resolved.is_file() {
                    problems.push(format!("{label}: `path` {} does not exist", resolved.display()));
                }
                sources.push(Source { name, kind: SourceKind::Csv { path: resolved, encoding }, max_bad_row_share: share });
            }
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
    let entities_text = read_catalogue_file(&catalogue_files[0], &mut problems, "entities");
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
        delivery: Delivery {
            from: raw.delivery.from,
            transport,
            report_base_url: raw.delivery.report_base_url,
            retries: raw.delivery.retries.unwrap_or(3),
            retry_backoff: std::time::Duration::from_millis(raw.delivery.retry_backoff_ms.unwrap_or(1000)),
        },
        recipients,
        jobs,
        assessment,
    })
}
