//! Change streams end to end: every write path records exactly one record
//! per real change, read back through the DynamoDB Streams API with the
//! official SDK; shards, lineage, iterators, retention and TTL.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValue, StreamSpecification, StreamViewType, TimeToLiveSpecification, TransactWriteItem,
    WriteRequest,
};
use aws_sdk_dynamodbstreams::types::{OperationType, Record, ShardFilter, ShardFilterType, ShardIteratorType};
use common::{code, create_table, harness, n, s, start_with, streams_client};
use tidepool::ServerConfig;
use tidepool_store::StreamConfig;

type Streams = aws_sdk_dynamodbstreams::Client;
type StreamValue = aws_sdk_dynamodbstreams::types::AttributeValue;

/// A server with `config` in a fresh directory, with both clients.
async fn serve(config: ServerConfig) -> (tempfile::TempDir, tidepool::Server, aws_sdk_dynamodb::Client, Streams) {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), config).await;
    let c = common::client(&server.endpoint());
    let sc = streams_client(&server.endpoint());
    (dir, server, c, sc)
}

async fn enable(c: &aws_sdk_dynamodb::Client, table: &str, view: StreamViewType) -> String {
    let spec = StreamSpecification::builder().stream_enabled(true).stream_view_type(view).build().unwrap();
    let t = c.update_table().table_name(table).stream_specification(spec).send().await.unwrap();
    t.table_description.unwrap().latest_stream_arn.expect("stream ARN after enabling")
}

/// Every shard of the stream, following DescribeStream's pagination.
async fn shards(sc: &Streams, arn: &str) -> Vec<aws_sdk_dynamodbstreams::types::Shard> {
    let mut out = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let d = sc
            .describe_stream()
            .stream_arn(arn)
            .limit(2)
            .set_exclusive_start_shard_id(start.clone())
            .send()
            .await
            .unwrap()
            .stream_description
            .unwrap();
        out.extend(d.shards().iter().cloned());
        match d.last_evaluated_shard_id {
            Some(id) => start = Some(id),
            None => return out,
        }
    }
}

type IteratorResult = Result<
    aws_sdk_dynamodbstreams::operation::get_shard_iterator::GetShardIteratorOutput,
    aws_sdk_dynamodbstreams::error::SdkError<
        aws_sdk_dynamodbstreams::operation::get_shard_iterator::GetShardIteratorError,
    >,
>;

async fn iterator(sc: &Streams, arn: &str, shard: &str, kind: ShardIteratorType, seq: Option<&str>) -> IteratorResult {
    sc.get_shard_iterator()
        .stream_arn(arn)
        .shard_id(shard)
        .shard_iterator_type(kind)
        .set_sequence_number(seq.map(str::to_string))
        .send()
        .await
}

/// Reads one shard from `kind` until it is drained (closed) or caught up (open).
async fn read_shard(sc: &Streams, arn: &str, shard: &str, kind: ShardIteratorType, seq: Option<&str>) -> Vec<Record> {
    let mut it = iterator(sc, arn, shard, kind, seq).await.unwrap().shard_iterator;
    let mut out = Vec::new();
    while let Some(token) = it {
        let page = sc.get_records().shard_iterator(token).limit(3).send().await.unwrap();
        let empty = page.records().is_empty();
        out.extend(page.records().iter().cloned());
        it = page.next_shard_iterator;
        if empty && it.is_some() {
            break; // an open shard, caught up
        }
    }
    out
}

/// Every record of the stream, shard by shard, parents first.
async fn read_all(sc: &Streams, arn: &str) -> Vec<(String, Record)> {
    let mut out = Vec::new();
    for sh in shards(sc, arn).await {
        let id = sh.shard_id.unwrap();
        for r in read_shard(sc, arn, &id, ShardIteratorType::TrimHorizon, None).await {
            out.push((id.clone(), r));
        }
    }
    out
}

fn pk(r: &Record) -> String {
    match &r.dynamodb.as_ref().unwrap().keys.as_ref().unwrap()["pk"] {
        StreamValue::S(v) => v.clone(),
        other => panic!("pk {other:?}"),
    }
}

fn event(r: &Record) -> OperationType {
    r.event_name.clone().unwrap()
}

fn image_v(img: Option<&std::collections::HashMap<String, StreamValue>>) -> Option<String> {
    img.and_then(|m| m.get("v")).map(|v| match v {
        StreamValue::N(n) => n.clone(),
        StreamValue::S(s) => s.clone(),
        other => format!("{other:?}"),
    })
}

#[tokio::test]
async fn every_write_path_records_each_real_change_once() {
    let h = harness().await;
    let c = &h.client;
    let sc = streams_client(&h.server.endpoint());
    create_table(c, "events", None).await;
    let arn = enable(c, "events", StreamViewType::NewAndOldImages).await;

    // Put, an identical put (no change), update, a no-op update, delete, a
    // delete of a missing item.
    c.put_item().table_name("events").item("pk", s("a")).item("v", n(1)).send().await.unwrap();
    c.put_item().table_name("events").item("pk", s("a")).item("v", n(1)).send().await.unwrap();
    c.update_item()
        .table_name("events")
        .key("pk", s("a"))
        .update_expression("SET v = :v")
        .expression_attribute_values(":v", n(2))
        .send()
        .await
        .unwrap();
    c.update_item()
        .table_name("events")
        .key("pk", s("a"))
        .update_expression("SET v = :v")
        .expression_attribute_values(":v", n(2))
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .unwrap();
    c.delete_item().table_name("events").key("pk", s("a")).send().await.unwrap();
    c.delete_item().table_name("events").key("pk", s("missing")).send().await.unwrap();
    // A failed condition writes nothing.
    let err = c
        .put_item()
        .table_name("events")
        .item("pk", s("a"))
        .condition_expression("attribute_exists(pk)")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ConditionalCheckFailedException");
    // BatchWrite: two puts and a delete of a missing item.
    let put = |k: &str| {
        WriteRequest::builder()
            .put_request(
                aws_sdk_dynamodb::types::PutRequest::builder().item("pk", s(k)).item("v", n(10)).build().unwrap(),
            )
            .build()
    };
    let del = WriteRequest::builder()
        .delete_request(aws_sdk_dynamodb::types::DeleteRequest::builder().key("pk", s("nope")).build().unwrap())
        .build();
    c.batch_write_item().request_items("events", vec![put("b1"), put("b2"), del]).send().await.unwrap();
    // A transaction: one record per item; a cancelled one records nothing.
    let tput = |k: &str| {
        TransactWriteItem::builder()
            .put(Put::builder().table_name("events").item("pk", s(k)).item("v", n(20)).build().unwrap())
            .build()
    };
    c.transact_write_items().transact_items(tput("t1")).transact_items(tput("t2")).send().await.unwrap();
    let cancelled = TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name("events")
                .item("pk", s("t3"))
                .condition_expression("attribute_exists(pk)")
                .build()
                .unwrap(),
        )
        .build();
    let err = c.transact_write_items().transact_items(tput("t4")).transact_items(cancelled).send().await.unwrap_err();
    assert_eq!(code(&err), "TransactionCanceledException");

    let records = read_all(&sc, &arn).await;
    let mut by_key: BTreeMap<String, Vec<&Record>> = BTreeMap::new();
    for (_, r) in &records {
        by_key.entry(pk(r)).or_default().push(r);
    }
    let names: BTreeMap<&str, Vec<OperationType>> =
        by_key.iter().map(|(k, rs)| (k.as_str(), rs.iter().map(|r| event(r)).collect())).collect();
    assert_eq!(
        names,
        BTreeMap::from([
            ("a", vec![OperationType::Insert, OperationType::Modify, OperationType::Remove]),
            ("b1", vec![OperationType::Insert]),
            ("b2", vec![OperationType::Insert]),
            ("t1", vec![OperationType::Insert]),
            ("t2", vec![OperationType::Insert]),
        ])
    );
    let a = &by_key["a"];
    let d = |i: usize| a[i].dynamodb.as_ref().unwrap();
    assert_eq!((image_v(d(0).old_image.as_ref()), image_v(d(0).new_image.as_ref())), (None, Some("1".into())));
    assert_eq!(
        (image_v(d(1).old_image.as_ref()), image_v(d(1).new_image.as_ref())),
        (Some("1".into()), Some("2".into()))
    );
    assert_eq!((image_v(d(2).old_image.as_ref()), image_v(d(2).new_image.as_ref())), (Some("2".into()), None));
    // Record fields as AWS fills them.
    let ids: BTreeSet<&str> = records.iter().map(|(_, r)| r.event_id.as_deref().unwrap()).collect();
    assert_eq!(ids.len(), records.len(), "eventIDs are unique");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    for (_, r) in &records {
        assert_eq!(r.event_version.as_deref(), Some("1.1"));
        assert_eq!(r.event_source.as_deref(), Some("aws:dynamodb"));
        assert_eq!(r.aws_region.as_deref(), Some("us-east-1"));
        assert!(r.user_identity.is_none());
        let d = r.dynamodb.as_ref().unwrap();
        assert!(d.size_bytes.unwrap() > 0);
        assert_eq!(d.stream_view_type, Some(aws_sdk_dynamodbstreams::types::StreamViewType::NewAndOldImages));
        let at = d.approximate_creation_date_time.unwrap().as_secs_f64();
        assert!((now - at).abs() < 60.0, "creation time {at} vs now {now}");
    }
    // SizeBytes of the INSERT of {pk: "a", v: 1}: keys (pk + "a" = 3) plus
    // the new image (3 + v 1 + number 2 = 6).
    assert_eq!(d(0).size_bytes, Some(9));
    // Sequence numbers increase within each shard.
    let mut last: BTreeMap<&str, u128> = BTreeMap::new();
    for (shard, r) in &records {
        let seq: u128 = r.dynamodb.as_ref().unwrap().sequence_number.as_deref().unwrap().parse().unwrap();
        if let Some(prev) = last.insert(shard, seq) {
            assert!(seq > prev, "sequence numbers increase in {shard}");
        }
    }
}

#[tokio::test]
async fn view_types_decide_keys_and_images() {
    let h = harness().await;
    let c = &h.client;
    let sc = streams_client(&h.server.endpoint());
    for (table, view, new, old) in [
        ("keys", StreamViewType::KeysOnly, false, false),
        ("new", StreamViewType::NewImage, true, false),
        ("old", StreamViewType::OldImage, false, true),
        ("both", StreamViewType::NewAndOldImages, true, true),
    ] {
        create_table(c, table, None).await;
        let arn = enable(c, table, view).await;
        c.put_item().table_name(table).item("pk", s("k")).item("v", n(1)).send().await.unwrap();
        c.put_item().table_name(table).item("pk", s("k")).item("v", n(2)).send().await.unwrap();
        c.delete_item().table_name(table).key("pk", s("k")).send().await.unwrap();
        let records = read_all(&sc, &arn).await;
        assert_eq!(records.len(), 3, "{table}");
        for (i, (_, r)) in records.iter().enumerate() {
            let d = r.dynamodb.as_ref().unwrap();
            assert_eq!(d.keys.as_ref().unwrap().len(), 1, "{table}: Keys holds just the key");
            let has_new = i < 2; // INSERT and MODIFY have a new image, REMOVE not
            let has_old = i > 0; // MODIFY and REMOVE have an old image
            assert_eq!(d.new_image.is_some(), new && has_new, "{table} record {i} NewImage");
            assert_eq!(d.old_image.is_some(), old && has_old, "{table} record {i} OldImage");
        }
    }
}

#[tokio::test]
async fn enabling_disabling_and_reenabling_makes_new_streams() {
    let h = harness().await;
    let c = &h.client;
    let sc = streams_client(&h.server.endpoint());
    create_table(c, "toggle", None).await;
    let first = enable(c, "toggle", StreamViewType::KeysOnly).await;
    c.put_item().table_name("toggle").item("pk", s("x")).send().await.unwrap();
    let off = StreamSpecification::builder().stream_enabled(false).build().unwrap();
    c.update_table().table_name("toggle").stream_specification(off).send().await.unwrap();
    // Writes while disabled go nowhere.
    c.put_item().table_name("toggle").item("pk", s("y")).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await; // labels have millisecond precision
    let second = enable(c, "toggle", StreamViewType::NewImage).await;
    assert_ne!(first, second);
    c.put_item().table_name("toggle").item("pk", s("z")).send().await.unwrap();

    let d = sc.describe_stream().stream_arn(&first).send().await.unwrap().stream_description.unwrap();
    assert_eq!(d.stream_status, Some(aws_sdk_dynamodbstreams::types::StreamStatus::Disabled));
    assert!(d.shards().iter().all(|sh| sh.sequence_number_range.as_ref().unwrap().ending_sequence_number.is_some()));
    let old: Vec<String> = read_all(&sc, &first).await.iter().map(|(_, r)| pk(r)).collect();
    assert_eq!(old, vec!["x"]);
    let new: Vec<String> = read_all(&sc, &second).await.iter().map(|(_, r)| pk(r)).collect();
    assert_eq!(new, vec!["z"]);
    let d = sc.describe_stream().stream_arn(&second).send().await.unwrap().stream_description.unwrap();
    assert_eq!(d.stream_status, Some(aws_sdk_dynamodbstreams::types::StreamStatus::Enabled));
    assert_eq!(d.table_name.as_deref(), Some("toggle"));
    assert_eq!(d.key_schema().len(), 1);

    let listed = sc.list_streams().table_name("toggle").send().await.unwrap();
    let arns: BTreeSet<&str> = listed.streams().iter().map(|s| s.stream_arn.as_deref().unwrap()).collect();
    assert_eq!(arns, BTreeSet::from([first.as_str(), second.as_str()]));
    let page = sc.list_streams().limit(1).send().await.unwrap();
    assert_eq!(page.streams().len(), 1);
    let rest = sc
        .list_streams()
        .exclusive_start_stream_arn(page.last_evaluated_stream_arn.clone().expect("a second page"))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.streams().len(), 1);
    assert!(rest.last_evaluated_stream_arn.is_none());

    let t = c.describe_table().table_name("toggle").send().await.unwrap().table.unwrap();
    assert_eq!(t.latest_stream_arn.as_deref(), Some(second.as_str()));
    let err = sc.describe_stream().stream_arn(format!("{second}x")).send().await.unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
}

#[tokio::test]
async fn shards_roll_over_into_children_that_follow_their_parents() {
    let config = ServerConfig {
        streams: StreamConfig { shards: 2, rollover: Duration::from_millis(300), ..StreamConfig::default() },
        ..ServerConfig::default()
    };
    let (_dir, server, c, sc) = serve(config).await;
    create_table(&c, "roll", None).await;
    let arn = enable(&c, "roll", StreamViewType::NewImage).await;
    for round in 0..3 {
        for k in 0..6 {
            c.put_item().table_name("roll").item("pk", s(&format!("k{k}"))).item("v", n(round)).send().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(450)).await;
    }
    let all = shards(&sc, &arn).await;
    assert!(all.len() >= 6, "two shards per generation, three generations at least: {}", all.len());
    let ids: BTreeSet<&str> = all.iter().map(|s| s.shard_id.as_deref().unwrap()).collect();
    for sh in &all {
        if let Some(p) = sh.parent_shard_id.as_deref() {
            assert!(ids.contains(p), "parent {p} is listed");
            let parent = all.iter().find(|s| s.shard_id.as_deref() == Some(p)).unwrap();
            let end: u128 = parent
                .sequence_number_range
                .as_ref()
                .unwrap()
                .ending_sequence_number
                .as_ref()
                .unwrap()
                .parse()
                .unwrap();
            let start: u128 =
                sh.sequence_number_range.as_ref().unwrap().starting_sequence_number.as_ref().unwrap().parse().unwrap();
            assert!(start > end, "a child starts after its parent ends");
        }
    }
    // CHILD_SHARDS lists exactly the children of a shard.
    let first = all[0].shard_id.clone().unwrap();
    let filter = ShardFilter::builder().r#type(ShardFilterType::ChildShards).shard_id(&first).build();
    let children = sc.describe_stream().stream_arn(&arn).shard_filter(filter).send().await.unwrap();
    let children = children.stream_description.unwrap();
    assert_eq!(children.shards().len(), 1);
    assert_eq!(children.shards()[0].parent_shard_id.as_deref(), Some(first.as_str()));
    // A closed shard read to its end has no next iterator; following the
    // lineage yields each item's values in order, each once.
    let closed = all[0].shard_id.as_deref().unwrap();
    let it = iterator(&sc, &arn, closed, ShardIteratorType::TrimHorizon, None).await.unwrap().shard_iterator.unwrap();
    let page = sc.get_records().shard_iterator(it).send().await.unwrap();
    assert!(page.next_shard_iterator.is_none(), "a drained closed shard has no next iterator");
    let mut per_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (_, r) in read_all(&sc, &arn).await {
        per_key.entry(pk(&r)).or_default().push(image_v(r.dynamodb.as_ref().unwrap().new_image.as_ref()).unwrap());
    }
    for k in 0..6 {
        assert_eq!(per_key[&format!("k{k}")], vec!["0", "1", "2"], "k{k}");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn iterators_expire_and_resist_tampering() {
    let config = ServerConfig { iterator_lifetime: Duration::from_millis(300), ..ServerConfig::default() };
    let (_dir, server, c, sc) = serve(config).await;
    create_table(&c, "iter", None).await;
    let arn = enable(&c, "iter", StreamViewType::KeysOnly).await;
    c.put_item().table_name("iter").item("pk", s("a")).send().await.unwrap();
    let shard = shards(&sc, &arn).await[0].shard_id.clone().unwrap();
    let get = |kind: ShardIteratorType, seq: Option<&'static str>| iterator(&sc, &arn, &shard, kind, seq);
    let it = get(ShardIteratorType::TrimHorizon, None).await.unwrap().shard_iterator.unwrap();
    let mut forged = it.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let err = sc.get_records().shard_iterator(String::from_utf8(forged).unwrap()).send().await.unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let err = sc.get_records().shard_iterator(&it).send().await.unwrap_err();
    assert_eq!(code(&err), "ExpiredIteratorException");
    // Sequence-number iterators need a sequence number, and one of this shard.
    let err = get(ShardIteratorType::AtSequenceNumber, None).await.unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = get(ShardIteratorType::AfterSequenceNumber, Some("not-a-number")).await.unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = iterator(&sc, &arn, "shardId-00000000000000000000-00000000", ShardIteratorType::Latest, None)
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn latest_and_sequence_iterators_start_where_asked() {
    let h = harness().await;
    let c = &h.client;
    let sc = streams_client(&h.server.endpoint());
    create_table(c, "pos", None).await;
    let arn = enable(c, "pos", StreamViewType::NewImage).await;
    // One key, so every record is in one shard.
    for v in 0..5 {
        c.put_item().table_name("pos").item("pk", s("one")).item("v", n(v)).send().await.unwrap();
    }
    let all = read_all(&sc, &arn).await;
    assert_eq!(all.len(), 5);
    let shard = all[0].0.clone();
    let seq = |i: usize| all[i].1.dynamodb.as_ref().unwrap().sequence_number.clone().unwrap();
    let vals = |rs: Vec<Record>| -> Vec<String> {
        rs.iter().map(|r| image_v(r.dynamodb.as_ref().unwrap().new_image.as_ref()).unwrap()).collect()
    };
    let at = read_shard(&sc, &arn, &shard, ShardIteratorType::AtSequenceNumber, Some(&seq(2))).await;
    assert_eq!(vals(at), vec!["2", "3", "4"]);
    let after = read_shard(&sc, &arn, &shard, ShardIteratorType::AfterSequenceNumber, Some(&seq(2))).await;
    assert_eq!(vals(after), vec!["3", "4"]);
    let latest = iterator(&sc, &arn, &shard, ShardIteratorType::Latest, None).await.unwrap().shard_iterator.unwrap();
    let page = sc.get_records().shard_iterator(&latest).send().await.unwrap();
    assert!(page.records().is_empty());
    c.put_item().table_name("pos").item("pk", s("one")).item("v", n(5)).send().await.unwrap();
    let page = sc.get_records().shard_iterator(page.next_shard_iterator.unwrap()).send().await.unwrap();
    assert_eq!(vals(page.records().to_vec()), vec!["5"]);
}

#[tokio::test]
async fn records_past_retention_are_trimmed() {
    let config = ServerConfig {
        streams: StreamConfig { retention: Duration::from_secs(1), ..StreamConfig::default() },
        ..ServerConfig::default()
    };
    let (_dir, server, c, sc) = serve(config).await;
    create_table(&c, "trim", None).await;
    let arn = enable(&c, "trim", StreamViewType::KeysOnly).await;
    c.put_item().table_name("trim").item("pk", s("old")).send().await.unwrap();
    let old = read_all(&sc, &arn).await;
    assert_eq!(old.len(), 1);
    let (shard, rec) = &old[0];
    let old_seq = rec.dynamodb.as_ref().unwrap().sequence_number.clone().unwrap();
    let before =
        iterator(&sc, &arn, shard, ShardIteratorType::TrimHorizon, None).await.unwrap().shard_iterator.unwrap();
    // Wait until the maintenance pass has trimmed it. A trim between
    // GetShardIterator and GetRecords fails the read, as in AWS: try again.
    let mut trimmed = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut left = Some(0);
        for sh in shards(&sc, &arn).await {
            let id = sh.shard_id.unwrap();
            let it = iterator(&sc, &arn, &id, ShardIteratorType::TrimHorizon, None).await.unwrap().shard_iterator;
            match sc.get_records().set_shard_iterator(it).send().await {
                Ok(page) => left = left.map(|n| n + page.records().len()),
                Err(e) if code(&e) == "TrimmedDataAccessException" => left = None,
                Err(e) => panic!("{e:?}"),
            }
        }
        if left == Some(0) {
            trimmed = true;
            break;
        }
    }
    assert!(trimmed, "the record outlived retention");
    c.put_item().table_name("trim").item("pk", s("new")).send().await.unwrap();
    let now: Vec<String> = read_all(&sc, &arn).await.iter().map(|(_, r)| pk(r)).collect();
    assert_eq!(now, vec!["new"]);
    let err = sc.get_records().shard_iterator(before).send().await.unwrap_err();
    assert_eq!(code(&err), "TrimmedDataAccessException");
    let err = iterator(&sc, &arn, shard, ShardIteratorType::AtSequenceNumber, Some(&old_seq)).await.unwrap_err();
    assert_eq!(code(&err), "TrimmedDataAccessException");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn ttl_expiry_deletes_with_a_service_record() {
    let config = ServerConfig { ttl_interval: Duration::from_millis(50), ..ServerConfig::default() };
    let (_dir, server, c, sc) = serve(config).await;
    create_table(&c, "ttl", None).await;
    let arn = enable(&c, "ttl", StreamViewType::NewAndOldImages).await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    // Items that expired before TTL is enabled are found by the backfill.
    c.put_item().table_name("ttl").item("pk", s("before")).item("exp", n(now - 100)).send().await.unwrap();
    let spec = TimeToLiveSpecification::builder().enabled(true).attribute_name("exp").build().unwrap();
    c.update_time_to_live().table_name("ttl").time_to_live_specification(spec).send().await.unwrap();
    c.put_item().table_name("ttl").item("pk", s("past")).item("exp", n(now - 10)).send().await.unwrap();
    c.put_item().table_name("ttl").item("pk", s("future")).item("exp", n(now + 3600)).send().await.unwrap();
    c.put_item().table_name("ttl").item("pk", s("text")).item("exp", s("0")).send().await.unwrap();
    // Ancient values (over five years old) never expire, as in DynamoDB.
    c.put_item().table_name("ttl").item("pk", s("ancient")).item("exp", n(1000)).send().await.unwrap();
    let mut gone = false;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let scan = c.scan().table_name("ttl").send().await.unwrap();
        let keys: BTreeSet<String> = scan
            .items()
            .iter()
            .map(|i| match &i["pk"] {
                AttributeValue::S(v) => v.clone(),
                _ => unreachable!(),
            })
            .collect();
        if keys == BTreeSet::from(["future".to_string(), "text".to_string(), "ancient".to_string()]) {
            gone = true;
            break;
        }
    }
    assert!(gone, "expired items were not deleted");
    let removes: Vec<Record> =
        read_all(&sc, &arn).await.into_iter().map(|(_, r)| r).filter(|r| event(r) == OperationType::Remove).collect();
    assert_eq!(removes.len(), 2);
    for r in &removes {
        let who = r.user_identity.as_ref().expect("TTL deletions carry userIdentity");
        assert_eq!(who.r#type.as_deref(), Some("Service"));
        assert_eq!(who.principal_id.as_deref(), Some("dynamodb.amazonaws.com"));
        assert!(r.dynamodb.as_ref().unwrap().old_image.is_some());
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn subscribers_wake_on_durable_records_without_polling() {
    let h = harness().await;
    let c = &h.client;
    let sc = streams_client(&h.server.endpoint());
    create_table(c, "wake", None).await;
    let arn = enable(c, "wake", StreamViewType::KeysOnly).await;
    let store = h.server.store.clone();
    let label = arn.rsplit('/').next().unwrap();
    let meta = store.stream("wake", label).expect("the stream");
    let shard_ids: Vec<String> = shards(&sc, &arn).await.into_iter().map(|s| s.shard_id.unwrap()).collect();
    let mut rxs: Vec<_> = shard_ids.iter().map(|id| store.subscribe_shard(meta.num, id).unwrap()).collect();
    c.put_item().table_name("wake").item("pk", s("ring")).send().await.unwrap();
    // Exactly one shard saw a change, and it names the new record.
    let changed: Vec<usize> = (0..rxs.len()).filter(|&i| rxs[i].has_changed().unwrap()).collect();
    assert_eq!(changed.len(), 1);
    let sig = *rxs[changed[0]].borrow_and_update();
    let rec = read_all(&sc, &arn).await.pop().unwrap().1;
    let seq: u64 = rec.dynamodb.unwrap().sequence_number.unwrap().parse().unwrap();
    assert_eq!(sig.last_seq, Some(seq));
    // An awaiting subscriber is woken by the next write.
    let mut rx = rxs.swap_remove(changed[0]);
    let waiter = tokio::spawn(async move {
        rx.changed().await.unwrap();
        rx.borrow().last_seq
    });
    c.put_item().table_name("wake").item("pk", s("ring")).item("v", n(1)).send().await.unwrap();
    let woke = tokio::time::timeout(Duration::from_secs(10), waiter).await.expect("woken").unwrap();
    assert!(woke.unwrap() > seq);
}

#[tokio::test]
async fn partiql_writes_are_captured_like_any_other() {
    let h = harness().await;
    let c = &h.client;
    let sc = streams_client(&h.server.endpoint());
    create_table(c, "pqt", None).await;
    let arn = enable(c, "pqt", StreamViewType::NewAndOldImages).await;
    for statement in [
        r#"INSERT INTO "pqt" VALUE {'pk': 'a', 'v': 1}"#,
        r#"UPDATE "pqt" SET v = 2 WHERE pk = 'a'"#,
        r#"UPDATE "pqt" SET v = 2 WHERE pk = 'a'"#,
        r#"DELETE FROM "pqt" WHERE pk = 'a'"#,
    ] {
        c.execute_statement().statement(statement).send().await.unwrap();
    }
    let events: Vec<OperationType> = read_all(&sc, &arn).await.iter().map(|(_, r)| event(r)).collect();
    // The second UPDATE changes nothing and records nothing.
    assert_eq!(events, vec![OperationType::Insert, OperationType::Modify, OperationType::Remove]);
}
