//! Reading change streams, waking their subscribers, and keeping them:
//! shard rollover and retention. The write side is in `db.rs`, where
//! records join the batch of the change they describe.

use std::ops::Bound;

use fjall::Readable;

use tokio::sync::watch;

use crate::db::{META_STREAM, Store, TableHandle, lock_pub as lock};
use crate::error::{Result, StoreError};
use crate::key::item_key;
use crate::messages;
use crate::stream::{
    RecordPage, RecordRef, ShardSignal, StartingPosition, StreamMeta, StreamRecord, decode_record, record_created_ms,
    record_key, record_new_by_ref, seq_of_key, split_stored,
};
use crate::table::KeySchema;
use crate::value::decode_item;

/// The most records [`Store::latest_record`] looks through when the item
/// does not point at its record (a stream without new images, a deleted
/// item): the newest ones of the shards the key's records go to, so a
/// trace costs at most this many record decodes, whatever the stream
/// holds.
pub const MAX_TRACE_SCAN: usize = 10_000;

/// The most records one read returns, and its byte budget (GetRecords').
pub const MAX_READ_RECORDS: usize = 1000;
pub const MAX_READ_BYTES: usize = 1024 * 1024;

fn shard_missing(id: &str) -> StoreError {
    StoreError::ResourceNotFound(messages::stream::shard_not_found(id))
}

fn trimmed() -> StoreError {
    StoreError::TrimmedDataAccess(messages::stream::TRIMMED.into())
}

impl Store {
    /// How streams are cut, kept and written as JSON (the store's
    /// [`StreamConfig`](crate::StreamConfig), shards clamped).
    pub fn stream_config(&self) -> crate::StreamConfig {
        self.inner().stream_config
    }

    /// Every stream still readable, enabled or not, by table then label.
    pub fn list_streams(&self) -> Vec<StreamMeta> {
        let streams = lock(&self.inner().streams);
        let mut all: Vec<StreamMeta> = streams.live.values().map(|l| l.meta.clone()).collect();
        all.sort_by(|a, b| (&a.table, &a.label).cmp(&(&b.table, &b.label)));
        all
    }

    /// The stream of `table` labelled `label`.
    pub fn stream(&self, table: &str, label: &str) -> Option<StreamMeta> {
        let streams = lock(&self.inner().streams);
        streams.live.values().find(|l| l.meta.table == table && l.meta.label == label).map(|l| l.meta.clone())
    }

    /// The stream numbered `num` (see [`StreamMeta::num`]).
    pub fn stream_by_num(&self, num: u64) -> Option<StreamMeta> {
        lock(&self.inner().streams).live.get(&num).map(|l| l.meta.clone())
    }

    /// Changes the tags of stream `num` (TagResource and UntagResource on
    /// its ARN) with `change`, which may refuse them; durable when it
    /// returns.
    pub fn alter_stream_tags(
        &self,
        num: u64,
        change: impl FnOnce(&mut std::collections::BTreeMap<String, String>) -> Result<()>,
    ) -> Result<()> {
        self.check_writable()?;
        let inner = self.inner();
        let mut streams = lock(&inner.streams);
        let live = streams
            .live
            .get_mut(&num)
            .ok_or_else(|| StoreError::ResourceNotFound(messages::stream::STREAM_GONE.into()))?;
        let mut meta = live.meta.clone();
        change(&mut meta.tags)?;
        let json = serde_json::to_vec(&meta).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let r = inner.meta.insert([META_STREAM, &num.to_be_bytes()].concat(), json);
        self.poison_on_err(r)?;
        live.meta = meta;
        // Synced as a table's settings are, once the streams are free.
        drop(streams);
        self.sync_now()
    }

    /// The first sequence number a reader starting at `pos` in shard
    /// `shard` of stream `num` reads.
    pub fn shard_position(&self, num: u64, shard: &str, pos: StartingPosition) -> Result<u64> {
        let streams = lock(&self.inner().streams);
        let live = streams.live.get(&num).ok_or_else(|| shard_missing(shard))?;
        let s = live.meta.shard(shard).ok_or_else(|| shard_missing(shard))?;
        let horizon = s.trimmed_through.map_or(s.start_seq, |t| (t + 1).max(s.start_seq));
        let check = |seq: u64| -> Result<()> {
            let beyond = s.end_seq.map_or(seq >= streams.next_seq, |e| seq > e);
            // A shard's own StartingSequenceNumber is valid even before the
            // shard holds a record.
            if seq < s.start_seq || (beyond && seq != s.start_seq) {
                return Err(StoreError::validation(messages::stream::sequence_number_not_in_shard(
                    crate::stream::format_seq(seq),
                    shard,
                )));
            }
            if s.trimmed_through.is_some_and(|t| seq <= t) {
                return Err(trimmed());
            }
            Ok(())
        };
        Ok(match pos {
            StartingPosition::TrimHorizon => horizon,
            StartingPosition::Latest => match s.end_seq {
                Some(e) => e + 1,
                None => live.last_seq.get(&s.num).map_or(s.start_seq, |l| l + 1).max(s.start_seq),
            },
            StartingPosition::AtSequence(seq) => {
                check(seq)?;
                seq
            }
            StartingPosition::AfterSequence(seq) => {
                check(seq)?;
                seq + 1
            }
        })
    }

    /// The latest record of the item with key `key` (its key attributes
    /// exactly) in table `table`'s stream that the stream still holds: the
    /// stream, the shard's id and the record, as `read_shard` reads it.
    /// Found through the item, which points at its latest record when the
    /// stream carries new images, or else among the newest
    /// [`MAX_TRACE_SCAN`] records of the shards the key's records go to.
    /// Only the table's own streams are searched (not those of an earlier
    /// table of the same name).
    pub fn latest_record(
        &self,
        table: &str,
        key: &crate::value::Item,
    ) -> Result<Option<(StreamMeta, String, StreamRecord)>> {
        let handle = self.table(table)?;
        handle.def.check_key_attrs(key, true)?;
        let own: Vec<u64> = handle.def.stream.iter().chain(&handle.def.old_streams).map(|s| s.num).collect();
        let Some(meta) = self.list_streams().into_iter().filter(|m| own.contains(&m.num)).max_by_key(|m| m.num) else {
            return Ok(None);
        };
        let read = |shard: &str, seq: u64| -> Result<Option<StreamRecord>> {
            match self.read_shard(meta.num, shard, seq, 1, MAX_READ_BYTES) {
                Ok(page) => Ok(page.records.into_iter().find(|r| r.seq == seq)),
                // Trimmed, or the shard removed, since.
                Err(StoreError::TrimmedDataAccess(_) | StoreError::ResourceNotFound(_)) => Ok(None),
                Err(e) => Err(e),
            }
        };
        // The item's pointer to its latest record.
        let k = item_key(&handle.def.key_schema, key);
        if let Some(v) = handle.items.get(&k)? {
            let v = crate::cipher::open_in(self.inner().cipher.as_ref(), &handle.items, &k, v)?;
            if let (Some(r), _) = split_stored(&v)?
                && r.stream == meta.num
                && let Some(shard) = meta.shards.iter().find(|s| s.num == r.shard)
                && let Some(record) = read(&shard.id, r.seq)?
            {
                return Ok(Some((meta.clone(), shard.id.clone(), record)));
            }
        }
        // Else the newest records of the key's shards.
        let Some(records) = self.inner().records.get() else { return Ok(None) };
        let cipher = self.inner().cipher.as_ref();
        let slot = crate::stream::slot_of(&meta.key_schema, key, meta.slots);
        let mut budget = MAX_TRACE_SCAN;
        let mut best: Option<(u64, u32)> = None;
        let mut shards: Vec<_> = meta.shards.iter().filter(|s| s.slot == slot).collect();
        shards.sort_by_key(|s| std::cmp::Reverse(s.start_seq));
        for shard in shards {
            if budget == 0 || best.is_some_and(|(seq, _)| shard.end_seq.is_some_and(|e| e < seq)) {
                continue;
            }
            let range = record_key(meta.num, shard.num, 0)..=record_key(meta.num, shard.num, u64::MAX);
            for kv in records.range::<[u8; 20], _>(range).rev() {
                if budget == 0 {
                    break;
                }
                budget -= 1;
                let (k, v) = kv.into_inner()?;
                let seq = seq_of_key(&k).ok_or_else(|| StoreError::Corrupt("stream record key".into()))?;
                if best.is_some_and(|(b, _)| b > seq) {
                    break;
                }
                let v = crate::cipher::open_in(cipher, records, &k, v)?;
                if decode_record(meta.num, seq, &v)?.keys == *key {
                    best = Some((seq, shard.num));
                    break;
                }
            }
        }
        let Some((seq, num)) = best else { return Ok(None) };
        let Some(shard) = meta.shards.iter().find(|s| s.num == num) else { return Ok(None) };
        let id = shard.id.clone();
        Ok(read(&id, seq)?.map(|r| (meta, id, r)))
    }

    /// Reads records of shard `shard` of stream `num` from sequence number
    /// `from` on: at most `limit` records and about `max_bytes` of them
    /// (always at least one).
    pub fn read_shard(&self, num: u64, shard: &str, from: u64, limit: usize, max_bytes: usize) -> Result<RecordPage> {
        let (shard_num, end_seq, table, schema) = {
            let streams = lock(&self.inner().streams);
            let live = streams.live.get(&num).ok_or_else(|| shard_missing(shard))?;
            let s = live.meta.shard(shard).ok_or_else(|| shard_missing(shard))?;
            if s.trimmed_through.is_some_and(|t| from <= t) {
                return Err(trimmed());
            }
            (s.num, s.end_seq, live.meta.table.clone(), live.meta.key_schema.clone())
        };
        let limit = limit.clamp(1, MAX_READ_RECORDS);
        let mut page = RecordPage::default();
        let mut bytes = 0usize;
        let mut full = false;
        let range =
            (Bound::Included(record_key(num, shard_num, from)), Bound::Included(record_key(num, shard_num, u64::MAX)));
        // One snapshot for the records and the items some refer to: whole
        // batches only, so a record referring to its item finds it.
        let snap = self.inner().db.snapshot();
        let handle = self.table(&table).ok();
        // No keyspace yet: no records yet.
        let records = self.inner().records.get();
        for kv in records.into_iter().flat_map(|r| snap.range::<[u8; 20], _>(r, range)) {
            if page.records.len() >= limit || (bytes >= max_bytes && !page.records.is_empty()) {
                full = true;
                break;
            }
            let (k, v) = kv.into_inner()?;
            let seq = seq_of_key(&k).ok_or_else(|| StoreError::Corrupt("stream record key".into()))?;
            let ks = records.ok_or_else(|| StoreError::Corrupt("a record without its keyspace".into()))?;
            let v = crate::cipher::open_in(self.inner().cipher.as_ref(), ks, &k, v)?;
            let mut record = decode_record(num, seq, &v)?;
            let mut size = v.len();
            if record_new_by_ref(&v) {
                let r = RecordRef { stream: num, shard: shard_num, seq };
                match self.resolve_new_image(&snap, handle.as_deref(), &schema, r, &mut record, v.len())? {
                    Some(full) => size = full,
                    // Retention removed it since the page began.
                    None => continue,
                }
            }
            bytes += size;
            page.records.push(record);
        }
        let next = page.records.last().map_or(from, |r| r.seq + 1);
        let drained = match end_seq {
            Some(e) => next > e || !full,
            None => false,
        };
        page.next = (!drained).then_some(next);
        Ok(page)
    }

    /// Gives `record` (read as `r` in `snap`, marked as having its new image
    /// in the item) its new image: the item's in `snap`, where the item
    /// refers to the record. Should the item be gone from under `snap` (its
    /// table deleted), the record now holds the image: the change that
    /// replaced the item, or the deletion, put it in. The size of the
    /// record with its image (`stored` bytes without), or `None` when the
    /// record is gone (retention).
    fn resolve_new_image(
        &self,
        snap: &fjall::Snapshot,
        table: Option<&TableHandle>,
        schema: &KeySchema,
        r: RecordRef,
        record: &mut StreamRecord,
        stored: usize,
    ) -> Result<Option<usize>> {
        let Some(records) = self.inner().records.get() else { return Ok(None) };
        let cipher = self.inner().cipher.as_ref();
        let item = match table {
            Some(t) => {
                let k = item_key(schema, &record.keys);
                match snap.get(&t.items, &k) {
                    Ok(Some(v)) => Some(crate::cipher::open_in(cipher, &t.items, &k, v)?),
                    _ => None,
                }
            }
            None => None,
        };
        if let Some(v) = item
            && let (Some(at), raw) = split_stored(&v)?
            && at == r
        {
            record.new_image = Some(decode_item(raw)?);
            // The image's section: its length (4 bytes) and its encoding.
            return Ok(Some(stored + 4 + raw.len()));
        }
        let Some(v) = records.get(r.key())? else { return Ok(None) };
        let v = crate::cipher::open_in(cipher, records, &r.key(), v)?;
        if record_new_by_ref(&v) {
            return Err(StoreError::Corrupt(format!(
                "stream record {} refers to an item that does not refer to it",
                r.seq
            )));
        }
        *record = decode_record(r.stream, r.seq, &v)?;
        Ok(Some(v.len()))
    }

    /// Commits `batch` of removals from shard `shard` of stream `num`, with
    /// the shard's trimmed mark moved to `last` (the highest removed), so
    /// that a reopen never hands out a removed sequence number again.
    fn commit_trim(&self, mut batch: fjall::OwnedWriteBatch, num: u64, shard: u32, last: Option<u64>) -> Result<()> {
        let inner = self.inner();
        let Some(last) = last else { return Ok(()) };
        // Commits that put images into records check, under this lock, that
        // the record is still there.
        let _trim = lock(&inner.trim);
        let mut streams = lock(&inner.streams);
        let Some(live) = streams.live.get_mut(&num) else { return Ok(batch.commit()?) };
        // The mark moves in memory only once the removals are committed.
        let mut meta = live.meta.clone();
        if let Some(s) = meta.shards.iter_mut().find(|s| s.num == shard) {
            s.trimmed_through = Some(last.max(s.trimmed_through.unwrap_or(0)));
            let json = serde_json::to_vec(&meta).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            batch.insert(&inner.meta, [META_STREAM, &num.to_be_bytes()].concat(), json);
        }
        batch.commit()?;
        live.meta = meta;
        Ok(())
    }

    /// Watches shard `shard` of stream `num`: the receiver changes when a
    /// record there becomes durable and when the shard closes. Sending never
    /// waits for receivers, so a slow subscriber cannot hold up writers.
    pub fn subscribe_shard(&self, num: u64, shard: &str) -> Option<watch::Receiver<ShardSignal>> {
        let streams = lock(&self.inner().streams);
        let live = streams.live.get(&num)?;
        let s = live.meta.shard(shard)?;
        live.shard_tx.get(&s.num).map(|tx| tx.subscribe())
    }

    /// Watches the shard list of stream `num`: the receiver changes when
    /// shards open, close or are removed by retention.
    pub fn subscribe_layout(&self, num: u64) -> Option<watch::Receiver<u64>> {
        lock(&self.inner().streams).live.get(&num).map(|l| l.layout_tx.subscribe())
    }

    /// Rolls over shards whose time is up, trims records past retention, and
    /// removes shards and streams with nothing left to read.
    pub fn maintain_streams(&self, now: u64) -> Result<()> {
        let inner = self.inner();
        let rollover = inner.stream_config.rollover.as_millis() as u64;
        let due: Vec<u64> = lock(&inner.streams)
            .live
            .values()
            .filter(|l| l.meta.enabled() && now >= l.meta.generation_ms.saturating_add(rollover))
            .map(|l| l.meta.num)
            .collect();
        if !due.is_empty() {
            // Under the write lock no change is between staging and commit,
            // so a shard never closes ahead of one of its records.
            let _guard = lock(&inner.write);
            let mut batch = inner.db.batch();
            let mut streams = lock(&inner.streams);
            for num in due {
                self.stage_rollover(&mut batch, &mut streams, num, now);
            }
            batch.commit()?;
        }
        let cutoff = now.saturating_sub(inner.stream_config.retention.as_millis() as u64);
        let shards: Vec<(u64, u32, u64)> = lock(&inner.streams)
            .live
            .values()
            .flat_map(|l| {
                l.meta.shards.iter().map(|s| (l.meta.num, s.num, s.trimmed_through.map_or(s.start_seq, |t| t + 1)))
            })
            .collect();
        for (num, shard, from) in shards {
            let mut batch = inner.db.batch();
            let mut last = None;
            let range =
                (Bound::Included(record_key(num, shard, from)), Bound::Included(record_key(num, shard, u64::MAX)));
            let Some(records) = inner.records.get() else { continue };
            for kv in records.range::<[u8; 20], _>(range) {
                let (k, v) = kv.into_inner()?;
                // A record that does not open stops this shard's trimming,
                // not every stream's.
                let v = match crate::cipher::open_in(inner.cipher.as_ref(), records, &k, v) {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::error!(stream = num, shard, error = %e, "a stream record does not open; not trimmed");
                        break;
                    }
                };
                if record_created_ms(&v).is_none_or(|c| c >= cutoff) {
                    break;
                }
                last = seq_of_key(&k);
                batch.remove(records, k);
                if batch.len() >= 10_000 {
                    let full = std::mem::replace(&mut batch, inner.db.batch());
                    self.commit_trim(full, num, shard, last)?;
                    self.seal_full_memtables();
                }
            }
            self.commit_trim(batch, num, shard, last)?;
        }
        // Closed shards past retention have been trimmed empty: forget them,
        // and streams left without shards.
        let mut streams = lock(&inner.streams);
        let mut batch = inner.db.batch();
        let mut gone = Vec::new();
        for live in streams.live.values_mut() {
            let before = live.meta.shards.len();
            let expired: Vec<u32> =
                live.meta.shards.iter().filter(|s| s.closed_ms.is_some_and(|c| c < cutoff)).map(|s| s.num).collect();
            live.meta.shards.retain(|s| !expired.contains(&s.num));
            for n in &expired {
                live.shard_tx.remove(n);
            }
            let key = [META_STREAM, &live.meta.num.to_be_bytes()].concat();
            if live.meta.shards.is_empty() && !live.meta.enabled() {
                batch.remove(&inner.meta, key);
                gone.push(live.meta.num);
            } else if live.meta.shards.len() != before {
                let json = serde_json::to_vec(&live.meta).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                batch.insert(&inner.meta, key, json);
                live.announce_layout();
            }
        }
        for num in gone {
            if let Some(l) = streams.live.remove(&num) {
                l.announce_layout();
                tracing::info!(table = %l.meta.table, label = %l.meta.label, "stream past retention removed");
            }
        }
        if !batch.is_empty() {
            batch.commit()?;
        }
        Ok(())
    }
}
