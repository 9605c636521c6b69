//! Encryption at rest (CC6.1, C1.1): the kube-apiserver encrypts Secrets in etcd, or, on a managed control plane,
//! an attestation says the provider does.

use k8s_openapi::jiff::Timestamp;

use super::apiserver_flags::visible_api_servers;
use super::attestation::{AttestationSubject, judge_attestation};
use super::{Admissibility, Check, CheckReport, Finding};
use crate::api::{CheckKind, EncryptionAtRestCheck};
use crate::view::{ClusterSnapshot, Reads, ResourceKind, ResourceRef, ScopeMatcher};

const FIELD: &str = "spec.check.encryptionAtRest.attestation";

fn control_plane() -> ResourceRef {
    ResourceRef::aspect("v1", "ControlPlane", "kube-apiserver")
}

/// The encryption at rest check (`spec.check.encryptionAtRest`).
pub struct EncryptionAtRest;

impl Check for EncryptionAtRest {
    const KIND: CheckKind = CheckKind::EncryptionAtRest;
    type Params = EncryptionAtRestCheck;

    fn params(check: &crate::api::Check) -> Option<&EncryptionAtRestCheck> {
        check.encryption_at_rest.as_ref()
    }

    fn reads(_: &EncryptionAtRestCheck) -> Reads {
        Reads::kinds(&[ResourceKind::ControlPlanePod])
    }

    fn admissibility(_: &EncryptionAtRestCheck) -> Admissibility {
        Admissibility::AuditOnly(
            "the encryptionAtRest check reads the control plane's configuration, which is not admitted object by object",
        )
    }

    fn judge(
        view: &ClusterSnapshot,
        _: &ScopeMatcher,
        params: &EncryptionAtRestCheck,
        now: Timestamp,
    ) -> CheckReport {
        check(view, params, now)
    }
}

/// Runs the check. `now` dates attestations.
pub fn check(
    view: &ClusterSnapshot,
    params: &EncryptionAtRestCheck,
    now: Timestamp,
) -> CheckReport {
    let mut report = CheckReport::default();
    if report.unknown_if_missing(view, ResourceKind::ControlPlanePod, control_plane()) {
        return report;
    }
    let servers = visible_api_servers(view);
    for (pod, flags) in &servers {
        report.evaluated += 1;
        if !flags.has_value("encryption-provider-config") {
            report.findings.push(Finding::fail(
                ResourceRef::of(*pod),
                "encryption-provider-missing",
                "kube-apiserver runs without --encryption-provider-config, so Secrets are stored in etcd unencrypted \
                 (base64 only). Configure an EncryptionConfiguration with a KMS v2 or aescbc/aesgcm/secretbox \
                 provider first in the list for secrets, then rewrite existing Secrets.",
            ));
        }
    }
    if !servers.is_empty() {
        return report;
    }
    report.evaluated += 1;
    report.findings.push(match &params.attestation {
        None => Finding::unknown(
            control_plane(),
            "encryption-not-visible",
            format!(
                "No kube-apiserver static pod is visible in kube-system (a managed control plane?), so encryption of \
                 Secrets at rest cannot be verified from the cluster. Enable the provider's envelope encryption (for \
                 example EKS KMS encryption, GKE application-layer secrets encryption, AKS KMS etcd encryption) and \
                 record {FIELD} (attestedBy, reference, date)."
            ),
        ),
        Some(a) => judge_attestation(
            a,
            now,
            &AttestationSubject {
                resource: control_plane(),
                field: FIELD,
                statement: "Encryption of Secrets at rest",
                attested_rule: "encryption-at-rest-attested",
                attested_state: "Secrets are encrypted at rest by the managed control plane",
            },
        ),
    });
    report
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;
    use crate::api::{Attestation, FindingResult::*};
    use crate::checks::test_support::*;

    const CONTROL_PLANE: &str = "ControlPlane kube-apiserver";
    const POD: &str = "Pod kube-system/kube-apiserver-cp1";

    fn now() -> Timestamp {
        "2026-06-01T00:00:00Z".parse().expect("timestamp")
    }

    fn apiserver(args: &[&str]) -> ClusterSnapshot {
        let mut command = vec!["kube-apiserver".to_string()];
        command.extend(args.iter().map(|a| a.to_string()));
        ClusterSnapshot {
            control_plane_pods: vec![Arc::new(Pod {
                metadata: ObjectMeta {
                    name: Some("kube-apiserver-cp1".into()),
                    namespace: Some("kube-system".into()),
                    labels: Some([("component".to_string(), "kube-apiserver".to_string())].into()),
                    ..Default::default()
                },
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "kube-apiserver".into(),
                        command: Some(command),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            })],
            ..Default::default()
        }
    }

    fn attested(date: &str) -> EncryptionAtRestCheck {
        EncryptionAtRestCheck {
            attestation: Some(Attestation {
                attested_by: "jane.doe@example.com (Head of Platform)".into(),
                reference:
                    "EKS cluster prod-eu-1 secrets encryption with KMS key alias/prod, SEC-77"
                        .into(),
                date: date.into(),
            }),
        }
    }

    #[test]
    fn an_encryption_provider_config_passes() {
        let view = apiserver(&["--encryption-provider-config=/etc/kubernetes/enc.yaml"]);
        assert_report(&check(&view, &Default::default(), now()), 1, &[]);
    }

    #[test]
    fn a_visible_apiserver_without_encryption_fails_even_when_attested() {
        let view = apiserver(&["--v=2"]);
        let report = check(&view, &attested("2026-05-01"), now());
        assert_report(&report, 1, &[(POD, Fail, "encryption-provider-missing")]);
        assert!(message(&report).contains("--encryption-provider-config"));
    }

    #[test]
    fn an_empty_flag_value_is_not_a_configuration() {
        let view = apiserver(&["--encryption-provider-config="]);
        assert_report(
            &check(&view, &Default::default(), now()),
            1,
            &[(POD, Fail, "encryption-provider-missing")],
        );
    }

    #[test]
    fn a_managed_control_plane_is_unknown_without_attestation_and_noticed_with_one() {
        let managed = ClusterSnapshot::default();
        assert_report(
            &check(&managed, &Default::default(), now()),
            1,
            &[(CONTROL_PLANE, Unknown, "encryption-not-visible")],
        );
        assert_report(
            &check(&managed, &attested("2026-05-01"), now()),
            1,
            &[(CONTROL_PLANE, Notice, "encryption-at-rest-attested")],
        );
        assert_report(
            &check(&managed, &attested("2024-05-01"), now()),
            1,
            &[(CONTROL_PLANE, Fail, "attestation-expired")],
        );
        let report = check(&managed, &attested("2026-13-01"), now());
        assert_report(&report, 1, &[(CONTROL_PLANE, Fail, "attestation-invalid")]);
        assert!(message(&report).contains(FIELD));
    }

    #[test]
    fn unreadable_control_plane_pods_are_unknown() {
        let mut view = ClusterSnapshot::default();
        view.unavailable
            .insert(ResourceKind::ControlPlanePod, "forbidden".into());
        assert_report(
            &check(&view, &attested("2026-05-01"), now()),
            1,
            &[(CONTROL_PLANE, Unknown, "data-unavailable")],
        );
    }
}
