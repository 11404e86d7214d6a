//! The command line: clap's structs, one per command, and the parsers of
//! flag values (durations, sizes, labels). Binding only: what the flags
//! do is in the command modules.

use std::path::PathBuf;
use std::time::Duration;

use chainctl_core::{DryRun, ResolvedKube, ServerSide, WaitStrategy};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit::EXIT_CODES;

/// Deploy Helm charts with the Helm SDK in-process.
#[derive(Parser, Debug)]
#[command(name = "chainctl", after_long_help = EXIT_CODES)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,

    /// Output format.
    #[arg(
        short = 'o',
        long,
        value_enum,
        default_value = "text",
        global = true,
        display_order = 900
    )]
    pub(crate) output: Output,
}

// Parsed once per run: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub(crate) enum Command {
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
pub(crate) enum ChartCommand {
    /// Pull a chart into the cache; print its version and digests.
    Pull(ChartPullArgs),
    /// List a repository's chart versions, newest first.
    Versions(ChartVersionsArgs),
}

#[derive(Args, Debug)]
pub(crate) struct ChartPullArgs {
    /// OCI reference, oci://host/path/chart[:tag][@digest].
    #[arg(value_name = "REF")]
    pub(crate) reference: String,

    /// Chart version or semver constraint.
    #[arg(long, value_name = "VERSION")]
    pub(crate) version: Option<String>,

    /// How long the pull may take, e.g. 90s, 5m (a stalled registry: exit 5).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5m")]
    pub(crate) timeout: Duration,

    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

#[derive(Args, Debug)]
pub(crate) struct ChartVersionsArgs {
    /// OCI repository, oci://host/path/chart.
    #[arg(value_name = "REF")]
    pub(crate) reference: String,

    /// How long listing may take, e.g. 90s, 5m (a stalled registry: exit 5).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5m")]
    pub(crate) timeout: Duration,

    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

#[derive(Subcommand, Debug)]
pub(crate) enum RegistryCommand {
    /// Check credentials and store them in the registry config file.
    Login(RegistryHostArgs),
    /// Remove a registry's stored credentials.
    Logout(RegistryHostArgs),
}

#[derive(Args, Debug)]
pub(crate) struct RegistryHostArgs {
    /// Registry host[:port].
    #[arg(value_name = "HOST")]
    pub(crate) host: String,

    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

/// How to reach an OCI registry.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct RegistryArgs {
    /// Talk plain HTTP to the registry.
    #[arg(long)]
    pub(crate) plain_http: bool,

    /// Do not verify the registry's TLS certificate.
    #[arg(long)]
    pub(crate) insecure_skip_tls_verify: bool,

    /// CA certificate (PEM) to verify the registry with.
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_file: Option<PathBuf>,

    /// Client certificate (PEM), with --key-file.
    #[arg(long, value_name = "FILE")]
    pub(crate) cert_file: Option<PathBuf>,

    /// Client certificate key (PEM).
    #[arg(long, value_name = "FILE")]
    pub(crate) key_file: Option<PathBuf>,

    /// Registry user name.
    #[arg(long, value_name = "NAME")]
    pub(crate) username: Option<String>,

    /// Read the registry password from stdin (or set CHAINCTL_REGISTRY_PASSWORD).
    #[arg(long)]
    pub(crate) password_stdin: bool,

    /// Registry config file (default: helm's registry/config.json).
    #[arg(long, value_name = "FILE")]
    pub(crate) registry_config: Option<PathBuf>,

    /// Use only the chart cache: no network for OCI charts.
    #[arg(long)]
    pub(crate) offline: bool,

    /// Largest chart archive a pull accepts (default 100MiB, as Helm).
    ///
    /// Checked while the chart streams: a manifest declaring a larger
    /// layer is refused before the layer is fetched, and a body longer
    /// than declared is cut. Bytes, or with a unit: KiB, MiB, GiB (also
    /// Ki, Mi, Gi). For example:
    ///
    ///   chainctl chart pull oci://registry.example/charts/big --max-chart-size 512MiB
    #[arg(long, value_name = "SIZE", value_parser = parse_size, verbatim_doc_comment)]
    pub(crate) max_chart_size: Option<u64>,
}

#[derive(Subcommand, Debug)]
pub(crate) enum StateCommand {
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
pub(crate) struct StateArgs {
    /// State file name in the default directory (instead of state.json).
    #[arg(long, value_name = "NAME", conflicts_with = "state_path")]
    pub(crate) state_file: Option<String>,

    /// Full path of the state file.
    #[arg(long, value_name = "PATH")]
    pub(crate) state_path: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct StateShowArgs {
    #[command(flatten)]
    pub(crate) state: StateArgs,

    /// Show this release only (with --namespace).
    #[arg(long, value_name = "NAME")]
    pub(crate) release: Option<String>,

    /// Namespace of --release.
    #[arg(short = 'n', long, value_name = "NS", default_value = "default")]
    pub(crate) namespace: String,

    /// With --release: the cluster id, when several clusters have it.
    #[arg(long, value_name = "ID", requires = "release")]
    pub(crate) cluster: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct StateImportArgs {
    #[command(flatten)]
    pub(crate) state: StateArgs,

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
    pub(crate) file: PathBuf,
}

#[derive(Args, Debug)]
pub(crate) struct StateValidateArgs {
    #[command(flatten)]
    pub(crate) state: StateArgs,

    /// The file to check (default: the state file in use).
    #[arg(value_name = "FILE")]
    pub(crate) file: Option<PathBuf>,
}

/// Helm's release storage driver (HELM_DRIVER).
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Driver {
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
pub(crate) enum AppCommand {
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
pub(crate) struct ListArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,

    /// List releases of every namespace.
    #[arg(short = 'A', long)]
    pub(crate) all_namespaces: bool,

    /// Releases in every status, not only deployed ones.
    #[arg(short = 'a', long)]
    pub(crate) all: bool,

    /// Deployed releases (the default when no status flag is given).
    #[arg(long)]
    pub(crate) deployed: bool,

    /// Failed releases.
    #[arg(long)]
    pub(crate) failed: bool,

    /// Pending releases.
    #[arg(long)]
    pub(crate) pending: bool,

    /// Superseded releases.
    #[arg(long)]
    pub(crate) superseded: bool,

    /// Uninstalled releases whose history was kept.
    #[arg(long)]
    pub(crate) uninstalled: bool,

    /// Releases being uninstalled.
    #[arg(long)]
    pub(crate) uninstalling: bool,

    /// Only names matching this regular expression.
    #[arg(long, value_name = "REGEX")]
    pub(crate) filter: Option<String>,

    /// Only release objects with these labels, e.g. -l team=a.
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub(crate) selector: Option<String>,

    /// At most this many releases.
    #[arg(short = 'm', long, value_name = "N", default_value_t = 256)]
    pub(crate) max: u32,

    /// Skip this many releases first.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) offset: u32,

    /// Sort by release date.
    #[arg(short = 'd', long)]
    pub(crate) date: bool,

    /// Reverse the order.
    #[arg(short = 'r', long)]
    pub(crate) reverse: bool,
}

#[derive(Subcommand, Debug)]
pub(crate) enum GetCommand {
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
pub(crate) struct GetArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,

    /// This revision instead of the current one.
    #[arg(long, value_name = "N")]
    pub(crate) revision: Option<u32>,
}

#[derive(Args, Debug)]
pub(crate) struct GetValuesArgs {
    #[command(flatten)]
    pub(crate) get: GetArgs,

    /// Every value the chart was rendered with, defaults included.
    #[arg(short = 'a', long)]
    pub(crate) all: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    Text,
    Json,
}

/// Flags every app command takes.
#[derive(Args, Debug, Clone)]
pub(crate) struct CommonArgs {
    /// Release name (lowercase RFC 1123, at most 53 characters).
    #[arg(long, value_name = "NAME")]
    pub(crate) release: String,

    /// Namespace of the release (default: the context's, else default).
    #[arg(
        short = 'n',
        long = "namespace",
        value_name = "NS",
        env = "HELM_NAMESPACE"
    )]
    pub(crate) namespace_flag: Option<String>,

    /// The namespace in use: --namespace, else what helm would take from
    /// the kubeconfig (filled in by `resolve_namespace`).
    #[arg(skip)]
    pub(crate) namespace: String,

    /// Kubeconfig file (default: $KUBECONFIG's files merged, ~/.kube/config).
    #[arg(long, value_name = "PATH")]
    pub(crate) kubeconfig: Option<PathBuf>,

    /// Kubeconfig context to use instead of the current one.
    #[arg(long, value_name = "NAME", env = "HELM_KUBECONTEXT")]
    pub(crate) kube_context: Option<String>,

    #[command(flatten)]
    pub(crate) kube: KubeArgs,

    /// Print progress to stderr.
    #[arg(short = 'v', long)]
    pub(crate) verbose: bool,

    /// Print Helm's debug log to stderr (implies --verbose).
    #[arg(long, env = "HELM_DEBUG", value_parser = clap::builder::FalseyValueParser::new())]
    pub(crate) debug: bool,

    /// Release storage driver (default secret); memory is a rehearsal.
    #[arg(long, value_enum, env = "HELM_DRIVER")]
    pub(crate) driver: Option<Driver>,

    /// The cluster and namespace the kubeconfig selects (filled in by
    /// `resolve_kube`).
    #[arg(skip)]
    pub(crate) resolved: Option<ResolvedKube>,

    /// State file name in the default directory (instead of state.json).
    #[arg(long, value_name = "NAME", conflicts_with = "state_path")]
    pub(crate) state_file: Option<String>,

    /// Full path of the state file.
    #[arg(long, value_name = "PATH")]
    pub(crate) state_path: Option<PathBuf>,
}

/// helm's flags for reaching the API server, with their HELM_* variables.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct KubeArgs {
    /// Bearer token for the API server.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "HELM_KUBETOKEN",
        hide_env_values = true
    )]
    pub(crate) kube_token: Option<String>,

    /// User to impersonate.
    #[arg(long, value_name = "USER", env = "HELM_KUBEASUSER")]
    pub(crate) kube_as_user: Option<String>,

    /// Group to impersonate (repeatable).
    #[arg(
        long,
        value_name = "GROUP",
        env = "HELM_KUBEASGROUPS",
        value_delimiter = ','
    )]
    pub(crate) kube_as_group: Vec<String>,

    /// The API server's address, instead of the kubeconfig's.
    #[arg(long, value_name = "URL", env = "HELM_KUBEAPISERVER")]
    pub(crate) kube_apiserver: Option<String>,

    /// CA file to verify the API server with.
    #[arg(long, value_name = "FILE", env = "HELM_KUBECAFILE")]
    pub(crate) kube_ca_file: Option<PathBuf>,

    /// Do not verify the API server's certificate (insecure).
    #[arg(long, env = "HELM_KUBEINSECURE_SKIP_TLS_VERIFY", value_parser = clap::builder::FalseyValueParser::new())]
    pub(crate) kube_insecure_skip_tls_verify: bool,

    /// Name to check the API server's certificate against.
    #[arg(long, value_name = "NAME", env = "HELM_KUBETLS_SERVER_NAME")]
    pub(crate) kube_tls_server_name: Option<String>,

    /// Client-side throttling burst.
    #[arg(
        long,
        value_name = "N",
        env = "HELM_BURST_LIMIT",
        default_value_t = 100
    )]
    pub(crate) burst_limit: u32,

    /// Queries per second to the API server (0: client-go's default).
    #[arg(long, value_name = "QPS", env = "HELM_QPS", default_value_t = 0.0)]
    pub(crate) qps: f32,
}

/// Flags of commands that deploy a chart.
#[derive(Args, Debug)]
pub(crate) struct ChartArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,

    /// Local chart: a chart directory or a packaged .tgz.
    #[arg(long, value_name = "PATH")]
    pub(crate) bundle: Option<PathBuf>,

    /// OCI chart reference, oci://host/path/chart[:tag][@digest].
    #[arg(long, value_name = "REF")]
    pub(crate) chart: Option<String>,

    /// Chart version or semver constraint (OCI charts only).
    #[arg(long, value_name = "VERSION")]
    pub(crate) version: Option<String>,

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
    pub(crate) values: Vec<PathBuf>,

    /// Set a value, e.g. --set image.tag=1.2,replicaCount=3 (repeatable).
    #[arg(long, value_name = "KEY=VAL")]
    pub(crate) set: Vec<String>,

    /// Set a value, always as a string (repeatable).
    #[arg(long, value_name = "KEY=VAL")]
    pub(crate) set_string: Vec<String>,

    /// Set a value to a file's content, e.g. --set-file cfg=app.conf.
    #[arg(long, value_name = "KEY=PATH")]
    pub(crate) set_file: Vec<String>,

    /// Set a JSON value, e.g. --set-json 'ports=[80,443]'.
    #[arg(long, value_name = "KEY=JSON")]
    pub(crate) set_json: Vec<String>,

    /// Set one value as a literal string, commas and all.
    #[arg(long, value_name = "KEY=VAL")]
    pub(crate) set_literal: Vec<String>,

    /// Create the namespace if it does not exist.
    #[arg(long)]
    pub(crate) create_namespace: bool,

    /// Show what would be deployed: client (no cluster) or server.
    #[arg(long, value_name = "MODE", num_args = 0..=1, require_equals = true, default_missing_value = "client")]
    pub(crate) dry_run: Option<DryRun>,

    /// Approve the change without asking.
    #[arg(long)]
    pub(crate) confirm: bool,

    /// Wait until all resources are ready (watcher, hookOnly: Helm 4 only).
    ///
    /// Bare --wait waits as the Helm linked in does by default: Helm 3
    /// polls the resources (legacy), Helm 4 watches their status
    /// (watcher). --wait=watcher and --wait=hookOnly (wait for hooks only)
    /// are Helm 4 only (the helm-v4 build); --wait=legacy works on both.
    #[arg(
        long,
        value_name = "STRATEGY",
        value_enum,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub(crate) wait: Option<WaitArg>,

    /// How long the action (and its chart pull) may take, e.g. 90s, 5m.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5m")]
    pub(crate) timeout: Duration,

    /// Roll back (or uninstall a new release) on failure; implies --wait.
    #[arg(long = "rollback-on-failure", visible_alias = "atomic")]
    pub(crate) atomic: bool,

    #[command(flatten)]
    pub(crate) apply: ApplyArgs,

    /// Description recorded with the revision.
    #[arg(long, value_name = "TEXT")]
    pub(crate) description: Option<String>,

    /// Leave the chart's crds/ out.
    #[arg(long)]
    pub(crate) skip_crds: bool,

    /// Take development versions too (OCI charts without --version).
    #[arg(long)]
    pub(crate) devel: bool,

    /// Fetch missing dependencies into the chart's charts/ first.
    #[arg(long)]
    pub(crate) dependency_update: bool,

    /// Run no hooks.
    #[arg(long)]
    pub(crate) no_hooks: bool,

    /// With --wait, also wait for Jobs to complete.
    #[arg(long)]
    pub(crate) wait_for_jobs: bool,

    /// Replace resources that cannot be updated in place.
    #[arg(long = "force-replace", visible_alias = "force")]
    pub(crate) force: bool,

    /// Adopt existing resources that no release owns.
    #[arg(long)]
    pub(crate) take_ownership: bool,

    /// Do not check values against the chart's values.schema.json.
    #[arg(long)]
    pub(crate) skip_schema_validation: bool,

    /// Labels on the release's storage object, e.g. --labels team=a,tier=b.
    #[arg(long, value_name = "K=V", value_delimiter = ',', value_parser = parse_label)]
    pub(crate) labels: Vec<(String, String)>,

    /// Program the rendered manifest is piped through before it is applied.
    #[arg(long, value_name = "PROGRAM")]
    pub(crate) post_renderer: Option<String>,

    /// An argument of the post-renderer (repeatable).
    #[arg(long, value_name = "ARG", requires = "post_renderer")]
    pub(crate) post_renderer_args: Vec<String>,

    /// With --dry-run: an API version .Capabilities.APIVersions has.
    #[arg(short = 'a', long, value_name = "GROUP/VERSION", value_delimiter = ',')]
    pub(crate) api_versions: Vec<String>,

    /// With --dry-run: the Kubernetes version .Capabilities.KubeVersion has.
    #[arg(long, value_name = "VERSION")]
    pub(crate) kube_version: Option<String>,

    /// With -o json: print the data of the manifest's Secrets too.
    ///
    /// -o json prints the rendered manifest with the value of every key of
    /// a Secret's data and stringData replaced by [redacted]; this flag
    /// prints them as rendered, e.g.
    /// `chainctl app install --dry-run -o json --show-secrets ...`. The text
    /// output of --dry-run prints the manifest in full, as helm does; so
    /// does `chainctl app get manifest`.
    #[arg(long)]
    pub(crate) show_secrets: bool,

    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

/// helm 4's --server-side and --force-conflicts, on install, upgrade and
/// rollback.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct ApplyArgs {
    /// Apply server-side: true (bare), false or auto (Helm 4; Helm 3: false).
    ///
    /// Unset, the Helm linked in decides: Helm 4 applies server-side on
    /// install and, on upgrade and rollback, as the release's last revision
    /// was applied (auto); Helm 3 applies client-side, the only way it has,
    /// so the Helm 3 build refuses true and auto.
    #[arg(
        long,
        value_name = "MODE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub(crate) server_side: Option<ServerSide>,

    /// Take over fields other managers own, on conflict (Helm 4 only).
    #[arg(long, conflicts_with = "force")]
    pub(crate) force_conflicts: bool,
}

/// The values of `--wait[=STRATEGY]`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum WaitArg {
    /// Bare `--wait` (and helm 4's deprecated `--wait=true`): the backend's
    /// default way of waiting.
    #[value(name = "true", hide = true)]
    Backend,
    /// helm 4's deprecated `--wait=false`: no waiting, as without the flag.
    #[value(name = "false", hide = true)]
    No,
    /// Watch the resources' status until ready (Helm 4 only).
    Watcher,
    /// Wait for hooks only, not for the resources (Helm 4 only).
    #[value(name = "hookOnly")]
    HookOnly,
    /// Poll the resources until ready, as Helm 3 does.
    Legacy,
}

impl WaitArg {
    /// The library's `wait` and wait strategy for the flag as given.
    pub(crate) fn options(arg: Option<WaitArg>) -> (bool, Option<WaitStrategy>) {
        match arg {
            None | Some(WaitArg::No) => (false, None),
            Some(WaitArg::Backend) => (true, None),
            Some(WaitArg::Watcher) => (true, Some(WaitStrategy::Watcher)),
            Some(WaitArg::HookOnly) => (false, Some(WaitStrategy::HookOnly)),
            Some(WaitArg::Legacy) => (true, Some(WaitStrategy::Legacy)),
        }
    }
}

/// `k=v`, as helm's --labels.
pub(crate) fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("invalid label {text:?}: write key=value")),
    }
}

#[derive(Args, Debug)]
pub(crate) struct UpgradeArgs {
    #[command(flatten)]
    pub(crate) chart: ChartArgs,

    /// Install the release if it does not exist yet.
    #[arg(short = 'i', long)]
    pub(crate) install: bool,

    /// Reuse the last release's values, merging these over them.
    #[arg(long)]
    pub(crate) reuse_values: bool,

    /// Reset values to the chart's defaults before applying these.
    #[arg(long)]
    pub(crate) reset_values: bool,

    /// Reset to the chart's defaults, then merge the last values and these.
    #[arg(long)]
    pub(crate) reset_then_reuse_values: bool,

    /// Revisions Helm keeps per release (0: no limit).
    #[arg(long, value_name = "N", env = "HELM_MAX_HISTORY", default_value_t = chainctl_core::DEFAULT_HISTORY_MAX)]
    pub(crate) history_max: u32,

    /// On failure, delete the resources this upgrade created.
    #[arg(long)]
    pub(crate) cleanup_on_fail: bool,

    /// Install the chart digest recorded in state; fail if its tag moved.
    #[arg(long, conflicts_with_all = ["bundle", "chart", "version"])]
    pub(crate) locked: bool,
}

#[derive(Args, Debug)]
pub(crate) struct HistoryArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,

    /// At most this many revisions, the newest.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub(crate) max: u32,
}

#[derive(Args, Debug)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,

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
    pub(crate) check: bool,

    /// Show this revision instead of the current one.
    #[arg(long, value_name = "N")]
    pub(crate) revision: Option<u32>,
}

#[derive(Args, Debug)]
pub(crate) struct RollbackArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,

    /// Revision to roll back to (default: the previous one).
    #[arg(long, value_name = "N")]
    pub(crate) revision: Option<u32>,

    /// Approve the change without asking.
    #[arg(long)]
    pub(crate) confirm: bool,

    /// Wait until all resources are ready (watcher, hookOnly: Helm 4 only).
    ///
    /// Bare --wait waits as the Helm linked in does by default: Helm 3
    /// polls the resources (legacy), Helm 4 watches their status
    /// (watcher). --wait=watcher and --wait=hookOnly (wait for hooks only)
    /// are Helm 4 only (the helm-v4 build); --wait=legacy works on both.
    #[arg(
        long,
        value_name = "STRATEGY",
        value_enum,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub(crate) wait: Option<WaitArg>,

    /// How long Helm waits, e.g. 90s, 5m.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5m")]
    pub(crate) timeout: Duration,

    /// Simulate the rollback: nothing changes, nothing is recorded.
    #[arg(long)]
    pub(crate) dry_run: bool,

    /// Replace resources that cannot be updated in place.
    #[arg(long = "force-replace", visible_alias = "force")]
    pub(crate) force: bool,

    #[command(flatten)]
    pub(crate) apply: ApplyArgs,

    /// Run no hooks.
    #[arg(long)]
    pub(crate) no_hooks: bool,

    /// Revisions Helm keeps per release (0: no limit).
    #[arg(long, value_name = "N", env = "HELM_MAX_HISTORY", default_value_t = chainctl_core::DEFAULT_HISTORY_MAX)]
    pub(crate) history_max: u32,
}

#[derive(Args, Debug)]
pub(crate) struct UninstallArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,

    /// Keep the release's history (it can be rolled back later).
    #[arg(long)]
    pub(crate) keep_history: bool,

    /// Approve the change without asking.
    #[arg(long)]
    pub(crate) confirm: bool,

    /// Wait until all resources are deleted (watcher, hookOnly: Helm 4 only).
    ///
    /// Bare --wait waits as the Helm linked in does by default: Helm 3
    /// polls the resources (legacy), Helm 4 watches them (watcher).
    /// --wait=watcher and --wait=hookOnly (wait for hooks only) are Helm 4
    /// only (the helm-v4 build); --wait=legacy works on both.
    #[arg(
        long,
        value_name = "STRATEGY",
        value_enum,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub(crate) wait: Option<WaitArg>,

    /// How long Helm waits, e.g. 90s, 5m.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5m")]
    pub(crate) timeout: Duration,

    /// Simulate the uninstall: nothing changes, nothing is recorded.
    #[arg(long)]
    pub(crate) dry_run: bool,

    /// Run no hooks.
    #[arg(long)]
    pub(crate) no_hooks: bool,

    /// A release that does not exist is not an error.
    #[arg(long)]
    pub(crate) ignore_not_found: bool,

    /// How dependents are deleted: background, foreground or orphan.
    #[arg(long, value_name = "MODE", default_value = "background",
          value_parser = ["background", "foreground", "orphan"])]
    pub(crate) cascade: String,

    /// Description recorded with the uninstalled revision.
    #[arg(long, value_name = "TEXT")]
    pub(crate) description: Option<String>,
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
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
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
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
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

impl Command {
    /// The flags of a command that will write a state record: install,
    /// upgrade, rollback and uninstall, but not their dry runs.
    pub(crate) fn records(&self) -> Option<&CommonArgs> {
        let Command::App(app) = self else {
            return None;
        };
        match app {
            AppCommand::Install(a) if a.dry_run.is_none() => Some(&a.common),
            AppCommand::Upgrade(a) if a.chart.dry_run.is_none() => Some(&a.chart.common),
            AppCommand::Rollback(a) if !a.dry_run => Some(&a.common),
            AppCommand::Uninstall(a) if !a.dry_run => Some(&a.common),
            _ => None,
        }
    }

    /// The flags every app command has.
    pub(crate) fn common_mut(&mut self) -> Option<&mut CommonArgs> {
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
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Parses as main does; a given -n is the namespace in use (resolving
    /// one from a kubeconfig is tested against real files in tests/cli.rs).
    pub(crate) fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
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
        assert!(c.atomic && c.confirm);
        assert_eq!(
            c.wait,
            Some(WaitArg::Backend),
            "bare --wait, before --atomic"
        );
        assert_eq!(WaitArg::options(c.wait), (true, None));
        assert_eq!(c.timeout, Duration::from_secs(120));
        assert_eq!(cli.output, Output::Json);
        assert_eq!(c.common.kube_context.as_deref(), Some("k"));
    }

    fn install(extra: &[&str]) -> Result<ChartArgs, clap::Error> {
        let base = ["app", "install", "--release", "a", "--bundle", "x"];
        let cli = parse(&[&base[..], extra].concat())?;
        let Command::App(AppCommand::Install(args)) = cli.command else {
            panic!()
        };
        Ok(args)
    }

    fn rollback(extra: &[&str]) -> Result<RollbackArgs, clap::Error> {
        let cli = parse(&[&["app", "rollback", "--release", "a"][..], extra].concat())?;
        let Command::App(AppCommand::Rollback(args)) = cli.command else {
            panic!()
        };
        Ok(args)
    }

    fn uninstall(extra: &[&str]) -> Result<UninstallArgs, clap::Error> {
        let cli = parse(&[&["app", "uninstall", "--release", "a"][..], extra].concat())?;
        let Command::App(AppCommand::Uninstall(args)) = cli.command else {
            panic!()
        };
        Ok(args)
    }

    #[test]
    fn wait_is_bare_as_before_or_takes_a_helm_4_strategy() {
        let waits = |extra: &[&str]| WaitArg::options(install(extra).unwrap().wait);
        assert_eq!(waits(&[]), (false, None));
        assert_eq!(
            waits(&["--wait"]),
            (true, None),
            "the backend's default wait"
        );
        assert_eq!(waits(&["--wait", "--atomic"]), (true, None));
        assert_eq!(
            waits(&["--wait=watcher"]),
            (true, Some(WaitStrategy::Watcher))
        );
        assert_eq!(
            waits(&["--wait=hookOnly"]),
            (false, Some(WaitStrategy::HookOnly))
        );
        assert_eq!(
            waits(&["--wait=legacy"]),
            (true, Some(WaitStrategy::Legacy))
        );
        // helm 4's deprecated booleans.
        assert_eq!(waits(&["--wait=true"]), (true, None));
        assert_eq!(waits(&["--wait=false"]), (false, None));
        // The strategy needs '=': a word after a bare --wait is not its value.
        assert!(install(&["--wait", "watcher"]).is_err());
        for bad in ["--wait=poll", "--wait=hookonly", "--wait="] {
            assert!(install(&[bad]).is_err(), "{bad}");
        }
        let rb = |extra: &[&str]| WaitArg::options(rollback(extra).unwrap().wait);
        assert_eq!(rb(&["--wait"]), (true, None));
        assert_eq!(rb(&["--wait=watcher"]), (true, Some(WaitStrategy::Watcher)));
        let un = |extra: &[&str]| WaitArg::options(uninstall(extra).unwrap().wait);
        assert_eq!(un(&[]), (false, None));
        assert_eq!(un(&["--wait"]), (true, None));
        assert_eq!(
            un(&["--wait=hookOnly"]),
            (false, Some(WaitStrategy::HookOnly))
        );
    }

    #[test]
    fn server_side_is_bare_true_or_takes_a_mode() {
        let mode = |extra: &[&str]| install(extra).unwrap().apply.server_side;
        assert_eq!(mode(&[]), None, "the backend's default");
        assert_eq!(mode(&["--server-side"]), Some(ServerSide::On));
        assert_eq!(mode(&["--server-side=true"]), Some(ServerSide::On));
        assert_eq!(mode(&["--server-side=false"]), Some(ServerSide::Off));
        assert_eq!(mode(&["--server-side=auto"]), Some(ServerSide::Auto));
        assert!(install(&["--server-side=yes"]).is_err());
        assert!(install(&["--server-side", "auto"]).is_err(), "needs '='");
        let args = rollback(&["--server-side=auto", "--force-conflicts"]).unwrap();
        assert_eq!(args.apply.server_side, Some(ServerSide::Auto));
        assert!(args.apply.force_conflicts);
        let cli = parse(&[
            "app",
            "upgrade",
            "--release",
            "a",
            "--server-side=false",
            "--force-conflicts",
        ])
        .unwrap();
        let Command::App(AppCommand::Upgrade(args)) = cli.command else {
            panic!()
        };
        assert_eq!(args.chart.apply.server_side, Some(ServerSide::Off));
        assert!(args.chart.apply.force_conflicts);
        assert!(parse(&["app", "uninstall", "--release", "a", "--server-side"]).is_err());
    }

    #[test]
    fn helm_4_names_and_helm_3_names_set_the_same_flags() {
        let args = install(&["--rollback-on-failure", "--force-replace"]).unwrap();
        assert!(args.atomic && args.force);
        let args = install(&["--atomic", "--force"]).unwrap();
        assert!(args.atomic && args.force);
        let args = install(&[]).unwrap();
        assert!(!args.atomic && !args.force && !args.apply.force_conflicts);
        assert!(rollback(&["--force-replace"]).unwrap().force);
        assert!(rollback(&["--force"]).unwrap().force);
        // As helm 4: replacing and forcing conflicts exclude each other.
        for force in ["--force", "--force-replace"] {
            assert!(install(&[force, "--force-conflicts"]).is_err(), "{force}");
            assert!(rollback(&[force, "--force-conflicts"]).is_err(), "{force}");
        }
        assert!(parse(&["app", "rollback", "--release", "a", "--atomic"]).is_err());
    }

    #[test]
    fn helm_4_only_flags_say_so_in_their_help() {
        let cmd = Cli::command();
        let install = cmd
            .find_subcommand("app")
            .and_then(|app| app.find_subcommand("install"))
            .unwrap();
        let help = |id: &str| {
            let arg = install.get_arguments().find(|a| a.get_id() == id).unwrap();
            format!(
                "{} {}",
                arg.get_help().map(|h| h.to_string()).unwrap_or_default(),
                arg.get_long_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default()
            )
        };
        assert!(help("force_conflicts").contains("Helm 4 only"));
        assert!(help("server_side").contains("Helm 4"));
        assert!(help("wait").contains("Helm 4 only"));
        let atomic = install
            .get_arguments()
            .find(|a| a.get_id() == "atomic")
            .unwrap();
        assert_eq!(atomic.get_long(), Some("rollback-on-failure"));
        assert_eq!(atomic.get_visible_aliases(), Some(vec!["atomic"]));
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
        assert_eq!(cli.output, Output::Json);
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
        parse(args).unwrap().output
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
        assert_eq!(cli.output, Output::Json);
        assert!(parse(&["state", "import"]).is_err(), "FILE is required");
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
