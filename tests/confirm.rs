//! `--confirm` and the plan: mutating commands run on a pseudo-terminal, as
//! an operator at a terminal runs them, with Helm's memory driver (a
//! rehearsal: each process starts with no releases, so "from" is "not
//! installed").

mod support;
use support::{chainctl as chainctl_bin, pty};

use std::path::Path;
use std::process::Stdio;

use chainctl_bin::Sandbox;
use chainctl_core::ChartSource;
use pty::Pty;

const PROMPT: &str = "Proceed? [y/N] ";

/// chainctl on a pseudo-terminal, in the sandbox.
fn on_terminal(sandbox: &Sandbox, args: &[&str]) -> Pty {
    Pty::spawn(sandbox.command(args)).unwrap_or_else(|err| {
        panic!("cannot open a pseudo-terminal to run chainctl on ({err}): these tests need one")
    })
}

/// The state file's bytes, or None when it does not exist.
fn state_bytes(sandbox: &Sandbox) -> Option<Vec<u8>> {
    std::fs::read(sandbox.state_path()).ok()
}

const INSTALL: &[&str] = &[
    "app",
    "install",
    "--bundle",
    "examples/charts/hello",
    "--release",
    "hello",
    "-n",
    "demo",
    "--driver",
    "memory",
];

fn hello_digest() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/charts/hello");
    let ChartSource::Bundle(bundle) = ChartSource::bundle(path).unwrap() else {
        unreachable!("a directory is a bundle")
    };
    bundle.content_digest().unwrap()
}

#[test]
fn install_on_a_terminal_shows_the_plan_and_installs_on_yes() {
    let sandbox = Sandbox::new();
    let mut session = on_terminal(&sandbox, INSTALL);
    let plan = session.expect(PROMPT);
    assert!(
        plan.contains("chainctl will install release hello in namespace demo\n"),
        "{plan}"
    );
    assert!(
        plan.contains("  chart:    not installed -> hello 0.1.0\n"),
        "{plan}"
    );
    assert!(plan.contains("examples/charts/hello\n"), "{plan}");
    assert!(
        plan.contains(&format!(
            "  digest:   {} (bundle content)\n",
            hello_digest()
        )),
        "{plan}"
    );
    assert!(
        state_bytes(&sandbox).is_none(),
        "the state file was written before the answer"
    );

    session.send("y\n");
    let (status, output) = session.finish();
    assert_eq!(status.code(), Some(0), "{output}");
    assert!(
        output.contains("install succeeded: release hello in namespace demo is at revision 1"),
        "{output}"
    );
    let current = &sandbox.show("hello", "demo")["current"];
    assert_eq!(current["action"], "install", "{current}");
    assert_eq!(current["outcome"], "succeeded", "{current}");
    assert_eq!(current["chart"]["version"], "0.1.0", "{current}");
    assert_eq!(
        current["source"]["contentDigest"],
        hello_digest().as_str(),
        "the record names the digest the plan showed"
    );
}

/// Declines with `answer`: exit 10, "not confirmed", the state file as it was.
fn declined_changes_nothing(sandbox: &Sandbox, args: &[&str], answer: &str) -> String {
    let before = state_bytes(sandbox);
    let mut session = on_terminal(sandbox, args);
    session.expect(PROMPT);
    session.send(answer);
    let (status, output) = session.finish();
    assert_eq!(status.code(), Some(10), "{output}");
    assert!(output.contains("not confirmed"), "{output}");
    assert_eq!(
        state_bytes(sandbox),
        before,
        "declining changed the state file"
    );
    output
}

#[test]
fn answering_no_refuses_and_writes_nothing() {
    let sandbox = Sandbox::new();
    let output = declined_changes_nothing(&sandbox, INSTALL, "n\n");
    assert!(!output.contains("succeeded"), "{output}");
    assert!(
        !sandbox.state_path().parent().unwrap().exists(),
        "declining created the state directory"
    );
}

#[test]
fn just_enter_means_no_and_leaves_an_existing_state_file_as_it_was() {
    let sandbox = Sandbox::new();
    let confirmed = [INSTALL, &["--confirm"]].concat();
    let out = sandbox
        .command(&confirmed)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(state_bytes(&sandbox).is_some());

    declined_changes_nothing(&sandbox, INSTALL, "\n");
}

#[test]
fn confirm_on_a_terminal_asks_nothing_and_installs() {
    let sandbox = Sandbox::new();
    let confirmed = [INSTALL, &["--confirm"]].concat();
    let (status, output) = on_terminal(&sandbox, &confirmed).finish();
    assert_eq!(status.code(), Some(0), "{output}");
    assert!(!output.contains("Proceed?"), "{output}");
    assert!(!output.contains("chainctl will"), "{output}");
    assert!(output.contains("install succeeded"), "{output}");
    assert_eq!(
        sandbox.show("hello", "demo")["current"]["outcome"],
        "succeeded"
    );
}

#[test]
fn upgrade_plan_names_the_action_and_declines() {
    let sandbox = Sandbox::new();
    let mut upgrade = INSTALL.to_vec();
    upgrade[1] = "upgrade";
    let output = declined_changes_nothing(&sandbox, &upgrade, "no\n");
    assert!(
        output.contains("chainctl will upgrade release hello in namespace demo\n"),
        "{output}"
    );
    assert!(
        output.contains("  chart:    not installed -> hello 0.1.0\n"),
        "{output}"
    );

    // upgrade --install of a missing release installs it: the plan says so.
    let output =
        declined_changes_nothing(&sandbox, &[&upgrade[..], &["--install"]].concat(), "n\n");
    assert!(
        output.contains("chainctl will install release hello in namespace demo\n"),
        "{output}"
    );
}

#[test]
fn a_chart_that_cannot_be_rendered_fails_before_asking() {
    let sandbox = Sandbox::new();
    let args = [INSTALL, &["--set", "replicaCount=-1"]].concat();
    let (status, output) = on_terminal(&sandbox, &args).finish();
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(!output.contains("Proceed?"), "{output}");
    assert!(output.contains("replicaCount"), "{output}");
    assert!(state_bytes(&sandbox).is_none());
}

#[test]
fn an_oci_chart_that_cannot_be_pulled_fails_before_asking() {
    let sandbox = Sandbox::new();
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let args = [
        "app",
        "install",
        "--chart",
        "oci://127.0.0.1:1/charts/hello",
        "--version",
        "0.1.0",
        "--plain-http",
        "--release",
        "hello",
        "-n",
        "demo",
        "--driver",
        "memory",
    ];
    let (status, output) = on_terminal(&sandbox, &args).finish();
    assert_eq!(status.code(), Some(4), "{output}");
    assert!(!output.contains("Proceed?"), "{output}");
    assert!(output.contains("127.0.0.1:1"), "{output}");
    assert!(state_bytes(&sandbox).is_none());
}

#[test]
fn rollback_on_a_terminal_shows_the_plan_and_declines() {
    let sandbox = Sandbox::new();
    let args = [
        "app",
        "rollback",
        "--release",
        "hello",
        "-n",
        "demo",
        "--revision",
        "1",
        "--driver",
        "memory",
    ];
    let output = declined_changes_nothing(&sandbox, &args, "n\n");
    assert!(
        output.contains("chainctl will roll back release hello in namespace demo\n"),
        "{output}"
    );
    assert!(
        output.contains("  chart:    not installed -> revision 1, which is not in the history\n"),
        "{output}"
    );
}

#[test]
fn uninstall_on_a_terminal_shows_the_plan_and_declines() {
    let sandbox = Sandbox::new();
    let args = [
        "app",
        "uninstall",
        "--release",
        "hello",
        "-n",
        "demo",
        "--driver",
        "memory",
    ];
    let output = declined_changes_nothing(&sandbox, &args, "n\n");
    assert!(
        output.contains("chainctl will uninstall release hello in namespace demo\n"),
        "{output}"
    );
    assert!(
        output.contains("  chart:    not installed -> removed\n"),
        "{output}"
    );

    let output =
        declined_changes_nothing(&sandbox, &[&args[..], &["--keep-history"]].concat(), "n\n");
    assert!(
        output.contains("not installed -> removed, history kept\n"),
        "{output}"
    );
}

#[test]
fn dry_runs_on_a_terminal_ask_nothing() {
    let sandbox = Sandbox::new();
    let args = [INSTALL, &["--dry-run"]].concat();
    let (status, output) = on_terminal(&sandbox, &args).finish();
    assert_eq!(status.code(), Some(0), "{output}");
    assert!(!output.contains("Proceed?"), "{output}");
    assert!(output.contains("kind: ConfigMap"), "{output}");
    assert!(state_bytes(&sandbox).is_none());
}

// ---- the pseudo-terminal helper itself ----

#[test]
fn the_pty_child_sees_a_terminal_on_all_three_streams_and_reads_answers() {
    let mut cmd = std::process::Command::new("sh");
    cmd.args([
        "-c",
        "test -t 0 && test -t 1 && test -t 2 && echo all-terminals; read answer; echo \"got $answer\" >&2; exit 3",
    ]);
    let mut session = Pty::spawn(cmd).expect("a pseudo-terminal");
    session.expect("all-terminals\n");
    session.send("yes\n");
    let (status, output) = session.finish();
    assert_eq!(status.code(), Some(3), "{output}");
    assert!(output.contains("got yes\n"), "{output}");
}

#[test]
#[should_panic(expected = "the child closed the terminal; seen so far:\nhello\n")]
fn expecting_text_that_never_comes_fails_showing_what_came() {
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", "echo hello"]);
    let mut session = Pty::spawn(cmd).expect("a pseudo-terminal");
    session.expect("goodbye");
}

#[test]
#[should_panic(expected = "timed out after 200ms; seen so far:\nwaiting\n")]
fn expecting_times_out_showing_what_came() {
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", "echo waiting; sleep 5"]);
    let mut session = Pty::spawn(cmd)
        .expect("a pseudo-terminal")
        .timeout(std::time::Duration::from_millis(200));
    session.expect("never");
}
