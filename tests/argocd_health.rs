//! The Argo CD health check for `soc2.dev/Control` (`config/argocd/health-control.lua`), run under a real Lua 5.1
//! interpreter against Controls built from the crate's own types and status builders, and the argocd-cm snippet
//! (`config/argocd/argocd-cm-patch.yaml`) that inlines it.
//!
//! Needs `lua5.1` and `lua-cjson` (`apt-get install -y lua5.1 lua-cjson`). Without them these tests fail; they never
//! skip, because a health script nobody ran is exactly what this file exists to prevent.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use k8s_openapi::api::rbac::v1::RoleBinding;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};
use soc2_operator::api::{Control, ControlSpec, ControlStatus, Criterion, Mode, Summary};
use soc2_operator::checks::Finding;
use soc2_operator::controller::status::{AdmissionStatus, COMPLIANT, evaluated, invalid};
use soc2_operator::evaluate::{Compliance, Evaluation};
use soc2_operator::validation::SpecError;
use soc2_operator::view::ResourceRef;

const INSTALL_HINT: &str = "apt-get install -y lua5.1 lua-cjson";
const CM_KEY: &str = "resource.customizations.health.soc2.dev_Control";
const UPDATE_ENV: &str = "SOC2_UPDATE_ARGOCD_CM";

/// Runs the health script (path in `HEALTH_SCRIPT`) the way Argo CD does: `obj` is a global holding the object (JSON
/// null becomes nil, as in Argo CD's conversion), the chunk's return value is the health, and only the base, table and
/// a reduced os library exist. Argo CD does not open the string or math library for scripts from argocd-cm, so they
/// are absent here too and strings have no methods. Prints `status<TAB>message`; exits 2 on a Lua error.
const DRIVER: &str = r#"
local ok_cjson, cjson = pcall(require, "cjson")
if not ok_cjson then
  io.stderr:write("lua-cjson is not installed: apt-get install -y lua5.1 lua-cjson\n")
  os.exit(3)
end
local function strip_nulls(v)
  if v == cjson.null then
    return nil
  end
  if type(v) == "table" then
    for k, x in pairs(v) do
      v[k] = strip_nulls(x)
    end
  end
  return v
end
local obj = strip_nulls(cjson.decode(io.read("*a")))
local env = {
  obj = obj,
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, pcall = pcall, print = print,
  select = select, tonumber = tonumber, tostring = tostring, type = type, unpack = unpack, xpcall = xpcall,
  rawequal = rawequal, rawget = rawget, rawset = rawset, getmetatable = getmetatable, setmetatable = setmetatable,
  _VERSION = _VERSION,
  table = table,
  os = { clock = os.clock, date = os.date, difftime = os.difftime, time = os.time },
}
env._G = env
local chunk, load_error = loadfile(os.getenv("HEALTH_SCRIPT"))
if not chunk then
  io.stderr:write("cannot load the health script: " .. tostring(load_error) .. "\n")
  os.exit(2)
end
setfenv(chunk, env)
local string_mt = debug.getmetatable("")
debug.setmetatable("", nil)
local ran, hs = pcall(chunk)
debug.setmetatable("", string_mt)
if not ran then
  io.stderr:write("lua error: " .. tostring(hs) .. "\n")
  os.exit(2)
end
if type(hs) ~= "table" or type(hs.status) ~= "string" or type(hs.message) ~= "string" then
  io.stderr:write("the health script must return a table with a string status and a string message\n")
  os.exit(2)
end
io.write(hs.status, "\t", hs.message, "\n")
"#;

/// The statuses Argo CD accepts from a health script.
const ARGO_STATUSES: &[&str] = &[
    "Healthy",
    "Progressing",
    "Degraded",
    "Suspended",
    "Missing",
    "Unknown",
];

/// What the script's own safety net answers when it would otherwise have raised an error.
const SAFETY_NET: &str = "health check failed";

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn script_path() -> PathBuf {
    repo_path("config/argocd/health-control.lua")
}

#[derive(Debug)]
struct Health {
    status: String,
    message: String,
}

/// Runs `script` on `input` (JSON) under lua5.1; `Err` carries the driver's stderr on a Lua error.
fn run_script(script: &Path, input: &str) -> Result<Health, String> {
    let mut child = match Command::new("lua5.1")
        .arg("-e")
        .arg(DRIVER)
        .env("HEALTH_SCRIPT", script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "lua5.1 is not installed; the Argo CD health check must be tested under a real Lua 5.1 interpreter: {INSTALL_HINT}"
        ),
        Err(e) => panic!("cannot start lua5.1 ({e}); {INSTALL_HINT}"),
    };
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input.as_bytes())
        .expect("write the object to lua5.1");
    let output = child.wait_with_output().expect("lua5.1 runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    match output.status.code() {
        Some(0) => {}
        Some(3) => panic!("{stderr}"),
        _ => return Err(stderr),
    }
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    let line = stdout.strip_suffix('\n').unwrap_or(&stdout);
    let (status, message) = line
        .split_once('\t')
        .unwrap_or_else(|| panic!("driver output is not status<TAB>message: {stdout:?}"));
    Ok(Health {
        status: status.to_string(),
        message: message.to_string(),
    })
}

/// The health of `obj`; panics on a Lua error or an invalid or fallback answer.
fn health_of(obj: &Value) -> Health {
    let input = serde_json::to_string(obj).unwrap();
    let h = run_script(&script_path(), &input)
        .unwrap_or_else(|e| panic!("the health script raised an error on {input}:\n{e}"));
    assert!(
        ARGO_STATUSES.contains(&h.status.as_str()),
        "{:?} is not an Argo CD health status (input {input})",
        h.status
    );
    assert!(
        !h.message.contains(SAFETY_NET),
        "the script only survived through its safety net on {input}: {}",
        h.message
    );
    h
}

fn health(control: &Control) -> Health {
    health_of(&serde_json::to_value(control).expect("a Control serializes"))
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn now() -> Timestamp {
    at("2026-03-01T12:00:00Z")
}

const MFA: &[&str] = &["CC6.1", "CC6.3"];

/// A Control as a user writes it (the spec goes through serde, so optional fields added later need no change here).
fn control(criteria: &[&str], generation: i64, status: Option<ControlStatus>) -> Control {
    let spec: ControlSpec = serde_json::from_value(json!({
        "criteria": criteria,
        "category": "Security",
        "title": "Privileged access requires MFA",
        "check": {"mfaAccess": {}},
    }))
    .expect("a valid ControlSpec");
    let mut c = Control::new("mfa-backed-privileged-access", spec);
    c.metadata.generation = Some(generation);
    c.status = status;
    c
}

fn summary(evaluated: u32, failed: u32, unknown: u32) -> Summary {
    Summary {
        evaluated,
        passed: evaluated - failed - unknown,
        failed,
        excepted: 0,
        unknown,
    }
}

fn evaluation(
    criteria: &[&str],
    compliance: Compliance,
    summary: Summary,
    findings: Vec<Finding>,
) -> Evaluation {
    Evaluation {
        control: "mfa-backed-privileged-access".into(),
        criteria: criteria.iter().map(|c| Criterion(c.to_string())).collect(),
        check: "mfaAccess",
        compliance,
        summary,
        findings,
        digest: "0".repeat(64),
    }
}

fn binding(name: &str) -> ResourceRef {
    ResourceRef::of(&ClusterRoleBinding {
        metadata: ObjectMeta {
            name: Some(name.into()),
            uid: Some(format!("uid-{name}")),
            ..Default::default()
        },
        ..Default::default()
    })
}

fn role_binding(namespace: &str, name: &str) -> ResourceRef {
    ResourceRef::of(&RoleBinding {
        metadata: ObjectMeta {
            namespace: Some(namespace.into()),
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    })
}

const FIRST_FAILURE: &str = "ClusterRoleBinding dev-admins binds cluster-admin to User alice@example.com; bind a group that enforces MFA instead";

/// Three of twelve bindings fail; the operator's own status builder writes the status.
fn failing_status(generation: i64) -> ControlStatus {
    let findings = vec![
        Finding::fail(
            binding("dev-admins"),
            "privileged-binding-to-user",
            FIRST_FAILURE,
        ),
        Finding::fail(
            binding("ops"),
            "privileged-binding-to-undeclared-group",
            "ClusterRoleBinding ops binds admin to group ops, which is not declared MFA-enforced",
        ),
        Finding::fail(
            role_binding("payments", "ci"),
            "privileged-binding-to-foreign-service-account",
            "RoleBinding payments/ci binds edit to ServiceAccount ci/deployer outside automationNamespaces",
        ),
        Finding::notice(
            binding("break-glass"),
            "break-glass",
            "break-glass access for emergency@example.com",
        ),
    ];
    evaluated(
        None,
        &evaluation(MFA, Compliance::NonCompliant, summary(12, 3, 0), findings),
        Mode::Audit,
        &audit_only(),
        Some(generation),
        now(),
    )
}

/// What a check that cannot decide per object reports for admission.
fn audit_only() -> AdmissionStatus {
    AdmissionStatus::AuditOnly("the check needs the whole cluster".into())
}

fn compliant_status(generation: i64, mode: Mode, evaluated_count: u32) -> ControlStatus {
    evaluated(
        None,
        &evaluation(
            MFA,
            Compliance::Compliant,
            summary(evaluated_count, 0, 0),
            vec![],
        ),
        mode,
        &audit_only(),
        Some(generation),
        now(),
    )
}

fn condition_message(status: &ControlStatus, type_: &str) -> String {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("the status has a {type_} condition"))
        .message
        .clone()
}

#[test]
fn no_status_is_progressing() {
    let h = health(&control(MFA, 1, None));
    assert_eq!(h.status, "Progressing");
    assert_eq!(h.message, "waiting for the first evaluation");
}

#[test]
fn an_older_generation_is_progressing() {
    // The spec changed (generation 2) and the operator has not evaluated it yet: the status still says "compliant".
    let h = health(&control(MFA, 2, Some(compliant_status(1, Mode::Audit, 12))));
    assert_eq!(h.status, "Progressing");
    assert_eq!(h.message, "evaluating generation 2");
}

#[test]
fn a_status_without_ready_is_progressing() {
    let status = ControlStatus {
        observed_generation: Some(1),
        ..Default::default()
    };
    let h = health(&control(MFA, 1, Some(status)));
    assert_eq!(h.status, "Progressing", "{h:?}");
}

#[test]
fn an_invalid_spec_is_degraded_with_the_spec_error() {
    let status = invalid(
        None,
        &SpecError::NoCheck,
        Mode::Audit,
        &audit_only(),
        Some(3),
        now(),
    );
    let h = health(&control(MFA, 3, Some(status)));
    assert_eq!(h.status, "Degraded");
    assert_eq!(h.message, SpecError::NoCheck.to_string());
    assert!(h.message.starts_with("spec.check:"), "{}", h.message);
}

#[test]
fn compliant_is_healthy_with_the_condition_message() {
    let status = compliant_status(4, Mode::Audit, 12);
    let expected = condition_message(&status, COMPLIANT);
    let h = health(&control(MFA, 4, Some(status)));
    assert_eq!(h.status, "Healthy");
    assert_eq!(h.message, expected);
    assert!(h.message.contains("12"), "{}", h.message);
}

#[test]
fn nothing_in_scope_is_healthy() {
    let status = compliant_status(1, Mode::Audit, 0);
    let h = health(&control(MFA, 1, Some(status)));
    assert_eq!(h.status, "Healthy");
    assert!(h.message.contains("no resources in scope"), "{}", h.message);
}

#[test]
fn audit_only_admission_does_not_change_health() {
    for mode in [Mode::Warn, Mode::Enforce] {
        let status = compliant_status(1, mode, 5);
        assert!(
            status
                .conditions
                .iter()
                .any(|c| c.type_ == "AdmissionEnforced" && c.status == "False"),
            "the operator says {mode} is audited only"
        );
        let h = health(&control(MFA, 1, Some(status)));
        assert_eq!(h.status, "Healthy", "{mode}: {h:?}");
    }
}

#[test]
fn non_compliant_is_degraded_with_counts_criteria_and_the_first_failure() {
    let h = health(&control(MFA, 1, Some(failing_status(1))));
    assert_eq!(h.status, "Degraded");
    assert_eq!(
        h.message,
        format!("3 of 12 resources fail CC6.1, CC6.3: {FIRST_FAILURE}")
    );
}

#[test]
fn non_compliant_without_summary_falls_back_to_the_condition_message() {
    let mut status = failing_status(1);
    status.summary = None;
    let condition = condition_message(&status, COMPLIANT);
    let h = health(&control(MFA, 1, Some(status)));
    assert_eq!(h.status, "Degraded");
    assert!(h.message.starts_with(&condition), "{}", h.message);
    assert!(h.message.contains("CC6.1, CC6.3"), "{}", h.message);
    assert!(h.message.ends_with(FIRST_FAILURE), "{}", h.message);
}

#[test]
fn undetermined_is_degraded_because_missing_evidence_is_a_finding() {
    let unknown =
        "the kube-apiserver flags are not visible (managed control plane); add an auditAttestation";
    let status = evaluated(
        None,
        &evaluation(
            &["CC7.2"],
            Compliance::Unknown,
            summary(4, 0, 1),
            vec![Finding::unknown(
                ResourceRef::aspect("v1", "ControlPlane", "kube-apiserver"),
                "audit-log-backend",
                unknown,
            )],
        ),
        Mode::Audit,
        &audit_only(),
        Some(1),
        now(),
    );
    let condition = condition_message(&status, COMPLIANT);
    let h = health(&control(&["CC7.2"], 1, Some(status)));
    assert_eq!(h.status, "Degraded");
    assert_eq!(h.message, format!("{condition}: {unknown}"));
}

/// Objects no API server would store, and some it would: the script answers each with a valid status, and never
/// through its safety net.
#[test]
fn malformed_objects_never_raise_a_lua_error() {
    let failing = serde_json::to_value(control(MFA, 1, Some(failing_status(1)))).unwrap();
    let with = |pointer: &str, value: Value| {
        let mut obj = failing.clone();
        *obj.pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{pointer} exists")) = value;
        obj
    };
    let without = |parent: &str, key: &str| {
        let mut obj = failing.clone();
        obj.pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .unwrap_or_else(|| panic!("{parent} is an object"))
            .remove(key);
        obj
    };
    let ready = "/status/conditions/0";
    let compliant = "/status/conditions/1";
    assert_eq!(
        failing.pointer(&format!("{ready}/type")),
        Some(&json!("Ready"))
    );
    assert_eq!(
        failing.pointer(&format!("{compliant}/type")),
        Some(&json!("Compliant"))
    );

    // (object, expected status when the case pins one down)
    let cases: Vec<(Value, Option<&str>)> = vec![
        (json!({}), Some("Progressing")),
        (json!([]), Some("Progressing")),
        (with("/status", json!("oops")), Some("Progressing")),
        (with("/status", json!(42)), Some("Progressing")),
        (with("/status", json!([])), Some("Progressing")),
        (with("/status", Value::Null), Some("Progressing")),
        (
            with(
                "/status/conditions",
                json!({"type": "Ready", "status": "False"}),
            ),
            Some("Progressing"),
        ),
        (
            with("/status/conditions", json!("Ready")),
            Some("Progressing"),
        ),
        (
            with(
                "/status/conditions",
                json!([1, "Ready", null, [], {"type": 5}, {"type": ["Ready"]}]),
            ),
            Some("Progressing"),
        ),
        (without("/status", "summary"), Some("Degraded")),
        (with("/status/summary", json!("3 of 12")), Some("Degraded")),
        (
            with(
                "/status/summary",
                json!({"failed": "three", "evaluated": {}}),
            ),
            Some("Degraded"),
        ),
        (
            with("/status/summary", json!({"failed": "3", "evaluated": 12})),
            Some("Degraded"),
        ),
        (with("/status/findings", json!("many")), Some("Degraded")),
        (
            with(
                "/status/findings",
                json!([7, null, {"result": "Fail", "message": {"text": "x"}}]),
            ),
            Some("Degraded"),
        ),
        (without("/status", "findings"), Some("Degraded")),
        (with("/spec", json!("nonsense")), Some("Degraded")),
        (with("/spec/criteria", json!("CC6.1")), Some("Degraded")),
        (
            with("/spec/criteria", json!([1, null, {"id": "CC6.1"}, ""])),
            Some("Degraded"),
        ),
        (without("/spec", "criteria"), Some("Degraded")),
        (with("/metadata", json!("x")), Some("Degraded")),
        (with("/metadata/generation", json!("two")), Some("Degraded")),
        (
            with("/metadata/generation", json!("2")),
            Some("Progressing"),
        ),
        (
            with("/metadata/generation", json!(1.5)),
            Some("Progressing"),
        ),
        (
            with("/status/observedGeneration", json!({})),
            Some("Progressing"),
        ),
        (
            without("/status", "observedGeneration"),
            Some("Progressing"),
        ),
        (
            with(&format!("{ready}/status"), json!(true)),
            Some("Progressing"),
        ),
        (
            with(&format!("{ready}/status"), json!("Unknown")),
            Some("Progressing"),
        ),
        (
            with(&format!("{ready}/status"), json!("False")),
            Some("Degraded"),
        ),
        (
            with(
                ready,
                json!({"type": "Ready", "status": "False", "message": 42}),
            ),
            Some("Degraded"),
        ),
        (
            with(ready, json!({"type": "Ready", "status": "False"})),
            Some("Degraded"),
        ),
        (
            with(&format!("{compliant}/status"), json!(false)),
            Some("Unknown"),
        ),
        (
            with(&format!("{compliant}/status"), json!("Maybe")),
            Some("Unknown"),
        ),
        (
            with(&format!("{compliant}/message"), json!([])),
            Some("Degraded"),
        ),
        (
            with(
                compliant,
                json!({"type": "Compliant", "status": "True", "message": null}),
            ),
            Some("Healthy"),
        ),
        (
            with(compliant, json!({"type": "Compliant", "status": "Unknown"})),
            Some("Degraded"),
        ),
        (with(compliant, json!("Compliant")), Some("Progressing")),
    ];
    for (obj, expected) in &cases {
        let h = health_of(obj);
        assert!(!h.message.is_empty(), "an empty message for {obj}");
        if let Some(expected) = expected {
            assert_eq!(&h.status, expected, "for {obj}: {}", h.message);
        }
    }
}

/// The driver must be as strict as Argo CD, or a script using `string.format` or `s:sub()` would pass here and fail
/// there.
#[test]
fn the_driver_withholds_the_libraries_argo_cd_withholds() {
    let run = |body: &str| {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(body.as_bytes()).unwrap();
        run_script(file.path(), "{}")
    };
    let sanity = run(r#"return { status = "Healthy", message = tostring(type(obj)) .. " " .. table.concat({"a", "b"}, ",") }"#)
        .expect("base and table libraries are there");
    assert_eq!(
        (sanity.status.as_str(), sanity.message.as_str()),
        ("Healthy", "table a,b")
    );
    for body in [
        r#"return { status = ("Healthy"):lower(), message = "" }"#,
        r#"return { status = string.format("%s", "Healthy"), message = "" }"#,
        r#"return { status = "Healthy", message = tostring(math.floor(1.5)) }"#,
        r#"return { status = "Healthy", message = io.read("*a") }"#,
    ] {
        let err = run(body).expect_err(body);
        assert!(err.contains("lua error"), "{body}: {err}");
    }
}

/// Cheap insurance for code paths the cases above do not reach: no library Argo CD withholds is named in the script.
#[test]
fn the_script_uses_only_base_and_table() {
    let script = std::fs::read_to_string(script_path()).unwrap();
    for (n, line) in script.lines().enumerate() {
        let code = line.split("--").next().unwrap_or("");
        for forbidden in [
            "string.", "math.", "io.", "os.", "debug.", "require", "load", "dofile",
        ] {
            assert!(
                !code.contains(forbidden),
                "health-control.lua:{}: uses {forbidden:?}, which Argo CD does not provide: {line}",
                n + 1
            );
        }
    }
}

/// The argocd-cm snippet parses as YAML, is a patch of argocd-cm, and inlines the script exactly.
#[test]
fn the_configmap_snippet_inlines_the_script() {
    let script = std::fs::read_to_string(script_path()).unwrap();
    let yaml_path = repo_path("config/argocd/argocd-cm-patch.yaml");
    let mut yaml = std::fs::read_to_string(&yaml_path).unwrap();

    let inlined = |yaml: &str| -> String {
        let cm: serde_yaml::Value =
            serde_yaml::from_str(yaml).expect("argocd-cm-patch.yaml is YAML");
        assert_eq!(cm["apiVersion"], "v1");
        assert_eq!(cm["kind"], "ConfigMap");
        assert_eq!(cm["metadata"]["name"], "argocd-cm");
        assert_eq!(
            cm["metadata"]["labels"]["app.kubernetes.io/part-of"], "argocd",
            "Argo CD reads only ConfigMaps labelled part-of: argocd"
        );
        let data = cm["data"].as_mapping().expect("data is a mapping");
        assert_eq!(data.len(), 1, "data holds only the health check");
        data.get(CM_KEY)
            .and_then(serde_yaml::Value::as_str)
            .unwrap_or_else(|| panic!("data.{CM_KEY} is a string"))
            .to_string()
    };

    if inlined(&yaml) != script && std::env::var_os(UPDATE_ENV).is_some() {
        // Keep everything up to the key line (comments, metadata) and re-inline the script below it.
        let key_line = format!("  {CM_KEY}: |\n");
        let head = yaml
            .find(&key_line)
            .map(|i| &yaml[..i + key_line.len()])
            .unwrap_or_else(|| panic!("argocd-cm-patch.yaml has the line {key_line:?}"));
        let mut regenerated = head.to_string();
        for line in script.lines() {
            if !line.is_empty() {
                regenerated.push_str("    ");
            }
            regenerated.push_str(line);
            regenerated.push('\n');
        }
        std::fs::write(&yaml_path, &regenerated).unwrap();
        yaml = regenerated;
    }
    assert!(
        inlined(&yaml) == script,
        "config/argocd/argocd-cm-patch.yaml does not inline config/argocd/health-control.lua verbatim; \
         regenerate it with `{UPDATE_ENV}=1 cargo test --test argocd_health`"
    );
}
