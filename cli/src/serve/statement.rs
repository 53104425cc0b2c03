//! One statement for one user, whichever protocol it came by: the role and workgroup checks, the scan limit, the
//! run on the query runtime, and its record in the history.

use std::sync::Arc;

use futures::Stream;
use tarn_engine::arrow::array::RecordBatch;
use tarn_engine::{EngineError, Interrupt, QueryResult, ResultKind, Session};

use super::history::Begun;
use super::pg::{Shared, sqlstate};
use super::users::{Role, User};

/// A connection's user and session, once authenticated.
pub struct Authed {
    pub user: User,
    pub session: Session,
}

/// What a statement gave.
// One per statement, moved once or twice: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Ran {
    /// Rows to send; `begun` records the statement once the last is sent (or the client went away).
    Rows { result: QueryResult, begun: Begun },
    /// A statement that answered with a message (DDL, CTAS, INSERT, SET …), already recorded.
    Done {
        kind: ResultKind,
        rows: u64,
        message: Option<String>,
    },
}

/// Why a statement did not run, or failed.
pub struct Refusal {
    pub sqlstate: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn of(e: &EngineError) -> Self {
        Self {
            sqlstate: sqlstate(e),
            message: e.to_string(),
        }
    }
}

impl Shared {
    /// Runs `sql` for `authed`: refused if their role or workgroup does not allow it, recorded in the history
    /// either way.
    pub async fn run(&self, authed: &mut Authed, protocol: &str, client: &str, sql: &str) -> Result<Ran, Refusal> {
        let begun = self.history.begin(&authed.user, protocol, client, sql);
        if authed.user.role == Role::ReadOnly && !tarn_engine::read_only(sql) {
            let message = format!(
                "user \"{}\" is read-only: CTAS, INSERT, UNLOAD, DDL, Delta DML, CRAWL, OPTIMIZE and SET of \
                 tarn.workers or the memory limit need a read-write role in the users file",
                authed.user.name
            );
            begun.refused("42501", &message).await;
            return Err(Refusal {
                sqlstate: "42501",
                message,
            });
        }
        let limit = match self.history.scan_allowance(&authed.user.workgroup) {
            Ok(limit) => limit,
            Err(message) => {
                begun.refused("54000", &message).await;
                return Err(Refusal {
                    sqlstate: "54000",
                    message,
                });
            }
        };
        // The server's own --max-scan bounds every workgroup's.
        let limit = match (limit, self.base.max_scan()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        authed.session.set_max_scan(limit);
        let (session, result) = self.execute(&authed.session, sql).await;
        authed.session = session;
        let mut result = match result {
            Ok(result) => result,
            Err(e) => {
                begun.failed(&e).await;
                return Err(Refusal::of(&e));
            }
        };
        match result.kind() {
            ResultKind::Query | ResultKind::Listing => Ok(Ran::Rows { result, begun }),
            kind @ (ResultKind::Command | ResultKind::Write) => {
                // A write's rows are its message; draining them finishes its figures.
                while let Some(batch) = result.next_batch().await {
                    if let Err(e) = batch {
                        begun.failed(&e).await;
                        return Err(Refusal::of(&e));
                    }
                }
                let stats = result.stats();
                begun.succeeded(&stats).await;
                Ok(Ran::Done {
                    kind,
                    rows: stats.rows,
                    message: result.message().map(str::to_string),
                })
            }
        }
    }

    /// Runs `sql` with a copy of `session` on the query runtime; the copy comes back with what the statement
    /// changed (USE, SET).
    pub async fn execute(&self, session: &Session, sql: &str) -> (Session, tarn_engine::Result<QueryResult>) {
        let mut copy = session.clone();
        let sql = sql.to_string();
        let ran = self
            .queries
            .spawn(async move {
                let result = copy.execute(&sql).await;
                (copy, result)
            })
            .await;
        match ran {
            Ok(ran) => ran,
            Err(e) => (
                session.clone(),
                Err(EngineError::Internal {
                    what: format!("the statement's task stopped: {e}"),
                }),
            ),
        }
    }
}

/// A result's batches as a stream, computed on a task of the query runtime (so that the server answers a cancel
/// request even while a batch takes long to compute, and the task is aborted when the stream is dropped). The history
/// gets the statement's figures after the last batch, or its error, or that the client went away. `interrupt` (a
/// cancel request) ends the stream at once.
pub fn batches(
    result: QueryResult,
    begun: Begun,
    interrupt: Option<Arc<Interrupt>>,
    queries: &tokio::runtime::Handle,
) -> impl Stream<Item = Result<RecordBatch, EngineError>> + Send + 'static {
    let (sender, receiver) = tokio::sync::mpsc::channel(2);
    let mut result = result;
    let producer = AbortOnDrop(queries.spawn(async move {
        while let Some(batch) = result.next_batch().await {
            if sender.send(batch).await.is_err() {
                return None;
            }
        }
        Some(result.stats())
    }));
    futures::stream::unfold(Some((receiver, producer, begun)), move |state| {
        let interrupt = interrupt.clone();
        async move {
            let (mut receiver, mut producer, begun) = state?;
            let next = tokio::select! {
                next = receiver.recv() => next,
                () = interrupted(interrupt.as_deref()) => Some(Err(EngineError::Interrupted)),
            };
            match next {
                Some(Ok(batch)) => Some((Ok(batch), Some((receiver, producer, begun)))),
                Some(Err(e)) => {
                    producer.0.abort();
                    begun.failed(&e).await;
                    Some((Err(e), None))
                }
                None => {
                    match (&mut producer.0).await {
                        Ok(Some(stats)) => begun.succeeded(&stats).await,
                        _ => begun.failed(&EngineError::Interrupted).await,
                    }
                    None
                }
            }
        }
    })
}

/// Resolves once `interrupt` is set (it is a flag: looked at every 50 ms); never without one.
async fn interrupted(interrupt: Option<&Interrupt>) {
    match interrupt {
        Some(interrupt) => {
            while !interrupt.is_set() {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
        None => std::future::pending().await,
    }
}

/// A task that stops when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
