//! What a statement returns: rows (streamed), a message, and the figures — rows, time, bytes scanned, the bill.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanVisitor, accept};
use futures::StreamExt;

use crate::error::{EngineError, Result, from_datafusion};
use crate::meter::{Bill, ScanMeter};
use crate::storage::Location;

/// Bytes and dollars of every query a session ran.
#[derive(Debug, Default)]
pub struct SessionTotals {
    pub(crate) queries: AtomicU64,
    pub(crate) bytes_scanned: AtomicU64,
    pub(crate) billed_bytes: AtomicU64,
}

impl SessionTotals {
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }
    pub fn bytes_scanned(&self) -> u64 {
        self.bytes_scanned.load(Ordering::Relaxed)
    }
    pub fn dollars(&self) -> f64 {
        self.billed_bytes.load(Ordering::Relaxed) as f64 / crate::meter::TB as f64 * crate::meter::DOLLARS_PER_TB
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultKind {
    /// A query: rows, billed by bytes scanned.
    Query,
    /// A catalog listing (SHOW, DESCRIBE): rows, free.
    Listing,
    /// A statement that changed something and reports it in a message (DDL, USE, SET): free.
    Command,
    /// CTAS, INSERT, UNLOAD: a message about what was written, billed for the data its query scanned.
    Write,
}

/// The figures of one statement.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryStats {
    pub rows: u64,
    pub elapsed: Duration,
    /// Bytes fetched from storage (GETs), as Athena's "data scanned".
    pub bytes_scanned: u64,
    /// GET requests made.
    pub requests: u64,
    /// Prefixes listed (LIST requests), in order.
    pub listed: Vec<String>,
    /// What Athena would bill; `None` for free statements (DDL, SHOW, EXPLAIN).
    pub bill: Option<Bill>,
    /// Text values read as NULL because they are not of their column's type, and invalid UTF-8 replaced.
    pub text: crate::meter::TextNotes,
    /// On a cluster: what each worker scanned (part of `bytes_scanned`), by worker URL.
    pub workers: Vec<(String, u64)>,
    /// On a cluster: how many files each worker wrote, by worker URL.
    pub files_written: Vec<(String, u64)>,
    /// On a cluster: what the coordinator read to plan (Parquet footers), not part of `bytes_scanned`.
    pub planning_bytes: u64,
}

pub(crate) enum Rows {
    Stream(SendableRecordBatchStream),
    Batches(VecDeque<RecordBatch>),
}

/// The outcome of a statement: a stream of rows (possibly none), a message, and, once drained, its figures.
pub struct QueryResult {
    pub(crate) outcome: Outcome,
    pub(crate) started: Instant,
    pub(crate) finished: Option<Duration>,
    pub(crate) totals: Arc<SessionTotals>,
}

impl std::fmt::Debug for QueryResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryResult")
            .field("kind", &self.outcome.kind)
            .field("message", &self.outcome.message)
            .finish()
    }
}

/// What a statement produced, before the session adds its timing and totals ([`QueryResult::new`]).
pub(crate) struct Outcome {
    pub(crate) kind: ResultKind,
    pub(crate) schema: SchemaRef,
    pub(crate) rows: Rows,
    pub(crate) meter: Option<Arc<ScanMeter>>,
    pub(crate) plan: Option<Arc<dyn ExecutionPlan>>,
    pub(crate) locations: Vec<Location>,
    pub(crate) billed: bool,
    pub(crate) message: Option<String>,
    pub(crate) notices: Vec<String>,
    pub(crate) row_count: u64,
}

impl Outcome {
    pub(crate) fn listing(schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        Self {
            kind: ResultKind::Listing,
            schema,
            rows: Rows::Batches(batches.into()),
            meter: None,
            plan: None,
            locations: Vec::new(),
            billed: false,
            message: None,
            notices: Vec::new(),
            row_count: 0,
        }
    }

    /// A listing of text columns named `names`.
    pub(crate) fn strings(names: &[&str], columns: Vec<Vec<String>>) -> Result<Self> {
        Ok(Self::listing(string_schema(names), string_batch(names, columns)?))
    }

    pub(crate) fn message(message: String) -> Self {
        Self {
            kind: ResultKind::Command,
            message: Some(message),
            ..Self::listing(Arc::new(Schema::empty()), Vec::new())
        }
    }

    /// A finished write: `rows` rows written; billed by `meter` like the query that produced them.
    pub(crate) fn written(message: String, rows: u64, meter: Arc<ScanMeter>) -> Self {
        Self {
            kind: ResultKind::Write,
            message: Some(message),
            meter: Some(meter),
            billed: true,
            row_count: rows,
            ..Self::listing(Arc::new(Schema::empty()), Vec::new())
        }
    }

    pub(crate) fn with_notices(mut self, notices: Vec<String>) -> Self {
        self.notices = notices;
        self
    }
}

pub(crate) fn string_schema(names: &[&str]) -> SchemaRef {
    Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(*n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

pub(crate) fn string_batch(names: &[&str], columns: Vec<Vec<String>>) -> Result<Vec<RecordBatch>> {
    let arrays = columns
        .into_iter()
        .map(|values| Arc::new(StringArray::from(values)) as _)
        .collect();
    let batch = RecordBatch::try_new(string_schema(names), arrays).map_err(|e| EngineError::internal(e.to_string()))?;
    Ok(vec![batch])
}

impl QueryResult {
    /// The result of a statement that started at `started`; a finished write is counted in `totals` now.
    pub(crate) fn new(outcome: Outcome, started: Instant, totals: Arc<SessionTotals>) -> Self {
        let write = outcome.kind == ResultKind::Write;
        let mut result = Self {
            outcome,
            started,
            finished: None,
            totals,
        };
        if write {
            result.finish();
        }
        result
    }

    pub fn kind(&self) -> ResultKind {
        self.outcome.kind
    }

    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.outcome.schema)
    }

    /// What a command did ("created table db.t").
    pub fn message(&self) -> Option<&str> {
        self.outcome.message.as_deref()
    }

    /// Warnings worth showing (e.g. a LOCATION with no files yet).
    pub fn notices(&self) -> &[String] {
        &self.outcome.notices
    }

    /// The next batch of rows; `None` at the end, after which [`Self::stats`] is final.
    pub async fn next_batch(&mut self) -> Option<Result<RecordBatch>> {
        let next = match &mut self.outcome.rows {
            Rows::Batches(batches) => batches.pop_front().map(Ok),
            Rows::Stream(stream) => stream.next().await.map(|r| r.map_err(|e| self.map_error(e))),
        };
        match &next {
            Some(Ok(batch)) => self.outcome.row_count += batch.num_rows() as u64,
            Some(Err(_)) | None => self.finish(),
        }
        next
    }

    /// Drains the rows into memory.
    pub async fn collect(mut self) -> Result<(Vec<RecordBatch>, QueryStats)> {
        let mut batches = Vec::new();
        while let Some(batch) = self.next_batch().await {
            batches.push(batch?);
        }
        let stats = self.stats();
        Ok((batches, stats))
    }

    fn map_error(&self, e: datafusion::error::DataFusionError) -> EngineError {
        query_error(e, self.outcome.meter.as_deref(), &self.outcome.locations)
    }

    fn finish(&mut self) {
        if self.finished.is_some() {
            return;
        }
        self.finished = Some(self.started.elapsed());
        if let (Some(meter), true) = (&self.outcome.meter, self.outcome.billed) {
            self.totals.queries.fetch_add(1, Ordering::Relaxed);
            self.totals.bytes_scanned.fetch_add(meter.bytes(), Ordering::Relaxed);
            self.totals
                .billed_bytes
                .fetch_add(Bill::for_scan(meter.bytes()).billed_bytes, Ordering::Relaxed);
        }
    }

    /// The sum of a DataFusion metric (e.g. `bytes_scanned`, `row_groups_pruned_statistics`) over the executed plan.
    pub fn metric(&self, name: &str) -> Option<usize> {
        struct Sum<'a> {
            name: &'a str,
            total: Option<usize>,
        }
        impl ExecutionPlanVisitor for Sum<'_> {
            type Error = std::convert::Infallible;
            fn pre_visit(&mut self, plan: &dyn ExecutionPlan) -> std::result::Result<bool, Self::Error> {
                if let Some(value) = plan.metrics().and_then(|m| m.sum_by_name(self.name)) {
                    *self.total.get_or_insert(0) += value.as_usize();
                }
                Ok(true)
            }
        }
        let plan = self.outcome.plan.as_ref()?;
        let mut sum = Sum { name, total: None };
        accept(plan.as_ref(), &mut sum).ok()?;
        sum.total
    }

    pub fn stats(&self) -> QueryStats {
        let bytes_scanned = self.outcome.meter.as_ref().map(|m| m.bytes()).unwrap_or(0);
        QueryStats {
            rows: self.outcome.row_count,
            elapsed: self.finished.unwrap_or_else(|| self.started.elapsed()),
            bytes_scanned,
            requests: self.outcome.meter.as_ref().map(|m| m.requests()).unwrap_or(0),
            listed: self.outcome.meter.as_ref().map(|m| m.listed()).unwrap_or_default(),
            bill: self.outcome.billed.then(|| Bill::for_scan(bytes_scanned)),
            text: self.outcome.meter.as_ref().map(|m| m.text_notes()).unwrap_or_default(),
            workers: self.outcome.meter.as_ref().map(|m| m.by_worker()).unwrap_or_default(),
            files_written: self
                .outcome
                .meter
                .as_ref()
                .map(|m| m.files_by_worker())
                .unwrap_or_default(),
            planning_bytes: self
                .outcome
                .meter
                .as_ref()
                .map(|m| m.planning_bytes())
                .unwrap_or_default(),
        }
    }
}

/// The engine error for a failed query: the scan limit if the meter tripped, a named file for Parquet files that
/// are not Parquet, else the general translation.
pub(crate) fn query_error(
    e: datafusion::error::DataFusionError,
    meter: Option<&ScanMeter>,
    locations: &[Location],
) -> EngineError {
    if let Some(meter) = meter
        && meter.exceeded()
    {
        return EngineError::ScanLimitExceeded {
            limit: meter.limit().unwrap_or_default(),
            scanned: meter.bytes(),
        };
    }
    let text = e.to_string();
    const MARKER: &str = "Failed to fetch metadata for file ";
    if let Some(start) = text.find(MARKER) {
        let rest = &text[start + MARKER.len()..];
        let path = rest.split(": ").next().unwrap_or_default().to_string();
        let location = locations
            .iter()
            .find(|l| path.starts_with(l.prefix.as_ref()))
            .map(|l| l.object_url(&object_store::path::Path::from(path.as_str())))
            .unwrap_or(path);
        let message = if rest.contains("Corrupt footer") || rest.contains("Invalid Parquet file") {
            "not a Parquet file (no Parquet footer); keep only Parquet files under the table's LOCATION".to_string()
        } else {
            rest.split_once(": ").map(|(_, m)| m.to_string()).unwrap_or_default()
        };
        return EngineError::DataFile {
            location,
            line: None,
            message,
        };
    }
    match from_datafusion(e) {
        EngineError::OutOfMemory { limit: None, detail } => EngineError::OutOfMemory {
            limit: meter.and_then(ScanMeter::memory_limit),
            detail,
        },
        other => other,
    }
}

/// Rows of a failing check shown in its error.
const CHECK_EXAMPLES: usize = 3;

/// Whether a `CHECK` query's rows say the data is right: one `true` value, or no rows at all. The error says what
/// the query returned, with a few of the rows that break the rule.
pub(crate) fn check_verdict(batches: &[RecordBatch]) -> std::result::Result<(), String> {
    use datafusion::arrow::array::{Array, AsArray};

    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if rows == 0 {
        return Ok(());
    }
    let Some(first) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(());
    };
    if rows == 1 && first.num_columns() == 1 && first.column(0).data_type() == &DataType::Boolean {
        let value = first.column(0).as_boolean();
        return match (value.is_null(0), value.value(0)) {
            (true, _) => Err("it returned NULL, not true".into()),
            (false, true) => Ok(()),
            (false, false) => Err("it returned false".into()),
        };
    }
    let mut examples = Vec::new();
    for batch in batches {
        let Ok(printer) = crate::display::RowPrinter::try_new(batch.columns()) else {
            break;
        };
        for row in 0..batch.num_rows() {
            if examples.len() == CHECK_EXAMPLES {
                break;
            }
            let values = printer.row_or(row, "NULL");
            examples.push(format!("({})", values.join(", ")));
        }
    }
    Err(format!(
        "{rows} row{} break{} it, e.g. {}",
        if rows == 1 { "" } else { "s" },
        if rows == 1 { "s" } else { "" },
        examples.join(", ")
    ))
}
