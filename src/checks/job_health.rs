//! Job health (PI1.4, PI1.5): scheduled processing ran, on time and successfully. A CronJob whose last run failed
//! or whose run did not start in time, and a Job that failed, mean output was not delivered completely or timely.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use croner::Cron;
use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::{Admissibility, Check, CheckReport, Finding};
use crate::api::{CheckKind, JobHealthCheck, WorkloadKind};
use crate::engine::validation::SpecError;
use crate::view::stored::{CronJob, Job};
use crate::view::workloads::resource_kind;
use crate::view::{AnyObject, ClusterSnapshot, Reads, ResourceKind, ResourceRef, ScopeMatcher};

/// Grace before a scheduled run counts as missed when the control sets none.
const DEFAULT_GRACE_SECONDS: i64 = 3600;

/// The job health check (`spec.check.jobHealth`).
pub struct JobHealth;

impl Check for JobHealth {
    const KIND: CheckKind = CheckKind::JobHealth;
    type Params = JobHealthCheck;

    fn params(check: &crate::api::Check) -> Option<&JobHealthCheck> {
        check.job_health.as_ref()
    }

    fn validate(params: &JobHealthCheck) -> Result<(), SpecError> {
        if let Some(grace) = &params.missed_schedule_grace {
            humantime::parse_duration(grace).map_err(|e| SpecError::InvalidDuration {
                field: "spec.check.jobHealth.missedScheduleGrace",
                value: grace.clone(),
                reason: e.to_string(),
            })?;
        }
        if let Some(kind) = params
            .effective_kinds()
            .into_iter()
            .find(|k| !matches!(k, WorkloadKind::CronJob | WorkloadKind::Job))
        {
            return Err(SpecError::InvalidParameter {
                field: "spec.check.jobHealth.kinds".into(),
                reason: format!("{kind:?} does not run to completion; list CronJob and/or Job"),
            });
        }
        Ok(())
    }

    fn reads(params: &JobHealthCheck) -> Reads {
        Reads::kinds(&Self::subject_kinds(params))
    }

    /// Jobs, and CronJobs when listed: a CronJob's last run is read from the Jobs it owns.
    fn subject_kinds(params: &JobHealthCheck) -> Vec<ResourceKind> {
        let mut kinds = vec![ResourceKind::Job];
        if params.effective_kinds().contains(&WorkloadKind::CronJob) {
            kinds.push(ResourceKind::CronJob);
        }
        kinds
    }

    fn namespace_local_context(_: &JobHealthCheck) -> Vec<ResourceKind> {
        vec![ResourceKind::Namespace]
    }

    fn related(view: &ClusterSnapshot, changed: &[AnyObject]) -> Vec<AnyObject> {
        related(view, changed)
    }

    fn admissibility(_: &JobHealthCheck) -> Admissibility {
        Admissibility::AuditOnly(
            "the jobHealth check judges how jobs ran over time, which admission cannot see",
        )
    }

    fn judge(
        view: &ClusterSnapshot,
        scope: &ScopeMatcher,
        params: &JobHealthCheck,
        now: Timestamp,
    ) -> CheckReport {
        check(view, scope, params, now)
    }
}

/// Runs the check at `now`.
pub fn check(
    view: &ClusterSnapshot,
    scope: &ScopeMatcher,
    params: &JobHealthCheck,
    now: Timestamp,
) -> CheckReport {
    let mut report = CheckReport::default();
    let grace = params
        .missed_schedule_grace
        .as_deref()
        .and_then(|g| humantime::parse_duration(g).ok())
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(DEFAULT_GRACE_SECONDS);
    let kinds = params.effective_kinds();
    for kind in &kinds {
        let aspect = ResourceRef::aspect("batch/v1", &format!("{kind:?}"), "(all)");
        if report.unknown_if_missing(view, resource_kind(*kind), aspect) {
            return report;
        }
    }
    if kinds.contains(&WorkloadKind::CronJob) {
        // Without Jobs the last run's outcome is unknown; the schedule can still be judged.
        let last_runs = view
            .require(crate::view::ResourceKind::Job)
            .is_ok()
            .then(|| last_finished_runs(&view.jobs));
        let mut schedules = Schedules::default();
        for cron_job in &view.cron_jobs {
            if !scope.matches(&cron_job.metadata) {
                continue;
            }
            report.evaluated += 1;
            judge_cron_job(
                cron_job,
                last_runs.as_ref(),
                &mut schedules,
                grace,
                now,
                &mut report,
            );
        }
    }
    if kinds.contains(&WorkloadKind::Job) {
        for job in &view.jobs {
            if owner_cron_job(job).is_some() || !scope.matches(&job.metadata) {
                continue;
            }
            report.evaluated += 1;
            if let Some(why) = failed(job) {
                report.findings.push(Finding::fail(
                    ResourceRef::of(job.as_ref()),
                    "job-failed",
                    format!(
                        "Job failed ({why}): its processing did not complete. Investigate and re-run it, then delete \
                         the failed Job, or record a ControlException if the failure was handled another way."
                    ),
                ));
            }
        }
    }
    report
}

/// The objects whose findings may change with `changed` (CronJobs and Jobs): a CronJob is judged with the Jobs it
/// owns, so the owner of a changed Job and the Jobs of a changed CronJob (or of a changed Job's owner) are re-judged
/// with them. Looked up in `view`.
pub fn related(view: &ClusterSnapshot, changed: &[AnyObject]) -> Vec<AnyObject> {
    let mut owners: HashSet<(Option<&str>, &str)> = HashSet::new();
    for object in changed {
        match object {
            AnyObject::CronJob(c) => {
                if let Some(name) = c.metadata.name.as_deref() {
                    owners.insert((c.metadata.namespace.as_deref(), name));
                }
            }
            AnyObject::Job(j) => {
                if let Some(owner) = owner_cron_job(j) {
                    owners.insert((j.metadata.namespace.as_deref(), owner));
                }
            }
            _ => {}
        }
    }
    if owners.is_empty() {
        return Vec::new();
    }
    let cron_jobs = view
        .cron_jobs
        .iter()
        .filter(|c| {
            c.metadata
                .name
                .as_deref()
                .is_some_and(|n| owners.contains(&(c.metadata.namespace.as_deref(), n)))
        })
        .cloned()
        .map(AnyObject::CronJob);
    let jobs = view
        .jobs
        .iter()
        .filter(|j| {
            owner_cron_job(j)
                .is_some_and(|o| owners.contains(&(j.metadata.namespace.as_deref(), o)))
        })
        .cloned()
        .map(AnyObject::Job);
    cron_jobs.chain(jobs).collect()
}

fn owner_cron_job(job: &Job) -> Option<&str> {
    job.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.kind == "CronJob" && o.controller == Some(true))
        .map(|o| o.name.as_str())
}

/// `Some(reason: message)` when the Job's `Failed` condition is true.
fn failed(job: &Job) -> Option<String> {
    job.status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Failed" && c.status == "True")
        .map(|c| {
            let reason = c.reason.as_deref().unwrap_or("Failed");
            match c.message.as_deref() {
                Some(m) if !m.is_empty() => format!("{reason}: {m}"),
                _ => reason.to_string(),
            }
        })
}

/// The last finished Job of each CronJob, by (namespace, CronJob name): indexed once per evaluation so the cost
/// follows Jobs + CronJobs, not their product. Among runs created at the same time the later listed wins.
fn last_finished_runs(jobs: &[std::sync::Arc<Job>]) -> HashMap<(Option<&str>, &str), &Job> {
    let mut last: HashMap<(Option<&str>, &str), &Job> = HashMap::new();
    for job in jobs {
        let Some(owner) = owner_cron_job(job) else {
            continue;
        };
        if !finished(job) {
            continue;
        }
        let created = |j: &Job| j.metadata.creation_timestamp.as_ref().map(|t| t.0);
        last.entry((job.metadata.namespace.as_deref(), owner))
            .and_modify(|held| {
                if created(job) >= created(held) {
                    *held = job;
                }
            })
            .or_insert(job);
    }
    last
}

/// Parsed schedules by their text: many CronJobs share a schedule, and parsing is the costly part of judging one.
#[derive(Default)]
struct Schedules(HashMap<String, Result<Cron, String>>);

impl Schedules {
    fn parse(&mut self, schedule: &str) -> &Result<Cron, String> {
        let schedule = schedule.trim();
        if !self.0.contains_key(schedule) {
            let parsed = Cron::from_str(schedule).map_err(|e| e.to_string());
            self.0.insert(schedule.to_string(), parsed);
        }
        &self.0[schedule]
    }
}

fn finished(job: &Job) -> bool {
    job.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .flatten()
            .any(|c| (c.type_ == "Failed" || c.type_ == "Complete") && c.status == "True")
    })
}

fn judge_cron_job(
    cron_job: &CronJob,
    last_runs: Option<&HashMap<(Option<&str>, &str), &Job>>,
    schedules: &mut Schedules,
    grace: i64,
    now: Timestamp,
    report: &mut CheckReport,
) {
    let resource = ResourceRef::of(cron_job);
    let Some(spec) = cron_job.spec.as_ref() else {
        report.findings.push(Finding::unknown(
            resource,
            "cronjob-malformed",
            "The CronJob has no spec, so its schedule cannot be judged.",
        ));
        return;
    };
    if spec.suspend == Some(true) {
        report.findings.push(Finding::notice(
            resource,
            "cronjob-suspended",
            "The CronJob is suspended: no runs are scheduled. Confirm that the processing it performs is \
             intentionally paused.",
        ));
        return;
    }
    if let Some(last_runs) = last_runs {
        let name = cron_job.metadata.name.as_deref().unwrap_or_default();
        let last = last_runs.get(&(cron_job.metadata.namespace.as_deref(), name));
        if let Some(job) = last
            && let Some(why) = failed(job)
        {
            report.findings.push(Finding::fail(
                resource.clone(),
                "last-run-failed",
                format!(
                    "The last finished run, Job {}, failed ({why}). Investigate and fix the job; the control \
                     passes again once a run completes.",
                    job.metadata.name.as_deref().unwrap_or_default()
                ),
            ));
        }
    }
    judge_schedule(cron_job, spec, schedules, grace, now, resource, report);
}

fn judge_schedule(
    cron_job: &CronJob,
    spec: &crate::view::stored::CronJobSpec,
    schedules: &mut Schedules,
    grace: i64,
    now: Timestamp,
    resource: ResourceRef,
    report: &mut CheckReport,
) {
    let zone = match spec.time_zone.as_deref() {
        None | Some("") => TimeZone::UTC,
        Some(name) => match TimeZone::get(name) {
            Ok(tz) => tz,
            Err(e) => {
                report.findings.push(Finding::unknown(
                    resource,
                    "schedule-unreadable",
                    format!("spec.timeZone {name:?} is not a known IANA time zone ({e}), so missed runs cannot be judged."),
                ));
                return;
            }
        },
    };
    let cron = match schedules.parse(&spec.schedule) {
        Ok(c) => c,
        Err(e) => {
            report.findings.push(Finding::unknown(
                resource,
                "schedule-unreadable",
                format!(
                    "spec.schedule {:?} cannot be parsed ({e}), so missed runs cannot be judged.",
                    spec.schedule
                ),
            ));
            return;
        }
    };
    let status = cron_job.status.as_ref();
    // The last run the controller scheduled; a CronJob that never ran is judged from its creation.
    let Some(reference) = status
        .and_then(|s| s.last_schedule_time.as_ref())
        .or(cron_job.metadata.creation_timestamp.as_ref())
        .map(|t| t.0)
    else {
        return;
    };
    let deadline = spec.starting_deadline_seconds.unwrap_or(0).max(grace);
    let Ok(next) = cron.find_next_occurrence(&reference.to_zoned(zone), false) else {
        return; // a pattern with no future occurrence (e.g. 30 February) never becomes due
    };
    let due = next.timestamp();
    let Ok(late_after) = due.checked_add(jiff::SignedDuration::from_secs(deadline)) else {
        return;
    };
    if now <= late_after {
        // On time now; late once `late_after` has passed.
        report.holds_until(late_after);
    } else {
        let last = status
            .and_then(|s| s.last_schedule_time.as_ref())
            .map(|t| format!("last scheduled {}", t.0))
            .unwrap_or_else(|| "never scheduled".to_string());
        report.findings.push(Finding::fail(
            resource,
            "missed-schedule",
            format!(
                "The run due at {due} (schedule {:?}) did not start within {deadline}s ({last}). Check the \
                 CronJob controller, concurrencyPolicy and startingDeadlineSeconds, and whether the processing \
                 it performs was delivered.",
                spec.schedule
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use k8s_openapi::api::batch::v1::{CronJobStatus, JobCondition, JobStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};

    use super::*;
    use crate::api::FindingResult::*;
    use crate::checks::test_support::*;
    use crate::view::ResourceKind;
    use crate::view::stored::{CronJobSpec, JobTemplateSpec};

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn now() -> Timestamp {
        ts("2026-06-01T12:00:00Z")
    }

    fn cron_job(name: &str, schedule: &str, last: Option<&str>) -> CronJob {
        CronJob {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("batch".into()),
                creation_timestamp: Some(Time(ts("2026-01-01T00:00:00Z"))),
                ..Default::default()
            },
            spec: Some(CronJobSpec {
                schedule: schedule.into(),
                job_template: JobTemplateSpec::default(),
                ..Default::default()
            }),
            status: Some(CronJobStatus {
                last_schedule_time: last.map(|l| Time(ts(l))),
                ..Default::default()
            }),
        }
    }

    fn job(name: &str, owner: Option<&str>, created: &str, condition: Option<&str>) -> Arc<Job> {
        Arc::new(Job {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("batch".into()),
                creation_timestamp: Some(Time(ts(created))),
                owner_references: owner.map(|o| {
                    vec![OwnerReference {
                        kind: "CronJob".into(),
                        name: o.into(),
                        controller: Some(true),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            },
            status: condition.map(|c| JobStatus {
                conditions: Some(vec![JobCondition {
                    type_: c.into(),
                    status: "True".into(),
                    reason: Some(
                        if c == "Failed" {
                            "BackoffLimitExceeded"
                        } else {
                            "Completed"
                        }
                        .into(),
                    ),
                    message: Some(
                        if c == "Failed" {
                            "Job has reached the specified backoff limit"
                        } else {
                            ""
                        }
                        .into(),
                    ),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    fn run(view: &ClusterSnapshot, params: &JobHealthCheck) -> CheckReport {
        check(
            view,
            &ScopeMatcher::new(None, view).expect("scope"),
            params,
            now(),
        )
    }

    #[test]
    fn a_cron_job_on_schedule_whose_last_run_completed_passes() {
        let view = ClusterSnapshot {
            cron_jobs: vec![Arc::new(cron_job(
                "report",
                "0 * * * *",
                Some("2026-06-01T12:00:00Z"),
            ))],
            jobs: vec![
                job(
                    "report-1",
                    Some("report"),
                    "2026-06-01T11:00:00Z",
                    Some("Failed"),
                ),
                job(
                    "report-2",
                    Some("report"),
                    "2026-06-01T12:00:00Z",
                    Some("Complete"),
                ),
            ],
            ..Default::default()
        };
        assert_report(&run(&view, &Default::default()), 1, &[]);
    }

    #[test]
    fn the_last_finished_run_failing_fails_even_while_a_new_run_is_active() {
        let view = ClusterSnapshot {
            cron_jobs: vec![Arc::new(cron_job(
                "report",
                "0 * * * *",
                Some("2026-06-01T12:00:00Z"),
            ))],
            jobs: vec![
                job(
                    "report-1",
                    Some("report"),
                    "2026-06-01T10:00:00Z",
                    Some("Complete"),
                ),
                job(
                    "report-2",
                    Some("report"),
                    "2026-06-01T11:00:00Z",
                    Some("Failed"),
                ),
                job("report-3", Some("report"), "2026-06-01T12:00:00Z", None),
                // Another CronJob's Job, and one in another namespace with the same owner name, do not count.
                job(
                    "other-1",
                    Some("other"),
                    "2026-06-01T11:30:00Z",
                    Some("Complete"),
                ),
            ],
            ..Default::default()
        };
        let report = run(&view, &Default::default());
        assert_report(
            &report,
            1,
            &[("CronJob batch/report", Fail, "last-run-failed")],
        );
        assert!(
            message(&report).contains("report-2")
                && message(&report).contains("BackoffLimitExceeded")
        );
    }

    #[test]
    fn a_run_that_did_not_start_within_the_grace_is_missed() {
        // Hourly; last scheduled 09:00, so 10:00 was due and 12:00 is past 10:00 + 1h grace.
        let missed = cron_job("hourly", "0 * * * *", Some("2026-06-01T09:00:00Z"));
        // Last scheduled 11:00: 12:00 is due but within the grace.
        let within = cron_job("hourly-ok", "0 * * * *", Some("2026-06-01T11:00:00Z"));
        // Due 11:00, late after exactly 12:00 with the default grace: not yet missed at 12:00.
        let boundary = cron_job("boundary", "0 * * * *", Some("2026-06-01T10:30:00Z"));
        let view = ClusterSnapshot {
            cron_jobs: vec![Arc::new(missed), Arc::new(within), Arc::new(boundary)],
            ..Default::default()
        };
        let report = run(&view, &Default::default());
        assert_report(
            &report,
            3,
            &[("CronJob batch/hourly", Fail, "missed-schedule")],
        );
        assert!(message(&report).contains("2026-06-01T10:00:00Z"));
        let strict = JobHealthCheck {
            missed_schedule_grace: Some("30s".into()),
            ..Default::default()
        };
        assert_eq!(run(&view, &strict).findings.len(), 2);
    }

    #[test]
    fn a_cron_job_that_never_ran_is_judged_from_its_creation() {
        let never = cron_job("daily", "@daily", None);
        let view = ClusterSnapshot {
            cron_jobs: vec![Arc::new(never)],
            ..Default::default()
        };
        assert_report(
            &run(&view, &Default::default()),
            1,
            &[("CronJob batch/daily", Fail, "missed-schedule")],
        );
    }

    #[test]
    fn the_time_zone_shifts_when_a_run_is_due() {
        // 13:30 daily in Berlin (UTC+2 in June) is 11:30 UTC; last scheduled the day before: due 11:30, late
        // after 12:30 UTC, so at 12:00 UTC it is not yet missed. In UTC it would be due 13:30: not missed either;
        // at 12:45 UTC Berlin is missed and UTC is not.
        let mut cj = cron_job("berlin", "30 13 * * *", Some("2026-05-31T11:30:00Z"));
        cj.spec.as_mut().expect("spec").time_zone = Some("Europe/Berlin".into());
        let view = ClusterSnapshot {
            cron_jobs: vec![Arc::new(cj.clone())],
            ..Default::default()
        };
        let at = |t: &str| {
            check(
                &view,
                &ScopeMatcher::new(None, &view).expect("scope"),
                &Default::default(),
                ts(t),
            )
        };
        assert!(at("2026-06-01T12:00:00Z").findings.is_empty());
        assert_eq!(at("2026-06-01T12:45:00Z").findings.len(), 1);
        cj.spec.as_mut().expect("spec").time_zone = Some("Mars/Olympus".into());
        let bad = ClusterSnapshot {
            cron_jobs: vec![Arc::new(cj)],
            ..Default::default()
        };
        assert_report(
            &run(&bad, &Default::default()),
            1,
            &[("CronJob batch/berlin", Unknown, "schedule-unreadable")],
        );
    }

    #[test]
    fn starting_deadline_longer_than_the_grace_wins() {
        let mut cj = cron_job("hourly", "0 * * * *", Some("2026-06-01T09:00:00Z"));
        cj.spec.as_mut().expect("spec").starting_deadline_seconds = Some(4 * 3600);
        let view = ClusterSnapshot {
            cron_jobs: vec![Arc::new(cj)],
            ..Default::default()
        };
        assert_report(&run(&view, &Default::default()), 1, &[]);
    }

    #[test]
    fn suspended_cron_jobs_are_noticed_and_bad_schedules_are_unknown() {
        let mut suspended = cron_job("paused", "0 * * * *", Some("2026-01-01T00:00:00Z"));
        suspended.spec.as_mut().expect("spec").suspend = Some(true);
        let garbage = cron_job("garbage", "every full moon", None);
        let no_spec = CronJob {
            metadata: ObjectMeta {
                name: Some("nospec".into()),
                namespace: Some("batch".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let view = ClusterSnapshot {
            cron_jobs: vec![Arc::new(suspended), Arc::new(garbage), Arc::new(no_spec)],
            ..Default::default()
        };
        assert_report(
            &run(&view, &Default::default()),
            3,
            &[
                ("CronJob batch/garbage", Unknown, "schedule-unreadable"),
                ("CronJob batch/nospec", Unknown, "cronjob-malformed"),
                ("CronJob batch/paused", Notice, "cronjob-suspended"),
            ],
        );
    }

    #[test]
    fn standalone_jobs_fail_when_failed_and_cron_owned_jobs_are_judged_through_their_cron_job() {
        let view = ClusterSnapshot {
            jobs: vec![
                job("migrate", None, "2026-06-01T10:00:00Z", Some("Failed")),
                job("backfill", None, "2026-06-01T10:00:00Z", Some("Complete")),
                job("running", None, "2026-06-01T10:00:00Z", None),
                job(
                    "report-1",
                    Some("report"),
                    "2026-06-01T10:00:00Z",
                    Some("Failed"),
                ),
            ],
            ..Default::default()
        };
        let params = JobHealthCheck {
            kinds: Some(vec![WorkloadKind::Job]),
            ..Default::default()
        };
        let report = run(&view, &params);
        assert_report(&report, 3, &[("Job batch/migrate", Fail, "job-failed")]);
        assert!(message(&report).contains("backoff limit"));
    }

    #[test]
    fn unreadable_kinds_are_unknown() {
        let mut view = ClusterSnapshot::default();
        view.unavailable
            .insert(ResourceKind::CronJob, "forbidden".into());
        assert_report(
            &run(&view, &Default::default()),
            1,
            &[("CronJob (all)", Unknown, "data-unavailable")],
        );
    }
}
