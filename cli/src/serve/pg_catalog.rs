//! What psql's `\d`, DBeaver's and Superset's schema browsers and Grafana's query editor ask a PostgreSQL server:
//! `pg_catalog` and `information_schema`. Those queries run on a DataFusion context of their own, per connection,
//! whose tables are tarn's catalog (names, kinds and columns, never data; read again once two seconds have passed
//! or the connection ran a statement that may change it) and whose `pg_catalog` is datafusion-pg-catalog's, after
//! the rewrites that crate makes to the SQL those clients send (`OPERATOR(pg_catalog.~)`, `::regclass`, `COLLATE`,
//! …).
//!
//! A query goes here when it names `pg_catalog`, `information_schema`, one of pg_catalog's tables or one of the
//! PostgreSQL functions those clients call; everything else is tarn's. Such a query cannot read a tarn table's
//! rows: it would get none, so it fails and says so.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, ListBuilder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session as DfSession, TableProvider};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TableType, TypeSignature, Volatility,
    create_udf,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::scalar::ScalarValue;
use datafusion::sql::sqlparser::ast::{Expr as SqlExpr, SetExpr, Statement, TableFactor, Value, visit_expressions_mut};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use datafusion_pg_catalog::pg_catalog::PG_CATALOG_TABLES;
use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use tarn_engine::catalog::TableKind;
use tarn_engine::{CATALOG_NAME, Session, TableColumns};

/// PostgreSQL functions that only catalog browsers and drivers call, and that tarn's own SQL does not have.
const CATALOG_FUNCTIONS: &[&str] = &[
    "version",
    "to_regtype",
    "json_build_object",
    "current_schema",
    "current_schemas",
    "current_database",
    "current_setting",
    "format_type",
    "obj_description",
    "col_description",
    "shobj_description",
    "has_table_privilege",
    "has_schema_privilege",
    "has_database_privilege",
    "has_any_column_privilege",
    "quote_ident",
    "array_upper",
    "array_lower",
];

/// The prefixes of PostgreSQL's own functions (`pg_get_expr`, `pg_table_is_visible`, `pg_backend_pid`, …).
const PG_FUNCTION_PREFIXES: &[&str] = &[
    "pg_get_",
    "pg_table_is_visible",
    "pg_backend_pid",
    "pg_relation_",
    "pg_total_relation_size",
    "pg_encoding_to_char",
    "pg_stat_get_",
    "pg_is_",
    "pg_postmaster_start_time",
];

/// Parts of psql's queries that DataFusion cannot plan, and what stands for them (tarn tables have no options).
const PSQL_FRAGMENTS: &[(&str, &str)] = &[(
    "pg_catalog.array_to_string(c.reloptions || array(select 'toast.' || x from pg_catalog.unnest(tc.reloptions) x), ', ')",
    "''",
)];

/// Whether `sql` is a catalog browser's query: it names `pg_catalog`, `information_schema` or one of pg_catalog's
/// tables, or calls one of the functions above (only a call counts: tables have columns named `version`). A text
/// the tokenizer rejects is tarn's, which gives the error.
pub fn wants(sql: &str) -> bool {
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() else {
        return false;
    };
    let tokens: Vec<&Token> = tokens.iter().filter(|t| !matches!(t, Token::Whitespace(_))).collect();
    tokens.iter().enumerate().any(|(i, token)| {
        let Token::Word(word) = token else {
            return false;
        };
        let word = word.value.to_ascii_lowercase();
        let called = matches!(tokens.get(i + 1), Some(Token::LParen));
        word == "pg_catalog"
            || word == "information_schema"
            || PG_CATALOG_TABLES.contains(&word.as_str())
            || (called
                && (CATALOG_FUNCTIONS.contains(&word.as_str())
                    || PG_FUNCTION_PREFIXES.iter().any(|p| word.starts_with(p))))
    })
}

/// One connection's context for catalog queries.
pub struct CatalogQueries {
    ctx: SessionContext,
    tables: Arc<TarnTables>,
    parser: PostgresCompatibilityParser,
    /// When `tables` was read from tarn's catalog.
    read_at: Mutex<Option<Instant>>,
}

/// How long one read of tarn's catalog answers a connection's catalog queries: psql's `\d t` sends about eight in a
/// row, and each read is a listing plus a GET per table on S3.
const CATALOG_FRESH_FOR: Duration = Duration::from_secs(2);

impl std::fmt::Debug for CatalogQueries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogQueries").finish_non_exhaustive()
    }
}

impl CatalogQueries {
    pub fn new() -> Result<Self, DataFusionError> {
        let config = SessionConfig::new()
            // information_schema is tarn's own (see `information_schema`): PostgreSQL's type names, not Arrow's.
            .with_information_schema(false)
            .with_default_catalog_and_schema(CATALOG_NAME, tarn_engine::catalog::DEFAULT_DATABASE);
        let ctx = SessionContext::new_with_config(config);
        let tables = Arc::new(TarnTables::default());
        ctx.register_catalog(CATALOG_NAME, Arc::clone(&tables) as Arc<dyn CatalogProvider>);
        // Table OIDs are handed out by this context's pg_catalog and kept for its life: psql finds a table's OID in
        // one query and asks for its columns by that OID in the next.
        datafusion_pg_catalog::pg_catalog::setup_pg_catalog(&ctx, CATALOG_NAME, EmptyContextProvider)
            .map_err(|e| *e)?;
        ctx.register_udf(pg_version());
        ctx.register_udf(pg_size_pretty());
        ctx.register_udf(to_regtype());
        ctx.register_udf(ScalarUDF::new_from_impl(JsonBuildObject::default()));
        for (name, value) in [
            ("col_description", ScalarValue::Utf8(None)),
            ("obj_description", ScalarValue::Utf8(None)),
            ("shobj_description", ScalarValue::Utf8(None)),
            // A view's text is in information_schema.views; pg_class's OIDs are the pg_catalog crate's to map.
            ("pg_get_viewdef", ScalarValue::Utf8(None)),
            // Every object is visible: tarn has no search path beyond the current database.
            ("pg_collation_is_visible", ScalarValue::Boolean(Some(true))),
            ("pg_type_is_visible", ScalarValue::Boolean(Some(true))),
            ("pg_function_is_visible", ScalarValue::Boolean(Some(true))),
            // No column of a tarn table is backed by a sequence.
            ("pg_get_serial_sequence", ScalarValue::Utf8(None)),
            ("pg_table_size", ScalarValue::Int64(Some(0))),
            ("pg_indexes_size", ScalarValue::Int64(Some(0))),
        ] {
            ctx.register_udf(ScalarUDF::new_from_impl(Unknown::new(name, value)));
        }
        Ok(Self {
            ctx,
            tables,
            parser: PostgresCompatibilityParser::new(),
            read_at: Mutex::new(None),
        })
    }

    /// Runs the catalog query `sql` (one statement) as `session` sees the catalog: its current database is the
    /// current schema. `None` for a text with no statement.
    pub async fn run(&self, session: &Session, sql: &str) -> Result<Option<(SchemaRef, Vec<RecordBatch>)>, Failed> {
        let Some(statement) = self.prepare(session, sql).await? else {
            return Ok(None);
        };
        let frame = self.ctx.sql(&statement).await.map_err(Failed::query)?;
        let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
        let batches = frame.collect().await.map_err(Failed::query)?;
        Ok(Some((schema, batches)))
    }

    /// The columns the catalog query `sql` returns, planned and not run.
    pub async fn describe(&self, session: &Session, sql: &str) -> Result<Option<SchemaRef>, Failed> {
        let Some(statement) = self.prepare(session, sql).await? else {
            return Ok(None);
        };
        let frame = self.ctx.sql(&statement).await.map_err(Failed::query)?;
        Ok(Some(Arc::new(frame.schema().as_arrow().clone())))
    }

    /// Makes the next catalog query read tarn's catalog again: the connection ran a statement that may have changed
    /// it.
    pub fn forget(&self) {
        *self.read_at.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Reads the catalog unless a read of the last [`CATALOG_FRESH_FOR`] stands, makes `session`'s database the
    /// current schema, and rewrites `sql` for DataFusion.
    async fn prepare(&self, session: &Session, sql: &str) -> Result<Option<String>, Failed> {
        let fresh = self
            .read_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|at| at.elapsed() < CATALOG_FRESH_FOR);
        if !fresh {
            let listed = session.tables_with_columns().await.map_err(Failed::catalog)?;
            let databases = session.catalog().list_databases().await.map_err(Failed::catalog)?;
            self.tables
                .replace(databases.into_iter().map(|d| d.name).collect(), listed)
                .map_err(Failed::query)?;
            *self.read_at.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        }
        let database = session.current_database().to_string();
        self.ctx
            .state_ref()
            .write()
            .config_mut()
            .options_mut()
            .catalog
            .default_schema = database.clone();
        self.ctx.register_udf(current_schema(&database));
        self.ctx.register_udf(current_schemas(&database));
        let sql = PSQL_FRAGMENTS
            .iter()
            .fold(sql.to_string(), |sql, (from, to)| sql.replace(from, to));
        let mut statements = self.parser.parse(&sql).map_err(|e| Failed {
            sqlstate: "42601",
            message: format!("syntax error: {e}"),
        })?;
        if statements.len() > 1 {
            return Err(Failed {
                sqlstate: "42601",
                message: "a catalog query is one statement; send its statements one at a time".into(),
            });
        }
        Ok(statements.pop().map(|mut statement| {
            backslash_escapes(&mut statement);
            no_defaults_identities_or_collations(&mut statement);
            statement.to_string()
        }))
    }
}

/// Why a catalog query failed, as a PostgreSQL client is told.
#[derive(Debug)]
pub struct Failed {
    pub sqlstate: &'static str,
    pub message: String,
}

impl Failed {
    /// tarn's catalog could not be read (storage, a document tarn cannot parse): a system error, not the query's.
    fn catalog(e: impl std::fmt::Display) -> Self {
        Self {
            sqlstate: "58030",
            message: format!("cannot read tarn's catalog: {e}"),
        }
    }

    /// The query cannot be planned or run here.
    fn query(e: DataFusionError) -> Self {
        Self {
            sqlstate: "42000",
            message: message(&e),
        }
    }
}

/// `LIKE p ESCAPE '/'` (SQLAlchemy's) as `LIKE p'` with backslash escapes, the only ones DataFusion has: the
/// pattern's backslashes are doubled, then its escape character becomes a backslash.
fn backslash_escapes(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let SqlExpr::Like {
            pattern, escape_char, ..
        }
        | SqlExpr::ILike {
            pattern, escape_char, ..
        } = expr
            && let Some(escape) = escape_char
            && let Value::SingleQuotedString(c) = &escape.value
            && c != "\\"
        {
            let rewritten = format!(
                "replace(replace({pattern}, '\\', '\\\\'), '{}', '\\')",
                c.replace('\'', "''")
            );
            if let Ok(new) = Parser::new(&PostgreSqlDialect {})
                .try_with_sql(&rewritten)
                .and_then(|mut p| p.parse_expr())
            {
                **pattern = new;
                *escape_char = None;
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// What a column's default, identity sequence or collation is, as a subquery of `pg_attrdef`, `pg_sequence` or
/// `pg_collation` (SQLAlchemy's column reflection puts each in a CASE, where DataFusion cannot plan a correlated
/// subquery): NULL, because tarn's columns have none of them.
fn no_defaults_identities_or_collations(statement: &mut Statement) {
    const ABOUT_COLUMNS: &[&str] = &["pg_attrdef", "pg_sequence", "pg_collation"];
    const BESIDE: &[&str] = &["pg_type", "pg_namespace"];
    let _ = visit_expressions_mut(statement, |expr| {
        if let SqlExpr::Subquery(query) = expr
            && let SetExpr::Select(select) = query.body.as_ref()
        {
            let tables: Vec<String> = select
                .from
                .iter()
                .flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)))
                .map(|factor| match factor {
                    TableFactor::Table { name, .. } => name
                        .0
                        .last()
                        .and_then(|p| p.as_ident())
                        .map(|i| i.value.to_ascii_lowercase())
                        .unwrap_or_default(),
                    _ => String::new(),
                })
                .collect();
            if tables.iter().any(|t| ABOUT_COLUMNS.contains(&t.as_str()))
                && tables
                    .iter()
                    .all(|t| ABOUT_COLUMNS.contains(&t.as_str()) || BESIDE.contains(&t.as_str()))
            {
                *expr = SqlExpr::value(Value::Null);
            }
        }
        // A CASE whose every answer is now NULL is NULL, whatever its conditions (which may hold subqueries of
        // their own that DataFusion cannot plan there).
        if let SqlExpr::Case {
            conditions,
            else_result,
            ..
        } = expr
            && conditions.iter().all(|c| is_null(&c.result))
            && else_result.as_deref().is_none_or(is_null)
        {
            *expr = SqlExpr::value(Value::Null);
        }
        ControlFlow::<()>::Continue(())
    });
}

fn is_null(expr: &SqlExpr) -> bool {
    matches!(expr, SqlExpr::Value(v) if v.value == Value::Null)
}

fn message(e: &DataFusionError) -> String {
    e.find_root().to_string()
}

/// `current_schema()`: the connection's current database (PostgreSQL's schema is tarn's database).
fn current_schema(database: &str) -> ScalarUDF {
    let database = database.to_string();
    create_udf(
        "current_schema",
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_: &[ColumnarValue]| {
            let mut builder = StringBuilder::new();
            builder.append_value(&database);
            Ok(ColumnarValue::Array(Arc::new(builder.finish()) as ArrayRef))
        }),
    )
}

/// `version()`: PostgreSQL's form, which SQLAlchemy and JDBC drivers parse for the server's version.
fn pg_version() -> ScalarUDF {
    let text = format!(
        "PostgreSQL {} (tarn {}, on Apache DataFusion {})",
        super::settings::SERVER_VERSION,
        env!("CARGO_PKG_VERSION"),
        datafusion::DATAFUSION_VERSION
    );
    create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_: &[ColumnarValue]| {
            let mut builder = StringBuilder::new();
            builder.append_value(&text);
            Ok(ColumnarValue::Array(Arc::new(builder.finish()) as ArrayRef))
        }),
    )
}

/// A PostgreSQL function the catalog has no facts for here: comments are NULL (tarn keeps none), sizes of what
/// tarn does not have (indexes, TOAST) or does not measure here are 0.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Unknown {
    name: &'static str,
    signature: Signature,
    value: ScalarValue,
}

impl Unknown {
    fn new(name: &'static str, value: ScalarValue) -> Self {
        Self {
            name,
            signature: Signature::one_of(vec![TypeSignature::Any(1), TypeSignature::Any(2)], Volatility::Stable),
            value,
        }
    }
}

impl ScalarUDFImpl for Unknown {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(self.value.data_type())
    }

    fn invoke_with_args(&self, _: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Ok(ColumnarValue::Scalar(self.value.clone()))
    }
}

/// `to_regtype(name)`: the OID of a built-in type by any of its names, NULL for types tarn does not have (psycopg
/// looks up `hstore` this way when SQLAlchemy connects).
fn to_regtype() -> ScalarUDF {
    create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Stable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let names = arrays
                .first()
                .and_then(|a| a.as_any().downcast_ref::<datafusion::arrow::array::StringArray>())
                .ok_or_else(|| DataFusionError::Plan("to_regtype takes a type's name".to_string()))?;
            let oids: datafusion::arrow::array::Int32Array = names.iter().map(|name| name.and_then(type_oid)).collect();
            Ok(ColumnarValue::Array(Arc::new(oids) as ArrayRef))
        }),
    )
}

fn type_oid(name: &str) -> Option<i32> {
    let name = name.trim().trim_start_matches("pg_catalog.").to_ascii_lowercase();
    Some(match name.as_str() {
        "bool" | "boolean" => 16,
        "bytea" => 17,
        "int8" | "bigint" => 20,
        "int2" | "smallint" => 21,
        "int4" | "integer" | "int" => 23,
        "text" => 25,
        "json" => 114,
        "float4" | "real" => 700,
        "float8" | "double precision" => 701,
        "varchar" | "character varying" => 1043,
        "date" => 1082,
        "time" | "time without time zone" => 1083,
        "timestamp" | "timestamp without time zone" => 1114,
        "timestamptz" | "timestamp with time zone" => 1184,
        "interval" => 1186,
        "numeric" | "decimal" => 1700,
        "uuid" => 2950,
        "jsonb" => 3802,
        _ => return None,
    })
}

/// `json_build_object(key, value, …)`, which SQLAlchemy's column reflection plans (for identity columns, which tarn
/// has none of): a JSON object text per row, values as JSON numbers, booleans, null or strings.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonBuildObject {
    signature: Signature,
}

impl Default for JsonBuildObject {
    fn default() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for JsonBuildObject {
    fn name(&self) -> &str {
        "json_build_object"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        if !args.args.len().is_multiple_of(2) {
            return Err(DataFusionError::Plan(
                "json_build_object takes pairs of keys and values".to_string(),
            ));
        }
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let mut builder = StringBuilder::new();
        for row in 0..args.number_rows {
            let mut object = serde_json::Map::new();
            for pair in arrays.chunks(2) {
                let [key, value] = pair else { continue };
                let key = ScalarValue::try_from_array(key, row)?;
                let value = ScalarValue::try_from_array(value, row)?;
                object.insert(
                    match key {
                        ScalarValue::Utf8(Some(k))
                        | ScalarValue::LargeUtf8(Some(k))
                        | ScalarValue::Utf8View(Some(k)) => k,
                        other => other.to_string(),
                    },
                    json_value(&value),
                );
            }
            builder.append_value(serde_json::Value::Object(object).to_string());
        }
        Ok(ColumnarValue::Array(Arc::new(builder.finish()) as ArrayRef))
    }
}

fn json_value(value: &ScalarValue) -> serde_json::Value {
    use serde_json::Value as Json;
    if value.is_null() {
        return Json::Null;
    }
    match value {
        ScalarValue::Boolean(Some(b)) => Json::Bool(*b),
        ScalarValue::Int8(Some(_))
        | ScalarValue::Int16(Some(_))
        | ScalarValue::Int32(Some(_))
        | ScalarValue::Int64(Some(_))
        | ScalarValue::UInt8(Some(_))
        | ScalarValue::UInt16(Some(_))
        | ScalarValue::UInt32(Some(_))
        | ScalarValue::UInt64(Some(_))
        | ScalarValue::Float32(Some(_))
        | ScalarValue::Float64(Some(_)) => {
            serde_json::from_str(&value.to_string()).unwrap_or_else(|_| Json::String(value.to_string()))
        }
        other => Json::String(other.to_string()),
    }
}

/// `pg_size_pretty(bytes)`, which psql's `\d+` shows sizes with: `8192 bytes`, `16 kB`, `3 MB`.
fn pg_size_pretty() -> ScalarUDF {
    create_udf(
        "pg_size_pretty",
        vec![DataType::Int64],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let sizes = arrays
                .first()
                .and_then(|a| a.as_any().downcast_ref::<datafusion::arrow::array::Int64Array>())
                .ok_or_else(|| DataFusionError::Plan("pg_size_pretty takes a bigint".to_string()))?;
            let mut builder = StringBuilder::new();
            for size in sizes {
                builder.append_option(size.map(size_pretty));
            }
            Ok(ColumnarValue::Array(Arc::new(builder.finish()) as ArrayRef))
        }),
    )
}

/// PostgreSQL's rule: the largest unit that keeps the number under 10240, rounded half away from zero.
fn size_pretty(bytes: i64) -> String {
    const UNITS: [&str; 6] = ["bytes", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    for unit in UNITS {
        if value.abs() < 10240.0 || unit == "PB" {
            return format!("{} {unit}", value.round());
        }
        value /= 1024.0;
    }
    format!("{bytes} bytes")
}

/// `current_schemas(include_implicit)`: the search path, the current database first.
fn current_schemas(database: &str) -> ScalarUDF {
    let database = database.to_string();
    create_udf(
        "current_schemas",
        vec![DataType::Boolean],
        DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            let implicit = match args.first() {
                Some(ColumnarValue::Scalar(ScalarValue::Boolean(Some(b)))) => *b,
                _ => false,
            };
            let mut builder = ListBuilder::new(StringBuilder::new());
            builder.values().append_value(&database);
            if implicit {
                builder.values().append_value("information_schema");
                builder.values().append_value("pg_catalog");
            }
            builder.append(true);
            Ok(ColumnarValue::Array(Arc::new(builder.finish()) as ArrayRef))
        }),
    )
}

/// tarn's catalog as DataFusion's: its databases are the schemas; `pg_catalog` is registered beside them.
#[derive(Debug, Default)]
struct TarnTables {
    databases: RwLock<BTreeMap<String, Arc<dyn SchemaProvider>>>,
    registered: RwLock<BTreeMap<String, Arc<dyn SchemaProvider>>>,
}

impl TarnTables {
    fn replace(&self, names: Vec<String>, tables: Vec<TableColumns>) -> DfResult<()> {
        let information_schema = super::information_schema::schema(CATALOG_NAME, &names, &tables)?;
        let mut databases: BTreeMap<String, BTreeMap<String, Arc<dyn TableProvider>>> =
            names.into_iter().map(|name| (name, BTreeMap::new())).collect();
        for table in &tables {
            let kind = match table.kind {
                TableKind::View => TableType::View,
                TableKind::Hive | TableKind::Delta => TableType::Base,
            };
            databases.entry(table.database.clone()).or_default().insert(
                table.name.clone(),
                Arc::new(ColumnsOnly {
                    schema: Arc::clone(&table.schema),
                    kind,
                }),
            );
        }
        let mut databases: BTreeMap<String, Arc<dyn SchemaProvider>> = databases
            .into_iter()
            .map(|(name, tables)| (name, Arc::new(Database { tables }) as Arc<dyn SchemaProvider>))
            .collect();
        databases.insert("information_schema".to_string(), information_schema);
        *self.databases.write().unwrap_or_else(PoisonError::into_inner) = databases;
        Ok(())
    }
}

impl CatalogProvider for TarnTables {
    fn schema_names(&self) -> Vec<String> {
        let databases = self.databases.read().unwrap_or_else(PoisonError::into_inner);
        let registered = self.registered.read().unwrap_or_else(PoisonError::into_inner);
        databases.keys().chain(registered.keys()).cloned().collect()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let registered = self.registered.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(schema) = registered.get(name) {
            return Some(Arc::clone(schema));
        }
        let databases = self.databases.read().unwrap_or_else(PoisonError::into_inner);
        databases.get(name).cloned()
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> DfResult<Option<Arc<dyn SchemaProvider>>> {
        Ok(self
            .registered
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_string(), schema))
    }
}

/// A schema of tables known in advance.
#[derive(Debug)]
pub(super) struct Database {
    pub(super) tables: BTreeMap<String, Arc<dyn TableProvider>>,
}

#[async_trait]
impl SchemaProvider for Database {
    fn table_names(&self) -> Vec<String> {
        self.tables.keys().cloned().collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        Ok(self.tables.get(name).cloned())
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables.contains_key(name)
    }
}

/// A tarn table in a catalog query: its columns, and no rows to read.
#[derive(Debug)]
struct ColumnsOnly {
    schema: SchemaRef,
    kind: TableType,
}

#[async_trait]
impl TableProvider for ColumnsOnly {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        self.kind
    }

    async fn scan(
        &self,
        _state: &dyn DfSession,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Err(DataFusionError::Plan(
            "a query of pg_catalog or information_schema cannot read a table's rows: query the table on its own"
                .to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_queries_are_told_from_tarns() {
        for catalog in [
            "SELECT n.nspname FROM pg_catalog.pg_namespace n",
            "select * from information_schema.columns where table_name = 'orders'",
            "SELECT relname FROM pg_class",
            "SELECT version()",
            "SELECT current_schema(), session_user",
            "SELECT pg_catalog.pg_get_userbyid(1)",
            "SELECT t.oid FROM pg_type t WHERE t.oid = to_regtype('hstore')",
        ] {
            assert!(wants(catalog), "{catalog}");
        }
        for tarn in [
            "SELECT * FROM orders",
            "SELECT version FROM sales.releases",
            "SELECT pg_get_data FROM t",
            "SELECT current_user",
            "SHOW TABLES",
            "SELECT 'pg_catalog' AS name",
            "SELECT * FROM \"unterminated",
        ] {
            assert!(!wants(tarn), "{tarn}");
        }
    }

    #[test]
    fn sizes_are_printed_as_postgresql_prints_them() {
        assert_eq!(size_pretty(0), "0 bytes");
        assert_eq!(size_pretty(10_239), "10239 bytes");
        assert_eq!(size_pretty(10_240), "10 kB");
        assert_eq!(size_pretty(3 * 1024 * 1024), "3072 kB");
        assert_eq!(size_pretty(30 * 1024 * 1024), "30 MB");
    }

    #[test]
    fn like_escapes_become_backslashes() -> Result<(), String> {
        let mut statement = PostgresCompatibilityParser::new()
            .parse("SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg/_%' ESCAPE '/'")
            .map_err(|e| e.to_string())?
            .pop()
            .ok_or("no statement")?;
        backslash_escapes(&mut statement);
        let sql = statement.to_string();
        assert!(
            sql.contains(r"NOT LIKE replace(replace('pg/_%', '\', '\\'), '/', '\')") && !sql.contains("ESCAPE"),
            "{sql}"
        );
        Ok(())
    }
}
