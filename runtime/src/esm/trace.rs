//! The batches a mapping invoked lately, by the records in them: what a
//! trace of a write asks ("which invocations handled this record?"). Kept
//! in memory per mapping, within [`MAX_TRACED_BATCHES`] and
//! [`MAX_TRACED_RECORDS`], the oldest forgotten first.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use super::source::format_seq;
use serde::Serialize;

/// Batches remembered per mapping.
pub const MAX_TRACED_BATCHES: usize = 1_000;
/// Records (sequence numbers) remembered per mapping, over its batches: at
/// 8 bytes each, about 160 KB a mapping.
pub const MAX_TRACED_RECORDS: usize = 20_000;

/// One invocation of a batch of records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TracedBatch {
    pub shard_id: String,
    pub request_id: String,
    /// When the invocation ended, epoch milliseconds.
    pub finished_ms: u64,
    pub batch_size: usize,
    pub first_sequence_number: String,
    pub last_sequence_number: String,
    /// The function's error type, if it failed.
    pub function_error: Option<String>,
    #[serde(skip)]
    pub seqs: Vec<super::source::Seq>,
}

/// A mapping's recent batches.
#[derive(Debug, Default)]
struct Log {
    batches: VecDeque<TracedBatch>,
    records: usize,
}

/// A handle on a mapping's recent batches, shared by its delivery task and
/// readers (cloning shares it).
#[derive(Debug, Clone, Default)]
pub struct BatchLog(Arc<Mutex<Log>>);

impl PartialEq for BatchLog {
    /// Metrics compare by their counters; the log is not one.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for BatchLog {}

impl BatchLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remembers an invocation of the records `seqs` (in order) of `shard`.
    pub(crate) fn push(
        &self,
        shard: &str,
        request_id: &str,
        finished_ms: u64,
        seqs: Vec<super::source::Seq>,
        error: Option<String>,
    ) {
        let (Some(first), Some(last)) = (seqs.first().copied(), seqs.last().copied()) else { return };
        let batch_size = seqs.len();
        let mut seqs = seqs;
        // A batch larger than the whole budget keeps its ends only.
        if seqs.len() > MAX_TRACED_RECORDS {
            seqs = vec![first, last];
        }
        let mut log = self.lock();
        while log.batches.len() >= MAX_TRACED_BATCHES || log.records + seqs.len() > MAX_TRACED_RECORDS {
            let Some(old) = log.batches.pop_front() else { break };
            log.records -= old.seqs.len();
        }
        log.records += seqs.len();
        log.batches.push_back(TracedBatch {
            shard_id: shard.to_string(),
            request_id: request_id.to_string(),
            finished_ms,
            batch_size,
            first_sequence_number: format_seq(first),
            last_sequence_number: format_seq(last),
            function_error: error,
            seqs,
        });
    }

    /// The remembered invocations whose batch held record `seq` of `shard`,
    /// oldest first.
    pub fn containing(&self, shard: &str, seq: super::source::Seq) -> Vec<TracedBatch> {
        self.lock()
            .batches
            .iter()
            .filter(|b| b.shard_id == shard && b.seqs.binary_search(&seq).is_ok())
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_batches_of_a_record_within_bounds() {
        let log = BatchLog::default();
        log.push("s1", "r1", 1, vec![3, 5, 9], Some("Unhandled".into()));
        log.push("s1", "r2", 2, vec![3, 5, 9], None);
        log.push("s2", "r3", 3, vec![4], None);
        log.push("s1", "r4", 4, Vec::new(), None);
        let found: Vec<String> = log.containing("s1", 5).into_iter().map(|b| b.request_id).collect();
        assert_eq!(found, ["r1", "r2"]);
        assert!(log.containing("s1", 4).is_empty());
        assert_eq!(log.containing("s2", 4)[0].first_sequence_number, format_seq(4));
        for i in 0..MAX_TRACED_BATCHES as u128 {
            log.push("s3", "x", 5, vec![i], None);
        }
        assert_eq!(log.lock().batches.len(), MAX_TRACED_BATCHES);
        assert!(log.containing("s1", 5).is_empty(), "the oldest went first");
        log.push("s4", "big", 6, (0..MAX_TRACED_RECORDS as u128).collect(), None);
        let l = log.lock();
        assert!(l.records <= MAX_TRACED_RECORDS && l.batches.len() == 1, "{}", l.records);
    }
}
