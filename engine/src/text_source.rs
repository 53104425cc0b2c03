//! Reading text files (delimited text and JSON lines) the way Athena does, on top of DataFusion's CSV and JSON
//! sources:
//!
//! * the codec is chosen per file from its name (`.gz`, `.bz2`, `.zst`, `.xz`), so one folder may mix compressed
//!   and plain files, where DataFusion applies one codec to a whole scan;
//! * a decoding error names the file and the line in that file, where DataFusion reports a record number relative
//!   to whatever byte range (or JSON chunk) happened to be read;
//! * delimited text is decoded by [`crate::delimited`] with Athena's SerDe rules (unreadable values are NULL and
//!   counted); JSON lines by DataFusion's reader;
//! * a file whose name claims a codec its content does not have says so.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileOpenFuture, FileOpener, FileScanConfig, FileSource};
use datafusion::datasource::projection::{ProjectionOpener, SplitProjection};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::projection::ProjectionExprs;
use datafusion::physical_expr_common::sort_expr::LexOrdering;
use datafusion::physical_plan::DisplayFormatType;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

pub use crate::codec::Codec;
pub(crate) use crate::codec::{count_lines_before, file_text, magic};
use crate::delimited::{DelimitedFormat, DelimitedOpener};
pub use crate::error::DataFileError;
use crate::error::EngineError;
use crate::meter::ScanMeter;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    Delimited,
    JsonLines,
}

/// Wraps DataFusion's `CsvSource` (for its projection and schema; [`crate::delimited`] reads the files) or
/// `JsonSource`.
#[derive(Clone)]
pub struct TextSource {
    inner: Arc<dyn FileSource>,
    kind: TextKind,
    /// How delimited files are read (delimited scans only).
    delimited: Option<DelimitedFormat>,
    /// Codec of files whose names carry no compression extension.
    default_codec: Codec,
    /// `s3://bucket` or `file://`, to print object URLs.
    store_url: String,
    batch_size: usize,
    /// The query's meter: values read as NULL are counted there.
    meter: Option<Arc<ScanMeter>>,
    /// Values that are not of their column's type fail the query instead of reading as NULL. Part of the scan, not
    /// of the meter, so a plan run elsewhere keeps the setting it was planned under.
    strict: bool,
}

impl TextSource {
    pub fn new(inner: Arc<dyn FileSource>, kind: TextKind, default_codec: Codec, store_url: &str) -> Self {
        Self {
            inner,
            kind,
            delimited: None,
            default_codec,
            store_url: store_url.trim_end_matches('/').to_string(),
            batch_size: DEFAULT_BATCH_SIZE,
            meter: None,
            strict: false,
        }
    }

    /// A delimited scan read with `format`, its unreadable values counted in `meter`.
    pub fn with_delimited(mut self, format: DelimitedFormat, meter: Option<Arc<ScanMeter>>) -> Self {
        self.delimited = Some(format);
        self.strict = meter.as_ref().is_some_and(|m| m.strict_text());
        self.meter = meter;
        self
    }

    /// This scan with unreadable values as errors (`true`) or NULL.
    pub(crate) fn with_strict(&self, strict: bool) -> Self {
        Self { strict, ..self.clone() }
    }

    pub(crate) fn strict(&self) -> bool {
        self.strict
    }

    pub(crate) fn kind(&self) -> TextKind {
        self.kind
    }

    /// How delimited files are read (delimited scans only).
    pub(crate) fn delimited(&self) -> Option<&DelimitedFormat> {
        self.delimited.as_ref()
    }

    pub(crate) fn default_codec(&self) -> Codec {
        self.default_codec
    }

    pub(crate) fn store_url(&self) -> &str {
        &self.store_url
    }

    /// DataFusion's source inside, which holds the scan's projection and options.
    pub(crate) fn inner(&self) -> &Arc<dyn FileSource> {
        &self.inner
    }

    /// This reading around another inner source.
    pub(crate) fn rewrap(&self, inner: Arc<dyn FileSource>) -> Arc<dyn FileSource> {
        Arc::new(Self { inner, ..self.clone() })
    }

    fn object_url(&self, path: &Path) -> String {
        if self.store_url == "file:" {
            format!("file:///{path}")
        } else {
            format!("{}/{path}", self.store_url)
        }
    }
}

const DEFAULT_BATCH_SIZE: usize = 8192;

impl FileSource for TextSource {
    fn create_file_opener(
        &self,
        object_store: Arc<dyn ObjectStore>,
        base_config: &FileScanConfig,
        partition: usize,
    ) -> Result<Arc<dyn FileOpener>> {
        let file_schema = Arc::clone(self.inner.table_schema().file_schema());
        if self.delimited.is_some() {
            // The files give the projected file columns; the rest of the projection (partition values, expressions)
            // is applied on top, as DataFusion's CSV source does.
            let projection = match self.inner.projection() {
                Some(p) => p.clone(),
                None => ProjectionExprs::from_indices(
                    &(0..self.inner.table_schema().table_schema().fields().len()).collect::<Vec<_>>(),
                    self.inner.table_schema().table_schema(),
                ),
            };
            let split = SplitProjection::new(&file_schema, &projection);
            let columns = split.file_indices.clone();
            let opener = Arc::new(TextOpener {
                openers: Vec::new(),
                columns,
                source: self.clone(),
                store: object_store,
                file_schema: Arc::clone(&file_schema),
            });
            return ProjectionOpener::try_new(split, opener, &file_schema);
        }
        let mut openers = Vec::with_capacity(Codec::ALL.len());
        for codec in Codec::ALL {
            let mut config = base_config.clone();
            config.file_compression_type = codec.datafusion();
            openers.push((
                codec,
                self.inner
                    .create_file_opener(Arc::clone(&object_store), &config, partition)?,
            ));
        }
        Ok(Arc::new(TextOpener {
            openers,
            columns: Vec::new(),
            source: self.clone(),
            store: object_store,
            file_schema,
        }))
    }

    fn table_schema(&self) -> &TableSchema {
        self.inner.table_schema()
    }

    fn with_batch_size(&self, batch_size: usize) -> Arc<dyn FileSource> {
        Arc::new(Self {
            inner: self.inner.with_batch_size(batch_size),
            batch_size,
            ..self.clone()
        })
    }

    fn filter(&self) -> Option<Arc<dyn PhysicalExpr>> {
        self.inner.filter()
    }

    fn projection(&self) -> Option<&ProjectionExprs> {
        self.inner.projection()
    }

    fn metrics(&self) -> &ExecutionPlanMetricsSet {
        self.inner.metrics()
    }

    fn file_type(&self) -> &str {
        self.inner.file_type()
    }

    fn fmt_extra(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        self.inner.fmt_extra(t, f)
    }

    fn supports_repartitioning(&self) -> bool {
        self.inner.supports_repartitioning()
    }

    /// Compressed files cannot be split into byte ranges; only a scan of plain files is repartitioned.
    fn repartitioned(
        &self,
        target_partitions: usize,
        repartition_file_min_size: usize,
        output_ordering: Option<LexOrdering>,
        config: &FileScanConfig,
    ) -> Result<Option<FileScanConfig>> {
        let any_compressed = config
            .file_groups
            .iter()
            .flat_map(|g| g.files())
            .any(|f| Codec::for_file(f.path().as_ref(), self.default_codec) != Ok(Codec::None));
        if any_compressed {
            return Ok(None);
        }
        self.inner
            .repartitioned(target_partitions, repartition_file_min_size, output_ordering, config)
    }

    fn try_pushdown_projection(&self, projection: &ProjectionExprs) -> Result<Option<Arc<dyn FileSource>>> {
        Ok(self
            .inner
            .try_pushdown_projection(projection)?
            .map(|inner| self.rewrap(inner)))
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.inner.apply_expressions(f)
    }
}

struct TextOpener {
    /// DataFusion's openers per codec (JSON lines).
    openers: Vec<(Codec, Arc<dyn FileOpener>)>,
    /// The file columns a delimited scan reads.
    columns: Vec<usize>,
    source: TextSource,
    store: Arc<dyn ObjectStore>,
    file_schema: SchemaRef,
}

/// Where a failing read was: the file, and the byte where its range started.
#[derive(Clone)]
struct FileContext {
    path: Path,
    url: String,
    range_start: u64,
    codec: Codec,
    kind: TextKind,
    store: Arc<dyn ObjectStore>,
    file_schema: SchemaRef,
}

impl FileOpener for TextOpener {
    fn open(&self, mut file: PartitionedFile) -> Result<FileOpenFuture> {
        let path = file.path().clone();
        let url = self.source.object_url(&path);
        let codec = Codec::for_file(path.as_ref(), self.source.default_codec).map_err(|message| {
            DataFusionError::External(Box::new(DataFileError {
                location: url.clone(),
                line: None,
                message,
            }))
        })?;
        // A compressed file cannot be read from the middle. tarn's planner never splits one, but a plan may be split
        // elsewhere (a distributed planner splits file scans into byte ranges): the range that starts the file reads
        // all of it, the others nothing, so every row is read once.
        if codec != Codec::None
            && let Some(range) = &file.range
        {
            if range.start > 0 {
                return Ok(Box::pin(async { Ok(futures::stream::empty().boxed()) }));
            }
            file.range = None;
        }
        let opener: Arc<dyn FileOpener> = match &self.source.delimited {
            Some(format) => Arc::new(DelimitedOpener {
                format: format.clone(),
                file_schema: Arc::clone(&self.file_schema),
                projection: self.columns.clone(),
                batch_size: self.source.batch_size,
                codec,
                store: Arc::clone(&self.store),
                url: url.clone(),
                meter: self.source.meter.clone(),
                strict: self.source.strict,
            }),
            None => self
                .openers
                .iter()
                .find(|(c, _)| *c == codec)
                .map(|(_, o)| Arc::clone(o))
                .ok_or_else(|| DataFusionError::Internal(format!("no opener for codec {codec:?}")))?,
        };
        let context = FileContext {
            path,
            url,
            range_start: file.range.as_ref().map(|r| r.start.max(0) as u64).unwrap_or(0),
            codec,
            kind: self.source.kind,
            store: Arc::clone(&self.store),
            file_schema: Arc::clone(&self.file_schema),
        };
        let opening = opener.open(file)?;
        Ok(Box::pin(async move {
            let stream = match opening.await {
                Ok(stream) => stream,
                Err(e) => return Err(annotate(e, &context).await),
            };
            Ok(stream
                .or_else(move |e| {
                    let context = context.clone();
                    async move { Err(annotate(e, &context).await) }
                })
                .boxed())
        }))
    }
}

/// Rewrites a decoding error into a [`DataFileError`] that names the file and line. Storage errors and our own
/// errors (scan limit) pass through untouched.
async fn annotate(e: DataFusionError, ctx: &FileContext) -> DataFusionError {
    if is_passthrough(&e) {
        return e;
    }
    let raw = e.find_root().to_string();
    if let Some(message) = wrong_codec(ctx).await {
        return DataFusionError::External(Box::new(DataFileError {
            location: ctx.url.clone(),
            line: None,
            message,
        }));
    }
    let (line, message) = match ctx.kind {
        TextKind::Delimited => describe_csv_error(&raw, ctx).await,
        TextKind::JsonLines => match locate_json_error(ctx).await {
            Some((line, message)) => (Some(line), message),
            None => (None, format!("not valid JSON lines ({})", strip_kind(&raw))),
        },
    };
    let message = if looks_like_codec_error(&raw) && ctx.codec != Codec::None {
        format!(
            "cannot decompress as {} ({}); the name says {} but the content is not",
            ctx.codec.name(),
            strip_kind(&raw),
            ctx.codec.name()
        )
    } else {
        message
    };
    DataFusionError::External(Box::new(DataFileError {
        location: ctx.url.clone(),
        line,
        message,
    }))
}

fn is_passthrough(e: &DataFusionError) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if err.downcast_ref::<EngineError>().is_some() || err.downcast_ref::<DataFileError>().is_some() {
            return true;
        }
        if let Some(store_error) = err.downcast_ref::<object_store::Error>() {
            // An undecodable gzip stream surfaces as an I/O error of the stream; everything else is the store's.
            return !looks_like_codec_error(&store_error.to_string());
        }
        if let Some(DataFusionError::External(inner)) = err.downcast_ref::<DataFusionError>()
            && (inner.downcast_ref::<EngineError>().is_some() || inner.downcast_ref::<DataFileError>().is_some())
        {
            return true;
        }
        current = err.source();
    }
    false
}

fn looks_like_codec_error(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "gzip",
        "deflate",
        "bzip",
        "zstd",
        "frame",
        "lzma",
        "xz",
        "stream did not contain valid utf-8",
    ]
    .iter()
    .any(|needle| m.contains(needle))
        && !m.contains("incorrect number of fields")
}

/// Drops the error-kind prefixes DataFusion and arrow stack up ("Arrow error: Csv error: ...").
fn strip_kind(message: &str) -> String {
    const PREFIXES: [&str; 7] = [
        "Csv error: ",
        "Parser error: ",
        "Json error: ",
        "Io error: ",
        "External error: ",
        "Arrow error: ",
        "Execution error: ",
    ];
    let mut m = message.trim();
    while let Some(rest) = PREFIXES.iter().find_map(|p| m.strip_prefix(p)) {
        m = rest;
    }
    m.to_string()
}

/// Arrow numbers records two ways: "incorrect number of fields for line N" counts records from 1, the header
/// included; "Error while parsing value ... at line N" counts from 0, the header included. Both become a line of
/// the file (for a byte range, after adding the lines before the range).
async fn describe_csv_error(raw: &str, ctx: &FileContext) -> (Option<u64>, String) {
    let text = strip_kind(raw);
    let (record_line, message) = if let Some(rest) = text.strip_prefix("incorrect number of fields for line ") {
        let mut parts = rest.splitn(2, ", expected ");
        let line: Option<u64> = parts.next().and_then(|n| n.trim().parse().ok());
        let (expected, found) = parts
            .next()
            .and_then(|r| r.split_once(" got "))
            .map(|(e, g)| (e.trim().to_string(), g.trim().to_string()))
            .unwrap_or_default();
        (
            line.map(|l| (l, LineBase::Record)),
            format!(
                "expected {expected} fields, found {found}; check the table's delimiter and header setting, \
                 or fix the row"
            ),
        )
    } else if let Some(start) = text.find("Error while parsing value '") {
        let rest = &text[start + "Error while parsing value '".len()..];
        let value = rest.split("' as type").next().unwrap_or_default();
        let column: Option<usize> = rest
            .split(" for column ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|c| c.parse().ok());
        let line: Option<u64> = rest
            .split(" at line ")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok());
        let column_desc = column
            .and_then(|c| ctx.file_schema.fields().get(c))
            .map(|f| {
                let hive = crate::types::arrow_to_hive(f.data_type()).unwrap_or_else(|_| f.data_type().to_string());
                format!("column '{}' ({hive})", f.name())
            })
            .unwrap_or_else(|| "a column".to_string());
        (
            line.map(|l| (l, LineBase::DataRow)),
            format!("value '{value}' is not valid for {column_desc}"),
        )
    } else {
        (None, text)
    };
    let Some((n, base)) = record_line else {
        return (None, message);
    };
    if ctx.range_start == 0 {
        let line = match base {
            LineBase::Record => n,
            LineBase::DataRow => n + 1,
        };
        return (Some(line), message);
    }
    match lines_before(ctx).await {
        Some(before) => {
            let line = match base {
                LineBase::Record => before + n,
                LineBase::DataRow => before + n + 1,
            };
            (Some(line), message)
        }
        None => (
            None,
            format!(
                "{message} (record {n} of the block starting at byte {})",
                ctx.range_start
            ),
        ),
    }
}

#[derive(Clone, Copy)]
enum LineBase {
    Record,
    DataRow,
}

/// Lines that precede the first record of a range read starting at `range_start`: DataFusion starts such a range
/// after the first newline at or after `range_start - 1`.
async fn lines_before(ctx: &FileContext) -> Option<u64> {
    count_lines_before(&ctx.store, &ctx.path, ctx.range_start).await
}

/// When a file's name says it is compressed and its first bytes say otherwise: what it looks like instead.
async fn wrong_codec(ctx: &FileContext) -> Option<String> {
    let expected = magic(ctx.codec);
    if expected.is_empty() {
        return None;
    }
    let head = match ctx.store.get_range(&ctx.path, 0..16).await {
        Ok(bytes) => bytes,
        // Shorter than 16 bytes: read it whole.
        Err(_) => ctx.store.get(&ctx.path).await.ok()?.bytes().await.ok()?,
    };
    if head.starts_with(expected) {
        return None;
    }
    let looks = if head.is_empty() {
        "it is empty".to_string()
    } else if std::str::from_utf8(&head).is_ok_and(|t| !t.chars().any(|c| c.is_control() && !c.is_whitespace())) {
        format!("it starts with text: '{}'", String::from_utf8_lossy(&head).trim_end())
    } else {
        format!(
            "it starts with bytes {}",
            head.iter()
                .take(4)
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        )
    };
    Some(format!(
        "the name says {} but the content is not {} ({looks}); rename the file to what it is, or compress it",
        ctx.codec.name(),
        ctx.codec.name()
    ))
}

/// The first line of JSON-lines `text` that is not a JSON value, and serde's account of why.
pub(crate) fn first_invalid_json_line(text: &[u8]) -> Option<(u64, String)> {
    text.split(|b| *b == b'\n').enumerate().find_map(|(i, line)| {
        if line.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        // serde numbers from the start of what it was given, which here is the line.
        serde_json::from_slice::<serde_json::Value>(line).err().map(|e| {
            let reason = e.to_string().replace(" at line 1 column ", " at column ");
            (i as u64 + 1, format!("not valid JSON ({reason})"))
        })
    })
}

/// The first line of a JSON-lines file that does not read as a row of the table, and why: each line is decoded on
/// its own with DataFusion's JSON decoder and the table's columns (on the error path only, for files up to
/// [`crate::codec`]'s limit).
async fn locate_json_error(ctx: &FileContext) -> Option<(u64, String)> {
    let text = file_text(&ctx.store, &ctx.path, ctx.codec).await?;
    if let Some(invalid) = first_invalid_json_line(&text) {
        return Some(invalid);
    }
    for (i, line) in text.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let mut decoder = datafusion::arrow::json::ReaderBuilder::new(Arc::clone(&ctx.file_schema))
            .build_decoder()
            .ok()?;
        let failed = decoder.decode(line).and_then(|_| decoder.flush()).err();
        if let Some(e) = failed {
            let reason = strip_kind(&e.to_string());
            return Some((i as u64 + 1, format!("not a valid row of the table ({reason})")));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecs_by_extension() {
        assert_eq!(Codec::for_file("a/part-0.csv.gz", Codec::None), Ok(Codec::Gzip));
        assert_eq!(Codec::for_file("a/PART.CSV.GZ", Codec::None), Ok(Codec::Gzip));
        assert_eq!(Codec::for_file("x.bz2", Codec::None), Ok(Codec::Bzip2));
        assert_eq!(Codec::for_file("x.zst", Codec::None), Ok(Codec::Zstd));
        assert_eq!(Codec::for_file("x.csv", Codec::None), Ok(Codec::None));
        assert_eq!(Codec::for_file("noext", Codec::Gzip), Ok(Codec::Gzip));
        assert!(Codec::for_file("x.lz4", Codec::None).is_err());
    }
}
