//! NBS easyquery JSON (`data.stats.gov.cn/easyquery.htm?m=QueryData`) → long records.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::text::{parse_number, trim_label};
use crate::worldbank::kind;
use crate::{Missing, MissingWhy, Place, Problem, Read, Record, SourceError};

/// Where the entity of NBS observations comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NbsEntity {
    /// One entity for all observations (e.g. `000000` for national series, databases hgyd/hgjd/hgnd).
    /// An answer with a `reg` dimension of more than one region is refused.
    Fixed(String),
    /// The `reg` dimension (regional databases fsyd/fsjd/fsnd), its codes mapped through this map
    /// (unmapped codes stay as written).
    Region(BTreeMap<String, String>),
}

/// How to read an NBS easyquery answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NbsSpec {
    /// NBS indicator (`zb`) codes such as `A060101` → indicator codes; unmapped keep the NBS code.
    pub indicators: BTreeMap<String, String>,
    /// The entity.
    pub entity: NbsEntity,
}

/// NBS `sj` codes: `201909` → `2019-09`, `2019A`…`2019D` → `2019Q1`…`2019Q4`, `2019` → `2019`.
fn nbs_period(code: &str) -> Option<String> {
    let c = code.trim();
    let year = c.get(..4).filter(|y| y.bytes().all(|b| b.is_ascii_digit()))?;
    match &c[4..] {
        "" => Some(year.to_string()),
        q @ ("A" | "B" | "C" | "D") => Some(format!("{year}Q{}", (q.as_bytes()[0] - b'A' + 1))),
        m if m.len() == 2 && m.bytes().all(|b| b.is_ascii_digit()) => {
            let n: u32 = m.parse().ok()?;
            (1..=12).contains(&n).then(|| format!("{year}-{m}"))
        }
        _ => None,
    }
}

struct Node {
    name: String,
    unit: Option<String>,
}

/// Reads an NBS easyquery answer: `{"returncode": 200, "returndata": {"datanodes": […],
/// "wdnodes": […]}}`.
///
/// Each datanode (`code`, `data: {data, hasdata, strdata}`, `wds: [{wdcode, valuecode}]`) is one
/// observation: indicator from `zb` (mapped), period from `sj` (`201909` → `2019-09`, `2019A` →
/// `2019Q1`), entity fixed or from `reg`. The value is the published figure `strdata` (rounded as
/// NBS shows it), or `data` when `strdata` is empty; the unit is the `zb` node's `unit` when not
/// empty. `hasdata: false` gives `value: None` and an entry in [`Read::missing`] saying why:
/// January of a cumulative (累计) series, a period with no value at all (not yet released), or
/// otherwise not published. Places are `datanodes[i]` (0-based), with field `data`.
pub fn nbs_easyquery(label: &str, bytes: &[u8], spec: &NbsSpec) -> Result<Read, SourceError> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|source| SourceError::Json { label: label.to_string(), source })?;
    let expected = "an NBS easyquery answer: {\"returncode\": 200, \"returndata\": {\"datanodes\": [...], \"wdnodes\": [...]}}";
    let Value::Object(top) = &doc else {
        return Err(SourceError::structure(label, format!("{expected}, got {}", kind(&doc))));
    };
    match top.get("returncode") {
        Some(code) if code.as_i64() == Some(200) || code.as_str() == Some("200") => {}
        Some(code) => {
            let detail = match top.get("returndata") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            return Err(SourceError::structure(label, format!("{expected}, got returncode {code}: {detail}")));
        }
        None => return Err(SourceError::structure(label, format!("{expected}: no returncode"))),
    }
    let rd = top
        .get("returndata")
        .and_then(Value::as_object)
        .ok_or_else(|| SourceError::structure(label, format!("{expected}: no returndata object")))?;
    let datanodes = rd
        .get("datanodes")
        .and_then(Value::as_array)
        .ok_or_else(|| SourceError::structure(label, format!("{expected}: no datanodes array")))?;
    let wdnodes = rd
        .get("wdnodes")
        .and_then(Value::as_array)
        .ok_or_else(|| SourceError::structure(label, format!("{expected}: no wdnodes array")))?;

    // Dimension nodes: wdcode → code → name/unit.
    let mut dims: HashMap<String, HashMap<String, Node>> = HashMap::new();
    for wd in wdnodes {
        let Some(wdcode) = wd.get("wdcode").and_then(Value::as_str) else { continue };
        let nodes = dims.entry(wdcode.to_string()).or_default();
        for n in wd.get("nodes").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
            let Some(code) = n.get("code").and_then(Value::as_str) else { continue };
            let name = n.get("cname").or_else(|| n.get("name")).and_then(Value::as_str).unwrap_or("").to_string();
            let unit = n.get("unit").and_then(Value::as_str).map(|u| u.trim().to_string()).filter(|u| !u.is_empty());
            nodes.insert(code.to_string(), Node { name, unit });
        }
    }
    let regions = dims.get("reg").map_or(0, HashMap::len);
    match &spec.entity {
        NbsEntity::Fixed(_) if regions > 1 => {
            return Err(SourceError::structure(
                label,
                format!("one region for NbsEntity::Fixed, found a reg dimension with {regions} regions (use NbsEntity::Region)"),
            ));
        }
        NbsEntity::Region(_) if !dims.contains_key("reg") && !datanodes.iter().any(|d| wd_value(d, "reg").is_some()) => {
            return Err(SourceError::structure(label, format!("{expected} with a reg dimension for NbsEntity::Region, found none")));
        }
        _ => {}
    }

    struct Pending {
        record: Record,
        period_code: String,
        zb: String,
    }
    let mut read = Read::default();
    let mut pending_missing: Vec<Pending> = Vec::new();
    let mut period_has_data: HashMap<String, bool> = HashMap::new();
    for (i, node) in datanodes.iter().enumerate() {
        read.rows_read += 1;
        let raw = node.to_string();
        let place = |field: &str| Place::cell(label, format!("datanodes[{i}]"), field);
        let problem =
            |read: &mut Read, field: &str, reason: String| read.problems.push(Problem { place: place(field), reason, raw: raw.clone() });
        let Some(zb) = wd_value(node, "zb") else {
            problem(&mut read, "zb", "expected a wds entry with wdcode zb (the indicator), found none".to_string());
            continue;
        };
        let Some(sj) = wd_value(node, "sj") else {
            problem(&mut read, "sj", "expected a wds entry with wdcode sj (the period), found none".to_string());
            continue;
        };
        let Some(period) = nbs_period(&sj) else {
            problem(&mut read, "sj", format!("expected an NBS period like 201909, 2019A…2019D or 2019, got {sj:?}"));
            continue;
        };
        let entity = match &spec.entity {
            NbsEntity::Fixed(code) => code.clone(),
            NbsEntity::Region(map) => match wd_value(node, "reg") {
                Some(reg) => map.get(trim_label(&reg)).cloned().unwrap_or(reg),
                None => {
                    problem(&mut read, "reg", "expected a wds entry with wdcode reg (the region), found none".to_string());
                    continue;
                }
            },
        };
        let Some(data) = node.get("data").and_then(Value::as_object) else {
            problem(&mut read, "data", "expected a data object {data, hasdata, strdata}".to_string());
            continue;
        };
        let has_data = data.get("hasdata").and_then(Value::as_bool).unwrap_or(true);
        let indicator = spec.indicators.get(&zb).cloned().unwrap_or_else(|| zb.clone());
        let unit = dims.get("zb").and_then(|n| n.get(&zb)).and_then(|n| n.unit.clone());
        let value = if has_data {
            let strdata = data.get("strdata").and_then(Value::as_str).map(str::trim).unwrap_or("");
            let v = if strdata.is_empty() { data.get("data").and_then(Value::as_f64) } else { parse_number(strdata) };
            match v {
                Some(v) => Some(v),
                None => {
                    problem(&mut read, "data", format!("expected a number in strdata or data, got strdata {strdata:?}"));
                    continue;
                }
            }
        } else {
            None
        };
        *period_has_data.entry(sj.clone()).or_default() |= has_data;
        let record = Record { entity, indicator, period, value, unit, place: place("data"), raw };
        if has_data {
            read.records.push(record);
        } else {
            read.records.push(record.clone());
            pending_missing.push(Pending { record, period_code: sj, zb });
        }
    }
    for p in pending_missing {
        let name = dims.get("zb").and_then(|n| n.get(&p.zb)).map_or("", |n| n.name.as_str());
        let why = if p.period_code.len() == 6 && p.period_code.ends_with("01") && name.contains("累计") {
            MissingWhy::JanuaryOfCumulative
        } else if !period_has_data.get(&p.period_code).copied().unwrap_or(false) {
            MissingWhy::NotYetReleased
        } else {
            MissingWhy::NotPublished
        };
        let r = p.record;
        read.missing.push(Missing { entity: r.entity, indicator: r.indicator, period: r.period, place: r.place, why });
    }
    Ok(read)
}

fn wd_value(node: &Value, wdcode: &str) -> Option<String> {
    node.get("wds")?
        .as_array()?
        .iter()
        .find(|w| w.get("wdcode").and_then(Value::as_str) == Some(wdcode))
        .and_then(|w| w.get("valuecode"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::nbs_period;

    #[test]
    fn periods() {
        assert_eq!(nbs_period("201909").as_deref(), Some("2019-09"));
        assert_eq!(nbs_period("2019A").as_deref(), Some("2019Q1"));
        assert_eq!(nbs_period("2018D").as_deref(), Some("2018Q4"));
        assert_eq!(nbs_period("2019").as_deref(), Some("2019"));
        assert_eq!(nbs_period("201913"), None);
        assert_eq!(nbs_period("2019E"), None);
    }
}
