//! Asynchronous invocations (`InvocationType: Event`), as Lambda runs them:
//! accepted with a 202, run at least once when the function can take
//! them, retried twice after a function error, dropped past the maximum
//! event age (six hours); a function's event invoke config
//! (`invoke_config.rs`) changes both and names where the outcome goes.
//!
//! The queue is durable: an accepted event is written to the store's
//! system entries (`aq/<queued ms>/<request id>`, with its attempts so
//! far) before the 202, and removed once it is done with (it succeeded,
//! ran out of retries or of age, or its function is gone). A server that
//! restarts, after `kill -9` too, runs what was left ([`EventQueue::resume`],
//! read in the order accepted and run concurrently, as new events are),
//! with its attempts, its age and its next retry time carried over; an
//! invocation under way at the crash runs again (at least once, as on
//! Lambda). A server whose disk is full answers new events with a 429, and
//! an event that finished while writes were paused may run again after the
//! server restarts itself. An `--in-memory` server starts empty.
//!
//! Bounded in events ([`MAX_QUEUED_EVENTS`]) and in bytes
//! ([`MAX_QUEUED_EVENT_BYTES`]); past either, an `Event` Invoke is a 429 to
//! retry.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tidepool_runtime::limits::MAX_LOGGED_TEXT_BYTES;
use tidepool_runtime::text::Bounded;
use tidepool_runtime::{Invocation, InvokeOptions};
use tidepool_store::now_ms;

use super::budget::{ByteBudget, Reservation};
use super::{LambdaError, invoke_config};
use crate::dynamodb::App;

/// Lambda retries an asynchronous invocation whose function fails twice.
pub const ASYNC_RETRIES: usize = 2;
/// Lambda waits about a minute before the first retry, two before the second.
pub const ASYNC_RETRY_DELAYS: [Duration; ASYNC_RETRIES] = [Duration::from_secs(60), Duration::from_secs(120)];
/// Lambda's maximum age of an asynchronous event (6 hours): after it, a
/// waiting event is dropped.
pub const MAX_EVENT_AGE: Duration = Duration::from_secs(6 * 3600);
/// Asynchronous events queued or running at once; past it, Invoke is throttled
/// rather than growing memory without bound.
pub const MAX_QUEUED_EVENTS: usize = 10_000;
/// Bytes of asynchronous events held at once (their payloads and
/// [`EVENT_OVERHEAD_BYTES`] each): each waiting event is held in memory
/// too, and 10,000 events at Lambda's 256 KB limit would take 2.5 GB. 512
/// events of 256 KB. Past it an `Event` Invoke is a 429
/// `TooManyRequestsException`.
pub const MAX_QUEUED_EVENT_BYTES: usize = 128 * 1024 * 1024;
/// What one queued event costs besides its payload (its task, request id
/// and function name), counted so that many tiny events count too.
pub const EVENT_OVERHEAD_BYTES: usize = 1024;
/// Environment variable that shortens the asynchronous retry delays, in
/// milliseconds (first retry; the second waits twice as long). For tests and
/// local development.
pub const ASYNC_RETRY_DELAY_ENV: &str = "TIDEPOOL_ASYNC_RETRY_DELAY_MS";

/// How long a throttled event waits on one view of its function before it
/// looks again (its concurrency may have changed).
pub(crate) const THROTTLE_RECHECK: Duration = Duration::from_secs(1);

/// Accepted events live in the store's system entries under this prefix.
const QUEUED_EVENT_PREFIX: &[u8] = b"aq/";

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// An accepted event, as the store keeps it until it is done with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct QueuedEvent {
    function: String,
    /// The version or alias invoked (`None`: `$LATEST`); an alias is
    /// resolved at each attempt, as it stands then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    qualifier: Option<String>,
    /// How many destination hops led to this event (0: from Invoke); an
    /// event at [`tidepool_runtime::esm::MAX_CHAIN_DEPTH`] is not sent on,
    /// so functions that name each other as destinations cannot loop.
    #[serde(default, skip_serializing_if = "is_zero")]
    depth: u32,
    event: String,
    request_id: String,
    /// When it was accepted (ms since the epoch): its age counts from here.
    queued_ms: u64,
    /// Attempts that failed so far.
    attempts: usize,
    /// When the next attempt is due (ms since the epoch), after a failure.
    #[serde(default)]
    retry_at_ms: u64,
}

impl QueuedEvent {
    /// Ordered by acceptance, so a restarted server runs them in that order.
    fn key(&self) -> Vec<u8> {
        [QUEUED_EVENT_PREFIX, format!("{:016x}/{}", self.queued_ms, self.request_id).as_bytes()].concat()
    }
}

/// The asynchronous event queue.
pub struct EventQueue {
    pending: Arc<AtomicUsize>,
    bytes: Arc<ByteBudget>,
    retry_delays: [Duration; ASYNC_RETRIES],
}

impl Default for EventQueue {
    fn default() -> Self {
        EventQueue::new()
    }
}

/// An event's place in the queue: its count and its bytes, given back when
/// the event is done with.
struct Pending {
    count: Arc<AtomicUsize>,
    _bytes: Option<Reservation>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The queue's use of its bounds, for `/tidepool/limits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueUse {
    pub events: usize,
    pub bytes: usize,
}

/// Why an event was not accepted: the queue is full (a 429 to retry), or
/// the store could not keep it.
pub enum Refused {
    Full(String),
    Store(LambdaError),
}

impl EventQueue {
    /// Lambda's retry delays, or the shorter ones of [`ASYNC_RETRY_DELAY_ENV`].
    pub fn new() -> Self {
        let retry_delays = match std::env::var(ASYNC_RETRY_DELAY_ENV).ok().and_then(|v| v.parse::<u64>().ok()) {
            Some(ms) => [Duration::from_millis(ms), Duration::from_millis(ms.saturating_mul(2))],
            None => ASYNC_RETRY_DELAYS,
        };
        EventQueue {
            pending: Arc::new(AtomicUsize::new(0)),
            bytes: ByteBudget::new(MAX_QUEUED_EVENT_BYTES),
            retry_delays,
        }
    }

    /// Events queued or running.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// Events and bytes queued or running.
    pub fn usage(&self) -> QueueUse {
        QueueUse { events: self.pending(), bytes: self.bytes.used() }
    }

    /// Accepts `event` for `function`: kept in the store, then run in the
    /// background. Returns its request id.
    pub async fn submit(
        &self,
        app: Arc<App>,
        function: String,
        qualifier: Option<String>,
        depth: u32,
        event: String,
    ) -> Result<String, Refused> {
        let cost = event.len() + function.len() + EVENT_OVERHEAD_BYTES;
        let bytes = self.bytes.try_reserve(cost).ok_or_else(|| {
            Refused::Full(format!(
                "Rate Exceeded. The asynchronous invocation queue holds {} of its {} bytes; retry later.",
                self.bytes.used(),
                self.bytes.limit()
            ))
        })?;
        if self.pending.fetch_add(1, Ordering::Relaxed) >= MAX_QUEUED_EVENTS {
            self.pending.fetch_sub(1, Ordering::Relaxed);
            return Err(Refused::Full(format!(
                "Rate Exceeded. The asynchronous invocation queue holds its {MAX_QUEUED_EVENTS} events; retry later."
            )));
        }
        let guard = Pending { count: self.pending.clone(), _bytes: Some(bytes) };
        let queued = QueuedEvent {
            function,
            qualifier,
            depth,
            event,
            request_id: uuid::Uuid::new_v4().to_string(),
            queued_ms: now_ms(),
            attempts: 0,
            retry_at_ms: 0,
        };
        save(&app, &queued).await.map_err(|e| match e {
            SaveError::Store(tidepool_store::StoreError::Poisoned(tidepool_store::WriteFailure::OutOfSpace)) => {
                Refused::Full("Rate Exceeded. The server's disk is full; retry later.".into())
            }
            other => Refused::Store(other.into()),
        })?;
        let request_id = queued.request_id.clone();
        let delays = self.retry_delays;
        tokio::spawn(async move {
            let _guard = guard;
            run_event(app, queued, delays).await;
        });
        Ok(request_id)
    }

    /// Runs the events a previous run of the server accepted and did not
    /// finish. They were accepted: they are not refused for the bounds now,
    /// though they count against them.
    pub async fn resume(&self, app: Arc<App>) {
        let store = app.store.clone();
        let saved = match tokio::task::spawn_blocking(move || store.sys_scan(QUEUED_EVENT_PREFIX)).await {
            Ok(Ok(saved)) => saved,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "the asynchronous events of the last run were not read");
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "the asynchronous events of the last run were not read");
                return;
            }
        };
        let mut resumed = 0;
        for (key, value) in saved {
            let Ok(queued) = serde_json::from_slice::<QueuedEvent>(&value) else {
                tracing::warn!(key = %String::from_utf8_lossy(&key), "an unreadable queued event was dropped");
                forget_key(&app, key).await;
                continue;
            };
            let cost = queued.event.len() + queued.function.len() + EVENT_OVERHEAD_BYTES;
            self.pending.fetch_add(1, Ordering::Relaxed);
            let guard = Pending { count: self.pending.clone(), _bytes: self.bytes.try_reserve(cost) };
            let (app, delays) = (app.clone(), self.retry_delays);
            tokio::spawn(async move {
                let _guard = guard;
                run_event(app, queued, delays).await;
            });
            resumed += 1;
        }
        if resumed > 0 {
            tracing::info!(events = resumed, "resumed the asynchronous events of the last run");
        }
    }
}

/// Why an event was not saved.
enum SaveError {
    Store(tidepool_store::StoreError),
    Other(String),
}

impl From<SaveError> for LambdaError {
    fn from(e: SaveError) -> LambdaError {
        match e {
            SaveError::Store(e) => e.into(),
            SaveError::Other(m) => LambdaError::new("ServiceException", m),
        }
    }
}

impl std::fmt::Display for SaveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SaveError::Store(e) => write!(f, "{e}"),
            SaveError::Other(m) => f.write_str(m),
        }
    }
}

/// Writes `queued` to the store (an acknowledged write: it survives
/// `kill -9`).
async fn save(app: &Arc<App>, queued: &QueuedEvent) -> Result<(), SaveError> {
    let json = serde_json::to_vec(queued).map_err(|e| SaveError::Other(e.to_string()))?;
    let (store, key) = (app.store.clone(), queued.key());
    tokio::task::spawn_blocking(move || store.sys_write(vec![(key, Some(json))]))
        .await
        .map_err(|e| SaveError::Other(e.to_string()))?
        .map_err(SaveError::Store)
}

/// Forgets every queued event (`tidepool reset`).
pub async fn forget_all(app: &App) -> Result<usize, LambdaError> {
    let store = app.store.clone();
    tokio::task::spawn_blocking(move || {
        let keys: Vec<(Vec<u8>, Option<Vec<u8>>)> =
            store.sys_scan(QUEUED_EVENT_PREFIX)?.into_iter().map(|(k, _)| (k, None)).collect();
        let n = keys.len();
        store.sys_write(keys)?;
        Ok(n)
    })
    .await
    .map_err(|e| LambdaError::new("ServiceException", e.to_string()))?
}

/// Removes a done event from the store.
async fn forget_key(app: &Arc<App>, key: Vec<u8>) {
    let store = app.store.clone();
    match tokio::task::spawn_blocking(move || store.sys_write(vec![(key, None)])).await {
        Ok(Ok(())) => {}
        // Left for the next start, which runs it again: at least once.
        Ok(Err(e)) => tracing::warn!(error = %e, "a finished asynchronous event was not removed"),
        Err(e) => tracing::warn!(error = %e, "a finished asynchronous event was not removed"),
    }
}

/// The largest response payload an invocation record carries (the
/// asynchronous event limit): a larger one is left out of the record, and
/// not held while the event waits to be retried.
pub const MAX_RECORD_PAYLOAD_BYTES: usize = 256 * 1024;

/// What an invocation record needs of an invocation.
struct Response {
    version: String,
    /// `Handled` or `Unhandled`, for an error.
    function_error: Option<&'static str>,
    /// The payload, when within [`MAX_RECORD_PAYLOAD_BYTES`].
    payload: Option<String>,
}

impl Response {
    fn of(inv: &Invocation) -> Response {
        let payload = inv.payload();
        Response {
            version: inv.version.clone(),
            function_error: inv.result.as_ref().err().map(|e| e.function_error_header()),
            payload: (payload.len() <= MAX_RECORD_PAYLOAD_BYTES).then_some(payload),
        }
    }
}

/// What became of an asynchronous event, for its destinations.
enum Outcome {
    /// The function returned.
    Success(Response),
    /// The function failed on every attempt the config allows.
    RetriesExhausted(Option<Response>),
    /// The event grew older than the maximum event age (waiting for
    /// concurrency, or between retries).
    TooOld(Option<Response>),
    /// The function is gone, or the server is stopping.
    Dropped,
}

/// Runs one asynchronous event to its end (see the module doc), delivers
/// its outcome to the destination its event invoke config names, then
/// removes it from the store.
///
/// Boxed, with a named type: a destination function's event is submitted
/// from inside, and runs this again.
fn run_event(
    app: Arc<App>,
    mut queued: QueuedEvent,
    delays: [Duration; ASYNC_RETRIES],
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    use tracing::Instrument;
    let span = tracing::info_span!("run_event", function = %queued.function, request_id = %queued.request_id);
    Box::pin(
        async move {
            let outcome = attempt_event(&app, &mut queued, delays).await;
            deliver(&app, &queued, outcome).await;
            forget_key(&app, queued.key()).await;
        }
        .instrument(span),
    )
}

/// Attempts the event until it succeeds or is dropped: waiting for
/// concurrency (a throttle is waited out, not counted) while the event is
/// younger than its maximum age, retrying a failure as often as its
/// function's event invoke config allows ([`ASYNC_RETRIES`] and
/// [`MAX_EVENT_AGE`] without one). The config is read at each attempt.
async fn attempt_event(app: &Arc<App>, queued: &mut QueuedEvent, delays: [Duration; ASYNC_RETRIES]) -> Outcome {
    let event: Arc<str> = queued.event.clone().into();
    // A retry that was due later when the server stopped waits out the rest.
    let due = Duration::from_millis(queued.retry_at_ms.saturating_sub(now_ms()));
    if !due.is_zero() {
        tokio::time::sleep(due).await;
    }
    let mut last: Option<Response> = None;
    loop {
        let Some(lambda) = app.lambda.get() else { return Outcome::Dropped };
        let config = invoke_config::load(&app.store, &queued.function, queued.qualifier.as_deref());
        let retries = config.as_ref().and_then(|c| c.maximum_retry_attempts).map_or(ASYNC_RETRIES, |n| n as usize);
        let max_age = config
            .as_ref()
            .and_then(|c| c.maximum_event_age_secs)
            .map_or(MAX_EVENT_AGE, |s| Duration::from_secs(u64::from(s)));
        if queued.attempts > retries {
            return Outcome::RetriesExhausted(last);
        }
        let age = Duration::from_millis(now_ms().saturating_sub(queued.queued_ms));
        let Some(left) = max_age.checked_sub(age) else {
            tracing::warn!("asynchronous event dropped: older than the maximum event age");
            return Outcome::TooOld(last);
        };
        let Ok(loaded) = lambda.registry.resolve(&queued.function, queued.qualifier.as_deref()) else {
            tracing::warn!("asynchronous event dropped: the function no longer exists");
            return Outcome::Dropped;
        };
        // The wait keeps its place in line; every second it looks whether
        // the function was replaced (its reserved concurrency raised from
        // 0 or removed, its code updated): then it waits on the new one.
        let permit = {
            let acquire = loaded.acquire();
            tokio::pin!(acquire);
            let deadline = tokio::time::Instant::now() + left;
            loop {
                tokio::select! {
                    permit = &mut acquire => break Some(permit),
                    _ = tokio::time::sleep(THROTTLE_RECHECK) => {
                        if tokio::time::Instant::now() >= deadline {
                            tracing::warn!("asynchronous event dropped: throttled until the maximum event age");
                            return Outcome::TooOld(last);
                        }
                        let replaced = lambda
                            .registry
                            .resolve(&queued.function, queued.qualifier.as_deref())
                            .map_or(true, |now| !Arc::ptr_eq(&now, &loaded));
                        if replaced {
                            break None;
                        }
                    }
                }
            }
        };
        let Some(permit) = permit else { continue };
        let (logs, name, ev) = (lambda.logs.clone(), queued.function.clone(), event.clone());
        let options = InvokeOptions::new().request_id(queued.request_id.clone());
        let run = tokio::task::spawn_blocking(move || {
            let _running = logs.running(&name);
            let inv = loaded.invoke(permit, &ev, options);
            logs.record(&name, &inv);
            inv
        });
        let inv = match run.await {
            Ok(inv) => inv,
            Err(e) => {
                tracing::error!(error = %e, "asynchronous invocation did not finish");
                return Outcome::Dropped;
            }
        };
        let attempt = queued.attempts;
        queued.attempts += 1;
        let Err(error) = &inv.result else { return Outcome::Success(Response::of(&inv)) };
        // The error may be megabytes: the server's log gets its head only.
        let error = format!(
            "{}: {}",
            Bounded(&error.error_type, MAX_LOGGED_TEXT_BYTES),
            Bounded(&error.error_message, MAX_LOGGED_TEXT_BYTES)
        );
        if attempt >= retries {
            tracing::warn!(attempts = attempt + 1, %error, "asynchronous invocation failed; event dropped");
            return Outcome::RetriesExhausted(Some(Response::of(&inv)));
        }
        let delay = delays[attempt.min(ASYNC_RETRIES - 1)];
        tracing::info!(attempt = attempt + 1, %error, "asynchronous invocation failed; retrying in {delay:?}");
        // The attempt, and when the next is due, count across a restart too.
        queued.retry_at_ms = now_ms() + delay.as_millis() as u64;
        if let Err(e) = save(app, queued).await {
            tracing::warn!(error = %e, "the retry count of an asynchronous event was not saved");
        }
        last = Some(Response::of(&inv));
        drop(inv);
        tokio::time::sleep(delay).await;
    }
}

/// Lambda's invocation record for a destination.
fn invocation_record(app: &App, queued: &QueuedEvent, condition: &str, inv: Option<&Response>) -> serde_json::Value {
    let parse = |s: &str| serde_json::from_str(s).unwrap_or_else(|_| serde_json::Value::String(s.to_string()));
    let function_arn = match app.lambda.get() {
        Some(l) => l.registry.qualified_arn(&queued.function, Some(queued.qualifier.as_deref().unwrap_or("$LATEST"))),
        None => queued.function.clone(),
    };
    let mut record = serde_json::json!({
        "version": "1.0",
        "timestamp": format!("{}Z", tidepool_store::format_timestamp_millis(now_ms())),
        "requestContext": {
            "requestId": queued.request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": queued.attempts,
        },
        "requestPayload": parse(&queued.event),
    });
    if let Some(inv) = inv {
        let mut response = serde_json::json!({"statusCode": 200, "executedVersion": inv.version});
        if let Some(e) = inv.function_error {
            response["functionError"] = e.into();
        }
        record["responseContext"] = response;
        if let Some(payload) = &inv.payload {
            record["responsePayload"] = parse(payload);
        }
    }
    record
}

/// Sends the outcome of an event to the destination its config names for
/// it (`OnSuccess`, or `OnFailure` after its retries or its age ran out).
async fn deliver(app: &Arc<App>, queued: &QueuedEvent, outcome: Outcome) {
    let Some(config) = invoke_config::load(&app.store, &queued.function, queued.qualifier.as_deref()) else { return };
    let (destination, condition, inv) = match outcome {
        Outcome::Success(inv) => (config.on_success, "Success", Some(inv)),
        Outcome::RetriesExhausted(inv) => (config.on_failure, "RetriesExhausted", inv),
        Outcome::TooOld(inv) => (config.on_failure, "EventAgeExceeded", inv),
        Outcome::Dropped => return,
    };
    let Some(destination) = destination else { return };
    let record = invocation_record(app, queued, condition, inv.as_ref());
    match invoke_config::destination(&destination) {
        Some(invoke_config::Destination::Table(_)) => {
            let store = app.store.clone();
            let d = destination.clone();
            let written = tokio::task::spawn_blocking(move || {
                tidepool_runtime::esm::write_destination_record(&store, &d, record)
            })
            .await;
            match written {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(%destination, error = %e, "the asynchronous destination record was not written")
                }
                Err(e) => {
                    tracing::warn!(%destination, error = %e, "the asynchronous destination record was not written")
                }
            }
        }
        Some(invoke_config::Destination::Function(name, qualifier)) => {
            let Some(lambda) = app.lambda.get() else { return };
            let depth = queued.depth + 1;
            if depth >= tidepool_runtime::esm::MAX_CHAIN_DEPTH {
                tracing::warn!(%destination, depth, "the destination function was not invoked: its chain of destinations is too deep");
                return;
            }
            // The record goes as an event: within the asynchronous event limit.
            let mut record = record;
            for member in ["responsePayload", "requestPayload"] {
                if record.to_string().len() > MAX_RECORD_PAYLOAD_BYTES
                    && let Some(m) = record.as_object_mut()
                {
                    m.remove(member);
                }
            }
            if let Err(e) = lambda.events.submit(app.clone(), name, qualifier, depth, record.to_string()).await {
                let reason = match e {
                    Refused::Full(m) => m,
                    Refused::Store(e) => e.to_string(),
                };
                tracing::warn!(%destination, %reason, "the asynchronous destination function was not invoked");
            }
        }
        None => tracing::warn!(%destination, "not a destination Tidepool delivers to"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_acceptance() {
        let event = |ms: u64, id: &str| QueuedEvent {
            qualifier: None,
            depth: 0,
            function: "f".into(),
            event: "{}".into(),
            request_id: id.into(),
            queued_ms: ms,
            attempts: 0,
            retry_at_ms: 0,
        };
        assert!(event(9, "z").key() < event(10, "a").key());
        assert!(event(10, "a").key().starts_with(QUEUED_EVENT_PREFIX));
    }
}
