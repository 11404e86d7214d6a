//! Where a chart comes from: a local bundle or an OCI registry.
//!
//! [`ChartSource`] is checked before any Go call when it is made with
//! [`ChartSource::bundle`], [`ChartSource::oci`] or
//! [`ChartSource::from_flags`]: a bundle must exist and look like a chart, and
//! an OCI reference must follow the OCI distribution grammar. Resolving a tag
//! or a version constraint happens later, in the client.
//!
//! The same types are what a state file records of a source
//! ([`ExecutionStateRecord::source`](crate::state::ExecutionStateRecord::source)),
//! with what the action found out: the bundle's content digest, the version
//! and digests an OCI chart resolved to. Those facts are `None` in a source
//! about to be deployed. A record is read as it was written, so a source read
//! from a state file is only checked again when it is deployed again
//! ([`to_chart_source`](ChartSource::to_chart_source)).

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Input, Result};

/// The scheme every OCI chart reference starts with.
const SCHEME: &str = "oci://";

/// The OCI distribution limit on `host/path` (`NameTotalLengthMax`).
const NAME_MAX: usize = 255;

/// The OCI distribution limit on a tag.
const TAG_MAX: usize = 128;

/// An OCI content digest, `algorithm:encoded` (OCI image spec,
/// descriptor.md), as the state file's schema checks it.
const DIGEST_PATTERN: &str = r"^[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$";

/// Where a chart comes from: what an action deploys, and what its record
/// says it deployed (as [`RecordSource`](crate::state::RecordSource), the
/// same type). It serializes as the state file's `source`, tagged by
/// `type`.
///
/// ```
/// use chainctl_core::ChartSource;
///
/// let source = ChartSource::oci("oci://registry.example.com/charts/web", Some("1.2.3"))?;
/// match &source {
///     ChartSource::Oci(oci) => {
///         assert_eq!(oci.parse_reference()?.chart_name(), "web");
///         assert_eq!(oci.version(), Some("1.2.3"));
///         assert_eq!(oci.resolved_version, None, "resolved when it is pulled");
///     }
///     ChartSource::Bundle(_) => unreachable!(),
/// }
/// assert_eq!(
///     serde_json::to_string(&source).unwrap(),
///     r#"{"type":"oci","reference":"oci://registry.example.com/charts/web","requestedVersion":"1.2.3"}"#
/// );
/// # Ok::<(), chainctl_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
#[schemars(rename = "RecordSource", description = "Where the chart came from.")]
pub enum ChartSource {
    /// A chart in an OCI registry.
    #[schemars(description = "A chart pulled from an OCI registry.")]
    Oci(OciSource),
    /// A chart directory or a packaged `.tgz` on the local disk.
    #[schemars(description = "A local chart directory or packaged `.tgz`.")]
    Bundle(BundleSource),
}

impl ChartSource {
    /// A local bundle: a chart directory (holding `Chart.yaml`) or a packaged
    /// chart (`.tgz` / `.tar.gz`, gzip-compressed). The path is stored
    /// canonicalized.
    ///
    /// ```
    /// use chainctl_core::ChartSource;
    ///
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("Chart.yaml"), "apiVersion: v2\nname: web\nversion: 0.1.0\n")?;
    ///
    /// let ChartSource::Bundle(bundle) = ChartSource::bundle(dir.path())? else { unreachable!() };
    /// assert!(bundle.path().is_absolute());
    ///
    /// let empty = tempfile::tempdir()?;
    /// assert!(ChartSource::bundle(empty.path()).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bundle(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        crate::error::utf8_path(path, "bundle")?;
        check_bundle(path)?;
        let path = path.canonicalize().map_err(|err| {
            Error::invalid(format!(
                "cannot resolve bundle path \"{}\": {err}",
                path.display()
            ))
        })?;
        let path = crate::error::utf8_path(&path, "bundle")?.to_owned();
        Ok(ChartSource::Bundle(BundleSource {
            path,
            content_digest: None,
        }))
    }

    /// A chart in an OCI registry, with an optional `--version` (an exact
    /// version or a semver constraint, resolved later). A tag in the reference
    /// and a different version is an error.
    ///
    /// ```
    /// use chainctl_core::ChartSource;
    ///
    /// assert!(ChartSource::oci("oci://ghcr.io/acme/web:1.0.0_b1", Some("1.0.0+b1")).is_ok());
    /// let err = ChartSource::oci("oci://ghcr.io/acme/web:1.0.0", Some("2.0.0")).unwrap_err();
    /// assert!(err.to_string().contains("\"1.0.0\""));
    /// assert!(err.to_string().contains("\"2.0.0\""));
    /// ```
    pub fn oci(reference: &str, version: Option<&str>) -> Result<Self> {
        let reference = OciReference::parse(reference)?;
        if let Some(version) = version {
            check_version(&reference, version)?;
        }
        Ok(ChartSource::Oci(OciSource {
            reference: reference.to_string(),
            requested_version: version.map(str::to_owned),
            resolved_version: None,
            manifest_digest: None,
            chart_digest: None,
        }))
    }

    /// The source named by the CLI flags `--bundle`, `--chart` and
    /// `--version`: exactly one of `bundle` and `chart`, and `version` only
    /// with `chart`.
    ///
    /// ```
    /// use chainctl_core::{ChartSource, ErrorKind};
    ///
    /// let source = ChartSource::from_flags(None, Some("oci://ghcr.io/acme/web"), Some("^1.2"))?;
    /// assert!(matches!(source, ChartSource::Oci(_)));
    ///
    /// let both = ChartSource::from_flags(Some("./web".as_ref()), Some("oci://ghcr.io/acme/web"), None);
    /// assert_eq!(both.unwrap_err().kind(), ErrorKind::ConflictingSources);
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn from_flags(
        bundle: Option<&Path>,
        chart: Option<&str>,
        version: Option<&str>,
    ) -> Result<Self> {
        match (bundle, chart) {
            (Some(_), Some(_)) => Err(Error::ConflictingSources {
                message: "both a bundle and an OCI chart were given: a release has exactly one \
                          chart source"
                    .to_owned(),
            }),
            (None, None) => Err(Error::invalid_in(
                Input::ChartSource,
                "no chart source was given: a release needs one, a bundle (a chart directory or \
                 .tgz) or an OCI chart (oci://REGISTRY/PATH/CHART)",
            )),
            (Some(_), None) if version.is_some() => Err(Error::invalid_in(
                Input::Version,
                "a version cannot be requested of a bundle: a bundle's version is fixed by its \
                 Chart.yaml",
            )),
            (Some(bundle), None) => ChartSource::bundle(bundle),
            (None, Some(chart)) => ChartSource::oci(chart, version),
        }
    }
}

impl fmt::Display for ChartSource {
    /// The bundle's path, or the OCI reference followed by
    /// ` (version V)` when a version was requested.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChartSource::Bundle(bundle) => f.write_str(&bundle.path),
            ChartSource::Oci(oci) => {
                f.write_str(&oci.reference)?;
                match &oci.requested_version {
                    Some(version) => write!(f, " (version {version})"),
                    None => Ok(()),
                }
            }
        }
    }
}

fn check_bundle(path: &Path) -> Result<()> {
    let shown = path.display();
    let metadata = std::fs::metadata(path).map_err(|err| {
        Error::invalid_in(
            Input::Bundle,
            match err.kind() {
                io::ErrorKind::NotFound => format!(
                    "bundle \"{shown}\" was not found: a bundle is a chart directory or a \
                     packaged .tgz"
                ),
                _ => format!("cannot read bundle \"{shown}\": {err}"),
            },
        )
    })?;
    if metadata.is_dir() {
        if path.join("Chart.yaml").is_file() {
            return Ok(());
        }
        return Err(Error::invalid_in(
            Input::Bundle,
            format!(
                "{shown} is a directory without Chart.yaml: a bundle is a chart directory or a \
                 packaged .tgz"
            ),
        ));
    }
    if !has_archive_extension(path) {
        return Err(Error::invalid_in(
            Input::Bundle,
            format!(
                "bundle \"{shown}\" is neither a chart directory nor a .tgz/.tar.gz archive: a \
                 bundle is a chart directory or the .tgz made by helm package"
            ),
        ));
    }
    if !starts_with_gzip_magic(path)? {
        return Err(Error::invalid_in(
            Input::Bundle,
            format!(
                "bundle \"{shown}\" is not gzip-compressed (it does not start with the bytes 1f 8b): \
             repackage the chart with helm package"
            ),
        ));
    }
    Ok(())
}

fn has_archive_extension(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    name.ends_with(".tgz") || name.ends_with(".tar.gz")
}

fn starts_with_gzip_magic(path: &Path) -> Result<bool> {
    let mut magic = Vec::with_capacity(2);
    File::open(path)
        .and_then(|file| file.take(2).read_to_end(&mut magic))
        .map_err(|err| {
            Error::invalid_in(
                Input::Bundle,
                format!("cannot read bundle \"{}\": {err}", path.display()),
            )
        })?;
    Ok(magic == [0x1f, 0x8b])
}

fn check_version(reference: &OciReference, version: &str) -> Result<()> {
    if version.is_empty() {
        return Err(Error::invalid_in(
            Input::Version,
            "the requested version is empty: a version is one such as 1.2.3 or a constraint \
             such as ^1.2; request none for the newest",
        ));
    }
    match reference.tag() {
        Some(tag) if tag != version_to_tag(version) => Err(Error::invalid_in(
            Input::Version,
            format!(
                "{reference} has the tag \"{tag}\" but the requested version is \"{version}\": \
                 drop one of them or make them agree"
            ),
        )),
        _ => Ok(()),
    }
}

/// A chart directory or packaged chart on the local disk, and what a record
/// keeps of it.
///
/// ```
/// use chainctl_core::ChartSource;
///
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("Chart.yaml"), "apiVersion: v2\nname: web\nversion: 0.1.0\n")?;
/// if let ChartSource::Bundle(bundle) = ChartSource::bundle(dir.path())? {
///     assert_eq!(bundle.path(), dir.path().canonicalize()?);
///     assert_eq!(bundle.content_digest, None, "computed for the record");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BundleSource {
    /// The chart directory or `.tgz`, as given (a path that is not UTF-8 is
    /// recorded lossily).
    #[schemars(length(min = 1))]
    pub path: String,
    /// Digest of the bundle's content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DIGEST_PATTERN))]
    pub content_digest: Option<String>,
}

impl BundleSource {
    /// The bundle's path: canonical and absolute when made by
    /// [`ChartSource::bundle`]; as recorded when read from a state file.
    ///
    /// ```
    /// use chainctl_core::ChartSource;
    ///
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("Chart.yaml"), "apiVersion: v2\nname: web\nversion: 0.1.0\n")?;
    /// if let ChartSource::Bundle(bundle) = ChartSource::bundle(dir.path())? {
    ///     assert!(bundle.path().is_absolute());
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path(&self) -> &Path {
        Path::new(&self.path)
    }

    /// Computes, now, a sha256 digest of exactly what Helm loads of the
    /// bundle (`sha256:<hex>`): every file Helm's chart loader reads, by
    /// name, so a change to anything deployable changes it, and a file
    /// `.helmignore` excludes (or any file Helm does not load) cannot.
    /// Computed by Helm's loader in the shim. (The field of the same name
    /// is the digest a record kept.)
    ///
    /// ```
    /// use chainctl_core::ChartSource;
    ///
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("Chart.yaml"), "apiVersion: v2\nname: web\nversion: 0.1.0\n")?;
    /// std::fs::write(dir.path().join(".helmignore"), "notes.txt\n")?;
    /// let ChartSource::Bundle(bundle) = ChartSource::bundle(dir.path())? else { unreachable!() };
    /// let before = bundle.content_digest()?;
    /// std::fs::write(dir.path().join("notes.txt"), "ignored by Helm\n")?;
    /// assert_eq!(before, bundle.content_digest()?);
    /// std::fs::write(dir.path().join("values.yaml"), "a: 1\n")?;
    /// assert_ne!(before, bundle.content_digest()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn content_digest(&self) -> Result<String> {
        let request = crate::wire::ChartPath {
            path: std::path::PathBuf::from(&self.path),
        };
        let reply = crate::bridge::call::<crate::wire::ChartDigest>(
            &request,
            &crate::bridge::CallOptions::default(),
        )?;
        Ok(reply.digest)
    }
}

/// A chart in an OCI registry: the reference and the requested version, and
/// what a record keeps of what they resolved to.
///
/// The reference is kept as text, exactly as given: a state file is read as
/// it was written (its schema asks only for `oci://`), so that a record an
/// older chainctl wrote stays readable even if this build's reference
/// grammar refuses it; [`parse_reference`](Self::parse_reference) checks it
/// where it is used.
///
/// ```
/// use chainctl_core::ChartSource;
///
/// if let ChartSource::Oci(oci) = ChartSource::oci("oci://ghcr.io/acme/web", Some("~1.4"))? {
///     assert_eq!(oci.parse_reference()?.registry(), "ghcr.io");
///     assert_eq!(oci.reference, "oci://ghcr.io/acme/web");
///     assert_eq!(oci.version(), Some("~1.4"));
/// }
///
/// // A source built by hand is checked when it is used, before any request.
/// use chainctl_core::{Client, ErrorKind, OciSource};
/// let unchecked = ChartSource::Oci(OciSource {
///     reference: "oci://ghcr.io/Acme/web".into(),
///     requested_version: None,
///     resolved_version: None,
///     manifest_digest: None,
///     chart_digest: None,
/// });
/// let err = Client::builder().build()?.pull(&unchecked).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
/// # Ok::<(), chainctl_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OciSource {
    /// The reference as given (`oci://host/path/chart[:tag][@digest]`).
    #[schemars(pattern(r"^oci://."))]
    pub reference: String,
    /// The `--version` asked for: an exact version or a semver constraint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_version: Option<String>,
    /// The chart version it resolved to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_version: Option<String>,
    /// Digest of the OCI manifest pulled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DIGEST_PATTERN))]
    pub manifest_digest: Option<String>,
    /// Digest of the chart layer (the `.tgz`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DIGEST_PATTERN))]
    pub chart_digest: Option<String>,
}

impl OciSource {
    /// The reference, parsed (and so checked against the OCI distribution
    /// grammar).
    ///
    /// ```
    /// use chainctl_core::ChartSource;
    /// use chainctl_core::state::OciSource;
    ///
    /// if let ChartSource::Oci(oci) = ChartSource::oci("oci://ghcr.io/acme/web:1.0.0", None)? {
    ///     assert_eq!(oci.parse_reference()?.tag(), Some("1.0.0"));
    /// }
    /// let recorded = OciSource {
    ///     reference: "oci://ghcr.io/Acme/web".into(),
    ///     requested_version: None,
    ///     resolved_version: None,
    ///     manifest_digest: None,
    ///     chart_digest: None,
    /// };
    /// assert!(recorded.parse_reference().unwrap_err().to_string().contains("uppercase"));
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn parse_reference(&self) -> Result<OciReference> {
        OciReference::parse(&self.reference)
    }

    /// The version asked for with `--version`, as given: an exact version or
    /// a semver constraint ([`requested_version`](Self::requested_version)).
    ///
    /// ```
    /// use chainctl_core::ChartSource;
    ///
    /// if let ChartSource::Oci(oci) = ChartSource::oci("oci://ghcr.io/acme/web", None)? {
    ///     assert_eq!(oci.version(), None);
    /// }
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn version(&self) -> Option<&str> {
        self.requested_version.as_deref()
    }
}

/// Maps a chart version to the OCI tag Helm stores it under: OCI tags cannot
/// hold `+`, so Helm writes `_` instead.
///
/// ```
/// use chainctl_core::version_to_tag;
///
/// assert_eq!(version_to_tag("1.2.3+build.7"), "1.2.3_build.7");
/// assert_eq!(version_to_tag("1.2.3"), "1.2.3");
/// ```
pub fn version_to_tag(version: &str) -> String {
    version.replace('+', "_")
}

/// A parsed `oci://host[:port]/path/chart[:tag][@sha256:<64 hex>]` reference.
///
/// Parsing follows the OCI distribution grammar and explains every rejected
/// reference; [`Display`](fmt::Display) gives back exactly the parsed text.
///
/// ```
/// use chainctl_core::OciReference;
///
/// let text = "oci://localhost:5000/charts/web:1.2.3";
/// let reference: OciReference = text.parse()?;
/// assert_eq!(reference.registry(), "localhost:5000");
/// assert_eq!(reference.repository(), "charts/web");
/// assert_eq!(reference.chart_name(), "web");
/// assert_eq!(reference.tag(), Some("1.2.3"));
/// assert_eq!(reference.digest(), None);
/// assert_eq!(reference.to_string(), text);
/// # Ok::<(), chainctl_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OciReference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl OciReference {
    /// Parses a reference; the same as [`str::parse`].
    ///
    /// ```
    /// use chainctl_core::OciReference;
    ///
    /// let err = OciReference::parse("oci://ghcr.io/Acme/web").unwrap_err();
    /// assert!(err.to_string().contains("uppercase"));
    /// ```
    pub fn parse(input: &str) -> Result<Self> {
        parse_reference(input).map_err(|detail| {
            Error::invalid(format!("invalid OCI reference \"{input}\": {detail}"))
        })
    }

    /// The registry: `host` or `host:port`, an IPv6 host in brackets.
    ///
    /// ```
    /// # use chainctl_core::OciReference;
    /// let reference = OciReference::parse("oci://[::1]:5000/charts/web")?;
    /// assert_eq!(reference.registry(), "[::1]:5000");
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry, ending with the chart name.
    ///
    /// ```
    /// # use chainctl_core::OciReference;
    /// let reference = OciReference::parse("oci://ghcr.io/acme/charts/web:1.0.0")?;
    /// assert_eq!(reference.repository(), "acme/charts/web");
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The chart name: the last component of the repository path.
    ///
    /// ```
    /// # use chainctl_core::OciReference;
    /// let reference = OciReference::parse("oci://ghcr.io/acme/charts/web")?;
    /// assert_eq!(reference.chart_name(), "web");
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn chart_name(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }

    /// The tag, when the reference has one.
    ///
    /// ```
    /// # use chainctl_core::OciReference;
    /// assert_eq!(OciReference::parse("oci://ghcr.io/acme/web:2.0.0")?.tag(), Some("2.0.0"));
    /// assert_eq!(OciReference::parse("oci://ghcr.io/acme/web")?.tag(), None);
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest (`sha256:<64 hex>`), when the reference pins one.
    ///
    /// ```
    /// # use chainctl_core::OciReference;
    /// let digest = format!("sha256:{}", "ab".repeat(32));
    /// let reference = OciReference::parse(&format!("oci://ghcr.io/acme/web@{digest}"))?;
    /// assert_eq!(reference.digest(), Some(digest.as_str()));
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }
}

impl FromStr for OciReference {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self> {
        OciReference::parse(input)
    }
}

impl fmt::Display for OciReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Parses a reference; errors are bare details that [`OciReference::parse`]
/// prefixes with the input.
fn parse_reference(input: &str) -> Result<OciReference, String> {
    let rest = strip_scheme(input)?;
    if rest.is_empty() {
        return Err("nothing after oci://: write oci://REGISTRY/PATH/CHART".to_owned());
    }
    let (name, digest) = match rest.split_once('@') {
        Some((_, after)) if after.contains('/') => {
            return Err(
                "'@' may only introduce a digest at the end (@sha256:...); credentials \
                        in the reference are not supported: log in to the registry instead"
                    .to_owned(),
            );
        }
        Some((name, digest)) => (name, Some(digest)),
        None => (rest, None),
    };
    let Some((registry, path)) = name.split_once('/') else {
        return Err(format!(
            "no repository path after the registry \"{name}\": write oci://{name}/PATH/CHART"
        ));
    };
    let (repository, tag) = match path.split_once(':') {
        Some((repository, tag)) => (repository, Some(tag)),
        None => (path, None),
    };
    check_registry(registry)?;
    check_repository(repository)?;
    let length = registry.len() + 1 + repository.len();
    if length > NAME_MAX {
        return Err(format!(
            "the name \"{registry}/{repository}\" is {length} characters, the OCI limit is \
             {NAME_MAX}"
        ));
    }
    if let Some(tag) = tag {
        check_tag(tag)?;
    }
    if let Some(digest) = digest {
        check_digest(digest)?;
    }
    Ok(OciReference {
        registry: registry.to_owned(),
        repository: repository.to_owned(),
        tag: tag.map(str::to_owned),
        digest: digest.map(str::to_owned),
    })
}

fn strip_scheme(input: &str) -> Result<&str, String> {
    if input.is_empty() {
        return Err("the reference is empty: write oci://REGISTRY/PATH/CHART".to_owned());
    }
    if let Some(rest) = input.strip_prefix(SCHEME) {
        return Ok(rest);
    }
    match input.split_once("://") {
        Some((scheme, _)) => Err(format!(
            "the scheme \"{scheme}://\" is not supported: chart references start with oci://"
        )),
        None => Err(format!("missing the oci:// scheme: write oci://{input}")),
    }
}

fn check_registry(registry: &str) -> Result<(), String> {
    if registry.is_empty() {
        return Err("missing the registry host: write oci://HOST/PATH/CHART".to_owned());
    }
    let (host, port) = split_host_port(registry)?;
    if !host.starts_with('[') {
        check_host(host)?;
    }
    match port {
        Some(port) => check_port(port),
        None => Ok(()),
    }
}

/// Splits `host[:port]`, checking a bracketed IPv6 host on the way.
fn split_host_port(registry: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(inner) = registry.strip_prefix('[') {
        let Some((address, after)) = inner.split_once(']') else {
            return Err(format!(
                "the IPv6 address in \"{registry}\" is missing its closing ']'"
            ));
        };
        if address.parse::<Ipv6Addr>().is_err() {
            return Err(format!("\"{address}\" is not a valid IPv6 address"));
        }
        let host = &registry[..address.len() + 2];
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(format!(
                    "unexpected \"{after}\" after the IPv6 address: write [ADDRESS]:PORT"
                )),
            },
        };
    }
    match registry.matches(':').count() {
        0 => Ok((registry, None)),
        1 => Ok(registry
            .split_once(':')
            .map(|(host, port)| (host, Some(port)))
            .unwrap_or((registry, None))),
        _ => Err(format!(
            "\"{registry}\" looks like an IPv6 address: put it in brackets, as in \
             oci://[::1]:5000/charts/web"
        )),
    }
}

fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err(
            "missing the registry host before the port: write oci://HOST:PORT/...".to_owned(),
        );
    }
    if host.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return match host.parse::<Ipv4Addr>() {
            Ok(_) => Ok(()),
            Err(_) => Err(format!("\"{host}\" is not a valid IPv4 address")),
        };
    }
    host.split('.')
        .try_for_each(|label| check_host_label(host, label))
}

fn check_host_label(host: &str, label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err(format!(
            "the host \"{host}\" has an empty label (\"..\" or a leading or trailing '.')"
        ));
    }
    if let Some(bad) = label
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && *c != '-')
    {
        return Err(format!(
            "the host \"{host}\" contains '{bad}': a host name holds letters, digits, '-' and '.'"
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(format!(
            "the host label \"{label}\" in \"{host}\" must start and end with a letter or digit"
        ));
    }
    if label.len() > 63 {
        return Err(format!(
            "the host label \"{label}\" is {} characters, DNS allows at most 63",
            label.len()
        ));
    }
    Ok(())
}

fn check_port(port: &str) -> Result<(), String> {
    if port.is_empty() {
        return Err("missing the port after ':': write HOST:PORT or drop the ':'".to_owned());
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "the port \"{port}\" is not a number: use a port between 1 and 65535"
        ));
    }
    match port.parse::<u32>() {
        Ok(1..=65535) => Ok(()),
        _ => Err(format!(
            "the port {port} is out of range: use a port between 1 and 65535"
        )),
    }
}

fn check_repository(repository: &str) -> Result<(), String> {
    if repository.is_empty() {
        return Err(
            "the repository path is empty: write oci://REGISTRY/PATH/CHART, ending with the chart \
             name"
                .to_owned(),
        );
    }
    if repository.ends_with('/') {
        return Err(format!(
            "the repository path \"{repository}\" ends with '/': end it with the chart name"
        ));
    }
    if repository.starts_with('/') || repository.contains("//") {
        return Err(format!(
            "the repository path \"{repository}\" has an empty component ('//'): remove the extra \
             '/'"
        ));
    }
    repository.split('/').try_for_each(check_path_component)
}

/// One component: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn check_path_component(component: &str) -> Result<(), String> {
    let is_alphanumeric = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if let Some(upper) = component.chars().find(char::is_ascii_uppercase) {
        return Err(format!(
            "the path component \"{component}\" contains uppercase '{upper}': OCI repository \
             names are lowercase"
        ));
    }
    let allowed = |c: char| is_alphanumeric(c) || matches!(c, '.' | '_' | '-');
    if let Some(bad) = component.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "the path component \"{component}\" contains '{bad}': only a-z, 0-9 and the \
             separators '.', '_', '__' and '-' are allowed"
        ));
    }
    if !component.starts_with(is_alphanumeric) || !component.ends_with(is_alphanumeric) {
        return Err(format!(
            "the path component \"{component}\" must start and end with a letter or digit"
        ));
    }
    let bad_separator = component
        .split(is_alphanumeric)
        .filter(|separator| !separator.is_empty())
        .find(|separator| !is_separator(separator));
    match bad_separator {
        Some(separator) => Err(format!(
            "the path component \"{component}\" has the separator \"{separator}\": between \
             letters and digits use one '.', one or two '_', or dashes"
        )),
        None => Ok(()),
    }
}

fn is_separator(separator: &str) -> bool {
    matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-')
}

/// `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
fn check_tag(tag: &str) -> Result<(), String> {
    if tag.is_empty() {
        return Err("empty tag after ':': write :VERSION or drop the ':'".to_owned());
    }
    let length = tag.chars().count();
    if length > TAG_MAX {
        return Err(format!(
            "the tag is {length} characters, the OCI limit is {TAG_MAX}"
        ));
    }
    if tag.starts_with(['.', '-']) {
        return Err(format!(
            "the tag \"{tag}\" must start with a letter, digit or '_'"
        ));
    }
    match tag
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && !matches!(c, '.' | '_' | '-'))
    {
        Some('+') => Err(format!(
            "the tag \"{tag}\" contains '+', which OCI tags cannot hold: Helm stores version \
             {tag} under the tag \"{}\"",
            version_to_tag(tag)
        )),
        Some(bad) => Err(format!(
            "the tag \"{tag}\" contains '{bad}': a tag holds letters, digits, '_', '.' and '-'"
        )),
        None => Ok(()),
    }
}

/// `sha256:` and 64 lowercase hex digits.
fn check_digest(digest: &str) -> Result<(), String> {
    const RULE: &str = "the digest must be \"sha256:\" followed by 64 lowercase hex digits";
    if digest.is_empty() {
        return Err(format!("empty digest after '@': {RULE}, or drop the '@'"));
    }
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(format!(
            "{RULE}; got \"{digest}\", which names no algorithm"
        ));
    };
    if algorithm != "sha256" {
        return Err(format!("{RULE}; got the algorithm \"{algorithm}\""));
    }
    if let Some(bad) = hex.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!("{RULE}; got '{bad}', which is not a hex digit"));
    }
    if hex.len() != 64 {
        return Err(format!("{RULE}; got {} hex digits", hex.len()));
    }
    if hex.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!(
            "{RULE}; got uppercase hex digits: write them in lowercase"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// Shows a parsed reference as `registry | repository | chart | tag | digest`,
    /// with `-` for a missing part and `D` for `sha256:{HEX}`.
    fn parts(reference: &OciReference) -> String {
        let digest = format!("sha256:{HEX}");
        let digest = match reference.digest() {
            Some(d) if d == digest => "D",
            Some(d) => d,
            None => "-",
        };
        format!(
            "{} | {} | {} | {} | {digest}",
            reference.registry(),
            reference.repository(),
            reference.chart_name(),
            reference.tag().unwrap_or("-"),
        )
    }

    #[test]
    fn oci_references_that_parse() {
        // input => registry | repository | chart | tag | digest
        let cases = [
            "oci://ghcr.io/acme/web => ghcr.io | acme/web | web | - | -",
            "oci://ghcr.io/acme/web:1.2.3 => ghcr.io | acme/web | web | 1.2.3 | -",
            "oci://localhost:5000/charts/web:0.1.0 => localhost:5000 | charts/web | web | 0.1.0 | -",
            "oci://localhost/web => localhost | web | web | - | -",
            "oci://127.0.0.1:5000/web => 127.0.0.1:5000 | web | web | - | -",
            "oci://[::1]/web => [::1] | web | web | - | -",
            "oci://[::1]:5000/a/b/c => [::1]:5000 | a/b/c | c | - | -",
            "oci://[2001:db8::1]:443/charts/x:v1 => [2001:db8::1]:443 | charts/x | x | v1 | -",
            "oci://Registry.Example.COM/web => Registry.Example.COM | web | web | - | -",
            "oci://my-reg.example.com:65535/web => my-reg.example.com:65535 | web | web | - | -",
            "oci://r/web@sha256:{HEX} => r | web | web | - | D",
            "oci://r/web:1.0.0@sha256:{HEX} => r | web | web | 1.0.0 | D",
            "oci://r/a.b/c_d/e__f/g-h/i---j => r | a.b/c_d/e__f/g-h/i---j | i---j | - | -",
            "oci://r/web:_hidden => r | web | web | _hidden | -",
            "oci://r/web:1.0.0_build.7 => r | web | web | 1.0.0_build.7 | -",
            "oci://r/web:V1-rc.1 => r | web | web | V1-rc.1 | -",
            "oci://r/0/9 => r | 0/9 | 9 | - | -",
        ];
        for case in cases {
            let (input, want) = case.split_once(" => ").unwrap();
            let input = input.replace("{HEX}", HEX);
            let parsed: OciReference = input.parse().unwrap_or_else(|err| panic!("{err}"));
            assert_eq!(parts(&parsed), want, "{input}");
            assert_eq!(parsed.to_string(), input, "round trip");
            assert_eq!(OciReference::parse(&parsed.to_string()).unwrap(), parsed);
        }
    }

    #[test]
    fn oci_references_at_the_length_limits() {
        let path = "a".repeat(253);
        let tag = "t".repeat(128);
        let longest_name = OciReference::parse(&format!("oci://h/{path}")).unwrap();
        assert_eq!(longest_name.repository().len() + "h/".len(), NAME_MAX);
        assert_eq!(longest_name.chart_name(), path);
        let longest_tag = OciReference::parse(&format!("oci://h/c:{tag}")).unwrap();
        assert_eq!(longest_tag.tag(), Some(tag.as_str()));
        assert_eq!(longest_tag.to_string(), format!("oci://h/c:{tag}"));
    }

    #[test]
    fn oci_references_that_do_not_parse() {
        let too_long_name = format!("oci://h/{}", "a".repeat(254));
        let too_long_tag = format!("oci://h/c:{}", "t".repeat(129));
        let cases: Vec<(String, &str)> = vec![
            ("", "the reference is empty"),
            (
                "ghcr.io/acme/web",
                "missing the oci:// scheme: write oci://ghcr.io/acme/web",
            ),
            (
                "http://ghcr.io/acme/web",
                "the scheme \"http://\" is not supported",
            ),
            (
                "https://ghcr.io/acme/web",
                "the scheme \"https://\" is not supported",
            ),
            (
                "OCI://ghcr.io/acme/web",
                "the scheme \"OCI://\" is not supported",
            ),
            (
                "oci://ghcr.io",
                "no repository path after the registry \"ghcr.io\"",
            ),
            ("oci://", "nothing after oci://"),
            ("oci:///web", "missing the registry host"),
            ("oci://ghcr.io/", "the repository path is empty"),
            ("oci://ghcr.io/:1.0", "the repository path is empty"),
            ("oci://ghcr.io/acme/", "ends with '/'"),
            ("oci://ghcr.io/acme//web", "has an empty component ('//')"),
            ("oci://ghcr.io//web", "has an empty component ('//')"),
            ("oci://ghcr.io/Acme/web", "contains uppercase 'A'"),
            (
                "oci://ghcr.io/acme/Web",
                "the path component \"Web\" contains uppercase 'W'",
            ),
            ("oci://r/we b", "contains ' '"),
            ("oci://r/web!", "contains '!'"),
            ("oci://r/-web", "must start and end with a letter or digit"),
            ("oci://r/web_", "must start and end with a letter or digit"),
            ("oci://r/a___b", "has the separator \"___\""),
            ("oci://r/a..b", "has the separator \"..\""),
            ("oci://r/a.-b", "has the separator \".-\""),
            ("oci://r:abc/web", "the port \"abc\" is not a number"),
            ("oci://r:0/web", "the port 0 is out of range"),
            ("oci://r:65536/web", "the port 65536 is out of range"),
            ("oci://r:99999999999/web", "out of range"),
            ("oci://r:/web", "missing the port after ':'"),
            ("oci://r:+80/web", "the port \"+80\" is not a number"),
            (":5000/web", "missing the oci:// scheme"),
            (
                "oci://:5000/web",
                "missing the registry host before the port",
            ),
            (
                "oci://::1/web",
                "looks like an IPv6 address: put it in brackets",
            ),
            ("oci://::1:5000/web", "looks like an IPv6 address"),
            ("oci://[::1/web", "missing its closing ']'"),
            ("oci://[zz::1]/web", "\"zz::1\" is not a valid IPv6 address"),
            (
                "oci://[::1]x/web",
                "unexpected \"x\" after the IPv6 address",
            ),
            ("oci://[::1]:0/web", "the port 0 is out of range"),
            (
                "oci://999.1.1.1/web",
                "\"999.1.1.1\" is not a valid IPv4 address",
            ),
            ("oci://a..b/web", "has an empty label"),
            ("oci://-a.com/web", "the host label \"-a\""),
            ("oci://a_b.com/web", "contains '_'"),
            (
                "oci://user@ghcr.io/acme/web",
                "credentials in the reference are not supported",
            ),
            ("oci://r/web:", "empty tag after ':'"),
            ("oci://r/web:1.0:2", "the tag \"1.0:2\" contains ':'"),
            (
                "oci://r/web:1.0.0+build",
                "contains '+', which OCI tags cannot hold",
            ),
            (
                "oci://r/web:.hidden",
                "must start with a letter, digit or '_'",
            ),
            ("oci://r/web:-x", "must start with a letter, digit or '_'"),
            ("oci://r/web:v/1", "the tag \"v/1\" contains '/'"),
            ("oci://r/web@", "empty digest after '@'"),
            ("oci://r/web@sha256", "which names no algorithm"),
            ("oci://r/web@sha256:abc", "got 3 hex digits"),
            ("oci://r/web@sha256:{HEX}00", "got 66 hex digits"),
            ("oci://r/web@sha256:{UPPER}", "got uppercase hex digits"),
            (
                "oci://r/web@sha512:{HEX}{HEX}",
                "got the algorithm \"sha512\"",
            ),
            ("oci://r/web@md5:abc", "got the algorithm \"md5\""),
            (
                "oci://r/web@sha256:{HEXZ}",
                "got 'z', which is not a hex digit",
            ),
            ("oci://r/web@sha256:{HEX}@sha256:{HEX}", "not a hex digit"),
        ]
        .into_iter()
        .map(|(input, want)| {
            let input = input
                .replace("{UPPER}", &HEX.to_ascii_uppercase())
                .replace("{HEXZ}", &format!("{}z", &HEX[1..]))
                .replace("{HEX}", HEX);
            (input, want)
        })
        .chain([
            (too_long_name, "is 256 characters, the OCI limit is 255"),
            (
                too_long_tag,
                "the tag is 129 characters, the OCI limit is 128",
            ),
        ])
        .collect();
        for (input, want) in &cases {
            let err = OciReference::parse(input).expect_err(input);
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{input}");
            let msg = err.to_string();
            assert!(
                msg.starts_with(&format!("invalid OCI reference \"{input}\": ")),
                "{msg}"
            );
            assert!(msg.contains(want), "{input}: {msg}\n  wanted: {want}");
        }
        assert!(cases.len() >= 40);
    }

    #[test]
    fn digest_errors_state_the_rule() {
        for bad in ["sha512:00", "sha256:00", "sha256"] {
            let msg = OciReference::parse(&format!("oci://r/web@{bad}"))
                .unwrap_err()
                .to_string();
            assert!(
                msg.contains("the digest must be \"sha256:\" followed by 64 lowercase hex digits"),
                "{msg}"
            );
        }
    }

    #[test]
    fn version_to_tag_maps_plus() {
        assert_eq!(version_to_tag("1.0.0+abc+def"), "1.0.0_abc_def");
        assert_eq!(version_to_tag("^1.2"), "^1.2");
    }

    #[test]
    fn oci_source_checks_tag_against_version() {
        assert!(ChartSource::oci("oci://r/web:1.0.0", Some("1.0.0")).is_ok());
        assert!(ChartSource::oci("oci://r/web:1.0.0_b", Some("1.0.0+b")).is_ok());
        assert!(ChartSource::oci("oci://r/web", Some(">=1.0 <2")).is_ok());
        let err = ChartSource::oci("oci://r/web:1.0.0", Some("1.0.1")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            err.to_string(),
            "oci://r/web:1.0.0 has the tag \"1.0.0\" but the requested version is \"1.0.1\": \
             drop one of them or make them agree"
        );
        assert_eq!(err.invalid_input(), Some(Input::Version));
        let err = ChartSource::oci("oci://r/web", Some("")).unwrap_err();
        assert!(err.to_string().contains("the requested version is empty"));
        assert_eq!(err.invalid_input(), Some(Input::Version));
        let err = ChartSource::oci("oci://r/Web", None).unwrap_err();
        assert!(err.to_string().starts_with("invalid OCI reference"));
    }

    #[test]
    fn oci_source_keeps_reference_and_version() {
        let source = ChartSource::oci("oci://r/web", Some("^1")).unwrap();
        let ChartSource::Oci(oci) = &source else {
            panic!("expected an OCI source")
        };
        assert_eq!(oci.parse_reference().unwrap().to_string(), "oci://r/web");
        assert_eq!(oci.version(), Some("^1"));
        assert_eq!(source.to_string(), "oci://r/web (version ^1)");
    }

    #[test]
    fn a_source_is_its_record_and_a_recorded_one_is_read_as_written() {
        let source = ChartSource::oci("oci://r/web:1.0.0", None).unwrap();
        let json = serde_json::to_string(&source).unwrap();
        assert_eq!(json, r#"{"type":"oci","reference":"oci://r/web:1.0.0"}"#);
        assert_eq!(serde_json::from_str::<ChartSource>(&json).unwrap(), source);

        // A reference this build's grammar refuses still reads: the record
        // is kept as written, and only deploying it again checks it.
        let recorded: ChartSource = serde_json::from_str(
            r#"{"type":"oci","reference":"oci://r/Web","resolvedVersion":"1.0.0","chartDigest":"sha256:ab"}"#,
        )
        .unwrap();
        let ChartSource::Oci(oci) = &recorded else {
            panic!("expected an OCI source")
        };
        assert_eq!(oci.chart_digest.as_deref(), Some("sha256:ab"));
        assert!(
            oci.parse_reference()
                .unwrap_err()
                .to_string()
                .contains("uppercase")
        );
        assert!(recorded.to_chart_source().is_err());

        let bundle: ChartSource =
            serde_json::from_str(r#"{"type":"bundle","path":"/gone","contentDigest":"sha256:cd"}"#)
                .unwrap();
        assert_eq!(bundle.to_string(), "/gone");
        let unknown = r#"{"type":"bundle","path":"/gone","size":3}"#;
        assert!(serde_json::from_str::<ChartSource>(unknown).is_err());
    }

    fn chart_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Chart.yaml"),
            "apiVersion: v2\nname: web\nversion: 0.1.0\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn bundle_directory_with_chart_yaml() {
        let dir = chart_dir();
        let source = ChartSource::bundle(dir.path().join(".")).unwrap();
        let ChartSource::Bundle(bundle) = &source else {
            panic!("expected a bundle")
        };
        assert_eq!(bundle.path(), dir.path().canonicalize().unwrap());
        assert_eq!(source.to_string(), bundle.path().display().to_string());
    }

    #[test]
    fn bundle_directory_without_chart_yaml() {
        let dir = tempfile::tempdir().unwrap();
        let err = ChartSource::bundle(dir.path()).unwrap_err();
        assert_eq!(err.invalid_input(), Some(Input::Bundle));
        assert_eq!(
            err.to_string(),
            format!(
                "{} is a directory without Chart.yaml: a bundle is a chart directory or a \
                 packaged .tgz",
                dir.path().display()
            )
        );
    }

    #[test]
    fn bundle_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.tgz");
        let err = ChartSource::bundle(&path).unwrap_err();
        assert_eq!(err.invalid_input(), Some(Input::Bundle));
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("was not found"), "{msg}");
    }

    #[test]
    fn bundle_archive_needs_extension_and_gzip_magic() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["web-0.1.0.tgz", "web-0.1.0.tar.gz", "WEB.TGZ"] {
            let path = dir.path().join(name);
            std::fs::write(&path, [0x1f, 0x8b, 0x08, 0x00]).unwrap();
            assert!(ChartSource::bundle(&path).is_ok(), "{name}");
        }
        let zip = dir.path().join("web.zip");
        std::fs::write(&zip, [0x1f, 0x8b]).unwrap();
        let msg = ChartSource::bundle(&zip).unwrap_err().to_string();
        assert!(
            msg.contains("web.zip") && msg.contains("neither a chart directory"),
            "{msg}"
        );
        for (name, bytes) in [
            ("plain.tgz", &b"apiVersion: v2"[..]),
            ("empty.tgz", &[][..]),
            ("one.tgz", &[0x1f][..]),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let msg = ChartSource::bundle(&path).unwrap_err().to_string();
            assert!(msg.contains(name) && msg.contains("1f 8b"), "{msg}");
        }
    }

    #[test]
    fn from_flags_wants_exactly_one_source() {
        let dir = chart_dir();
        let both =
            ChartSource::from_flags(Some(dir.path()), Some("oci://r/web"), None).unwrap_err();
        assert_eq!(both.kind(), ErrorKind::ConflictingSources);
        let msg = both.to_string();
        assert!(msg.contains("bundle") && msg.contains("OCI") && msg.contains("exactly one"));
        // The library names its own notions; the CLI adds its flags.
        assert!(!msg.contains("--"), "{msg}");

        let neither = ChartSource::from_flags(None, None, None).unwrap_err();
        assert_eq!(neither.kind(), ErrorKind::InvalidInput);
        assert_eq!(neither.invalid_input(), Some(Input::ChartSource));
        let msg = neither.to_string();
        assert!(msg.contains("bundle") && msg.contains("OCI"), "{msg}");
        assert!(!msg.contains("--"), "{msg}");

        let versioned = ChartSource::from_flags(Some(dir.path()), None, Some("1.0.0")).unwrap_err();
        assert_eq!(versioned.kind(), ErrorKind::InvalidInput);
        assert_eq!(versioned.invalid_input(), Some(Input::Version));
        assert!(
            versioned
                .to_string()
                .contains("a version cannot be requested of a bundle")
        );

        assert!(matches!(
            ChartSource::from_flags(Some(dir.path()), None, None),
            Ok(ChartSource::Bundle(_))
        ));
        assert!(matches!(
            ChartSource::from_flags(None, Some("oci://r/web:1"), Some("1")),
            Ok(ChartSource::Oci(_))
        ));
    }
}
