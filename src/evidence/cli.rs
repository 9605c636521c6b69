//! What `soc2ctl verify|report|export` share: opening a store named on the command line, loading trusted keys,
//! parsing report windows.

use k8s_openapi::jiff::Timestamp;

use super::signing::VerifyingKeys;
use super::store::{StoreError, StoreLocation};

/// S3 settings given on the command line (or by `AWS_*` environment variables).
#[derive(Clone, Debug, Default)]
pub struct S3Flags {
    /// Endpoint URL.
    pub endpoint: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Path-style requests.
    pub path_style: bool,
}

/// The location for `uri` (a directory or `s3://bucket/prefix`) with `flags` applied.
pub fn location(uri: &str, flags: &S3Flags) -> Result<StoreLocation, StoreError> {
    let mut location = StoreLocation::parse(uri)?;
    match &mut location {
        StoreLocation::S3(s3) => {
            s3.endpoint = flags.endpoint.clone();
            s3.region = flags.region.clone();
            s3.path_style = flags.path_style;
        }
        // Reports and OSCAL exports name the store as a URI; a file URI must carry an absolute path.
        StoreLocation::Filesystem(dir) => {
            if let Ok(absolute) = std::path::absolute(&*dir) {
                *dir = absolute;
            }
        }
    }
    Ok(location)
}

/// Loads trusted public keys from files (raw 32 bytes or 64 hex characters each).
pub fn load_keys(paths: &[std::path::PathBuf]) -> Result<VerifyingKeys, String> {
    let mut keys = VerifyingKeys::default();
    for p in paths {
        let bytes =
            std::fs::read(p).map_err(|e| format!("cannot read public key {}: {e}", p.display()))?;
        keys.add(&bytes)
            .map_err(|e| format!("public key {}: {e}", p.display()))?;
    }
    Ok(keys)
}

/// Parses an RFC 3339 timestamp or a date (`2026-01-31`, midnight UTC; as `--to` it means the end of that day).
pub fn parse_time(s: &str, end_of_day: bool) -> Result<Timestamp, String> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t);
    }
    let date: k8s_openapi::jiff::civil::Date = s.parse().map_err(|_| {
        format!("{s:?} is neither an RFC 3339 time (2026-01-31T00:00:00Z) nor a date (2026-01-31)")
    })?;
    let start = date
        .to_zoned(k8s_openapi::jiff::tz::TimeZone::UTC)
        .map_err(|e| format!("{s:?}: {e}"))?
        .timestamp();
    if end_of_day {
        use k8s_openapi::jiff::ToSpan;
        start
            .checked_add(24.hours())
            .and_then(|t| t.checked_sub(1.second()))
            .map_err(|e| format!("{s:?}: {e}"))
    } else {
        Ok(start)
    }
}

/// A chain head published elsewhere, as `--expect-head` takes it: 64 hex characters.
pub fn parse_digest(s: &str) -> Result<String, String> {
    let t = s.trim().trim_start_matches("sha256:").to_ascii_lowercase();
    if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(t)
    } else {
        Err(format!(
            "--expect-head {s:?} is not a SHA-256 (64 hex characters, as EvidenceStore status.chainHead shows it)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_stores_are_named_by_absolute_file_uris() {
        let l = location("relative/chain", &S3Flags::default()).unwrap();
        let uri = l.uri();
        assert!(uri.starts_with("file:///"), "{uri}");
        assert!(uri.ends_with("/relative/chain"), "{uri}");
    }

    #[test]
    fn published_heads_parse() {
        let d = "AB".repeat(32);
        assert_eq!(parse_digest(&d).unwrap(), "ab".repeat(32));
        assert_eq!(
            parse_digest(&format!("sha256:{d}")).unwrap(),
            "ab".repeat(32)
        );
        assert!(parse_digest("abc").unwrap_err().contains("64 hex"));
    }

    #[test]
    fn parses_dates_and_times() {
        assert_eq!(
            parse_time("2026-01-31", false).unwrap(),
            "2026-01-31T00:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            parse_time("2026-01-31", true).unwrap(),
            "2026-01-31T23:59:59Z".parse::<Timestamp>().unwrap()
        );
        assert!(
            parse_time("yesterday", false)
                .unwrap_err()
                .contains("RFC 3339")
        );
    }
}
