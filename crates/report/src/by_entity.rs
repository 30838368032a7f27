//! The report's frames indexed by entity once, so that a view of a few entities (one
//! recipient's, or the full report cut at a level) reads only their rows.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

use polars::prelude::*;

use crate::ReportError;
use crate::view::ReportInput;

/// Position in the frame before it was sorted by entity: views keep the frames' own order.
const ORDER: &str = "_order";

/// One frame sorted by entity, with each entity's run of rows.
struct Runs {
    frame: DataFrame,
    runs: HashMap<String, Range<usize>>,
}

impl Runs {
    fn new(frame: &DataFrame, name: &'static str) -> Result<Runs, ReportError> {
        let sorted = frame
            .clone()
            .lazy()
            .with_row_index(ORDER, None)
            .sort(["entity"], SortMultipleOptions::default().with_maintain_order(true))
            .collect()
            .map_err(ReportError::frame(name))?;
        let entities = sorted.column("entity").and_then(|c| c.str().cloned()).map_err(ReportError::frame(name))?;
        let mut runs: HashMap<String, Range<usize>> = HashMap::new();
        for (i, entity) in entities.iter().enumerate() {
            let Some(entity) = entity else { continue };
            runs.entry(entity.to_string()).and_modify(|run| run.end = i + 1).or_insert(i..i + 1);
        }
        Ok(Runs { frame: sorted, runs })
    }

    /// The rows of `entities`, in the frame's own order.
    fn rows_of(&self, entities: &BTreeSet<String>, name: &'static str) -> Result<DataFrame, ReportError> {
        let mut picked = self.frame.clear();
        for run in entities.iter().filter_map(|e| self.runs.get(e)) {
            picked.vstack_mut(&self.frame.slice(run.start as i64, run.len())).map_err(ReportError::frame(name))?;
        }
        picked.sort_in_place([ORDER], SortMultipleOptions::default()).map_err(ReportError::frame(name))?;
        picked.drop(ORDER).map_err(ReportError::frame(name))
    }
}

/// The series, latest values, targets and standards of a report, indexed by entity.
pub struct ByEntity {
    series: Runs,
    latest: Runs,
    targets: Runs,
    standards: Runs,
}

/// The frames of a view of some entities, owned; [`Frames::input`] lends them as a [`ReportInput`].
pub struct Frames {
    series: DataFrame,
    latest: DataFrame,
    targets: DataFrame,
    standards: DataFrame,
}

impl ByEntity {
    pub fn new(input: &ReportInput<'_>) -> Result<ByEntity, ReportError> {
        Ok(ByEntity {
            series: Runs::new(input.series, "series")?,
            latest: Runs::new(input.latest, "latest")?,
            targets: Runs::new(input.targets, "targets")?,
            standards: Runs::new(input.standards, "standards")?,
        })
    }

    /// The rows of `entities` in each frame.
    pub fn frames_of(&self, entities: &BTreeSet<String>) -> Result<Frames, ReportError> {
        Ok(Frames {
            series: self.series.rows_of(entities, "series")?,
            latest: self.latest.rows_of(entities, "latest")?,
            targets: self.targets.rows_of(entities, "targets")?,
            standards: self.standards.rows_of(entities, "standards")?,
        })
    }
}

impl Frames {
    /// `whole` with its frames replaced by these.
    pub fn input<'a>(&'a self, whole: &ReportInput<'a>) -> ReportInput<'a> {
        ReportInput { series: &self.series, latest: &self.latest, targets: &self.targets, standards: &self.standards, ..*whole }
    }
}
