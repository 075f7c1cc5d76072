//! The console (`/console`) in a real headless Chromium, driven over
//! WebDriver: a table created in the form, an item added, edited and
//! queried, a live stream record followed, a function invoked with its log
//! tail, a trigger's invocation seen in the followed log after a write, a
//! PartiQL statement run, with no errors in the page's console and a
//! screenshot of each view (`target/tmp/console-screenshots`).

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::webdriver::Browser;
use common::{harness, s};
use serde_json::json;

#[tokio::test]
async fn the_console_creates_a_table_and_edits_and_queries_its_items() {
    let h = harness().await;
    let endpoint = h.server.endpoint();
    let c = &h.client;
    let b = Browser::start().await;
    b.goto(&format!("{endpoint}/console")).await;
    b.wait_text("#view", "No tables yet").await;
    b.screenshot("tables-empty").await;

    // A table made in the form: keys, on-demand, a stream.
    b.click("#create-table").await;
    b.fill("#new-name", "orders").await;
    b.fill("#new-pk", "pk").await;
    b.fill("#new-sk", "sk").await;
    b.set("#new-stream", "NEW_AND_OLD_IMAGES").await;
    b.screenshot("create-table").await;
    b.click("#create-submit").await;
    b.wait_text("#view h1", "orders").await;
    let d = c.describe_table().table_name("orders").send().await.expect("the table exists");
    let t = d.table().expect("table");
    assert_eq!(t.key_schema().len(), 2);
    assert!(t.latest_stream_arn().is_some(), "with its stream");

    // An item added as DynamoDB JSON.
    b.click("#item-new").await;
    b.set("#item-json", &json!({"pk": {"S": "a"}, "sk": {"S": "1"}, "name": {"S": "first"}}).to_string()).await;
    b.click("#item-save").await;
    b.wait_text("#items", "first").await;
    let got = c.get_item().table_name("orders").key("pk", s("a")).key("sk", s("1")).send().await.expect("get");
    assert_eq!(got.item().and_then(|i| i.get("name")), Some(&s("first")));

    // Edited as plain JSON.
    b.click("#items tbody tr").await;
    // The editor reads the whole item by its key, then shows it.
    b.wait_value("#item-json", "first").await;
    b.set("#item-format", "plain").await;
    b.wait_value("#item-json", "\"name\": \"first\"").await;
    b.set("#item-json", &json!({"pk": "a", "sk": "1", "name": "second", "n": 5}).to_string()).await;
    b.screenshot("item-editor").await;
    b.click("#item-save").await;
    b.wait_text("#items", "second").await;
    let got = c.get_item().table_name("orders").key("pk", s("a")).key("sk", s("1")).send().await.expect("get");
    let item = got.item().expect("the item");
    assert_eq!(item.get("name"), Some(&s("second")));
    assert_eq!(item.get("n"), Some(&AttributeValue::N("5".into())), "a number stays a number");

    // A Query of one partition among two.
    c.put_item()
        .table_name("orders")
        .item("pk", s("b"))
        .item("sk", s("1"))
        .item("name", s("other"))
        .send()
        .await
        .expect("put");
    b.set("#browse-mode", "Query").await;
    b.fill("#query-pk", "a").await;
    b.click("#browse-run").await;
    b.wait_text("#page-number", "1 item").await;
    let shown = b.wait_text("#items", "second").await;
    assert!(!shown.contains("other"), "only partition a: {shown}");
    b.screenshot("query").await;

    // Capacity and cost: the meter's figures, and hot keys once counted.
    b.wait_text("#cost", "Cost so far").await;
    b.click("#insights-enable").await;
    b.wait_text("#usage", "Most accessed items (partition key)").await;
    b.click("#browse-run").await;
    b.wait_text("#page-number", "1 item").await;
    b.click("#nav-tables").await;
    b.click("#tables tbody tr").await;
    let hot = b.wait_text("#usage table.hot", "a").await;
    assert!(hot.contains("Events"), "{hot}");
    b.script("document.querySelector('#usage').scrollIntoView()", json!([])).await;
    b.screenshot("usage").await;

    // A backup made and restored into a new table, whose page follows the
    // load until the table is ACTIVE.
    b.click("#backup-now").await;
    b.wait_text("#backup-list", "AVAILABLE").await;
    b.script("document.querySelector('#backups').scrollIntoView()", json!([])).await;
    b.screenshot("backups").await;
    b.fill("#restore-target", "orders-copy").await;
    b.click("#backup-list .restore").await;
    b.wait_text("h1", "orders-copy").await;
    b.wait_text("#view", "Activity").await;
    let facts = b.wait_text("#view dl.facts", "ACTIVE").await;
    assert!(facts.contains("pk (HASH), sk (RANGE)"), "{facts}");
    c.delete_table().table_name("orders-copy").send().await.expect("drop the copy");
    b.click("#nav-tables").await;
    b.click_text("#tables tbody tr", "orders").await;
    b.wait_text("#view", "Activity").await;

    // A global index added through the page, backfilled from the items.
    b.fill("#gsi-name", "by-name").await;
    b.fill("#gsi-pk", "name").await;
    b.click("#gsi-add").await;
    let indexes = b.wait_text("#index-list", "by-name").await;
    assert!(indexes.contains("ACTIVE") && indexes.contains("name (HASH)"), "{indexes}");
    let d = c.describe_table().table_name("orders").send().await.expect("describe");
    let gsi = d.table().map(|t| t.global_secondary_indexes()).unwrap_or_default();
    assert_eq!(gsi.first().and_then(|i| i.index_name()), Some("by-name"));
    b.wait_text("#browse-index", "by-name").await;

    // A live stream record: followed from the shard's end, the write after
    // it arrives with its images side by side.
    b.click("#open-stream").await;
    b.click("#follow-open").await;
    // Every shard's iterator is taken (at its end) before the writes.
    b.find("#follow-status[data-following]").await;
    c.put_item()
        .table_name("orders")
        .item("pk", s("c"))
        .item("sk", s("1"))
        .item("name", s("live"))
        .send()
        .await
        .expect("put");
    c.put_item()
        .table_name("orders")
        .item("pk", s("c"))
        .item("sk", s("1"))
        .item("name", s("changed"))
        .send()
        .await
        .expect("put");
    let records = b.wait_text("#records", "MODIFY").await;
    assert!(records.contains("INSERT") && records.contains("changed") && records.contains("live"), "{records}");
    b.screenshot("stream").await;

    // A function: invoked with its log tail; a trigger's invocation then
    // appears in its followed log after a write.
    let lambda = common::lambda_client(&endpoint);
    lambda
        .create_function()
        .function_name("echo")
        .runtime(aws_sdk_lambda::types::Runtime::from("wasm32-wasip2"))
        .role("arn:aws:iam::000000000000:role/tidepool")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(tidepool_runtime::examples::example_bytes("echo")))
                .build(),
        )
        .send()
        .await
        .expect("create the function");
    let arn = c.describe_table().table_name("orders").send().await.expect("describe");
    let arn = arn.table().and_then(|t| t.latest_stream_arn()).expect("stream").to_string();
    lambda
        .create_event_source_mapping()
        .function_name("echo")
        .event_source_arn(&arn)
        .starting_position(aws_sdk_lambda::types::EventSourcePosition::Latest)
        .send()
        .await
        .expect("the trigger");
    // A second trigger whose function always fails: its batch is given up
    // at once and described in its on-failure destination table.
    c.create_table()
        .table_name("failures")
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .expect("key"),
        )
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .expect("the destination table");
    lambda
        .create_function()
        .function_name("fails")
        .runtime(aws_sdk_lambda::types::Runtime::from("wasm32-wasip2"))
        .role("arn:aws:iam::000000000000:role/tidepool")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(tidepool_runtime::examples::example_bytes(
                    "always-fail",
                )))
                .build(),
        )
        .send()
        .await
        .expect("create the failing function");
    lambda
        .create_event_source_mapping()
        .function_name("fails")
        .event_source_arn(&arn)
        .starting_position(aws_sdk_lambda::types::EventSourcePosition::Latest)
        .maximum_retry_attempts(0)
        .destination_config(
            aws_sdk_lambda::types::DestinationConfig::builder()
                .on_failure(
                    aws_sdk_lambda::types::OnFailure::builder()
                        .destination("arn:aws:dynamodb:us-east-1:000000000000:table/failures")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("the failing trigger");
    // A published version with an alias, and a schedule.
    lambda.publish_version().function_name("echo").send().await.expect("publish");
    lambda.create_alias().function_name("echo").name("live").function_version("1").send().await.expect("alias");
    let put = common::http::send(
        &h.server.addr.to_string(),
        "PUT",
        "/tidepool/schedules/weekly",
        &[("Content-Type", "application/json")],
        br#"{"Function": "echo", "Expression": "rate(7 days)"}"#,
    )
    .await;
    assert_eq!(put.status, 200, "{}", String::from_utf8_lossy(&put.body));
    b.click("#nav-functions").await;
    b.wait_text("#schedules", "rate(7 days)").await;
    b.click_text("#functions tbody tr", "echo").await;
    b.wait_text("#mappings", "orders").await;
    b.wait_text("#versions", "live").await;
    let schedules = b.wait_text("#function-schedules", "rate(7 days)").await;
    assert!(schedules.contains("weekly") && schedules.contains("ENABLED"), "{schedules}");
    let next = b.script("return document.querySelector('#function-schedules .next-fire').innerText", json!([])).await;
    assert!(next.as_str().is_some_and(|n| n.ends_with('Z')), "the next fire time: {next}");
    b.script("window.scrollTo(0, 0); return 0", json!([])).await;
    b.screenshot("function-config").await;
    b.set("#invoke-payload", r#"{"hello": "console"}"#).await;
    b.click("#invoke-run").await;
    b.wait_text("#invoke-result", "console").await;
    b.wait_text("#invoke-log", "REPORT RequestId").await;
    b.click("#logs-follow").await;
    b.wait_text("#logs", "START RequestId").await;
    c.put_item().table_name("orders").item("pk", s("d")).item("sk", s("1")).send().await.expect("put");
    let started = std::time::Instant::now();
    loop {
        let n = b
            .script("return document.querySelector('#logs').innerText.split('START RequestId').length - 1", json!([]))
            .await;
        if n.as_u64().unwrap_or(0) >= 2 {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "the trigger's invocation shows in the log");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The mapping's plots show the invocation (they refresh every few
    // seconds).
    let started = std::time::Instant::now();
    loop {
        let n = b
            .script(
                "const f = document.querySelector('.mapping [data-plot=\"Invocations\"]'); return f ? Number(f.dataset.total) : 0",
                json!([]),
            )
            .await;
        if n.as_f64().unwrap_or(0.0) >= 1.0 {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "the invocation shows in the mapping's plot");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    b.screenshot("function").await;

    // The failing trigger's batch, linked to its destination record.
    b.click("#nav-functions").await;
    b.click_text("#functions tbody tr", "fails").await;
    b.wait_text("#mappings", "orders").await;
    let started = std::time::Instant::now();
    loop {
        b.click(".failed-refresh").await;
        let text = b.script("return document.querySelector('.failed-batches').innerText", json!([])).await;
        if text.as_str().unwrap_or_default().contains("RetryAttemptsExhausted") {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "the failed batch shows: {text}");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    b.screenshot("mapping").await;
    b.click(".destination-record").await;
    let record = b.wait_text("#item-view", "DDBStreamBatchInfo").await;
    assert!(record.contains("RetryAttemptsExhausted"), "{record}");

    // The write that fired both triggers, traced: its record and the two
    // invocations, one failed, with their log lines.
    let key = json!({"pk": {"S": "d"}, "sk": {"S": "1"}}).to_string();
    b.script("location.hash = '#/item/orders/' + encodeURIComponent(arguments[0]); return 0", json!([key])).await;
    b.wait_text("#trace", "INSERT").await;
    let started = std::time::Instant::now();
    loop {
        let text = b.script("return document.querySelector('#trace').innerText", json!([])).await;
        let text = text.as_str().unwrap_or_default().to_string();
        if text.contains("echo") && text.contains("fails") && text.contains("START RequestId") {
            assert!(text.contains("failed ("), "the failed invocation is marked: {text}");
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "the trace shows both invocations: {text}");
        b.click("#trace-again").await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    b.screenshot("trace").await;

    // PartiQL.
    b.click("#nav-partiql").await;
    b.set("#partiql-statement", "SELECT * FROM \"orders\" WHERE pk = 'b'").await;
    b.click("#partiql-run").await;
    b.wait_text("#partiql-result", "other").await;
    b.screenshot("partiql").await;

    // A narrow window (a phone's): every page fits its width; wide tables
    // scroll within themselves.
    b.window(400, 860).await;
    let fits = "return document.documentElement.scrollWidth <= window.innerWidth + 1";
    for (hash, ready) in [("#/tables", "#tables"), ("#/table/orders", "#page-number"), ("#/function/echo", "#mappings")]
    {
        b.script("location.hash = arguments[0]; return 0", json!([hash])).await;
        b.find(ready).await;
        let width = b
            .script(
                "return [document.documentElement.scrollWidth, window.innerWidth, [...document.querySelectorAll('#view *')]\
                 .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('.scroll'))\
                 .slice(-5).map((e) => e.tagName + '#' + e.id + '.' + e.className)]",
                json!([]),
            )
            .await;
        assert_eq!(b.script(fits, json!([])).await, json!(true), "{hash} fits a narrow window: {width}");
    }
    b.script("location.hash = '#/table/orders'; return 0", json!([])).await;
    b.find("#page-number").await;
    b.screenshot("narrow").await;
    b.window(1280, 900).await;

    // The tables list, and a delete through the page.
    c.delete_table().table_name("failures").send().await.expect("drop the destination");
    b.click("#nav-tables").await;
    b.wait_text("#tables", "orders").await;
    b.screenshot("tables").await;
    b.click("#tables tbody tr").await;
    b.click("#delete-table").await;
    b.accept_dialog().await;
    b.wait_text("#view", "No tables yet").await;
    assert!(c.describe_table().table_name("orders").send().await.is_err(), "deleted");

    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "no errors in the page's console: {errors:?}");
}

/// With authentication on, the console signs in with an access key and
/// signs every request (DynamoDB, the Lambda API, `/tidepool`), including
/// a function named by ARN.
#[tokio::test]
async fn the_console_signs_its_requests_when_auth_is_on() {
    use std::sync::Arc;
    use tidepool::http::auth::Auth;
    use tidepool::http::sigv4::Credential;
    let dir = tempfile::tempdir().expect("temp dir");
    let alice = Credential {
        user: "alice".into(),
        access_key_id: "AKIDALICE".into(),
        secret_access_key: "alice-secret".into(),
        session_token: None,
    };
    let auth = Arc::new(Auth::new(vec![(alice, None)]));
    let server =
        common::start_with(dir.path(), tidepool::ServerConfig { auth: Some(auth), ..Default::default() }).await;
    let endpoint = server.endpoint();
    let b = Browser::start().await;
    b.goto(&format!("{endpoint}/console")).await;
    // Unsigned, the API refuses: the page says so.
    b.wait_text("#view", "MissingAuthenticationToken").await;
    b.click("#credentials-toggle").await;
    b.fill("#access-key", "AKIDALICE").await;
    b.fill("#secret-key", "alice-secret").await;
    b.click("#credentials-save").await;
    b.wait_text("#view", "No tables yet").await;
    b.wait_text("#credentials-toggle", "AKIDALICE").await;
    // A table made through the signed API, and read back.
    b.click("#create-table").await;
    b.fill("#new-name", "signed").await;
    b.fill("#new-pk", "pk").await;
    b.click("#create-submit").await;
    b.wait_text("#view h1", "signed").await;
    // The Lambda API (GET with a query) and a function by ARN (a path that
    // encodes to itself twice over differently).
    b.click("#nav-functions").await;
    b.wait_text("#view", "No functions yet").await;
    b.goto(&format!("{endpoint}/console#/function/arn:aws:lambda:us-east-1:000000000000:function:nothere")).await;
    b.wait_text("#view", "ResourceNotFoundException").await;
    b.screenshot("signed").await;
    let errors: Vec<String> =
        b.console_errors().await.into_iter().filter(|e| !e.contains("Failed to load resource")).collect();
    assert!(errors.is_empty(), "no errors in the page's console: {errors:?}");
    drop(b);
    server.stop().await.expect("stop");
}

/// Following a stream goes on across a rollover: when a followed shard
/// closes, its child is read from its start, so the records after the
/// rollover show too.
#[tokio::test]
async fn the_console_follows_a_stream_across_a_shard_rollover() {
    use std::time::Duration;
    let dir = tempfile::tempdir().expect("temp dir");
    let streams = tidepool_store::StreamConfig { shards: 1, rollover: Duration::from_secs(2), ..Default::default() };
    let server = common::start_with(dir.path(), tidepool::ServerConfig { streams, ..Default::default() }).await;
    let endpoint = server.endpoint();
    let c = common::client(&endpoint);
    c.create_table()
        .table_name("rolling")
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .expect("key"),
        )
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .stream_specification(
            aws_sdk_dynamodb::types::StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::NewAndOldImages)
                .build()
                .expect("stream"),
        )
        .send()
        .await
        .expect("create the table");
    let b = Browser::start().await;
    b.goto(&format!("{endpoint}/console#/stream/rolling")).await;
    b.click("#follow-open").await;
    b.find("#follow-status[data-following]").await;
    c.put_item().table_name("rolling").item("pk", s("before")).send().await.expect("put");
    b.wait_text("#records", "before").await;
    // The shard closes and a child opens; the next write lands there.
    let started = std::time::Instant::now();
    loop {
        let d = common::streams_client(&endpoint)
            .describe_stream()
            .stream_arn(
                c.describe_table()
                    .table_name("rolling")
                    .send()
                    .await
                    .expect("describe")
                    .table()
                    .and_then(|t| t.latest_stream_arn())
                    .expect("a stream"),
            )
            .send()
            .await
            .expect("describe the stream");
        if d.stream_description().is_some_and(|s| s.shards().len() >= 2) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the shard rolled over");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.put_item().table_name("rolling").item("pk", s("after")).send().await.expect("put");
    let records = b.wait_text("#records", "after").await;
    assert!(records.contains("before"), "{records}");
    let status = b.wait_text("#follow-status", "following its child").await;
    assert!(status.contains("closed"), "{status}");
    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "no errors in the page's console: {errors:?}");
}
