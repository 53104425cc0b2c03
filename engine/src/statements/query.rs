//! Queries and everything else DataFusion plans (SELECT, WITH, VALUES, EXPLAIN), against a per-query snapshot of
//! the catalog.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::dataframe::DataFrame;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use datafusion::sql::parser::Statement as DFStatement;

use super::Statement;
use crate::context::{Ctx, PreparedQuery};
use crate::error::Result;
use crate::meter::ScanMeter;
use crate::parse::TarnParser;
use crate::result::{Outcome, ResultKind, Rows, query_error};
use crate::storage::Location;

pub(crate) struct Query {
    pub(crate) statement: DFStatement,
}

impl Statement for Query {
    const READ_ONLY: bool = true;
    /// Whatever no other statement claims.
    const STARTS: &'static [&'static [&'static str]] = &[];

    fn parse(p: &mut TarnParser) -> Result<Self> {
        Ok(Self {
            statement: p.datafusion_statement()?,
        })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        let Planned {
            plan: physical,
            task,
            meter,
            schema,
            locations,
            billed,
            notice,
        } = self.plan(ctx).await?;
        let config = task.session_config().clone();
        let stream =
            execute_stream(Arc::clone(&physical), task).map_err(|e| query_error(e, Some(&meter), &locations))?;
        let stream = crate::cluster::count_worker_bytes(stream, Arc::clone(&physical), Arc::clone(&meter), &config);
        Ok(Outcome {
            kind: ResultKind::Query,
            schema,
            rows: Rows::Stream(stream),
            meter: Some(meter),
            plan: Some(physical),
            locations,
            billed,
            message: None,
            notices: notice.into_iter().collect(),
            row_count: 0,
        })
    }
}

/// A query planned and not yet run.
pub(crate) struct Planned {
    pub(crate) plan: Arc<dyn ExecutionPlan>,
    /// What the plan runs in: the session's functions, and object stores that count into `meter`.
    pub(crate) task: Arc<TaskContext>,
    pub(crate) meter: Arc<ScanMeter>,
    pub(crate) schema: SchemaRef,
    pub(crate) locations: Vec<Location>,
    /// EXPLAIN only plans, and Athena does not bill it; EXPLAIN ANALYZE runs the query and is billed.
    pub(crate) billed: bool,
    /// Why a session with workers runs the query in this process.
    pub(crate) notice: Option<String>,
}

impl Query {
    pub(crate) async fn plan(self, ctx: &Ctx) -> Result<Planned> {
        let PreparedQuery {
            state,
            plan,
            meter,
            locations,
        } = ctx.prepare_query(self.statement).await?;
        let billed = !matches!(&plan, LogicalPlan::Explain(_));
        let frame = DataFrame::new(state, plan);
        let schema = Arc::new(frame.schema().as_arrow().clone());
        let task = Arc::new(frame.task_ctx());
        let (state, logical) = frame.into_parts();
        let (plan, notice) = crate::cluster::physical_plan(&state, &logical, &meter)
            .await
            .map_err(|e| query_error(e, Some(&meter), &locations))?;
        Ok(Planned {
            plan,
            task,
            meter,
            schema,
            locations,
            billed,
            notice,
        })
    }
}
