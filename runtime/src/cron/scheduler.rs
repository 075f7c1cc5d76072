//! The scheduler in the server: one tokio task drives the [`CronCore`], woken
//! by the earliest deadline, a finished invocation, or a change of schedules.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::CronError;
use super::core::{CronCore, CronSettings, ScheduleDef, ScheduleStatus};
use super::ledger::CronLedger;
use crate::esm::{Clock, InvokeRequest, Invoker};

/// The longest the task waits without being woken: a safety net (and the
/// bound on how late a fire is after the system clock jumps).
const FALLBACK_WAKE: Duration = Duration::from_secs(1);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Resolves a schedule's function at each fire, so a schedule follows code
/// and configuration updates.
pub trait Targets: Send + Sync {
    fn invoker(&self, function: &str) -> Arc<dyn Invoker>;
}

struct Shared {
    core: Mutex<CronCore>,
    ledger: Arc<dyn CronLedger>,
    clock: Arc<dyn Clock>,
    targets: Arc<dyn Targets>,
    wake: Notify,
    /// Serializes writes of state, each of the latest state, so an older
    /// state never overwrites a newer one.
    persist: tokio::sync::Mutex<()>,
}

/// Runs every schedule of a server. Dropping it stops the task.
pub struct Scheduler {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Scheduler {
    pub fn new(
        settings: CronSettings,
        ledger: Arc<dyn CronLedger>,
        clock: Arc<dyn Clock>,
        targets: Arc<dyn Targets>,
    ) -> Scheduler {
        Scheduler {
            shared: Arc::new(Shared {
                core: Mutex::new(CronCore::new(settings)),
                ledger,
                clock,
                targets,
                wake: Notify::new(),
                persist: tokio::sync::Mutex::new(()),
            }),
            stop: watch::channel(false).0,
            task: Mutex::new(None),
        }
    }

    /// Starts the task that fires schedules (once; later calls do nothing).
    /// Must be called within a tokio runtime.
    pub fn start(&self) {
        let mut task = lock(&self.task);
        if task.is_none() {
            *task = Some(tokio::spawn(run(self.shared.clone(), self.stop.subscribe())));
        }
    }

    /// Stops the task; invocations under way finish in the background,
    /// unrecorded (a restart fires them again under the catch-up rule).
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let task = lock(&self.task).take();
        if let Some(t) = task
            && let Err(e) = t.await
            && e.is_panic()
        {
            tracing::error!(error = %e, "scheduler task panicked");
        }
    }

    /// Adds or replaces schedule `def`, with its persisted state if it has
    /// one (the restart rule applies to it).
    pub async fn upsert(&self, def: ScheduleDef) -> Result<(), CronError> {
        def.validate()?;
        let known = lock(&self.shared.core).def(&def.name).is_some();
        let stored = if known {
            None
        } else {
            let (ledger, name) = (self.shared.ledger.clone(), def.name.clone());
            tokio::task::spawn_blocking(move || ledger.load(&name))
                .await
                .map_err(|e| CronError::Storage(e.to_string()))??
        };
        let name = def.name.clone();
        let now = self.shared.clock.now_ms();
        let changed = lock(&self.shared.core).upsert(def, stored, now)?;
        if changed {
            persist(&self.shared, &name).await?;
        }
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Removes schedule `name` and its state. Whether it existed.
    pub async fn remove(&self, name: &str) -> Result<bool, CronError> {
        let _guard = self.shared.persist.lock().await;
        let existed = lock(&self.shared.core).remove(name);
        let (ledger, n) = (self.shared.ledger.clone(), name.to_string());
        tokio::task::spawn_blocking(move || ledger.remove(&n))
            .await
            .map_err(|e| CronError::Storage(e.to_string()))??;
        self.shared.wake.notify_one();
        Ok(existed)
    }

    pub fn def(&self, name: &str) -> Option<ScheduleDef> {
        lock(&self.shared.core).def(name).cloned()
    }

    pub fn status(&self, name: &str) -> Option<ScheduleStatus> {
        lock(&self.shared.core).status(name)
    }

    pub fn names(&self) -> Vec<String> {
        lock(&self.shared.core).names()
    }
}

async fn persist(shared: &Shared, name: &str) -> Result<(), CronError> {
    let _guard = shared.persist.lock().await;
    let Some(state) = lock(&shared.core).state(name) else { return Ok(()) };
    let (ledger, n) = (shared.ledger.clone(), name.to_string());
    tokio::task::spawn_blocking(move || ledger.save(&n, &state)).await.map_err(|e| CronError::Storage(e.to_string()))?
}

#[tracing::instrument(skip_all)]
async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut inflight: JoinSet<Result<(), String>> = JoinSet::new();
    let mut job_of: HashMap<tokio::task::Id, u64> = HashMap::new();
    loop {
        if *stop.borrow() {
            return;
        }
        let now = shared.clock.now_ms();
        let fires = lock(&shared.core).poll(now);
        for fire in fires {
            tracing::debug!(schedule = %fire.schedule, function = %fire.function, fire_ms = fire.fire_ms, attempt = fire.attempt, "fire");
            let invoker = shared.targets.invoker(&fire.function);
            let request = InvokeRequest { event: fire.event, chain_depth: 0, defer_writes: false, cancel: None };
            let handle = inflight.spawn(async move {
                let outcome = invoker.invoke(request).await;
                // Kept as the schedule's last error and logged: a bounded prefix, never a payload.
                outcome.result.map(drop).map_err(|e| {
                    let message = crate::text::Bounded(&e.message, crate::limits::MAX_LOGGED_TEXT_BYTES);
                    format!("{}: {message}", crate::text::Bounded(&e.error_type, crate::limits::MAX_LOGGED_TEXT_BYTES))
                })
            });
            job_of.insert(handle.id(), fire.job);
        }
        let deadline = lock(&shared.core).deadline();
        let wait = deadline
            .map_or(FALLBACK_WAKE, |d| Duration::from_millis(d.saturating_sub(shared.clock.now_ms())))
            .min(FALLBACK_WAKE);
        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            Some(done) = inflight.join_next_with_id(), if !inflight.is_empty() => {
                let (task, result) = match done {
                    Ok((task, result)) => (task, result),
                    Err(e) => (e.id(), Err(format!("Runtime.ExitError: the invocation task failed: {e}"))),
                };
                let Some(job) = job_of.remove(&task) else { continue };
                let changed = lock(&shared.core).complete(job, result, shared.clock.now_ms());
                if let Some(name) = changed
                    && let Err(e) = persist(&shared, &name).await
                {
                    // The state stays in memory and goes out with the next fire's write.
                    tracing::error!(schedule = %name, error = %e, "schedule state not persisted");
                }
            }
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
