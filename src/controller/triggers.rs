//! Which controls a cluster change can affect.

use kube::runtime::reflector::{ObjectRef, Store};

use crate::api::Control;
use crate::evaluate::required_kinds;
use crate::validation::validate;
use crate::view::ResourceKind;
use crate::view::live::Change;

/// The controls whose checks read the changed kind and whose namespace lists admit the changed namespace.
/// Namespace changes affect every control (scopes select namespaces by label).
pub fn affected_controls(controls: &Store<Control>, change: &Change) -> Vec<ObjectRef<Control>> {
    controls
        .state()
        .into_iter()
        .filter(|c| {
            let Ok(v) = validate(&c.spec) else {
                return false;
            };
            if !required_kinds(&v).contains(&change.kind) {
                return false;
            }
            if change.kind == ResourceKind::Namespace {
                return true;
            }
            let (Some(ns), Some(scope)) = (&change.namespace, &c.spec.scope) else {
                return true;
            };
            let excluded = scope
                .exclude_namespaces
                .as_ref()
                .is_some_and(|x| x.contains(ns));
            let not_included = scope.namespaces.as_ref().is_some_and(|x| !x.contains(ns));
            // Control-plane pods are read regardless of scope (see checks::apiserver_flags).
            change.kind == ResourceKind::ControlPlanePod || !(excluded || not_included)
        })
        .map(|c| ObjectRef::from_obj(c.as_ref()))
        .collect()
}
