//! Inline SVG charts built from numbers only: a trend with its target line, and a ranking.
//!
//! Every piece of text placed in an SVG goes through [`escape`], so a chart can be embedded with
//! `| safe` even when names come from configuration.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

/// Escapes text for SVG/XML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

const WIDTH: f64 = 320.0;
const HEIGHT: f64 = 120.0;
const PAD: f64 = 24.0;

/// A line chart of `points` (period label, value) with a dashed horizontal line at `target`.
/// Empty when there are fewer than two points.
pub fn trend(points: &[(String, f64)], target: Option<f64>, label: &str) -> String {
    if points.len() < 2 {
        return String::new();
    }
    let mut low = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let mut high = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    if let Some(t) = target {
        low = low.min(t);
        high = high.max(t);
    }
    if (high - low).abs() < f64::EPSILON {
        high = low + 1.0;
    }
    let x = |i: usize| PAD + (WIDTH - 2.0 * PAD) * i as f64 / (points.len() - 1) as f64;
    let y = |v: f64| HEIGHT - PAD - (HEIGHT - 2.0 * PAD) * (v - low) / (high - low);
    // Coordinates to a tenth of a pixel.
    let tenth = |v: f64| crate::view::fixed(v, 1);
    let path: Vec<String> = points.iter().enumerate().map(|(i, p)| format!("{},{}", tenth(x(i)), tenth(y(p.1)))).collect();
    let mut svg = format!(
        r##"<svg class="chart trend" role="img" aria-label="{}" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg"><polyline fill="none" stroke="#1d4ed8" stroke-width="2" points="{}"/>"##,
        escape(label),
        path.join(" ")
    );
    for (i, point) in points.iter().enumerate() {
        svg.push_str(&format!(r##"<circle cx="{}" cy="{}" r="2.5" fill="#1d4ed8"/>"##, tenth(x(i)), tenth(y(point.1))));
    }
    if let Some(t) = target {
        let level = tenth(y(t));
        svg.push_str(&format!(r##"<line x1="{PAD}" x2="{}" y1="{level}" y2="{level}" stroke="#b91c1c" stroke-dasharray="4 3"/>"##, WIDTH - PAD));
    }
    let (first, last) = (&points[0].0, &points[points.len() - 1].0);
    svg.push_str(&format!(
        r##"<text x="{PAD}" y="{}" font-size="10" fill="#4b5563">{}</text><text x="{}" y="{}" font-size="10" fill="#4b5563" text-anchor="end">{}</text></svg>"##,
        HEIGHT - 6.0,
        escape(first),
        WIDTH - PAD,
        HEIGHT - 6.0,
        escape(last)
    ));
    svg
}

/// Horizontal bars of `rows` (name, value), in the order given. Empty for fewer than two rows.
pub fn ranking(rows: &[(String, f64)], label: &str) -> String {
    if rows.len() < 2 {
        return String::new();
    }
    let bar_height = 16.0;
    let label_width = 120.0;
    let height = rows.len() as f64 * (bar_height + 4.0) + 4.0;
    let high = rows.iter().map(|r| r.1.abs()).fold(0.0, f64::max).max(f64::MIN_POSITIVE);
    let mut svg = format!(
        r##"<svg class="chart ranking" role="img" aria-label="{}" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg">"##,
        escape(label)
    );
    for (i, (name, value)) in rows.iter().enumerate() {
        let top = 4.0 + i as f64 * (bar_height + 4.0);
        let length = (WIDTH - label_width - 8.0) * value.abs() / high;
        let name: String = name.chars().take(8).collect();
        svg.push_str(&format!(
            r##"<text x="0" y="{:.1}" font-size="11" fill="#111827">{}</text><rect x="{label_width}" y="{top:.1}" width="{length:.1}" height="{bar_height}" fill="{}"/>"##,
            top + 12.0,
            escape(&name),
            if *value < 0.0 { "#b91c1c" } else { "#1d4ed8" }
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// A progress bar as a PNG for email (no text inside: the labels stay in the HTML): `progress`
/// percent filled in `rgb`, with a dark mark at `time_share` percent.
pub fn progress_png(progress: f64, time_share: Option<f64>, rgb: [u8; 3]) -> Vec<u8> {
    let filled = ((progress.clamp(0.0, 100.0) / 100.0) * BAR_WIDTH as f64).round() as usize;
    let mark = time_share.map(|t| ((t.clamp(0.0, 100.0) / 100.0) * BAR_WIDTH as f64).round() as usize);
    // Each bar is encoded once per process: a summary draws one per target, and most bars look
    // alike (their pixels depend only on these three).
    static ENCODED: LazyLock<Mutex<EncodedBars>> = LazyLock::new(Default::default);
    let key = (filled, mark, rgb);
    if let Some(bytes) = ENCODED.lock().ok().and_then(|encoded| encoded.get(&key).cloned()) {
        return bytes;
    }
    let bytes = bar_png(filled, mark, rgb);
    if let Ok(mut encoded) = ENCODED.lock() {
        encoded.insert(key, bytes.clone());
    }
    bytes
}

const BAR_WIDTH: usize = 120;

/// PNG bytes by filled length, mark and colour.
type EncodedBars = HashMap<(usize, Option<usize>, [u8; 3]), Vec<u8>>;

/// The PNG of a bar `filled` pixels long with a mark at pixel `mark`.
fn bar_png(filled: usize, mark: Option<usize>, rgb: [u8; 3]) -> Vec<u8> {
    const H: usize = 10;
    let mut pixels = Vec::with_capacity(BAR_WIDTH * H * 3);
    for _ in 0..H {
        for x in 0..BAR_WIDTH {
            let colour = match mark {
                Some(m) if x + 1 >= m && x <= m => [17, 24, 39],
                _ if x < filled => rgb,
                _ => [229, 231, 235],
            };
            pixels.extend_from_slice(&colour);
        }
    }
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, BAR_WIDTH as u32, H as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        // Writing into memory cannot fail for a well-formed buffer of the declared size.
        if let Ok(mut writer) = encoder.write_header() {
            let _ = writer.write_image_data(&pixels);
        }
    }
    bytes
}

/// The colour of a status, as in the report.
pub fn status_rgb(status: &str) -> [u8; 3] {
    match status {
        "achieved" => [4, 120, 87],
        "on_track" => [21, 128, 61],
        "moderate" => [180, 83, 9],
        "insufficient" => [194, 65, 12],
        "moving_away" => [185, 28, 28],
        _ => [107, 114, 128],
    }
}
