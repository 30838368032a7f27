//! Document layout: lines, compilation structure (plans, title blocks, sections) and the joined text
//! that the phrase rules run over.
//!
//! The source text is laid out as it came out of a PDF: a text line every ~30 characters, an empty line
//! after each, page numbers and stray URLs on lines of their own, and a trailing space at the end of each
//! paragraph. This module undoes that layout while remembering, for every character, the line it came from.

use std::sync::LazyLock;

use regex::Regex;

/// What a part of a plan is about, which decides whether its figures are baselines or targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PartKind {
    /// The 基本情况 part, or the text directly under the title before the first heading.
    Baseline,
    /// The goals, tasks and safeguards parts.
    Goals,
    /// A document without the compilation structure: each statement is judged on its own words.
    Free,
}

/// One contiguous run of lines that shares a plan and a part kind.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub plan: Option<usize>,
    pub kind: PartKind,
    /// 0-based indices into the document's lines, inclusive start, exclusive end.
    pub first: usize,
    pub end: usize,
}

/// A plan of the compilation: its title block and its region.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// 1-based line of the title block's first line (the line naming the region).
    pub start_line: usize,
    pub region: String,
}

#[derive(Debug)]
pub(crate) struct Layout<'a> {
    pub lines: Vec<&'a str>,
    pub plans: Vec<Plan>,
    pub parts: Vec<Part>,
}

static PAGE_NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[0-9０-９]{1,3}$").unwrap());
static URL_LINE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(?i:https?://|www\.)").unwrap());
static HEADING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[一二三四五六七八九十]{1,3}、\s*(\S.*)$").unwrap());
static BASELINE_HEADING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"基本情况|基本概况|现状|概况|发展基础|基础条件").unwrap());
static TITLE_SECOND: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:试点|工作)方案(?:要点)?$|方案要点$").unwrap());

/// Whether a line carries no text of the document (blank, a bare page number, a stray URL).
pub(crate) fn is_noise(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || PAGE_NUMBER.is_match(t) || URL_LINE.is_match(t)
}

/// Whether a line is a numbered section heading ("二、总体思路及目标"); returns its name.
pub(crate) fn heading_name(line: &str) -> Option<&str> {
    let t = line.trim();
    if t.chars().count() > 24 {
        return None;
    }
    HEADING
        .captures(t)
        .map(|c| c.get(1).map_or("", |m| m.as_str()).trim())
}

impl<'a> Layout<'a> {
    pub(crate) fn new(text: &'a str) -> Layout<'a> {
        let lines: Vec<&str> = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect();
        let titles = find_titles(&lines);
        let mut plans = Vec::new();
        let mut parts = Vec::new();
        if titles.is_empty() {
            parts.push(Part {
                plan: None,
                kind: PartKind::Free,
                first: 0,
                end: lines.len(),
            });
            return Layout {
                lines,
                plans,
                parts,
            };
        }
        // Text before the first title belongs to no plan.
        if titles[0].0 > 0 {
            parts.push(Part {
                plan: None,
                kind: PartKind::Free,
                first: 0,
                end: titles[0].0,
            });
        }
        for (index, &(start, title_end, ref region)) in titles.iter().enumerate() {
            let end = titles.get(index + 1).map_or(lines.len(), |t| t.0);
            plans.push(Plan {
                start_line: start + 1,
                region: region.clone(),
            });
            let mut kind = PartKind::Baseline;
            let mut first = title_end + 1;
            for i in title_end + 1..end {
                if let Some(name) = heading_name(lines[i])
                    && stands_alone(&lines, i)
                {
                    if i > first {
                        parts.push(Part {
                            plan: Some(index),
                            kind,
                            first,
                            end: i,
                        });
                    }
                    kind = if BASELINE_HEADING.is_match(name) {
                        PartKind::Baseline
                    } else {
                        PartKind::Goals
                    };
                    first = i + 1;
                }
            }
            if end > first {
                parts.push(Part {
                    plan: Some(index),
                    kind,
                    first,
                    end,
                });
            }
        }
        Layout {
            lines,
            plans,
            parts,
        }
    }
}

/// Whether a heading-like line is a paragraph of its own (not a wrapped line that happens to start with
/// "三、"): it ends with the paragraph's trailing space, or the text before it ended a sentence.
fn stands_alone(lines: &[&str], i: usize) -> bool {
    if lines[i].ends_with([' ', '\u{3000}', '\t']) {
        return true;
    }
    let previous = lines[..i].iter().rev().find(|l| !is_noise(l));
    previous.is_none_or(|p| {
        p.ends_with([' ', '\u{3000}', '\t'])
            || p.trim_end().ends_with(['。', '；', '：', '！', '？'])
    })
}

/// Finds title blocks: returns (first line index, last line index, region) for each plan.
fn find_titles(lines: &[&str]) -> Vec<(usize, usize, String)> {
    let mut titles = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if t.chars().count() > 60 || !TITLE_SECOND.is_match(t) {
            continue;
        }
        // The region may stand on this very line ("XX市新型城镇化综合试点工作方案要点").
        let before = t.split("新型城镇化").next().unwrap_or("");
        let before = before.split("综合试点").next().unwrap_or("");
        let before = before.split("试点工作").next().unwrap_or("");
        if let Some(region) = region_of(before) {
            titles.push((i, i, region));
            continue;
        }
        // Otherwise the region line is the previous line with text, or (for a theme wrapped over two
        // lines) one of the two before it when it starts with a province.
        let mut j = i;
        let mut looked = 0;
        while j > 0 && looked < 3 {
            j -= 1;
            if is_noise(lines[j]) {
                continue;
            }
            looked += 1;
            let t = lines[j].trim();
            if heading_name(t).is_some()
                || t.ends_with(['。', '；', '：'])
                || t.chars().count() > 40
            {
                break;
            }
            if let Some(region) = region_of(t)
                && (looked == 1 || REGION_PROVINCE.is_match(t))
            {
                titles.push((j, i, region));
                break;
            }
        }
    }
    titles
}

static REGION_PROVINCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:北京市|天津市|上海市|重庆市|[\p{Han}]{2,3}?(?:省|自治区|特别行政区))").unwrap()
});
static REGION_PREFECTURE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\p{Han}]{1,8}?(?:自治州|市|州|盟|地区)").unwrap());
static REGION_COUNTY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[\p{Han}]{1,10}?(?:自治县|自治旗|经济技术开发区|高新技术产业开发区|开发区|新区|县|区|市|旗)").unwrap()
});
static REGION_TOWN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\p{Han}]{1,6}?(?:镇|乡|街道|苏木)").unwrap());

/// Words that make up pilot themes, never place names.
const THEME_WORDS: [&str; 24] = [
    "城乡",
    "统筹",
    "融合",
    "发展",
    "一体",
    "中心城",
    "建设",
    "特色",
    "生态",
    "绿色",
    "创新",
    "产城",
    "综合",
    "试点",
    "新型",
    "全域",
    "低碳",
    "优化",
    "推动",
    "融入",
    "农民",
    "人口",
    "产业",
    "城镇化",
];

/// The region named at the start of a title line ("北京市顺义区产城融合…" → "北京市顺义区").
pub(crate) fn region_of(line: &str) -> Option<String> {
    let line = line.trim().trim_end_matches("新型城镇化").trim();
    let mut rest = line;
    let mut region = String::new();
    let levels: [&LazyLock<Regex>; 4] = [
        &REGION_PROVINCE,
        &REGION_PREFECTURE,
        &REGION_COUNTY,
        &REGION_TOWN,
    ];
    for level in levels {
        if let Some(m) = level.find(rest) {
            let mut end = m.end();
            // "赣州市": the prefecture is 赣州市, not 赣州.
            if m.as_str().ends_with('州') && rest[end..].starts_with('市') {
                end += '市'.len_utf8();
            }
            let unit = &rest[..end];
            if THEME_WORDS.iter().any(|w| unit.contains(w)) {
                continue;
            }
            region.push_str(unit);
            rest = &rest[end..];
        }
    }
    let has_unit = region.chars().count() >= 3;
    has_unit.then_some(region)
}

/// The joined text of a part: layout noise removed, lines joined, ASCII and ideographic spaces dropped
/// (kept in `spaced` for quotes), full-width digits and signs normalised, paragraphs ended by '\n'.
#[derive(Debug, Default)]
pub(crate) struct Joined {
    /// Compact characters the rules run over.
    pub chars: Vec<char>,
    /// 1-based source line of each compact character.
    pub line: Vec<usize>,
    /// Index into `spaced` of each compact character.
    pub spaced_at: Vec<usize>,
    /// The joined text with the source's own spaces, for quotes.
    pub spaced: Vec<char>,
    /// The compact characters as a string, and the char index of each byte offset.
    pub string: String,
    pub byte_to_char: Vec<usize>,
}

impl Joined {
    pub(crate) fn new(lines: &[&str], first: usize, end: usize) -> Joined {
        let mut joined = Joined::default();
        for (index, raw) in lines.iter().enumerate().take(end).skip(first) {
            if is_noise(raw) {
                continue;
            }
            let line_no = index + 1;
            let text = raw.trim();
            for ch in text.chars() {
                joined.spaced.push(ch);
                if ch == ' ' || ch == '\u{3000}' || ch == '\t' || ch == '\u{a0}' {
                    continue;
                }
                joined.chars.push(normalise(ch));
                joined.line.push(line_no);
                joined.spaced_at.push(joined.spaced.len() - 1);
            }
            // A trailing space marks the end of a paragraph; a heading-like short line ends one too.
            // Only a line that also ends a sentence (or a short line: a heading, a paragraph's tail) counts:
            // a stray space after "达到" or after a number must not cut a statement in two.
            let paragraph_end = raw
                .trim_end_matches('\r')
                .ends_with([' ', '\u{3000}', '\t'])
                && (text.ends_with(['。', '！', '？', '；', '：', '!', '?', ';'])
                    || text.chars().count() <= 20
                        && !text.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '.'));
            if paragraph_end {
                joined.spaced.push('\n');
                joined.chars.push('\n');
                joined.line.push(line_no);
                joined.spaced_at.push(joined.spaced.len() - 1);
            }
        }
        joined.string = joined.chars.iter().collect();
        joined.byte_to_char = vec![0; joined.string.len() + 1];
        for (ci, (bi, _)) in joined.string.char_indices().enumerate() {
            joined.byte_to_char[bi] = ci;
        }
        joined.byte_to_char[joined.string.len()] = joined.chars.len();
        joined
    }

    /// The char index of a byte offset in `string`.
    pub(crate) fn ci(&self, byte: usize) -> usize {
        self.byte_to_char[byte]
    }

    /// The compact text between two char indices.
    pub(crate) fn text(&self, from: usize, to: usize) -> String {
        self.chars[from.min(to)..to.min(self.chars.len())]
            .iter()
            .collect()
    }

    /// The source text (with its own spaces, without line breaks) between two compact char indices.
    pub(crate) fn quote(&self, from: usize, to: usize) -> String {
        if from >= to || from >= self.chars.len() {
            return String::new();
        }
        let a = self.spaced_at[from];
        let b = self.spaced_at[to.min(self.chars.len()) - 1] + 1;
        let s: String = self.spaced[a..b].iter().filter(|c| **c != '\n').collect();
        s.trim().to_string()
    }
}

fn normalise(ch: char) -> char {
    match ch {
        '０'..='９' => char::from_u32(ch as u32 - '０' as u32 + '0' as u32).unwrap_or(ch),
        '％' => '%',
        '．' => '.',
        '／' => '/',
        _ => ch,
    }
}
