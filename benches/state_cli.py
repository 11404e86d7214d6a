#!/usr/bin/env python3
"""What one recorded action costs as the state file grows: the CLI, end to end.

For state files holding 0, 1,000, 10,000 and 100,000 records of other
releases (as `state validate` counts them: history entries; one a release
unless --per-release says more, each release with its `current` too, as
chainctl writes them), measures in one run, interleaved:

  install: `chainctl app install --driver memory ... --confirm` of
           examples/charts/hello (a rehearsal: no cluster, but the state file
           is locked, read, checked, and rewritten with the new record);
  show:    `chainctl state show` of the whole file;
  floor:   writing a file of that size to a temporary file, fsync, rename,
           fsync of the directory (what any atomic rewrite costs).

Each run starts from the same file. Reports the median wall time, the ratio
to the empty file, and the peak RSS growth over the empty file against the
file's size. With --baseline (another build of chainctl, e.g. main's), both
run side by side, and the script also checks that both builds write the same
bytes: the file after an install is the file before it with the new release
added, and nothing else changed.

Targets (issue 13): install at 10,000 at most 1.2x the empty file; show at
10,000 under 100 ms; RSS growth at most 1.5x the file size.

    python3 benches/state_cli.py [--runs 5] [--sizes 0 1000 10000 100000]
        [--chainctl target/release/examples/chainctl] [--baseline PATH] [--per-release 100]

Wall times on a shared machine are noisy: read the ratios, not the absolutes.
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_vs_helm import ROOT, build_chainctl, measure  # noqa: E402

CHART = str(ROOT / "examples" / "charts" / "hello")
NEW = "bench-new"  # in namespace bench, after every generated release (apps): its text goes last


def measure_clean(cmd: list[str], work: Path) -> tuple[float, int, bytes]:
    """measure(cmd), with the peak RSS taken by /usr/bin/time, which forks
    the command from a small process of its own. Spawned straight from this
    script, the command's peak RSS would be at least this script's own
    (Linux keeps, across exec, the high-water mark of the memory the child
    shared with its parent), and this script holds the large state files."""
    out = work / "rss.txt"
    wall, _, stdout = measure(["/usr/bin/time", "-f", "%M", "-o", str(out), *cmd])
    return wall, int(out.read_text().split()[-1]) * 1024, stdout


def install_cmd(chainctl: Path, state: Path) -> list[str]:
    return [str(chainctl), "app", "install", "--release", NEW, "--bundle", CHART, "-n", "bench",
            "--driver", "memory", "--state-path", str(state), "--confirm"]


def show_cmd(chainctl: Path, state: Path) -> list[str]:
    return [str(chainctl), "state", "show", "--state-path", str(state)]


def template(chainctl: Path, work: Path) -> tuple[str, dict]:
    """A record as this chainctl writes it: one install into an empty file."""
    state = work / "template" / "state.json"
    state.parent.mkdir(mode=0o700)
    measure(install_cmd(chainctl, state))
    releases = json.loads(state.read_text())["releases"]
    [(key, release)] = releases.items()
    return key, release["current"]


def write_state(path: Path, n: int, record: dict, per_release: int) -> None:
    """n records (history entries, as `state validate` counts them) in
    releases of `per_release` each, in chainctl's layout: pretty down to the
    records, one compact record per line, the key order the record's own
    (taken from a file chainctl wrote), the last one also `current`."""
    parts = []
    for r in range((n + per_release - 1) // per_release):
        name = f"bench-{r:06d}"
        count = min(per_release, n - r * per_release)
        lines = []
        for i in range(count):
            rec = dict(record, release=name, namespace="apps", helmRevision=i + 1)
            lines.append(json.dumps(rec, separators=(",", ":"), ensure_ascii=False))
        history = ",\n        ".join(lines)
        parts.append(f'    "rehearsal/apps/{name}": {{\n      "current": {lines[-1]},\n'
                     f'      "history": [\n        {history}\n      ]\n    }}')
    body = ",\n".join(parts)
    releases = f"{{\n{body}\n  }}" if parts else "{}"
    path.write_text(f'{{\n  "schemaVersion": 4,\n  "releases": {releases}\n}}\n')


def floor(size: int, work: Path, runs: int) -> float:
    """Median seconds of the atomic replace of a file of `size` bytes."""
    data = os.urandom(size)
    target = work / "floor.json"
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        tmp = work / "floor.json.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        os.rename(tmp, target)
        dfd = os.open(work, os.O_RDONLY)
        os.fsync(dfd)
        os.close(dfd)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def check_same_bytes(before: bytes, after: bytes, who: str) -> None:
    """after is before with the new release appended, and nothing else."""
    tail = b"\n  }\n}\n"
    if before.endswith(b'"releases": {}\n}\n'):
        return
    prefix = before[: -len(tail)]
    marker = f',\n    "rehearsal/bench/{NEW}": '.encode()
    if not (after.startswith(prefix) and after[len(prefix):].startswith(marker)):
        sys.exit(f"{who}: the install changed the text of releases it did not touch")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 1000, 10_000, 100_000])
    parser.add_argument("--chainctl", type=Path, help="the build to measure (default: build it)")
    parser.add_argument("--baseline", type=Path, help="another build to measure beside it")
    parser.add_argument("--per-release", type=int, default=1,
                        help="records in each release's history (default 1; 100 is the history limit)")
    args = parser.parse_args()
    if not Path("/usr/bin/time").exists():
        sys.exit("state_cli.py needs GNU time at /usr/bin/time for peak RSS: apt-get install time")
    builds = [("this", args.chainctl or build_chainctl())]
    if args.baseline:
        builds.append(("baseline", args.baseline))
    base = Path(os.environ.get("CHAINCTL_BENCH_DIR", tempfile.gettempdir()))

    with tempfile.TemporaryDirectory(dir=base) as tmp:
        work = Path(tmp)
        for name, _ in builds:
            (work / name).mkdir(mode=0o700)
        _, record = template(builds[0][1], work)
        results = {}
        for n in args.sizes:
            source = work / f"state-{n}.json"
            write_state(source, n, record, args.per_release)
            size = source.stat().st_size
            original = source.read_bytes()
            samples = {(b, op): [] for b, _ in builds for op in ("install", "show")}
            for _ in range(args.runs):
                for name, chainctl in builds:
                    state = work / name / f"{n}" / "state.json"
                    state.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                    shutil.copyfile(source, state)
                    state.chmod(0o600)
                    samples[(name, "install")].append(
                        measure_clean(install_cmd(chainctl, state), work))
                    check_same_bytes(original, state.read_bytes(), name)
                    shutil.copyfile(source, state)
                    samples[(name, "show")].append(measure_clean(show_cmd(chainctl, state), work))
            results[n] = (size, floor(size, work, args.runs), samples)
            print(f"measured {n} records ({size / 2**20:.1f} MiB)", file=sys.stderr)

    for name, _ in builds:
        print(f"\n{name} build ({dict(builds)[name]}), {args.per_release} record(s) per release, "
              f"median of {args.runs} runs:\n")
        print("| records | file size | install | vs empty | state show | vs empty "
              "| RSS growth (install) | growth / file size | fsync+rename floor |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        empty = {op: statistics.median(s[0] for s in results[min(results)][2][(name, op)])
                 for op in ("install", "show")}
        empty_rss = max(s[1] for s in results[min(results)][2][(name, "install")])
        for n, (size, fl, samples) in results.items():
            wall = {op: statistics.median(s[0] for s in samples[(name, op)])
                    for op in ("install", "show")}
            rss = max(s[1] for s in samples[(name, "install")])
            growth = rss - empty_rss
            ratio = f"{growth / size:.2f}x" if n else "-"
            print(f"| {n:,} | {size / 2**20:.2f} MiB | {wall['install'] * 1000:.1f} ms "
                  f"| {wall['install'] / empty['install']:.2f}x | {wall['show'] * 1000:.1f} ms "
                  f"| {wall['show'] / empty['show']:.2f}x | {growth / 2**20:.1f} MiB | {ratio} "
                  f"| {fl * 1000:.1f} ms |")


if __name__ == "__main__":
    main()
