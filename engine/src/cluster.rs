//! Queries on a cluster of tarn workers, on datafusion-distributed.
//!
//! The session stays the planner: it resolves tables from its catalog, lists and prunes partitions and buckets, and
//! reads Parquet footers for statistics, as it does alone. datafusion-distributed then cuts the physical plan into
//! stages at its shuffles and sends each stage's tasks to workers over gRPC, tarn's scans encoded by
//! [`TarnCodec`]. A worker is stateless: it has tarn's functions and object stores (its S3 settings come from its
//! own environment) and no catalog.
//!
//! Bytes scanned: each worker task counts what it reads in a meter of its own and reports it as a metric of one of
//! its scans, which datafusion-distributed sends back when the task ends; the coordinator adds them up when the
//! query's last row is out. As Athena's workers do, each task reads the footers of the files it scans (workers keep
//! no cache between queries), and what the coordinator read to plan is reported apart. The scan limit stops any task
//! that alone reads past it, and the query fails once the sum passes it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::common::extensions_options;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::config::ConfigExtension;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfig};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::{LogicalPlan, PlanType, StringifiedPlan};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::explain::ExplainExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, ExecutionPlan, ExecutionPlanProperties, ReplaceChildrenOptions,
};
use datafusion::prelude::SessionConfig;
use datafusion_distributed::grpc::{BoxCloneSyncChannel, create_worker_client};
use datafusion_distributed::{
    ChannelResolver, DistributedCodec, DistributedExec, DistributedLeafExec, DistributedMetricsFormat,
    NetworkBoundaryExt, ScaleUpLeafNodeEvent, ScaleUpLeafNodeEventResponse, WorkerChannel, WorkerResolver,
    rewrite_distributed_plan_with_metrics,
};
use datafusion_proto::physical_plan::AsExecutionPlan;
use datafusion_proto::protobuf::PhysicalPlanNode;
use futures::StreamExt;
use tonic::transport::Channel;
use url::Url;

use crate::error::{EngineError, Part, Result};
use crate::meter::{ScanMeter, worker_of_metric};

/// The setting (and `--workers`, `TARN_WORKERS`) that lists the workers queries run on.
pub const WORKERS_SETTING: &str = "tarn.workers";

/// How long a coordinator tries to reach a worker before the query fails naming it. A refused connection fails at
/// once; this bounds a machine that does not answer at all.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How many times a worker is tried after a connection to one broke.
const PROBES: usize = 4;

/// How long after a query's last row the coordinator waits for its tasks' figures. They are sent as each task
/// ends, so this is only reached when a worker stopped answering after it sent its rows.
const REPORT_TIMEOUT: Duration = Duration::from_secs(30);

/// Parses a list of workers: URLs (`http://host:port`) separated by commas; an empty list means none.
pub fn parse_workers(list: &str) -> Result<Vec<Url>> {
    list.split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(|w| {
            let bad = |why: String| {
                EngineError::invalid(
                    Part::Setting,
                    format!("worker '{w}' {why}; give workers as http://host:port, separated by commas"),
                )
            };
            let url = Url::parse(w).map_err(|e| bad(format!("is not a URL ({e})")))?;
            if url.scheme() != "http" && url.scheme() != "https" {
                return Err(bad(format!("has the scheme '{}'", url.scheme())));
            }
            if url.host_str().is_none() || url.port_or_known_default().is_none() {
                return Err(bad("has no host and port".into()));
            }
            Ok(url)
        })
        .collect()
}

/// Spreads a file scan over its tasks by whole files, balanced by size. datafusion-distributed's own spreading cuts
/// every file into byte ranges over all tasks, and each task then reads the footer of every Parquet file it has a
/// range of: a query's bytes scanned would grow with the number of workers.
pub(crate) fn whole_files_per_task(
    event: ScaleUpLeafNodeEvent,
) -> Option<std::result::Result<ScaleUpLeafNodeEventResponse, DataFusionError>> {
    let exec = event.plan.downcast_ref::<DataSourceExec>()?;
    let scan = exec.data_source().downcast_ref::<FileScanConfig>()?;
    // One task: the scan as planned (datafusion-distributed's spreading would still cut its files).
    if event.task_count < 2 {
        return Some(Ok(ScaleUpLeafNodeEventResponse::new(Arc::clone(event.plan))));
    }
    // Scans that promise an order or a partitioning keep datafusion-distributed's spreading, which keeps them.
    if scan.output_partitioning.is_some() || !scan.output_ordering.is_empty() {
        return None;
    }
    let partitions = event.plan.output_partitioning().partition_count().max(1);
    // The ranges of each file (DataFusion may have cut large files), largest file first.
    let mut by_file: Vec<(String, u64, Vec<PartitionedFile>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for file in scan.file_groups.iter().flat_map(|g| g.iter()) {
        let path = file.object_meta.location.to_string();
        let size = file.effective_size();
        match index.get(&path) {
            Some(&i) => {
                by_file[i].1 += size;
                by_file[i].2.push(file.clone());
            }
            None => {
                index.insert(path.clone(), by_file.len());
                by_file.push((path, size, vec![file.clone()]));
            }
        }
    }
    by_file.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    // Each file to the task with the fewest bytes so far, and within it to the lightest partition: all of a
    // file's ranges in one partition, which reads them one after the other, so its footer is fetched once (two
    // partitions opening one file at once would both miss the cache).
    // Per task and per partition, bytes so far and files.
    type Files = (u64, Vec<PartitionedFile>);
    let mut tasks: Vec<(u64, Vec<Files>)> = vec![(0, vec![(0, Vec::new()); partitions]); event.task_count];
    for (_, size, ranges) in by_file {
        let Some(task) = tasks.iter_mut().min_by_key(|(bytes, _)| *bytes) else {
            break;
        };
        task.0 += size;
        if let Some(group) = task.1.iter_mut().min_by_key(|(bytes, _)| *bytes) {
            group.0 += size;
            group.1.extend(ranges);
        }
    }
    let variants = tasks.into_iter().map(|(_, groups)| {
        let mut variant = scan.clone();
        variant.file_groups = groups.into_iter().map(|(_, files)| FileGroup::new(files)).collect();
        DataSourceExec::from_data_source(variant) as Arc<dyn ExecutionPlan>
    });
    Some(
        DistributedLeafExec::try_new(Arc::clone(event.plan), variants)
            .map(|leaf| ScaleUpLeafNodeEventResponse::new(Arc::new(leaf))),
    )
}

extensions_options! {
    /// What a worker needs of the session a query comes from; it travels with every task.
    pub struct QueryOptions {
        /// The session's scan limit in bytes; 0: none.
        pub max_scan: u64, default = 0
    }
}

impl ConfigExtension for QueryOptions {
    const PREFIX: &'static str = "tarn_query";
}

/// Puts the query's settings where its tasks carry them to workers (a no-op when the session has no workers).
pub(crate) fn set_query_options(config: &mut SessionConfig, max_scan: Option<u64>) {
    if let Some(options) = config.options_mut().extensions.get_mut::<QueryOptions>() {
        options.max_scan = max_scan.unwrap_or(0);
    }
}

/// The planner a state plans with in this process: tarn's, which [`crate::planner::plan_for`] wraps in datafusion-
/// distributed's when there are workers.
pub(crate) struct LocalPlanner(pub(crate) Arc<dyn QueryPlanner + Send + Sync>);

/// `state` planning everything in this process. delta-rs plans its writes and DML itself, with nodes of its own
/// that tarn cannot send to workers.
pub(crate) fn local(state: SessionState) -> SessionState {
    match state.config().get_extension::<LocalPlanner>() {
        Some(local) => SessionStateBuilder::new_from_existing(state)
            .with_query_planner(Arc::clone(&local.0))
            .build(),
        None => state,
    }
}

/// `logical` planned in `state`: on the session's workers when it has some and every scan can be sent to them,
/// else in this process, with the reason as a notice. What the coordinator read to plan a query that goes to
/// workers is set aside in `meter` (see the module's notes).
pub(crate) async fn physical_plan(
    state: &SessionState,
    logical: &LogicalPlan,
    meter: &ScanMeter,
) -> std::result::Result<(Arc<dyn ExecutionPlan>, Option<String>), DataFusionError> {
    // DataFusion plans EXPLAIN's query with its own planner, which knows nothing of stages; the stages are the point
    // of an EXPLAIN on a cluster.
    if let LogicalPlan::Explain(explain) = logical
        && !explain.verbose
        && has_workers(state)
    {
        let (query, notice) = Box::pin(physical_plan(state, &explain.plan, meter)).await?;
        if is_distributed(&query) {
            let text = datafusion_distributed::display_plan_ascii(query.as_ref(), false);
            let plans = vec![StringifiedPlan::new(PlanType::FinalPhysicalPlan, text)];
            let explained = ExplainExec::new(Arc::clone(explain.schema.inner()), plans, false);
            return Ok((Arc::new(explained), notice));
        }
    }
    let plan = state.create_physical_plan(logical).await?;
    if !is_distributed(&plan) {
        return Ok((plan, None));
    }
    if let Some(scan) = unsendable_node(&plan, state.config()) {
        let plan = local(state.clone()).create_physical_plan(logical).await?;
        let notice = format!("ran in this process, not on the workers: tarn cannot send a {scan} to them yet");
        return Ok((plan, Some(notice)));
    }
    meter.set_aside_planning();
    Ok((plan, None))
}

/// The first node of `plan` that cannot be sent to workers (delta-rs 1.1 has no codec for its `DeltaScanExec`):
/// each node is encoded alone, over empty inputs of its children's schemas, by the codecs the stages are sent with
/// (datafusion-distributed's and tarn's).
fn unsendable_node(plan: &Arc<dyn ExecutionPlan>, config: &SessionConfig) -> Option<String> {
    let codec = DistributedCodec::new_combined_with_user(config);
    // What is above the distributed part (EXPLAIN ANALYZE's node) stays here.
    let plan = distributed_exec(plan)?;
    let mut found = None;
    let _ = plan.apply(|node| {
        if node.is::<DistributedExec>() || node.is_network_boundary() {
            return Ok(TreeNodeRecursion::Continue);
        }
        // A scan split over tasks is sent as its variants, one per task.
        let alone: Vec<Arc<dyn ExecutionPlan>> = match node.downcast_ref::<DistributedLeafExec>() {
            Some(leaf) => leaf.variants().to_vec(),
            None => {
                let inputs = node
                    .children()
                    .into_iter()
                    .map(|c| Arc::new(EmptyExec::new(c.schema())) as Arc<dyn ExecutionPlan>)
                    .collect();
                match Arc::clone(node)
                    .replace_children(inputs, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
                {
                    Ok(alone) => vec![alone],
                    Err(_) => return Ok(TreeNodeRecursion::Continue),
                }
            }
        };
        if alone
            .into_iter()
            .any(|n| PhysicalPlanNode::try_from_physical_plan(n, &codec).is_err())
        {
            found = Some(node.name().to_string());
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// Whether `state` plans for workers.
fn has_workers(state: &SessionState) -> bool {
    !workers_of(state.config()).is_empty()
}

/// Whether `plan` runs on workers.
pub(crate) fn is_distributed(plan: &Arc<dyn ExecutionPlan>) -> bool {
    distributed_exec(plan).is_some()
}

/// The node of `plan` that runs the rest on workers: its root, or under EXPLAIN ANALYZE's.
fn distributed_exec(plan: &Arc<dyn ExecutionPlan>) -> Option<Arc<dyn ExecutionPlan>> {
    let mut found = None;
    let _ = plan.apply(|node| {
        if node.is::<DistributedExec>() {
            found = Some(Arc::clone(node));
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

pub(crate) struct FixedWorkers(pub(crate) Vec<Url>);

impl WorkerResolver for FixedWorkers {
    fn get_urls(&self) -> std::result::Result<Vec<Url>, DataFusionError> {
        Ok(self.0.clone())
    }
}

/// Connections to workers, one per worker, reused by every query. A worker that cannot be reached fails the query
/// with an error that names it, within [`CONNECT_TIMEOUT`].
#[derive(Clone, Default)]
pub(crate) struct Channels(Arc<Mutex<HashMap<Url, Channel>>>);

#[async_trait]
impl ChannelResolver for Channels {
    async fn get_worker_client_for_url(
        &self,
        url: &Url,
    ) -> std::result::Result<Box<dyn WorkerChannel>, DataFusionError> {
        let cached = self.0.lock().ok().and_then(|c| c.get(url).cloned());
        let channel = match cached {
            Some(channel) => channel,
            None => {
                let unreachable = |reason: String| {
                    DataFusionError::External(Box::new(EngineError::WorkerUnreachable {
                        url: url.as_str().trim_end_matches('/').to_string(),
                        reason,
                    }))
                };
                let endpoint = Channel::from_shared(url.to_string())
                    .map_err(|e| unreachable(e.to_string()))?
                    .connect_timeout(CONNECT_TIMEOUT)
                    .tcp_nodelay(true);
                let channel = endpoint
                    .connect()
                    .await
                    .map_err(|e| unreachable(describe_transport(&e)))?;
                if let Ok(mut cache) = self.0.lock() {
                    cache.insert(url.clone(), channel.clone());
                }
                channel
            }
        };
        Ok(create_worker_client(BoxCloneSyncChannel::new(channel)))
    }
}

/// A transport error's innermost cause ("Connection refused (os error 111)"), which is what a user acts on.
pub(crate) fn describe_transport(e: &tonic::transport::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Once `stream` (a query's rows) has ended, adds what the workers scanned to `meter` and checks the scan limit
/// against the sum; a query that did not run on workers is returned as it is.
pub(crate) fn count_worker_bytes(
    stream: SendableRecordBatchStream,
    plan: Arc<dyn ExecutionPlan>,
    meter: Arc<ScanMeter>,
    config: &SessionConfig,
) -> SendableRecordBatchStream {
    if !is_distributed(&plan) {
        return stream;
    }
    let schema = stream.schema();
    let workers = Arc::new(workers_of(config));
    let rows = stream.then(move |batch| {
        let workers = Arc::clone(&workers);
        async move {
            match batch {
                // tarn's own errors (an unreachable worker among them) say what happened already.
                Err(e)
                    if crate::error::find_external::<EngineError>(&e).is_none()
                        && is_connection_failure(&e.to_string()) =>
                {
                    Err(DataFusionError::External(Box::new(
                        lost_worker(&e.to_string(), &workers).await,
                    )))
                }
                other => other,
            }
        }
    });
    let settled = futures::stream::once(async move { settle(&plan, &meter).await })
        .filter_map(|settled| async move { settled.err().map(Err) });
    Box::pin(RecordBatchStreamAdapter::new(schema, rows.chain(settled)))
}

/// `e` (a statement's failure on a cluster), naming the worker that went away when a connection to one broke.
pub(crate) async fn name_lost_worker(e: EngineError, config: &SessionConfig) -> EngineError {
    match &e {
        EngineError::DataFusion { message, .. } if is_connection_failure(message) => {
            lost_worker(message, &workers_of(config)).await
        }
        _ => e,
    }
}

fn workers_of(config: &SessionConfig) -> Vec<Url> {
    datafusion_distributed::get_distributed_worker_resolver(config)
        .and_then(|r| r.get_urls())
        .unwrap_or_default()
}

/// Whether a query's error is a broken connection to a worker (gRPC over HTTP/2 says so in many ways).
fn is_connection_failure(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    [
        "h2 protocol error",
        "transport error",
        "broken pipe",
        "connection reset",
        "connection refused",
        "tcp connect error",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// The error for a query whose connection to a worker broke: which of `workers` no longer answer, and the
/// transport's own words. Each worker is tried a few times over a second: a worker that is going down may drop its
/// connections a moment before it stops listening.
async fn lost_worker(detail: &str, workers: &[Url]) -> EngineError {
    let mut gone = Vec::new();
    for url in workers {
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            continue;
        };
        for attempt in 0..PROBES {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            let connect = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port));
            if !matches!(tokio::time::timeout(Duration::from_secs(2), connect).await, Ok(Ok(_))) {
                gone.push(url.as_str().trim_end_matches('/').to_string());
                break;
            }
        }
    }
    EngineError::WorkerLost {
        workers: gone,
        detail: detail.to_string(),
    }
}

/// Adds what the workers of `plan` (run to its end) scanned to `meter`, and checks the scan limit against the sum.
pub(crate) async fn settle(
    plan: &Arc<dyn ExecutionPlan>,
    meter: &ScanMeter,
) -> std::result::Result<(), DataFusionError> {
    let Some(distributed) = distributed_exec(plan) else {
        return Ok(());
    };
    let reported = tokio::time::timeout(
        REPORT_TIMEOUT,
        rewrite_distributed_plan_with_metrics(distributed, DistributedMetricsFormat::PerTask),
    )
    .await
    .map_err(|_| {
        DataFusionError::External(Box::new(EngineError::internal(format!(
            "the workers did not report what they scanned within {} s of the query's end",
            REPORT_TIMEOUT.as_secs()
        ))))
    })??;
    reported.apply(|node| {
        for metric in node.metrics().iter().flat_map(|m| m.iter()) {
            if let Some(worker) = worker_of_metric(metric.value().name()) {
                meter.add_worker_bytes(worker, metric.value().as_usize() as u64);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    meter.check().map_err(|e| DataFusionError::External(Box::new(e)))
}
