//! The first hour, as a new user lives it, end to end through the real
//! binary: `tidepool new` scaffolds a handler, cargo builds it for
//! `wasm32-wasip2`, `tidepool deploy` applies its manifest to a running
//! server, the AWS CLI writes an item, the trigger's effect is read back
//! with the AWS CLI, `tidepool logs` shows the invocation, and `tidepool
//! reset` empties the server. A second test runs the README's "Handlers in
//! Python" steps the same way.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Runs a command to its end; fails the test with its output if it fails.
fn run(what: &str, cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn tidepool(endpoint: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tidepool"));
    cmd.env("TIDEPOOL_ENDPOINT", endpoint).env_remove("RUST_LOG");
    cmd
}

fn aws(cli: &common::tools::AwsCli, endpoint: &str, home: &Path) -> Command {
    let mut cmd = Command::new(&cli.path);
    cmd.arg("--endpoint-url")
        .arg(endpoint)
        .env("HOME", home)
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_PAGER", "")
        .env_remove("AWS_PROFILE");
    cmd
}

#[test]
fn from_a_new_project_to_a_working_trigger() {
    let cli = common::tools::aws_cli_v1();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut server, endpoint) = common::spawn_server(&[std::ffi::OsStr::new("--data-dir"), data.as_os_str()]);

    // Scaffold.
    let project = dir.path().join("hello");
    let out = run("tidepool new", tidepool(&endpoint).arg("new").arg("hello").arg("--dir").arg(&project));
    assert!(String::from_utf8_lossy(&out.stdout).contains("created"), "{out:?}");
    for file in ["Cargo.toml", "src/lib.rs", "tidepool.toml", "README.md", "rust-toolchain.toml"] {
        assert!(project.join(file).exists(), "{file}");
    }

    // Build as the project's README says. The target directory is shared
    // between runs (the first build of wit-bindgen takes a minute); the
    // component is then where the manifest expects it.
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("first-hour");
    eprintln!("building the scaffolded handler (about a minute the first time)");
    run(
        "cargo build",
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .current_dir(&project)
            .env("CARGO_TARGET_DIR", &target),
    );
    let wasm = Path::new("wasm32-wasip2/release/hello.wasm");
    std::fs::create_dir_all(project.join("target").join(wasm.parent().unwrap())).unwrap();
    std::fs::copy(target.join(wasm), project.join("target").join(wasm)).unwrap();

    // Deploy: two tables, the function, the mapping.
    let out = run("tidepool deploy", tidepool(&endpoint).arg("deploy").arg(project.join("tidepool.toml")));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("created table hello-items") && text.contains("created function hello"), "{text}");

    // Write through the AWS CLI; the trigger counts it.
    run(
        "aws put-item",
        aws(&cli, &endpoint, dir.path()).args([
            "dynamodb",
            "put-item",
            "--table-name",
            "hello-items",
            "--item",
            r#"{"id":{"S":"a"}}"#,
        ]),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = run(
            "aws get-item",
            aws(&cli, &endpoint, dir.path()).args([
                "dynamodb",
                "get-item",
                "--table-name",
                "hello-counts",
                "--key",
                r#"{"kind":{"S":"INSERT"}}"#,
            ]),
        );
        let compact: String = String::from_utf8_lossy(&out.stdout).split_whitespace().collect();
        if compact.contains(r#""n":{"N":"1"}"#) {
            break;
        }
        assert!(Instant::now() < deadline, "the trigger's effect never showed: {compact}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Its log: the line the handler wrote, with the invocation's lines.
    let out = run("tidepool logs", tidepool(&endpoint).args(["logs", "hello"]));
    let logs = String::from_utf8_lossy(&out.stdout);
    assert!(logs.contains("START RequestId: ") && logs.contains("INSERT {\"id\":{\"S\":\"a\"}}"), "{logs}");

    // Reset: an empty server for the next test.
    run("tidepool reset", tidepool(&endpoint).args(["reset", "--yes"]));
    let out = run("aws list-tables", aws(&cli, &endpoint, dir.path()).args(["dynamodb", "list-tables"]));
    let compact: String = String::from_utf8_lossy(&out.stdout).split_whitespace().collect();
    assert_eq!(compact, r#"{"TableNames":[]}"#);
    server.kill().unwrap();
    server.wait().unwrap();
}

/// The README's "Handlers in Python", from an empty directory: its handler
/// and manifest blocks written as files, then its shell steps run as
/// written (`tidepool build`, `tidepool deploy`, the AWS CLI's put-item and
/// get-item) against a running server, until the trigger's count shows.
#[test]
fn the_readme_python_handler_runs_from_an_empty_directory() {
    readme_handler_runs("### Handlers in Python", "python", "lambda_function.py");
}

/// The README's "Handlers in JavaScript and TypeScript" the same way: its
/// shell steps install the AWS SDK for JavaScript from npm first.
#[test]
fn the_readme_javascript_handler_runs_from_an_empty_directory() {
    readme_handler_runs("### Handlers in JavaScript and TypeScript", "javascript", "index.mjs");
}

/// Runs the README section `heading`: its `lang` block is the handler's
/// file `file` in `my-handler/`.
fn readme_handler_runs(heading: &str, lang: &str, file: &str) {
    let cli = common::tools::aws_cli_v1();
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme.find(heading).expect("the README's section");
    let section = &readme[start..];
    let section = &section[..section[4..].find("\n### ").map_or(section.len(), |i| i + 4)];
    let block = |lang: &str| {
        let open = format!("```{lang}\n");
        let from = section.find(&open).unwrap_or_else(|| panic!("a {lang} block")) + open.len();
        &section[from..from + section[from..].find("```").unwrap()]
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("my-handler")).unwrap();
    std::fs::write(dir.path().join("my-handler").join(file), block(lang)).unwrap();
    std::fs::write(dir.path().join("tidepool.toml"), block("toml")).unwrap();
    let data = dir.path().join("data");
    let (server, endpoint) = common::spawn_server(&[std::ffi::OsStr::new("--data-dir"), data.as_os_str()]);
    /// Stops the server however the test ends.
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Stop(server);

    let lines: Vec<&str> = block("sh").lines().filter(|l| !l.trim().is_empty()).collect();
    let (last, steps) = lines.split_last().unwrap();
    let shell = |line: &str| {
        let line = line
            .replacen("tidepool ", &format!("{} ", env!("CARGO_BIN_EXE_tidepool")), 1)
            .replacen("aws ", &format!("{} ", cli.path.display()), 1)
            .replace("http://localhost:8000", &endpoint);
        let mut sh = Command::new("sh");
        sh.arg("-c").arg(&line).current_dir(dir.path()).env("TIDEPOOL_ENDPOINT", &endpoint);
        // The AWS CLI's environment (credentials, region, a private HOME)
        // for its steps only: `tidepool build` keeps its tools in the real
        // HOME's cache.
        if line.starts_with(&cli.path.display().to_string()) {
            let env = aws(&cli, &endpoint, dir.path());
            for (k, v) in env.get_envs() {
                match v {
                    Some(v) => sh.env(k, v),
                    None => sh.env_remove(k),
                };
            }
        }
        sh
    };
    for step in steps {
        eprintln!("README step: {step}");
        run(step, &mut shell(step));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = run(last, &mut shell(last));
        let compact: String = String::from_utf8_lossy(&out.stdout).split_whitespace().collect();
        if compact.contains(r#""n":{"N":"1"}"#) {
            break;
        }
        assert!(Instant::now() < deadline, "the trigger's effect never showed: {compact}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `tidepool dev`: from a directory with a JavaScript handler and its
/// manifest, it builds the handler, serves it, and when the handler's
/// source changes it rebuilds and redeploys it, until SIGTERM stops it and
/// its server.
#[test]
fn dev_rebuilds_and_redeploys_a_changed_handler() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let handler = dir.path().join("my-handler");
    std::fs::create_dir_all(&handler).unwrap();
    let write = |version: &str| {
        let code = format!("export const handler = async (event, context) => \"{version}\";\n");
        std::fs::write(handler.join("index.mjs"), code).unwrap();
    };
    write("v1");
    let manifest = "[[function]]\nname = \"hello\"\ncode = \"my-handler/my-handler.wasm\"\n";
    std::fs::write(dir.path().join("tidepool.toml"), manifest).unwrap();
    let mut dev = Command::new(env!("CARGO_BIN_EXE_tidepool"))
        .current_dir(dir.path())
        .args(["dev", "tidepool.toml", "--", "--port", "0", "--in-memory"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    /// Stops `tidepool dev` (and so its server) however the test ends.
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let pid = rustix::process::Pid::from_child(&self.0);
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            let _ = self.0.wait();
        }
    }
    let stdout = dev.stdout.take().unwrap();
    let dev = Stop(dev);
    let mut lines = BufReader::new(stdout).lines();
    let endpoint = loop {
        let line = lines.next().expect("tidepool dev printed its server's address").unwrap();
        if let Some(url) = line.strip_prefix("tidepool listening on ") {
            break url.trim().to_string();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    let invoke = || {
        let out = Command::new(env!("CARGO_BIN_EXE_tidepool"))
            .args(["invoke", "hello", "--endpoint", &endpoint])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(invoke(), r#""v1""#);
    write("v2");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = invoke();
        if got == r#""v2""# {
            break;
        }
        assert!(Instant::now() < deadline, "the change was never deployed: {got}");
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(dev);
    assert!(invoke().is_empty(), "the server stopped with tidepool dev");
}
