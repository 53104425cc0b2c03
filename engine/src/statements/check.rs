//! `CHECK 'name' AS query`: a data-quality assertion in a script.

use datafusion::dataframe::DataFrame;

use super::Statement;
use crate::context::{Ctx, PreparedQuery};
use crate::error::{EngineError, Result};
use crate::parse::{EmbeddedQuery, TarnParser};
use crate::result::{Outcome, query_error};

/// Passes when the query returns a single `true`, or, for any other shape, no rows (the rows it returns are the
/// ones that break the rule). Billed like the query.
pub(crate) struct Check {
    pub(crate) name: String,
    pub(crate) query: EmbeddedQuery,
}

impl Statement for Check {
    const READ_ONLY: bool = true;
    const STARTS: &'static [&'static [&'static str]] = &[&["CHECK"]];

    fn parse(d: &mut TarnParser) -> Result<Self> {
        d.expect("CHECK")?;
        let name = d.string_or_word()?;
        d.expect("AS")?;
        let query = d.query(None, "a query after AS")?;
        Ok(Self { name, query })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        let Self { name, query } = self;
        let PreparedQuery {
            state,
            plan,
            meter,
            locations,
        } = ctx.prepare_query(query.statement).await?;
        let batches = DataFrame::new(state, plan)
            .collect()
            .await
            .map_err(|e| query_error(e, Some(&meter), &locations))?;
        match crate::result::check_verdict(&batches) {
            Ok(()) => Ok(Outcome::written(format!("check '{name}' passed"), 0, meter)),
            Err(detail) => Err(EngineError::CheckFailed { name, detail }),
        }
    }
}
