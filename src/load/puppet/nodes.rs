//! Node definitions of the main manifest (`node 'name' {}`, `node /regex/ {}`, `node default
//! {}`): which nodes they match, by Puppet's rules, and a component for each known node that
//! has node-definition code but no components, so its catalog can run too.
//!
//! Every node's `puppet apply` gets the main manifest before its components (see `lower`),
//! as a node's catalog under PE had its node definition and its components; a node without
//! components gets a `Node[NAME]` component of the application `Site[site]`, which declares
//! nothing of its own and stands for the node's own catalog.

use std::sync::Arc;

use super::Parsed;
use super::eval::Evaluator;
use crate::diag::{Diagnostic, Location};
use crate::lang::ast::{NodeDef, NodeMatchKind, StatementKind};
use crate::model::{Application, Component, Implementation, Model, PuppetCode, PuppetComponent};

/// The application that holds node-only components.
pub const SITE: &str = "Site[site]";

/// The main manifest's node definitions, in the order Puppet read them, each with its file.
pub struct NodeDefinitions<'m>(Vec<(&'m Parsed, &'m NodeDef)>);

impl<'m> NodeDefinitions<'m> {
    pub fn of(main_manifest: &'m [Parsed]) -> NodeDefinitions<'m> {
        NodeDefinitions(
            main_manifest
                .iter()
                .flat_map(|file| file.file.statements.iter().map(move |statement| (file, statement)))
                .filter_map(|(file, statement)| match &statement.kind {
                    StatementKind::Node(node) => Some((file, node)),
                    _ => None,
                })
                .collect(),
        )
    }

    /// The node definition Puppet applies to `name`: for the name and then each of its
    /// shorter forms (`web1.example.net`, `web1.example`, `web1`), one that names it (case
    /// aside), else the first whose regular expression matches it; and at last `default`.
    pub fn for_node(&self, evaluator: &mut Evaluator, name: &str) -> Option<&'m NodeDef> {
        let name = name.to_lowercase();
        let mut names = vec![name.as_str()];
        let mut rest = name.as_str();
        while let Some((head, _)) = rest.rsplit_once('.') {
            names.push(head);
            rest = head;
        }
        let definitions = || self.0.iter().map(|&(_, node)| node);
        for candidate in names {
            let named = definitions().find(|node| {
                node.matches.iter().any(|matcher| {
                    matches!(&matcher.kind, NodeMatchKind::Name(written) if written.to_lowercase() == candidate)
                })
            });
            if let Some(node) = named {
                return Some(node);
            }
            let matched = definitions().find(|node| {
                node.matches.iter().any(|matcher| match &matcher.kind {
                    NodeMatchKind::Regex(pattern) => {
                        evaluator.regex(pattern, matcher.span).is_ok_and(|regex| regex.is_match(candidate))
                    }
                    _ => false,
                })
            });
            if let Some(node) = matched {
                return Some(node);
            }
        }
        definitions().find(|node| node.matches.iter().any(|matcher| matcher.kind == NodeMatchKind::Default))
    }

    /// Where the first node definition names what it matches.
    fn first_location(&self) -> Option<Location> {
        let (file, node) = self.0.first()?;
        file.location(node.matches.first()?.span)
    }
}

/// Adds `Node[NAME]` components for the known nodes that have node-definition code and no
/// components, with the `Site[site]` application that holds them.
pub fn add_node_only_components(
    model: &mut Model,
    definitions: &NodeDefinitions,
    puppet_code: &Arc<PuppetCode>,
    evaluator: &mut Evaluator,
) {
    let busy: std::collections::BTreeSet<&str> =
        model.components.iter().map(|component| component.node.as_str()).collect();
    let idle: Vec<String> = model.nodes.keys().filter(|name| !busy.contains(name.as_str())).cloned().collect();
    let mut components = Vec::new();
    for name in idle {
        if definitions.for_node(evaluator, &name).is_none() {
            continue;
        }
        components.push(Component {
            reference: format!("Node[{name}]"),
            type_name: "Node".into(),
            title: name.clone(),
            application: SITE.into(),
            node: name,
            parameters: Default::default(),
            implementation: Implementation::Puppet(PuppetComponent {
                puppet_type: String::new(),
                is_class: false,
                code: Arc::clone(puppet_code),
            }),
            // A node definition may include any class of any module, even one a lookup
            // names: its catalog is as new as the whole module path.
            code_id: puppet_code.code_id.as_str().into(),
            produces: Vec::new(),
            consumes: Vec::new(),
            requires: Vec::new(),
            origin: None,
        });
    }
    if !components.is_empty() {
        model.applications.push(Application {
            reference: SITE.into(),
            components: components.iter().map(|component| component.reference.clone()).collect(),
            origin: None,
        });
        model.applications.sort_by(|a, b| a.reference.cmp(&b.reference));
    }
    // Components stay sorted by reference, and edges follow their components' new indices.
    let before: Vec<String> = model.components.iter().map(|component| component.reference.clone()).collect();
    model.components.extend(components);
    model.components.sort_by(|a, b| a.reference.cmp(&b.reference));
    let index_of = |reference: &str| {
        model.components.binary_search_by(|component| component.reference.as_str().cmp(reference)).unwrap_or_default()
    };
    let moved: Vec<usize> = before.iter().map(|reference| index_of(reference)).collect();
    for edge in &mut model.edges {
        edge.from = moved[edge.from];
        edge.to = moved[edge.to];
    }
    model.edges.sort();
}

/// Warns of each node with components that no node definition matches, when the main
/// manifest has node definitions: Puppet refuses such a node's catalog, so its run would
/// fail.
pub fn warn_unmatched_nodes(
    diagnostics: &mut Vec<Diagnostic>,
    model: &Model,
    definitions: &NodeDefinitions,
    evaluator: &mut Evaluator,
) {
    let Some(at) = definitions.first_location() else { return };
    let busy: std::collections::BTreeSet<&str> =
        model.components.iter().map(|component| component.node.as_str()).collect();
    let unmatched: Vec<&str> =
        busy.into_iter().filter(|node| definitions.for_node(evaluator, node).is_none()).collect();
    let Some(first) = unmatched.first() else { return };
    let message = match unmatched.as_slice() {
        [node] => format!("node {node} has components but no node definition matches it"),
        nodes => {
            const SHOWN: usize = 5;
            let mut names = nodes[..nodes.len().min(SHOWN)].join(", ");
            if nodes.len() > SHOWN {
                names.push_str(&format!(" and {} more", nodes.len() - SHOWN));
            }
            format!("{} nodes have components but no node definition matches them: {names}", nodes.len())
        }
    };
    diagnostics.push(
        Diagnostic::warning(format!(
            "{message}; Puppet refuses such a node's catalog (Could not find node statement with name 'default' or '{first}')"
        ))
        .at(Some(at))
        .with_note("add a node definition that matches each, or `node default { }`"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(src: &str) -> Vec<Parsed> {
        let parse = crate::lang::parse(src);
        assert!(parse.errors.is_empty(), "{:?}", parse.errors);
        vec![Parsed { path: Arc::from("manifests/site.pp"), text: src.to_string(), file: parse.file }]
    }

    #[test]
    fn node_definitions_match_as_puppets_do() {
        let mut evaluator = Evaluator::new();
        let main = parsed("node 'web1.example', /^db\\d+\\./ { }\nnode 'Mail' { }\n");
        let definitions = NodeDefinitions::of(&main);
        let matches = |evaluator: &mut Evaluator, name: &str| definitions.for_node(evaluator, name).is_some();
        assert!(matches(&mut evaluator, "web1.example"));
        assert!(matches(&mut evaluator, "web1.example.net"), "a shorter form of the name matches");
        assert!(matches(&mut evaluator, "db12.example.net"));
        assert!(matches(&mut evaluator, "mail.example.net"), "names are case-insensitive");
        assert!(!matches(&mut evaluator, "web2.example.net"));
        assert!(!matches(&mut evaluator, "example.net"));
        let with_default = parsed("node default { }\n");
        assert!(NodeDefinitions::of(&with_default).for_node(&mut evaluator, "anything").is_some());
        let without = parsed("$x = 1\n");
        assert!(NodeDefinitions::of(&without).for_node(&mut evaluator, "anything").is_none());
    }

    #[test]
    fn a_name_comes_before_a_regex_and_a_regex_before_default() {
        let mut evaluator = Evaluator::new();
        let main = parsed("node default { }\nnode /^web/ { }\nnode 'web1' { }\nnode /^web1\\.example/ { }\n");
        let statement = |index: usize| match &main[0].file.statements[index].kind {
            StatementKind::Node(node) => node as *const NodeDef,
            _ => unreachable!(),
        };
        let definitions = NodeDefinitions::of(&main);
        let picked = |evaluator: &mut Evaluator, name: &str| {
            definitions.for_node(evaluator, name).map(|node| node as *const NodeDef)
        };
        // The full name before its shorter forms: a regex that matches it wins over a name
        // that only a shorter form equals.
        assert_eq!(picked(&mut evaluator, "web1.example.net"), Some(statement(1)));
        assert_eq!(picked(&mut evaluator, "web1"), Some(statement(2)));
        assert_eq!(picked(&mut evaluator, "db1.example.net"), Some(statement(0)));
    }
}
