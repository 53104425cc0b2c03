//! Parquet column names matched case-insensitively, as Athena (Hive) matches them.
//!
//! The catalog stores lower-case names, like Glue; files written by Spark or pandas keep `HouseholdID`. DataFusion
//! maps table columns to file columns by exact name, so without this such a column would silently read as NULL.
//! Each file gets the default adapter, with table column references renamed to the file's spelling first.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr_adapter::{
    DefaultPhysicalExprAdapterFactory, PhysicalExprAdapter, PhysicalExprAdapterFactory,
};

#[derive(Debug, Default)]
pub struct CaseInsensitiveColumns;

impl PhysicalExprAdapterFactory for CaseInsensitiveColumns {
    fn create(&self, logical: SchemaRef, physical: SchemaRef) -> Result<Arc<dyn PhysicalExprAdapter>> {
        let renames = file_spellings(&logical, &physical);
        if renames.is_empty() {
            return DefaultPhysicalExprAdapterFactory.create(logical, physical);
        }
        let renamed_fields: Vec<Field> = logical
            .fields()
            .iter()
            .map(|f| match renames.get(f.name()) {
                Some(name) => f.as_ref().clone().with_name(name),
                None => f.as_ref().clone(),
            })
            .collect();
        let logical = Arc::new(Schema::new_with_metadata(renamed_fields, logical.metadata().clone()));
        Ok(Arc::new(RenamingAdapter {
            renames,
            inner: DefaultPhysicalExprAdapterFactory.create(logical, physical)?,
        }))
    }
}

/// Table column name → the file's spelling, for columns the file has under another case only. A name the file
/// spells two ways (`id` and `ID`) is left alone rather than guessed.
fn file_spellings(logical: &Schema, physical: &Schema) -> HashMap<String, String> {
    let mut renames = HashMap::new();
    for field in logical.fields() {
        if physical.field_with_name(field.name()).is_ok() {
            continue;
        }
        let mut matches = physical
            .fields()
            .iter()
            .filter(|p| p.name().eq_ignore_ascii_case(field.name()));
        if let (Some(only), None) = (matches.next(), matches.next()) {
            renames.insert(field.name().clone(), only.name().clone());
        }
    }
    renames
}

#[derive(Debug)]
struct RenamingAdapter {
    renames: HashMap<String, String>,
    inner: Arc<dyn PhysicalExprAdapter>,
}

impl PhysicalExprAdapter for RenamingAdapter {
    fn rewrite(&self, expr: Arc<dyn PhysicalExpr>) -> Result<Arc<dyn PhysicalExpr>> {
        let renamed = expr
            .transform(|e| {
                let replacement = e
                    .downcast_ref::<Column>()
                    .and_then(|c| self.renames.get(c.name()).map(|name| Column::new(name, c.index())));
                Ok(match replacement {
                    Some(column) => Transformed::yes(Arc::new(column) as Arc<dyn PhysicalExpr>),
                    None => Transformed::no(e),
                })
            })?
            .data;
        self.inner.rewrite(renamed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::DataType;

    #[test]
    fn only_unambiguous_case_variants_are_renamed() {
        let logical = Schema::new(vec![
            Field::new("householdid", DataType::Int64, true),
            Field::new("state", DataType::Utf8, true),
            Field::new("id", DataType::Int64, true),
            Field::new("missing", DataType::Int64, true),
        ]);
        let physical = Schema::new(vec![
            Field::new("HouseholdID", DataType::Int64, true),
            Field::new("state", DataType::Utf8, true),
            Field::new("Id", DataType::Int64, true),
            Field::new("ID", DataType::Int64, true),
        ]);
        let renames = file_spellings(&logical, &physical);
        assert_eq!(renames.len(), 1);
        assert_eq!(renames.get("householdid").map(String::as_str), Some("HouseholdID"));
    }
}
