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
use std::sync::{Arc, OnceLock};

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::record::{
    ExecutionStateRecord, OLDEST_SCHEMA_VERSION, ReleaseState, SCHEMA_VERSION, StateFile,
    json_string, release_version_fields, unique_keys,
};
use super::schema::{self, Problem};

/// A state file checked, each release kept as its text and typed only
/// when asked for.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// The file's version until the first [`apply`](Self::apply).
    schema_version: u32,
    releases: BTreeMap<String, Entry>,
    /// Every release typed, for [`state`](Self::state): built on demand.
    whole: OnceLock<StateFile>,
}

impl Default for Snapshot {
    fn default() -> Snapshot {
        Snapshot {
            schema_version: SCHEMA_VERSION,
            releases: BTreeMap::new(),
            whole: OnceLock::new(),
        }
    }
}

/// How [`Snapshot::check`] read a release.
enum Read {
    /// Checked now, and these are its records.
    /// (Boxed: a read is held for every release of the file until the
    /// last is checked, and most are not this variant.)
    Checked(Box<ReleaseState>),
    /// Checked now, and this is its [`release_records`] (its records were
    /// not kept).
    Counted(usize),
    /// The same text as in the snapshot known before: taken from it.
    Known(Entry),
}

/// One release: its text, checked, and its records once typed.
#[derive(Debug)]
struct Entry {
    text: Fragment,
    /// Boxed: most entries are never typed, and a record is large beside
    /// the few words of its text's range.
    typed: OnceLock<Box<ReleaseState>>,
    /// What it adds to [`StateFile::record_count`].
    records: usize,
}

impl Entry {
    fn new(text: Fragment, release: &ReleaseState) -> Entry {
        Entry {
            text,
            typed: OnceLock::new(),
            records: release_records(release),
        }
    }

    fn release(&self) -> &ReleaseState {
        self.typed
            .get_or_init(|| Box::new(type_release(self.text.as_str())))
    }
}

/// A release's text read into its types. The text passed the same read
/// when it was checked (or was rendered from these types), so this cannot
/// fail but through a bug.
fn type_release(text: &str) -> ReleaseState {
    serde_json::from_str(text).expect("a release's text was checked when it was read")
}

/// [`StateFile::record_count`] of one release.
fn release_records(r: &ReleaseState) -> usize {
    let current_separate = (r.current.as_ref()).is_some_and(|c| !r.history.contains(c));
    r.history.len() + usize::from(current_separate)
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
    /// from it as it is; any other release is checked against the schema
    /// and the key rule. Whatever fails is diagnosed by the full check
    /// ([`schema::parse_validated`]) so the message is the same either way.
    ///
    /// Every release is kept as the text it was read as (a release this
    /// process writes again is written in this build's layout), and typed
    /// only when asked for.
    ///
    /// The snapshot keeps the file's `schemaVersion`; the next
    /// [`apply`](Self::apply) makes it [`SCHEMA_VERSION`].
    pub(crate) fn parse(bytes: &[u8], known: Option<Snapshot>) -> Result<Snapshot, Problem> {
        Snapshot::parse_into(bytes, None, known)
    }

    /// [`parse`](Self::parse) of a file's bytes that the snapshot may keep:
    /// each release is a range of them, not a copy.
    pub(crate) fn parse_owned(
        bytes: Vec<u8>,
        known: Option<Snapshot>,
    ) -> Result<Snapshot, Problem> {
        match String::from_utf8(bytes) {
            Ok(text) => {
                let file = Arc::new(text);
                Snapshot::parse_into(file.as_bytes(), Some(&file), known)
            }
            // Not UTF-8, so not JSON: the full check names the problem.
            Err(e) => Snapshot::parse(e.as_bytes(), known),
        }
    }

    /// `file`, when given, holds `bytes`: the texts kept are ranges of it.
    fn parse_into(
        bytes: &[u8],
        file: Option<&Arc<String>>,
        known: Option<Snapshot>,
    ) -> Result<Snapshot, Problem> {
        let mut releases = BTreeMap::new();
        let version = Snapshot::check(bytes, known, false, &mut |key, text, read| {
            let text = match file {
                Some(file) => {
                    let start = text.as_ptr() as usize - file.as_ptr() as usize;
                    Fragment::Read(Arc::clone(file), start..start + text.len())
                }
                None => Fragment::Rendered(text.to_owned()),
            };
            let entry = match read {
                Read::Checked(release) => Entry::new(text, &release),
                // The records were let go: memory stays close to the text.
                Read::Counted(records) => Entry {
                    text,
                    typed: OnceLock::new(),
                    records,
                },
                Read::Known(entry) => Entry { text, ..entry },
            };
            releases.insert(key, entry);
        })?;
        Ok(Snapshot {
            schema_version: version,
            releases,
            whole: OnceLock::new(),
        })
    }

    /// [`parse`](Self::parse) for a reader that wants every release typed
    /// (`StateStore::load`): nothing of the text is kept.
    pub(crate) fn parse_to_read(bytes: &[u8]) -> Result<StateFile, Problem> {
        let mut releases = BTreeMap::new();
        let version = Snapshot::check(bytes, None, true, &mut |key, text, read| {
            let release = match read {
                Read::Checked(release) => *release,
                Read::Counted(_) => type_release(text),
                Read::Known(entry) => entry.release().clone(),
            };
            releases.insert(key, release);
        })?;
        Ok(StateFile {
            schema_version: version,
            releases,
        })
    }

    /// Checks `bytes` and hands each release to `take`: its key, its text
    /// (a slice of `bytes`), and how it was read. With `known`, a release
    /// whose text is the same is taken from it, not checked again. `keep`
    /// says whether `take` wants the records of the releases checked, or
    /// only their count. Returns the file's version.
    ///
    /// Releases are checked on two threads when there are enough of them
    /// to pay for it; the verdict and the problem named are the same as
    /// checking them one after another (the first in key order wins).
    fn check<'b>(
        bytes: &'b [u8],
        known: Option<Snapshot>,
        keep: bool,
        take: &mut dyn FnMut(String, &'b str, Read),
    ) -> Result<u32, Problem> {
        let mut known = known.unwrap_or_default();
        // A file in this build's layout is split where its releases start,
        // without a JSON parse of the whole. Were a split wrong, a release
        // would be cut short and refused: the general read below then reads
        // the file again, and names the problem if there is one.
        let split = split_layout(bytes).and_then(|(version, entries)| {
            let reads = check_entries(version, entries, &mut known, keep).ok()?;
            Some((version, reads))
        });
        let (version, reads) = match split {
            Some(split) => split,
            None => {
                let outline = match serde_json::from_slice::<Outline<'b>>(bytes) {
                    Ok(outline)
                        if (OLDEST_SCHEMA_VERSION..=SCHEMA_VERSION)
                            .contains(&outline.schema_version) =>
                    {
                        outline
                    }
                    _ => return Err(schema::diagnose(bytes)),
                };
                let version = outline.schema_version;
                let entries = (outline.releases.into_iter())
                    .map(|(key, raw)| (key, raw.get()))
                    .collect();
                match check_entries(version, entries, &mut known, keep) {
                    Ok(reads) => (version, reads),
                    Err(Failed::Problem(problem)) => return Err(problem),
                    Err(Failed::Version) => return Err(schema::diagnose(bytes)),
                }
            }
        };
        for (key, text, read) in reads {
            take(key, text, read);
        }
        Ok(version)
    }

    /// The records of the release under `key`, typed now if they were not.
    pub(crate) fn release(&self, key: &str) -> Option<&ReleaseState> {
        self.releases.get(key).map(Entry::release)
    }

    /// The keys of every release, in order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.releases.keys().map(String::as_str)
    }

    /// [`StateFile::record_count`], without typing anything.
    pub(crate) fn record_count(&self) -> usize {
        self.releases.values().map(|e| e.records).sum()
    }

    /// Every release typed: the whole [`StateFile`], built the first time
    /// it is asked for (and again after a change).
    pub(crate) fn state(&self) -> &StateFile {
        self.whole.get_or_init(|| StateFile {
            schema_version: self.schema_version,
            releases: (self.releases.iter())
                .map(|(key, entry)| (key.clone(), entry.release().clone()))
                .collect(),
        })
    }

    /// Adds a record (see [`StateFile::apply`]) and renders its release
    /// again; the file becomes [`SCHEMA_VERSION`] (an older one is a subset).
    /// Returns what [`undo`](Self::undo) needs.
    pub(crate) fn apply(&mut self, record: ExecutionStateRecord, history_limit: usize) -> Undo {
        let key = StateFile::record_key(&record);
        let previous = self.releases.remove(&key);
        let mut release = previous
            .as_ref()
            .map(|e| e.release().clone())
            .unwrap_or_default();
        release.apply(record, history_limit);
        let text = Fragment::Rendered(render_release(&release));
        let entry = Entry::new(text, &release);
        let _ = entry.typed.set(Box::new(release));
        self.releases.insert(key.clone(), entry);
        self.whole = OnceLock::new();
        let undo = Undo {
            key,
            previous,
            schema_version: self.schema_version,
        };
        self.schema_version = SCHEMA_VERSION;
        undo
    }

    /// Takes back an [`apply`](Self::apply) whose write failed.
    pub(crate) fn undo(&mut self, undo: Undo) {
        self.schema_version = undo.schema_version;
        self.whole = OnceLock::new();
        match undo.previous {
            Some(entry) => self.releases.insert(undo.key, entry),
            None => self.releases.remove(&undo.key),
        };
    }

    /// The file's text (the store streams it with [`write_to`](Self::write_to)).
    #[cfg(test)]
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let size: usize = self
            .releases
            .iter()
            .map(|(k, e)| k.len() + e.text.as_str().len() + 16)
            .sum();
        let mut out = Vec::with_capacity(size + 64);
        self.write_to(&mut out)
            .expect("writing to memory cannot fail");
        out
    }

    /// Writes [`to_bytes`](Self::to_bytes) to `out` without building it in
    /// memory first.
    pub(crate) fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        write!(
            out,
            "{{\n  \"schemaVersion\": {},\n  \"releases\": {{",
            self.schema_version
        )?;
        for (i, (key, entry)) in self.releases.iter().enumerate() {
            out.write_all(if i == 0 { b"\n    " } else { b",\n    " })?;
            out.write_all(json_string(key).as_bytes())?;
            out.write_all(b": ")?;
            out.write_all(entry.text.as_str().as_bytes())?;
        }
        if !self.releases.is_empty() {
            out.write_all(b"\n  ")?;
        }
        out.write_all(b"}\n}\n")
    }
}

/// What [`Snapshot::apply`] changed.
#[derive(Debug)]
pub(crate) struct Undo {
    key: String,
    previous: Option<Entry>,
    schema_version: u32,
}

/// Each release of a file, in key order, checked (see [`Snapshot::check`]):
/// a release whose text is that of a release of `known` (of the same
/// version) is taken from it, the others are checked. On a refusal, `known`
/// gets back what was taken from it.
#[allow(clippy::type_complexity)]
fn check_entries<'b>(
    version: u32,
    entries: Vec<(String, &'b str)>,
    known: &mut Snapshot,
    keep: bool,
) -> Result<Vec<(String, &'b str, Read)>, Failed> {
    // What a known release passed, it passes again: the same text against
    // the same rules, and the same version.
    let reuse = known.schema_version == version;
    let releases: Vec<(String, &'b str, Option<Entry>)> = (entries.into_iter())
        .map(|(key, text)| {
            let entry = (reuse.then(|| known.releases.remove(&key)).flatten())
                .filter(|entry| entry.text.as_str() == text);
            (key, text, entry)
        })
        .collect();
    let unknown: Vec<(&str, &str)> = (releases.iter())
        .filter(|(_, _, entry)| entry.is_none())
        .map(|(key, text, _)| (key.as_str(), *text))
        .collect();
    let mut verdicts = check_releases(&unknown, version, keep);
    if let Some(at) = verdicts.iter().position(Result::is_err) {
        let failed = verdicts
            .swap_remove(at)
            .err()
            .expect("an error at its position");
        for (key, _, entry) in releases {
            if let Some(entry) = entry {
                known.releases.insert(key, entry);
            }
        }
        return Err(failed);
    }
    let mut verdicts = verdicts.into_iter();
    Ok((releases.into_iter())
        .map(|(key, text, entry)| {
            let read = match entry {
                Some(entry) => Read::Known(entry),
                None => match verdicts.next() {
                    Some(Ok(read)) => read,
                    _ => unreachable!("one verdict, not refused, for each release checked"),
                },
            };
            (key, text, read)
        })
        .collect())
}

/// The version and the releases (key and text, in key order) of a file in
/// this build's layout (the module's doc shows it), found by the separators
/// the layout puts between releases; `None` for a file in any other layout
/// (or of a version this build does not read), which the general read
/// takes.
///
/// Only the separators are checked here: in this layout they are never
/// inside a release (a record is one line; the lines of a release are
/// indented further), and each release's text is then checked whole, so a
/// file split in the wrong place has a release that is not a JSON object,
/// which is refused.
fn split_layout(bytes: &[u8]) -> Option<(u32, Vec<(String, &str)>)> {
    let text = std::str::from_utf8(bytes).ok()?;
    let rest = text.strip_prefix("{\n  \"schemaVersion\": ")?;
    let digits = rest.find(|c: char| !c.is_ascii_digit())?;
    if digits == 0 || (digits > 1 && rest.starts_with('0')) {
        return None;
    }
    let version: u32 = rest[..digits].parse().ok()?;
    if !(OLDEST_SCHEMA_VERSION..=SCHEMA_VERSION).contains(&version) {
        return None;
    }
    let rest = rest[digits..].strip_prefix(",\n  \"releases\": {")?;
    if rest == "}\n}\n" {
        return Some((version, Vec::new()));
    }
    let inner = rest.strip_prefix("\n    ")?.strip_suffix("\n  }\n}\n")?;
    let mut entries: Vec<(String, &str)> = Vec::new();
    // Each release but the first starts after a separator, with its key's
    // opening quote (a record's line, indented further, does not).
    const SEPARATOR: &str = ",\n    \"";
    let ends = memchr::memmem::find_iter(inner.as_bytes(), SEPARATOR);
    let mut start = 0;
    for end in ends.chain(std::iter::once(inner.len())) {
        let (key, value) = split_release(&inner[start..end])?;
        // In key order, each once, as this build writes them.
        if entries.last().is_some_and(|(last, _)| *last >= key) {
            return None;
        }
        entries.push((key, value));
        // The next key's opening quote is the separator's last byte.
        start = end + SEPARATOR.len() - 1;
    }
    Some((version, entries))
}

/// `"key": {...}`: the key, and the text of the object after it.
fn split_release(piece: &str) -> Option<(String, &str)> {
    let bytes = piece.as_bytes();
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let mut end = 1;
    loop {
        match bytes.get(end)? {
            b'\\' => end += 2,
            b'"' => break,
            _ => end += 1,
        }
    }
    let key: String = serde_json::from_str(&piece[..=end]).ok()?;
    let value = piece[end + 1..].strip_prefix(": ")?;
    (value.starts_with('{') && value.ends_with('}')).then_some((key, value))
}

/// Why a release was refused: a problem of its own, or a field its file's
/// version does not have (which the full check of the file names).
enum Failed {
    Problem(Problem),
    Version,
}

/// Below this much text, a second thread costs more than it saves.
const PARALLEL_CHECK_BYTES: usize = 1 << 20;

/// [`read_release`] and [`release_version_fields`] of each release, in
/// order; with `keep`, the records, otherwise their count only. Split
/// between two threads when there is enough text and a second core.
fn check_releases(
    releases: &[(&str, &str)],
    version: u32,
    keep: bool,
) -> Vec<Result<Read, Failed>> {
    let one = |(key, text): &(&str, &str)| -> Result<Read, Failed> {
        let release = read_release(key, text).map_err(Failed::Problem)?;
        if release_version_fields(version, key, &release).is_err() {
            return Err(Failed::Version);
        }
        Ok(match keep {
            true => Read::Checked(Box::new(release)),
            false => Read::Counted(release_records(&release)),
        })
    };
    let size: usize = releases.iter().map(|(_, text)| text.len()).sum();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if size < PARALLEL_CHECK_BYTES || cores < 2 || releases.len() < 2 {
        // One after another, stopping at the first problem.
        let mut out = Vec::with_capacity(releases.len());
        for release in releases {
            let verdict = one(release);
            let failed = verdict.is_err();
            out.push(verdict);
            if failed {
                break;
            }
        }
        return out;
    }
    // Split where half the text is.
    let mut half = 0;
    let mut seen = 0;
    while half < releases.len() && seen < size / 2 {
        seen += releases[half].1.len();
        half += 1;
    }
    let (first, second) = releases.split_at(half);
    std::thread::scope(|scope| {
        let later = scope.spawn(|| second.iter().map(one).collect::<Vec<_>>());
        let mut out: Vec<_> = first.iter().map(one).collect();
        match later.join() {
            Ok(rest) => out.extend(rest),
            // A panic on the other thread is a bug; check its half here, so
            // that it is reported as it would be without threads.
            Err(_) => out.extend(second.iter().map(one)),
        }
        out
    })
}

/// Checks one release's text and returns its records.
///
/// The fast path, which every release chainctl wrote takes: the text is
/// read straight into the record types, which enforce the schema's types,
/// enums and required fields, and [`schema::follows_rules`] checks what
/// the types do not (the schema's patterns and limits). Anything else
/// goes through the full check of [`check_release`], so that a file is
/// accepted or refused, and a problem named, exactly as the full check
/// would.
fn read_release(key: &str, text: &str) -> Result<ReleaseState, Problem> {
    if let Ok(release) = serde_json::from_str::<ReleaseState>(text)
        && schema::follows_rules(key, &release)
        && release.check_key(key).is_ok()
    {
        return Ok(release);
    }
    check_release(key, text)
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
        assert_eq!(reparsed, *snap.state());
        assert_eq!(schema::parse_validated(&bytes).unwrap(), *snap.state());
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
        assert_eq!(*fresh.state(), *snap.state());
        assert!(fresh.keys().eq(snap.keys()));
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
            json_string(&snap.state().releases["prod/web"].history[0].operator)
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
        let Some(Fragment::Read(old, _)) = first.releases.values().next().map(|e| &e.text) else {
            panic!("a release is kept as read");
        };
        let old = Arc::clone(old);
        assert_eq!(Arc::strong_count(&old), 1 + first.releases.len());
        let again = Snapshot::parse_owned(bytes.clone(), Some(first)).unwrap();
        assert_eq!(Arc::strong_count(&old), 1, "nothing holds the old text");
        assert!(
            (again.releases.values()).all(|e| matches!(e.text, Fragment::Read(..))),
            "{:?}",
            again.releases
        );
        assert_eq!(again.to_bytes(), bytes);
        assert_eq!(*again.state(), *snap.state());
    }

    #[test]
    fn our_layout_is_split_where_the_general_read_finds_its_releases() {
        let bytes = sample().to_bytes();
        let (version, split) = split_layout(&bytes).expect("our layout is split");
        let outline: Outline = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(version, outline.schema_version);
        let general: Vec<(String, &str)> = (outline.releases.into_iter())
            .map(|(key, raw)| (key, raw.get()))
            .collect();
        assert_eq!(split, general);
        assert_eq!(
            split_layout(&Snapshot::default().to_bytes()),
            Some((4, vec![]))
        );
        // Anything else is left to the general read.
        let pretty = serde_json::to_vec_pretty(sample().state()).unwrap();
        assert_eq!(split_layout(&pretty), None);
        let text = String::from_utf8(bytes).unwrap();
        for other in [
            text.replace("\"schemaVersion\": 4", "\"schemaVersion\": 04"),
            text.replace("\"schemaVersion\": 4", "\"schemaVersion\": 99"),
            text.replace("\n    \"prod/hello\"", "\n    \"demo/hello\""),
            text.replacen("\n}\n", "\n}", 1),
        ] {
            assert_eq!(split_layout(other.as_bytes()), None, "{other}");
        }
    }

    #[test]
    fn a_release_the_split_cuts_wrongly_is_read_the_general_way() {
        let mut snap = Snapshot::default();
        let mut r = ExecutionStateRecord::new(Action::Install, "x", "a");
        r.source = Some(
            serde_json::from_str(
                r#"{"type":"oci","reference":"oci://r.example/c/web","requestedVersion":"1.0.0"}"#,
            )
            .unwrap(),
        );
        r.chart = Some(serde_json::from_str(r#"{"name":"web","version":"1.0.0"}"#).unwrap());
        r.finish_ok();
        snap.apply(r, 100);
        snap.apply(ExecutionStateRecord::new(Action::Install, "y", "d"), 100);
        // Valid JSON, in another layout: a separator of ours inside "a/x",
        // where both sides look like releases ("chart" sorts after "a/x").
        let text = String::from_utf8(snap.to_bytes()).unwrap();
        let foreign = text.replacen(",\"chart\":", ",\n    \"chart\": ", 1);
        let (_, split) = split_layout(foreign.as_bytes()).expect("split, wrongly");
        assert!(split.iter().any(|(key, _)| key == "chart"));

        let parsed = Snapshot::parse(foreign.as_bytes(), None).unwrap();
        assert_eq!(*parsed.state(), *snap.state());
        assert_eq!(parsed.keys().collect::<Vec<_>>(), ["a/x", "d/y"]);
        assert!(
            parsed.releases["a/x"]
                .text
                .as_str()
                .contains(",\n    \"chart\":")
        );
        // And a problem in such a file is named as the full check names it.
        let broken = foreign.replace("\"requestedVersion\":\"1.0.0\"", "\"requestedVersion\":7");
        assert_eq!(
            Snapshot::parse(broken.as_bytes(), None)
                .unwrap_err()
                .to_string(),
            schema::parse_validated(broken.as_bytes())
                .unwrap_err()
                .to_string()
        );
    }

    #[test]
    fn foreign_formatting_is_accepted_and_kept_until_its_release_is_written() {
        let snap = sample();
        let pretty = serde_json::to_vec_pretty(snap.state()).unwrap();
        let known = Snapshot::parse(&snap.to_bytes(), None).unwrap();
        let mut parsed = Snapshot::parse(&pretty, Some(known)).unwrap();
        assert_eq!(*parsed.state(), *snap.state());
        // Each release keeps its own text: the file, in our top level,
        // holds the pretty-printed releases as they were.
        let kept = parsed.to_bytes();
        assert_ne!(kept, snap.to_bytes());
        let pretty_text = String::from_utf8(pretty).unwrap();
        let reparsed = Snapshot::parse(&kept, None).unwrap();
        assert_eq!(*reparsed.state(), *snap.state());
        for key in parsed.keys() {
            let text = parsed.releases[key].text.as_str();
            assert!(text.contains("\n        \"action\": "), "{text}");
            assert!(pretty_text.contains(text), "{key} kept byte for byte");
        }
        // The release a record goes to is written again, in our layout.
        let mut rec = ExecutionStateRecord::new(Action::Install, "hello", "demo");
        rec.finish_ok();
        parsed.apply(rec.clone(), 100);
        let mut ours = Snapshot::parse(&snap.to_bytes(), None).unwrap();
        ours.apply(rec, 100);
        assert_eq!(
            parsed.releases["demo/hello"].text.as_str(),
            ours.releases["demo/hello"].text.as_str()
        );
        assert_eq!(*parsed.state(), *ours.state());
        assert!((parsed.releases["prod/hello"].text.as_str()).contains("\n        \"action\": "));
    }

    #[test]
    fn a_large_file_checked_on_two_threads_gets_the_verdict_of_one() {
        let mut snap = Snapshot::default();
        for i in 0..600 {
            for rev in 1..=8 {
                let mut r =
                    ExecutionStateRecord::new(Action::Upgrade, format!("app{i:04}"), "prod");
                r.helm_revision = Some(rev);
                r.values_digest = Some(format!("sha256:{}", "0".repeat(64)));
                snap.apply(r, 100);
            }
        }
        let bytes = snap.to_bytes();
        assert!(
            bytes.len() > PARALLEL_CHECK_BYTES * 3 / 2,
            "{}",
            bytes.len()
        );
        let text = String::from_utf8(bytes).unwrap();
        let parsed = Snapshot::parse_owned(text.clone().into_bytes(), None).unwrap();
        assert_eq!(parsed.record_count(), 600 * 8);
        assert_eq!(*parsed.state(), *snap.state());
        assert_eq!(
            Snapshot::parse_to_read(text.as_bytes()).unwrap(),
            *snap.state()
        );

        // A problem in each half: the first in key order is named, as the
        // full check names it.
        let spoil = |text: &str, release: &str| {
            let name = format!("\"release\":\"{release}\"");
            assert!(text.contains(&name));
            text.replacen(&name, &format!("\"release\":\"{release}-\""), 1)
        };
        let late = spoil(&text, "app0550");
        let both = spoil(&late, "app0050");
        for (bad, names) in [(&late, "app0550"), (&both, "app0050")] {
            let full = schema::parse_validated(bad.as_bytes())
                .unwrap_err()
                .to_string();
            for err in [
                Snapshot::parse_owned(bad.clone().into_bytes(), None).unwrap_err(),
                Snapshot::parse_to_read(bad.as_bytes()).unwrap_err(),
            ] {
                let err = err.to_string();
                assert_eq!(err, full);
                assert!(err.contains(names), "{err}");
            }
        }
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
        assert_eq!(snap.state().schema_version, 1);
        assert_eq!(snap.to_bytes(), v1.as_bytes(), "unchanged until written");

        let mut rec = ExecutionStateRecord::new(Action::Install, "new", "demo");
        rec.manifest_digest = Some(format!("sha256:{}", "0".repeat(64)));
        let undo = snap.apply(rec, 100);
        assert_eq!(snap.state().schema_version, SCHEMA_VERSION);
        let v2 = snap.to_bytes();
        assert!(v2.starts_with(b"{\n  \"schemaVersion\": 4,"));
        assert_eq!(schema::parse_validated(&v2).unwrap(), *snap.state());
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
