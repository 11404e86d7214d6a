//! `app install` and `app upgrade`.

use std::io::{self, Write};

use chainctl_core::state::{Action, ExecutionStateRecord, RecordSource};
use chainctl_core::{
    ChartSource, Client, DryRun, Error, ErrorKind, HelmStatus, OciReference, ReleaseOptions,
    StateStore, release_key, version_to_tag,
};
use serde_json::json;

use crate::client::client;
use crate::confirm::{Plan, chart_words, confirm, describe_current};
use crate::exit::{Failure, invalid_input};
use crate::flags::{ChartArgs, CommonArgs, Output};
use crate::interrupts::interrupts;
use crate::output::chart_line;
use crate::record::{note_interrupted, open_store, release_state, save, stamp, state_location};

/// The source recorded for a release's current deployment.
pub(crate) fn recorded(common: &CommonArgs) -> Result<RecordSource, Failure> {
    let location = state_location(&common.state_file, &common.state_path)?;
    let no_record = || {
        Failure::from(Error::InvalidInput {
            message: format!(
                "no source given and no deployment of {} recorded in {}: pass --bundle PATH or --chart oci://...",
                release_key(None, &common.namespace, &common.release),
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
pub(crate) fn recorded_source(common: &CommonArgs) -> Result<ChartSource, Failure> {
    let chart = recorded(common)?.to_chart_source()?;
    eprintln!(
        "chainctl: no --bundle or --chart given: reusing the source recorded for {}: {chart}",
        release_key(None, &common.namespace, &common.release)
    );
    Ok(chart)
}

/// `upgrade --locked`: the digest recorded in state, provided the recorded
/// tag still points at it.
pub(crate) fn locked_source(common: &CommonArgs, client: &Client) -> Result<ChartSource, Failure> {
    let release = release_key(None, &common.namespace, &common.release);
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

/// The plan of an install or upgrade, and for an OCI chart the source pinned
/// to the digest the plan shows, so that what is approved is what is
/// installed even if the tag moves meanwhile. Fails when the chart cannot be
/// had: nothing has changed yet.
pub(crate) fn deploy_plan(
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
