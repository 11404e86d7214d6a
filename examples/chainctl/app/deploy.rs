//! `app install` and `app upgrade`.

use std::io::{self, Write};

use chainctl_core::deployer::LEGACY_RECORD_NOTE;
use chainctl_core::state::Action;
use chainctl_core::{
    ChartSource, Deployer, DryRun, HelmStatus, ReleaseOptions, ReleaseRef, SourceChoice,
    SourceOrigin, StateBackend,
};
use serde_json::json;

use crate::client::client;
use crate::confirm::run_approved;
use crate::exit::{Failure, invalid_input};
use crate::flags::{ChartArgs, Output, WaitArg};
use crate::output::chart_line;
use crate::record::deployer;

/// The source the flags choose (given, recorded, or --locked to the
/// recorded digest), saying where a reused one comes from.
fn resolve_source(
    deployer: &Deployer,
    choice: SourceChoice,
    release: &ReleaseRef,
) -> Result<ChartSource, Failure> {
    let given = matches!(choice, SourceChoice::Given(_));
    if !given && deployer.recorded_source(release)?.is_none() {
        return Err(invalid_input(format!(
            "no source given and no deployment of {release} recorded in {}: pass --bundle PATH or --chart oci://...",
            deployer.state().path()?.display()
        ))
        .into());
    }
    let resolved = deployer.resolve(choice, release)?;
    if resolved.legacy_record {
        eprintln!("chainctl: warning: {LEGACY_RECORD_NOTE}");
    }
    match &resolved.origin {
        SourceOrigin::Recorded => eprintln!(
            "chainctl: no --bundle or --chart given: reusing the source recorded for {release}: {}",
            resolved.chart
        ),
        SourceOrigin::Locked { tagged, digest } => {
            eprintln!("chainctl: --locked: installing {tagged}@{digest}, as recorded for {release}")
        }
        _ => {}
    }
    Ok(resolved.chart)
}

/// `app install` and `app upgrade`: resolves the source, asks (unless
/// --confirm) after showing the plan, deploys what the plan showed and
/// records it.
pub(crate) fn run(
    action: Action,
    args: &ChartArgs,
    locked: bool,
    output: Output,
    extra: impl FnOnce(chainctl_core::ReleaseOptionsBuilder) -> chainctl_core::ReleaseOptionsBuilder,
) -> Result<(), Failure> {
    let common = &args.common;
    let client = client(
        common,
        args.registry.options()?,
        args.registry.offline,
        args.registry.max_chart_size,
    )?;
    let deployer = deployer(common, client);
    let choice = match (&args.bundle, &args.chart) {
        _ if locked => SourceChoice::Locked,
        (None, None) if action == Action::Upgrade => SourceChoice::Recorded,
        _ => SourceChoice::Given(ChartSource::from_flags(
            args.bundle.as_deref(),
            args.chart.as_deref(),
            // helm's --devel: a constraint that admits pre-releases, unless
            // --version says which.
            match (&args.version, args.devel && args.chart.is_some()) {
                (Some(version), _) => Some(version.as_str()),
                (None, true) => Some(">0.0.0-0"),
                (None, false) => None,
            },
        )?),
    };
    let release = ReleaseRef::new(&common.release, &common.namespace)?;
    let source = resolve_source(&deployer, choice, &release)?;
    let (wait, wait_strategy) = WaitArg::options(args.wait);
    let mut builder = ReleaseOptions::builder(&common.release, &common.namespace)
        .create_namespace(args.create_namespace)
        .dry_run(args.dry_run.unwrap_or_default())
        .wait(wait)
        .timeout(args.timeout)
        .rollback_on_failure(args.atomic)
        .force_conflicts(args.apply.force_conflicts);
    if let Some(strategy) = wait_strategy {
        builder = builder.wait_strategy(strategy);
    }
    if let Some(mode) = args.apply.server_side {
        builder = builder.server_side(mode);
    }
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
        .force_replace(args.force)
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
    let intent = format!("{verb} release {} from {source}", opts.release());
    let mut deployer = deployer;
    let source = SourceChoice::Given(source);
    let done = run_approved(
        args.confirm,
        dry_run != DryRun::None,
        &intent,
        |approval| match action {
            Action::Install => deployer.install(source, &opts, approval),
            _ => deployer.upgrade(source, &opts, approval),
        },
    )?;
    let (report, record) = (&done.report, &done.record);
    let shown_action = if report.installed { "install" } else { verb };
    let mut out = io::stdout().lock();
    match output {
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
                if rel.status == HelmStatus::Deployed {
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
            if let Some(path) = &done.state_path {
                writeln!(out, "recorded in: {}", path.display())?;
            }
            if !rel.notes.is_empty() {
                writeln!(out, "\nNOTES:\n{}", rel.notes.trim_end())?;
            }
        }
    }
    Ok(())
}
