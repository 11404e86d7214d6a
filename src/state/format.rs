//! The state file's text: how it is laid out, and how it is read back
//! without checking again what was already checked.
//!
//! The layout is pretty-printed down to the records and compact inside
//! them, one record per line, so that `diff`, `grep` and `git` work on it
//! line by line, at close to the size of compact JSON:
//!
//! ```text
//! {
//!   "schemaVersion": 4,
//!   "releases": {
//!     "5f0c2a9d1e7b3c44/demo/hello": {
//!       "current": {"action":"install","outcome":"succeeded",...},
//!       "history": [
//!         {"action":"install","outcome":"succeeded",...}
//!       ]
//!     }
//!   }
//! }
//! ```
//!
//! A [`Snapshot`] keeps each release's text beside its parsed form. A write
//! renders only the release that changed; a read after another process's
//! write parses and validates only the releases whose text differs from the
//! ones already held. That keeps `record()` from costing a full
//! serialization and schema validation of every record on every write.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};
use std::ops::Range;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::record::{
    ExecutionStateRecord, OLDEST_SCHEMA_VERSION, ReleaseState, SCHEMA_VERSION, StateFile,
    json_string, unique_keys,
};
use super::schema::{self, Problem};

/// A state file parsed, with the text of each release as it is written.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub(crate) state: StateFile,
    /// `render_release` of each release in `state`, by key.
    fragments: BTreeMap<String, Fragment>,
}

/// The text of one release: a range of the file it was read from (shared
/// by every release of that file, so the file's text is held once), or
/// rendered by this process.
#[derive(Clone)]
pub(crate) enum Fragment {
    Read(Arc<String>, Range<usize>),
    Rendered(String),
}

impl Fragment {
    fn as_str(&self) -> &str {
        match self {
            Fragment::Read(file, range) => &file[range.clone()],
            Fragment::Rendered(text) => text,
        }
    }
}

impl PartialEq for Fragment {
    fn eq(&self, other: &Fragment) -> bool {
        self.as_str() == other.as_str()
    }
}

impl fmt::Debug for Fragment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// The file's top level with the releases left as text.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Outline<'a> {
    schema_version: u32,
    #[serde(borrow, deserialize_with = "unique_keys")]
    releases: BTreeMap<String, &'a RawValue>,
}

impl Snapshot {
    /// Parses and checks a state file. A release whose text is the same as
    /// in `known` (the snapshot this process last read or wrote) is taken
    /// from it as it is; any other release is validated against the schema
    /// and the key rule. Whatever fails is diagnosed by the full check
    /// ([`schema::parse_validated`]) so the message is the same either way.
    ///
    /// The snapshot keeps the file's `schemaVersion`; the next
    /// [`apply`](Self::apply) makes it [`SCHEMA_VERSION`].
    pub(crate) fn parse(bytes: &[u8], known: Option<Snapshot>) -> Result<Snapshot, Problem> {
        Snapshot::parse_as(bytes, None, known, true)
    }

    /// [`parse`](Self::parse) of a file's bytes that the snapshot may keep:
    /// each release it did not render again is a range of them, not a copy.
    pub(crate) fn parse_owned(
        bytes: Vec<u8>,
        known: Option<Snapshot>,
    ) -> Result<Snapshot, Problem> {
        match String::from_utf8(bytes) {
            Ok(text) => {
                let file = Arc::new(text);
                Snapshot::parse_as(file.as_bytes(), Some(&file), known, true)
            }
            // Not UTF-8, so not JSON: the full check names the problem.
            Err(e) => Snapshot::parse(e.as_bytes(), known),
        }
    }

    /// [`parse`](Self::parse) for a reader that only looks (`state show`):
    /// the releases' text is checked but not kept, since nothing is written.
    pub(crate) fn parse_to_read(bytes: &[u8]) -> Result<StateFile, Problem> {
        Snapshot::parse_as(bytes, None, None, false).map(|snapshot| snapshot.state)
    }

    /// `file`, when given, holds `bytes`: the fragments read are ranges of it.
    fn parse_as(
        bytes: &[u8],
        file: Option<&Arc<String>>,
        known: Option<Snapshot>,
        keep_text: bool,
    ) -> Result<Snapshot, Problem> {
        let outline = match serde_json::from_slice::<Outline<'_>>(bytes) {
            Ok(outline)
                if (OLDEST_SCHEMA_VERSION..=SCHEMA_VERSION).contains(&outline.schema_version) =>
            {
                outline
            }
            _ => return Err(schema::diagnose(bytes)),
        };
        let mut known = known.unwrap_or_default();
        let mut snapshot = Snapshot::default();
        snapshot.state.schema_version = outline.schema_version;
        let mut scratch = Vec::new();
        for (key, raw) in outline.releases {
            let text = raw.get();
            // The text as it is: a range of the file when it is held (and
            // then never of an older file, which would stay in memory).
            let as_read = || match file {
                Some(file) => {
                    let start = text.as_ptr() as usize - file.as_ptr() as usize;
                    Fragment::Read(Arc::clone(file), start..start + text.len())
                }
                None => Fragment::Rendered(text.to_owned()),
            };
            let (release, fragment) = match known.take_if_same(&key, text) {
                Some((release, fragment)) => match file {
                    Some(_) => (release, Some(as_read())),
                    None => (release, Some(fragment)),
                },
                None => {
                    let (release, rendered) = read_release(&key, text, &mut scratch, keep_text)?;
                    let fragment = keep_text.then(|| match rendered {
                        Some(rendered) => Fragment::Rendered(rendered),
                        None => as_read(),
                    });
                    (release, fragment)
                }
            };
            if let Some(fragment) = fragment {
                snapshot.fragments.insert(key.clone(), fragment);
            }
            snapshot.state.releases.insert(key, release);
        }
        if snapshot.state.check_version_fields().is_err() {
            return Err(schema::diagnose(bytes));
        }
        Ok(snapshot)
    }

    fn take_if_same(&mut self, key: &str, text: &str) -> Option<(ReleaseState, Fragment)> {
        if self.fragments.get(key).map(Fragment::as_str) != Some(text) {
            return None;
        }
        let fragment = self.fragments.remove(key)?;
        let release = self.state.releases.remove(key)?;
        Some((release, fragment))
    }

    /// Adds a record (see [`StateFile::apply`]) and renders its release
    /// again; the file becomes [`SCHEMA_VERSION`] (an older one is a subset).
    /// Returns what [`undo`](Self::undo) needs.
    pub(crate) fn apply(&mut self, record: ExecutionStateRecord, history_limit: usize) -> Undo {
        let key = StateFile::record_key(&record);
        let undo = Undo {
            release: self.state.releases.get(&key).cloned(),
            fragment: self.fragments.get(&key).cloned(),
            key: key.clone(),
            schema_version: self.state.schema_version,
        };
        self.state.schema_version = SCHEMA_VERSION;
        self.state.apply(record, history_limit);
        let fragment = render_release(&self.state.releases[&key]);
        self.fragments.insert(key, Fragment::Rendered(fragment));
        undo
    }

    /// Takes back an [`apply`](Self::apply) whose write failed.
    pub(crate) fn undo(&mut self, undo: Undo) {
        self.state.schema_version = undo.schema_version;
        match (undo.release, undo.fragment) {
            (Some(release), Some(fragment)) => {
                self.state.releases.insert(undo.key.clone(), release);
                self.fragments.insert(undo.key, fragment);
            }
            _ => {
                self.state.releases.remove(&undo.key);
                self.fragments.remove(&undo.key);
            }
        }
    }

    /// The file's text (the store streams it with [`write_to`](Self::write_to)).
    #[cfg(test)]
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let size: usize = self
            .fragments
            .iter()
            .map(|(k, f)| k.len() + f.as_str().len() + 16)
            .sum();
        let mut out = Vec::with_capacity(size + 64);
        self.write_to(&mut out)
            .expect("writing to memory cannot fail");
        out
    }

    /// Writes [`to_bytes`](Self::to_bytes) to `out` without building it in
    /// memory first.
    pub(crate) fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        let StateFile {
            schema_version,
            releases: _,
        } = &self.state;
        write!(
            out,
            "{{\n  \"schemaVersion\": {schema_version},\n  \"releases\": {{"
        )?;
        for (i, (key, fragment)) in self.fragments.iter().enumerate() {
            out.write_all(if i == 0 { b"\n    " } else { b",\n    " })?;
            out.write_all(json_string(key).as_bytes())?;
            out.write_all(b": ")?;
            out.write_all(fragment.as_str().as_bytes())?;
        }
        if !self.fragments.is_empty() {
            out.write_all(b"\n  ")?;
        }
        out.write_all(b"}\n}\n")
    }
}

/// What [`Snapshot::apply`] changed.
#[derive(Debug)]
pub(crate) struct Undo {
    key: String,
    release: Option<ReleaseState>,
    fragment: Option<Fragment>,
    schema_version: u32,
}

/// Reads one release's text and the text to write it back as.
///
/// The fast path, which every release chainctl wrote takes: the text is
/// read straight into the record types, which enforce the schema's types,
/// enums and required fields, and [`schema::follows_rules`] checks what
/// the types do not (the schema's patterns and limits). It is then written
/// out again into `scratch` and compared: when it is the same text, the
/// text is in this build's layout, every timestamp in its canonical form
/// (which the schema's `date-time` accepts) and no field defaulted, so it
/// is kept as it is (`None`: no new text). Anything else (another layout, a problem) goes
/// through the full check of [`check_release`], so that a file is accepted
/// or refused, and a problem named, exactly as the full check would.
fn read_release(
    key: &str,
    text: &str,
    scratch: &mut Vec<u8>,
    keep_text: bool,
) -> Result<(ReleaseState, Option<String>), Problem> {
    if let Ok(release) = serde_json::from_str::<ReleaseState>(text)
        && schema::follows_rules(key, &release)
        && release.check_key(key).is_ok()
    {
        scratch.clear();
        render_release_into(&release, scratch);
        if scratch.as_slice() == text.as_bytes() {
            return Ok((release, None));
        }
    }
    let release = check_release(key, text)?;
    let rendered = keep_text.then(|| render_release(&release));
    Ok((release, rendered))
}

/// Validates one release's text as the schema would inside the whole file,
/// so that problems are named by their path from the file's root.
fn check_release(key: &str, text: &str) -> Result<ReleaseState, Problem> {
    let value: Value = serde_json::from_str(text).map_err(Problem::Syntax)?;
    let mut releases = serde_json::Map::new();
    releases.insert(key.to_string(), value);
    let mut doc = serde_json::json!({ "schemaVersion": SCHEMA_VERSION, "releases": releases });
    schema::check_value(&doc)?;
    let value = doc["releases"][key].take();
    let release: ReleaseState = serde_json::from_value(value).map_err(|e| Problem::Invalid {
        path: format!("$.releases[{}]", json_string(key)),
        message: format!("{e} (the schema and the loader disagree: a bug in chainctl-core)"),
    })?;
    // What a JSON value hides: a field given twice (the value keeps the last).
    if let Err(e) = serde_json::from_str::<ReleaseState>(text) {
        return Err(Problem::Invalid {
            path: format!("$.releases[{}]", json_string(key)),
            message: format!("{e}: each key may appear once; remove the repeated one"),
        });
    }
    release
        .check_key(key)
        .map_err(|(path, message)| Problem::Invalid { path, message })?;
    Ok(release)
}

/// One release's text, as it sits in the file at its indentation.
fn render_release(release: &ReleaseState) -> String {
    let mut out = Vec::with_capacity(512);
    render_release_into(release, &mut out);
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// [`render_release`] appended to `out`.
fn render_release_into(release: &ReleaseState, out: &mut Vec<u8>) {
    // Destructured so that a new field cannot be left out of the layout.
    let ReleaseState { current, history } = release;
    let record = |out: &mut Vec<u8>, r: &ExecutionStateRecord| {
        serde_json::to_writer(&mut *out, r).expect("a record serializes")
    };
    out.extend_from_slice(b"{\n      \"current\": ");
    match current {
        Some(r) => record(out, r),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\n      \"history\": [");
    for (i, r) in history.iter().enumerate() {
        out.extend_from_slice(if i == 0 {
            &b"\n        "[..]
        } else {
            b",\n        "
        });
        record(out, r);
    }
    if !history.is_empty() {
        out.extend_from_slice(b"\n      ");
    }
    out.extend_from_slice(b"]\n    }");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::record::{Action, Outcome};

    fn sample() -> Snapshot {
        let mut snap = Snapshot::default();
        for (rel, ns) in [("hello", "demo"), ("api.v2", "staging"), ("hello", "prod")] {
            for rev in 1..=3 {
                let mut r = ExecutionStateRecord::new(Action::Upgrade, rel, ns);
                r.helm_revision = Some(rev);
                r.outcome = if rev == 2 {
                    Outcome::Failed
                } else {
                    Outcome::Succeeded
                };
                if rev == 2 {
                    r.error = Some(crate::state::RecordError {
                        kind: crate::ErrorKind::Kube,
                        message: "quote \" and newline \n".into(),
                    });
                }
                snap.apply(r, 100);
            }
        }
        snap
    }

    #[test]
    fn the_layout_is_json_with_one_record_per_line() {
        let snap = sample();
        let bytes = snap.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        let reparsed: StateFile = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(reparsed, snap.state);
        assert_eq!(schema::parse_validated(&bytes).unwrap(), snap.state);
        let record_lines = text.lines().filter(|l| l.contains("{\"action\"")).count();
        assert_eq!(
            record_lines,
            3 * 3 + 3,
            "each history entry and each current on a line"
        );
        assert!(text.starts_with("{\n  \"schemaVersion\": 4,\n  \"releases\": {\n    \"demo/hello\": {\n      \"current\": {\"action\""));
        assert!(text.ends_with("]\n    }\n  }\n}\n"));

        let empty = Snapshot::default().to_bytes();
        assert_eq!(
            empty,
            b"{\n  \"schemaVersion\": 4,\n  \"releases\": {}\n}\n"
        );
        assert_eq!(
            serde_json::from_slice::<StateFile>(&empty).unwrap(),
            StateFile::default()
        );
    }

    #[test]
    fn parsing_our_own_text_reuses_every_release() {
        let snap = sample();
        let bytes = snap.to_bytes();
        let fresh = Snapshot::parse(&bytes, None).unwrap();
        assert_eq!(fresh.state, snap.state);
        assert_eq!(fresh.fragments, snap.fragments);
        assert_eq!(
            fresh.to_bytes(),
            bytes,
            "reading and writing back changes nothing"
        );

        // Tamper with one release behind the snapshot's back: only it is checked,
        // and it is caught.
        let tampered = String::from_utf8(bytes).unwrap().replacen(
            "\"outcome\":\"failed\"",
            "\"outcome\":\"lost\"",
            1,
        );
        let err = Snapshot::parse(tampered.as_bytes(), Some(fresh)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(r#"at $.releases["demo/hello"].history[1].outcome"#),
            "{err}"
        );
    }

    #[test]
    fn the_fast_path_refuses_what_the_schema_refuses_in_our_own_layout() {
        let mut snap = sample();
        let mut rec = ExecutionStateRecord::new(Action::Install, "web", "prod");
        rec.values_digest = Some(format!("sha256:{}", "0".repeat(64)));
        rec.finish_ok();
        snap.apply(rec, 100);
        let text = String::from_utf8(snap.to_bytes()).unwrap();
        let operator = format!(
            "\"operator\":{}",
            json_string(&snap.state.releases["prod/web"].history[0].operator)
        );
        for (from, to) in [
            ("\"namespace\":\"prod\"", "\"namespace\":\"pr_od\""),
            ("\"release\":\"web\"", "\"release\":\"web-\""),
            ("\"helmRevision\":1,", "\"helmRevision\":0,"),
            ("\"valuesDigest\":\"sha256:0", "\"valuesDigest\":\"sha256:A"),
            (operator.as_str(), "\"operator\":\"\""),
        ] {
            assert!(text.contains(from), "{from}");
            let bad = text.replacen(from, to, 1);
            let fast = Snapshot::parse(bad.as_bytes(), None)
                .unwrap_err()
                .to_string();
            let full = schema::parse_validated(bad.as_bytes())
                .unwrap_err()
                .to_string();
            assert_eq!(fast, full, "{to}");
            assert!(fast.contains("$.releases["), "{fast}");
            // It is the fast path's own check that refused it.
            let outline: Outline<'_> = serde_json::from_str(&bad).unwrap();
            let refused = outline.releases.iter().any(|(key, raw)| {
                serde_json::from_str::<ReleaseState>(raw.get())
                    .is_ok_and(|release| !schema::follows_rules(key, &release))
            });
            assert!(refused, "{to}");
        }
        // And the same text unchanged passes it, every release.
        let outline: Outline<'_> = serde_json::from_str(&text).unwrap();
        for (key, raw) in outline.releases {
            let release: ReleaseState = serde_json::from_str(raw.get()).unwrap();
            assert!(schema::follows_rules(&key, &release), "{key}");
            assert_eq!(render_release(&release), raw.get(), "kept as it is");
        }
    }

    #[test]
    fn a_file_is_held_once_and_a_file_read_again_lets_the_old_text_go() {
        let snap = sample();
        let bytes = snap.to_bytes();
        let first = Snapshot::parse_owned(bytes.clone(), None).unwrap();
        let Some(Fragment::Read(old, _)) = first.fragments.values().next() else {
            panic!("a release in our layout is kept as read");
        };
        let old = Arc::clone(old);
        assert_eq!(Arc::strong_count(&old), 1 + first.fragments.len());
        let again = Snapshot::parse_owned(bytes.clone(), Some(first)).unwrap();
        assert_eq!(Arc::strong_count(&old), 1, "nothing holds the old text");
        assert!(
            (again.fragments.values()).all(|f| matches!(f, Fragment::Read(..))),
            "{:?}",
            again.fragments
        );
        assert_eq!(again.to_bytes(), bytes);
        assert_eq!(again.state, snap.state);
    }

    #[test]
    fn foreign_formatting_is_accepted_and_rewritten_in_ours() {
        let snap = sample();
        let pretty = serde_json::to_vec_pretty(&snap.state).unwrap();
        let parsed = Snapshot::parse(&pretty, Some(sample())).unwrap();
        assert_eq!(parsed.state, snap.state);
        assert_eq!(parsed.to_bytes(), snap.to_bytes());
    }

    #[test]
    fn undo_restores_the_release_and_its_text() {
        let mut snap = sample();
        let before = snap.to_bytes();
        let undo = snap.apply(
            ExecutionStateRecord::new(Action::Install, "hello", "demo"),
            100,
        );
        assert_ne!(snap.to_bytes(), before);
        snap.undo(undo);
        assert_eq!(snap.to_bytes(), before);
        let undo = snap.apply(
            ExecutionStateRecord::new(Action::Install, "new", "demo"),
            100,
        );
        snap.undo(undo);
        assert_eq!(snap.to_bytes(), before);
    }

    #[test]
    fn a_version_1_file_is_read_as_it_is_and_written_as_version_2() {
        let mut v1 = String::from_utf8(sample().to_bytes()).unwrap().replacen(
            "\"schemaVersion\": 4",
            "\"schemaVersion\": 1",
            1,
        );
        let mut snap = Snapshot::parse(v1.as_bytes(), None).unwrap();
        assert_eq!(snap.state.schema_version, 1);
        assert_eq!(snap.to_bytes(), v1.as_bytes(), "unchanged until written");

        let mut rec = ExecutionStateRecord::new(Action::Install, "new", "demo");
        rec.manifest_digest = Some(format!("sha256:{}", "0".repeat(64)));
        let undo = snap.apply(rec, 100);
        assert_eq!(snap.state.schema_version, SCHEMA_VERSION);
        let v2 = snap.to_bytes();
        assert!(v2.starts_with(b"{\n  \"schemaVersion\": 4,"));
        assert_eq!(schema::parse_validated(&v2).unwrap(), snap.state);
        snap.undo(undo);
        assert_eq!(
            snap.to_bytes(),
            v1.as_bytes(),
            "undo restores the version too"
        );

        // A version 1 file with a version 2 field is refused, however it is read.
        v1 = String::from_utf8(v2).unwrap().replacen(
            "\"schemaVersion\": 4",
            "\"schemaVersion\": 1",
            1,
        );
        let known = Snapshot::parse(
            v1.replacen("\"schemaVersion\": 1", "\"schemaVersion\": 2", 1)
                .as_bytes(),
            None,
        )
        .unwrap();
        for known in [None, Some(known)] {
            let err = Snapshot::parse(v1.as_bytes(), known)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("manifestDigest needs schemaVersion 2"),
                "{err}"
            );
        }
    }

    #[test]
    fn top_level_problems_are_diagnosed_in_full() {
        for (text, says) in [
            (r#"{"schemaVersion": 5, "releases": {}}"#, "schemaVersion 5"),
            (
                r#"{"schemaVersion": 1, "releases": {}, "extra": 1}"#,
                "extra",
            ),
            (
                r#"{"schemaVersion": 1, "releases": {"x": 1}}"#,
                "$.releases",
            ),
            (r#"{"schemaVersion": 1, "releases": {"#, "not valid JSON"),
        ] {
            let err = Snapshot::parse(text.as_bytes(), None)
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
    }
}
