//! `tarn worker`: a gRPC service that runs the tasks of queries planned by tarn sessions (see [`crate::cluster`]).

use std::future::Future;
use std::sync::Arc;

use datafusion::error::DataFusionError;
use datafusion::execution::cache::cache_manager::{CacheManager, CacheManagerConfig};
use datafusion::execution::session_state::SessionState;
use datafusion_distributed::{DistributedExt, Worker, WorkerQueryContext};

use crate::cluster::{QueryOptions, describe_transport};
use crate::error::{EngineError, Result};
use crate::meter::{MeteredRegistry, ScanMeter};
use crate::storage::{AwsSettings, StoreRegistry};
use crate::wire::TarnCodec;

/// How to run a worker.
#[derive(Debug, Clone, Default)]
pub struct WorkerOptions {
    /// S3 settings; `None` reads the standard AWS environment.
    pub aws: Option<AwsSettings>,
    /// Bytes of memory the worker's tasks may use together before they spill (default 1 GiB).
    pub memory_limit: Option<usize>,
    /// How the worker is named in figures (`-v`) and errors; its URL.
    pub name: String,
}

/// Serves tasks on `listener` until `shutdown` completes.
pub async fn serve_worker(
    listener: tokio::net::TcpListener,
    options: WorkerOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let registry = Arc::new(match options.aws {
        Some(settings) => StoreRegistry::with_aws(settings),
        None => StoreRegistry::new(),
    });
    let memory = options.memory_limit.unwrap_or(crate::write::DEFAULT_MEMORY_LIMIT);
    let base = Arc::new(crate::planner::base_state(registry, memory, &[])?);
    let name = Arc::new(options.name);
    let worker = Worker::from_session_builder(move |query: WorkerQueryContext| {
        let (base, name) = (Arc::clone(&base), Arc::clone(&name));
        async move { task_state(&base, query, &name) }
    });
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tonic::transport::Server::builder()
        .add_service(worker.into_worker_server())
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| EngineError::internal(format!("the worker stopped: {}", describe_transport(&e))))
}

/// The state one task runs in: the worker's functions, memory pool and stores, the stores counting into a meter of
/// the task's own, and tarn's codec.
fn task_state(
    base: &SessionState,
    query: WorkerQueryContext,
    name: &str,
) -> std::result::Result<SessionState, DataFusionError> {
    let mut builder = query
        .builder
        .with_distributed_option_extension_from_headers::<QueryOptions>(&query.headers)?;
    let limit = builder
        .config()
        .as_ref()
        .and_then(|c| c.options().extensions.get::<QueryOptions>())
        .map(|o| o.max_scan)
        .filter(|l| *l > 0);
    let meter = Arc::new(ScanMeter::for_worker(limit, name));
    let mut runtime = (**base.runtime_env()).clone();
    runtime.object_store_registry = Arc::new(MeteredRegistry::new(
        Arc::clone(&runtime.object_store_registry),
        Arc::clone(&meter),
    ));
    // No footer cache between tasks: a query's bytes scanned must not depend on which queries a worker ran before.
    runtime.cache_manager = CacheManager::try_new(&CacheManagerConfig::default())?;
    if let Some(config) = builder.config().take() {
        *builder.config() = Some(config.with_extension(meter));
    }
    Ok(builder
        .with_scalar_functions(crate::trino::for_execution(
            base.scalar_functions().values().cloned().collect(),
        ))
        .with_aggregate_functions(base.aggregate_functions().values().cloned().collect())
        .with_window_functions(base.window_functions().values().cloned().collect())
        .with_runtime_env(Arc::new(runtime))
        .with_distributed_user_codec(TarnCodec)
        .build())
}
