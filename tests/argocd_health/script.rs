//! Running a health script the way Argo CD does, under an embedded Lua 5.1 (mlua, vendored: no system package), and
//! asking it about objects.

use std::path::{Path, PathBuf};

use mlua::serde::SerializeOptions;
use mlua::{Lua, LuaOptions, LuaSerdeExt, StdLib, Value as LuaValue};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The globals of the base library a health script may use. Argo CD does not open the string or math library for
/// scripts from argocd-cm (only base, table and a reduced os), so they are absent here too and strings have no
/// methods; of the base library only these stay (no load, loadstring, dofile, getfenv, setfenv or coroutine), and
/// there is no package library, so no require.
const BASE: &[&str] = &[
    "assert",
    "error",
    "ipairs",
    "next",
    "pairs",
    "pcall",
    "print",
    "select",
    "tonumber",
    "tostring",
    "type",
    "unpack",
    "xpcall",
    "rawequal",
    "rawget",
    "rawset",
    "getmetatable",
    "setmetatable",
    "_VERSION",
    "_G",
];

/// What is left of the os library (Argo CD's "safe" os).
const OS: &[&str] = &["clock", "date", "difftime", "time"];

/// How the object becomes the Lua value of `obj`, as Argo CD's conversion for gopher-lua (`decodeValue` in its
/// util/lua/lua.go) does it: a JSON null is Lua nil, so a null field is simply absent (`obj.status.x == nil`), never a
/// sentinel that a script would have to compare against, and no table gets a metatable.
/// - `serialize_unit_to_null(false)`: `serde_json::Value::Null` serializes as a unit, which would otherwise become
///   mlua's `null` light userdata (truthy, and `type()` says "userdata"), so `if obj.status then` would be wrong here
///   and right in Argo CD.
/// - `serialize_none_to_null(false)`: the same for `None`, should an `Option` ever be handed over directly.
/// - `set_array_metatable(false)`: Argo CD's tables have none, so `getmetatable` is nil for a list as for a map, and a
///   JSON `[]` and `{}` are the same empty table, as they are in Argo CD.
const TO_LUA: SerializeOptions = SerializeOptions::new()
    .serialize_unit_to_null(false)
    .serialize_none_to_null(false)
    .set_array_metatable(false);

/// A Lua 5.1 state with what Argo CD gives a health script from argocd-cm: the base library (less what [`BASE`] leaves
/// out), table, and the reduced os library; no string, math, io or debug library, so strings have no metatable.
fn argo_cd_lua() -> mlua::Result<Lua> {
    let lua = Lua::new_with(StdLib::TABLE | StdLib::OS, LuaOptions::default())?;
    let globals = lua.globals();
    let names = globals
        .pairs::<String, LuaValue>()
        .map(|pair| pair.map(|(name, _)| name))
        .collect::<mlua::Result<Vec<_>>>()?;
    for name in names {
        if !BASE.contains(&name.as_str()) && name != "table" && name != "os" {
            globals.raw_remove(name)?;
        }
    }
    let full_os: mlua::Table = globals.get("os")?;
    let os = lua.create_table()?;
    for name in OS {
        os.raw_set(*name, full_os.get::<LuaValue>(*name)?)?;
    }
    globals.raw_set("os", os)?;
    Ok(lua)
}

/// Argo CD appends the elements of a JSON array with gopher-lua's `LTable.Append`, which skips nil: a null element
/// is dropped and the ones after it move up (`[1, null, 2]` is `{1, 2}`). mlua would leave a hole at its index
/// instead, where `ipairs` stops, so nulls in arrays are dropped before the object is handed over. Nulls in objects are
/// left to [`TO_LUA`], which makes them nil.
fn without_null_elements(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|item| !item.is_null())
                .map(without_null_elements)
                .collect(),
        ),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, item)| (key.clone(), without_null_elements(item)))
                .collect(),
        ),
        other => other.clone(),
    }
}

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
        let h = run_script(&self.path(), obj)
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

/// What the script returns, read back with mlua's serde support: a table with a string `status` and a string
/// `message` (other fields are ignored, as Argo CD ignores them).
#[derive(Debug, Deserialize)]
pub struct Health {
    pub status: String,
    pub message: String,
}

/// Runs `script` on `obj` the way Argo CD does: `obj` is a global holding the object, the chunk's return value is the
/// health. `Err` says what went wrong on a Lua error or when the script does not return a table with a string status
/// and a string message.
pub fn run_script(script: &Path, obj: &Value) -> Result<Health, String> {
    let source = std::fs::read_to_string(script)
        .unwrap_or_else(|e| panic!("read the health script {}: {e}", script.display()));
    let lua = argo_cd_lua().expect("a Lua 5.1 state with Argo CD's libraries");
    let obj = lua
        .to_value_with(&without_null_elements(obj), TO_LUA)
        .expect("the object converts to a Lua value");
    lua.globals().set("obj", obj).expect("set the global obj");
    let chunk = lua
        .load(source)
        .set_name(format!("@{}", script.display()))
        .into_function()
        .map_err(|e| format!("cannot load the health script: {e}"))?;
    let hs: LuaValue = chunk.call(()).map_err(|e| format!("lua error: {e}"))?;
    lua.from_value(hs).map_err(|e| {
        format!(
            "the health script must return a table with a string status and a string message: {e}"
        )
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
