//! tarn's engine: DataFusion over tarn's persistent catalog, with Athena's DDL, per-query scan accounting and
//! Athena's billing model. It never prints; callers (the CLI, the benchmarks) decide what to show.

pub mod bucket;
pub mod cluster;
mod codec;
mod column_case;
mod compaction;
mod compaction_log;
mod context;
mod crawl;
mod deep;
mod delimited;
pub mod delta;
mod dialect;
pub mod display;
mod error;
mod external_table;
mod infer;
pub mod ingest;
mod listing;
mod maintenance;
pub mod meter;
mod names;
mod parquet_files;
mod parse;
mod planner;
mod publication;
mod resolve;
mod result;
mod session;
mod snapshot;
mod statements;
pub mod storage;
mod table;
mod text_source;
mod trino;
mod types;
pub mod units;
mod views;
pub mod wire;
pub mod worker;
pub mod write;

pub use crawl::{CrawlAction, CrawlOptions, CrawlReport, CrawledTable};
pub use error::{EngineError, Result};
pub use meter::{Bill, Interrupt, TextNotes, parse_size};
pub use parquet_files::PARQUET_FOOTER_HINT;
pub use parse::{SqlStatement, ends_with_terminator, split_statements};
pub use result::{QueryResult, QueryStats, ResultKind, SessionTotals};
pub use session::{
    CATALOG_NAME, MAX_SCAN_SETTING, MEMORY_LIMIT_SETTING, PlannedQuery, Session, SessionOptions, TEXT_STRICT_SETTING,
    TableColumns,
};
pub use statements::{read_only, statement_keywords, table_name_words, writes_data};
pub use storage::AwsSettings;
pub use tarn_catalog as catalog;
pub use text_source::DataFileError;
pub use types::{arrow_to_hive, hive_to_arrow};
pub use units::{format_bytes, format_count, format_dollars};
pub use write::WriteProgress;

/// Re-exported so callers format results with the same Arrow as the engine.
pub use datafusion::arrow;
