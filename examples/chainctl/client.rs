//! The Helm client the flags describe, and the kubeconfig's namespace and
//! cluster.

use std::io::{self, BufRead};
use std::path::PathBuf;
use std::sync::Once;
use std::time::Duration;

use chainctl_core::{
    Client, ClientBuilder, Event, EventLevel, RegistryOptions, ReleaseRef, Storage,
};

use crate::exit::Failure;
use crate::flags::{CommonArgs, Driver, RegistryArgs};
use crate::interrupts::interrupts;

impl RegistryArgs {
    /// The library's registry options; the password comes from stdin or the
    /// environment, never from argv.
    pub(crate) fn options(&self) -> Result<RegistryOptions, Failure> {
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
    pub(crate) fn client(&self, timeout: Duration) -> Result<Client, Failure> {
        let mut builder = builder()
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

/// The Go collector's target the CLI runs with unless `GOGC` says
/// otherwise: half of Go's default. A chainctl action is one short process
/// whose peak heap is its peak RSS's largest part; at 50 the heap grows half
/// as far between collections (BENCHMARKS.md, "install and upgrade", has
/// the measured saving and its cost in wall time).
const CLI_GO_GC_PERCENT: i32 = 50;

/// A client builder, with the Go collector's target set first for this
/// process (the library leaves it to the program that links it), unless the
/// user set `GOGC`, which the Go runtime has already applied. Here, not at
/// start-up: the first call into the shim waits for the Go runtime, which
/// the commands that build no client (`state show`, …) never start.
fn builder() -> ClientBuilder {
    static GC_TARGET: Once = Once::new();
    GC_TARGET.call_once(|| {
        if std::env::var_os("GOGC").is_none() {
            // Only memory is at stake: a shim that cannot be reached here
            // fails the client's own first call with the real error.
            let _ = Client::set_go_gc_percent(CLI_GO_GC_PERCENT);
        }
    });
    Client::builder()
}

/// Builds the client the common flags describe.
pub(crate) fn client(
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
    let mut builder = builder()
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
pub(crate) fn print_events(least: EventLevel) -> impl Fn(&Event) + Send + Sync + 'static {
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
pub(crate) fn kube_cache_dir() -> Option<PathBuf> {
    match std::env::var_os("KUBECACHEDIR") {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".kube").join("cache")),
    }
}

/// Fills in the namespace as helm chooses it (-n or HELM_NAMESPACE, else
/// the kubeconfig context's, else `default`) and the cluster the records
/// are of, both read by client-go in the shim.
pub(crate) fn resolve_kube(common: &mut CommonArgs) -> Result<(), Failure> {
    let resolved = client(common, RegistryOptions::default(), false, None)?
        .resolve_kube(common.namespace_flag.as_deref())?;
    common.namespace = resolved.namespace.clone();
    common.resolved = Some(resolved);
    Ok(())
}

pub(crate) fn connect(common: &CommonArgs) -> Result<(Client, ReleaseRef), Failure> {
    let release = ReleaseRef::new(&common.release, &common.namespace)?;
    Ok((
        client(common, RegistryOptions::default(), false, None)?,
        release,
    ))
}
