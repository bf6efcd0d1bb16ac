//! The site: its body evaluated into application instances, each instance's application body
//! evaluated into components (with `$nodes`, the instance's node mapping, in scope, as
//! puppetlabs-app_modeling's helpers expect), and each instance's node mapping applied.
//!
//! Evaluation errors are reported as they happen, as Puppet raised them while compiling; what
//! Puppet checked only once the catalog was complete (only application components inside a
//! site) follows them, and node-mapping problems, which Puppet found when it built the
//! environment graph after validating capabilities, are returned for the caller to report
//! after the capability checks.

use std::collections::BTreeSet;

use super::eval::{Declared, Evaluator, METAPARAMETERS, Raised, Scope};
use super::value::Value;
use super::{Definitions, Parsed, Pending, evaluation_error, report_warnings};
use crate::diag::{Diagnostic, suggest};
use crate::lang::ast;
use crate::load::Loader;
use crate::load::inventory::NodeInventory;
use crate::model::{Application, Model, capitalize_type};

/// The components the site declares, and the node-mapping problems to report after the
/// capability checks.
pub struct Evaluated<'a> {
    pub pending: Vec<Pending<'a>>,
    pub node_mapping_problems: Vec<Diagnostic>,
}

/// Evaluates the site; None when its body could not be evaluated at all.
pub fn evaluate<'a>(
    loader: &mut Loader,
    evaluator: &mut Evaluator,
    definitions: &Definitions<'a>,
    top: &Scope,
    site: (&'a ast::SiteDef, &'a Parsed, ast::Span),
    inventory: &NodeInventory,
    model: &mut Model,
) -> Option<Evaluated<'a>> {
    let (site_def, site_file, _) = site;
    let mut site_scope = top.clone();
    site_scope.push();
    // The site's capability mappings were indexed with the others.
    let statements: Vec<ast::Statement> = site_def
        .body
        .statements
        .iter()
        .filter(|statement| !matches!(statement.kind, ast::StatementKind::CapabilityMapping(_)))
        .cloned()
        .collect();
    if let Err(err) = evaluator.eval_statements(&mut site_scope, &statements) {
        loader.diagnostics.push(evaluation_error(loader, site_file, &err));
        return None;
    }
    report_warnings(loader, evaluator, site_file);
    let instances = std::mem::take(&mut evaluator.declared);
    let mut pending: Vec<Pending> = Vec::new();
    let mut seen_instances = BTreeSet::new();
    let mut not_allowed = Vec::new();
    let mut node_mapping_problems = Vec::new();
    for instance in &instances {
        let Some((application, application_file)) = definitions.applications.get(&instance.type_name) else {
            let reference = format!("{}[{}]", capitalize_type(&instance.type_name), instance.title);
            let mut diagnostic = Diagnostic::error(format!(
                "Only application components can appear inside a site - {reference} is not allowed {}",
                site_file.puppet_location(instance.span)
            ))
            .at(site_file.location(instance.span));
            if let Some(best) = suggest(&instance.type_name, definitions.applications.keys().map(String::as_str)) {
                diagnostic = diagnostic.with_note(format!("did you mean the application `{best}`?"));
            }
            not_allowed.push(diagnostic);
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
            evaluator,
            top,
            Instance { declared: instance, reference: &app_ref, file: site_file },
            application,
            application_file,
        );
        let evaluated = declared.is_some();
        for component in declared.into_iter().flatten() {
            if let Some(component) =
                declare_component(loader, definitions, &app_ref, component, application_file, &pending[first_new..])
            {
                pending.push(component);
            }
        }
        // Mapping nodes onto an application that could not be evaluated would only report
        // every mapping again.
        if evaluated {
            let instance = Instance { declared: instance, reference: &app_ref, file: site_file };
            node_mapping_problems.extend(assign_nodes(model, inventory, &instance, &mut pending[first_new..]));
        }
        model.applications.push(Application {
            reference: app_ref,
            components: pending[first_new..].iter().map(|component| component.reference.clone()).collect(),
            origin: site_file.location(instance.span),
        });
    }
    model.applications.sort_by(|a, b| a.reference.cmp(&b.reference));
    loader.diagnostics.extend(not_allowed);
    Some(Evaluated { pending, node_mapping_problems })
}

/// An application instance as the site declares it.
struct Instance<'a> {
    declared: &'a Declared,
    reference: &'a str,
    file: &'a Parsed,
}

/// Evaluates one application instance's body; returns the resources it declares, or `None`
/// when it could not be evaluated (the reasons are reported).
fn evaluate_application(
    loader: &mut Loader,
    evaluator: &mut Evaluator,
    top: &Scope,
    instance: Instance,
    application: &ast::ApplicationDef,
    application_file: &Parsed,
) -> Option<Vec<Declared>> {
    let declared = instance.declared;
    let args: Vec<(String, Value)> = declared.attributes.iter().filter(|(name, _)| name != "nodes").cloned().collect();
    let mut scope = top.clone();
    scope.push();
    let errors = evaluator.bind_params(
        &mut scope,
        instance.reference,
        &declared.title,
        &application.params,
        &args,
        declared.span,
    );
    for error in &errors {
        // Argument problems are the site's resource statement's; errors in default
        // expressions are the application's.
        let diagnostic = if error.span == declared.span {
            let error = error.clone().raised_in(Raised::ResourceStatement);
            evaluation_error(loader, instance.file, &error)
        } else {
            evaluation_error(loader, application_file, error)
        };
        loader.diagnostics.push(diagnostic);
    }
    if !errors.is_empty() {
        return None;
    }
    // The instance's node mapping is `$nodes` in the application's body.
    let nodes = declared.attributes.iter().find(|(name, _)| name == "nodes").map(|(_, value)| value.clone());
    let _ = scope.set("nodes", nodes.unwrap_or(Value::Hash(Vec::new())));
    evaluator.declared.clear();
    if let Err(err) = evaluator.eval_statements(&mut scope, &application.body.statements) {
        loader.diagnostics.push(evaluation_error(loader, application_file, &err));
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
        let (line, column) = crate::diag::line_col(&application_file.text, declared.span.start as usize);
        let mut diagnostic = Diagnostic::error(format!(
            "Evaluation Error: Error while evaluating a Resource Statement, Unknown resource type: '{puppet_type}' \
             (file: {}, line: {line}, column: {column})",
            application_file.path
        ))
        .at(declared_at);
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
    let mut ordering = Vec::new();
    let mut lists: [Vec<String>; 3] = Default::default();
    for (name, value) in declared.attributes {
        let slot = ["export", "consume", "require"].iter().position(|metaparameter| *metaparameter == name);
        if let Some(slot) = slot {
            match references(&value) {
                Some(list) => lists[slot].extend(list),
                None => loader.diagnostics.push(
                    Diagnostic::error(format!("Invalid {name} in {reference}: {value} is not a resource"))
                        .at(declared_at.clone()),
                ),
            }
        } else if matches!(name.as_str(), "before" | "notify") {
            // Kept to check that they do not point at capabilities.
            ordering.extend(references(&value).unwrap_or_default().into_iter().map(|target| (name.clone(), target)));
        } else if !METAPARAMETERS.contains(&name.as_str()) {
            explicit.push((name, value));
        }
    }
    let [produces, consumes, requires] = lists;
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
        produces,
        consumes,
        requires,
        ordering,
        node: None,
        declared_line: application_file.puppet_location(declared.span),
        declared_at,
        assigned_at: None,
    })
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

/// Applies an instance's `nodes => { Node['a'] => Component['x'], ... }` mapping, and returns
/// its problems in the order Puppet checked them: components that do not exist, components
/// without a node, then components with more than one.
fn assign_nodes(
    model: &mut Model,
    inventory: &NodeInventory,
    instance: &Instance,
    components: &mut [Pending],
) -> Vec<Diagnostic> {
    let app_ref = instance.reference;
    let at = instance.file.location(instance.declared.span);
    let suffix = instance.file.puppet_location(instance.declared.span);
    let mut problems = Vec::new();
    let mapping = instance.declared.attributes.iter().find(|(name, _)| name == "nodes").map(|(_, value)| value);
    let entries: &[(Value, Value)] = match mapping {
        Some(Value::Hash(entries)) => entries.as_slice(),
        Some(other) => {
            problems.push(
                Diagnostic::error(format!("Invalid node mapping in {app_ref}: Mapping must be a hash"))
                    .at(at.clone())
                    .with_note(format!("got {}", other.type_name())),
            );
            &[]
        }
        None => &[],
    };
    let mut missing = Vec::new();
    let mut multiple = Vec::new();
    let mut invalid = false;
    for (key, value) in entries {
        let node = match key {
            Value::Reference { type_name, title } if type_name == "Node" => title.clone(),
            other => {
                problems.push(
                    Diagnostic::error(format!("Invalid node mapping in {app_ref}: Key {other} is not a Node"))
                        .at(at.clone()),
                );
                invalid = true;
                continue;
            }
        };
        if !crate::load::resolve::check_node_name(&mut problems, &node, at.clone()) {
            invalid = true;
            continue;
        }
        let Some(targets) = references(value) else {
            problems.push(
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
            if component.node.is_some() {
                // Puppet refuses a second mapping of a component, even to the same node.
                multiple.push(target);
                continue;
            }
            component.node = Some(node.clone());
            component.assigned_at = at.clone();
        }
    }
    if !missing.is_empty() {
        let known: Vec<&str> = components.iter().map(|component| component.reference.as_str()).collect();
        let mut diagnostic = Diagnostic::error(format!(
            "Application {app_ref} assigns nodes to non-existent components: {} {suffix}",
            missing.join(", ")
        ))
        .at(at.clone());
        if let Some(best) = suggest(&missing[0], known.iter().copied()) {
            diagnostic = diagnostic.with_note(format!("did you mean `{best}`?"));
        }
        problems.push(diagnostic);
    }
    let unassigned: Vec<&str> = components
        .iter()
        .filter(|component| component.node.is_none())
        .map(|component| component.reference.as_str())
        .collect();
    // After an invalid mapping, some components are unassigned as a consequence.
    if !unassigned.is_empty() && !invalid {
        problems.push(
            Diagnostic::error(format!(
                "Application {app_ref} has components without assigned nodes: {} {suffix}",
                unassigned.join(", ")
            ))
            .at(at.clone()),
        );
    }
    multiple.dedup();
    for component in multiple {
        problems.push(
            Diagnostic::error(format!(
                "Application {app_ref} assigns multiple nodes to component {component} {suffix}"
            ))
            .at(at.clone()),
        );
    }
    problems
}
