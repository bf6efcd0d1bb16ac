//! Components resolved in dependency order, the way Puppet 5's `Puppet::Parser::Resource`
//! consumed capabilities and `Puppet::Resource::Type#evaluate_produces` produced them:
//!
//! - consuming: for each parameter of the component, the `consumes` mapping's expression
//!   when it has one (evaluated with the capability's attributes as variables, over top
//!   scope), else the capability's attribute of the same name; a value fills the parameter
//!   only when the component does not set it (an explicit `undef` does not count), and two
//!   consumed capabilities filling one parameter is an error. Consuming without a `consumes`
//!   mapping is an error; `require` only orders.
//! - binding: explicit and consumed values, then (for classes) Hiera's automatic parameter
//!   lookup, then the definition's defaults, in the scope of the node's facts and top scope.
//! - producing: for each parameter of the capability type but `name`, the `produces`
//!   mapping's expression when it has one, else the producer's variable of that name; the
//!   type's defaults are not applied, as Puppet 5 stored only what was set. A mapping entry
//!   that is not a parameter of the capability type is ignored, as in Puppet, with a warning.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::eval::{Code, Evaluator, Scope};
use super::layout::{CapabilityType, Layout};
use super::nodes;
use super::reach::Reached;
use super::value::{DataType, Value};
use super::{Definitions, Mapping, Pending, evaluation_error, resource_statement_error};
use crate::diag::{Diagnostic, suggest};
use crate::lang::ast::{self, NodeDef, Span};
use crate::load::{Loader, resolve};
use crate::model::{Capability, Component, Implementation, Model, Node, Param, Params, PuppetCode, PuppetComponent};

/// What resolving components needs besides the components.
pub struct Context<'a> {
    pub definitions: &'a Definitions<'a>,
    /// What each class's and defined type's code reaches, for the code ids.
    pub reach: &'a super::reach::Index<'a>,
    /// The main manifest's node definitions.
    pub node_definitions: &'a nodes::NodeDefinitions<'a>,
    /// What the main manifest's top-scope code reaches.
    pub top_reach: &'a Reached<'a>,
    pub capability_types: &'a BTreeMap<String, CapabilityType>,
    pub layout: &'a Layout,
    pub puppet_code: &'a Arc<PuppetCode>,
    pub code: &'a Arc<Code>,
    /// The main manifest's top scope.
    pub top: &'a Scope,
}

/// The scope a component resolves in: its node's facts and the main manifest's variables at
/// top scope.
fn node_scope(top: &Scope, node: Option<&Node>, name: &str) -> Scope {
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
    for (variable, value) in top.top_variables() {
        if scope.get(&format!("::{variable}")).is_none() {
            scope.set_top(variable, value.clone());
        }
    }
    scope
}

/// Resolves parameters in dependency order, evaluates capabilities, and fills the model.
pub fn resolve(loader: &mut Loader, model: &mut Model, pending: Vec<Pending>, context: &Context) -> anyhow::Result<()> {
    let producers = resolve::producers(&mut loader.diagnostics, &pending);
    let Some(resolve::Wiring { edges, order }) = resolve::wire(&mut loader.diagnostics, &pending, &producers) else {
        return Ok(());
    };
    let mut evaluator = Evaluator::with_code(Arc::clone(context.code));
    let mut resolved: Vec<Option<Component>> = vec![None; pending.len()];
    // A code id depends on the component's type and its node's definition alone, and many
    // components share them.
    let mut code_ids: HashMap<(&str, bool, *const NodeDef), Arc<str>> = HashMap::new();
    let mut node_reaches: HashMap<*const NodeDef, Reached> = HashMap::new();
    let mut definition_of: HashMap<&str, Option<&NodeDef>> = HashMap::new();
    // Mapping entries already warned about, and capabilities that could not be produced:
    // their consumers are skipped rather than reported as consequences.
    let mut warned: BTreeSet<(Arc<str>, u32)> = BTreeSet::new();
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
        let mut scope = node_scope(context.top, node, node_name);
        let types = parameter_types(&mut evaluator, &mut scope, component.params);

        // Explicit values, then consumed capability values for parameters not set explicitly.
        let Some(consumed) =
            consume(loader, &mut evaluator, &scope, component, model, context.definitions, &mut warned)
        else {
            continue;
        };
        let mut args: Vec<(String, Value)> =
            component.explicit.iter().filter(|(_, value)| *value != Value::Undef).cloned().collect();
        let mut secret_args: BTreeSet<String> = BTreeSet::new();
        for (name, value, secret) in consumed {
            if !args.iter().any(|(given, _)| *given == name) {
                if secret {
                    secret_args.insert(name.clone());
                }
                args.push((name, value));
            }
        }
        // Classes look their parameters up in Hiera before taking their defaults.
        if component.is_class {
            for param in component.params {
                let name = &param.name.text;
                if args.iter().any(|(given, _)| given == name) {
                    continue;
                }
                let key = format!("{}::{name}", component.puppet_type);
                match evaluator.lookup_data(&mut scope, &key, None, param.span) {
                    Ok(Some(value)) => args.push((name.clone(), value)),
                    Ok(None) => {}
                    Err(err) => loader.diagnostics.push(evaluation_error(loader, component.defined_in, &err)),
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
            // Argument problems are the application's resource statement's; errors in default
            // expressions are the definition's.
            let diagnostic = if error.span == span {
                resource_statement_error(&error.message, &component.declared_line, at.clone())
            } else {
                evaluation_error(loader, component.defined_in, &error)
            };
            loader.diagnostics.push(diagnostic);
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

        for capability in &component.produces {
            match produce(loader, &mut evaluator, &mut scope, component, capability, &parameters, context, &mut warned)
            {
                Some(produced) => {
                    model.capabilities.insert(capability.clone(), produced);
                }
                None => {
                    broken_capabilities.insert(capability.clone());
                }
            }
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
                code: Arc::clone(context.puppet_code),
            }),
            code_id: {
                let definition = *definition_of
                    .entry(node_name.as_str())
                    .or_insert_with(|| context.node_definitions.for_node(&mut evaluator, node_name));
                let key = definition.map_or(std::ptr::null(), |node| node as *const NodeDef);
                match code_ids.entry((component.puppet_type.as_str(), component.is_class, key)) {
                    Entry::Occupied(known) => Arc::clone(known.get()),
                    Entry::Vacant(entry) => {
                        let node_reach = definition
                            .map(|node| &*node_reaches.entry(key).or_insert_with(|| context.reach.reach_node(node)));
                        Arc::clone(entry.insert(component_code_id(loader, component, context, node_reach)?.into()))
                    }
                }
            },
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

/// The parameter values the component's consumed capabilities give, with whether each is
/// secret; None when consuming failed (the reasons are reported).
fn consume(
    loader: &mut Loader,
    evaluator: &mut Evaluator,
    node_scope: &Scope,
    component: &Pending,
    model: &Model,
    definitions: &Definitions,
    warned: &mut BTreeSet<(Arc<str>, u32)>,
) -> Option<Vec<(String, Value, bool)>> {
    let mut consumed: Vec<(String, Value, bool)> = Vec::new();
    for capability in &component.consumes {
        let produced = model.capabilities.get(capability)?;
        let capability_type = capability.split('[').next().unwrap_or_default().to_string();
        let Some((mapping, file)) =
            definitions.consumes.get(&(component.mapping_name().to_string(), capability_type.clone()))
        else {
            loader.diagnostics.push(
                Diagnostic::error(format!(
                    "Resource {} tries to consume {capability} but no 'consumes' mapping exists for {} and {capability_type}",
                    component.reference,
                    component.mapping_name()
                ))
                .at(component.declared_at.clone()),
            );
            return None;
        };
        let declared: Vec<&str> = component.params.iter().map(|param| param.name.text.as_str()).collect();
        for attribute in &mapping.attributes {
            let name = attribute.name.text.as_str();
            if !declared.contains(&name) && warned.insert((Arc::clone(&file.path), attribute.name.span.start)) {
                let mut diagnostic = Diagnostic::warning(format!(
                    "{} has no parameter '{name}': Puppet ignores this entry of `{} consumes {capability_type}`",
                    component.mapping_name(),
                    component.mapping_name()
                ))
                .at(file.location(attribute.name.span));
                if let Some(best) = suggest(name, declared.iter().copied()) {
                    diagnostic = diagnostic.with_note(format!("did you mean `{best}`?"));
                }
                loader.diagnostics.push(diagnostic);
            }
        }
        // The mapping sees the capability's attributes as variables, over top scope.
        let mut scope = node_scope.clone();
        scope.push();
        for (name, param) in &produced.attributes {
            let _ = scope.set(name, Value::from_json(&param.value));
        }
        let any_secret = produced.attributes.values().any(|param| param.secret);
        for param in component.params {
            let name = &param.name.text;
            let (value, secret) = match mapping.attributes.iter().find(|attribute| attribute.name.text == *name) {
                Some(attribute) => match evaluator.eval(&mut scope, &attribute.value) {
                    Ok(value) => {
                        let (json, _) = value.to_json();
                        // A value equal to a secret attribute came from it: it stays secret.
                        let secret =
                            any_secret && produced.attributes.values().any(|param| param.secret && param.value == json);
                        (value, secret)
                    }
                    Err(err) => {
                        loader.diagnostics.push(evaluation_error(loader, file, &err));
                        return None;
                    }
                },
                None => match produced.attributes.get(name) {
                    Some(param) => (Value::from_json(&param.value), param.secret),
                    None => continue,
                },
            };
            if value == Value::Undef {
                continue;
            }
            if consumed.iter().any(|(given, _, _)| given == name) {
                loader.diagnostics.push(
                    Diagnostic::error(format!(
                        "Attempt to reassign attribute '{name}' in '{}' caused by multiple consumed mappings to the same attribute",
                        component.reference
                    ))
                    .at(component.declared_at.clone()),
                );
                return None;
            }
            consumed.push((name.clone(), value, secret));
        }
    }
    Some(consumed)
}

/// The capability a component exports, from its `produces` mapping in its own scope; None
/// when it cannot be produced (the reasons are reported).
#[allow(clippy::too_many_arguments)]
fn produce(
    loader: &mut Loader,
    evaluator: &mut Evaluator,
    scope: &mut Scope,
    component: &Pending,
    capability: &str,
    parameters: &Params,
    context: &Context,
    warned: &mut BTreeSet<(Arc<str>, u32)>,
) -> Option<Capability> {
    let capability_type = capability.split('[').next().unwrap_or_default().to_string();
    let mapping: Option<Mapping> =
        context.definitions.produces.get(&(component.mapping_name().to_string(), capability_type.clone())).copied();
    let Some((mapping, mapping_file)) = mapping else {
        loader.diagnostics.push(
            Diagnostic::error(format!("Resource type {} does not produce {capability_type}", component.mapping_name()))
                .at(component.declared_at.clone()),
        );
        return None;
    };
    let known = context.capability_types.get(&capability_type);
    // Without a known type, the mapping's entries are the parameters.
    let names: Vec<String> = match known {
        Some(known) => known.parameters.clone(),
        None => mapping.attributes.iter().map(|attribute| attribute.name.text.clone()).collect(),
    };
    if let Some(known) = known {
        for attribute in &mapping.attributes {
            let name = &attribute.name.text;
            if names.contains(name) || !warned.insert((Arc::clone(&mapping_file.path), attribute.name.span.start)) {
                continue;
            }
            let why = if known.attributes().contains(&name.as_str()) {
                format!(
                    "'{name}' is not a parameter of capability type {capability_type}, and Puppet 5 produces only parameters (but `name`)"
                )
            } else {
                format!("capability type {capability_type} has no parameter '{name}'")
            };
            let mut diagnostic = Diagnostic::warning(format!("{why}: Puppet ignores this entry of the mapping"))
                .at(mapping_file.location(attribute.name.span));
            if let Some(best) = suggest(name, names.iter().map(String::as_str)) {
                diagnostic = diagnostic.with_note(format!("did you mean `{best}`?"));
            }
            loader.diagnostics.push(diagnostic);
        }
    }
    let mut attributes = Params::new();
    let mut failed = false;
    for name in names {
        let value = match mapping.attributes.iter().find(|attribute| attribute.name.text == name) {
            Some(attribute) => match evaluator.eval(scope, &attribute.value) {
                Ok(value) => value,
                Err(err) => {
                    loader.diagnostics.push(evaluation_error(loader, mapping_file, &err));
                    failed = true;
                    continue;
                }
            },
            // Without an entry, the producer's variable of the same name, if any.
            None => match scope.get(&name) {
                Some(value) => value.clone(),
                None => continue,
            },
        };
        let (json, secret) = value.to_json();
        if json.is_null() {
            continue;
        }
        let derived_secret = parameters.values().any(|param| param.secret && param.value == json);
        attributes.insert(name, Param { value: json, secret: secret || derived_secret });
    }
    if failed {
        return None;
    }
    Some(Capability {
        reference: capability.to_string(),
        producer: component.reference.clone(),
        attributes,
        check: None,
    })
}

/// The identity of a component's code: the file that defines its type, the templates, files
/// and plugins of its module, the main manifest's node definitions and top-scope code, which
/// its node's run applies with it, and the other files and modules its code, the top-scope
/// code and its node's definition (`node_reach`) reach (`reach`). A change elsewhere does
/// not touch it; code that names what it uses only when it runs has the whole module path's
/// id.
fn component_code_id(
    loader: &Loader,
    component: &Pending,
    context: &Context,
    node_reach: Option<&Reached>,
) -> anyhow::Result<String> {
    let own = context.reach.reach(&component.puppet_type, component.is_class);
    let (mut files, mut modules) = (BTreeMap::new(), BTreeSet::new());
    for part in [Some(&own), Some(context.top_reach), node_reach].into_iter().flatten() {
        match part {
            Reached::Everything => return Ok(context.puppet_code.code_id.clone()),
            Reached::Some { files: more_files, modules: more_modules } => {
                files.extend(more_files.iter().map(|(path, text)| (*path, *text)));
                modules.extend(more_modules.iter().cloned());
            }
        }
    }
    let mut hasher = Sha256::new();
    let blob = crate::source::blob_id(component.defined_in.text.as_bytes())?;
    hasher.update(component.defined_in.path.as_bytes());
    hasher.update(&blob);
    let own_module = component.puppet_type.split("::").next().unwrap_or_default();
    let module_trees = |hasher: &mut Sha256, module: &str| -> anyhow::Result<()> {
        if let Some(dir) = context.layout.modules.get(module) {
            for part in ["templates", "files", "lib"] {
                hasher.update(loader.snapshot.tree_id(&format!("{dir}/{part}"))?.as_bytes());
            }
        }
        Ok(())
    };
    module_trees(&mut hasher, own_module)?;
    // Without node definitions or top-scope code, ids are what they were before there were any.
    if !context.puppet_code.main_manifest.text.is_empty() {
        hasher.update(context.puppet_code.main_manifest.digest.as_bytes());
    }
    // Code that reaches nothing beyond its own file and module keeps the id it had before
    // other files and modules counted.
    for (path, text) in files.into_iter().filter(|(path, _)| *path != &*component.defined_in.path) {
        hasher.update(path.as_bytes());
        hasher.update(crate::source::blob_id(text.as_bytes())?);
    }
    for module in modules.iter().filter(|module| module.as_str() != own_module) {
        hasher.update(module.as_bytes());
        module_trees(&mut hasher, module)?;
    }
    Ok(crate::text::hex(&hasher.finalize()))
}
