//! `tarn serve` as clients see it: a real server process on 127.0.0.1, reached by psql (Debian's postgresql-client)
//! and psycopg (PyPI), with users and workgroups from a users file, and its history read back through tarn.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::*;

const PASSWORD: &str = "correct horse battery staple";

/// A running `tarn serve`; killed when dropped.
struct Server {
    child: Child,
    port: u16,
    /// The Flight SQL port, when served.
    flight: Option<u16>,
    stderr: std::thread::JoinHandle<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(tarn: &Tarn, users: &Path) -> TestResult<Self> {
        Self::start_with(tarn, users, &[])
    }

    fn start_with(tarn: &Tarn, users: &Path, args: &[&str]) -> TestResult<Self> {
        let mut child = tarn
            .command()
            .args(["serve", "--pg", "127.0.0.1:0", "--users"])
            .arg(users)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout);
        let mut first = String::new();
        lines.read_line(&mut first)?;
        let mut flight = None;
        if args.contains(&"--flight") {
            let mut second = String::new();
            lines.read_line(&mut second)?;
            flight = second
                .strip_prefix("grpc://127.0.0.1:")
                .and_then(|rest| rest.split(' ').next())
                .and_then(|port| port.parse::<u16>().ok());
        }
        let port = first
            .strip_prefix("postgres://127.0.0.1:")
            .and_then(|rest| rest.split('/').next())
            .ok_or_else(|| format!("the server said {first:?}"))?
            .parse()?;
        let mut stderr = child.stderr.take().ok_or("no stderr")?;
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        });
        Ok(Self {
            child,
            port,
            flight,
            stderr,
        })
    }

    /// Stops the server and returns what it wrote to stderr.
    fn stop(mut self) -> TestResult<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let stderr = std::mem::replace(&mut self.stderr, std::thread::spawn(String::new));
        Ok(stderr.join().map_err(|_| "stderr reader panicked")?)
    }

    fn psql(&self, user: &str, password: &str, sql: &str) -> TestResult<Ran> {
        self.psql_with(user, password, sql, "prefer")
    }

    fn psql_with(&self, user: &str, password: &str, sql: &str, sslmode: &str) -> TestResult<Ran> {
        let out = Command::new("psql")
            .arg(format!(
                "host=127.0.0.1 port={} user={user} dbname=default sslmode={sslmode}",
                self.port
            ))
            .args([
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-v",
                "VERBOSITY=verbose",
                "-c",
                sql,
            ])
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::null())
            .output()?;
        Ok(ran(out))
    }

    /// Runs `script` with psycopg connected as `user`; its stdout.
    fn python(&self, user: &str, password: &str, script: &str) -> TestResult<String> {
        let prelude = format!(
            "import psycopg, sys\nconn = psycopg.connect(host='127.0.0.1', port={}, user='{user}', \
             password=sys.argv[1], dbname='default', autocommit=True)\ncur = conn.cursor()\n",
            self.port
        );
        let out = Command::new("python3")
            .arg("-c")
            .arg(format!("{prelude}{script}"))
            .arg(password)
            .stdin(Stdio::null())
            .output()?;
        let r = ran(out);
        if r.code != Some(0) {
            return Err(format!("psycopg script failed: {}{}", r.stdout, r.stderr).into());
        }
        Ok(r.stdout)
    }
}

fn hash(tarn: &Tarn, password: &str) -> TestResult<String> {
    let mut child = tarn
        .command()
        .arg("passwd")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(format!("{password}\n").as_bytes())?;
    let out = child.wait_with_output()?;
    let hash = String::from_utf8(out.stdout)?.trim().to_string();
    if !hash.starts_with("$argon2id$") || hash.contains(password) {
        return Err(format!("tarn passwd printed {hash:?}").into());
    }
    Ok(hash)
}

fn setup(dir: &Path) -> TestResult<(Tarn, std::path::PathBuf)> {
    let tarn = Tarn::local(&dir.join("wh"));
    let data = dir.join("data");
    std::fs::create_dir_all(&data)?;
    let mut csv = String::from("id,state,amount\n");
    for i in 0..3_000 {
        let state = ["CA", "NY", "WY", "TX"][i % 4];
        csv.push_str(&format!("{i},{state},{}.{:02}\n", i % 500, i % 100));
    }
    std::fs::write(data.join("orders.csv"), csv)?;
    tarn.ok(&[
        "-c",
        &format!(
            "CREATE EXTERNAL TABLE orders (id bigint, state string, amount decimal(10,2)) ROW FORMAT DELIMITED \
         FIELDS TERMINATED BY ',' LOCATION '{}' TBLPROPERTIES ('skip.header.line.count'='1')",
            dir_url(&data)
        ),
    ])?;
    let secret = hash(&tarn, PASSWORD)?;
    let users = dir.join("users.toml");
    std::fs::write(
        &users,
        format!(
            "[workgroups.marketing]\nbytes_per_query = \"10KB\"\n\n[workgroups.tiny]\nbytes_per_day = \"1KB\"\n\n\
             [users.engineer]\npassword = \"{secret}\"\nrole = \"read-write\"\n\n\
             [users.analyst]\npassword = \"{secret}\"\nworkgroup = \"marketing\"\nrole = \"read-only\"\n\n\
             [users.intern]\npassword = \"{secret}\"\nworkgroup = \"tiny\"\nrole = \"read-only\"\n"
        ),
    )?;
    Ok((tarn, users))
}

/// psql and psycopg run DDL, CTAS, INSERT, a Delta MERGE and queries; results equal the CLI's.
#[test]
fn psql_and_psycopg_get_the_clis_results() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (tarn, users) = setup(dir.path())?;
    let server = Server::start(&tarn, &users)?;
    let by_state = "SELECT state, count(*), sum(amount) FROM orders GROUP BY state ORDER BY state";
    let cli: Vec<String> = tarn
        .ok(&["--format", "csv", "-c", by_state])?
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.replace(',', "|"))
        .collect();
    let psql = server.psql("engineer", PASSWORD, by_state)?;
    assert_eq!(psql.code, Some(0), "{}", psql.stderr);
    assert_eq!(psql.stdout.lines().collect::<Vec<_>>(), cli, "psql and the CLI agree");

    let ddl = server.psql(
        "engineer",
        PASSWORD,
        "CREATE DATABASE sales; CREATE TABLE sales.by_state WITH (format = 'PARQUET', partitioned_by = ARRAY['state']) \
         AS SELECT id, amount, state FROM orders; INSERT INTO sales.by_state SELECT id, amount, state FROM orders \
         WHERE state = 'WY'",
    )?;
    assert_eq!(ddl.code, Some(0), "{}", ddl.stderr);
    assert!(
        ddl.stdout.contains("SELECT 3000") && ddl.stdout.contains("INSERT 0 750"),
        "{}",
        ddl.stdout
    );
    assert!(
        ddl.stderr.contains("NOTICE:") && ddl.stderr.contains("created table sales.by_state"),
        "{}",
        ddl.stderr
    );
    assert_eq!(
        tarn.value("SELECT count(*) FROM sales.by_state")?,
        "3750",
        "the CLI sees the server's writes"
    );

    let merge = server.psql(
        "engineer",
        PASSWORD,
        "CREATE TABLE sales.totals WITH (table_type = 'DELTA') AS SELECT state, sum(amount) AS amount FROM orders \
         WHERE state <> 'TX' GROUP BY state; MERGE INTO sales.totals t USING (SELECT 'TX' AS state, 1.00 AS amount \
         UNION ALL SELECT 'CA', 2.00) s ON t.state = s.state WHEN MATCHED THEN UPDATE SET amount = s.amount \
         WHEN NOT MATCHED THEN INSERT (state, amount) VALUES (s.state, s.amount)",
    )?;
    assert_eq!(merge.code, Some(0), "{}", merge.stderr);
    let totals = "SELECT state, amount FROM sales.totals ORDER BY state";
    let cli_totals = tarn.ok(&["--format", "csv", "-c", totals])?.stdout.replace(',', "|");
    assert!(
        cli_totals.contains("CA|2.00") && cli_totals.contains("TX|1.00"),
        "{cli_totals}"
    );
    assert_eq!(
        server.psql("engineer", PASSWORD, totals)?.stdout.trim(),
        cli_totals.lines().skip(1).collect::<Vec<_>>().join("\n")
    );

    // psycopg: parameters go through the extended protocol; types arrive as Python's.
    let out = server.python(
        "engineer",
        PASSWORD,
        "cur.execute('SELECT count(*), sum(amount) FROM orders WHERE state = %s AND id < %s', ('CA', 1000))\n\
         n, total = cur.fetchone()\nprint(n, type(n).__name__, total, type(total).__name__)\n\
         cur.execute(\"SELECT %s AS quoted\", (\"O'Brien'); DROP TABLE orders; --\",))\nprint(cur.fetchone()[0])\n\
         try:\n    cur.execute('SELECT * FROM nowhere')\nexcept psycopg.Error as e:\n    print(e.sqlstate)\n\
         cur.execute('SHOW TABLES IN sales')\nprint(sorted(r[0] for r in cur.fetchall()))\n",
    )?;
    let cli_ca = tarn.ok(&[
        "--format",
        "csv",
        "-c",
        "SELECT count(*), sum(amount) FROM orders WHERE state = 'CA' AND id < 1000",
    ])?;
    let expected = cli_ca.stdout.lines().nth(1).ok_or("no CLI row")?.replace(',', " int ");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("{expected} Decimal"), "{out}");
    assert_eq!(
        lines[1], "O'Brien'); DROP TABLE orders; --",
        "a parameter is a value, never SQL"
    );
    assert_eq!(lines[2], "42P01");
    assert_eq!(lines[3], "['by_state', 'totals']");
    assert_eq!(tarn.value("SELECT count(*) FROM orders")?, "3000");

    // A cancel request (psycopg sends it on a connection of its own) stops a query that would run for hours, while
    // it keeps every core busy; the connection goes on.
    let cancelled = server.python(
        "engineer",
        PASSWORD,
        &[
            "import threading, time",
            "t = threading.Timer(1.5, conn.cancel)",
            "t.start()",
            "started = time.time()",
            "try:",
            "    cur.execute('SELECT count(*) FROM orders a, orders b, orders c WHERE a.id + b.id + c.id < 0')",
            "    print('finished')",
            "except psycopg.Error as e:",
            "    print(e.sqlstate, time.time() - started < 30)",
            "cur.execute('SELECT 1')",
            "print(cur.fetchone()[0])",
        ]
        .join("\n"),
    )?;
    assert_eq!(
        cancelled.lines().collect::<Vec<_>>(),
        ["57014 True", "1"],
        "{cancelled}"
    );

    let stderr = server.stop()?;
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    Ok(())
}

/// Wrong passwords, unknown users, a read-only user's CTAS and workgroup limits are refused with a SQLSTATE and
/// recorded in the history; no password appears anywhere.
#[test]
fn refusals_have_a_sqlstate_and_are_in_the_history() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (tarn, users) = setup(dir.path())?;
    let server = Server::start(&tarn, &users)?;

    let wrong = server.psql("engineer", "not the password", "SELECT 1")?;
    assert_eq!(wrong.code, Some(2), "{}", wrong.stderr);
    assert!(
        wrong
            .stderr
            .contains("password authentication failed for user \"engineer\""),
        "{}",
        wrong.stderr
    );
    let unknown = server.psql("mallory", PASSWORD, "SELECT 1")?;
    assert!(
        unknown
            .stderr
            .contains("password authentication failed for user \"mallory\""),
        "{}",
        unknown.stderr
    );

    let ctas = server.psql("analyst", PASSWORD, "CREATE TABLE copy AS SELECT * FROM orders")?;
    assert_eq!(ctas.code, Some(1));
    assert!(
        ctas.stderr.contains("42501") && ctas.stderr.contains("read-only"),
        "{}",
        ctas.stderr
    );
    assert!(
        tarn.run(&["-c", "DESCRIBE copy"])?.code != Some(0),
        "nothing was created"
    );
    // Where queries run is the server's to say; the words alone, in a literal, are just a value.
    let workers = server.psql("analyst", PASSWORD, "SET tarn.workers = 'http://127.0.0.1:9'")?;
    assert!(
        workers.code == Some(1) && workers.stderr.contains("42501"),
        "{}",
        workers.stderr
    );
    let literal = server.psql("analyst", PASSWORD, "SELECT 'SET tarn.workers' AS words")?;
    assert_eq!(literal.stdout.trim(), "SET tarn.workers", "{}", literal.stderr);
    let read = server.psql("analyst", PASSWORD, "SELECT count(*) FROM orders WHERE state = 'NY'")?;
    assert_eq!(read.code, Some(1), "the file is over marketing's 10 KB per query");
    assert!(read.stderr.contains("54000"), "{}", read.stderr);

    let first = server.psql("intern", PASSWORD, "SELECT 1 AS one")?;
    assert_eq!(first.stdout.trim(), "1", "{}", first.stderr);
    let over = server.psql("intern", PASSWORD, "SELECT count(*) FROM orders")?;
    assert!(
        over.stderr.contains("54000"),
        "1 KB a day: the scan is cut off: {}",
        over.stderr
    );
    let next = server.psql("intern", PASSWORD, "SELECT 1")?;
    assert!(
        next.stderr.contains("54000") && next.stderr.contains("daily limit"),
        "the day's allowance is used up: {}",
        next.stderr
    );
    let stderr = server.stop()?;

    let history = tarn.ok(&[
        "--format",
        "csv",
        "-c",
        "SELECT user_name, workgroup, status, sqlstate FROM tarn.queries ORDER BY started",
    ])?;
    let rows: Vec<&str> = history.stdout.lines().skip(1).collect();
    assert_eq!(
        rows,
        [
            "engineer,primary,REFUSED,28P01",
            "mallory,\"\",REFUSED,28P01",
            "analyst,marketing,REFUSED,42501",
            "analyst,marketing,REFUSED,42501",
            "analyst,marketing,SUCCEEDED,",
            "analyst,marketing,FAILED,54000",
            "intern,tiny,SUCCEEDED,",
            "intern,tiny,FAILED,54000",
            "intern,tiny,REFUSED,54000",
        ],
        "{}",
        history.stdout
    );
    let month = tarn.ok(&["--format", "csv", "history", "--by", "user"])?;
    assert!(
        month.stdout.lines().any(|l| l.starts_with("intern,3,1,1,")),
        "{}",
        month.stdout
    );
    for text in [&stderr, &history.stdout, &month.stdout, &wrong.stderr, &unknown.stderr] {
        assert!(!text.contains(PASSWORD) && !text.contains("not the password"), "{text}");
    }
    for file in tarn_fixtures::s3::walk(&dir.path().join("wh"))? {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            !text.contains(PASSWORD) && !text.contains("not the password"),
            "{}",
            file.display()
        );
    }
    Ok(())
}

/// Many clients at once, with CTAS among their queries, while others send random bytes or close their socket in the
/// middle of a large result: no wrong answer, no error, the server goes on, and the history has every statement.
/// (`benches/serve.sh` runs the same load at 32 clients x 200 queries and reports its figures.)
#[test]
fn many_clients_garbage_and_dropouts_leave_the_server_answering_right() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (tarn, users) = setup(dir.path())?;
    let mut server = Server::start(&tarn, &users)?;
    let out = Command::new("python3")
        .arg(repo_file("benches/serve_load.py"))
        .args([
            "--port",
            &server.port.to_string(),
            "--user",
            "engineer",
            "--password",
            PASSWORD,
        ])
        .args(["--expected", r#"{"CA": 750, "NY": 750, "WY": 750, "TX": 750}"#])
        .args([
            "--clients",
            "8",
            "--queries",
            "12",
            "--ctas-every",
            "6",
            "--garbage",
            "2",
            "--dropouts",
            "2",
        ])
        .stdin(Stdio::null())
        .output()?;
    let report = ran(out);
    assert_eq!(report.code, Some(0), "{}", report.stderr);
    let figures: serde_json::Value = serde_json::from_str(report.stdout.trim())?;
    assert_eq!(figures["error_count"], 0, "{figures}");
    assert_eq!(figures["wrong_count"], 0, "{figures}");
    assert_eq!(figures["requests"], 96, "{figures}");
    // 8 clients x (10 counts + 2 CTAS, each with its count and DROP).
    assert_eq!(figures["statements"], 8 * (10 + 2 * 3), "{figures}");
    assert!(server.child.try_wait()?.is_none(), "the server is still running");
    let after = server.psql("engineer", PASSWORD, "SELECT count(*) FROM orders")?;
    assert_eq!(after.stdout.trim(), "3000", "{}", after.stderr);

    // Every statement is in the history; the dropped results as failed ones.
    let recorded = |sql: &str| tarn.value(sql);
    let succeeded = "SELECT count(*) FROM tarn.queries WHERE user_name = 'engineer' AND status = 'SUCCEEDED' \
                     AND query NOT LIKE 'SELECT a.id%'";
    let dropped = "SELECT count(*) FROM tarn.queries WHERE query LIKE 'SELECT a.id%' AND status = 'FAILED'";
    let mut waited = 0;
    while recorded(dropped)? != "6" && waited < 100 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        waited += 1;
    }
    assert_eq!(recorded(dropped)?, "6", "each dropped result is recorded as failed");
    // The 128 statements, and the final count above.
    assert_eq!(recorded(succeeded)?, "129");
    server.stop()?;
    Ok(())
}

/// With a certificate, clients connect over TLS (sslmode=require); without one, such a client is refused.
#[test]
fn tls_with_a_given_certificate() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (tarn, users) = setup(dir.path())?;
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdin(Stdio::null())
        .output()?;
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let plain = Server::start(&tarn, &users)?;
    let refused = plain.psql_with("engineer", PASSWORD, "SELECT 1", "require")?;
    assert_eq!(
        refused.code,
        Some(2),
        "no TLS without a certificate: {}",
        refused.stderr
    );
    plain.stop()?;

    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let server = Server::start_with(&tarn, &users, &["--tls-cert", &cert, "--tls-key", &key])?;
    let over_tls = server.psql_with("engineer", PASSWORD, "SELECT count(*) FROM orders", "require")?;
    assert_eq!(over_tls.stdout.trim(), "3000", "{}", over_tls.stderr);
    server.stop()?;
    Ok(())
}

/// An ADBC Flight SQL client (adbc-driver-flightsql from PyPI) reads the CLI's results, creates a table, lists the
/// catalog, and gets the same refusals and SQLSTATEs as PostgreSQL clients; its statements are in the history.
#[test]
fn adbc_flight_sql_reads_the_same_results() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (tarn, users) = setup(dir.path())?;
    let server = Server::start_with(&tarn, &users, &["--flight", "127.0.0.1:0"])?;
    let port = server.flight.ok_or("no Flight SQL address")?;
    let by_state =
        "SELECT state, count(*) AS n, CAST(sum(amount) AS VARCHAR) AS total FROM orders GROUP BY state ORDER BY state";
    let cli: Vec<String> = tarn
        .ok(&["--format", "csv", "-c", by_state])?
        .stdout
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect();
    let script = [
        "import sys, warnings",
        "warnings.simplefilter('ignore')",
        "import adbc_driver_flightsql.dbapi as f",
        "def connect(user, password):",
        "    return f.connect(f'grpc://127.0.0.1:{sys.argv[1]}', db_kwargs={'username': user, 'password': password})",
        "conn = connect('engineer', sys.argv[2])",
        "cur = conn.cursor()",
        "cur.execute(sys.argv[3])",
        "for row in cur.fetchall(): print(','.join(str(v) for v in row))",
        "cur.execute('CREATE TABLE flown WITH (format = \\'PARQUET\\') AS SELECT * FROM orders WHERE state = \\'CA\\'')",
        "cur.execute('SELECT count(*) FROM flown')",
        "print('flown', cur.fetchone()[0])",
        "objects = conn.adbc_get_objects(depth='all').read_all().to_pylist()",
        "print(sorted(t['table_name'] for c in objects for s in c['catalog_db_schemas'] if s['db_schema_name'] == 'default' for t in s['db_schema_tables']))",
        "print([(c['catalog_name'], t['table_type'], [col['column_name'] for col in t['table_columns']]) for c in objects for s in c['catalog_db_schemas'] for t in s['db_schema_tables'] if t['table_name'] == 'orders'])",
        "for sql in ['SELECT * FROM nowhere']:",
        "    try:",
        "        cur.execute(sql)",
        "    except Exception as e:",
        "        print('error', 'SQLSTATE 42P01' in str(e))",
        "analyst = connect('analyst', sys.argv[2]).cursor()",
        "try:",
        "    analyst.execute('CREATE TABLE nope AS SELECT 1 AS x')",
        "except Exception as e:",
        "    print('refused', 'SQLSTATE 42501' in str(e))",
        "try:",
        "    connect('engineer', 'wrong').cursor().execute('SELECT 1')",
        "except Exception as e:",
        "    print('unauthenticated', 'UNAUTHENTICATED' in str(e))",
    ]
    .join("\n");
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args([&port.to_string(), PASSWORD, by_state])
        .stdin(Stdio::null())
        .output()?;
    let out = ran(out);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[..4],
        cli.iter().map(String::as_str).collect::<Vec<_>>()[..],
        "{}",
        out.stdout
    );
    assert_eq!(
        lines[4..],
        [
            "flown 750",
            "['flown', 'orders']",
            "[('awsdatacatalog', 'TABLE', ['id', 'state', 'amount'])]",
            "error True",
            "refused True",
            "unauthenticated True"
        ],
        "{}",
        out.stdout
    );
    let stderr = server.stop()?;
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    assert_eq!(
        tarn.value(
            "SELECT count(*) FROM tarn.queries WHERE protocol = 'flight' AND status = 'REFUSED' AND sqlstate = '42501'"
        )?,
        "1"
    );
    Ok(())
}

/// psql's `\d` family and the catalog queries of BI tools and drivers (DBeaver's, Grafana's, SQLAlchemy's) see
/// tarn's databases, tables, views and columns with PostgreSQL's type names; the parameters drivers set and show on
/// connecting are answered; a catalog query cannot pass off a table as empty.
#[test]
fn psql_describes_tables_and_bi_tools_browse_the_catalog() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (tarn, users) = setup(dir.path())?;
    tarn.ok(&[
        "-c",
        "CREATE DATABASE sales; CREATE TABLE sales.by_state WITH (format = 'PARQUET', partitioned_by = ARRAY['state']) \
         AS SELECT id, amount, CAST(DATE '2024-01-02' AS DATE) AS day, state FROM orders; \
         CREATE VIEW sales.big AS SELECT id, amount FROM sales.by_state WHERE amount > 100",
    ])?;
    let server = Server::start(&tarn, &users)?;

    let relations = server.psql("analyst", PASSWORD, "\\d")?;
    assert_eq!(relations.code, Some(0), "{}", relations.stderr);
    let relations: Vec<&str> = relations.stdout.lines().collect();
    for expected in [
        "default|orders|table|postgres",
        "sales|big|view|postgres",
        "sales|by_state|table|postgres",
    ] {
        assert!(relations.contains(&expected), "{relations:?}");
    }
    let columns = server.psql("analyst", PASSWORD, "\\d sales.by_state")?;
    assert_eq!(columns.code, Some(0), "{}", columns.stderr);
    assert_eq!(
        columns
            .stdout
            .lines()
            .map(|l| l.split('|').take(2).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>(),
        ["id bigint", "amount numeric", "day date", "state text"],
        "data columns, then the partition key"
    );
    let view = server.psql("analyst", PASSWORD, "\\d+ sales.big")?;
    assert_eq!(view.code, Some(0), "{}", view.stderr);
    assert!(
        view.stdout.starts_with("id|bigint|") && view.stdout.contains("amount|numeric|"),
        "{}",
        view.stdout
    );
    for command in ["\\dt", "\\dv", "\\dn", "\\d+", "\\d+ orders", "\\l"] {
        let out = server.psql("analyst", PASSWORD, command)?;
        assert_eq!(out.code, Some(0), "{command}: {}", out.stderr);
    }
    let schemas = server.psql("analyst", PASSWORD, "\\dn")?.stdout;
    assert!(schemas.contains("sales|") && schemas.contains("default|"), "{schemas}");
    let tables = server.psql("analyst", PASSWORD, "\\dt")?.stdout;
    assert!(
        tables.contains("sales|by_state|table") && !tables.contains("|big|"),
        "{tables}"
    );

    // What DBeaver, Grafana and SQLAlchemy send (extended protocol through psycopg, parameters bound).
    let out = server.python(
        "engineer",
        PASSWORD,
        "for sql in ['SET extra_float_digits = 3', \"SET application_name = 'DBeaver 25.1.5 - Main'\"]:\n\
         \x20   cur.execute(sql)\n\
         cur.execute('SELECT current_schema(), session_user')\nprint(cur.fetchone()[0])\n\
         cur.execute('SELECT n.oid, n.nspname FROM pg_catalog.pg_namespace n ORDER BY nspname')\n\
         print([r[1] for r in cur.fetchall() if r[1] in ('default', 'sales')])\n\
         cur.execute(\"SELECT c.relname, c.relkind FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s ORDER BY 1\", ('sales',))\n\
         print(cur.fetchall())\n\
         cur.execute(\"SELECT column_name, data_type, udt_name, numeric_precision, numeric_scale FROM information_schema.columns WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position\", ('default', 'orders'))\n\
         print(cur.fetchall())\n\
         cur.execute(\"SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 'sales' ORDER BY 1\")\n\
         print(cur.fetchall())\n\
         cur.execute('select version()')\nprint(cur.fetchone()[0].split(' (')[0])\n\
         for show in ['standard_conforming_strings', 'TimeZone', 'transaction isolation level', 'search_path']:\n\
         \x20   cur.execute('SHOW ' + show)\n\
         \x20   print(show, cur.fetchone()[0])\n\
         cur.execute('SET search_path TO sales')\ncur.execute('SHOW search_path')\nprint(cur.fetchone()[0])\n\
         cur.execute('SELECT count(*) FROM by_state')\nprint(cur.fetchone()[0])\n\
         try:\n    cur.execute('SELECT o.id FROM \"default\".orders o, information_schema.tables t')\n    print(cur.fetchall())\n\
         except psycopg.Error as e:\n    print('refused', 'cannot read a table' in str(e) or str(e))\n\
         import sqlalchemy\n\
         engine = sqlalchemy.create_engine(f'postgresql+psycopg://engineer:{sys.argv[1]}@127.0.0.1:{conn.info.port}/default')\n\
         inspector = sqlalchemy.inspect(engine)\n\
         print([s for s in inspector.get_schema_names() if s in ('default', 'sales')])\n\
         print(inspector.get_table_names(schema='sales'), inspector.get_view_names(schema='sales'))\n\
         print([(c['name'], str(c['type'])) for c in inspector.get_columns('by_state', schema='sales')])\n\
         print(inspector.has_table('orders'), inspector.has_table('nowhere'))\n",
    )?;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "default",
            "['default', 'sales']",
            "[('big', 'v'), ('by_state', 'r')]",
            "[('id', 'bigint', 'int8', 64, 0), ('state', 'text', 'text', None, None), \
             ('amount', 'numeric', 'numeric', 10, 2)]",
            "[('big', 'VIEW'), ('by_state', 'BASE TABLE')]",
            "PostgreSQL 16.6",
            "standard_conforming_strings on",
            "TimeZone UTC",
            "transaction isolation level read committed",
            "search_path default",
            "sales",
            "3000",
            "refused True",
            "['default', 'sales']",
            "['by_state'] ['big']",
            // pg_attribute (datafusion-pg-catalog's) has no type modifiers: a decimal's precision is in
            // information_schema.columns only.
            "[('id', 'BIGINT'), ('amount', 'NUMERIC'), ('day', 'DATE'), ('state', 'TEXT')]",
            "True False",
        ],
        "{out}"
    );
    // The catalog is read at most every two seconds for a connection's catalog queries, but at once after a
    // statement of its own that changes it.
    let own = server.psql(
        "engineer",
        PASSWORD,
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'fresh'; \
         CREATE TABLE fresh AS SELECT 1 AS x; \
         SELECT count(*) FROM information_schema.tables WHERE table_name = 'fresh'",
    )?;
    assert_eq!(own.code, Some(0), "{}", own.stderr);
    let counts: Vec<&str> = own
        .stdout
        .lines()
        .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    assert_eq!(counts, ["0", "1"], "{}", own.stdout);
    server.stop()?;
    Ok(())
}

/// `--idle-timeout`: a connection that has run nothing for that long is closed (and says so on the server's
/// stderr), one running a statement for longer is not.
#[test]
fn idle_connections_are_closed_and_busy_ones_are_not() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (tarn, users) = setup(dir.path())?;
    let server = Server::start_with(&tarn, &users, &["--idle-timeout", "1s", "--flight", "127.0.0.1:0"])?;
    let out = server.python(
        "engineer",
        PASSWORD,
        "import time\n\
         started = time.monotonic()\n\
         cur.execute('SELECT count(*) FROM unnest(sequence(1, 6000)) AS a(x), unnest(sequence(1, 6000)) AS b(y) WHERE x * y % 7 = 3')\n\
         print(cur.fetchone()[0], time.monotonic() - started > 1)\n\
         time.sleep(0.5)\ncur.execute('SELECT 1')\nprint(cur.fetchone()[0])\n\
         time.sleep(3)\n\
         try:\n    cur.execute('SELECT 2')\n    print(cur.fetchone())\n\
         except psycopg.OperationalError:\n    print('closed')\n",
    )?;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["4408408 True", "1", "closed"],
        "{out}"
    );
    // A Flight SQL token unused for as long is forgotten.
    let port = server.flight.ok_or("no Flight SQL address")?;
    let script = [
        "import sys, time, warnings",
        "warnings.simplefilter('ignore')",
        "import adbc_driver_flightsql.dbapi as f",
        "cur = f.connect(f'grpc://127.0.0.1:{sys.argv[1]}', db_kwargs={'username': 'engineer', 'password': sys.argv[2]}).cursor()",
        "cur.execute('SELECT 1')",
        "print(cur.fetchone()[0])",
        "time.sleep(2)",
        "try:",
        "    cur.execute('SELECT 2')",
        "    print(cur.fetchone()[0])",
        "except Exception as e:",
        "    print('expired', 'expired token' in str(e))",
    ]
    .join("\n");
    let flight = ran(Command::new("python3")
        .arg("-c")
        .arg(script)
        .args([&port.to_string(), PASSWORD])
        .stdin(Stdio::null())
        .output()?);
    assert_eq!(
        flight.stdout.lines().collect::<Vec<_>>(),
        ["1", "expired True"],
        "{}{}",
        flight.stdout,
        flight.stderr
    );
    let stderr = server.stop()?;
    assert!(stderr.contains("idle for 1 s (--idle-timeout)"), "{stderr}");
    Ok(())
}

/// Every Arrow type tarn returns reaches PostgreSQL clients: scalars as their PostgreSQL types, arrays of scalars as
/// arrays, and structs (ROW), maps and nested arrays as JSON text, which arrow-pg alone cannot send.
#[test]
fn rows_maps_and_nested_arrays_reach_clients_as_json() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (tarn, users) = setup(dir.path())?;
    let server = Server::start(&tarn, &users)?;
    let sql = "SELECT CAST(ROW(1, 'x') AS ROW(n integer, s varchar)) AS r, MAP(ARRAY['k', 'l'], ARRAY[1, NULL]) AS m, \
               ARRAY[ARRAY['a', 'b'], ARRAY['c']] AS nested, ARRAY[CAST(ROW(2) AS ROW(n integer))] AS rows, \
               ARRAY[1, 2] AS flat, CAST(1.25 AS DECIMAL(10, 3)) AS d, TIMESTAMP '2024-01-02 03:04:05.123' AS ts, \
               DATE '2024-01-02' AS day, CAST(NULL AS ROW(n integer)) AS none";
    let out = server.python(
        "engineer",
        PASSWORD,
        &format!("cur.execute(\"{sql}\")\nfor value in cur.fetchone():\n    print(repr(value))\n"),
    )?;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            r#"'{"n":1,"s":"x"}'"#,
            r#"'{"k":1,"l":null}'"#,
            r#"'[["a","b"],["c"]]'"#,
            r#"'[{"n":2}]'"#,
            "[1, 2]",
            "Decimal('1.250')",
            "datetime.datetime(2024, 1, 2, 3, 4, 5, 123000)",
            "datetime.date(2024, 1, 2)",
            "None",
        ],
        "{out}"
    );
    let psql = server.psql("engineer", PASSWORD, sql)?;
    assert_eq!(psql.code, Some(0), "{}", psql.stderr);
    assert!(
        psql.stdout
            .starts_with(r#"{"n":1,"s":"x"}|{"k":1,"l":null}|[["a","b"],["c"]]|"#),
        "{}",
        psql.stdout
    );
    server.stop()?;
    Ok(())
}
