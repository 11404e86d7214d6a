#!/usr/bin/env python3
"""Install and upgrade examples/charts/hello on a real API server: chainctl
against helm 3 of the Helm version the shim links, and helm 4, in one run.

Starts the test environment (tests/testenv: etcd and kube-apiserver built
from the Go module proxy, on loopback; the first build takes 5-10 minutes),
then runs each tool's equivalent command RUNS times, interleaved (the order
rotates), against the same API server, each tool in namespaces of its own:

  install: a new release per run (`chainctl app install --confirm`, which
           also writes its state record, vs `helm install`);
  upgrade: the same release upgraded with a new value per run.

helm 4 is the version go-shim/go.mod pins (helm.sh/helm/v4), or the one a
go.mod named by CHAINCTL_BENCH_HELM4_GO_MOD pins; `--no-helm4` leaves it out.
Each helm runs with its own defaults (helm 4: server-side apply).

Prints the median wall time, the peak RSS and chainctl's ratio to each helm
as a Markdown table. Targets (issue 13): wall time at most 0.9x of both
helms; peak RSS at most helm 3's.

    python3 benches/kube_vs_helm.py [--runs 7] [--no-helm4]

Wall times on a shared machine are noisy: read the ratios, not the absolutes.
"""

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_vs_helm import (  # noqa: E402
    CACHE, ROOT, build_chainctl, build_helm, build_testenv, helm4_go_mod, measure, private_homes,
    start_testenv,
)

TESTENV = ROOT / "tests" / "testenv"
BIN_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "chainctl-testenv"


def start_cluster(work: Path) -> tuple[subprocess.Popen, dict]:
    binary = build_testenv()
    kube = ["-kube-src", str(TESTENV / "kube"), "-bin-cache", str(BIN_CACHE)]
    # In the foreground first: the first build prints its progress.
    subprocess.run([str(binary), "build-kube", *kube], check=True, stdout=subprocess.DEVNULL)
    return start_testenv(binary, "-dir", str(work / "env"), "-kube", *kube)


@contextlib.contextmanager
def running_cluster() -> Iterator[tuple[Path, dict]]:
    """The test API server in a temporary directory, with every tool's homes
    under it (private_homes): yields the directory and the ready line's
    `kube`; stops the server on the way out."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        proc, ready = start_cluster(work)
        try:
            private_homes(work)
            yield work, ready["kube"]
        finally:
            proc.stdin.close()
            proc.wait(timeout=60)


def median_row(name: str, samples: dict[str, list]) -> str:
    """A table row: chainctl's median wall and peak RSS, then each helm's
    with chainctl's ratio to it."""
    wall = {tool: statistics.median(s[0] for s in runs) for tool, runs in samples.items()}
    rss = {tool: max(s[1] for s in runs) for tool, runs in samples.items()}
    cells = [name, f"{wall['chainctl'] * 1000:.1f} ms", f"{rss['chainctl'] / 2**20:.1f} MiB"]
    for tool in samples:
        if tool != "chainctl":
            cells += [f"{wall[tool] * 1000:.1f} ms", f"{wall['chainctl'] / wall[tool]:.2f}x",
                      f"{rss[tool] / 2**20:.1f} MiB", f"{rss['chainctl'] / rss[tool]:.2f}x"]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-helm4", action="store_true", help="compare with helm 3 only")
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    helms = {"helm 3": build_helm()}
    go_mod4 = None if args.no_helm4 else helm4_go_mod()
    if go_mod4 is not None:
        helms["helm 4"] = build_helm(4, go_mod4)
    elif not args.no_helm4:
        print("helm 4: not compared (go-shim/go.mod does not pin helm.sh/helm/v4 and "
              "CHAINCTL_BENCH_HELM4_GO_MOD is not set)", file=sys.stderr)
    chainctl = build_chainctl()
    chart = str(ROOT / "examples" / "charts" / "hello")

    with running_cluster() as (work, kube):
        cluster = ["--kubeconfig", kube["kubeconfig"], "--kube-context", kube["context"]]
        state = ["--state-path", str(work / "state" / "state.json")]
        # Each tool in namespaces of its own.
        spaces = {"chainctl": "bench-ours", **{t: "bench-" + t.replace(" ", "") for t in helms}}

        def command(tool: str, verb: str, release: str, *extra: str) -> list[str]:
            ns = spaces[tool]
            if tool == "chainctl":
                return [str(chainctl), "app", verb, "--bundle", chart, "--release", release,
                        "-n", ns, *extra, *cluster, *state, "--confirm"]
            return [str(helms[tool]), verb, release, chart, "-n", ns, *extra, *cluster]

        def install(tool: str, i: int) -> list[str]:
            return command(tool, "install", f"i{i}", "--create-namespace")

        def upgrade(tool: str, i: int) -> list[str]:
            return command(tool, "upgrade", "up", "--set", f"greeting=run{i}")

        tools = list(spaces)
        # Warm-up: creates the namespaces and the releases to upgrade, and
        # fills each tool's discovery cache.
        for tool in tools:
            measure(install(tool, 0))
            measure(command(tool, "install", "up"))

        print(f"\nchainctl: {chainctl}")
        for tool, helm in helms.items():
            print(f"{tool}:   {helm}, {measure([str(helm), 'version', '--short'])[2].decode().strip()}")
        print(f"API server: Kubernetes {kube['version']} on {kube['server']}")
        print(f"runs: {args.runs} each, interleaved (the order rotates), after one warm-up run\n")
        head = ["command", "chainctl median", "chainctl peak RSS"]
        for tool in helms:
            head += [f"{tool} median", f"wall vs {tool}", f"{tool} peak RSS", f"RSS vs {tool}"]
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for name, make in (("install of hello", install), ("upgrade of hello (new value)", upgrade)):
            samples: dict[str, list] = {tool: [] for tool in tools}
            for i in range(1, args.runs + 1):
                # Rotate who goes first, so no tool always meets a cooler
                # API server.
                shift = i % len(tools)
                for tool in tools[shift:] + tools[:shift]:
                    samples[tool].append(measure(make(tool, i)))
            print(median_row(name, samples))


if __name__ == "__main__":
    main()
