//! The parameters of the extended query protocol (`$1`, `$2`, …), bound into the statement's text as SQL literals.
//!
//! tarn plans statements from their text (its own statements as well as queries), so a bound parameter becomes the
//! literal it stands for: a number stays a number, a date a `DATE '…'`, anything else a quoted string with its quotes
//! doubled. A parameter is never spliced in as SQL, so a value cannot change what the statement does.

use pgwire::api::Type;
use pgwire::api::portal::Portal;
use pgwire::api::results::FieldFormat;
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};

fn error(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".into(), code.into(), message)))
}

/// Calls `each` for every `$n` of `sql` outside strings, quoted names and comments, and puts what it returns in its
/// place.
fn substitute(sql: &str, mut each: impl FnMut(usize) -> PgWireResult<String>) -> PgWireResult<String> {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"') => {
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == quote {
                        // A doubled quote is one quote inside.
                        if bytes.get(i + 1) == Some(&quote) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 2;
            }
            b'$' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
                && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_')) =>
            {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                let n: usize = sql[start + 1..i]
                    .parse()
                    .map_err(|_| error("42P02", format!("parameter {} is out of range", &sql[start..i])))?;
                out.push_str(&sql[copied..start]);
                out.push_str(&each(n)?);
                copied = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(sql.get(copied..).unwrap_or_default());
    Ok(out)
}

/// How many parameters `sql` takes: its highest `$n`.
pub fn placeholders(sql: &str) -> usize {
    let mut highest = 0;
    let _ = substitute(sql, |n| {
        highest = highest.max(n);
        Ok(String::new())
    });
    highest
}

/// `sql` with NULL for each parameter: what a statement is described with before its parameters are bound.
pub fn with_nulls(sql: &str) -> String {
    substitute(sql, |_| Ok("NULL".into())).unwrap_or_else(|_| sql.to_string())
}

/// The portal's statement with its parameters bound.
pub fn bind_parameters(portal: &Portal<String>) -> PgWireResult<String> {
    substitute(&portal.statement.statement, |n| {
        let index = n
            .checked_sub(1)
            .filter(|i| *i < portal.parameter_len())
            .ok_or_else(|| {
                error(
                    "08P01",
                    format!(
                        "the statement uses ${n} but {} parameters were bound",
                        portal.parameter_len()
                    ),
                )
            })?;
        let Some(Some(raw)) = portal.parameters.get(index) else {
            return Ok("NULL".into());
        };
        let pg_type = portal
            .statement
            .parameter_types
            .get(index)
            .cloned()
            .flatten()
            .unwrap_or(Type::UNKNOWN);
        match portal.parameter_format.format_for(index) {
            FieldFormat::Text => {
                let text = std::str::from_utf8(raw)
                    .map_err(|_| error("22021", format!("parameter ${n} is not valid UTF-8")))?;
                literal(text, &pg_type, n)
            }
            FieldFormat::Binary => binary_literal(raw, &pg_type, n),
        }
    })
}

/// The SQL literal of a parameter sent as text.
fn literal(text: &str, pg_type: &Type, n: usize) -> PgWireResult<String> {
    let numeric = [
        Type::INT2,
        Type::INT4,
        Type::INT8,
        Type::FLOAT4,
        Type::FLOAT8,
        Type::NUMERIC,
        Type::OID,
    ];
    if numeric.contains(pg_type) {
        let number = text.trim();
        let valid = !number.is_empty()
            && number.parse::<f64>().is_ok()
            && number.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
        if !valid {
            return Err(error(
                "22P02",
                format!("parameter ${n} is not a {}: '{number}'", pg_type.name()),
            ));
        }
        // In parentheses, so that `-1` after a `-` cannot make a comment.
        return Ok(format!("({number})"));
    }
    Ok(match *pg_type {
        Type::BOOL => match text.trim().to_ascii_lowercase().as_str() {
            "t" | "true" | "1" | "y" | "yes" | "on" => "TRUE".into(),
            "f" | "false" | "0" | "n" | "no" | "off" => "FALSE".into(),
            other => return Err(error("22P02", format!("parameter ${n} is not a boolean: '{other}'"))),
        },
        Type::DATE => format!("DATE {}", quoted(text)),
        Type::TIMESTAMP => format!("TIMESTAMP {}", quoted(text)),
        _ => quoted(text),
    })
}

/// The SQL literal of a parameter sent in binary (drivers do for numbers and booleans).
fn binary_literal(raw: &[u8], pg_type: &Type, n: usize) -> PgWireResult<String> {
    let wrong = || {
        error(
            "22P03",
            format!(
                "parameter ${n} is not a binary {} ({} bytes)",
                pg_type.name(),
                raw.len()
            ),
        )
    };
    let number = |bytes: &[u8]| -> PgWireResult<String> {
        Ok(match (pg_type.clone(), bytes.len()) {
            (Type::INT2, 2) => i16::from_be_bytes([bytes[0], bytes[1]]).to_string(),
            (Type::INT4, 4) => i32::from_be_bytes(bytes.try_into().map_err(|_| wrong())?).to_string(),
            (Type::INT8, 8) => i64::from_be_bytes(bytes.try_into().map_err(|_| wrong())?).to_string(),
            (Type::FLOAT4, 4) => f32::from_be_bytes(bytes.try_into().map_err(|_| wrong())?).to_string(),
            (Type::FLOAT8, 8) => f64::from_be_bytes(bytes.try_into().map_err(|_| wrong())?).to_string(),
            _ => return Err(wrong()),
        })
    };
    match *pg_type {
        Type::INT2 | Type::INT4 | Type::INT8 | Type::FLOAT4 | Type::FLOAT8 => Ok(format!("({})", number(raw)?)),
        Type::BOOL => match raw {
            [0] => Ok("FALSE".into()),
            [_] => Ok("TRUE".into()),
            _ => Err(wrong()),
        },
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => std::str::from_utf8(raw)
            .map(quoted)
            .map_err(|_| error("22021", format!("parameter ${n} is not valid UTF-8"))),
        _ => Err(error(
            "0A000",
            format!(
                "parameter ${n} was sent as binary {}; tarn takes that type as text (the driver's default)",
                pg_type.name()
            ),
        )),
    }
}

fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_outside_strings_names_and_comments() -> PgWireResult<()> {
        let sql = "SELECT '$1', \"$2\", $1 -- $9\n FROM t /* $8 */ WHERE a = $2 AND b$3 = 1";
        assert_eq!(placeholders(sql), 2);
        assert_eq!(
            with_nulls(sql),
            "SELECT '$1', \"$2\", NULL -- $9\n FROM t /* $8 */ WHERE a = NULL AND b$3 = 1"
        );
        assert_eq!(placeholders("SELECT 'it''s $1'"), 0);
        Ok(())
    }

    #[test]
    fn values_become_literals_that_cannot_escape() -> PgWireResult<()> {
        assert_eq!(
            literal("O'Brien'); DROP TABLE t; --", &Type::TEXT, 1)?,
            "'O''Brien''); DROP TABLE t; --'"
        );
        assert_eq!(literal("-5", &Type::INT8, 1)?, "(-5)");
        assert!(literal("5; DROP TABLE t", &Type::INT4, 1).is_err());
        assert_eq!(literal("t", &Type::BOOL, 1)?, "TRUE");
        assert_eq!(literal("2024-01-02", &Type::DATE, 1)?, "DATE '2024-01-02'");
        assert_eq!(binary_literal(&7i32.to_be_bytes(), &Type::INT4, 1)?, "(7)");
        assert!(binary_literal(&[1, 2, 3], &Type::INT4, 1).is_err());
        Ok(())
    }
}
