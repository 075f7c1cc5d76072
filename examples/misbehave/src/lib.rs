//! A handler for the host's tests that misbehaves on request. The event is
//! `{"action": "...", ...}`:
//!
//! | action | does |
//! |---|---|
//! | `print` | writes `out: <text>` to stdout, `err: <text>` to stderr, logs `log: <text>` at INFO; returns `"printed"` |
//! | `trap` | prints to stdout and stderr, then panics |
//! | `loop` | loops forever |
//! | `sleep` | sleeps `ms` milliseconds (in a WASI host call), returns `"slept"` |
//! | `alloc` | allocates and touches 1 MiB blocks until it is stopped |
//! | `counter` | increments a global counter and returns its value (1 in a fresh instance) |
//! | `context` | returns the context and the environment variables as JSON |
//! | `store` | calls `store.call(operation, request)`, returns `{"ok": response}` or `{"error": {type, message}}` |
//! | `exit` | calls `std::process::exit(code)` |
//! | `flood` | writes `bytes` bytes to stdout, in lines of 100 |
//! | `sandbox` | tries to read a file and open a TCP connection; returns what happened |
//! | `big` | returns a JSON string of `bytes` bytes (quotes included) |
//! | `big_error` | returns a function error whose message is `bytes` bytes long |
//! | `long_line` | writes one line of `bytes` bytes starting `BEGIN` to stdout (`"log": true`: through `log`); returns `"written"` |
//! | `wait` | reads item `key` (`{"pk": {"S": key}}`) of `table` every 5 ms until it exists; returns `"released"` |
//!
//! A mapping's batch (an event with `Records`) is handled as the event in
//! the environment variable `ON_RECORDS`, if it is set.

wit_bindgen::generate!({ world: "handler", path: "../../wit" });

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use tidepool::handler::log::{Level, log};
use tidepool::handler::store;

static COUNTER: AtomicU64 = AtomicU64::new(0);

struct Misbehave;

impl Guest for Misbehave {
    fn handle(event: String, context: Context) -> Result<String, FunctionError> {
        let mut event: Value = serde_json::from_str(&event).unwrap_or(Value::Null);
        if event.get("Records").is_some()
            && let Ok(action) = std::env::var("ON_RECORDS")
        {
            event = serde_json::from_str(&action).unwrap_or(Value::Null);
        }
        let text = event["text"].as_str().unwrap_or("hello");
        let result = match event["action"].as_str().unwrap_or_default() {
            "print" => {
                println!("out: {text}");
                eprintln!("err: {text}");
                log(Level::Info, &format!("log: {text}"));
                json!("printed")
            }
            "trap" => {
                println!("about to trap");
                eprintln!("trapping now");
                panic!("asked to trap: {text}");
            }
            "loop" => loop {
                std::hint::black_box(COUNTER.fetch_add(1, Ordering::Relaxed));
            },
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_millis(event["ms"].as_u64().unwrap_or(0)));
                json!("slept")
            }
            "alloc" => {
                let mut blocks: Vec<Vec<u8>> = Vec::new();
                loop {
                    blocks.push(vec![1; 1 << 20]);
                    std::hint::black_box(&blocks);
                }
            }
            "counter" => json!(COUNTER.fetch_add(1, Ordering::Relaxed) + 1),
            "context" => json!({
                "request_id": context.request_id,
                "function_name": context.function_name,
                "function_version": context.function_version,
                "invoked_function_arn": context.invoked_function_arn,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "deadline_ms": context.deadline_ms,
                "now_ms": std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64),
                "env": std::env::vars().collect::<std::collections::BTreeMap<_, _>>(),
            }),
            "store" => {
                let operation = event["operation"].as_str().unwrap_or_default();
                match store::call(operation, &event["request"].to_string()) {
                    Ok(response) => json!({"ok": serde_json::from_str::<Value>(&response).unwrap_or(Value::Null)}),
                    Err(e) => json!({"error": {"type": e.error_type, "message": e.message}}),
                }
            }
            "exit" => std::process::exit(event["code"].as_i64().unwrap_or(1) as i32),
            "flood" => {
                let line = "x".repeat(99);
                for _ in 0..event["bytes"].as_u64().unwrap_or(0) / 100 {
                    println!("{line}");
                }
                json!("flooded")
            }
            "sandbox" => json!({
                "file": std::fs::read_to_string("/etc/passwd").map(|s| s.len()).map_err(|e| e.to_string()),
                "dir": std::fs::read_dir(".").map(|_| ()).map_err(|e| e.to_string()),
                "tcp": std::net::TcpStream::connect("127.0.0.1:8000").map(|_| ()).map_err(|e| e.to_string()),
            }),
            "big" => {
                let bytes = event["bytes"].as_u64().unwrap_or(0).saturating_sub(2) as usize;
                return Ok(format!("\"{}\"", "x".repeat(bytes)));
            }
            "big_error" => {
                return Err(FunctionError {
                    error_type: "BigError".into(),
                    error_message: "e".repeat(event["bytes"].as_u64().unwrap_or(0) as usize),
                });
            }
            "long_line" => {
                let line =
                    format!("BEGIN{}", "x".repeat(event["bytes"].as_u64().unwrap_or(5).saturating_sub(5) as usize));
                if event["log"].as_bool() == Some(true) {
                    log(Level::Info, &line);
                } else {
                    println!("{line}");
                }
                json!("written")
            }
            "wait" => {
                let request = json!({
                    "TableName": event["table"],
                    "Key": {"pk": {"S": event["key"]}},
                    "ConsistentRead": true,
                })
                .to_string();
                loop {
                    if let Ok(response) = store::call("GetItem", &request)
                        && serde_json::from_str::<Value>(&response).is_ok_and(|r| r.get("Item").is_some())
                    {
                        break json!("released");
                    }
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            }
            other => {
                return Err(FunctionError {
                    error_type: "UnknownAction".into(),
                    error_message: format!("unknown action {other:?}"),
                });
            }
        };
        Ok(result.to_string())
    }
}

export!(Misbehave);
