//! One process deploying many releases: one [`Client`] and one [`Deployer`]
//! (recorded in a state file, as the CLI records) install COUNT releases of
//! a chart, one after another. The library's own speed: what a program that
//! links chainctl-core saves over starting `helm install` once per release.
//!
//! benches/deploy_many.py starts the API server, runs this binary against
//! it and 20 `helm install` processes, and prints the comparison:
//!
//! ```text
//! python3 benches/deploy_many.py [--runs 3]
//! ```
//!
//! Run by hand (`cargo bench --bench deploy_many` runs nothing without
//! `--kubeconfig`):
//!
//! ```text
//! deploy_many --kubeconfig FILE [--context NAME] --namespace NS --state FILE \
//!     --chart DIR [--count 20] [--prefix r]
//! ```
//!
//! Prints one JSON line: the wall time of the deploys (from before the
//! client is built to after the last record is written) and their count.
//! With DEPLOY_MANY_DETAIL set, also each install's time on stderr; with
//! DEPLOY_MANY_CLIENT_ONLY set, the installs go through `Client::install`
//! alone (no Deployer, no record): a diagnostic, not the benchmark.

use std::path::PathBuf;
use std::time::Instant;

use chainctl_core::{
    Approval, ChartSource, Client, Deployer, LazyStateStore, ReleaseOptions, SourceChoice, Storage,
};

struct Args {
    kubeconfig: PathBuf,
    context: Option<String>,
    namespace: String,
    state: PathBuf,
    chart: PathBuf,
    count: usize,
    prefix: String,
}

fn parse() -> Option<Args> {
    let mut kubeconfig = None;
    let mut context = None;
    let mut namespace = None;
    let mut state = None;
    let mut chart = None;
    let mut count = 20;
    let mut prefix = "r".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| panic!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--kubeconfig" => kubeconfig = Some(PathBuf::from(value())),
            "--context" => context = Some(value()),
            "--namespace" => namespace = Some(value()),
            "--state" => state = Some(PathBuf::from(value())),
            "--chart" => chart = Some(PathBuf::from(value())),
            "--count" => count = value().parse().expect("--count is a number"),
            "--prefix" => prefix = value(),
            // `cargo bench` passes --bench.
            _ => {}
        }
    }
    Some(Args {
        kubeconfig: kubeconfig?,
        context,
        namespace: namespace.expect("--namespace"),
        state: state.expect("--state"),
        chart: chart.unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/examples/charts/hello"
            ))
        }),
        count,
        prefix,
    })
}

fn main() {
    let Some(args) = parse() else {
        eprintln!("deploy_many needs an API server: run python3 benches/deploy_many.py");
        return;
    };
    let start = Instant::now();
    let mut builder = Client::builder()
        .storage(Storage::Secret)
        .kubeconfig(&args.kubeconfig);
    if let Some(context) = &args.context {
        builder = builder.kube_context(context);
    }
    let client = builder.build().expect("a client");
    let mut deployer = Deployer::new(client, LazyStateStore::at(&args.state));
    let chart = ChartSource::bundle(&args.chart).expect("the chart");
    let built = start.elapsed();
    let mut each = Vec::with_capacity(args.count);
    for i in 0..args.count {
        let t = Instant::now();
        let opts = ReleaseOptions::builder(format!("{}{i}", args.prefix), &args.namespace)
            .create_namespace(true)
            .build()
            .expect("release options");
        if std::env::var_os("DEPLOY_MANY_CLIENT_ONLY").is_some() {
            // A diagnostic: the same install without the Deployer (no record).
            let report = deployer
                .client()
                .install(&chart, &opts)
                .expect("an install");
            assert_eq!(report.release.revision, 1);
        } else {
            let deployed = deployer
                .install(SourceChoice::Given(chart.clone()), &opts, Approval::Given)
                .expect("an install");
            assert_eq!(deployed.report.release.revision, 1);
        }
        each.push(t.elapsed());
    }
    if std::env::var_os("DEPLOY_MANY_DETAIL").is_some() {
        let ms: Vec<String> = each.iter().map(|d| format!("{}", d.as_millis())).collect();
        eprintln!(
            "client built in {} ms; installs (ms): {}",
            built.as_millis(),
            ms.join(" ")
        );
    }
    let wall = start.elapsed();
    println!(
        "{{\"count\": {}, \"wall_seconds\": {:.6}}}",
        args.count,
        wall.as_secs_f64()
    );
}
