//! The shipped control library (`config/controls/`) as documentation: the control matrix an auditor reads, rendered
//! from the manifests so that the two never disagree (`tests/shipped/control_library.rs` fails when docs/controls.md drifts).

use std::fmt::Write as _;

use crate::api::Control;
use crate::engine::validation::validate;

/// Heading and introduction of the generated page.
const HEADER: &str = "# The control library\n\n\
Generated from `config/controls/` by `tests/shipped/control_library.rs` (regenerate with\n\
`SOC2_BLESS=1 cargo test --test shipped control_library`). Apply the whole library with `kubectl apply -k config/controls`;\n\
every control starts in `Audit` mode.\n";

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn cell(text: &str) -> String {
    one_line(text).replace('|', "\\|")
}

/// Renders the control matrix (a summary table, then each control's description, test procedure and remediation)
/// for `controls`, in the order given.
pub fn render_markdown(controls: &[Control]) -> String {
    let mut out = String::from(HEADER);
    let _ = writeln!(
        out,
        "\n| control | criteria | category | check | severity | title |\n|---|---|---|---|---|---|"
    );
    for c in controls {
        let name = c.metadata.name.as_deref().unwrap_or_default();
        let check = validate(&c.spec)
            .map(|v| format!("`{}`", v.kind.field()))
            .unwrap_or_else(|e| format!("invalid: {}", cell(&e.to_string())));
        let criteria: Vec<String> = c.spec.criteria.iter().map(|c| c.to_string()).collect();
        let _ = writeln!(
            out,
            "| [{name}](#{name}) | {} | {} | {check} | {} | {} |",
            criteria.join(", "),
            c.spec.category,
            c.spec.severity.unwrap_or_default(),
            cell(&c.spec.title)
        );
    }
    for c in controls {
        let name = c.metadata.name.as_deref().unwrap_or_default();
        let _ = writeln!(out, "\n## {name}\n\n**{}**", one_line(&c.spec.title));
        let criteria: Vec<String> = c.spec.criteria.iter().map(|c| c.to_string()).collect();
        let _ = writeln!(
            out,
            "\nCriteria: {}. Category: {}. Owner: {}. Manifest: [`config/controls/{name}.yaml`](../config/controls/{name}.yaml).",
            criteria.join(", "),
            c.spec.category,
            c.spec.owner.as_deref().unwrap_or("unassigned")
        );
        for (label, text) in [
            ("Control description", &c.spec.description),
            ("Test procedure", &c.spec.test_procedure),
            ("Remediation", &c.spec.remediation),
        ] {
            if let Some(text) = text {
                let _ = writeln!(out, "\n*{label}.* {}", one_line(text));
            }
        }
    }
    out
}
