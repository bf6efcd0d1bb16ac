//! The inventory, `inventory.yaml`: the nodes, how to reach them, their facts and timeouts,
//! and the defaults for nodes the code names but the inventory does not list.
//!
//! Every front end reads it (the YAML site, a Puppet control repository, an environment
//! graph), so it lives apart from any of them.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Loader;
use super::raw::{self, RawTransport};
use super::resolve;
use super::yaml::{checked_timeout, read_yaml, spanned_location};
use crate::diag::{Diagnostic, Location};
use crate::model::{Node, Transport};

pub(super) const INVENTORY: &str = "inventory.yaml";
const DEFAULT_TIMEOUT_SECS: u64 = 600;

/// The inventory's nodes, and how to make a node it does not list.
#[derive(Debug, Clone, Default)]
pub(super) struct NodeInventory {
    pub nodes: BTreeMap<String, Node>,
    pub default_transport: Option<Transport>,
    pub default_timeout: Option<u64>,
    /// The file is there but does not parse (its error is reported): which nodes exist is
    /// unknown, rather than none.
    pub unreadable: bool,
}

impl NodeInventory {
    /// A node the code names but the inventory does not list: it gets the default transport,
    /// or none (it can then be shown and planned, not run).
    pub fn default_node(&self, name: &str) -> Node {
        Node {
            name: name.to_string(),
            transport: self.default_transport.clone().unwrap_or(Transport::Unknown),
            labels: BTreeMap::new(),
            facts: serde_json::Map::new(),
            timeout_secs: self.default_timeout.unwrap_or(DEFAULT_TIMEOUT_SECS),
        }
    }
}

/// Reads `inventory.yaml`; without one, no node is listed.
pub(super) fn load_inventory(loader: &mut Loader) -> anyhow::Result<NodeInventory> {
    let mut nodes = BTreeMap::new();
    let Some(inventory) = read_yaml::<raw::RawInventory>(loader, INVENTORY)? else {
        let unreadable = loader.sources.text(INVENTORY).is_some();
        return Ok(NodeInventory { unreadable, ..NodeInventory::default() });
    };
    let defaults = &inventory.defaults;
    let default_transport = defaults.transport.map(|transport| match transport {
        RawTransport::Local => Transport::Local,
        // A default ssh node is reached at its own name.
        RawTransport::Ssh => {
            Transport::Ssh { address: String::new(), port: defaults.port.unwrap_or(22), user: defaults.user.clone() }
        }
    });
    let default_timeout = defaults.timeout.as_ref().and_then(|timeout| checked_timeout(loader, INVENTORY, timeout, 1));
    for raw in inventory.nodes {
        let location = spanned_location(INVENTORY, &raw.name);
        let name = raw.name.value.trim().to_string();
        if !resolve::check_node_name(&mut loader.diagnostics, &name, location.clone()) {
            continue;
        }
        let transport = match raw.transport.or(defaults.transport).unwrap_or(RawTransport::Local) {
            RawTransport::Local => Transport::Local,
            RawTransport::Ssh => Transport::Ssh {
                address: raw.address.unwrap_or_else(|| name.clone()),
                port: raw.port.or(defaults.port).unwrap_or(22),
                user: raw.user.or_else(|| defaults.user.clone()),
            },
        };
        let facts = if raw.gather_facts.or(defaults.gather_facts).unwrap_or(false) {
            gathered_facts(loader, &name, &transport, raw.facts, location.clone())
        } else {
            raw.facts
        };
        let node = Node {
            name: name.clone(),
            transport,
            labels: raw.labels,
            facts,
            timeout_secs: match &raw.timeout {
                Some(timeout) => checked_timeout(loader, INVENTORY, timeout, 1).unwrap_or(DEFAULT_TIMEOUT_SECS),
                None => default_timeout.unwrap_or(DEFAULT_TIMEOUT_SECS),
            },
        };
        if nodes.insert(name.clone(), node).is_some() {
            loader.diagnostics.push(Diagnostic::error(format!("node {name} is listed twice")).at(location));
        }
    }
    Ok(NodeInventory { nodes, default_transport, default_timeout, unreadable: false })
}

/// A node's facts as Facter reports them, overlaid with the inventory's own.
fn gathered_facts(
    loader: &mut Loader,
    name: &str,
    transport: &Transport,
    written: serde_json::Map<String, Value>,
    location: Option<Location>,
) -> serde_json::Map<String, Value> {
    let Some(gather) = loader.gather_facts else {
        return written;
    };
    match gather(transport) {
        Ok(mut facts) => {
            facts.extend(written);
            facts
        }
        Err(err) => {
            loader.diagnostics.push(
                Diagnostic::error(format!("cannot gather the facts of node {name}: {err:#}"))
                    .at(location)
                    .with_note("set the facts this node needs in inventory.yaml, or set gather_facts: false"),
            );
            written
        }
    }
}
