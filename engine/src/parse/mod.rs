//! The SQL front end: splitting scripts into statements (with their positions) and parsing one statement from one
//! tokenisation. tarn's own statements parse themselves with [`TarnParser`]; queries, whole or inside a tarn
//! statement (CTAS, INSERT, UNLOAD, CHECK, CREATE VIEW), go to DataFusion's parser as tokens, after the passes in
//! [`forms`] bring Athena's forms to DataFusion's.

mod forms;

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
    /// Its first words, upper-cased (unquoted words only): what kind of statement it is, known without parsing it
    /// again (see `SqlStatement::writes_data`).
    pub first_words: Vec<String>,
}

/// Splits a script at top-level `;` (a `;` inside a string, quoted name or comment does not count).
pub fn split_statements(script: &str) -> Result<Vec<SqlStatement>> {
    let tokens = tokenize(script)?;
    let index = LineIndex::new(script);
    let mut statements = Vec::new();
    let mut first: Option<&TokenWithSpan> = None;
    let mut last: Option<&TokenWithSpan> = None;
    let mut words: Vec<&Token> = Vec::new();
    let mut flush = |first: Option<&TokenWithSpan>, last: Option<&TokenWithSpan>, words: &[&Token]| {
        if let (Some(f), Some(l)) = (first, last) {
            let start = index.offset(f.span.start);
            let end = index.offset(l.span.end);
            statements.push(SqlStatement {
                text: script[start..end].to_string(),
                line: f.span.start.line,
                column: f.span.start.column,
                first_words: leading_words(words.iter().copied(), FIRST_WORDS),
            });
        }
    };
    for token in &tokens {
        match &token.token {
            Token::Whitespace(_) => {}
            Token::SemiColon => {
                flush(first, last, &words);
                first = None;
                last = None;
                words.clear();
            }
            Token::EOF => break,
            other => {
                first.get_or_insert(token);
                last = Some(token);
                if words.len() < FIRST_WORDS {
                    words.push(other);
                }
            }
        }
    }
    flush(first, last, &words);
    Ok(statements)
}

/// How many first words tell a statement's kind (`CREATE OR REPLACE VIEW`).
const FIRST_WORDS: usize = 4;

/// The first `n` of `tokens` that are unquoted words, upper-cased; stops at the first other token.
fn leading_words<'a>(tokens: impl Iterator<Item = &'a Token>, n: usize) -> Vec<String> {
    tokens
        .take(n)
        .map_while(|t| match t {
            Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
            _ => None,
        })
        .collect()
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
    Tokenizer::new(&AthenaDialect, sql)
        .tokenize_with_location()
        .map_err(|e| syntax_error(&e.to_string()))
}

/// Parses a query (or any statement DataFusion knows) from its tokens: identifiers folded as Athena folds them,
/// time travel and Trino's forms brought to DataFusion's, then DataFusion's parser and tarn's syntax rewrites.
fn datafusion_statement(mut tokens: Vec<TokenWithSpan>) -> Result<DFStatement> {
    forms::fold_quoted_identifiers(&mut tokens);
    forms::time_travel(&mut tokens)?;
    forms::trino_forms(&mut tokens);
    let mut statements = DFParserBuilder::new(tokens)
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

/// Parses a statement kept as text (a view's query) with DataFusion's parser (see [`datafusion_statement`]).
pub(crate) fn parse_datafusion_statement(sql: &str) -> Result<DFStatement> {
    datafusion_statement(tokenize(sql)?)
}

/// A query inside a tarn statement: its syntax tree, and its text as written (a view stores it).
#[derive(Debug, Clone)]
pub(crate) struct EmbeddedQuery {
    pub(crate) statement: DFStatement,
    pub(crate) text: String,
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

/// A parser over one statement's tokens, with helpers for Hive's words (not all are sqlparser keywords). Statements
/// (the `statements` module) parse themselves with it; the statement is tokenised once, here.
pub(crate) struct TarnParser {
    pub(crate) p: Parser<'static>,
    /// The statement's text.
    sql: String,
    /// Its tokens, whitespace included (the parser's indices are into this list).
    tokens: Vec<TokenWithSpan>,
    /// Its tokens without whitespace: for looking ahead without moving the parser.
    words: Vec<Token>,
}

impl TarnParser {
    pub(crate) fn new(sql: &str) -> Result<Self> {
        let tokens = tokenize(sql)?;
        let words = tokens
            .iter()
            .filter(|t| !matches!(t.token, Token::Whitespace(_) | Token::EOF))
            .map(|t| t.token.clone())
            .collect();
        Ok(Self {
            p: Parser::new(&AthenaDialect)
                .with_recursion_limit(crate::deep::PARSER_RECURSION_LIMIT)
                .with_tokens_with_locations(tokens.clone()),
            sql: sql.to_string(),
            tokens,
            words,
        })
    }

    /// The whole statement, parsed by DataFusion's parser (queries, EXPLAIN, DML, DataFusion's DDL).
    pub(crate) fn datafusion_statement(&self) -> Result<DFStatement> {
        datafusion_statement(self.tokens.clone())
    }

    /// The index of the next token the parser has not read.
    fn next_index(&self) -> usize {
        self.p.get_current_index() + 1
    }

    /// The index of the next token the parser will read (whitespace skipped).
    fn next_significant(&self) -> usize {
        (self.next_index()..self.tokens.len())
            .find(|&i| !matches!(self.tokens[i].token, Token::Whitespace(_)))
            .unwrap_or(self.tokens.len())
    }

    /// The query from the next token up to the token at `end` (the end of the statement when `None`); the parser
    /// moves past it.
    pub(crate) fn query(&mut self, end: Option<usize>, expected: &str) -> Result<EmbeddedQuery> {
        let start = self.next_index();
        let end = end.unwrap_or(self.tokens.len()).max(start);
        let tokens = self.tokens[start.min(self.tokens.len())..end.min(self.tokens.len())].to_vec();
        if tokens
            .iter()
            .all(|t| matches!(t.token, Token::Whitespace(_) | Token::EOF))
        {
            return self.error(expected);
        }
        let index = LineIndex::new(&self.sql);
        let from = tokens
            .first()
            .map(|t| index.offset(t.span.start))
            .unwrap_or(self.sql.len());
        let to = self
            .tokens
            .get(end)
            .map(|t| index.offset(t.span.start))
            .unwrap_or(self.sql.len());
        let text = self.sql[from.min(to)..to].trim().to_string();
        let statement = datafusion_statement(tokens)?;
        while self.next_significant() < end && self.p.peek_token().token != Token::EOF {
            self.p.next_token();
        }
        Ok(EmbeddedQuery { statement, text })
    }

    /// The index of the `)` that closes the `(` just read.
    pub(crate) fn closing_paren(&self) -> Result<usize> {
        let mut depth = 1;
        for (i, t) in self.tokens.iter().enumerate().skip(self.next_index()) {
            match t.token {
                Token::LParen => depth += 1,
                Token::RParen => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(i);
                    }
                }
                _ => {}
            }
        }
        self.error("')' closing the query")
    }

    /// When the statement ends with `words` (upper case, unquoted), the index of the first of them.
    pub(crate) fn trailing_words(&self, words: &[&str]) -> Option<usize> {
        let significant: Vec<usize> = (0..self.tokens.len())
            .filter(|&i| !matches!(self.tokens[i].token, Token::Whitespace(_) | Token::EOF))
            .collect();
        let first = significant.len().checked_sub(words.len())?;
        let matches = significant[first..].iter().zip(words).all(|(&i, w)| {
            matches!(&self.tokens[i].token, Token::Word(x) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w))
        });
        matches.then(|| significant[first])
    }

    /// The statement's first words, upper-cased (only unquoted words; stops at the first other token).
    pub(crate) fn first_words(&self) -> Vec<String> {
        leading_words(self.words.iter(), FIRST_WORDS)
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

    /// An optional `LIKE 'pattern'`.
    pub(crate) fn like_pattern(&mut self) -> Result<Option<String>> {
        if self.eat("LIKE") {
            Ok(Some(self.string()?))
        } else {
            Ok(None)
        }
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
}
