//! Custom CEL controls (`spec.check.cel`), in the dialect of Kubernetes ValidatingAdmissionPolicy: every matched
//! object must satisfy every validation. Compile errors are spec errors (`Ready=False, InvalidExpression`); an
//! evaluation error or an exceeded bound on one object is an Unknown finding for that object, never a pass.

pub mod compile;
pub mod eval;
pub mod functions;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cel::Value;
use kube::api::DynamicObject;
use kube::core::{Selector, SelectorExt};

pub use compile::{CelError, Compiled, Expecting};
use eval::{Activation, EvalError};
use k8s_openapi::jiff::Timestamp;

use super::Admissibility;
use super::Check;
use super::{CheckReport, Finding};
use crate::api::CheckKind;
use crate::api::{CelCheck, KindMatch};
use crate::engine::validation::SpecError;
use crate::view::Reads;
use crate::view::{ClusterSnapshot, Gvk, ResourceRef, ScopeMatcher};

/// Most objects one control evaluates; the rest are reported Unknown (narrow `match` or `scope`).
pub const MAX_OBJECTS: usize = 50_000;
/// Wall-clock budget for one control's evaluation, checked between objects.
pub const TIME_BUDGET: Duration = Duration::from_secs(5);

/// A validation, compiled.
pub struct CompiledValidation {
    expression: Arc<Compiled>,
    message_expression: Option<Arc<Compiled>>,
    field: String,
    source: String,
}

/// A `spec.check.cel`, compiled.
pub struct CompiledCel {
    variables: Vec<(String, Arc<Compiled>, String)>,
    validations: Vec<CompiledValidation>,
}

/// The GVKs a match names.
pub fn gvks(kinds: &[KindMatch]) -> Vec<Gvk> {
    kinds
        .iter()
        .map(|k| Gvk::from_api_version(&k.api_version, &k.kind))
        .collect()
}

/// Compiles every expression of `check`, in spec order; the first error names its field.
pub fn compile_check(check: &CelCheck) -> Result<CompiledCel, CelError> {
    let mut declared: Vec<String> = Vec::new();
    let mut variables = Vec::new();
    for (i, v) in check.variables.iter().flatten().enumerate() {
        let field = format!("spec.check.cel.variables[{i}].expression");
        if declared.contains(&v.name) {
            return Err(CelError {
                field: format!("spec.check.cel.variables[{i}].name"),
                line: 1,
                column: 1,
                message: format!("variable '{}' is declared twice", v.name),
                expression: v.name.clone(),
            });
        }
        let compiled = compile::compile(&v.expression, &field, Expecting::Any, &declared, None)?;
        variables.push((v.name.clone(), compiled, field));
        declared.push(v.name.clone());
    }
    let mut validations = Vec::new();
    for (i, v) in check.validations.iter().enumerate() {
        let field = format!("spec.check.cel.validations[{i}].expression");
        let expression = compile::compile(&v.expression, &field, Expecting::Bool, &declared, None)?;
        let message_expression = match &v.message_expression {
            Some(m) => Some(compile::compile(
                m,
                &format!("spec.check.cel.validations[{i}].messageExpression"),
                Expecting::String,
                &declared,
                None,
            )?),
            None => None,
        };
        validations.push(CompiledValidation {
            expression,
            message_expression,
            field,
            source: v.expression.clone(),
        });
    }
    Ok(CompiledCel {
        variables,
        validations,
    })
}

/// Per-object state: variables computed so far (lazily, each at most once).
struct ObjectEval<'a> {
    compiled: &'a CompiledCel,
    root: &'a cel::Context<'static>,
    activation: Activation,
    values: BTreeMap<String, Value>,
    failed: BTreeMap<String, String>,
}

impl ObjectEval<'_> {
    /// Evaluates the variables `c` reads (and those they read), in declaration order.
    fn variables_for(&mut self, c: &Compiled) -> Result<(), String> {
        let mut needed = c.variables.clone();
        // Declaration order guarantees a variable reads only earlier ones: walk backwards to close the set.
        for (name, v, _) in self.compiled.variables.iter().rev() {
            if needed.contains(name) {
                needed.extend(v.variables.iter().cloned());
            }
        }
        for (name, v, field) in &self.compiled.variables {
            if !needed.contains(name) {
                continue;
            }
            if let Some(e) = self.failed.get(name) {
                return Err(e.clone());
            }
            if self.values.contains_key(name) {
                continue;
            }
            let visible: BTreeMap<String, Value> = self
                .values
                .iter()
                .filter(|(k, _)| v.variables.contains(*k))
                .map(|(k, val)| (k.clone(), val.clone()))
                .collect();
            match eval::evaluate(self.root, v, &self.activation, &visible, 0) {
                Ok(value) => {
                    self.values.insert(name.clone(), value);
                }
                Err(e) => {
                    let text = describe(field, &e);
                    self.failed.insert(name.clone(), text.clone());
                    return Err(text);
                }
            }
        }
        Ok(())
    }

    fn run(&mut self, c: &Compiled, field: &str) -> Result<Value, String> {
        self.variables_for(c)?;
        let visible: BTreeMap<String, Value> = self
            .values
            .iter()
            .filter(|(k, _)| c.variables.contains(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        eval::evaluate(self.root, c, &self.activation, &visible, 0).map_err(|e| describe(field, &e))
    }
}

fn describe(field: &str, e: &EvalError) -> String {
    match e {
        EvalError::Runtime(m) => format!("{field} failed to evaluate on this object: {m}"),
        EvalError::TooCostly(cost) => format!(
            "{field} was not evaluated on this object: its estimated cost {cost} exceeds the limit of {} (nested macros over large lists); simplify the expression or narrow the match",
            eval::MAX_COST_PER_OBJECT
        ),
    }
}

/// The inputs every expression sees for `o`.
fn activation(
    o: &DynamicObject,
    namespaces: &BTreeMap<&str, serde_json::Value>,
    params: &serde_json::Value,
) -> Result<Activation, String> {
    let object = serde_json::to_value(o).map_err(|e| e.to_string())?;
    let namespace = o
        .metadata
        .namespace
        .as_deref()
        .and_then(|n| namespaces.get(n))
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    let largest = eval::largest_collection(&object)
        .max(eval::largest_collection(&namespace))
        .max(eval::largest_collection(params));
    Ok(Activation {
        roots: vec![
            ("object", eval::to_cel(&object)?),
            ("namespaceObject", eval::to_cel(&namespace)?),
            ("params", eval::to_cel(params)?),
        ],
        largest,
    })
}

/// Namespaces by name, as JSON, for `namespaceObject`.
pub fn namespace_objects(view: &ClusterSnapshot) -> BTreeMap<&str, serde_json::Value> {
    view.namespaces
        .iter()
        .filter_map(|ns| {
            let name = ns.metadata.name.as_deref()?;
            let mut v = serde_json::to_value(ns.as_ref()).ok()?;
            if let Some(m) = v.as_object_mut() {
                m.insert("apiVersion".into(), "v1".into());
                m.insert("kind".into(), "Namespace".into());
                if let Some(meta) = m.get_mut("metadata").and_then(|x| x.as_object_mut()) {
                    meta.remove("managedFields");
                }
            }
            Some((name, v))
        })
        .collect()
}

/// The custom CEL check (`spec.check.cel`).
pub struct Cel;

impl Check for Cel {
    const KIND: CheckKind = CheckKind::Cel;
    type Params = CelCheck;

    fn params(check: &crate::api::Check) -> Option<&CelCheck> {
        check.cel.as_ref()
    }

    fn validate(params: &CelCheck) -> Result<(), SpecError> {
        super::generic_spec::validate_cel(params)
    }

    fn reads(params: &CelCheck) -> Reads {
        Reads::new(Vec::new(), gvks(&params.match_.kinds))
    }

    /// Per object on the matched kinds that have a typed store, whole or trimmed (the webhook admits only those, and
    /// serves an admitted object of a trimmed kind whole).
    fn admissibility(params: &CelCheck) -> Admissibility {
        Admissibility::per_object(
            gvks(&params.match_.kinds)
                .iter()
                .filter_map(|g| g.typed_kind().or_else(|| g.trimmed_kind()))
                .collect(),
        )
    }

    fn judge(
        view: &ClusterSnapshot,
        scope: &ScopeMatcher,
        params: &CelCheck,
        _: Timestamp,
    ) -> CheckReport {
        check(view, scope, params)
    }
}

/// Runs `spec.check.cel` over `view`. A check that does not compile yields one Unknown finding (validation
/// rejects it before evaluation; this covers callers that skip validation).
pub fn check(view: &ClusterSnapshot, scope: &ScopeMatcher, spec: &CelCheck) -> CheckReport {
    check_within(view, scope, spec, MAX_OBJECTS, TIME_BUDGET)
}

/// [`check`] with explicit bounds on the number of objects and the wall-clock time.
pub fn check_within(
    view: &ClusterSnapshot,
    scope: &ScopeMatcher,
    spec: &CelCheck,
    max_objects: usize,
    time_budget: Duration,
) -> CheckReport {
    let mut report = CheckReport::default();
    let compiled = match compile_check(spec) {
        Ok(c) => c,
        Err(e) => {
            report.evaluated += 1;
            report.findings.push(Finding::unknown(
                ResourceRef::aspect("soc2.dev/v1alpha1", "Control", "spec.check.cel"),
                "invalid-expression",
                e.to_string(),
            ));
            return report;
        }
    };
    let selector: Option<Selector> = spec
        .match_
        .label_selector
        .as_ref()
        .and_then(|s| Selector::try_from(s.clone()).ok());
    let namespaces = namespace_objects(view);
    let params = spec.params.clone().unwrap_or(serde_json::Value::Null);
    let root = functions::root_context();
    let started = Instant::now();

    let mut matched: Vec<(Gvk, &Arc<DynamicObject>)> = Vec::new();
    for gvk in gvks(&spec.match_.kinds) {
        let objects = match view.dynamic(&gvk) {
            Ok(objects) => objects,
            Err(reason) => {
                report.evaluated += 1;
                report.findings.push(Finding::unknown(
                    ResourceRef::aspect(&gvk.api_version(), &gvk.kind, "(all)"),
                    "data-unavailable",
                    format!("{gvk} could not be read: {reason}"),
                ));
                continue;
            }
        };
        // A Namespace is cluster-scoped, but namespace lists and selectors name it: it is filtered as itself.
        let is_namespace = gvk.group.is_empty() && gvk.kind == "Namespace";
        for o in objects {
            let own = is_namespace.then_some(o.metadata.name.as_deref()).flatten();
            let in_namespaces = match (
                &spec.match_.namespaces,
                o.metadata.namespace.as_deref().or(own),
            ) {
                (Some(list), Some(ns)) => list.iter().any(|n| n == ns),
                _ => true,
            };
            let labels_match = selector.as_ref().is_none_or(|s| {
                s.matches(o.metadata.labels.as_ref().unwrap_or(&Default::default()))
            });
            let in_scope =
                scope.matches(&o.metadata) && own.is_none_or(|ns| scope.namespace_in_scope(ns));
            if in_namespaces && labels_match && in_scope {
                matched.push((gvk.clone(), o));
            }
        }
    }
    let total = matched.len();
    for (done, (gvk, o)) in matched.into_iter().enumerate() {
        if done >= max_objects || started.elapsed() > time_budget {
            let why = if done >= max_objects {
                format!("{total} objects matched; at most {max_objects} are evaluated per control")
            } else {
                format!(
                    "the evaluation time budget of {} ms was exhausted",
                    time_budget.as_millis()
                )
            };
            report.evaluated += 1;
            report.findings.push(Finding::unknown(
                ResourceRef::aspect("soc2.dev/v1alpha1", "Control", "spec.check.cel.match"),
                "evaluation-bound-exceeded",
                format!(
                    "{} of {total} matched objects were not evaluated: {why}; narrow spec.check.cel.match or spec.scope",
                    total - done
                ),
            ));
            break;
        }
        report.evaluated += 1;
        let subject = ResourceRef::from_dynamic(&gvk, o);
        let activation = match activation(o, &namespaces, &params) {
            Ok(a) => a,
            Err(e) => {
                report.findings.push(Finding::unknown(
                    subject,
                    "cel-evaluation-error",
                    format!("the object could not be converted for CEL: {e}"),
                ));
                continue;
            }
        };
        let mut state = ObjectEval {
            compiled: &compiled,
            root: &root,
            activation,
            values: BTreeMap::new(),
            failed: BTreeMap::new(),
        };
        for (i, v) in compiled.validations.iter().enumerate() {
            let declared = &spec.validations[i];
            let rule = declared
                .reason
                .clone()
                .unwrap_or_else(|| format!("cel-validations[{i}]"));
            match state.run(&v.expression, &v.field) {
                Ok(Value::Bool(true)) => {}
                Ok(Value::Bool(false)) => {
                    let custom = v
                        .message_expression
                        .as_ref()
                        .and_then(|m| state.run(m, "messageExpression").ok())
                        .and_then(|m| eval::as_message(&m));
                    let message = custom
                        .or_else(|| declared.message.clone())
                        .unwrap_or_else(|| format!("failed expression: {}", v.source));
                    report
                        .findings
                        .push(Finding::fail(subject.clone(), &rule, message));
                }
                Ok(other) => report.findings.push(Finding::unknown(
                    subject.clone(),
                    "cel-evaluation-error",
                    format!(
                        "{} evaluated to a {}, not a bool, on this object",
                        v.field,
                        eval::type_name(&other)
                    ),
                )),
                Err(message) => report.findings.push(Finding::unknown(
                    subject.clone(),
                    "cel-evaluation-error",
                    message,
                )),
            }
        }
    }
    report
}

#[cfg(test)]
mod tests;
