//! Tables (delimited text and xlsx sheets) → long records.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::decode::{Encoding, decode};
use crate::text::{clean_header, is_missing_marker, is_note_start, normalize_period, parse_number, trim_label, unit_in_header};
use crate::{Place, Problem, Read, Record, SourceError};

/// What to do with a row whose entity cannot be resolved (its entity cell is empty or a missing
/// marker such as `NA`, and the fallback column's value is not in the mapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unresolved {
    /// Report the row as a [`Problem`].
    #[default]
    Problem,
    /// Leave the row out, listed in [`Read::skipped`] (e.g. the 市辖区 subtotal rows of a census
    /// table, which have no code).
    Skip,
}

/// Which column holds the entity, and how its values map to entity codes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntitySpec {
    /// The entity column's header (e.g. `区划代码` or `地区`).
    pub column: String,
    /// Values as written (trimmed) → entity codes, e.g. `北京市` → `110000`. Unmapped values
    /// stay as written.
    pub map: BTreeMap<String, String>,
    /// When the entity cell is empty or a missing marker (`NA`), look this column's value up in
    /// `map` instead (e.g. the name column, with `全国` → `000000`).
    pub fallback_column: Option<String>,
    /// What to do when neither gives an entity.
    pub unresolved: Unresolved,
}

impl EntitySpec {
    /// The entity is the column with this header, values kept as written.
    pub fn column(name: &str) -> EntitySpec {
        EntitySpec { column: name.to_string(), ..EntitySpec::default() }
    }
}

/// Where the indicator of a wide table comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndicatorFrom {
    /// One indicator code for the whole table.
    Fixed(String),
    /// A column holding the indicator (its text mapped through [`TableSpec::indicators`]; a unit
    /// in it, as in `地区生产总值(亿元)`, is the values' unit unless a unit column or the header says otherwise).
    Column(String),
    /// The parent row of a two-row header: `地区生产总值（亿元）` over `2019 | 2020` (its name
    /// is mapped through [`TableSpec::indicators`], its unit is the values' unit).
    ParentHeader,
}

/// How observations are laid out in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// One observation per row.
    Long {
        /// The indicator column's header.
        indicator_column: String,
        /// The period column's header (values like `2020`, `2020-09`, `2020年9月`, `2020Q3`).
        period_column: String,
        /// The value column's header.
        value_column: String,
        /// The unit column's header, if there is one.
        unit_column: Option<String>,
    },
    /// One row per entity (and indicator); every column whose header is a period (`2010`,
    /// `2010年`, `2019年9月`, `2019-09`, `2019M09`, `2018Q1`…) is an observation.
    Wide {
        /// Where the indicator comes from.
        indicator: IndicatorFrom,
        /// The unit column's header, if there is one.
        unit_column: Option<String>,
    },
    /// One row per entity; each mapped column is an indicator, all for one period (census style).
    Columns {
        /// The period of every value (e.g. `2020`; any form [`normalize_period`] takes).
        period: String,
        /// Column header → indicator code. A header matches by its full text or by its name
        /// without the unit (`城镇人口（万人）` matches `城镇人口`).
        map: BTreeMap<String, String>,
    },
}

/// How to read one table (a delimited file or an xlsx sheet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// The 1-based line (delimited text) or sheet row (xlsx) of the header, or of its first row
    /// when it has two. Rows above it (titles) are skipped. `None`: the first row (of the first
    /// 50) with a cell equal to the entity column's header.
    pub header_row: Option<u32>,
    /// The header has two rows: parent texts (carried across blanks as merged cells do) over
    /// child texts; a column's header is `parent_child`, or the one that is not blank.
    pub two_row_header: bool,
    /// The entity column.
    pub entity: EntitySpec,
    /// The layout.
    pub layout: Layout,
    /// Indicator text → indicator code for [`Layout::Long`] and [`Layout::Wide`] (text matches
    /// as written or without its unit). Unmapped texts stay as written.
    pub indicators: BTreeMap<String, String>,
    /// The unit of values for which neither a unit column nor the header states one.
    pub unit: Option<String>,
}

impl TableSpec {
    /// A spec with a one-row header to detect, no indicator mapping and no default unit.
    pub fn new(entity: EntitySpec, layout: Layout) -> TableSpec {
        TableSpec { header_row: None, two_row_header: false, entity, layout, indicators: BTreeMap::new(), unit: None }
    }
}

/// How to read a delimited text file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvSpec {
    /// The text encoding.
    pub encoding: Encoding,
    /// The field delimiter (`b','`, `b'\t'`, `b';'`).
    pub delimiter: u8,
    /// The table.
    pub table: TableSpec,
}

impl CsvSpec {
    /// Comma-separated, encoding detected.
    pub fn new(table: TableSpec) -> CsvSpec {
        CsvSpec { encoding: Encoding::Auto, delimiter: b',', table }
    }
}

/// One cell of a grid.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Empty,
    Text(String),
    Number(f64),
    /// An error, boolean or date cell, as displayed.
    Other(String),
}

impl Cell {
    pub(crate) fn text(&self) -> Cow<'_, str> {
        match self {
            Cell::Empty => Cow::Borrowed(""),
            Cell::Text(t) | Cell::Other(t) => Cow::Borrowed(t),
            Cell::Number(v) => Cow::Owned(format_number(*v)),
        }
    }

    fn is_blank(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(t) => trim_label(t).is_empty(),
            _ => false,
        }
    }
}

pub(crate) fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}

static EMPTY: Cell = Cell::Empty;

/// One row of a grid.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    /// 1-based line (text) or sheet row (xlsx).
    pub number: u32,
    pub cells: Vec<Cell>,
    /// The row as written (text files); built from the cells when `None`.
    pub raw: Option<String>,
}

impl Row {
    fn get(&self, col: usize) -> &Cell {
        self.cells.get(col).unwrap_or(&EMPTY)
    }

    fn raw(&self) -> String {
        match &self.raw {
            Some(r) => r.clone(),
            None => {
                let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
                let texts: Vec<Cow<'_, str>> = self.cells.iter().map(Cell::text).collect();
                let texts: Vec<&str> = texts.iter().map(|t| t.as_ref()).collect();
                let end = texts.iter().rposition(|t| !t.is_empty()).map_or(0, |i| i + 1);
                if w.write_record(&texts[..end]).is_err() {
                    return texts.join(",");
                }
                let bytes = w.into_inner().unwrap_or_default();
                String::from_utf8_lossy(&bytes).trim_end().to_string()
            }
        }
    }

    fn non_blank(&self) -> usize {
        self.cells.iter().filter(|c| !c.is_blank()).count()
    }
}

/// A table as rows of cells, from a text file or a sheet.
#[derive(Debug)]
pub(crate) struct Grid<'a> {
    pub label: &'a str,
    /// The sheet name (xlsx): places are cells (`Sheet1!C7`) rather than lines.
    pub sheet: Option<String>,
    /// Rows in order of `number`.
    pub rows: Vec<Row>,
    /// Merged regions (0-based `(first_row, first_col, last_row, last_col)`), when known.
    pub merges: Option<Vec<(u32, u32, u32, u32)>>,
}

/// `0` → `A`, `27` → `AB`.
pub(crate) fn column_letters(col: usize) -> String {
    let mut n = col + 1;
    let mut out = Vec::new();
    while n > 0 {
        let r = (n - 1) % 26;
        out.push(b'A' + r as u8);
        n = (n - 1) / 26;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

impl Grid<'_> {
    fn place(&self, row: &Row, col: usize, field: &str) -> Place {
        match &self.sheet {
            Some(sheet) => Place::cell(self.label, format!("{sheet}!{}{}", column_letters(col), row.number), field),
            None => Place::text(self.label, u64::from(row.number), field),
        }
    }

    fn row_place(&self, row: &Row) -> String {
        match &self.sheet {
            Some(sheet) => format!("{}: {sheet} row {}", self.label, row.number),
            None => format!("{}:{}", self.label, row.number),
        }
    }

    fn row_index(&self, number: u32) -> Option<usize> {
        self.rows.binary_search_by_key(&number, |r| r.number).ok()
    }

    /// The cell, or the top-left cell of the merged region it is in.
    fn merged_cell(&self, index: usize, col: usize) -> &Cell {
        let row = &self.rows[index];
        let cell = row.get(col);
        if !cell.is_blank() {
            return cell;
        }
        let Some(merges) = &self.merges else { return cell };
        let (r, c) = (row.number - 1, col as u32);
        for &(r0, c0, r1, c1) in merges {
            if (r0..=r1).contains(&r)
                && (c0..=c1).contains(&c)
                && (r0, c0) != (r, c)
                && let Some(i) = self.row_index(r0 + 1)
            {
                return self.rows[i].get(c0 as usize);
            }
        }
        cell
    }
}

/// One column's header.
#[derive(Debug, Clone)]
struct Header {
    /// The combined text (`parent_child`, or the one not blank).
    text: String,
    parent: String,
    child: String,
}

impl Header {
    /// The text that names a period in a wide table: the child, or the parent if the child is blank.
    fn period_text(&self) -> &str {
        if self.child.is_empty() { &self.parent } else { &self.child }
    }
}

fn header_text(cell: &Cell) -> String {
    clean_header(&cell.text())
}

fn build_headers(grid: &Grid<'_>, first: usize, two_rows: bool) -> Vec<Header> {
    let width = if two_rows { grid.rows[first].cells.len().max(grid.rows[first + 1].cells.len()) } else { grid.rows[first].cells.len() };
    // Merged cells in the parent row are authoritative; without them (text files, or a sheet
    // written without merges) a parent is carried across the blanks to its right.
    let parent_row0 = grid.rows[first].number - 1;
    let has_merges = grid.merges.as_ref().is_some_and(|m| m.iter().any(|&(r0, _, r1, _)| (r0..=r1).contains(&parent_row0)));
    let mut headers = Vec::with_capacity(width);
    let mut carried = String::new();
    for col in 0..width {
        if !two_rows {
            let text = header_text(grid.merged_cell(first, col));
            headers.push(Header { text: text.clone(), parent: String::new(), child: text });
            continue;
        }
        let mut parent = header_text(grid.merged_cell(first, col));
        let child = header_text(grid.merged_cell(first + 1, col));
        if !has_merges {
            // Carry a group's parent across the blanks to its right, as a merged cell would.
            if parent.is_empty() && !child.is_empty() {
                parent = carried.clone();
            } else if !child.is_empty() {
                carried = parent.clone();
            } else {
                carried.clear();
            }
        }
        let text = match (parent.is_empty(), child.is_empty()) {
            (true, _) => child.clone(),
            (false, true) => parent.clone(),
            (false, false) if parent == child => parent.clone(),
            (false, false) => format!("{parent}_{child}"),
        };
        headers.push(Header { text, parent, child });
    }
    headers
}

fn find_column(grid: &Grid<'_>, headers: &[Header], header_row: &Row, name: &str) -> Result<usize, SourceError> {
    let wanted = clean_header(name);
    if let Some(i) = headers.iter().position(|h| h.text == wanted) {
        return Ok(i);
    }
    if let Some(i) = headers.iter().position(|h| unit_in_header(&h.text).0 == wanted) {
        return Ok(i);
    }
    let shown: Vec<&str> = headers.iter().map(|h| h.text.as_str()).filter(|t| !t.is_empty()).take(12).collect();
    let more = if headers.len() > shown.len() { ", …" } else { "" };
    Err(SourceError::Column { place: grid.row_place(header_row), column: name.to_string(), found: format!("{}{more}", shown.join(", ")) })
}

/// A value cell read: the value (or none for a missing marker) and the text as written.
fn read_value(cell: &Cell) -> Result<(Option<f64>, String), String> {
    match cell {
        Cell::Empty => Ok((None, String::new())),
        Cell::Number(v) => Ok((Some(*v), format_number(*v))),
        Cell::Text(t) => {
            if is_missing_marker(t) {
                Ok((None, t.clone()))
            } else if let Some(v) = parse_number(t) {
                Ok((Some(v), t.clone()))
            } else {
                Err(format!("expected a number, got {t:?}"))
            }
        }
        Cell::Other(t) if t == "#N/A" => Ok((None, t.clone())),
        Cell::Other(t) => Err(format!("expected a number, got {t}")),
    }
}

/// Looks a label up in a mapping: as written (trimmed), without inner spaces (`北  京`), or
/// without its unit (`地区生产总值（亿元）`).
fn lookup<'m>(map: &'m BTreeMap<String, String>, text: &str) -> Option<&'m String> {
    if map.is_empty() {
        return None;
    }
    let t = trim_label(text);
    map.get(t)
        .or_else(|| {
            let squeezed: String = t.chars().filter(|c| !c.is_whitespace() && *c != '\u{3000}').collect();
            map.get(&squeezed)
        })
        .or_else(|| map.get(&unit_in_header(t).0))
}

/// The mapped code of a label, or the label as written (trimmed).
fn map_text(map: &BTreeMap<String, String>, text: &str) -> String {
    lookup(map, text).cloned().unwrap_or_else(|| trim_label(text).to_string())
}

fn unit_of(text: &str) -> Option<String> {
    unit_in_header(text).1
}

fn first_some<const N: usize>(options: [Option<String>; N]) -> Option<String> {
    options.into_iter().flatten().next()
}

/// Reads a grid with a spec: the shared part of [`read_csv`] and [`crate::read_xlsx`].
pub(crate) fn read_grid(grid: &Grid<'_>, spec: &TableSpec) -> Result<Read, SourceError> {
    let label = grid.label;
    let header_count = if spec.two_row_header { 2 } else { 1 };
    let first = match spec.header_row {
        Some(n) => grid.row_index(n).ok_or_else(|| {
            SourceError::structure(
                label,
                format!("a header on {} {n}, but it is blank or past the end", if grid.sheet.is_some() { "row" } else { "line" }),
            )
        })?,
        None => {
            let wanted = clean_header(&spec.entity.column);
            grid.rows
                .iter()
                .take(50)
                .position(|r| r.cells.iter().any(|c| header_text(c) == wanted))
                .ok_or_else(|| SourceError::structure(label, format!("a header row with a cell `{wanted}` within the first 50 rows")))?
        }
    };
    if first + header_count > grid.rows.len() {
        return Err(SourceError::structure(
            label,
            format!("{header_count} header rows from row {}, and data below", grid.rows[first].number),
        ));
    }
    let headers = build_headers(grid, first, spec.two_row_header);
    let header_row = &grid.rows[first];
    let col = |name: &str| find_column(grid, &headers, header_row, name);
    let entity_col = col(&spec.entity.column)?;
    let fallback_col = spec.entity.fallback_column.as_deref().map(col).transpose()?;

    enum Plan {
        Long {
            indicator: usize,
            period: usize,
            value: usize,
            unit: Option<usize>,
        },
        /// Period columns: column, period, the indicator from the parent header, the header's unit.
        Wide {
            indicator: Result<String, usize>,
            unit: Option<usize>,
            periods: Vec<(usize, String, String, Option<String>)>,
        },
        /// Mapped columns: column, indicator code, the header's unit.
        Columns {
            period: String,
            columns: Vec<(usize, String, Option<String>)>,
        },
    }
    let plan = match &spec.layout {
        Layout::Long { indicator_column, period_column, value_column, unit_column } => Plan::Long {
            indicator: col(indicator_column)?,
            period: col(period_column)?,
            value: col(value_column)?,
            unit: unit_column.as_deref().map(col).transpose()?,
        },
        Layout::Wide { indicator, unit_column } => {
            let unit = unit_column.as_deref().map(col).transpose()?;
            let indicator = match indicator {
                IndicatorFrom::Fixed(code) => Ok(code.clone()),
                IndicatorFrom::Column(name) => Err(col(name)?),
                IndicatorFrom::ParentHeader => {
                    if !spec.two_row_header {
                        return Err(SourceError::structure(label, "a two-row header for IndicatorFrom::ParentHeader (set two_row_header)"));
                    }
                    Ok(String::new())
                }
            };
            let label_cols: Vec<usize> =
                [Some(entity_col), fallback_col, unit, indicator.as_ref().err().copied()].into_iter().flatten().collect();
            let periods: Vec<(usize, String, String, Option<String>)> = headers
                .iter()
                .enumerate()
                .filter(|(i, _)| !label_cols.contains(i))
                .filter_map(|(i, h)| {
                    let t = h.period_text();
                    let p = normalize_period(t).or_else(|| normalize_period(&unit_in_header(t).0))?;
                    let parent_code = map_text(&spec.indicators, &h.parent);
                    Some((i, p, parent_code, unit_of(&h.parent).or_else(|| unit_of(&h.child))))
                })
                .collect();
            if periods.is_empty() {
                return Err(SourceError::structure(
                    grid.row_place(header_row),
                    "column headers that are periods (like 2019, 2019年, 2019-09, 2019M09, 2019Q1), found none",
                ));
            }
            Plan::Wide { indicator, unit, periods }
        }
        Layout::Columns { period, map } => {
            let p = normalize_period(period).ok_or_else(|| {
                SourceError::structure(label, format!("a period like 2020, 2020-09 or 2020Q3 in the spec, got {period:?}"))
            })?;
            let mut columns = Vec::with_capacity(map.len());
            for (header, code) in map {
                let c = col(header)?;
                columns.push((c, code.clone(), unit_of(&headers[c].text)));
            }
            columns.sort();
            Plan::Columns { period: p, columns }
        }
    };

    // The table body ends at the first note (注、资料来源…); label-only rows just above it (or at the
    // end) are notes too.
    let body_start = first + header_count;
    let mut end = grid.rows.len();
    let mut notes = Vec::new();
    for i in body_start..grid.rows.len() {
        let row = &grid.rows[i];
        if let Some(c) = row.cells.iter().find(|c| !c.is_blank())
            && is_note_start(&c.text())
        {
            end = i;
            break;
        }
    }
    let wide_enough = headers.len() >= 3;
    while end > body_start {
        let row = &grid.rows[end - 1];
        let n = row.non_blank();
        if n == 0 || (n == 1 && wide_enough) {
            end -= 1;
        } else {
            break;
        }
    }
    for row in &grid.rows[end..] {
        let texts: Vec<String> = row.cells.iter().filter(|c| !c.is_blank()).map(|c| trim_label(&c.text()).to_string()).collect();
        if !texts.is_empty() {
            notes.push(texts.join(" "));
        }
    }

    let mut read = Read { notes, ..Read::default() };
    for index in body_start..end {
        let row = &grid.rows[index];
        let non_blank = row.non_blank();
        if non_blank == 0 {
            continue;
        }
        read.rows_read += 1;
        let entity_field = &headers[entity_col].text;
        if non_blank == 1 && wide_enough {
            read.skipped.push(Problem {
                place: grid.place(row, entity_col, entity_field),
                reason: "a row with a label and no values (a heading or separator)".to_string(),
                raw: row.raw(),
            });
            continue;
        }
        // The entity.
        let entity_cell = grid.merged_cell(index, entity_col).text();
        let entity = if !is_missing_marker(&entity_cell) {
            Some(map_text(&spec.entity.map, &entity_cell))
        } else {
            fallback_col.and_then(|fc| lookup(&spec.entity.map, &row.get(fc).text()).cloned())
        };
        let Some(entity) = entity else {
            let mut reason = format!("expected an entity, got {:?}", trim_label(&entity_cell));
            if let Some(fc) = fallback_col {
                let name = row.get(fc).text();
                reason.push_str(&format!(" and `{}` {:?} is not in the entity mapping", headers[fc].text, trim_label(&name)));
            }
            let problem = Problem { place: grid.place(row, entity_col, entity_field), reason, raw: row.raw() };
            match spec.entity.unresolved {
                Unresolved::Problem => read.problems.push(problem),
                Unresolved::Skip => read.skipped.push(problem),
            }
            continue;
        };

        let mut raw_row: Option<String> = None;
        let mut emit = |read: &mut Read, col: usize, indicator: String, period: String, unit: Option<String>| {
            let cell = row.get(col);
            let field = &headers[col].text;
            match read_value(cell) {
                Ok((value, raw)) => read.records.push(Record {
                    entity: entity.clone(),
                    indicator,
                    period,
                    value,
                    unit: unit.or_else(|| spec.unit.clone()),
                    place: grid.place(row, col, field),
                    raw,
                }),
                Err(reason) => read.problems.push(Problem {
                    place: grid.place(row, col, field),
                    reason,
                    raw: raw_row.get_or_insert_with(|| row.raw()).clone(),
                }),
            }
        };
        match &plan {
            Plan::Long { indicator, period, value, unit } => {
                let ind_text = grid.merged_cell(index, *indicator).text();
                let period_text = grid.merged_cell(index, *period).text();
                if is_missing_marker(&ind_text) {
                    read.problems.push(Problem {
                        place: grid.place(row, *indicator, &headers[*indicator].text),
                        reason: "expected an indicator, got an empty cell".to_string(),
                        raw: row.raw(),
                    });
                    continue;
                }
                let Some(p) = normalize_period(&period_text) else {
                    read.problems.push(Problem {
                        place: grid.place(row, *period, &headers[*period].text),
                        reason: format!("expected a period like 2020, 2020-09 or 2020Q3, got {:?}", trim_label(&period_text)),
                        raw: row.raw(),
                    });
                    continue;
                };
                let unit_cell = unit.map(|u| trim_label(&grid.merged_cell(index, u).text()).to_string()).filter(|u| !u.is_empty());
                let u = first_some([unit_cell, unit_of(&headers[*value].text), unit_of(&ind_text)]);
                emit(&mut read, *value, map_text(&spec.indicators, &ind_text), p, u);
            }
            Plan::Wide { indicator, unit, periods } => {
                let unit_cell = unit.map(|u| trim_label(&grid.merged_cell(index, u).text()).to_string()).filter(|u| !u.is_empty());
                let (ind_code, ind_unit) = match indicator {
                    Ok(code) => (code.clone(), None),
                    Err(ic) => {
                        let t = grid.merged_cell(index, *ic).text();
                        if is_missing_marker(&t) {
                            read.problems.push(Problem {
                                place: grid.place(row, *ic, &headers[*ic].text),
                                reason: "expected an indicator, got an empty cell".to_string(),
                                raw: row.raw(),
                            });
                            continue;
                        }
                        (map_text(&spec.indicators, &t), unit_of(&t))
                    }
                };
                let from_parent = matches!(spec.layout, Layout::Wide { indicator: IndicatorFrom::ParentHeader, .. });
                for (c, p, parent_code, header_unit) in periods {
                    let code = if from_parent { parent_code.clone() } else { ind_code.clone() };
                    let u = first_some([unit_cell.clone(), header_unit.clone(), ind_unit.clone()]);
                    emit(&mut read, *c, code, p.clone(), u);
                }
            }
            Plan::Columns { period, columns } => {
                for (c, code, unit) in columns {
                    emit(&mut read, *c, code.clone(), period.clone(), unit.clone());
                }
            }
        }
    }
    Ok(read)
}

/// Reads a delimited text table (CSV, TSV…) into long records.
///
/// The bytes are decoded as the spec's [`Encoding`]; rows above the header are skipped; the
/// table ends at the first note row (a first cell starting with 注、资料来源、数据来源、Source or
/// Note) or at the label-only rows at its end, which go to [`Read::notes`]. Places are
/// `label:line`, with the column's header as the field.
pub fn read_csv(label: &str, bytes: &[u8], spec: &CsvSpec) -> Result<Read, SourceError> {
    let text = decode(label, bytes, spec.encoding)?;
    let grid = text_grid(label, &text, spec.delimiter)?;
    read_grid(&grid, &spec.table)
}

/// Line breaks in `bytes`: `\n`, and `\r` not followed by `\n`.
fn count_lines(bytes: &[u8]) -> u64 {
    let mut n = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
            n += 1;
        }
    }
    n
}

/// Splits decoded text into rows of text cells, keeping each row's line and raw text.
pub(crate) fn text_grid<'a>(label: &'a str, text: &str, delimiter: u8) -> Result<Grid<'a>, SourceError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(text.as_bytes());
    // csv's own positions point at the end of the previous record's terminator and count lines
    // wrongly with CRLF, so a record's start and line are worked out here from its byte offset.
    let bytes = text.as_bytes();
    let mut rows = Vec::new();
    let mut starts: Vec<usize> = Vec::new();
    let mut record = csv::StringRecord::new();
    let (mut counted_to, mut line) = (0usize, 1u64);
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let mut start = record.position().map_or(counted_to, |p| p.byte() as usize).max(counted_to).min(bytes.len());
                while start < bytes.len() && matches!(bytes[start], b'\r' | b'\n') {
                    start += 1;
                }
                line += count_lines(&bytes[counted_to..start]);
                counted_to = start;
                let cells = record.iter().map(|f| if f.is_empty() { Cell::Empty } else { Cell::Text(f.to_string()) }).collect();
                starts.push(start);
                rows.push(Row { number: u32::try_from(line).unwrap_or(u32::MAX), cells, raw: None });
            }
            Err(e) => {
                let at = e.position().map_or(counted_to, |p| p.byte() as usize).min(bytes.len());
                let line = line + count_lines(&bytes[counted_to.min(at)..at]);
                return Err(SourceError::structure(format!("{label}:{line}"), format!("delimited text: {e}")));
            }
        }
    }
    for (i, row) in rows.iter_mut().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(text.len()).min(text.len());
        let start = starts[i].min(end);
        row.raw = Some(text.get(start..end).unwrap_or("").trim_end_matches(['\r', '\n']).to_string());
    }
    Ok(Grid { label, sheet: None, rows, merges: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_raw_rows() {
        for (text, lines) in
            [("a,b\r\n1,2\r\n3,4\r\n", vec![1, 2, 3]), ("a,b\n1,2\n\n3,4", vec![1, 2, 4]), ("a,b\n\"x\ny\",2\n3,4\n", vec![1, 2, 4])]
        {
            let grid = text_grid("t", text, b',').unwrap();
            let numbers: Vec<u32> = grid.rows.iter().map(|r| r.number).collect();
            assert_eq!(numbers, lines, "{text:?}");
            assert_eq!(grid.rows[0].raw.as_deref(), Some("a,b"));
            assert_eq!(grid.rows.last().unwrap().raw.as_deref(), Some("3,4"));
        }
    }

    #[test]
    fn letters() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(27), "AB");
        assert_eq!(column_letters(701), "ZZ");
        assert_eq!(column_letters(702), "AAA");
    }
}
