//! Image provenance (CC6.8, CC7.1): what runs is what was built and reviewed.
//!
//! Each container image (init and regular) of an in-scope pod template must come from an allowed registry; where
//! required it is pinned by digest, so the content cannot change under the same name; it is never `latest` or
//! untagged (a moving target) unless pinned; and an unpinned image is pulled with `Always`, so that each start
//! goes through the registry's access control and gets the tag's current content rather than a node's stale copy.

use k8s_openapi::api::core::v1::Container;

use super::image_ref::{ImageRef, parse};
use super::workload_templates::in_scope;
use super::{CheckReport, Finding};
use crate::api::ImageProvenanceCheck;
use crate::view::workloads::PodTemplate;
use crate::view::{ClusterSnapshot, ScopeMatcher};

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
        for (word, container) in template.containers() {
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
    let resource = || template.resource.clone();
    let who = format!("{word} {}", container.name);
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
