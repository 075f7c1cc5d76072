//! The delivery engine in the server: one task per enabled mapping drives its
//! [`MappingCore`], woken by the store (a commit to one of its shards, a
//! change of the shard layout), by a finished invocation, or by a deadline
//! (batching window, retry backoff, window end). A one-second timeout on the
//! wait is only a safety net.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidepool_store::Store;
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::clock::{Clock, SystemClock};
use super::config::{ConfigError, MappingConfig};
use super::core::{MappingCore, Settings};
use super::invoker::{InvokeOutcome, InvokeRequest, Invoker};
use super::lease::{LeaseError, Leases, MAX_EFFECT_ITEMS, TRANSACT_ACTION};
use super::ledger::{Ledger, LedgerError, StoreLedger};
use super::metrics::MappingMetrics;
use super::source::{RecordSource, StoreSource};

/// The longest a mapping task waits without being woken: a safety net, not
/// the delivery path.
const FALLBACK_WAKE: Duration = Duration::from_secs(1);
/// First wait before a mapping restarts after a failed commit; doubled per
/// failure up to [`MAX_RESTART_BACKOFF`].
const RESTART_BACKOFF: Duration = Duration::from_millis(100);
const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(30);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs every event source mapping of a store.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    region: String,
    clock: Arc<dyn Clock>,
    ledger: Arc<dyn Ledger>,
    mappings: tokio::sync::Mutex<HashMap<String, Running>>,
    metrics: Mutex<HashMap<String, Arc<Mutex<MappingMetrics>>>>,
    /// The leases of running workers' mappings, apart from `mappings`
    /// (whose lock is held while a mapping stops), for views that must not
    /// wait.
    leases: Mutex<HashMap<String, Arc<Leases>>>,
}

struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    /// [`Ctx::cancel`].
    cancel: Arc<std::sync::atomic::AtomicBool>,
}

/// A mapping's metrics are kept in the store's system entries under this
/// prefix and its UUID, so its counters and last processing result
/// survive a restart.
const METRICS_PREFIX: &[u8] = b"mmet/";

/// How often a mapping's metrics are written to the store while they
/// change: after a `kill -9` the counters may miss this much of the last
/// activity (its records are delivered again, and counted again, anyway).
const METRICS_SAVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

fn metrics_key(uuid: &str) -> Vec<u8> {
    [METRICS_PREFIX, uuid.as_bytes()].concat()
}

/// Mapping `uuid`'s saved metrics, or empty ones.
fn load_metrics(store: &Store, uuid: &str) -> MappingMetrics {
    let mut m = read_metrics(store, uuid);
    m.at_load = m.shards.clone();
    m
}

fn read_metrics(store: &Store, uuid: &str) -> MappingMetrics {
    match store.sys_get(&metrics_key(uuid)) {
        Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(mapping = uuid, error = %e, "unreadable saved metrics; counting from zero");
            MappingMetrics::new(uuid)
        }),
        Ok(None) => MappingMetrics::new(uuid),
        Err(e) => {
            tracing::warn!(mapping = uuid, error = %e, "saved metrics not read; counting from zero");
            MappingMetrics::new(uuid)
        }
    }
}

/// Writes the mapping's metrics to the store.
async fn save_metrics(ctx: &Ctx) {
    ctx.metrics_dirty.store(false, std::sync::atomic::Ordering::Relaxed);
    let snapshot = lock(&ctx.metrics).clone();
    let Ok(json) = serde_json::to_vec(&snapshot) else { return };
    let (store, key) = (ctx.store.clone(), metrics_key(&ctx.uuid));
    match tokio::task::spawn_blocking(move || store.sys_write(vec![(key, Some(json))])).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "mapping metrics not saved"),
        Err(e) => tracing::debug!(error = %e, "mapping metrics not saved"),
    }
}

/// Saves the metrics every [`METRICS_SAVE_INTERVAL`] while they change.
async fn save_metrics_while_running(ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(METRICS_SAVE_INTERVAL) => {}
        }
        if ctx.metrics_dirty.load(std::sync::atomic::Ordering::Relaxed) {
            save_metrics(&ctx).await;
        }
    }
}

/// What one mapping task needs.
struct Ctx {
    store: Store,
    /// The metrics changed since they were last saved.
    metrics_dirty: std::sync::atomic::AtomicBool,
    uuid: String,
    settings: Settings,
    source: Arc<dyn RecordSource>,
    invoker: Arc<dyn Invoker>,
    clock: Arc<dyn Clock>,
    ledger: Arc<dyn Ledger>,
    metrics: Arc<Mutex<MappingMetrics>>,
    /// A worker's leases of the stream's shards: only the shards held are
    /// delivered, and their checkpoints live in the lease table.
    leases: Option<Arc<Leases>>,
    /// Set when the engine shuts down: the invocations under way end (as
    /// timed out) rather than run on unchecked beside whoever takes the
    /// shards next.
    cancel: Arc<std::sync::atomic::AtomicBool>,
}

impl Engine {
    /// An engine over `store`, naming `region` in records, on the system clock,
    /// keeping checkpoints in the store.
    pub fn new(store: Store, region: impl Into<String>) -> Engine {
        let ledger = Arc::new(StoreLedger::new(store.clone()));
        Engine::with_parts(store, region, Arc::new(SystemClock), ledger)
    }

    /// An engine with its own clock and ledger.
    pub fn with_parts(
        store: Store,
        region: impl Into<String>,
        clock: Arc<dyn Clock>,
        ledger: Arc<dyn Ledger>,
    ) -> Engine {
        Engine {
            inner: Arc::new(Inner {
                store,
                region: region.into(),
                clock,
                ledger,
                mappings: tokio::sync::Mutex::new(HashMap::new()),
                metrics: Mutex::new(HashMap::new()),
                leases: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Starts `mapping` (or restarts it with new parameters), delivering to
    /// `function`; a disabled mapping is stopped. Delivery resumes from the
    /// mapping's checkpoints either way. Must be called within a tokio
    /// runtime.
    pub async fn upsert(&self, mapping: MappingConfig, function: Arc<dyn Invoker>) -> Result<(), ConfigError> {
        let source = StoreSource::new(self.inner.store.clone(), &mapping.event_source_arn, &self.inner.region)
            .ok_or_else(|| ConfigError::invalid(format!("Unrecognized event source: {}", mapping.event_source_arn)))?;
        self.upsert_from(mapping, function, Arc::new(source)).await
    }

    /// [`Engine::upsert`] with the mapping's records read from `source`
    /// (another engine's stream, say) instead of the store's stream its ARN
    /// names; checkpoints and metrics stay in this engine's ledger and store.
    pub async fn upsert_from(
        &self,
        mapping: MappingConfig,
        function: Arc<dyn Invoker>,
        source: Arc<dyn RecordSource>,
    ) -> Result<(), ConfigError> {
        self.start(mapping, function, source, None).await
    }

    /// [`Engine::upsert_from`] for a worker of a fleet: only the shards whose
    /// leases it holds in `leases` are delivered, from the checkpoints kept
    /// there (destination records and metrics stay in this engine's store).
    pub async fn upsert_leased(
        &self,
        mapping: MappingConfig,
        function: Arc<dyn Invoker>,
        source: Arc<dyn RecordSource>,
        leases: Arc<Leases>,
    ) -> Result<(), ConfigError> {
        self.start(mapping, function, source, Some(leases)).await
    }

    async fn start(
        &self,
        mapping: MappingConfig,
        function: Arc<dyn Invoker>,
        source: Arc<dyn RecordSource>,
        leases: Option<Arc<Leases>>,
    ) -> Result<(), ConfigError> {
        let settings = Settings::new(&mapping, &self.inner.region)?;
        let mut mappings = self.inner.mappings.lock().await;
        if let Some(old) = mappings.remove(&mapping.uuid) {
            lock(&self.inner.leases).remove(&mapping.uuid);
            stop(old).await;
        }
        let metrics = lock(&self.inner.metrics)
            .entry(mapping.uuid.clone())
            .or_insert_with(|| Arc::new(Mutex::new(load_metrics(&self.inner.store, &mapping.uuid))))
            .clone();
        if !mapping.enabled {
            tracing::info!(mapping = %mapping.uuid, "mapping disabled");
            return Ok(());
        }
        let lease_handle = leases.clone();
        let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ctx = Arc::new(Ctx {
            store: self.inner.store.clone(),
            metrics_dirty: std::sync::atomic::AtomicBool::new(false),
            uuid: mapping.uuid.clone(),
            settings,
            source,
            invoker: function,
            clock: self.inner.clock.clone(),
            ledger: self.inner.ledger.clone(),
            metrics,
            leases,
            cancel: cancel.clone(),
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        tracing::info!(mapping = %mapping.uuid, function = %mapping.function_name, source = %mapping.event_source_arn, "mapping enabled");
        let task = tokio::spawn(run(ctx, stop_rx));
        match lease_handle {
            Some(l) => lock(&self.inner.leases).insert(mapping.uuid.clone(), l),
            None => lock(&self.inner.leases).remove(&mapping.uuid),
        };
        mappings.insert(mapping.uuid, Running { stop: stop_tx, task, cancel });
        Ok(())
    }

    /// Stops mapping `uuid` and forgets its checkpoints and metrics. Whether
    /// it was running.
    pub async fn remove(&self, uuid: &str) -> Result<bool, LedgerError> {
        let running = self.inner.mappings.lock().await.remove(uuid);
        lock(&self.inner.leases).remove(uuid);
        let was = running.is_some();
        if let Some(r) = running {
            stop(r).await;
        }
        lock(&self.inner.metrics).remove(uuid);
        let ledger = self.inner.ledger.clone();
        let (id, store) = (uuid.to_string(), self.inner.store.clone());
        tokio::task::spawn_blocking(move || {
            ledger.remove(&id)?;
            store.sys_write(vec![(metrics_key(&id), None)]).map_err(|e| LedgerError::Storage(e.to_string()))
        })
        .await
        .map_err(|e| LedgerError::Storage(e.to_string()))??;
        Ok(was)
    }

    /// A snapshot of mapping `uuid`'s metrics (kept while it is disabled).
    pub fn metrics(&self, uuid: &str) -> Option<MappingMetrics> {
        lock(&self.inner.metrics).get(uuid).map(|m| lock(m).snapshot(self.inner.clock.now_ms()))
    }

    /// The batches of mapping `uuid` lately invoked that held record `seq`
    /// of shard `shard`, oldest first.
    pub fn batches_with(&self, uuid: &str, shard: &str, seq: super::source::Seq) -> Vec<super::trace::TracedBatch> {
        let log = lock(&self.inner.metrics).get(uuid).map(|m| lock(m).batches.clone());
        log.map(|l| l.containing(shard, seq)).unwrap_or_default()
    }

    /// The leases of mapping `uuid` (a worker's, while it runs).
    pub fn leases(&self, uuid: &str) -> Option<Arc<Leases>> {
        lock(&self.inner.leases).get(uuid).cloned()
    }

    /// Whether mapping `uuid` has a running delivery task.
    pub async fn is_running(&self, uuid: &str) -> bool {
        self.inner.mappings.lock().await.get(uuid).is_some_and(|r| !r.task.is_finished())
    }

    /// Stops every mapping (the server is stopping: SIGTERM or Ctrl-C).
    /// Invocations under way are interrupted, as their timeout would
    /// interrupt them: their results would not be checkpointed (they are
    /// delivered again), and a worker's shards go to another worker at
    /// once, which must not run the same batch beside them, as Lambda runs
    /// one batch of a shard at a time. A mapping disabled or deleted lets
    /// its invocations finish (`remove`).
    pub async fn shutdown(&self) {
        let all: Vec<Running> = self.inner.mappings.lock().await.drain().map(|(_, r)| r).collect();
        lock(&self.inner.leases).clear();
        for r in &all {
            r.cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        for r in all {
            stop(r).await;
        }
    }
}

async fn stop(r: Running) {
    let _ = r.stop.send(true);
    if let Err(e) = r.task.await
        && e.is_panic()
    {
        tracing::error!(error = %e, "mapping task panicked");
    }
}

/// The mapping task: drives a core until stopped, rebuilding it from the
/// ledger after a failed commit.
#[tracing::instrument(skip_all, fields(mapping = %ctx.uuid))]
async fn run(ctx: Arc<Ctx>, stop: watch::Receiver<bool>) {
    let saver = tokio::spawn(save_metrics_while_running(ctx.clone(), stop.clone()));
    // The leases stop after delivery has (its last checkpoints written),
    // then are handed back.
    let (lease_stop, lease_stopped) = watch::channel(false);
    let leases = ctx.leases.clone().map(|l| tokio::spawn(l.run(ctx.source.clone(), lease_stopped)));
    deliver(&ctx, stop).await;
    lock(&ctx.metrics).source_problem = None;
    let _ = lease_stop.send(true);
    if let Some(l) = leases {
        let _ = l.await;
    }
    // The saver has seen the stop too; waited for, so that no save of its
    // lands after the last one (or after a removal deleted the metrics).
    let _ = saver.await;
    save_metrics(&ctx).await;
}

async fn deliver(ctx: &Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    let mut backoff = RESTART_BACKOFF;
    loop {
        if *stop.borrow() {
            return;
        }
        let ledger = ctx.ledger.clone();
        let uuid = ctx.uuid.clone();
        let leased = ctx.leases.is_some();
        // A worker's checkpoints come with its leases.
        let loaded = tokio::task::spawn_blocking(move || {
            if leased {
                Ok(super::ledger::LedgerState { started: true, ..Default::default() })
            } else {
                ledger.load(&uuid)
            }
        })
        .await;
        let error = match loaded {
            Ok(Ok(state)) => {
                let mut core = MappingCore::new(ctx.settings.clone(), state, ctx.metrics.clone());
                match drive(ctx, &mut core, &mut stop).await {
                    Ok(()) => return,
                    Err(e) => e,
                }
            }
            Ok(Err(e)) => e,
            Err(e) => LedgerError::Storage(e.to_string()),
        };
        if let LedgerError::Conflict(_) = error {
            // Expected under contention: the batches are delivered again and
            // see the writes they raced with.
            tracing::warn!(error = %error, "exactly-once writes conflicted; delivering again from the checkpoints");
            tokio::select! {
                _ = stop.changed() => return,
                _ = tokio::time::sleep(RESTART_BACKOFF) => {}
            }
            continue;
        }
        tracing::error!(error = %error, retry_in = ?backoff, "mapping delivery stopped; restarting from its checkpoints");
        lock(&ctx.metrics).last_processing_result = format!("PROBLEM: {error}");
        save_metrics(ctx).await;
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_RESTART_BACKOFF);
    }
}

/// Commits `commit` durably (in parts when it carries several shards'
/// exactly-once effects) and records it in the metrics.
async fn commit_all(ctx: &Ctx, mut commit: super::ledger::Commit) -> Result<(), LedgerError> {
    if let Some(leases) = &ctx.leases {
        // Destination records first, in this engine's store, then each
        // checkpoint under its lease: a crash between them describes a batch
        // twice, never loses one. A checkpoint of a lease lost meanwhile is
        // not written; its shard is dropped at the next look at the leases.
        let checkpoints = std::mem::take(&mut commit.checkpoints);
        let failures = super::ledger::Commit {
            failures: std::mem::take(&mut commit.failures),
            dropped: std::mem::take(&mut commit.dropped),
            ..Default::default()
        };
        let (ledger, uuid) = (ctx.ledger.clone(), ctx.uuid.clone());
        let failures = tokio::task::spawn_blocking(move || ledger.commit(&uuid, &failures).map(|()| failures))
            .await
            .map_err(|e| LedgerError::Storage(e.to_string()))??;
        lock(&ctx.metrics).record_commit(&failures);
        let mut effects = lease_effects(std::mem::take(&mut commit.effects));
        let mut refused = None;
        // One checkpoint per shard, its last, which every write of the
        // shard in this commit goes with: an earlier one failing could
        // otherwise leave a later one to pass its writes by.
        let mut last: Vec<(String, super::ledger::ShardCheckpoint)> = Vec::new();
        for (shard, cp) in &checkpoints {
            match last.iter_mut().find(|(s, _)| s == shard) {
                Some(entry) => entry.1 = cp.clone(),
                None => last.push((shard.clone(), cp.clone())),
            }
        }
        // The checkpoints written: the metrics show those alone.
        let mut written = Vec::new();
        for (shard, cp) in &last {
            let writes = effects.remove(shard).unwrap_or_else(|| Ok(Vec::new()));
            let writes = match writes {
                Ok(w) => w,
                Err(e) => {
                    // Not one transaction's worth: delivered again, as a
                    // conflict is (the checkpoint stays where it was).
                    tracing::warn!(shard, error = %e, "exactly-once writes not committed; the shard's batches are delivered again");
                    leases.drop_shard(shard);
                    continue;
                }
            };
            // A checkpoint not written (its lease lost, its writes in
            // conflict, or the table not answering) drops its shard, and
            // only it: it starts again from its last checkpoint, here or on
            // another worker.
            match leases.checkpoint_with(shard, cp, &writes).await {
                Ok(()) => written.push((shard.clone(), cp.clone())),
                Err(e @ (LeaseError::Unsupported(_) | LeaseError::Rejected(_))) => {
                    refused.get_or_insert(e);
                }
                Err(e) => tracing::debug!(shard, error = %e, "checkpoint not written under the lease"),
            }
        }
        // Writes whose records no checkpoint of this commit passes: not
        // expected (a batch's checkpoint comes with its writes); delivered
        // again rather than lost.
        for shard in effects.keys() {
            tracing::error!(
                shard,
                "exactly-once writes without their checkpoint; the shard's batches are delivered again"
            );
            leases.drop_shard(shard);
        }
        lock(&ctx.metrics).record_commit(&super::ledger::Commit {
            checkpoints: written,
            forget: commit.forget,
            ..Default::default()
        });
        ctx.metrics_dirty.store(true, std::sync::atomic::Ordering::Relaxed);
        // The source cannot take this mapping's writes: delivery stops with a
        // problem and goes on from the leases' checkpoints after a while.
        return match refused {
            Some(e) => Err(LedgerError::Storage(e.to_string())),
            None => Ok(()),
        };
    }
    for part in commit.split_by_shard() {
        let ledger = ctx.ledger.clone();
        let uuid = ctx.uuid.clone();
        let committed = tokio::task::spawn_blocking(move || ledger.commit(&uuid, &part).map(|()| part)).await;
        match committed {
            Ok(Ok(part)) => lock(&ctx.metrics).record_commit(&part),
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(LedgerError::Storage(e.to_string())),
        }
    }
    ctx.metrics_dirty.store(true, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// A worker's exactly-once writes per shard, as `TransactWriteItems`
/// actions for [`Leases::checkpoint_with`]: an error when they are not one
/// transaction's worth (more than [`MAX_EFFECT_ITEMS`] actions, two on one
/// item, or a write that is not such an action).
fn lease_effects(effects: Vec<super::ledger::Effects>) -> HashMap<String, Result<Vec<serde_json::Value>, String>> {
    let mut out: HashMap<String, Result<Vec<serde_json::Value>, String>> = HashMap::new();
    let mut items: HashMap<String, HashSet<String>> = HashMap::new();
    for e in effects {
        let seen = items.entry(e.shard.clone()).or_default();
        let entry = out.entry(e.shard).or_insert_with(|| Ok(Vec::new()));
        let mut failed = None;
        if let Ok(actions) = entry {
            for w in &e.writes {
                if let Err(why) = push_action(actions, seen, w) {
                    failed = Some(why);
                    break;
                }
            }
        }
        if let Some(why) = failed {
            *entry = Err(why);
        }
    }
    out
}

/// Adds write `w` to one shard's `actions`, unless it is not an action, it
/// names an item already written (`seen`), or there is no room.
fn push_action(
    actions: &mut Vec<serde_json::Value>,
    seen: &mut HashSet<String>,
    w: &crate::bridge::DeferredCall,
) -> Result<(), String> {
    let action = match serde_json::from_str::<serde_json::Value>(&w.request_json) {
        Ok(a) if w.operation == TRANSACT_ACTION => a,
        _ => return Err(format!("{} is not a transaction action", w.operation)),
    };
    // The item an action names (a put has no `Key` member), as the bridge
    // names it.
    if !seen.insert(w.outcome.clone()) {
        return Err("two invocations' writes to one item in one commit".into());
    }
    if actions.len() >= MAX_EFFECT_ITEMS {
        return Err(format!("more than {MAX_EFFECT_ITEMS} items in one commit"));
    }
    actions.push(action);
    Ok(())
}

async fn drive(ctx: &Ctx, core: &mut MappingCore, stop: &mut watch::Receiver<bool>) -> Result<(), LedgerError> {
    let notify = Arc::new(Notify::new());
    let mut watchers: HashMap<String, JoinHandle<()>> = HashMap::new();
    let mut layout_watch: Option<JoinHandle<()>> = None;
    let mut inflight: JoinSet<InvokeOutcome> = JoinSet::new();
    let mut job_of: HashMap<tokio::task::Id, u64> = HashMap::new();
    let mut lease_generation = 0;
    if let Some(l) = &ctx.leases {
        l.subscribe(notify.clone());
    }
    let result = loop {
        if *stop.borrow() {
            break Ok(());
        }
        show_source_problem(ctx);
        sync_leases(ctx, core, &mut lease_generation);
        if layout_watch.as_ref().is_none_or(|h| h.is_finished())
            && let Some(h) = ctx.source.watch_layout(notify.clone())
        {
            layout_watch = Some(h);
        }
        let now = ctx.clock.now_ms();
        let step = core.poll(ctx.source.as_ref(), now);
        if let Some(commit) = step.commit
            && let Err(e) = commit_all(ctx, commit).await
        {
            break Err(e);
        }
        let mut jobs = step.jobs;
        if ctx.leases.is_some() {
            // A lease lost while the checkpoints were written: its shard's
            // batches do not start.
            let dropped = sync_leases(ctx, core, &mut lease_generation);
            jobs.retain(|j| core.owns(&j.shard) && !dropped.contains(&j.shard));
        }
        for job in jobs {
            let invoker = ctx.invoker.clone();
            tracing::debug!(shard = %job.shard, records = job.seqs.len(), first = job.seqs.first(), "invoke");
            let request = InvokeRequest {
                event: job.event,
                chain_depth: job.chain_depth,
                defer_writes: ctx.settings.exactly_once,
                cancel: Some(ctx.cancel.clone()),
            };
            let handle = inflight.spawn(async move { invoker.invoke(request).await });
            job_of.insert(handle.id(), job.id);
        }
        let active = core.active_shards();
        watchers.retain(|id, h| {
            let keep = active.contains(id) && !h.is_finished();
            if !keep {
                h.abort();
            }
            keep
        });
        for id in active {
            if !watchers.contains_key(&id)
                && let Some(h) = ctx.source.watch_shard(&id, notify.clone())
            {
                watchers.insert(id, h);
            }
        }
        let wait = core
            .deadline(now)
            .map_or(FALLBACK_WAKE, |d| Duration::from_millis(d.saturating_sub(ctx.clock.now_ms())))
            .min(FALLBACK_WAKE);
        tokio::select! {
            changed = stop.changed() => {
                // The engine was dropped without a shutdown: stop too.
                if changed.is_err() {
                    break Ok(());
                }
            }
            Some(done) = inflight.join_next_with_id(), if !inflight.is_empty() => {
                let (task, outcome) = match done {
                    Ok((task, outcome)) => (task, outcome),
                    Err(e) => {
                        tracing::error!(error = %e, "invocation task failed");
                        let outcome = InvokeOutcome::failed(
                            uuid::Uuid::new_v4().to_string(),
                            "Runtime.ExitError",
                            format!("the invocation task failed: {e}"),
                        );
                        (e.id(), outcome)
                    }
                };
                if let Some(job) = job_of.remove(&task) {
                    core.complete(job, &outcome, ctx.clock.now_ms());
                }
            }
            _ = notify.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    };
    for (_, h) in watchers {
        h.abort();
    }
    if let Some(h) = layout_watch {
        h.abort();
    }
    result
}

/// Shows why the source (or the lease table in it) cannot be used, while
/// it cannot, as the mapping's `LastProcessingResult`.
fn show_source_problem(ctx: &Ctx) {
    let problem = ctx.source.problem().or_else(|| ctx.leases.as_ref().and_then(|l| l.problem()));
    let mut m = lock(&ctx.metrics);
    if m.source_problem != problem {
        match &problem {
            Some(p) => tracing::debug!(problem = %p, "the mapping's source cannot be used"),
            None => tracing::debug!("the mapping's source can be used again"),
        }
        m.set_source_problem(problem, ctx.clock.now_ms());
    }
}

/// Brings the core's shards in line with the leases held, if they changed.
/// The shards dropped (their planned jobs must not start, even if the shard
/// came back under a new take).
fn sync_leases(ctx: &Ctx, core: &mut MappingCore, generation: &mut u64) -> Vec<String> {
    let Some(leases) = &ctx.leases else { return Vec::new() };
    if !leases.changed_since(*generation) {
        return Vec::new();
    }
    let view = leases.view();
    *generation = view.generation;
    let dropped = core.sync_leases(&view);
    for shard in &dropped {
        ctx.source.release(shard);
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::DeferredCall;
    use crate::esm::ledger::Effects;

    fn action(item: &str) -> DeferredCall {
        DeferredCall {
            operation: TRANSACT_ACTION.into(),
            request_json: format!(r#"{{"Put":{{"TableName":"T","Item":{{"k":{{"S":"{item}"}}}}}}}}"#),
            chain_depth: 1,
            outcome: format!("T|{item}"),
            denied: Vec::new(),
        }
    }

    #[test]
    fn a_workers_writes_go_per_shard_as_one_transactions_actions() {
        let effects = vec![
            Effects { shard: "a".into(), writes: vec![action("1"), action("2")] },
            Effects { shard: "b".into(), writes: vec![action("1")] },
            // Another invocation of shard a: other items join its actions.
            Effects { shard: "a".into(), writes: vec![action("3")] },
        ];
        let out = lease_effects(effects);
        let a = out["a"].as_ref().unwrap();
        assert_eq!(a.iter().map(|x| x["Put"]["Item"]["k"]["S"].as_str().unwrap()).collect::<Vec<_>>(), ["1", "2", "3"]);
        assert_eq!(out["b"].as_ref().unwrap().len(), 1);
        // Two invocations' actions on one item cannot share a transaction.
        let twice = vec![
            Effects { shard: "a".into(), writes: vec![action("1")] },
            Effects { shard: "a".into(), writes: vec![action("1")] },
        ];
        assert!(lease_effects(twice)["a"].is_err());
        // Nor can more than the transaction takes, nor a call that is no action.
        let many = vec![Effects {
            shard: "a".into(),
            writes: (0..=MAX_EFFECT_ITEMS).map(|i| action(&i.to_string())).collect(),
        }];
        assert!(lease_effects(many)["a"].is_err());
        let call = DeferredCall { operation: "UpdateItem".into(), ..action("1") };
        assert!(lease_effects(vec![Effects { shard: "a".into(), writes: vec![call] }])["a"].is_err());
    }
}
