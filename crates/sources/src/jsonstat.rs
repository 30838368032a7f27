//! JSON-stat 1.x bundles and 2.0 datasets/collections → long records.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::text::{is_missing_marker, normalize_period, parse_number};
use crate::worldbank::kind;
use crate::{Place, Problem, Read, Record, SourceError};

/// Where the indicator of JSON-stat observations comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonStatIndicator {
    /// This dimension's category ids (mapped through [`JsonStatSpec::indicators`]).
    Dimension(String),
    /// One indicator code for all observations.
    Fixed(String),
}

/// How to read a JSON-stat document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JsonStatSpec {
    /// The dataset of a 1.x bundle; `None`: the only one (a bundle of several is refused).
    pub dataset: Option<String>,
    /// The entity dimension; `None`: the first of `role.geo`.
    pub entity: Option<String>,
    /// The time dimension; `None`: the first of `role.time`.
    pub time: Option<String>,
    /// The indicator; `None`: the dimension that is the first of `role.metric`.
    pub indicator: Option<JsonStatIndicator>,
    /// Dimension id → the one category id to read. Needed for every other dimension with more
    /// than one category (a dataset with such a dimension left free is refused); may also
    /// restrict the entity, time or indicator dimension to one category.
    pub fixed: BTreeMap<String, String>,
    /// Entity category ids → entity codes (unmapped stay as written).
    pub entities: BTreeMap<String, String>,
    /// Indicator category ids → indicator codes (unmapped stay as written).
    pub indicators: BTreeMap<String, String>,
}

/// A dataset linked from a JSON-stat collection (not fetched).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The dataset's address.
    pub href: String,
    /// Its label, if given.
    pub label: Option<String>,
    /// Its class (`dataset`, `collection`), if given.
    pub class: Option<String>,
}

/// What a JSON-stat document gave.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonStat {
    /// The observations of the dataset read.
    Data(Read),
    /// A collection: the linked items, to fetch and read one by one.
    Collection(Vec<Link>),
}

/// A dataset in a JSON-stat document, as [`jsonstat_datasets`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetInfo {
    /// Its name: the bundle key (1.x), or `dataset` for a 2.0 dataset.
    pub name: String,
    /// Its label.
    pub label: Option<String>,
    /// Dimension ids with their number of categories, in `id` order.
    pub dimensions: Vec<(String, usize)>,
    /// Roles (`time`, `geo`, `metric`) → dimension ids.
    pub roles: BTreeMap<String, Vec<String>>,
}

struct Dim<'a> {
    id: String,
    /// Category ids in index order.
    categories: Vec<String>,
    body: &'a Value,
}

impl Dim<'_> {
    fn category_label(&self, cat: &str) -> Option<&str> {
        self.body.get("category")?.get("label")?.get(cat)?.as_str()
    }

    fn unit(&self, cat: &str) -> Option<String> {
        let u = self.body.get("category")?.get("unit")?.get(cat)?;
        ["label", "symbol", "unit"].iter().find_map(|k| u.get(*k).and_then(Value::as_str)).map(str::to_string)
    }
}

struct Dataset<'a> {
    name: String,
    label: Option<String>,
    dims: Vec<Dim<'a>>,
    roles: BTreeMap<String, Vec<String>>,
    value: &'a Value,
    status: Option<&'a Value>,
    notes: Vec<String>,
}

fn categories(label: &str, id: &str, dim: &Value) -> Result<Vec<String>, SourceError> {
    let cat = dim.get("category");
    let err = |what: &str| SourceError::structure(label, format!("dimension `{id}` with {what}"));
    match cat.and_then(|c| c.get("index")) {
        Some(Value::Array(ids)) => {
            ids.iter().map(|v| v.as_str().map(str::to_string).ok_or_else(|| err("string category ids in category.index"))).collect()
        }
        Some(Value::Object(map)) => {
            let mut pairs: Vec<(u64, String)> = Vec::with_capacity(map.len());
            for (k, v) in map {
                pairs.push((v.as_u64().ok_or_else(|| err("integer positions in category.index"))?, k.clone()));
            }
            pairs.sort();
            if pairs.iter().enumerate().any(|(i, (p, _))| *p != i as u64) {
                return Err(err("positions 0, 1, 2… in category.index"));
            }
            Ok(pairs.into_iter().map(|(_, k)| k).collect())
        }
        Some(_) => Err(err("category.index as an array or an object")),
        None => match cat.and_then(|c| c.get("label")).and_then(Value::as_object) {
            Some(labels) if labels.len() == 1 => Ok(labels.keys().cloned().collect()),
            Some(_) => Err(err("category.index (it has several categories, and the order of category.label does not count)")),
            None => Err(err("category.index or category.label")),
        },
    }
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array).map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

fn roles_of(v: Option<&Value>) -> BTreeMap<String, Vec<String>> {
    v.and_then(Value::as_object).map(|m| m.iter().map(|(k, ids)| (k.clone(), string_list(Some(ids)))).collect()).unwrap_or_default()
}

/// `dimension_holder` has the dimension objects; `meta` has id/size/role (the same object in 1.x).
fn dataset<'a>(
    label: &str,
    name: &str,
    ds: &'a Map<String, Value>,
    dims_obj: &'a Map<String, Value>,
    meta: &'a Map<String, Value>,
) -> Result<Dataset<'a>, SourceError> {
    let ids = string_list(meta.get("id"));
    if ids.is_empty() {
        return Err(SourceError::structure(label, format!("dataset `{name}` with a list of dimension ids (`id`)")));
    }
    let sizes: Vec<Option<u64>> =
        meta.get("size").and_then(Value::as_array).map(|a| a.iter().map(Value::as_u64).collect()).unwrap_or_default();
    let mut dims = Vec::with_capacity(ids.len());
    for id in &ids {
        let body = dims_obj
            .get(id)
            .ok_or_else(|| SourceError::structure(label, format!("dataset `{name}` with a dimension object `{id}`, listed in its id")))?;
        dims.push(Dim { id: id.clone(), categories: categories(label, id, body)?, body });
    }
    let counts: Vec<usize> = dims.iter().map(|d| d.categories.len()).collect();
    let mut notes = Vec::new();
    let declared: Vec<String> = sizes.iter().map(|s| s.map_or("?".to_string(), |s| s.to_string())).collect();
    if sizes.len() != ids.len() || sizes.iter().zip(&counts).any(|(s, c)| *s != Some(*c as u64)) {
        notes.push(format!(
            "{label}: dataset `{name}`: size [{}] does not match its {} dimensions [{}]; used the category counts [{}]",
            declared.join(", "),
            ids.len(),
            ids.join(", "),
            counts.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
        ));
    }
    let value = ds.get("value").ok_or_else(|| SourceError::structure(label, format!("dataset `{name}` with a `value` array or object")))?;
    let total: usize = counts.iter().product();
    match value {
        Value::Array(a) if a.len() != total => {
            return Err(SourceError::structure(
                label,
                format!("dataset `{name}`: {total} values (the product of its dimension sizes), got {}", a.len()),
            ));
        }
        Value::Array(_) => {}
        Value::Object(m) => {
            if let Some(bad) = m.keys().find(|k| k.parse::<usize>().map_or(true, |i| i >= total)) {
                return Err(SourceError::structure(
                    label,
                    format!("dataset `{name}`: value keys 0…{}, got {bad:?}", total.saturating_sub(1)),
                ));
            }
        }
        other => {
            return Err(SourceError::structure(label, format!("dataset `{name}`: `value` as an array or an object, got {}", kind(other))));
        }
    }
    Ok(Dataset {
        name: name.to_string(),
        label: ds.get("label").and_then(Value::as_str).map(str::to_string),
        dims,
        roles: roles_of(meta.get("role")),
        value,
        status: ds.get("status"),
        notes,
    })
}

enum Doc<'a> {
    Datasets(Vec<Dataset<'a>>),
    Collection(Vec<Link>),
}

fn parse<'a>(label: &str, doc: &'a Value) -> Result<Doc<'a>, SourceError> {
    let expected = "a JSON-stat document: a 2.0 dataset or collection, or a 1.x bundle of datasets";
    let Value::Object(top) = doc else {
        return Err(SourceError::structure(label, format!("{expected}, got {}", kind(doc))));
    };
    match top.get("class").and_then(Value::as_str) {
        Some("collection") => {
            let items = top.get("link").and_then(|l| l.get("item")).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
            let links = items
                .iter()
                .filter_map(|i| {
                    Some(Link {
                        href: i.get("href")?.as_str()?.to_string(),
                        label: i.get("label").and_then(Value::as_str).map(str::to_string),
                        class: i.get("class").and_then(Value::as_str).map(str::to_string),
                    })
                })
                .collect();
            return Ok(Doc::Collection(links));
        }
        Some("dataset") => {
            let dims = top
                .get("dimension")
                .and_then(Value::as_object)
                .ok_or_else(|| SourceError::structure(label, "a JSON-stat 2.0 dataset with a `dimension` object"))?;
            return Ok(Doc::Datasets(vec![dataset(label, "dataset", top, dims, top)?]));
        }
        Some(other) if other != "bundle" => return Err(SourceError::structure(label, format!("{expected}, got class {other:?}"))),
        _ => {}
    }
    // 1.x bundle: every member with a `dimension` object is a dataset.
    let mut datasets = Vec::new();
    for (name, ds) in top {
        let Some(ds) = ds.as_object() else { continue };
        let Some(dims) = ds.get("dimension").and_then(Value::as_object) else { continue };
        datasets.push(dataset(label, name, ds, dims, dims)?);
    }
    if datasets.is_empty() {
        return Err(SourceError::structure(label, format!("{expected}, found no dataset")));
    }
    Ok(Doc::Datasets(datasets))
}

fn load(label: &str, bytes: &[u8]) -> Result<Value, SourceError> {
    serde_json::from_slice(bytes).map_err(|source| SourceError::Json { label: label.to_string(), source })
}

/// Lists the datasets of a JSON-stat document (empty for a collection).
pub fn jsonstat_datasets(label: &str, bytes: &[u8]) -> Result<Vec<DatasetInfo>, SourceError> {
    let doc = load(label, bytes)?;
    Ok(match parse(label, &doc)? {
        Doc::Collection(_) => Vec::new(),
        Doc::Datasets(ds) => ds
            .into_iter()
            .map(|d| DatasetInfo {
                name: d.name,
                label: d.label,
                dimensions: d.dims.iter().map(|x| (x.id.clone(), x.categories.len())).collect(),
                roles: d.roles,
            })
            .collect(),
    })
}

/// Reads a JSON-stat document: a 2.0 dataset (`class: dataset`, `id`, `size`, `dimension`,
/// `value` as an array or a sparse object, `status`), a 1.x bundle (top-level keys are datasets
/// with `dimension.id` / `dimension.size` / `dimension.role`), or a 2.0 collection (its linked
/// items are returned, not fetched).
///
/// Values are indexed row-major over the dimensions in `id` order. One record per combination
/// of the categories of the entity, time and indicator dimensions (every other dimension fixed by
/// the spec or of size 1); a value that is `null` or absent from a sparse object is `None`.
/// Periods are the time category ids (or labels) normalised: `2010`, `2010M09` → `2010-09`,
/// `2010Q1`. The unit is the `category.unit` label of a dimension's chosen category. Places are
/// `dataset <name>, value[<index>]`, field `value`; `raw` is `{"index","value","status"}`.
/// A `size` that disagrees with the dimensions is replaced by the category counts, with a note.
pub fn jsonstat(label: &str, bytes: &[u8], spec: &JsonStatSpec) -> Result<JsonStat, SourceError> {
    let doc = load(label, bytes)?;
    let mut datasets = match parse(label, &doc)? {
        Doc::Collection(links) => return Ok(JsonStat::Collection(links)),
        Doc::Datasets(ds) => ds,
    };
    let ds = match &spec.dataset {
        Some(name) => {
            let names: Vec<String> = datasets.iter().map(|d| d.name.clone()).collect();
            let i = datasets
                .iter()
                .position(|d| &d.name == name)
                .ok_or_else(|| SourceError::structure(label, format!("a dataset `{name}`, found {}", names.join(", "))))?;
            datasets.swap_remove(i)
        }
        None if datasets.len() == 1 => datasets.pop().expect("one dataset"),
        None => {
            let names: Vec<String> = datasets.iter().map(|d| d.name.clone()).collect();
            return Err(SourceError::structure(
                label,
                format!("one dataset, found {} ({}): name one in JsonStatSpec::dataset", names.len(), names.join(", ")),
            ));
        }
    };
    read_dataset(label, ds, spec).map(JsonStat::Data)
}

fn read_dataset(label: &str, ds: Dataset<'_>, spec: &JsonStatSpec) -> Result<Read, SourceError> {
    let name = &ds.name;
    let err = |what: String| SourceError::structure(label, what);
    let dim_list = ds.dims.iter().map(|d| d.id.as_str()).collect::<Vec<_>>().join(", ");
    let dim_index = |id: &str| ds.dims.iter().position(|d| d.id == id);
    let role = |r: &str| ds.roles.get(r).and_then(|v| v.first()).cloned();
    let pick = |given: &Option<String>, r: &str, what: &str| -> Result<usize, SourceError> {
        let id = given.clone().or_else(|| role(r)).ok_or_else(|| {
            err(format!("the {what} dimension named in the spec: dataset `{name}` has no role.{r} (dimensions: {dim_list})"))
        })?;
        dim_index(&id).ok_or_else(|| err(format!("a {what} dimension `{id}` in dataset `{name}` (dimensions: {dim_list})")))
    };
    let entity = pick(&spec.entity, "geo", "entity")?;
    let time = pick(&spec.time, "time", "time")?;
    let indicator = match &spec.indicator {
        Some(JsonStatIndicator::Fixed(code)) => Err(code.clone()),
        Some(JsonStatIndicator::Dimension(id)) => Ok(pick(&Some(id.clone()), "metric", "indicator")?),
        None => Ok(pick(&None, "metric", "indicator")?),
    };
    if entity == time || indicator.as_ref().is_ok_and(|i| *i == entity || *i == time) {
        return Err(err(format!("different dimensions for the entity, the time and the indicator of dataset `{name}`")));
    }
    for id in spec.fixed.keys() {
        if dim_index(id).is_none() {
            return Err(err(format!("a dimension `{id}` (fixed in the spec) in dataset `{name}` (dimensions: {dim_list})")));
        }
    }
    // The categories read in each dimension.
    let mut chosen: Vec<Vec<usize>> = Vec::with_capacity(ds.dims.len());
    for (k, d) in ds.dims.iter().enumerate() {
        let free = k == entity || k == time || indicator.as_ref().is_ok_and(|i| *i == k);
        if let Some(cat) = spec.fixed.get(&d.id) {
            let i = d.categories.iter().position(|c| c == cat).ok_or_else(|| {
                err(format!(
                    "a category `{cat}` (fixed in the spec) in dimension `{}` of dataset `{name}` (categories: {})",
                    d.id,
                    preview(&d.categories)
                ))
            })?;
            chosen.push(vec![i]);
        } else if free {
            chosen.push((0..d.categories.len()).collect());
        } else if d.categories.len() == 1 {
            chosen.push(vec![0]);
        } else {
            return Err(err(format!(
                "one category or a fixed one (JsonStatSpec::fixed) in every dimension but the entity, time and indicator: dimension `{}` of dataset `{name}` has {} ({})",
                d.id,
                d.categories.len(),
                preview(&d.categories)
            )));
        }
    }
    let strides: Vec<usize> = {
        let mut s = vec![1usize; ds.dims.len()];
        for k in (0..ds.dims.len().saturating_sub(1)).rev() {
            s[k] = s[k + 1] * ds.dims[k + 1].categories.len();
        }
        s
    };
    let total: usize = ds.dims.iter().map(|d| d.categories.len()).product();
    let status_of = |idx: usize| -> Option<Value> {
        match ds.status? {
            Value::String(s) => Some(Value::String(s.clone())),
            Value::Array(a) if a.len() == 1 => a.first().cloned(),
            Value::Array(a) if a.len() == total => a.get(idx).cloned().filter(|v| !v.is_null()),
            Value::Object(m) => m.get(&idx.to_string()).cloned(),
            _ => None,
        }
    };
    let periods: Vec<Option<String>> = ds.dims[time]
        .categories
        .iter()
        .map(|c| normalize_period(c).or_else(|| ds.dims[time].category_label(c).and_then(normalize_period)))
        .collect();

    let mut read = Read { notes: ds.notes.clone(), ..Read::default() };
    let mut pos = vec![0usize; ds.dims.len()];
    if chosen.iter().any(Vec::is_empty) {
        return Ok(read);
    }
    loop {
        let cats: Vec<usize> = pos.iter().enumerate().map(|(k, &p)| chosen[k][p]).collect();
        let idx: usize = cats.iter().zip(&strides).map(|(c, s)| c * s).sum();
        read.rows_read += 1;
        let v = match ds.value {
            Value::Array(a) => a.get(idx),
            Value::Object(m) => m.get(&idx.to_string()),
            _ => None,
        };
        let status = status_of(idx);
        let raw = match &status {
            Some(s) => json!({"index": idx, "value": v, "status": s}).to_string(),
            None => json!({"index": idx, "value": v}).to_string(),
        };
        let place = Place::cell(label, format!("dataset {name}, value[{idx}]"), "value");
        let time_cat = &ds.dims[time].categories[cats[time]];
        let value = match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(Value::String(s)) if is_missing_marker(s) => Ok(None),
            Some(Value::String(s)) => parse_number(s).map(Some).ok_or_else(|| format!("expected a number or null, got {s:?}")),
            Some(other) => Err(format!("expected a number or null, got {other}")),
        };
        match (value, &periods[cats[time]]) {
            (Err(reason), _) => read.problems.push(Problem { place, reason, raw }),
            (Ok(_), None) => read.problems.push(Problem {
                place: Place { field: ds.dims[time].id.clone(), ..place },
                reason: format!("expected a period like 2010, 2010M09 or 2010Q1 as the time category, got {time_cat:?}"),
                raw,
            }),
            (Ok(value), Some(period)) => {
                let ent = &ds.dims[entity].categories[cats[entity]];
                let entity_code = spec.entities.get(ent).cloned().unwrap_or_else(|| ent.clone());
                let indicator_code = match &indicator {
                    Err(code) => code.clone(),
                    Ok(i) => {
                        let c = &ds.dims[*i].categories[cats[*i]];
                        spec.indicators.get(c).cloned().unwrap_or_else(|| c.clone())
                    }
                };
                let unit = ds.dims.iter().enumerate().find_map(|(k, d)| d.unit(&d.categories[cats[k]]));
                read.records.push(Record {
                    entity: entity_code,
                    indicator: indicator_code,
                    period: period.clone(),
                    value,
                    unit,
                    place,
                    raw,
                });
            }
        }
        // Next combination, last dimension fastest.
        let mut k = ds.dims.len();
        loop {
            if k == 0 {
                return Ok(read);
            }
            k -= 1;
            pos[k] += 1;
            if pos[k] < chosen[k].len() {
                break;
            }
            pos[k] = 0;
        }
    }
}

fn preview(cats: &[String]) -> String {
    let shown: Vec<&str> = cats.iter().take(6).map(String::as_str).collect();
    if cats.len() > shown.len() { format!("{}, …", shown.join(", ")) } else { shown.join(", ") }
}
