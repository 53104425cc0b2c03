//! Trino's JSON functions over JSON text: `json_extract_scalar`, `json_extract`, `json_array_length`, `json_parse`
//! and `json_format` (tarn has no JSON type: JSON values are `varchar` holding JSON text, as Athena shows them).
//!
//! Paths are the JSONPath subset Trino documents: `$`, `.key`, `["key"]` or `['key']`, and `[index]`. Text that is
//! not JSON, or a path that does not exist, gives NULL (as in Trino); a malformed path is an error naming it.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Builder, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum JsonFn {
    ExtractScalar,
    Extract,
    ArrayLength,
    /// `json_parse` and `json_format`: validate and normalise JSON text.
    Normalize,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct Json {
    name: &'static str,
    function: JsonFn,
    signature: Signature,
    /// Inside `try(...)`: text that is not JSON gives NULL from `json_parse` too.
    pub(crate) lenient: bool,
}

impl Json {
    pub(crate) fn new(name: &'static str, function: JsonFn) -> Self {
        Self {
            name,
            function,
            signature: Signature::user_defined(Volatility::Immutable),
            lenient: false,
        }
    }

    pub(crate) fn lenient(&self) -> Self {
        Self {
            lenient: true,
            ..Self::new(self.name, self.function)
        }
    }

    fn arity(&self) -> usize {
        match self.function {
            JsonFn::ExtractScalar | JsonFn::Extract => 2,
            JsonFn::ArrayLength | JsonFn::Normalize => 1,
        }
    }
}

impl ScalarUDFImpl for Json {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        if args.len() != self.arity() {
            return plan_err!("{}() takes {} argument(s), got {}", self.name, self.arity(), args.len());
        }
        Ok(vec![DataType::Utf8; args.len()])
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(match self.function {
            JsonFn::ArrayLength => DataType::Int64,
            _ => DataType::Utf8,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let texts = arrays[0].as_string::<i32>();
        let paths = arrays.get(1).map(|a| a.as_string::<i32>());
        let rows = texts.len();
        let mut parsed_path: Option<(String, Vec<Step>)> = None;
        let mut path_at = |i: usize| -> Result<Option<Vec<Step>>> {
            let Some(paths) = paths else {
                return Ok(Some(Vec::new()));
            };
            if paths.is_null(i) {
                return Ok(None);
            }
            let text = paths.value(i);
            // Paths are almost always one literal: parse it once.
            if let Some((last, steps)) = &parsed_path
                && last == text
            {
                return Ok(Some(steps.clone()));
            }
            let steps = parse_path(text)?;
            parsed_path = Some((text.to_string(), steps.clone()));
            Ok(Some(steps))
        };
        let result: ArrayRef = match self.function {
            JsonFn::ArrayLength => {
                let mut out = Int64Builder::with_capacity(rows);
                for i in 0..rows {
                    let value = (!texts.is_null(i))
                        .then(|| serde_json::from_str::<Value>(texts.value(i)).ok())
                        .flatten();
                    match value {
                        Some(Value::Array(items)) => out.append_value(items.len() as i64),
                        _ => out.append_null(),
                    }
                }
                Arc::new(out.finish())
            }
            _ => {
                let mut out = StringBuilder::with_capacity(rows, rows * 8);
                for i in 0..rows {
                    let steps = path_at(i)?;
                    let value = match (texts.is_null(i), steps) {
                        (false, Some(steps)) => match serde_json::from_str::<Value>(texts.value(i)) {
                            Ok(v) => walk(&v, &steps).cloned(),
                            // Trino's json_parse refuses text that is not JSON; the extract functions give NULL.
                            Err(e) if self.function == JsonFn::Normalize && !self.lenient => {
                                return exec_err!("Cannot convert value to JSON: '{}' ({e})", texts.value(i));
                            }
                            Err(_) => None,
                        },
                        _ => None,
                    };
                    let text = match (self.function, value) {
                        (JsonFn::ExtractScalar, Some(Value::String(s))) => Some(s),
                        (JsonFn::ExtractScalar, Some(v @ (Value::Number(_) | Value::Bool(_)))) => Some(v.to_string()),
                        (JsonFn::ExtractScalar, _) => None,
                        (_, Some(v)) => Some(v.to_string()),
                        (_, None) => None,
                    };
                    out.append_option(text);
                }
                Arc::new(out.finish())
            }
        };
        Ok(ColumnarValue::Array(result))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Step {
    Key(String),
    Index(usize),
}

pub(super) fn walk<'v>(value: &'v Value, steps: &[Step]) -> Option<&'v Value> {
    steps.iter().try_fold(value, |v, step| match step {
        Step::Key(k) => v.as_object()?.get(k),
        Step::Index(i) => v.as_array()?.get(*i),
    })
}

pub(super) fn parse_path(path: &str) -> Result<Vec<Step>> {
    let bad = |why: &str| exec_err!("Invalid JSON path: '{path}' ({why}); write paths like $.a.b[0] or $[\"a b\"]");
    let Some(mut rest) = path.trim().strip_prefix('$') else {
        return bad("it must start with $");
    };
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            if end == 0 {
                return bad("a '.' must be followed by a key");
            }
            steps.push(Step::Key(after[..end].to_string()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let Some(end) = after.find(']') else {
                return bad("a '[' is not closed");
            };
            let inside = after[..end].trim();
            let quoted = inside
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .or_else(|| inside.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')));
            match (quoted, inside.parse::<usize>()) {
                (Some(key), _) => steps.push(Step::Key(key.to_string())),
                (None, Ok(i)) => steps.push(Step::Index(i)),
                (None, Err(_)) => return bad("a subscript must be a number or a quoted key"),
            }
            rest = &after[end + 1..];
        } else {
            return bad("expected '.' or '['");
        }
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() -> Result<()> {
        assert_eq!(
            parse_path("$.store.book[0][\"first title\"]")?,
            [
                Step::Key("store".into()),
                Step::Key("book".into()),
                Step::Index(0),
                Step::Key("first title".into())
            ]
        );
        assert_eq!(parse_path("$")?, []);
        for bad in ["store", "$.", "$[x]", "$[0"] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
        Ok(())
    }
}
