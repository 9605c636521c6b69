//! End-to-end tests of soc2-operator against a real cluster.
//!
//! Run them with `KUBECONFIG` pointing at a disposable cluster: `cargo test --test e2e`. CI runs them against the
//! control plane `e2e/controlplane/up.sh` builds and starts (etcd, kube-apiserver and kube-controller-manager, no
//! kubelet). Without `KUBECONFIG` every test prints that it was skipped and passes.
//!
//! The first test to run installs the CRDs from `crds/` by server-side apply and starts the operator binary built
//! from this tree (log in `target/e2e-logs/`); every test then works in its own namespace
//! `soc2-e2e-<test>-<random>` labelled `soc2.dev/e2e=true`, names its cluster-scoped Controls with the same random
//! suffix, scopes them to that namespace, and deletes both when it ends, also when it fails (set `SOC2_E2E_KEEP=1`
//! to keep them for debugging). The suite needs no kubelet: no scenario relies on a pod running.
//!
//! With helm (`SOC2_E2E_HELM`, `helm` on PATH, or the one `.ci/manifests` installs in `.ci/.tools`), the setup
//! installs the chart's rendered manifests instead (`helm template` of `charts/soc2-operator`, server-side applied
//! into a release namespace `soc2-e2e-system-<random>`, without its Deployment) and runs the operator binary with a
//! token of the chart's ServiceAccount, so that the scenarios prove the chart's RBAC sufficient and `rbac.rs`
//! proves it least privilege. `SOC2_E2E_FROM_CHART=0` forces the operator to run with your kubeconfig. After the
//! test binary exits, a watchdog stops the operator and deletes the Validating- and MutatingWebhookConfiguration it
//! managed and the chart install (not the CRDs).
//!
//! Tests run in parallel threads against the one operator and keep out of each other's way: namespaces, Controls and
//! EvidenceStores carry a random suffix, Controls are scoped to their test's namespace, checks that read
//! cluster-scoped bindings select the test's own by label, and the operator's one ValidatingWebhookConfiguration
//! selects only the namespaces of Warn/Enforce controls. `--test-threads=1` is not needed, only easier to read.

mod access_reviews;
mod apiserver_restart;
mod cel;
mod change_approval;
mod evidence;
mod exceptions;
mod failover;
mod helm_lifecycle;
mod invalid;
mod logging;
mod mfa_access;
mod network;
mod platform_checks;
mod rbac;
mod support;
mod webhook;
mod workload_security;
