//! The report's frames indexed by entity once, so that a view of a few entities (one
//! recipient's, or the full report cut at a level) reads only their rows.

use std::collections::{BTreeSet, HashMap};

use polars::prelude::*;

use crate::ReportError;
use crate::view::ReportInput;

/// One frame with the positions of each entity's rows, in the frame's order.
struct Rows {
    frame: DataFrame,
    rows: HashMap<String, Vec<IdxSize>>,
}

impl Rows {
    fn new(frame: &DataFrame, name: &'static str) -> Result<Rows, ReportError> {
        let entities = frame.column("entity").and_then(|c| c.str().cloned()).map_err(ReportError::frame(name))?;
        let mut rows: HashMap<String, Vec<IdxSize>> = HashMap::new();
        for (i, entity) in entities.iter().enumerate() {
            let Some(entity) = entity else { continue };
            match rows.get_mut(entity) {
                Some(positions) => positions.push(i as IdxSize),
                None => {
                    rows.insert(entity.to_string(), vec![i as IdxSize]);
                }
            }
        }
        Ok(Rows { frame: frame.clone(), rows })
    }

    /// The rows of `entities`, in the frame's own order: one gather, whatever the frame's size.
    /// Column by column on the calling thread: summaries are composed in parallel already, and
    /// Polars' parallel gather would hand each of these small gathers to its own thread pool and
    /// wait for it.
    fn rows_of(&self, entities: &BTreeSet<String>, name: &'static str) -> Result<DataFrame, ReportError> {
        let mut positions: Vec<IdxSize> = entities.iter().filter_map(|e| self.rows.get(e)).flatten().copied().collect();
        positions.sort_unstable();
        let columns = self.frame.columns().iter().map(|column| column.take_slice(&positions)).collect::<PolarsResult<Vec<_>>>();
        columns.and_then(|columns| DataFrame::new(positions.len(), columns)).map_err(ReportError::frame(name))
    }
}

/// The series, latest values, targets and standards of a report, indexed by entity.
pub struct ByEntity {
    series: Rows,
    latest: Rows,
    targets: Rows,
    standards: Rows,
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
            series: Rows::new(input.series, "series")?,
            latest: Rows::new(input.latest, "latest")?,
            targets: Rows::new(input.targets, "targets")?,
            standards: Rows::new(input.standards, "standards")?,
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
