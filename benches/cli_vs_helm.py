#!/usr/bin/env python3
"""Compare chainctl with the helm CLI of the same Helm version, in one run.

Builds `chainctl` (release profile) and `helm` from the Go module proxy at the
version go-shim/go.mod pins (`testenv build-helm`, cached by version), stamped
the way Helm's release builds stamp it (its version, and the Kubernetes
version `helm template` assumes). Then runs each pair of equivalent commands
RUNS times, interleaved, and reports the median wall time, the peak RSS and
the chainctl/helm ratios as a Markdown table. Also checks that both print the
same manifest.

    python3 benches/cli_vs_helm.py [--runs 5]

Wall times on a shared machine are noisy: read the ratios, not the absolutes.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "chainctl-bench"


def build_helm(major: int = 3, go_mod: Path = ROOT / "go-shim" / "go.mod") -> Path:
    """helm (Helm `major`) at the version go_mod pins (go-shim/go.mod), built
    once and cached by `testenv build-helm`: the one recipe, shared with the
    parity tests."""
    out = subprocess.run(
        [str(build_testenv()), "build-helm", "-major", str(major), "-go-mod", str(go_mod)],
        check=True, stdout=subprocess.PIPE, text=True,
    )
    return Path(json.loads(out.stdout)["helm"])


def helm4_go_mod() -> Path | None:
    """The module file that pins Helm 4: the shim's Helm 4 backend's,
    go-shim/go.helm4.mod (CHAINCTL_BENCH_HELM4_GO_MOD names another)."""
    other = os.environ.get("CHAINCTL_BENCH_HELM4_GO_MOD")
    return Path(other) if other else ROOT / "go-shim" / "go.helm4.mod"


def private_homes(work: Path) -> None:
    """Points this process's environment (and so every tool it runs) at
    caches and config under `work`, apart from the user's: helm's three
    homes and chainctl's XDG cache."""
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        os.environ[var] = str(work / var.lower())
    os.environ["XDG_CACHE_HOME"] = str(work / "xdg-cache")


def build_testenv() -> Path:
    """Builds tests/testenv (the registries and the API server of the tests)."""
    binary = CACHE / "testenv"
    subprocess.run(["go", "build", "-trimpath", "-o", str(binary), "."], check=True, cwd=ROOT / "tests" / "testenv")
    return binary


def start_testenv(binary: Path, *flags: str) -> tuple[subprocess.Popen, dict]:
    """Starts the test environment with `flags`; returns it and its ready line.
    It stops when its stdin is closed."""
    proc = subprocess.Popen(
        [str(binary), "-password", "bench-password", *flags],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline()
    if not line:
        sys.exit("the test environment did not start")
    return proc, json.loads(line)


def build_chainctl() -> Path:
    print("building chainctl (cargo build --release --example chainctl) ...", file=sys.stderr)
    subprocess.run(["cargo", "build", "--release", "--example", "chainctl"], check=True, cwd=ROOT)
    return ROOT / "target" / "release" / "examples" / "chainctl"


def measure(cmd: list[str]) -> tuple[float, int, bytes]:
    """Runs cmd once; returns wall seconds, peak RSS in bytes, stdout."""
    read_end, write_end = os.pipe()
    start = time.perf_counter()
    pid = os.posix_spawnp(cmd[0], cmd, os.environ, file_actions=[
        (os.POSIX_SPAWN_DUP2, write_end, 1),
        (os.POSIX_SPAWN_CLOSE, read_end),
    ])
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed with {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_maxrss * 1024, b"".join(chunks)


def row(name: str, ours: list, theirs: list) -> str:
    """A table row from measure() samples: median wall, peak RSS, ratios."""
    wall_o = statistics.median(s[0] for s in ours)
    wall_t = statistics.median(s[0] for s in theirs)
    rss_o = max(s[1] for s in ours)
    rss_t = max(s[1] for s in theirs)
    return (f"| {name} | {wall_o * 1000:.1f} ms | {wall_t * 1000:.1f} ms | {wall_o / wall_t:.2f}x "
            f"| {rss_o / 2**20:.1f} MiB | {rss_t / 2**20:.1f} MiB | {rss_o / rss_t:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    helm, chainctl = build_helm(), build_chainctl()
    chart = str(ROOT / "examples" / "charts" / "hello")

    pairs = [
        ("dry-run install of examples/charts/hello",
         [str(chainctl), "app", "install", "--bundle", chart, "--release", "hello", "--namespace", "demo", "--dry-run"],
         [str(helm), "template", "hello", chart, "--namespace", "demo"]),
        ("version",
         [str(chainctl), "--version"],
         [str(helm), "version"]),
    ]
    print(f"\nchainctl: {chainctl} ({chainctl.stat().st_size / 2**20:.1f} MiB)")
    print(f"helm:     {helm} ({helm.stat().st_size / 2**20:.1f} MiB), "
          f"{measure([str(helm), 'version', '--short'])[2].decode().strip()}")
    print(f"runs: {args.runs} each, interleaved, after one warm-up run\n")
    print("| command | chainctl median | helm median | wall ratio | chainctl peak RSS | helm peak RSS | RSS ratio |")
    print("|---|---|---|---|---|---|---|")
    for name, ours, theirs in pairs:
        _, _, ours_out = measure(ours)
        _, _, theirs_out = measure(theirs)
        if name.startswith("dry-run") and ours_out != theirs_out:
            print(f"WARNING: the manifests differ for {name}", file=sys.stderr)
        samples = {"ours": [], "theirs": []}
        for _ in range(args.runs):
            samples["ours"].append(measure(ours))
            samples["theirs"].append(measure(theirs))
        print(row(name, samples["ours"], samples["theirs"]))
    same = measure(pairs[0][1])[2] == measure(pairs[0][2])[2]
    print(f"\nmanifests identical: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
