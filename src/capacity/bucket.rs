//! A token bucket of capacity units on an explicit clock: no time is read
//! here, so the same code runs on the wall clock and on virtual time.

/// Microseconds on some monotonic clock ([`super::Clock`]).
pub type Micros = u64;

/// Units that refill at `rate` a second up to `capacity`. A request is
/// admitted while the bucket holds more than nothing, and then pays what it
/// actually consumed, which may take the bucket below zero: DynamoDB
/// admits a read before it knows its size (a Scan page, a Query) and
/// charges it after, so a large request runs and the ones after it wait
/// until the debt has refilled.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    at: Micros,
}

impl Bucket {
    /// A full bucket at `now`.
    pub fn full(rate: f64, capacity: f64, now: Micros) -> Bucket {
        Bucket { rate, capacity, tokens: capacity, at: now }
    }

    /// Refills for the time since the last look (a clock that went back
    /// refills nothing).
    fn refill(&mut self, now: Micros) {
        if now > self.at {
            let secs = (now - self.at) as f64 / 1e6;
            self.tokens = (self.tokens + secs * self.rate).min(self.capacity);
            self.at = now;
        }
    }

    /// Whether a request may start now.
    pub fn admits(&mut self, now: Micros) -> bool {
        self.refill(now);
        self.tokens > 0.0
    }

    /// Takes `units` consumed at `now` (the balance may go negative).
    pub fn charge(&mut self, units: f64, now: Micros) {
        self.refill(now);
        self.tokens -= units;
    }

    /// The units held now (negative while in debt).
    pub fn tokens(&mut self, now: Micros) -> f64 {
        self.refill(now);
        self.tokens
    }

    /// Whether the bucket is full at `now`: it then carries no state a
    /// fresh one would not, and may be forgotten.
    pub fn is_full(&mut self, now: Micros) -> bool {
        self.refill(now);
        self.tokens >= self.capacity
    }

    /// A new rate and capacity (UpdateTable): what the bucket holds is
    /// kept, up to the new capacity.
    pub fn resize(&mut self, rate: f64, capacity: f64, now: Micros) {
        self.refill(now);
        self.rate = rate;
        self.capacity = capacity;
        self.tokens = self.tokens.min(capacity);
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    pub fn capacity(&self) -> f64 {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Micros = 1_000_000;

    #[test]
    fn a_bucket_admits_until_spent_and_refills_at_its_rate() {
        let mut b = Bucket::full(5.0, 10.0, 0);
        for _ in 0..10 {
            assert!(b.admits(0));
            b.charge(1.0, 0);
        }
        assert!(!b.admits(0), "ten units spent");
        // Any refill at all lets the next request start (and pay).
        assert!(b.admits(1));
        assert!(b.tokens(SEC / 5) > 0.999);
        // Never past its capacity.
        assert_eq!(b.tokens(1000 * SEC), 10.0);
    }

    #[test]
    fn debt_is_paid_before_the_next_request() {
        let mut b = Bucket::full(1.0, 1.0, 0);
        assert!(b.admits(0));
        b.charge(4.0, 0);
        assert_eq!(b.tokens(0), -3.0);
        assert!(!b.admits(3 * SEC));
        assert!(b.admits(3 * SEC + 1));
    }

    #[test]
    fn resizing_keeps_what_fits() {
        let mut b = Bucket::full(10.0, 100.0, 0);
        b.resize(1.0, 5.0, 0);
        assert_eq!(b.tokens(0), 5.0);
        b.charge(5.0, 0);
        b.resize(100.0, 1000.0, 0);
        assert_eq!(b.tokens(SEC), 100.0);
    }
}
