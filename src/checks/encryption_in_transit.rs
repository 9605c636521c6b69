//! Encryption in transit (CC6.7): every in-scope Ingress terminates TLS for every host name it serves.
//!
//! A rule's `host` is covered by a `tls` entry listing it (or a wildcard `*.example.com` covering one more label).
//! A rule without `host`, and a `defaultBackend`, serve every name; only a `tls` entry without `hosts` (the
//! controller's default certificate) covers them. Optionally an annotation must force HTTP to HTTPS redirection.
//! Gateway API listeners, where the CRDs are installed, must use HTTPS or TLS with a certificate.

use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::jiff::Timestamp;

use super::network_isolation::validate_annotation_list;
use super::{Admissibility, Check, CheckReport, Finding};
use crate::api::{CheckKind, EncryptionInTransitCheck};
use crate::engine::validation::SpecError;
use crate::view::{ClusterSnapshot, Gvk, Reads, ResourceKind, ResourceRef, ScopeMatcher};

/// The encryption in transit check (`spec.check.encryptionInTransit`).
pub struct EncryptionInTransit;

impl Check for EncryptionInTransit {
    const KIND: CheckKind = CheckKind::EncryptionInTransit;
    type Params = EncryptionInTransitCheck;

    fn params(check: &crate::api::Check) -> Option<&EncryptionInTransitCheck> {
        check.encryption_in_transit.as_ref()
    }

    fn validate(params: &EncryptionInTransitCheck) -> Result<(), SpecError> {
        validate_annotation_list(
            params.ssl_redirect_annotations.as_ref(),
            "spec.check.encryptionInTransit.sslRedirectAnnotations",
        )
    }

    fn reads(params: &EncryptionInTransitCheck) -> Reads {
        let mut gvks = Vec::new();
        if params.effective_gateway_api() {
            gvks.push(gateway_gvk());
        }
        Reads::new(vec![ResourceKind::Ingress], gvks)
    }

    fn subject_kinds(_: &EncryptionInTransitCheck) -> Vec<ResourceKind> {
        vec![ResourceKind::Ingress]
    }

    fn namespace_local_context(_: &EncryptionInTransitCheck) -> Vec<ResourceKind> {
        vec![ResourceKind::Namespace]
    }

    fn admissibility(_: &EncryptionInTransitCheck) -> Admissibility {
        Admissibility::PerObject(vec![ResourceKind::Ingress])
    }

    fn judge(
        view: &ClusterSnapshot,
        scope: &ScopeMatcher,
        params: &EncryptionInTransitCheck,
        _: Timestamp,
    ) -> CheckReport {
        check(view, scope, params)
    }
}

/// Runs the check.
pub fn check(
    view: &ClusterSnapshot,
    scope: &ScopeMatcher,
    params: &EncryptionInTransitCheck,
) -> CheckReport {
    let mut report = CheckReport::default();
    if report.unknown_if_missing(
        view,
        ResourceKind::Ingress,
        ResourceRef::aspect("networking.k8s.io/v1", "Ingress", "(all)"),
    ) {
        return report;
    }
    let redirect = params
        .effective_require_ssl_redirect()
        .then(|| params.effective_ssl_redirect_annotations());
    for ingress in view.ingresses.iter().filter(|i| scope.matches(&i.metadata)) {
        report.evaluated += 1;
        report.findings.extend(judge(ingress, redirect.as_deref()));
    }
    if params.effective_gateway_api() {
        gateways(view, scope, &mut report);
    }
    report
}

/// The Gateway API kind whose listeners are judged.
pub fn gateway_gvk() -> Gvk {
    Gvk::new("gateway.networking.k8s.io", "v1", "Gateway")
}

/// Gateway listeners: cleartext protocols fail; HTTPS/TLS termination needs a certificate. A cluster without the
/// Gateway API CRDs has nothing to judge; any other reason the Gateways cannot be read is Unknown.
fn gateways(view: &ClusterSnapshot, scope: &ScopeMatcher, report: &mut CheckReport) {
    let gvk = gateway_gvk();
    let objects = match view.dynamic(&gvk) {
        Ok(objects) => objects,
        Err(reason) if reason.contains("is not installed") => return,
        Err(reason) => {
            report.evaluated += 1;
            report.findings.push(Finding::unknown(
                ResourceRef::aspect(&gvk.api_version(), "Gateway", "(all)"),
                "data-unavailable",
                format!("Gateways could not be read: {reason}"),
            ));
            return;
        }
    };
    for gateway in objects.iter().filter(|g| scope.matches(&g.metadata)) {
        report.evaluated += 1;
        let resource = ResourceRef::from_dynamic(&gvk, gateway);
        let listeners = gateway
            .data
            .pointer("/spec/listeners")
            .and_then(serde_json::Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (i, listener) in listeners.iter().enumerate() {
            let name = listener
                .get("name")
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("#{i}"));
            let port = listener
                .get("port")
                .and_then(serde_json::Value::as_i64)
                .map(|p| format!(" on port {p}"))
                .unwrap_or_default();
            let protocol = listener
                .get("protocol")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("");
            match protocol {
                "HTTPS" | "TLS" => {
                    let tls = listener.get("tls");
                    let passthrough = tls
                        .and_then(|t| t.get("mode"))
                        .and_then(serde_json::Value::as_str)
                        == Some("Passthrough");
                    let has_certificate = tls
                        .and_then(|t| t.get("certificateRefs"))
                        .and_then(serde_json::Value::as_array)
                        .is_some_and(|refs| !refs.is_empty());
                    if !passthrough && !has_certificate {
                        report.findings.push(Finding::fail(
                            resource.clone(),
                            "gateway-listener-without-certificate",
                            format!(
                                "listener {name}{port} ({protocol}) terminates TLS but references no certificate \
                                 (tls.certificateRefs is empty), so it cannot serve encrypted traffic. Reference the \
                                 certificate Secret in tls.certificateRefs."
                            ),
                        ));
                    }
                }
                _ => report.findings.push(Finding::fail(
                    resource.clone(),
                    "gateway-listener-without-tls",
                    format!(
                        "listener {name}{port} accepts {} traffic without TLS, so data crosses the network \
                         unencrypted. Serve it as HTTPS (or TLS) with a certificate; a listener that only \
                         redirects to HTTPS is recorded as a ControlException.",
                        if protocol.is_empty() { "unspecified" } else { protocol }
                    ),
                )),
            }
        }
    }
}

/// What an Ingress serves: named hosts, and whether it also serves every name.
struct Served {
    hosts: Vec<String>,
    every_name: Option<&'static str>,
}

fn served(ingress: &Ingress) -> Served {
    let mut out = Served {
        hosts: Vec::new(),
        every_name: None,
    };
    let Some(spec) = ingress.spec.as_ref() else {
        return out;
    };
    for rule in spec.rules.iter().flatten() {
        match rule
            .host
            .as_deref()
            .map(str::trim)
            .filter(|h| !h.is_empty())
        {
            Some(h) => out.hosts.push(h.to_ascii_lowercase()),
            None => out.every_name = Some("a rule without host"),
        }
    }
    if out.every_name.is_none() && spec.default_backend.is_some() {
        out.every_name = Some("a defaultBackend");
    }
    out.hosts.sort();
    out.hosts.dedup();
    out
}

/// True when a TLS host (possibly `*.domain`) covers a served host.
pub fn tls_covers(tls_host: &str, host: &str) -> bool {
    let tls_host = tls_host.trim().to_ascii_lowercase();
    if tls_host == host {
        return true;
    }
    match (tls_host.strip_prefix("*."), host.split_once('.')) {
        (Some(domain), Some((label, rest))) => !label.is_empty() && label != "*" && rest == domain,
        _ => false,
    }
}

fn judge(ingress: &Ingress, redirect: Option<&[String]>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let resource = ResourceRef::of(ingress);
    let served = served(ingress);
    if served.hosts.is_empty() && served.every_name.is_none() {
        return findings;
    }
    let tls = ingress
        .spec
        .as_ref()
        .and_then(|s| s.tls.as_deref())
        .unwrap_or_default();
    let names = || {
        let mut all: Vec<String> = served.hosts.clone();
        if let Some(why) = served.every_name {
            all.push(format!("every host name (through {why})"));
        }
        all.join(", ")
    };
    if tls.is_empty() {
        findings.push(Finding::fail(
            resource,
            "ingress-without-tls",
            format!(
                "Ingress serves {} over plain HTTP: spec.tls is empty, so traffic and credentials cross the network \
                 unencrypted. Add a spec.tls entry with a certificate Secret for each host.",
                names()
            ),
        ));
        return findings;
    }
    let default_certificate = tls.iter().any(|t| {
        t.hosts
            .as_ref()
            .is_none_or(|h| h.iter().all(|h| h.trim().is_empty()))
    });
    let uncovered: Vec<&String> = served
        .hosts
        .iter()
        .filter(|h| {
            !default_certificate
                && !tls
                    .iter()
                    .flat_map(|t| t.hosts.iter().flatten())
                    .any(|t| tls_covers(t, h))
        })
        .collect();
    if !uncovered.is_empty() {
        findings.push(Finding::fail(
            resource.clone(),
            "host-without-tls",
            format!(
                "Ingress serves {} without TLS: no spec.tls entry lists {}. Add the host to a spec.tls entry whose \
                 certificate covers it.",
                uncovered.iter().map(|h| h.as_str()).collect::<Vec<_>>().join(", "),
                if uncovered.len() == 1 { "it" } else { "them" }
            ),
        ));
    }
    if let Some(why) = served.every_name
        && !default_certificate
    {
        findings.push(Finding::fail(
            resource.clone(),
            "catch-all-without-tls",
            format!(
                "Ingress serves every host name through {why}, but every spec.tls entry lists specific hosts, so \
                 requests for other names are served without TLS. Give the rule a host covered by spec.tls, or add a \
                 spec.tls entry without hosts (the default certificate)."
            ),
        ));
    }
    if let Some(annotations) = redirect {
        let value = |key: &String| {
            ingress
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(key))
                .map(|v| v.trim().to_ascii_lowercase())
        };
        if !annotations
            .iter()
            .any(|k| value(k).as_deref() == Some("true"))
        {
            let disabled: Vec<&str> = annotations
                .iter()
                .filter(|k| value(k).as_deref() == Some("false"))
                .map(String::as_str)
                .collect();
            let state = if disabled.is_empty() {
                "no annotation forces HTTPS redirection".to_string()
            } else {
                format!(
                    "redirection is turned off ({} is \"false\")",
                    disabled.join(", ")
                )
            };
            findings.push(Finding::fail(
                resource,
                "ssl-redirect-not-forced",
                format!(
                    "Ingress accepts plain HTTP: {state}, so clients may send requests unencrypted. Set one of {} to \
                     \"true\".",
                    annotations.join(", ")
                ),
            ));
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::api::Scope;
    use crate::checks::FindingResult::{Fail, Unknown};
    use crate::checks::test_support::*;

    fn ingress(name: &str, spec: &str, annotations: &str) -> Arc<Ingress> {
        Arc::new(
            serde_yaml::from_str(&format!(
                "metadata: {{name: {name}, namespace: web, annotations: {annotations}}}\nspec: {spec}"
            ))
            .expect("valid ingress"),
        )
    }

    fn view(list: Vec<Arc<Ingress>>) -> ClusterSnapshot {
        ClusterSnapshot {
            ingresses: list,
            ..Default::default()
        }
    }

    fn run_scoped(
        view: &ClusterSnapshot,
        scope: Option<Scope>,
        params: &EncryptionInTransitCheck,
    ) -> CheckReport {
        let scope = ScopeMatcher::new(scope.as_ref(), view).unwrap();
        check(view, &scope, params)
    }

    fn run(view: &ClusterSnapshot) -> CheckReport {
        run_scoped(view, None, &EncryptionInTransitCheck::default())
    }

    const BACKEND: &str = "{http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: s, port: {number: 80}}}}]}";

    fn rules(hosts: &[Option<&str>]) -> String {
        hosts
            .iter()
            .map(|h| match h {
                Some(h) => format!("{BACKEND}, host: {h}}}"),
                None => format!("{BACKEND}}}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    #[test]
    fn an_ingress_without_tls_fails_and_its_twin_passes() {
        let plain = ingress(
            "plain",
            &format!("{{rules: [{}]}}", rules(&[Some("shop.example.com")])),
            "{}",
        );
        let secure = ingress(
            "secure",
            &format!(
                "{{tls: [{{hosts: [shop.example.com], secretName: shop-tls}}], rules: [{}]}}",
                rules(&[Some("shop.example.com")])
            ),
            "{}",
        );
        let report = run(&view(vec![plain, secure]));
        assert_report(
            &report,
            2,
            &[("Ingress web/plain", Fail, "ingress-without-tls")],
        );
        assert!(message(&report).contains("serves shop.example.com over plain HTTP"));
    }

    #[test]
    fn every_host_must_be_covered() {
        let partial = ingress(
            "partial",
            &format!(
                "{{tls: [{{hosts: [a.example.com]}}], rules: [{}]}}",
                rules(&[
                    Some("a.example.com"),
                    Some("b.example.com"),
                    Some("A.example.com")
                ])
            ),
            "{}",
        );
        let report = run(&view(vec![partial]));
        assert_report(
            &report,
            1,
            &[("Ingress web/partial", Fail, "host-without-tls")],
        );
        assert!(
            message(&report).contains("serves b.example.com without TLS"),
            "{}",
            message(&report)
        );
        // Hosts split over two tls entries are covered.
        let split = ingress(
            "split",
            &format!(
                "{{tls: [{{hosts: [a.example.com]}}, {{hosts: [B.Example.com]}}], rules: [{}]}}",
                rules(&[Some("a.example.com"), Some("b.example.com")])
            ),
            "{}",
        );
        assert_report(&run(&view(vec![split])), 1, &[]);
    }

    #[test]
    fn wildcards_cover_one_label() {
        assert!(tls_covers("*.example.com", "shop.example.com"));
        assert!(tls_covers("*.Example.com", "shop.example.com"));
        assert!(!tls_covers("*.example.com", "a.shop.example.com"));
        assert!(!tls_covers("*.example.com", "example.com"));
        assert!(tls_covers("*.example.com", "*.example.com"));
        assert!(!tls_covers("shop.example.com", "*.example.com"));
        assert!(!tls_covers("*.example.com", ".example.com"));
        let wild = ingress(
            "wild",
            &format!(
                "{{tls: [{{hosts: ['*.example.com']}}], rules: [{}]}}",
                rules(&[Some("shop.example.com"), Some("a.b.example.com")])
            ),
            "{}",
        );
        let report = run(&view(vec![wild]));
        assert_report(
            &report,
            1,
            &[("Ingress web/wild", Fail, "host-without-tls")],
        );
        assert!(message(&report).contains("serves a.b.example.com without TLS"));
    }

    #[test]
    fn catch_all_rules_need_a_default_certificate() {
        let hostless = ingress(
            "hostless",
            &format!(
                "{{tls: [{{hosts: [a.example.com]}}], rules: [{}]}}",
                rules(&[None, Some("a.example.com")])
            ),
            "{}",
        );
        let report = run(&view(vec![hostless]));
        assert_report(
            &report,
            1,
            &[("Ingress web/hostless", Fail, "catch-all-without-tls")],
        );
        assert!(message(&report).contains("through a rule without host"));
        let default_cert = ingress(
            "default-cert",
            &format!(
                "{{tls: [{{secretName: wildcard}}], rules: [{}]}}",
                rules(&[None, Some("b.example.com")])
            ),
            "{}",
        );
        assert_report(&run(&view(vec![default_cert])), 1, &[]);
        let empty_hosts = ingress(
            "empty-hosts",
            &format!("{{tls: [{{hosts: []}}], rules: [{}]}}", rules(&[None])),
            "{}",
        );
        assert_report(&run(&view(vec![empty_hosts])), 1, &[]);
        let backend_only = ingress(
            "backend",
            "{defaultBackend: {service: {name: s, port: {number: 80}}}}",
            "{}",
        );
        let report = run(&view(vec![backend_only]));
        assert_report(
            &report,
            1,
            &[("Ingress web/backend", Fail, "ingress-without-tls")],
        );
        assert!(message(&report).contains("every host name (through a defaultBackend)"));
    }

    #[test]
    fn ssl_redirect_is_required_only_when_asked() {
        let spec = format!(
            "{{tls: [{{hosts: [a.example.com]}}], rules: [{}]}}",
            rules(&[Some("a.example.com")])
        );
        let none = ingress("none", &spec, "{}");
        let forced = ingress(
            "forced",
            &spec,
            "{nginx.ingress.kubernetes.io/force-ssl-redirect: 'True'}",
        );
        let redirect = ingress(
            "redirect",
            &spec,
            "{nginx.ingress.kubernetes.io/ssl-redirect: 'true'}",
        );
        let off = ingress(
            "off",
            &spec,
            "{nginx.ingress.kubernetes.io/ssl-redirect: 'false'}",
        );
        let v = view(vec![none, forced, redirect, off]);
        assert_report(&run(&v), 4, &[]);
        let params = EncryptionInTransitCheck {
            require_ssl_redirect: Some(true),
            ..Default::default()
        };
        let report = run_scoped(&v, None, &params);
        assert_report(
            &report,
            4,
            &[
                ("Ingress web/none", Fail, "ssl-redirect-not-forced"),
                ("Ingress web/off", Fail, "ssl-redirect-not-forced"),
            ],
        );
        assert!(report.findings.iter().any(|f| {
            f.message
                .contains("nginx.ingress.kubernetes.io/ssl-redirect is \"false\"")
        }));
        let custom = EncryptionInTransitCheck {
            require_ssl_redirect: Some(true),
            ssl_redirect_annotations: Some(vec!["example.com/https-only".into()]),
            gateway_api: None,
        };
        let own = ingress("own", &spec, "{example.com/https-only: 'true'}");
        assert_report(
            &run_scoped(
                &view(vec![
                    own,
                    ingress(
                        "forced",
                        &spec,
                        "{nginx.ingress.kubernetes.io/force-ssl-redirect: 'true'}",
                    ),
                ]),
                None,
                &custom,
            ),
            2,
            &[("Ingress web/forced", Fail, "ssl-redirect-not-forced")],
        );
    }

    #[test]
    fn out_of_scope_ingresses_are_ignored() {
        let plain = ingress(
            "plain",
            &format!("{{rules: [{}]}}", rules(&[Some("a.example.com")])),
            "{}",
        );
        let scope = Scope {
            namespaces: Some(vec!["payments".into()]),
            ..Default::default()
        };
        assert_report(
            &run_scoped(
                &view(vec![plain]),
                Some(scope),
                &EncryptionInTransitCheck::default(),
            ),
            0,
            &[],
        );
    }

    #[test]
    fn unreadable_ingresses_are_unknown() {
        let mut v = view(vec![]);
        v.unavailable
            .insert(ResourceKind::Ingress, "forbidden".into());
        assert_report(
            &run(&v),
            1,
            &[("Ingress (all)", Unknown, "data-unavailable")],
        );
    }

    #[test]
    fn malformed_ingresses_never_panic() {
        let no_spec: Arc<Ingress> =
            Arc::new(serde_yaml::from_str("metadata: {name: empty, namespace: web}").unwrap());
        let no_rules = ingress("norules", "{tls: [{hosts: [a.example.com]}]}", "{}");
        let blank_host = ingress(
            "blank",
            &format!("{{rules: [{}]}}", rules(&[Some("' '")])),
            "{}",
        );
        let report = run(&view(vec![no_spec, no_rules, blank_host]));
        assert_report(
            &report,
            3,
            &[("Ingress web/blank", Fail, "ingress-without-tls")],
        );
        assert!(message(&report).contains("every host name (through a rule without host)"));
    }

    fn gateway(
        namespace: &str,
        name: &str,
        listeners: serde_json::Value,
    ) -> Arc<kube::api::DynamicObject> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"gatewayClassName": "eg", "listeners": listeners},
            }))
            .expect("gateway"),
        )
    }

    fn with_gateways(gateways: Vec<Arc<kube::api::DynamicObject>>) -> ClusterSnapshot {
        let mut view = ClusterSnapshot::default();
        view.dynamic.insert(gateway_gvk(), gateways);
        view
    }

    #[test]
    fn gateway_listeners_need_tls_with_a_certificate() {
        let cert =
            serde_json::json!({"mode": "Terminate", "certificateRefs": [{"name": "web-tls"}]});
        let view = with_gateways(vec![
            gateway(
                "web",
                "secure",
                serde_json::json!([
                    {"name": "https", "port": 443, "protocol": "HTTPS", "tls": cert},
                    {"name": "passthrough", "port": 8443, "protocol": "TLS", "tls": {"mode": "Passthrough"}},
                ]),
            ),
            gateway(
                "web",
                "plain",
                serde_json::json!([
                    {"name": "http", "port": 80, "protocol": "HTTP"},
                    {"name": "db", "port": 5432, "protocol": "TCP"},
                ]),
            ),
            gateway(
                "web",
                "no-cert",
                serde_json::json!([
                    {"name": "https", "port": 443, "protocol": "HTTPS", "tls": {"mode": "Terminate"}},
                ]),
            ),
            // Malformed: no listeners at all, odd types: judged without a panic.
            gateway("web", "odd", serde_json::json!("not-a-list")),
        ]);
        let report = run(&view);
        assert_report(
            &report,
            4,
            &[
                (
                    "Gateway web/no-cert",
                    Fail,
                    "gateway-listener-without-certificate",
                ),
                ("Gateway web/plain", Fail, "gateway-listener-without-tls"),
                ("Gateway web/plain", Fail, "gateway-listener-without-tls"),
            ],
        );
        assert!(report.findings.iter().any(|f| {
            f.message
                .contains("listener http on port 80 accepts HTTP traffic")
        }));
    }

    #[test]
    fn gateways_are_skipped_without_the_crd_unknown_when_unreadable_and_off_when_disabled() {
        let mut absent = ClusterSnapshot::default();
        absent.dynamic_unavailable.insert(
            gateway_gvk(),
            "the CRD gateway.networking.k8s.io/v1 Gateway is not installed".into(),
        );
        assert_report(&run(&absent), 0, &[]);
        let mut forbidden = ClusterSnapshot::default();
        forbidden
            .dynamic_unavailable
            .insert(gateway_gvk(), "forbidden: list gateways".into());
        assert_report(
            &run(&forbidden),
            1,
            &[("Gateway (all)", Unknown, "data-unavailable")],
        );
        let plain = with_gateways(vec![gateway(
            "web",
            "plain",
            serde_json::json!([{"name": "http", "port": 80, "protocol": "HTTP"}]),
        )]);
        let off = EncryptionInTransitCheck {
            gateway_api: Some(false),
            ..Default::default()
        };
        assert_report(&run_scoped(&plain, None, &off), 0, &[]);
        let other_namespace = Scope {
            namespaces: Some(vec!["payments".into()]),
            ..Default::default()
        };
        assert_report(
            &run_scoped(&plain, Some(other_namespace), &Default::default()),
            0,
            &[],
        );
    }
}
