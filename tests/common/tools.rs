//! Client tools the tests drive as a user would: the AWS CLI, both major
//! versions. Installed from the package registries under the target
//! directory on first use, and reused after.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The AWS CLI v1 release installed from PyPI.
pub const AWS_CLI_V1_VERSION: &str = "1.46.2";

/// An `aws` executable and its major version.
#[derive(Debug, Clone)]
pub struct AwsCli {
    pub path: PathBuf,
    pub major: u32,
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
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tools").join(format!("awscli-{AWS_CLI_V1_VERSION}"));
    let aws = root.join("bin").join("aws");
    if major_version(&aws) != Some(1) {
        eprintln!("installing awscli {AWS_CLI_V1_VERSION} from PyPI into {}", root.display());
        let _ = std::fs::remove_dir_all(&root);
        let status = Command::new("python3").args(["-m", "venv"]).arg(&root).status().expect("run python3 -m venv");
        assert!(status.success(), "python3 -m venv {} failed", root.display());
        let status = Command::new(root.join("bin").join("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(format!("awscli=={AWS_CLI_V1_VERSION}"))
            .status()
            .expect("run pip");
        assert!(status.success(), "pip install awscli=={AWS_CLI_V1_VERSION} failed");
    }
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
