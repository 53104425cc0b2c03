//! `SHOW SESSION [LIKE 'pattern']`: tarn's settings, their values now and by default, with Trino's columns (`Name`,
//! `Value`, `Default`, `Type`, `Description`). `SET` changes them.

use super::{NameFilter, Statement};
use crate::context::{Ctx, MAX_SCAN_SETTING, MEMORY_LIMIT_SETTING, TEXT_STRICT_SETTING};
use crate::delta::RETENTION_CHECK_SETTING;
use crate::error::Result;
use crate::parse::TarnParser;
use crate::result::Outcome;
use crate::units::format_bytes;
use crate::write::DEFAULT_MEMORY_LIMIT;

pub(crate) struct ShowSession {
    pub(crate) pattern: Option<String>,
}

impl Statement for ShowSession {
    const READ_ONLY: bool = true;
    const STARTS: &'static [&'static [&'static str]] = &[&["SHOW", "SESSION"]];
    const WORDS: &'static [&'static str] = &["LIKE"];

    fn parse(d: &mut TarnParser) -> Result<Self> {
        d.expect("SHOW")?;
        d.expect("SESSION")?;
        let pattern = d.like_pattern()?;
        d.end()?;
        Ok(Self { pattern })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        let s = &ctx.settings;
        let settings = [
            [
                MAX_SCAN_SETTING.to_string(),
                s.max_scan.map(format_bytes).unwrap_or_else(|| "off".into()),
                "off".into(),
                "size".into(),
                "a query that reads more than this is cancelled".into(),
            ],
            [
                MEMORY_LIMIT_SETTING.to_string(),
                format_bytes(s.memory_limit as u64),
                format_bytes(DEFAULT_MEMORY_LIMIT as u64),
                "size".into(),
                "memory queries use before sorts and aggregations spill to disk".into(),
            ],
            [
                TEXT_STRICT_SETTING.to_string(),
                s.text_strict.to_string(),
                "false".into(),
                "boolean".into(),
                "a text value that is not of its column's type fails the query instead of reading as NULL".into(),
            ],
            [
                RETENTION_CHECK_SETTING.to_string(),
                s.delta_retention_check.to_string(),
                "true".into(),
                "boolean".into(),
                "VACUUM refuses a retention below the Delta table's minimum".into(),
            ],
            [
                crate::compaction::GRACE_SETTING.to_string(),
                crate::compaction::format_grace(s.optimize_grace),
                crate::compaction::format_grace(crate::compaction::DEFAULT_GRACE),
                "duration".into(),
                "OPTIMIZE of a Hive table deletes the files an earlier compaction replaced once this long has passed"
                    .into(),
            ],
            [
                crate::cluster::WORKERS_SETTING.to_string(),
                s.workers
                    .iter()
                    .map(|w| w.as_str().trim_end_matches('/'))
                    .collect::<Vec<_>>()
                    .join(","),
                "".into(),
                "list".into(),
                "workers (http://host:port, comma-separated) that run queries' stages; empty: this process".into(),
            ],
        ];
        let filter = NameFilter::new(self.pattern.as_deref())?;
        let mut columns = vec![Vec::new(); 5];
        for row in settings.into_iter().filter(|r| filter.matches(&r[0])) {
            for (column, value) in columns.iter_mut().zip(row) {
                column.push(value);
            }
        }
        Outcome::strings(&["Name", "Value", "Default", "Type", "Description"], columns)
    }
}
