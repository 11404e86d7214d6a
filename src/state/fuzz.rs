//! Property tests of the state file loader (cargo-fuzz needs a nightly
//! compiler; proptest runs on stable): arbitrary bytes and structured
//! mutations of valid files never panic, always end in a clear problem or a
//! valid file, and a loaded file written out again loads equal. The
//! incremental reader ([`Snapshot::parse`]) must agree with the full check
//! ([`schema::parse_validated`]) on every input.
//!
//! 256 cases per property in a normal run; `PROPTEST_CASES=N` runs N.

use proptest::prelude::*;
use serde_json::Value;

use super::format::Snapshot;
use super::record::{
    Action, BundleSource, ChartInfo, ExecutionStateRecord, OciSource, Outcome, RecordCluster,
    RecordError, RecordSource, StorageDriver,
};
use super::schema;
use super::time::Timestamp;
use crate::error::ErrorKind;

fn record() -> impl Strategy<Value = ExecutionStateRecord> {
    let who = (
        prop::sample::select(vec!["hello", "web", "api.v2", "a"]),
        prop::sample::select(vec!["demo", "prod", "x-1"]),
        prop_oneof![
            Just(None),
            Just(Some(RecordCluster::rehearsal())),
            (
                prop::sample::select(vec!["https://10.0.0.1:6443", "https://k.example"]),
                proptest::option::of("sha256:[0-9a-f]{8}"),
            )
                .prop_map(|(server, ca)| Some(RecordCluster::new(server, ca.as_deref()))),
        ],
        prop::sample::select(vec![
            Action::Install,
            Action::Upgrade,
            Action::Rollback,
            Action::Uninstall,
        ]),
    );
    let what = (
        proptest::option::of(prop_oneof![
            ("[a-z]{1,8}", proptest::option::of("[0-9a-f]{64}")).prop_map(|(name, digest)| {
                RecordSource::Oci(OciSource {
                    reference: format!("oci://r.example/charts/{name}"),
                    requested_version: Some("^1".into()),
                    resolved_version: Some("1.2.3".into()),
                    manifest_digest: digest.clone().map(|d| format!("sha256:{d}")),
                    chart_digest: digest.map(|d| format!("sha256:{d}")),
                })
            }),
            ".{1,40}".prop_map(|path| RecordSource::Bundle(BundleSource {
                path,
                content_digest: None,
            })),
        ]),
        proptest::option::of(("[a-z]{1,8}", "[0-9]\\.[0-9]").prop_map(|(name, version)| {
            ChartInfo {
                name,
                version,
                app_version: None,
            }
        })),
        proptest::option::of(1u32..1000),
        proptest::option::of("(deployed|failed|pending-upgrade|superseded)"),
        proptest::option::of("[0-9a-f]{64}"),
    );
    let how = (
        proptest::option::of(".{0,20}"),
        0i64..4_000_000_000_000,
        0u64..100_000,
        proptest::option::of(".{0,60}"),
        "[a-z]{1,8}",
    );
    (who, what, how).prop_map(
        |(
            (release, namespace, cluster, action),
            (source, chart, revision, status, values),
            (context, start, duration, error, operator),
        )| {
            let mut r = ExecutionStateRecord::new(action, release, namespace);
            r.driver = cluster.as_ref().map(|c| match c.is_rehearsal() {
                true => StorageDriver::Memory,
                false => StorageDriver::Secret,
            });
            r.cluster = cluster;
            r.source = source;
            r.chart = chart;
            r.helm_revision = revision;
            r.helm_status = status.map(crate::HelmStatus::from);
            r.values_digest = values.map(|v| format!("sha256:{v}"));
            r.kube_context = context;
            r.started_at = Timestamp::from_unix_millis(start);
            r.finished_at = Timestamp::from_unix_millis(start + duration as i64);
            r.duration_ms = duration;
            r.operator = operator;
            if let Some(message) = error {
                r.outcome = Outcome::Failed;
                r.error = Some(RecordError {
                    kind: ErrorKind::Cancelled,
                    message,
                });
            }
            r
        },
    )
}

/// A valid file as chainctl writes it, and the snapshot it came from.
fn valid_file() -> impl Strategy<Value = (Vec<u8>, Snapshot)> {
    (prop::collection::vec(record(), 0..8), 1usize..5).prop_map(|(records, limit)| {
        let mut snapshot = Snapshot::default();
        for r in records {
            snapshot.apply(r, limit);
        }
        (snapshot.to_bytes(), snapshot)
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    json_value_with_keys(".{0,8}".boxed())
}

/// Any JSON value, small and shallow, with object keys drawn from `keys`
/// (the reply decoder's tests draw its envelope's field names).
pub(crate) fn json_value_with_keys(keys: BoxedStrategy<String>) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// One change to a file's text or to its JSON.
#[derive(Debug, Clone)]
enum Mutation {
    FlipByte(usize, u8),
    Truncate(usize),
    Insert(usize, String),
    Replace(Vec<usize>, Value),
    Remove(Vec<usize>),
    Duplicate(Vec<usize>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let path = prop::collection::vec(any::<usize>(), 0..8);
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::FlipByte(at, byte)),
        any::<usize>().prop_map(Mutation::Truncate),
        (
            any::<usize>(),
            prop_oneof![
                Just("{".to_string()),
                Just("}".to_string()),
                Just(",".to_string()),
                Just("\"".to_string()),
                Just("null".to_string()),
                Just("\\u0000".to_string()),
                ".{0,4}"
            ]
        )
            .prop_map(|(at, text)| Mutation::Insert(at, text)),
        (path.clone(), json_value()).prop_map(|(path, value)| Mutation::Replace(path, value)),
        path.clone().prop_map(Mutation::Remove),
        path.prop_map(Mutation::Duplicate),
    ]
}

/// The value at a path of child indices (each taken modulo the number of
/// children), stopping at a leaf; the key it is under, for an object member.
fn walk<'v>(value: &'v mut Value, path: &[usize]) -> (&'v mut Value, Option<String>) {
    let mut at = value;
    let mut key = None;
    for &i in path {
        let has_children = match &*at {
            Value::Array(items) => !items.is_empty(),
            Value::Object(map) => !map.is_empty(),
            _ => false,
        };
        if !has_children {
            break;
        }
        at = match at {
            Value::Array(items) => {
                let n = items.len();
                key = None;
                &mut items[i % n]
            }
            Value::Object(map) => {
                let name = map.keys().nth(i % map.len()).cloned().unwrap_or_default();
                key = Some(name.clone());
                map.get_mut(&name).expect("the key was just read")
            }
            _ => unreachable!("checked above"),
        };
    }
    (at, key)
}

fn mutate(bytes: &[u8], mutation: &Mutation) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let at = |i: usize| i % (bytes.len() + 1);
    match mutation {
        Mutation::FlipByte(i, b) if !out.is_empty() => {
            let n = out.len();
            out[i % n] ^= b | 1;
        }
        Mutation::FlipByte(..) => {}
        Mutation::Truncate(i) => out.truncate(at(*i)),
        Mutation::Insert(i, text) => {
            out.splice(at(*i)..at(*i), text.bytes());
        }
        Mutation::Replace(path, new) => {
            let mut doc: Value = serde_json::from_slice(bytes).expect("a valid file is JSON");
            *walk(&mut doc, path).0 = new.clone();
            out = serde_json::to_vec(&doc).expect("a value serializes");
        }
        Mutation::Remove(path) => {
            let mut doc: Value = serde_json::from_slice(bytes).expect("a valid file is JSON");
            let (parent, _) = walk(&mut doc, &path[..path.len().saturating_sub(1)]);
            let last = path.last().copied().unwrap_or_default();
            match parent {
                Value::Object(map) if !map.is_empty() => {
                    let name = map
                        .keys()
                        .nth(last % map.len())
                        .cloned()
                        .unwrap_or_default();
                    map.remove(&name);
                }
                Value::Array(items) if !items.is_empty() => {
                    let n = items.len();
                    items.remove(last % n);
                }
                _ => {}
            }
            out = serde_json::to_vec(&doc).expect("a value serializes");
        }
        Mutation::Duplicate(path) => {
            // A member given twice, which a JSON value would hide.
            let mut doc: Value = serde_json::from_slice(bytes).expect("a valid file is JSON");
            let (value, key) = walk(&mut doc, path);
            if let Some(key) = key {
                let member = format!(
                    "{}:{}",
                    serde_json::to_string(&key).expect("a key serializes"),
                    value
                );
                let text = doc.to_string();
                if let Some(found) = text.find(&member) {
                    let mut twice = text.clone();
                    twice.insert_str(found, &format!("{member},"));
                    out = twice.into_bytes();
                }
            }
        }
    }
    out
}

/// What every input must give: no panic (proptest reports one as a
/// failure), the same verdict from the incremental reader with and without
/// what it knew and from the full check, a problem that says something, and
/// for a file that loads, text that loads again as the same state.
fn check_loader(bytes: &[u8], known: Option<Snapshot>) -> Result<(), TestCaseError> {
    let full = schema::parse_validated(bytes);
    let fresh = Snapshot::parse(bytes, None);
    let incremental = Snapshot::parse(bytes, known);
    match (&full, &fresh, &incremental) {
        (Ok(state), Ok(a), Ok(b)) => {
            prop_assert_eq!(state, a.state());
            prop_assert_eq!(state, b.state());
            let again = Snapshot::parse(&a.to_bytes(), None);
            prop_assert!(again.is_ok(), "{:?}", again.err().map(|p| p.to_string()));
            let again = again.unwrap();
            prop_assert_eq!(again.state(), state);
        }
        (Err(p), Err(q), Err(r)) => {
            for problem in [p, q, r] {
                prop_assert!(!problem.to_string().is_empty());
            }
            prop_assert_eq!(q.to_string(), r.to_string());
        }
        _ => prop_assert!(
            false,
            "the readers disagree: full {:?}, fresh {:?}, incremental {:?}",
            full.as_ref().map(|_| ()).map_err(|p| p.to_string()),
            fresh.as_ref().map(|_| ()).map_err(|p| p.to_string()),
            incremental.as_ref().map(|_| ()).map_err(|p| p.to_string())
        ),
    }
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_bytes_are_a_problem_or_a_file(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_loader(&bytes, None)?;
    }

    #[test]
    fn arbitrary_text_after_a_valid_prefix_is_a_problem_or_a_file(
        tail in "[\\[\\]{}\":,0-9a-z. \\\\-]{0,200}"
    ) {
        let text = format!("{{\"schemaVersion\": 3, \"releases\": {tail}");
        check_loader(text.as_bytes(), None)?;
    }

    #[test]
    fn valid_files_load_as_written((bytes, snapshot) in valid_file()) {
        let loaded = Snapshot::parse(&bytes, None);
        prop_assert!(loaded.is_ok(), "{:?}", loaded.err().map(|p| p.to_string()));
        let loaded = loaded.unwrap();
        prop_assert_eq!(loaded.state(), snapshot.state());
        prop_assert_eq!(loaded.to_bytes(), bytes.clone());
        check_loader(&bytes, Some(snapshot))?;
    }

    #[test]
    fn mutated_valid_files_are_a_problem_or_a_file(
        (bytes, snapshot) in valid_file(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut mutated = bytes;
        for m in &mutations {
            // JSON-level mutations need JSON: after a textual one, skip them.
            let is_json = serde_json::from_slice::<Value>(&mutated).is_ok();
            if is_json || matches!(m, Mutation::FlipByte(..) | Mutation::Truncate(_) | Mutation::Insert(..)) {
                mutated = mutate(&mutated, m);
            }
        }
        check_loader(&mutated, Some(snapshot))?;
    }
}
