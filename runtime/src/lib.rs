//! The wasmtime host, stream triggers, delivery, checkpoints and cron (issue 4; not built yet).
