//! Image provenance (CC6.8, CC7.1): what runs is what was built and reviewed.
//!
//! Each container image (init and regular) of an in-scope pod template must come from an allowed registry; where
//! required it is pinned by digest, so the content cannot change under the same name; it is never `latest` or
//! untagged (a moving target) unless pinned; and an unpinned image is pulled with `Always`, so that each start
//! goes through the registry's access control and gets the tag's current content rather than a node's stale copy.

use k8s_openapi::jiff::Timestamp;

use super::image_ref::{ImageRef, parse};
use super::workload_templates::{all_containers, in_scope};
use super::{Admissibility, Check, CheckReport, Finding};
use crate::api::{CheckKind, ImageProvenanceCheck};
use crate::view::stored::Container;
use crate::view::workloads::{PodTemplate, resource_kinds};
use crate::view::{ClusterSnapshot, Reads, ResourceKind, ScopeMatcher};

/// The image provenance check (`spec.check.imageProvenance`).
pub struct ImageProvenance;

impl Check for ImageProvenance {
    const KIND: CheckKind = CheckKind::ImageProvenance;
    type Params = ImageProvenanceCheck;

    fn params(check: &crate::api::Check) -> Option<&ImageProvenanceCheck> {
        check.image_provenance.as_ref()
    }

    fn reads(params: &ImageProvenanceCheck) -> Reads {
        Reads::kinds(&Self::subject_kinds(params))
    }

    fn subject_kinds(params: &ImageProvenanceCheck) -> Vec<ResourceKind> {
        resource_kinds(params.effective_kinds())
    }

    fn namespace_local_context(_: &ImageProvenanceCheck) -> Vec<ResourceKind> {
        vec![ResourceKind::Namespace]
    }

    fn admissibility(params: &ImageProvenanceCheck) -> Admissibility {
        Admissibility::per_object(Self::subject_kinds(params))
    }

    fn judge(
        view: &ClusterSnapshot,
        scope: &ScopeMatcher,
        params: &ImageProvenanceCheck,
        _: Timestamp,
    ) -> CheckReport {
        check(view, scope, params)
    }
}

/// Runs the check.
pub fn check(
    view: &ClusterSnapshot,
    scope: &ScopeMatcher,
    params: &ImageProvenanceCheck,
) -> CheckReport {
    let mut report = CheckReport::default();
    let policy = Policy {
        allowed: params.allowed_registries.clone(),
        require_digest: params.require_digest.unwrap_or(false),
        forbid_latest: params.forbid_latest_tag.unwrap_or(true),
        pull_always: params.require_pull_always.unwrap_or(true),
    };
    for template in in_scope(view, scope, &params.effective_kinds(), &mut report) {
        report.evaluated += 1;
        for (word, container) in all_containers(&template) {
            judge(&template, word, container, &policy, &mut report);
        }
    }
    report
}

struct Policy {
    allowed: Option<Vec<String>>,
    require_digest: bool,
    forbid_latest: bool,
    pull_always: bool,
}

/// "container api" in messages, written only into the findings that need it (most containers pass).
struct Who<'a>(&'a str, &'a str);

impl std::fmt::Display for Who<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.0, self.1)
    }
}

/// True when `prefix` admits `repository` (`registry/path`). A prefix ending in `/` is a plain prefix; one without
/// matches whole path components only, so `ghcr.io/acme` admits `ghcr.io/acme/api` but not `ghcr.io/acmecorp/api`.
pub fn prefix_allows(prefix: &str, repository: &str) -> bool {
    let prefix = prefix.trim();
    if prefix.is_empty() {
        return false;
    }
    // Registry hosts are case-insensitive; compare the host part in lowercase.
    let normalize = |s: &str| match s.split_once('/') {
        Some((host, rest)) => format!("{}/{rest}", host.to_ascii_lowercase()),
        None => s.to_ascii_lowercase(),
    };
    let (prefix, repository) = (normalize(prefix), repository.to_string());
    if prefix.ends_with('/') {
        repository.starts_with(&prefix)
    } else {
        repository == prefix || repository.starts_with(&format!("{prefix}/"))
    }
}

fn judge(
    template: &PodTemplate<'_>,
    word: &str,
    container: &Container,
    policy: &Policy,
    report: &mut CheckReport,
) {
    let resource = || template.resource();
    let who = Who(word, &container.name);
    let Some(image) = container.image.as_deref() else {
        report.findings.push(Finding::fail(
            resource(),
            "image-reference-invalid",
            format!("{who} names no image, so what it runs cannot be traced to a registry. Set an image reference."),
        ));
        return;
    };
    let parsed: ImageRef = match parse(image) {
        Ok(p) => p,
        Err(reason) => {
            report.findings.push(Finding::fail(
                resource(),
                "image-reference-invalid",
                format!("{who} uses image {image:?}, which is not a valid image reference: {reason}. Fix the reference."),
            ));
            return;
        }
    };
    let repository = parsed.repository();
    if let Some(allowed) = &policy.allowed
        && !allowed.iter().any(|p| prefix_allows(p, &repository))
    {
        report.findings.push(Finding::fail(
            resource(),
            "image-registry-not-allowed",
            format!(
                "{who} uses image {image} from {repository}, outside the allowed registries ({}). Mirror the image into an allowed registry and reference it there.",
                if allowed.is_empty() { "none allowed".to_string() } else { allowed.join(", ") }
            ),
        ));
    }
    let pinned = parsed.digest.is_some();
    if policy.require_digest && !pinned {
        report.findings.push(Finding::fail(
            resource(),
            "image-not-pinned-by-digest",
            format!(
                "{who} uses image {image}, not pinned by digest: the content behind the name can change without a change to the workload. Reference it as {repository}@sha256:<digest>."
            ),
        ));
    }
    let tag = parsed.tag.as_deref();
    if policy.forbid_latest && !pinned && tag.is_none_or(|t| t == "latest") {
        let how = if tag.is_none() {
            "has no tag, which means latest"
        } else {
            "is tagged latest"
        };
        report.findings.push(Finding::fail(
            resource(),
            "image-latest-tag",
            format!(
                "{who} uses image {image}, which {how}: a moving target, so the running version cannot be traced to a release. Use an immutable version tag or a digest."
            ),
        ));
    }
    if policy.pull_always && !pinned {
        // The API server defaults the policy to Always for latest or untagged images, else IfNotPresent.
        let effective = container.image_pull_policy.as_deref().unwrap_or(
            if tag.is_none_or(|t| t == "latest") {
                "Always"
            } else {
                "IfNotPresent"
            },
        );
        if effective != "Always" {
            report.findings.push(Finding::fail(
                resource(),
                "image-pull-policy-not-always",
                format!(
                    "{who} pulls image {image} with imagePullPolicy {effective}{}: a node may start a stale copy without the registry's access check. Set imagePullPolicy: Always, or pin the image by digest.",
                    if container.image_pull_policy.is_none() { " (the default for a tagged image)" } else { "" }
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::checks::FindingResult::Fail;
    use crate::checks::test_support::*;
    use crate::checks::workload_templates::fixtures::*;

    const SHA: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn spec(image: &str, policy: Option<&str>) -> Value {
        let mut c = json!({"name": "app", "image": image});
        if let Some(p) = policy {
            c["imagePullPolicy"] = json!(p);
        }
        json!({"containers": [c]})
    }

    fn run(pod_spec: Value, params: &ImageProvenanceCheck) -> CheckReport {
        let view = ClusterSnapshot {
            deployments: vec![deployment("web", "api", pod_spec, json!({}))],
            ..Default::default()
        };
        check(&view, &scope(&view), params)
    }

    fn rules(report: &CheckReport) -> Vec<&str> {
        let mut r: Vec<&str> = report.findings.iter().map(|f| f.rule.as_str()).collect();
        r.sort();
        r
    }

    #[test]
    fn allowed_registries_compare_normalized_references() {
        let params = ImageProvenanceCheck {
            allowed_registries: Some(vec!["registry.example.com/".into(), "ghcr.io/acme".into()]),
            forbid_latest_tag: Some(false),
            require_pull_always: Some(false),
            ..Default::default()
        };
        for allowed in [
            "registry.example.com/team/app:1.0",
            "REGISTRY.example.com/team/app:1.0",
            "ghcr.io/acme/api:2",
        ] {
            assert_report(&run(spec(allowed, None), &params), 1, &[]);
        }
        for denied in [
            "nginx:1.25",
            "ghcr.io/acmecorp/api:2",
            "registry.example.com.evil.io/app:1",
        ] {
            let report = run(spec(denied, None), &params);
            assert_report(
                &report,
                1,
                &[("Deployment web/api", Fail, "image-registry-not-allowed")],
            );
        }
        assert!(
            message(&run(spec("nginx:1.25", None), &params)).contains("docker.io/library/nginx")
        );
        // Docker Hub allowed through its normalized name.
        let hub = ImageProvenanceCheck {
            allowed_registries: Some(vec!["docker.io/library/".into()]),
            ..params
        };
        assert_report(&run(spec("nginx:1.25", None), &hub), 1, &[]);
    }

    #[test]
    fn digest_pinning_when_required() {
        let params = ImageProvenanceCheck {
            require_digest: Some(true),
            ..Default::default()
        };
        let pinned = format!("ghcr.io/acme/api@{SHA}");
        assert_report(&run(spec(&pinned, None), &params), 1, &[]);
        let tagged_and_pinned = format!("ghcr.io/acme/api:1.0@{SHA}");
        assert_report(
            &run(spec(&tagged_and_pinned, Some("IfNotPresent")), &params),
            1,
            &[],
        );
        let report = run(spec("ghcr.io/acme/api:1.0", Some("Always")), &params);
        assert_report(
            &report,
            1,
            &[("Deployment web/api", Fail, "image-not-pinned-by-digest")],
        );
        // Off by default.
        assert_report(
            &run(
                spec("ghcr.io/acme/api:1.0", Some("Always")),
                &ImageProvenanceCheck::default(),
            ),
            1,
            &[],
        );
    }

    #[test]
    fn latest_and_untagged_images() {
        let params = ImageProvenanceCheck::default();
        assert_eq!(
            rules(&run(spec("nginx", None), &params)),
            ["image-latest-tag"]
        );
        assert_eq!(
            rules(&run(spec("nginx:latest", Some("Always")), &params)),
            ["image-latest-tag"]
        );
        assert_eq!(
            rules(&run(spec("nginx:latest", Some("IfNotPresent")), &params)),
            ["image-latest-tag", "image-pull-policy-not-always"]
        );
        // Pinned by digest, latest is harmless.
        assert_report(
            &run(spec(&format!("nginx:latest@{SHA}"), None), &params),
            1,
            &[],
        );
        let off = ImageProvenanceCheck {
            forbid_latest_tag: Some(false),
            ..Default::default()
        };
        assert_report(&run(spec("nginx", None), &off), 1, &[]);
    }

    #[test]
    fn pull_policy_defaults_as_the_api_server_does() {
        let params = ImageProvenanceCheck::default();
        let report = run(spec("nginx:1.25", None), &params);
        assert_report(
            &report,
            1,
            &[("Deployment web/api", Fail, "image-pull-policy-not-always")],
        );
        assert!(message(&report).contains("IfNotPresent (the default for a tagged image)"));
        assert_eq!(
            rules(&run(spec("nginx:1.25", Some("Never")), &params)),
            ["image-pull-policy-not-always"]
        );
        assert_report(&run(spec("nginx:1.25", Some("Always")), &params), 1, &[]);
        assert_report(
            &run(spec(&format!("nginx@{SHA}"), Some("IfNotPresent")), &params),
            1,
            &[],
        );
        let off = ImageProvenanceCheck {
            require_pull_always: Some(false),
            ..Default::default()
        };
        assert_report(&run(spec("nginx:1.25", None), &off), 1, &[]);
    }

    #[test]
    fn init_containers_are_judged_and_malformed_images_fail_with_the_reason() {
        let pod_spec = json!({
            "initContainers": [{"name": "migrate", "image": "Registry.Example.com/App:1"}],
            "containers": [{"name": "app", "imagePullPolicy": "Always", "image": "ghcr.io/acme/api:1"},
                           {"name": "noimage"}],
        });
        let report = run(pod_spec, &ImageProvenanceCheck::default());
        assert_report(
            &report,
            1,
            &[
                ("Deployment web/api", Fail, "image-reference-invalid"),
                ("Deployment web/api", Fail, "image-reference-invalid"),
            ],
        );
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.message.contains("init container migrate")
                    && f.message.contains("not valid")),
            "{:#?}",
            report.findings
        );
    }

    #[test]
    fn out_of_scope_workloads_are_ignored() {
        let view = ClusterSnapshot {
            deployments: vec![deployment(
                "kube-system",
                "dns",
                spec("nginx", None),
                json!({}),
            )],
            ..Default::default()
        };
        assert_report(
            &check(&view, &scope(&view), &ImageProvenanceCheck::default()),
            0,
            &[],
        );
    }

    #[test]
    fn prefixes() {
        assert!(prefix_allows("ghcr.io/acme", "ghcr.io/acme"));
        assert!(prefix_allows("ghcr.io/acme/", "ghcr.io/acme/x"));
        assert!(!prefix_allows("ghcr.io/acme/", "ghcr.io/acme"));
        assert!(!prefix_allows("", "ghcr.io/acme"));
        assert!(prefix_allows(
            "registry.example.com:5000",
            "registry.example.com:5000/a"
        ));
    }
}
