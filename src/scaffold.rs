//! `tidepool new <name>`: a handler project to start from. A Rust crate
//! on the `tidepool-guest` crate (this repository's `guest/`), its
//! manifest (a table with a stream, a table it writes to, the function and
//! the mapping between them), the toolchain file that brings the
//! `wasm32-wasip2` target, and a README with the next steps.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// Where this binary's source tree keeps the guest crate; a project made
/// by a binary built elsewhere names it with `--guest`.
const GUEST_CRATE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/guest");

/// The toolchain the guest crate is built and tested with.
const TOOLCHAIN: &str = include_str!("../rust-toolchain.toml");

/// The longest project name: it prefixes table names (at most 255) and
/// names the crate.
const MAX_NAME_LEN: usize = 64;

/// Checks a project name: it names a crate, a function and two tables.
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        anyhow::bail!(
            "project name {name:?}: use 1 to {MAX_NAME_LEN} of a-z, 0-9, - and _, starting with a letter \
             (it names the crate, the function and its tables)"
        );
    }
    Ok(())
}

/// Writes the project `name` into the new directory `dir`; returns what it
/// wrote. `guest` is the `tidepool-guest` crate to depend on.
pub fn new_project(name: &str, dir: &Path, guest: Option<&Path>) -> anyhow::Result<Vec<PathBuf>> {
    check_name(name)?;
    if dir.exists() {
        anyhow::bail!("{} already exists; pick another name or directory", dir.display());
    }
    let guest = match guest {
        Some(g) => g.to_path_buf(),
        None => PathBuf::from(GUEST_CRATE),
    };
    let guest = guest.canonicalize().with_context(|| {
        format!(
            "the tidepool-guest crate is not at {} (this binary was built elsewhere): pass --guest <path to guest/>",
            guest.display()
        )
    })?;
    let wasm = format!("target/wasm32-wasip2/release/{}.wasm", name.replace('-', "_"));
    let files = [
        ("Cargo.toml", cargo_toml(name, &guest)),
        ("rust-toolchain.toml", TOOLCHAIN.to_string()),
        ("src/lib.rs", LIB_RS.to_string()),
        ("tidepool.toml", manifest(name, &wasm)),
        ("README.md", readme(name, &wasm)),
        (".gitignore", "/target\n".to_string()),
    ];
    let mut written = Vec::new();
    for (file, text) in files {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

fn cargo_toml(name: &str, guest: &Path) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

# A handler is a WebAssembly component: `cargo build --release --target wasm32-wasip2`.
[lib]
crate-type = ["cdylib"]

[dependencies]
tidepool-guest = {{ path = {guest:?} }}
serde_json = "1"

[profile.release]
# Small components; the server compiles them with Cranelift anyway.
opt-level = "s"

# A project of its own, even inside another workspace.
[workspace]
"#,
        guest = guest.display().to_string()
    )
}

const LIB_RS: &str = r#"//! Counts the changes to the items table by kind (INSERT, MODIFY, REMOVE)
//! into the counts table: `Counts[kind].n`. Replace `handle` with yours.

use serde_json::{Value, json};
use tidepool_guest::{Context, Error, handler, log, store};

fn handle(event: Value, _context: &Context) -> Result<Value, Error> {
    // The manifest sets the table to write to in the function's environment.
    let counts = std::env::var("COUNTS_TABLE").map_err(|_| Error::new("Config", "COUNTS_TABLE is not set"))?;
    for record in event["Records"].as_array().into_iter().flatten() {
        let kind = record["eventName"].as_str().unwrap_or("UNKNOWN");
        log::info(&format!("{kind} {}", record["dynamodb"]["Keys"]));
        store::update_item(json!({
            "TableName": counts,
            "Key": {"kind": {"S": kind}},
            "UpdateExpression": "ADD n :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }))?;
    }
    Ok(json!({}))
}

handler!(handle);
"#;

fn manifest(name: &str, wasm: &str) -> String {
    format!(
        r#"# Apply with `tidepool deploy tidepool.toml` (or `tidepool serve --manifest tidepool.toml`).

[[table]]
name = "{name}-items"
partition_key = "id:S"
stream = "NEW_AND_OLD_IMAGES"

[[table]]
name = "{name}-counts"
partition_key = "kind:S"

[[function]]
name = "{name}"
code = "{wasm}"
timeout = 3
memory = 128
environment = {{ COUNTS_TABLE = "{name}-counts" }}

[[mapping]]
function = "{name}"
table = "{name}-items"
StartingPosition = "TRIM_HORIZON"
BatchSize = 100
"#
    )
}

fn readme(name: &str, wasm: &str) -> String {
    format!(
        r#"# {name}

A Tidepool handler: on every change to `{name}-items` it counts the change's
kind in `{name}-counts`.

```sh
cargo build --release --target wasm32-wasip2     # → {wasm}
tidepool deploy tidepool.toml                     # the tables, the function, the mapping

export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
aws dynamodb --endpoint-url http://localhost:8000 put-item --table-name {name}-items --item '{{"id":{{"S":"a"}}}}'
aws dynamodb --endpoint-url http://localhost:8000 get-item --table-name {name}-counts --key '{{"kind":{{"S":"INSERT"}}}}'
tidepool logs {name}
```

Edit `src/lib.rs`, build and deploy again: the function's code is replaced,
the rest is unchanged. See the `tidepool-guest` crate's documentation for
the store calls and logging.
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("hello-world_2").is_ok());
        for bad in ["", "Hello", "2x", "a b", "a/b", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_project_is_written_once() {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("hello");
        let files = new_project("hello", &at, None).unwrap();
        assert_eq!(files.len(), 6);
        let cargo = std::fs::read_to_string(at.join("Cargo.toml")).unwrap();
        assert!(cargo.contains("tidepool-guest = { path = ") && cargo.contains("crate-type = [\"cdylib\"]"));
        let manifest =
            crate::lambda::manifest::Manifest::parse(&std::fs::read_to_string(at.join("tidepool.toml")).unwrap())
                .unwrap();
        assert_eq!(manifest.tables.len(), 2);
        assert_eq!(manifest.functions[0].environment["COUNTS_TABLE"], "hello-counts");
        assert!(new_project("hello", &at, None).is_err(), "an existing directory is kept");
    }
}
