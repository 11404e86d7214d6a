//! `chainctl`: the command line over chainctl-core.
//!
//! The binary only binds flags onto the library's option types and calls the
//! library; every behaviour here is reachable from the library API.
//!
//! Exit codes (stable):
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | Helm or the cluster failed the action (kube, internal) |
//! | 2 | bad usage or invalid input (flags, chart, values), conflicting sources |
//! | 3 | release, revision or chart not found |
//! | 4 | registry or authentication failure, or the cluster forbids the request (RBAC) |
//! | 5 | timed out or cancelled |
//! | 6 | the state file cannot be read, locked or written; a record to import is older than the newest one of its release |
//! | 7 | the action succeeded but its record could not be written (printed to stderr; `state import` puts it back) |
//! | 8 | drift: the cluster does not match the state file (`app status --check`) |
//! | 10 | refused: confirmation needed (no terminal and no --confirm) or declined |
//! | 129 | interrupted by SIGHUP: the running action was cancelled and recorded |
//! | 130 | interrupted by SIGINT (Ctrl-C): the running action was cancelled and recorded |
//! | 143 | interrupted by SIGTERM: the running action was cancelled and recorded |

use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use chainctl_core::state::{
    Action, Drift, ExecutionStateRecord, Imported, RecordCluster, RecordSource, ReleaseState,
    StateFile, StateLocation, StateStoreOptions, StorageDriver,
};
use chainctl_core::{
    CancelToken, ChartSource, Client, DryRun, Error, ErrorKind, Event, EventLevel, ListOptions,
    OciReference, RegistryOptions, ReleaseInfo, ReleaseOptions, ReleaseRef, ResolvedKube,
    RollbackOptions, StateFileConfig, StateStore, Storage, UninstallOptions, version_to_tag,
};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use serde_json::json;

const EXIT_CODES: &str = "\
Exit codes:
  0   success
  1   Helm or the cluster failed the action
  2   bad usage or invalid input (flags, chart, values), conflicting sources
  3   release, revision or chart not found
  4   registry or authentication failure, or the cluster forbids the
      request (RBAC)
  5   timed out or cancelled
  6   the state file cannot be read, locked or written; a record to import
      is older than the newest one of its release
  7   the action succeeded but its record could not be written (the record
      is printed to stderr as a line of JSON: `chainctl state import`
      puts it back)
  8   drift: the cluster does not match the state file (app status --check)
  10  refused: confirmation needed (no terminal and no --confirm) or declined
  129 interrupted by SIGHUP, 130 by SIGINT (Ctrl-C), 143 by SIGTERM: the
      running install, upgrade, rollback or uninstall is cancelled, Helm
      marks the release failed and the record says cancelled; a second
      signal exits at once. Other commands exit at once.";

/// Deploy Helm charts with the Helm SDK in-process.
#[derive(Parser, Debug)]
#[command(name = "chainctl", after_long_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per run: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// Install and manage releases.
    #[command(subcommand)]
    App(AppCommand),
    /// Inspect the state file: what chainctl deployed.
    #[command(subcommand)]
    State(StateCommand),
    /// Work with charts in OCI registries.
    #[command(subcommand)]
    Chart(ChartCommand),
    /// Log in to and out of OCI registries (shares helm's credentials).
    #[command(subcommand)]
    Registry(RegistryCommand),
}

#[derive(Subcommand, Debug)]
enum ChartCommand {
    /// Pull a chart into the cache; print its version and digests.
    Pull(ChartPullArgs),
    /// List a repository's chart versions, newest first.
    Versions(ChartVersionsArgs),
}

#[derive(Args, Debug)]
struct ChartPullArgs {
    /// OCI reference, oci://host/path/chart[:tag][@digest].
    #[arg(value_name = "REF")]
    reference: String,

    /// Chart version or semver constraint.
    #[arg(long, value_name = "VERSION")]
    version: Option<String>,

    /// How long the pull may take, e.g. 90s, 5m (a stalled registry: exit 5).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5m")]
    timeout: Duration,

    #[command(flatten)]
    registry: RegistryArgs,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    output: Output,
}

#[derive(Args, Debug)]
struct ChartVersionsArgs {
    /// OCI repository, oci://host/path/chart.
    #[arg(value_name = "REF")]
    reference: String,

    /// How long listing may take, e.g. 90s, 5m (a stalled registry: exit 5).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5m")]
    timeout: Duration,

    #[command(flatten)]
    registry: RegistryArgs,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    output: Output,
}

#[derive(Subcommand, Debug)]
enum RegistryCommand {
    /// Check credentials and store them in the registry config file.
    Login(RegistryHostArgs),
    /// Remove a registry's stored credentials.
    Logout(RegistryHostArgs),
}

#[derive(Args, Debug)]
struct RegistryHostArgs {
    /// Registry host[:port].
    #[arg(value_name = "HOST")]
    host: String,

    #[command(flatten)]
    registry: RegistryArgs,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    output: Output,
}

/// How to reach an OCI registry.
#[derive(Args, Debug, Clone, Default)]
struct RegistryArgs {
    /// Talk plain HTTP to the registry.
    #[arg(long)]
    plain_http: bool,

    /// Do not verify the registry's TLS certificate.
    #[arg(long)]
    insecure_skip_tls_verify: bool,

    /// CA certificate (PEM) to verify the registry with.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,

    /// Client certificate (PEM), with --key-file.
    #[arg(long, value_name = "FILE")]
    cert_file: Option<PathBuf>,

    /// Client certificate key (PEM).
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,

    /// Registry user name.
    #[arg(long, value_name = "NAME")]
    username: Option<String>,

    /// Read the registry password from stdin (or set CHAINCTL_REGISTRY_PASSWORD).
    #[arg(long)]
    password_stdin: bool,

    /// Registry config file (default: helm's registry/config.json).
    #[arg(long, value_name = "FILE")]
    registry_config: Option<PathBuf>,

    /// Use only the chart cache: no network for OCI charts.
    #[arg(long)]
    offline: bool,

    /// Largest chart archive a pull accepts (default 100MiB, as Helm).
    ///
    /// Checked while the chart streams: a manifest declaring a larger
    /// layer is refused before the layer is fetched, and a body longer
    /// than declared is cut. Bytes, or with a unit: KiB, MiB, GiB (also
    /// Ki, Mi, Gi). For example:
    ///
    ///   chainctl chart pull oci://registry.example/charts/big --max-chart-size 512MiB
    #[arg(long, value_name = "SIZE", value_parser = parse_size, verbatim_doc_comment)]
    max_chart_size: Option<u64>,
}

impl RegistryArgs {
    /// The library's registry options; the password comes from stdin or the
    /// environment, never from argv.
    fn options(&self) -> Result<RegistryOptions, Failure> {
        let password = if self.password_stdin {
            let mut line = String::new();
            io::stdin().lock().read_line(&mut line)?;
            Some(line.trim_end_matches(['\n', '\r']).to_string())
        } else {
            std::env::var("CHAINCTL_REGISTRY_PASSWORD").ok()
        };
        Ok(RegistryOptions {
            plain_http: self.plain_http,
            insecure_skip_tls_verify: self.insecure_skip_tls_verify,
            ca_file: self.ca_file.clone(),
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
            username: self.username.clone(),
            password: password.filter(|p| !p.is_empty()),
            config_file: self.registry_config.clone(),
        })
    }

    /// A client for the registry commands; `timeout` bounds each call.
    fn client(&self, timeout: Duration) -> Result<Client, Failure> {
        let mut builder = Client::builder()
            .storage(Storage::Memory)
            .registry(self.options()?)
            .offline(self.offline)
            .network_timeout(timeout)
            .on_event(print_events(EventLevel::Warn))
            .cancel_token(interrupts().token.clone());
        if let Some(max) = self.max_chart_size {
            builder = builder.max_chart_size(max);
        }
        Ok(builder.build()?)
    }
}

#[derive(Subcommand, Debug)]
enum StateCommand {
    /// Show recorded releases, or one release's current record and history.
    Show(StateShowArgs),
    /// Print the state file's path and the rule that chose it.
    Path(StateArgs),
    /// Check a state file against the schema (default: the one in use).
    Validate(StateValidateArgs),
    /// Put back a record printed on exit 7 (its record not written).
    Import(StateImportArgs),
}

/// Where the state file is.
#[derive(Args, Debug, Clone)]
struct StateArgs {
    /// State file name in the default directory (instead of state.json).
    #[arg(long, value_name = "NAME", conflicts_with = "state_path")]
    state_file: Option<String>,

    /// Full path of the state file.
    #[arg(long, value_name = "PATH")]
    state_path: Option<PathBuf>,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    output: Output,
}

#[derive(Args, Debug)]
struct StateShowArgs {
    #[command(flatten)]
    state: StateArgs,

    /// Show this release only (with --namespace).
    #[arg(long, value_name = "NAME")]
    release: Option<String>,

    /// Namespace of --release.
    #[arg(short = 'n', long, value_name = "NS", default_value = "default")]
    namespace: String,

    /// With --release: the cluster id, when several clusters have it.
    #[arg(long, value_name = "ID", requires = "release")]
    cluster: Option<String>,
}

#[derive(Args, Debug)]
struct StateImportArgs {
    #[command(flatten)]
    state: StateArgs,

    /// The printed record, or - for stdin (the whole stderr will do).
    ///
    /// When an action succeeds but its record cannot be written, chainctl
    /// exits 7 and prints the record to stderr as one line of JSON. Once the
    /// state file can be written again, import it from that line or from
    /// the whole of stderr saved to a file: only lines starting with "{"
    /// are read. The record is checked as the state file's loader checks
    /// records; importing it twice changes nothing the second time, and a
    /// record older than the newest one of its release is refused (exit 6).
    /// For example:
    ///
    ///   chainctl app upgrade ... 2> upgrade.err   # exits 7
    ///   chainctl state import upgrade.err
    #[arg(value_name = "FILE", verbatim_doc_comment)]
    file: PathBuf,
}

#[derive(Args, Debug)]
struct StateValidateArgs {
    #[command(flatten)]
    state: StateArgs,

    /// The file to check (default: the state file in use).
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
}

/// Helm's release storage driver (HELM_DRIVER).
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Driver {
    /// Kubernetes Secrets (Helm's default).
    #[value(alias = "secrets")]
    Secret,
    /// Kubernetes ConfigMaps.
    #[value(alias = "configmaps")]
    Configmap,
    /// This process's memory and a fake cluster: a rehearsal, nothing
    /// reaches any cluster.
    Memory,
}

#[derive(Subcommand, Debug)]
enum AppCommand {
    /// Install a chart as a new release.
    Install(ChartArgs),
    /// Upgrade a release to a chart and values (--install: install if missing).
    Upgrade(UpgradeArgs),
    /// Show a release's current revision (--check: compare with the state file).
    Status(StatusArgs),
    /// List a release's revisions, oldest first.
    History(HistoryArgs),
    /// Roll a release back to an earlier revision.
    Rollback(RollbackArgs),
    /// Uninstall a release.
    Uninstall(UninstallArgs),
    /// List releases, as helm list (-A: every namespace).
    #[command(mut_arg("release", |a| a.required(false).default_value("").hide(true)))]
    List(ListArgs),
    /// Show a revision's values, manifest, notes or hooks, as helm get.
    #[command(subcommand)]
    Get(GetCommand),
}

#[derive(Args, Debug)]
struct ListArgs {
    #[command(flatten)]
    common: CommonArgs,

    /// List releases of every namespace.
    #[arg(short = 'A', long)]
    all_namespaces: bool,

    /// Releases in every status, not only deployed ones.
    #[arg(short = 'a', long)]
    all: bool,

    /// Deployed releases (the default when no status flag is given).
    #[arg(long)]
    deployed: bool,

    /// Failed releases.
    #[arg(long)]
    failed: bool,

    /// Pending releases.
    #[arg(long)]
    pending: bool,

    /// Superseded releases.
    #[arg(long)]
    superseded: bool,

    /// Uninstalled releases whose history was kept.
    #[arg(long)]
    uninstalled: bool,

    /// Releases being uninstalled.
    #[arg(long)]
    uninstalling: bool,

    /// Only names matching this regular expression.
    #[arg(long, value_name = "REGEX")]
    filter: Option<String>,

    /// Only release objects with these labels, e.g. -l team=a.
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    selector: Option<String>,

    /// At most this many releases.
    #[arg(short = 'm', long, value_name = "N", default_value_t = 256)]
    max: u32,

    /// Skip this many releases first.
    #[arg(long, value_name = "N", default_value_t = 0)]
    offset: u32,

    /// Sort by release date.
    #[arg(short = 'd', long)]
    date: bool,

    /// Reverse the order.
    #[arg(short = 'r', long)]
    reverse: bool,
}

#[derive(Subcommand, Debug)]
enum GetCommand {
    /// The values a revision was deployed with (--all: every computed one).
    Values(GetValuesArgs),
    /// The manifest of a revision.
    Manifest(GetArgs),
    /// The notes of a revision.
    Notes(GetArgs),
    /// The hooks of a revision.
    Hooks(GetArgs),
}

#[derive(Args, Debug)]
struct GetArgs {
    #[command(flatten)]
    common: CommonArgs,

    /// This revision instead of the current one.
    #[arg(long, value_name = "N")]
    revision: Option<u32>,
}

#[derive(Args, Debug)]
struct GetValuesArgs {
    #[command(flatten)]
    get: GetArgs,

    /// Every value the chart was rendered with, defaults included.
    #[arg(short = 'a', long)]
    all: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

/// Flags every app command takes.
#[derive(Args, Debug, Clone)]
struct CommonArgs {
    /// Release name (lowercase RFC 1123, at most 53 characters).
    #[arg(long, value_name = "NAME")]
    release: String,

    /// Namespace of the release (default: the context's, else default).
    #[arg(
        short = 'n',
        long = "namespace",
        value_name = "NS",
        env = "HELM_NAMESPACE"
    )]
    namespace_flag: Option<String>,

    /// The namespace in use: --namespace, else what helm would take from
    /// the kubeconfig (filled in by `resolve_namespace`).
    #[arg(skip)]
    namespace: String,

    /// Kubeconfig file (default: $KUBECONFIG's files merged, ~/.kube/config).
    #[arg(long, value_name = "PATH")]
    kubeconfig: Option<PathBuf>,

    /// Kubeconfig context to use instead of the current one.
    #[arg(long, value_name = "NAME", env = "HELM_KUBECONTEXT")]
    kube_context: Option<String>,

    #[command(flatten)]
    kube: KubeArgs,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    output: Output,

    /// Print progress to stderr.
    #[arg(short = 'v', long)]
    verbose: bool,

    /// Print Helm's debug log to stderr (implies --verbose).
    #[arg(long, env = "HELM_DEBUG", value_parser = clap::builder::FalseyValueParser::new())]
    debug: bool,

    /// Release storage driver (default secret); memory is a rehearsal.
    #[arg(long, value_enum, env = "HELM_DRIVER")]
    driver: Option<Driver>,

    /// The cluster and namespace the kubeconfig selects (filled in by
    /// `resolve_kube`).
    #[arg(skip)]
    resolved: Option<ResolvedKube>,

    /// State file name in the default directory (instead of state.json).
    #[arg(long, value_name = "NAME", conflicts_with = "state_path")]
    state_file: Option<String>,

    /// Full path of the state file.
    #[arg(long, value_name = "PATH")]
    state_path: Option<PathBuf>,
}

/// helm's flags for reaching the API server, with their HELM_* variables.
#[derive(Args, Debug, Clone, Default)]
struct KubeArgs {
    /// Bearer token for the API server.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "HELM_KUBETOKEN",
        hide_env_values = true
    )]
    kube_token: Option<String>,

    /// User to impersonate.
    #[arg(long, value_name = "USER", env = "HELM_KUBEASUSER")]
    kube_as_user: Option<String>,

    /// Group to impersonate (repeatable).
    #[arg(
        long,
        value_name = "GROUP",
        env = "HELM_KUBEASGROUPS",
        value_delimiter = ','
    )]
    kube_as_group: Vec<String>,

    /// The API server's address, instead of the kubeconfig's.
    #[arg(long, value_name = "URL", env = "HELM_KUBEAPISERVER")]
    kube_apiserver: Option<String>,

    /// CA file to verify the API server with.
    #[arg(long, value_name = "FILE", env = "HELM_KUBECAFILE")]
    kube_ca_file: Option<PathBuf>,

    /// Do not verify the API server's certificate (insecure).
    #[arg(long, env = "HELM_KUBEINSECURE_SKIP_TLS_VERIFY", value_parser = clap::builder::FalseyValueParser::new())]
    kube_insecure_skip_tls_verify: bool,

    /// Name to check the API server's certificate against.
    #[arg(long, value_name = "NAME", env = "HELM_KUBETLS_SERVER_NAME")]
    kube_tls_server_name: Option<String>,

    /// Client-side throttling burst.
    #[arg(
        long,
        value_name = "N",
        env = "HELM_BURST_LIMIT",
        default_value_t = 100
    )]
    burst_limit: u32,

    /// Queries per second to the API server (0: client-go's default).
    #[arg(long, value_name = "QPS", env = "HELM_QPS", default_value_t = 0.0)]
    qps: f32,
}

/// Flags of commands that deploy a chart.
#[derive(Args, Debug)]
struct ChartArgs {
    #[command(flatten)]
    common: CommonArgs,

    /// Local chart: a chart directory or a packaged .tgz.
    #[arg(long, value_name = "PATH")]
    bundle: Option<PathBuf>,

    /// OCI chart reference, oci://host/path/chart[:tag][@digest].
    #[arg(long, value_name = "REF")]
    chart: Option<String>,

    /// Chart version or semver constraint (OCI charts only).
    #[arg(long, value_name = "VERSION")]
    version: Option<String>,

    /// Values file, URL or - for stdin (repeatable or comma-separated).
    ///
    /// Each may hold at most 16 MiB; a pipe (-f <(command), a FIFO) is read
    /// until its writer closes it, within --timeout; a path that is neither
    /// a regular file nor a pipe (a device, a directory, a socket) is refused
    /// at once.
    #[arg(
        short = 'f',
        long = "values",
        value_name = "FILE",
        value_delimiter = ','
    )]
    values: Vec<PathBuf>,

    /// Set a value, e.g. --set image.tag=1.2,replicaCount=3 (repeatable).
    #[arg(long, value_name = "KEY=VAL")]
    set: Vec<String>,

    /// Set a value, always as a string (repeatable).
    #[arg(long, value_name = "KEY=VAL")]
    set_string: Vec<String>,

    /// Set a value to a file's content, e.g. --set-file cfg=app.conf.
    #[arg(long, value_name = "KEY=PATH")]
    set_file: Vec<String>,

    /// Set a JSON value, e.g. --set-json 'ports=[80,443]'.
    #[arg(long, value_name = "KEY=JSON")]
    set_json: Vec<String>,

    /// Set one value as a literal string, commas and all.
    #[arg(long, value_name = "KEY=VAL")]
    set_literal: Vec<String>,

    /// Create the namespace if it does not exist.
    #[arg(long)]
    create_namespace: bool,

    /// Show what would be deployed: client (no cluster) or server.
    #[arg(long, value_name = "MODE", num_args = 0..=1, require_equals = true, default_missing_value = "client")]
    dry_run: Option<DryRun>,

    /// Approve the change without asking.
    #[arg(long)]
    confirm: bool,

    /// Wait until all resources are ready.
    #[arg(long)]
    wait: bool,

    /// How long the action (and its chart pull) may take, e.g. 90s, 5m.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5m")]
    timeout: Duration,

    /// Roll back (or uninstall a new release) on failure; implies --wait.
    #[arg(long)]
    atomic: bool,

    /// Description recorded with the revision.
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,

    /// Leave the chart's crds/ out.
    #[arg(long)]
    skip_crds: bool,

    /// Take development versions too (OCI charts without --version).
    #[arg(long)]
    devel: bool,

    /// Fetch missing dependencies into the chart's charts/ first.
    #[arg(long)]
    dependency_update: bool,

    /// Run no hooks.
    #[arg(long)]
    no_hooks: bool,

    /// With --wait, also wait for Jobs to complete.
    #[arg(long)]
    wait_for_jobs: bool,

    /// Replace resources that cannot be updated in place.
    #[arg(long)]
    force: bool,

    /// Adopt existing resources that no release owns.
    #[arg(long)]
    take_ownership: bool,

    /// Do not check values against the chart's values.schema.json.
    #[arg(long)]
    skip_schema_validation: bool,

    /// Labels on the release's storage object, e.g. --labels team=a,tier=b.
    #[arg(long, value_name = "K=V", value_delimiter = ',', value_parser = parse_label)]
    labels: Vec<(String, String)>,

    /// Program the rendered manifest is piped through before it is applied.
    #[arg(long, value_name = "PROGRAM")]
    post_renderer: Option<String>,

    /// An argument of the post-renderer (repeatable).
    #[arg(long, value_name = "ARG", requires = "post_renderer")]
    post_renderer_args: Vec<String>,

    /// With --dry-run: an API version .Capabilities.APIVersions has.
    #[arg(short = 'a', long, value_name = "GROUP/VERSION", value_delimiter = ',')]
    api_versions: Vec<String>,

    /// With --dry-run: the Kubernetes version .Capabilities.KubeVersion has.
    #[arg(long, value_name = "VERSION")]
    kube_version: Option<String>,

    /// With -o json: print the data of the manifest's Secrets too.
    ///
    /// -o json prints the rendered manifest with the value of every key of
    /// a Secret's data and stringData replaced by [redacted]; this flag
    /// prints them as rendered, e.g.
    /// `chainctl app install --dry-run -o json --show-secrets ...`. The text
    /// output of --dry-run prints the manifest in full, as helm does; so
    /// does `chainctl app get manifest`.
    #[arg(long)]
    show_secrets: bool,

    #[command(flatten)]
    registry: RegistryArgs,
}

/// `k=v`, as helm's --labels.
fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("invalid label {text:?}: write key=value")),
    }
}

#[derive(Args, Debug)]
struct UpgradeArgs {
    #[command(flatten)]
    chart: ChartArgs,

    /// Install the release if it does not exist yet.
    #[arg(short = 'i', long)]
    install: bool,

    /// Reuse the last release's values, merging these over them.
    #[arg(long)]
    reuse_values: bool,

    /// Reset values to the chart's defaults before applying these.
    #[arg(long)]
    reset_values: bool,

    /// Reset to the chart's defaults, then merge the last values and these.
    #[arg(long)]
    reset_then_reuse_values: bool,

    /// Revisions Helm keeps per release (0: no limit).
    #[arg(long, value_name = "N", env = "HELM_MAX_HISTORY", default_value_t = chainctl_core::DEFAULT_HISTORY_MAX)]
    history_max: u32,

    /// On failure, delete the resources this upgrade created.
    #[arg(long)]
    cleanup_on_fail: bool,

    /// Install the chart digest recorded in state; fail if its tag moved.
    #[arg(long, conflicts_with_all = ["bundle", "chart", "version"])]
    locked: bool,
}

#[derive(Args, Debug)]
struct HistoryArgs {
    #[command(flatten)]
    common: CommonArgs,

    /// At most this many revisions, the newest.
    #[arg(long, value_name = "N", default_value_t = 256)]
    max: u32,
}

#[derive(Args, Debug)]
struct StatusArgs {
    #[command(flatten)]
    common: CommonArgs,

    /// Compare with the state file's record; exit 8 if the cluster differs.
    ///
    /// Compares the release in the cluster with the record of its last
    /// install, upgrade or rollback in the state file (read, never written):
    /// revision, chart name and version, the digest of the rendered
    /// manifest, and a status other than deployed. Each difference is
    /// printed; exit 8 means the cluster does not match, exit 3 that the
    /// state file records no deployment of the release. For example:
    ///
    ///   chainctl app status --release hello -n demo --check
    #[arg(long, verbatim_doc_comment, conflicts_with = "revision")]
    check: bool,

    /// Show this revision instead of the current one.
    #[arg(long, value_name = "N")]
    revision: Option<u32>,
}

#[derive(Args, Debug)]
struct RollbackArgs {
    #[command(flatten)]
    common: CommonArgs,

    /// Revision to roll back to (default: the previous one).
    #[arg(long, value_name = "N")]
    revision: Option<u32>,

    /// Approve the change without asking.
    #[arg(long)]
    confirm: bool,

    /// Wait until all resources are ready.
    #[arg(long)]
    wait: bool,

    /// How long Helm waits, e.g. 90s, 5m.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5m")]
    timeout: Duration,

    /// Simulate the rollback: nothing changes, nothing is recorded.
    #[arg(long)]
    dry_run: bool,

    /// Replace resources that cannot be updated in place.
    #[arg(long)]
    force: bool,

    /// Run no hooks.
    #[arg(long)]
    no_hooks: bool,

    /// Revisions Helm keeps per release (0: no limit).
    #[arg(long, value_name = "N", env = "HELM_MAX_HISTORY", default_value_t = chainctl_core::DEFAULT_HISTORY_MAX)]
    history_max: u32,
}

#[derive(Args, Debug)]
struct UninstallArgs {
    #[command(flatten)]
    common: CommonArgs,

    /// Keep the release's history (it can be rolled back later).
    #[arg(long)]
    keep_history: bool,

    /// Approve the change without asking.
    #[arg(long)]
    confirm: bool,

    /// Wait until all resources are deleted.
    #[arg(long)]
    wait: bool,

    /// How long Helm waits, e.g. 90s, 5m.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5m")]
    timeout: Duration,

    /// Simulate the uninstall: nothing changes, nothing is recorded.
    #[arg(long)]
    dry_run: bool,

    /// Run no hooks.
    #[arg(long)]
    no_hooks: bool,

    /// A release that does not exist is not an error.
    #[arg(long)]
    ignore_not_found: bool,

    /// How dependents are deleted: background, foreground or orphan.
    #[arg(long, value_name = "MODE", default_value = "background",
          value_parser = ["background", "foreground", "orphan"])]
    cascade: String,

    /// Description recorded with the uninstalled revision.
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
}

/// Parses durations as Helm's `--timeout` takes them, Go's `time.ParseDuration`
/// syntax: `90s`, `5m`, `1h30m`, `300ms`, `1.5s`, `2h45m30.5s`, each number with
/// a unit of ns, us (µs, μs), ms, s, m or h, up to Go's limit of 2^63-1 ns.
/// Where it differs from Go: a bare number is seconds (`300`, which chainctl
/// always took), zero and negative durations are refused (a timeout must be
/// positive), and fractions are exact where Go's float arithmetic can come
/// out 1 ns lower (13 or more fraction digits of an hour).
///
/// No crate reads exactly this grammar: go-parse-duration panics on `µs` and
/// refuses durations over 2^62 ns; humantime and duration-str take spaces,
/// days and other units and refuse signs or `.5s`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {text:?}: write e.g. 90s, 5m or 1h30m");
    let too_long = || format!("invalid duration {text:?}: it is too long");
    let not_positive = || format!("invalid duration {text:?}: it must be longer than zero");
    // Go keeps a duration in an i64 of nanoseconds.
    const MAX_NANOS: u128 = i64::MAX as u128;
    let nanos = if text.bytes().all(|c| c.is_ascii_digit()) && !text.is_empty() {
        let secs: u128 = text.parse().map_err(|_| too_long())?;
        secs.checked_mul(1_000_000_000).ok_or_else(too_long)?
    } else {
        let (negative, mut rest) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        if rest == "0" {
            return Err(not_positive());
        }
        if rest.is_empty() {
            return Err(bad());
        }
        let mut total: u128 = 0;
        while !rest.is_empty() {
            let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            let whole_len = digits(rest);
            let (whole, after) = rest.split_at(whole_len);
            let (fraction, after) = match after.strip_prefix('.') {
                Some(after) => after.split_at(digits(after)),
                None => ("", after),
            };
            if whole.is_empty() && fraction.is_empty() {
                return Err(bad());
            }
            let unit_len = after
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(after.len());
            let unit: u128 = match &after[..unit_len] {
                "ns" => 1,
                "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
                "ms" => 1_000_000,
                "s" => 1_000_000_000,
                "m" => 60_000_000_000,
                "h" => 3_600_000_000_000,
                _ => return Err(bad()),
            };
            // More than 20 whole digits is past 2^63 ns in any unit; fraction
            // digits past 24 are far finer than a nanosecond of an hour.
            let whole = whole.trim_start_matches('0');
            let whole: u128 = if whole.is_empty() {
                0
            } else if whole.len() > 20 {
                return Err(too_long());
            } else {
                whole.parse().map_err(|_| bad())?
            };
            let fraction = &fraction[..fraction.len().min(24)];
            let part = match fraction.parse::<u128>() {
                Ok(f) => f * unit / 10u128.pow(fraction.len() as u32),
                Err(_) => 0,
            };
            total = whole
                .checked_mul(unit)
                .and_then(|w| w.checked_add(part))
                .and_then(|p| p.checked_add(total))
                .filter(|&t| t <= MAX_NANOS)
                .ok_or_else(too_long)?;
            rest = &after[unit_len..];
        }
        if negative && total > 0 {
            return Err(not_positive());
        }
        total
    };
    if nanos == 0 {
        return Err(not_positive());
    }
    if nanos > MAX_NANOS {
        return Err(too_long());
    }
    Ok(Duration::from_nanos(nanos as u64))
}

/// Parses sizes: bytes, or a number with KiB, MiB, GiB (Ki, Mi, Gi; KB, MB,
/// GB read as the same powers of two, as Helm's messages write them).
fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || format!("invalid size {text:?}: write bytes, or e.g. 512KiB, 200MiB, 1GiB");
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: u64 = text[..digits].parse().map_err(|_| bad())?;
    let scale: u64 = match text[digits..].trim() {
        "" | "B" => 1,
        "K" | "Ki" | "KiB" | "KB" => 1 << 10,
        "M" | "Mi" | "MiB" | "MB" => 1 << 20,
        "G" | "Gi" | "GiB" | "GB" => 1 << 30,
        _ => return Err(bad()),
    };
    match number.checked_mul(scale) {
        Some(0) => Err(format!(
            "invalid size {text:?}: it must be larger than zero"
        )),
        Some(bytes) if bytes <= i64::MAX as u64 => Ok(bytes),
        _ => Err(format!("invalid size {text:?}: it is too large")),
    }
}

/// A failure that ends the program: what to print and the exit code.
struct Failure {
    code: u8,
    kind: &'static str,
    message: String,
}

impl From<&Error> for Failure {
    fn from(err: &Error) -> Self {
        let code = match err.kind() {
            ErrorKind::InvalidInput | ErrorKind::ConflictingSources => 2,
            ErrorKind::NotFound => 3,
            ErrorKind::Registry | ErrorKind::Auth => 4,
            ErrorKind::Timeout | ErrorKind::Cancelled => 5,
            ErrorKind::State => 6,
            _ => 1,
        };
        Failure {
            code,
            kind: err.kind().as_str(),
            message: with_causes(err),
        }
    }
}

/// The error and its chain of causes, as ripgrep prints them: the OS's
/// reason (ENOSPC, EROFS, ELOOP...) is in the source, not the message.
fn with_causes(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !message.contains(&cause_text) {
            message = format!("{message}: {cause_text}");
        }
        source = cause.source();
    }
    message
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Failure::from(&err)
    }
}

impl From<io::Error> for Failure {
    fn from(err: io::Error) -> Self {
        Failure {
            code: 1,
            kind: "io",
            message: format!("cannot write output: {err}"),
        }
    }
}

/// The kind of the failure `app status --check` ends with when the cluster
/// differs from the state file (exit code 8).
const DRIFT: &str = "drift";

fn refused(message: String) -> Failure {
    Failure {
        code: 10,
        kind: "refused",
        message,
    }
}

/// `eprintln!` without its panic when stderr is gone (a closed terminal,
/// which is what SIGHUP says): on the way out after a signal, and for a
/// record that must not be lost, a failed write must not stop chainctl.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(io::stderr(), $($arg)*);
    }};
}

/// The signals that interrupt chainctl, and the exit code of each (128 plus
/// the signal's number, as shells report a process killed by it).
const INTERRUPTS: [(i32, &str); 3] = [
    (signal_hook::consts::SIGINT, "SIGINT"),
    (signal_hook::consts::SIGTERM, "SIGTERM"),
    (signal_hook::consts::SIGHUP, "SIGHUP"),
];

/// How long, after the first signal, chainctl waits for the cancelled Go
/// call to end, Helm to mark the release and the record to be written,
/// before it exits without the record.
const INTERRUPT_GRACE: Duration = Duration::from_secs(10);

/// How long a cancelled action waits for Helm to mark the revision it made
/// failed (Helm takes milliseconds), and how long for a revision to appear
/// at all when none is there yet.
const SETTLE_PENDING: Duration = Duration::from_secs(5);
const SETTLE_ABSENT: Duration = Duration::from_secs(1);

/// What a signal does to this run. While an action that changes a release
/// runs (`in_flight`), the first signal cancels its Go call through `token`:
/// chainctl records the action as cancelled and exits with the signal's
/// code, or after [`INTERRUPT_GRACE`] exits anyway, printing the record if
/// it has one. Otherwise, and at a second signal, it exits at once.
struct Interrupts {
    token: CancelToken,
    /// The first signal received; 0 before any.
    signal: AtomicI32,
    in_flight: AtomicBool,
    /// The record being written, to print if the grace runs out first.
    unsaved: Mutex<Option<String>>,
}

fn interrupts() -> &'static Interrupts {
    static INTERRUPTS: OnceLock<Interrupts> = OnceLock::new();
    INTERRUPTS.get_or_init(|| Interrupts {
        token: CancelToken::new(),
        signal: AtomicI32::new(0),
        in_flight: AtomicBool::new(false),
        unsaved: Mutex::new(None),
    })
}

impl Interrupts {
    /// The signal that interrupted this run, if one did: its name and exit
    /// code.
    fn received(&self) -> Option<(&'static str, u8)> {
        let signal = self.signal.load(Ordering::SeqCst);
        let (_, name) = INTERRUPTS.iter().find(|(s, _)| *s == signal)?;
        Some((name, u8::try_from(128 + signal).unwrap_or(u8::MAX)))
    }

    /// Marks an action that a signal should cancel rather than cut short,
    /// until the guard is dropped.
    fn in_flight(&'static self) -> InFlight {
        self.in_flight.store(true, Ordering::SeqCst);
        InFlight(self)
    }

    fn on_signal(&'static self, signal: i32) {
        let first = (self.signal)
            .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
        let Some((name, code)) = self.received() else {
            return;
        };
        if !first {
            say!("chainctl: a second signal: exiting now, without waiting for the record");
            std::process::exit(code.into());
        }
        if !self.in_flight.load(Ordering::SeqCst) {
            say!("chainctl: interrupted by {name}");
            std::process::exit(code.into());
        }
        say!(
            "chainctl: {name}: cancelling the running action and recording it as cancelled \
             (at most {} s; a second signal exits at once)",
            INTERRUPT_GRACE.as_secs()
        );
        self.token.cancel();
        std::thread::spawn(move || {
            std::thread::sleep(INTERRUPT_GRACE);
            say!(
                "chainctl: the cancelled action did not end within {} s: exiting without \
                 writing its record",
                INTERRUPT_GRACE.as_secs()
            );
            let unsaved = self.unsaved.lock().ok().and_then(|r| r.clone());
            if let Some(record) = unsaved {
                say!("{}\n{record}", keep_record_note());
            }
            std::process::exit(code.into());
        });
    }
}

/// An action a signal cancels; see [`Interrupts::in_flight`].
struct InFlight(&'static Interrupts);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.store(false, Ordering::SeqCst);
    }
}

/// Turns SIGINT, SIGTERM and SIGHUP over to [`Interrupts`], on a thread of
/// their own (signal-hook's self-pipe: nothing runs in the handler itself).
fn catch_interrupts() -> io::Result<()> {
    let signals = INTERRUPTS.map(|(signal, _)| signal);
    let mut iterator = signal_hook::iterator::Signals::new(signals)?;
    for signal in signals {
        chainctl_core::go_safe_signal_handler(signal).map_err(io::Error::other)?;
    }
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in iterator.forever() {
                interrupts().on_signal(signal);
            }
        })?;
    Ok(())
}

fn main() -> ExitCode {
    if let Err(err) = catch_interrupts() {
        say!(
            "chainctl: warning: signals cannot be caught, so an interrupted action will not be recorded: {err}"
        );
    }
    // The long version asks the Go shim for Helm's and Go's versions: build
    // it only when the arguments may ask for it, not on every start.
    let wants_version = std::env::args_os()
        .skip(1)
        .any(|arg| arg == "--version" || arg == "-V");
    let version: &'static str = match wants_version {
        true => long_version().leak(),
        false => env!("CARGO_PKG_VERSION"),
    };
    let matches = Cli::command().version(version).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    let json_output = cli.command.output() == Output::Json;
    let result = run(cli);
    let interrupted = interrupts().received();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) if failure.kind == "io" && failure.message.contains("Broken pipe") => {
            ExitCode::SUCCESS
        }
        Err(failure) => {
            // A drift report is on stdout already.
            if json_output && failure.kind != DRIFT {
                let body = json!({ "error": { "kind": failure.kind, "message": failure.message } });
                let _ = writeln!(io::stdout(), "{body:#}");
            }
            let _ = writeln!(io::stderr(), "chainctl: {}", failure.message);
            match interrupted {
                Some((_, code)) => ExitCode::from(code),
                None => ExitCode::from(failure.code),
            }
        }
    }
}

fn long_version() -> String {
    match Client::shim_version() {
        Ok(v) => format!("{} (helm {}, {})", env!("CARGO_PKG_VERSION"), v.helm, v.go),
        Err(_) => env!("CARGO_PKG_VERSION").to_string(),
    }
}

impl Command {
    /// The flags every app command has.
    fn common_mut(&mut self) -> Option<&mut CommonArgs> {
        let Command::App(app) = self else {
            return None;
        };
        Some(match app {
            AppCommand::Install(a) => &mut a.common,
            AppCommand::Upgrade(a) => &mut a.chart.common,
            AppCommand::Status(a) => &mut a.common,
            AppCommand::History(a) => &mut a.common,
            AppCommand::Rollback(a) => &mut a.common,
            AppCommand::Uninstall(a) => &mut a.common,
            AppCommand::List(a) => &mut a.common,
            AppCommand::Get(GetCommand::Values(a)) => &mut a.get.common,
            AppCommand::Get(
                GetCommand::Manifest(a) | GetCommand::Notes(a) | GetCommand::Hooks(a),
            ) => &mut a.common,
        })
    }

    fn output(&self) -> Output {
        let app = match self {
            Command::App(app) => app,
            Command::State(StateCommand::Show(a)) => return a.state.output,
            Command::State(StateCommand::Path(a)) => return a.output,
            Command::State(StateCommand::Validate(a)) => return a.state.output,
            Command::State(StateCommand::Import(a)) => return a.state.output,
            Command::Chart(ChartCommand::Pull(a)) => return a.output,
            Command::Chart(ChartCommand::Versions(a)) => return a.output,
            Command::Registry(RegistryCommand::Login(a) | RegistryCommand::Logout(a)) => {
                return a.output;
            }
        };
        match app {
            AppCommand::Install(a) => a.common.output,
            AppCommand::Upgrade(a) => a.chart.common.output,
            AppCommand::Status(a) => a.common.output,
            AppCommand::History(a) => a.common.output,
            AppCommand::Rollback(a) => a.common.output,
            AppCommand::Uninstall(a) => a.common.output,
            AppCommand::List(a) => a.common.output,
            AppCommand::Get(GetCommand::Values(a)) => a.get.common.output,
            AppCommand::Get(
                GetCommand::Manifest(a) | GetCommand::Notes(a) | GetCommand::Hooks(a),
            ) => a.common.output,
        }
    }
}

fn run(mut cli: Cli) -> Result<(), Failure> {
    if let Some(common) = cli.command.common_mut() {
        resolve_kube(common)?;
    }
    let app = match cli.command {
        Command::App(app) => app,
        Command::State(state) => return run_state(state),
        Command::Chart(chart) => return run_chart(chart),
        Command::Registry(registry) => return run_registry(registry),
    };
    match app {
        AppCommand::Install(args) => deploy(Action::Install, &args, false, |o| o),
        AppCommand::Upgrade(args) => deploy(Action::Upgrade, &args.chart, args.locked, |o| {
            o.install_if_missing(args.install)
                .reuse_values(args.reuse_values)
                .reset_values(args.reset_values)
                .reset_then_reuse_values(args.reset_then_reuse_values)
                .history_max(args.history_max)
                .cleanup_on_fail(args.cleanup_on_fail)
        }),
        AppCommand::Status(args) => {
            if args.check {
                return check_status(&args.common);
            }
            let (client, release) = connect(&args.common)?;
            let info = match args.revision {
                Some(revision) => client.revision(&release, revision)?,
                None => client.status(&release)?,
            };
            // A pending revision blocks every further action: say how out.
            let pending = match info.status.starts_with("pending-") {
                true => client.pending(&release).ok().flatten(),
                false => None,
            };
            match (args.common.output, &pending) {
                (Output::Json, Some(pending)) => writeln!(
                    io::stdout(),
                    "{:#}",
                    json!({ "action": "status", "release": info.with_secret_data_redacted()?, "pending": pending })
                )?,
                (_, pending) => {
                    print_release(args.common.output, "status", &info, None)?;
                    if let Some(pending) = pending {
                        writeln!(io::stdout(), "stuck: {pending}")?;
                    }
                }
            }
            Ok(())
        }
        AppCommand::List(args) => {
            let client = client(&args.common, RegistryOptions::default(), false, None)?;
            let opts = ListOptions {
                namespace: args.common.namespace.clone(),
                all_namespaces: args.all_namespaces,
                all: args.all,
                deployed: args.deployed,
                failed: args.failed,
                pending: args.pending,
                superseded: args.superseded,
                uninstalled: args.uninstalled,
                uninstalling: args.uninstalling,
                filter: args.filter.clone().unwrap_or_default(),
                selector: args.selector.clone().unwrap_or_default(),
                max: args.max,
                offset: args.offset,
                by_date: args.date,
                reverse: args.reverse,
            };
            let releases = client.list(&opts)?;
            let mut out = io::stdout().lock();
            match args.common.output {
                Output::Json => writeln!(out, "{:#}", json!(releases))?,
                Output::Text => {
                    writeln!(
                        out,
                        "NAME\tNAMESPACE\tREVISION\tUPDATED\tSTATUS\tCHART\tAPP VERSION"
                    )?;
                    for r in &releases {
                        writeln!(
                            out,
                            "{}\t{}\t{}\t{}\t{}\t{}-{}\t{}",
                            r.name,
                            r.namespace,
                            r.revision,
                            r.last_deployed.as_deref().unwrap_or(""),
                            r.status,
                            r.chart.name,
                            r.chart.version,
                            r.chart.app_version.as_deref().unwrap_or("")
                        )?;
                    }
                }
            }
            Ok(())
        }
        AppCommand::Get(command) => run_get(command),
        AppCommand::History(args) => {
            let (client, release) = connect(&args.common)?;
            let mut revisions = client.history(&release)?;
            let keep = revisions.len().saturating_sub(args.max as usize);
            revisions.drain(..keep);
            print_history(args.common.output, &revisions)
        }
        AppCommand::Rollback(args) => {
            let (client, release) = connect(&args.common)?;
            let target = args
                .revision
                .map_or("the previous revision".to_string(), |r| {
                    format!("revision {r}")
                });
            let opts = RollbackOptions {
                revision: args.revision,
                wait: args.wait,
                timeout: args.timeout,
                force: args.force,
                dry_run: args.dry_run,
                no_hooks: args.no_hooks,
                history_max: args.history_max,
            };
            if args.dry_run {
                let info = client.rollback(&release, &opts)?;
                return print_release(args.common.output, "rollback --dry-run", &info, None);
            }
            confirm(
                args.confirm,
                &format!("roll back release {release} to {target}"),
                || Ok(rollback_plan(&client, &release, args.revision)),
            )?;
            let mut store = open_store(&args.common)?;
            let client = client.with_values_key(store.values_key()?);
            let mut record = ExecutionStateRecord::for_release(Action::Rollback, &release);
            stamp(&mut record, &args.common, &client);
            let in_flight = interrupts().in_flight();
            let result = client.rollback(&release, &opts);
            match &result {
                Ok(info) => record.finish_with_release(info),
                Err(err) => {
                    record.finish_err(err);
                    note_interrupted(&mut record, &client, &release);
                }
            }
            save(&mut store, &record, result.as_ref().err())?;
            drop(in_flight);
            print_release(args.common.output, "rollback", &result?, Some(&record))
        }
        AppCommand::Uninstall(args) => {
            let (client, release) = connect(&args.common)?;
            let opts = UninstallOptions {
                keep_history: args.keep_history,
                wait: args.wait,
                timeout: args.timeout,
                description: args.description.clone(),
                dry_run: args.dry_run,
                no_hooks: args.no_hooks,
                ignore_not_found: args.ignore_not_found,
                cascade: Some(args.cascade.clone()),
            };
            if args.dry_run {
                let report = client.uninstall(&release, &opts)?;
                return print_release(
                    args.common.output,
                    "uninstall --dry-run",
                    &report.release,
                    None,
                );
            }
            confirm(
                args.confirm,
                &format!("uninstall release {release}"),
                || Ok(uninstall_plan(&client, &release, args.keep_history)),
            )?;
            let mut store = open_store(&args.common)?;
            let mut record = ExecutionStateRecord::for_release(Action::Uninstall, &release);
            stamp(&mut record, &args.common, &client);
            let in_flight = interrupts().in_flight();
            let result = client.uninstall(&release, &opts);
            match &result {
                Ok(report) => {
                    record.finish_with_release(&report.release);
                    record.helm_status = Some("uninstalled".into());
                }
                Err(err) => {
                    record.finish_err(err);
                    note_interrupted(&mut record, &client, &release);
                }
            }
            save(&mut store, &record, result.as_ref().err())?;
            drop(in_flight);
            print_release(
                args.common.output,
                "uninstall",
                &result?.release,
                Some(&record),
            )
        }
    }
}

/// `app get values|manifest|notes|hooks`: what helm get prints, or JSON.
fn run_get(command: GetCommand) -> Result<(), Failure> {
    let (args, values_all) = match &command {
        GetCommand::Values(a) => (&a.get, Some(a.all)),
        GetCommand::Manifest(a) | GetCommand::Notes(a) | GetCommand::Hooks(a) => (a, None),
    };
    let (client, release) = connect(&args.common)?;
    let json_output = args.common.output == Output::Json;
    let mut out = io::stdout().lock();
    if let Some(all) = values_all {
        let values = client.values(&release, args.revision, all)?;
        match json_output {
            true => writeln!(out, "{:#}", values.values)?,
            false => {
                let heading = if all {
                    "COMPUTED VALUES:"
                } else {
                    "USER-SUPPLIED VALUES:"
                };
                write!(out, "{heading}\n{}", values.yaml)?
            }
        }
        return Ok(());
    }
    let info = match args.revision {
        Some(revision) => client.revision(&release, revision)?,
        None => client.status(&release)?,
    };
    match (&command, json_output) {
        (GetCommand::Manifest(_), true) => {
            writeln!(out, "{:#}", json!({ "manifest": info.manifest }))?
        }
        (GetCommand::Manifest(_), false) => writeln!(out, "{}", info.manifest)?,
        (GetCommand::Notes(_), true) => writeln!(out, "{:#}", json!({ "notes": info.notes }))?,
        (GetCommand::Notes(_), false) if !info.notes.is_empty() => {
            writeln!(out, "NOTES:\n{}", info.notes)?
        }
        (GetCommand::Notes(_), false) => {}
        (GetCommand::Hooks(_), true) => writeln!(out, "{:#}", json!(info.hooks))?,
        (_, _) => {
            for hook in &info.hooks {
                writeln!(out, "---\n# Source: {}\n{}", hook.path, hook.manifest)?;
            }
        }
    }
    Ok(())
}

fn run_chart(command: ChartCommand) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    match command {
        ChartCommand::Pull(args) => {
            let source = ChartSource::oci(&args.reference, args.version.as_deref())?;
            let pulled = args.registry.client(args.timeout)?.pull(&source)?;
            match args.output {
                Output::Json => writeln!(out, "{:#}", json!(pulled))?,
                Output::Text => {
                    writeln!(out, "reference: {}", pulled.reference)?;
                    writeln!(out, "version: {}", pulled.version)?;
                    writeln!(out, "manifest digest: {}", pulled.manifest_digest)?;
                    writeln!(out, "chart digest: {}", pulled.chart_digest)?;
                    let from = if pulled.cached {
                        " (from the cache)"
                    } else {
                        ""
                    };
                    writeln!(out, "path: {}{from}", pulled.path.display())?;
                }
            }
        }
        ChartCommand::Versions(args) => {
            let reference: OciReference = args.reference.parse()?;
            let versions = args.registry.client(args.timeout)?.versions(&reference)?;
            match args.output {
                Output::Json => writeln!(
                    out,
                    "{:#}",
                    json!({ "reference": args.reference, "versions": versions })
                )?,
                Output::Text => {
                    for version in versions {
                        writeln!(out, "{version}")?;
                    }
                }
            }
        }
    }
    Ok(())
}

fn run_registry(command: RegistryCommand) -> Result<(), Failure> {
    let (login, args) = match command {
        RegistryCommand::Login(args) => (true, args),
        RegistryCommand::Logout(args) => (false, args),
    };
    let client = args
        .registry
        .client(chainctl_core::DEFAULT_NETWORK_TIMEOUT)?;
    let file = if login {
        client.registry_login(&args.host)?
    } else {
        client.registry_logout(&args.host)?
    };
    let mut out = io::stdout().lock();
    let what = if login {
        "logged in to"
    } else {
        "logged out of"
    };
    match args.output {
        Output::Json => writeln!(
            out,
            "{:#}",
            json!({ "host": args.host, "loggedIn": login, "configFile": file })
        )?,
        Output::Text => writeln!(
            out,
            "{what} {} (credentials in {})",
            args.host,
            file.display()
        )?,
    }
    Ok(())
}

/// Where the state file is, by the flags and CHAINCTL_STATE_PATH.
fn state_location(
    state_file: &Option<String>,
    state_path: &Option<PathBuf>,
) -> Result<StateLocation, Failure> {
    let config = StateFileConfig {
        state_file: state_file.clone(),
        state_path: state_path.clone(),
    };
    Ok(config.resolve()?)
}

/// Opens the state file before any change to the cluster, so an unusable
/// state file stops the action before it starts.
fn open_store(common: &CommonArgs) -> Result<StateStore, Failure> {
    let location = state_location(&common.state_file, &common.state_path)?;
    let store = StateStore::open_location(&location, StateStoreOptions::default())?;
    for warning in store.warnings() {
        eprintln!("chainctl: warning: {warning}");
    }
    Ok(store)
}

/// Writes the record. When that fails the record is printed to stderr so it
/// is not lost, and a successful action exits with code 7.
fn save(
    store: &mut StateStore,
    record: &ExecutionStateRecord,
    action_error: Option<&Error>,
) -> Result<(), Failure> {
    let json = serde_json::to_string(record).unwrap_or_default();
    let unsaved = || {
        interrupts()
            .unsaved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    };
    *unsaved() = Some(json.clone());
    let written = store.record(record.clone());
    *unsaved() = None;
    let Err(err) = written else {
        return Ok(());
    };
    say!(
        "chainctl: the record of this action could not be written to {}: {}",
        store.path().display(),
        with_causes(&err)
    );
    say!("{}\n{json}", keep_record_note());
    match action_error {
        Some(_) => Ok(()),
        None => Err(Failure {
            code: 7,
            kind: "state",
            message: format!(
                "the action succeeded but its record was not written to {} ({}); the record is printed above",
                store.path().display(),
                with_causes(&err)
            ),
        }),
    }
}

/// What precedes a record printed because it could not be written: the
/// record follows on a line of its own, which `state import` reads back.
fn keep_record_note() -> &'static str {
    "chainctl: the record is on the next line, to keep: once the state file can be written, \
     put it back with `chainctl state import FILE` (FILE: that line, or all of this output \
     saved to a file; - reads stdin)"
}

/// After an action failed: if a signal cancelled it, its record says so,
/// with the revision and status Helm left once Helm has marked it (see
/// [`settle`]).
fn note_interrupted(record: &mut ExecutionStateRecord, client: &Client, release: &ReleaseRef) {
    let Some((signal, _)) = interrupts().received() else {
        return;
    };
    if !record.is_cancelled() {
        return;
    }
    let left = match record.action {
        // An uninstall makes no revision: nothing to wait for.
        Action::Uninstall => None,
        _ => settle(client, release, record),
    };
    if let Some(rel) = left.as_ref().filter(|r| r.status.starts_with("pending-")) {
        say!(
            "chainctl: warning: Helm had not marked revision {} of {release} within {} s: it is \
             left {}; `chainctl app status --release {} -n {}` says how to recover",
            rel.revision,
            SETTLE_PENDING.as_secs(),
            rel.status,
            release.name(),
            release.namespace()
        );
    }
    record.finish_cancelled(signal, left.as_ref());
}

/// The revision a cancelled action made, once Helm has marked it (no longer
/// `pending-*`, which Helm does within milliseconds of the cancel), waiting
/// at most [`SETTLE_PENDING`]; `None` when no revision of the action
/// appears within [`SETTLE_ABSENT`] (it was cancelled before Helm stored
/// one). Read with a client whose calls the signal does not cancel.
fn settle(
    client: &Client,
    release: &ReleaseRef,
    record: &ExecutionStateRecord,
) -> Option<ReleaseInfo> {
    let reader = client.with_cancel_token(None);
    let start = Instant::now();
    loop {
        let ours = (reader.status(release).ok()).filter(|r| record.made_revision(r));
        let waited = start.elapsed();
        match &ours {
            Some(rel) if !rel.status.starts_with("pending-") => return ours,
            Some(_) if waited >= SETTLE_PENDING => return ours,
            None if waited >= SETTLE_ABSENT => return None,
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// The source recorded for a release, for `upgrade` without --bundle or
/// --chart.
fn invalid_input(message: String) -> Error {
    Error::InvalidInput { message }
}

/// The source recorded for a release's current deployment.
fn recorded(common: &CommonArgs) -> Result<RecordSource, Failure> {
    let location = state_location(&common.state_file, &common.state_path)?;
    let no_record = || {
        Failure::from(Error::InvalidInput {
            message: format!(
                "no source given and no deployment of {}/{} recorded in {}: pass --bundle PATH or --chart oci://...",
                common.namespace,
                common.release,
                location.path.display()
            ),
        })
    };
    let state = match StateStore::load(&location.path) {
        Ok(state) => state,
        Err(Error::NotFound { .. }) => return Err(no_record()),
        Err(err) => return Err(err.into()),
    };
    let (release, note) = release_state(&state, common).ok_or_else(no_record)?;
    let source = (release.current.as_ref())
        .and_then(|rec| rec.source.clone())
        .ok_or_else(no_record)?;
    if let Some(note) = note {
        eprintln!("chainctl: warning: {note}");
    }
    Ok(source)
}

/// The source recorded for a release, for `upgrade` without --bundle or
/// --chart.
fn recorded_source(common: &CommonArgs) -> Result<ChartSource, Failure> {
    let chart = recorded(common)?.to_chart_source()?;
    eprintln!(
        "chainctl: no --bundle or --chart given: reusing the source recorded for {}/{}: {chart}",
        common.namespace, common.release
    );
    Ok(chart)
}

/// `upgrade --locked`: the digest recorded in state, provided the recorded
/// tag still points at it.
fn locked_source(common: &CommonArgs, client: &Client) -> Result<ChartSource, Failure> {
    let release = format!("{}/{}", common.namespace, common.release);
    let RecordSource::Oci(oci) = recorded(common)? else {
        return Err(invalid_input(format!(
            "--locked pins OCI charts by digest, but {release} was deployed from a local bundle"
        ))
        .into());
    };
    let recorded_digest = oci.manifest_digest.clone().ok_or_else(|| {
        invalid_input(format!(
            "no manifest digest is recorded for {release}: upgrade once without --locked"
        ))
    })?;
    let reference: OciReference = oci.reference.parse()?;
    let tag = match (reference.tag(), &oci.resolved_version) {
        (Some(tag), _) => tag.to_string(),
        (None, Some(version)) => version_to_tag(version),
        (None, None) => {
            return Err(
                invalid_input(format!("no tag or version is recorded for {release}")).into(),
            );
        }
    };
    let tagged: OciReference = format!(
        "oci://{}/{}:{tag}",
        reference.registry(),
        reference.repository()
    )
    .parse()?;
    let current = client.resolve_tag(&tagged)?;
    if current != recorded_digest {
        return Err(invalid_input(format!(
            "--locked: {tagged} now points to {current}, but the state file records {recorded_digest} for {release}; \
             upgrade without --locked to take the new digest"
        ))
        .into());
    }
    eprintln!(
        "chainctl: --locked: installing {tagged}@{recorded_digest}, as recorded for {release}"
    );
    Ok(ChartSource::oci(
        &format!("{tagged}@{recorded_digest}"),
        None,
    )?)
}

fn run_state(command: StateCommand) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    match command {
        StateCommand::Path(args) => {
            let location = state_location(&args.state_file, &args.state_path)?;
            match args.output {
                Output::Json => writeln!(
                    out,
                    "{:#}",
                    json!({ "path": location.path, "rule": location.rule.to_string() })
                )?,
                Output::Text => writeln!(
                    out,
                    "{} (chosen by {})",
                    location.path.display(),
                    location.rule
                )?,
            }
        }
        StateCommand::Validate(args) => {
            let path = match args.file {
                Some(file) => file,
                None => state_location(&args.state.state_file, &args.state.state_path)?.path,
            };
            let state = StateStore::load(&path)?;
            let (releases, records) = (state.releases.len(), state.record_count());
            match args.state.output {
                Output::Json => writeln!(
                    out,
                    "{:#}",
                    json!({ "path": path, "valid": true, "releases": releases, "records": records })
                )?,
                Output::Text => writeln!(
                    out,
                    "{} is valid: schema version {}, {releases} releases, {records} records",
                    path.display(),
                    state.schema_version
                )?,
            }
        }
        StateCommand::Import(args) => import_records(&args, &mut out)?,
        StateCommand::Show(args) => {
            let location = state_location(&args.state.state_file, &args.state.state_path)?;
            let state = match StateStore::load(&location.path) {
                Err(Error::NotFound { .. }) => StateFile::default(),
                other => other?,
            };
            match &args.release {
                Some(name) => {
                    ReleaseRef::new(name, &args.namespace)?;
                    let found: Vec<_> = (state.find(name, &args.namespace))
                        .filter(|(cluster, _)| {
                            args.cluster.is_none() || *cluster == args.cluster.as_deref()
                        })
                        .collect();
                    let (cluster, release) = match found.as_slice() {
                        [one] => *one,
                        [] => {
                            return Err(Failure::from(Error::NotFound {
                                message: format!(
                                    "no record of {}/{name} in {}",
                                    args.namespace,
                                    location.path.display()
                                ),
                            }));
                        }
                        several => {
                            let ids: Vec<_> = several
                                .iter()
                                .map(|(c, _)| c.unwrap_or("(no cluster recorded)"))
                                .collect();
                            return Err(invalid_input(format!(
                                "{}/{name} is recorded for several clusters ({}): pass --cluster ID",
                                args.namespace,
                                ids.join(", ")
                            ))
                            .into());
                        }
                    };
                    let key = StateFile::key(cluster, name, &args.namespace);
                    match args.state.output {
                        Output::Json => {
                            let mut body = json!(release);
                            body["cluster"] = json!(cluster);
                            writeln!(out, "{body:#}")?
                        }
                        Output::Text => {
                            writeln!(out, "{key}")?;
                            match &release.current {
                                Some(rec) => writeln!(out, "current: {}", record_line(rec))?,
                                None => {
                                    writeln!(out, "current: none (uninstalled or never deployed)")?
                                }
                            }
                            writeln!(
                                out,
                                "history ({} records, oldest first):",
                                release.history.len()
                            )?;
                            for rec in &release.history {
                                writeln!(out, "  {}", record_line(rec))?;
                            }
                        }
                    }
                }
                None => match args.state.output {
                    Output::Json => writeln!(out, "{:#}", json!(state))?,
                    Output::Text => {
                        writeln!(
                            out,
                            "{} ({} releases)",
                            location.path.display(),
                            state.releases.len()
                        )?;
                        // Grouped by cluster: keys sort by it.
                        let mut shown_cluster = None;
                        for (key, release) in &state.releases {
                            let (cluster, name) = match key.matches('/').count() {
                                2 => key
                                    .split_once('/')
                                    .map_or((None, key.as_str()), |(c, n)| (Some(c), n)),
                                _ => (None, key.as_str()),
                            };
                            if shown_cluster != Some(cluster) {
                                let server = (release.history.last())
                                    .and_then(|r| r.cluster.as_ref())
                                    .and_then(|c| c.server.clone());
                                match (cluster, server) {
                                    (Some("rehearsal"), _) => {
                                        writeln!(out, "rehearsals (memory driver):")?
                                    }
                                    (Some(id), Some(server)) => {
                                        writeln!(out, "cluster {id} ({server}):")?
                                    }
                                    (Some(id), None) => writeln!(out, "cluster {id}:")?,
                                    (None, _) => writeln!(
                                        out,
                                        "no cluster recorded (before schema version 3):"
                                    )?,
                                }
                                shown_cluster = Some(cluster);
                            }
                            let current = release
                                .current
                                .as_ref()
                                .map_or("none".to_string(), record_line);
                            writeln!(out, "  {name}: {current}")?;
                        }
                    }
                },
            }
        }
    }
    Ok(())
}

/// `state import FILE|-`: the records in the file put back into the state
/// file, each under the lock.
fn import_records(args: &StateImportArgs, out: &mut impl Write) -> Result<(), Failure> {
    let (name, text) = read_import_input(&args.file)?;
    let records = records_in(&name, &text)?;
    let location = state_location(&args.state.state_file, &args.state.state_path)?;
    let mut store = StateStore::open_location(&location, StateStoreOptions::default())?;
    for warning in store.warnings() {
        say!("chainctl: warning: {warning}");
    }
    let path = store.path().display().to_string();
    let mut results = Vec::new();
    for record in records {
        let key = StateFile::record_key(&record);
        let what = format!(
            "the {} record of {}/{} started at {}",
            record.action, record.namespace, record.release, record.started_at
        );
        let imported = store.import(record)? == Imported::Added;
        if args.state.output == Output::Text {
            match imported {
                true => writeln!(out, "imported {what} into {path}")?,
                false => writeln!(out, "{path} holds {what} already: nothing changed")?,
            }
        }
        results.push(json!({ "key": key, "imported": imported }));
    }
    if args.state.output == Output::Json {
        writeln!(out, "{:#}", json!({ "path": path, "records": results }))?;
    }
    Ok(())
}

/// The most `state import` reads: a record is a few kilobytes, and a
/// saved stderr not much more.
const IMPORT_LIMIT: u64 = 16 << 20;

/// The text of FILE, or stdin for `-`, with the name to give in messages.
fn read_import_input(file: &std::path::Path) -> Result<(String, String), Failure> {
    let (name, reader): (String, Box<dyn Read>) = if file.as_os_str() == "-" {
        ("standard input".into(), Box::new(io::stdin()))
    } else {
        let opened = std::fs::File::open(file).map_err(|e| {
            Failure::from(invalid_input(format!(
                "cannot read {}: {e}",
                file.display()
            )))
        })?;
        (file.display().to_string(), Box::new(opened))
    };
    let mut bytes = Vec::new();
    reader
        .take(IMPORT_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::from(invalid_input(format!("cannot read {name}: {e}"))))?;
    if bytes.len() as u64 > IMPORT_LIMIT {
        return Err(invalid_input(format!(
            "{name} is larger than {} MiB: give the record chainctl printed, not another file",
            IMPORT_LIMIT >> 20
        ))
        .into());
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        Failure::from(invalid_input(format!(
            "{name} is not UTF-8 text: give the record chainctl printed"
        )))
    })?;
    Ok((name, text))
}

/// The records in what chainctl printed on exit 7: one JSON record, or
/// lines of which those starting with `{` are records (the others are
/// chainctl's messages, which may run over several lines).
fn records_in(name: &str, text: &str) -> Result<Vec<ExecutionStateRecord>, Failure> {
    let bad = |at: String, err: Error| {
        Failure::from(invalid_input(format!(
            "{name}{at}: {}; nothing was imported",
            err.message()
        )))
    };
    let trimmed = text.trim();
    if trimmed.starts_with('{') && serde_json::from_str::<serde_json::Value>(trimmed).is_ok() {
        let record = ExecutionStateRecord::from_json(trimmed).map_err(|e| bad(String::new(), e))?;
        return Ok(vec![record]);
    }
    let mut records = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        let at = format!(", line {}", i + 1);
        if line.starts_with('{') {
            records.push(ExecutionStateRecord::from_json(line).map_err(|e| bad(at, e))?);
        }
    }
    if records.is_empty() {
        return Err(invalid_input(format!(
            "{name} holds no record: chainctl prints one, as a line of JSON after \
             \"the record is on the next line\", when it exits 7"
        ))
        .into());
    }
    Ok(records)
}

/// One record on one line, for text output.
fn record_line(rec: &ExecutionStateRecord) -> String {
    let chart = rec
        .chart
        .as_ref()
        .map_or(String::new(), |c| format!(" {}-{}", c.name, c.version));
    let revision = rec
        .helm_revision
        .map_or(String::new(), |r| format!(" revision {r}"));
    let error = rec
        .error
        .as_ref()
        .map_or(String::new(), |e| format!(": {}", e.message));
    format!(
        "{} {} {}{chart}{revision} by {} ({} ms){error}",
        rec.finished_at,
        word(&rec.action),
        word(&rec.outcome),
        rec.operator,
        rec.duration_ms
    )
}

/// A unit enum as its JSON word (`install`, `succeeded`).
fn word(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(word)) => word,
        other => format!("{other:?}"),
    }
}

/// Builds the client the common flags describe.
fn client(
    common: &CommonArgs,
    registry: RegistryOptions,
    offline: bool,
    max_chart_size: Option<u64>,
) -> Result<Client, Failure> {
    let storage = match common.driver.unwrap_or(Driver::Secret) {
        Driver::Secret => Storage::Secret,
        Driver::Configmap => Storage::ConfigMap,
        Driver::Memory => Storage::Memory,
    };
    let mut builder = Client::builder()
        .storage(storage)
        .registry(registry)
        .offline(offline);
    if let Some(max) = max_chart_size {
        builder = builder.max_chart_size(max);
    }
    if let Some(path) = &common.kubeconfig {
        builder = builder.kubeconfig(path);
    }
    if let Some(context) = &common.kube_context {
        builder = builder.kube_context(context);
    }
    let kube = &common.kube;
    if let Some(token) = &kube.kube_token {
        builder = builder.kube_token(token);
    }
    if let Some(user) = &kube.kube_as_user {
        builder = builder.kube_as_user(user);
    }
    for group in &kube.kube_as_group {
        builder = builder.kube_as_group(group);
    }
    if let Some(url) = &kube.kube_apiserver {
        builder = builder.kube_apiserver(url);
    }
    if let Some(file) = &kube.kube_ca_file {
        builder = builder.kube_ca_file(file);
    }
    if let Some(name) = &kube.kube_tls_server_name {
        builder = builder.kube_tls_server_name(name);
    }
    if let Some(dir) = kube_cache_dir() {
        builder = builder.cache_dir(dir);
    }
    builder = builder
        .kube_insecure_skip_tls_verify(kube.kube_insecure_skip_tls_verify)
        .burst_limit(kube.burst_limit)
        .qps(kube.qps);
    let least = match (common.debug, common.verbose) {
        (true, _) => EventLevel::Debug,
        (false, true) => EventLevel::Info,
        (false, false) => EventLevel::Warn,
    };
    Ok(builder
        .on_event(print_events(least))
        .cancel_token(interrupts().token.clone())
        .build()?)
}

/// Prints events of at least `least` importance to stderr; warnings always.
fn print_events(least: EventLevel) -> impl Fn(&Event) + Send + Sync + 'static {
    move |event: &Event| {
        if event.level >= least {
            let prefix = if event.level == EventLevel::Warn {
                "warning: "
            } else {
                ""
            };
            eprintln!("chainctl: {prefix}{event}");
        }
    }
}

/// Where helm (client-go) keeps its discovery cache: `KUBECACHEDIR`, else
/// `~/.kube/cache`.
fn kube_cache_dir() -> Option<PathBuf> {
    match std::env::var_os("KUBECACHEDIR") {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".kube").join("cache")),
    }
}

/// Fills in the namespace as helm chooses it (-n or HELM_NAMESPACE, else
/// the kubeconfig context's, else `default`) and the cluster the records
/// are of, both read by client-go in the shim.
fn resolve_kube(common: &mut CommonArgs) -> Result<(), Failure> {
    let resolved = client(common, RegistryOptions::default(), false, None)?
        .resolve_kube(common.namespace_flag.as_deref())?;
    common.namespace = resolved.namespace.clone();
    common.resolved = Some(resolved);
    Ok(())
}

/// The cluster records of this command are filed under: the rehearsal
/// pseudo-cluster on the memory driver, else the kubeconfig's.
fn record_cluster(common: &CommonArgs) -> Option<RecordCluster> {
    match common.driver {
        Some(Driver::Memory) => Some(RecordCluster::rehearsal()),
        _ => common.resolved.as_ref()?.record_cluster(),
    }
}

/// Names the cluster, context and driver of a record of this command.
fn stamp(record: &mut ExecutionStateRecord, common: &CommonArgs, client: &Client) {
    record.cluster = record_cluster(common);
    record.driver = Some(client.storage_driver());
    record.kube_context = common
        .resolved
        .as_ref()
        .map(|r| r.context.clone())
        .filter(|c| !c.is_empty())
        .or_else(|| common.kube_context.clone());
}

/// What the state file records of the release in this command's cluster;
/// records of no known cluster (written before chainctl recorded clusters)
/// stand in when there is none, and the note says so.
fn release_state<'a>(
    state: &'a StateFile,
    common: &CommonArgs,
) -> Option<(&'a ReleaseState, Option<&'static str>)> {
    let cluster = record_cluster(common);
    let id = cluster.as_ref().map(|c| c.id.as_str());
    if let Some(found) = state.release_in(id, &common.release, &common.namespace) {
        return Some((found, None));
    }
    let legacy = state.release_in(None, &common.release, &common.namespace)?;
    Some((
        legacy,
        Some(
            "the record predates chainctl's recording of clusters, so it may be of another cluster",
        ),
    ))
}

fn connect(common: &CommonArgs) -> Result<(Client, ReleaseRef), Failure> {
    let release = ReleaseRef::new(&common.release, &common.namespace)?;
    Ok((
        client(common, RegistryOptions::default(), false, None)?,
        release,
    ))
}

/// What a mutating command is about to do, shown on a terminal before it
/// asks.
struct Plan {
    /// The action, as a verb: `install`, `upgrade`, `roll back`, `uninstall`.
    verb: &'static str,
    release: ReleaseRef,
    /// The chart deployed now, or why that is not known.
    from: String,
    /// What the release will hold afterwards.
    to: String,
    /// Further lines (label, value): where the chart comes from and its
    /// digests. An empty label continues the line above.
    details: Vec<(&'static str, String)>,
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "chainctl will {} release {} in namespace {}",
            self.verb,
            self.release.name(),
            self.release.namespace()
        )?;
        let line = |f: &mut std::fmt::Formatter<'_>, label: &str, value: &str| {
            let label = if label.is_empty() {
                String::new()
            } else {
                format!("{label}:")
            };
            writeln!(f, "  {label:<10}{value}")
        };
        line(f, "chart", &format!("{} -> {}", self.from, self.to))?;
        for (label, value) in &self.details {
            line(f, label, value)?;
        }
        Ok(())
    }
}

/// A revision's chart, for a plan: `hello 0.1.0`.
fn chart_words(rel: &ReleaseInfo) -> String {
    format!("{} {}", rel.chart.name, rel.chart.version)
}

/// The release as it is now, for a plan's "from". A failed lookup shows
/// its reason: the plan informs, and Helm reports the real error later.
fn describe_current(current: &Result<ReleaseInfo, Error>) -> String {
    match current {
        Ok(rel) => format!(
            "{} (revision {}, {})",
            chart_words(rel),
            rel.revision,
            rel.status
        ),
        Err(err) if err.kind() == ErrorKind::NotFound => "not installed".to_string(),
        Err(err) => format!("unknown ({err})"),
    }
}

/// The plan of an install or upgrade, and for an OCI chart the source pinned
/// to the digest the plan shows, so that what is approved is what is
/// installed even if the tag moves meanwhile. Fails when the chart cannot be
/// had: nothing has changed yet.
fn deploy_plan(
    client: &Client,
    verb: &'static str,
    source: &ChartSource,
    opts: &ReleaseOptions,
) -> Result<(Plan, Option<ChartSource>), Failure> {
    let current = client.status(opts.release());
    let verb = match &current {
        Err(err) if err.kind() == ErrorKind::NotFound && opts.install_if_missing() => "install",
        _ => verb,
    };
    let (to, details, pinned) = match source {
        ChartSource::Oci(_) => {
            // Fills the chart cache: the install right after reads it.
            let pulled = client.pull_within(source, opts.timeout())?;
            let shown = pulled.reference.split('@').next().unwrap_or_default();
            let details = vec![
                ("source", shown.to_string()),
                ("digest", format!("{} (manifest)", pulled.manifest_digest)),
                ("", format!("{} (chart archive)", pulled.chart_digest)),
            ];
            let pinned = ChartSource::oci(&pulled.reference, None)?;
            (
                format!("{} {}", pulled.chart.name, pulled.version),
                details,
                Some(pinned),
            )
        }
        ChartSource::Bundle(bundle) => {
            let rendered = client.render(source, opts)?;
            let details = vec![
                ("source", bundle.path().display().to_string()),
                (
                    "digest",
                    format!("{} (bundle content)", bundle.content_digest()?),
                ),
            ];
            (chart_words(&rendered.release), details, None)
        }
    };
    let plan = Plan {
        verb,
        release: opts.release().clone(),
        from: describe_current(&current),
        to,
        details,
    };
    Ok((plan, pinned))
}

/// The plan of a rollback: from the current revision to the target's chart.
fn rollback_plan(client: &Client, release: &ReleaseRef, revision: Option<u32>) -> Plan {
    let current = client.status(release);
    // Helm rolls back to the revision before the last one by default.
    let target = revision.or_else(|| {
        current
            .as_ref()
            .ok()
            .map(|rel| rel.revision.saturating_sub(1))
    });
    let wanted = target.map_or("the previous revision".to_string(), |n| {
        format!("revision {n}")
    });
    let history = match client.history(release) {
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(Vec::new()),
        other => other,
    };
    let to = match (history, target) {
        (Ok(revisions), Some(n)) => match revisions.iter().find(|rel| rel.revision == n) {
            Some(rel) => format!("{} ({wanted})", chart_words(rel)),
            None => format!("{wanted}, which is not in the history"),
        },
        (Ok(_), None) => wanted,
        (Err(err), _) => format!("{wanted} (unknown: {err})"),
    };
    Plan {
        verb: "roll back",
        release: release.clone(),
        from: describe_current(&current),
        to,
        details: Vec::new(),
    }
}

/// The plan of an uninstall.
fn uninstall_plan(client: &Client, release: &ReleaseRef, keep_history: bool) -> Plan {
    let to = if keep_history {
        "removed, history kept"
    } else {
        "removed"
    };
    Plan {
        verb: "uninstall",
        release: release.clone(),
        from: describe_current(&client.status(release)),
        to: to.to_string(),
        details: Vec::new(),
    }
}

/// Asks on the terminal before a change, after showing the plan `gather`
/// builds. --confirm approves in advance; with no terminal to ask on, the
/// change is refused. Either way the plan is not gathered: those paths
/// cost nothing.
fn confirm(
    approved: bool,
    intent: &str,
    gather: impl FnOnce() -> Result<Plan, Failure>,
) -> Result<(), Failure> {
    if approved {
        return Ok(());
    }
    if !(io::stdin().is_terminal() && io::stderr().is_terminal()) {
        return Err(refused(format!(
            "refusing to {intent} without confirmation: there is no terminal to ask on; pass --confirm to approve"
        )));
    }
    let plan = gather()?;
    eprint!("{plan}Proceed? [y/N] ");
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
        Ok(())
    } else {
        Err(refused(format!(
            "did not {intent}: not confirmed (answer y to proceed, or pass --confirm)"
        )))
    }
}

fn deploy(
    action: Action,
    args: &ChartArgs,
    locked: bool,
    extra: impl FnOnce(chainctl_core::ReleaseOptionsBuilder) -> chainctl_core::ReleaseOptionsBuilder,
) -> Result<(), Failure> {
    let common = &args.common;
    let client = client(
        common,
        args.registry.options()?,
        args.registry.offline,
        args.registry.max_chart_size,
    )?;
    let source = match (&args.bundle, &args.chart) {
        _ if locked => locked_source(common, &client)?,
        (None, None) if action == Action::Upgrade => recorded_source(common)?,
        _ => ChartSource::from_flags(
            args.bundle.as_deref(),
            args.chart.as_deref(),
            // helm's --devel: a constraint that admits pre-releases, unless
            // --version says which.
            match (&args.version, args.devel && args.chart.is_some()) {
                (Some(version), _) => Some(version.as_str()),
                (None, true) => Some(">0.0.0-0"),
                (None, false) => None,
            },
        )?,
    };
    let mut builder = ReleaseOptions::builder(&common.release, &common.namespace)
        .create_namespace(args.create_namespace)
        .dry_run(args.dry_run.unwrap_or_default())
        .wait(args.wait)
        .timeout(args.timeout)
        .atomic(args.atomic);
    for file in &args.values {
        builder = builder.values_file(file);
    }
    for expr in &args.set {
        builder = builder.set(expr);
    }
    for expr in &args.set_string {
        builder = builder.set_string(expr);
    }
    for expr in &args.set_file {
        builder = builder.set_file(expr);
    }
    for expr in &args.set_json {
        builder = builder.set_json(expr);
    }
    for expr in &args.set_literal {
        builder = builder.set_literal(expr);
    }
    if let Some(description) = &args.description {
        builder = builder.description(description);
    }
    for (key, value) in &args.labels {
        builder = builder.label(key, value);
    }
    for version in &args.api_versions {
        builder = builder.api_version(version);
    }
    if let Some(program) = &args.post_renderer {
        builder = builder.post_renderer(program, &args.post_renderer_args);
    }
    builder = builder
        .skip_crds(args.skip_crds)
        .dependency_update(args.dependency_update)
        .no_hooks(args.no_hooks)
        .wait_for_jobs(args.wait_for_jobs)
        .force(args.force)
        .take_ownership(args.take_ownership)
        .skip_schema_validation(args.skip_schema_validation)
        .kube_version(args.kube_version.clone().unwrap_or_default());
    let opts = extra(builder).build()?;
    let dry_run = opts.dry_run();
    let verb = if action == Action::Install {
        "install"
    } else {
        "upgrade"
    };
    let mut store = None;
    let mut pinned = None;
    if dry_run == DryRun::None {
        confirm(
            args.confirm,
            &format!("{verb} release {} from {source}", opts.release()),
            || {
                let (plan, pin) = deploy_plan(&client, verb, &source, &opts)?;
                pinned = pin;
                Ok(plan)
            },
        )?;
        store = Some(open_store(common)?);
    }
    // Digests keyed for this state file; a dry run creates no key, and
    // without one its digest compares only within this run.
    let key = match &store {
        Some(store) => Some(store.values_key()?),
        None => match state_location(&common.state_file, &common.state_path) {
            Ok(location) => chainctl_core::state::ValuesKey::for_state_file(&location.path, false)?,
            Err(_) => chainctl_core::state::ValuesKey::from_env()?,
        },
    };
    let client = match key {
        Some(key) => client.with_values_key(key),
        None => client,
    };
    // The record names the source as given; the action installs what the
    // plan showed.
    let mut record = ExecutionStateRecord::for_chart(action, &source, &opts)?;
    stamp(&mut record, common, &client);
    let deployed = pinned.as_ref().unwrap_or(&source);
    // A dry run records nothing: a signal ends it at once.
    let in_flight = store.is_some().then(|| interrupts().in_flight());
    let result = match action {
        Action::Install => client.install_detailed(deployed, &opts),
        _ => client.upgrade_detailed(deployed, &opts),
    };
    record.finish_with_outcome(&result);
    if result.is_err() && in_flight.is_some() {
        note_interrupted(&mut record, &client, opts.release());
    }
    let result = result.map_err(Error::from);
    if let Some(store) = &mut store {
        save(store, &record, result.as_ref().err())?;
    }
    drop(in_flight);
    let report = result?;
    let shown_action = if report.installed { "install" } else { verb };
    let mut out = io::stdout().lock();
    match common.output {
        Output::Json => {
            // A dry run writes nothing; the record shows what it would write.
            let record_key = if dry_run == DryRun::None {
                "record"
            } else {
                "wouldRecord"
            };
            let release = match args.show_secrets {
                true => report.release.clone(),
                false => report.release.with_secret_data_redacted()?,
            };
            let body = json!({
                "action": shown_action,
                "dryRun": dry_run,
                "release": release,
                "phases": report.phases,
                record_key: record,
            });
            writeln!(out, "{body:#}")?;
        }
        Output::Text if dry_run != DryRun::None => {
            write!(out, "{}", report.release.template_output(!opts.no_hooks()))?;
        }
        Output::Text => {
            let rel = &report.release;
            writeln!(
                out,
                "{} {}: release {} in namespace {} is at revision {} ({})",
                shown_action,
                if rel.status == "deployed" {
                    "succeeded"
                } else {
                    "finished"
                },
                rel.name,
                rel.namespace,
                rel.revision,
                rel.status
            )?;
            writeln!(out, "chart: {}", chart_line(rel))?;
            if let Some(path) = store.as_ref().map(StateStore::path) {
                writeln!(out, "recorded in: {}", path.display())?;
            }
            if !rel.notes.is_empty() {
                writeln!(out, "\nNOTES:\n{}", rel.notes.trim_end())?;
            }
        }
    }
    Ok(())
}

/// `app status --check`: the release in the cluster against the current
/// record of it in the state file, which is read, never written or locked.
/// Prints the status and each difference; a difference exits 8.
fn check_status(common: &CommonArgs) -> Result<(), Failure> {
    let release = ReleaseRef::new(&common.release, &common.namespace)?;
    let release = &release;
    let location = state_location(&common.state_file, &common.state_path)?;
    let state_file = location.path.display().to_string();
    let nothing_to_compare = |why: String| {
        Failure::from(Error::NotFound {
            message: format!(
                "{why}, so there is nothing to compare the cluster with: the state file records \
                 what chainctl installs, upgrades and rolls back (pass --state-path or \
                 --state-file if the release was recorded in another file)"
            ),
        })
    };
    let state = match StateStore::load(&location.path) {
        Ok(state) => state,
        Err(Error::NotFound { .. }) => {
            return Err(nothing_to_compare(format!(
                "there is no state file at {state_file}"
            )));
        }
        Err(err) => return Err(err.into()),
    };
    // The current record; after a failure with none (a failed first
    // install), the failed one, with the revision Helm recorded for it.
    let Some((recorded, note)) = release_state(&state, common) else {
        return Err(nothing_to_compare(format!(
            "{state_file} records no deployment of {release} in this cluster"
        )));
    };
    let Some(record) = recorded.current.as_ref().or_else(|| {
        (recorded.history.iter().rev())
            .find(|r| r.helm_revision.is_some() && r.action != Action::Uninstall)
    }) else {
        return Err(nothing_to_compare(format!(
            "{state_file} records no deployment of {release} in this cluster"
        )));
    };
    if let Some(note) = note {
        eprintln!("chainctl: warning: {note}");
    }
    // Read the release where it was recorded: the recorded driver, unless
    // --driver (or HELM_DRIVER) says otherwise.
    let mut reading = common.clone();
    if let (None, Some(driver)) = (common.driver, record.driver) {
        reading.driver = Some(match driver {
            StorageDriver::Secret => Driver::Secret,
            StorageDriver::ConfigMap => Driver::Configmap,
            StorageDriver::Memory => Driver::Memory,
        });
    }
    let mut client = client(&reading, RegistryOptions::default(), false, None)?;
    // The digests of this state file's records are keyed with its key.
    if let Some(key) = chainctl_core::state::ValuesKey::for_state_file(&location.path, false)? {
        client = client.with_values_key(key);
    }
    let client = &client;
    let (cluster, differences) = match client.status(release) {
        Ok(info) => {
            let differences = record.drift(&info);
            (Some(info), differences)
        }
        Err(err) if err.kind() == ErrorKind::NotFound => {
            (None, vec![Drift::release_missing(record)])
        }
        Err(err) => return Err(err.into()),
    };
    // The newest record, when a signal cancelled it: the differences are
    // that action's doing, not someone else's.
    let interrupted = (recorded.history.last()).filter(|r| r.is_cancelled());
    let hint = (!differences.is_empty()).then(|| match interrupted {
        Some(cancelled) => interrupted_hint(common, cancelled, record),
        None => {
            let mut hint = drift_hint(common, record, cluster.is_none());
            let only_manifest = (differences.iter())
                .all(|d| d.field == chainctl_core::state::DriftField::ManifestDigest);
            if only_manifest
                && (record.manifest_digest.as_deref())
                    .is_some_and(|d| d.starts_with("hmac-sha256:"))
            {
                hint.push_str(
                    "; if nothing changed, the record was keyed with another values key \
                     (CHAINCTL_VALUES_KEY set then and not now, or the other way round): \
                     check as it was recorded",
                );
            }
            hint
        }
    });

    let mut out = io::stdout().lock();
    match common.output {
        Output::Json => writeln!(
            out,
            "{:#}",
            json!({
                "action": "status",
                "release": cluster.as_ref().map(ReleaseInfo::with_secret_data_redacted).transpose()?,
                "check": {
                    "matches": differences.is_empty(),
                    "stateFile": state_file,
                    "differences": differences,
                    "hint": hint,
                    "interrupted": interrupted,
                },
            })
        )?,
        Output::Text => {
            match &cluster {
                // Stdout's lock is reentrant: print_release takes it again.
                Some(info) => print_release(Output::Text, "status", info, None)?,
                None => writeln!(
                    out,
                    "release: {}\nnamespace: {}\nstatus: not in the cluster",
                    release.name(),
                    release.namespace()
                )?,
            }
            if differences.is_empty() {
                writeln!(out, "check: the cluster matches the record in {state_file}")?;
            } else {
                writeln!(
                    out,
                    "check: the cluster differs from the record in {state_file}:"
                )?;
                for difference in &differences {
                    writeln!(out, "  {difference}")?;
                }
            }
            if let Some(hint) = &hint {
                writeln!(out, "hint: {hint}")?;
            }
        }
    }
    if differences.is_empty() {
        return Ok(());
    }
    Err(Failure {
        code: 8,
        kind: DRIFT,
        message: format!(
            "drift: {release} in the cluster does not match the state file {state_file} ({} {})",
            differences.len(),
            if differences.len() == 1 {
                "difference"
            } else {
                "differences"
            }
        ),
    })
}

/// What to do about drift: the commands that inspect it and that deploy
/// again what the state file records.
fn drift_hint(common: &CommonArgs, record: &ExecutionStateRecord, missing: bool) -> String {
    let target = format!("--release {} -n {}", common.release, common.namespace);
    let values = "with the values you used (the state file keeps only their digest)";
    if missing {
        let context = match (&record.kube_context, &common.kube_context) {
            (Some(recorded), Some(now)) if recorded == now => String::new(),
            (Some(recorded), _) => format!(" (it records kube context {recorded})"),
            (None, Some(_)) => " (it records the kubeconfig's current context)".to_string(),
            (None, None) => String::new(),
        };
        return format!(
            "the release was uninstalled outside chainctl, or the record is of another \
             cluster{context}: run `chainctl app upgrade --install {target}` {values} to deploy \
             the recorded chart again"
        );
    }
    let rollback = record.helm_revision.map_or(String::new(), |revision| {
        format!("`chainctl app rollback {target} --revision {revision}` or ")
    });
    format!(
        "someone changed the release outside chainctl: run {rollback}`chainctl app upgrade \
         {target}` {values} to redeploy what is recorded, or inspect with `chainctl app history \
         {target}`"
    )
}

/// What to do after an interrupted action: it names the cancelled record
/// (action, start, the signal and what Helm left) and the commands that
/// deploy again or return to `compared`, the record checked against.
fn interrupted_hint(
    common: &CommonArgs,
    cancelled: &ExecutionStateRecord,
    compared: &ExecutionStateRecord,
) -> String {
    let target = format!("--release {} -n {}", common.release, common.namespace);
    let why = (cancelled.error.as_ref()).map_or("cancelled".to_string(), |e| e.message.clone());
    let rollback = match (compared.outcome, compared.helm_revision) {
        (chainctl_core::state::Outcome::Succeeded, Some(revision)) => format!(
            ", or `chainctl app rollback {target} --revision {revision}` to return to the \
             recorded revision"
        ),
        _ => String::new(),
    };
    format!(
        "the last action recorded, the {} started at {}, was interrupted: {why}. Nothing was \
         changed outside chainctl and no recovery is needed: run `chainctl app upgrade {target}` \
         with the values you used (the state file keeps only their digest) to deploy again\
         {rollback}",
        cancelled.action, cancelled.started_at
    )
}

fn chart_line(rel: &ReleaseInfo) -> String {
    match &rel.chart.app_version {
        Some(app) => format!("{} {} (app {app})", rel.chart.name, rel.chart.version),
        None => format!("{} {}", rel.chart.name, rel.chart.version),
    }
}

fn print_release(
    output: Output,
    action: &str,
    rel: &ReleaseInfo,
    record: Option<&ExecutionStateRecord>,
) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    match output {
        // As an install's: without the Secrets' data (`app get manifest`
        // prints it).
        Output::Json => match (record, rel.with_secret_data_redacted()?) {
            (Some(record), rel) => writeln!(
                out,
                "{:#}",
                json!({ "action": action, "release": rel, "record": record })
            )?,
            (None, rel) => writeln!(out, "{:#}", json!({ "action": action, "release": rel }))?,
        },
        Output::Text => {
            writeln!(out, "release: {}\nnamespace: {}", rel.name, rel.namespace)?;
            writeln!(out, "revision: {}\nstatus: {}", rel.revision, rel.status)?;
            writeln!(out, "chart: {}", chart_line(rel))?;
            if let Some(at) = &rel.last_deployed {
                writeln!(out, "last deployed: {at}")?;
            }
            if !rel.description.is_empty() {
                writeln!(out, "description: {}", rel.description)?;
            }
        }
    }
    Ok(())
}

fn print_history(output: Output, revisions: &[ReleaseInfo]) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    match output {
        Output::Json => writeln!(
            out,
            "{:#}",
            json!({ "action": "history", "revisions": revisions })
        )?,
        Output::Text => {
            writeln!(
                out,
                "{:<9} {:<21} {:<12} {:<24} DESCRIPTION",
                "REVISION", "UPDATED", "STATUS", "CHART"
            )?;
            for rel in revisions {
                writeln!(
                    out,
                    "{:<9} {:<21} {:<12} {:<24} {}",
                    rel.revision,
                    rel.last_deployed.as_deref().unwrap_or("-"),
                    rel.status,
                    format!("{}-{}", rel.chart.name, rel.chart.version),
                    rel.description
                )?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses as main does; a given -n is the namespace in use (resolving
    /// one from a kubeconfig is tested against real files in tests/cli.rs).
    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        let mut cli = Cli::try_parse_from(std::iter::once("chainctl").chain(args.iter().copied()))?;
        if let Some(common) = cli.command.common_mut() {
            common.namespace = common.namespace_flag.clone().unwrap_or_default();
        }
        Ok(cli)
    }

    #[test]
    fn durations_too_long_to_hold_are_refused_not_a_panic() {
        for text in [
            "999999999999999999999h",
            "1e400s",
            "18446744073709551615s1s",
        ] {
            let err = parse_duration(text).unwrap_err();
            assert!(
                err.contains("too long") || err.contains("invalid"),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn durations_parse_as_helm_writes_them() {
        assert_eq!(parse_duration("300").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("5 minutes").unwrap_err().contains("90s"));
        assert!(
            parse_duration("0s")
                .unwrap_err()
                .contains("longer than zero")
        );
        assert!(parse_duration("").is_err());
    }

    /// Expected values are what Go 1.x's time.ParseDuration returns for the
    /// same text, in nanoseconds.
    #[test]
    fn durations_take_go_syntax_as_helm_does() {
        for (text, nanos) in [
            ("1.5s", 1_500_000_000),
            ("2h45m30.5s", 9_930_500_000_000),
            ("1.5h", 5_400_000_000_000),
            ("30s5m", 330_000_000_000),
            ("1h1h", 7_200_000_000_000),
            ("+5m", 300_000_000_000),
            ("00001s", 1_000_000_000),
            ("10ns", 10),
            ("10us", 10_000),
            ("10\u{b5}s", 10_000),
            ("10\u{3bc}s", 10_000),
            (".5s", 500_000_000),
            ("1.s", 1_000_000_000),
            ("0.000000001s", 1),
            ("1.0000000001s", 1_000_000_000),
            ("2562047h47m16.854775807s", i64::MAX as u128),
            ("9223372036854775807ns", i64::MAX as u128),
        ] {
            assert_eq!(
                parse_duration(text).map(|d| d.as_nanos()),
                Ok(nanos),
                "{text}"
            );
        }
        // Go refuses these too.
        for text in [
            ".s", "s", "-", "+", "5min", "1d", "1w", "5M", "5S", "5H", "1h 30m", " 5m", "5m ",
            "5m30", "1e3s", "1_000s", "1m+30s", "5.5.5s", "1..5s",
        ] {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains("write e.g. 90s"), "{text}: {err}");
        }
        for text in ["2562047h47m16.854775808s", "9223372036854775808ns"] {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains("too long"), "{text}: {err}");
        }
        // Go takes these as zero or negative; a timeout must be positive.
        for text in ["0", "+0", "-0", "0s", "-0s", "-5m"] {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains("longer than zero"), "{text}: {err}");
        }
    }

    #[test]
    fn dry_run_flag_defaults_to_client_and_takes_a_mode() {
        let cli = parse(&[
            "app",
            "install",
            "--release",
            "a",
            "--bundle",
            "x",
            "--dry-run",
        ])
        .unwrap();
        let Command::App(AppCommand::Install(args)) = cli.command else {
            panic!()
        };
        assert_eq!(args.dry_run, Some(DryRun::Client));
        let cli = parse(&[
            "app",
            "install",
            "--release",
            "a",
            "--bundle",
            "x",
            "--dry-run=server",
        ])
        .unwrap();
        let Command::App(AppCommand::Install(args)) = cli.command else {
            panic!()
        };
        assert_eq!(args.dry_run, Some(DryRun::Server));
        assert!(parse(&["app", "install", "--release", "a", "--dry-run=bogus"]).is_err());
    }

    #[test]
    fn show_secrets_is_a_flag_off_by_default() {
        let args = |extra: &[&str]| {
            let base = ["app", "install", "--release", "a", "--bundle", "x"];
            let cli = parse(&[&base[..], extra].concat()).unwrap();
            let Command::App(AppCommand::Install(args)) = cli.command else {
                panic!()
            };
            args
        };
        assert!(!args(&[]).show_secrets);
        assert!(args(&["--show-secrets", "-o", "json"]).show_secrets);
    }

    #[test]
    fn flags_bind_onto_their_fields() {
        let cli = parse(&[
            "app",
            "upgrade",
            "--release",
            "web",
            "-n",
            "prod",
            "--bundle",
            "c",
            "-f",
            "a.yaml",
            "-f",
            "b.yaml",
            "--set",
            "x=1",
            "--set-string",
            "y=2",
            "--wait",
            "--atomic",
            "--timeout",
            "2m",
            "--install",
            "--confirm",
            "-o",
            "json",
            "--kube-context",
            "k",
        ])
        .unwrap();
        let Command::App(AppCommand::Upgrade(args)) = cli.command else {
            panic!()
        };
        assert!(args.install);
        let c = args.chart;
        assert_eq!(c.common.release, "web");
        assert_eq!(c.common.namespace, "prod");
        assert_eq!(
            c.values,
            vec![PathBuf::from("a.yaml"), PathBuf::from("b.yaml")]
        );
        assert_eq!(c.set, vec!["x=1"]);
        assert_eq!(c.set_string, vec!["y=2"]);
        assert!(c.wait && c.atomic && c.confirm);
        assert_eq!(c.timeout, Duration::from_secs(120));
        assert_eq!(c.common.output, Output::Json);
        assert_eq!(c.common.kube_context.as_deref(), Some("k"));
    }

    #[test]
    fn release_is_required_and_namespace_defaults() {
        let err = parse(&["app", "status"]).unwrap_err();
        assert!(err.to_string().contains("--release"));
        let cli = parse(&["app", "status", "--release", "a"]).unwrap();
        let Command::App(AppCommand::Status(args)) = cli.command else {
            panic!()
        };
        assert_eq!(
            args.common.namespace_flag, None,
            "resolved from the kubeconfig later"
        );
    }

    #[test]
    fn status_check_is_a_flag_off_by_default_and_takes_the_state_flags() {
        let cli = parse(&["app", "status", "--release", "a"]).unwrap();
        let Command::App(AppCommand::Status(args)) = cli.command else {
            panic!()
        };
        assert!(!args.check);
        let cli = parse(&[
            "app",
            "status",
            "--release",
            "a",
            "-n",
            "prod",
            "--check",
            "--state-path",
            "/srv/state.json",
            "-o",
            "json",
        ])
        .unwrap();
        let Command::App(AppCommand::Status(args)) = cli.command else {
            panic!()
        };
        assert!(args.check);
        assert_eq!(
            args.common.state_path,
            Some(PathBuf::from("/srv/state.json"))
        );
        assert_eq!(args.common.output, Output::Json);
        assert_eq!(
            cli_output(&["app", "status", "--release", "a", "-o", "json"]),
            Output::Json
        );
        assert!(parse(&["app", "status", "--release", "a", "--check=yes"]).is_err());
        assert!(parse(&["app", "history", "--release", "a", "--check"]).is_err());
        assert!(
            parse(&[
                "app",
                "status",
                "--release",
                "a",
                "--check",
                "--state-file",
                "x.json",
                "--state-path",
                "/y.json"
            ])
            .is_err()
        );
    }

    fn cli_output(args: &[&str]) -> Output {
        parse(args).unwrap().command.output()
    }

    #[test]
    fn drift_hint_names_the_commands_that_repair_it() {
        let cli = parse(&["app", "status", "--release", "web", "-n", "prod", "--check"]).unwrap();
        let Command::App(AppCommand::Status(args)) = cli.command else {
            panic!()
        };
        let mut record = ExecutionStateRecord::new(Action::Upgrade, "web", "prod");
        record.helm_revision = Some(3);
        let hint = drift_hint(&args.common, &record, false);
        for part in [
            "outside chainctl",
            "`chainctl app rollback --release web -n prod --revision 3`",
            "`chainctl app upgrade --release web -n prod`",
            "`chainctl app history --release web -n prod`",
        ] {
            assert!(hint.contains(part), "{part:?} missing from {hint}");
        }
        record.kube_context = Some("staging".into());
        let hint = drift_hint(&args.common, &record, true);
        assert!(
            hint.contains("`chainctl app upgrade --install --release web -n prod`"),
            "{hint}"
        );
        assert!(hint.contains("it records kube context staging"), "{hint}");
    }

    #[test]
    fn signal_exit_codes_are_documented_in_the_help_the_module_and_the_readme() {
        let module_doc = include_str!("chainctl.rs");
        let readme = include_str!("../README.md");
        for (signal, name) in INTERRUPTS {
            let code = 128 + signal;
            assert!(
                EXIT_CODES.contains(&format!("{code} by {name}"))
                    || EXIT_CODES.contains(&format!("{code} interrupted by {name}")),
                "{code}"
            );
            assert!(
                module_doc.contains(&format!("//! | {code} | interrupted by {name}")),
                "{code}"
            );
            assert!(
                readme.contains(&format!("| {code} | interrupted by {name}")),
                "{code}"
            );
        }
        assert_eq!(INTERRUPTS.map(|(s, _)| 128 + s), [130, 143, 129]);
    }

    #[test]
    fn state_import_takes_a_file_or_stdin_and_the_state_flags() {
        let cli = parse(&[
            "state",
            "import",
            "-",
            "--state-path",
            "/srv/s.json",
            "-o",
            "json",
        ])
        .unwrap();
        let Command::State(StateCommand::Import(args)) = cli.command else {
            panic!()
        };
        assert_eq!(args.file, PathBuf::from("-"));
        assert_eq!(args.state.state_path, Some(PathBuf::from("/srv/s.json")));
        assert_eq!(args.state.output, Output::Json);
        assert!(parse(&["state", "import"]).is_err(), "FILE is required");
    }

    #[test]
    fn records_are_found_in_a_saved_stderr() {
        let mut rec = ExecutionStateRecord::new(Action::Install, "web", "prod");
        rec.finish_ok();
        let line = serde_json::to_string(&rec).unwrap();
        let stderr = format!(
            "chainctl: could not write\nsecond line of a message\n{}\n{line}\nchainctl: the action succeeded\n",
            keep_record_note()
        );
        assert_eq!(records_in("err", &stderr).ok().unwrap(), vec![rec.clone()]);
        assert_eq!(
            records_in("err", &format!("  {line}\n")).ok().unwrap(),
            vec![rec]
        );
        let err = records_in(
            "err",
            &format!("chainctl: x\n{}\n", line.replace("\"web\"", "\"Web\"")),
        )
        .err()
        .unwrap();
        assert!(
            err.message
                .starts_with("err, line 2: not a record chainctl can import"),
            "{}",
            err.message
        );
        assert_eq!(err.code, 2);
    }

    #[test]
    fn the_hint_after_an_interrupted_upgrade_names_it_and_the_way_back() {
        let cli = parse(&["app", "status", "--release", "web", "-n", "prod", "--check"]).unwrap();
        let Command::App(AppCommand::Status(args)) = cli.command else {
            panic!()
        };
        let mut current = ExecutionStateRecord::new(Action::Install, "web", "prod");
        current.helm_revision = Some(1);
        current.finish_ok();
        let mut cancelled = ExecutionStateRecord::new(Action::Upgrade, "web", "prod");
        cancelled.finish_cancelled("SIGINT", None);
        let hint = interrupted_hint(&args.common, &cancelled, &current);
        for part in [
            &format!(
                "the upgrade started at {}, was interrupted",
                cancelled.started_at
            ),
            "cancelled by SIGINT: chainctl stopped the upgrade",
            "`chainctl app upgrade --release web -n prod`",
            "`chainctl app rollback --release web -n prod --revision 1`",
        ] {
            assert!(hint.contains(part), "{part:?} missing from {hint}");
        }
        assert!(!hint.contains("someone changed"), "{hint}");
    }

    #[test]
    fn exit_code_8_is_documented() {
        assert!(EXIT_CODES.contains("\n  8   drift: the cluster does not match the state file"));
        let module_doc = include_str!("chainctl.rs");
        assert!(module_doc.contains("//! | 8 | drift: the cluster does not match the state file"));
    }

    #[test]
    fn a_plan_lines_up_its_labels_and_continues_lines() {
        let plan = Plan {
            verb: "upgrade",
            release: ReleaseRef::new("hello", "demo").unwrap(),
            from: "hello 0.1.0 (revision 2, deployed)".into(),
            to: "hello 0.2.0".into(),
            details: vec![
                ("source", "oci://r.example/charts/hello:0.2.0".into()),
                ("digest", "sha256:aa (manifest)".into()),
                ("", "sha256:bb (chart archive)".into()),
            ],
        };
        assert_eq!(
            plan.to_string(),
            "chainctl will upgrade release hello in namespace demo\n\
             \x20 chart:    hello 0.1.0 (revision 2, deployed) -> hello 0.2.0\n\
             \x20 source:   oci://r.example/charts/hello:0.2.0\n\
             \x20 digest:   sha256:aa (manifest)\n\
             \x20           sha256:bb (chart archive)\n"
        );
    }

    #[test]
    fn pull_takes_a_timeout_and_a_chart_size_ceiling() {
        let cli = parse(&[
            "chart",
            "pull",
            "oci://r.example/c/hello:1.0.0",
            "--timeout",
            "5s",
            "--max-chart-size",
            "512MiB",
        ])
        .unwrap();
        let Command::Chart(ChartCommand::Pull(args)) = cli.command else {
            panic!()
        };
        assert_eq!(args.timeout, Duration::from_secs(5));
        assert_eq!(args.registry.max_chart_size, Some(512 << 20));
        let cli = parse(&["chart", "pull", "oci://r.example/c/hello:1.0.0"]).unwrap();
        let Command::Chart(ChartCommand::Pull(args)) = cli.command else {
            panic!()
        };
        assert_eq!(args.timeout, Duration::from_secs(300));
        assert_eq!(args.registry.max_chart_size, None, "the library's 100 MiB");
        let cli = parse(&[
            "app",
            "install",
            "--release",
            "a",
            "--chart",
            "oci://r/c/x",
            "--max-chart-size",
            "1Gi",
        ])
        .unwrap();
        let Command::App(AppCommand::Install(args)) = cli.command else {
            panic!()
        };
        assert_eq!(args.registry.max_chart_size, Some(1 << 30));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        for bad in ["", "0", "0MiB", "12XB", "-1", "99999999999GiB", "1.5MiB"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_flag_has_help_under_79_columns() {
        Cli::command().debug_assert();
        fn walk(cmd: &clap::Command) {
            for arg in cmd.get_arguments() {
                if let Some(help) = arg.get_help() {
                    assert!(
                        help.to_string().len() < 79,
                        "{}: help too long",
                        arg.get_id()
                    );
                }
            }
            cmd.get_subcommands().for_each(walk);
        }
        walk(&Cli::command());
    }
}
