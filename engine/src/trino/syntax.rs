//! Trino syntax that DataFusion plans differently or not at all, rewritten in the parsed statement before planning.
//!
//! - `t CROSS JOIN UNNEST(t.a, t.b) [WITH ORDINALITY] AS u(x, y[, n])` and `FROM t, UNNEST(...)` are lateral: the
//!   arrays come from each row of `t`. DataFusion cannot plan that correlation (`OuterReferenceColumn`), but it can
//!   unnest in a select list, zipping several arrays the way Trino does. So `t` becomes
//!   `(SELECT t.*, unnest(t.a) AS x, unnest(t.b) AS y[, unnest(range(1, ...)) AS n] FROM t) AS t`, and `u.x` becomes
//!   `t.x`. Rows whose arrays are empty or NULL produce no rows, as in Trino. A map (or an array of rows) unnested
//!   into several columns goes through `unnest_field`.
//! - `all_match(a, x -> p)` is `NOT any_match(a, x -> NOT p)` and `none_match(a, x -> p)` is `NOT any_match(a, x ->
//!   p)`: the same three-valued result Trino documents (NULL when no element decides it).

use std::ops::ControlFlow;

use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, JoinConstraint, JoinOperator, LimitClause,
    ObjectNamePart, Query, Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, TableAlias, TableFactor,
    Value, VisitMut, VisitorMut, visit_expressions_mut,
};
use datafusion::sql::sqlparser::parser::Parser;

use crate::dialect::AthenaDialect;
use crate::error::{EngineError, Part, Result};

/// Rewrites the Trino forms above in `statement`.
pub(crate) fn rewrite(statement: &mut DFStatement) -> Result<()> {
    match statement {
        DFStatement::Statement(s) => visit(s.as_mut()),
        DFStatement::Explain(e) => rewrite(e.statement.as_mut()),
        _ => Ok(()),
    }
}

fn visit(node: &mut impl VisitMut) -> Result<()> {
    match node.visit(&mut Rewriter) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(e) => Err(*e),
    }
}

struct Rewriter;

impl VisitorMut for Rewriter {
    type Break = Box<EngineError>;

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<Self::Break> {
        if let Err(e) = values_columns(query.body.as_mut()).and_then(|()| fetch_first(query)) {
            return ControlFlow::Break(Box::new(e));
        }
        if let Err(e) = exists_in_select_list(query.body.as_mut()) {
            return ControlFlow::Break(Box::new(e));
        }
        name_columns(query.body.as_mut());
        match unnest_in_set_expr(query.body.as_mut()) {
            Ok(renames) => {
                // ORDER BY belongs to the query, not to its SELECT.
                if let Some(order_by) = query.order_by.as_mut() {
                    for (from, to) in &renames {
                        rename_qualifier(order_by, from, to);
                    }
                }
                ControlFlow::Continue(())
            }
            Err(e) => ControlFlow::Break(Box::new(e)),
        }
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<Self::Break> {
        match match_functions(expr)
            .and_then(|()| like_escape(expr))
            .and_then(|()| bounded_varchar(expr))
            .and_then(|()| typed_literal(expr))
        {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(Box::new(e)),
        }
    }
}

/// Athena names a result column that is not a column reference or aliased `_col<position>` (DataFusion names it after
/// the expression, `count(*)`, `Int64(1) + Int64(2)`). Scripts, dashboards and CTAS column names depend on it. After
/// a `*` the positions are not known here; the output names of the whole plan are finished in the session.
fn name_columns(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            for (i, item) in select.projection.iter_mut().enumerate() {
                match item {
                    SelectItem::UnnamedExpr(expr) if !is_column_reference(expr) => {
                        let expr = std::mem::replace(expr, Expr::Value(Value::Null.into()));
                        *item = SelectItem::ExprWithAlias {
                            expr,
                            alias: Ident::new(format!("_col{i}")),
                        };
                    }
                    SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(_, _) => break,
                    _ => {}
                }
            }
        }
        // The first branch names a set operation's columns.
        SetExpr::SetOperation { left, .. } => name_columns(left),
        _ => {}
    }
}

fn is_column_reference(expr: &Expr) -> bool {
    match expr {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => true,
        Expr::Nested(inner) => is_column_reference(inner),
        _ => false,
    }
}

/// `EXISTS (...)` as a value in the select list, which DataFusion plans only as a filter: the subquery's row count
/// compared with 0 (a scalar subquery DataFusion decorrelates, counting 0 for no rows).
fn exists_in_select_list(body: &mut SetExpr) -> Result<()> {
    let SetExpr::Select(select) = body else { return Ok(()) };
    for item in &mut select.projection {
        let expr = match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
            _ => continue,
        };
        let mut failed = None;
        let _ = visit_expressions_mut(expr, |e| {
            if let Expr::Exists { subquery, negated } = e {
                let op = if *negated { "=" } else { ">" };
                // A plain SELECT counts its own rows, so a correlated predicate stays where DataFusion decorrelates it.
                let plain = subquery.with.is_none()
                    && subquery.order_by.is_none()
                    && subquery.limit_clause.is_none()
                    && matches!(subquery.body.as_ref(), SetExpr::Select(s)
                        if s.distinct.is_none() && s.having.is_none()
                            && matches!(&s.group_by, datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(g, _) if g.is_empty()));
                let text = match subquery.body.as_mut() {
                    SetExpr::Select(select) if plain => {
                        select.projection = vec![SelectItem::UnnamedExpr(
                            parse_expr("count(*)").unwrap_or(Expr::Value(Value::Null.into())),
                        )];
                        format!("(({subquery}) {op} 0)")
                    }
                    _ => format!("((SELECT count(*) FROM ({subquery}) AS _exists) {op} 0)"),
                };
                match parse_expr(&text) {
                    Ok(count) => *e = count,
                    Err(err) => failed = Some(err),
                }
            }
            ControlFlow::<()>::Continue(())
        });
        if let Some(e) = failed {
            return Err(e);
        }
    }
    Ok(())
}

/// `LIKE p ESCAPE '#'` in Trino: `#` makes the next `%`, `_` or `#` literal, and without ESCAPE nothing is an escape.
/// DataFusion takes only `\` as the escape, and takes it even when no ESCAPE is given, so a literal pattern is
/// rewritten into its form: `#%` becomes `\%`, and a `\` that means itself becomes `\\`.
fn like_escape(expr: &mut Expr) -> Result<()> {
    let (Expr::Like {
        pattern, escape_char, ..
    }
    | Expr::ILike {
        pattern, escape_char, ..
    }) = expr
    else {
        return Ok(());
    };
    let escape = match escape_char.as_ref().map(|v| &v.value) {
        None => None,
        Some(Value::SingleQuotedString(e)) if e.chars().count() == 1 => e.chars().next(),
        Some(other) => {
            return Err(EngineError::invalid(
                Part::Clause,
                format!("LIKE ... ESCAPE {other}: the escape must be a single character"),
            ));
        }
    };
    let Expr::Value(v) = pattern.as_mut() else {
        return match escape {
            None | Some('\\') => Ok(()),
            Some(e) => Err(EngineError::unsupported(
                format!("LIKE with ESCAPE '{e}' and a pattern that is not a literal"),
                "write the pattern as a string literal, or use '\\' as the escape character",
            )),
        };
    };
    let Value::SingleQuotedString(text) = &v.value else {
        return Ok(());
    };
    let mut out = String::with_capacity(text.len() + 4);
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            match chars.next() {
                Some(n @ ('%' | '_')) => {
                    out.push('\\');
                    out.push(n);
                }
                Some(n) if Some(n) == escape => {
                    if n == '\\' {
                        out.push('\\');
                    }
                    out.push(n);
                }
                _ => {
                    return Err(EngineError::invalid(
                        Part::Clause,
                        format!("LIKE pattern '{text}': the escape character must be followed by '%', '_' or itself"),
                    ));
                }
            }
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    v.value = Value::SingleQuotedString(out);
    *escape_char = None;
    Ok(())
}

/// `VALUES ...` names its columns `_col0, _col1, ...` in Athena (DataFusion: `column1, column2, ...`).
fn values_columns(body: &mut SetExpr) -> Result<()> {
    match body {
        SetExpr::Values(values) => {
            let width = values.rows.first().map_or(0, |r| r.len());
            let columns: Vec<String> = (0..width).map(|i| format!("column{} AS _col{i}", i + 1)).collect();
            let text = format!("SELECT {} FROM ({values}) AS _values", columns.join(", "));
            *body = *parse_query(&text)?.body;
            Ok(())
        }
        SetExpr::SetOperation { left, right, .. } => {
            values_columns(left)?;
            values_columns(right)
        }
        _ => Ok(()),
    }
}

/// `FETCH FIRST n ROWS ONLY` is `LIMIT n` (DataFusion plans only LIMIT).
fn fetch_first(query: &mut Query) -> Result<()> {
    let Some(fetch) = query.fetch.take() else { return Ok(()) };
    if fetch.with_ties || fetch.percent {
        return Err(EngineError::unsupported(
            "FETCH FIRST ... WITH TIES or PERCENT",
            "use FETCH FIRST n ROWS ONLY (or LIMIT n), or a window function such as rank() for ties",
        ));
    }
    let limit = fetch
        .quantity
        .unwrap_or_else(|| Expr::Value(Value::Number("1".into(), false).into()));
    match &mut query.limit_clause {
        None => {
            query.limit_clause = Some(LimitClause::LimitOffset {
                limit: Some(limit),
                offset: None,
                limit_by: Vec::new(),
            })
        }
        Some(LimitClause::LimitOffset { limit: slot @ None, .. }) => *slot = Some(limit),
        Some(_) => {
            return Err(EngineError::invalid(
                Part::Clause,
                "a query has both LIMIT and FETCH FIRST; keep one of them",
            ));
        }
    }
    Ok(())
}

fn parse_query(text: &str) -> Result<Box<Query>> {
    Ok(Parser::new(&AthenaDialect).try_with_sql(text)?.parse_query()?)
}

fn parse_expr(text: &str) -> Result<Expr> {
    Ok(Parser::new(&AthenaDialect).try_with_sql(text)?.parse_expr()?)
}

/// `CAST(x AS varchar(n))` keeps the first `n` characters, as in Trino; DataFusion's planner drops the length.
fn bounded_varchar(expr: &mut Expr) -> Result<()> {
    use datafusion::sql::sqlparser::ast::{CharacterLength, DataType};
    let Expr::Cast { data_type, .. } = expr else {
        return Ok(());
    };
    let length = match data_type {
        DataType::Varchar(Some(CharacterLength::IntegerLength { length, .. }))
        | DataType::CharacterVarying(Some(CharacterLength::IntegerLength { length, .. }))
        | DataType::CharVarying(Some(CharacterLength::IntegerLength { length, .. })) => *length,
        _ => return Ok(()),
    };
    *data_type = DataType::Varchar(None);
    *expr = parse_expr(&format!("substr({expr}, 1, {length})"))?;
    Ok(())
}

/// Typed literals as Trino reads them: `DECIMAL '1.25'` is a `decimal(3, 2)` (its digits give its precision and scale,
/// which the results of arithmetic on it follow; DataFusion makes every such literal a `decimal(38, 10)`), and a
/// `TIMESTAMP` may leave out the seconds.
/// Rewrites inside an expression just built (the visitor does not visit it again).
fn typed_literal_inner(expr: &mut Expr) -> Result<()> {
    match visit_expressions_mut(expr, |e| match typed_literal(e).and_then(|()| match_functions(e)) {
        Ok(()) => ControlFlow::Continue(()),
        Err(err) => ControlFlow::Break(err),
    }) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(e) => Err(e),
    }
}

fn typed_literal(expr: &mut Expr) -> Result<()> {
    use datafusion::sql::sqlparser::ast::{DataType, ExactNumberInfo};
    let Expr::TypedString(typed) = expr else { return Ok(()) };
    if let DataType::JSON = typed.data_type
        && let Some(text) = typed.value.clone().into_string()
    {
        // tarn's JSON values are JSON text; the literal is checked and normalised as Trino's.
        *expr = parse_expr(&format!("json_parse('{}')", text.replace('\'', "''")))?;
        return Ok(());
    }
    if let DataType::Timestamp(_, _) = typed.data_type
        && let Some(text) = typed.value.clone().into_string()
        && let Some((local, zone)) = text.trim().rsplit_once(' ')
        && local.contains(':')
        && zone.starts_with(|c: char| c.is_ascii_alphabetic() || c == '+' || c == '-')
    {
        // `TIMESTAMP '2020-01-01 00:00:00 UTC'` is a `timestamp with time zone` in Trino.
        *expr = parse_expr(&format!(
            "with_timezone(TIMESTAMP '{local}', '{}')",
            zone.replace('\'', "''")
        ))?;
        return typed_literal_inner(expr);
    }
    if let DataType::Timestamp(_, _) = typed.data_type
        && let Some(text) = typed.value.clone().into_string()
        && text.len() == 16
        && text.as_bytes().get(13) == Some(&b':')
    {
        // Trino's `TIMESTAMP '2012-10-31 01:00'` (no seconds), which Arrow's parser refuses.
        *expr = parse_expr(&format!("TIMESTAMP '{text}:00'"))?;
        return Ok(());
    }
    if !matches!(
        typed.data_type,
        DataType::Decimal(ExactNumberInfo::None) | DataType::Numeric(ExactNumberInfo::None)
    ) {
        return Ok(());
    }
    let Some(text) = typed.value.clone().into_string() else {
        return Ok(());
    };
    let digits = text.trim().trim_start_matches(['+', '-']);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty() || !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit()) {
        // Not a plain decimal number (an exponent, a typo): DataFusion's cast gives its error.
        return Ok(());
    }
    let scale = fraction.len() as u64;
    let precision = (whole.trim_start_matches('0').len() as u64 + scale).max(1);
    typed.data_type = DataType::Decimal(ExactNumberInfo::PrecisionAndScale(precision, scale as i64));
    Ok(())
}

/// Trino functions written in terms of DataFusion's: `all_match`/`none_match` (`any_match`), `approx_distinct` (a
/// bigint, with Trino's check of the standard error), `map_agg` (`map` of two `array_agg`s, NULL keys skipped),
/// `at_timezone` (`AT TIME ZONE`) and `current_timezone()` (Athena's session zone, UTC).
fn match_functions(expr: &mut Expr) -> Result<()> {
    let Expr::Function(f) = expr else { return Ok(()) };
    let name = f.name.to_string().to_ascii_lowercase();
    if !matches!(
        name.as_str(),
        "all_match"
            | "none_match"
            | "approx_distinct"
            | "map_agg"
            | "at_timezone"
            | "current_timezone"
            | "with_timezone"
            | "replace"
            | "strpos"
            | "last_day_of_month"
            | "bitwise_and"
            | "bitwise_or"
            | "bitwise_xor"
            | "bitwise_not"
            | "bitwise_left_shift"
            | "bitwise_right_shift_arithmetic"
            | "nan"
            | "infinity"
            | "every"
            | "geometric_mean"
            | "max_by"
            | "min_by"
            | "max"
            | "min"
            | "listagg"
            | "approx_most_frequent"
            | "histogram"
            | "multimap_agg"
            | "zip_with"
            | "map_filter"
            | "transform_keys"
            | "transform_values"
            | "map_zip_with"
            | "normalize"
            | "e"
            | "array_sort"
            | "regexp_replace"
            | "rand"
            | "from_unixtime"
    ) {
        return Ok(());
    }
    let arg_count = match &f.args {
        FunctionArguments::List(list) => list.args.len(),
        _ => 0,
    };
    // The forms DataFusion has: only the other arities are Trino's own.
    match (name.as_str(), arg_count) {
        ("replace", 3)
        | ("strpos", 2)
        | ("max" | "min", 1)
        | ("array_sort", 1)
        | ("regexp_replace", 2)
        | ("rand", 0)
        | ("from_unixtime", 1) => {
            return Ok(());
        }
        _ => {}
    }
    // Aggregates rewritten into another aggregate keep their FILTER; a window or WITHIN GROUP is refused below.
    let filter = f.filter.as_ref().map(|c| c.to_string());
    let also = |cond: &str| match &filter {
        Some(c) => format!(" FILTER (WHERE ({c}) AND {cond})"),
        None => format!(" FILTER (WHERE {cond})"),
    };
    let keep_filter = filter
        .as_ref()
        .map(|c| format!(" FILTER (WHERE {c})"))
        .unwrap_or_default();
    let over = f.over.as_ref().map(|w| format!(" OVER {w}")).unwrap_or_default();
    let ordered = matches!(
        name.as_str(),
        "max_by" | "min_by" | "max" | "min" | "approx_most_frequent" | "histogram" | "multimap_agg"
    );
    if ordered && (f.over.is_some() || !f.within_group.is_empty()) {
        return Err(EngineError::unsupported(
            format!("{name}() with OVER or WITHIN GROUP"),
            "aggregate a subquery that partitions the rows instead",
        ));
    }
    let within_group: Vec<String> = f.within_group.iter().map(|o| o.to_string()).collect();
    if (name.starts_with("approx") || name == "map_agg")
        && (f.filter.is_some() || f.over.is_some() || !f.within_group.is_empty())
    {
        return Err(EngineError::unsupported(
            format!("{name}() with FILTER, OVER or WITHIN GROUP"),
            "aggregate a subquery that filters or partitions the rows instead",
        ));
    }
    let args: Vec<&Expr> = match &f.args {
        FunctionArguments::List(list) => list
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let text = match (name.as_str(), args.as_slice()) {
        ("all_match", [array, Expr::Lambda(lambda)]) => {
            format!("(NOT any_match({array}, {} -> NOT ({})))", lambda.params, lambda.body)
        }
        ("none_match", [array, Expr::Lambda(lambda)]) => format!("(NOT any_match({array}, {lambda}))"),
        ("all_match" | "none_match", _) => {
            return Err(EngineError::invalid(
                Part::Function,
                format!("{name}() takes an array and a lambda, as in {name}(a, x -> x > 0)"),
            ));
        }
        ("approx_distinct", [x]) => format!("CAST(approx_distinct({x}) AS BIGINT)"),
        ("approx_distinct", [x, e]) => {
            let error: Option<f64> = e.to_string().parse().ok();
            if !error.is_some_and(|e| (0.0040625..=0.26).contains(&e)) {
                return Err(EngineError::invalid(
                    Part::Function,
                    format!("approx_distinct: max standard error must be in [0.0040625, 0.26000]: {e}"),
                ));
            }
            format!("CAST(approx_distinct({x}) AS BIGINT)")
        }
        // Athena's session zone is UTC.
        ("current_timezone", []) => "'UTC'".to_string(),
        ("at_timezone", [ts, zone]) => format!("({ts} AT TIME ZONE {zone})"),
        // The same local time in `zone`: Arrow's cast of a timestamp without a zone to one with reads it as local.
        ("with_timezone", [ts, Expr::Value(v)]) => match &v.value {
            Value::SingleQuotedString(zone) => {
                zone.parse::<datafusion::arrow::array::timezone::Tz>().map_err(|e| {
                    EngineError::invalid(
                        Part::Function,
                        format!("with_timezone: '{zone}' is not a time zone ({e})"),
                    )
                })?;
                format!("arrow_cast(CAST({ts} AS TIMESTAMP(3)), 'Timestamp(ms, \"{zone}\")')")
            }
            _ => {
                return Err(EngineError::invalid(
                    Part::Function,
                    "with_timezone(ts, zone) takes the zone as a string literal",
                ));
            }
        },
        ("replace", [text, search]) => format!("replace({text}, {search}, '')"),
        // Trino writes the form as a word: `normalize(s, NFD)`.
        ("normalize", [text]) => format!("normalize({text})"),
        ("normalize", [text, Expr::Identifier(form)]) => format!("normalize({text}, '{}')", form.value),
        ("normalize", [text, form]) => format!("normalize({text}, {form})"),
        ("strpos", [text, search, instance]) => format!("tarn_strpos({text}, {search}, {instance})"),
        ("last_day_of_month", [x]) => {
            format!("CAST(date_trunc('month', CAST({x} AS DATE)) + INTERVAL '1' MONTH - INTERVAL '1' DAY AS DATE)")
        }
        ("bitwise_and", [a, b]) => format!("({a} & {b})"),
        ("bitwise_or", [a, b]) => format!("({a} | {b})"),
        ("bitwise_xor", [a, b]) => format!("({a} ^ {b})"),
        ("bitwise_not", [a]) => format!("({a} ^ -1)"),
        ("bitwise_left_shift", [a, b]) => format!("({a} << {b})"),
        ("bitwise_right_shift_arithmetic", [a, b]) => format!("({a} >> {b})"),
        ("nan", []) => "CAST('NaN' AS DOUBLE)".into(),
        ("e", []) => "exp(1e0)".into(),
        ("regexp_replace", [text, pattern, lambda @ Expr::Lambda(_)]) => {
            format!("tarn_regexp_replace_by({text}, {pattern}, {lambda})")
        }
        ("regexp_replace", [_, _, _]) => return Ok(()),
        // A random integer in [0, n).
        ("rand", [n]) => format!("CAST(floor(random() * ({n})) AS BIGINT)"),
        // The instant in the zone, a `timestamp(3) with time zone`.
        ("from_unixtime", [x, zone]) => format!("(from_unixtime({x}) AT TIME ZONE {zone})"),
        ("from_unixtime", [x, h, m]) => match int_literal(h).zip(int_literal(m)) {
            Some((h, m)) if h.abs() <= 14 && (0..60).contains(&m) => {
                let sign = if h < 0 { '-' } else { '+' };
                format!("(from_unixtime({x}) AT TIME ZONE '{sign}{:02}:{m:02}')", h.abs())
            }
            _ => {
                return Err(EngineError::invalid(
                    Part::Function,
                    "from_unixtime(x, hours, minutes) takes the offset as integer literals, hours within ±14 and \
                         minutes 0 to 59",
                ));
            }
        },
        ("array_sort", [array, lambda @ Expr::Lambda(_)]) => format!("tarn_array_sort_by({array}, {lambda})"),
        ("array_sort", _) => {
            return Err(EngineError::invalid(
                Part::Function,
                "array_sort() takes an array, and optionally a comparator lambda (x, y) -> ...",
            ));
        }
        ("infinity", []) => "CAST('Infinity' AS DOUBLE)".into(),
        ("every", [x]) => format!("bool_and({x}){keep_filter}{over}"),
        ("geometric_mean", [x]) => format!("exp(avg(ln(CAST({x} AS DOUBLE))){keep_filter}{over})"),
        ("max_by", [x, y]) => format!(
            "first_value({x} ORDER BY {y} DESC){}",
            also(&format!("{y} IS NOT NULL"))
        ),
        ("min_by", [x, y]) => format!("first_value({x} ORDER BY {y} ASC){}", also(&format!("{y} IS NOT NULL"))),
        ("max_by", [x, y, n]) => format!(
            "slice(array_agg({x} ORDER BY {y} DESC){}, 1, {n})",
            also(&format!("{y} IS NOT NULL"))
        ),
        ("min_by", [x, y, n]) => format!(
            "slice(array_agg({x} ORDER BY {y} ASC){}, 1, {n})",
            also(&format!("{y} IS NOT NULL"))
        ),
        ("max", [x, n]) => format!(
            "slice(array_agg({x} ORDER BY {x} DESC){}, 1, {n})",
            also(&format!("{x} IS NOT NULL"))
        ),
        ("min", [x, n]) => format!(
            "slice(array_agg({x} ORDER BY {x} ASC){}, 1, {n})",
            also(&format!("{x} IS NOT NULL"))
        ),
        ("listagg", [x, rest @ ..]) if rest.len() <= 1 => {
            let separator = rest.first().map_or("''".to_string(), |s| s.to_string());
            let order = if within_group.is_empty() {
                String::new()
            } else {
                format!(" ORDER BY {}", within_group.join(", "))
            };
            format!("string_agg({x}, {separator}{order}){keep_filter}")
        }
        ("approx_most_frequent", [buckets, x, _capacity]) => format!(
            "tarn_top_counts(array_agg({x}){}, {buckets})",
            also(&format!("{x} IS NOT NULL"))
        ),
        ("histogram", [x]) => format!("array_histogram(array_agg({x}){})", also(&format!("{x} IS NOT NULL"))),
        ("multimap_agg", [k, v]) => format!(
            "tarn_multimap(array_agg({k}){cond}, array_agg({v}){cond})",
            cond = also(&format!("{k} IS NOT NULL"))
        ),
        ("zip_with", [a, b, Expr::Lambda(lambda)]) => {
            let body = substitute(lambda, &["get_field(_z, 'c0')", "get_field(_z, 'c1')"], 2, &name)?;
            format!("transform(zip({a}, {b}), _z -> {body})")
        }
        ("map_filter", [m, Expr::Lambda(lambda)]) => {
            let body = substitute(lambda, &["get_field(_e, 'c0')", "get_field(_e, 'c1')"], 2, &name)?;
            format!("map_from_entries(filter(map_entries({m}), _e -> {body}))")
        }
        ("transform_keys", [m, Expr::Lambda(lambda)]) => {
            let body = substitute(lambda, &["get_field(_e, 'c0')", "get_field(_e, 'c1')"], 2, &name)?;
            format!("map_from_entries(transform(map_entries({m}), _e -> struct({body}, get_field(_e, 'c1'))))")
        }
        ("transform_values", [m, Expr::Lambda(lambda)]) => {
            let body = substitute(lambda, &["get_field(_e, 'c0')", "get_field(_e, 'c1')"], 2, &name)?;
            format!("map_from_entries(transform(map_entries({m}), _e -> struct(get_field(_e, 'c0'), {body})))")
        }
        ("map_zip_with", [m1, m2, Expr::Lambda(lambda)]) => {
            // The keys of both maps, each with its two values (NULL where a map lacks the key).
            let body = substitute(
                lambda,
                &["get_field(_e, 'c0')", "get_field(_e, 'c1')", "get_field(_e, 'c2')"],
                3,
                &name,
            )?;
            format!(
                "map_from_entries(transform(zip(array_distinct(array_concat(map_keys({m1}), map_keys({m2}))), \
                 transform(array_distinct(array_concat(map_keys({m1}), map_keys({m2}))), _k -> element_at({m1}, _k)), \
                 transform(array_distinct(array_concat(map_keys({m1}), map_keys({m2}))), _k -> element_at({m2}, _k))), \
                 _e -> struct(get_field(_e, 'c0'), {body})))"
            )
        }
        ("zip_with" | "map_filter" | "transform_keys" | "transform_values" | "map_zip_with", _) => {
            return Err(EngineError::invalid(
                Part::Function,
                format!("{name}() takes its arguments and a lambda, as in {name}(m, (k, v) -> v > 0)"),
            ));
        }
        ("map_agg", [k, v]) => {
            format!("map(array_agg({k}) FILTER (WHERE {k} IS NOT NULL), array_agg({v}) FILTER (WHERE {k} IS NOT NULL))")
        }
        _ => {
            return Err(EngineError::invalid(
                Part::Function,
                format!(
                    "{name}() got {} argument(s); see the Trino function list in the README",
                    args.len()
                ),
            ));
        }
    };
    *expr = parse_expr(&text)?;
    Ok(())
}

/// An integer written as a literal, with its sign.
fn int_literal(expr: &Expr) -> Option<i64> {
    use datafusion::sql::sqlparser::ast::UnaryOperator;
    match expr {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse().ok(),
            _ => None,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => int_literal(expr).map(|n: i64| -n),
        Expr::Nested(inner) => int_literal(inner),
        _ => None,
    }
}

/// A lambda's body with its parameters replaced by `values` (it must have `arity` of them).
fn substitute(
    lambda: &datafusion::sql::sqlparser::ast::LambdaFunction,
    values: &[&str],
    arity: usize,
    function: &str,
) -> Result<String> {
    use datafusion::sql::sqlparser::ast::OneOrManyWithParens;
    let params: Vec<&Ident> = match &lambda.params {
        OneOrManyWithParens::One(p) => vec![&p.name],
        OneOrManyWithParens::Many(ps) => ps.iter().map(|p| &p.name).collect(),
    };
    if params.len() != arity {
        return Err(EngineError::invalid(
            Part::Function,
            format!(
                "{function}(): the lambda takes {arity} parameter(s), not {}",
                params.len()
            ),
        ));
    }
    let mut body = (*lambda.body).clone();
    let mut failed = None;
    let _ = visit_expressions_mut(&mut body, |e| {
        // Trino's `(y, x)` in a lambda is a row.
        if let Expr::Tuple(items) = e {
            let items: Vec<String> = items.iter().map(ToString::to_string).collect();
            match parse_expr(&format!("struct({})", items.join(", "))) {
                Ok(v) => *e = v,
                Err(err) => failed = Some(err),
            }
        }
        if let Expr::Identifier(id) = e
            && let Some(i) = params.iter().position(|p| same(p, id))
        {
            match parse_expr(values[i]) {
                Ok(v) => *e = Expr::Nested(Box::new(v)),
                Err(err) => failed = Some(err),
            }
        }
        ControlFlow::<()>::Continue(())
    });
    match failed {
        Some(e) => Err(e),
        None => Ok(body.to_string()),
    }
}

/// Rewrites the UNNESTs of a query body; returns the renamed qualifiers (the UNNEST's name, the table's).
fn unnest_in_set_expr(body: &mut SetExpr) -> Result<Vec<(Ident, Ident)>> {
    match body {
        SetExpr::Select(select) => {
            let mut renames = Vec::new();
            while unnest_once(select.as_mut(), &mut renames)? {}
            Ok(renames)
        }
        SetExpr::SetOperation { left, right, .. } => {
            let mut renames = unnest_in_set_expr(left.as_mut())?;
            renames.extend(unnest_in_set_expr(right.as_mut())?);
            Ok(renames)
        }
        _ => Ok(Vec::new()),
    }
}

/// Where a table factor sits in a `FROM`: `from[item]`'s relation (`join` = 0) or its join `join - 1`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Slot {
    item: usize,
    join: usize,
}

fn factor_mut(select: &mut Select, slot: Slot) -> Option<&mut TableFactor> {
    let item = select.from.get_mut(slot.item)?;
    match slot.join {
        0 => Some(&mut item.relation),
        j => item.joins.get_mut(j - 1).map(|j| &mut j.relation),
    }
}

/// The name a factor's columns are qualified by, if it has one.
fn factor_name(factor: &TableFactor) -> Option<Ident> {
    match factor {
        TableFactor::Table { alias: Some(a), .. } | TableFactor::Derived { alias: Some(a), .. } => Some(a.name.clone()),
        TableFactor::Table { name, .. } => name.0.last().and_then(ObjectNamePart::as_ident).cloned(),
        TableFactor::UNNEST { alias: Some(a), .. } => Some(a.name.clone()),
        _ => None,
    }
}

fn same(a: &Ident, b: &Ident) -> bool {
    a.value.eq_ignore_ascii_case(&b.value)
}

/// Rewrites the first `UNNEST` in `select`'s `FROM` (false if there is none), noting the qualifier it renames.
fn unnest_once(select: &mut Select, renames: &mut Vec<(Ident, Ident)>) -> Result<bool> {
    let mut found = None;
    'search: for (i, item) in select.from.iter().enumerate() {
        for j in 0..=item.joins.len() {
            let factor = if j == 0 {
                &item.relation
            } else {
                &item.joins[j - 1].relation
            };
            if matches!(factor, TableFactor::UNNEST { .. }) {
                found = Some(Slot { item: i, join: j });
                break 'search;
            }
        }
    }
    let Some(slot) = found else { return Ok(false) };
    if slot.join > 0 {
        match &select.from[slot.item].joins[slot.join - 1].join_operator {
            JoinOperator::CrossJoin(JoinConstraint::None) => {}
            JoinOperator::Join(JoinConstraint::On(Expr::Value(v)))
            | JoinOperator::Inner(JoinConstraint::On(Expr::Value(v)))
                if v.value == Value::Boolean(true) => {}
            JoinOperator::Left(_) | JoinOperator::LeftOuter(_) => {
                return Err(EngineError::unsupported(
                    "LEFT JOIN UNNEST",
                    "tarn unnests with CROSS JOIN UNNEST, which drops rows whose array is empty or NULL",
                ));
            }
            _ => {
                return Err(EngineError::unsupported(
                    "this join of UNNEST",
                    "write CROSS JOIN UNNEST(...) AS u(x) or FROM t, UNNEST(...) AS u(x)",
                ));
            }
        }
    }
    let Some(TableFactor::UNNEST {
        alias,
        array_exprs,
        with_offset,
        with_ordinality,
        ..
    }) = factor_mut(select, slot).map(|f| f.clone())
    else {
        return Ok(false);
    };
    if with_offset {
        return Err(EngineError::unsupported(
            "UNNEST ... WITH OFFSET",
            "use WITH ORDINALITY AS u(x, n), Trino's form (n counts from 1)",
        ));
    }
    if array_exprs.is_empty() {
        return Err(EngineError::invalid(
            Part::Clause,
            "UNNEST needs at least one array or map",
        ));
    }
    let columns: Vec<Ident> = alias
        .as_ref()
        .map(|a| a.columns.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    let items = unnest_items(&array_exprs, &columns, with_ordinality)?;

    let (qualifiers, unqualified) = column_references(&array_exprs);
    if qualifiers.is_empty() && !unqualified {
        // Nothing from the left: the UNNEST is a table of its own.
        let name = alias
            .as_ref()
            .map(|a| a.name.to_string())
            .unwrap_or_else(|| "_unnest".into());
        let derived = parse_factor(&format!("(SELECT {}) AS {name}", items.join(", ")))?;
        if let Some(f) = factor_mut(select, slot) {
            *f = derived;
        }
        return Ok(true);
    }

    let target = lateral_target(select, slot, &qualifiers)?;
    check_joins_between(select, target, slot)?;
    let Some(factor) = factor_mut(select, target) else {
        return Ok(false);
    };
    let Some(name) = factor_name(factor) else {
        return Err(EngineError::invalid(
            Part::Clause,
            "UNNEST reads a subquery without a name: give it one, as in (SELECT ...) AS t",
        ));
    };
    if let TableFactor::Table {
        alias: alias @ None, ..
    } = factor
    {
        *alias = Some(TableAlias {
            explicit: true,
            name: name.clone(),
            columns: Vec::new(),
            at: None,
        });
    }
    let derived = parse_factor(&format!(
        "(SELECT {name}.*, {} FROM {factor}) AS {name}",
        items.join(", ")
    ))?;
    *factor = derived;

    // The UNNEST goes; joins written after it in a comma-separated item move to the item it reads from.
    if slot.join > 0 {
        select.from[slot.item].joins.remove(slot.join - 1);
    } else {
        let removed = select.from.remove(slot.item);
        if !removed.joins.is_empty() {
            if target.item + 1 != slot.item {
                return Err(EngineError::unsupported(
                    "joins after a comma-separated UNNEST that reads an earlier FROM item",
                    "write CROSS JOIN UNNEST(...) right after the table it reads",
                ));
            }
            select.from[target.item].joins.extend(removed.joins);
        }
    }
    let Some(unnest_name) = alias.map(|a| a.name) else {
        return Ok(true);
    };
    requalify(select, &unnest_name, &name, &columns);
    renames.push((unnest_name, name));
    Ok(true)
}

fn parse_factor(text: &str) -> Result<TableFactor> {
    Ok(Parser::new(&AthenaDialect).try_with_sql(text)?.parse_table_factor()?)
}

/// The select-list items that unnest `exprs` into `columns` (names Trino leaves out become `_colN`).
fn unnest_items(exprs: &[Expr], columns: &[Ident], ordinality: bool) -> Result<Vec<String>> {
    let values = columns.len().saturating_sub(usize::from(ordinality));
    let name = |i: usize| -> String {
        columns
            .get(i)
            .map(ToString::to_string)
            .unwrap_or_else(|| format!("_col{i}"))
    };
    let mut items = Vec::new();
    if columns.is_empty() || values == exprs.len() {
        for (i, e) in exprs.iter().enumerate() {
            items.push(format!("unnest({e}) AS {}", name(i)));
        }
    } else if exprs.len() == 1 && values > 1 {
        // A map (key, value) or an array of rows (one column per field).
        for i in 0..values {
            items.push(format!("unnest(unnest_field({}, {i})) AS {}", exprs[0], name(i)));
        }
    } else {
        return Err(EngineError::invalid(
            Part::Column,
            format!(
                "UNNEST of {} value(s) cannot give {} column(s){}: name one column per array (two for a map, \
             unnested alone)",
                exprs.len(),
                columns.len(),
                if ordinality { " and an ordinality" } else { "" }
            ),
        ));
    }
    if ordinality {
        let lengths: Vec<String> = exprs.iter().map(|e| format!("cardinality({e})")).collect();
        let longest = if lengths.len() == 1 {
            lengths[0].clone()
        } else {
            format!("greatest({})", lengths.join(", "))
        };
        let n = if columns.is_empty() {
            "ordinality".to_string()
        } else {
            name(columns.len() - 1)
        };
        items.push(format!("unnest(range(1, {longest} + 1)) AS {n}"));
    }
    Ok(items)
}

/// The table names `exprs` qualify columns with, and whether any column is unqualified.
fn column_references(exprs: &[Expr]) -> (Vec<Ident>, bool) {
    let mut qualifiers: Vec<Ident> = Vec::new();
    let mut unqualified = false;
    let mut exprs = exprs.to_vec();
    let _ = visit_expressions_mut(&mut exprs, |e| {
        match e {
            Expr::Identifier(_) => unqualified = true,
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 && !qualifiers.iter().any(|q| same(q, &parts[0])) => {
                qualifiers.push(parts[0].clone());
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    (qualifiers, unqualified)
}

/// The factor before `unnest` whose columns the UNNEST reads.
fn lateral_target(select: &Select, unnest: Slot, qualifiers: &[Ident]) -> Result<Slot> {
    let mut before = Vec::new();
    for (i, item) in select.from.iter().enumerate().take(unnest.item + 1) {
        let last = if i == unnest.item {
            unnest.join
        } else {
            item.joins.len() + 1
        };
        for j in 0..last {
            let factor = if j == 0 {
                &item.relation
            } else {
                &item.joins[j - 1].relation
            };
            before.push((Slot { item: i, join: j }, factor_name(factor)));
        }
    }
    let mut targets: Vec<Slot> = Vec::new();
    for q in qualifiers {
        match before.iter().find(|(_, n)| n.as_ref().is_some_and(|n| same(n, q))) {
            Some((slot, _)) if !targets.contains(slot) => targets.push(*slot),
            Some(_) => {}
            None => {
                return Err(EngineError::invalid(
                    Part::Clause,
                    format!("UNNEST reads {q}, which is not a table before it in FROM"),
                ));
            }
        }
    }
    match (targets.as_slice(), before.as_slice()) {
        ([one], _) => Ok(*one),
        ([], [(only, _)]) => Ok(*only),
        ([], []) => Err(EngineError::invalid(
            Part::Column,
            "UNNEST reads columns, but there is no table before it in FROM",
        )),
        ([], _) => Err(EngineError::invalid(
            Part::Column,
            "UNNEST reads a column without naming its table: write UNNEST(t.column)",
        )),
        _ => Err(EngineError::unsupported(
            "an UNNEST of columns from several tables",
            "unnest each table's arrays in its own CROSS JOIN UNNEST",
        )),
    }
}

/// Refuses moving the unnest into `target` across an outer join that could null `target`'s rows (Trino would then
/// unnest a NULL array; the rewrite would keep the row).
fn check_joins_between(select: &Select, target: Slot, unnest: Slot) -> Result<()> {
    let item = &select.from[target.item];
    let end = if unnest.item == target.item {
        unnest.join
    } else {
        item.joins.len() + 1
    };
    for position in (target.join.max(1))..end {
        let nulls_target = match &item.joins[position - 1].join_operator {
            JoinOperator::Join(_) | JoinOperator::Inner(_) | JoinOperator::CrossJoin(_) => false,
            JoinOperator::Left(_) | JoinOperator::LeftOuter(_) => position == target.join,
            JoinOperator::Right(_) | JoinOperator::RightOuter(_) => position > target.join,
            _ => true,
        };
        if nulls_target {
            return Err(EngineError::unsupported(
                "CROSS JOIN UNNEST of a table on the nullable side of an outer join",
                "unnest in a subquery first, then join its result",
            ));
        }
    }
    Ok(())
}

/// After the UNNEST is merged into `table`, its columns are `table`'s: `u.x` becomes `table.x`, `u.*` its columns.
fn requalify(select: &mut Select, unnest: &Ident, table: &Ident, columns: &[Ident]) {
    let mut projection = Vec::new();
    for item in std::mem::take(&mut select.projection) {
        match item {
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(name), _)
                if name.0.len() == 1 && name.0[0].as_ident().is_some_and(|i| same(i, unnest)) =>
            {
                for c in columns {
                    projection.push(SelectItem::UnnamedExpr(Expr::CompoundIdentifier(vec![
                        table.clone(),
                        c.clone(),
                    ])));
                }
            }
            other => projection.push(other),
        }
    }
    select.projection = projection;
    rename_qualifier(select, unnest, table);
}

fn rename_qualifier(node: &mut impl VisitMut, from: &Ident, to: &Ident) {
    let _ = visit_expressions_mut(node, |e| {
        if let Expr::CompoundIdentifier(parts) = e
            && parts.len() >= 2
            && same(&parts[0], from)
        {
            parts[0] = to.clone();
        }
        ControlFlow::<()>::Continue(())
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_datafusion_statement;

    fn rewritten(sql: &str) -> Result<String> {
        Ok(parse_datafusion_statement(sql)?.to_string())
    }

    #[test]
    fn cross_join_unnest_becomes_a_select_list_unnest() -> Result<()> {
        assert_eq!(
            rewritten("SELECT t.id, u.x FROM t CROSS JOIN UNNEST(t.a) WITH ORDINALITY AS u(x, n)")?,
            "SELECT t.id, t.x FROM (SELECT t.*, unnest(t.a) AS x, unnest(range(1, cardinality(t.a) + 1)) AS n \
             FROM t AS t) AS t"
        );
        assert_eq!(
            rewritten("SELECT * FROM t, UNNEST(a, b) AS u(x, y)")?,
            "SELECT * FROM (SELECT t.*, unnest(a) AS x, unnest(b) AS y FROM t AS t) AS t"
        );
        assert_eq!(
            rewritten("SELECT * FROM UNNEST(ARRAY[1, 2]) AS u(x)")?,
            "SELECT * FROM (SELECT unnest(ARRAY[1, 2]) AS x) AS u"
        );
        Ok(())
    }

    #[test]
    fn unnest_that_cannot_be_rewritten_says_why() {
        let err = |sql: &str| rewritten(sql).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err("SELECT * FROM t LEFT JOIN UNNEST(t.a) AS u(x) ON true").contains("LEFT JOIN UNNEST"));
        assert!(
            err("SELECT * FROM t JOIN s ON t.k = s.k CROSS JOIN UNNEST(a) AS u(x)").contains("write UNNEST(t.column)")
        );
        assert!(err("SELECT * FROM t CROSS JOIN UNNEST(t.a, t.b) AS u(x)").contains("cannot give 1 column"));
        assert!(
            err("SELECT * FROM s LEFT JOIN t ON s.k = t.k CROSS JOIN UNNEST(t.a) AS u(x)").contains("nullable side")
        );
        assert!(err("SELECT * FROM t CROSS JOIN UNNEST(v.a) AS u(x)").contains("v, which is not a table before it"));
        assert!(err("SELECT * FROM t, s CROSS JOIN UNNEST(t.a, s.b) AS u(x, y)").contains("several tables"));
        assert!(err("SELECT * FROM t CROSS JOIN UNNEST(t.a) AS u WITH OFFSET").contains("WITH OFFSET"));
    }
}
