//! `tarn ingest`: one pass (`--once`) or a pass every interval (`--watch`), a summary line per pass (or JSON), and
//! Ctrl-C that lets the batch in flight finish (a second Ctrl-C stops it, and its files are removed).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tarn_engine::ingest::{IngestOptions, IngestReport};
use tarn_engine::{Session, format_bytes, format_count};

use crate::script::WriteBar;

/// Exit code when some files could not be loaded (the others were).
const EXIT_FILES_FAILED: u8 = 3;

pub struct Watch {
    pub every: Option<Duration>,
    pub json: bool,
    pub quiet: bool,
}

/// Runs the passes; the exit code says whether any file failed (3) or a pass failed (1).
pub async fn run(session: &mut Session, options: IngestOptions, watch: Watch) -> ExitCode {
    let stop = Arc::clone(&options.stop);
    let interrupt = session.interrupt_handle();
    let signals = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("stopping after the batch in flight (Ctrl-C again to stop it now; its files are removed)");
            stop.store(true, Ordering::Relaxed);
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            interrupt.interrupt();
        }
    });
    let mut any_failed = false;
    let code = loop {
        let started = Instant::now();
        let bar = (!watch.quiet && !watch.json && std::io::stderr().is_terminal())
            .then(|| WriteBar::start(session.write_progress()));
        let pass = session.ingest(&options).await;
        drop(bar);
        match pass {
            Ok(report) => {
                any_failed |= !report.failed.is_empty();
                if watch.json {
                    match serde_json::to_string(&report) {
                        Ok(line) => println!("{line}"),
                        Err(e) => eprintln!("error: cannot write the report as JSON: {e}"),
                    }
                } else if !watch.quiet || !report.failed.is_empty() {
                    eprint!("{}", render(&report, started.elapsed()));
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                break ExitCode::from(1);
            }
        }
        let Some(every) = watch.every else {
            break ExitCode::SUCCESS;
        };
        if options.stop.load(Ordering::Relaxed) {
            break ExitCode::SUCCESS;
        }
        let deadline = Instant::now() + every;
        while Instant::now() < deadline && !options.stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(100).min(every)).await;
        }
        if options.stop.load(Ordering::Relaxed) {
            break ExitCode::SUCCESS;
        }
    };
    signals.abort();
    if code == ExitCode::SUCCESS && any_failed {
        return ExitCode::from(EXIT_FILES_FAILED);
    }
    code
}

/// `loaded 37 files (1,204,311 rows, 18.4 MB) into raw.events in 3 commits · 2 files failed → …`, then one line per
/// failed file with its reason.
pub fn render(report: &IngestReport, took: Duration) -> String {
    let mut line = format!(
        "loaded {} files ({} rows, {}) into {} in {} commit{} · {:.1} s",
        format_count(report.files() as u64),
        format_count(report.rows()),
        format_bytes(report.bytes()),
        report.table,
        report.batches.len(),
        if report.batches.len() == 1 { "" } else { "s" },
        took.as_secs_f64()
    );
    if report.already_loaded > 0 {
        line.push_str(&format!(
            " · {} already loaded (same bytes), not loaded again",
            report.already_loaded
        ));
    }
    if report.waiting > 0 {
        line.push_str(&format!(
            " · {} waiting (settling or held by another loader)",
            report.waiting
        ));
    }
    if !report.added_columns.is_empty() {
        line.push_str(&format!(" · new columns: {}", report.added_columns.join(", ")));
    }
    if !report.failed.is_empty() {
        let n = report.failed.len();
        line.push_str(&format!(" · {n} {} failed", if n == 1 { "file" } else { "files" }));
    }
    line.push('\n');
    for f in &report.failed {
        let place = f.moved_to.as_deref().map(|m| format!(" → {m}")).unwrap_or_default();
        line.push_str(&format!("  failed: {}{place}: {}\n", f.url, f.reason));
    }
    line
}
