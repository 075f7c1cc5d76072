//! Cron schedules in the server: definitions persisted under `sched/<name>`
//! in the store's system entries, fired by the runtime's
//! [`Scheduler`] (whose state is under `cron/<name>`), declared in the
//! manifest's `[[schedule]]` section:
//!
//! ```toml
//! [[schedule]]
//! name = "nightly-report"          # 1-64 of A-Z a-z 0-9 . - _
//! function = "report"
//! expression = "cron(0 2 * * ? *)" # rate(...), cron(...), 5-field cron or cron-seconds(...)
//! enabled = true                   # optional
//! input = '{"kind": "nightly"}'    # optional: JSON text sent instead of the Scheduled Event
//! ```
//!
//! See [`tidepool_runtime::cron`] for the expressions, the event, retries and
//! the rule for fires missed while the server was down.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};

use anyhow::Context;
use serde::Deserialize;
use tidepool_runtime::cron::{
    CronError, CronSettings, RetryPolicy, ScheduleDef, ScheduleStatus, Scheduler, StoreCronLedger, Targets,
};
use tidepool_runtime::esm::{InvokeOutcome, InvokeRequest, Invoker, SystemClock};
use tidepool_store::Store;

use super::{Lambda, LambdaError};
use crate::dynamodb::{ACCOUNT_ID, App};

/// Schedule definitions live in the store's system entries under this prefix.
const SCHED_PREFIX: &[u8] = b"sched/";

/// A `[[schedule]]` of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDecl {
    pub name: String,
    pub function: String,
    pub expression: String,
    pub enabled: Option<bool>,
    pub input: Option<String>,
}

impl ScheduleDecl {
    fn def(&self) -> ScheduleDef {
        ScheduleDef {
            name: self.name.clone(),
            function: self.function.clone(),
            expression: self.expression.clone(),
            enabled: self.enabled.unwrap_or(true),
            input: self.input.clone(),
        }
    }
}

impl From<CronError> for LambdaError {
    fn from(e: CronError) -> Self {
        match e {
            CronError::Storage(m) => LambdaError::new("ServiceException", m),
            other => LambdaError::new("ValidationException", other.to_string()),
        }
    }
}

/// Fires through the server's Lambda, resolved at each fire (so logs and
/// function updates apply as to any invocation).
struct AppTargets {
    app: Weak<App>,
}

/// An invoker for a server that is gone or not started: every fire fails.
struct Unavailable;

impl Invoker for Unavailable {
    fn function_arn(&self) -> String {
        String::new()
    }

    fn invoke(&self, _request: InvokeRequest) -> tidepool_runtime::esm::InvokeFuture {
        Box::pin(async {
            InvokeOutcome::failed(uuid::Uuid::new_v4().to_string(), "ServiceException", "the server is not running")
        })
    }
}

impl Targets for AppTargets {
    fn invoker(&self, function: &str) -> Arc<dyn Invoker> {
        match self.app.upgrade() {
            Some(app) => match app.lambda.get() {
                Some(lambda) => lambda.invoker(function),
                None => Arc::new(Unavailable),
            },
            None => Arc::new(Unavailable),
        }
    }
}

/// The server's schedules.
pub struct Schedules {
    scheduler: Scheduler,
    store: Store,
    defs: Mutex<BTreeMap<String, ScheduleDef>>,
}

impl Schedules {
    /// Reads the persisted definitions; [`Schedules::start`] fires them.
    pub fn open(app: Weak<App>, store: &Store, region: &str) -> anyhow::Result<Schedules> {
        let mut defs = BTreeMap::new();
        for (_, v) in store.sys_scan(SCHED_PREFIX).context("read schedules")? {
            match serde_json::from_slice::<ScheduleDef>(&v) {
                Ok(d) => {
                    defs.insert(d.name.clone(), d);
                }
                Err(e) => tracing::error!(error = %e, "unreadable schedule skipped"),
            }
        }
        let settings =
            CronSettings { region: region.to_string(), account: ACCOUNT_ID.to_string(), retry: RetryPolicy::default() };
        let scheduler = Scheduler::new(
            settings,
            Arc::new(StoreCronLedger::new(store.clone())),
            Arc::new(SystemClock),
            Arc::new(AppTargets { app }),
        );
        Ok(Schedules { scheduler, store: store.clone(), defs: Mutex::new(defs) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ScheduleDef>> {
        self.defs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands every persisted schedule to the scheduler (missed fires are
    /// caught up per the restart rule) and starts it.
    pub async fn start(&self) {
        let all: Vec<ScheduleDef> = self.lock().values().cloned().collect();
        for def in all {
            let name = def.name.clone();
            if let Err(e) = self.scheduler.upsert(def).await {
                tracing::error!(schedule = %name, error = %e, "schedule not started");
            }
        }
        self.scheduler.start();
    }

    /// Stops firing; invocations under way finish unrecorded.
    pub async fn shutdown(&self) {
        self.scheduler.shutdown().await;
    }

    /// Creates or replaces schedule `def` (its function must exist).
    pub async fn put(&self, lambda: &Lambda, def: ScheduleDef) -> Result<ScheduleDef, LambdaError> {
        def.validate()?;
        // A schedule whose function is gone can still be disabled or deleted.
        if self.get(&def.name).ok().is_none_or(|(have, _)| have.function != def.function) {
            lambda.registry.get(&def.function)?;
        }
        let json = serde_json::to_vec(&def).map_err(|e| LambdaError::new("ServiceException", e.to_string()))?;
        let key = [SCHED_PREFIX, def.name.as_bytes()].concat();
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.sys_write(vec![(key, Some(json))]))
            .await
            .map_err(|e| LambdaError::new("ServiceException", e.to_string()))??;
        self.lock().insert(def.name.clone(), def.clone());
        self.scheduler.upsert(def.clone()).await?;
        Ok(def)
    }

    /// Deletes schedule `name` and its state.
    pub async fn delete(&self, name: &str) -> Result<ScheduleDef, LambdaError> {
        let def = self.get(name).map(|(d, _)| d)?;
        let key = [SCHED_PREFIX, name.as_bytes()].concat();
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.sys_write(vec![(key, None)]))
            .await
            .map_err(|e| LambdaError::new("ServiceException", e.to_string()))??;
        self.lock().remove(name);
        self.scheduler.remove(name).await?;
        Ok(def)
    }

    /// Schedule `name` and what it is doing.
    pub fn get(&self, name: &str) -> Result<(ScheduleDef, ScheduleStatus), LambdaError> {
        let def = self
            .lock()
            .get(name)
            .cloned()
            .ok_or_else(|| LambdaError::not_found(format!("Schedule {name} does not exist.")))?;
        Ok((def, self.scheduler.status(name).unwrap_or_default()))
    }

    /// Every schedule, by name.
    pub fn list(&self) -> Vec<(ScheduleDef, ScheduleStatus)> {
        let defs: Vec<ScheduleDef> = self.lock().values().cloned().collect();
        defs.into_iter()
            .map(|d| {
                let status = self.scheduler.status(&d.name).unwrap_or_default();
                (d, status)
            })
            .collect()
    }
}

/// A schedule as `GET /tidepool/schedules` shows it: EventBridge
/// Scheduler's names (`State` `ENABLED` or `DISABLED`), and what it has
/// done since the server started.
pub fn to_json(def: &ScheduleDef, status: &ScheduleStatus) -> serde_json::Value {
    let at = |ms: Option<u64>| ms.map(|ms| format!("{}Z", tidepool_store::format_timestamp_millis(ms)));
    serde_json::json!({
        "Name": def.name,
        "Function": def.function,
        "Expression": def.expression,
        "State": if def.enabled { "ENABLED" } else { "DISABLED" },
        "Input": def.input,
        "LastFire": at(status.last_fire_ms),
        "NextFire": at(status.next_fire_ms),
        "Pending": status.pending,
        "Succeeded": status.succeeded,
        "Failed": status.failed,
        "Coalesced": status.coalesced,
        "LastError": status.last_error,
    })
}

/// `PUT /tidepool/schedules/{name}`'s body applied to the schedule `have`
/// (if it exists): members left out keep their value, so
/// `{"State": "DISABLED"}` only disables. A new schedule needs `Function`
/// and `Expression`.
pub fn updated(
    name: &str,
    have: Option<ScheduleDef>,
    body: &serde_json::Map<String, serde_json::Value>,
) -> Result<ScheduleDef, LambdaError> {
    let text = |key: &str| -> Result<Option<String>, LambdaError> {
        match body.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(LambdaError::invalid(format!("{key} must be a string, not {other}"))),
        }
    };
    for key in body.keys() {
        if !["Function", "Expression", "State", "Input"].contains(&key.as_str()) {
            return Err(LambdaError::invalid(format!(
                "unknown member {key}: a schedule has Function, Expression, State and Input"
            )));
        }
    }
    let enabled = match text("State")?.as_deref() {
        None => None,
        Some("ENABLED") => Some(true),
        Some("DISABLED") => Some(false),
        Some(other) => return Err(LambdaError::invalid(format!("State {other} is not ENABLED or DISABLED"))),
    };
    let new = |key: &str| {
        text(key)?.ok_or_else(|| LambdaError::invalid(format!("schedule {name} does not exist: {key} is required")))
    };
    let mut def = match have {
        Some(def) => def,
        None => ScheduleDef {
            name: name.to_string(),
            function: new("Function")?,
            expression: new("Expression")?,
            enabled: true,
            input: None,
        },
    };
    if let Some(f) = text("Function")? {
        def.function = f;
    }
    if let Some(e) = text("Expression")? {
        def.expression = e;
    }
    if let Some(enabled) = enabled {
        def.enabled = enabled;
    }
    if body.contains_key("Input") {
        def.input = text("Input")?;
    }
    Ok(def)
}

/// Applies the manifest's schedules: creates missing ones and replaces those
/// that differ (with `dry`, only checks and says so); returns one line per
/// change. Blocking: call from a blocking
/// thread, with `rt` to drive the scheduler.
pub fn apply(
    lambda: &Lambda,
    decls: &[ScheduleDecl],
    rt: &tokio::runtime::Handle,
    dry: bool,
) -> Result<Vec<String>, LambdaError> {
    let mut changes = Vec::new();
    for decl in decls {
        let want = decl.def();
        let change = match lambda.schedules.get(&want.name) {
            Ok((have, _)) if have == want => continue,
            Ok(_) => "updated",
            Err(_) => "created",
        };
        if dry {
            want.validate()?;
        } else {
            rt.block_on(lambda.schedules.put(lambda, want))?;
        }
        changes.push(format!("{change} schedule {} ({} on {})", decl.name, decl.function, decl.expression));
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::super::manifest::Manifest;

    #[test]
    fn the_manifest_declares_schedules() {
        let m = Manifest::parse(
            r#"
            [[schedule]]
            name = "nightly"
            function = "report"
            expression = "cron(0 2 * * ? *)"

            [[schedule]]
            name = "tick"
            function = "report"
            expression = "rate(5 minutes)"
            enabled = false
            input = '{"kind":"tick"}'
            "#,
        )
        .unwrap();
        let defs: Vec<_> = m.schedules.iter().map(|d| d.def()).collect();
        assert_eq!((defs[0].enabled, defs[0].input.as_deref()), (true, None));
        assert_eq!((defs[1].enabled, defs[1].input.as_deref()), (false, Some(r#"{"kind":"tick"}"#)));
        assert!(defs.iter().all(|d| d.validate().is_ok()));
        assert!(
            Manifest::parse("[[schedule]]\nname = \"a\"\nfunction = \"f\"\nexpression = \"rate(1 hour)\"\nrate = 1")
                .is_err()
        );
    }
}
