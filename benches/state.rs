//! How the state store scales: `record()` and a full load on state files of
//! 100, 10,000 and 100,000 records (100 per release, the default history).
//!
//! ```text
//! cargo bench --bench state                 # all sizes
//! cargo bench --bench state -- 100 10000    # some sizes
//! CHAINCTL_BENCH_DIR=/var/tmp cargo bench --bench state   # on another file system
//! ```
//!
//! A plain `main` (no criterion): each measurement is one operation repeated
//! a few times on the real file system, fsync included, and the median is
//! what matters; a statistics framework would add a dependency and minutes
//! of runtime to say the same.

use std::path::Path;
use std::time::{Duration, Instant};

use chainctl_core::state::{
    Action, ChartInfo, ExecutionStateRecord, OciSource, PhaseDurations, RecordSource, StateFile,
    StateStore, StateStoreOptions, Timestamp, ToolVersions,
};

const PER_RELEASE: usize = 100;

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![100, 10_000, 100_000]
    } else {
        sizes
    };
    let base = std::env::var_os("CHAINCTL_BENCH_DIR")
        .map(Into::into)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(&base).expect("a temporary directory");
    println!("state store benchmark in {}", base.display());
    println!(
        "{:>8} {:>10} {:>11} {:>11} {:>12} {:>14}",
        "records", "file size", "open+load", "load only", "record()", "record() after"
    );
    println!(
        "{:>8} {:>10} {:>11} {:>11} {:>12} {:>14}",
        "", "", "(median)", "(median)", "(median)", "another writer"
    );
    for n in sizes {
        let path = dir.path().join(format!("state-{n}.json"));
        write_state(&path, n);
        // One record rewrites the file in the store's own layout.
        let mut first = StateStore::open(&path, StateStoreOptions::default()).unwrap();
        first.record(sample(0, n)).unwrap();
        drop(first);
        let size = std::fs::metadata(&path).unwrap().len();
        let reps = if n >= 100_000 { 3 } else { 9 };

        let open = median(reps, || {
            StateStore::open(&path, StateStoreOptions::default()).unwrap();
        });
        let load = median(reps, || {
            StateStore::load(&path).unwrap();
        });

        let mut store = StateStore::open(&path, StateStoreOptions::default()).unwrap();
        let mut i = 0;
        let record = median(reps * 3, || {
            i += 1;
            store
                .record(sample(i % (n / PER_RELEASE).max(1), i))
                .unwrap();
        });

        // Another process wrote in between: record() must re-read and check.
        let mut other = StateStore::open(&path, StateStoreOptions::default()).unwrap();
        let mut times = Vec::new();
        for _ in 0..reps {
            i += 1;
            other.record(sample(0, i)).unwrap();
            i += 1;
            let rec = sample(1 % (n / PER_RELEASE).max(1), i);
            let start = Instant::now();
            store.record(rec).unwrap();
            times.push(start.elapsed());
        }
        let contended = middle(times);

        println!(
            "{n:>8} {:>10} {:>11} {:>11} {:>12} {:>14}",
            human(size),
            ms(open),
            ms(load),
            ms(record),
            ms(contended)
        );
    }
}

/// A state file of `n` records (pretty-printed; the store rewrites it in
/// its own layout on the first record).
fn write_state(path: &Path, n: usize) {
    let mut state = StateFile::default();
    let releases = n.div_ceil(PER_RELEASE);
    let mut made = 0;
    for r in 0..releases {
        let take = PER_RELEASE.min(n - made);
        let history: Vec<_> = (0..take).map(|i| sample(r, i)).collect();
        made += take;
        let release = state
            .releases
            .entry(StateFile::key(None, &format!("release-{r}"), "bench"))
            .or_default();
        release.current = history.last().cloned();
        release.history = history;
    }
    let mut bytes = serde_json::to_vec_pretty(&state).unwrap();
    bytes.push(b'\n');
    std::fs::write(path, bytes).unwrap();
}

/// A record with every field a real OCI upgrade fills in.
fn sample(release: usize, i: usize) -> ExecutionStateRecord {
    let started = Timestamp::from_unix_millis(1_776_161_472_345 + i as i64 * 60_000);
    let mut rec = ExecutionStateRecord::new(Action::Upgrade, format!("release-{release}"), "bench");
    rec.kube_context = Some("prod-eu-west-1".into());
    rec.source = Some(RecordSource::Oci(OciSource {
        reference: "oci://registry.example.com:5000/platform/charts/release".into(),
        requested_version: Some("^1.4".into()),
        resolved_version: Some(format!("1.4.{}", i % 30)),
        manifest_digest: Some(format!("sha256:{:064x}", i * 7919 + 1)),
        chart_digest: Some(format!("sha256:{:064x}", i * 104_729 + 3)),
    }));
    rec.chart = Some(ChartInfo {
        name: "release".into(),
        version: format!("1.4.{}", i % 30),
        app_version: Some("2.31.0".into()),
    });
    rec.helm_revision = Some(i as u32 + 1);
    rec.helm_status = Some("deployed".into());
    rec.values_digest = Some(format!("sha256:{:064x}", i * 31 + 5));
    rec.started_at = started;
    rec.finished_at = Timestamp::from_unix_millis(started.unix_millis() + 8_421);
    rec.duration_ms = 8_421;
    rec.phases_ms = PhaseDurations {
        resolve: Some(41),
        pull: Some(620),
        render: Some(88),
        apply: Some(1_672),
        wait: Some(6_000),
    };
    rec.operator = "ci-runner".into();
    rec.tool_versions = ToolVersions {
        chainctl: "0.1.0".into(),
        helm: Some("v3.17.3".into()),
        go: Some("go1.24.2".into()),
    };
    rec
}

fn median(reps: usize, mut f: impl FnMut()) -> Duration {
    let times = (0..reps)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    middle(times)
}

fn middle(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn human(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}
