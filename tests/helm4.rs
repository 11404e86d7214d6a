//! The Helm 4 build (`--features helm-v4`) against the test API server:
//! server-side apply records Helm's field manager and stops at a field
//! another manager owns unless forced; and a release installed by the Helm 3
//! build's chainctl upgrades, rolls back and uninstalls with this build's,
//! `--check` passing after every step. (The Helm 3 build's refusal of the
//! Helm 4 options is in tests/lifecycle.rs, the watcher wait's timeout in
//! tests/cluster.rs.)

mod support;

use std::path::PathBuf;

use chainctl_core::{ChartSource, ReleaseOptions};

fn no_workloads_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/charts/no-workloads")
}

fn bundle(dir: &std::path::Path) -> ChartSource {
    ChartSource::bundle(dir).unwrap()
}

mod helm4 {
    use super::*;

    use chainctl_core::ServerSide;
    use serde_json::Value;
    use support::chainctl::{Sandbox, chainctl_helm3};
    use support::testenv::Cluster;
    use support::{client, namespace};

    fn configmap(cluster: &Cluster, ns: &str, name: &str) -> Value {
        let (status, body) = cluster.get(&format!("/api/v1/namespaces/{ns}/configmaps/{name}"));
        assert_eq!(status, 200, "GET configmap {ns}/{name}: {body}");
        body
    }

    /// The managers of an object's fields, as "manager/operation".
    fn managers(object: &Value) -> Vec<String> {
        object["metadata"]["managedFields"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| {
                format!(
                    "{}/{}",
                    f["manager"].as_str().unwrap_or(""),
                    f["operation"].as_str().unwrap_or("")
                )
            })
            .collect()
    }

    #[test]
    #[cfg_attr(
        not(feature = "helm-v4"),
        ignore = "Helm 4 only (cargo test --features helm-v4, which .ci/run runs)"
    )]
    fn server_side_apply_records_helms_field_manager_and_stops_at_a_conflict_unless_forced() {
        let cluster = Cluster::shared();
        let c = client(cluster);
        let ns = namespace("h4-ssa");
        let chart = bundle(&no_workloads_dir());
        let opts = || ReleaseOptions::builder("ssa", &ns).create_namespace(true);

        // Helm 4's default: server-side apply, Helm's field manager applying.
        c.install(&chart, &opts().build().unwrap()).unwrap();
        let cm = configmap(cluster, &ns, "ssa-settings");
        assert_eq!(cm["data"]["message"], "ready at once");
        let owners = managers(&cm);
        assert!(owners.contains(&"helm/Apply".to_string()), "{owners:?}");

        // Another manager takes the field over (forced, as kubectl apply
        // --server-side --force-conflicts would).
        let other = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa-settings\n  namespace: {ns}\ndata:\n  message: set by someone else\n"
        );
        let (status, body) = cluster.apply(
            &format!("/api/v1/namespaces/{ns}/configmaps/ssa-settings?fieldManager=someone-else&force=true"),
            &other,
        );
        assert_eq!(status, 200, "{body}");

        // An upgrade that sets the field conflicts with its owner.
        let changed = || opts().set("message=from helm");
        let err = c.upgrade(&chart, &changed().build().unwrap()).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("conflict"), "{err:?}");
        assert!(message.contains("someone-else"), "{message}");
        assert_eq!(
            configmap(cluster, &ns, "ssa-settings")["data"]["message"],
            "set by someone else"
        );

        // Forced, Helm takes it back.
        c.upgrade(&chart, &changed().force_conflicts(true).build().unwrap())
            .unwrap();
        assert_eq!(
            configmap(cluster, &ns, "ssa-settings")["data"]["message"],
            "from helm"
        );

        // Client-side apply on request, as Helm 3: an update, not an apply.
        let csa = ReleaseOptions::builder("csa", &ns).server_side(ServerSide::Off);
        c.install(&chart, &csa.build().unwrap()).unwrap();
        let owners = managers(&configmap(cluster, &ns, "csa-settings"));
        assert!(owners.iter().all(|m| !m.ends_with("/Apply")), "{owners:?}");
    }

    #[test]
    #[cfg_attr(
        not(feature = "helm-v4"),
        ignore = "Helm 4 only (cargo test --features helm-v4, which .ci/run runs)"
    )]
    fn a_release_of_the_helm3_build_upgrades_rolls_back_and_uninstalls_with_the_helm4_build() {
        let cluster = Cluster::shared();
        let ns = namespace("h4-move");
        let sandbox = Sandbox::new();
        let chart = no_workloads_dir();
        let chart = chart.to_str().unwrap();
        let kube = ["--kubeconfig", cluster.kubeconfig.to_str().unwrap()];
        let helm3 = |args: &[&str]| {
            let mut cmd = chainctl_helm3();
            cmd.args(args)
                .args(kube)
                .arg("--state-path")
                .arg(sandbox.state_path())
                .env("XDG_CACHE_HOME", sandbox.dir.path().join("cache"));
            cmd.output().unwrap()
        };
        let helm4 = |args: &[&str]| {
            let mut cmd = sandbox.command(args);
            cmd.args(kube);
            cmd.output().unwrap()
        };
        let ok = |what: &str, out: std::process::Output| {
            assert!(
                out.status.success(),
                "{what}: exit {:?}\nstdout: {}\nstderr: {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            out
        };
        let check = |what: &str| {
            ok(
                what,
                helm4(&["app", "status", "--release", "moved", "-n", &ns, "--check"]),
            );
        };
        let version = ok("helm 3 build --version", helm3(&["--version"]));
        assert!(
            String::from_utf8_lossy(&version.stdout).contains("v3."),
            "{version:?}"
        );

        ok(
            "install with the Helm 3 build",
            helm3(&[
                "app",
                "install",
                "--bundle",
                chart,
                "--release",
                "moved",
                "-n",
                &ns,
                "--create-namespace",
                "--confirm",
            ]),
        );
        check("--check after the Helm 3 install");
        ok(
            "upgrade with the Helm 4 build",
            helm4(&[
                "app",
                "upgrade",
                "--bundle",
                chart,
                "--release",
                "moved",
                "-n",
                &ns,
                "--set",
                "message=upgraded",
                "--confirm",
            ]),
        );
        check("--check after the Helm 4 upgrade");
        assert_eq!(
            configmap(cluster, &ns, "moved-settings")["data"]["message"],
            "upgraded"
        );
        ok(
            "rollback with the Helm 4 build",
            helm4(&[
                "app",
                "rollback",
                "--release",
                "moved",
                "-n",
                &ns,
                "--confirm",
            ]),
        );
        check("--check after the Helm 4 rollback");
        assert_eq!(
            configmap(cluster, &ns, "moved-settings")["data"]["message"],
            "ready at once"
        );

        // The record names the Helm of each action.
        let shown = sandbox.show("moved", &ns);
        let helms: Vec<String> = shown["history"]
            .as_array()
            .expect("the release's history")
            .iter()
            .chain(std::iter::once(&shown["current"]))
            .map(|r| r["toolVersions"]["helm"].as_str().unwrap_or("").to_string())
            .collect();
        assert!(helms.iter().any(|h| h.starts_with("v3.")), "{helms:?}");
        assert!(helms.iter().any(|h| h.starts_with("v4.")), "{helms:?}");

        ok(
            "uninstall with the Helm 4 build",
            helm4(&[
                "app",
                "uninstall",
                "--release",
                "moved",
                "-n",
                &ns,
                "--confirm",
            ]),
        );
        check("--check after the Helm 4 uninstall");
        let (status, _) = cluster.get(&format!(
            "/api/v1/namespaces/{ns}/configmaps/moved-settings"
        ));
        assert_eq!(status, 404, "the uninstall removed the ConfigMap");
    }
}
