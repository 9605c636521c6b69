//! Access reviews on a real API server: a cycle opens over the test's privileged bindings, reviewers authenticated
//! by client certificates decide (the webhook refuses a decision signed as someone else, from a non-reviewer and on
//! one's own access), a revocation is carried out by deleting the binding, and the cycle's population and record
//! verify in the evidence chain.

use std::time::Duration;

use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use soc2_operator::api::{AccessReview, AccessReviewDecision, FindingResult};
use soc2_operator::evidence::{EvidenceStoreClient, StoreLocation, VerifyingKeys, verify_chain};
use tokio::time::Instant;

use crate::support::objects::{assert_chain_verifies, control_spec};
use crate::support::reviewer::person;
use crate::support::wait::TIMEOUT;
use crate::support::wait::{condition_is, findings_with, is_current};
use crate::support::{FIELD_MANAGER, TestEnv, TestResult, skip};

fn admin_binding(env: &TestEnv, name: &str, user: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": { "name": name, "labels": env.labels() },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin" },
        "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user }],
    })
}

fn decision(
    name: &str,
    review: &str,
    cycle: &str,
    reviewer: &str,
    items: Value,
) -> AccessReviewDecision {
    // The documented example with this test's names.
    let mut manifest: Value =
        serde_yaml::from_str(include_str!("../examples/access-review/decision.yaml"))
            .expect("examples/access-review/decision.yaml is YAML");
    manifest["metadata"] = json!({ "name": name });
    manifest["spec"]["accessReview"] = json!(review);
    manifest["spec"]["cycle"] = json!(cycle);
    manifest["spec"]["reviewer"] = json!(reviewer);
    manifest["spec"]["decisions"] = items;
    serde_json::from_value(manifest).expect("a valid decision")
}

fn item(user: &str, verdict: &str, comment: &str) -> Value {
    json!({ "subject": { "kind": "User", "name": user }, "decision": verdict, "comment": comment })
}

/// Polls the review until `done` holds; fails with its status after `timeout`.
async fn wait_review(
    api: &Api<AccessReview>,
    name: &str,
    timeout: Duration,
    what: &str,
    done: impl Fn(&AccessReview) -> bool,
) -> AccessReview {
    let deadline = Instant::now() + timeout;
    loop {
        let review = api.get(name).await.expect("the AccessReview is readable");
        if done(&review) {
            return review;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for AccessReview {name}: {what}; status: {}",
            serde_json::to_string_pretty(&review.status).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn a_review_cycle_is_decided_by_authenticated_reviewers_and_lands_in_the_chain() -> TestResult
{
    if skip() {
        return Ok(());
    }
    let env = TestEnv::new("arv").await?;
    let s = &env.suffix;
    let (alice, bob, erin, frank) = (
        format!("alice-{s}"),
        format!("bob-{s}"),
        format!("erin-{s}"),
        format!("frank-{s}"),
    );
    let reviewers = format!("e2e-reviewers-{s}");
    let bindings: Api<ClusterRoleBinding> = Api::all(env.client.clone());
    let binding_names = [
        format!("{alice}-admin"),
        format!("{bob}-admin"),
        format!("{erin}-admin"),
    ];
    for (name, user) in binding_names.iter().zip([&alice, &bob, &erin]) {
        bindings
            .patch(
                name,
                &PatchParams::apply(FIELD_MANAGER),
                &Patch::Apply(admin_binding(&env, name, user)),
            )
            .await?;
    }

    let dir = tempfile::tempdir()?;
    // The store ticks every minute, so that a snapshot after the cycle completes comes soon.
    let store_name = env.apply_evidence_store(dir.path(), "1m").await?;

    let review_name = format!("soc2-e2e-arv-{s}");
    let reviews: Api<AccessReview> = Api::all(env.client.clone());
    // The documented example, narrowed to this test's bindings and reviewers.
    let mut manifest: Value =
        serde_yaml::from_str(include_str!("../examples/access-review/access-review.yaml"))?;
    manifest["metadata"] = json!({ "name": review_name, "labels": env.labels() });
    let spec = &mut manifest["spec"];
    spec["schedule"] = json!({ "interval": "2160h" });
    spec["subjects"]["kinds"] = json!(["User"]);
    spec["subjects"]["bindings"] = json!({ "objectSelector": { "matchLabels": env.labels() } });
    spec["reviewers"] = json!({ "groups": [reviewers] });
    // A grace period of a second: the control fails as soon as the revocation is due and not carried out.
    spec["revocationGracePeriod"] = json!("1s");
    spec["evidenceStore"] = json!(store_name);
    reviews
        .patch(
            &review_name,
            &PatchParams::apply(FIELD_MANAGER),
            &Patch::Apply(manifest),
        )
        .await?;

    // The cycle opens over exactly the test's three privileged users.
    let review = wait_review(&reviews, &review_name, TIMEOUT, "a cycle opens", |r| {
        r.status.as_ref().and_then(|s| s.cycle.as_ref()).is_some()
    })
    .await;
    let cycle = review.status.clone().unwrap().cycle.unwrap();
    assert_eq!(cycle.subjects, 3, "{cycle:?}");
    assert_eq!(cycle.evidence_store, store_name);
    assert!(
        dir.path()
            .join(format!("objects/{}.json", cycle.population_digest))
            .exists()
    );

    // Reviewers (and the bystander who tries) may create decisions, as the chart's access-reviewer ClusterRole
    // lets them; whether a decision is admitted is the webhook's call.
    let roles: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(env.client.clone());
    let role_name = format!("soc2-e2e-arv-reviewer-{s}");
    let rules: Value = serde_yaml::from_str::<Value>(include_str!(
        "../config/rbac/access_reviewer_role.yaml"
    ))?["rules"]
        .clone();
    roles
        .patch(
            &role_name,
            &PatchParams::apply(FIELD_MANAGER),
            &Patch::Apply(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": { "name": role_name },
                "rules": rules,
            })),
        )
        .await?;
    bindings
        .patch(
            &role_name,
            &PatchParams::apply(FIELD_MANAGER),
            &Patch::Apply(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": { "name": role_name },
                "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name },
                "subjects": [
                    { "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": reviewers },
                    { "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": format!("e2e-bystanders-{s}") },
                ],
            })),
        )
        .await?;
    let erin_client = person(&env.client, &erin, &[&reviewers]).await?.client;
    let frank_client = person(&env.client, &frank, &[&reviewers]).await?;
    let decisions_as = |client: &kube::Client| Api::<AccessReviewDecision>::all(client.clone());
    let post = PostParams::default();
    let names = |n: &str| format!("soc2-e2e-arv-{n}-{s}");

    // The webhook reads AccessReviews from a watch of its own, which may not have seen the new review yet when the
    // controller has opened its cycle (CI runs scenarios in parallel, and one restarts the API server): wait until
    // a dry run of a valid decision is admitted.
    let probe = decision(
        &names("probe"),
        &review_name,
        &cycle.id,
        &erin,
        json!([item(&alice, "Keep", "dry run")]),
    );
    let dry_run = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let deadline = Instant::now() + TIMEOUT;
    while let Err(e) = decisions_as(&erin_client).create(&dry_run, &probe).await {
        assert!(
            Instant::now() < deadline,
            "the webhook does not admit a valid decision within {TIMEOUT:?}: {e}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Refused: signed as someone else, deciding on one's own access, and from someone who is not a reviewer.
    let mallory = format!("mallory-{s}");
    let mallory_client = person(&env.client, &mallory, &[&format!("e2e-bystanders-{s}")]).await?;
    let refusals = [
        (&erin_client, "forged", &frank, &alice, frank.as_str()),
        (&erin_client, "own", &erin, &erin, "own access"),
        (
            &mallory_client.client,
            "stranger",
            &mallory,
            &alice,
            "reviewer",
        ),
    ];
    for (client, name, reviewer, subject, says) in refusals {
        let attempt = decision(
            &names(name),
            &review_name,
            &cycle.id,
            reviewer,
            json!([item(subject, "Keep", "x")]),
        );
        let denied = decisions_as(client)
            .create(&post, &attempt)
            .await
            .expect_err(name);
        assert!(denied.to_string().contains(says), "{name}: {denied}");
    }

    // Erin decides on Alice and Bob; Frank on Erin.
    let by_erin = decisions_as(&erin_client)
        .create(
            &post,
            &decision(
                &names("erin"),
                &review_name,
                &cycle.id,
                &erin,
                json!([
                    item(&alice, "Keep", "on-call SRE"),
                    item(&bob, "Revoke", "left the platform team")
                ]),
            ),
        )
        .await?;
    let authenticated = by_erin
        .spec
        .authenticated
        .clone()
        .expect("the webhook records who signed");
    assert_eq!(authenticated.username, erin);
    assert!(
        authenticated.groups.contains(&reviewers),
        "{authenticated:?}"
    );
    decisions_as(&frank_client.client)
        .create(
            &post,
            &decision(
                &names("frank"),
                &review_name,
                &cycle.id,
                &frank,
                json!([item(&erin, "Keep", "reviewer on call")]),
            ),
        )
        .await?;

    let review = wait_review(
        &reviews,
        &review_name,
        TIMEOUT,
        "every subject decided",
        |r| {
            r.status
                .as_ref()
                .and_then(|s| s.cycle.as_ref())
                .is_some_and(|c| c.decided == 3 && c.completed.is_some())
        },
    )
    .await;
    let status = review.status.clone().unwrap();
    assert_eq!(
        status.last_completed_cycle.as_ref().map(|c| c.id.as_str()),
        Some(cycle.id.as_str())
    );
    assert_eq!(status.cycle.as_ref().unwrap().revoked, 0);

    // The control over the review fails while Bob still holds what was revoked...
    let control = env.control_name("access");
    env.apply_control(
        &control,
        control_spec(
            &env,
            &["CC6.2", "CC6.3"],
            "e2e: access review",
            json!({ "accessReview": { "accessReviews": [review_name] } }),
        ),
    )
    .await?;
    env.wait_control(
        &control,
        "revocation-not-carried-out for bob",
        TIMEOUT,
        |c| {
            is_current(c)
                && condition_is(c, "Compliant", "False", None)
                && findings_with(c, FindingResult::Fail)
                    .iter()
                    .any(|(_, name, rule)| name == &bob && rule == "revocation-not-carried-out")
        },
    )
    .await;

    // ... and the revocation is carried out: the binding goes, and the control is compliant.
    bindings
        .delete(&binding_names[1], &DeleteParams::default())
        .await?;
    env.wait_control(
        &control,
        "compliant once the binding is gone",
        TIMEOUT,
        |c| {
            is_current(c)
                && condition_is(c, "Compliant", "True", None)
                && findings_with(c, FindingResult::Fail).is_empty()
        },
    )
    .await;
    wait_review(
        &reviews,
        &review_name,
        TIMEOUT,
        "bob's revocation seen carried out",
        |r| {
            r.status
                .as_ref()
                .and_then(|s| s.cycle.as_ref())
                .is_some_and(|c| c.revoked == 1)
        },
    )
    .await;
    let by_erin = decisions_as(&env.client).get(&names("erin")).await?;
    let revocations = by_erin.status.map(|s| s.revocations).unwrap_or_default();
    assert_eq!(revocations.len(), 1, "{revocations:?}");
    assert_eq!(revocations[0].subject.name, bob);

    // A decision is immutable once admitted.
    let mut changed = decisions_as(&erin_client).get(&names("erin")).await?;
    changed.spec.decisions[0].comment = "edited".into();
    let denied = decisions_as(&erin_client)
        .replace(&names("erin"), &post, &changed)
        .await
        .expect_err("an admitted decision cannot be edited");
    assert!(
        denied.to_string().contains("new AccessReviewDecision"),
        "{denied}"
    );

    // The next snapshot (the store ticks every minute) lists the completed cycle; the chain verifies.
    let store = EvidenceStoreClient::connect(&StoreLocation::Filesystem(dir.path().into()))?;
    let deadline = Instant::now() + Duration::from_secs(150);
    let record = loop {
        let verified = verify_chain(&store, &VerifyingKeys::default(), |_, _| {}).await?;
        assert!(verified.is_intact(), "{:?}", verified.problems);
        let found = verified.head().and_then(|h| {
            h.access_reviews
                .iter()
                .find(|r| r.access_review == review_name && r.tally.revoked() == 1)
                .cloned()
        });
        if let Some(record) = found {
            assert!(verified.populations.contains_key(&record.population_digest));
            break record;
        }
        assert!(
            Instant::now() < deadline,
            "no snapshot listed the completed cycle of {review_name}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    assert!(record.tally.completed.is_some());
    assert_chain_verifies(dir.path(), "with an access review cycle");

    for name in ["erin", "frank"] {
        let _ = decisions_as(&env.client)
            .delete(&names(name), &DeleteParams::default())
            .await;
    }
    let _ = reviews.delete(&review_name, &DeleteParams::default()).await;
    for name in binding_names.iter().chain([&role_name]) {
        let _ = bindings.delete(name, &DeleteParams::default()).await;
    }
    let _ = roles.delete(&role_name, &DeleteParams::default()).await;
    Ok(())
}
