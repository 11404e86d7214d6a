//! OCI registries: how to reach them, and pulling charts through the cache.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::bridge::{self, CallOptions};
use crate::cache::{CachedManifest, ChartCache};
use crate::error::{Error, Input, Result};
use crate::report::ChartInfo;
use crate::source::{OciSource, version_to_tag};
use crate::wire;

/// How to reach a registry: transport, TLS and credentials.
///
/// TLS is verified unless [`insecure_skip_tls_verify`](Self::insecure_skip_tls_verify)
/// is set. Without a username and password, credentials come from Helm's
/// registry config file (what `helm registry login` writes) and Docker's
/// credential helpers. The password never appears in `Debug` output, errors
/// or records.
///
/// ```
/// use chainctl_core::RegistryOptions;
/// let opts = RegistryOptions { username: Some("ci".into()), password: Some("s3cret".into()), ..Default::default() };
/// assert!(!format!("{opts:?}").contains("s3cret"));
/// ```
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "camelCase")]
pub struct RegistryOptions {
    /// Talk plain HTTP instead of HTTPS.
    pub plain_http: bool,
    /// Do not verify the registry's TLS certificate.
    #[serde(rename = "insecureSkipTlsVerify")]
    pub insecure_skip_tls_verify: bool,
    /// A CA certificate (PEM) to trust besides the system's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// A client certificate (PEM), with [`key_file`](Self::key_file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// The client certificate's key (PEM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Basic-auth user name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Basic-auth password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Helm's registry config file; default [`RegistryOptions::helm_config_file`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_file: Option<PathBuf>,
}

impl fmt::Debug for RegistryOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryOptions")
            .field("plain_http", &self.plain_http)
            .field("insecure_skip_tls_verify", &self.insecure_skip_tls_verify)
            .field("ca_file", &self.ca_file)
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("config_file", &self.config_file)
            .finish()
    }
}

impl RegistryOptions {
    /// Where Helm keeps registry credentials: `$HELM_REGISTRY_CONFIG`, else
    /// `registry/config.json` under `$HELM_CONFIG_HOME` or the platform
    /// config directory's `helm`.
    pub fn helm_config_file() -> Option<PathBuf> {
        if let Some(path) = std::env::var_os("HELM_REGISTRY_CONFIG") {
            return Some(PathBuf::from(path));
        }
        let home = match std::env::var_os("HELM_CONFIG_HOME") {
            Some(dir) => PathBuf::from(dir),
            None => directories::BaseDirs::new()?.config_dir().join("helm"),
        };
        Some(home.join("registry").join("config.json"))
    }

    /// The settings as the shim takes them, with the config file resolved.
    fn to_wire(&self) -> Result<RegistryOptions> {
        let mut wire = self.clone();
        if wire.config_file.is_none() {
            wire.config_file = Some(RegistryOptions::helm_config_file().ok_or_else(|| {
                Error::invalid("no home or config directory: name the registry config file")
            })?);
        }
        Ok(wire)
    }

    /// `reference` with these settings, as a registry request starts.
    fn reference(&self, reference: String) -> Result<wire::RegistryRef> {
        Ok(wire::RegistryRef {
            reference,
            registry: self.to_wire()?,
        })
    }
}

/// What a pull produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullReport {
    /// The reference pulled, pinned: `oci://host/path/chart:tag@sha256:...`.
    pub reference: String,
    /// The version requested (exact or a constraint), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_version: Option<String>,
    /// The chart version pulled.
    pub version: String,
    /// The digest of the OCI manifest.
    pub manifest_digest: String,
    /// The digest of the chart archive layer.
    pub chart_digest: String,
    /// The chart's name, version and appVersion.
    pub chart: ChartInfo,
    /// Where the archive is, in the cache.
    pub path: PathBuf,
    /// True when no chart data was downloaded (the cache had it).
    pub cached: bool,
}

/// Lists the chart versions in a repository (`oci://host/path/chart`),
/// newest first.
pub(crate) fn versions(
    repository: &str,
    registry: &RegistryOptions,
    call: &CallOptions<'_>,
) -> Result<Vec<String>> {
    let request = wire::TagsRequest {
        target: registry.reference(repository.to_string())?,
        version: None,
    };
    Ok(bridge::call::<wire::RegistryTags>(&request, call)?.versions)
}

/// Bounds on what a pull accepts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PullLimits {
    /// The largest chart archive, in bytes (enforced by the shim while the
    /// archive streams).
    pub(crate) max_chart_size: u64,
}

/// Pulls `source` into `cache`, downloading only what the cache lacks: a
/// digest-pinned reference already cached makes no request; a tag makes one
/// manifest request.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pull(
    source: &OciSource,
    registry: &RegistryOptions,
    cache: &ChartCache,
    call: &CallOptions<'_>,
    limits: PullLimits,
    offline: bool,
    warn: &mut dyn FnMut(String),
) -> Result<PullReport> {
    let oci = source.parse_reference()?;
    let repository = format!("{}/{}", oci.registry(), oci.repository());
    if offline {
        return pull_offline(source, &repository, cache, warn);
    }

    // The tag to resolve: from the reference, the exact version, or the
    // newest version matching the constraint (Helm's rules, in the shim).
    let tag = match (oci.tag(), source.version()) {
        (Some(tag), _) => Some(tag.to_string()),
        (None, version) if oci.digest().is_none() => {
            let request = wire::TagsRequest {
                target: registry.reference(repository.clone())?,
                version: Some(version.unwrap_or("").to_string()),
            };
            let result = bridge::call::<wire::RegistryTags>(&request, call)?;
            let matched = result
                .matched
                .ok_or_else(|| Error::internal("registry.tags returned no match"))?;
            Some(version_to_tag(&matched))
        }
        (None, _) => None,
    };

    let manifest_digest = match oci.digest() {
        Some(digest) => {
            check_pinned_tag(source, &repository, digest, registry, cache, call)?;
            digest.to_string()
        }
        None => resolve(
            &repository,
            tag.as_deref().unwrap_or("latest"),
            registry,
            cache,
            call,
        )?,
    };
    let pinned = match &tag {
        Some(tag) => format!("oci://{repository}:{tag}@{manifest_digest}"),
        None => format!("oci://{repository}@{manifest_digest}"),
    };
    let report = |entry: CachedManifest, path: PathBuf, cached: bool| PullReport {
        reference: pinned.clone(),
        requested_version: source.version().map(str::to_string),
        version: entry.chart.version.clone(),
        manifest_digest: manifest_digest.clone(),
        chart_digest: entry.chart_digest,
        chart: entry.chart,
        path,
        cached,
    };

    if let Some((entry, path)) = cache.manifest(&manifest_digest, warn)? {
        return Ok(report(entry, path, true));
    }

    let temp = cache.temp_file()?;
    let request = wire::PullRequest {
        target: registry.reference(format!("{repository}@{manifest_digest}"))?,
        dest: temp.to_path_buf(),
        max_chart_bytes: limits.max_chart_size,
    };
    let pulled = bridge::call::<wire::RegistryPull>(&request, call);
    // On every error below, dropping `temp` removes the download.
    let pulled = pulled?;
    if pulled.manifest_digest != manifest_digest {
        return Err(Error::Registry {
            message: format!(
                "{repository}@{manifest_digest} came back as manifest {}: the registry is inconsistent",
                pulled.manifest_digest
            ),
            host: Some(oci.registry().to_string()),
            failure: crate::error::RegistryFailure::Other,
        });
    }
    let entry = CachedManifest {
        chart_digest: pulled.chart_digest,
        chart: pulled.chart,
    };
    let path = cache.insert(temp, &manifest_digest, &entry)?;
    Ok(report(entry, path, false))
}

/// The manifest digest `repository:tag` points at now (one manifest
/// request); remembered in the cache for offline use.
pub(crate) fn resolve(
    repository: &str,
    tag: &str,
    registry: &RegistryOptions,
    cache: &ChartCache,
    call: &CallOptions<'_>,
) -> Result<String> {
    let request = registry.reference(format!("{repository}:{tag}"))?;
    let resolved = bridge::call::<wire::RegistryResolve>(&request, call)?;
    cache.remember_tag(repository, tag, &resolved.digest)?;
    Ok(resolved.digest)
}

/// A reference that pins a digest and names a tag too (`chart:1.2.3@sha256:…`,
/// or `--version 1.2.3` with `chart@sha256:…`) must mean one chart: as helm
/// does, the tag is resolved and a different digest is refused before
/// anything is pulled or installed. A tag the registry does not have is no
/// conflict (the digest alone decides, as with helm); nor is a version
/// constraint, which is no tag.
fn check_pinned_tag(
    source: &OciSource,
    repository: &str,
    digest: &str,
    registry: &RegistryOptions,
    cache: &ChartCache,
    call: &CallOptions<'_>,
) -> Result<()> {
    let reference = source.parse_reference()?;
    let Some(tag) = reference.tag().or(source.version()).filter(|t| is_tag(t)) else {
        return Ok(());
    };
    match resolve(repository, tag, registry, cache, call) {
        Ok(resolved) if resolved == digest => Ok(()),
        Ok(resolved) => Err(Error::invalid(format!(
            "oci://{repository}:{tag} is {resolved} in the registry, but the reference pins \
                 {digest}: they are different charts, and nothing was pulled or installed \
                 (helm refuses this too). Drop the tag to install the digest, or drop the \
                 digest to install what the tag points at now"
        ))),
        Err(Error::NotFound { .. }) => Ok(()),
        Err(err) => Err(err),
    }
}

/// An OCI tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn is_tag(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && text.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// A pull that uses only the cache: a digest, or a tag (or exact version)
/// resolved online before; anything else is named as missing.
fn pull_offline(
    source: &OciSource,
    repository: &str,
    cache: &ChartCache,
    warn: &mut dyn FnMut(String),
) -> Result<PullReport> {
    let oci = source.parse_reference()?;
    let tag = oci
        .tag()
        .map(str::to_string)
        .or_else(|| source.version().map(version_to_tag));
    let missing = |what: String| Error::NotFound {
        message: format!(
            "{what} is not in the chart cache ({}), and the client is offline",
            cache.root().display()
        ),
        missing: crate::error::Missing::Cached { reference: what },
    };
    let manifest_digest = match (oci.digest(), &tag) {
        (Some(digest), _) => digest.to_string(),
        (None, Some(tag)) => cache
            .tag(repository, tag)
            .ok_or_else(|| missing(format!("oci://{repository}:{tag}")))?,
        (None, None) => {
            return Err(Error::invalid_in(
                Input::Offline,
                format!(
                    "oci://{repository}: offline, a chart is found in the cache only by a tag, \
                     an exact version or a digest"
                ),
            ));
        }
    };
    let (entry, path) = cache
        .manifest(&manifest_digest, warn)?
        .ok_or_else(|| missing(format!("oci://{repository}@{manifest_digest}")))?;
    let reference = match &tag {
        Some(tag) => format!("oci://{repository}:{tag}@{manifest_digest}"),
        None => format!("oci://{repository}@{manifest_digest}"),
    };
    Ok(PullReport {
        reference,
        requested_version: source.version().map(str::to_string),
        version: entry.chart.version.clone(),
        manifest_digest,
        chart_digest: entry.chart_digest,
        chart: entry.chart,
        path,
        cached: true,
    })
}

/// Checks credentials against `host` and stores them in the registry config
/// file (Helm's format: a login here serves helm too, and the reverse).
pub(crate) fn login(
    host: &str,
    registry: &RegistryOptions,
    call: &CallOptions<'_>,
) -> Result<PathBuf> {
    let request = registry.reference(host.to_string())?;
    Ok(bridge::call::<wire::RegistryLogin>(&request, call)?.config_file)
}

/// Removes the stored credentials of `host` from the registry config file.
pub(crate) fn logout(
    host: &str,
    registry: &RegistryOptions,
    call: &CallOptions<'_>,
) -> Result<PathBuf> {
    let request = registry.reference(host.to_string())?;
    Ok(bridge::call::<wire::RegistryLogout>(&request, call)?.config_file)
}
