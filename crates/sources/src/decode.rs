//! Text decoding: UTF-8 (with or without BOM) and GB18030 (a superset of GBK and GB2312).

use encoding_rs::{DecoderResult, GB18030};

use crate::SourceError;

/// The text encoding of a delimited file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// UTF-8 if the bytes are valid UTF-8, else GB18030.
    #[default]
    Auto,
    /// UTF-8, with or without a byte-order mark.
    Utf8,
    /// GB18030, which also reads GBK and GB2312.
    Gb18030,
}

fn line_of(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset.min(bytes.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

fn utf8(bytes: &[u8]) -> Result<String, usize> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_string()),
        Err(e) => Err(line_of(bytes, e.valid_up_to())),
    }
}

fn gb18030(bytes: &[u8]) -> Result<String, usize> {
    let mut decoder = GB18030.new_decoder_without_bom_handling();
    let capacity = decoder.max_utf8_buffer_length_without_replacement(bytes.len()).unwrap_or(bytes.len() * 3 + 16);
    let mut out = String::with_capacity(capacity);
    let mut read_total = 0;
    loop {
        let (result, read) = decoder.decode_to_string_without_replacement(&bytes[read_total..], &mut out, true);
        read_total += read;
        match result {
            DecoderResult::InputEmpty => return Ok(out),
            DecoderResult::OutputFull => {
                let more = decoder.max_utf8_buffer_length_without_replacement(bytes.len() - read_total).unwrap_or(64);
                out.reserve(more.max(64));
            }
            DecoderResult::Malformed(bad, after) => {
                let at = read_total.saturating_sub(usize::from(bad) + usize::from(after));
                return Err(line_of(bytes, at));
            }
        }
    }
}

/// Decodes a text file's bytes. The error names the label, each encoding tried and the line of
/// its first bad byte.
pub fn decode(label: &str, bytes: &[u8], encoding: Encoding) -> Result<String, SourceError> {
    let err = |tried: String| SourceError::Decode { label: label.to_string(), tried };
    match encoding {
        Encoding::Utf8 => utf8(bytes).map_err(|line| err(format!("not UTF-8 (first bad byte on line {line})"))),
        Encoding::Gb18030 => gb18030(bytes).map_err(|line| err(format!("not GB18030 (first bad byte on line {line})"))),
        Encoding::Auto => utf8(bytes).or_else(|utf8_line| {
            gb18030(bytes).map_err(|gb_line| {
                err(format!("not UTF-8 (first bad byte on line {utf8_line}) and not GB18030 (first bad byte on line {gb_line})"))
            })
        }),
    }
}
