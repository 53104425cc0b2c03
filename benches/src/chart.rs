//! The benches' chart (plotters, SVG): one row per query and format or layout, top to bottom as in the report; on the
//! left tarn's and DuckDB's median times side by side on a labelled log axis with tarn ÷ DuckDB beside the bars, on
//! the right the bytes tarn scanned, also on a log axis. Log scales keep a 20 ms Parquet query visible next to a
//! 2-second CSV scan.

use plotters::coord::Shift;
use plotters::prelude::*;
use tarn_engine::format_bytes;

use crate::{BenchError, Measurement, median, ms};

const TARN: RGBColor = RGBColor(78, 121, 167);
const DUCKDB: RGBColor = RGBColor(242, 142, 43);
const SCANNED: RGBColor = RGBColor(89, 161, 79);
const ROW_HEIGHT: u32 = 26;
const FONT: &str = "sans-serif";

/// The chart as an SVG document.
pub fn svg(measurements: &[Measurement]) -> Result<String, BenchError> {
    let rows = measurements.len().max(1) as u32;
    let (width, height) = (1300, 110 + ROW_HEIGHT * rows);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let (left, right) = root.split_horizontally(width * 64 / 100);
        time_panel(&left, measurements)?;
        bytes_panel(&right, measurements)?;
        root.present().map_err(chart_error)?;
    }
    Ok(out)
}

fn chart_error<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> BenchError {
    BenchError::Chart(e.to_string())
}

/// Row `i` counted from the top, in the chart's upward y.
fn row_y(i: usize, rows: usize) -> f64 {
    (rows - 1 - i) as f64
}

fn label(measurements: &[Measurement], y: f64) -> String {
    let rows = measurements.len();
    if (y - y.round()).abs() > 0.01 || y < -0.01 || y.round() as usize >= rows {
        return String::new();
    }
    let m = &measurements[rows - 1 - y.round() as usize];
    format!("{} · {}", m.query, m.format)
}

/// A log axis from a little under the smallest value to a little over the largest (room for the ratio labels).
fn log_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (low, high) = values
        .filter(|v| *v > 0.0)
        .fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if high <= 0.0 {
        return 0.1..10.0;
    }
    (low / 2.0)..(high * 4.0)
}

fn time_panel(area: &DrawingArea<SVGBackend, Shift>, measurements: &[Measurement]) -> Result<(), BenchError> {
    let rows = measurements.len();
    let duck = |m: &Measurement| (!m.duckdb_times.is_empty()).then(|| ms(median(&m.duckdb_times)));
    let range = log_range(
        measurements
            .iter()
            .flat_map(|m| [Some(ms(m.median())), duck(m)])
            .flatten(),
    );
    let floor = range.start;
    let mut chart = ChartBuilder::on(area)
        .caption("median time, ms (log scale)", (FONT, 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(250)
        .build_cartesian_2d(range.log_scale(), -0.5f64..(rows as f64 - 0.5))
        .map_err(chart_error)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(rows + 1)
        .y_label_formatter(&|y| label(measurements, *y))
        .x_label_formatter(&|x| format!("{x}"))
        .x_desc("milliseconds")
        .label_style((FONT, 12))
        .draw()
        .map_err(chart_error)?;
    chart
        .draw_series(measurements.iter().enumerate().map(|(i, m)| {
            let y = row_y(i, rows);
            Rectangle::new([(floor, y + 0.02), (ms(m.median()), y + 0.42)], TARN.filled())
        }))
        .map_err(chart_error)?
        .label("tarn")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], TARN.filled()));
    chart
        .draw_series(measurements.iter().enumerate().filter_map(|(i, m)| {
            let y = row_y(i, rows);
            duck(m).map(|d| Rectangle::new([(floor, y - 0.42), (d, y - 0.02)], DUCKDB.filled()))
        }))
        .map_err(chart_error)?
        .label("DuckDB")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], DUCKDB.filled()));
    chart
        .draw_series(measurements.iter().enumerate().filter_map(|(i, m)| {
            let ratio = m.ratio_to_duckdb()?;
            let right = ms(m.median()).max(duck(m).unwrap_or(0.0));
            Some(Text::new(
                format!("{ratio:.2}×"),
                (right * 1.15, row_y(i, rows) + 0.25),
                (FONT, 11),
            ))
        }))
        .map_err(chart_error)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((FONT, 12))
        .draw()
        .map_err(chart_error)?;
    Ok(())
}

fn bytes_panel(area: &DrawingArea<SVGBackend, Shift>, measurements: &[Measurement]) -> Result<(), BenchError> {
    let rows = measurements.len();
    let range = log_range(measurements.iter().map(|m| m.bytes_scanned as f64));
    let floor = range.start;
    let mut chart = ChartBuilder::on(area)
        .caption("bytes scanned by tarn (log scale)", (FONT, 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(8)
        .build_cartesian_2d(range.log_scale(), -0.5f64..(rows as f64 - 0.5))
        .map_err(chart_error)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(5)
        .x_label_formatter(&|x| format_bytes(*x as u64))
        .label_style((FONT, 12))
        .draw()
        .map_err(chart_error)?;
    chart
        .draw_series(measurements.iter().enumerate().map(|(i, m)| {
            let y = row_y(i, rows);
            Rectangle::new(
                [(floor, y - 0.3), ((m.bytes_scanned as f64).max(floor), y + 0.3)],
                SCANNED.filled(),
            )
        }))
        .map_err(chart_error)?;
    Ok(())
}
