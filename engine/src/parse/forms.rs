//! Passes over a statement's tokens that bring Athena's (Trino's) forms to what DataFusion's parser reads. They edit
//! the token list the statement was tokenised into, once: the text is never re-tokenised, and every token that came
//! from the text keeps its position there, so a syntax error points at what the user wrote.

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Word};

use crate::error::{EngineError, Part, Result};
use crate::names::AsOf;

/// Lower-cases quoted identifiers (`"HouseholdID"` → `"householdid"`). Athena (Trino) treats every identifier
/// case-insensitively and tarn stores names lower-case; DataFusion folds only unquoted names, so without this a quoted
/// mixed-case name would miss its column.
pub(crate) fn fold_quoted_identifiers(tokens: &mut [TokenWithSpan]) {
    for token in tokens {
        if let Token::Word(w) = &mut token.token
            && w.quote_style.is_some()
            && w.value.chars().any(char::is_uppercase)
        {
            w.value = w.value.to_lowercase();
        }
    }
}

/// An edit of a token list: the tokens `from..to` become `with` (an insertion when `from == to`).
struct Edit {
    from: usize,
    to: usize,
    with: Vec<TokenWithSpan>,
}

fn apply(tokens: &mut Vec<TokenWithSpan>, mut edits: Vec<Edit>) {
    if edits.is_empty() {
        return;
    }
    edits.sort_by_key(|e| (e.from, e.to));
    let mut out = Vec::with_capacity(tokens.len() + edits.len() * 2);
    let mut copied = 0;
    for edit in edits {
        out.extend_from_slice(&tokens[copied..edit.from.max(copied)]);
        out.extend(edit.with);
        copied = copied.max(edit.to);
    }
    out.extend_from_slice(&tokens[copied.min(tokens.len())..]);
    *tokens = out;
}

/// A token placed where `at` is, so an error in it points there.
fn at(at: &TokenWithSpan, token: Token) -> TokenWithSpan {
    TokenWithSpan::new(token, at.span)
}

fn word(token: &TokenWithSpan, text: &str) -> bool {
    matches!(&token.token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(text))
}

/// The positions of the tokens that are not whitespace.
fn significant(tokens: &[TokenWithSpan]) -> Vec<usize> {
    tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| !matches!(t.token, Token::Whitespace(_) | Token::EOF))
        .map(|(i, _)| i)
        .collect()
}

/// Athena's time travel, `t FOR VERSION AS OF 3` and `t FOR TIMESTAMP AS OF '2026-01-01 00:00:00'`, which
/// DataFusion's parser does not know: the clause goes and the table's name token becomes the quoted name `t@v3` (or
/// `t@t<microseconds>`), which the query's catalog snapshot resolves to that version (see [`AsOf`]).
pub(crate) fn time_travel(tokens: &mut Vec<TokenWithSpan>) -> Result<()> {
    let sig = significant(tokens);
    let mut edits = Vec::new();
    let mut k = 1;
    while k + 4 < sig.len() {
        let t = |j: usize| &tokens[sig[k + j]];
        let is_version = word(t(1), "VERSION");
        if !(word(t(0), "FOR")
            && (is_version || word(t(1), "SYSTEM_TIME") || word(t(1), "TIMESTAMP"))
            && word(t(2), "AS")
            && word(t(3), "OF"))
        {
            k += 1;
            continue;
        }
        let name_at = sig[k - 1];
        let Token::Word(name) = &tokens[name_at].token else {
            return Err(EngineError::invalid(
                Part::Clause,
                "FOR VERSION AS OF follows a table name: FROM t FOR VERSION AS OF 3",
            ));
        };
        let mut end = sig[k + 4];
        let as_of = match (&tokens[end].token, is_version) {
            (Token::Number(n, _), true) => AsOf::Version(n.parse().map_err(|_| {
                EngineError::invalid(
                    Part::Clause,
                    format!("FOR VERSION AS OF {n}: a version is a whole number"),
                )
            })?),
            (Token::Word(w), false) if w.value.eq_ignore_ascii_case("TIMESTAMP") && k + 5 < sig.len() => {
                end = sig[k + 5];
                match &tokens[end].token {
                    Token::SingleQuotedString(s) => AsOf::Timestamp(crate::names::parse_utc(s)?),
                    _ => {
                        return Err(EngineError::invalid(
                            Part::Clause,
                            "FOR TIMESTAMP AS OF TIMESTAMP takes a 'literal'",
                        ));
                    }
                }
            }
            (Token::SingleQuotedString(s), false) => AsOf::Timestamp(crate::names::parse_utc(s)?),
            (other, true) => {
                return Err(EngineError::invalid(
                    Part::Clause,
                    format!("FOR VERSION AS OF takes a version number, not {other}"),
                ));
            }
            (other, false) => {
                return Err(EngineError::invalid(
                    Part::Clause,
                    format!("FOR TIMESTAMP AS OF takes a timestamp literal ('2026-01-01 00:00:00'), not {other}"),
                ));
            }
        };
        let versioned = Word {
            value: format!("{}{}", name.value.to_lowercase(), as_of.suffix()),
            quote_style: Some('"'),
            keyword: Keyword::NoKeyword,
        };
        edits.push(Edit {
            from: name_at,
            to: name_at + 1,
            with: vec![at(&tokens[name_at], Token::Word(versioned))],
        });
        edits.push(Edit {
            from: sig[k],
            to: end + 1,
            with: Vec::new(),
        });
        k += 5;
    }
    apply(tokens, edits);
    Ok(())
}

/// Trino forms that DataFusion's parser refuses before any syntax tree exists:
/// - `VALUES 1, 2, 3`: a row that is not in parentheses is a one-column row (`VALUES (1), (2), (3)`);
/// - `CAST(x AS array(integer))`, `map(varchar, bigint)`, `row(x bigint, y varchar)` (and Hive's `array<int>`):
///   `trino_cast(x, 'array(integer)')`, which reads the type with tarn's type parser and casts as Trino does (JSON
///   text to arrays and maps, rows by position). `TRY_CAST` passes `true` for NULL instead of an error.
pub(crate) fn trino_forms(tokens: &mut Vec<TokenWithSpan>) {
    let sig = significant(tokens);
    let tok = |i: usize| &tokens[sig[i]];
    let mut edits = Vec::new();
    for k in 0..sig.len() {
        let Token::Word(w) = &tok(k).token else { continue };
        if w.quote_style.is_some() {
            continue;
        }
        if w.keyword == Keyword::VALUES {
            values_rows(tokens, &sig, k, &mut edits);
        } else if (w.value.eq_ignore_ascii_case("cast") || w.value.eq_ignore_ascii_case("try_cast"))
            && sig.get(k + 1).is_some_and(|&i| tokens[i].token == Token::LParen)
        {
            nested_cast(tokens, &sig, k, w.value.eq_ignore_ascii_case("try_cast"), &mut edits);
        }
    }
    apply(tokens, edits);
}

/// Parentheses around each row of `VALUES` (at significant token `k`) that has none.
fn values_rows(tokens: &[TokenWithSpan], sig: &[usize], k: usize, edits: &mut Vec<Edit>) {
    let tok = |i: usize| &tokens[sig[i]];
    let mut j = k + 1;
    loop {
        let row_start = j;
        let mut depth = 0usize;
        let mut first_group_end = None;
        while j < sig.len() {
            match &tok(j).token {
                Token::LParen => depth += 1,
                Token::RParen if depth == 0 => break,
                Token::RParen => {
                    depth -= 1;
                    if depth == 0 && first_group_end.is_none() {
                        first_group_end = Some(j);
                    }
                }
                Token::Comma | Token::SemiColon if depth == 0 => break,
                Token::Word(w)
                    if depth == 0
                        && w.quote_style.is_none()
                        && matches!(
                            w.keyword,
                            Keyword::ORDER
                                | Keyword::LIMIT
                                | Keyword::OFFSET
                                | Keyword::FETCH
                                | Keyword::UNION
                                | Keyword::EXCEPT
                                | Keyword::INTERSECT
                                | Keyword::WINDOW
                        ) =>
                {
                    break;
                }
                _ => {}
            }
            j += 1;
        }
        if j == row_start {
            break;
        }
        let parenthesized = tok(row_start).token == Token::LParen && first_group_end == Some(j - 1);
        if !parenthesized {
            edits.push(Edit {
                from: sig[row_start],
                to: sig[row_start],
                with: vec![at(tok(row_start), Token::LParen)],
            });
            edits.push(Edit {
                from: sig[j - 1] + 1,
                to: sig[j - 1] + 1,
                with: vec![at(tok(j - 1), Token::RParen)],
            });
        }
        match sig.get(j).map(|&i| &tokens[i].token) {
            Some(Token::Comma) => j += 1,
            _ => break,
        }
    }
}

/// `CAST(x AS <nested type>)` at significant token `k` → `trino_cast(x, '<nested type>'[, true])`.
fn nested_cast(tokens: &[TokenWithSpan], sig: &[usize], k: usize, try_cast: bool, edits: &mut Vec<Edit>) {
    let tok = |i: usize| &tokens[sig[i]];
    let mut depth = 0usize;
    let mut last_as = None;
    let mut close = None;
    for j in k + 1..sig.len() {
        match &tok(j).token {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth -= 1;
                if depth == 0 {
                    close = Some(j);
                    break;
                }
            }
            Token::Word(a) if depth == 1 && a.quote_style.is_none() && a.keyword == Keyword::AS => last_as = Some(j),
            _ => {}
        }
    }
    let (Some(as_at), Some(close)) = (last_as, close) else {
        return;
    };
    let nested = match sig.get(as_at + 1).map(|&i| &tokens[i].token) {
        Some(Token::Word(t)) => {
            ["array", "map", "row", "struct"]
                .iter()
                .any(|n| t.value.eq_ignore_ascii_case(n))
                && matches!(
                    sig.get(as_at + 2).map(|&i| &tokens[i].token),
                    Some(Token::LParen | Token::Lt)
                )
        }
        _ => false,
    };
    if !nested {
        return;
    }
    let type_text: String = tokens[sig[as_at + 1]..sig[close]]
        .iter()
        .map(|t| t.token.to_string())
        .collect();
    let mut with = vec![
        at(tok(as_at), Token::Comma),
        at(tok(as_at), Token::SingleQuotedString(type_text.trim().to_string())),
    ];
    if try_cast {
        with.push(at(tok(as_at), Token::Comma));
        with.push(at(tok(as_at), Token::make_keyword("true")));
    }
    edits.push(Edit {
        from: sig[k],
        to: sig[k] + 1,
        with: vec![at(tok(k), Token::make_word("trino_cast", None))],
    });
    edits.push(Edit {
        from: sig[as_at],
        to: sig[close],
        with,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statement's tokens after `pass`, as text.
    fn after(sql: &str, pass: impl Fn(&mut Vec<TokenWithSpan>) -> Result<()>) -> Result<String> {
        let mut tokens = super::super::tokenize(sql)?;
        pass(&mut tokens)?;
        Ok(tokens.iter().map(|t| t.token.to_string()).collect())
    }

    #[test]
    fn quoted_identifiers_fold_but_strings_do_not() -> Result<()> {
        let folded = after("SELECT \"HouseholdID\", 'KeepMe' FROM \"SF-Digital\".`T`", |t| {
            fold_quoted_identifiers(t);
            Ok(())
        })?;
        assert_eq!(folded, "SELECT \"householdid\", 'KeepMe' FROM \"sf-digital\".`t`");
        Ok(())
    }

    #[test]
    fn time_travel_names_the_version_in_the_table_name() -> Result<()> {
        let rewritten = after(
            "SELECT * FROM db.t FOR VERSION AS OF 3 AS a JOIN u FOR TIMESTAMP AS OF '2026-01-01 00:00:00' b ON a.x = b.x",
            time_travel,
        )?;
        assert_eq!(
            rewritten,
            r#"SELECT * FROM db."t@v3"  AS a JOIN "u@t1767225600000000"  b ON a.x = b.x"#
        );
        let sql = "SELECT 'FOR VERSION AS OF 3' FROM t";
        assert_eq!(after(sql, time_travel)?, sql, "strings are not clauses");
        let err = after("SELECT * FROM t FOR VERSION AS OF 'x'", time_travel).err();
        assert!(err.is_some_and(|e| e.to_string().contains("takes a version number")));
        let err = after("SELECT * FROM t FOR TIMESTAMP AS OF 'yesterday'", time_travel).err();
        assert!(err.is_some_and(|e| e.to_string().contains("'yesterday' is not a timestamp")));
        assert_eq!(
            AsOf::split("t@t1767225600000000")?.1,
            AsOf::Timestamp(crate::names::parse_utc("2026-01-01T00:00:00Z")?)
        );
        Ok(())
    }

    #[test]
    fn trino_forms_become_datafusion_forms() -> Result<()> {
        let forms = |sql: &str| {
            after(sql, |t| {
                trino_forms(t);
                Ok(())
            })
        };
        assert_eq!(forms("VALUES 1, 2")?, "VALUES (1), (2)");
        assert_eq!(forms("VALUES (1, 2), (3, 4)")?, "VALUES (1, 2), (3, 4)");
        assert_eq!(
            forms("SELECT TRY_CAST(j AS array(row(x bigint)))")?,
            "SELECT trino_cast(j ,'array(row(x bigint))',true)"
        );
        Ok(())
    }
}
