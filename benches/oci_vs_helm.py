#!/usr/bin/env python3
"""Pull a chart from a real registry: chainctl (cold, warm by tag, warm by
digest) against `helm pull` of the same Helm version, in one run.

Starts the test registry (tests/testenv, a distribution registry on
loopback), pushes examples/charts/hello with helm, then times each pull
RUNS times, interleaved, and counts the registry requests each one makes
(from the registry's access log). Prints a Markdown table.

    python3 benches/oci_vs_helm.py [--runs 5]

Wall times on a shared machine are noisy: read the ratios and the counts.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_vs_helm import (  # noqa: E402
    CACHE, ROOT, build_chainctl, build_helm, build_testenv, measure, start_testenv,
)


def start_registry(work: Path) -> tuple[subprocess.Popen, dict, Path]:
    log = work / "access.log"
    proc, ready = start_testenv(build_testenv(), "-dir", str(work / "registry"), "-access-log", str(log))
    return proc, ready, log


def count(log: Path, start: int) -> tuple[int, int, int]:
    """Requests since line `start`: total, manifest requests, blob GETs."""
    lines = log.read_text().splitlines()[start:]
    manifests = sum(1 for l in lines if "/manifests/" in l)
    blobs = sum(1 for l in lines if l.split(" ")[1] == "GET" and "/blobs/" in l)
    return len(lines), manifests, blobs


def lines(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    helm, chainctl = build_helm(), build_chainctl()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        proc, ready, log = start_registry(work)
        try:
            host = ready["plain"]
            os.environ["HELM_REGISTRY_CONFIG"] = str(work / "helm-registry.json")
            os.environ["HELM_CACHE_HOME"] = str(work / "helm-cache")
            os.environ["HELM_CONFIG_HOME"] = str(work / "helm-config")
            subprocess.run([str(helm), "package", str(ROOT / "examples/charts/hello"), "-d", str(work)],
                           check=True, capture_output=True)
            subprocess.run([str(helm), "push", str(work / "hello-0.1.0.tgz"), f"oci://{host}/bench", "--plain-http"],
                           check=True, capture_output=True)
            ref = f"oci://{host}/bench/hello"
            config = ["--registry-config", str(work / "chainctl-registry.json")]

            warm_cache = work / "warm-cache"
            os.environ["XDG_CACHE_HOME"] = str(warm_cache)
            first = json.loads(measure([str(chainctl), "chart", "pull", f"{ref}:0.1.0", "--plain-http", "-o", "json", *config])[2])
            digest = first["manifestDigest"]

            def helm_pull(suffix: list[str]) -> list[str]:
                dest = tempfile.mkdtemp(dir=work)
                return [str(helm), "pull", *suffix, "--plain-http", "-d", dest]

            cases = {
                "helm pull (by version)": lambda i: (helm_pull([ref, "--version", "0.1.0"]), None),
                "helm pull (by digest)": lambda i: (helm_pull([f"{ref}@{digest}"]), None),
                "chainctl cold (by tag)": lambda i: (
                    [str(chainctl), "chart", "pull", f"{ref}:0.1.0", "--plain-http", *config], work / f"cold-{i}"),
                "chainctl warm (by tag)": lambda i: (
                    [str(chainctl), "chart", "pull", f"{ref}:0.1.0", "--plain-http", *config], warm_cache),
                "chainctl warm (by digest)": lambda i: (
                    [str(chainctl), "chart", "pull", f"{ref}@{digest}", "--plain-http", *config], warm_cache),
            }
            samples: dict[str, list[tuple[float, tuple[int, int, int]]]] = {name: [] for name in cases}
            for i in range(args.runs + 1):  # the first round warms the page cache and is dropped
                for name, make in cases.items():
                    cmd, cache = make(i)
                    if cache is not None:
                        os.environ["XDG_CACHE_HOME"] = str(cache)
                    start = lines(log)
                    wall = measure(cmd)[0]
                    if i > 0:
                        samples[name].append((wall, count(log, start)))
        finally:
            proc.stdin.close()
            proc.wait(timeout=10)

    base = statistics.median(w for w, _ in samples["helm pull (by version)"])
    print(f"\nruns: {args.runs} each, interleaved, after one warm-up round; registry on loopback (plain HTTP)\n")
    print("| pull | median wall | vs helm pull | requests | manifest requests | blob downloads |")
    print("|---|---|---|---|---|---|")
    for name, runs in samples.items():
        wall = statistics.median(w for w, _ in runs)
        total, manifests, blobs = runs[-1][1]
        print(f"| {name} | {wall * 1000:.1f} ms | {wall / base:.2f}x | {total} | {manifests} | {blobs} |")


if __name__ == "__main__":
    main()
