//! The node graph: which node must run before which, and the groups that follow.
//!
//! Component edges (producer -> consumer, required -> requirer) become node edges when the
//! two components live on different nodes. A node's group is the length of the longest
//! dependency path to it, so every edge goes from an earlier group to a later one. Cycles
//! are found with strongly connected components, and reported whole: every node of the
//! cycle and the components and capabilities behind each step.

use std::collections::{BTreeMap, BTreeSet};

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

/// Why one node depends on another: the component edges behind a node edge.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cause {
    pub from_component: String,
    pub to_component: String,
    pub capability: Option<String>,
}

/// A dependency graph over named nodes, built deterministically.
#[derive(Debug, Default, Clone)]
pub struct NodeGraph {
    /// Every node, including those with no edges.
    pub nodes: BTreeSet<String>,
    /// `from -> to` edges with the causes behind them.
    pub edges: BTreeMap<(String, String), Vec<Cause>>,
}

/// A node cycle, in path order: `nodes[0] -> nodes[1] -> ... -> nodes[0]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    pub nodes: Vec<String>,
    /// For each step `nodes[i] -> nodes[i + 1]` (wrapping), the causes.
    pub causes: Vec<Vec<Cause>>,
}

impl NodeGraph {
    pub fn add_node(&mut self, node: &str) {
        // Checking first saves an allocation per call; nodes are added once per component.
        if !self.nodes.contains(node) {
            self.nodes.insert(node.to_string());
        }
    }

    /// Adds an edge with one of its causes. Only the first few causes of an edge are kept:
    /// they are for explaining cycles, and a long list explains no better.
    pub fn add_edge(&mut self, from: &str, to: &str, cause: Cause) {
        const CAUSES_KEPT: usize = 4;
        self.add_node(from);
        self.add_node(to);
        let key = (from.to_string(), to.to_string());
        let causes = self.edges.entry(key).or_default();
        if causes.len() < CAUSES_KEPT && !causes.contains(&cause) {
            causes.push(cause);
            causes.sort();
        }
    }

    /// The groups in run order, or the cycles that make ordering impossible.
    pub fn groups(&self) -> Result<Vec<Vec<String>>, Vec<Cycle>> {
        let cycles = self.cycles();
        if !cycles.is_empty() {
            return Err(cycles);
        }
        let mut incoming: BTreeMap<&str, usize> = self.nodes.iter().map(|node| (node.as_str(), 0)).collect();
        let mut outgoing: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (from, to) in self.edges.keys() {
            *incoming.get_mut(to.as_str()).expect("edge targets are nodes") += 1;
            outgoing.entry(from.as_str()).or_default().push(to.as_str());
        }
        let mut level: BTreeMap<&str, usize> = BTreeMap::new();
        let mut ready: Vec<&str> = incoming.iter().filter(|(_, count)| **count == 0).map(|(node, _)| *node).collect();
        while let Some(node) = ready.pop() {
            let node_level = *level.entry(node).or_insert(0);
            for &next in outgoing.get(node).into_iter().flatten() {
                let next_level = level.entry(next).or_insert(0);
                *next_level = (*next_level).max(node_level + 1);
                let count = incoming.get_mut(next).expect("edge targets are nodes");
                *count -= 1;
                if *count == 0 {
                    ready.push(next);
                }
            }
        }
        let n_groups = level.values().max().map_or(0, |max| max + 1);
        let mut groups = vec![Vec::new(); n_groups];
        // `level` iterates in name order, so each group comes out sorted.
        for (node, node_level) in level {
            groups[node_level].push(node.to_string());
        }
        Ok(groups)
    }

    /// Levels that exist even when there are cycles: the nodes of a strongly connected set
    /// share one level (the longest path over the sets), and the edges inside such a set
    /// are returned as the cycle's edges. Without cycles this is [`NodeGraph::groups`].
    pub fn levels_allowing_cycles(&self) -> (Vec<Vec<String>>, BTreeSet<(String, String)>) {
        let mut graph: DiGraph<&str, ()> = DiGraph::new();
        let indexes: BTreeMap<&str, NodeIndex> =
            self.nodes.iter().map(|node| (node.as_str(), graph.add_node(node.as_str()))).collect();
        for (from, to) in self.edges.keys() {
            graph.add_edge(indexes[from.as_str()], indexes[to.as_str()], ());
        }
        // Each node's set: the smallest name in its strongly connected component.
        let mut set_of: BTreeMap<&str, &str> = BTreeMap::new();
        for component in tarjan_scc(&graph) {
            let members: BTreeSet<&str> = component.iter().map(|&index| graph[index]).collect();
            let leader = *members.first().expect("a component is not empty");
            for member in members {
                set_of.insert(member, leader);
            }
        }
        let mut condensed = NodeGraph::default();
        let mut cycle_edges = BTreeSet::new();
        for node in &self.nodes {
            condensed.add_node(set_of[node.as_str()]);
        }
        for (from, to) in self.edges.keys() {
            let (from_set, to_set) = (set_of[from.as_str()], set_of[to.as_str()]);
            if from_set == to_set {
                cycle_edges.insert((from.clone(), to.clone()));
            } else {
                let cause = Cause { from_component: String::new(), to_component: String::new(), capability: None };
                condensed.add_edge(from_set, to_set, cause);
            }
        }
        let set_levels = condensed.groups().expect("a condensation has no cycles");
        let mut levels: Vec<Vec<String>> = vec![Vec::new(); set_levels.len()];
        for (index, sets) in set_levels.iter().enumerate() {
            let sets: BTreeSet<&str> = sets.iter().map(String::as_str).collect();
            levels[index] = self.nodes.iter().filter(|node| sets.contains(set_of[node.as_str()])).cloned().collect();
        }
        (levels, cycle_edges)
    }

    /// Every cycle, one per strongly connected component of more than one node.
    pub fn cycles(&self) -> Vec<Cycle> {
        let mut graph: DiGraph<&str, ()> = DiGraph::new();
        let indexes: BTreeMap<&str, NodeIndex> =
            self.nodes.iter().map(|node| (node.as_str(), graph.add_node(node.as_str()))).collect();
        for (from, to) in self.edges.keys() {
            graph.add_edge(indexes[from.as_str()], indexes[to.as_str()], ());
        }
        let mut cycles: Vec<Cycle> = tarjan_scc(&graph)
            .into_iter()
            .filter(|component| component.len() > 1)
            .map(|component| {
                let members: BTreeSet<&str> = component.iter().map(|&index| graph[index]).collect();
                self.cycle_within(&members)
            })
            .collect();
        cycles.sort_by(|a, b| a.nodes.cmp(&b.nodes));
        cycles
    }

    /// A cycle through the smallest member of a strongly connected set, found by a
    /// breadth-first search back to it (so the cycle is a shortest one).
    fn cycle_within(&self, members: &BTreeSet<&str>) -> Cycle {
        let start = *members.first().expect("a strongly connected component is not empty");
        let successors = |node: &str| -> Vec<&str> {
            self.edges
                .keys()
                .filter(|(from, to)| from == node && members.contains(to.as_str()))
                .map(|(_, to)| to.as_str())
                .collect()
        };
        let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut last = start;
        'search: while let Some(node) = queue.pop_front() {
            for next in successors(node) {
                if next == start {
                    last = node;
                    break 'search;
                }
                if !parent.contains_key(next) {
                    parent.insert(next, node);
                    queue.push_back(next);
                }
            }
        }
        let mut path = vec![last];
        while let Some(&previous) = parent.get(path.last().expect("path is not empty")) {
            path.push(previous);
        }
        if path.last() != Some(&start) {
            path.push(start);
        }
        path.reverse();
        let nodes: Vec<String> = path.iter().map(|node| node.to_string()).collect();
        let causes = (0..nodes.len())
            .map(|i| {
                let key = (nodes[i].clone(), nodes[(i + 1) % nodes.len()].clone());
                self.edges.get(&key).cloned().unwrap_or_default()
            })
            .collect();
        Cycle { nodes, causes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cause() -> Cause {
        Cause { from_component: "A[a]".into(), to_component: "B[b]".into(), capability: None }
    }

    #[test]
    fn groups_follow_longest_paths() {
        let mut graph = NodeGraph::default();
        graph.add_edge("a", "b", cause());
        graph.add_edge("b", "c", cause());
        graph.add_edge("a", "c", cause());
        graph.add_node("z");
        assert_eq!(graph.groups().unwrap(), vec![vec!["a", "z"], vec!["b"], vec!["c"]]);
    }

    #[test]
    fn a_cycle_shares_one_level() {
        let mut graph = NodeGraph::default();
        graph.add_edge("a", "b", cause());
        graph.add_edge("b", "c", cause());
        graph.add_edge("c", "b", cause());
        graph.add_edge("c", "d", cause());
        let (levels, cycle_edges) = graph.levels_allowing_cycles();
        assert_eq!(levels, vec![vec!["a"], vec!["b", "c"], vec!["d"]]);
        assert_eq!(
            cycle_edges.into_iter().collect::<Vec<_>>(),
            vec![("b".into(), "c".into()), ("c".into(), "b".into())]
        );
    }

    #[test]
    fn cycles_are_reported_whole() {
        let mut graph = NodeGraph::default();
        graph.add_edge("a", "b", cause());
        graph.add_edge("b", "c", cause());
        graph.add_edge("c", "a", cause());
        graph.add_edge("c", "d", cause());
        let cycles = graph.groups().unwrap_err();
        assert_eq!(cycles.len(), 1);
        assert_eq!(cycles[0].nodes, vec!["a", "b", "c"]);
        assert_eq!(cycles[0].causes.len(), 3);
    }
}
