//! What the black-box tests share: running real `tarn` processes against a warehouse.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use tarn_fixtures::s3::S3Server;

pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

pub struct Tarn {
    pub warehouse: String,
    pub env: Vec<(&'static str, String)>,
}

pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Tarn {
    pub fn local(warehouse: &Path) -> Self {
        Self {
            warehouse: warehouse.display().to_string(),
            env: Vec::new(),
        }
    }

    pub fn s3(warehouse: &str, server: &S3Server) -> Self {
        Self {
            warehouse: warehouse.to_string(),
            env: server.env(),
        }
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tarn"));
        cmd.arg("--warehouse").arg(&self.warehouse);
        // Nothing from the developer's own AWS setup may leak into a test.
        for var in [
            "AWS_PROFILE",
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "TARN_MAX_SCAN",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
        cmd.env("AWS_EC2_METADATA_DISABLED", "true");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> TestResult<Ran> {
        let out = self.command().args(args).stdin(Stdio::null()).output()?;
        Ok(ran(out))
    }

    pub fn ok(&self, args: &[&str]) -> TestResult<Ran> {
        let r = self.run(args)?;
        if r.code != Some(0) {
            return Err(format!("tarn {args:?} failed ({:?}): {}", r.code, r.stderr).into());
        }
        Ok(r)
    }

    /// The single value of a query, through `--format csv`.
    pub fn value(&self, sql: &str) -> TestResult<String> {
        let r = self.ok(&["--format", "csv", "-c", sql])?;
        let lines: Vec<&str> = r.stdout.lines().collect();
        match lines.as_slice() {
            [_header, value] => Ok(value.to_string()),
            other => Err(format!("expected one value from {sql}, got {other:?}").into()),
        }
    }

    pub fn fails(&self, args: &[&str]) -> TestResult<String> {
        let r = self.run(args)?;
        if r.code != Some(1) {
            return Err(format!(
                "tarn {args:?} should exit 1, got {:?}: {} {}",
                r.code, r.stdout, r.stderr
            )
            .into());
        }
        let errors: Vec<&str> = r.stderr.lines().filter(|l| l.starts_with("error: ")).collect();
        if errors.len() != 1 {
            return Err(format!("expected one error line, got {:?}", r.stderr).into());
        }
        Ok(errors[0].to_string())
    }
}

pub fn ran(out: Output) -> Ran {
    Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn repo_file(path: &str) -> String {
    // Read at run time, not baked in with env!: CI shares one target dir between clones at
    // different paths, and cargo does not rebuild a workspace test just because its path moved.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    Path::new(&manifest_dir).join("..").join(path).display().to_string()
}

pub fn dir_url(p: &Path) -> String {
    format!("{}/", p.display())
}

/// Waits until `found` sees what it looks for under `dir` (or gives up after 60 s).
pub fn wait_for(dir: &Path, found: impl Fn(&Path) -> bool) -> TestResult {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if tarn_fixtures::s3::walk(dir)
            .unwrap_or_default()
            .iter()
            .any(|p| found(p))
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(format!("nothing appeared under {}", dir.display()).into())
}
