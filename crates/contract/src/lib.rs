//! The townpulse data contract as checked types: periods, entities, indicators and targets.
//!
//! Everything here is pure (loaders take the text of a file and the path to name in messages),
//! except [`atomic`], the one shared way to replace a file.

pub mod atomic;
mod catalogue;
mod error;
mod period;
mod standards;
mod table;

pub use catalogue::{
    Accumulation, Catalogue, Comparator, Direction, Entity, Indicator, IndicatorKind, Level, SourceText, Target, TargetKind, Tree,
};
pub use error::{FieldError, Problems};
pub use period::{Frequency, Period, PeriodParseError};
pub use standards::{Combine, Condition, Standard};
pub use table::{Row, read_table, strip_bom};

/// Column names of the canonical long frame of observations.
pub mod columns {
    pub const ENTITY: &str = "entity";
    pub const INDICATOR: &str = "indicator";
    pub const PERIOD: &str = "period";
    pub const VALUE: &str = "value";
    /// `M`, `Q` or `Y`.
    pub const FREQ: &str = "freq";
    pub const YEAR: &str = "year";
    /// Quarter or month number; 0 for a year.
    pub const SUB: &str = "sub";
    /// Running index of the month the period ends in.
    pub const END_MONTH: &str = "end_month";
    pub const SOURCE: &str = "source";
    pub const VINTAGE: &str = "vintage";
    pub const NOTE: &str = "note";
}
