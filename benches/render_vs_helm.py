#!/usr/bin/env python3
"""Render time and peak RSS: `chainctl app install --dry-run` against `helm template`.

Both chainctl builds (Helm 3, and Helm 4 with --features helm-v4) beside
helm 3 and helm 4, in one run; a row for each chainctl build against each
helm (`--no-helm4`, `--no-chainctl-helm4` leave those out).

Two charts: the one of Helm's own testdata (read from the Go module cache)
whose render is largest, and a chart generated here whose manifest has
thousands of lines, rendered with a values file of hundreds of keys. Each
tool runs RUNS times, interleaved (the order rotates), after a warm-up; the table gives median
wall time, peak RSS and the ratios, and checks that each chainctl build's
manifests equal those of the helm of its Helm major.

    python3 benches/render_vs_helm.py [--runs 5] [--lines 5000] [--no-helm4] [--no-chainctl-helm4]

Wall times on a shared machine are noisy: read the ratios, not the absolutes.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from cli_vs_helm import ROOT, CACHE, add_tool_flags, build_tools, measure, rotated, row, same_helm


def corpus_charts() -> list[Path]:
    go_mod = (ROOT / "go-shim" / "go.mod").read_text()
    version = next(line.split()[1] for line in go_mod.splitlines()
                   if line.strip().startswith("helm.sh/helm/v3 "))
    out = subprocess.run(["go", "mod", "download", "-json", f"helm.sh/helm/v3@{version}"],
                         check=True, capture_output=True, text=True, cwd=ROOT / "go-shim").stdout
    root = Path(json.loads(out)["Dir"])
    return sorted(p.parent for p in root.rglob("Chart.yaml") if "testdata" in p.parts)


def largest(helm: Path, charts: list[Path]) -> tuple[Path, int]:
    """The chart whose helm template output is largest (of those helm renders)."""
    best, size = None, -1
    for chart in charts:
        out = subprocess.run([str(helm), "template", "r", str(chart)], capture_output=True)
        if out.returncode == 0 and len(out.stdout) > size:
            best, size = chart, len(out.stdout)
    return best, size


def generated(dir: Path, lines: int) -> tuple[Path, Path]:
    """A chart of about `lines` manifest lines, and a values file for it."""
    chart = dir / "generated"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: generated\nversion: 1.0.0\n")
    count = max(1, lines // 10)
    (chart / "values.yaml").write_text(f"count: {count}\nprefix: item\n")
    (chart / "templates" / "many.yaml").write_text(
        "{{- range $i := until (int .Values.count) }}\n"
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        "  name: {{ $.Release.Name }}-{{ $.Values.prefix }}-{{ $i }}\n"
        "  labels: {index: {{ $i | quote }}}\n"
        "data:\n  a: {{ index $.Values.extra (printf \"k%d\" (mod $i 500)) | quote }}\n"
        "  b: {{ $.Values.prefix }}-{{ $i }}\n"
        "{{- end }}\n")
    values = dir / "values.yaml"
    values.write_text("extra:\n" + "".join(f"  k{i}: value-{i}\n" for i in range(500)))
    return chart, values


def same_manifest(ours: bytes, helm: bytes, helm_again: bytes) -> bool:
    """Equal but for the lines two helm runs differ in (randAlphaNum)."""
    a, b, c = (x.splitlines() for x in (ours, helm, helm_again))
    if not len(a) == len(b) == len(c):
        return False
    return all(x == y or y != z for x, y, z in zip(a, b, c))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--lines", type=int, default=5000)
    add_tool_flags(parser)
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    chainctls, helms = build_tools(args)
    corpus, corpus_size = largest(helms["helm 3"], corpus_charts())
    work = Path(tempfile.mkdtemp(prefix="render-bench-"))
    gen, values = generated(work, args.lines)
    cases = [
        (f"largest testdata chart ({corpus.name}, {corpus_size} bytes)", corpus, []),
        (f"generated chart ({args.lines} lines, 500 values)", gen, ["-f", str(values)]),
    ]
    print()
    for tool, path in {**chainctls, **helms}.items():
        print(f"{tool}: {path}")
    print(f"runs: {args.runs} each, interleaved (the order rotates), after one warm-up run\n")
    print("| render | chainctl median | helm median | wall ratio | chainctl peak RSS | helm peak RSS | RSS ratio |")
    print("|---|---|---|---|---|---|---|")
    tools = [*chainctls, *helms]
    for name, chart, extra in cases:
        cmds = {}
        for n, (tool, path) in enumerate(chainctls.items()):
            # A state file for each build: the dry run reads it.
            state = work / f"state-{n}" / "state.json"
            cmds[tool] = [str(path), "app", "install", "--bundle", str(chart), "--release", "r",
                          "--namespace", "default", "--dry-run", "--state-path", str(state), *extra]
        for tool, path in helms.items():
            cmds[tool] = [str(path), "template", "r", str(chart), "--namespace", "default", *extra]
        for ours in chainctls:
            for theirs in (h for h in helms if same_helm(ours, h)):
                if not same_manifest(measure(cmds[ours])[2], measure(cmds[theirs])[2], measure(cmds[theirs])[2]):
                    print(f"WARNING: the manifests of {ours} and {theirs} differ for {name}", file=sys.stderr)
        samples = {tool: [] for tool in tools}
        for i in range(args.runs):
            for tool in rotated(tools, i):
                samples[tool].append(measure(cmds[tool]))
        lines = measure(cmds["helm 3"])[2].count(b"\n")
        for ours in chainctls:
            for theirs in helms:
                print(row(f"{name}, {lines} lines: {ours} vs {theirs}", samples[ours], samples[theirs]))


if __name__ == "__main__":
    main()
