//! Evidence: snapshots, the hash chain and signatures on a local directory and on S3 (moto), what the operator
//! writes, and what auditors read from it (`soc2ctl verify`, the report in HTML, OSCAL, access review cycles).

#[allow(dead_code)]
#[path = "../support/outage_proxy.rs"]
mod outage_proxy;
#[allow(dead_code)] // Not every helper of the shared harness is used here.
#[path = "../support/mod.rs"]
mod support;

mod access_reviews;
mod bundle;
mod html;
mod operator;
mod oscal_schema;
mod s3;
mod s3_external;
mod scan_agrees;
