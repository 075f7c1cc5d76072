//! The API and the controller together over a real store, on virtual
//! time: `evaluate` is given each minute, and the consumed units are
//! counted as the operations count them.

use serde_json::{Value as Json, json};
use tidepool_store::{Durability, Store, StoreConfig};

use super::*;
use crate::capacity::Access;

fn call(app: &App, op: &str, body: Json) -> ApiResult<Json> {
    let Json::Object(map) = body else { unreachable!() };
    dispatch(app, op, Req(&map))
}

fn app() -> App {
    let store = Store::open(StoreConfig::default()).expect("open");
    let app = App::new(store, "us-east-1".into(), Durability::default(), Duration::from_secs(900)).expect("app");
    let create = json!({
        "TableName": "scaled",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
    });
    let Json::Object(map) = create else { unreachable!() };
    crate::dynamodb::dispatch(&app, "CreateTable", Req(&map), "localhost").map_err(|e| e.message).expect("create");
    app
}

fn write_capacity(app: &App) -> u64 {
    app.store.describe_table("scaled").expect("table").def.throughput.expect("provisioned").write
}

#[test]
fn a_registered_table_scales_out_and_in_with_its_traffic() {
    let app = app();
    let target = json!({"ServiceNamespace": "dynamodb", "ResourceId": "table/scaled",
        "ScalableDimension": "dynamodb:table:WriteCapacityUnits"});
    // A policy needs a registered target.
    let mut policy = target.clone();
    policy["PolicyName"] = json!("writes");
    policy["PolicyType"] = json!("TargetTrackingScaling");
    policy["TargetTrackingScalingPolicyConfiguration"] = json!({"TargetValue": 70.0,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "DynamoDBWriteCapacityUtilization"}});
    let e = call(&app, "PutScalingPolicy", policy.clone()).expect_err("no target");
    assert!(e.kind.ends_with("ObjectNotFoundException"), "{}", e.kind);
    // Registering raises the capacity to the minimum at once.
    let mut register = target.clone();
    register["MinCapacity"] = json!(10);
    register["MaxCapacity"] = json!(200);
    call(&app, "RegisterScalableTarget", register).expect("register");
    assert_eq!(write_capacity(&app), 10);
    let out = call(&app, "PutScalingPolicy", policy.clone()).expect("policy");
    assert_eq!(out["Alarms"].as_array().map(Vec::len), Some(2));
    // One target tracking policy per metric: another name is refused.
    let mut second = policy.clone();
    second["PolicyName"] = json!("again");
    assert!(call(&app, "PutScalingPolicy", second).is_err());
    // Wrong metric for the dimension.
    let mut wrong = target.clone();
    wrong["PolicyName"] = json!("reads");
    wrong["TargetTrackingScalingPolicyConfiguration"] = json!({"TargetValue": 70.0,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "DynamoDBReadCapacityUtilization"}});
    assert!(call(&app, "PutScalingPolicy", wrong).is_err());

    // Virtual minutes: 50 units a second for ten minutes, then 5 for an
    // hour.
    let table = app.store.describe_table("scaled").expect("table").def.clone();
    let start = 20_000 * 86_400;
    evaluate(&app, start); // the baseline
    for minute in 1..=70u64 {
        let rate = if minute <= 10 { 50.0 } else { 5.0 };
        app.capacity.charge(Access::Write, crate::capacity::Target::table(&table), rate * 60.0, &[]);
        evaluate(&app, start + minute * 60);
    }
    // Out after two minutes above 70 % (to ceil(50 / 0.7) = 72); in after
    // fifteen more than twenty points under it (to ceil(5 / 0.7) = 8,
    // held at the minimum of 10).
    let activities = call(&app, "DescribeScalingActivities", json!({"ServiceNamespace": "dynamodb"})).expect("list");
    let described: Vec<&str> = activities["ScalingActivities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["Description"].as_str().unwrap())
        .collect();
    assert_eq!(
        described,
        vec![
            "Setting write capacity units to 10.",
            "Setting write capacity units to 72.",
            "Setting write capacity units to 10.",
        ]
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
    );
    assert_eq!(write_capacity(&app), 10);
    // Scale-out suspended: a burst changes nothing; a gap in the
    // observations (a late tick) starts a new baseline rather than
    // counting its hours as one minute.
    let mut suspend = target.clone();
    suspend["SuspendedState"] = json!({"DynamicScalingOutSuspended": true});
    call(&app, "RegisterScalableTarget", suspend).expect("suspend");
    for minute in 71..=75u64 {
        app.capacity.charge(Access::Write, crate::capacity::Target::table(&table), 100.0 * 60.0, &[]);
        evaluate(&app, start + minute * 60);
    }
    assert_eq!(write_capacity(&app), 10, "suspended");
    let mut resume = target.clone();
    resume["SuspendedState"] = json!({"DynamicScalingOutSuspended": false});
    call(&app, "RegisterScalableTarget", resume).expect("resume");
    app.capacity.charge(Access::Write, crate::capacity::Target::table(&table), 1e9, &[]);
    evaluate(&app, start + 10_000 * 60);
    evaluate(&app, start + 10_001 * 60);
    assert_eq!(write_capacity(&app), 10, "a gap is no minute of traffic");
    let targets = call(&app, "DescribeScalableTargets", json!({"ServiceNamespace": "dynamodb"})).expect("targets");
    assert_eq!(targets["ScalableTargets"][0]["SuspendedState"]["DynamicScalingOutSuspended"], false);
    let first = &activities["ScalingActivities"][1];
    assert!(first["Cause"].as_str().unwrap().contains("AlarmHigh"), "{first}");
    assert_eq!(first["StatusCode"], "Successful");

    // Described, then gone with the target.
    let targets = call(&app, "DescribeScalableTargets", json!({"ServiceNamespace": "dynamodb"})).expect("targets");
    assert_eq!(targets["ScalableTargets"][0]["MinCapacity"], 10);
    let policies = call(&app, "DescribeScalingPolicies", json!({"ServiceNamespace": "dynamodb"})).expect("policies");
    assert_eq!(policies["ScalingPolicies"][0]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"], 70.0);
    call(&app, "DeregisterScalableTarget", target.clone()).expect("deregister");
    let policies = call(&app, "DescribeScalingPolicies", json!({"ServiceNamespace": "dynamodb"})).expect("policies");
    assert_eq!(policies["ScalingPolicies"], json!([]));
    let e = call(&app, "DeregisterScalableTarget", target).expect_err("gone");
    assert!(e.kind.ends_with("ObjectNotFoundException"));
}

#[test]
fn bad_requests_are_validation_errors() {
    let app = app();
    for (op, body) in [
        (
            "RegisterScalableTarget",
            json!({"ServiceNamespace": "ecs", "ResourceId": "service/x", "ScalableDimension": "ecs:service:DesiredCount", "MinCapacity": 1, "MaxCapacity": 2}),
        ),
        (
            "RegisterScalableTarget",
            json!({"ServiceNamespace": "dynamodb", "ResourceId": "table/scaled", "ScalableDimension": "dynamodb:index:ReadCapacityUnits", "MinCapacity": 1, "MaxCapacity": 2}),
        ),
        (
            "RegisterScalableTarget",
            json!({"ServiceNamespace": "dynamodb", "ResourceId": "table/scaled", "ScalableDimension": "dynamodb:table:ReadCapacityUnits", "MinCapacity": 5, "MaxCapacity": 2}),
        ),
        (
            "RegisterScalableTarget",
            json!({"ServiceNamespace": "dynamodb", "ResourceId": "table/nope", "ScalableDimension": "dynamodb:table:ReadCapacityUnits", "MinCapacity": 1, "MaxCapacity": 2}),
        ),
        ("DescribeScalableTargets", json!({"ServiceNamespace": "dynamodb", "MaxResults": 51})),
    ] {
        let e = call(&app, op, body.clone()).expect_err("refused");
        assert!(e.kind.ends_with("ValidationException"), "{op} {body}: {}", e.kind);
    }
}
