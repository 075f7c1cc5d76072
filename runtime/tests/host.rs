//! The wasm host with real components from `examples/` (built by the test itself).

use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Duration;

use serde_json::{Value, json};
use tidepool_runtime::examples::example_bytes;
use tidepool_runtime::{
    CodeHash, FunctionConfig, FunctionErrorKind, Invocation, InvocationOrigin, InvokeOptions, LoadedFunction, NoStore,
    Runtime, RuntimeConfig, RuntimeError, StoreBridge, StoreCallError, ThrottleReason,
};

/// One runtime shared by the tests of this binary, so each example compiles once.
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<(Runtime, tempfile::TempDir)> = OnceLock::new();
    &RUNTIME
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("create a cache directory");
            let runtime = Runtime::new(RuntimeConfig::new(dir.path()), Arc::new(NoStore)).expect("create the runtime");
            (runtime, dir)
        })
        .0
}

fn code(name: &str) -> CodeHash {
    runtime().compile(&example_bytes(name)).unwrap_or_else(|e| panic!("compile {name}: {e}"))
}

fn config(name: &str) -> FunctionConfig {
    FunctionConfig::new(name, "eu-west-1", "123456789012")
}

fn load(example: &str, config: FunctionConfig) -> Arc<LoadedFunction> {
    runtime().load_function(config, &code(example)).expect("load the function")
}

fn invoke(function: &LoadedFunction, event: &Value) -> Invocation {
    function.try_invoke(&event.to_string(), InvokeOptions::new()).expect("not throttled")
}

/// The JSON a successful invocation returned.
fn response(invocation: &Invocation) -> Value {
    let response =
        invocation.result.as_ref().unwrap_or_else(|e| panic!("the invocation failed: {e}\n{}", invocation.logs));
    serde_json::from_str(response).expect("the response is JSON")
}

#[test]
fn echo_returns_its_event() {
    let echo = load("echo", config("echo"));
    let event = r#"{"Records":[{"eventName":"INSERT","n":1}]}"#;
    let invocation = echo.try_invoke(event, InvokeOptions::new().request_id("req-1")).expect("not throttled");
    assert_eq!(invocation.result.as_deref(), Ok(event));
    assert_eq!(invocation.request_id, "req-1");
    assert_eq!(invocation.logs, "");
    assert!(invocation.billed_duration_ms >= 1);
    assert!(invocation.billed_duration_ms as u128 >= invocation.duration.as_millis());
    assert_eq!(invocation.memory_size_mb, 128);
    assert!((1..=128).contains(&invocation.max_memory_used_mb), "{}", invocation.max_memory_used_mb);
    assert!(invocation.report_line().starts_with("REPORT RequestId: req-1\tDuration: "));

    let generated = echo.try_invoke("{}", InvokeOptions::new()).expect("not throttled");
    assert_eq!(generated.request_id.len(), 36, "a UUID: {}", generated.request_id);
}

#[test]
fn the_guest_sees_its_context_and_environment() {
    let mut config = config("ctx");
    config.memory_mb = 256;
    config.timeout = Duration::from_secs(7);
    config.environment.insert("TABLE".into(), "Scores".into());
    let function = load("misbehave", config);
    let invocation =
        function.try_invoke(r#"{"action":"context"}"#, InvokeOptions::new().request_id("abc")).expect("not throttled");
    let context = response(&invocation);
    assert_eq!(context["request_id"], "abc");
    assert_eq!(context["function_name"], "ctx");
    assert_eq!(context["function_version"], "$LATEST");
    assert_eq!(context["invoked_function_arn"], "arn:aws:lambda:eu-west-1:123456789012:function:ctx");
    assert_eq!(context["memory_limit_in_mb"], 256);
    let remaining = context["deadline_ms"].as_i64().unwrap() - context["now_ms"].as_i64().unwrap();
    assert!((1..=7000).contains(&remaining), "remaining time {remaining} ms");
    let env = &context["env"];
    assert_eq!(env["TABLE"], "Scores");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "ctx");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256");
    assert_eq!(env["AWS_REGION"], "eu-west-1");
    assert!(env.get("PATH").is_none() && env.get("HOME").is_none(), "the host's environment does not leak: {env}");
}

#[test]
fn stdout_stderr_and_log_calls_are_the_invocation_log() {
    let function = load("misbehave", config("print"));
    let invocation = invoke(&function, &json!({"action": "print", "text": "hi"}));
    assert_eq!(response(&invocation), "printed");
    for line in ["out: hi\n", "err: hi\n", "[INFO]\tlog: hi\n"] {
        assert!(invocation.logs.contains(line), "{line:?} missing from {:?}", invocation.logs);
    }
    assert_eq!(invocation.logs_dropped_bytes, 0);
}

#[test]
fn a_flood_of_output_keeps_the_newest_bytes_and_does_not_crash_the_guest() {
    let function = load("misbehave", config("flood"));
    let invocation = invoke(&function, &json!({"action": "flood", "bytes": 1_000_000}));
    assert_eq!(response(&invocation), "flooded");
    assert_eq!(invocation.logs.len(), tidepool_runtime::limits::DEFAULT_MAX_LOG_BYTES);
    assert_eq!(invocation.logs_dropped_bytes as usize + invocation.logs.len(), 1_000_000);
    assert!(invocation.logs.ends_with(&format!("{}\n", "x".repeat(99))));
}

#[test]
fn a_trap_is_a_function_error_and_the_function_keeps_working() {
    let function = load("misbehave", config("trap"));
    let invocation = function
        .try_invoke(r#"{"action":"trap","text":"boom"}"#, InvokeOptions::new().request_id("r-trap"))
        .expect("not throttled");
    let error = invocation.result.as_ref().expect_err("a trap fails the invocation");
    assert_eq!(error.kind, FunctionErrorKind::Crashed);
    assert_eq!(error.error_type, "Runtime.ExitError");
    assert!(error.error_message.starts_with("RequestId: r-trap Error: Runtime exited with error: "), "{error}");
    assert_eq!(error.function_error_header(), "Unhandled");
    for text in ["about to trap", "trapping now", "asked to trap: boom", "RequestId: r-trap Error: Runtime exited"] {
        assert!(invocation.logs.contains(text), "{text:?} missing from {:?}", invocation.logs);
    }
    let payload: Value = serde_json::from_str(&invocation.payload()).unwrap();
    assert_eq!(payload["errorType"], "Runtime.ExitError");

    assert_eq!(response(&invoke(&function, &json!({"action": "counter"}))), 1);
}

#[test]
fn an_exit_is_a_runtime_exit_error() {
    let function = load("misbehave", config("exit"));
    // WASI 0.2's `exit` carries success or failure only: every non-zero code arrives as 1.
    let invocation = invoke(&function, &json!({"action": "exit", "code": 3}));
    let error = invocation.result.expect_err("exit fails the invocation");
    assert_eq!(error.error_type, "Runtime.ExitError");
    assert!(error.error_message.ends_with("Error: Runtime exited with error: exit status 1"), "{error}");

    let invocation = invoke(&function, &json!({"action": "exit", "code": 0}));
    let error = invocation.result.expect_err("exit fails the invocation");
    assert!(error.error_message.ends_with("Error: Runtime exited without providing a reason"), "{error}");
}

#[test]
fn an_endless_loop_times_out() {
    let mut config = config("loop");
    config.timeout = Duration::from_secs(1);
    let function = load("misbehave", config);
    let invocation = invoke(&function, &json!({"action": "loop"}));
    let error = invocation.result.as_ref().expect_err("the loop times out");
    assert_eq!(error.kind, FunctionErrorKind::Timeout);
    assert_eq!(error.error_type, "Sandbox.Timedout");
    assert!(error.error_message.ends_with("Error: Task timed out after 1.00 seconds"), "{error}");
    assert!(invocation.duration >= Duration::from_secs(1), "{:?}", invocation.duration);

    assert_eq!(response(&invoke(&function, &json!({"action": "counter"}))), 1);
}

#[test]
fn unbounded_allocation_is_out_of_memory() {
    let function = load("misbehave", config("alloc"));
    let invocation = invoke(&function, &json!({"action": "alloc"}));
    let error = invocation.result.as_ref().expect_err("the allocation fails");
    assert_eq!(error.kind, FunctionErrorKind::OutOfMemory);
    assert_eq!(error.error_type, "Runtime.OutOfMemory");
    assert!(error.error_message.ends_with("Error: Runtime exited with error: signal: killed"), "{error}");
    assert!((100..=128).contains(&invocation.max_memory_used_mb), "{}", invocation.max_memory_used_mb);

    assert_eq!(response(&invoke(&function, &json!({"action": "counter"}))), 1);
}

#[test]
fn every_invocation_gets_a_fresh_instance() {
    let function = load("misbehave", config("counter"));
    for _ in 0..3 {
        assert_eq!(response(&invoke(&function, &json!({"action": "counter"}))), 1);
    }
}

#[test]
fn a_response_over_6_mb_is_a_function_error() {
    let max = tidepool_runtime::limits::MAX_RESPONSE_BYTES;
    assert_eq!(max, 6_291_556, "Lambda's figure: 6 MiB and 100 bytes");
    let echo = load("echo", config("big"));
    // Echo returns its event as it came: `{"data":"xx...x"}`.
    let sized = |bytes: usize| json!({"data": "x".repeat(bytes - r#"{"data":""}"#.len())});

    // Well past the limit (a 6 MiB string and more), and one byte past it.
    for bytes in [max + 64 * 1024, max + 1] {
        let error = invoke(&echo, &sized(bytes)).result.expect_err("too large");
        assert_eq!(error.kind, FunctionErrorKind::ResponseTooLarge);
        assert_eq!(error.error_type, "Function.ResponseSizeTooLarge");
        assert_eq!(
            error.error_message,
            format!("Response payload size ({bytes} bytes) exceeded maximum allowed payload size (6291556 bytes).")
        );
    }
    // At the limit the response comes back whole.
    let invocation = invoke(&echo, &sized(max));
    assert_eq!(invocation.result.as_ref().map(String::len), Ok(max));
}

#[test]
fn a_store_request_over_dynamodbs_16_mb_is_refused_before_the_bridge() {
    let max = tidepool_runtime::limits::MAX_STORE_REQUEST_BYTES;
    let mut config = config("store-big");
    config.memory_mb = 512;
    let function = load("misbehave", config);
    let bridge = Arc::new(RecordingBridge::default());
    let call = |operation: &str, request: Value| {
        let event = json!({"action": "store", "operation": operation, "request": request});
        let invocation = function.try_invoke(&event.to_string(), InvokeOptions::new().bridge(bridge.clone())).unwrap();
        response(&invocation)
    };
    // The guest sends `request` as JSON text: `{"TableName":"T","Item":{"pk":{"S":"xx...x"}}}`.
    let item = |bytes: usize| {
        let padding = r#"{"Item":{"pk":{"S":""}},"TableName":"T"}"#.len();
        json!({"TableName": "T", "Item": {"pk": {"S": "x".repeat(bytes - padding)}}})
    };
    assert_eq!(item(max + 1).to_string().len(), max + 1);

    let refused = call("PutItem", item(max + 1));
    assert_eq!(refused["error"]["type"], "RequestEntityTooLarge", "{}", &refused.to_string()[..200]);
    assert_eq!(refused["error"]["message"], format!("Request must be smaller than {max} bytes for the operation"));
    let refused = call(&"PutItem".repeat(100), item(100));
    assert_eq!(refused["error"]["type"], "UnknownOperationException");
    assert!(bridge.calls.lock().unwrap().is_empty(), "neither reached the bridge");

    // At the limit the request reaches the bridge whole.
    assert_eq!(call("PutItem", item(max))["ok"], json!({"Attributes": {"n": {"N": "1"}}}));
    let calls = bridge.calls.lock().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].1.to_string().len(), max);
}

#[test]
fn a_log_call_longer_than_a_line_keeps_its_head_and_counts_the_rest() {
    let max = tidepool_runtime::limits::MAX_LOG_LINE_BYTES;
    let function = load("misbehave", config("long-log"));
    let bytes = 3 * max;
    let invocation = invoke(&function, &json!({"action": "long_line", "bytes": bytes, "log": true}));
    assert_eq!(response(&invocation), "written");
    let line = invocation.logs.lines().find(|l| l.contains("BEGIN")).expect("the line is logged");
    assert!(line.starts_with("[INFO]\tBEGINxxx"), "{}", &line[..40]);
    assert!(line.len() <= max, "{} bytes", line.len());
    let kept = line.find('…').expect("a marker");
    assert_eq!(&line[kept..], format!("…[truncated {} bytes]", "[INFO]\t".len() + bytes - kept));
}

#[test]
fn the_guest_has_no_files_and_no_network() {
    let function = load("misbehave", config("sandbox"));
    let result = response(&invoke(&function, &json!({"action": "sandbox"})));
    for what in ["file", "dir", "tcp"] {
        assert!(result[what].get("Err").is_some(), "{what} must fail: {result}");
    }
}

#[test]
fn reserved_concurrency_throttles_and_waits() {
    let mut config = config("reserved");
    config.reserved_concurrency = Some(1);
    let function = load("echo", config);
    let held = function.try_acquire().expect("the first permit is free");
    let throttled = function.try_invoke("{}", InvokeOptions::new()).expect_err("the only permit is held");
    assert_eq!(throttled.reason, ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded);
    assert_eq!(throttled.to_string(), "Rate Exceeded.");

    let (done, finished) = mpsc::channel();
    let waiter = std::thread::spawn({
        let function = function.clone();
        move || {
            let permit = function.acquire_blocking();
            done.send(function.invoke(permit, "{}", InvokeOptions::new())).unwrap();
        }
    });
    assert!(finished.try_recv().is_err(), "the waiter waits while the permit is held");
    drop(held);
    assert_eq!(finished.recv().unwrap().result.as_deref(), Ok("{}"));
    waiter.join().unwrap();
    assert!(function.try_invoke("{}", InvokeOptions::new()).is_ok());

    let mut config = FunctionConfig::new("zero", "us-east-1", "000000000000");
    config.reserved_concurrency = Some(0);
    let zero = runtime().load_function(config, &code("echo")).unwrap();
    assert!(zero.try_acquire().is_err(), "a reserved concurrency of 0 throttles everything");
}

#[test]
fn the_runtime_pool_limits_all_functions_together() {
    let dir = tempfile::tempdir().unwrap();
    let mut runtime_config = RuntimeConfig::new(dir.path());
    runtime_config.max_concurrency = 1;
    let runtime = Runtime::new(runtime_config, Arc::new(NoStore)).unwrap();
    let hash = runtime.compile(&example_bytes("echo")).unwrap();
    let first = runtime.load_function(config("first"), &hash).unwrap();
    let second = runtime.load_function(config("second"), &hash).unwrap();
    let held = first.try_acquire().unwrap();
    let throttled = second.try_acquire().expect_err("the pool's only slot is held");
    assert_eq!(throttled.reason, ThrottleReason::ConcurrentInvocationLimitExceeded);
    drop(held);
    assert_eq!(second.try_invoke("[]", InvokeOptions::new()).unwrap().result.as_deref(), Ok("[]"));
}

/// Components that share code (here the Rust standard library and the
/// bindings of two handlers) compile the shared functions once: the second
/// reuses their machine code from Cranelift's incremental cache.
#[test]
fn components_sharing_code_reuse_compiled_functions() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(RuntimeConfig::new(dir.path()), Arc::new(NoStore)).unwrap();
    runtime.compile(&example_bytes("echo")).unwrap();
    let within_one = runtime.stats().functions_reused;
    runtime.compile(&example_bytes("always_fail")).unwrap();
    let reused = runtime.stats().functions_reused - within_one;
    assert!(reused > 100, "{reused} functions reused: {:?}", runtime.stats());
}

#[test]
fn a_compiled_component_is_loaded_from_the_cache_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = example_bytes("echo");
    let first = Runtime::new(RuntimeConfig::new(dir.path()), Arc::new(NoStore)).unwrap();
    let hash = first.compile(&bytes).unwrap();
    assert_eq!(hash, CodeHash::of(&bytes));
    assert_eq!(hash.to_string().parse::<CodeHash>().unwrap(), hash);
    assert_eq!(first.compile(&bytes).unwrap(), hash, "compiling again is a no-op");
    assert_eq!(first.stats().compilations, 1);
    let cached = cached_files(dir.path());
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(cached[0].ends_with(format!("{hash}.cwasm")), "{cached:?}");
    drop(first);

    let second = Runtime::new(RuntimeConfig::new(dir.path()), Arc::new(NoStore)).unwrap();
    assert!(second.has_code(&hash));
    let function = second.load_function(config("cached"), &hash).unwrap();
    assert_eq!(function.try_invoke("1", InvokeOptions::new()).unwrap().result.as_deref(), Ok("1"));
    assert_eq!(second.compile(&bytes).unwrap(), hash);
    assert_eq!(second.stats().compilations, 0, "the second runtime never compiles");
    assert_eq!(second.stats().cache_loads, 1);
    drop((function, second));

    // A damaged artifact is dropped and compiled again, never loaded.
    std::fs::write(&cached[0], b"garbage").unwrap();
    let third = Runtime::new(RuntimeConfig::new(dir.path()), Arc::new(NoStore)).unwrap();
    assert!(matches!(third.load_function(config("gone"), &hash), Err(RuntimeError::CodeNotFound { .. })));
    assert_eq!(third.compile(&bytes).unwrap(), hash);
    assert_eq!(third.stats().compilations, 1);
    let function = third.load_function(config("again"), &hash).unwrap();
    assert_eq!(function.try_invoke("2", InvokeOptions::new()).unwrap().result.as_deref(), Ok("2"));
}

fn cached_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for engine_dir in std::fs::read_dir(dir).unwrap() {
        for file in std::fs::read_dir(engine_dir.unwrap().path()).unwrap() {
            files.push(file.unwrap().path());
        }
    }
    files
}

#[test]
fn invalid_components_and_configurations_are_refused() {
    let not_wasm = runtime().compile(b"not a component");
    assert!(matches!(not_wasm, Err(RuntimeError::InvalidComponent { .. })), "{not_wasm:?}");
    let unknown = CodeHash::of(b"never compiled");
    assert!(matches!(runtime().load_function(config("x"), &unknown), Err(RuntimeError::CodeNotFound { .. })));

    let echo = code("echo");
    let check = |change: &dyn Fn(&mut FunctionConfig), field: &str| {
        let mut config = config("invalid");
        change(&mut config);
        match runtime().load_function(config, &echo) {
            Err(RuntimeError::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected an invalid {field}: {other:?}"),
        }
    };
    check(&|c| c.timeout = Duration::ZERO, "timeout");
    check(&|c| c.timeout = Duration::from_secs(901), "timeout");
    check(&|c| c.timeout = Duration::from_millis(1500), "timeout");
    check(&|c| c.memory_mb = 127, "memory_mb");
    check(&|c| c.memory_mb = 10_241, "memory_mb");
    check(&|c| c.name = String::new(), "name");
    check(&|c| _ = c.environment.insert("1BAD".into(), "v".into()), "environment");
    check(&|c| _ = c.environment.insert("BIG".into(), "v".repeat(5000)), "environment");
}

/// A bridge that records calls and answers from a script.
#[derive(Default)]
struct RecordingBridge {
    calls: Mutex<Vec<(String, Value, InvocationOrigin)>>,
    fail_with: Option<StoreCallError>,
}

impl StoreBridge for RecordingBridge {
    fn call(&self, operation: &str, request_json: &str, origin: &InvocationOrigin) -> Result<String, StoreCallError> {
        let request = serde_json::from_str(request_json).expect("the guest sends JSON");
        self.calls.lock().unwrap().push((operation.into(), request, origin.clone()));
        match &self.fail_with {
            Some(error) => Err(error.clone()),
            None => Ok(r#"{"Attributes":{"n":{"N":"1"}}}"#.into()),
        }
    }
}

#[test]
fn store_calls_go_to_the_bridge_with_their_origin() {
    let function = load("misbehave", config("store"));
    let bridge = Arc::new(RecordingBridge::default());
    let request = json!({"TableName": "T", "Item": {"pk": {"S": "a"}}});
    let event = json!({"action": "store", "operation": "PutItem", "request": request});
    let options = InvokeOptions::new().request_id("r-store").chain_depth(7).bridge(bridge.clone());
    let invocation = function.try_invoke(&event.to_string(), options).unwrap();
    assert_eq!(response(&invocation), json!({"ok": {"Attributes": {"n": {"N": "1"}}}}));
    let calls = bridge.calls.lock().unwrap();
    let (operation, sent, origin) = &calls[0];
    assert_eq!((operation.as_str(), sent), ("PutItem", &request));
    assert_eq!(
        origin,
        &InvocationOrigin {
            function_name: "store".into(),
            function_version: "$LATEST".into(),
            request_id: "r-store".into(),
            chain_depth: 7,
        }
    );

    let failing = Arc::new(RecordingBridge {
        fail_with: Some(StoreCallError::new("ConditionalCheckFailedException", "The conditional request failed")),
        ..Default::default()
    });
    let invocation = function.try_invoke(&event.to_string(), InvokeOptions::new().bridge(failing)).unwrap();
    assert_eq!(
        response(&invocation),
        json!({"error": {"type": "ConditionalCheckFailedException", "message": "The conditional request failed"}})
    );

    let invocation = invoke(&function, &event);
    assert_eq!(response(&invocation)["error"]["type"], "InternalServerError", "the runtime's NoStore bridge");
}

/// A DynamoDB stream record as Lambda delivers it.
fn record(sequence: &str, event_name: &str, keys: Value, new_image: Option<Value>, old_image: Option<Value>) -> Value {
    let mut dynamodb = json!({
        "ApproximateCreationDateTime": 1_700_000_000.0,
        "Keys": keys,
        "SequenceNumber": sequence,
        "SizeBytes": 64,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    });
    if let Some(image) = new_image {
        dynamodb["NewImage"] = image;
    }
    if let Some(image) = old_image {
        dynamodb["OldImage"] = image;
    }
    json!({
        "eventID": format!("id-{sequence}"),
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": dynamodb,
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/Scores/stream/2024-01-01T00:00:00.000",
    })
}

fn score(player: &str, game: &str, score: i64) -> Value {
    json!({"player": {"S": player}, "game": {"S": game}, "score": {"N": score.to_string()}})
}

#[test]
fn the_leaderboard_adds_score_changes_per_game() {
    let function = load("leaderboard", config("leaderboard"));
    let bridge = Arc::new(RecordingBridge::default());
    let keys = |p: &str, g: &str| json!({"player": {"S": p}, "game": {"S": g}});
    let event = json!({"Records": [
        record("100", "INSERT", keys("ada", "chess"), Some(score("ada", "chess", 1200)), None),
        record("101", "MODIFY", keys("ada", "chess"), Some(score("ada", "chess", 1215)), Some(score("ada", "chess", 1200))),
        record("102", "REMOVE", keys("bob", "go"), None, Some(score("bob", "go", 30))),
    ]});
    let invocation = function.try_invoke(&event.to_string(), InvokeOptions::new().bridge(bridge.clone())).unwrap();
    assert!(invocation.result.is_ok(), "{:?}\n{}", invocation.result, invocation.logs);
    let calls = bridge.calls.lock().unwrap();
    let updates: Vec<(&str, &Value, &Value)> = calls
        .iter()
        .map(|(op, request, _)| {
            (op.as_str(), &request["Key"]["game"]["S"], &request["ExpressionAttributeValues"][":delta"]["N"])
        })
        .collect();
    assert_eq!(
        updates,
        [
            ("UpdateItem", &json!("chess"), &json!("1200")),
            ("UpdateItem", &json!("chess"), &json!("15")),
            ("UpdateItem", &json!("go"), &json!("-30"))
        ]
    );
    assert_eq!(calls[0].1["TableName"], "Leaderboard");
    assert_eq!(calls[0].1["UpdateExpression"], "ADD #total :delta");
}

#[test]
fn partial_batch_reports_the_failed_records() {
    let function = load("partial-batch", config("partial"));
    let keys = json!({"pk": {"S": "k"}});
    let image = |fail: bool| json!({"pk": {"S": "k"}, "fail": {"BOOL": fail}});
    let event = json!({"Records": [
        record("1", "INSERT", keys.clone(), Some(image(false)), None),
        record("2", "MODIFY", keys.clone(), Some(image(true)), Some(image(false))),
        record("3", "MODIFY", keys.clone(), Some(json!({"pk": {"S": "k"}})), None),
    ]});
    let invocation = invoke(&function, &event);
    assert_eq!(response(&invocation), json!({"batchItemFailures": [{"itemIdentifier": "2"}]}));
    assert!(invocation.logs.contains("1 of 3 records failed"), "{}", invocation.logs);
}

#[test]
fn always_fail_fails_traps_or_fails_only_on_poison() {
    let keys = json!({"pk": {"S": "k"}});
    let clean = json!({"Records": [record("1", "INSERT", keys.clone(), Some(json!({"pk": {"S": "k"}})), None)]});
    let poisoned =
        json!({"Records": [record("2", "INSERT", keys.clone(), Some(json!({"poison": {"BOOL": true}})), None)]});
    let trapping =
        json!({"Records": [record("3", "INSERT", keys.clone(), Some(json!({"trap": {"BOOL": true}})), None)]});

    let always = load("always-fail", config("always"));
    let error = invoke(&always, &clean).result.expect_err("always fails");
    assert_eq!((error.error_type.as_str(), error.kind), ("IntentionalFailure", FunctionErrorKind::Returned));
    assert_eq!(error.function_error_header(), "Handled");
    assert_eq!(invoke(&always, &trapping).result.expect_err("traps").error_type, "Runtime.ExitError");

    let mut config = config("poison");
    config.environment.insert("FAIL_ONLY_POISON".into(), "1".into());
    let poison_only = load("always-fail", config);
    assert!(invoke(&poison_only, &clean).result.is_ok());
    assert_eq!(invoke(&poison_only, &poisoned).result.expect_err("poisoned").error_type, "IntentionalFailure");
}

#[test]
fn a_guest_sleeping_past_its_timeout_is_stopped() {
    let mut config = config("sleep");
    config.timeout = Duration::from_secs(1);
    let function = load("misbehave", config);
    let invocation = invoke(&function, &json!({"action": "sleep", "ms": 600_000}));
    let error = invocation.result.as_ref().expect_err("the sleep times out");
    assert_eq!(error.error_type, "Sandbox.Timedout");
    assert!(invocation.duration < Duration::from_secs(300), "stopped long before the sleep ends");

    assert_eq!(response(&invoke(&function, &json!({"action": "sleep", "ms": 1}))), "slept");
}

#[test]
fn async_callers_acquire_then_invoke_on_a_blocking_thread() {
    let executor = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let function = load("echo", config("async"));
    let results = executor.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..4 {
            let function = function.clone();
            tasks.push(tokio::spawn(async move {
                let permit = function.acquire().await;
                tokio::task::spawn_blocking(move || function.invoke(permit, &i.to_string(), InvokeOptions::new()))
                    .await
                    .unwrap()
            }));
        }
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap().result.unwrap());
        }
        results
    });
    assert_eq!(results, ["0", "1", "2", "3"]);
}
