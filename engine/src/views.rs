//! Views: a query stored in the catalog (Glue's `VIRTUAL_VIEW`) with the columns it returned when it was created.
//!
//! A view is expanded when a query names it: its text is planned again against the catalog as it is now, with its
//! unqualified table names resolved in the database that was current when it was created (as Trino does). Like
//! Athena, a view whose tables are gone or whose columns changed is "stale": the query fails and says how to
//! recreate it, instead of silently returning a different shape.

use datafusion::logical_expr::LogicalPlan;
use tarn_catalog::{Column, Table};

use crate::error::Result;
use crate::types::arrow_to_hive;

/// The table parameter holding the database a view's unqualified names refer to.
pub(crate) const VIEW_DATABASE: &str = "tarn.view.database";

/// A view's columns as Glue stores them: names and Hive types of the query's output.
pub(crate) fn output_columns(plan: &LogicalPlan) -> Result<Vec<Column>> {
    plan.schema()
        .fields()
        .iter()
        .map(|f| {
            let data_type = arrow_to_hive(f.data_type())?;
            Ok(Column {
                name: f.name().to_lowercase(),
                data_type,
                comment: None,
            })
        })
        .collect()
}

/// `SHOW CREATE VIEW`'s text: running it creates the same view.
pub(crate) fn view_ddl(view: &Table, text: &str) -> String {
    format!("CREATE VIEW {} AS\n{text}", view.qualified_name())
}
