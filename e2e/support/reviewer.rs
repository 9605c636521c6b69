//! A person as the API server authenticates them: a client certificate for a user name and groups, issued through
//! the CertificateSigningRequest API (signer `kubernetes.io/kube-apiserver-client`, approved by the test's admin
//! identity, signed by the kube-controller-manager), so that the operator's webhook sees exactly the `userInfo` a
//! real reviewer's request carries.

use std::error::Error;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use tokio::time::Instant;

use super::wait::TIMEOUT;

/// A client authenticated as `user` in `groups`, with the files its certificate lives in.
pub struct Person {
    /// The client.
    pub client: Client,
    _files: tempfile::TempDir,
}

/// Issues a certificate for `user` in `groups` and returns a client that uses it.
pub async fn person(admin: &Client, user: &str, groups: &[&str]) -> Result<Person, Box<dyn Error>> {
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, user);
    for group in groups {
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, *group);
    }
    let request_pem = params.serialize_request(&key)?.pem()?;
    let name = format!("soc2-e2e-{}", user.replace(':', "-"));
    let csrs: Api<CertificateSigningRequest> = Api::all(admin.clone());
    let _ = csrs.delete(&name, &DeleteParams::default()).await;
    let csr: CertificateSigningRequest = serde_json::from_value(json!({
        "metadata": { "name": name },
        "spec": {
            "request": ByteString(request_pem.into_bytes()),
            "signerName": "kubernetes.io/kube-apiserver-client",
            "usages": ["client auth"],
            "expirationSeconds": 3600,
        },
    }))?;
    csrs.create(&PostParams::default(), &csr).await?;
    let approval = json!({
        "status": { "conditions": [{
            "type": "Approved", "status": "True", "reason": "E2E", "message": "a reviewer identity for the e2e suite",
        }]},
    });
    csrs.patch_approval(&name, &PatchParams::default(), &Patch::Merge(&approval))
        .await?;
    let deadline = Instant::now() + TIMEOUT;
    let certificate = loop {
        let csr = csrs.get(&name).await?;
        if let Some(cert) = csr.status.and_then(|s| s.certificate) {
            break cert.0;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "CSR {name} was approved but not signed within {TIMEOUT:?}: does the kube-controller-manager run \
                 with --cluster-signing-cert-file?"
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = csrs.delete(&name, &DeleteParams::default()).await;
    let files = tempfile::tempdir()?;
    let cert_path = files.path().join("tls.crt");
    let key_path = files.path().join("tls.key");
    std::fs::write(&cert_path, certificate)?;
    std::fs::write(&key_path, key.serialize_pem())?;
    let mut config = kube::Config::infer().await?;
    config.auth_info = kube::config::AuthInfo {
        client_certificate: Some(cert_path.display().to_string()),
        client_key: Some(key_path.display().to_string()),
        ..Default::default()
    };
    Ok(Person {
        client: super::client_from(config)?,
        _files: files,
    })
}
