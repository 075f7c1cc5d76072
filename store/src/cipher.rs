//! Encryption at rest: the AEAD that seals values before they reach fjall.
//!
//! With a key configured (`StoreConfig::encryption`), every value of the
//! item, index, stream, history and system keyspaces is stored as
//! `nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)`: AES-256-GCM under a
//! data key derived from the configured key (HKDF-SHA256), with a unique
//! nonce per value and the value's fjall key as associated data, so a
//! value moved under another key fails to open instead of reading as
//! someone else's item. Each keyspace (a table's items, its indexes, the
//! streams, the history, system entries) has its own data key, derived
//! from the configured key and the keyspace's name, so a value moved to
//! another keyspace fails too. The journal, memtables'
//! flushes and compaction only ever see sealed values.
//!
//! What stays in the clear, and why: the keys. fjall orders, looks up and
//! range-scans by key bytes, so a table's key attribute values (and an
//! index's key attributes, a TTL entry's expiry time, a stream record's
//! sequence number, a history entry's time, a global table's tombstone's
//! time) are readable in the files;
//! values are not. The `meta` keyspace (table names and definitions, item
//! counts, stream and backup records, the shard iterators' signing secret)
//! and function code are not encrypted either.
//!
//! Nonces are unique, not random: a 64-bit random prefix drawn when the
//! cipher is made (and again every 2³² values) followed by a 32-bit
//! counter. Values sealed under one data key never share a nonce within a
//! run, and two runs share a prefix with a chance of about runs² / 2⁶⁵.
//! Data keys are derived (HKDF-SHA256) from the configured key, a random
//! salt made with the data directory, and the keyspace's name: the same key
//! file in two directories gives unrelated data keys, so a value copied
//! from one directory to the other does not open. There is no re-keying: a
//! new key means an export and an import into a new directory.
//!
//! A wrong key is found at open: the data directory keeps a check value
//! sealed under its key ([`check_value`]), and a key that cannot open it
//! is refused with the key's id, never used to read garbage. What this
//! does not detect: an older sealed value written back under the same key
//! (a rollback of a file) opens as it did then.

use std::path::Path;
use std::sync::{Arc, RwLock};

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::{Result, StoreError};

/// The configured key's length: AES-256.
pub const KEY_BYTES: usize = 32;
/// A data directory's salt.
pub const SALT_BYTES: usize = 16;
/// What sealing adds to a value: the nonce and the tag.
pub const OVERHEAD: usize = NONCE_LEN + 16;
/// A key file is read up to this size (a key in hex with a newline is 65
/// bytes).
const MAX_KEY_FILE_BYTES: u64 = 4096;
/// Data keys kept derived: one per keyspace; past this many the map is
/// cleared (deriving one again costs an HKDF).
const MAX_CACHED_KEYS: usize = 4096;

/// The configured key, as read from its file.
#[derive(Clone)]
pub struct EncryptionKey([u8; KEY_BYTES]);

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptionKey({})", self.id())
    }
}

impl EncryptionKey {
    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> Self {
        EncryptionKey(bytes)
    }

    /// A new random key.
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; KEY_BYTES];
        SystemRandom::new().fill(&mut bytes).map_err(|_| StoreError::Corrupt("no randomness for a key".into()))?;
        Ok(EncryptionKey(bytes))
    }

    /// A key file: 32 raw bytes, or 64 hex digits, or the base64 of 32
    /// bytes (surrounding whitespace ignored).
    pub fn load(path: &Path) -> std::result::Result<Self, String> {
        use std::io::Read as _;
        let file = std::fs::File::open(path).map_err(|e| format!("open the encryption key {}: {e}", path.display()))?;
        let mut raw = Vec::new();
        file.take(MAX_KEY_FILE_BYTES)
            .read_to_end(&mut raw)
            .map_err(|e| format!("read the encryption key {}: {e}", path.display()))?;
        Self::parse(&raw).ok_or_else(|| {
            format!(
                "the encryption key {} is not 32 bytes, 64 hex digits or the base64 of 32 bytes \
                 (make one with `head -c 32 /dev/urandom > {}`)",
                path.display(),
                path.display()
            )
        })
    }

    fn parse(raw: &[u8]) -> Option<Self> {
        if raw.len() == KEY_BYTES {
            return Some(EncryptionKey(raw.try_into().ok()?));
        }
        let text = std::str::from_utf8(raw).ok()?.trim();
        let mut out = [0u8; KEY_BYTES];
        if text.len() == 2 * KEY_BYTES && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            for (i, pair) in text.as_bytes().chunks(2).enumerate() {
                out[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
            }
            return Some(EncryptionKey(out));
        }
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD.decode(text).ok()?;
        Some(EncryptionKey(decoded.try_into().ok()?))
    }

    /// A short public name for the key (the first 8 bytes of a hash of
    /// it, in hex): which key a data directory wants, without revealing it.
    pub fn id(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, &[b"tidepool key id v1".as_slice(), &self.0].concat());
        digest.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn random_u64(rng: &SystemRandom) -> Result<u64> {
    let mut b = [0u8; 8];
    rng.fill(&mut b).map_err(|_| StoreError::Corrupt("no randomness for a nonce".into()))?;
    Ok(u64::from_be_bytes(b))
}

/// The output length of `hkdf::Prk::expand` for an AES-256 key.
struct Len;

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        KEY_BYTES
    }
}

/// Seals and opens values; cheap to clone.
#[derive(Clone)]
pub struct Cipher {
    inner: Arc<Inner>,
}

struct Inner {
    prk: hkdf::Prk,
    id: String,
    /// The data directory's salt (`salt_hex` in its check value).
    salt: [u8; SALT_BYTES],
    rng: SystemRandom,
    /// The nonce's random prefix and the counter after it.
    nonce: std::sync::Mutex<(u64, u32)>,
    /// Data keys by scope (a keyspace's name).
    keys: RwLock<std::collections::HashMap<String, Arc<LessSafeKey>>>,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cipher({})", self.inner.id)
    }
}

impl Cipher {
    /// The cipher of a data directory whose salt is `salt`.
    pub fn new(key: &EncryptionKey, salt: [u8; SALT_BYTES]) -> Result<Cipher> {
        let hkdf_salt =
            hkdf::Salt::new(hkdf::HKDF_SHA256, &[b"tidepool encryption at rest v1 ".as_slice(), &salt].concat());
        let rng = SystemRandom::new();
        let prefix = random_u64(&rng)?;
        Ok(Cipher {
            inner: Arc::new(Inner {
                prk: hkdf_salt.extract(&key.0),
                id: key.id(),
                salt,
                nonce: std::sync::Mutex::new((prefix, 0)),
                rng,
                keys: RwLock::new(std::collections::HashMap::new()),
            }),
        })
    }

    /// A cipher for a new data directory: a new random salt.
    pub fn for_new_directory(key: &EncryptionKey) -> Result<Cipher> {
        let mut salt = [0u8; SALT_BYTES];
        SystemRandom::new().fill(&mut salt).map_err(|_| StoreError::Corrupt("no randomness for a salt".into()))?;
        Cipher::new(key, salt)
    }

    /// The next nonce: the prefix and the counter, a new prefix when the
    /// counter is spent.
    fn next_nonce(&self) -> [u8; NONCE_LEN] {
        let mut n = self.inner.nonce.lock().unwrap_or_else(|p| p.into_inner());
        if n.1 == u32::MAX {
            // The system's random source does not fail once it has worked.
            *n = (random_u64(&self.inner.rng).expect("the system's random source"), 0);
        }
        n.1 += 1;
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..8].copy_from_slice(&n.0.to_be_bytes());
        nonce[8..].copy_from_slice(&n.1.to_be_bytes());
        nonce
    }

    /// The configured key's id ([`EncryptionKey::id`]).
    pub fn key_id(&self) -> &str {
        &self.inner.id
    }

    fn key(&self, scope: &str) -> Arc<LessSafeKey> {
        if let Some(k) = self.inner.keys.read().unwrap_or_else(|p| p.into_inner()).get(scope) {
            return k.clone();
        }
        let info = [b"data key for ".as_slice(), scope.as_bytes()];
        let okm = self.inner.prk.expand(&info, Len).expect("HKDF-SHA256 expands 32 bytes");
        let mut bytes = [0u8; KEY_BYTES];
        okm.fill(&mut bytes).expect("HKDF-SHA256 fills 32 bytes");
        let key = Arc::new(LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &bytes).expect("a 32-byte AES key")));
        let mut keys = self.inner.keys.write().unwrap_or_else(|p| p.into_inner());
        if keys.len() >= MAX_CACHED_KEYS {
            keys.clear();
        }
        keys.insert(scope.to_string(), key.clone());
        key
    }

    /// `plain` sealed under `scope`'s data key, bound to `aad`.
    pub fn seal(&self, scope: &str, aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let nonce = self.next_nonce();
        let mut out = Vec::with_capacity(plain.len() + OVERHEAD);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plain);
        let tag = self
            .key(scope)
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut out[NONCE_LEN..])
            .expect("a value under 4 GB seals");
        out.extend_from_slice(tag.as_ref());
        out
    }

    /// The plaintext of `sealed`, if it was sealed under `scope`'s data key
    /// and bound to `aad`; else the value is reported damaged.
    pub fn open(&self, scope: &str, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < OVERHEAD {
            return Err(StoreError::Corrupt("an encrypted value is shorter than its nonce and tag".into()));
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| StoreError::Corrupt("a nonce".into()))?;
        let mut body = body.to_vec();
        let plain = self.key(scope).open_in_place(nonce, Aad::from(aad), &mut body).map_err(|_| {
            StoreError::Corrupt(
                "an encrypted value does not open under the configured key: it was changed, or moved from another key"
                    .into(),
            )
        })?;
        let n = plain.len();
        body.truncate(n);
        Ok(body)
    }
}

/// The value to store in `ks` under `key`: `plain` sealed when the store
/// has a cipher, else `plain` itself.
pub(crate) fn seal_in(c: Option<&Cipher>, ks: &fjall::Keyspace, key: &[u8], plain: fjall::Slice) -> fjall::Slice {
    match c {
        None => plain,
        Some(c) => fjall::Slice::from(c.seal(ks.name(), key, &plain)),
    }
}

/// The plaintext of `stored`, read from `ks` under `key`: opened when the
/// store has a cipher, else `stored` itself.
pub(crate) fn open_in(
    c: Option<&Cipher>,
    ks: &fjall::Keyspace,
    key: &[u8],
    stored: fjall::Slice,
) -> Result<fjall::Slice> {
    match c {
        None => Ok(stored),
        Some(c) => Ok(fjall::Slice::from(c.open(ks.name(), key, &stored)?)),
    }
}

/// The check value a data directory keeps under its key: the sealed form
/// of this text, bound to `CHECK_AAD`.
const CHECK_TEXT: &[u8] = b"tidepool encrypted data directory v1";
const CHECK_AAD: &[u8] = b"check";
/// The check value's scope: no keyspace has this name.
const CHECK_SCOPE: &str = "check value";

/// The check value to keep for `cipher`: `<key id>:<salt, hex>:` and the
/// sealed text.
pub fn check_value(cipher: &Cipher) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(cipher.key_id().as_bytes());
    out.push(b':');
    out.extend(cipher.inner.salt.iter().flat_map(|b| format!("{b:02x}").into_bytes()));
    out.push(b':');
    out.extend_from_slice(&cipher.seal(CHECK_SCOPE, CHECK_AAD, CHECK_TEXT));
    out
}

/// The key id a check value names.
pub fn check_key_id(stored: &[u8]) -> String {
    String::from_utf8_lossy(stored.split(|b| *b == b':').next().unwrap_or_default()).into_owned()
}

/// The cipher of the data directory whose check value is `stored`, if
/// `key` is its key; `Err` names the key the directory wants.
pub fn open_checked(key: &EncryptionKey, stored: &[u8]) -> std::result::Result<Cipher, String> {
    let mut parts = stored.splitn(3, |b| *b == b':');
    let (id, salt, sealed) = (parts.next().unwrap_or_default(), parts.next(), parts.next());
    let id = String::from_utf8_lossy(id).into_owned();
    let salt = salt.and_then(|hex| {
        let text = std::str::from_utf8(hex).ok()?;
        let mut out = [0u8; SALT_BYTES];
        if text.len() != 2 * SALT_BYTES {
            return None;
        }
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(out)
    });
    let refused = || {
        format!(
            "the encryption key given (id {}) is not the data directory's (id {id}): start with the key it was written with",
            key.id()
        )
    };
    let (Some(salt), Some(sealed)) = (salt, sealed) else { return Err(refused()) };
    let cipher = Cipher::new(key, salt).map_err(|e| e.to_string())?;
    match cipher.open(CHECK_SCOPE, CHECK_AAD, sealed) {
        Ok(text) if text == CHECK_TEXT => Ok(cipher),
        _ => Err(refused()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_open_only_under_their_key_scope_and_aad() {
        let key = EncryptionKey::generate().unwrap();
        let c = Cipher::for_new_directory(&key).unwrap();
        let sealed = c.seal("t7", b"key-a", b"a secret value");
        assert_eq!(sealed.len(), 14 + OVERHEAD);
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(c.open("t7", b"key-a", &sealed).unwrap(), b"a secret value");
        assert!(c.open("t7", b"key-b", &sealed).is_err(), "moved under another key");
        assert!(c.open("t8", b"key-a", &sealed).is_err(), "another keyspace's data key");
        let mut tampered = sealed.clone();
        tampered[14] ^= 1;
        assert!(c.open("t7", b"key-a", &tampered).is_err());
        assert_ne!(c.seal("t7", b"key-a", b"x"), c.seal("t7", b"key-a", b"x"), "a nonce per value");
        let other_key = EncryptionKey::generate().unwrap();
        let other = Cipher::for_new_directory(&other_key).unwrap();
        assert!(other.open("t7", b"key-a", &sealed).is_err());
        // The same key in another directory (another salt) opens nothing of this one.
        let elsewhere = Cipher::for_new_directory(&key).unwrap();
        assert!(elsewhere.open("t7", b"key-a", &sealed).is_err());
        let reopened = open_checked(&key, &check_value(&c)).unwrap();
        assert_eq!(reopened.open("t7", b"key-a", &sealed).unwrap(), b"a secret value");
        let err = open_checked(&other_key, &check_value(&c)).err().unwrap();
        assert!(err.contains(c.key_id()) && err.contains(other.key_id()), "{err}");
        assert_eq!(check_key_id(&check_value(&c)), c.key_id());
    }

    #[test]
    fn key_files_in_three_forms() {
        let bytes: [u8; 32] = std::array::from_fn(|i| i as u8);
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        for raw in [bytes.to_vec(), format!("{hex}\n").into_bytes(), format!("  {b64}\n").into_bytes()] {
            assert_eq!(EncryptionKey::parse(&raw).unwrap().0, bytes);
        }
        assert!(EncryptionKey::parse(b"short").is_none());
        assert!(EncryptionKey::parse(&[0u8; 31]).is_none());
    }
}
