//! The benchmark's chart: two panels of grouped bars — median time and bytes scanned (log scale) — one group per
//! query, one bar per format. Plain SVG written by hand: plotting crates need a font backend to lay out labels,
//! which is more to build than this chart needs; any browser opens the result.

use std::fmt::Write as _;

use tarn_engine::format_bytes;

use crate::Measurement;

const COLOURS: [&str; 6] = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1"];
const PANEL_WIDTH: f64 = 520.0;
const PANEL_HEIGHT: f64 = 300.0;
const MARGIN: f64 = 60.0;

/// The chart as an SVG document.
pub fn svg(measurements: &[Measurement]) -> String {
    let queries = unique(measurements.iter().map(|m| m.query.as_str()));
    let formats = unique(measurements.iter().map(|m| m.format.as_str()));
    let width = 2.0 * PANEL_WIDTH + 3.0 * MARGIN;
    let height = PANEL_HEIGHT + 2.0 * MARGIN + 22.0 * formats.len() as f64;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let times: Vec<f64> = measurements.iter().map(|m| m.median().as_secs_f64() * 1e3).collect();
    let bytes: Vec<f64> = measurements.iter().map(|m| m.bytes_scanned.max(1) as f64).collect();
    panel(
        &mut out,
        MARGIN,
        "median time (ms)",
        measurements,
        &queries,
        &formats,
        &times,
        Scale::Linear,
        |m| format!("{:.0} ms", m.median().as_secs_f64() * 1e3),
    );
    panel(
        &mut out,
        2.0 * MARGIN + PANEL_WIDTH,
        "bytes scanned (log scale)",
        measurements,
        &queries,
        &formats,
        &bytes,
        Scale::Log,
        |m| format_bytes(m.bytes_scanned),
    );
    for (i, format) in formats.iter().enumerate() {
        let y = PANEL_HEIGHT + 1.6 * MARGIN + 22.0 * i as f64;
        let _ = writeln!(
            out,
            "<rect x=\"{MARGIN}\" y=\"{}\" width=\"14\" height=\"14\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{}\">{}</text>",
            y - 11.0,
            COLOURS[i % COLOURS.len()],
            MARGIN + 20.0,
            y,
            escape(format)
        );
    }
    out.push_str("</svg>\n");
    out
}

#[derive(Clone, Copy)]
enum Scale {
    Linear,
    Log,
}

#[allow(clippy::too_many_arguments)]
fn panel(
    out: &mut String,
    left: f64,
    title: &str,
    measurements: &[Measurement],
    queries: &[&str],
    formats: &[&str],
    values: &[f64],
    scale: Scale,
    label: impl Fn(&Measurement) -> String,
) {
    let top = MARGIN;
    let bottom = MARGIN + PANEL_HEIGHT;
    let max = values.iter().copied().fold(0.0_f64, f64::max).max(1e-9);
    let height_of = |v: f64| match scale {
        Scale::Linear => v / max * PANEL_HEIGHT,
        Scale::Log => (v.max(1.0).ln() / max.max(std::f64::consts::E).ln()) * PANEL_HEIGHT,
    };
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" font-size=\"14\" font-weight=\"bold\">{}</text>\n\
         <line x1=\"{left}\" y1=\"{bottom}\" x2=\"{}\" y2=\"{bottom}\" stroke=\"#333\"/>",
        left,
        top - 20.0,
        escape(title),
        left + PANEL_WIDTH
    );
    let group = PANEL_WIDTH / queries.len().max(1) as f64;
    let bar = (group * 0.8) / formats.len().max(1) as f64;
    for (q, query) in queries.iter().enumerate() {
        let x0 = left + group * q as f64 + group * 0.1;
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            x0 + group * 0.4,
            bottom + 18.0,
            escape(query)
        );
        for (f, format) in formats.iter().enumerate() {
            let Some((i, m)) = measurements
                .iter()
                .enumerate()
                .find(|(_, m)| m.query == *query && m.format == *format)
            else {
                continue;
            };
            let h = height_of(values[i]).max(1.0);
            let _ = writeln!(
                out,
                "<rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\">\
                 <title>{} · {}: {}</title></rect>",
                x0 + bar * f as f64,
                bottom - h,
                bar * 0.9,
                COLOURS[f % COLOURS.len()],
                escape(query),
                escape(format),
                escape(&label(m))
            );
        }
    }
}

fn unique<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
