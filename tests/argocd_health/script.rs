//! Running a health script the way Argo CD does, under a real `lua5.1`, and asking it about objects.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Serialize;
use serde_json::{Value, json};

const INSTALL_HINT: &str = "apt-get install -y lua5.1 lua-cjson";

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

/// What each script's own safety net answers when it would otherwise have raised an error.
const SAFETY_NET: &str = "health check failed";

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// One of the health scripts in `config/argocd/`, for the kind `soc2.dev/<kind>`.
#[derive(Clone, Copy, Debug)]
pub struct Script {
    pub kind: &'static str,
    pub file: &'static str,
}

pub const CONTROL: Script = Script {
    kind: "Control",
    file: "health-control.lua",
};
pub const EVIDENCE_STORE: Script = Script {
    kind: "EvidenceStore",
    file: "health-evidencestore.lua",
};
pub const CONTROL_EXCEPTION: Script = Script {
    kind: "ControlException",
    file: "health-controlexception.lua",
};

/// Every health script, in the order argocd-cm-patch.yaml inlines them.
pub const SCRIPTS: [Script; 3] = [CONTROL, EVIDENCE_STORE, CONTROL_EXCEPTION];

impl Script {
    pub fn path(&self) -> PathBuf {
        repo_path("config/argocd").join(self.file)
    }

    pub fn source(&self) -> String {
        std::fs::read_to_string(self.path())
            .unwrap_or_else(|e| panic!("read config/argocd/{}: {e}", self.file))
    }

    /// The argocd-cm key Argo CD looks the script up by.
    pub fn configmap_key(&self) -> String {
        format!("resource.customizations.health.soc2.dev_{}", self.kind)
    }

    /// The health of `obj`; panics on a Lua error or an invalid or fallback answer.
    pub fn health_of(&self, obj: &Value) -> Health {
        let input = serde_json::to_string(obj).unwrap();
        let h = run_script(&self.path(), &input)
            .unwrap_or_else(|e| panic!("{} raised an error on {input}:\n{e}", self.file));
        assert!(
            ARGO_STATUSES.contains(&h.status.as_str()),
            "{}: {:?} is not an Argo CD health status (input {input})",
            self.file,
            h.status
        );
        assert!(
            !h.message.contains(SAFETY_NET),
            "{} only survived through its safety net on {input}: {}",
            self.file,
            h.message
        );
        h
    }

    /// The health of one of the crate's own objects, serialized as the API server would hand it to Argo CD.
    pub fn health<T: Serialize>(&self, obj: &T) -> Health {
        self.health_of(&serde_json::to_value(obj).expect("the object serializes"))
    }

    /// Asks about each case: the answer is a valid status with a message, reached without the safety net, and the
    /// expected status where the case names one.
    pub fn assert_cases(&self, cases: &[(Value, Option<&str>)]) {
        for (obj, expected) in cases {
            let h = self.health_of(obj);
            assert!(
                !h.message.is_empty(),
                "{}: an empty message for {obj}",
                self.file
            );
            if let Some(expected) = expected {
                assert_eq!(
                    &h.status, expected,
                    "{} for {obj}: {}",
                    self.file, h.message
                );
            }
        }
    }
}

#[derive(Debug)]
pub struct Health {
    pub status: String,
    pub message: String,
}

/// Runs `script` on `input` (JSON) under lua5.1; `Err` carries the driver's stderr on a Lua error.
pub fn run_script(script: &Path, input: &str) -> Result<Health, String> {
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
            "lua5.1 is not installed; the Argo CD health checks must be tested under a real Lua 5.1 interpreter: {INSTALL_HINT}"
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

/// Copies of a well-formed object with one field replaced or removed, for malformed-object cases.
pub struct Variants(pub Value);

impl Variants {
    /// The object with the value at `pointer` (which must exist) replaced.
    pub fn with(&self, pointer: &str, value: Value) -> Value {
        let mut obj = self.0.clone();
        *obj.pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{pointer} exists")) = value;
        obj
    }

    /// The object without `key` in the object at `parent`.
    pub fn without(&self, parent: &str, key: &str) -> Value {
        let mut obj = self.0.clone();
        obj.pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .unwrap_or_else(|| panic!("{parent} is an object"))
            .remove(key);
        obj
    }

    /// Cases every script answers alike: no object, no usable status, a broken or newer generation, a broken
    /// observedGeneration. The object must be at generation 1 and observed, with the health `unchanged`, which a
    /// `metadata` without a usable generation leaves as it is.
    pub fn shared_cases(&self, unchanged: &'static str) -> Vec<(Value, Option<&'static str>)> {
        assert_eq!(self.0.pointer("/metadata/generation"), Some(&json!(1)));
        assert_eq!(
            self.0.pointer("/status/observedGeneration"),
            Some(&json!(1))
        );
        vec![
            (json!({}), Some("Progressing")),
            (json!([]), Some("Progressing")),
            (json!("x"), Some("Progressing")),
            (self.with("/status", json!("oops")), Some("Progressing")),
            (self.with("/status", json!(42)), Some("Progressing")),
            (self.with("/status", json!([])), Some("Progressing")),
            (self.with("/status", json!({})), Some("Progressing")),
            (self.with("/status", Value::Null), Some("Progressing")),
            (self.with("/metadata", json!("x")), Some(unchanged)),
            (self.with("/metadata", Value::Null), Some(unchanged)),
            (
                self.with("/metadata/generation", json!("two")),
                Some(unchanged),
            ),
            (
                self.with("/metadata/generation", json!("2")),
                Some("Progressing"),
            ),
            (
                self.with("/metadata/generation", json!(1.5)),
                Some("Progressing"),
            ),
            (
                self.with("/status/observedGeneration", json!({})),
                Some("Progressing"),
            ),
            (
                self.with("/status/observedGeneration", json!("1")),
                Some(unchanged),
            ),
            (
                self.without("/status", "observedGeneration"),
                Some("Progressing"),
            ),
            (self.with("/spec", json!("nonsense")), None),
            (self.with("/spec", Value::Null), None),
        ]
    }

    /// Cases for a script that reads a `Ready` condition (at `ready`, which must be True): without a usable one it
    /// is Progressing, Ready=False is Degraded whatever its message.
    pub fn ready_cases(&self, ready: &str) -> Vec<(Value, Option<&'static str>)> {
        assert_eq!(
            self.0.pointer(&format!("{ready}/type")),
            Some(&json!("Ready"))
        );
        assert_eq!(
            self.0.pointer(&format!("{ready}/status")),
            Some(&json!("True"))
        );
        let ready_status = format!("{ready}/status");
        vec![
            (
                self.with("/status/conditions", json!([])),
                Some("Progressing"),
            ),
            (
                self.with("/status/conditions", json!("Ready")),
                Some("Progressing"),
            ),
            (
                self.with(
                    "/status/conditions",
                    json!({"type": "Ready", "status": "False"}),
                ),
                Some("Progressing"),
            ),
            (
                self.with(
                    "/status/conditions",
                    json!([1, "Ready", null, [], {"type": 5}, {"type": ["Ready"]}]),
                ),
                Some("Progressing"),
            ),
            (self.with(ready, json!("Ready")), Some("Progressing")),
            (self.with(&ready_status, json!(true)), Some("Progressing")),
            (
                self.with(&ready_status, json!("Unknown")),
                Some("Progressing"),
            ),
            (self.with(&ready_status, Value::Null), Some("Progressing")),
            (self.with(&ready_status, json!("False")), Some("Degraded")),
            (
                self.with(
                    ready,
                    json!({"type": "Ready", "status": "False", "message": 42}),
                ),
                Some("Degraded"),
            ),
            (
                self.with(ready, json!({"type": "Ready", "status": "False"})),
                Some("Degraded"),
            ),
        ]
    }
}
