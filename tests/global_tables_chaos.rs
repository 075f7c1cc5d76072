//! Global tables under faults: three regions, each a `tidepool serve`
//! child process, peers of each other through proxies this test controls.
//! Every region takes conflicting writes to the same keys while one region
//! is killed with SIGKILL and restarted and another is cut off from its
//! peers for a while. At the end every replica holds the same items, and no
//! acknowledged write is lost: each region's own keys end at its last
//! acknowledged value (or one it wrote after, unacknowledged, as the kill
//! interrupted it), and each shared key ends at a value some region wrote.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CreateReplicationGroupMemberAction, KeySchemaElement, KeyType,
    ReplicaStatus, ReplicationGroupUpdate, ScalarAttributeType,
};
use tokio::net::{TcpListener, TcpStream};

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-south-1"];

/// A TCP proxy from one region to another's server: the test points it at
/// the region's current endpoint and can cut it (a partition).
struct Link {
    port: u16,
    target: Arc<Mutex<String>>,
    cut: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Link {
    async fn new() -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a proxy");
        let port = listener.local_addr().unwrap().port();
        let target = Arc::new(Mutex::new(String::new()));
        let cut = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (t, c, cs) = (target.clone(), cut.clone(), conns.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { return };
                if c.load(Ordering::SeqCst) {
                    continue;
                }
                let to = t.lock().unwrap().clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut out) = TcpStream::connect(&to).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                cs.lock().unwrap().push(task);
            }
        });
        Link { port, target, cut, conns }
    }

    fn point_at(&self, endpoint: &str) {
        *self.target.lock().unwrap() = endpoint.trim_start_matches("http://").to_string();
    }

    fn set_cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
        if cut {
            for c in self.conns.lock().unwrap().drain(..) {
                c.abort();
            }
        }
    }
}

struct Region {
    name: &'static str,
    dir: tempfile::TempDir,
    child: Option<Child>,
    endpoint: String,
}

/// (region, key) → (last acknowledged value, last attempted value).
type Acked = HashMap<(usize, String), (u64, u64)>;

/// `links[(from, to)]`: the proxy `from` reaches `to` through.
type Links = BTreeMap<(usize, usize), Link>;

fn spawn(region: &mut Region, me: usize, links: &Links) {
    let peers: Vec<String> = (0..REGIONS.len())
        .filter(|&o| o != me)
        .map(|o| format!("{}=http://127.0.0.1:{}", REGIONS[o], links[&(me, o)].port))
        .collect();
    let args: Vec<String> = vec![
        "--data-dir".into(),
        region.dir.path().display().to_string(),
        "--region".into(),
        region.name.into(),
        "--peers".into(),
        peers.join(","),
    ];
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    let (child, endpoint) = common::spawn_server(&args);
    for ((_, to), link) in links.iter() {
        if *to == me {
            link.point_at(&endpoint);
        }
    }
    region.child = Some(child);
    region.endpoint = endpoint;
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

async fn scan_all(c: &Client) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut start = None;
    loop {
        let page =
            c.scan().table_name("Chaos").consistent_read(true).set_exclusive_start_key(start).send().await.ok()?;
        for i in page.items() {
            let pk = i.get("pk")?.as_s().ok()?.clone();
            let v = i.get("v")?.as_n().ok()?.clone();
            out.insert(pk, v);
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            return Some(out);
        }
    }
}

async fn replica_active(c: &Client, region: &str) -> bool {
    let Ok(t) = c.describe_table().table_name("Chaos").send().await else { return false };
    t.table.is_some_and(|t| {
        t.replicas()
            .iter()
            .any(|r| r.region_name() == Some(region) && r.replica_status() == Some(&ReplicaStatus::Active))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_regions_converge_through_kills_and_partitions() {
    let mut links = Links::new();
    for from in 0..3 {
        for to in 0..3 {
            if from != to {
                links.insert((from, to), Link::new().await);
            }
        }
    }
    let mut regions: Vec<Region> = REGIONS
        .iter()
        .map(|name| Region { name, dir: tempfile::tempdir().unwrap(), child: None, endpoint: String::new() })
        .collect();
    for (i, r) in regions.iter_mut().enumerate() {
        spawn(r, i, &links);
    }
    let us = common::client(&regions[0].endpoint);
    us.create_table()
        .table_name("Chaos")
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build().unwrap(),
        )
        .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create");
    for other in &REGIONS[1..] {
        let add = ReplicationGroupUpdate::builder()
            .create(CreateReplicationGroupMemberAction::builder().region_name(*other).build().unwrap())
            .build();
        us.update_table().table_name("Chaos").replica_updates(add).send().await.expect("add a replica");
        let start = Instant::now();
        while !replica_active(&us, other).await {
            assert!(start.elapsed() < Duration::from_secs(30), "replica {other} never ACTIVE");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // Writers: each region writes its own keys with increasing values and
    // the shared hot keys, and records what was acknowledged.
    let endpoints: Vec<Arc<Mutex<String>>> = regions.iter().map(|r| Arc::new(Mutex::new(r.endpoint.clone()))).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Acked>> = Arc::default();
    let hot_written: Arc<Mutex<HashMap<String, Vec<u64>>>> = Arc::default();
    let acked_count: Arc<[std::sync::atomic::AtomicU64; 3]> = Arc::default();
    let mut writers = Vec::new();
    for (i, ep) in endpoints.iter().enumerate() {
        let (ep, stop, acked, hot_written) = (ep.clone(), stop.clone(), acked.clone(), hot_written.clone());
        let acked_count = acked_count.clone();
        writers.push(tokio::spawn(async move {
            let mut seq = 0u64;
            while !stop.load(Ordering::SeqCst) {
                seq += 1;
                let c = common::client_without_retries(&ep.lock().unwrap().clone());
                let own = format!("own-{i}-{}", seq % 10);
                let hot = format!("hot-{}", seq % 5);
                // Values are unique per region: seq * 10 + region.
                let value = seq * 10 + i as u64;
                acked.lock().unwrap().entry((i, own.clone())).or_default().1 = value;
                let put = c.put_item().table_name("Chaos").item("pk", s(&own)).item("v", n(value)).send();
                if tokio::time::timeout(Duration::from_secs(2), put).await.is_ok_and(|r| r.is_ok()) {
                    acked.lock().unwrap().entry((i, own)).or_default().0 = value;
                    acked_count[i].fetch_add(1, Ordering::SeqCst);
                }
                hot_written.lock().unwrap().entry(hot.clone()).or_default().push(value);
                let put = c.put_item().table_name("Chaos").item("pk", s(&hot)).item("v", n(value)).send();
                let _ = tokio::time::timeout(Duration::from_secs(2), put).await;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }));
    }

    // Waits until `region` has acknowledged `n` more writes (on a slow
    // machine a fixed time may see none).
    let progress = |region: usize, n: u64| {
        let acked_count = acked_count.clone();
        async move {
            let target = acked_count[region].load(Ordering::SeqCst) + n;
            let start = Instant::now();
            while acked_count[region].load(Ordering::SeqCst) < target {
                assert!(start.elapsed() < Duration::from_secs(30), "{} took no writes", REGIONS[region]);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    for r in 0..3 {
        progress(r, 20).await;
    }
    // SIGKILL ap-south-1 in the middle of its writes, and restart it.
    regions[2].child.as_mut().unwrap().kill().expect("SIGKILL");
    regions[2].child.as_mut().unwrap().wait().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    spawn(&mut regions[2], 2, &links);
    *endpoints[2].lock().unwrap() = regions[2].endpoint.clone();
    progress(2, 20).await;
    // Cut eu-west-1 off from its peers (both ways) for a while.
    for ((from, to), link) in &links {
        if *from == 1 || *to == 1 {
            link.set_cut(true);
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    progress(1, 10).await;
    for link in links.values() {
        link.set_cut(false);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // And kill us-east-1, the table's first region, once more.
    regions[0].child.as_mut().unwrap().kill().expect("SIGKILL");
    regions[0].child.as_mut().unwrap().wait().unwrap();
    spawn(&mut regions[0], 0, &links);
    *endpoints[0].lock().unwrap() = regions[0].endpoint.clone();
    progress(0, 20).await;
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }

    // Every replica converges to the same items.
    let clients: Vec<Client> = regions.iter().map(|r| common::client(&r.endpoint)).collect();
    let start = Instant::now();
    let final_items = loop {
        let mut scans = Vec::new();
        for c in &clients {
            scans.push(scan_all(c).await);
        }
        if scans.iter().all(|x| x.is_some()) && scans.windows(2).all(|w| w[0] == w[1]) {
            break scans.pop().flatten().unwrap();
        }
        assert!(start.elapsed() < Duration::from_secs(60), "replicas never converged: {scans:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // Each region took writes throughout (the test measures something).
    for (i, c) in acked_count.iter().enumerate() {
        assert!(c.load(Ordering::SeqCst) >= 40, "{} acknowledged only {c:?} writes", REGIONS[i]);
    }
    // No acknowledged write is lost.
    for ((i, key), (last_acked, last_tried)) in acked.lock().unwrap().iter() {
        if *last_acked == 0 {
            continue;
        }
        let got: u64 = final_items.get(key).unwrap_or_else(|| panic!("{key} (region {i}) lost")).parse().unwrap();
        assert!(
            got >= *last_acked && got <= *last_tried && got % 10 == *i as u64,
            "{key}: holds {got}, last acknowledged {last_acked}, last tried {last_tried}"
        );
    }
    for (key, values) in hot_written.lock().unwrap().iter() {
        if let Some(v) = final_items.get(key) {
            assert!(values.contains(&v.parse().unwrap()), "{key} holds {v}, which no region wrote");
        }
    }
    for r in &mut regions {
        if let Some(c) = r.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
