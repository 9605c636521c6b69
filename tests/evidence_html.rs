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
