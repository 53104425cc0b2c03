//! The record that makes a Hive folder's compaction atomic for readers (see [`crate::compaction`]).
//!
//! A folder `OPTIMIZE` compacted keeps numbered documents in its hidden `_tarn_compaction/` folder (Athena and every
//! Hive reader skip `_` names), each written with a create-if-absent put. The newest one says which files of the
//! folder a query must not read:
//! - `writing`: the compaction's new files, while they are renamed into place;
//! - `swapped`: the files they replaced, from the moment that document exists (the commit point) until they are
//!   deleted;
//! - `finished` / `abandoned`: the same files once deleted, in case a listing still shows them.
//!
//! A listing is not a snapshot, so a reader also asks for the document after the newest one it listed, and lists
//! again if the newest names new files the listing missed.

use chrono::{DateTime, Utc};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};
use crate::storage::Location;

/// The hidden folder of a compacted folder's records.
pub const RECORD_DIR: &str = "_tarn_compaction";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The new files are being renamed into place: readers skip them.
    Writing,
    /// The commit point has passed: readers skip the replaced files.
    Swapped,
    /// The replaced files are deleted.
    Finished,
    /// The compaction died before its swap; its new files are deleted.
    Abandoned,
}

/// One step of one compaction of one folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    pub query_id: String,
    pub phase: Phase,
    /// The files the compaction read, relative to the folder.
    pub replaced: Vec<String>,
    /// The files it wrote, relative to the folder.
    pub written: Vec<String>,
    pub at: DateTime<Utc>,
}

impl Record {
    /// The files of the folder a query must not read while this is the newest record.
    pub fn hidden(&self) -> &[String] {
        match self.phase {
            Phase::Writing | Phase::Abandoned => &self.written,
            Phase::Swapped | Phase::Finished => &self.replaced,
        }
    }
}

pub fn record_path(folder: &Path, seq: u64) -> Path {
    folder.clone().join(RECORD_DIR).join(format!("{seq:020}.json"))
}

pub fn record_seq(folder: &Path, path: &Path) -> Option<u64> {
    let mut parts = path.prefix_match(folder)?;
    if parts.next()?.as_ref() != RECORD_DIR {
        return None;
    }
    let name = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    name.as_ref().strip_suffix(".json")?.parse().ok()
}

/// The path of `file` relative to `folder`.
pub fn relative(folder: &Path, file: &Path) -> String {
    file.prefix_match(folder)
        .map(|parts| parts.map(|p| p.as_ref().to_string()).collect::<Vec<_>>().join("/"))
        .unwrap_or_else(|| file.to_string())
}

/// The path of `name` (relative to `folder`, as records keep it: the stored text, not to be escaped again).
pub fn absolute(folder: &Path, name: &str) -> Path {
    let joined = if folder.as_ref().is_empty() {
        name.to_string()
    } else {
        format!("{folder}/{name}")
    };
    Path::parse(&joined).unwrap_or_else(|_| Path::from(joined.as_str()))
}

/// Reads record `seq` of `folder`; `None` if there is none.
pub async fn read_record(
    store: &dyn ObjectStore,
    location: &Location,
    folder: &Path,
    seq: u64,
) -> Result<Option<Record>> {
    let path = record_path(folder, seq);
    let bytes = match store.get(&path).await {
        Ok(got) => got.bytes().await.map_err(|e| location.store_error(e))?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(location.store_error(e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| EngineError::Storage {
            location: location.object_url(&path),
            message: format!("not a compaction record: {e}"),
        })
}

/// Writes `record` unless its number is taken (another compaction of the folder got there first): `false` then.
pub async fn put_record(store: &dyn ObjectStore, location: &Location, folder: &Path, record: &Record) -> Result<bool> {
    let json = serde_json::to_vec_pretty(record)
        .map_err(|e| EngineError::internal(format!("a compaction record as JSON: {e}")))?;
    tarn_catalog::create_if_absent(store, &record_path(folder, record.seq), json)
        .await
        .map_err(|e| location.store_error(e))
}

/// The newest record of `folder`, given the numbers a listing showed: the listed newest, then any written since.
pub async fn newest_record(
    store: &dyn ObjectStore,
    location: &Location,
    folder: &Path,
    listed: Option<u64>,
) -> Result<Option<Record>> {
    let mut newest = match listed {
        Some(seq) => read_record(store, location, folder, seq).await?,
        None => None,
    };
    let mut next = listed.map_or(1, |s| s + 1);
    while let Some(record) = read_record(store, location, folder, next).await? {
        newest = Some(record);
        next += 1;
    }
    Ok(newest)
}
