//! Configuration of the runtime and of one function.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::RuntimeError;
use crate::limits::{
    DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_GUEST_MEMORY_MB, DEFAULT_MAX_LOG_BYTES, DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT,
    MAX_ENVIRONMENT_BYTES, MEMORY_MB, TIMEOUT_SECONDS,
};

/// How a [`Runtime`](crate::Runtime) is set up.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RuntimeConfig {
    /// Where precompiled components are kept, one file per content hash. Created if missing;
    /// the runtime must be the only writer.
    pub cache_dir: PathBuf,
    /// Invocations running at once over all functions; see [`DEFAULT_MAX_CONCURRENCY`].
    pub max_concurrency: u32,
    /// Captured log bytes kept per invocation; see [`DEFAULT_MAX_LOG_BYTES`].
    pub max_log_bytes: usize,
    /// Guest memory (MB) the running invocations may reserve together; see
    /// [`DEFAULT_MAX_GUEST_MEMORY_MB`]. An invocation reserves its function's memory size, or all
    /// of this when the memory size is larger (its guest is then limited to this).
    pub max_guest_memory_mb: u32,
    /// The server's own endpoint (`http://127.0.0.1:8000`), if the runtime runs inside one: a
    /// guest's HTTP requests to it are served in process through the store bridge, and guests
    /// find it in `AWS_ENDPOINT_URL`. `None`: a guest reaches only the hosts its function allows.
    pub endpoint: Option<String>,
}

impl RuntimeConfig {
    /// The defaults, with precompiled components kept in `cache_dir`.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        RuntimeConfig {
            cache_dir: cache_dir.into(),
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            max_log_bytes: DEFAULT_MAX_LOG_BYTES,
            max_guest_memory_mb: DEFAULT_MAX_GUEST_MEMORY_MB,
            endpoint: None,
        }
    }
}

/// A function's configuration, as Lambda's `CreateFunction` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FunctionConfig {
    /// The function's name.
    pub name: String,
    /// The function's ARN, which the guest sees as `invoked-function-arn`.
    pub arn: String,
    /// The version the guest sees: `$LATEST`.
    pub version: String,
    /// How long one invocation may run, 1 to 900 s (Lambda's default 3 s).
    pub timeout: Duration,
    /// The guest's memory limit in MB (1 MB = 1 MiB), 128 to 10240 (default 128).
    pub memory_mb: u32,
    /// Environment variables the guest sees, besides the `AWS_*` ones Lambda sets.
    pub environment: BTreeMap<String, String>,
    /// Invocations of this function running at once; `None` shares the runtime's pool only.
    /// `Some(0)` throttles every invocation, as Lambda's reserved concurrency of 0 does.
    pub reserved_concurrency: Option<u32>,
}

impl FunctionConfig {
    /// Lambda's defaults for a function `name` in `region` of account `account_id`.
    pub fn new(name: impl Into<String>, region: &str, account_id: &str) -> Self {
        let name = name.into();
        FunctionConfig {
            arn: format!("arn:aws:lambda:{region}:{account_id}:function:{name}"),
            name,
            version: "$LATEST".into(),
            timeout: DEFAULT_TIMEOUT,
            memory_mb: DEFAULT_MEMORY_MB,
            environment: BTreeMap::new(),
            reserved_concurrency: None,
        }
    }

    /// The region named in the ARN, if the ARN has one.
    pub fn region(&self) -> Option<&str> {
        self.arn.split(':').nth(3).filter(|region| !region.is_empty())
    }

    /// Checks the limits Lambda puts on a function's configuration.
    pub fn validate(&self) -> Result<(), RuntimeError> {
        let invalid = |field: &'static str, value: String, constraint: String| {
            Err(RuntimeError::InvalidConfig { field, value, constraint })
        };
        if self.name.is_empty() || self.name.len() > 64 {
            return invalid("name", self.name.clone(), "length between 1 and 64".into());
        }
        let whole_seconds = self.timeout.subsec_nanos() == 0;
        if !whole_seconds || !TIMEOUT_SECONDS.contains(&self.timeout.as_secs()) {
            return invalid(
                "timeout",
                format!("{:?}", self.timeout),
                format!("whole seconds between {} and {}", TIMEOUT_SECONDS.start(), TIMEOUT_SECONDS.end()),
            );
        }
        if !MEMORY_MB.contains(&self.memory_mb) {
            return invalid(
                "memory_mb",
                self.memory_mb.to_string(),
                format!("between {} and {}", MEMORY_MB.start(), MEMORY_MB.end()),
            );
        }
        let environment_bytes: usize = self.environment.iter().map(|(k, v)| k.len() + v.len()).sum();
        if environment_bytes > MAX_ENVIRONMENT_BYTES {
            return invalid(
                "environment",
                format!("{environment_bytes} bytes"),
                format!("at most {MAX_ENVIRONMENT_BYTES} bytes"),
            );
        }
        if let Some(key) = self.environment.keys().find(|k| !valid_env_name(k)) {
            return invalid("environment", key.clone(), "names matching [a-zA-Z][a-zA-Z0-9_]*".into());
        }
        Ok(())
    }

    /// The environment the guest sees: Lambda's reserved variables (the execution role's
    /// credentials among them, which an AWS SDK picks up), the server's endpoint for an SDK
    /// (`AWS_ENDPOINT_URL`, unless the function sets its own), then the function's own.
    pub(crate) fn guest_environment(&self, endpoint: Option<&str>) -> Vec<(String, String)> {
        let mut env = vec![
            ("AWS_LAMBDA_FUNCTION_NAME".to_string(), self.name.clone()),
            ("AWS_LAMBDA_FUNCTION_VERSION".to_string(), self.version.clone()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".to_string(), self.memory_mb.to_string()),
            ("AWS_ACCESS_KEY_ID".to_string(), GUEST_ACCESS_KEY_ID.to_string()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), GUEST_SECRET_ACCESS_KEY.to_string()),
            ("AWS_SESSION_TOKEN".to_string(), GUEST_SESSION_TOKEN.to_string()),
        ];
        if let Some(region) = self.region() {
            env.push(("AWS_REGION".into(), region.into()));
            env.push(("AWS_DEFAULT_REGION".into(), region.into()));
        }
        if let Some(endpoint) = endpoint
            && !self.environment.contains_key(ENDPOINT_VARIABLE)
        {
            env.push((ENDPOINT_VARIABLE.into(), endpoint.into()));
        }
        env.extend(self.environment.iter().map(|(k, v)| (k.clone(), v.clone())));
        env
    }

    /// The hosts this function's guest may send HTTP requests to besides the server's own
    /// endpoint: [`ALLOWED_HOSTS_VARIABLE`] of its environment, comma-separated.
    pub(crate) fn allowed_hosts(&self) -> Vec<String> {
        self.environment
            .get(ALLOWED_HOSTS_VARIABLE)
            .map(|v| v.split(',').map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect())
            .unwrap_or_default()
    }
}

/// The variable of a function's environment that lists the hosts its guest may reach over
/// `wasi:http` besides the server's own endpoint (Tidepool's setting, in the manifest as
/// `allowed_hosts`): comma-separated `host`, `host:port` or `*.domain` entries.
pub const ALLOWED_HOSTS_VARIABLE: &str = "TIDEPOOL_ALLOWED_HOSTS";

/// Where an AWS SDK finds its endpoint (the SDKs' shared setting): the server's own.
pub const ENDPOINT_VARIABLE: &str = "AWS_ENDPOINT_URL";

/// The credentials a guest's SDK signs with, as Lambda hands a function its role's: any are
/// accepted while the server's authentication is off, and requests to the server's endpoint
/// are served in process, unsigned checks or not.
pub const GUEST_ACCESS_KEY_ID: &str = "ASIATIDEPOOLHANDLER0";
pub const GUEST_SECRET_ACCESS_KEY: &str = "tidepool-handler-secret";
pub const GUEST_SESSION_TOKEN: &str = "tidepool-handler-session";

/// Lambda's rule for environment variable names.
fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic()) && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
