//! The scheduler as a state machine that neither waits nor reads the clock:
//! [`CronCore::poll`] says which invocations to start at a given time,
//! [`CronCore::complete`] takes their outcome, [`CronCore::deadline`] says
//! when to poll next. The server drives it with tokio ([`super::Scheduler`]);
//! the tests drive it on virtual time.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::event::scheduled_event;
use super::expr::Expression;
use super::{CronError, MAX_PENDING_FIRES, MAX_SCHEDULES};

/// A schedule: run `function` on `expression`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScheduleDef {
    /// 1-64 characters of `A-Z a-z 0-9 . - _`, as EventBridge names rules.
    pub name: String,
    /// The function's name.
    pub function: String,
    /// `rate(...)`, `cron(...)`, `cron-seconds(...)` or 5-field cron.
    pub expression: String,
    /// A disabled schedule does not fire, and does not catch up when enabled again.
    #[serde(default = "enabled_default")]
    pub enabled: bool,
    /// Constant JSON text sent instead of the Scheduled Event (EventBridge's
    /// target `Input`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
}

fn enabled_default() -> bool {
    true
}

impl ScheduleDef {
    /// Checks the name and input and parses the expression.
    pub fn validate(&self) -> Result<Expression, CronError> {
        let bad = |reason: String| CronError::InvalidSchedule { name: self.name.clone(), reason };
        if self.name.is_empty()
            || self.name.len() > 64
            || !self.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(bad("a schedule name is 1-64 characters of A-Z a-z 0-9 . - _".into()));
        }
        if self.function.is_empty() {
            return Err(bad("the function is missing".into()));
        }
        if let Some(input) = &self.input {
            serde_json::from_str::<serde_json::Value>(input)
                .map_err(|e| bad(format!("the input is not valid JSON: {e}")))?;
        }
        Expression::parse(&self.expression)
    }
}

/// A schedule's persisted state (`cron/<name>` in the store's system entries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CronState {
    /// The expression the anchor belongs to.
    pub expression: String,
    pub enabled: bool,
    /// When the schedule started (or its expression last changed, or it was
    /// last enabled): a rate's fires count from here, and nothing before it
    /// is ever fired.
    pub anchor_ms: u64,
    /// The latest fire time whose invocation succeeded or ran out of retries,
    /// with every earlier fire finished too.
    pub last_fire_ms: Option<u64>,
}

/// How a failed invocation is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Invocations of one fire, the first included (Lambda's asynchronous
    /// invocation: 3, that is two retries).
    pub max_attempts: u32,
    /// The wait before the first retry, doubled for each further one.
    pub first_backoff_ms: u64,
    /// The longest wait between retries.
    pub max_backoff_ms: u64,
}

impl Default for RetryPolicy {
    /// Lambda's asynchronous invocation, through which EventBridge runs a
    /// function: two retries, about one and then two minutes apart.
    fn default() -> Self {
        RetryPolicy { max_attempts: 3, first_backoff_ms: 60_000, max_backoff_ms: 120_000 }
    }
}

impl RetryPolicy {
    fn backoff(&self, attempts: u32) -> u64 {
        let shift = attempts.saturating_sub(1).min(20);
        self.first_backoff_ms.saturating_mul(1 << shift).min(self.max_backoff_ms)
    }
}

/// What the scheduler is given.
#[derive(Debug, Clone)]
pub struct CronSettings {
    /// The region and account in the event and the rule ARN.
    pub region: String,
    pub account: String,
    pub retry: RetryPolicy,
}

/// One invocation to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fire {
    /// Hand back to [`CronCore::complete`].
    pub job: u64,
    pub schedule: String,
    pub function: String,
    /// The scheduled time (the event's `time`).
    pub fire_ms: u64,
    /// 1 for the first invocation of this fire, 2 for its first retry...
    pub attempt: u32,
    /// The event's `id`, the same for every attempt of a fire.
    pub event_id: String,
    /// The payload: the Scheduled Event, or the schedule's input.
    pub event: String,
}

/// What a schedule is doing, for the API and the logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleStatus {
    pub last_fire_ms: Option<u64>,
    pub next_fire_ms: Option<u64>,
    /// Fires started and not yet finished (in flight or waiting to retry).
    pub pending: usize,
    /// Fires whose invocation succeeded, since start.
    pub succeeded: u64,
    /// Fires that ran out of retries, since start.
    pub failed: u64,
    /// Fire times folded into a later one (after a restart, or while
    /// [`MAX_PENDING_FIRES`] were pending).
    pub coalesced: u64,
    /// The last function error.
    pub last_error: Option<String>,
}

struct Pending {
    event_id: String,
    attempts: u32,
    retry_at: u64,
    job: Option<u64>,
}

struct Entry {
    def: ScheduleDef,
    expr: Expression,
    state: CronState,
    next_due: Option<u64>,
    pending: BTreeMap<u64, Pending>,
    /// Finished fires above `state.last_fire_ms`, waiting for an earlier one.
    done: BTreeSet<u64>,
    status: ScheduleStatus,
}

/// Every schedule of a server, as a state machine.
pub struct CronCore {
    settings: CronSettings,
    entries: BTreeMap<String, Entry>,
    jobs: HashMap<u64, (String, u64)>,
    next_job: u64,
}

/// The first fire of a schedule starting (or restarting) at `now`: the next
/// fire after its last one, or, if that is already past, one fire for the
/// most recent past fire time (catch-up of at most one).
fn initial_due(expr: &Expression, state: &CronState, now: u64, status: &mut ScheduleStatus) -> Option<u64> {
    let from = state.last_fire_ms.unwrap_or(0).max(state.anchor_ms);
    let first = expr.next_after(from, state.anchor_ms)?;
    if first > now {
        return Some(first);
    }
    let latest = expr.latest_at_or_before(now, state.anchor_ms).unwrap_or(first).max(first);
    if latest > first {
        status.coalesced += 1;
    }
    Some(latest)
}

impl CronCore {
    pub fn new(settings: CronSettings) -> Self {
        CronCore { settings, entries: BTreeMap::new(), jobs: HashMap::new(), next_job: 0 }
    }

    /// Adds or replaces schedule `def` at `now`. `stored` is its persisted
    /// state, if any (read it before the first upsert after a start). Returns
    /// whether the state changed and should be persisted. Upserting the
    /// definition a schedule already has changes nothing.
    pub fn upsert(&mut self, def: ScheduleDef, stored: Option<CronState>, now: u64) -> Result<bool, CronError> {
        let expr = def.validate()?;
        if let Some(e) = self.entries.get(&def.name)
            && e.def == def
        {
            return Ok(false);
        }
        if !self.entries.contains_key(&def.name) && self.entries.len() >= MAX_SCHEDULES {
            return Err(CronError::InvalidSchedule {
                name: def.name.clone(),
                reason: format!("a server holds at most {MAX_SCHEDULES} schedules"),
            });
        }
        let old = self.entries.remove(&def.name);
        self.jobs.retain(|_, (n, _)| n != &def.name);
        let (mut state, mut changed, status) = match (old, stored) {
            (Some(e), _) => (e.state, false, e.status),
            (None, Some(s)) => (s, false, ScheduleStatus::default()),
            (None, None) => (
                CronState {
                    expression: def.expression.clone(),
                    enabled: def.enabled,
                    anchor_ms: now,
                    last_fire_ms: None,
                },
                true,
                ScheduleStatus::default(),
            ),
        };
        if state.expression != def.expression || (def.enabled && !state.enabled) {
            state.expression = def.expression.clone();
            state.anchor_ms = now;
            changed = true;
        }
        if state.enabled != def.enabled {
            state.enabled = def.enabled;
            changed = true;
        }
        let mut entry =
            Entry { def, expr, state, next_due: None, pending: BTreeMap::new(), done: BTreeSet::new(), status };
        if entry.state.enabled {
            entry.next_due = initial_due(&entry.expr, &entry.state, now, &mut entry.status);
        }
        entry.status.next_fire_ms = entry.next_due;
        entry.status.last_fire_ms = entry.state.last_fire_ms;
        entry.status.pending = 0;
        self.entries.insert(entry.def.name.clone(), entry);
        Ok(changed)
    }

    /// Forgets schedule `name` (its invocations in flight finish unrecorded).
    pub fn remove(&mut self, name: &str) -> bool {
        self.jobs.retain(|_, (n, _)| n != name);
        self.entries.remove(name).is_some()
    }

    /// The definition of schedule `name`.
    pub fn def(&self, name: &str) -> Option<&ScheduleDef> {
        self.entries.get(name).map(|e| &e.def)
    }

    /// The state of schedule `name`, to persist.
    pub fn state(&self, name: &str) -> Option<CronState> {
        self.entries.get(name).map(|e| e.state.clone())
    }

    pub fn status(&self, name: &str) -> Option<ScheduleStatus> {
        self.entries.get(name).map(|e| e.status.clone())
    }

    /// The invocations to start at `now`: fires that fell due and retries
    /// whose backoff ended.
    pub fn poll(&mut self, now: u64) -> Vec<Fire> {
        let mut fires = Vec::new();
        for (name, e) in &mut self.entries {
            if let Some(due) = e.next_due
                && due <= now
                && e.pending.len() < MAX_PENDING_FIRES
            {
                // Fire times that passed while the scheduler could not keep up fold into the latest.
                let mut fire = due;
                if e.expr.next_after(due, e.state.anchor_ms).is_some_and(|n| n <= now) {
                    fire = e.expr.latest_at_or_before(now, e.state.anchor_ms).unwrap_or(due).max(due);
                    e.status.coalesced += 1;
                    tracing::warn!(schedule = %name, due, fire, "fire times coalesced into the latest");
                }
                e.pending.insert(
                    fire,
                    Pending { event_id: uuid::Uuid::new_v4().to_string(), attempts: 0, retry_at: fire, job: None },
                );
                e.next_due = e.expr.next_after(fire, e.state.anchor_ms);
                e.status.next_fire_ms = e.next_due;
            }
            for (&fire_ms, p) in &mut e.pending {
                if p.job.is_some() || p.retry_at > now {
                    continue;
                }
                let job = self.next_job;
                self.next_job += 1;
                p.job = Some(job);
                self.jobs.insert(job, (name.clone(), fire_ms));
                let event = e.def.input.clone().unwrap_or_else(|| {
                    scheduled_event(&p.event_id, name, fire_ms, &self.settings.region, &self.settings.account)
                });
                fires.push(Fire {
                    job,
                    schedule: name.clone(),
                    function: e.def.function.clone(),
                    fire_ms,
                    attempt: p.attempts + 1,
                    event_id: p.event_id.clone(),
                    event,
                });
            }
            e.status.pending = e.pending.len();
        }
        fires
    }

    /// Records the outcome of `job` at `now` (`Err`: the function's error).
    /// Returns the schedule whose state changed and should be persisted.
    pub fn complete(&mut self, job: u64, outcome: Result<(), String>, now: u64) -> Option<String> {
        let (name, fire_ms) = self.jobs.remove(&job)?;
        let e = self.entries.get_mut(&name)?;
        let p = e.pending.get_mut(&fire_ms)?;
        if p.job != Some(job) {
            return None;
        }
        p.job = None;
        p.attempts += 1;
        match outcome {
            Ok(()) => e.status.succeeded += 1,
            Err(error) => {
                e.status.last_error = Some(error.clone());
                if p.attempts < self.settings.retry.max_attempts {
                    p.retry_at = now.saturating_add(self.settings.retry.backoff(p.attempts));
                    tracing::warn!(schedule = %name, fire_ms, attempt = p.attempts, %error, retry_at = p.retry_at, "scheduled invocation failed; retrying");
                    return None;
                }
                e.status.failed += 1;
                tracing::warn!(schedule = %name, fire_ms, attempts = p.attempts, %error, "scheduled invocation failed; retries exhausted, fire dropped");
            }
        }
        e.pending.remove(&fire_ms);
        e.status.pending = e.pending.len();
        e.done.insert(fire_ms);
        // The persisted last fire only passes fires that are all finished.
        let low = e.pending.keys().next().copied();
        let finished: Vec<u64> = e.done.iter().copied().take_while(|t| low.is_none_or(|l| *t < l)).collect();
        let last = finished.last().copied()?;
        for t in &finished {
            e.done.remove(t);
        }
        if e.state.last_fire_ms.is_some_and(|l| l >= last) {
            return None;
        }
        e.state.last_fire_ms = Some(last);
        e.status.last_fire_ms = Some(last);
        Some(name)
    }

    /// When to poll next: the earliest due fire or retry.
    pub fn deadline(&self) -> Option<u64> {
        self.entries
            .values()
            .flat_map(|e| {
                let due = e.next_due.filter(|_| e.pending.len() < MAX_PENDING_FIRES);
                due.into_iter().chain(e.pending.values().filter(|p| p.job.is_none()).map(|p| p.retry_at))
            })
            .min()
    }

    /// The names of every schedule.
    pub fn names(&self) -> Vec<String> {
        self.entries.keys().cloned().collect()
    }
}
