//! The scheduler on virtual time: expressions, fire counts over a simulated
//! day, retries, the persisted last fire and the restart rule across a
//! reopened store.

use expect_test::{Expect, expect};
use tidepool_store::{Store, StoreConfig};

use super::event::format_time;
use super::*;

const MIN: u64 = 60_000;
const HOUR: u64 = 60 * MIN;
const DAY: u64 = 24 * HOUR;
/// 2026-01-01T00:00:00Z, a Thursday.
const T0: u64 = 1_767_225_600_000;

fn settings() -> CronSettings {
    CronSettings { region: "us-east-1".into(), account: "000000000000".into(), retry: RetryPolicy::default() }
}

fn def(name: &str, expression: &str) -> ScheduleDef {
    ScheduleDef { name: name.into(), function: "f".into(), expression: expression.into(), enabled: true, input: None }
}

/// The first three fires after T0 (anchored at T0), or the error.
fn check(expression: &str, want: Expect) {
    let got = match Expression::parse(expression) {
        Err(e) => e.to_string(),
        Ok(x) => {
            let mut t = T0;
            let mut out = Vec::new();
            for _ in 0..3 {
                match x.next_after(t, T0) {
                    Some(n) => {
                        out.push(format_time(n));
                        t = n;
                    }
                    None => out.push("never".into()),
                }
            }
            out.join(" ")
        }
    };
    want.assert_eq(&got);
}

#[test]
fn expressions() {
    check("rate(1 minute)", expect!["2026-01-01T00:01:00Z 2026-01-01T00:02:00Z 2026-01-01T00:03:00Z"]);
    check("rate(5 minutes)", expect!["2026-01-01T00:05:00Z 2026-01-01T00:10:00Z 2026-01-01T00:15:00Z"]);
    check("rate(1 hour)", expect!["2026-01-01T01:00:00Z 2026-01-01T02:00:00Z 2026-01-01T03:00:00Z"]);
    check("rate(2 days)", expect!["2026-01-03T00:00:00Z 2026-01-05T00:00:00Z 2026-01-07T00:00:00Z"]);
    check(
        "rate(1 minutes)",
        expect!["invalid schedule expression rate(1 minutes): a value of 1 takes the singular unit: rate(1 minute)"],
    );
    check(
        "rate(5 minute)",
        expect!["invalid schedule expression rate(5 minute): a value above 1 takes the plural unit: rate(5 minutes)"],
    );
    check(
        "rate(0 minutes)",
        expect!["invalid schedule expression rate(0 minutes): the rate value must be greater than 0"],
    );
    check(
        "rate(1 second)",
        expect![
            "invalid schedule expression rate(1 second): the rate unit second is not minute(s), hour(s) or day(s); for seconds use cron-seconds(...)"
        ],
    );
    check(
        "rate(-1 minute)",
        expect!["invalid schedule expression rate(-1 minute): the rate value -1 is not a positive whole number"],
    );
    check("cron(0 12 * * ? *)", expect!["2026-01-01T12:00:00Z 2026-01-02T12:00:00Z 2026-01-03T12:00:00Z"]);
    check("cron(15 10 ? * 6L 2026)", expect!["2026-01-30T10:15:00Z 2026-02-27T10:15:00Z 2026-03-27T10:15:00Z"]);
    check("cron(0 18 ? * MON-FRI *)", expect!["2026-01-01T18:00:00Z 2026-01-02T18:00:00Z 2026-01-05T18:00:00Z"]);
    check("cron(0/15 * * * ? *)", expect!["2026-01-01T00:15:00Z 2026-01-01T00:30:00Z 2026-01-01T00:45:00Z"]);
    check("cron(0 8 1 * ? *)", expect!["2026-01-01T08:00:00Z 2026-02-01T08:00:00Z 2026-03-01T08:00:00Z"]);
    check("cron(0 0 L * ? *)", expect!["2026-01-31T00:00:00Z 2026-02-28T00:00:00Z 2026-03-31T00:00:00Z"]);
    check("cron(0 0 LW * ? *)", expect!["2026-01-30T00:00:00Z 2026-02-27T00:00:00Z 2026-03-31T00:00:00Z"]);
    check("cron(0 0 3W * ? *)", expect!["2026-01-02T00:00:00Z 2026-02-03T00:00:00Z 2026-03-03T00:00:00Z"]);
    check("cron(0 0 1W * ? *)", expect!["2026-02-02T00:00:00Z 2026-03-02T00:00:00Z 2026-04-01T00:00:00Z"]);
    check("cron(0 9 ? * 3#2 *)", expect!["2026-01-13T09:00:00Z 2026-02-10T09:00:00Z 2026-03-10T09:00:00Z"]);
    check("cron(0 9 ? * L *)", expect!["2026-01-03T09:00:00Z 2026-01-10T09:00:00Z 2026-01-17T09:00:00Z"]);
    check(
        "cron(0 12 * * * *)",
        expect![
            "invalid schedule expression cron(0 12 * * * *): exactly one of day-of-month and day-of-week must be ? (a value or * in one needs ? in the other)"
        ],
    );
    check(
        "cron(0 12 ? * ? *)",
        expect![
            "invalid schedule expression cron(0 12 ? * ? *): exactly one of day-of-month and day-of-week must be ? (a value or * in one needs ? in the other)"
        ],
    );
    check(
        "cron(0 12 * * ?)",
        expect![
            "invalid schedule expression cron(0 12 * * ?): cron(...) takes 6 fields (minutes hours day-of-month month day-of-week year), not 5"
        ],
    );
    check(
        "cron(0 0 1,L * ? *)",
        expect![
            "invalid schedule expression cron(0 0 1,L * ? *): day-of-month 1,L: L and W stand alone (L, LW or <1-31>W)"
        ],
    );
    check(
        "cron(0 0 ? * 3#1,6#3 *)",
        expect![
            "invalid schedule expression cron(0 0 ? * 3#1,6#3 *): day-of-week 3#1,6#3: # takes an instance 1-5, as 3#2"
        ],
    );
    check(
        "cron(0 0 ? * 3#6 *)",
        expect!["invalid schedule expression cron(0 0 ? * 3#6 *): day-of-week 3#6: # takes an instance 1-5, as 3#2"],
    );
    check(
        "cron(60 0 * * ? *)",
        expect![
            "invalid schedule expression cron(60 0 * * ? *): minutes 60: Minutes must be less than 59. ('60' specified.)"
        ],
    );
    check(
        "cron(0 0 1 1 ? 2150)",
        expect!["invalid schedule expression cron(0 0 1 1 ? 2150): year 2150: out of range or malformed"],
    );
    check("cron(0 0 1 1 ? 2020)", expect!["never never never"]);
    check("*/5 * * * *", expect!["2026-01-01T00:05:00Z 2026-01-01T00:10:00Z 2026-01-01T00:15:00Z"]);
    check("30 9 * * 1-5", expect!["2026-01-01T09:30:00Z 2026-01-02T09:30:00Z 2026-01-05T09:30:00Z"]);
    check("0 0 * * 0", expect!["2026-01-04T00:00:00Z 2026-01-11T00:00:00Z 2026-01-18T00:00:00Z"]);
    check("0 0 * * 7", expect!["2026-01-04T00:00:00Z 2026-01-11T00:00:00Z 2026-01-18T00:00:00Z"]);
    check("0 0 13 * 5", expect!["2026-01-02T00:00:00Z 2026-01-09T00:00:00Z 2026-01-13T00:00:00Z"]);
    check(
        "0 0 * * L",
        expect![
            "invalid schedule expression 0 0 * * L: day-of-week L: L, W, # and ? are EventBridge's: use cron(...) for them"
        ],
    );
    check(
        "0 0 * *",
        expect![
            "invalid schedule expression 0 0 * *: not rate(<value> <unit>), cron(<6 fields>), cron-seconds(<7 fields>) or a 5-field cron expression"
        ],
    );
    check("cron-seconds(*/20 * * * * ? *)", expect!["2026-01-01T00:00:20Z 2026-01-01T00:00:40Z 2026-01-01T00:01:00Z"]);
}

#[test]
fn latest_at_or_before() {
    let rate = Expression::parse("rate(1 hour)").unwrap();
    assert_eq!(rate.latest_at_or_before(T0 + 30 * MIN, T0), None);
    assert_eq!(rate.latest_at_or_before(T0 + 3 * HOUR, T0), Some(T0 + 3 * HOUR));
    assert_eq!(rate.latest_at_or_before(T0 + 3 * HOUR + 1, T0), Some(T0 + 3 * HOUR));
    let noon = Expression::parse("cron(0 12 * * ? *)").unwrap();
    assert_eq!(noon.latest_at_or_before(T0 + 2 * DAY + 12 * HOUR, T0), Some(T0 + 2 * DAY + 12 * HOUR));
    assert_eq!(noon.latest_at_or_before(T0 + 2 * DAY + 11 * HOUR, T0), Some(T0 + DAY + 12 * HOUR));
    assert_eq!(noon.latest_at_or_before(T0 + 11 * HOUR, T0), None);
    let last = Expression::parse("cron(0 0 L * ? *)").unwrap();
    let feb_28 = T0 + (31 + 27) * DAY;
    assert_eq!(last.latest_at_or_before(feb_28 + 5 * DAY, T0), Some(feb_28));
}

/// Drives `core` from `*now` to `until` (inclusive), each invocation taking
/// no time and ending as `outcome` says; persists state to `ledger`.
/// Returns the fires started, with the time each started.
fn run(
    core: &mut CronCore,
    now: &mut u64,
    until: u64,
    ledger: Option<&dyn CronLedger>,
    mut outcome: impl FnMut(&Fire) -> Result<(), String>,
) -> Vec<(u64, Fire)> {
    let mut started = Vec::new();
    loop {
        for fire in core.poll(*now) {
            let result = outcome(&fire);
            if let Some(name) = core.complete(fire.job, result, *now)
                && let Some(l) = ledger
            {
                l.save(&name, &core.state(&name).unwrap()).unwrap();
            }
            started.push((*now, fire));
        }
        match core.deadline() {
            Some(d) if d <= until => *now = d.max(*now),
            _ => {
                *now = until;
                return started;
            }
        }
    }
}

#[test]
fn fire_counts_over_a_day() {
    for (expression, want) in [
        ("rate(1 minute)", 1440),
        ("rate(5 minutes)", 288),
        ("rate(1 hour)", 24),
        ("rate(2 days)", 0),
        ("cron(0 12 * * ? *)", 1),
        ("cron(0/15 * * * ? *)", 96),
        ("cron(0 9-17 ? * MON-FRI *)", 9),
        ("cron(0 9-17 ? * SAT,SUN *)", 0),
        ("*/5 * * * *", 288),
        ("0 */6 * * *", 4),
    ] {
        let mut core = CronCore::new(settings());
        assert!(core.upsert(def("s", expression), None, T0).unwrap());
        let mut now = T0;
        let fires = run(&mut core, &mut now, T0 + DAY, None, |_| Ok(()));
        assert_eq!(fires.len(), want, "{expression}");
        // Each fire is started at its time, and no time fires twice.
        for (started, fire) in &fires {
            assert_eq!(*started, fire.fire_ms, "{expression}");
            assert_eq!(fire.attempt, 1);
        }
        let mut times: Vec<u64> = fires.iter().map(|(_, f)| f.fire_ms).collect();
        times.dedup();
        assert_eq!(times.len(), want);
        let status = core.status("s").unwrap();
        assert_eq!(status.succeeded, want as u64);
        assert_eq!(status.last_fire_ms, times.last().copied());
    }
}

#[test]
fn the_event_is_eventbridges_scheduled_event() {
    let mut core = CronCore::new(settings());
    core.upsert(def("nightly", "cron(0 12 * * ? *)"), None, T0).unwrap();
    let fires = core.poll(T0 + 12 * HOUR);
    assert_eq!(fires.len(), 1);
    let id = &fires[0].event_id;
    assert_eq!(
        fires[0].event,
        format!(
            r#"{{"account":"000000000000","detail":{{}},"detail-type":"Scheduled Event","id":"{id}","region":"us-east-1","resources":["arn:aws:events:us-east-1:000000000000:rule/nightly"],"source":"aws.events","time":"2026-01-01T12:00:00Z","version":"0"}}"#
        )
    );
    let mut with_input = def("in", "rate(1 minute)");
    with_input.input = Some(r#"{"task":"cleanup"}"#.into());
    core.upsert(with_input, None, T0).unwrap();
    let fires = core.poll(T0 + 12 * HOUR + MIN);
    let f = fires.iter().find(|f| f.schedule == "in").unwrap();
    assert_eq!(f.event, r#"{"task":"cleanup"}"#);
    let mut bad = def("bad", "rate(1 minute)");
    bad.input = Some("{nope".into());
    assert!(matches!(core.upsert(bad, None, T0), Err(CronError::InvalidSchedule { .. })));
    assert!(core.upsert(def("no spaces", "rate(1 minute)"), None, T0).is_err());
}

#[test]
fn a_failed_fire_is_retried_with_the_same_event_then_dropped() {
    // Fails twice, then succeeds: three attempts one and two minutes apart.
    let mut core = CronCore::new(settings());
    core.upsert(def("s", "rate(1 day)"), None, T0).unwrap();
    let mut now = T0;
    let mut calls = 0;
    let fires = run(&mut core, &mut now, T0 + DAY + HOUR, None, |_| {
        calls += 1;
        if calls <= 2 { Err("Boom: no".into()) } else { Ok(()) }
    });
    let starts: Vec<u64> = fires.iter().map(|(t, _)| *t).collect();
    assert_eq!(starts, [T0 + DAY, T0 + DAY + MIN, T0 + DAY + 3 * MIN]);
    assert!(fires.iter().all(|(_, f)| f.fire_ms == T0 + DAY && f.event_id == fires[0].1.event_id));
    assert_eq!(fires.iter().map(|(_, f)| f.attempt).collect::<Vec<_>>(), [1, 2, 3]);
    let s = core.status("s").unwrap();
    assert_eq!((s.succeeded, s.failed, s.last_fire_ms), (1, 0, Some(T0 + DAY)));
    assert_eq!(s.last_error.as_deref(), Some("Boom: no"));

    // Always fails: three attempts, then the fire is dropped and passed.
    let mut core = CronCore::new(settings());
    core.upsert(def("s", "rate(1 day)"), None, T0).unwrap();
    let mut now = T0;
    let fires = run(&mut core, &mut now, T0 + DAY + HOUR, None, |_| Err("Boom: always".into()));
    assert_eq!(fires.len(), 3);
    let s = core.status("s").unwrap();
    assert_eq!((s.succeeded, s.failed, s.pending, s.last_fire_ms), (0, 1, 0, Some(T0 + DAY)));

    // Retries are configurable, and overlapping fires do not pass an unfinished one.
    let mut quick = settings();
    quick.retry = RetryPolicy { max_attempts: 2, first_backoff_ms: 90_000, max_backoff_ms: 90_000 };
    let mut core = CronCore::new(quick);
    core.upsert(def("s", "rate(1 minute)"), None, T0).unwrap();
    let mut now = T0;
    let mut first = true;
    let fires = run(&mut core, &mut now, T0 + 2 * MIN, None, |f| {
        if f.fire_ms == T0 + MIN && std::mem::take(&mut first) { Err("Boom: once".into()) } else { Ok(()) }
    });
    // The fire of 00:01 failed, 00:02 succeeded: the last fire stays before 00:01.
    assert_eq!(fires.len(), 2);
    assert_eq!(core.status("s").unwrap().last_fire_ms, None);
    let fires = run(&mut core, &mut now, T0 + 3 * MIN, None, |_| Ok(()));
    // 00:02:30 the retry of 00:01 succeeds; 00:03 fires.
    assert_eq!(
        fires.iter().map(|(t, f)| (*t, f.fire_ms)).collect::<Vec<_>>(),
        [(T0 + 2 * MIN + 30_000, T0 + MIN), (T0 + 3 * MIN, T0 + 3 * MIN)]
    );
    assert_eq!(core.status("s").unwrap().last_fire_ms, Some(T0 + 3 * MIN));
}

fn open(dir: &std::path::Path) -> Store {
    Store::open(StoreConfig { path: Some(dir.to_path_buf()), durability: Default::default(), ..Default::default() })
        .unwrap()
}

#[test]
fn the_last_fire_is_persisted_and_a_restart_catches_up_once() {
    let dir = tempfile::tempdir().unwrap();
    let hourly = def("hourly", "rate(1 hour)");
    let mut now = T0;
    {
        let store = open(dir.path());
        let ledger = StoreCronLedger::new(store.clone());
        let mut core = CronCore::new(settings());
        assert!(core.upsert(hourly.clone(), ledger.load("hourly").unwrap(), now).unwrap());
        ledger.save("hourly", &core.state("hourly").unwrap()).unwrap();
        let fires = run(&mut core, &mut now, T0 + 3 * HOUR + 30 * MIN, Some(&ledger), |_| Ok(()));
        assert_eq!(fires.len(), 3);
        assert_eq!(ledger.load("hourly").unwrap().unwrap().last_fire_ms, Some(T0 + 3 * HOUR));
        // 04:00 fires and the server dies before the invocation ends.
        assert_eq!(core.poll(T0 + 4 * HOUR).len(), 1);
    }
    // Restart at 04:10: the 04:00 fire never finished, so it is fired again, once.
    {
        let store = open(dir.path());
        let ledger = StoreCronLedger::new(store.clone());
        let state = ledger.load("hourly").unwrap().unwrap();
        assert_eq!((state.anchor_ms, state.last_fire_ms), (T0, Some(T0 + 3 * HOUR)));
        let mut core = CronCore::new(settings());
        now = T0 + 4 * HOUR + 10 * MIN;
        assert!(!core.upsert(hourly.clone(), Some(state), now).unwrap());
        let fires = run(&mut core, &mut now, T0 + 5 * HOUR, Some(&ledger), |_| Ok(()));
        assert_eq!(
            fires.iter().map(|(t, f)| (*t, f.fire_ms)).collect::<Vec<_>>(),
            [(T0 + 4 * HOUR + 10 * MIN, T0 + 4 * HOUR), (T0 + 5 * HOUR, T0 + 5 * HOUR)]
        );
    }
    // Down from 05:00 to 09:30: 06:00-09:00 were missed; only 09:00 fires, then 10:00 on schedule.
    {
        let store = open(dir.path());
        let ledger = StoreCronLedger::new(store.clone());
        let mut core = CronCore::new(settings());
        now = T0 + 9 * HOUR + 30 * MIN;
        core.upsert(hourly.clone(), ledger.load("hourly").unwrap(), now).unwrap();
        let fires = run(&mut core, &mut now, T0 + 10 * HOUR, Some(&ledger), |_| Ok(()));
        assert_eq!(
            fires.iter().map(|(t, f)| (*t, f.fire_ms)).collect::<Vec<_>>(),
            [(T0 + 9 * HOUR + 30 * MIN, T0 + 9 * HOUR), (T0 + 10 * HOUR, T0 + 10 * HOUR)]
        );
        assert_eq!(core.status("hourly").unwrap().coalesced, 1);
        assert_eq!(ledger.load("hourly").unwrap().unwrap().last_fire_ms, Some(T0 + 10 * HOUR));
    }
    // Down for less than a period: nothing to catch up.
    {
        let store = open(dir.path());
        let ledger = StoreCronLedger::new(store.clone());
        let mut core = CronCore::new(settings());
        now = T0 + 10 * HOUR + 59 * MIN;
        core.upsert(hourly.clone(), ledger.load("hourly").unwrap(), now).unwrap();
        assert!(core.poll(now).is_empty());
        assert_eq!(core.deadline(), Some(T0 + 11 * HOUR));
    }
}

#[test]
fn changes_to_a_schedule() {
    let mut core = CronCore::new(settings());
    let mut now = T0;
    core.upsert(def("s", "rate(1 hour)"), None, now).unwrap();
    run(&mut core, &mut now, T0 + 2 * HOUR, None, |_| Ok(()));
    // The same definition again changes nothing.
    assert!(!core.upsert(def("s", "rate(1 hour)"), None, now).unwrap());
    // Disabled at 02:00 and enabled at 05:30: no catch-up, rates count from 05:30.
    let mut off = def("s", "rate(1 hour)");
    off.enabled = false;
    assert!(core.upsert(off, None, now).unwrap());
    assert!(run(&mut core, &mut now, T0 + 5 * HOUR + 30 * MIN, None, |_| Ok(())).is_empty());
    assert!(core.upsert(def("s", "rate(1 hour)"), None, now).unwrap());
    let fires = run(&mut core, &mut now, T0 + 7 * HOUR, None, |_| Ok(()));
    assert_eq!(fires.iter().map(|(_, f)| f.fire_ms).collect::<Vec<_>>(), [T0 + 6 * HOUR + 30 * MIN]);
    // A new expression starts from now.
    assert!(core.upsert(def("s", "cron(0 12 * * ? *)"), None, now).unwrap());
    assert_eq!(core.deadline(), Some(T0 + 12 * HOUR));
    assert!(core.remove("s"));
    assert_eq!(core.deadline(), None);
}
