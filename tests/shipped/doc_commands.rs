//! Every command in README.md and docs/ is run somewhere. Each command of a ```sh or ```bash block (continuation
//! lines joined, heredoc bodies left out) is listed in [`RUN_BY`] with what runs it: a script or test that runs the
//! docs' blocks as written (and names the doc it reads), or a step of `.ci/run`. A command that cannot run on CI's
//! control plane (it needs nodes, Docker or Argo CD) says so and what checks it instead, and every repository path it
//! names must exist. A command added to the docs without a place that runs it fails here. Synopses with
//! placeholders are fenced as ```text and are not commands.

use std::path::{Path, PathBuf};

/// (document, the command's start, where it runs, what that runner must contain to show it runs it).
#[rustfmt::skip] // One command per line reads as the table it is.
const RUN_BY: &[(&str, &str, &str, &str)] = &[
    // The README's two commands and its five-minute tour.
    ("README.md", "cargo run --bin soc2ctl -- scan examples/cluster/ --controls config/samples/", ".ci/run", "scan examples/cluster/ --controls config/samples/"),
    ("README.md", "cargo test --locked", ".ci/run", "cargo test --locked"),
    ("README.md", "kubectl apply -f crds/", "e2e/tour.sh", "README.md"),
    ("README.md", "kubectl wait --for=condition=Established crd --all", "e2e/tour.sh", "README.md"),
    ("README.md", "cargo run --release --bin soc2-operator", "e2e/tour.sh", "cargo run --release --bin soc2-operator"),
    ("README.md", "kubectl apply -f config/samples/", "e2e/tour.sh", "README.md"),
    ("README.md", "kubectl create namespace team-a", "e2e/tour.sh", "README.md"),
    ("README.md", "kubectl create deployment web", "e2e/tour.sh", "kubectl create deployment web"),
    ("README.md", "kubectl get controls", "e2e/tour.sh", "README.md"),
    ("README.md", "kubectl describe control change-approval", "e2e/tour.sh", "kubectl describe control change-approval"),
    ("README.md", "kubectl annotate deployment web", "e2e/tour.sh", "kubectl annotate deployment web"),
    ("README.md", "head -c 32 /dev/urandom", "e2e/tour.sh", "README.md"),
    ("README.md", "kubectl create secret generic evidence-signing", "e2e/tour.sh", "README.md"),
    ("README.md", "cargo run --bin soc2ctl -- public-key", "e2e/tour.sh", "cargo run --bin soc2ctl --"),
    ("README.md", "kubectl apply -f - <<'EOF'", "e2e/tour.sh", "kind: EvidenceStore"),
    ("README.md", "kubectl get evidencestore tour", "e2e/tour.sh", "README.md"),
    ("README.md", "head=$(kubectl get evidencestore tour", "e2e/tour.sh", "README.md"),
    ("README.md", "cargo run --bin soc2ctl -- verify", "e2e/tour.sh", " verify "),
    ("README.md", "cargo run --bin soc2ctl -- report", "e2e/tour.sh", " verify "),
    ("README.md", "helm install soc2-operator charts/soc2-operator", "e2e/helm_lifecycle.rs", "\"install\""),
    // docs/scan.md and docs/exceptions.md: dumping a live cluster and scanning it, and the offline examples.
    ("docs/scan.md", "kubectl get ", "e2e/docs.sh", "docs/scan.md"),
    ("docs/scan.md", "soc2ctl scan ", "e2e/docs.sh", "docs/scan.md"),
    ("docs/exceptions.md", "soc2ctl scan ", "e2e/docs.sh", "docs/exceptions.md"),
    // docs/access-reviews.md: a review opens on the tour's cluster; decisions need reviewers' identities and the webhook.
    ("docs/access-reviews.md", "kubectl apply -f examples/access-review/", "e2e/docs.sh", "docs/access-reviews.md"),
    ("docs/access-reviews.md", "kubectl get accessreviews", "e2e/docs.sh", "docs/access-reviews.md"),
    ("docs/access-reviews.md", "kubectl create -f examples/access-review/decision.yaml", "e2e/access_reviews.rs", "examples/access-review/decision.yaml"),
    // docs/testing.md: what CI runs against its control plane.
    ("docs/testing.md", "bash e2e/controlplane/up.sh", ".ci/run", "cargo test --locked --test e2e"),
    // docs/argocd.md
    ("docs/argocd.md", "cargo test --test argocd_health", ".ci/run", "cargo test --locked"),
    ("docs/argocd.md", "kubectl -n argocd patch configmap argocd-cm", "not run: needs Argo CD; tests/argocd_health keeps the patch identical to the scripts it runs", ""),
    ("docs/argocd.md", "helm upgrade argocd argo/argo-cd", "not run: needs Argo CD and its chart repository; tests/argocd_health runs the scripts it sets", ""),
    // docs/install.md: installing needs a cluster with nodes; the chart and the kustomize config are rendered and
    // validated offline by .ci/manifests, and the e2e suite applies the chart's rendered manifests.
    ("docs/install.md", "helm install soc2-operator charts/soc2-operator", "e2e/helm_lifecycle.rs", "\"install\""),
    ("docs/install.md", "helm upgrade soc2-operator charts/soc2-operator", "e2e/helm_lifecycle.rs", "\"upgrade\""),
    ("docs/install.md", "helm uninstall soc2-operator", "e2e/helm_lifecycle.rs", "\"uninstall\""),
    ("docs/install.md", "helm install soc2-operator charts/soc2-operator -n soc2-system --create-namespace --set", ".ci/manifests", "serviceMonitor.enabled=true"),
    ("docs/install.md", "kubectl label namespace soc2-system", "not run: the e2e suite runs the operator under the restricted Pod Security level's rules (.ci/manifests checks the chart's securityContext against it)", ""),
    ("docs/install.md", "kubectl apply -k config/default", ".ci/manifests", "config/default"),
    ("docs/install.md", "kubectl apply -k config/overlays/production", ".ci/manifests", "config/overlays/production"),
    ("docs/install.md", "kubectl apply -n argocd -f examples/argocd/application.yaml", ".ci/manifests", "examples/argocd"),
    ("docs/install.md", "kubectl -n soc2-system get pods", "not run: CI's control plane has no nodes to run pods", ""),
    ("docs/install.md", "kubectl apply -f config/samples/", "e2e/tour.sh", "README.md"),
    ("docs/install.md", "kubectl get controls", "e2e/tour.sh", "README.md"),
    ("docs/install.md", "kubectl describe control change-approval", "e2e/tour.sh", "kubectl describe control change-approval"),
    ("docs/install.md", "kubectl get events -n default", "e2e/docs.sh", "kubectl get events"),
    ("docs/install.md", "kubectl apply --server-side -f crds/", "e2e/main.rs", "`crds/` by server-side apply"),
    ("docs/install.md", "kubectl delete validatingwebhookconfiguration", "not run: needs an installed release", ""),
    ("docs/install.md", "kubectl get controls -o yaml", "not run: a backup before removing the CRDs", ""),
    ("docs/install.md", "kubectl delete -f crds/", "not run: removes every Control of a real cluster", ""),
    ("docs/install.md", "kubectl delete namespace soc2-system", "not run: needs an installed release", ""),
    ("docs/install.md", "docker build", "not run: CI has no Docker; .ci/manifests checks the Dockerfile", "Dockerfile"),
    ("docs/install.md", "docker run", "not run: CI has no Docker; the same scan runs in .ci/run's main job", "Dockerfile"),
    ("docs/install.md", ".ci/manifests", ".ci/run", "bash .ci/manifests"),
    // docs/evidence.md: the access review sample file, run as written on a fixture chain.
    ("docs/evidence.md", "soc2ctl access-review ", "tests/evidence/access_reviews.rs", "docs/evidence.md"),
    // docs/webhook.md
    ("docs/webhook.md", "cargo run --release --bin soc2-operator -- --webhook-addr", "e2e/support/cluster.rs", "SOC2_WEBHOOK_ADDR"),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).into()
}

/// The commands of `text`'s shell blocks, continuation lines joined, without comments and heredoc bodies.
fn commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    let mut heredoc: Option<String> = None;
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if !in_block {
            in_block = trimmed == "```sh" || trimmed == "```bash";
            continue;
        }
        if trimmed.starts_with("```") {
            in_block = false;
            continue;
        }
        if let Some(end) = &heredoc {
            if trimmed == end {
                heredoc = None;
            }
            continue;
        }
        if trimmed.is_empty() || (pending.is_empty() && trimmed.starts_with('#')) {
            continue;
        }
        if let Some(continued) = trimmed.strip_suffix('\\') {
            pending.push_str(continued);
            continue;
        }
        pending.push_str(trimmed);
        if let Some((_, marker)) = pending.split_once("<<") {
            heredoc = Some(
                marker
                    .trim()
                    .trim_matches('\'')
                    .trim_matches('"')
                    .to_string(),
            );
        }
        out.push(std::mem::take(&mut pending));
    }
    out
}

fn documents() -> Vec<PathBuf> {
    let mut docs = vec![root().join("README.md")];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    docs.extend(pages);
    docs
}

#[test]
fn every_documented_command_is_run_somewhere() {
    let mut unlisted = Vec::new();
    let mut used = vec![false; RUN_BY.len()];
    for doc in documents() {
        let name = doc
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&doc).unwrap();
        for command in commands(&text) {
            // The most specific entry: the longest start that matches.
            match RUN_BY
                .iter()
                .enumerate()
                .filter(|(_, (d, start, _, _))| *d == name && command.starts_with(start))
                .max_by_key(|(_, (_, start, _, _))| start.len())
                .map(|(i, _)| i)
            {
                Some(i) => used[i] = true,
                None => unlisted.push(format!("{name}: {command}")),
            }
            // Whatever runs it, the repository paths it names exist.
            for word in command.split(|c: char| c.is_whitespace() || c == '=' || c == '\'') {
                let known = ["config/", "charts/", "crds/", "examples/", "e2e/"];
                // Generated paths (the control plane's .run/) exist only once their script ran.
                let generated = word
                    .split('/')
                    .any(|part| part.starts_with('.') && part.len() > 1);
                if known.iter().any(|k| word.starts_with(k)) && !generated {
                    assert!(
                        root().join(word).exists(),
                        "{name}: `{command}` names {word}, which does not exist"
                    );
                }
            }
        }
    }
    assert!(
        unlisted.is_empty(),
        "documented commands nothing runs (add them to RUN_BY):\n{}",
        unlisted.join("\n")
    );
    let stale: Vec<_> = RUN_BY
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(r, _)| r.1)
        .collect();
    assert!(
        stale.is_empty(),
        "RUN_BY lists commands no document has: {stale:?}"
    );
    for (doc, start, runner, shows) in RUN_BY {
        if runner.starts_with("not run: ") {
            continue;
        }
        let text = std::fs::read_to_string(root().join(runner)).unwrap_or_else(|e| {
            panic!("{doc}: `{start}` is run by {runner}, which cannot be read: {e}")
        });
        assert!(
            text.contains(shows),
            "{doc}: `{start}`: {runner} does not contain {shows:?}"
        );
    }
}

#[test]
fn commands_are_read_as_a_shell_reads_them() {
    let text = "```sh\nkubectl apply -f x.yaml   # note\nhelm install a \\\n  --set b=c\n# a comment\n\
                kubectl apply -f - <<'EOF'\nkind: X\nEOF\n```\n```yaml\nkind: Y\n```\n";
    assert_eq!(
        commands(text),
        [
            "kubectl apply -f x.yaml   # note",
            "helm install a --set b=c",
            "kubectl apply -f - <<'EOF'"
        ]
    );
}
