//! Parquet column names matched case-insensitively, as Athena (Hive) matches them.
//!
//! The catalog stores lower-case names, like Glue; files written by Spark or pandas keep `HouseholdID`. DataFusion
//! maps table columns to file columns by exact name, so without this such a column would silently read as NULL.
//! Each file gets the default adapter, with table column references renamed to the file's spelling first.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
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
        check_types(&logical, &physical, &renames)?;
        if renames.is_empty() {
            return DefaultPhysicalExprAdapterFactory.create(logical, physical);
        }
        let logical = Arc::new(respelled(&logical, &renames));
        Ok(Arc::new(RenamingAdapter {
            renames,
            inner: DefaultPhysicalExprAdapterFactory.create(logical, physical)?,
        }))
    }
}

/// The table's columns as the file spells them (see [`file_spellings`]); the scan and the planner's statistics
/// find a file's columns the same way.
pub(crate) fn as_spelled_in(table: &Schema, file: &Schema) -> Schema {
    respelled(table, &file_spellings(table, file))
}

fn respelled(logical: &Schema, renames: &HashMap<String, String>) -> Schema {
    let fields: Vec<Field> = logical
        .fields()
        .iter()
        .map(|f| match renames.get(f.name()) {
            Some(name) => f.as_ref().clone().with_name(name),
            None => f.as_ref().clone(),
        })
        .collect();
    Schema::new_with_metadata(fields, logical.metadata().clone())
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

/// Refuses a file whose column holds another kind of value than the table declares (text in a `bigint` column),
/// as Athena refuses it (`HIVE_BAD_DATA: Field x's type BINARY in parquet is incompatible with type bigint`), with
/// both types named; widening (`int` read as `bigint` or `double`, a decimal of more digits, any timestamp unit)
/// is read, as Athena reads it.
fn check_types(logical: &Schema, physical: &Schema, renames: &HashMap<String, String>) -> Result<()> {
    for field in logical.fields() {
        let name = renames.get(field.name()).unwrap_or(field.name());
        let Ok(in_file) = physical.field_with_name(name) else {
            continue;
        };
        if !readable_as(in_file.data_type(), field.data_type()) {
            let hive = |t: &DataType| crate::types::arrow_to_hive(t).unwrap_or_else(|_| t.to_string());
            return datafusion::common::plan_err!(
                "column '{}' is {} in the file but {} in the table; declare the column as {}, or rewrite the file \
                 with {}",
                field.name(),
                hive(in_file.data_type()),
                hive(field.data_type()),
                hive(in_file.data_type()),
                hive(field.data_type())
            );
        }
    }
    Ok(())
}

/// Whether values of a file's type can be read as the table's type without changing what they mean.
fn readable_as(file: &DataType, table: &DataType) -> bool {
    use DataType::*;
    let text = |t: &DataType| matches!(t, Utf8 | LargeUtf8 | Utf8View);
    let binary = |t: &DataType| matches!(t, Binary | LargeBinary | BinaryView | FixedSizeBinary(_));
    let signed = |t: &DataType| match t {
        Int8 => Some(8),
        Int16 => Some(16),
        Int32 => Some(32),
        Int64 => Some(64),
        _ => None,
    };
    let unsigned = |t: &DataType| match t {
        UInt8 => Some(8),
        UInt16 => Some(16),
        UInt32 => Some(32),
        UInt64 => Some(64),
        _ => None,
    };
    let integer = |t: &DataType| signed(t).is_some() || unsigned(t).is_some();
    match (file, table) {
        (a, b) if a == b => true,
        (Null, _) => true,
        (Dictionary(_, value), t) => readable_as(value, t),
        (a, b) if text(a) && text(b) => true,
        (a, b) if binary(a) && binary(b) => true,
        (a, b) if signed(a).is_some() && signed(b).is_some() => signed(a) <= signed(b),
        (a, b) if unsigned(a).is_some() && signed(b).is_some() => unsigned(a) < signed(b),
        (a, b) if unsigned(a).is_some() && unsigned(b).is_some() => unsigned(a) <= unsigned(b),
        (a, Float32 | Float64 | Decimal128(..) | Decimal256(..)) if integer(a) => true,
        (Float16 | Float32, Float32 | Float64) => true,
        (
            Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..),
            Decimal128(..) | Decimal256(..) | Float64,
        ) => true,
        (Date32 | Date64, Date32 | Date64 | Timestamp(..)) => true,
        (Timestamp(..), Timestamp(..)) => true,
        (List(_) | LargeList(_) | ListView(_) | FixedSizeList(..), List(_) | LargeList(_) | ListView(_)) => true,
        (Struct(_), Struct(_)) | (Map(..), Map(..)) => true,
        _ => false,
    }
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

    #[test]
    fn widening_reads_and_other_kinds_are_refused() {
        use DataType::*;
        assert!(readable_as(&Int32, &Int64) && readable_as(&Int32, &Float64) && readable_as(&Utf8View, &Utf8));
        assert!(readable_as(
            &Timestamp(datafusion::arrow::datatypes::TimeUnit::Nanosecond, None),
            &Timestamp(datafusion::arrow::datatypes::TimeUnit::Millisecond, None)
        ));
        assert!(!readable_as(&Utf8, &Int64) && !readable_as(&Int64, &Int32) && !readable_as(&Float64, &Int64));
        let logical = Schema::new(vec![Field::new("householdid", DataType::Int64, true)]);
        let physical = Schema::new(vec![Field::new("HouseholdID", DataType::Utf8, true)]);
        let err = check_types(&logical, &physical, &file_spellings(&logical, &physical))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("column 'householdid' is string in the file but bigint in the table"),
            "{err}"
        );
    }

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
