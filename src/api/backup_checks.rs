//! Parameters of the backup and restore-test check (A1.2, A1.3), which reads Velero objects.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Default `veleroNamespace` for [`BackupsCheck`].
pub const DEFAULT_VELERO_NAMESPACE: &str = "velero";
/// Default `rpo` for [`BackupsCheck`].
pub const DEFAULT_RPO: &str = "24h";

/// Parameters of the backups check.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupsCheck {
    /// The namespace Velero runs in, where its Schedules, Backups and Restores live. Default: `velero`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub velero_namespace: Option<String>,

    /// The recovery point objective: every in-scope namespace must be covered by a Velero Backup with phase
    /// `Completed` that completed at most this long ago, as a duration such as `24h`, `12h` or `7d`. Default: `24h`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpo: Option<String>,

    /// When set, a Velero Restore with phase `Completed` must have completed within this period (a restore test,
    /// A1.3), as a duration such as `90d` or `30d`. Unset: restore tests are not judged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_test_period: Option<String>,

    /// Judge each in-scope namespace's Velero Schedule and Backups. Default: true; set false in a control that
    /// judges restore tests only (with `restoreTestPeriod`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_coverage: Option<bool>,

    /// Namespaces that need no backup (stateless, or recreated from Git), on top of the control's scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclude_namespaces: Option<Vec<String>>,
}

impl BackupsCheck {
    /// `veleroNamespace` with its default.
    pub fn effective_velero_namespace(&self) -> String {
        self.velero_namespace
            .clone()
            .unwrap_or_else(|| DEFAULT_VELERO_NAMESPACE.to_string())
    }

    /// `rpo` with its default, as written.
    pub fn effective_rpo(&self) -> String {
        self.rpo.clone().unwrap_or_else(|| DEFAULT_RPO.to_string())
    }

    /// `backupCoverage` with its default.
    pub fn effective_backup_coverage(&self) -> bool {
        self.backup_coverage.unwrap_or(true)
    }

    /// `excludeNamespaces` with its default (none).
    pub fn effective_exclude_namespaces(&self) -> Vec<String> {
        self.exclude_namespaces.clone().unwrap_or_default()
    }
}
