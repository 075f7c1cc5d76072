//! HTTPS: the server's TLS configuration, a self-signed certificate for
//! local use, and the client side the CLI's commands use.
//!
//! TLS is off by default, as DynamoDB Local's endpoint is plain HTTP. It is
//! switched on by a certificate and key in PEM files (`--tls-cert`,
//! `--tls-key`), or by `--tls self-signed`: Tidepool then makes a local
//! certificate authority and a server certificate it signs, keeps both under
//! `<data dir>/tls/`, and reuses them on every start, so a client trusts the
//! CA once (as `mkcert` does). A CA and a leaf, rather than one self-signed
//! certificate: rustls and webpki refuse a CA certificate as a server's, and
//! OpenSSL-based clients (the AWS CLI, boto3, curl) check a leaf against a CA
//! file more reliably than a self-signed leaf.
//!
//! The stack is rustls with ring (TLS 1.2 and 1.3, rustls's safe defaults),
//! the crates wasmtime-wasi-http already builds. ALPN offers `http/1.1` only:
//! the server speaks HTTP/1.1, and a client offering only `h2` is refused at
//! the handshake rather than misunderstood after it. The handshake runs on
//! the connection's clock (`conn.rs`): it counts towards the first request
//! head's timeout, and a stalled write is cut off as any other.
//!
//! Handlers are not affected: their requests to the server's own endpoint
//! are served in process (`tidepool_runtime::outbound`) and never cross a
//! socket, so their `AWS_ENDPOINT_URL` stays `http://`.

use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::{Deserialize, Serialize};

/// How long a self-signed server certificate is valid: 825 days, the most
/// Apple's platforms accept for a trusted TLS server certificate (others
/// accept more), so the certificate works in every browser once its CA is
/// trusted.
pub const SELF_SIGNED_LEAF_DAYS: u64 = 825;

/// How long the local CA is valid. Trusting it is the manual step, so it
/// outlives many server certificates.
pub const SELF_SIGNED_CA_DAYS: u64 = 10 * 365;

/// A server certificate expiring within this many days is replaced at start
/// (by the same CA, so clients need nothing new).
pub const RENEW_BEFORE_DAYS: u64 = 30;

/// The PEM files of a certificate chain or key are read up to this size: a
/// real chain is a few KB.
pub const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// The directory under the data directory that holds the self-signed files.
pub const SELF_SIGNED_DIR: &str = "tls";

/// The file names in [`SELF_SIGNED_DIR`].
pub const CA_FILE: &str = "ca.pem";
const CA_KEY_FILE: &str = "ca-key.pem";
const CERT_FILE: &str = "cert.pem";
const KEY_FILE: &str = "key.pem";

const DAY: u64 = 86_400;

/// The server's TLS setup.
pub struct Tls {
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
    /// What the server was given, for its start-up line.
    pub description: String,
    /// The CA a client must trust, when Tidepool made the certificate.
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("description", &self.description).field("ca_file", &self.ca_file).finish()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_pem(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).with_context(|| format!("open the TLS {what} {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("read the TLS {what} {}", path.display()))?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        bail!("the TLS {what} {} is larger than {MAX_PEM_BYTES} bytes", path.display());
    }
    Ok(bytes)
}

/// The certificates of a PEM file, in order (the server's first).
pub fn load_certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = read_pem(path, "certificate file")?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parse the TLS certificate file {}", path.display()))?;
    if certs.is_empty() {
        bail!("the TLS certificate file {} holds no CERTIFICATE section", path.display());
    }
    Ok(certs)
}

fn load_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let pem = read_pem(path, "key file")?;
    PrivateKeyDer::from_pem_slice(&pem).with_context(|| {
        format!(
            "the TLS key file {} holds no private key (PKCS#8, PKCS#1 or SEC1, in PEM) that can be read",
            path.display()
        )
    })
}

impl Tls {
    /// HTTPS with the certificate chain and key of two PEM files.
    pub fn from_files(cert: &Path, key: &Path) -> anyhow::Result<Tls> {
        let chain = load_certificates(cert)?;
        let key_der = load_key(key)?;
        let acceptor = acceptor(chain, key_der)
            .with_context(|| format!("use the TLS certificate {} with the key {}", cert.display(), key.display()))?;
        Ok(Tls { acceptor, description: format!("certificate {}", cert.display()), ca_file: None })
    }

    /// HTTPS with Tidepool's own certificate for `names`, made under `dir`
    /// on first use and reused after (see the module's documentation).
    pub fn self_signed(dir: &Path, names: &[String]) -> anyhow::Result<Tls> {
        let load = || -> anyhow::Result<tokio_rustls::TlsAcceptor> {
            acceptor(load_certificates(&dir.join(CERT_FILE))?, load_key(&dir.join(KEY_FILE))?)
                .with_context(|| format!("use the self-signed certificate in {}", dir.display()))
        };
        let mut made = SelfSigned::ensure(dir, names, false)?;
        let acceptor = match load() {
            Ok(a) => a,
            // Files changed by hand, or from before a crash: made again.
            Err(e) if !made.renewed => {
                tracing::warn!(error = format!("{e:#}"), "the self-signed certificate did not load; making a new one");
                made = SelfSigned::ensure(dir, names, true)?;
                load()?
            }
            Err(e) => return Err(e),
        };
        let ca_file = dir.join(CA_FILE);
        let description = format!(
            "a certificate for {} issued by Tidepool's local CA {} ({}valid until {})",
            made.meta.names.join(", "),
            ca_file.display(),
            if made.renewed { "made now, " } else { "" },
            made.meta.not_after_date()
        );
        Ok(Tls { acceptor, description, ca_file: Some(ca_file) })
    }

    /// How to make clients trust the self-signed CA, one line each.
    pub fn trust_hints(&self) -> Vec<String> {
        let Some(ca) = &self.ca_file else { return Vec::new() };
        let ca = ca.display();
        vec![
            format!("AWS CLI, boto3 and the tidepool CLI: export AWS_CA_BUNDLE={ca}"),
            format!("Node.js (AWS SDK for JavaScript): export NODE_EXTRA_CA_CERTS={ca}"),
            format!("curl: --cacert {ca}"),
            format!(
                "the whole system (Debian, Ubuntu): sudo cp {ca} /usr/local/share/ca-certificates/tidepool.crt && sudo update-ca-certificates"
            ),
        ]
    }
}

/// The names a self-signed certificate covers for a server bound to `host`
/// in `region`: the loopback names, the host names of function URLs
/// (`<url-id>.lambda-url.<region>.localhost`), and the bound address when
/// it is a specific one.
pub fn self_signed_names(host: IpAddr, region: &str) -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    if !region.is_empty() && region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        names.push(format!("*.lambda-url.{}.localhost", region.to_ascii_lowercase()));
    }
    if !host.is_unspecified() && !host.is_loopback() {
        names.push(host.to_string());
    }
    names
}

fn acceptor(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => anyhow::anyhow!("the private key does not match the certificate"),
            e => anyhow::anyhow!("the certificate or the key cannot be used: {e}"),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// What `--tls self-signed` keeps of its CA: written once with it, never
/// rewritten while the CA is kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CaMeta {
    /// The CA's common name: its issuer name in every certificate it signs.
    name: String,
    /// When the CA expires (seconds since the epoch).
    not_after: u64,
}

/// What `--tls self-signed` keeps of its server certificate.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LeafMeta {
    /// The names the server certificate covers.
    names: Vec<String>,
    /// Its validity (seconds since the epoch).
    not_before: u64,
    not_after: u64,
}

impl LeafMeta {
    fn not_after_date(&self) -> String {
        time::OffsetDateTime::from_unix_timestamp(self.not_after as i64)
            .map(|t| t.date().to_string())
            .unwrap_or_else(|_| self.not_after.to_string())
    }
}

const CA_META_FILE: &str = "ca.json";
const LEAF_META_FILE: &str = "cert.json";
/// Held (an exclusive file lock) while the files are checked and made, so
/// two servers starting on one directory (`--in-memory` shares the default
/// one) never interleave their writes.
const LOCK_FILE: &str = ".lock";

struct SelfSigned {
    meta: LeafMeta,
    /// Whether the server certificate was made by this start.
    renewed: bool,
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs()
}

fn datetime(secs: u64) -> anyhow::Result<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp(secs as i64).context("a certificate date")
}

/// The names the local CA may vouch for: `localhost` and its subdomains,
/// loopback, private and link-local addresses. A CA whose key sits in a
/// data directory (copied into CI caches, containers, tarballs) must not be
/// able to impersonate any other site once someone trusts it system-wide.
fn permitted_subtrees() -> Vec<rcgen::GeneralSubtree> {
    use rcgen::{CidrSubnet, GeneralSubtree};
    let mut subtrees = vec![GeneralSubtree::DnsName("localhost".into())];
    for (addr, prefix) in
        [([127, 0, 0, 0], 8), ([10, 0, 0, 0], 8), ([172, 16, 0, 0], 12), ([192, 168, 0, 0], 16), ([169, 254, 0, 0], 16)]
    {
        subtrees.push(GeneralSubtree::IpAddress(CidrSubnet::from_v4_prefix(addr, prefix)));
    }
    for (addr, prefix) in [
        (std::net::Ipv6Addr::LOCALHOST, 128),
        ("fc00::".parse().unwrap_or(std::net::Ipv6Addr::UNSPECIFIED), 7),
        ("fe80::".parse().unwrap_or(std::net::Ipv6Addr::UNSPECIFIED), 10),
    ] {
        subtrees.push(GeneralSubtree::IpAddress(CidrSubnet::from_v6_prefix(addr.octets(), prefix)));
    }
    subtrees
}

/// Whether the local CA's name constraints allow `name`.
fn permitted(name: &str) -> bool {
    match name.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private() || ip.is_link_local(),
        Ok(IpAddr::V6(ip)) => {
            ip.is_loopback() || (ip.segments()[0] & 0xfe00) == 0xfc00 || (ip.segments()[0] & 0xffc0) == 0xfe80
        }
        Err(_) => {
            let n = name.trim_start_matches("*.").to_ascii_lowercase();
            n == "localhost" || n.ends_with(".localhost")
        }
    }
}

fn ca_params(name: &str, not_before: u64, not_after: u64) -> anyhow::Result<rcgen::CertificateParams> {
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "Tidepool local development CA");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    params.name_constraints =
        Some(rcgen::NameConstraints { permitted_subtrees: permitted_subtrees(), excluded_subtrees: Vec::new() });
    params.not_before = datetime(not_before)?;
    params.not_after = datetime(not_after)?;
    Ok(params)
}

/// Writes `bytes` to `path` through a new temporary file and a rename,
/// readable by the owner only when `secret`.
fn write_file(path: &Path, bytes: &[u8], secret: bool) -> anyhow::Result<()> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("{}-{n}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(&tmp).with_context(|| format!("create {}", tmp.display()))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("rename {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok())
}

impl SelfSigned {
    /// The files under `dir`, made or renewed as needed; `reissue` makes a
    /// new server certificate even if the one there looks usable (it did
    /// not load).
    fn ensure(dir: &Path, names: &[String], reissue: bool) -> anyhow::Result<SelfSigned> {
        if let Some(outside) = names.iter().find(|n| !permitted(n)) {
            bail!(
                "--tls self-signed covers localhost and loopback, private and link-local addresses, not {outside}: \
                 give that server a certificate with --tls-cert and --tls-key"
            );
        }
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .with_context(|| format!("open {}", dir.join(LOCK_FILE).display()))?;
        lock.lock().with_context(|| format!("lock {}", dir.join(LOCK_FILE).display()))?;
        let now = now_secs();
        let leaf_until = now + SELF_SIGNED_LEAF_DAYS * DAY;
        let [ca_file, ca_key_file, cert_file, key_file] =
            [CA_FILE, CA_KEY_FILE, CERT_FILE, KEY_FILE].map(|f| dir.join(f));
        let ca_meta: Option<CaMeta> = read_json(&dir.join(CA_META_FILE));
        let ca_files = ca_file.is_file() && ca_key_file.is_file();
        let ca_usable = ca_files && ca_meta.as_ref().is_some_and(|m| m.not_after > leaf_until);
        let leaf_meta: Option<LeafMeta> = read_json(&dir.join(LEAF_META_FILE));
        if let Some(meta) = &leaf_meta
            && !reissue
            && ca_usable
            && cert_file.is_file()
            && key_file.is_file()
            && meta.not_before <= now
            && meta.not_after > now + RENEW_BEFORE_DAYS * DAY
            && names.iter().all(|n| meta.names.contains(n))
        {
            return Ok(SelfSigned { meta: meta.clone(), renewed: false });
        }
        // The CA: kept while it outlives the next server certificate, so a
        // client that trusts it goes on trusting the server.
        let (ca, ca_key) = match ca_meta.filter(|_| ca_usable) {
            Some(meta) => {
                let pem =
                    std::fs::read_to_string(&ca_key_file).with_context(|| format!("read {}", ca_key_file.display()))?;
                let key = rcgen::KeyPair::from_pem(&pem).with_context(|| format!("parse {}", ca_key_file.display()))?;
                (meta, key)
            }
            None => {
                if ca_files {
                    tracing::warn!(
                        ca = %ca_file.display(),
                        "the local CA is expiring or its record {CA_META_FILE} is missing: a new CA replaces it, \
                         and clients must trust the new {CA_FILE}"
                    );
                }
                let meta = CaMeta {
                    name: format!("Tidepool local CA {}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
                    not_after: now + SELF_SIGNED_CA_DAYS * DAY,
                };
                let key = rcgen::KeyPair::generate().context("generate the CA key")?;
                let cert = ca_params(&meta.name, now.saturating_sub(DAY), meta.not_after)?
                    .self_signed(&key)
                    .context("make the CA certificate")?;
                write_file(&ca_key_file, key.serialize_pem().as_bytes(), true)?;
                write_file(&ca_file, cert.pem().as_bytes(), false)?;
                write_file(&dir.join(CA_META_FILE), &serde_json::to_vec_pretty(&meta)?, false)?;
                (meta, key)
            }
        };
        let issuer = rcgen::Issuer::new(ca_params(&ca.name, now.saturating_sub(DAY), ca.not_after)?, ca_key);
        let mut all: Vec<String> = leaf_meta.map(|m| m.names).unwrap_or_default();
        all.retain(|n| permitted(n));
        for n in names {
            if !all.contains(n) {
                all.push(n.clone());
            }
        }
        let mut params = rcgen::CertificateParams::new(all.clone()).context("the certificate's names")?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::CommonName, "localhost");
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let not_before = now.saturating_sub(DAY);
        params.not_before = datetime(not_before)?;
        params.not_after = datetime(leaf_until)?;
        let key = rcgen::KeyPair::generate().context("generate the server key")?;
        let cert = params.signed_by(&key, &issuer).context("make the server certificate")?;
        // The record first: a crash between the files leaves none, so the
        // next start makes the pair again rather than reusing half of it.
        let _ = std::fs::remove_file(dir.join(LEAF_META_FILE));
        write_file(&key_file, key.serialize_pem().as_bytes(), true)?;
        write_file(&cert_file, cert.pem().as_bytes(), false)?;
        let meta = LeafMeta { names: all, not_before, not_after: leaf_until };
        write_file(&dir.join(LEAF_META_FILE), &serde_json::to_vec_pretty(&meta)?, false)?;
        Ok(SelfSigned { meta, renewed: true })
    }
}

/// A client's TLS configuration: the system's trusted roots and the CAs of
/// the PEM files `extra` (each must exist; a certificate in one that cannot
/// be used is skipped, as in a system bundle).
pub fn client_config(extra: &[PathBuf]) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    for path in extra {
        let (added, _) = roots.add_parsable_certificates(load_certificates(path)?);
        if added == 0 {
            bail!("no CA certificate in {} can be used", path.display());
        }
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The name a client checks the server's certificate against: the host of
/// `authority` (`host:port`, `[v6]:port`).
pub fn server_name(authority: &str) -> anyhow::Result<ServerName<'static>> {
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    ServerName::try_from(host.to_string()).with_context(|| format!("{host} is not a host name a certificate can name"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::danger::ServerCertVerifier as _;

    #[test]
    fn self_signed_files_are_made_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let names = self_signed_names("127.0.0.1".parse().unwrap(), "us-east-1");
        let first = Tls::self_signed(dir.path(), &names).unwrap();
        assert!(first.description.contains("made now"), "{}", first.description);
        let ca = std::fs::read(dir.path().join(CA_FILE)).unwrap();
        let cert = std::fs::read(dir.path().join(CERT_FILE)).unwrap();
        let second = Tls::self_signed(dir.path(), &names).unwrap();
        assert!(!second.description.contains("made now"), "{}", second.description);
        assert_eq!(std::fs::read(dir.path().join(CERT_FILE)).unwrap(), cert);
        // A new name re-issues the server certificate from the same CA.
        let more = self_signed_names("10.1.2.3".parse().unwrap(), "us-east-1");
        let third = Tls::self_signed(dir.path(), &more).unwrap();
        assert!(third.description.contains("10.1.2.3") && third.description.contains("made now"));
        assert_eq!(std::fs::read(dir.path().join(CA_FILE)).unwrap(), ca);
        assert_ne!(std::fs::read(dir.path().join(CERT_FILE)).unwrap(), cert);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            for f in [KEY_FILE, CA_KEY_FILE] {
                let mode = std::fs::metadata(dir.path().join(f)).unwrap().permissions().mode();
                assert_eq!(mode & 0o077, 0, "{f} is readable by others: {mode:o}");
            }
        }
    }

    #[test]
    fn a_key_that_does_not_match_is_refused() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let names = self_signed_names("127.0.0.1".parse().unwrap(), "us-east-1");
        Tls::self_signed(a.path(), &names).unwrap();
        Tls::self_signed(b.path(), &names).unwrap();
        let err = Tls::from_files(&a.path().join(CERT_FILE), &b.path().join(KEY_FILE)).unwrap_err();
        assert!(format!("{err:#}").contains("does not match"), "{err:#}");
        let err = Tls::from_files(&a.path().join(KEY_FILE), &a.path().join(KEY_FILE)).unwrap_err();
        assert!(format!("{err:#}").contains("no CERTIFICATE"), "{err:#}");
        let err = Tls::from_files(&a.path().join(CERT_FILE), &a.path().join(CERT_FILE)).unwrap_err();
        assert!(format!("{err:#}").contains("no private key"), "{err:#}");
        Tls::from_files(&a.path().join(CERT_FILE), &a.path().join(KEY_FILE)).unwrap();
    }

    /// A certificate re-issued by a kept CA verifies against that CA's file,
    /// for every name, as a client trusting only it checks.
    #[test]
    fn a_reissued_certificate_chains_to_the_kept_ca() {
        let dir = tempfile::tempdir().unwrap();
        Tls::self_signed(dir.path(), &self_signed_names("127.0.0.1".parse().unwrap(), "us-east-1")).unwrap();
        let ca = std::fs::read(dir.path().join(CA_FILE)).unwrap();
        Tls::self_signed(dir.path(), &self_signed_names("192.168.7.9".parse().unwrap(), "us-east-1")).unwrap();
        assert_eq!(std::fs::read(dir.path().join(CA_FILE)).unwrap(), ca);
        let mut roots = rustls::RootCertStore::empty();
        for c in load_certificates(&dir.path().join(CA_FILE)).unwrap() {
            roots.add(c).unwrap();
        }
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider()).build().unwrap();
        let chain = load_certificates(&dir.path().join(CERT_FILE)).unwrap();
        let now = rustls::pki_types::UnixTime::now();
        for name in ["localhost", "127.0.0.1", "::1", "192.168.7.9", "abc.lambda-url.us-east-1.localhost"] {
            let name = ServerName::try_from(name).unwrap();
            verifier
                .verify_server_cert(&chain[0], &chain[1..], &name, &[], now)
                .unwrap_or_else(|e| panic!("{name:?}: {e}"));
        }
        let other = ServerName::try_from("example.com").unwrap();
        assert!(verifier.verify_server_cert(&chain[0], &chain[1..], &other, &[], now).is_err());
    }

    #[test]
    fn names_outside_the_local_cas_constraints_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err =
            Tls::self_signed(dir.path(), &self_signed_names("8.8.8.8".parse().unwrap(), "us-east-1")).unwrap_err();
        assert!(format!("{err:#}").contains("--tls-cert"), "{err:#}");
        for ok in
            ["localhost", "x.localhost", "*.lambda-url.eu-west-1.localhost", "127.0.0.1", "::1", "10.2.3.4", "fd00::1"]
        {
            assert!(permitted(ok), "{ok}");
        }
        for no in ["example.com", "localhost.example.com", "8.8.8.8", "2001:db8::1"] {
            assert!(!permitted(no), "{no}");
        }
    }

    #[test]
    fn server_names_of_authorities() {
        assert_eq!(server_name("localhost:8000").unwrap().to_str(), "localhost");
        assert_eq!(server_name("127.0.0.1:8000").unwrap().to_str(), "127.0.0.1");
        assert_eq!(server_name("[::1]:8000").unwrap().to_str(), "::1");
    }
}
