//! tarn's persistent table catalog: Glue's model (databases, tables with storage descriptors, partition keys,
//! parameters, version history) stored as JSON documents in an object store, local or S3.

mod history;
mod loads;
mod model;
mod store;

pub use history::{HISTORY_DIR, QueryRecord, QueryStatus, hive_timestamp};
pub use loads::{Claim, LoadBatch, LoadLog, Outcome as LoadOutcome, SourceFile};
pub use model::{
    Bucketing, Column, DEFAULT_DATABASE, Database, HIVE_DEFAULT_PARTITION, Partition, SerdeInfo, StorageDescriptor,
    StorageFormat, Table, TableKind, TableType, normalize_name, params, serde_lib, serde_params,
};
pub use store::{CATALOG_DIR, Catalog, PartitionSet, TableVersion, create_if_absent};

/// Everything that can go wrong reading or changing the catalog.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("database '{name}' does not exist")]
    DatabaseNotFound { name: String },
    #[error("database '{name}' already exists")]
    DatabaseExists { name: String },
    #[error(
        "database '{name}' still has {} table(s) ({}); drop them first or use DROP DATABASE {name} CASCADE",
        tables.len(), tables.join(", ")
    )]
    DatabaseNotEmpty { name: String, tables: Vec<String> },
    #[error("the default database cannot be dropped")]
    DefaultDatabase,
    #[error("table '{database}.{name}' does not exist")]
    TableNotFound { database: String, name: String },
    #[error("table '{database}.{name}' already exists")]
    TableExists { database: String, name: String },
    #[error("{what} was changed by another process since version {version} was read; nothing was written, retry")]
    ConcurrentModification { what: String, version: u64 },
    #[error("{what} is being changed by other processes right now; nothing was written, retry")]
    Contended { what: String },
    #[error("invalid {kind} name '{name}': {reason}")]
    InvalidName {
        kind: &'static str,
        name: String,
        reason: String,
    },
    #[error("invalid definition of table '{table}': {reason}")]
    InvalidDefinition { table: String, reason: String },
    #[error(
        "catalog document {document} is unreadable ({source}); it was changed outside tarn, restore it from the previous version in the same folder"
    )]
    Corrupt {
        document: String,
        source: serde_json::Error,
    },
    #[error("cannot encode catalog document: {0}")]
    Encode(serde_json::Error),
    #[error("warehouse {warehouse}: {}", describe_store_error(source))]
    Storage {
        warehouse: String,
        #[source]
        source: object_store::Error,
    },
}

/// An object store failure in words a user can act on: which of the usual causes it is (no such bucket, rejected
/// credentials, no permission, no server at the endpoint) and what to check. The request URL stays out of it (it
/// may carry a signed query string).
pub fn describe_store_error(e: &object_store::Error) -> String {
    let text = e.to_string();
    if text.contains("NoSuchBucket") {
        "the bucket does not exist (check the bucket name and AWS_ENDPOINT_URL)".to_string()
    } else if text.contains("InvalidAccessKeyId") || text.contains("SignatureDoesNotMatch") {
        "the credentials were rejected (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE)".to_string()
    } else if text.contains("AccessDenied") || text.contains("403 Forbidden") {
        "access denied (the credentials lack permission for this bucket or prefix)".to_string()
    } else if text.contains("error sending request")
        || text.contains("Connection refused")
        || text.contains("dns error")
    {
        "cannot reach the S3 endpoint (check AWS_ENDPOINT_URL and that the server is running)".to_string()
    } else {
        match e {
            object_store::Error::NotFound { .. } => "not found".to_string(),
            object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
                "access denied".to_string()
            }
            _ => text,
        }
    }
}
