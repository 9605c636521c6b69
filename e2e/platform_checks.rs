//! Platform checks of the control library: RBAC least privilege (CC6.1, CC6.3) and job health (PI1.4, PI1.5)
//! against real RBAC objects and CronJobs, with compliant twins next to each violation.

use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use crate::support::objects::{PAUSE_IMAGE, control_spec};
use crate::support::wait::{TIMEOUT, condition_is, findings, is_current, set};
use crate::support::{FIELD_MANAGER, RUN_LABEL, TestEnv, TestResult, skip};

fn role(name: &str, resources: &[&str], verbs: &[&str]) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": { "name": name },
        "rules": [{ "apiGroups": [""], "resources": resources, "verbs": verbs }],
    })
}

fn binding(name: &str, role: &str, subject: Value) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": { "name": name },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role },
        "subjects": [subject],
    })
}

#[tokio::test]
async fn rbac_least_privilege_flags_excessive_bindings_only() -> TestResult {
    if skip() {
        return Ok(());
    }
    let env = TestEnv::new("rbaclp").await?;
    let ns = env.namespace.clone();
    env.apply::<Role>(FIELD_MANAGER, role("shell", &["pods/exec"], &["create"]))
        .await?;
    env.apply::<Role>(FIELD_MANAGER, role("everything", &["configmaps"], &["*"]))
        .await?;
    env.apply::<Role>(FIELD_MANAGER, role("viewer", &["pods"], &["get", "list"]))
        .await?;
    let group =
        |g: &str| json!({ "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g });
    env.apply::<RoleBinding>(
        FIELD_MANAGER,
        binding("devs-shell", "shell", group("oidc:devs")),
    )
    .await?;
    env.apply::<RoleBinding>(
        FIELD_MANAGER,
        binding("devs-all", "everything", group("oidc:devs")),
    )
    .await?;
    env.apply::<RoleBinding>(
        FIELD_MANAGER,
        binding("devs-view", "viewer", group("oidc:devs")),
    )
    .await?;
    env.apply::<RoleBinding>(
        FIELD_MANAGER,
        binding(
            "default-sa-view",
            "viewer",
            json!({ "kind": "ServiceAccount", "name": "default", "namespace": ns }),
        ),
    )
    .await?;

    let name = env.control_name("rbac");
    let mut spec = control_spec(
        &env,
        &["CC6.1", "CC6.3"],
        "e2e: access is least privilege",
        json!({ "rbacLeastPrivilege": {} }),
    );
    // The cluster's own ClusterRoleBindings are cluster-scoped: select this run's objects only.
    spec["scope"]["objectSelector"] = json!({ "matchLabels": { RUN_LABEL: env.suffix } });
    env.apply_control(&name, spec).await?;
    let expected = set(&[
        ("RoleBinding", "devs-shell", "pod-exec"),
        ("RoleBinding", "devs-all", "wildcard-verbs"),
        (
            "RoleBinding",
            "default-sa-view",
            "default-service-account-bound",
        ),
    ]);
    let control = env
        .wait_control(
            &name,
            &format!("Compliant=False with {expected:?}"),
            TIMEOUT,
            |c| {
                is_current(c)
                    && condition_is(c, "Compliant", "False", None)
                    && findings(c) == expected
            },
        )
        .await;
    let summary = control
        .status
        .as_ref()
        .and_then(|s| s.summary)
        .unwrap_or_default();
    env.check(
        &name,
        summary.evaluated == 4 && summary.failed == 3,
        format!("summary {summary:?}: expected 4 bindings evaluated, 3 failing"),
    )
    .await;

    // Remediate: narrow the wildcard role; the finding goes, the others stay.
    env.apply::<Role>(FIELD_MANAGER, role("everything", &["configmaps"], &["get"]))
        .await?;
    let remaining = set(&[
        ("RoleBinding", "devs-shell", "pod-exec"),
        (
            "RoleBinding",
            "default-sa-view",
            "default-service-account-bound",
        ),
    ]);
    env.wait_control(
        &name,
        "the wildcard finding to be remediated",
        TIMEOUT,
        |c| findings(c) == remaining,
    )
    .await;
    Ok(())
}

fn cron_job(name: &str, schedule: &str) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": { "name": name },
        "spec": {
            "schedule": schedule,
            // The controller gives up on a run 10 s late, so the planted backlog is never started here.
            "startingDeadlineSeconds": 10,
            "jobTemplate": { "spec": { "template": { "spec": {
                "restartPolicy": "Never",
                "containers": [{ "name": "job", "image": PAUSE_IMAGE }],
            } } } },
        },
    })
}

#[tokio::test]
async fn job_health_flags_a_cron_job_that_stopped_running() -> TestResult {
    if skip() {
        return Ok(());
    }
    let env = TestEnv::new("jobs").await?;
    // Yearly on 1 January, last scheduled on 1 January 2025: the 2026 run never started.
    env.apply::<CronJob>(FIELD_MANAGER, cron_job("yearly-close", "0 0 1 1 *"))
        .await?;
    let status = json!({ "status": { "lastScheduleTime": "2025-01-01T00:00:00Z" } });
    env.api::<CronJob>()
        .patch_status(
            "yearly-close",
            &PatchParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            },
            &Patch::Merge(&status),
        )
        .await?;
    // Created now, next due on 29 February 2028: on schedule.
    env.apply::<CronJob>(FIELD_MANAGER, cron_job("leap-day", "0 0 29 2 *"))
        .await?;

    let name = env.control_name("jobs");
    let spec = control_spec(
        &env,
        &["PI1.4", "PI1.5"],
        "e2e: scheduled processing runs on time",
        json!({ "jobHealth": { "kinds": ["CronJob"] } }),
    );
    env.apply_control(&name, spec).await?;
    let expected = set(&[("CronJob", "yearly-close", "missed-schedule")]);
    env.wait_control(
        &name,
        &format!("Compliant=False with {expected:?}"),
        TIMEOUT,
        |c| is_current(c) && condition_is(c, "Compliant", "False", None) && findings(c) == expected,
    )
    .await;
    Ok(())
}
