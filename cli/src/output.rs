//! Printing results: data on stdout in the chosen format, the statement's figures on stderr.

use std::io::Write;

use clap::ValueEnum;
use comfy_table::{Cell, ContentArrangement, Table};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;
use tarn_engine::display::RowPrinter;
use tarn_engine::{QueryResult, QueryStats, ResultKind, format_bytes, format_count, format_dollars};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Boxed table (all rows are read before printing).
    Table,
    /// CSV with a header row, streamed.
    Csv,
    /// One JSON array of objects, streamed.
    Json,
    /// One JSON object per line, streamed.
    Ndjson,
}

/// Writes the rows of `result` to `out`. Errors from the query come back as `Err(Ok(engine error))`; output errors
/// (a closed pipe) as `Err(Err(io))`.
pub async fn write_rows(result: &mut QueryResult, format: Format, out: &mut dyn Write) -> Result<(), RowsError> {
    if matches!(result.kind(), ResultKind::Command | ResultKind::Write) {
        // Drain nothing: commands have no rows, but finishing the stream fixes the elapsed time.
        while let Some(batch) = result.next_batch().await {
            batch.map_err(RowsError::Engine)?;
        }
        return Ok(());
    }
    let schema = result.schema();
    match format {
        Format::Table => {
            let mut batches = Vec::new();
            while let Some(batch) = result.next_batch().await {
                batches.push(batch.map_err(RowsError::Engine)?);
            }
            let table = render_table(&schema, &batches).map_err(|e| RowsError::Output(std::io::Error::other(e)))?;
            writeln!(out, "{table}").map_err(RowsError::Output)?;
        }
        Format::Csv => {
            let header: Vec<String> = schema.fields().iter().map(|f| csv_field(Some(f.name()))).collect();
            writeln!(out, "{}", header.join(",")).map_err(RowsError::Output)?;
            while let Some(batch) = result.next_batch().await {
                write_csv_rows(&batch.map_err(RowsError::Engine)?, out)?;
            }
        }
        Format::Json => {
            let mut writer = datafusion::arrow::json::ArrayWriter::new(&mut *out);
            while let Some(batch) = result.next_batch().await {
                writer.write(&batch.map_err(RowsError::Engine)?).map_err(arrow_io)?;
            }
            writer.finish().map_err(arrow_io)?;
            drop(writer);
            writeln!(out).map_err(RowsError::Output)?;
        }
        Format::Ndjson => {
            let mut writer = datafusion::arrow::json::LineDelimitedWriter::new(&mut *out);
            while let Some(batch) = result.next_batch().await {
                writer.write(&batch.map_err(RowsError::Engine)?).map_err(arrow_io)?;
            }
            writer.finish().map_err(arrow_io)?;
        }
    }
    out.flush().map_err(RowsError::Output)
}

/// CSV rows in DuckDB's convention: NULL is an empty field, an empty string is `""`, quotes only where needed.
/// (arrow's CSV writer prints both NULL and "" as an empty field.)
fn write_csv_rows(batch: &RecordBatch, out: &mut dyn Write) -> Result<(), RowsError> {
    let printer = RowPrinter::try_new(batch.columns()).map_err(arrow_io)?;
    let mut line = String::new();
    for row in 0..batch.num_rows() {
        line.clear();
        for (i, value) in printer.row(row).iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            line.push_str(&csv_field(value.as_deref()));
        }
        line.push('\n');
        out.write_all(line.as_bytes()).map_err(RowsError::Output)?;
    }
    Ok(())
}

fn csv_field(value: Option<&str>) -> String {
    match value {
        None => String::new(),
        Some(v) if v.is_empty() || v.contains([',', '"', '\n', '\r']) || v.starts_with(' ') || v.ends_with(' ') => {
            format!("\"{}\"", v.replace('"', "\"\""))
        }
        Some(v) => v.to_string(),
    }
}

pub enum RowsError {
    Engine(tarn_engine::EngineError),
    Output(std::io::Error),
}

fn arrow_io(e: ArrowError) -> RowsError {
    match e {
        ArrowError::IoError(_, io) => RowsError::Output(io),
        other => RowsError::Output(std::io::Error::other(other)),
    }
}

/// A boxed table; NULL is printed as `NULL` so it cannot be mistaken for an empty string.
pub fn render_table(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Table, ArrowError> {
    render_fitted(schema, batches, None)
}

/// A boxed table at most `width` characters wide: columns share the width and a value that does not fit on one line
/// is cut with `…` (the shell's `\x` shows whole values). `None`: as wide as the values.
pub fn render_fitted(schema: &SchemaRef, batches: &[RecordBatch], width: Option<u16>) -> Result<Table, ArrowError> {
    let mut table = Table::new();
    table.load_preset("||--+-++|    ++++++");
    table.force_no_tty();
    match width {
        Some(width) => {
            table.set_content_arrangement(ContentArrangement::Dynamic);
            table.set_width(width);
            table.set_truncation_indicator("…");
        }
        None => {
            table.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    table.set_header(schema.fields().iter().map(|f| Cell::new(f.name())));
    for_each_row(batches, |values| {
        let mut row = comfy_table::Row::from(values.into_iter().map(Cell::new));
        if width.is_some() {
            row.max_height(1);
        }
        table.add_row(row);
    })?;
    Ok(table)
}

/// Calls `f` with each row's values as Athena prints them (NULL as `NULL`).
fn for_each_row(batches: &[RecordBatch], mut f: impl FnMut(Vec<String>)) -> Result<(), ArrowError> {
    for batch in batches {
        let printer = RowPrinter::try_new(batch.columns())?;
        for row in 0..batch.num_rows() {
            f(printer.row_or(row, "NULL"));
        }
    }
    Ok(())
}

/// psql's expanded display: one block per row, a `name | value` line per column.
pub fn render_expanded(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<String, ArrowError> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let name_width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    let mut record = 0;
    for_each_row(batches, |values| {
        record += 1;
        let title = format!("-[ RECORD {record} ]");
        out.push_str(&format!(
            "{title}{}\n",
            "-".repeat((name_width + 3).saturating_sub(title.len()).max(1))
        ));
        for (name, value) in names.iter().zip(values) {
            out.push_str(&format!("{name:<name_width$} | {value}\n"));
        }
    })?;
    if record == 0 {
        out.push_str("(no rows)\n");
    }
    Ok(out)
}

/// DuckDB's line mode: `name = value` per column, a blank line between rows.
pub fn render_lines(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<String, ArrowError> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let name_width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for_each_row(batches, |values| {
        if !out.is_empty() {
            out.push('\n');
        }
        for (name, value) in names.iter().zip(values) {
            out.push_str(&format!("{name:>name_width$} = {value}\n"));
        }
    })?;
    Ok(out)
}

/// The line printed after each statement: `1 row · 5.1 s · scanned 30.85 GB · Athena would bill $0.1503`.
/// On a cluster it says on how many workers; `verbose` adds what each scanned (and wrote), on lines of their own.
pub fn stats_line(kind: ResultKind, message: Option<&str>, stats: &QueryStats, verbose: bool) -> String {
    let mut line = figures(kind, message, stats);
    // Workers that scanned, and workers that only wrote (a write's last stage reads from other workers).
    let mut workers: std::collections::BTreeMap<&str, (u64, u64)> = std::collections::BTreeMap::new();
    for (worker, bytes) in &stats.workers {
        workers.entry(worker).or_default().0 += bytes;
    }
    for (worker, files) in &stats.files_written {
        workers.entry(worker).or_default().1 += files;
    }
    if !workers.is_empty() {
        let n = workers.len();
        line.push_str(&format!(" · on {n} worker{}", if n == 1 { "" } else { "s" }));
    }
    line.push_str(&text_notes(&stats.text));
    if verbose && !workers.is_empty() {
        for (worker, (bytes, files)) in &workers {
            line.push_str(&format!("\n  {worker}: scanned {}", format_bytes(*bytes)));
            if *files > 0 {
                line.push_str(&format!(", wrote {} file{}", files, if *files == 1 { "" } else { "s" }));
            }
        }
        let on_workers: u64 = stats.workers.iter().map(|(_, b)| b).sum();
        let here = stats.bytes_scanned.saturating_sub(on_workers);
        line.push_str(&format!(
            "\n  coordinator: scanned {}; read {} of Parquet footers to plan (not counted: each worker reads the \
             footers of what it scans)",
            format_bytes(here),
            format_bytes(stats.planning_bytes)
        ));
    }
    line
}

/// ` · 3 values read as NULL: income 2 ('abc' at file:///…/x.csv:17), …` — what Athena reads as NULL silently.
fn text_notes(notes: &tarn_engine::TextNotes) -> String {
    let mut out = String::new();
    if !notes.unreadable.is_empty() {
        let total: u64 = notes.unreadable.values().map(|(n, _)| n).sum();
        let columns: Vec<String> = notes
            .unreadable
            .iter()
            .map(|(column, (n, example))| format!("{column} {} (e.g. {example})", format_count(*n)))
            .collect();
        out.push_str(&format!(
            " · {} {} not of the column's type read as NULL: {}",
            format_count(total),
            if total == 1 { "value" } else { "values" },
            columns.join(", ")
        ));
    }
    if let Some((n, example)) = &notes.invalid_utf8 {
        out.push_str(&format!(
            " · {} invalid UTF-8 {} read as U+FFFD (first at {example})",
            format_count(*n),
            if *n == 1 { "sequence" } else { "sequences" }
        ));
    }
    out
}

fn figures(kind: ResultKind, message: Option<&str>, stats: &QueryStats) -> String {
    let elapsed = format_elapsed(stats.elapsed);
    match kind {
        ResultKind::Command => format!("{} · {elapsed}", message.unwrap_or("done")),
        ResultKind::Listing => format!("{} · {elapsed}", rows(stats.rows)),
        ResultKind::Write => format!(
            "{} · {elapsed} · scanned {} · Athena would bill {}",
            message.unwrap_or("written"),
            format_bytes(stats.bytes_scanned),
            stats
                .bill
                .map(|b| format_dollars(b.dollars))
                .unwrap_or_else(|| "$0".into())
        ),
        ResultKind::Query => match &stats.bill {
            Some(bill) => format!(
                "{} · {elapsed} · scanned {} · Athena would bill {}",
                rows(stats.rows),
                format_bytes(stats.bytes_scanned),
                format_dollars(bill.dollars)
            ),
            None => format!("{} · {elapsed} · not billed", rows(stats.rows)),
        },
    }
}

fn rows(n: u64) -> String {
    if n == 1 { "1 row".into() } else { format!("{n} rows") }
}

fn format_elapsed(d: std::time::Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.2} s")
    } else if s < 600.0 {
        format!("{s:.1} s")
    } else {
        format!("{}m {:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn null_is_visible_and_empty_results_keep_the_header() -> Result<(), ArrowError> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(vec![Some(1), None])),
                Arc::new(StringArray::from(vec![Some(""), None])),
            ],
        )?;
        let text = render_table(&schema, &[batch])?.to_string();
        assert!(text.contains("| 1    |      |"), "{text}");
        assert!(text.contains("| NULL | NULL |"), "{text}");
        let empty = render_table(&schema, &[])?.to_string();
        assert!(empty.contains("| id | name |"), "{empty}");
        Ok(())
    }

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field(None), "");
        assert_eq!(csv_field(Some("")), "\"\"");
        assert_eq!(csv_field(Some("plain")), "plain");
        assert_eq!(csv_field(Some("a,b")), "\"a,b\"");
        assert_eq!(csv_field(Some("say \"hi\"")), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field(Some("two\nlines")), "\"two\nlines\"");
    }

    #[test]
    fn stats_lines() {
        let stats = QueryStats {
            rows: 1,
            elapsed: Duration::from_millis(5100),
            bytes_scanned: 30_850_000_000,
            requests: 3,
            listed: Vec::new(),
            bill: Some(tarn_engine::Bill::for_scan(30_850_000_000)),
            text: Default::default(),
            workers: Vec::new(),
            files_written: Vec::new(),
            planning_bytes: 0,
        };
        assert_eq!(
            stats_line(ResultKind::Query, None, &stats, false),
            "1 row · 5.10 s · scanned 28.73 GB · Athena would bill $0.1403"
        );
        let mut noted = stats.clone();
        noted
            .text
            .unreadable
            .insert("age".into(), (1, "'x' at file:///d/a.csv:9".into()));
        noted
            .text
            .unreadable
            .insert("income".into(), (1_204, "'abc' at file:///d/a.csv:3".into()));
        noted.text.invalid_utf8 = Some((2, "file:///d/b.csv:7".into()));
        assert_eq!(
            stats_line(ResultKind::Query, None, &noted, false),
            "1 row · 5.10 s · scanned 28.73 GB · Athena would bill $0.1403 · 1,205 values not of the column's type \
             read as NULL: age 1 (e.g. 'x' at file:///d/a.csv:9), income 1,204 (e.g. 'abc' at file:///d/a.csv:3) · 2 \
             invalid UTF-8 sequences read as U+FFFD (first at file:///d/b.csv:7)"
        );
        let mut cluster = stats.clone();
        cluster.workers = vec![
            ("http://127.0.0.1:50051".into(), 20_000_000_000),
            ("http://127.0.0.1:50052".into(), 10_000_000_000),
        ];
        cluster.planning_bytes = 65_536;
        assert_eq!(
            stats_line(ResultKind::Query, None, &cluster, false),
            "1 row · 5.10 s · scanned 28.73 GB · Athena would bill $0.1403 · on 2 workers"
        );
        assert_eq!(
            stats_line(ResultKind::Query, None, &cluster, true),
            "1 row · 5.10 s · scanned 28.73 GB · Athena would bill $0.1403 · on 2 workers\n  \
             http://127.0.0.1:50051: scanned 18.63 GB\n  http://127.0.0.1:50052: scanned 9.31 GB\n  \
             coordinator: scanned 810.62 MB; read 64.00 KB of Parquet footers to plan (not counted: each worker \
             reads the footers of what it scans)"
        );
        let mut write = cluster.clone();
        write.files_written = vec![
            ("http://127.0.0.1:50052".into(), 3),
            ("http://127.0.0.1:50053".into(), 1),
        ];
        assert_eq!(
            stats_line(ResultKind::Query, None, &write, true),
            "1 row · 5.10 s · scanned 28.73 GB · Athena would bill $0.1403 · on 3 workers\n  \
             http://127.0.0.1:50051: scanned 18.63 GB\n  http://127.0.0.1:50052: scanned 9.31 GB, wrote 3 files\n  \
             http://127.0.0.1:50053: scanned 0 B, wrote 1 file\n  \
             coordinator: scanned 810.62 MB; read 64.00 KB of Parquet footers to plan (not counted: each worker \
             reads the footers of what it scans)"
        );
    }
}
