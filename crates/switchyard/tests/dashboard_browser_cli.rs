//! The dashboard in a real browser: headless Chromium, driven through Selenium by
//! tests/python/dashboard_browser.py, at a `switchyard run` against the fake Discord. The
//! script checks what a person at the page sees (shard count, the events/s chart moving under
//! load, a dropped shard resuming and active again, the SHUTDOWN button reaching a service,
//! axe-core finding no serious violation, no horizontal overflow at 1280x800 and 390x844)
//! and leaves screenshots in a directory this test prints.
//!
//! Needs `chromium` and `chromium-driver` (Debian), `selenium` and `redis` in the test Python
//! (.ci/requirements.txt) and axe-core from npm (`.ci/npm`); .ci/run installs them all, and
//! the test fails, saying how to install what is missing, without them.

use std::path::{Path, PathBuf};

use switchyard_sim::{Sim, SimConfig};
use switchyard_testkit::{python_with, require_binary};

mod dashboard_run;

/// The axe-core version .ci/run installs.
const AXE: &str = "axe-core@4.14.1";

/// Where axe.min.js is: `SWITCHYARD_AXE_JS`, or where .ci/run installs it.
fn axe_js() -> PathBuf {
    if let Some(path) = std::env::var_os("SWITCHYARD_AXE_JS") {
        return PathBuf::from(path);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../.ci/npm/node_modules/axe-core/axe.min.js");
    assert!(
        path.is_file(),
        "this test needs axe-core: run `npm install --prefix .ci/npm {AXE}` at the workspace root \
         (.ci/run does this), or set SWITCHYARD_AXE_JS to an axe.min.js"
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_works_in_a_real_browser() {
    let chromium = require_binary("chromium");
    let chromedriver = require_binary("chromedriver");
    let python = python_with(&["selenium", "redis"]);
    let axe = axe_js();

    let mut config = SimConfig::fast();
    config.shards = 2;
    config.world.guilds = 4;
    let sim = Sim::start(config).await.expect("sim");
    let dir = tempfile::tempdir().expect("temp dir");
    let run = dashboard_run::start(&sim, dir.path(), &[]).await;

    // Kept after the test, for a person to look at.
    let shots = std::env::temp_dir().join(format!("switchyard-dashboard-{}", std::process::id()));
    std::fs::create_dir_all(&shots).expect("screenshot directory");
    println!("screenshots in {}", shots.display());

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/dashboard_browser.py");
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .args([
            "--admin",
            run.admin.as_str(),
            "--sim",
            sim.http_url(),
            "--resp",
            run.resp.as_str(),
        ])
        .arg("--axe")
        .arg(&axe)
        .arg("--shots")
        .arg(&shots)
        .args(["--shards", "2"])
        .arg("--chromium")
        .arg(&chromium)
        .arg("--chromedriver")
        .arg(&chromedriver)
        .kill_on_drop(true)
        .output()
        .await
        .expect("the Selenium script runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{said}");
    assert!(
        out.status.success(),
        "the browser checks failed (screenshots in {}):\n{said}\n----- switchyard run:\n{}",
        shots.display(),
        run.proc.output()
    );
    assert!(said.contains("all checks passed"), "{said}");
    for shot in ["dashboard-1280x800.png", "dashboard-390x844.png"] {
        let size = std::fs::metadata(shots.join(shot)).map_or(0, |m| m.len());
        assert!(size > 1_000, "screenshot {shot}: {size} bytes");
    }
}
