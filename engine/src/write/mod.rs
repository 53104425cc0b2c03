//! Writing query results as Hive-layout tables: partition folders, Hive-bucketed files, at any partition count in
//! bounded memory, committed all-or-nothing.
//!
//! The plan that feeds the writers: the query, plus a bucket-number column when bucketed, hash-repartitioned on
//! (partition values, bucket) so that every partition×bucket lands in exactly one stream (one file, rolled at the
//! target size, rather than one per thread), and sorted within each stream when partitioned, so a stream finishes one
//! partition before it starts the next and keeps one file open. DataFusion's sort spills to disk beyond the session's
//! memory pool. Without partitions and with at most [`MAX_OPEN_FILES`] buckets the sort is skipped and each stream
//! keeps its buckets open at once.

pub mod commit;
pub mod hive_path;
pub mod props;
pub mod sink;
pub mod statements;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::ScalarUDF;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::projection::ProjectionExpr;
use datafusion::physical_expr::{LexOrdering, PhysicalExpr, PhysicalSortExpr, ScalarFunctionExpr};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties, Partitioning};
use object_store::ObjectStore;

use crate::bucket::{BucketColumn, BucketVersion, HiveBucketUdf};
use crate::error::{EngineError, Part, Result, from_datafusion};
pub use crate::meter::WriteProgress;
use crate::storage::Location;
use props::FileEncoding;
use sink::{FileSpec, StreamWriter, WrittenFile};

/// Row-group buffers of all open files of one write, together.
pub const WRITE_BUFFER_BUDGET: usize = 256 << 20;
/// Files one write keeps open at most (each holds a 5 MiB upload buffer).
pub const MAX_OPEN_FILES: usize = 64;
/// Files roll over at this size unless the statement asks for another.
pub const DEFAULT_TARGET_FILE_SIZE: u64 = 512 << 20;
/// The query memory pool (sorts and aggregations spill to disk beyond it) unless the session sets another.
pub const DEFAULT_MEMORY_LIMIT: usize = 1 << 30;

/// Bucketing of a write: the data columns it hashes, in order.
#[derive(Debug, Clone)]
pub struct Bucketing {
    pub columns: Vec<BucketColumn>,
    pub count: u32,
    pub version: BucketVersion,
}

/// Where and how a write's files go.
pub struct Target {
    pub location: Location,
    pub store: Arc<dyn ObjectStore>,
    pub encoding: FileEncoding,
    /// The plan's last columns, in this order.
    pub partition_names: Vec<String>,
    pub bucketing: Option<Bucketing>,
    pub query_id: String,
    pub hidden: bool,
    pub target_file_size: u64,
    /// Column names for the files, in data-column order (JSON keys may differ from column names).
    pub file_names: Option<Vec<String>>,
}

/// Runs `plan` and writes its rows as files; returns the files, all complete. On error the files written so far
/// remain (the caller removes them by query id).
pub async fn write_files(
    plan: Arc<dyn ExecutionPlan>,
    task: Arc<TaskContext>,
    target: Target,
    progress: Arc<WriteProgress>,
) -> Result<Vec<WrittenFile>> {
    let schema = plan.schema();
    let partitions = target.partition_names.len();
    let data_columns = schema.fields().len() - partitions;
    let data_fields: Vec<Field> = schema.fields()[..data_columns]
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let name = target
                .file_names
                .as_ref()
                .and_then(|n| n.get(i))
                .cloned()
                .unwrap_or_else(|| f.name().clone());
            Field::new(name, f.data_type().clone(), true)
        })
        .collect();
    let data_schema = Arc::new(Schema::new(data_fields));

    // The bucket number as a column after the partition columns.
    let (plan, bucket_key) = match &target.bucketing {
        None => (plan, None),
        Some(bucketing) => {
            let args = bucketing
                .columns
                .iter()
                .map(|c| {
                    let index = schema.index_of(&c.name).map_err(|_| {
                        EngineError::invalid(Part::Column, format!("bucket column '{}' is not in the query", c.name))
                    })?;
                    Ok(Arc::new(Column::new(&c.name, index)) as Arc<dyn PhysicalExpr>)
                })
                .collect::<Result<Vec<_>>>()?;
            let udf = Arc::new(ScalarUDF::new_from_impl(HiveBucketUdf::new(
                bucketing.columns.clone(),
                bucketing.count,
                bucketing.version,
            )));
            let bucket = ScalarFunctionExpr::try_new(
                udf,
                args,
                &schema,
                Arc::new(task.session_config().options().as_ref().clone()),
            )
            .map_err(from_datafusion)?;
            let mut exprs: Vec<ProjectionExpr> = schema
                .fields()
                .iter()
                .enumerate()
                .map(|(i, f)| ProjectionExpr::new(Arc::new(Column::new(f.name(), i)), f.name().clone()))
                .collect();
            exprs.push(ProjectionExpr::new(Arc::new(bucket), "__tarn_bucket"));
            let projected =
                Arc::new(ProjectionExec::try_new(exprs, plan).map_err(from_datafusion)?) as Arc<dyn ExecutionPlan>;
            let key = Arc::new(Column::new("__tarn_bucket", schema.fields().len())) as Arc<dyn PhysicalExpr>;
            (projected, Some(key))
        }
    };
    let mut keys: Vec<Arc<dyn PhysicalExpr>> = (data_columns..data_columns + partitions)
        .map(|i| Arc::new(Column::new(schema.field(i).name(), i)) as Arc<dyn PhysicalExpr>)
        .collect();
    keys.extend(bucket_key);

    let streams = task.session_config().target_partitions().max(1);
    let sorted = partitions > 0
        || target
            .bucketing
            .as_ref()
            .is_some_and(|b| b.count as usize > MAX_OPEN_FILES);
    let plan: Arc<dyn ExecutionPlan> = if keys.is_empty() && crate::cluster::is_distributed(&plan) {
        // Rows from workers arrive in one stream; spread over as many writers as a local query has streams, so a
        // write on a cluster is as parallel, and writes as many files, as one in a single process.
        Arc::new(RepartitionExec::try_new(plan, Partitioning::RoundRobinBatch(streams)).map_err(from_datafusion)?)
    } else if keys.is_empty() {
        plan
    } else {
        let repartitioned = Arc::new(
            RepartitionExec::try_new(plan, Partitioning::Hash(keys.clone(), streams)).map_err(from_datafusion)?,
        );
        match LexOrdering::new(keys.iter().map(|k| {
            PhysicalSortExpr::new(
                Arc::clone(k),
                SortOptions {
                    descending: false,
                    nulls_first: true,
                },
            )
        })) {
            Some(ordering) if sorted => {
                Arc::new(SortExec::new(ordering, repartitioned).with_preserve_partitioning(true))
            }
            _ => repartitioned,
        }
    };

    let stream_count = plan.output_partitioning().partition_count().max(1);
    let spec = Arc::new(FileSpec {
        location: target.location,
        store: target.store,
        encoding: target.encoding,
        data_schema,
        partition_names: target.partition_names,
        bucketed: target.bucketing.is_some(),
        query_id: target.query_id,
        hidden: target.hidden,
        target_file_size: target.target_file_size,
        buffer_budget: WRITE_BUFFER_BUDGET / stream_count,
        max_open: if sorted {
            2
        } else {
            (MAX_OPEN_FILES / stream_count).max(1)
        },
        sorted,
    });
    let mut writers = tokio::task::JoinSet::new();
    for index in 0..stream_count {
        let stream = plan.execute(index, Arc::clone(&task)).map_err(from_datafusion)?;
        let writer = StreamWriter::new(Arc::clone(&spec), index, Arc::clone(&progress));
        writers.spawn(writer.run(stream));
    }
    let mut files = Vec::new();
    while let Some(joined) = writers.join_next().await {
        let outcome = joined.map_err(|e| EngineError::internal(format!("a writer task failed: {e}")))?;
        match outcome {
            Ok(mut written) => files.append(&mut written),
            Err(e) => {
                // Stop the other writers through the interrupt they check at every batch (and their reads at every
                // chunk), so each aborts its own uploads. Aborting their tasks instead could drop an upload
                // mid-write and leave a file behind after the caller removed the write's files. The next
                // statement clears the interrupt.
                progress.interrupt.interrupt();
                while writers.join_next().await.is_some() {}
                return Err(e);
            }
        }
    }
    files.sort_by(|a, b| a.final_path.cmp(&b.final_path));
    Ok(files)
}

/// A Trino-style query id (`20261122_101010_00042_k3f9a`): sortable by time, unique per write, and part of every file
/// name the write makes.
pub fn new_query_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let sequence = COUNTER.fetch_add(1, Ordering::Relaxed) % 100_000;
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "{}_{sequence:05}_{}",
        chrono::Utc::now().format("%Y%m%d_%H%M%S"),
        &random[..5]
    )
}
