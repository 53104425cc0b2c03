//! The SQL front end: splitting scripts into statements (with their positions), folding identifier case as Athena
//! does, and parsing the statements tarn executes itself (databases, external tables, SHOW, DESCRIBE, USE, SET).
//! Everything else is handed to DataFusion's parser.

use datafusion::sql::parser::{DFParserBuilder, Statement as DFStatement};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use crate::dialect::AthenaDialect;
use crate::error::{EngineError, Part, Result, syntax_error};
pub use crate::names::{PropValue, QualifiedName, qualified_name};

/// One statement of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlStatement {
    pub text: String,
    /// 1-based line and column of the statement's first character in the script.
    pub line: u64,
    pub column: u64,
}

/// Splits a script at top-level `;` (a `;` inside a string, quoted name or comment does not count).
pub fn split_statements(script: &str) -> Result<Vec<SqlStatement>> {
    let tokens = tokenize(script)?;
    let index = LineIndex::new(script);
    let mut statements = Vec::new();
    let mut first: Option<&TokenWithSpan> = None;
    let mut last: Option<&TokenWithSpan> = None;
    let mut flush = |first: Option<&TokenWithSpan>, last: Option<&TokenWithSpan>| {
        if let (Some(f), Some(l)) = (first, last) {
            let start = index.offset(f.span.start);
            let end = index.offset(l.span.end);
            statements.push(SqlStatement {
                text: script[start..end].to_string(),
                line: f.span.start.line,
                column: f.span.start.column,
            });
        }
    };
    for token in &tokens {
        match &token.token {
            Token::Whitespace(_) => {}
            Token::SemiColon => {
                flush(first, last);
                first = None;
                last = None;
            }
            Token::EOF => break,
            _ => {
                first.get_or_insert(token);
                last = Some(token);
            }
        }
    }
    flush(first, last);
    Ok(statements)
}

/// Whether `text` ends a statement: its last token outside strings, quoted names and comments is `;`. An open string
/// or comment means more is coming, so a `;` inside one does not end the input.
pub fn ends_with_terminator(text: &str) -> bool {
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, text).tokenize() else {
        return false;
    };
    tokens
        .iter()
        .rev()
        .find(|t| !matches!(t, Token::Whitespace(_) | Token::EOF))
        .is_some_and(|t| matches!(t, Token::SemiColon))
}

fn tokenize(sql: &str) -> Result<Vec<TokenWithSpan>> {
    Tokenizer::new(&GenericDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| syntax_error(&e.to_string()))
}

/// Maps sqlparser's (line, column) locations to byte offsets.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { text, line_starts }
    }

    pub(crate) fn offset(&self, loc: Location) -> usize {
        let Some(&start) = self.line_starts.get(loc.line.saturating_sub(1) as usize) else {
            return self.text.len();
        };
        let line = &self.text[start..];
        let chars = loc.column.saturating_sub(1) as usize;
        start + line.char_indices().nth(chars).map(|(i, _)| i).unwrap_or(line.len())
    }
}

/// Lower-cases quoted identifiers (`"HouseholdID"` → `"householdid"`). Athena (Trino) treats every identifier
/// case-insensitively and tarn stores names lower-case; DataFusion folds only unquoted names, so without this a quoted
/// mixed-case name would miss its column.
pub fn fold_quoted_identifiers(sql: &str) -> Result<String> {
    let tokens = tokenize(sql)?;
    let index = LineIndex::new(sql);
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    for token in &tokens {
        if let Token::Word(w) = &token.token
            && w.quote_style.is_some()
            && w.value.chars().any(char::is_uppercase)
        {
            let start = index.offset(token.span.start);
            let end = index.offset(token.span.end);
            out.push_str(&sql[copied..start]);
            out.push_str(&sql[start..end].to_lowercase());
            copied = end;
        }
    }
    out.push_str(&sql[copied..]);
    Ok(out)
}

/// Rewrites, in the text, Trino forms that DataFusion's parser refuses before any AST exists:
/// - `VALUES 1, 2, 3`: a row that is not in parentheses is a one-column row (`VALUES (1), (2), (3)`);
/// - `CAST(x AS array(integer))`, `map(varchar, bigint)`, `row(x bigint, y varchar)` (and Hive's `array<int>`):
///   `trino_cast(x, 'array(integer)')`, which reads the type with tarn's type parser and casts as Trino does (JSON
///   text to arrays and maps, rows by position). `TRY_CAST` passes `true` for NULL instead of an error.
pub(crate) fn trino_text_forms(sql: &str) -> Result<String> {
    use datafusion::sql::sqlparser::keywords::Keyword;
    let tokens = tokenize(sql)?;
    let index = LineIndex::new(sql);
    let sig: Vec<&TokenWithSpan> = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect();
    let start = |t: &TokenWithSpan| index.offset(t.span.start);
    let end = |t: &TokenWithSpan| index.offset(t.span.end);
    // (from, to, text): the bytes from..to become text; insertions have from == to.
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    for k in 0..sig.len() {
        let Token::Word(w) = &sig[k].token else { continue };
        if w.quote_style.is_some() {
            continue;
        }
        if w.keyword == Keyword::VALUES {
            let mut j = k + 1;
            loop {
                let row_start = j;
                let mut depth = 0usize;
                let mut first_group_end = None;
                while let Some(t) = sig.get(j) {
                    match &t.token {
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
                let parenthesized = matches!(sig[row_start].token, Token::LParen) && first_group_end == Some(j - 1);
                if !parenthesized {
                    edits.push((start(sig[row_start]), start(sig[row_start]), "(".into()));
                    edits.push((end(sig[j - 1]), end(sig[j - 1]), ")".into()));
                }
                match sig.get(j).map(|t| &t.token) {
                    Some(Token::Comma) => j += 1,
                    _ => break,
                }
            }
        } else if (w.value.eq_ignore_ascii_case("cast") || w.value.eq_ignore_ascii_case("try_cast"))
            && matches!(sig.get(k + 1).map(|t| &t.token), Some(Token::LParen))
        {
            let mut depth = 0usize;
            let mut last_as = None;
            let mut close = None;
            for (j, t) in sig.iter().enumerate().skip(k + 1) {
                match &t.token {
                    Token::LParen => depth += 1,
                    Token::RParen => {
                        depth -= 1;
                        if depth == 0 {
                            close = Some(j);
                            break;
                        }
                    }
                    Token::Word(a) if depth == 1 && a.quote_style.is_none() && a.keyword == Keyword::AS => {
                        last_as = Some(j)
                    }
                    _ => {}
                }
            }
            let (Some(as_at), Some(close)) = (last_as, close) else {
                continue;
            };
            let nested = match sig.get(as_at + 1).map(|t| &t.token) {
                Some(Token::Word(t)) => {
                    ["array", "map", "row", "struct"]
                        .iter()
                        .any(|n| t.value.eq_ignore_ascii_case(n))
                        && matches!(sig.get(as_at + 2).map(|t| &t.token), Some(Token::LParen | Token::Lt))
                }
                _ => false,
            };
            if !nested {
                continue;
            }
            let type_text = &sql[start(sig[as_at + 1])..start(sig[close])];
            let try_cast = if w.value.eq_ignore_ascii_case("try_cast") {
                ", true"
            } else {
                ""
            };
            edits.push((start(sig[k]), end(sig[k + 1]), "trino_cast(".into()));
            edits.push((
                start(sig[as_at]),
                start(sig[close]),
                format!(", '{}'{try_cast}", type_text.trim().replace('\'', "''")),
            ));
        }
    }
    if edits.is_empty() {
        return Ok(sql.to_string());
    }
    edits.sort_by_key(|(from, to, _)| (*from, *to));
    let mut out = String::with_capacity(sql.len() + 16);
    let mut copied = 0;
    for (from, to, text) in edits {
        out.push_str(&sql[copied..from]);
        out.push_str(&text);
        copied = to;
    }
    out.push_str(&sql[copied..]);
    Ok(out)
}

/// A column in Athena DDL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSpec {
    pub name: String,
    /// Hive type text as written (`array<string>`), validated later.
    pub data_type: String,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowFormat {
    Delimited {
        fields: Option<String>,
        escaped: Option<String>,
        collection_items: Option<String>,
        map_keys: Option<String>,
        lines: Option<String>,
        null_defined_as: Option<String>,
    },
    Serde(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredAs {
    Format(String),
    InputOutput { input: String, output: String },
}

/// `CREATE EXTERNAL TABLE` in Athena (Hive) form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateExternalTable {
    pub name: QualifiedName,
    pub if_not_exists: bool,
    pub columns: Vec<ColumnSpec>,
    pub comment: Option<String>,
    pub partitioned_by: Vec<ColumnSpec>,
    pub clustered_by: Option<(Vec<String>, u64)>,
    pub row_format: Option<RowFormat>,
    pub serde_properties: Vec<(String, String)>,
    pub stored_as: Option<StoredAs>,
    pub location: Option<String>,
    pub table_properties: Vec<(String, String)>,
}

/// `(k = 'v', k2 = 3)`: partition keys (lower-cased) and values as text, in the order written.
pub type PartitionSpec = Vec<(String, String)>;

/// Parses one statement with DataFusion's parser, identifiers folded as Athena folds them and Trino's forms that
/// DataFusion lacks rewritten into its own.
pub(crate) fn parse_datafusion_statement(sql: &str) -> Result<DFStatement> {
    let folded = trino_text_forms(&fold_quoted_identifiers(sql)?)?;
    let mut statements = DFParserBuilder::new(folded.as_str())
        .with_dialect(&AthenaDialect)
        .with_recursion_limit(crate::deep::PARSER_RECURSION_LIMIT)
        .build()?
        .parse_statements()?;
    match (statements.pop_front(), statements.is_empty()) {
        (Some(mut statement), true) => {
            crate::deep::make_shallow(&mut statement);
            crate::trino::rewrite_syntax(&mut statement)?;
            Ok(statement)
        }
        _ => Err(EngineError::invalid(Part::Clause, "expected exactly one statement")),
    }
}

/// A parser over one statement, with helpers for Hive's words (not all are sqlparser keywords). Statements
/// (the `statements` module) parse themselves with it.
pub(crate) struct TarnParser {
    pub(crate) p: Parser<'static>,
    /// The statement's text, time travel rewritten.
    sql: String,
    /// Its tokens, without whitespace: for looking ahead without moving the parser.
    words: Vec<Token>,
}

impl TarnParser {
    pub(crate) fn new(sql: &str) -> Result<Self> {
        let sql = rewrite_time_travel(sql)?.unwrap_or_else(|| sql.to_string());
        let tokens = tokenize(&sql)?;
        let words = tokens
            .iter()
            .filter(|t| !matches!(t.token, Token::Whitespace(_) | Token::EOF))
            .map(|t| t.token.clone())
            .collect();
        Ok(Self {
            p: Parser::new(&GenericDialect {})
                .with_recursion_limit(crate::deep::PARSER_RECURSION_LIMIT)
                .with_tokens_with_locations(tokens),
            sql,
            words,
        })
    }

    /// The whole statement's text.
    pub(crate) fn text(&self) -> &str {
        &self.sql
    }

    /// The first `n` words of the statement, upper-cased (only unquoted words; stops at the first other token).
    pub(crate) fn leading_words(&self, n: usize) -> Vec<String> {
        self.words
            .iter()
            .take(n)
            .map_while(|t| match t {
                Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
                _ => None,
            })
            .collect()
    }

    /// Whether `word` appears outside parentheses.
    pub(crate) fn has_top_level_word(&self, word: &str) -> bool {
        let mut depth = 0i32;
        for t in &self.words {
            match t {
                Token::LParen => depth += 1,
                Token::RParen => depth -= 1,
                Token::Word(w) if depth == 0 && w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word) => {
                    return true;
                }
                _ => {}
            }
        }
        false
    }

    /// DataFusion's `CREATE EXTERNAL TABLE` says `OPTIONS (...)`, or stores as a format Hive does not name.
    pub(crate) fn is_datafusion_external_table(&self) -> bool {
        let words: Vec<String> = self
            .words
            .iter()
            .filter_map(|t| match t {
                Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
                _ => None,
            })
            .collect();
        let stored_as_df = words
            .windows(3)
            .any(|w| w[0] == "STORED" && w[1] == "AS" && matches!(w[2].as_str(), "CSV" | "NDJSON" | "ARROW"));
        stored_as_df || words.iter().any(|w| w == "OPTIONS")
    }

    /// `SHOW <words> t`.
    pub(crate) fn show_on_table(&mut self, words: &[&str]) -> Result<QualifiedName> {
        for word in words {
            self.expect(word)?;
        }
        let table = self.qualified_name()?;
        self.end()?;
        Ok(table)
    }

    /// The statement's text from the next token to the end.
    pub(crate) fn rest(&self) -> String {
        let start = LineIndex::new(&self.sql).offset(self.p.peek_token().span.start);
        self.sql[start.min(self.sql.len())..].trim().to_string()
    }

    /// `(key = value, ...)` with Athena's property values: `'text'`, numbers, `true`, `ARRAY['a', 'b']`.
    pub(crate) fn write_properties(&mut self) -> Result<Vec<(String, PropValue)>> {
        self.token(Token::LParen)?;
        let mut props = Vec::new();
        loop {
            let key = self.string_or_word()?.to_lowercase();
            self.token(Token::Eq)?;
            let t = self.p.next_token();
            let value = match t.token {
                Token::SingleQuotedString(s) => PropValue::Text(s),
                Token::Number(n, _) => PropValue::Number(n),
                Token::Word(w) if w.value.eq_ignore_ascii_case("true") => PropValue::Bool(true),
                Token::Word(w) if w.value.eq_ignore_ascii_case("false") => PropValue::Bool(false),
                Token::Word(w) if w.value.eq_ignore_ascii_case("array") => {
                    self.token(Token::LBracket)?;
                    let mut items = Vec::new();
                    if !self.consume(Token::RBracket) {
                        loop {
                            items.push(self.string_or_word()?);
                            if !self.consume(Token::Comma) {
                                break;
                            }
                        }
                        self.token(Token::RBracket)?;
                    }
                    PropValue::Array(items)
                }
                Token::Word(w) => PropValue::Text(w.value),
                _ => return self.p.expected("a property value", t).map_err(EngineError::from),
            };
            props.push((key, value));
            if !self.consume(Token::Comma) {
                break;
            }
        }
        self.token(Token::RParen)?;
        Ok(props)
    }

    pub(crate) fn peek_is(&self, word: &str) -> bool {
        matches!(&self.p.peek_token().token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
    }

    pub(crate) fn eat(&mut self, word: &str) -> bool {
        if self.peek_is(word) {
            self.p.next_token();
            true
        } else {
            false
        }
    }

    /// A multi-word clause (`STORED AS`): absent if its first word is absent; once the first word is there, the
    /// rest must follow, so `STORED AZ` is reported at `AZ`.
    pub(crate) fn clause(&mut self, words: &[&str]) -> Result<bool> {
        let Some((first, rest)) = words.split_first() else {
            return Ok(false);
        };
        if !self.eat(first) {
            return Ok(false);
        }
        for word in rest {
            self.expect(word)?;
        }
        Ok(true)
    }

    pub(crate) fn expect(&mut self, word: &str) -> Result<()> {
        if self.eat(word) { Ok(()) } else { self.error(word) }
    }

    pub(crate) fn error<T>(&self, expected: &str) -> Result<T> {
        Err(self
            .p
            .expected::<T>(expected, self.p.peek_token())
            .err()
            .map(EngineError::from)
            .unwrap_or_else(|| EngineError::invalid(Part::Clause, format!("expected {expected}"))))
    }

    pub(crate) fn token(&mut self, token: Token) -> Result<()> {
        self.p.expect_token(&token)?;
        Ok(())
    }

    pub(crate) fn consume(&mut self, token: Token) -> bool {
        self.p.consume_token(&token)
    }

    pub(crate) fn name(&mut self) -> Result<String> {
        Ok(self.p.parse_identifier()?.value.to_lowercase())
    }

    pub(crate) fn qualified_name(&mut self) -> Result<QualifiedName> {
        let name = self.p.parse_object_name(false)?;
        qualified_name(&name)
    }

    pub(crate) fn string(&mut self) -> Result<String> {
        Ok(self.p.parse_literal_string()?)
    }

    /// A string, or a bare word/number (Hive accepts `'|'` and also unquoted values in a few places).
    pub(crate) fn string_or_word(&mut self) -> Result<String> {
        let t = self.p.next_token();
        match t.token {
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => Ok(s),
            Token::Word(w) => Ok(w.value),
            Token::Number(n, _) => Ok(n),
            _ => self.p.expected("a quoted string", t).map_err(EngineError::from),
        }
    }

    /// `('key' = 'value', ...)`.
    pub(crate) fn properties(&mut self) -> Result<Vec<(String, String)>> {
        self.token(Token::LParen)?;
        let mut props = Vec::new();
        if self.consume(Token::RParen) {
            return Ok(props);
        }
        loop {
            let key = self.string_or_word()?;
            self.token(Token::Eq)?;
            let value = self.string_or_word()?;
            props.push((key, value));
            if !self.consume(Token::Comma) {
                break;
            }
        }
        self.token(Token::RParen)?;
        Ok(props)
    }

    pub(crate) fn end(&mut self) -> Result<()> {
        let t = self.p.peek_token();
        match t.token {
            Token::EOF => Ok(()),
            _ => self.error("end of statement"),
        }
    }

    /// A Hive type, up to the `,` / `)` / `COMMENT` that ends the column, as text.
    pub(crate) fn hive_type(&mut self) -> Result<String> {
        let mut depth = 0i32;
        let mut text = String::new();
        loop {
            let t = self.p.peek_token();
            match &t.token {
                Token::EOF => break,
                Token::Comma | Token::RParen if depth == 0 => break,
                Token::Word(w) if depth == 0 && w.quote_style.is_none() && w.value.eq_ignore_ascii_case("COMMENT") => {
                    break;
                }
                Token::Lt | Token::LParen => depth += 1,
                Token::Gt | Token::RParen => depth -= 1,
                Token::ShiftRight => depth -= 2,
                _ => {}
            }
            let t = self.p.next_token();
            match &t.token {
                Token::Word(w) => {
                    // Trino's `row(x bigint)` names a field with a word before its type: keep them apart.
                    if text.ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                        text.push(' ');
                    }
                    text.push_str(&w.value)
                }
                other => text.push_str(&other.to_string()),
            }
        }
        if text.is_empty() {
            return self.error("a column type");
        }
        Ok(text)
    }

    /// `PARTITION (k = 'v', k2 = 3)`.
    pub(crate) fn partition_spec(&mut self) -> Result<PartitionSpec> {
        self.expect("PARTITION")?;
        self.token(Token::LParen)?;
        let mut spec = Vec::new();
        loop {
            let key = self.name()?;
            self.token(Token::Eq)?;
            // `dt = DATE '2024-01-01'` and `dt = '2024-01-01'` name the same partition.
            if self.peek_is("DATE") || self.peek_is("TIMESTAMP") {
                self.p.next_token();
            }
            let negative = self.consume(Token::Minus);
            let value = self.string_or_word()?;
            spec.push((key, if negative { format!("-{value}") } else { value }));
            if !self.consume(Token::Comma) {
                break;
            }
        }
        self.token(Token::RParen)?;
        Ok(spec)
    }

    pub(crate) fn column_list(&mut self) -> Result<Vec<ColumnSpec>> {
        self.token(Token::LParen)?;
        let mut columns = Vec::new();
        loop {
            let name = self.name()?;
            let data_type = self.hive_type()?;
            let comment = if self.eat("COMMENT") {
                Some(self.string()?)
            } else {
                None
            };
            columns.push(ColumnSpec {
                name,
                data_type,
                comment,
            });
            if !self.consume(Token::Comma) {
                break;
            }
        }
        self.token(Token::RParen)?;
        Ok(columns)
    }
}

/// Athena's time travel, `t FOR VERSION AS OF 3` and `t FOR TIMESTAMP AS OF '2026-01-01 00:00:00'`, which
/// DataFusion's parser does not know: the table name becomes `"t@v3"` (or `"t@t<microseconds>"`), which the
/// query's catalog snapshot resolves to that version. `None` when the statement has no such clause.
pub(crate) fn rewrite_time_travel(sql: &str) -> Result<Option<String>> {
    let tokens = tokenize(sql)?;
    let significant: Vec<usize> = tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| !matches!(t.token, Token::Whitespace(_)))
        .map(|(i, _)| i)
        .collect();
    let word = |i: usize, w: &str| matches!(&tokens[i].token, Token::Word(x) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w));
    // (index of the table's last name token, first token of the clause, last token of the clause, suffix)
    let mut edits = Vec::new();
    let mut k = 1;
    while k + 4 < significant.len() {
        let at = |j: usize| significant[k + j];
        let is_version = word(at(1), "VERSION");
        if word(at(0), "FOR")
            && (is_version || word(at(1), "SYSTEM_TIME") || word(at(1), "TIMESTAMP"))
            && word(at(2), "AS")
            && word(at(3), "OF")
        {
            let name_token = significant[k - 1];
            if !matches!(tokens[name_token].token, Token::Word(_)) {
                return Err(EngineError::invalid(
                    Part::Name,
                    "FOR VERSION AS OF follows a table name: FROM t FOR VERSION AS OF 3",
                ));
            }
            let mut end = at(4);
            let as_of = match (&tokens[end].token, is_version) {
                (Token::Number(n, _), true) => crate::names::AsOf::Version(n.parse().map_err(|_| {
                    EngineError::invalid(
                        Part::Clause,
                        format!("FOR VERSION AS OF {n}: a version is a whole number"),
                    )
                })?),
                (Token::Word(w), false) if w.value.eq_ignore_ascii_case("TIMESTAMP") && k + 5 < significant.len() => {
                    end = significant[k + 5];
                    match &tokens[end].token {
                        Token::SingleQuotedString(s) => crate::names::AsOf::Timestamp(parse_utc(s)?),
                        _ => {
                            return Err(EngineError::invalid(
                                Part::Clause,
                                "FOR TIMESTAMP AS OF TIMESTAMP takes a 'literal'",
                            ));
                        }
                    }
                }
                (Token::SingleQuotedString(s), false) => crate::names::AsOf::Timestamp(parse_utc(s)?),
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
            edits.push((name_token, at(0), end, as_of.suffix()));
            k += 5;
        } else {
            k += 1;
        }
    }
    if edits.is_empty() {
        return Ok(None);
    }
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    for (name_token, start, end, suffix) in edits {
        for t in &tokens[i..name_token] {
            out.push_str(&t.token.to_string());
        }
        let Token::Word(w) = &tokens[name_token].token else {
            continue;
        };
        out.push_str(&format!("\"{}{suffix}\"", w.value.to_lowercase().replace('"', "\"\"")));
        // Whatever separated the name from FOR stays, so positions after the clause shift as little as possible.
        for t in &tokens[name_token + 1..start] {
            out.push_str(&t.token.to_string());
        }
        i = end + 1;
    }
    for t in &tokens[i..] {
        if t.token != Token::EOF {
            out.push_str(&t.token.to_string());
        }
    }
    Ok(Some(out))
}

/// A timestamp literal in the session zone, UTC: `2026-01-01 00:00:00[.fff]`, ISO 8601 with an offset, or a date.
fn parse_utc(text: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(Utc.from_utc_datetime(&t));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN)));
    }
    Err(EngineError::invalid(
        Part::Clause,
        format!("'{text}' is not a timestamp; write FOR TIMESTAMP AS OF '2026-01-01 00:00:00' (UTC)"),
    ))
}

/// The last `n` unquoted words of `sql`, last first, upper-cased (stops at the first other token).
pub(crate) fn leading_words_rev(sql: &str, n: usize) -> Result<Vec<String>> {
    Ok(tokenize(sql)?
        .into_iter()
        .rev()
        .filter(|t| !matches!(t.token, Token::Whitespace(_) | Token::EOF))
        .take(n)
        .map_while(|t| match t.token {
            Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
            _ => None,
        })
        .collect())
}

/// `sql` without its last `n` tokens.
pub(crate) fn strip_last_words(sql: &str, n: usize) -> Result<String> {
    let tokens: Vec<TokenWithSpan> = tokenize(sql)?
        .into_iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_) | Token::EOF))
        .collect();
    let Some(first_dropped) = tokens.len().checked_sub(n).and_then(|i| tokens.get(i)) else {
        return Ok(String::new());
    };
    let end = LineIndex::new(sql).offset(first_dropped.span.start);
    Ok(sql[..end].trim().to_string())
}

/// Athena's `CREATE EXTERNAL TABLE` grammar (clauses in Hive's order, each optional except the name).
pub(crate) fn parse_create_external_table(d: &mut TarnParser) -> Result<CreateExternalTable> {
    d.expect("CREATE")?;
    if d.clause(&["OR", "REPLACE"])? {
        return Err(EngineError::unsupported(
            "CREATE OR REPLACE EXTERNAL TABLE",
            "drop the table first (DROP TABLE keeps the data) and create it again",
        ));
    }
    d.expect("EXTERNAL")?;
    d.expect("TABLE")?;
    let if_not_exists = d.clause(&["IF", "NOT", "EXISTS"])?;
    let name = d.qualified_name()?;
    let columns = if d.p.peek_token().token == Token::LParen {
        d.column_list()?
    } else {
        Vec::new()
    };
    let mut t = CreateExternalTable {
        name,
        if_not_exists,
        columns,
        comment: None,
        partitioned_by: Vec::new(),
        clustered_by: None,
        row_format: None,
        serde_properties: Vec::new(),
        stored_as: None,
        location: None,
        table_properties: Vec::new(),
    };
    loop {
        if d.eat("COMMENT") {
            t.comment = Some(d.string()?);
        } else if d.clause(&["PARTITIONED", "BY"])? {
            t.partitioned_by = d.column_list()?;
        } else if d.clause(&["CLUSTERED", "BY"])? {
            d.token(Token::LParen)?;
            let columns = d.p.parse_comma_separated(|p| p.parse_identifier())?;
            d.token(Token::RParen)?;
            if d.clause(&["SORTED", "BY"])? {
                return Err(EngineError::unsupported(
                    "SORTED BY",
                    "remove it; bucketed reads do not need it",
                ));
            }
            d.expect("INTO")?;
            let count = d.p.parse_literal_uint()?;
            d.expect("BUCKETS")?;
            t.clustered_by = Some((columns.into_iter().map(|i| i.value.to_lowercase()).collect(), count));
        } else if d.clause(&["ROW", "FORMAT"])? {
            t.row_format = Some(if d.eat("SERDE") {
                RowFormat::Serde(d.string()?)
            } else {
                d.expect("DELIMITED")?;
                let (mut fields, mut escaped, mut items, mut keys, mut lines, mut null) =
                    (None, None, None, None, None, None);
                loop {
                    if d.clause(&["FIELDS", "TERMINATED", "BY"])? {
                        fields = Some(d.string()?);
                        if d.clause(&["ESCAPED", "BY"])? {
                            escaped = Some(d.string()?);
                        }
                    } else if d.clause(&["COLLECTION", "ITEMS", "TERMINATED", "BY"])? {
                        items = Some(d.string()?);
                    } else if d.clause(&["MAP", "KEYS", "TERMINATED", "BY"])? {
                        keys = Some(d.string()?);
                    } else if d.clause(&["LINES", "TERMINATED", "BY"])? {
                        lines = Some(d.string()?);
                    } else if d.clause(&["NULL", "DEFINED", "AS"])? {
                        null = Some(d.string()?);
                    } else {
                        break;
                    }
                }
                RowFormat::Delimited {
                    fields,
                    escaped,
                    collection_items: items,
                    map_keys: keys,
                    lines,
                    null_defined_as: null,
                }
            });
        } else if d.clause(&["WITH", "SERDEPROPERTIES"])? {
            t.serde_properties = d.properties()?;
        } else if d.clause(&["STORED", "AS"])? {
            t.stored_as = Some(if d.eat("INPUTFORMAT") {
                let input = d.string()?;
                d.expect("OUTPUTFORMAT")?;
                StoredAs::InputOutput {
                    input,
                    output: d.string()?,
                }
            } else {
                StoredAs::Format(d.name()?.to_ascii_uppercase())
            });
        } else if d.eat("LOCATION") {
            t.location = Some(d.string()?);
        } else if d.eat("TBLPROPERTIES") {
            t.table_properties = d.properties()?;
        } else {
            break;
        }
    }
    if d.p.peek_token().token != Token::EOF {
        return d.error(
            "COMMENT, PARTITIONED BY, CLUSTERED BY, ROW FORMAT, WITH SERDEPROPERTIES, STORED AS, LOCATION, \
             TBLPROPERTIES or the end of the statement",
        );
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminators_outside_strings_and_comments_end_the_input() {
        assert!(ends_with_terminator("SELECT 1;"));
        assert!(ends_with_terminator("SELECT 1; -- done\n"));
        assert!(ends_with_terminator("SELECT ';';"));
        assert!(!ends_with_terminator("SELECT 1"));
        assert!(!ends_with_terminator("SELECT ';"));
        assert!(!ends_with_terminator("SELECT 1 /* ; */"));
        assert!(!ends_with_terminator("SELECT 1 /* ;"));
        assert!(!ends_with_terminator("SELECT \"a;"));
        assert!(!ends_with_terminator(""));
    }

    #[test]
    fn splitting_respects_strings_comments_and_positions() -> Result<()> {
        let script = "SELECT 'a;b';\n-- a comment; still a comment\nSELECT \"x;y\"\n  FROM t ;  ;\n\n  SHOW TABLES";
        let parts = split_statements(script)?;
        let texts: Vec<&str> = parts.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, ["SELECT 'a;b'", "SELECT \"x;y\"\n  FROM t", "SHOW TABLES"]);
        assert_eq!((parts[1].line, parts[1].column), (3, 1));
        assert_eq!((parts[2].line, parts[2].column), (6, 3));
        Ok(())
    }

    #[test]
    fn quoted_identifiers_fold_but_strings_do_not() -> Result<()> {
        assert_eq!(
            fold_quoted_identifiers("SELECT \"HouseholdID\", 'KeepMe' FROM \"SF-Digital\".`T`")?,
            "SELECT \"householdid\", 'KeepMe' FROM \"sf-digital\".`t`"
        );
        Ok(())
    }

    #[test]
    fn athena_ddl_parses() -> Result<()> {
        let sql = r#"CREATE EXTERNAL TABLE IF NOT EXISTS "sf-digital-transformation"."Consumer_Raw" (
              `HouseholdID` bigint COMMENT 'the household',
              tags array<struct<k:string,v:map<string,int>>>,
              amount decimal(12, 2)
            )
            COMMENT 'raw partner delivery'
            PARTITIONED BY (dt string, hour int)
            CLUSTERED BY (householdid) INTO 8 BUCKETS
            ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' ESCAPED BY '\\' LINES TERMINATED BY '\n'
            STORED AS TEXTFILE
            LOCATION 's3://consumer/intake/'
            TBLPROPERTIES ('skip.header.line.count'='1', 'classification'='csv')"#;
        let t = parse_create_external_table(&mut TarnParser::new(sql)?)?;
        assert_eq!(t.name.database.as_deref(), Some("sf-digital-transformation"));
        assert_eq!(t.name.name, "consumer_raw");
        assert!(t.if_not_exists);
        assert_eq!(t.columns[0].name, "householdid");
        assert_eq!(t.columns[0].comment.as_deref(), Some("the household"));
        assert_eq!(t.columns[1].data_type, "array<struct<k:string,v:map<string,int>>>");
        assert_eq!(t.columns[2].data_type, "decimal(12,2)");
        assert_eq!(
            t.partitioned_by.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["dt", "hour"]
        );
        assert_eq!(t.clustered_by, Some((vec!["householdid".to_string()], 8)));
        assert!(matches!(&t.row_format, Some(RowFormat::Delimited { fields: Some(f), .. }) if f == "|"));
        assert_eq!(t.stored_as, Some(StoredAs::Format("TEXTFILE".into())));
        assert_eq!(t.location.as_deref(), Some("s3://consumer/intake/"));
        assert_eq!(t.table_properties[0], ("skip.header.line.count".into(), "1".into()));

        let serde = parse_create_external_table(&mut TarnParser::new(
            "CREATE EXTERNAL TABLE t (a string) ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde' \
             WITH SERDEPROPERTIES ('separatorChar' = ',', 'quoteChar' = '\"') LOCATION '/x'",
        )?)?;
        assert!(matches!(serde.row_format, Some(RowFormat::Serde(ref c)) if c.ends_with("OpenCSVSerde")));
        assert_eq!(serde.serde_properties.len(), 2);
        Ok(())
    }

    #[test]
    fn ddl_typos_have_positions() {
        let e = TarnParser::new("CREATE EXTERNAL TABLE t (a string)\nSTORED AZ PARQUET LOCATION '/x'")
            .and_then(|mut p| parse_create_external_table(&mut p))
            .err();
        let pos = e.as_ref().and_then(EngineError::position);
        assert_eq!(pos, Some((2, 8)), "{e:?}");
    }

    #[test]
    fn time_travel_names_the_version_in_the_table_name() -> Result<()> {
        let rewritten = rewrite_time_travel(
            "SELECT * FROM db.t FOR VERSION AS OF 3 AS a JOIN u FOR TIMESTAMP AS OF '2026-01-01 00:00:00' b ON a.x = b.x",
        )?;
        assert_eq!(
            rewritten.as_deref(),
            Some(r#"SELECT * FROM db."t@v3"  AS a JOIN "u@t1767225600000000"  b ON a.x = b.x"#)
        );
        assert_eq!(
            rewrite_time_travel("SELECT 'FOR VERSION AS OF 3' FROM t")?,
            None,
            "strings are not clauses"
        );
        let err = rewrite_time_travel("SELECT * FROM t FOR VERSION AS OF 'x'").err();
        assert!(err.is_some_and(|e| e.to_string().contains("takes a version number")));
        let err = rewrite_time_travel("SELECT * FROM t FOR TIMESTAMP AS OF 'yesterday'").err();
        assert!(err.is_some_and(|e| e.to_string().contains("'yesterday' is not a timestamp")));
        assert_eq!(
            crate::names::AsOf::split("t@t1767225600000000")?.1,
            crate::names::AsOf::Timestamp(parse_utc("2026-01-01T00:00:00Z")?)
        );
        Ok(())
    }
}
