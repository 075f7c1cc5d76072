//! Cost: what the tables' use since they were made would cost on
//! DynamoDB, and what it would cost a month at the rate observed, in both
//! capacity modes ([`bill`]; `GET /tidepool/cost`, `tidepool cost`).
//!
//! The meter is what the server did: capacity units consumed
//! ([`crate::metrics`]), each table's and index's size, its provisioned
//! capacity, point-in-time recovery and backups. Prices come from a dated
//! price table ([`DEFAULT_PRICES`], `prices.toml`; `--prices` replaces it),
//! and the AWS Free Tier is taken off the account's totals.

pub mod meter;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value as Json, json};
use tidepool_store::table::BillingMode;

use crate::dynamodb::App;

/// The price table Tidepool ships: us-east-1, with the dates each price
/// took effect.
pub const DEFAULT_PRICES: &str = include_str!("prices.toml");

/// Hours in a month, as AWS's price pages count them.
pub const HOURS_PER_MONTH: f64 = 730.0;
/// The utilization auto scaling keeps provisioned capacity at by default:
/// the provisioned estimate is the observed rate over it.
pub const TARGET_UTILIZATION: f64 = 0.70;
/// DynamoDB bills each item 100 bytes of indexing overhead on top of its
/// attributes.
pub const ITEM_OVERHEAD_BYTES: u64 = 100;
/// A gigabyte, as DynamoDB's storage is billed (GiB).
const GB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Every price key the table must have.
const KEYS: [&str; 12] = [
    "read_request_units_per_million",
    "write_request_units_per_million",
    "read_capacity_unit_hours",
    "write_capacity_unit_hours",
    "storage_gb_months",
    "pitr_gb_months",
    "backup_gb_months",
    "restore_gb",
    "export_gb",
    "import_gb",
    "stream_read_request_units_per_100k",
    "replicated_write_request_units_per_million",
];

#[derive(Debug, Clone, Deserialize)]
struct Dated {
    since: String,
    usd: f64,
}

/// The AWS Free Tier, per month.
#[derive(Debug, Clone, Deserialize)]
pub struct FreeTier {
    pub storage_gb: f64,
    pub read_capacity_units: f64,
    pub write_capacity_units: f64,
    pub stream_read_request_units: f64,
}

/// A price table.
#[derive(Debug, Clone, Deserialize)]
pub struct Prices {
    pub region: String,
    pub currency: String,
    prices: BTreeMap<String, Vec<Dated>>,
    pub free_tier: FreeTier,
}

impl Prices {
    /// Reads a price table (TOML), checking that it has every price.
    pub fn parse(text: &str) -> Result<Prices, String> {
        let p: Prices = toml::from_str(text).map_err(|e| format!("price table: {e}"))?;
        for key in KEYS {
            let list = p.prices.get(key).ok_or_else(|| format!("price table: no price {key}"))?;
            if list.is_empty() || list.iter().any(|d| d.usd < 0.0 || !is_day(&d.since)) {
                return Err(format!("price table: {key} needs dated prices (since = \"YYYY-MM-DD\", usd >= 0)"));
            }
        }
        Ok(p)
    }

    /// The shipped table.
    pub fn shipped() -> Prices {
        Prices::parse(DEFAULT_PRICES).expect("the shipped price table parses")
    }

    /// The price of `key` in effect on `day` (`YYYY-MM-DD`): the latest one
    /// that took effect by then, or the earliest listed.
    pub fn at(&self, key: &str, day: &str) -> f64 {
        let Some(list) = self.prices.get(key) else { return 0.0 };
        let mut sorted: Vec<&Dated> = list.iter().collect();
        sorted.sort_by(|a, b| a.since.cmp(&b.since));
        sorted.iter().rev().find(|d| d.since.as_str() <= day).or(sorted.first()).map_or(0.0, |d| d.usd)
    }

    /// When the price of `key` on `day` took effect.
    fn since(&self, key: &str, day: &str) -> String {
        let Some(list) = self.prices.get(key) else { return String::new() };
        let mut sorted: Vec<&Dated> = list.iter().collect();
        sorted.sort_by(|a, b| a.since.cmp(&b.since));
        sorted
            .iter()
            .rev()
            .find(|d| d.since.as_str() <= day)
            .or(sorted.first())
            .map_or(String::new(), |d| d.since.clone())
    }
}

fn is_day(s: &str) -> bool {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

/// One table's use, as metered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    pub table: String,
    pub billing: Option<BillingMode>,
    /// Read and write units consumed (global indexes' included).
    pub read_units: f64,
    pub write_units: f64,
    /// Provisioned read and write capacity (table and global indexes).
    pub read_capacity: f64,
    pub write_capacity: f64,
    /// Billed storage: items, their 100-byte overhead, index entries.
    pub storage_bytes: u64,
    /// The table's own size (what point-in-time recovery is billed on).
    pub table_bytes: u64,
    pub pitr: bool,
    /// Bytes of the table's backups held.
    pub backup_bytes: u64,
    /// DynamoDB Streams read request units (GetRecords calls).
    pub stream_reads: u64,
    /// Bytes restored into the table, exported from it, imported into it.
    pub restored_bytes: u64,
    pub exported_bytes: u64,
    pub imported_bytes: u64,
    /// Seconds metered (since the table was made, or metering began).
    pub seconds: f64,
    /// What was held over those seconds, integrated as it changed
    /// ([`meter`]): byte-seconds stored, of the table while point-in-time
    /// recovery was on, of backups; provisioned unit-seconds. Zero: the
    /// sizes and capacity above, held all along.
    pub storage_byte_secs: f64,
    pub pitr_byte_secs: f64,
    pub backup_byte_secs: f64,
    pub read_capacity_secs: f64,
    pub write_capacity_secs: f64,
    /// Each secondary index's share, by name.
    pub indexes: BTreeMap<String, meter::IndexAccrued>,
}

/// What one table costs: so far, and a month at the observed rate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Charges {
    pub reads: f64,
    pub writes: f64,
    pub storage: f64,
    pub pitr: f64,
    pub backups: f64,
    pub stream_reads: f64,
    pub restores: f64,
    pub exports: f64,
    pub imports: f64,
}

impl Charges {
    pub fn total(&self) -> f64 {
        self.reads
            + self.writes
            + self.storage
            + self.pitr
            + self.backups
            + self.stream_reads
            + self.restores
            + self.exports
            + self.imports
    }

    fn json(&self) -> Json {
        json!({
            "reads": self.reads, "writes": self.writes, "storage": self.storage,
            "pointInTimeRecovery": self.pitr, "backups": self.backups, "streamReads": self.stream_reads,
            "restores": self.restores, "exports": self.exports, "imports": self.imports, "total": self.total(),
        })
    }
}

/// The bill of one table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableBill {
    pub usage: Usage,
    pub so_far: Charges,
    /// A month at the observed rate, in the table's own mode.
    pub monthly: Charges,
    /// The month's requests priced on-demand, and as provisioned capacity
    /// sized at [`TARGET_UTILIZATION`] of the observed rate.
    pub monthly_on_demand: f64,
    pub monthly_provisioned: f64,
    pub provisioned_read_capacity: f64,
    pub provisioned_write_capacity: f64,
}

impl TableBill {
    /// The mode whose requests cost less a month.
    pub fn cheaper(&self) -> &'static str {
        if self.monthly_provisioned < self.monthly_on_demand { "PROVISIONED" } else { "PAY_PER_REQUEST" }
    }
}

/// Prices `u` on `day`.
pub fn price(prices: &Prices, u: &Usage, day: &str) -> TableBill {
    let p = |k: &str| prices.at(k, day);
    let provisioned = u.billing == Some(BillingMode::Provisioned);
    // Held over the metered time: integrated when metered so, else as now.
    let held = |integrated: f64, now: f64| if integrated > 0.0 { integrated } else { now * u.seconds };
    let (reads, writes) = if provisioned {
        (
            held(u.read_capacity_secs, u.read_capacity) / 3600.0 * p("read_capacity_unit_hours"),
            held(u.write_capacity_secs, u.write_capacity) / 3600.0 * p("write_capacity_unit_hours"),
        )
    } else {
        (
            u.read_units / 1e6 * p("read_request_units_per_million"),
            u.write_units / 1e6 * p("write_request_units_per_million"),
        )
    };
    let storage_gb = u.storage_bytes as f64 / GB;
    let pitr_gb = if u.pitr { u.table_bytes as f64 / GB } else { 0.0 };
    let backup_gb = u.backup_bytes as f64 / GB;
    // What is charged per use: stream reads, restores, exports, imports.
    let per_use = |scale: f64| Charges {
        stream_reads: u.stream_reads as f64 * scale / 1e5 * p("stream_read_request_units_per_100k"),
        restores: u.restored_bytes as f64 * scale / GB * p("restore_gb"),
        exports: u.exported_bytes as f64 * scale / GB * p("export_gb"),
        imports: u.imported_bytes as f64 * scale / GB * p("import_gb"),
        ..Charges::default()
    };
    let month_secs = HOURS_PER_MONTH * 3600.0;
    let gb_months = |integrated: f64, bytes: f64| held(integrated, bytes) / GB / month_secs;
    let so_far = Charges {
        reads,
        writes,
        storage: gb_months(u.storage_byte_secs, u.storage_bytes as f64) * p("storage_gb_months"),
        pitr: if u.pitr || u.pitr_byte_secs > 0.0 {
            gb_months(u.pitr_byte_secs, if u.pitr { u.table_bytes as f64 } else { 0.0 }) * p("pitr_gb_months")
        } else {
            0.0
        },
        backups: gb_months(u.backup_byte_secs, u.backup_bytes as f64) * p("backup_gb_months"),
        ..per_use(1.0)
    };
    // A month at the rate observed.
    let per_month = if u.seconds > 0.0 { HOURS_PER_MONTH * 3600.0 / u.seconds } else { 0.0 };
    let on_demand_reads = u.read_units * per_month / 1e6 * p("read_request_units_per_million");
    let on_demand_writes = u.write_units * per_month / 1e6 * p("write_request_units_per_million");
    let rate = |units: f64| if u.seconds > 0.0 { units / u.seconds } else { 0.0 };
    let rcu = (rate(u.read_units) / TARGET_UTILIZATION).ceil().max(1.0);
    let wcu = (rate(u.write_units) / TARGET_UTILIZATION).ceil().max(1.0);
    let prov_reads = rcu * HOURS_PER_MONTH * p("read_capacity_unit_hours");
    let prov_writes = wcu * HOURS_PER_MONTH * p("write_capacity_unit_hours");
    let (monthly_reads, monthly_writes) = if provisioned {
        (
            u.read_capacity * HOURS_PER_MONTH * p("read_capacity_unit_hours"),
            u.write_capacity * HOURS_PER_MONTH * p("write_capacity_unit_hours"),
        )
    } else {
        (on_demand_reads, on_demand_writes)
    };
    TableBill {
        usage: u.clone(),
        monthly: Charges {
            reads: monthly_reads,
            writes: monthly_writes,
            storage: storage_gb * p("storage_gb_months"),
            pitr: pitr_gb * p("pitr_gb_months"),
            backups: backup_gb * p("backup_gb_months"),
            ..per_use(per_month)
        },
        so_far,
        monthly_on_demand: on_demand_reads + on_demand_writes,
        monthly_provisioned: prov_reads + prov_writes,
        provisioned_read_capacity: rcu,
        provisioned_write_capacity: wcu,
    }
}

/// What a Free Tier credit is for: the metered time so far (in months),
/// or a month projected at what is held now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Span {
    SoFar { months: f64 },
    Month,
}

/// The Free Tier's credit on the account's bills over `span`: storage up
/// to its GB, provisioned capacity up to its units, and stream reads up to
/// its units a month (of those `stream_reads` the bills count in `span`).
pub fn free_tier_credit(prices: &Prices, bills: &[TableBill], span: Span, day: &str, stream_reads: f64) -> f64 {
    let (months, projection) = match span {
        Span::SoFar { months } => (months, false),
        Span::Month => (1.0, true),
    };
    let p = |k: &str| prices.at(k, day);
    let f = &prices.free_tier;
    let streams =
        stream_reads.min(f.stream_read_request_units * months) / 1e5 * p("stream_read_request_units_per_100k");
    // What the bills held, in unit-months: over the metered time as
    // integrated (so the credit never exceeds what was charged for), or for
    // a projection (a month) as held now.
    let month_secs = HOURS_PER_MONTH * 3600.0;
    let held = |integrated: f64, now: f64, u: &Usage| {
        if projection {
            now * months
        } else if integrated > 0.0 {
            integrated / month_secs
        } else {
            now * u.seconds / month_secs
        }
    };
    let storage_gb_months: f64 =
        bills.iter().map(|b| held(b.usage.storage_byte_secs, b.usage.storage_bytes as f64, &b.usage) / GB).sum();
    let provisioned = bills.iter().filter(|b| b.usage.billing == Some(BillingMode::Provisioned));
    let (rcu_months, wcu_months) = provisioned.fold((0.0, 0.0), |(r, w), b| {
        let u = &b.usage;
        (r + held(u.read_capacity_secs, u.read_capacity, u), w + held(u.write_capacity_secs, u.write_capacity, u))
    });
    storage_gb_months.min(f.storage_gb * months) * p("storage_gb_months")
        + rcu_months.min(f.read_capacity_units * months) * HOURS_PER_MONTH * p("read_capacity_unit_hours")
        + wcu_months.min(f.write_capacity_units * months) * HOURS_PER_MONTH * p("write_capacity_unit_hours")
        + streams
}

/// Each table's use since it was made (or metering began), from the
/// meter's accruals brought up to now.
pub fn usage(app: &App) -> Vec<Usage> {
    let now = now_secs();
    app.meter
        .accrue(app, now)
        .into_iter()
        .filter_map(|(name, a, held)| {
            let def = app.store.describe_table(&name).ok()?.def.clone();
            Some(Usage {
                table: name,
                billing: Some(def.billing_mode),
                read_units: a.read_units,
                write_units: a.write_units,
                read_capacity: held.read_capacity,
                write_capacity: held.write_capacity,
                storage_bytes: held.storage_bytes,
                table_bytes: held.table_bytes,
                pitr: held.pitr,
                backup_bytes: held.backup_bytes,
                stream_reads: a.moved[0],
                restored_bytes: a.moved[1],
                exported_bytes: a.moved[2],
                imported_bytes: a.moved[3],
                // To the accrual's own time (a save may have run later).
                seconds: (a.last.max(now) - a.since).max(0.0),
                storage_byte_secs: a.storage_byte_secs,
                pitr_byte_secs: a.pitr_byte_secs,
                backup_byte_secs: a.backup_byte_secs,
                read_capacity_secs: a.read_capacity_secs,
                write_capacity_secs: a.write_capacity_secs,
                indexes: a.indexes,
            })
        })
        .collect()
}

pub fn now_secs() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Today, as the price table's dates read (UTC).
pub fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

/// The bill of every table, as `GET /tidepool/cost` answers it.
pub fn bill(app: &App) -> Json {
    let day = today();
    let prices = &app.prices;
    let bills: Vec<TableBill> = usage(app).iter().map(|u| price(prices, u, &day)).collect();
    let seconds = bills.iter().map(|b| b.usage.seconds).fold(0.0, f64::max);
    let so_far: f64 = bills.iter().map(|b| b.so_far.total()).sum();
    let monthly: f64 = bills.iter().map(|b| b.monthly.total()).sum();
    let months = seconds / 3600.0 / HOURS_PER_MONTH;
    let stream_reads: f64 = bills.iter().map(|b| b.usage.stream_reads as f64).sum();
    let monthly_stream_reads = if months > 0.0 { stream_reads / months } else { 0.0 };
    let credit_so_far = free_tier_credit(prices, &bills, Span::SoFar { months }, &day, stream_reads).min(so_far);
    let credit_monthly = free_tier_credit(prices, &bills, Span::Month, &day, monthly_stream_reads).min(monthly);
    let tables: Vec<Json> = bills
        .iter()
        .map(|b| {
            let u = &b.usage;
            json!({
                "TableName": u.table,
                "BillingMode": u.billing.map(|m| m.as_str()),
                "MeteredSeconds": u.seconds,
                "ConsumedReadUnits": u.read_units,
                "ConsumedWriteUnits": u.write_units,
                "ProvisionedReadCapacityUnits": u.read_capacity,
                "ProvisionedWriteCapacityUnits": u.write_capacity,
                "StorageBytes": u.storage_bytes,
                "PointInTimeRecovery": u.pitr,
                "BackupBytes": u.backup_bytes,
                "Indexes": index_bills(prices, u, &day),
                "StreamReadRequestUnits": u.stream_reads,
                "RestoredBytes": u.restored_bytes,
                "ExportedBytes": u.exported_bytes,
                "ImportedBytes": u.imported_bytes,
                "CostSoFar": b.so_far.json(),
                "ProjectedMonthly": b.monthly.json(),
                "ProjectedMonthlyRequests": {
                    "OnDemand": b.monthly_on_demand,
                    "Provisioned": b.monthly_provisioned,
                    "ProvisionedReadCapacityUnits": b.provisioned_read_capacity,
                    "ProvisionedWriteCapacityUnits": b.provisioned_write_capacity,
                    "Cheaper": b.cheaper(),
                },
            })
        })
        .collect();
    let price_dates: BTreeMap<&str, String> = KEYS.iter().map(|k| (*k, prices.since(k, &day))).collect();
    json!({
        "Region": prices.region,
        "Currency": prices.currency,
        "PricesOn": day,
        "PricesSince": price_dates,
        "Tables": tables,
        "CostSoFar": so_far,
        "ProjectedMonthly": monthly,
        "FreeTierCreditSoFar": credit_so_far,
        "FreeTierCreditMonthly": credit_monthly,
        "CostSoFarAfterFreeTier": so_far - credit_so_far,
        "ProjectedMonthlyAfterFreeTier": monthly - credit_monthly,
    })
}

/// Each secondary index's share of a table's use and cost so far (part of
/// the table's figures, not on top of them).
fn index_bills(prices: &Prices, u: &Usage, day: &str) -> Json {
    let p = |k: &str| prices.at(k, day);
    let provisioned = u.billing == Some(BillingMode::Provisioned);
    let month_secs = HOURS_PER_MONTH * 3600.0;
    Json::Array(
        u.indexes
            .iter()
            .map(|(name, i)| {
                let (reads, writes) = if provisioned {
                    (
                        i.read_capacity_secs / 3600.0 * p("read_capacity_unit_hours"),
                        i.write_capacity_secs / 3600.0 * p("write_capacity_unit_hours"),
                    )
                } else {
                    (
                        i.read_units / 1e6 * p("read_request_units_per_million"),
                        i.write_units / 1e6 * p("write_request_units_per_million"),
                    )
                };
                let storage = i.storage_byte_secs / GB / month_secs * p("storage_gb_months");
                json!({
                    "IndexName": name,
                    "ConsumedReadUnits": i.read_units,
                    "ConsumedWriteUnits": i.write_units,
                    "StorageBytes": i.storage_bytes,
                    "CostSoFar": {"reads": reads, "writes": writes, "storage": storage, "total": reads + writes + storage},
                })
            })
            .collect(),
    )
}

/// The cost meter's Prometheus families (appended to `/metrics`).
pub fn prometheus(app: &App) -> String {
    use std::fmt::Write as _;
    let day = today();
    let mut out = String::new();
    let metric = "tidepool_dynamodb_cost_dollars";
    let _ = writeln!(out, "# HELP {metric} What the table's use since it was made would cost on DynamoDB");
    let _ = writeln!(out, "# TYPE {metric} gauge");
    for u in usage(app) {
        let b = price(&app.prices, &u, &day);
        let name = u.table.replace('\\', "\\\\").replace('"', "\\\"");
        let _ = writeln!(out, "{metric}{{table_name=\"{name}\"}} {}", b.so_far.total());
    }
    out
}

/// `GET /tidepool/cost`.
pub async fn serve(axum::extract::State(app): axum::extract::State<std::sync::Arc<App>>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = tokio::task::spawn_blocking(move || bill(&app)).await.unwrap_or(Json::Null);
    axum::Json(body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_taken_on_the_day() {
        let p = Prices::shipped();
        assert_eq!(p.at("write_request_units_per_million", "2024-10-31"), 1.25);
        assert_eq!(p.at("write_request_units_per_million", "2024-11-01"), 0.625);
        assert_eq!(p.at("read_request_units_per_million", "2026-12-05"), 0.125);
        assert_eq!(p.at("read_request_units_per_million", "2010-01-01"), 0.25, "before any: the earliest");
        assert!(Prices::parse("region = \"x\"\ncurrency = \"USD\"\n[prices]\n[free_tier]\nstorage_gb = 1\nread_capacity_units = 1\nwrite_capacity_units = 1\nstream_read_request_units = 1\n").is_err());
    }

    #[test]
    fn a_known_workload_gives_the_hand_computed_bill() {
        let p = Prices::shipped();
        let day = "2026-12-05";
        // 10 million writes and 40 million eventually consistent reads
        // (20 million units) in one hour on demand, 10 GB stored.
        let u = Usage {
            table: "t".into(),
            billing: Some(BillingMode::PayPerRequest),
            read_units: 20e6,
            write_units: 10e6,
            storage_bytes: 10 * 1024 * 1024 * 1024,
            table_bytes: 10 * 1024 * 1024 * 1024,
            seconds: 3600.0,
            ..Default::default()
        };
        let b = price(&p, &u, day);
        assert!((b.so_far.reads - 2.5).abs() < 1e-9, "20M × $0.125/M");
        assert!((b.so_far.writes - 6.25).abs() < 1e-9, "10M × $0.625/M");
        assert!((b.so_far.storage - 10.0 / 730.0 * 0.25).abs() < 1e-12, "10 GB for an hour");
        // A month at that rate: 730 times the hour.
        assert!((b.monthly_on_demand - 730.0 * 8.75).abs() < 1e-6);
        // Provisioned: 5,556 reads and 2,778 writes a second over 70 %.
        assert_eq!(b.provisioned_read_capacity, (20e6 / 3600.0 / 0.7f64).ceil());
        assert_eq!(b.provisioned_write_capacity, (10e6 / 3600.0 / 0.7f64).ceil());
        let prov = (b.provisioned_read_capacity * 0.00013 + b.provisioned_write_capacity * 0.00065) * 730.0;
        assert!((b.monthly_provisioned - prov).abs() < 1e-6);
        assert_eq!(b.cheaper(), "PROVISIONED", "steady traffic is cheaper provisioned");

        // The same table provisioned at 100 RCU and 50 WCU for two hours
        // pays for its capacity, used or not.
        let u = Usage {
            billing: Some(BillingMode::Provisioned),
            read_capacity: 100.0,
            write_capacity: 50.0,
            seconds: 7200.0,
            read_units: 10.0,
            write_units: 10.0,
            ..u
        };
        let b = price(&p, &u, day);
        assert!((b.so_far.reads - 100.0 * 2.0 * 0.00013).abs() < 1e-12);
        assert!((b.so_far.writes - 50.0 * 2.0 * 0.00065).abs() < 1e-12);
        assert_eq!(b.cheaper(), "PAY_PER_REQUEST", "a nearly idle table is cheaper on demand");
        // The free tier covers 25 RCU and 25 WCU and 25 GB of it a month.
        let credit = free_tier_credit(&p, &[b], Span::Month, day, 0.0);
        assert!((credit - (10.0 * 0.25 + 25.0 * 730.0 * 0.00013 + 25.0 * 730.0 * 0.00065)).abs() < 1e-9);
    }

    #[test]
    fn stream_reads_restores_exports_and_imports_are_priced_per_use() {
        let p = Prices::shipped();
        let day = "2026-12-05";
        let gb = 1024 * 1024 * 1024;
        // In a day: 3 million GetRecords calls, 2 GB restored, 4 GB
        // exported, 6 GB imported.
        let u = Usage {
            table: "t".into(),
            billing: Some(BillingMode::PayPerRequest),
            stream_reads: 3_000_000,
            restored_bytes: 2 * gb,
            exported_bytes: 4 * gb,
            imported_bytes: 6 * gb,
            seconds: 86_400.0,
            ..Default::default()
        };
        let b = price(&p, &u, day);
        assert!((b.so_far.stream_reads - 30.0 * 0.02).abs() < 1e-9, "30 × 100k × $0.02");
        assert!((b.so_far.restores - 2.0 * 0.15).abs() < 1e-9);
        assert!((b.so_far.exports - 4.0 * 0.10).abs() < 1e-9);
        assert!((b.so_far.imports - 6.0 * 0.15).abs() < 1e-9);
        assert!((b.so_far.total() - (0.6 + 0.3 + 0.4 + 0.9)).abs() < 1e-9);
        // A month at that rate: 730 / 24 days of it.
        assert!((b.monthly.stream_reads - 0.6 * 730.0 / 24.0).abs() < 1e-9);
        // The free tier's 2.5 million stream reads a month: a day's share
        // of them so far, all of them in a month.
        let months = 24.0 / 730.0;
        let credit = free_tier_credit(&p, std::slice::from_ref(&b), Span::SoFar { months }, day, 3e6);
        assert!((credit - 2.5e6 * months / 1e5 * 0.02).abs() < 1e-9, "{credit}");
        let credit = free_tier_credit(&p, &[b], Span::Month, day, 3e6 * 730.0 / 24.0);
        assert!((credit - 25.0 * 0.02).abs() < 1e-9, "{credit}");
    }
}
