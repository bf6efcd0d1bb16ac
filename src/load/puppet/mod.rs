//! The Puppet front end: a control repository's `site` and `application` code, read as it is
//! and evaluated the way Puppet 5's environment compiler did, into the same [`Model`] the YAML
//! front end builds.
//!
//! Stages: `layout` finds the code (environment.conf, manifests, module path, Puppetfile,
//! `ordo.yaml` settings, capability types); every `.pp` file is parsed (`crate::lang`);
//! definitions are indexed (defines, classes, applications, capability mappings wherever
//! Puppet allowed them, the one `site`); `code` gathers what the evaluator calls (functions
//! written in Puppet, Ruby functions' files, `hiera` data); `site` evaluates the site body
//! into application instances and each application body into components with their
//! `export`/`consume`/`require` references and node mapping; `validate` makes Puppet's
//! checks in Puppet's order (the site, capabilities, then node mappings); `components`
//! resolves components in dependency order, consuming and producing capabilities as Puppet's
//! `Puppet::Parser::Resource` did. `lower` produces the code Puppet 7 runs: the module path
//! and the main manifest, whose node definitions and top-scope code every node's run gets.

mod code;
mod components;
pub mod eval;
pub(crate) mod hiera;
mod layout;
mod lower;
mod nodes;
mod reach;
mod site;
mod validate;
pub mod value;

use std::collections::BTreeMap;
use std::sync::Arc;

use self::eval::{EvalError, Evaluator, Scope};
use self::layout::CapabilityType;
use self::value::Value;
use super::Loader;
use crate::diag::{Diagnostic, Location, suggest};
use crate::lang::ast::{self, SourceFile, Span, StatementKind};
use crate::model::{Model, PackageFile, capitalize_type};

pub(crate) use layout::is_control_repository;

/// One parsed `.pp` file.
struct Parsed {
    path: Arc<str>,
    text: String,
    file: SourceFile,
}

impl Parsed {
    fn location(&self, span: Span) -> Option<Location> {
        Some(Location { file: self.path.to_string(), range: span.range() })
    }

    /// Where an evaluation error is: in this file, unless it happened in a function written
    /// in another.
    fn error_location(&self, error: &EvalError) -> Option<Location> {
        let file = error.file.as_deref().unwrap_or(&self.path);
        Some(Location { file: file.to_string(), range: error.span.range() })
    }

    /// Puppet's `(file: PATH, line: N)` suffix for a place in this file.
    fn puppet_location(&self, span: Span) -> String {
        let (line, _) = crate::diag::line_col(&self.text, span.start as usize);
        format!("(file: {}, line: {line})", self.path)
    }
}

/// A capability mapping and the file it is in.
type Mapping<'a> = (&'a ast::CapabilityMapping, &'a Parsed);

/// What the code defines, by lowercase name.
#[derive(Default)]
struct Definitions<'a> {
    defines: BTreeMap<String, (&'a [ast::Param], &'a Parsed)>,
    classes: BTreeMap<String, (&'a [ast::Param], &'a Parsed)>,
    applications: BTreeMap<String, (&'a ast::ApplicationDef, &'a Parsed)>,
    /// (component type, capability type), both in Puppet's normal form, to the mapping.
    produces: BTreeMap<(String, String), Mapping<'a>>,
    consumes: BTreeMap<(String, String), Mapping<'a>>,
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
    /// `before` and `notify` targets, with the metaparameter: they may not be capabilities.
    ordering: Vec<(String, String)>,
    node: Option<String>,
    declared_at: Option<Location>,
    /// Puppet's `(file: PATH, line: N)` of the declaration, for Puppet's messages.
    declared_line: String,
    assigned_at: Option<Location>,
}

impl Pending<'_> {
    /// What a capability mapping names this component by: its type, or for a class its
    /// reference (`Class[Prod]`).
    fn mapping_name(&self) -> &str {
        if self.is_class { &self.reference } else { &self.type_name }
    }
}

pub(super) fn load(loader: &mut Loader) -> anyhow::Result<Model> {
    let inventory = super::inventory::load_inventory(loader)?;
    let layout = layout::read(loader)?;
    let settings = layout::settings(loader)?;
    let capability_types: BTreeMap<String, CapabilityType> = layout::capability_types(loader, &layout, &settings)?
        .into_iter()
        .map(|capability| (capability.name.clone(), capability))
        .collect();

    // Parse every manifest and function of the module path (lowering it on the way), the
    // environment's functions, and the main manifest.
    let mut parsed = Vec::new();
    let mut module_files = Vec::new();
    for dir in &layout.modulepath {
        read_module_files(loader, dir, &mut module_files)?;
    }
    let mut lowered_files = Vec::with_capacity(module_files.len());
    for file in module_files {
        if file.path.ends_with(".pp") && (file.path.contains("/manifests/") || file.path.contains("/functions/")) {
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
    let mut environment_functions = Vec::new();
    layout::collect_pp_files(loader, "functions", &mut environment_functions)?;
    for path in &environment_functions {
        let Some(text) = loader.snapshot.read_text(path)? else { continue };
        parsed.push(parse_file(loader, path, &text));
    }
    let manifest_start = parsed.len();
    for path in &layout.manifests {
        let Some(text) = loader.snapshot.read_text(path)? else { continue };
        let parse = parse_file(loader, path, &text);
        parsed.push(parse);
    }
    let main_manifest = lower::main_manifest(
        &parsed[manifest_start..].iter().map(|file| (&*file.text, &file.file)).collect::<Vec<_>>(),
    );
    let puppet_code = Arc::new(lower::puppet_code(layout.modulepath.clone(), lowered_files, main_manifest));
    // Puppet stops at syntax errors: definitions read from a broken file would only add
    // misleading errors about their parameters.
    if crate::diag::has_errors(&loader.diagnostics) {
        return Ok(Model { nodes: inventory.nodes.clone(), ..Model::default() });
    }
    let definitions = index(loader, &parsed);
    let code = Arc::new(code::gather(loader, &layout, &settings, &parsed)?);
    if crate::diag::has_errors(&loader.diagnostics) {
        return Ok(Model { nodes: inventory.nodes.clone(), ..Model::default() });
    }

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

    // Top scope: the main manifest's top-level variables. Its other top-level code is for
    // nodes' catalogs, but an application instance there is Puppet's error.
    let mut evaluator = Evaluator::with_code(Arc::clone(&code));
    let mut top = Scope::new();
    // The environment is compiled without a node: `$facts` and `$trusted` exist, empty.
    top.set_top("facts", Value::Hash(Vec::new()));
    top.set_top("trusted", Value::Hash(Vec::new()));
    for file in &parsed[manifest_start..] {
        for statement in &file.file.statements {
            let StatementKind::Expr(expr) = &statement.kind else { continue };
            let result = match &expr.kind {
                ast::ExprKind::Assign { .. } => evaluator.eval(&mut top, expr).map(drop),
                ast::ExprKind::Resource(resource) => {
                    application_outside_site(loader, &mut evaluator, &mut top, &definitions, resource, file)
                }
                _ => Ok(()),
            };
            if let Err(err) = result {
                loader.diagnostics.push(evaluation_error(loader, file, &err));
            }
        }
        report_warnings(loader, &mut evaluator, file);
    }
    evaluator.declared.clear();
    if crate::diag::has_errors(&loader.diagnostics) {
        return Ok(model);
    }

    let evaluated = site::evaluate(loader, &mut evaluator, &definitions, &top, site, &inventory, &mut model);
    let Some(site::Evaluated { pending, node_mapping_problems }) = evaluated else { return Ok(model) };
    // Puppet validates capabilities when the environment's catalog is finished, and node
    // mappings after that, when it builds the environment graph.
    let capabilities_valid = validate::capabilities(loader, &pending, &capability_types);
    loader.diagnostics.extend(node_mapping_problems);
    if !capabilities_valid {
        return Ok(model);
    }
    let reach = reach::Index::new(
        &parsed,
        &layout,
        &code.ruby_functions,
        puppet_code.files.iter().map(|file| file.path.as_str()),
    );
    let top_reach = reach.reach_top(&parsed[manifest_start..]);
    let node_definitions = nodes::NodeDefinitions::of(&parsed[manifest_start..]);
    let context = components::Context {
        definitions: &definitions,
        reach: &reach,
        node_definitions: &node_definitions,
        top_reach: &top_reach,
        capability_types: &capability_types,
        layout: &layout,
        puppet_code: &puppet_code,
        code: &code,
        top: &top,
    };
    components::resolve(loader, &mut model, pending, &context)?;
    nodes::warn_unmatched_nodes(&mut loader.diagnostics, &model, &node_definitions, &mut evaluator);
    nodes::add_node_only_components(&mut model, &node_definitions, &puppet_code, &mut evaluator);
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
    Parsed { path: Arc::from(path), text: text.to_string(), file: parse.file }
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

/// Indexes definitions; a name defined twice is an error. Capability mappings count at the
/// top of any file and inside the site, where Puppet allowed them.
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
                    index_mapping(loader, &mut definitions, mapping, file, statement.span)
                }
                StatementKind::Site(site) => {
                    definitions.sites.push((site, file, statement.span));
                    for inner in &site.body.statements {
                        if let StatementKind::CapabilityMapping(mapping) = &inner.kind {
                            index_mapping(loader, &mut definitions, mapping, file, inner.span);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    // A mapping must name a defined type or class the code defines.
    for (kind, map) in [("produces", &definitions.produces), ("consumes", &definitions.consumes)] {
        for ((component, _), (mapping, file)) in map {
            let (name, exists) = match component.strip_prefix("Class[").and_then(|rest| rest.strip_suffix(']')) {
                Some(class) => (class.to_lowercase(), definitions.classes.contains_key(&class.to_lowercase())),
                None => {
                    let name = component.to_lowercase();
                    let exists = definitions.defines.contains_key(&name) || definitions.classes.contains_key(&name);
                    (name, exists)
                }
            };
            if !exists {
                let known = definitions.defines.keys().chain(definitions.classes.keys()).map(String::as_str);
                let mut diagnostic =
                    Diagnostic::error(format!("{kind} clause references nonexistent type {component}"))
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

/// Indexes one `produces`/`consumes` statement, with the checks Puppet's validator made on
/// its attribute operations.
fn index_mapping<'a>(
    loader: &mut Loader,
    definitions: &mut Definitions<'a>,
    mapping: &'a ast::CapabilityMapping,
    file: &'a Parsed,
    span: Span,
) {
    for attribute in &mapping.attributes {
        let message = if attribute.is_splat() {
            "The operator '* =>' in a Capability Mapping is not supported.".to_string()
        } else if attribute.op == ast::AttributeOp::Append {
            format!(
                "Illegal +> operation on attribute {}. This operator can not be used in a Capability Mapping",
                attribute.name.text
            )
        } else {
            continue;
        };
        loader.diagnostics.push(Diagnostic::error(message).at(file.location(attribute.span)));
    }
    let key = (mapping_component(&mapping.component.text), capitalize_type(&mapping.capability.text));
    let (map, verb) = match mapping.kind {
        ast::MappingKind::Produces => (&mut definitions.produces, "produces"),
        ast::MappingKind::Consumes => (&mut definitions.consumes, "consumes"),
    };
    if map.insert(key.clone(), (mapping, file)).is_some() {
        loader
            .diagnostics
            .push(Diagnostic::error(format!("{} {verb} {} more than once", key.0, key.1)).at(file.location(span)));
    }
}

/// Puppet's error for an application instance declared outside the site.
fn application_outside_site(
    loader: &mut Loader,
    evaluator: &mut Evaluator,
    top: &mut Scope,
    definitions: &Definitions,
    resource: &ast::ResourceExpr,
    file: &Parsed,
) -> Result<(), EvalError> {
    let (ast::ExprKind::Name(type_name) | ast::ExprKind::TypeRef(type_name)) = &resource.type_name.kind else {
        return Ok(());
    };
    let type_name = type_name.trim_start_matches("::").to_lowercase();
    if !definitions.applications.contains_key(&type_name) {
        return Ok(());
    }
    for body in &resource.bodies {
        let titles = match evaluator.eval(top, &body.title)? {
            Value::Array(titles) => titles,
            title => vec![title],
        };
        for title in titles {
            loader.diagnostics.push(
                Diagnostic::error(format!(
                    "Application instances like '{}[{title}]' can only be contained within a Site",
                    capitalize_type(&type_name)
                ))
                .at(file.location(body.span)),
            );
        }
    }
    Ok(())
}

/// A mapping's component in the form components are looked up by: a type name in Puppet's
/// normal form (`Lamp::Db`), or a class reference (`Class[Prod]`).
fn mapping_component(written: &str) -> String {
    match crate::model::split_reference(written) {
        Some((type_name, title)) if capitalize_type(type_name) == "Class" => {
            format!("Class[{}]", capitalize_type(title))
        }
        Some((type_name, title)) => format!("{}[{title}]", capitalize_type(type_name)),
        None => capitalize_type(written),
    }
}

fn duplicate(loader: &mut Loader, what: &str, name: &str, file: &Parsed, span: Span) {
    loader.diagnostics.push(
        Diagnostic::error(format!("{what} '{name}' is already defined; it cannot be redefined"))
            .at(file.location(span)),
    );
}

/// An evaluation error as Puppet reported it: `Evaluation Error: MESSAGE (file: PATH, line:
/// N, column: C)`, with `Error while evaluating a Function Call, ` before the message when a
/// function raised it, at its place.
fn evaluation_error(loader: &Loader, file: &Parsed, error: &EvalError) -> Diagnostic {
    if error.raised_in == Some(eval::Raised::ResourceStatement) {
        let suffix = file.puppet_location(error.span);
        return resource_statement_error(&error.message, &suffix, file.error_location(error));
    }
    let location = file.error_location(error);
    let path = location.as_ref().map_or(&*file.path, |location| location.file.as_str());
    let text = loader.sources.text(path).unwrap_or(&file.text);
    let (line, column) = crate::diag::line_col(text, error.span.start as usize);
    let prefix = match error.raised_in {
        Some(eval::Raised::FunctionCall) => "Error while evaluating a Function Call, ",
        _ => "",
    };
    Diagnostic::error(format!(
        "Evaluation Error: {prefix}{} (file: {path}, line: {line}, column: {column})",
        error.message
    ))
    .at(location)
}

/// A resource's parameter problem as Puppet reported it: `Evaluation Error: Error while
/// evaluating a Resource Statement, REF: MESSAGE (file: PATH, line: N)`.
fn resource_statement_error(message: &str, puppet_location: &str, at: Option<Location>) -> Diagnostic {
    Diagnostic::error(format!(
        "Evaluation Error: Error while evaluating a Resource Statement, {message} {puppet_location}"
    ))
    .at(at)
}

fn report_warnings(loader: &mut Loader, evaluator: &mut Evaluator, file: &Parsed) {
    for warning in std::mem::take(&mut evaluator.warnings) {
        loader.diagnostics.push(Diagnostic::warning(warning.message.clone()).at(file.error_location(&warning)));
    }
}

crate::load::resolve::impl_declaration!(Pending<'_>);
