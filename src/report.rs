//! What Helm actions report back: releases, hooks, phase timings.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A chart's identity as recorded in a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartInfo {
    /// The chart's name from Chart.yaml.
    pub name: String,
    /// The chart's version from Chart.yaml.
    pub version: String,
    /// The application version from Chart.yaml, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
}

/// A Helm hook rendered with a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hook {
    /// The hooked resource's name.
    pub name: String,
    /// Its Kubernetes kind.
    pub kind: String,
    /// The template it came from.
    pub path: String,
    /// When it runs (`pre-install`, `post-upgrade`, ...).
    pub events: Vec<String>,
    /// The rendered manifest.
    pub manifest: String,
}

/// One revision of a Helm release, as Helm stores it.
///
/// ```
/// use chainctl_core::ReleaseInfo;
/// let rel: ReleaseInfo = serde_json::from_str(r#"{"name":"hello","namespace":"demo",
///     "revision":2,"status":"deployed","chart":{"name":"hello","version":"0.1.0"}}"#).unwrap();
/// assert_eq!(rel.revision, 2);
/// assert!(rel.manifest.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseInfo {
    /// The release name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Helm's revision number, 1 for the first install.
    pub revision: u32,
    /// Helm's status: `deployed`, `superseded`, `failed`, `uninstalled`,
    /// `pending-install`, ...
    pub status: String,
    /// Helm's description of the revision ("Install complete").
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The chart deployed in this revision.
    pub chart: ChartInfo,
    /// When the release was first deployed (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_deployed: Option<String>,
    /// When this revision was deployed (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_deployed: Option<String>,
    /// When the release was uninstalled, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<String>,
    /// The chart's rendered NOTES.txt.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
    /// The rendered manifest (empty in history listings).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub manifest: String,
    /// The rendered hooks (empty in history listings).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<Hook>,
    /// The key of [`manifest_digest`](Self::manifest_digest): the values
    /// key of the client that returned this release.
    #[serde(skip)]
    digest_key: Option<crate::state::ValuesKey>,
}

impl ReleaseInfo {
    /// The manifest as `helm template` prints it: the release's resources,
    /// then each hook headed by its source template.
    ///
    /// ```
    /// use chainctl_core::ReleaseInfo;
    /// let rel: ReleaseInfo = serde_json::from_str(r#"{"name":"a","namespace":"b","revision":1,
    ///     "status":"deployed","chart":{"name":"c","version":"1.0.0"},
    ///     "manifest":"---\n# Source: c/templates/cm.yaml\nkind: ConfigMap\n"}"#).unwrap();
    /// assert!(rel.full_manifest().ends_with("kind: ConfigMap\n"));
    /// ```
    pub fn full_manifest(&self) -> String {
        self.template_output(true)
    }

    /// What `helm template` prints: [`full_manifest`](Self::full_manifest),
    /// or without the hooks for a render with `--no-hooks`.
    ///
    /// ```
    /// use chainctl_core::ReleaseInfo;
    /// let rel: ReleaseInfo = serde_json::from_str(r#"{"name":"a","namespace":"b","revision":1,
    ///     "status":"deployed","chart":{"name":"c","version":"1.0.0"},"manifest":"kind: A\n",
    ///     "hooks":[{"name":"h","kind":"Job","path":"c/templates/h.yaml","events":["post-install"],"manifest":"kind: Job"}]}"#).unwrap();
    /// assert!(rel.template_output(true).contains("kind: Job"));
    /// assert_eq!(rel.template_output(false), "kind: A\n");
    /// ```
    pub fn template_output(&self, with_hooks: bool) -> String {
        // As helm template: the trimmed manifest and a newline, even when
        // the chart renders nothing.
        let mut out = format!("{}\n", self.manifest.trim());
        if !with_hooks {
            return out;
        }
        for hook in &self.hooks {
            out.push_str(&format!(
                "---\n# Source: {}\n{}\n",
                hook.path, hook.manifest
            ));
        }
        out
    }

    /// The digest of [`manifest`](Self::manifest) exactly as Helm stored
    /// it (hooks are not part of it), or `None` when the manifest is empty
    /// (a history listing, or a chart with no resources). The state file
    /// records it (`manifestDigest`), and `chainctl app status --check`
    /// compares it with the cluster's to see whether the resources changed
    /// outside chainctl.
    ///
    /// For a release a [`Client`](crate::Client) returned it is
    /// `hmac-sha256:<hex>`, keyed like the values digest with the client's
    /// [`ValuesKey`](crate::state::ValuesKey): the manifest holds the
    /// values rendered (a Secret's data among them), so an unkeyed digest
    /// would confirm a guess of them as well. For a release read from
    /// JSON, as below, it is the plain `sha256:<hex>` of the text.
    ///
    /// ```
    /// use chainctl_core::ReleaseInfo;
    /// let mut rel: ReleaseInfo = serde_json::from_str(r#"{"name":"a","namespace":"b","revision":1,
    ///     "status":"deployed","chart":{"name":"c","version":"1.0.0"}}"#).unwrap();
    /// assert_eq!(rel.manifest_digest(), None);
    /// rel.manifest = "kind: ConfigMap\n".into();
    /// let digest = rel.manifest_digest().unwrap();
    /// assert!(digest.starts_with("sha256:") && digest.len() == 7 + 64);
    /// rel.manifest.push(' ');
    /// assert_ne!(rel.manifest_digest().unwrap(), digest, "any change to the text counts");
    /// ```
    pub fn manifest_digest(&self) -> Option<String> {
        let unkeyed = self.unkeyed_manifest_digest()?;
        Some(match &self.digest_key {
            Some(key) => key.seal(&unkeyed),
            None => unkeyed,
        })
    }

    /// `sha256:<hex>` of the manifest, for records written before manifest
    /// digests were keyed.
    pub(crate) fn unkeyed_manifest_digest(&self) -> Option<String> {
        if self.manifest.is_empty() {
            return None;
        }
        Some(format!(
            "sha256:{:x}",
            Sha256::digest(self.manifest.as_bytes())
        ))
    }

    /// Keys [`manifest_digest`](Self::manifest_digest) with `key`.
    pub(crate) fn set_digest_key(&mut self, key: &crate::state::ValuesKey) {
        self.digest_key = Some(key.clone());
    }

    /// This release for showing without its secrets: in the manifest and
    /// the hooks, the value of every key of a Secret's `data` and
    /// `stringData` becomes `[redacted]` (each such Secret is written again
    /// with its keys sorted, under its `# Source:` line; every other
    /// document is kept as it was). What `chainctl app install -o json`
    /// prints unless `--show-secrets`. The manifest digest is of the real
    /// manifest: take it from the release itself, not from this copy.
    ///
    /// ```
    /// use chainctl_core::ReleaseInfo;
    /// let rel: ReleaseInfo = serde_json::from_str(r#"{"name":"a","namespace":"b","revision":1,
    ///     "status":"deployed","chart":{"name":"c","version":"1.0.0"},
    ///     "manifest":"---\n# Source: c/templates/s.yaml\nkind: Secret\ndata:\n  password: aHVudGVyMg==\n"}"#).unwrap();
    /// let shown = rel.with_secret_data_redacted()?;
    /// assert!(!shown.manifest.contains("aHVudGVyMg==") && shown.manifest.contains("password: '[redacted]'"));
    /// assert!(shown.manifest.contains("# Source: c/templates/s.yaml"));
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn with_secret_data_redacted(&self) -> crate::Result<ReleaseInfo> {
        #[derive(Serialize, Deserialize)]
        struct Manifests {
            manifests: Vec<String>,
        }
        let request = Manifests {
            manifests: std::iter::once(&self.manifest)
                .chain(self.hooks.iter().map(|h| &h.manifest))
                .cloned()
                .collect(),
        };
        let reply: Manifests = crate::bridge::call(
            "secrets.redact",
            &request,
            &crate::bridge::CallOptions::default(),
        )?;
        if reply.manifests.len() != request.manifests.len() {
            return Err(crate::Error::internal(
                "secrets.redact returned another number of manifests than it was given",
            ));
        }
        let mut shown = self.clone();
        let mut manifests = reply.manifests.into_iter();
        shown.manifest = manifests.next().unwrap_or_default();
        for (hook, manifest) in shown.hooks.iter_mut().zip(manifests) {
            hook.manifest = manifest;
        }
        Ok(shown)
    }
}

/// Milliseconds spent in each phase of an action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseTimes {
    /// Loading and checking the chart.
    #[serde(rename = "loadMs")]
    pub load_ms: u64,
    /// Rendering templates (and everything Helm does before it applies).
    #[serde(rename = "renderMs")]
    pub render_ms: u64,
    /// Applying to the cluster, and waiting when asked to.
    #[serde(rename = "applyMs")]
    pub apply_ms: u64,
}

/// What an install, upgrade or render did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionReport {
    /// The release as Helm recorded (or, for a dry run, would record) it.
    pub release: ReleaseInfo,
    /// True when the release was installed rather than upgraded (an upgrade
    /// with install-if-missing of a release that did not exist).
    pub installed: bool,
    /// Where the time went.
    pub phases: PhaseTimes,
    /// `hmac-sha256:` digest of the values Helm merged for the action,
    /// keyed with the client's [`ValuesKey`](crate::state::ValuesKey) (the
    /// state file's when given with
    /// [`Client::with_values_key`](crate::Client::with_values_key), else
    /// one of this process): equal values, equal digest, under one key.
    /// Never the values, nor an unkeyed digest of them.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub values_digest: String,
    /// For a chart from an OCI registry: what was pulled (or found cached).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pulled: Option<crate::registry::PullReport>,
}

/// What an uninstall did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UninstallReport {
    /// The release that was removed, as it was last recorded.
    pub release: ReleaseInfo,
    /// Helm's message about resources it kept (resource policy "keep").
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub info: String,
}

/// Versions of what runs inside the shim.
///
/// ```
/// let v = chainctl_core::Client::shim_version().unwrap();
/// assert!(v.helm.starts_with("v3."));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShimVersion {
    /// The C ABI version.
    pub abi: i32,
    /// The Helm SDK version linked in (`v3.22.0`).
    pub helm: String,
    /// The Go version the shim was built with.
    pub go: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_digest_is_the_sha256_of_the_manifest_text() {
        let mut rel: ReleaseInfo = serde_json::from_value(serde_json::json!({
            "name": "a", "namespace": "b", "revision": 1, "status": "deployed",
            "chart": {"name": "c", "version": "1.0.0"}, "manifest": "abc",
            "hooks": [{"name": "t", "kind": "Pod", "path": "c/templates/t.yaml",
                       "events": ["test"], "manifest": "kind: Pod\n"}]
        }))
        .unwrap();
        // sha256("abc"), FIPS 180-2 appendix B.1; hooks are not part of it.
        let abc = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(rel.manifest_digest().as_deref(), Some(abc));
        rel.hooks.clear();
        assert_eq!(rel.manifest_digest().as_deref(), Some(abc));
        rel.manifest.clear();
        assert_eq!(rel.manifest_digest(), None);
    }
}
