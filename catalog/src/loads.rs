//! A table's load history: which source files `tarn ingest` loaded into it, in which batch, and how that ended.
//!
//! The history lives in the catalog, next to the table's definition, one folder per batch:
//!
//! ```text
//! <warehouse>/_catalog/<db>/loads/<table>/<table created, µs>/<batch:020>/claim.json     the files it takes
//! <warehouse>/_catalog/<db>/loads/<table>/<table created, µs>/<batch:020>/heartbeat      while it runs
//! <warehouse>/_catalog/<db>/loads/<table>/<table created, µs>/<batch:020>/outcome.json   committed or aborted
//! ```
//!
//! Both documents are written with create-if-absent puts, which is what makes a load exactly-once:
//! - a batch number is claimed by exactly one process, and a process claims a file only after reading every earlier
//!   batch and finding the file in none of them that is not aborted, so a file version is in at most one live batch;
//! - a batch's outcome is decided once: the loader writes `committed` after its data files are written and before
//!   they are published, and anyone who finds the loader dead writes `aborted`. Whichever put wins is the truth, so a
//!   loader that was paused for minutes and taken for dead cannot publish rows that were given up on.
//!
//! The folder of a table incarnation is named by its creation time, so a table dropped and created again under the
//! same name starts with an empty history instead of skipping every file the old one loaded.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::CatalogError;
use crate::model::Table;

/// How many batch documents are fetched at once when the history is read.
const FETCH_CONCURRENCY: usize = 32;

/// One version of one source object: its URL, size and content. `version` is the MD5 of the bytes as S3's ETag gives
/// it (for a multipart upload, S3's ETag of its parts), so a re-upload of the same bytes under the same name is the
/// same version and one of other bytes is a new one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SourceFile {
    pub url: String,
    pub size: u64,
    pub version: String,
    /// For a local file, the store's ETag (inode, size, modification time) when it was hashed, so that a file seen
    /// unchanged is known without reading it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<String>,
}

impl SourceFile {
    /// What makes two sightings the same version: URL and content, whatever their stamps.
    pub fn key(&self) -> (String, String) {
        (self.url.clone(), self.version.clone())
    }
}

/// The files a batch takes, and who took them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claim {
    pub files: Vec<SourceFile>,
    /// The ingest's source prefix, for `SHOW LOADS`.
    pub source: String,
    pub host: String,
    pub pid: u32,
    /// The process's start time, so a reused pid is not taken for the loader.
    pub process_start: Option<u64>,
    pub claimed_at: DateTime<Utc>,
}

/// How a batch ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Its rows are in the table. `query_id` names the write that holds them; `failed` are files of the claim that
    /// could not be loaded, with the reason, and are not loaded again unless they change.
    Committed {
        query_id: String,
        rows: u64,
        loaded: Vec<SourceFile>,
        failed: Vec<(SourceFile, String)>,
        at: DateTime<Utc>,
    },
    /// Given up: its loader failed or was found dead. Its files are free to be claimed again.
    Aborted { reason: String, at: DateTime<Utc> },
}

/// One batch of the history.
#[derive(Debug, Clone)]
pub struct LoadBatch {
    pub number: u64,
    pub claim: Claim,
    /// `None` while it runs (or until someone finds its loader dead).
    pub outcome: Option<Outcome>,
    /// When its loader last said it was alive.
    pub heartbeat: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Beat {
    at: DateTime<Utc>,
}

/// The load history of one table incarnation.
#[derive(Debug, Clone)]
pub struct LoadLog {
    store: Arc<dyn ObjectStore>,
    dir: Path,
    /// Where the history is, for messages.
    location: String,
}

impl crate::Catalog {
    /// The load history of `table` (of this incarnation of it).
    pub fn load_log(&self, table: &Table) -> LoadLog {
        self.load_log_at(&table.database, &table.name, table.create_time)
    }

    /// The load history of table `db.name` as created at `created`.
    pub fn load_log_at(&self, db: &str, name: &str, created: DateTime<Utc>) -> LoadLog {
        let dir = self
            .root()
            .clone()
            .join(db)
            .join("loads")
            .join(name)
            .join(created.timestamp_micros().to_string());
        LoadLog {
            store: Arc::clone(self.store()),
            location: format!("{}/{dir}", self.location().trim_end_matches('/')),
            dir,
        }
    }
}

impl LoadLog {
    fn batch_dir(&self, number: u64) -> Path {
        self.dir.clone().join(format!("{number:020}"))
    }

    fn storage_error(&self, source: object_store::Error) -> CatalogError {
        CatalogError::Storage {
            warehouse: self.location.clone(),
            source,
        }
    }

    /// Where batch `number`'s documents are, for messages and write records.
    pub fn batch_location(&self, number: u64) -> String {
        format!("{}/{number:020}", self.location)
    }

    /// The numbers of every batch, oldest first.
    pub async fn batch_numbers(&self) -> Result<Vec<u64>, CatalogError> {
        let listing = self
            .store
            .list_with_delimiter(Some(&self.dir))
            .await
            .map_err(|e| self.storage_error(e))?;
        let mut numbers: Vec<u64> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename()?.parse().ok())
            .collect();
        numbers.sort_unstable();
        Ok(numbers)
    }

    /// Batch `number` with its outcome and last heartbeat; `None` if it has no claim (yet).
    pub async fn batch(&self, number: u64) -> Result<Option<LoadBatch>, CatalogError> {
        let dir = self.batch_dir(number);
        let Some(claim) = self.read::<Claim>(&dir.clone().join("claim.json")).await? else {
            return Ok(None);
        };
        let outcome = self.read::<Outcome>(&dir.clone().join("outcome.json")).await?;
        let heartbeat = self.read::<Beat>(&dir.clone().join("heartbeat")).await.ok().flatten();
        Ok(Some(LoadBatch {
            number,
            claim,
            outcome,
            heartbeat: heartbeat.map(|b| b.at),
        }))
    }

    /// Batch `number`'s outcome, if it was decided.
    pub async fn outcome(&self, number: u64) -> Result<Option<Outcome>, CatalogError> {
        self.read(&self.batch_dir(number).join("outcome.json")).await
    }

    /// The batches numbered `numbers`, in that order (those without a claim left out).
    pub async fn batches(&self, numbers: &[u64]) -> Result<Vec<LoadBatch>, CatalogError> {
        let batches: Vec<Option<LoadBatch>> = futures::stream::iter(numbers.to_vec())
            .map(|n| self.batch(n))
            .buffered(FETCH_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(batches.into_iter().flatten().collect())
    }

    /// Claims batch `number` for `claim`'s files. `false`: another process claimed that number first; read the
    /// batches up to it again and choose again.
    pub async fn claim(&self, number: u64, claim: &Claim) -> Result<bool, CatalogError> {
        self.put_if_absent(&self.batch_dir(number).join("claim.json"), claim)
            .await
    }

    /// Says that batch `number`'s loader is alive.
    pub async fn beat(&self, number: u64) -> Result<(), CatalogError> {
        let json = serde_json::to_vec(&Beat { at: Utc::now() }).map_err(CatalogError::Encode)?;
        self.store
            .put(
                &self.batch_dir(number).join("heartbeat"),
                PutPayload::from(Bytes::from(json)),
            )
            .await
            .map(|_| ())
            .map_err(|e| self.storage_error(e))
    }

    /// Decides batch `number`'s outcome, unless it was decided already: returns the outcome that holds, which is
    /// `outcome` only if this call decided it.
    pub async fn decide(&self, number: u64, outcome: &Outcome) -> Result<Outcome, CatalogError> {
        let path = self.batch_dir(number).join("outcome.json");
        if self.put_if_absent(&path, outcome).await? {
            return Ok(outcome.clone());
        }
        self.read::<Outcome>(&path)
            .await?
            .ok_or_else(|| CatalogError::Contended {
                what: format!("the outcome of load batch {number}"),
            })
    }

    async fn read<T: serde::de::DeserializeOwned>(&self, path: &Path) -> Result<Option<T>, CatalogError> {
        let bytes = match self.store.get(path).await {
            Ok(got) => got.bytes().await.map_err(|e| self.storage_error(e))?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.storage_error(e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| CatalogError::Corrupt {
                document: format!("{}/{}", self.location, path.filename().unwrap_or_default()),
                source,
            })
    }

    async fn put_if_absent<T: Serialize>(&self, path: &Path, value: &T) -> Result<bool, CatalogError> {
        let json = serde_json::to_vec_pretty(value).map_err(CatalogError::Encode)?;
        crate::store::create_if_absent(self.store.as_ref(), path, json)
            .await
            .map_err(|e| self.storage_error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SerdeInfo, StorageFormat};
    use object_store::local::LocalFileSystem;

    fn source(name: &str) -> SourceFile {
        SourceFile {
            url: format!("file:///in/{name}"),
            size: 10,
            version: "e1".into(),
            stamp: None,
        }
    }

    fn claim(files: Vec<SourceFile>) -> Claim {
        Claim {
            files,
            source: "file:///in/".into(),
            host: "h".into(),
            pid: 1,
            process_start: None,
            claimed_at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn a_batch_number_is_claimed_once_and_decided_once() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(dir.path())?);
        let catalog = crate::Catalog::new(store, &Path::from(""), "file:///wh/");
        let table = Table::new_external(
            "default",
            "events",
            "file:///t/",
            StorageFormat::Parquet,
            SerdeInfo {
                library: crate::serde_lib::PARQUET.into(),
                parameters: Default::default(),
            },
            vec![crate::Column::new("a", "int")?],
        )?;
        let log = catalog.load_log(&table);
        assert!(log.batch_numbers().await?.is_empty());
        assert!(log.claim(1, &claim(vec![source("a")])).await?);
        assert!(
            !log.claim(1, &claim(vec![source("b")])).await?,
            "a number has one claim"
        );
        let committed = Outcome::Committed {
            query_id: "q1".into(),
            rows: 3,
            loaded: vec![source("a")],
            failed: Vec::new(),
            at: Utc::now(),
        };
        let aborted = Outcome::Aborted {
            reason: "found dead".into(),
            at: Utc::now(),
        };
        assert_eq!(log.decide(1, &committed).await?, committed);
        assert_eq!(log.decide(1, &aborted).await?, committed, "the first decision holds");
        log.beat(1).await?;
        let batches = log.batches(&log.batch_numbers().await?).await?;
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].claim.files, vec![source("a")]);
        assert!(batches[0].heartbeat.is_some());

        // The same name created again is another incarnation, with a history of its own.
        let mut again = table.clone();
        again.create_time += chrono::Duration::seconds(1);
        assert!(catalog.load_log(&again).batch_numbers().await?.is_empty());
        Ok(())
    }
}
