#!/usr/bin/env python3
"""Install and upgrade examples/charts/hello on a real API server: chainctl
against the helm CLI of the same Helm version, in one run.

Starts the test environment (tests/testenv: etcd and kube-apiserver built
from the Go module proxy, on loopback; the first build takes 5-10 minutes),
then runs each pair of equivalent commands RUNS times, interleaved, against
the same API server, each tool in namespaces of its own:

  install: a new release per run (`chainctl app install --confirm`, which
           also writes its state record, vs `helm install`);
  upgrade: the same release upgraded with a new value per run.

Prints the median wall time, the peak RSS and the chainctl/helm ratios as a
Markdown table. Targets (issue 5): wall time at most 1.05x helm's; peak RSS
at most helm's and under 512 MiB.

    python3 benches/kube_vs_helm.py [--runs 7]

Wall times on a shared machine are noisy: read the ratios, not the absolutes.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_vs_helm import (  # noqa: E402
    CACHE, ROOT, build_chainctl, build_helm, build_testenv, measure, row, start_testenv,
)

TESTENV = ROOT / "tests" / "testenv"
BIN_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "chainctl-testenv"


def start_cluster(work: Path) -> tuple[subprocess.Popen, dict]:
    binary = build_testenv()
    kube = ["-kube-src", str(TESTENV / "kube"), "-bin-cache", str(BIN_CACHE)]
    # In the foreground first: the first build prints its progress.
    subprocess.run([str(binary), "build-kube", *kube], check=True, stdout=subprocess.DEVNULL)
    return start_testenv(binary, "-dir", str(work / "env"), "-kube", *kube)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    helm, chainctl = build_helm(), build_chainctl()
    chart = str(ROOT / "examples" / "charts" / "hello")

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        proc, ready = start_cluster(work)
        try:
            kube = ready["kube"]
            # helm keeps its caches and config apart from the user's.
            for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
                os.environ[var] = str(work / var.lower())
            os.environ["XDG_CACHE_HOME"] = str(work / "xdg-cache")
            cluster = ["--kubeconfig", kube["kubeconfig"], "--kube-context", kube["context"]]
            state = ["--state-path", str(work / "state" / "state.json")]

            def ours(*a: str) -> list[str]:
                return [str(chainctl), "app", *a, *cluster, *state, "--confirm"]

            def theirs(*a: str) -> list[str]:
                return [str(helm), *a, *cluster]

            def install(i: int) -> tuple[list[str], list[str]]:
                return (
                    ours("install", "--bundle", chart, "--release", f"i{i}", "-n", "bench-ours", "--create-namespace"),
                    theirs("install", f"i{i}", chart, "-n", "bench-helm", "--create-namespace"),
                )

            def upgrade(i: int) -> tuple[list[str], list[str]]:
                return (
                    ours("upgrade", "--bundle", chart, "--release", "up", "-n", "bench-ours", "--set", f"greeting=run{i}"),
                    theirs("upgrade", "up", chart, "-n", "bench-helm", "--set", f"greeting=run{i}"),
                )

            # Warm-up: creates the namespaces and the releases to upgrade, and
            # fills both tools' discovery caches.
            measure(install(0)[0])
            measure(install(0)[1])
            measure(ours("install", "--bundle", chart, "--release", "up", "-n", "bench-ours"))
            measure(theirs("install", "up", chart, "-n", "bench-helm"))

            print(f"\nchainctl: {chainctl}")
            print(f"helm:     {helm}, {measure([str(helm), 'version', '--short'])[2].decode().strip()}")
            print(f"API server: Kubernetes {kube['version']} on {kube['server']}")
            print(f"runs: {args.runs} each, interleaved, after one warm-up run\n")
            print("| command | chainctl median | helm median | wall ratio | chainctl peak RSS | helm peak RSS | RSS ratio |")
            print("|---|---|---|---|---|---|---|")
            for name, pair in (("install of hello", install), ("upgrade of hello (new value)", upgrade)):
                samples = {"ours": [], "theirs": []}
                for i in range(1, args.runs + 1):
                    a, b = pair(i)
                    # Alternate who goes first, so neither always meets a
                    # cooler API server.
                    if i % 2:
                        samples["ours"].append(measure(a))
                        samples["theirs"].append(measure(b))
                    else:
                        samples["theirs"].append(measure(b))
                        samples["ours"].append(measure(a))
                print(row(name, samples["ours"], samples["theirs"]))
        finally:
            proc.stdin.close()
            proc.wait(timeout=60)


if __name__ == "__main__":
    main()
