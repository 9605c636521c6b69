//! Cycle populations in the evidence store: written once when a cycle opens, read back by digest (after a restart,
//! or as the baseline of the next cycle) and checked against it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::engine::canonical::{sha256_hex, to_canonical_json};
use crate::evidence::access_review::PopulationDocument;
use crate::evidence::manifest::document_path;
use crate::evidence::{EvidenceStoreClient, StoreError};

/// Populations read or written by this process, by digest. A cycle's population never changes, so an entry never
/// goes stale; entries of cycles no review names any more are dropped by [`PopulationCache::retain`].
#[derive(Clone, Default)]
pub struct PopulationCache {
    by_digest: Arc<Mutex<HashMap<String, Arc<PopulationDocument>>>>,
}

/// Why a population could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum PopulationError {
    /// The store failed.
    #[error("evidence store {uri}: {source}")]
    Store {
        /// The store.
        uri: String,
        /// The error.
        source: StoreError,
    },
    /// The object is not the population its digest names.
    #[error(
        "the population {path} in evidence store {uri} does not match its digest or is not a population ({reason}); \
         run soc2ctl verify on the store"
    )]
    Corrupt {
        /// The store.
        uri: String,
        /// The object.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Serialization failed.
    #[error("cannot serialize the population: {0}")]
    Serialize(#[from] serde_json::Error),
}

impl PopulationCache {
    /// Writes `document` to `store` (content-addressed: writing the same population twice is harmless) and returns
    /// its digest.
    pub async fn write(
        &self,
        store: &EvidenceStoreClient,
        document: PopulationDocument,
    ) -> Result<String, PopulationError> {
        let bytes = to_canonical_json(&document)?;
        let digest = sha256_hex(&bytes);
        match store.create(&document_path(&digest), bytes).await {
            Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
            Err(source) => {
                return Err(PopulationError::Store {
                    uri: store.uri().to_string(),
                    source,
                });
            }
        }
        self.insert(digest.clone(), Arc::new(document));
        Ok(digest)
    }

    /// The population with `digest`, from memory or read from `store`.
    pub async fn read(
        &self,
        store: &EvidenceStoreClient,
        digest: &str,
    ) -> Result<Arc<PopulationDocument>, PopulationError> {
        if let Some(doc) = self.get(digest) {
            return Ok(doc);
        }
        let path = document_path(digest);
        let corrupt = |reason: String| PopulationError::Corrupt {
            uri: store.uri().to_string(),
            path: path.clone(),
            reason,
        };
        let bytes = store
            .get(&path)
            .await
            .map_err(|source| PopulationError::Store {
                uri: store.uri().to_string(),
                source,
            })?;
        let actual = sha256_hex(&bytes);
        if actual != digest {
            return Err(corrupt(format!("its SHA-256 is {actual}")));
        }
        let doc: PopulationDocument =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        let doc = Arc::new(doc);
        self.insert(digest.to_string(), doc.clone());
        Ok(doc)
    }

    /// The population with `digest`, if this process holds it.
    pub fn get(&self, digest: &str) -> Option<Arc<PopulationDocument>> {
        self.by_digest.lock().ok()?.get(digest).cloned()
    }

    fn insert(&self, digest: String, doc: Arc<PopulationDocument>) {
        if let Ok(mut map) = self.by_digest.lock() {
            map.insert(digest, doc);
        }
    }

    /// Keeps only the populations whose digest `keep` accepts.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        if let Ok(mut map) = self.by_digest.lock() {
            map.retain(|digest, _| keep(digest));
        }
    }
}
