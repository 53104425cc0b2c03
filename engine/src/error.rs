use std::sync::Arc;

use datafusion::error::DataFusionError;
use tarn_catalog::CatalogError;

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Which part of a statement an [`EngineError::Invalid`] is about: what a caller branches on (a server maps it to
/// a SQLSTATE class), while the message says what a user does about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// A table, database or catalog name.
    Name,
    /// A column: missing, duplicated, unnamed, or of a type the statement cannot use.
    Column,
    /// A property or option (`WITH (...)`, `TBLPROPERTIES`, `OPTIONS`, `SERDEPROPERTIES`).
    Property,
    /// A session setting (`SET`).
    Setting,
    /// A clause of a statement (LOCATION, PARTITIONED BY, OPTIMIZE ... WHERE, MERGE's WHEN, time travel, UNNEST).
    Clause,
    /// A function's arguments.
    Function,
    /// A type name (`array<string>`, `decimal(12, 2)`).
    Type,
    /// An object of another kind than the statement needs (a view where a table is needed, a Delta table for a
    /// Hive write).
    ObjectKind,
    /// A view that cannot be expanded (stale or recursive).
    View,
    /// A query's shape (its columns) does not fit what the statement does with it.
    QueryShape,
}

/// Every error the engine reports. Each variant renders as one line that says what went wrong, where, and what to do.
/// Cheap to clone (sources are shared), so an error raised inside DataFusion comes back whole.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// SQL that does not parse. `line`/`column` are 1-based positions within the statement's text.
    #[error("{message}")]
    Syntax {
        message: String,
        line: Option<u64>,
        column: Option<u64>,
    },

    #[error(transparent)]
    Catalog(Arc<CatalogError>),

    #[error("table '{name}' does not exist{}", suggestion_suffix(suggestion))]
    TableNotFound { name: String, suggestion: Option<String> },

    #[error("database '{name}' does not exist{}", suggestion_suffix(suggestion))]
    DatabaseNotFound { name: String, suggestion: Option<String> },

    /// A statement or property tarn does not implement (yet).
    #[error("{what} is not supported{}", hint.as_ref().map(|h| format!("; {h}")).unwrap_or_default())]
    Unsupported { what: String, hint: Option<String> },

    /// A well-formed statement that asks for something tarn cannot do as written (an unknown property, a
    /// multi-character delimiter, a view where a table is needed, ...).
    #[error("{message}")]
    Invalid { part: Part, message: String },

    /// A LOCATION that cannot be used: bad scheme, nothing to infer a schema from, ...
    #[error("LOCATION {location}: {message}")]
    Location { location: String, message: String },

    /// A data file that cannot be read as the table says it should be.
    #[error("{location}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    DataFile {
        location: String,
        line: Option<u64>,
        message: String,
    },

    #[error(
        "query cancelled: it read {} so far, over the scan limit of {} (raise it with --max-scan or SET tarn.max_scan = '...')",
        crate::units::format_bytes(*scanned), crate::units::format_bytes(*limit)
    )]
    ScanLimitExceeded { limit: u64, scanned: u64 },

    /// A `CHECK` whose query found its data wrong.
    #[error("check '{name}' failed: {detail}")]
    CheckFailed { name: String, detail: String },

    /// Ctrl-C: the statement stopped; a write removed what it had written.
    #[error("cancelled")]
    Interrupted,

    /// Ctrl-C on a write that did not stop in the time its caller gave it: its files are removed later.
    #[error("cancelled; the write did not stop in time, and the next write to its location removes its files")]
    CancelledLate,

    /// The object store refused or failed a request (missing bucket, bad credentials, unreachable endpoint).
    #[error("{location}: {message}")]
    Storage { location: String, message: String },

    /// delta-rs refused or failed an operation on a Delta table; its error is the source when there is one.
    #[error("Delta table {location}: {message}")]
    Delta {
        location: String,
        message: String,
        source: Option<Arc<deltalake::DeltaTableError>>,
    },

    /// A query needed more memory than the session's limit allows, even spilling what it can to disk.
    #[error(
        "out of memory: the query needs more than {} ({detail}); raise the limit with --memory-limit SIZE, \
         TARN_MEMORY_LIMIT=SIZE or SET tarn.memory_limit = 'SIZE', or make the query lighter",
        limit.map(|l| format!("the memory limit of {}", crate::units::format_bytes(l))).unwrap_or_else(|| "the memory limit".into())
    )]
    OutOfMemory { limit: Option<u64>, detail: String },

    /// A worker of the session's cluster could not be reached.
    #[error(
        "worker {url} is not reachable: {reason}; start it with `tarn worker --listen HOST:PORT`, or leave it out of \
         --workers / TARN_WORKERS / SET tarn.workers"
    )]
    WorkerUnreachable { url: String, reason: String },

    /// A connection to a worker broke during a statement; `workers` are those that no longer answer.
    #[error(
        "{} during the query, which was stopped ({detail}); nothing it wrote was kept. Start {} again, or leave {} \
         out of --workers / TARN_WORKERS / SET tarn.workers",
        match workers.as_slice() {
            [] => "a connection to a worker broke".to_string(),
            [one] => format!("worker {one} stopped answering"),
            many => format!("workers {} stopped answering", many.join(", ")),
        },
        if workers.len() == 1 { "it" } else { "them" },
        if workers.len() == 1 { "it" } else { "them" }
    )]
    WorkerLost { workers: Vec<String>, detail: String },

    #[error("AWS configuration: {0}")]
    AwsConfig(String),

    /// DataFusion refused or failed a query; its error is the source, its message the part a user acts on.
    #[error("{message}")]
    DataFusion {
        message: String,
        #[source]
        source: Arc<DataFusionError>,
    },

    /// A write committed its files but could not register their partitions in the catalog.
    #[error(
        "the rows were written to {location}, but registering their partitions failed ({source}); run MSCK REPAIR \
         TABLE {table} to make them visible"
    )]
    PartitionsNotRegistered {
        location: String,
        table: String,
        source: Box<EngineError>,
    },

    /// Something that should not happen: a poisoned lock, Arrow refusing arrays tarn built, a lost writer.
    #[error("internal error: {what}")]
    Internal { what: String },
}

impl From<CatalogError> for EngineError {
    fn from(e: CatalogError) -> Self {
        EngineError::Catalog(Arc::new(e))
    }
}

fn suggestion_suffix(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map(|s| format!("; did you mean '{s}'?"))
        .unwrap_or_default()
}

impl EngineError {
    /// A statement that asks for something tarn cannot do as written; `part` says where.
    pub(crate) fn invalid(part: Part, message: impl Into<String>) -> Self {
        EngineError::Invalid {
            part,
            message: message.into(),
        }
    }

    /// An invariant that did not hold; `what` says which.
    pub(crate) fn internal(what: impl std::fmt::Display) -> Self {
        EngineError::Internal { what: what.to_string() }
    }

    pub fn unsupported(what: impl Into<String>, hint: impl Into<String>) -> Self {
        EngineError::Unsupported {
            what: what.into(),
            hint: Some(hint.into()),
        }
    }

    /// The position of a syntax error, if known.
    pub fn position(&self) -> Option<(u64, u64)> {
        match self {
            EngineError::Syntax {
                line: Some(l),
                column: Some(c),
                ..
            } => Some((*l, *c)),
            _ => None,
        }
    }
}

impl From<DataFusionError> for EngineError {
    fn from(e: DataFusionError) -> Self {
        from_datafusion(e)
    }
}

impl From<datafusion::sql::sqlparser::parser::ParserError> for EngineError {
    fn from(e: datafusion::sql::sqlparser::parser::ParserError) -> Self {
        syntax_error(&e.to_string())
    }
}

/// Splits sqlparser's "... at Line: 3, Column: 14" suffix into a position.
pub(crate) fn syntax_error(message: &str) -> EngineError {
    let message = message
        .trim_start_matches("sql parser error: ")
        .trim_start_matches("SQL error: ")
        .trim_start_matches("ParserError(\"")
        .trim_end_matches("\")")
        .trim_start_matches("TokenizerError(\"");
    if message.contains("recursion limit exceeded") {
        return EngineError::Syntax {
            message: format!(
                "the statement nests parentheses, subqueries or calls more than {} levels deep, which tarn does not \
                 parse; flatten it (long AND/OR or + chains are fine without parentheses)",
                crate::units::format_count(crate::dialect::PARSER_RECURSION_LIMIT as u64)
            ),
            line: None,
            column: None,
        };
    }
    let re_pos = message
        .rfind(" at Line: ")
        .map(|i| (i, &message[i + " at Line: ".len()..]));
    if let Some((at, rest)) = re_pos {
        let mut parts = rest.split(", Column: ");
        let line = parts.next().and_then(|l| l.trim().parse().ok());
        let column = parts
            .next()
            .and_then(|c| c.trim().trim_end_matches(|ch: char| !ch.is_ascii_digit()).parse().ok());
        if line.is_some() && column.is_some() {
            return EngineError::Syntax {
                message: format!("syntax error: {}", message[..at].trim_end()),
                line,
                column,
            };
        }
    }
    EngineError::Syntax {
        message: format!("syntax error: {message}"),
        line: None,
        column: None,
    }
}

/// Turns a DataFusion error into the most specific engine error: our own errors travel through DataFusion inside
/// `External`, object store failures get a storage message, parser errors a position.
pub(crate) fn from_datafusion(e: DataFusionError) -> EngineError {
    if let Some(file_error) = find_external::<DataFileError>(&e) {
        return EngineError::DataFile {
            location: file_error.location.clone(),
            line: file_error.line,
            message: file_error.message.clone(),
        };
    }
    if let Some(engine_error) = find_external::<EngineError>(&e) {
        return engine_error.clone();
    }
    if let Some(detail) = resources_exhausted(&e) {
        return EngineError::OutOfMemory { limit: None, detail };
    }
    match e {
        DataFusionError::SQL(parser_error, _) => EngineError::from(*parser_error),
        // DataFusion 55 wraps parser errors in a Diagnostic; the position is in the parser error's text.
        DataFusionError::Diagnostic(_, inner) => from_datafusion(*inner),
        DataFusionError::ObjectStore(store_error) => describe_store_error(&store_error),
        DataFusionError::Context(context, inner) => match from_datafusion(*inner) {
            EngineError::DataFusion { message, source } => EngineError::DataFusion {
                message: format!("{context}: {message}"),
                source,
            },
            other => other,
        },
        DataFusionError::Shared(shared) => match find_object_store_error(&shared) {
            Some(store_error) => describe_store_error(store_error),
            None => EngineError::DataFusion {
                message: clean_message(&shared.to_string()),
                source: shared,
            },
        },
        other => match find_object_store_error(&other) {
            Some(store_error) => describe_store_error(store_error),
            None => EngineError::DataFusion {
                message: clean_message(&other.to_string()),
                source: Arc::new(other),
            },
        },
    }
}

/// DataFusion's account of a memory reservation it could not make, without its advice (which names a setting
/// tarn sets through `tarn.memory_limit`), when `e` is one.
fn resources_exhausted(e: &DataFusionError) -> Option<String> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut found = false;
    while let Some(err) = current {
        if let Some(DataFusionError::ResourcesExhausted(_)) = err.downcast_ref::<DataFusionError>() {
            found = true;
            break;
        }
        current = err.source();
    }
    let text = e.to_string();
    if !found && !text.contains("Resources exhausted") {
        return None;
    }
    let detail = text
        .split("Resources exhausted: ")
        .last()
        .unwrap_or(&text)
        .split(". Consider increasing")
        .next()
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    Some(detail.trim_end_matches([',', '.', ':']).to_string())
}

/// Names DataFusion's "Valid fields are ..." list keeps: a 400-column table would otherwise print them all.
const VALID_FIELDS_SHOWN: usize = 12;

/// Shortens DataFusion's "Valid fields are a, b, c, ...." to the first few names and a count of the rest.
fn shorten_field_list(message: &str) -> String {
    const MARK: &str = "Valid fields are ";
    let Some(at) = message.find(MARK) else {
        return message.to_string();
    };
    let list = message[at + MARK.len()..].trim_end().trim_end_matches('.');
    let fields: Vec<&str> = list.split(", ").collect();
    if fields.len() <= VALID_FIELDS_SHOWN {
        return message.to_string();
    }
    format!(
        "{}{MARK}{}, … and {} more (DESCRIBE the table to see them all).",
        &message[..at],
        fields[..VALID_FIELDS_SHOWN].join(", "),
        fields.len() - VALID_FIELDS_SHOWN
    )
}

/// DataFusion prefixes messages with its error kind ("Error during planning: ..."); keep the part a user acts on.
fn clean_message(message: &str) -> String {
    let mut m = message.trim();
    for prefix in [
        "Error during planning: ",
        "Execution error: ",
        "External error: ",
        "Arrow error: ",
        "Schema error: ",
        "This feature is not implemented: ",
    ] {
        m = m.strip_prefix(prefix).unwrap_or(m);
    }
    shorten_field_list(m)
}

pub(crate) fn find_external<T: std::error::Error + 'static>(e: &DataFusionError) -> Option<&T> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(DataFusionError::External(inner)) = err.downcast_ref::<DataFusionError>()
            && let Some(found) = inner.downcast_ref::<T>()
        {
            return Some(found);
        }
        current = err.source();
    }
    None
}

fn find_object_store_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a object_store::Error> {
    let mut current: Option<&'a (dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if let Some(found) = err.downcast_ref::<object_store::Error>() {
            return Some(found);
        }
        if let Some(DataFusionError::ObjectStore(found)) = err.downcast_ref::<DataFusionError>() {
            return Some(found);
        }
        current = err.source();
    }
    None
}

/// A text file that could not be read as the table says, with where.
#[derive(Debug, Clone)]
pub struct DataFileError {
    pub location: String,
    pub line: Option<u64>,
    pub message: String,
}

impl std::fmt::Display for DataFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.location, self.message),
            None => write!(f, "{}: {}", self.location, self.message),
        }
    }
}

impl std::error::Error for DataFileError {}

/// A storage failure in words a user can act on (see [`tarn_catalog::describe_store_error`]), with the object or
/// bucket it concerns.
pub(crate) fn describe_store_error(e: &object_store::Error) -> EngineError {
    let location = match e {
        object_store::Error::NotFound { path, .. }
        | object_store::Error::PermissionDenied { path, .. }
        | object_store::Error::Unauthenticated { path, .. } => path.clone(),
        _ => String::new(),
    };
    EngineError::Storage {
        location: if location.is_empty() {
            "object store".to_string()
        } else {
            location
        },
        message: tarn_catalog::describe_store_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_field_lists_are_shortened() {
        let fields: Vec<String> = (0..400).map(|i| format!("t.c{i}")).collect();
        let message = format!("No field named x. Valid fields are {}.", fields.join(", "));
        let short = shorten_field_list(&message);
        assert!(
            short.starts_with("No field named x. Valid fields are t.c0, t.c1,"),
            "{short}"
        );
        assert!(
            short.ends_with("t.c11, … and 388 more (DESCRIBE the table to see them all)."),
            "{short}"
        );
        assert_eq!(
            shorten_field_list("No field named x. Valid fields are a, b."),
            "No field named x. Valid fields are a, b."
        );
    }

    #[test]
    fn parser_positions_are_extracted() {
        let e = syntax_error("sql parser error: Expected: an expression, found: FORM at Line: 2, Column: 8");
        assert_eq!(e.position(), Some((2, 8)));
        assert_eq!(e.to_string(), "syntax error: Expected: an expression, found: FORM");
    }

    #[test]
    fn parser_errors_from_datafusion_keep_their_position() {
        let parsed = datafusion::sql::parser::DFParser::parse_sql("SELECT * FORM t");
        let Err(e) = parsed else {
            unreachable!("FORM is not SQL")
        };
        // As the planner reports it: the parser error inside a Diagnostic.
        let diagnostic = datafusion::common::Diagnostic::new_error("syntax error", None);
        let e = from_datafusion(DataFusionError::Diagnostic(Box::new(diagnostic), Box::new(e)));
        assert_eq!(e.position(), Some((1, 10)), "{e}");
        assert!(
            e.to_string()
                .starts_with("syntax error: Expected: end of statement, found: FORM"),
            "{e}"
        );
    }
}
