//! Metrics over time: what the console plots. Every [`SAMPLE_PERIOD`] the
//! counters of each table, event source mapping and function are read and
//! the change of each since the last sample is kept (gauges as they are),
//! for [`SAMPLES_KEPT`] periods, as CloudWatch keeps a metric's sums per
//! period. Served at `GET /tidepool/history?table=T` (or `mapping=UUID`, or
//! `function=F`), with a last, partial point read at the request, so a
//! change shows at once rather than at the next sample.
//!
//! The counters start at zero with the server (a mapping's are its run's:
//! `MappingMetrics::this_run`), so a series' first point is the change
//! since the start. A counter that went back (a table deleted and made
//! again under its name) adds nothing for that period.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value as Json, json};

use crate::dynamodb::App;

/// How often the counters are sampled: CloudWatch's finest period for
/// these metrics is a minute; ten seconds shows a burst and its backlog
/// draining in a console.
pub const SAMPLE_PERIOD: Duration = Duration::from_secs(10);
/// Samples kept per series: an hour at [`SAMPLE_PERIOD`].
pub const SAMPLES_KEPT: usize = 360;
/// Series kept (tables, mappings and functions together). Each holds at
/// most [`SAMPLES_KEPT`] points of 40 bytes (a ring of 361, about 15 KB,
/// allocated once), so this bounds the history at about 30 MB (40 MB with
/// the allocator's rounding); past it a new source is not sampled.
pub const MAX_SERIES: usize = 2_000;
/// The most values a series has ([`Kind::values`]).
const MAX_VALUES: usize = 6;

/// What a series follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Table,
    Mapping,
    Function,
}

/// Whether a value is a counter (its change per period is kept) or a gauge
/// (its reading is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value {
    Counter,
    Gauge,
}

impl Kind {
    /// The values of a series of this kind, in the order [`read`] gives
    /// them, by their CloudWatch names.
    fn values(self) -> &'static [(&'static str, Value)] {
        use Value::*;
        match self {
            Kind::Table => &[
                ("ConsumedReadCapacityUnits", Counter),
                ("ConsumedWriteCapacityUnits", Counter),
                ("ThrottledRequests", Counter),
                ("SuccessfulRequests", Counter),
                ("SystemErrors", Counter),
            ],
            Kind::Mapping => &[
                ("IteratorAge", Gauge),
                ("Invocations", Counter),
                ("RecordsInvoked", Counter),
                ("FailedRecords", Counter),
                ("DroppedRecords", Counter),
                ("PolledRecords", Counter),
            ],
            Kind::Function => &[
                ("Invocations", Counter),
                ("Errors", Counter),
                ("Throttles", Counter),
                ("DurationMs", Counter),
                ("ConcurrentExecutions", Gauge),
            ],
        }
    }
}

type Key = (Kind, String);

/// One source's points.
struct Series {
    /// The readings at the last sample.
    last: Vec<f64>,
    /// (end of the period, epoch seconds; its length, seconds; its values).
    points: VecDeque<(f64, f32, [f32; MAX_VALUES])>,
    /// When the last sample was taken (the server's start before any).
    at: f64,
}

/// Every series of a server.
pub struct History {
    series: Mutex<HashMap<Key, Series>>,
    /// When counting started: the first period of every series begins here.
    started: f64,
}

impl History {
    /// An empty history whose counters started at `started` (epoch seconds).
    pub fn new(started: f64) -> Self {
        History { series: Mutex::new(HashMap::new()), started }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Series>> {
        self.series.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a sample at `now` of every source in `readings`; series whose
    /// source is gone are dropped.
    pub fn record(&self, now: f64, readings: Vec<(Key, Vec<f64>)>) {
        let mut all = self.lock();
        let present: std::collections::HashSet<&Key> = readings.iter().map(|(k, _)| k).collect();
        all.retain(|k, _| present.contains(k));
        drop(present);
        for (key, reading) in readings {
            if !all.contains_key(&key) && all.len() >= MAX_SERIES {
                continue;
            }
            let kind = key.0;
            let s = all.entry(key).or_insert_with(|| Series {
                last: vec![0.0; reading.len()],
                points: VecDeque::with_capacity(SAMPLES_KEPT + 1),
                at: self.started,
            });
            let point = change(kind, &s.last, &reading);
            s.points.push_back((now, (now - s.at).max(0.0) as f32, compact(&point)));
            while s.points.len() > SAMPLES_KEPT {
                s.points.pop_front();
            }
            s.last = reading;
            s.at = now;
        }
    }

    /// Series `key` as JSON: `Timestamps` (each period's end, epoch
    /// seconds), `Seconds` (each period's length) and `Values` by name,
    /// ending with the partial period up to `now` that `live` (the
    /// readings now) gives. `None` when the source is unknown.
    pub fn to_json(&self, key: &Key, live: Option<Vec<f64>>, now: f64) -> Option<Json> {
        let all = self.lock();
        let s = all.get(key);
        if s.is_none() && live.is_none() {
            return None;
        }
        let names = key.0.values();
        let mut stamps = Vec::new();
        let mut seconds = Vec::new();
        let mut values: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
        let mut push = |t: f64, secs: f32, v: &[f64]| {
            stamps.push(json!(t));
            seconds.push(json!(secs));
            for (i, x) in v.iter().enumerate().take(names.len()) {
                values[i].push(*x);
            }
        };
        for (t, secs, v) in s.iter().flat_map(|s| s.points.iter()) {
            push(*t, *secs, &v.map(f64::from));
        }
        if let Some(live) = live {
            let (last, at) = match s {
                Some(s) => (s.last.clone(), s.at),
                None => (vec![0.0; live.len()], self.started),
            };
            push(now, (now - at).max(0.0) as f32, &change(key.0, &last, &live));
        }
        let values: serde_json::Map<String, Json> =
            names.iter().zip(values).map(|((n, _), v)| (n.to_string(), json!(v))).collect();
        Some(json!({
            "Period": SAMPLE_PERIOD.as_secs(),
            "Timestamps": stamps,
            "Seconds": seconds,
            "Values": values,
        }))
    }
}

/// A point's values as kept.
fn compact(v: &[f64]) -> [f32; MAX_VALUES] {
    let mut out = [0.0; MAX_VALUES];
    for (o, x) in out.iter_mut().zip(v) {
        *o = *x as f32;
    }
    out
}

/// The point between readings `last` and `now` of a `kind` series.
fn change(kind: Kind, last: &[f64], now: &[f64]) -> Vec<f64> {
    kind.values()
        .iter()
        .zip(now)
        .enumerate()
        .map(|(i, ((_, v), x))| match v {
            Value::Gauge => *x,
            Value::Counter => (x - last.get(i).copied().unwrap_or(0.0)).max(0.0),
        })
        .collect()
}

/// The readings of every source of `app`.
fn read_all(app: &App) -> Vec<(Key, Vec<f64>)> {
    let m = &app.metrics;
    let mut out: Vec<(Key, Vec<f64>)> =
        m.tables().into_iter().map(|(name, t)| ((Kind::Table, name), table_reading(&t))).collect();
    out.extend(m.functions().into_iter().map(|(name, f)| ((Kind::Function, name), function_reading(&f))));
    if let Some(lambda) = app.lambda.get() {
        for c in lambda.mappings(None, None) {
            if let Some(r) = lambda.engine.metrics(&c.uuid) {
                out.push(((Kind::Mapping, c.uuid.clone()), mapping_reading(&r)));
            }
        }
    }
    out
}

/// The readings of source `key` now, if it exists (zeros before it is
/// first counted).
fn read(app: &App, key: &Key) -> Option<Vec<f64>> {
    let zeros = || vec![0.0; key.0.values().len()];
    match key.0 {
        Kind::Table => match app.metrics.table_if_counted(&key.1) {
            Some(t) => Some(table_reading(&t)),
            None => app.store.table(&key.1).ok().map(|_| zeros()),
        },
        Kind::Function => match app.metrics.function_if_counted(&key.1) {
            Some(f) => Some(function_reading(&f)),
            None => app.lambda.get()?.registry.get(&key.1).ok().map(|_| zeros()),
        },
        Kind::Mapping => {
            let lambda = app.lambda.get()?;
            match lambda.engine.metrics(&key.1) {
                Some(r) => Some(mapping_reading(&r)),
                None => lambda.mapping(&key.1).ok().map(|_| zeros()),
            }
        }
    }
}

fn table_reading(t: &super::TableMetrics) -> Vec<f64> {
    use std::sync::atomic::Ordering::Relaxed;
    let (r, w) = t.consumed();
    let sum = |f: &dyn Fn(&super::OpMetrics) -> u64| t.ops.iter().map(f).sum::<u64>() as f64;
    vec![
        r,
        w,
        sum(&|o| o.throttled.load(Relaxed)),
        sum(&|o| o.successes.load(Relaxed)),
        sum(&|o| o.system_errors.load(Relaxed)),
    ]
}

fn function_reading(f: &super::FunctionMetrics) -> Vec<f64> {
    use std::sync::atomic::Ordering::Relaxed;
    vec![
        f.invocations.load(Relaxed) as f64,
        f.errors.load(Relaxed) as f64,
        f.throttles.load(Relaxed) as f64,
        f.duration_us.load(Relaxed) as f64 / 1000.0,
        f.running.load(Relaxed) as f64,
    ]
}

/// A mapping's counts of this run (its saved metrics, loaded at start, hold
/// its earlier runs').
fn mapping_reading(m: &tidepool_runtime::esm::MappingMetrics) -> Vec<f64> {
    let r = m.this_run();
    vec![
        m.total.iterator_age_ms as f64,
        r.invocations as f64,
        r.invoked as f64,
        r.failed as f64,
        r.dropped as f64,
        r.polled as f64,
    ]
}

/// Samples every [`SAMPLE_PERIOD`] while the server runs.
pub async fn run(app: std::sync::Weak<App>) {
    let mut tick = tokio::time::interval(SAMPLE_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(app) = app.upgrade() else { return };
        let readings = read_all(&app);
        app.metrics.history.record(crate::cost::now_secs(), readings);
    }
}

/// `GET /tidepool/history?table=T` (or `mapping=UUID`, or `function=F`).
pub async fn serve(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
    uri: axum::http::Uri,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let q = crate::lambda::api::query(&uri);
    let given: Vec<Key> = [("table", Kind::Table), ("mapping", Kind::Mapping), ("function", Kind::Function)]
        .into_iter()
        .filter_map(|(p, k)| q.get(p).map(|v| (k, v.clone())))
        .collect();
    let fail = |kind: &'static str, message: String| {
        crate::lambda::api::Failure::from(crate::lambda::LambdaError::new(kind, message)).into_response()
    };
    let [key] = given.as_slice() else {
        return fail(
            "InvalidParameterValueException",
            "Exactly one of the query parameters table, mapping and function is required".into(),
        );
    };
    let live = read(&app, key);
    match app.metrics.history.to_json(key, live, crate::cost::now_secs()) {
        Some(j) => axum::Json(j).into_response(),
        None => {
            let what = match key.0 {
                Kind::Table => "Table",
                Kind::Mapping => "Event source mapping",
                Kind::Function => "Function",
            };
            fail("ResourceNotFoundException", format!("{what} not found: {}", key.1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_fits_a_point() {
        for k in [Kind::Table, Kind::Mapping, Kind::Function] {
            assert!(k.values().len() <= MAX_VALUES, "{k:?}");
        }
    }

    #[test]
    fn counters_become_changes_per_period_and_gauges_stay_readings() {
        let h = History::new(100.0);
        let key = (Kind::Mapping, "m".to_string());
        h.record(110.0, vec![(key.clone(), vec![500.0, 2.0, 20.0, 0.0, 0.0, 20.0])]);
        h.record(120.0, vec![(key.clone(), vec![0.0, 5.0, 50.0, 1.0, 0.0, 50.0])]);
        // A finished shard's counts forgotten: nothing added until they pass.
        h.record(130.0, vec![(key.clone(), vec![7.0, 1.0, 3.0, 0.0, 0.0, 3.0])]);
        let j = h.to_json(&key, Some(vec![9.0, 2.0, 4.0, 0.0, 0.0, 4.0]), 135.0).unwrap();
        assert_eq!(j["Timestamps"], json!([110.0, 120.0, 130.0, 135.0]));
        assert_eq!(j["Seconds"], json!([10.0, 10.0, 10.0, 5.0]));
        assert_eq!(j["Values"]["IteratorAge"], json!([500.0, 0.0, 7.0, 9.0]));
        assert_eq!(j["Values"]["Invocations"], json!([2.0, 3.0, 0.0, 1.0]));
        assert_eq!(j["Values"]["RecordsInvoked"], json!([20.0, 30.0, 0.0, 1.0]));
        assert_eq!(j["Values"]["FailedRecords"], json!([0.0, 1.0, 0.0, 0.0]));
    }

    #[test]
    fn bounded_in_points_and_series_and_gone_sources_are_dropped() {
        let h = History::new(0.0);
        let t = |n: &str| (Kind::Table, n.to_string());
        for i in 0..SAMPLES_KEPT + 5 {
            h.record(i as f64, vec![(t("a"), vec![i as f64; 5]), (t("b"), vec![0.0; 5])]);
        }
        let j = h.to_json(&t("a"), None, 0.0).unwrap();
        assert_eq!(j["Timestamps"].as_array().unwrap().len(), SAMPLES_KEPT);
        h.record(1e6, vec![(t("a"), vec![0.0; 5])]);
        assert!(h.to_json(&t("b"), None, 0.0).is_none());
        let many: Vec<(Key, Vec<f64>)> = (0..MAX_SERIES + 10).map(|i| (t(&format!("t{i}")), vec![0.0; 5])).collect();
        h.record(2e6, many);
        assert_eq!(h.lock().len(), MAX_SERIES);
    }
}
