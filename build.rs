//! Builds the Go shim (go-shim/) as a static c-archive and links it.
//!
//! Needs Go (see MIN_GO) with cgo and a C compiler. The environment variable
//! `GO` names another go binary. With the `bindgen` feature it also
//! regenerates src/ffi/bindings.rs from include/chainctl.h.
//!
//! The Helm SDK: by default helm.sh/helm/v3, as go-shim/go.mod pins it. With
//! the `helm-v4` feature, helm.sh/helm/v4 instead: the same shim built with
//! the Go build tag `helmv4` (the files that differ between the SDKs are
//! tagged) and the module file go-shim/go.helm4.mod (with its
//! go.helm4.sum), which pins helm.sh/helm/v4.
//!
//! With `DOCS_RS` set (docs.rs sets it; its builders have no Go and no
//! network) the shim is neither built nor linked: rustdoc compiles the crate
//! but links nothing, so the `extern` declarations of src/ffi need no archive.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, exit};

/// The oldest Go that builds the shim: the `go` line of go-shim/go.mod.
const MIN_GO: (u32, u32) = (1, 26);

/// The Helm SDK the shim is built against, chosen by the `helm-v4` feature.
struct HelmSdk {
    /// The Go module of the SDK.
    module: &'static str,
    /// The Go build tag that selects its adapter files, if any.
    tag: Option<&'static str>,
    /// The module file in go-shim/ that pins it, when not go.mod (passed
    /// as `-modfile`; Go reads the .sum file of the same name).
    mod_file: Option<&'static str>,
}

impl HelmSdk {
    fn selected() -> HelmSdk {
        // Cargo sets CARGO_FEATURE_<NAME> for each enabled feature of this
        // package, `helm-v4` as CARGO_FEATURE_HELM_V4.
        if env::var_os("CARGO_FEATURE_HELM_V4").is_some() {
            HelmSdk {
                module: "helm.sh/helm/v4",
                tag: Some("helmv4"),
                mod_file: Some("go.helm4.mod"),
            }
        } else {
            HelmSdk {
                module: "helm.sh/helm/v3",
                tag: None,
                mod_file: None,
            }
        }
    }

    /// The module file that pins the SDK: go.mod or `mod_file`.
    fn mod_file(&self) -> &'static str {
        self.mod_file.unwrap_or("go.mod")
    }
}

/// The checksum file Go reads with `-modfile=x.mod`: `x.sum`.
fn sum_file(mod_file: &str) -> String {
    format!("{}.sum", mod_file.strip_suffix(".mod").unwrap_or(mod_file))
}

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let shim_dir = manifest_dir.join("go-shim");

    let helm = HelmSdk::selected();
    println!("cargo:rerun-if-changed=include/chainctl.h");
    println!("cargo:rerun-if-changed=go-shim/go.mod");
    println!("cargo:rerun-if-changed=go-shim/go.sum");
    if let Some(mod_file) = helm.mod_file {
        // Only with the feature: a path that does not exist would make
        // cargo rerun this script on every build.
        println!("cargo:rerun-if-changed=go-shim/{mod_file}");
        println!("cargo:rerun-if-changed=go-shim/{}", sum_file(mod_file));
    }
    for source in go_sources(&shim_dir) {
        println!("cargo:rerun-if-changed={}", source.display());
    }
    for var in [
        "GO",
        "GOFLAGS",
        "GOPROXY",
        "GOTOOLCHAIN",
        "CC",
        "CGO_CFLAGS",
        "CGO_LDFLAGS",
        "DOCS_RS",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }

    if env::var_os("DOCS_RS").is_some() {
        println!(
            "cargo:warning=DOCS_RS is set: the Go shim is not built, so only documentation \
             can be built (anything that links chainctl-core fails with undefined chainctl_* symbols)"
        );
    } else {
        let go = env::var_os("GO").unwrap_or_else(|| OsString::from("go"));
        check_go_version(&go);
        build_archive(&go, &shim_dir, &out_dir, &helm);
        link(&out_dir, has_examples(&manifest_dir));
    }

    #[cfg(feature = "bindgen")]
    regenerate_bindings(&manifest_dir);
}

/// Whether this copy of the package has example targets, by Cargo's rule for
/// finding them: `examples/*.rs` or `examples/*/main.rs`. A git checkout has
/// the CLI; the published package does not (Cargo.toml's `include` leaves
/// examples/ out), and Cargo rejects `rustc-link-arg-examples` from a package
/// without examples, for the verify build of `cargo package` and for every
/// crate that depends on the published one alike.
fn has_examples(manifest_dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(manifest_dir.join("examples")) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|entry| {
        let path = entry.path();
        path.extension().is_some_and(|ext| ext == "rs") || path.join("main.rs").is_file()
    })
}

fn fail(message: &str) -> ! {
    eprintln!("\nerror: chainctl-core cannot build its Go shim: {message}\n");
    exit(1);
}

fn go_sources(shim_dir: &Path) -> Vec<PathBuf> {
    let entries = fs::read_dir(shim_dir)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", shim_dir.display())));
    let mut sources: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "go"))
        .collect();
    sources.sort();
    sources
}

fn check_go_version(go: &OsString) {
    let output = Command::new(go).args(["env", "GOVERSION"]).output();
    let output = match output {
        Ok(output) if output.status.success() => output,
        Ok(output) => fail(&format!(
            "`{} env GOVERSION` failed: {}",
            go.to_string_lossy(),
            String::from_utf8_lossy(&output.stderr).trim()
        )),
        Err(e) => fail(&format!(
            "Go {}.{} or newer is needed and `{}` could not be run ({e}). \
             Install Go from https://go.dev/dl/ (or your package manager) and put it on PATH, \
             or set GO=/path/to/go.",
            MIN_GO.0,
            MIN_GO.1,
            go.to_string_lossy()
        )),
    };
    let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
    match parse_go_version(&version) {
        Some(found) if found >= MIN_GO => {}
        Some(_) => fail(&format!(
            "Go {}.{} or newer is needed, found {version}. Install a newer Go and put it on PATH, or set GO=/path/to/go.",
            MIN_GO.0, MIN_GO.1
        )),
        None => println!(
            "cargo:warning=could not parse the Go version {version:?}; trying the build anyway"
        ),
    }
}

/// "go1.26.8" -> (1, 26); "go1.27rc1" -> (1, 27).
fn parse_go_version(version: &str) -> Option<(u32, u32)> {
    let rest = version.strip_prefix("go")?;
    let mut parts = rest.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((major, minor.parse().ok()?))
}

fn go_target() -> (Option<&'static str>, Option<&'static str>) {
    let os = match env::var("CARGO_CFG_TARGET_OS").as_deref() {
        Ok("linux") => Some("linux"),
        Ok("macos") => Some("darwin"),
        _ => None,
    };
    let arch = match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => Some("amd64"),
        Ok("aarch64") => Some("arm64"),
        _ => None,
    };
    (os, arch)
}

/// The version go.mod requires of `module`, e.g. "v3.22.0".
fn required_version(go_mod: &str, module: &str) -> Option<String> {
    go_mod.lines().find_map(|line| {
        let line = line.trim();
        let mut words = line
            .strip_prefix("require ")
            .unwrap_or(line)
            .split_whitespace();
        (words.next() == Some(module)).then(|| words.next().map(str::to_string))?
    })
}

/// Stamps the Helm version into the archive as Helm's release builds do, so
/// `.Capabilities.HelmVersion` reads as it does with helm: the version the
/// module file in use requires of the SDK's module, into that module's
/// `internal/version` package (helm.sh/helm/v3 or helm.sh/helm/v4 alike).
/// (The Kubernetes version `helm template` assumes is set by the shim
/// itself at start-up.)
fn ldflags(shim_dir: &Path, helm: &HelmSdk) -> String {
    let mod_file = helm.mod_file();
    let go_mod = fs::read_to_string(shim_dir.join(mod_file))
        .unwrap_or_else(|e| fail(&format!("cannot read go-shim/{mod_file}: {e}")));
    let mut flags = String::from("-s -w");
    match required_version(&go_mod, helm.module) {
        Some(version) => flags.push_str(&format!(
            " -X {}/internal/version.version={version}",
            helm.module
        )),
        // go.mod without Helm cannot build the shim anyway: go build says
        // why. A Helm 4 module file that pins no Helm 4 would build
        // something else than was asked for.
        None if helm.mod_file.is_some() => fail(&format!(
            "go-shim/{mod_file} does not require {}: the helm-v4 feature builds the shim \
             against the version that file pins",
            helm.module
        )),
        None => {}
    }
    flags
}

/// With the `helm-v4` feature, the module file and checksum file that pin
/// Helm 4 must be there: say so before Go says something less clear.
fn check_mod_files(shim_dir: &Path, helm: &HelmSdk) {
    let Some(mod_file) = helm.mod_file else {
        return;
    };
    for file in [mod_file.to_string(), sum_file(mod_file)] {
        if !shim_dir.join(&file).is_file() {
            fail(&format!(
                "the helm-v4 feature builds the shim against {} as go-shim/{mod_file} pins it \
                 (with -modfile={mod_file}), and go-shim/{file} is missing: this copy of \
                 chainctl-core has no Helm 4 backend. Build without the feature for Helm 3.",
                helm.module
            ));
        }
    }
}

fn build_archive(go: &OsString, shim_dir: &Path, out_dir: &Path, helm: &HelmSdk) {
    check_mod_files(shim_dir, helm);
    let archive = out_dir.join("libchainctl_go.a");
    let mut cmd = Command::new(go);
    cmd.current_dir(shim_dir).args([
        "build",
        "-buildmode=c-archive",
        "-trimpath",
        "-mod=readonly",
    ]);
    if let Some(tag) = helm.tag {
        cmd.arg(format!("-tags={tag}"));
    }
    if let Some(mod_file) = helm.mod_file {
        cmd.arg(format!("-modfile={mod_file}"));
    }
    cmd.arg(format!("-ldflags={}", ldflags(shim_dir, helm)))
        .arg("-o")
        .arg(&archive)
        .arg(".")
        .env("CGO_ENABLED", "1");
    match go_target() {
        (Some(os), Some(arch)) => {
            cmd.env("GOOS", os).env("GOARCH", arch);
        }
        _ => fail(&format!(
            "target {}-{} is not supported: the shim builds for Linux and macOS on x86_64 and aarch64",
            env::var("CARGO_CFG_TARGET_OS").unwrap_or_default(),
            env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default()
        )),
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| fail(&format!("could not run `go build`: {e}")));
    if !status.success() {
        fail(&format!(
            "`go build -buildmode=c-archive{}` in {} failed ({status}); its output is above. \
             It needs cgo: a C compiler (gcc or clang) on PATH, or CC set. On a first build \
             Go downloads the Helm SDK ({}) from the Go module proxy (GOPROXY).",
            match (helm.tag, helm.mod_file) {
                (Some(tag), Some(mod_file)) => format!(" -tags={tag} -modfile={mod_file}"),
                _ => String::new(),
            },
            shim_dir.display(),
            helm.module
        ));
    }
}

/// Links the archive and the system libraries it needs. These are
/// `rustc-link-lib` lines, so they reach every binary that depends on the
/// crate (tests, examples, and the programs of the crate's users alike);
/// `links = "chainctl_go"` keeps a second copy out of one binary.
fn link(out_dir: &Path, has_examples: bool) {
    println!("cargo:rustc-link-search=native={}", out_dir.display());
    println!("cargo:rustc-link-lib=static=chainctl_go");
    match env::var("CARGO_CFG_TARGET_OS").as_deref() {
        Ok("macos") => {
            println!("cargo:rustc-link-lib=framework=CoreFoundation");
            println!("cargo:rustc-link-lib=framework=Security");
            println!("cargo:rustc-link-lib=dylib=resolv");
        }
        _ => {
            println!("cargo:rustc-link-lib=dylib=pthread");
            println!("cargo:rustc-link-lib=dylib=dl");
            println!("cargo:rustc-link-lib=dylib=m");
            if has_examples && env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
                // Our own CLI (the examples) links as a position-dependent
                // executable, as the helm binary is. As a PIE, the dynamic
                // loader applies ~250,000 relocations at every start (the Go
                // runtime's type data is full of pointers), reading 6 MiB of
                // relocation entries and dirtying 7 MiB of .data.rel.ro: ~7
                // MiB more RSS and ~10 ms more start-up. It is an
                // optimisation, not a need of the archive: a PIE links and
                // runs. Programs that link the library choose for themselves
                // (-C link-arg=-no-pie).
                println!("cargo:rustc-link-arg-examples=-no-pie");
            }
        }
    }
}

#[cfg(feature = "bindgen")]
fn regenerate_bindings(manifest_dir: &Path) {
    let header = manifest_dir.join("include/chainctl.h");
    let bindings = bindgen::Builder::default()
        .header(header.to_string_lossy())
        .allowlist_function("chainctl_.*")
        .allowlist_type("chainctl_.*")
        .allowlist_var("CHAINCTL_.*")
        .layout_tests(false)
        .generate()
        .unwrap_or_else(|e| {
            fail(&format!(
                "bindgen failed on {}: {e} (it needs libclang)",
                header.display()
            ))
        });
    let text = format!(
        "//! Raw bindings to include/chainctl.h, generated by bindgen.\n\
         //! Regenerate with `cargo build --features bindgen`; do not edit.\n\n{bindings}"
    );
    let target = manifest_dir.join("src/ffi/bindings.rs");
    if fs::read_to_string(&target).ok().as_deref() != Some(text.as_str()) {
        fs::write(&target, text)
            .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", target.display())));
    }
}
