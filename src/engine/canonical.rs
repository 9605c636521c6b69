//! Canonical JSON and digests: the same evaluation always hashes to the same SHA-256.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Serializes `value` as compact JSON with object keys sorted at every level, independent of struct field order
/// and of serde_json's `preserve_order` feature.
pub fn to_canonical_json<T: Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut value = serde_json::to_value(value)?;
    sort_keys(&mut value);
    serde_json::to_vec(&value)
}

/// Sorts object keys in place. Without `preserve_order` serde_json's maps are already sorted, so this only checks;
/// a map is rebuilt only when its keys are out of order.
fn sort_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.values_mut().for_each(sort_keys);
            if !map.keys().is_sorted() {
                let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                *map = entries.into_iter().collect();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_at_every_level() {
        let v = serde_json::json!({"b": 1, "a": {"d": [ {"z": 1, "y": 2} ], "c": null}});
        let s = String::from_utf8(to_canonical_json(&v).unwrap()).unwrap();
        assert_eq!(s, r#"{"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}"#);
    }

    #[test]
    fn digest_is_sha256_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
