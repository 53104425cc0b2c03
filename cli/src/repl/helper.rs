//! The shell's editor helper: when Enter ends a statement, what Tab offers, and how the input is coloured.
//!
//! The catalog is read only when Tab asks for names, and what was read is kept until the next statement runs, so the
//! prompt appears at once however many tables the warehouse holds.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Cmd, ConditionalEventHandler, Context, Event, EventContext, Helper, RepeatCount};
use tarn_engine::Session;
use tarn_engine::write::props::{CTAS_PROPERTIES, UNLOAD_PROPERTIES};

use super::META_COMMANDS;

/// How long Tab waits for the catalog or an S3 listing before offering what it has.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);
/// Entries a path completion lists at most.
const PATH_LIMIT: usize = 500;

/// The query words offered by Tab: what Athena users type, not every word sqlparser knows. tarn's own statements
/// bring their words ([`keywords`]).
const QUERY_KEYWORDS: &[&str] = &[
    "ADD",
    "ALL",
    "ALTER",
    "AND",
    "ARRAY",
    "AS",
    "ASC",
    "BETWEEN",
    "BIGINT",
    "BOOLEAN",
    "BUCKETS",
    "BY",
    "CASCADE",
    "CASE",
    "CAST",
    "CHECK",
    "CLUSTERED",
    "COLUMNS",
    "COMMENT",
    "CRAWL",
    "CREATE",
    "CROSS",
    "DATABASE",
    "DATABASES",
    "DATE",
    "DECIMAL",
    "DELETE",
    "DELIMITED",
    "DELTA",
    "DESC",
    "DESCRIBE",
    "DISTINCT",
    "DOUBLE",
    "DROP",
    "DRY",
    "ELSE",
    "END",
    "ESCAPED",
    "EXISTS",
    "EXPLAIN",
    "EXTERNAL",
    "FALSE",
    "FIELDS",
    "FORMAT",
    "FORMATTED",
    "FROM",
    "FULL",
    "GROUP",
    "HAVING",
    "HISTORY",
    "HOURS",
    "IF",
    "IN",
    "INNER",
    "INSERT",
    "INT",
    "INTEGER",
    "INTERVAL",
    "INTO",
    "IS",
    "JOIN",
    "JSON",
    "LEFT",
    "LIKE",
    "LIMIT",
    "LINES",
    "LOCATION",
    "MATCHED",
    "MERGE",
    "MISSING",
    "MSCK",
    "NOT",
    "NULL",
    "OF",
    "OFFSET",
    "ON",
    "OPTIMIZE",
    "OR",
    "ORDER",
    "OUTER",
    "OVER",
    "PARQUET",
    "PARTITION",
    "PARTITIONED",
    "PARTITIONS",
    "PURGE",
    "REPAIR",
    "REPLACE",
    "RESTRICT",
    "RETAIN",
    "RIGHT",
    "ROW",
    "RUN",
    "SCHEMA",
    "SCHEMAS",
    "SELECT",
    "SERDE",
    "SERDEPROPERTIES",
    "SET",
    "SHOW",
    "STORED",
    "STRING",
    "TABLE",
    "TABLES",
    "TBLPROPERTIES",
    "TERMINATED",
    "TEXTFILE",
    "THEN",
    "TIMESTAMP",
    "TO",
    "TRUE",
    "UNION",
    "UNLOAD",
    "UPDATE",
    "USE",
    "USING",
    "VACUUM",
    "VALUES",
    "VARCHAR",
    "VERSION",
    "VERSIONS",
    "VIEW",
    "VIEWS",
    "WHEN",
    "WHERE",
    "WITH",
    "ZORDER",
];

/// Every word Tab offers and the highlighter marks: the query words and those of tarn's statements.
fn keywords() -> &'static [&'static str] {
    static WORDS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    WORDS.get_or_init(|| {
        let mut words: Vec<&'static str> = QUERY_KEYWORDS.to_vec();
        words.extend(tarn_engine::statement_keywords());
        words.sort_unstable();
        words.dedup();
        words
    })
}

/// Words after which a table name comes.
const TABLE_CONTEXT: &[&str] = &["FROM", "JOIN", "INTO", "TABLE"];

/// Words after which a table name comes: the query words and those of tarn's statements.
fn table_context() -> &'static [&'static str] {
    static WORDS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    WORDS.get_or_init(|| {
        let mut words: Vec<&'static str> = TABLE_CONTEXT.to_vec();
        words.extend(tarn_engine::table_name_words());
        words.sort_unstable();
        words.dedup();
        words
    })
}

/// What Tab has read from the catalog since the last statement.
#[derive(Default)]
struct Cache {
    databases: Option<Vec<String>>,
    tables: HashMap<String, Vec<String>>,
    columns: HashMap<(String, String), Vec<String>>,
}

/// The editor's helper. Holds a clone of the session (clones share the catalog and stores) for lookups.
pub struct ShellHelper {
    runtime: tokio::runtime::Handle,
    session: Mutex<Session>,
    cache: Mutex<Cache>,
    colour: bool,
}

impl ShellHelper {
    pub fn new(runtime: tokio::runtime::Handle, session: Session, colour: bool) -> Self {
        Self {
            runtime,
            session: Mutex::new(session),
            cache: Mutex::new(Cache::default()),
            colour,
        }
    }

    /// After a statement: the current database may have changed and the catalog may hold new names.
    pub fn refresh(&self, session: &Session) {
        if let Ok(mut s) = self.session.lock() {
            *s = session.clone();
        }
        if let Ok(mut cache) = self.cache.lock() {
            *cache = Cache::default();
        }
    }

    fn session(&self) -> Option<Session> {
        self.session.lock().ok().map(|s| s.clone())
    }

    fn lookup<T: Default>(&self, work: impl Future<Output = Option<T>>) -> T {
        self.runtime
            .block_on(async { tokio::time::timeout(LOOKUP_TIMEOUT, work).await })
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    fn databases(&self) -> Vec<String> {
        if let Some(found) = self.cache.lock().ok().and_then(|c| c.databases.clone()) {
            return found;
        }
        let Some(session) = self.session() else {
            return Vec::new();
        };
        let names: Vec<String> = self.lookup(async {
            let dbs = session.catalog().list_databases().await.ok()?;
            Some(dbs.into_iter().map(|d| d.name).collect())
        });
        if let Ok(mut cache) = self.cache.lock() {
            cache.databases = Some(names.clone());
        }
        names
    }

    fn tables(&self, database: &str) -> Vec<String> {
        if let Some(found) = self.cache.lock().ok().and_then(|c| c.tables.get(database).cloned()) {
            return found;
        }
        let Some(session) = self.session() else {
            return Vec::new();
        };
        let names: Vec<String> = self.lookup(async { session.catalog().list_table_names(database).await.ok() });
        if let Ok(mut cache) = self.cache.lock() {
            cache.tables.insert(database.to_string(), names.clone());
        }
        names
    }

    fn columns(&self, database: &str, table: &str) -> Vec<String> {
        let key = (database.to_string(), table.to_string());
        if let Some(found) = self.cache.lock().ok().and_then(|c| c.columns.get(&key).cloned()) {
            return found;
        }
        let Some(session) = self.session() else {
            return Vec::new();
        };
        let names: Vec<String> = self.lookup(async {
            let table = session.catalog().get_table(database, table).await.ok()??;
            Some(
                table
                    .storage
                    .columns
                    .iter()
                    .chain(&table.partition_keys)
                    .map(|c| c.name.clone())
                    .collect(),
            )
        });
        if let Ok(mut cache) = self.cache.lock() {
            cache.columns.insert(key, names.clone());
        }
        names
    }

    fn current_database(&self) -> String {
        self.session()
            .map(|s| s.current_database().to_string())
            .unwrap_or_default()
    }

    fn s3_children(&self, folder: &str) -> Vec<String> {
        let Some(session) = self.session() else {
            return Vec::new();
        };
        self.lookup(async { session.list_location(folder, PATH_LIMIT).await.ok() })
    }

    /// Tab inside a quoted string: the folders and files under the folder typed so far.
    fn complete_path(&self, partial: &str) -> Vec<Pair> {
        let cut = partial.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (folder, stem) = partial.split_at(cut);
        let names = if folder.starts_with("s3://") || folder.starts_with("s3a://") {
            // `s3://` alone would mean listing buckets, which needs account-wide rights; start from a bucket.
            if folder.trim_end_matches('/').ends_with(':') {
                return Vec::new();
            }
            self.s3_children(folder)
        } else {
            local_children(if folder.is_empty() { "." } else { folder })
        };
        names
            .into_iter()
            .filter(|name| name.starts_with(stem) && (stem.starts_with('.') || !name.starts_with('.')))
            .map(|name| Pair {
                replacement: format!("{folder}{name}"),
                display: name,
            })
            .collect()
    }

    /// Tab on a word of SQL: names that fit where the word is, then keywords and function names. `before` is the
    /// statement up to the cursor, `statement` the whole statement (tables are often named after the cursor).
    fn complete_word(&self, before: &str, statement: &str, word: &str) -> Vec<Pair> {
        let current = self.current_database();
        let named = references(statement);
        if let Some((qualifier, partial)) = word.rsplit_once('.') {
            let qualifier = unquote(qualifier);
            let mut found = Offer::new(partial);
            if self.databases().contains(&qualifier) {
                found.names(self.tables(&qualifier));
            } else {
                let (db, table) = resolve(&named, &qualifier).unwrap_or((None, qualifier));
                found.names(self.columns(db.as_deref().unwrap_or(&current), &table));
            }
            let prefix = &word[..word.len() - partial.len()];
            return found
                .pairs
                .into_iter()
                .map(|p| Pair {
                    replacement: format!("{prefix}{}", p.replacement),
                    display: p.display,
                })
                .collect();
        }
        let mut offered = Offer::new(word);
        let ahead = &before[..before.len() - word.len()];
        if in_with_properties(ahead) {
            offered.words(CTAS_PROPERTIES.iter().chain(UNLOAD_PROPERTIES).copied());
            return offered.pairs;
        }
        let previous = previous_word(ahead).to_ascii_uppercase();
        if previous == "USE" {
            offered.names(self.databases());
            return offered.pairs;
        }
        if table_context().contains(&previous.as_str()) {
            offered.names(self.tables(&current));
            offered.names(self.databases());
            return offered.pairs;
        }
        for (db, table) in named.into_iter().map(|r| r.table) {
            offered.names(self.columns(db.as_deref().unwrap_or(&current), &table));
        }
        // The statement's columns come first: when one fits, Tab completes it at once instead of stopping at what
        // it shares with function names (`na` → `name`, not `na` + a list with `named_struct`).
        if !offered.pairs.is_empty() {
            return offered.pairs;
        }
        offered.keywords(keywords());
        offered.names(self.tables(&current));
        offered.names(self.databases());
        if let Some(session) = self.session() {
            for name in session.function_names() {
                offered.push(name.clone(), format!("{name}("));
            }
        }
        offered.pairs
    }
}

/// Candidates for a partial word: names keep their case (quoted when they need it), keywords follow the case the
/// user types in.
struct Offer {
    partial: String,
    lower_keywords: bool,
    seen: BTreeSet<String>,
    pairs: Vec<Pair>,
}

impl Offer {
    fn new(partial: &str) -> Self {
        Self {
            partial: unquote(partial),
            lower_keywords: partial.chars().next().is_some_and(|c| c.is_ascii_lowercase()),
            seen: BTreeSet::new(),
            pairs: Vec::new(),
        }
    }

    fn push(&mut self, display: String, replacement: String) {
        if display.to_ascii_lowercase().starts_with(&self.partial) && self.seen.insert(replacement.clone()) {
            self.pairs.push(Pair { display, replacement });
        }
    }

    fn names(&mut self, names: impl IntoIterator<Item = String>) {
        for name in names {
            let replacement = quote_if_needed(&name);
            self.push(name, replacement);
        }
    }

    fn words<'a>(&mut self, words: impl IntoIterator<Item = &'a str>) {
        for word in words {
            self.push(word.to_string(), word.to_string());
        }
    }

    fn keywords(&mut self, words: &[&str]) {
        for word in words {
            let word = if self.lower_keywords {
                word.to_ascii_lowercase()
            } else {
                word.to_string()
            };
            self.push(word.clone(), word);
        }
    }
}

fn unquote(name: &str) -> String {
    name.trim_matches('"').to_ascii_lowercase()
}

fn quote_if_needed(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain { name.to_string() } else { format!("\"{name}\"") }
}

fn local_children(folder: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .take(PATH_LIMIT)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let dir = e.file_type().ok()?.is_dir();
            Some(if dir { format!("{name}/") } else { name })
        })
        .collect();
    names.sort();
    names
}

/// The byte range of the statement around `pos`: from after the `;` before it to the `;` after it.
fn statement_bounds(line: &str, pos: usize) -> (usize, usize) {
    let mut start = 0;
    let mut end = line.len();
    let mut quote: Option<char> = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, ';') if i < pos => start = i + 1,
            (None, ';') => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    (start, end.max(pos))
}

/// Where an open single-quoted string starts, if the cursor is inside one.
fn open_string(before: &str) -> Option<usize> {
    let mut quote: Option<(char, usize)> = None;
    for (i, c) in before.char_indices() {
        match quote {
            Some((q, _)) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some((c, i + 1)),
            None => {}
        }
    }
    match quote {
        Some(('\'', start)) => Some(start),
        _ => None,
    }
}

fn previous_word(text: &str) -> &str {
    let text = text.trim_end();
    let start = text
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map(|i| i + 1)
        .unwrap_or(0);
    &text[start..]
}

/// Whether the cursor is inside `WITH ( ... )` of a CTAS or UNLOAD where a property name is expected (not a value).
fn in_with_properties(text: &str) -> bool {
    let mut depth = 0usize;
    for (i, c) in text.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' if depth > 0 => depth -= 1,
            '(' => {
                let inside = &text[i + 1..];
                let this_property = inside.rsplit(',').next().unwrap_or(inside);
                return previous_word(&text[..i]).eq_ignore_ascii_case("with") && !this_property.contains('=');
            }
            _ => {}
        }
    }
    false
}

/// A table named in a statement, and the alias it was given.
struct Reference {
    table: (Option<String>, String),
    alias: Option<String>,
}

/// The tables a statement names after FROM, JOIN, INTO, TABLE, DESCRIBE or UPDATE.
fn references(statement: &str) -> Vec<Reference> {
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, statement).tokenize() else {
        return Vec::new();
    };
    let tokens: Vec<Token> = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    let word = |i: usize| match tokens.get(i) {
        Some(Token::Word(w)) => Some(w),
        _ => None,
    };
    let mut found = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let is_context = word(i).is_some_and(|w| {
            w.quote_style.is_none() && table_context().iter().any(|k| w.value.eq_ignore_ascii_case(k))
        });
        i += 1;
        if !is_context {
            continue;
        }
        let Some(first) = word(i) else { continue };
        let mut parts = vec![first.value.to_ascii_lowercase()];
        i += 1;
        while matches!(tokens.get(i), Some(Token::Period)) {
            match word(i + 1) {
                Some(w) => parts.push(w.value.to_ascii_lowercase()),
                None => break,
            }
            i += 2;
        }
        if word(i).is_some_and(|w| w.keyword == Keyword::AS) {
            i += 1;
        }
        let alias = word(i)
            .filter(|w| w.keyword == Keyword::NoKeyword || w.quote_style.is_some())
            .map(|w| w.value.to_ascii_lowercase());
        let name = parts.pop().unwrap_or_default();
        let db = parts.pop();
        found.push(Reference {
            table: (db, name),
            alias,
        });
    }
    found
}

/// The table a qualifier (`t.` or an alias `o.`) stands for.
fn resolve(references: &[Reference], qualifier: &str) -> Option<(Option<String>, String)> {
    references
        .iter()
        .find_map(|r| (r.alias.as_deref() == Some(qualifier) || r.table.1 == qualifier).then(|| r.table.clone()))
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let trimmed = before.trim_start();
        if trimmed.starts_with('\\') {
            return Ok(self.complete_meta(before));
        }
        if let Some(start) = open_string(before) {
            return Ok((start, self.complete_path(&before[start..])));
        }
        let start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '"'))
            .map(|i| i + 1)
            .unwrap_or(0);
        let (from, to) = statement_bounds(line, pos);
        let pairs = self.complete_word(&line[from..pos], &line[from..to], &before[start..]);
        Ok((start, pairs))
    }
}

impl ShellHelper {
    fn complete_meta(&self, before: &str) -> (usize, Vec<Pair>) {
        let trimmed = before.trim_start();
        let offset = before.len() - trimmed.len();
        match trimmed.split_once(char::is_whitespace) {
            None => {
                let pairs = META_COMMANDS
                    .iter()
                    .filter(|(name, _, _)| name.starts_with(trimmed))
                    .map(|(name, _, _)| Pair {
                        display: (*name).to_string(),
                        replacement: format!("{name} "),
                    })
                    .collect();
                (offset, pairs)
            }
            Some((command, rest)) => {
                let start = before.len() - rest.trim_start().len();
                let partial = &before[start..];
                let pairs = match command {
                    "\\c" | "\\connect" => {
                        let mut offer = Offer::new(partial);
                        offer.names(self.databases());
                        offer.pairs
                    }
                    "\\d" => {
                        let mut offer = Offer::new(partial);
                        offer.names(self.tables(&self.current_database()));
                        offer.pairs
                    }
                    "\\i" | "\\o" => self.complete_path(partial),
                    "\\format" => {
                        let mut offer = Offer::new(partial);
                        offer.words(["table", "csv", "json", "line"]);
                        offer.pairs
                    }
                    _ => Vec::new(),
                };
                (start, pairs)
            }
        }
    }
}

/// Whether the input is a statement ready to run: ends with `;` outside strings and comments, or is a `\` command,
/// or a bare `quit`/`exit`/`help`.
pub fn input_is_complete(input: &str) -> bool {
    let trimmed = input.trim();
    trimmed.is_empty()
        || trimmed.starts_with('\\')
        || ["quit", "exit", "help"].iter().any(|w| trimmed.eq_ignore_ascii_case(w))
        || tarn_engine::ends_with_terminator(input)
}

impl Validator for ShellHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(if input_is_complete(ctx.input()) {
            ValidationResult::Valid(None)
        } else {
            ValidationResult::Incomplete
        })
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if !self.colour {
            return Cow::Borrowed(line);
        }
        Cow::Owned(highlight_sql(line))
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        self.colour
    }
}

impl Helper for ShellHelper {}

const BOLD: &str = "\x1b[1m";
const GREEN: &str = "\x1b[32m";
const GREY: &str = "\x1b[90m";
const RESET: &str = "\x1b[0m";

/// Keywords bold, strings green, comments grey; every other character as typed (the width must not change).
fn highlight_sql(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 16);
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        let end_of = |j: usize| chars.get(j).map(|(b, _)| *b).unwrap_or(line.len());
        if c == '\'' {
            let mut j = i + 1;
            while j < chars.len() && chars[j].1 != '\'' {
                j += 1;
            }
            let end = end_of((j + 1).min(chars.len()));
            out.push_str(&format!("{GREEN}{}{RESET}", &line[at..end]));
            i = j + 1;
        } else if c == '-' && chars.get(i + 1).is_some_and(|(_, n)| *n == '-') {
            let mut j = i;
            while j < chars.len() && chars[j].1 != '\n' {
                j += 1;
            }
            out.push_str(&format!("{GREY}{}{RESET}", &line[at..end_of(j)]));
            i = j;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let mut j = i;
            while j < chars.len() && (chars[j].1.is_ascii_alphanumeric() || chars[j].1 == '_') {
                j += 1;
            }
            let word = &line[at..end_of(j)];
            let upper = word.to_ascii_uppercase();
            if keywords().contains(&upper.as_str()) {
                out.push_str(&format!("{BOLD}{word}{RESET}"));
            } else {
                out.push_str(word);
            }
            i = j;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Ctrl-C at the prompt: remembers whether the line was empty, so the loop can tell "clear this line" from
/// "I want to leave" (a second Ctrl-C on an empty line exits).
pub struct CtrlC {
    pub on_empty_line: std::sync::Arc<AtomicBool>,
}

impl ConditionalEventHandler for CtrlC {
    fn handle(&self, _evt: &Event, _n: RepeatCount, _positive: bool, ctx: &EventContext) -> Option<Cmd> {
        self.on_empty_line.store(ctx.line().is_empty(), Ordering::Relaxed);
        Some(Cmd::Interrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_end_at_a_terminator_outside_strings() {
        assert!(input_is_complete("SELECT 1;"));
        assert!(input_is_complete("\\d"));
        assert!(input_is_complete("quit"));
        assert!(!input_is_complete("SELECT ';'"));
        assert!(!input_is_complete("SELECT\n  1"));
    }

    #[test]
    fn references_and_aliases_are_found() {
        let refs = references("SELECT o.id FROM sales.orders AS o JOIN customers c ON o.c = c.id WHERE ");
        let tables: Vec<_> = refs.iter().map(|r| (r.table.clone(), r.alias.clone())).collect();
        assert_eq!(
            tables,
            vec![
                ((Some("sales".into()), "orders".into()), Some("o".into())),
                ((None, "customers".into()), Some("c".into())),
            ]
        );
        assert_eq!(resolve(&refs, "o"), Some((Some("sales".into()), "orders".into())));
    }

    #[test]
    fn contexts_are_recognised() {
        assert_eq!(open_string("LOCATION '/tmp/da"), Some(10));
        assert_eq!(open_string("SELECT 'a' FROM t"), None);
        assert!(in_with_properties("CREATE TABLE t WITH (format = 'PARQUET', "));
        assert!(in_with_properties("CREATE TABLE t WITH (fo"));
        assert!(!in_with_properties(
            "CREATE TABLE t WITH (format = 'PARQUET') AS SELECT count("
        ));
        assert_eq!(statement_bounds("SELECT 1; SELECT x FROM t; SELECT 2", 15), (9, 25));
        assert_eq!(previous_word("SELECT * FROM "), "FROM");
    }

    #[test]
    fn highlighting_keeps_the_text() {
        let line = "select 'a;b' -- note\nfrom t";
        let shown = highlight_sql(line);
        let stripped = shown
            .replace(BOLD, "")
            .replace(GREEN, "")
            .replace(GREY, "")
            .replace(RESET, "");
        assert_eq!(stripped, line);
        assert!(shown.contains(&format!("{BOLD}select{RESET}")));
    }
}
