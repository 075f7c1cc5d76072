//! Target tracking as Application Auto Scaling does it for DynamoDB, as a
//! state machine given the time: no clock is read here, so a test runs a
//! day of traffic in milliseconds.
//!
//! Each minute the utilization of a table's (or index's) read or write
//! capacity is observed: the units consumed that minute, per second, over
//! the provisioned units. AWS's CloudWatch alarms for a target of T %:
//! - high: above T % for [`HIGH_DATAPOINTS`] consecutive minutes, and the
//!   policy scales out;
//! - low: more than [`LOW_MARGIN`] points below T % for [`LOW_DATAPOINTS`]
//!   consecutive minutes, and it scales in (unless scale-in is disabled).
//!
//! The new capacity is what puts the observed rate at the target
//! (`ceil(rate / T %)`), within the target's minimum and maximum. A table
//! may be decreased [`DECREASES_ANYTIME`] times a UTC day, and once more
//! each hour without a decrease after those ([`MAX_DECREASES_PER_DAY`] in
//! all), as DynamoDB allows.

/// Minutes above the target before a scale-out (AWS's high alarm).
pub const HIGH_DATAPOINTS: u32 = 2;
/// Minutes below the low threshold before a scale-in (AWS's low alarm).
pub const LOW_DATAPOINTS: u32 = 15;
/// The low alarm's threshold: this many percentage points under the target.
pub const LOW_MARGIN: f64 = 20.0;
/// Decreases a table may have at any time of a UTC day.
pub const DECREASES_ANYTIME: u32 = 4;
/// After those, one more once an hour has passed without a decrease.
pub const DECREASE_INTERVAL_SECS: u64 = 3600;
/// DynamoDB's limit of decreases in a UTC day.
pub const MAX_DECREASES_PER_DAY: u32 = 27;

/// A target tracking policy's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracking {
    /// The utilization to keep, in percent.
    pub target: f64,
    pub scale_out_cooldown_secs: u64,
    pub scale_in_cooldown_secs: u64,
    pub disable_scale_in: bool,
}

/// Decreases in the current UTC day.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decreases {
    pub day: u64,
    pub count: u32,
    pub last: Option<u64>,
}

impl Decreases {
    /// Whether a decrease is allowed at `now` (epoch seconds).
    pub fn allowed(&self, now: u64) -> bool {
        let count = if now / 86_400 == self.day { self.count } else { 0 };
        count < DECREASES_ANYTIME
            || (count < MAX_DECREASES_PER_DAY
                && self.last.is_none_or(|l| now.saturating_sub(l) >= DECREASE_INTERVAL_SECS))
    }

    /// Records a decrease at `now`.
    pub fn record(&mut self, now: u64) {
        let day = now / 86_400;
        if day != self.day {
            self.day = day;
            self.count = 0;
        }
        self.count += 1;
        self.last = Some(now);
    }
}

/// One scalable target's alarm state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Alarms {
    /// Consecutive minutes above the target, and under the low threshold.
    pub high: u32,
    pub low: u32,
    pub last_scale_out: Option<u64>,
    pub last_scale_in: Option<u64>,
}

/// What the controller decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    ScaleOut { to: u64, utilization: f64 },
    ScaleIn { to: u64, utilization: f64 },
}

/// Observes one minute at `now` (epoch seconds): `consumed` units in the
/// minute against `provisioned`, for a target kept within `min..=max`.
pub fn observe(
    alarms: &mut Alarms,
    decreases: &mut Decreases,
    policy: &Tracking,
    (min, max): (u64, u64),
    now: u64,
    consumed: f64,
    provisioned: u64,
) -> Option<Decision> {
    let rate = consumed / 60.0;
    let utilization = if provisioned > 0 { rate / provisioned as f64 * 100.0 } else { f64::INFINITY };
    if utilization > policy.target {
        alarms.high += 1;
    } else {
        alarms.high = 0;
    }
    if utilization < policy.target - LOW_MARGIN {
        alarms.low += 1;
    } else {
        alarms.low = 0;
    }
    let desired = ((rate / (policy.target / 100.0)).ceil() as u64).clamp(min, max.max(min));
    let cooled = |last: Option<u64>, secs: u64| last.is_none_or(|l| now.saturating_sub(l) >= secs);
    if alarms.high >= HIGH_DATAPOINTS
        && desired > provisioned
        && cooled(alarms.last_scale_out, policy.scale_out_cooldown_secs)
    {
        alarms.high = 0;
        alarms.low = 0;
        alarms.last_scale_out = Some(now);
        return Some(Decision::ScaleOut { to: desired, utilization });
    }
    if !policy.disable_scale_in
        && alarms.low >= LOW_DATAPOINTS
        && desired < provisioned
        && cooled(alarms.last_scale_in, policy.scale_in_cooldown_secs)
        && decreases.allowed(now)
    {
        alarms.high = 0;
        alarms.low = 0;
        alarms.last_scale_in = Some(now);
        decreases.record(now);
        return Some(Decision::ScaleIn { to: desired, utilization });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60;

    fn policy() -> Tracking {
        Tracking { target: 70.0, scale_out_cooldown_secs: 0, scale_in_cooldown_secs: 0, disable_scale_in: false }
    }

    /// Runs `minutes` of traffic at `rate(minute)` units a second from
    /// `start` with `provisioned` units; returns (minute, decision) for each
    /// change, applying each.
    fn run(
        start: u64,
        minutes: u64,
        mut provisioned: u64,
        bounds: (u64, u64),
        policy: &Tracking,
        rate: impl Fn(u64) -> f64,
    ) -> Vec<(u64, Decision)> {
        let (mut alarms, mut decreases) = (Alarms::default(), Decreases::default());
        let mut out = Vec::new();
        for m in 0..minutes {
            let now = start + (m + 1) * MIN;
            if let Some(d) = observe(&mut alarms, &mut decreases, policy, bounds, now, rate(m) * 60.0, provisioned) {
                provisioned = match d {
                    Decision::ScaleOut { to, .. } | Decision::ScaleIn { to, .. } => to,
                };
                out.push((m, d));
            }
        }
        out
    }

    fn changes(d: &[(u64, Decision)]) -> Vec<(u64, &'static str, u64)> {
        d.iter()
            .map(|(m, d)| match d {
                Decision::ScaleOut { to, .. } => (*m, "out", *to),
                Decision::ScaleIn { to, .. } => (*m, "in", *to),
            })
            .collect()
    }

    /// A simulated day: quiet, a burst, a plateau, quiet again.
    #[test]
    fn target_tracking_scales_a_table_up_and_down_over_a_day() {
        let day_start = 20_000 * 86_400;
        let rate = |m: u64| match m {
            0..60 => 1.0,     // 1 unit/s on 5: 20 %, but 5 is the minimum
            60..180 => 40.0,  // 800 %: out after two minutes, to ceil(40 / 0.7)
            180..300 => 10.0, // 17 % of 58: in after fifteen, to ceil(10 / 0.7)
            300..1440 => 0.0, // 0 %: in after fifteen, to the minimum
            _ => unreachable!(),
        };
        let d = run(day_start, 1440, 5, (5, 100), &policy(), rate);
        assert_eq!(changes(&d), vec![(61, "out", 58), (194, "in", 15), (314, "in", 5)]);
        // The maximum holds a scale-out back.
        let d = run(day_start, 10, 5, (5, 20), &policy(), |_| 100.0);
        assert_eq!(changes(&d), vec![(1, "out", 20)]);
        // Scale-in disabled: only out.
        let off = Tracking { disable_scale_in: true, ..policy() };
        let d = run(day_start, 1440, 5, (5, 100), &off, rate);
        assert_eq!(changes(&d), vec![(61, "out", 58)]);
    }

    /// Four decreases at any time of a day, then one an hour.
    #[test]
    fn decreases_are_limited_per_utc_day() {
        let day_start = 20_000 * 86_400;
        // Every 30 minutes a burst of two minutes then quiet: each burst
        // scales out, each quiet spell of fifteen minutes scales in.
        let rate = |m: u64| if m % 30 < 2 { 70.0 } else { 1.0 };
        let d = run(day_start, 360, 5, (5, 1000), &policy(), rate);
        let ins: Vec<u64> = d.iter().filter(|(_, d)| matches!(d, Decision::ScaleIn { .. })).map(|(m, _)| *m).collect();
        // The first four come fifteen minutes after their bursts (minutes
        // 2 + 15 = 17, 47, 77, 107); after them, one an hour after the last.
        assert_eq!(&ins[..4], &[16, 46, 76, 106]);
        assert_eq!(ins[4], 166, "an hour after the fourth");
        assert_eq!(ins[5], 226);
        // Four at once at the start of a day, then one an hour: 27.
        let mut dec = Decreases::default();
        for i in 0..4 {
            assert!(dec.allowed(day_start + i));
            dec.record(day_start + i);
        }
        assert!(!dec.allowed(day_start + 3599), "the fifth waits an hour");
        for hour in 1..=23 {
            assert!(dec.allowed(day_start + 3 + hour * 3600));
            dec.record(day_start + 3 + hour * 3600);
        }
        assert_eq!(dec.count, MAX_DECREASES_PER_DAY);
        assert!(!dec.allowed(day_start + 86_399), "27 in a day at most");
        assert!(dec.allowed(day_start + 86_400), "a new UTC day");
    }
}
