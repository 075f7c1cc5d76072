//! Schedule expressions: EventBridge's `rate(...)` and `cron(...)`, standard
//! 5-field cron, and Tidepool's `cron-seconds(...)`, parsed into something
//! that answers "when is the next fire after t" and "when was the last fire
//! at or before t". Fire times are whole seconds, in UTC, as epoch
//! milliseconds.
//!
//! The `cron` crate does the calendar arithmetic. It takes seven fields
//! (seconds, minutes, hours, day of month, month, day of week with Sunday =
//! 1, year) and intersects day of month with day of week; everything else is
//! translated here:
//! - EventBridge's `L`, `LW`, `<n>W` (day of month) and `L`, `<d>L`, `<d>#<n>`
//!   (day of week) become a plain field plus a day rule checked on each
//!   candidate day.
//! - Standard cron's day of week (0-7, Sunday = 0 or 7) is renumbered, and
//!   when both day fields are restricted a day matches either (Vixie cron's
//!   rule), by taking the earlier of two schedules.

use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};

use super::CronError;

/// The longest `rate(...)` period: ten years, far beyond any use, so that
/// fire-time arithmetic never overflows.
pub const MAX_RATE_MS: u64 = 10 * 366 * DAY_MS;
/// How many candidate days a day rule (`L`, `W`, `#`) may reject in one
/// search before the schedule is taken to never fire again: a bound on the
/// work of one search (the rarest real rule, a fifth weekday of February,
/// rejects a few hundred).
pub const MAX_DAY_REJECTIONS: u32 = 20_000;

const SECOND_MS: u64 = 1_000;
const MINUTE_MS: u64 = 60 * SECOND_MS;
const HOUR_MS: u64 = 60 * MINUTE_MS;
const DAY_MS: u64 = 24 * HOUR_MS;

/// A parsed schedule expression.
#[derive(Debug, Clone)]
pub struct Expression {
    text: String,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// Every `period_ms`, counted from the schedule's anchor (its creation).
    Rate { period_ms: u64 },
    /// The earliest of these parts (one, or two for standard cron's
    /// day-of-month-or-day-of-week).
    Cron(Vec<Part>),
}

#[derive(Debug, Clone)]
struct Part {
    schedule: cron::Schedule,
    day: Option<DayRule>,
}

/// A day condition the `cron` crate cannot express.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DayRule {
    /// `L` in day of month.
    LastDayOfMonth,
    /// `LW`: the last Monday-to-Friday of the month.
    LastWeekdayOfMonth,
    /// `<n>W`: the Monday-to-Friday nearest to day n, within the month.
    NearestWeekday(u32),
    /// `<d>#<n>`: the n-th such weekday of the month (the weekday is in the
    /// schedule's day-of-week field).
    NthOfMonth(u32),
    /// `<d>L`: the last such weekday of the month.
    LastOfMonth,
}

fn days_in_month(date: NaiveDate) -> u32 {
    let (y, m) = (date.year(), date.month());
    let first_next = if m == 12 { NaiveDate::from_ymd_opt(y + 1, 1, 1) } else { NaiveDate::from_ymd_opt(y, m + 1, 1) };
    first_next.and_then(|d| d.pred_opt()).map_or(31, |d| d.day())
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

impl DayRule {
    fn matches(self, date: NaiveDate) -> bool {
        let day = date.day();
        let last = days_in_month(date);
        match self {
            DayRule::LastDayOfMonth => day == last,
            DayRule::LastWeekdayOfMonth => {
                let mut d = date.with_day(last).unwrap_or(date);
                while is_weekend(d) {
                    d = d.pred_opt().unwrap_or(d);
                }
                day == d.day()
            }
            DayRule::NearestWeekday(n) => {
                if n > last {
                    return false;
                }
                let Some(target) = date.with_day(n) else { return false };
                let nearest = match target.weekday() {
                    Weekday::Sat if n == 1 => n + 2,
                    Weekday::Sat => n - 1,
                    Weekday::Sun if n == last => n - 2,
                    Weekday::Sun => n + 1,
                    _ => n,
                };
                day == nearest
            }
            DayRule::NthOfMonth(n) => (day - 1) / 7 + 1 == n,
            DayRule::LastOfMonth => day + 7 > last,
        }
    }
}

fn to_datetime(ms: u64) -> DateTime<Utc> {
    // Whole seconds: fire times are whole seconds, and the `cron` crate steps from a second.
    let secs = i64::try_from(ms / SECOND_MS).unwrap_or(i64::MAX / 2);
    Utc.timestamp_opt(secs, 0).single().unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn to_ms(t: DateTime<Utc>) -> u64 {
    u64::try_from(t.timestamp_millis()).unwrap_or(0)
}

fn midnight(date: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default())
}

impl Part {
    /// The first fire strictly after `after`.
    fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut from = after;
        for _ in 0..MAX_DAY_REJECTIONS {
            let t = self.schedule.after(&from).next()?;
            match self.day {
                Some(rule) if !rule.matches(t.date_naive()) => {
                    // Skip the rest of that day.
                    from = midnight(t.date_naive().succ_opt()?) - Duration::seconds(1);
                }
                _ => return Some(t),
            }
        }
        None
    }

    /// The last fire strictly before `before`.
    fn prev_before(&self, before: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut from = before;
        for _ in 0..MAX_DAY_REJECTIONS {
            let t = self.schedule.after(&from).next_back()?;
            match self.day {
                Some(rule) if !rule.matches(t.date_naive()) => from = midnight(t.date_naive()),
                _ => return Some(t),
            }
        }
        None
    }
}

fn invalid(expression: &str, reason: impl Into<String>) -> CronError {
    CronError::InvalidExpression { expression: expression.to_string(), reason: reason.into() }
}

impl Expression {
    /// Parses `text`: `rate(<n> <unit>)`, `cron(<6 fields>)`,
    /// `cron-seconds(<7 fields>)` or a 5-field standard cron expression.
    pub fn parse(text: &str) -> Result<Expression, CronError> {
        let t = text.trim();
        let inner = |prefix: &str| t.strip_prefix(prefix).and_then(|r| r.strip_suffix(')'));
        let kind = if let Some(body) = inner("rate(") {
            parse_rate(text, body)?
        } else if let Some(body) = inner("cron(") {
            let fields: Vec<&str> = body.split_whitespace().collect();
            if fields.len() != 6 {
                return Err(invalid(
                    text,
                    format!(
                        "cron(...) takes 6 fields (minutes hours day-of-month month day-of-week year), not {}",
                        fields.len()
                    ),
                ));
            }
            Kind::Cron(vec![eventbridge_part(text, "0", &fields)?])
        } else if let Some(body) = inner("cron-seconds(") {
            let fields: Vec<&str> = body.split_whitespace().collect();
            if fields.len() != 7 {
                return Err(invalid(
                    text,
                    format!("cron-seconds(...) takes 7 fields (seconds, then cron(...)'s six), not {}", fields.len()),
                ));
            }
            Kind::Cron(vec![eventbridge_part(text, fields[0], &fields[1..])?])
        } else {
            let fields: Vec<&str> = t.split_whitespace().collect();
            if fields.len() != 5 {
                return Err(invalid(
                    text,
                    "not rate(<value> <unit>), cron(<6 fields>), cron-seconds(<7 fields>) or a 5-field cron expression",
                ));
            }
            Kind::Cron(standard_parts(text, &fields)?)
        };
        Ok(Expression { text: text.to_string(), kind })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this is a `rate(...)` expression (whose fires count from the
    /// schedule's anchor).
    pub fn is_rate(&self) -> bool {
        matches!(self.kind, Kind::Rate { .. })
    }

    /// The first fire time strictly after `after_ms` (`anchor_ms`: when the
    /// schedule started, the origin of a rate). `None`: never again.
    pub fn next_after(&self, after_ms: u64, anchor_ms: u64) -> Option<u64> {
        match &self.kind {
            Kind::Rate { period_ms } => {
                let anchor = anchor_ms / SECOND_MS * SECOND_MS;
                if after_ms < anchor {
                    return anchor.checked_add(*period_ms);
                }
                let k = (after_ms - anchor) / period_ms + 1;
                k.checked_mul(*period_ms).and_then(|d| anchor.checked_add(d))
            }
            Kind::Cron(parts) => {
                let after = to_datetime(after_ms);
                parts.iter().filter_map(|p| p.next_after(after)).min().map(to_ms)
            }
        }
    }

    /// The last fire time at or before `at_ms`, not before the anchor.
    pub fn latest_at_or_before(&self, at_ms: u64, anchor_ms: u64) -> Option<u64> {
        match &self.kind {
            Kind::Rate { period_ms } => {
                let anchor = anchor_ms / SECOND_MS * SECOND_MS;
                let k = at_ms.checked_sub(anchor)? / period_ms;
                if k == 0 { None } else { Some(anchor + k * period_ms) }
            }
            Kind::Cron(parts) => {
                let before = to_datetime(at_ms) + Duration::seconds(1);
                let t = parts.iter().filter_map(|p| p.prev_before(before)).max().map(to_ms)?;
                (t > anchor_ms).then_some(t)
            }
        }
    }
}

fn parse_rate(text: &str, body: &str) -> Result<Kind, CronError> {
    let parts: Vec<&str> = body.split_whitespace().collect();
    let [value, unit] = parts[..] else {
        return Err(invalid(text, "rate(...) takes a value and a unit, e.g. rate(5 minutes)"));
    };
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(text, format!("the rate value {value} is not a positive whole number")));
    }
    let n: u64 = value.parse().map_err(|_| invalid(text, format!("the rate value {value} is too large")))?;
    if n == 0 {
        return Err(invalid(text, "the rate value must be greater than 0"));
    }
    let (singular, unit_ms) = match unit {
        "minute" | "minutes" => ("minute", MINUTE_MS),
        "hour" | "hours" => ("hour", HOUR_MS),
        "day" | "days" => ("day", DAY_MS),
        other => {
            return Err(invalid(
                text,
                format!("the rate unit {other} is not minute(s), hour(s) or day(s); for seconds use cron-seconds(...)"),
            ));
        }
    };
    let plural = unit != singular;
    if n == 1 && plural {
        return Err(invalid(text, format!("a value of 1 takes the singular unit: rate(1 {singular})")));
    }
    if n > 1 && !plural {
        return Err(invalid(text, format!("a value above 1 takes the plural unit: rate({n} {singular}s)")));
    }
    let period_ms = n
        .checked_mul(unit_ms)
        .filter(|p| *p <= MAX_RATE_MS)
        .ok_or_else(|| invalid(text, "the rate is longer than ten years"))?;
    Ok(Kind::Rate { period_ms })
}

fn schedule(text: &str, fields: [&str; 7]) -> Result<cron::Schedule, CronError> {
    let joined = fields.join(" ");
    cron::Schedule::from_str(&joined).map_err(|e| invalid(text, crate_reason(&fields, &e.to_string())))
}

/// The `cron` crate's error (the translated 7-field form, a caret under the
/// failing spot, a message that is sometimes missing) as "<field> <value>:
/// <message>".
fn crate_reason(fields: &[&str; 7], message: &str) -> String {
    const NAMES: [&str; 7] = ["seconds", "minutes", "hours", "day-of-month", "month", "day-of-week", "year"];
    let mut lines = message.lines();
    let _expression = lines.next();
    let caret = lines.next().and_then(|l| l.find('^'));
    let detail = lines.map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
    let detail = if detail.is_empty() { "out of range or malformed".to_string() } else { detail };
    let Some(caret) = caret else { return detail };
    // The field whose text spans the caret (fields are joined by single spaces).
    let mut start = 0;
    for (i, f) in fields.iter().enumerate() {
        let end = start + f.len();
        if caret <= end {
            return format!("{} {}: {detail}", NAMES[i], f);
        }
        start = end + 1;
    }
    detail
}

/// `minutes hours day-of-month month day-of-week year`, EventBridge's rules,
/// after a seconds field.
fn eventbridge_part(text: &str, seconds: &str, f: &[&str]) -> Result<Part, CronError> {
    let (minutes, hours, dom, month, dow, year) = (f[0], f[1], f[2], f[3], f[4], f[5]);
    if (dom == "?") == (dow == "?") {
        return Err(invalid(
            text,
            "exactly one of day-of-month and day-of-week must be ? (a value or * in one needs ? in the other)",
        ));
    }
    let mut day = None;
    let mut dom = dom.to_string();
    let mut dow = dow.to_string();
    let dom_upper = dom.to_ascii_uppercase();
    if dom_upper.contains('L') || dom_upper.contains('W') {
        day = Some(match dom_upper.as_str() {
            "L" => DayRule::LastDayOfMonth,
            "LW" => DayRule::LastWeekdayOfMonth,
            s => {
                let n = s
                    .strip_suffix('W')
                    .and_then(|n| n.parse::<u32>().ok())
                    .filter(|n| (1..=31).contains(n))
                    .ok_or_else(|| {
                        invalid(text, format!("day-of-month {dom}: L and W stand alone (L, LW or <1-31>W)"))
                    })?;
                DayRule::NearestWeekday(n)
            }
        });
        dom = "*".into();
    }
    let dow_upper = dow.to_ascii_uppercase();
    if dow_upper == "L" {
        // `L` alone in day-of-week is its last day, Saturday.
        dow = "7".into();
    } else if let Some((d, n)) = dow_upper.split_once('#') {
        let n = n
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=5).contains(n))
            .ok_or_else(|| invalid(text, format!("day-of-week {dow}: # takes an instance 1-5, as 3#2")))?;
        check_single_weekday(text, &dow, d)?;
        day = Some(DayRule::NthOfMonth(n));
        dow = d.to_string();
    } else if let Some(d) = dow_upper.strip_suffix('L') {
        check_single_weekday(text, &dow, d)?;
        day = Some(DayRule::LastOfMonth);
        dow = d.to_string();
    } else if dow_upper.contains('L') {
        return Err(invalid(text, format!("day-of-week {dow}: L stands alone or after one weekday, as 6L")));
    }
    let schedule = schedule(text, [seconds, minutes, hours, &dom, month, &dow, year])?;
    Ok(Part { schedule, day })
}

fn check_single_weekday(text: &str, field: &str, d: &str) -> Result<(), CronError> {
    let ok = matches!(d.parse::<u32>(), Ok(1..=7))
        || ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"].contains(&d.to_ascii_uppercase().as_str());
    if ok {
        Ok(())
    } else {
        Err(invalid(text, format!("day-of-week {field}: {d} is not one weekday (1-7 or SUN-SAT)")))
    }
}

const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// A standard day-of-week value: 0-7 (0 and 7 are Sunday) or a name.
fn standard_weekday(text: &str, s: &str) -> Result<u32, CronError> {
    if let Ok(n) = s.parse::<u32>() {
        return if n <= 7 { Ok(n % 7) } else { Err(invalid(text, format!("day-of-week {s} is not 0-7"))) };
    }
    let upper = s.to_ascii_uppercase();
    WEEKDAYS
        .iter()
        .position(|w| upper.starts_with(w) && upper.len() >= 3)
        .map(|p| p as u32)
        .ok_or_else(|| invalid(text, format!("day-of-week {s} is not 0-7 or SUN-SAT")))
}

/// A standard day-of-week field as the set of days it names (0 = Sunday).
fn standard_weekdays(text: &str, field: &str) -> Result<[bool; 7], CronError> {
    let mut days = [false; 7];
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let s = s
                    .parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| invalid(text, format!("day-of-week {item}: bad step")))?;
                (r, s)
            }
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" {
            (0, 6)
        } else if let Some((a, b)) = range.split_once('-') {
            let lo = standard_weekday(text, a)?;
            // `5-7` and `5-0` both end on Sunday.
            let hi = match standard_weekday(text, b)? {
                0 if lo > 0 => 7,
                h => h,
            };
            if hi < lo {
                return Err(invalid(text, format!("day-of-week {item}: the range runs backwards")));
            }
            (lo, hi)
        } else {
            let d = standard_weekday(text, range)?;
            (d, if item.contains('/') { 6 } else { d })
        };
        let mut d = lo;
        while d <= hi {
            days[(d % 7) as usize] = true;
            d += step;
        }
    }
    Ok(days)
}

/// `minutes hours day-of-month month day-of-week`.
fn standard_parts(text: &str, f: &[&str]) -> Result<Vec<Part>, CronError> {
    let (minutes, hours, dom, month, dow) = (f[0], f[1], f[2], f[3], f[4]);
    for (name, field) in [("day-of-month", dom), ("day-of-week", dow)] {
        if field.contains(['L', 'W', '#', '?']) {
            return Err(invalid(
                text,
                format!("{name} {field}: L, W, # and ? are EventBridge's: use cron(...) for them"),
            ));
        }
    }
    let days = standard_weekdays(text, dow)?;
    // The `cron` crate numbers Sunday 1.
    let crate_dow: Vec<String> = (0..7).filter(|d| days[*d]).map(|d| (d + 1).to_string()).collect();
    let crate_dow = if crate_dow.len() == 7 { "*".to_string() } else { crate_dow.join(",") };
    let part = |dom: &str, dow: &str| -> Result<Part, CronError> {
        Ok(Part { schedule: schedule(text, ["0", minutes, hours, dom, month, dow, "*"])?, day: None })
    };
    if dom != "*" && dow != "*" {
        // Vixie cron: a day matches if either field does.
        Ok(vec![part(dom, "*")?, part("*", &crate_dow)?])
    } else {
        Ok(vec![part(dom, &crate_dow)?])
    }
}
