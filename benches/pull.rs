//! In-process pulls through the library (no process start): cold, warm by
//! tag, warm by digest, against the test registry on loopback. Run with
//! `cargo bench --bench pull`; compare with benches/oci_vs_helm.py, which
//! times whole processes against `helm pull`.

// The tests' support module: its registries are what this measures against.
#[path = "../tests/support/mod.rs"]
mod support;
use support::testenv;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chainctl_core::{ChartCache, ChartSource, Client, RegistryOptions, diagnostic_call};
use serde_json::json;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let reg = testenv::Registries::start();
    let work = tempfile::tempdir().unwrap();
    let chart = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/charts/hello");
    let packaged = diagnostic_call(
        "chart.package",
        &json!({ "path": chart, "destDir": work.path() }).to_string(),
        None,
    )
    .unwrap();
    let registry = RegistryOptions {
        plain_http: true,
        config_file: Some(work.path().join("config.json")),
        ..Default::default()
    };
    let push = json!({ "ref": format!("{}/bench/hello:0.1.0", reg.plain), "chart": packaged["path"], "registry": registry_wire(&registry) });
    diagnostic_call("registry.push", &push.to_string(), None).unwrap();

    let client = |cache: &std::path::Path| {
        Client::builder()
            .registry(registry.clone())
            .chart_cache(ChartCache::open(cache).unwrap())
            .build()
            .unwrap()
    };
    let tagged = ChartSource::oci(&format!("oci://{}/bench/hello:0.1.0", reg.plain), None).unwrap();
    let warm_dir = work.path().join("warm");
    let warm = client(&warm_dir);
    let digest = warm.pull(&tagged).unwrap().manifest_digest;
    let pinned =
        ChartSource::oci(&format!("oci://{}/bench/hello@{digest}", reg.plain), None).unwrap();

    let runs = 50;
    let (mut cold, mut by_tag, mut by_digest) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs {
        let fresh = client(&work.path().join(format!("cold-{i}")));
        let t = Instant::now();
        assert!(!fresh.pull(&tagged).unwrap().cached);
        cold.push(t.elapsed());
        let t = Instant::now();
        assert!(warm.pull(&tagged).unwrap().cached);
        by_tag.push(t.elapsed());
        let t = Instant::now();
        assert!(warm.pull(&pinned).unwrap().cached);
        by_digest.push(t.elapsed());
    }
    println!("in-process pulls through the library, median of {runs}:");
    println!("  cold (by tag):     {:?}", median(cold));
    println!("  warm (by tag):     {:?}", median(by_tag));
    println!("  warm (by digest):  {:?}", median(by_digest));
}

/// RegistryOptions as the shim's JSON, for the raw push above.
fn registry_wire(r: &RegistryOptions) -> serde_json::Value {
    json!({ "plainHttp": r.plain_http, "configFile": r.config_file })
}
