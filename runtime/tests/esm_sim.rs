//! Deterministic simulation of the delivery engine's core ([`MappingCore`]):
//! an in-memory stream with shard rollover, a virtual clock, scripted or
//! seeded handlers (failing, trapping, slow, partially failing, poisoned), and
//! crashes between invoke and checkpoint, with checkers for at-least-once
//! delivery, per-key order, lineage and monotone checkpoints, and in
//! exactly-once mode that each record's effects commit once, with the
//! checkpoint that passes them.
//!
//! `ESM_SIM_SEED=<n>` replays one seed of the random runs (with a log of its
//! events); `ESM_SIM_SEEDS=<n>` runs that many.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::{Value as Json, json};
use tidepool_runtime::DeferredCall;
use tidepool_runtime::esm::{
    Commit, FailureRecord, InvokeError, InvokeOutcome, LedgerState, MappingConfig, MappingCore, MappingMetrics,
    MappingParams, ReadError, RecordSource, STREAM_RETENTION_MS, Seq, Settings, ShardCheckpoint, ShardInfo, SourcePage,
    StreamLayout, format_seq,
};
use tidepool_store::Origin;
use tidepool_store::stream::{EventName, RecordPage, StreamRecord};
use tidepool_store::table::StreamViewType;
use tidepool_store::value::{Item, Number, Value};

const STREAM_ARN: &str = "arn:aws:dynamodb:us-east-1:000000000000:table/T/stream/2024-01-01T00:00:00.000";
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:f";
const DESTINATION: &str = "arn:aws:dynamodb:us-east-1:000000000000:table/Failures";
const T0: u64 = 1_700_000_000_000;

// ---------------------------------------------------------------- randomness

/// SplitMix64: small, seedable, good enough to pick faults.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

// ---------------------------------------------------------------- the stream

#[derive(Clone)]
struct SimShard {
    info: ShardInfo,
    slot: u32,
    records: Vec<StreamRecord>,
}

struct StreamState {
    shards: Vec<SimShard>,
    next_seq: u64,
    slots: u32,
    next_shard: u32,
}

/// An in-memory stream with the store's read semantics.
struct SimStream(Mutex<StreamState>);

impl SimStream {
    fn new(slots: u32) -> Self {
        let mut st = StreamState { shards: Vec::new(), next_seq: 1, slots, next_shard: 0 };
        for slot in 0..slots {
            open_shard(&mut st, slot, None);
        }
        SimStream(Mutex::new(st))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, StreamState> {
        self.0.lock().unwrap()
    }

    /// Appends a record for key `key`; returns (shard id, seq).
    fn write(&self, now: u64, key: &str, attrs: Item, depth: u32) -> (String, u64) {
        let mut st = self.state();
        let slot = (key.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))) % st.slots;
        let seq = st.next_seq;
        st.next_seq += 1;
        let shard = st.shards.iter_mut().rev().find(|s| s.slot == slot && !s.info.closed).expect("an open shard");
        let mut keys = Item::new();
        keys.insert("pk".into(), Value::S(key.into()));
        let mut image = attrs;
        image.insert("pk".into(), Value::S(key.into()));
        shard.records.push(StreamRecord {
            seq,
            event: EventName::Insert,
            created_ms: now,
            size_bytes: 10,
            keys,
            new_image: Some(image),
            old_image: None,
            origin: Origin { ttl: false, depth, replicated: None },
            event_id: format!("ev{seq}"),
            stamp: None,
        });
        (shard.info.id.clone(), seq)
    }

    /// Closes every open shard and opens a child for each.
    fn rollover(&self) {
        let mut st = self.state();
        let open: Vec<(u32, String)> =
            st.shards.iter().filter(|s| !s.info.closed).map(|s| (s.slot, s.info.id.clone())).collect();
        for s in st.shards.iter_mut() {
            s.info.closed = true;
        }
        for (slot, parent) in open {
            open_shard(&mut st, slot, Some(parent));
        }
    }

    fn parent_of(&self, shard: &str) -> Option<String> {
        self.state().shards.iter().find(|s| s.info.id == shard).and_then(|s| s.info.parent.clone())
    }

    fn is_closed(&self, shard: &str) -> bool {
        self.state().shards.iter().find(|s| s.info.id == shard).is_some_and(|s| s.info.closed)
    }
}

fn open_shard(st: &mut StreamState, slot: u32, parent: Option<String>) {
    let num = st.next_shard;
    st.next_shard += 1;
    let info = ShardInfo { id: format!("shardId-{num:04}"), parent, start_seq: st.next_seq.into(), closed: false };
    st.shards.push(SimShard { info, slot, records: Vec::new() });
}

impl RecordSource for SimStream {
    fn layout(&self) -> Option<StreamLayout> {
        Some(StreamLayout {
            shards: self.state().shards.iter().map(|s| s.info.clone()).collect(),
            retention_ms: STREAM_RETENTION_MS,
        })
    }

    fn position(&self, shard: &str, latest: bool) -> Result<Seq, ReadError> {
        let st = self.state();
        let s = st.shards.iter().find(|s| s.info.id == shard).ok_or(ReadError::Gone)?;
        Ok(if latest { s.records.last().map_or(s.info.start_seq, |r| Seq::from(r.seq) + 1) } else { s.info.start_seq })
    }

    fn read(&self, shard: &str, from: Seq, limit: usize) -> Result<SourcePage, ReadError> {
        let st = self.state();
        let s = st.shards.iter().find(|s| s.info.id == shard).ok_or(ReadError::Gone)?;
        let at = |r: &&StreamRecord| Seq::from(r.seq) >= from;
        let records: Vec<StreamRecord> = s.records.iter().filter(at).take(limit).cloned().collect();
        let rest = s.records.iter().filter(at).count() > records.len();
        let next = records.last().map_or(from, |r| Seq::from(r.seq) + 1);
        let page = RecordPage { records, next: None };
        let mut page =
            SourcePage::from_store(page, StreamViewType::NewAndOldImages, "pk", "us-east-1", STREAM_ARN, false);
        page.next = (!s.info.closed || rest).then_some(next);
        Ok(page)
    }
}

// ---------------------------------------------------------------- the world

/// What the handler sees of one invocation.
#[derive(Debug, Clone)]
struct Call {
    at: u64,
    shard: String,
    seqs: Vec<Seq>,
    keys: Vec<String>,
    event: Json,
    final_window: bool,
    chain_depth: u32,
}

/// What a handler returns: the result, how long it took, and which of the
/// records it handled (took effect).
struct Reply {
    result: Result<String, InvokeError>,
    duration: u64,
    handled: Vec<Seq>,
}

fn ok(call: &Call, payload: &str) -> Reply {
    Reply { result: Ok(payload.into()), duration: 1, handled: call.seqs.clone() }
}

fn fail(unhandled: bool) -> Reply {
    let error_type = if unhandled { "Runtime.ExitError" } else { "Boom" };
    Reply {
        result: Err(InvokeError { error_type: error_type.into(), message: "failed".into(), unhandled }),
        duration: 1,
        handled: Vec::new(),
    }
}

fn partial(call: &Call, failed: &[Seq]) -> Reply {
    let lowest = failed.iter().min().copied().unwrap_or(Seq::MAX);
    let items: Vec<Json> = failed.iter().map(|s| json!({"itemIdentifier": format_seq(*s)})).collect();
    Reply {
        result: Ok(json!({"batchItemFailures": items}).to_string()),
        duration: 1,
        handled: call.seqs.iter().copied().filter(|s| *s < lowest).collect(),
    }
}

struct InFlight {
    job: u64,
    done_at: u64,
    call: Call,
    reply: Reply,
    request_id: String,
}

/// Per-record truth, for the checkers.
#[derive(Debug, Clone)]
struct Truth {
    shard: String,
    key: String,
    depth: u32,
    /// Delivered to the function only if this is true.
    deliverable: bool,
    handled: bool,
    discarded: bool,
}

impl Truth {
    fn done(&self) -> bool {
        !self.deliverable || self.handled || self.discarded
    }
}

type Handler<'a> = dyn FnMut(&Call, &mut Rng) -> Reply + 'a;

struct World {
    now: u64,
    stream: SimStream,
    settings: Settings,
    ledger: LedgerState,
    failures: Vec<FailureRecord>,
    core: MappingCore,
    metrics: Arc<Mutex<MappingMetrics>>,
    inflight: Vec<InFlight>,
    calls: Vec<Call>,
    truth: BTreeMap<Seq, Truth>,
    next_request: u64,
    trace: bool,
    max_concurrent: usize,
    crashes: u32,
    /// Checkpoints committed (each a write of a worker's lease).
    checkpoints_written: usize,
    /// Exactly-once mode: how many times each record's effect committed.
    applied: BTreeMap<Seq, u32>,
}

fn config(params: Json) -> MappingConfig {
    let mut body = json!({"EventSourceArn": STREAM_ARN, "StartingPosition": "TRIM_HORIZON"});
    for (k, v) in params.as_object().expect("an object") {
        body[k] = v.clone();
    }
    let params: MappingParams = serde_json::from_value(body).expect("params");
    MappingConfig::create(params, "f", FUNCTION_ARN, T0).expect("a valid mapping")
}

fn attrs(pairs: &[(&str, Value)]) -> Item {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

fn num(n: u64) -> Value {
    Value::N(n.to_string().parse::<Number>().expect("a number"))
}

impl World {
    fn new(params: Json, slots: u32) -> World {
        let config = config(params);
        let settings = Settings::new(&config, "us-east-1").expect("settings");
        let metrics = Arc::new(Mutex::new(MappingMetrics::new(&config.uuid)));
        let core = MappingCore::new(settings.clone(), LedgerState::default(), metrics.clone());
        World {
            now: T0,
            stream: SimStream::new(slots),
            settings,
            ledger: LedgerState::default(),
            failures: Vec::new(),
            core,
            metrics,
            inflight: Vec::new(),
            calls: Vec::new(),
            truth: BTreeMap::new(),
            next_request: 0,
            trace: false,
            max_concurrent: 0,
            crashes: 0,
            checkpoints_written: 0,
            applied: BTreeMap::new(),
        }
    }

    fn log(&self, what: impl FnOnce() -> String) {
        if self.trace {
            eprintln!("[{:>8}] {}", self.now - T0, what());
        }
    }

    /// Writes a record of `key`; `deliverable` says whether filters and the
    /// depth limit let it through.
    fn write(&mut self, key: &str, item: Item, depth: u32, deliverable: bool) -> u64 {
        let (shard, seq) = self.stream.write(self.now, key, item, depth);
        self.truth.insert(
            Seq::from(seq),
            Truth { shard, key: key.into(), depth, deliverable, handled: false, discarded: false },
        );
        self.log(|| format!("write {key} seq {seq} depth {depth} deliverable {deliverable}"));
        seq
    }

    fn put(&mut self, key: &str) -> u64 {
        self.write(key, Item::new(), 0, true)
    }

    /// Rebuilds the core from the ledger: a crash between an invocation and
    /// its checkpoint, or before a commit.
    fn crash(&mut self) {
        self.log(|| format!("CRASH ({} in flight)", self.inflight.len()));
        self.crashes += 1;
        self.inflight.clear();
        self.core = MappingCore::new(self.settings.clone(), self.ledger.clone(), self.metrics.clone());
    }

    /// Applies a commit to the ledger, checking it.
    fn apply(&mut self, commit: Commit) {
        self.metrics.lock().unwrap().record_commit(&commit);
        for f in &commit.failures {
            assert_eq!(f.destination, DESTINATION);
            assert!(!f.seqs.is_empty());
            let info = &f.record["DDBStreamBatchInfo"];
            assert_eq!(info["batchSize"], f.seqs.len());
            assert_eq!(info["startSequenceNumber"], format_seq(f.seqs[0]));
            assert_eq!(info["endSequenceNumber"], format_seq(*f.seqs.last().unwrap()));
            assert_eq!(info["streamArn"], STREAM_ARN);
            assert_eq!(f.record["requestContext"]["functionArn"], FUNCTION_ARN);
            assert_eq!(f.record["version"], "1.0");
            for s in &f.seqs {
                let t = self.truth.get_mut(s).expect("a known record");
                assert!(t.deliverable, "record {s} discarded but it was never deliverable");
                assert_eq!(info["shardId"], t.shard.as_str());
                t.discarded = true;
            }
            self.log(|| format!("destination {} {:?}", f.record["requestContext"]["condition"], f.seqs));
            self.failures.push(f.clone());
        }
        if commit.mark_started {
            self.ledger.started = true;
        }
        self.checkpoints_written += commit.checkpoints.len();
        for (shard, cp) in &commit.checkpoints {
            let old = self.ledger.shards.get(shard).cloned().unwrap_or_default();
            assert!(cp.done_through >= old.done_through, "checkpoint of {shard} moved back: {old:?} -> {cp:?}");
            assert!(cp.finished || !old.finished, "{shard} unfinished again");
            if let Some(d) = cp.done_through {
                for (seq, t) in self.truth.range(..=d) {
                    if t.shard == *shard {
                        assert!(t.done(), "checkpoint {d} of {shard} passes record {seq}, not done: {t:?}");
                    }
                }
            }
            if cp.finished {
                assert!(self.stream.is_closed(shard), "{shard} finished while open");
                for (seq, t) in &self.truth {
                    assert!(t.shard != *shard || t.done(), "{shard} finished with record {seq} not done");
                }
            }
            self.log(|| format!("checkpoint {shard} {:?} finished {}", cp.done_through, cp.finished));
            self.ledger.shards.insert(shard.clone(), cp.clone());
        }
        for shard in &commit.forget {
            self.ledger.shards.remove(shard);
        }
        assert!(self.settings.exactly_once || commit.effects.is_empty(), "effects without exactly-once");
        for e in &commit.effects {
            let done = commit.checkpoints.iter().find(|(s, _)| *s == e.shard).and_then(|(_, cp)| cp.done_through);
            for w in &e.writes {
                let seq: Seq = w.request_json.parse().expect("a sequence number");
                assert!(done.is_some_and(|d| seq <= d), "effect of {seq} committed without the checkpoint passing it");
                *self.applied.entry(seq).or_default() += 1;
            }
        }
    }

    /// In exactly-once mode every record's effect committed once, unless the
    /// record was discarded (then never).
    fn assert_exactly_once(&self) {
        for (seq, t) in &self.truth {
            if !t.deliverable {
                continue;
            }
            let want = u32::from(!t.discarded);
            assert_eq!(self.applied.get(seq).copied().unwrap_or(0), want, "effects of record {seq}: {t:?}");
        }
    }

    /// Polls, commits, and starts the planned jobs with `handler`.
    fn step(&mut self, handler: &mut Handler<'_>, rng: &mut Rng, crash_before_commit: bool) -> usize {
        let step = self.core.poll(&self.stream, self.now);
        if let Some(commit) = step.commit {
            if crash_before_commit {
                self.crash();
                return 0;
            }
            self.apply(commit);
        }
        let started = step.jobs.len();
        for job in step.jobs {
            let event: Json = serde_json::from_str(&job.event).expect("the event is JSON");
            let records = event["Records"].as_array().expect("Records").clone();
            let seqs: Vec<Seq> =
                records.iter().map(|r| r["dynamodb"]["SequenceNumber"].as_str().unwrap().parse().unwrap()).collect();
            assert_eq!(seqs, job.seqs);
            let keys: Vec<String> =
                records.iter().map(|r| r["dynamodb"]["Keys"]["pk"]["S"].as_str().unwrap().to_string()).collect();
            for r in &records {
                assert_eq!(r["eventSourceARN"], STREAM_ARN);
                assert_eq!(r["eventSource"], "aws:dynamodb");
            }
            let call = Call {
                at: self.now,
                shard: job.shard.clone(),
                seqs,
                keys,
                event,
                final_window: job.final_window,
                chain_depth: job.chain_depth,
            };
            self.check_start(&call);
            self.log(|| {
                format!("invoke {} {:?}{}", call.shard, call.seqs, if call.final_window { " final" } else { "" })
            });
            let mut reply = handler(&call, rng);
            reply.duration = reply.duration.max(1);
            self.next_request += 1;
            self.inflight.push(InFlight {
                job: job.id,
                done_at: self.now + reply.duration,
                call: call.clone(),
                reply,
                request_id: format!("req-{}", self.next_request),
            });
            self.calls.push(call);
        }
        self.max_concurrent = self.max_concurrent.max(self.inflight.len());
        started
    }

    /// Checks an invocation as it starts: shard order, per-key order, no
    /// concurrent batches of one key, parents before children, depth.
    fn check_start(&self, call: &Call) {
        assert!(call.seqs.windows(2).all(|w| w[0] < w[1]), "records out of order: {:?}", call.seqs);
        assert!(call.seqs.len() <= self.settings.batch_size, "batch larger than BatchSize");
        for (i, seq) in call.seqs.iter().enumerate() {
            let t = &self.truth[seq];
            assert!(t.deliverable, "record {seq} delivered but filtered out or too deep");
            assert_eq!(t.shard, call.shard);
            for (earlier, e) in self.truth.range(..seq) {
                if e.key == t.key && e.deliverable && !e.done() {
                    assert!(
                        call.seqs[..i].contains(earlier),
                        "record {seq} of key {} delivered before earlier record {earlier} was done",
                        t.key
                    );
                }
            }
            for f in &self.inflight {
                assert!(!f.call.keys.contains(&t.key), "key {} in two concurrent invocations", t.key);
            }
        }
        if let Some(parent) = self.stream.parent_of(&call.shard) {
            assert!(
                self.ledger.shards.get(&parent).is_some_and(|c| c.finished),
                "{} invoked before its parent {parent} was finished",
                call.shard
            );
        }
        let depth = call.seqs.iter().map(|s| self.truth[s].depth).max().unwrap_or(0) + 1;
        assert_eq!(call.chain_depth, depth, "chain depth of {:?}", call.seqs);
    }

    /// Completes the next job(s) due, advancing the clock; `false` when
    /// nothing is left to happen.
    fn advance(&mut self, rng: &mut Rng, until: Option<u64>, crash_after_invoke: f64) -> bool {
        let next_done = self.inflight.iter().map(|f| f.done_at).min();
        let deadline = self.core.deadline(self.now);
        let next = [next_done, deadline, until].into_iter().flatten().min();
        let Some(next) = next else { return false };
        self.now = self.now.max(next);
        let due: Vec<usize> = (0..self.inflight.len()).filter(|i| self.inflight[*i].done_at <= self.now).collect();
        for i in due.into_iter().rev() {
            let f = self.inflight.remove(i);
            for s in &f.reply.handled {
                self.truth.get_mut(s).expect("known").handled = true;
            }
            if rng.chance(crash_after_invoke) {
                self.crash();
                return true;
            }
            // In exactly-once mode a successful invocation's writes are one
            // effect per record it handled.
            let writes = match (&f.reply.result, self.settings.exactly_once) {
                (Ok(_), true) => f
                    .reply
                    .handled
                    .iter()
                    .map(|s| DeferredCall {
                        operation: "Effect".into(),
                        request_json: s.to_string(),
                        chain_depth: 0,
                        outcome: String::new(),
                        denied: Vec::new(),
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let outcome = InvokeOutcome {
                request_id: f.request_id.clone(),
                result: f.reply.result,
                writes,
                executed_version: "$LATEST".into(),
            };
            self.core.complete(f.job, &outcome, self.now);
        }
        true
    }

    /// Runs until nothing is in flight and nothing is due (or `limit` steps).
    fn settle(&mut self, handler: &mut Handler<'_>, rng: &mut Rng) {
        for _ in 0..200_000 {
            self.step(handler, rng, false);
            if self.inflight.is_empty() && self.core.deadline(self.now).is_none() {
                // One more poll: a completion may have left something to plan.
                if self.step(handler, rng, false) == 0 && self.inflight.is_empty() {
                    return;
                }
            }
            self.advance(rng, None, 0.0);
        }
        panic!("the simulation did not settle");
    }

    fn assert_all_done(&self) {
        for (seq, t) in &self.truth {
            assert!(t.done(), "record {seq} never handled nor discarded: {t:?}");
        }
    }

    fn call_seqs(&self) -> Vec<Vec<Seq>> {
        self.calls.iter().filter(|c| !c.final_window).map(|c| c.seqs.clone()).collect()
    }
}

// ---------------------------------------------------------------- exact outcomes

fn always_ok(call: &Call, _: &mut Rng) -> Reply {
    ok(call, "")
}

#[test]
fn success_checkpoints_each_batch() {
    let mut w = World::new(json!({"BatchSize": 2}), 1);
    let mut rng = Rng(1);
    for k in ["a", "b", "c", "d", "e"] {
        w.put(k);
    }
    w.settle(&mut always_ok, &mut rng);
    assert_eq!(w.call_seqs(), vec![vec![1, 2], vec![3, 4], vec![5]]);
    assert_eq!(w.ledger.shards["shardId-0000"].done_through, Some(5));
    assert!(w.ledger.started);
    let m = w.metrics.lock().unwrap().snapshot(w.now);
    assert_eq!((m.total.polled, m.total.invoked, m.total.invocations, m.total.failed), (5, 5, 3, 0));
    assert_eq!(m.last_processing_result, "OK");
    assert_eq!(m.shards["shardId-0000"].checkpoint.as_deref(), Some("000000000000000000005"));
    w.assert_all_done();
}

#[test]
fn a_failed_batch_is_retried_whole_then_discarded_with_a_destination_record() {
    let mut w = World::new(
        json!({"BatchSize": 3, "MaximumRetryAttempts": 2, "DestinationConfig": {"OnFailure": {"Destination": DESTINATION}}}),
        1,
    );
    let mut rng = Rng(1);
    for k in ["a", "b", "c", "d"] {
        w.put(k);
    }
    let mut handler = |c: &Call, _: &mut Rng| if c.seqs.contains(&2) { fail(false) } else { ok(c, "") };
    w.settle(&mut handler, &mut rng);
    assert_eq!(w.call_seqs(), vec![vec![1, 2, 3], vec![1, 2, 3], vec![1, 2, 3], vec![4]]);
    assert_eq!(w.failures.len(), 1);
    let r = &w.failures[0].record;
    assert_eq!(r["requestContext"]["condition"], "RetryAttemptsExhausted");
    assert_eq!(r["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(r["requestContext"]["requestId"], "req-3");
    assert_eq!(
        r["responseContext"],
        json!({"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Handled"})
    );
    assert_eq!(r["DDBStreamBatchInfo"]["batchSize"], 3);
    assert_eq!(r["DDBStreamBatchInfo"]["shardId"], "shardId-0000");
    assert_eq!(w.failures[0].seqs, vec![1, 2, 3]);
    let m = w.metrics.lock().unwrap().snapshot(w.now);
    assert_eq!((m.total.failed, m.total.dropped, m.total.sent_to_destination), (9, 3, 3));
    w.assert_all_done();
}

#[test]
fn zero_retries_discards_after_one_invocation_and_unhandled_errors_say_so() {
    let mut w = World::new(
        json!({"BatchSize": 10, "MaximumRetryAttempts": 0, "DestinationConfig": {"OnFailure": {"Destination": DESTINATION}}}),
        1,
    );
    let mut rng = Rng(1);
    w.put("a");
    w.put("b");
    w.settle(&mut |_: &Call, _: &mut Rng| fail(true), &mut rng);
    assert_eq!(w.call_seqs(), vec![vec![1, 2]]);
    assert_eq!(w.failures[0].record["responseContext"]["functionError"], "Unhandled");
    assert_eq!(w.failures[0].record["requestContext"]["approximateInvokeCount"], 1);
}

#[test]
fn bisect_splits_down_to_the_poison_record_without_using_retries() {
    let mut w = World::new(
        json!({"BatchSize": 4, "BisectBatchOnFunctionError": true, "MaximumRetryAttempts": 1,
               "DestinationConfig": {"OnFailure": {"Destination": DESTINATION}}}),
        1,
    );
    let mut rng = Rng(1);
    for k in ["a", "b", "c", "d"] {
        w.put(k);
    }
    let mut handler = |c: &Call, _: &mut Rng| if c.seqs.contains(&3) { fail(false) } else { ok(c, "") };
    w.settle(&mut handler, &mut rng);
    assert_eq!(w.call_seqs(), vec![vec![1, 2, 3, 4], vec![1, 2], vec![3, 4], vec![3], vec![3], vec![4]]);
    assert_eq!(w.failures.len(), 1);
    assert_eq!(w.failures[0].seqs, vec![3]);
    assert_eq!(w.failures[0].record["requestContext"]["approximateInvokeCount"], 4);
    assert_eq!(w.failures[0].record["requestContext"]["condition"], "RetryAttemptsExhausted");
    w.assert_all_done();
}

#[test]
fn bisect_with_infinite_retries_keeps_the_split_order() {
    let mut w = World::new(json!({"BatchSize": 5, "BisectBatchOnFunctionError": true}), 1);
    let mut rng = Rng(1);
    for k in ["a", "b", "c", "d", "e"] {
        w.put(k);
    }
    let mut fails_left = 1;
    let mut handler = |c: &Call, _: &mut Rng| {
        if c.seqs.len() > 1 && c.seqs.contains(&5) {
            return fail(false);
        }
        if c.seqs == [5] && fails_left > 0 {
            fails_left -= 1;
            return fail(false);
        }
        ok(c, "")
    };
    w.settle(&mut handler, &mut rng);
    // 5 records split 2 + 3, the 3 split 1 + 2, the 2 split 1 + 1, then [5] fails once more and passes.
    assert_eq!(
        w.call_seqs(),
        vec![vec![1, 2, 3, 4, 5], vec![1, 2], vec![3, 4, 5], vec![3], vec![4, 5], vec![4], vec![5], vec![5]]
    );
    assert!(w.failures.is_empty());
    w.assert_all_done();
}

fn report(extra: Json) -> Json {
    let mut p = json!({"BatchSize": 5, "FunctionResponseTypes": ["ReportBatchItemFailures"],
                       "DestinationConfig": {"OnFailure": {"Destination": DESTINATION}}});
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    p
}

#[test]
fn a_partial_batch_response_retries_from_the_lowest_failed_record() {
    let mut w = World::new(report(json!({})), 1);
    let mut rng = Rng(1);
    for k in ["a", "b", "c", "d", "e", "f"] {
        w.put(k);
    }
    let mut first = true;
    let mut handler = |c: &Call, _: &mut Rng| {
        if first {
            first = false;
            partial(c, &[4, 3])
        } else {
            ok(c, r#"{"batchItemFailures":[]}"#)
        }
    };
    w.settle(&mut handler, &mut rng);
    assert_eq!(w.call_seqs(), vec![vec![1, 2, 3, 4, 5], vec![3, 4, 5], vec![6]]);
    assert!(w.failures.is_empty());
    w.assert_all_done();
}

#[test]
fn partial_retries_count_and_exhaustion_sends_the_rest_to_the_destination() {
    let mut w = World::new(report(json!({"MaximumRetryAttempts": 1})), 1);
    let mut rng = Rng(1);
    for k in ["a", "b", "c", "d", "e"] {
        w.put(k);
    }
    let mut handler = |c: &Call, _: &mut Rng| if c.seqs.contains(&4) { partial(c, &[4]) } else { ok(c, "") };
    w.settle(&mut handler, &mut rng);
    assert_eq!(w.call_seqs(), vec![vec![1, 2, 3, 4, 5], vec![4, 5]]);
    assert_eq!(w.failures.len(), 1);
    assert_eq!(w.failures[0].seqs, vec![4, 5]);
    assert_eq!(w.failures[0].record["requestContext"]["approximateInvokeCount"], 2);
    assert_eq!(w.failures[0].record["responseContext"], json!({"statusCode": 200, "executedVersion": "$LATEST"}));
    w.assert_all_done();
}

#[test]
fn partial_response_edge_cases() {
    // (response, whether the whole batch failed)
    let cases: Vec<(Json, bool)> = vec![
        (json!(null), false),
        (json!({}), false),
        (json!({"batchItemFailures": null}), false),
        (json!({"batchItemFailures": []}), false),
        (json!({"batchItemFailures": [{"itemIdentifier": ""}]}), true),
        (json!({"batchItemFailures": [{"itemIdentifier": null}]}), true),
        (json!({"batchItemFailures": [{"wrongKey": "000000000000000000002"}]}), true),
        (json!({"batchItemFailures": [{"itemIdentifier": "000000000000000000099"}]}), true),
        (json!({"batchItemFailures": [{"itemIdentifier": "nope"}]}), true),
        (json!({"batchItemFailures": "x"}), true),
        (json!("a string"), true),
    ];
    for (response, whole) in cases {
        let mut w = World::new(report(json!({"MaximumRetryAttempts": 0})), 1);
        let mut rng = Rng(1);
        for k in ["a", "b", "c"] {
            w.put(k);
        }
        let text = if response.is_null() { String::new() } else { response.to_string() };
        let mut handler = |c: &Call, _: &mut Rng| Reply {
            result: Ok(text.clone()),
            duration: 1,
            handled: if whole { Vec::new() } else { c.seqs.clone() },
        };
        w.settle(&mut handler, &mut rng);
        assert_eq!(w.call_seqs(), vec![vec![1, 2, 3]], "{response}");
        assert_eq!(w.failures.len(), usize::from(whole), "{response}");
        if whole {
            assert_eq!(w.failures[0].seqs, vec![1, 2, 3]);
            assert!(w.failures[0].record["responseContext"].get("functionError").is_none());
        }
        w.assert_all_done();
    }
}

#[test]
fn without_report_batch_item_failures_a_partial_response_is_success() {
    let mut w = World::new(json!({"BatchSize": 5}), 1);
    let mut rng = Rng(1);
    for k in ["a", "b", "c"] {
        w.put(k);
    }
    let mut handler = |c: &Call, _: &mut Rng| {
        let mut r = partial(c, &[2]);
        r.handled = c.seqs.clone();
        r
    };
    w.settle(&mut handler, &mut rng);
    assert_eq!(w.call_seqs(), vec![vec![1, 2, 3]]);
}

#[test]
fn partial_with_bisect_splits_at_the_returned_record() {
    let mut w = World::new(report(json!({"BisectBatchOnFunctionError": true})), 1);
    let mut rng = Rng(1);
    for k in ["a", "b", "c", "d", "e"] {
        w.put(k);
    }
    let mut n = 0;
    let mut handler = |c: &Call, _: &mut Rng| {
        n += 1;
        match n {
            1 => partial(c, &[3]),
            2 => fail(false),
            _ => ok(c, ""),
        }
    };
    w.settle(&mut handler, &mut rng);
    // Split at 3; the rest [3, 4, 5] then fails and is bisected.
    assert_eq!(w.call_seqs(), vec![vec![1, 2, 3, 4, 5], vec![3, 4, 5], vec![3], vec![4, 5]]);
}

#[test]
fn records_older_than_the_maximum_age_are_discarded() {
    let mut w = World::new(
        json!({"BatchSize": 10, "MaximumRecordAgeInSeconds": 60,
               "DestinationConfig": {"OnFailure": {"Destination": DESTINATION}}}),
        1,
    );
    let mut rng = Rng(1);
    w.put("a");
    w.now += 30_000;
    w.put("b");
    // Every invocation fails and takes 10 s: retries go on until the records age out.
    let mut handler = |_: &Call, _: &mut Rng| Reply { duration: 10_000, ..fail(false) };
    w.settle(&mut handler, &mut rng);
    let calls = w.call_seqs();
    assert!(calls.iter().take_while(|c| **c == vec![1, 2]).count() >= 3, "{calls:?}");
    assert!(calls.ends_with(&[vec![2]]), "{calls:?}");
    assert_eq!(w.failures.len(), 2);
    for f in &w.failures {
        assert_eq!(f.record["requestContext"]["condition"], "RecordAgeExceeded");
    }
    assert_eq!(w.failures[0].seqs, vec![1]);
    assert_eq!(w.failures[1].seqs, vec![2]);
    w.assert_all_done();
}

#[test]
fn records_already_too_old_are_discarded_without_an_invocation() {
    let mut w = World::new(
        json!({"MaximumRecordAgeInSeconds": 60, "DestinationConfig": {"OnFailure": {"Destination": DESTINATION}}}),
        1,
    );
    let mut rng = Rng(1);
    w.put("a");
    w.now += 61_000;
    w.settle(&mut always_ok, &mut rng);
    assert!(w.calls.is_empty());
    assert_eq!(w.failures.len(), 1);
    let r = &w.failures[0].record;
    assert_eq!(r["requestContext"]["approximateInvokeCount"], 0);
    assert_eq!(r["responseContext"], json!({}));
    assert_eq!(r["requestContext"]["requestId"].as_str().unwrap().len(), 36);
    w.assert_all_done();
}

#[test]
fn filtered_records_are_checkpointed_but_never_delivered() {
    let pattern = json!({"dynamodb": {"NewImage": {"tag": {"S": [{"anything-but": "skip"}]}}}}).to_string();
    let mut w = World::new(json!({"FilterCriteria": {"Filters": [{"Pattern": pattern}]}}), 1);
    let mut rng = Rng(1);
    w.write("a", attrs(&[("tag", Value::S("keep".into()))]), 0, true);
    w.write("b", attrs(&[("tag", Value::S("skip".into()))]), 0, false);
    w.write("c", attrs(&[("tag", Value::S("skip".into()))]), 0, false);
    w.settle(&mut always_ok, &mut rng);
    assert_eq!(w.call_seqs(), vec![vec![1]]);
    assert_eq!(w.ledger.shards["shardId-0000"].done_through, Some(3));
    let m = w.metrics.lock().unwrap().snapshot(w.now);
    assert_eq!((m.total.polled, m.total.filtered, m.total.invoked), (3, 2, 1));
}

#[test]
fn records_deep_in_a_trigger_chain_are_dropped() {
    let mut w = World::new(json!({}), 1);
    let mut rng = Rng(1);
    w.write("a", Item::new(), 3, true);
    w.write("b", Item::new(), 16, false);
    w.write("c", Item::new(), 15, true);
    w.settle(&mut always_ok, &mut rng);
    assert_eq!(w.call_seqs(), vec![vec![1, 3]]);
    assert_eq!(w.calls[0].chain_depth, 16);
    assert_eq!(w.metrics.lock().unwrap().snapshot(w.now).total.dropped, 1);
    assert_eq!(w.ledger.shards["shardId-0000"].done_through, Some(3));
}

#[test]
fn the_batching_window_waits_for_a_full_batch() {
    let mut w = World::new(json!({"BatchSize": 3, "MaximumBatchingWindowInSeconds": 5}), 1);
    let mut rng = Rng(1);
    w.put("a");
    w.step(&mut always_ok, &mut rng, false);
    assert!(w.calls.is_empty(), "invoked before the window");
    w.now += 1000;
    w.put("b");
    w.step(&mut always_ok, &mut rng, false);
    assert!(w.calls.is_empty());
    assert_eq!(w.core.deadline(w.now), Some(T0 + 5000));
    w.now += 1000;
    w.put("c");
    w.put("d");
    w.step(&mut always_ok, &mut rng, false);
    assert_eq!(w.call_seqs(), vec![vec![1, 2, 3]], "a full batch goes at once");
    w.settle(&mut always_ok, &mut rng);
    // [4] waited for the window of its own arrival (read at T0 + 2 s).
    assert_eq!(w.call_seqs(), vec![vec![1, 2, 3], vec![4]]);
    assert_eq!(w.calls[1].at, T0 + 7000);
}

#[test]
fn batches_stop_short_of_six_megabytes() {
    let mut w = World::new(json!({"BatchSize": 100}), 1);
    let mut rng = Rng(1);
    let big = "x".repeat(390 * 1024);
    for i in 0..20 {
        w.write(&format!("k{i}"), attrs(&[("blob", Value::S(big.clone()))]), 0, true);
    }
    w.settle(&mut always_ok, &mut rng);
    let calls = w.call_seqs();
    assert!(calls.len() >= 2, "{}", calls.len());
    for c in &w.calls {
        assert!(c.event.to_string().len() <= 6 * 1024 * 1024);
    }
    assert_eq!(calls.concat(), (1..=20).collect::<Vec<_>>());
}

#[test]
fn latest_skips_what_was_written_before_the_mapping() {
    let mut w = World::new(json!({"StartingPosition": "LATEST"}), 1);
    let mut rng = Rng(1);
    w.put("old");
    w.stream.rollover();
    w.put("old2");
    // The records before the mapping's first poll are not for it.
    for t in w.truth.values_mut() {
        t.deliverable = false;
    }
    w.step(&mut always_ok, &mut rng, false);
    w.put("new");
    w.settle(&mut always_ok, &mut rng);
    assert_eq!(w.call_seqs(), vec![vec![3]]);
    assert!(w.ledger.shards["shardId-0000"].finished);
}

#[test]
fn children_wait_until_their_parent_is_finished() {
    let mut w = World::new(
        json!({"BatchSize": 1, "MaximumRetryAttempts": 3, "DestinationConfig": {"OnFailure": {"Destination": DESTINATION}}}),
        1,
    );
    let mut rng = Rng(1);
    w.put("a");
    w.put("b");
    w.stream.rollover();
    w.put("c");
    w.stream.rollover();
    w.put("d");
    let mut failures = 3;
    let mut handler = |c: &Call, _: &mut Rng| {
        if c.seqs == [2] && failures > 0 {
            failures -= 1;
            return fail(false);
        }
        ok(c, "")
    };
    w.settle(&mut handler, &mut rng);
    assert_eq!(w.call_seqs(), vec![vec![1], vec![2], vec![2], vec![2], vec![2], vec![3], vec![4]]);
    assert!(w.ledger.shards["shardId-0000"].finished);
    assert!(w.ledger.shards["shardId-0001"].finished);
    assert!(!w.ledger.shards["shardId-0002"].finished);
}

#[test]
fn parallelization_runs_keys_concurrently_and_each_key_in_order() {
    let mut w = World::new(json!({"BatchSize": 2, "ParallelizationFactor": 4}), 1);
    let mut rng = Rng(7);
    for i in 0..40 {
        w.put(&format!("k{}", i % 8));
    }
    let mut handler = |c: &Call, rng: &mut Rng| Reply { duration: 1 + rng.below(50), ..ok(c, "") };
    w.settle(&mut handler, &mut rng);
    assert!(w.max_concurrent >= 2, "never ran batches concurrently");
    w.assert_all_done();
    assert_eq!(w.ledger.shards["shardId-0000"].done_through, Some(40));
    // Per key, first deliveries are in order.
    let mut last: HashMap<String, Seq> = HashMap::new();
    for c in &w.calls {
        for (s, k) in c.seqs.iter().zip(&c.keys) {
            assert!(last.get(k).is_none_or(|l| l < s), "key {k} out of order");
            last.insert(k.clone(), *s);
        }
    }
}

#[test]
fn a_crash_between_invoke_and_checkpoint_redelivers_the_batch() {
    let mut w = World::new(json!({"BatchSize": 2}), 1);
    let mut rng = Rng(1);
    for k in ["a", "b", "c"] {
        w.put(k);
    }
    w.step(&mut always_ok, &mut rng, false);
    assert_eq!(w.call_seqs(), vec![vec![1, 2]]);
    w.advance(&mut rng, None, 1.0);
    assert_eq!(w.crashes, 1);
    w.settle(&mut always_ok, &mut rng);
    assert_eq!(w.call_seqs(), vec![vec![1, 2], vec![1, 2], vec![3]]);
    w.assert_all_done();
}

#[test]
fn tumbling_windows_carry_state_and_end_with_a_final_invocation() {
    let mut w = World::new(json!({"BatchSize": 10, "TumblingWindowInSeconds": 10}), 1);
    let mut rng = Rng(1);
    // Window boundaries are multiples of 10 s; T0 is one.
    w.now = T0 + 1000;
    w.put("a");
    w.put("b");
    let mut states = Vec::new();
    let mut handler = |c: &Call, _: &mut Rng| {
        states.push((c.event["state"].clone(), c.event["isFinalInvokeForWindow"].clone(), c.event["window"].clone()));
        let n = c.event["state"]["n"].as_u64().unwrap_or(0) + c.seqs.len() as u64;
        ok(c, &json!({"state": {"n": n}}).to_string())
    };
    w.step(&mut handler, &mut rng, false);
    w.advance(&mut rng, None, 0.0);
    w.now = T0 + 5000;
    w.put("c");
    w.step(&mut handler, &mut rng, false);
    w.advance(&mut rng, None, 0.0);
    w.now = T0 + 12_000;
    w.put("d");
    w.settle(&mut handler, &mut rng);
    let seqs: Vec<(Vec<Seq>, bool)> = w.calls.iter().map(|c| (c.seqs.clone(), c.final_window)).collect();
    assert_eq!(seqs, vec![(vec![1, 2], false), (vec![3], false), (vec![], true), (vec![4], false), (vec![], true)]);
    assert_eq!(states[0].0, json!({}));
    assert_eq!(states[1].0, json!({"n": 2}));
    assert_eq!(states[2].0, json!({"n": 3}));
    assert_eq!(states[2].1, json!(true));
    assert_eq!(states[2].2, json!({"start": "2023-11-14T22:13:20Z", "end": "2023-11-14T22:13:30Z"}));
    assert_eq!(states[3].0, json!({}));
    assert_eq!(w.calls[0].event["shardId"], "shardId-0000");
    assert_eq!(w.calls[0].event["eventSourceARN"], STREAM_ARN);
    assert_eq!(w.calls[0].event["isWindowTerminatedEarly"], false);
    assert!(w.ledger.shards["shardId-0000"].window.is_none());
}

#[test]
fn a_tumbling_window_response_without_state_fails() {
    let mut w = World::new(
        json!({"TumblingWindowInSeconds": 10, "MaximumRetryAttempts": 1,
        "DestinationConfig": {"OnFailure": {"Destination": DESTINATION}}}),
        1,
    );
    let mut rng = Rng(1);
    w.put("a");
    w.settle(&mut |c: &Call, _: &mut Rng| ok(c, "{}"), &mut rng);
    assert_eq!(w.call_seqs(), vec![vec![1], vec![1]]);
    assert_eq!(w.failures.len(), 1);
    assert_eq!(w.metrics.lock().unwrap().last_processing_result, "PROBLEM: Function response was invalid");
}

#[test]
fn window_state_survives_a_restart() {
    let mut w = World::new(json!({"TumblingWindowInSeconds": 60}), 1);
    let mut rng = Rng(1);
    w.put("a");
    let mut handler = |c: &Call, _: &mut Rng| {
        let n = c.event["state"]["n"].as_u64().unwrap_or(0) + c.seqs.len() as u64;
        ok(c, &json!({"state": {"n": n}}).to_string())
    };
    w.step(&mut handler, &mut rng, false);
    w.advance(&mut rng, None, 0.0);
    w.step(&mut handler, &mut rng, false);
    assert_eq!(w.ledger.shards["shardId-0000"].window.as_ref().map(|s| s.state.as_str()), Some(r#"{"n":1}"#));
    w.crash();
    w.put("b");
    w.settle(&mut handler, &mut rng);
    assert_eq!(w.calls[1].event["state"], json!({"n": 1}));
    assert_eq!(w.calls[2].event["state"], json!({"n": 2}));
    assert!(w.calls[2].final_window);
}

// ---------------------------------------------------------------- random runs

/// What a seeded run went through, summed over seeds to show the runs reach
/// every path.
#[derive(Debug, Default, Clone, Copy)]
struct Coverage {
    invocations: u64,
    exactly_once_crashes: u64,
    crashes: u64,
    retry_discards: u64,
    age_discards: u64,
    finished_shards: u64,
    concurrent: u64,
    final_windows: u64,
    split_batches: u64,
}

/// One seeded run: random parameters, writes, rollovers, handler faults and
/// crashes; every checker on.
fn run_seed(seed: u64, trace: bool) -> Coverage {
    let mut rng = Rng(seed);
    let max_retries = rng.pick(&[-1i64, 0, 1, 2, 5]);
    let max_age = rng.pick(&[-1i64, -1, 60]);
    let report = rng.chance(0.5);
    let tumbling = rng.chance(0.15);
    let filter = rng.chance(0.3);
    let mut params = json!({
        "BatchSize": rng.pick(&[1, 2, 3, 5, 10]),
        "MaximumBatchingWindowInSeconds": rng.pick(&[0, 0, 1]),
        "ParallelizationFactor": rng.pick(&[1, 1, 2, 3]),
        "MaximumRetryAttempts": max_retries,
        "MaximumRecordAgeInSeconds": max_age,
        "BisectBatchOnFunctionError": rng.chance(0.5),
        "TumblingWindowInSeconds": if tumbling { 5 } else { 0 },
        "DestinationConfig": {"OnFailure": {"Destination": DESTINATION}},
    });
    if report {
        params["FunctionResponseTypes"] = json!(["ReportBatchItemFailures"]);
    }
    let exactly_once = !report && params["ParallelizationFactor"] == 1 && rng.chance(0.5);
    params["ExactlyOnce"] = json!(exactly_once);
    if filter {
        let pattern = json!({"dynamodb": {"NewImage": {"tag": {"S": [{"anything-but": "skip"}]}}}}).to_string();
        params["FilterCriteria"] = json!({"Filters": [{"Pattern": pattern}]});
    }
    let poison_allowed = max_retries >= 0 || max_age > 0;
    let mut w = World::new(params.clone(), 1 + rng.below(3) as u32);
    w.trace = trace;
    w.log(|| format!("seed {seed}: {params}"));
    let keys = 1 + rng.below(8);
    let writes = 20 + rng.below(40);
    let mut schedule: Vec<u64> = (0..writes).map(|_| rng.below(10_000)).collect();
    schedule.sort_unstable();
    let rollovers: Vec<u64> = (0..rng.below(4)).map(|_| rng.below(10_000)).collect();
    let mut next_rollover = rollovers.clone();
    next_rollover.sort_unstable();
    next_rollover.reverse();
    let mut pending: Vec<u64> = schedule.iter().rev().map(|t| T0 + t).collect();
    let mut handler = move |c: &Call, rng: &mut Rng| -> Reply {
        let duration = if rng.chance(0.03) { 4000 } else { 1 + rng.below(30) };
        let state = |c: &Call| {
            let n = c.event["state"]["n"].as_u64().unwrap_or(0) + c.seqs.len() as u64;
            json!({"n": n})
        };
        if duration >= 4000 {
            let e = InvokeError {
                error_type: "Sandbox.Timedout".into(),
                message: "Task timed out".into(),
                unhandled: true,
            };
            return Reply { result: Err(e), duration, handled: Vec::new() };
        }
        let poisoned =
            c.event["Records"].as_array().unwrap().iter().any(|r| r["dynamodb"]["NewImage"]["tag"]["S"] == "poison");
        let with_state = |payload: Json| {
            let mut p = payload;
            if tumbling {
                p["state"] = state(c);
            }
            p.to_string()
        };
        let r = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
        let mut reply = if poisoned || r < 0.12 {
            fail(false)
        } else if r < 0.17 {
            fail(true)
        } else if report && r < 0.32 && !c.seqs.is_empty() {
            let i = rng.below(c.seqs.len() as u64) as usize;
            let mut failed = vec![c.seqs[i]];
            if i + 1 < c.seqs.len() && rng.chance(0.5) {
                failed.push(c.seqs[c.seqs.len() - 1]);
            }
            let mut p = partial(c, &failed);
            p.result = Ok(with_state(serde_json::from_str(p.result.as_ref().unwrap()).unwrap()));
            p
        } else if report && r < 0.36 && !c.seqs.is_empty() {
            let bad = if rng.chance(0.5) { json!("") } else { json!("000000000000000099999") };
            Reply {
                result: Ok(with_state(json!({"batchItemFailures": [{"itemIdentifier": bad}]}))),
                duration: 1,
                handled: Vec::new(),
            }
        } else {
            ok(c, &with_state(json!({})))
        };
        reply.duration = duration;
        reply
    };
    let mut steps = 0u64;
    loop {
        steps += 1;
        assert!(steps < 500_000, "seed {seed}: no progress");
        // Writes and rollovers due now.
        while next_rollover.last().is_some_and(|t| T0 + *t <= w.now) {
            next_rollover.pop();
            w.log(|| "rollover".into());
            w.stream.rollover();
        }
        while pending.last().is_some_and(|t| *t <= w.now) {
            pending.pop();
            let key = format!("k{}", rng.below(keys));
            let depth = if rng.chance(0.03) { 16 + rng.below(3) as u32 } else { rng.below(3) as u32 };
            let tag = if filter && rng.chance(0.2) {
                "skip"
            } else if poison_allowed && rng.chance(0.04) {
                "poison"
            } else {
                "plain"
            };
            let deliverable = depth < 16 && tag != "skip";
            w.write(&key, attrs(&[("tag", Value::S(tag.into())), ("n", num(steps))]), depth, deliverable);
        }
        let crash = rng.chance(0.01);
        w.step(&mut handler, &mut rng, crash);
        let next_write = pending.last().copied();
        let next_roll = next_rollover.last().map(|t| T0 + t);
        let until = [next_write, next_roll].into_iter().flatten().min();
        if !w.advance(&mut rng, until, 0.04) {
            if pending.is_empty() && next_rollover.is_empty() {
                break;
            }
            w.now = until.expect("something pending");
        }
    }
    w.settle(&mut handler, &mut rng);
    w.assert_all_done();
    if exactly_once {
        w.assert_exactly_once();
    }
    if max_retries < 0 && max_age < 0 {
        assert!(w.failures.is_empty(), "records discarded with infinite retries and age");
    }
    let m = w.metrics.lock().unwrap().snapshot(w.now);
    // Records given up count once their commit is durable, crashes or not
    // (a crash before a commit gives them up again); invocations count
    // work a crash undid too.
    assert_eq!(m.total.sent_to_destination, w.failures.iter().map(|f| f.seqs.len() as u64).sum::<u64>());
    if w.crashes == 0 {
        assert_eq!(m.total.invocations, w.calls.len() as u64);
    }
    let condition = |c: &str| w.failures.iter().filter(|f| f.record["requestContext"]["condition"] == c).count() as u64;
    Coverage {
        invocations: w.calls.len() as u64,
        exactly_once_crashes: if exactly_once { u64::from(w.crashes) } else { 0 },
        crashes: u64::from(w.crashes),
        retry_discards: condition("RetryAttemptsExhausted"),
        age_discards: condition("RecordAgeExceeded"),
        finished_shards: w.ledger.shards.values().filter(|c| c.finished).count() as u64,
        concurrent: u64::from(w.max_concurrent > 1),
        final_windows: w.calls.iter().filter(|c| c.final_window).count() as u64,
        split_batches: w
            .calls
            .windows(2)
            .filter(|p| p[1].seqs.len() < p[0].seqs.len() && p[1].seqs.first() == p[0].seqs.first())
            .count() as u64,
    }
}

#[test]
fn random_runs_keep_every_invariant() {
    if let Some(seed) = std::env::var("ESM_SIM_SEED").ok().and_then(|s| s.parse::<u64>().ok()) {
        eprintln!("{:?}", run_seed(seed, true));
        return;
    }
    let seeds: u64 = std::env::var("ESM_SIM_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
    let mut total = Coverage::default();
    for seed in 0..seeds {
        match std::panic::catch_unwind(|| run_seed(seed, false)) {
            Ok(c) => {
                total.invocations += c.invocations;
                total.exactly_once_crashes += c.exactly_once_crashes;
                total.crashes += c.crashes;
                total.retry_discards += c.retry_discards;
                total.age_discards += c.age_discards;
                total.finished_shards += c.finished_shards;
                total.concurrent += c.concurrent;
                total.final_windows += c.final_windows;
                total.split_batches += c.split_batches;
            }
            Err(e) => {
                let msg =
                    e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
                panic!("seed {seed} failed: {}\nreplay with ESM_SIM_SEED={seed}", msg.unwrap_or_default());
            }
        }
    }
    eprintln!("{seeds} seeds: {total:?}");
    if seeds >= 100 {
        let c = total;
        for (what, n) in [
            ("crashes", c.crashes),
            ("crashes in exactly-once mode", c.exactly_once_crashes),
            ("retry discards", c.retry_discards),
            ("age discards", c.age_discards),
            ("finished shards", c.finished_shards),
            ("concurrent batches", c.concurrent),
            ("final window invocations", c.final_windows),
            ("split batches", c.split_batches),
        ] {
            assert!(n > 0, "no seed reached {what}: {c:?}");
        }
    }
}

#[test]
fn shards_unknown_to_the_ledger_start_at_the_horizon() {
    let _ = ShardCheckpoint::default();
    let mut w = World::new(json!({}), 2);
    let mut rng = Rng(3);
    for i in 0..10 {
        w.put(&format!("k{i}"));
    }
    w.settle(&mut always_ok, &mut rng);
    let delivered: BTreeSet<Seq> = w.calls.iter().flat_map(|c| c.seqs.clone()).collect();
    assert_eq!(delivered, (1..=10).collect());
}

/// Sequence numbers are sparse per shard (the stream numbers its records
/// across shards): a checkpoint is written once per batch, naming the
/// batch's last record, never for a gap before a record, and a shard
/// nothing was read from keeps the checkpoint it started with (none).
#[test]
fn a_checkpoint_is_written_once_per_batch_and_names_a_record() {
    let mut w = World::new(json!({"BatchSize": 2}), 3);
    let mut rng = Rng(5);
    w.settle(&mut always_ok, &mut rng);
    assert_eq!(w.checkpoints_written, 0, "nothing read, nothing to checkpoint");
    for i in 0..30 {
        w.put(&format!("k{i}"));
        if i % 3 == 0 {
            w.settle(&mut always_ok, &mut rng);
        }
    }
    w.settle(&mut always_ok, &mut rng);
    w.assert_all_done();
    assert_eq!(w.checkpoints_written, w.calls.len(), "one checkpoint per batch");
    for (shard, cp) in &w.ledger.shards {
        let d = cp.done_through.expect("a checkpoint");
        let last = w.truth.iter().filter(|(_, t)| t.shard == *shard).map(|(s, _)| *s).max();
        assert_eq!(Some(d), last, "the checkpoint of {shard} is its last record");
    }
    let shards: BTreeSet<&String> = w.truth.values().map(|t| &t.shard).collect();
    assert_eq!(shards.len(), 3, "every shard had records (sparse numbers in each)");
}
