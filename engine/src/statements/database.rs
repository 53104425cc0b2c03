//! Databases: CREATE DATABASE, DROP DATABASE, SHOW DATABASES, USE.

use tarn_catalog::{CatalogError, DEFAULT_DATABASE, Database};

use super::{NameFilter, Statement};
use crate::context::Ctx;
use crate::error::Result;
use crate::parse::{TarnParser, qualified_name};
use crate::result::Outcome;
use crate::storage::Location;

/// `CREATE {DATABASE|SCHEMA} [IF NOT EXISTS] name [COMMENT '...'] [LOCATION '...'] [WITH DBPROPERTIES (...)]`.
pub(crate) struct CreateDatabase {
    pub(crate) name: String,
    pub(crate) if_not_exists: bool,
    pub(crate) comment: Option<String>,
    pub(crate) location: Option<String>,
    pub(crate) properties: Vec<(String, String)>,
}

impl Statement for CreateDatabase {
    const STARTS: &'static [&'static [&'static str]] = &[&["CREATE", "DATABASE"], &["CREATE", "SCHEMA"]];
    const WORDS: &'static [&'static str] = &["IF", "NOT", "EXISTS", "COMMENT", "LOCATION", "WITH", "DBPROPERTIES"];

    fn parse(d: &mut TarnParser) -> Result<Self> {
        d.expect("CREATE")?;
        if !d.eat("DATABASE") {
            d.expect("SCHEMA")?;
        }
        let if_not_exists = d.clause(&["IF", "NOT", "EXISTS"])?;
        let name = d.name()?;
        let (mut comment, mut location, mut properties) = (None, None, Vec::new());
        loop {
            if d.eat("COMMENT") {
                comment = Some(d.string()?);
            } else if d.eat("LOCATION") {
                location = Some(d.string()?);
            } else if d.clause(&["WITH", "DBPROPERTIES"])? {
                properties = d.properties()?;
            } else {
                break;
            }
        }
        d.end()?;
        Ok(Self {
            name,
            if_not_exists,
            comment,
            location,
            properties,
        })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        let mut db = Database::new(&self.name)?;
        db.description = self.comment;
        db.location_uri = self.location.map(|l| Location::parse(&l).map(|l| l.url)).transpose()?;
        db.parameters = self.properties.into_iter().collect();
        let message = match ctx.catalog.create_database(db).await {
            Ok(db) => format!("created database {}", db.name),
            Err(CatalogError::DatabaseExists { name }) if self.if_not_exists => {
                format!("database {name} already exists; nothing changed")
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Outcome::message(message))
    }
}

/// `DROP {DATABASE|SCHEMA} [IF EXISTS] name [CASCADE|RESTRICT]`: the tables' entries go, their files stay.
pub(crate) struct DropDatabase {
    pub(crate) name: String,
    pub(crate) if_exists: bool,
    pub(crate) cascade: bool,
}

impl Statement for DropDatabase {
    const STARTS: &'static [&'static [&'static str]] = &[&["DROP", "DATABASE"], &["DROP", "SCHEMA"]];
    const WORDS: &'static [&'static str] = &["IF", "EXISTS", "CASCADE", "RESTRICT"];

    fn parse(d: &mut TarnParser) -> Result<Self> {
        d.expect("DROP")?;
        if !d.eat("DATABASE") {
            d.expect("SCHEMA")?;
        }
        let if_exists = d.clause(&["IF", "EXISTS"])?;
        let name = d.name()?;
        let cascade = if d.eat("CASCADE") {
            true
        } else {
            d.eat("RESTRICT");
            false
        };
        d.end()?;
        Ok(Self {
            name,
            if_exists,
            cascade,
        })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        let name = self.name;
        let message = match ctx.catalog.drop_database(&name, self.cascade).await {
            Ok(tables) if tables.is_empty() => format!("dropped database {name}"),
            Ok(tables) => format!(
                "dropped database {name} and its {} table(s); their data files were not touched",
                tables.len()
            ),
            Err(CatalogError::DatabaseNotFound { .. }) if self.if_exists => {
                format!("database {name} does not exist; nothing dropped")
            }
            Err(CatalogError::DatabaseNotFound { name }) => return Err(ctx.database_not_found(&name).await),
            Err(e) => return Err(e.into()),
        };
        if ctx.database == name {
            ctx.set_database(DEFAULT_DATABASE);
        }
        Ok(Outcome::message(message))
    }
}

/// `SHOW {DATABASES|SCHEMAS} [LIKE 'pattern']`.
pub(crate) struct ShowDatabases {
    pub(crate) pattern: Option<String>,
}

impl Statement for ShowDatabases {
    const READ_ONLY: bool = true;
    const STARTS: &'static [&'static [&'static str]] = &[&["SHOW", "DATABASES"], &["SHOW", "SCHEMAS"]];
    const WORDS: &'static [&'static str] = &["LIKE"];

    fn parse(d: &mut TarnParser) -> Result<Self> {
        d.expect("SHOW")?;
        if !d.eat("DATABASES") {
            d.expect("SCHEMAS")?;
        }
        let pattern = d.like_pattern()?;
        d.end()?;
        Ok(Self { pattern })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        let filter = NameFilter::new(self.pattern.as_deref())?;
        let names: Vec<String> = ctx
            .catalog
            .list_databases()
            .await?
            .into_iter()
            .map(|d| d.name)
            .filter(|n| filter.matches(n))
            .collect();
        Outcome::strings(&["database_name"], vec![names])
    }
}

/// `USE db` (also `USE awsdatacatalog.db`).
pub(crate) struct Use {
    pub(crate) database: String,
}

impl Statement for Use {
    const READ_ONLY: bool = true;
    const STARTS: &'static [&'static [&'static str]] = &[&["USE"]];

    fn parse(d: &mut TarnParser) -> Result<Self> {
        d.expect("USE")?;
        let mut name = d.p.parse_object_name(false)?;
        // `USE awsdatacatalog.db` names the catalog too.
        if name.0.len() == 2 {
            name.0.remove(0);
        }
        let database = qualified_name(&name)?.name;
        d.end()?;
        Ok(Self { database })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        ctx.use_database(&self.database).await?;
        Ok(Outcome::message(format!("using database {}", self.database)))
    }
}
