//! The interactive shell, driven in a real pseudo-terminal as a person would: typing, Tab, Ctrl-C, arrow keys.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rexpect::reader::Options;
use rexpect::session::{PtySession, spawn_with_options};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

const PROMPT: &str = "default> ";
const UP: &str = "\x1b[A";

/// A warehouse with one CSV table, `people` (id, name): 1 ann, 2 bob, 3 cy.
struct Lake {
    root: tempfile::TempDir,
}

impl Lake {
    fn new() -> TestResult<Self> {
        let root = tempfile::tempdir()?;
        let data = root.path().join("data");
        std::fs::create_dir_all(&data)?;
        std::fs::write(data.join("people.csv"), "id,name\n1,ann\n2,bob\n3,cy\n")?;
        let lake = Self { root };
        lake.batch(&format!(
            "CREATE EXTERNAL TABLE people (id bigint, name string) ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' \
             LOCATION '{}' TBLPROPERTIES ('skip.header.line.count'='1')",
            data.display()
        ))?;
        Ok(lake)
    }

    fn warehouse(&self) -> String {
        self.root.path().join("warehouse").display().to_string()
    }

    /// Runs SQL with `tarn -c`, not in a terminal.
    fn batch(&self, sql: &str) -> TestResult {
        let out = Command::new(env!("CARGO_BIN_EXE_tarn"))
            .args(["--warehouse", &self.warehouse(), "-c", sql])
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(format!("tarn -c failed: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        Ok(())
    }

    /// `tarn` with nothing to run, in a 100x40 pseudo-terminal, with its history in this lake's folder.
    fn shell(&self) -> TestResult<PtySession> {
        self.shell_with_env(&[])
    }

    fn shell_with_env(&self, env: &[(&'static str, String)]) -> TestResult<PtySession> {
        let mut command = Command::new("sh");
        command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        command
            .arg("-c")
            .arg("stty cols 100 rows 40 && exec \"$0\" \"$@\"")
            .arg(env!("CARGO_BIN_EXE_tarn"))
            .args(["--warehouse", &self.warehouse()])
            .env("XDG_DATA_HOME", self.root.path().join("data-home"))
            .env("HOME", self.root.path())
            .env("TERM", "xterm")
            .env_remove("NO_COLOR");
        let options = Options::new().timeout_ms(Some(60_000)).strip_ansi_escape_codes(true);
        let mut shell = spawn_with_options(command, options)?;
        shell.exp_string(PROMPT)?;
        Ok(shell)
    }

    /// CPU time (clock ticks) the shell running on this lake's warehouse has used, found through /proc.
    fn cpu_ticks(&self) -> TestResult<u64> {
        let warehouse = self.warehouse();
        for entry in std::fs::read_dir("/proc")? {
            let dir = entry?.path();
            let Ok(cmdline) = std::fs::read(dir.join("cmdline")) else {
                continue;
            };
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let is_shell = args.first().is_some_and(|a| a.ends_with(b"tarn")) && args.contains(&warehouse.as_bytes());
            if !is_shell {
                continue;
            }
            let stat = std::fs::read_to_string(dir.join("stat"))?;
            // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .map(|(_, r)| r)
                .unwrap_or("")
                .split_whitespace()
                .collect();
            let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
            return Ok(ticks(11) + ticks(12));
        }
        Err(format!("no tarn process on {warehouse}").into())
    }

    fn history(&self) -> std::path::PathBuf {
        self.root.path().join("data-home").join("tarn").join("history")
    }
}

fn type_line(shell: &mut PtySession, text: &str) -> TestResult {
    shell.send(text)?;
    shell.send("\r")?;
    shell.flush()?;
    Ok(())
}

#[test]
fn multi_line_statements_completion_meta_commands_and_history() -> TestResult {
    let lake = Lake::new()?;
    let mut shell = lake.shell()?;

    // A statement over three lines runs only at the `;`, and a `;` inside a string does not end it.
    type_line(&mut shell, "SELECT name, 'a;b' AS s")?;
    type_line(&mut shell, "FROM people")?;
    type_line(&mut shell, "WHERE id = 2;")?;
    shell.exp_string("| bob  | a;b |")?;
    shell.exp_string("1 row ")?;
    shell.exp_string("Athena would bill $")?;
    shell.exp_string(PROMPT)?;

    // Tab completes a table name (`peo` → people) and a column name (`na` → name).
    shell.send("SELECT count(*) AS n FROM peo")?;
    shell.send("\t")?;
    shell.flush()?;
    std::thread::sleep(Duration::from_millis(300));
    type_line(&mut shell, ";")?;
    shell.exp_string("| 3 |")?;
    shell.exp_string(PROMPT)?;
    shell.send("SELECT id FROM people WHERE na")?;
    shell.send("\t")?;
    shell.flush()?;
    std::thread::sleep(Duration::from_millis(300));
    type_line(&mut shell, " = 'cy';")?;
    shell.exp_string("| 3  |")?;
    shell.exp_string(PROMPT)?;

    // \d lists tables, \d name describes one.
    type_line(&mut shell, "\\d")?;
    shell.exp_string("| people   |")?;
    shell.exp_string(PROMPT)?;
    type_line(&mut shell, "\\d people")?;
    shell.exp_string("| name     | string    |")?;
    shell.exp_string(PROMPT)?;

    // \x shows one block per row.
    type_line(&mut shell, "\\x")?;
    shell.exp_string("expanded display is on")?;
    type_line(&mut shell, "SELECT * FROM people WHERE id = 1;")?;
    shell.exp_string("-[ RECORD 1 ]")?;
    shell.exp_string("name | ann")?;
    shell.exp_string(PROMPT)?;
    type_line(&mut shell, "\\x off")?;
    shell.exp_string("expanded display is off")?;

    // A parse error: one line, the source line, a caret under the position; the session goes on.
    type_line(&mut shell, "SELECT * FORM people;")?;
    shell.exp_string("error: syntax error: Expected: end of statement, found: FORM")?;
    shell.exp_string("SELECT * FORM people;")?;
    shell.exp_regex(r"\r?\n  {10}\^")?;
    shell.exp_string(PROMPT)?;

    // Unknown commands get a hint; \scan gives the session's total.
    type_line(&mut shell, "\\dd")?;
    shell.exp_string("unknown command \\dd; did you mean \\d?")?;
    type_line(&mut shell, "\\scan")?;
    shell.exp_string("this session scanned 100 B in 4 queries; Athena would have billed $0.0001907")?;
    shell.exp_string(PROMPT)?;

    // Ctrl-D leaves; the history was written as statements ran.
    shell.send_control('d')?;
    shell.exp_eof()?;
    let history = std::fs::read_to_string(lake.history())?;
    assert!(history.contains("SELECT * FROM people WHERE id = 1;"), "{history}");

    // After a restart, the arrow keys recall earlier input: \scan, \dd, the bad SELECT, \x off, then this one.
    let mut shell = lake.shell()?;
    for _ in 0..5 {
        shell.send(UP)?;
    }
    shell.flush()?;
    std::thread::sleep(Duration::from_millis(300));
    shell.send("\r")?;
    shell.flush()?;
    shell.exp_string("| 1  | ann  |")?;
    shell.exp_string(PROMPT)?;
    type_line(&mut shell, "\\q")?;
    shell.exp_eof()?;
    Ok(())
}

#[test]
fn ctrl_c_cancels_a_long_query_and_the_session_survives() -> TestResult {
    let lake = Lake::new()?;
    let mut shell = lake.shell()?;
    // 10^11 rows to count: this runs until something stops it. Ctrl-C goes in once the query is using CPU: before
    // the line is accepted, the editor would take it as a key instead.
    let idle = lake.cpu_ticks()?;
    type_line(&mut shell, "SELECT count(*) FROM range(100000000000);")?;
    let started = Instant::now();
    while lake.cpu_ticks()? < idle + 50 {
        assert!(started.elapsed() < Duration::from_secs(60), "the query never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pressed = Instant::now();
    shell.send_control('c')?;
    shell.exp_string("error: cancelled")?;
    shell.exp_string(PROMPT)?;
    assert!(
        pressed.elapsed() < Duration::from_secs(10),
        "cancel took {:?}",
        pressed.elapsed()
    );

    type_line(&mut shell, "SELECT 41 + 1 AS answer;")?;
    shell.exp_string("| 42     |")?;
    shell.exp_string(PROMPT)?;

    // Ctrl-C on a line being typed clears it and keeps the shell; twice on an empty line leaves.
    shell.send("SELECT 'never run'")?;
    shell.flush()?;
    shell.send_control('c')?;
    shell.exp_string(PROMPT)?;
    shell.send_control('c')?;
    shell.exp_string("(Ctrl-C again or Ctrl-D to quit)")?;
    shell.send_control('c')?;
    shell.exp_eof()?;
    Ok(())
}

#[test]
fn the_prompt_does_not_wait_for_a_big_catalog() -> TestResult {
    let lake = Lake::new()?;
    let script = lake.root.path().join("tables.sql");
    let data = lake.root.path().join("data");
    let ddl: String = (0..1000)
        .map(|i| {
            format!(
                "CREATE EXTERNAL TABLE t{i:04} (id bigint, name string) ROW FORMAT DELIMITED FIELDS TERMINATED BY \
                 ',' LOCATION '{}';\n",
                data.display()
            )
        })
        .collect();
    std::fs::write(&script, ddl)?;
    let out = Command::new(env!("CARGO_BIN_EXE_tarn"))
        .args(["--warehouse", &lake.warehouse(), "-q", "-f"])
        .arg(&script)
        .stdin(Stdio::null())
        .output()?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let started = Instant::now();
    let mut shell = lake.shell()?;
    let to_prompt = started.elapsed();
    eprintln!("prompt with 1,001 tables appeared after {to_prompt:?} (debug build)");
    // A guard against reading the whole catalog up front, not a benchmark (the note quotes the release figure).
    assert!(to_prompt < Duration::from_secs(3), "{to_prompt:?}");

    // The names are there when Tab asks for them.
    shell.send("SELECT count(*) AS n FROM t099")?;
    // The first Tab completes what the candidates share, the second lists them.
    shell.send("\t")?;
    shell.flush()?;
    std::thread::sleep(Duration::from_millis(300));
    shell.send("\t")?;
    shell.flush()?;
    shell.exp_string("t0990")?;
    shell.send("9")?;
    shell.send("\t")?;
    shell.flush()?;
    std::thread::sleep(Duration::from_millis(300));
    type_line(&mut shell, ";")?;
    // These tables do not skip the header line, so it counts as a row.
    shell.exp_string("| 4 |")?;
    Ok(())
}

#[test]
fn ctrl_c_stops_a_write_which_removes_its_files() -> TestResult {
    let lake = Lake::new()?;
    let target = lake.root.path().join("endless");
    let mut shell = lake.shell()?;
    // An endless source: the write runs until Ctrl-C.
    type_line(
        &mut shell,
        &format!(
            "CREATE TABLE endless WITH (format='PARQUET', external_location='{}') AS SELECT value FROM \
             range(100000000000);",
            target.display()
        ),
    )?;
    // Wait until files are being written.
    let started = Instant::now();
    while !target.exists() || tarn_fixtures::s3::walk(&target)?.is_empty() {
        assert!(started.elapsed() < Duration::from_secs(60), "the write never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    shell.send_control('c')?;
    shell.exp_string("cancelling: the write stops at its next batch")?;
    shell.exp_string("error: cancelled")?;
    shell.exp_string(PROMPT)?;
    let left = tarn_fixtures::s3::walk(&target)?;
    assert!(left.is_empty(), "the cancelled write left {left:?}");
    type_line(&mut shell, "SHOW TABLES;")?;
    shell.exp_string("| people   |")?;
    let listed = shell.exp_string(PROMPT)?;
    assert!(!listed.contains("endless"), "{listed}");
    Ok(())
}

#[test]
fn s3_paths_complete_from_the_bucket() -> TestResult {
    let server = tarn_fixtures::s3::S3Server::start()?;
    server.create_bucket("lake")?;
    server.put_object("lake", "landing/orders_2024/part-0.csv", b"id\n1\n")?;
    server.put_object("lake", "landing/orders_2025/part-0.csv", b"id\n2\n")?;
    let lake = Lake::new()?;
    let mut shell = lake.shell_with_env(&server.env())?;
    shell.send("SELECT 's3://lake/land")?;
    shell.send("\t")?;
    shell.flush()?;
    std::thread::sleep(Duration::from_millis(300));
    shell.send("orders_2025")?;
    shell.send("\t")?;
    shell.flush()?;
    std::thread::sleep(Duration::from_millis(300));
    shell.send("\t")?;
    shell.flush()?;
    std::thread::sleep(Duration::from_millis(300));
    type_line(&mut shell, "' AS path;")?;
    shell.exp_string("| s3://lake/landing/orders_2025/part-0.csv |")?;
    shell.exp_string(PROMPT)?;
    Ok(())
}

#[test]
fn paths_in_quotes_complete_from_the_file_system() -> TestResult {
    let lake = Lake::new()?;
    let nested = lake.root.path().join("landing").join("orders_2024");
    std::fs::create_dir_all(&nested)?;
    std::fs::write(nested.join("part-0.csv"), "id\n1\n")?;
    let mut shell = lake.shell()?;
    let typed = format!("SELECT '{}/landing/ord", lake.root.path().display());
    shell.send(&typed)?;
    shell.send("\t")?;
    shell.flush()?;
    std::thread::sleep(Duration::from_millis(300));
    type_line(&mut shell, "' AS path;")?;
    shell.exp_string("orders_2024/ |")?;
    shell.exp_string(PROMPT)?;
    Ok(())
}

#[test]
fn output_settings_scripts_and_databases() -> TestResult {
    let lake = Lake::new()?;
    lake.batch("CREATE DATABASE \"sales-eu\"")?;
    let script = lake.root.path().join("two.sql");
    std::fs::write(
        &script,
        "SELECT 'from the script' AS said;\nSELECT count(*) AS people_count FROM people;\n",
    )?;
    let saved = lake.root.path().join("out.txt");
    let mut shell = lake.shell()?;

    // Wide values are cut to the terminal's 100 columns.
    type_line(
        &mut shell,
        "SELECT id, lpad('', 300, 'x') AS wide FROM people WHERE id = 1;",
    )?;
    shell.exp_string("| id ")?;
    let shown = shell.exp_string(PROMPT)?;
    assert!(!shown.contains(&"x".repeat(120)), "{shown}");
    assert!(shown.contains(&"x".repeat(60)), "{shown}");

    // \maxrows: the rest are counted, not shown.
    type_line(&mut shell, "\\maxrows 2")?;
    shell.exp_string("tables show at most 2 rows")?;
    type_line(&mut shell, "SELECT * FROM people ORDER BY id;")?;
    shell.exp_string("(2 of 3 rows shown;")?;
    shell.exp_string(PROMPT)?;

    // \format csv, \timing off (no figures line), then back.
    type_line(&mut shell, "\\format csv")?;
    shell.exp_string("results print as csv")?;
    type_line(&mut shell, "\\timing off")?;
    shell.exp_string("the figures line is off")?;
    type_line(&mut shell, "SELECT name FROM people WHERE id = 3;")?;
    shell.exp_string("\nname\r\ncy\r\n")?;
    let after = shell.exp_string(PROMPT)?;
    assert!(!after.contains("scanned"), "{after}");
    type_line(&mut shell, "\\format table")?;
    shell.exp_string("results print as table")?;
    type_line(&mut shell, "\\timing on")?;
    shell.exp_string("the figures line is on")?;

    // \o sends results to a file; \o alone brings them back.
    type_line(&mut shell, &format!("\\o {}", saved.display()))?;
    shell.exp_string("results go to ")?;
    type_line(&mut shell, "SELECT name FROM people WHERE id = 2;")?;
    shell.exp_string("1 row ")?;
    type_line(&mut shell, "\\o")?;
    shell.exp_string("results go to the terminal again")?;
    let written = std::fs::read_to_string(&saved)?;
    assert!(written.contains("| bob  |"), "{written}");

    // \i runs a script's statements.
    type_line(&mut shell, &format!("\\i {}", script.display()))?;
    shell.exp_string("| from the script |")?;
    shell.exp_string("| 3            |")?;
    shell.exp_string(PROMPT)?;

    // Function names complete with their parenthesis.
    shell.send("SELECT approx_disti")?;
    shell.send("\t")?;
    shell.flush()?;
    std::thread::sleep(Duration::from_millis(300));
    type_line(&mut shell, "name) AS distinct_names FROM people;")?;
    shell.exp_string("| 3              |")?;
    shell.exp_string(PROMPT)?;

    // \c changes the database and the prompt; \l lists databases.
    type_line(&mut shell, "\\c sales-eu")?;
    shell.exp_string("sales-eu> ")?;
    type_line(&mut shell, "\\l")?;
    shell.exp_string("| sales-eu ")?;
    // Tab inside WITH ( offers CTAS properties.
    shell.send("CREATE TABLE t WITH (bucket_c")?;
    shell.send("\t")?;
    shell.flush()?;
    shell.exp_string("bucket_count")?;
    shell.send_control('c')?;
    shell.exp_string("sales-eu> ")?;
    type_line(&mut shell, "\\q")?;
    shell.exp_eof()?;
    Ok(())
}

#[test]
fn piped_stdin_is_a_script_without_prompts_or_colour() -> TestResult {
    use std::io::Write;
    let lake = Lake::new()?;
    let run = |input: &str| -> TestResult<std::process::Output> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tarn"))
            .args(["--warehouse", &lake.warehouse()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child.stdin.take().ok_or("no stdin")?.write_all(input.as_bytes())?;
        Ok(child.wait_with_output()?)
    };
    let out = run("SELECT name FROM people WHERE id = 1;\n")?;
    let stdout = String::from_utf8(out.stdout)?;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout, "+------+\n| name |\n+------+\n| ann  |\n+------+\n");
    assert!(!String::from_utf8(out.stderr)?.contains('\x1b'));
    let out = run("SELECT 1;\nSELECT * FROM nobody;\n")?;
    assert_eq!(out.status.code(), Some(1));
    Ok(())
}
