//! MOSIP's encrypted datashare envelope, opened with the ABIS partner's RSA private key.
//!
//! MOSIP's ABIS API specification describes the share a `referenceURL` answers when its
//! policy encrypts it: base64 text (URL-safe since MOSIP 1.2) of
//! `block 1 ‖ "#KEY_SPLITTER#" ‖ block 2`, where
//!
//! - MOSIP 1.2 and later: block 1 is `"VER_R2"` (6 bytes), the 32-byte thumbprint of the
//!   partner certificate, and the random AES-256 key wrapped with RSA-OAEP (SHA-256, MGF1
//!   with SHA-256); block 2 is 32 random bytes used as the AES-GCM additional data, whose
//!   first 12 bytes are the nonce, followed by the AES-GCM ciphertext and tag;
//! - MOSIP 1.1.5 and earlier: block 1 is the thumbprint and the wrapped key; block 2 is the
//!   ciphertext and tag followed by the 32 bytes (additional data, nonce first).
//!
//! The thumbprint is read and not checked: a share wrapped for another key fails to unwrap.
//! Every failure is an [`EnvelopeError`]; the handler answers it with reason 16.

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::{Oaep, RsaPrivateKey};
use sha2::Sha256;
use thiserror::Error;

/// The separator of the two blocks.
pub const KEY_SPLITTER: &[u8] = b"#KEY_SPLITTER#";
/// The version prefix of MOSIP 1.2's key block.
pub const VERSION_R2: &[u8] = b"VER_R2";
/// Bytes of the certificate thumbprint.
pub const THUMBPRINT_LEN: usize = 32;
/// Bytes of the additional data (the nonce is its start).
pub const AAD_LEN: usize = 32;
/// Bytes of the AES-GCM nonce.
pub const NONCE_LEN: usize = 12;

/// Why a share does not open.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EnvelopeError {
    /// The share is not base64 text.
    #[error("the share is not base64")]
    NotBase64,
    /// No `#KEY_SPLITTER#` between the blocks.
    #[error("no #KEY_SPLITTER# in the share")]
    NoSplitter,
    /// Block 1 is too short to hold a thumbprint and a wrapped key.
    #[error("the key block is {0} bytes")]
    KeyBlock(usize),
    /// The AES key does not unwrap with this private key (another key, or damage).
    #[error("the AES key does not unwrap with the configured private key")]
    Unwrap,
    /// The unwrapped key is not an AES-256 key.
    #[error("the unwrapped key is {0} bytes, not 32")]
    KeyLength(usize),
    /// Block 2 is too short to hold the additional data and a tag.
    #[error("the data block is {0} bytes")]
    DataBlock(usize),
    /// AES-GCM authentication failed: the data was altered or the key is wrong.
    #[error("the data does not decrypt (authentication failed)")]
    Decrypt,
}

/// Why a private key does not load.
#[derive(Debug, Error)]
pub enum KeyError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Neither PKCS#8 nor PKCS#1 PEM of an RSA private key.
    #[error("{0}: not a PEM RSA private key (PKCS#8 or PKCS#1)")]
    Pem(String),
}

/// The ABIS partner's private key, which opens shares.
#[derive(Clone)]
pub struct ShareKey {
    key: RsaPrivateKey,
}

impl std::fmt::Debug for ShareKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShareKey").finish_non_exhaustive()
    }
}

impl ShareKey {
    /// The key in a PEM file (`BEGIN PRIVATE KEY` or `BEGIN RSA PRIVATE KEY`).
    pub fn from_pem_file(path: &std::path::Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_pem(&text).ok_or_else(|| KeyError::Pem(path.display().to_string()))
    }

    /// The key in PEM text, if it is one.
    pub fn from_pem(text: &str) -> Option<Self> {
        RsaPrivateKey::from_pkcs8_pem(text)
            .ok()
            .or_else(|| RsaPrivateKey::from_pkcs1_pem(text).ok())
            .map(|key| Self { key })
    }

    /// A key already parsed.
    pub fn new(key: RsaPrivateKey) -> Self {
        Self { key }
    }

    /// Opens a share: its plaintext (the CBEFF document).
    pub fn open(&self, share: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
        let text = std::str::from_utf8(share).map_err(|_| EnvelopeError::NotBase64)?;
        let bytes = super::cbeff::decode_bdb(text).ok_or(EnvelopeError::NotBase64)?;
        let at = bytes
            .windows(KEY_SPLITTER.len())
            .position(|w| w == KEY_SPLITTER)
            .ok_or(EnvelopeError::NoSplitter)?;
        let (block1, rest) = bytes.split_at(at);
        let block2 = rest.get(KEY_SPLITTER.len()..).unwrap_or_default();
        let (versioned, wrapped) = match block1.strip_prefix(VERSION_R2) {
            Some(after) => (true, after),
            None => (false, block1),
        };
        let wrapped = wrapped
            .get(THUMBPRINT_LEN..)
            .filter(|w| !w.is_empty())
            .ok_or(EnvelopeError::KeyBlock(block1.len()))?;
        let aes_key = self
            .key
            .decrypt(Oaep::new::<Sha256>(), wrapped)
            .map_err(|_| EnvelopeError::Unwrap)?;
        if aes_key.len() != 32 {
            return Err(EnvelopeError::KeyLength(aes_key.len()));
        }
        let cipher = Aes256Gcm::new_from_slice(&aes_key)
            .map_err(|_| EnvelopeError::KeyLength(aes_key.len()))?;
        // The tag is 16 bytes: block 2 holds at least the additional data and the tag.
        if block2.len() < AAD_LEN + 16 {
            return Err(EnvelopeError::DataBlock(block2.len()));
        }
        let (aad, msg) = if versioned {
            let (aad, msg) = block2.split_at(AAD_LEN);
            (aad, msg)
        } else {
            let (msg, aad) = block2.split_at(block2.len() - AAD_LEN);
            (aad, msg)
        };
        let nonce = Nonce::from_slice(aad.get(..NONCE_LEN).ok_or(EnvelopeError::Decrypt)?);
        cipher
            .decrypt(nonce, Payload { msg, aad })
            .map_err(|_| EnvelopeError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine as _;
    use rsa::RsaPublicKey;

    /// Encrypts as the specification describes (the layout of `versioned` or the older one).
    fn seal(public: &RsaPublicKey, plain: &[u8], versioned: bool) -> String {
        use rand::RngCore as _;
        let mut aes_key = [0u8; 32];
        let mut aad = [0u8; AAD_LEN];
        rand::thread_rng().fill_bytes(&mut aes_key);
        rand::thread_rng().fill_bytes(&mut aad);
        let wrapped = public
            .encrypt(&mut rand::thread_rng(), Oaep::new::<Sha256>(), &aes_key)
            .unwrap();
        let cipher = Aes256Gcm::new_from_slice(&aes_key).unwrap();
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&aad[..NONCE_LEN]),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .unwrap();
        let mut out = Vec::new();
        if versioned {
            out.extend_from_slice(VERSION_R2);
        }
        out.extend_from_slice(&[7u8; THUMBPRINT_LEN]);
        out.extend_from_slice(&wrapped);
        out.extend_from_slice(KEY_SPLITTER);
        if versioned {
            out.extend_from_slice(&aad);
            out.extend_from_slice(&ct);
            URL_SAFE_NO_PAD.encode(out)
        } else {
            out.extend_from_slice(&ct);
            out.extend_from_slice(&aad);
            STANDARD.encode(out)
        }
    }

    #[test]
    fn both_layouts_open_and_damage_is_refused() {
        let private = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let public = RsaPublicKey::from(&private);
        let key = ShareKey::new(private);
        let plain = b"<BIR>a CBEFF document</BIR>";
        for versioned in [true, false] {
            let share = seal(&public, plain, versioned);
            assert_eq!(key.open(share.as_bytes()).unwrap(), plain);
        }
        let share = seal(&public, plain, true);
        let mut raw = URL_SAFE_NO_PAD.decode(&share).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let tampered = URL_SAFE_NO_PAD.encode(&raw);
        assert_eq!(key.open(tampered.as_bytes()), Err(EnvelopeError::Decrypt));
        assert_eq!(key.open(b"not base64 !"), Err(EnvelopeError::NotBase64));
        let no_split = URL_SAFE_NO_PAD.encode(b"VER_R2 nothing else");
        assert_eq!(
            key.open(no_split.as_bytes()),
            Err(EnvelopeError::NoSplitter)
        );
        let other = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let share = seal(&RsaPublicKey::from(&other), plain, true);
        assert_eq!(key.open(share.as_bytes()), Err(EnvelopeError::Unwrap));
    }
}
