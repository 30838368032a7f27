//! Reading a header-named CSV table with every problem located by file, line and field.

use std::rc::Rc;

use crate::error::{FieldError, Problems};

/// One data row of a CSV table: its 1-based line and its fields by column name.
pub struct Row<'a> {
    pub path: &'a str,
    pub line: u64,
    headers: Rc<Vec<String>>,
    values: Vec<String>,
}

impl Row<'_> {
    /// The trimmed value of `column`, or `None` when the column is absent or the cell empty.
    pub fn get(&self, column: &str) -> Option<&str> {
        let index = self.headers.iter().position(|h| h == column)?;
        self.values.get(index).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// A problem at this row's line in `field`.
    pub fn problem(&self, field: &str, message: impl Into<String>) -> FieldError {
        FieldError::new(self.path, self.line, field, message)
    }

    /// The value of a required column, or a problem naming it.
    pub fn required(&self, column: &str, problems: &mut Problems) -> Option<&str> {
        let value = self.get(column);
        if value.is_none() {
            problems.push(self.problem(column, "is required but empty"));
        }
        value
    }

    /// Parses a required column with `parse`, reporting an empty cell or what was expected.
    pub fn parse_required<T>(
        &self,
        column: &str,
        expected: &str,
        problems: &mut Problems,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let text = self.required(column, problems)?;
        self.check(column, text, expected, problems, parse)
    }

    /// Parses an optional column with `parse`, reporting what was expected on failure.
    pub fn parse_optional<T>(
        &self,
        column: &str,
        expected: &str,
        problems: &mut Problems,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let text = self.get(column)?;
        self.check(column, text, expected, problems, parse)
    }

    fn check<T>(&self, column: &str, text: &str, expected: &str, problems: &mut Problems, parse: impl Fn(&str) -> Option<T>) -> Option<T> {
        let parsed = parse(text);
        if parsed.is_none() {
            problems.push(self.problem(column, format!("expected {expected}, got {text:?}")));
        }
        parsed
    }
}

/// Strips a UTF-8 byte-order mark, which spreadsheet exports often add.
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Free-text columns that may hold unquoted commas when they come last (a quotation, a note).
const FREE_TEXT_COLUMNS: [&str; 3] = ["source", "note", "quote"];

/// Reads `text` (the content of `path`) as a CSV table whose header must hold `required` columns.
///
/// Rows are returned in order; structural problems (a missing column, a row with the wrong
/// number of fields) are added to `problems`. Two common hand-edits are accepted: extra fields
/// when the last column is free text (`source`, `note`, `quote`) are folded back into it, and
/// trailing optional columns left off a row are read as empty.
pub fn read_table<'a>(path: &'a str, text: &str, required: &[&str], problems: &mut Problems) -> Vec<Row<'a>> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(strip_bom(text).as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|s| s.trim().to_string()).collect(),
        Err(error) => {
            problems.push(FieldError::new(path, 1, "header", format!("unreadable CSV header: {error}")));
            return Vec::new();
        }
    };
    let mut missing = false;
    for column in required {
        if !headers.iter().any(|h| h == column) {
            problems.push(FieldError::new(
                path,
                1,
                column,
                format!("required column is missing from the header (found: {})", headers.join(",")),
            ));
            missing = true;
        }
    }
    if missing {
        return Vec::new();
    }
    let width = headers.len();
    let free_text_last = headers.last().is_some_and(|h| FREE_TEXT_COLUMNS.contains(&h.as_str()));
    let first_optional = headers.iter().rposition(|h| required.contains(&h.as_str())).map_or(0, |i| i + 1);
    let headers = Rc::new(headers);
    let mut rows = Vec::new();
    for record in reader.records() {
        match record {
            Ok(record) => {
                let line = record.position().map_or(0, |p| p.line());
                if record.iter().all(|f| f.trim().is_empty()) {
                    continue;
                }
                let mut values: Vec<String> = record.iter().map(str::to_string).collect();
                if values.len() > width && free_text_last {
                    let tail = values.split_off(width - 1).join(",");
                    values.push(tail);
                } else if values.len() < width && values.len() >= first_optional {
                    values.resize(width, String::new());
                }
                if values.len() != width {
                    problems.push(FieldError::new(path, line, "row", format!("expected {width} fields like the header, got {}", values.len())));
                    continue;
                }
                rows.push(Row { path, line, headers: Rc::clone(&headers), values });
            }
            Err(error) => {
                let line = error.position().map_or(0, |p| p.line());
                problems.push(FieldError::new(path, line, "row", csv_error_message(&error)));
            }
        }
    }
    rows
}

fn csv_error_message(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8".to_string(),
        _ => error.to_string(),
    }
}
