//! Columns that PostgreSQL clients get as JSON text: structs (Athena's ROW), maps, and arrays of those or of
//! arrays. arrow-pg sends a struct as an anonymous record (`(1,x)`, which drivers cannot take apart) and refuses
//! maps and nested arrays; JSON text is what psycopg, JDBC and BI tools can parse (`json.loads`, `->>` in
//! Superset's and Grafana's transformations). Every other type goes as arrow-pg maps it.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::json::writer::{EncoderOptions, make_encoder};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

/// A result's columns as PostgreSQL clients get them.
#[derive(Debug, Clone)]
pub struct PgShape {
    schema: SchemaRef,
    /// Which columns are sent as JSON text.
    json: Arc<Vec<bool>>,
}

impl PgShape {
    pub fn of(schema: &SchemaRef) -> Self {
        let json: Vec<bool> = schema.fields().iter().map(|f| as_json(f.data_type())).collect();
        let fields: Vec<FieldRef> = schema
            .fields()
            .iter()
            .zip(&json)
            .map(|(field, json)| {
                if *json {
                    Arc::new(Field::new(field.name(), DataType::Utf8, true))
                } else {
                    Arc::clone(field)
                }
            })
            .collect();
        Self {
            schema: Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())),
            json: Arc::new(json),
        }
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// `batch` (of the schema this shape was made from) in this shape.
    pub fn batch(&self, batch: RecordBatch) -> Result<RecordBatch, ArrowError> {
        if !self.json.iter().any(|j| *j) {
            return Ok(batch);
        }
        let columns = batch
            .columns()
            .iter()
            .zip(batch.schema().fields())
            .zip(self.json.iter())
            .map(|((column, field), json)| {
                if *json {
                    json_text(field, column)
                } else {
                    Ok(Arc::clone(column))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        RecordBatch::try_new(Arc::clone(&self.schema), columns)
    }
}

fn as_json(data_type: &DataType) -> bool {
    match data_type {
        DataType::Struct(_) | DataType::Map(..) | DataType::Union(..) => true,
        DataType::List(item)
        | DataType::LargeList(item)
        | DataType::FixedSizeList(item, _)
        | DataType::ListView(item)
        | DataType::LargeListView(item) => matches!(
            item.data_type(),
            DataType::Struct(_)
                | DataType::Map(..)
                | DataType::Union(..)
                | DataType::List(_)
                | DataType::LargeList(_)
                | DataType::FixedSizeList(..)
                | DataType::ListView(_)
                | DataType::LargeListView(_)
        ),
        _ => false,
    }
}

/// Each value of `column` as JSON; NULL stays NULL. A map whose keys are not strings has no JSON form and is
/// written as Arrow prints it (`{1: a}`).
fn json_text(field: &FieldRef, column: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    let mut out = StringBuilder::new();
    let options = EncoderOptions::default().with_explicit_nulls(true);
    match make_encoder(field, column.as_ref(), &options) {
        Ok(mut encoder) => {
            let mut buffer = Vec::new();
            for row in 0..column.len() {
                if column.is_null(row) {
                    out.append_null();
                    continue;
                }
                buffer.clear();
                encoder.encode(row, &mut buffer);
                out.append_value(String::from_utf8_lossy(&buffer));
            }
        }
        Err(_) => {
            let formatter = ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())?;
            for row in 0..column.len() {
                if column.is_null(row) {
                    out.append_null();
                } else {
                    out.append_value(formatter.value(row).to_string());
                }
            }
        }
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int32Array, ListArray, StringArray, StructArray};
    use datafusion::arrow::datatypes::Int32Type;

    #[test]
    fn structs_and_nested_arrays_become_json_and_the_rest_stays() -> Result<(), ArrowError> {
        let person = StructArray::from(vec![
            (
                Arc::new(Field::new("n", DataType::Int32, true)),
                Arc::new(Int32Array::from(vec![Some(1), None])) as ArrayRef,
            ),
            (
                Arc::new(Field::new("s", DataType::Utf8, true)),
                Arc::new(StringArray::from(vec!["x", "y\"z"])) as ArrayRef,
            ),
        ]);
        let flat = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1)]), None]);
        let schema = Arc::new(Schema::new(vec![
            Field::new("person", person.data_type().clone(), true),
            Field::new("flat", flat.data_type().clone(), true),
        ]));
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(person), Arc::new(flat)])?;
        let shape = PgShape::of(&schema);
        assert_eq!(shape.schema().field(0).data_type(), &DataType::Utf8);
        assert_eq!(
            shape.schema().field(1).data_type(),
            schema.field(1).data_type(),
            "arrow-pg sends int[]"
        );
        let shaped = shape.batch(batch)?;
        let text = shaped
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| ArrowError::CastError("not text".into()))?;
        assert_eq!(text.value(0), r#"{"n":1,"s":"x"}"#);
        assert_eq!(text.value(1), r#"{"n":null,"s":"y\"z"}"#);
        Ok(())
    }
}
