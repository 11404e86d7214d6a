#!/usr/bin/env python3
"""Many deploys from one process: the library against the helm CLI.

ONE Rust process (benches/deploy_many.rs: one `Client`, one `Deployer`,
recorded in a state file as the CLI records) installs COUNT releases of
examples/charts/hello, against COUNT `helm install` processes of the same
Helm version (built as benches/cli_vs_helm.py builds it), on the same API
server (tests/testenv, started as benches/kube_vs_helm.py starts it), each
tool in namespaces of its own. The pair runs RUNS times, interleaved, each
run in new namespaces; after one warm-up run of each.

Prints a Markdown table: total wall time for COUNT deploys (median of the
runs), per deploy, the chainctl/helm ratio; and the peak RSS of the one
process against the largest of the helm processes. Target (issue 13): the
library's total at most 0.5x helm's.

    python3 benches/deploy_many.py [--runs 3] [--count 20]

The process's wall time is measured from outside, start-up included, as
each helm's is. Wall times on a shared machine are noisy: read the ratios.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_vs_helm import CACHE, ROOT, build_helm, measure, same_page_cache  # noqa: E402
from kube_vs_helm import running_cluster  # noqa: E402


def build_deploy_many() -> Path:
    print("building the bench (cargo bench --no-run --bench deploy_many) ...", file=sys.stderr)
    out = subprocess.run(
        ["cargo", "bench", "--no-run", "--bench", "deploy_many", "--message-format=json"],
        check=True, cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    for line in out.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "deploy_many" \
                and msg.get("executable"):
            return Path(msg["executable"])
    sys.exit("cargo did not name the deploy_many executable")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--count", type=int, default=20)
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    helm, ours_bin = build_helm(), build_deploy_many()
    same_page_cache([helm, ours_bin])
    chart = str(ROOT / "examples" / "charts" / "hello")

    with running_cluster() as (work, kube):

        def ours(run: int) -> list:
            """One process, COUNT installs: [(wall, rss)]."""
            cmd = [str(ours_bin), "--kubeconfig", kube["kubeconfig"], "--context", kube["context"],
                   "--namespace", f"many-ours-{run}", "--state", str(work / "state" / "state.json"),
                   "--chart", chart, "--count", str(args.count), "--prefix", "r"]
            wall, rss, out = measure(cmd)
            count = json.loads(out)["count"]
            assert count == args.count, out
            return [(wall, rss)]

        def theirs(run: int) -> list:
            """COUNT helm processes: [(wall, rss)] each."""
            samples = []
            for i in range(args.count):
                cmd = [str(helm), "install", f"r{i}", chart, "-n", f"many-helm-{run}", "--create-namespace",
                       "--kubeconfig", kube["kubeconfig"], "--kube-context", kube["context"]]
                wall, rss, _ = measure(cmd)
                samples.append((wall, rss))
            return samples

        # Warm-up: both tools' discovery caches, the API server's.
        ours(0)
        theirs(0)

        print(f"\ndeploy_many: {ours_bin}")
        print(f"helm:        {helm}, {measure([str(helm), 'version', '--short'])[2].decode().strip()}")
        print(f"API server: Kubernetes {kube['version']} on {kube['server']}")
        print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
        print(f"{args.count} installs of hello per run; runs: {args.runs}, interleaved, after one warm-up run\n")
        totals = {"ours": [], "theirs": []}
        rss = {"ours": 0, "theirs": 0}
        for run in range(1, args.runs + 1):
            order = ("ours", "theirs") if run % 2 else ("theirs", "ours")
            for who in order:
                samples = ours(run) if who == "ours" else theirs(run)
                totals[who].append(sum(s[0] for s in samples))
                rss[who] = max(rss[who], max(s[1] for s in samples))
            print(f"run {run}: one process {totals['ours'][-1]:.2f} s, "
                  f"{args.count} helm processes {totals['theirs'][-1]:.2f} s, "
                  f"ratio {totals['ours'][-1] / totals['theirs'][-1]:.2f}x", file=sys.stderr)
        med = {who: statistics.median(t) for who, t in totals.items()}
        print(f"| tool | total wall for {args.count} (median) | per deploy | wall ratio | peak RSS | RSS ratio |")
        print("|---|---|---|---|---|---|")
        print(f"| chainctl-core, one process (Client + Deployer, state file) | {med['ours']:.2f} s "
              f"| {med['ours'] / args.count * 1000:.0f} ms | {med['ours'] / med['theirs']:.2f}x "
              f"| {rss['ours'] / 2**20:.1f} MiB | {rss['ours'] / rss['theirs']:.2f}x |")
        print(f"| helm install, {args.count} processes | {med['theirs']:.2f} s "
              f"| {med['theirs'] / args.count * 1000:.0f} ms | 1.00x "
              f"| {rss['theirs'] / 2**20:.1f} MiB (largest) | 1.00x |")
        print("\nper-run totals (s): ours " + ", ".join(f"{t:.2f}" for t in totals["ours"])
              + "; helm " + ", ".join(f"{t:.2f}" for t in totals["theirs"]))


if __name__ == "__main__":
    main()
