//! The console (`/console`) in a real headless Chromium, driven over
//! WebDriver: a table created in the form, an item added, edited and
//! queried, a PartiQL statement run, with no errors in the page's console
//! and a screenshot of each view (`target/tmp/console-screenshots`).

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
    b.set("#item-format", "plain").await;
    b.wait_text("#item-editor", "Item").await;
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

    // PartiQL.
    b.click("#nav-partiql").await;
    b.set("#partiql-statement", "SELECT * FROM \"orders\" WHERE pk = 'b'").await;
    b.click("#partiql-run").await;
    b.wait_text("#partiql-result", "other").await;
    b.screenshot("partiql").await;

    // The tables list, and a delete through the page.
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
