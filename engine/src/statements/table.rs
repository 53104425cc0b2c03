//! Tables: CREATE EXTERNAL TABLE (Athena's and DataFusion's forms, Delta tables too), DROP TABLE [PURGE], SHOW
//! TABLES, DESCRIBE [FORMATTED], SHOW CREATE TABLE.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::tokenizer::Token;
use tarn_catalog::{CatalogError, Table, TableKind};

use super::{NameFilter, Statement};
use crate::context::Ctx;
use crate::error::{EngineError, Part, Result};
use crate::parse::{QualifiedName, TarnParser, parse_create_external_table, qualified_name};
use crate::result::{Outcome, string_batch, string_schema};
use crate::storage::Location;

/// `CREATE EXTERNAL TABLE` over files that exist: Athena's (Hive's) form, or DataFusion's (`STORED AS CSV ...
/// OPTIONS (...)`); `STORED BY DELTA`/`TBLPROPERTIES ('table_type' = 'DELTA')` registers a Delta table.
pub(crate) enum CreateExternal {
    Athena(Box<crate::parse::CreateExternalTable>),
    DataFusion(Box<datafusion::sql::parser::CreateExternalTable>),
}

impl Statement for CreateExternal {
    const STARTS: &'static [&'static [&'static str]] = &[
        &["CREATE", "EXTERNAL", "TABLE"],
        &["CREATE", "OR", "REPLACE", "EXTERNAL"],
    ];
    const WORDS: &'static [&'static str] = &[
        "IF",
        "NOT",
        "EXISTS",
        "COMMENT",
        "PARTITIONED",
        "BY",
        "CLUSTERED",
        "INTO",
        "BUCKETS",
        "ROW",
        "FORMAT",
        "DELIMITED",
        "FIELDS",
        "TERMINATED",
        "ESCAPED",
        "LINES",
        "SERDE",
        "SERDEPROPERTIES",
        "STORED",
        "AS",
        "TEXTFILE",
        "PARQUET",
        "JSON",
        "LOCATION",
        "TBLPROPERTIES",
        "OPTIONS",
        "DELTA",
    ];

    fn parse(p: &mut TarnParser) -> Result<Self> {
        if p.is_datafusion_external_table() {
            match p.datafusion_statement()? {
                DFStatement::CreateExternalTable(c) => Ok(Self::DataFusion(Box::new(c))),
                _ => Err(EngineError::invalid(Part::Clause, "expected CREATE EXTERNAL TABLE")),
            }
        } else {
            parse_create_external_table(p).map(|c| Self::Athena(Box::new(c)))
        }
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        match self {
            Self::Athena(create) if crate::external_table::is_delta_ddl(&create) => {
                let location = create.location.clone().ok_or_else(|| {
                    EngineError::invalid(
                        Part::Clause,
                        "LOCATION is missing: give the folder that holds _delta_log/",
                    )
                })?;
                if !create.columns.is_empty() || !create.partitioned_by.is_empty() {
                    return Err(EngineError::invalid(
                        Part::Clause,
                        "a Delta table's columns and partitions come from its log: remove the column list and \
                         PARTITIONED BY",
                    ));
                }
                Box::pin(ctx.register_delta(create.name, &location, create.if_not_exists, create.comment)).await
            }
            Self::DataFusion(create)
                if matches!(create.file_type.to_ascii_uppercase().as_str(), "DELTA" | "DELTATABLE") =>
            {
                let name = qualified_name(&create.name)?;
                let [location] = create.locations.as_slice() else {
                    return Err(EngineError::invalid(Part::Clause, "give exactly one LOCATION"));
                };
                if !create.columns.is_empty() {
                    return Err(EngineError::invalid(
                        Part::Clause,
                        "a Delta table's columns come from its log: remove the column list",
                    ));
                }
                Box::pin(ctx.register_delta(name, location, create.if_not_exists, None)).await
            }
            Self::Athena(create) => {
                let (table, if_not_exists, discover) = ctx.athena_table(*create)?;
                ctx.create_table(table, if_not_exists, discover).await
            }
            Self::DataFusion(create) => {
                let (table, if_not_exists, discover) = ctx.datafusion_table(*create)?;
                ctx.create_table(table, if_not_exists, discover).await
            }
        }
    }
}

/// `DROP TABLE [IF EXISTS] t [PURGE]`: the entry goes; with PURGE, the files tarn wrote too.
pub(crate) struct DropTable {
    pub(crate) table: QualifiedName,
    pub(crate) if_exists: bool,
    pub(crate) purge: bool,
}

impl Statement for DropTable {
    const STARTS: &'static [&'static [&'static str]] = &[&["DROP", "TABLE"]];
    const TABLE_AFTER: &'static [&'static str] = &["TABLE"];
    const WORDS: &'static [&'static str] = &["IF", "EXISTS", "PURGE"];

    fn parse(d: &mut TarnParser) -> Result<Self> {
        d.expect("DROP")?;
        d.expect("TABLE")?;
        let if_exists = d.clause(&["IF", "EXISTS"])?;
        let table = d.qualified_name()?;
        let purge = d.eat("PURGE");
        d.end()?;
        Ok(Self {
            table,
            if_exists,
            purge,
        })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        let Self {
            table,
            if_exists,
            purge,
        } = self;
        let db = table.database.clone().unwrap_or_else(|| ctx.database.clone());
        if purge {
            return drop_table_purge(ctx, &db, &table.name, if_exists).await;
        }
        if let Some(view) = ctx.catalog.get_table(&db, &table.name).await?.filter(Table::is_view) {
            return Err(EngineError::invalid(
                Part::ObjectKind,
                format!("{} is a view; use DROP VIEW", view.qualified_name()),
            ));
        }
        let message = match ctx.catalog.drop_table(&db, &table.name).await {
            Ok(t) => format!(
                "dropped table {}; its files at {} were not touched",
                t.qualified_name(),
                t.storage.location
            ),
            Err(CatalogError::TableNotFound { .. }) if if_exists => {
                format!("table {db}.{} does not exist; nothing dropped", table.name)
            }
            Err(CatalogError::TableNotFound { .. }) => {
                return Err(ctx.table_not_found(&db, &table.name).await);
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Outcome::message(message))
    }
}

/// `DROP TABLE t PURGE`: only for tables tarn created (CTAS), and only the files tarn's writes made are deleted,
/// after the catalog entry is gone; anything else in the folder stays and is named.
async fn drop_table_purge(ctx: &Ctx, db: &str, name: &str, if_exists: bool) -> Result<Outcome> {
    let Some(table) = ctx.catalog.get_table(db, name).await? else {
        if if_exists {
            return Ok(Outcome::message(format!(
                "table {db}.{name} does not exist; nothing dropped"
            )));
        }
        return Err(ctx.table_not_found(db, name).await);
    };
    if !table
        .parameters
        .contains_key(crate::write::statements::QUERY_ID_PARAMETER)
    {
        return Err(EngineError::unsupported(
            format!("DROP TABLE {db}.{name} PURGE"),
            "tarn deletes only files it wrote, and this table was registered over existing files; DROP TABLE \
                 without PURGE removes the entry and keeps the data",
        ));
    }
    let location = Location::parse(&table.storage.location)?;
    let store = ctx.registry.store_for(&location)?;
    ctx.catalog.drop_table(db, name).await?;
    let (deleted, kept) = match table.kind() {
        TableKind::Delta => crate::write::commit::purge_delta_files(store.as_ref(), &location).await?,
        TableKind::Hive | TableKind::View => {
            crate::write::commit::purge_written_files(store.as_ref(), &location).await?
        }
    };
    // A table in a folder of its own under the warehouse: the table's folder also holds what killed runs of its
    // CTAS left, recorded there.
    let root = Location::parse(&format!("{}{db}.db/{name}/", ctx.warehouse.url))?;
    let own_folder = table
        .parameters
        .get(crate::write::statements::QUERY_ID_PARAMETER)
        .is_some_and(|id| location.url == format!("{}{id}/", root.url));
    if own_folder {
        ctx.recover(&store, &root).await?;
        crate::write::commit::remove_if_empty(&root, &location);
    }
    let mut message = format!(
        "dropped table {db}.{name} and deleted the {deleted} file{} tarn wrote at {}",
        if deleted == 1 { "" } else { "s" },
        location.url
    );
    if !kept.is_empty() {
        message.push_str(&format!(
            "; kept {} file{} tarn did not write (e.g. {})",
            kept.len(),
            if kept.len() == 1 { "" } else { "s" },
            kept[0]
        ));
    }
    Ok(Outcome::message(message))
}

/// `SHOW TABLES [IN db] [LIKE 'pattern']`.
pub(crate) struct ShowTables {
    pub(crate) database: Option<String>,
    pub(crate) pattern: Option<String>,
}

impl Statement for ShowTables {
    const READ_ONLY: bool = true;
    const STARTS: &'static [&'static [&'static str]] = &[&["SHOW", "TABLES"]];
    const WORDS: &'static [&'static str] = &["IN", "FROM", "LIKE"];

    fn parse(d: &mut TarnParser) -> Result<Self> {
        d.expect("SHOW")?;
        d.expect("TABLES")?;
        let database = if d.eat("IN") || d.eat("FROM") {
            Some(d.name()?)
        } else {
            None
        };
        d.eat("LIKE");
        let pattern = match d.p.peek_token().token {
            Token::SingleQuotedString(_) => Some(d.string()?),
            _ => None,
        };
        d.end()?;
        Ok(Self { database, pattern })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        let db = self.database.unwrap_or_else(|| ctx.database.clone());
        if ctx.catalog.get_database(&db).await?.is_none() {
            return Err(ctx.database_not_found(&db).await);
        }
        let filter = NameFilter::new(self.pattern.as_deref())?;
        let (tables, unreadable) = ctx.catalog.list_tables_lenient(&db).await?;
        let names: Vec<String> = tables
            .into_iter()
            .map(|t| t.name)
            .filter(|n| filter.matches(n))
            .collect();
        Ok(Outcome::strings(&["tab_name"], vec![names])?
            .with_notices(unreadable.iter().map(|e| format!("not listed: {e}")).collect()))
    }
}

/// `DESCRIBE t` (also `DESC`), and `DESCRIBE FORMATTED t` (also `EXTENDED`).
pub(crate) struct Describe {
    pub(crate) table: QualifiedName,
    pub(crate) formatted: bool,
}

impl Statement for Describe {
    const READ_ONLY: bool = true;
    const STARTS: &'static [&'static [&'static str]] = &[&["DESCRIBE"], &["DESC"]];
    const TABLE_AFTER: &'static [&'static str] = &["DESCRIBE", "FORMATTED"];
    const WORDS: &'static [&'static str] = &["FORMATTED", "EXTENDED"];

    fn parse(d: &mut TarnParser) -> Result<Self> {
        if !d.eat("DESCRIBE") {
            d.expect("DESC")?;
        }
        if d.peek_is("TABLE") {
            return Err(EngineError::invalid(
                Part::Clause,
                "DESCRIBE TABLE is not Athena syntax; write DESCRIBE name",
            ));
        }
        let formatted = d.eat("EXTENDED") || d.eat("FORMATTED");
        let table = d.qualified_name()?;
        d.end()?;
        Ok(Self { table, formatted })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        if self.formatted {
            return super::show::describe_formatted(ctx, &self.table).await;
        }
        let def = Box::pin(ctx.described_table(&self.table)).await?;
        let (schema, batches) = describe(&def)?;
        Ok(Outcome::listing(schema, batches))
    }
}

/// `SHOW CREATE TABLE t`: DDL that registers the same table (a view's gives CREATE VIEW).
pub(crate) struct ShowCreateTable {
    pub(crate) table: QualifiedName,
}

impl Statement for ShowCreateTable {
    const READ_ONLY: bool = true;
    const STARTS: &'static [&'static [&'static str]] = &[&["SHOW", "CREATE", "TABLE"]];
    const TABLE_AFTER: &'static [&'static str] = &["TABLE"];

    fn parse(d: &mut TarnParser) -> Result<Self> {
        d.expect("SHOW")?;
        d.expect("CREATE")?;
        d.expect("TABLE")?;
        let table = d.qualified_name()?;
        d.end()?;
        Ok(Self { table })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        let def = ctx.table(&self.table).await?;
        let ddl = match (&def.view_text, def.is_view()) {
            (Some(text), true) => crate::views::view_ddl(&def, text),
            _ => crate::write::statements::show_create_table(&def),
        };
        let lines: Vec<String> = ddl.lines().map(str::to_string).collect();
        Outcome::strings(&["createtab_stmt"], vec![lines])
    }
}

/// `DESCRIBE`: the columns, then the partition block as Athena (Hive) prints it.
fn describe(table: &Table) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    describe_listing(describe_rows(table))
}

/// `DESCRIBE`'s rows (DESCRIBE FORMATTED adds its blocks after them).
pub(crate) fn describe_rows(table: &Table) -> Vec<[String; 3]> {
    let row = |c: &tarn_catalog::Column| {
        [
            c.name.clone(),
            c.data_type.clone(),
            c.comment.clone().unwrap_or_default(),
        ]
    };
    let mut rows: Vec<[String; 3]> = table.storage.columns.iter().map(row).collect();
    if !table.partition_keys.is_empty() {
        rows.push(Default::default());
        rows.push(["# Partition Information".into(), String::new(), String::new()]);
        rows.push(["# col_name".into(), "data_type".into(), "comment".into()]);
        rows.push(Default::default());
        rows.extend(table.partition_keys.iter().map(row));
    }
    rows
}

/// Rows of `col_name`, `data_type`, `comment` as a listing.
pub(crate) fn describe_listing(rows: Vec<[String; 3]>) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let names = ["col_name", "data_type", "comment"];
    let columns = (0..3).map(|i| rows.iter().map(|r| r[i].clone()).collect()).collect();
    Ok((string_schema(&names), string_batch(&names, columns)?))
}
