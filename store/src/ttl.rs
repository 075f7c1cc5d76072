//! Time to live: items whose TTL attribute (a Number of epoch seconds) has
//! passed are deleted in the background, each deletion writing a REMOVE
//! stream record marked as the service's.
//!
//! Every write to a table with TTL enabled keeps an entry
//! `table id(8, BE) ++ expiry seconds(8, BE) ++ item key` in the `ttl`
//! keyspace, in the same batch as the item, so a sweep is a range scan up to
//! now rather than a scan of the table. As in DynamoDB, items expired more
//! than five years ago are never deleted, and expired items stay readable
//! until the sweeper deletes them.

use std::ops::Bound;

use crate::db::{Decision, Store, TableHandle, WriteOp};
use crate::error::Result;
use crate::stream::Origin;
use crate::stream::decode_stored;
use crate::value::{Item, Value};

/// DynamoDB ignores expiry times more than five years in the past.
const MAX_AGE_SECS: u64 = 5 * 365 * 24 * 3600;
/// Deletions per commit during a sweep.
const SWEEP_BATCH: usize = 100;

/// The expiry of a TTL attribute value: a non-negative Number, in whole
/// epoch seconds. Anything else never expires.
pub(crate) fn ttl_secs(v: Option<&Value>) -> Option<u64> {
    let Some(Value::N(n)) = v else { return None };
    let f: f64 = n.to_string().parse().ok()?;
    (f.is_finite() && f >= 0.0 && f < u64::MAX as f64).then(|| f.floor() as u64)
}

pub(crate) fn ttl_key(table: u64, secs: u64, item_key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(16 + item_key.len());
    k.extend_from_slice(&table.to_be_bytes());
    k.extend_from_slice(&secs.to_be_bytes());
    k.extend_from_slice(item_key);
    k
}

/// Whether an item's TTL value has passed at `now`, by DynamoDB's rule.
fn expired(v: Option<&Value>, now: u64) -> bool {
    ttl_secs(v).is_some_and(|t| t <= now && t >= now.saturating_sub(MAX_AGE_SECS))
}

impl Store {
    /// Removes every TTL entry of table `id`.
    pub(crate) fn clear_ttl_entries(&self, id: u64) -> Result<()> {
        let Some(ttl) = self.inner().ttl.get() else { return Ok(()) };
        let mut batch = self.inner().db.batch();
        for kv in ttl.prefix(id.to_be_bytes()) {
            batch.remove(ttl, kv.key()?);
            if batch.len() >= 10_000 {
                std::mem::replace(&mut batch, self.inner().db.batch()).commit()?;
                self.seal_full_memtables();
            }
        }
        batch.commit()?;
        Ok(())
    }

    /// Adds TTL entries for the items of `t` that carry `attr`.
    pub(crate) fn backfill_ttl(&self, t: &TableHandle, attr: &str) -> Result<()> {
        let ttl = self.inner().ttl.get_or_create()?;
        let mut batch = self.inner().db.batch();
        for kv in t.items.iter() {
            let (k, v) = kv.into_inner()?;
            let item = decode_stored(&crate::cipher::open_in(self.inner().cipher.as_ref(), &t.items, &k, v)?)?;
            if let Some(secs) = ttl_secs(item.get(attr)) {
                batch.insert(ttl, ttl_key(t.def.id, secs, &k), []);
            }
            if batch.len() >= 10_000 {
                std::mem::replace(&mut batch, self.inner().db.batch()).commit()?;
                self.seal_full_memtables();
            }
        }
        batch.commit()?;
        Ok(())
    }

    /// Deletes the items of every TTL-enabled table that expired by `now`
    /// (epoch seconds). Returns how many were deleted.
    pub fn sweep_ttl(&self, now: u64) -> Result<usize> {
        let mut deleted = 0;
        for name in self.list_tables(None, usize::MAX).0 {
            let Ok(t) = self.table(&name) else { continue };
            let Some(attr) = t.def.ttl_attribute.clone() else { continue };
            loop {
                let keys = self.expired_keys(&t, now)?;
                if keys.is_empty() {
                    break;
                }
                let n = keys.len();
                let ops = keys
                    .into_iter()
                    .map(|key| {
                        let attr = attr.clone();
                        WriteOp {
                            table: name.clone(),
                            key,
                            decide: Box::new(move |cur: Option<&Item>| {
                                Ok(match cur {
                                    Some(item) if expired(item.get(&attr), now) => Decision::Delete,
                                    _ => Decision::Keep,
                                })
                            }),
                        }
                    })
                    .collect();
                match self.write_many_as(ops, false, Origin { ttl: true, ..Origin::default() }) {
                    Ok(outcomes) => deleted += outcomes.iter().filter(|o| o.old.is_some() && o.new.is_none()).count(),
                    // The table went away or changed under the sweep.
                    Err(e) if e.is_client_error() => break,
                    Err(e) => return Err(e),
                }
                if n < SWEEP_BATCH {
                    break;
                }
            }
        }
        Ok(deleted)
    }

    /// Up to [`SWEEP_BATCH`] key items of `t` whose TTL entries say they
    /// expired by `now`.
    fn expired_keys(&self, t: &TableHandle, now: u64) -> Result<Vec<Item>> {
        let id = t.def.id;
        let lo = ttl_key(id, now.saturating_sub(MAX_AGE_SECS), &[]);
        let hi = ttl_key(id, now.saturating_add(1), &[]);
        let mut keys = Vec::new();
        let Some(ttl) = self.inner().ttl.get() else { return Ok(keys) };
        for kv in ttl.range::<Vec<u8>, _>((Bound::Included(lo), Bound::Excluded(hi))) {
            let k = kv.key()?;
            let Some(item_key) = k.get(16..) else { continue };
            if let Some(v) = t.items.get(item_key)? {
                let item =
                    decode_stored(&crate::cipher::open_in(self.inner().cipher.as_ref(), &t.items, item_key, v)?)?;
                keys.push(
                    t.def.key_schema.names().filter_map(|n| item.get(n).map(|v| (n.to_string(), v.clone()))).collect(),
                );
            } else {
                // A stale entry (the item is gone); drop it.
                let _ = ttl.remove(&*k);
            }
            if keys.len() >= SWEEP_BATCH {
                break;
            }
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_numbers_in_range_expire() {
        let n = |s: &str| Value::N(s.parse().unwrap());
        assert_eq!(ttl_secs(Some(&n("1700000000.9"))), Some(1_700_000_000));
        assert_eq!(ttl_secs(Some(&n("-5"))), None);
        assert_eq!(ttl_secs(Some(&Value::S("1700000000".into()))), None);
        assert!(expired(Some(&n("100")), 100));
        assert!(!expired(Some(&n("101")), 100));
        let now = 1_800_000_000;
        assert!(!expired(Some(&n(&(now - MAX_AGE_SECS - 1).to_string())), now));
    }
}
