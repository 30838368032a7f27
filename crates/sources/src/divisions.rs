//! NBS statistical division codes (统计用区划代码) from the `provinces.csv`, `cities.csv`,
//! `areas.csv` and `streets.csv` files of `modood/Administrative-divisions-of-China`.

use std::path::Path;

use crate::SourceError;
use crate::decode::{Encoding, decode};
use crate::table::text_grid;
use crate::text::trim_label;

/// The level of a division.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// 省级: 2-digit codes (`provinces.csv`).
    Province,
    /// 地级: 4-digit codes (`cities.csv`).
    Prefecture,
    /// 县级: 6-digit codes (`areas.csv`).
    County,
    /// 乡级 (街道、镇、乡): 9-digit codes (`streets.csv`).
    Township,
}

impl Level {
    fn file(self) -> &'static str {
        match self {
            Level::Province => "provinces.csv",
            Level::Prefecture => "cities.csv",
            Level::County => "areas.csv",
            Level::Township => "streets.csv",
        }
    }

    fn parent_column(self) -> Option<&'static str> {
        match self {
            Level::Province => None,
            Level::Prefecture => Some("provinceCode"),
            Level::County => Some("cityCode"),
            Level::Township => Some("areaCode"),
        }
    }

    fn digits(self) -> usize {
        match self {
            Level::Province => 2,
            Level::Prefecture => 4,
            Level::County => 6,
            Level::Township => 9,
        }
    }
}

/// One division.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Division {
    /// The code as in the files: 2, 4, 6 or 9 digits.
    pub code: String,
    /// The name, e.g. `东华门街道`.
    pub name: String,
    /// The level.
    pub level: Level,
    /// The parent's code (`provinceCode`, `cityCode` or `areaCode`); `None` for provinces.
    pub parent: Option<String>,
}

/// Reads the division files in `dir` from provinces down to `deepest`, in file order
/// (provinces, then prefectures, counties, townships).
///
/// Each file has a header with `code` and `name` (and the parent's code column); a code that is
/// not all digits of the level's length is refused with its file, line and field.
pub fn divisions(dir: &Path, deepest: Level) -> Result<Vec<Division>, SourceError> {
    let mut out = Vec::new();
    for level in [Level::Province, Level::Prefecture, Level::County, Level::Township] {
        if level > deepest {
            break;
        }
        let path = dir.join(level.file());
        let label = path.display().to_string();
        let bytes = std::fs::read(&path).map_err(|source| SourceError::Io { path: label.clone(), source })?;
        let text = decode(&label, &bytes, Encoding::Utf8)?;
        let grid = text_grid(&label, &text, b',')?;
        let Some(header) = grid.rows.first() else {
            return Err(SourceError::structure(&label, "a header row code,name,…"));
        };
        let names: Vec<String> = header.cells.iter().map(|c| trim_label(&c.text()).to_string()).collect();
        let find = |name: &str| {
            names.iter().position(|n| n == name).ok_or_else(|| SourceError::Column {
                place: format!("{label}:{}", header.number),
                column: name.to_string(),
                found: names.join(", "),
            })
        };
        let code_col = find("code")?;
        let name_col = find("name")?;
        let parent_col = level.parent_column().map(find).transpose()?;
        for row in &grid.rows[1..] {
            let cell = |i: usize| row.cells.get(i).map(|c| trim_label(&c.text()).to_string()).unwrap_or_default();
            let code = cell(code_col);
            if row.cells.iter().all(|c| trim_label(&c.text()).is_empty()) {
                continue;
            }
            let check = |code: &str, field: &str, digits: usize| {
                if code.len() == digits && code.bytes().all(|b| b.is_ascii_digit()) {
                    Ok(())
                } else {
                    Err(SourceError::structure(
                        format!("{label}:{}: field `{field}`", row.number),
                        format!("a {digits}-digit code, got {code:?}"),
                    ))
                }
            };
            check(&code, "code", level.digits())?;
            let parent = match (parent_col, level.parent_column()) {
                (Some(pc), Some(field)) => {
                    let p = cell(pc);
                    let digits = match level {
                        Level::Prefecture => 2,
                        Level::County => 4,
                        _ => 6,
                    };
                    check(&p, field, digits)?;
                    Some(p)
                }
                _ => None,
            };
            out.push(Division { code, name: cell(name_col), level, parent });
        }
    }
    Ok(out)
}
