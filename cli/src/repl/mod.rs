//! The interactive shell (`tarn` on a terminal): a line editor with history and completion, `\` commands, results
//! fitted to the terminal, and after every statement what it scanned and what Athena would have billed.

mod helper;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use datafusion::arrow::array::RecordBatch;
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{Config, Editor, EventHandler, KeyEvent};
use tarn_engine::{
    EngineError, QueryResult, ResultKind, Session, SqlStatement, format_bytes, format_dollars, parse_size,
    split_statements,
};

use crate::output::{Format, RowsError, render_expanded, render_fitted, render_lines, stats_line, write_rows};
use crate::script::{CtrlCHandler, WriteBar, absolute, cancellable, substitute};
use helper::{CtrlC, ShellHelper};

/// The `\` commands: name, arguments, what it does. Tab completes the names; `\?` prints this.
pub(crate) const META_COMMANDS: &[(&str, &str, &str)] = &[
    ("\\?", "", "this help"),
    ("\\q", "", "quit (also Ctrl-D, or Ctrl-C twice on an empty line)"),
    ("\\l", "", "list databases"),
    ("\\c", "[DB]", "use database DB (or show the current one)"),
    ("\\d", "[TABLE]", "list tables, or describe TABLE"),
    ("\\x", "[on|off]", "expanded display: one block per row"),
    ("\\format", "[table|csv|json|line]", "how results are printed"),
    (
        "\\timing",
        "[on|off]",
        "the rows · time · scanned · bill line after each statement",
    ),
    ("\\maxrows", "[N]", "rows a table shows (0: all); the rest are counted"),
    (
        "\\scan",
        "[SIZE|off]",
        "the session's scan total and bill; set or clear the per-query scan limit",
    ),
    ("\\i", "FILE", "run the statements of a SQL file"),
    ("\\o", "[FILE]", "send results to FILE (no FILE: back to the terminal)"),
];

/// Rows a table shows unless `\maxrows` says otherwise (as DuckDB's shell).
const DEFAULT_MAX_ROWS: usize = 40;
/// How long a cancelled write may take to remove its files before the shell stops waiting for it.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Table,
    Csv,
    Json,
    Line,
}

/// What the shell was started with.
pub struct ShellOptions {
    pub format: Format,
    pub quiet: bool,
    /// Per-worker figures after each statement.
    pub verbose: bool,
    pub vars: BTreeMap<String, String>,
}

struct Shell<'a> {
    runtime: &'a tokio::runtime::Runtime,
    /// Woken by Ctrl-C while a statement runs.
    cancel: Arc<tokio::sync::Notify>,
    session: Session,
    mode: Mode,
    expanded: bool,
    footer: bool,
    verbose: bool,
    max_rows: usize,
    output: Option<(PathBuf, File)>,
    vars: BTreeMap<String, String>,
    colour: bool,
}

enum Flow {
    Continue,
    Quit,
}

/// Runs the shell until `\q`, Ctrl-D or two Ctrl-C on an empty line. Exits non-zero only if the terminal fails.
pub fn run(runtime: &tokio::runtime::Runtime, session: Session, options: ShellOptions) -> ExitCode {
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = Config::builder()
        .auto_add_history(false)
        .completion_type(rustyline::CompletionType::List);
    let config = match builder
        .history_ignore_dups(true)
        .and_then(|b| b.max_history_size(10_000))
    {
        Ok(b) => b.build(),
        Err(e) => {
            eprintln!("error: cannot configure the line editor: {e}");
            return ExitCode::from(crate::EXIT_FAILED);
        }
    };
    let mut editor: Editor<ShellHelper, FileHistory> = match Editor::with_config(config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot start the line editor: {e}");
            return ExitCode::from(crate::EXIT_FAILED);
        }
    };
    editor.set_helper(Some(ShellHelper::new(
        runtime.handle().clone(),
        session.clone(),
        colour,
    )));
    let on_empty_line = Arc::new(AtomicBool::new(false));
    editor.bind_sequence(
        KeyEvent::ctrl('c'),
        EventHandler::Conditional(Box::new(CtrlC {
            on_empty_line: Arc::clone(&on_empty_line),
        })),
    );
    let history = history_file();
    if let Some(path) = &history {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        // A missing history file is a first run, not an error.
        let _ = editor.load_history(path);
    }
    // Ctrl-C outside the line editor (which reads it as a key) arrives as SIGINT and cancels the statement.
    let cancel = CtrlCHandler::install(&session, false).cancel;
    let mut shell = Shell {
        runtime,
        cancel,
        session,
        mode: match options.format {
            Format::Table => Mode::Table,
            Format::Csv => Mode::Csv,
            Format::Json | Format::Ndjson => Mode::Json,
        },
        expanded: false,
        footer: !options.quiet,
        verbose: options.verbose,
        max_rows: DEFAULT_MAX_ROWS,
        output: None,
        vars: options.vars,
        colour,
    };
    if !options.quiet {
        println!(
            "tarn {} · warehouse {} · \\? for help, \\q to quit",
            env!("CARGO_PKG_VERSION"),
            shell.session.warehouse()
        );
    }
    let mut interrupted_on_empty = false;
    loop {
        let prompt = format!("{}> ", shell.session.current_database());
        match editor.readline(&prompt) {
            Ok(input) => {
                interrupted_on_empty = false;
                if input.trim().is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(input.trim_end());
                if let Some(path) = &history {
                    // Appended at once, so a killed shell keeps what was typed.
                    let _ = editor.append_history(path);
                }
                let flow = shell.handle(&input);
                if let Some(helper) = editor.helper() {
                    helper.refresh(&shell.session);
                }
                if matches!(flow, Flow::Quit) {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => {
                if !on_empty_line.load(Ordering::Relaxed) {
                    interrupted_on_empty = false;
                } else if interrupted_on_empty {
                    break;
                } else {
                    eprintln!("(Ctrl-C again or Ctrl-D to quit)");
                    interrupted_on_empty = true;
                }
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("error: the terminal failed: {e}");
                return ExitCode::from(crate::EXIT_FAILED);
            }
        }
    }
    ExitCode::SUCCESS
}

/// `<data dir>/tarn/history` (e.g. `~/.local/share/tarn/history`).
fn history_file() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("tarn").join("history"))
}

impl Shell<'_> {
    fn handle(&mut self, input: &str) -> Flow {
        let trimmed = input.trim();
        if let Some(command) = trimmed.strip_prefix('\\') {
            return self.meta(command);
        }
        match trimmed.to_ascii_lowercase().as_str() {
            "quit" | "exit" => return Flow::Quit,
            "help" => {
                self.help();
                return Flow::Continue;
            }
            _ => {}
        }
        self.run_text(input);
        Flow::Continue
    }

    /// Runs each statement of `text`, stopping at the first that fails. Returns false if one failed.
    fn run_text(&mut self, text: &str) -> bool {
        let statements = match split_statements(text) {
            Ok(s) => s,
            Err(e) => {
                self.error(&e, None, text);
                return false;
            }
        };
        for statement in statements {
            if let Err(e) = self.run_statement(&statement) {
                match e {
                    RowsError::Engine(e) => self.error(&e, Some(&statement), text),
                    RowsError::Output(io) => self.error_text(&format!("cannot write the results: {io}")),
                }
                return false;
            }
        }
        true
    }

    fn run_statement(&mut self, statement: &SqlStatement) -> Result<(), RowsError> {
        let interrupt = self.session.interrupt_handle();
        let is_write = statement.writes_data();
        let width = self.table_width();
        let (mode, expanded, max_rows) = (self.mode, self.expanded, self.max_rows);
        let stdout = std::io::stdout();
        let mut terminal;
        let out: &mut dyn Write = match self.output.as_mut() {
            Some((_, file)) => file,
            None => {
                terminal = stdout.lock();
                &mut terminal
            }
        };
        let show_progress = self.footer && std::io::stderr().is_terminal();
        let session = &mut self.session;
        let cancel = Arc::clone(&self.cancel);
        let shown = self.runtime.block_on(async {
            let progress = show_progress.then(|| WriteBar::start(session.write_progress()));
            let work = async {
                let executed = session.execute(&statement.text).await;
                drop(progress);
                let mut result = executed.map_err(RowsError::Engine)?;
                for notice in result.notices() {
                    eprintln!("warning: {notice}");
                }
                let hidden = show(&mut result, mode, expanded, max_rows, width, out).await?;
                Ok::<_, RowsError>((result, hidden))
            };
            cancellable(work, &cancel, &interrupt, is_write).await
        });
        let (result, hidden) = shown?;
        if let Some((shown, total)) = hidden {
            eprintln!("({shown} of {total} rows shown; \\maxrows 0 shows all, \\o FILE writes them to a file)",);
        }
        if self.footer {
            let stats = result.stats();
            eprintln!("{}", stats_line(result.kind(), result.message(), &stats, self.verbose));
        }
        Ok(())
    }

    /// The width tables are fitted to: the terminal's, when results go to it.
    fn table_width(&self) -> Option<u16> {
        if self.output.is_some() || !std::io::stdout().is_terminal() {
            return None;
        }
        comfy_table::Table::new().width().filter(|w| *w >= 20)
    }

    fn error(&self, e: &EngineError, statement: Option<&SqlStatement>, text: &str) {
        if matches!(e, EngineError::Interrupted) {
            self.error_text("cancelled");
            return;
        }
        self.error_text(&e.to_string().replace('\n', " "));
        // A caret under the position of a syntax error, on the line it is in.
        let position = e.position().map(|(l, c)| match statement {
            Some(s) => absolute(s, l, c),
            None => (l, c),
        });
        if let Some((line, column)) = position
            && let Some(source) = text.lines().nth(line.saturating_sub(1) as usize)
        {
            eprintln!("  {source}");
            eprintln!("  {}^", " ".repeat(column.saturating_sub(1) as usize));
        }
    }

    fn error_text(&self, message: &str) {
        if self.colour {
            eprintln!("\x1b[31merror:\x1b[0m {message}");
        } else {
            eprintln!("error: {message}");
        }
    }

    fn meta(&mut self, command: &str) -> Flow {
        let (name, argument) = match command.split_once(char::is_whitespace) {
            Some((n, a)) => (n, a.trim().trim_end_matches(';').trim()),
            None => (command.trim_end_matches(';'), ""),
        };
        match name {
            "?" | "h" | "help" => self.help(),
            "q" | "quit" => return Flow::Quit,
            "l" => {
                self.run_text("SHOW DATABASES");
            }
            "c" | "connect" if argument.is_empty() => println!("{}", self.session.current_database()),
            "c" | "connect" => {
                self.run_text(&format!("USE {}", quote_name(argument)));
            }
            "d" if argument.is_empty() => {
                self.run_text("SHOW TABLES");
            }
            "d" => {
                self.run_text(&format!("DESCRIBE {argument}"));
            }
            "x" => match on_off(argument, self.expanded) {
                Some(on) => {
                    self.expanded = on;
                    println!("expanded display is {}", if on { "on" } else { "off" });
                }
                None => self.error_text("\\x takes on or off"),
            },
            "timing" => match on_off(argument, self.footer) {
                Some(on) => {
                    self.footer = on;
                    println!("the figures line is {}", if on { "on" } else { "off" });
                }
                None => self.error_text("\\timing takes on or off"),
            },
            "format" => {
                match argument.to_ascii_lowercase().as_str() {
                    "" => {}
                    "table" => self.mode = Mode::Table,
                    "csv" => self.mode = Mode::Csv,
                    "json" => self.mode = Mode::Json,
                    "line" => self.mode = Mode::Line,
                    other => {
                        self.error_text(&format!("unknown format '{other}'; use table, csv, json or line"));
                        return Flow::Continue;
                    }
                }
                println!("results print as {}", format!("{:?}", self.mode).to_lowercase());
            }
            "maxrows" => match argument
                .parse()
                .or_else(|e| if argument.is_empty() { Ok(self.max_rows) } else { Err(e) })
            {
                Ok(n) => {
                    self.max_rows = n;
                    match n {
                        0 => println!("tables show every row"),
                        n => println!("tables show at most {n} rows"),
                    }
                }
                Err(_) => self.error_text(&format!("\\maxrows takes a number of rows, not '{argument}'")),
            },
            "scan" => self.scan(argument),
            "i" if argument.is_empty() => self.error_text("\\i needs a file: \\i queries/report.sql"),
            "i" => self.include(argument),
            "o" if argument.is_empty() => {
                if let Some((path, _)) = self.output.take() {
                    println!("results go to the terminal again (were going to {})", path.display());
                }
            }
            "o" => match File::create(argument) {
                Ok(file) => {
                    println!("results go to {argument}");
                    self.output = Some((PathBuf::from(argument), file));
                }
                Err(e) => self.error_text(&format!("cannot write {argument}: {e}")),
            },
            other => {
                let suggestion = META_COMMANDS
                    .iter()
                    .map(|(n, _, _)| n.trim_start_matches('\\'))
                    .min_by_key(|n| strsim::levenshtein(n, other))
                    .filter(|n| strsim::levenshtein(n, other) <= 2)
                    .map(|n| format!("; did you mean \\{n}?"))
                    .unwrap_or_default();
                self.error_text(&format!(
                    "unknown command \\{other}{suggestion} (\\? lists the commands)"
                ));
            }
        }
        Flow::Continue
    }

    fn help(&self) {
        println!("SQL statements end with ';' and may span lines. Tab completes names, keywords and paths.");
        for (name, args, what) in META_COMMANDS {
            println!("  {:<30} {what}", format!("{name} {args}"));
        }
    }

    fn scan(&mut self, argument: &str) {
        let totals = self.session.totals();
        match argument.to_ascii_lowercase().as_str() {
            "" => {
                println!(
                    "this session scanned {} in {} quer{}; Athena would have billed {}",
                    format_bytes(totals.bytes_scanned()),
                    totals.queries(),
                    if totals.queries() == 1 { "y" } else { "ies" },
                    format_dollars(totals.dollars())
                );
                match self.session.max_scan() {
                    Some(limit) => println!("scan limit: {} per query", format_bytes(limit)),
                    None => println!("scan limit: none (\\scan 10GB sets one)"),
                }
            }
            "off" | "none" => {
                self.session.set_max_scan(None);
                println!("scan limit: none");
            }
            size => match parse_size(size) {
                Ok(limit) => {
                    self.session.set_max_scan(Some(limit));
                    println!("scan limit: {} per query", format_bytes(limit));
                }
                Err(e) => self.error_text(&e),
            },
        }
    }

    fn include(&mut self, path: &str) {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                self.error_text(&format!("cannot read {path}: {e}"));
                return;
            }
        };
        match substitute(&text, &self.vars) {
            Ok(text) => {
                self.run_text(&text);
            }
            Err((line, message)) => self.error_text(&format!("{path}:{line}: {message}")),
        }
    }
}

fn on_off(argument: &str, current: bool) -> Option<bool> {
    match argument.to_ascii_lowercase().as_str() {
        "" => Some(!current),
        "on" => Some(true),
        "off" => Some(false),
        _ => None,
    }
}

/// A database name as `USE` needs it: quoted when it has characters a bare name cannot.
fn quote_name(name: &str) -> String {
    if name.starts_with('"') || name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        name.to_string()
    } else {
        format!("\"{name}\"")
    }
}

/// Prints a result as the shell's mode asks. Tables show at most `max_rows` rows and count the rest; returns
/// `(shown, total)` when rows were left out.
async fn show(
    result: &mut QueryResult,
    mode: Mode,
    expanded: bool,
    max_rows: usize,
    width: Option<u16>,
    out: &mut dyn Write,
) -> Result<Option<(usize, usize)>, RowsError> {
    let streamed = match mode {
        Mode::Csv => Some(Format::Csv),
        Mode::Json => Some(Format::Json),
        Mode::Table | Mode::Line => None,
    };
    if let Some(format) = streamed.filter(|_| matches!(result.kind(), ResultKind::Query | ResultKind::Listing)) {
        write_rows(result, format, out).await?;
        return Ok(None);
    }
    if matches!(result.kind(), ResultKind::Command | ResultKind::Write) {
        write_rows(result, Format::Table, out).await?;
        return Ok(None);
    }
    let schema = result.schema();
    let mut kept: Vec<RecordBatch> = Vec::new();
    let (mut shown, mut total) = (0usize, 0usize);
    while let Some(batch) = result.next_batch().await {
        let batch = batch.map_err(RowsError::Engine)?;
        let room = if max_rows == 0 { usize::MAX } else { max_rows - shown };
        let take = room.min(batch.num_rows());
        if take > 0 {
            kept.push(batch.slice(0, take));
            shown += take;
        }
        total += batch.num_rows();
    }
    let text = if expanded {
        render_expanded(&schema, &kept)
    } else if mode == Mode::Line {
        render_lines(&schema, &kept)
    } else {
        render_fitted(&schema, &kept, width).map(|t| format!("{t}\n"))
    }
    .map_err(|e| RowsError::Output(std::io::Error::other(e)))?;
    out.write_all(text.as_bytes()).map_err(RowsError::Output)?;
    out.flush().map_err(RowsError::Output)?;
    Ok((shown < total).then_some((shown, total)))
}
