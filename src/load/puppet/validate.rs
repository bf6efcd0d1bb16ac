//! Puppet's checks of capabilities when the environment's catalog is complete
//! (`EnvironmentRelationshipValidator`): a capability exported by two components, and a
//! capability that is consumed or required but never exported, in Puppet's wording and
//! order: the duplicate exports in the order components were declared, then the missing
//! exports in the order they were first referenced, each named with the metaparameter and
//! place of its last reference, as Puppet's validator kept them. Before them, as Puppet
//! checked when the metaparameter was set, `before` or `notify` pointing at a capability.

use std::collections::BTreeMap;

use super::Pending;
use super::layout::CapabilityType;
use crate::diag::Diagnostic;
use crate::load::Loader;
use crate::model::split_reference;

/// Reports the problems; false when there were any. After evaluation errors, Puppet would
/// have stopped before these checks, and what they find is most likely a consequence: they
/// are skipped.
pub fn capabilities(
    loader: &mut Loader,
    pending: &[Pending],
    capability_types: &BTreeMap<String, CapabilityType>,
) -> bool {
    if crate::diag::has_errors(&loader.diagnostics) {
        return false;
    }
    for component in pending {
        for (metaparameter, target) in &component.ordering {
            let type_name = split_reference(target).map(|(type_name, _)| type_name).unwrap_or_default();
            let exported = pending.iter().any(|other| other.produces.contains(target));
            if capability_types.contains_key(type_name) || exported {
                loader.diagnostics.push(
                    Diagnostic::error(format!("'{metaparameter}' is not a valid relationship to a capability"))
                        .at(component.declared_at.clone())
                        .with_note(format!("{} has {metaparameter} => {target}", component.reference)),
                );
            }
        }
    }
    if crate::diag::has_errors(&loader.diagnostics) {
        return false;
    }
    let components: Vec<&str> = pending.iter().map(|component| component.reference.as_str()).collect();
    // A reference to a component (`require => Lamp::Db['x']`) only orders; the validator
    // looked only at capabilities.
    let is_capability = |reference: &str| !components.contains(&reference);
    let mut problems = Vec::new();
    let mut exported: BTreeMap<&str, &Pending> = BTreeMap::new();
    // Referenced capabilities in the order first referenced, with their last reference.
    let mut assumed: Vec<(&str, &'static str, &Pending)> = Vec::new();
    for component in pending {
        for (metaparameter, references) in [("consume", &component.consumes), ("require", &component.requires)] {
            for reference in references.iter().filter(|reference| is_capability(reference)) {
                match assumed.iter_mut().find(|(known, _, _)| *known == reference) {
                    Some(entry) => *entry = (reference, metaparameter, component),
                    None => assumed.push((reference, metaparameter, component)),
                }
            }
        }
        for reference in &component.produces {
            match exported.get(reference.as_str()) {
                Some(first) => {
                    let mut diagnostic = Diagnostic::error(format!(
                        "'{reference}' is exported by both '{}' and '{}' {}",
                        first.reference, component.reference, component.declared_line
                    ))
                    .at(component.declared_at.clone());
                    if first.declared_at != component.declared_at {
                        diagnostic =
                            diagnostic.with_label(first.declared_at.clone(), "first exported by this component");
                    }
                    problems.push(diagnostic);
                }
                None => {
                    exported.insert(reference, component);
                }
            }
        }
    }
    for (reference, metaparameter, component) in assumed {
        if !exported.contains_key(reference) {
            let wanted_by: Vec<&str> = pending
                .iter()
                .filter(|other| other.consumes.iter().chain(&other.requires).any(|wanted| wanted == reference))
                .map(|other| other.reference.as_str())
                .collect();
            problems.push(
                Diagnostic::error(format!(
                    "Capability '{reference}' referenced by '{metaparameter}' is never exported {}",
                    component.declared_line
                ))
                .at(component.declared_at.clone())
                .with_note(format!("wanted by {}", wanted_by.join(", "))),
            );
        }
    }
    let valid = problems.is_empty();
    loader.diagnostics.extend(problems);
    valid
}
