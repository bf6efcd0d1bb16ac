//! The inventory: what was last applied, component by component.
//!
//! This is the plain-data form of the store's state that planning diffs against. It holds
//! digests, never secret values: a secret parameter is kept as a salted digest, enough to
//! tell whether it changed and nothing more. An inventory can also be computed from a
//! model, which is how `plan --base REV` plans one commit against another.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::model::{Component, Implementation, Model, NameMap};
use crate::text::{hex, is_hex_of};

/// A parameter as stored: its value, or only a digest when it is secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoredValue {
    Value(Value),
    Sensitive(String),
}

/// One applied component on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedComponent {
    pub reference: String,
    pub node: String,
    pub application: String,
    pub type_name: String,
    pub parameters: NameMap<StoredValue>,
    pub code_id: String,
    /// Digest over everything that makes the component change: parameters, code, node.
    pub digest: String,
    /// Components this one depended on when applied, to tear down in reverse order.
    pub depends_on: Vec<String>,
    /// The remove script as applied, so a component can be torn down after its package is gone.
    #[serde(default, with = "script_bytes")]
    pub remove_script: Option<Vec<u8>>,
    /// The package whose copy (named by `code_id`) ran it, for a script component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// The digest of the lowered module path that applied it, for a Puppet component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub puppet_code: Option<String>,
    /// The revision it was applied at, to read its full parameters (secrets too) from Git
    /// when it is torn down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

/// Everything applied in one environment, keyed by (component, node).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    pub revision: Option<String>,
    pub components: BTreeMap<(String, String), AppliedComponent>,
    /// The components of the model being planned (by index) known to be exactly as
    /// applied, on the node it names, read from the store by key and digest alone (see
    /// [`Unchanged`]): nothing plans them, so their records are not read. Empty for an
    /// inventory read whole.
    unchanged: Vec<bool>,
}

impl Inventory {
    /// Whether the model's component at `index` is known to be exactly as applied.
    pub fn is_unchanged(&self, index: usize) -> bool {
        self.unchanged.get(index).copied().unwrap_or(false)
    }

    /// Records that the model's component at `index` is exactly as applied.
    pub fn set_unchanged(&mut self, index: usize) {
        if self.unchanged.len() <= index {
            self.unchanged.resize(index + 1, false);
        }
        self.unchanged[index] = true;
    }
}

/// Tells the store which applied components need no record because the model wants them
/// exactly as they were applied: the component is on the same node with the same digest.
/// Reading only keys and digests for those keeps a plan without changes from reading and
/// holding every record of a large site.
pub struct Unchanged<'a> {
    model: &'a Model,
    salt: &'a [u8],
    /// Each component's digest, by its index in the model: computed at the first question,
    /// on every core, rather than one by one as the store's rows are read; never for a store
    /// with nothing applied.
    digests: std::cell::OnceCell<Vec<[u8; 32]>>,
    /// Where the last component asked about was found: the store lists components in
    /// reference order, as the model holds them, so the next is usually the same or the one
    /// after, found without a search.
    last: std::cell::Cell<usize>,
}

impl<'a> Unchanged<'a> {
    pub fn new(model: &'a Model, salt: &'a [u8]) -> Unchanged<'a> {
        Unchanged { model, salt, digests: std::cell::OnceCell::new(), last: std::cell::Cell::new(0) }
    }

    /// The index in the model of the component applied on `node` with `digest`, when that is
    /// what the model wants.
    pub fn find(&self, component: &str, node: &str, digest: &str) -> Option<usize> {
        let components = &self.model.components;
        let last = self.last.get();
        let index = match [last, last + 1]
            .into_iter()
            .find(|&index| components.get(index).is_some_and(|desired| desired.reference == component))
        {
            Some(index) => index,
            None => self.model.component_index(component)?,
        };
        self.last.set(index);
        (components[index].node == node && digest_text_is(digest, &self.digests()[index])).then_some(index)
    }

    fn digests(&self) -> &[[u8; 32]] {
        let salt = self.salt;
        self.digests.get_or_init(|| {
            crate::parallel::map(&self.model.components, PARALLEL_DIGESTS, |component| {
                let parameters = StoredView { parameters: &component.parameters, salt };
                digest_bytes(&component.node, &component.code_id, &parameters)
            })
        })
    }
}

/// Fewer components than this are hashed on the calling thread.
const PARALLEL_DIGESTS: usize = 4096;

/// Whether `text` is the written form (`sha256:` and lowercase hex) of `digest`.
fn digest_text_is(text: &str, digest: &[u8; 32]) -> bool {
    text.strip_prefix("sha256:").is_some_and(|written| is_hex_of(written, digest))
}

impl Inventory {
    /// The inventory a successful apply of the whole model would leave.
    pub fn from_model(model: &Model, salt: &[u8]) -> Inventory {
        let dependencies = dependencies(model);
        let components = model
            .components
            .iter()
            .zip(dependencies)
            .map(|(component, depends_on)| {
                let applied = applied_component(component, depends_on, salt);
                ((applied.reference.clone(), applied.node.clone()), applied)
            })
            .collect();
        Inventory { revision: None, components, unchanged: Vec::new() }
    }
}

/// What the store records when a component has been applied.
pub fn applied_component(component: &Component, depends_on: Vec<String>, salt: &[u8]) -> AppliedComponent {
    let parameters = stored_parameters(component, salt);
    let remove_script = match &component.implementation {
        Implementation::Scripts(scripts) => scripts.remove.as_ref().map(|script| script.content.to_vec()),
        Implementation::Puppet(_) | Implementation::Graph => None,
    };
    let (package, puppet_code) = match &component.implementation {
        Implementation::Scripts(scripts) => (Some(scripts.package.name.clone()), None),
        Implementation::Puppet(puppet) => (None, Some(puppet.code.code_id.clone())),
        Implementation::Graph => (None, None),
    };
    AppliedComponent {
        reference: component.reference.clone(),
        node: component.node.clone(),
        application: component.application.clone(),
        type_name: component.type_name.clone(),
        digest: digest(&component.node, &component.code_id, &parameters),
        parameters,
        code_id: component.code_id.to_string(),
        depends_on,
        remove_script,
        package,
        puppet_code,
        revision: None,
    }
}

/// For each component (by index), the references of the components it depends on.
pub fn dependencies(model: &Model) -> Vec<Vec<String>> {
    let mut dependencies = vec![Vec::new(); model.components.len()];
    for edge in &model.edges {
        dependencies[edge.to].push(model.components[edge.from].reference.clone());
    }
    dependencies
}

/// Parameters with secrets replaced by salted digests.
pub fn stored_parameters(component: &Component, salt: &[u8]) -> NameMap<StoredValue> {
    component
        .parameters
        .iter()
        .map(|(name, param)| {
            let stored = if param.secret {
                StoredValue::Sensitive(secret_digest(salt, &param.value))
            } else {
                StoredValue::Value(param.value.clone())
            };
            (name.clone(), stored)
        })
        .collect()
}

/// The digest of a component's inputs.
pub fn digest(node: &str, code_id: &str, parameters: &NameMap<StoredValue>) -> String {
    digest_of(node, code_id, parameters)
}

/// The digest a component would be recorded with, computed without building the record:
/// planning compares it against the inventory for every component.
pub fn component_digest(component: &Component, salt: &[u8]) -> String {
    digest_of(&component.node, &component.code_id, &StoredView { parameters: &component.parameters, salt })
}

/// Hashes the canonical JSON of a component's inputs (keys sorted) as it is written.
fn digest_of<P: Serialize>(node: &str, code_id: &str, parameters: &P) -> String {
    format!("sha256:{}", hex(&digest_bytes(node, code_id, parameters)))
}

/// The SHA-256 of the canonical JSON of a component's inputs.
fn digest_bytes<P: Serialize>(node: &str, code_id: &str, parameters: &P) -> [u8; 32] {
    #[derive(Serialize)]
    struct Input<'a, P> {
        code: &'a str,
        node: &'a str,
        parameters: &'a P,
    }
    // Written out whole and hashed at once: the hasher takes one long input faster than the
    // many short pieces the serializer writes.
    let mut json = Vec::with_capacity(256);
    serde_json::to_writer(&mut json, &Input { code: code_id, node, parameters })
        .expect("serialising plain data into memory cannot fail");
    Sha256::digest(&json).into()
}

/// Parameters serialised exactly as [`stored_parameters`] would store them, without copies.
struct StoredView<'a> {
    parameters: &'a crate::model::Params,
    salt: &'a [u8],
}

impl Serialize for StoredView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.parameters.len()))?;
        for (name, param) in self.parameters {
            if param.secret {
                map.serialize_entry(name, &StoredValue::Sensitive(secret_digest(self.salt, &param.value)))?;
            } else {
                map.serialize_entry(name, &SingleEntry("value", &param.value))?;
            }
        }
        map.end()
    }
}

/// `{"key": value}`: how serde writes `StoredValue::Value(value)`.
struct SingleEntry<'a>(&'static str, &'a Value);

impl Serialize for SingleEntry<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.0, self.1)?;
        map.end()
    }
}

pub fn secret_digest(salt: &[u8], value: &Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(value.to_string().as_bytes());
    format!("sha256:{}", hex(&hasher.finalize()))
}

/// A script as stored: as a JSON string when it is text (as scripts are), as an array of
/// bytes only when it is not. Records written as arrays before read either way.
mod script_bytes {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Stored<'a> {
        Text(std::borrow::Cow<'a, str>),
        Bytes(Vec<u8>),
    }

    pub fn serialize<S: Serializer>(script: &Option<Vec<u8>>, serializer: S) -> Result<S::Ok, S::Error> {
        match script.as_deref().map(|bytes| (bytes, std::str::from_utf8(bytes))) {
            None => serializer.serialize_none(),
            Some((_, Ok(text))) => serializer.serialize_some(&Stored::Text(text.into())),
            Some((bytes, Err(_))) => serializer.serialize_some(&Stored::Bytes(bytes.to_vec())),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<u8>>, D::Error> {
        Ok(Option::<Stored>::deserialize(deserializer)?.map(|stored| match stored {
            Stored::Text(text) => text.into_owned().into_bytes(),
            Stored::Bytes(bytes) => bytes,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Param;
    use serde_json::json;

    #[test]
    fn the_streamed_digest_equals_the_digest_of_the_record() {
        let mut component = crate::model::tests::component("C[x]", "n1");
        component.parameters.insert("port".into(), Param { value: json!(80), secret: false });
        component.parameters.insert("password".into(), Param { value: json!("s3cr3t"), secret: true });
        let record = applied_component(&component, Vec::new(), b"salt");
        assert_eq!(component_digest(&component, b"salt"), record.digest);
        assert_ne!(component_digest(&component, b"other salt"), record.digest);
        let canonical = serde_json::json!({"node": "n1", "code": &*component.code_id, "parameters": record.parameters});
        assert_eq!(record.digest, format!("sha256:{}", hex(&Sha256::digest(canonical.to_string().as_bytes()))));
    }

    #[test]
    fn remove_scripts_are_stored_as_text_and_read_in_either_form() {
        let mut record = applied_component(&crate::model::tests::component("C[x]", "n1"), Vec::new(), b"salt");
        record.remove_script = Some(b"#!/bin/sh\nrm -f \"$1\"\n".to_vec());
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["remove_script"], json!("#!/bin/sh\nrm -f \"$1\"\n"));
        assert_eq!(serde_json::from_value::<AppliedComponent>(json.clone()).unwrap(), record);
        // Written as an array of bytes: before, and still for a script that is not text.
        let mut old = json;
        old["remove_script"] = json!(b"#!/bin/sh\nrm -f \"$1\"\n".to_vec());
        assert_eq!(serde_json::from_value::<AppliedComponent>(old).unwrap(), record);
        record.remove_script = Some(vec![0xff, 0x00]);
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["remove_script"], json!([255, 0]));
        assert_eq!(serde_json::from_value::<AppliedComponent>(json).unwrap(), record);
        record.remove_script = None;
        assert_eq!(serde_json::from_value::<AppliedComponent>(serde_json::to_value(&record).unwrap()).unwrap(), record);
    }
}
