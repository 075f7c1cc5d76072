//! Cron schedules: functions run on EventBridge's schedule expressions, with
//! EventBridge's Scheduled Event, at least once.
//!
//! # Layout
//! - [`expr`]: [`Expression`], the schedule expressions, on the `cron` crate.
//! - [`event`]: the Scheduled Event JSON.
//! - `core`: [`CronCore`], the scheduler as a state machine that neither
//!   waits nor reads the clock (the tests run it on virtual time);
//!   `scheduler`: [`Scheduler`], the tokio task that drives it in the server,
//!   invoking through the delivery engine's [`Invoker`](crate::esm::Invoker).
//! - `ledger`: [`CronLedger`], the persisted state ([`StoreCronLedger`]:
//!   `cron/<name>` in the store's system entries).
//!
//! # Expressions (times are UTC)
//! - `rate(<n> <unit>)`: unit `minute`, `hour` or `day` for n = 1 and
//!   `minutes`, `hours`, `days` for n > 1, as EventBridge requires
//!   (`rate(1 minutes)` and `rate(5 minute)` are errors). Fires every period,
//!   counted from when the schedule was created (or its expression changed,
//!   or it was enabled again); the first fire is one period after that.
//! - `cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)`:
//!   EventBridge's six fields. Day of week is 1-7 or SUN-SAT (Sunday = 1);
//!   exactly one of day-of-month and day-of-week is `?`. `L` (last day of
//!   the month), `LW` (its last weekday) and `<n>W` (the weekday nearest day
//!   n, within the month) in day-of-month; `L` (Saturday), `<d>L` (the last
//!   weekday d of the month) and `<d>#<n>` (the n-th weekday d) in
//!   day-of-week, each alone in its field. Not supported: `L`, `W` or `#`
//!   in a list (`1,L`), `L-<n>` offsets, and years after 2100 (EventBridge
//!   allows 2199; the `cron` crate stops at 2100). Each is rejected with an
//!   error naming the field.
//! - Standard 5-field cron (`*/5 * * * *`): minutes, hours, day of month,
//!   month, day of week 0-7 (0 and 7 are Sunday) or names; when both day
//!   fields are restricted a day matches either, as in Vixie cron.
//! - `cron-seconds(<seconds> <six cron(...) fields>)`: a **Tidepool
//!   extension** for tests and development, opt-in by its name: EventBridge
//!   fires at most once a minute; this fires on seconds
//!   (`cron-seconds(*/2 * * * * ? *)`: every two seconds).
//!
//! # The event
//! EventBridge's Scheduled Event: `{"version":"0","id":<uuid>,"detail-type":
//! "Scheduled Event","source":"aws.events","account":"000000000000","time":
//! <fire time, 2026-01-01T12:00:00Z>,"region":...,"resources":
//! ["arn:aws:events:<region>:<account>:rule/<name>"],"detail":{}}`. The `id`
//! is the same for every attempt of one fire. A schedule's `input`, if set,
//! is sent instead, unchanged (EventBridge's constant target input).
//!
//! # Delivery
//! - At least once. A fire is invoked when its time comes; on a function
//!   error (returned, crash, timeout) it is retried per [`RetryPolicy`]:
//!   by default Lambda's asynchronous invocation, through which EventBridge
//!   runs functions, so two retries about one and two minutes after the
//!   failure. After the last attempt the fire is dropped with a warning.
//! - Fires of one schedule do not wait for each other: a failing fire's
//!   retries overlap the next fires, up to [`MAX_PENDING_FIRES`] pending at
//!   once; past that the due fire times fold into the latest one.
//! - The last fire time is persisted (`cron/<name>`) once its invocation
//!   succeeded or ran out of retries, and only when every earlier fire has
//!   finished too, so it never passes an unfinished fire.
//!
//! # Missed fires (the restart rule)
//! When a schedule starts (server start, or a schedule change) and one or
//! more of its fire times after the persisted last fire have already passed,
//! it **fires once, for the most recent of them**, then goes on with the
//! schedule: a catch-up of at most one, as anacron and systemd's persistent
//! timers do. So a fire whose invocation was cut short by a crash or a stop
//! is fired again (or folded into a later one). EventBridge, which is never
//! down, has no such rule. Fire times that passed while a schedule was
//! disabled are not caught up.

mod core;
pub mod event;
pub mod expr;
mod ledger;
mod scheduler;

#[cfg(test)]
mod tests;

pub use self::core::{CronCore, CronSettings, CronState, Fire, RetryPolicy, ScheduleDef, ScheduleStatus};
pub use expr::Expression;
pub use ledger::{CronLedger, SYS_PREFIX, StoreCronLedger};
pub use scheduler::{Scheduler, Targets};

/// Fires of one schedule pending at once (in flight or waiting to retry):
/// bounds the invocations a failing schedule keeps alive.
pub const MAX_PENDING_FIRES: usize = 8;
/// Schedules per server: bounds the scheduler's memory and work per wake
/// (EventBridge's default quota is 300 rules per event bus).
pub const MAX_SCHEDULES: usize = 10_000;

/// Why a schedule was not accepted, or its state not kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CronError {
    #[error("invalid schedule expression {expression}: {reason}")]
    InvalidExpression { expression: String, reason: String },
    #[error("invalid schedule {name}: {reason}")]
    InvalidSchedule { name: String, reason: String },
    /// The store failed.
    #[error("schedule state: {0}")]
    Storage(String),
}
