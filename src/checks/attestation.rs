//! Attestations: a named person's dated statement standing in for what the cluster cannot show (control-plane
//! flags of a managed Kubernetes service). Judged the same way wherever a check accepts one.

use k8s_openapi::jiff::{Timestamp, civil::Date, tz::TimeZone};

use super::Finding;
use crate::api::Attestation;
use crate::view::ResourceRef;

/// Attestations older than this many days no longer count.
pub const ATTESTATION_MAX_AGE_DAYS: i64 = 365;

/// What an attestation is about, for findings and messages.
pub struct AttestationSubject<'a> {
    /// The aspect findings are about.
    pub resource: ResourceRef,
    /// Where the attestation lives in the spec, e.g. `spec.check.logging.auditAttestation`.
    pub field: &'a str,
    /// What is attested, as a noun phrase: "API audit logging".
    pub statement: &'a str,
    /// The rule id of an accepted attestation.
    pub attested_rule: &'a str,
    /// The attested state as a clause: "API audit logging is enabled on the managed control plane".
    pub attested_state: &'a str,
}

/// A Notice when the attestation is well-formed and at most [`ATTESTATION_MAX_AGE_DAYS`] old; a Fail otherwise.
pub fn judge_attestation(
    a: &Attestation,
    now: Timestamp,
    about: &AttestationSubject<'_>,
) -> Finding {
    let today = now.to_zoned(TimeZone::UTC).date();
    let field = about.field;
    // jiff also accepts `20260101`, `2026-01-01T10:00` and `+002026-01-01`; the documented format is YYYY-MM-DD only.
    let parsed = if is_iso_date_shape(&a.date) {
        a.date.parse::<Date>().map_err(|e| e.to_string())
    } else {
        Err("expected YYYY-MM-DD".to_string())
    };
    let resource = about.resource.clone();
    match parsed {
        Err(e) => Finding::fail(
            resource,
            "attestation-invalid",
            format!("{field}.date {:?} is not a date (YYYY-MM-DD): {e}", a.date),
        ),
        Ok(date) if date > today => Finding::fail(
            resource,
            "attestation-invalid",
            format!("{field}.date {date} is in the future; attest to what is true today."),
        ),
        Ok(date) if i64::from((today - date).get_days()) > ATTESTATION_MAX_AGE_DAYS => {
            Finding::fail(
                resource,
                "attestation-expired",
                format!(
                    "{} was attested by {} on {date} ({}), more than {ATTESTATION_MAX_AGE_DAYS} days ago. Re-attest.",
                    about.statement, a.attested_by, a.reference
                ),
            )
        }
        Ok(date) => Finding::notice(
            resource,
            about.attested_rule,
            format!(
                "Attested: {}, attested by {} on {date} (reference: {}). kube-apiserver flags are not visible in this cluster.",
                about.attested_state, a.attested_by, a.reference
            ),
        ),
    }
}

/// True for exactly four digits, a dash, two digits, a dash, two digits.
fn is_iso_date_shape(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}
