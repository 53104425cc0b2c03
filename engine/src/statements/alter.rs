//! Changing a table's registration: MSCK REPAIR TABLE and ALTER TABLE (ADD/DROP PARTITION, SET TBLPROPERTIES,
//! ADD COLUMNS). Partitions follow Glue's model (see [`crate::maintenance`]).

use std::collections::HashSet;

use datafusion::sql::sqlparser::tokenizer::Token;
use tarn_catalog::{Column, Partition, StorageFormat, TableKind, params};

use super::Statement;
use crate::context::Ctx;
use crate::error::{EngineError, Part, Result};
use crate::maintenance::{default_locations, spec_text, spec_values};
use crate::parse::{ColumnSpec, PartitionSpec, QualifiedName, TarnParser};
use crate::result::Outcome;
use crate::storage::Location;
use crate::table::{TarnTable, table_fields};
use crate::units::{counted, first_few};

/// `MSCK REPAIR TABLE t`: registers the partition folders that are not registered yet.
pub(crate) struct RepairTable {
    pub(crate) table: QualifiedName,
}

impl Statement for RepairTable {
    const STARTS: &'static [&'static [&'static str]] = &[&["MSCK"]];
    const WORDS: &'static [&'static str] = &["REPAIR", "TABLE"];
    const TABLE_AFTER: &'static [&'static str] = &["TABLE"];

    fn parse(d: &mut TarnParser) -> Result<Self> {
        d.expect("MSCK")?;
        d.expect("REPAIR")?;
        d.expect("TABLE")?;
        let table = d.qualified_name()?;
        d.end()?;
        Ok(Self { table })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        repair_table(ctx, &self.table).await
    }
}

/// `ALTER TABLE t ...`.
pub(crate) enum AlterTable {
    /// `ADD [IF NOT EXISTS] PARTITION (k = 'v', ...) [LOCATION '...'] [PARTITION ...]`.
    AddPartitions {
        table: QualifiedName,
        if_not_exists: bool,
        partitions: Vec<(PartitionSpec, Option<String>)>,
    },
    /// `DROP [IF EXISTS] PARTITION (...)[, PARTITION (...)]`.
    DropPartitions {
        table: QualifiedName,
        if_exists: bool,
        partitions: Vec<PartitionSpec>,
    },
    /// `SET TBLPROPERTIES ('k' = 'v', ...)`.
    SetTableProperties {
        table: QualifiedName,
        properties: Vec<(String, String)>,
    },
    /// `ADD COLUMNS (name type [COMMENT '...'], ...)`.
    AddColumns {
        table: QualifiedName,
        columns: Vec<ColumnSpec>,
    },
}

impl Statement for AlterTable {
    /// `ALTER` alone: ALTER VIEW and the like get ALTER TABLE's syntax error, not DataFusion's.
    const STARTS: &'static [&'static [&'static str]] = &[&["ALTER"]];
    const TABLE_AFTER: &'static [&'static str] = &["TABLE"];
    const WORDS: &'static [&'static str] = &[
        "ADD",
        "DROP",
        "IF",
        "NOT",
        "EXISTS",
        "PARTITION",
        "LOCATION",
        "SET",
        "TBLPROPERTIES",
        "COLUMNS",
        "TABLE",
    ];

    /// `ALTER TABLE t {ADD [IF NOT EXISTS] PARTITION ... | DROP [IF EXISTS] PARTITION ... | SET TBLPROPERTIES (...) |
    /// ADD COLUMNS (...)}`.
    fn parse(d: &mut TarnParser) -> Result<Self> {
        d.expect("ALTER")?;
        d.expect("TABLE")?;
        let table = d.qualified_name()?;
        let statement = if d.eat("ADD") {
            if d.eat("COLUMNS") {
                Self::AddColumns {
                    table,
                    columns: d.column_list()?,
                }
            } else {
                let if_not_exists = d.clause(&["IF", "NOT", "EXISTS"])?;
                let mut partitions = Vec::new();
                while d.peek_is("PARTITION") || partitions.is_empty() {
                    let spec = d.partition_spec()?;
                    let location = if d.eat("LOCATION") { Some(d.string()?) } else { None };
                    partitions.push((spec, location));
                }
                Self::AddPartitions {
                    table,
                    if_not_exists,
                    partitions,
                }
            }
        } else if d.eat("DROP") {
            let if_exists = d.clause(&["IF", "EXISTS"])?;
            let mut partitions = vec![d.partition_spec()?];
            while d.consume(Token::Comma) {
                partitions.push(d.partition_spec()?);
            }
            Self::DropPartitions {
                table,
                if_exists,
                partitions,
            }
        } else if d.eat("SET") {
            if d.peek_is("LOCATION") || d.peek_is("SERDEPROPERTIES") {
                return Err(EngineError::unsupported(
                    format!("ALTER TABLE ... SET {}", d.p.peek_token()),
                    "create the table again (SHOW CREATE TABLE gives its DDL) with the new setting",
                ));
            }
            d.expect("TBLPROPERTIES")?;
            Self::SetTableProperties {
                table,
                properties: d.properties()?,
            }
        } else {
            let next = d.p.peek_token().to_string();
            return Err(match next.to_ascii_uppercase().as_str() {
                "RENAME" | "REPLACE" | "CHANGE" | "PARTITION" => EngineError::unsupported(
                    format!("ALTER TABLE ... {next}"),
                    "tarn alters tables with ADD/DROP PARTITION, SET TBLPROPERTIES and ADD COLUMNS; for other changes \
                     create the table again from SHOW CREATE TABLE's DDL",
                ),
                _ => return d.error("ADD PARTITION, DROP PARTITION, SET TBLPROPERTIES or ADD COLUMNS"),
            });
        };
        d.end()?;
        Ok(statement)
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        match self {
            Self::AddPartitions {
                table,
                if_not_exists,
                partitions,
            } => add_partitions(ctx, &table, if_not_exists, partitions).await,
            Self::DropPartitions {
                table,
                if_exists,
                partitions,
            } => drop_partitions(ctx, &table, if_exists, partitions).await,
            Self::SetTableProperties { table, properties } => set_table_properties(ctx, &table, properties).await,
            Self::AddColumns { table, columns } => add_columns(ctx, &table, columns).await,
        }
    }
}

/// `MSCK REPAIR TABLE t`: registers the `key=value` folders that are not registered yet. Like Athena, it never
/// removes a partition; it names registered partitions whose folder is gone.
async fn repair_table(ctx: &Ctx, name: &QualifiedName) -> Result<Outcome> {
    let table = ctx.partitioned_table(name, "MSCK REPAIR TABLE").await?;
    let discovered = ctx.discover_partitions(&table).await?;
    let defaults = default_locations(&table)?;
    let (added, total, missing) = ctx
        .change_partitions(&table, "MSCK REPAIR TABLE", false, |current| {
            let known: HashSet<Vec<String>> = current.iter().map(|p| p.values.clone()).collect();
            let added: Vec<Partition> = discovered
                .partitions
                .iter()
                .filter(|p| !known.contains(&p.values))
                .cloned()
                .collect();
            let found: HashSet<&Vec<String>> = discovered.partitions.iter().map(|p| &p.values).collect();
            let missing: Vec<String> = current
                .iter()
                .filter(|p| !found.contains(&p.values) && defaults.is_default(p))
                .map(|p| p.spec(&table.partition_keys))
                .collect();
            let specs: Vec<String> = added.iter().map(|p| p.spec(&table.partition_keys)).collect();
            current.extend(added);
            Ok((!specs.is_empty(), (specs, current.len(), missing)))
        })
        .await?;
    let message = if added.is_empty() {
        format!("{}: no new partitions; {total} registered", table.qualified_name())
    } else {
        format!(
            "{}: added {} ({}); {total} registered",
            table.qualified_name(),
            counted(added.len(), "partition"),
            first_few(&added)
        )
    };
    let mut notices = Vec::new();
    if !discovered.refused.is_empty() {
        notices.push(format!(
            "{} not registered: {}",
            counted(discovered.refused.len(), "folder"),
            first_few(&discovered.refused)
        ));
    }
    if !missing.is_empty() {
        notices.push(format!(
            "Partitions missing from filesystem: {} (ALTER TABLE {} DROP PARTITION (...) removes them)",
            first_few(&missing),
            table.qualified_name()
        ));
    }
    Ok(Outcome::message(message).with_notices(notices))
}

/// `ALTER TABLE t ADD [IF NOT EXISTS] PARTITION (...) [LOCATION '...'] ...`: all or nothing.
async fn add_partitions(
    ctx: &Ctx,
    name: &QualifiedName,
    if_not_exists: bool,
    specs: Vec<(PartitionSpec, Option<String>)>,
) -> Result<Outcome> {
    let table = ctx.partitioned_table(name, "ALTER TABLE ADD PARTITION").await?;
    let table_location = Location::parse(&table.storage.location)?;
    let (_, fields) = table_fields(&table)?;
    let defaults = default_locations(&table)?;
    let mut new: Vec<Partition> = Vec::new();
    for (spec, location) in specs {
        let values = spec_values(&table, &fields, &spec)?;
        let location = match location {
            None => defaults.location(&values),
            Some(text) => {
                table_location.folder_path(&text)?;
                Location::parse(&text)?.url
            }
        };
        if new.iter().any(|p| p.values == values) {
            return Err(EngineError::invalid(
                Part::Property,
                format!(
                    "PARTITION ({}) is given twice",
                    spec_text(&table.partition_keys, &values)
                ),
            ));
        }
        new.push(Partition::new(values, &location));
    }
    // Check that the partitions can be read before registering them.
    TarnTable::try_new(table.clone())?.with_partitions(Some(new.clone()))?;
    let (added, existing) = ctx
        .change_partitions(&table, "ADD PARTITION", true, |current| {
            let known: HashSet<Vec<String>> = current.iter().map(|p| p.values.clone()).collect();
            let (existing, added): (Vec<&Partition>, Vec<&Partition>) =
                new.iter().partition(|p| known.contains(&p.values));
            if let Some(first) = existing.first()
                && !if_not_exists
            {
                return Err(EngineError::invalid(
                    Part::Clause,
                    format!(
                        "Partition already exists: {} in {}; nothing was added (ADD IF NOT EXISTS skips existing \
                     partitions)",
                        first.spec(&table.partition_keys),
                        table.qualified_name()
                    ),
                ));
            }
            let report = (
                added.iter().map(|p| p.spec(&table.partition_keys)).collect::<Vec<_>>(),
                existing.len(),
            );
            current.extend(added.into_iter().cloned());
            Ok((!report.0.is_empty(), report))
        })
        .await?;
    let mut message = if added.is_empty() {
        format!("{}: nothing added", table.qualified_name())
    } else {
        format!(
            "{}: added {} ({})",
            table.qualified_name(),
            counted(added.len(), "partition"),
            first_few(&added)
        )
    };
    if existing > 0 {
        message.push_str(&format!("; {} already existed", counted(existing, "partition")));
    }
    Ok(Outcome::message(message))
}

/// `ALTER TABLE t DROP [IF EXISTS] PARTITION (...), ...`: removes catalog entries; files stay.
async fn drop_partitions(
    ctx: &Ctx,
    name: &QualifiedName,
    if_exists: bool,
    specs: Vec<PartitionSpec>,
) -> Result<Outcome> {
    let table = ctx.partitioned_table(name, "ALTER TABLE DROP PARTITION").await?;
    let (_, fields) = table_fields(&table)?;
    let targets: Vec<Vec<String>> = specs
        .iter()
        .map(|spec| spec_values(&table, &fields, spec))
        .collect::<Result<_>>()?;
    let dropped = ctx
        .change_partitions(&table, "DROP PARTITION", true, |current| {
            let mut dropped = Vec::new();
            for values in &targets {
                match current.iter().position(|p| &p.values == values) {
                    Some(i) => dropped.push(current.remove(i).spec(&table.partition_keys)),
                    None if if_exists => {}
                    None => {
                        return Err(EngineError::invalid(
                            Part::Clause,
                            format!(
                                "partition ({}) is not registered in {}; nothing was dropped (SHOW PARTITIONS {} \
                             lists them; DROP IF EXISTS skips missing ones)",
                                spec_text(&table.partition_keys, values),
                                table.qualified_name(),
                                table.qualified_name()
                            ),
                        ));
                    }
                }
            }
            Ok((!dropped.is_empty(), dropped))
        })
        .await?;
    let message = if dropped.is_empty() {
        format!("{}: nothing dropped", table.qualified_name())
    } else {
        format!(
            "{}: dropped {} ({}); their files were not touched",
            table.qualified_name(),
            counted(dropped.len(), "partition"),
            first_few(&dropped)
        )
    };
    Ok(Outcome::message(message))
}

/// `ALTER TABLE t SET TBLPROPERTIES (...)`: a new table version; the previous one stays in the history.
async fn set_table_properties(ctx: &Ctx, name: &QualifiedName, properties: Vec<(String, String)>) -> Result<Outcome> {
    let mut table = ctx.table(name).await?;
    if table.is_view() {
        return Err(EngineError::invalid(
            Part::ObjectKind,
            format!("{} is a view; views have no table properties", table.qualified_name()),
        ));
    }
    let keys: Vec<String> = properties.iter().map(|(k, _)| k.clone()).collect();
    for (key, value) in properties {
        table.parameters.insert(key, value);
    }
    // A property tarn reads (a delimiter, compression, header lines) must still make a readable table.
    if table.kind() != TableKind::Delta {
        TarnTable::try_new(table.clone())?;
    }
    let updated = ctx.catalog.update_table(table, "SET TBLPROPERTIES").await?;
    Ok(Outcome::message(format!(
        "{}: set {} (table version {})",
        updated.qualified_name(),
        keys.join(", "),
        updated.version
    )))
}

/// `ALTER TABLE t ADD COLUMNS (...)`: new data columns at the end (files without them read NULL).
async fn add_columns(ctx: &Ctx, name: &QualifiedName, columns: Vec<ColumnSpec>) -> Result<Outcome> {
    let mut table = ctx.table(name).await?;
    if table.is_view() || table.kind() == TableKind::Delta {
        return Err(EngineError::unsupported(
            format!("ALTER TABLE ADD COLUMNS on {}", table.qualified_name()),
            if table.is_view() {
                "it is a view; CREATE OR REPLACE VIEW changes its columns"
            } else {
                "a Delta table's columns come from its log"
            },
        ));
    }
    let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    for spec in columns {
        let mut column = Column::new(&spec.name, spec.data_type.to_lowercase())?;
        column.comment = spec.comment;
        crate::types::hive_to_arrow(&column.data_type)
            .map_err(|e| EngineError::invalid(Part::Column, format!("column '{}': {e}", column.name)))?;
        table.storage.columns.push(column);
    }
    if table.storage.format == StorageFormat::Text {
        table.parameters.insert(params::PAD_SHORT_ROWS.into(), "true".into());
    }
    table.validate()?;
    TarnTable::try_new(table.clone())?;
    let updated = ctx.catalog.update_table(table, "ADD COLUMNS").await?;
    Ok(Outcome::message(format!(
        "{}: added {} ({}) (table version {})",
        updated.qualified_name(),
        counted(names.len(), "column"),
        names.join(", "),
        updated.version
    )))
}
