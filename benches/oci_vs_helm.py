#!/usr/bin/env python3
"""Pull a chart from a real registry: chainctl's two builds (cold, warm by
tag, warm by digest) against `helm pull` of helm 3 and helm 4, in one run.

Starts the test registry (tests/testenv, a distribution registry on
loopback), pushes examples/charts/hello with helm 3, then times each pull
RUNS times, interleaved (the order rotates), and counts the registry
requests each one makes (from the registry's access log). Prints a
Markdown table.

Caches, each private to this run and kept from one of its runs to the next,
as a user's are:
- chainctl: XDG_CACHE_HOME, one for each build; "cold" runs get an empty
  one each time.
- helm 3: its HELM_CACHE_HOME (it keeps no charts there for OCI pulls).
- helm 4: its content cache (HELM_CONTENT_CACHE, charts by digest). `helm
  pull` reads that cache but does not fill it (helm's DownloadTo); install,
  upgrade and template do (DownloadToCache). So the warm helm 4 cache is
  filled once before the runs with `helm template` of the chart by version,
  and by digest and version, and "cold" helm 4 runs get an empty one each
  time. Helm 4.3.2 looks a chart up in that cache only when the reference
  names both a digest and a version (it checks the tag with a HEAD and keys
  the cache by the manifest's digest); by version alone or by digest alone it
  resolves no digest and downloads, warm or not.

`--no-helm4` leaves helm 4 out, `--no-chainctl-helm4` chainctl's Helm 4
build.

    python3 benches/oci_vs_helm.py [--runs 5] [--no-helm4] [--no-chainctl-helm4]

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
    CACHE, ROOT, add_tool_flags, build_testenv, build_tools, measure, rotated, start_testenv,
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
    add_tool_flags(parser)
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    chainctls, helms = build_tools(args)
    helm3 = helms["helm 3"]

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        proc, ready, log = start_registry(work)
        try:
            host = ready["plain"]
            os.environ["HELM_REGISTRY_CONFIG"] = str(work / "helm-registry.json")
            os.environ["HELM_CACHE_HOME"] = str(work / "helm-cache")
            os.environ["HELM_CONFIG_HOME"] = str(work / "helm-config")
            subprocess.run([str(helm3), "package", str(ROOT / "examples/charts/hello"), "-d", str(work)],
                           check=True, capture_output=True)
            subprocess.run([str(helm3), "push", str(work / "hello-0.1.0.tgz"), f"oci://{host}/bench", "--plain-http"],
                           check=True, capture_output=True)
            ref = f"oci://{host}/bench/hello"
            config = ["--registry-config", str(work / "chainctl-registry.json")]

            def pulled_digest(chainctl: Path, cache: Path) -> str:
                """Pulls once into `cache` (warming it); the manifest's digest."""
                os.environ["XDG_CACHE_HOME"] = str(cache)
                out = measure([str(chainctl), "chart", "pull", f"{ref}:0.1.0", "--plain-http", "-o", "json", *config])
                return json.loads(out[2])["manifestDigest"]

            # Each case: (command, environment for it) for run i.
            cases: dict = {}

            def helm_pull(helm: Path, suffix: list[str]) -> list[str]:
                dest = tempfile.mkdtemp(dir=work)
                return [str(helm), "pull", *suffix, "--plain-http", "-d", dest]

            digest = None
            for n, (tool, chainctl) in enumerate(chainctls.items()):
                warm = work / f"warm-cache-{n}"
                digest = pulled_digest(chainctl, warm)
                by_tag = [str(chainctl), "chart", "pull", f"{ref}:0.1.0", "--plain-http", *config]
                by_digest = [str(chainctl), "chart", "pull", f"{ref}@{digest}", "--plain-http", *config]
                cases[f"{tool} cold (by tag)"] = (
                    lambda i, by_tag=by_tag, n=n: (by_tag, {"XDG_CACHE_HOME": str(work / f"cold-{n}-{i}")}))
                cases[f"{tool} warm (by tag)"] = (
                    lambda i, by_tag=by_tag, warm=warm: (by_tag, {"XDG_CACHE_HOME": str(warm)}))
                cases[f"{tool} warm (by digest)"] = (
                    lambda i, by_digest=by_digest, warm=warm: (by_digest, {"XDG_CACHE_HOME": str(warm)}))

            cases["helm 3 pull (by version)"] = lambda i: (helm_pull(helm3, [ref, "--version", "0.1.0"]), {})
            cases["helm 3 pull (by digest)"] = lambda i: (helm_pull(helm3, [f"{ref}@{digest}"]), {})
            if "helm 4" in helms:
                helm4 = helms["helm 4"]

                def helm4_env(home: Path) -> dict:
                    return {"HELM_CACHE_HOME": str(home), "HELM_CONTENT_CACHE": str(home / "content"),
                            "HELM_CONFIG_HOME": str(work / "helm4-config"),
                            "HELM_DATA_HOME": str(work / "helm4-data")}

                warm4 = helm4_env(work / "helm4-cache")
                # Fill helm 4's content cache as a user's is filled: by an
                # install, upgrade or template of the chart.
                saved = dict(os.environ)
                os.environ.update(warm4)
                for fill in ([ref, "--version", "0.1.0"], [f"{ref}@{digest}", "--version", "0.1.0"]):
                    subprocess.run([str(helm4), "template", "r", *fill, "--plain-http"],
                                   check=True, capture_output=True)
                os.environ.clear()
                os.environ.update(saved)
                filled = sorted(p.name for p in (work / "helm4-cache" / "content").rglob("*") if p.is_file())
                print(f"helm 4 content cache after `helm template`: {len(filled)} file(s)", file=sys.stderr)
                cases["helm 4 pull cold (by version)"] = (
                    lambda i: (helm_pull(helm4, [ref, "--version", "0.1.0"]), helm4_env(work / f"helm4-cold-{i}")))
                cases["helm 4 pull warm (by version)"] = (
                    lambda i: (helm_pull(helm4, [ref, "--version", "0.1.0"]), warm4))
                cases["helm 4 pull warm (by digest)"] = (
                    lambda i: (helm_pull(helm4, [f"{ref}@{digest}"]), warm4))
                cases["helm 4 pull warm (by digest and version)"] = (
                    lambda i: (helm_pull(helm4, [f"{ref}@{digest}", "--version", "0.1.0"]), warm4))

            samples: dict[str, list[tuple[float, tuple[int, int, int]]]] = {name: [] for name in cases}
            for i in range(args.runs + 1):  # the first round warms the page cache and is dropped
                for name in rotated(list(cases), i):
                    cmd, env = cases[name](i)
                    saved = dict(os.environ)
                    os.environ.update(env)
                    start = lines(log)
                    wall = measure(cmd)[0]
                    os.environ.clear()
                    os.environ.update(saved)
                    if i > 0:
                        samples[name].append((wall, count(log, start)))
        finally:
            proc.stdin.close()
            proc.wait(timeout=10)

    bases = {"helm 3": statistics.median(w for w, _ in samples["helm 3 pull (by version)"])}
    # helm 4's strongest warm pull: the one its content cache answers.
    strongest = "helm 4 pull warm (by digest and version)"
    if strongest in samples:
        bases["helm 4"] = statistics.median(w for w, _ in samples[strongest])
    print(f"\nruns: {args.runs} each, interleaved (the order rotates), after one warm-up round; "
          "registry on loopback (plain HTTP)\n")
    head = ["pull", "median wall", "vs helm 3 pull (by version)"]
    if "helm 4" in bases:
        head.append("vs helm 4 pull warm (by digest and version)")
    head += ["requests", "manifest requests", "blob downloads"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, runs in samples.items():
        wall = statistics.median(w for w, _ in runs)
        total, manifests, blobs = runs[-1][1]
        ratios = [f"{wall / base:.2f}x" for base in bases.values()]
        print(f"| {name} | {wall * 1000:.1f} ms | {' | '.join(ratios)} | {total} | {manifests} | {blobs} |")
    counts = {name: {r[1] for r in runs} for name, runs in samples.items()}
    for name, seen in counts.items():
        if len(seen) > 1:
            print(f"note: {name} made different request counts from run to run: {sorted(seen)}", file=sys.stderr)


if __name__ == "__main__":
    main()
