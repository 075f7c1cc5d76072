//! Per-mapping and per-shard delivery metrics, as Lambda publishes them for
//! stream event sources (IteratorAge, PolledEventCount, FilteredOutEventCount,
//! DroppedEventCount, OnFailureDestinationDeliveredEventCount, ...).

use std::collections::BTreeMap;

use super::source::format_seq;
use serde::{Deserialize, Serialize};

use super::ledger::Commit;

/// Counters of one shard. Record counts count a record each time it is
/// delivered, so redeliveries count again; records given up count once
/// their discard is committed (a discard whose commit failed, its
/// destination not taking the record, say, is not counted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ShardMetrics {
    /// Now minus the arrival time of the last record read, when it was
    /// read; 0 once a read finds nothing newer, or the shard is finished.
    pub iterator_age_ms: u64,
    /// Records read from the stream.
    pub polled: u64,
    /// Records no filter pattern matched (dropped, and checkpointed past).
    pub filtered: u64,
    /// Records handed to the function.
    pub invoked: u64,
    /// Invocations.
    pub invocations: u64,
    /// Records of invocations that failed (or that a partial response
    /// reported for retry).
    pub failed: u64,
    /// Records given up: retries exhausted, too old, trimmed, or too deep in
    /// a chain of triggers (counted when the commit that passes them, or
    /// describes them to the destination, is durable).
    pub dropped: u64,
    /// Records described in on-failure destination records written.
    pub sent_to_destination: u64,
    /// The durable checkpoint: the last sequence number done.
    pub checkpoint: Option<String>,
    /// The shard is closed and fully processed.
    pub finished: bool,
}

impl ShardMetrics {
    /// The counts since `base` (an earlier reading of the same shard).
    fn since(&self, base: &ShardMetrics) -> ShardMetrics {
        ShardMetrics {
            iterator_age_ms: self.iterator_age_ms,
            polled: self.polled.saturating_sub(base.polled),
            filtered: self.filtered.saturating_sub(base.filtered),
            invoked: self.invoked.saturating_sub(base.invoked),
            invocations: self.invocations.saturating_sub(base.invocations),
            failed: self.failed.saturating_sub(base.failed),
            dropped: self.dropped.saturating_sub(base.dropped),
            sent_to_destination: self.sent_to_destination.saturating_sub(base.sent_to_destination),
            checkpoint: None,
            finished: false,
        }
    }

    /// No counts at all.
    fn is_empty(&self) -> bool {
        *self == ShardMetrics::default()
    }

    fn add(&mut self, o: &ShardMetrics) {
        self.iterator_age_ms = self.iterator_age_ms.max(o.iterator_age_ms);
        self.polled += o.polled;
        self.filtered += o.filtered;
        self.invoked += o.invoked;
        self.invocations += o.invocations;
        self.failed += o.failed;
        self.dropped += o.dropped;
        self.sent_to_destination += o.sent_to_destination;
    }
}

/// A snapshot of one mapping's metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MappingMetrics {
    pub uuid: String,
    /// Lambda's `LastProcessingResult`.
    pub last_processing_result: String,
    /// Sums over the shards, those released included (`iteratorAgeMs` is
    /// the largest of the shards shown).
    pub total: ShardMetrics,
    /// The shards being delivered: on a worker of a fleet, those whose
    /// leases it holds now.
    pub shards: BTreeMap<String, ShardMetrics>,
    /// The counts of shards a worker no longer holds (their leases lost,
    /// handed back or finished), kept so that its totals only grow.
    #[serde(skip_serializing_if = "ShardMetrics::is_empty")]
    pub released: ShardMetrics,
    /// Why the stream's source (or its lease table) cannot be used now:
    /// shown as `LastProcessingResult` (`PROBLEM: ...`) while it lasts, set
    /// by the delivery task; not saved.
    #[serde(skip)]
    pub source_problem: Option<String>,
    /// While there is a source problem: the largest iterator age of the
    /// shards shown when it was first seen, and when (ms). See
    /// [`MappingMetrics::set_source_problem`]; not saved.
    #[serde(skip)]
    pub stalled: Option<(u64, u64)>,
    /// Each shard's counts when this process loaded the saved metrics.
    #[serde(skip)]
    pub at_load: BTreeMap<String, ShardMetrics>,
    /// What this run counted on shards forgotten since (finished, or gone
    /// from the stream).
    #[serde(skip)]
    pub forgotten: ShardMetrics,
    /// The batches invoked lately, by record (shared, not saved).
    #[serde(skip)]
    pub batches: super::trace::BatchLog,
}

impl MappingMetrics {
    /// Empty metrics of mapping `uuid`.
    pub fn new(uuid: &str) -> Self {
        MappingMetrics {
            uuid: uuid.into(),
            last_processing_result: "No records processed".into(),
            ..Default::default()
        }
    }

    pub(crate) fn shard(&mut self, id: &str) -> &mut ShardMetrics {
        if !self.shards.contains_key(id) {
            self.shards.insert(id.to_string(), ShardMetrics::default());
        }
        self.shards.get_mut(id).expect("inserted")
    }

    /// Shows the checkpoints of `commit`, and counts the records it gives
    /// up, once it is durable.
    pub fn record_commit(&mut self, commit: &Commit) {
        for (id, n) in &commit.dropped {
            self.shard(id).dropped += n;
        }
        for f in &commit.failures {
            self.shard(&f.shard).sent_to_destination += f.seqs.len() as u64;
        }
        for (id, cp) in &commit.checkpoints {
            let m = self.shard(id);
            m.checkpoint = cp.done_through.map(format_seq);
            m.finished = cp.finished;
        }
        for id in &commit.forget {
            self.forget(id);
        }
    }

    /// Forgets shard `id` (gone from the stream): its counts of this run
    /// stay in [`MappingMetrics::this_run`]. What it was shown with.
    fn forget(&mut self, id: &str) -> Option<ShardMetrics> {
        let gone = self.shards.remove(id)?;
        let base = self.at_load.remove(id).unwrap_or_default();
        self.forgotten.add(&gone.since(&base));
        Some(gone)
    }

    /// Shard `id` is no longer delivered here (a worker's lease lost, handed
    /// back or finished): it leaves the shards shown, its iterator age with
    /// it, and its counts stay in the totals.
    pub fn release(&mut self, id: &str) {
        if let Some(gone) = self.forget(id) {
            let mut counts = gone;
            counts.iterator_age_ms = 0;
            self.released.add(&counts);
        }
    }

    /// Sets why the stream's source (or its lease table) cannot be used,
    /// `None` once it can, at `now_ms`. While it cannot, the iterator age
    /// of `total` grows from the largest age shown when the problem was
    /// first seen, by the time since: nothing is read, so what was behind
    /// falls further behind (as Lambda's IteratorAge keeps growing while a
    /// mapping's processing stalls), and an age alarm fires during an
    /// outage even after a worker that cannot renew its leases has dropped
    /// its shards (and their ages) from the view.
    pub fn set_source_problem(&mut self, problem: Option<String>, now_ms: u64) {
        match (&problem, &self.source_problem) {
            (Some(_), None) => {
                let age = self.shards.values().map(|s| s.iterator_age_ms).max().unwrap_or(0);
                self.stalled = Some((age, now_ms));
            }
            (None, _) => self.stalled = None,
            (Some(_), Some(_)) => {}
        }
        self.source_problem = problem;
    }

    /// The counts of this process's run (the saved metrics hold earlier
    /// runs' too): they only grow, whatever shards come and go.
    /// `iteratorAgeMs` is the largest now.
    pub fn this_run(&self) -> ShardMetrics {
        let mut out = self.forgotten.clone();
        out.iterator_age_ms = 0;
        for (id, s) in &self.shards {
            out.add(&s.since(self.at_load.get(id).unwrap_or(&ShardMetrics::default())));
        }
        out
    }

    /// The snapshot at `now_ms` with `total` summed, and a source problem,
    /// if any, as its `last_processing_result` (and in its iterator age,
    /// see [`MappingMetrics::set_source_problem`]).
    pub fn snapshot(&self, now_ms: u64) -> MappingMetrics {
        let mut out = self.clone();
        let mut total = self.released.clone();
        total.iterator_age_ms = 0;
        for s in self.shards.values() {
            total.add(s);
        }
        out.total = total;
        if let Some(p) = &self.source_problem {
            out.last_processing_result = format!("PROBLEM: {p}");
            if let Some((age, since)) = self.stalled {
                let grown = age.saturating_add(now_ms.saturating_sub(since));
                out.total.iterator_age_ms = out.total.iterator_age_ms.max(grown);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_runs_counts_only_grow_as_shards_come_and_go() {
        let mut m = MappingMetrics::new("m");
        // Loaded from an earlier run: five invocations on s1, two on s0.
        m.shard("s0").invocations = 2;
        m.shard("s1").invocations = 5;
        m.at_load = m.shards.clone();
        assert_eq!(m.this_run().invocations, 0);
        m.shard("s1").invocations += 2;
        m.shard("s2").invocations = 3;
        assert_eq!(m.this_run().invocations, 5);
        // s0 (nothing this run) and s1 (two this run) forgotten.
        m.record_commit(&Commit { forget: vec!["s0".into(), "s1".into()], ..Default::default() });
        assert_eq!(m.this_run().invocations, 5);
        m.shard("s2").invocations += 1;
        assert_eq!(m.this_run().invocations, 6);
        assert_eq!(m.snapshot(0).total.invocations, 4, "the total is the shards kept");
    }

    #[test]
    fn a_released_shard_leaves_the_shards_shown_and_its_counts_stay() {
        let mut m = MappingMetrics::new("m");
        m.shard("s0").invocations = 3;
        m.shard("s0").iterator_age_ms = 900;
        m.shard("s1").invocations = 2;
        m.release("s0");
        m.release("nothing");
        let snap = m.snapshot(0);
        assert_eq!(snap.shards.keys().collect::<Vec<_>>(), ["s1"]);
        assert_eq!(snap.total.invocations, 5, "the totals keep the released shard's counts");
        assert_eq!(snap.total.iterator_age_ms, 0, "only the shards shown have an age");
        assert_eq!(m.this_run().invocations, 5);
        // Saved and loaded again, the released counts stay.
        let saved: MappingMetrics = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(saved.snapshot(0).total.invocations, 5);
        // A problem with the source is shown while it lasts, and not saved.
        m.set_source_problem(Some("the source cannot be reached".into()), 1000);
        assert_eq!(m.snapshot(1000).last_processing_result, "PROBLEM: the source cannot be reached");
        let saved: MappingMetrics = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(saved.snapshot(1000).last_processing_result, "No records processed");
        assert_eq!(saved.snapshot(9000).total.iterator_age_ms, 0, "nor is its iterator age");
    }

    #[test]
    fn the_iterator_age_grows_while_the_source_cannot_be_used() {
        let mut m = MappingMetrics::new("m");
        m.shard("s0").iterator_age_ms = 400;
        m.shard("s1").iterator_age_ms = 0;
        m.set_source_problem(Some("the source cannot be reached".into()), 10_000);
        assert_eq!(m.snapshot(10_000).total.iterator_age_ms, 400);
        // Another failure's text: the same outage, the same start.
        m.set_source_problem(Some("the lease table cannot be reached".into()), 12_000);
        assert_eq!(m.snapshot(12_500).total.iterator_age_ms, 2_900);
        // A worker that cannot renew drops its shards: the age keeps growing.
        m.release("s0");
        m.release("s1");
        assert_eq!(m.snapshot(20_000).total.iterator_age_ms, 10_400);
        // The source back: the shards read again say the age.
        m.set_source_problem(None, 21_000);
        assert_eq!(m.snapshot(21_000).total.iterator_age_ms, 0);
        m.shard("s0").iterator_age_ms = 30;
        assert_eq!(m.snapshot(30_000).total.iterator_age_ms, 30);
        // A new outage starts from the age then; one cleared by a stop
        // (the delivery task resets the problem alone) does not carry over.
        m.set_source_problem(Some("down".into()), 40_000);
        assert_eq!(m.snapshot(41_000).total.iterator_age_ms, 1_030);
        m.source_problem = None;
        assert_eq!(m.snapshot(50_000).total.iterator_age_ms, 30);
        m.set_source_problem(Some("down".into()), 60_000);
        assert_eq!(m.snapshot(60_000).total.iterator_age_ms, 30);
    }

    #[test]
    fn records_given_up_count_once_their_commit_is_durable() {
        use crate::esm::ledger::FailureRecord;
        let mut m = MappingMetrics::new("m");
        let failure = |seqs: Vec<crate::esm::source::Seq>| FailureRecord {
            shard: "s0".into(),
            destination: "arn:aws:dynamodb:us-east-1:000000000000:table/Failed".into(),
            record: serde_json::Value::Null,
            depth: 0,
            seqs,
        };
        m.record_commit(&Commit {
            failures: vec![failure(vec![1, 2]), failure(vec![5])],
            dropped: vec![("s0".into(), 3), ("s1".into(), 1)],
            ..Default::default()
        });
        let total = m.snapshot(0).total;
        assert_eq!((total.dropped, total.sent_to_destination), (4, 3));
        assert_eq!((m.shards["s0"].dropped, m.shards["s1"].dropped), (3, 1));
    }
}
