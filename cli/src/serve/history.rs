//! The server's side of the query history: a record per statement (and per refused login) in the warehouse, the
//! table `tarn.queries` over them, and the bytes each workgroup scanned today, which its daily limit is checked
//! against.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use tarn_engine::arrow::util::display::array_value_to_string;
use tarn_engine::catalog::{Catalog, QueryRecord, QueryStatus, hive_timestamp};
use tarn_engine::{Bill, EngineError, QueryStats, Session, format_bytes};

use super::users::{User, Workgroup};

/// The columns of `tarn.queries`, in the order of [`QueryRecord`]'s fields.
const COLUMNS: &str = "query_id string, user_name string, workgroup string, protocol string, client string, \
                       query string, started timestamp, finished timestamp, elapsed_ms bigint, status string, \
                       `rows` bigint, bytes_scanned bigint, billed_bytes bigint, bill_usd double, error string, \
                       sqlstate string";

struct Inner {
    catalog: Catalog,
    /// For registering each day's partition of `tarn.queries` as its first record is written.
    session: Session,
    days: Mutex<std::collections::HashSet<NaiveDate>>,
    /// Bytes scanned by workgroup and day (UTC): today's from the history when the server started, then counted.
    used: Mutex<HashMap<(String, NaiveDate), u64>>,
}

#[derive(Clone)]
pub struct History(Arc<Inner>);

impl History {
    /// Registers `tarn.queries` over the warehouse's history (once) and reads what each workgroup scanned today.
    pub async fn open(session: &Session) -> Result<Self, EngineError> {
        let mut session = session.clone();
        session.execute("CREATE DATABASE IF NOT EXISTS tarn").await?;
        let url = session.catalog().history_url();
        session
            .execute(&format!(
                "CREATE EXTERNAL TABLE IF NOT EXISTS tarn.queries ({COLUMNS}) PARTITIONED BY (dt string) \
                 ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' LOCATION '{url}'"
            ))
            .await?;
        // Days recorded while this server was not running (by another server on the same warehouse).
        session
            .execute("MSCK REPAIR TABLE tarn.queries")
            .await?
            .collect()
            .await?;
        let today = Utc::now().date_naive();
        let (batches, _) = session
            .execute(&format!(
                "SELECT workgroup, CAST(sum(bytes_scanned) AS BIGINT) FROM tarn.queries WHERE dt = '{today}' \
                 GROUP BY workgroup"
            ))
            .await?
            .collect()
            .await?;
        let mut used = HashMap::new();
        for batch in &batches {
            for row in 0..batch.num_rows() {
                let text = |column: usize| {
                    array_value_to_string(batch.column(column), row)
                        .map_err(|e| EngineError::Internal { what: e.to_string() })
                };
                used.insert((text(0)?, today), text(1)?.parse().unwrap_or(0));
            }
        }
        Ok(Self(Arc::new(Inner {
            catalog: session.catalog().clone(),
            session,
            days: Mutex::new(std::collections::HashSet::new()),
            used: Mutex::new(used),
        })))
    }

    /// The scan limit of a query of `workgroup` now: its per-query limit, and what is left of its daily one; an
    /// error once the day's allowance is used up.
    pub fn scan_allowance(&self, workgroup: &Workgroup) -> Result<Option<u64>, String> {
        let today = Utc::now().date_naive();
        let used = self
            .0
            .used
            .lock()
            .map(|u| u.get(&(workgroup.name.clone(), today)).copied().unwrap_or(0))
            .unwrap_or(0);
        let left = match workgroup.bytes_per_day {
            Some(day) if used >= day => {
                return Err(format!(
                    "workgroup '{}' has scanned {} today, its daily limit is {}; its queries run again tomorrow \
                     (UTC), or raise bytes_per_day in the users file",
                    workgroup.name,
                    format_bytes(used),
                    format_bytes(day)
                ));
            }
            Some(day) => Some(day - used),
            None => None,
        };
        Ok(match (workgroup.bytes_per_query, left) {
            (Some(q), Some(l)) => Some(q.min(l)),
            (q, l) => q.or(l),
        })
    }

    pub fn begin(&self, user: &User, protocol: &str, client: &str, sql: &str) -> Begun {
        let started = Utc::now();
        let record = new_record(&user.name, &user.workgroup.name, protocol, client, sql, started);
        Begun {
            pending: Some((self.clone(), record)),
            started,
            clock: Instant::now(),
        }
    }

    /// A login that failed: who tried, from where; never what password.
    pub async fn refused_login(&self, name: &str, workgroup: Option<&str>, client: &str) {
        let started = Utc::now();
        let mut record = new_record(name, workgroup.unwrap_or_default(), "postgres", client, "", started);
        record.status = QueryStatus::Refused;
        record.finished = record.started.clone();
        record.error = Some("password authentication failed".into());
        record.sqlstate = Some("28P01".into());
        self.write(&record, started).await;
    }

    async fn write(&self, record: &QueryRecord, started: DateTime<Utc>) {
        if record.bytes_scanned > 0
            && let Ok(mut used) = self.0.used.lock()
        {
            *used
                .entry((record.workgroup.clone(), started.date_naive()))
                .or_default() += record.bytes_scanned;
        }
        if let Err(e) = self.0.catalog.record_query(record, started).await {
            eprintln!(
                "tarn serve: query {} was not recorded in the history: {e}",
                record.query_id
            );
            return;
        }
        let day = started.date_naive();
        if self.0.days.lock().is_ok_and(|days| days.contains(&day)) {
            return;
        }
        let mut session = self.0.session.clone();
        let add = format!("ALTER TABLE tarn.queries ADD IF NOT EXISTS PARTITION (dt = '{day}')");
        match session.execute(&add).await {
            Ok(_) => {
                if let Ok(mut days) = self.0.days.lock() {
                    days.insert(day);
                }
            }
            Err(e) => eprintln!("tarn serve: the history's partition of {day} was not registered: {e}"),
        }
    }
}

/// The record of a statement as it starts.
fn new_record(
    user: &str,
    workgroup: &str,
    protocol: &str,
    client: &str,
    sql: &str,
    started: DateTime<Utc>,
) -> QueryRecord {
    QueryRecord {
        query_id: tarn_engine::write::new_query_id(),
        user_name: user.into(),
        workgroup: workgroup.into(),
        protocol: protocol.into(),
        client: client.into(),
        query: sql.into(),
        started: hive_timestamp(started),
        finished: String::new(),
        elapsed_ms: 0,
        status: QueryStatus::Succeeded,
        rows: 0,
        bytes_scanned: 0,
        billed_bytes: 0,
        bill_usd: 0.0,
        error: None,
        sqlstate: None,
    }
}

/// A statement being run; it is recorded when it ends (or, if it never reports its end, when it is dropped: the
/// client went away before all its rows were sent).
pub struct Begun {
    pending: Option<(History, QueryRecord)>,
    started: DateTime<Utc>,
    clock: Instant,
}

impl Begun {
    fn finish(mut self, status: QueryStatus) -> Option<(History, QueryRecord, DateTime<Utc>)> {
        let (history, mut record) = self.pending.take()?;
        record.status = status;
        record.finished = hive_timestamp(Utc::now());
        record.elapsed_ms = u64::try_from(self.clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        Some((history, record, self.started))
    }

    pub async fn refused(self, sqlstate: &str, message: &str) {
        let Some((history, mut record, started)) = self.finish(QueryStatus::Refused) else {
            return;
        };
        record.error = Some(message.into());
        record.sqlstate = Some(sqlstate.into());
        history.write(&record, started).await;
    }

    pub async fn failed(self, e: &EngineError) {
        let status = match e {
            EngineError::Interrupted | EngineError::CancelledLate => QueryStatus::Cancelled,
            _ => QueryStatus::Failed,
        };
        let Some((history, mut record, started)) = self.finish(status) else {
            return;
        };
        if let EngineError::ScanLimitExceeded { scanned, .. } = e {
            record.bytes_scanned = *scanned;
            let bill = Bill::for_scan(*scanned);
            record.billed_bytes = bill.billed_bytes;
            record.bill_usd = bill.dollars;
        }
        record.error = Some(e.to_string());
        record.sqlstate = Some(super::pg::sqlstate(e).into());
        history.write(&record, started).await;
    }

    pub async fn succeeded(self, stats: &QueryStats) {
        let Some((history, mut record, started)) = self.finish(QueryStatus::Succeeded) else {
            return;
        };
        record.rows = stats.rows;
        record.bytes_scanned = stats.bytes_scanned;
        if let Some(bill) = &stats.bill {
            record.billed_bytes = bill.billed_bytes;
            record.bill_usd = bill.dollars;
        }
        history.write(&record, started).await;
    }
}

impl Drop for Begun {
    fn drop(&mut self) {
        let Some((history, mut record)) = self.pending.take() else {
            return;
        };
        record.status = QueryStatus::Failed;
        record.finished = hive_timestamp(Utc::now());
        record.elapsed_ms = u64::try_from(self.clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        record.error = Some("the client went away before all rows were sent".into());
        record.sqlstate = Some("08006".into());
        let started = self.started;
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { history.write(&record, started).await });
        }
    }
}
