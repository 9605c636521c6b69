//! Backups (A1.2) and restore tests (A1.3), read from Velero: every in-scope namespace is covered by an unpaused
//! `Schedule` and by a `Backup` that completed within the recovery point objective; optionally a `Restore` completed
//! within the declared restore-test period. Velero's kinds are read dynamically: when its CRDs are absent the
//! check is Unknown, never a pass.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use kube::api::DynamicObject;
use serde_json::Value;

use super::{Admissibility, Check, CheckReport, Finding};
use crate::api::{BackupsCheck, CheckKind};
use crate::engine::validation::SpecError;
use crate::view::{ClusterSnapshot, Gvk, Reads, ResourceKind, ResourceRef, ScopeMatcher};

/// Velero's API group/version.
const VELERO_API_VERSION: &str = "velero.io/v1";
/// The RPO used when the control's value cannot be parsed (validation rejects such controls first).
const FALLBACK_RPO: Duration = Duration::from_secs(24 * 3600);

/// Velero `Schedule`.
pub fn schedule_gvk() -> Gvk {
    Gvk::new("velero.io", "v1", "Schedule")
}
/// Velero `Backup`.
pub fn backup_gvk() -> Gvk {
    Gvk::new("velero.io", "v1", "Backup")
}
/// Velero `Restore`.
pub fn restore_gvk() -> Gvk {
    Gvk::new("velero.io", "v1", "Restore")
}

/// The Velero kinds a control with `params` reads.
pub fn gvks(params: &BackupsCheck) -> Vec<Gvk> {
    let mut out = Vec::new();
    if params.effective_backup_coverage() {
        out.extend([schedule_gvk(), backup_gvk()]);
    }
    if params.restore_test_period.is_some() {
        out.push(restore_gvk());
    }
    out
}

/// Which namespaces a Velero object backs up: `includedNamespaces` (unset or empty: all; `*`: all) minus
/// `excludedNamespaces`, both read from `spec` (a Backup) or `spec.template` (a Schedule). Entries are Velero's
/// namespace glob patterns (`app-*`, `ns?`, `ns[1-3]`, since Velero 1.18); an exclusion wins over an inclusion.
fn covers(spec: Option<&Value>, namespace: &str) -> bool {
    let list = |field: &str| -> Vec<String> {
        spec.and_then(|s| s.get(field))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let included = list("includedNamespaces");
    let excluded = list("excludedNamespaces");
    if excluded.iter().any(|p| namespace_matches(p, namespace)) {
        return false;
    }
    included.is_empty() || included.iter().any(|p| namespace_matches(p, namespace))
}

/// Whether a Velero namespace pattern names `namespace`. A pattern that is not a valid glob (Velero rejects such a
/// Backup before it runs) can only be the namespace's own name.
fn namespace_matches(pattern: &str, namespace: &str) -> bool {
    if pattern == namespace || pattern == "*" {
        return true;
    }
    if !pattern.contains(['*', '?', '[']) {
        return false;
    }
    glob::Pattern::new(pattern).is_ok_and(|p| p.matches(namespace))
}

fn string_at<'a>(o: &'a DynamicObject, pointer: &str) -> Option<&'a str> {
    o.data.pointer(pointer).and_then(Value::as_str)
}

/// `status.phase`, or `(no phase)` when Velero has not written one.
fn phase(o: &DynamicObject) -> &str {
    string_at(o, "/status/phase").unwrap_or("(no phase)")
}

fn completion(o: &DynamicObject) -> Option<Timestamp> {
    string_at(o, "/status/completionTimestamp").and_then(|t| t.parse().ok())
}

/// When the object last did something: completion, else start, else creation. Orders backups that did not
/// complete among those that did.
fn last_activity(o: &DynamicObject) -> Option<Timestamp> {
    completion(o)
        .or_else(|| string_at(o, "/status/startTimestamp").and_then(|t| t.parse().ok()))
        .or_else(|| o.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

fn name(o: &DynamicObject) -> String {
    format!(
        "{}/{}",
        o.metadata.namespace.as_deref().unwrap_or(""),
        o.metadata.name.as_deref().unwrap_or("(unnamed)")
    )
}

/// An age as people read it: days and hours, or hours and minutes under a day.
fn age(now: Timestamp, then: Timestamp) -> String {
    let secs = (now.as_second() - then.as_second()).max(0);
    let (days, hours, minutes) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (days, hours) {
        (0, 0) => format!("{minutes}m"),
        (0, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

fn within(now: Timestamp, then: Timestamp, limit: Duration) -> bool {
    let secs = now.as_second() - then.as_second();
    secs <= i64::try_from(limit.as_secs()).unwrap_or(i64::MAX)
}

fn parse(value: &str, fallback: Duration) -> Duration {
    humantime::parse_duration(value).unwrap_or(fallback)
}

/// The backups check (`spec.check.backups`).
pub struct Backups;

impl Check for Backups {
    const KIND: CheckKind = CheckKind::Backups;
    type Params = BackupsCheck;

    fn params(check: &crate::api::Check) -> Option<&BackupsCheck> {
        check.backups.as_ref()
    }

    fn validate(params: &BackupsCheck) -> Result<(), SpecError> {
        validate_parameters(params)
    }

    fn reads(params: &BackupsCheck) -> Reads {
        Reads::new(Vec::new(), gvks(params))
    }

    fn admissibility(_: &BackupsCheck) -> Admissibility {
        Admissibility::AuditOnly(
            "the backups check judges Velero Backups and Restores that Velero itself writes after the fact, so no object at admission can decide it",
        )
    }

    fn judge(
        view: &ClusterSnapshot,
        scope: &ScopeMatcher,
        params: &BackupsCheck,
        now: Timestamp,
    ) -> CheckReport {
        check(view, scope, params, now)
    }
}

/// The rules on the parameters that the CRD schema cannot express.
fn validate_parameters(b: &BackupsCheck) -> Result<(), SpecError> {
    let durations: [(&'static str, &Option<String>); 2] = [
        ("spec.check.backups.rpo", &b.rpo),
        (
            "spec.check.backups.restoreTestPeriod",
            &b.restore_test_period,
        ),
    ];
    for (field, value) in durations {
        if let Some(value) = value {
            let parsed =
                humantime::parse_duration(value).map_err(|e| SpecError::InvalidDuration {
                    field,
                    value: value.clone(),
                    reason: e.to_string(),
                })?;
            if parsed.is_zero() {
                return Err(SpecError::invalid_parameter(
                    field,
                    "must be longer than zero; write e.g. 24h for the RPO or 90d for the restore-test period",
                ));
            }
        }
    }
    if !b.effective_backup_coverage() && b.restore_test_period.is_none() {
        return Err(SpecError::invalid_parameter(
            "spec.check.backups.backupCoverage",
            "is false and restoreTestPeriod is unset, so the control would judge nothing; set restoreTestPeriod (e.g. 90d) or remove backupCoverage",
        ));
    }
    if b.velero_namespace
        .as_deref()
        .is_some_and(|n| n.trim().is_empty())
    {
        return Err(SpecError::invalid_parameter(
            "spec.check.backups.veleroNamespace",
            "must not be blank; omit it for the default (velero)",
        ));
    }
    Ok(())
}

/// Runs the check at `now`.
pub fn check(
    view: &ClusterSnapshot,
    scope: &ScopeMatcher,
    params: &BackupsCheck,
    now: Timestamp,
) -> CheckReport {
    let mut report = CheckReport::default();
    if report.unknown_if_missing(
        view,
        ResourceKind::Namespace,
        ResourceRef::aspect("v1", "Namespace", "(all)"),
    ) {
        return report;
    }
    let velero_ns = params.effective_velero_namespace();
    let mut read = std::collections::BTreeMap::new();
    for gvk in gvks(params) {
        match view.dynamic(&gvk) {
            Ok(objects) => {
                let in_velero_ns: Vec<_> = objects
                    .iter()
                    .filter(|o| o.metadata.namespace.as_deref() == Some(velero_ns.as_str()))
                    .cloned()
                    .collect();
                read.insert(gvk.kind.clone(), in_velero_ns);
            }
            Err(reason) => {
                report.evaluated += 1;
                report.findings.push(Finding::unknown(
                    ResourceRef::aspect(VELERO_API_VERSION, &gvk.kind, "(all)"),
                    "data-unavailable",
                    format!(
                        "{gvk} could not be read ({reason}), so backup coverage cannot be shown: install Velero \
                         (its CRDs) and grant the operator list/watch on velero.io schedules, backups and restores"
                    ),
                ));
                return report;
            }
        }
    }
    let rpo_text = params.effective_rpo();
    let rpo = parse(&rpo_text, FALLBACK_RPO);
    let excluded = params.effective_exclude_namespaces();
    let (schedules, backups) = match (read.get("Schedule"), read.get("Backup")) {
        (Some(s), Some(b)) => (s.as_slice(), b.as_slice()),
        _ => (&[][..], &[][..]),
    };
    let namespaces = if params.effective_backup_coverage() {
        view.namespaces.as_slice()
    } else {
        &[]
    };
    for ns in namespaces {
        let Some(ns_name) = ns.metadata.name.as_deref() else {
            continue;
        };
        if !scope.namespace_in_scope(ns_name)
            || !scope.matches(&ns.metadata)
            || excluded.iter().any(|e| e == ns_name)
        {
            continue;
        }
        report.evaluated += 1;
        let subject = ResourceRef::of(ns.as_ref());
        judge_schedules(schedules, ns_name, &velero_ns, &subject, &mut report);
        judge_backups(
            backups,
            ns_name,
            &velero_ns,
            (&rpo_text, rpo),
            now,
            &subject,
            &mut report,
        );
    }
    if let (Some(period_text), Some(restores)) = (&params.restore_test_period, read.get("Restore"))
    {
        report.evaluated += 1;
        let period = parse(period_text, Duration::MAX);
        judge_restores(restores, &velero_ns, period_text, period, now, &mut report);
    }
    report
}

fn judge_schedules(
    schedules: &[Arc<DynamicObject>],
    ns: &str,
    velero_ns: &str,
    subject: &ResourceRef,
    report: &mut CheckReport,
) {
    let covering: Vec<_> = schedules
        .iter()
        .filter(|s| covers(s.data.pointer("/spec/template"), ns))
        .collect();
    let paused = |s: &DynamicObject| {
        s.data
            .pointer("/spec/paused")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    if covering.iter().any(|s| !paused(s)) {
        return;
    }
    let message = if covering.is_empty() {
        format!(
            "no Velero Schedule in namespace {velero_ns} includes namespace {ns}, so its data is not backed up on a \
             schedule. Add {ns} (or *) to a Schedule's spec.template.includedNamespaces, or record a \
             ControlException if the namespace holds no data to recover."
        )
    } else {
        let names: Vec<String> = covering.iter().map(|s| name(s)).collect();
        format!(
            "the only Velero Schedules including namespace {ns} ({}) are paused (spec.paused: true), so no new \
             backups are taken. Unpause one, or add {ns} to an active Schedule.",
            names.join(", ")
        )
    };
    report.findings.push(Finding::fail(
        subject.clone(),
        "no-backup-schedule",
        message,
    ));
}

fn judge_backups(
    backups: &[Arc<DynamicObject>],
    ns: &str,
    velero_ns: &str,
    (rpo_text, rpo): (&str, Duration),
    now: Timestamp,
    subject: &ResourceRef,
    report: &mut CheckReport,
) {
    let covering: Vec<_> = backups
        .iter()
        .filter(|b| covers(b.data.get("spec"), ns))
        .collect();
    let newest_completed = covering
        .iter()
        .filter(|b| phase(b) == "Completed")
        .filter_map(|b| completion(b).map(|t| (t, b)))
        .max_by_key(|(t, _)| *t);
    if let Some((t, _)) = newest_completed
        && within(now, t, rpo)
    {
        return;
    }
    // A newer backup that did not complete explains why the last good one is old.
    let newest_other = covering
        .iter()
        .filter(|b| phase(b) != "Completed")
        .filter_map(|b| last_activity(b).map(|t| (t, b)))
        .filter(|(t, _)| newest_completed.is_none_or(|(c, _)| *t > c))
        .max_by_key(|(t, _)| *t)
        .map(|(_, b)| {
            format!(
                " The newest backup of {ns}, {}, has phase {} and does not count: only Completed backups are \
                 recoverable in full.",
                name(b),
                phase(b)
            )
        })
        .unwrap_or_default();
    let unreadable = covering
        .iter()
        .filter(|b| phase(b) == "Completed" && completion(b).is_none())
        .count();
    let unreadable = if unreadable > 0 {
        format!(
            " {unreadable} Completed backup(s) without a readable status.completionTimestamp were not counted."
        )
    } else {
        String::new()
    };
    let (rule, message) = match newest_completed {
        Some((t, b)) => (
            "backup-too-old",
            format!(
                "the last Completed Velero backup of namespace {ns}, {}, completed {} ago ({t}), beyond the recovery \
                 point objective of {rpo_text}.{newest_other}{unreadable} Check the Schedule and the Velero logs, \
                 and take a backup now (velero backup create --from-schedule <schedule>).",
                name(b),
                age(now, t)
            ),
        ),
        None => (
            "no-completed-backup",
            format!(
                "no Velero Backup in namespace {velero_ns} covering namespace {ns} has phase Completed, so there is \
                 no recoverable backup within the recovery point objective of {rpo_text}.{newest_other}{unreadable} \
                 Take a backup (velero backup create --from-schedule <schedule>) and make sure it completes."
            ),
        ),
    };
    report
        .findings
        .push(Finding::fail(subject.clone(), rule, message));
}

fn judge_restores(
    restores: &[Arc<DynamicObject>],
    velero_ns: &str,
    period_text: &str,
    period: Duration,
    now: Timestamp,
    report: &mut CheckReport,
) {
    let subject = ResourceRef::aspect(VELERO_API_VERSION, "Restore", "(restore tests)");
    let newest = restores
        .iter()
        .filter(|r| phase(r) == "Completed")
        .filter_map(|r| completion(r).map(|t| (t, r)))
        .max_by_key(|(t, _)| *t);
    match newest {
        Some((t, _)) if within(now, t, period) => {}
        Some((t, r)) => report.findings.push(Finding::fail(
            subject,
            "restore-test-too-old",
            format!(
                "the last Completed Velero Restore, {}, completed {} ago ({t}), longer ago than the declared \
                 restore-test period of {period_text}: recovery from backup has not been shown recently. Restore a \
                 recent backup into a scratch namespace (velero restore create --from-backup <backup> \
                 --namespace-mappings <ns>:<ns>-restore-test) and keep the Restore object as evidence.",
                name(r),
                age(now, t)
            ),
        )),
        None => report.findings.push(Finding::fail(
            subject,
            "restore-test-missing",
            format!(
                "no Velero Restore in namespace {velero_ns} has phase Completed, so no restore test within the \
                 declared period of {period_text} is evidenced. Restore a recent backup into a scratch namespace \
                 (velero restore create --from-backup <backup>) and keep the Restore object as evidence."
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Namespace;
    use serde_json::json;

    use super::*;
    use crate::api::{FindingResult, Scope};
    use crate::checks::test_support::{assert_report, message};

    const NOW: &str = "2026-06-01T12:00:00Z";

    fn now() -> Timestamp {
        NOW.parse().unwrap()
    }

    fn ns(name: &str) -> Arc<Namespace> {
        Arc::new(serde_json::from_value(json!({"metadata": {"name": name}})).unwrap())
    }

    fn object(kind: &str, name: &str, spec: Value, status: Value) -> Arc<DynamicObject> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "velero.io/v1", "kind": kind,
                "metadata": {"name": name, "namespace": "velero"},
                "spec": spec, "status": status
            }))
            .unwrap(),
        )
    }

    fn schedule(name: &str, included: Value, paused: bool) -> Arc<DynamicObject> {
        object(
            "Schedule",
            name,
            json!({"schedule": "0 1 * * *", "paused": paused, "template": {"includedNamespaces": included}}),
            json!({"phase": "Enabled"}),
        )
    }

    fn backup(name: &str, included: Value, phase: &str, completed: &str) -> Arc<DynamicObject> {
        object(
            "Backup",
            name,
            json!({"includedNamespaces": included}),
            json!({"phase": phase, "completionTimestamp": completed}),
        )
    }

    fn restore(name: &str, phase: &str, completed: &str) -> Arc<DynamicObject> {
        object(
            "Restore",
            name,
            json!({"backupName": "daily"}),
            json!({"phase": phase, "completionTimestamp": completed}),
        )
    }

    struct Fixture {
        namespaces: Vec<&'static str>,
        schedules: Vec<Arc<DynamicObject>>,
        backups: Vec<Arc<DynamicObject>>,
        restores: Vec<Arc<DynamicObject>>,
    }

    fn fixture(namespaces: &[&'static str]) -> Fixture {
        Fixture {
            namespaces: namespaces.to_vec(),
            schedules: vec![schedule("daily", json!(["*"]), false)],
            backups: vec![backup(
                "daily-1",
                json!(["*"]),
                "Completed",
                "2026-06-01T01:00:00Z",
            )],
            restores: vec![restore("drill", "Completed", "2026-05-01T00:00:00Z")],
        }
    }

    fn view(f: &Fixture) -> ClusterSnapshot {
        let mut s = ClusterSnapshot {
            namespaces: f.namespaces.iter().map(|n| ns(n)).collect(),
            ..Default::default()
        };
        s.dynamic.insert(schedule_gvk(), f.schedules.clone());
        s.dynamic.insert(backup_gvk(), f.backups.clone());
        s.dynamic.insert(restore_gvk(), f.restores.clone());
        s
    }

    fn run_with(
        view: &ClusterSnapshot,
        params: &BackupsCheck,
        scope: Option<Scope>,
    ) -> CheckReport {
        let scope = ScopeMatcher::new(scope.as_ref(), view).unwrap();
        check(view, &scope, params, now())
    }

    fn run(f: &Fixture, params: &BackupsCheck) -> CheckReport {
        run_with(&view(f), params, None)
    }

    fn restore_tests(period: &str) -> BackupsCheck {
        BackupsCheck {
            restore_test_period: Some(period.into()),
            ..Default::default()
        }
    }

    const FAIL: FindingResult = FindingResult::Fail;

    #[test]
    fn covered_namespace_with_recent_backup_passes() {
        let r = run(&fixture(&["shop", "billing"]), &BackupsCheck::default());
        assert_report(&r, 2, &[]);
    }

    #[test]
    fn namespace_without_schedule_fails_and_covered_twin_passes() {
        let mut f = fixture(&["shop", "billing"]);
        f.schedules = vec![schedule("shop", json!(["shop"]), false)];
        let r = run(&f, &BackupsCheck::default());
        assert_report(&r, 2, &[("Namespace billing", FAIL, "no-backup-schedule")]);
        assert!(message(&r).contains("spec.template.includedNamespaces"));
    }

    #[test]
    fn unset_included_namespaces_cover_everything() {
        let mut f = fixture(&["shop"]);
        f.schedules = vec![object(
            "Schedule",
            "all",
            json!({"schedule": "@daily", "template": {}}),
            json!({}),
        )];
        f.backups = vec![object(
            "Backup",
            "all-1",
            json!({}),
            json!({"phase": "Completed", "completionTimestamp": "2026-06-01T00:00:00Z"}),
        )];
        assert_report(&run(&f, &BackupsCheck::default()), 1, &[]);
    }

    #[test]
    fn paused_schedule_does_not_cover() {
        let mut f = fixture(&["shop"]);
        f.schedules = vec![schedule("daily", json!(["*"]), true)];
        let r = run(&f, &BackupsCheck::default());
        assert_report(&r, 1, &[("Namespace shop", FAIL, "no-backup-schedule")]);
        assert!(message(&r).contains("paused"), "{}", message(&r));
        // An active twin next to the paused one covers.
        f.schedules.push(schedule("weekly", json!(["shop"]), false));
        assert_report(&run(&f, &BackupsCheck::default()), 1, &[]);
    }

    #[test]
    fn excluded_namespaces_of_schedule_and_backup_are_not_covered() {
        let mut f = fixture(&["shop", "scratch"]);
        f.schedules = vec![object(
            "Schedule",
            "daily",
            json!({"template": {"includedNamespaces": ["*"], "excludedNamespaces": ["scratch"]}}),
            json!({}),
        )];
        f.backups = vec![object(
            "Backup",
            "daily-1",
            json!({"includedNamespaces": ["*"], "excludedNamespaces": ["scratch"]}),
            json!({"phase": "Completed", "completionTimestamp": "2026-06-01T00:00:00Z"}),
        )];
        let r = run(&f, &BackupsCheck::default());
        assert_report(
            &r,
            2,
            &[
                ("Namespace scratch", FAIL, "no-backup-schedule"),
                ("Namespace scratch", FAIL, "no-completed-backup"),
            ],
        );
    }

    #[test]
    fn namespace_glob_patterns_cover_what_they_match() {
        let mut f = fixture(&["app-prod", "app-dev", "ns1", "ns10", "nsb", "billing"]);
        let included = json!(["app-*", "ns?", "[a-c]illing"]);
        f.schedules = vec![object(
            "Schedule",
            "globs",
            json!({"template": {"includedNamespaces": included, "excludedNamespaces": ["*-dev", "ns[a-z]"]}}),
            json!({}),
        )];
        f.backups = vec![object(
            "Backup",
            "globs-1",
            json!({"includedNamespaces": included, "excludedNamespaces": ["*-dev", "ns[a-z]"]}),
            json!({"phase": "Completed", "completionTimestamp": "2026-06-01T00:00:00Z"}),
        )];
        let r = run(&f, &BackupsCheck::default());
        // app-dev and nsb are excluded (exclusion wins), ns10 is two characters after "ns".
        assert_report(
            &r,
            6,
            &[
                ("Namespace app-dev", FAIL, "no-backup-schedule"),
                ("Namespace app-dev", FAIL, "no-completed-backup"),
                ("Namespace ns10", FAIL, "no-backup-schedule"),
                ("Namespace ns10", FAIL, "no-completed-backup"),
                ("Namespace nsb", FAIL, "no-backup-schedule"),
                ("Namespace nsb", FAIL, "no-completed-backup"),
            ],
        );
    }

    #[test]
    fn malformed_patterns_match_only_their_own_name() {
        assert!(!namespace_matches("ns[1", "ns1"));
        assert!(namespace_matches("ns[1", "ns[1"));
        assert!(!namespace_matches("shop", "shop-2"));
        assert!(namespace_matches("*", "anything"));
        assert!(!namespace_matches("", "shop"));
    }

    #[test]
    fn check_and_scope_exclusions_skip_namespaces() {
        let mut f = fixture(&["shop", "scratch", "kube-system"]);
        f.schedules = vec![schedule("daily", json!(["shop"]), false)];
        f.backups = vec![backup(
            "daily-1",
            json!(["shop"]),
            "Completed",
            "2026-06-01T00:00:00Z",
        )];
        let params = BackupsCheck {
            exclude_namespaces: Some(vec!["scratch".into()]),
            ..Default::default()
        };
        let scope = Scope {
            exclude_namespaces: Some(vec!["kube-system".into()]),
            ..Default::default()
        };
        assert_report(&run_with(&view(&f), &params, Some(scope)), 1, &[]);
    }

    #[test]
    fn objects_outside_the_velero_namespace_are_ignored() {
        let mut f = fixture(&["shop"]);
        let stray: Arc<DynamicObject> = Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "velero.io/v1", "kind": "Schedule",
                "metadata": {"name": "elsewhere", "namespace": "other"},
                "spec": {"template": {"includedNamespaces": ["*"]}}
            }))
            .unwrap(),
        );
        f.schedules = vec![stray];
        let r = run(&f, &BackupsCheck::default());
        assert_report(&r, 1, &[("Namespace shop", FAIL, "no-backup-schedule")]);
        // The same objects pass when the control names their namespace.
        let params = BackupsCheck {
            velero_namespace: Some("other".into()),
            ..Default::default()
        };
        let mut moved = fixture(&["shop"]);
        moved.schedules = f.schedules.clone();
        moved.backups = vec![];
        let r = run(&moved, &params);
        assert_report(&r, 1, &[("Namespace shop", FAIL, "no-completed-backup")]);
    }

    #[test]
    fn stale_backup_fails_naming_it_and_its_age() {
        let mut f = fixture(&["shop"]);
        f.backups = vec![backup(
            "daily-old",
            json!(["*"]),
            "Completed",
            "2026-05-29T12:00:00Z",
        )];
        let r = run(&f, &BackupsCheck::default());
        assert_report(&r, 1, &[("Namespace shop", FAIL, "backup-too-old")]);
        let m = message(&r);
        assert!(m.contains("velero/daily-old"), "{m}");
        assert!(m.contains("3d 0h ago"), "{m}");
        assert!(m.contains("24h"), "{m}");
    }

    #[test]
    fn rpo_boundary_is_inclusive() {
        let mut f = fixture(&["shop"]);
        f.backups = vec![backup(
            "exact",
            json!(["shop"]),
            "Completed",
            "2026-05-31T12:00:00Z",
        )];
        assert_report(&run(&f, &BackupsCheck::default()), 1, &[]);
        f.backups = vec![backup(
            "one-second-late",
            json!(["shop"]),
            "Completed",
            "2026-05-31T11:59:59Z",
        )];
        let r = run(&f, &BackupsCheck::default());
        assert_report(&r, 1, &[("Namespace shop", FAIL, "backup-too-old")]);
        // A longer declared RPO accepts it.
        let params = BackupsCheck {
            rpo: Some("2d".into()),
            ..Default::default()
        };
        assert_report(&run(&f, &params), 1, &[]);
    }

    #[test]
    fn failed_newest_backup_does_not_count_and_is_named() {
        let mut f = fixture(&["shop"]);
        f.backups = vec![
            backup("old", json!(["*"]), "Completed", "2026-05-20T00:00:00Z"),
            backup(
                "new",
                json!(["*"]),
                "PartiallyFailed",
                "2026-06-01T10:00:00Z",
            ),
        ];
        let r = run(&f, &BackupsCheck::default());
        assert_report(&r, 1, &[("Namespace shop", FAIL, "backup-too-old")]);
        let m = message(&r);
        assert!(m.contains("velero/new, has phase PartiallyFailed"), "{m}");
        // Only a failed backup: no completed one at all.
        f.backups = vec![backup(
            "new",
            json!(["*"]),
            "Failed",
            "2026-06-01T10:00:00Z",
        )];
        let r = run(&f, &BackupsCheck::default());
        assert_report(&r, 1, &[("Namespace shop", FAIL, "no-completed-backup")]);
        assert!(message(&r).contains("phase Failed"), "{}", message(&r));
    }

    #[test]
    fn backup_of_another_namespace_does_not_cover() {
        let mut f = fixture(&["shop"]);
        f.backups = vec![backup(
            "billing-1",
            json!(["billing"]),
            "Completed",
            "2026-06-01T10:00:00Z",
        )];
        let r = run(&f, &BackupsCheck::default());
        assert_report(&r, 1, &[("Namespace shop", FAIL, "no-completed-backup")]);
    }

    #[test]
    fn malformed_velero_objects_never_count_and_never_panic() {
        let mut f = fixture(&["shop"]);
        f.schedules = vec![object(
            "Schedule",
            "odd",
            json!({"template": {"includedNamespaces": "shop"}, "paused": "yes"}),
            json!(null),
        )];
        f.backups = vec![
            object("Backup", "no-status", json!({}), json!(null)),
            backup("bad-time", json!(["*"]), "Completed", "yesterday"),
            object("Backup", "odd-phase", json!(["x"]), json!({"phase": 3})),
        ];
        let r = run(&f, &BackupsCheck::default());
        // A non-array includedNamespaces reads as unset (all namespaces), as Velero would not accept it anyway;
        // a non-boolean `paused` is not paused.
        assert_report(&r, 1, &[("Namespace shop", FAIL, "no-completed-backup")]);
        assert!(
            message(&r)
                .contains("1 Completed backup(s) without a readable status.completionTimestamp"),
            "{}",
            message(&r)
        );
    }

    #[test]
    fn absent_velero_crds_are_unknown() {
        let mut v = view(&fixture(&["shop"]));
        v.dynamic.remove(&schedule_gvk());
        v.dynamic_unavailable.insert(
            schedule_gvk(),
            "the server could not find the requested resource".into(),
        );
        let r = run_with(&v, &BackupsCheck::default(), None);
        assert_report(
            &r,
            1,
            &[("Schedule (all)", FindingResult::Unknown, "data-unavailable")],
        );
        assert!(message(&r).contains("could not find the requested resource"));
        // Restores are only read when restore tests are judged.
        let mut v = view(&fixture(&["shop"]));
        v.dynamic_unavailable
            .insert(restore_gvk(), "not installed".into());
        assert_report(&run_with(&v, &BackupsCheck::default(), None), 1, &[]);
        let r = run_with(&v, &restore_tests("90d"), None);
        assert_report(
            &r,
            1,
            &[("Restore (all)", FindingResult::Unknown, "data-unavailable")],
        );
    }

    #[test]
    fn namespaces_unreadable_is_unknown() {
        let mut v = view(&fixture(&["shop"]));
        v.unavailable
            .insert(ResourceKind::Namespace, "forbidden".into());
        let r = run_with(&v, &BackupsCheck::default(), None);
        assert_report(
            &r,
            1,
            &[(
                "Namespace (all)",
                FindingResult::Unknown,
                "data-unavailable",
            )],
        );
    }

    #[test]
    fn recent_completed_restore_passes() {
        let r = run(&fixture(&["shop"]), &restore_tests("90d"));
        assert_report(&r, 2, &[]);
    }

    #[test]
    fn old_restore_fails_naming_it() {
        let mut f = fixture(&["shop"]);
        f.restores = vec![
            restore("drill-2025", "Completed", "2025-12-01T00:00:00Z"),
            restore("drill-failed", "Failed", "2026-05-30T00:00:00Z"),
        ];
        let r = run(&f, &restore_tests("90d"));
        assert_report(
            &r,
            2,
            &[("Restore (restore tests)", FAIL, "restore-test-too-old")],
        );
        assert!(message(&r).contains("velero/drill-2025"), "{}", message(&r));
        assert_report(&run(&f, &restore_tests("365d")), 2, &[]);
    }

    #[test]
    fn restore_only_control_judges_no_namespace() {
        let mut f = fixture(&["shop"]);
        f.schedules.clear();
        f.backups.clear();
        let params = BackupsCheck {
            backup_coverage: Some(false),
            ..restore_tests("90d")
        };
        assert_report(&run(&f, &params), 1, &[]);
        let mut v = view(&f);
        v.dynamic_unavailable
            .insert(schedule_gvk(), "not installed".into());
        assert_report(&run_with(&v, &params, None), 1, &[]);
    }

    #[test]
    fn ages_read_as_days_hours_minutes() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(age(now(), t("2026-06-01T11:59:30Z")), "0m");
        assert_eq!(age(now(), t("2026-06-01T09:15:00Z")), "2h 45m");
        assert_eq!(age(now(), t("2026-05-20T10:00:00Z")), "12d 2h");
    }

    #[test]
    fn missing_restore_fails() {
        let mut f = fixture(&["shop"]);
        f.restores = vec![
            restore("drill-failed", "PartiallyFailed", "2026-05-30T00:00:00Z"),
            object("Restore", "no-status", json!({}), json!(null)),
        ];
        let r = run(&f, &restore_tests("90d"));
        assert_report(
            &r,
            2,
            &[("Restore (restore tests)", FAIL, "restore-test-missing")],
        );
    }
}
