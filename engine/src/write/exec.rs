//! A write as plan nodes, so that it runs where its rows are: in this process, or on the workers of a cluster, each
//! task writing the files of its own streams while the coordinator only commits.
//!
//! [`WriteNode`] (logical) is planned by [`WritePlanner`] into [`BucketExec`] (each row's Hive bucket as a column)
//! → a hash repartition on (partition values, bucket) → a sort → [`WriteExec`], whose every output partition is
//! the list of files its stream completed, one row per file. datafusion-distributed cuts stages at that
//! repartition as at any other, so on a cluster every partition×bucket key lands in one stream of one worker task,
//! which writes its files under the write's query id, as a single process would. Both nodes travel through
//! [`crate::wire::TarnCodec`] as the [`WireWrite`] and [`WireBucketing`] they are made from: the bucket hash is a node
//! rather than a function in a projection because functions travel by name, and this one is made for each write.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray, UInt32Array, UInt64Array};
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt32Type, UInt64Type};
use datafusion::catalog::Session as CatalogSession;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchema, DFSchemaRef};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, LogicalPlan, UserDefinedLogicalNode, UserDefinedLogicalNodeCore};
use datafusion::parquet::basic::{Compression, GzipLevel, ZstdLevel};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{
    Distribution, EquivalenceProperties, LexOrdering, LexRequirement, OrderingRequirements, PhysicalExpr,
    PhysicalSortExpr, PhysicalSortRequirement,
};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning, PlanProperties,
};
use datafusion::physical_planner::{ExtensionPlanner, PhysicalPlanner};
use datafusion_distributed::DistributedTaskContext;
use futures::StreamExt;
use object_store::ObjectStore;
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use super::commit::RecordGuard;
use super::props::{FileEncoding, TextCodec};
use super::sink::{FileSpec, StreamWriter, WrittenFile};
use super::{Bucketing, MAX_OPEN_FILES, Target, WRITE_BUFFER_BUDGET, WriteProgress};
use crate::bucket::{BucketColumn, BucketVersion, bucket_ids};
use crate::error::{EngineError, Part, Result, from_datafusion};
use crate::meter::ScanMeter;
use crate::storage::Location;

/// The column [`BucketExec`] adds.
const BUCKET_COLUMN: &str = "__tarn_bucket";

/// A [`WriteSpec`] as sent to workers. The store is not sent: each process resolves it from the location with its
/// own settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireWrite {
    location: String,
    encoding: WireEncoding,
    partition_names: Vec<String>,
    bucketing: Option<WireBucketing>,
    query_id: String,
    hidden: bool,
    target_file_size: u64,
    file_names: Option<Vec<String>>,
    /// The write's record folder (an object path in the files' store).
    #[serde(default)]
    record: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum WireEncoding {
    Parquet(WireCompression),
    Text { delimiter: u8, codec: WireCodec },
    Json(WireCodec),
}

/// Parquet's codecs as tarn writes them (levels included).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum WireCompression {
    Uncompressed,
    Snappy,
    Gzip(u32),
    Zstd(i32),
    Lz4Raw,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum WireCodec {
    None,
    Gzip,
    Bzip2,
    Zstd(i32),
}

/// A write's bucketing, with each column's Arrow type as text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireBucketing {
    columns: Vec<(String, String, bool)>,
    count: u32,
    version: u8,
}

impl WireBucketing {
    fn of(bucketing: &Bucketing) -> Self {
        Self {
            columns: bucketing
                .columns
                .iter()
                .map(|c| (c.name.clone(), c.data_type.to_string(), c.varchar))
                .collect(),
            count: bucketing.count,
            version: bucketing.version.number(),
        }
    }

    fn bucketing(&self) -> Result<Bucketing> {
        let columns = self
            .columns
            .iter()
            .map(|(name, data_type, varchar)| {
                let data_type = DataType::from_str(data_type).map_err(|e| {
                    EngineError::internal(format!("bucket column '{name}' has an unknown type {data_type}: {e}"))
                })?;
                Ok(BucketColumn {
                    name: name.clone(),
                    data_type,
                    varchar: *varchar,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Bucketing {
            columns,
            count: self.count,
            version: BucketVersion::from_parameter(Some(&self.version.to_string()))?,
        })
    }
}

impl WireWrite {
    fn of(spec: &WriteSpec) -> Result<Self> {
        let codec = |c: TextCodec| match c {
            TextCodec::None => WireCodec::None,
            TextCodec::Gzip => WireCodec::Gzip,
            TextCodec::Bzip2 => WireCodec::Bzip2,
            TextCodec::Zstd(level) => WireCodec::Zstd(level),
        };
        let encoding = match spec.encoding {
            FileEncoding::Parquet(compression) => WireEncoding::Parquet(match compression {
                Compression::UNCOMPRESSED => WireCompression::Uncompressed,
                Compression::SNAPPY => WireCompression::Snappy,
                Compression::GZIP(level) => WireCompression::Gzip(level.compression_level()),
                Compression::ZSTD(level) => WireCompression::Zstd(level.compression_level()),
                Compression::LZ4_RAW => WireCompression::Lz4Raw,
                other => {
                    return Err(EngineError::internal(format!(
                        "a write compressed with {other} cannot be sent to workers"
                    )));
                }
            }),
            FileEncoding::Text { delimiter, codec: c } => WireEncoding::Text {
                delimiter,
                codec: codec(c),
            },
            FileEncoding::Json(c) => WireEncoding::Json(codec(c)),
        };
        Ok(Self {
            location: spec.location.url.clone(),
            encoding,
            partition_names: spec.partition_names.clone(),
            bucketing: spec.bucketing.as_ref().map(WireBucketing::of),
            query_id: spec.query_id.clone(),
            hidden: spec.hidden,
            target_file_size: spec.target_file_size,
            file_names: spec.file_names.clone(),
            record: spec.record.as_ref().map(|p| p.to_string()),
        })
    }

    fn spec(&self) -> Result<WriteSpec> {
        let codec = |c: WireCodec| match c {
            WireCodec::None => TextCodec::None,
            WireCodec::Gzip => TextCodec::Gzip,
            WireCodec::Bzip2 => TextCodec::Bzip2,
            WireCodec::Zstd(level) => TextCodec::Zstd(level),
        };
        let bad_level = |e: datafusion::parquet::errors::ParquetError| EngineError::internal(e.to_string());
        let encoding = match self.encoding {
            WireEncoding::Parquet(c) => FileEncoding::Parquet(match c {
                WireCompression::Uncompressed => Compression::UNCOMPRESSED,
                WireCompression::Snappy => Compression::SNAPPY,
                WireCompression::Gzip(level) => Compression::GZIP(GzipLevel::try_new(level).map_err(bad_level)?),
                WireCompression::Zstd(level) => Compression::ZSTD(ZstdLevel::try_new(level).map_err(bad_level)?),
                WireCompression::Lz4Raw => Compression::LZ4_RAW,
            }),
            WireEncoding::Text { delimiter, codec: c } => FileEncoding::Text {
                delimiter,
                codec: codec(c),
            },
            WireEncoding::Json(c) => FileEncoding::Json(codec(c)),
        };
        Ok(WriteSpec {
            location: Location::parse(&self.location)?,
            encoding,
            partition_names: self.partition_names.clone(),
            bucketing: self.bucketing.as_ref().map(WireBucketing::bucketing).transpose()?,
            query_id: self.query_id.clone(),
            hidden: self.hidden,
            target_file_size: self.target_file_size,
            file_names: self.file_names.clone(),
            record: self
                .record
                .as_deref()
                .map(Path::parse)
                .transpose()
                .map_err(|e| EngineError::internal(format!("a write's record folder: {e}")))?,
        })
    }
}

/// What a write's files are and where they go; each process resolves the store from the location.
#[derive(Debug, Clone)]
pub struct WriteSpec {
    pub location: Location,
    pub encoding: FileEncoding,
    /// The plan's last columns, in this order.
    pub partition_names: Vec<String>,
    pub bucketing: Option<Bucketing>,
    pub query_id: String,
    /// Write `.`-prefixed (hidden) names, to be renamed at commit (INSERT INTO an existing table).
    pub hidden: bool,
    pub target_file_size: u64,
    /// Column names for the files, in data-column order (JSON keys may differ from column names).
    pub file_names: Option<Vec<String>>,
    /// The folder of the write's record ([`super::commit::WriteLog`]), which workers check before they complete
    /// a file.
    pub record: Option<Path>,
}

impl Target {
    fn split(self, record: Option<Path>) -> (WriteSpec, Arc<dyn ObjectStore>) {
        let spec = WriteSpec { record, ..self.spec };
        (spec, self.store)
    }
}

/// One row per file a write completed; the last column says who wrote it (a worker's URL, or empty for this
/// process).
fn files_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("final_path", DataType::Utf8, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("bytes", DataType::UInt64, false),
        Field::new("partition", DataType::Utf8, false),
        Field::new("bucket", DataType::UInt32, true),
        Field::new("writer", DataType::Utf8, false),
    ]))
}

fn files_batch(files: &[WrittenFile], writer: &str) -> DfResult<RecordBatch> {
    let text = |f: fn(&WrittenFile) -> String| Arc::new(StringArray::from_iter_values(files.iter().map(f)));
    RecordBatch::try_new(
        files_schema(),
        vec![
            text(|f| f.path.to_string()),
            text(|f| f.final_path.to_string()),
            Arc::new(UInt64Array::from_iter_values(files.iter().map(|f| f.rows))),
            Arc::new(UInt64Array::from_iter_values(files.iter().map(|f| f.bytes))),
            text(|f| f.partition.clone()),
            Arc::new(UInt32Array::from_iter(files.iter().map(|f| f.bucket))),
            Arc::new(StringArray::from_iter_values(files.iter().map(|_| writer))),
        ],
    )
    .map_err(DataFusionError::from)
}

/// The files listed in `batch` (from a [`WriteExec`]), each with who wrote it.
pub(crate) fn files_of(batch: &RecordBatch) -> Result<Vec<(WrittenFile, String)>> {
    let malformed = || EngineError::internal("a list of written files is malformed");
    if batch.schema().fields() != files_schema().fields() {
        return Err(malformed());
    }
    let text = |i: usize| batch.column(i).as_string_opt::<i32>().ok_or_else(malformed);
    let (path, final_path, partition, writer) = (text(0)?, text(1)?, text(4)?, text(6)?);
    let rows = batch.column(2).as_primitive_opt::<UInt64Type>().ok_or_else(malformed)?;
    let bytes = batch.column(3).as_primitive_opt::<UInt64Type>().ok_or_else(malformed)?;
    let bucket = batch.column(5).as_primitive_opt::<UInt32Type>().ok_or_else(malformed)?;
    let object = |s: &str| Path::parse(s).map_err(|e| EngineError::internal(format!("a written file's path: {e}")));
    (0..batch.num_rows())
        .map(|i| {
            let file = WrittenFile {
                path: object(path.value(i))?,
                final_path: object(final_path.value(i))?,
                rows: rows.value(i),
                bytes: bytes.value(i),
                partition: partition.value(i).to_string(),
                bucket: (!bucket.is_null(i)).then(|| bucket.value(i)),
            };
            Ok((file, writer.value(i).to_string()))
        })
        .collect()
}

/// A write of its input's rows, before physical planning.
#[derive(Clone)]
pub struct WriteNode {
    input: LogicalPlan,
    spec: Arc<WriteSpec>,
    store: Arc<dyn ObjectStore>,
    progress: Arc<WriteProgress>,
    schema: DFSchemaRef,
}

impl WriteNode {
    /// A write of `input`'s rows to `target`, whose record is in the folder `record`.
    pub(crate) fn new(input: LogicalPlan, target: Target, record: Path, progress: Arc<WriteProgress>) -> Result<Self> {
        let (spec, store) = target.split(Some(record));
        let schema = DFSchema::try_from(files_schema().as_ref().clone()).map_err(from_datafusion)?;
        Ok(Self {
            input,
            spec: Arc::new(spec),
            store,
            progress,
            schema: Arc::new(schema),
        })
    }
}

impl fmt::Debug for WriteNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteNode").field("spec", &self.spec).finish()
    }
}

// A write is identified by its query id, which is unique per write.
impl PartialEq for WriteNode {
    fn eq(&self, other: &Self) -> bool {
        self.spec.query_id == other.spec.query_id && self.input == other.input
    }
}

impl Eq for WriteNode {}

impl Hash for WriteNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.spec.query_id.hash(state);
        self.input.hash(state);
    }
}

impl PartialOrd for WriteNode {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.spec.query_id.partial_cmp(&other.spec.query_id)
    }
}

impl UserDefinedLogicalNodeCore for WriteNode {
    fn name(&self) -> &str {
        "TarnWrite"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "TarnWrite: {}", self.spec.location.url)
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> DfResult<Self> {
        let input = inputs
            .pop()
            .ok_or_else(|| DataFusionError::Internal("a write has one input".into()))?;
        Ok(Self { input, ..self.clone() })
    }
}

/// Plans [`WriteNode`]s (see the module's notes).
#[derive(Debug, Default)]
pub struct WritePlanner;

#[async_trait]
impl ExtensionPlanner for WritePlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        session: &dyn CatalogSession,
        _planning_ctx: &PhysicalPlanningContext,
    ) -> DfResult<Option<Arc<dyn ExecutionPlan>>> {
        let Some(write) = node.as_any().downcast_ref::<WriteNode>() else {
            return Ok(None);
        };
        let [input] = physical_inputs else {
            return Err(DataFusionError::Internal("a write has one input".into()));
        };
        let streams = session.config().target_partitions().max(1);
        let plan = write_plan(
            Arc::clone(input),
            Arc::clone(&write.spec),
            Some(Arc::clone(&write.store)),
            Arc::clone(&write.progress),
            streams,
        )
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(Some(plan))
    }
}

/// The plan that writes `input`'s rows as `spec` says, in `streams` streams when the rows are keyed by partition
/// or bucket (see [`super`]). `store` is where the files go; `None`: the runner's store for the location.
pub fn write_plan(
    input: Arc<dyn ExecutionPlan>,
    spec: Arc<WriteSpec>,
    store: Option<Arc<dyn ObjectStore>>,
    progress: Arc<WriteProgress>,
    streams: usize,
) -> Result<Arc<dyn ExecutionPlan>> {
    let plan = match &spec.bucketing {
        Some(bucketing) => Arc::new(BucketExec::try_new(input, bucketing.clone())?) as Arc<dyn ExecutionPlan>,
        None => input,
    };
    let keys = write_keys(&plan.schema(), &spec);
    let plan: Arc<dyn ExecutionPlan> = if keys.is_empty() {
        plan
    } else {
        let repartitioned = Arc::new(
            RepartitionExec::try_new(plan, Partitioning::Hash(keys.clone(), streams.max(1)))
                .map_err(from_datafusion)?,
        );
        match LexOrdering::new(keys.iter().map(|k| PhysicalSortExpr::new(Arc::clone(k), key_order()))) {
            Some(ordering) if is_sorted(&spec) => {
                Arc::new(SortExec::new(ordering, repartitioned).with_preserve_partitioning(true))
            }
            _ => repartitioned,
        }
    };
    Ok(Arc::new(WriteExec::try_new(plan, spec, store, progress)?))
}

fn key_order() -> SortOptions {
    SortOptions {
        descending: false,
        nulls_first: true,
    }
}

/// Whether each stream's rows are sorted by key, so that a stream keeps one file open at a time: always when
/// partitioned, and when there are more buckets than files one write keeps open.
fn is_sorted(spec: &WriteSpec) -> bool {
    !spec.partition_names.is_empty()
        || spec
            .bucketing
            .as_ref()
            .is_some_and(|b| b.count as usize > MAX_OPEN_FILES)
}

/// The columns a write's rows are keyed by: its partition columns (the last of the query's) and then the bucket.
fn write_keys(schema: &SchemaRef, spec: &WriteSpec) -> Vec<Arc<dyn PhysicalExpr>> {
    let bucketed = usize::from(spec.bucketing.is_some());
    let partitions = spec.partition_names.len();
    let end = schema.fields().len();
    let first = end.saturating_sub(partitions + bucketed);
    (first..end)
        .map(|i| Arc::new(Column::new(schema.field(i).name(), i)) as Arc<dyn PhysicalExpr>)
        .collect()
}

/// Its input with each row's Hive bucket as a last column.
#[derive(Debug)]
pub struct BucketExec {
    input: Arc<dyn ExecutionPlan>,
    bucketing: Bucketing,
    /// Where the bucket columns are in the input, in bucketing order.
    indices: Vec<usize>,
    properties: Arc<PlanProperties>,
}

impl BucketExec {
    pub fn try_new(input: Arc<dyn ExecutionPlan>, bucketing: Bucketing) -> Result<Self> {
        let schema = input.schema();
        let indices = bucketing
            .columns
            .iter()
            .map(|c| {
                schema.index_of(&c.name).map_err(|_| {
                    EngineError::invalid(Part::Column, format!("bucket column '{}' is not in the query", c.name))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new(BUCKET_COLUMN, DataType::Int32, false));
        let output = Arc::new(Schema::new(fields));
        let properties = PlanProperties::new(
            EquivalenceProperties::new(output),
            input.output_partitioning().clone(),
            input.pipeline_behavior(),
            input.boundedness(),
        );
        Ok(Self {
            input,
            bucketing,
            indices,
            properties: Arc::new(properties),
        })
    }

    pub(crate) fn wire(&self) -> WireBucketing {
        WireBucketing::of(&self.bucketing)
    }

    pub(crate) fn from_wire(wire: &WireBucketing, input: Arc<dyn ExecutionPlan>) -> Result<Self> {
        Self::try_new(input, wire.bucketing()?)
    }
}

impl DisplayAs for BucketExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let columns: Vec<&str> = self.bucketing.columns.iter().map(|c| c.name.as_str()).collect();
        write!(
            f,
            "BucketExec: hive bucket v{} of [{}] into {}",
            self.bucketing.version.number(),
            columns.join(", "),
            self.bucketing.count
        )
    }
}

impl ExecutionPlan for BucketExec {
    fn name(&self) -> &str {
        "BucketExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let input = children
            .pop()
            .ok_or_else(|| DataFusionError::Internal("BucketExec has one input".into()))?;
        Ok(Arc::new(
            Self::try_new(input, self.bucketing.clone()).map_err(|e| DataFusionError::External(Box::new(e)))?,
        ))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let schema = self.schema();
        let (bucketing, indices) = (self.bucketing.clone(), self.indices.clone());
        let out = Arc::clone(&schema);
        let stream = input.map(move |batch| {
            let batch = batch?;
            let columns: Vec<_> = indices.iter().map(|&i| Arc::clone(batch.column(i))).collect();
            let ids = bucket_ids(&columns, &bucketing.columns, bucketing.count, bucketing.version)
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            let mut all = batch.columns().to_vec();
            all.push(Arc::new(ids));
            Ok(RecordBatch::try_new(Arc::clone(&out), all)?)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// Writes each of its input's partitions as files (one [`StreamWriter`] each) and returns, per partition, the
/// files it completed (see [`files_schema`]).
pub struct WriteExec {
    input: Arc<dyn ExecutionPlan>,
    spec: Arc<WriteSpec>,
    /// Where the files go; `None`: the store the runner's runtime has for the location (on a worker).
    store: Option<Arc<dyn ObjectStore>>,
    progress: Arc<WriteProgress>,
    /// Decoded from the wire (on a worker): each file is completed only while the write is still running.
    remote: bool,
    /// The columns stored in the files (partition values live in folder names, the bucket in file names).
    data_schema: SchemaRef,
    keys: Vec<Arc<dyn PhysicalExpr>>,
    properties: Arc<PlanProperties>,
}

impl fmt::Debug for WriteExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteExec").field("spec", &self.spec).finish()
    }
}

impl WriteExec {
    pub fn try_new(
        input: Arc<dyn ExecutionPlan>,
        spec: Arc<WriteSpec>,
        store: Option<Arc<dyn ObjectStore>>,
        progress: Arc<WriteProgress>,
    ) -> Result<Self> {
        let schema = input.schema();
        let stored = schema
            .fields()
            .len()
            .checked_sub(spec.partition_names.len() + usize::from(spec.bucketing.is_some()))
            .ok_or_else(|| EngineError::internal("a write has fewer columns than partition columns"))?;
        let data_fields: Vec<Field> = schema.fields()[..stored]
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let name = spec
                    .file_names
                    .as_ref()
                    .and_then(|n| n.get(i))
                    .cloned()
                    .unwrap_or_else(|| f.name().clone());
                Field::new(name, f.data_type().clone(), true)
            })
            .collect();
        let keys = write_keys(&schema, &spec);
        let properties = PlanProperties::new(
            EquivalenceProperties::new(files_schema()),
            Partitioning::UnknownPartitioning(input.output_partitioning().partition_count()),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        Ok(Self {
            input,
            spec,
            store,
            progress,
            remote: false,
            data_schema: Arc::new(Schema::new(data_fields)),
            keys,
            properties: Arc::new(properties),
        })
    }

    pub(crate) fn wire(&self) -> Result<WireWrite> {
        WireWrite::of(&self.spec)
    }

    /// The node a worker runs: the files go to its own store for the location, and its progress is its own.
    pub(crate) fn from_wire(wire: &WireWrite, input: Arc<dyn ExecutionPlan>) -> Result<Self> {
        let mut exec = Self::try_new(input, Arc::new(wire.spec()?), None, Arc::new(WriteProgress::default()))?;
        exec.remote = true;
        Ok(exec)
    }

    /// Writes partition `partition` of the input; returns the files, all complete. On error the files written
    /// so far remain (the write's record finds them by query id).
    pub(crate) fn write_partition(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<impl Future<Output = Result<Vec<WrittenFile>>> + Send + 'static> {
        let store = match &self.store {
            Some(store) => Arc::clone(store),
            None => context
                .runtime_env()
                .object_store(&self.spec.location.store_url)
                .map_err(from_datafusion)?,
        };
        let streams = self.input.output_partitioning().partition_count().max(1);
        // Streams are numbered across a stage's tasks, since the number is part of every file name.
        let task = DistributedTaskContext::from_ctx(&context);
        let stream_index = task.task_index * streams + partition;
        let sorted = is_sorted(&self.spec);
        let spec = &self.spec;
        let guard = match (&spec.record, self.remote) {
            (Some(dir), true) => Some(RecordGuard::new(Arc::clone(&store), dir.clone())),
            _ => None,
        };
        let file_spec = Arc::new(FileSpec {
            location: spec.location.clone(),
            store,
            encoding: spec.encoding,
            data_schema: Arc::clone(&self.data_schema),
            partition_names: spec.partition_names.clone(),
            bucketed: spec.bucketing.is_some(),
            query_id: spec.query_id.clone(),
            hidden: spec.hidden,
            target_file_size: spec.target_file_size,
            buffer_budget: WRITE_BUFFER_BUDGET / streams,
            max_open: if sorted { 2 } else { (MAX_OPEN_FILES / streams).max(1) },
            sorted,
            guard,
        });
        let rows = self.input.execute(partition, context).map_err(from_datafusion)?;
        let writer = StreamWriter::new(file_spec, stream_index, Arc::clone(&self.progress));
        Ok(writer.run(rows))
    }
}

impl DisplayAs for WriteExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "WriteExec: {} files under {}",
            self.spec.encoding.kind().name(),
            self.spec.location.url
        )?;
        if !self.spec.partition_names.is_empty() {
            write!(f, ", partitioned by [{}]", self.spec.partition_names.join(", "))?;
        }
        if let Some(b) = &self.spec.bucketing {
            write!(f, ", {} buckets", b.count)?;
        }
        write!(f, ", query {}", self.spec.query_id)
    }
}

impl ExecutionPlan for WriteExec {
    fn name(&self) -> &str {
        "WriteExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    // Every partition×bucket key in one stream, so it makes one file (rolled at the target size), not one per
    // stream that saw it.
    fn required_input_distribution(&self) -> Vec<Distribution> {
        match self.keys.is_empty() {
            true => vec![Distribution::UnspecifiedDistribution],
            false => vec![Distribution::KeyPartitioned(self.keys.clone())],
        }
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        if !is_sorted(&self.spec) {
            return vec![None];
        }
        let requirement = LexRequirement::new(
            self.keys
                .iter()
                .map(|k| PhysicalSortRequirement::new(Arc::clone(k), Some(key_order()))),
        );
        vec![requirement.map(OrderingRequirements::new)]
    }

    // Unkeyed rows are written by the streams they come in: more streams would only make more, smaller files.
    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let input = children
            .pop()
            .ok_or_else(|| DataFusionError::Internal("WriteExec has one input".into()))?;
        let mut rebuilt = Self::try_new(
            input,
            Arc::clone(&self.spec),
            self.store.clone(),
            Arc::clone(&self.progress),
        )
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
        rebuilt.remote = self.remote;
        Ok(Arc::new(rebuilt))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        let writer = context
            .session_config()
            .get_extension::<ScanMeter>()
            .and_then(|m| m.worker_name().map(str::to_string))
            .unwrap_or_default();
        let written = self
            .write_partition(partition, context)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let files = futures::stream::once(async move {
            let files = written.await.map_err(|e| DataFusionError::External(Box::new(e)))?;
            files_batch(&files, &writer)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(files_schema(), files)))
    }
}
