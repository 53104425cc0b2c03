//! Hive type names (what Glue stores and Athena DDL uses) to Arrow types and back.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Fields, TimeUnit};

use crate::error::{EngineError, Part, Result};

/// Athena's timestamps carry milliseconds (`timestamp(3)`).
pub const TIMESTAMP_UNIT: TimeUnit = TimeUnit::Millisecond;

/// Parses a Hive type (`bigint`, `decimal(10,2)`, `array<struct<a:int,b:string>>`, `map<string,bigint>`) into Arrow.
/// SQL spellings Athena's DML uses are accepted too (`integer`, `varchar`, `real`).
pub fn hive_to_arrow(hive: &str) -> Result<DataType> {
    let mut parser = TypeParser {
        input: hive,
        chars: hive.char_indices().collect(),
        pos: 0,
    };
    let dt = parser.parse_type()?;
    parser.skip_ws();
    if parser.pos < parser.chars.len() {
        return Err(parser.error("unexpected text after the type"));
    }
    Ok(dt)
}

/// The Hive name of an Arrow type, for schemas inferred from files.
pub fn arrow_to_hive(dt: &DataType) -> Result<String> {
    Ok(match dt {
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 | DataType::UInt8 => "smallint".into(),
        DataType::Int32 | DataType::UInt16 => "int".into(),
        DataType::Int64 | DataType::UInt32 => "bigint".into(),
        DataType::UInt64 => "decimal(20,0)".into(),
        DataType::Float16 | DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal128(p, s) => {
            format!("decimal({p},{s})")
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => "string".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
            "binary".into()
        }
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, _) => "timestamp".into(),
        DataType::List(f) | DataType::LargeList(f) | DataType::ListView(f) | DataType::FixedSizeList(f, _) => {
            format!("array<{}>", arrow_to_hive(f.data_type())?)
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => format!(
                "map<{},{}>",
                arrow_to_hive(kv[0].data_type())?,
                arrow_to_hive(kv[1].data_type())?
            ),
            other => {
                return Err(EngineError::invalid(
                    Part::Type,
                    format!("unexpected map entries type {other}"),
                ));
            }
        },
        DataType::Struct(fields) => {
            let inner = fields
                .iter()
                .map(|f| Ok(format!("{}:{}", f.name().to_lowercase(), arrow_to_hive(f.data_type())?)))
                .collect::<Result<Vec<_>>>()?;
            format!("struct<{}>", inner.join(","))
        }
        DataType::Dictionary(_, value) => arrow_to_hive(value)?,
        other => {
            return Err(EngineError::Unsupported {
                what: format!("the Arrow type {other}"),
                hint: Some("it has no Hive equivalent; declare the column's type explicitly".into()),
            });
        }
    })
}

struct TypeParser<'a> {
    input: &'a str,
    chars: Vec<(usize, char)>,
    pos: usize,
}

impl TypeParser<'_> {
    fn error(&self, what: &str) -> EngineError {
        EngineError::invalid(
            Part::Type,
            format!("invalid type '{}': {what} at character {}", self.input, self.pos + 1),
        )
    }

    fn skip_ws(&mut self) {
        while self.chars.get(self.pos).is_some_and(|(_, c)| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.chars.get(self.pos).map(|(_, c)| *c)
    }

    fn expect(&mut self, ch: char) -> Result<()> {
        if self.peek() == Some(ch) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{ch}'")))
        }
    }

    fn word(&mut self) -> String {
        self.skip_ws();
        let start = self.pos;
        while self
            .chars
            .get(self.pos)
            .is_some_and(|(_, c)| c.is_alphanumeric() || *c == '_' || *c == '`' || *c == '"')
        {
            self.pos += 1;
        }
        self.chars[start..self.pos]
            .iter()
            .map(|(_, c)| *c)
            .filter(|c| *c != '`' && *c != '"')
            .collect()
    }

    /// The opening `<` (Hive) or `(` (Trino) of a nested type; returns the closing character.
    fn open(&mut self) -> Result<char> {
        match self.peek() {
            Some('<') => {
                self.pos += 1;
                Ok('>')
            }
            Some('(') => {
                self.pos += 1;
                Ok(')')
            }
            _ => Err(self.error("expected '<' or '('")),
        }
    }

    fn number(&mut self) -> Result<u32> {
        let w = self.word();
        w.parse().map_err(|_| self.error("expected a number"))
    }

    fn parse_type(&mut self) -> Result<DataType> {
        let name = self.word().to_ascii_lowercase();
        Ok(match name.as_str() {
            "boolean" | "bool" => DataType::Boolean,
            "tinyint" => DataType::Int8,
            "smallint" => DataType::Int16,
            "int" | "integer" => DataType::Int32,
            "bigint" => DataType::Int64,
            "float" | "real" => DataType::Float32,
            "double" => {
                // `double precision`
                let save = self.pos;
                if !self.word().eq_ignore_ascii_case("precision") {
                    self.pos = save;
                }
                DataType::Float64
            }
            "string" | "text" => DataType::Utf8,
            "varchar" | "char" => {
                if self.peek() == Some('(') {
                    self.expect('(')?;
                    self.number()?;
                    self.expect(')')?;
                }
                DataType::Utf8
            }
            "binary" | "varbinary" => DataType::Binary,
            "date" => DataType::Date32,
            "timestamp" => {
                if self.peek() == Some('(') {
                    self.expect('(')?;
                    self.number()?;
                    self.expect(')')?;
                }
                DataType::Timestamp(TIMESTAMP_UNIT, None)
            }
            "decimal" | "numeric" => {
                let (mut precision, mut scale) = (10, 0);
                if self.peek() == Some('(') {
                    self.expect('(')?;
                    precision = self.number()?;
                    if self.peek() == Some(',') {
                        self.expect(',')?;
                        scale = self.number()?;
                    }
                    self.expect(')')?;
                }
                if !(1..=38).contains(&precision) || scale > precision {
                    return Err(self.error("decimal precision must be 1..38 and scale at most the precision"));
                }
                DataType::Decimal128(precision as u8, scale as i8)
            }
            // Hive's `array<int>` and Trino's `array(integer)`.
            "array" => {
                let close = self.open()?;
                let item = self.parse_type()?;
                self.expect(close)?;
                DataType::List(Arc::new(Field::new("item", item, true)))
            }
            "map" => {
                let close = self.open()?;
                let key = self.parse_type()?;
                self.expect(',')?;
                let value = self.parse_type()?;
                self.expect(close)?;
                let entries = Field::new(
                    "entries",
                    DataType::Struct(Fields::from(vec![
                        Field::new("key", key, false),
                        Field::new("value", value, true),
                    ])),
                    false,
                );
                DataType::Map(Arc::new(entries), false)
            }
            // Hive's `struct<a:int>` and Trino's `row(a integer)`, whose fields may also be anonymous: `row(integer)`.
            "struct" | "row" => {
                let close = self.open()?;
                let mut fields = Vec::new();
                loop {
                    let save = self.pos;
                    let name = self.word().to_lowercase();
                    if name.is_empty() {
                        return Err(self.error("expected a field name"));
                    }
                    let field_type = match (close, self.peek()) {
                        ('>', _) => {
                            self.expect(':')?;
                            self.parse_type()?
                        }
                        (_, Some(',' | ')' | '(')) => {
                            // No name: the word was the field's type. DataFusion names anonymous fields c0, c1, ...
                            self.pos = save;
                            let field_type = self.parse_type()?;
                            fields.push(Field::new(format!("c{}", fields.len()), field_type, true));
                            match self.peek() {
                                Some(',') => {
                                    self.pos += 1;
                                    continue;
                                }
                                _ => break,
                            }
                        }
                        _ => self.parse_type()?,
                    };
                    fields.push(Field::new(name, field_type, true));
                    match self.peek() {
                        Some(',') => self.pos += 1,
                        _ => break,
                    }
                }
                self.expect(close)?;
                DataType::Struct(Fields::from(fields))
            }
            // Athena's JSON values are text.
            "json" => DataType::Utf8,
            "" => return Err(self.error("expected a type name")),
            other => {
                return Err(EngineError::invalid(
                    Part::Type,
                    format!(
                        "unknown type '{other}' in '{}'; Hive types are boolean, tinyint, smallint, int, bigint, float, \
                     double, decimal(p,s), string, varchar(n), char(n), binary, date, timestamp, array<..>, \
                     map<..,..>, struct<..> (or Trino's array(..), map(.., ..), row(name type, ..))",
                        self.input
                    ),
                ));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hive_types_round_trip() -> Result<()> {
        for hive in [
            "boolean",
            "tinyint",
            "smallint",
            "int",
            "bigint",
            "float",
            "double",
            "decimal(12,2)",
            "string",
            "binary",
            "date",
            "timestamp",
            "array<string>",
            "map<string,bigint>",
            "struct<a:int,b:array<struct<c:string>>>",
        ] {
            assert_eq!(arrow_to_hive(&hive_to_arrow(hive)?)?, hive);
        }
        assert_eq!(hive_to_arrow("VARCHAR(20)")?, DataType::Utf8);
        assert_eq!(hive_to_arrow("Integer")?, DataType::Int32);
        assert_eq!(hive_to_arrow("array < int >")?, hive_to_arrow("array<int>")?);
        Ok(())
    }

    #[test]
    fn bad_types_say_where() {
        let e = hive_to_arrow("strin").err().map(|e| e.to_string());
        assert!(
            e.as_deref().is_some_and(|e| e.contains("unknown type 'strin'")),
            "{e:?}"
        );
        let e = hive_to_arrow("array<int").err().map(|e| e.to_string());
        assert!(e.as_deref().is_some_and(|e| e.contains("expected '>'")), "{e:?}");
        assert!(hive_to_arrow("decimal(40,2)").is_err());
    }
}
