//! The chart's ServiceAccount as an identity: a bound token (TokenRequest API) in a kubeconfig for the caller's
//! cluster, which the operator binary and the `rbac` scenario use.

use std::error::Error;
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::api::{ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde_json::json;
use soc2_operator::api::Control;
use tokio::time::Instant;

use super::chart::{ChartInstall, FROM_CHART_ENV};

/// Lifetime of the ServiceAccount token.
const TOKEN_SECONDS: i64 = 3600;

impl ChartInstall {
    /// A client that authenticates as the chart's ServiceAccount.
    pub async fn client(&self) -> Result<Client, Box<dyn Error>> {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)?;
        let config =
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        Ok(super::client_from(config)?)
    }
}

/// A bound token for the ServiceAccount (TokenRequest API), valid for an hour.
pub async fn token(
    client: &Client,
    namespace: &str,
    service_account: &str,
) -> Result<String, Box<dyn Error>> {
    let request: TokenRequest = serde_json::from_value(json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": { "audiences": [], "expirationSeconds": TOKEN_SECONDS },
    }))?;
    let response = Api::<ServiceAccount>::namespaced(client.clone(), namespace)
        .create_token_request(service_account, &PostParams::default(), &request)
        .await
        .map_err(|e| {
            format!(
                "requesting a token for ServiceAccount {namespace}/{service_account} failed: {e} (the API server needs \
                 --service-account-issuer and --service-account-signing-key-file; {FROM_CHART_ENV}=0 runs the \
                 operator with your kubeconfig instead)"
            )
        })?;
    Ok(response
        .status
        .ok_or("the TokenRequest has no status")?
        .token)
}

/// A kubeconfig (mode 0600) with the caller's current cluster and a user holding `token`.
pub fn write_kubeconfig(token: &str, namespace: &str) -> Result<PathBuf, Box<dyn Error>> {
    let config = Kubeconfig::read()?;
    let context_name = config
        .current_context
        .clone()
        .ok_or("your kubeconfig has no current-context")?;
    let context = config
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .and_then(|c| c.context.clone())
        .ok_or_else(|| format!("context {context_name} is not in your kubeconfig"))?;
    let cluster = config
        .clusters
        .iter()
        .find(|c| c.name == context.cluster)
        .and_then(|c| c.cluster.clone())
        .ok_or_else(|| format!("cluster {} is not in your kubeconfig", context.cluster))?;
    // Server, CA (paths already made absolute by `read`), insecure-skip-tls-verify, tls-server-name, proxy: as is.
    let document = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": "e2e", "cluster": cluster }],
        "users": [{ "name": "soc2-operator", "user": { "token": token } }],
        "contexts": [{ "name": "soc2-operator", "context": { "cluster": "e2e", "user": "soc2-operator", "namespace": namespace } }],
        "current-context": "soc2-operator",
    });
    let mut file = tempfile::Builder::new()
        .prefix("soc2-e2e-kubeconfig-")
        .suffix(".yaml")
        .tempfile()?;
    std::io::Write::write_all(&mut file, serde_yaml::to_string(&document)?.as_bytes())?;
    Ok(file.into_temp_path().keep()?)
}

/// Waits until the ServiceAccount may list Controls and the pods in kube-system: the API server's RBAC caches pick
/// up new bindings within moments, and the operator's preflight must not race them.
pub async fn wait_effective(install: &ChartInstall) -> Result<(), Box<dyn Error>> {
    let client = install.client().await?;
    let one = ListParams::default().limit(1);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let controls = Api::<Control>::all(client.clone())
            .list_metadata(&one)
            .await;
        let pods = Api::<Pod>::namespaced(client.clone(), "kube-system")
            .list_metadata(&one)
            .await;
        match (controls, pods) {
            (Ok(_), Ok(_)) => return Ok(()),
            (Err(e), _) | (_, Err(e)) if Instant::now() >= deadline => {
                return Err(format!(
                    "the chart's ServiceAccount {}/{} still cannot list Controls and kube-system pods after 30 s: {e}",
                    install.namespace, install.service_account
                )
                .into());
            }
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}
