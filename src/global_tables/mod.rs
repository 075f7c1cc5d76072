//! Global tables (version 2019.11.21): each server is one region, and a
//! table with replicas is kept in every replica's region, every one of
//! them taking writes.
//!
//! - `api.rs`: UpdateTable's `ReplicaUpdates` (`Create`, `Delete`), the
//!   jobs that make and remove a replica in a peer region and fill a new
//!   one, and the peer endpoints under `/tidepool/replication/`.
//! - `replicator.rs`: one task per table and peer region, shipping the
//!   table's local changes from its stream to the peer, with a durable
//!   checkpoint per shard.
//! - `client.rs`: the kept-alive connection to a peer.
//! - `filling.rs`: a new replica's table, `CREATING` in its own region
//!   until its source region has filled it.
//! - `legacy.rs`: the version 2017.11.29 operations.
//! - `encryption.rs`: the replicas' keys: the kind the group's, the key
//!   each region's.
//!
//! The conflict rule lives in the store (`tidepool_store::replication`):
//! every write carries a stamp (time, region), and a replicated change is
//! applied only over an older stamp. Conditions and transactions are
//! checked in the region that takes the write only; other regions apply its
//! outcome.

pub mod api;
pub mod client;
pub mod encryption;
pub mod filling;
pub mod legacy;
pub mod replicator;
pub mod strong;
pub mod witness;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use client::PeerClient;

/// Most peer regions one server knows: each adds a replicator task per
/// global table.
pub const MAX_PEERS: usize = 16;

/// Global tables' state in one server.
#[derive(Default)]
pub struct GlobalTables {
    /// Peer regions' endpoints (`--peers region=http://host:port,...`).
    peers: RwLock<BTreeMap<String, Arc<PeerClient>>>,
    /// Replication lag samples by source region (`api.rs`).
    pub(crate) latency: Mutex<HashMap<String, LatencyWindow>>,
    /// Replicators that have read their stream to its end: (table id,
    /// region) → the value of `passes` then.
    pub(crate) idle: Mutex<HashMap<(u64, String), u64>>,
    /// Passes over their streams of all replicators, ever growing: a
    /// replicator idle at a value past a moment's has read everything
    /// committed before that moment.
    pub(crate) passes: std::sync::atomic::AtomicU64,
    /// The server's runtime, on which synchronous operations (the version
    /// 2017.11.29 ones) run their requests to peers.
    pub runtime: std::sync::OnceLock<tokio::runtime::Handle>,
    /// The key requests to peers are signed with (`--auth` on).
    credential: RwLock<Option<crate::http::sigv4::Credential>>,
    /// When each peer last answered.
    heard: Mutex<HashMap<String, std::time::Instant>>,
    /// What each replicator has delivered: (table id, region) → shard →
    /// the next sequence number to send (`u64::MAX` once read to its end).
    delivered: Mutex<HashMap<(u64, String), HashMap<String, u64>>>,
    /// Items of strongly consistent tables being written, here or by
    /// another region (`strong.rs`): (table name, item key) → who.
    intents: Mutex<HashMap<(String, Vec<u8>), Intent>>,
    /// This server keeps a witness copy of some table (`witness.rs`): the
    /// DynamoDB API then checks the tables a request names.
    pub(crate) hosts_witness: std::sync::atomic::AtomicBool,
    /// Replica tables being filled here by their source region
    /// (`filling.rs`): name → table id, read from the system entries at
    /// first use.
    filling: Mutex<Option<HashMap<String, u64>>>,
    /// Whether there are any (`filling.rs`: 0 not read yet, 1 none, 2
    /// some), read by every request before the names it has.
    filling_any: std::sync::atomic::AtomicU8,
}

/// Most items claimed at once (`strong.rs`): a write claims at most 25
/// (BatchWriteItem's limit) for a few seconds, so this is thousands of
/// concurrent writes; past it a write is refused as throttled.
pub const MAX_INTENTS: usize = 100_000;

/// A region's claims on an item of a strongly consistent table while its
/// writes are made and replicated.
struct Intent {
    region: String,
    /// Each write's claim (a token it chose) and when it lapses. One
    /// region's writes to an item are serialised by its store, so they do
    /// not conflict with each other.
    claims: HashMap<u64, std::time::Instant>,
}

impl Intent {
    fn live(&self, now: std::time::Instant) -> bool {
        self.claims.values().any(|&t| t > now)
    }
}

/// Why a claim was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ClaimRefused {
    /// Another region holds one of the items.
    Conflict,
    /// [`MAX_INTENTS`] are held.
    Full,
}

impl GlobalTables {
    /// Signs requests to peers with `credential` from now on (set before
    /// the peers).
    pub fn set_credential(&self, credential: Option<crate::http::sigv4::Credential>) {
        *self.credential.write().unwrap_or_else(|p| p.into_inner()) = credential;
    }

    fn client(&self, region: &str, url: &str) -> anyhow::Result<Arc<PeerClient>> {
        let authority = client::authority(url)?;
        Ok(Arc::new(match self.credential.read().unwrap_or_else(|p| p.into_inner()).clone() {
            Some(c) => PeerClient::signed(authority, region, c),
            None => PeerClient::new(authority),
        }))
    }

    /// Sets the peer regions, replacing any known before.
    pub fn set_peers(&self, peers: &BTreeMap<String, String>) -> anyhow::Result<()> {
        if peers.len() > MAX_PEERS {
            anyhow::bail!("at most {MAX_PEERS} peer regions");
        }
        let mut map = BTreeMap::new();
        for (region, url) in peers {
            map.insert(region.clone(), self.client(region, url)?);
        }
        *self.peers.write().unwrap_or_else(|p| p.into_inner()) = map;
        Ok(())
    }

    /// Adds or replaces one peer region.
    pub fn set_peer(&self, region: &str, url: &str) -> anyhow::Result<()> {
        let client = self.client(region, url)?;
        let mut peers = self.peers.write().unwrap_or_else(|p| p.into_inner());
        if !peers.contains_key(region) && peers.len() >= MAX_PEERS {
            anyhow::bail!("at most {MAX_PEERS} peer regions");
        }
        peers.insert(region.to_string(), client);
        Ok(())
    }

    /// A peer answered just now.
    pub(crate) fn heard(&self, region: &str) {
        self.heard.lock().unwrap_or_else(|p| p.into_inner()).insert(region.to_string(), std::time::Instant::now());
    }

    pub(crate) fn heard_within(&self, region: &str, within: std::time::Duration) -> bool {
        self.heard.lock().unwrap_or_else(|p| p.into_inner()).get(region).is_some_and(|t| t.elapsed() <= within)
    }

    /// A replicator of `table` has delivered `shard` to `region` up to
    /// `next` (exclusive).
    pub(crate) fn record_delivered(&self, table: u64, region: &str, shard: &str, next: u64) {
        let mut d = self.delivered.lock().unwrap_or_else(|p| p.into_inner());
        let e = d.entry((table, region.to_string())).or_default().entry(shard.to_string()).or_insert(0);
        *e = (*e).max(next);
    }

    /// Whether `region` has every record up to `heads` (shard → last
    /// sequence number) of `table`'s stream.
    pub(crate) fn delivered(&self, table: u64, region: &str, heads: &HashMap<String, u64>) -> bool {
        let d = self.delivered.lock().unwrap_or_else(|p| p.into_inner());
        let Some(shards) = d.get(&(table, region.to_string())) else { return heads.is_empty() };
        heads.iter().all(|(shard, last)| shards.get(shard).is_some_and(|next| next > last))
    }

    /// Claims `keys` of `table` for `region`'s write `token` until `ttl`
    /// from now, all or none: refused if another region holds any of them
    /// (a lapsed claim holds nothing). Claiming again with the same token
    /// extends it.
    pub(crate) fn claim(
        &self,
        table: &str,
        keys: &[Vec<u8>],
        region: &str,
        token: u64,
        ttl: std::time::Duration,
    ) -> Result<(), ClaimRefused> {
        let now = std::time::Instant::now();
        let mut intents = self.intents.lock().unwrap_or_else(|p| p.into_inner());
        let busy = |k: &Vec<u8>| {
            intents.get(&(table.to_string(), k.clone())).is_some_and(|i| i.region != region && i.live(now))
        };
        if keys.iter().any(busy) {
            return Err(ClaimRefused::Conflict);
        }
        if intents.len() + keys.len() > MAX_INTENTS {
            intents.retain(|_, i| i.live(now));
            if intents.len() + keys.len() > MAX_INTENTS {
                return Err(ClaimRefused::Full);
            }
        }
        for k in keys {
            let slot = intents
                .entry((table.to_string(), k.clone()))
                .or_insert_with(|| Intent { region: region.to_string(), claims: HashMap::new() });
            if slot.region != region {
                // Another region's claims, all lapsed.
                *slot = Intent { region: region.to_string(), claims: HashMap::new() };
            }
            slot.claims.retain(|_, t| *t > now);
            slot.claims.insert(token, now + ttl);
        }
        Ok(())
    }

    /// Releases `region`'s write `token`'s claim on each of `keys` of
    /// `table` (a claim already released or lapsed is no matter).
    pub(crate) fn release(&self, table: &str, keys: &[Vec<u8>], region: &str, token: u64) {
        let now = std::time::Instant::now();
        let mut intents = self.intents.lock().unwrap_or_else(|p| p.into_inner());
        for k in keys {
            let id = (table.to_string(), k.clone());
            if let Some(i) = intents.get_mut(&id).filter(|i| i.region == region) {
                i.claims.remove(&token);
                if !i.live(now) {
                    intents.remove(&id);
                }
            }
        }
    }

    pub fn peer(&self, region: &str) -> Option<Arc<PeerClient>> {
        self.peers.read().unwrap_or_else(|p| p.into_inner()).get(region).cloned()
    }

    /// Whether any peer region is known (most servers have none).
    pub fn has_peers(&self) -> bool {
        !self.peers.read().unwrap_or_else(|p| p.into_inner()).is_empty()
    }

    pub fn peer_regions(&self) -> Vec<String> {
        self.peers.read().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect()
    }

    /// Records how long a replicated change took from its write to its
    /// apply here.
    pub(crate) fn record_latency(&self, from_node: u32, regions: &[String], ms: u64) {
        let Some(region) = regions.iter().find(|r| tidepool_store::replication::region_node(r) == from_node) else {
            return;
        };
        let mut l = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        l.entry(region.clone()).or_default().push(ms);
    }

    /// `(source region, p50 ms, p99 ms, samples)` over the latest window.
    pub fn latency(&self) -> Vec<(String, u64, u64, usize)> {
        let l = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        l.iter()
            .map(|(r, w)| {
                let (p50, p99) = w.percentiles();
                (r.clone(), p50, p99, w.samples.len())
            })
            .collect()
    }
}

/// Samples kept per source region for replication latency percentiles.
const LATENCY_SAMPLES: usize = 4096;

/// The latest [`LATENCY_SAMPLES`] replication latencies from one region.
#[derive(Default)]
pub(crate) struct LatencyWindow {
    samples: Vec<u64>,
    next: usize,
}

impl LatencyWindow {
    fn push(&mut self, ms: u64) {
        if self.samples.len() < LATENCY_SAMPLES {
            self.samples.push(ms);
        } else {
            self.samples[self.next] = ms;
        }
        self.next = (self.next + 1) % LATENCY_SAMPLES;
    }

    fn percentiles(&self) -> (u64, u64) {
        if self.samples.is_empty() {
            return (0, 0);
        }
        let mut s = self.samples.clone();
        s.sort_unstable();
        let at = |q: f64| s[((s.len() as f64 * q) as usize).min(s.len() - 1)];
        (at(0.5), at(0.99))
    }
}
