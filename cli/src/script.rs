//! Running SQL scripts: `${var}` substitution, statements in order, errors with file:line:column.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tarn_engine::{EngineError, Interrupt, Session, SqlStatement, WriteProgress, format_bytes, split_statements};
use tokio::sync::Notify;

use crate::output::{Format, RowsError, stats_line, write_rows};

/// One source of SQL: a -c string, a file, or stdin.
pub struct Script {
    /// How errors name it: a path, `-c` or `stdin`.
    pub name: String,
    pub text: String,
    /// Whether positions are printed as `name:line:col` (files) or as `(line L, column C)` (-c).
    pub is_file: bool,
}

/// How statements are run and shown.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    pub format: Format,
    pub quiet: bool,
    /// Per-worker figures after each statement.
    pub verbose: bool,
    pub continue_on_error: bool,
}

/// How a script ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Ok,
    Failed,
    /// Ctrl-C: the running statement was cancelled, and the rest of the run does not happen.
    Cancelled,
}

/// Ctrl-C (SIGINT) while statements run, for the shell and for scripts. It is handled on a thread of its own: a
/// query keeping every runtime worker busy would delay tokio's signal driver until it finished.
pub struct CtrlCHandler {
    pub cancel: Arc<Notify>,
    /// Set by the first Ctrl-C of a script run, so one pressed between two statements stops the run too.
    pub pressed: Arc<AtomicBool>,
}

impl CtrlCHandler {
    /// Installs the handler: a Ctrl-C cancels the statement running in `session`; for scripts (`exit_on_second`),
    /// a second one while the first is being handled ends the process at once (exit 130; the next write to the
    /// location removes what was left).
    pub fn install(session: &Session, exit_on_second: bool) -> Self {
        let cancel = Arc::new(Notify::new());
        let pressed = Arc::new(AtomicBool::new(false));
        let interrupt = session.interrupt_handle();
        let (woken, flag) = (Arc::clone(&cancel), Arc::clone(&pressed));
        if let Err(e) = ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) && exit_on_second {
                eprintln!("error: cancelled");
                std::process::exit(i32::from(EXIT_CANCELLED));
            }
            interrupt.interrupt();
            woken.notify_waiters();
        }) {
            eprintln!("warning: Ctrl-C will end tarn instead of cancelling a statement ({e})");
        }
        Self { cancel, pressed }
    }
}

/// Exit code after Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_CANCELLED: u8 = 130;

/// How long a cancelled write gets to stop and remove its files.
const WRITE_CANCEL_GRACE: Duration = Duration::from_secs(60);

/// Runs `work` (a statement) until it ends or Ctrl-C: a query is dropped (nothing was written); a write is told to
/// stop at its next batch and given time to remove what it wrote.
pub(crate) async fn cancellable<T>(
    work: impl Future<Output = Result<T, RowsError>>,
    cancel: &Notify,
    interrupt: &Interrupt,
    is_write: bool,
) -> Result<T, RowsError> {
    let cancelled = cancel.notified();
    tokio::pin!(work);
    tokio::select! {
        done = &mut work => done,
        _ = cancelled => {
            interrupt.interrupt();
            if !is_write {
                return Err(RowsError::Engine(EngineError::Interrupted));
            }
            // Hive writes then delete their files; Delta writes stop before their commit.
            eprintln!("cancelling: the write stops at its next batch, and nothing it wrote becomes visible…");
            match tokio::time::timeout(WRITE_CANCEL_GRACE, &mut work).await {
                Ok(done) => done,
                Err(_) => Err(RowsError::Engine(EngineError::CancelledLate)),
            }
        }
    }
}

/// Runs every statement of a script.
pub async fn run_script(
    session: &mut Session,
    script: &Script,
    vars: &BTreeMap<String, String>,
    options: RunOptions,
    ctrl_c: &CtrlCHandler,
) -> Ended {
    let text = match substitute(&script.text, vars) {
        Ok(t) => t,
        Err((line, message)) => {
            report(script, Some((line, 1)), &message);
            return Ended::Failed;
        }
    };
    let statements = match split_statements(&text) {
        Ok(s) => s,
        Err(e) => {
            report(script, e.position(), &e.to_string());
            return Ended::Failed;
        }
    };
    let mut ended = Ended::Ok;
    for statement in statements {
        let position = script.is_file.then_some((statement.line, statement.column));
        if ctrl_c.pressed.load(Ordering::SeqCst) {
            report(script, position, "cancelled");
            return Ended::Cancelled;
        }
        let interrupt = session.interrupt_handle();
        let run = run_statement(session, &statement, options);
        if let Err(e) = cancellable(run, &ctrl_c.cancel, &interrupt, statement.writes_data()).await {
            match e {
                RowsError::Engine(EngineError::Interrupted) => {
                    report(script, position, "cancelled");
                    return Ended::Cancelled;
                }
                RowsError::Engine(e) => {
                    let position = e.position().map(|(l, c)| absolute(&statement, l, c)).or(position);
                    report(script, position, &e.to_string());
                }
                // A closed stdout (`tarn ... | head`) ends the run quietly.
                RowsError::Output(io) if io.kind() == std::io::ErrorKind::BrokenPipe => return Ended::Failed,
                RowsError::Output(io) => report(script, None, &format!("cannot write output: {io}")),
            }
            ended = Ended::Failed;
            if !options.continue_on_error {
                return Ended::Failed;
            }
        }
    }
    ended
}

async fn run_statement(session: &mut Session, statement: &SqlStatement, options: RunOptions) -> Result<(), RowsError> {
    let progress =
        (!options.quiet && std::io::stderr().is_terminal()).then(|| WriteBar::start(session.write_progress()));
    let executed = session.execute(&statement.text).await;
    drop(progress);
    let mut result = executed.map_err(RowsError::Engine)?;
    for notice in result.notices() {
        eprintln!("warning: {notice}");
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    write_rows(&mut result, options.format, &mut out).await?;
    drop(out);
    if !options.quiet {
        let line = stats_line(result.kind(), result.message(), &result.stats(), options.verbose);
        let _ = writeln!(std::io::stderr(), "{line}");
    }
    Ok(())
}

/// A spinner with the rows, bytes and files a write has produced so far; appears once a write starts, and is
/// cleared when dropped.
pub(crate) struct WriteBar {
    ticker: tokio::task::JoinHandle<()>,
    bar: ProgressBar,
}

impl WriteBar {
    pub(crate) fn start(progress: Arc<WriteProgress>) -> Self {
        let bar = ProgressBar::hidden();
        let shown = bar.clone();
        let started = std::time::Instant::now();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(120)).await;
                let rows = progress.rows.load(Ordering::Relaxed);
                if rows == 0 {
                    continue;
                }
                if shown.is_hidden() {
                    shown.set_draw_target(ProgressDrawTarget::stderr());
                    shown.set_style(
                        ProgressStyle::with_template("{spinner} writing {msg} · {elapsed}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                }
                let seconds = started.elapsed().as_secs_f64().max(0.001);
                shown.set_message(format!(
                    "{rows} rows · {} · {} files · {:.0} rows/s",
                    format_bytes(progress.bytes.load(Ordering::Relaxed)),
                    progress.files.load(Ordering::Relaxed),
                    rows as f64 / seconds
                ));
                shown.tick();
            }
        });
        Self { ticker, bar }
    }
}

impl Drop for WriteBar {
    fn drop(&mut self) {
        self.ticker.abort();
        self.bar.finish_and_clear();
    }
}

/// A position inside a statement, as a position in the script.
pub(crate) fn absolute(statement: &SqlStatement, line: u64, column: u64) -> (u64, u64) {
    if line <= 1 {
        (statement.line, statement.column + column.saturating_sub(1))
    } else {
        (statement.line + line - 1, column)
    }
}

/// `error: FILE:LINE:COL: message` for scripts, `error: message (line L, column C)` for -c.
pub fn report(script: &Script, position: Option<(u64, u64)>, message: &str) {
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
pub fn substitute(text: &str, vars: &BTreeMap<String, String>) -> Result<String, (u64, String)> {
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
            first_words: vec!["SELECT".into()],
        };
        assert_eq!(absolute(&statement, 1, 3), (10, 7));
        assert_eq!(absolute(&statement, 2, 2), (11, 2));
    }
}
