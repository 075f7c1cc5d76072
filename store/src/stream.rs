//! Change streams: every committed change to a table with a stream enabled
//! becomes one record in one shard of that stream.
//!
//! - Records live in the `streams` keyspace under
//!   `stream_num(8, BE) ++ shard_num(4, BE) ++ seq(8, BE)`, written in the
//!   same fjall batch as the item change they describe.
//! - Sequence numbers come from one store-wide counter, so they increase
//!   within a shard and a child shard's numbers follow its parent's. At open
//!   the counter is recovered past every record, shard boundary and trimmed
//!   mark (and the value persisted when streams switch or roll over), so no
//!   number is handed out twice.
//! - An item always maps to the same slot (a hash of its partition key); a
//!   slot holds a chain of shards, each the parent of the next, and all open
//!   shards roll over together every [`StreamConfig::rollover`].
//! - Stream and shard metadata (JSON in the `meta` keyspace): shards open
//!   and close only under the store's write lock; retention records how far
//!   it trimmed in the batch of each removal.
//! - An INSERT's new image is written once. While the record is the latest
//!   change of its item, the record holds no copy: it is marked
//!   [`NEW_BY_REF`] and the stored item starts with a [`RecordRef`] to it.
//!   The write that next replaces or deletes the item puts the image into
//!   the record, in the same batch; DeleteTable puts every such image into
//!   its record before the items go. A reader that meets a marked record
//!   takes the image from the item (in the same snapshot), or, if the table
//!   is gone, reads the record again.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::error::{Result, StoreError};
use crate::table::{KeySchema, StreamViewType};
use crate::value::{
    Item, Value, decode_item, encode_entries, encode_key_component, entries_size, item_size, with_scratch,
};

/// How streams are cut into shards and how long records are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamConfig {
    /// Open shards per stream. An item's records always go to the same one.
    pub shards: u32,
    /// How long a shard stays open before it closes and a child opens
    /// (AWS: about four hours).
    pub rollover: Duration,
    /// How long records stay readable (AWS: 24 hours).
    pub retention: Duration,
    /// Records of writes replicated from another region carry the
    /// replication service's `userIdentity` (`serve
    /// --mark-replicated-writes`, a Tidepool extension). Off, as on AWS,
    /// they carry none. Decided when a record is written as JSON, from the
    /// flag every replicated record keeps ([`Origin::replicated`]), so it
    /// applies to records already stored too.
    pub mark_replicated_writes: bool,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            shards: 4,
            rollover: Duration::from_secs(4 * 3600),
            retention: Duration::from_secs(24 * 3600),
            mark_replicated_writes: false,
        }
    }
}

/// What a stream record says happened to its item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventName {
    Insert,
    Modify,
    Remove,
}

impl EventName {
    pub fn as_str(self) -> &'static str {
        match self {
            EventName::Insert => "INSERT",
            EventName::Modify => "MODIFY",
            EventName::Remove => "REMOVE",
        }
    }
}

/// Who made a change, as far as its stream record tells.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Origin {
    /// The change is a TTL expiry (the record carries DynamoDB's
    /// `userIdentity`).
    pub ttl: bool,
    /// How many trigger invocations led to this write (0 for a client's
    /// write). Records carry it so the trigger engine can stop loops.
    pub depth: u32,
    /// The change was made in another region and replicated here, with
    /// this stamp (`replication.rs`). The replicator does not send its
    /// record on; with [`StreamConfig::mark_replicated_writes`] the record
    /// carries the replication service's `userIdentity`.
    pub replicated: Option<crate::replication::Stamp>,
}

/// One stream record as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamRecord {
    pub seq: u64,
    pub event: EventName,
    /// Commit time, epoch milliseconds.
    pub created_ms: u64,
    /// The `SizeBytes` DynamoDB reports: the keys and images carried.
    pub size_bytes: u64,
    pub keys: Item,
    pub new_image: Option<Item>,
    pub old_image: Option<Item>,
    pub origin: Origin,
    /// A unique id (the `eventID`).
    pub event_id: String,
    /// The replication stamp of the change, on a global table's records.
    pub stamp: Option<crate::replication::Stamp>,
}

impl StreamRecord {
    /// Appends the record as DynamoDB Streams' GetRecords shows it, or,
    /// with `lambda`, as Lambda passes it to a stream-triggered function.
    /// The two differ in the case of the `userIdentity` members, and Lambda
    /// adds `eventSourceARN` (pass it as `source_arn`). A TTL delete carries
    /// DynamoDB's `userIdentity`, as on AWS; a replicated write carries the
    /// replication service's only with `mark_replicated`
    /// ([`StreamConfig::mark_replicated_writes`]), else none, as on AWS.
    pub fn write_json(
        &self,
        out: &mut Vec<u8>,
        view: StreamViewType,
        region: &str,
        lambda: bool,
        source_arn: Option<&str>,
        mark_replicated: bool,
    ) {
        use crate::value::json::{write_item, write_str};
        out.extend_from_slice(b"{\"eventID\":");
        write_str(out, &self.event_id);
        out.extend_from_slice(b",\"eventName\":\"");
        out.extend_from_slice(self.event.as_str().as_bytes());
        out.extend_from_slice(b"\",\"eventVersion\":\"1.1\",\"eventSource\":\"aws:dynamodb\",\"awsRegion\":");
        write_str(out, region);
        out.extend_from_slice(b",\"dynamodb\":{\"ApproximateCreationDateTime\":");
        out.extend_from_slice((self.created_ms / 1000).to_string().as_bytes());
        out.extend_from_slice(b",\"Keys\":");
        write_item(out, &self.keys);
        if let Some(n) = &self.new_image {
            out.extend_from_slice(b",\"NewImage\":");
            write_item(out, n);
        }
        if let Some(o) = &self.old_image {
            out.extend_from_slice(b",\"OldImage\":");
            write_item(out, o);
        }
        out.extend_from_slice(b",\"SequenceNumber\":\"");
        out.extend_from_slice(format_seq(self.seq).as_bytes());
        out.extend_from_slice(b"\",\"SizeBytes\":");
        out.extend_from_slice(self.size_bytes.to_string().as_bytes());
        out.extend_from_slice(b",\"StreamViewType\":\"");
        out.extend_from_slice(view.as_str().as_bytes());
        out.extend_from_slice(b"\"}");
        if self.origin.ttl {
            out.extend_from_slice(if lambda {
                b",\"userIdentity\":{\"type\":\"Service\",\"principalId\":\"dynamodb.amazonaws.com\"}"
            } else {
                b",\"userIdentity\":{\"Type\":\"Service\",\"PrincipalId\":\"dynamodb.amazonaws.com\"}"
            });
        } else if mark_replicated && self.origin.replicated.is_some() {
            // A write another region made: the replication service's
            // principal (`replication.rs`), when asked for.
            out.extend_from_slice(if lambda {
                b",\"userIdentity\":{\"type\":\"Service\",\"principalId\":\"replication.dynamodb.amazonaws.com\"}"
            } else {
                b",\"userIdentity\":{\"Type\":\"Service\",\"PrincipalId\":\"replication.dynamodb.amazonaws.com\"}"
            });
        }
        if let Some(arn) = source_arn {
            out.extend_from_slice(b",\"eventSourceARN\":");
            write_str(out, arn);
        }
        out.push(b'}');
    }

    /// [`StreamRecord::write_json`] as a JSON value.
    pub fn to_json(
        &self,
        view: StreamViewType,
        region: &str,
        lambda: bool,
        mark_replicated: bool,
    ) -> serde_json::Value {
        let mut out = Vec::with_capacity(256);
        self.write_json(&mut out, view, region, lambda, None, mark_replicated);
        serde_json::from_slice(&out).expect("the record writer writes valid JSON")
    }
}

/// Formats a sequence number as the decimal string the API shows.
pub fn format_seq(seq: u64) -> String {
    format!("{seq:021}")
}

/// Parses a sequence number string; `None` when it is not one of ours.
pub fn parse_seq(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 40 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.trim_start_matches('0').parse::<u64>().ok().or_else(|| s.bytes().all(|b| b == b'0').then_some(0))
}

/// A shard's persisted description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardMeta {
    /// Number within the stream; part of each record's key.
    pub num: u32,
    /// The `ShardId` shown to clients.
    pub id: String,
    pub parent: Option<String>,
    pub slot: u32,
    pub start_seq: u64,
    /// Set when the shard is closed.
    pub end_seq: Option<u64>,
    pub created_ms: u64,
    pub closed_ms: Option<u64>,
    /// The highest sequence number removed by retention, if any.
    pub trimmed_through: Option<u64>,
}

/// A stream's persisted description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamMeta {
    /// Store-wide number naming the stream's records.
    pub num: u64,
    pub table: String,
    pub label: String,
    pub view_type: StreamViewType,
    pub key_schema: KeySchema,
    pub created_ms: u64,
    /// Set when the stream was disabled (or its table deleted).
    pub disabled_ms: Option<u64>,
    pub slots: u32,
    /// When the current generation of open shards opened.
    pub generation_ms: u64,
    pub next_shard_num: u32,
    pub shards: Vec<ShardMeta>,
    /// The stream's own tags (TagResource on its ARN): a stream does not
    /// inherit its table's.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub tags: std::collections::BTreeMap<String, String>,
}

impl StreamMeta {
    pub fn shard(&self, id: &str) -> Option<&ShardMeta> {
        self.shards.iter().find(|s| s.id == id)
    }

    pub fn enabled(&self) -> bool {
        self.disabled_ms.is_none()
    }
}

/// What a shard subscriber sees: the last committed sequence number in the
/// shard and whether the shard has closed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardSignal {
    pub last_seq: Option<u64>,
    pub closed: bool,
}

/// Every live stream and the store-wide sequence counter.
pub(crate) struct Streams {
    pub live: BTreeMap<u64, LiveStream>,
    /// The next sequence number to hand out.
    pub next_seq: u64,
    /// The next stream number to hand out.
    pub next_num: u64,
}

/// A stream in memory: its metadata, the last sequence number written to
/// each shard, and the subscribers' channels.
pub(crate) struct LiveStream {
    pub meta: StreamMeta,
    pub last_seq: BTreeMap<u32, u64>,
    pub shard_tx: BTreeMap<u32, watch::Sender<ShardSignal>>,
    /// Bumped whenever the shard list changes (rollover, disable, trim).
    pub layout_tx: watch::Sender<u64>,
}

impl LiveStream {
    pub fn new(meta: StreamMeta, last_seq: BTreeMap<u32, u64>) -> Self {
        let shard_tx = meta
            .shards
            .iter()
            .map(|s| {
                let signal = ShardSignal { last_seq: last_seq.get(&s.num).copied(), closed: s.end_seq.is_some() };
                (s.num, watch::Sender::new(signal))
            })
            .collect();
        LiveStream { meta, last_seq, shard_tx, layout_tx: watch::Sender::new(0) }
    }

    /// The open shard of `slot`.
    pub fn open_shard(&self, slot: u32) -> Option<&ShardMeta> {
        self.meta.shards.iter().rev().find(|s| s.slot == slot && s.end_seq.is_none())
    }

    /// Opens a new generation of shards, children of the current open ones,
    /// starting at `start_seq`.
    pub fn open_generation(&mut self, now_ms: u64, start_seq: u64) {
        for slot in 0..self.meta.slots {
            let parent = self
                .meta
                .shards
                .iter()
                .rev()
                .find(|s| s.slot == slot)
                .filter(|s| s.end_seq.is_some())
                .map(|s| s.id.clone());
            let num = self.meta.next_shard_num;
            self.meta.next_shard_num += 1;
            let shard = ShardMeta {
                num,
                id: shard_id(now_ms, self.meta.num, num),
                parent,
                slot,
                start_seq,
                end_seq: None,
                created_ms: now_ms,
                closed_ms: None,
                trimmed_through: None,
            };
            self.shard_tx.insert(num, watch::Sender::new(ShardSignal::default()));
            self.meta.shards.push(shard);
        }
        self.meta.generation_ms = now_ms;
    }

    /// Closes every open shard at `end_seq`.
    pub fn close_open(&mut self, now_ms: u64, end_seq: u64) {
        for s in self.meta.shards.iter_mut().filter(|s| s.end_seq.is_none()) {
            s.end_seq = Some(end_seq);
            s.closed_ms = Some(now_ms);
        }
    }

    /// Tells subscribers the shard layout changed and which shards closed.
    pub fn announce_layout(&self) {
        for s in &self.meta.shards {
            if let Some(tx) = self.shard_tx.get(&s.num) {
                tx.send_if_modified(|sig| {
                    let closed = s.end_seq.is_some();
                    let changed = sig.closed != closed;
                    sig.closed = closed;
                    changed
                });
            }
        }
        self.layout_tx.send_modify(|v| *v += 1);
    }
}

/// A shard id in AWS's shape: `shardId-<20 digits>-<8 hex>`.
fn shard_id(now_ms: u64, stream: u64, num: u32) -> String {
    let mix = (stream.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(num).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)) >> 32;
    format!("shardId-{now_ms:020}-{:08x}", mix as u32)
}

/// The slot an item's records go to: FNV-1a of its encoded partition key.
pub(crate) fn slot_of(schema: &KeySchema, item: &Item, slots: u32) -> u32 {
    let h = with_scratch(|bytes| {
        if let Some(v) = item.get(&schema.hash.name) {
            encode_key_component(v, bytes);
        }
        bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
    });
    (h % u64::from(slots.max(1))) as u32
}

pub(crate) fn record_key(stream: u64, shard: u32, seq: u64) -> [u8; 20] {
    let mut k = [0u8; 20];
    k[..8].copy_from_slice(&stream.to_be_bytes());
    k[8..12].copy_from_slice(&shard.to_be_bytes());
    k[12..].copy_from_slice(&seq.to_be_bytes());
    k
}

pub(crate) fn shard_prefix(stream: u64, shard: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&stream.to_be_bytes());
    k[8..].copy_from_slice(&shard.to_be_bytes());
    k
}

pub(crate) fn seq_of_key(key: &[u8]) -> Option<u64> {
    key.get(12..20).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes)
}

const RECORD_VERSION: u8 = 1;
const HAS_NEW: u8 = 1;
const HAS_OLD: u8 = 2;
const BY_TTL: u8 = 4;
/// The record's new image is the stored item that refers to it (see the
/// module doc); the record has no new image section until it is put in.
const NEW_BY_REF: u8 = 8;
/// The record ends with the change's replication stamp (a global table's).
const STAMPED: u8 = 16;
/// The change was replicated from another region.
const REPLICATED: u8 = 32;
const STAMP_LEN: usize = 8 + 4;

/// The first byte of a stored item value that refers to a record. An
/// encoded item never starts with it: its attribute count comes first, and
/// a stored item has at least its key attributes.
const REF_TAG: u8 = 0;
const REF_LEN: usize = 1 + 20;

/// The stream record whose new image a stored item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordRef {
    pub stream: u64,
    pub shard: u32,
    pub seq: u64,
}

impl RecordRef {
    pub fn key(self) -> [u8; 20] {
        record_key(self.stream, self.shard, self.seq)
    }

    /// The stored value of an item encoded as `raw` whose latest record is
    /// this one.
    pub fn stored_value(self, raw: &[u8]) -> fjall::Slice {
        let key = self.key();
        let mut parts = Concat([[REF_TAG].as_slice(), key.as_slice(), raw]);
        fjall::Slice::from_reader(&mut parts, REF_LEN + raw.len()).expect("the parts add up to the length")
    }
}

/// A stored item value split into the record it is the new image of, if
/// any, and the item's encoding.
pub(crate) fn split_stored(value: &[u8]) -> Result<(Option<RecordRef>, &[u8])> {
    if value.first() != Some(&REF_TAG) {
        return Ok((None, value));
    }
    let key = value.get(1..REF_LEN).ok_or_else(|| StoreError::Corrupt("item record reference".into()))?;
    let r = RecordRef {
        stream: u64::from_be_bytes(key[..8].try_into().expect("8 bytes")),
        shard: u32::from_be_bytes(key[8..12].try_into().expect("4 bytes")),
        seq: u64::from_be_bytes(key[12..].try_into().expect("8 bytes")),
    };
    Ok((Some(r), &value[REF_LEN..]))
}

/// The item encoding of a stored item value.
pub(crate) fn stored_item(value: &[u8]) -> Result<&[u8]> {
    Ok(split_stored(value)?.1)
}

/// Decodes a stored item value.
pub(crate) fn decode_stored(value: &[u8]) -> Result<Item> {
    Ok(decode_item(stored_item(value)?)?)
}

/// An item image with its encoding and DynamoDB size, computed once per
/// write.
#[derive(Clone, Copy)]
pub(crate) struct Image<'a> {
    pub item: &'a Item,
    pub raw: &'a [u8],
    pub size: usize,
}

impl<'a> Image<'a> {
    pub fn new(item: &'a Item, raw: &'a [u8]) -> Self {
        Image { item, raw, size: item_size(item) }
    }
}

/// The keys and images a record of `view` carries for a change from `old`
/// to `new`. With `new_by_ref` the new image (if the view has one) is left
/// to the stored item; the result says whether it was.
#[allow(clippy::too_many_arguments)] // a record's parts, each used once
pub(crate) fn encode_record(
    view: StreamViewType,
    schema: &KeySchema,
    old: Option<Image<'_>>,
    new: Option<Image<'_>>,
    created_ms: u64,
    origin: Origin,
    stamp: Option<crate::replication::Stamp>,
    new_by_ref: bool,
) -> (fjall::Slice, bool) {
    let event = match (old, new) {
        (None, _) => EventName::Insert,
        (Some(_), Some(_)) => EventName::Modify,
        (Some(_), None) => EventName::Remove,
    };
    let source = new.or(old).expect("a change has an old or a new item").item;
    let mut keys: Vec<(&str, &Value)> =
        schema.names().filter_map(|n| source.get_key_value(n)).map(|(k, v)| (k.as_str(), v)).collect();
    keys.sort_unstable_by_key(|(k, _)| *k);
    let keys_raw = encode_entries(&keys);
    let new = new.filter(|_| view.has_new_image());
    let old = old.filter(|_| view.has_old_image());
    let size = entries_size(keys.iter().copied()) + new.map_or(0, |i| i.size) + old.map_or(0, |i| i.size);
    let by_ref = new_by_ref && new.is_some();
    let new = new.filter(|_| !by_ref);
    let mut flags = 0;
    if new.is_some() {
        flags |= HAS_NEW;
    }
    if by_ref {
        flags |= NEW_BY_REF;
    }
    if old.is_some() {
        flags |= HAS_OLD;
    }
    if origin.ttl {
        flags |= BY_TTL;
    }
    let mut stamp_raw = [0u8; STAMP_LEN];
    if let Some(st) = stamp {
        flags |= STAMPED;
        stamp_raw[..8].copy_from_slice(&st.ms.to_be_bytes());
        stamp_raw[8..].copy_from_slice(&st.node.to_be_bytes());
    }
    if origin.replicated.is_some() {
        flags |= REPLICATED;
    }
    let mut header = [0u8; HEADER_LEN];
    header[0] = RECORD_VERSION;
    header[1] = event as u8;
    header[2] = flags;
    header[3..11].copy_from_slice(&created_ms.to_be_bytes());
    header[11..15].copy_from_slice(&(size as u32).to_be_bytes());
    header[15..19].copy_from_slice(&origin.depth.to_be_bytes());
    let [keys, new, old] = [Some(keys_raw.as_slice()), new.map(|i| i.raw), old.map(|i| i.raw)];
    let lens = [keys, new, old].map(|p| p.map_or(0, |p| p.len() as u32).to_be_bytes());
    let mut parts = Concat(
        [
            Some(header.as_slice()),
            keys.map(|_| lens[0].as_slice()),
            keys,
            new.map(|_| lens[1].as_slice()),
            new,
            old.map(|_| lens[2].as_slice()),
            old,
            stamp.map(|_| stamp_raw.as_slice()),
        ]
        .map(Option::unwrap_or_default),
    );
    let len = parts.0.iter().map(|p| p.len()).sum();
    // The record is copied once, straight into the value the store keeps.
    (fjall::Slice::from_reader(&mut parts, len).expect("a record's parts add up to its length"), by_ref)
}

/// Whether an encoded record's new image is still the stored item's.
pub(crate) fn record_new_by_ref(buf: &[u8]) -> bool {
    buf.get(2).is_some_and(|f| f & NEW_BY_REF != 0)
}

/// A record marked [`NEW_BY_REF`] with `image` (an item encoding) put in
/// as its new image.
pub(crate) fn materialize_record(buf: &[u8], image: &[u8]) -> Result<fjall::Slice> {
    let corrupt = || StoreError::Corrupt("stream record".into());
    let keys_len = buf.get(HEADER_LEN..HEADER_LEN + 4).ok_or_else(corrupt)?;
    let keys_end = HEADER_LEN + 4 + u32::from_be_bytes(keys_len.try_into().map_err(|_| corrupt())?) as usize;
    if !record_new_by_ref(buf) || keys_end > buf.len() {
        return Err(corrupt());
    }
    let mut header = [0u8; HEADER_LEN];
    header.copy_from_slice(&buf[..HEADER_LEN]);
    header[2] = (header[2] & !NEW_BY_REF) | HAS_NEW;
    let image_len = (image.len() as u32).to_be_bytes();
    let mut parts = Concat([&header[..], &buf[HEADER_LEN..keys_end], &image_len[..], image, &buf[keys_end..]]);
    let len = parts.0.iter().map(|p| p.len()).sum();
    Ok(fjall::Slice::from_reader(&mut parts, len).expect("a record's parts add up to its length"))
}

/// Byte slices read one after another.
struct Concat<'a, const N: usize>([&'a [u8]; N]);

impl<const N: usize> std::io::Read for Concat<'_, N> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(part) = self.0.iter_mut().find(|p| !p.is_empty()) else { return Ok(0) };
        let n = part.len().min(buf.len());
        buf[..n].copy_from_slice(&part[..n]);
        *part = &part[n..];
        Ok(n)
    }
}

const HEADER_LEN: usize = 3 + 8 + 4 + 4;

/// The commit time of an encoded record, read without decoding it.
pub(crate) fn record_created_ms(buf: &[u8]) -> Option<u64> {
    buf.get(3..11).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes)
}

pub(crate) fn decode_record(stream: u64, seq: u64, buf: &[u8]) -> Result<StreamRecord> {
    let corrupt = || StoreError::Corrupt(format!("stream record {seq}"));
    if buf.len() < HEADER_LEN || buf[0] != RECORD_VERSION {
        return Err(corrupt());
    }
    let event = match buf[1] {
        0 => EventName::Insert,
        1 => EventName::Modify,
        2 => EventName::Remove,
        _ => return Err(corrupt()),
    };
    let flags = buf[2];
    let created_ms = u64::from_be_bytes(buf[3..11].try_into().map_err(|_| corrupt())?);
    let size_bytes = u64::from(u32::from_be_bytes(buf[11..15].try_into().map_err(|_| corrupt())?));
    let depth = u32::from_be_bytes(buf[15..19].try_into().map_err(|_| corrupt())?);
    let mut rest = &buf[HEADER_LEN..];
    let mut next = || -> Result<Item> {
        let len = rest.get(..4).ok_or_else(corrupt)?;
        let len = u32::from_be_bytes(len.try_into().map_err(|_| corrupt())?) as usize;
        let body = rest.get(4..4 + len).ok_or_else(corrupt)?;
        rest = &rest[4 + len..];
        Ok(decode_item(body)?)
    };
    let keys = next()?;
    let new_image = if flags & HAS_NEW != 0 { Some(next()?) } else { None };
    let old_image = if flags & HAS_OLD != 0 { Some(next()?) } else { None };
    let stamp = if flags & STAMPED != 0 {
        let raw = rest.get(..STAMP_LEN).ok_or_else(corrupt)?;
        Some(crate::replication::Stamp {
            ms: u64::from_be_bytes(raw[..8].try_into().map_err(|_| corrupt())?),
            node: u32::from_be_bytes(raw[8..].try_into().map_err(|_| corrupt())?),
        })
    } else {
        None
    };
    Ok(StreamRecord {
        seq,
        event,
        created_ms,
        size_bytes,
        keys,
        new_image,
        old_image,
        origin: Origin { ttl: flags & BY_TTL != 0, depth, replicated: stamp.filter(|_| flags & REPLICATED != 0) },
        event_id: format!("{:08x}{seq:024x}", (stream as u32).wrapping_mul(0x9E37_79B9)),
        stamp,
    })
}

/// A page of records read from one shard.
#[derive(Debug, Clone, Default)]
pub struct RecordPage {
    pub records: Vec<StreamRecord>,
    /// Where the next read starts (the sequence number after the last record
    /// returned), or `None` once a closed shard has been read to its end.
    pub next: Option<u64>,
}

/// Where a shard iterator starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    TrimHorizon,
    Latest,
    AtSequence(u64),
    AfterSequence(u64),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{KeyAttr, KeySchema};
    use crate::value::encode_item;
    use crate::value::{AttrType, Value};

    fn schema() -> KeySchema {
        KeySchema::simple(KeyAttr { name: "pk".into(), ty: AttrType::S }, None)
    }

    fn item(pk: &str, v: &str) -> Item {
        [("pk".to_string(), Value::S(pk.into())), ("v".to_string(), Value::S(v.into()))].into_iter().collect()
    }

    #[test]
    fn records_round_trip_per_view_type() {
        let old = item("a", "1");
        let new = item("a", "2");
        for view in [
            StreamViewType::KeysOnly,
            StreamViewType::NewImage,
            StreamViewType::OldImage,
            StreamViewType::NewAndOldImages,
        ] {
            let (old_raw, new_raw) = (encode_item(&old), encode_item(&new));
            // A replicated change's stamp travels at the record's end, past
            // the new image put in later.
            let stamp = crate::replication::Stamp { ms: 77, node: 9 };
            let origin = Origin { ttl: true, depth: 3, replicated: Some(stamp) };
            let encode = |by_ref| {
                encode_record(
                    view,
                    &schema(),
                    Some(Image::new(&old, &old_raw)),
                    Some(Image::new(&new, &new_raw)),
                    5,
                    origin,
                    Some(stamp),
                    by_ref,
                )
            };
            let (buf, by_ref) = encode(false);
            assert!(!by_ref && !record_new_by_ref(&buf));
            // By reference: no new image until it is put in, and then the
            // same record.
            let (pending, by_ref) = encode(true);
            let with_new = view.has_new_image();
            assert_eq!(by_ref, with_new);
            assert_eq!(record_new_by_ref(&pending), with_new);
            if with_new {
                assert_eq!(decode_record(1, 9, &pending).unwrap().new_image, None);
                assert_eq!(materialize_record(&pending, &new_raw).unwrap(), buf);
            } else {
                assert_eq!(pending, buf);
                assert!(materialize_record(&pending, &new_raw).is_err());
            }
            let r = decode_record(1, 9, &buf).unwrap();
            assert_eq!(r.event, EventName::Modify);
            assert_eq!(r.keys, [("pk".to_string(), Value::S("a".into()))].into_iter().collect());
            let with_old = view.has_old_image();
            assert_eq!(r.new_image.is_some(), with_new);
            assert_eq!(r.old_image.is_some(), with_old);
            assert_eq!(r.origin, origin);
            assert_eq!(r.stamp, Some(stamp));
            assert_eq!(r.created_ms, 5);
            assert_eq!(record_created_ms(&buf), Some(5));
        }
    }

    #[test]
    fn records_render_as_aws_shows_them() {
        let old = item("a", "1");
        let old_raw = encode_item(&old);
        let (buf, _) = encode_record(
            StreamViewType::NewAndOldImages,
            &schema(),
            Some(Image::new(&old, &old_raw)),
            None,
            1_700_000_000_999,
            Origin { ttl: true, ..Origin::default() },
            None,
            true,
        );
        let r = decode_record(2, 7, &buf).unwrap();
        let api = r.to_json(StreamViewType::NewAndOldImages, "eu-west-1", false, false);
        assert_eq!(
            api,
            serde_json::json!({
                "eventID": r.event_id,
                "eventName": "REMOVE",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "eu-west-1",
                "dynamodb": {
                    "ApproximateCreationDateTime": 1_700_000_000u64,
                    "Keys": {"pk": {"S": "a"}},
                    "OldImage": {"pk": {"S": "a"}, "v": {"S": "1"}},
                    "SequenceNumber": "000000000000000000007",
                    "SizeBytes": 8,
                    "StreamViewType": "NEW_AND_OLD_IMAGES"
                },
                "userIdentity": {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}
            })
        );
        // A TTL delete keeps its `userIdentity` whether replicated writes
        // are marked or not.
        assert_eq!(r.to_json(StreamViewType::NewAndOldImages, "eu-west-1", false, true), api);
        let mut out = Vec::new();
        r.write_json(&mut out, StreamViewType::NewAndOldImages, "eu-west-1", true, Some("arn:x"), false);
        let lambda: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            lambda["userIdentity"],
            serde_json::json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"})
        );
        assert_eq!(lambda["eventSourceARN"], "arn:x");
    }

    #[test]
    fn replicated_writes_are_marked_only_when_asked() {
        let new = item("a", "2");
        let new_raw = encode_item(&new);
        let stamp = crate::replication::Stamp { ms: 77, node: 9 };
        let (buf, _) = encode_record(
            StreamViewType::NewImage,
            &schema(),
            None,
            Some(Image::new(&new, &new_raw)),
            5,
            Origin { replicated: Some(stamp), ..Origin::default() },
            Some(stamp),
            false,
        );
        let r = decode_record(2, 7, &buf).unwrap();
        // As on AWS: no `userIdentity`.
        for lambda in [false, true] {
            let json = r.to_json(StreamViewType::NewImage, "eu-west-1", lambda, false);
            assert_eq!(json.get("userIdentity"), None, "{json}");
        }
        // Marked: the replication service's principal, in each form's case.
        assert_eq!(
            r.to_json(StreamViewType::NewImage, "eu-west-1", false, true)["userIdentity"],
            serde_json::json!({"Type": "Service", "PrincipalId": "replication.dynamodb.amazonaws.com"})
        );
        assert_eq!(
            r.to_json(StreamViewType::NewImage, "eu-west-1", true, true)["userIdentity"],
            serde_json::json!({"type": "Service", "principalId": "replication.dynamodb.amazonaws.com"})
        );
    }

    #[test]
    fn garbage_records_are_errors() {
        for bad in [
            &b""[..],
            b"\x01",
            b"\x02\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
            b"\x01\x09\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
        ] {
            assert!(decode_record(1, 1, bad).is_err());
        }
    }

    #[test]
    fn stored_items_split_into_their_record_and_encoding() {
        let raw = encode_item(&item("a", "1"));
        assert_eq!(split_stored(&raw).unwrap(), (None, raw.as_slice()));
        let r = RecordRef { stream: 3, shard: 2, seq: 99 };
        let stored = r.stored_value(&raw);
        assert_eq!(split_stored(&stored).unwrap(), (Some(r), raw.as_slice()));
        assert_eq!(decode_stored(&stored).unwrap(), item("a", "1"));
        assert!(split_stored(&stored[..10]).is_err());
    }

    #[test]
    fn sequence_numbers_format_and_parse() {
        assert_eq!(format_seq(42), "000000000000000000042");
        assert_eq!(parse_seq("000000000000000000042"), Some(42));
        assert_eq!(parse_seq("0"), Some(0));
        assert_eq!(parse_seq("x1"), None);
        assert_eq!(parse_seq(""), None);
        assert_eq!(parse_seq("99999999999999999999999"), None);
    }

    #[test]
    fn slots_are_stable_and_spread() {
        let s = schema();
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..64 {
            let it = item(&format!("k{i}"), "v");
            assert_eq!(slot_of(&s, &it, 4), slot_of(&s, &it, 4));
            seen.insert(slot_of(&s, &it, 4));
        }
        assert_eq!(seen.len(), 4);
    }
}
