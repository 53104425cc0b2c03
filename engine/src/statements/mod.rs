//! The statements tarn runs, as values: each module owns its statements' syntax tree, how they parse and what they
//! do. A statement is parsed by [`parse`] (one tokenisation: [`crate::parse::TarnParser`]), then executed against a
//! [`Ctx`]; the session adds timing, totals and the stack it runs on in one place ([`crate::Session::execute`]).
//!
//! Adding a statement is a module with a type that implements [`Statement`] and one line in the `statements!` list
//! below: the enum arm, the parse dispatch, `writes_data` and the shell's keywords all come from that line.

use std::future::Future;

use crate::context::Ctx;
use crate::error::{Part, Result};
use crate::parse::TarnParser;
use crate::result::Outcome;

mod alter;
mod check;
mod crawl;
mod database;
mod delta;
mod query;
mod refused;
mod set;
mod show;
mod show_loads;
mod show_session;
mod table;
mod view;
mod write;

/// A statement tarn parses and runs.
pub(crate) trait Statement: Sized {
    /// The words statements of this kind start with, one list per spelling (upper case). The longest list that
    /// matches a statement's first words picks its parser, so `DESCRIBE HISTORY` wins over `DESCRIBE`.
    const STARTS: &'static [&'static [&'static str]];
    /// Words of the statement's syntax beyond its first ones, offered by the shell's completion.
    const WORDS: &'static [&'static str] = &[];
    /// Words of the statement after which a table's name comes, for the shell's completion.
    const TABLE_AFTER: &'static [&'static str] = &[];
    /// Writes data files: stopping it must let it clean up (the shell waits for it instead of abandoning it).
    const WRITES_DATA: bool = false;
    /// Changes nothing in the catalog or in storage (queries, listings, USE, SET): what a read-only user of `tarn
    /// serve` may run. Off unless a statement says so.
    const READ_ONLY: bool = false;

    /// Parses the whole statement, its first words included.
    fn parse(p: &mut TarnParser) -> Result<Self>;

    fn execute(self, ctx: &mut Ctx) -> impl Future<Output = Result<Outcome>> + Send;
}

macro_rules! statements {
    ($($arm:ident($ty:ty)),* $(,)?) => {
        /// Every statement tarn runs; [`query::Query`] is what DataFusion plans (SELECT, WITH, VALUES, EXPLAIN).
        pub(crate) enum Parsed {
            $($arm(Box<$ty>),)*
        }

        impl Parsed {
            pub(crate) async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
                // Boxed: some statements' futures (delta-rs' above all) are large, and a debug build would otherwise
                // run out of stack.
                match self {
                    $(Parsed::$arm(s) => Box::pin(s.execute(ctx)).await,)*
                }
            }

        }

        /// The parser of the statement kind whose `STARTS` matches most of `words`.
        fn dispatch(words: &[String], p: &mut TarnParser) -> Option<Result<Parsed>> {
            let mut best: Option<(usize, fn(&mut TarnParser) -> Result<Parsed>)> = None;
            $(
                if let Some(n) = longest_start(<$ty as Statement>::STARTS, words)
                    && best.is_none_or(|(m, _)| n > m)
                {
                    best = Some((n, |p| <$ty as Statement>::parse(p).map(|s| Parsed::$arm(Box::new(s)))));
                }
            )*
            best.map(|(_, parse)| parse(p))
        }

        /// The flags of the statement kind that `words` start (the kind claiming the most of them): whether it
        /// changes nothing ([`Statement::READ_ONLY`]) and whether it writes data files ([`Statement::WRITES_DATA`]).
        /// `None` for what no kind claims: a query for DataFusion.
        fn kind_flags(words: &[String]) -> Option<Flags> {
            let mut best: Option<(usize, Flags)> = None;
            $(
                if let Some(n) = longest_start(<$ty as Statement>::STARTS, words)
                    && best.is_none_or(|(m, _)| n > m)
                {
                    best = Some((
                        n,
                        Flags {
                            read_only: <$ty as Statement>::READ_ONLY,
                            writes_data: <$ty as Statement>::WRITES_DATA,
                        },
                    ));
                }
            )*
            best.map(|(_, flags)| flags)
        }

        /// Every statement kind's first words, with the kind's name (for checking that no two kinds claim the same).
        #[cfg(test)]
        fn all_starts() -> Vec<(&'static str, &'static [&'static str])> {
            let mut starts = Vec::new();
            $(starts.extend(<$ty as Statement>::STARTS.iter().map(|s| (stringify!($arm), *s)));)*
            starts
        }

        /// Words of tarn's own statements after which a table's name comes, for the shell's completion.
        pub fn table_name_words() -> Vec<&'static str> {
            let mut words: Vec<&'static str> = Vec::new();
            $(words.extend(<$ty as Statement>::TABLE_AFTER.iter().copied());)*
            words.sort_unstable();
            words.dedup();
            words
        }

        /// Words of tarn's own statements, for the shell's completion.
        pub fn statement_keywords() -> Vec<&'static str> {
            let mut words: Vec<&'static str> = Vec::new();
            $(
                words.extend(<$ty as Statement>::STARTS.iter().flat_map(|s| s.iter().copied()));
                words.extend(<$ty as Statement>::WORDS.iter().copied());
            )*
            words.sort_unstable();
            words.dedup();
            words
        }
    };
}

statements! {
    CreateDatabase(database::CreateDatabase),
    DropDatabase(database::DropDatabase),
    ShowDatabases(database::ShowDatabases),
    Use(database::Use),
    CreateExternal(table::CreateExternal),
    CreateTableAs(write::CreateTableAs),
    InsertInto(write::InsertInto),
    Unload(write::Unload),
    DropTable(table::DropTable),
    ShowTables(table::ShowTables),
    Describe(table::Describe),
    ShowCreateTable(table::ShowCreateTable),
    RepairTable(alter::RepairTable),
    AlterTable(alter::AlterTable),
    ShowPartitions(show::ShowPartitions),
    ShowColumns(show::ShowColumns),
    ShowTableProperties(show::ShowTableProperties),
    ShowTableVersions(show::ShowTableVersions),
    ShowFunctions(show::ShowFunctions),
    ShowSession(show_session::ShowSession),
    ShowLoads(show_loads::ShowLoads),
    CreateView(view::CreateView),
    DropView(view::DropView),
    ShowViews(view::ShowViews),
    ShowCreateView(view::ShowCreateView),
    DeltaDml(delta::DeltaDml),
    Optimize(delta::Optimize),
    Vacuum(delta::Vacuum),
    History(delta::History),
    Crawl(crawl::Crawl),
    Check(check::Check),
    Set(set::Set),
    Query(query::Query),
}

/// How many of `words` the longest of `starts` covers, if any matches.
fn longest_start(starts: &[&[&str]], words: &[String]) -> Option<usize> {
    starts
        .iter()
        .filter(|start| start.len() <= words.len() && start.iter().zip(words).all(|(s, w)| *s == w))
        .map(|start| start.len())
        .max()
}

/// Parses one statement: one of tarn's, or a query for DataFusion.
pub(crate) fn parse(sql: &str) -> Result<Parsed> {
    let mut p = TarnParser::new(sql)?;
    let words = p.first_words();
    refused::check(&words)?;
    match dispatch(&words, &mut p) {
        Some(parsed) => parsed,
        None => query::Query::parse(&mut p).map(|q| Parsed::Query(Box::new(q))),
    }
}

/// What a statement kind declares about itself (see [`Statement`]).
#[derive(Clone, Copy)]
struct Flags {
    read_only: bool,
    writes_data: bool,
}

/// Whether the statement kind that `words` start writes data files (refused and unknown statements do not).
fn kind_writes_data(words: &[String]) -> bool {
    refused::check(words).is_ok() && kind_flags(words).is_some_and(|f| f.writes_data)
}

/// Whether the statement kind that `words` start changes nothing; refused statements change nothing, and what no
/// kind claims is a query.
fn kind_read_only(words: &[String]) -> bool {
    refused::check(words).is_err() || kind_flags(words).is_none_or(|f| f.read_only)
}

/// Whether a statement writes data files (CTAS, INSERT INTO, UNLOAD): stopping one must let it clean up. For a
/// statement of a script, [`crate::SqlStatement::writes_data`] knows without reading the text again.
pub fn writes_data(sql: &str) -> bool {
    TarnParser::new(sql).is_ok_and(|p| kind_writes_data(&p.first_words()))
}

/// Whether a statement changes nothing in the catalog or in storage, from its first words (see
/// [`Statement::READ_ONLY`]), and is not a SET of where or with how much memory queries run ([`set::Set::placement`]):
/// a server gives those to read-write users only. Text that does not parse changes nothing: running it only reports
/// the error.
pub fn read_only(sql: &str) -> bool {
    let Ok(mut p) = TarnParser::new(sql) else {
        return true;
    };
    let words = p.first_words();
    if !kind_read_only(&words) {
        return false;
    }
    !(words.first().is_some_and(|w| w == "SET") && set::Set::parse(&mut p).is_ok_and(|set| set.placement()))
}

impl crate::SqlStatement {
    /// Whether the statement writes data files (CTAS, INSERT INTO, UNLOAD), from its first words.
    pub fn writes_data(&self) -> bool {
        kind_writes_data(&self.first_words)
    }
}

/// A SHOW statement's `LIKE 'pattern'`: Athena's patterns, where `*` is any run of characters and `|` separates
/// alternatives, matched case-insensitively; no pattern matches every name.
pub(crate) struct NameFilter(Option<regex::Regex>);

impl NameFilter {
    pub(crate) fn new(pattern: Option<&str>) -> Result<Self> {
        let Some(pattern) = pattern else {
            return Ok(Self(None));
        };
        let alternatives: Vec<String> = pattern
            .split('|')
            .map(|alt| {
                alt.replace(".*", "*")
                    .split('*')
                    .map(regex::escape)
                    .collect::<Vec<_>>()
                    .join(".*")
            })
            .collect();
        regex::Regex::new(&format!("(?i)^(?:{})$", alternatives.join("|")))
            .map(|r| Self(Some(r)))
            .map_err(|e| crate::error::EngineError::invalid(Part::Clause, format!("bad pattern '{pattern}': {e}")))
    }

    pub(crate) fn matches(&self, name: &str) -> bool {
        self.0.as_ref().is_none_or(|r| r.is_match(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::EngineError;
    use crate::parse::PropValue;

    #[test]
    fn show_patterns_follow_athena() -> Result<()> {
        let p = NameFilter::new(Some("consumer*|orders"))?;
        assert!(p.matches("consumer_raw") && p.matches("ORDERS") && !p.matches("orders_old"));
        assert!(NameFilter::new(Some(".*raw"))?.matches("consumer_raw"));
        let dot = NameFilter::new(Some("a.b"))?;
        assert!(dot.matches("a.b") && !dot.matches("axb"));
        assert!(NameFilter::new(None)?.matches("anything"));
        Ok(())
    }

    #[test]
    fn no_two_statements_start_alike() {
        let starts = all_starts();
        for (i, (kind, start)) in starts.iter().enumerate() {
            for (other, same) in &starts[i + 1..] {
                assert_ne!(start, same, "{kind} and {other} both start with {start:?}");
            }
        }
    }

    #[test]
    fn read_only_statements_change_nothing_stored_and_not_where_queries_run() {
        for sql in [
            "SELECT 1",
            "SHOW TABLES",
            "SET tarn.max_scan = '1GB'",
            "SELECT 'SET tarn.workers = x' AS words",
            "not sql at all (",
        ] {
            assert!(read_only(sql), "{sql}");
        }
        for sql in [
            "CREATE TABLE t AS SELECT 1 AS x",
            "DROP TABLE t",
            "SET tarn.workers = 'http://127.0.0.1:9'",
            "SET TARN.WORKERS TO ''",
            "SET tarn.memory_limit = '64GB'",
            "SET datafusion.runtime.memory_limit = '64GB'",
        ] {
            assert!(!read_only(sql), "{sql}");
        }
    }

    #[test]
    fn writes_are_the_statements_that_write_files() -> Result<()> {
        assert!(writes_data("CREATE TABLE t WITH (format = 'PARQUET') AS SELECT 1 AS x"));
        assert!(writes_data("INSERT INTO t VALUES 1"));
        assert!(writes_data("UNLOAD (SELECT 1) TO '/tmp/x/' WITH (format = 'JSON')"));
        assert!(!writes_data("SELECT 1"));
        assert!(!writes_data("DELETE FROM t WHERE a = 1"));
        let script = crate::split_statements("CREATE TABLE t AS SELECT 1 AS x; SELECT 1;\n insert INTO t VALUES 2")?;
        let writes: Vec<bool> = script.iter().map(crate::SqlStatement::writes_data).collect();
        assert_eq!(writes, [true, false, true]);
        Ok(())
    }

    #[test]
    fn the_shell_learns_the_statements_words() {
        let words = statement_keywords();
        for word in [
            "TBLPROPERTIES",
            "SESSION",
            "FUNCTIONS",
            "ZORDER",
            "DBPROPERTIES",
            "LOADS",
        ] {
            assert!(words.contains(&word), "{word}");
        }
        assert_eq!(
            table_name_words(),
            [
                "DESCRIBE",
                "FORMATTED",
                "FROM",
                "HISTORY",
                "INTO",
                "LOADS",
                "OPTIMIZE",
                "PARTITIONS",
                "TABLE",
                "TBLPROPERTIES",
                "UPDATE",
                "VACUUM",
                "VERSIONS",
                "VIEW"
            ]
        );
    }

    #[test]
    fn the_longest_start_wins() {
        let words: Vec<String> = ["DESCRIBE", "HISTORY", "t"].iter().map(|s| s.to_string()).collect();
        assert_eq!(longest_start(&[&["DESCRIBE"]], &words), Some(1));
        assert_eq!(
            longest_start(&[&["DESCRIBE", "HISTORY"], &["SHOW", "HISTORY"]], &words),
            Some(2)
        );
        assert_eq!(longest_start(&[&["SHOW"]], &words), None);
    }

    #[test]
    fn statements_are_routed() -> Result<()> {
        assert!(
            matches!(parse("create schema if not exists X")?, Parsed::CreateDatabase(ref c) if c.name == "x" && c.if_not_exists)
        );
        assert!(matches!(
            parse("DROP DATABASE d CASCADE")?,
            Parsed::DropDatabase(ref d) if d.cascade
        ));
        assert!(matches!(
            parse("SHOW TABLES IN db 'cons*'")?,
            Parsed::ShowTables(ref s) if s.database.is_some() && s.pattern.is_some()
        ));
        assert!(
            matches!(parse("DESCRIBE \"Db\".T")?, Parsed::Describe(ref d) if d.table.database.as_deref() == Some("db") && d.table.name == "t")
        );
        assert!(
            matches!(parse("SET tarn.max_scan = '1MB'")?, Parsed::Set(ref s) if s.key == "tarn.max_scan" && s.value == "1MB")
        );
        assert!(matches!(
            parse("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/x' OPTIONS ('format.delimiter' '|')")?,
            Parsed::CreateExternal(ref c) if matches!(**c, table::CreateExternal::DataFusion(_))
        ));
        assert!(matches!(parse("select 1")?, Parsed::Query(_)));
        assert!(matches!(parse("SHOW CREATE TABLE db.t")?, Parsed::ShowCreateTable(_)));
        Ok(())
    }

    #[test]
    fn delta_maintenance_parses() -> Result<()> {
        match parse("OPTIMIZE db.t WHERE state = 'CA' AND (year IN ('2024', '2025')) ZORDER BY (a, b)")? {
            Parsed::Optimize(o) => {
                let delta::Optimize { table, filters, zorder } = *o;
                assert_eq!(table.to_string(), "db.t");
                assert_eq!(
                    filters,
                    [
                        ("state".to_string(), "=".to_string(), vec!["CA".to_string()]),
                        (
                            "year".to_string(),
                            "IN".to_string(),
                            vec!["2024".to_string(), "2025".to_string()]
                        )
                    ]
                );
                assert_eq!(zorder, ["a", "b"]);
            }
            _ => return Err(EngineError::internal("OPTIMIZE parsed as another statement")),
        }
        assert!(matches!(
            parse("VACUUM t RETAIN 24 HOURS DRY RUN")?,
            Parsed::Vacuum(ref v) if v.retain_hours == Some(24) && v.dry_run
        ));
        assert!(matches!(parse("DESCRIBE HISTORY t")?, Parsed::History(_)));
        assert!(matches!(parse("SHOW HISTORY db.t")?, Parsed::History(_)));
        assert!(matches!(parse("DELETE FROM t WHERE a = 1")?, Parsed::DeltaDml(_)));
        let err = parse("OPTIMIZE t WHERE a LIKE 'x%'").err();
        assert!(err.is_some_and(|e| e.to_string().contains("OPTIMIZE ... WHERE takes comparisons")));
        let err = parse("UPDATE t SET WHERE").err();
        assert!(matches!(err, Some(EngineError::Syntax { .. })));
        Ok(())
    }

    #[test]
    fn writes_parse() -> Result<()> {
        let Parsed::CreateTableAs(ctas) = parse(
            "CREATE TABLE \"sf\".\"T\" WITH (format='PARQUET', external_location='s3://b/x',\n partitioned_by=ARRAY['dt'], \
             bucket_count=60, is_external=true) AS SELECT a, dt FROM src WHERE b = 'x' WITH NO DATA",
        )?
        else {
            return Err(EngineError::internal("not a CTAS"));
        };
        assert_eq!(ctas.name.to_string(), "sf.t");
        assert_eq!(ctas.query.text, "SELECT a, dt FROM src WHERE b = 'x'");
        assert!(!ctas.with_data);
        assert_eq!(
            ctas.properties[2],
            ("partitioned_by".into(), PropValue::Array(vec!["dt".into()]))
        );
        assert_eq!(
            ctas.properties[3],
            ("bucket_count".into(), PropValue::Number("60".into()))
        );
        assert_eq!(ctas.properties[4], ("is_external".into(), PropValue::Bool(true)));
        let Parsed::CreateTableAs(plain) = parse("create table t as (select 1 as x) with data")? else {
            return Err(EngineError::internal("not a CTAS"));
        };
        assert_eq!((plain.query.text.as_str(), plain.with_data), ("(select 1 as x)", true));

        let Parsed::InsertInto(ins) = parse("INSERT INTO db.t (a, B) SELECT 1, 2")? else {
            return Err(EngineError::internal("not an INSERT"));
        };
        assert_eq!(
            (ins.columns.clone(), ins.query.text.as_str()),
            (Some(vec!["a".to_string(), "b".to_string()]), "SELECT 1, 2")
        );
        let Parsed::InsertInto(ins) = parse("INSERT INTO t (SELECT 1)")? else {
            return Err(EngineError::internal("not an INSERT"));
        };
        assert_eq!((ins.columns.clone(), ins.query.text.as_str()), (None, "(SELECT 1)"));
        let Parsed::Unload(spaced) = parse("UNLOAD ( SELECT 1 )\n TO '/tmp/out/' WITH (format = 'JSON')")? else {
            return Err(EngineError::internal("not an UNLOAD"));
        };
        assert_eq!(
            (spaced.query.text.as_str(), spaced.location.as_str()),
            ("SELECT 1", "/tmp/out/")
        );
        let Parsed::Unload(u) = parse(
            "UNLOAD (SELECT * FROM t WHERE f(x) > 1) TO 's3://b/out/' WITH (format = 'JSON', compression = 'GZIP')",
        )?
        else {
            return Err(EngineError::internal("not an UNLOAD"));
        };
        assert_eq!(
            (u.query.text.as_str(), u.location.as_str(), u.properties.len()),
            ("SELECT * FROM t WHERE f(x) > 1", "s3://b/out/", 2)
        );
        Ok(())
    }
}
