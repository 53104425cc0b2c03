//! Athena's SQL dialect as tarn parses it: sqlparser's generic dialect plus Trino's `x -> expr` lambdas.
//!
//! The generic dialect reads `->` as a JSON arrow, so `transform(a, x -> x + 1)` would fail with "No field named
//! x". A dialect that only turns lambdas on would lose the generic dialect's other choices: sqlparser checks many of
//! them by the dialect's type id (`dialect_of!(self is GenericDialect)`), so this one reports the generic dialect's
//! type id and forwards every choice the generic dialect makes (the list is sqlparser 0.62's `GenericDialect`).

use std::any::TypeId;

/// How deeply parentheses, subqueries and calls may nest (sqlparser's default, 50, refuses 60 nested parentheses;
/// Trino accepts thousands).
pub(crate) const PARSER_RECURSION_LIMIT: usize = 5_000;

use datafusion::sql::sqlparser::dialect::{Dialect, GenericDialect};

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct AthenaDialect;

macro_rules! generic {
    ($($name:ident),* $(,)?) => {
        $(fn $name(&self) -> bool {
            GenericDialect {}.$name()
        })*
    };
}

impl Dialect for AthenaDialect {
    fn dialect(&self) -> TypeId {
        TypeId::of::<GenericDialect>()
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        GenericDialect {}.is_delimited_identifier_start(ch)
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        GenericDialect {}.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        GenericDialect {}.is_identifier_part(ch)
    }

    fn supports_lambda_functions(&self) -> bool {
        true
    }

    generic!(
        supports_unicode_string_literal,
        supports_partition_by_after_order_by,
        supports_array_join_syntax,
        supports_group_by_expr,
        supports_group_by_with_modifier,
        supports_left_associative_joins_without_parens,
        supports_connect_by,
        supports_match_recognize,
        supports_pipe_operator,
        supports_start_transaction_modifier,
        supports_window_function_null_treatment_arg,
        supports_dictionary_syntax,
        supports_window_clause_named_window_reference,
        supports_parenthesized_set_variables,
        supports_select_wildcard_except,
        support_map_literal_syntax,
        allow_extract_custom,
        allow_extract_single_quotes,
        supports_extract_comma_syntax,
        supports_create_view_comment_syntax,
        supports_parens_around_table_factor,
        supports_values_as_table_factor,
        supports_create_index_with_clause,
        supports_explain_with_utility_options,
        supports_limit_comma,
        supports_update_order_by,
        supports_from_first_select,
        supports_projection_trailing_commas,
        supports_asc_desc_in_column_definition,
        supports_try_convert,
        supports_bitwise_shift_operators,
        supports_comment_on,
        supports_load_extension,
        supports_named_fn_args_with_assignment_operator,
        supports_struct_literal,
        supports_empty_projections,
        supports_nested_comments,
        supports_multiline_comment_hints,
        supports_user_host_grantee,
        supports_string_escape_constant,
        supports_array_typedef_with_brackets,
        supports_match_against,
        supports_set_names,
        supports_comma_separated_set_assignments,
        supports_filter_during_aggregation,
        supports_select_wildcard_exclude,
        supports_data_type_signed_suffix,
        supports_interval_options,
        supports_quote_delimited_string,
        supports_select_wildcard_replace,
        supports_select_wildcard_ilike,
        supports_select_wildcard_rename,
        supports_optimize_table,
        supports_install,
        supports_detach,
        supports_prewhere,
        supports_with_fill,
        supports_limit_by,
        supports_interpolate,
        supports_settings,
        supports_select_format,
        supports_comment_optimizer_hint,
        supports_constraint_keyword_without_name,
        supports_key_column_option,
        supports_comma_separated_trim,
        supports_cte_without_as,
        supports_select_item_multi_column_alias,
        supports_xml_expressions
    );
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::ast::{Expr, SelectItem, SetExpr, Statement};
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn first_item(sql: &str) -> Result<Expr, String> {
        let statements = Parser::parse_sql(&AthenaDialect, sql).map_err(|e| e.to_string())?;
        let Some(Statement::Query(q)) = statements.first() else {
            return Err("not a query".into());
        };
        let SetExpr::Select(s) = q.body.as_ref() else {
            return Err("not a select".into());
        };
        match s.projection.first() {
            Some(SelectItem::UnnamedExpr(e)) => Ok(e.clone()),
            other => Err(format!("unexpected {other:?}")),
        }
    }

    #[test]
    fn lambdas_parse_and_generic_choices_stay() -> Result<(), String> {
        let Expr::Function(f) = first_item("SELECT transform(a, x -> x + 1) FROM t")? else {
            return Err("not a function".into());
        };
        assert!(f.to_string().contains("x -> x + 1"), "{f}");
        let e = first_item("SELECT reduce(a, 0, (s, x) -> s + x, s -> s) FROM t")?;
        assert!(e.to_string().contains("(s, x) -> s + x"), "{e}");
        // Choices the generic dialect makes by its type id, and ones it makes by method.
        assert!(matches!(first_item("SELECT 1 << 2")?, Expr::BinaryOp { .. }));
        assert!(first_item("SELECT {'a': 1}").is_ok());
        Ok(())
    }
}
