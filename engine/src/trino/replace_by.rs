//! Trino's `regexp_replace(string, pattern, x -> replacement)`: every match is replaced by what the lambda returns
//! for the match's capturing groups (`x[1]` is the first group; a group that did not take part is NULL). A NULL
//! replacement makes the whole result NULL, as in Trino.
//!
//! The lambda is evaluated once, over the groups of every match of every row, so a captured column is spread to
//! the matches of its row, not evaluated per match.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListBuilder, StringBuilder, UInt32Array};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DataFusionError, Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, HigherOrderFunctionArgs, HigherOrderReturnFieldArgs, HigherOrderSignature, HigherOrderUDFImpl,
    LambdaParametersProgress, ValueOrLambda, Volatility,
};
use regex::Regex;

#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct ReplaceBy {
    signature: HigherOrderSignature,
}

impl ReplaceBy {
    pub(super) fn new() -> Self {
        Self {
            signature: HigherOrderSignature::exact(
                vec![
                    ValueOrLambda::Value(()),
                    ValueOrLambda::Value(()),
                    ValueOrLambda::Lambda(()),
                ],
                Volatility::Immutable,
            ),
        }
    }
}

const USAGE: &str = "regexp_replace(string, pattern, x -> ...) takes a string, a pattern and a lambda of the match's \
                     groups (x[1] is the first) that returns the replacement";

fn groups_field() -> FieldRef {
    Arc::new(Field::new("x", DataType::new_list(DataType::Utf8, true), true))
}

/// One match: the bytes it spans in its row's text.
struct Match {
    start: usize,
    end: usize,
}

impl HigherOrderUDFImpl for ReplaceBy {
    fn name(&self) -> &str {
        "tarn_regexp_replace_by"
    }

    fn signature(&self) -> &HigherOrderSignature {
        &self.signature
    }

    fn coerce_value_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [_, _] => Ok(vec![DataType::Utf8, DataType::Utf8]),
            _ => plan_err!("{USAGE}"),
        }
    }

    fn lambda_parameters(
        &self,
        _step: usize,
        _fields: &[ValueOrLambda<FieldRef, Option<FieldRef>>],
    ) -> Result<LambdaParametersProgress> {
        Ok(LambdaParametersProgress::Complete(vec![vec![groups_field()]]))
    }

    fn return_field_from_args(&self, args: HigherOrderReturnFieldArgs) -> Result<FieldRef> {
        match args.arg_fields {
            [
                ValueOrLambda::Value(_),
                ValueOrLambda::Value(_),
                ValueOrLambda::Lambda(f),
            ] => {
                if !matches!(
                    f.data_type(),
                    DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null
                ) {
                    return plan_err!(
                        "regexp_replace(): the lambda must return varchar, not {} (cast it: CAST(... AS varchar))",
                        f.data_type()
                    );
                }
                Ok(Arc::new(Field::new(self.name(), DataType::Utf8, true)))
            }
            _ => plan_err!("{USAGE}"),
        }
    }

    fn invoke_with_args(&self, args: HigherOrderFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let [
            ValueOrLambda::Value(text),
            ValueOrLambda::Value(pattern),
            ValueOrLambda::Lambda(function),
        ] = args.args.as_slice()
        else {
            return exec_err!("{USAGE}");
        };
        let (texts, patterns) = (text.to_array(rows)?, pattern.to_array(rows)?);
        let (texts, patterns) = (texts.as_string::<i32>(), patterns.as_string::<i32>());
        let mut compiled: Option<(String, Regex)> = None;
        // Every match of every row: its span, its row, and its groups as the lambda's argument.
        let mut matches: Vec<Vec<Match>> = Vec::with_capacity(rows);
        let mut owners: Vec<u32> = Vec::new();
        let mut groups = ListBuilder::new(StringBuilder::new());
        for row in 0..rows {
            let mut found = Vec::new();
            if texts.is_valid(row) && patterns.is_valid(row) {
                let pattern = patterns.value(row);
                if compiled.as_ref().is_none_or(|(p, _)| p != pattern) {
                    let regex = Regex::new(pattern).map_err(|e| {
                        DataFusionError::Execution(format!("regexp_replace: invalid pattern '{pattern}': {e}"))
                    })?;
                    compiled = Some((pattern.to_string(), regex));
                }
                let Some((_, regex)) = &compiled else {
                    return exec_err!("{USAGE}");
                };
                for captures in regex.captures_iter(texts.value(row)) {
                    let Some(whole) = captures.get(0) else { continue };
                    found.push(Match {
                        start: whole.start(),
                        end: whole.end(),
                    });
                    // Trino's groups start at one: there is no element for the whole match.
                    for group in captures.iter().skip(1) {
                        groups.values().append_option(group.map(|g| g.as_str()));
                    }
                    groups.append(true);
                    owners.push(row as u32);
                }
            }
            matches.push(found);
        }
        let groups: ArrayRef = Arc::new(groups.finish());
        let owners = UInt32Array::from(owners);
        let replacements = function
            .evaluate(&[&|| Ok(Arc::clone(&groups))], |captures| {
                captures.iter().map(|c| Ok(take(c, &owners, None)?)).collect()
            })?
            .into_array(owners.len())?;
        let replacements = cast(&replacements, &DataType::Utf8)?;
        let replacements = replacements.as_string::<i32>();
        let mut out = StringBuilder::new();
        let mut next = 0;
        for (row, found) in matches.iter().enumerate() {
            if texts.is_null(row) || patterns.is_null(row) {
                out.append_null();
                continue;
            }
            let text = texts.value(row);
            let mut result = String::with_capacity(text.len());
            let mut copied = 0;
            let mut null = false;
            for m in found {
                if replacements.is_null(next) {
                    null = true;
                }
                result.push_str(&text[copied..m.start]);
                result.push_str(replacements.value(next));
                copied = m.end;
                next += 1;
            }
            if null {
                out.append_null();
            } else {
                result.push_str(&text[copied..]);
                out.append_value(result);
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}
