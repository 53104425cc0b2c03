//! Turning a stream of rows into files: one open file per (partition folder, bucket), rolled at a target size,
//! with row-group buffers that together stay under a budget.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use datafusion::arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::take_record_batch;
use datafusion::arrow::datatypes::{Int32Type, SchemaRef};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::parquet::arrow::AsyncArrowWriter;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use futures::StreamExt;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::io::AsyncWriteExt;

use super::WriteProgress;
use super::hive_path::{partition_segment, partition_texts};
use super::props::{FileEncoding, TextCodec};
use crate::error::{EngineError, Result, from_datafusion};
use crate::storage::Location;

/// Multipart part size for uploads: S3's minimum, so many open files cost little memory.
const PART_SIZE: usize = 5 << 20;
/// The smallest row group a writer is made to flush at, however many files are open.
const MIN_ROW_GROUP_BYTES: usize = 1 << 20;

/// What every file of one write shares.
pub struct FileSpec {
    pub location: Location,
    pub store: Arc<dyn ObjectStore>,
    pub encoding: FileEncoding,
    /// The columns stored in the files (partition columns live in folder names).
    pub data_schema: SchemaRef,
    /// Partition column names; in each input batch they follow the data columns, in this order.
    pub partition_names: Vec<String>,
    /// Whether the input carries a bucket-number column after the partition columns.
    pub bucketed: bool,
    pub query_id: String,
    /// Write `.`-prefixed (hidden) names, to be renamed at commit (INSERT INTO an existing table).
    pub hidden: bool,
    pub target_file_size: u64,
    /// Row-group buffer bytes allowed to one stream.
    pub buffer_budget: usize,
    /// Files one stream may keep open before it closes the least recently used.
    pub max_open: usize,
    /// Whether each stream's rows arrive grouped by (partition, bucket), so a file can be closed as soon as its key
    /// changes.
    pub sorted: bool,
    /// On a worker: checked before each file is completed (see [`super::commit::RecordGuard`]).
    pub guard: Option<super::commit::RecordGuard>,
}

/// A file that was written completely.
#[derive(Debug, Clone)]
pub struct WrittenFile {
    /// Where it is now (hidden name for INSERT until commit).
    pub path: Path,
    /// Where it belongs.
    pub final_path: Path,
    pub rows: u64,
    pub bytes: u64,
    /// `k=v/k2=v2`, empty for an unpartitioned table.
    pub partition: String,
    pub bucket: Option<u32>,
}

type Key = (String, Option<u32>);

enum Encoder {
    Parquet(Box<AsyncArrowWriter<BufWriter>>),
    Text(Box<TextFile>),
}

/// A text or JSON-lines file being written: encoded rows go through the codec into the upload.
struct TextFile {
    /// The field delimiter, or `None` for JSON lines.
    delimited: Option<u8>,
    compressor: Compressor,
    upload: BufWriter,
    bytes: u64,
}

enum Compressor {
    None,
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Bzip2(bzip2::write::BzEncoder<Vec<u8>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl Compressor {
    fn new(codec: TextCodec) -> std::io::Result<Self> {
        Ok(match codec {
            TextCodec::None => Compressor::None,
            TextCodec::Gzip => Compressor::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::default(),
            )),
            TextCodec::Bzip2 => {
                Compressor::Bzip2(bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default()))
            }
            TextCodec::Zstd(level) => Compressor::Zstd(zstd::stream::write::Encoder::new(Vec::new(), level)?),
        })
    }

    /// Compresses `data` and returns the compressed bytes ready so far.
    fn push(&mut self, data: Vec<u8>) -> std::io::Result<Vec<u8>> {
        Ok(match self {
            Compressor::None => data,
            Compressor::Gzip(e) => {
                e.write_all(&data)?;
                std::mem::take(e.get_mut())
            }
            Compressor::Bzip2(e) => {
                e.write_all(&data)?;
                std::mem::take(e.get_mut())
            }
            Compressor::Zstd(e) => {
                e.write_all(&data)?;
                std::mem::take(e.get_mut())
            }
        })
    }

    fn finish(self) -> std::io::Result<Vec<u8>> {
        match self {
            Compressor::None => Ok(Vec::new()),
            Compressor::Gzip(e) => e.finish(),
            Compressor::Bzip2(e) => e.finish(),
            Compressor::Zstd(e) => e.finish(),
        }
    }
}

struct OpenFile {
    encoder: Encoder,
    path: Path,
    final_path: Path,
    rows: u64,
    partition: String,
    bucket: Option<u32>,
    last_used: u64,
}

impl OpenFile {
    fn bytes(&self) -> u64 {
        match &self.encoder {
            Encoder::Parquet(w) => (w.bytes_written() + w.in_progress_size()) as u64,
            Encoder::Text(text) => text.bytes,
        }
    }
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> EngineError {
    EngineError::Storage {
        location: path.to_string(),
        message: format!("cannot write: {e}"),
    }
}

/// Writes one stream of rows; returns the files it completed.
pub struct StreamWriter {
    spec: Arc<FileSpec>,
    stream_index: usize,
    open: HashMap<Key, OpenFile>,
    next_sequence: u64,
    clock: u64,
    done: Vec<WrittenFile>,
    progress: Arc<WriteProgress>,
}

impl StreamWriter {
    pub fn new(spec: Arc<FileSpec>, stream_index: usize, progress: Arc<WriteProgress>) -> Self {
        Self {
            spec,
            stream_index,
            open: HashMap::new(),
            next_sequence: 0,
            clock: 0,
            done: Vec::new(),
            progress,
        }
    }

    pub async fn run(mut self, mut stream: SendableRecordBatchStream) -> Result<Vec<WrittenFile>> {
        let outcome = async {
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(from_datafusion)?;
                if batch.num_rows() > 0 {
                    self.write_batch(&batch).await?;
                }
            }
            let keys: Vec<Key> = self.open.keys().cloned().collect();
            for key in keys {
                self.close(&key).await?;
            }
            Ok::<_, EngineError>(())
        }
        .await;
        match outcome {
            Ok(()) => Ok(self.done),
            Err(e) => {
                // Uploads in flight would linger as incomplete multipart uploads; completed files are removed by
                // the caller, which finds them by query id.
                for (_, file) in self.open.drain() {
                    let mut upload = match file.encoder {
                        Encoder::Parquet(writer) => writer.into_inner(),
                        Encoder::Text(text) => text.upload,
                    };
                    let _ = upload.abort().await;
                }
                Err(e)
            }
        }
    }

    async fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        let data_columns = self.spec.data_schema.fields().len();
        let partitions = self.spec.partition_names.len();
        let texts = (0..partitions)
            .map(|i| partition_texts(batch.column(data_columns + i)))
            .collect::<Result<Vec<_>>>()?;
        let buckets = self.spec.bucketed.then(|| {
            batch
                .column(data_columns + partitions)
                .as_primitive::<Int32Type>()
                .clone()
        });
        let data = RecordBatch::try_new(
            Arc::clone(&self.spec.data_schema),
            batch.columns()[..data_columns].to_vec(),
        )
        .map_err(|e| EngineError::internal(format!("rows do not match the table's columns: {e}")))?;

        // Rows grouped by destination, in order of first appearance.
        let mut order: Vec<Key> = Vec::new();
        let mut groups: HashMap<Key, Vec<u32>> = HashMap::new();
        for row in 0..batch.num_rows() {
            let folder = self
                .spec
                .partition_names
                .iter()
                .zip(&texts)
                .map(|(name, values)| partition_segment(name, values[row].as_deref()))
                .collect::<Vec<_>>()
                .join("/");
            let bucket = buckets
                .as_ref()
                .map(|b| if b.is_null(row) { 0 } else { b.value(row) as u32 });
            let key = (folder, bucket);
            match groups.get_mut(&key) {
                Some(rows) => rows.push(row as u32),
                None => {
                    order.push(key.clone());
                    groups.insert(key, vec![row as u32]);
                }
            }
        }
        for key in &order {
            let rows = groups.remove(key).unwrap_or_default();
            let part = if rows.len() == data.num_rows() {
                data.clone()
            } else {
                take_record_batch(&data, &UInt32Array::from(rows))
                    .map_err(|e| EngineError::internal(format!("cannot route rows: {e}")))?
            };
            self.write_to(key, &part).await?;
        }
        if self.spec.sorted
            && let Some(last) = order.last()
        {
            // Sorted input never returns to an earlier key: everything but the current file is complete.
            let finished: Vec<Key> = self.open.keys().filter(|k| *k != last).cloned().collect();
            for key in finished {
                self.close(&key).await?;
            }
        }
        Ok(())
    }

    async fn write_to(&mut self, key: &Key, batch: &RecordBatch) -> Result<()> {
        if !self.open.contains_key(key) {
            if self.open.len() >= self.spec.max_open.max(1) {
                let lru = self
                    .open
                    .iter()
                    .min_by_key(|(_, f)| f.last_used)
                    .map(|(k, _)| k.clone());
                if let Some(lru) = lru {
                    self.close(&lru).await?;
                }
            }
            let file = self.create(key).await?;
            self.open.insert(key.clone(), file);
        }
        self.clock += 1;
        let per_file_buffer = (self.spec.buffer_budget / self.open.len().max(1)).max(MIN_ROW_GROUP_BYTES);
        self.progress.interrupt.check()?;
        let clock = self.clock;
        let Some(file) = self.open.get_mut(key) else {
            return Err(EngineError::internal("writer lost its file"));
        };
        file.last_used = clock;
        let before = file.bytes();
        match &mut file.encoder {
            Encoder::Parquet(writer) => {
                writer.write(batch).await.map_err(|e| io_error(&file.path, e))?;
                // Encoded size, not memory_size(): a wide table's writers carry a fixed per-column overhead that
                // would make every batch its own row group (and every footer huge). Memory for wide tables runs
                // above the budget as a result; see the README.
                if writer.in_progress_size() > per_file_buffer {
                    writer.flush().await.map_err(|e| io_error(&file.path, e))?;
                }
            }
            Encoder::Text(text) => {
                let encoded = encode_text(batch, text.delimited).map_err(|e| io_error(&file.path, e))?;
                let compressed = text.compressor.push(encoded).map_err(|e| io_error(&file.path, e))?;
                text.upload
                    .write_all(&compressed)
                    .await
                    .map_err(|e| io_error(&file.path, e))?;
                text.bytes += compressed.len() as u64;
            }
        }
        file.rows += batch.num_rows() as u64;
        let grown = file.bytes().saturating_sub(before);
        let full = file.bytes() >= self.spec.target_file_size;
        self.progress.rows.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
        self.progress.bytes.fetch_add(grown, Ordering::Relaxed);
        if full {
            self.close(key).await?;
        }
        Ok(())
    }

    async fn create(&mut self, key: &Key) -> Result<OpenFile> {
        let (folder, bucket) = key;
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let spec = &self.spec;
        // Bucketed files start with the bucket number as Trino names them (`000007_0_...`), so Athena, Trino and
        // Hive find the bucket; the query id in every name ties a file to the write that made it.
        let base = match bucket {
            Some(b) => format!("{b:06}_0_{}_{:03}{sequence:04}", spec.query_id, self.stream_index),
            None => format!("{}_{:03}_{sequence:05}", spec.query_id, self.stream_index),
        };
        let name = format!("{base}{}", spec.encoding.extension());
        super::hive_path::check_partition_folder(&spec.location, folder, name.len() + 1)?;
        let mut dir = spec.location.prefix.clone();
        for segment in folder.split('/').filter(|s| !s.is_empty()) {
            dir = spec.location.child(&dir, segment)?;
        }
        let final_path = spec.location.child(&dir, &name)?;
        let path = if spec.hidden {
            spec.location.child(&dir, &format!(".{name}"))?
        } else {
            final_path.clone()
        };
        let upload = BufWriter::with_capacity(Arc::clone(&spec.store), path.clone(), PART_SIZE);
        let encoder = match spec.encoding {
            FileEncoding::Parquet(compression) => {
                let props = WriterProperties::builder()
                    .set_compression(compression)
                    .set_statistics_enabled(EnabledStatistics::Page)
                    .set_created_by(format!("tarn {}", env!("CARGO_PKG_VERSION")))
                    .build();
                let writer = AsyncArrowWriter::try_new(upload, Arc::clone(&spec.data_schema), Some(props))
                    .map_err(|e| io_error(&path, e))?;
                Encoder::Parquet(Box::new(writer))
            }
            FileEncoding::Text { delimiter, codec } => Encoder::Text(Box::new(TextFile {
                delimited: Some(delimiter),
                compressor: Compressor::new(codec).map_err(|e| io_error(&path, e))?,
                upload,
                bytes: 0,
            })),
            FileEncoding::Json(codec) => Encoder::Text(Box::new(TextFile {
                delimited: None,
                compressor: Compressor::new(codec).map_err(|e| io_error(&path, e))?,
                upload,
                bytes: 0,
            })),
        };
        Ok(OpenFile {
            encoder,
            path,
            final_path,
            rows: 0,
            partition: folder.clone(),
            bucket: *bucket,
            last_used: 0,
        })
    }

    async fn close(&mut self, key: &Key) -> Result<()> {
        if !self.open.contains_key(key) {
            return Ok(());
        }
        // Before the file leaves `open`: if the write was stopped, the error path aborts its upload with the others.
        if let Some(guard) = &self.spec.guard {
            guard.check().await?;
        }
        let Some(file) = self.open.remove(key) else {
            return Ok(());
        };
        let before = file.bytes();
        // Finished in a task of its own, which runs to its end even if this writer is dropped (a cancelled task on
        // a worker): a completion dropped half-way may still land (a local upload is renamed into place on a
        // blocking thread), and only a finish that runs to its end can check its write afterwards.
        let finishing = tokio::spawn(finish(file, Arc::clone(&self.spec)));
        let written = finishing
            .await
            .map_err(|e| EngineError::internal(format!("a file's writer failed: {e}")))??;
        self.progress
            .bytes
            .fetch_add(written.bytes.saturating_sub(before), Ordering::Relaxed);
        self.progress.files.fetch_add(1, Ordering::Relaxed);
        self.done.push(written);
        Ok(())
    }
}

/// Completes `file`. On a worker, a file completed after its write was given up is removed again: the write's own
/// removal may have listed the folder before the file was there (see [`super::commit::RecordGuard`]).
async fn finish(file: OpenFile, spec: Arc<FileSpec>) -> Result<WrittenFile> {
    let bytes = match file.encoder {
        Encoder::Parquet(writer) => {
            let mut writer = *writer;
            // Writes the footer and completes the upload.
            writer.finish().await.map_err(|e| io_error(&file.path, e))?;
            writer.bytes_written() as u64
        }
        Encoder::Text(text) => {
            let TextFile {
                compressor,
                mut upload,
                bytes,
                ..
            } = *text;
            let tail = compressor.finish().map_err(|e| io_error(&file.path, e))?;
            upload.write_all(&tail).await.map_err(|e| io_error(&file.path, e))?;
            upload.shutdown().await.map_err(|e| io_error(&file.path, e))?;
            bytes + tail.len() as u64
        }
    };
    if let Some(guard) = &spec.guard
        && let Err(e) = guard.check().await
    {
        let _ = spec.store.delete(&file.path).await;
        return Err(e);
    }
    Ok(WrittenFile {
        path: file.path,
        final_path: file.final_path,
        rows: file.rows,
        bytes,
        partition: file.partition,
        bucket: file.bucket,
    })
}

/// Rows as Hive text (`delimited`: LazySimpleSerDe lines, NULL as an empty field) or JSON lines (`None`).
fn encode_text(batch: &RecordBatch, delimited: Option<u8>) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(batch.get_array_memory_size() / 2);
    match delimited {
        Some(delimiter) => {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(false)
                .with_delimiter(delimiter)
                .with_quote_style(datafusion::arrow::csv::QuoteStyle::Never)
                .with_null(String::new())
                .with_timestamp_format("%Y-%m-%d %H:%M:%S%.f".to_string())
                .build(&mut out);
            writer.write(batch).map_err(|e| e.to_string())?;
        }
        None => {
            let mut writer = datafusion::arrow::json::LineDelimitedWriter::new(&mut out);
            writer.write(batch).map_err(|e| e.to_string())?;
            writer.finish().map_err(|e| e.to_string())?;
        }
    }
    Ok(out)
}
