//! The environment graph, as Puppet Server 5 served it at `/puppet/v3/environment/ENV`:
//! `{"environment", "applications": {App: {Component: {"produces", "consumes", "node"}}},
//! "code_id"}`. ordo writes it (`show --format env-graph`) and reads it, so the graphs of the
//! Choria era can be shown and planned. This module is the only owner of that format.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::diag::{Diagnostic, Location};
use crate::model::{
    Application, Capability, Component, Implementation, Model, Node, Params, normalize_reference, split_reference,
};

#[derive(Debug, Serialize, Deserialize)]
struct Graph {
    environment: String,
    applications: BTreeMap<String, BTreeMap<String, GraphComponent>>,
    #[serde(default)]
    code_id: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct GraphComponent {
    #[serde(default)]
    produces: Vec<String>,
    #[serde(default)]
    consumes: Vec<String>,
    node: String,
}

/// The model as an environment graph; `consumes` lists consumed and required capabilities.
pub fn export(model: &Model, environment: &str) -> String {
    let mut applications: BTreeMap<String, BTreeMap<String, GraphComponent>> = BTreeMap::new();
    for application in &model.applications {
        let components = applications.entry(application.reference.clone()).or_default();
        for reference in &application.components {
            let Some(component) = model.component(reference) else { continue };
            let consumes = component.consumes.iter().chain(&component.requires).cloned().collect();
            components.insert(
                reference.clone(),
                GraphComponent { produces: component.produces.clone(), consumes, node: component.node.clone() },
            );
        }
    }
    let graph = Graph { environment: environment.to_string(), applications, code_id: None };
    let mut text = serde_json::to_string_pretty(&graph).expect("a graph always serialises");
    text.push('\n');
    text
}

/// Reads an environment graph into a model whose components can be shown and planned but
/// not run (there is no code in a graph). `nodes` are the inventory's; nodes it lacks are
/// made by `default_node`.
pub fn import(
    file: &str,
    text: &str,
    nodes: BTreeMap<String, Node>,
    default_node: impl Fn(&str) -> Node,
) -> (Model, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let mut model = Model { nodes, ..Model::default() };
    let graph: Graph = match serde_json::from_str(text) {
        Ok(graph) => graph,
        Err(err) => {
            let start = crate::diag::offset_of(text, err.line(), err.column());
            diagnostics.push(
                Diagnostic::error(format!("not an environment graph: {err}"))
                    .at(Some(Location { file: file.to_string(), range: start..start + 1 })),
            );
            return (model, diagnostics);
        }
    };
    let whole_file = Some(Location { file: file.to_string(), range: 0..0 });
    let mut components = Vec::new();
    for (application, members) in &graph.applications {
        // Names are case-insensitive in Puppet: each reference in its normal form.
        let application = &normalize_reference(application);
        model.applications.push(Application {
            reference: application.clone(),
            components: members.keys().map(|reference| normalize_reference(reference)).collect(),
            origin: whole_file.clone(),
        });
        for (reference, member) in members {
            let reference = &normalize_reference(reference);
            let Some((type_name, title)) = split_reference(reference) else {
                diagnostics.push(
                    Diagnostic::error(format!("{application}: `{reference}` is not a component reference"))
                        .at(whole_file.clone()),
                );
                continue;
            };
            if !super::resolve::check_node_name(&mut diagnostics, &member.node, whole_file.clone()) {
                continue;
            }
            if !model.nodes.contains_key(&member.node) {
                model.nodes.insert(member.node.clone(), default_node(&member.node));
            }
            let consumes = member.consumes.iter().map(|reference| normalize_reference(reference)).collect();
            let requires = Vec::new();
            components.push(Component {
                reference: reference.clone(),
                type_name: type_name.to_string(),
                title: title.to_string(),
                application: application.clone(),
                node: member.node.clone(),
                parameters: Params::new(),
                implementation: Implementation::Graph,
                code_id: Arc::from(""),
                produces: member.produces.iter().map(|reference| normalize_reference(reference)).collect(),
                consumes,
                requires,
                origin: whole_file.clone(),
            });
        }
    }
    components.sort_by(|a, b| a.reference.cmp(&b.reference));
    let mut producers: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, component) in components.iter().enumerate() {
        for capability in &component.produces {
            if let Some(first) = producers.insert(capability, index) {
                diagnostics.push(
                    Diagnostic::error(format!(
                        "{capability} is produced by both {} and {}",
                        components[first].reference, component.reference
                    ))
                    .at(whole_file.clone()),
                );
            }
        }
    }
    let mut edges = BTreeSet::new();
    for (index, component) in components.iter().enumerate() {
        for capability in &component.consumes {
            match producers.get(capability.as_str()) {
                Some(&producer) => {
                    edges.insert(crate::model::Edge {
                        from: producer,
                        to: index,
                        capability: Some(capability.clone()),
                    });
                }
                None => diagnostics.push(
                    Diagnostic::error(format!(
                        "{capability} is consumed but never exported; wanted by {}",
                        component.reference
                    ))
                    .at(whole_file.clone()),
                ),
            }
        }
    }
    for (capability, &producer) in &producers {
        model.capabilities.insert(
            capability.to_string(),
            Capability {
                reference: capability.to_string(),
                producer: components[producer].reference.clone(),
                attributes: Params::new(),
                check: None,
            },
        );
    }
    model.edges = edges.into_iter().collect();
    model.components = components;
    model.applications.sort_by(|a, b| a.reference.cmp(&b.reference));
    (model, diagnostics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_read_in_puppets_normal_form() {
        let graph = r#"{"environment": "production", "code_id": null, "applications": {
            "pasture_APP[p]": {
                "pasture_app::DB[p]": {"produces": ["sql[p]"], "consumes": [], "node": "a"},
                "Pasture_App::Web[p]": {"produces": [], "consumes": ["SQL[p]"], "node": "b"}
            }}}"#;
        let node = |name: &str| Node {
            name: name.to_string(),
            transport: crate::model::Transport::Unknown,
            labels: BTreeMap::new(),
            facts: serde_json::Map::new(),
            timeout_secs: 1,
        };
        let (model, diagnostics) = import("graph.json", graph, BTreeMap::new(), node);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!(model.applications[0].reference, "Pasture_app[p]");
        let references: Vec<&str> = model.components.iter().map(|component| component.reference.as_str()).collect();
        assert_eq!(references, ["Pasture_app::Db[p]", "Pasture_app::Web[p]"]);
        assert_eq!(model.edges.len(), 1, "Sql[p] links them");
    }
}
