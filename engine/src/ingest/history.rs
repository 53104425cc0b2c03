//! The load history as one loader reads it, and how a batch whose loader is gone gets its outcome.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use chrono::Utc;
use tarn_catalog::{LoadBatch, LoadLog, LoadOutcome, Table};

use crate::context::Ctx;
use crate::error::Result;
use crate::storage::Location;
use crate::write::commit::process_alive;

/// What kind of table a pass loads into, which decides how a batch given up on is settled.
pub(super) enum Target {
    /// Rows are published only after the batch's `committed` outcome won, so writing `aborted` settles it.
    Hive,
    /// Rows are published by the Delta commit itself, so the batch is fenced in the Delta log first (see
    /// [`super::delta`]).
    Delta(Location),
}

/// Where a file version stands in the history.
#[derive(Debug, Clone)]
pub(super) enum FileState {
    Loaded,
    Failed(String),
    /// In a batch whose loader is still at work.
    InFlight,
}

/// The load history as read so far: batches with an outcome never change, so only new and running ones are read again.
#[derive(Default)]
pub(super) struct History {
    batches: BTreeMap<u64, LoadBatch>,
    /// Numbers with no readable claim but an outcome (given up before their claim was seen).
    empty: BTreeSet<u64>,
    /// Numbers listed without a readable claim yet, and since when: a claim being written. Files cannot be chosen
    /// until it is read, since it may hold any of them.
    unread: BTreeMap<u64, Instant>,
    /// By [`tarn_catalog::SourceFile::key`].
    pub(super) files: HashMap<(String, String), FileState>,
    /// Local files' versions by (URL, stamp), so unchanged files are not hashed again.
    pub(super) stamps: HashMap<(String, String), String>,
}

/// How long a batch number may show no claim before it is given up (its claimer died while writing it).
const UNREAD_GRACE: Duration = Duration::from_secs(60);

impl History {
    /// Reads what changed, until every listed batch number has been read.
    pub(super) async fn refresh(&mut self, ctx: &Ctx, log: &LoadLog, table: &Table, target: &Target) -> Result<()> {
        loop {
            self.read(ctx, log, table, target).await?;
            if self.unread.is_empty() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn read(&mut self, ctx: &Ctx, log: &LoadLog, table: &Table, target: &Target) -> Result<()> {
        let numbers: Vec<u64> = log
            .batch_numbers()
            .await?
            .into_iter()
            .filter(|n| !self.empty.contains(n) && self.batches.get(n).is_none_or(|b| b.outcome.is_none()))
            .collect();
        let read = log.batches(&numbers).await?;
        for n in numbers.iter().filter(|n| !read.iter().any(|b| b.number == **n)) {
            let since = *self.unread.entry(*n).or_insert_with(Instant::now);
            if log.outcome(*n).await?.is_some() {
                self.unread.remove(n);
                self.empty.insert(*n);
            } else if since.elapsed() > UNREAD_GRACE {
                // Whoever was writing its claim is gone; if it was only slow, this outcome makes it lose.
                ctx.give_up(target, log, table, *n, "its claim was never written".into())
                    .await?;
            }
        }
        for mut batch in read {
            self.unread.remove(&batch.number);
            if batch.outcome.is_none() && !loader_alive(&batch) {
                let reason = format!(
                    "its loader (host {}, pid {}) stopped before the batch committed",
                    batch.claim.host, batch.claim.pid
                );
                batch.outcome = Some(ctx.give_up(target, log, table, batch.number, reason).await?);
            }
            self.batches.insert(batch.number, batch);
        }
        self.files.clear();
        for batch in self.batches.values() {
            let files = batch.claim.files.iter();
            for f in files.filter(|f| f.stamp.is_some()) {
                let stamp = f.stamp.clone().unwrap_or_default();
                self.stamps.insert((f.url.clone(), stamp), f.version.clone());
            }
            match &batch.outcome {
                None => {
                    for f in &batch.claim.files {
                        self.files.insert(f.key(), FileState::InFlight);
                    }
                }
                Some(LoadOutcome::Committed { loaded, failed, .. }) => {
                    for f in loaded {
                        self.files.insert(f.key(), FileState::Loaded);
                    }
                    for (f, reason) in failed {
                        self.files.insert(f.key(), FileState::Failed(reason.clone()));
                    }
                }
                Some(LoadOutcome::Aborted { .. }) => {}
            }
        }
        Ok(())
    }

    pub(super) fn next_number(&self) -> u64 {
        let last = [
            self.batches.keys().next_back(),
            self.empty.iter().next_back(),
            self.unread.keys().next_back(),
        ];
        last.into_iter().flatten().max().map_or(1, |n| n + 1)
    }
}

fn loader_alive(batch: &LoadBatch) -> bool {
    let claim = &batch.claim;
    process_alive(
        &claim.host,
        claim.pid,
        claim.process_start,
        batch.heartbeat.unwrap_or(claim.claimed_at).max(claim.claimed_at),
    )
}

impl Ctx {
    /// Settles batch `number`, whose loader is gone or failed: `aborted`, unless (Delta) its commit landed first.
    pub(super) async fn give_up(
        &self,
        target: &Target,
        log: &LoadLog,
        table: &Table,
        number: u64,
        reason: String,
    ) -> Result<LoadOutcome> {
        match target {
            Target::Hive => Ok(log
                .decide(number, &LoadOutcome::Aborted { reason, at: Utc::now() })
                .await?),
            Target::Delta(location) => self.settle_delta(location, log, table, number, reason).await,
        }
    }
}
