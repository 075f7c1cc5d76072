//! The runtime's errors. A guest's misbehaviour is not one of them: it is a
//! [`FunctionError`](crate::FunctionError) in the [`Invocation`](crate::Invocation).

use std::path::PathBuf;

use crate::code::CodeHash;

/// Why deploying or loading a function failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The component does not compile, or does not target the `tidepool:handler` world.
    #[error("invalid component {hash}: {reason}")]
    InvalidComponent { hash: CodeHash, reason: String },
    /// No component with this hash was compiled, and none is in the cache.
    #[error("no compiled component {hash}")]
    CodeNotFound { hash: CodeHash },
    /// A function's configuration is outside Lambda's limits.
    #[error("invalid {field} {value:?}: must be {constraint}")]
    InvalidConfig { field: &'static str, value: String, constraint: String },
    /// Reading or writing the cache directory failed.
    #[error("{action} {}: {source}", path.display())]
    Cache {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The wasm engine could not be set up (for example, no address space for the pool).
    #[error("set up the wasm engine: {0}")]
    Engine(String),
}
