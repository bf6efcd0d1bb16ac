//! The YAML front end: `packages/*/package.yaml` and `site.yaml`, with the nodes of
//! `inventory.yaml` (read by `inventory.rs`), into a [`Model`]; and the reading of YAML files
//! every part of `load` uses, with located errors in plain words.
//!
//! Resolution happens in this order, so that every value is known at plan time:
//! 1. application parameters: package defaults < the chosen profile < the site's values;
//! 2. the application's components, expanded (`count`) and interpolated in that scope;
//! 3. components in dependency order: explicit parameters, then consumed capability values
//!    for the parameters not set explicitly, then the component type's defaults; then the
//!    capabilities the component produces, evaluated in its own scope.
//!
//! Every mistake becomes a [`Diagnostic`] with the file and place; loading goes on after a
//! mistake so one run reports as many as it can.

use std::collections::BTreeMap;
use std::sync::Arc;

// Loading hashes every name a site declares: a fast hasher, seeded per process.
use foldhash::HashMap;

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_saphyr::Spanned;

use super::Loader;
use super::interpolate::{InterpolationError, Scope, interpolate, interpolate_shell};
use super::inventory;
use super::raw::{self, OneOrMany, ParamType, RawPackage, RawParamSpec, RawSite};
use super::resolve::{self, glob_match};
use crate::diag::{self, Diagnostic, Location, suggest};
use crate::model::{
    Application, AvailabilityCheck, Capability, CheckKind, Component, Implementation, Model, NameMap, PackageFile,
    PackageFiles, Param, Params, Script, Scripts, capitalize_type, names_type, split_reference,
};
use crate::text::join_some;

const SITE: &str = "site.yaml";
/// The longest timeout a node or a check may have: a week. Longer ones are mistakes, and
/// unbounded ones would overflow the clock.
const MAX_TIMEOUT_SECS: u64 = 7 * 24 * 3600;
/// The most components one `count` may declare.
const MAX_COUNT: u64 = 10_000;

/// Reads and parses one YAML file of the snapshot; `None` when absent or unparsable
/// (the reason is recorded as a diagnostic).
pub(crate) fn read_yaml<T: DeserializeOwned>(loader: &mut Loader, file: &str) -> anyhow::Result<Option<T>> {
    let Some(text) = loader.snapshot.read_text(file)? else {
        return Ok(None);
    };
    let text = Arc::from(text);
    let parsed = parse_yaml(file, &text);
    Ok(record_parse(loader, file, text, parsed))
}

/// Parses YAML text; a failure is the diagnostic to report.
fn parse_yaml<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, Diagnostic> {
    serde_saphyr::from_str_with_options::<T>(text, reader_options(text.len()))
        .map_err(|err| yaml_error(file, text, &err))
}

/// The YAML reader's settings for a file of `size` bytes.
///
/// What only a long file can have a lot of (values, events, text, anchors, aliases, merge
/// keys) is limited in proportion to its length, so a site of any size loads: each of them
/// takes at least a byte, and an empty entry (`:` alone, two bytes) is the most events per
/// byte, four. What a short file could blow up stays bounded whatever its length: nesting
/// (64 levels), and what aliases repeat, which nested aliases multiply at every level (the
/// "billion laughs"): the values aliases repeat count as values of the file, within the same
/// limit, and all of them together may be at most as many as the file has bytes, or a
/// million in a smaller file.
fn reader_options(size: usize) -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options.with_snippet = false;
    let per_byte = size.saturating_mul(4).saturating_add(1024);
    let repeated = size.max(1_000_000);
    if let Some(budget) = &mut options.budget {
        budget.max_events = budget.max_events.max(per_byte);
        budget.max_nodes = budget.max_nodes.max(per_byte);
        budget.max_total_scalar_bytes = budget.max_total_scalar_bytes.max(size);
        budget.max_anchors = budget.max_anchors.max(size);
        budget.max_aliases = budget.max_aliases.max(size);
        budget.max_merge_keys = budget.max_merge_keys.max(size);
        // Many aliases of one anchor (`facts: *datacenter` on every node) are ordinary; the
        // bound on what they repeat is what stops a bomb.
        budget.enforce_alias_anchor_ratio = false;
        budget.max_recorded_anchor_events = budget.max_recorded_anchor_events.max(repeated);
        budget.max_recorded_anchor_bytes = budget.max_recorded_anchor_bytes.max(size);
    }
    options.alias_limits.max_total_replayed_events = options.alias_limits.max_total_replayed_events.max(repeated);
    options
}

/// Keeps a parsed file's text for diagnostics, and its error if it did not parse.
fn record_parse<T>(loader: &mut Loader, file: &str, text: Arc<str>, parsed: Result<T, Diagnostic>) -> Option<T> {
    loader.sources.add_shared(file, text);
    parsed.map_err(|diagnostic| loader.diagnostics.push(diagnostic)).ok()
}

fn yaml_error(file: &str, text: &str, err: &serde_saphyr::Error) -> Diagnostic {
    let rendered = err.without_snippet().to_string();
    let first_line = rendered.lines().next().unwrap_or_default();
    // The message starts with "line L column C: "; the location is rendered separately.
    let message = match first_line.split_once(": ") {
        Some((prefix, rest)) if prefix.starts_with("line ") => rest.to_string(),
        _ => first_line.to_string(),
    };
    // Errors found at the end of the input come without a place, or with one past the last
    // character: they point at the last character.
    let last = text.trim_end().char_indices().next_back().map_or(0, |(last, _)| last);
    let start = match err.location().filter(|location| location.line() > 0) {
        Some(location) => diag::offset_of(text, location.line() as usize, location.column() as usize).min(last),
        None => last,
    };
    let end = text[start..].chars().next().map_or(start, |next| start + next.len_utf8());
    let location = Some(Location { file: file.to_string(), range: start..end });
    // The parser's own advice is for programmers embedding it, and the place is shown anyway.
    let message = message.replace(", set DuplicateKeyPolicy in Options if acceptable", "");
    // A limit reached while an alias is repeated is the aliases' doing, whichever it was.
    let through_alias = matches!(err.without_snippet(), serde_saphyr::Error::AliasError { .. });
    let message = match original_error(err) {
        serde_saphyr::Error::Budget { .. } if through_alias => ALIASES_TOO_LARGE.to_string(),
        serde_saphyr::Error::Budget { breach, .. } => budget_message(breach),
        serde_saphyr::Error::AliasReplayLimitExceeded { .. }
        | serde_saphyr::Error::AliasExpansionLimitExceeded { .. }
        | serde_saphyr::Error::AliasReplayStackDepthExceeded { .. }
        | serde_saphyr::Error::AliasReplayCounterOverflow { .. } => ALIASES_TOO_LARGE.to_string(),
        _ if message.starts_with("multiple YAML documents detected") => {
            "a second YAML document starts here (`---`); this file holds one document".to_string()
        }
        _ => message,
    };
    let message = match message.rfind(" at line ") {
        Some(at) if message[at..].contains(", column ") => message[..at].to_string(),
        _ => message,
    };
    let mut diagnostic = Diagnostic::error(message.clone()).at(location);
    if message.starts_with("duplicate mapping key") {
        diagnostic = diagnostic.with_note("each key may appear once; list several values under one key instead");
    }
    if let Some(note) = unknown_field_suggestion(&message) {
        diagnostic = diagnostic.with_note(note);
    }
    diagnostic
}

/// The reader's own error inside the wrappers that add a snippet or an alias's places.
fn original_error(mut err: &serde_saphyr::Error) -> &serde_saphyr::Error {
    while let serde_saphyr::Error::AliasError { error, .. } | serde_saphyr::Error::WithSnippet { error, .. } = err {
        err = error;
    }
    err
}

/// What a breached limit of the YAML reader means, in words: the limits keep a hostile file
/// from taking unbounded time, memory or stack.
fn budget_message(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach;
    let what = match breach {
        BudgetBreach::Depth { .. } => return "nesting is too deep: lists and maps may nest at most 64 levels".into(),
        BudgetBreach::Aliases { .. } | BudgetBreach::AliasAnchorRatio { .. } | BudgetBreach::Anchors { .. } => {
            "too many anchors or aliases (`&name`, `*name`)"
        }
        BudgetBreach::Documents { .. } => "too many YAML documents",
        BudgetBreach::Nodes { .. } | BudgetBreach::Events { .. } => "too many values",
        BudgetBreach::ScalarBytes { .. } | BudgetBreach::InputBytes { .. } => "too much text",
        BudgetBreach::MergeKeys { .. } => "too many merge keys (`<<`)",
        BudgetBreach::RecordedAnchorEvents { .. } | BudgetBreach::RecordedAnchorBytes { .. } => {
            return ALIASES_TOO_LARGE.into();
        }
        _ => "too large or too complex",
    };
    format!("the file is too large to read: {what}")
}

/// An alias bomb, or aliases repeating more than any real file does.
const ALIASES_TOO_LARGE: &str = "aliases (`*name`) here repeat more values than the file holds: aliases nested in what other aliases repeat multiply what is read";

/// "unknown field `nmae`, expected one of name, version" -> "did you mean `name`?".
fn unknown_field_suggestion(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `").or_else(|| message.strip_prefix("unknown variant `"))?;
    let (wrong, rest) = rest.split_once('`')?;
    let (_, expected) = rest.split_once("expected")?;
    let candidates: Vec<&str> = expected
        .trim_start_matches(" one of")
        .split(',')
        .flat_map(|part| part.split(" or "))
        .map(|part| part.trim().trim_matches('`'))
        .filter(|part| !part.is_empty())
        .collect();
    suggest(wrong, candidates.iter().copied()).map(|best| format!("did you mean `{best}`?"))
}

pub(super) fn spanned_location<T>(file: &str, spanned: &Spanned<T>) -> Option<Location> {
    let location = &spanned.referenced;
    if location.line() == 0 {
        return None;
    }
    let span = location.span();
    let start = span.byte_offset()? as usize;
    let len = span.byte_len().unwrap_or(1).max(1) as usize;
    Some(Location { file: file.to_string(), range: start..start + len })
}

/// A loaded package: where it lives, what it says, and its files.
struct Package {
    dir: String,
    file: String,
    raw: RawPackage,
    code_id: Arc<str>,
    application: String,
    files: Arc<PackageFiles>,
}

/// A component type with the scripts read from its package.
struct ComponentType<'a> {
    package: &'a Package,
    raw: &'a raw::RawComponentType,
    scripts: Option<Arc<Scripts>>,
}

/// A component as declared by an instance, before its parameters are resolved.
struct Declared<'a> {
    reference: String,
    type_name: String,
    title: String,
    application: String,
    component_type: &'a ComponentType<'a>,
    explicit: NameMap<(Value, bool)>,
    produces: Vec<String>,
    consumes: Vec<String>,
    requires: Vec<String>,
    node: Option<String>,
    /// Where the component is declared (the package) and assigned (the site).
    declared_at: Option<Location>,
    assigned_at: Option<Location>,
}

pub(super) fn load(loader: &mut Loader) -> anyhow::Result<Model> {
    // site.yaml, usually the largest file, parses on a second thread while the inventory and
    // the packages are read; its instances are expanded as they arrive.
    // Shared, so the text the parser reads is the text diagnostics point into.
    let site_text: Option<Arc<str>> = loader.snapshot.read_text(SITE)?.map(Arc::from);
    std::thread::scope(|threads| {
        let site = site_text.as_ref().map(|text| {
            // Unbounded in count, bounded by the file: the parser never waits for expansion
            // (which waits for the inventory first), and what waits is at most the
            // instances of a text already in memory.
            let (sink, instances) = std::sync::mpsc::channel();
            let parse = threads.spawn(move || raw::with_instance_sink(sink, || parse_yaml::<RawSite>(SITE, text)));
            SiteParse { text, instances, parse }
        });
        load_with_site(loader, site)
    })
}

/// `site.yaml` being parsed on another thread, its instances arriving in order.
struct SiteParse<'scope, 'text> {
    text: &'text Arc<str>,
    instances: std::sync::mpsc::Receiver<raw::RawInstance>,
    parse: std::thread::ScopedJoinHandle<'scope, Result<RawSite, Diagnostic>>,
}

fn load_with_site(loader: &mut Loader, site: Option<SiteParse>) -> anyhow::Result<Model> {
    let inventory = inventory::load_inventory(loader)?;
    let mut model = Model { nodes: inventory.nodes, ..Model::default() };
    let packages = load_packages(loader)?;
    let capability_types = capability_types(loader, &packages);
    let mut component_types: BTreeMap<String, ComponentType> = BTreeMap::new();
    for package in &packages {
        for (type_name, raw) in &package.raw.components {
            let scripts = read_scripts(loader, package, raw)?;
            for capability in raw.produces.keys().chain(raw.consumes.keys()) {
                if !capability_types.contains_key(&capitalize_type(capability)) {
                    loader.diagnostics.push(
                        Diagnostic::error(format!("{type_name} refers to unknown capability type `{capability}`"))
                            .at(Some(Location { file: package.file.clone(), range: 0..0 }))
                            .with_note(format!(
                                "declare it under `capabilities:` in a package; known: {}",
                                join_or_none(capability_types.keys())
                            )),
                    );
                }
            }
            for (capability, mapping) in &raw.consumes {
                for (parameter, expression) in mapping {
                    if !raw.parameters.contains_key(parameter) {
                        loader.diagnostics.push(unknown_parameter(
                            &format!("{type_name} consumes {capability}"),
                            parameter,
                            raw.parameters.keys(),
                            spanned_location(&package.file, expression),
                        ));
                    }
                }
            }
            let name = capitalize_type(type_name);
            if component_types.insert(name.clone(), ComponentType { package, raw, scripts }).is_some() {
                loader.diagnostics.push(
                    Diagnostic::error(format!("component type {name} is defined by more than one package"))
                        .at(Some(Location { file: package.file.clone(), range: 0..0 })),
                );
            }
        }
    }
    for package in &packages {
        check_application_components(loader, package, &component_types);
    }
    let Some(SiteParse { text, instances, parse }) = site else {
        return Ok(model);
    };
    // Without the inventory, every node the site names would be reported unknown, and every
    // fact it uses missing: its one error says it all.
    let expand = !inventory.unreadable;
    let before_site = loader.diagnostics.len();
    let mut declarations = Declarations::default();
    for instance in instances {
        if !expand {
            continue;
        }
        if let Some(application) =
            expand_instance(loader, &model, &packages, &component_types, &instance, &mut declarations)
        {
            model.applications.push(application);
        }
    }
    let parsed = parse.join().expect("parsing YAML does not panic");
    if parsed.is_err() {
        // A site that does not parse is reported as that, not by what its first part said.
        loader.diagnostics.truncate(before_site);
        model.applications.clear();
    }
    if record_parse(loader, SITE, Arc::clone(text), parsed).is_none() || !expand {
        return Ok(model);
    }
    model.applications.sort_by(|a, b| a.reference.cmp(&b.reference));
    // What found duplicates goes before resolution, which holds the most.
    let declared = std::mem::take(&mut declarations.components);
    drop(declarations);
    resolve_components(loader, &mut model, declared, &capability_types);
    Ok(model)
}

/// A number of seconds set under `key` (`timeout`, `control_persist`), from `minimum` to
/// [`MAX_TIMEOUT_SECS`]; `None` (and an error) outside that range.
pub(super) fn checked_seconds(
    diagnostics: &mut Vec<Diagnostic>,
    file: &str,
    key: &str,
    seconds: &Spanned<u64>,
    minimum: u64,
) -> Option<u64> {
    if (minimum..=MAX_TIMEOUT_SECS).contains(&seconds.value) {
        return Some(seconds.value);
    }
    diagnostics.push(
        Diagnostic::error(format!(
            "{key} {} is out of range: it must be from {minimum} to {MAX_TIMEOUT_SECS} seconds (a week)",
            seconds.value
        ))
        .at(spanned_location(file, seconds)),
    );
    None
}

fn load_packages(loader: &mut Loader) -> anyhow::Result<Vec<Package>> {
    let mut packages: Vec<Package> = Vec::new();
    for entry in loader.snapshot.list_dir("packages")? {
        if !entry.is_dir {
            continue;
        }
        let dir = format!("packages/{}", entry.name);
        let file = format!("{dir}/package.yaml");
        let Some(raw) = read_yaml::<RawPackage>(loader, &file)? else {
            if loader.sources.text(&file).is_none() {
                loader.diagnostics.push(Diagnostic::error(format!("{dir} has no package.yaml")));
            }
            continue;
        };
        if raw.name.value != entry.name {
            loader.diagnostics.push(
                Diagnostic::error(format!(
                    "package name `{}` differs from its directory `{}`",
                    raw.name.value, entry.name
                ))
                .at(spanned_location(&file, &raw.name)),
            );
        }
        let application = capitalize_type(&raw.application.name.value);
        if let Some(other) = packages.iter().find(|other| other.application == application) {
            loader.diagnostics.push(
                Diagnostic::error(format!("application {application} is defined by two packages"))
                    .at(spanned_location(&file, &raw.application.name))
                    .with_label(spanned_location(&other.file, &other.raw.application.name), "also defined here"),
            );
        }
        let code_id = loader.snapshot.tree_id(&dir)?;
        let mut files = Vec::new();
        read_package_files(loader, &dir, "", &mut files)?;
        let files = Arc::new(PackageFiles { name: entry.name.clone(), code_id: code_id.clone(), files });
        let code_id = Arc::from(code_id.as_str());
        packages.push(Package { dir, file, raw, code_id, application, files });
    }
    Ok(packages)
}

fn capability_types<'a>(
    loader: &mut Loader,
    packages: &'a [Package],
) -> BTreeMap<String, (&'a Package, &'a raw::RawCapabilityType)> {
    let mut types = BTreeMap::new();
    for package in packages {
        for (name, raw) in &package.raw.capabilities {
            if types.insert(capitalize_type(name), (package, raw)).is_some() {
                loader.diagnostics.push(
                    Diagnostic::error(format!("capability type {name} is defined by more than one package"))
                        .at(Some(Location { file: package.file.clone(), range: 0..0 })),
                );
            }
        }
    }
    types
}

/// Reads a package directory recursively, in name order.
fn read_package_files(loader: &Loader, dir: &str, prefix: &str, files: &mut Vec<PackageFile>) -> anyhow::Result<()> {
    for entry in loader.snapshot.list_dir(&format!("{dir}/{prefix}"))? {
        let relative = format!("{prefix}{}", entry.name);
        if entry.is_dir {
            read_package_files(loader, dir, &format!("{relative}/"), files)?;
        } else if let Some(content) = loader.snapshot.read(&format!("{dir}/{relative}"))? {
            let executable = loader.snapshot.is_executable(&format!("{dir}/{relative}"))?;
            files.push(PackageFile { path: relative, content, executable });
        }
    }
    Ok(())
}

fn read_scripts(
    loader: &mut Loader,
    package: &Package,
    raw: &raw::RawComponentType,
) -> anyhow::Result<Option<Arc<Scripts>>> {
    let mut read = |script: &Spanned<String>| -> anyhow::Result<Option<Script>> {
        let relative = script.value.trim_start_matches("./").to_string();
        let path = format!("{}/{relative}", package.dir);
        let location = spanned_location(&package.file, script);
        if let Some(problem) = script_path_problem(&relative) {
            loader.diagnostics.push(
                Diagnostic::error(format!("script path \"{}\" {problem}", crate::text::excerpt(&script.value)))
                    .at(location)
                    .with_note(format!(
                        "a script path is relative to the package directory {} and stays inside it",
                        package.dir
                    )),
            );
            return Ok(None);
        }
        match loader.snapshot.read(&path)? {
            None => {
                loader.diagnostics.push(Diagnostic::error(format!("script {path} does not exist")).at(location));
                Ok(None)
            }
            Some(_) if !loader.snapshot.is_executable(&path)? => {
                loader.diagnostics.push(
                    Diagnostic::error(format!("script {path} is not executable"))
                        .at(location)
                        .with_note(format!("run `chmod +x {path}` and commit it")),
                );
                Ok(None)
            }
            Some(content) => Ok(Some(Script { path: relative, content: Arc::new(content) })),
        }
    };
    let apply = read(&raw.scripts.apply)?;
    let check = match &raw.scripts.check {
        Some(script) => read(script)?,
        None => None,
    };
    let remove = match &raw.scripts.remove {
        Some(script) => read(script)?,
        None => None,
    };
    Ok(apply.map(|apply| Arc::new(Scripts { apply, check, remove, package: Arc::clone(&package.files) })))
}

/// Why a script path could leave its package directory, or `None` when it stays inside:
/// scripts run from the package as written to the state directory, so `..` or an absolute
/// path would run whatever that leads to on the machine.
fn script_path_problem(relative: &str) -> Option<&'static str> {
    use std::path::Component;
    if relative.is_empty() {
        return Some("is empty");
    }
    if relative.contains('\0') {
        return Some("contains NUL");
    }
    std::path::Path::new(relative).components().find_map(|component| match component {
        Component::Normal(_) | Component::CurDir => None,
        Component::ParentDir => Some("goes up with `..`, out of its package"),
        Component::RootDir | Component::Prefix(_) => Some("is absolute, outside its package"),
    })
}

/// Every component an application declares must have a known type.
fn check_application_components(
    loader: &mut Loader,
    package: &Package,
    component_types: &BTreeMap<String, ComponentType>,
) {
    for component in &package.raw.application.components {
        let type_name = capitalize_type(&component.component.value);
        if component_types.contains_key(&type_name) {
            continue;
        }
        let mut diagnostic = Diagnostic::error(format!("unknown component type `{type_name}`"))
            .at(spanned_location(&package.file, &component.component));
        match suggest(&type_name, component_types.keys().map(String::as_str)) {
            Some(best) => diagnostic = diagnostic.with_note(format!("did you mean `{best}`?")),
            None => {
                diagnostic = diagnostic.with_note(format!("component types: {}", join_or_none(component_types.keys())))
            }
        }
        loader.diagnostics.push(diagnostic);
    }
}

/// One instance of the site as the steps of its expansion see it: the package it uses, its
/// reference (`Lamp[app1]`) and where the site declares it.
struct Instance<'i> {
    raw: &'i raw::RawInstance,
    package: &'i Package,
    reference: String,
    location: Option<Location>,
}

/// What the site's instances have declared so far.
#[derive(Default)]
struct Declarations<'a> {
    components: Vec<Declared<'a>>,
    /// Which application declared each component, to find duplicates without a scan.
    declared_by: HashMap<String, String>,
    /// Where each application instance is declared.
    instances: HashMap<String, Option<Location>>,
}

/// Resolves an instance's parameters and declares its components; returns the instance.
/// An instance declared twice is reported once, as itself: its components are not declared
/// again, so they are not reported one by one.
fn expand_instance<'a>(
    loader: &mut Loader,
    model: &Model,
    packages: &'a [Package],
    component_types: &'a BTreeMap<String, ComponentType<'a>>,
    raw: &raw::RawInstance,
    declarations: &mut Declarations<'a>,
) -> Option<Application> {
    let package = instance_package(loader, packages, raw)?;
    let instance = Instance {
        raw,
        package,
        reference: format!("{}[{}]", package.application, raw.title.value),
        location: spanned_location(SITE, &raw.title),
    };
    if let Some(first) = declarations.instances.get(&instance.reference) {
        loader.diagnostics.push(
            Diagnostic::error(format!(
                "Duplicate declaration: {} is already declared; cannot redeclare",
                instance.reference
            ))
            .at(instance.location.clone())
            .with_label(first.clone(), "first declared here"),
        );
        return None;
    }
    declarations.instances.insert(instance.reference.clone(), instance.location.clone());
    let scope = instance_scope(loader, &instance);
    let first_new = declarations.components.len();
    let complete = declare_components(loader, &instance, component_types, &scope, declarations);
    let own = &mut declarations.components[first_new..];
    apply_overrides(loader, &instance, own);
    assign_nodes(loader, model, &instance, complete, own);
    Some(Application {
        components: own.iter().map(|component| component.reference.clone()).collect(),
        reference: instance.reference,
        origin: instance.location,
    })
}

/// The package an instance uses (`lamp`, or `lamp@1.0.0` at that version).
fn instance_package<'a>(
    loader: &mut Loader,
    packages: &'a [Package],
    instance: &raw::RawInstance,
) -> Option<&'a Package> {
    let app_location = spanned_location(SITE, &instance.application);
    let (package_name, version) = match instance.application.value.split_once('@') {
        Some((name, version)) => (name, Some(version)),
        None => (instance.application.value.as_str(), None),
    };
    let Some(package) = packages.iter().find(|package| package.raw.name.value == package_name) else {
        let names: Vec<&str> = packages.iter().map(|package| package.raw.name.value.as_str()).collect();
        let mut diagnostic = Diagnostic::error(format!("unknown package `{package_name}`")).at(app_location);
        if let Some(best) = suggest(package_name, names.iter().copied()) {
            diagnostic = diagnostic.with_note(format!("did you mean `{best}`?"));
        } else {
            diagnostic = diagnostic.with_note(format!("packages in packages/: {}", join_or_none(names.iter())));
        }
        loader.diagnostics.push(diagnostic);
        return None;
    };
    if let Some(version) = version
        && version != package.raw.version.value
    {
        loader.diagnostics.push(
            Diagnostic::error(format!(
                "package {package_name} is at version {}, not {version}",
                package.raw.version.value
            ))
            .at(app_location),
        );
    }
    Some(package)
}

/// Application parameters: package defaults < profile < site values; with `title` and `name`.
fn instance_scope(loader: &mut Loader, instance: &Instance) -> Scope {
    let (package, app_ref) = (instance.package, &instance.reference);
    let mut values: BTreeMap<&str, (&Value, Option<Location>)> = BTreeMap::new();
    for (name, spec) in &package.raw.parameters {
        if let Some(default) = &spec.default {
            values.insert(name, (&default.value, spanned_location(&package.file, default)));
        }
    }
    let profile = instance.raw.profile.as_ref().and_then(|profile| match package.raw.profiles.get(&profile.value) {
        Some(profile_values) => Some((package.file.as_str(), profile_values)),
        None => {
            loader.diagnostics.push(
                Diagnostic::error(format!("package {} has no profile `{}`", package.raw.name.value, profile.value))
                    .at(spanned_location(SITE, profile))
                    .with_note(format!("profiles: {}", join_or_none(package.raw.profiles.keys()))),
            );
            None
        }
    });
    for (file, given) in profile.into_iter().chain([(SITE, &instance.raw.parameters)]) {
        for (name, value) in given {
            let location = spanned_location(file, value);
            match package.raw.parameters.get_key_value(name) {
                Some((name, _)) => {
                    values.insert(name, (&value.value, location));
                }
                None => {
                    loader.diagnostics.push(unknown_parameter(app_ref, name, package.raw.parameters.keys(), location))
                }
            }
        }
    }
    let mut scope = Scope::default();
    for (name, spec) in &package.raw.parameters {
        match values.remove(name.as_str()) {
            Some((value, location)) => match check_type(value.clone(), spec.kind) {
                Ok(value) => scope.set(name, value, spec.secret),
                Err(got) => loader.diagnostics.push(wrong_type(app_ref, name, spec, got, location)),
            },
            None if spec.mandatory => loader.diagnostics.push(
                Diagnostic::error(format!("{app_ref}: expects a value for parameter '{name}'"))
                    .at(instance.location.clone()),
            ),
            None => scope.set(name, Value::Null, spec.secret),
        }
    }
    scope.set("title", Value::String(instance.raw.title.value.clone()), false);
    scope.set("name", Value::String(instance.raw.title.value.clone()), false);
    scope
}

/// The application's components, expanded (`count`) and interpolated in the instance's
/// scope; whether all could be declared. When some cannot, node assignments are not checked
/// against them: every mapping would be reported again as a consequence of the first mistake.
fn declare_components<'a>(
    loader: &mut Loader,
    instance: &Instance,
    component_types: &'a BTreeMap<String, ComponentType<'a>>,
    scope: &Scope,
    declarations: &mut Declarations<'a>,
) -> bool {
    let mut complete = true;
    for component in &instance.package.raw.application.components {
        let type_name = capitalize_type(&component.component.value);
        let Some(component_type) = component_types.get(&type_name) else {
            // Reported once per package by `check_application_components`.
            complete = false;
            continue;
        };
        let count = match component_count(loader, instance, component, &type_name, scope) {
            Ok(count) => count,
            Err(Stop::Incomplete) => {
                complete = false;
                continue;
            }
            Err(Stop::Skip | Stop::Declaration) => continue,
        };
        let indexes: Vec<Option<u64>> = match count {
            Some(count) => (1..=count).map(Some).collect(),
            None => vec![None],
        };
        for index in indexes {
            let indexed;
            let scope = match index {
                Some(index) => {
                    let mut with_index = scope.clone();
                    with_index.set("index", Value::from(index), false);
                    indexed = with_index;
                    &indexed
                }
                None => scope,
            };
            match declare_component(loader, instance, component, &type_name, component_type, scope) {
                Ok(new) => {
                    if let Some(existing) = declarations.declared_by.get(&new.reference) {
                        loader.diagnostics.push(
                            Diagnostic::error(format!(
                                "Duplicate declaration: {} is already declared by {existing}; cannot redeclare",
                                new.reference
                            ))
                            .at(instance.location.clone()),
                        );
                        continue;
                    }
                    declarations.declared_by.insert(new.reference.clone(), instance.reference.clone());
                    declarations.components.push(new);
                }
                Err(Stop::Skip) => {}
                Err(Stop::Incomplete) => complete = false,
                Err(Stop::Declaration) => {
                    complete = false;
                    break;
                }
            }
        }
    }
    complete
}

/// Why a declaration step gave nothing; its mistake is reported.
enum Stop {
    /// The instance is incomplete: its node assignments are not checked.
    Incomplete,
    /// The declaration itself is wrong: reported once, not once per counted component.
    Declaration,
    /// Only this component is left out.
    Skip,
}

/// How many components a declaration with `count` makes; `None` without one.
fn component_count(
    loader: &mut Loader,
    instance: &Instance,
    component: &raw::RawAppComponent,
    type_name: &str,
    scope: &Scope,
) -> Result<Option<u64>, Stop> {
    let (file, app_ref) = (&instance.package.file, &instance.reference);
    let Some(count) = &component.count else {
        return Ok(None);
    };
    match interpolate(&count.value, scope).map(|(value, _)| check_type(value, Some(ParamType::Integer))) {
        Ok(Ok(Value::Number(number))) if number.as_u64().is_some_and(|count| count > MAX_COUNT) => {
            loader.diagnostics.push(
                Diagnostic::error(format!(
                    "{app_ref}: count of {type_name} is {number}, more than {MAX_COUNT}, the most one application may declare"
                ))
                .at(spanned_location(file, count)),
            );
            Err(Stop::Incomplete)
        }
        Ok(Ok(Value::Number(number))) if number.as_u64().is_some() => Ok(number.as_u64()),
        Ok(_) => {
            loader.diagnostics.push(
                Diagnostic::error(format!("{app_ref}: count of {type_name} must be a non-negative integer"))
                    .at(spanned_location(file, count)),
            );
            Err(Stop::Skip)
        }
        Err(err) => {
            loader.diagnostics.push(interpolation_error(app_ref, &err, spanned_location(file, count)));
            Err(Stop::Skip)
        }
    }
}

/// One component of the application, its title, parameters and references interpolated.
fn declare_component<'a>(
    loader: &mut Loader,
    instance: &Instance,
    component: &raw::RawAppComponent,
    type_name: &str,
    component_type: &'a ComponentType<'a>,
    scope: &Scope,
) -> Result<Declared<'a>, Stop> {
    let (file, app_ref) = (&instance.package.file, &instance.reference);
    let mut problem = false;
    let mut eval =
        |loader: &mut Loader, value: &Value, location: &dyn Fn() -> Option<Location>| match interpolate(value, scope) {
            Ok(result) => Some(result),
            Err(err) => {
                loader.diagnostics.push(interpolation_error(app_ref, &err, location()));
                problem = true;
                None
            }
        };
    let title = &component.title;
    let title_value = Value::String(title.value.clone());
    let component_title = match eval(loader, &title_value, &|| spanned_location(file, title)) {
        Some((_, true)) => {
            loader
                .diagnostics
                .push(secret_in_name(&format!("{app_ref}: the title of {type_name}"), spanned_location(file, title)));
            return Err(Stop::Declaration);
        }
        Some((value, false)) => crate::model::display_value(&value),
        None => return Err(Stop::Skip),
    };
    let mut explicit = NameMap::with_capacity(component.parameters.len());
    for (name, value) in &component.parameters {
        if !component_type.raw.parameters.contains_key(name) {
            loader.diagnostics.push(unknown_parameter(
                &format!("{type_name}[{component_title}]"),
                name,
                component_type.raw.parameters.keys(),
                spanned_location(file, value),
            ));
            continue;
        }
        if let Some(result) = eval(loader, &value.value, &|| spanned_location(file, value)) {
            explicit.insert(name.clone(), result);
        }
    }
    let produces = references(loader, instance, scope, &component.export);
    let consumes = references(loader, instance, scope, &component.consume);
    let requires = references(loader, instance, scope, &component.require);
    if problem {
        return Err(Stop::Incomplete);
    }
    Ok(Declared {
        reference: format!("{type_name}[{component_title}]"),
        type_name: type_name.to_string(),
        title: component_title,
        application: instance.reference.clone(),
        component_type,
        explicit,
        produces,
        consumes,
        requires,
        node: None,
        declared_at: spanned_location(file, &component.component),
        assigned_at: None,
    })
}

/// Capability references (`export`, `consume`, `require`), interpolated and normalised.
fn references(
    loader: &mut Loader,
    instance: &Instance,
    scope: &Scope,
    list: &Option<Spanned<OneOrMany>>,
) -> Vec<String> {
    let Some(list) = list else { return Vec::new() };
    let app_ref = &instance.reference;
    let location = spanned_location(&instance.package.file, list);
    // Sized to the list: most name one capability, and a site has hundreds of thousands.
    let mut out = Vec::with_capacity(list.value.0.len());
    for item in &list.value.0 {
        let item = &item.value;
        match interpolate(&Value::String(item.clone()), scope) {
            Ok((_, true)) => loader.diagnostics.push(secret_in_name(
                &format!("{app_ref}: the capability reference `{}`", crate::text::excerpt(item)),
                location.clone(),
            )),
            Ok((value, false)) => {
                let text = crate::model::display_value(&value);
                match split_reference(&text) {
                    Some((capability, title)) => out.push(format!("{}[{title}]", capitalize_type(capability))),
                    None => loader.diagnostics.push(
                        Diagnostic::error(format!("`{text}` is not a reference like Sql[app1]")).at(location.clone()),
                    ),
                }
            }
            Err(err) => loader.diagnostics.push(interpolation_error(app_ref, &err, location.clone())),
        }
    }
    out
}

/// Per-component overrides from the site.
fn apply_overrides(loader: &mut Loader, instance: &Instance, own: &mut [Declared]) {
    for (reference, parameters) in &instance.raw.overrides {
        let normalized =
            split_reference(reference).map(|(type_name, title)| format!("{}[{title}]", capitalize_type(type_name)));
        let Some(component) = own.iter_mut().find(|component| Some(&component.reference) == normalized.as_ref()) else {
            let location = parameters.values().next().and_then(|value| spanned_location(SITE, value));
            loader.diagnostics.push(
                Diagnostic::error(format!("{} declares no component {reference} to override", instance.reference))
                    .at(location.or(instance.location.clone())),
            );
            continue;
        };
        for (name, value) in parameters {
            if !component.component_type.raw.parameters.contains_key(name) {
                loader.diagnostics.push(unknown_parameter(
                    &component.reference,
                    name,
                    component.component_type.raw.parameters.keys(),
                    spanned_location(SITE, value),
                ));
                continue;
            }
            component.explicit.insert(name.clone(), (value.value.clone(), false));
        }
    }
}

/// Node assignments: every component on exactly one node, every node known. Mappings to
/// components that do not exist are reported only when every component was declared.
fn assign_nodes(loader: &mut Loader, model: &Model, instance: &Instance, complete: bool, own: &mut [Declared]) {
    let app_ref = &instance.reference;
    let mut complete = complete;
    let mut unknown_components = Vec::new();
    for (node_name, assigned) in &instance.raw.nodes {
        let location = spanned_location(SITE, assigned);
        if !resolve::check_node_name(&mut loader.diagnostics, node_name, location.clone()) {
            complete = false;
        } else if !model.nodes.contains_key(node_name) {
            let mut diagnostic =
                Diagnostic::error(format!("unknown node {node_name}: it is not in {}", inventory::INVENTORY))
                    .at(location.clone());
            if let Some(best) = suggest(node_name, model.nodes.keys().map(String::as_str)) {
                diagnostic = diagnostic.with_note(format!("did you mean `{best}`?"));
            }
            loader.diagnostics.push(diagnostic);
        }
        for item in &assigned.value.0 {
            let location = spanned_location(SITE, item).or_else(|| location.clone());
            let reference = match split_reference(&item.value) {
                Some((type_name, title)) => format!("{}[{title}]", capitalize_type(type_name)),
                None => {
                    loader.diagnostics.push(
                        Diagnostic::error(format!(
                            "Invalid node mapping in {app_ref}: value {} is not a component reference",
                            item.value
                        ))
                        .at(location.clone()),
                    );
                    continue;
                }
            };
            let Some(component) = own.iter_mut().find(|component| component.reference == reference) else {
                unknown_components.push((reference, location.clone()));
                continue;
            };
            match &component.node {
                Some(first) if first != node_name => loader.diagnostics.push(
                    Diagnostic::error(format!(
                        "Component {reference} is assigned to more than one node: {first} and {node_name}"
                    ))
                    .at(location.clone())
                    .with_label(component.assigned_at.clone(), format!("first assigned to {first} here")),
                ),
                _ => {
                    component.node = Some(node_name.clone());
                    component.assigned_at = location.clone();
                }
            }
        }
    }
    if !unknown_components.is_empty() && complete {
        let names: Vec<&str> = unknown_components.iter().map(|(reference, _)| reference.as_str()).collect();
        let known: Vec<&str> = own.iter().map(|component| component.reference.as_str()).collect();
        let mut diagnostic = Diagnostic::error(format!(
            "Application {app_ref} assigns nodes to non-existent components: {}",
            join_some(&names, 20)
        ))
        .at(unknown_components[0].1.clone());
        if let Some(best) = suggest(names[0], known.iter().copied()) {
            diagnostic = diagnostic.with_note(format!("did you mean `{best}`?"));
        }
        loader.diagnostics.push(diagnostic.with_note(format!("{app_ref} declares: {}", join_some(&known, 20))));
    }
    let unassigned: Vec<&str> =
        own.iter().filter(|component| component.node.is_none()).map(|component| component.reference.as_str()).collect();
    if !unassigned.is_empty() {
        loader.diagnostics.push(
            Diagnostic::error(format!(
                "Application {app_ref} has components without assigned nodes: {}",
                join_some(&unassigned, 20)
            ))
            .at(instance.location.clone()),
        );
    }
}

/// Resolves parameters in dependency order, evaluates capabilities, and fills the model.
fn resolve_components(
    loader: &mut Loader,
    model: &mut Model,
    declared: Vec<Declared>,
    capability_types: &BTreeMap<String, (&Package, &raw::RawCapabilityType)>,
) {
    check_exports(loader, &declared);
    let producers = resolve::producers(&mut loader.diagnostics, &declared);
    let mut declared = expand_wildcards(loader, declared, &producers);
    let Some(resolve::Wiring { edges, order }) = resolve::wire(&mut loader.diagnostics, &declared, &producers) else {
        return;
    };
    // Each node's facts are made a value once and shared by the scopes of its components:
    // they move out of the node for that and back once every component is resolved, so a
    // site's facts are never held twice.
    let mut facts_of_node: HashMap<String, Arc<Value>> = model
        .nodes
        .iter_mut()
        .map(|(name, node)| (name.clone(), Arc::new(Value::Object(std::mem::take(&mut node.facts)))))
        .collect();
    let mut resolved: Vec<Option<Component>> = vec![None; declared.len()];
    // What went wrong is reported in the dependency order, as if the components had
    // resolved one after another: a producer's problem just before those it caused.
    let mut position = vec![0usize; declared.len()];
    for (at, &index) in order.iter().enumerate() {
        position[index] = at;
    }
    let mut reported: Vec<(usize, Vec<Diagnostic>)> = Vec::new();
    for batch in independent_batches(&declared, &order, &edges) {
        // A large batch is shared among the cores.
        let resolutions = crate::parallel::map(&batch, PARALLEL_BATCH, |&index| {
            resolve_one(model, &declared[index], &facts_of_node, capability_types)
        });
        for (index, resolution) in batch.into_iter().zip(resolutions) {
            if !resolution.diagnostics.is_empty() {
                reported.push((position[index], resolution.diagnostics));
            }
            for capability in resolution.produced {
                model.capabilities.insert(capability.reference.clone(), capability);
            }
            let component = &mut declared[index];
            // Nothing reads a declaration once its component is resolved: its parts move over.
            let (Some(node_name), Some(scripts)) = (component.node.take(), component.component_type.scripts.clone())
            else {
                continue;
            };
            let take = std::mem::take::<String>;
            resolved[index] = Some(Component {
                node: node_name,
                reference: take(&mut component.reference),
                type_name: take(&mut component.type_name),
                title: take(&mut component.title),
                application: take(&mut component.application),
                parameters: resolution.parameters,
                implementation: Implementation::Scripts(scripts),
                code_id: component.component_type.package.code_id.clone(),
                produces: std::mem::take(&mut component.produces),
                consumes: std::mem::take(&mut component.consumes),
                requires: std::mem::take(&mut component.requires),
                origin: component.assigned_at.take().or(component.declared_at.take()),
            });
        }
    }
    reported.sort_by_key(|(at, _)| *at);
    loader.diagnostics.extend(reported.into_iter().flat_map(|(_, diagnostics)| diagnostics));
    for (node_name, node) in &mut model.nodes {
        // No scope outlives its component, so each node's facts are held here alone.
        if let Some(facts) = facts_of_node.remove(node_name)
            && let Value::Object(facts) = Arc::unwrap_or_clone(facts)
        {
            node.facts = facts;
        }
    }
    // The declarations' shells go before the components are sorted into the model, so the
    // sort reuses their memory instead of adding to the peak.
    drop(declared);
    resolve::finish(model, resolved, edges);
}

/// What resolving one component gave: its parameters, the capabilities it produces and what
/// went wrong.
struct Resolution {
    parameters: Params,
    produced: Vec<Capability>,
    diagnostics: Vec<Diagnostic>,
}

/// Batches of fewer components than this resolve on the calling thread.
const PARALLEL_BATCH: usize = 512;

/// The components of `order` in batches that can resolve at the same time: a component's
/// batch comes after those of every producer whose capability it consumes (`edges` that carry
/// data), and within a batch components keep their order.
fn independent_batches(declared: &[Declared], order: &[usize], edges: &resolve::Edges) -> Vec<Vec<usize>> {
    let mut feeders: Vec<Vec<usize>> = vec![Vec::new(); declared.len()];
    for (producer, consumer, capability) in edges {
        if capability.is_some() {
            feeders[*consumer].push(*producer);
        }
    }
    let mut batch_of = vec![0usize; declared.len()];
    let mut batches: Vec<Vec<usize>> = Vec::new();
    for &index in order {
        if declared[index].node.is_none() {
            continue;
        }
        let batch = feeders[index].iter().map(|&producer| batch_of[producer] + 1).max().unwrap_or(0);
        batch_of[index] = batch;
        if batches.len() <= batch {
            batches.resize_with(batch + 1, Vec::new);
        }
        batches[batch].push(index);
    }
    batches
}

/// Resolves one component of a batch: its consumed values, parameters and capabilities.
fn resolve_one(
    model: &Model,
    component: &Declared,
    facts_of_node: &HashMap<String, Arc<Value>>,
    capability_types: &BTreeMap<String, (&Package, &raw::RawCapabilityType)>,
) -> Resolution {
    let node_name = component.node.as_deref().unwrap_or_default();
    // A node the inventory does not list has no facts.
    let facts = facts_of_node.get(node_name).cloned().unwrap_or_else(|| Arc::new(Value::Object(Default::default())));
    let mut diagnostics = Vec::new();
    let values = consumed_values(&mut diagnostics, model, component);
    let (parameters, scope) = resolve_parameters(&mut diagnostics, component, node_name, facts, values);
    let produced = produce_capabilities(&mut diagnostics, component, &scope, capability_types);
    Resolution { parameters, produced, diagnostics }
}

/// Every exported capability must have a `produces` mapping in the component's type.
fn check_exports(loader: &mut Loader, declared: &[Declared]) {
    for component in declared {
        for capability in &component.produces {
            let (type_name, _) = split_reference(capability).unwrap_or_default();
            if !component.component_type.raw.produces.keys().any(|key| names_type(key, type_name)) {
                loader.diagnostics.push(
                    Diagnostic::error(format!(
                        "{} exports {capability}, but component type {} has no `produces: {type_name}` mapping",
                        component.reference, component.type_name
                    ))
                    .at(component.declared_at.clone()),
                );
            }
        }
    }
}

/// References with a `*` in the title stand for every exported capability they match.
fn expand_wildcards<'a>(
    loader: &mut Loader,
    mut declared: Vec<Declared<'a>>,
    producers: &resolve::Producers,
) -> Vec<Declared<'a>> {
    // Matches are listed in name order; most sites have no wildcard and never sort.
    let mut exported: Option<Vec<&str>> = None;
    for component in &mut declared {
        for list in [&mut component.consumes, &mut component.requires] {
            if !list.iter().any(|reference| reference.contains('*')) {
                continue;
            }
            let mut expanded = Vec::new();
            for reference in list.iter() {
                if !reference.contains('*') {
                    expanded.push(reference.clone());
                    continue;
                }
                let exported = exported.get_or_insert_with(|| resolve::sorted_capabilities(producers));
                let matches: Vec<String> = exported
                    .iter()
                    .filter(|produced| glob_match(reference, produced))
                    .map(|produced| produced.to_string())
                    .collect();
                if matches.is_empty() {
                    loader.diagnostics.push(
                        Diagnostic::error(format!(
                            "{}: {reference} matches no exported capability",
                            component.reference
                        ))
                        .at(component.declared_at.clone()),
                    );
                }
                expanded.extend(matches);
            }
            *list = expanded;
        }
    }
    declared
}

/// A component's explicit parameters, with consumed capability values filling those not set
/// explicitly; an array parameter collects one value per consumed capability.
fn consumed_values(diagnostics: &mut Vec<Diagnostic>, model: &Model, component: &Declared) -> NameMap<(Value, bool)> {
    let raw_type = component.component_type.raw;
    let mut values = component.explicit.clone();
    let mut collected: BTreeMap<String, (Vec<Value>, bool)> = BTreeMap::new();
    for capability in &component.consumes {
        let Some(produced) = model.capabilities.get(capability) else { continue };
        let (type_name, _) = split_reference(capability).unwrap_or_default();
        let Some(mapping) = raw_type.consumes.iter().find(|(key, _)| names_type(key, type_name)) else {
            diagnostics.push(
                Diagnostic::error(format!(
                    "{} consumes {capability}, but component type {} has no `consumes: {type_name}` mapping",
                    component.reference, component.type_name
                ))
                .at(component.declared_at.clone()),
            );
            continue;
        };
        let mut capability_scope = Scope::default();
        for (name, param) in &produced.attributes {
            capability_scope.set(name, param.value.clone(), param.secret);
        }
        for (parameter, expression) in mapping.1 {
            if component.explicit.contains_key(parameter) {
                continue;
            }
            let is_array = raw_type.parameters.get(parameter).and_then(|spec| spec.kind) == Some(ParamType::Array);
            match interpolate(&expression.value, &capability_scope) {
                Ok((value, secret)) if is_array => {
                    let entry = collected.entry(parameter.clone()).or_default();
                    match value {
                        Value::Array(items) => entry.0.extend(items),
                        value => entry.0.push(value),
                    }
                    entry.1 |= secret;
                }
                Ok(_) if values.contains_key(parameter) => diagnostics.push(
                    Diagnostic::error(format!(
                        "{} consumes more than one {type_name} capability, so parameter '{parameter}' gets several values; declare it `type: array`",
                        component.reference
                    ))
                    .at(spanned_location(&component.component_type.package.file, expression)),
                ),
                Ok(result) => {
                    values.insert(parameter.clone(), result);
                }
                Err(err) => diagnostics.push(interpolation_error(
                    &component.reference,
                    &err,
                    spanned_location(&component.component_type.package.file, expression),
                )),
            }
        }
    }

    for (name, (items, secret)) in collected {
        values.insert(name, (Value::Array(items), secret));
    }
    values
}

/// The component's parameters: its values, then defaults evaluated in the component's scope.
/// A default may refer to other parameters, so defaults resolve in passes until no more can
/// be resolved. A value that resolves to nothing (null) counts as not set, so the default
/// applies. Returns the parameters and the scope they were resolved in.
fn resolve_parameters(
    diagnostics: &mut Vec<Diagnostic>,
    component: &Declared,
    node_name: &str,
    facts: Arc<Value>,
    mut values: NameMap<(Value, bool)>,
) -> (Params, Scope) {
    let raw_type = component.component_type.raw;
    let file = &component.component_type.package.file;
    values.retain(|_, (value, _)| !value.is_null());
    let mut scope = Scope::default();
    scope.set("title", Value::String(component.title.clone()), false);
    scope.set("name", Value::String(component.title.clone()), false);
    scope.set("node", Value::String(node_name.to_string()), false);
    scope.set_shared("facts", facts, false);
    for (name, (value, secret)) in &values {
        scope.set(name, value.clone(), *secret);
    }
    let mut parameters = Params::with_capacity(raw_type.parameters.len());
    let mut pending: Vec<&String> = raw_type.parameters.keys().collect();
    let mut waiting: BTreeMap<&String, (InterpolationError, Option<Location>)> = BTreeMap::new();
    while !pending.is_empty() {
        let n_pending = pending.len();
        let mut next = Vec::new();
        for name in pending {
            let spec = &raw_type.parameters[name];
            let (value, tainted, location) = if let Some((value, secret)) = values.get(name) {
                (value.clone(), *secret, component.declared_at.clone())
            } else if let Some(default) = &spec.default {
                let location = spanned_location(file, default);
                match interpolate(&default.value, &scope) {
                    Ok((value, secret)) => (value, secret, location),
                    Err(err) => {
                        let waits_for_parameter = matches!(
                            &err,
                            InterpolationError::UnknownVariable { name: variable, .. }
                                if raw_type.parameters.contains_key(variable)
                        );
                        if waits_for_parameter {
                            waiting.insert(name, (err, location));
                            next.push(name);
                        } else {
                            diagnostics.push(interpolation_error(&component.reference, &err, location));
                        }
                        continue;
                    }
                }
            } else {
                (Value::Null, false, component.declared_at.clone())
            };
            waiting.remove(name);
            if value.is_null() {
                if spec.mandatory {
                    diagnostics.push(
                        Diagnostic::error(format!("{}: expects a value for parameter '{name}'", component.reference))
                            .at(component.declared_at.clone()),
                    );
                }
                continue;
            }
            match check_type(value, spec.kind) {
                Ok(value) => {
                    scope.set(name, value.clone(), spec.secret || tainted);
                    parameters.insert(name.clone(), Param { value, secret: spec.secret || tainted });
                }
                Err(got) => diagnostics.push(wrong_type(&component.reference, name, spec, got, location)),
            }
        }
        if next.len() == n_pending {
            // No progress: these defaults refer to parameters that never get a value.
            for (_, (err, location)) in std::mem::take(&mut waiting) {
                diagnostics.push(interpolation_error(&component.reference, &err, location));
            }
            break;
        }
        pending = next;
    }
    (parameters, scope)
}

/// The capabilities a component produces, evaluated in its scope.
fn produce_capabilities(
    diagnostics: &mut Vec<Diagnostic>,
    component: &Declared,
    scope: &Scope,
    capability_types: &BTreeMap<String, (&Package, &raw::RawCapabilityType)>,
) -> Vec<Capability> {
    let raw_type = component.component_type.raw;
    let mut produced = Vec::with_capacity(component.produces.len());
    for capability in &component.produces {
        let (type_name, _) = split_reference(capability).unwrap_or_default();
        let Some((_, mapping)) = raw_type.produces.iter().find(|(key, _)| names_type(key, type_name)) else {
            continue;
        };
        let capability_type = capability_types.get(type_name).map(|(_, raw)| *raw);
        let mut attributes = Params::with_capacity(mapping.len());
        let mut capability_scope = Scope::default();
        for (name, expression) in mapping {
            let spec = capability_type.and_then(|raw| raw.attributes.get(name));
            if capability_type.is_some() && spec.is_none() {
                diagnostics.push(
                    Diagnostic::error(format!("capability type {type_name} has no attribute '{name}'"))
                        .at(spanned_location(&component.component_type.package.file, expression)),
                );
                continue;
            }
            match interpolate(&expression.value, scope) {
                Ok((value, secret)) => {
                    let secret = secret || spec.is_some_and(|spec| spec.secret);
                    let value = match check_type(value, spec.and_then(|spec| spec.kind)) {
                        Ok(value) => value,
                        Err(got) => {
                            let location = spanned_location(&component.component_type.package.file, expression);
                            let spec = spec.expect("a type error needs a declared attribute type");
                            diagnostics.push(wrong_type(capability, name, spec, got, location));
                            continue;
                        }
                    };
                    capability_scope.set(name, value.clone(), secret);
                    attributes.insert(name.clone(), Param { value, secret });
                }
                Err(err) => diagnostics.push(interpolation_error(
                    &component.reference,
                    &err,
                    spanned_location(&component.component_type.package.file, expression),
                )),
            }
        }
        // Attributes the mapping leaves out take the capability type's defaults.
        for (name, spec) in capability_type.map(|raw| &raw.attributes).into_iter().flatten() {
            if attributes.contains_key(name) {
                continue;
            }
            let default = match &spec.default {
                Some(default) => interpolate(&default.value, scope).ok().map(|(value, _)| value),
                None => None,
            };
            match default.and_then(|value| check_type(value, spec.kind).ok()) {
                Some(value) => {
                    capability_scope.set(name, value.clone(), spec.secret);
                    attributes.insert(name.clone(), Param { value, secret: spec.secret });
                }
                None if spec.mandatory => diagnostics.push(
                    Diagnostic::error(format!(
                        "{} produces {capability} without attribute '{name}', which capability type {type_name} requires",
                        component.reference
                    ))
                    .at(component.declared_at.clone()),
                ),
                None => {}
            }
        }
        let check = capability_type
            .and_then(|raw| raw.check.as_ref())
            .and_then(|check| availability_check(diagnostics, component, check, &capability_scope));
        produced.push(Capability {
            reference: capability.clone(),
            producer: component.reference.clone(),
            attributes,
            check,
        });
    }
    produced
}

fn availability_check(
    diagnostics: &mut Vec<Diagnostic>,
    component: &Declared,
    check: &raw::RawCheck,
    scope: &Scope,
) -> Option<AvailabilityCheck> {
    let file = &component.component_type.package.file;
    let timeout_secs = match &check.timeout {
        Some(timeout) => checked_seconds(diagnostics, file, "timeout", timeout, 0)?,
        None => 60,
    };
    let field = match (&check.tcp, &check.http, &check.command) {
        (Some(value), None, None) | (None, Some(value), None) | (None, None, Some(value)) => value,
        _ => {
            diagnostics.push(
                Diagnostic::error("an availability check needs exactly one of `tcp`, `http`, `command`")
                    .at(Some(Location { file: file.clone(), range: 0..0 })),
            );
            return None;
        }
    };
    if check.status_codes.is_some() && check.http.is_none() {
        diagnostics.push(
            Diagnostic::error("`status_codes` applies only to an `http` check")
                .at(Some(Location { file: file.clone(), range: 0..0 })),
        );
    }
    if check.node.is_some() && check.command.is_none() {
        diagnostics.push(
            Diagnostic::error("`node` applies only to a `command` check")
                .at(Some(Location { file: file.clone(), range: 0..0 })),
        );
    }
    let report = |diagnostics: &mut Vec<Diagnostic>, err: InterpolationError, at: &Spanned<String>| {
        diagnostics.push(interpolation_error(&component.reference, &err, spanned_location(file, at)));
    };
    let kind = if check.tcp.is_some() {
        let address = interpolate_text(&field.value, scope).map_err(|err| report(diagnostics, err, field)).ok()?;
        CheckKind::Tcp { address }
    } else if check.http.is_some() {
        let url = interpolate_text(&field.value, scope).map_err(|err| report(diagnostics, err, field)).ok()?;
        CheckKind::Http { url, status_codes: check.status_codes.clone().unwrap_or_default() }
    } else {
        // A command goes to a shell: its values travel as environment variables, never as
        // part of the text the shell parses.
        let (command, env) =
            interpolate_shell(&field.value, scope).map_err(|err| report(diagnostics, err, field)).ok()?;
        let node = match &check.node {
            Some(node) => {
                Some(interpolate_text(&node.value, scope).map_err(|err| report(diagnostics, err, node)).ok()?)
            }
            None => None,
        };
        CheckKind::Command { command, env, node }
    };
    Some(AvailabilityCheck { kind, timeout_secs, ping_interval_secs: check.ping_interval.unwrap_or(1).max(1) })
}

/// A string interpolated as text (any value shown as a script would see it).
fn interpolate_text(text: &str, scope: &Scope) -> Result<String, InterpolationError> {
    interpolate(&Value::String(text.to_string()), scope).map(|(value, _)| crate::model::display_value(&value))
}

resolve::impl_declaration!(Declared<'_>);

/// Checks a value against a declared type, converting strings that spell the type.
/// Returns the Puppet name of the value's type when it does not match.
pub(super) fn check_type(value: Value, kind: Option<ParamType>) -> Result<Value, &'static str> {
    let Some(kind) = kind else { return Ok(value) };
    let got = match &value {
        Value::Null => return Ok(value),
        Value::String(_) => "String",
        Value::Bool(_) => "Boolean",
        Value::Number(number) if number.is_i64() || number.is_u64() => "Integer",
        Value::Number(_) => "Float",
        Value::Array(_) => "Array",
        Value::Object(_) => "Hash",
    };
    let converted = match (kind, &value) {
        (ParamType::Any, _) => Some(value.clone()),
        (ParamType::String, Value::String(_)) => Some(value.clone()),
        (ParamType::String, Value::Number(_) | Value::Bool(_)) => Some(Value::String(value.to_string())),
        (ParamType::Integer, Value::Number(number)) if number.is_i64() || number.is_u64() => Some(value.clone()),
        (ParamType::Integer, Value::String(text)) => text.trim().parse::<i64>().ok().map(Value::from),
        (ParamType::Number, Value::Number(_)) => Some(value.clone()),
        (ParamType::Number, Value::String(text)) => text.trim().parse::<i64>().map(Value::from).ok().or_else(|| {
            text.trim().parse::<f64>().ok().and_then(|float| serde_json::Number::from_f64(float).map(Value::Number))
        }),
        (ParamType::Boolean, Value::Bool(_)) => Some(value.clone()),
        (ParamType::Boolean, Value::String(text)) => match text.as_str() {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        (ParamType::Array, Value::Array(_)) | (ParamType::Hash, Value::Object(_)) => Some(value.clone()),
        _ => None,
    };
    converted.ok_or(got)
}

fn wrong_type(owner: &str, name: &str, spec: &RawParamSpec, got: &str, location: Option<Location>) -> Diagnostic {
    let expected = spec.kind.map_or("Any", ParamType::puppet_name);
    let article = if expected.starts_with(['A', 'E', 'I', 'O', 'U']) { "an" } else { "a" };
    Diagnostic::error(format!("{owner}: parameter '{name}' expects {article} {expected} value, got {got}")).at(location)
}

fn unknown_parameter<'a>(
    owner: &str,
    name: &str,
    known: impl Iterator<Item = &'a String> + Clone,
    location: Option<Location>,
) -> Diagnostic {
    let mut diagnostic = Diagnostic::error(format!("{owner}: has no parameter named '{name}'")).at(location);
    if let Some(best) = suggest(name, known.clone().map(String::as_str)) {
        diagnostic = diagnostic.with_note(format!("did you mean `{best}`?"));
    } else {
        diagnostic = diagnostic.with_note(format!("parameters: {}", join_or_none(known)));
    }
    diagnostic
}

/// A secret interpolated into a title or a reference: those are names, printed in plans,
/// progress, job records and pull-request comments, so a secret may never be part of one.
fn secret_in_name(what: &str, location: Option<Location>) -> Diagnostic {
    Diagnostic::error(format!("{what} is derived from a secret value")).at(location).with_note(
        "titles and references are shown everywhere a component is named; build them from values that are not secret",
    )
}

fn interpolation_error(owner: &str, err: &InterpolationError, location: Option<Location>) -> Diagnostic {
    let mut diagnostic = Diagnostic::error(format!("{owner}: {err}")).at(location);
    if let InterpolationError::UnknownVariable { name, known } = err {
        match suggest(name, known.iter().map(String::as_str)) {
            Some(best) => diagnostic = diagnostic.with_note(format!("did you mean `{best}`?")),
            None => diagnostic = diagnostic.with_note(format!("variables here: {}", known.join(", "))),
        }
    }
    diagnostic
}

fn join_or_none<T: std::fmt::Display>(items: impl Iterator<Item = T>) -> String {
    let joined: Vec<String> = items.map(|item| item.to_string()).collect();
    if joined.is_empty() { "(none)".to_string() } else { joined.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_come_from_the_expected_names() {
        let message = "unknown field `titel`, expected one of application, title, profile";
        assert_eq!(unknown_field_suggestion(message).as_deref(), Some("did you mean `title`?"));
        let message = "unknown variant `sshh`, expected `local` or `ssh`";
        assert_eq!(unknown_field_suggestion(message).as_deref(), Some("did you mean `ssh`?"));
    }
}
