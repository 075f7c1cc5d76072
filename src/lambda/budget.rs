//! Byte budgets: memory the Lambda side holds for its clients (request bodies being read or
//! worked on, queued asynchronous events), counted as it is taken and given back when the
//! [`Reservation`] is dropped. Running out is the client's signal to retry later
//! (`TooManyRequestsException`), never a reason to hold more.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// At most `limit` bytes reserved at once.
#[derive(Debug)]
pub struct ByteBudget {
    used: AtomicUsize,
    limit: usize,
}

/// Bytes taken from a [`ByteBudget`]; given back when dropped.
#[derive(Debug)]
#[must_use = "a reservation is given back when dropped"]
pub struct Reservation {
    budget: Arc<ByteBudget>,
    bytes: usize,
}

impl ByteBudget {
    pub fn new(limit: usize) -> Arc<ByteBudget> {
        Arc::new(ByteBudget { used: AtomicUsize::new(0), limit })
    }

    /// Takes `bytes` if they fit beside what is reserved now.
    pub fn try_reserve(self: &Arc<Self>, bytes: usize) -> Option<Reservation> {
        self.take(bytes).then(|| Reservation { budget: self.clone(), bytes })
    }

    /// Bytes reserved now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// The most bytes reserved at once.
    pub fn limit(&self) -> usize {
        self.limit
    }

    fn take(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.limit)
            })
            .is_ok()
    }
}

impl Reservation {
    /// Grows the reservation to `bytes` (no-op if it holds that many already); `false` if the
    /// budget has no room for the difference.
    pub fn grow_to(&mut self, bytes: usize) -> bool {
        let more = bytes.saturating_sub(self.bytes);
        if more == 0 {
            return true;
        }
        if !self.budget.take(more) {
            return false;
        }
        self.bytes = bytes;
        true
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_fit_the_limit_and_are_given_back() {
        let budget = ByteBudget::new(100);
        let mut a = budget.try_reserve(60).unwrap();
        assert!(budget.try_reserve(41).is_none());
        let b = budget.try_reserve(40).unwrap();
        assert_eq!(budget.used(), 100);
        drop(b);
        assert!(a.grow_to(90));
        assert!(!a.grow_to(101));
        assert_eq!((a.bytes(), budget.used()), (90, 90));
        drop(a);
        assert_eq!(budget.used(), 0);
        assert!(budget.try_reserve(usize::MAX).is_none(), "no overflow");
    }
}
