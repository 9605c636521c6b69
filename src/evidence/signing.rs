//! ed25519 signing of manifests, and verification against the public keys an auditor trusts.
//!
//! Keys are 32-byte ed25519 seeds (private) or public keys, given either as raw bytes or as 64 hex characters.

use ed25519_dalek::{Signer, Verifier};

use super::manifest::{Manifest, Signature};
use crate::engine::canonical::sha256_hex;

/// What was wrong with a key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Neither 32 raw bytes nor 64 hex characters.
    #[error(
        "{what} must be 32 raw bytes or 64 hex characters (an ed25519 seed or public key), got {len} bytes"
    )]
    Length {
        /// Which key.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// Not a valid ed25519 point.
    #[error("{what} is not a valid ed25519 public key")]
    Invalid {
        /// Which key.
        what: &'static str,
    },
}

fn key_bytes(what: &'static str, bytes: &[u8]) -> Result<[u8; 32], KeyError> {
    let trimmed = std::str::from_utf8(bytes).map(str::trim).ok();
    let decoded = match trimmed {
        Some(t) if t.len() == 64 => hex::decode(t).ok(),
        _ => None,
    };
    let raw = decoded.as_deref().unwrap_or(bytes);
    raw.try_into().map_err(|_| KeyError::Length {
        what,
        len: bytes.len(),
    })
}

/// A manifest signing key.
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey(key id {})", self.key_id())
    }
}

impl SigningKey {
    /// The key from a 32-byte seed (raw or hex).
    pub fn from_seed(bytes: &[u8]) -> Result<Self, KeyError> {
        Ok(SigningKey(ed25519_dalek::SigningKey::from_bytes(
            &key_bytes("the signing key", bytes)?,
        )))
    }

    /// Hex of the public key, to hand to auditors.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.0.verifying_key().to_bytes())
    }

    /// SHA-256 of the public key, as recorded in signatures.
    pub fn key_id(&self) -> String {
        sha256_hex(&self.0.verifying_key().to_bytes())
    }

    /// Signs `manifest` in place.
    pub fn sign(&self, manifest: &mut Manifest) -> serde_json::Result<()> {
        let bytes = manifest.signed_bytes()?;
        let sig = self.0.sign(&bytes);
        manifest.signature = Some(Signature {
            algorithm: "ed25519".into(),
            key_id: self.key_id(),
            public_key: Some(self.public_key_hex()),
            value: hex::encode(sig.to_bytes()),
        });
        Ok(())
    }
}

/// Checks `manifest`'s signature against the public key it carries, without trusting that key: proves the
/// manifest was not changed after it was signed (a signature kept from an earlier version of the content fails),
/// never who signed it. `Ok(false)` when there is nothing to check (unsigned, or a format 1 signature without
/// its public key). With `verify_signature` false only the key's id is checked (the caller verified the signature
/// with a trusted key already).
pub fn check_embedded(manifest: &Manifest, verify_signature: bool) -> Result<bool, String> {
    let Some(sig) = &manifest.signature else {
        return Ok(false);
    };
    let Some(public) = &sig.public_key else {
        // Format 2 writers always put the public key beside the signature: one without it is a manifest whose
        // signature a forger kept while removing what would expose it.
        if manifest.format_version >= 2 {
            return Err(
                "a format 2 signature must carry its public key, and this one does not (removed to hide that the \
                 signature no longer matches)"
                    .into(),
            );
        }
        return Ok(false);
    };
    let raw = key_bytes("the public key", public.as_bytes()).map_err(|e| e.to_string())?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&raw)
        .map_err(|_| "the public key it carries is not a valid ed25519 key".to_string())?;
    if sha256_hex(&key.to_bytes()) != sig.key_id {
        return Err(format!(
            "the signature names key id {} but carries a public key with a different id",
            sig.key_id
        ));
    }
    if !verify_signature {
        return Ok(true);
    }
    verify_with(&key, sig, manifest).map(|()| true)
}

fn verify_with(
    key: &ed25519_dalek::VerifyingKey,
    sig: &Signature,
    manifest: &Manifest,
) -> Result<(), String> {
    if sig.algorithm != "ed25519" {
        return Err(format!(
            "unsupported signature algorithm {:?}",
            sig.algorithm
        ));
    }
    let raw: [u8; 64] = hex::decode(&sig.value)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or("the signature is not 64 hex-encoded bytes")?;
    let bytes = manifest
        .signed_bytes()
        .map_err(|e| format!("cannot serialize the manifest: {e}"))?;
    key.verify(&bytes, &ed25519_dalek::Signature::from_bytes(&raw))
        .map_err(|_| "the signature does not match the manifest's content".to_string())
}

/// Public keys a verifier trusts.
#[derive(Clone, Debug, Default)]
pub struct VerifyingKeys(Vec<ed25519_dalek::VerifyingKey>);

impl VerifyingKeys {
    /// Adds a public key (raw 32 bytes or hex).
    pub fn add(&mut self, bytes: &[u8]) -> Result<(), KeyError> {
        let raw = key_bytes("the public key", bytes)?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&raw).map_err(|_| KeyError::Invalid {
            what: "the public key",
        })?;
        self.0.push(key);
        Ok(())
    }

    /// True when no key was given (signatures are then not checked).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok` when `manifest` carries a valid signature by one of the keys; otherwise why not.
    pub fn check(&self, manifest: &Manifest) -> Result<(), String> {
        let Some(sig) = &manifest.signature else {
            return Err("the manifest is not signed".into());
        };
        let Some(key) = self
            .0
            .iter()
            .find(|k| sha256_hex(&k.to_bytes()) == sig.key_id)
        else {
            return Err(format!(
                "signed by key id {} which is not among the trusted public keys",
                sig.key_id
            ));
        };
        verify_with(key, sig, manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::document::ClusterIdentity;

    pub(crate) fn manifest() -> Manifest {
        Manifest {
            format_version: 2,
            sequence: 1,
            snapshot_id: "20260101T000000Z".into(),
            taken_at: "2026-01-01T00:00:00Z".into(),
            window_start: "2026-01-01T00:00:00Z".into(),
            cluster: ClusterIdentity {
                uid: "u".into(),
                server_version: "v1.33.0".into(),
            },
            operator_version: "0.1.0".into(),
            source: "test".into(),
            documents: vec![],
            access_reviews: vec![],
            previous: None,
            gap: None,
            schedule: None,
            signature: None,
        }
    }

    #[test]
    fn signs_and_verifies_and_rejects_changes() {
        let key = SigningKey::from_seed(&[7u8; 32]).unwrap();
        let mut keys = VerifyingKeys::default();
        keys.add(key.public_key_hex().as_bytes()).unwrap();
        let mut m = manifest();
        key.sign(&mut m).unwrap();
        assert_eq!(keys.check(&m), Ok(()));
        m.source = "tampered".into();
        assert!(keys.check(&m).unwrap_err().contains("does not match"));
    }

    #[test]
    fn unknown_keys_and_unsigned_manifests_are_named() {
        let key = SigningKey::from_seed(&[7u8; 32]).unwrap();
        let other = SigningKey::from_seed(&[8u8; 32]).unwrap();
        let mut keys = VerifyingKeys::default();
        keys.add(other.public_key_hex().as_bytes()).unwrap();
        let mut m = manifest();
        assert!(keys.check(&m).unwrap_err().contains("not signed"));
        key.sign(&mut m).unwrap();
        assert!(
            keys.check(&m)
                .unwrap_err()
                .contains("not among the trusted")
        );
    }

    #[test]
    fn the_embedded_key_proves_the_content_unchanged_since_signing() {
        let key = SigningKey::from_seed(&[7u8; 32]).unwrap();
        let mut m = manifest();
        assert_eq!(
            check_embedded(&m, true),
            Ok(false),
            "unsigned: nothing to check"
        );
        key.sign(&mut m).unwrap();
        assert_eq!(check_embedded(&m, true), Ok(true));
        // A forger who rewrites the content and keeps the old signature is caught without any trusted key.
        let mut forged = m.clone();
        forged.source = "forged".into();
        assert!(
            check_embedded(&forged, true)
                .unwrap_err()
                .contains("does not match")
        );
        // Swapping in another public key under the old key id is caught too.
        let other = SigningKey::from_seed(&[8u8; 32]).unwrap();
        let mut swapped = m.clone();
        if let Some(sig) = swapped.signature.as_mut() {
            sig.public_key = Some(other.public_key_hex());
        }
        assert!(
            check_embedded(&swapped, true)
                .unwrap_err()
                .contains("different id")
        );
        // After a trusted key verified the signature only the carried key's id is checked.
        assert!(check_embedded(&swapped, false).is_err());
        assert_eq!(check_embedded(&forged, false), Ok(true));
        // A format 1 signature carries no public key: not checkable without trusted keys. A format 2 one must.
        let mut v1 = m.clone();
        if let Some(sig) = v1.signature.as_mut() {
            sig.public_key = None;
        }
        assert!(
            check_embedded(&v1, true)
                .unwrap_err()
                .contains("must carry its public key")
        );
        v1.format_version = 1;
        assert_eq!(check_embedded(&v1, true), Ok(false));
    }

    #[test]
    fn keys_parse_from_hex_or_raw_and_reject_other_lengths() {
        let hex_seed = "07".repeat(32);
        let a = SigningKey::from_seed(hex_seed.as_bytes()).unwrap();
        let b = SigningKey::from_seed(&[7u8; 32]).unwrap();
        assert_eq!(a.public_key_hex(), b.public_key_hex());
        let err = SigningKey::from_seed(b"short").unwrap_err().to_string();
        assert!(err.contains("32 raw bytes or 64 hex"), "{err}");
    }
}
