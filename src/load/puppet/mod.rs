//! The Puppet front end: a control repository's `site` and `application` code, read as it is
//! and evaluated the way Puppet 5's compiler did, into the same [`Model`] the YAML front end
//! builds.
//!
//! Stages: `layout` finds the code (environment.conf, manifests, module path, Puppetfile,
//! capability types); every `.pp` file is parsed (`crate::lang`); definitions are indexed;
//! the `site` body is evaluated (`eval`) into application instances, each application body
//! into components with their `export`/`consume`/`require` references and node mapping;
//! then components resolve in dependency order: consumed capability values (through the
//! `consumes` mapping) fill parameters not set explicitly, the define's defaults complete
//! them in the scope of the node's facts, and the `produces` mapping makes the capabilities
//! it exports. `lower` produces the module path Puppet 7 runs.

pub mod eval;
mod layout;
mod lower;
pub mod value;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use self::eval::{Declared, Evaluator, Scope};
use self::layout::{CapabilityType, Layout};
use self::value::{DataType, Value};
use super::Loader;
use super::resolve;
use crate::diag::{Diagnostic, Location, suggest};
use crate::lang::ast::{self, SourceFile, Span, StatementKind};
use crate::model::{
    Application, Capability, Component, Implementation, Model, Node, PackageFile, Param, Params, PuppetCode,
    PuppetComponent, capitalize_type,
};

pub(crate) use layout::is_control_repository;

/// Metaparameters: they order or tag a resource and are never passed to its definition.
const METAPARAMETERS: &[&str] = &[
    "export",
    "consume",
    "require",
    "before",
    "notify",
    "subscribe",
    "tag",
    "alias",
    "audit",
    "noop",
    "loglevel",
    "schedule",
    "stage",
];

/// One parsed `.pp` file.
struct Parsed {
    path: String,
    text: String,
    file: SourceFile,
}

impl Parsed {
    fn location(&self, span: Span) -> Option<Location> {
        Some(Location { file: self.path.clone(), range: span.range() })
    }
}

/// What the code defines, by lowercase name.
#[derive(Default)]
struct Definitions<'a> {
    defines: BTreeMap<String, (&'a [ast::Param], &'a Parsed)>,
    classes: BTreeMap<String, (&'a [ast::Param], &'a Parsed)>,
    applications: BTreeMap<String, (&'a ast::ApplicationDef, &'a Parsed)>,
    /// (component type, capability type), both capitalised, to the mapping.
    produces: BTreeMap<(String, String), (&'a ast::CapabilityMapping, &'a Parsed)>,
    consumes: BTreeMap<(String, String), (&'a ast::CapabilityMapping, &'a Parsed)>,
    sites: Vec<(&'a ast::SiteDef, &'a Parsed, Span)>,
}

/// A component as an application body declared it, before its parameters are resolved.
struct Pending<'a> {
    reference: String,
    type_name: String,
    puppet_type: String,
    title: String,
    application: String,
    is_class: bool,
    params: &'a [ast::Param],
    defined_in: &'a Parsed,
    explicit: Vec<(String, Value)>,
    produces: Vec<String>,
    consumes: Vec<String>,
    requires: Vec<String>,
    node: Option<String>,
    declared_at: Option<Location>,
    assigned_at: Option<Location>,
}

pub(super) fn load(loader: &mut Loader) -> anyhow::Result<Model> {
    let inventory = super::inventory::load_inventory(loader)?;
    let layout = layout::read(loader)?;
    let capability_types: BTreeMap<String, CapabilityType> = layout::capability_types(loader, &layout)?
        .into_iter()
        .map(|capability| (capability.name.clone(), capability))
        .collect();

    // Parse every manifest of the module path (lowering it on the way) and the main manifest.
    let mut parsed = Vec::new();
    let mut module_files = Vec::new();
    for dir in &layout.modulepath {
        read_module_files(loader, dir, &mut module_files)?;
    }
    let mut lowered_files = Vec::with_capacity(module_files.len());
    for file in module_files {
        if file.path.ends_with(".pp") && file.path.contains("/manifests/") {
            let text = String::from_utf8_lossy(&file.content).into_owned();
            let parse = parse_file(loader, &file.path, &text);
            let lowered = lower::blank_orchestration(&text, &parse.file);
            lowered_files.push(PackageFile {
                path: file.path.clone(),
                content: lowered.into_bytes(),
                executable: false,
            });
            parsed.push(parse);
        } else {
            lowered_files.push(file);
        }
    }
    let code = Arc::new(lower::puppet_code(layout.modulepath.clone(), lowered_files));
    let manifest_start = parsed.len();
    for path in &layout.manifests {
        let Some(text) = loader.snapshot.read_text(path)? else { continue };
        let parse = parse_file(loader, path, &text);
        parsed.push(parse);
    }
    // Puppet stops at syntax errors: definitions read from a broken file would only add
    // misleading errors about their parameters.
    if crate::diag::has_errors(&loader.diagnostics) {
        return Ok(Model { nodes: inventory.nodes.clone(), ..Model::default() });
    }
    let definitions = index(loader, &parsed);

    let mut model = Model { nodes: inventory.nodes.clone(), ..Model::default() };
    let site = match definitions.sites.as_slice() {
        [] => {
            loader
                .diagnostics
                .push(Diagnostic::error("no site: the manifests declare no `site { }`, so there is nothing to deploy"));
            return Ok(model);
        }
        [site] => *site,
        [first, second, ..] => {
            loader.diagnostics.push(
                Diagnostic::error("an environment has one site, but this one has several")
                    .at(second.1.location(second.2))
                    .with_label(first.1.location(first.2), "the first site is here"),
            );
            return Ok(model);
        }
    };

    // Top scope: the main manifest's top-level variables.
    let mut evaluator = Evaluator::new();
    let mut top = Scope::new();
    for file in &parsed[manifest_start..] {
        for statement in &file.file.statements {
            if let StatementKind::Expr(expr) = &statement.kind
                && matches!(expr.kind, ast::ExprKind::Assign { .. })
                && let Err(err) = evaluator.eval(&mut top, expr)
            {
                loader.diagnostics.push(Diagnostic::error(err.message).at(file.location(err.span)));
            }
        }
    }
    evaluator.declared.clear();

    // The site body: application instances.
    let (site_def, site_file, _) = site;
    let mut site_scope = top.clone();
    site_scope.push();
    if let Err(err) = evaluator.eval_statements(&mut site_scope, &site_def.body.statements) {
        loader.diagnostics.push(Diagnostic::error(err.message).at(site_file.location(err.span)));
        return Ok(model);
    }
    report_warnings(loader, &mut evaluator, site_file);
    let instances = std::mem::take(&mut evaluator.declared);
    let mut pending: Vec<Pending> = Vec::new();
    let mut seen_instances = BTreeSet::new();
    for instance in &instances {
        let Some((application, application_file)) = definitions.applications.get(&instance.type_name) else {
            let mut diagnostic = Diagnostic::error(format!(
                "Only application components can appear inside a site - {}[{}] is not allowed",
                capitalize_type(&instance.type_name),
                instance.title
            ))
            .at(site_file.location(instance.span));
            if let Some(best) = suggest(&instance.type_name, definitions.applications.keys().map(String::as_str)) {
                diagnostic = diagnostic.with_note(format!("did you mean the application `{best}`?"));
            }
            loader.diagnostics.push(diagnostic);
            continue;
        };
        let app_ref = format!("{}[{}]", capitalize_type(&instance.type_name), instance.title);
        if !seen_instances.insert(app_ref.clone()) {
            loader.diagnostics.push(
                Diagnostic::error(format!("Duplicate declaration: {app_ref} is already declared"))
                    .at(site_file.location(instance.span)),
            );
            continue;
        }
        let first_new = pending.len();
        let declared = evaluate_application(
            loader,
            &mut evaluator,
            &top,
            instance,
            application,
            application_file,
            site_file,
            &app_ref,
        );
        let evaluated = declared.is_some();
        for component in declared.into_iter().flatten() {
            if let Some(component) =
                declare_component(loader, &definitions, &app_ref, component, application_file, &pending[first_new..])
            {
                pending.push(component);
            }
        }
        // Mapping nodes onto an application that could not be evaluated would only report
        // every mapping again.
        if evaluated {
            assign_nodes(loader, &mut model, &inventory, instance, site_file, &app_ref, &mut pending[first_new..]);
        }
        model.applications.push(Application {
            reference: app_ref,
            components: pending[first_new..].iter().map(|component| component.reference.clone()).collect(),
            origin: site_file.location(instance.span),
        });
    }
    model.applications.sort_by(|a, b| a.reference.cmp(&b.reference));
    resolve_components(loader, &mut model, pending, &definitions, &capability_types, &layout, &code)?;
    Ok(model)
}

fn parse_file(loader: &mut Loader, path: &str, text: &str) -> Parsed {
    loader.sources.add(path, text);
    let parse = crate::lang::parse(text);
    for error in &parse.errors {
        loader.diagnostics.push(
            Diagnostic::error(error.message.clone())
                .at(Some(Location { file: path.to_string(), range: error.span.range() })),
        );
    }
    Parsed { path: path.to_string(), text: text.to_string(), file: parse.file }
}

/// Every file under a module directory, recursively, in name order.
fn read_module_files(loader: &Loader, dir: &str, files: &mut Vec<PackageFile>) -> anyhow::Result<()> {
    for entry in loader.snapshot.list_dir(dir)? {
        let path = format!("{dir}/{}", entry.name);
        if entry.is_dir {
            read_module_files(loader, &path, files)?;
        } else if let Some(content) = loader.snapshot.read(&path)? {
            let executable = loader.snapshot.is_executable(&path)?;
            files.push(PackageFile { path, content, executable });
        }
    }
    Ok(())
}

/// Indexes definitions; a name defined twice is an error.
fn index<'a>(loader: &mut Loader, parsed: &'a [Parsed]) -> Definitions<'a> {
    let mut definitions = Definitions::default();
    for file in parsed {
        for statement in &file.file.statements {
            match &statement.kind {
                StatementKind::Define(define) => {
                    let name = define.name.text.to_lowercase();
                    if definitions.defines.insert(name.clone(), (&define.params, file)).is_some() {
                        duplicate(loader, "defined type", &name, file, define.name.span);
                    }
                }
                StatementKind::Class(class) => {
                    let name = class.name.text.to_lowercase();
                    if definitions.classes.insert(name.clone(), (&class.params, file)).is_some() {
                        duplicate(loader, "class", &name, file, class.name.span);
                    }
                }
                StatementKind::Application(application) => {
                    let name = application.name.text.to_lowercase();
                    if definitions.applications.insert(name.clone(), (application, file)).is_some() {
                        duplicate(loader, "application", &name, file, application.name.span);
                    }
                }
                StatementKind::CapabilityMapping(mapping) => {
                    let key = (capitalize_type(&mapping.component.text), capitalize_type(&mapping.capability.text));
                    let (map, verb) = match mapping.kind {
                        ast::MappingKind::Produces => (&mut definitions.produces, "produces"),
                        ast::MappingKind::Consumes => (&mut definitions.consumes, "consumes"),
                    };
                    if map.insert(key.clone(), (mapping, file)).is_some() {
                        loader.diagnostics.push(
                            Diagnostic::error(format!("{} {verb} {} more than once", key.0, key.1))
                                .at(file.location(statement.span)),
                        );
                    }
                }
                StatementKind::Site(site) => definitions.sites.push((site, file, statement.span)),
                _ => {}
            }
        }
    }
    // A mapping must name a defined type or class the code defines.
    for (kind, map) in [("produces", &definitions.produces), ("consumes", &definitions.consumes)] {
        for ((component, capability), (mapping, file)) in map {
            let name = component.to_lowercase();
            if !definitions.defines.contains_key(&name) && !definitions.classes.contains_key(&name) {
                let known = definitions.defines.keys().chain(definitions.classes.keys()).map(String::as_str);
                let mut diagnostic = Diagnostic::error(format!(
                    "{component} {kind} {capability}, but there is no defined type or class '{name}'"
                ))
                .at(file.location(mapping.component.span));
                if let Some(best) = suggest(&name, known) {
                    diagnostic = diagnostic.with_note(format!("did you mean `{best}`?"));
                }
                loader.diagnostics.push(diagnostic);
            }
        }
    }
    definitions
}

fn duplicate(loader: &mut Loader, what: &str, name: &str, file: &Parsed, span: Span) {
    loader.diagnostics.push(
        Diagnostic::error(format!("{what} '{name}' is already defined; it cannot be redefined"))
            .at(file.location(span)),
    );
}

fn report_warnings(loader: &mut Loader, evaluator: &mut Evaluator, file: &Parsed) {
    for warning in std::mem::take(&mut evaluator.warnings) {
        loader.diagnostics.push(Diagnostic::warning(warning.message).at(file.location(warning.span)));
    }
}

/// Evaluates one application instance's body; returns the resources it declares, or `None`
/// when it could not be evaluated (the reasons are reported).
#[allow(clippy::too_many_arguments)]
fn evaluate_application(
    loader: &mut Loader,
    evaluator: &mut Evaluator,
    top: &Scope,
    instance: &Declared,
    application: &ast::ApplicationDef,
    application_file: &Parsed,
    site_file: &Parsed,
    app_ref: &str,
) -> Option<Vec<Declared>> {
    let args: Vec<(String, Value)> = instance.attributes.iter().filter(|(name, _)| name != "nodes").cloned().collect();
    let mut scope = top.clone();
    scope.push();
    let errors = evaluator.bind_params(&mut scope, app_ref, &instance.title, &application.params, &args, instance.span);
    for error in &errors {
        // Argument problems are the site's; errors in default expressions are the application's.
        let file = if error.span == instance.span { site_file } else { application_file };
        loader.diagnostics.push(Diagnostic::error(error.message.clone()).at(file.location(error.span)));
    }
    if !errors.is_empty() {
        return None;
    }
    evaluator.declared.clear();
    if let Err(err) = evaluator.eval_statements(&mut scope, &application.body.statements) {
        loader
            .diagnostics
            .push(Diagnostic::error(format!("{app_ref}: {}", err.message)).at(application_file.location(err.span)));
        evaluator.declared.clear();
        return None;
    }
    report_warnings(loader, evaluator, application_file);
    Some(std::mem::take(&mut evaluator.declared))
}

/// A resource an application body declared, as a component.
fn declare_component<'a>(
    loader: &mut Loader,
    definitions: &Definitions<'a>,
    app_ref: &str,
    declared: Declared,
    application_file: &Parsed,
    siblings: &[Pending],
) -> Option<Pending<'a>> {
    let declared_at = application_file.location(declared.span);
    let is_class = declared.type_name == "class";
    let puppet_type = if is_class { declared.title.to_lowercase() } else { declared.type_name.clone() };
    let definition =
        if is_class { definitions.classes.get(&puppet_type) } else { definitions.defines.get(&puppet_type) };
    let Some((params, defined_in)) = definition else {
        let known = definitions.defines.keys().chain(definitions.classes.keys()).map(String::as_str);
        let mut diagnostic =
            Diagnostic::error(format!("{app_ref}: Unknown resource type: '{puppet_type}'")).at(declared_at);
        if let Some(best) = suggest(&puppet_type, known) {
            diagnostic = diagnostic.with_note(format!("did you mean `{best}`?"));
        }
        loader.diagnostics.push(diagnostic);
        return None;
    };
    let (type_name, title) = if is_class {
        ("Class".to_string(), capitalize_type(&puppet_type))
    } else {
        (capitalize_type(&puppet_type), declared.title.clone())
    };
    let reference = format!("{type_name}[{title}]");
    if siblings.iter().any(|sibling| sibling.reference == reference) {
        loader.diagnostics.push(
            Diagnostic::error(format!(
                "Duplicate declaration: {reference} is already declared in {app_ref}; cannot redeclare"
            ))
            .at(declared_at),
        );
        return None;
    }
    let mut explicit = Vec::new();
    let mut lists: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, value) in declared.attributes {
        if ["export", "consume", "require"].contains(&name.as_str()) {
            match references(&value) {
                Some(list) => lists.entry(metaparameter_key(&name)).or_default().extend(list),
                None => loader.diagnostics.push(
                    Diagnostic::error(format!(
                        "{reference}: {name} expects capability references such as Sql['x'], got {}",
                        value.type_name()
                    ))
                    .at(declared_at.clone()),
                ),
            }
        } else if !METAPARAMETERS.contains(&name.as_str()) {
            explicit.push((name, value));
        }
    }
    Some(Pending {
        reference,
        type_name,
        puppet_type,
        title,
        application: app_ref.to_string(),
        is_class,
        params,
        defined_in,
        explicit,
        produces: lists.remove("export").unwrap_or_default(),
        consumes: lists.remove("consume").unwrap_or_default(),
        requires: lists.remove("require").unwrap_or_default(),
        node: None,
        declared_at,
        assigned_at: None,
    })
}

fn metaparameter_key(name: &str) -> &'static str {
    match name {
        "export" => "export",
        "consume" => "consume",
        _ => "require",
    }
}

/// `Sql['x']` or an array of such references, as `Sql[x]` strings.
fn references(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::Reference { .. } => Some(vec![value.to_string()]),
        Value::Array(items) => items.iter().map(references).collect::<Option<Vec<_>>>().map(|lists| lists.concat()),
        Value::Undef => Some(Vec::new()),
        _ => None,
    }
}

/// Applies an instance's `nodes => { Node['a'] => Component['x'], ... }` mapping.
fn assign_nodes(
    loader: &mut Loader,
    model: &mut Model,
    inventory: &super::inventory::NodeInventory,
    instance: &Declared,
    site_file: &Parsed,
    app_ref: &str,
    components: &mut [Pending],
) {
    let at = site_file.location(instance.span);
    let mapping = instance.attributes.iter().find(|(name, _)| name == "nodes").map(|(_, value)| value);
    let entries: &[(Value, Value)] = match mapping {
        Some(Value::Hash(entries)) => entries.as_slice(),
        Some(other) => {
            loader.diagnostics.push(
                Diagnostic::error(format!(
                    "Invalid node mapping in {app_ref}: expected a Hash of Node references, got {}",
                    other.type_name()
                ))
                .at(at.clone()),
            );
            &[]
        }
        None => &[],
    };
    let mut missing = Vec::new();
    let mut invalid = false;
    for (key, value) in entries {
        let node = match key {
            Value::Reference { type_name, title } if type_name == "Node" => title.clone(),
            other => {
                loader.diagnostics.push(
                    Diagnostic::error(format!("Invalid node mapping in {app_ref}: Key {other} is not a Node"))
                        .at(at.clone()),
                );
                invalid = true;
                continue;
            }
        };
        if !super::resolve::check_node_name(&mut loader.diagnostics, &node, at.clone()) {
            invalid = true;
            continue;
        }
        let Some(targets) = references(value) else {
            loader.diagnostics.push(
                Diagnostic::error(format!("Invalid node mapping in {app_ref}: Value {value} is not a resource"))
                    .at(at.clone()),
            );
            invalid = true;
            continue;
        };
        if !model.nodes.contains_key(&node) {
            // Nodes named in the site need no inventory entry to be shown and planned.
            model.nodes.insert(node.clone(), inventory.default_node(&node));
        }
        for target in targets {
            let Some(component) = components.iter_mut().find(|component| component.reference == target) else {
                missing.push(target);
                continue;
            };
            match &component.node {
                Some(first) if *first != node => loader.diagnostics.push(
                    Diagnostic::error(format!(
                        "Component {target} is assigned to more than one node: {first} and {node}"
                    ))
                    .at(at.clone()),
                ),
                _ => {
                    component.node = Some(node.clone());
                    component.assigned_at = at.clone();
                }
            }
        }
    }
    if !missing.is_empty() {
        let known: Vec<&str> = components.iter().map(|component| component.reference.as_str()).collect();
        let mut diagnostic = Diagnostic::error(format!(
            "Application {app_ref} assigns nodes to non-existent components: {}",
            missing.join(", ")
        ))
        .at(at.clone());
        if let Some(best) = suggest(&missing[0], known.iter().copied()) {
            diagnostic = diagnostic.with_note(format!("did you mean `{best}`?"));
        }
        loader.diagnostics.push(diagnostic);
    }
    let unassigned: Vec<&str> = components
        .iter()
        .filter(|component| component.node.is_none())
        .map(|component| component.reference.as_str())
        .collect();
    // After an invalid mapping, some components are unassigned as a consequence.
    if !unassigned.is_empty() && !invalid {
        loader.diagnostics.push(
            Diagnostic::error(format!(
                "Application {app_ref} has components without assigned nodes: {}",
                unassigned.join(", ")
            ))
            .at(at),
        );
    }
}

resolve::impl_declaration!(Pending<'_>);

/// The scope a component resolves in: its node's facts at top scope.
fn node_scope(node: Option<&Node>, name: &str) -> Scope {
    let mut scope = Scope::new();
    let facts = node
        .map(|node| Value::from_json(&serde_json::Value::Object(node.facts.clone())))
        .unwrap_or(Value::Hash(Vec::new()));
    if let Value::Hash(entries) = &facts {
        for (key, value) in entries {
            scope.set_top(&key.to_string(), value.clone());
        }
    }
    scope.set_top("facts", facts);
    scope.set_top("trusted", Value::Hash(vec![(Value::String("certname".into()), Value::String(name.into()))]));
    scope
}

/// Resolves parameters in dependency order, evaluates capabilities, and fills the model.
fn resolve_components(
    loader: &mut Loader,
    model: &mut Model,
    pending: Vec<Pending>,
    definitions: &Definitions,
    capability_types: &BTreeMap<String, CapabilityType>,
    layout: &Layout,
    code: &Arc<PuppetCode>,
) -> anyhow::Result<()> {
    let producers = resolve::producers(&mut loader.diagnostics, &pending);
    let Some(resolve::Wiring { edges, order }) = resolve::wire(&mut loader.diagnostics, &pending, &producers) else {
        return Ok(());
    };
    let mut evaluator = Evaluator::new();
    let mut resolved: Vec<Option<Component>> = vec![None; pending.len()];
    // Mapping statements whose errors were reported, and capabilities that could not be
    // produced whole: their consumers are skipped rather than reported as consequences.
    let mut reported_mappings: BTreeSet<(String, u32)> = BTreeSet::new();
    let mut broken_capabilities: BTreeSet<String> = BTreeSet::new();
    for index in order {
        let component = &pending[index];
        let Some(node_name) = &component.node else { continue };
        let consumes_broken = component
            .consumes
            .iter()
            .any(|capability| !model.capabilities.contains_key(capability) || broken_capabilities.contains(capability));
        if consumes_broken {
            continue;
        }
        let node = model.nodes.get(node_name);
        let mut scope = node_scope(node, node_name);
        let types = parameter_types(&mut evaluator, &mut scope, component.params);

        // Explicit values, then consumed capability values for parameters not set explicitly.
        let mut args: Vec<(String, Value)> = component.explicit.clone();
        let mut secret_args: BTreeSet<String> = BTreeSet::new();
        for capability in &component.consumes {
            let Some(produced) = model.capabilities.get(capability) else { continue };
            let capability_type = capability.split('[').next().unwrap_or_default().to_string();
            let consumed = consume(
                loader,
                &mut evaluator,
                node,
                node_name,
                component,
                produced,
                definitions.consumes.get(&(component.type_name.clone(), capability_type)).copied(),
            );
            for (name, value, secret) in consumed {
                if !args.iter().any(|(given, _)| *given == name) {
                    if secret {
                        secret_args.insert(name.clone());
                    }
                    args.push((name, value));
                }
            }
        }
        // A secret for a parameter not typed Sensitive is passed as its plain value and
        // remembered as secret, rather than failing the parameter's type check.
        for (name, value) in &mut args {
            if let Value::Sensitive(inner) = value
                && !types.get(name.as_str()).is_some_and(DataType::is_sensitive)
            {
                secret_args.insert(name.clone());
                *value = (**inner).clone();
            }
        }
        scope.push();
        let at = component.declared_at.clone();
        let span = at
            .as_ref()
            .map_or(Span::default(), |location| Span::new(location.range.start as u32, location.range.end as u32));
        let errors =
            evaluator.bind_params(&mut scope, &component.reference, &component.title, component.params, &args, span);
        let mut failed = false;
        for error in errors {
            let location = if error.span == span { at.clone() } else { component.defined_in.location(error.span) };
            loader.diagnostics.push(Diagnostic::error(error.message).at(location));
            failed = true;
        }
        if failed {
            continue;
        }
        let mut parameters = Params::new();
        for param in component.params {
            let Some(value) = scope.get(&param.name.text) else { continue };
            let (json, secret) = value.to_json();
            if json.is_null() {
                continue;
            }
            let secret = secret
                || secret_args.contains(&param.name.text)
                || types.get(param.name.text.as_str()).is_some_and(DataType::is_sensitive);
            parameters.insert(param.name.text.clone(), Param { value: json, secret });
        }

        // Capabilities this component exports, from its `produces` mapping in its own scope.
        for capability in &component.produces {
            let capability_type = capability.split('[').next().unwrap_or_default().to_string();
            let mapping = definitions.produces.get(&(component.type_name.clone(), capability_type.clone())).copied();
            let Some((mapping, mapping_file)) = mapping else {
                loader.diagnostics.push(
                    Diagnostic::error(format!(
                        "{} exports {capability}, but there is no `{} produces {capability_type}` statement",
                        component.reference, component.type_name
                    ))
                    .at(component.declared_at.clone()),
                );
                continue;
            };
            let known = capability_types.get(&capability_type);
            let mut attributes = Params::new();
            if mapping.attributes.is_empty() {
                // Without a body, same-named parameters become the attributes.
                for name in known.map(|known| known.attributes.clone()).unwrap_or_default() {
                    if let Some(param) = parameters.get(&name) {
                        attributes.insert(name, param.clone());
                    }
                }
            }
            for attribute in &mapping.attributes {
                let name = &attribute.name.text;
                if let Some(known) = known
                    && !known.attributes.contains(name)
                {
                    broken_capabilities.insert(capability.clone());
                    if !reported_mappings.insert((mapping_file.path.clone(), attribute.name.span.start)) {
                        continue;
                    }
                    let mut diagnostic =
                        Diagnostic::error(format!("capability type {capability_type} has no attribute '{name}'"))
                            .at(mapping_file.location(attribute.name.span));
                    if let Some(best) = suggest(name, known.attributes.iter().map(String::as_str)) {
                        diagnostic = diagnostic.with_note(format!("did you mean `{best}`?"));
                    }
                    loader.diagnostics.push(diagnostic);
                    continue;
                }
                match evaluator.eval(&mut scope, &attribute.value) {
                    Ok(value) => {
                        let (json, secret) = value.to_json();
                        let derived_secret = parameters.values().any(|param| param.secret && param.value == json);
                        attributes.insert(name.clone(), Param { value: json, secret: secret || derived_secret });
                    }
                    Err(err) => loader.diagnostics.push(
                        Diagnostic::error(format!("{}: {}", component.reference, err.message))
                            .at(mapping_file.location(err.span)),
                    ),
                }
            }
            model.capabilities.insert(
                capability.clone(),
                Capability {
                    reference: capability.clone(),
                    producer: component.reference.clone(),
                    attributes,
                    check: None,
                },
            );
        }
        evaluator.declared.clear();

        resolved[index] = Some(Component {
            reference: component.reference.clone(),
            type_name: component.type_name.clone(),
            title: component.title.clone(),
            application: component.application.clone(),
            node: node_name.clone(),
            parameters,
            implementation: Implementation::Puppet(PuppetComponent {
                puppet_type: component.puppet_type.clone(),
                is_class: component.is_class,
                code: Arc::clone(code),
            }),
            code_id: component_code_id(loader, component, layout)?,
            produces: component.produces.clone(),
            consumes: component.consumes.clone(),
            requires: component.requires.clone(),
            origin: component.assigned_at.clone().or(component.declared_at.clone()),
        });
    }
    resolve::finish(model, resolved, edges);
    Ok(())
}

/// The declared type of each parameter (Any when not written).
fn parameter_types(evaluator: &mut Evaluator, scope: &mut Scope, params: &[ast::Param]) -> BTreeMap<String, DataType> {
    params
        .iter()
        .map(|param| {
            let data_type = match &param.type_expr {
                Some(expr) => evaluator.eval_type(scope, expr).unwrap_or(DataType::Any),
                None => DataType::Any,
            };
            (param.name.text.clone(), data_type)
        })
        .collect()
}

/// The parameters a consumed capability fills: its `consumes` mapping evaluated over the
/// capability's attributes, or, without a mapping, the attributes named like parameters.
fn consume(
    loader: &mut Loader,
    evaluator: &mut Evaluator,
    node: Option<&Node>,
    node_name: &str,
    component: &Pending,
    produced: &Capability,
    mapping: Option<(&ast::CapabilityMapping, &Parsed)>,
) -> Vec<(String, Value, bool)> {
    let declared: BTreeSet<&str> = component.params.iter().map(|param| param.name.text.as_str()).collect();
    let any_secret = produced.attributes.values().any(|param| param.secret);
    match mapping {
        Some((mapping, file)) if !mapping.attributes.is_empty() => {
            let mut scope = node_scope(node, node_name);
            scope.push();
            for (name, param) in &produced.attributes {
                let _ = scope.set(name, Value::from_json(&param.value));
            }
            let mut out = Vec::new();
            for attribute in &mapping.attributes {
                let name = &attribute.name.text;
                if !declared.contains(name.as_str()) {
                    let mut diagnostic = Diagnostic::error(format!(
                        "{} consumes {}: {} has no parameter named '{name}'",
                        component.type_name,
                        produced.reference.split('[').next().unwrap_or_default(),
                        component.type_name
                    ))
                    .at(file.location(attribute.name.span));
                    if let Some(best) = suggest(name, declared.iter().copied()) {
                        diagnostic = diagnostic.with_note(format!("did you mean `{best}`?"));
                    }
                    loader.diagnostics.push(diagnostic);
                    continue;
                }
                match evaluator.eval(&mut scope, &attribute.value) {
                    Ok(value) => {
                        let (json, _) = value.to_json();
                        // A value equal to a secret attribute came from it: it stays secret.
                        let secret =
                            any_secret && produced.attributes.values().any(|param| param.secret && param.value == json);
                        out.push((name.clone(), value, secret));
                    }
                    Err(err) => loader.diagnostics.push(
                        Diagnostic::error(format!("{}: {}", component.reference, err.message))
                            .at(file.location(err.span)),
                    ),
                }
            }
            out
        }
        _ => produced
            .attributes
            .iter()
            .filter(|(name, _)| declared.contains(name.as_str()))
            .map(|(name, param)| (name.clone(), Value::from_json(&param.value), param.secret))
            .collect(),
    }
}

/// The identity of a component's code: the file that defines its type, and the templates,
/// files and plugins of its module. A change elsewhere in the module does not touch it.
fn component_code_id(loader: &Loader, component: &Pending, layout: &Layout) -> anyhow::Result<String> {
    let mut hasher = Sha256::new();
    let blob = crate::source::blob_id(component.defined_in.text.as_bytes())?;
    hasher.update(component.defined_in.path.as_bytes());
    hasher.update(&blob);
    let module = component.puppet_type.split("::").next().unwrap_or_default();
    if let Some(dir) = layout.modules.get(module) {
        for part in ["templates", "files", "lib"] {
            hasher.update(loader.snapshot.tree_id(&format!("{dir}/{part}"))?.as_bytes());
        }
    }
    Ok(crate::text::hex(&hasher.finalize()))
}
