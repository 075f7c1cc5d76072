//! Point-in-time recovery: UpdateContinuousBackups,
//! DescribeContinuousBackups and RestoreTableToPointInTime (the store's
//! `history.rs` keeps the versions).

use serde_json::{Map, Value as Json, json};
use tidepool_store::history::{DEFAULT_RECOVERY_DAYS, MAX_RECOVERY_DAYS, MIN_RECOVERY_DAYS, PitrSource};
use tidepool_store::messages;
use tidepool_store::table::TableDef;

use super::App;
use super::backup::{check_name, restore_input, table_name_member, table_not_found};
use super::error::{ApiError, ApiResult};
use super::export::now;
use super::request::Req;

/// `ContinuousBackupsDescription` of a table. On-demand backups are always
/// available (`ContinuousBackupsStatus` `ENABLED`), as on DynamoDB.
fn description(def: &TableDef) -> Json {
    let mut pitr = Map::new();
    match &def.pitr {
        None => {
            pitr.insert("PointInTimeRecoveryStatus".into(), json!("DISABLED"));
        }
        Some(spec) => {
            let source = PitrSource { def: def.clone(), deleted_at: None };
            let (earliest, latest) = source.window(now()).unwrap_or((spec.enabled_at, spec.enabled_at));
            pitr.insert("PointInTimeRecoveryStatus".into(), json!("ENABLED"));
            pitr.insert("RecoveryPeriodInDays".into(), json!(spec.period_days));
            pitr.insert("EarliestRestorableDateTime".into(), json!(earliest.floor()));
            pitr.insert("LatestRestorableDateTime".into(), json!(latest.floor()));
        }
    }
    json!({"ContinuousBackupsDescription": {
        "ContinuousBackupsStatus": "ENABLED",
        "PointInTimeRecoveryDescription": pitr,
    }})
}

pub fn describe_continuous_backups(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let name = table_name_member(app, &r, "TableName")?;
    // A table being restored is not there yet, as in DynamoDB (one being
    // imported is described: its PITR is off).
    let t = app.store.describe_table(name).map_err(|_| table_not_found(name))?;
    if t.is_restoring() && !t.is_importing() {
        return Err(table_not_found(name));
    }
    Ok(description(&t.def))
}

pub fn update_continuous_backups(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let name = table_name_member(app, &r, "TableName")?;
    let spec = r
        .obj_opt("PointInTimeRecoverySpecification")?
        .ok_or_else(|| ApiError::validation(messages::backup::PITR_SPECIFICATION_NULL))?;
    let enabled = spec
        .bool_opt("PointInTimeRecoveryEnabled")?
        .ok_or_else(|| ApiError::validation(messages::backup::PITR_ENABLED_NULL))?;
    let days = spec.int_opt("RecoveryPeriodInDays")?;
    if let Some(d) = days
        && !(i64::from(MIN_RECOVERY_DAYS)..=i64::from(MAX_RECOVERY_DAYS)).contains(&d)
    {
        return Err(ApiError::validation(if d < i64::from(MIN_RECOVERY_DAYS) {
            messages::backup::recovery_period_too_short(d, MIN_RECOVERY_DAYS)
        } else {
            messages::backup::recovery_period_too_long(d, MAX_RECOVERY_DAYS)
        }));
    }
    if !enabled && days.is_some() {
        return Err(ApiError::validation(messages::backup::RECOVERY_PERIOD_WHEN_DISABLING));
    }
    if app.store.table(name).is_err() {
        return Err(table_not_found(name));
    }
    let days = enabled.then(|| days.map_or(DEFAULT_RECOVERY_DAYS, |d| d as u32));
    let t = app.store.set_pitr(name, days)?;
    tracing::info!(table = name, enabled, "point-in-time recovery updated");
    Ok(description(&t.def))
}

/// The last second of year 9999: a later time is quoted as this one.
const MAX_QUOTED_SECS: f64 = 253_402_300_799.0;

/// `2026-10-06T23:16:32Z`: how DynamoDB quotes a restore time (seconds
/// since the epoch in, whole seconds out).
fn iso_seconds(t: f64) -> String {
    let ms = (t.clamp(0.0, MAX_QUOTED_SECS).floor() as u64) * 1000;
    let full = tidepool_store::format_timestamp_millis(ms);
    // `…T23:16:32.000` → `…T23:16:32Z`
    match full.split_once('.') {
        Some((head, _)) => format!("{head}Z"),
        None => full,
    }
}

/// `t` as Java's `Instant` prints it (DynamoDB's expiry in a system
/// backup's refusal): to the millisecond, without a zero fraction.
pub(super) fn iso_millis(t: f64) -> String {
    let ms = (t.clamp(0.0, MAX_QUOTED_SECS) * 1000.0) as u64;
    let full = tidepool_store::format_timestamp_millis(ms);
    match full.strip_suffix(".000") {
        Some(whole) => format!("{whole}Z"),
        None => format!("{full}Z"),
    }
}

fn invalid_time(message: String) -> ApiError {
    ApiError::new(axum::http::StatusCode::BAD_REQUEST, "InvalidRestoreTimeException", message)
}

/// DynamoDB's refusals of a `SourceTableArn` by its form: not an ARN, not
/// a table's, another account's, another region's without the key to
/// encrypt the copy with.
fn check_source_arn(app: &App, r: &Req<'_>, arn: &str) -> ApiResult<()> {
    let Some(parts) = super::arn::Arn::parse(arn) else {
        // `arn:` then too few parts is an ARN's start, not an ARN.
        return Err(ApiError::validation(if arn.starts_with("arn:") {
            messages::backup::SOURCE_ARN_INVALID.to_string()
        } else {
            messages::table::arn_not_an_arn(arn)
        }));
    };
    let table = parts.resource.strip_prefix("table/").filter(|t| !t.is_empty() && !t.contains('/'));
    if parts.service != "dynamodb" || table.is_none() {
        return Err(ApiError::validation(messages::backup::SOURCE_ARN_INVALID));
    }
    if parts.account != super::ACCOUNT_ID {
        return Err(ApiError::validation(messages::table::POLICY_OTHER_ACCOUNT));
    }
    if parts.region != app.region && r.get("SSESpecificationOverride").is_none_or(Json::is_null) {
        return Err(cross_region_needs_sse());
    }
    Ok(())
}

/// DynamoDB's refusal of a restore from another region that does not say
/// how to encrypt the new table.
pub(super) fn cross_region_needs_sse() -> ApiError {
    ApiError::validation(messages::backup::CROSS_REGION_NEEDS_SSE)
}

pub fn restore_table_to_point_in_time(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let target = r.str("TargetTableName")?;
    check_name("targetTableName", target)?;
    super::validate::restore_overrides(&r)?;
    // The time members are checked before the source (DynamoDB's order).
    let latest = r.bool_opt("UseLatestRestorableTime")?.unwrap_or(false);
    let at = r.time_opt("RestoreDateTime")?;
    if latest && at.is_some() {
        return Err(ApiError::validation(messages::backup::BOTH_RESTORE_TIMES));
    }
    if !latest && at.is_none() {
        return Err(ApiError::validation(messages::backup::NO_RESTORE_TIME));
    }
    let source_name = match (r.str_opt("SourceTableName")?, r.str_opt("SourceTableArn")?) {
        (Some(_), Some(_)) => {
            return Err(ApiError::validation(messages::backup::BOTH_SOURCES));
        }
        (Some(_), None) => table_name_member(app, &r, "SourceTableName")?,
        (None, Some(arn)) => {
            check_source_arn(app, &r, arn)?;
            table_name_member(app, &r, "SourceTableArn")?
        }
        (None, None) => {
            return Err(ApiError::validation(messages::backup::NO_SOURCE));
        }
    };
    // A source named by its ARN that is not there is answered without a
    // name, as DynamoDB answers it.
    let by_arn = r.str_opt("SourceTableArn")?.is_some();
    let source = app.store.pitr_source(source_name).map_err(|e| match ApiError::from(e) {
        e if by_arn && e.kind.ends_with("TableNotFoundException") => ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "TableNotFoundException",
            messages::backup::TABLE_NOT_FOUND_BY_ARN,
        ),
        e => e,
    })?;
    let Some((earliest, newest)) = source.window(now()) else {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "PointInTimeRecoveryUnavailableException",
            messages::backup::pitr_not_enabled(source_name),
        ));
    };
    let at = match at {
        Some(t) if t < earliest.floor() || t > newest => {
            return Err(invalid_time(messages::backup::restore_time_outside_window(
                iso_seconds(t),
                iso_seconds(earliest),
                iso_seconds(newest),
            )));
        }
        Some(t) => t.max(earliest),
        None => newest,
    };
    let input = restore_input(app, &r, target, &source.def)?;
    super::backup::check_restore_target(app, target)?;
    let handle = app.store.restore_to_point_in_time(&source, at, input, None)?;
    // Billed on the data restored: the source's size now stands for it.
    let bytes = app.store.table(source_name).map_or(0, |t| t.stats().bytes);
    app.metrics.moved(target, crate::metrics::Moved::Restored, bytes);
    tracing::info!(table = target, source = source_name, at, "point-in-time restore started");
    Ok(json!({"TableDescription": app.describe(&handle, "CREATING")}))
}
