//! What one control reads: typed kinds and, for generic checks, group/version/kinds.

use super::{Gvk, ResourceKind};

/// The data a control's check reads (from [`crate::engine::evaluate::required_kinds`]): the live view watches exactly
/// this, and a change re-evaluates a control only when it touches this.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reads {
    /// Typed kinds, sorted, without duplicates.
    pub kinds: Vec<ResourceKind>,
    /// Kinds read by group/version/kind, sorted, without duplicates.
    pub gvks: Vec<Gvk>,
}

impl Reads {
    /// Typed kinds only.
    pub fn kinds(kinds: &[ResourceKind]) -> Self {
        Reads::new(kinds.to_vec(), Vec::new())
    }

    /// Normalises `kinds` and `gvks`; a GVK served by a typed store also reads that typed kind, so that its watch
    /// runs and its changes trigger re-evaluation.
    pub fn new(mut kinds: Vec<ResourceKind>, mut gvks: Vec<Gvk>) -> Self {
        kinds.extend(gvks.iter().filter_map(Gvk::typed_kind));
        kinds.sort();
        kinds.dedup();
        gvks.sort();
        gvks.dedup();
        Reads { kinds, gvks }
    }

    /// True when the typed kind is read.
    pub fn contains(&self, kind: &ResourceKind) -> bool {
        self.kinds.contains(kind)
    }

    /// True when the GVK is read.
    pub fn contains_gvk(&self, gvk: &Gvk) -> bool {
        self.gvks.contains(gvk)
    }

    /// GVKs that need a watch of their own (no typed store serves them).
    pub fn dynamic_only(&self) -> impl Iterator<Item = &Gvk> {
        self.gvks.iter().filter(|g| g.typed_kind().is_none())
    }

    /// Everything read by any of `reads`.
    pub fn union<'a>(reads: impl IntoIterator<Item = &'a Reads>) -> Reads {
        let (mut kinds, mut gvks) = (Vec::new(), Vec::new());
        for r in reads {
            kinds.extend(r.kinds.iter().copied());
            gvks.extend(r.gvks.iter().cloned());
        }
        Reads::new(kinds, gvks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_gvks_read_their_typed_kind() {
        let r = Reads::new(
            vec![ResourceKind::Namespace, ResourceKind::Namespace],
            vec![
                Gvk::new("", "v1", "Service"),
                Gvk::new("", "v1", "ConfigMap"),
                Gvk::new("apps", "v1", "Deployment"),
            ],
        );
        assert_eq!(r.kinds, [ResourceKind::Namespace, ResourceKind::Service]);
        // A trimmed kind (see `Gvk::trimmed_kind`) is read whole from a watch of its own.
        assert_eq!(
            r.dynamic_only().collect::<Vec<_>>(),
            [
                &Gvk::new("", "v1", "ConfigMap"),
                &Gvk::new("apps", "v1", "Deployment")
            ]
        );
    }
}
