//! On-demand backups: CreateBackup, DescribeBackup, ListBackups,
//! DeleteBackup and RestoreTableFromBackup (the store's `backup.rs` keeps
//! them; this is their wire form).

use serde_json::{Map, Value as Json, json};
use tidepool_store::backup::{Backup, BackupStatus, RestoreSource};
use tidepool_store::catalog::{CreateTableInput, IndexInput, KeyType};
use tidepool_store::history::{DeletedTable, PitrSource};
use tidepool_store::messages;
use tidepool_store::table::{BillingMode, IndexKind, KeySchema, TableDef, Throughput};

use super::App;
use super::control::{index_input, key_schema_json, on_demand_input, projection_json};
use super::error::{ApiError, ApiResult};
use super::request::Req;

/// ListBackups answers at most this many a page (its `Limit`'s maximum).
const LIST_BACKUPS_MAX: i64 = 100;

/// A backup as the API shows it: a user's (on-demand), or the `SYSTEM`
/// backup DynamoDB keeps of a table deleted with point-in-time recovery on
/// (here, its history up to the deletion), which expires with the period.
pub(super) struct Shown {
    backup: Backup,
    system: Option<DeletedTable>,
}

impl Shown {
    fn user(backup: Backup) -> Shown {
        Shown { backup, system: None }
    }

    fn system(d: DeletedTable) -> Shown {
        let backup = Backup {
            id: d.backup_id(),
            name: format!("{}$DeletedTableBackup", d.def.name),
            table: d.def.clone(),
            created_at: d.deleted_at,
            status: BackupStatus::Available,
            items: d.items,
            bytes: d.bytes,
        };
        Shown { backup, system: Some(d) }
    }
}

impl App {
    fn backup_arn(&self, b: &Backup) -> String {
        format!("{}/backup/{}", self.table_arn(&b.table.name), b.id)
    }

    /// `RestoreSummary` of a table being restored. (DynamoDB drops it once
    /// the table is `ACTIVE`: nothing marks a table born of a restore.)
    pub(super) fn restore_summary(&self, def: &TableDef) -> Option<Json> {
        let r = def.restore.as_ref().filter(|r| r.in_progress)?;
        let mut o = Map::new();
        let backup = match &r.source {
            RestoreSource::Backup(id) => Some(id),
            _ => r.backup_id.as_ref(),
        };
        if let Some(id) = backup {
            o.insert("SourceBackupArn".into(), json!(format!("{}/backup/{id}", self.table_arn(&r.source_table))));
        }
        o.insert("SourceTableArn".into(), json!(self.table_arn(&r.source_table)));
        o.insert("RestoreDateTime".into(), json!(r.restored_to));
        o.insert("RestoreInProgress".into(), json!(r.in_progress));
        Some(Json::Object(o))
    }

    fn backup_details(&self, shown: &Shown, status: &str) -> Json {
        let b = &shown.backup;
        let mut o = Map::new();
        o.insert("BackupArn".into(), json!(self.backup_arn(b)));
        o.insert("BackupName".into(), json!(b.name));
        o.insert("BackupSizeBytes".into(), json!(b.bytes));
        o.insert("BackupStatus".into(), json!(status));
        o.insert("BackupType".into(), json!(if shown.system.is_some() { "SYSTEM" } else { "USER" }));
        o.insert("BackupCreationDateTime".into(), json!(super::epoch_ms(b.created_at)));
        if let Some(d) = &shown.system {
            o.insert("BackupExpiryDateTime".into(), json!(super::epoch_ms(d.expires_at())));
        }
        Json::Object(o)
    }

    fn backup_description(&self, shown: &Shown, status: &str) -> Json {
        let b = &shown.backup;
        let t = &b.table;
        let mut source = Map::new();
        source.insert("TableName".into(), json!(t.name));
        source.insert("TableId".into(), json!(t.table_id));
        source.insert("TableArn".into(), json!(self.table_arn(&t.name)));
        if b.status == BackupStatus::Available {
            source.insert("TableSizeBytes".into(), json!(b.bytes));
            source.insert("ItemCount".into(), json!(b.items));
        }
        source.insert("KeySchema".into(), key_schema_json(&t.key_schema));
        source.insert("TableCreationDateTime".into(), json!(super::epoch_ms(t.created_at)));
        source.insert("ProvisionedThroughput".into(), throughput(t.throughput));
        if let (Some(r), Some(w)) = (t.settings.max_read_request_units, t.settings.max_write_request_units) {
            source.insert("OnDemandThroughput".into(), json!({"MaxReadRequestUnits": r, "MaxWriteRequestUnits": w}));
        }
        source.insert("BillingMode".into(), json!(t.billing_mode.as_str()));
        let mut features = Map::new();
        let lsis: Vec<Json> = t
            .lsis()
            .map(|i| {
                json!({"IndexName": i.name, "KeySchema": key_schema_json(&i.key_schema), "Projection": projection_json(&i.projection)})
            })
            .collect();
        let gsis: Vec<Json> = t
            .gsis()
            .map(|i| {
                json!({"IndexName": i.name, "KeySchema": key_schema_json(&i.key_schema),
                       "Projection": projection_json(&i.projection), "ProvisionedThroughput": throughput(i.throughput)})
            })
            .collect();
        if !lsis.is_empty() {
            features.insert("LocalSecondaryIndexes".into(), Json::Array(lsis));
        }
        if !gsis.is_empty() {
            features.insert("GlobalSecondaryIndexes".into(), Json::Array(gsis));
        }
        if !t.vector_indexes.is_empty() {
            let vectors = t.vector_indexes.iter().map(|v| Json::Object(super::vector::definition_json(v))).collect();
            features.insert("VectorIndexes".into(), Json::Array(vectors));
        }
        if let Some(s) = &t.stream {
            features.insert(
                "StreamDescription".into(),
                json!({"StreamEnabled": true, "StreamViewType": s.view_type.as_str()}),
            );
        }
        if let Some(a) = &t.ttl_attribute {
            features.insert("TimeToLiveDescription".into(), json!({"AttributeName": a, "TimeToLiveStatus": "ENABLED"}));
        }
        if let Some(key) = &t.settings.sse_kms_key_arn {
            features.insert(
                "SSEDescription".into(),
                json!({"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": key}),
            );
        }
        json!({
            "BackupDetails": self.backup_details(shown, status),
            "SourceTableDetails": source,
            "SourceTableFeatureDetails": features,
        })
    }

    /// The backup a `BackupArn` names, read as DynamoDB reads it: by its
    /// account and id (the region and table name in it are not compared;
    /// the answer echoes the ARN as sent).
    fn backup_of(&self, arn: &str) -> ApiResult<Shown> {
        let (table, id) = self.parse_backup_arn(arn)?;
        let not_found = || {
            ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "BackupNotFoundException",
                messages::backup::backup_not_found(arn),
            )
        };
        match self.store.backup(id) {
            Ok(b) => Ok(Shown::user(b)),
            Err(_) => Ok(Shown::system(self.store.system_backup(id, table)?.ok_or_else(not_found)?)),
        }
    }

    /// The ARN of the backup `arn` names, as this server writes it (what
    /// policies are checked against); `None` if it names none.
    pub(super) fn backup_resource(&self, arn: &str) -> Option<String> {
        self.backup_of(arn).ok().map(|shown| self.backup_arn(&shown.backup))
    }

    /// A backup ARN's table name and backup id, or DynamoDB's refusal of
    /// its form: not a backup's ARN; an unknown region, partition or
    /// service; another account's.
    fn parse_backup_arn<'a>(&self, arn: &'a str) -> ApiResult<(&'a str, &'a str)> {
        let invalid = || ApiError::validation(messages::backup::INVALID_BACKUP_ARN);
        let parts = super::arn::Arn::parse(arn).ok_or_else(invalid)?;
        let (table, id) = parts
            .resource
            .strip_prefix("table/")
            .and_then(|r| r.split_once("/backup/"))
            .filter(|(t, id)| !t.is_empty() && !id.is_empty() && !id.contains('/'))
            .ok_or_else(invalid)?;
        if parts.region.is_empty() || parts.account != super::ACCOUNT_ID {
            return Err(access_denied());
        }
        if parts.partition != "aws"
            || parts.service != "dynamodb"
            || !super::arn::known_region(&self.region, parts.region)
        {
            return Err(ApiError::validation(messages::backup::BACKUP_ARN_NOT_VALID));
        }
        Ok((table, id))
    }
}

/// DynamoDB's answer to a backup ARN of another account.
pub(super) fn access_denied() -> ApiError {
    ApiError::new(axum::http::StatusCode::BAD_REQUEST, "AccessDeniedException", messages::backup::ACCESS_DENIED)
}

/// A backup's details with its ARN as the request sent it.
fn echo_arn(mut description: Json, arn: &str) -> Json {
    if let Some(d) = description.get_mut("BackupDetails").and_then(Json::as_object_mut) {
        d.insert("BackupArn".into(), json!(arn));
    }
    description
}

/// A store refusal naming backup `id`, reworded to name it by `arn`.
fn naming_arn(e: tidepool_store::StoreError, id: &str, arn: &str) -> ApiError {
    match e {
        tidepool_store::StoreError::Refused { kind, message } => {
            tidepool_store::StoreError::Refused { kind, message: message.replace(id, arn) }.into()
        }
        e => e.into(),
    }
}

fn throughput(t: Option<Throughput>) -> Json {
    let t = t.unwrap_or(Throughput { read: 0, write: 0 });
    json!({"ReadCapacityUnits": t.read, "WriteCapacityUnits": t.write})
}

/// `TableNotFoundException`, as the backup, PITR and export operations
/// name a missing table.
pub(crate) fn table_not_found(name: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::BAD_REQUEST,
        "TableNotFoundException",
        messages::backup::table_not_found(name),
    )
}

/// The member-constraint checks these operations share, in DynamoDB's words.
pub(super) fn check_length(member: &str, value: &str, min: usize, max: usize) -> ApiResult<()> {
    let n = value.chars().count();
    if n < min || n > max {
        let violation = if n < min {
            messages::backup::length_too_short(value, member, min)
        } else {
            messages::backup::length_too_long(value, member, max)
        };
        return Err(super::validate::envelope(&[violation]));
    }
    Ok(())
}

/// A name of `[a-zA-Z0-9_.-]`, 3 to 255 characters: every constraint it
/// breaks, its length first (a table name's order, as DynamoDB lists it).
pub(super) fn check_name(member: &str, value: &str) -> ApiResult<()> {
    name_faults(member, value, false)
}

/// [`check_name`] in the order DynamoDB lists a backup's name and
/// ListTables' start: the pattern first.
pub(super) fn check_name_pattern_first(member: &str, value: &str) -> ApiResult<()> {
    name_faults(member, value, true)
}

fn name_faults(member: &str, value: &str, pattern_first: bool) -> ApiResult<()> {
    let mut found = Vec::new();
    if value.is_empty() || !value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        found.push(messages::backup::name_pattern_violation(value, member));
    }
    let n = value.chars().count();
    if !(3..=255).contains(&n) {
        found.push(if n < 3 {
            messages::backup::length_too_short(value, member, 3)
        } else {
            messages::backup::length_too_long(value, member, 255)
        });
    }
    if !pattern_first {
        found.reverse();
    }
    super::validate::none_of(&found)
}

/// A restore's `TargetTableName`, refused as DynamoDB words it.
pub(super) fn check_target_name(value: &str) -> ApiResult<()> {
    let n = value.chars().count();
    if !(3..=255).contains(&n) {
        return Err(ApiError::validation(messages::backup::TARGET_NAME_LENGTH));
    }
    check_name("targetTableName", value)
}

fn backup_arn_member(r: &Req<'_>) -> ApiResult<String> {
    // (Too short to be a backup's ARN is not a backup's ARN.)
    let arn = r.str("BackupArn")?;
    check_length("backupArn", arn, 0, 1024)?;
    Ok(arn.to_string())
}

/// A table named by name or by ARN (CreateBackup's `TableName` takes either).
pub(super) fn table_name_member<'a>(app: &App, r: &Req<'a>, member: &str) -> ApiResult<&'a str> {
    let name = r.str(member)?;
    if name.starts_with("arn:") {
        check_length(&super::request::lower_first(member), name, 1, 1024)?;
        let prefix = format!("arn:aws:dynamodb:{}:{}:table/", app.region, super::ACCOUNT_ID);
        return Ok(name.strip_prefix(&prefix).map(|n| n.split('/').next().unwrap_or(n)).unwrap_or(name));
    }
    check_name(&super::request::lower_first(member), name)?;
    Ok(name)
}

pub fn create_backup(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let table = table_name_member(app, &r, "TableName")?;
    let name = r.str("BackupName")?;
    check_name_pattern_first("backupName", name)?;
    let job = app.store.begin_backup(table, name)?;
    let backup = job.backup().clone();
    let id = backup.id.clone();
    // The job waits for a slot and writes the file on its own thread; a
    // panic there removes the backup's record, as a failure does.
    let store = app.store.clone();
    let spawned = std::thread::Builder::new().name("tidepool-backup".into()).spawn(move || {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run())).is_err() {
            tracing::error!(backup = %id, "the backup's job panicked; removed");
            let _ = store.forget_backup(&id);
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start a backup thread");
        let _ = app.store.forget_backup(&backup.id);
        return Err(ApiError::internal());
    }
    tracing::info!(table, backup = %backup.id, "backup started");
    Ok(json!({"BackupDetails": app.backup_details(&Shown::user(backup), "CREATING")}))
}

pub fn describe_backup(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let arn = backup_arn_member(&r)?;
    let shown = app.backup_of(&arn)?;
    let description = app.backup_description(&shown, shown.backup.status.as_str());
    Ok(json!({"BackupDescription": echo_arn(description, &arn)}))
}

pub fn delete_backup(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let arn = backup_arn_member(&r)?;
    let shown = app.backup_of(&arn)?;
    // A system backup expires with its recovery period; no one deletes it.
    if let Some(d) = &shown.system {
        return Err(ApiError::validation(messages::backup::system_backup_not_deletable(
            &arn,
            super::pitr::iso_millis(d.expires_at()),
        )));
    }
    let id = &shown.backup.id;
    app.store.delete_backup(id).map_err(|e| naming_arn(e, id, &arn))?;
    tracing::info!(backup = %id, "backup deleted");
    Ok(json!({"BackupDescription": echo_arn(app.backup_description(&shown, "DELETED"), &arn)}))
}

pub fn list_backups(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let table = match r.str_opt("TableName")? {
        Some(_) => Some(table_name_member(app, &r, "TableName")?),
        None => None,
    };
    let limit = r.int_opt("Limit")?.unwrap_or(LIST_BACKUPS_MAX);
    if !(1..=LIST_BACKUPS_MAX).contains(&limit) {
        return Err(ApiError::validation(if limit < 1 {
            messages::backup::list_backups_limit_too_small(limit, 1)
        } else {
            messages::stream::limit_too_large(limit, LIST_BACKUPS_MAX)
        }));
    }
    let kind = r.enum_opt("BackupType", &["USER", "SYSTEM", "AWS_BACKUP", "ALL"])?.unwrap_or("USER");
    let lower = r.time_opt("TimeRangeLowerBound")?;
    let upper = r.time_opt("TimeRangeUpperBound")?;
    if let (Some(l), Some(u)) = (lower, upper)
        && l > u
    {
        return Err(ApiError::validation(messages::backup::TIME_RANGE_REVERSED));
    }
    let start = match r.str_opt("ExclusiveStartBackupArn")? {
        Some(arn) => {
            check_length("exclusiveStartBackupArn", arn, 37, 1024)?;
            if super::arn::Arn::parse(arn).is_some_and(|a| a.region != app.region) {
                return Err(ApiError::validation(messages::backup::START_ARN_OTHER_REGION));
            }
            // By its id alone: the backup may have been deleted since the
            // page that named it (list, delete, list on).
            Some(arn.rsplit_once("/backup/").map_or(arn, |(_, id)| id).to_string())
        }
        None => None,
    };
    // Users' backups are on-demand ones; SYSTEM ones are kept for tables
    // deleted with point-in-time recovery on; none is AWS_BACKUP's.
    let mut all: Vec<Shown> = Vec::new();
    if matches!(kind, "USER" | "ALL") {
        all.extend(app.store.backups()?.into_iter().map(Shown::user));
    }
    if matches!(kind, "SYSTEM" | "ALL") {
        all.extend(app.store.deleted_tables()?.into_iter().map(Shown::system));
    }
    // Ids begin with their creation time in milliseconds, 14 digits.
    all.sort_by(|a, b| a.backup.id.cmp(&b.backup.id));
    let matching: Vec<Shown> = all
        .into_iter()
        .filter(|s| table.is_none_or(|t| s.backup.table.name == t))
        .filter(|s| lower.is_none_or(|l| s.backup.created_at >= l) && upper.is_none_or(|u| s.backup.created_at < u))
        .filter(|s| start.as_ref().is_none_or(|id| s.backup.id.as_str() > id.as_str()))
        .collect();
    let more = matching.len() > limit as usize;
    let page = &matching[..matching.len().min(limit as usize)];
    let summaries: Vec<Json> = page
        .iter()
        .map(|shown| {
            let b = &shown.backup;
            let mut o = Map::new();
            o.insert("TableName".into(), json!(b.table.name));
            o.insert("TableId".into(), json!(b.table.table_id));
            o.insert("TableArn".into(), json!(app.table_arn(&b.table.name)));
            if let Json::Object(d) = app.backup_details(shown, b.status.as_str()) {
                o.extend(d);
            }
            Json::Object(o)
        })
        .collect();
    let mut out = json!({"BackupSummaries": summaries});
    if more && let Some(last) = page.last() {
        out["LastEvaluatedBackupArn"] = json!(app.backup_arn(&last.backup));
    }
    Ok(out)
}

/// The new table's definition: the source's, with the request's overrides
/// (`<Member>Override`), without what a restore does not carry over
/// (stream, TTL, tags, deletion protection).
pub(super) fn restore_input(app: &App, r: &Req<'_>, target: &str, source: &TableDef) -> ApiResult<CreateTableInput> {
    let billing_override = billing_mode_override(r)?;
    // Its members' shape before how they combine.
    super::control::throughput_at(r, "ProvisionedThroughputOverride", "provisionedThroughputOverride")?;
    let billing = billing_override.unwrap_or(source.billing_mode);
    let throughput_override = r.obj_opt("ProvisionedThroughputOverride")?.is_some();
    // DynamoDB's checks of the capacity overrides against the billing mode.
    if throughput_override && billing == BillingMode::PayPerRequest {
        return Err(ApiError::validation(if billing_override.is_some() {
            messages::backup::THROUGHPUT_OVERRIDE_ON_DEMAND
        } else {
            messages::backup::THROUGHPUT_OVERRIDE_NOT_PROVISIONED
        }));
    }
    if let Some(o) = r.obj_opt("OnDemandThroughputOverride")?
        && billing == BillingMode::Provisioned
        && let Some(member) = ["MaxReadRequestUnits", "MaxWriteRequestUnits"].into_iter().find(|m| o.get(m).is_some())
    {
        return Err(ApiError::validation(messages::backup::on_demand_override_not_on_demand(member)));
    }
    let throughput = match r.obj_opt("ProvisionedThroughputOverride")? {
        Some(t) => Some(Throughput {
            read: t.int_opt("ReadCapacityUnits")?.unwrap_or(0).max(0) as u64,
            write: t.int_opt("WriteCapacityUnits")?.unwrap_or(0).max(0) as u64,
        }),
        None => source.throughput,
    };
    let throughput = if billing == BillingMode::PayPerRequest { None } else { throughput };
    if billing == BillingMode::Provisioned && throughput.is_none_or(|t| t.read == 0 || t.write == 0) {
        return Err(ApiError::validation(messages::backup::THROUGHPUT_OVERRIDE_REQUIRED));
    }
    let key_input = |k: &KeySchema| -> Vec<(String, KeyType)> {
        k.hash_attrs()
            .map(|a| (a.name.clone(), KeyType::Hash))
            .chain(k.range_attrs().map(|a| (a.name.clone(), KeyType::Range)))
            .collect()
    };
    let mut indexes = Vec::new();
    let gsi_override = r.get("GlobalSecondaryIndexOverride").is_some_and(|v| !v.is_null());
    let lsi_override = r.get("LocalSecondaryIndexOverride").is_some_and(|v| !v.is_null());
    if gsi_override {
        for (i, g) in r.objects("GlobalSecondaryIndexOverride")?.iter().enumerate() {
            let path = format!("globalSecondaryIndexOverride.{}.member.", i + 1);
            let index = index_input(g, IndexKind::Global).map_err(|e| e.within(&path))?;
            // An index's capacity follows the new table's billing mode.
            match (billing, index.throughput.is_some()) {
                (BillingMode::Provisioned, false) => {
                    return Err(ApiError::validation(messages::backup::index_throughput_required(&index.name)));
                }
                (BillingMode::PayPerRequest, true) => {
                    return Err(ApiError::validation(messages::backup::index_throughput_on_demand(&index.name)));
                }
                _ => {}
            }
            indexes.push(index);
        }
    } else {
        indexes.extend(source.gsis().map(|i| IndexInput {
            name: i.name.clone(),
            kind: IndexKind::Global,
            key_schema: key_input(&i.key_schema),
            projection: i.projection.clone(),
            throughput: if billing == BillingMode::PayPerRequest { None } else { i.throughput.or(throughput) },
            projection_fault: None,
        }));
    }
    if lsi_override {
        for (i, l) in r.objects("LocalSecondaryIndexOverride")?.iter().enumerate() {
            let path = format!("localSecondaryIndexOverride.{}.member.", i + 1);
            indexes.push(index_input(l, IndexKind::Local).map_err(|e| e.within(&path))?);
        }
    } else {
        indexes.extend(source.lsis().map(|i| IndexInput {
            name: i.name.clone(),
            kind: IndexKind::Local,
            key_schema: key_input(&i.key_schema),
            projection: i.projection.clone(),
            throughput: None,
            projection_fault: None,
        }));
    }
    // An override may drop an index but not invent one: it has the kind,
    // key schema and projection of one of the source's, under its name or
    // another (a rename, which DynamoDB allows).
    // Each source index stands for one override at most.
    let same_as = |s: &tidepool_store::table::IndexDef, i: &IndexInput| {
        s.kind == i.kind && key_input(&s.key_schema) == i.key_schema && same_projection(&s.projection, &i.projection)
    };
    let mut matched: Vec<&str> = Vec::new();
    for i in &indexes {
        if let Some(s) = source.index(&i.name) {
            if !same_as(s, i) {
                return Err(no_such_index(&i.name));
            }
            matched.push(s.name.as_str());
        }
    }
    for i in indexes.iter().filter(|i| source.index(&i.name).is_none()) {
        let same_shape = |s: &&tidepool_store::table::IndexDef| {
            !matched.contains(&s.name.as_str())
                && s.kind == i.kind
                && key_input(&s.key_schema) == i.key_schema
                && same_projection(&s.projection, &i.projection)
        };
        match source.indexes.iter().find(same_shape) {
            Some(s) => matched.push(&s.name),
            None => return Err(no_such_index(&i.name)),
        }
    }
    // Vector indexes: the source's, or those of the override, each one of
    // the source's.
    let vector_indexes: Vec<tidepool_store::vector::VectorIndexInput> = if r.get("VectorIndexOverride").is_some() {
        let chosen = super::vector::inputs(r, "VectorIndexOverride")?;
        if let Some(v) = chosen.iter().find(|v| source.vector_index(&v.name).is_none()) {
            return Err(no_such_index(&v.name));
        }
        // As the source defined them: an override chooses, it does not change.
        chosen.iter().filter_map(|v| source.vector_index(&v.name)).map(super::vector::input_of).collect()
    } else {
        source.vector_indexes.iter().map(super::vector::input_of).collect()
    };
    // Attribute definitions of the keys that remain.
    let table_keys = key_input(&source.key_schema);
    let used: Vec<&str> = table_keys
        .iter()
        .chain(indexes.iter().flat_map(|i| i.key_schema.iter()))
        .map(|(n, _)| n.as_str())
        .chain(vector_indexes.iter().flat_map(|v| v.search_schema.iter().map(|(n, _)| n.as_str())))
        .collect::<Vec<_>>();
    let attribute_definitions = source
        .attribute_definitions
        .iter()
        .filter(|a| used.contains(&a.name.as_str()))
        .map(|a| (a.name.clone(), a.ty))
        .collect();
    let on_demand = match r.obj_opt("OnDemandThroughputOverride")? {
        Some(_) => on_demand_override(r)?,
        None => Some((source.settings.max_read_request_units, source.settings.max_write_request_units)),
    };
    let mut settings = source.settings.clone();
    // A restored table has no resource-based policy, as in DynamoDB.
    settings.resource_policy = None;
    settings.stream_resource_policy = None;
    settings.resource_policy_deleted = None;
    settings.stream_resource_policy_deleted = None;
    // Its deletion protection is its own (off) since its creation.
    settings.deletion_protection_changed_ms = None;
    // Nor its Time to Live (a restore has none).
    settings.ttl_changed_ms = None;
    settings.table_class_updates_ms.clear();
    // Nor the source's history of capacity changes: it is a new table,
    // and a regional one.
    settings.throughput_changes.clear();
    // A restored table is a new table: on-demand since its creation.
    settings.on_demand_since = None;
    settings.multi_region_strong = false;
    settings.witness_copy = false;
    if billing == BillingMode::PayPerRequest {
        settings.max_read_request_units = on_demand.and_then(|(r, _)| r);
        settings.max_write_request_units = on_demand.and_then(|(_, w)| w);
    } else {
        settings.max_read_request_units = None;
        settings.max_write_request_units = None;
    }
    if r.obj_opt("SSESpecificationOverride")?.is_some() {
        let wrapped = rename(r, "SSESpecificationOverride", "SSESpecification");
        settings.sse_kms_key_arn =
            super::control::sse_input_at(app, &Req(&wrapped), "sSESpecificationOverride")?.flatten();
    }
    Ok(CreateTableInput {
        name: target.to_string(),
        key_schema: key_input(&source.key_schema),
        attribute_definitions,
        billing_mode: billing,
        throughput,
        indexes,
        stream: None,
        tags: Default::default(),
        deletion_protection: false,
        // Nor its table class: a restored table is STANDARD.
        table_class: None,
        settings,
        vector_indexes,
    })
}

/// Whether two projections are the same: an INCLUDE's attributes in any
/// order.
fn same_projection(a: &tidepool_store::table::Projection, b: &tidepool_store::table::Projection) -> bool {
    use tidepool_store::table::Projection::Include;
    match (a, b) {
        (Include(x), Include(y)) => {
            let set = |v: &Vec<String>| v.iter().cloned().collect::<std::collections::BTreeSet<String>>();
            set(x) == set(y)
        }
        _ => a == b,
    }
}

/// DynamoDB's refusal of an index override that names no index of the
/// source.
fn no_such_index(name: &str) -> ApiError {
    ApiError::validation(messages::backup::no_such_source_index(name))
}

fn billing_mode_override(r: &Req<'_>) -> ApiResult<Option<BillingMode>> {
    match r.str_opt("BillingModeOverride")? {
        None => Ok(None),
        Some("PROVISIONED") => Ok(Some(BillingMode::Provisioned)),
        Some("PAY_PER_REQUEST") => Ok(Some(BillingMode::PayPerRequest)),
        Some(v) => Err(ApiError::validation(messages::backup::billing_mode_override_not_in_set(v))),
    }
}

fn on_demand_override(r: &Req<'_>) -> ApiResult<Option<(Option<i64>, Option<i64>)>> {
    let wrapped = rename(r, "OnDemandThroughputOverride", "OnDemandThroughput");
    on_demand_input(&Req(&wrapped), super::control::OnDemandIn::Restore)
}

/// A request of one member, `from`'s value under the name `to`, so that an
/// override is read (and its faults worded) as CreateTable's member.
fn rename(r: &Req<'_>, from: &str, to: &str) -> Map<String, Json> {
    let mut m = Map::new();
    if let Some(v) = r.get(from).filter(|v| !v.is_null()) {
        m.insert(to.to_string(), v.clone());
    }
    m
}

/// DynamoDB's refusal of a restore into a table another restore is
/// filling (from a backup; one from a point in time is a table that
/// exists).
pub(super) fn check_restore_target(app: &App, target: &str) -> ApiResult<()> {
    let Ok(t) = app.store.describe_table(target) else { return Ok(()) };
    let from =
        app.restore_summary(&t.def).and_then(|s| s.get("SourceBackupArn").and_then(Json::as_str).map(String::from));
    match from {
        Some(arn) if t.is_restoring() => Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "TableInUseException",
            messages::backup::table_being_restored(target, arn),
        )),
        _ => Ok(()),
    }
}

pub fn restore_table_from_backup(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let target = r.str("TargetTableName")?;
    check_target_name(target)?;
    let arn = backup_arn_member(&r)?;
    super::validate::restore_overrides(&r)?;
    let shown = app.backup_of(&arn)?;
    if super::arn::Arn::parse(&arn).is_some_and(|a| a.region != app.region)
        && r.get("SSESpecificationOverride").is_none_or(Json::is_null)
    {
        return Err(super::pitr::cross_region_needs_sse());
    }
    let input = restore_input(app, &r, target, &shown.backup.table)?;
    check_restore_target(app, target)?;
    let id = &shown.backup.id;
    let handle = match shown.system {
        Some(d) => {
            let at = d.deleted_at;
            let source = PitrSource { def: d.def, deleted_at: Some(at) };
            app.store.restore_to_point_in_time(&source, at, input, Some(id.clone()))?
        }
        None => app.store.restore_from_backup(id, input).map_err(|e| naming_arn(e, id, &arn))?,
    };
    app.metrics.moved(target, crate::metrics::Moved::Restored, shown.backup.bytes);
    tracing::info!(table = target, backup = %shown.backup.id, "restore started");
    Ok(json!({"TableDescription": app.describe(&handle, "CREATING")}))
}
