//! Trust Services Criteria identifiers (AICPA TSC 2017, revised points of focus 2022).

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// Every criterion id of the 2017 Trust Services Criteria, as a regular expression.
///
/// Common Criteria CC1-CC9 (Security), A1 (Availability), PI1 (Processing Integrity), C1 (Confidentiality)
/// and P1-P8 (Privacy).
pub const CRITERION_PATTERN: &str = r"^(CC1\.[1-5]|CC2\.[1-3]|CC3\.[1-4]|CC4\.[1-2]|CC5\.[1-3]|CC6\.[1-8]|CC7\.[1-5]|CC8\.1|CC9\.[1-2]|A1\.[1-3]|PI1\.[1-5]|C1\.[1-2]|P1\.1|P2\.1|P3\.[1-2]|P4\.[1-3]|P5\.[1-2]|P6\.[1-7]|P7\.1|P8\.1)$";

/// A Trust Services Criteria id such as `CC6.1`, `A1.2` or `PI1.3`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(transparent)]
pub struct Criterion(pub String);

impl Criterion {
    /// True when the id names a criterion that exists in the 2017 Trust Services Criteria.
    pub fn is_known(&self) -> bool {
        known_criterion(&self.0)
    }
}

impl std::fmt::Display for Criterion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// (series, major, highest minor) of every criterion group in the 2017 Trust Services Criteria.
const CRITERIA_GROUPS: &[(&str, u8, u8)] = &[
    ("CC", 1, 5),
    ("CC", 2, 3),
    ("CC", 3, 4),
    ("CC", 4, 2),
    ("CC", 5, 3),
    ("CC", 6, 8),
    ("CC", 7, 5),
    ("CC", 8, 1),
    ("CC", 9, 2),
    ("A", 1, 3),
    ("PI", 1, 5),
    ("C", 1, 2),
    ("P", 1, 1),
    ("P", 2, 1),
    ("P", 3, 2),
    ("P", 4, 3),
    ("P", 5, 2),
    ("P", 6, 7),
    ("P", 7, 1),
    ("P", 8, 1),
];

fn known_criterion(id: &str) -> bool {
    CRITERIA_GROUPS.iter().any(|(series, major, max_minor)| {
        (1..=*max_minor).any(|minor| id == format!("{series}{major}.{minor}"))
    })
}

impl JsonSchema for Criterion {
    fn schema_name() -> Cow<'static, str> {
        "Criterion".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": CRITERION_PATTERN,
            "description": "A Trust Services Criteria id (AICPA TSC 2017), e.g. CC6.1, CC7.2, CC8.1, A1.2, PI1.3, C1.1, P4.2."
        })
    }

    fn inline_schema() -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_published_criterion() {
        for id in [
            "CC1.1", "CC1.5", "CC6.8", "CC7.5", "CC8.1", "CC9.2", "A1.1", "A1.3", "PI1.5", "C1.2",
            "P1.1", "P4.2", "P6.7", "P8.1",
        ] {
            assert!(Criterion(id.into()).is_known(), "{id} should be known");
        }
    }

    #[test]
    fn rejects_ids_outside_the_criteria() {
        for id in [
            "", "CC", "CC6", "CC6.", "CC6.9", "CC8.2", "CC10.1", "A1.4", "PI1.6", "C1.3", "P9.1",
            "X1.1", "cc6.1", "CC06.1", "CC6.01", " CC6.1", "CC6.1 ",
        ] {
            assert!(
                !Criterion(id.into()).is_known(),
                "{id:?} should be rejected"
            );
        }
    }

    #[test]
    fn pattern_and_parser_agree() {
        // The CRD pattern is enforced by the API server; the parser by scan. They must accept the same ids.
        let re = regex::Regex::new(CRITERION_PATTERN).expect("pattern compiles");
        for series in ["CC", "A", "PI", "C", "P", "X"] {
            for major in 0..12 {
                for minor in 0..12 {
                    let id = format!("{series}{major}.{minor}");
                    assert_eq!(re.is_match(&id), Criterion(id.clone()).is_known(), "{id}");
                }
            }
        }
    }
}
