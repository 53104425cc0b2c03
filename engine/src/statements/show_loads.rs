//! `SHOW LOADS t [LIMIT n]`: the files `tarn ingest` loaded into a table (or could not), newest batch first, from the
//! table's load history (tarn-catalog's `loads`).

use chrono::SecondsFormat;
use tarn_catalog::LoadOutcome;

use super::Statement;
use crate::context::Ctx;
use crate::error::Result;
use crate::parse::{QualifiedName, TarnParser};
use crate::result::Outcome;

pub(crate) struct ShowLoads {
    pub(crate) table: QualifiedName,
    pub(crate) limit: Option<u64>,
}

impl Statement for ShowLoads {
    const READ_ONLY: bool = true;
    const STARTS: &'static [&'static [&'static str]] = &[&["SHOW", "LOADS"]];
    const WORDS: &'static [&'static str] = &["LIMIT"];
    const TABLE_AFTER: &'static [&'static str] = &["LOADS"];

    fn parse(d: &mut TarnParser) -> Result<Self> {
        d.expect("SHOW")?;
        d.expect("LOADS")?;
        let table = d.qualified_name()?;
        let limit = if d.peek_is("LIMIT") {
            d.expect("LIMIT")?;
            Some(d.p.parse_literal_uint()?)
        } else {
            None
        };
        d.end()?;
        Ok(Self { table, limit })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        let table = ctx.table(&self.table).await?;
        let log = ctx.catalog.load_log(&table);
        let mut numbers = log.batch_numbers().await?;
        numbers.reverse();
        let limit = self
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        let mut rows: Vec<[String; 9]> = Vec::new();
        // Batches are read a page at a time until the limit is reached: the history only grows.
        for page in numbers.chunks(64) {
            for batch in log.batches(page).await? {
                let when = |t: &chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
                let row = |file: &tarn_catalog::SourceFile,
                           status: &str,
                           rows: String,
                           at: String,
                           query: &str,
                           error: &str| {
                    [
                        batch.number.to_string(),
                        file.url.clone(),
                        file.size.to_string(),
                        status.to_string(),
                        rows,
                        at,
                        query.to_string(),
                        error.to_string(),
                        batch.claim.source.clone(),
                    ]
                };
                match &batch.outcome {
                    Some(LoadOutcome::Committed {
                        query_id,
                        rows: n,
                        loaded,
                        failed,
                        at,
                    }) => {
                        for f in loaded {
                            rows.push(row(f, "loaded", n.to_string(), when(at), query_id, ""));
                        }
                        for (f, reason) in failed {
                            rows.push(row(f, "failed", String::new(), when(at), "", reason));
                        }
                    }
                    Some(LoadOutcome::Aborted { reason, at }) => {
                        for f in &batch.claim.files {
                            rows.push(row(f, "aborted", String::new(), when(at), "", reason));
                        }
                    }
                    None => {
                        for f in &batch.claim.files {
                            rows.push(row(f, "running", String::new(), when(&batch.claim.claimed_at), "", ""));
                        }
                    }
                }
            }
            if rows.len() >= limit {
                break;
            }
        }
        rows.truncate(limit);
        let mut columns = vec![Vec::new(); 9];
        for row in rows {
            for (column, value) in columns.iter_mut().zip(row) {
                column.push(value);
            }
        }
        Outcome::strings(
            &[
                "batch",
                "file",
                "bytes",
                "status",
                "batch_rows",
                "at",
                "query_id",
                "error",
                "source",
            ],
            columns,
        )
    }
}
