#!/usr/bin/env python3
"""Install and upgrade examples/charts/hello on a real API server: chainctl's
two builds (Helm 3, and Helm 4 with --features helm-v4) against helm 3 and
helm 4, in one run.

Starts the test environment (tests/testenv: etcd and kube-apiserver built
from the Go module proxy, on loopback; the first build takes 5-10 minutes),
then runs each tool's equivalent command RUNS times, interleaved (the order
rotates), against the same API server, each tool in namespaces of its own:

  install: a new release per run (`chainctl app install --confirm`, which
           also writes its state record, vs `helm install`);
  upgrade: the same release upgraded with a new value per run.

helm 4 is the version go-shim/go.helm4.mod pins (helm.sh/helm/v4), or the one a
go.mod named by CHAINCTL_BENCH_HELM4_GO_MOD pins; `--no-helm4` leaves it out,
`--no-chainctl-helm4` chainctl's Helm 4 build. Each tool runs with its own
defaults (helm 4 and chainctl's Helm 4 build: server-side apply).

Prints the median wall time, the peak RSS and chainctl's ratio to each helm
as a Markdown table, a row for each chainctl build. Targets (issue 13): wall time at most 0.9x of both
helms; peak RSS at most helm 3's.

    python3 benches/kube_vs_helm.py [--runs 7] [--no-helm4] [--no-chainctl-helm4]

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
    CACHE, ROOT, add_tool_flags, build_testenv, build_tools, measure, private_homes, rotated,
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


def median_row(name: str, ours: str, samples: dict[str, list], helms: list[str]) -> str:
    """A table row: the chainctl build `ours`'s median wall and peak RSS,
    then each helm's with its ratio to it."""
    wall = {tool: statistics.median(s[0] for s in runs) for tool, runs in samples.items()}
    rss = {tool: max(s[1] for s in runs) for tool, runs in samples.items()}
    cells = [f"{name}: {ours}", f"{wall[ours] * 1000:.1f} ms", f"{rss[ours] / 2**20:.1f} MiB"]
    for tool in helms:
        cells += [f"{wall[tool] * 1000:.1f} ms", f"{wall[ours] / wall[tool]:.2f}x",
                  f"{rss[tool] / 2**20:.1f} MiB", f"{rss[ours] / rss[tool]:.2f}x"]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    add_tool_flags(parser)
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    chainctls, helms = build_tools(args)
    chart = str(ROOT / "examples" / "charts" / "hello")

    with running_cluster() as (work, kube):
        cluster = ["--kubeconfig", kube["kubeconfig"], "--kube-context", kube["context"]]
        # Each tool in namespaces of its own; each chainctl build with a
        # state file of its own.
        spaces = {tool: f"bench-ours{n or ''}" for n, tool in enumerate(chainctls)}
        spaces |= {t: "bench-" + t.replace(" ", "") for t in helms}

        def command(tool: str, verb: str, release: str, *extra: str) -> list[str]:
            ns = spaces[tool]
            if tool in chainctls:
                state = ["--state-path", str(work / f"state-{ns}" / "state.json")]
                return [str(chainctls[tool]), "app", verb, "--bundle", chart, "--release", release,
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

        print()
        for tool, path in chainctls.items():
            print(f"{tool}: {path}")
        for tool, helm in helms.items():
            print(f"{tool}:   {helm}, {measure([str(helm), 'version', '--short'])[2].decode().strip()}")
        print(f"API server: Kubernetes {kube['version']} on {kube['server']}")
        print(f"runs: {args.runs} each, interleaved (the order of the {len(tools)} tools rotates), "
              "after one warm-up run\n")
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
                for tool in rotated(tools, i):
                    samples[tool].append(measure(make(tool, i)))
            for ours in chainctls:
                print(median_row(name, ours, samples, list(helms)))


if __name__ == "__main__":
    main()
