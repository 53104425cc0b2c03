//! What the catalog holds about a table: SHOW PARTITIONS, SHOW COLUMNS, SHOW TBLPROPERTIES, SHOW TABLE VERSIONS,
//! DESCRIBE FORMATTED; and SHOW FUNCTIONS.

use datafusion::sql::sqlparser::tokenizer::Token;
use tarn_catalog::TableKind;

use super::Statement;
use super::table::{describe_listing, describe_rows};
use crate::context::Ctx;
use crate::error::{EngineError, Part, Result};
use crate::maintenance::column_signature;
use crate::parse::{QualifiedName, TarnParser};
use crate::result::Outcome;

/// `SHOW PARTITIONS t`.
pub(crate) struct ShowPartitions {
    pub(crate) table: QualifiedName,
}

impl Statement for ShowPartitions {
    const READ_ONLY: bool = true;
    const STARTS: &'static [&'static [&'static str]] = &[&["SHOW", "PARTITIONS"]];
    const TABLE_AFTER: &'static [&'static str] = &["PARTITIONS"];

    fn parse(p: &mut TarnParser) -> Result<Self> {
        Ok(Self {
            table: p.show_on_table(&["SHOW", "PARTITIONS"])?,
        })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        show_partitions(ctx, &self.table).await
    }
}

/// `SHOW COLUMNS {FROM|IN} t [{FROM|IN} db]`.
pub(crate) struct ShowColumns {
    pub(crate) table: QualifiedName,
}

impl Statement for ShowColumns {
    const READ_ONLY: bool = true;
    const STARTS: &'static [&'static [&'static str]] = &[&["SHOW", "COLUMNS"]];
    const TABLE_AFTER: &'static [&'static str] = &["FROM"];
    const WORDS: &'static [&'static str] = &["FROM"];

    fn parse(d: &mut TarnParser) -> Result<Self> {
        d.expect("SHOW")?;
        d.expect("COLUMNS")?;
        if !d.eat("FROM") {
            d.expect("IN")?;
        }
        let mut table = d.qualified_name()?;
        if d.eat("FROM") || d.eat("IN") {
            table.database = Some(d.name()?);
        }
        d.end()?;
        Ok(Self { table })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        show_columns(ctx, &self.table).await
    }
}

/// `SHOW TBLPROPERTIES t [('name')]`.
pub(crate) struct ShowTableProperties {
    pub(crate) table: QualifiedName,
    pub(crate) name: Option<String>,
}

impl Statement for ShowTableProperties {
    const READ_ONLY: bool = true;
    const STARTS: &'static [&'static [&'static str]] = &[&["SHOW", "TBLPROPERTIES"]];
    const TABLE_AFTER: &'static [&'static str] = &["TBLPROPERTIES"];

    fn parse(d: &mut TarnParser) -> Result<Self> {
        d.expect("SHOW")?;
        d.expect("TBLPROPERTIES")?;
        let table = d.qualified_name()?;
        let name = if d.consume(Token::LParen) {
            let name = d.string_or_word()?;
            d.token(Token::RParen)?;
            Some(name)
        } else {
            None
        };
        d.end()?;
        Ok(Self { table, name })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        show_table_properties(ctx, &self.table, self.name).await
    }
}

/// `SHOW FUNCTIONS [LIKE 'pattern']`: the functions queries can call, and whether each is a scalar, aggregate or
/// window function (Trino's `Function` and `Function Type` columns).
pub(crate) struct ShowFunctions {
    pub(crate) pattern: Option<String>,
}

impl Statement for ShowFunctions {
    const READ_ONLY: bool = true;
    const STARTS: &'static [&'static [&'static str]] = &[&["SHOW", "FUNCTIONS"]];
    const WORDS: &'static [&'static str] = &["LIKE"];

    fn parse(d: &mut TarnParser) -> Result<Self> {
        d.expect("SHOW")?;
        d.expect("FUNCTIONS")?;
        let pattern = d.like_pattern()?;
        d.end()?;
        Ok(Self { pattern })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        let filter = super::NameFilter::new(self.pattern.as_deref())?;
        let (names, kinds): (Vec<String>, Vec<String>) = ctx
            .functions()
            .into_iter()
            .filter(|(name, _)| filter.matches(name))
            .map(|(name, kind)| (name, kind.to_string()))
            .unzip();
        Outcome::strings(&["Function", "Function Type"], vec![names, kinds])
    }
}

/// `SHOW TABLE VERSIONS t`: the catalog's history of the definition.
pub(crate) struct ShowTableVersions {
    pub(crate) table: QualifiedName,
}

impl Statement for ShowTableVersions {
    const READ_ONLY: bool = true;
    const STARTS: &'static [&'static [&'static str]] = &[&["SHOW", "TABLE", "VERSIONS"]];
    const TABLE_AFTER: &'static [&'static str] = &["VERSIONS"];

    fn parse(p: &mut TarnParser) -> Result<Self> {
        Ok(Self {
            table: p.show_on_table(&["SHOW", "TABLE", "VERSIONS"])?,
        })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        show_table_versions(ctx, &self.table).await
    }
}

/// `SHOW PARTITIONS t`: the registered partitions as `k1=v1/k2=v2`, sorted.
async fn show_partitions(ctx: &Ctx, name: &QualifiedName) -> Result<Outcome> {
    let table = ctx.partitioned_table(name, "SHOW PARTITIONS").await?;
    let partitions = match ctx.catalog.partitions(&table).await?.partitions {
        Some(p) => p,
        None => ctx.discover_partitions(&table).await?.partitions,
    };
    let mut specs: Vec<String> = partitions.iter().map(|p| p.spec(&table.partition_keys)).collect();
    specs.sort();
    Outcome::strings(&["partition"], vec![specs])
}

/// `SHOW COLUMNS`: data columns, then partition keys, names only (as Athena).
async fn show_columns(ctx: &Ctx, name: &QualifiedName) -> Result<Outcome> {
    let table = ctx.described_table(name).await?;
    let names: Vec<String> = table.all_columns().map(|c| c.name.clone()).collect();
    Outcome::strings(&["field"], vec![names])
}

/// `SHOW TBLPROPERTIES t [('name')]`.
async fn show_table_properties(ctx: &Ctx, name: &QualifiedName, property: Option<String>) -> Result<Outcome> {
    let table = ctx.table(name).await?;
    let rows: Vec<(String, String)> = match property {
        Some(key) => match table.parameters.get(&key) {
            Some(value) => vec![(key, value.clone())],
            None => {
                return Err(EngineError::invalid(
                    Part::Property,
                    format!(
                        "table {} has no property '{key}' (SHOW TBLPROPERTIES {} lists them)",
                        table.qualified_name(),
                        table.qualified_name()
                    ),
                ));
            }
        },
        None => table.parameters.into_iter().collect(),
    };
    let (keys, values) = rows.into_iter().unzip();
    Outcome::strings(&["prpt_name", "prpt_value"], vec![keys, values])
}

/// `SHOW TABLE VERSIONS t`: every definition the catalog kept, newest first (Glue's `GetTableVersions`).
async fn show_table_versions(ctx: &Ctx, name: &QualifiedName) -> Result<Outcome> {
    let db = name.database.clone().unwrap_or_else(|| ctx.database.clone());
    let mut history = ctx.catalog.table_history(&db, &name.name).await?;
    if history.is_empty() {
        return Err(ctx.table_not_found(&db, &name.name).await);
    }
    history.reverse();
    let names = [
        "version",
        "operation",
        "committed_at",
        "columns",
        "partition_keys",
        "location",
    ];
    let mut columns: Vec<Vec<String>> = vec![Vec::new(); names.len()];
    for v in history {
        let (cols, keys, location) = match &v.table {
            Some(t) => (
                column_signature(&t.storage.columns),
                column_signature(&t.partition_keys),
                t.storage.location.clone(),
            ),
            None => Default::default(),
        };
        let row = [
            v.version.to_string(),
            v.operation,
            v.committed_at.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string(),
            cols,
            keys,
            location,
        ];
        for (column, value) in columns.iter_mut().zip(row) {
            column.push(value);
        }
    }
    Outcome::strings(&names, columns)
}

/// `DESCRIBE FORMATTED t`: the columns, then the detailed table information block Hive prints.
pub(super) async fn describe_formatted(ctx: &Ctx, name: &QualifiedName) -> Result<Outcome> {
    let table = ctx.described_table(name).await?;
    let mut rows: Vec<[String; 3]> = vec![["# col_name".into(), "data_type".into(), "comment".into()]];
    rows.extend(describe_rows(&table));
    let field = |k: &str, v: String| [format!("{k}:"), v, String::new()];
    rows.push(Default::default());
    rows.push(["# Detailed Table Information".into(), String::new(), String::new()]);
    rows.push(field("Database", table.database.clone()));
    rows.push(field("Table", table.name.clone()));
    rows.push(field("CreateTime", table.create_time.to_rfc2822()));
    rows.push(field("LastUpdateTime", table.update_time.to_rfc2822()));
    rows.push(field("Version", table.version.to_string()));
    rows.push(field("Location", table.storage.location.clone()));
    rows.push(field(
        "Table Type",
        if table.is_view() {
            "VIRTUAL_VIEW"
        } else {
            "EXTERNAL_TABLE"
        }
        .into(),
    ));
    if let Some(text) = &table.view_text {
        rows.push(field("View Original Text", text.clone()));
    }
    if !table.is_view() && table.kind() != TableKind::Delta {
        let partitions = ctx.catalog.partitions(&table).await?.partitions;
        if !table.partition_keys.is_empty() {
            rows.push(field(
                "Partitions",
                partitions
                    .map(|p| p.len().to_string())
                    .unwrap_or_else(|| "not registered (read from folders)".into()),
            ));
        }
    }
    rows.push(["Table Parameters:".into(), String::new(), String::new()]);
    rows.extend(
        table
            .parameters
            .iter()
            .map(|(k, v)| [String::new(), k.clone(), v.clone()]),
    );
    if !table.is_view() {
        rows.push(Default::default());
        rows.push(["# Storage Information".into(), String::new(), String::new()]);
        rows.push(field("SerDe Library", table.storage.serde.library.clone()));
        rows.push(field("InputFormat", table.storage.input_format.clone()));
        rows.push(field("OutputFormat", table.storage.output_format.clone()));
        let (buckets, bucket_columns) = match &table.storage.bucketing {
            Some(b) => (b.count.to_string(), format!("[{}]", b.columns.join(", "))),
            None => ("-1".into(), "[]".into()),
        };
        rows.push(field("Num Buckets", buckets));
        rows.push(field("Bucket Columns", bucket_columns));
        rows.push(["Storage Desc Params:".into(), String::new(), String::new()]);
        rows.extend(
            table
                .storage
                .serde
                .parameters
                .iter()
                .map(|(k, v)| [String::new(), k.clone(), v.clone()]),
        );
    }
    let (schema, batches) = describe_listing(rows)?;
    Ok(Outcome::listing(schema, batches))
}
