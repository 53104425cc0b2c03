//! Writing query results as Hive-layout tables: partition folders, Hive-bucketed files, at any partition count in
//! bounded memory, committed all-or-nothing.
//!
//! The plan that feeds the writers (see [`exec`]): the query, plus a bucket-number column when bucketed,
//! hash-repartitioned on (partition values, bucket) so that every partition×bucket lands in exactly one stream (one
//! file, rolled at the target size, rather than one per thread), and sorted within each stream when partitioned, so a
//! stream finishes one partition before it starts the next and keeps one file open. DataFusion's sort spills to disk
//! beyond the session's memory pool. Without partitions and with at most [`MAX_OPEN_FILES`] buckets the sort is
//! skipped and each stream keeps its buckets open at once. On a cluster the streams are the workers' tasks.

pub mod commit;
pub mod exec;
pub mod hive_path;
pub mod props;
pub mod sink;
pub mod statements;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::execution::TaskContext;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use futures::StreamExt;
use object_store::ObjectStore;

use crate::bucket::{BucketColumn, BucketVersion};
use crate::error::{EngineError, Result, from_datafusion};
pub use crate::meter::WriteProgress;
use sink::WrittenFile;

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

/// Where and how a write's files go: what the workers get ([`exec::WriteSpec`]) and the store this process
/// writes through.
pub struct Target {
    pub store: Arc<dyn ObjectStore>,
    pub spec: exec::WriteSpec,
}

/// The files a write made, and how many each worker wrote (empty when it ran in this process).
pub struct WriteOutput {
    pub files: Vec<WrittenFile>,
    pub by_worker: std::collections::BTreeMap<String, u64>,
}

/// Runs a plan made by [`exec::write_plan`] (or one that runs it on workers) to its end; returns the files, all
/// complete. On error the files written so far remain (the caller removes them by query id).
pub async fn run_write_plan(
    plan: Arc<dyn ExecutionPlan>,
    task: Arc<TaskContext>,
    progress: Arc<WriteProgress>,
) -> Result<WriteOutput> {
    let mut output = WriteOutput {
        files: Vec::new(),
        by_worker: std::collections::BTreeMap::new(),
    };
    if let Some(write) = plan.downcast_ref::<exec::WriteExec>() {
        // In this process: every stream's writer at once, and on an error the others are stopped in a way that
        // lets them abort their own uploads (see below).
        let streams = plan.output_partitioning().partition_count();
        let mut writers = tokio::task::JoinSet::new();
        for index in 0..streams {
            writers.spawn(write.write_partition(index, Arc::clone(&task))?);
        }
        while let Some(joined) = writers.join_next().await {
            let outcome = joined.map_err(|e| EngineError::internal(format!("a writer task failed: {e}")))?;
            match outcome {
                Ok(mut written) => output.files.append(&mut written),
                Err(e) => {
                    // Stop the other writers through the interrupt they check at every batch (and their reads at
                    // every chunk), so each aborts its own uploads. Aborting their tasks instead could drop an
                    // upload mid-write and leave a file behind after the caller removed the write's files. The
                    // next statement clears the interrupt.
                    progress.interrupt.interrupt();
                    while writers.join_next().await.is_some() {}
                    return Err(e);
                }
            }
        }
    } else {
        // On workers: each task writes its streams' files and lists them; the lists come here as rows.
        let mut lists = datafusion::physical_plan::execute_stream(plan, task).map_err(from_datafusion)?;
        loop {
            // Workers do not see this session's interrupt: on Ctrl-C the lists are dropped, which cancels their
            // tasks, and the caller removes what they wrote.
            let next = tokio::select! {
                next = lists.next() => next,
                () = interrupted(&progress.interrupt) => return Err(EngineError::Interrupted),
            };
            let Some(batch) = next else {
                break;
            };
            let batch = batch.map_err(from_datafusion)?;
            for (file, writer) in exec::files_of(&batch)? {
                progress.rows.fetch_add(file.rows, Ordering::Relaxed);
                progress.bytes.fetch_add(file.bytes, Ordering::Relaxed);
                progress.files.fetch_add(1, Ordering::Relaxed);
                if !writer.is_empty() {
                    *output.by_worker.entry(writer).or_default() += 1;
                }
                output.files.push(file);
            }
        }
    }
    output.files.sort_by(|a, b| a.final_path.cmp(&b.final_path));
    Ok(output)
}

/// Resolves once `interrupt` is set.
async fn interrupted(interrupt: &crate::meter::Interrupt) {
    while !interrupt.is_set() {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
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
