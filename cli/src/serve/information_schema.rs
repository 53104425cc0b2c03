//! `information_schema` for PostgreSQL clients (Grafana's query builder, DBeaver, hand-written SQL): `schemata`,
//! `tables`, `columns` and `views` of tarn's catalog, with PostgreSQL's type names (`bigint`, `text`,
//! `timestamp without time zone`), which is what those clients read; DataFusion's own information_schema would give
//! Arrow's (`Int64`, `Utf8`).

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int32Builder, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{MemTable, SchemaProvider, TableProvider};
use datafusion::error::Result;
use tarn_engine::TableColumns;
use tarn_engine::catalog::TableKind;

/// The schema `information_schema`, for `catalog` holding `databases` and `tables`.
pub fn schema(catalog: &str, databases: &[String], tables: &[TableColumns]) -> Result<Arc<dyn SchemaProvider>> {
    let mut views: BTreeMap<String, Arc<dyn TableProvider>> = BTreeMap::new();
    views.insert("schemata".into(), schemata(catalog, databases)?);
    views.insert("tables".into(), tables_table(catalog, tables)?);
    views.insert("columns".into(), columns(catalog, tables)?);
    views.insert("views".into(), views_table(catalog, tables)?);
    Ok(Arc::new(super::pg_catalog::Database { tables: views }))
}

fn text_fields(names: &[&str]) -> Vec<Field> {
    names.iter().map(|n| Field::new(*n, DataType::Utf8, true)).collect()
}

fn table(schema: SchemaRef, columns: Vec<ArrayRef>) -> Result<Arc<dyn TableProvider>> {
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

/// Builders for text columns, one per name.
struct Texts(Vec<StringBuilder>);

impl Texts {
    fn new(n: usize) -> Self {
        Self((0..n).map(|_| StringBuilder::new()).collect())
    }

    fn row(&mut self, values: &[Option<&str>]) {
        for (builder, value) in self.0.iter_mut().zip(values) {
            builder.append_option(*value);
        }
    }

    fn finish(self) -> Vec<ArrayRef> {
        self.0
            .into_iter()
            .map(|mut b| Arc::new(b.finish()) as ArrayRef)
            .collect()
    }
}

fn schemata(catalog: &str, databases: &[String]) -> Result<Arc<dyn TableProvider>> {
    let names = ["catalog_name", "schema_name", "schema_owner"];
    let mut texts = Texts::new(names.len());
    for db in databases
        .iter()
        .map(String::as_str)
        .chain(["information_schema", "pg_catalog"])
    {
        texts.row(&[Some(catalog), Some(db), Some("tarn")]);
    }
    table(Arc::new(Schema::new(text_fields(&names))), texts.finish())
}

fn tables_table(catalog: &str, tables: &[TableColumns]) -> Result<Arc<dyn TableProvider>> {
    let names = [
        "table_catalog",
        "table_schema",
        "table_name",
        "table_type",
        "is_insertable_into",
        "is_typed",
    ];
    let mut texts = Texts::new(names.len());
    for t in tables {
        let (kind, insertable) = match t.kind {
            TableKind::View => ("VIEW", "NO"),
            TableKind::Hive | TableKind::Delta => ("BASE TABLE", "YES"),
        };
        texts.row(&[
            Some(catalog),
            Some(&t.database),
            Some(&t.name),
            Some(kind),
            Some(insertable),
            Some("NO"),
        ]);
    }
    table(Arc::new(Schema::new(text_fields(&names))), texts.finish())
}

fn views_table(catalog: &str, tables: &[TableColumns]) -> Result<Arc<dyn TableProvider>> {
    let names = ["table_catalog", "table_schema", "table_name", "view_definition"];
    let mut texts = Texts::new(names.len());
    for t in tables.iter().filter(|t| t.kind == TableKind::View) {
        texts.row(&[Some(catalog), Some(&t.database), Some(&t.name), t.view_text.as_deref()]);
    }
    table(Arc::new(Schema::new(text_fields(&names))), texts.finish())
}

fn columns(catalog: &str, tables: &[TableColumns]) -> Result<Arc<dyn TableProvider>> {
    let names = [
        "table_catalog",
        "table_schema",
        "table_name",
        "column_name",
        "column_default",
        "is_nullable",
        "data_type",
        "udt_schema",
        "udt_name",
    ];
    let numbers = [
        "ordinal_position",
        "character_maximum_length",
        "numeric_precision",
        "numeric_scale",
        "datetime_precision",
    ];
    let mut texts = Texts::new(names.len());
    let mut ints: Vec<Int32Builder> = numbers.iter().map(|_| Int32Builder::new()).collect();
    for t in tables {
        for (position, field) in t.schema.fields().iter().enumerate() {
            let pg = pg_type(field.data_type());
            texts.row(&[
                Some(catalog),
                Some(&t.database),
                Some(&t.name),
                Some(field.name()),
                None,
                Some(if field.is_nullable() { "YES" } else { "NO" }),
                Some(pg.data_type),
                Some("pg_catalog"),
                Some(&pg.udt_name),
            ]);
            let values = [
                i32::try_from(position + 1).ok(),
                None,
                pg.precision,
                pg.scale,
                pg.datetime_precision,
            ];
            for (builder, value) in ints.iter_mut().zip(values) {
                builder.append_option(value);
            }
        }
    }
    let mut fields = text_fields(&names);
    fields.extend(numbers.iter().map(|n| Field::new(*n, DataType::Int32, true)));
    let mut arrays = texts.finish();
    arrays.extend(ints.into_iter().map(|mut b| Arc::new(b.finish()) as ArrayRef));
    table(Arc::new(Schema::new(fields)), arrays)
}

/// A column's type as PostgreSQL's information_schema names it.
struct PgType {
    data_type: &'static str,
    udt_name: String,
    precision: Option<i32>,
    scale: Option<i32>,
    datetime_precision: Option<i32>,
}

fn pg_type(dt: &DataType) -> PgType {
    let simple = |data_type, udt_name: &str, precision: Option<i32>| PgType {
        data_type,
        udt_name: udt_name.to_string(),
        precision,
        scale: precision.map(|_| 0),
        datetime_precision: None,
    };
    let time = |data_type, udt_name: &str, unit: &TimeUnit| PgType {
        data_type,
        udt_name: udt_name.to_string(),
        precision: None,
        scale: None,
        datetime_precision: Some(match unit {
            TimeUnit::Second => 0,
            TimeUnit::Millisecond => 3,
            TimeUnit::Microsecond | TimeUnit::Nanosecond => 6,
        }),
    };
    match dt {
        DataType::Boolean => simple("boolean", "bool", None),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => simple("smallint", "int2", Some(16)),
        DataType::Int32 | DataType::UInt16 => simple("integer", "int4", Some(32)),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => simple("bigint", "int8", Some(64)),
        DataType::Float16 | DataType::Float32 => PgType {
            scale: None,
            ..simple("real", "float4", Some(24))
        },
        DataType::Float64 => PgType {
            scale: None,
            ..simple("double precision", "float8", Some(53))
        },
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => PgType {
            data_type: "numeric",
            udt_name: "numeric".to_string(),
            precision: Some(i32::from(*p)),
            scale: Some(i32::from(*s)),
            datetime_precision: None,
        },
        DataType::Date32 | DataType::Date64 => PgType {
            datetime_precision: Some(0),
            ..simple("date", "date", None)
        },
        DataType::Timestamp(unit, None) => time("timestamp without time zone", "timestamp", unit),
        DataType::Timestamp(unit, Some(_)) => time("timestamp with time zone", "timestamptz", unit),
        DataType::Time32(unit) | DataType::Time64(unit) => time("time without time zone", "time", unit),
        DataType::Interval(_) | DataType::Duration(_) => simple("interval", "interval", None),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
            simple("bytea", "bytea", None)
        }
        // PostgreSQL names an array's type after its element's: `_int8`, `_text`.
        DataType::List(item)
        | DataType::LargeList(item)
        | DataType::FixedSizeList(item, _)
        | DataType::ListView(item) => simple("ARRAY", &format!("_{}", pg_type(item.data_type()).udt_name), None),
        DataType::Struct(_) | DataType::Map(..) => simple("json", "json", None),
        _ => simple("text", "text", None),
    }
}
