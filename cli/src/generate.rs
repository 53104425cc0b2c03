//! `tarn generate consumer-header`: the case study's delivery, written to a folder or an `s3://` prefix.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tarn_engine::format_bytes;
use tarn_engine::storage::{Location, StoreRegistry};
use tarn_fixtures::consumer_header::{COLUMN_COUNT, part_name, write_part};

pub struct GenerateOptions {
    pub rows: u64,
    pub parts: u64,
    pub out: String,
    pub seed: u64,
    pub threads: usize,
}

/// Writes the parts, `threads` at a time, each uploaded as soon as it is made (so memory holds at most `threads`
/// compressed parts). Returns the line to print.
pub fn consumer_header(runtime: &tokio::runtime::Handle, options: &GenerateOptions) -> Result<String, String> {
    if options.parts == 0 || options.rows < options.parts {
        return Err(format!(
            "--parts must be between 1 and --rows ({} rows, {} parts)",
            options.rows, options.parts
        ));
    }
    let location = Location::parse(&options.out).map_err(|e| e.to_string())?;
    let registry = Arc::new(StoreRegistry::new());
    let started = Instant::now();
    let next = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..options.threads.max(1))
            .map(|_| {
                scope.spawn(|| -> Result<(), String> {
                    loop {
                        let part = next.fetch_add(1, Ordering::Relaxed);
                        if part >= options.parts {
                            return Ok(());
                        }
                        let mut buffer = Vec::new();
                        write_part(&mut buffer, options.rows, options.parts, part, options.seed)
                            .map_err(|e| format!("generating {}: {e}", part_name(part)))?;
                        bytes.fetch_add(buffer.len() as u64, Ordering::Relaxed);
                        runtime
                            .block_on(registry.put_new(&location, &part_name(part), buffer))
                            .map_err(|e| e.to_string())?;
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err("a generator thread panicked".into())))
            .collect::<Result<Vec<()>, String>>()
    })?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(format!(
        "generated {} rows x {COLUMN_COUNT} columns in {} gzip parts ({}) in {seconds:.1} s ({:.0} rows/s) at {}",
        options.rows,
        options.parts,
        format_bytes(bytes.load(Ordering::Relaxed)),
        options.rows as f64 / seconds.max(0.001),
        location.url
    ))
}
