//! PostgreSQL's run-time parameters, which drivers and BI tools set and show on connecting (pgjdbc and DBeaver
//! `SET extra_float_digits`, SQLAlchemy `SHOW standard_conforming_strings`, Grafana `SHOW TimeZone`). tarn has
//! none of them: SET is accepted and changes nothing, SHOW answers what tarn does (UTF-8 text, UTC, ISO dates),
//! except `search_path`, which is the current database: setting it is USE.

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

/// The parameters and what SHOW answers for them; `search_path` is the current database and not here.
const PARAMETERS: &[(&str, &str)] = &[
    ("application_name", ""),
    ("bytea_output", "hex"),
    ("client_encoding", "UTF8"),
    ("client_min_messages", "notice"),
    ("datestyle", "ISO, MDY"),
    ("default_transaction_isolation", "read committed"),
    ("default_transaction_read_only", "off"),
    ("extra_float_digits", "1"),
    ("idle_in_transaction_session_timeout", "0"),
    ("integer_datetimes", "on"),
    ("intervalstyle", "postgres"),
    ("is_superuser", "off"),
    ("jit", "off"),
    ("lc_collate", "C"),
    ("lc_ctype", "C"),
    ("lc_messages", "C"),
    ("lc_monetary", "C"),
    ("lc_numeric", "C"),
    ("lc_time", "C"),
    ("lock_timeout", "0"),
    ("max_identifier_length", "63"),
    ("server_encoding", "UTF8"),
    ("server_version", SERVER_VERSION),
    ("server_version_num", "160006"),
    ("standard_conforming_strings", "on"),
    ("statement_timeout", "0"),
    ("timezone", "UTC"),
    ("transaction_isolation", "read committed"),
];

/// The PostgreSQL version tarn's answers follow (psql and drivers choose their catalog queries by it).
pub const SERVER_VERSION: &str = "16.6";

/// A statement about a run-time parameter.
#[derive(Debug, PartialEq, Eq)]
pub enum Parameter {
    /// `SET name …` of a parameter tarn accepts and ignores.
    Ignored,
    /// `SET search_path …`: its first schema, if it is not PostgreSQL's `public` or `"$user"`.
    SearchPath(Option<String>),
    /// `SHOW name`: the column's name and, but for `search_path`, its value.
    Show { name: String, value: Option<String> },
}

/// What `sql` does to a PostgreSQL parameter, if it is a SET or SHOW of one; tarn's own SET and SHOW statements
/// (`SET tarn.max_scan`, `SHOW TABLES`) are not.
pub fn parse(sql: &str) -> Option<Parameter> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().ok()?;
    let tokens: Vec<Token> = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_) | Token::SemiColon))
        .collect();
    let words: Vec<String> = tokens
        .iter()
        .map(|t| match t {
            Token::Word(w) => w.value.to_ascii_lowercase(),
            other => other.to_string(),
        })
        .collect();
    let first = words.first()?.as_str();
    let mut rest = &words[1..];
    match first {
        "set" => {
            if rest.first().is_some_and(|w| w == "session" || w == "local") {
                rest = &rest[1..];
            }
            let name = rest.first()?.as_str();
            // SET SESSION CHARACTERISTICS AS TRANSACTION …, SET TRANSACTION …: tarn has no transactions.
            if name == "transaction" || name == "characteristics" {
                return Some(Parameter::Ignored);
            }
            if name == "search_path" {
                let values = rest.get(2..).unwrap_or_default();
                let schema = tokens
                    .iter()
                    .skip(words.len() - values.len())
                    .filter_map(|t| match t {
                        Token::Word(w) => Some(w.value.clone()),
                        Token::SingleQuotedString(s) => Some(s.clone()),
                        _ => None,
                    })
                    .find(|s| !s.eq_ignore_ascii_case("public") && s != "$user");
                return Some(Parameter::SearchPath(schema));
            }
            if name == "time" && rest.get(1).is_some_and(|w| w == "zone") {
                return Some(Parameter::Ignored);
            }
            known(name).map(|_| Parameter::Ignored)
        }
        "show" => {
            let name = match rest {
                [a, b, c] if a == "transaction" && b == "isolation" && c == "level" => "transaction_isolation",
                [a, b] if a == "time" && b == "zone" => "timezone",
                [name] => name.as_str(),
                _ => return None,
            };
            if name == "search_path" {
                return Some(Parameter::Show {
                    name: name.to_string(),
                    value: None,
                });
            }
            known(name).map(|value| Parameter::Show {
                name: name.to_string(),
                value: Some(value.to_string()),
            })
        }
        _ => None,
    }
}

fn known(name: &str) -> Option<&'static str> {
    PARAMETERS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_parameters_are_answered_and_tarn_settings_are_not() {
        assert_eq!(parse("SET extra_float_digits = 3"), Some(Parameter::Ignored));
        assert_eq!(parse("set application_name to 'DBeaver 24'"), Some(Parameter::Ignored));
        assert_eq!(
            parse("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"),
            Some(Parameter::Ignored)
        );
        assert_eq!(parse("SET TIME ZONE 'UTC'"), Some(Parameter::Ignored));
        assert_eq!(
            parse("SET search_path TO \"$user\", public, analytics"),
            Some(Parameter::SearchPath(Some("analytics".to_string())))
        );
        assert_eq!(parse("SET search_path = public"), Some(Parameter::SearchPath(None)));
        assert_eq!(
            parse("show TimeZone"),
            Some(Parameter::Show {
                name: "timezone".to_string(),
                value: Some("UTC".to_string())
            })
        );
        assert_eq!(
            parse("SHOW TRANSACTION ISOLATION LEVEL"),
            Some(Parameter::Show {
                name: "transaction_isolation".to_string(),
                value: Some("read committed".to_string())
            })
        );
        assert_eq!(
            parse("show time zone"),
            Some(Parameter::Show {
                name: "timezone".to_string(),
                value: Some("UTC".to_string())
            })
        );
        assert_eq!(parse("SET tarn.max_scan = '1GB'"), None);
        assert_eq!(parse("SET datafusion.execution.batch_size = 1024"), None);
        assert_eq!(parse("SHOW TABLES"), None);
        assert_eq!(parse("SHOW COLUMNS FROM t"), None);
        assert_eq!(parse("SELECT 1"), None);
    }
}
