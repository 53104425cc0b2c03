//! The catalog's persistence: JSON documents in the warehouse, written only with create-if-absent puts.
//!
//! Every database and every table is an append-only log of numbered versions:
//!
//! ```text
//! <warehouse>/_catalog/<db>/database/v00000000000000000001.json
//! <warehouse>/_catalog/<db>/tables/<table>/v00000000000000000001.json
//! <warehouse>/_catalog/<db>/tables/<table>/v00000000000000000002.json   (an ALTER, or a DROP tombstone)
//! ```
//!
//! The newest version is the current state. A writer that read version `n` claims version `n + 1` with
//! `PutMode::Create` (`If-None-Match: *` on S3, a hard link on a local disk), so of two processes racing for the same
//! change exactly one wins and the other learns about it; nothing is ever overwritten, which makes the history
//! (every earlier definition) free and means a process killed mid-write leaves either the whole document or none
//! (object stores publish objects atomically; the local store writes a hidden `#n` staging file first).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::CatalogError;
use crate::model::{DEFAULT_DATABASE, Database, Partition, Table, normalize_name};

/// Catalog documents live under this folder of the warehouse; the leading `_` hides it from table scans, as Athena
/// and Hive skip `_`-prefixed names.
pub const CATALOG_DIR: &str = "_catalog";
const FORMAT_VERSION: u32 = 1;
/// How many documents are fetched at once when listing a database's tables (each is one GET).
const FETCH_CONCURRENCY: usize = 32;
/// Attempts before giving up when other writers keep winning the race for the next version.
const MAX_ATTEMPTS: usize = 8;

/// One version of a database or table, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry<T> {
    tarn_catalog: u32,
    version: u64,
    operation: String,
    committed_at: DateTime<Utc>,
    #[serde(flatten)]
    state: EntryState<T>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum EntryState<T> {
    Live(T),
    Dropped,
}

/// A version from a table's history, for `SHOW TABLE VERSIONS` and audits.
#[derive(Debug, Clone, PartialEq)]
pub struct TableVersion {
    pub version: u64,
    pub operation: String,
    pub committed_at: DateTime<Utc>,
    /// `None` for a DROP tombstone.
    pub table: Option<Table>,
}

/// A table's registered partitions, as one version of its partition log.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionSet {
    /// The version these partitions were read at (0 when none was ever written); a change commits `version + 1`.
    pub version: u64,
    /// `None` when partitions were never registered for this incarnation of the table.
    pub partitions: Option<Vec<Partition>>,
}

/// One version of a table's partition list. It names the table incarnation it belongs to, so a table dropped and
/// created again under the same name does not inherit the old one's partitions.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PartitionsDoc {
    tarn_catalog: u32,
    version: u64,
    operation: String,
    committed_at: DateTime<Utc>,
    table_created: DateTime<Utc>,
    partitions: Vec<Partition>,
}

/// The persistent catalog of one warehouse.
#[derive(Debug, Clone)]
pub struct Catalog {
    store: Arc<dyn ObjectStore>,
    warehouse: Path,
    root: Path,
    /// The warehouse as the user named it, for messages.
    location: String,
}

impl Catalog {
    /// Opens the catalog kept under `warehouse_prefix` of `store`; `location` is how the warehouse is shown in messages.
    /// Nothing is read or written until the first call.
    pub fn new(store: Arc<dyn ObjectStore>, warehouse_prefix: &Path, location: impl Into<String>) -> Self {
        let root = warehouse_prefix.clone().join(CATALOG_DIR);
        Self {
            store,
            warehouse: warehouse_prefix.clone(),
            root,
            location: location.into(),
        }
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    /// The warehouse's own folder, above the catalog's.
    pub(crate) fn warehouse_prefix(&self) -> &Path {
        &self.warehouse
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    fn database_dir(&self, db: &str) -> Path {
        self.root.clone().join(db).join("database")
    }

    fn tables_dir(&self, db: &str) -> Path {
        self.root.clone().join(db).join("tables")
    }

    fn table_dir(&self, db: &str, table: &str) -> Path {
        self.tables_dir(db).join(table)
    }

    fn storage_error(&self, source: object_store::Error) -> CatalogError {
        CatalogError::Storage {
            warehouse: self.location.clone(),
            source,
        }
    }

    // ---------------------------------------------------------------- databases

    pub async fn list_databases(&self) -> Result<Vec<Database>, CatalogError> {
        let listing = self
            .store
            .list_with_delimiter(Some(&self.root))
            .await
            .map_err(|e| self.storage_error(e))?;
        let names: Vec<String> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        let mut databases: Vec<Database> = futures::stream::iter(names)
            .map(|name| async move { self.get_database(&name).await })
            .buffer_unordered(FETCH_CONCURRENCY)
            .try_filter_map(|db| async move { Ok(db) })
            .try_collect()
            .await?;
        if !databases.iter().any(|d| d.name == DEFAULT_DATABASE) {
            databases.push(default_database());
        }
        databases.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(databases)
    }

    pub async fn get_database(&self, name: &str) -> Result<Option<Database>, CatalogError> {
        let name = normalize_name("database", name)?;
        match self.latest::<Database>(&self.database_dir(&name)).await? {
            Some((
                _,
                Entry {
                    state: EntryState::Live(db),
                    ..
                },
            )) => Ok(Some(db)),
            Some((
                _,
                Entry {
                    state: EntryState::Dropped,
                    ..
                },
            )) => Ok(None),
            None if name == DEFAULT_DATABASE => Ok(Some(default_database())),
            None => Ok(None),
        }
    }

    /// Creates a database; fails with [`CatalogError::DatabaseExists`] if it exists (also when another process
    /// created it a moment ago).
    pub async fn create_database(&self, database: Database) -> Result<Database, CatalogError> {
        let name = normalize_name("database", &database.name)?;
        let database = Database {
            name: name.clone(),
            ..database
        };
        if name == DEFAULT_DATABASE {
            return Err(CatalogError::DatabaseExists { name });
        }
        let dir = self.database_dir(&name);
        for _ in 0..MAX_ATTEMPTS {
            let next = match self.latest::<Database>(&dir).await? {
                Some((
                    _,
                    Entry {
                        state: EntryState::Live(_),
                        ..
                    },
                )) => {
                    return Err(CatalogError::DatabaseExists { name });
                }
                Some((version, _)) => version + 1,
                None => 1,
            };
            let entry = entry(next, "CREATE", EntryState::Live(database.clone()));
            if self.put_version(&dir, next, &entry).await? {
                return Ok(database);
            }
        }
        Err(CatalogError::Contended {
            what: format!("database {name}"),
        })
    }

    /// Drops a database. With `cascade` its tables are dropped first (their data is never touched); without it a
    /// database that still has tables is refused, as Athena's default RESTRICT does.
    pub async fn drop_database(&self, name: &str, cascade: bool) -> Result<Vec<String>, CatalogError> {
        let name = normalize_name("database", name)?;
        if name == DEFAULT_DATABASE {
            return Err(CatalogError::DefaultDatabase);
        }
        let dir = self.database_dir(&name);
        let Some((
            version,
            Entry {
                state: EntryState::Live(_),
                ..
            },
        )) = self.latest::<Database>(&dir).await?
        else {
            return Err(CatalogError::DatabaseNotFound { name });
        };
        let tables = self.list_table_names(&name).await?;
        if !tables.is_empty() && !cascade {
            return Err(CatalogError::DatabaseNotEmpty { name, tables });
        }
        for table in &tables {
            match self.drop_table(&name, table).await {
                Ok(_) | Err(CatalogError::TableNotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let tombstone: Entry<Database> = entry(version + 1, "DROP", EntryState::Dropped);
        if self.put_version(&dir, version + 1, &tombstone).await? {
            Ok(tables)
        } else {
            Err(CatalogError::ConcurrentModification {
                what: format!("database {name}"),
                version,
            })
        }
    }

    // ---------------------------------------------------------------- tables

    /// Names of the live tables of `db` whose documents can be read, sorted (see [`Catalog::list_tables_lenient`]).
    pub async fn list_table_names(&self, db: &str) -> Result<Vec<String>, CatalogError> {
        Ok(self
            .list_tables_lenient(db)
            .await?
            .0
            .into_iter()
            .map(|t| t.name)
            .collect())
    }

    /// The current definitions of the live tables of `db`, sorted by name; an unreadable document is an error.
    pub async fn list_tables(&self, db: &str) -> Result<Vec<Table>, CatalogError> {
        let (tables, mut unreadable) = self.list_tables_lenient(db).await?;
        match unreadable.pop() {
            Some(e) => Err(e),
            None => Ok(tables),
        }
    }

    /// The current definitions of the live tables of `db`, sorted by name, and the errors of the table documents
    /// that cannot be read: one damaged table does not hide the others.
    pub async fn list_tables_lenient(&self, db: &str) -> Result<(Vec<Table>, Vec<CatalogError>), CatalogError> {
        let db = normalize_name("database", db)?;
        let dir = self.tables_dir(&db);
        let objects: Vec<_> = self
            .store
            .list(Some(&dir))
            .try_collect()
            .await
            .map_err(|e| self.storage_error(e))?;
        // Newest version document per table folder.
        let mut newest: BTreeMap<String, (u64, Path)> = BTreeMap::new();
        for object in objects {
            let Some(version) = object.location.filename().and_then(parse_version_file) else {
                continue;
            };
            // `<table>/vN.json` only: a table folder also holds its partition log.
            let parts: Vec<String> = match object.location.prefix_match(&dir) {
                Some(parts) => parts.map(|p| p.as_ref().to_string()).collect(),
                None => continue,
            };
            let [table, _] = <[String; 2]>::try_from(parts).unwrap_or_default();
            if table.is_empty() {
                continue;
            }
            let slot = newest.entry(table).or_insert((0, object.location.clone()));
            if version >= slot.0 {
                *slot = (version, object.location);
            }
        }
        let read: Vec<Result<Option<Table>, CatalogError>> = futures::stream::iter(newest.into_values())
            .map(|(version, path)| {
                // Owned, so the future is `Send` whatever the caller's lifetimes.
                let this = self.clone();
                async move {
                    let entry: Entry<Table> = this.read(&path).await?;
                    Ok(match entry.state {
                        EntryState::Live(table) => Some(Table { version, ..table }),
                        EntryState::Dropped => None,
                    })
                }
            })
            .buffer_unordered(FETCH_CONCURRENCY)
            .collect()
            .await;
        let (mut tables, mut unreadable) = (Vec::new(), Vec::new());
        for result in read {
            match result {
                Ok(Some(table)) => tables.push(table),
                Ok(None) => {}
                Err(e @ CatalogError::Corrupt { .. }) => unreadable.push(e),
                Err(e) => return Err(e),
            }
        }
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        Ok((tables, unreadable))
    }

    pub async fn get_table(&self, db: &str, name: &str) -> Result<Option<Table>, CatalogError> {
        let db = normalize_name("database", db)?;
        let name = normalize_name("table", name)?;
        Ok(match self.latest::<Table>(&self.table_dir(&db, &name)).await? {
            Some((
                version,
                Entry {
                    state: EntryState::Live(table),
                    ..
                },
            )) => Some(Table { version, ..table }),
            _ => None,
        })
    }

    /// Registers a new table. Exactly one of several processes creating the same table succeeds; the others get
    /// [`CatalogError::TableExists`].
    pub async fn create_table(&self, table: Table) -> Result<Table, CatalogError> {
        let db = normalize_name("database", &table.database)?;
        let name = normalize_name("table", &table.name)?;
        table.validate()?;
        if self.get_database(&db).await?.is_none() {
            return Err(CatalogError::DatabaseNotFound { name: db });
        }
        let dir = self.table_dir(&db, &name);
        for _ in 0..MAX_ATTEMPTS {
            let next = match self.latest::<Table>(&dir).await? {
                Some((
                    _,
                    Entry {
                        state: EntryState::Live(_),
                        ..
                    },
                )) => {
                    return Err(CatalogError::TableExists { database: db, name });
                }
                Some((version, _)) => version + 1,
                None => 1,
            };
            let now = Utc::now();
            let stored = Table {
                database: db.clone(),
                name: name.clone(),
                version: next,
                create_time: now,
                update_time: now,
                ..table.clone()
            };
            if self
                .put_version(&dir, next, &entry(next, "CREATE", EntryState::Live(stored.clone())))
                .await?
            {
                return Ok(stored);
            }
        }
        Err(CatalogError::Contended {
            what: format!("table {db}.{name}"),
        })
    }

    /// Replaces a table's definition, archiving the previous one. `table.version` must be the version the caller
    /// read; if someone changed the table since, nothing is written and [`CatalogError::ConcurrentModification`] says so.
    pub async fn update_table(&self, table: Table, operation: &str) -> Result<Table, CatalogError> {
        let db = normalize_name("database", &table.database)?;
        let name = normalize_name("table", &table.name)?;
        table.validate()?;
        let dir = self.table_dir(&db, &name);
        let current = match self.latest::<Table>(&dir).await? {
            Some((
                version,
                Entry {
                    state: EntryState::Live(_),
                    ..
                },
            )) => version,
            _ => return Err(CatalogError::TableNotFound { database: db, name }),
        };
        if current != table.version {
            return Err(CatalogError::ConcurrentModification {
                what: format!("table {db}.{name}"),
                version: table.version,
            });
        }
        let next = current + 1;
        let stored = Table {
            database: db.clone(),
            name: name.clone(),
            version: next,
            update_time: Utc::now(),
            ..table
        };
        if self
            .put_version(&dir, next, &entry(next, operation, EntryState::Live(stored.clone())))
            .await?
        {
            Ok(stored)
        } else {
            Err(CatalogError::ConcurrentModification {
                what: format!("table {db}.{name}"),
                version: current,
            })
        }
    }

    /// Removes a table from the catalog (a tombstone version; the history stays). Data files are never touched here.
    pub async fn drop_table(&self, db: &str, name: &str) -> Result<Table, CatalogError> {
        let db = normalize_name("database", db)?;
        let name = normalize_name("table", name)?;
        let dir = self.table_dir(&db, &name);
        for _ in 0..MAX_ATTEMPTS {
            let (version, table) = match self.latest::<Table>(&dir).await? {
                Some((
                    version,
                    Entry {
                        state: EntryState::Live(table),
                        ..
                    },
                )) => (version, table),
                _ => return Err(CatalogError::TableNotFound { database: db, name }),
            };
            let tombstone: Entry<Table> = entry(version + 1, "DROP", EntryState::Dropped);
            if self.put_version(&dir, version + 1, &tombstone).await? {
                return Ok(Table { version, ..table });
            }
        }
        Err(CatalogError::Contended {
            what: format!("table {db}.{name}"),
        })
    }

    /// Every version of a table, oldest first, including DROP tombstones and earlier incarnations.
    pub async fn table_history(&self, db: &str, name: &str) -> Result<Vec<TableVersion>, CatalogError> {
        let db = normalize_name("database", db)?;
        let name = normalize_name("table", name)?;
        let mut history = Vec::new();
        for (version, path) in self.versions(&self.table_dir(&db, &name)).await? {
            let entry: Entry<Table> = self.read(&path).await?;
            history.push(TableVersion {
                version,
                operation: entry.operation,
                committed_at: entry.committed_at,
                table: match entry.state {
                    EntryState::Live(table) => Some(Table { version, ..table }),
                    EntryState::Dropped => None,
                },
            });
        }
        Ok(history)
    }

    // ---------------------------------------------------------------- partitions

    fn partitions_dir(&self, db: &str, table: &str) -> Path {
        self.table_dir(db, table).join("partitions")
    }

    /// The partitions registered for `table` (the incarnation `table.create_time` names).
    ///
    /// Partitions are kept apart from the table definition, as in Glue: adding one does not make a new table
    /// version, and a query reads one small list instead of every table version. Each change writes the whole list
    /// as the next version (compact JSON, ~100 bytes per partition), claimed with a create-if-absent put like table
    /// versions, so concurrent changes never lose each other.
    pub async fn partitions(&self, table: &Table) -> Result<PartitionSet, CatalogError> {
        let db = normalize_name("database", &table.database)?;
        let name = normalize_name("table", &table.name)?;
        let Some((version, path)) = self.versions(&self.partitions_dir(&db, &name)).await?.pop() else {
            return Ok(PartitionSet {
                version: 0,
                partitions: None,
            });
        };
        let doc: PartitionsDoc = self.read(&path).await?;
        Ok(PartitionSet {
            version,
            partitions: (doc.table_created == table.create_time).then_some(doc.partitions),
        })
    }

    /// Replaces `table`'s partition list with `partitions`, as the version after `base` (the [`PartitionSet::version`]
    /// the caller changed). If another writer committed since, nothing is written and
    /// [`CatalogError::ConcurrentModification`] says so; read again and redo the change.
    pub async fn put_partitions(
        &self,
        table: &Table,
        base: u64,
        partitions: Vec<Partition>,
        operation: &str,
    ) -> Result<(), CatalogError> {
        let db = normalize_name("database", &table.database)?;
        let name = normalize_name("table", &table.name)?;
        let keys = table.partition_keys.len();
        if let Some(bad) = partitions.iter().find(|p| p.values.len() != keys) {
            return Err(CatalogError::InvalidDefinition {
                table: table.qualified_name(),
                reason: format!(
                    "a partition has {} values ({}) but the table has {keys} partition keys",
                    bad.values.len(),
                    bad.values.join(", ")
                ),
            });
        }
        let doc = PartitionsDoc {
            tarn_catalog: FORMAT_VERSION,
            version: base + 1,
            operation: operation.to_string(),
            committed_at: Utc::now(),
            table_created: table.create_time,
            partitions,
        };
        let path = self.partitions_dir(&db, &name).join(version_file(base + 1));
        let json = serde_json::to_vec(&doc).map_err(CatalogError::Encode)?;
        if self.put_if_absent(&path, json).await? {
            Ok(())
        } else {
            Err(CatalogError::ConcurrentModification {
                what: format!("the partitions of {db}.{name}"),
                version: base,
            })
        }
    }

    // ---------------------------------------------------------------- documents

    /// Version documents in `dir`, oldest first.
    async fn versions(&self, dir: &Path) -> Result<Vec<(u64, Path)>, CatalogError> {
        let listing = self
            .store
            .list_with_delimiter(Some(dir))
            .await
            .map_err(|e| self.storage_error(e))?;
        let mut versions: Vec<(u64, Path)> = listing
            .objects
            .into_iter()
            .filter_map(|o| {
                let version = o.location.filename().and_then(parse_version_file)?;
                Some((version, o.location))
            })
            .collect();
        versions.sort_by_key(|(v, _)| *v);
        Ok(versions)
    }

    async fn latest<T: DeserializeOwned>(&self, dir: &Path) -> Result<Option<(u64, Entry<T>)>, CatalogError> {
        let Some((version, path)) = self.versions(dir).await?.pop() else {
            return Ok(None);
        };
        Ok(Some((version, self.read(&path).await?)))
    }

    async fn read<T: DeserializeOwned>(&self, path: &Path) -> Result<T, CatalogError> {
        let bytes = self
            .store
            .get(path)
            .await
            .map_err(|e| self.storage_error(e))?
            .bytes()
            .await
            .map_err(|e| self.storage_error(e))?;
        serde_json::from_slice(&bytes).map_err(|source| CatalogError::Corrupt {
            document: format!("{}/{}", self.location.trim_end_matches('/'), strip_root(path)),
            source,
        })
    }

    /// Writes version `version` into `dir` unless it exists. Returns false when another writer got there first.
    async fn put_version<T: Serialize>(&self, dir: &Path, version: u64, entry: &T) -> Result<bool, CatalogError> {
        let path = dir.clone().join(version_file(version));
        let json = serde_json::to_vec_pretty(entry).map_err(CatalogError::Encode)?;
        self.put_if_absent(&path, json).await
    }

    async fn put_if_absent(&self, path: &Path, json: Vec<u8>) -> Result<bool, CatalogError> {
        create_if_absent(self.store.as_ref(), path, json)
            .await
            .map_err(|e| self.storage_error(e))
    }
}

/// Writes `json` at `path` unless something is there: `false` when another writer got there first. `If-None-Match: *`
/// on S3, a hard link on a local disk.
pub async fn create_if_absent(store: &dyn ObjectStore, path: &Path, json: Vec<u8>) -> object_store::Result<bool> {
    let options = PutOptions {
        mode: PutMode::Create,
        ..Default::default()
    };
    match store.put_opts(path, PutPayload::from(Bytes::from(json)), options).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

fn entry<T>(version: u64, operation: &str, state: EntryState<T>) -> Entry<T> {
    Entry {
        tarn_catalog: FORMAT_VERSION,
        version,
        operation: operation.to_string(),
        committed_at: Utc::now(),
        state,
    }
}

fn default_database() -> Database {
    Database {
        name: DEFAULT_DATABASE.to_string(),
        description: Some("Default database".to_string()),
        location_uri: None,
        parameters: BTreeMap::new(),
        create_time: DateTime::<Utc>::UNIX_EPOCH,
    }
}

fn version_file(version: u64) -> String {
    format!("v{version:020}.json")
}

fn parse_version_file(name: &str) -> Option<u64> {
    name.strip_prefix('v')?.strip_suffix(".json")?.parse().ok()
}

fn strip_root(path: &Path) -> String {
    let s = path.as_ref();
    match s.find(CATALOG_DIR) {
        Some(i) => s[i..].to_string(),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Column, Partition, SerdeInfo, StorageFormat, serde_lib};
    use object_store::local::LocalFileSystem;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn catalog(dir: &tempfile::TempDir) -> Result<Catalog, Box<dyn std::error::Error>> {
        let store = Arc::new(LocalFileSystem::new_with_prefix(dir.path())?);
        Ok(Catalog::new(store, &Path::default(), dir.path().display().to_string()))
    }

    fn table(db: &str, name: &str) -> Result<Table, CatalogError> {
        Table::new_external(
            db,
            name,
            "file:///data/t",
            StorageFormat::Parquet,
            SerdeInfo {
                library: serde_lib::PARQUET.to_string(),
                parameters: BTreeMap::new(),
            },
            vec![Column::new("id", "bigint")?],
        )
    }

    #[tokio::test]
    async fn databases_round_trip_and_default_always_exists() -> TestResult {
        let dir = tempfile::tempdir()?;
        let cat = catalog(&dir)?;
        assert_eq!(cat.list_databases().await?.len(), 1, "only default");
        cat.create_database(Database::new("Sales")?).await?;
        let err = cat.create_database(Database::new("SALES")?).await.err();
        assert!(matches!(err, Some(CatalogError::DatabaseExists { ref name }) if name == "sales"));
        let names: Vec<_> = cat.list_databases().await?.into_iter().map(|d| d.name).collect();
        assert_eq!(names, ["default", "sales"]);
        assert!(matches!(
            cat.drop_database("default", true).await,
            Err(CatalogError::DefaultDatabase)
        ));
        Ok(())
    }

    #[tokio::test]
    async fn tables_have_history_and_drop_keeps_it() -> TestResult {
        let dir = tempfile::tempdir()?;
        let cat = catalog(&dir)?;
        cat.create_database(Database::new("db")?).await?;
        let created = cat.create_table(table("db", "T1")?).await?;
        assert_eq!((created.name.as_str(), created.version), ("t1", 1));

        let mut changed = created.clone();
        changed.parameters.insert("owner".into(), "me".into());
        let updated = cat.update_table(changed.clone(), "ALTER").await?;
        assert_eq!(updated.version, 2);
        // A writer still holding version 1 loses.
        let stale = cat.update_table(changed, "ALTER").await.err();
        assert!(
            matches!(stale, Some(CatalogError::ConcurrentModification { version: 1, .. })),
            "{stale:?}"
        );

        cat.drop_table("db", "t1").await?;
        assert!(cat.get_table("db", "t1").await?.is_none());
        assert!(cat.list_tables("db").await?.is_empty());
        // Re-creating continues the same history.
        assert_eq!(cat.create_table(table("db", "t1")?).await?.version, 4);
        let ops: Vec<_> = cat
            .table_history("db", "t1")
            .await?
            .into_iter()
            .map(|v| v.operation)
            .collect();
        assert_eq!(ops, ["CREATE", "ALTER", "DROP", "CREATE"]);
        Ok(())
    }

    #[tokio::test]
    async fn racing_creates_have_exactly_one_winner() -> TestResult {
        let dir = tempfile::tempdir()?;
        let cat = catalog(&dir)?;
        cat.create_database(Database::new("db")?).await?;
        for round in 0..20 {
            let name = format!("t{round}");
            let attempts = (0..8).map(|_| {
                let cat = cat.clone();
                let t = table("db", &name);
                tokio::spawn(async move { cat.create_table(t?).await })
            });
            let mut wins = 0;
            for outcome in futures::future::join_all(attempts).await {
                match outcome? {
                    Ok(_) => wins += 1,
                    Err(CatalogError::TableExists { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            assert_eq!(wins, 1, "round {round}");
        }
        assert_eq!(cat.list_tables("db").await?.len(), 20);
        Ok(())
    }

    #[tokio::test]
    async fn restrict_refuses_and_cascade_drops_tables() -> TestResult {
        let dir = tempfile::tempdir()?;
        let cat = catalog(&dir)?;
        cat.create_database(Database::new("db")?).await?;
        cat.create_table(table("db", "a")?).await?;
        let err = cat.drop_database("db", false).await.err();
        assert!(matches!(err, Some(CatalogError::DatabaseNotEmpty { ref tables, .. }) if tables == &["a"]));
        assert_eq!(cat.drop_database("db", true).await?, ["a"]);
        assert!(cat.get_database("db").await?.is_none());
        // Recreating the database does not bring the old table back.
        cat.create_database(Database::new("db")?).await?;
        assert!(cat.list_tables("db").await?.is_empty());
        Ok(())
    }

    #[tokio::test]
    async fn partitions_are_versioned_apart_from_the_table() -> TestResult {
        let dir = tempfile::tempdir()?;
        let cat = catalog(&dir)?;
        cat.create_database(Database::new("db")?).await?;
        let mut t = table("db", "t")?;
        t.partition_keys = vec![Column::new("dt", "string")?];
        let t = cat.create_table(t).await?;
        let empty = cat.partitions(&t).await?;
        assert_eq!((empty.version, empty.partitions.clone()), (0, None));

        let p1 = Partition::new(vec!["2024-01-01".into()], "file:///data/t/dt=2024-01-01");
        cat.put_partitions(&t, 0, vec![p1.clone()], "ADD PARTITION").await?;
        let set = cat.partitions(&t).await?;
        assert_eq!(set.version, 1);
        assert_eq!(set.partitions.as_deref(), Some(&[p1.clone()][..]));
        assert_eq!(p1.spec(&t.partition_keys), "dt=2024-01-01");
        assert_eq!(p1.location, "file:///data/t/dt=2024-01-01/");
        // A writer that read version 0 loses; the table itself did not get a new version.
        let stale = cat.put_partitions(&t, 0, Vec::new(), "DROP PARTITION").await.err();
        assert!(
            matches!(stale, Some(CatalogError::ConcurrentModification { version: 0, .. })),
            "{stale:?}"
        );
        assert_eq!(cat.get_table("db", "t").await?.map(|t| t.version), Some(1));
        assert_eq!(cat.list_table_names("db").await?, ["t"]);
        // Wrong arity is refused.
        let bad = Partition::new(vec!["a".into(), "b".into()], "file:///x");
        assert!(cat.put_partitions(&t, 1, vec![bad], "ADD").await.is_err());

        // A new incarnation of the table starts with no partitions.
        cat.drop_table("db", "t").await?;
        let mut again = table("db", "t")?;
        again.partition_keys = t.partition_keys.clone();
        let again = cat.create_table(again).await?;
        let fresh = cat.partitions(&again).await?;
        assert_eq!((fresh.version, fresh.partitions), (1, None));
        Ok(())
    }

    #[tokio::test]
    async fn staging_leftovers_and_corrupt_documents() -> TestResult {
        let dir = tempfile::tempdir()?;
        let cat = catalog(&dir)?;
        cat.create_database(Database::new("db")?).await?;
        cat.create_table(table("db", "t")?).await?;
        // What a local writer killed mid-put leaves behind: a staging file, invisible to readers.
        let table_dir = dir.path().join("_catalog/db/tables/t");
        std::fs::write(table_dir.join("v00000000000000000002.json#1"), b"{\"trunc")?;
        assert_eq!(cat.get_table("db", "t").await?.map(|t| t.version), Some(1));
        assert_eq!(cat.create_table(table("db", "u")?).await?.version, 1);

        // A document damaged by hand is reported with its path, not skipped.
        std::fs::write(table_dir.join("v00000000000000000002.json"), b"{oops")?;
        let err = cat.get_table("db", "t").await.err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("_catalog/db/tables/t/v00000000000000000002.json")),
            "{err:?}"
        );
        Ok(())
    }
}
