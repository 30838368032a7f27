//! Cell text: missing markers, numbers, periods, units.

/// Whether a cell's text marks a missing observation: empty, `—`, `——`, `…`, `...`, `-`, `--`,
/// `..`, `NA`, `N/A`, `n.a.`, `null`, `x`… (after trimming).
pub fn is_missing_marker(text: &str) -> bool {
    let t = text.trim_matches(|c: char| c.is_whitespace() || c == '\u{3000}');
    if t.is_empty() {
        return true;
    }
    // Any run of dashes or dots, ASCII or CJK (—, –, －, …, ．, ⋯).
    if t.chars().all(|c| matches!(c, '-' | '—' | '–' | '－' | '―' | '─' | '…' | '⋯' | '.' | '．' | '·')) {
        return true;
    }
    matches!(t.to_ascii_lowercase().as_str(), "na" | "n/a" | "n.a." | "n.a" | "nan" | "null" | "none" | "x" | "无" | "空")
}

/// Parses a number as statistical tables write it: optional sign, thousands separators
/// (`1,234,567.8`, also `，`), surrounding spaces. Returns `None` for anything else (`12..3`,
/// `8842   30`, `12.5*`). Missing markers are not numbers: test [`is_missing_marker`] first.
pub fn parse_number(text: &str) -> Option<f64> {
    let t = text.trim_matches(|c: char| c.is_whitespace() || c == '\u{3000}');
    if t.is_empty() {
        return None;
    }
    let t: String = t.chars().map(|c| if c == '，' { ',' } else { c }).collect();
    let (sign, body) = match t.as_bytes()[0] {
        b'-' | b'+' => (&t[..1], &t[1..]),
        _ => ("", t.as_str()),
    };
    let plain: String = if body.contains(',') {
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (body, None),
        };
        let groups: Vec<&str> = int.split(',').collect();
        let first_ok = (1..=3).contains(&groups[0].len());
        let rest_ok = groups[1..].iter().all(|g| g.len() == 3);
        if !first_ok || !rest_ok || !groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit())) {
            return None;
        }
        let mut s = groups.concat();
        if let Some(f) = frac {
            s.push('.');
            s.push_str(f);
        }
        s
    } else {
        body.to_string()
    };
    // Only digits, one point and an exponent: f64::from_str also takes "inf" and "nan".
    let ok_chars = plain.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !ok_chars || !plain.bytes().next().is_some_and(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let v: f64 = format!("{sign}{plain}").parse().ok()?;
    v.is_finite().then_some(v)
}

fn chinese_numeral(s: &str) -> Option<u32> {
    match s {
        "一" | "1" => Some(1),
        "二" | "2" => Some(2),
        "三" | "3" => Some(3),
        "四" | "4" => Some(4),
        _ => None,
    }
}

fn year_of(s: &str) -> Option<i32> {
    (s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

fn month_of(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let m: u32 = s.parse().ok()?;
    (1..=12).contains(&m).then_some(m)
}

/// Normalises a period as sources write it to the project's syntax: `2020` (year), `2020-09`
/// (month) or `2020Q3` (quarter). Returns `None` if the text is not a period.
///
/// Accepted: `2010`, `2010年`, `2010A` (annual); `2019-09`, `2019-9`, `2019/09`, `2019.09`,
/// `2019M09`, `2019M9`, `201909`, `2019年9月`, `2019年09月`, `2019年1-9月` (cumulative to
/// September: the month it ends in); `2018Q1`, `2018q1`, `2018-Q1`, `2018 Q1`, `2018年第一季度`,
/// `2018年一季度`, `2018年1季度`, `2018年第1季度`.
pub fn normalize_period(text: &str) -> Option<String> {
    let t: String = text.trim().chars().filter(|c| !c.is_whitespace() && *c != '\u{3000}').collect();
    if let Some(y) = year_of(&t) {
        return Some(y.to_string());
    }
    if t.len() < 5 || !t.is_char_boundary(4) {
        return None;
    }
    let (y, rest) = t.split_at(4);
    let y = year_of(y)?;
    let month = |m: u32| Some(format!("{y}-{m:02}"));
    let quarter = |q: u32| Some(format!("{y}Q{q}"));
    // Chinese forms.
    if let Some(r) = rest.strip_prefix('年') {
        if r.is_empty() || r == "度" || r == "全年" {
            return Some(y.to_string());
        }
        if let Some(m) = r.strip_suffix('月') {
            if let Some((from, to)) = m.split_once(['-', '—', '－', '~', '～']) {
                return (month_of(from) == Some(1)).then(|| month_of(to)).flatten().and_then(month);
            }
            return month_of(m).and_then(month);
        }
        if let Some(q) = r.strip_suffix("季度") {
            let q = q.strip_prefix('第').unwrap_or(q);
            return chinese_numeral(q).and_then(quarter);
        }
        return None;
    }
    match rest {
        "A" | "a" | "Y" => return Some(y.to_string()),
        _ => {}
    }
    let rest_upper = rest.to_ascii_uppercase();
    if let Some(q) = rest_upper.strip_prefix("-Q").or_else(|| rest_upper.strip_prefix('Q')) {
        return (q.len() == 1).then(|| chinese_numeral(q)).flatten().and_then(quarter);
    }
    if let Some(m) = rest_upper.strip_prefix('M') {
        return month_of(m).and_then(month);
    }
    if let Some(m) = rest.strip_prefix(['-', '/', '.']) {
        return month_of(m).and_then(month);
    }
    if rest.len() == 2 {
        return month_of(rest).and_then(month);
    }
    None
}

/// Multiplier prefixes of Chinese units, longest first.
const PREFIXES: &[(&str, f64)] = &[
    ("万亿", 1e12),
    ("千亿", 1e11),
    ("百亿", 1e10),
    ("十亿", 1e9),
    ("千万", 1e7),
    ("百万", 1e6),
    ("十万", 1e5),
    ("亿", 1e8),
    ("万", 1e4),
    ("千", 1e3),
    ("百", 1e2),
    ("十", 1e1),
];

/// A unit atom: its dimension key and its factor to the dimension's base.
fn atom(s: &str) -> Option<(&'static str, f64)> {
    Some(match s {
        "人" | "persons" | "person" | "people" | "inhabitants" => ("人", 1.0),
        "thousands of persons" | "thousand persons" => ("人", 1e3),
        "元" | "元人民币" | "yuan" | "CNY" | "RMB" => ("元", 1.0),
        "美元" | "USD" | "US$" => ("美元", 1.0),
        "港元" => ("港元", 1.0),
        "平方公里" | "平方千米" | "km²" | "km2" | "sq km" => ("km2", 1.0),
        "平方米" | "m²" | "m2" => ("km2", 1e-6),
        "公顷" | "ha" => ("km2", 1e-2),
        "亩" => ("km2", 1.0 / 1500.0),
        "%" | "％" | "percent" | "per cent" => ("%", 1.0),
        "‰" | "per mille" => ("%", 0.1),
        "公里" | "千米" | "km" => ("m", 1e3),
        "米" | "m" => ("m", 1.0),
        "吨" | "t" => ("kg", 1e3),
        "千克" | "公斤" | "kg" => ("kg", 1.0),
        "克" | "g" => ("kg", 1e-3),
        "千瓦时" | "度" | "kWh" => ("kWh", 1.0),
        "千瓦" | "kW" => ("kW", 1.0),
        "立方米" | "m³" | "m3" => ("m3", 1.0),
        "人次" => ("人次", 1.0),
        "个" | "户" | "家" | "所" | "座" | "辆" | "张" | "台" | "套" | "件" | "间" | "次" | "床" | "项" | "篇" | "岁" | "年" | "月"
        | "天" | "日" | "小时" | "部" | "处" | "只" | "头" | "册" | "种" | "条" | "艘" | "架" | "片" => {
            // Each count unit is its own dimension: the key is the unit itself.
            return COUNT_UNITS.iter().find(|u| **u == s).map(|u| (*u, 1.0));
        }
        _ => return None,
    })
}

const COUNT_UNITS: &[&str] = &[
    "个", "户", "家", "所", "座", "辆", "张", "台", "套", "件", "间", "次", "床", "项", "篇", "岁", "年", "月", "天", "日", "小时", "部",
    "处", "只", "头", "册", "种", "条", "艘", "架", "片",
];

/// A simple unit (an atom, possibly with a multiplier prefix): dimension key and factor.
fn simple_unit(s: &str) -> Option<(&'static str, f64)> {
    let s = s.trim();
    if let Some(a) = atom(s) {
        return Some(a);
    }
    for (prefix, factor) in PREFIXES {
        if let Some(rest) = s.strip_prefix(prefix)
            && let Some((key, f)) = atom(rest)
        {
            return Some((key, f * factor));
        }
    }
    None
}

/// A unit's dimension (e.g. `元/人`) and its factor to that dimension's base.
fn unit_scale(s: &str) -> Option<(String, f64)> {
    let s = normalize_unit(s);
    if let Some((key, f)) = simple_unit(&s) {
        return Some((key.to_string(), f));
    }
    let (num, den) = s.split_once('/')?;
    let (nk, nf) = simple_unit(num)?;
    let (dk, df) = simple_unit(den)?;
    Some((format!("{nk}/{dk}"), nf / df))
}

fn normalize_unit(s: &str) -> String {
    let s = s.trim();
    let s = s.strip_prefix("单位：").or_else(|| s.strip_prefix("单位:")).unwrap_or(s).trim();
    s.replace('／', "/").replace('％', "%")
}

/// The factor that converts a value in unit `from` to unit `to` (`value_to = value_from × factor`),
/// or `None` if the units are unknown or measure different things.
///
/// Known: people (人, 千人, 万人, 亿人, persons, thousands of persons), money (元, 千元, 万元,
/// 百万元, 亿元; 美元…), area (平方公里 = 平方千米 = km² = km2, 万平方公里, 平方米, 公顷, 亩),
/// shares (`%` and `‰`: 1 % = 10 ‰), counts (个, 户, 家, 人次…, each its own kind, with
/// multipliers: 万户), mass, length, energy, and ratios of these (`元/人`, `人/平方公里`).
/// The same text on both sides (e.g. `上年=100`) is always factor 1.
///
/// ```
/// assert_eq!(sources::unit_factor("万人", "人"), Some(10_000.0));
/// assert_eq!(sources::unit_factor("亿元", "万元"), Some(10_000.0));
/// assert_eq!(sources::unit_factor("人", "元"), None);
/// ```
pub fn unit_factor(from: &str, to: &str) -> Option<f64> {
    if normalize_unit(from) == normalize_unit(to) {
        return Some(1.0);
    }
    let (fk, ff) = unit_scale(from)?;
    let (tk, tf) = unit_scale(to)?;
    (fk == tk).then_some(ff / tf)
}

/// Whether a text is a unit: a known unit (see [`unit_factor`]), a ratio of known units, or an
/// index base such as `上年=100` / `女=100`.
fn is_unit(s: &str) -> bool {
    let n = normalize_unit(s);
    !n.is_empty() && (unit_scale(&n).is_some() || n.ends_with("=100"))
}

/// Splits a header into its name and the unit it states, if any.
///
/// `城镇人口（万人）` → (`城镇人口`, `万人`); `地区生产总值(亿元)` → (`地区生产总值`, `亿元`);
/// `比重 %` and `比重%` → (`比重`, `%`); `GDP 亿元` → (`GDP`, `亿元`);
/// `有65岁及以上老年人口的户数（户）-合计` → (`有65岁及以上老年人口的户数-合计`, `户`);
/// `性别比（女=100）` → (`性别比`, `女=100`); `（单位：万人）` prefixes are stripped.
/// A parenthesis that is not a unit stays in the name: `0岁（男）` → (`0岁（男）`, none).
pub fn unit_in_header(header: &str) -> (String, Option<String>) {
    let h = clean_header(header);
    // The last parenthesised group that is a unit.
    let chars: Vec<(usize, char)> = h.char_indices().collect();
    let mut close_positions = Vec::new();
    for (i, &(_, c)) in chars.iter().enumerate() {
        if c == ')' || c == '）' {
            close_positions.push(i);
        }
    }
    for &close in close_positions.iter().rev() {
        let open = (0..close).rev().find(|&i| matches!(chars[i].1, '(' | '（'));
        let Some(open) = open else { continue };
        let start = chars[open].0;
        let inner_start = start + chars[open].1.len_utf8();
        let end = chars[close].0;
        let inner = &h[inner_start..end];
        if is_unit(inner) {
            let after = &h[end + chars[close].1.len_utf8()..];
            let name = format!("{}{}", h[..start].trim_end(), after.trim_start());
            return (name.trim().to_string(), Some(normalize_unit(inner)));
        }
    }
    // `GDP 亿元`, `GDP, 亿元`, `GDP/亿元`.
    if let Some(pos) = h.rfind([' ', ',', '，', '、']) {
        let (name, unit) = (&h[..pos], h[pos..].trim_start_matches([' ', ',', '，', '、']));
        if !name.trim().is_empty() && is_unit(unit) {
            return (name.trim().to_string(), Some(normalize_unit(unit)));
        }
    }
    // `比重%`, `比重‰`.
    for suffix in ['%', '％', '‰'] {
        if let Some(name) = h.strip_suffix(suffix)
            && !name.trim().is_empty()
        {
            return (name.trim().to_string(), Some(normalize_unit(&suffix.to_string())));
        }
    }
    (h, None)
}

/// A header's text as matched: line breaks removed, runs of spaces collapsed, trimmed.
pub(crate) fn clean_header(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        match c {
            '\r' | '\n' => {}
            c if c.is_whitespace() || c == '\u{3000}' => space = true,
            c => {
                if space && !out.is_empty() {
                    out.push(' ');
                }
                space = false;
                out.push(c);
            }
        }
    }
    out
}

/// Trims spaces (also the ideographic space) from a label cell.
pub(crate) fn trim_label(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || c == '\u{3000}')
}

/// Whether a row starting with this text is a note below a table.
pub(crate) fn is_note_start(text: &str) -> bool {
    let t = trim_label(text);
    let lower = t.to_ascii_lowercase();
    t.starts_with('注')
        || t.starts_with("资料来源")
        || t.starts_with("数据来源")
        || t.starts_with("来源：")
        || t.starts_with("来源:")
        || t.starts_with("说明：")
        || t.starts_with("说明:")
        || t.starts_with('*')
        || t.starts_with('※')
        || lower.starts_with("source")
        || lower.starts_with("note")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_number("1,234,567.5"), Some(1_234_567.5));
        assert_eq!(parse_number(" -12.5 "), Some(-12.5));
        assert_eq!(parse_number("1.2E+05"), Some(120_000.0));
        assert_eq!(parse_number("12..3"), None);
        assert_eq!(parse_number("12,34"), None);
        assert_eq!(parse_number("8842     30"), None);
        assert_eq!(parse_number("inf"), None);
        assert_eq!(parse_number("NaN"), None);
    }

    #[test]
    fn periods() {
        for (t, p) in [
            ("2010", "2010"),
            ("2010年", "2010"),
            ("2019年9月", "2019-09"),
            ("2019年09月", "2019-09"),
            ("2019年1-9月", "2019-09"),
            ("2019-09", "2019-09"),
            ("2019M09", "2019-09"),
            ("2019M9", "2019-09"),
            ("201909", "2019-09"),
            ("2018Q1", "2018Q1"),
            ("2018-Q4", "2018Q4"),
            ("2018年第一季度", "2018Q1"),
            ("2018年三季度", "2018Q3"),
        ] {
            assert_eq!(normalize_period(t).as_deref(), Some(p), "{t}");
        }
        for t in ["201913", "2019Q5", "20191", "19年", "abc", "2019年3-9月", "2019-13"] {
            assert_eq!(normalize_period(t), None, "{t}");
        }
    }

    #[test]
    fn markers() {
        for t in ["", " ", "—", "——", "…", "……", "-", "..", "NA", "n/a"] {
            assert!(is_missing_marker(t), "{t:?}");
        }
        assert!(!is_missing_marker("0"));
    }
}
