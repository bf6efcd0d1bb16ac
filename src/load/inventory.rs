//! The inventory, `inventory.yaml`: the nodes, how to reach them (local, or SSH with its
//! address, port, user, identity file, known hosts, jump host, working directory and host-key
//! policy), their facts and timeouts, and the defaults for nodes the code names but the
//! inventory does not list; and the job settings of `ordo.yaml` (`jobs:`).
//!
//! Every front end reads both (the YAML site, a Puppet control repository, an environment
//! graph), so they live apart from any of them.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::Loader;
use super::raw::{self, RawTransport};
use super::resolve;
use super::yaml::{checked_seconds, read_yaml, spanned_location};
use crate::diag::{Diagnostic, Location};
use crate::model::{FailurePolicy, MaxFailures, Node, OnFailure, SshTarget, Transport};

pub(super) const INVENTORY: &str = "inventory.yaml";
const DEFAULT_TIMEOUT_SECS: u64 = 600;
/// As Ansible keeps its connections: long enough for the next run of a series, not so long
/// that idle connections pile up.
const DEFAULT_CONTROL_PERSIST_SECS: u64 = 60;

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
        // A default ssh node is reached at its own name.
        let transport = match self.default_transport.clone() {
            Some(Transport::Ssh(mut target)) => {
                target.address = name.to_string();
                Transport::Ssh(target)
            }
            other => other.unwrap_or(Transport::Unknown),
        };
        Node {
            name: name.to_string(),
            transport,
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
    let diagnostics = &mut loader.diagnostics;
    let default_timeout =
        defaults.timeout.as_ref().and_then(|timeout| checked_seconds(diagnostics, INVENTORY, "timeout", timeout, 1));
    let default_persist = defaults
        .control_persist
        .as_ref()
        .and_then(|persist| checked_seconds(diagnostics, INVENTORY, "control_persist", persist, 0))
        .unwrap_or(DEFAULT_CONTROL_PERSIST_SECS);
    let default_transport = defaults.transport.map(|transport| match transport {
        RawTransport::Local => Transport::Local,
        RawTransport::Ssh => Transport::Ssh(Box::new(ssh_target(defaults, None, String::new(), default_persist))),
    });
    for raw in inventory.nodes {
        let location = spanned_location(INVENTORY, &raw.name);
        let name = raw.name.value.trim().to_string();
        if !resolve::check_node_name(&mut loader.diagnostics, &name, location.clone()) {
            continue;
        }
        let timeout_secs = match &raw.timeout {
            Some(timeout) => checked_seconds(&mut loader.diagnostics, INVENTORY, "timeout", timeout, 1)
                .unwrap_or(DEFAULT_TIMEOUT_SECS),
            None => default_timeout.unwrap_or(DEFAULT_TIMEOUT_SECS),
        };
        let persist = match &raw.control_persist {
            Some(persist) => checked_seconds(&mut loader.diagnostics, INVENTORY, "control_persist", persist, 0)
                .unwrap_or(DEFAULT_CONTROL_PERSIST_SECS),
            None => default_persist,
        };
        let transport = match raw.transport.or(defaults.transport).unwrap_or(RawTransport::Local) {
            RawTransport::Local => Transport::Local,
            RawTransport::Ssh => {
                let address = raw.address.clone().unwrap_or_else(|| name.clone());
                Transport::Ssh(Box::new(ssh_target(defaults, Some(&raw), address, persist)))
            }
        };
        let facts = if raw.gather_facts.or(defaults.gather_facts).unwrap_or(false) {
            gathered_facts(loader, &name, &transport, raw.facts, location.clone())
        } else {
            raw.facts
        };
        let node = Node { name: name.clone(), transport, labels: raw.labels, facts, timeout_secs };
        if nodes.insert(name.clone(), node).is_some() {
            loader.diagnostics.push(Diagnostic::error(format!("node {name} is listed twice")).at(location));
        }
    }
    mark_shared_hosts(&mut nodes);
    Ok(NodeInventory { nodes, default_transport, default_timeout, unreadable: false })
}

/// A node's SSH settings: its own, else the inventory's defaults; `control_persist` checked.
fn ssh_target(
    defaults: &raw::RawNodeDefaults,
    node: Option<&raw::RawNode>,
    address: String,
    control_persist: u64,
) -> SshTarget {
    let pick = |own: Option<&String>, default: &Option<String>| own.or(default.as_ref()).cloned();
    SshTarget {
        address,
        port: node.and_then(|node| node.port).or(defaults.port),
        user: pick(node.and_then(|node| node.user.as_ref()), &defaults.user),
        identity_file: pick(node.and_then(|node| node.identity_file.as_ref()), &defaults.identity_file),
        known_hosts: pick(node.and_then(|node| node.known_hosts.as_ref()), &defaults.known_hosts),
        jump: pick(node.and_then(|node| node.jump.as_ref()), &defaults.jump),
        work_dir: pick(node.and_then(|node| node.work_dir.as_ref()), &defaults.work_dir),
        shared_host: false,
        accept_new_host_keys: node
            .and_then(|node| node.accept_new_host_keys)
            .or(defaults.accept_new_host_keys)
            .unwrap_or(false),
        control_persist,
    }
}

/// Nodes that reach the same host as the same user, in the default working directory,
/// each work in a subdirectory named after the node, so they never share files.
fn mark_shared_hosts(nodes: &mut BTreeMap<String, Node>) {
    let mut per_host: HashMap<(String, Option<u16>, Option<String>), usize> = HashMap::new();
    let key = |target: &SshTarget| (target.address.clone(), target.port, target.user.clone());
    for node in nodes.values() {
        if let Transport::Ssh(target) = &node.transport
            && target.work_dir.is_none()
        {
            *per_host.entry(key(target)).or_default() += 1;
        }
    }
    for node in nodes.values_mut() {
        if let Transport::Ssh(target) = &mut node.transport
            && target.work_dir.is_none()
        {
            target.shared_host = per_host.get(&key(target)).is_some_and(|count| *count > 1);
        }
    }
}

/// The job settings of `ordo.yaml` (`jobs: {on_failure, max_failures}`), for every front end.
pub(super) fn job_settings(loader: &mut Loader) -> anyhow::Result<FailurePolicy> {
    const SETTINGS: &str = "ordo.yaml";
    let Some(settings) = read_yaml::<raw::RawRepositorySettings>(loader, SETTINGS)? else {
        return Ok(FailurePolicy::default());
    };
    let Some(jobs) = settings.jobs else {
        return Ok(FailurePolicy::default());
    };
    let mut policy = FailurePolicy::default();
    if let Some(on_failure) = &jobs.on_failure {
        policy.on_failure = OnFailure::parse(&on_failure.value);
        if policy.on_failure.is_none() {
            loader.diagnostics.push(
                Diagnostic::error(format!("jobs.on_failure must be `stop` or `continue`, not `{}`", on_failure.value))
                    .at(spanned_location(SETTINGS, on_failure)),
            );
        }
    }
    if let Some(max_failures) = &jobs.max_failures {
        policy.max_failures = MaxFailures::parse(&crate::model::display_value(&max_failures.value));
        if policy.max_failures.is_none() {
            loader.diagnostics.push(
                Diagnostic::error(format!(
                    "jobs.max_failures must be a number of nodes or a percentage such as `10%`, not `{}`",
                    crate::model::display_value(&max_failures.value)
                ))
                .at(spanned_location(SETTINGS, max_failures)),
            );
        }
    }
    Ok(policy)
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
