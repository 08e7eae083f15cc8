//! Where a variant's seed comes from: given outright, or derived from a
//! candidate id and a secret file (HMAC-SHA256), so a hiring team can give
//! every candidate their own variant without storing a table of seeds.

use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{DatasetError, Result};

/// Shortest secret accepted: anything shorter is guessable.
pub const MIN_SECRET_BYTES: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedSource {
    pub value: u64,
    /// Present when the seed was derived rather than given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub derivation: Option<Derivation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Derivation {
    /// Always `hmac-sha256`: first 8 bytes, little-endian, of
    /// HMAC-SHA256(key = secret file bytes, message = candidate id).
    pub method: String,
    pub candidate: String,
    /// Fingerprint of the secret (SHA-256, first 16 hex digits) so a result
    /// says which secret was used without revealing it.
    pub secret_fingerprint: String,
}

impl SeedSource {
    pub fn given(value: u64) -> SeedSource {
        SeedSource { value, derivation: None }
    }

    /// Derives the seed of `candidate` from the secret in `secret_path`.
    pub fn derive(candidate: &str, secret_path: &Path) -> Result<SeedSource> {
        let secret = std::fs::read(secret_path)
            .map_err(|e| DatasetError::Secret { path: secret_path.to_path_buf(), message: e.to_string() })?;
        Self::derive_from_bytes(candidate, &secret)
            .map_err(|message| DatasetError::Secret { path: secret_path.to_path_buf(), message })
    }

    pub fn derive_from_bytes(candidate: &str, secret: &[u8]) -> std::result::Result<SeedSource, String> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "is {} bytes; a secret needs at least {MIN_SECRET_BYTES} (e.g. `head -c 32 /dev/urandom > secret`)",
                secret.len()
            ));
        }
        if candidate.trim().is_empty() {
            return Err("the candidate id is empty".into());
        }
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes keys of any length");
        mac.update(candidate.as_bytes());
        let tag = mac.finalize().into_bytes();
        let value = u64::from_le_bytes(tag[..8].try_into().expect("32-byte tag"));
        let secret_fingerprint = fingerprint(secret);
        Ok(SeedSource {
            value,
            derivation: Some(Derivation {
                method: "hmac-sha256".into(),
                candidate: candidate.into(),
                secret_fingerprint,
            }),
        })
    }
}

/// A secret's fingerprint: the first 8 bytes of its SHA-256, in hex. Says
/// which secret was used without revealing it.
pub fn fingerprint(secret: &[u8]) -> String {
    hex::encode(&Sha256::digest(secret)[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_is_keyed_and_stable() {
        let secret = b"0123456789abcdef-hiring-team";
        let a = SeedSource::derive_from_bytes("alice", secret).unwrap();
        assert_eq!(a, SeedSource::derive_from_bytes("alice", secret).unwrap());
        assert_ne!(a.value, SeedSource::derive_from_bytes("bob", secret).unwrap().value);
        let other = SeedSource::derive_from_bytes("alice", b"another-secret-of-16+bytes").unwrap();
        assert_ne!(a.value, other.value);
        assert!(!format!("{a:?}").contains("hiring-team"), "the secret itself is never recorded");
    }

    #[test]
    fn short_secret_is_rejected() {
        let err = SeedSource::derive_from_bytes("alice", b"short").unwrap_err();
        assert!(err.contains("at least 16"), "{err}");
    }
}
