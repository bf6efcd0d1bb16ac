//! Resolution steps both front ends share: who exports each capability, the edges between
//! components and the order to resolve them in (producers before consumers), wildcard
//! capability references, and the final, sorted model; with the diagnostics for duplicate
//! exports, capabilities nobody exports, and dependency cycles.

use std::collections::{BTreeMap, BTreeSet};

use foldhash::{HashMap, HashMapExt};

use crate::diag::{Diagnostic, Location, suggest};
use crate::model::{Component, Edge, Model};

/// What the shared steps need to know of a declared component, whichever front end made it.
pub trait Declaration {
    fn reference(&self) -> &str;
    /// Capability references it exports, consumes and requires.
    fn produces(&self) -> &[String];
    fn consumes(&self) -> &[String];
    fn requires(&self) -> &[String];
    /// Where it is declared (its code) and assigned to a node (the site).
    fn declared_at(&self) -> Option<Location>;
    fn assigned_at(&self) -> Option<Location>;
}

/// Implements [`Declaration`] for a struct with fields of the same names, as both front
/// ends' declared components have.
macro_rules! impl_declaration {
    ($type:ty) => {
        impl $crate::load::resolve::Declaration for $type {
            fn reference(&self) -> &str {
                &self.reference
            }
            fn produces(&self) -> &[String] {
                &self.produces
            }
            fn consumes(&self) -> &[String] {
                &self.consumes
            }
            fn requires(&self) -> &[String] {
                &self.requires
            }
            fn declared_at(&self) -> Option<$crate::diag::Location> {
                self.declared_at.clone()
            }
            fn assigned_at(&self) -> Option<$crate::diag::Location> {
                self.assigned_at.clone()
            }
        }
    };
}
pub(crate) use impl_declaration;

/// Checks a node name against the node-name syntax (`model::node_name_problem`), with a
/// located error when it does not match; whether it does. Both front ends call it for every
/// node name they read, so no name can become a path, a lock or a command-line word.
pub fn check_node_name(diagnostics: &mut Vec<Diagnostic>, name: &str, location: Option<Location>) -> bool {
    let Some(problem) = crate::model::node_name_problem(name) else {
        return true;
    };
    diagnostics.push(
        Diagnostic::error(format!("invalid node name \"{}\": {problem}", crate::text::excerpt(name)))
            .at(location)
            .with_note("a node name is a DNS name or an SSH Host alias: labels of letters, digits, `-` and `_`, joined by dots"),
    );
    false
}

/// Which component (by index) exports each capability, looked up by name. Nothing iterates
/// it in its own order: what lists capabilities sorts them ([`sorted_capabilities`]).
pub type Producers = HashMap<String, usize>;

/// The exported capabilities in name order.
pub fn sorted_capabilities(producers: &Producers) -> Vec<&str> {
    let mut names: Vec<&str> = producers.keys().map(String::as_str).collect();
    names.sort_unstable();
    names
}

/// Which component (by index) exports each capability; a second export is an error.
pub fn producers<D: Declaration>(diagnostics: &mut Vec<Diagnostic>, declared: &[D]) -> Producers {
    let mut producers = Producers::with_capacity(declared.len());
    for (index, component) in declared.iter().enumerate() {
        for capability in component.produces() {
            match producers.get(capability) {
                Some(&first) => diagnostics.push(
                    Diagnostic::error(format!(
                        "Duplicate declaration: {capability} is already exported by {}; {} cannot export it too",
                        declared[first].reference(),
                        component.reference()
                    ))
                    .at(component.assigned_at().or(component.declared_at()))
                    .with_label(
                        declared[first].assigned_at().or(declared[first].declared_at()),
                        "first exported by this component",
                    ),
                ),
                None => {
                    producers.insert(capability.clone(), index);
                }
            }
        }
    }
    producers
}

/// Component edges (producer -> consumer, with the capability; required -> requirer,
/// without) and the order to resolve components in.
pub struct Wiring {
    pub edges: Edges,
    pub order: Vec<usize>,
}

/// Component edges by index `(from, to, capability)`, sorted and without duplicates.
pub type Edges = Vec<(usize, usize, Option<String>)>;

/// Wires consumers to producers. A capability nobody exports is reported once with all
/// who want it, unless errors were already reported (it is then most likely a consequence);
/// a dependency cycle is reported and gives `None`.
pub fn wire<D: Declaration>(
    diagnostics: &mut Vec<Diagnostic>,
    declared: &[D],
    producers: &Producers,
) -> Option<Wiring> {
    let mut depends_on: Vec<Vec<usize>> = vec![Vec::new(); declared.len()];
    let mut edges = Edges::new();
    let mut missing: BTreeMap<&str, Vec<(usize, bool)>> = BTreeMap::new();
    for (index, component) in declared.iter().enumerate() {
        let needed =
            component.consumes().iter().map(|c| (c, true)).chain(component.requires().iter().map(|c| (c, false)));
        for (capability, carries_data) in needed {
            match producers.get(capability) {
                Some(&producer) if producer == index => diagnostics.push(
                    Diagnostic::error(format!(
                        "{} consumes {capability}, which it exports itself",
                        component.reference()
                    ))
                    .at(component.declared_at()),
                ),
                Some(&producer) => {
                    depends_on[index].push(producer);
                    edges.push((producer, index, carries_data.then(|| capability.clone())));
                }
                None => missing.entry(capability).or_default().push((index, carries_data)),
            }
        }
    }
    // Collected as they come, sorted once: quicker than sets for hundreds of thousands.
    edges.sort_unstable();
    edges.dedup();
    for dependencies in &mut depends_on {
        dependencies.sort_unstable();
        dependencies.dedup();
    }
    let earlier_errors = crate::diag::has_errors(diagnostics);
    for (capability, wanted_by) in missing.into_iter().filter(|_| !earlier_errors) {
        let names: Vec<String> = wanted_by
            .iter()
            .map(|&(index, carries_data)| {
                let suffix = if carries_data { "" } else { " (require)" };
                format!("{}{suffix}", declared[index].reference())
            })
            .collect();
        let mut diagnostic =
            Diagnostic::error(format!("{capability} is consumed but never exported; wanted by {}", names.join(", ")))
                .at(declared[wanted_by[0].0].declared_at());
        let exported = sorted_capabilities(producers);
        match suggest(capability, exported.iter().copied()) {
            Some(best) => diagnostic = diagnostic.with_note(format!("did you mean `{best}`?")),
            None if producers.is_empty() => diagnostic = diagnostic.with_note("no component exports anything"),
            None => diagnostic = diagnostic.with_note(format!("exported capabilities: {}", exported.join(", "))),
        }
        diagnostics.push(diagnostic);
    }
    match dependency_order(&depends_on) {
        Ok(order) => Some(Wiring { edges, order }),
        Err(stuck) => {
            let names: Vec<&str> = stuck.iter().map(|&index| declared[index].reference()).collect();
            diagnostics.push(Diagnostic::error(format!("dependency cycle among components: {}", names.join(", "))));
            None
        }
    }
}

/// Matches `Http[shop-*]` against `Http[shop-1]`: `*` stands for any run of characters.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(found) => rest = &rest[found + part.len()..],
            None => return false,
        }
    }
    true
}

/// Kahn's algorithm, smallest index first; `Err` holds the components left in cycles. Each
/// component's dependencies are listed once.
pub fn dependency_order(depends_on: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    let mut remaining: Vec<usize> = depends_on.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); depends_on.len()];
    for (index, dependencies) in depends_on.iter().enumerate() {
        for &dependency in dependencies {
            dependents[dependency].push(index);
        }
    }
    let mut ready: BTreeSet<usize> = (0..depends_on.len()).filter(|&index| remaining[index] == 0).collect();
    let mut order = Vec::with_capacity(depends_on.len());
    while let Some(index) = ready.pop_first() {
        order.push(index);
        for &dependent in &dependents[index] {
            remaining[dependent] -= 1;
            if remaining[dependent] == 0 {
                ready.insert(dependent);
            }
        }
    }
    if order.len() == depends_on.len() {
        Ok(order)
    } else {
        Err((0..depends_on.len()).filter(|&index| remaining[index] > 0).collect())
    }
}

/// Puts the resolved components into the model, ordered by reference, with the edges
/// (indexes into `resolved`) re-indexed into that order; unresolved components drop out.
pub fn finish(model: &mut Model, mut resolved: Vec<Option<Component>>, edges: Edges) {
    let n_declared = resolved.len();
    // The order is found on indexes and references, then each component moves once, in
    // place: sorting the components themselves would move each a dozen times, and moving
    // them into a new vector would hold two of them at once.
    let mut order: Vec<usize> = (0..n_declared).filter(|&index| resolved[index].is_some()).collect();
    let reference = |index: usize| resolved[index].as_ref().map(|component| component.reference.as_str());
    // Ties (none in a valid model) keep the declaration order, as a stable sort would.
    order.sort_unstable_by(|&a, &b| reference(a).cmp(&reference(b)).then(a.cmp(&b)));
    let n_resolved = order.len();
    let mut position = vec![usize::MAX; n_declared];
    for (new_index, &old_index) in order.iter().enumerate() {
        position[old_index] = new_index;
    }
    model.edges = edges
        .into_iter()
        .filter(|(from, to, _)| position[*from] != usize::MAX && position[*to] != usize::MAX)
        .map(|(from, to, capability)| Edge { from: position[from], to: position[to], capability })
        .collect();
    model.edges.sort();
    // Components that could not be resolved go last, then every slot is swapped to its place.
    let unresolved = position.iter_mut().filter(|slot| **slot == usize::MAX);
    for (last, slot) in (n_resolved..).zip(unresolved) {
        *slot = last;
    }
    for index in 0..n_declared {
        while position[index] != index {
            let target = position[index];
            resolved.swap(index, target);
            position.swap(index, target);
        }
    }
    resolved.truncate(n_resolved);
    model.components =
        resolved.into_iter().map(|component| component.expect("resolved components come first")).collect();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finishing_orders_components_by_reference_and_reindexes_edges() {
        use crate::model::tests::component;
        let resolved = vec![
            Some(component("C[c]", "n1")),
            None,
            Some(component("A[a]", "n2")),
            Some(component("B[b]", "n3")),
            None,
        ];
        let edges = vec![(0, 2, None), (1, 3, None), (2, 3, Some("X[x]".to_string())), (4, 0, None)];
        let mut model = Model::default();
        finish(&mut model, resolved, edges);
        let order: Vec<(&str, &str)> =
            model.components.iter().map(|component| (component.reference.as_str(), component.node.as_str())).collect();
        assert_eq!(order, vec![("A[a]", "n2"), ("B[b]", "n3"), ("C[c]", "n1")]);
        let edges: Vec<(usize, usize, Option<&str>)> =
            model.edges.iter().map(|edge| (edge.from, edge.to, edge.capability.as_deref())).collect();
        assert_eq!(edges, vec![(0, 1, Some("X[x]")), (2, 0, None)]);
    }

    #[test]
    fn wildcards_match_runs_of_characters() {
        assert!(glob_match("Http[shop-*]", "Http[shop-12]"));
        assert!(glob_match("Http[*-web-*]", "Http[a-web-1]"));
        assert!(!glob_match("Http[shop-*]", "Sql[shop-1]"));
        assert!(!glob_match("Http[a*a]", "Http[a]"));
    }

    #[test]
    fn dependencies_come_first_and_cycles_are_named() {
        let depends_on = vec![vec![1], vec![], vec![0]];
        assert_eq!(dependency_order(&depends_on), Ok(vec![1, 0, 2]));
        let cycle = vec![vec![1], vec![0], vec![]];
        assert_eq!(dependency_order(&cycle), Err(vec![0, 1]));
    }
}
