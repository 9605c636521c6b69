//! Invalid Controls: what the CRD schema can express is rejected by the API server; what it cannot (an interval
//! below the operator's minimum) is reported as `Ready=False`.

use serde_json::{Value, json};

use crate::support::objects::control_spec;
use crate::support::wait::{TIMEOUT, condition, condition_is, has_event, is_current};
use crate::support::{TestEnv, TestResult, skip};

/// Applies Control `name` and asserts that the API server refuses it as invalid with a message containing `needle`.
async fn expect_rejected(env: &TestEnv, name: &str, spec: Value, needle: &str) -> TestResult {
    match env.apply_control(name, spec).await {
        Ok(_) => panic!(
            "the API server accepted Control {name}, which its schema must reject ({needle:?})\n{}",
            env.report(name).await
        ),
        Err(kube::Error::Api(status)) => {
            assert_eq!(
                status.code, 422,
                "Control {name} should be rejected as Invalid (422), got {status:?}"
            );
            assert!(
                status.message.contains(needle),
                "the rejection of Control {name} should mention {needle:?}: {}",
                status.message
            );
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

#[tokio::test]
async fn invalid_controls_are_rejected_or_reported() -> TestResult {
    if skip() {
        return Ok(());
    }
    let env = TestEnv::new("inv").await?;
    let check = json!({ "changeApproval": {} });

    // Not a Trust Services Criterion: the schema pattern refuses it.
    let spec = control_spec(&env, &["CC99.1"], "e2e: unknown criterion", check.clone());
    expect_rejected(&env, &env.control_name("criteria"), spec, "criteria").await?;

    // Two check kinds: the x-kubernetes-validations rule refuses it.
    let spec = control_spec(
        &env,
        &["CC6.1"],
        "e2e: two checks",
        json!({ "mfaAccess": {}, "logging": {} }),
    );
    expect_rejected(
        &env,
        &env.control_name("twochecks"),
        spec,
        "exactly one check kind",
    )
    .await?;

    // Valid for the schema, below the operator's 10 s minimum: accepted, then reported.
    let name = env.control_name("interval");
    let mut spec = control_spec(&env, &["CC8.1"], "e2e: too frequent", check);
    spec["interval"] = json!("5s");
    env.apply_control(&name, spec).await?;
    let control = env
        .wait_control(&name, "Ready=False reason InvalidInterval", TIMEOUT, |c| {
            is_current(c) && condition_is(c, "Ready", "False", Some("InvalidInterval"))
        })
        .await;
    let message = condition(&control, "Ready")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    env.check(
        &name,
        message.contains("spec.interval"),
        format!("the Ready message should name spec.interval: {message:?}"),
    )
    .await;
    let status = control.status.clone().unwrap_or_default();
    env.check(
        &name,
        condition_is(&control, "Compliant", "Unknown", Some("InvalidSpec"))
            && status.summary.is_none()
            && status.findings.is_empty(),
        "an invalid Control should be Compliant=Unknown (InvalidSpec) without summary or findings",
    )
    .await;
    env.wait_events(&name, "an InvalidSpec event", TIMEOUT, |events| {
        has_event(events, "InvalidSpec", None)
    })
    .await;
    Ok(())
}
