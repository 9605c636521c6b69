//! Which controls a cluster change can affect.

use kube::core::DeserializeGuard;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::api::Control;
use crate::checks;
use crate::engine::evaluate::required_kinds;
use crate::engine::validation::validate;
use crate::view::ResourceKind;
use crate::view::live::{Change, Watched};

/// The controls whose checks read the changed kind and whose namespace lists admit the changed namespace.
/// Namespace changes affect every control (scopes select namespaces by label).
pub fn affected_controls(controls: &Store<Control>, change: &Change) -> Vec<ObjectRef<Control>> {
    controls
        .state()
        .into_iter()
        .filter(|c| affects(c, change))
        .map(|c| ObjectRef::from_obj(c.as_ref()))
        .collect()
}

/// [`affected_controls`] over the operator's guarded store; unreadable Controls are never affected.
pub fn affected_guarded_controls(
    controls: &Store<DeserializeGuard<Control>>,
    change: &Change,
) -> Vec<ObjectRef<DeserializeGuard<Control>>> {
    controls
        .state()
        .into_iter()
        .filter(|g| g.0.as_ref().is_ok_and(|c| affects(c, change)))
        .map(|g| ObjectRef::from_obj(g.as_ref()))
        .collect()
}

/// True when `change` can alter the evaluation of `c`.
fn affects(c: &Control, change: &Change) -> bool {
    let Ok(v) = validate(&c.spec) else {
        return false;
    };
    let reads = required_kinds(&v);
    let kind = match &change.kind {
        Watched::Kind(kind) => *kind,
        // Dynamic kinds re-evaluate only the controls that read that GVK, in the namespaces they admit.
        Watched::Gvk(gvk) if !reads.contains_gvk(gvk) => return false,
        // A check the scope does not filter (requiredResources entries name their namespaces themselves).
        Watched::Gvk(_) => {
            return !checks::registered(v.kind).scoped() || admits_namespace(c, change);
        }
    };
    if !reads.contains(&kind) {
        return false;
    }
    // Namespaces: scopes select them by label. ControlExceptions: the change does not say which control the
    // exception named before it changed or was deleted, and a cluster-wide one may waive anything; re-evaluating
    // every control is cheap and exceptions change rarely.
    if matches!(
        kind,
        ResourceKind::Namespace | ResourceKind::ControlException
    ) {
        return true;
    }
    // Control-plane pods are read regardless of scope (see checks::apiserver_flags).
    kind == ResourceKind::ControlPlanePod || admits_namespace(c, change)
}

/// False only when the control's namespace lists exclude the changed object's namespace.
fn admits_namespace(c: &Control, change: &Change) -> bool {
    let (Some(ns), Some(scope)) = (&change.namespace, &c.spec.scope) else {
        return true;
    };
    let excluded = scope
        .exclude_namespaces
        .as_ref()
        .is_some_and(|x| x.contains(ns));
    let not_included = scope.namespaces.as_ref().is_some_and(|x| !x.contains(ns));
    !(excluded || not_included)
}
