//! The HTTP server: the accept loop and every bound on client connections.
//!
//! This module owns sockets and their lifetimes: how many connections are
//! served at once ([`HttpLimits::max_connections`]), how long a connection
//! may take to send a request head, a body, or its next request, how long a
//! client may leave a response unread, and how the process's file
//! descriptors are shared between connections, fjall's table files and
//! everything else ([`DescriptorBudget`]). It speaks HTTP/1.1 through hyper
//! directly and hands each request to the axum [`Router`](axum::Router) of
//! the protocols; it knows nothing of DynamoDB or Lambda beyond the shape of
//! the throttling error it answers when it is full.
//!
//! - `limits.rs`: the named limits, [`HttpLimits`], the descriptor budget and
//!   raising the process's open-file limit.
//! - `conn.rs`: one connection's phase (waiting, reading a head, reading a
//!   body, handling) and the IO wrapper that enforces each phase's deadline.
//! - `serve.rs`: the accept loop, admission (serve, replace an idle
//!   connection, or throttle) and graceful shutdown.
//! - `front.rs`: the middleware in front of the protocols: request ids,
//!   CORS, the health check, the 404 of a non-API request, and DynamoDB's
//!   response coding and checksum.
//! - `sigv4.rs`: AWS Signature Version 4: parsing, the canonical request,
//!   verification against a keyring, and signing (the CLI's requests).
//! - `auth.rs`: authentication when it is on (`--auth`): the scope and
//!   error shape of each API, the body read to check its hash.
//! - `tls.rs`: HTTPS (`--tls-cert`/`--tls-key`, `--tls self-signed` and its
//!   local CA), and the client side of the CLI's commands.
//! - `encoding.rs`: gzip and deflate, request decoding under a decoded-size
//!   bound, and DynamoDB's `Accept-Encoding` negotiation.
//!
//! Rejected alternative: hyper's own `header_read_timeout`. In hyper 1.12 its
//! timer starts when hyper begins waiting for a request head, which on a
//! keep-alive connection is right after the previous response
//! (`proto/h1/conn.rs`, `State::idle` sets `notify_read` so the next
//! `poll_read_head` arms it). It is therefore one span covering both the idle
//! wait and the head, and cannot give a keep-alive connection 60 s of idleness
//! while cutting a slow head off after 10 s; nor does hyper bound a request
//! body or a stalled write. `conn.rs` times every phase in one place instead.

pub mod auth;
mod conn;
pub mod encoding;
pub mod front;
mod limits;
mod serve;
pub mod sigv4;
pub mod tls;

pub use limits::{
    BODY_READ_TIMEOUT, DESCRIPTOR_RESERVE, DescriptorBudget, HEADER_READ_TIMEOUT, HttpLimits, IDLE_TIMEOUT,
    MAX_CONNECTIONS, MAX_TABLE_FILES, MIN_CONNECTIONS, MIN_TABLE_FILES, READ_BUFFER_BYTES, WRITE_TIMEOUT,
    descriptor_limit, raise_descriptor_limit,
};
pub(crate) use serve::serve;

/// The client's address, in every request's extensions (function URLs'
/// `sourceIp`, IAM's `aws:SourceIp`).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// In the extensions of a request that arrived over TLS (IAM's
/// `aws:SecureTransport`).
#[derive(Debug, Clone, Copy)]
pub struct SecureTransport;

/// Where a network request came from, from what the server put in its
/// extensions: its client's address and whether it came over TLS.
pub fn origin_of(extensions: &axum::http::Extensions) -> crate::iam::Origin {
    crate::iam::Origin {
        source_ip: extensions.get::<PeerAddr>().map(|p| p.0.ip().to_canonical()),
        secure_transport: extensions.get::<SecureTransport>().is_some(),
    }
}
