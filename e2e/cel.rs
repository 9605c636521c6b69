//! Custom CEL controls: a validation over the test namespace's Deployments finds exactly the planted violation
//! (and sees its remediation), and a malformed expression is reported as `Ready=False, reason=InvalidExpression`
//! naming the expression and the position.

use k8s_openapi::api::apps::v1::Deployment;
use serde_json::{Value, json};

use crate::support::objects::{control_spec, deployment};
use crate::support::wait::{
    TIMEOUT, condition, condition_is, findings, has_event, is_current, set,
};
use crate::support::{FIELD_MANAGER, TestEnv, TestResult, skip};

fn team_labels(expression: &str) -> Value {
    json!({ "cel": {
        "match": { "kinds": [{ "apiVersion": "apps/v1", "kind": "Deployment" }] },
        "params": { "label": "team" },
        "validations": [{
            "expression": expression,
            "messageExpression": "'Deployment ' + object.metadata.name + ' has no ' + params.label + ' label'",
            "reason": "team-label-missing",
        }],
    }})
}

fn labelled(name: &str, team: Option<&str>) -> Value {
    let mut d = deployment(name, &[]);
    if let Some(team) = team {
        d["metadata"]["labels"]["team"] = json!(team);
    }
    d
}

#[tokio::test]
async fn a_cel_control_finds_the_planted_violation_and_its_remediation() -> TestResult {
    if skip() {
        return Ok(());
    }
    let env = TestEnv::new("cel").await?;
    env.apply::<Deployment>(FIELD_MANAGER, labelled("owned", Some("payments")))
        .await?;
    env.apply::<Deployment>(FIELD_MANAGER, labelled("orphan", None))
        .await?;

    let name = env.control_name("team");
    let spec = control_spec(
        &env,
        &["CC6.1"],
        "e2e: every Deployment names its team",
        team_labels("has(object.metadata.labels) && params.label in object.metadata.labels"),
    );
    env.apply_control(&name, spec).await?;
    let expected = set(&[("Deployment", "orphan", "team-label-missing")]);
    let control = env
        .wait_control(
            &name,
            "Compliant=False with the orphan finding",
            TIMEOUT,
            |c| {
                is_current(c)
                    && condition_is(c, "Compliant", "False", None)
                    && findings(c) == expected
            },
        )
        .await;
    let message = control
        .status
        .iter()
        .flat_map(|s| s.findings.iter())
        .map(|f| f.message.clone())
        .next()
        .unwrap_or_default();
    env.check(
        &name,
        message == "Deployment orphan has no team label",
        format!("the finding's message comes from messageExpression: {message:?}"),
    )
    .await;

    // Remediation: label the Deployment; the change of a watched object re-evaluates the control.
    env.apply::<Deployment>(FIELD_MANAGER, labelled("orphan", Some("payments")))
        .await?;
    env.wait_control(&name, "Compliant=True after labelling", TIMEOUT, |c| {
        is_current(c) && condition_is(c, "Compliant", "True", None) && findings(c).is_empty()
    })
    .await;
    Ok(())
}

#[tokio::test]
async fn a_malformed_cel_expression_is_invalid_expression() -> TestResult {
    if skip() {
        return Ok(());
    }
    let env = TestEnv::new("celbad").await?;
    let name = env.control_name("syntax");
    let spec = control_spec(
        &env,
        &["CC6.1"],
        "e2e: malformed CEL",
        team_labels("has(object.metadata.labels) &&"),
    );
    env.apply_control(&name, spec).await?;
    let control = env
        .wait_control(
            &name,
            "Ready=False reason InvalidExpression",
            TIMEOUT,
            |c| is_current(c) && condition_is(c, "Ready", "False", Some("InvalidExpression")),
        )
        .await;
    let message = condition(&control, "Ready")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    env.check(
        &name,
        message.starts_with("spec.check.cel.validations[0].expression: syntax error")
            && message.contains("line 1, column"),
        format!("the Ready message names the expression and the position: {message:?}"),
    )
    .await;
    env.check(
        &name,
        control
            .status
            .as_ref()
            .is_some_and(|s| s.findings.is_empty()),
        "an invalid Control has no findings",
    )
    .await;
    env.wait_events(&name, "an InvalidSpec event", TIMEOUT, |events| {
        has_event(events, "InvalidSpec", None)
    })
    .await;
    Ok(())
}
