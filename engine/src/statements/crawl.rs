//! `CRAWL 'url' [INTO db] [AS table] [DELETE MISSING] [DRY RUN]`: `tarn crawl` as a statement ([`crate::crawl`]).

use super::Statement;
use crate::context::Ctx;
use crate::crawl::{CrawlOptions, report_result};
use crate::error::Result;
use crate::parse::TarnParser;
use crate::result::Outcome;

pub(crate) struct Crawl {
    pub(crate) url: String,
    pub(crate) database: Option<String>,
    pub(crate) table: Option<String>,
    pub(crate) delete_missing: bool,
    pub(crate) dry_run: bool,
}

impl Statement for Crawl {
    const STARTS: &'static [&'static [&'static str]] = &[&["CRAWL"]];
    const WORDS: &'static [&'static str] = &["INTO", "AS", "DELETE", "MISSING", "DRY", "RUN"];

    fn parse(d: &mut TarnParser) -> Result<Self> {
        d.expect("CRAWL")?;
        let url = d.string()?;
        let database = if d.eat("INTO") { Some(d.name()?) } else { None };
        let table = if d.eat("AS") { Some(d.name()?) } else { None };
        let delete_missing = d.clause(&["DELETE", "MISSING"])?;
        let dry_run = d.clause(&["DRY", "RUN"])?;
        d.end()?;
        Ok(Self {
            url,
            database,
            table,
            delete_missing,
            dry_run,
        })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        let options = CrawlOptions {
            database: self.database.unwrap_or_else(|| ctx.database.clone()),
            table: self.table,
            dry_run: self.dry_run,
            delete_missing: self.delete_missing,
        };
        let report = Box::pin(ctx.crawl(&self.url, options)).await?;
        report_result(&report)
    }
}
