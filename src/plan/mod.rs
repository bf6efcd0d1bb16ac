//! Planning: the desired [`Model`] against the last-applied [`Inventory`] gives a [`Plan`].
//!
//! The plan holds everything a run and a reader need: the applications, the component and
//! node graphs, the global node groups, the changes per component (with a diff of resolved
//! parameters, secrets masked), and the nodes to run, in the global group order filtered
//! to the affected nodes. Planning is pure: the same model and inventory always give the
//! same plan, byte for byte once rendered.

mod graph;
pub mod inventory;
mod ordering;
pub mod picture;
pub mod render;

use std::collections::{BTreeMap, BTreeSet};

// Maps only looked up, never iterated into output, are HashMaps: planning does tens of
// thousands of lookups, and no order can leak from them. Their keys are names planning made
// itself, so a fast hasher (seeded per process) serves.
use foldhash::{HashMap, HashMapExt, HashSet};

use serde::Serialize;
use similar::TextDiff;

pub use graph::{Cause, Cycle, NodeGraph};
pub use inventory::{AppliedComponent, Inventory, StoredValue, Unchanged};
pub use ordering::Ordering;

use crate::diag::Diagnostic;
use crate::model::{Model, NameMap};

/// What a change does to a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Add,
    Change,
    Move,
    Remove,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Add => "add",
            Action::Change => "change",
            Action::Move => "move",
            Action::Remove => "remove",
        }
    }
}

/// One component's change. Its fields are in alphabetical order, the order of its keys in
/// the plan's JSON document, which is written from it directly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub action: Action,
    pub application: String,
    pub component: String,
    /// A unified diff of the resolved parameters, secrets shown as `(sensitive)`.
    pub diff: Option<String>,
    /// The node it runs on (for `remove`, the node it is torn down on).
    pub node: String,
    /// For `move`: the node it leaves, where it is torn down.
    pub previous_node: Option<String>,
    /// What changed: `parameters`, `code`, `node`.
    pub reasons: Vec<&'static str>,
}

/// Which part of the desired state a plan covers.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub nodes: Option<BTreeSet<String>>,
    pub application: Option<String>,
}

/// Settings of one planning.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    pub environment: String,
    pub revision: String,
    pub base_revision: Option<String>,
    /// The store's salt for digests of secrets.
    pub salt: Vec<u8>,
    pub filter: Filter,
}

/// A component edge by reference, as shown to users. Its fields are in alphabetical order,
/// the order of its keys in the JSON documents, which are written from it directly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct EdgeRef {
    pub capability: Option<String>,
    pub from: String,
    pub to: String,
}

/// What a job would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub environment: String,
    pub revision: String,
    pub base_revision: Option<String>,
    /// Application instances and their components.
    pub applications: Vec<(String, Vec<String>)>,
    /// Every desired component by node, each list in run order.
    pub nodes: BTreeMap<String, Vec<String>>,
    pub edges: Vec<EdgeRef>,
    /// The node groups of the whole graph.
    pub all_groups: Vec<Vec<String>>,
    /// The node groups that will run: the global order filtered to affected nodes.
    pub groups: Vec<Vec<String>>,
    /// For each node that runs, the components to apply, in order.
    pub runs: BTreeMap<String, Vec<String>>,
    /// Nodes to tear components down on, consumers first; each entry's components in order.
    pub teardown_groups: Vec<Vec<String>>,
    pub teardowns: BTreeMap<String, Vec<String>>,
    /// For each node with teardowns, the nodes whose failure holds them back: the new node
    /// of a component moving away from it, and the nodes where the components that depend
    /// on one of its components are torn down.
    pub teardown_waits: BTreeMap<String, BTreeSet<String>>,
    pub changes: Vec<Change>,
}

impl Plan {
    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|change| change.action == action).count()
    }

    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// The group index of each node in the whole graph.
    pub fn group_of(&self, node: &str) -> Option<usize> {
        self.all_groups.iter().position(|group| group.iter().any(|member| member == node))
    }
}

/// The node graph of a model: node A before node B when a component on B depends on one on A.
pub fn node_graph(model: &Model) -> NodeGraph {
    let mut graph = NodeGraph::default();
    for component in &model.components {
        graph.add_node(&component.node);
    }
    for edge in &model.edges {
        let from = &model.components[edge.from];
        let to = &model.components[edge.to];
        if from.node != to.node {
            graph.add_edge(
                &from.node,
                &to.node,
                Cause {
                    from_component: from.reference.clone(),
                    to_component: to.reference.clone(),
                    capability: edge.capability.clone(),
                },
            );
        }
    }
    graph
}

/// The diagnostic for node cycles, naming every node and the edges that cause each step.
pub fn cycle_diagnostic(cycles: &[Cycle]) -> Vec<Diagnostic> {
    cycles
        .iter()
        .map(|cycle| {
            let mut path = cycle.nodes.clone();
            path.push(cycle.nodes[0].clone());
            let mut diagnostic = Diagnostic::error(format!("node cycle: {}", path.join(" -> ")));
            for (index, causes) in cycle.causes.iter().enumerate() {
                for cause in causes {
                    let why = match &cause.capability {
                        Some(capability) => format!("consumes {capability} from"),
                        None => "requires".to_string(),
                    };
                    diagnostic = diagnostic.with_note(format!(
                        "{} -> {}: {} {why} {}",
                        path[index],
                        path[index + 1],
                        cause.to_component,
                        cause.from_component
                    ));
                }
            }
            diagnostic.with_note("a node cannot run both before and after another; move one of these components")
        })
        .collect()
}

/// Plans the model against the inventory.
pub fn plan(model: &Model, inventory: &Inventory, options: &PlanOptions) -> Result<Plan, Vec<Diagnostic>> {
    // The ordering is independent of the changes: it is computed on a second thread while
    // the changes are found.
    std::thread::scope(|threads| {
        let ordering = threads.spawn(|| Ordering::of(model));
        let changes = find_changes(model, inventory, options);
        let ordering = ordering.join().expect("ordering a model does not panic");
        finish(model, inventory, options, ordering, changes)
    })
}

/// The plan's shape alone: the applications, each node's components in run order, the
/// edges and the node groups, without comparing anything (what `validate`, `show` and `graph`
/// print). Planning a large site against an empty inventory would make a change, with a diff
/// of all its parameters, of every component only to drop it.
pub fn shape(model: &Model, options: &PlanOptions) -> Result<Plan, Vec<Diagnostic>> {
    finish(model, &Inventory::default(), options, Ordering::of(model), Vec::new())
}

/// Plans the model against the inventory with an ordering computed beforehand.
pub fn plan_ordered(
    model: &Model,
    inventory: &Inventory,
    options: &PlanOptions,
    ordering: Ordering,
) -> Result<Plan, Vec<Diagnostic>> {
    let changes = find_changes(model, inventory, options);
    finish(model, inventory, options, ordering, changes)
}

fn finish(
    model: &Model,
    inventory: &Inventory,
    options: &PlanOptions,
    ordering: Ordering,
    changes: Vec<Change>,
) -> Result<Plan, Vec<Diagnostic>> {
    let all_groups = ordering.groups.map_err(|cycles| cycle_diagnostic(&cycles))?;
    Ok(assemble(model, inventory, options, all_groups, ordering.nodes, changes))
}

/// Every component's change against the inventory, unordered.
fn find_changes(model: &Model, inventory: &Inventory, options: &PlanOptions) -> Vec<Change> {
    // Edges by the component that depends, in the model's order: a changed component's
    // dependencies are named from them, and only a changed component's are.
    let mut edges_by_to: Vec<(usize, usize)> = model.edges.iter().map(|edge| (edge.to, edge.from)).collect();
    edges_by_to.sort_by_key(|&(to, _)| to);
    let depends_on = |index: usize| -> Vec<String> {
        let start = edges_by_to.partition_point(|&(to, _)| to < index);
        let end = edges_by_to.partition_point(|&(to, _)| to <= index);
        edges_by_to[start..end].iter().map(|&(_, from)| model.components[from].reference.clone()).collect()
    };
    let filter = &options.filter;
    let selected = |node: &str, application: &str| {
        filter.nodes.as_ref().is_none_or(|nodes| nodes.contains(node))
            && filter.application.as_ref().is_none_or(|app| app == application)
    };

    let mut applied_by_reference: HashMap<&str, Vec<&AppliedComponent>> = HashMap::new();
    for applied in inventory.components.values() {
        applied_by_reference.entry(applied.reference.as_str()).or_default().push(applied);
    }
    // Lookups by borrowed keys in hash maps: cloning a key and comparing strings down a
    // B-tree for each of hundreds of thousands of components is most of finding changes.
    let applied_by_key: HashMap<(&str, &str), &AppliedComponent> = inventory
        .components
        .iter()
        .map(|((reference, node), applied)| ((reference.as_str(), node.as_str()), applied))
        .collect();
    let mut changes = Vec::new();
    for (index, component) in model.components.iter().enumerate() {
        if !selected(&component.node, &component.application) {
            continue;
        }
        if inventory.is_unchanged(index) {
            continue;
        }
        let applied = applied_by_key.get(&(component.reference.as_str(), component.node.as_str())).copied();
        if applied.is_some_and(|applied| applied.digest == inventory::component_digest(component, &options.salt)) {
            continue;
        }
        let desired = inventory::applied_component(component, depends_on(index), &options.salt);
        let change = match applied {
            Some(applied) => {
                let mut reasons = Vec::new();
                if applied.parameters != desired.parameters {
                    reasons.push("parameters");
                }
                if applied.code_id != desired.code_id {
                    reasons.push("code");
                }
                Some(Change {
                    component: component.reference.clone(),
                    application: component.application.clone(),
                    node: component.node.clone(),
                    action: Action::Change,
                    previous_node: None,
                    reasons,
                    diff: parameter_diff(Some(&applied.parameters), &desired.parameters),
                })
            }
            None => {
                let previous = applied_by_reference
                    .get(component.reference.as_str())
                    .and_then(|applied| applied.iter().find(|applied| applied.node != component.node).copied());
                Some(Change {
                    component: component.reference.clone(),
                    application: component.application.clone(),
                    node: component.node.clone(),
                    action: if previous.is_some() { Action::Move } else { Action::Add },
                    previous_node: previous.map(|applied| applied.node.clone()),
                    reasons: if previous.is_some() { vec!["node"] } else { Vec::new() },
                    diff: parameter_diff(previous.map(|applied| &applied.parameters), &desired.parameters),
                })
            }
        };
        changes.extend(change);
    }
    let moved: BTreeSet<(String, String)> =
        changes.iter().filter_map(|change| Some((change.component.clone(), change.previous_node.clone()?))).collect();
    for (key, applied) in &inventory.components {
        if model.component(&key.0).is_some_and(|component| component.node == key.1)
            || !selected(&applied.node, &applied.application)
            || moved.contains(key)
        {
            continue;
        }
        changes.push(Change {
            component: applied.reference.clone(),
            application: applied.application.clone(),
            node: applied.node.clone(),
            action: Action::Remove,
            previous_node: None,
            reasons: Vec::new(),
            diff: None,
        });
    }

    changes
}

/// The plan around the changes: the nodes to run in the global order, teardowns, and the
/// changes sorted the way they run.
fn assemble(
    model: &Model,
    inventory: &Inventory,
    options: &PlanOptions,
    all_groups: Vec<Vec<String>>,
    nodes: BTreeMap<String, Vec<String>>,
    mut changes: Vec<Change>,
) -> Plan {
    // Nodes to run, in the global order, each with its changed components in node order.
    let applying: BTreeSet<&str> = changes
        .iter()
        .filter(|change| change.action != Action::Remove)
        .map(|change| change.component.as_str())
        .collect();
    let mut runs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (node, order) in &nodes {
        let to_apply: Vec<String> =
            order.iter().filter(|reference| applying.contains(reference.as_str())).cloned().collect();
        if !to_apply.is_empty() {
            runs.insert(node.clone(), to_apply);
        }
    }
    let groups: Vec<Vec<String>> = all_groups
        .iter()
        .map(|group| group.iter().filter(|node| runs.contains_key(*node)).cloned().collect::<Vec<_>>())
        .filter(|group| !group.is_empty())
        .collect();

    let TeardownOrder { groups: teardown_groups, teardowns, waits: teardown_waits } =
        teardown_order(inventory, &changes);
    // Only the changes' nodes are indexed: a few changes in a large site sort without
    // indexing all of it.
    let changed_nodes: HashSet<&str> = changes.iter().map(|change| change.node.as_str()).collect();
    let group_index: HashMap<&str, usize> = all_groups
        .iter()
        .enumerate()
        .flat_map(|(index, group)| group.iter().map(move |node| (node.as_str(), index)))
        .filter(|(node, _)| changed_nodes.contains(node))
        .collect();
    let position_in_node: HashMap<&str, usize> = changed_nodes
        .iter()
        .filter_map(|node| nodes.get(*node))
        .flat_map(|order| order.iter().enumerate().map(|(position, reference)| (reference.as_str(), position)))
        .collect();
    // Keys are computed once per change: comparing them is the hot part of planning.
    changes.sort_by_cached_key(|change| {
        (
            change.action == Action::Remove,
            group_index.get(change.node.as_str()).copied().unwrap_or(usize::MAX),
            change.node.clone(),
            position_in_node.get(change.component.as_str()).copied().unwrap_or(usize::MAX),
            change.component.clone(),
        )
    });

    Plan {
        environment: options.environment.clone(),
        revision: options.revision.clone(),
        base_revision: options.base_revision.clone(),
        applications: model
            .applications
            .iter()
            .map(|application| (application.reference.clone(), application.components.clone()))
            .collect(),
        nodes,
        edges: model
            .edges
            .iter()
            .map(|edge| EdgeRef {
                from: model.components[edge.from].reference.clone(),
                to: model.components[edge.to].reference.clone(),
                capability: edge.capability.clone(),
            })
            .collect(),
        all_groups,
        groups,
        runs,
        teardown_groups,
        teardowns,
        teardown_waits,
        changes,
    }
}

/// Teardowns (removed components, and moved ones on the node they leave), consumers first.
#[derive(Default)]
struct TeardownOrder {
    groups: Vec<Vec<String>>,
    teardowns: BTreeMap<String, Vec<String>>,
    waits: BTreeMap<String, BTreeSet<String>>,
}

fn teardown_order(inventory: &Inventory, changes: &[Change]) -> TeardownOrder {
    let leaving: Vec<(&str, &str)> = changes
        .iter()
        .filter_map(|change| match change.action {
            Action::Remove => Some((change.component.as_str(), change.node.as_str())),
            Action::Move => Some((change.component.as_str(), change.previous_node.as_deref()?)),
            _ => None,
        })
        .collect();
    if leaving.is_empty() {
        return TeardownOrder::default();
    }
    let node_of: BTreeMap<&str, &str> = leaving.iter().copied().collect();
    let mut graph = NodeGraph::default();
    let mut teardowns: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // A moved component leaves its old node only once its new node has it.
    let mut waits: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for change in changes.iter().filter(|change| change.action == Action::Move) {
        if let Some(previous) = &change.previous_node {
            waits.entry(previous.clone()).or_default().insert(change.node.clone());
        }
    }
    for &(component, node) in &leaving {
        graph.add_node(node);
        teardowns.entry(node.to_string()).or_default().push(component.to_string());
        let Some(applied) = inventory.components.get(&(component.to_string(), node.to_string())) else {
            continue;
        };
        for dependency in &applied.depends_on {
            if let Some(&dependency_node) = node_of.get(dependency.as_str())
                && dependency_node != node
            {
                graph.add_edge(
                    dependency_node,
                    node,
                    Cause { from_component: dependency.clone(), to_component: component.to_string(), capability: None },
                );
                waits.entry(dependency_node.to_string()).or_default().insert(node.to_string());
            }
        }
    }
    // Within a node, dependents go first: the reverse of the order they were applied in.
    for (node, components) in teardowns.iter_mut() {
        components.sort_by_key(|component| {
            let depth = inventory.components.get(&(component.clone(), node.clone())).map_or(0, |applied| {
                applied.depends_on.iter().filter(|dep| node_of.get(dep.as_str()) == Some(&node.as_str())).count()
            });
            (std::cmp::Reverse(depth), component.clone())
        });
    }
    // A past cycle cannot be ordered; fall back to one group rather than refuse to clean up.
    let mut groups = graph.groups().unwrap_or_else(|_| vec![graph.nodes.iter().cloned().collect()]);
    groups.reverse();
    TeardownOrder { groups, teardowns, waits }
}

/// A unified diff of two parameter sets, secrets masked; `None` when nothing differs.
fn parameter_diff(before: Option<&NameMap<StoredValue>>, after: &NameMap<StoredValue>) -> Option<String> {
    let empty = NameMap::new();
    let before = before.unwrap_or(&empty);
    let secret_changed = |name: &str| {
        matches!(
            (before.get(name), after.get(name)),
            (Some(StoredValue::Sensitive(old)), Some(StoredValue::Sensitive(new))) if old != new
        )
    };
    let render = |params: &NameMap<StoredValue>, mark_changed: bool| -> String {
        params
            .iter()
            .map(|(name, value)| match value {
                StoredValue::Value(value) => format!("{name} = {value}\n"),
                StoredValue::Sensitive(_) if mark_changed && secret_changed(name) => {
                    format!("{name} = (sensitive, changed)\n")
                }
                StoredValue::Sensitive(_) => format!("{name} = (sensitive)\n"),
            })
            .collect()
    };
    let old = render(before, false);
    let new = render(after, true);
    if old == new {
        return None;
    }
    let diff = TextDiff::from_lines(&old, &new);
    Some(diff.unified_diff().context_radius(2).header("before", "after").to_string())
}
