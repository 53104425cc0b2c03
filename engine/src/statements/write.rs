//! Writes: CREATE TABLE AS (Athena's CTAS, into Parquet, text, JSON or Delta), INSERT INTO, UNLOAD. The files are
//! staged and committed by [`crate::write`]; Delta tables by [`crate::delta`].

use std::sync::Arc;

use datafusion::sql::sqlparser::tokenizer::Token;
use tarn_catalog::{CatalogError, TableKind, normalize_name};

use super::Statement;
use crate::context::Ctx;
use crate::error::{EngineError, Part, Result};
use crate::parse::{EmbeddedQuery, PropValue, QualifiedName, TarnParser};
use crate::result::Outcome;
use crate::storage::Location;
use crate::write::commit::{Statement as WriteStatement, WriteLog};
use crate::write::exec::WriteSpec;
use crate::write::props::{ctas_options, unload_options};
use crate::write::statements::{
    QUERY_ID_PARAMETER, Written, bucketing_of, cast_to_table, ctas_columns, unregistered, written_table,
};
use crate::write::{DEFAULT_TARGET_FILE_SIZE, Target, new_query_id};

/// `CREATE TABLE t [WITH (...)] AS query [WITH [NO] DATA]`.
#[derive(Debug, Clone)]
pub(crate) struct CreateTableAs {
    pub(crate) name: QualifiedName,
    pub(crate) properties: Vec<(String, PropValue)>,
    pub(crate) query: EmbeddedQuery,
    pub(crate) with_data: bool,
}

impl Statement for CreateTableAs {
    const STARTS: &'static [&'static [&'static str]] = &[&["CREATE", "TABLE"]];
    const WORDS: &'static [&'static str] = &["WITH", "AS", "NO", "DATA"];
    const WRITES_DATA: bool = true;

    fn parse(d: &mut TarnParser) -> Result<Self> {
        if !d.has_top_level_word("AS") {
            return Err(EngineError::invalid(
                Part::Clause,
                "CREATE TABLE needs EXTERNAL for tables over existing files (as in Athena): CREATE EXTERNAL TABLE \
                 name (...) ... LOCATION '...'",
            ));
        }
        d.expect("CREATE")?;
        d.expect("TABLE")?;
        if d.peek_is("IF") {
            return Err(EngineError::invalid(
                Part::Clause,
                "CREATE TABLE AS has no IF NOT EXISTS in Athena; drop the table first or choose another name",
            ));
        }
        let name = d.qualified_name()?;
        let properties = if d.eat("WITH") {
            d.write_properties()?
        } else {
            Vec::new()
        };
        d.expect("AS")?;
        // A trailing WITH DATA / WITH NO DATA belongs to the CTAS, not to the query.
        let (end, with_data) = match (
            d.trailing_words(&["WITH", "NO", "DATA"]),
            d.trailing_words(&["WITH", "DATA"]),
        ) {
            (Some(at), _) => (Some(at), false),
            (None, at) => (at, true),
        };
        let query = d.query(end, "a query after AS")?;
        Ok(CreateTableAs {
            name,
            properties,
            query,
            with_data,
        })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        ctx.progress.reset();
        let options = ctas_options(&self.properties)?;
        let db = normalize_name("database", self.name.database.as_deref().unwrap_or(&ctx.database))?;
        let name = normalize_name("table", &self.name.name)?;
        if ctx.catalog.get_database(&db).await?.is_none() {
            return Err(ctx.database_not_found(&db).await);
        }
        if ctx.catalog.get_table(&db, &name).await?.is_some() {
            return Err(CatalogError::TableExists { database: db, name }.into());
        }
        let prepared = ctx.prepare_query(self.query.statement).await?;
        if options.delta {
            return Box::pin(ctx.create_delta_table_as(db, name, options, prepared, self.with_data)).await;
        }
        let (columns, partition_keys) = ctas_columns(&prepared.plan, &options)?;
        let bucketing = bucketing_of(
            &options.bucketed_by,
            options.bucket_count,
            options.bucketing_version,
            &columns,
        )?;
        let query_id = new_query_id();
        let (root, location) = ctx.ctas_location(&options, &db, &name, &query_id)?;
        let store = ctx.registry.store_for(&location)?;
        ctx.prepare_target(&store, &root, &location, WriteStatement::Ctas)
            .await?;
        let log = WriteLog::start(
            Arc::clone(&store),
            &root,
            &location,
            &query_id,
            WriteStatement::Ctas,
            Some(format!("{db}.{name}")),
            None,
        )
        .await?;
        let mut table = written_table(
            &db,
            &name,
            &location,
            &options.encoding,
            columns,
            partition_keys,
            &bucketing,
        )?;
        table.parameters.insert(QUERY_ID_PARAMETER.into(), query_id.clone());
        let meter = Arc::clone(&prepared.meter);
        let written = if self.with_data {
            let plan = cast_to_table(prepared.plan.clone(), &table, None)?;
            let target = Target {
                store,
                spec: WriteSpec {
                    location: location.clone(),
                    encoding: options.encoding,
                    partition_names: table.partition_keys.iter().map(|p| p.name.clone()).collect(),
                    bucketing,
                    query_id: query_id.clone(),
                    hidden: false,
                    target_file_size: options.target_file_size.unwrap_or(DEFAULT_TARGET_FILE_SIZE),
                    file_names: None,
                    record: None,
                },
            };
            match ctx.run_write(prepared, plan, target, &log).await {
                Ok(files) => Written::of(files),
                Err(e) => {
                    log.abort().await;
                    return Err(e);
                }
            }
        } else {
            Written::of(Vec::new())
        };
        let created = match ctx.catalog.create_table(table).await {
            Ok(t) => t,
            Err(e) => {
                log.abort().await;
                return Err(e.into());
            }
        };
        log.finish().await?;
        let message = format!(
            "created table {}: {} under {}",
            created.qualified_name(),
            written.describe(),
            location.url
        );
        if !created.partition_keys.is_empty() {
            ctx.register_written_partitions(&created, &written.partition_folders())
                .await
                .map_err(|e| unregistered(&created, e))?;
        }
        Ok(Outcome::written(message, written.rows, meter))
    }
}

/// `INSERT INTO t [(columns)] query`.
#[derive(Debug, Clone)]
pub(crate) struct InsertInto {
    pub(crate) table: QualifiedName,
    pub(crate) columns: Option<Vec<String>>,
    pub(crate) query: EmbeddedQuery,
}

impl Statement for InsertInto {
    /// `INSERT` alone, so `INSERT t ...` is a syntax error at `t` (`INSERT OVERWRITE` is refused before).
    const STARTS: &'static [&'static [&'static str]] = &[&["INSERT"]];
    const WORDS: &'static [&'static str] = &["INTO"];
    const TABLE_AFTER: &'static [&'static str] = &["INTO"];
    const WRITES_DATA: bool = true;

    fn parse(d: &mut TarnParser) -> Result<Self> {
        d.expect("INSERT")?;
        d.expect("INTO")?;
        let table = d.qualified_name()?;
        let mut columns = None;
        if d.p.peek_token().token == Token::LParen {
            // A column list, unless the parenthesis opens the query itself.
            d.p.next_token();
            let is_query = d.peek_is("SELECT") || d.peek_is("WITH") || d.peek_is("VALUES");
            d.p.prev_token();
            if !is_query {
                d.token(Token::LParen)?;
                columns = Some(
                    d.p.parse_comma_separated(|p| p.parse_identifier())?
                        .into_iter()
                        .map(|i| i.value.to_lowercase())
                        .collect(),
                );
                d.token(Token::RParen)?;
            }
        }
        let query = d.query(None, "SELECT or VALUES")?;
        Ok(InsertInto { table, columns, query })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        ctx.progress.reset();
        let table = ctx.table(&self.table).await?;
        match table.kind() {
            TableKind::View => {
                return Err(EngineError::invalid(
                    Part::ObjectKind,
                    format!("{} is a view; INSERT INTO writes to tables", table.qualified_name()),
                ));
            }
            TableKind::Delta => {
                let prepared = ctx.prepare_query(self.query.statement).await?;
                return Box::pin(ctx.insert_into_delta(table, self.columns.as_deref(), prepared)).await;
            }
            TableKind::Hive => {}
        }
        let prepared = ctx.prepare_query(self.query.statement).await?;
        let meter = Arc::clone(&prepared.meter);
        let staged = ctx
            .stage_insert(&table, prepared, self.columns.as_deref(), None)
            .await?;
        let written = staged.publish(ctx).await?;
        let message = format!("inserted into {}: {}", table.qualified_name(), written.describe());
        Ok(Outcome::written(message, written.rows, meter))
    }
}

/// `UNLOAD (query) TO 'location' WITH (...)`.
#[derive(Debug, Clone)]
pub(crate) struct Unload {
    pub(crate) query: EmbeddedQuery,
    pub(crate) location: String,
    pub(crate) properties: Vec<(String, PropValue)>,
}

impl Statement for Unload {
    const STARTS: &'static [&'static [&'static str]] = &[&["UNLOAD"]];
    const WORDS: &'static [&'static str] = &["TO", "WITH"];
    const WRITES_DATA: bool = true;

    fn parse(d: &mut TarnParser) -> Result<Self> {
        d.expect("UNLOAD")?;
        d.token(Token::LParen)?;
        let close = d.closing_paren()?;
        let query = d.query(Some(close), "a query")?;
        d.token(Token::RParen)?;
        d.expect("TO")?;
        let location = d.string()?;
        let properties = if d.eat("WITH") {
            d.write_properties()?
        } else {
            Vec::new()
        };
        d.end()?;
        Ok(Unload {
            query,
            location,
            properties,
        })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        ctx.progress.reset();
        let options = unload_options(&self.properties)?;
        let prepared = ctx.prepare_query(self.query.statement).await?;
        let (columns, partition_keys) = ctas_columns(&prepared.plan, &options)?;
        let location = Location::parse(&self.location)?;
        let store = ctx.registry.store_for(&location)?;
        ctx.prepare_target(&store, &location, &location, WriteStatement::Unload)
            .await?;
        let query_id = new_query_id();
        let log = WriteLog::start(
            Arc::clone(&store),
            &location,
            &location,
            &query_id,
            WriteStatement::Unload,
            None,
            None,
        )
        .await?;
        let shape = written_table(
            "unload",
            "unload",
            &location,
            &options.encoding,
            columns,
            partition_keys,
            &None,
        )?;
        let plan = cast_to_table(prepared.plan.clone(), &shape, None)?;
        let target = Target {
            store,
            spec: WriteSpec {
                location: location.clone(),
                encoding: options.encoding,
                partition_names: shape.partition_keys.iter().map(|p| p.name.clone()).collect(),
                bucketing: None,
                query_id,
                hidden: false,
                target_file_size: DEFAULT_TARGET_FILE_SIZE,
                file_names: None,
                record: None,
            },
        };
        let meter = Arc::clone(&prepared.meter);
        let files = match ctx.run_write(prepared, plan, target, &log).await {
            Ok(files) => files,
            Err(e) => {
                log.abort().await;
                return Err(e);
            }
        };
        log.finish().await?;
        let written = Written::of(files);
        let message = format!("unloaded {} to {}", written.describe(), location.url);
        Ok(Outcome::written(message, written.rows, meter))
    }
}
