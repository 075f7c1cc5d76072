//! Client tools the tests drive as a user would: the AWS CLI, both major
//! versions. Installed from the package registries under the target
//! directory on first use, and reused after.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs a Python script with boto3 (HOME in `home`, no profile, CA bundle
/// or endpoint from the environment); returns what it printed, and fails
/// the test with its output if it fails.
pub async fn boto3(script: String, home: &Path) -> String {
    let py = python_with_boto3();
    let home = home.to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(py)
            .arg("-c")
            .arg(script)
            .env("HOME", home)
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_CA_BUNDLE")
            .env_remove("AWS_ENDPOINT_URL")
            .output()
            .expect("run python")
    })
    .await
    .expect("join the python runner");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    said
}

/// Held while a tool is checked and installed.
static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The AWS CLI v1 release installed from PyPI.
pub const AWS_CLI_V1_VERSION: &str = "1.46.2";

/// An `aws` executable and its major version.
#[derive(Debug, Clone)]
pub struct AwsCli {
    pub path: PathBuf,
    pub major: u32,
}

impl AwsCli {
    /// `aws --endpoint-url <endpoint> --output json` with local
    /// credentials, us-east-1, no pager or profile, `HOME` in `home`.
    pub fn command(&self, endpoint: &str, home: &Path) -> Command {
        let mut c = Command::new(&self.path);
        c.arg("--endpoint-url")
            .arg(endpoint)
            .args(["--output", "json"])
            .env("HOME", home)
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_PAGER", "")
            .env_remove("AWS_PROFILE");
        c
    }
}

/// The major version `aws --version` reports (`aws-cli/2.9.19 …`).
fn major_version(path: &Path) -> Option<u32> {
    let out = Command::new(path).arg("--version").output().ok()?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    text.split("aws-cli/").nth(1)?.split('.').next()?.parse().ok()
}

/// AWS CLI v1: `TIDEPOOL_AWS_CLI_V1`, or the PyPI release in a virtual
/// environment under the target directory (`python3 -m venv`, then pip).
pub fn aws_cli_v1() -> AwsCli {
    if let Some(path) = std::env::var_os("TIDEPOOL_AWS_CLI_V1") {
        let path = PathBuf::from(path);
        return AwsCli { major: major_version(&path).expect("TIDEPOOL_AWS_CLI_V1 runs"), path };
    }
    let root = venv("awscli", AWS_CLI_V1_VERSION, |root| major_version(&root.join("bin").join("aws")) == Some(1));
    let aws = root.join("bin").join("aws");
    AwsCli { major: major_version(&aws).expect("the installed aws runs"), path: aws }
}

/// AWS CLI v2, if this machine has it: `TIDEPOOL_AWS_CLI_V2`, or an `aws`
/// on the usual system paths that reports version 2 (Debian's `awscli`
/// package, which `.ci/run` installs; AWS's installer). It is not on
/// PyPI, so the tests cannot install it themselves.
pub fn aws_cli_v2() -> Option<AwsCli> {
    let candidates: Vec<PathBuf> = match std::env::var_os("TIDEPOOL_AWS_CLI_V2") {
        Some(p) => vec![PathBuf::from(p)],
        None => ["/usr/bin/aws", "/usr/local/bin/aws"].iter().map(PathBuf::from).collect(),
    };
    candidates.into_iter().find_map(|path| match major_version(&path) {
        Some(2) => Some(AwsCli { major: 2, path }),
        _ => None,
    })
}

/// The boto3 release installed from PyPI.
pub const BOTO3_VERSION: &str = "1.44.5";

/// A Python with boto3: the interpreter of a virtual environment under the
/// target directory (made once).
pub fn python_with_boto3() -> PathBuf {
    let ready = |root: &Path| {
        Command::new(root.join("bin").join("python"))
            .args(["-c", "import boto3"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    venv("boto3", BOTO3_VERSION, ready).join("bin").join("python")
}

/// The Prometheus client library installed from PyPI (its text parser).
pub const PROMETHEUS_CLIENT_VERSION: &str = "0.26.0";

/// A Python with `prometheus_client`, made once like [`python_with_boto3`].
pub fn python_with_prometheus_client() -> PathBuf {
    let ready = |root: &Path| {
        Command::new(root.join("bin").join("python"))
            .args(["-c", "import prometheus_client.parser"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    venv("prometheus_client", PROMETHEUS_CLIENT_VERSION, ready).join("bin").join("python")
}

/// moto, the AWS mock whose server speaks DynamoDB and DynamoDB Streams:
/// an independent Streams implementation from PyPI (issue 20).
pub const MOTO_VERSION: &str = "5.2.6";

/// moto's `moto_server` executable, installed once like [`python_with_boto3`].
pub fn moto_server() -> PathBuf {
    let ready = |root: &Path| root.join("bin").join("moto_server").exists();
    venv("moto[server]", MOTO_VERSION, ready).join("bin").join("moto_server")
}

/// A virtual environment under the target directory holding PyPI's
/// `package` at `version`, made (once) unless `ready` says it is there.
fn venv(package: &str, version: &str, ready: impl Fn(&Path) -> bool) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tools").join(format!("{package}-{version}"));
    // The tests of one binary run at once: one installs, the others wait.
    let _installing = INSTALLING.lock().unwrap_or_else(|p| p.into_inner());
    if !ready(&root) {
        eprintln!("installing {package} {version} from PyPI into {}", root.display());
        let _ = std::fs::remove_dir_all(&root);
        let status = Command::new("python3").args(["-m", "venv"]).arg(&root).status().expect("run python3 -m venv");
        assert!(status.success(), "python3 -m venv {} failed", root.display());
        let status = Command::new(root.join("bin").join("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(format!("{package}=={version}"))
            .status()
            .expect("run pip");
        assert!(status.success(), "pip install {package}=={version} failed");
    }
    root
}

/// A directory with `@aws-sdk/client-dynamodb` in its `node_modules`
/// (installed from npm once): an ES module written there imports it.
pub fn node_with_dynamodb_client() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tools").join("js-sdk");
    let _installing = INSTALLING.lock().unwrap_or_else(|p| p.into_inner());
    if !root.join("node_modules/@aws-sdk/client-dynamodb/package.json").exists() {
        eprintln!("installing @aws-sdk/client-dynamodb from npm into {}", root.display());
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("package.json"), r#"{"name": "tidepool-tests", "private": true, "type": "module"}"#)
            .unwrap();
        // No version: the AWS packages are not all served at one version.
        let status = Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "@aws-sdk/client-dynamodb"])
            .current_dir(&root)
            .status()
            .expect("run npm");
        assert!(status.success(), "npm install @aws-sdk/client-dynamodb failed");
    }
    root
}
