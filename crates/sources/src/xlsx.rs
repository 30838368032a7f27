//! xlsx sheets (statistical yearbook style) → long records.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};

use crate::table::{Cell, Grid, Row, TableSpec, read_grid};
use crate::{Read, SourceError};

/// How to read one sheet of an xlsx workbook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XlsxSpec {
    /// The sheet's name; `None`: the first sheet.
    pub sheet: Option<String>,
    /// The table on it.
    pub table: TableSpec,
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn cell_of(data: &Data, is_1904: bool) -> Cell {
    match data {
        Data::Empty => Cell::Empty,
        Data::Int(i) => Cell::Number(*i as f64),
        Data::Float(f) => Cell::Number(*f),
        Data::String(s) => {
            if s.trim().is_empty() {
                Cell::Empty
            } else {
                Cell::Text(s.clone())
            }
        }
        Data::Bool(b) => Cell::Other(if *b { "TRUE" } else { "FALSE" }.to_string()),
        Data::DateTime(dt) => {
            // Excel serial days: day 25569 is 1970-01-01 (1900 system); the 1904 system is 1462 days later.
            let serial = dt.as_f64().floor() as i64 + if is_1904 { 1462 } else { 0 };
            let (y, m, d) = civil_from_days(serial - 25_569);
            Cell::Other(format!("{y:04}-{m:02}-{d:02}"))
        }
        Data::DateTimeIso(s) | Data::DurationIso(s) => Cell::Other(s.clone()),
        Data::Error(e) => Cell::Other(e.to_string()),
    }
}

/// Reads one sheet of an xlsx workbook into long records.
///
/// Same rules as [`crate::read_csv`] (title rows above the header, one- or two-row headers,
/// notes below the table, missing markers), plus: merged cells in the header (and in the label
/// columns of the body) take the value of their top-left cell; numeric cells are read as
/// numbers. Places are cells, `Sheet1!C7`, with the column's header as the field.
pub fn read_xlsx(label: &str, bytes: &[u8], spec: &XlsxSpec) -> Result<Read, SourceError> {
    let err = |detail: String| SourceError::Workbook { label: label.to_string(), detail };
    let mut book: Xlsx<Cursor<&[u8]>> = open_workbook_from_rs(Cursor::new(bytes)).map_err(|e: calamine::XlsxError| err(e.to_string()))?;
    let names = book.sheet_names();
    let sheet = match &spec.sheet {
        Some(name) => {
            if !names.iter().any(|n| n == name) {
                return Err(err(format!("no sheet `{name}` (sheets: {})", names.join(", "))));
            }
            name.clone()
        }
        None => names.first().cloned().ok_or_else(|| err("the workbook has no sheets".to_string()))?,
    };
    let is_1904 = book.has_1904_epoch();
    let range = book.worksheet_range(&sheet).map_err(|e| err(format!("sheet `{sheet}`: {e}")))?;
    let merges = book
        .merge_cells_by_sheet_name(&sheet)
        .map_err(|e| err(format!("sheet `{sheet}`: merged cells: {e}")))?
        .into_iter()
        .map(|d| (d.start.0, d.start.1, d.end.0, d.end.1))
        .collect::<Vec<_>>();
    let mut rows = Vec::new();
    if let Some((r0, c0)) = range.start() {
        for (i, cells) in range.rows().enumerate() {
            let mut row: Vec<Cell> = Vec::with_capacity(c0 as usize + cells.len());
            row.resize(c0 as usize, Cell::Empty);
            row.extend(cells.iter().map(|d| cell_of(d, is_1904)));
            while row.last().is_some_and(|c| *c == Cell::Empty) {
                row.pop();
            }
            rows.push(Row { number: r0 + i as u32 + 1, cells: row, raw: None });
        }
    }
    let grid = Grid { label, sheet: Some(sheet), rows, merges: Some(merges) };
    read_grid(&grid, &spec.table)
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(43_709 - 25_569), (2019, 9, 1));
    }
}
