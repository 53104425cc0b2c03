//! `tarn ingest` into a Delta table: each batch is one Delta commit, made idempotent by Delta's own means, a `txn`
//! action (application id, version) that the protocol keeps in the table's state and that concurrent commits with
//! the same id conflict on.
//!
//! A batch's application id is `tarn-ingest:<table>@<created µs>:<batch>`. The loader commits it with version
//! [`COMMITTED`] and the batch's record (files loaded and failed) in the commit's metadata; whoever gives up on the
//! batch (its loader died, or it failed) first commits the id with version [`FENCED`] and no files. Exactly one of
//! the two commits lands, so a loader that was only paused cannot add rows after its batch was given up, and a loader
//! killed after its commit leaves a batch the next pass records as committed from the commit's metadata. Only the
//! load history's outcome follows; unlike Hive tables, the Delta log is what decides.

use std::sync::Arc;

use chrono::Utc;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableError};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use tarn_catalog::{LoadLog, LoadOutcome, SourceFile, Table};

use crate::context::{Ctx, PreparedQuery};
use crate::delta::{delta_error, delta_types, last_commit_summary};
use crate::error::{EngineError, Result};
use crate::names::AsOf;
use crate::storage::Location;
use crate::write::statements::cast_to_table;

/// The `txn` version of a batch's commit that added its rows ...
const COMMITTED: i64 = 1;
/// ... and of the empty commit that gave it up.
const FENCED: i64 = 0;

/// The commit metadata key that holds a batch's record.
const RECORD_KEY: &str = "tarn.ingest";

/// What a batch's commit says about it, so a later pass can record the outcome of a loader that died after it.
#[derive(Debug, Serialize, Deserialize)]
struct BatchRecord {
    app_id: String,
    batch: u64,
    query_id: String,
    loaded: Vec<SourceFile>,
    failed: Vec<super::FailedSource>,
}

/// The application id of batch `number` of `table`'s load history (of this incarnation of the table).
fn app_id(table: &Table, number: u64) -> String {
    format!(
        "tarn-ingest:{}@{}:{number}",
        table.qualified_name(),
        table.create_time.timestamp_micros()
    )
}

async fn txn_version(table: &DeltaTable, location: &Location, app_id: &str) -> Result<Option<i64>> {
    let snapshot = table.snapshot().map_err(|e| delta_error(&location.url, e))?;
    snapshot
        .transaction_version(table.log_store().as_ref(), app_id)
        .await
        .map_err(|e| delta_error(&location.url, e))
}

impl Ctx {
    /// Writes batch `number`'s rows as one Delta commit. `Some((query id, rows))` once the batch is committed,
    /// `None` when someone gave it up first.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn commit_delta_batch(
        &mut self,
        location: &Location,
        table: &Table,
        log: &LoadLog,
        number: u64,
        prepared: PreparedQuery,
        loaded: &[SourceFile],
        failed: &[super::FailedSource],
        merge_schema: bool,
    ) -> Result<Option<(String, u64)>> {
        let app = app_id(table, number);
        let opened = self.open_delta(location, AsOf::Latest).await?;
        // Checked on the snapshot the commit is made against: a fence after it conflicts with the commit.
        if txn_version(&opened, location, &app).await?.is_some() {
            return Ok(None);
        }
        let meter = Arc::clone(&prepared.meter);
        let plan = delta_types(cast_to_table(prepared.plan.clone(), table, None)?)?;
        let record = BatchRecord {
            app_id: app.clone(),
            batch: number,
            query_id: uuid::Uuid::new_v4().simple().to_string(),
            loaded: loaded.to_vec(),
            failed: failed.to_vec(),
        };
        let properties = CommitProperties::default()
            .with_application_transaction(Transaction::new(&app, COMMITTED))
            .with_metadata([(RECORD_KEY.to_string(), to_json(&record)?)]);
        let mut write = opened
            .write(Vec::new())
            .with_input_plan(plan)
            .with_session_state(Arc::new(crate::cluster::local(prepared.state)))
            .with_save_mode(SaveMode::Append)
            .with_commit_properties(properties);
        if merge_schema {
            write = write.with_schema_mode(SchemaMode::Merge);
        }
        let rows = match write.await {
            Ok(written) => last_commit_summary(&written, location).await?.rows,
            Err(e) => {
                // The commit may have landed before the error, or a fence won the race: the log says which.
                let reopened = self.open_delta(location, AsOf::Latest).await?;
                match txn_version(&reopened, location, &app).await? {
                    Some(COMMITTED) => committed_record(&reopened, location, &app).await?.1,
                    Some(_) => return Ok(None),
                    None => return Err(self.write_error(location, &meter, e)),
                }
            }
        };
        let outcome = LoadOutcome::Committed {
            query_id: record.query_id.clone(),
            rows,
            loaded: record.loaded,
            failed: record.failed,
            at: Utc::now(),
        };
        match log.decide(number, &outcome).await? {
            LoadOutcome::Committed { .. } => Ok(Some((record.query_id, rows))),
            LoadOutcome::Aborted { .. } => Err(EngineError::internal(format!(
                "batch {number} of {} is recorded aborted, but its Delta commit landed",
                table.qualified_name()
            ))),
        }
    }

    /// Gives up batch `number` of a Delta table: fences its application id unless its commit landed, then records
    /// the outcome the Delta log decided.
    pub(super) async fn settle_delta(
        &self,
        location: &Location,
        log: &LoadLog,
        table: &Table,
        number: u64,
        reason: String,
    ) -> Result<LoadOutcome> {
        let app = app_id(table, number);
        // A fence that fails lost to the batch's own commit (or met a store error): look again, a few times.
        let mut last_error = None;
        for _ in 0..3 {
            let opened = self.open_delta(location, AsOf::Latest).await?;
            let outcome = match txn_version(&opened, location, &app).await? {
                Some(COMMITTED) => {
                    let (record, rows) = committed_record(&opened, location, &app).await?;
                    LoadOutcome::Committed {
                        query_id: record.query_id,
                        rows,
                        loaded: record.loaded,
                        failed: record.failed,
                        at: Utc::now(),
                    }
                }
                Some(_) => LoadOutcome::Aborted { reason, at: Utc::now() },
                None => {
                    let snapshot = opened.snapshot().map_err(|e| delta_error(&location.url, e))?;
                    let note = serde_json::json!({ "app_id": app, "batch": number, "given_up": reason });
                    let fence = CommitProperties::default()
                        .with_application_transaction(Transaction::new(&app, FENCED))
                        .with_metadata([(RECORD_KEY.to_string(), note)]);
                    let operation = DeltaOperation::Write {
                        mode: SaveMode::Append,
                        partition_by: None,
                        predicate: None,
                    };
                    match CommitBuilder::from(fence)
                        .build(Some(snapshot), opened.log_store(), operation)
                        .await
                    {
                        Ok(_) => LoadOutcome::Aborted { reason, at: Utc::now() },
                        Err(e) => {
                            last_error = Some(e);
                            continue;
                        }
                    }
                }
            };
            return Ok(log.decide(number, &outcome).await?);
        }
        let error = last_error.unwrap_or(DeltaTableError::NotInitialized);
        Err(delta_error(&location.url, error))
    }
}

/// The record and added rows of the commit that holds application id `app` with version [`COMMITTED`].
async fn committed_record(table: &DeltaTable, location: &Location, app: &str) -> Result<(BatchRecord, u64)> {
    let mut commits = table.history(None);
    while let Some(commit) = commits.try_next().await.map_err(|e| delta_error(&location.url, e))? {
        let Some(value) = commit.info.get(RECORD_KEY) else {
            continue;
        };
        let Ok(record) = serde_json::from_value::<BatchRecord>(value.clone()) else {
            continue;
        };
        if record.app_id == app {
            let rows = commit
                .info
                .get("operationMetrics")
                .and_then(|m| m.get("num_added_rows"))
                .and_then(|v| v.as_u64())
                .unwrap_or_default();
            return Ok((record, rows));
        }
    }
    Err(EngineError::internal(format!(
        "the Delta log at {} holds transaction {app} but no commit records it",
        location.url
    )))
}

fn to_json(record: &BatchRecord) -> Result<serde_json::Value> {
    serde_json::to_value(record).map_err(|e| EngineError::internal(format!("a batch record as JSON: {e}")))
}
