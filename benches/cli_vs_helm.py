#!/usr/bin/env python3
"""Compare chainctl's two builds with helm 3 and helm 4, in one run.

Builds `chainctl` (release profile): the default build, which links Helm 3,
and the Helm 4 one (`--features helm-v4`, CARGO_TARGET_DIR=target/helm-v4);
and `helm` 3 and 4 from the Go module proxy at the versions go-shim/go.mod
and go-shim/go.helm4.mod pin (`testenv build-helm`, cached by version), stamped
the way Helm's release builds stamp it (its version, and the Kubernetes
version `helm template` assumes). Then runs each tool's equivalent command RUNS
times, interleaved (the order of the tools rotates), and reports the median
wall time, the peak RSS and the chainctl/helm ratios as a Markdown table, a
row for each chainctl build against each helm. Also checks that each build
prints the manifest helm of its Helm major prints. `--no-helm4` leaves helm 4
out, `--no-chainctl-helm4` chainctl's Helm 4 build.

    python3 benches/cli_vs_helm.py [--runs 5] [--no-helm4] [--no-chainctl-helm4]

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


V4_TARGET = ROOT / "target" / "helm-v4"


def chainctl_path(helm4: bool = False) -> Path:
    """Where build_chainctl(helm4) puts the binary: the Helm 4 build has a
    target dir of its own (target/helm-v4), so the two builds never relink
    each other."""
    return (V4_TARGET if helm4 else ROOT / "target") / "release" / "examples" / "chainctl"


def chainctl_build_command(helm4: bool = False) -> tuple[list[str], dict]:
    """The cargo command (and environment) that builds chainctl (release
    profile): the default build links Helm 3; `helm4` builds with the
    feature helm-v4 into target/helm-v4."""
    cmd = ["cargo", "build", "--release", "--example", "chainctl"]
    env = dict(os.environ)
    if helm4:
        cmd += ["--features", "helm-v4"]
        env["CARGO_TARGET_DIR"] = str(V4_TARGET)
    return cmd, env


def build_chainctl(helm4: bool = False) -> Path:
    """Builds chainctl (the Helm 4 build with `helm4`); returns the binary.
    Prints the build's wall time to stderr."""
    cmd, env = chainctl_build_command(helm4)
    where = " (CARGO_TARGET_DIR=target/helm-v4)" if helm4 else ""
    print(f"building chainctl ({' '.join(cmd)}{where}) ...", file=sys.stderr)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, env=env)
    print(f"  built in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return chainctl_path(helm4)


def add_tool_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that leave tools out of a four-tool run."""
    parser.add_argument("--no-helm4", action="store_true", help="leave helm 4 out")
    parser.add_argument("--no-chainctl-helm4", action="store_true",
                        help="leave chainctl's Helm 4 build (--features helm-v4) out")


def same_page_cache(binaries) -> None:
    """Drops the binaries' pages from the page cache (posix_fadvise
    DONTNEED: clean pages no process maps), so that every tool is read back
    by the runs themselves, in the same state. A binary the linker has just
    written sits whole in the page cache, and the kernel maps more of it
    around each fault than it does of a file read back by faults: just
    after a build, chainctl's peak RSS was 7 MiB above what it is once its
    pages have been read back (helm's, built days before, did not move)."""
    for binary in binaries:
        fd = os.open(binary, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def build_tools(args: argparse.Namespace) -> tuple[dict[str, Path], dict[str, Path]]:
    """The tools of one run, by label: the chainctl builds ("chainctl (Helm 3
    build)", "chainctl (Helm 4 build)") and the helms ("helm 3", "helm 4"),
    less those the flags of add_tool_flags leave out, each in the same
    page cache state (same_page_cache)."""
    helms = {"helm 3": build_helm()}
    if not args.no_helm4:
        helms["helm 4"] = build_helm(4, helm4_go_mod())
    chainctls = {"chainctl (Helm 3 build)": build_chainctl()}
    if not args.no_chainctl_helm4:
        chainctls["chainctl (Helm 4 build)"] = build_chainctl(helm4=True)
    same_page_cache([*chainctls.values(), *helms.values()])
    return chainctls, helms


def same_helm(ours: str, theirs: str) -> bool:
    """Whether the chainctl build `ours` links the Helm major of the helm
    `theirs` (labels of build_tools): the pairs whose output must match
    (helm 4's manifests differ from helm 3's in blank lines)."""
    return ours.removeprefix("chainctl (Helm ").split()[0] == theirs.removeprefix("helm ")


def rotated(tools: list, i: int) -> list:
    """tools, rotated by i: who goes first changes from run to run."""
    shift = i % len(tools)
    return tools[shift:] + tools[:shift]


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
    add_tool_flags(parser)
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    chainctls, helms = build_tools(args)
    chart = str(ROOT / "examples" / "charts" / "hello")

    def commands(tool: str, path: Path) -> dict[str, list[str]]:
        if tool in chainctls:
            return {
                "dry-run install of examples/charts/hello":
                    [str(path), "app", "install", "--bundle", chart, "--release", "hello", "--namespace", "demo",
                     "--dry-run"],
                "version": [str(path), "--version"],
            }
        return {
            "dry-run install of examples/charts/hello": [str(path), "template", "hello", chart, "--namespace", "demo"],
            "version": [str(path), "version"],
        }

    tools = {**chainctls, **helms}
    cmds = {tool: commands(tool, path) for tool, path in tools.items()}
    print()
    for tool, path in chainctls.items():
        print(f"{tool}: {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    for tool, path in helms.items():
        print(f"{tool}: {path} ({path.stat().st_size / 2**20:.1f} MiB), "
              f"{measure([str(path), 'version', '--short'])[2].decode().strip()}")
    print(f"runs: {args.runs} each, interleaved (the order of the {len(tools)} tools rotates), "
          "after one warm-up run\n")
    print("| command | chainctl median | helm median | wall ratio | chainctl peak RSS | helm peak RSS | RSS ratio |")
    print("|---|---|---|---|---|---|---|")
    identical = {}
    for name in cmds[next(iter(chainctls))]:
        outs = {tool: measure(cmds[tool][name])[2] for tool in tools}
        if name.startswith("dry-run"):
            for ours in chainctls:
                for theirs in (h for h in helms if same_helm(ours, h)):
                    identical[(ours, theirs)] = outs[ours] == outs[theirs]
                    if outs[ours] != outs[theirs]:
                        print(f"WARNING: the manifests of {ours} and {theirs} differ for {name}", file=sys.stderr)
        samples = {tool: [] for tool in tools}
        for i in range(args.runs):
            for tool in rotated(list(tools), i):
                samples[tool].append(measure(cmds[tool][name]))
        for ours in chainctls:
            for theirs in helms:
                print(row(f"{name}: {ours} vs {theirs}", samples[ours], samples[theirs]))
    print()
    for (ours, theirs), same in identical.items():
        print(f"manifests identical, {ours} and {theirs}: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
