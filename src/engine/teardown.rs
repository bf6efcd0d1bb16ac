//! Teardowns see what apply saw: a removed component's full parameters, secrets included,
//! resolved again from the revision that applied it, read from Git.
//!
//! The store never holds a secret, only its salted digest. So the revision recorded with the
//! component is loaded again, the component found in it, and its parameters used only when
//! they digest exactly as recorded; otherwise (the revision is gone, or was a changed working
//! tree) the teardown gets the non-secret parameters, as recorded.

use std::collections::{BTreeMap, HashMap};

use crate::load::{self, LoadOptions};
use crate::model::Params;
use crate::plan::{Inventory, Plan, inventory};
use crate::source::Snapshot;

/// Full parameters of the components a plan tears down, by (component, node), for those
/// whose applied revision could be read again.
pub fn resolve(
    snapshot: &Snapshot,
    inventory: &Inventory,
    plan: &Plan,
    options: LoadOptions,
    salt: &[u8],
) -> HashMap<(String, String), Params> {
    let mut by_commit: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (node, components) in &plan.teardowns {
        for component in components {
            let key = (component.clone(), node.clone());
            let commit =
                inventory.components.get(&key).and_then(|applied| applied.revision.as_deref()).and_then(commit_of);
            if let Some(commit) = commit {
                by_commit.entry(commit).or_default().push(key);
            }
        }
    }
    let mut resolved = HashMap::new();
    for (commit, keys) in by_commit {
        let loaded = match snapshot.at_commit(&commit).and_then(|old| load::load(&old, options)) {
            Ok(loaded) => loaded,
            Err(err) => {
                tracing::warn!(commit, error = %format!("{err:#}"), "the applied revision cannot be read for teardown");
                continue;
            }
        };
        for key in keys {
            let (Some(component), Some(applied)) = (loaded.model.component(&key.0), inventory.components.get(&key))
            else {
                continue;
            };
            if component.node == key.1 && inventory::stored_parameters(component, salt) == applied.parameters {
                resolved.insert(key, component.parameters.clone());
            }
        }
    }
    resolved
}

/// The commit of a revision as recorded (`main@sha1:SHA`), unless it was a changed working
/// tree, whose files are not in Git.
fn commit_of(revision: &str) -> Option<String> {
    let sha = revision.rsplit_once("sha1:")?.1;
    (!sha.ends_with("-dirty") && sha.len() == 40 && sha.bytes().all(|byte| byte.is_ascii_hexdigit()))
        .then(|| sha.to_string())
}
