//! Trino's `split(s, delimiter[, limit])` and `regexp_extract_all(s, pattern[, group])`, which need per-row work
//! DataFusion's built-ins do not do (a split limit; every match of a pattern).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, ListBuilder, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};
use regex::Regex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum TextFn {
    Split,
    RegexpExtractAll,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct Text {
    name: &'static str,
    function: TextFn,
    signature: Signature,
}

impl Text {
    pub(super) fn new(name: &'static str, function: TextFn) -> Self {
        Self {
            name,
            function,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Text {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        if args.len() != 2 && args.len() != 3 {
            return plan_err!("{}() takes 2 or 3 arguments, got {}", self.name, args.len());
        }
        let mut types = vec![DataType::Utf8, DataType::Utf8];
        if args.len() == 3 {
            types.push(DataType::Int64);
        }
        Ok(types)
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::new_list(DataType::Utf8, true))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let texts = arrays[0].as_string::<i32>();
        let seconds = arrays[1].as_string::<i32>();
        let thirds: Option<&Int64Array> = arrays.get(2).map(|a| a.as_primitive());
        let mut out = ListBuilder::new(StringBuilder::new());
        let mut compiled: Option<(String, Regex)> = None;
        for i in 0..texts.len() {
            if texts.is_null(i) || seconds.is_null(i) || thirds.is_some_and(|t| t.is_null(i)) {
                out.append_null();
                continue;
            }
            let (text, second) = (texts.value(i), seconds.value(i));
            let third = thirds.map(|t| t.value(i));
            match self.function {
                TextFn::Split => {
                    if second.is_empty() {
                        return exec_err!("split: the delimiter is empty");
                    }
                    match third {
                        Some(limit) if limit < 1 => return exec_err!("split: the limit must be positive, got {limit}"),
                        Some(limit) => {
                            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
                            text.splitn(limit, second).for_each(|p| out.values().append_value(p));
                        }
                        None => text.split(second).for_each(|p| out.values().append_value(p)),
                    }
                }
                TextFn::RegexpExtractAll => {
                    if compiled.as_ref().is_none_or(|(p, _)| p != second) {
                        let regex = Regex::new(second).map_err(|e| {
                            DataFusionError::Execution(format!("regexp_extract_all: invalid pattern '{second}': {e}"))
                        })?;
                        compiled = Some((second.to_string(), regex));
                    }
                    let Some((_, regex)) = &compiled else {
                        return exec_err!("regexp_extract_all: no pattern");
                    };
                    let group = usize::try_from(third.unwrap_or(0)).unwrap_or(usize::MAX);
                    if group >= regex.captures_len() {
                        return exec_err!(
                            "regexp_extract_all: pattern '{second}' has {} group(s), not {group}",
                            regex.captures_len() - 1
                        );
                    }
                    for captures in regex.captures_iter(text) {
                        out.values().append_option(captures.get(group).map(|m| m.as_str()));
                    }
                }
            }
            out.append(true);
        }
        let list: ArrayRef = Arc::new(out.finish());
        Ok(ColumnarValue::Array(list))
    }
}
