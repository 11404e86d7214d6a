//! Helm values as the user gave them: `-f` files (paths, URLs, standard
//! input), maps from the library API, and the five `--set*` forms.
//!
//! Nothing here interprets them. Their meaning (YAML 1.1 files, the `--set`
//! grammar, number types, merge order) is Helm's: the shim hands them to
//! Helm's own `values.Options.MergeValues`, so chainctl deploys what helm
//! deploys for the same flags. Rust only reads standard input and `-f`
//! pipes (`-f <(command)`), once, so that a plan and the action that follows
//! it see the same values.
//!
//! Every input is bounded ([`DEFAULT_VALUES_SIZE_LIMIT`] unless the release
//! options say otherwise): standard input here, while it is read; files,
//! `--set-file` files and URLs in the shim, which also refuses what is
//! neither a regular file nor a pipe (a device such as `/dev/zero`, a
//! directory, a socket) without blocking on it, and reads a pipe (a FIFO,
//! helm's `-f <(command)`) within the call's deadline.

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The default bound on one values input (a `-f` file, standard input, a
/// `--set-file` file, a values URL, a map or YAML text): 16 MiB.
///
/// That is three times the largest file Helm loads from a chart (5 MiB),
/// and far more than a release can hold: Helm stores each release,
/// values included, in one Secret, and the API server takes at most about
/// 1 MiB. Change it with
/// [`ReleaseOptionsBuilder::values_size_limit`](crate::ReleaseOptionsBuilder::values_size_limit).
///
/// ```
/// assert_eq!(chainctl_core::DEFAULT_VALUES_SIZE_LIMIT, 16 * 1024 * 1024);
/// ```
pub const DEFAULT_VALUES_SIZE_LIMIT: u64 = 16 << 20;

/// One `-f` input, in the order given.
#[derive(Debug, Clone)]
enum ValuesFile {
    /// A path or URL that Helm reads itself (`-f values.yaml`, `-f https://…`).
    Path(String),
    /// Content already in memory (standard input, a map, YAML text), with
    /// the name Helm's messages use for it.
    Inline { name: String, content: Arc<[u8]> },
}

/// Every value input of a release, unmerged.
#[derive(Debug, Clone)]
pub(crate) struct ValueInputs {
    files: Vec<ValuesFile>,
    set: Vec<String>,
    set_string: Vec<String>,
    set_file: Vec<String>,
    set_json: Vec<String>,
    set_literal: Vec<String>,
    maps: usize,
    size_limit: u64,
}

impl Default for ValueInputs {
    fn default() -> Self {
        ValueInputs {
            files: Vec::new(),
            set: Vec::new(),
            set_string: Vec::new(),
            set_file: Vec::new(),
            set_json: Vec::new(),
            set_literal: Vec::new(),
            maps: 0,
            size_limit: DEFAULT_VALUES_SIZE_LIMIT,
        }
    }
}

/// `bytes` as a person reads a size limit: `16 MiB`, `64 KiB`, `1000 bytes`
/// (the shim words its refusals the same way).
pub(crate) fn format_size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

/// The five `--set` flags of helm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SetKind {
    Set,
    String,
    File,
    Json,
    Literal,
}

impl ValueInputs {
    /// A `-f` argument as helm takes it: `-` (after trimming) is standard
    /// input, anything else a path or URL read by Helm.
    pub(crate) fn add_file(&mut self, path: &Path) -> Result<()> {
        let Some(text) = path.to_str() else {
            return Err(Error::invalid(format!(
                "values file {} has a name that is not UTF-8, which Helm cannot read: rename it",
                path.display()
            )));
        };
        self.files.push(if text.trim() == "-" {
            // Read when the options are built (see read_stdin).
            ValuesFile::Inline {
                name: "-".into(),
                content: Arc::from(Vec::new()),
            }
        } else {
            ValuesFile::Path(text.to_owned())
        });
        Ok(())
    }

    /// YAML (or JSON) text held in memory, merged like a values file.
    pub(crate) fn add_yaml(&mut self, name: String, content: Vec<u8>) {
        self.files.push(ValuesFile::Inline {
            name,
            content: Arc::from(content),
        });
    }

    /// A map of values, merged like a values file holding it.
    pub(crate) fn add_map(&mut self, values: &Map<String, Value>) {
        self.maps += 1;
        let content = serde_json::to_vec(values).expect("a JSON map serializes");
        self.add_yaml(format!("values map {}", self.maps), content);
    }

    pub(crate) fn add_set(&mut self, kind: SetKind, expr: String) {
        match kind {
            SetKind::Set => self.set.push(expr),
            SetKind::String => self.set_string.push(expr),
            SetKind::File => self.set_file.push(expr),
            SetKind::Json => self.set_json.push(expr),
            SetKind::Literal => self.set_literal.push(expr),
        }
    }

    /// The bound on each values input (see [`DEFAULT_VALUES_SIZE_LIMIT`]).
    pub(crate) fn set_size_limit(&mut self, bytes: u64) {
        self.size_limit = bytes;
    }

    pub(crate) fn size_limit(&self) -> u64 {
        self.size_limit
    }

    /// The paths and URLs of the `-f` inputs Helm reads itself.
    pub(crate) fn file_paths(&self) -> impl Iterator<Item = &str> {
        self.files.iter().filter_map(|f| match f {
            ValuesFile::Path(p) => Some(p.as_str()),
            ValuesFile::Inline { .. } => None,
        })
    }

    /// Reads standard input for the first `-f -`, as helm does; a second
    /// `-f -` finds it already read (empty), as with helm.
    pub(crate) fn read_stdin(&mut self) -> Result<()> {
        self.read_first_dash(&mut std::io::stdin().lock())
    }

    /// Reads `input` for the first `-f -`, at most the size limit: one byte
    /// more is an error, and nothing past it is read.
    fn read_first_dash(&mut self, input: &mut impl Read) -> Result<()> {
        let limit = self.size_limit;
        let mut first = true;
        for file in &mut self.files {
            if let ValuesFile::Inline { name, content } = file
                && name == "-"
                && first
            {
                first = false;
                let mut buf = Vec::new();
                input
                    .take(limit.saturating_add(1))
                    .read_to_end(&mut buf)
                    .map_err(|err| {
                        Error::invalid(format!(
                            "values from standard input (-f -) cannot be read: {err}"
                        ))
                    })?;
                if buf.len() as u64 > limit {
                    return Err(Error::invalid(format!(
                        "values from standard input (-f -) are larger than {}, the limit for \
                         one values input: give smaller values (a library caller can raise the \
                         limit with ReleaseOptionsBuilder::values_size_limit)",
                        format_size(limit)
                    )));
                }
                *content = Arc::from(buf);
            }
        }
        Ok(())
    }

    /// Reads each `-f` that is a pipe (helm's `-f <(command)`, a named
    /// pipe) now, once, as standard input is, so that a plan and the action
    /// after it see the same values: a pipe read a second time would be
    /// empty. Bounded by the size limit and by `within` (the action's
    /// timeout); Helm still parses what was read, under the file's name.
    pub(crate) fn read_pipes(&mut self, within: Duration) -> Result<()> {
        let limit = self.size_limit;
        for file in &mut self.files {
            let ValuesFile::Path(path) = file else {
                continue;
            };
            let is_pipe = std::fs::metadata(&*path).is_ok_and(|m| m.file_type().is_fifo());
            if !is_pipe {
                // Files, URLs and what is neither are the shim's to read
                // or refuse.
                continue;
            }
            let content = read_pipe(Path::new(&*path), limit, within)?;
            *file = ValuesFile::Inline {
                name: std::mem::take(path),
                content: Arc::from(content),
            };
        }
        Ok(())
    }

    /// What the shim's `valuesRequest` reads.
    pub(crate) fn to_wire(&self) -> crate::wire::ValuesRequest {
        crate::wire::ValuesRequest {
            files: self
                .files
                .iter()
                .map(|f| match f {
                    ValuesFile::Path(path) => crate::wire::ValuesFile {
                        path: Some(path.clone()),
                        name: None,
                        content: None,
                    },
                    ValuesFile::Inline { name, content } => crate::wire::ValuesFile {
                        path: None,
                        name: Some(name.clone()),
                        content: Some(base64::engine::general_purpose::STANDARD.encode(content)),
                    },
                })
                .collect(),
            set: self.set.clone(),
            set_string: self.set_string.clone(),
            set_file: self.set_file.clone(),
            set_json: self.set_json.clone(),
            set_literal: self.set_literal.clone(),
            // Left out at the default, which the shim applies when it is
            // absent. Go reads an int64; no input comes near that.
            max_file_bytes: (self.size_limit != DEFAULT_VALUES_SIZE_LIMIT)
                .then(|| self.size_limit.min(i64::MAX as u64)),
        }
    }
}

/// Waits at most `within` for `fd` to be readable or hung up: `Ok(false)`
/// when the time passed first.
fn poll_readable(fd: std::os::fd::BorrowedFd<'_>, within: Duration) -> rustix::io::Result<bool> {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    // A wait too long for a timespec is as good as forever.
    let timeout = Timespec::try_from(within).ok();
    Ok(rustix::event::poll(&mut fds, timeout.as_ref())? > 0)
}

/// Reads a pipe to its end: at most `limit` bytes (one more is an error),
/// within `within`, never blocking past it. Opened non-blocking, so a
/// named pipe that no writer opens does not block the open; each read
/// waits in poll(2), which on a named pipe waits for a writer too.
fn read_pipe(path: &Path, limit: u64, within: Duration) -> Result<Vec<u8>> {
    let name = path.display();
    let mut pipe = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|err| Error::invalid(format!("values file {name} cannot be opened: {err}")))?;
    let deadline = Instant::now() + within;
    let mut content = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    let mut heard = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ready = match poll_readable(pipe.as_fd(), left) {
            Ok(ready) => ready,
            Err(rustix::io::Errno::INTR) => continue,
            Err(err) => {
                return Err(Error::invalid(format!(
                    "values file {name} cannot be read: {err}"
                )));
            }
        };
        if !ready {
            let got = content.len();
            return Err(Error::invalid(if heard || got > 0 {
                format!(
                    "values file {name} is a pipe whose writer stalled after {got} bytes: \
                     nothing more came within {}; check the command writing it",
                    describe(within)
                )
            } else {
                format!(
                    "values file {name} is a named pipe (FIFO) that no writer opened within {} \
                     (or whose writer sent nothing): start the writer, or give the values as a file",
                    describe(within)
                )
            }));
        }
        heard = true;
        match pipe.read(&mut chunk) {
            Ok(0) => return Ok(content),
            Ok(n) => {
                content.extend_from_slice(&chunk[..n]);
                if content.len() as u64 > limit {
                    return Err(Error::invalid(format!(
                        "values file {name} is larger than {}, the limit for one values input: \
                         give smaller values (a library caller can raise the limit with \
                         ReleaseOptionsBuilder::values_size_limit)",
                        format_size(limit)
                    )));
                }
            }
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) => {}
            Err(err) => {
                return Err(Error::invalid(format!(
                    "values file {name} cannot be read: {err}"
                )));
            }
        }
    }
}

/// A duration as a person reads it: `2s`, `1.5s`, `5m`.
fn describe(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if d.as_secs() >= 60 && d.as_secs().is_multiple_of(60) && d.subsec_nanos() == 0 {
        format!("{}m", d.as_secs() / 60)
    } else {
        format!("{secs}s")
    }
}

/// Values merged by Helm, as [`Client::merge_values`](crate::Client::merge_values)
/// returns them.
///
/// `values` is the merged map as JSON, for showing; Helm's own types
/// (`int64` from `--set`, `float64` from files) are kept inside the shim,
/// which deploys them, and do not survive JSON. They may hold secrets: do
/// not log or record them.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[non_exhaustive]
pub struct MergedValues {
    /// The user-supplied values after merging (the chart's defaults are not
    /// included).
    pub values: Map<String, Value>,
    /// `hmac-sha256:` digest of the merged values under the client's
    /// [`ValuesKey`](crate::state::ValuesKey): equal values, equal digest,
    /// under one key. It is what the state file records.
    pub digest: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wire_keeps_order_and_kinds_apart() {
        let mut inputs = ValueInputs::default();
        inputs.add_file(Path::new("a.yaml")).unwrap();
        let Value::Object(map) = json!({"x": 1}) else {
            unreachable!()
        };
        inputs.add_map(&map);
        inputs
            .add_file(Path::new("https://example.test/v.yaml"))
            .unwrap();
        inputs.add_set(SetKind::Set, "a=1".into());
        inputs.add_set(SetKind::Json, "b={}".into());
        inputs.add_set(SetKind::Literal, "c=d,e".into());
        assert_eq!(
            serde_json::to_value(inputs.to_wire()).unwrap(),
            json!({
                "files": [
                    {"path": "a.yaml"},
                    {"name": "values map 1", "content": "eyJ4IjoxfQ=="},
                    {"path": "https://example.test/v.yaml"}
                ],
                "set": ["a=1"],
                "setJson": ["b={}"],
                "setLiteral": ["c=d,e"]
            })
        );
        assert_eq!(
            inputs.file_paths().collect::<Vec<_>>(),
            ["a.yaml", "https://example.test/v.yaml"]
        );
    }

    #[test]
    fn dash_is_standard_input_as_with_helm() {
        let mut inputs = ValueInputs::default();
        inputs.add_file(Path::new(" - ")).unwrap();
        assert_eq!(inputs.file_paths().count(), 0);
        let wire = serde_json::to_value(inputs.to_wire()).unwrap();
        assert_eq!(wire["files"][0]["name"], "-");
    }

    #[test]
    fn standard_input_is_read_up_to_the_limit_and_no_further() {
        let mut inputs = ValueInputs::default();
        inputs.set_size_limit(4);
        inputs.add_file(Path::new("-")).unwrap();
        inputs.add_file(Path::new("-")).unwrap();
        inputs.read_first_dash(&mut &b"a: 1"[..]).unwrap();
        let wire = serde_json::to_value(inputs.to_wire()).unwrap();
        assert_eq!(wire["files"][0]["content"], "YTogMQ==");
        assert_eq!(
            wire["files"][1]["content"], "",
            "a second -f - finds it read"
        );
        assert_eq!(wire["maxFileBytes"], 4);

        // An endless input is refused after limit + 1 bytes.
        let mut inputs = ValueInputs::default();
        inputs.set_size_limit(1024);
        inputs.add_file(Path::new("-")).unwrap();
        let mut endless = std::io::repeat(b'x');
        let err = inputs.read_first_dash(&mut endless).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidInput);
        assert!(
            err.to_string()
                .contains("standard input (-f -) are larger than 1 KiB"),
            "{err}"
        );
    }

    #[test]
    fn sizes_read_as_a_person_writes_them() {
        assert_eq!(format_size(DEFAULT_VALUES_SIZE_LIMIT), "16 MiB");
        assert_eq!(format_size(64 << 10), "64 KiB");
        assert_eq!(format_size(1000), "1000 bytes");
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_paths_are_refused_with_a_reason() {
        use std::os::unix::ffi::OsStrExt;
        let path = Path::new(std::ffi::OsStr::from_bytes(b"v\xff.yaml"));
        let err = ValueInputs::default().add_file(path).unwrap_err();
        assert!(err.to_string().contains("not UTF-8"), "{err}");
    }
}
