//! A plan as stages of node work: the apply (or noop) groups, then with `--prune` the
//! teardown groups. Code travels as data; the transports put it on the nodes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use anyhow::Context;

use crate::exec::output::Masker;
use crate::exec::{Check, Code, ComponentWork, NodeWork, Phase, Stage, WorkKind};
use crate::model::{AvailabilityCheck, CheckKind, Implementation, Model, Node, Param, Params, Transport};
use crate::plan::{Inventory, Plan, StoredValue};

/// The stages a plan runs as.
pub fn stages(
    model: &Model,
    plan: &Plan,
    inventory: &Inventory,
    teardown_parameters: &HashMap<(String, String), Params>,
    phase: Phase,
    prune: bool,
) -> anyhow::Result<Vec<Stage>> {
    let mut stages = vec![apply_stage(model, plan, phase)?];
    if prune && phase == Phase::Apply && !plan.teardown_groups.is_empty() {
        stages.push(teardown_stage(model, plan, inventory, teardown_parameters)?);
    }
    Ok(stages)
}

/// For each node, every node it depends on, directly or through others, in the whole
/// model's node graph (nodes a plan leaves out still pass dependencies along).
fn node_ancestors(model: &Model) -> HashMap<&str, BTreeSet<&str>> {
    let mut parents: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for edge in &model.edges {
        let (from, to) = (&model.components[edge.from].node, &model.components[edge.to].node);
        if from != to {
            parents.entry(to.as_str()).or_default().insert(from.as_str());
        }
    }
    let mut ancestors: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for &node in parents.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&str> = parents[node].iter().copied().collect();
        while let Some(next) = stack.pop() {
            if seen.insert(next) {
                stack.extend(parents.get(next).into_iter().flatten().copied());
            }
        }
        ancestors.insert(node, seen);
    }
    ancestors
}

fn apply_stage(model: &Model, plan: &Plan, phase: Phase) -> anyhow::Result<Stage> {
    let ancestors = node_ancestors(model);
    let mut groups = Vec::new();
    let mut checks = Vec::new();
    for group in &plan.groups {
        let mut works = Vec::new();
        let mut group_checks = BTreeMap::new();
        for node_name in group {
            let node =
                model.nodes.get(node_name).with_context(|| format!("node {node_name} is not in the inventory"))?;
            let mut components = Vec::new();
            for reference in plan.runs.get(node_name).into_iter().flatten() {
                let component = model.component(reference).context("a planned component is in the model")?;
                let kind = match &component.implementation {
                    Implementation::Scripts(scripts) => {
                        let script = match phase {
                            Phase::Noop => scripts.check.as_ref(),
                            _ => Some(&scripts.apply),
                        };
                        WorkKind::Script {
                            code: Code::Package(Arc::clone(&scripts.package)),
                            script: script.map(|script| script.path.clone()),
                        }
                    }
                    Implementation::Puppet(puppet) => WorkKind::Puppet {
                        declaration: crate::exec::puppet::declaration(puppet, &component.title, &component.parameters),
                        code: Arc::clone(&puppet.code),
                    },
                    Implementation::Graph => anyhow::bail!(
                        "{} comes from an environment graph, which has no code to run; it can be shown and planned only",
                        component.reference
                    ),
                };
                components.push(ComponentWork {
                    reference: component.reference.clone(),
                    type_name: component.type_name.clone(),
                    title: component.title.clone(),
                    application: component.application.clone(),
                    kind,
                    parameters: component.parameters.clone(),
                });
                if phase == Phase::Apply {
                    for reference in &component.consumes {
                        if let Some(capability) = model.capabilities.get(reference)
                            && let Some(check) = &capability.check
                        {
                            group_checks.insert(
                                reference.clone(),
                                Check {
                                    capability: reference.clone(),
                                    check: check.clone(),
                                    secrets: Masker::for_params([&capability.attributes]),
                                    node: check_node(model, check)?,
                                },
                            );
                        }
                    }
                }
            }
            let depends_on = ancestors
                .get(node_name.as_str())
                .map(|nodes| nodes.iter().map(|node| node.to_string()).collect())
                .unwrap_or_default();
            works.push(NodeWork { node: node.clone(), components, depends_on });
        }
        groups.push(works);
        checks.push(group_checks.into_values().collect());
    }
    Ok(Stage { phase, groups, checks })
}

/// The node a command check runs on, when it names one.
fn check_node(model: &Model, check: &AvailabilityCheck) -> anyhow::Result<Option<Node>> {
    match &check.kind {
        CheckKind::Command { node: Some(name), .. } => model
            .nodes
            .get(name)
            .cloned()
            .map(Some)
            .with_context(|| format!("the availability check runs on node {name}, which is not in the inventory")),
        _ => Ok(None),
    }
}

fn teardown_stage(
    model: &Model,
    plan: &Plan,
    inventory: &Inventory,
    teardown_parameters: &HashMap<(String, String), Params>,
) -> anyhow::Result<Stage> {
    let mut groups = Vec::new();
    for group in &plan.teardown_groups {
        let mut works = Vec::new();
        for node_name in group {
            // A node gone from the inventory is still torn down locally when it was local.
            let node = model.nodes.get(node_name).cloned().unwrap_or_else(|| Node {
                name: node_name.clone(),
                transport: Transport::Local,
                labels: BTreeMap::new(),
                facts: serde_json::Map::new(),
                timeout_secs: 600,
            });
            let mut components = Vec::new();
            for reference in plan.teardowns.get(node_name).into_iter().flatten() {
                let applied = inventory
                    .components
                    .get(&(reference.clone(), node_name.clone()))
                    .context("a teardown is in the inventory")?;
                let (type_name, title) = crate::model::split_reference(reference).unwrap_or_default();
                // Secret values were never stored: they come from the applied revision, read
                // again from Git; when it cannot be, the teardown sees only the others.
                let parameters: Params = match teardown_parameters.get(&(reference.clone(), node_name.clone())) {
                    Some(parameters) => parameters.clone(),
                    None => applied
                        .parameters
                        .iter()
                        .filter_map(|(name, value)| match value {
                            StoredValue::Value(value) => {
                                Some((name.clone(), Param { value: value.clone(), secret: false }))
                            }
                            StoredValue::Sensitive(_) => None,
                        })
                        .collect(),
                };
                let script = applied.remove_script.clone().map(Arc::new);
                components.push(ComponentWork {
                    reference: reference.clone(),
                    type_name: type_name.to_string(),
                    title: title.to_string(),
                    application: applied.application.clone(),
                    kind: WorkKind::Script {
                        script: script.as_ref().map(|_| String::new()),
                        code: Code::Script(script.unwrap_or_default()),
                    },
                    parameters,
                });
            }
            // Under `--on-failure continue`, what it waits for holds it back when it failed.
            let depends_on = plan.teardown_waits.get(node_name).into_iter().flatten().cloned().collect();
            works.push(NodeWork { node, components, depends_on });
        }
        groups.push(works);
    }
    let checks = vec![Vec::new(); groups.len()];
    Ok(Stage { phase: Phase::Teardown, groups, checks })
}
