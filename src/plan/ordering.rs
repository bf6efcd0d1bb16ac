//! The order a model runs in: its node groups and each node's component order.
//!
//! Both depend on the model alone, so a plan computes them beside reading the inventory. A
//! site has hundreds of thousands of components: nodes are numbered once, in name order, and
//! everything after works on the numbers. Only a model with a node cycle goes through the
//! named [`NodeGraph`], which explains the cycle.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashMapExt};

use super::graph::Cycle;
use crate::model::Model;

/// The node groups of the whole graph (or the cycles that prevent them) and every node's
/// components in run order.
pub struct Ordering {
    pub(super) groups: Result<Vec<Vec<String>>, Vec<Cycle>>,
    pub(super) nodes: BTreeMap<String, Vec<String>>,
}

impl Ordering {
    pub fn of(model: &Model) -> Ordering {
        let numbered = NumberedNodes::of(model);
        let groups = match numbered.levels(model) {
            Some(levels) => Ok(levels),
            None => super::node_graph(model).groups(),
        };
        Ordering { groups, nodes: numbered.component_orders(model) }
    }
}

/// The model's nodes numbered in name order.
struct NumberedNodes<'a> {
    /// Node names; a node's number is its position.
    names: Vec<&'a str>,
    /// Each component's node number, by component index.
    node_of: Vec<usize>,
}

impl<'a> NumberedNodes<'a> {
    fn of(model: &'a Model) -> NumberedNodes<'a> {
        let mut number: HashMap<&str, usize> = HashMap::with_capacity(model.components.len());
        for component in &model.components {
            number.entry(component.node.as_str()).or_insert(0);
        }
        let mut names: Vec<&str> = number.keys().copied().collect();
        names.sort_unstable();
        for (position, name) in names.iter().enumerate() {
            number.insert(name, position);
        }
        let node_of = model.components.iter().map(|component| number[component.node.as_str()]).collect();
        NumberedNodes { names, node_of }
    }

    /// Node names by group: a node's group is the length of the longest dependency path to
    /// it, each group in name order; `None` when the nodes form a cycle.
    fn levels(&self, model: &Model) -> Option<Vec<Vec<String>>> {
        let count = self.names.len();
        let mut edges: Vec<(usize, usize)> = model
            .edges
            .iter()
            .map(|edge| (self.node_of[edge.from], self.node_of[edge.to]))
            .filter(|(from, to)| from != to)
            .collect();
        edges.sort_unstable();
        edges.dedup();
        // Edges sorted by their first node: a node's successors are one slice.
        let mut first_edge = vec![0; count + 1];
        let mut incoming = vec![0usize; count];
        for &(from, to) in &edges {
            first_edge[from + 1] += 1;
            incoming[to] += 1;
        }
        for node in 0..count {
            first_edge[node + 1] += first_edge[node];
        }
        let mut level = vec![0usize; count];
        let mut ready: Vec<usize> = (0..count).filter(|&node| incoming[node] == 0).collect();
        let mut placed = 0;
        while let Some(node) = ready.pop() {
            placed += 1;
            for &(_, next) in &edges[first_edge[node]..first_edge[node + 1]] {
                level[next] = level[next].max(level[node] + 1);
                incoming[next] -= 1;
                if incoming[next] == 0 {
                    ready.push(next);
                }
            }
        }
        if placed < count {
            return None;
        }
        let mut groups = vec![Vec::new(); level.iter().max().map_or(0, |max| max + 1)];
        // Nodes are numbered in name order, so each group comes out sorted.
        for (node, &node_level) in level.iter().enumerate() {
            groups[node_level].push(self.names[node].to_string());
        }
        Some(groups)
    }

    /// Components of each node in run order: dependencies within the node first, then by
    /// name (the model's components are sorted by reference).
    fn component_orders(&self, model: &Model) -> BTreeMap<String, Vec<String>> {
        // Dependencies within a node, by the component that depends.
        let mut local: Vec<(usize, usize)> = model
            .edges
            .iter()
            .filter(|edge| self.node_of[edge.from] == self.node_of[edge.to])
            .map(|edge| (edge.to, edge.from))
            .collect();
        local.sort_unstable();
        let dependencies = |index: usize| {
            let start = local.partition_point(|&(to, _)| to < index);
            local[start..].iter().take_while(move |&&(to, _)| to == index).map(|&(_, from)| from)
        };
        let mut by_node: Vec<usize> = (0..model.components.len()).collect();
        // Stable: each node's components stay in name order.
        by_node.sort_by_key(|&index| self.node_of[index]);
        let mut placed = vec![false; model.components.len()];
        by_node
            .chunk_by(|&a, &b| self.node_of[a] == self.node_of[b])
            .map(|members| {
                let mut order = Vec::with_capacity(members.len());
                // Repeatedly take the first component whose local dependencies are placed.
                // Component cycles were rejected while loading, so this always makes progress.
                let mut remaining = members.to_vec();
                while !remaining.is_empty() {
                    let position = remaining
                        .iter()
                        .position(|&index| dependencies(index).all(|dependency| placed[dependency]))
                        .unwrap_or(0);
                    let index = remaining.remove(position);
                    placed[index] = true;
                    order.push(model.components[index].reference.clone());
                }
                (self.names[self.node_of[members[0]]].to_string(), order)
            })
            .collect()
    }
}
