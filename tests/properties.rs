//! Property tests: node grouping on random graphs, cycle reports, idempotent plans,
//! insertion-order independence, and parameter diffs that rebuild the new parameters.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ordo::model::{Component, Edge, Implementation, Model, Node, Param, Script, Scripts, Transport};
use ordo::plan::{self, Action, Cause, Inventory, NodeGraph, PlanOptions};
use proptest::prelude::*;
use serde_json::json;

fn cause() -> Cause {
    Cause { from_component: "A[a]".into(), to_component: "B[b]".into(), capability: None }
}

/// A random DAG: `n` nodes with shuffled names, edges only from lower to higher rank.
fn dag() -> impl Strategy<Value = (Vec<String>, Vec<(usize, usize)>)> {
    (1usize..40).prop_flat_map(|n| {
        let names = Just((0..n).map(|i| format!("node{i:02}")).collect::<Vec<_>>()).prop_shuffle();
        let edges = proptest::collection::vec((0..n, 0..n), 0..n * 3)
            .prop_map(|pairs| pairs.into_iter().filter(|(a, b)| a < b).collect::<Vec<_>>());
        (names, edges)
    })
}

fn build(names: &[String], edges: &[(usize, usize)]) -> NodeGraph {
    let mut graph = NodeGraph::default();
    for name in names {
        graph.add_node(name);
    }
    for &(from, to) in edges {
        graph.add_edge(&names[from], &names[to], cause());
    }
    graph
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_edge_goes_to_a_strictly_later_group((names, edges) in dag(), seed in any::<u64>()) {
        let groups = build(&names, &edges).groups().expect("a DAG has no cycle");
        let group_of: BTreeMap<&str, usize> = groups
            .iter()
            .enumerate()
            .flat_map(|(index, group)| group.iter().map(move |node| (node.as_str(), index)))
            .collect();
        // Every node exactly once.
        let listed: Vec<&String> = groups.iter().flatten().collect();
        prop_assert_eq!(listed.len(), names.len());
        prop_assert_eq!(group_of.len(), names.len());
        for &(from, to) in &edges {
            prop_assert!(group_of[names[from].as_str()] < group_of[names[to].as_str()]);
        }
        // Groups are levels: a node after group 0 has a dependency in the group just before.
        for (node, &level) in &group_of {
            if level > 0 {
                let has_parent = edges.iter().any(|&(from, to)| {
                    names[to] == *node && group_of[names[from].as_str()] == level - 1
                });
                prop_assert!(has_parent, "{} in group {} has no dependency in group {}", node, level, level - 1);
            }
        }
        // Each group is sorted, and insertion order does not matter.
        for group in &groups {
            prop_assert!(group.windows(2).all(|pair| pair[0] < pair[1]));
        }
        let mut shuffled_edges = edges.clone();
        let mut shuffled_names = names.clone();
        shuffle(&mut shuffled_edges, seed);
        shuffle(&mut shuffled_names, seed.rotate_left(17));
        let renamed: Vec<(usize, usize)> = shuffled_edges
            .iter()
            .map(|&(from, to)| {
                let position = |name: &String| shuffled_names.iter().position(|other| other == name).unwrap();
                (position(&names[from]), position(&names[to]))
            })
            .collect();
        prop_assert_eq!(build(&shuffled_names, &renamed).groups().unwrap(), groups);
    }

    #[test]
    fn reported_cycles_are_real_cycles((names, edges) in dag(), back in any::<(prop::sample::Index, prop::sample::Index)>()) {
        prop_assume!(names.len() >= 2);
        let (a, b) = (back.0.index(names.len()), back.1.index(names.len()));
        prop_assume!(a != b);
        let (low, high) = (a.min(b), a.max(b));
        // low -> ... -> high exists when we add it; the back edge closes a cycle.
        let mut edges = edges;
        edges.push((low, high));
        let mut graph = build(&names, &edges);
        graph.add_edge(&names[high], &names[low], cause());
        let cycles = graph.groups().expect_err("a back edge makes a cycle");
        prop_assert!(!cycles.is_empty());
        for cycle in cycles {
            prop_assert!(cycle.nodes.len() >= 2);
            let distinct: BTreeSet<&String> = cycle.nodes.iter().collect();
            prop_assert_eq!(distinct.len(), cycle.nodes.len());
            for index in 0..cycle.nodes.len() {
                let from = &cycle.nodes[index];
                let to = &cycle.nodes[(index + 1) % cycle.nodes.len()];
                prop_assert!(graph.edges.contains_key(&(from.clone(), to.clone())), "{} -> {} is not an edge", from, to);
                prop_assert!(!cycle.causes[index].is_empty());
            }
        }
    }

    #[test]
    fn a_plan_orders_nodes_as_the_node_graph_and_components_after_their_dependencies(model in model_with(Nodes::AnyOrder)) {
        let planned = plan::plan(&model, &Inventory::default(), &PlanOptions::default());
        // The plan orders numbered nodes; the named graph is the reference.
        match plan::node_graph(&model).groups() {
            Ok(groups) => {
                let planned = planned.unwrap();
                prop_assert_eq!(&planned.all_groups, &groups);
                for (node, order) in &planned.nodes {
                    let position = |reference: &str| order.iter().position(|other| other == reference);
                    for edge in &model.edges {
                        let (from, to) = (&model.components[edge.from], &model.components[edge.to]);
                        if from.node == *node && to.node == *node {
                            prop_assert!(position(&from.reference) < position(&to.reference));
                        }
                    }
                    let mut on_node: Vec<&str> = model.components.iter().filter(|c| c.node == *node).map(|c| c.reference.as_str()).collect();
                    let mut listed: Vec<&str> = order.iter().map(String::as_str).collect();
                    on_node.sort_unstable();
                    listed.sort_unstable();
                    prop_assert_eq!(listed, on_node);
                }
            }
            Err(cycles) => prop_assert_eq!(planned.unwrap_err(), plan::cycle_diagnostic(&cycles)),
        }
    }

    #[test]
    fn planning_a_model_against_its_own_inventory_gives_no_changes(model in model()) {
        let salt = b"salt".to_vec();
        let options = PlanOptions { salt: salt.clone(), ..PlanOptions::default() };
        let fresh = plan::plan(&model, &Inventory::default(), &options).unwrap();
        prop_assert_eq!(fresh.count(Action::Add), model.components.len());
        prop_assert_eq!(&fresh.groups, &fresh.all_groups);
        let again = plan::plan(&model, &Inventory::from_model(&model, &salt), &options).unwrap();
        prop_assert!(again.changes.is_empty());
        prop_assert!(again.groups.is_empty());
    }

    #[test]
    fn affected_nodes_keep_the_global_order(model in model(), pick in proptest::collection::vec(any::<prop::sample::Index>(), 1..4)) {
        let salt = b"salt".to_vec();
        let options = PlanOptions { salt: salt.clone(), ..PlanOptions::default() };
        let inventory = Inventory::from_model(&model, &salt);
        let mut changed = model.clone();
        for index in &pick {
            let component = &mut changed.components[index.index(model.components.len())];
            component.parameters.insert("bumped".into(), Param { value: json!(true), secret: false });
        }
        let plan = plan::plan(&changed, &inventory, &options).unwrap();
        let global: Vec<&String> = plan.all_groups.iter().flatten().collect();
        let planned: Vec<&String> = plan.groups.iter().flatten().collect();
        let mut last = None;
        for node in planned {
            let position = global.iter().position(|other| *other == node).unwrap();
            prop_assert!(last.is_none_or(|last| position > last));
            last = Some(position);
            let group = plan.group_of(node).unwrap();
            prop_assert!(plan.groups.iter().any(|g| g.contains(node)));
            prop_assert!(group < plan.all_groups.len());
        }
        for change in &plan.changes {
            prop_assert_eq!(change.action, Action::Change);
        }
    }

    #[test]
    fn parameter_diffs_rebuild_the_new_parameters(
        before in proptest::collection::btree_map("[a-f]", 0i64..4, 0..6),
        after in proptest::collection::btree_map("[a-f]", 0i64..4, 0..6),
    ) {
        let salt = b"salt".to_vec();
        let options = PlanOptions { salt: salt.clone(), ..PlanOptions::default() };
        let old = single_component_model(&before);
        let new = single_component_model(&after);
        let plan = plan::plan(&new, &Inventory::from_model(&old, &salt), &options).unwrap();
        if before == after {
            prop_assert!(plan.changes.is_empty());
        } else {
            prop_assert_eq!(plan.changes.len(), 1);
            let diff = plan.changes[0].diff.as_deref().expect("a parameter change has a diff");
            prop_assert_eq!(apply_unified_diff(&render(&before), diff), render(&after));
        }
    }
}

/// The loader's output does not depend on the order of instances in site.yaml.
#[test]
fn instance_order_does_not_change_the_plan() {
    let repo = support::Repo::example("lamp");
    let site = repo.read("site.yaml");
    let first = repo.ordo(&["plan", "--format", "json"]).success().stdout;
    let split = site.find("  - application: lamp@1.0.0\n    title: app2").unwrap();
    let header_end = site.find("instances:\n").unwrap() + "instances:\n".len();
    let swapped = format!("{}{}\n{}", &site[..header_end], &site[split..], &site[header_end..split]);
    repo.write("site.yaml", &swapped);
    let second = repo.ordo(&["plan", "--format", "json"]).success().stdout;
    assert_eq!(first, second);
}

fn render(params: &BTreeMap<String, i64>) -> String {
    params.iter().map(|(name, value)| format!("{name} = {value}\n")).collect()
}

/// Applies a unified diff to a text; panics on a diff that does not match it.
fn apply_unified_diff(old: &str, diff: &str) -> String {
    let old_lines: Vec<&str> = old.lines().collect();
    let mut out = Vec::new();
    let mut position = 0;
    for line in diff.lines() {
        if line.starts_with("---") || line.starts_with("+++") {
            continue;
        }
        if let Some(header) = line.strip_prefix("@@ -") {
            let start: usize = header.split([',', ' ']).next().unwrap().parse().unwrap();
            let start = start.saturating_sub(1).max(position);
            out.extend(old_lines[position..start].iter().map(|line| line.to_string()));
            position = start;
        } else if let Some(text) = line.strip_prefix('+') {
            out.push(text.to_string());
        } else if let Some(text) = line.strip_prefix('-') {
            assert_eq!(old_lines[position], text);
            position += 1;
        } else if let Some(text) = line.strip_prefix(' ') {
            assert_eq!(old_lines[position], text);
            out.push(text.to_string());
            position += 1;
        }
    }
    out.extend(old_lines[position..].iter().map(|line| line.to_string()));
    out.iter().map(|line| format!("{line}\n")).collect()
}

fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for index in (1..items.len()).rev() {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        items.swap(index, (seed >> 33) as usize % (index + 1));
    }
}

fn script() -> Implementation {
    Implementation::Scripts(Arc::new(Scripts {
        apply: Script { path: "apply".into(), content: Arc::new(b"#!/bin/sh\n".to_vec()) },
        check: None,
        remove: None,
        package: Arc::new(ordo::model::PackageFiles { name: "p".into(), code_id: "0".repeat(40), files: Vec::new() }),
    }))
}

fn node(name: &str) -> Node {
    Node {
        name: name.into(),
        transport: Transport::Local,
        labels: BTreeMap::new(),
        facts: Default::default(),
        timeout_secs: 60,
    }
}

fn component(reference: String, node: &str, parameters: BTreeMap<String, Param>) -> Component {
    let (type_name, title) = ordo::model::split_reference(&reference).unwrap();
    Component {
        type_name: type_name.into(),
        title: title.into(),
        application: "App[a]".into(),
        node: node.into(),
        parameters: parameters.into_iter().collect(),
        implementation: script(),
        code_id: "0".repeat(40).into(),
        produces: Vec::new(),
        consumes: Vec::new(),
        requires: Vec::new(),
        origin: None,
        reference,
    }
}

fn single_component_model(params: &BTreeMap<String, i64>) -> Model {
    let parameters =
        params.iter().map(|(name, value)| (name.clone(), Param { value: json!(value), secret: false })).collect();
    Model {
        nodes: [("n1".to_string(), node("n1"))].into(),
        components: vec![component("C[x]".into(), "n1", parameters)],
        ..Model::default()
    }
}

/// A random model: components on random nodes, edges only from earlier to later components
/// and only between different nodes in rank order, so the node graph stays acyclic.
fn model() -> impl Strategy<Value = Model> {
    model_with(Nodes::Acyclic)
}

/// Which edges between nodes a random model may have.
#[derive(Clone, Copy, PartialEq)]
enum Nodes {
    /// Only up in node rank: the node graph has no cycle.
    Acyclic,
    /// Any, also within a node: the node graph may have cycles.
    AnyOrder,
}

/// A random model whose components depend only on earlier ones (no component cycle).
fn model_with(nodes: Nodes) -> impl Strategy<Value = Model> {
    (1usize..30, 1usize..8).prop_flat_map(move |(n_components, n_nodes)| {
        let placement = proptest::collection::vec(0..n_nodes, n_components);
        let edges = proptest::collection::vec((0..n_components, 0..n_components), 0..n_components * 2);
        let secrets = proptest::collection::vec(any::<bool>(), n_components);
        (placement, edges, secrets).prop_map(move |(placement, edges, secrets)| {
            let references: Vec<String> = (0..n_components).map(|i| format!("C[c{i:02}]")).collect();
            let components: Vec<Component> = references
                .iter()
                .enumerate()
                .map(|(i, reference)| {
                    let parameters = [
                        ("value".to_string(), Param { value: json!(i), secret: false }),
                        ("token".to_string(), Param { value: json!(format!("t{i}")), secret: secrets[i] }),
                    ]
                    .into();
                    component(reference.clone(), &format!("n{}", placement[i]), parameters)
                })
                .collect();
            let mut edge_set = BTreeSet::new();
            for (a, b) in edges {
                let (from, to) = (a.min(b), a.max(b));
                // Keep the node graph acyclic: only edges that go up in node rank.
                if from != to && (nodes == Nodes::AnyOrder || placement[from] < placement[to]) {
                    edge_set.insert(Edge { from, to, capability: None });
                }
            }
            Model {
                nodes: (0..n_nodes).map(|i| (format!("n{i}"), node(&format!("n{i}")))).collect(),
                components,
                edges: edge_set.into_iter().collect(),
                ..Model::default()
            }
        })
    })
}
