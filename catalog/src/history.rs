//! The query history of a warehouse: one JSON document per statement a server ran, under
//! `<warehouse>/_tarn_history/queries/dt=YYYY-MM-DD/`, each written once with a create-if-absent put, so that servers
//! sharing a warehouse only ever add to it. The folder is laid out as a Hive-partitioned JSON table (one line per
//! document) so that tarn reads it as the table `tarn.queries`.

use chrono::{DateTime, Utc};
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::CatalogError;
use crate::store::{Catalog, create_if_absent};

/// Where the history lives below the warehouse.
pub const HISTORY_DIR: &str = "_tarn_history/queries";

/// How a statement ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QueryStatus {
    Succeeded,
    Failed,
    Cancelled,
    /// Not run: the user's role or workgroup does not allow it.
    Refused,
}

impl QueryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
            Self::Refused => "REFUSED",
        }
    }
}

/// One statement a server ran (or refused). Column names are those of `tarn.queries`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryRecord {
    pub query_id: String,
    pub user_name: String,
    pub workgroup: String,
    /// `postgres` or `flight`.
    pub protocol: String,
    /// The client's address.
    pub client: String,
    pub query: String,
    /// Hive's timestamp text (`2026-12-04 17:00:00.123`), which tarn reads as `timestamp`.
    pub started: String,
    pub finished: String,
    pub elapsed_ms: u64,
    pub status: QueryStatus,
    pub rows: u64,
    pub bytes_scanned: u64,
    /// What Athena would bill (10 MB minimum per billed query; free statements bill 0).
    pub billed_bytes: u64,
    pub bill_usd: f64,
    pub error: Option<String>,
    pub sqlstate: Option<String>,
}

/// Hive's timestamp text for `t`, in UTC.
pub fn hive_timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

impl Catalog {
    /// The URL of the history's folder (the location of `tarn.queries`).
    pub fn history_url(&self) -> String {
        let base = self.location().trim_end_matches('/');
        format!("{base}/{HISTORY_DIR}/")
    }

    /// Adds `record` to the history, in the folder of the day it started (UTC).
    pub async fn record_query(&self, record: &QueryRecord, started: DateTime<Utc>) -> Result<(), CatalogError> {
        let mut line = serde_json::to_vec(record).map_err(CatalogError::Encode)?;
        line.push(b'\n');
        let path = self.history_path(started, &record.query_id);
        create_if_absent(self.store().as_ref(), &path, line)
            .await
            .map(|_| ())
            .map_err(|source| CatalogError::Storage {
                warehouse: self.location().to_string(),
                source,
            })
    }

    fn history_path(&self, started: DateTime<Utc>, query_id: &str) -> Path {
        let mut path = self.warehouse_prefix().clone();
        for part in HISTORY_DIR.split('/') {
            path = path.join(part);
        }
        path.join(format!("dt={}", started.format("%Y-%m-%d")))
            .join(format!("{}_{query_id}.json", started.format("%H%M%S%6f")))
    }
}
