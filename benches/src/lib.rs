//! tarn's format benchmark: the case study's queries over the same consumer-header rows stored the ways Athena users
//! store them — gzip CSV and CSV as partners deliver them; Parquet, Parquet partitioned by state and Parquet in 60
//! state buckets as tarn's CTAS writes them — timed over repeated runs, with the bytes each run scanned and what
//! Athena would bill. Optionally the same queries in DuckDB on the same files, and two write cases: CTAS throughput
//! and a write into thousands of partitions with its peak memory.

mod chart;
mod duckdb;
pub mod planning;
pub mod report;
pub mod tpch;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tarn_engine::{Session, SessionOptions};
use tarn_fixtures::consumer_header::{self, COLUMN_COUNT, ddl_columns, write_parts};

use crate::duckdb::DuckDb;
pub use crate::report::Header;

/// The case study's queries; `{table}` is each format's table (or, for DuckDB, its reader).
pub const QUERIES: [(&str, &str); 3] = [
    ("count", "SELECT count(householdid) FROM {table}"),
    ("one state", "SELECT count(personid) FROM {table} WHERE state = 'CA'"),
    (
        "8 columns, one state",
        "SELECT count(DISTINCT householdid) + count(personid) + count(firstname) + count(lastname) \
         + count(housenumber) + count(streetname) + count(city) + count(zipcode) FROM {table} WHERE state = 'CA'",
    ),
];

/// The formats: label, tarn table, and how DuckDB reads the same files (`{dir}` is the format's folder; empty when
/// the `duckdb` shell cannot: its `delta` extension is downloaded at first use, and the test machines are offline).
const FORMATS: [(&str, &str, &str); 6] = [
    (
        "gzip CSV",
        "bench.csv_gz",
        "read_csv('{dir}/*.csv.gz', delim = '|', header = true)",
    ),
    (
        "CSV",
        "bench.csv",
        "read_csv('{dir}/*.csv', delim = '|', header = true)",
    ),
    ("Parquet", "bench.parquet", "read_parquet('{dir}/*.parquet')"),
    (
        "Parquet, partitioned by state",
        "bench.by_state",
        "read_parquet('{dir}/*/*.parquet', hive_partitioning = true)",
    ),
    (
        "Parquet, 60 state buckets",
        "bench.buckets",
        "read_parquet('{dir}/*.parquet')",
    ),
    ("Delta, partitioned by state", "bench.delta", ""),
];

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub rows: usize,
    pub parts: usize,
    pub runs: usize,
    /// Where data, warehouse and the report go.
    pub out: PathBuf,
    /// A `duckdb` executable to run the same queries with, in the same run.
    pub duckdb: Option<PathBuf>,
    /// Also write a table partitioned by state and age (thousands of partitions) and measure its peak memory:
    /// with every column (what the goal is set for), or with the first N data columns besides them.
    pub partition_write: Option<PartitionWrite>,
    /// The `tarn` executable that makes the partitioned write in a process of its own, so that its peak memory is
    /// the write's alone. Without it the write runs in this process and the figure also holds what earlier steps
    /// freed but the allocator kept.
    pub tarn: Option<PathBuf>,
}

/// The columns of the partitioned write.
#[derive(Debug, Clone, Copy)]
pub enum PartitionWrite {
    AllColumns,
    /// The first N columns of the table, then state and age.
    FirstColumns(usize),
}

/// One query over one format.
#[derive(Debug, Clone)]
pub struct Measurement {
    pub format: String,
    pub query: String,
    pub answer: Option<String>,
    pub bytes_scanned: u64,
    pub dollars: f64,
    /// Sorted run times.
    pub times: Vec<Duration>,
    /// DuckDB's sorted run times on the same files, when compared.
    pub duckdb_times: Vec<Duration>,
}

impl Measurement {
    pub fn median(&self) -> Duration {
        median(&self.times)
    }

    /// tarn's median ÷ DuckDB's.
    pub fn ratio_to_duckdb(&self) -> Option<f64> {
        (!self.duckdb_times.is_empty())
            .then(|| self.median().as_secs_f64() / median(&self.duckdb_times).as_secs_f64().max(1e-6))
    }
}

pub(crate) fn median(times: &[Duration]) -> Duration {
    times.get(times.len() / 2).copied().unwrap_or_default()
}

/// A write measured once.
#[derive(Debug, Clone)]
pub struct WriteCase {
    pub name: String,
    pub rows: u64,
    pub input_bytes: u64,
    pub elapsed: Duration,
    /// Partition folders written.
    pub partitions: Option<u64>,
    /// Peak resident memory of the process during the write (Linux: VmHWM after resetting it).
    pub peak_rss: Option<u64>,
    /// DuckDB's time for the same write (`COPY (SELECT …) TO … (FORMAT parquet)`), when compared.
    pub duckdb_elapsed: Option<Duration>,
}

impl WriteCase {
    pub fn ratio_to_duckdb(&self) -> Option<f64> {
        self.duckdb_elapsed
            .map(|d| self.elapsed.as_secs_f64() / d.as_secs_f64().max(1e-6))
    }
}

/// Everything a run measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub measurements: Vec<Measurement>,
    pub writes: Vec<WriteCase>,
    pub duckdb_version: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Engine(#[from] tarn_engine::EngineError),
    #[error("{0}")]
    Mismatch(String),
    #[error("duckdb: {0}")]
    DuckDb(String),
    #[error("generating TPC-H data: {0}")]
    Generate(String),
    #[error("the partitioned write's tarn process failed: {0}")]
    Child(String),
    #[error("drawing the chart: {0}")]
    Chart(String),
    #[error("planning {shape} with {terms} terms: {source}")]
    Planning {
        shape: &'static str,
        terms: usize,
        source: tarn_engine::EngineError,
    },
}

/// Generates the data, makes the tables, runs every query `runs` times per format (and in DuckDB when asked),
/// writes `results.json`, `report.md` and `chart.svg` to `options.out`, and returns what it measured.
pub async fn run(options: &BenchOptions) -> Result<Report, BenchError> {
    let data = std::path::absolute(options.out.join("data"))?;
    let gz_dir = data.join("csv_gz");
    let csv_dir = data.join("csv");
    let parts = options.parts.clamp(1, options.rows.max(1));
    if !gz_dir.exists() {
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        write_parts(&gz_dir, options.rows as u64, parts as u64, 7, threads)?;
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
    let mut report = Report::default();
    drain(&mut session, "CREATE DATABASE IF NOT EXISTS bench").await?;
    for (table, dir) in [("bench.csv_gz", &gz_dir), ("bench.csv", &csv_dir)] {
        let ddl = format!(
            "CREATE EXTERNAL TABLE IF NOT EXISTS {table} (\n{}\n) ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' \
             LOCATION '{}/' TBLPROPERTIES ('skip.header.line.count'='1')",
            ddl_columns(),
            dir.display()
        );
        drain(&mut session, &ddl).await?;
    }
    // The layouts tarn writes itself, made as the case study made them. The first is the CTAS-throughput case.
    let tables = std::path::absolute(options.out.join("tables"))?;
    let gz_bytes = folder_bytes(&gz_dir)?;
    for (table, with, select) in [
        ("parquet", "parquet_compression = 'SNAPPY'", "*"),
        (
            "by_state",
            "parquet_compression = 'SNAPPY', partitioned_by = ARRAY['state']",
            "* EXCLUDE (state), state",
        ),
        (
            "buckets",
            "parquet_compression = 'SNAPPY', bucketed_by = ARRAY['state'], bucket_count = 60",
            "*",
        ),
        (
            "delta",
            "table_type = 'DELTA', parquet_compression = 'SNAPPY', partitioned_by = ARRAY['state']",
            "* EXCLUDE (state), state",
        ),
    ] {
        if session
            .catalog()
            .get_table("bench", table)
            .await
            .map_err(tarn_engine::EngineError::from)?
            .is_some()
        {
            continue;
        }
        let source = if table == "parquet" {
            "bench.csv_gz"
        } else {
            "bench.parquet"
        };
        let started = Instant::now();
        drain(
            &mut session,
            &format!(
                "CREATE TABLE bench.{table} WITH (format = 'PARQUET', external_location = '{}/', {with}) \
                 AS SELECT {select} FROM {source}",
                tables.join(table).display()
            ),
        )
        .await?;
        if table == "parquet" {
            report.writes.push(WriteCase {
                name: "CTAS gzip CSV → Parquet (Snappy)".into(),
                rows: options.rows as u64,
                input_bytes: gz_bytes,
                elapsed: started.elapsed(),
                partitions: None,
                peak_rss: None,
                duckdb_elapsed: None,
            });
        }
    }
    if let Some(columns) = options.partition_write {
        report
            .writes
            .push(partition_write(&mut session, options, columns, &tables).await?);
    }

    let duckdb = match &options.duckdb {
        Some(exe) => Some(DuckDb::new(exe)?),
        None => None,
    };
    report.duckdb_version = duckdb.as_ref().map(|d| d.version.clone());
    // Only when tarn's CTAS ran in this run (a rerun reuses its tables and has no write to compare).
    let ctas = report.writes.iter_mut().find(|w| w.partitions.is_none());
    if let (Some(duck), Some(ctas)) = (&duckdb, ctas) {
        // The same delivery into one Snappy Parquet file, DuckDB's way; its output is not read again.
        let target = tables.join("duckdb_copy");
        std::fs::create_dir_all(&target)?;
        let copy = format!(
            "COPY (SELECT * FROM read_csv('{}/*.csv.gz', delim = '|', header = true)) TO '{}' \
             (FORMAT parquet, COMPRESSION snappy)",
            gz_dir.display(),
            target.join("copy.parquet").display()
        );
        let (_, times) = duck.time(&[], &copy, 1)?;
        ctas.duckdb_elapsed = times.first().copied();
    }
    for (query_name, template) in QUERIES {
        let mut answers = Vec::new();
        for (format, table, reader) in FORMATS {
            let sql = template.replace("{table}", table);
            let mut times = Vec::with_capacity(options.runs);
            let mut last = None;
            for _ in 0..options.runs.max(1) {
                let (batches, stats) = session.execute(&sql).await?.collect().await?;
                times.push(stats.elapsed);
                last = Some((batches, stats));
            }
            let Some((batches, stats)) = last else { continue };
            let answer = single_value(&batches);
            times.sort();
            let dir = match table {
                "bench.csv_gz" => gz_dir.clone(),
                "bench.csv" => csv_dir.clone(),
                other => tables.join(other.trim_start_matches("bench.")),
            };
            let duckdb_times = match &duckdb {
                Some(duck) if !reader.is_empty() => {
                    let sql = template.replace("{table}", &reader.replace("{dir}", &dir.display().to_string()));
                    let (rows, times) = duck.time(&[], &sql, options.runs)?;
                    let duck_answer = match rows.as_slice() {
                        [row] if row.len() == 1 => Some(row[0].clone()),
                        _ => None,
                    };
                    if duck_answer != answer {
                        return Err(BenchError::Mismatch(format!(
                            "tarn and DuckDB disagree on '{query_name}' over {format}: {answer:?} vs {duck_answer:?}"
                        )));
                    }
                    times
                }
                _ => Vec::new(),
            };
            answers.push(answer.clone());
            report.measurements.push(Measurement {
                format: format.to_string(),
                query: query_name.to_string(),
                answer,
                bytes_scanned: stats.bytes_scanned,
                dollars: stats.bill.map(|b| b.dollars).unwrap_or(0.0),
                times,
                duckdb_times,
            });
        }
        if answers.windows(2).any(|w| w[0] != w[1]) {
            return Err(BenchError::Mismatch(format!(
                "formats disagree on '{query_name}': {answers:?}"
            )));
        }
    }
    report::write(&options.out, &header(options), &report)?;
    Ok(report)
}

/// CTAS partitioned by state and age: one folder per pair (about 3,800 at a million rows), with the peak memory of
/// the write.
async fn partition_write(
    session: &mut Session,
    options: &BenchOptions,
    columns: PartitionWrite,
    tables: &Path,
) -> Result<WriteCase, BenchError> {
    let location = tables.join("by_state_age");
    let (select, name) = match columns {
        PartitionWrite::AllColumns => ("* EXCLUDE (state, age)".to_string(), "all columns".to_string()),
        PartitionWrite::FirstColumns(n) => {
            let names: Vec<String> = consumer_header::columns()
                .into_iter()
                .map(|c| c.name.to_ascii_lowercase())
                .filter(|c| c != "state" && c != "age")
                .take(n)
                .collect();
            (names.join(", "), format!("{} columns", names.len() + 2))
        }
    };
    let _ = session
        .execute("DROP TABLE IF EXISTS bench.by_state_age PURGE")
        .await?
        .collect()
        .await?;
    let ctas = format!(
        "CREATE TABLE bench.by_state_age WITH (format = 'PARQUET', external_location = '{}/', \
         partitioned_by = ARRAY['state', 'age']) AS SELECT {select}, state, age FROM bench.parquet",
        location.display()
    );
    let started = Instant::now();
    let peak_rss = match &options.tarn {
        Some(tarn) => {
            let warehouse = std::path::absolute(options.out.join("warehouse"))?;
            let mut command = Command::new(tarn);
            command.arg("--warehouse").arg(&warehouse).arg("-c").arg(&ctas);
            // The wait polls for tens of seconds: off the runtime's threads.
            tokio::task::spawn_blocking(move || peak_rss_of(&mut command))
                .await
                .map_err(|e| BenchError::Child(format!("the thread waiting for it failed: {e}")))??
        }
        None => {
            reset_peak_rss();
            drain(session, &ctas).await?;
            peak_rss(std::process::id())
        }
    };
    let elapsed = started.elapsed();
    let partitions = count_leaf_folders(&location)?;
    Ok(WriteCase {
        name: format!("CTAS into partitions (state, age), {name}"),
        rows: options.rows as u64,
        input_bytes: folder_bytes(&tables.join("parquet"))?,
        elapsed,
        partitions: Some(partitions),
        peak_rss,
        duckdb_elapsed: None,
    })
}

/// Runs `command` to its end and returns its peak resident memory. The kernel keeps the high-water mark, so polling
/// it misses only what the process would allocate in its last interval, while it is tearing down.
fn peak_rss_of(command: &mut Command) -> Result<Option<u64>, BenchError> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    // Drained on a thread of its own: a child blocked on a full stderr pipe would never exit.
    let stderr = child.stderr.take().map(|mut pipe| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut pipe, &mut text);
            text
        })
    });
    let mut peak = None;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        peak = peak_rss(child.id()).or(peak);
        std::thread::sleep(Duration::from_millis(10));
    };
    if !status.success() {
        let text = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
        return Err(BenchError::Child(format!("{status}: {}", text.trim())));
    }
    Ok(peak)
}

/// Linux lets a process reset its peak-RSS counter (`clear_refs` 5), so the peak of one step can be read.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn count_leaf_folders(dir: &Path) -> std::io::Result<u64> {
    let mut count = 0;
    let mut has_files = false;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            if !entry.file_name().to_string_lossy().starts_with('_') {
                count += count_leaf_folders(&entry.path())?;
            }
        } else {
            has_files = true;
        }
    }
    Ok(if count == 0 && has_files { 1 } else { count })
}

fn folder_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            folder_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// The value of a one-value result (formats must agree on it exactly).
fn single_value(batches: &[tarn_engine::arrow::array::RecordBatch]) -> Option<String> {
    let batch = batches.iter().find(|b| b.num_rows() > 0)?;
    if batch.num_rows() != 1 || batch.num_columns() != 1 {
        return None;
    }
    tarn_engine::arrow::util::display::array_value_to_string(batch.column(0), 0).ok()
}

/// An executable on PATH (the `duckdb` shell).
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
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

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn header(options: &BenchOptions) -> Header {
    Header {
        title: "tarn format benchmark".into(),
        description: format!(
            "{} rows x {COLUMN_COUNT} columns in {} gzip parts, {} runs per query (median, min–max)",
            options.rows, options.parts, options.runs
        ),
        group_label: "format",
        parameters: serde_json::json!({
            "rows": options.rows,
            "columns": COLUMN_COUNT,
            "parts": options.parts,
            "runs": options.runs,
        }),
    }
}

/// The report of a formats run as Markdown (what `report.md` holds).
pub fn markdown(options: &BenchOptions, report: &Report) -> String {
    report::markdown(&header(options), report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn formats_agree_and_the_report_is_written() -> Result<(), Box<dyn std::error::Error>> {
        let out = tempfile::tempdir()?;
        // DuckDB joins when its shell is installed (CI installs the duckdb-cli package).
        let duckdb = find_on_path("duckdb");
        if duckdb.is_none() && std::env::var_os("CI").is_some() {
            return Err("CI must have the duckdb shell (pip install duckdb-cli)".into());
        }
        let options = BenchOptions {
            rows: 6_000,
            parts: 2,
            runs: 2,
            out: out.path().to_path_buf(),
            duckdb: duckdb.clone(),
            // All 400 columns into ~1,700 files take minutes in a debug build; the bench's default writes them all.
            partition_write: Some(PartitionWrite::FirstColumns(4)),
            tarn: None,
        };
        let report = run(&options).await?;
        assert_eq!(report.measurements.len(), QUERIES.len() * FORMATS.len());
        let scanned = |format: &str, query: &str| {
            report
                .measurements
                .iter()
                .find(|m| m.format == format && m.query == query)
                .map(|m| m.bytes_scanned)
                .unwrap_or(0)
        };
        let (gz, csv) = (scanned("gzip CSV", "count"), scanned("CSV", "count"));
        assert!(gz > 0 && gz * 2 < csv, "gzip {gz} vs plain {csv}");
        let eight = |format: &str| scanned(format, "8 columns, one state");
        // Parquet reads 9 of 400 columns; at this size the 400-column footers are most of what it reads.
        assert!(
            eight("Parquet") * 3 < eight("gzip CSV"),
            "{} vs {}",
            eight("Parquet"),
            eight("gzip CSV")
        );
        assert!(eight("Parquet, 60 state buckets") < eight("Parquet"));
        assert!(eight("Parquet, partitioned by state") < eight("Parquet"));
        assert!(eight("Delta, partitioned by state") < eight("Parquet"));
        assert!(report.measurements.iter().all(|m| m.bytes_scanned > 0));

        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("results.json"))?)?;
        assert_eq!(json["results"].as_array().map(Vec::len), Some(18));
        let writes = json["writes"].as_array().ok_or("no writes")?;
        assert_eq!(writes.len(), 2);
        assert!(writes[0]["rows_per_second"].as_f64().is_some_and(|r| r > 0.0));
        assert!(
            writes[1]["partitions"].as_u64().is_some_and(|p| p > 1_000),
            "{}",
            writes[1]
        );
        let report_md = std::fs::read_to_string(out.path().join("report.md"))?;
        assert!(report_md.contains("| one state | gzip CSV |"), "{report_md}");
        let chart = std::fs::read_to_string(out.path().join("chart.svg"))?;
        assert!(chart.starts_with("<svg") && chart.trim_end().ends_with("</svg>"));
        for m in &report.measurements {
            assert!(
                chart.contains(&format!("{} · {}", m.query, m.format)),
                "a labelled row per result"
            );
        }
        if duckdb.is_some() {
            assert!(report_md.contains("tarn ÷ DuckDB"), "{report_md}");
            assert_eq!(
                chart.matches("×\n</text>").count(),
                report
                    .measurements
                    .iter()
                    .filter(|m| m.ratio_to_duckdb().is_some())
                    .count(),
                "the ratio beside every compared pair of bars"
            );
            assert!(
                writes[0]["duckdb_seconds"].as_f64().is_some_and(|s| s > 0.0),
                "DuckDB's COPY of the same delivery is timed: {}",
                writes[0]
            );
            assert!(
                report
                    .measurements
                    .iter()
                    .all(|m| m.ratio_to_duckdb().is_some() != m.format.starts_with("Delta")),
                "DuckDB times every format but Delta (its shell cannot load the delta extension offline)"
            );
        }
        Ok(())
    }
}
