//! The Argo CD health checks in `config/argocd/` (for `soc2.dev/Control`, `EvidenceStore` and `ControlException`),
//! run under Lua 5.1 against objects built from the crate's own types and status builders, and the argocd-cm snippet
//! (`config/argocd/argocd-cm-patch.yaml`) that inlines them.
//!
//! Lua 5.1 is embedded (the `mlua` dev-dependency compiles its vendored sources with the C compiler), so nothing needs
//! installing and these tests never skip: a health script nobody ran is exactly what this suite exists to prevent.

mod control;
mod control_exception;
mod evidence_store;
mod script;

use std::collections::BTreeSet;
use std::io::Write;

use k8s_openapi::jiff::Timestamp;
use script::{SCRIPTS, repo_path, run_script};

const UPDATE_ENV: &str = "SOC2_UPDATE_ARGOCD_CM";

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// When the operator built the statuses under test.
fn now() -> Timestamp {
    at("2026-03-01T12:00:00Z")
}

/// The driver must be as strict as Argo CD, or a script using `string.format` or `s:sub()` would pass here and fail
/// there.
#[test]
fn the_driver_withholds_the_libraries_argo_cd_withholds() {
    let run = |body: &str| {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(body.as_bytes()).unwrap();
        run_script(file.path(), &serde_json::json!({}))
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

/// The object reaches the script as Argo CD's conversion hands it over: a null field is absent (nil, not a sentinel),
/// a null array element is dropped and the rest move up, and no table has a metatable.
#[test]
fn the_driver_converts_the_object_as_argo_cd_does() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(
        br#"
local parts = {}
parts[#parts + 1] = type(obj.gone)
parts[#parts + 1] = tostring(obj.gone == nil)
parts[#parts + 1] = tostring(next(obj.nested) == nil)
parts[#parts + 1] = tostring(#obj.list)
for _, v in ipairs(obj.list) do
  parts[#parts + 1] = tostring(v)
end
parts[#parts + 1] = tostring(getmetatable(obj.list) == nil and getmetatable(obj.empty) == nil)
parts[#parts + 1] = type(obj.number) .. "=" .. tostring(obj.number)
return { status = "Healthy", message = table.concat(parts, " ") }
"#,
    )
    .unwrap();
    let h = run_script(
        file.path(),
        &serde_json::json!({
            "gone": null,
            "nested": {"gone": null},
            "list": [1, null, 2, null],
            "empty": [],
            "number": 1.5,
        }),
    )
    .expect("the probe runs");
    assert_eq!(h.message, "nil true true 2 1 2 true number=1.5");
}

/// Cheap insurance for code paths the cases do not reach: no library Argo CD withholds is named in any script.
#[test]
fn the_scripts_use_only_base_and_table() {
    for script in SCRIPTS {
        for (n, line) in script.source().lines().enumerate() {
            let code = line.split("--").next().unwrap_or("");
            for forbidden in [
                "string.", "math.", "io.", "os.", "debug.", "require", "load", "dofile",
            ] {
                assert!(
                    !code.contains(forbidden),
                    "{}:{}: uses {forbidden:?}, which Argo CD does not provide: {line}",
                    script.file,
                    n + 1
                );
            }
        }
    }
}

/// A new script in `config/argocd/` must be added to [`SCRIPTS`], so that it is tested and inlined too.
#[test]
fn every_script_in_config_argocd_is_tested() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(repo_path("config/argocd"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".lua"))
        .collect();
    let tested: BTreeSet<String> = SCRIPTS.iter().map(|s| s.file.to_string()).collect();
    assert_eq!(on_disk, tested);
}

/// Inlines `script` under `key` as a block scalar, the way argocd-cm-patch.yaml holds it.
fn block(key: &str, script: &str) -> String {
    let mut out = format!("  {key}: |\n");
    for line in script.lines() {
        if !line.is_empty() {
            out.push_str("    ");
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The scripts inlined in argocd-cm-patch.yaml, by key, after checking that it is a patch of argocd-cm holding
/// nothing else.
fn inlined(yaml: &str) -> Vec<(String, String)> {
    let cm: serde_yaml::Value = serde_yaml::from_str(yaml).expect("argocd-cm-patch.yaml is YAML");
    assert_eq!(cm["apiVersion"], "v1");
    assert_eq!(cm["kind"], "ConfigMap");
    assert_eq!(cm["metadata"]["name"], "argocd-cm");
    assert_eq!(
        cm["metadata"]["labels"]["app.kubernetes.io/part-of"], "argocd",
        "Argo CD reads only ConfigMaps labelled part-of: argocd"
    );
    cm["data"]
        .as_mapping()
        .expect("data is a mapping")
        .iter()
        .map(|(key, value)| {
            let key = key.as_str().expect("data keys are strings").to_string();
            let value = value
                .as_str()
                .unwrap_or_else(|| panic!("data.{key} is a string"))
                .to_string();
            (key, value)
        })
        .collect()
}

/// The argocd-cm snippet parses as YAML, is a patch of argocd-cm, and inlines every script exactly, each under its
/// kind's key and nothing else. With `SOC2_UPDATE_ARGOCD_CM` set, it is regenerated below its `data:` line first.
#[test]
fn the_configmap_snippet_inlines_every_script() {
    let yaml_path = repo_path("config/argocd/argocd-cm-patch.yaml");
    let mut yaml = std::fs::read_to_string(&yaml_path).unwrap();
    let expected: Vec<(String, String)> = SCRIPTS
        .iter()
        .map(|s| (s.configmap_key(), s.source()))
        .collect();

    if inlined(&yaml) != expected && std::env::var_os(UPDATE_ENV).is_some() {
        // Keep everything up to the data line (comments, metadata) and re-inline every script below it.
        let data_line = "\ndata:\n";
        let head = yaml
            .find(data_line)
            .map(|i| &yaml[..i + data_line.len()])
            .expect("argocd-cm-patch.yaml has a line `data:`");
        let mut regenerated = head.to_string();
        for (key, script) in &expected {
            regenerated.push_str(&block(key, script));
        }
        std::fs::write(&yaml_path, &regenerated).unwrap();
        yaml = regenerated;
    }

    let actual = inlined(&yaml);
    let keys = |entries: &[(String, String)]| -> Vec<String> {
        entries.iter().map(|(k, _)| k.clone()).collect()
    };
    assert_eq!(
        keys(&actual),
        keys(&expected),
        "argocd-cm-patch.yaml holds one health check per kind, in this order; regenerate it with \
         `{UPDATE_ENV}=1 cargo test --test argocd_health`"
    );
    for (script, (key, inlined)) in SCRIPTS.iter().zip(&actual) {
        assert!(
            *inlined == script.source(),
            "config/argocd/argocd-cm-patch.yaml does not inline config/argocd/{} verbatim under {key}; \
             regenerate it with `{UPDATE_ENV}=1 cargo test --test argocd_health`",
            script.file
        );
    }
}
