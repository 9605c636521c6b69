//! The scale harness (`e2e/scale/run.sh N`, not a test): loads N namespaces of synthetic objects into the cluster
//! named by KUBECONFIG, runs the operator with the whole control library, and reports what it costs.
//!
//! Each namespace `soc2-scale-<i>` gets one object of nine kinds: Deployment (one replica), ReplicaSet (made by
//! hand, no replicas), Service, Ingress, RoleBinding, NetworkPolicy, ConfigMap, Secret and ServiceAccount, and every
//! tenth namespace a bare Pod, plus what the controllers add: the Deployment's ReplicaSet and its Pod (Pending: the
//! control plane has no scheduler), the `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap. As in a real
//! cluster, nearly every Pod is run by a workload. Every third namespace violates
//! controls: an unapproved privileged workload on a mutable tag, a LoadBalancer without approval, an Ingress
//! without TLS, cluster-admin bound to a person, allow-all ingress. Objects go in by server-side apply, in parallel.
//!
//! Then the operator starts (the binary given by --operator) with every Control of `config/controls/` and a probe
//! Control (network isolation of the namespace `soc2-scale-probe`), and the harness reports: objects cached (the
//! operator's `soc2_watch_objects`), initial sync time (start until every Control has status for its generation),
//! RSS after sync (VmRSS from /proc), status writes per second during the sync, and the change-to-status latency
//! (p50, p99, max) over `--changes` changes of one object: a default-deny NetworkPolicy created and deleted in the
//! probe namespace, timed until the probe Control's Compliant condition flips, seen through a watch.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use kube::api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::runtime::watcher;
use kube::{Api, Client};
use serde_json::{Value, json};
use soc2_operator::api::Control;

const MANAGER: &str = "soc2-scale";
const LABEL: &str = "soc2.dev/scale";
const PROBE_NAMESPACE: &str = "soc2-scale-probe";
const PROBE_CONTROL: &str = "soc2-scale-probe";
/// Objects the harness applies in each namespace (see `namespace_objects`).

#[derive(Parser)]
#[command(about = "Loads synthetic namespaces and measures the operator against them")]
struct Args {
    /// Namespaces to load (about 13 objects each once the controllers have added theirs).
    namespaces: usize,
    /// The operator binary (a release build).
    #[arg(long)]
    operator: PathBuf,
    /// The Control library to apply.
    #[arg(long, default_value = "config/controls")]
    controls: PathBuf,
    /// Parallel server-side applies.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Single-object changes timed for the latency figures.
    #[arg(long, default_value_t = 200)]
    changes: usize,
    /// The namespaces are loaded already (by an earlier run against the same cluster): measure only.
    #[arg(long)]
    loaded: bool,
    /// The operator's log level (SOC2_LOG_LEVEL).
    #[arg(long, default_value = "warn")]
    log_level: String,
    /// Where the operator's log goes.
    #[arg(long, default_value = "target/scale")]
    out: PathBuf,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    soc2_operator::install_crypto_provider();
    let client = Client::try_default().await?;
    std::fs::create_dir_all(&args.out)?;

    install_crds(&client).await?;
    println!("| {} namespaces | measured |\n|---|---|", args.namespaces);
    let loaded = if args.loaded {
        (0..args.namespaces)
            .map(|i| namespace_objects(i).len())
            .sum()
    } else {
        load(&client, args.namespaces, args.concurrency).await?
    };
    wait_for_controller_pods(&client, args.namespaces).await?;
    apply_controls(&client, &args.controls).await?;

    let admin = format!("127.0.0.1:{}", free_port()?);
    let log = args.out.join("operator.log");
    let mut operator = start_operator(&args.operator, &admin, &log, &args.log_level)?;
    let result = measure(&client, &args, &admin, &mut operator, loaded).await;
    let _ = operator.kill();
    let _ = operator.wait();
    result
}

/// One object to apply: its API resource, namespace and manifest.
struct Object {
    resource: ApiResource,
    namespace: Option<String>,
    manifest: Value,
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn labels(app: &str) -> Value {
    json!({ "app": app, LABEL: "true" })
}

fn pod_spec(bad: bool) -> Value {
    if bad {
        json!({
            "containers": [{
                "name": "app",
                "image": "nginx:latest",
                "securityContext": { "privileged": true },
            }],
        })
    } else {
        json!({
            "automountServiceAccountToken": false,
            "serviceAccountName": "app",
            "securityContext": { "runAsNonRoot": true, "seccompProfile": { "type": "RuntimeDefault" } },
            "containers": [{
                "name": "app",
                "image": "registry.example.com/app@sha256:4c1e997385b8fb4ad4d1d3c7e5e8a1f5a9e2f7d6c3b2a1908f7e6d5c4b3a2918",
                "imagePullPolicy": "IfNotPresent",
                "resources": { "requests": { "cpu": "10m", "memory": "16Mi" }, "limits": { "memory": "64Mi" } },
                "readinessProbe": { "httpGet": { "path": "/healthz", "port": 8080 } },
                "securityContext": {
                    "allowPrivilegeEscalation": false,
                    "readOnlyRootFilesystem": true,
                    "capabilities": { "drop": ["ALL"] },
                },
            }],
        })
    }
}

/// The objects of namespace `ns`; every third namespace violates.
fn namespace_objects(i: usize) -> Vec<Object> {
    let ns = format!("soc2-scale-{i}");
    let bad = i.is_multiple_of(3);
    let at = |resource: ApiResource, manifest: Value| Object {
        resource,
        namespace: Some(ns.clone()),
        manifest,
    };
    let approval = if bad {
        json!({})
    } else {
        json!({
            "soc2.dev/change-ticket": format!("CHG-{i}"),
            "soc2.dev/approved-by": "release-manager",
            "soc2.dev/author": "developer",
        })
    };
    let template = json!({ "metadata": { "labels": labels("app") }, "spec": pod_spec(bad) });
    vec![
        at(
            resource("", "v1", "ServiceAccount", "serviceaccounts"),
            json!({ "apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": { "name": "app", "labels": labels("app") },
                    "automountServiceAccountToken": bad }),
        ),
        at(
            resource("", "v1", "ConfigMap", "configmaps"),
            json!({ "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": { "name": "app-config", "labels": labels("app") },
                    "data": { "LOG_LEVEL": "info", "REGION": "eu-west-1" } }),
        ),
        at(
            resource("", "v1", "Secret", "secrets"),
            json!({ "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": { "name": "app-secret", "labels": labels("app") },
                    "data": { "password": "czNjcjN0LXBhc3N3b3Jk" } }),
        ),
        at(
            resource("apps", "v1", "Deployment", "deployments"),
            json!({ "apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": { "name": "app", "labels": labels("app"), "annotations": approval },
                    "spec": { "replicas": 1, "selector": { "matchLabels": { "app": "app" } }, "template": template } }),
        ),
        at(
            resource("apps", "v1", "ReplicaSet", "replicasets"),
            json!({ "apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "metadata": { "name": "batch", "labels": labels("batch") },
                    "spec": { "replicas": 0, "selector": { "matchLabels": { "app": "batch" } },
                              "template": { "metadata": { "labels": labels("batch") }, "spec": pod_spec(bad) } } }),
        ),
        at(
            resource("", "v1", "Service", "services"),
            json!({ "apiVersion": "v1", "kind": "Service",
                    "metadata": { "name": "app", "labels": labels("app") },
                    "spec": { "type": if bad { "LoadBalancer" } else { "ClusterIP" },
                              "selector": { "app": "app" }, "ports": [{ "port": 443, "targetPort": 8443 }] } }),
        ),
        at(
            resource("networking.k8s.io", "v1", "Ingress", "ingresses"),
            json!({ "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                    "metadata": { "name": "app", "labels": labels("app") },
                    "spec": {
                        "tls": if bad { json!([]) } else { json!([{ "hosts": [format!("app-{i}.example.com")], "secretName": "app-tls" }]) },
                        "rules": [{ "host": format!("app-{i}.example.com"), "http": { "paths": [{
                            "path": "/", "pathType": "Prefix",
                            "backend": { "service": { "name": "app", "port": { "number": 443 } } } }] } }],
                    } }),
        ),
        at(
            resource(
                "rbac.authorization.k8s.io",
                "v1",
                "RoleBinding",
                "rolebindings",
            ),
            json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                    "metadata": { "name": "app", "labels": labels("app") },
                    "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                 "name": if bad { "cluster-admin" } else { "view" } },
                    "subjects": if bad {
                        json!([{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": format!("dev-{i}@example.com") }])
                    } else {
                        json!([{ "kind": "ServiceAccount", "name": "app", "namespace": ns }])
                    } }),
        ),
        at(
            resource(
                "networking.k8s.io",
                "v1",
                "NetworkPolicy",
                "networkpolicies",
            ),
            if bad {
                json!({ "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                        "metadata": { "name": "allow-all", "labels": labels("app") },
                        "spec": { "podSelector": {}, "ingress": [{}] } })
            } else {
                json!({ "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                        "metadata": { "name": "default-deny", "labels": labels("app") },
                        "spec": { "podSelector": {}, "policyTypes": ["Ingress"] } })
            },
        ),
    ]
    .into_iter()
    .chain(i.is_multiple_of(10).then(|| {
        at(
            resource("", "v1", "Pod", "pods"),
            json!({ "apiVersion": "v1", "kind": "Pod",
                    "metadata": { "name": "worker", "labels": labels("worker") },
                    "spec": pod_spec(bad) }),
        )
    }))
    .collect()
}

/// Waits until the controllers have made each Deployment's Pod, so that the operator starts on a settled cluster.
async fn wait_for_controller_pods(
    client: &Client,
    namespaces: usize,
) -> Result<(), Box<dyn Error>> {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::ListParams;
    let pods: Api<Pod> = Api::all(client.clone());
    let start = Instant::now();
    loop {
        // Metadata only, by pages (the server gives no remaining count for a label selector).
        let mut count = 0;
        let mut params = ListParams::default().labels("app=app").limit(500);
        loop {
            let page = pods.list_metadata(&params).await?;
            count += page.items.len();
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => params = params.continue_token(&token),
                _ => break,
            }
        }
        if count >= namespaces {
            eprintln!(
                "scale: the controllers made {count} Deployment pods in {:.0} s",
                start.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(1200) {
            return Err(
                format!("only {count} of {namespaces} Deployment pods after 20 minutes").into(),
            );
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

async fn apply(client: &Client, object: &Object) -> Result<(), Box<dyn Error>> {
    let api: Api<DynamicObject> = match &object.namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &object.resource),
        None => Api::all_with(client.clone(), &object.resource),
    };
    let name = object.manifest["metadata"]["name"]
        .as_str()
        .ok_or("object without a name")?;
    // A Pod is refused until the namespace's ServiceAccounts exist (the controller-manager creates `default`, the
    // harness `app` in parallel), so that refusal is waited out.
    let mut attempts = 0;
    loop {
        match api
            .patch(
                name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&object.manifest),
            )
            .await
        {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(e))
                if e.code == 403 && e.message.contains("serviceaccount") && attempts < 120 =>
            {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(format!("applying {} {name}: {e}", object.resource.kind).into()),
        }
    }
}

/// Applies `objects` with `concurrency` requests in flight; fails on the first error.
async fn apply_all(
    client: &Client,
    objects: Vec<Object>,
    concurrency: usize,
) -> Result<(), Box<dyn Error>> {
    futures::stream::iter(objects.iter().map(|o| apply(client, o)))
        .buffer_unordered(concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// Loads the namespaces and their objects; returns how many objects were applied.
async fn load(
    client: &Client,
    namespaces: usize,
    concurrency: usize,
) -> Result<usize, Box<dyn Error>> {
    let ns_resource = resource("", "v1", "Namespace", "namespaces");
    let start = Instant::now();
    let mut names: Vec<Object> = (0..namespaces)
        .map(|i| Object {
            resource: ns_resource.clone(),
            namespace: None,
            manifest: json!({ "apiVersion": "v1", "kind": "Namespace",
                              "metadata": { "name": format!("soc2-scale-{i}"), "labels": { LABEL: "true" } } }),
        })
        .collect();
    names.push(Object {
        resource: ns_resource,
        namespace: None,
        manifest: json!({ "apiVersion": "v1", "kind": "Namespace",
                          "metadata": { "name": PROBE_NAMESPACE, "labels": { LABEL: "true" } } }),
    });
    apply_all(client, names, concurrency).await?;
    let mut applied = 0;
    // In chunks, to report progress.
    let chunk = (namespaces / 10).max(1);
    for first in (0..namespaces).step_by(chunk) {
        let objects: Vec<Object> = (first..(first + chunk).min(namespaces))
            .flat_map(namespace_objects)
            .collect();
        applied += objects.len();
        apply_all(client, objects, concurrency).await?;
        eprintln!(
            "scale: {applied} objects in {} namespaces applied ({:.0}/s)",
            (first + chunk).min(namespaces),
            applied as f64 / start.elapsed().as_secs_f64()
        );
    }
    println!(
        "| load: {applied} objects in {namespaces} namespaces by server-side apply, {} in flight | {:.1} s ({:.0}/s) |",
        concurrency,
        start.elapsed().as_secs_f64(),
        applied as f64 / start.elapsed().as_secs_f64()
    );
    Ok(applied)
}

/// Server-side applies every CRD of `crds/` and waits until each is Established.
async fn install_crds(client: &Client) -> Result<(), Box<dyn Error>> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::runtime::wait::{await_condition, conditions};
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut files: Vec<PathBuf> = std::fs::read_dir("crds")?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    for file in files {
        let crd: CustomResourceDefinition = serde_yaml::from_str(&std::fs::read_to_string(&file)?)?;
        let name = crd.metadata.name.clone().ok_or("a CRD without a name")?;
        api.patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&crd),
        )
        .await?;
        tokio::time::timeout(
            Duration::from_secs(30),
            await_condition(api.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .map_err(|_| format!("CRD {name} not Established within 30 s"))??;
    }
    Ok(())
}

/// Every Control of the library, and the probe.
async fn apply_controls(client: &Client, dir: &Path) -> Result<(), Box<dyn Error>> {
    let control = resource("soc2.dev", "v1alpha1", "Control", "controls");
    let mut objects = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "yaml") && !p.ends_with("kustomization.yaml")
        })
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        for document in serde_yaml::Deserializer::from_str(&text) {
            let value: Value = serde::Deserialize::deserialize(document)?;
            if value["kind"] == "Control" {
                objects.push(Object {
                    resource: control.clone(),
                    namespace: None,
                    manifest: value,
                });
            }
        }
    }
    objects.push(Object {
        resource: control,
        namespace: None,
        manifest: json!({
            "apiVersion": "soc2.dev/v1alpha1", "kind": "Control",
            "metadata": { "name": PROBE_CONTROL },
            "spec": {
                "criteria": ["CC6.6"], "category": "Security", "owner": "soc2-scale",
                "title": "Scale probe: the probe namespace denies ingress by default",
                "scope": { "namespaces": [PROBE_NAMESPACE] },
                "check": { "networkIsolation": {} },
            },
        }),
    });
    let count = objects.len();
    apply_all(client, objects, 4).await?;
    eprintln!("scale: {count} Controls applied");
    Ok(())
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn start_operator(
    binary: &Path,
    admin: &str,
    log: &Path,
    level: &str,
) -> Result<Child, Box<dyn Error>> {
    let file = std::fs::File::create(log)?;
    let child = Command::new(binary)
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .env("NO_COLOR", "1")
        .env("SOC2_ADMIN_ADDR", admin)
        .env("SOC2_LEADER_ELECTION", "false")
        .env("SOC2_LOG_LEVEL", level)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    eprintln!(
        "scale: operator started (pid {}), log {}",
        child.id(),
        log.display()
    );
    Ok(child)
}

/// VmRSS of `pid` in MiB.
fn rss_mib(pid: u32) -> Result<f64, Box<dyn Error>> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or("no VmRSS in /proc/PID/status")?;
    Ok(kib / 1024.0)
}

async fn metrics(admin: &str) -> Result<String, Box<dyn Error>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(admin).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    Ok(response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default())
}

/// The sum of every series of `name`, with the value of `label` as key.
fn series(text: &str, name: &str, label: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with(name)) {
        let Some((head, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let key = head
            .split_once(&format!("{label}=\""))
            .and_then(|(_, rest)| rest.split_once('"'))
            .map_or_else(String::new, |(v, _)| v.to_string());
        *out.entry(key).or_default() += value.parse::<f64>().unwrap_or(0.0);
    }
    out
}

/// True when every Control has status for its current generation.
async fn all_evaluated(controls: &Api<Control>) -> Result<(usize, usize), Box<dyn Error>> {
    let list = controls.list(&Default::default()).await?;
    let done = list
        .items
        .iter()
        .filter(|c| {
            c.metadata.generation.is_some()
                && c.status.as_ref().and_then(|s| s.observed_generation) == c.metadata.generation
        })
        .count();
    Ok((done, list.items.len()))
}

fn compliant(control: &Control) -> Option<bool> {
    control
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Compliant")
        .map(|c| c.status == "True")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn measure(
    client: &Client,
    args: &Args,
    admin: &str,
    operator: &mut Child,
    loaded: usize,
) -> Result<(), Box<dyn Error>> {
    let start = Instant::now();
    let controls: Api<Control> = Api::all(client.clone());
    let mut peak = 0.0f64;
    loop {
        if let Some(status) = operator.try_wait()? {
            return Err(format!(
                "the operator exited with {status}; see {}",
                args.out.join("operator.log").display()
            )
            .into());
        }
        peak = peak.max(rss_mib(operator.id()).unwrap_or(0.0));
        let (mut done, total) = all_evaluated(&controls).await?;
        // On a cluster loaded by an earlier run the statuses are there already: count only the Controls this
        // operator evaluated (reconcile sets the compliance gauge after an evaluation, on every path).
        let gauged = metrics(admin)
            .await
            .map(|text| series(&text, "soc2_control_compliant", "control").len())
            .unwrap_or(0);
        done = done.min(gauged);
        if done == total && total > 0 {
            break;
        }
        if start.elapsed() > Duration::from_secs(1800) {
            return Err(format!("only {done} of {total} Controls evaluated after 30 min").into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let sync = start.elapsed();
    let text = metrics(admin).await?;
    let by_kind = series(&text, "soc2_watch_objects", "kind");
    let cached: f64 = by_kind.values().sum();
    let breakdown: Vec<String> = by_kind
        .iter()
        .filter(|(_, n)| **n > 0.0)
        .map(|(kind, n)| format!("{kind} {n:.0}"))
        .collect();
    let writes: f64 = series(&text, "soc2_status_writes_total", "control")
        .values()
        .sum();
    let rss_sync = rss_mib(operator.id())?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let rss_settled = rss_mib(operator.id())?;
    println!("| objects applied by the harness | {loaded} |");
    println!(
        "| objects cached by the operator (soc2_watch_objects) | {cached:.0}: {} |",
        breakdown.join(", ")
    );
    println!(
        "| initial sync: start until every Control has status | {:.1} s |",
        sync.as_secs_f64()
    );
    println!(
        "| status writes during the sync | {writes:.0} ({:.1}/s) |",
        writes / sync.as_secs_f64()
    );
    println!(
        "| RSS after sync / 10 s later / peak during sync | {rss_sync:.0} MiB / {rss_settled:.0} MiB / {peak:.0} MiB |"
    );

    // Change-to-status latency: the probe Control's Compliant condition, seen through a watch.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let probe = Api::<Control>::all(client.clone());
    let watch = tokio::spawn(async move {
        let config = watcher::Config::default().fields(&format!("metadata.name={PROBE_CONTROL}"));
        let mut stream = watcher(probe, config).boxed();
        while let Some(event) = stream.next().await {
            if let Ok(watcher::Event::Apply(c) | watcher::Event::InitApply(c)) = event
                && let Some(state) = compliant(&c)
                && tx.send((state, Instant::now())).is_err()
            {
                return;
            }
        }
    });
    let policies: Api<NetworkPolicyApi> = Api::namespaced(client.clone(), PROBE_NAMESPACE);
    let deny = json!({ "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                       "metadata": { "name": "default-deny" },
                       "spec": { "podSelector": {}, "policyTypes": ["Ingress"] } });
    let mut latencies = Vec::with_capacity(args.changes);
    let mut state = match tokio::time::timeout(Duration::from_secs(60), rx.recv()).await {
        Ok(Some((s, _))) => s,
        _ => return Err("the probe Control has no Compliant condition".into()),
    };
    for _ in 0..args.changes {
        let changed = Instant::now();
        if state {
            policies
                .delete("default-deny", &DeleteParams::default())
                .await?;
        } else {
            policies
                .patch(
                    "default-deny",
                    &PatchParams::apply(MANAGER).force(),
                    &Patch::Apply(&deny),
                )
                .await?;
        }
        loop {
            match tokio::time::timeout(Duration::from_secs(120), rx.recv()).await {
                Ok(Some((s, at))) if s != state => {
                    latencies.push(at.saturating_duration_since(changed));
                    state = s;
                    break;
                }
                Ok(Some(_)) => {}
                Ok(None) => return Err("the watch of the probe Control ended".into()),
                Err(_) => {
                    let text = metrics(admin).await.unwrap_or_default();
                    let errors = series(&text, "soc2_watch_errors_total", "reason");
                    return Err(format!(
                        "the probe Control did not follow change {} within 120 s (compliant was {state}); \
                         watch errors by reason: {errors:?}; operator log: {}",
                        latencies.len() + 1,
                        args.out.join("operator.log").display()
                    )
                    .into());
                }
            }
        }
        let last = latencies.last().copied().unwrap_or_default();
        if last > Duration::from_secs(1) {
            eprintln!(
                "scale: change {} took {:.1} s",
                latencies.len(),
                last.as_secs_f64()
            );
        }
    }
    watch.abort();
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "| change-to-status latency over {} changes: p50 / p99 / max | {:.0} ms / {:.0} ms / {:.0} ms |",
        latencies.len(),
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap_or(&Duration::ZERO))
    );
    println!(
        "| RSS after the changes | {:.0} MiB |",
        rss_mib(operator.id())?
    );
    Ok(())
}

type NetworkPolicyApi = k8s_openapi::api::networking::v1::NetworkPolicy;
