//! Resolution steps both front ends share: the order to resolve components in (producers
//! before consumers), wildcard capability references, and the final, sorted model.

use std::collections::BTreeSet;

use crate::model::{Component, Edge, Model};

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

/// Kahn's algorithm, smallest index first; `Err` holds the components left in cycles.
pub fn dependency_order(depends_on: &[BTreeSet<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    let mut remaining: Vec<usize> = depends_on.iter().map(BTreeSet::len).collect();
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
pub fn finish(model: &mut Model, resolved: Vec<Option<Component>>, edges: BTreeSet<(usize, usize, Option<String>)>) {
    let n_declared = resolved.len();
    let mut components: Vec<(usize, Component)> =
        resolved.into_iter().enumerate().filter_map(|(index, component)| Some((index, component?))).collect();
    components.sort_by(|a, b| a.1.reference.cmp(&b.1.reference));
    let mut position = vec![usize::MAX; n_declared];
    for (new_index, (old_index, _)) in components.iter().enumerate() {
        position[*old_index] = new_index;
    }
    model.edges = edges
        .into_iter()
        .filter(|(from, to, _)| position[*from] != usize::MAX && position[*to] != usize::MAX)
        .map(|(from, to, capability)| Edge { from: position[from], to: position[to], capability })
        .collect();
    model.edges.sort();
    model.components = components.into_iter().map(|(_, component)| component).collect();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_runs_of_characters() {
        assert!(glob_match("Http[shop-*]", "Http[shop-12]"));
        assert!(glob_match("Http[*-web-*]", "Http[a-web-1]"));
        assert!(!glob_match("Http[shop-*]", "Sql[shop-1]"));
        assert!(!glob_match("Http[a*a]", "Http[a]"));
    }

    #[test]
    fn dependencies_come_first_and_cycles_are_named() {
        let depends_on = vec![BTreeSet::from([1]), BTreeSet::new(), BTreeSet::from([0])];
        assert_eq!(dependency_order(&depends_on), Ok(vec![1, 0, 2]));
        let cycle = vec![BTreeSet::from([1]), BTreeSet::from([0]), BTreeSet::new()];
        assert_eq!(dependency_order(&cycle), Err(vec![0, 1]));
    }
}
