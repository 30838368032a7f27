//! Standards (达标 checklists): named sets of conditions combined with all/any.
//!
//! `standards.csv`: `standard,name,combine,applies_to,clause,indicator,comparator,threshold`, optional `source`.
//! `combine` is `all` or `any`; conditions that share a `clause` number are joined by the other
//! operator, so "built-up area ≥ 8 and (户籍 ≥ 6万 or 常住 ≥ 10万)" is `all` with the two
//! population conditions in one clause. A group in `applies_to` means each of its members.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::catalogue::{Catalogue, Comparator, Level};
use crate::error::Problems;
use crate::table::read_table;
use crate::SourceText;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    /// Every clause must hold; within a clause, any condition.
    All,
    /// Any clause may hold; within a clause, every condition.
    Any,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Condition {
    pub clause: u32,
    pub indicator: String,
    pub comparator: Comparator,
    pub threshold: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Standard {
    pub code: String,
    pub name: String,
    pub combine: Combine,
    pub applies_to: String,
    pub conditions: Vec<Condition>,
    pub source: Option<String>,
}

impl Standard {
    /// The entities the standard is checked for: the members of a group, else the entity itself.
    pub fn entities(&self, catalogue: &Catalogue) -> Vec<String> {
        match catalogue.entities.get(&self.applies_to) {
            Some(entity) if entity.level == Level::Group => entity.members.clone(),
            _ => vec![self.applies_to.clone()],
        }
    }
}

impl Catalogue {
    /// Adds the standards of `source`, checked against the entities and indicators; every problem at once.
    pub fn load_standards(&mut self, source: SourceText<'_>) -> Result<(), Problems> {
        let mut problems = Problems::default();
        let required = ["standard", "name", "combine", "applies_to", "clause", "indicator", "comparator", "threshold"];
        let rows = read_table(source.path, source.text, &required, &mut problems);
        let mut standards: BTreeMap<String, Standard> = BTreeMap::new();
        for row in &rows {
            let before = problems.len();
            let code = row.required("standard", &mut problems);
            let name = row.required("name", &mut problems);
            let combine = row.parse_required("combine", "all or any", &mut problems, |c| match c {
                "all" => Some(Combine::All),
                "any" => Some(Combine::Any),
                _ => None,
            });
            let applies_to = row.required("applies_to", &mut problems);
            if let Some(entity) = applies_to
                && !self.entities.contains_key(entity)
            {
                problems.push(row.problem("applies_to", format!("unknown entity {entity:?}: it is not in the entities file")));
            }
            let clause = row.parse_required("clause", "a whole number", &mut problems, |c| c.parse::<u32>().ok());
            let indicator = row.required("indicator", &mut problems);
            if let Some(code) = indicator
                && !self.indicators.contains_key(code)
            {
                problems.push(row.problem("indicator", format!("unknown indicator {code:?}: it is not in the indicator catalogue")));
            }
            let comparator = row.parse_required("comparator", ">= or <=", &mut problems, |c| match c {
                ">=" | "≥" => Some(Comparator::AtLeast),
                "<=" | "≤" => Some(Comparator::AtMost),
                _ => None,
            });
            let threshold = row.parse_required("threshold", "a number", &mut problems, |t| t.parse::<f64>().ok().filter(|t| t.is_finite()));
            if problems.len() > before {
                continue;
            }
            let (Some(code), Some(name), Some(combine), Some(applies_to), Some(clause), Some(indicator), Some(comparator), Some(threshold)) =
                (code, name, combine, applies_to, clause, indicator, comparator, threshold)
            else {
                continue;
            };
            let standard = standards.entry(code.to_string()).or_insert_with(|| Standard {
                code: code.to_string(),
                name: name.to_string(),
                combine,
                applies_to: applies_to.to_string(),
                conditions: Vec::new(),
                source: row.get("source").map(str::to_string),
            });
            if standard.combine != combine || standard.applies_to != applies_to {
                problems.push(row.problem(
                    "combine",
                    format!("standard {code:?} must have one `combine` and one `applies_to` on every row, as on its first row"),
                ));
                continue;
            }
            standard.conditions.push(Condition { clause, indicator: indicator.to_string(), comparator, threshold });
        }
        self.standards = standards.into_values().collect();
        problems.into_result(())
    }
}
