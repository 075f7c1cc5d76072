//! A kept-alive HTTP/1.1 connection to a peer region's server, for the
//! replicator's and the replica jobs' requests.

use std::time::Duration;

use anyhow::Context;
use axum::body::Body;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How long a peer has to answer one request before the connection is
/// dropped and the request retried: a peer that is down or partitioned
/// must not hold a replicator forever.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest answer read from a peer: a strongly consistent read's
/// items (`strong.rs`) at most, as large as a request to it.
const MAX_PEER_RESPONSE_BYTES: usize = super::api::MAX_PEER_BODY_BYTES;

/// Connections kept for short requests (`strong.rs`'s claims and reads),
/// besides the one the replicator's batches use: a write that claims its
/// items must not queue behind a batch of changes, nor behind more than a
/// few other claims.
const QUICK_CONNECTIONS: usize = 4;

/// One peer's endpoint and the connection to it, opened on first use and
/// again after a failure.
pub struct PeerClient {
    authority: String,
    /// The peer's region and the key its requests are signed with (when
    /// authentication is on): SigV4 scopes a signature to the region.
    signer: Option<(String, crate::http::sigv4::Credential)>,
    conn: Connection,
    /// Connections for [`PeerClient::post_quick`].
    quick: [Connection; QUICK_CONNECTIONS],
    /// Round robin over `quick` when all are busy.
    next_quick: std::sync::atomic::AtomicUsize,
}

type Connection = tokio::sync::Mutex<Option<hyper::client::conn::http1::SendRequest<Body>>>;

/// `host:port` of an `http://host:port[/]` peer endpoint (the runtime's
/// reading of an engine's URL).
pub fn authority(url: &str) -> anyhow::Result<String> {
    tidepool_runtime::endpoint::authority(url).map_err(|e| anyhow::anyhow!("peer: {e}"))
}

impl PeerClient {
    pub fn new(authority: String) -> Self {
        PeerClient {
            authority,
            signer: None,
            conn: Connection::default(),
            quick: Default::default(),
            next_quick: Default::default(),
        }
    }

    /// A client whose requests are signed with `credential` for `region`.
    pub fn signed(authority: String, region: &str, credential: crate::http::sigv4::Credential) -> Self {
        PeerClient { signer: Some((region.to_string(), credential)), ..PeerClient::new(authority) }
    }

    /// [`PeerClient::post`] on one of the connections kept for short
    /// requests: the first idle one, else the next in turn.
    pub async fn post_quick(&self, path: &str, body: Vec<u8>) -> anyhow::Result<(u16, Vec<u8>)> {
        let idle = self.quick.iter().find_map(|c| c.try_lock().ok());
        let conn = match idle {
            Some(c) => c,
            None => {
                let i = self.next_quick.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % QUICK_CONNECTIONS;
                self.quick[i].lock().await
            }
        };
        self.post_on(conn, path, &[("content-type", "application/json")], body).await
    }

    /// POSTs a JSON body to `path`; the status and body of the answer.
    pub async fn post(&self, path: &str, body: Vec<u8>) -> anyhow::Result<(u16, Vec<u8>)> {
        self.post_with(path, &[("content-type", "application/json")], body).await
    }

    /// [`PeerClient::post`] with these headers (a DynamoDB call's target
    /// and content type, say).
    pub async fn post_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        // The wait for the connection is not the peer's time.
        let conn = self.conn.lock().await;
        self.post_on(conn, path, headers, body).await
    }

    async fn post_on(
        &self,
        mut conn: tokio::sync::MutexGuard<'_, Option<hyper::client::conn::http1::SendRequest<Body>>>,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let r = tokio::time::timeout(PEER_TIMEOUT, self.exchange(&mut conn, path, headers, body)).await;
        let r = match r {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!("no answer from {} within {PEER_TIMEOUT:?}", self.authority)),
        };
        if r.is_err() {
            *conn = None;
        }
        r
    }

    async fn exchange(
        &self,
        conn: &mut Option<hyper::client::conn::http1::SendRequest<Body>>,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        if conn.as_ref().is_none_or(|c| c.is_closed()) {
            let tcp = TcpStream::connect(&self.authority)
                .await
                .with_context(|| format!("connect to peer {}", self.authority))?;
            tcp.set_nodelay(true)?;
            let (send, driver) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
            tokio::spawn(async move {
                let _ = driver.await;
            });
            *conn = Some(send);
        }
        let send = conn.as_mut().expect("connected above");
        send.ready().await?;
        let mut request = axum::http::Request::post(path).header("host", &self.authority);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        if let Some((region, cred)) = &self.signer {
            for (k, v) in crate::http::auth::sign_request(cred, region, "POST", &self.authority, path, headers, &body) {
                request = request.header(k, v);
            }
        }
        let request = request.body(Body::from(body))?;
        let response = send.send_request(request).await?;
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(Body::new(response.into_body()), MAX_PEER_RESPONSE_BYTES).await?;
        Ok((status, bytes.to_vec()))
    }
}
