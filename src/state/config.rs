//! Where the state file lives: flags, environment and platform defaults.
//!
//! Unlike the rest of the crate, this module speaks in chainctl's flags on
//! purpose: [`StateFileConfig`] *is* the `--state-file`/`--state-path`
//! pair, and [`LocationRule`] says which of them chose the file, so its
//! messages and its `Display` name the flags as the facts they are. A
//! front end with other flags builds a
//! [`StateLocation`] itself and opens it with
//! [`StateStore::open_location`](crate::state::StateStore::open_location).

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The file name used when `--state-file` does not choose another.
///
/// ```
/// assert_eq!(chainctl_core::state::DEFAULT_STATE_FILE_NAME, "state.json");
/// ```
pub const DEFAULT_STATE_FILE_NAME: &str = "state.json";

/// The environment variable that sets the state file's path (flags win).
///
/// ```
/// assert_eq!(chainctl_core::state::STATE_PATH_ENV, "CHAINCTL_STATE_PATH");
/// ```
pub const STATE_PATH_ENV: &str = "CHAINCTL_STATE_PATH";

/// Suffixes of the files kept beside a state file; a state file named like
/// one of them would collide with another file's companion.
const SIBLING_SUFFIXES: [&str; 4] = [".lock", ".bak", ".tmp", ".key"];

/// The `--state-file` and `--state-path` flags: which state file to use.
///
/// [`resolve`](Self::resolve) applies the rules, first match wins:
///
/// 1. `--state-path PATH`: that path (a symlink there is followed);
/// 2. `--state-file NAME`: `NAME` in the default directory (a bare file
///    name; `CHAINCTL_STATE_PATH` is ignored);
/// 3. `$CHAINCTL_STATE_PATH`, when set and not empty;
/// 4. `<platform config dir>/chainctl/state.json` (via the `directories`
///    crate: `$XDG_CONFIG_HOME` or `~/.config` on Linux,
///    `~/Library/Application Support` on macOS);
/// 5. `$HOME/.chainctl/state.json` when no config directory is known.
///
/// Giving both flags is an error.
///
/// ```
/// use chainctl_core::state::{LocationRule, StateEnv, StateFileConfig};
///
/// let env = StateEnv {
///     state_path: None,
///     config_dir: Some("/home/alice/.config".into()),
///     home_dir: Some("/home/alice".into()),
/// };
/// let config = StateFileConfig { state_file: Some("staging.json".into()), state_path: None };
/// let loc = config.resolve_in(&env).unwrap();
/// assert_eq!(loc.path, std::path::Path::new("/home/alice/.config/chainctl/staging.json"));
/// assert!(matches!(loc.rule, LocationRule::StateFileFlag(_)));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateFileConfig {
    /// `--state-file NAME`: another file name in the default directory.
    pub state_file: Option<String>,
    /// `--state-path PATH`: a full path (relative to the working directory
    /// if not absolute).
    pub state_path: Option<PathBuf>,
}

/// What the location rules look at besides the flags, so that they can be
/// tested without touching the process environment.
///
/// ```
/// use chainctl_core::state::StateEnv;
/// let env = StateEnv::from_process();
/// // On Linux and macOS a home directory is nearly always known.
/// assert!(env.config_dir.is_some() || env.home_dir.is_some() || cfg!(not(unix)));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateEnv {
    /// The value of `CHAINCTL_STATE_PATH`.
    pub state_path: Option<OsString>,
    /// The platform's per-user configuration directory.
    pub config_dir: Option<PathBuf>,
    /// `$HOME`.
    pub home_dir: Option<PathBuf>,
}

impl StateEnv {
    /// Reads this process's environment: `CHAINCTL_STATE_PATH`, the config
    /// directory from `directories::BaseDirs`, and `$HOME`.
    ///
    /// ```
    /// let env = chainctl_core::state::StateEnv::from_process();
    /// assert_eq!(env.state_path, std::env::var_os("CHAINCTL_STATE_PATH"));
    /// ```
    pub fn from_process() -> StateEnv {
        StateEnv {
            state_path: std::env::var_os(STATE_PATH_ENV),
            config_dir: directories::BaseDirs::new().map(|b| b.config_dir().to_path_buf()),
            home_dir: std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|h| h.is_absolute()),
        }
    }
}

/// A resolved state file path and the rule that chose it.
///
/// ```
/// use chainctl_core::state::{LocationRule, StateLocation};
/// let loc = StateLocation { path: "/tmp/s.json".into(), rule: LocationRule::StatePathFlag };
/// assert_eq!(loc.to_string(), "/tmp/s.json (from --state-path)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateLocation {
    /// The state file, absolute.
    pub path: PathBuf,
    /// Why this path.
    pub rule: LocationRule,
}

impl StateLocation {
    /// True when the path was named explicitly with `--state-path`, the one
    /// case where a symlink at the path is followed.
    ///
    /// ```
    /// use chainctl_core::state::{LocationRule, StateLocation};
    /// let loc = StateLocation { path: "/x/s.json".into(), rule: LocationRule::Env };
    /// assert!(!loc.allows_symlink());
    /// ```
    pub fn allows_symlink(&self) -> bool {
        self.rule == LocationRule::StatePathFlag
    }
}

impl fmt::Display for StateLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (from {})", self.path.display(), self.rule)
    }
}

/// Which rule of [`StateFileConfig`] chose the path; its `Display` is
/// what `chainctl state path` prints after the path.
///
/// ```
/// use chainctl_core::state::{DefaultDir, LocationRule};
/// assert_eq!(LocationRule::Env.to_string(), "CHAINCTL_STATE_PATH");
/// assert_eq!(
///     LocationRule::Default(DefaultDir::HomeFallback).to_string(),
///     "the default, $HOME/.chainctl (no platform config directory is known)"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LocationRule {
    /// `--state-path PATH`.
    StatePathFlag,
    /// `--state-file NAME` in the default directory.
    StateFileFlag(DefaultDir),
    /// `CHAINCTL_STATE_PATH`.
    Env,
    /// No flag and no environment: the default file in the default directory.
    Default(DefaultDir),
}

/// Which directory holds the default state file.
///
/// ```
/// use chainctl_core::state::DefaultDir;
/// assert_ne!(DefaultDir::ConfigDir, DefaultDir::HomeFallback);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DefaultDir {
    /// `<platform config dir>/chainctl`.
    ConfigDir,
    /// `$HOME/.chainctl`, when the platform has no config directory.
    HomeFallback,
}

impl fmt::Display for DefaultDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DefaultDir::ConfigDir => "the platform config directory",
            DefaultDir::HomeFallback => "$HOME/.chainctl (no platform config directory is known)",
        })
    }
}

impl fmt::Display for LocationRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocationRule::StatePathFlag => f.write_str("--state-path"),
            LocationRule::StateFileFlag(dir) => write!(f, "--state-file, in {dir}"),
            LocationRule::Env => f.write_str(STATE_PATH_ENV),
            LocationRule::Default(dir) => write!(f, "the default, {dir}"),
        }
    }
}

impl StateFileConfig {
    /// Applies the rules to this process's environment
    /// ([`StateEnv::from_process`]).
    ///
    /// ```
    /// use chainctl_core::state::{LocationRule, StateFileConfig};
    /// let config = StateFileConfig { state_file: None, state_path: Some("/srv/chainctl/state.json".into()) };
    /// let loc = config.resolve().unwrap();
    /// assert_eq!(loc.rule, LocationRule::StatePathFlag);
    /// ```
    pub fn resolve(&self) -> Result<StateLocation> {
        self.resolve_in(&StateEnv::from_process())
    }

    /// Applies the rules to `env`. Does no I/O beyond reading the working
    /// directory to make a relative path absolute.
    ///
    /// ```
    /// use chainctl_core::state::{StateEnv, StateFileConfig};
    /// let both = StateFileConfig { state_file: Some("a.json".into()), state_path: Some("/b.json".into()) };
    /// let err = both.resolve_in(&StateEnv::default()).unwrap_err();
    /// assert!(err.to_string().contains("--state-file and --state-path"));
    /// ```
    pub fn resolve_in(&self, env: &StateEnv) -> Result<StateLocation> {
        match (&self.state_file, &self.state_path) {
            (Some(_), Some(path)) => Err(Error::invalid(format!(
                "--state-file and --state-path both given; pass one: --state-file NAME picks a file \
                 name in the default directory{}, --state-path a full path (here {})",
                default_dir(env)
                    .map(|(d, _)| format!(" ({})", d.display()))
                    .unwrap_or_default(),
                path.display()
            ))),
            (None, Some(path)) => {
                if path.as_os_str().is_empty() {
                    return Err(Error::invalid(
                        "--state-path is empty; give the path of the state file",
                    ));
                }
                located(path, LocationRule::StatePathFlag)
            }
            (Some(name), None) => {
                check_file_name(name)?;
                let (dir, which) = default_dir(env).ok_or_else(no_default_dir)?;
                located(&dir.join(name), LocationRule::StateFileFlag(which))
            }
            (None, None) => match env.state_path.as_ref().filter(|p| !p.is_empty()) {
                Some(path) => located(Path::new(path), LocationRule::Env),
                None => {
                    let (dir, which) = default_dir(env).ok_or_else(no_default_dir)?;
                    located(
                        &dir.join(DEFAULT_STATE_FILE_NAME),
                        LocationRule::Default(which),
                    )
                }
            },
        }
    }
}

fn default_dir(env: &StateEnv) -> Option<(PathBuf, DefaultDir)> {
    if let Some(config) = &env.config_dir {
        return Some((config.join("chainctl"), DefaultDir::ConfigDir));
    }
    (env.home_dir.as_ref()).map(|home| (home.join(".chainctl"), DefaultDir::HomeFallback))
}

fn no_default_dir() -> Error {
    Error::invalid(format!(
        "no place for the state file: the platform has no config directory and $HOME is not set; \
         pass --state-path PATH or set {STATE_PATH_ENV}"
    ))
}

fn located(path: &Path, rule: LocationRule) -> Result<StateLocation> {
    let path = std::path::absolute(path).map_err(|e| {
        Error::state(
            format!(
                "cannot make {} absolute (is the working directory gone?)",
                path.display()
            ),
            Some(path),
            Some(e),
        )
    })?;
    Ok(StateLocation { path, rule })
}

/// `--state-file` takes a bare file name: not empty, no path separator, no
/// `..`, and not one of the names of a state file's companions.
fn check_file_name(name: &str) -> Result<()> {
    let problem = if name.is_empty() {
        Some("is empty".to_string())
    } else if name.contains(['/', '\\']) {
        Some("contains a path separator; use --state-path for a full path".to_string())
    } else if name == "." || name.contains("..") {
        Some("contains `..` or is `.`; give a plain file name such as staging.json".to_string())
    } else if name.contains('\0') {
        Some("contains a NUL byte".to_string())
    } else {
        SIBLING_SUFFIXES
            .iter()
            .find(|suffix| name.ends_with(*suffix))
            .map(|suffix| {
                format!("ends in `{suffix}`, which chainctl uses for the files it keeps beside a state file")
            })
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(Error::invalid(format!(
            "--state-file {name:?} {problem} (it names a file in the default state directory)"
        ))),
    }
}

/// The files kept beside a state file: the lock, the backup and the
/// temporary file of an atomic write.
pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    debug_assert!(SIBLING_SUFFIXES.contains(&suffix));
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_checked() {
        for bad in [
            "",
            "a/b.json",
            "..",
            ".",
            "a..json",
            "..hidden",
            "x\\y",
            "s.json.lock",
            "s.bak",
            "a\0b",
        ] {
            let err = check_file_name(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidInput { .. }), "{bad:?}");
            assert!(err.to_string().starts_with("--state-file"), "{err}");
        }
        for good in ["state.json", "staging", ".state.json", "prod-eu.json"] {
            check_file_name(good).unwrap();
        }
    }

    #[test]
    fn siblings_append_to_the_file_name() {
        let p = Path::new("/x/state.json");
        assert_eq!(sibling(p, ".lock"), Path::new("/x/state.json.lock"));
        assert_eq!(sibling(p, ".bak"), Path::new("/x/state.json.bak"));
    }
}
