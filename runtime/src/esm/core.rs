//! One mapping's delivery over all shards of its stream, as a state machine
//! the caller drives: [`MappingCore::poll`] reads what it can, decides the
//! checkpoints and destination records to commit and the invocations to
//! start; [`MappingCore::complete`] takes an invocation's outcome. The caller
//! commits a step's [`Commit`] durably before it starts the step's jobs, so a
//! checkpoint is durable before the next batch of its shard (or key) runs.
//!
//! Shards follow their lineage: a shard starts once its parent is finished
//! (closed, read to the end, everything done, and that checkpointed) or gone.
//! A new mapping fixes its starting position once, durably: TRIM_HORIZON
//! starts at the oldest shards' trim horizons; LATEST starts the open shards
//! after their newest record and skips the closed ones.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use super::config::{ConfigError, MappingConfig, StartingPosition, parse_table_arn};
use super::filter::FilterSet;
use super::invoker::InvokeOutcome;
use super::lease::{LeaseStart, LeaseView};
use super::ledger::{Commit, Effects, LedgerState, ShardCheckpoint};
use super::metrics::MappingMetrics;
use super::shard::ShardCore;
use super::source::{ReadError, RecordSource, StreamLayout};

/// A mapping's parameters in the form delivery uses.
#[derive(Debug, Clone)]
pub struct Settings {
    pub batch_size: usize,
    pub batching_window_ms: u64,
    /// `ParallelizationFactor` (1 with tumbling windows, whose state is per shard).
    pub lanes: usize,
    /// `None`: retry until the records age out.
    pub max_retries: Option<u32>,
    pub max_age_ms: Option<u64>,
    pub bisect: bool,
    pub report_failures: bool,
    pub filters: FilterSet,
    pub tumbling_ms: Option<u64>,
    /// The on-failure destination's ARN.
    pub destination: Option<String>,
    pub starting: StartingPosition,
    pub function_arn: String,
    pub stream_arn: String,
    pub region: String,
    /// Records older than this are gone from the stream (its retention).
    pub retention_ms: u64,
    /// Defer the function's store writes to the checkpoint (exactly-once).
    pub exactly_once: bool,
}

impl Settings {
    /// The settings of `config`, with records' `awsRegion` `region`.
    pub fn new(config: &MappingConfig, region: &str) -> Result<Settings, ConfigError> {
        config.validate()?;
        let tumbling_ms =
            (config.tumbling_window_in_seconds > 0).then(|| u64::from(config.tumbling_window_in_seconds) * 1000);
        let destination = config.destination_arn().map(str::to_string);
        if let Some(d) = &destination
            && parse_table_arn(d).is_none()
        {
            return Err(ConfigError::invalid(format!("The on-failure destination must be a table ARN: {d}")));
        }
        Ok(Settings {
            batch_size: config.batch_size.max(1) as usize,
            batching_window_ms: u64::from(config.maximum_batching_window_in_seconds) * 1000,
            lanes: if tumbling_ms.is_some() { 1 } else { config.parallelization_factor.max(1) as usize },
            max_retries: u32::try_from(config.maximum_retry_attempts).ok(),
            max_age_ms: u64::try_from(config.maximum_record_age_in_seconds).ok().map(|s| s * 1000),
            bisect: config.bisect_batch_on_function_error,
            report_failures: config.reports_batch_item_failures(),
            filters: match &config.filter_criteria {
                Some(f) => FilterSet::parse(f)?,
                None => FilterSet::default(),
            },
            tumbling_ms,
            destination,
            starting: config.starting_position,
            function_arn: config.function_arn.clone(),
            stream_arn: config.event_source_arn.clone(),
            region: region.to_string(),
            retention_ms: super::source::STREAM_RETENTION_MS,
            exactly_once: config.exactly_once,
        })
    }
}

/// One invocation to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: u64,
    pub shard: String,
    pub(crate) lane: usize,
    /// The event JSON.
    pub event: String,
    /// Max `origin.depth` of the records, plus one.
    pub chain_depth: u32,
    /// The records' sequence numbers, in order.
    pub seqs: Vec<super::source::Seq>,
    /// The final invocation of a tumbling window.
    pub final_window: bool,
}

/// What one [`MappingCore::poll`] decided: commit `commit` first, then start
/// `jobs`.
#[derive(Debug, Default)]
pub struct Step {
    pub commit: Option<Commit>,
    pub jobs: Vec<Job>,
}

/// A mapping's delivery state over the shards of its stream.
pub struct MappingCore {
    settings: Settings,
    started: bool,
    /// A mapping starting at `LATEST` whose positions are not all fixed yet:
    /// the shards listed when it first looked, and whether each was open.
    /// An open one starts only once its source knows its latest position; a
    /// shard not listed then (a child opened since) starts at its beginning.
    latest_pending: Option<BTreeMap<String, bool>>,
    /// With leases (a worker of a fleet): the shards this core may deliver,
    /// each with the take of its lease; `None`: every shard of the stream.
    owned: Option<BTreeMap<String, u64>>,
    /// Held shards whose lease says `LATEST`: they start after the newest
    /// record once the source knows it.
    latest_leased: BTreeSet<String>,
    /// The last checkpoint committed (or about to be) per shard.
    committed: BTreeMap<String, ShardCheckpoint>,
    active: BTreeMap<String, ShardCore>,
    /// Jobs running: their shard, lane and records' sequence numbers.
    jobs: HashMap<u64, (String, usize, Vec<super::source::Seq>)>,
    next_job: u64,
    metrics: Arc<Mutex<MappingMetrics>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl MappingCore {
    /// Resumes from what the ledger holds.
    pub fn new(settings: Settings, state: LedgerState, metrics: Arc<Mutex<MappingMetrics>>) -> Self {
        MappingCore {
            settings,
            started: state.started,
            latest_pending: None,
            owned: None,
            latest_leased: BTreeSet::new(),
            committed: state.shards,
            active: BTreeMap::new(),
            jobs: HashMap::new(),
            next_job: 0,
            metrics,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Delivers only the shards of `view` (the leases held), each from where
    /// its lease says; shards no longer held (or held by a new take) are
    /// dropped, their running jobs forgotten. The shards dropped.
    pub fn sync_leases(&mut self, view: &LeaseView) -> Vec<String> {
        let owned = self.owned.take().unwrap_or_default();
        let mut kept = BTreeMap::new();
        let mut released = Vec::new();
        for (shard, take) in owned {
            if view.shards.get(&shard).map(|(t, _)| *t) == Some(take) {
                kept.insert(shard, take);
            } else {
                released.push(shard);
            }
        }
        for shard in &released {
            self.active.remove(shard);
            self.committed.remove(shard);
            self.latest_leased.remove(shard);
            self.jobs.retain(|_, (s, _, _)| s != shard);
        }
        // The metrics show the shards held now: one lost, finished or held
        // before a restart leaves them (its counts stay in the totals).
        {
            let mut metrics = lock(&self.metrics);
            let shown: Vec<String> = metrics.shards.keys().filter(|k| !view.shards.contains_key(*k)).cloned().collect();
            for shard in shown {
                metrics.release(&shard);
            }
        }
        for (shard, (take, start)) in &view.shards {
            if kept.contains_key(shard) {
                continue;
            }
            kept.insert(shard.clone(), *take);
            self.active.remove(shard);
            self.latest_leased.remove(shard);
            match start {
                LeaseStart::TrimHorizon => {
                    self.committed.remove(shard);
                }
                LeaseStart::Latest => {
                    self.committed.remove(shard);
                    self.latest_leased.insert(shard.clone());
                }
                LeaseStart::At(cp) => {
                    self.committed.insert(shard.clone(), cp.clone());
                }
            }
        }
        self.owned = Some(kept);
        // Leases fix starting positions themselves.
        self.started = true;
        self.latest_pending = None;
        released
    }

    /// Whether this core delivers `shard`.
    pub fn owns(&self, shard: &str) -> bool {
        self.owned.as_ref().is_none_or(|o| o.contains_key(shard))
    }

    /// Reads, plans and checkpoints what can be done at `now`.
    pub fn poll(&mut self, src: &dyn RecordSource, now: u64) -> Step {
        let mut commit = Commit::default();
        let mut jobs = Vec::new();
        let Some(layout) = src.layout() else { return Step::default() };
        self.settings.retention_ms = layout.retention_ms;
        if !self.started {
            self.fix_starting_positions(src, &layout, &mut commit);
        }
        let ids: BTreeSet<&str> = layout.shards.iter().map(|s| s.id.as_str()).collect();
        let gone: Vec<String> = self.committed.keys().filter(|k| !ids.contains(k.as_str())).cloned().collect();
        for id in gone {
            self.committed.remove(&id);
            commit.forget.push(id);
        }
        self.active.retain(|id, _| ids.contains(id.as_str()));
        self.jobs.retain(|_, (shard, _, _)| ids.contains(shard.as_str()));
        let mut metrics = lock(&self.metrics);
        loop {
            for sh in &layout.shards {
                if !self.owns(&sh.id) {
                    continue;
                }
                if !self.committed.contains_key(&sh.id) && self.latest_leased.contains(&sh.id) {
                    match src.position(&sh.id, true) {
                        Ok(p) => {
                            let cp = ShardCheckpoint { done_through: p.checked_sub(1), ..ShardCheckpoint::default() };
                            self.committed.insert(sh.id.clone(), cp.clone());
                            commit.checkpoints.push((sh.id.clone(), cp));
                        }
                        Err(ReadError::Pending) => continue,
                        Err(_) => {}
                    }
                    self.latest_leased.remove(&sh.id);
                }
                let cp = self.committed.get(&sh.id);
                if self.active.contains_key(&sh.id) || cp.is_some_and(|c| c.finished) {
                    continue;
                }
                // Waiting for the source to find its latest position.
                if cp.is_none() && self.latest_pending.as_ref().is_some_and(|p| p.get(&sh.id) == Some(&true)) {
                    continue;
                }
                // A lease is taken only once its parent's is finished.
                let parent_done = self.owned.is_some()
                    || match &sh.parent {
                        None => true,
                        Some(p) => !ids.contains(p.as_str()) || self.committed.get(p).is_some_and(|c| c.finished),
                    };
                if !parent_done {
                    continue;
                }
                let read_pos = match cp.and_then(|c| c.done_through) {
                    Some(d) => d + 1,
                    None => match src.position(&sh.id, false) {
                        Ok(p) => p,
                        Err(_) => continue,
                    },
                };
                tracing::debug!(shard = %sh.id, from = read_pos, "shard consumer starts");
                self.active.insert(sh.id.clone(), ShardCore::new(sh.id.clone(), read_pos, cp, self.settings.lanes));
            }
            let mut finished_any = false;
            for (id, shard) in &mut self.active {
                let m = metrics.shard(id);
                fill(shard, src, &self.settings, now, m);
                shard.plan(&self.settings, now, &mut self.next_job, m, &mut jobs);
                commit.failures.append(&mut shard.failures);
                if shard.dropped > 0 {
                    commit.dropped.push((id.clone(), std::mem::take(&mut shard.dropped)));
                }
                let cp = shard.checkpoint();
                let passed = |through: &Option<super::source::Seq>| {
                    through.is_none_or(|t| cp.done_through.is_some_and(|d| t <= d))
                };
                let (now_due, later): (Vec<_>, Vec<_>) =
                    std::mem::take(&mut shard.effects).into_iter().partition(|(t, _)| passed(t));
                shard.effects = later;
                commit.effects.extend(now_due.into_iter().map(|(_, writes)| Effects { shard: id.clone(), writes }));
                // A shard with no checkpoint yet starts where a default one
                // would: nothing to write until a record is done.
                let unchanged = match self.committed.get(id) {
                    Some(c) => *c == cp,
                    None => cp == ShardCheckpoint::default(),
                };
                if !unchanged {
                    self.committed.insert(id.clone(), cp.clone());
                    commit.checkpoints.push((id.clone(), cp));
                }
                if shard.finished() {
                    // Nothing of it is left behind.
                    m.iterator_age_ms = 0;
                }
                finished_any |= shard.finished();
            }
            for j in &jobs {
                self.jobs.insert(j.id, (j.shard.clone(), j.lane, j.seqs.clone()));
            }
            if !finished_any {
                break;
            }
            self.active.retain(|_, s| !s.finished());
        }
        Step { commit: (!commit.is_empty()).then_some(commit), jobs }
    }

    /// Fixes where a new mapping starts. At `LATEST`, each shard open when
    /// the mapping first looked is fixed once the source knows its latest
    /// position (at once for the store's streams and a Tidepool source's; at
    /// the first record after the start for another engine's, see
    /// `remote.rs`), and starts then; the
    /// mapping is marked started once every one is.
    fn fix_starting_positions(&mut self, src: &dyn RecordSource, layout: &StreamLayout, commit: &mut Commit) {
        if self.settings.starting == StartingPosition::Latest {
            let listed = self
                .latest_pending
                .get_or_insert_with(|| layout.shards.iter().map(|s| (s.id.clone(), !s.closed)).collect())
                .clone();
            let mut waiting = false;
            for sh in &layout.shards {
                if self.committed.contains_key(&sh.id) {
                    continue;
                }
                let cp = match listed.get(&sh.id) {
                    // Opened since the first look: from its beginning. Its
                    // checkpoint is committed now, so that a rebuilt core (whose
                    // first look would list it) does not start it at LATEST.
                    None => ShardCheckpoint::default(),
                    Some(false) => ShardCheckpoint { finished: true, ..ShardCheckpoint::default() },
                    Some(true) => match src.position(&sh.id, true) {
                        Ok(p) => ShardCheckpoint { done_through: p.checked_sub(1), ..ShardCheckpoint::default() },
                        Err(ReadError::Pending) => {
                            waiting = true;
                            continue;
                        }
                        // No latest position (the shard went): as before the
                        // start, from its beginning.
                        Err(_) => ShardCheckpoint::default(),
                    },
                };
                self.committed.insert(sh.id.clone(), cp.clone());
                commit.checkpoints.push((sh.id.clone(), cp));
            }
            if waiting {
                return;
            }
        }
        self.latest_pending = None;
        commit.mark_started = true;
        self.started = true;
    }

    /// Applies the outcome of job `job`. An unknown job (of a shard gone
    /// since) is ignored.
    pub fn complete(&mut self, job: u64, outcome: &InvokeOutcome, now: u64) {
        let Some((shard, lane, seqs)) = self.jobs.remove(&job) else { return };
        let Some(core) = self.active.get_mut(&shard) else { return };
        let mut metrics = lock(&self.metrics);
        let error = outcome.result.as_ref().err().map(|e| e.error_type.clone());
        metrics.batches.push(&shard, &outcome.request_id, now, seqs, error);
        let result = core.complete(lane, outcome, &self.settings, now, metrics.shard(&shard));
        metrics.last_processing_result = result.to_string();
    }

    /// The next time [`MappingCore::poll`] may have something to do without a
    /// new record or outcome.
    pub fn deadline(&self, now: u64) -> Option<u64> {
        self.active.values().filter_map(|s| s.deadline(&self.settings, now)).min()
    }

    /// The shards being consumed.
    pub fn active_shards(&self) -> Vec<String> {
        self.active.keys().cloned().collect()
    }

    /// Jobs started and not completed.
    pub fn running(&self) -> usize {
        self.jobs.len()
    }

    /// Whether some shard has a job running.
    pub fn busy(&self) -> bool {
        self.active.values().any(ShardCore::busy)
    }
}

/// Reads into `shard` what it has room for.
fn fill(shard: &mut ShardCore, src: &dyn RecordSource, s: &Settings, now: u64, m: &mut super::metrics::ShardMetrics) {
    while let Some(limit) = shard.wants_records(s) {
        match src.read(&shard.id, shard.read_pos(), limit) {
            Ok(page) => {
                let stop = page.records.is_empty() || page.next.is_none();
                shard.push(page, s, now, m);
                if stop {
                    break;
                }
            }
            Err(ReadError::Trimmed) => match src.position(&shard.id, false) {
                Ok(horizon) if horizon > shard.read_pos() => {
                    tracing::warn!(
                        shard = %shard.id, from = shard.read_pos(), to = horizon,
                        "records trimmed by retention before delivery: skipped"
                    );
                    shard.skip_to(horizon);
                }
                _ => break,
            },
            Err(ReadError::Gone) => {
                shard.mark_drained();
                break;
            }
            Err(ReadError::Pending) => break,
            Err(ReadError::Failed(e)) => {
                tracing::warn!(shard = %shard.id, error = %e, "stream read failed");
                break;
            }
        }
    }
}
