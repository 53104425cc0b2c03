//! tarn's format benchmark: the same queries over the same rows stored different ways (gzip CSV and CSV as partners
//! deliver them, Parquet and state-bucketed Parquet as tarn's CTAS writes them), timed over repeated runs, with the
//! bytes each one scanned and what Athena would bill for it.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use tarn_engine::{Session, SessionOptions, format_bytes, format_dollars};

/// The queries, as the case study asked them.
pub const QUERIES: [(&str, &str); 3] = [
    ("count", "SELECT count(householdid) FROM {table}"),
    ("one state", "SELECT count(personid) FROM {table} WHERE state = 'CA'"),
    (
        "group by state",
        "SELECT state, count(*), avg(income) FROM {table} GROUP BY state",
    ),
];

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub rows: usize,
    pub parts: usize,
    pub runs: usize,
    /// Where data, warehouse and the report go.
    pub out: PathBuf,
}

/// One query over one format.
#[derive(Debug, Clone)]
pub struct Measurement {
    pub format: String,
    pub query: String,
    pub rows_out: u64,
    pub bytes_scanned: u64,
    pub dollars: f64,
    /// Sorted run times.
    pub times: Vec<Duration>,
}

impl Measurement {
    pub fn median(&self) -> Duration {
        self.times.get(self.times.len() / 2).copied().unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Engine(#[from] tarn_engine::EngineError),
    #[error("{0}")]
    Mismatch(String),
}

/// Generates the data, runs every query `runs` times per format, writes `results.json` and `report.md` to
/// `options.out`, and returns the measurements.
pub async fn run(options: &BenchOptions) -> Result<Vec<Measurement>, BenchError> {
    let data = options.out.join("data");
    let gz_dir = data.join("csv_gz");
    let csv_dir = data.join("csv");
    let rows_per_part = options.rows.div_ceil(options.parts.max(1));
    if !gz_dir.exists() {
        tarn_fixtures::data::write_consumer_csv_gz(&gz_dir, options.parts.max(1), rows_per_part, 7)?;
    }
    if !csv_dir.exists() {
        gunzip_dir(&gz_dir, &csv_dir)?;
    }
    let warehouse = options.out.join("warehouse");
    let mut session = Session::open(SessionOptions {
        warehouse: warehouse.display().to_string(),
        ..Default::default()
    })
    .await?;
    drain(&mut session, "CREATE DATABASE IF NOT EXISTS bench").await?;
    for (table, dir) in [("bench.csv_gz", &gz_dir), ("bench.csv", &csv_dir)] {
        let ddl = format!(
            "CREATE EXTERNAL TABLE IF NOT EXISTS {table} (householdid bigint, personid bigint, firstname string, \
             lastname string, state string, zipcode string, income double, birthdate date) \
             ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' LOCATION '{}/' \
             TBLPROPERTIES ('skip.header.line.count'='1')",
            std::path::absolute(dir)?.display()
        );
        drain(&mut session, &ddl).await?;
    }
    // The layouts tarn writes itself, made as the case study made them.
    let tables = options.out.join("tables");
    for (table, with) in [
        ("bench.parquet", "parquet_compression = 'SNAPPY'".to_string()),
        (
            "bench.buckets",
            "parquet_compression = 'SNAPPY', bucketed_by = ARRAY['state'], bucket_count = 60".to_string(),
        ),
    ] {
        let exists = session
            .catalog()
            .get_table("bench", table.trim_start_matches("bench."))
            .await
            .ok()
            .flatten();
        if exists.is_none() {
            let location = std::path::absolute(tables.join(table))?;
            drain(
                &mut session,
                &format!(
                    "CREATE TABLE {table} WITH (format = 'PARQUET', external_location = '{}/', {with}) \
                     AS SELECT * FROM bench.csv_gz",
                    location.display()
                ),
            )
            .await?;
        }
    }
    let formats = [
        ("gzip CSV", "bench.csv_gz"),
        ("CSV", "bench.csv"),
        ("Parquet", "bench.parquet"),
        ("Parquet, 60 state buckets", "bench.buckets"),
    ];

    let mut measurements = Vec::new();
    for (query_name, template) in QUERIES {
        let mut answers = Vec::new();
        for (format, table) in formats {
            let sql = template.replace("{table}", table);
            let mut times = Vec::with_capacity(options.runs);
            let mut last = None;
            for _ in 0..options.runs.max(1) {
                let (batches, stats) = session.execute(&sql).await?.collect().await?;
                times.push(stats.elapsed);
                last = Some((batches, stats));
            }
            let Some((batches, stats)) = last else { continue };
            answers.push((stats.rows, single_value(&batches)));
            times.sort();
            measurements.push(Measurement {
                format: format.to_string(),
                query: query_name.to_string(),
                rows_out: stats.rows,
                bytes_scanned: stats.bytes_scanned,
                dollars: stats.bill.map(|b| b.dollars).unwrap_or(0.0),
                times,
            });
        }
        if answers.windows(2).any(|w| w[0] != w[1]) {
            return Err(BenchError::Mismatch(format!("formats disagree on '{query_name}'")));
        }
    }
    write_report(options, &measurements)?;
    Ok(measurements)
}

/// The value of a one-value result: formats must agree on it exactly (counts). Multi-row results are compared by
/// row count only, since float aggregates may differ in the last digit with summation order.
fn single_value(batches: &[tarn_engine::arrow::array::RecordBatch]) -> Option<String> {
    let batch = batches.iter().find(|b| b.num_rows() > 0)?;
    if batch.num_rows() != 1 || batch.num_columns() != 1 {
        return None;
    }
    tarn_engine::arrow::util::display::array_value_to_string(batch.column(0), 0).ok()
}

async fn drain(session: &mut Session, sql: &str) -> Result<(), BenchError> {
    session.execute(sql).await?.collect().await?;
    Ok(())
}

fn gunzip_dir(from: &Path, to: &Path) -> Result<(), BenchError> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let path = entry?.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".gz"))
        else {
            continue;
        };
        let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(std::fs::File::open(&path)?));
        let mut writer = std::io::BufWriter::new(std::fs::File::create(to.join(name))?);
        for line in reader.lines() {
            writeln!(writer, "{}", line?)?;
        }
        writer.flush()?;
    }
    Ok(())
}

fn write_report(options: &BenchOptions, measurements: &[Measurement]) -> Result<(), BenchError> {
    let results: Vec<_> = measurements
        .iter()
        .map(|m| {
            json!({
                "format": m.format,
                "query": m.query,
                "rows_out": m.rows_out,
                "bytes_scanned": m.bytes_scanned,
                "athena_dollars": m.dollars,
                "median_ms": m.median().as_secs_f64() * 1e3,
                "min_ms": m.times.first().map(|t| t.as_secs_f64() * 1e3),
                "max_ms": m.times.last().map(|t| t.as_secs_f64() * 1e3),
                "runs": m.times.len(),
            })
        })
        .collect();
    let doc = json!({ "rows": options.rows, "parts": options.parts, "runs": options.runs, "results": results });
    std::fs::write(
        options.out.join("results.json"),
        serde_json::to_string_pretty(&doc).map_err(std::io::Error::other)?,
    )?;
    std::fs::write(options.out.join("report.md"), markdown(options, measurements))?;
    Ok(())
}

/// The report as a Markdown table.
pub fn markdown(options: &BenchOptions, measurements: &[Measurement]) -> String {
    let mut md = format!(
        "# tarn format benchmark\n\n{} rows in {} parts, {} runs per query (median, min–max).\n\n\
         | query | format | median | min–max | scanned | Athena would bill |\n|---|---|---:|---:|---:|---:|\n",
        options.rows, options.parts, options.runs
    );
    for m in measurements {
        let ms = |d: Option<&Duration>| d.map(|d| format!("{:.0}", d.as_secs_f64() * 1e3)).unwrap_or_default();
        md.push_str(&format!(
            "| {} | {} | {:.0} ms | {}–{} ms | {} | {} |\n",
            m.query,
            m.format,
            m.median().as_secs_f64() * 1e3,
            ms(m.times.first()),
            ms(m.times.last()),
            format_bytes(m.bytes_scanned),
            format_dollars(m.dollars)
        ));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn formats_agree_and_compressed_scans_fewer_bytes() -> Result<(), Box<dyn std::error::Error>> {
        let out = tempfile::tempdir()?;
        let options = BenchOptions {
            rows: 20_000,
            parts: 2,
            runs: 2,
            out: out.path().to_path_buf(),
        };
        let measurements = run(&options).await?;
        assert_eq!(measurements.len(), QUERIES.len() * 4);
        let scanned = |format: &str| {
            measurements
                .iter()
                .find(|m| m.format == format)
                .map(|m| m.bytes_scanned)
        };
        let (gz, csv) = (scanned("gzip CSV").unwrap_or(0), scanned("CSV").unwrap_or(0));
        assert!(gz > 0 && gz * 2 < csv, "gzip {gz} vs plain {csv}");
        let report = std::fs::read_to_string(out.path().join("report.md"))?;
        assert!(report.contains("| one state | gzip CSV |"), "{report}");
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("results.json"))?)?;
        assert_eq!(json["results"].as_array().map(Vec::len), Some(12));
        // One state on the bucketed table reads one bucket's file: less than the unbucketed Parquet table.
        let one_state = |format: &str| {
            measurements
                .iter()
                .find(|m| m.format == format && m.query == "one state")
                .map(|m| m.bytes_scanned)
        };
        assert!(one_state("Parquet, 60 state buckets") < one_state("Parquet"));
        Ok(())
    }
}
