//! Every release action against a real Kubernetes API server (etcd and
//! kube-apiserver built from the Go module proxy by tests/testenv), through
//! the library and through the CLI.
//!
//! The cluster has no controller-manager, scheduler or kubelet: objects are
//! stored and validated, but nothing runs them, so a Deployment never
//! becomes ready (which the --wait tests rely on) and a deleted namespace
//! stays Terminating. Every test uses namespaces of its own.

mod support;
use support::{
    client, client_for, hello_dir, helm, kill_while_pending, namespace, pty, testenv,
    wait_for_status, waiting_install,
};

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use chainctl_core::state::{Action, Outcome};
use chainctl_core::{
    ChartSource, Client, Error, ReleaseOptions, ReleaseRef, RollbackOptions, StateStore, Storage,
    UninstallOptions,
};
use serde_json::Value;
use support::chainctl::{Sandbox, chainctl};
use testenv::Cluster;

/// What Helm calls --atomic in its messages: helm 4 renamed it.
const ATOMIC: &str = if cfg!(feature = "helm-v4") {
    "rollback-on-failure"
} else {
    "atomic"
};

fn no_workloads_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/charts/no-workloads")
}

fn bundle(dir: &Path) -> ChartSource {
    ChartSource::bundle(dir).unwrap()
}

fn opts(release: &str, ns: &str) -> chainctl_core::ReleaseOptionsBuilder {
    ReleaseOptions::builder(release, ns).create_namespace(true)
}

fn release(name: &str, ns: &str) -> ReleaseRef {
    ReleaseRef::new(name, ns).unwrap()
}

/// The ConfigMap as the API server has it (None: 404).
fn configmap(cluster: &Cluster, ns: &str, name: &str) -> Option<Value> {
    let (status, body) = cluster.get(&format!("/api/v1/namespaces/{ns}/configmaps/{name}"));
    match status {
        200 => Some(body),
        404 => None,
        other => panic!("GET configmap {ns}/{name}: {other} {body}"),
    }
}

/// Packages a chart at each version, pushes it to the plain registry and
/// returns its oci:// reference (without a tag).
fn push(cluster: &Cluster, dir: &Path, repo: &str, versions: &[&str]) -> String {
    let name = dir.file_name().unwrap().to_str().unwrap();
    cluster.env.push_chart(false, repo, name, dir, versions);
    format!("oci://{}/{repo}/{name}", cluster.env.plain)
}

// ---------------------------------------------------------------- library

#[test]
fn library_install_upgrade_history_rollback_uninstall_from_a_bundle() {
    let cluster = Cluster::shared();
    let c = client(cluster);
    let ns = namespace("lib-bundle");
    let rel = release("web", &ns);

    let installed = c
        .install(
            &bundle(&hello_dir()),
            &opts("web", &ns).set("greeting=one").build().unwrap(),
        )
        .unwrap();
    assert!(installed.installed);
    assert_eq!(
        (
            installed.release.revision,
            installed.release.status.as_str()
        ),
        (1, "deployed")
    );
    let cm = configmap(cluster, &ns, "web-hello").expect("the ConfigMap was created");
    assert_eq!(cm["data"]["greeting"], "one");
    // The namespace was created (--create-namespace).
    assert_eq!(cluster.get(&format!("/api/v1/namespaces/{ns}")).0, 200);

    // Upgrade: values change.
    let upgraded = c
        .upgrade(
            &bundle(&hello_dir()),
            &opts("web", &ns).set("greeting=two").build().unwrap(),
        )
        .unwrap();
    assert!(!upgraded.installed);
    assert_eq!(upgraded.release.revision, 2);
    assert_eq!(
        configmap(cluster, &ns, "web-hello").unwrap()["data"]["greeting"],
        "two"
    );

    let status = c.status(&rel).unwrap();
    assert_eq!((status.revision, status.status.as_str()), (2, "deployed"));
    let history = c.history(&rel).unwrap();
    let summary: Vec<(u32, &str)> = history
        .iter()
        .map(|r| (r.revision, r.status.as_str()))
        .collect();
    assert_eq!(summary, [(1, "superseded"), (2, "deployed")]);

    // Rollback to a given revision.
    let rolled = c
        .rollback(
            &rel,
            &RollbackOptions {
                revision: Some(1),
                ..RollbackOptions::default()
            },
        )
        .unwrap();
    assert_eq!(rolled.revision, 3);
    assert_eq!(
        configmap(cluster, &ns, "web-hello").unwrap()["data"]["greeting"],
        "one"
    );
    assert_eq!(c.status(&rel).unwrap().description, "Rollback to 1");

    // Uninstall keeping history: the revisions stay, the objects go.
    let report = c
        .uninstall(
            &rel,
            &UninstallOptions {
                keep_history: true,
                ..UninstallOptions::default()
            },
        )
        .unwrap();
    assert_eq!(report.release.name, "web");
    assert!(configmap(cluster, &ns, "web-hello").is_none());
    let kept = c.history(&rel).unwrap();
    assert_eq!(kept.len(), 3);
    assert_eq!(kept.last().unwrap().status, "uninstalled");
    assert_eq!(c.status(&rel).unwrap().status, "uninstalled");

    // Without keeping history: the release is gone.
    c.uninstall(&rel, &UninstallOptions::default()).unwrap();
    assert!(matches!(c.status(&rel), Err(Error::NotFound { .. })));
    assert!(matches!(c.history(&rel), Err(Error::NotFound { .. })));
    let (status, _) = cluster.get(&format!(
        "/api/v1/namespaces/{ns}/secrets?labelSelector=owner%3Dhelm,name%3Dweb"
    ));
    assert_eq!(status, 200);
}

#[test]
fn library_install_from_oci_then_upgrade_the_chart_version() {
    let cluster = Cluster::shared();
    let cache = tempfile::tempdir().unwrap();
    let mut builder = Client::builder()
        .storage(Storage::Secret)
        .kubeconfig(&cluster.kubeconfig)
        .registry(chainctl_core::RegistryOptions {
            plain_http: true,
            config_file: Some(cache.path().join("config.json")),
            ..Default::default()
        })
        .chart_cache(chainctl_core::ChartCache::open(cache.path().join("charts")).unwrap());
    if let Some(context) = &cluster.context {
        builder = builder.kube_context(context);
    }
    let c = builder.build().unwrap();
    let oci = push(cluster, &hello_dir(), "lib-oci", &["0.1.0", "0.2.0"]);
    let ns = namespace("lib-oci");

    let first = c
        .install(
            &ChartSource::oci(&oci, Some("0.1.0")).unwrap(),
            &opts("shop", &ns).build().unwrap(),
        )
        .unwrap();
    assert_eq!(first.release.chart.version, "0.1.0");
    let pulled = first.pulled.expect("an OCI install reports the pull");
    assert!(pulled.manifest_digest.starts_with("sha256:"));
    let cm = configmap(cluster, &ns, "shop-hello").unwrap();
    assert_eq!(cm["metadata"]["labels"]["helm.sh/chart"], "hello-0.1.0");

    // Upgrade: the chart version changes (a constraint picks the newest).
    let second = c
        .upgrade(
            &ChartSource::oci(&oci, Some("^0.2")).unwrap(),
            &opts("shop", &ns).build().unwrap(),
        )
        .unwrap();
    assert_eq!(
        (
            second.release.revision,
            second.release.chart.version.as_str()
        ),
        (2, "0.2.0")
    );
    let cm = configmap(cluster, &ns, "shop-hello").unwrap();
    assert_eq!(cm["metadata"]["labels"]["helm.sh/chart"], "hello-0.2.0");
}

#[test]
fn library_upgrade_with_install_if_missing_installs_then_upgrades() {
    let cluster = Cluster::shared();
    let c = client(cluster);
    let ns = namespace("lib-upinst");
    let o = opts("auto", &ns).install_if_missing(true).build().unwrap();
    let source = bundle(&no_workloads_dir());
    let first = c.upgrade(&source, &o).unwrap();
    assert!(first.installed, "the missing release is installed");
    assert_eq!(first.release.revision, 1);
    let second = c.upgrade(&source, &o).unwrap();
    assert!(!second.installed);
    assert_eq!(second.release.revision, 2);

    // Without install-if-missing, upgrading a missing release is NotFound.
    let err = c
        .upgrade(&source, &opts("never", &ns).build().unwrap())
        .unwrap_err();
    // The library reports the missing deployed revision as data; --install
    // is the CLI's advice.
    assert!(
        matches!(
            err,
            Error::NotFound {
                missing: chainctl_core::Missing::DeployedRevision { .. },
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn library_server_dry_run_validates_and_stores_nothing() {
    let cluster = Cluster::shared();
    let c = client(cluster);
    let ns = namespace("lib-dry");
    // The namespace must exist for the server to validate into it.
    c.install(
        &bundle(&no_workloads_dir()),
        &opts("base", &ns).build().unwrap(),
    )
    .unwrap();

    let report = c
        .install(
            &bundle(&hello_dir()),
            &ReleaseOptions::builder("dry", &ns)
                .dry_run(chainctl_core::DryRun::Server)
                .build()
                .unwrap(),
        )
        .unwrap();
    assert!(report.release.manifest.contains("kind: ConfigMap"));
    assert!(matches!(
        c.status(&release("dry", &ns)),
        Err(Error::NotFound { .. })
    ));
    assert!(
        configmap(cluster, &ns, "dry-hello").is_none(),
        "a dry run creates nothing"
    );

    // With the server, a chart's `lookup` sees what is in the cluster; a
    // client-side render sees nothing.
    let probe = |mode| {
        c.install(
            &bundle(&no_workloads_dir()),
            &ReleaseOptions::builder("probe", &ns)
                .dry_run(mode)
                .set("lookup=base-settings")
                .build()
                .unwrap(),
        )
        .unwrap()
        .release
        .manifest
    };
    let server = probe(chainctl_core::DryRun::Server);
    assert!(server.contains(r#"lookedUp: "ready at once""#), "{server}");
    let client_side = probe(chainctl_core::DryRun::Client);
    assert!(
        client_side.contains(r#"lookedUp: "nothing""#),
        "{client_side}"
    );

    // An upgrade dry run against the server reports the next revision and
    // changes nothing.
    let report = c
        .upgrade(
            &bundle(&no_workloads_dir()),
            &ReleaseOptions::builder("base", &ns)
                .dry_run(chainctl_core::DryRun::Server)
                .set("message=changed")
                .build()
                .unwrap(),
        )
        .unwrap();
    assert_eq!(report.release.revision, 2);
    assert!(report.release.manifest.contains(r#"message: "changed""#));
    assert_eq!(c.status(&release("base", &ns)).unwrap().revision, 1);
    let cm = configmap(cluster, &ns, "base-settings").unwrap();
    assert_eq!(cm["data"]["message"], "ready at once");
    assert!(matches!(
        c.status(&release("probe", &ns)),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn library_wait_succeeds_when_everything_is_ready() {
    let cluster = Cluster::shared();
    let c = client(cluster);
    let ns = namespace("lib-wait");
    let started = Instant::now();
    let report = c
        .install(
            &bundle(&no_workloads_dir()),
            &opts("ready", &ns)
                .wait(true)
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        )
        .unwrap();
    assert_eq!(report.release.status, "deployed");
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "ConfigMaps and Services are ready at once; --wait should not use up its timeout"
    );
    let (status, svc) = cluster.get(&format!("/api/v1/namespaces/{ns}/services/ready-svc"));
    assert_eq!(status, 200);
    assert!(
        svc["spec"]["clusterIP"]
            .as_str()
            .is_some_and(|ip| !ip.is_empty())
    );
}

#[test]
fn library_wait_times_out_on_a_deployment_and_atomic_rolls_back() {
    let cluster = Cluster::shared();
    let c = client(cluster);
    let ns = namespace("lib-timeout");
    let short = |b: chainctl_core::ReleaseOptionsBuilder| b.timeout(Duration::from_secs(5));

    // --wait: the Deployment never becomes ready (no kubelet).
    let err = c
        .install(
            &bundle(&hello_dir()),
            &short(opts("slow", &ns).wait(true)).build().unwrap(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("not ready within 5s"), "{message}");
    assert!(message.contains("Deployment slow-hello"), "{message}");
    assert_eq!(c.status(&release("slow", &ns)).unwrap().status, "failed");

    // --atomic on install: the failed release is uninstalled.
    let err = c
        .install(
            &bundle(&hello_dir()),
            &short(opts("atom", &ns).atomic(true)).build().unwrap(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&format!("uninstalled due to {ATOMIC}")),
        "{err}"
    );
    assert!(matches!(
        c.status(&release("atom", &ns)),
        Err(Error::NotFound { .. })
    ));

    // --atomic on upgrade: rolled back to the last good revision.
    c.install(
        &bundle(&no_workloads_dir()),
        &opts("up", &ns).build().unwrap(),
    )
    .unwrap();
    let err = c
        .upgrade(
            &bundle(&hello_dir()),
            &short(ReleaseOptions::builder("up", &ns).atomic(true))
                .build()
                .unwrap(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&format!("rolled back due to {ATOMIC}")),
        "{err}"
    );
    let status = c.status(&release("up", &ns)).unwrap();
    assert_eq!(
        (
            status.revision,
            status.status.as_str(),
            status.chart.name.as_str()
        ),
        (3, "deployed", "no-workloads")
    );
}

/// helm 4's `--wait=watcher` (kstatus) times out on a Deployment that never
/// becomes ready as the legacy wait does, naming the Deployment.
#[test]
#[cfg_attr(
    not(feature = "helm-v4"),
    ignore = "Helm 4 only: the watcher wait strategy (cargo test --features helm-v4)"
)]
fn library_watcher_wait_times_out_naming_the_deployment() {
    use chainctl_core::WaitStrategy;
    let cluster = Cluster::shared();
    let c = client(cluster);
    let ns = namespace("lib-watcher");
    let err = c
        .install(
            &bundle(&hello_dir()),
            &opts("watched", &ns)
                .wait_strategy(WaitStrategy::Watcher)
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("Deployment watched-hello"), "{message}");
    assert_eq!(c.status(&release("watched", &ns)).unwrap().status, "failed");
}

/// Writes a chart named `name` whose only template is `manifest`.
fn chart_of(dir: &Path, name: &str, manifest: &str) -> ChartSource {
    let chart = dir.join(name);
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    let meta = format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\n");
    std::fs::write(chart.join("Chart.yaml"), meta).unwrap();
    std::fs::write(chart.join("templates/manifest.yaml"), manifest).unwrap();
    bundle(&chart)
}

/// One process keeps what the API server says of each kind's field
/// validation from call to call (go-shim/fieldvalidation.go): a kind not
/// served yet still installs from the same client once its CRD is there,
/// and the kinds known before install as before.
#[test]
fn library_a_kind_served_after_a_failed_install_installs_from_the_same_client() {
    let cluster = Cluster::shared();
    let c = client(cluster);
    let ns = namespace("late-kind");
    let group = format!("{ns}.example.test");
    let dir = tempfile::tempdir().unwrap();
    let crd = chart_of(
        dir.path(),
        "widget-crd",
        &format!(
            "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: widgets.{group}}}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: {{type: object, properties: {{size: {{type: integer}}}}}}
"
        ),
    );
    let widget = chart_of(
        dir.path(),
        "widget",
        &format!(
            "apiVersion: {group}/v1\nkind: Widget\nmetadata: {{name: {{{{ .Release.Name }}}}}}\nspec: {{size: 3}}\n"
        ),
    );
    // Kinds the server serves, asked about and known from here on.
    c.install(&bundle(&hello_dir()), &opts("first", &ns).build().unwrap())
        .unwrap();

    let err = c
        .install(&widget, &opts("early", &ns).build().unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("Widget"), "{err}");

    c.install(&crd, &opts("crd", &ns).build().unwrap()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster.get(&format!("/apis/{group}/v1")).0 != 200 {
        assert!(
            Instant::now() < deadline,
            "the CRD's group was not served in 30s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for name in ["late", "later"] {
        let report = c
            .install(&widget, &opts(name, &ns).build().unwrap())
            .unwrap();
        assert_eq!(report.release.revision, 1);
        let (status, body) =
            cluster.get(&format!("/apis/{group}/v1/namespaces/{ns}/widgets/{name}"));
        assert_eq!(
            (status, &body["spec"]["size"]),
            (200, &serde_json::json!(3)),
            "{body}"
        );
    }
    // The kinds known before install as they did.
    c.install(&bundle(&hello_dir()), &opts("second", &ns).build().unwrap())
        .unwrap();
}

#[test]
fn library_releases_are_scoped_to_their_namespace() {
    let cluster = Cluster::shared();
    let c = client(cluster);
    let (a, b) = (namespace("scope-a"), namespace("scope-b"));
    c.install(
        &bundle(&no_workloads_dir()),
        &opts("same", &a).build().unwrap(),
    )
    .unwrap();
    c.install(
        &bundle(&no_workloads_dir()),
        &opts("other", &b).build().unwrap(),
    )
    .unwrap();
    assert!(matches!(
        c.status(&release("same", &b)),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        c.history(&release("same", &b)),
        Err(Error::NotFound { .. })
    ));
    let err = c
        .uninstall(&release("same", &b), &UninstallOptions::default())
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    // The same name installs independently in b.
    c.install(
        &bundle(&no_workloads_dir()),
        &opts("same", &b).build().unwrap(),
    )
    .unwrap();
    assert_eq!(c.status(&release("same", &a)).unwrap().namespace, a);
    assert_eq!(c.status(&release("same", &b)).unwrap().namespace, b);
}

#[test]
fn library_a_token_without_rights_is_forbidden_naming_verb_and_resource() {
    let cluster = Cluster::shared();
    let ns = namespace("forbidden");
    client(cluster)
        .install(
            &bundle(&no_workloads_dir()),
            &opts("mine", &ns).build().unwrap(),
        )
        .unwrap();
    let nobody = client_for(cluster, Some(cluster.nobody()));

    let err = nobody.status(&release("mine", &ns)).unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("forbidden"), "{message}");
    assert!(
        message.contains(r#"cannot list resource "secrets""#),
        "{message}"
    );
    assert!(
        message.contains(&format!(r#"in the namespace "{ns}""#)),
        "{message}"
    );
    assert!(message.contains("RBAC"), "{message}");

    let err = nobody
        .install(
            &bundle(&no_workloads_dir()),
            &ReleaseOptions::builder("theirs", &ns).build().unwrap(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("is forbidden: User \"nobody\" cannot"),
        "{err}"
    );
    // Nothing was created.
    assert!(configmap(cluster, &ns, "theirs-settings").is_none());
}

// -------------------------------------------------------------------- CLI

/// chainctl pointed at the cluster, with a state file of the test's own.
struct Cli<'a> {
    cluster: &'a Cluster,
    sandbox: Sandbox,
}

impl<'a> Cli<'a> {
    fn new(cluster: &'a Cluster) -> Cli<'a> {
        Cli {
            cluster,
            sandbox: Sandbox::new(),
        }
    }

    fn state_path(&self) -> PathBuf {
        self.sandbox.state_path()
    }

    /// chainctl in the sandbox, pointed at the cluster.
    fn on_cluster(&self, args: &[&str]) -> Command {
        let mut cmd = self.sandbox.command(args);
        cmd.arg("--kubeconfig").arg(&self.cluster.kubeconfig);
        if let Some(context) = &self.cluster.context {
            cmd.args(["--kube-context", context]);
        }
        cmd
    }

    /// As [`on_cluster`](Self::on_cluster), with no terminal to ask on.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.on_cluster(args);
        cmd.stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs and expects exit code `code`; returns stdout.
    fn expect(&self, code: i32, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "chainctl {args:?}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.expect(0, &all)).unwrap()
    }

    fn state(&self) -> chainctl_core::state::StateFile {
        StateStore::load(self.state_path()).unwrap()
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn cli_every_action_against_the_api_server_is_recorded() {
    let cluster = Cluster::shared();
    let cli = Cli::new(cluster);
    let ns = namespace("cli-matrix");
    let hello = hello_dir();
    let hello = hello.to_str().unwrap();
    let base = ["--release", "app", "-n", ns.as_str()];
    let with = |extra: &[&str]| -> Vec<String> {
        extra
            .iter()
            .map(|s| s.to_string())
            .chain(base.iter().map(|s| s.to_string()))
            .collect()
    };
    let run = |code: i32, args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli.expect(code, &args)
    };

    let out = run(
        0,
        with(&[
            "app",
            "install",
            "--bundle",
            hello,
            "--create-namespace",
            "--confirm",
            "--set",
            "greeting=first",
        ]),
    );
    assert!(out.contains("install succeeded"), "{out}");
    assert!(out.contains("revision 1 (deployed)"), "{out}");
    assert_eq!(
        configmap(cluster, &ns, "app-hello").unwrap()["data"]["greeting"],
        "first"
    );

    let out = run(
        0,
        with(&[
            "app",
            "upgrade",
            "--bundle",
            hello,
            "--confirm",
            "--set",
            "greeting=second",
        ]),
    );
    assert!(out.contains("revision 2 (deployed)"), "{out}");
    assert_eq!(
        configmap(cluster, &ns, "app-hello").unwrap()["data"]["greeting"],
        "second"
    );

    let out = run(0, with(&["app", "history"]));
    assert!(
        out.contains("superseded") && out.contains("deployed"),
        "{out}"
    );
    let out = run(
        0,
        with(&["app", "rollback", "--revision", "1", "--confirm"]),
    );
    assert!(out.contains("revision: 3"), "{out}");
    assert_eq!(
        configmap(cluster, &ns, "app-hello").unwrap()["data"]["greeting"],
        "first"
    );
    // --max keeps the newest revisions, oldest first, as helm history does.
    let out = run(0, with(&["app", "history", "--max", "2"]));
    let revisions: Vec<&str> = (out.lines().skip(1))
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert_eq!(revisions, ["2", "3"], "{out}");
    let out = run(0, with(&["app", "status"]));
    assert!(
        out.contains("status: deployed") && out.contains("revision: 3"),
        "{out}"
    );

    // Every action is in the state file; current is the rollback.
    let state = cli.state();
    let rel = state.release("app", &ns).unwrap();
    let actions: Vec<Action> = rel.history.iter().map(|r| r.action).collect();
    assert_eq!(
        actions,
        [Action::Install, Action::Upgrade, Action::Rollback]
    );
    let current = rel.current.as_ref().unwrap();
    assert_eq!(
        (current.action, current.helm_revision),
        (Action::Rollback, Some(3))
    );
    assert_eq!(current.kube_context, cluster.context);

    // Uninstall, keeping history, then for good.
    run(
        0,
        with(&["app", "uninstall", "--keep-history", "--confirm"]),
    );
    assert!(configmap(cluster, &ns, "app-hello").is_none());
    let out = run(0, with(&["app", "status"]));
    assert!(out.contains("status: uninstalled"), "{out}");
    run(0, with(&["app", "uninstall", "--confirm"]));
    let out = cli.run(&["app", "status", "--release", "app", "-n", &ns]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let state = cli.state();
    let rel = state.release("app", &ns).unwrap();
    assert!(rel.current.is_none(), "uninstalled: nothing is current");
    assert_eq!(rel.history.len(), 5);

    // --dry-run=server: validated by the API server, nothing stored or recorded.
    let v = cli.json(&[
        "app",
        "install",
        "--bundle",
        hello,
        "--release",
        "dry",
        "-n",
        &ns,
        "--dry-run=server",
    ]);
    assert_eq!(v["dryRun"], "server");
    assert!(v["wouldRecord"].is_object(), "{v}");
    assert!(cli.state().release("dry", &ns).is_none());
    assert!(configmap(cluster, &ns, "dry-hello").is_none());
}

#[test]
fn cli_wait_timeout_is_recorded_and_atomic_says_it_rolled_back() {
    let cluster = Cluster::shared();
    let cli = Cli::new(cluster);
    let ns = namespace("cli-wait");
    let hello = hello_dir();
    let hello = hello.to_str().unwrap();
    let fixture = no_workloads_dir();
    let fixture = fixture.to_str().unwrap();

    // A chart of a ConfigMap and a Service succeeds with --wait.
    cli.expect(
        0,
        &[
            "app",
            "install",
            "--bundle",
            fixture,
            "--release",
            "calm",
            "-n",
            &ns,
            "--create-namespace",
            "--wait",
            "--timeout",
            "60s",
            "--confirm",
        ],
    );

    // A Deployment never becomes ready: exit 5, the timeout kind, recorded.
    let out = cli.run(&[
        "app",
        "install",
        "--bundle",
        hello,
        "--release",
        "stuck",
        "-n",
        &ns,
        "--wait",
        "--timeout",
        "10s",
        "--confirm",
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "timeout", "{v}");
    let state = cli.state();
    let rec = state
        .release("stuck", &ns)
        .unwrap()
        .history
        .last()
        .unwrap()
        .clone();
    assert_eq!(rec.outcome, Outcome::Failed);
    assert_eq!(
        rec.error.as_ref().unwrap().kind,
        chainctl_core::ErrorKind::Timeout
    );
    assert!(state.release("stuck", &ns).unwrap().current.is_none());

    // --atomic upgrade of the calm release to the chart with a Deployment:
    // rolled back, and chainctl says so.
    let out = cli.run(&[
        "app",
        "upgrade",
        "--bundle",
        hello,
        "--release",
        "calm",
        "-n",
        &ns,
        "--atomic",
        "--timeout",
        "10s",
        "--confirm",
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("rolled back due to {ATOMIC}")),
        "{}",
        stderr(&out)
    );
    let status = cli.json(&["app", "status", "--release", "calm", "-n", &ns]);
    assert_eq!(status["release"]["revision"], 3, "{status}");
    assert_eq!(status["release"]["status"], "deployed");
    assert_eq!(status["release"]["chart"]["name"], "no-workloads");
    let state = cli.state();
    let calm = state.release("calm", &ns).unwrap();
    assert_eq!(calm.history.last().unwrap().outcome, Outcome::Failed);
    assert_eq!(
        calm.current.as_ref().unwrap().helm_revision,
        Some(1),
        "the failed upgrade does not replace current"
    );
}

#[test]
fn cli_forbidden_and_namespace_scoping() {
    let cluster = Cluster::shared();
    let cli = Cli::new(cluster);
    let ns = namespace("cli-forbid");
    let fixture = no_workloads_dir();
    let fixture = fixture.to_str().unwrap();
    cli.expect(
        0,
        &[
            "app",
            "install",
            "--bundle",
            fixture,
            "--release",
            "svc",
            "-n",
            &ns,
            "--create-namespace",
            "--confirm",
        ],
    );

    // Another namespace does not see it.
    let out = cli.run(&["app", "status", "--release", "svc", "-n", "default"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));

    // A token without rights: exit 4, naming the verb and the resource.
    // (Not cli.on_cluster: that adds the admin context.)
    let mut cmd = cli.sandbox.command(&[
        "app",
        "upgrade",
        "--bundle",
        fixture,
        "--release",
        "svc",
        "-n",
        &ns,
        "--confirm",
    ]);
    cmd.arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .args(["--kube-context", cluster.nobody()]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("access denied"), "{err}");
    assert!(
        err.contains(r#"User "nobody" cannot"#) && err.contains(r#"resource "secrets""#),
        "{err}"
    );
    assert!(!err.contains("goroutine"), "no Go stack trace: {err}");
    // The failure is recorded; the release is untouched.
    let state = cli.state();
    let svc = state.release("svc", &ns).unwrap();
    assert_eq!(svc.history.last().unwrap().outcome, Outcome::Failed);
    assert_eq!(
        cli.json(&["app", "status", "--release", "svc", "-n", &ns])["release"]["revision"],
        1
    );
}

#[test]
fn a_release_stuck_pending_is_reported_with_the_command_that_recovers_it() {
    let cluster = Cluster::shared();
    let cli = Cli::new(cluster);
    let c = client(cluster);
    let ns = namespace("pending");
    let hello = hello_dir();
    let hello = hello.to_str().unwrap();

    // An install killed while it waits stays pending-install.
    let install = cli.cmd(&waiting_install(hello, &ns));
    let rel = release("cut", &ns);
    kill_while_pending(install, &c, &rel);

    let pending = c.pending(&rel).unwrap().expect("the release is pending");
    assert_eq!((pending.revision, pending.rollback_to), (1, None));
    let err = c
        .upgrade(
            &bundle(&hello_dir()),
            &ReleaseOptions::builder("cut", &ns).build().unwrap(),
        )
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("stuck in pending-install at revision 1"),
        "{message}"
    );
    // The library says which revision is stuck and that none was deployed
    // before it; the command that recovers it is the CLI's advice (below).
    let pending = err
        .pending()
        .expect("the error carries the pending revision");
    assert_eq!((pending.revision, pending.rollback_to), (1, None));
    let out = cli.run(&["app", "status", "--release", "cut", "-n", &ns]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("pending-install"), "{text}");
    assert!(
        text.contains(&format!("chainctl app uninstall --release cut -n {ns}")),
        "status names the recovery: {text}"
    );
    // Following the advice recovers.
    cli.expect(
        0,
        &[
            "app",
            "uninstall",
            "--release",
            "cut",
            "-n",
            &ns,
            "--confirm",
        ],
    );
    cli.expect(
        0,
        &[
            "app",
            "install",
            "--bundle",
            hello,
            "--release",
            "cut",
            "-n",
            &ns,
            "--confirm",
        ],
    );

    // An upgrade killed while it waits stays pending-upgrade: roll back.
    let mut child = cli
        .cmd(&[
            "app",
            "upgrade",
            "--bundle",
            hello,
            "--release",
            "cut",
            "-n",
            &ns,
            "--set",
            "greeting=x",
            "--wait",
            "--timeout",
            "5m",
            "--confirm",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_status(&c, &rel, "pending-upgrade");
    child.kill().unwrap();
    child.wait().unwrap();
    let out = cli.run(&[
        "app",
        "upgrade",
        "--bundle",
        hello,
        "--release",
        "cut",
        "-n",
        &ns,
        "--confirm",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let recovery = format!("chainctl app rollback --release cut -n {ns} --revision 1");
    assert!(stderr(&out).contains(&recovery), "{}", stderr(&out));
    cli.expect(
        0,
        &[
            "app",
            "rollback",
            "--release",
            "cut",
            "-n",
            &ns,
            "--revision",
            "1",
            "--confirm",
        ],
    );
    assert_eq!(c.status(&rel).unwrap().status, "deployed");
}

#[test]
fn five_identical_upgrades_give_consecutive_deployed_revisions_matching_state() {
    let cluster = Cluster::shared();
    let cli = Cli::new(cluster);
    let c = client(cluster);
    let ns = namespace("idem");
    let fixture = no_workloads_dir();
    let fixture = fixture.to_str().unwrap();
    let args = [
        "app",
        "upgrade",
        "--install",
        "--bundle",
        fixture,
        "--release",
        "same",
        "-n",
        &ns,
        "--create-namespace",
        "--set",
        "message=steady",
        "--confirm",
    ];
    for run in 1..=5u32 {
        cli.expect(0, &args);
        let status = c.status(&release("same", &ns)).unwrap();
        assert_eq!((status.revision, status.status.as_str()), (run, "deployed"));
        let state = cli.state();
        let current = state.release("same", &ns).unwrap().current.clone().unwrap();
        assert_eq!(current.helm_revision, Some(status.revision));
        assert_eq!(
            current.helm_status,
            Some(chainctl_core::HelmStatus::Deployed)
        );
        assert_eq!(
            current.chart.as_ref().unwrap().version,
            status.chart.version
        );
        // And the CLI's own comparison agrees.
        cli.expect(
            0,
            &["app", "status", "--check", "--release", "same", "-n", &ns],
        );
    }
    let history = c.history(&release("same", &ns)).unwrap();
    let revisions: Vec<u32> = history.iter().map(|r| r.revision).collect();
    assert_eq!(revisions, [1, 2, 3, 4, 5]);
    assert!(history[..4].iter().all(|r| r.status == "superseded"));
    assert_eq!(
        configmap(cluster, &ns, "same-settings").unwrap()["data"]["message"],
        "steady"
    );
}

#[test]
fn status_check_names_each_difference_after_a_change_outside_chainctl() {
    let cluster = Cluster::shared();
    let cli = Cli::new(cluster);
    let c = client(cluster);
    let ns = namespace("drift");
    let hello = hello_dir();
    let hello = hello.to_str().unwrap();
    cli.expect(
        0,
        &[
            "app",
            "install",
            "--bundle",
            hello,
            "--release",
            "d",
            "-n",
            &ns,
            "--create-namespace",
            "--confirm",
        ],
    );
    cli.expect(
        0,
        &[
            "app",
            "upgrade",
            "--bundle",
            hello,
            "--release",
            "d",
            "-n",
            &ns,
            "--set",
            "greeting=v2",
            "--confirm",
        ],
    );
    let out = cli.expect(
        0,
        &["app", "status", "--check", "--release", "d", "-n", &ns],
    );
    assert!(out.contains("matches"), "{out}");

    // Someone rolls back by hand (the library here, as `helm rollback` would):
    // nothing is recorded.
    c.rollback(
        &release("d", &ns),
        &RollbackOptions {
            revision: Some(1),
            ..RollbackOptions::default()
        },
    )
    .unwrap();
    let out = cli.run(&["app", "status", "--check", "--release", "d", "-n", &ns]);
    assert_eq!(
        out.status.code(),
        Some(8),
        "drift exits 8: {}",
        stderr(&out)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out);
    assert!(text.contains("revision"), "{text}");
    assert!(
        text.contains('2') && text.contains('3'),
        "recorded 2, cluster 3: {text}"
    );
    assert!(
        text.contains("manifest"),
        "the rollback changed the manifest: {text}"
    );

    let out = cli.run(&[
        "app",
        "status",
        "--check",
        "--release",
        "d",
        "-n",
        &ns,
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(8));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["check"]["matches"], false, "{v}");
    let fields: Vec<&str> = v["check"]["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"revision"), "{v}");

    // Uninstalled behind our back: drift too.
    c.uninstall(&release("d", &ns), &UninstallOptions::default())
        .unwrap();
    let out = cli.run(&["app", "status", "--check", "--release", "d", "-n", &ns]);
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));

    // No record at all: nothing to compare (exit 3).
    let out = cli.run(&["app", "status", "--check", "--release", "never", "-n", &ns]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

#[test]
fn dozens_of_namespaces_and_releases_in_one_state_file() {
    let cluster = Cluster::shared();
    let cli = Cli::new(cluster);
    let fixture = no_workloads_dir();
    let fixture = fixture.to_str().unwrap();
    let namespaces: Vec<String> = (0..24)
        .map(|i| namespace(&format!("fleet{i:02}")))
        .collect();
    // Two at a time: the state file's lock serialises the writes.
    std::thread::scope(|s| {
        for pair in namespaces.chunks(12) {
            let cli = &cli;
            s.spawn(move || {
                for ns in pair {
                    for name in ["api", "worker"] {
                        cli.expect(
                            0,
                            &[
                                "app",
                                "install",
                                "--bundle",
                                fixture,
                                "--release",
                                name,
                                "-n",
                                ns,
                                "--create-namespace",
                                "--confirm",
                            ],
                        );
                    }
                }
            });
        }
    });
    let state = cli.state();
    assert_eq!(state.releases.len(), 48);
    let c = client(cluster);
    for ns in &namespaces {
        for name in ["api", "worker"] {
            let current = state.release(name, ns).unwrap().current.clone().unwrap();
            assert_eq!(current.helm_revision, Some(1));
            assert_eq!(c.status(&release(name, ns)).unwrap().status, "deployed");
        }
    }
    let out = chainctl()
        .args(["state", "validate"])
        .arg(cli.state_path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("48 releases"),
        "{text}{}",
        stderr(&out)
    );
}

#[test]
fn confirm_on_a_terminal_shows_the_upgrade_from_and_to_with_the_digest() {
    let cluster = Cluster::shared();
    let cli = Cli::new(cluster);
    let ns = namespace("confirm");
    let oci = push(cluster, &hello_dir(), "confirm", &["0.1.0", "0.2.0"]);
    let deploy = |version: &str| {
        cli.on_cluster(&[
            "app",
            "upgrade",
            "--install",
            "--chart",
            &oci,
            "--version",
            version,
            "--release",
            "shop",
            "-n",
            &ns,
            "--create-namespace",
            "--plain-http",
        ])
    };
    let mut first = deploy("0.1.0");
    first.arg("--confirm");
    let out = first.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    // No terminal, no --confirm: refused, nothing changes.
    let out = deploy("0.2.0").stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    assert!(stderr(&out).contains("--confirm"), "{}", stderr(&out));
    let c = client(cluster);
    assert_eq!(c.status(&release("shop", &ns)).unwrap().revision, 1);

    // On a terminal: the plan, from -> to with the digest, then the question.
    let mut session = pty::Pty::spawn(deploy("0.2.0")).expect("a pseudo-terminal");
    let plan = session.expect("Proceed? [y/N]");
    assert!(plan.contains("release shop in namespace"), "{plan}");
    assert!(plan.contains(&ns), "{plan}");
    assert!(
        plan.contains("hello 0.1.0 (revision 1, deployed) -> hello 0.2.0"),
        "{plan}"
    );
    let digest = Client::builder()
        .registry(chainctl_core::RegistryOptions {
            plain_http: true,
            config_file: Some(cli.sandbox.dir.path().join("registry.json")),
            ..Default::default()
        })
        .build()
        .unwrap()
        .resolve_tag(&format!("{oci}:0.2.0").parse().unwrap())
        .unwrap();
    assert!(
        plan.contains(&digest),
        "the plan names the manifest digest {digest}: {plan}"
    );
    // Declined: nothing changes.
    session.send("n\n");
    let (status, _) = session.finish();
    assert_eq!(status.code(), Some(10));
    assert_eq!(c.status(&release("shop", &ns)).unwrap().revision, 1);

    // Approved: upgraded to what the plan showed, and recorded.
    let mut session = pty::Pty::spawn(deploy("0.2.0")).expect("a pseudo-terminal");
    session.expect("Proceed? [y/N]");
    session.send("y\n");
    let (status, output) = session.finish();
    assert!(status.success(), "{output}");
    let now = c.status(&release("shop", &ns)).unwrap();
    assert_eq!((now.revision, now.chart.version.as_str()), (2, "0.2.0"));
    let state = cli.state();
    let current = state.release("shop", &ns).unwrap().current.clone().unwrap();
    match current.source {
        Some(chainctl_core::state::RecordSource::Oci(src)) => {
            assert_eq!(src.manifest_digest.as_deref(), Some(digest.as_str()))
        }
        other => panic!("recorded source {other:?}"),
    }
}

// ---------------------------------------------------------------- harness

fn alive(pid: u32) -> bool {
    // A zombie still has /proc/<pid>; its state letter is Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

fn wait_gone(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while pids.iter().any(|&p| alive(p)) {
        assert!(
            Instant::now() < deadline,
            "processes still running 20 s after their owner died: {:?}",
            pids.iter().filter(|&&p| alive(p)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn no_api_server_or_etcd_outlives_the_harness() {
    // Our own, even with CHAINCTL_TEST_KUBECONFIG: this tests the harness.
    let cluster = Cluster::start();
    let (etcd, apiserver) = cluster.pids().unwrap();
    let testenv = cluster.env.pid();
    assert!(alive(etcd) && alive(apiserver) && alive(testenv));
    assert_eq!(cluster.get("/version").1["gitVersion"], "v1.36.3");
    // Drop SIGKILLs testenv (no chance to clean up): the kernel kills its
    // children (Pdeathsig).
    drop(cluster);
    wait_gone(&[testenv, etcd, apiserver]);
}

#[test]
fn testenv_up_and_down_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let env_dir = dir.path().join("env");
    let testenv = testenv::binary();
    let kube_src = testenv::source_dir().join("kube");
    let out = Command::new(&testenv)
        .arg("up")
        .arg("-dir")
        .arg(&env_dir)
        .arg("-kube-src")
        .arg(&kube_src)
        .arg("-bin-cache")
        .arg(testenv::bin_cache())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    // Whatever happens below, take it down again: `up` detaches it from us.
    struct Down<'a>(&'a Path, &'a Path);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            let _ = Command::new(self.0)
                .arg("down")
                .arg("-dir")
                .arg(self.1)
                .output();
        }
    }
    let _down = Down(&testenv, &env_dir);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "testenv up: {text}{}", stderr(&out));
    let kubeconfig = env_dir.join("kube").join("kubeconfig");
    assert!(
        text.contains(kubeconfig.to_str().unwrap()),
        "up prints the kubeconfig: {text}"
    );
    assert!(text.contains("registry:"), "{text}");
    let env: Value =
        serde_json::from_slice(&std::fs::read(env_dir.join("env.json")).unwrap()).unwrap();
    let pids: Vec<u32> = [
        &env["pid"],
        &env["kube"]["etcdPid"],
        &env["kube"]["apiserverPid"],
    ]
    .iter()
    .map(|v| v.as_u64().unwrap() as u32)
    .collect();

    // chainctl works against it, as the README shows.
    let state = dir.path().join("state.json");
    let out = chainctl()
        .args([
            "app",
            "install",
            "--bundle",
            "examples/charts/hello",
            "--release",
            "hello",
            "--namespace",
            "demo",
            "--create-namespace",
            "--confirm",
        ])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--state-path")
        .arg(&state)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    // `up` again while it runs says so and starts nothing new.
    let again = Command::new(&testenv)
        .arg("up")
        .arg("-dir")
        .arg(&env_dir)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("already up"));

    let out = Command::new(&testenv)
        .arg("down")
        .arg("-dir")
        .arg(&env_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    wait_gone(&pids);
    assert!(!env_dir.exists(), "down removes its directory");
}

/// The release Secrets Helm keeps for `name` in `ns`, read through the API server.
fn release_secrets(cluster: &Cluster, ns: &str, name: &str) -> Vec<String> {
    let (status, body) = cluster.get(&format!(
        "/api/v1/namespaces/{ns}/secrets?labelSelector=owner%3Dhelm,name%3D{name}"
    ));
    assert_eq!(status, 200, "{body}");
    let mut names: Vec<String> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn upgrades_keep_at_most_history_max_release_secrets() {
    let cluster = Cluster::shared();
    let ns = namespace("history-max");
    let c = client(cluster);
    let chart = bundle(&no_workloads_dir());
    // The library default is helm's: 10.
    c.install(&chart, &opts("hist", &ns).build().unwrap())
        .unwrap();
    for i in 0..14 {
        let o = opts("hist", &ns).set(format!("n={i}")).build().unwrap();
        c.upgrade(&chart, &o).unwrap();
    }
    let kept = release_secrets(cluster, &ns, "hist");
    assert_eq!(kept.len(), 10, "{kept:?}");
    assert!(kept.iter().any(|s| s.ends_with(".v15")), "{kept:?}");
    assert!(!kept.iter().any(|s| s.ends_with(".v5")), "{kept:?}");

    // The CLI: --history-max, and HELM_MAX_HISTORY as helm reads it.
    let sandbox = Sandbox::new();
    let kubeconfig = cluster.kubeconfig.to_str().unwrap();
    let upgrade = |extra: &[&str], env: Option<&str>| {
        let mut args = vec![
            "app",
            "upgrade",
            "--bundle",
            "tests/fixtures/charts/no-workloads",
            "--release",
            "hist",
            "-n",
            &ns,
            "--kubeconfig",
            kubeconfig,
            "--confirm",
        ];
        args.extend_from_slice(extra);
        let mut cmd = sandbox.command(&args);
        if let Some(context) = &cluster.context {
            cmd.args(["--kube-context", context]);
        }
        match env {
            Some(v) => cmd.env("HELM_MAX_HISTORY", v),
            None => cmd.env_remove("HELM_MAX_HISTORY"),
        };
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    };
    upgrade(&["--history-max", "3"], Some("7"));
    assert_eq!(release_secrets(cluster, &ns, "hist").len(), 3);
    upgrade(&[], Some("2"));
    assert_eq!(release_secrets(cluster, &ns, "hist").len(), 2);
    upgrade(&["--history-max", "0"], None);
    assert_eq!(
        release_secrets(cluster, &ns, "hist").len(),
        3,
        "0 keeps all"
    );
}

#[test]
fn namespace_and_kubeconfig_are_resolved_as_helm_resolves_them() {
    let cluster = Cluster::shared();
    let resolved = client(cluster).resolve_kube(None).unwrap();
    assert!(
        !resolved.cluster.is_empty() && !resolved.user.is_empty(),
        "{resolved:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let ctx_ns = namespace("from-context");
    let env_ns = namespace("from-env");
    let flag_ns = namespace("from-flag");
    // File 1 selects a context that only file 2 (the cluster's own
    // kubeconfig) defines: client-go merges the two.
    let selects = dir.path().join("selects");
    std::fs::write(
        &selects,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: {}\n",
            resolved.context
        ),
    )
    .unwrap();
    // File 1 defines a context with a namespace over file 2's cluster and user.
    let defines = dir.path().join("defines");
    std::fs::write(
        &defines,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: with-ns\ncontexts:\n- name: with-ns\n  \
             context: {{cluster: {}, user: {}, namespace: {ctx_ns}}}\n",
            resolved.cluster, resolved.user
        ),
    )
    .unwrap();
    let join = |first: &Path| std::env::join_paths([first, cluster.kubeconfig.as_path()]).unwrap();

    let sandbox = Sandbox::new();
    // (KUBECONFIG first file, HELM_NAMESPACE, -n, the namespace helm uses)
    let table: [(&Path, Option<&str>, Option<&str>, &str); 5] = [
        (&selects, None, None, "default"),
        (&defines, None, None, &ctx_ns),
        (&defines, Some(&env_ns), None, &env_ns),
        (&defines, Some(&env_ns), Some(&flag_ns), &flag_ns),
        (&selects, Some(&env_ns), None, &env_ns),
    ];
    for (i, (first, env, flag, want)) in table.into_iter().enumerate() {
        let name = format!("ns-{i}");
        let mut args = vec![
            "app",
            "install",
            "--bundle",
            "tests/fixtures/charts/no-workloads",
            "--release",
            &name,
            "--create-namespace",
            "--confirm",
            "-o",
            "json",
        ];
        if let Some(flag) = flag {
            args.extend(["-n", flag]);
        }
        let mut cmd = sandbox.command(&args);
        cmd.env("KUBECONFIG", join(first));
        if let Some(env) = env {
            cmd.env("HELM_NAMESPACE", env);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "case {i}: {}", stderr(&out));
        let body: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(body["release"]["namespace"], want, "case {i}");
        // Really there, through the API server.
        let (status, _) = cluster.get(&format!(
            "/api/v1/namespaces/{want}/secrets/sh.helm.release.v1.{name}.v1"
        ));
        assert_eq!(status, 200, "case {i}: release secret in {want}");
    }

    // HELM_KUBECONTEXT picks the context, as --kube-context does; the
    // library takes the same list explicitly.
    let out = sandbox
        .command(&["app", "status", "--release", "ns-1", "-o", "json"])
        .env("KUBECONFIG", join(&selects))
        .env("HELM_KUBECONTEXT", "with-ns")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(r#"context "with-ns" does not exist"#),
        "{}",
        stderr(&out)
    );
    let out = sandbox
        .command(&["app", "status", "--release", "ns-1", "-o", "json"])
        .env("KUBECONFIG", join(&defines))
        .env("HELM_KUBECONTEXT", "with-ns")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let merged = Client::builder()
        .kubeconfig_paths([defines.as_path(), cluster.kubeconfig.as_path()])
        .build()
        .unwrap();
    assert_eq!(merged.resolve_kube(None).unwrap().namespace, ctx_ns);
    assert_eq!(
        merged.status(&release("ns-1", &ctx_ns)).unwrap().status,
        "deployed"
    );
}

#[test]
fn helm_and_chainctl_store_the_same_release() {
    let cluster = Cluster::shared();
    let ns = namespace("stored-parity");
    let chart = "tests/fixtures/charts/stored-parity";
    let dir = tempfile::tempdir().unwrap();
    let values = dir.path().join("values.yaml");
    std::fs::write(&values, "replicas: 3\nextra: on\nmode: 0755\n").unwrap();
    let values = values.to_str().unwrap();
    let kubeconfig = cluster.kubeconfig.to_str().unwrap();
    let value_args = [
        "-f",
        values,
        "--set",
        "big=9007199254740993,list={a,1}",
        "--set-string",
        "s=1",
        "--set-json",
        r#"j={"k":[1,2.5]}"#,
    ];
    let context_args: Vec<&str> = match &cluster.context {
        Some(context) => vec!["--kube-context", context],
        None => vec![],
    };
    let c = client(cluster);
    let rel = release("same", &ns);

    let mut cmd = helm::helm();
    cmd.args(["install", "same", chart, "-n", &ns, "--create-namespace"])
        .args(["--kubeconfig", kubeconfig])
        .args(&context_args)
        .args(value_args)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "helm install: {}", stderr(&out));
    let by_helm = c.status(&rel).unwrap();
    let out = helm::helm()
        .args(["uninstall", "same", "-n", &ns, "--kubeconfig", kubeconfig])
        .args(&context_args)
        .output()
        .unwrap();
    assert!(out.status.success(), "helm uninstall: {}", stderr(&out));

    let sandbox = Sandbox::new();
    let mut args = vec![
        "app",
        "install",
        "--bundle",
        chart,
        "--release",
        "same",
        "-n",
        &ns,
        "--kubeconfig",
        kubeconfig,
        "--confirm",
    ];
    args.extend(&context_args);
    args.extend(value_args);
    let out = sandbox.run(&args);
    assert!(out.status.success(), "chainctl install: {}", stderr(&out));
    let by_chainctl = c.status(&rel).unwrap();

    assert_eq!(by_chainctl.revision, 1);
    assert!(
        by_helm
            .manifest
            .contains(r#"types: "float64 bool float64 int64""#),
        "the chart saw helm's types: {}",
        by_helm.manifest
    );
    assert_eq!(by_chainctl.manifest, by_helm.manifest, "stored manifests");
    assert_eq!(by_chainctl.hooks, by_helm.hooks, "stored hooks");
    assert_eq!(by_chainctl.notes, by_helm.notes, "stored notes");
    assert_eq!(by_chainctl.chart, by_helm.chart);
    assert_eq!(by_helm.hooks.len(), 4);

    // The read commands print what helm get prints, for the same release.
    let same = |helm_args: &[&str], ours: &[&str]| {
        let theirs = helm::helm()
            .args(helm_args)
            .args(["same", "-n", &ns, "--kubeconfig", kubeconfig])
            .args(&context_args)
            .output()
            .unwrap();
        assert!(
            theirs.status.success(),
            "helm {helm_args:?}: {}",
            stderr(&theirs)
        );
        let mut args = ours.to_vec();
        args.extend(["--release", "same", "-n", &ns, "--kubeconfig", kubeconfig]);
        args.extend(&context_args);
        let mine = sandbox.run(&args);
        assert!(
            mine.status.success(),
            "chainctl {ours:?}: {}",
            stderr(&mine)
        );
        assert_eq!(
            String::from_utf8_lossy(&mine.stdout),
            String::from_utf8_lossy(&theirs.stdout),
            "chainctl {ours:?} against helm {helm_args:?}"
        );
    };
    same(&["get", "values"], &["app", "get", "values"]);
    same(
        &["get", "values", "--all"],
        &["app", "get", "values", "--all"],
    );
    same(
        &["get", "values", "--revision", "1"],
        &["app", "get", "values", "--revision", "1"],
    );
    same(&["get", "manifest"], &["app", "get", "manifest"]);
    same(&["get", "notes"], &["app", "get", "notes"]);
    same(&["get", "hooks"], &["app", "get", "hooks"]);

    // app list sees what helm list sees.
    let mut args = vec![
        "app",
        "list",
        "-n",
        &ns,
        "-o",
        "json",
        "--kubeconfig",
        kubeconfig,
    ];
    args.extend(&context_args);
    let out = sandbox.run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let theirs = helm::helm()
        .args(["list", "-n", &ns, "-o", "json", "--kubeconfig", kubeconfig])
        .args(&context_args)
        .output()
        .unwrap();
    let theirs: Value = serde_json::from_slice(&theirs.stdout).unwrap();
    let names = |v: &Value, status: &str| -> Vec<(String, String)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap().to_string(),
                    r[status].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(names(&listed, "status"), names(&theirs, "status"));
    assert_eq!(
        names(&listed, "status"),
        [("same".to_string(), "deployed".to_string())]
    );
    let mut args = vec![
        "app",
        "list",
        "-A",
        "-o",
        "json",
        "--kubeconfig",
        kubeconfig,
    ];
    args.extend(&context_args);
    let all: Value = serde_json::from_slice(&sandbox.run(&args).stdout).unwrap();
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .any(|r| r["namespace"] == ns.as_str()),
        "-A lists every namespace"
    );
}

/// chainctl on `cluster` through its own kubeconfig (and context).
fn on(sandbox: &Sandbox, cluster: &Cluster, args: &[&str]) -> Output {
    let mut cmd = sandbox.command(args);
    cmd.arg("--kubeconfig").arg(&cluster.kubeconfig);
    if let Some(context) = &cluster.context {
        cmd.args(["--kube-context", context]);
    }
    cmd.output().unwrap()
}

#[test]
fn records_are_kept_per_cluster_and_driver_and_rehearsals_stay_apart() {
    let a = Cluster::shared();
    let b = &Cluster::start();
    let ns = namespace("two-clusters");
    let sandbox = Sandbox::new();
    let chart = "tests/fixtures/charts/no-workloads";
    let install = |cluster: &Cluster, message: &str| {
        let set = format!("message={message}");
        let out = on(
            &sandbox,
            cluster,
            &[
                "app",
                "install",
                "--bundle",
                chart,
                "--release",
                "web",
                "-n",
                &ns,
                "--create-namespace",
                "--confirm",
                "--set",
                &set,
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
    };
    install(a, "on-a");
    install(b, "on-b");
    let check = |cluster: &Cluster, extra: &[&str]| {
        let mut args = vec![
            "app",
            "status",
            "--release",
            "web",
            "-n",
            &ns,
            "--check",
            "-o",
            "json",
        ];
        args.extend_from_slice(extra);
        let out = on(&sandbox, cluster, &args);
        (
            out.status.code(),
            serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null),
        )
    };
    assert_eq!(check(a, &[]).0, Some(0));
    assert_eq!(check(b, &[]).0, Some(0));

    // Two records, one per cluster, each naming its cluster and driver.
    let state = StateStore::load(sandbox.state_path()).unwrap();
    let found: Vec<_> = state.find("web", &ns).collect();
    assert_eq!(found.len(), 2, "{:?}", state.releases.keys());
    assert!(
        state.release("web", &ns).is_none(),
        "ambiguous without a cluster"
    );
    for (cluster, release) in &found {
        let current = release.current.as_ref().unwrap();
        let recorded = current.cluster.as_ref().unwrap();
        assert_eq!(Some(recorded.id.as_str()), *cluster);
        assert!(
            recorded
                .server
                .as_deref()
                .unwrap()
                .starts_with("https://127.0.0.1:")
        );
        assert!(
            recorded
                .ca_fingerprint
                .as_deref()
                .unwrap()
                .starts_with("sha256:")
        );
        assert_eq!(
            current.driver,
            Some(chainctl_core::state::StorageDriver::Secret)
        );
        assert_eq!(current.kube_context.as_deref(), Some("chainctl-test"));
    }

    // An upgrade on b leaves a's check alone; a's record still matches a.
    let out = on(
        &sandbox,
        b,
        &[
            "app",
            "upgrade",
            "--bundle",
            chart,
            "--release",
            "web",
            "-n",
            &ns,
            "--confirm",
            "--set",
            "message=b2",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(check(a, &[]).0, Some(0), "a is compared with a's record");
    assert_eq!(check(b, &[]).0, Some(0), "b with b's, at revision 2");

    // A rehearsal on the memory driver is filed apart, and changes nothing
    // of what the real release is checked against.
    let out = on(
        &sandbox,
        a,
        &[
            "app",
            "upgrade",
            "--bundle",
            chart,
            "--release",
            "web",
            "-n",
            &ns,
            "--confirm",
            "--driver",
            "memory",
            "--install",
            "--set",
            "message=rehearsed",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let state = StateStore::load(sandbox.state_path()).unwrap();
    let rehearsal = state.release_in(Some("rehearsal"), "web", &ns).unwrap();
    assert_eq!(
        rehearsal.current.as_ref().unwrap().driver,
        Some(chainctl_core::state::StorageDriver::Memory)
    );
    let (code, body) = check(a, &[]);
    assert_eq!(code, Some(0), "{body}");
    assert_eq!(body["release"]["revision"], 1);

    // The driver is recorded, and --check reads the release through it.
    let out = on(
        &sandbox,
        a,
        &[
            "app",
            "install",
            "--bundle",
            chart,
            "--release",
            "cm",
            "-n",
            &ns,
            "--confirm",
            "--driver",
            "configmap",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = on(
        &sandbox,
        a,
        &["app", "status", "--release", "cm", "-n", &ns, "--check"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    let out = on(
        &sandbox,
        a,
        &[
            "app",
            "status",
            "--release",
            "cm",
            "-n",
            &ns,
            "--check",
            "--driver",
            "secret",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(8),
        "not in Secrets: {}",
        stderr(&out)
    );
}

#[test]
fn a_failed_first_install_records_what_helm_recorded() {
    let cluster = Cluster::shared();
    let ns = namespace("failed-first");
    let sandbox = Sandbox::new();
    // The API server rejects the Service (port out of range): Helm has
    // recorded revision 1 as failed by then.
    let out = on(
        &sandbox,
        cluster,
        &[
            "app",
            "install",
            "--bundle",
            "tests/fixtures/charts/no-workloads",
            "--release",
            "bad",
            "-n",
            &ns,
            "--create-namespace",
            "--confirm",
            "--set",
            "port=70000",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let state = StateStore::load(sandbox.state_path()).unwrap();
    let recorded = state.release("bad", &ns).unwrap();
    assert!(recorded.current.is_none());
    let failed = recorded.history.last().unwrap();
    assert_eq!(failed.outcome, Outcome::Failed);
    assert_eq!(failed.helm_revision, Some(1));
    assert_eq!(failed.helm_status, Some(chainctl_core::HelmStatus::Failed));
    assert_eq!(failed.chart.as_ref().unwrap().name, "no-workloads");
    assert!(
        failed
            .values_digest
            .as_deref()
            .unwrap()
            .starts_with("hmac-sha256:")
    );
    let Some(chainctl_core::state::RecordSource::Bundle(bundle)) = &failed.source else {
        panic!("{:?}", failed.source)
    };
    assert!(bundle.content_digest.is_some());
    assert_eq!(
        client(cluster).status(&release("bad", &ns)).unwrap().status,
        "failed"
    );

    // --check compares with the failed revision, not "no deployment".
    let out = on(
        &sandbox,
        cluster,
        &[
            "app",
            "status",
            "--release",
            "bad",
            "-n",
            &ns,
            "--check",
            "-o",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["release"]["revision"], 1, "{body}");
    assert_eq!(body["release"]["status"], "failed", "{body}");
}

#[test]
fn helms_kube_flags_and_their_variables_reach_the_api_server() {
    let cluster = Cluster::shared();
    let ns = namespace("kube-flags");
    let sandbox = Sandbox::new();
    let c = client(cluster);
    c.install(
        &bundle(&no_workloads_dir()),
        &opts("flags", &ns).build().unwrap(),
    )
    .unwrap();
    let list = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec!["app", "list", "-n", &ns, "-o", "json"];
        args.extend_from_slice(extra);
        let mut cmd = sandbox.command(&args);
        cmd.arg("--kubeconfig").arg(&cluster.kubeconfig);
        if let Some(context) = &cluster.context {
            cmd.args(["--kube-context", context]);
        }
        cmd.envs(env.iter().copied());
        cmd.output().unwrap()
    };
    let ok = list(&[], &[]);
    assert!(ok.status.success(), "{}", stderr(&ok));

    // Impersonation: a user with no rights is forbidden, unless a group
    // grants them (HELM_KUBEASGROUPS, as helm reads it).
    let out = list(&["--kube-as-user", "chainctl-nobody"], &[]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("chainctl-nobody"), "{}", stderr(&out));
    let out = list(
        &[],
        &[
            ("HELM_KUBEASUSER", "chainctl-nobody"),
            ("HELM_KUBEASGROUPS", "system:masters"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    // A token that the API server does not know.
    let out = list(&["--kube-token", "not-a-token"], &[]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("not-a-token"),
        "the token is never shown"
    );

    // --kube-apiserver overrides the kubeconfig's server.
    let server = c.resolve_kube(None).unwrap().server;
    let broken = tempfile::NamedTempFile::new().unwrap();
    let text = std::fs::read_to_string(&cluster.kubeconfig).unwrap();
    assert!(text.contains(&server), "the kubeconfig names {server}");
    std::fs::write(broken.path(), text.replace(&server, "https://127.0.0.1:1")).unwrap();
    let with = |extra: &[&str]| {
        let mut args = vec!["app", "list", "-n", &ns, "-o", "json"];
        args.extend_from_slice(extra);
        let mut cmd = sandbox.command(&args);
        cmd.arg("--kubeconfig").arg(broken.path());
        if let Some(context) = &cluster.context {
            cmd.args(["--kube-context", context]);
        }
        cmd.output().unwrap()
    };
    assert!(
        !with(&[]).status.success(),
        "the broken kubeconfig fails alone"
    );
    let out = with(&["--kube-apiserver", &server]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["name"], "flags");
}

#[test]
fn helms_action_flags_change_what_the_api_server_holds() {
    let cluster = Cluster::shared();
    let ns = namespace("action-flags");
    let sandbox = Sandbox::new();
    let chart = "tests/fixtures/charts/stored-parity";
    let run = |args: &[&str]| {
        let out = on(&sandbox, cluster, args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        out
    };
    let exists = |path: String| cluster.get(&path).0 == 200;
    let secret =
        |rev: u32| format!("/api/v1/namespaces/{ns}/secrets/sh.helm.release.v1.flags.v{rev}");
    let configmap = |name: &str| format!("/api/v1/namespaces/{ns}/configmaps/{name}");

    // --skip-crds: the chart's CRDs are not created, so its custom
    // resource has no kind to be stored as.
    let out = on(
        &sandbox,
        cluster,
        &[
            "app",
            "install",
            "--bundle",
            "tests/fixtures/charts/parity/crds",
            "--release",
            "nocrd",
            "-n",
            &ns,
            "--create-namespace",
            "--confirm",
            "--skip-crds",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("CronTab"), "{}", stderr(&out));
    assert!(
        !exists(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/crontabs.stable.example.com"
                .into()
        ),
        "no CRD was created"
    );

    // --no-hooks: no hook ran; --labels: on the release Secret.
    run(&[
        "app",
        "install",
        "--bundle",
        chart,
        "--release",
        "flags",
        "-n",
        &ns,
        "--create-namespace",
        "--confirm",
        "--no-hooks",
        "--labels",
        "team=payments,tier=gold",
    ]);
    assert!(exists(configmap("flags-facts")));
    assert!(!exists(configmap("flags-post")), "--no-hooks ran no hook");
    let (_, body) = cluster.get(&secret(1));
    assert_eq!(body["metadata"]["labels"]["team"], "payments", "{body}");
    assert_eq!(body["metadata"]["labels"]["tier"], "gold");

    // An upgrade with hooks runs them.
    run(&[
        "app",
        "upgrade",
        "--bundle",
        chart,
        "--release",
        "flags",
        "-n",
        &ns,
        "--confirm",
        "--set",
        "replicas=7",
    ]);
    assert!(exists(configmap("flags-pre-3")), "pre-upgrade hooks ran");

    // status --revision, history --max.
    let out = run(&[
        "app",
        "status",
        "--release",
        "flags",
        "-n",
        &ns,
        "--revision",
        "1",
        "-o",
        "json",
    ]);
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            body["release"]["revision"].clone(),
            body["release"]["status"].clone()
        ),
        (1.into(), "superseded".into())
    );
    let out = run(&[
        "app",
        "history",
        "--release",
        "flags",
        "-n",
        &ns,
        "--max",
        "1",
        "-o",
        "json",
    ]);
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    let revisions: Vec<_> = body
        .as_array()
        .or(body["revisions"].as_array())
        .unwrap()
        .iter()
        .map(|r| r["revision"].clone())
        .collect();
    assert_eq!(revisions, [Value::from(2)], "{body}");

    // rollback --dry-run changes nothing and records nothing.
    let before = std::fs::read(sandbox.state_path()).unwrap();
    run(&[
        "app",
        "rollback",
        "--release",
        "flags",
        "-n",
        &ns,
        "--revision",
        "1",
        "--dry-run",
    ]);
    assert!(!exists(secret(3)), "no revision 3");
    assert_eq!(
        std::fs::read(sandbox.state_path()).unwrap(),
        before,
        "nothing recorded"
    );

    // uninstall --dry-run keeps everything; --ignore-not-found accepts a
    // release that is not there; --keep-history keeps the Secrets.
    run(&[
        "app",
        "uninstall",
        "--release",
        "flags",
        "-n",
        &ns,
        "--dry-run",
    ]);
    assert!(exists(configmap("flags-facts")));
    run(&[
        "app",
        "uninstall",
        "--release",
        "ghost",
        "-n",
        &ns,
        "--ignore-not-found",
        "--confirm",
    ]);
    let out = on(
        &sandbox,
        cluster,
        &[
            "app",
            "uninstall",
            "--release",
            "ghost",
            "-n",
            &ns,
            "--confirm",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    run(&[
        "app",
        "uninstall",
        "--release",
        "flags",
        "-n",
        &ns,
        "--confirm",
        "--keep-history",
        "--cascade",
        "foreground",
    ]);
    // Foreground deletion: the API server marks the object and leaves it
    // to the garbage collector (none runs here) behind a finalizer.
    let (_, facts) = cluster.get(&configmap("flags-facts"));
    assert!(
        facts["metadata"]["deletionTimestamp"].is_string(),
        "{facts}"
    );
    assert_eq!(
        facts["metadata"]["finalizers"][0], "foregroundDeletion",
        "{facts}"
    );
    assert!(exists(secret(2)), "history kept");
}

#[test]
fn status_check_after_a_chainctl_uninstall_matches_until_the_release_is_back() {
    let cluster = Cluster::shared();
    let c = client(cluster);
    let cli = Cli::new(cluster);
    let ns = namespace("check-gone");
    let chart = no_workloads_dir();
    let chart = chart.to_str().unwrap();
    let install = |name: &str| {
        cli.expect(
            0,
            &[
                "app",
                "install",
                "--bundle",
                chart,
                "--release",
                name,
                "-n",
                &ns,
                "--create-namespace",
                "--confirm",
            ],
        );
    };
    let check = |name: &str| cli.run(&["app", "status", "--check", "--release", name, "-n", &ns]);
    // Uninstalled by chainctl, with its history kept and without: the
    // record says so, and the cluster agrees.
    install("kept");
    cli.expect(
        0,
        &[
            "app",
            "uninstall",
            "--release",
            "kept",
            "-n",
            &ns,
            "--keep-history",
            "--confirm",
        ],
    );
    let out = check("kept");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("matches"));
    install("gone");
    cli.expect(
        0,
        &[
            "app",
            "uninstall",
            "--release",
            "gone",
            "-n",
            &ns,
            "--confirm",
        ],
    );
    let out = check("gone");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("not in the cluster") && stdout.contains("matches"),
        "{stdout}"
    );

    // Installed again outside chainctl (the library here, as `helm install`
    // would): nothing is recorded, and the check says the release is back.
    c.install(
        &bundle(&no_workloads_dir()),
        &opts("gone", &ns).build().unwrap(),
    )
    .unwrap();
    let out = check("gone");
    assert_eq!(
        out.status.code(),
        Some(8),
        "drift exits 8: {}",
        stderr(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("uninstalled (revision") && stdout.contains("cluster revision 1 deployed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("installed again outside chainctl after chainctl uninstalled it"),
        "{stdout}"
    );
}
