//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use tarn_engine::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use tarn_engine::arrow::datatypes::{DataType, Field, Schema};
use tarn_engine::{AwsSettings, QueryResult, QueryStats, Session, SessionOptions};
use tarn_fixtures::data::Lcg;

pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

pub async fn open(warehouse: &str) -> TestResult<Session> {
    Ok(Session::open(SessionOptions {
        warehouse: warehouse.to_string(),
        ..Default::default()
    })
    .await?)
}

pub async fn open_s3(warehouse: &str, server: &tarn_fixtures::s3::S3Server) -> TestResult<Session> {
    Ok(Session::open(SessionOptions {
        warehouse: warehouse.to_string(),
        aws: Some(aws(server)),
        ..Default::default()
    })
    .await?)
}

pub fn aws(server: &tarn_fixtures::s3::S3Server) -> AwsSettings {
    AwsSettings::new(Some(&server.endpoint()), Some(tarn_fixtures::s3::REGION)).with_credentials(
        tarn_fixtures::s3::ACCESS_KEY,
        tarn_fixtures::s3::SECRET_KEY,
        None,
    )
}

/// The interpreter of the reference readers (`deltalake`, pyarrow, DuckDB 1.5.5 with its `delta` and `httpfs`
/// extensions) that `.ci/run` installs in a venv of their own (`TARN_DELTA_PYTHON` points elsewhere).
pub fn reference_python() -> Option<String> {
    let path = std::env::var("TARN_DELTA_PYTHON").ok().or_else(|| {
        let home = std::env::var("HOME").ok()?;
        Some(format!("{home}/.cache/tarn-pydelta/bin/python"))
    })?;
    Path::new(&path).exists().then_some(path)
}

/// Runs a statement to the end.
pub async fn run(session: &mut Session, sql: &str) -> TestResult<(Vec<Vec<String>>, QueryStats)> {
    let (batches, stats) = session.execute(sql).await?.collect().await?;
    Ok((rows(&batches)?, stats))
}

/// Runs a statement and keeps the result (for metrics).
pub async fn run_keep(session: &mut Session, sql: &str) -> TestResult<(QueryResult, Vec<Vec<String>>)> {
    let mut result = session.execute(sql).await?;
    let mut batches = Vec::new();
    while let Some(batch) = result.next_batch().await {
        batches.push(batch?);
    }
    let rows = rows(&batches)?;
    Ok((result, rows))
}

/// The single value of a one-row, one-column result.
pub async fn scalar(session: &mut Session, sql: &str) -> TestResult<String> {
    let (rows, _) = run(session, sql).await?;
    match rows.as_slice() {
        [row] if row.len() == 1 => Ok(row[0].clone()),
        other => Err(format!("expected one value from {sql}, got {other:?}").into()),
    }
}

/// Rows as Athena prints them (tarn's display), NULL as `NULL`.
pub fn rows(batches: &[RecordBatch]) -> TestResult<Vec<Vec<String>>> {
    let mut out = Vec::new();
    for batch in batches {
        let printer = tarn_engine::display::RowPrinter::try_new(batch.columns())?;
        for row in 0..batch.num_rows() {
            out.push(printer.row_or(row, "NULL"));
        }
    }
    Ok(out)
}

/// Athena DDL for the consumer sample (gzip, `|`, header) at `location`.
pub fn consumer_ddl(table: &str, location: &str) -> String {
    let columns: Vec<String> = tarn_fixtures::data::CONSUMER_COLUMNS
        .iter()
        .zip(tarn_fixtures::data::CONSUMER_TYPES)
        .map(|(name, ty)| format!("{name} {ty}"))
        .collect();
    format!(
        "CREATE EXTERNAL TABLE {table} ({}) ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' STORED AS TEXTFILE \
         LOCATION '{location}' TBLPROPERTIES ('skip.header.line.count'='1')",
        columns.join(", ")
    )
}

pub fn file_sizes(dir: &Path) -> TestResult<u64> {
    Ok(tarn_fixtures::s3::walk(dir)?
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .sum())
}

/// Writes `batch` as one Parquet file at `path`, its column names as they are (as Spark or pandas keep them).
pub fn write_batch(path: &Path, batch: &RecordBatch) -> TestResult {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut writer =
        datafusion::parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path)?, batch.schema(), None)?;
    writer.write(batch)?;
    writer.close()?;
    Ok(())
}

/// Writes a Parquet file of `rows` rows (id bigint, state string, income double) in row groups of `group` rows.
pub fn write_parquet(path: &Path, rows: usize, group: usize, seed: u64) -> TestResult<u64> {
    use tarn_engine::arrow::datatypes::SchemaRef;
    let schema: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("state", DataType::Utf8, true),
        Field::new("income", DataType::Float64, true),
    ]));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let file = std::fs::File::create(path)?;
    let props = datafusion::parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(group))
        .build();
    let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(file, Arc::clone(&schema), Some(props))?;
    let mut rng = Lcg::new(seed);
    let states = ["CA", "TX", "NY", "FL"];
    let mut start = 0;
    while start < rows {
        let n = group.min(rows - start);
        let ids: Vec<i64> = (start..start + n).map(|i| i as i64).collect();
        let st: Vec<&str> = (0..n).map(|_| states[rng.below(4) as usize]).collect();
        let inc: Vec<f64> = (0..n).map(|_| rng.below(100_000) as f64 / 3.0).collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(st)),
            Arc::new(Float64Array::from(inc)),
        ];
        writer.write(&RecordBatch::try_new(Arc::clone(&schema), columns)?)?;
        start += n;
    }
    writer.close()?;
    Ok(std::fs::metadata(path)?.len())
}

pub fn dir_url(path: &Path) -> String {
    format!("{}/", path.display())
}

pub fn tempdir() -> TestResult<tempfile::TempDir> {
    Ok(tempfile::tempdir()?)
}
