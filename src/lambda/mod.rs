//! Lambda: deployed functions (the runtime's [`Registry`]) and event source
//! mappings (persisted here, run by the runtime's delivery [`Engine`]).

pub mod access;
pub mod api;
pub mod budget;
pub mod events;
pub mod invoke_config;
pub mod logs;
pub mod manifest;
pub mod permissions;
pub mod reset;
pub mod schedule;
pub mod seed;
pub mod urls;
pub mod versions;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};

use anyhow::Context;
use tidepool_runtime::esm::{
    ConfigError, ConfigErrorKind, Engine, InvokeFuture, InvokeOutcome, InvokeRequest, Invoker, MappingConfig,
    MappingParams, StoreLedger, SystemClock,
};
use tidepool_runtime::registry::{Registry, RegistryError};
use tidepool_runtime::{InvokeOptions, Runtime, RuntimeConfig};
use tidepool_store::Store;
pub(crate) use tidepool_store::now_ms;

use crate::bridge::ServerBridge;
use crate::dynamodb::{ACCOUNT_ID, App};

/// Mappings live in the store's system entries under this prefix.
const MAP_PREFIX: &[u8] = b"map/";

/// A Lambda-API failure: the error type Lambda reports and its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct LambdaError {
    /// `ResourceNotFoundException`, `ResourceConflictException`,
    /// `InvalidParameterValueException`, `ValidationException`,
    /// `TooManyRequestsException` or `ServiceException`.
    pub kind: &'static str,
    pub message: String,
}

impl LambdaError {
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        LambdaError { kind, message: message.into() }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        LambdaError::new("ResourceNotFoundException", message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        LambdaError::new("InvalidParameterValueException", message)
    }
}

impl From<RegistryError> for LambdaError {
    fn from(e: RegistryError) -> Self {
        let kind = match &e {
            RegistryError::NotFound(_) => "ResourceNotFoundException",
            RegistryError::Conflict(_) => "ResourceConflictException",
            RegistryError::InvalidParameter(_) => "InvalidParameterValueException",
            RegistryError::Precondition(_) => "PreconditionFailedException",
            RegistryError::CodeStorageExceeded(_) => "CodeStorageExceededException",
            RegistryError::Internal(_) => "ServiceException",
        };
        LambdaError::new(kind, e.to_string())
    }
}

impl From<ConfigError> for LambdaError {
    fn from(e: ConfigError) -> Self {
        let kind = match e.kind {
            ConfigErrorKind::Validation => "ValidationException",
            ConfigErrorKind::InvalidParameterValue => "InvalidParameterValueException",
        };
        LambdaError::new(kind, e.message)
    }
}

/// A store error is the server's fault (`ServiceException`, 500) only when
/// the store failed; a client's mistake (a table name or key the store
/// refuses, a table that exists or does not) is a 4xx.
impl From<tidepool_store::StoreError> for LambdaError {
    fn from(e: tidepool_store::StoreError) -> Self {
        use tidepool_store::StoreError;
        let kind = match &e {
            _ if !e.is_client_error() => "ServiceException",
            StoreError::ResourceNotFound(_) => "ResourceNotFoundException",
            StoreError::ResourceInUse(_) => "ResourceConflictException",
            _ => "InvalidParameterValueException",
        };
        LambdaError::new(kind, e.to_string())
    }
}

/// Everything Lambda-shaped the server holds.
pub struct Lambda {
    pub registry: Arc<Registry>,
    pub engine: Engine,
    store: Store,
    mappings: Mutex<BTreeMap<String, MappingConfig>>,
    /// Every invocation's framed log, per function.
    pub logs: Arc<logs::FunctionLogs>,
    /// Asynchronous (`Event`) invocations waiting or running.
    pub(crate) events: events::EventQueue,
    /// The byte budgets of request bodies being read or worked on.
    pub(crate) bodies: api::BodyBudgets,
    /// Cron schedules.
    pub schedules: schedule::Schedules,
    /// The server's own endpoint (`http://127.0.0.1:8000`): function URLs
    /// are served on its port.
    pub endpoint: Option<String>,
    /// Whether clients reach the server over HTTPS (`--tls-…`): function
    /// URLs are `https://` then.
    pub https: bool,
    /// How long CreateFunction waits for new code to compile before it
    /// answers `State: Pending` (milliseconds; [`api::ACTIVE_WAIT`] by
    /// default): a small Rust component is `Active` in the answer, a
    /// JavaScript or Python one (tens of MB, seconds to compile) is not.
    pub active_wait_ms: std::sync::atomic::AtomicU64,
    /// Where mappings read their streams (`tidepool workers --source`):
    /// another engine's Streams API instead of this store's streams.
    pub stream_source: Option<Arc<tidepool_runtime::endpoint::Endpoint>>,
    /// How a worker shares the source's shards with the rest of its fleet
    /// (with `stream_source`).
    pub leases: Option<tidepool_runtime::esm::LeaseOptions>,
}

/// Invokes a function by name, resolving it at each invocation, so a mapping
/// follows code and configuration updates.
/// A mapping on a version or an alias invokes that qualifier (an alias as
/// it stands at each invocation, so the mapping follows the alias).
struct ByName {
    registry: Arc<Registry>,
    name: String,
    qualifier: Option<String>,
    logs: Arc<logs::FunctionLogs>,
}

impl Invoker for ByName {
    fn function_arn(&self) -> String {
        self.registry.qualified_arn(&self.name, self.qualifier.as_deref())
    }

    fn invoke(&self, request: InvokeRequest) -> InvokeFuture {
        let function = self.registry.resolve(&self.name, self.qualifier.as_deref());
        let (logs, name) = (self.logs.clone(), self.name.clone());
        let (registry, qualifier) = (self.registry.clone(), self.qualifier.clone());
        Box::pin(async move {
            let request_id = uuid::Uuid::new_v4().to_string();
            // A function still being created (`Pending`) is waited for, as
            // Lambda's pollers wait for it to be `Active`.
            let mut function = function;
            while matches!(function, Err(RegistryError::Conflict(_))) {
                if !registry.is_pending(&name) {
                    // Active (or Failed) since: as it is now.
                    function = registry.resolve(&name, qualifier.as_deref());
                    break;
                }
                tokio::time::sleep(events::THROTTLE_RECHECK).await;
                function = registry.resolve(&name, qualifier.as_deref());
            }
            let mut function = match function {
                Ok(f) => f,
                Err(e) => return InvokeOutcome::failed(request_id, "ResourceNotFoundException", e.to_string()),
            };
            let deferring = match request.deferring(function.bridge().as_ref(), &request_id) {
                Ok(d) => d,
                Err(outcome) => return outcome,
            };
            // A throttled batch waits (it uses up no retry attempt) and looks
            // every second whether the function was replaced: its reserved
            // concurrency raised from 0 or removed, its code or alias moved.
            let permit = loop {
                let waited = {
                    let acquire = function.acquire();
                    tokio::pin!(acquire);
                    loop {
                        tokio::select! {
                            permit = &mut acquire => break Ok(permit),
                            _ = tokio::time::sleep(events::THROTTLE_RECHECK) => {
                                match registry.resolve(&name, qualifier.as_deref()) {
                                    Ok(now) if !Arc::ptr_eq(&now, &function) => break Err(now),
                                    Ok(_) => {}
                                    Err(e) => {
                                        return InvokeOutcome::failed(request_id, "ResourceNotFoundException", e.to_string());
                                    }
                                }
                            }
                        }
                    }
                };
                match waited {
                    Ok(permit) => break permit,
                    Err(replaced) => function = replaced,
                }
            };
            let version = function.config().version.clone();
            let mut options = InvokeOptions::new()
                .request_id(request_id.clone())
                .chain_depth(request.chain_depth)
                .cancel(request.cancel.clone());
            if let Some(d) = &deferring {
                options = options.bridge(d.clone());
            }
            let run = tokio::task::spawn_blocking(move || {
                let _running = logs.running(&name);
                let inv = function.invoke(permit, &request.event, options);
                logs.record(&name, &inv);
                inv
            });
            InvokeOutcome::of(run.await, request_id).with_writes(deferring.as_deref()).executed(&version)
        })
    }
}

/// Whether an engine runs `TransactWriteItems`, as its answer to
/// [`probe_transactions`] tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Probe {
    Supported,
    /// It does not (or does not let this worker): the error it answered.
    Unsupported(String),
    /// No answer to go by (unreachable, a server error, throttled).
    Unknown(String),
}

/// What an engine's answer to the probe says. An engine that knows the
/// operation looks at the request: it runs it, cancels it (the condition),
/// or finds no lease table yet (made when the mapping first runs), or
/// finds the request wanting.
pub(crate) fn classify_probe(answer: Result<serde_json::Value, tidepool_runtime::endpoint::CallError>) -> Probe {
    use tidepool_runtime::endpoint::CallError;
    match answer {
        Ok(_) => Probe::Supported,
        Err(e) if e.retryable() => Probe::Unknown(e.to_string()),
        Err(CallError::Api { kind, .. })
            if matches!(
                kind.as_str(),
                "TransactionCanceledException" | "ResourceNotFoundException" | "ConditionalCheckFailedException"
            ) =>
        {
            Probe::Supported
        }
        Err(CallError::Api { kind, message, .. }) => Probe::Unsupported(format!("{kind}: {message}")),
        Err(e) => Probe::Unsupported(e.to_string()),
    }
}

/// Asks the source engine whether it runs `TransactWriteItems`, with a
/// transaction that writes nothing: a condition check on an item of the
/// lease table that never exists.
pub(crate) async fn probe_transactions(endpoint: &tidepool_runtime::endpoint::Endpoint, table: &str) -> Probe {
    let request = serde_json::json!({"TransactItems": [{"ConditionCheck": {
        "TableName": table,
        "Key": {"leaseGroup": {"S": "#probe"}, "leaseKey": {"S": "#probe"}},
        "ConditionExpression": "attribute_not_exists(leaseKey)",
    }}]});
    let call = endpoint.call(tidepool_runtime::endpoint::Service::DynamoDb, "TransactWriteItems", &request);
    let wait = tidepool_runtime::endpoint::ENDPOINT_TIMEOUT + std::time::Duration::from_secs(1);
    match tokio::time::timeout(wait, call).await {
        Ok(answer) => classify_probe(answer),
        Err(_) => Probe::Unknown("no answer in time".into()),
    }
}

/// Why a worker without leases refuses an exactly-once mapping: its
/// checkpoints commit with the handler's writes through the leases.
const WORKER_WITHOUT_LEASES: &str = "ExactlyOnce on a worker (--source) commits the handler's writes with the checkpoint under the worker's lease, \
     and this worker has no lease table";

impl Lambda {
    /// Starts the wasm runtime (its compile cache under the data directory),
    /// loads the deployed functions and the mappings. Guests reach the store
    /// through `app`. Call [`Lambda::start_mappings`] once the server runs.
    /// `guest_memory_mb` bounds the guest memory reserved at once (0: the runtime's default).
    /// `endpoint` is the server's own URL, which guests' SDKs are handed and reach in process.
    pub fn open(
        app: Weak<App>,
        store: &Store,
        region: &str,
        guest_memory_mb: u32,
        endpoint: Option<String>,
    ) -> anyhow::Result<Lambda> {
        let cache = store.path().join("lambda").join("cache");
        let metrics = app.upgrade().map(|a| a.metrics.clone()).unwrap_or_default();
        let bridge = Arc::new(ServerBridge::new(app.clone()));
        let mut config = RuntimeConfig::new(cache);
        config.endpoint = endpoint.clone();
        if guest_memory_mb > 0 {
            config.max_guest_memory_mb = guest_memory_mb;
        }
        let runtime = Runtime::new(config, bridge.clone()).context("start the wasm runtime")?;
        let registry = Registry::open(store.clone(), runtime, region, ACCOUNT_ID).context("load functions")?;
        let mut mappings = BTreeMap::new();
        for (_, v) in store.sys_scan(MAP_PREFIX).context("read mappings")? {
            match serde_json::from_slice::<MappingConfig>(&v) {
                Ok(m) => {
                    mappings.insert(m.uuid.clone(), m);
                }
                Err(e) => tracing::error!(error = %e, "unreadable event source mapping skipped"),
            }
        }
        Ok(Lambda {
            registry: Arc::new(registry),
            engine: Engine::with_parts(
                store.clone(),
                region,
                Arc::new(SystemClock),
                Arc::new(StoreLedger::with_bridge(store.clone(), bridge)),
            ),
            store: store.clone(),
            mappings: Mutex::new(mappings),
            logs: Arc::new(logs::FunctionLogs::with_metrics(metrics)),
            events: events::EventQueue::new(),
            bodies: api::BodyBudgets::default(),
            schedules: schedule::Schedules::open(app, store, region)?,
            endpoint,
            https: false,
            active_wait_ms: (api::ACTIVE_WAIT.as_millis() as u64).into(),
            stream_source: None,
            leases: None,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, MappingConfig>> {
        self.mappings.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn invoker(&self, function: &str) -> Arc<dyn Invoker> {
        Arc::new(ByName {
            registry: self.registry.clone(),
            name: function.to_string(),
            qualifier: None,
            logs: self.logs.clone(),
        })
    }

    /// The invoker of mapping `m`: its function, qualified as its ARN is.
    fn mapping_invoker(&self, m: &MappingConfig) -> Arc<dyn Invoker> {
        // `arn:aws:lambda:<region>:<account>:function:<name>:<qualifier>`
        let qualifier = m.function_arn.split(':').nth(7).map(str::to_string);
        Arc::new(ByName {
            registry: self.registry.clone(),
            name: m.function_name.clone(),
            qualifier,
            logs: self.logs.clone(),
        })
    }

    /// Starts firing the persisted schedules (call after the mappings start).
    pub async fn start_schedules(&self) {
        self.schedules.start().await;
    }

    /// Starts delivery for every persisted mapping.
    pub async fn start_mappings(&self) {
        let all: Vec<MappingConfig> = self.lock().values().cloned().collect();
        for m in all {
            if let Err(e) = self.run_mapping(&m).await {
                tracing::error!(mapping = %m.uuid, error = %e, "event source mapping not started");
            }
        }
    }

    /// Refuses what a worker (`--source`) cannot deliver as promised: an
    /// exactly-once mapping commits its handler's writes with its
    /// checkpoint in one `TransactWriteItems` of the source engine, which
    /// must run it. An engine that cannot be asked now is given the benefit
    /// of the doubt (the commit would then stop delivery with a `PROBLEM`
    /// saying why).
    async fn check_worker(&self, m: &MappingConfig) -> Result<(), LambdaError> {
        if self.stream_source.is_none() || !m.exactly_once {
            return Ok(());
        }
        let Some(leases) = &self.leases else {
            return Err(LambdaError::invalid(WORKER_WITHOUT_LEASES));
        };
        match probe_transactions(&leases.endpoint, &leases.table).await {
            Probe::Supported => Ok(()),
            Probe::Unsupported(said) => Err(LambdaError::invalid(format!(
                "ExactlyOnce on a worker needs a source engine with transactions: the handler's writes and the \
                 checkpoint commit in one TransactWriteItems, and {} answered it with {said}",
                leases.endpoint.authority()
            ))),
            Probe::Unknown(why) => {
                tracing::warn!(mapping = %m.uuid, error = %why, "could not ask the source engine whether it runs transactions; the mapping is kept");
                Ok(())
            }
        }
    }

    /// Starts or restarts delivery for `m`, from this store's stream or from
    /// the stream source's.
    async fn run_mapping(&self, m: &MappingConfig) -> Result<(), tidepool_runtime::esm::ConfigError> {
        let invoker = self.mapping_invoker(m);
        match &self.stream_source {
            None => self.engine.upsert(m.clone(), invoker).await,
            Some(_) if m.exactly_once && self.leases.is_none() => {
                Err(tidepool_runtime::esm::ConfigError::invalid(WORKER_WITHOUT_LEASES))
            }
            Some(endpoint) => {
                let source = Arc::new(tidepool_runtime::esm::StreamsSource::new(endpoint.clone(), &m.event_source_arn));
                match &self.leases {
                    Some(options) => {
                        let leases = tidepool_runtime::esm::Leases::new(
                            options.clone(),
                            &m.function_arn,
                            &m.event_source_arn,
                            m.starting_position,
                        );
                        self.engine.upsert_leased(m.clone(), invoker, source, leases).await
                    }
                    None => self.engine.upsert_from(m.clone(), invoker, source).await,
                }
            }
        }
    }

    fn persist(&self, m: &MappingConfig) -> Result<(), LambdaError> {
        let json = serde_json::to_vec(m).map_err(|e| LambdaError::new("ServiceException", e.to_string()))?;
        self.store.sys_write(vec![([MAP_PREFIX, m.uuid.as_bytes()].concat(), Some(json))])?;
        Ok(())
    }

    /// Checks that the stream a mapping reads exists (here, or at the
    /// stream source: an engine that does not answer is given the benefit
    /// of the doubt, and the mapping waits for it).
    async fn check_source(&self, arn: &str) -> Result<(), LambdaError> {
        let not_found = || LambdaError::invalid(format!("Stream not found: {arn}"));
        let Some(endpoint) = &self.stream_source else {
            // (A witness copy's stream is no client's: `global_tables::witness`.)
            let found = tidepool_runtime::esm::config::parse_stream_arn(arn)
                .filter(|(table, _)| !self.store.describe_table(table).is_ok_and(|t| t.def.settings.witness_copy))
                .and_then(|(table, label)| self.store.stream(table, label))
                .is_some();
            return if found { Ok(()) } else { Err(not_found()) };
        };
        let request = serde_json::json!({"StreamArn": arn, "Limit": 1});
        match endpoint.call(tidepool_runtime::endpoint::Service::Streams, "DescribeStream", &request).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == "ResourceNotFoundException" || e.kind() == "ValidationException" => Err(not_found()),
            Err(e) => {
                tracing::warn!(stream = arn, error = %e, "the stream source did not describe the stream; the mapping waits for it");
                Ok(())
            }
        }
    }

    /// Refuses an on-failure destination that cannot take destination
    /// records: a table of this server's store (a worker's own, where its
    /// destination records go) that does not exist, or whose key is not a
    /// string partition key (and a string or number sort key), as Lambda
    /// refuses a destination it cannot use when it is set; delivery would
    /// otherwise stop at the first discard, retrying the batch.
    fn check_destination(&self, m: &MappingConfig) -> Result<(), LambdaError> {
        let Some(arn) = m.destination_arn() else { return Ok(()) };
        tidepool_runtime::esm::check_destination(&self.store, arn).map_err(|why| {
            LambdaError::invalid(format!(
                "The provided destination config DestinationConfig.OnFailure.Destination cannot be used: {arn}: \
                 {why}. Tidepool's on-failure destination is a table of this server's store with a string \
                 partition key: create it first."
            ))
        })
    }

    /// CreateEventSourceMapping: maps `params.event_source_arn` to `function`.
    pub async fn create_mapping(
        &self,
        function: &str,
        qualifier: Option<&str>,
        params: MappingParams,
    ) -> Result<MappingConfig, LambdaError> {
        let record = self.registry.get(function)?;
        let arn = self.registry.qualified_arn(&record.name, qualifier);
        let m = MappingConfig::create(params, &record.name, &arn, now_ms())?;
        self.check_source(&m.event_source_arn).await?;
        self.check_destination(&m)?;
        self.check_worker(&m).await?;
        if self.lock().values().any(|o| o.function_arn == m.function_arn && o.event_source_arn == m.event_source_arn) {
            return Err(LambdaError::new(
                "ResourceConflictException",
                format!(
                    "An event source mapping with event source ({}) and function ({}) already exists. Please update or delete the existing mapping with UUID {}",
                    m.event_source_arn,
                    m.function_name,
                    self.lock()
                        .values()
                        .find(|o| o.function_arn == m.function_arn && o.event_source_arn == m.event_source_arn)
                        .map(|o| o.uuid.clone())
                        .unwrap_or_default()
                ),
            ));
        }
        self.persist(&m)?;
        self.lock().insert(m.uuid.clone(), m.clone());
        self.run_mapping(&m).await?;
        Ok(m)
    }

    /// UpdateEventSourceMapping: new parameters (and optionally a new
    /// function) for mapping `uuid`; delivery restarts from its checkpoint.
    pub async fn update_mapping(
        &self,
        uuid: &str,
        function: Option<(&str, Option<&str>)>,
        params: MappingParams,
    ) -> Result<MappingConfig, LambdaError> {
        let mut m = self.mapping(uuid)?;
        if let Some((f, qualifier)) = function {
            let record = self.registry.get(f)?;
            m.function_name = record.name.clone();
            m.function_arn = self.registry.qualified_arn(&record.name, qualifier);
        }
        let sets_destination = params.destination_config.is_some();
        m.update(params, now_ms())?;
        // A destination is checked when it is set: a mapping whose table
        // went since can still be disabled or changed otherwise.
        if sets_destination {
            self.check_destination(&m)?;
        }
        self.check_worker(&m).await?;
        self.persist(&m)?;
        self.lock().insert(m.uuid.clone(), m.clone());
        self.run_mapping(&m).await?;
        Ok(m)
    }

    /// DeleteEventSourceMapping: stops delivery and forgets the checkpoints.
    pub async fn delete_mapping(&self, uuid: &str) -> Result<MappingConfig, LambdaError> {
        let m = self.mapping(uuid)?;
        self.engine.remove(uuid).await.map_err(|e| LambdaError::new("ServiceException", e.to_string()))?;
        self.store.sys_write(vec![([MAP_PREFIX, uuid.as_bytes()].concat(), None)])?;
        self.lock().remove(uuid);
        Ok(m)
    }

    /// The mapping `uuid`, with its last processing result from the engine.
    pub fn mapping(&self, uuid: &str) -> Result<MappingConfig, LambdaError> {
        let mut m = self.lock().get(uuid).cloned().ok_or_else(|| {
            LambdaError::not_found(format!(
                "The resource you requested does not exist. (Service: Lambda, Status Code: 404, Request ID: {uuid})"
            ))
        })?;
        if let Some(metrics) = self.engine.metrics(uuid) {
            m.last_processing_result = metrics.last_processing_result.clone();
        }
        Ok(m)
    }

    /// Every mapping, optionally of one function or one source.
    pub fn mappings(&self, function: Option<&str>, source: Option<&str>) -> Vec<MappingConfig> {
        let uuids: Vec<String> = self
            .lock()
            .values()
            .filter(|m| function.is_none_or(|f| m.function_name == f || m.function_arn == f))
            .filter(|m| source.is_none_or(|s| m.event_source_arn == s))
            .map(|m| m.uuid.clone())
            .collect();
        uuids.iter().filter_map(|u| self.mapping(u).ok()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidepool_runtime::endpoint::CallError;

    fn api(status: u16, kind: &str) -> Result<serde_json::Value, CallError> {
        Err(CallError::Api { status, kind: kind.into(), message: "m".into() })
    }

    #[test]
    fn the_probe_tells_engines_with_transactions_from_those_without() {
        assert_eq!(classify_probe(Ok(serde_json::json!({}))), Probe::Supported);
        // The operation is known: it cancelled, or the lease table is not made yet.
        for kind in ["TransactionCanceledException", "ResourceNotFoundException", "ConditionalCheckFailedException"] {
            assert_eq!(classify_probe(api(400, kind)), Probe::Supported, "{kind}");
        }
        // Not known, or not allowed: refused, with what the engine said.
        assert_eq!(
            classify_probe(api(400, "UnknownOperationException")),
            Probe::Unsupported("UnknownOperationException: m".into())
        );
        assert!(matches!(classify_probe(api(400, "AccessDeniedException")), Probe::Unsupported(_)));
        let html = Err(CallError::NotJson { status: 404, body: "<html>".into() });
        assert!(matches!(classify_probe(html), Probe::Unsupported(_)));
        // No answer to go by: the benefit of the doubt.
        assert!(matches!(classify_probe(Err(CallError::Transport("refused".into()))), Probe::Unknown(_)));
        assert!(matches!(classify_probe(api(500, "InternalServerError")), Probe::Unknown(_)));
        assert!(matches!(classify_probe(api(400, "ThrottlingException")), Probe::Unknown(_)));
    }
}
