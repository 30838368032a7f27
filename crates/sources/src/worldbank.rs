//! World Bank: the bulk-download CSV and API v2 JSON pages.

use serde_json::Value;

use crate::decode::{Encoding, decode};
use crate::table::text_grid;
use crate::text::{is_missing_marker, normalize_period, parse_number, trim_label};
use crate::{Place, Problem, Read, Record, SourceError};

/// The unit a World Bank indicator name states: `Urban population (% of total population)` → `%`.
fn unit_from_name(name: &str) -> Option<String> {
    if name.contains("(%") || name.contains("(per cent") {
        return Some("%".to_string());
    }
    let (_, unit) = crate::text::unit_in_header(name);
    unit
}

/// Reads a World Bank bulk-download CSV (`API_<indicator>_DS2_en_csv_v2_*.csv`): a few metadata
/// lines (`"Data Source"`, `"Last Updated Date"`), then a header `Country Name, Country Code,
/// Indicator Name, Indicator Code, 1960, 1961, …` with one row per country or aggregate.
///
/// Entity = `Country Code` (ISO3, or the World Bank's aggregate code such as `WLD`), indicator =
/// `Indicator Code`, one record per year column (empty → `value: None`). The unit is `%` when the
/// indicator name says `(% of …)`, else the unit in its name, if any. `countries`: keep only
/// these country codes (rows of other countries are not counted in [`Read::rows_read`]).
/// Places are `label:line`, with the year as the field.
pub fn worldbank_bulk_csv(label: &str, bytes: &[u8], countries: Option<&[&str]>) -> Result<Read, SourceError> {
    let text = decode(label, bytes, Encoding::Utf8)?;
    let grid = text_grid(label, &text, b',')?;
    let expected = "a World Bank bulk CSV: a header row starting \"Country Name\",\"Country Code\",\"Indicator Name\",\"Indicator Code\" within the first 10 lines";
    let first = grid
        .rows
        .iter()
        .take(10)
        .position(|r| {
            r.cells.len() >= 4
                && ["Country Name", "Country Code", "Indicator Name", "Indicator Code"]
                    .iter()
                    .enumerate()
                    .all(|(i, h)| trim_label(&r.cells[i].text()) == *h)
        })
        .ok_or_else(|| SourceError::structure(label, expected))?;
    let header = &grid.rows[first];
    let periods: Vec<(usize, String, String)> = header
        .cells
        .iter()
        .enumerate()
        .skip(4)
        .filter_map(|(i, c)| {
            let h = trim_label(&c.text()).to_string();
            normalize_period(&h).map(|p| (i, p, h))
        })
        .collect();
    let mut read = Read::default();
    for row in &grid.rows[first + 1..] {
        let cell = |i: usize| row.cells.get(i).map(|c| trim_label(&c.text()).to_string()).unwrap_or_default();
        let code = cell(1);
        if row.cells.iter().all(|c| trim_label(&c.text()).is_empty()) {
            continue;
        }
        if countries.is_some_and(|keep| !keep.contains(&code.as_str())) {
            continue;
        }
        read.rows_read += 1;
        if code.is_empty() {
            read.problems.push(Problem {
                place: Place::text(label, u64::from(row.number), "Country Code"),
                reason: "expected a country code, got an empty cell".to_string(),
                raw: row.raw.clone().unwrap_or_default(),
            });
            continue;
        }
        let indicator = cell(3);
        let unit = unit_from_name(&cell(2));
        for (i, period, header) in &periods {
            let text = cell(*i);
            let place = Place::text(label, u64::from(row.number), header);
            if is_missing_marker(&text) {
                read.records.push(Record {
                    entity: code.clone(),
                    indicator: indicator.clone(),
                    period: period.clone(),
                    value: None,
                    unit: unit.clone(),
                    place,
                    raw: text,
                });
            } else if let Some(v) = parse_number(&text) {
                read.records.push(Record {
                    entity: code.clone(),
                    indicator: indicator.clone(),
                    period: period.clone(),
                    value: Some(v),
                    unit: unit.clone(),
                    place,
                    raw: text,
                });
            } else {
                read.problems.push(Problem {
                    place,
                    reason: format!("expected a number, got {text:?}"),
                    raw: row.raw.clone().unwrap_or_default(),
                });
            }
        }
    }
    Ok(read)
}

/// The paging part of a World Bank API v2 page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageInfo {
    /// This page's number (1-based; 0 when there are no data).
    pub page: u64,
    /// The number of pages.
    pub pages: u64,
    /// The number of observations on all pages.
    pub total: u64,
}

fn as_u64(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads one page of a World Bank API v2 JSON answer
/// (`…/v2/country/CHN;WLD/indicator/SP.URB.TOTL.IN.ZS?format=json&page=2`).
///
/// A page is `[ {page, pages, per_page, total, …}, [ {indicator:{id,value}, country:{id,value},
/// countryiso3code, date, value, unit, obs_status, decimal}, … ] ]` (the second element is `null`
/// when there are no data). Entity = `countryiso3code`, or `country.id` when that is empty;
/// indicator = `indicator.id`; period = `date` normalised (`2020`, `2020M09` → `2020-09`,
/// `2020Q1`); `value: null` → `None`; unit = `unit` when not empty. Places are
/// `page N, item I` (1-based items), with field `value` (or `date`, `countryiso3code`).
///
/// The error the API returns with HTTP 200 — `[{"message":[{"id":"120","key":"Invalid value",
/// "value":"…"}]}]` — is [`SourceError::Api`]; bytes that are not JSON are [`SourceError::Json`].
pub fn worldbank_page(label: &str, bytes: &[u8]) -> Result<(PageInfo, Read), SourceError> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|source| SourceError::Json { label: label.to_string(), source })?;
    let expected = "a World Bank API v2 page: a JSON array [ {page, pages, total, …}, [observations] ]";
    let Value::Array(parts) = &doc else {
        return Err(SourceError::structure(label, format!("{expected}, got {}", kind(&doc))));
    };
    let Some(Value::Object(meta)) = parts.first() else {
        return Err(SourceError::structure(label, expected));
    };
    if let Some(messages) = meta.get("message") {
        let first = messages.as_array().and_then(|m| m.first()).unwrap_or(messages);
        return Err(SourceError::Api {
            label: label.to_string(),
            id: as_text(first.get("id")).unwrap_or_default(),
            key: as_text(first.get("key")).unwrap_or_default(),
            message: as_text(first.get("value")).unwrap_or_else(|| first.to_string()),
        });
    }
    let info = match (as_u64(meta.get("page")), as_u64(meta.get("pages")), as_u64(meta.get("total"))) {
        (Some(page), Some(pages), Some(total)) => PageInfo { page, pages, total },
        _ => return Err(SourceError::structure(label, format!("{expected}: the first element has no page, pages and total"))),
    };
    let items: &[Value] = match parts.get(1) {
        None | Some(Value::Null) => &[],
        Some(Value::Array(items)) => items,
        Some(other) => return Err(SourceError::structure(label, format!("{expected}: the second element is {}", kind(other)))),
    };
    let mut read = Read::default();
    for (i, item) in items.iter().enumerate() {
        read.rows_read += 1;
        let raw = item.to_string();
        let place = |field: &str| Place::cell(label, format!("page {}, item {}", info.page, i + 1), field);
        let problem =
            |read: &mut Read, field: &str, reason: String| read.problems.push(Problem { place: place(field), reason, raw: raw.clone() });
        let entity = as_text(item.get("countryiso3code"))
            .filter(|s| !s.trim().is_empty())
            .or_else(|| as_text(item.get("country").and_then(|c| c.get("id"))).filter(|s| !s.trim().is_empty()));
        let Some(entity) = entity else {
            problem(&mut read, "countryiso3code", "expected a country code in countryiso3code or country.id, found none".to_string());
            continue;
        };
        let Some(indicator) = as_text(item.get("indicator").and_then(|c| c.get("id"))).filter(|s| !s.trim().is_empty()) else {
            problem(&mut read, "indicator", "expected an indicator id in indicator.id, found none".to_string());
            continue;
        };
        let date = as_text(item.get("date")).unwrap_or_default();
        let Some(period) = normalize_period(&date) else {
            problem(&mut read, "date", format!("expected a period like 2020, 2020M09 or 2020Q1, got {date:?}"));
            continue;
        };
        let value = match item.get("value") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) if is_missing_marker(s) => None,
            Some(Value::String(s)) => match parse_number(s) {
                Some(v) => Some(v),
                None => {
                    problem(&mut read, "value", format!("expected a number or null, got {s:?}"));
                    continue;
                }
            },
            Some(other) => {
                problem(&mut read, "value", format!("expected a number or null, got {other}"));
                continue;
            }
        };
        let unit = as_text(item.get("unit")).map(|u| u.trim().to_string()).filter(|u| !u.is_empty());
        read.records.push(Record { entity: trim_label(&entity).to_string(), indicator, period, value, unit, place: place("value"), raw });
    }
    Ok((info, read))
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
