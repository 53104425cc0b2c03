//! Bytes scanned, counted where they cross the object-store boundary, per query.
//!
//! Every query gets its own [`ScanMeter`] and a registry that wraps each store in a [`MeteredStore`] feeding it, so
//! gzip CSV, JSON and Parquet are measured the same way and concurrent queries never mix their counts. Bytes are
//! added as they arrive, so a scan limit stops a query while it streams instead of after the fact.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::error::DataFusionError;
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::physical_plan::metrics::{Count, ExecutionPlanMetricsSet, Metric, MetricValue};
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};
use url::Url;

use crate::error::EngineError;

/// The metric a worker's scans report their task's bytes scanned in (with the worker's name, below).
const WORKER_BYTES_METRIC: &str = "tarn_bytes_scanned";

/// The name of the metric `worker`'s scans report their bytes in: `tarn_bytes_scanned[http://10.0.0.5:50051]`.
fn worker_metric_name(worker: &str) -> String {
    format!("{WORKER_BYTES_METRIC}[{worker}]")
}

/// The worker a metric of that name comes from, if it is one.
pub(crate) fn worker_of_metric(name: &str) -> Option<&str> {
    name.strip_prefix(WORKER_BYTES_METRIC)?
        .strip_prefix('[')?
        .strip_suffix(']')
}

/// Athena's list price in most regions.
pub const DOLLARS_PER_TB: f64 = 5.0;
/// Athena bills whole megabytes...
pub const MB: u64 = 1 << 20;
/// ...with a 10 MB minimum per query.
pub const MIN_BILLED_MB: u64 = 10;
/// A "TB" of the price list, in the same binary units as the MB rounding (the convention of the AWS console and of
/// clients such as athena-express: $5 per 2^20 MB).
pub const TB: u64 = 1 << 40;

/// Column chunks at most this far apart are fetched in one request. object_store's default (1 MiB) saves requests
/// but fetches whole unrequested columns between the ones a query reads, which is what a bytes-scanned bill is
/// about; 64 KiB still merges neighbouring small chunks.
pub const COALESCE_GAP: u64 = 64 * 1024;

/// A request to stop the statement a session is running (Ctrl-C in the shell). Reads notice it at their next
/// chunk and writes at their next batch, so a write stops through its normal failure path and cleans up after itself.
#[derive(Debug, Default)]
pub struct Interrupt(AtomicBool);

impl Interrupt {
    pub fn interrupt(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub(crate) fn clear(&self) {
        self.0.store(false, Ordering::Relaxed);
    }

    pub(crate) fn check(&self) -> Result<(), EngineError> {
        if self.is_set() {
            Err(EngineError::Interrupted)
        } else {
            Ok(())
        }
    }
}

/// The bytes one query has read, and the limit it must stay under.
#[derive(Debug, Default)]
pub struct ScanMeter {
    bytes: AtomicU64,
    requests: AtomicU64,
    /// Prefixes listed, in order: which folders a query looked into (LIST requests are not billed by Athena, but
    /// listing a whole table to read one partition is the slow part on S3).
    listed: std::sync::Mutex<Vec<String>>,
    limit: Option<u64>,
    interrupt: Option<Arc<Interrupt>>,
    /// Text values that could not be read as their column's type are errors instead of NULL.
    strict_text: bool,
    /// The query's memory pool, for messages.
    memory_limit: Option<u64>,
    text: std::sync::Mutex<TextNotes>,
    /// The query ran on workers: what each read (see [`crate::cluster`]), already part of `bytes`.
    workers: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
    /// A write that ran on workers: how many files each wrote.
    written: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
    /// Bytes the coordinator read to plan a query it then sent to workers (Parquet footers for statistics), not
    /// part of `bytes`: the workers read what they scan themselves, footers included.
    planning: AtomicU64,
    /// On a worker: the worker's name, and the task's bytes as a metric that goes back to the coordinator with the
    /// task's other metrics.
    report: Option<(String, Count)>,
    /// The report is registered on one scan of a task only, so summing a plan's metrics counts the task once.
    reported: AtomicBool,
}

/// Text values a query read as NULL because they do not convert to their column's type, by column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextNotes {
    /// Column → how many, and the first one found (`'abc' at file:///…/x.csv:17`).
    pub unreadable: std::collections::BTreeMap<String, (u64, String)>,
    /// Invalid UTF-8 sequences replaced with U+FFFD, and where the first was.
    pub invalid_utf8: Option<(u64, String)>,
}

impl TextNotes {
    pub fn is_empty(&self) -> bool {
        self.unreadable.is_empty() && self.invalid_utf8.is_none()
    }
}

impl ScanMeter {
    pub fn new(limit: Option<u64>) -> Self {
        Self {
            limit,
            ..Default::default()
        }
    }

    /// A meter that also fails the query once `interrupt` is set.
    pub fn interruptible(limit: Option<u64>, interrupt: Arc<Interrupt>) -> Self {
        Self {
            limit,
            interrupt: Some(interrupt),
            ..Default::default()
        }
    }

    /// A worker task's meter: the task's bytes also go back to the coordinator as a metric named for `worker`.
    pub(crate) fn for_worker(limit: Option<u64>, worker: &str) -> Self {
        Self {
            limit,
            report: Some((worker.to_string(), Count::new())),
            ..Default::default()
        }
    }

    /// On a worker: the worker's name.
    pub(crate) fn worker_name(&self) -> Option<&str> {
        self.report.as_ref().map(|(name, _)| name.as_str())
    }

    /// Registers this worker meter's report in `metrics` (a scan's), the first time it is asked.
    pub(crate) fn report_into(&self, metrics: &ExecutionPlanMetricsSet) {
        let Some((worker, count)) = &self.report else {
            return;
        };
        if self.reported.swap(true, Ordering::Relaxed) {
            return;
        }
        // The worker is part of the name, which EXPLAIN ANALYZE shows (it does not show labels): what each task
        // read, and where.
        let value = MetricValue::Count {
            name: worker_metric_name(worker).into(),
            count: count.clone(),
        };
        metrics.register(Arc::new(Metric::new(value, None)));
    }

    /// `bytes` read by `worker` for this query, reported when its task ended.
    pub(crate) fn add_worker_bytes(&self, worker: &str, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        if let Ok(mut workers) = self.workers.lock() {
            *workers.entry(worker.to_string()).or_default() += bytes;
        }
    }

    /// `files` written by `worker` for this statement.
    pub(crate) fn add_worker_files(&self, worker: &str, files: u64) {
        if let Ok(mut written) = self.written.lock() {
            *written.entry(worker.to_string()).or_default() += files;
        }
    }

    /// Files written by worker, for a write that ran on workers (empty otherwise).
    pub fn files_by_worker(&self) -> Vec<(String, u64)> {
        self.written
            .lock()
            .map(|w| w.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }

    /// Bytes scanned by worker, for a query that ran on workers (empty otherwise).
    pub fn by_worker(&self) -> Vec<(String, u64)> {
        self.workers
            .lock()
            .map(|w| w.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }

    /// The query is going to workers: what was read so far (planning) is reported apart from what it scans.
    pub(crate) fn set_aside_planning(&self) {
        self.planning
            .store(self.bytes.swap(0, Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Bytes the coordinator read to plan a query that ran on workers.
    pub fn planning_bytes(&self) -> u64 {
        self.planning.load(Ordering::Relaxed)
    }

    /// The same meter, with unreadable text values as errors (`SET tarn.text.strict = true`).
    pub fn with_strict_text(mut self, strict: bool) -> Self {
        self.strict_text = strict;
        self
    }

    pub fn strict_text(&self) -> bool {
        self.strict_text
    }

    /// The same meter, knowing the memory limit its query runs under (for messages).
    pub fn with_memory_limit(mut self, limit: u64) -> Self {
        self.memory_limit = Some(limit);
        self
    }

    pub fn memory_limit(&self) -> Option<u64> {
        self.memory_limit
    }

    /// `count` values of `column` read as NULL; `example` is the first one and where it is.
    pub(crate) fn note_unreadable_values(&self, column: &str, count: u64, example: &str) {
        if let Ok(mut notes) = self.text.lock() {
            let entry = notes
                .unreadable
                .entry(column.to_string())
                .or_insert_with(|| (0, example.to_string()));
            entry.0 += count;
        }
    }

    pub(crate) fn note_invalid_utf8(&self, count: u64, example: &str) {
        if let Ok(mut notes) = self.text.lock() {
            let entry = notes.invalid_utf8.get_or_insert_with(|| (0, example.to_string()));
            entry.0 += count;
        }
    }

    pub fn text_notes(&self) -> TextNotes {
        self.text.lock().map(|n| n.clone()).unwrap_or_default()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    pub fn listed(&self) -> Vec<String> {
        self.listed.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn record_list(&self, prefix: Option<&Path>) {
        if let Ok(mut listed) = self.listed.lock() {
            listed.push(prefix.map(|p| p.to_string()).unwrap_or_default());
        }
    }

    pub fn exceeded(&self) -> bool {
        self.limit.is_some_and(|l| self.bytes() > l)
    }

    /// Records `n` bytes read; fails once the total passes the limit.
    fn add(&self, n: u64) -> Result<(), EngineError> {
        if let Some(interrupt) = &self.interrupt {
            interrupt.check()?;
        }
        let total = self.bytes.fetch_add(n, Ordering::Relaxed) + n;
        if let Some((_, count)) = &self.report {
            count.add(n as usize);
        }
        match self.limit {
            Some(limit) if total > limit => Err(EngineError::ScanLimitExceeded { limit, scanned: total }),
            _ => Ok(()),
        }
    }

    pub(crate) fn check(&self) -> Result<(), EngineError> {
        if let Some(interrupt) = &self.interrupt {
            interrupt.check()?;
        }
        match self.limit {
            Some(limit) if self.bytes() > limit => Err(EngineError::ScanLimitExceeded {
                limit,
                scanned: self.bytes(),
            }),
            _ => Ok(()),
        }
    }
}

fn limit_error(e: EngineError) -> object_store::Error {
    object_store::Error::Generic {
        store: "tarn",
        source: Box::new(e),
    }
}

/// A store that counts the bytes of every GET into a [`ScanMeter`]. Listings and writes are not counted (Athena
/// bills neither as data scanned).
#[derive(Debug)]
pub struct MeteredStore {
    inner: Arc<dyn ObjectStore>,
    meter: Arc<ScanMeter>,
}

impl MeteredStore {
    pub fn new(inner: Arc<dyn ObjectStore>, meter: Arc<ScanMeter>) -> Self {
        Self { inner, meter }
    }
}

impl fmt::Display for MeteredStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Metered({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for MeteredStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        let head = options.head;
        self.meter.check().map_err(limit_error)?;
        let mut result = match self.inner.get_opts(location, options.clone()).await {
            // A query reads a committed write's staged file under its staged name; its write may rename it into
            // place between the listing and the read (see `publication`).
            Err(object_store::Error::NotFound { .. })
                if let Some((_, published)) = crate::publication::published_path(location) =>
            {
                self.inner.get_opts(&published, options).await?
            }
            other => other?,
        };
        if head {
            return Ok(result);
        }
        self.meter.requests.fetch_add(1, Ordering::Relaxed);
        result.payload = match result.payload {
            // A local file is handed over whole; the reader will consume the range, so count it now.
            GetResultPayload::File(file, path) => {
                self.meter
                    .add(result.range.end - result.range.start)
                    .map_err(limit_error)?;
                GetResultPayload::File(file, path)
            }
            // A network body is counted chunk by chunk as the reader pulls it.
            GetResultPayload::Stream(stream) => {
                let meter = Arc::clone(&self.meter);
                GetResultPayload::Stream(
                    stream
                        .map(move |chunk| {
                            let chunk = chunk?;
                            meter.add(chunk.len() as u64).map_err(limit_error)?;
                            Ok(chunk)
                        })
                        .boxed(),
                )
            }
        };
        Ok(result)
    }

    /// Parquet readers fetch column chunks in batches. Ranges closer than [`COALESCE_GAP`] are merged into one
    /// request and the merged bytes are what is counted: what storage actually sent, gaps included, the same locally
    /// and on S3.
    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> object_store::Result<Vec<Bytes>> {
        object_store::coalesce_ranges(
            ranges,
            |range| async move {
                let options = GetOptions {
                    range: Some(range.into()),
                    ..Default::default()
                };
                self.get_opts(location, options).await?.bytes().await
            },
            COALESCE_GAP,
        )
        .await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.meter.record_list(prefix);
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.meter.record_list(prefix);
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.meter.record_list(prefix);
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> object_store::Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

/// The registry a query runs with: the session's stores, each wrapped to feed this query's meter.
#[derive(Debug)]
pub struct MeteredRegistry {
    inner: Arc<dyn ObjectStoreRegistry>,
    meter: Arc<ScanMeter>,
}

impl MeteredRegistry {
    pub fn new(inner: Arc<dyn ObjectStoreRegistry>, meter: Arc<ScanMeter>) -> Self {
        Self { inner, meter }
    }
}

impl ObjectStoreRegistry for MeteredRegistry {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        self.inner.register_store(url, store)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>, DataFusionError> {
        let inner = self.inner.get_store(url)?;
        Ok(Arc::new(MeteredStore::new(inner, Arc::clone(&self.meter))))
    }
}

/// What Athena would charge for a query that scanned `bytes`: whole MB, at least 10 MB, $5 per TB.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bill {
    pub billed_bytes: u64,
    pub dollars: f64,
}

impl Bill {
    pub fn for_scan(bytes: u64) -> Self {
        let mb = bytes.div_ceil(MB).max(MIN_BILLED_MB);
        let billed_bytes = mb * MB;
        Self {
            billed_bytes,
            dollars: billed_bytes as f64 / TB as f64 * DOLLARS_PER_TB,
        }
    }
}

/// Parses `10GB`, `1.5 MB`, `500kb`, `1048576` (bytes). Units are 1024-based, like [`format_bytes`].
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size; write e.g. 10GB, 500MB or 1048576"))?;
    let unit = unit.trim().to_ascii_uppercase();
    let power = match unit.trim_end_matches("IB").trim_end_matches('B') {
        "" => 0,
        "K" => 1,
        "M" => 2,
        "G" => 3,
        "T" => 4,
        "P" => 5,
        _ => return Err(format!("'{text}': unknown unit '{unit}'; use B, KB, MB, GB, TB or PB")),
    };
    let bytes = value * 1024f64.powi(power);
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("'{text}' is out of range"));
    }
    Ok(bytes.round() as u64)
}

/// Live figures of the write in progress, for progress bars, and the session's interrupt the writer obeys.
#[derive(Debug, Default)]
pub struct WriteProgress {
    pub rows: AtomicU64,
    pub bytes: AtomicU64,
    pub files: AtomicU64,
    pub(crate) interrupt: Arc<Interrupt>,
}

impl WriteProgress {
    pub fn reset(&self) {
        self.rows.store(0, Ordering::Relaxed);
        self.bytes.store(0, Ordering::Relaxed);
        self.files.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::{format_bytes, format_count, format_dollars};

    #[test]
    fn billing_follows_athena() {
        // Tiny scans pay the 10 MB minimum.
        assert_eq!(Bill::for_scan(1).billed_bytes, 10 * MB);
        // Whole megabytes, rounded up.
        assert_eq!(Bill::for_scan(11 * MB + 1).billed_bytes, 12 * MB);
        // One TB costs the list price.
        assert!((Bill::for_scan(TB).dollars - 5.0).abs() < 1e-12);
        // The case study: 30.85 GB of gzip CSV.
        let csv = Bill::for_scan((30.85 * (1u64 << 30) as f64) as u64);
        assert_eq!(format_dollars(csv.dollars), "$0.1506");
        assert_eq!(format_dollars(Bill::for_scan(0).dollars), "$0.00004768");
    }

    #[test]
    fn counts_have_thousands_separators() {
        assert_eq!(format_count(1204), "1,204");
        assert_eq!(format_count(12), "12");
        assert_eq!(format_count(1_000_000), "1,000,000");
    }

    #[test]
    fn sizes_round_trip() {
        assert_eq!(parse_size("10GB"), Ok(10 << 30));
        assert_eq!(parse_size("1 mb"), Ok(1 << 20));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size("42"), Ok(42));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5 parsecs").is_err());
        assert_eq!(format_bytes(999), "999 B");
        assert_eq!(format_bytes(30_850_000_000), "28.73 GB");
        assert_eq!(format_bytes(1 << 20), "1.00 MB");
    }

    #[test]
    fn meter_stops_at_the_limit() {
        let meter = ScanMeter::new(Some(100));
        assert!(meter.add(60).is_ok());
        assert!(matches!(
            meter.add(60),
            Err(EngineError::ScanLimitExceeded {
                limit: 100,
                scanned: 120
            })
        ));
        assert!(meter.exceeded());
    }
}
