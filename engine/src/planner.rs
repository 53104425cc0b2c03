//! The DataFusion state tarn plans and runs in, for a session and for a worker: tarn's functions and planning rules,
//! its physical planner (DataFusion's, plus delta-rs' nodes and tarn's writes), and, with workers, datafusion-
//! distributed's planner and tarn's codec. Above the statements' modules (it names the write and wire nodes), below
//! the session.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::error::DataFusionError;
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use datafusion::prelude::SessionConfig;
use datafusion_distributed::{DistributedConfig, DistributedExt, SessionStateBuilderExt};
use tarn_catalog::DEFAULT_DATABASE;
use url::Url;

use crate::cluster::{Channels, FixedWorkers, LocalPlanner, QueryOptions, whole_files_per_task};
use crate::error::{Result, from_datafusion};
use crate::names::CATALOG_NAME;
use crate::storage::StoreRegistry;
use crate::wire::TarnCodec;

/// `builder` planning for `workers`: tarn's planner alone when there are none, else wrapped in datafusion-
/// distributed's, which cuts plans into stages for the workers.
pub(crate) fn plan_for(builder: SessionStateBuilder, workers: &[Url]) -> SessionStateBuilder {
    let planner: Arc<dyn QueryPlanner + Send + Sync> = Arc::new(TarnPlanner);
    let mut builder = builder.with_query_planner(Arc::clone(&planner));
    let config = builder.config().take().unwrap_or_default();
    let mut config = config.with_extension(Arc::new(LocalPlanner(planner)));
    if workers.is_empty() {
        // datafusion-distributed's settings stay settable alone, so a script written for a cluster runs without one.
        if config.options().extensions.get::<DistributedConfig>().is_none() {
            config.options_mut().extensions.insert(DistributedConfig::default());
        }
        *builder.config() = Some(config);
        return builder;
    }
    *builder.config() = Some(config);
    builder
        .with_distributed_planner()
        .with_distributed_worker_resolver(FixedWorkers(workers.to_vec()))
        .with_distributed_channel_resolver(Channels::default())
        .with_distributed_user_codec(TarnCodec)
        .with_distributed_option_extension(QueryOptions::default())
        .with_distributed_scale_up_leaf_node_handler(whole_files_per_task)
}

/// DataFusion's planner plus delta-rs' nodes (write, DML and merge metrics), so Delta operations run on tarn's
/// session and its metered stores, and tarn's writes (see [`crate::write::exec`]).
#[derive(Debug)]
struct TarnPlanner;

#[async_trait]
impl QueryPlanner for TarnPlanner {
    async fn create_physical_plan(
        &self,
        logical: &LogicalPlan,
        session: &dyn datafusion::catalog::Session,
    ) -> std::result::Result<Arc<dyn ExecutionPlan>, DataFusionError> {
        let planner = DefaultPhysicalPlanner::with_extension_planners(vec![
            deltalake::delta_datafusion::planner::DeltaExtensionPlanner::new(),
            Arc::new(crate::write::exec::WritePlanner),
        ]);
        planner.create_physical_plan(logical, session).await
    }
}

/// A session's DataFusion state before it knows a catalog: its configuration, a runtime over `registry` with a memory
/// pool of `memory` bytes, tarn's planning rules and functions, and a planner for `workers`. What a worker runs with
/// too.
pub(crate) fn base_state(
    registry: Arc<StoreRegistry>,
    memory: usize,
    workers: &[url::Url],
) -> Result<datafusion::execution::SessionState> {
    // tarn owns the catalog: no default in-memory schema for DataFusion to register tables in, and no
    // information_schema that would only see one query's snapshot.
    let config = SessionConfig::new()
        .with_default_catalog_and_schema(CATALOG_NAME, DEFAULT_DATABASE)
        .with_create_default_catalog_and_schema(false)
        .with_information_schema(false)
        // Trino's ORDER BY puts NULLs last for ASC and DESC alike unless NULLS FIRST is given (DataFusion, as
        // PostgreSQL, puts them first for DESC).
        .set_str("datafusion.sql_parser.default_null_ordering", "nulls_last");
    // Sorts and aggregations spill to disk beyond the pool instead of growing without bound.
    let runtime = RuntimeEnvBuilder::new()
        .with_object_store_registry(registry as _)
        .with_memory_pool(Arc::new(FairSpillPool::new(memory)))
        .build_arc()
        .map_err(from_datafusion)?;
    let builder = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .with_optimizer_rule(Arc::new(crate::deep::BalanceLogic))
        .with_physical_optimizer_rule(Arc::new(crate::deep::BalanceFilters));
    let mut state = plan_for(builder, workers).build();
    crate::trino::register(&mut state).map_err(from_datafusion)?;
    datafusion::execution::FunctionRegistry::register_udf(
        &mut state,
        Arc::new(datafusion::logical_expr::ScalarUDF::new_from_impl(
            crate::deep::Chain::new(),
        )),
    )
    .map_err(from_datafusion)?;
    Ok(state)
}
