//! The HTML report in a real headless Chromium: it renders (screenshot, DOM), loads nothing from the network and
//! logs no console errors. Skipped with a message when Chromium is not installed; `.ci/run` installs it.

use std::path::Path;
use std::process::Command;

use k8s_openapi::jiff::Timestamp;
use soc2_operator::evidence::offline::write_scan_snapshot;
use soc2_operator::evidence::{
    EvidenceStoreClient, StoreLocation, VerifyingKeys, report, verify_chain,
};
use soc2_operator::scan::load_paths;

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

#[tokio::test]
async fn the_html_report_renders_in_headless_chromium_without_console_errors() {
    let Some(browser) = chromium() else {
        eprintln!(
            "SKIPPED: chromium is not installed (apt-get install -y chromium; .ci/run installs it)"
        );
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let loaded = load_paths(&[root.join("examples/cluster")]).unwrap();
    let controls = load_paths(&[root.join("config/samples")]).unwrap().controls;
    let dir = tempfile::tempdir().unwrap();
    let store =
        EvidenceStoreClient::connect(&StoreLocation::Filesystem(dir.path().join("ev"))).unwrap();
    for t in ["2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"] {
        write_scan_snapshot(
            &store,
            &loaded.snapshot,
            &controls,
            t.parse().unwrap(),
            None,
        )
        .await
        .unwrap();
    }
    let verified = verify_chain(&store, &VerifyingKeys::default(), |_, _| {})
        .await
        .unwrap();
    let r = report::build(
        &verified,
        store.uri(),
        Some("2026-01-01T00:00:00Z".parse::<Timestamp>().unwrap()),
        "2026-01-02T00:00:00Z".parse().unwrap(),
    );
    let html = dir.path().join("report.html");
    std::fs::write(&html, report::render_html(&r)).unwrap();
    let url = format!("file://{}", html.display());
    let profile = tempfile::tempdir().unwrap();
    let base = |extra: &[&str]| {
        let mut c = Command::new(browser);
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(&url);
        c.output().unwrap()
    };

    let png = dir.path().join("report.png");
    let shot = base(&[
        &format!("--screenshot={}", png.display()),
        "--window-size=1280,2400",
    ]);
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let image = std::fs::read(&png).expect("a screenshot was written");
    assert!(
        image.starts_with(b"\x89PNG") && image.len() > 10_000,
        "{} bytes",
        image.len()
    );
    let _ = std::fs::copy(
        &png,
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("evidence-report.png"),
    );

    let dom = base(&["--dump-dom"]);
    assert!(dom.status.success());
    let text = String::from_utf8_lossy(&dom.stdout);
    assert!(text.contains("SOC 2 Type II evidence report"), "{text}");
    for c in &controls {
        assert!(
            text.contains(c.metadata.name.as_deref().unwrap()),
            "control missing in {text}"
        );
    }
    for run in [&shot, &dom] {
        let console = console_errors(&String::from_utf8_lossy(&run.stderr));
        assert!(console.is_empty(), "console errors: {console:?}");
    }

    // The detector itself: a page that logs an error and loads a remote image is caught.
    let bad = dir.path().join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'\"><script>console.error('planted')</script><img src=\"http://127.0.0.1:9/x.png\">",
    )
    .unwrap();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", bad.display()))
        .output()
        .unwrap();
    let caught = console_errors(&String::from_utf8_lossy(&out.stderr));
    assert!(
        !caught.is_empty(),
        "the planted console error was not detected: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn console_errors(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Refused to") || l.contains("net::ERR"))
        .map(str::to_string)
        .collect()
}

/// What a probe script measures in the rendered page (the report itself runs no script: the test copy relaxes its
/// Content-Security-Policy to run this one).
const PROBE: &str = r#"<script>
const out = {scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth,
             timelines: []};
for (const svg of document.querySelectorAll('svg.timeline')) {
  const states = {};
  let cells = 0;
  for (const r of svg.querySelectorAll('rect')) {
    const n = Number(r.dataset.samples);
    cells += n;
    states[r.dataset.state] = (states[r.dataset.state] || 0) + n;
  }
  out.timelines.push({control: svg.dataset.control, expected: Number(svg.dataset.samples), cells, states,
                      width: svg.getBoundingClientRect().width});
}
const pre = document.createElement('pre');
pre.id = 'probe';
pre.textContent = JSON.stringify(out);
document.body.appendChild(pre);
</script>"#;

/// A scheduled chain with failing windows, an exception and a gap: the timeline of every control has one cell per
/// sample in the state the report computed, the strips span the page, and nothing overflows 1280 px.
#[tokio::test]
async fn the_timeline_matches_the_samples_and_nothing_overflows_at_1280_px() {
    use soc2_operator::evidence::collect::{OperationBaseline, control_documents};
    use soc2_operator::evidence::schedule::{Schedule, snapshot_id};
    use soc2_operator::evidence::snapshot::{SnapshotInput, write_snapshot};
    use soc2_operator::evidence::{ClusterIdentity, report::SampleState};

    let Some(browser) = chromium() else {
        eprintln!(
            "SKIPPED: chromium is not installed (apt-get install -y chromium; .ci/run installs it)"
        );
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cluster = load_paths(&[
        root.join("examples/cluster"),
        root.join("examples/exceptions"),
    ])
    .unwrap()
    .snapshot;
    let empty = soc2_operator::view::ClusterSnapshot::default();
    let controls = load_paths(&[root.join("config/controls")])
        .unwrap()
        .controls;
    let dir = tempfile::tempdir().unwrap();
    let store =
        EvidenceStoreClient::connect(&StoreLocation::Filesystem(dir.path().join("ev"))).unwrap();
    let schedule = Schedule::parse(Some("1h"), None).unwrap();
    // Failing, then remediated (an empty cluster), then failing again after a 3-hour outage.
    for (t, view) in [
        ("2026-12-01T00:00:00Z", &cluster),
        ("2026-12-01T01:00:00Z", &cluster),
        ("2026-12-01T02:00:00Z", &empty),
        ("2026-12-01T06:00:00Z", &cluster),
        ("2026-12-01T07:00:00Z", &cluster),
    ] {
        let tick: Timestamp = t.parse().unwrap();
        let documents = control_documents(
            &snapshot_id(tick),
            &controls,
            tick,
            |_| view.clone(),
            None,
            &mut OperationBaseline::default(),
        )
        .unwrap();
        write_snapshot(
            &store,
            SnapshotInput {
                source: "test".into(),
                cluster: ClusterIdentity {
                    uid: "u".into(),
                    server_version: "v1.33.1".into(),
                },
                tick,
                documents,
                schedule: Some(&schedule),
                gap_reason: Some("evidence store unavailable".into()),
                signing_key: None,
                access_reviews: Vec::new(),
            },
        )
        .await
        .unwrap();
    }
    let verified = verify_chain(&store, &VerifyingKeys::default(), |_, _| {})
        .await
        .unwrap();
    let r = report::build_at(
        &verified,
        store.uri(),
        Some("2026-12-01T00:00:00Z".parse().unwrap()),
        "2026-12-01T09:59:59Z".parse().unwrap(),
        "2026-12-07T00:00:00Z".parse().unwrap(),
    );
    assert_eq!(
        r.coverage.not_covered.len(),
        2,
        "{:?}",
        r.coverage.not_covered
    );
    let html = report::render_html(&r);
    let plain = dir.path().join("report.html");
    std::fs::write(&plain, &html).unwrap();
    let probed = dir.path().join("probed.html");
    std::fs::write(
        &probed,
        html.replace(
            "default-src 'none'; style-src 'unsafe-inline'",
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'",
        )
        .replace("</body>", &format!("{PROBE}</body>")),
    )
    .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let run = |url: &Path, extra: &[&str]| {
        Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
                "--enable-logging=stderr",
                "--v=0",
                "--window-size=1280,2000",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(format!("file://{}", url.display()))
            .output()
            .unwrap()
    };
    let png = dir.path().join("timeline.png");
    let shot = run(&plain, &[&format!("--screenshot={}", png.display())]);
    assert!(shot.status.success());
    let _ = std::fs::copy(
        &png,
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("evidence-report-timeline.png"),
    );
    let console = console_errors(&String::from_utf8_lossy(&shot.stderr));
    assert!(console.is_empty(), "console errors: {console:?}");

    let dom = run(&probed, &["--dump-dom"]);
    assert!(dom.status.success());
    let text = String::from_utf8_lossy(&dom.stdout);
    let json = text
        .split("<pre id=\"probe\">")
        .nth(1)
        .and_then(|t| t.split("</pre>").next())
        .unwrap_or_else(|| panic!("no probe output in {text}"))
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">");
    let probe: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(
        probe["scrollWidth"].as_u64().unwrap() <= probe["clientWidth"].as_u64().unwrap(),
        "horizontal overflow at 1280 px: {probe}"
    );
    let timelines = probe["timelines"].as_array().unwrap();
    assert_eq!(timelines.len(), r.controls.len());
    for (t, c) in timelines.iter().zip(&r.controls) {
        assert_eq!(t["control"], c.control.as_str());
        assert_eq!(t["expected"].as_u64().unwrap() as usize, c.timeline.len());
        assert_eq!(t["cells"], t["expected"], "{t}");
        assert!(t["width"].as_f64().unwrap() > 800.0, "{t}");
        for state in [
            SampleState::Compliant,
            SampleState::Excepted,
            SampleState::Failing,
            SampleState::NotCovered,
        ] {
            let name = serde_json::to_value(state).unwrap();
            let expected = c.timeline.iter().filter(|s| s.state == state).count() as u64;
            let drawn = t["states"][name.as_str().unwrap()].as_u64().unwrap_or(0);
            assert_eq!(drawn, expected, "{} {name}: {t}", c.control);
        }
    }
    assert!(
        r.controls.iter().any(|c| {
            c.timeline.iter().any(|s| s.state == SampleState::Failing)
                && c.timeline.iter().any(|s| s.state == SampleState::Compliant)
        }),
        "some control fails, is remediated and fails again"
    );
}
