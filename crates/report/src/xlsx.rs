//! `tables.xlsx`: the report's tables for people who work in Excel.
//!
//! Numbers are written unrounded, with a number format at the indicator's decimals, so Excel
//! shows what the report shows and computes with what the engine computed.

use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

use crate::ReportError;
use crate::labels::{Labels, status_label};
use crate::view::{Frame, ReportInput};

/// A cell to write.
enum Cell {
    Text(String),
    /// A number and its decimals.
    Number(Option<f64>, u8),
}

/// The display width of text in Excel's units: CJK characters take two.
fn width(text: &str) -> usize {
    text.chars().map(|c| if c.len_utf8() >= 3 { 2 } else { 1 }).sum()
}

fn xlsx_error(sheet: &str) -> impl Fn(XlsxError) -> ReportError + '_ {
    move |error| ReportError::Write { path: format!("tables.xlsx, sheet {sheet}"), error: std::io::Error::other(error) }
}

fn write_sheet(workbook: &mut Workbook, name: &str, headers: &[&str], rows: &[Vec<Cell>]) -> Result<(), ReportError> {
    let error = xlsx_error(name);
    let sheet: &mut Worksheet = workbook.add_worksheet();
    sheet.set_name(name).map_err(&error)?;
    let bold = Format::new().set_bold();
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for (column, header) in headers.iter().enumerate() {
        sheet.write_string_with_format(0, column as u16, *header, &bold).map_err(&error)?;
    }
    let formats: Vec<Format> = (0..=6u8)
        .map(|decimals| Format::new().set_num_format(if decimals == 0 { "0".to_string() } else { format!("0.{}", "0".repeat(usize::from(decimals))) }))
        .collect();
    for (index, row) in rows.iter().enumerate() {
        let row_number = index as u32 + 1;
        for (column, cell) in row.iter().enumerate() {
            let column_number = column as u16;
            match cell {
                Cell::Text(text) => {
                    if !text.is_empty() {
                        sheet.write_string(row_number, column_number, text).map_err(&error)?;
                    }
                    widths[column] = widths[column].max(width(text));
                }
                Cell::Number(Some(value), decimals) if value.is_finite() => {
                    sheet.write_number_with_format(row_number, column_number, *value, &formats[usize::from(*decimals).min(6)]).map_err(&error)?;
                    widths[column] = widths[column].max(crate::format_number(Some(*value), *decimals).len());
                }
                Cell::Number(..) => {}
            }
        }
    }
    for (column, w) in widths.iter().enumerate() {
        sheet.set_column_width(column as u16, (*w).clamp(6, 60) as f64 + 2.0).map_err(&error)?;
    }
    sheet.set_freeze_panes(1, 0).map_err(&error)?;
    Ok(())
}

/// The workbook's sheet names, in order, for a language.
pub fn sheet_names(t: &Labels) -> [&'static str; 3] {
    [t.targets_heading, t.indicators_heading, t.problems_heading]
}

/// Builds `tables.xlsx`: targets, latest values and data problems, one sheet each.
pub fn tables_xlsx(input: &ReportInput<'_>, t: &Labels) -> Result<Vec<u8>, ReportError> {
    let catalogue = input.catalogue;
    let name_of = |code: &str| catalogue.entities.get(code).map_or_else(|| code.to_string(), |e| e.name.clone());
    let mut workbook = Workbook::new();
    // A fixed creation date: the same tables give the same bytes on every run.
    let created = ExcelDateTime::from_ymd(2000, 1, 1).map_err(xlsx_error("properties"))?;
    workbook.set_properties(&DocProperties::new().set_creation_datetime(&created));
    let [targets_sheet, latest_sheet, problems_sheet] = sheet_names(t);

    let tf = Frame(input.targets);
    let (entities, indicators, kinds, comparators, targets) =
        (tf.text("entity")?, tf.text("indicator")?, tf.text("kind")?, tf.text("comparator")?, tf.number("target")?);
    let (deadlines, base_periods, base_values, periods, values) =
        (tf.text("deadline")?, tf.text("base_period")?, tf.number("base_value")?, tf.text("period")?, tf.number("value")?);
    let (gaps, progress, time_share, schedule, statuses, sources) =
        (tf.number("gap")?, tf.number("progress_pct")?, tf.number("time_pct")?, tf.number("schedule_gap_pp")?, tf.text("status")?, tf.text("target_source")?);
    let text = |v: &Option<String>| Cell::Text(v.clone().unwrap_or_default());
    // The cells that say whose figure of what: entity code and name, indicator code, name and unit.
    let identity = |code: &str, indicator_code: &Option<String>| -> Vec<Cell> {
        let indicator = catalogue.indicators.get(indicator_code.as_deref().unwrap_or(""));
        vec![
            Cell::Text(code.to_string()),
            Cell::Text(name_of(code)),
            text(indicator_code),
            Cell::Text(indicator.map_or(String::new(), |ind| ind.name.clone())),
            Cell::Text(indicator.map_or(String::new(), |ind| ind.unit.clone())),
        ]
    };
    let mut rows = Vec::new();
    for i in 0..input.targets.height() {
        let code = entities[i].clone().unwrap_or_default();
        let indicator = catalogue.indicators.get(indicators[i].as_deref().unwrap_or(""));
        let decimals = indicator.map_or(2, |ind| ind.decimals);
        let target_decimals = if kinds[i].as_deref() == Some("growth") { 1 } else { decimals };
        let mut row = identity(&code, &indicators[i]);
        row.extend([
            text(&kinds[i]),
            text(&comparators[i]),
            Cell::Number(targets[i], target_decimals),
            text(&deadlines[i]),
            text(&base_periods[i]),
            Cell::Number(base_values[i], decimals),
            text(&periods[i]),
            Cell::Number(values[i], decimals),
            Cell::Number(gaps[i], decimals),
            Cell::Number(progress[i], 1),
            Cell::Number(time_share[i], 1),
            Cell::Number(schedule[i], 1),
            Cell::Text(status_label(statuses[i].as_deref().unwrap_or(""), t).to_string()),
            text(&sources[i]),
        ]);
        rows.push(row);
    }
    let headers = [
        "entity", t.entity, "indicator", t.indicator, t.unit, "kind", "comparator", t.target, t.deadline, t.base, t.base, t.period, t.value, t.gap,
        t.progress, t.time_share, t.schedule_gap, t.status, t.source,
    ];
    write_sheet(&mut workbook, targets_sheet, &headers, &rows)?;

    let lf = Frame(input.latest);
    let (entities, indicators, periods, values, growth) =
        (lf.text("entity")?, lf.text("indicator")?, lf.text("period")?, lf.number("value")?, lf.number("growth")?);
    let (base_periods, changes, averages, sources) =
        (lf.text("base_period")?, lf.number("change_since_base")?, lf.number("avg_change_since_base")?, lf.text("source")?);
    let mut rows = Vec::new();
    for i in 0..input.latest.height() {
        let code = entities[i].clone().unwrap_or_default();
        let indicator = catalogue.indicators.get(indicators[i].as_deref().unwrap_or(""));
        let decimals = indicator.map_or(2, |ind| ind.decimals);
        let points = indicator.is_some_and(|ind| ind.kind.changes_in_points());
        let mut row = identity(&code, &indicators[i]);
        row.extend([
            text(&periods[i]),
            Cell::Number(values[i], decimals),
            Cell::Number(growth[i], if points { decimals } else { 1 }),
            text(&base_periods[i]),
            Cell::Number(changes[i], decimals),
            Cell::Number(averages[i], decimals),
            text(&sources[i]),
        ]);
        rows.push(row);
    }
    let headers = ["entity", t.entity, "indicator", t.indicator, t.unit, t.period, t.value, t.yoy, t.base, t.change_since_base, t.avg_change, t.source];
    write_sheet(&mut workbook, latest_sheet, &headers, &rows)?;

    let rows: Vec<Vec<Cell>> = input
        .problems
        .iter()
        .map(|p| vec![Cell::Text(crate::labels::level_label(&p.level, t).to_string()), Cell::Text(p.place.clone()), Cell::Text(p.message.clone())])
        .collect();
    write_sheet(&mut workbook, problems_sheet, &[t.level, t.place, t.message], &rows)?;

    workbook.save_to_buffer().map_err(xlsx_error("tables.xlsx"))
}
