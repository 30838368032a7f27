//! Reporting periods: a year (`2025`), a quarter (`2025Q3`) or a month (`2025-09`).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// How often a series is observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Frequency {
    Month,
    Quarter,
    Year,
}

impl Frequency {
    /// Every frequency, least to most recent within one end month (a yearly figure after a
    /// quarterly and a quarterly after a monthly one), as they order.
    pub const ALL: [Frequency; 3] = [Frequency::Month, Frequency::Quarter, Frequency::Year];

    /// The frequency of a one-letter code ([`Frequency::code`]).
    pub fn from_code(code: &str) -> Option<Frequency> {
        Frequency::ALL.into_iter().find(|f| f.code() == code)
    }

    /// The one-letter code stored in frames: `M`, `Q` or `Y`.
    pub fn code(self) -> &'static str {
        match self {
            Frequency::Month => "M",
            Frequency::Quarter => "Q",
            Frequency::Year => "Y",
        }
    }

    /// Sub-periods in one year: 12, 4 or 1.
    pub fn per_year(self) -> i32 {
        match self {
            Frequency::Month => 12,
            Frequency::Quarter => 4,
            Frequency::Year => 1,
        }
    }
}

/// A period of the data contract.
///
/// Periods order by the month they end in; at the same end month a month sorts before its
/// quarter and a quarter before its year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    Year(i32),
    Quarter(i32, u8),
    Month(i32, u8),
}

/// Why a period string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a period like 2025, 2025Q3 or 2025-09, got {got:?}")]
pub struct PeriodParseError {
    pub got: String,
}

impl Period {
    pub fn year(self) -> i32 {
        match self {
            Period::Year(y) | Period::Quarter(y, _) | Period::Month(y, _) => y,
        }
    }

    /// The quarter or month number, or 0 for a year.
    pub fn sub(self) -> i32 {
        match self {
            Period::Year(_) => 0,
            Period::Quarter(_, q) => i32::from(q),
            Period::Month(_, m) => i32::from(m),
        }
    }

    pub fn frequency(self) -> Frequency {
        match self {
            Period::Year(_) => Frequency::Year,
            Period::Quarter(..) => Frequency::Quarter,
            Period::Month(..) => Frequency::Month,
        }
    }

    /// Months of its year that have elapsed at the end of this period (序时进度 numerator).
    pub fn months_elapsed_in_year(self) -> i32 {
        match self {
            Period::Year(_) => 12,
            Period::Quarter(_, q) => 3 * i32::from(q),
            Period::Month(_, m) => i32::from(m),
        }
    }

    /// A running index of the month this period ends in (`year * 12 + month - 1`).
    pub fn end_month_index(self) -> i32 {
        self.year() * 12 + self.months_elapsed_in_year() - 1
    }

    /// The time in years from `self` to `later`, months counting as twelfths.
    pub fn years_until(self, later: Period) -> f64 {
        f64::from(later.end_month_index() - self.end_month_index()) / 12.0
    }

    /// The same period one year earlier.
    pub fn same_period_last_year(self) -> Period {
        match self {
            Period::Year(y) => Period::Year(y - 1),
            Period::Quarter(y, q) => Period::Quarter(y - 1, q),
            Period::Month(y, m) => Period::Month(y - 1, m),
        }
    }

    /// The period just before this one, at the same frequency.
    pub fn previous(self) -> Period {
        match self {
            Period::Year(y) => Period::Year(y - 1),
            Period::Quarter(y, 1) => Period::Quarter(y - 1, 4),
            Period::Quarter(y, q) => Period::Quarter(y, q - 1),
            Period::Month(y, 1) => Period::Month(y - 1, 12),
            Period::Month(y, m) => Period::Month(y, m - 1),
        }
    }

    /// The period just after this one, at the same frequency.
    pub fn next(self) -> Period {
        match self {
            Period::Year(y) => Period::Year(y + 1),
            Period::Quarter(y, 4) => Period::Quarter(y + 1, 1),
            Period::Quarter(y, q) => Period::Quarter(y, q + 1),
            Period::Month(y, 12) => Period::Month(y + 1, 1),
            Period::Month(y, m) => Period::Month(y, m + 1),
        }
    }

    /// Builds a period from the frame encoding (`freq` code, year, sub).
    pub fn from_parts(frequency: Frequency, year: i32, sub: i32) -> Option<Period> {
        let sub = u8::try_from(sub).ok()?;
        match frequency {
            Frequency::Year => Some(Period::Year(year)),
            Frequency::Quarter if (1..=4).contains(&sub) => Some(Period::Quarter(year, sub)),
            Frequency::Month if (1..=12).contains(&sub) => Some(Period::Month(year, sub)),
            _ => None,
        }
    }
}

impl FromStr for Period {
    type Err = PeriodParseError;

    fn from_str(text: &str) -> Result<Period, PeriodParseError> {
        let err = || PeriodParseError { got: text.to_string() };
        let text_trimmed = text.trim();
        let digits4 = |s: &str| s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit());
        let year_of = |s: &str| -> Result<i32, PeriodParseError> {
            if digits4(s) { s.parse().map_err(|_| err()) } else { Err(err()) }
        };
        if digits4(text_trimmed) {
            return Ok(Period::Year(year_of(text_trimmed)?));
        }
        if let Some((y, q)) = text_trimmed.split_once(['Q', 'q']) {
            let quarter: u8 = q.parse().map_err(|_| err())?;
            if q.len() == 1 && (1..=4).contains(&quarter) {
                return Ok(Period::Quarter(year_of(y)?, quarter));
            }
            return Err(err());
        }
        if let Some((y, m)) = text_trimmed.split_once('-') {
            let month: u8 = m.parse().map_err(|_| err())?;
            if m.len() == 2 && (1..=12).contains(&month) {
                return Ok(Period::Month(year_of(y)?, month));
            }
        }
        Err(err())
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Year(y) => write!(f, "{y}"),
            Period::Quarter(y, q) => write!(f, "{y}Q{q}"),
            Period::Month(y, m) => write!(f, "{y}-{m:02}"),
        }
    }
}

impl Ord for Period {
    fn cmp(&self, other: &Period) -> Ordering {
        (self.end_month_index(), self.frequency()).cmp(&(other.end_month_index(), other.frequency()))
    }
}

impl PartialOrd for Period {
    fn partial_cmp(&self, other: &Period) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl serde::Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
