//! TPC-H on tarn: the eight tables generated in-process (tpchgen-arrow) as Snappy Parquet in the two layouts users
//! have — one file per table, and files of about 128 MB — registered through the catalog with DDL as a user would,
//! the 22 queries of `queries/tpch/` timed in tarn and, when asked, in DuckDB on the same files in the same run, with
//! every result checked against DuckDB's.

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use tarn_engine::{Session, SessionOptions, arrow_to_hive, format_bytes};
use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator, PartSuppGenerator,
    RegionGenerator, SupplierGenerator,
};
use tpchgen_arrow::{
    CustomerArrow, LineItemArrow, NationArrow, OrderArrow, PartArrow, PartSuppArrow, RegionArrow, SupplierArrow,
};

use crate::duckdb::{DuckDb, NULL, same_rows};
use crate::{BenchError, Measurement, Report, drain};

/// The 22 queries with the specification's validation parameters (Q15's view as a `WITH` clause).
pub const QUERIES: [&str; 22] = [
    include_str!("../../queries/tpch/q01.sql"),
    include_str!("../../queries/tpch/q02.sql"),
    include_str!("../../queries/tpch/q03.sql"),
    include_str!("../../queries/tpch/q04.sql"),
    include_str!("../../queries/tpch/q05.sql"),
    include_str!("../../queries/tpch/q06.sql"),
    include_str!("../../queries/tpch/q07.sql"),
    include_str!("../../queries/tpch/q08.sql"),
    include_str!("../../queries/tpch/q09.sql"),
    include_str!("../../queries/tpch/q10.sql"),
    include_str!("../../queries/tpch/q11.sql"),
    include_str!("../../queries/tpch/q12.sql"),
    include_str!("../../queries/tpch/q13.sql"),
    include_str!("../../queries/tpch/q14.sql"),
    include_str!("../../queries/tpch/q15.sql"),
    include_str!("../../queries/tpch/q16.sql"),
    include_str!("../../queries/tpch/q17.sql"),
    include_str!("../../queries/tpch/q18.sql"),
    include_str!("../../queries/tpch/q19.sql"),
    include_str!("../../queries/tpch/q20.sql"),
    include_str!("../../queries/tpch/q21.sql"),
    include_str!("../../queries/tpch/q22.sql"),
];

pub const TABLES: [&str; 8] = [
    "region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem",
];

#[derive(Debug, Clone)]
pub struct TpchOptions {
    /// TPC-H scale factor: 1 is 6 million lineitems, about 250 MB of Parquet here.
    pub scale: f64,
    pub runs: usize,
    /// Where data, warehouse and the report go. Data of a scale factor is generated once and reused.
    pub out: PathBuf,
    pub duckdb: Option<PathBuf>,
    /// The size at which the second layout starts a new file (128 MB, what Spark and Athena's CTAS aim for).
    pub file_bytes: u64,
    /// `SET` statements run in tarn's session before the queries (`datafusion.execution.target_partitions = 4`), to
    /// measure what a setting changes.
    pub settings: Vec<String>,
    /// Workers (`http://host:port`) the queries run on; none: in this process.
    pub workers: Vec<String>,
}

/// A way to store the tables: its label in the report, its database in tarn's catalog and its folder.
struct Layout {
    label: String,
    database: &'static str,
    folder: PathBuf,
    /// `None` writes one file per table.
    max_file_bytes: Option<u64>,
}

/// Generates the data if needed, registers it, runs every query `runs` times per layout (and in DuckDB when asked,
/// failing on the first result that differs), and writes `results.json`, `report.md` and `chart.svg` to `out`.
pub async fn run(options: &TpchOptions) -> Result<Report, BenchError> {
    let data = std::path::absolute(options.out.join(format!("data/sf{}", options.scale)))?;
    let layouts = [
        Layout {
            label: "one file per table".into(),
            database: "tpch",
            folder: data.join("single"),
            max_file_bytes: None,
        },
        Layout {
            label: format!("files of {}", format_bytes(options.file_bytes)),
            database: "tpch_files",
            folder: data.join(format!("files_{}", options.file_bytes)),
            max_file_bytes: Some(options.file_bytes),
        },
    ];
    generate(options.scale, &layouts)?;

    let mut session = Session::open(SessionOptions {
        warehouse: options.out.join("warehouse").display().to_string(),
        workers: options.workers.clone(),
        ..Default::default()
    })
    .await?;
    for layout in &layouts {
        drain(
            &mut session,
            &format!("CREATE DATABASE IF NOT EXISTS {}", layout.database),
        )
        .await?;
        for table in TABLES {
            drain(&mut session, &ddl(layout, table)?).await?;
        }
    }
    for setting in &options.settings {
        drain(&mut session, &format!("SET {setting}")).await?;
    }
    let duckdb = match &options.duckdb {
        Some(exe) => Some(DuckDb::new(exe)?),
        None => None,
    };
    let mut report = Report {
        duckdb_version: duckdb.as_ref().map(|d| d.version.clone()),
        ..Default::default()
    };
    for (i, sql) in QUERIES.iter().enumerate() {
        let name = format!("Q{}", i + 1);
        for layout in &layouts {
            drain(&mut session, &format!("USE {}", layout.database)).await?;
            let mut times = Vec::with_capacity(options.runs);
            let mut last = None;
            for _ in 0..options.runs.max(1) {
                let (batches, stats) = session.execute(sql).await?.collect().await?;
                times.push(stats.elapsed);
                last = Some((batches, stats));
            }
            let Some((batches, stats)) = last else { continue };
            times.sort();
            let rows = rows_of(&batches)?;
            let duckdb_times = match &duckdb {
                Some(duck) => {
                    let (duck_rows, duck_times) = duck.time(&duckdb_views(layout), sql, options.runs)?;
                    if !same_rows(&rows, &duck_rows) {
                        return Err(BenchError::Mismatch(format!(
                            "tarn and DuckDB disagree on {name} over {}:\ntarn:   {}\nDuckDB: {}",
                            layout.label,
                            first_rows(&rows),
                            first_rows(&duck_rows)
                        )));
                    }
                    duck_times
                }
                None => Vec::new(),
            };
            report.measurements.push(Measurement {
                format: layout.label.clone(),
                query: name.clone(),
                answer: Some(format!("{} rows", rows.len())),
                bytes_scanned: stats.bytes_scanned,
                dollars: stats.bill.map(|b| b.dollars).unwrap_or(0.0),
                times,
                duckdb_times,
            });
        }
    }
    crate::report::write(&options.out, &header(options), &report)?;
    Ok(report)
}

/// The `CREATE EXTERNAL TABLE` a user would write for `table` in `layout`, its columns from the generator's schema.
fn ddl(layout: &Layout, table: &str) -> Result<String, BenchError> {
    let columns = file_schema(schema_of(table)?.as_ref())
        .fields()
        .iter()
        .map(|f| Ok(format!("  {} {}", f.name(), arrow_to_hive(f.data_type())?)))
        .collect::<Result<Vec<_>, BenchError>>()?
        .join(",\n");
    Ok(format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS {}.{table} (\n{columns}\n) STORED AS PARQUET LOCATION '{}/'",
        layout.database,
        layout.folder.join(table).display()
    ))
}

fn duckdb_views(layout: &Layout) -> Vec<String> {
    TABLES
        .iter()
        .map(|t| {
            format!(
                "CREATE VIEW {t} AS SELECT * FROM read_parquet('{}/*.parquet')",
                layout.folder.join(t).display()
            )
        })
        .collect()
}

/// Each row as text, the way DuckDB's shell prints it (`NULL` for NULL).
fn rows_of(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, BenchError> {
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
    let options = FormatOptions::default().with_null(NULL);
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(arrow_error)?;
        for row in 0..batch.num_rows() {
            rows.push(formatters.iter().map(|f| f.value(row).to_string()).collect());
        }
    }
    Ok(rows)
}

fn first_rows(rows: &[Vec<String>]) -> String {
    let shown: Vec<String> = rows.iter().take(3).map(|r| r.join(" | ")).collect();
    format!("{} rows: {}", rows.len(), shown.join(" / "))
}

fn arrow_error(e: ArrowError) -> BenchError {
    BenchError::Generate(e.to_string())
}

/// The generator of `table`, its batches already in the files' schema.
fn batches(
    table: &str,
    scale: f64,
) -> Result<Box<dyn Iterator<Item = Result<RecordBatch, ArrowError>> + Send>, BenchError> {
    Ok(match table {
        "region" => Box::new(RegionArrow::new(RegionGenerator::new(scale, 1, 1))),
        "nation" => Box::new(NationArrow::new(NationGenerator::new(scale, 1, 1))),
        "supplier" => Box::new(SupplierArrow::new(SupplierGenerator::new(scale, 1, 1))),
        "customer" => Box::new(CustomerArrow::new(CustomerGenerator::new(scale, 1, 1))),
        "part" => Box::new(PartArrow::new(PartGenerator::new(scale, 1, 1))),
        "partsupp" => Box::new(PartSuppArrow::new(PartSuppGenerator::new(scale, 1, 1))),
        "orders" => Box::new(OrderArrow::new(OrderGenerator::new(scale, 1, 1))),
        "lineitem" => Box::new(LineItemArrow::new(LineItemGenerator::new(scale, 1, 1))),
        other => return Err(BenchError::Generate(format!("no TPC-H table '{other}'"))),
    })
}

fn schema_of(table: &str) -> Result<SchemaRef, BenchError> {
    Ok(match table {
        "region" => RegionArrow::schema_ref(),
        "nation" => NationArrow::schema_ref(),
        "supplier" => SupplierArrow::schema_ref(),
        "customer" => CustomerArrow::schema_ref(),
        "part" => PartArrow::schema_ref(),
        "partsupp" => PartSuppArrow::schema_ref(),
        "orders" => OrderArrow::schema_ref(),
        "lineitem" => LineItemArrow::schema_ref(),
        other => return Err(BenchError::Generate(format!("no TPC-H table '{other}'"))),
    })
}

/// The generator's schema with plain strings: the generator makes string views, which Parquet stores as strings
/// anyway; the files then carry the Arrow type every other writer records.
fn file_schema(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Utf8View => Field::new(f.name(), DataType::Utf8, f.is_nullable()),
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    ))
}

/// Writes every table in every layout, one thread per table; a marker file records a complete generation, so an
/// interrupted one starts again.
fn generate(scale: f64, layouts: &[Layout]) -> Result<(), BenchError> {
    let pending: Vec<&Layout> = layouts
        .iter()
        .filter(|l| !l.folder.join("_COMPLETE").exists())
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    for layout in &pending {
        if layout.folder.exists() {
            std::fs::remove_dir_all(&layout.folder)?;
        }
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = TABLES
            .iter()
            .map(|table| scope.spawn(|| write_table(table, scale, &pending)))
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .map_err(|_| BenchError::Generate("a generator thread panicked".into()))?
        })
    })?;
    for layout in pending {
        std::fs::write(layout.folder.join("_COMPLETE"), format!("TPC-H scale factor {scale}\n"))?;
    }
    Ok(())
}

/// One table into every pending layout from a single pass of its generator.
fn write_table(table: &str, scale: f64, layouts: &[&Layout]) -> Result<(), BenchError> {
    let schema = file_schema(schema_of(table)?.as_ref());
    let mut writers = layouts
        .iter()
        .map(|l| RollingWriter::new(l.folder.join(table), Arc::clone(&schema), l.max_file_bytes))
        .collect::<Result<Vec<_>, _>>()?;
    for batch in batches(table, scale)? {
        let batch = batch.map_err(arrow_error)?;
        let columns = batch
            .columns()
            .iter()
            .zip(schema.fields())
            .map(|(c, f)| cast(c, f.data_type()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(arrow_error)?;
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns).map_err(arrow_error)?;
        for writer in &mut writers {
            writer.write(&batch)?;
        }
    }
    writers.into_iter().try_for_each(RollingWriter::finish)
}

/// Parquet files in a folder, a new one begun when the current one reaches `max_bytes`.
struct RollingWriter {
    folder: PathBuf,
    schema: SchemaRef,
    max_bytes: Option<u64>,
    current: Option<ArrowWriter<std::fs::File>>,
    files: usize,
}

impl RollingWriter {
    fn new(folder: PathBuf, schema: SchemaRef, max_bytes: Option<u64>) -> Result<Self, BenchError> {
        std::fs::create_dir_all(&folder)?;
        Ok(Self {
            folder,
            schema,
            max_bytes,
            current: None,
            files: 0,
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), BenchError> {
        let writer = match &mut self.current {
            Some(writer) => writer,
            None => {
                let path = self.folder.join(format!("part-{:05}.parquet", self.files));
                self.files += 1;
                // What Athena's CTAS and tarn's writer produce: Snappy, page statistics.
                let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
                let file = std::fs::File::create(&path)?;
                self.current.insert(
                    ArrowWriter::try_new(file, Arc::clone(&self.schema), Some(props))
                        .map_err(|e| BenchError::Generate(format!("{}: {e}", path.display())))?,
                )
            }
        };
        writer.write(batch).map_err(|e| BenchError::Generate(e.to_string()))?;
        let written = writer.bytes_written() as u64 + writer.in_progress_size() as u64;
        if self.max_bytes.is_some_and(|max| written >= max) {
            self.close()?;
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), BenchError> {
        if let Some(writer) = self.current.take() {
            writer.close().map_err(|e| BenchError::Generate(e.to_string()))?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(), BenchError> {
        self.close()
    }
}

/// The report of a TPC-H run as Markdown (what `report.md` holds).
pub fn markdown(options: &TpchOptions, report: &Report) -> String {
    crate::report::markdown(&header(options), report)
}

fn header(options: &TpchOptions) -> crate::report::Header {
    crate::report::Header {
        title: format!("TPC-H SF{}", options.scale),
        description: format!(
            "TPC-H at scale factor {}, Snappy Parquet generated by tpchgen-arrow, {} runs per query (median, min–max){}",
            options.scale,
            options.runs,
            match options.workers.len() {
                0 => String::new(),
                n => format!(", on {n} worker{}", if n == 1 { "" } else { "s" }),
            }
        ),
        group_label: "layout",
        parameters: serde_json::json!({
            "scale_factor": options.scale,
            "runs": options.runs,
            "file_bytes": options.file_bytes,
            "settings": options.settings,
            "workers": options.workers.len(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every query runs at a tiny scale factor in both layouts, with several files per table in the second, and
    /// returns DuckDB's rows; the report names every query.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tpch_queries_agree_with_duckdb() -> Result<(), Box<dyn std::error::Error>> {
        let out = tempfile::tempdir()?;
        let duckdb = crate::find_on_path("duckdb");
        if duckdb.is_none() && std::env::var_os("CI").is_some() {
            return Err("CI must have the duckdb shell (pip install duckdb-cli)".into());
        }
        let options = TpchOptions {
            scale: 0.01,
            runs: 1,
            out: out.path().to_path_buf(),
            duckdb: duckdb.clone(),
            file_bytes: 256 << 10,
            settings: Vec::new(),
            workers: Vec::new(),
        };
        let report = run(&options).await?;
        assert_eq!(report.measurements.len(), 44);
        let lineitem_files = |folder: &str| {
            std::fs::read_dir(out.path().join("data/sf0.01").join(folder).join("lineitem")).map(|d| d.count())
        };
        assert_eq!(lineitem_files("single")?, 1);
        assert!(lineitem_files(&format!("files_{}", 256 << 10))? > 3);
        // Q1 groups lineitem into its four (returnflag, linestatus) pairs at every scale.
        assert_eq!(report.measurements[0].answer.as_deref(), Some("4 rows"));
        assert!(report.measurements.iter().all(|m| m.bytes_scanned > 0));
        let md = std::fs::read_to_string(out.path().join("report.md"))?;
        assert!(md.contains("| Q22 | files of 256.00 KB |"), "{md}");
        if duckdb.is_some() {
            assert!(report.measurements.iter().all(|m| m.ratio_to_duckdb().is_some()));
            assert!(md.contains("total"), "{md}");
        }
        Ok(())
    }

    /// The 22 queries on two workers (in-process gRPC servers on 127.0.0.1) return DuckDB's rows, and scan the bytes
    /// one session scans.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn tpch_on_two_workers_agrees_with_duckdb_and_scans_what_one_session_scans()
    -> Result<(), Box<dyn std::error::Error>> {
        let out = tempfile::tempdir()?;
        let duckdb = crate::find_on_path("duckdb");
        if duckdb.is_none() && std::env::var_os("CI").is_some() {
            return Err("CI must have the duckdb shell (pip install duckdb-cli)".into());
        }
        let mut workers = Vec::new();
        let mut stops = Vec::new();
        for _ in 0..2 {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let url = format!("http://{}", listener.local_addr()?);
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let worker = tarn_engine::worker::WorkerOptions {
                name: url.clone(),
                ..Default::default()
            };
            tokio::spawn(tarn_engine::worker::serve_worker(listener, worker, async {
                let _ = stopped.await;
            }));
            workers.push(url);
            stops.push(stop);
        }
        // A join's dynamic filter can prune the probe side's files and pages or not, depending on which side's scan
        // gets there first: off on both sides, the bytes a plan scans do not depend on timing.
        let no_dynamic_filters = "datafusion.optimizer.enable_dynamic_filter_pushdown = false";
        let single = TpchOptions {
            scale: 0.01,
            runs: 1,
            out: out.path().to_path_buf(),
            duckdb: None,
            file_bytes: 256 << 10,
            settings: vec![no_dynamic_filters.into()],
            workers: Vec::new(),
        };
        let cluster = TpchOptions {
            duckdb,
            // SF 0.01 is tiny: one byte per task spreads every scan over both workers.
            settings: vec![
                no_dynamic_filters.into(),
                "distributed.file_scan_config_bytes_per_partition = 1".into(),
            ],
            workers,
            ..single.clone()
        };
        run(&single).await?;
        let two = run(&cluster).await?;
        assert_eq!(two.measurements.len(), 44);
        // A query that reads each table once scans, on two workers, exactly the bytes a new session scans (a
        // session that ran queries before has footers in its cache; a worker task starts without). The others
        // differ by what their distributed plans differ in, measured in the README: a table read twice has its
        // footers read by each stage's tasks (Q2, Q7, Q8, Q17, Q18, Q21; in one process, two scans of one file race
        // for its footer in the cache), and a scalar subquery becomes a join (Q11, Q15, Q22). Q16 reads less on the
        // workers; why is not examined.
        const SAME_BYTES: &[&str] = &[
            "Q1", "Q3", "Q4", "Q5", "Q6", "Q9", "Q10", "Q12", "Q13", "Q14", "Q19", "Q20",
        ];
        for b in &two.measurements {
            let sql = QUERIES[b.query[1..].parse::<usize>()? - 1];
            let database = if b.format == "one file per table" {
                "tpch"
            } else {
                "tpch_files"
            };
            let mut session = Session::open(SessionOptions {
                warehouse: out.path().join("warehouse").display().to_string(),
                database: Some(database.into()),
                ..Default::default()
            })
            .await?;
            session
                .execute(&format!("SET {no_dynamic_filters}"))
                .await?
                .collect()
                .await?;
            let (batches, one) = session.execute(sql).await?.collect().await?;
            assert_eq!(
                Some(format!("{} rows", rows_of(&batches)?.len())),
                b.answer,
                "{} over {}",
                b.query,
                b.format
            );
            if SAME_BYTES.contains(&b.query.as_str()) {
                assert_eq!(one.bytes_scanned, b.bytes_scanned, "{} over {}", b.query, b.format);
            }
        }
        drop(stops);
        Ok(())
    }
}
