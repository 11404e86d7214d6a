//! The JSON Schema of the state file, generated from the serde types, and
//! the checks a file goes through before anything trusts it.

use std::fmt;
use std::sync::OnceLock;

use jsonschema::ValidationError;
use serde_json::Value;

use super::record::{
    ExecutionStateRecord, OLDEST_SCHEMA_VERSION, ReleaseState, SCHEMA_VERSION, StateFile,
    json_string,
};

/// The JSON Schema (draft 2020-12) of the state file, generated from
/// [`StateFile`] and the types in it. `schemas/state.schema.json` in the
/// repository is this value, committed.
///
/// ```
/// let schema = chainctl_core::state::state_schema();
/// assert_eq!(schema["title"], "chainctl state file");
/// assert_eq!(schema["properties"]["schemaVersion"]["minimum"], 1);
/// assert_eq!(schema["properties"]["schemaVersion"]["maximum"], 4);
/// ```
pub fn state_schema() -> Value {
    let mut schema = schemars::schema_for!(StateFile).to_value();
    tidy_descriptions(&mut schema);
    schema
}

/// Descriptions come from the Rust doc comments; a reader of the JSON
/// Schema wants their prose, not the Rust examples or rustdoc link syntax,
/// nor line breaks that only wrapped the source.
fn tidy_descriptions(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(text) if key == "description" => *text = tidy(text),
                    other => tidy_descriptions(other),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(tidy_descriptions),
        _ => {}
    }
}

fn tidy(text: &str) -> String {
    let prose = text.split("\n\n```").next().unwrap_or_default();
    let mut out = String::with_capacity(prose.len());
    let mut rest = prose;
    // [`name`] and [`name`](target) become `name`.
    while let Some(open) = rest.find("[`") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find("`]") {
            Some(close) => {
                out.push_str(&after[..close + 1]);
                rest = &after[close + 2..];
                if rest.starts_with('(') {
                    rest = rest.find(')').map_or(rest, |end| &rest[end + 1..]);
                }
            }
            None => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.split("\n\n")
        .map(|paragraph| {
            paragraph
                .split('\n')
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n\n")
        .trim()
        .to_string()
}

/// [`state_schema`] as the text of `schemas/state.schema.json`: pretty
/// printed, with a final newline.
///
/// ```
/// let text = chainctl_core::state::state_schema_json();
/// assert!(text.starts_with('{') && text.ends_with("}\n"));
/// ```
pub fn state_schema_json() -> String {
    let mut text = serde_json::to_string_pretty(&state_schema()).expect("a schema serializes");
    text.push('\n');
    text
}

/// The schema the loader checks files against: schemas/state.schema.json
/// as committed (a test keeps it equal to [`state_schema`]), parsed rather
/// than generated, which spares every run of the CLI the schemars pass.
fn committed_schema() -> Value {
    serde_json::from_str(include_str!("../../schemas/state.schema.json"))
        .expect("schemas/state.schema.json is JSON")
}

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        jsonschema::options()
            .should_validate_formats(true)
            .build(&committed_schema())
            .expect("the generated state schema compiles")
    })
}

/// The schema of one record: the state schema's definitions, rooted at
/// `ExecutionStateRecord`, so that a record is checked before it is written
/// and problems are named from the record down (`$.valuesDigest`).
fn record_validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let mut schema = committed_schema();
        let root = schema.as_object_mut().expect("a schema is an object");
        root.retain(|k, _| k == "$schema" || k == "$defs");
        root.insert("$ref".into(), "#/$defs/ExecutionStateRecord".into());
        jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .expect("the generated record schema compiles")
    })
}

/// Why bytes are not a usable state file.
#[derive(Debug)]
pub(crate) enum Problem {
    /// Nothing but whitespace.
    Empty,
    /// Not JSON at all (truncated, say).
    Syntax(serde_json::Error),
    /// Written by a newer chainctl.
    Newer(u64),
    /// JSON, but not in the shape of the schema.
    Invalid {
        /// JSON path of the first problem, `$.releases["demo/hello"].history[0]`.
        path: String,
        message: String,
    },
}

impl Problem {
    pub(crate) fn is_newer(&self) -> bool {
        matches!(self, Problem::Newer(_))
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Empty => f.write_str("the file is empty"),
            Problem::Syntax(e) => write!(f, "not valid JSON: {e}"),
            Problem::Newer(v) => write!(
                f,
                "it has schemaVersion {v}, written by a newer chainctl; this one reads schemaVersion {OLDEST_SCHEMA_VERSION} to {SCHEMA_VERSION}"
            ),
            Problem::Invalid { path, message } => write!(f, "at {path}: {message}"),
        }
    }
}

/// Everything a file must pass: JSON, not newer than this build, valid
/// against [`state_schema`], each record under its own key, and no field
/// newer than the file's `schemaVersion`. The whole
/// file at once: the reference that the incremental reader
/// (`format::Snapshot::parse`) must agree with, and its diagnosis.
pub(crate) fn parse_validated(bytes: &[u8]) -> Result<StateFile, Problem> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::Empty);
    }
    let value: Value = serde_json::from_slice(bytes).map_err(Problem::Syntax)?;
    if let Some(v) = value.get("schemaVersion").and_then(Value::as_u64)
        && v > u64::from(SCHEMA_VERSION)
    {
        return Err(Problem::Newer(v));
    }
    check_value(&value)?;
    // The schema is generated from these types, so this only fails if the
    // two disagree; report it like any other problem all the same.
    let state: StateFile = serde_json::from_value(value).map_err(|e| Problem::Invalid {
        path: "$".into(),
        message: e.to_string(),
    })?;
    check_keys(&state)?;
    state
        .check_version_fields()
        .map_err(|(path, message)| Problem::Invalid { path, message })?;
    // What a JSON value hides and the typed reader refuses: a key given
    // twice (a value keeps the last), a release's included.
    if let Err(e) = serde_json::from_slice::<StateFile>(bytes) {
        return Err(Problem::Invalid {
            path: "$".into(),
            message: format!("{e}: each key may appear once; remove the repeated one"),
        });
    }
    Ok(state)
}

/// The problem with bytes that a faster reader refused: the message of
/// the full check, so that it is the same however the file was read.
pub(crate) fn diagnose(bytes: &[u8]) -> Problem {
    match parse_validated(bytes) {
        Err(problem) => problem,
        Ok(_) => Problem::Invalid {
            path: "$".into(),
            message: "the file passes the schema but not the loader (a bug in \
                      chainctl-core; please report it)"
                .into(),
        },
    }
}

/// Reads one record given as JSON (as `chainctl` prints a record it could
/// not write), checked by the rules a record in a state file must pass: the
/// schema, each key once, `error` exactly when it failed, and a cluster id
/// that is its server's.
pub(crate) fn parse_record(bytes: &[u8]) -> Result<ExecutionStateRecord, Problem> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::Empty);
    }
    let value: Value = serde_json::from_slice(bytes).map_err(Problem::Syntax)?;
    first_error(record_validator(), &value)?;
    let invalid = |path: &str, message: String| Problem::Invalid {
        path: path.into(),
        message,
    };
    // Typed from the text, not the value: a key given twice is refused.
    let record: ExecutionStateRecord = serde_json::from_slice(bytes).map_err(|e| {
        invalid(
            "$",
            format!("{e}: each key may appear once; remove the repeated one"),
        )
    })?;
    record
        .check_consistency()
        .map_err(|message| invalid("$", message))?;
    if let Some(cluster) = &record.cluster {
        cluster
            .check_identity()
            .map_err(|message| invalid("$.cluster", message))?;
        let memory = record.driver == Some(super::StorageDriver::Memory);
        if record.driver.is_some() && memory != cluster.is_rehearsal() {
            return Err(invalid(
                "$.driver",
                format!(
                    "a record of cluster {} with the {} driver: rehearsals, and only they, \
                     use the memory driver",
                    cluster.id,
                    serde_json::to_value(record.driver).unwrap_or_default()
                ),
            ));
        }
    }
    Ok(record)
}

impl ExecutionStateRecord {
    /// Reads a record from its JSON, as `chainctl` prints one whose state
    /// file could not be written (exit code 7), checked by the rules of a
    /// record in a state file: the schema (problems named by their JSON path),
    /// each key once, an `error` exactly when it failed, and a cluster id
    /// that is the one its server and CA give. Put it back with
    /// [`StateStore::import`](super::StateStore::import).
    ///
    /// ```
    /// use chainctl_core::ErrorKind;
    /// use chainctl_core::state::{Action, ExecutionStateRecord};
    /// let mut rec = ExecutionStateRecord::new(Action::Install, "hello", "demo");
    /// rec.finish_ok();
    /// let text = serde_json::to_string(&rec).unwrap();
    /// assert_eq!(ExecutionStateRecord::from_json(&text).unwrap(), rec);
    ///
    /// let bad = text.replace("\"hello\"", "\"Hello\"");
    /// let err = ExecutionStateRecord::from_json(&bad).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidInput);
    /// assert!(err.to_string().contains("at $.release"), "{err}");
    /// ```
    pub fn from_json(text: &str) -> crate::Result<ExecutionStateRecord> {
        parse_record(text.as_bytes()).map_err(|problem| {
            crate::Error::invalid(format!("not a record chainctl can import: {problem}"))
        })
    }

    /// The records in text chainctl printed when a record could not be
    /// written (exit 7): either one JSON record, or lines of which those
    /// starting with `{` are records and the others are messages, which
    /// may run over several lines. This is what `chainctl state import`
    /// reads; each record is checked as [`from_json`](Self::from_json)
    /// checks it, and the first bad one fails the whole text, naming its
    /// line, so that nothing is imported by halves. Text without a record
    /// gives none.
    ///
    /// ```
    /// use chainctl_core::state::{Action, ExecutionStateRecord};
    /// let mut rec = ExecutionStateRecord::new(Action::Install, "hello", "demo");
    /// rec.finish_ok();
    /// let line = serde_json::to_string(&rec).unwrap();
    /// let printed = format!("chainctl: the record could not be written\n{line}\n");
    /// assert_eq!(ExecutionStateRecord::all_from_text(&printed).unwrap(), vec![rec]);
    ///
    /// assert!(ExecutionStateRecord::all_from_text("no record here\n").unwrap().is_empty());
    /// let bad = printed.replace("\"hello\"", "\"Hello\"");
    /// let err = ExecutionStateRecord::all_from_text(&bad).unwrap_err();
    /// assert!(err.to_string().starts_with("line 2: not a record"), "{err}");
    /// ```
    pub fn all_from_text(text: &str) -> crate::Result<Vec<ExecutionStateRecord>> {
        let trimmed = text.trim();
        if trimmed.starts_with('{')
            && serde_json::from_str::<&serde_json::value::RawValue>(trimmed).is_ok()
        {
            return Ok(vec![Self::from_json(trimmed)?]);
        }
        let mut records = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.starts_with('{') {
                let record = Self::from_json(line).map_err(|err| {
                    crate::Error::invalid(format!("line {}: {}", i + 1, err.message()))
                })?;
                records.push(record);
            }
        }
        Ok(records)
    }
}

/// Checks a record against its part of [`state_schema`].
///
/// A record built as Rust values has the schema's types, enums and required
/// fields, and its timestamps are written in their canonical form, by
/// construction: what it can get wrong are the schema's patterns and
/// limits, which [`follows_rules`] checks without building a JSON value or
/// compiling the schema. Only a record that breaks one goes through the
/// JSON Schema validator, which names the problem.
pub(crate) fn check_record(record: &ExecutionStateRecord) -> Result<(), Problem> {
    if rules::record(record) {
        return Ok(());
    }
    let value = serde_json::to_value(record).expect("a record serializes");
    first_error(record_validator(), &value)
}

/// Checks a JSON value against [`state_schema`]: the JSON path and the
/// problem of the first error.
pub(crate) fn check_value(value: &Value) -> Result<(), Problem> {
    first_error(validator(), value)
}

fn first_error(validator: &jsonschema::Validator, value: &Value) -> Result<(), Problem> {
    let Err(e) = validator.validate(value) else {
        return Ok(());
    };
    let e = most_specific(&e);
    let path = json_path(e.instance_path().segments());
    let message = if let Some(choices) = const_choices(e) {
        format!("{} is not one of {}", e.instance(), choices.join(", "))
    } else if e.instance().to_string().len() <= 80 {
        e.to_string()
    } else {
        // A whole record in a message buries the point.
        e.masked_with("the value").to_string()
    };
    Err(Problem::Invalid { path, message })
}

fn depth(e: &ValidationError<'_>) -> usize {
    e.instance_path().segments().count()
}

fn branches<'e>(e: &'e ValidationError<'_>) -> Option<&'e [Vec<ValidationError<'static>>]> {
    use jsonschema::error::ValidationErrorKind as Kind;
    match e.kind() {
        Kind::AnyOf { context } | Kind::OneOfNotValid { context } => Some(context),
        _ => None,
    }
}

/// "Not valid under any of the schemas in anyOf" at a record says little;
/// the branch that came closest says more: the one with the fewest errors,
/// then the deepest (a record with one bad field beats "not null"). Only
/// followed when it points deeper than where the alternatives were.
fn most_specific<'a, 'e>(e: &'e ValidationError<'a>) -> &'e ValidationError<'a> {
    let Some(branches) = branches(e) else {
        return e;
    };
    let closest = branches
        .iter()
        .filter_map(|errors| {
            let deepest = errors
                .iter()
                .map(|err| most_specific(err))
                .max_by_key(|err| depth(err))?;
            Some((errors.len(), deepest))
        })
        .min_by_key(|(count, deepest)| (*count, std::cmp::Reverse(depth(deepest))));
    match closest {
        Some((_, inner)) if depth(inner) > depth(e) => inner,
        _ => e,
    }
}

/// The allowed values when the alternatives are all constants (the
/// schema of a Rust enum like `outcome`).
fn const_choices(e: &ValidationError<'_>) -> Option<Vec<String>> {
    use jsonschema::error::ValidationErrorKind as Kind;
    branches(e)?
        .iter()
        .map(|errors| match errors.as_slice() {
            [only] if depth(only) == depth(e) => match only.kind() {
                Kind::Constant { expected_value } => Some(expected_value.to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn check_keys(state: &StateFile) -> Result<(), Problem> {
    for (key, release) in &state.releases {
        release
            .check_key(key)
            .map_err(|(path, message)| Problem::Invalid { path, message })?;
    }
    Ok(())
}

/// `$.releases["demo/hello"].history[3].outcome` from a JSON pointer's
/// segments.
fn json_path<'a>(segments: impl Iterator<Item = jsonschema::paths::LocationSegment<'a>>) -> String {
    use jsonschema::paths::LocationSegment;
    let mut path = String::from("$");
    for segment in segments {
        match segment {
            LocationSegment::Index(i) => path.push_str(&format!("[{i}]")),
            LocationSegment::Property(name) => {
                let plain = name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if plain {
                    path.push('.');
                    path.push_str(&name);
                } else {
                    path.push_str(&format!("[{}]", json_string(&name)));
                }
            }
        }
    }
    path
}

/// The schema's rules that the record types do not enforce themselves:
/// its `pattern`s, `minLength`s, `maxLength`s and `minimum`s, checked on
/// the typed release under `key` (for the loader's fast path,
/// `format::read_release`). `true` means the release passes them; `false`
/// sends the release to the full check, which names the problem. Each
/// check is written out from the schema's own rule (a test keeps the list
/// of rules here equal to the schema's), so that nothing compiles a regular
/// expression or builds a JSON value per record.
pub(crate) fn follows_rules(key: &str, release: &ReleaseState) -> bool {
    rules::release_key(key)
        && release.current.iter().all(rules::record)
        && release.history.iter().all(rules::record)
}

/// Each function is the schema rule named in its comment.
mod rules {
    use crate::state::record::{ExecutionStateRecord, RecordSource};

    /// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
    fn label(s: &str) -> bool {
        let b = s.as_bytes();
        let inner = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        match (b.first(), b.last()) {
            (Some(first), Some(last)) => {
                inner(first) && inner(last) && b.iter().all(|c| inner(c) || *c == b'-')
            }
            _ => false,
        }
    }

    /// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
    fn release_name(s: &str) -> bool {
        s.split('.').all(label)
    }

    /// `^([0-9a-f]{16}|rehearsal)$`
    fn cluster_id(s: &str) -> bool {
        s == "rehearsal" || (s.len() == 16 && s.bytes().all(|c| lower_hex(&c)))
    }

    fn lower_hex(c: &u8) -> bool {
        c.is_ascii_digit() || (b'a'..=b'f').contains(c)
    }

    /// `propertyNames`: `^(([0-9a-f]{16}|rehearsal)/)?` namespace `/` release.
    pub(super) fn release_key(key: &str) -> bool {
        let parts: Vec<&str> = key.splitn(4, '/').collect();
        match parts.as_slice() {
            [namespace, release] => label(namespace) && release_name(release),
            [cluster, namespace, release] => {
                cluster_id(cluster) && label(namespace) && release_name(release)
            }
            _ => false,
        }
    }

    /// `^(hmac-sha256|sha256):[0-9a-f]{64}$`
    fn values_digest(s: &str) -> bool {
        let hex = s
            .strip_prefix("hmac-sha256:")
            .or_else(|| s.strip_prefix("sha256:"));
        hex.is_some_and(|h| h.len() == 64 && h.bytes().all(|c| lower_hex(&c)))
    }

    /// `^[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$`
    fn oci_digest(s: &str) -> bool {
        let Some((algorithm, encoded)) = s.split_once(':') else {
            return false;
        };
        let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        algorithm
            .split(['+', '.', '_', '-'])
            .all(|part| !part.is_empty() && part.bytes().all(alnum))
            && !encoded.is_empty()
            && encoded
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"=_-".contains(&c))
    }

    /// `^oci://.`: any character but a line terminator after the scheme.
    fn oci_reference(s: &str) -> bool {
        s.strip_prefix("oci://")
            .and_then(|rest| rest.chars().next())
            .is_some_and(|c| !matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}'))
    }

    /// `minLength` and `maxLength` count characters, not bytes.
    fn chars_between(s: &str, min: usize, max: usize) -> bool {
        (min..=max).contains(&s.chars().count())
    }

    /// An `ExecutionStateRecord`'s rules, and those of the types in it.
    pub(super) fn record(r: &ExecutionStateRecord) -> bool {
        let optional = |v: &Option<String>, rule: fn(&str) -> bool| v.as_deref().is_none_or(rule);
        let source = match &r.source {
            None => true,
            Some(RecordSource::Oci(oci)) => {
                oci_reference(&oci.reference)
                    && optional(&oci.manifest_digest, oci_digest)
                    && optional(&oci.chart_digest, oci_digest)
            }
            Some(RecordSource::Bundle(bundle)) => {
                !bundle.path.is_empty() && optional(&bundle.content_digest, oci_digest)
            }
        };
        // release: minLength 1, maxLength 53, pattern; namespace: 1 to 63.
        chars_between(&r.release, 1, 53)
            && release_name(&r.release)
            && chars_between(&r.namespace, 1, 63)
            && label(&r.namespace)
            && r.cluster.as_ref().is_none_or(|c| cluster_id(&c.id))
            && source
            // chart.name, chart.version: minLength 1.
            && r.chart.as_ref().is_none_or(|c| !c.name.is_empty() && !c.version.is_empty())
            // helmRevision: minimum 1.
            && r.helm_revision.is_none_or(|rev| rev >= 1)
            // helmStatus: minLength 1.
            && r.helm_status.as_ref().is_none_or(|s| !s.as_str().is_empty())
            && optional(&r.values_digest, values_digest)
            && optional(&r.manifest_digest, values_digest)
            // operator, toolVersions.chainctl: minLength 1.
            && !r.operator.is_empty()
            && !r.tool_versions.chainctl.is_empty()
    }

    /// A rule on one string.
    #[cfg(test)]
    pub(super) type Rule = fn(&str) -> bool;

    /// Each hand-written pattern, by name, for the test that compares them
    /// with the schema's regular expressions.
    #[cfg(test)]
    pub(super) fn samples() -> Vec<(&'static str, Rule)> {
        vec![
            ("label", label),
            ("release_name", release_name),
            ("cluster_id", cluster_id),
            ("release_key", release_key),
            ("values_digest", values_digest),
            ("oci_digest", oci_digest),
            ("oci_reference", oci_reference),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record() -> Value {
        json!({
            "action": "install", "outcome": "succeeded",
            "release": "hello", "namespace": "demo",
            "startedAt": "2026-04-14T10:11:12.345Z", "finishedAt": "2026-04-14T10:11:13.345Z",
            "durationMs": 1000, "operator": "alice", "toolVersions": {"chainctl": "0.1.0"}
        })
    }

    fn file_with(rec: Value) -> Value {
        json!({"schemaVersion": 1, "releases": {"demo/hello": {"current": null, "history": [rec]}}})
    }

    fn problem(v: &Value) -> String {
        parse_validated(v.to_string().as_bytes())
            .unwrap_err()
            .to_string()
    }

    /// Every rule the schema states beyond types, enums and required fields,
    /// as `definition.property keyword value`. `follows_rules` checks each
    /// of these by hand: a rule added to the schema fails this test until
    /// the fast path checks it too (and this list names it).
    #[test]
    fn the_fast_path_checks_every_rule_of_the_schema() {
        fn collect(at: &str, v: &Value, out: &mut Vec<String>) {
            let Some(map) = v.as_object() else {
                if let Some(items) = v.as_array() {
                    for (i, item) in items.iter().enumerate() {
                        collect(&format!("{at}[{i}]"), item, out);
                    }
                }
                return;
            };
            for (k, v) in map {
                match k.as_str() {
                    "pattern" | "minLength" | "maxLength" | "minimum" | "maximum"
                    | "exclusiveMinimum" | "exclusiveMaximum" | "multipleOf" | "minItems"
                    | "maxItems" | "uniqueItems" | "minProperties" | "maxProperties" | "format"
                    | "not" | "if" | "dependentRequired" | "contains" => {
                        out.push(format!("{at} {k} {v}"))
                    }
                    "description" | "title" => {}
                    _ => collect(&format!("{at}.{k}"), v, out),
                }
            }
        }
        let mut rules = Vec::new();
        collect("$", &committed_schema(), &mut rules);
        let digest = r#""^[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$""#;
        let label = r#""^[a-z0-9]([-a-z0-9]*[a-z0-9])?$""#;
        let release = r#""^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$""#;
        let values = r#""^(hmac-sha256|sha256):[0-9a-f]{64}$""#;
        let uint64 = |p: &str| [format!("{p} format \"uint64\""), format!("{p} minimum 0")];
        let rec = "$.$defs.ExecutionStateRecord.properties";
        let phases = "$.$defs.PhaseDurations.properties";
        let oci = "$.$defs.RecordSource.oneOf[0].properties";
        let bundle = "$.$defs.RecordSource.oneOf[1].properties";
        let mut expected: Vec<String> = vec![
            // The enforced by the types: u32/u64 (uint formats, minimum 0),
            // schemaVersion's range (the outline), timestamps (canonical
            // text, compared after writing it out again).
            "$.properties.schemaVersion format \"uint32\"".into(),
            "$.properties.schemaVersion maximum 4".into(),
            "$.properties.schemaVersion minimum 1".into(),
            format!("{rec}.finishedAt format \"date-time\""),
            format!("{rec}.startedAt format \"date-time\""),
            format!("{rec}.helmRevision format \"uint32\""),
            // Checked by `rules`.
            format!(
                "$.properties.releases.propertyNames pattern {}",
                r#""^(([0-9a-f]{16}|rehearsal)/)?[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$""#
            ),
            "$.$defs.ChartInfo.properties.name minLength 1".into(),
            "$.$defs.ChartInfo.properties.version minLength 1".into(),
            format!("{rec}.helmRevision minimum 1"),
            format!("{rec}.helmStatus minLength 1"),
            format!("{rec}.manifestDigest pattern {values}"),
            format!("{rec}.valuesDigest pattern {values}"),
            format!("{rec}.namespace maxLength 63"),
            format!("{rec}.namespace minLength 1"),
            format!("{rec}.namespace pattern {label}"),
            format!("{rec}.operator minLength 1"),
            format!("{rec}.release maxLength 53"),
            format!("{rec}.release minLength 1"),
            format!("{rec}.release pattern {release}"),
            r#"$.$defs.RecordCluster.properties.id pattern "^([0-9a-f]{16}|rehearsal)$""#.into(),
            format!("{oci}.chartDigest pattern {digest}"),
            format!("{oci}.manifestDigest pattern {digest}"),
            format!("{oci}.reference pattern \"^oci://.\""),
            format!("{bundle}.contentDigest pattern {digest}"),
            format!("{bundle}.path minLength 1"),
            "$.$defs.ToolVersions.properties.chainctl minLength 1".into(),
        ];
        expected.extend(uint64(&format!("{rec}.durationMs")));
        for phase in ["apply", "pull", "render", "resolve", "wait"] {
            expected.extend(uint64(&format!("{phases}.{phase}")));
        }
        rules.sort();
        expected.sort();
        assert_eq!(rules, expected);
    }

    /// Each hand-written pattern agrees with the schema's regular
    /// expression on strings near its edges.
    #[test]
    fn the_hand_written_patterns_agree_with_the_schemas() {
        let patterns = [
            ("label", r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
            (
                "release_name",
                r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
            ),
            ("cluster_id", r"^([0-9a-f]{16}|rehearsal)$"),
            (
                "release_key",
                r"^(([0-9a-f]{16}|rehearsal)/)?[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
            ),
            ("values_digest", r"^(hmac-sha256|sha256):[0-9a-f]{64}$"),
            (
                "oci_digest",
                r"^[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$",
            ),
            ("oci_reference", r"^oci://."),
        ];
        let hex16 = "0123456789abcdef";
        let hex64 = "ab".repeat(32);
        let inputs: Vec<String> = [
            "",
            "a",
            "-",
            "a-",
            "-a",
            "a-b",
            "a--b",
            "A",
            "a.b",
            "a..b",
            ".a",
            "a.",
            "a.-b",
            "web",
            "api.v2",
            "x_y",
            "a b",
            "é",
            "demo/hello",
            "demo/api.v2",
            "demo/",
            "/hello",
            "rehearsal/demo/hello",
            "rehearsals/demo/hello",
            "a/b/c/d",
            "rehearsal",
            "sha256:",
            "sha256:abc",
            "md5:abc",
            "sha256+x:AB=_-",
            "sha256:AB c",
            "a.b-c_d+e:x",
            "a..b:x",
            "+a:x",
            "a:",
            ":x",
            "a:b:c",
            "oci://",
            "oci://x",
            "oci://\n",
            "oci:/x",
            "OCI://x",
            "oci://\u{2028}",
            "oci://\u{e9}",
        ]
        .into_iter()
        .map(String::from)
        .chain([
            hex16.to_string(),
            format!("{hex16}/demo/hello"),
            format!("{}/demo/hello", hex16.to_uppercase()),
            format!("{hex16}0/demo/hello"),
            format!("sha256:{hex64}"),
            format!("hmac-sha256:{hex64}"),
            format!("hmac-sha256:{hex64}0"),
            format!("sha256:{}", hex64.to_uppercase()),
            format!("{hex64}\n"),
            format!("sha256:{hex64}\n"),
            "a\n".into(),
        ])
        .collect();
        let samples = rules::samples();
        for (name, pattern) in patterns {
            let schema = serde_json::json!({"type": "string", "pattern": pattern});
            let regex = jsonschema::validator_for(&schema).unwrap();
            let (_, check) = samples.iter().find(|(n, _)| *n == name).unwrap();
            for input in &inputs {
                assert_eq!(
                    check(input),
                    regex.is_valid(&Value::String(input.clone())),
                    "{name} on {input:?}"
                );
            }
        }
    }

    /// A record checked before it is written: the hand-written rules and
    /// the JSON Schema validator agree on it, and a problem is named by the
    /// validator either way.
    #[test]
    fn a_record_is_checked_by_the_rules_and_named_by_the_schema() {
        use crate::state::{Action, RecordCluster};
        let mut good = ExecutionStateRecord::new(Action::Install, "web", "prod");
        good.values_digest = Some(format!("sha256:{}", "0".repeat(64)));
        good.helm_revision = Some(1);
        good.finish_ok();
        type Spoil = fn(&mut ExecutionStateRecord);
        let bad: Vec<(&str, Spoil)> = vec![
            ("$.release", |r| r.release = "Web".into()),
            ("$.release", |r| r.release = "a".repeat(54)),
            ("$.namespace", |r| r.namespace = "pr_od".into()),
            ("$.valuesDigest", |r| {
                r.values_digest = Some("md5:abc".into())
            }),
            ("$.helmRevision", |r| r.helm_revision = Some(0)),
            ("$.helmStatus", |r| r.helm_status = Some("".into())),
            ("$.operator", |r| r.operator = String::new()),
            ("$.toolVersions.chainctl", |r| {
                r.tool_versions.chainctl = String::new()
            }),
            ("$.cluster.id", |r| {
                let mut c = RecordCluster::rehearsal();
                c.id = "REHEARSAL".into();
                r.cluster = Some(c);
            }),
        ];
        let validator = |r: &ExecutionStateRecord| {
            record_validator().is_valid(&serde_json::to_value(r).unwrap())
        };
        assert!(rules::record(&good) && validator(&good));
        assert!(check_record(&good).is_ok());
        for (path, spoil) in bad {
            let mut r = good.clone();
            spoil(&mut r);
            assert!(!rules::record(&r) && !validator(&r), "{path}");
            let p = check_record(&r).unwrap_err().to_string();
            assert!(p.starts_with(&format!("at {path}:")), "{p}");
        }
    }

    #[test]
    fn schema_problems_name_the_json_path() {
        let mut r = record();
        r["outcome"] = json!("done");
        let p = problem(&file_with(r));
        assert_eq!(
            p,
            r#"at $.releases["demo/hello"].history[0].outcome: "done" is not one of "succeeded", "failed""#
        );

        let mut r = record();
        r["helmRevision"] = json!("3");
        let p = problem(&file_with(r));
        assert!(
            p.starts_with(r#"at $.releases["demo/hello"].history[0].helmRevision:"#),
            "{p}"
        );

        let mut r = record();
        r["valuesDigest"] = json!("md5:abc");
        let mut f = file_with(record());
        f["releases"]["demo/hello"]["current"] = r;
        let p = problem(&f);
        assert!(
            p.starts_with(
                r#"at $.releases["demo/hello"].current.valuesDigest: "md5:abc" does not match"#
            ),
            "{p}"
        );

        let mut r = record();
        r["source"] = json!({"type": "oci", "reference": "https://x"});
        let p = problem(&file_with(r));
        assert!(
            p.starts_with(
                r#"at $.releases["demo/hello"].history[0].source.reference: "https://x""#
            ),
            "{p}"
        );

        let mut r = record();
        r["startedAt"] = json!("yesterday");
        let p = problem(&file_with(r));
        assert!(p.contains("startedAt") && p.contains("date-time"), "{p}");

        let mut r = record();
        r["values"] = json!({"password": "hunter2"});
        let p = problem(&file_with(r));
        assert!(p.contains("history[0]") && p.contains("values"), "{p}");
        assert!(!p.contains("hunter2"), "{p}");
    }

    #[test]
    fn a_duplicate_key_is_named_not_called_a_bug() {
        let p =
            diagnose(br#"{"schemaVersion": 3, "schemaVersion": 3, "releases": {}}"#).to_string();
        assert!(
            p.contains("duplicate field `schemaVersion`") && !p.contains("bug"),
            "{p}"
        );
    }

    #[test]
    fn a_release_or_a_field_given_twice_is_refused_by_both_readers() {
        let rec = record().to_string();
        let twice_release = format!(
            r#"{{"schemaVersion": 1, "releases": {{"demo/hello": {{"current": null, "history": []}}, "demo/hello": {{"current": null, "history": [{rec}]}}}}}}"#
        );
        let twice_field = format!(
            r#"{{"schemaVersion": 1, "releases": {{"demo/hello": {{"current": null, "history": [{}]}}}}}}"#,
            rec.replacen("{", r#"{"outcome": "failed", "#, 1)
        );
        for (text, says) in [
            (twice_release, "duplicate release key \"demo/hello\""),
            (twice_field, "duplicate field `outcome`"),
        ] {
            let full = parse_validated(text.as_bytes()).unwrap_err().to_string();
            let loader = crate::state::format::Snapshot::parse(text.as_bytes(), None)
                .unwrap_err()
                .to_string();
            for p in [full, loader] {
                assert!(
                    p.contains(says) && p.contains("each key may appear once"),
                    "{p}"
                );
            }
        }
    }

    #[test]
    fn newer_version_is_named_before_anything_else() {
        let v = json!({"schemaVersion": 5, "releases": [], "somethingNew": true});
        let p = parse_validated(v.to_string().as_bytes()).unwrap_err();
        assert!(p.is_newer());
        assert!(
            p.to_string().contains(
                "schemaVersion 5, written by a newer chainctl; this one reads schemaVersion 1 to 4"
            ),
            "{p}"
        );
    }

    #[test]
    fn version_1_and_2_are_read_and_only_2_has_manifest_digests() {
        assert_eq!(
            parse_validated(file_with(record()).to_string().as_bytes())
                .unwrap()
                .schema_version,
            1
        );
        let mut v2 = file_with(record());
        v2["schemaVersion"] = json!(2);
        assert_eq!(
            parse_validated(v2.to_string().as_bytes())
                .unwrap()
                .schema_version,
            2
        );

        let mut r = record();
        r["manifestDigest"] = json!(format!("sha256:{}", "ab".repeat(32)));
        let mut v2 = file_with(r.clone());
        v2["schemaVersion"] = json!(2);
        let state = parse_validated(v2.to_string().as_bytes()).unwrap();
        let digest = state.releases["demo/hello"].history[0]
            .manifest_digest
            .clone();
        assert_eq!(digest.unwrap(), format!("sha256:{}", "ab".repeat(32)));

        // A version 1 file must stay readable by a chainctl that knows only version 1.
        let p = problem(&file_with(r));
        assert_eq!(
            p,
            r#"at $.releases["demo/hello"].history[0].manifestDigest: manifestDigest needs schemaVersion 2, but the file says schemaVersion 1: set it to 2, or remove the field"#
        );

        let mut r = record();
        r["manifestDigest"] = json!("md5:abc");
        let mut v2 = file_with(r);
        v2["schemaVersion"] = json!(2);
        assert!(problem(&v2).contains("manifestDigest"));

        for bad in [0, 1000] {
            let mut f = file_with(record());
            f["schemaVersion"] = json!(bad);
            let p = problem(&f);
            assert!(p.contains("schemaVersion"), "{p}");
        }
    }

    #[test]
    fn syntax_and_empty() {
        assert!(matches!(parse_validated(b" \n"), Err(Problem::Empty)));
        let p = parse_validated(br#"{"schemaVersion": 1, "relea"#).unwrap_err();
        assert!(
            p.to_string()
                .starts_with("not valid JSON: EOF while parsing"),
            "{p}"
        );
        assert!(p.to_string().contains("line 1 column"), "{p}");
    }

    #[test]
    fn descriptions_are_prose() {
        assert_eq!(
            tidy(
                "One [`values_digest`] and [`Error`](crate::Error),\nwrapped.\n\nSecond.\n\n```\ncode\n```"
            ),
            "One `values_digest` and `Error`, wrapped.\n\nSecond."
        );
        let text = state_schema_json();
        assert!(!text.contains("```") && !text.contains("[`"), "{text}");
    }

    #[test]
    fn paths_quote_keys_that_are_not_identifiers() {
        use jsonschema::paths::LocationSegment as S;
        let segments = [
            S::Property("releases".into()),
            S::Property("demo/hello".into()),
            S::Property("history".into()),
            S::Index(3),
        ];
        assert_eq!(
            json_path(segments.into_iter()),
            r#"$.releases["demo/hello"].history[3]"#
        );
    }
}
