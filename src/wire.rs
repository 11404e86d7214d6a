//! The wire protocol of the Go shim: one request and one reply type per
//! operation, tied to the operation's name by [`Op`], and the reply
//! envelope with its typed error. [`crate::bridge::call`] takes an `Op`;
//! nothing else builds a request or reads a reply.
//!
//! The Go side's types are in `go-shim/wire.go`. The golden files in
//! `go-shim/testdata/wire/` (one per operation: `{"request": ..., "reply":
//! ...}`) are read by the tests of both sides, so a field renamed on one
//! side only fails a test. Durations cross as integer milliseconds
//! (`timeoutMs`).

use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::ErrorKind;
use crate::registry::RegistryOptions;
use crate::report::{ActionReport, ChartInfo, ReleaseInfo, ShimVersion, UninstallReport};

/// A shim operation: its name and its request and reply types.
pub(crate) trait Op {
    /// The name in the shim's `ops` map.
    const NAME: &'static str;
    /// What the operation takes.
    type Request: Serialize;
    /// What it returns on success.
    type Reply: DeserializeOwned;
}

macro_rules! ops {
    ($($(#[$doc:meta])* $op:ident = $name:literal: $req:ty => $rep:ty;)*) => {
        $(
            $(#[$doc])*
            // Not every operation is called by the crate: debug.* are run by
            // name through `diagnostic_call`, registry.push and chart.package
            // serve the shim's own tests. Their types pin the protocol all
            // the same (the golden test).
            #[allow(dead_code)]
            pub(crate) enum $op {}
            impl Op for $op {
                const NAME: &'static str = $name;
                type Request = $req;
                type Reply = $rep;
            }
        )*
        /// Every operation's name, for the golden test.
        #[cfg(test)]
        const NAMES: &[&str] = &[$($name),*];
        #[cfg(test)]
        #[test]
        fn every_op_matches_its_golden_file() {
            $(tests::check::<$op>();)*
        }
    };
}

ops! {
    /// The shim's ABI, Helm and Go versions.
    Version = "version": Empty => ShimVersion;
    /// Returns its request (any JSON).
    DebugEcho = "debug.echo": serde_json::Value => serde_json::Value;
    /// Panics in Go, to prove the panic is recovered.
    DebugPanic = "debug.panic": Empty => Empty;
    /// Sleeps, honouring deadlines and cancellation.
    DebugSleep = "debug.sleep": SleepRequest => SleepReply;
    /// Logs through Go's logger and klog.
    DebugLog = "debug.log": DebugLogRequest => Empty;
    /// Sets the Go collector's target percent (`debug.SetGCPercent`).
    RuntimeGcPercent = "runtime.gcPercent": GcPercentRequest => GcPercentReply;
    /// `helm template`.
    ReleaseRender = "release.render": ChartRequest => ActionReport;
    /// `helm install`.
    ReleaseInstall = "release.install": ChartRequest => ActionReport;
    /// `helm upgrade`.
    ReleaseUpgrade = "release.upgrade": ChartRequest => ActionReport;
    /// `helm status`.
    ReleaseStatus = "release.status": StatusRequest => ReleaseInfo;
    /// `helm history`.
    ReleaseHistory = "release.history": HistoryRequest => Vec<ReleaseInfo>;
    /// `helm rollback`.
    ReleaseRollback = "release.rollback": RollbackRequest => ReleaseInfo;
    /// `helm uninstall`.
    ReleaseUninstall = "release.uninstall": UninstallRequest => UninstallReport;
    /// `helm list`.
    ReleaseList = "release.list": ListRequest => Vec<ReleaseInfo>;
    /// `helm get values`.
    ReleaseValues = "release.values": GetValuesRequest => crate::client::ReleaseValues;
    /// A repository's chart versions, and the one matching a constraint.
    RegistryTags = "registry.tags": TagsRequest => TagsReply;
    /// A tag's manifest digest.
    RegistryResolve = "registry.resolve": RegistryRef => ResolveReply;
    /// Downloads a chart archive.
    RegistryPull = "registry.pull": PullRequest => PullReply;
    /// Uploads a chart archive.
    RegistryPush = "registry.push": PushRequest => PushReply;
    /// `helm registry login`.
    RegistryLogin = "registry.login": RegistryRef => CredentialsReply;
    /// `helm registry logout`.
    RegistryLogout = "registry.logout": RegistryRef => CredentialsReply;
    /// `helm package`.
    ChartPackage = "chart.package": PackageRequest => PackageReply;
    /// The digest of what Helm loads of a chart.
    ChartDigest = "chart.digest": ChartPath => DigestReply;
    /// Merges values as Helm does.
    ValuesMerge = "values.merge": ValuesRequest => crate::values::MergedValues;
    /// Redacts the data of the Secrets in manifests.
    SecretsRedact = "secrets.redact": Manifests => Manifests;
    /// What the kubeconfig selects.
    KubeResolve = "kube.resolve": KubeResolveRequest => crate::client::ResolvedKube;
}

// ---- the envelope -------------------------------------------------------

/// Every reply: `ok` with the result, or the error.
#[derive(Deserialize)]
pub(crate) struct ReplyEnvelope {
    pub(crate) ok: bool,
    #[serde(default)]
    pub(crate) result: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) error: Option<ReplyError>,
}

/// A failed call, as the shim reports it: the kind, the code and details
/// of the fact when the shim knows it, a message for people, and the facts
/// the operation knew (see [`ActionFacts`]).
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(Serialize, PartialEq))]
pub(crate) struct ReplyError {
    pub(crate) kind: ErrorKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) code: Option<ErrorCode>,
    pub(crate) message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) details: Option<ErrorDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) facts: Option<serde_json::Value>,
}

/// The facts more precise than a kind that the shim reports (its `code*`
/// constants); a code this crate does not know yet reads as `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "snake_case")]
pub(crate) enum ErrorCode {
    ReleaseNotFound,
    NoDeployedRelease,
    RevisionNotFound,
    ChartNotFound,
    VersionNotFound,
    Forbidden,
    Unauthorized,
    RegistryAuth,
    ReleasePending,
    LoginNeedsCredentials,
    ChartTooLarge,
    TlsVerify,
    PlainHttp,
    InvalidOption,
    #[serde(other)]
    Other,
}

/// The structured facts of an error; which are set depends on its code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ErrorDetails {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) release: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) namespace: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) revision: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) reference: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) host: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) verb: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) resource: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) ca_file: String,
    #[serde(skip_serializing_if = "is_zero64")]
    pub(crate) limit: u64,
    /// Which input an `invalid_option` is about ([`Input`](crate::Input)'s
    /// wire name).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) input: String,
}

/// A duration on the wire: whole milliseconds, rounded up (so that a
/// positive duration never reads as none, and a timeout is never cut).
pub(crate) fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

#[cfg_attr(not(test), allow(dead_code))] // ErrorDetails serializes in tests only
fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[cfg_attr(not(test), allow(dead_code))]
fn is_zero64(n: &u64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The facts a failed chart action's reply carries.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ActionFacts {
    pub(crate) release: Option<ReleaseInfo>,
    #[serde(default)]
    pub(crate) installed: bool,
    pub(crate) values_digest: Option<String>,
}

// ---- requests and replies -----------------------------------------------

/// `{}`, as a request or a reply.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Empty {}

#[derive(Debug, PartialEq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
pub(crate) struct GcPercentRequest {
    pub(crate) percent: i32,
}

#[derive(Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
pub(crate) struct GcPercentReply {
    pub(crate) previous: i32,
}

#[allow(dead_code)] // see the ops! note: used by name or by the shim's tests
#[derive(Debug, PartialEq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
pub(crate) struct SleepRequest {
    pub(crate) millis: u64,
}

#[allow(dead_code)] // see the ops! note: used by name or by the shim's tests
#[derive(Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
pub(crate) struct SleepReply {
    pub(crate) slept: u64,
}

#[allow(dead_code)] // see the ops! note: used by name or by the shim's tests
#[derive(Debug, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "camelCase")]
pub(crate) struct DebugLogRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stdlib: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) klog_info: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) klog_warning: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) klog_error: Option<String>,
}

/// Which cluster and storage calls go to, as sent to the shim: helm's kube
/// flags, resolved by the client (the shim reads no environment).
#[derive(Clone, Default, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "camelCase")]
pub(crate) struct KubeTarget {
    #[serde(flatten)]
    pub(crate) settings: KubeSettings,
    /// Helm's release driver: `secret`, `configmap` or `memory`.
    pub(crate) storage: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) memory_store: Option<String>,
}

// The token is a credential: never in Debug output.
impl std::fmt::Debug for KubeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.settings;
        f.debug_struct("KubeTarget")
            .field("kubeconfig", &s.kubeconfig)
            .field("kubeconfig_paths", &s.kubeconfig_paths)
            .field("context", &s.context)
            .field("token", &s.overrides.token.as_ref().map(|_| "<redacted>"))
            .field("api_server", &s.overrides.api_server)
            .field("storage", &self.storage)
            .finish_non_exhaustive()
    }
}

/// helm's kube flags: the kubeconfig, its context, the overrides.
#[derive(Clone, Default, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "camelCase")]
pub(crate) struct KubeSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) kubeconfig: Option<PathBuf>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub(crate) kubeconfig_paths: Vec<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) context: Option<String>,
    #[serde(flatten)]
    pub(crate) overrides: KubeOverrides,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cache_dir: Option<PathBuf>,
}

/// helm's `--kube-*`, `--burst-limit` and `--qps` flags.
#[derive(Clone, Default, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "camelCase")]
pub(crate) struct KubeOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) as_user: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub(crate) as_groups: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) api_server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ca_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub(crate) insecure_skip_tls_verify: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tls_server_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) burst_limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) qps: Option<f32>,
}

/// kube.resolve's request: the kube settings, with the namespace asked for.
#[derive(Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "camelCase")]
pub(crate) struct KubeResolveRequest {
    #[serde(flatten)]
    pub(crate) settings: KubeSettings,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) namespace: Option<String>,
}

/// A chart on disk (a directory or an archive).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
pub(crate) struct ChartPath {
    pub(crate) path: PathBuf,
}

/// The request of release.render, release.install and release.upgrade.
#[derive(Serialize)]
#[cfg_attr(test, derive(Deserialize))]
pub(crate) struct ChartRequest {
    pub(crate) kube: KubeTarget,
    pub(crate) chart: ChartPath,
    pub(crate) options: ChartOptions,
}

/// [`ReleaseOptions`](crate::ReleaseOptions) on the wire.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChartOptions {
    pub(crate) release: String,
    pub(crate) namespace: String,
    pub(crate) values: ValuesRequest,
    pub(crate) create_namespace: bool,
    pub(crate) dry_run: String,
    pub(crate) wait: bool,
    pub(crate) timeout_ms: u64,
    pub(crate) atomic: bool,
    pub(crate) install_if_missing: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    pub(crate) reuse_values: bool,
    pub(crate) reset_values: bool,
    #[serde(flatten)]
    pub(crate) flags: crate::release::DeployFlags,
    #[serde(flatten)]
    pub(crate) helm4: Helm4Options,
}

/// What only Helm 4 has (the shim's `helm4Options`), on chart requests and
/// rollbacks. Each is left out when unset, the backend's default, so that a
/// request that sets none is what it was before Helm 4 existed; the Helm 3
/// backend refuses any value that asks for what Helm 3 does not do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "camelCase")]
pub(crate) struct Helm4Options {
    /// `"true"`, `"false"` or `"auto"`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) server_side: Option<crate::release::ServerSide>,
    #[serde(skip_serializing_if = "is_false", default)]
    pub(crate) force_conflicts: bool,
    /// `"watcher"`, `"hookOnly"` or `"legacy"`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) wait_strategy: Option<crate::release::WaitStrategy>,
}

/// Every way values are given, as helm's flags do (values.merge's request,
/// and part of every chart request).
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "camelCase")]
pub(crate) struct ValuesRequest {
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub(crate) files: Vec<ValuesFile>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub(crate) set: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub(crate) set_string: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub(crate) set_file: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub(crate) set_json: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub(crate) set_literal: Vec<String>,
    /// Left out at the default, which the shim applies when it is absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_file_bytes: Option<u64>,
}

/// One `-f` input: a path or URL Helm reads, or content already read
/// (base64), with the name messages use for it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
pub(crate) struct ValuesFile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) content: Option<String>,
}

/// Names a release on a cluster: the start of every request on one.
#[derive(Serialize)]
#[cfg_attr(test, derive(Deserialize))]
pub(crate) struct ReleaseTarget {
    pub(crate) kube: KubeTarget,
    pub(crate) release: String,
    pub(crate) namespace: String,
}

#[derive(Serialize)]
#[cfg_attr(test, derive(Deserialize))]
pub(crate) struct StatusRequest {
    #[serde(flatten)]
    pub(crate) target: ReleaseTarget,
    /// Absent: the current revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) revision: Option<u32>,
}

#[derive(Serialize)]
#[cfg_attr(test, derive(Deserialize))]
pub(crate) struct HistoryRequest {
    #[serde(flatten)]
    pub(crate) target: ReleaseTarget,
    /// Absent: every revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max: Option<u32>,
}

#[derive(Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "camelCase")]
pub(crate) struct RollbackRequest {
    #[serde(flatten)]
    pub(crate) target: ReleaseTarget,
    /// Absent: the revision before the current one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) revision: Option<u32>,
    pub(crate) wait: bool,
    pub(crate) timeout_ms: u64,
    pub(crate) force: bool,
    pub(crate) dry_run: bool,
    pub(crate) no_hooks: bool,
    pub(crate) history_max: u32,
    #[serde(flatten)]
    pub(crate) helm4: Helm4Options,
}

#[derive(Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "camelCase")]
pub(crate) struct UninstallRequest {
    #[serde(flatten)]
    pub(crate) target: ReleaseTarget,
    pub(crate) keep_history: bool,
    pub(crate) wait: bool,
    pub(crate) timeout_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    pub(crate) dry_run: bool,
    pub(crate) no_hooks: bool,
    pub(crate) ignore_not_found: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cascade: Option<String>,
    /// As in [`Helm4Options`].
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) wait_strategy: Option<crate::release::WaitStrategy>,
}

#[derive(Serialize)]
#[cfg_attr(test, derive(Deserialize))]
pub(crate) struct GetValuesRequest {
    #[serde(flatten)]
    pub(crate) target: ReleaseTarget,
    /// Absent: the current revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) revision: Option<u32>,
    #[serde(skip_serializing_if = "is_false", default)]
    pub(crate) all: bool,
}

#[derive(Serialize)]
#[cfg_attr(test, derive(Deserialize))]
pub(crate) struct ListRequest {
    pub(crate) kube: KubeTarget,
    #[serde(flatten)]
    pub(crate) options: crate::client::ListOptions,
}

/// Names a repository or artifact (`host/path/chart`, with `:tag` or
/// `@sha256:…` where the operation needs one) and how to reach its
/// registry; for login and logout, the registry host.
#[derive(Serialize)]
#[cfg_attr(test, derive(Deserialize))]
pub(crate) struct RegistryRef {
    #[serde(rename = "ref")]
    pub(crate) reference: String,
    pub(crate) registry: RegistryOptions,
}

#[derive(Serialize)]
#[cfg_attr(test, derive(Deserialize))]
pub(crate) struct TagsRequest {
    #[serde(flatten)]
    pub(crate) target: RegistryRef,
    /// An exact version or a constraint to match (`""`: the newest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<String>,
}

#[derive(Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
pub(crate) struct TagsReply {
    pub(crate) versions: Vec<String>,
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    pub(crate) matched: Option<String>,
}

#[derive(Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResolveReply {
    pub(crate) digest: String,
    pub(crate) media_type: String,
    pub(crate) size: u64,
}

#[derive(Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "camelCase")]
pub(crate) struct PullRequest {
    #[serde(flatten)]
    pub(crate) target: RegistryRef,
    /// The file the archive is written to.
    pub(crate) dest: PathBuf,
    pub(crate) max_chart_bytes: u64,
}

#[derive(Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "camelCase")]
pub(crate) struct PullReply {
    pub(crate) manifest_digest: String,
    pub(crate) chart_digest: String,
    pub(crate) chart_size: u64,
    pub(crate) chart: ChartInfo,
}

#[allow(dead_code)] // see the ops! note: used by name or by the shim's tests
#[derive(Serialize)]
#[cfg_attr(test, derive(Deserialize))]
pub(crate) struct PushRequest {
    #[serde(flatten)]
    pub(crate) target: RegistryRef,
    /// The packaged chart (`.tgz`).
    pub(crate) chart: PathBuf,
}

#[allow(dead_code)] // see the ops! note: used by name or by the shim's tests
#[derive(Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "camelCase")]
pub(crate) struct PushReply {
    #[serde(rename = "ref")]
    pub(crate) reference: String,
    pub(crate) manifest_digest: String,
    pub(crate) chart_digest: String,
}

#[derive(Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "camelCase")]
pub(crate) struct CredentialsReply {
    pub(crate) host: String,
    pub(crate) config_file: PathBuf,
}

#[allow(dead_code)] // see the ops! note: used by name or by the shim's tests
#[derive(Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "camelCase")]
pub(crate) struct PackageRequest {
    pub(crate) path: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<String>,
    pub(crate) dest_dir: PathBuf,
}

#[allow(dead_code)] // see the ops! note: used by name or by the shim's tests
#[derive(Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
pub(crate) struct PackageReply {
    pub(crate) path: PathBuf,
    pub(crate) name: String,
    pub(crate) version: String,
}

#[derive(Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
pub(crate) struct DigestReply {
    pub(crate) digest: String,
}

/// secrets.redact's request and reply: manifests, in order.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Manifests {
    pub(crate) manifests: Vec<String>,
}

#[cfg(test)]
mod tests {
    //! The golden test: for each operation, go-shim/testdata/wire/<op>.json
    //! holds a request and a reply; the request decodes into the Rust
    //! request type and encodes back to the same JSON, and the reply
    //! decodes into the Rust reply type and encodes back to the same JSON.
    //! A field renamed here and not in Go (whose test reads the same files)
    //! fails one side.

    use super::*;
    use serde_json::Value;
    use std::path::Path;

    fn golden(name: &str) -> Value {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("go-shim/testdata/wire")
            .join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("golden file {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn roundtrip<T: Serialize + DeserializeOwned>(op: &str, part: &str, want: &Value) {
        let decoded: T = serde_json::from_value(want.clone())
            .unwrap_or_else(|e| panic!("{op}: the golden {part} does not decode: {e}"));
        let encoded = serde_json::to_value(&decoded).unwrap();
        assert_eq!(
            &encoded, want,
            "{op}: the {part} encodes otherwise than the golden file says (a field renamed, dropped or added on one side?)"
        );
    }

    pub(super) fn check<O>()
    where
        O: Op,
        O::Request: DeserializeOwned,
        O::Reply: Serialize,
    {
        let g = golden(O::NAME);
        let object = g.as_object().expect("a golden file is an object");
        let mut keys: Vec<_> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["reply", "request"], "{}", O::NAME);
        roundtrip::<O::Request>(O::NAME, "request", &g["request"]);
        roundtrip::<O::Reply>(O::NAME, "reply", &g["reply"]);
    }

    #[test]
    fn every_golden_file_is_an_op_and_every_op_has_one() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("go-shim/testdata/wire");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
            .filter(|n| !n.starts_with('_'))
            .collect();
        files.sort();
        let mut names: Vec<String> = super::NAMES.iter().map(|n| n.to_string()).collect();
        names.sort();
        assert_eq!(files, names);
    }

    /// Every input the shim names in an `invalid_option` (its `input* =
    /// "..."` constants in go-shim/wire.go) is an [`Input`](crate::Input)
    /// this crate knows: one renamed on one side would read as no input.
    #[test]
    fn the_shims_inputs_are_known() {
        let go =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("go-shim/wire.go"))
                .unwrap();
        let shim: Vec<&str> = go
            .lines()
            .filter_map(|l| l.trim().strip_prefix("input"))
            .filter_map(|l| l.split_once(" = \""))
            .map(|(_, rest)| rest.trim_end_matches('"'))
            .collect();
        assert!(shim.len() >= 6, "{shim:?}");
        for input in shim {
            assert!(
                crate::Input::from_wire(input).is_some(),
                "{input} is not known to the Rust side"
            );
        }
    }

    /// Every error code the shim declares (its `code* = "..."` constants in
    /// go-shim/wire.go) is one this crate knows, and the reverse: a code
    /// renamed on one side would otherwise read as `Other`.
    #[test]
    fn the_error_codes_are_the_shims() {
        let go =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("go-shim/wire.go"))
                .unwrap();
        let mut shim: Vec<String> = go
            .lines()
            .filter_map(|l| l.trim().strip_prefix("code"))
            .filter_map(|l| l.split_once(" = \""))
            .map(|(_, rest)| rest.trim_end_matches('"').to_string())
            .collect();
        shim.sort();
        assert!(shim.len() >= 10, "{shim:?}");
        for code in &shim {
            let parsed: ErrorCode = serde_json::from_value(Value::from(code.as_str())).unwrap();
            assert_ne!(
                parsed,
                ErrorCode::Other,
                "{code} is not known to the Rust side"
            );
        }
        let mut ours: Vec<String> = KNOWN_CODES
            .iter()
            .map(|c| {
                serde_json::to_value(c)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        ours.sort();
        assert_eq!(ours, shim);
    }

    const KNOWN_CODES: [ErrorCode; 14] = [
        ErrorCode::ReleaseNotFound,
        ErrorCode::NoDeployedRelease,
        ErrorCode::RevisionNotFound,
        ErrorCode::ChartNotFound,
        ErrorCode::VersionNotFound,
        ErrorCode::Forbidden,
        ErrorCode::Unauthorized,
        ErrorCode::RegistryAuth,
        ErrorCode::ReleasePending,
        ErrorCode::LoginNeedsCredentials,
        ErrorCode::ChartTooLarge,
        ErrorCode::TlsVerify,
        ErrorCode::PlainHttp,
        ErrorCode::InvalidOption,
    ];

    /// A rollback or uninstall that sets none of Helm 4's options is the
    /// request it was before they existed: nothing for the Helm 3 backend
    /// to refuse.
    #[test]
    fn unset_helm4_options_are_left_off_the_wire() {
        let target = || ReleaseTarget {
            kube: KubeTarget::default(),
            release: "web".into(),
            namespace: "prod".into(),
        };
        let rollback = serde_json::to_value(RollbackRequest {
            target: target(),
            revision: None,
            wait: true,
            timeout_ms: 1,
            force: false,
            dry_run: false,
            no_hooks: false,
            history_max: 10,
            helm4: Helm4Options::default(),
        })
        .unwrap();
        let uninstall = serde_json::to_value(UninstallRequest {
            target: target(),
            keep_history: false,
            wait: true,
            timeout_ms: 1,
            description: None,
            dry_run: false,
            no_hooks: false,
            ignore_not_found: false,
            cascade: None,
            wait_strategy: None,
        })
        .unwrap();
        for request in [&rollback, &uninstall] {
            for key in ["serverSide", "forceConflicts", "waitStrategy"] {
                assert!(request.get(key).is_none(), "{key} in {request}");
            }
        }
        let set = serde_json::to_value(Helm4Options {
            server_side: Some(crate::ServerSide::Off),
            force_conflicts: true,
            wait_strategy: Some(crate::WaitStrategy::HookOnly),
        })
        .unwrap();
        assert_eq!(
            set,
            serde_json::json!({"serverSide": "false", "forceConflicts": true, "waitStrategy": "hookOnly"})
        );
    }

    #[test]
    fn durations_cross_as_whole_milliseconds_rounded_up() {
        use std::time::Duration;
        assert_eq!(millis(Duration::ZERO), 0);
        assert_eq!(millis(Duration::from_nanos(1)), 1);
        assert_eq!(millis(Duration::from_nanos(1_500_000)), 2);
        assert_eq!(millis(Duration::from_secs(300)), 300_000);
        assert_eq!(millis(Duration::MAX), u64::MAX);
    }

    /// The error envelope (go-shim/testdata/wire/_error.json): kind, code,
    /// details and facts, every detail set.
    #[test]
    fn the_error_reply_matches_its_golden_file() {
        let g = golden("_error");
        let envelope: ReplyEnvelope = serde_json::from_value(g.clone()).unwrap();
        assert!(!envelope.ok);
        let error = envelope.error.expect("an error");
        assert_eq!(error.code, Some(ErrorCode::Forbidden));
        assert_eq!(serde_json::to_value(&error).unwrap(), g["error"]);
        let facts: ActionFacts = serde_json::from_value(error.facts.unwrap()).unwrap();
        assert!(facts.installed && facts.release.is_some() && facts.values_digest.is_some());
    }
}
