//! The catalogue as small frames to join against.

use contract::{Accumulation, Catalogue, Comparator, Direction, Period};
use polars::prelude::*;

/// One row per indicator: `indicator, kind, basis, accumulation, direction, decimals`.
pub fn indicator_frame(catalogue: &Catalogue) -> PolarsResult<DataFrame> {
    let indicators: Vec<_> = catalogue.indicators.values().collect();
    df![
        "indicator" => indicators.iter().map(|i| i.code.as_str()).collect::<Vec<_>>(),
        "kind" => indicators.iter().map(|i| i.kind.code()).collect::<Vec<_>>(),
        "basis" => indicators.iter().map(|i| if i.kind.changes_in_points() { "points" } else { "percent" }).collect::<Vec<_>>(),
        "accumulation" => indicators.iter().map(|i| match i.accumulation {
            Some(Accumulation::Ytd) => "ytd",
            Some(Accumulation::Period) => "period",
            None => "",
        }).collect::<Vec<_>>(),
        "direction" => indicators.iter().map(|i| match i.direction {
            Direction::Up => "up",
            Direction::Down => "down",
            Direction::None => "none",
        }).collect::<Vec<_>>(),
        "decimals" => indicators.iter().map(|i| i32::from(i.decimals)).collect::<Vec<_>>(),
    ]
}

/// One row per target, in catalogue order, with the deadline's month index and year.
pub fn target_frame(catalogue: &Catalogue) -> PolarsResult<DataFrame> {
    let targets = &catalogue.targets;
    let period_text = |p: Option<Period>| p.map(|p| p.to_string());
    df![
        "target_id" => (0..targets.len() as u32).collect::<Vec<_>>(),
        "entity" => targets.iter().map(|t| t.entity.as_str()).collect::<Vec<_>>(),
        "parent" => targets.iter().map(|t| catalogue.entities.get(&t.entity).and_then(|e| e.parent.clone())).collect::<Vec<_>>(),
        "indicator" => targets.iter().map(|t| t.indicator.as_str()).collect::<Vec<_>>(),
        "kind" => targets.iter().map(|t| t.kind.code()).collect::<Vec<_>>(),
        "comparator" => targets.iter().map(|t| match t.comparator {
            Comparator::AtLeast => ">=",
            Comparator::AtMost => "<=",
            Comparator::About => "≈",
        }).collect::<Vec<_>>(),
        "target" => targets.iter().map(|t| t.target).collect::<Vec<_>>(),
        "deadline" => targets.iter().map(|t| t.deadline.to_string()).collect::<Vec<_>>(),
        "deadline_end_month" => targets.iter().map(|t| t.deadline.end_month_index()).collect::<Vec<_>>(),
        "deadline_year" => targets.iter().map(|t| t.deadline.year()).collect::<Vec<_>>(),
        "target_base_period" => targets.iter().map(|t| period_text(t.base_period)).collect::<Vec<_>>(),
        "tolerance" => targets.iter().map(|t| t.tolerance).collect::<Vec<_>>(),
        "target_source" => targets.iter().map(|t| t.source.clone()).collect::<Vec<_>>(),
        "target_note" => targets.iter().map(|t| t.note.clone()).collect::<Vec<_>>(),
    ]
}

/// Group memberships: `group, member`, and each group's member count.
pub(crate) fn membership_frame(catalogue: &Catalogue) -> PolarsResult<DataFrame> {
    let pairs: Vec<(&str, &str, u32)> = catalogue
        .entities
        .values()
        .flat_map(|e| e.members.iter().map(move |m| (e.code.as_str(), m.as_str(), e.members.len() as u32)))
        .collect();
    df![
        "group" => pairs.iter().map(|p| p.0).collect::<Vec<_>>(),
        "member" => pairs.iter().map(|p| p.1).collect::<Vec<_>>(),
        "n_members" => pairs.iter().map(|p| p.2).collect::<Vec<_>>(),
    ]
}
