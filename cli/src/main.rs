//! `tarn`: the command line.

mod output;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use tarn_engine::{Session, SessionOptions, SqlStatement, parse_size, split_statements};

use crate::output::{Format, RowsError, stats_line, write_rows};

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
    #[arg(long, env = "TARN_MAX_SCAN", value_name = "SIZE", value_parser = parse_max_scan, global = true)]
    max_scan: Option<u64>,

    /// Fill ${name} in scripts and commands. May be repeated.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var, global = true)]
    vars: Vec<(String, String)>,

    /// Keep running a script's statements after one fails (the exit code still reports the failure).
    #[arg(long, global = true)]
    continue_on_error: bool,

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
}

fn parse_max_scan(s: &str) -> Result<u64, String> {
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

/// One source of SQL: a -c string, a file, or stdin.
struct Script {
    /// How errors name it: a path, `-c` or `stdin`.
    name: String,
    text: String,
    /// Whether positions are worth printing as `name:line:col` (files) or only as `line, column` (-c).
    is_file: bool,
}

fn main() -> ExitCode {
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
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    runtime.block_on(run(cli, sources))
}

enum Source {
    Sql(String),
    File(PathBuf),
}

async fn run(cli: Cli, sources: Vec<Source>) -> ExitCode {
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
    if scripts.is_empty() {
        if std::io::stdin().is_terminal() {
            eprintln!(
                "tarn: nothing to run. Give SQL with -c 'SELECT ...', a script with -f FILE or `tarn run FILE`, or \
                 pipe SQL on stdin. (The interactive shell is not built yet.) See tarn --help."
            );
            return ExitCode::from(EXIT_USAGE);
        }
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

    let warehouse = match cli.warehouse.clone().or_else(default_warehouse) {
        Some(w) => w,
        None => {
            eprintln!("error: no home folder to keep the warehouse in; give --warehouse or set TARN_WAREHOUSE");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let options = SessionOptions {
        warehouse,
        max_scan: cli.max_scan,
        database: cli.database.clone(),
        aws: None,
    };
    let mut session = match Session::open(options).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let vars: BTreeMap<String, String> = cli.vars.iter().cloned().collect();
    let mut failed = false;
    for script in scripts {
        if !run_script(&mut session, &script, &vars, &cli).await {
            failed = true;
            if !cli.continue_on_error {
                break;
            }
        }
    }
    if failed {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

fn default_warehouse() -> Option<String> {
    dirs::data_dir().map(|d| d.join("tarn").join("warehouse").display().to_string())
}

/// Runs every statement of a script; returns false if any failed.
async fn run_script(session: &mut Session, script: &Script, vars: &BTreeMap<String, String>, cli: &Cli) -> bool {
    let text = match substitute(&script.text, vars) {
        Ok(t) => t,
        Err((line, message)) => {
            report(script, Some((line, 1)), &message);
            return false;
        }
    };
    let statements = match split_statements(&text) {
        Ok(s) => s,
        Err(e) => {
            report(script, e.position(), &e.to_string());
            return false;
        }
    };
    let mut ok = true;
    for statement in statements {
        if let Err(e) = run_statement(session, &statement, cli).await {
            match e {
                RowsError::Engine(e) => {
                    let position = e
                        .position()
                        .map(|(l, c)| absolute(&statement, l, c))
                        .or(if script.is_file {
                            Some((statement.line, statement.column))
                        } else {
                            None
                        });
                    report(script, position, &e.to_string());
                }
                // A closed stdout (`tarn ... | head`) ends the run quietly.
                RowsError::Output(io) if io.kind() == std::io::ErrorKind::BrokenPipe => return false,
                RowsError::Output(io) => report(script, None, &format!("cannot write output: {io}")),
            }
            ok = false;
            if !cli.continue_on_error {
                return false;
            }
        }
    }
    ok
}

async fn run_statement(session: &mut Session, statement: &SqlStatement, cli: &Cli) -> Result<(), RowsError> {
    let mut result = session.execute(&statement.text).await.map_err(RowsError::Engine)?;
    for notice in result.notices() {
        eprintln!("warning: {notice}");
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    write_rows(&mut result, cli.format, &mut out).await?;
    drop(out);
    if !cli.quiet {
        let line = stats_line(result.kind(), result.message(), &result.stats());
        let _ = writeln!(std::io::stderr(), "{line}");
    }
    Ok(())
}

/// A position inside a statement, as a position in the script.
fn absolute(statement: &SqlStatement, line: u64, column: u64) -> (u64, u64) {
    if line <= 1 {
        (statement.line, statement.column + column.saturating_sub(1))
    } else {
        (statement.line + line - 1, column)
    }
}

/// `error: FILE:LINE:COL: message` for scripts, `error: message (line L, column C)` for -c.
fn report(script: &Script, position: Option<(u64, u64)>, message: &str) {
    let line = match (position, script.is_file) {
        (Some((l, c)), true) => format!("error: {}:{l}:{c}: {message}", script.name),
        (Some((l, c)), false) => format!("error: {message} (line {l}, column {c})"),
        (None, true) => format!("error: {}: {message}", script.name),
        (None, false) => format!("error: {message}"),
    };
    eprintln!("{}", line.replace('\n', " "));
}

/// Replaces `${name}` with `--var name=value`, or with `default` in `${name:-default}` when no --var is given.
/// An unknown name without a default is an error (with its line), never an empty string.
fn substitute(text: &str, vars: &BTreeMap<String, String>) -> Result<String, (u64, String)> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut line = 1u64;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start + 2..].find('}') else {
            break;
        };
        let inner = &rest[start + 2..start + 2 + len];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        let is_name = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        out.push_str(&rest[..start]);
        line += rest[..start].matches('\n').count() as u64;
        match (is_name, vars.get(name), default) {
            (true, Some(value), _) => out.push_str(value),
            (true, None, Some(default)) => out.push_str(default),
            (true, None, None) => {
                return Err((
                    line,
                    format!("the script uses ${{{name}}} but no --var {name}=... was given"),
                ));
            }
            (false, _, _) => out.push_str(&rest[start..start + 3 + len]),
        }
        line += inner.matches('\n').count() as u64;
        rest = &rest[start + 3 + len..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_filled_and_missing_ones_reported() {
        let vars: BTreeMap<String, String> = [("loc".to_string(), "s3://b/x/".to_string())].into();
        assert_eq!(
            substitute("LOCATION '${loc}' -- ${not a var}", &vars),
            Ok("LOCATION 's3://b/x/' -- ${not a var}".to_string())
        );
        assert_eq!(
            substitute("a\nb ${loc}\nc ${db}", &vars).err(),
            Some((3, "the script uses ${db} but no --var db=... was given".to_string()))
        );
        assert_eq!(
            substitute("USE ${db:-sales}; LOCATION '${loc:-s3://default/}'", &vars),
            Ok("USE sales; LOCATION 's3://b/x/'".to_string())
        );
    }

    #[test]
    fn positions_map_into_the_script() {
        let statement = SqlStatement {
            text: "SELECT\n x".into(),
            line: 10,
            column: 5,
        };
        assert_eq!(absolute(&statement, 1, 3), (10, 7));
        assert_eq!(absolute(&statement, 2, 2), (11, 2));
    }
}
