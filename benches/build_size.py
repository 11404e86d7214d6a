#!/usr/bin/env python3
"""Build time and binary size: chainctl's two builds beside helm 3 and helm 4.

For each chainctl build (the default one, which links Helm 3, and the Helm 4
one: `--features helm-v4` with CARGO_TARGET_DIR=target/helm-v4, so the two
never relink each other):

- the shim rebuild: `touch go-shim/*.go`, then the same `cargo build`
  (build.rs rebuilds the Go c-archive, cargo relinks chainctl). A second
  `cargo build` after touching nothing does nothing, so it is not reported;
  the first build brings the target dir up to date and is not timed.
- with `--cold`, also a build from an empty target dir (a temporary
  CARGO_TARGET_DIR, removed after; the Go build cache is left as it is,
  so the Go side of a cold build may be warm). On 2 cores the Helm 4 one
  takes 10 minutes or more.

Then the size of each binary, as built and stripped (`strip` of a copy),
for both chainctl builds and the helms that `testenv build-helm` builds,
with chainctl / helm ratios as a Markdown table.

    python3 benches/build_size.py [--runs 1] [--cold] [--no-helm4] [--no-chainctl-helm4]

Build times on a shared machine are noisy: read them as rough figures.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_vs_helm import (  # noqa: E402
    CACHE, ROOT, add_tool_flags, build_helm, chainctl_build_command, chainctl_path, helm4_go_mod,
)


def timed(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def shim_rebuild(helm4: bool, runs: int) -> float:
    """Median wall seconds of `touch go-shim/*.go` + cargo build."""
    cmd, env = chainctl_build_command(helm4)
    subprocess.run(cmd, check=True, cwd=ROOT, env=env)  # up to date first
    times = []
    for _ in range(runs):
        for source in (ROOT / "go-shim").glob("*.go"):
            source.touch()
        times.append(timed(cmd, env))
    return statistics.median(times)


def cold(helm4: bool) -> float:
    """Wall seconds of a build from an empty (temporary) target dir."""
    cmd, env = chainctl_build_command(helm4)
    with tempfile.TemporaryDirectory(prefix="chainctl-cold-", dir=ROOT / "target") as target:
        env["CARGO_TARGET_DIR"] = target
        return timed(cmd, env)


def sizes(binary: Path) -> tuple[int, int]:
    """Bytes as built and stripped."""
    with tempfile.TemporaryDirectory() as tmp:
        stripped = Path(tmp) / binary.name
        subprocess.run(["strip", "-o", str(stripped), str(binary)], check=True)
        return binary.stat().st_size, stripped.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="shim rebuilds of each build")
    parser.add_argument("--cold", action="store_true", help="also time a build from an empty target dir")
    add_tool_flags(parser)
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    (ROOT / "target").mkdir(exist_ok=True)

    builds = {"chainctl (Helm 3 build)": False}
    if not args.no_chainctl_helm4:
        builds["chainctl (Helm 4 build)"] = True
    # One heavy build at a time: each of these runs alone.
    rebuild = {tool: shim_rebuild(helm4, args.runs) for tool, helm4 in builds.items()}
    cold_times = {tool: cold(helm4) for tool, helm4 in builds.items()} if args.cold else {}

    helms = {"helm 3": build_helm()}
    if not args.no_helm4:
        helms["helm 4"] = build_helm(4, helm4_go_mod())

    print(f"\nshim rebuild: `touch go-shim/*.go` then the build's `cargo build`, median of {args.runs}\n")
    print("| build | command | shim rebuild + relink | cold (empty target dir) |")
    print("|---|---|---|---|")
    for tool, helm4 in builds.items():
        cmd, env = chainctl_build_command(helm4)
        where = "CARGO_TARGET_DIR=target/helm-v4 " if helm4 else ""
        cold_cell = f"{cold_times[tool]:.1f} s" if tool in cold_times else "not measured"
        print(f"| {tool} | `{where}{' '.join(cmd)}` | {rebuild[tool]:.1f} s | {cold_cell} |")

    measured = {tool: sizes(chainctl_path(helm4)) for tool, helm4 in builds.items()}
    measured |= {tool: sizes(path) for tool, path in helms.items()}
    print("\n| binary | size | stripped | " + " | ".join(f"stripped vs {h}" for h in helms) + " |")
    print("|" + "---|" * (3 + len(helms)))
    for tool, (size, stripped) in measured.items():
        ratios = [f"{stripped / measured[h][1]:.2f}x" for h in helms]
        print(f"| {tool} | {size / 2**20:.1f} MiB | {stripped / 2**20:.1f} MiB | {' | '.join(ratios)} |")


if __name__ == "__main__":
    main()
