//! The checked catalogue: entities, indicators and targets, cross-validated.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::error::{FieldError, Problems};
use crate::period::Period;

/// What a period looks like, for messages.
const PERIOD_FORMS: &str = "a period like 2025, 2025Q3 or 2025-09";
use crate::table::{Row, read_table};

/// The level of an entity in the administrative hierarchy, or a pilot or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Nation,
    Province,
    Prefecture,
    County,
    Town,
    Pilot,
    Group,
}

impl Level {
    /// The level named as in the entities file (`nation`, `province`, …, `group`).
    pub fn parse(text: &str) -> Option<Level> {
        Some(match text {
            "nation" => Level::Nation,
            "province" => Level::Province,
            "prefecture" => Level::Prefecture,
            "county" => Level::County,
            "town" => Level::Town,
            "pilot" => Level::Pilot,
            "group" => Level::Group,
            _ => return None,
        })
    }

    /// Depth in the administrative hierarchy (the nation is 0, a town 4; a pilot sits with
    /// towns); a configured group has none.
    pub fn depth(self) -> Option<u8> {
        match self {
            Level::Nation => Some(0),
            Level::Province => Some(1),
            Level::Prefecture => Some(2),
            Level::County => Some(3),
            Level::Town | Level::Pilot => Some(4),
            Level::Group => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entity {
    pub code: String,
    pub name: String,
    pub level: Level,
    pub parent: Option<String>,
    /// Member codes, for groups.
    pub members: Vec<String>,
}

/// What an indicator measures, which decides how it changes (percent or points).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorKind {
    Level,
    Flow,
    Rate,
    Ratio,
}

impl IndicatorKind {
    /// Rates and ratios change in points; levels and flows in percent.
    pub fn changes_in_points(self) -> bool {
        matches!(self, IndicatorKind::Rate | IndicatorKind::Ratio)
    }

    pub fn code(self) -> &'static str {
        match self {
            IndicatorKind::Level => "level",
            IndicatorKind::Flow => "flow",
            IndicatorKind::Rate => "rate",
            IndicatorKind::Ratio => "ratio",
        }
    }
}

/// How a monthly flow is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Accumulation {
    /// The value of the month itself.
    Period,
    /// The year-to-date total.
    Ytd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Up,
    Down,
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Indicator {
    pub code: String,
    pub name: String,
    pub name_en: Option<String>,
    pub unit: String,
    pub kind: IndicatorKind,
    pub accumulation: Option<Accumulation>,
    pub direction: Direction,
    pub decimals: u8,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub synonyms: Vec<String>,
    /// Derived as numerator / denominator (×100 when the unit is `%`) wherever the data give both
    /// and not the indicator itself: `ratio = pop_urban/pop_resident` is the urbanization rate.
    pub ratio: Option<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Comparator {
    #[serde(rename = ">=")]
    AtLeast,
    #[serde(rename = "<=")]
    AtMost,
    #[serde(rename = "≈")]
    About,
}

impl Comparator {
    pub fn symbol(self) -> &'static str {
        match self {
            Comparator::AtLeast => ">=",
            Comparator::AtMost => "<=",
            Comparator::About => "≈",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// Reach a value by the deadline.
    Level,
    /// Grow at least at a compound annual rate (the target is the floor, in percent).
    Growth,
    /// Grow faster than the parent (the target is an optional margin in points).
    Relative,
    /// An annual plan for a year-to-date flow.
    Plan,
}

impl TargetKind {
    pub fn code(self) -> &'static str {
        match self {
            TargetKind::Level => "level",
            TargetKind::Growth => "growth",
            TargetKind::Relative => "relative",
            TargetKind::Plan => "plan",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    pub entity: String,
    pub indicator: String,
    pub comparator: Comparator,
    /// Empty only for a `relative` target without a margin.
    pub target: Option<f64>,
    pub deadline: Period,
    pub kind: TargetKind,
    pub base_period: Option<Period>,
    pub tolerance: Option<f64>,
    /// The document and line the target came from.
    pub source: Option<String>,
    /// The words of the document, where given.
    pub note: Option<String>,
    /// Where the target is defined in the targets file.
    pub defined_at: String,
}

/// Entities, indicators and targets, each reference checked against the others.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub entities: BTreeMap<String, Entity>,
    pub indicators: BTreeMap<String, Indicator>,
    pub targets: Vec<Target>,
    pub standards: Vec<crate::standards::Standard>,
}

/// The text of one catalogue file and the path to name in messages.
pub struct SourceText<'a> {
    pub path: &'a str,
    pub text: &'a str,
}

impl Catalogue {
    /// Parses and cross-checks the three catalogue files, reporting every problem at once.
    pub fn load(entities: SourceText<'_>, indicators: SourceText<'_>, targets: SourceText<'_>) -> Result<Catalogue, Problems> {
        let mut problems = Problems::default();
        let entities = parse_entities(entities, &mut problems);
        let indicators = parse_indicators(indicators, &mut problems);
        let targets = parse_targets(targets, &entities, &indicators, &mut problems);
        problems.into_result(Catalogue { entities, indicators, targets, standards: Vec::new() })
    }

    /// The entity codes that `code` stands for: itself, every descendant and every group member's descendants.
    pub fn covered_by(&self, code: &str) -> HashSet<String> {
        self.tree().covered_by(code)
    }

    /// Each entity's children, indexed once for many [`Tree::covered_by`] questions.
    pub fn tree(&self) -> Tree<'_> {
        let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for entity in self.entities.values() {
            if let Some(parent) = &entity.parent {
                children.entry(parent.as_str()).or_default().push(entity.code.as_str());
            }
        }
        Tree { catalogue: self, children }
    }
}

/// The catalogue's entities with their children indexed.
pub struct Tree<'a> {
    catalogue: &'a Catalogue,
    children: BTreeMap<&'a str, Vec<&'a str>>,
}

impl Tree<'_> {
    /// See [`Catalogue::covered_by`].
    pub fn covered_by(&self, code: &str) -> HashSet<String> {
        let mut covered = HashSet::new();
        let mut stack = vec![code.to_string()];
        while let Some(current) = stack.pop() {
            if !covered.insert(current.clone()) {
                continue;
            }
            if let Some(entity) = self.catalogue.entities.get(&current) {
                stack.extend(entity.members.iter().cloned());
            }
            if let Some(kids) = self.children.get(current.as_str()) {
                stack.extend(kids.iter().map(|k| k.to_string()));
            }
        }
        covered
    }
}

fn unique_key(seen: &mut BTreeMap<String, u64>, key: String, row: &Row<'_>, field: &str, problems: &mut Problems) -> bool {
    if let Some(first) = seen.get(&key) {
        problems.push(row.problem(field, format!("duplicated key {key:?}, first defined on line {first}")));
        return false;
    }
    seen.insert(key, row.line);
    true
}

fn parse_entities(source: SourceText<'_>, problems: &mut Problems) -> BTreeMap<String, Entity> {
    let rows = read_table(source.path, source.text, &["code", "name", "level"], problems);
    let mut entities = BTreeMap::new();
    let mut lines = BTreeMap::new();
    let mut seen = BTreeMap::new();
    for row in &rows {
        let (Some(code), Some(name)) = (row.required("code", problems), row.required("name", problems)) else { continue };
        let levels = "one of nation, province, prefecture, county, town, pilot, group";
        let Some(level) = row.parse_required("level", levels, problems, Level::parse) else { continue };
        if !unique_key(&mut seen, code.to_string(), row, "code", problems) {
            continue;
        }
        let members: Vec<String> =
            row.get("members").map(|m| m.split(';').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()).unwrap_or_default();
        if !members.is_empty() && level != Level::Group {
            problems.push(row.problem("members", format!("only a group has members, but {code:?} is not a group")));
        }
        lines.insert(code.to_string(), row.line);
        entities.insert(
            code.to_string(),
            Entity { code: code.to_string(), name: name.to_string(), level, parent: row.get("parent").map(str::to_string), members },
        );
    }
    for entity in entities.values() {
        let line = lines[&entity.code];
        if let Some(parent) = &entity.parent
            && !entities.contains_key(parent)
        {
            problems.push(FieldError::new(source.path, line, "parent", format!("unknown entity {parent:?}")));
        }
        for member in &entity.members {
            if !entities.contains_key(member) {
                problems.push(FieldError::new(
                    source.path,
                    line,
                    "members",
                    format!("group {:?} lists unknown member {member:?}", entity.code),
                ));
            }
        }
    }
    entities
}

fn parse_number(text: &str) -> Option<f64> {
    text.replace(',', "").parse::<f64>().ok().filter(|v| v.is_finite())
}

fn parse_indicators(source: SourceText<'_>, problems: &mut Problems) -> BTreeMap<String, Indicator> {
    let required = ["code", "name", "unit", "kind", "accumulation", "direction", "decimals"];
    let rows = read_table(source.path, source.text, &required, problems);
    let mut indicators = BTreeMap::new();
    let mut ratios: Vec<(u64, String, String, String)> = Vec::new();
    let mut seen = BTreeMap::new();
    for row in &rows {
        let before = problems.len();
        let code = row.required("code", problems);
        let name = row.required("name", problems);
        let kind = row.parse_required("kind", "level, flow, rate or ratio", problems, |k| match k {
            "level" => Some(IndicatorKind::Level),
            "flow" => Some(IndicatorKind::Flow),
            "rate" => Some(IndicatorKind::Rate),
            "ratio" => Some(IndicatorKind::Ratio),
            _ => None,
        });
        let accumulation = row.parse_optional("accumulation", "period, ytd or empty", problems, |a| match a {
            "period" => Some(Accumulation::Period),
            "ytd" => Some(Accumulation::Ytd),
            _ => None,
        });
        let direction = row.parse_required("direction", "up, down or none", problems, |d| match d {
            "up" => Some(Direction::Up),
            "down" => Some(Direction::Down),
            "none" => Some(Direction::None),
            _ => None,
        });
        let decimals =
            row.parse_required("decimals", "a whole number from 0 to 6", problems, |d| d.parse::<u8>().ok().filter(|d| *d <= 6));
        let min = row.parse_optional("min", "a number", problems, parse_number);
        let max = row.parse_optional("max", "a number", problems, parse_number);
        if accumulation.is_some() && kind.is_some_and(|k| k != IndicatorKind::Flow) {
            problems.push(row.problem("accumulation", "only a flow has an accumulation (period or ytd)"));
        }
        if problems.len() > before {
            continue;
        }
        let (Some(code), Some(name), Some(kind), Some(direction), Some(decimals)) = (code, name, kind, direction, decimals) else {
            continue;
        };
        if !unique_key(&mut seen, code.to_string(), row, "code", problems) {
            continue;
        }
        // A rate lies in 0–100 and a level (a population, an area) is not negative, unless the
        // catalogue says otherwise; flows (a profit, a balance) may be either.
        let (min, max) = match kind {
            IndicatorKind::Rate => (min.or(Some(0.0)), max.or(Some(100.0))),
            IndicatorKind::Level => (min.or(Some(0.0)), max),
            _ => (min, max),
        };
        let synonyms = row.get("synonyms").map(|s| s.split(';').map(|s| s.trim().to_string()).collect()).unwrap_or_default();
        let ratio = match row.get("ratio") {
            None => None,
            Some(text) => match text.split_once('/') {
                Some((numerator, denominator)) if !numerator.trim().is_empty() && !denominator.trim().is_empty() => {
                    ratios.push((row.line, code.to_string(), numerator.trim().to_string(), denominator.trim().to_string()));
                    Some((numerator.trim().to_string(), denominator.trim().to_string()))
                }
                _ => {
                    problems.push(row.problem("ratio", format!("expected numerator/denominator indicator codes like pop_urban/pop_resident, got {text:?}")));
                    continue;
                }
            },
        };
        indicators.insert(
            code.to_string(),
            Indicator {
                code: code.to_string(),
                name: name.to_string(),
                name_en: row.get("name_en").map(str::to_string),
                unit: row.get("unit").unwrap_or("").to_string(),
                kind,
                accumulation,
                direction,
                decimals,
                min,
                max,
                synonyms,
                ratio,
            },
        );
    }
    for (line, code, numerator, denominator) in ratios {
        for part in [&numerator, &denominator] {
            if !indicators.contains_key(part) || *part == code {
                problems.push(crate::FieldError::new(
                    source.path,
                    line,
                    "ratio",
                    format!("{code} = {numerator}/{denominator}: {part:?} is not another indicator of the catalogue"),
                ));
            }
        }
    }
    indicators
}

fn parse_targets(
    source: SourceText<'_>,
    entities: &BTreeMap<String, Entity>,
    indicators: &BTreeMap<String, Indicator>,
    problems: &mut Problems,
) -> Vec<Target> {
    let rows = read_table(source.path, source.text, &["entity", "indicator", "comparator", "target", "deadline"], problems);
    let mut targets = Vec::new();
    let mut seen = BTreeMap::new();
    for row in &rows {
        let before = problems.len();
        let entity = row.required("entity", problems);
        if let Some(code) = entity
            && !entities.contains_key(code)
        {
            problems.push(row.problem("entity", format!("unknown entity {code:?}: it is not in the entities file")));
        }
        let indicator = row.required("indicator", problems);
        if let Some(code) = indicator
            && !indicators.contains_key(code)
        {
            problems.push(row.problem("indicator", format!("unknown indicator {code:?}: it is not in the indicator catalogue")));
        }
        let comparator = row.parse_required("comparator", ">=, <= or ≈", problems, |c| match c {
            ">=" | "≥" => Some(Comparator::AtLeast),
            "<=" | "≤" => Some(Comparator::AtMost),
            "≈" | "~" => Some(Comparator::About),
            _ => None,
        });
        let kind = row
            .parse_optional("kind", "level, growth, relative or plan", problems, |k| match k {
                "level" => Some(TargetKind::Level),
                "growth" => Some(TargetKind::Growth),
                "relative" => Some(TargetKind::Relative),
                "plan" => Some(TargetKind::Plan),
                _ => None,
            })
            .unwrap_or(TargetKind::Level);
        let target = row.parse_optional("target", "a number", problems, parse_number);
        if target.is_none() && kind != TargetKind::Relative && row.get("target").is_none() {
            problems.push(row.problem("target", "is required but empty (only a relative target may leave it empty)"));
        }
        let deadline = row.parse_required("deadline", PERIOD_FORMS, problems, |d| d.parse::<Period>().ok());
        let base_period = row.parse_optional("base_period", PERIOD_FORMS, problems, |p| p.parse().ok());
        if let (Some(base), Some(deadline)) = (base_period, deadline)
            && base >= deadline
        {
            problems.push(row.problem("base_period", format!("base period {base} is not before the deadline {deadline}")));
        }
        let tolerance = row.parse_optional("tolerance", "a non-negative number", problems, |t| parse_number(t).filter(|t| *t >= 0.0));
        if kind == TargetKind::Plan
            && let Some(code) = indicator
            && indicators.get(code).is_some_and(|i| i.kind != IndicatorKind::Flow)
        {
            problems.push(row.problem("kind", format!("a plan target needs a flow indicator, but {code:?} is not a flow")));
        }
        if problems.len() > before {
            continue;
        }
        let (Some(entity), Some(indicator), Some(comparator), Some(deadline)) = (entity, indicator, comparator, deadline) else {
            continue;
        };
        let key = format!("{entity},{indicator},{deadline},{}", kind.code());
        if !unique_key(&mut seen, key, row, "entity", problems) {
            continue;
        }
        targets.push(Target {
            entity: entity.to_string(),
            indicator: indicator.to_string(),
            comparator,
            target,
            deadline,
            kind,
            base_period,
            tolerance,
            source: row.get("source").map(str::to_string),
            note: row.get("note").map(str::to_string),
            defined_at: format!("{}:{}", row.path, row.line),
        });
    }
    targets
}
