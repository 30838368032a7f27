//! The phrase rules: values and their units, labels, comparators, years, pairings, from–to statements,
//! and which figures are targets.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;

use crate::layout::{Joined, Layout, PartKind};
use crate::{IndicatorName, Kind, Options, Row};

// ---------------------------------------------------------------------------------------------------
// Vocabulary
// ---------------------------------------------------------------------------------------------------

/// Units, longest first (the alternation is ordered).
const UNITS: &str = "个百分点|百分点|万平方公里|万平方千米|平方米公里|平方公里|平方千米|万平方米|平方米|万公顷|公顷|万亩|亩|\
亿立方米|万立方米|微克/立方米|毫克/立方米|立方米|亿美元|万美元|美元|亿元|万元|元|万人次|人次|万余人|万多人|余万人|多万人|万人|人|万名|名|万户|户|\
万套|套|万吨|吨|万千瓦|千瓦|公里|千米|万辆|辆|个|家|条|处|座|所|张|台|间|栋|倍|天|万|亿|%|km²|km2";

/// Units that count things: such a figure is a target only with an action verb (建设, 完成…).
const COUNT_UNITS: [&str; 14] = [
    "个", "家", "条", "处", "座", "所", "张", "台", "间", "栋", "套", "辆", "户", "名",
];

/// Words right after a number that make it a date, an ordinal, a duration or a name, not a value.
const NOT_A_VALUE_AFTER: [&str; 24] = [
    "年", "月", "日", "号", "时", "小时", "分钟", "周岁", "岁", "世纪", "届", "期", "次", "级",
    "批", "版", "代", "轮", "型", "强", "位", "国道", "千伏", "省道",
];

/// Verbs before a value, with the comparator they give. Longest first within each list.
#[rustfmt::skip]
const GE_VERBS: [&str; 22] = [
    "不低于", "不少于", "提高到", "提高至", "提升到", "提升至", "增加到", "增加至", "增长到", "扩大到", "扩大至", "发展到", "发展至", "上升到", "达到", "超过",
    "突破", "增至", "高于", "达", "超", "逾",
];
#[rustfmt::skip]
const LE_VERBS: [&str; 17] = [
    "缩小到", "缩小至", "缩小为", "下降到", "下降至", "降低到", "降低至", "减少到", "减少至", "控制在", "调控在", "不超过", "不高于", "降到", "降至", "低于",
    "压缩到",
];

/// Verbs and adverbs stripped from the end of a label before it is named.
#[rustfmt::skip]
const TRAILING_WORDS: [&str; 63] = [
    "分别", "依次", "不低于", "不少于", "不超过", "不高于", "提高到", "提高至", "提升到", "提升至", "增加到", "增加至", "增长到", "扩大到", "扩大至", "发展到",
    "发展至", "上升到", "缩小到", "缩小至", "缩小为", "下降到", "下降至", "降低到", "降低至", "减少到", "减少至", "控制在", "调控在", "稳定在", "保持在", "调整为",
    "达到", "超过", "突破", "实现", "约为", "大约", "约达", "已达", "增至", "降到", "降至", "合计", "共计", "总计", "逐步", "为", "是", "达", "超",
    "约", "均", "共", "有", "已", "近", "将", "仅", "总共", "保持", "维持", "稳定",
];

/// Action verbs that make a count ("15 个乡村公园") a target.
#[rustfmt::skip]
const COUNT_VERBS: [&str; 29] = [
    "建设", "新建", "建成", "组建", "完成", "实现", "培育", "创建", "撤销", "调整为", "新增", "打造", "搬迁", "发展到", "增加到", "增至", "达到", "突破",
    "超过", "改造", "引进", "扶持", "设立", "力争", "培训", "新设", "推出", "配置", "配备",
];

/// Words that mark a statement about the future in a document without plan structure.
#[rustfmt::skip]
const FUTURE_WORDS: [&str; 9] = [
    "力争", "预期", "确保", "争取", "预计", "努力", "每年", "目标是", "目标为",
];

static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\d+(?:\.\d+)?(?:[:：∶]\d+(?:\.\d+)?)+|\d+/\d+|\d+(?:\.\d+)?(?:(?:—{1,2}|[–－~～\-])\d+(?:\.\d+)?)?",
    )
    .unwrap()
});
static RANGE_TAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"^(?P<dash>—{{1,2}}|[–－~～\-]|至)(?P<num>\d+(?:\.\d+)?)(?P<unit>{UNITS})(?P<qual>以上|以内|以下|左右)?")).unwrap()
});
static SUFFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"^(?P<approx>余|多)?(?P<unit>{UNITS})?(?P<qual>以上|以内|以下|左右|之内)?"
    ))
    .unwrap()
});
static WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?P<fan>翻[一两二三四]?番)|(?:增长|提高|扩大|增加)(?P<bei>[一两二三四五六七八九十]倍)|(?:减少|降低|下降|压减)(?P<half>一半)|(?P<yiv>超过|突破|达到|超|达|逾)(?P<yi>[一二三四五六七八九]?[十百千万]亿)(?P<yiunit>元)?|(?P<rank>[一二三四五六七八九十]{1,3})(?P<rankunit>强)以内",
    )
    .unwrap()
});
static YEAR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?P<pre>力争到|争取到|预计到|预计至|截止到|截至|截止|到|至)?(?P<y1>(?:19|20)\d{2})(?:(?:—{1,2}|[–－~～\-]|至|到)(?P<y2>(?:19|20)\d{2}))?年(?P<suf>底|末|初)?(?P<of>的)?",
    )
    .unwrap()
});
static FIVE_YEAR_PLAN_END: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?P<pre>力争到|争取到|到|至)?“?十(?P<n>[一二三四五六])五”?(?:时期|期)?末").unwrap()
});
static FROM_TO_MIDDLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:(?:19|20)\d{2}年的?)?(?:年均)?(?:提高|提升|增加|增长|上升|下降|降低|缩小|减少|扩大|发展|跃升)(?:到|至|为)(?:(?:19|20)\d{2}年的?)?$").unwrap()
});
static YEAR_PHRASE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:力争到|争取到|预计到|预计至|截止到|截至|截止|到|至|在)?(?:19|20)\d{2}(?:(?:—{1,2}|[–－~～\-]|至|到)(?:19|20)\d{2})?年(?:底|末|初|前|以前)?(?:的)?|“?十[一二三四五六]五”?(?:期间|时期|期末|末)?的?").unwrap()
});
static RELATIVE_CHANGE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<subjects>[^、]+(?:、[^、]+)+)(?P<rest>(?:较|比)(?:19|20)\d{2}年.*)$").unwrap()
});

/// The built-in names of the six baseline codes.
pub(crate) fn builtin_indicators() -> Vec<IndicatorName> {
    let entry = |code: &str, names: &[&str]| IndicatorName {
        code: code.to_string(),
        names: names.iter().map(|n| n.to_string()).collect(),
    };
    vec![
        entry(
            "area",
            &[
                "行政区域面积",
                "行政区划面积",
                "总面积",
                "土地总面积",
                "土地面积",
                "国土面积",
                "幅员面积",
                "区域面积",
                "区域总面积",
                "镇域面积",
                "县域面积",
                "市域面积",
                "辖区面积",
                "规划控制面积",
                "面积",
            ],
        ),
        entry(
            "pop_resident",
            &["常住人口", "常住总人口", "常驻人口", "市域常住人口"],
        ),
        entry("pop_hukou", &["户籍人口", "户籍总人口"]),
        entry(
            "urban_rate_resident",
            &[
                "常住人口城镇化率",
                "常住人口的城镇化率",
                "常驻人口城镇化率",
                "常住总人口城镇化率",
                "常住城镇化率",
                "常住人口城镇化水平",
            ],
        ),
        entry(
            "urban_rate_hukou",
            &[
                "户籍人口城镇化率",
                "户籍人口的城镇化率",
                "户籍城镇化率",
                "户籍人口城镇化水平",
            ],
        ),
        entry("gdp", &["地区生产总值", "生产总值", "GDP"]),
    ]
}

// ---------------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Number,
    Range,
    Ratio,
    Fraction,
    Words,
}

#[derive(Debug, Clone)]
struct Token {
    /// Char index where the value starts.
    start: usize,
    value: String,
    unit: String,
    /// After the unit and any qualifier.
    stop: usize,
    qual: &'static str,
    approx: bool,
    class: Class,
    /// A comparator fixed by a word pattern ("超千亿", "十强以内").
    fixed_comparator: Option<&'static str>,
}

impl Token {
    fn is_count(&self) -> bool {
        COUNT_UNITS.contains(&self.unit.as_str())
    }
}

fn tokenize(j: &Joined) -> Vec<Token> {
    let s = &j.string;
    let mut tokens = Vec::new();
    let mut consumed = 0;
    for m in NUMBER.find_iter(s) {
        let start = j.ci(m.start());
        if start < consumed {
            continue;
        }
        let before = if start > 0 {
            Some(j.chars[start - 1])
        } else {
            None
        };
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '第' || c == '/') {
            continue;
        }
        let rest = &s[m.end()..];
        if rest.starts_with(|c: char| c.is_ascii_alphabetic()) && !rest.starts_with("km") {
            continue;
        }
        let caps = SUFFIX
            .captures(rest)
            .expect("the suffix pattern matches the empty string");
        let approx_len = caps.name("approx").map_or(0, |a| a.as_str().len());
        let after_approx = &rest[approx_len..];
        let mut unit = caps.name("unit").map_or("", |u| u.as_str());
        let mut suffix_end = caps.get(0).map_or(0, |c| c.end());
        let mut qual_text = caps.name("qual").map(|q| q.as_str());
        // "8 万人口转移": the unit is 万, "人口" is the indicator's.
        if unit.ends_with('人') && after_approx[unit.len()..].starts_with('口') {
            unit = &unit[..unit.len() - '人'.len_utf8()];
            suffix_end = approx_len + unit.len();
            qual_text = None;
        }
        if (unit.is_empty() || unit == "名" || unit == "天")
            && NOT_A_VALUE_AFTER
                .iter()
                .any(|w| after_approx.starts_with(w))
        {
            continue;
        }
        let mut text = m.as_str().to_string();
        // "60%—65%": a range with the unit on both ends.
        if !unit.is_empty() && qual_text.is_none() {
            let tail = &rest[suffix_end..];
            if let Some(dash) = RANGE_TAIL.captures(tail)
                && &dash["unit"] == unit
            {
                text = format!("{text}{}{}", &dash["dash"], &dash["num"]);
                suffix_end += dash.get(0).unwrap().end();
                if let Some(q) = dash.name("qual") {
                    qual_text = Some(q.as_str());
                }
            }
        }
        let qual = match qual_text {
            Some("以上") => "以上",
            Some("以内") => "以内",
            Some("以下") => "以下",
            Some("左右") => "左右",
            Some("之内") => "以内",
            _ => "",
        };
        let text = text.as_str();
        let class = if text.contains([':', '：', '∶']) {
            Class::Ratio
        } else if text.contains('/') {
            Class::Fraction
        } else if text.chars().skip(1).any(|c| "—–－~～-".contains(c)) {
            Class::Range
        } else {
            Class::Number
        };
        let value = if class == Class::Ratio {
            text.replace(['：', '∶'], ":")
        } else {
            text.to_string()
        };
        consumed = j.ci(m.end() + suffix_end);
        tokens.push(Token {
            start,
            value,
            unit: unit.to_string(),
            stop: j.ci(m.end() + suffix_end),
            qual,
            approx: approx_len > 0 || unit.contains(['余', '多']),
            class,
            fixed_comparator: None,
        });
    }
    for caps in WORDS.captures_iter(s) {
        let whole = caps.get(0).unwrap();
        let (value, unit, comparator) = if let Some(v) = caps.name("fan") {
            (v, "", "=")
        } else if let Some(v) = caps.name("bei") {
            (v, "", "=")
        } else if let Some(v) = caps.name("half") {
            (v, "", "=")
        } else if let Some(v) = caps.name("yi") {
            let unit = if caps.name("yiunit").is_some() {
                "元"
            } else {
                ""
            };
            (v, unit, ">=")
        } else if let Some(v) = caps.name("rank") {
            (v, "强", "<=")
        } else {
            continue;
        };
        let qual = if caps.name("rank").is_some() {
            "以内"
        } else {
            ""
        };
        tokens.push(Token {
            start: j.ci(value.start()),
            value: value.as_str().to_string(),
            unit: unit.to_string(),
            stop: j.ci(whole.end()),
            qual,
            approx: false,
            class: Class::Words,
            fixed_comparator: Some(comparator),
        });
    }
    tokens.sort_by_key(|t| t.start);
    tokens
}

// ---------------------------------------------------------------------------------------------------
// Text structure: clauses, sentences, enclosures, years
// ---------------------------------------------------------------------------------------------------

fn is_clause_delimiter(chars: &[char], i: usize) -> bool {
    match chars[i] {
        '，' | ',' | '；' | ';' | '。' | '！' | '!' | '？' | '?' | '\n' => true,
        '：' | ':' => {
            let digit_before = i > 0 && chars[i - 1].is_ascii_digit();
            let digit_after = chars.get(i + 1).is_some_and(|c| c.is_ascii_digit());
            !(digit_before && digit_after)
        }
        _ => false,
    }
}

fn is_sentence_delimiter(c: char) -> bool {
    matches!(c, '。' | '！' | '!' | '？' | '?' | '\n')
}

fn sentence_start(chars: &[char], at: usize) -> usize {
    let mut i = at;
    while i > 0 && !is_sentence_delimiter(chars[i - 1]) {
        i -= 1;
    }
    i
}

fn clause_start(chars: &[char], at: usize) -> usize {
    let mut i = at;
    while i > 0 && !is_clause_delimiter(chars, i - 1) {
        i -= 1;
    }
    i
}

fn clause_end(chars: &[char], at: usize) -> usize {
    let mut i = at;
    while i < chars.len() && !is_clause_delimiter(chars, i) {
        i += 1;
    }
    i
}

/// What a char stands inside of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Enclosure {
    Open,
    /// Quotes or book-title marks: names, programme labels ("5510"行动), titles.
    Quoted,
    /// Brackets right after a quoted label: the label's explanation ("1313"（…3 个副中心…）).
    Explanation,
    /// Other brackets: an aside, which may still state a figure.
    Bracketed,
}

/// For each char, what it stands inside of. An opening mark without its closing mark nearby (OCR
/// noise) encloses nothing.
fn enclosures(chars: &[char]) -> Vec<Enclosure> {
    let mut flags = vec![Enclosure::Open; chars.len()];
    for (i, &c) in chars.iter().enumerate() {
        let (close, limit, kind): (&[char], usize, Enclosure) = match c {
            '“' => (&['”'], 40, Enclosure::Quoted),
            '「' => (&['」'], 40, Enclosure::Quoted),
            '‘' => (&['’'], 40, Enclosure::Quoted),
            '《' => (&['》'], 60, Enclosure::Quoted),
            '〈' => (&['〉'], 60, Enclosure::Quoted),
            '（' | '(' => {
                let after_label = i > 0 && matches!(chars[i - 1], '”' | '》' | '」');
                let kind = if after_label {
                    Enclosure::Explanation
                } else {
                    Enclosure::Bracketed
                };
                (&['）', ')'], 80, kind)
            }
            _ => continue,
        };
        let end = (i + 1..chars.len().min(i + 1 + limit))
            .take_while(|&k| chars[k] != '\n')
            .find(|&k| close.contains(&chars[k]));
        if let Some(end) = end {
            for flag in &mut flags[i..=end] {
                if *flag == Enclosure::Open || kind != Enclosure::Bracketed {
                    *flag = kind;
                }
            }
        }
    }
    flags
}

#[derive(Debug, Clone)]
struct YearMark {
    start: usize,
    end: usize,
    year: i32,
    /// "到/至/力争到 YYYY 年": a deadline.
    future: bool,
    /// Governs the statements after it (not "比 2010 年", not "2010 年的").
    governing: bool,
    /// Stands at the start of its sentence (or after a semicolon).
    initial: bool,
}

fn year_marks(j: &Joined) -> Vec<YearMark> {
    let chars = &j.chars;
    let mut marks = Vec::new();
    let mut push = |start: usize, end: usize, year: i32, future: bool, local: bool| {
        let before: String = chars[start.saturating_sub(2)..start].iter().collect();
        let reference = ["比", "较", "与", "同", "和", "自", "从", "由"]
            .iter()
            .any(|w| before.ends_with(w))
            || before.ends_with("相比");
        let after: String = chars[end..(end + 2).min(chars.len())].iter().collect();
        let since = after.starts_with("以来");
        let mut k = start;
        while k > 0 && matches!(chars[k - 1], '—' | '-' | '“' | '（' | '(') {
            k -= 1;
        }
        let initial =
            k == 0 || matches!(chars[k - 1], '。' | '；' | ';' | '！' | '？' | '\n' | '：');
        marks.push(YearMark {
            start,
            end,
            year,
            future,
            governing: !reference && !since && !local,
            initial,
        });
    };
    for caps in YEAR.captures_iter(&j.string) {
        let whole = caps.get(0).unwrap();
        let pre = caps.name("pre").map_or("", |p| p.as_str());
        let y1: i32 = caps["y1"].parse().unwrap_or(0);
        let year = caps
            .name("y2")
            .and_then(|y| y.as_str().parse().ok())
            .unwrap_or(y1);
        let future = matches!(pre, "力争到" | "争取到" | "预计到" | "预计至" | "到" | "至")
            || caps.name("y2").is_some();
        let local = caps.name("of").is_some();
        let start = j.ci(caps.name("y1").unwrap().start()) - pre.chars().count();
        push(start, j.ci(whole.end()), year, future, local);
    }
    for caps in FIVE_YEAR_PLAN_END.captures_iter(&j.string) {
        let whole = caps.get(0).unwrap();
        let n = match &caps["n"] {
            "一" => 1,
            "二" => 2,
            "三" => 3,
            "四" => 4,
            "五" => 5,
            _ => 6,
        };
        let pre = caps.name("pre").is_some();
        push(
            j.ci(whole.start()),
            j.ci(whole.end()),
            2005 + 5 * n,
            pre,
            false,
        );
    }
    marks.sort_by_key(|m| m.start);
    marks
}

/// The year governing a value at `at`: the nearest governing year before it in its sentence, else the year
/// carried by an earlier sentence of the paragraph that opened with a year.
fn governing_year(chars: &[char], marks: &[YearMark], at: usize) -> Option<YearMark> {
    let sentence_start = sentence_start(chars, at);
    let in_sentence = marks
        .iter()
        .rfind(|m| m.governing && m.start >= sentence_start && m.end <= at)
        .cloned();
    if in_sentence.is_some() {
        return in_sentence;
    }
    // A local "YYYY年的" right before the value.
    if let Some(m) = marks
        .iter()
        .find(|m| !m.governing && m.end == at && m.start >= sentence_start)
    {
        return Some(m.clone());
    }
    let mut paragraph_start = sentence_start;
    while paragraph_start > 0 && chars[paragraph_start - 1] != '\n' {
        paragraph_start -= 1;
    }
    // Walk the earlier sentences of the paragraph; the last one that opened with a year carries it.
    let mut carry = None;
    let mut s = paragraph_start;
    while s < sentence_start {
        let mut e = s;
        while e < sentence_start && !is_sentence_delimiter(chars[e]) {
            e += 1;
        }
        let in_this: Vec<&YearMark> = marks
            .iter()
            .filter(|m| m.governing && m.start >= s && m.end <= e)
            .collect();
        if let Some(first) = in_this.first()
            && first.initial
            && first.start <= s + 3
        {
            carry = in_this.last().map(|m| (*m).clone());
        }
        s = e + 1;
    }
    carry
}

// ---------------------------------------------------------------------------------------------------
// Labels and indicators
// ---------------------------------------------------------------------------------------------------

/// Removes year phrases (but not reference years such as "比2010年") from a label.
fn remove_year_phrases(label: &str) -> String {
    let mut out = String::new();
    let mut last = 0;
    for m in YEAR_PHRASE.find_iter(label) {
        let before = &label[..m.start()];
        if before.ends_with('比') || before.ends_with('较') {
            continue;
        }
        out.push_str(&label[last..m.start()]);
        last = m.end();
    }
    out.push_str(&label[last..]);
    out
}

/// The indicator words of a label: year phrases, punctuation and trailing verbs removed.
fn clean_label(raw: &str) -> String {
    let mut s = remove_year_phrases(raw);
    s.retain(|c| !c.is_whitespace());
    // Drop bracketed asides ("地区生产总值（GDP）").
    while let (Some(a), Some(b)) = (s.find(['（', '(']), s.find(['）', ')'])) {
        if b < a {
            break;
        }
        let close_len = s[b..].chars().next().map_or(1, char::len_utf8);
        s.replace_range(a..b + close_len, "");
    }
    loop {
        let before = s.clone();
        s = s
            .trim_start_matches(['，', '、', '；', '：', '—', '“', '”', '。', '）', '）'])
            .to_string();
        s = s
            .trim_end_matches(['，', '、', '；', '：', '—', '“', '”', '的', '（', '('])
            .to_string();
        for w in TRAILING_WORDS {
            if let Some(t) = s.strip_suffix(w) {
                s = t.to_string();
                break;
            }
        }
        for w in [
            "其中", "另外", "此外", "同时", "目前", "全年", "年底", "年末", "底", "末", "力争",
            "努力", "实现", "确保", "使", "保障",
        ] {
            if let Some(t) = s.strip_prefix(w) {
                s = t.to_string();
            }
        }
        if s == before {
            return s;
        }
    }
}

#[rustfmt::skip]
const AREA_UNITS: [&str; 7] = [
    "平方公里", "万平方公里", "万平方千米", "平方米公里", "平方千米", "km²", "km2",
];
const POP_UNITS: [&str; 7] = ["万人", "人", "万", "万余人", "万多人", "余万人", "多万人"];
#[rustfmt::skip]
const AREA_BAD: [&str; 36] = [
    "建成区", "陆域", "海域", "森林", "耕地", "绿地", "林地", "草原", "草地", "湿地", "水域", "水面", "规划区", "城区", "镇区", "中心城", "核心区",
    "建设用地", "园区", "人均", "城镇", "保护区", "景区", "示范区", "集聚区", "新区", "山地", "平原", "丘陵", "用地", "农田", "沉陷区", "棚户区", "社区",
    "村庄", "占",
];
#[rustfmt::skip]
const POP_BAD: [&str; 22] = [
    "城镇", "县城", "镇区", "城区", "市区", "都市区", "建成区", "核心区", "农业", "农村", "非农", "非农业", "外来", "流动", "本地", "乡村", "城市", "外出",
    "民族", "集镇", "中心城", "占",
];
#[rustfmt::skip]
const RATE_BAD: [&str; 7] = [
    "县城", "镇区", "城区", "都市区", "核心区", "中心城", "主城区",
];

/// The catalogue code a label names, if it names one unambiguously.
fn map_indicator(label: &str, unit: &str, options: &Options) -> Option<String> {
    let mut best: Option<(&str, usize)> = None;
    for indicator in &options.indicators {
        for name in &indicator.names {
            if name.is_empty() || !label.ends_with(name.as_str()) {
                continue;
            }
            if best.is_none_or(|(_, len)| name.len() > len) {
                best = Some((indicator.code.as_str(), name.len()));
            }
        }
    }
    let (code, name_len) = best?;
    let prefix = &label[..label.len() - name_len];
    if prefix.ends_with("人均")
        || prefix.ends_with('占')
        || prefix.ends_with("万元")
        || prefix.ends_with('的')
    {
        return None;
    }
    let ok = match code {
        "area" => AREA_UNITS.contains(&unit) && !AREA_BAD.iter().any(|w| prefix.contains(w)),
        "pop_resident" => {
            POP_UNITS.contains(&unit)
                && label.contains(['住', '驻'])
                && !POP_BAD.iter().any(|w| prefix.ends_with(w))
        }
        "pop_hukou" => {
            POP_UNITS.contains(&unit)
                && label.contains("户籍")
                && !POP_BAD.iter().any(|w| prefix.ends_with(w))
        }
        "urban_rate_resident" => {
            unit == "%"
                && label.contains(['住', '驻'])
                && !RATE_BAD.iter().any(|w| prefix.ends_with(w))
        }
        "urban_rate_hukou" => {
            unit == "%" && label.contains("户籍") && !RATE_BAD.iter().any(|w| prefix.ends_with(w))
        }
        "gdp" => {
            matches!(unit, "亿元" | "万元") && !prefix.contains("人均") && !prefix.contains('占')
        }
        _ => !prefix.ends_with("人均"),
    };
    ok.then(|| code.to_string())
}

/// Completes the first labels of a pairing from the last one: "常住和户籍人口城镇化率" gives
/// "常住" + "人口城镇化率", "常住人口和户籍人口城镇化率" gives "常住人口" + "城镇化率".
fn complete_pair_labels(labels: &mut [String]) {
    let Some(last) = labels.last().cloned() else {
        return;
    };
    let last_chars: Vec<char> = last.chars().collect();
    let complete_heads = [
        "率", "比重", "面积", "总值", "收入", "产值", "规模", "数", "量", "比", "值", "额", "投资",
        "度",
    ];
    let n = labels.len();
    for label in labels.iter_mut().take(n - 1) {
        let chars: Vec<char> = label.chars().collect();
        if chars.is_empty() || complete_heads.iter().any(|h| label.ends_with(h)) {
            continue;
        }
        if chars.len() >= 2 {
            let tail = &chars[chars.len() - 2..];
            if last_chars.ends_with(tail) {
                continue;
            }
            // The last label repeats this label's ending: complete from there ("…保险" + "覆盖率").
            if let Some(p) = last_chars.windows(2).position(|w| w == tail)
                && p + 2 < last_chars.len()
            {
                label.extend(&last_chars[p + 2..]);
                continue;
            }
        }
        // Otherwise align by length, not counting a scope word ("全市常住" ~ "户籍").
        let mut core = label.as_str();
        for scope in [
            "全市", "全县", "全区", "全镇", "全旗", "全省", "全乡", "市域", "县域", "镇域",
        ] {
            core = core.strip_prefix(scope).unwrap_or(core);
        }
        let k = core.chars().count();
        if k < last_chars.len() {
            label.extend(&last_chars[k..]);
        }
    }
}

fn comparator_of(token: &Token, label_raw: &str, verb_source: &str) -> &'static str {
    if let Some(c) = token.fixed_comparator {
        return c;
    }
    let tail: String = {
        let chars: Vec<char> = label_raw.chars().collect();
        chars[chars.len().saturating_sub(3)..].iter().collect()
    };
    if token.qual == "左右" || tail.contains('约') {
        return "=";
    }
    match token.qual {
        "以上" => return ">=",
        "以内" | "以下" => return "<=",
        _ => {}
    }
    let verb_source = verb_source.trim_end_matches(['分', '别']);
    let verb_source = verb_source.strip_suffix("分别").unwrap_or(verb_source);
    if GE_VERBS.iter().any(|v| verb_source.ends_with(v)) {
        return ">=";
    }
    if LE_VERBS.iter().any(|v| verb_source.ends_with(v)) {
        return "<=";
    }
    if token.approx {
        return ">=";
    }
    "="
}

// ---------------------------------------------------------------------------------------------------
// Extraction
// ---------------------------------------------------------------------------------------------------

#[derive(Default)]
struct PlanState {
    base_year: Option<i32>,
    /// Baseline facts of the 基本情况 part: code → values.
    baselines: HashMap<String, Vec<String>>,
    /// Accepted targets that are not percentages, for spotting verbatim repeats.
    counted: Vec<(String, String, HashSet<char>)>,
}

/// One figure before it becomes a row.
struct Found {
    token_index: usize,
    kind: Kind,
    label: String,
    indicator: Option<String>,
    comparator: &'static str,
    year: Option<i32>,
    quote_from: usize,
    quote_to: usize,
}

pub(crate) fn extract(text: &str, options: &Options) -> Vec<Row> {
    let layout = Layout::new(text);
    let mut rows = Vec::new();
    let mut states: HashMap<usize, PlanState> = HashMap::new();
    let mut free_state = PlanState::default();
    for part in &layout.parts {
        let joined = Joined::new(&layout.lines, part.first, part.end);
        if joined.chars.is_empty() {
            continue;
        }
        let (section_line, region) = match part.plan {
            Some(p) => (
                Some(layout.plans[p].start_line),
                layout.plans[p].region.clone(),
            ),
            None => (None, String::new()),
        };
        let state = match part.plan {
            Some(p) => states.entry(p).or_default(),
            None => &mut free_state,
        };
        let found = extract_part(&joined, part.kind, state, options);
        for (f, token) in found {
            rows.push(Row {
                section_line,
                region: region.clone(),
                kind: f.kind,
                indicator: f.indicator,
                indicator_text: f.label,
                value: token.value.clone(),
                unit: token.unit.clone(),
                comparator: f.comparator.to_string(),
                year: f.year,
                line: joined.line[token.start],
                quote: shorten_quote(&joined, f.quote_from, f.quote_to, token.start),
            });
        }
    }
    rows
}

fn shorten_quote(j: &Joined, from: usize, to: usize, value_start: usize) -> String {
    let mut from = from.min(value_start);
    let limit = 50;
    let mut quote = j.quote(from, to);
    while quote.chars().count() > limit && from < value_start {
        from += 1;
        quote = j.quote(from, to);
    }
    quote
        .trim_start_matches(['，', '、', '；', '：', '。'])
        .to_string()
}

/// A label without its action verbs and scope words ("实现全县" → "").
fn without_action_words(label: &str) -> String {
    let mut l = label.to_string();
    for v in [
        "累计实现",
        "努力实现",
        "全部完成",
        "全面完成",
        "实现",
        "完成",
        "新增",
        "新建",
        "建设",
        "组建",
        "培育",
        "创建",
        "撤销",
        "带动",
        "确保",
        "保障",
        "推进",
        "重点",
        "力争",
        "确定",
        "明确",
        "全县",
        "全市",
        "全镇",
        "全区",
        "全旗",
        "全乡",
    ] {
        l = l.replace(v, "");
    }
    l
}

fn han_set(s: &str) -> HashSet<char> {
    s.chars()
        .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c))
        .collect()
}

fn jaccard(a: &HashSet<char>, b: &HashSet<char>) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        return 0.0;
    }
    a.intersection(b).count() as f64 / union as f64
}

fn extract_part(
    j: &Joined,
    kind: PartKind,
    state: &mut PlanState,
    options: &Options,
) -> Vec<(Found, Token)> {
    let chars = &j.chars;
    let tokens = tokenize(j);
    let marks = year_marks(j);
    let inside = enclosures(chars);
    // The latest year the text speaks of as past or present, for documents without plan structure.
    let now = marks.iter().filter(|m| !m.future).map(|m| m.year).max();
    if kind == PartKind::Baseline {
        let mut counts: HashMap<i32, usize> = HashMap::new();
        for m in &marks {
            *counts.entry(m.year).or_default() += 1;
        }
        state.base_year = counts
            .into_iter()
            .max_by_key(|(y, n)| (*n, -*y))
            .map(|(y, _)| y);
    }

    // Per token: its clause, its label start (after an earlier value of the same clause).
    let n = tokens.len();
    let mut clause_from = vec![0; n];
    let mut label_from = vec![0; n];
    for (i, t) in tokens.iter().enumerate() {
        clause_from[i] = clause_start(chars, t.start);
        let mut from = clause_from[i];
        if let Some(prev) = tokens[..i].iter().rev().find(|p| p.stop <= t.start)
            && prev.stop > from
        {
            from = prev.stop;
            // Words up to an enumeration comma still belong to the earlier value ("69 个贫困村脱贫、133 个…").
            if let Some(comma) = (from..t.start).rev().find(|&k| chars[k] == '、') {
                from = comma + 1;
            }
            while from < t.start && matches!(chars[from], '、' | '和' | '与' | '及') {
                from += 1;
            }
        }
        label_from[i] = from;
    }

    // Pairings: "A和B分别达到 x和y", values joined by one connector.
    let mut pair_label: Vec<Option<(String, usize, String)>> = vec![None; n];
    let mut i = 0;
    while i < n {
        let mut k = i;
        while k + 1 < n
            && tokens[k + 1].start == tokens[k].stop + 1
            && matches!(chars[tokens[k].stop], '和' | '、' | '与' | '及')
        {
            k += 1;
        }
        if k > i {
            let raw = j.text(label_from[i], tokens[i].start);
            let at = raw.rfind("分别").or_else(|| raw.rfind("依次"));
            if let Some(at) = at {
                let labels_text = &raw[..at];
                let verb = raw[at..].to_string();
                let mut labels: Vec<String> = labels_text
                    .split(['、', '和', '与', '及'])
                    .map(clean_label)
                    .filter(|l| !l.is_empty())
                    .collect();
                let count = k - i + 1;
                if labels.len() > count {
                    labels.drain(..labels.len() - count);
                }
                if labels.len() == count {
                    complete_pair_labels(&mut labels);
                    for (offset, label) in labels.into_iter().enumerate() {
                        pair_label[i + offset] = Some((label, label_from[i], verb.clone()));
                    }
                } else {
                    for slot in &mut pair_label[i..=k] {
                        *slot = Some((clean_label(labels_text), label_from[i], verb.clone()));
                    }
                }
            }
        }
        i = k + 1;
    }

    // From–to statements: "由/从 X 提高到 Y".
    let mut from_of: Vec<Option<usize>> = vec![None; n];
    let mut from_to_label: Vec<Option<(String, usize)>> = vec![None; n];
    for b in 1..n {
        let a = b - 1;
        if clause_from[a] != clause_from[b] || tokens[a].stop > tokens[b].start {
            continue;
        }
        let middle = j.text(tokens[a].stop, tokens[b].start);
        if !FROM_TO_MIDDLE.is_match(&middle) {
            continue;
        }
        let raw = j.text(label_from[a], tokens[a].start);
        let Some(at) = raw.rfind('由').or_else(|| raw.rfind('从')) else {
            continue;
        };
        let label = clean_label(&raw[..at]);
        from_of[b] = Some(a);
        from_to_label[a] = Some((label.clone(), label_from[a]));
        from_to_label[b] = Some((label, label_from[a]));
    }
    let is_from: Vec<bool> = (0..n).map(|i| from_of.contains(&Some(i))).collect();

    let mut out: Vec<(Found, Token)> = Vec::new();
    let mut accepted: Vec<bool> = vec![false; n];
    for (i, t) in tokens.iter().enumerate() {
        let has_unit =
            !t.unit.is_empty() || matches!(t.class, Class::Ratio | Class::Fraction | Class::Words);
        let label_raw = j.text(label_from[i], t.start);
        let clause_raw = j.text(clause_from[i], t.start);
        let end_of_clause = clause_end(chars, t.stop);
        let after = j.text(t.stop, end_of_clause);
        let year_mark = governing_year(chars, &marks, t.start);

        // The label and the words the comparator is read from.
        let (label, verb_source, quote_from) = if let Some((label, from)) = &from_to_label[i] {
            let verb = if from_of[i].is_some() {
                j.text(tokens[i - 1].stop, t.start)
            } else {
                String::new()
            };
            (label.clone(), verb, *from)
        } else if let Some((label, from, verb)) = &pair_label[i] {
            (label.clone(), verb.clone(), *from)
        } else {
            (clean_label(&label_raw), label_raw.clone(), label_from[i])
        };

        // Which kind of statement this is.
        let mut row_kind = match kind {
            PartKind::Baseline => Kind::Baseline,
            PartKind::Goals => Kind::Target,
            PartKind::Free => {
                let before = j.text(sentence_start(chars, t.start), t.start);
                let future = match &year_mark {
                    Some(m) => m.future && now.is_none_or(|now| m.year > now),
                    None => FUTURE_WORDS.iter().any(|w| before.contains(w)),
                };
                let past = ["截至", "截止", "已", "现有", "目前", "比上年", "同比"]
                    .iter()
                    .any(|w| before.contains(w));
                if future && !past {
                    Kind::Target
                } else {
                    Kind::Baseline
                }
            }
        };
        if is_from[i] {
            row_kind = Kind::Baseline;
        }
        let existing = ["现有", "原有", "现状", "已有", "已经", "现已"]
            .iter()
            .any(|w| label_raw.contains(w));
        if row_kind == Kind::Target && existing {
            row_kind = Kind::Baseline;
        }
        // A statement of the present inside the goals ("目前，全县城镇化率仅为 40%").
        if row_kind == Kind::Target
            && kind == PartKind::Goals
            && !year_mark.as_ref().is_some_and(|m| m.future)
        {
            let before = j.text(sentence_start(chars, t.start), t.start);
            if ["目前", "当前", "现阶段", "截至", "截止"]
                .iter()
                .any(|w| before.contains(w))
            {
                row_kind = Kind::Baseline;
            }
        }
        if row_kind == Kind::Target
            && kind == PartKind::Goals
            && let (Some(mark), Some(base)) = (&year_mark, state.base_year)
            && !mark.future
            && mark.year <= base
        {
            row_kind = Kind::Baseline;
        }
        let year = year_mark.as_ref().map(|m| m.year);

        if row_kind == Kind::Baseline {
            if !has_unit && !is_from[i]
                || t.class == Class::Words
                || inside[t.start] != Enclosure::Open && kind != PartKind::Baseline
            {
                continue;
            }
            let mut indicator = map_indicator(&label, &t.unit, options);
            let from_in_baseline = is_from[i] && kind == PartKind::Baseline;
            if from_in_baseline {
                // The earlier figure of a from–to statement in the 基本情况 part is history, not the baseline.
                indicator = None;
            }
            if let Some(code) = &indicator {
                if kind == PartKind::Baseline {
                    state
                        .baselines
                        .entry(code.clone())
                        .or_default()
                        .push(t.value.clone());
                } else if state
                    .baselines
                    .get(code)
                    .is_some_and(|v| !v.contains(&t.value))
                {
                    indicator = None;
                }
            }
            let year = if from_in_baseline || is_from[i] {
                marks
                    .iter()
                    .find(|m| m.end == t.start || m.end + 1 == t.start)
                    .map(|m| m.year)
            } else {
                year.filter(|y| {
                    !year_mark.as_ref().is_some_and(|m| m.future) || Some(*y) <= state.base_year
                })
            };
            let comparator = match t.qual {
                "以上" => ">=",
                "以内" | "以下" => "<=",
                _ if t.approx => ">=",
                _ => "=",
            };
            let mut label = label;
            if t.is_count() && after.chars().count() <= 12 {
                label.push_str(after.trim_start_matches('的'));
            }
            out.push((
                Found {
                    token_index: i,
                    kind: Kind::Baseline,
                    label,
                    indicator,
                    comparator,
                    year,
                    quote_from,
                    quote_to: t.stop,
                },
                t.clone(),
            ));
            continue;
        }

        // Targets: reject what is not one.
        if matches!(inside[t.start], Enclosure::Quoted | Enclosure::Explanation) {
            continue;
        }
        if !has_unit {
            // A bare number is a target only as the level of a ratio-like indicator reached by a verb.
            let verb_end = GE_VERBS
                .iter()
                .chain(LE_VERBS.iter())
                .any(|v| verb_source.ends_with(v))
                || verb_source.ends_with('为');
            if !(verb_end
                && ["比", "系数", "指数", "倍差"]
                    .iter()
                    .any(|w| label.contains(w)))
            {
                continue;
            }
        }
        let after_trim = after.as_str();
        if after_trim.starts_with('的') && t.qual.is_empty() && !clause_raw.contains("成为") {
            continue;
        }
        if after_trim.contains("之一") {
            continue;
        }
        if t.unit == "天" {
            continue;
        }
        if t.is_count() {
            let by_verb_before = COUNT_VERBS.iter().any(|v| clause_raw.contains(v))
                || clause_raw.ends_with('达')
                || clause_raw.ends_with("等");
            let by_verb_after = ["达到", "入围", "成为", "建成"]
                .iter()
                .any(|v| after_trim.contains(v));
            let bare_clause = label_raw.is_empty()
                && label_from[i] == clause_from[i]
                && (0..i).rev().find(|&p| accepted[p]).is_some_and(|p| {
                    tokens[p].is_count() && {
                        // The accepted count stands in the same sentence.
                        let between = j.text(tokens[p].stop, t.start);
                        !between.contains(is_sentence_delimiter)
                    }
                });
            if !(by_verb_before || by_verb_after || bare_clause) {
                continue;
            }
        }
        let noun_after: String = if after.chars().count() <= 16 {
            after.clone()
        } else {
            String::new()
        };
        let label_words = without_action_words(&label);
        // Verbatim repeats of a target already recorded in the same plan (not percentages).
        if t.unit != "%" {
            let context = han_set(&format!("{label_words}{noun_after}"));
            let repeat = state
                .counted
                .iter()
                .any(|(v, u, c)| *v == t.value && *u == t.unit && jaccard(c, &context) >= 0.5);
            if repeat {
                continue;
            }
            state
                .counted
                .push((t.value.clone(), t.unit.clone(), context));
        }
        accepted[i] = true;

        let comparator = comparator_of(t, &label_raw, &verb_source);
        let year = if clause_raw.contains("每年") {
            None
        } else {
            year
        };
        let quote_to = if noun_after.chars().count() <= 12 {
            end_of_clause
        } else {
            t.stop
        };
        let verb_only = label_words.is_empty();
        let mut text_label = label.clone();
        if (verb_only || t.is_count() || t.unit.starts_with('万') && t.unit.chars().count() == 1)
            && !noun_after.is_empty()
        {
            text_label.push_str(noun_after.trim_start_matches(['的']));
        }
        let indicator = map_indicator(&label, &t.unit, options);

        // "A、B较2016年增长10%": one target per subject.
        if pair_label[i].is_none()
            && from_to_label[i].is_none()
            && let Some(caps) = RELATIVE_CHANGE.captures(&label)
        {
            let rest = caps["rest"].to_string();
            for subject in caps["subjects"].split('、') {
                let label = format!("{subject}{rest}");
                out.push((
                    Found {
                        token_index: i,
                        kind: Kind::Target,
                        indicator: map_indicator(&label, &t.unit, options),
                        label,
                        comparator,
                        year,
                        quote_from,
                        quote_to,
                    },
                    t.clone(),
                ));
            }
            continue;
        }
        out.push((
            Found {
                token_index: i,
                kind: Kind::Target,
                label: text_label,
                indicator,
                comparator,
                year,
                quote_from,
                quote_to,
            },
            t.clone(),
        ));
    }
    out.sort_by_key(|(f, _)| f.token_index);
    out
}

/// The catalogue code an indicator text names (as [`map_indicator`] does for extracted labels).
pub(crate) fn indicator_for_text(text: &str, unit: &str, options: &Options) -> Option<String> {
    map_indicator(&clean_label(text), unit, options)
}
