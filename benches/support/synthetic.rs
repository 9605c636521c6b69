//! A deterministic synthetic cluster for the benchmarks: about `n` objects of the kinds the checks read, in
//! proportions of a large multi-tenant cluster (workloads dominate), shaped as the operator caches them (the
//! watches strip managedFields from everything but workloads, and Secret data).
//!
//! Seeded with a tiny xorshift so that every run builds the same cluster; no `rand` dependency.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::DynamicObject;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use soc2_operator::view::stored::{CronJob, DaemonSet, Deployment, Job, StatefulSet};
use soc2_operator::view::{ClusterSnapshot, Gvk, stored, strip_dynamic};

/// xorshift64: enough randomness for picking proportions, fully reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `percent` / 100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

thread_local! {
    /// Every object built while [`whole_objects`] runs, as the API server serves it.
    static RECORDED: RefCell<Option<Vec<(Gvk, Value)>>> = const { RefCell::new(None) };
}

fn typed<K: DeserializeOwned + kube::Resource<DynamicType = ()>>(value: Value) -> Arc<K> {
    RECORDED.with(|r| {
        if let Some(recorded) = r.borrow_mut().as_mut() {
            let gvk = Gvk::from_api_version(&K::api_version(&()), &K::kind(&()));
            recorded.push((gvk, value.clone()));
        }
    });
    Arc::new(serde_json::from_value(value).expect("synthetic object matches its schema"))
}

/// Every object of `cluster(n, seed)` as the API server serves it (with apiVersion and kind), in the order built.
#[allow(dead_code)]
pub fn manifests(n: usize, seed: u64) -> Vec<(Gvk, Value)> {
    RECORDED.with(|r| *r.borrow_mut() = Some(Vec::new()));
    drop(cluster(n, seed));
    let recorded = RECORDED.with(|r| r.borrow_mut().take()).unwrap_or_default();
    recorded
        .into_iter()
        .map(|(gvk, mut value)| {
            value["apiVersion"] = json!(gvk.api_version());
            value["kind"] = json!(gvk.kind);
            (gvk, value)
        })
        .collect()
}

/// The objects of `cluster(n, seed)` whose typed stores are trimmed (workloads, Pods), whole, as a watch of their
/// own serves them to CEL rules (stripped as dynamic objects are), by group/version/kind. For the tests (the
/// benchmarks measure the typed stores only).
#[allow(dead_code)]
pub fn whole_objects(n: usize, seed: u64) -> BTreeMap<Gvk, Vec<Arc<DynamicObject>>> {
    let mut whole: BTreeMap<Gvk, Vec<Arc<DynamicObject>>> = BTreeMap::new();
    for (gvk, value) in manifests(n, seed) {
        if gvk.trimmed_kind().is_none() {
            continue;
        }
        let mut object: DynamicObject = serde_json::from_value(value).expect("dynamic object");
        strip_dynamic(&mut object);
        whole.entry(gvk).or_default().push(Arc::new(object));
    }
    whole
}

const TEAMS: &[&str] = &[
    "payments", "checkout", "search", "identity", "data", "ml", "web", "mobile",
];
const ENVS: &[&str] = &["prod", "staging", "dev"];
const SYSTEM_NAMESPACES: &[&str] = &[
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "argocd",
    "logging",
];

fn uid(kind: &str, i: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", kind.len() * 7919 + 1, i)
}

fn at(seconds: u64) -> String {
    // 2026-01-01T00:00:00Z plus `seconds` (kept under a day apart so that formatting stays trivial).
    let days = seconds / 86_400;
    let s = seconds % 86_400;
    format!(
        "2026-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        1 + (days / 28) % 12,
        1 + days % 28,
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

/// Ten times the average number of objects a workload brings: itself, its ServiceAccount (1), a Service (0.7),
/// a PodDisruptionBudget (0.35), an Ingress (0.1), its pods (about 1.55, bare ones included) and, for CronJobs,
/// the last Job (0.25).
const OBJECTS_PER_WORKLOAD_X10: usize = 49;

/// How many objects of each kind a cluster of about `n` objects holds.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub namespaces: usize,
    pub nodes: usize,
    pub cluster_roles: usize,
    pub cluster_role_bindings: usize,
    pub roles_per_namespace: usize,
    pub role_bindings_per_namespace: usize,
    pub token_secrets: usize,
    pub workloads: usize,
}

impl Shape {
    pub fn for_total(n: usize) -> Self {
        let namespaces = (n / 100).max(5);
        let nodes = (n / 200).max(3);
        let cluster_roles = 80 + n / 1000;
        let cluster_role_bindings = 60 + n / 1000;
        let token_secrets = (n / 5000).max(2);
        let fixed = namespaces
            + SYSTEM_NAMESPACES.len()
            + nodes
            + (12 + nodes + 2) // kube-system pods: control plane, kube-proxy, coredns
            + cluster_roles
            + cluster_role_bindings
            + namespaces * 5
            + token_secrets
            + 2 // log collectors
            + namespaces * 2; // NetworkPolicies: default-deny and an allow rule (about)
        Shape {
            namespaces,
            nodes,
            cluster_roles,
            cluster_role_bindings,
            roles_per_namespace: 2,
            role_bindings_per_namespace: 3,
            token_secrets,
            // Each workload comes with about OBJECTS_PER_WORKLOAD objects (see `cluster`).
            workloads: (n.saturating_sub(fixed) * 10 / OBJECTS_PER_WORKLOAD_X10).max(10),
        }
    }
}

/// Total number of objects in a snapshot.
pub fn object_count(s: &ClusterSnapshot) -> usize {
    s.namespaces.len()
        + s.nodes.len()
        + s.control_plane_pods.len()
        + s.service_account_token_secrets.len()
        + s.roles.len()
        + s.cluster_roles.len()
        + s.role_bindings.len()
        + s.cluster_role_bindings.len()
        + s.deployments.len()
        + s.stateful_sets.len()
        + s.daemon_sets.len()
        + s.cron_jobs.len()
        + s.jobs.len()
        + s.pods.len()
        + s.services.len()
        + s.service_accounts.len()
        + s.network_policies.len()
        + s.ingresses.len()
        + s.pod_disruption_budgets.len()
        + s.control_exceptions.len()
}

/// A cluster of about `n` objects, the same for the same `(n, seed)`.
pub fn cluster(n: usize, seed: u64) -> ClusterSnapshot {
    let shape = Shape::for_total(n);
    let mut rng = Rng::new(seed);
    let mut s = ClusterSnapshot::default();

    // Namespaces: system ones, then tenant namespaces labelled by team and environment.
    let tenants: Vec<String> = (0..shape.namespaces)
        .map(|i| {
            format!(
                "{}-{}-{i}",
                TEAMS[i % TEAMS.len()],
                ENVS[(i / TEAMS.len()) % ENVS.len()]
            )
        })
        .collect();
    for (i, name) in SYSTEM_NAMESPACES.iter().enumerate() {
        s.namespaces.push(typed(json!({
            "metadata": {
                "name": name, "uid": uid("Namespace", i), "resourceVersion": (10 + i).to_string(),
                "creationTimestamp": at(0),
                "labels": {"kubernetes.io/metadata.name": name},
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        })));
    }
    for (i, name) in tenants.iter().enumerate() {
        s.namespaces.push(typed(json!({
            "metadata": {
                "name": name, "uid": uid("Namespace", 100 + i), "resourceVersion": (1000 + i).to_string(),
                "creationTimestamp": at(60 * i as u64),
                "labels": {
                    "kubernetes.io/metadata.name": name,
                    "team": TEAMS[i % TEAMS.len()],
                    "env": ENVS[(i / TEAMS.len()) % ENVS.len()],
                    "soc2.dev/in-scope": if rng.percent(80) { "true" } else { "false" },
                    // Pod Security Admission: restricted in most namespaces, baseline or unlabelled in some.
                    "pod-security.kubernetes.io/enforce": match rng.below(10) { 0 => "baseline", 1 => "privileged", _ => "restricted" },
                    "soc2.dev/data-classification": if rng.percent(10) { "confidential" } else { "internal" },
                },
                "annotations": {"argocd.argoproj.io/tracking-id": format!("tenants:/Namespace:{name}")},
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        })));
    }

    // Nodes: three tainted control-plane nodes, the rest workers across three zones.
    for i in 0..shape.nodes {
        let name = format!("node-{i:05}");
        let control_plane = i < 3;
        let mut labels = json!({
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "topology.kubernetes.io/zone": format!("eu-west-1{}", ["a", "b", "c"][i % 3]),
            "node.kubernetes.io/instance-type": "m6i.2xlarge",
        });
        if control_plane {
            labels["node-role.kubernetes.io/control-plane"] = json!("");
        }
        let conditions: Vec<Value> = ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
            .iter()
            .map(|t| {
                json!({
                    "type": t, "status": if *t == "Ready" { "True" } else { "False" },
                    "lastHeartbeatTime": at(3600), "lastTransitionTime": at(0),
                    "reason": format!("Kubelet{t}"), "message": "kubelet is posting ready status",
                })
            })
            .collect::<Vec<_>>();
        s.nodes.push(typed(json!({
            "metadata": {"name": name, "uid": uid("Node", i), "resourceVersion": (5000 + i).to_string(),
                         "creationTimestamp": at(0), "labels": labels,
                         "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                         "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
            "spec": {
                "podCIDR": format!("10.{}.{}.0/24", 64 + i / 256, i % 256),
                "providerID": format!("aws:///eu-west-1a/i-{:017x}", i),
                "taints": if control_plane {
                    json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}])
                } else { Value::Null },
                "unschedulable": rng.percent(1),
            },
            "status": {
                "capacity": {"cpu": "8", "memory": "32386Mi", "pods": "110", "ephemeral-storage": "100Gi"},
                "allocatable": {"cpu": "7910m", "memory": "31000Mi", "pods": "110", "ephemeral-storage": "92Gi"},
                "conditions": conditions,
                "addresses": [{"type": "InternalIP", "address": format!("10.0.{}.{}", i / 256, i % 256)},
                              {"type": "Hostname", "address": name}],
                "nodeInfo": {
                    "machineID": format!("{:032x}", i), "systemUUID": format!("{:032x}", i + 1), "bootID": format!("{:032x}", i + 2),
                    "kernelVersion": "6.1.0-27-cloud-amd64", "osImage": "Debian GNU/Linux 12 (bookworm)",
                    "containerRuntimeVersion": "containerd://1.7.24", "kubeletVersion": "v1.33.2",
                    "kubeProxyVersion": "v1.33.2", "operatingSystem": "linux", "architecture": "amd64",
                },
            },
        })));
    }

    // kube-system pods: three HA control-plane nodes' static pods, one kube-proxy per node, CoreDNS.
    let mut pods = 0;
    let mut pod = |name: String, component: &str, command: Vec<String>| {
        pods += 1;
        typed::<Pod>(json!({
            "metadata": {"name": name, "namespace": "kube-system", "uid": uid("Pod", pods),
                         "labels": {"component": component, "tier": "control-plane"}},
            "spec": {"containers": [{"name": component, "image": format!("registry.k8s.io/{component}:v1.33.2"),
                                     "command": command}],
                     "hostNetwork": true, "priorityClassName": "system-node-critical"},
            "status": {"phase": "Running", "podIP": "10.0.0.1"},
        }))
    };
    for i in 0..3 {
        let mut apiserver = vec![
            "kube-apiserver".to_string(),
            "--advertise-address=10.0.0.1".into(),
            "--authorization-mode=Node,RBAC".into(),
            "--anonymous-auth=false".into(),
            "--audit-log-path=/var/log/kubernetes/audit.log".into(),
            "--audit-policy-file=/etc/kubernetes/audit-policy.yaml".into(),
            "--oidc-issuer-url=https://idp.example.com".into(),
            "--oidc-groups-claim=groups".into(),
            "--oidc-groups-prefix=oidc:".into(),
            "--tls-cert-file=/etc/kubernetes/pki/apiserver.crt".into(),
        ];
        if i == 2 {
            // One apiserver drifted from the others: a finding at every size.
            apiserver.retain(|f| !f.starts_with("--anonymous-auth"));
        }
        let node = format!("node-{i:05}");
        s.control_plane_pods.push(pod(
            format!("kube-apiserver-{node}"),
            "kube-apiserver",
            apiserver,
        ));
        for c in ["etcd", "kube-scheduler", "kube-controller-manager"] {
            s.control_plane_pods.push(pod(
                format!("{c}-{node}"),
                c,
                vec![c.to_string(), "--v=2".into()],
            ));
        }
    }
    for i in 0..shape.nodes {
        s.control_plane_pods.push(pod(
            format!("kube-proxy-{i:05}"),
            "kube-proxy",
            vec!["/usr/local/bin/kube-proxy".into()],
        ));
    }
    for i in 0..2 {
        s.control_plane_pods
            .push(pod(format!("coredns-7db6d8ff4d-{i}"), "coredns", vec![]));
    }

    // ClusterRoles: the built-in ones (a few privileged by name or by rules), then custom ones.
    let rule = |groups: &[&str], resources: &[&str], verbs: &[&str]| json!({"apiGroups": groups, "resources": resources, "verbs": verbs});
    let read = ["get", "list", "watch"];
    for i in 0..shape.cluster_roles {
        let (name, rules) = match i {
            0 => (
                "cluster-admin".to_string(),
                vec![rule(&["*"], &["*"], &["*"])],
            ),
            1 => (
                "admin".to_string(),
                vec![rule(&[""], &["secrets", "pods"], &["*"])],
            ),
            2 => (
                "edit".to_string(),
                vec![rule(&["apps"], &["deployments"], &["*"])],
            ),
            3 => (
                "view".to_string(),
                vec![rule(&["", "apps"], &["pods", "deployments"], &read)],
            ),
            _ if i % 10 == 0 => (
                format!("custom-privileged-{i}"),
                vec![
                    rule(&[""], &["secrets"], &read),
                    rule(&["apps"], &["*"], &read),
                ],
            ),
            _ if i % 15 == 0 => (
                format!("custom-escalate-{i}"),
                vec![rule(
                    &["rbac.authorization.k8s.io"],
                    &["clusterroles"],
                    &["bind", "escalate"],
                )],
            ),
            _ => (
                format!("system:controller:reader-{i}"),
                vec![
                    rule(
                        &["", "apps"],
                        &["pods", "deployments", "replicasets"],
                        &read,
                    ),
                    rule(&["batch"], &["jobs", "cronjobs"], &read),
                    rule(&["coordination.k8s.io"], &["leases"], &["get", "update"]),
                ],
            ),
        };
        s.cluster_roles.push(typed(json!({
            "metadata": {"name": name, "uid": uid("ClusterRole", i), "resourceVersion": (20000 + i).to_string(),
                         "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                         "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
            "rules": rules,
        })));
    }
    let cluster_role_names: Vec<String> = s
        .cluster_roles
        .iter()
        .filter_map(|r| r.metadata.name.clone())
        .collect();

    // ClusterRoleBindings: control-plane identities, MFA groups, break glass, a few direct users.
    let subject = |kind: &str, name: &str, namespace: Option<&str>| match (kind, namespace) {
        ("ServiceAccount", Some(ns)) => json!({"kind": kind, "name": name, "namespace": ns}),
        _ => json!({"kind": kind, "name": name, "apiGroup": "rbac.authorization.k8s.io"}),
    };
    for i in 0..shape.cluster_role_bindings {
        let (role, subjects) = match i {
            0 => (
                "cluster-admin".to_string(),
                vec![subject("Group", "oidc:platform-admins", None)],
            ),
            1 => (
                "cluster-admin".to_string(),
                vec![subject("User", "breakglass-admin", None)],
            ),
            2 => (
                "system:controller:reader-4".to_string(),
                vec![subject("Group", "system:nodes", None)],
            ),
            3 => (
                "cluster-admin".to_string(),
                vec![subject("User", "alice@example.com", None)],
            ),
            _ => {
                let role = cluster_role_names[rng.below(cluster_role_names.len())].clone();
                let subjects = match rng.below(10) {
                    0..=4 => vec![subject(
                        "ServiceAccount",
                        &format!("controller-{i}"),
                        Some("kube-system"),
                    )],
                    5..=7 => vec![subject("Group", &format!("oidc:mfa-team-{}", i % 8), None)],
                    8 => vec![subject(
                        "ServiceAccount",
                        "argocd-application-controller",
                        Some("argocd"),
                    )],
                    _ => vec![subject("User", &format!("user-{i}@example.com"), None)],
                };
                (role, subjects)
            }
        };
        s.cluster_role_bindings.push(typed(json!({
            "metadata": {"name": format!("binding-{i}"), "uid": uid("ClusterRoleBinding", i),
                         "resourceVersion": (30000 + i).to_string()},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": subjects,
        })));
    }

    // Per tenant namespace: a deployer Role (privileged: reads Secrets) and a reader Role; three RoleBindings.
    let mut rb_index = 0;
    for (t, ns) in tenants.iter().enumerate() {
        for r in 0..shape.roles_per_namespace {
            let (name, rules) = if r == 0 {
                (
                    "deployer",
                    vec![rule(
                        &[""],
                        &["secrets", "configmaps"],
                        &["get", "list", "create", "update"],
                    )],
                )
            } else {
                (
                    "reader",
                    vec![rule(
                        &["", "apps"],
                        &["pods", "deployments", "services"],
                        &read,
                    )],
                )
            };
            s.roles.push(typed(json!({
                "metadata": {"name": name, "namespace": ns, "uid": uid("Role", t * 10 + r),
                             "resourceVersion": (40000 + t * 10 + r).to_string(),
                             "labels": {"app.kubernetes.io/managed-by": "argocd"}},
                "rules": rules,
            })));
        }
        for b in 0..shape.role_bindings_per_namespace {
            rb_index += 1;
            let team = TEAMS[t % TEAMS.len()];
            let (kind, role, subjects) = match b {
                0 => (
                    "Role",
                    "deployer",
                    vec![subject("ServiceAccount", "deployer", Some(ns))],
                ),
                1 => (
                    "Role",
                    "reader",
                    vec![subject("Group", &format!("oidc:{team}-developers"), None)],
                ),
                _ => match rng.below(20) {
                    0 => (
                        "ClusterRole",
                        "admin",
                        vec![subject("User", &format!("dev-{t}@example.com"), None)],
                    ),
                    1..=9 => (
                        "ClusterRole",
                        "edit",
                        vec![subject("Group", &format!("oidc:mfa-{team}"), None)],
                    ),
                    _ => (
                        "ClusterRole",
                        "view",
                        vec![subject("Group", &format!("oidc:{team}-readers"), None)],
                    ),
                },
            };
            s.role_bindings.push(typed(json!({
                "metadata": {"name": format!("{role}-{b}"), "namespace": ns, "uid": uid("RoleBinding", rb_index),
                             "resourceVersion": (50000 + rb_index).to_string(),
                             "labels": {"app.kubernetes.io/managed-by": "argocd"}},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
                "subjects": subjects,
            })));
        }
    }

    // A few legacy service-account token Secrets, data already removed as the watch caches them.
    for i in 0..shape.token_secrets {
        let ns = &tenants[rng.below(tenants.len())];
        s.service_account_token_secrets.push(typed(json!({
            "metadata": {"name": format!("ci-token-{i}"), "namespace": ns, "uid": uid("Secret", i),
                         "annotations": {"kubernetes.io/service-account.name": "ci",
                                         "kubernetes.io/service-account.uid": uid("ServiceAccount", i)}},
            "type": "kubernetes.io/service-account-token",
        })));
    }

    // Log collectors in `logging`, ready on every node (one lagging by a node: a finding at every size).
    for (i, (name, image)) in [
        ("fluent-bit", "cr.fluentbit.io/fluent/fluent-bit:3.2.2"),
        ("vector", "timberio/vector:0.43.0-debian"),
    ]
    .into_iter()
    .enumerate()
    {
        let nodes = shape.nodes as i32;
        s.daemon_sets.push(typed(json!({
            "metadata": {"name": name, "namespace": "logging", "uid": uid("DaemonSet", 900_000 + i),
                         "labels": {"app.kubernetes.io/name": name}, "generation": 3,
                         "managedFields": managed_fields(&mut rng, 1_000, Mix::Gitops)},
            "spec": {
                "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                "template": {
                    "metadata": {"labels": {"app.kubernetes.io/name": name}},
                    "spec": {"containers": [container(name, image, 2020)],
                             "tolerations": [{"operator": "Exists"}],
                             "serviceAccountName": name},
                },
            },
            "status": {"desiredNumberScheduled": nodes, "currentNumberScheduled": nodes,
                       "numberReady": nodes - i as i32, "numberAvailable": nodes - i as i32,
                       "numberMisscheduled": 0, "observedGeneration": 3, "updatedNumberScheduled": nodes},
        })));
    }

    // NetworkPolicies: default-deny ingress in 90% of tenant namespaces plus an allow rule from the ingress
    // controller; 3% of namespaces also admit 0.0.0.0/0 (internet ingress findings at every size).
    for (t, ns) in tenants.iter().enumerate() {
        if t == 0 || rng.percent(90) {
            s.network_policies.push(typed(json!({
                "metadata": {"name": "default-deny", "namespace": ns, "uid": uid("NetworkPolicy", t * 3),
                             "resourceVersion": (60000 + t * 3).to_string()},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
            })));
        }
        let from = if t == 1 || rng.percent(3) {
            json!([{"ipBlock": {"cidr": "0.0.0.0/0"}}])
        } else {
            json!([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}])
        };
        s.network_policies.push(typed(json!({
            "metadata": {"name": "allow-ingress-controller", "namespace": ns, "uid": uid("NetworkPolicy", t * 3 + 1),
                         "resourceVersion": (60000 + t * 3 + 1).to_string()},
            "spec": {"podSelector": {"matchLabels": {"tier": "web"}}, "policyTypes": ["Ingress"],
                     "ingress": [{"from": from, "ports": [{"port": 8080, "protocol": "TCP"}]}]},
        })));
    }

    // Workloads: 60% Deployments, 10% StatefulSets, 5% DaemonSets, 25% CronJobs, spread over tenant namespaces.
    for i in 0..shape.workloads {
        let ns = &tenants[rng.below(tenants.len())];
        let team = ns.split('-').next().unwrap_or("team");
        let app = format!("{team}-svc-{i}");
        let mix = match rng.below(100) {
            0..=89 => Mix::Gitops,
            90..=95 => Mix::EditedAfterGitops,
            96..=97 => Mix::ApprovedEdit,
            _ => Mix::Unmanaged,
        };
        let mut annotations = json!({
            "argocd.argoproj.io/tracking-id": format!("{team}:apps/Deployment:{ns}/{app}"),
            "deployment.kubernetes.io/revision": (1 + i % 7).to_string(),
        });
        if mix == Mix::ApprovedEdit {
            annotations["soc2.dev/change-ticket"] = json!(format!("CHG-{i}"));
            annotations["soc2.dev/approved-by"] = json!("carol@example.com");
            annotations["soc2.dev/author"] = json!("dave@example.com");
        }
        let metadata = json!({
            "name": app, "namespace": ns, "uid": uid("Workload", i), "resourceVersion": (100_000 + i).to_string(),
            "generation": 1 + (i % 5) as i64, "creationTimestamp": at(i as u64 % 86_400),
            "labels": {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": team,
                       "app.kubernetes.io/managed-by": "argocd", "tier": if i % 3 == 0 { "prod" } else { "internal" }},
            "annotations": annotations,
            "managedFields": managed_fields(&mut rng, i as u64, mix),
        });
        let pod_template = json!({
            "metadata": {"labels": {"app.kubernetes.io/name": app}},
            "spec": pod_spec(&mut rng, &app, team, i),
        });
        let selector = json!({"matchLabels": {"app.kubernetes.io/name": app}});
        // One replica for 8% of Deployments and StatefulSets: a redundancy finding at every size.
        let replicas = if rng.percent(8) { 1 } else { 2 };
        let workload_kind = rng.below(100);
        companions(&mut s, &mut rng, ns, &app, i, workload_kind, &pod_template);
        match workload_kind {
            0..=59 => s.deployments.push(typed::<Deployment>(json!({
                "metadata": metadata,
                "spec": {"replicas": replicas, "selector": selector, "template": pod_template,
                         "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}},
                "status": {"replicas": 2, "readyReplicas": 2, "availableReplicas": 2, "updatedReplicas": 2,
                           "observedGeneration": 1,
                           "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                                           "message": "Deployment has minimum availability.",
                                           "lastUpdateTime": at(600), "lastTransitionTime": at(600)}]},
            }))),
            60..=69 => s.stateful_sets.push(typed::<StatefulSet>(json!({
                "metadata": metadata,
                "spec": {"replicas": replicas + 1, "serviceName": app, "selector": selector, "template": pod_template,
                         "volumeClaimTemplates": [{"metadata": {"name": "data"},
                             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}}]},
                "status": {"replicas": 3, "readyReplicas": 3, "currentReplicas": 3, "updatedReplicas": 3, "observedGeneration": 1},
            }))),
            70..=74 => s.daemon_sets.push(typed::<DaemonSet>(json!({
                "metadata": metadata,
                "spec": {"selector": selector, "template": pod_template},
                "status": {"desiredNumberScheduled": 0, "currentNumberScheduled": 0, "numberReady": 0,
                           "numberMisscheduled": 0},
            }))),
            _ => s.cron_jobs.push(typed::<CronJob>(json!({
                "metadata": metadata,
                "spec": {"schedule": format!("{} * * * *", i % 60), "concurrencyPolicy": "Forbid",
                         "jobTemplate": {"spec": {"backoffLimit": 2, "template": {
                             "metadata": pod_template["metadata"].clone(),
                             "spec": {"containers": pod_template["spec"]["containers"].clone(),
                                      "securityContext": pod_template["spec"]["securityContext"].clone(),
                                      "serviceAccountName": app, "restartPolicy": "OnFailure"}}}}},
                "status": {"lastScheduleTime": at(3600)},
            }))),
        }
    }
    s
}

/// A pod spec with varied security contexts and images: mostly compliant, with a few percent of each violation
/// the library looks for (privileged, added capabilities, root, no seccomp, host namespaces and ports, foreign
/// registries, `latest` tags, no digest, secret-like env literals, no probes or requests, token automount).
fn pod_spec(rng: &mut Rng, app: &str, team: &str, i: usize) -> Value {
    let image = match rng.below(100) {
        0..=2 => format!("docker.io/library/{team}:latest"),
        3..=5 => format!("quay.io/{team}/{app}:1.{}.0", i % 40),
        6..=39 => format!(
            "registry.example.com/{team}/{app}@sha256:{:064x}",
            (i as u128) * 0x9e37_79b9
        ),
        _ => format!("registry.example.com/{team}/{app}:1.{}.0", i % 40),
    };
    let mut c = container(app, &image, 8080);
    if rng.percent(70) {
        c["imagePullPolicy"] = json!("Always");
    }
    let mut sc = json!({"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                        "capabilities": {"drop": ["ALL"]}});
    match rng.below(100) {
        0 => sc["privileged"] = json!(true),
        1 => sc["capabilities"]["add"] = json!(["NET_ADMIN"]),
        2 => sc["allowPrivilegeEscalation"] = json!(true),
        3 => sc["runAsUser"] = json!(0),
        _ => {}
    }
    c["securityContext"] = sc;
    if rng.percent(2) {
        c["env"]
            .as_array_mut()
            .expect("env is a list")
            .push(json!({"name": "DB_PASSWORD", "value": "hunter2"}));
    }
    if rng.percent(3) {
        c.as_object_mut()
            .expect("container is an object")
            .remove("readinessProbe");
    }
    if rng.percent(3) {
        c.as_object_mut()
            .expect("container is an object")
            .remove("resources");
    }
    if rng.percent(1) {
        c["ports"][0]["hostPort"] = json!(8080);
    }
    let mut pod_sc = json!({"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}});
    match rng.below(100) {
        0..=4 => {
            pod_sc
                .as_object_mut()
                .expect("security context is an object")
                .remove("seccompProfile");
        }
        5..=9 => {
            pod_sc
                .as_object_mut()
                .expect("security context is an object")
                .remove("runAsNonRoot");
        }
        _ => {}
    }
    let mut spec = json!({"containers": [c], "serviceAccountName": app, "securityContext": pod_sc});
    if rng.percent(80) {
        spec["automountServiceAccountToken"] = json!(false);
    }
    match rng.below(200) {
        0 => spec["hostNetwork"] = json!(true),
        1 => spec["hostPID"] = json!(true),
        2 => {
            spec["volumes"] =
                json!([{"name": "host", "hostPath": {"path": "/var/run", "type": "Directory"}}])
        }
        _ => {}
    }
    spec
}

/// What comes with a workload: its ServiceAccount, a Service (some LoadBalancer or NodePort, a few approved), a
/// PodDisruptionBudget, an Ingress (some without TLS), its running pods (owned by a ReplicaSet, StatefulSet or
/// DaemonSet; a few bare pods besides) and, for CronJobs, the last Job (some failed).
fn companions(
    s: &mut ClusterSnapshot,
    rng: &mut Rng,
    ns: &str,
    app: &str,
    i: usize,
    workload_kind: usize,
    template: &Value,
) {
    let labels = json!({"app.kubernetes.io/name": app});
    let mut sa = json!({"metadata": {"name": app, "namespace": ns, "uid": uid("ServiceAccount", i),
                                     "resourceVersion": (200_000 + i).to_string()}});
    if rng.percent(60) {
        sa["automountServiceAccountToken"] = json!(false);
    } else if rng.percent(50) {
        sa["metadata"]["annotations"] = json!({"soc2.dev/api-access": "reads its own ConfigMaps"});
    }
    s.service_accounts.push(typed::<ServiceAccount>(sa));

    let cron = workload_kind >= 75;
    if !cron && rng.percent(70) {
        let mut svc = json!({
            "metadata": {"name": app, "namespace": ns, "uid": uid("Service", i),
                         "resourceVersion": (300_000 + i).to_string()},
            "spec": {"type": "ClusterIP", "selector": labels,
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]},
        });
        match rng.below(100) {
            0..=2 => svc["spec"]["type"] = json!("LoadBalancer"),
            3..=4 => svc["spec"]["type"] = json!("NodePort"),
            5 => {
                svc["spec"]["type"] = json!("LoadBalancer");
                svc["metadata"]["annotations"] =
                    json!({"soc2.dev/exposure-approved-by": "erin@example.com (CHG-1234)"});
            }
            _ => {}
        }
        s.services.push(typed::<Service>(svc));
        if rng.percent(14) {
            let mut ing = json!({
                "metadata": {"name": app, "namespace": ns, "uid": uid("Ingress", i),
                             "resourceVersion": (400_000 + i).to_string()},
                "spec": {"ingressClassName": "nginx",
                         "rules": [{"host": format!("{app}.example.com"), "http": {"paths": [{"path": "/",
                             "pathType": "Prefix", "backend": {"service": {"name": app, "port": {"number": 80}}}}]}}]},
            });
            if !rng.percent(20) {
                ing["spec"]["tls"] = json!([{"hosts": [format!("{app}.example.com")], "secretName": format!("{app}-tls")}]);
            }
            s.ingresses.push(typed::<Ingress>(ing));
        }
    }
    if workload_kind < 70 && rng.percent(50) {
        s.pod_disruption_budgets.push(typed::<PodDisruptionBudget>(json!({
            "metadata": {"name": app, "namespace": ns, "uid": uid("PodDisruptionBudget", i),
                         "resourceVersion": (500_000 + i).to_string()},
            "spec": {"maxUnavailable": if rng.percent(10) { 0 } else { 1 }, "selector": {"matchLabels": labels}},
            "status": {"currentHealthy": 2, "desiredHealthy": 1, "disruptionsAllowed": 1, "expectedPods": 2},
        })));
    }

    // Running pods: one or two for long-running workloads (an owner reference), 3% of them bare.
    let pods = if cron {
        0
    } else {
        1 + rng.below(2) + usize::from(rng.percent(6))
    };
    for p in 0..pods {
        let bare = rng.percent(3);
        let (owner_kind, owner_name) = match workload_kind {
            0..=59 => ("ReplicaSet", format!("{app}-7d9c5b")),
            60..=69 => ("StatefulSet", app.to_string()),
            _ => ("DaemonSet", app.to_string()),
        };
        let mut metadata = json!({
            "name": format!("{app}-{p}"), "namespace": ns, "uid": uid("Pod", 1_000_000 + i * 4 + p),
            "resourceVersion": (600_000 + i * 4 + p).to_string(), "labels": labels,
        });
        if !bare {
            // The Deployment controller's naming: ReplicaSet `<app>-<hash>`, pods labelled with the hash.
            if owner_kind == "ReplicaSet" {
                metadata["labels"]["pod-template-hash"] = json!("7d9c5b");
            }
            metadata["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": owner_kind, "name": owner_name,
                "uid": uid(owner_kind, i), "controller": true, "blockOwnerDeletion": true}]);
        }
        s.pods.push(typed::<stored::Pod>(json!({
            "metadata": metadata,
            "spec": template["spec"].clone(),
            "status": {"phase": "Running", "podIP": format!("10.{}.{}.{}", 100 + i % 100, (i / 100) % 256, p),
                       "conditions": [{"type": "Ready", "status": "True"}]},
        })));
    }

    if cron {
        let failed = rng.percent(4);
        let status = if failed {
            json!({"failed": 3, "startTime": at(3600),
                   "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                   "message": "Job has reached the specified backoff limit",
                                   "lastTransitionTime": at(3700)}]})
        } else {
            json!({"succeeded": 1, "startTime": at(3600), "completionTime": at(3660),
                   "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": at(3660)}]})
        };
        s.jobs.push(typed::<Job>(json!({
            "metadata": {"name": format!("{app}-29000000"), "namespace": ns, "uid": uid("Job", i),
                         "resourceVersion": (700_000 + i).to_string(), "labels": labels,
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": app,
                                              "uid": uid("Workload", i), "controller": true}]},
            "spec": {"backoffLimit": 2, "template": {"metadata": template["metadata"].clone(),
                     "spec": {"containers": template["spec"]["containers"].clone(), "restartPolicy": "Never"}}},
            "status": status,
        })));
    }
}

/// Who wrote a workload, as recorded in its managedFields.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mix {
    /// argocd-controller only (plus the controller's status writes): passes.
    Gitops,
    /// `kubectl edit` after the last GitOps apply, no approval: fails.
    EditedAfterGitops,
    /// `kubectl edit` after the apply, with change-ticket, approver and author annotations: passes.
    ApprovedEdit,
    /// Created by hand, never by GitOps: fails.
    Unmanaged,
}

fn managed_fields(rng: &mut Rng, i: u64, mix: Mix) -> Value {
    let t = 3_600 + i % 40_000;
    let spec_fields = json!({
        "f:metadata": {"f:labels": {".": {}, "f:app.kubernetes.io/name": {}, "f:app.kubernetes.io/part-of": {},
                                    "f:app.kubernetes.io/managed-by": {}, "f:tier": {}},
                       "f:annotations": {".": {}, "f:argocd.argoproj.io/tracking-id": {}}},
        "f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {
            "f:metadata": {"f:labels": {".": {}, "f:app.kubernetes.io/name": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {},
                "f:ports": {".": {}, "k:{\"containerPort\":8080,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}},
                "f:resources": {"f:limits": {"f:memory": {}}, "f:requests": {"f:cpu": {}, "f:memory": {}}}}},
                "f:serviceAccountName": {}}}},
    });
    let entry =
        |manager: &str, operation: &str, time: u64, subresource: Option<&str>, fields: Value| {
            let mut e = json!({"manager": manager, "operation": operation, "apiVersion": "apps/v1",
                           "time": at(time), "fieldsType": "FieldsV1", "fieldsV1": fields});
            if let Some(sub) = subresource {
                e["subresource"] = json!(sub);
            }
            e
        };
    let status = entry(
        "kube-controller-manager",
        "Update",
        t + 30,
        Some("status"),
        json!({"f:status": {"f:observedGeneration": {}, "f:readyReplicas": {}, "f:replicas": {}}}),
    );
    let edit = || {
        entry(
            "kubectl-edit",
            "Update",
            t + 600,
            None,
            json!({"f:spec": {"f:replicas": {}}}),
        )
    };
    let gitops = entry("argocd-controller", "Apply", t, None, spec_fields.clone());
    let mut entries = match mix {
        Mix::Gitops => vec![gitops, status],
        Mix::EditedAfterGitops | Mix::ApprovedEdit => vec![gitops, status, edit()],
        Mix::Unmanaged => vec![
            entry("kubectl-create", "Update", t, None, spec_fields),
            status,
        ],
    };
    if rng.percent(5) {
        // An earlier interactive write, before the last GitOps apply: history that must not fail.
        entries.insert(
            0,
            entry(
                "kubectl-scale",
                "Update",
                t.saturating_sub(60),
                Some("scale"),
                json!({"f:spec": {"f:replicas": {}}}),
            ),
        );
    }
    Value::Array(entries)
}

fn container(name: &str, image: &str, port: i32) -> Value {
    json!({
        "name": "app", "image": image, "imagePullPolicy": "IfNotPresent",
        "ports": [{"containerPort": port, "protocol": "TCP", "name": "http"}],
        "env": [{"name": "APP_NAME", "value": name}, {"name": "LOG_LEVEL", "value": "info"},
                {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": port}, "periodSeconds": 10},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": port}, "periodSeconds": 20},
        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true},
    })
}
