//! Parity with the helm CLI of the version the shim links (go-shim/go.mod),
//! built from the Go module proxy (tests/support/helm.rs): chainctl's dry
//! run must print what `helm template` prints, for the same values
//! arguments and for every chart of a corpus, and fail where helm fails.
//!
//! Each test runs all of its cases, then fails once listing every one that
//! differs, with both outputs. `CHAINCTL_PARITY_JOBS` sets how many cases
//! run at once (default: the number of cores, 2 to 4).

mod support;
use support::{chainctl, helm, testenv};

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chainctl::Sandbox;

// ---------------------------------------------------------------------------
// Running helm and chainctl, and comparing what they did.

/// What one command did.
struct Outcome {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn run(mut cmd: Command, stdin: Option<&str>) -> Outcome {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("piped stdin");
        let input = input.to_owned();
        // A thread of its own: a command that does not read its stdin would
        // otherwise block us once the pipe is full.
        std::thread::spawn(move || {
            let _ = pipe.write_all(input.as_bytes());
        });
    }
    let out = child.wait_with_output().expect("wait for the command");
    Outcome {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `helm template RELEASE CHART --namespace NS ARGS` in `dir`.
fn helm_template(dir: &Path, release: &str, chart: &Path, ns: &str, args: &[String]) -> Command {
    let mut cmd = helm::helm();
    cmd.current_dir(dir)
        .arg("template")
        .arg(release)
        .arg(chart)
        .args(["--namespace", ns])
        .args(args);
    cmd
}

/// `chainctl app install --bundle CHART --release RELEASE --namespace NS
/// --dry-run ARGS` in `dir`, in the sandbox.
fn chainctl_dry_run(
    sandbox: &Sandbox,
    dir: &Path,
    release: &str,
    chart: &Path,
    ns: &str,
    args: &[String],
) -> Command {
    let chart = chart.to_str().expect("a UTF-8 chart path");
    let mut head = vec![
        "app",
        "install",
        "--bundle",
        chart,
        "--release",
        release,
        "--namespace",
        ns,
        "--dry-run",
    ];
    head.extend(args.iter().map(String::as_str));
    let mut cmd = sandbox.command(&head);
    cmd.current_dir(dir);
    cmd
}

/// How many cases run at once.
fn jobs() -> usize {
    std::env::var("CHAINCTL_PARITY_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .filter(|&j| j > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .clamp(2, 4)
        })
}

/// `f` over `items`, `jobs()` at a time; results in the order of `items`.
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs().min(items.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    results.lock().unwrap()[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

/// The first `max` characters of `s`, and how much was left out.
fn clip(s: &str, max: usize) -> String {
    let s = s.trim_end();
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((at, _)) => format!(
            "{} [... {} more characters]",
            &s[..at],
            s.chars().count() - max
        ),
    }
}

/// Indents every line of `text` by `prefix`.
fn quote(prefix: &str, text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let _ = writeln!(out, "{prefix}{line}");
    }
    if out.is_empty() {
        let _ = writeln!(out, "{prefix}(nothing)");
    }
    out
}

/// Where `helm` and `ours` differ: when both have as many lines, the
/// differing lines side by side (the first few); otherwise the lines around
/// the first difference.
fn first_difference(helm: &str, ours: &str) -> String {
    let h: Vec<&str> = helm.lines().collect();
    let o: Vec<&str> = ours.lines().collect();
    if helm.lines().eq(ours.lines()) {
        return "  stdout differs only in line ends or a final newline\n".to_owned();
    }
    if ours.is_empty() || helm.trim().is_empty() {
        let start = |s: &str| s.chars().take(200).collect::<String>();
        return format!(
            "  helm prints {:?}, chainctl {:?}\n",
            start(helm),
            start(ours)
        );
    }
    if h.len() == o.len() {
        let differing: Vec<usize> = (0..h.len()).filter(|&i| h[i] != o[i]).collect();
        let mut out = format!(
            "  stdout differs in {} of {} lines:\n",
            differing.len(),
            h.len()
        );
        for &i in differing.iter().take(8) {
            let _ = writeln!(out, "    helm     {:5} | {}", i + 1, clip(h[i], 200));
            let _ = writeln!(out, "    chainctl {:5} | {}", i + 1, clip(o[i], 200));
        }
        if differing.len() > 8 {
            let _ = writeln!(out, "    ... and {} more", differing.len() - 8);
        }
        return out;
    }
    let at = h
        .iter()
        .zip(&o)
        .position(|(a, b)| a != b)
        .unwrap_or(h.len().min(o.len()));
    let from = at.saturating_sub(3);
    let show = |lines: &[&str], who: &str| {
        let mut out = String::new();
        for (n, line) in lines.iter().enumerate().skip(from).take(at + 6 - from) {
            let mark = if n == at { '>' } else { ' ' };
            let _ = writeln!(out, "    {who} {mark}{:5} | {}", n + 1, clip(line, 200));
        }
        if at >= lines.len() {
            let _ = writeln!(out, "    {who} >{:5} | (end of output)", lines.len() + 1);
        }
        out
    };
    let mut out = format!(
        "  stdout differs from line {} (helm {} lines, chainctl {} lines):\n",
        at + 1,
        h.len(),
        o.len()
    );
    out += &show(&h, "helm    ");
    out += &show(&o, "chainctl");
    out
}

/// The essential parts of helm's error, to be found in chainctl's too: the
/// innermost cause on its `Error:` line (after the last ": ", or the last
/// two such parts when that is short: a YAML error, a missing file, a
/// template expression), and every further line of detail (a schema's
/// violations), without the hint about --debug.
fn essentials(stderr: &str) -> Vec<String> {
    let mut lines = stderr
        .lines()
        .skip_while(|l| !l.starts_with("Error: "))
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Use --debug flag"));
    let Some(first) = lines.next() else {
        return vec![clip(stderr.trim(), 200)];
    };
    let first = first.trim_start_matches("Error: ");
    let parts: Vec<&str> = first.split(": ").collect();
    let mut cause = parts[parts.len() - 1].to_owned();
    if cause.len() < 12 && parts.len() > 1 {
        cause = parts[parts.len() - 2..].join(": ");
    }
    let mut all = vec![cause];
    all.extend(lines.map(str::to_owned));
    all
}

/// Compares helm's outcome with chainctl's; `None` when they agree.
/// `expected` are parts of an error the case expects helm (and so
/// chainctl) to report; empty when helm is expected to succeed, or when
/// the essential part of whatever error helm gives is to be found.
fn compare(helm: &Outcome, ours: &Outcome, expected: &[&str]) -> Option<String> {
    if !expected.is_empty() {
        if helm.ok {
            return Some(format!(
                "  THE CASE IS WRONG: it expects helm to fail with {expected:?}, but helm succeeded\n"
            ));
        }
        if let Some(part) = expected.iter().find(|p| !helm.stderr.contains(*p)) {
            return Some(format!(
                "  THE CASE IS WRONG: it expects helm's error to contain {part:?}; helm said:\n{}",
                quote("    helm     | ", &clip(&helm.stderr, 1500))
            ));
        }
    }
    match (helm.ok, ours.ok) {
        (true, true) if helm.stdout == ours.stdout => None,
        (true, true) => Some(first_difference(&helm.stdout, &ours.stdout)),
        // helm crashed on the input (Helm 4.3 panics reading the
        // dependencies of some apiVersion v3 charts): chainctl refuses it
        // with an error of its own, and no Go stack trace.
        (false, false) if expected.is_empty() && helm.stderr.starts_with("panic: ") => {
            if ours.stderr.contains("goroutine ") {
                Some(format!(
                    "  helm panics, and chainctl's error carries a Go stack trace:\n{}",
                    quote("    chainctl | ", &clip(&ours.stderr, 1500))
                ))
            } else {
                None
            }
        }
        (false, false) => {
            let parts: Vec<String> = if expected.is_empty() {
                essentials(&helm.stderr)
            } else {
                expected.iter().map(|p| p.to_string()).collect()
            };
            let missing: Vec<&String> = parts
                .iter()
                .filter(|p| !ours.stderr.contains(p.as_str()))
                .collect();
            if missing.is_empty() {
                return None;
            }
            Some(format!(
                "  both fail, but chainctl's error lacks {missing:?} from helm's:\n{}{}",
                quote("    helm     | ", &clip(&helm.stderr, 1500)),
                quote("    chainctl | ", &clip(&ours.stderr, 1500))
            ))
        }
        (true, false) => Some(format!(
            "  helm succeeds, chainctl fails:\n{}  helm's output begins:\n{}",
            quote("    chainctl | ", &clip(&ours.stderr, 1500)),
            quote("    helm     | ", &clip(&head(&helm.stdout, 12), 1500))
        )),
        (false, true) => Some(format!(
            "  helm fails, chainctl succeeds:\n{}  chainctl's output begins:\n{}",
            quote("    helm     | ", &clip(&helm.stderr, 1500)),
            quote("    chainctl | ", &clip(&head(&ours.stdout, 12), 1500))
        )),
    }
}

fn head(text: &str, lines: usize) -> String {
    text.lines().take(lines).collect::<Vec<_>>().join("\n")
}

/// Shell-ish rendering of arguments, for the report.
fn shown(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.=/,:[]".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A case where chainctl and helm disagree.
struct Difference {
    name: String,
    /// The first line of what `compare` found, for the summary.
    kind: String,
    /// What the case passed, then what `compare` found.
    detail: String,
}

impl Difference {
    fn new(name: &str, context: String, found: String) -> Difference {
        Difference {
            name: name.to_owned(),
            kind: found
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .trim_end_matches(':')
                .to_owned(),
            detail: context + &found,
        }
    }
}

/// Fails once with every difference, or returns.
fn report(what: &str, total: usize, differences: &[Difference], started: Instant) {
    let version = &helm::binary().version;
    eprintln!(
        "{what}: {} of {total} the same as helm {version} ({:.1?}, {} at a time)",
        total - differences.len(),
        started.elapsed(),
        jobs()
    );
    if differences.is_empty() {
        return;
    }
    let mut msg = format!(
        "{} of {total} {what} differ from helm {version}:\n",
        differences.len()
    );
    for d in differences {
        let _ = writeln!(msg, "  - {}: {}", d.name, d.kind);
    }
    for d in differences {
        let _ = write!(msg, "\n### {}\n{}", d.name, d.detail);
    }
    panic!("{msg}");
}

// ---------------------------------------------------------------------------
// Values: the probe chart prints the values it receives, with Go types.

fn probe_chart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/charts/values-probe")
}

/// One way of passing values: files written to a directory of its own
/// (the working directory of both commands), arguments, stdin.
struct Case {
    name: String,
    files: Vec<(&'static str, String)>,
    args: Vec<String>,
    stdin: Option<String>,
    /// Parts of the error helm must give, and chainctl too.
    error: Vec<&'static str>,
}

fn case(name: impl Into<String>) -> Case {
    Case {
        name: name.into(),
        files: Vec::new(),
        args: Vec::new(),
        stdin: None,
        error: Vec::new(),
    }
}

/// A case passing one values file, values.yaml, with `-f`.
fn values(name: &str, yaml: impl Into<String>) -> Case {
    case(name)
        .file("values.yaml", yaml)
        .args(&["-f", "values.yaml"])
}

/// A case passing only arguments.
fn flags(name: &str, args: &[&str]) -> Case {
    case(name).args(args)
}

impl Case {
    fn file(mut self, name: &'static str, content: impl Into<String>) -> Case {
        self.files.push((name, content.into()));
        self
    }
    fn args(mut self, args: &[&str]) -> Case {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }
    fn stdin(mut self, input: &str) -> Case {
        self.stdin = Some(input.to_owned());
        self
    }
    fn fails(mut self, parts: &[&'static str]) -> Case {
        self.error.extend(parts);
        self
    }
    /// Fails as [`fails`](Self::fails) says with Helm 3; Helm 4 takes it.
    fn fails_with_helm3(self, parts: &[&'static str]) -> Case {
        if helm::HELM_MAJOR == 3 {
            self.fails(parts)
        } else {
            self
        }
    }
}

fn value_cases() -> Vec<Case> {
    let deep = |levels: usize| {
        let key: Vec<String> = (1..=levels).map(|i| format!("k{i}")).collect();
        format!("{}=x", key.join("."))
    };
    vec![
        // YAML 1.1 scalars: Helm reads values files with go-yaml v2.
        values(
            "yaml11-bools",
            "a: yes\nb: no\nc: on\nd: off\ne: y\nf: n\ng: Y\nh: N\ni: True\nj: FALSE\nk: Yes\nl: OFF\n",
        ),
        values(
            "yaml11-bools-quoted",
            "a: \"yes\"\nb: 'no'\nc: \"on\"\nd: 'y'\n",
        ),
        values("yaml11-bools-in-a-list", "countries: [NO, SE, DK]\n"),
        values("yaml11-octal-0644", "mode: 0644\n"),
        values("yaml11-octal-0o644", "mode: 0o644\n"),
        values("yaml11-octal-invalid-089", "a: 089\nb: 08\n"),
        values("yaml11-hex", "a: 0x1F\nb: 0xff\n"),
        values("yaml11-binary-int", "a: 0b1010\n"),
        values("yaml11-underscores", "a: 1_000\nb: 1_000.5\n"),
        values("yaml11-sexagesimal", "a: 1:20\nb: 190:20:30\nc: 1:20.5\n"),
        values("yaml11-plus-sign", "a: +12\nb: +1.5\nc: .5\nd: 1.\n"),
        values("yaml11-inf", "a: .inf\nb: .Inf\nc: +.INF\n"),
        values("yaml11-negative-inf", "a: -.Inf\n"),
        values("yaml11-nan", "a: .nan\n"),
        values("yaml11-nulls", "a: ~\nb: null\nc:\nd: Null\ne: NULL\n"),
        values("yaml11-timestamp-date", "a: 2001-12-14\n"),
        values(
            "yaml11-timestamps",
            "a: 2001-12-14t21:59:43.10-05:00\nb: 2001-12-14 21:59:43.10 -5\nc: 2001-12-15T02:59:43.1Z\n",
        ),
        values("yaml11-version-like", "a: 1.10\nb: 1.2.3\nc: 010\nd: 1.0\n"),
        // Explicit tags.
        values("tag-binary", "a: !!binary aGVsbG8gd29ybGQ=\n"),
        values("tag-str", "a: !!str 123\nb: !!str true\nc: !!str null\n"),
        values("tag-int-of-quoted", "a: !!int \"7\"\n"),
        values("tag-int", "a: !!int 7\n"),
        values("tag-float", "a: !!float 1\nb: !!float \"2.5\"\n"),
        values("tag-bool-of-yes", "a: !!bool yes\n"),
        values("tag-null", "a: !!null ''\n"),
        // Keys.
        values("keys-n-y", "n: 1\ny: 2\n"),
        values("keys-on-off", "on: 1\noff: 2\n"),
        values("keys-yes-no-quoted", "\"yes\": 1\n'no': 2\n"),
        values("keys-int", "1: a\n2: b\n"),
        values("keys-bool", "true: b\n"),
        values("keys-float", "1.5: c\n"),
        values("keys-null", "null: d\n"),
        values("keys-mixed-nested", "m:\n  1: a\n  true: b\n  x: c\n"),
        values("keys-with-dots", "\"a.b\": 1\nc.d: 2\n"),
        values("keys-duplicate", "a: 1\na: 2\n"),
        values("keys-duplicate-maps", "m:\n  p: 1\nm:\n  q: 2\n"),
        // Anchors, aliases, merge keys.
        values("anchor-alias", "base: &b\n  p: 1\n  q: [1, 2]\nref: *b\n"),
        values("anchor-scalar", "a: &s hello\nb: *s\n"),
        values(
            "merge-key",
            "base: &b\n  p: 1\n  q: 2\nderived:\n  <<: *b\n  q: 3\n",
        ),
        values(
            "merge-keys-multiple",
            "a: &a {p: 1, r: a}\nb: &b {q: 2, r: b}\nc:\n  <<: [*a, *b]\n  s: 3\n",
        ),
        values(
            "merge-key-nested-override",
            "base: &b\n  m: {p: 1, q: 2}\nd:\n  <<: *b\n  m: {q: 3}\n",
        ),
        // Documents.
        values("multi-document", "a: 1\n---\nb: 2\n"),
        values("trailing-document-marker", "a: 1\n---\n"),
        values("leading-document-marker", "---\na: 1\n"),
        values("document-end-marker", "a: 1\n...\n"),
        values("empty-file", ""),
        values("comments-only", "# nothing\n# here\n"),
        values("whitespace-only", "\n   \n\n"),
        values("top-level-list", "- a\n- b\n").fails(&["values.yaml", "cannot unmarshal array"]),
        values("top-level-scalar", "hello\n").fails(&["values.yaml"]),
        // Numbers.
        values(
            "int64-max",
            "a: 9223372036854775807\nb: -9223372036854775808\n",
        ),
        values("int64-max-plus-one", "a: 9223372036854775808\n"),
        values("uint64-max-plus-one", "a: 18446744073709551616\n"),
        values("huge-int", "a: 12345678901234567890123\n"),
        values(
            "floats",
            "a: 1e3\nb: 1.0\nc: -0\nd: -0.0\ne: 1.5e-7\nf: 6.02e+23\ng: 3.14159265358979323846\n",
        ),
        values("date-like-int", "a: 20230101\nb: 2023-01-01\n"),
        values("ints-and-floats-in-lists", "l: [1, 1.0, 1e3, -1, 0]\n"),
        // Strings.
        values("long-string", format!("a: {}\n", "x".repeat(20_000))),
        values(
            "unicode",
            "greeting: \"héllo wörld ✓ 日本語\"\nemoji: 🎉\nkey-ü: \"\\u00e9\\u2713\"\n",
        ),
        values(
            "quoted-vs-unquoted",
            "a: \"1\"\nb: 1\nc: '1.0'\nd: \"true\"\ne: true\nf: 'null'\ng: \"\"\nh: ''\n",
        ),
        values(
            "block-scalars",
            "a: |\n  line1\n  line2\nb: >\n  folded\n  text\nc: |-\n  stripped\nd: |+\n  kept\n\n",
        ),
        values(
            "strings-with-specials",
            "a: \"tab\\there\"\nb: 'it''s'\nc: \"#no comment\"\nd: a # comment\n",
        ),
        // Structures.
        values(
            "nested-lists-of-maps",
            "items:\n  - name: a\n    ports: [80, 443]\n  - name: b\n    env:\n      - {name: X, value: \"1\"}\n      - name: Z\n        value: 2\n",
        ),
        values("lists-of-lists", "m: [[1, 2], [a, [b]], []]\n"),
        values("flow-style", "a: {b: 1, c: [x, y], d: {e: null}}\n"),
        values("empty-collections", "a: {}\nb: []\nc: \"\"\n"),
        values(
            "deep-nesting",
            "a:\n  b:\n    c:\n      d:\n        e:\n          f: deep\n",
        ),
        // Against the chart's defaults (values.yaml of the probe chart).
        values(
            "defaults-null-deletes",
            "defaults:\n  string: null\n  map:\n    drop: null\n",
        ),
        values(
            "defaults-override-types",
            "defaults:\n  int: \"2\"\n  float: 3\n  bool: no\n  string: 5\n",
        ),
        values(
            "defaults-maps-merge",
            "defaults:\n  map:\n    added: 1\n    nested:\n      other: 2\n",
        ),
        values("defaults-list-replaced", "defaults:\n  list: [z]\n"),
        values("defaults-map-by-scalar", "defaults:\n  map: gone\n"),
        values("defaults-scalar-by-map", "defaults:\n  int:\n    a: 1\n"),
        values(
            "defaults-null-default-set",
            "defaults:\n  nothing: 1\n  emptyMap:\n    a: 1\n",
        ),
        values("defaults-whole-map-null", "defaults: null\n"),
        flags("defaults-set-into-list", &["--set", "defaults.list[0]=z"]),
        flags(
            "defaults-set-null-deletes",
            &["--set", "defaults.map.drop=null,defaults.int=null"],
        ),
        flags(
            "defaults-set-types",
            &[
                "--set",
                "defaults.int=2,defaults.float=1.5,defaults.bool=false",
            ],
        ),
        // stdin and several files.
        case("stdin").args(&["-f", "-"]).stdin("a: 1\nb: yes\n"),
        case("stdin-after-a-file")
            .file("a.yaml", "a: 1\nb: file\n")
            .args(&["-f", "a.yaml", "-f", "-"])
            .stdin("b: stdin\nc: 0644\n"),
        case("files-maps-merge")
            .file("a.yaml", "m:\n  a: 1\n  b: 2\n  sub:\n    p: 1\n")
            .file("b.yaml", "m:\n  b: 3\n  c: 4\n  sub:\n    q: 2\n")
            .args(&["-f", "a.yaml", "-f", "b.yaml"]),
        case("files-lists-replace")
            .file("a.yaml", "l: [1, 2, 3]\n")
            .file("b.yaml", "l: [4]\n")
            .args(&["-f", "a.yaml", "--values", "b.yaml"]),
        case("files-null-deletes")
            .file("a.yaml", "m:\n  a: 1\n  b: 2\ndefaults:\n  keepme: 1\n")
            .file("b.yaml", "m:\n  a: null\ndefaults:\n  int: null\n")
            .args(&["-f", "a.yaml", "-f", "b.yaml"]),
        case("files-scalar-and-map-replace")
            .file("a.yaml", "s: scalar\nm: {a: 1}\n")
            .file("b.yaml", "s: {now: map}\nm: now-scalar\n")
            .args(&["-f", "a.yaml", "-f", "b.yaml"]),
        case("files-equals-form")
            .file("a.yaml", "a: 1\n")
            .file("b.yaml", "b: 2\n")
            .args(&["--values=a.yaml", "-f", "b.yaml"]),
        case("files-same-file-twice")
            .file("a.yaml", "l: [1]\nm: {a: 1}\n")
            .args(&["-f", "a.yaml", "-f", "a.yaml"]),
        // --set: every form strvals parses.
        flags("set-simple", &["--set", "a=b"]),
        flags("set-dotted", &["--set", "a.b=c"]),
        flags("set-comma", &["--set", "a=1,b=2"]),
        flags("set-index", &["--set", "a[0]=x"]),
        flags("set-index-gap", &["--set", "a[1]=x"]),
        flags("set-index-then-key", &["--set", "a[0].b=c"]),
        flags("set-list", &["--set", "a={x,y}"]),
        flags("set-list-typed", &["--set", "a={1,true,null,x}"]),
        flags("set-empty-value", &["--set", "a="]),
        flags("set-null", &["--set", "a=null"]),
        flags("set-true", &["--set", "a=true,b=false"]),
        flags("set-octal-looking", &["--set", "a=0644"]),
        flags("set-float-looking", &["--set", "a=1e3,b=1.5"]),
        flags("set-date-like-int", &["--set", "a=20230101"]),
        flags(
            "set-int64-overflow",
            &["--set", "a=9223372036854775808,b=9223372036854775807"],
        ),
        flags("set-negative", &["--set", "a=-5"]),
        flags("set-escaped-dot", &["--set", r"a\.b=c"]),
        flags("set-escaped-comma", &["--set", r"a=b\,c"]),
        flags("set-escaped-equals", &["--set", r"name=va\=lue"]),
        flags("set-equals-in-value", &["--set", "a=b=c"]),
        flags("set-key-with-spaces", &["--set", "my key=my value"]),
        flags("set-deep", &["--set", "a.b.c.d=e"]),
        flags("set-nested-lists", &["--set", "a[0][1]=x"]),
        flags("set-later-wins", &["--set", "a=1", "--set", "a=2"]),
        flags(
            "set-list-then-index",
            &["--set", "a={x,y}", "--set", "a[2]=z"],
        ),
        flags("set-map-then-scalar", &["--set", "a.b=1", "--set", "a=x"]),
        flags("set-scalar-then-map", &["--set", "a=x", "--set", "a.b=1"]),
        case("set-scalar-over-file-map")
            .file("a.yaml", "a:\n  b: 1\n")
            .args(&["-f", "a.yaml", "--set", "a=x"]),
        case("set-map-over-file-scalar")
            .file("a.yaml", "a: x\n")
            .args(&["-f", "a.yaml", "--set", "a.b=1"]),
        flags("set-empty-key", &["--set", "=x"]),
        flags("set-at-the-nesting-limit", &["--set", &deep(30)]),
        // --set-string.
        flags(
            "set-string-numbers",
            &["--set-string", "a=1,b=1.5,c=0644,d=9223372036854775808"],
        ),
        flags(
            "set-string-bools-null",
            &["--set-string", "a=true,b=null,c=yes"],
        ),
        flags("set-string-index", &["--set-string", "a.b[0]=1"]),
        // --set-file.
        case("set-file-text")
            .file(
                "cert.pem",
                "-----BEGIN CERT-----\nabc\n-----END CERT-----\n",
            )
            .args(&["--set-file", "tls.cert=cert.pem"]),
        case("set-file-yaml-looking")
            .file("cfg.yaml", "a: 1\nb: [1, 2]\nc: yes\n")
            .args(&["--set-file", "cfg=cfg.yaml"]),
        case("set-file-two-keys")
            .file("one.txt", "1")
            .file("two.txt", "true")
            .args(&["--set-file", "a=one.txt,b=two.txt"]),
        // --set-json.
        flags("set-json-object", &["--set-json", r#"a={"b":1}"#]),
        flags("set-json-list", &["--set-json", "a=[1,2]"]),
        flags("set-json-float", &["--set-json", "a=1.5"]),
        flags("set-json-string", &["--set-json", r#"a="s""#]),
        flags("set-json-null", &["--set-json", "a.b=null"]),
        // A JSON object with no key= in front: helm v3.22.0 refuses it.
        flags(
            "set-json-top-level-object",
            &["--set-json", r#"{"x":1,"y":{"z":[true]}}"#],
        )
        // Helm 4 merges a top-level object.
        .fails_with_helm3(&["failed parsing --set-json data"]),
        flags(
            "set-json-nested-key",
            &["--set-json", r#"a.b[1]={"c":"d"}"#],
        ),
        flags("set-json-big-int", &["--set-json", "a=9223372036854775808"]),
        flags(
            "set-json-two",
            &["--set-json", "a=1", "--set-json", "b=[{}]"],
        ),
        // --set-literal.
        flags("set-literal-commas", &["--set-literal", "a=b,c=d"]),
        flags("set-literal-braces", &["--set-literal", "a={x}"]),
        flags(
            "set-literal-types",
            &["--set-literal", "a.b=1", "--set-literal", "c=true"],
        ),
        flags("set-literal-backslashes", &["--set-literal", r"a=x\,y\.z"]),
        // Precedence: Helm applies values by kind, whatever their order.
        case("precedence-file-then-set")
            .file("a.yaml", "k: file\n")
            .args(&["-f", "a.yaml", "--set", "k=set"]),
        case("precedence-set-then-file")
            .file("a.yaml", "k: file\n")
            .args(&["--set", "k=set", "-f", "a.yaml"]),
        flags(
            "precedence-set-string-over-set",
            &["--set-string", "k=str", "--set", "k=1"],
        ),
        flags(
            "precedence-set-over-set-json",
            &["--set", "k=set", "--set-json", r#"k="json""#],
        ),
        case("precedence-set-file-over-set-string")
            .file("f.txt", "from file")
            .args(&["--set-file", "k=f.txt", "--set-string", "k=str"]),
        case("precedence-set-literal-last")
            .file("f.txt", "from file")
            .args(&[
                "--set-literal",
                "k=lit",
                "--set-file",
                "k=f.txt",
                "--set",
                "k=1",
                "--set-json",
                "k=2",
            ]),
        case("precedence-json-merges-over-file")
            .file("a.yaml", "m:\n  a: 1\n  b: 2\n")
            .args(&["--set-json", r#"m={"b":3}"#, "-f", "a.yaml"]),
        case("precedence-every-kind")
            .file("a.yaml", "f: file\nall: file\n")
            .file("v.txt", "file-value")
            .args(&[
                "--set-literal",
                "all=literal,l=1",
                "--set",
                "s=1,all=set",
                "--set-file",
                "sf=v.txt",
                "-f",
                "a.yaml",
                "--set-string",
                "ss=1",
                "--set-json",
                r#"j={"all":"json"}"#,
            ]),
        // Errors.
        values("error-malformed-yaml", "a: [1, 2\n").fails(&["values.yaml"]),
        values("error-tab-indentation", "a:\n\tb: 1\n")
            .fails(&["values.yaml", "found character that cannot start any token"]),
        values("error-bad-mapping", "a: b: c\n")
            .fails(&["values.yaml", "mapping values are not allowed"]),
        values("error-unknown-alias", "a: *nope\n").fails(&["values.yaml", "unknown anchor"]),
        flags("error-set-unclosed-index", &["--set", "a[0"])
            .fails_with_helm3(&["error parsing index"]),
        flags("error-set-index-over-limit", &["--set", "a[99999999]=x"])
            .fails(&["99999999", "65536"]),
        flags("error-set-negative-index", &["--set", "a[-1]=x"]).fails(&["negative"]),
        flags("error-set-no-value", &["--set", "a"]).fails(&["key \"a\" has no value"]),
        flags("error-set-list-then-key", &["--set", "a={x}.b"])
            .fails(&["failed parsing --set data"]),
        flags("error-set-json-bad", &["--set-json", "a={bad"]).fails(&["a={bad"]),
        flags("error-missing-values-file", &["-f", "missing.yaml"]).fails(&["missing.yaml"]),
        flags("error-missing-set-file", &["--set-file", "a=missing.txt"]).fails(&["missing.txt"]),
        flags("error-set-nested-too-deep", &["--set", &deep(32)])
            .fails(&["nested level is greater than maximum supported nested level of 30"]),
        flags("error-set-literal-too-deep", &["--set-literal", &deep(32)])
            .fails(&["nested level is greater than maximum supported nested level of 30"]),
    ]
}

#[test]
fn values_reach_the_chart_as_with_helm() {
    let started = Instant::now();
    helm::binary(); // build or find them first, each once, not per thread
    chainctl::chainctl();
    let cases = value_cases();
    let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names are unique");
    let chart = probe_chart();
    let sandbox = Sandbox::new();
    let results = parallel(&cases, |c| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        for (name, content) in &c.files {
            fs::write(dir.path().join(name), content).expect("write a values file");
        }
        let stdin = c.stdin.as_deref();
        let theirs = run(
            helm_template(dir.path(), "probe", &chart, "default", &c.args),
            stdin,
        );
        let ours = run(
            chainctl_dry_run(&sandbox, dir.path(), "probe", &chart, "default", &c.args),
            stdin,
        );
        compare(&theirs, &ours, &c.error).map(|detail| {
            let mut d = format!("  args: {}\n", shown(&c.args));
            for (name, content) in &c.files {
                let _ = write!(d, "  {name}:\n{}", quote("    | ", &clip(content, 300)));
            }
            if let Some(input) = stdin {
                let _ = write!(d, "  stdin:\n{}", quote("    | ", input));
            }
            Difference::new(&c.name, d, detail)
        })
    });
    let differences: Vec<_> = results.into_iter().flatten().collect();
    report("values cases", cases.len(), &differences, started);
}

// ---------------------------------------------------------------------------
// Charts: Helm's own testdata, and charts of ours for what it lacks.

/// The Helm module the shim links in the Go module cache (helm.sh/helm/v3
/// at the version go-shim/go.mod requires; with the helm-v4 feature,
/// helm.sh/helm/v4 as go-shim/go.helm4.mod requires it); downloaded (from
/// the Go module proxy) if need be.
fn helm_module_dir() -> PathBuf {
    let module = format!("helm.sh/helm/v{}", helm::HELM_MAJOR);
    let mod_file = format!("-modfile={}", helm::shim_go_mod().display());
    let out = testenv::go_command()
        .args(["mod", "download", &mod_file, "-json", &module])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("go-shim"))
        .env("GOWORK", "off")
        .output()
        .unwrap_or_else(|e| panic!("cannot run go ({e}): Go is needed to find Helm's testdata charts; set GO to its path if it is not on PATH"));
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let dir = info["Dir"].as_str().map(PathBuf::from);
    match dir {
        Some(dir) if out.status.success() && dir.join("pkg").is_dir() => dir,
        _ => panic!(
            "the {module} module (the version {} requires) is not in the Go module cache \
             and could not be downloaded; `go -C go-shim mod download {mod_file} -json {module}` repeats it:\n{}{}",
            helm::shim_go_mod().display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// The charts of Helm's testdata under `root`: every directory holding a
/// Chart.yaml whose path has a testdata component, and every packaged chart
/// (.tgz) there that is not a dependency inside a charts/ directory.
/// Symbolic links are not followed.
fn testdata_charts(root: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    fn walk(dir: &Path, in_testdata: bool, dirs: &mut Vec<PathBuf>, archives: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            let name = entry.file_name();
            if meta.is_dir() {
                walk(&path, in_testdata || name == "testdata", dirs, archives);
            } else if in_testdata && meta.is_file() {
                if name == "Chart.yaml" {
                    dirs.push(dir.to_owned());
                } else if name.to_string_lossy().ends_with(".tgz")
                    && dir.file_name().is_none_or(|d| d != "charts")
                {
                    archives.push(path);
                }
            }
        }
    }
    let (mut dirs, mut archives) = (Vec::new(), Vec::new());
    walk(root, false, &mut dirs, &mut archives);
    dirs.sort();
    archives.sort();
    (dirs, archives)
}

fn own_charts() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/charts/parity");
    let mut charts: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("read {}: {e}", root.display()))
        .map(|e| e.expect("read tests/fixtures/charts/parity").path())
        .filter(|p| p.join("Chart.yaml").is_file())
        .collect();
    charts.sort();
    charts
}

/// The values of the second pass over our own charts: what each one's
/// templates react to (a required value given, a schema satisfied...).
fn own_chart_values(name: &str) -> &'static [&'static str] {
    match name {
        "required-value" => &["--set", "database.host=db.example,database.port=5432"],
        "fail-unless-enabled" => &["--set", "enabled=true"],
        "schema-rejects-defaults" => &["--set", "replicas=2,image.tag=v1.2.3"],
        "large-output" => &["--set", "count=300,prefix=big"],
        "tpl-values" => &["--set", "name=override", "--set-string", "port=8080"],
        "hooks-weights" => &["--set", "hooks.enabled=false"],
        "library-dependency" => &["--set", "common.suffix=custom,replicas=5"],
        "lookup-empty" => &["--set", "configName=other"],
        _ => &[
            "--set",
            "replicaCount=2,parity.enabled=true,parity.name=second",
        ],
    }
}

/// The values of the second pass over Helm's charts: keys many of them read.
const CORPUS_VALUES: &[&str] = &["--set", "replicaCount=2,image.tag=parity,name=second"];

/// `first` and `ours` with the lines that differ between `first` and
/// `second` (two helm runs) replaced by a marker; unchanged where the runs
/// differ in their number of lines, and `ours` where it does.
fn mask_varying(first: &str, second: &str, ours: &str) -> (String, String) {
    let (a, b): (Vec<&str>, Vec<&str>) = (first.lines().collect(), second.lines().collect());
    let o: Vec<&str> = ours.lines().collect();
    if a.len() != b.len() {
        return (first.to_owned(), ours.to_owned());
    }
    let mask = |lines: &[&str]| {
        let mut out = String::new();
        for (i, line) in lines.iter().enumerate() {
            out += if a[i] != b[i] {
                "<varies between helm runs>"
            } else {
                line
            };
            out.push('\n');
        }
        out
    };
    let ours = if o.len() == a.len() {
        mask(&o)
    } else {
        ours.to_owned()
    };
    (mask(&a), ours)
}

struct ChartCase {
    name: String,
    chart: PathBuf,
    args: Vec<String>,
}

#[test]
fn charts_render_as_with_helm() {
    let started = Instant::now();
    helm::binary();
    chainctl::chainctl();
    let module = helm_module_dir();
    let (dirs, archives) = testdata_charts(&module);
    assert!(
        dirs.len() >= 100,
        "only {} charts under the testdata of {}: is the module whole?",
        dirs.len(),
        module.display()
    );
    let corpus: Vec<&PathBuf> = dirs.iter().chain(&archives).collect();
    let own = own_charts();
    assert!(
        !own.is_empty(),
        "no charts under tests/fixtures/charts/parity"
    );
    let mut cases = Vec::new();
    let strings = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    for with_values in [false, true] {
        let pass = if with_values { " (with --set)" } else { "" };
        for &chart in &corpus {
            let rel = chart.strip_prefix(&module).unwrap_or(chart);
            cases.push(ChartCase {
                name: format!("helm/{}{pass}", rel.display()),
                chart: chart.clone(),
                args: if with_values {
                    strings(CORPUS_VALUES)
                } else {
                    Vec::new()
                },
            });
        }
        for chart in &own {
            let name = chart.file_name().unwrap().to_string_lossy();
            cases.push(ChartCase {
                name: format!("ours/{name}{pass}"),
                chart: chart.clone(),
                args: if with_values {
                    strings(own_chart_values(&name))
                } else {
                    Vec::new()
                },
            });
        }
    }
    let sandbox = Sandbox::new();
    let work = tempfile::tempdir().expect("a temporary directory");
    let both_fail = Mutex::new(Vec::new());
    let results = parallel(&cases, |c| {
        let mut helm_args = vec!["--include-crds".to_owned()];
        helm_args.extend(c.args.iter().cloned());
        let helm_run = || {
            run(
                helm_template(work.path(), "parity", &c.chart, "parity-ns", &helm_args),
                None,
            )
        };
        let mut theirs = helm_run();
        let mut ours = run(
            chainctl_dry_run(
                &sandbox,
                work.path(),
                "parity",
                &c.chart,
                "parity-ns",
                &c.args,
            ),
            None,
        );
        let mut note = String::new();
        if theirs.ok && ours.ok && theirs.stdout != ours.stdout {
            // Random values (randAlphaNum, uuidv4, genCA...) differ between
            // any two renders: see which lines helm itself does not repeat.
            let again = helm_run();
            if again.ok && again.stdout != theirs.stdout {
                note = "  (lines that differ between two helm runs are masked)\n".to_owned();
                (theirs.stdout, ours.stdout) =
                    mask_varying(&theirs.stdout, &again.stdout, &ours.stdout);
            }
        }
        if !theirs.ok && !ours.ok {
            // The error line, not a warning before it.
            let error = |stderr: &str, prefix: &str| {
                let line = stderr.lines().find(|l| l.starts_with(prefix));
                clip(line.or(stderr.lines().next()).unwrap_or(""), 300)
            };
            both_fail.lock().unwrap().push(format!(
                "{}\n    helm:     {}\n    chainctl: {}",
                c.name,
                error(&theirs.stderr, "Error: "),
                error(&ours.stderr, "chainctl: ")
            ));
        }
        compare(&theirs, &ours, &[]).map(|detail| {
            let args = if c.args.is_empty() {
                String::new()
            } else {
                format!("  args: {}\n", shown(&c.args))
            };
            Difference::new(&c.name, args + &note, detail)
        })
    });
    let mut both_fail = both_fail.into_inner().unwrap();
    both_fail.sort();
    eprintln!(
        "charts that fail with both (first lines of their errors):\n  {}",
        both_fail.join("\n  ")
    );
    let differences: Vec<_> = results.into_iter().flatten().collect();
    eprintln!(
        "render corpus: {} chart directories and {} packaged charts from Helm's testdata ({}), {} of ours; two passes",
        dirs.len(),
        archives.len(),
        module.display(),
        own.len()
    );
    report("chart renders", cases.len(), &differences, started);
}

/// A chart whose dependency is a local `file://` chart not yet in charts/.
fn chart_with_a_local_dependency(root: &Path) -> PathBuf {
    let sub = root.join("sub");
    std::fs::create_dir_all(sub.join("templates")).unwrap();
    std::fs::write(
        sub.join("Chart.yaml"),
        "apiVersion: v2\nname: sub\nversion: 0.3.0\n",
    )
    .unwrap();
    std::fs::write(sub.join("values.yaml"), "greeting: from-sub\n").unwrap();
    std::fs::write(
        sub.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-sub\ndata:\n  greeting: {{ .Values.greeting }}\n",
    )
    .unwrap();
    let top = root.join("top");
    std::fs::create_dir_all(top.join("templates")).unwrap();
    std::fs::write(
        top.join("Chart.yaml"),
        "apiVersion: v2\nname: top\nversion: 1.0.0\ndependencies:\n- name: sub\n  version: 0.3.0\n  repository: file://../sub\n",
    )
    .unwrap();
    std::fs::write(
        top.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-top\n",
    )
    .unwrap();
    top
}

#[test]
fn dependency_update_fetches_what_helm_fetches() {
    let sandbox = Sandbox::new();
    let dir = tempfile::tempdir().unwrap();
    // Each tool gets a copy of its own: --dependency-update writes charts/.
    let helm_chart = chart_with_a_local_dependency(&dir.path().join("for-helm"));
    let our_chart = chart_with_a_local_dependency(&dir.path().join("for-chainctl"));
    let repos = dir.path().join("repositories.yaml");
    std::fs::write(&repos, "apiVersion: \"\"\nrepositories: []\n").unwrap();
    let env = [
        ("HELM_REPOSITORY_CONFIG", repos.clone()),
        ("HELM_REPOSITORY_CACHE", dir.path().join("repo-cache")),
    ];

    // Without the flag both refuse the chart: its dependency is missing.
    let helm = run(
        helm_template(dir.path(), "dep", &helm_chart, "default", &[]),
        None,
    );
    let ours = run(
        chainctl_dry_run(&sandbox, dir.path(), "dep", &our_chart, "default", &[]),
        None,
    );
    assert!(
        !helm.ok && !ours.ok,
        "helm: {}\nchainctl: {}",
        helm.stderr,
        ours.stderr
    );
    assert!(
        ours.stderr.contains("--dependency-update"),
        "{}",
        ours.stderr
    );

    let flag = ["--dependency-update".to_string()];
    let mut cmd = helm_template(dir.path(), "dep", &helm_chart, "default", &flag);
    cmd.envs(env.iter().cloned());
    let helm = run(cmd, None);
    let mut cmd = chainctl_dry_run(&sandbox, dir.path(), "dep", &our_chart, "default", &flag);
    cmd.envs(env.iter().cloned());
    let ours = run(cmd, None);
    assert!(helm.ok, "helm: {}", helm.stderr);
    assert!(ours.ok, "chainctl: {}", ours.stderr);
    // helm prints its dependency manager's progress on stdout, before the
    // manifest; chainctl reports it as progress (-v), keeping stdout the
    // manifest alone.
    let manifest = &helm.stdout[helm.stdout.find("---\n").expect("a manifest")..];
    assert!(
        helm.stdout.starts_with("Saving 1 charts\n"),
        "{}",
        helm.stdout
    );
    assert_eq!(ours.stdout, manifest);
    assert!(
        ours.stdout.contains("greeting: from-sub"),
        "{}",
        ours.stdout
    );
    for chart in [&helm_chart, &our_chart] {
        assert!(
            chart.join("charts/sub-0.3.0.tgz").is_file(),
            "{}",
            chart.display()
        );
        assert!(chart.join("Chart.lock").is_file());
    }
}

#[test]
fn deploy_flags_render_as_with_helm() {
    let sandbox = Sandbox::new();
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/charts/parity");
    // A post-renderer: it reads the manifest on stdin and changes it.
    let post = dir.path().join("post-render.sh");
    fs::write(
        &post,
        "#!/bin/sh\nsed \"s/ConfigMap/ConfigMap # post-rendered $1/\"\n",
    )
    .unwrap();
    fs::set_permissions(&post, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let post = post.to_str().unwrap();
    let cases: &[(&str, &[&str])] = &[
        // (--skip-crds changes nothing of a render with CRDs included, in
        // helm as in chainctl: it is tested on the API server.)
        ("hooks-weights", &["--no-hooks"]),
        (
            "capabilities",
            &[
                "--kube-version",
                "1.29.4",
                "--api-versions",
                "example.com/v1,policy/v1beta1",
            ],
        ),
        (
            "capabilities",
            &["-a", "example.com/v1", "--api-versions", "batch/v1/CronJob"],
        ),
        ("schema-rejects-defaults", &["--skip-schema-validation"]),
        (
            "hooks-weights",
            &["--post-renderer", post, "--post-renderer-args", "by-test"],
        ),
        ("kube-version-unsatisfied", &["--kube-version", "1.19.0"]),
    ];
    let mut differences = Vec::new();
    for (chart, flags) in cases {
        let chart = root.join(chart);
        let args: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        let mut helm_args = vec!["--include-crds".to_string()];
        helm_args.extend(args.iter().cloned());
        let theirs = run(
            helm_template(dir.path(), "flags", &chart, "default", &helm_args),
            None,
        );
        let ours = run(
            chainctl_dry_run(&sandbox, dir.path(), "flags", &chart, "default", &args),
            None,
        );
        if theirs.ok != ours.ok || (theirs.ok && theirs.stdout != ours.stdout) {
            differences.push(format!(
                "{} {flags:?}:\n  helm ({}): {}\n  chainctl ({}): {}",
                chart.display(),
                theirs.ok,
                clip(&(theirs.stdout.clone() + &theirs.stderr), 600),
                ours.ok,
                clip(&(ours.stdout.clone() + &ours.stderr), 600)
            ));
        }
        // The flag changed something, or the case proves nothing.
        let plain = run(
            helm_template(
                dir.path(),
                "flags",
                &chart,
                "default",
                &["--include-crds".to_string()],
            ),
            None,
        );
        assert!(
            plain.ok != theirs.ok || plain.stdout != theirs.stdout,
            "{flags:?} changes nothing for {}",
            chart.display()
        );
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// Serves `body` over plain HTTP on loopback for `requests` requests;
/// returns the URL of /values.yaml.
fn serve_values(body: &'static str, requests: usize) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/values.yaml", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut request);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/yaml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[test]
fn values_from_a_url_are_read_as_helm_reads_them() {
    let sandbox = Sandbox::new();
    let dir = tempfile::tempdir().unwrap();
    let url = serve_values("fromUrl: yes\ncount: 0x10\nnested: {tag: 20230101}\n", 2);
    let args = vec!["-f".to_string(), url, "--set".into(), "later=1".into()];
    let chart = probe_chart();
    let theirs = run(
        helm_template(dir.path(), "url", &chart, "default", &args),
        None,
    );
    let ours = run(
        chainctl_dry_run(&sandbox, dir.path(), "url", &chart, "default", &args),
        None,
    );
    assert!(theirs.ok, "helm: {}", theirs.stderr);
    assert!(ours.ok, "chainctl: {}", ours.stderr);
    assert_eq!(ours.stdout, theirs.stdout);
    assert!(
        ours.stdout.contains("fromUrl: bool = true"),
        "{}",
        ours.stdout
    );
}
