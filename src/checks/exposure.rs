//! Exposure (CC6.6): every path from outside the cluster to a workload exists only after a recorded review.
//!
//! Paths are Services of type LoadBalancer or NodePort, Services with `externalIPs`, pods on the node's network
//! (`hostNetwork`) and container `hostPort`s. Each is allowed when its object carries every approval annotation;
//! otherwise it fails, naming the ports and the annotation to add after review. ExternalName Services only alias a
//! DNS name and expose nothing.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::jiff::Timestamp;

use super::network_isolation::{is_approved, validate_annotation_list};
use super::{Admissibility, Check, CheckReport, Finding};
use crate::api::{CheckKind, ExposedServiceType, ExposureCheck, WorkloadKind};
use crate::engine::validation::SpecError;
use crate::view::workloads::{PodTemplate, pod_templates, resource_kind};
use crate::view::{ClusterSnapshot, Reads, ResourceKind, ResourceRef, ScopeMatcher};

/// The kinds the check judges, each object on its own: Services (when any type is flagged or external IPs are)
/// and, when host access is checked, the workload kinds.
pub fn judged_kinds(params: &ExposureCheck) -> Vec<ResourceKind> {
    let mut kinds = Vec::new();
    if params.checks_services() {
        kinds.push(ResourceKind::Service);
    }
    if params.effective_host_access() {
        kinds.extend(params.effective_kinds().into_iter().map(resource_kind));
    }
    kinds
}

/// The exposure check (`spec.check.exposure`).
pub struct Exposure;

impl Check for Exposure {
    const KIND: CheckKind = CheckKind::Exposure;
    type Params = ExposureCheck;

    fn params(check: &crate::api::Check) -> Option<&ExposureCheck> {
        check.exposure.as_ref()
    }

    fn validate(params: &ExposureCheck) -> Result<(), SpecError> {
        validate_annotation_list(
            params.approval_annotations.as_ref(),
            "spec.check.exposure.approvalAnnotations",
        )
    }

    fn reads(params: &ExposureCheck) -> Reads {
        Reads::kinds(&judged_kinds(params))
    }

    fn subject_kinds(params: &ExposureCheck) -> Vec<ResourceKind> {
        judged_kinds(params)
    }

    fn namespace_local_context(_: &ExposureCheck) -> Vec<ResourceKind> {
        vec![ResourceKind::Namespace]
    }

    fn admissibility(params: &ExposureCheck) -> Admissibility {
        Admissibility::per_object(judged_kinds(params))
    }

    fn judge(
        view: &ClusterSnapshot,
        scope: &ScopeMatcher,
        params: &ExposureCheck,
        _: Timestamp,
    ) -> CheckReport {
        check(view, scope, params)
    }
}

/// Runs the check.
pub fn check(view: &ClusterSnapshot, scope: &ScopeMatcher, params: &ExposureCheck) -> CheckReport {
    let mut report = CheckReport::default();
    let approval = params.effective_approval_annotations();
    if params.checks_services()
        && !report.unknown_if_missing(
            view,
            ResourceKind::Service,
            ResourceRef::aspect("v1", "Service", "(all)"),
        )
    {
        let types = params.effective_service_types();
        let external_ips = params.effective_flag_external_ips();
        for service in view.services.iter().filter(|s| scope.matches(&s.metadata)) {
            report.evaluated += 1;
            if let Some(f) = judge_service(service, &types, external_ips, &approval) {
                report.findings.push(f);
            }
        }
    }
    if params.effective_host_access() {
        let mut kinds: Vec<WorkloadKind> = Vec::new();
        for kind in params.effective_kinds() {
            let aspect = ResourceRef::aspect("v1", &format!("{kind:?}"), "(all)");
            if !report.unknown_if_missing(view, resource_kind(kind), aspect) {
                kinds.push(kind);
            }
        }
        for template in pod_templates(view, &kinds)
            .iter()
            .filter(|t| scope.matches(t.meta))
        {
            report.evaluated += 1;
            if let Some(f) = judge_template(template, &approval) {
                report.findings.push(f);
            }
        }
    }
    report
}

fn annotation_hint(approval: &[String]) -> String {
    approval
        .iter()
        .map(|a| format!("{a}=<reviewer>"))
        .collect::<Vec<_>>()
        .join(" and ")
}

fn ports(service: &Service, node_ports: bool) -> String {
    let list: Vec<String> = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .into_iter()
        .flatten()
        .map(|p| {
            let proto = p.protocol.as_deref().unwrap_or("TCP");
            match p.node_port.filter(|n| node_ports && *n > 0) {
                Some(n) => format!("{}/{proto} (node port {n})", p.port),
                None => format!("{}/{proto}", p.port),
            }
        })
        .collect();
    if list.is_empty() {
        "(no ports declared)".to_string()
    } else {
        list.join(", ")
    }
}

fn judge_service(
    service: &Service,
    types: &[ExposedServiceType],
    external_ips: bool,
    approval: &[String],
) -> Option<Finding> {
    let spec = service.spec.as_ref()?;
    let service_type = spec.type_.as_deref().unwrap_or("ClusterIP");
    if service_type == "ExternalName" || is_approved(&service.metadata, approval) {
        return None;
    }
    let hint = annotation_hint(approval);
    let exposed_type = types.iter().find(|t| t.as_str() == service_type);
    if let Some(t) = exposed_type {
        let reach = match t {
            ExposedServiceType::LoadBalancer => {
                let ranges: Vec<&str> = spec
                    .load_balancer_source_ranges
                    .iter()
                    .flatten()
                    .map(|r| r.trim())
                    .filter(|r| !r.is_empty())
                    .collect();
                let open = ranges.is_empty()
                    || ranges
                        .iter()
                        .any(|r| super::network_policy::is_whole_internet(r));
                if open {
                    "a load balancer reachable from any address".to_string()
                } else {
                    format!(
                        "a load balancer restricted to {} (loadBalancerSourceRanges), which is still an entry point from outside the cluster",
                        ranges.join(", ")
                    )
                }
            }
            ExposedServiceType::NodePort => "a port on every node".to_string(),
        };
        let node_ports = spec.allocate_load_balancer_node_ports != Some(false);
        return Some(Finding::fail(
            service_ref(service),
            "exposure-not-approved",
            format!(
                "Service of type {service_type} exposes {} through {reach}, and no approval is recorded. Review the \
                 exposure, then annotate the Service with {hint}; or make it ClusterIP behind an Ingress.",
                ports(service, node_ports || *t == ExposedServiceType::NodePort),
            ),
        ));
    }
    let ips: Vec<&str> = spec
        .external_ips
        .iter()
        .flatten()
        .map(|s| s.as_str())
        .collect();
    if external_ips && !ips.is_empty() {
        return Some(Finding::fail(
            service_ref(service),
            "external-ips-not-approved",
            format!(
                "Service exposes {} on external IPs {}, and no approval is recorded. Review the exposure, then \
                 annotate the Service with {hint}; or remove spec.externalIPs.",
                ports(service, false),
                ips.join(", ")
            ),
        ));
    }
    None
}

fn service_ref(service: &Service) -> ResourceRef {
    ResourceRef::of(service)
}

fn judge_template(t: &PodTemplate<'_>, approval: &[String]) -> Option<Finding> {
    let host_network = t.spec.host_network == Some(true);
    let host_ports: Vec<String> = t
        .containers()
        .iter()
        .flat_map(|(word, c)| {
            c.ports.iter().flatten().filter_map(move |p| {
                p.host_port.filter(|h| *h > 0).map(|h| {
                    format!(
                        "hostPort {h}/{} on {word} {}",
                        p.protocol.as_deref().unwrap_or("TCP"),
                        c.name
                    )
                })
            })
        })
        .collect();
    if !host_network && host_ports.is_empty() {
        return None;
    }
    let approved = approval
        .iter()
        .all(|key| t.annotation(key).is_some_and(|v| !v.trim().is_empty()));
    if approved {
        return None;
    }
    let hint = annotation_hint(approval);
    let (rule, what) = if host_network {
        let ports = if host_ports.is_empty() {
            String::new()
        } else {
            format!(", with {}", host_ports.join(", "))
        };
        (
            "host-network-not-approved",
            format!(
                "runs its pods on the node's network (hostNetwork: true{ports}), so every port they listen on is \
                 open on the node and NetworkPolicies do not apply to them"
            ),
        )
    } else {
        (
            "host-port-not-approved",
            format!(
                "opens {} on the node it runs on, bypassing Services and exposing the pod on the node's address",
                host_ports.join(", ")
            ),
        )
    };
    Some(Finding::fail(
        t.resource(),
        rule,
        format!(
            "{} {what}, and no approval is recorded. Review the exposure, then annotate the workload with {hint}; or \
             remove it and publish the pod through a Service.",
            t.type_.1
        ),
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::view::stored::{DaemonSet, Deployment, Pod};

    use super::*;
    use crate::api::Scope;
    use crate::checks::FindingResult::{Fail, Unknown};
    use crate::checks::test_support::*;

    fn yaml<T: serde::de::DeserializeOwned>(text: &str) -> Arc<T> {
        Arc::new(serde_yaml::from_str(text).expect("valid object"))
    }

    fn service(name: &str, spec: &str, annotations: &str) -> Arc<Service> {
        yaml(&format!(
            "metadata: {{name: {name}, namespace: web, annotations: {annotations}}}\nspec: {spec}"
        ))
    }

    fn run_scoped(
        view: &ClusterSnapshot,
        scope: Option<Scope>,
        params: &ExposureCheck,
    ) -> CheckReport {
        let scope = ScopeMatcher::new(scope.as_ref(), view).unwrap();
        check(view, &scope, params)
    }

    fn run(view: &ClusterSnapshot, params: &ExposureCheck) -> CheckReport {
        run_scoped(view, None, params)
    }

    fn services(list: Vec<Arc<Service>>) -> ClusterSnapshot {
        ClusterSnapshot {
            services: list,
            ..Default::default()
        }
    }

    fn services_only() -> ExposureCheck {
        ExposureCheck {
            host_access: Some(false),
            ..Default::default()
        }
    }

    const APPROVED: &str = "{soc2.dev/exposure-approved-by: jane}";

    #[test]
    fn load_balancer_and_node_port_need_approval() {
        let view = services(vec![
            service(
                "lb",
                "{type: LoadBalancer, ports: [{port: 443, nodePort: 30443}]}",
                "{}",
            ),
            service(
                "np",
                "{type: NodePort, ports: [{port: 80, protocol: UDP, nodePort: 30080}]}",
                "{}",
            ),
            service(
                "lb-ok",
                "{type: LoadBalancer, ports: [{port: 443}]}",
                APPROVED,
            ),
            service("np-ok", "{type: NodePort, ports: [{port: 80}]}", APPROVED),
            service("internal", "{type: ClusterIP, ports: [{port: 80}]}", "{}"),
            service("default-type", "{ports: [{port: 80}]}", "{}"),
            service(
                "alias",
                "{type: ExternalName, externalName: db.example.com}",
                "{}",
            ),
        ]);
        let report = run(&view, &services_only());
        assert_report(
            &report,
            7,
            &[
                ("Service web/lb", Fail, "exposure-not-approved"),
                ("Service web/np", Fail, "exposure-not-approved"),
            ],
        );
        let lb = &report
            .findings
            .iter()
            .find(|f| f.resource.name == "lb")
            .unwrap()
            .message;
        assert!(
            lb.contains("type LoadBalancer exposes 443/TCP (node port 30443)"),
            "{lb}"
        );
        assert!(lb.contains("reachable from any address"), "{lb}");
        assert!(
            lb.contains("soc2.dev/exposure-approved-by=<reviewer>"),
            "{lb}"
        );
        let np = &report
            .findings
            .iter()
            .find(|f| f.resource.name == "np")
            .unwrap()
            .message;
        assert!(
            np.contains("80/UDP (node port 30080)") && np.contains("a port on every node"),
            "{np}"
        );
    }

    #[test]
    fn source_ranges_are_named_but_still_need_approval() {
        let view = services(vec![service(
            "office-lb",
            "{type: LoadBalancer, allocateLoadBalancerNodePorts: false, loadBalancerSourceRanges: [203.0.113.0/24, 198.51.100.7/32], ports: [{port: 443, nodePort: 30443}]}",
            "{}",
        )]);
        let report = run(&view, &services_only());
        assert_report(
            &report,
            1,
            &[("Service web/office-lb", Fail, "exposure-not-approved")],
        );
        let m = message(&report);
        assert!(
            m.contains("restricted to 203.0.113.0/24, 198.51.100.7/32"),
            "{m}"
        );
        assert!(
            m.contains("exposes 443/TCP,") || m.contains("exposes 443/TCP through"),
            "{m}"
        );
        let open = services(vec![service(
            "lb",
            "{type: LoadBalancer, loadBalancerSourceRanges: [0.0.0.0/0]}",
            "{}",
        )]);
        assert!(message(&run(&open, &services_only())).contains("reachable from any address"));
    }

    #[test]
    fn service_types_are_configurable() {
        let view = services(vec![
            service("lb", "{type: LoadBalancer}", "{}"),
            service("np", "{type: NodePort}", "{}"),
        ]);
        let lb_only = ExposureCheck {
            service_types: Some(vec![ExposedServiceType::LoadBalancer]),
            ..services_only()
        };
        assert_report(
            &run(&view, &lb_only),
            2,
            &[("Service web/lb", Fail, "exposure-not-approved")],
        );
        let none = ExposureCheck {
            service_types: Some(vec![]),
            flag_external_ips: Some(false),
            ..services_only()
        };
        assert_report(&run(&view, &none), 0, &[]);
    }

    #[test]
    fn external_ips_need_approval() {
        let view = services(vec![
            service(
                "eip",
                "{type: ClusterIP, externalIPs: [192.0.2.10], ports: [{port: 8080}]}",
                "{}",
            ),
            service("eip-ok", "{externalIPs: [192.0.2.11]}", APPROVED),
        ]);
        let report = run(&view, &services_only());
        assert_report(
            &report,
            2,
            &[("Service web/eip", Fail, "external-ips-not-approved")],
        );
        assert!(message(&report).contains("8080/TCP on external IPs 192.0.2.10"));
        let off = ExposureCheck {
            flag_external_ips: Some(false),
            ..services_only()
        };
        assert_report(&run(&view, &off), 2, &[]);
    }

    #[test]
    fn approval_needs_every_configured_annotation() {
        let params = ExposureCheck {
            approval_annotations: Some(vec![
                "soc2.dev/exposure-approved-by".into(),
                "soc2.dev/change-ticket".into(),
            ]),
            ..services_only()
        };
        let view = services(vec![
            service("half", "{type: LoadBalancer}", APPROVED),
            service(
                "full",
                "{type: LoadBalancer}",
                "{soc2.dev/exposure-approved-by: jane, soc2.dev/change-ticket: SEC-9}",
            ),
            service(
                "blank",
                "{type: LoadBalancer}",
                "{soc2.dev/exposure-approved-by: '', soc2.dev/change-ticket: SEC-9}",
            ),
        ]);
        let report = run(&view, &params);
        assert_report(
            &report,
            3,
            &[
                ("Service web/blank", Fail, "exposure-not-approved"),
                ("Service web/half", Fail, "exposure-not-approved"),
            ],
        );
        assert!(
            report.findings[0]
                .message
                .contains("soc2.dev/change-ticket=<reviewer>")
        );
    }

    fn deployment(name: &str, pod_spec: &str, annotations: &str) -> Arc<Deployment> {
        yaml(&format!(
            "metadata: {{name: {name}, namespace: web, annotations: {annotations}}}\nspec: {{selector: {{}}, template: {{spec: {pod_spec}}}}}"
        ))
    }

    fn hosts_only() -> ExposureCheck {
        ExposureCheck {
            service_types: Some(vec![]),
            flag_external_ips: Some(false),
            ..Default::default()
        }
    }

    #[test]
    fn host_network_and_host_ports_need_approval() {
        let view = ClusterSnapshot {
            deployments: vec![
                deployment(
                    "hostnet",
                    "{hostNetwork: true, containers: [{name: a}]}",
                    "{}",
                ),
                deployment(
                    "hostport",
                    "{containers: [{name: a, ports: [{containerPort: 8080, hostPort: 80}]}]}",
                    "{}",
                ),
                deployment(
                    "init-hostport",
                    "{initContainers: [{name: i, ports: [{containerPort: 1, hostPort: 9000, protocol: UDP}]}], containers: [{name: a}]}",
                    "{}",
                ),
                deployment(
                    "hostnet-ok",
                    "{hostNetwork: true, containers: [{name: a}]}",
                    APPROVED,
                ),
                deployment(
                    "plain",
                    "{hostNetwork: false, containers: [{name: a, ports: [{containerPort: 8080}]}]}",
                    "{}",
                ),
                deployment(
                    "zero-hostport",
                    "{containers: [{name: a, ports: [{containerPort: 8080, hostPort: 0}]}]}",
                    "{}",
                ),
            ],
            daemon_sets: vec![yaml(
                "metadata: {name: agent, namespace: web}\nspec: {selector: {}, template: {metadata: {annotations: {soc2.dev/exposure-approved-by: jane}}, spec: {hostNetwork: true, containers: [{name: a, ports: [{containerPort: 9100, hostPort: 9100}]}]}}}",
            )],
            pods: vec![yaml::<Pod>(
                "metadata: {name: debug, namespace: web}\nspec: {hostNetwork: true, containers: [{name: sh}]}",
            )],
            ..Default::default()
        };
        let report = run(&view, &hosts_only());
        assert_report(
            &report,
            8,
            &[
                ("Deployment web/hostnet", Fail, "host-network-not-approved"),
                ("Deployment web/hostport", Fail, "host-port-not-approved"),
                (
                    "Deployment web/init-hostport",
                    Fail,
                    "host-port-not-approved",
                ),
                ("Pod web/debug", Fail, "host-network-not-approved"),
            ],
        );
        let hp = &report
            .findings
            .iter()
            .find(|f| f.resource.name == "hostport")
            .unwrap()
            .message;
        assert!(hp.contains("hostPort 80/TCP on container a"), "{hp}");
        let init = &report
            .findings
            .iter()
            .find(|f| f.resource.name == "init-hostport")
            .unwrap()
            .message;
        assert!(
            init.contains("hostPort 9000/UDP on init container i"),
            "{init}"
        );
        // Kinds are configurable.
        let deployments_only = ExposureCheck {
            kinds: Some(vec![WorkloadKind::DaemonSet]),
            ..hosts_only()
        };
        assert_report(&run(&view, &deployments_only), 1, &[]);
    }

    #[test]
    fn out_of_scope_objects_are_ignored() {
        let view = ClusterSnapshot {
            services: vec![yaml(
                "metadata: {name: lb, namespace: kube-system}\nspec: {type: LoadBalancer}",
            )],
            daemon_sets: vec![yaml::<DaemonSet>(
                "metadata: {name: kube-proxy, namespace: kube-system}\nspec: {selector: {}, template: {spec: {hostNetwork: true, containers: [{name: p}]}}}",
            )],
            ..Default::default()
        };
        let scope = Scope {
            exclude_namespaces: Some(vec!["kube-system".into()]),
            ..Default::default()
        };
        assert_report(
            &run_scoped(&view, Some(scope), &ExposureCheck::default()),
            0,
            &[],
        );
        assert_eq!(run(&view, &ExposureCheck::default()).findings.len(), 2);
    }

    #[test]
    fn unreadable_kinds_are_unknown() {
        let mut view = ClusterSnapshot::default();
        view.unavailable
            .insert(ResourceKind::Service, "forbidden".into());
        view.unavailable
            .insert(ResourceKind::Pod, "not synced".into());
        let report = run(&view, &ExposureCheck::default());
        assert_report(
            &report,
            2,
            &[
                ("Pod (all)", Unknown, "data-unavailable"),
                ("Service (all)", Unknown, "data-unavailable"),
            ],
        );
    }

    #[test]
    fn malformed_objects_never_panic() {
        let view = ClusterSnapshot {
            services: vec![
                Arc::new(Service::default()),
                yaml("metadata: {name: odd}\nspec: {type: loadbalancer}"),
                yaml("metadata: {name: lb}\nspec: {type: LoadBalancer, ports: []}"),
            ],
            deployments: vec![
                yaml("metadata: {name: nospec}"),
                yaml("metadata: {name: notemplate}\nspec: {selector: {}, template: {}}"),
            ],
            ..Default::default()
        };
        let report = run(&view, &ExposureCheck::default());
        assert_report(&report, 3, &[("Service lb", Fail, "exposure-not-approved")]);
        assert!(message(&report).contains("exposes (no ports declared)"));
    }
}
