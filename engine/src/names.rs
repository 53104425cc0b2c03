//! Names and values as statements write them: `db.table` names, time travel's version, property values. A leaf
//! that the parser, the catalog context and the statements all use.

use chrono::{DateTime, Utc};
use datafusion::sql::sqlparser::ast::ObjectName;

use crate::error::{EngineError, Part, Result};

/// Athena's name for the Glue catalog; `awsdatacatalog.db.table` works as in Athena.
pub const CATALOG_NAME: &str = "awsdatacatalog";

/// A name as written, split into its parts (`db.table`, `"db"."table"`), lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualifiedName {
    pub database: Option<String>,
    pub name: String,
}

impl std::fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.database {
            Some(db) => write!(f, "{db}.{}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

/// Splits `db.table` / `awsdatacatalog.db.table` into a [`QualifiedName`].
pub fn qualified_name(name: &ObjectName) -> Result<QualifiedName> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| {
            p.as_ident()
                .map(|i| i.value.to_lowercase())
                .ok_or_else(|| EngineError::invalid(Part::Name, format!("'{name}' is not a plain name")))
        })
        .collect::<Result<_>>()?;
    match parts.as_slice() {
        [table] => Ok(QualifiedName {
            database: None,
            name: table.clone(),
        }),
        [db, table] => Ok(QualifiedName {
            database: Some(db.clone()),
            name: table.clone(),
        }),
        [catalog, db, table] if catalog == CATALOG_NAME => Ok(QualifiedName {
            database: Some(db.clone()),
            name: table.clone(),
        }),
        _ => Err(EngineError::invalid(
            Part::Name,
            format!(
                "'{name}' is not a valid name; write table, db.table or {}.db.table",
                CATALOG_NAME
            ),
        )),
    }
}

/// Which version of a table a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    Latest,
    Version(u64),
    Timestamp(DateTime<Utc>),
}

impl AsOf {
    /// The suffix tarn gives a table name for `FOR VERSION AS OF` (names cannot contain `@`, so it cannot clash).
    pub(crate) fn suffix(&self) -> String {
        match self {
            AsOf::Latest => String::new(),
            AsOf::Version(v) => format!("@v{v}"),
            AsOf::Timestamp(t) => format!("@t{}", t.timestamp_micros()),
        }
    }

    /// Splits `name@v3` into the name and the version it asks for.
    pub(crate) fn split(name: &str) -> Result<(&str, AsOf)> {
        let Some((base, spec)) = name.split_once('@') else {
            return Ok((name, AsOf::Latest));
        };
        let bad = || EngineError::invalid(Part::Name, format!("'{name}' is not a table name"));
        let as_of = if let Some(v) = spec.strip_prefix('v') {
            AsOf::Version(v.parse().map_err(|_| bad())?)
        } else if let Some(t) = spec.strip_prefix('t') {
            AsOf::Timestamp(DateTime::from_timestamp_micros(t.parse().map_err(|_| bad())?).ok_or_else(bad)?)
        } else {
            return Err(bad());
        };
        Ok((base, as_of))
    }
}

/// A property value as written: `'text'`, `42`, `true`, `ARRAY['a', 'b']`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropValue {
    Text(String),
    Number(String),
    Bool(bool),
    Array(Vec<String>),
}

impl PropValue {
    pub(crate) fn describe(&self) -> String {
        match self {
            PropValue::Text(t) => format!("'{t}'"),
            PropValue::Number(n) => n.clone(),
            PropValue::Bool(b) => b.to_string(),
            PropValue::Array(a) => format!(
                "ARRAY[{}]",
                a.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

/// A timestamp literal in the session zone, UTC: `2026-01-01 00:00:00[.fff]`, ISO 8601 with an offset, or a date.
pub(crate) fn parse_utc(text: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(Utc.from_utc_datetime(&t));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN)));
    }
    Err(EngineError::invalid(
        crate::error::Part::Clause,
        format!("'{text}' is not a timestamp; write FOR TIMESTAMP AS OF '2026-01-01 00:00:00' (UTC)"),
    ))
}
