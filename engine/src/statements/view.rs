//! Views: CREATE [OR REPLACE] VIEW, DROP VIEW, SHOW VIEWS, SHOW CREATE VIEW (see [`crate::views`]).

use tarn_catalog::{CatalogError, Table};

use super::{NameFilter, Statement};
use crate::context::Ctx;
use crate::error::{EngineError, Part, Result};
use crate::parse::{EmbeddedQuery, QualifiedName, TarnParser};
use crate::result::Outcome;
use crate::views::{VIEW_DATABASE, output_columns, view_ddl};

/// `CREATE [OR REPLACE] VIEW v AS query`: the query is planned now, so a view that cannot run is refused.
pub(crate) struct CreateView {
    pub(crate) name: QualifiedName,
    pub(crate) or_replace: bool,
    pub(crate) query: EmbeddedQuery,
}

impl Statement for CreateView {
    const STARTS: &'static [&'static [&'static str]] = &[&["CREATE", "VIEW"], &["CREATE", "OR", "REPLACE", "VIEW"]];

    fn parse(d: &mut TarnParser) -> Result<Self> {
        d.expect("CREATE")?;
        let or_replace = d.clause(&["OR", "REPLACE"])?;
        d.expect("VIEW")?;
        let name = d.qualified_name()?;
        d.expect("AS")?;
        let query = d.query(None, "a query after AS")?;
        Ok(Self {
            name,
            or_replace,
            query,
        })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        let Self {
            name,
            or_replace,
            query,
        } = self;
        let db = name.database.clone().unwrap_or_else(|| ctx.database.clone());
        if ctx.catalog.get_database(&db).await?.is_none() {
            return Err(ctx.database_not_found(&db).await);
        }
        let mut view = Table::new_view(&db, &name.name, &query.text, Vec::new())?;
        let (plan, _) = Box::pin(ctx.plan_view_body(&ctx.database, query.statement, &[view.qualified_name()])).await?;
        view.storage.columns = output_columns(&plan)?;
        view.parameters.insert(VIEW_DATABASE.into(), ctx.database.clone());
        let existing = ctx.catalog.get_table(&db, &view.name).await?;
        let message = match existing {
            Some(old) if !old.is_view() => {
                return Err(EngineError::invalid(
                    Part::ObjectKind,
                    format!(
                        "{} is a table; CREATE OR REPLACE VIEW replaces only views (DROP TABLE it first, or pick another \
                     name)",
                        old.qualified_name()
                    ),
                ));
            }
            Some(old) if or_replace => {
                view.version = old.version;
                view.create_time = old.create_time;
                let updated = ctx.catalog.update_table(view, "REPLACE VIEW").await?;
                format!(
                    "replaced view {} (version {})",
                    updated.qualified_name(),
                    updated.version
                )
            }
            Some(old) => {
                return Err(CatalogError::TableExists {
                    database: old.database,
                    name: old.name,
                }
                .into());
            }
            None => {
                let created = ctx.catalog.create_table(view).await?;
                format!("created view {}", created.qualified_name())
            }
        };
        Ok(Outcome::message(message))
    }
}

pub(crate) struct DropView {
    pub(crate) name: QualifiedName,
    pub(crate) if_exists: bool,
}

impl Statement for DropView {
    const STARTS: &'static [&'static [&'static str]] = &[&["DROP", "VIEW"]];
    const TABLE_AFTER: &'static [&'static str] = &["VIEW"];

    fn parse(d: &mut TarnParser) -> Result<Self> {
        d.expect("DROP")?;
        d.expect("VIEW")?;
        let if_exists = d.clause(&["IF", "EXISTS"])?;
        let name = d.qualified_name()?;
        d.end()?;
        Ok(Self { name, if_exists })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        let Self { name, if_exists } = self;
        let db = name.database.clone().unwrap_or_else(|| ctx.database.clone());
        let message = match ctx.catalog.get_table(&db, &name.name).await? {
            Some(t) if !t.is_view() => {
                return Err(EngineError::invalid(
                    Part::ObjectKind,
                    format!("{} is a table, not a view; use DROP TABLE", t.qualified_name()),
                ));
            }
            Some(view) => {
                ctx.catalog.drop_table(&view.database, &view.name).await?;
                format!("dropped view {}", view.qualified_name())
            }
            None if if_exists => format!("view {db}.{} does not exist; nothing dropped", name.name),
            None => return Err(ctx.table_not_found(&db, &name.name).await),
        };
        Ok(Outcome::message(message))
    }
}

pub(crate) struct ShowViews {
    pub(crate) database: Option<String>,
    pub(crate) pattern: Option<String>,
}

impl Statement for ShowViews {
    const READ_ONLY: bool = true;
    const STARTS: &'static [&'static [&'static str]] = &[&["SHOW", "VIEWS"]];

    fn parse(d: &mut TarnParser) -> Result<Self> {
        d.expect("SHOW")?;
        d.expect("VIEWS")?;
        let database = if d.eat("IN") || d.eat("FROM") {
            Some(d.name()?)
        } else {
            None
        };
        let pattern = d.like_pattern()?;
        d.end()?;
        Ok(Self { database, pattern })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        let Self { database, pattern } = self;
        let pattern = pattern.as_deref();
        let db = database.unwrap_or_else(|| ctx.database.clone());
        if ctx.catalog.get_database(&db).await?.is_none() {
            return Err(ctx.database_not_found(&db).await);
        }
        let filter = NameFilter::new(pattern)?;
        let names: Vec<String> = ctx
            .catalog
            .list_tables(&db)
            .await?
            .into_iter()
            .filter(|t| t.is_view() && filter.matches(&t.name))
            .map(|t| t.name)
            .collect();
        Outcome::strings(&["views"], vec![names])
    }
}

pub(crate) struct ShowCreateView {
    pub(crate) name: QualifiedName,
}

impl Statement for ShowCreateView {
    const READ_ONLY: bool = true;
    const STARTS: &'static [&'static [&'static str]] = &[&["SHOW", "CREATE", "VIEW"]];
    const TABLE_AFTER: &'static [&'static str] = &["VIEW"];

    fn parse(d: &mut TarnParser) -> Result<Self> {
        d.expect("SHOW")?;
        d.expect("CREATE")?;
        d.expect("VIEW")?;
        let name = d.qualified_name()?;
        d.end()?;
        Ok(Self { name })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        let name = &self.name;
        let view = ctx.table(name).await?;
        let Some(text) = view.view_text.as_deref().filter(|_| view.is_view()) else {
            return Err(EngineError::invalid(
                Part::ObjectKind,
                format!(
                    "{} is a table, not a view; use SHOW CREATE TABLE",
                    view.qualified_name()
                ),
            ));
        };
        let lines: Vec<String> = view_ddl(&view, text).lines().map(str::to_string).collect();
        Outcome::strings(&["Create View"], vec![lines])
    }
}
