//! `tarn`: the command line.

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod crawl;
mod demo;
mod generate;
mod ingest;
mod output;
mod repl;
mod script;
mod serve;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use tarn_engine::{Session, SessionOptions, parse_size};

use crate::output::Format;
use crate::script::{CtrlCHandler, EXIT_CANCELLED, Ended, RunOptions, Script, run_script};

/// Exit code when a statement fails.
const EXIT_FAILED: u8 = 1;
/// Exit code for a usage error (clap uses the same).
const EXIT_USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "tarn",
    version,
    about = "A local-first Athena: a persistent catalog over local folders and s3:// prefixes, SQL on DataFusion, \
             and the bytes every query scanned with what Athena would have billed.",
    after_help = "Examples:\n  tarn -c 'CREATE DATABASE sales'\n  tarn -f queries/consumer_header/01_raw_table.sql --var location=s3://consumer/intake/\n  tarn -c 'SELECT count(*) FROM sales.orders' --max-scan 10GB\n\nS3 settings come from the standard AWS environment (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_PROFILE, ...)."
)]
struct Cli {
    /// SQL to run (several statements separated by ';'). May be repeated.
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    commands: Vec<String>,

    /// A SQL script to run. May be repeated.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<PathBuf>,

    /// Where the catalog (and tables created without a location) live: a local folder or s3://bucket/prefix/.
    #[arg(long, env = "TARN_WAREHOUSE", value_name = "PATH|URL", global = true)]
    warehouse: Option<String>,

    /// The database to start in.
    #[arg(short = 'd', long, value_name = "DB", global = true)]
    database: Option<String>,

    /// Output format for query results (data goes to stdout, figures and errors to stderr).
    #[arg(long, value_enum, default_value_t = Format::Table, global = true)]
    format: Format,

    /// Do not print the figures line and messages after each statement.
    #[arg(short, long, global = true)]
    quiet: bool,

    /// Cancel any query that reads more than this (e.g. 10GB, 500MB).
    #[arg(long, env = "TARN_MAX_SCAN", value_name = "SIZE", value_parser = parse_size_arg, global = true)]
    max_scan: Option<u64>,

    /// Memory queries may use before sorts and aggregations spill to disk (e.g. 2GB).
    #[arg(long, env = "TARN_MEMORY_LIMIT", value_name = "SIZE", value_parser = parse_size_arg, global = true)]
    memory_limit: Option<u64>,

    /// Fill ${name} in scripts and commands. May be repeated.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var, global = true)]
    vars: Vec<(String, String)>,

    /// Keep running a script's statements after one fails (the exit code still reports the failure).
    #[arg(long, global = true)]
    continue_on_error: bool,

    /// Run queries' stages on these workers (`tarn worker`), e.g. http://10.0.0.5:50051,http://10.0.0.6:50051.
    #[arg(
        long,
        env = "TARN_WORKERS",
        value_name = "URL,...",
        value_delimiter = ',',
        global = true
    )]
    workers: Vec<String>,

    /// More figures after each statement: on a cluster, what each worker scanned and wrote.
    #[arg(short, long, global = true)]
    verbose: bool,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run SQL scripts in order.
    Run {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Benchmarks: `tarn bench formats` compares how the case study's tables can be stored.
    Bench {
        #[command(subcommand)]
        suite: BenchSuite,
    },
    /// Generate data: `tarn generate consumer-header --rows 1000000 --out ./intake/`.
    Generate {
        #[command(subcommand)]
        dataset: Dataset,
    },
    /// Infer tables from a folder or S3 prefix and register them (format, delimiter, header, types, partitions).
    /// Re-crawling adds new columns and partitions; nothing is removed unless --delete-missing.
    Crawl {
        /// The folder or s3://bucket/prefix/ to crawl.
        #[arg(value_name = "PATH|URL")]
        url: String,
        /// Register the folder as this one table (instead of one table per sub-folder).
        #[arg(long, value_name = "NAME")]
        table: Option<String>,
        /// Show what would be registered; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also remove partitions, and tables of this crawl, whose folders are gone.
        #[arg(long)]
        delete_missing: bool,
    },
    /// Load the files that land under a folder or S3 prefix into a table, each exactly once, then move them to
    /// --processed (or --keep / --delete them); files that fail go to --errors with their reason beside them.
    /// Exit code 3 when some files failed.
    Ingest {
        /// The folder or s3://bucket/prefix/ files land in.
        #[arg(value_name = "PATH|URL")]
        source: String,
        /// The table to load into (db.table or a name in --database).
        #[arg(long, value_name = "TABLE")]
        into: String,
        /// Move loaded files under this prefix, keeping their keys below the source.
        #[arg(long, value_name = "PATH|URL", conflicts_with_all = ["keep", "delete"])]
        processed: Option<String>,
        /// Leave loaded files where they are (the load history keeps them from loading twice).
        #[arg(long, conflicts_with = "delete")]
        keep: bool,
        /// Delete loaded files (only files tarn loaded).
        #[arg(long)]
        delete: bool,
        /// Move files that fail here, with `<name>.error.txt` beside each.
        #[arg(long, value_name = "PATH|URL")]
        errors: Option<String>,
        /// One pass, then exit (the default).
        #[arg(long, conflicts_with = "watch")]
        once: bool,
        /// A pass every interval (e.g. 30s, 5m) until Ctrl-C, which lets the batch in flight finish.
        #[arg(long, value_name = "INTERVAL", value_parser = parse_duration_arg)]
        watch: Option<std::time::Duration>,
        /// Files per batch (one write, one commit).
        #[arg(long, default_value_t = 1000, value_name = "N")]
        batch_files: usize,
        /// Bytes of source files per batch (e.g. 256MB).
        #[arg(long, default_value = "256MB", value_name = "SIZE", value_parser = parse_size_arg)]
        batch_bytes: u64,
        /// Leave files modified more recently than this for the next pass (a local file may still be written).
        #[arg(long, default_value = "2s", value_name = "INTERVAL", value_parser = parse_duration_arg)]
        settle: std::time::Duration,
        /// Columns a file has that the table lacks: `add` them to the table, or `fail` the file.
        #[arg(long, value_enum, default_value_t = NewColumnsArg::Fail)]
        new_columns: NewColumnsArg,
        /// The partition key whose value comes from YYYY/MM/DD/ folders in a file's key (Firehose's layout), as
        /// YYYY-MM-DD; a file without them fails.
        #[arg(long, value_name = "KEY")]
        date_folders: Option<String>,
        /// One JSON report per pass on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Serve queries' stages to coordinators (`tarn --workers URL,...`). Stateless: no warehouse of its own; S3
    /// settings from the AWS environment. Stops on Ctrl-C or SIGTERM.
    Worker {
        /// Where to listen, HOST:PORT (port 0: one the system picks; the worker prints its URL).
        #[arg(long, default_value = "127.0.0.1:50051", value_name = "HOST:PORT")]
        listen: String,
    },
    /// Share the warehouse over the PostgreSQL wire protocol (psql, psycopg, JDBC, DBeaver, Superset, Grafana):
    /// users from --users, each in a workgroup with its scan limits and a read-only or read-write role; every
    /// statement is recorded in the table tarn.queries. Stops on Ctrl-C or SIGTERM.
    Serve {
        /// Where to listen for PostgreSQL clients, HOST:PORT (port 0: one the system picks; printed on stdout).
        #[arg(long, default_value = "127.0.0.1:5432", value_name = "HOST:PORT")]
        pg: String,
        /// Also serve Arrow Flight SQL (ADBC, the Flight SQL JDBC driver) at HOST:PORT.
        #[arg(long, value_name = "HOST:PORT")]
        flight: Option<String>,
        /// The users file (TOML): users with argon2 password hashes, workgroups with limits. See `tarn passwd`.
        #[arg(long, value_name = "FILE")]
        users: PathBuf,
        /// A PEM certificate chain: clients may then connect with TLS (sslmode=require).
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Connections served at once; more are refused until one closes.
        #[arg(long, default_value_t = 64, value_name = "N")]
        max_connections: usize,
        /// Close a connection that has run nothing for this long (PostgreSQL's idle_session_timeout), and forget a
        /// Flight SQL token or result unused for as long; 0 never does.
        #[arg(long, default_value = "1h", value_name = "INTERVAL", value_parser = parse_duration_arg)]
        idle_timeout: std::time::Duration,
    },
    /// Read a password on stdin and print its argon2 hash, for the `password` of a user in `tarn serve --users`.
    Passwd,
    /// What the warehouse's queries scanned and cost (from tarn.queries, which `tarn serve` records).
    History {
        /// The month, YYYY-MM (default: this month, UTC).
        #[arg(long, value_name = "YYYY-MM")]
        month: Option<String>,
        /// Group by this.
        #[arg(long, value_enum, default_value_t = HistoryBy::Workgroup)]
        by: HistoryBy,
    },
    /// Replay the consumer-header case study on generated data: gzip CSV in, bytes scanned and the Athena bill out.
    Demo {
        /// Rows to generate.
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        /// Gzip parts to split them into (written in parallel).
        #[arg(long, default_value_t = 8)]
        parts: usize,
        /// Folder for the data and the demo's warehouse.
        #[arg(long, default_value = "tarn-demo")]
        dir: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum HistoryBy {
    Workgroup,
    User,
    Day,
}

/// `tarn history`: the month's queries, bytes scanned and bill per workgroup, user or day.
fn history_sql(month: Option<&str>, by: HistoryBy) -> Result<String, String> {
    let month = match month {
        Some(m) => {
            let valid = m.len() == 7
                && m.as_bytes()[4] == b'-'
                && m.bytes().enumerate().all(|(i, b)| i == 4 || b.is_ascii_digit());
            if !valid {
                return Err(format!("--month {m}: expected YYYY-MM, e.g. 2026-11"));
            }
            m.to_string()
        }
        None => chrono::Utc::now().format("%Y-%m").to_string(),
    };
    let key = match by {
        HistoryBy::Workgroup => "workgroup",
        HistoryBy::User => "user_name",
        HistoryBy::Day => "dt",
    };
    Ok(format!(
        "SELECT {key}, count(*) AS queries, count(*) FILTER (WHERE status = 'SUCCEEDED') AS succeeded, \
         count(*) FILTER (WHERE status = 'REFUSED') AS refused, sum(bytes_scanned) AS bytes_scanned, \
         round(sum(bill_usd), 6) AS bill_usd FROM tarn.queries WHERE dt LIKE '{month}-%' GROUP BY {key} \
         ORDER BY bill_usd DESC, {key}"
    ))
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum NewColumnsArg {
    Add,
    Fail,
}

/// `30s`, `5m`, `1h`, `500ms`, or plain seconds.
fn parse_duration_arg(text: &str) -> Result<std::time::Duration, String> {
    tarn_engine::units::parse_duration(text)
}

#[derive(Debug, Subcommand)]
enum BenchSuite {
    /// How long machine-written SQL takes to plan: OR, AND and + chains and nested parentheses.
    Planning {
        /// Terms per chain (repeatable; parentheses nest at most 2,000 deep).
        #[arg(long = "terms", default_values_t = [1_000, 5_000, 20_000])]
        terms: Vec<usize>,
        /// Runs per statement (the report gives the median and the range).
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// The case study's queries over gzip CSV, CSV, Parquet, Parquet partitioned and bucketed by state: time,
    /// bytes scanned, Athena's bill; CTAS throughput and a write into thousands of partitions with its peak memory.
    Formats {
        /// Rows to generate (400 columns each).
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        /// Gzip parts to split them into.
        #[arg(long, default_value_t = 8)]
        parts: usize,
        /// Runs per query (the report gives the median and the range).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Run the same queries in DuckDB on the same files (needs `duckdb` on PATH: pip install duckdb-cli).
        #[arg(long, value_name = "ENGINE", value_parser = ["duckdb"])]
        compare: Option<String>,
        /// Folder for data, warehouse, results.json, report.md and chart.svg.
        #[arg(long, default_value = "tarn-bench")]
        out: PathBuf,
    },
    /// TPC-H's 22 queries on Parquet generated in-process (one file per table, and files of --file-mb), registered
    /// in the catalog; with --compare duckdb, the same queries in DuckDB on the same files, results checked.
    Tpch {
        /// Scale factor: 1 is 6 million lineitem rows (about 250 MB of Parquet).
        #[arg(long, default_value_t = 1.0)]
        sf: f64,
        /// Runs per query (the report gives the median and the range).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Run the same queries in DuckDB on the same files and check both return the same rows (needs `duckdb` on
        /// PATH: pip install duckdb-cli).
        #[arg(long, value_name = "ENGINE", value_parser = ["duckdb"])]
        compare: Option<String>,
        /// File size of the second layout, in MB.
        #[arg(long, default_value_t = 128)]
        file_mb: u64,
        /// A setting for tarn's session before the queries, as `SET` takes it (repeatable):
        /// --set "datafusion.execution.parquet.pushdown_filters = true".
        #[arg(long = "set", value_name = "KEY = VALUE")]
        settings: Vec<String>,
        /// Run the queries on N `tarn worker` processes started on 127.0.0.1 for the run (what a cluster costs
        /// on one machine; with one worker, stages of two tasks both go to it).
        #[arg(long, value_name = "N", default_value_t = 0)]
        local_workers: usize,
        /// Folder for data (kept and reused per scale factor), warehouse, results.json, report.md and chart.svg.
        #[arg(long, default_value = "tarn-bench-tpch")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum Dataset {
    /// The case study's delivery: 400 columns (HouseholdID, PersonID, ..., State, ..., Attr400), gzip, '|', header.
    ConsumerHeader {
        /// Rows to write.
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// Gzip parts to split them into (written in parallel).
        #[arg(long, default_value_t = 8)]
        parts: u64,
        /// A folder or s3://bucket/prefix/ (S3 settings from the AWS environment). Existing files are never replaced.
        #[arg(long, value_name = "DIR|URL")]
        out: String,
        /// The same seed gives the same files.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Parts generated at once (default: the number of CPUs).
        #[arg(long)]
        threads: Option<usize>,
    },
}

fn parse_size_arg(s: &str) -> Result<u64, String> {
    parse_size(s)
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    let (name, value) = s.split_once('=').ok_or_else(|| format!("'{s}' is not NAME=VALUE"))?;
    let name = name.trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("'{name}' is not a variable name (letters, digits, '_')"));
    }
    Ok((name.to_string(), value.to_string()))
}

/// The stack of the thread that runs statements, and of the runtime's threads. Planning and evaluating an
/// expression recurses once per level of nesting (5,000 levels are allowed); memory is only used as it is touched.
const STACK_SIZE: usize = 256 << 20;

fn main() -> ExitCode {
    match std::thread::Builder::new()
        .name("tarn".into())
        .stack_size(STACK_SIZE)
        .spawn(tarn_main)
    {
        Ok(thread) => thread.join().unwrap_or(ExitCode::from(EXIT_FAILED)),
        Err(e) => {
            eprintln!("error: cannot start tarn's main thread: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

fn tarn_main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // -c and -f run in the order they were given, as in psql.
    let mut order: Vec<(usize, Source)> = Vec::new();
    order.extend(
        matches
            .indices_of("commands")
            .into_iter()
            .flatten()
            .zip(cli.commands.iter().cloned().map(Source::Sql)),
    );
    order.extend(
        matches
            .indices_of("files")
            .into_iter()
            .flatten()
            .zip(cli.files.iter().cloned().map(Source::File)),
    );
    order.sort_by_key(|(index, _)| *index);
    let mut sources: Vec<Source> = order.into_iter().map(|(_, s)| s).collect();
    if let Some(Command::Run { files }) = &cli.command {
        sources.extend(files.iter().cloned().map(Source::File));
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(STACK_SIZE)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    if let Some(Command::Demo { rows, parts, dir }) = &cli.command {
        let options = demo::DemoOptions {
            rows: *rows,
            parts: *parts,
            dir: dir.clone(),
        };
        return match runtime.block_on(demo::run(options)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_FAILED)
            }
        };
    }
    if let Some(Command::Serve {
        pg,
        flight,
        users,
        tls_cert,
        tls_key,
        max_connections,
        idle_timeout,
    }) = &cli.command
    {
        let session = match open_session(&runtime, &cli, None) {
            Ok(s) => s,
            Err(code) => return code,
        };
        let options = serve::ServeOptions {
            pg: pg.clone(),
            flight: flight.clone(),
            users: users.clone(),
            tls_cert: tls_cert.clone(),
            tls_key: tls_key.clone(),
            max_connections: *max_connections,
            idle_timeout: (!idle_timeout.is_zero()).then_some(*idle_timeout),
        };
        let code = runtime.block_on(serve::run(session, options));
        runtime.shutdown_background();
        return code;
    }
    if let Some(Command::Passwd) = &cli.command {
        let mut password = String::new();
        if let Err(e) = std::io::stdin().read_line(&mut password) {
            eprintln!("error: cannot read the password from stdin: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
        let password = password.trim_end_matches(['\r', '\n']);
        if password.is_empty() {
            eprintln!("error: no password on stdin");
            return ExitCode::from(EXIT_USAGE);
        }
        return match serve::users::hash_password(password) {
            Ok(hash) => {
                println!("{hash}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_FAILED)
            }
        };
    }
    if let Some(Command::History { month, by }) = &cli.command {
        match history_sql(month.as_deref(), *by) {
            Ok(sql) => sources.push(Source::Sql(sql)),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        }
    }
    if let Some(Command::Worker { listen }) = &cli.command {
        return worker(&runtime, listen, cli.memory_limit);
    }
    if let Some(Command::Ingest {
        source,
        into,
        processed,
        keep: _,
        delete,
        errors,
        once: _,
        watch,
        batch_files,
        batch_bytes,
        settle,
        new_columns,
        date_folders,
        json,
    }) = &cli.command
    {
        let mut session = match open_session(&runtime, &cli, cli.database.clone()) {
            Ok(s) => s,
            Err(code) => return code,
        };
        let mut options = tarn_engine::ingest::IngestOptions::new(source, into);
        options.after = match (processed, delete) {
            (Some(p), _) => tarn_engine::ingest::AfterLoad::Move(p.clone()),
            (None, true) => tarn_engine::ingest::AfterLoad::Delete,
            (None, false) => tarn_engine::ingest::AfterLoad::Keep,
        };
        options.errors = errors.clone();
        options.batch_files = *batch_files;
        options.batch_bytes = *batch_bytes;
        options.settle = *settle;
        options.new_columns = match new_columns {
            NewColumnsArg::Add => tarn_engine::ingest::NewColumns::Add,
            NewColumnsArg::Fail => tarn_engine::ingest::NewColumns::Fail,
        };
        options.date_folders = date_folders.clone();
        let watch = ingest::Watch {
            every: *watch,
            json: *json,
            quiet: cli.quiet,
        };
        return runtime.block_on(ingest::run(&mut session, options, watch));
    }
    if let Some(Command::Crawl {
        url,
        table,
        dry_run,
        delete_missing,
    }) = &cli.command
    {
        // The crawl creates its database if needed, so the session starts in `default`.
        let mut session = match open_session(&runtime, &cli, None) {
            Ok(s) => s,
            Err(code) => return code,
        };
        let options = tarn_engine::CrawlOptions {
            database: cli.database.clone().unwrap_or_else(|| "default".into()),
            table: table.clone(),
            dry_run: *dry_run,
            delete_missing: *delete_missing,
        };
        return match runtime.block_on(session.crawl(url, options)) {
            Ok(report) => {
                print!("{}", crawl::render(&report));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_FAILED)
            }
        };
    }
    if let Some(Command::Generate {
        dataset:
            Dataset::ConsumerHeader {
                rows,
                parts,
                out,
                seed,
                threads,
            },
    }) = &cli.command
    {
        let options = generate::GenerateOptions {
            rows: *rows,
            parts: *parts,
            out: out.clone(),
            seed: *seed,
            threads: threads
                .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
                .unwrap_or(2),
        };
        return match generate::consumer_header(runtime.handle(), &options) {
            Ok(line) => {
                eprintln!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_FAILED)
            }
        };
    }
    if let Some(Command::Bench { suite }) = &cli.command {
        let code = bench(&runtime, suite, &cli.workers);
        runtime.shutdown_background();
        return code;
    }
    let code = run(&runtime, cli, sources);
    // Everything run() waited for is done; a query cancelled in the shell may still have a task that has not reached
    // its next yield point, and exiting must not wait for it.
    runtime.shutdown_background();
    code
}

enum Source {
    Sql(String),
    File(PathBuf),
}

fn run(runtime: &tokio::runtime::Runtime, cli: Cli, sources: Vec<Source>) -> ExitCode {
    let mut scripts = Vec::new();
    for source in sources {
        match source {
            Source::Sql(text) => scripts.push(Script {
                name: "-c".into(),
                text,
                is_file: false,
            }),
            Source::File(file) => match std::fs::read_to_string(&file) {
                Ok(text) => scripts.push(Script {
                    name: file.display().to_string(),
                    text,
                    is_file: true,
                }),
                Err(e) => {
                    eprintln!("error: cannot read {}: {e}", file.display());
                    return ExitCode::from(EXIT_USAGE);
                }
            },
        }
    }
    // Nothing to run and a person at the keyboard: the shell. Piped stdin is a script (no prompts, no colour).
    let interactive = scripts.is_empty() && std::io::stdin().is_terminal();
    if scripts.is_empty() && !interactive {
        let mut text = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut text) {
            eprintln!("error: cannot read stdin: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
        scripts.push(Script {
            name: "stdin".into(),
            text,
            is_file: true,
        });
    }

    let mut session = match open_session(runtime, &cli, cli.database.clone()) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let vars: BTreeMap<String, String> = cli.vars.iter().cloned().collect();
    if interactive {
        let options = repl::ShellOptions {
            format: cli.format,
            quiet: cli.quiet,
            verbose: cli.verbose,
            vars,
        };
        return repl::run(runtime, session, options);
    }
    let options = RunOptions {
        format: cli.format,
        quiet: cli.quiet,
        verbose: cli.verbose,
        continue_on_error: cli.continue_on_error,
    };
    // Ctrl-C cancels the running statement (a write removes its files), prints `cancelled` and ends the run.
    let ctrl_c = CtrlCHandler::install(&session, true);
    let mut failed = false;
    for script in scripts {
        match runtime.block_on(run_script(&mut session, &script, &vars, options, &ctrl_c)) {
            Ended::Ok => {}
            Ended::Cancelled => return ExitCode::from(EXIT_CANCELLED),
            Ended::Failed => {
                failed = true;
                if !cli.continue_on_error {
                    break;
                }
            }
        }
    }
    if failed {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

/// The session over the warehouse the options name; on failure, the error is printed and the exit code returned.
fn open_session(runtime: &tokio::runtime::Runtime, cli: &Cli, database: Option<String>) -> Result<Session, ExitCode> {
    let Some(warehouse) = cli.warehouse.clone().or_else(default_warehouse) else {
        eprintln!("error: no home folder to keep the warehouse in; give --warehouse or set TARN_WAREHOUSE");
        return Err(ExitCode::from(EXIT_USAGE));
    };
    let options = SessionOptions {
        warehouse,
        max_scan: cli.max_scan,
        database,
        aws: None,
        memory_limit: cli.memory_limit.map(|m| m as usize),
        workers: cli.workers.clone(),
    };
    runtime.block_on(Session::open(options)).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_FAILED)
    })
}

/// `tarn worker`: serves tasks until Ctrl-C or SIGTERM.
fn worker(runtime: &tokio::runtime::Runtime, listen: &str, memory_limit: Option<u64>) -> ExitCode {
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let address = listener
            .local_addr()
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let options = tarn_engine::worker::WorkerOptions {
            aws: None,
            memory_limit: memory_limit.map(|m| m as usize),
            name: format!("http://{address}"),
        };
        // The URL on stdout is what a coordinator's --workers takes (and what a script starting workers reads).
        println!("tarn worker listening on http://{address}");
        let stop = async {
            let terminate = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate => {}
            }
        };
        tarn_engine::worker::serve_worker(listener, options, stop)
            .await
            .map_err(|e| e.to_string())
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// `tarn worker` processes on 127.0.0.1 for a bench, stopped when dropped.
struct LocalWorkers {
    children: Vec<std::process::Child>,
    urls: Vec<String>,
}

impl LocalWorkers {
    fn start(n: usize) -> Result<Self, String> {
        let exe =
            std::env::current_exe().map_err(|e| format!("cannot find tarn's own binary to start workers: {e}"))?;
        let mut workers = Self {
            children: Vec::new(),
            urls: Vec::new(),
        };
        for _ in 0..n {
            let mut child = std::process::Command::new(&exe)
                .args(["worker", "--listen", "127.0.0.1:0"])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot start a worker: {e}"))?;
            let mut line = String::new();
            if let Some(stdout) = child.stdout.take() {
                let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
            }
            workers.children.push(child);
            let url = line
                .trim()
                .strip_prefix("tarn worker listening on ")
                .ok_or_else(|| format!("a worker did not start: it said {line:?}"))?;
            workers.urls.push(url.to_string());
        }
        Ok(workers)
    }
}

impl Drop for LocalWorkers {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `tarn bench formats|tpch`: runs the suite, prints its report, says where the files went.
fn bench(runtime: &tokio::runtime::Runtime, suite: &BenchSuite, workers: &[String]) -> ExitCode {
    let compare = match suite {
        BenchSuite::Formats { compare, .. } | BenchSuite::Tpch { compare, .. } => compare.as_deref(),
        BenchSuite::Planning { .. } => None,
    };
    let duckdb = match compare {
        Some(_) => match tarn_bench::find_on_path("duckdb") {
            Some(exe) => Some(exe),
            None => {
                eprintln!("error: --compare duckdb needs the duckdb shell on PATH (pip install duckdb-cli)");
                return ExitCode::from(EXIT_USAGE);
            }
        },
        None => None,
    };
    let outcome = match suite {
        BenchSuite::Planning { terms, runs } => runtime
            .block_on(tarn_bench::planning::run(terms, *runs))
            .map(|measured| (tarn_bench::planning::markdown(&measured), None)),
        BenchSuite::Formats {
            rows, parts, runs, out, ..
        } => {
            let options = tarn_bench::BenchOptions {
                rows: *rows,
                parts: *parts,
                runs: *runs,
                out: out.clone(),
                duckdb,
                partition_write: Some(tarn_bench::PartitionWrite::AllColumns),
                tarn: std::env::current_exe().ok(),
            };
            runtime
                .block_on(tarn_bench::run(&options))
                .map(|report| (tarn_bench::markdown(&options, &report), Some(out)))
        }
        BenchSuite::Tpch {
            sf,
            runs,
            file_mb,
            settings,
            out,
            local_workers,
            ..
        } => {
            if !(*sf > 0.0 && *sf <= 1000.0) {
                eprintln!("error: --sf {sf}: the scale factor must be above 0 and at most 1000");
                return ExitCode::from(EXIT_USAGE);
            }
            let local = match LocalWorkers::start(*local_workers) {
                Ok(local) => local,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(EXIT_FAILED);
                }
            };
            let mut settings = settings.clone();
            if *local_workers == 1 {
                settings.push("distributed.max_tasks_per_stage = 2".into());
            }
            let options = tarn_bench::tpch::TpchOptions {
                scale: *sf,
                runs: *runs,
                out: out.clone(),
                duckdb,
                file_bytes: file_mb.max(&1) << 20,
                settings,
                workers: workers.iter().cloned().chain(local.urls.iter().cloned()).collect(),
            };
            let outcome = runtime
                .block_on(tarn_bench::tpch::run(&options))
                .map(|report| (tarn_bench::tpch::markdown(&options, &report), Some(out)));
            drop(local);
            outcome
        }
    };
    match outcome {
        Ok((markdown, out)) => {
            println!("{markdown}");
            if let Some(out) = out {
                eprintln!("wrote {0}/results.json, {0}/report.md and {0}/chart.svg", out.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

fn default_warehouse() -> Option<String> {
    dirs::data_dir().map(|d| d.join("tarn").join("warehouse").display().to_string())
}
