//! The most frequent keys of a stream of events, in bounded memory: the
//! Space-Saving algorithm (Metwally, Agrawal and El Abbadi, 2005) over
//! consecutive time windows. Each window keeps at most [`COUNTERS`] keys;
//! a key seen while the window is full takes the place of the least
//! counted one and inherits its count, so a count is never below the
//! key's true count in that window and at most the evicted count above it.
//! Every key that made up more than 1/[`COUNTERS`] of a window's events is
//! in it. Time is given by the caller (seconds), so tests run on any clock.

use std::collections::{HashMap, VecDeque};

/// Keys counted per window at most.
pub const COUNTERS: usize = 100;
/// The length of a window, seconds: CloudWatch's five-minute period.
pub const WINDOW_SECS: u64 = 300;
/// Windows kept: an hour of them, and the one under way (a span of the
/// last hour overlaps thirteen).
pub const WINDOWS: usize = 13;

/// One window: the events counted from `start`, exactly, and the keys'
/// approximate counts.
#[derive(Debug)]
struct Window {
    start: u64,
    total: u64,
    counts: HashMap<Vec<String>, u64>,
}

/// The recent windows of one rule, newest last.
#[derive(Debug, Default)]
pub struct Windows {
    windows: VecDeque<Window>,
}

/// The keys of a span of windows, most counted first.
#[derive(Debug, Default, PartialEq)]
pub struct Top {
    /// Events counted in the span (exact).
    pub total: u64,
    /// The most counted keys with their approximate counts.
    pub keys: Vec<(Vec<String>, u64)>,
}

impl Windows {
    /// Counts `n` events of `key` at `now`.
    pub fn record(&mut self, key: &[String], n: u64, now: u64) {
        let start = now - now % WINDOW_SECS;
        if self.windows.back().is_none_or(|w| w.start < start) {
            self.windows.push_back(Window { start, total: 0, counts: HashMap::new() });
            while self.windows.len() > WINDOWS {
                self.windows.pop_front();
            }
        }
        // A clock that stepped back counts into the newest window.
        let Some(w) = self.windows.back_mut() else { return };
        w.total += n;
        if let Some(c) = w.counts.get_mut(key) {
            *c += n;
            return;
        }
        let mut inherited = 0;
        if w.counts.len() >= COUNTERS
            && let Some((least, count)) = w.counts.iter().min_by_key(|(_, c)| **c).map(|(k, c)| (k.clone(), *c))
        {
            w.counts.remove(&least);
            inherited = count;
        }
        w.counts.insert(key.to_vec(), inherited + n);
    }

    /// The `limit` most counted keys of the windows that overlap the last
    /// `span` seconds before `now` (so whole windows: a span is counted
    /// from up to a window before it).
    pub fn top(&self, now: u64, span: u64, limit: usize) -> Top {
        let since = now.saturating_sub(span);
        let mut total = 0;
        let mut merged: HashMap<&Vec<String>, u64> = HashMap::new();
        for w in self.windows.iter().filter(|w| w.start + WINDOW_SECS > since && w.start <= now) {
            total += w.total;
            for (k, c) in &w.counts {
                *merged.entry(k).or_default() += c;
            }
        }
        let mut keys: Vec<(Vec<String>, u64)> = merged.into_iter().map(|(k, c)| (k.clone(), c)).collect();
        keys.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        keys.truncate(limit);
        Top { total, keys }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Vec<String> {
        vec![s.to_string()]
    }

    #[test]
    fn the_most_counted_keys_come_first() {
        let mut w = Windows::default();
        for (key, n) in [("a", 5), ("b", 9), ("c", 1)] {
            for _ in 0..n {
                w.record(&k(key), 1, 1000);
            }
        }
        let top = w.top(1000, 300, 2);
        assert_eq!(top.total, 15);
        assert_eq!(top.keys, vec![(k("b"), 9), (k("a"), 5)]);
    }

    #[test]
    fn a_heavy_key_survives_many_light_ones() {
        let mut w = Windows::default();
        // 10,000 distinct keys once each, and one key 500 times among them:
        // far past the window's counters, the heavy key stays on top.
        for i in 0..10_000 {
            w.record(&k(&format!("light{i}")), 1, 0);
            if i % 20 == 0 {
                w.record(&k("heavy"), 1, 0);
            }
        }
        let top = w.top(0, 300, 1);
        assert_eq!(top.total, 10_500);
        assert_eq!(top.keys[0].0, k("heavy"));
        assert!(top.keys[0].1 >= 500, "never under the true count: {}", top.keys[0].1);
        assert!(w.windows[0].counts.len() <= COUNTERS);
    }

    #[test]
    fn windows_roll_and_spans_choose_them() {
        let mut w = Windows::default();
        w.record(&k("old"), 7, 0);
        w.record(&k("new"), 2, WINDOW_SECS);
        assert_eq!(w.top(WINDOW_SECS + 60, 60, 10).keys, vec![(k("new"), 2)], "the last minute: this window only");
        assert_eq!(w.top(WINDOW_SECS, 60, 10).keys, vec![(k("old"), 7), (k("new"), 2)], "overlaps the window before");
        assert_eq!(w.top(WINDOW_SECS + 60, 600, 10).keys, vec![(k("old"), 7), (k("new"), 2)]);
        // An hour later only the windows of the last hour are kept.
        for i in 2..=(WINDOWS as u64 + 1) {
            w.record(&k("new"), 1, i * WINDOW_SECS);
        }
        assert_eq!(w.windows.len(), WINDOWS);
        let all = w.top((WINDOWS as u64 + 1) * WINDOW_SECS, 3600, 10);
        assert!(all.keys.iter().all(|(key, _)| key != &k("old")), "{all:?}");
    }
}
