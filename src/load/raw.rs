//! The YAML files as written: serde types that mirror `inventory.yaml`, `site.yaml` and
//! `packages/NAME/package.yaml` key for key, with source locations on the values that
//! later checks point at. Validation and resolution happen in `yaml.rs`; this file only
//! describes shapes (unknown keys are rejected here, by serde).

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawInventory {
    #[serde(default)]
    pub defaults: RawNodeDefaults,
    #[serde(default)]
    pub nodes: Vec<RawNode>,
}

/// Declares an inventory entry with the settings a node and the inventory's `defaults`
/// share, written once here: serde's `flatten` cannot be combined with
/// `deny_unknown_fields`, which both entries need.
macro_rules! with_node_settings {
    ($(#[$attribute:meta])* pub struct $name:ident { $($(#[$field_attribute:meta])* pub $field:ident: $type:ty,)* }) => {
        $(#[$attribute])*
        pub struct $name {
            $($(#[$field_attribute])* pub $field: $type,)*
            pub transport: Option<RawTransport>,
            /// Ask Facter on each node for its facts (the inventory's facts still win).
            pub gather_facts: Option<bool>,
            pub user: Option<String>,
            pub port: Option<u16>,
            /// Seconds one node's run may take.
            pub timeout: Option<Spanned<u64>>,
            pub identity_file: Option<String>,
            pub known_hosts: Option<String>,
            pub jump: Option<String>,
            pub work_dir: Option<String>,
            pub accept_new_host_keys: Option<bool>,
            /// Seconds a node's connection stays open after a run, for the next one.
            pub control_persist: Option<Spanned<u64>>,
        }
    };
}

with_node_settings! {
    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct RawNodeDefaults {}
}

with_node_settings! {
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RawNode {
        pub name: Spanned<String>,
        pub address: Option<String>,
        #[serde(default)]
        pub labels: BTreeMap<String, String>,
        #[serde(default)]
        pub facts: serde_json::Map<String, Value>,
    }
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RawTransport {
    Local,
    Ssh,
}

/// `site.yaml`. Its instances are not kept here: each goes to the sink of
/// [`with_instance_sink`] the moment it is parsed, so expanding the first ones overlaps
/// parsing the rest, and a large site is never held whole.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSite {
    /// Parsing it sends the instances to the sink; there is nothing to read afterwards.
    #[allow(dead_code)]
    #[serde(default)]
    pub instances: InstanceStream,
}

/// Where the instances of `site.yaml` went (see [`RawSite`]).
#[derive(Debug, Default)]
pub struct InstanceStream;

thread_local! {
    /// The sink of the site being parsed on this thread.
    static INSTANCE_SINK: std::cell::RefCell<Option<std::sync::mpsc::Sender<RawInstance>>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs `parse` (which parses a [`RawSite`] on this thread) with its instances sent to
/// `sink` as they are parsed; the sink is closed when `parse` returns.
pub fn with_instance_sink<T>(sink: std::sync::mpsc::Sender<RawInstance>, parse: impl FnOnce() -> T) -> T {
    INSTANCE_SINK.with(|slot| *slot.borrow_mut() = Some(sink));
    let parsed = parse();
    INSTANCE_SINK.with(|slot| slot.borrow_mut().take());
    parsed
}

impl<'de> Deserialize<'de> for InstanceStream {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<InstanceStream, D::Error> {
        struct Instances;
        impl<'de> Visitor<'de> for Instances {
            type Value = InstanceStream;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a sequence")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<InstanceStream, A::Error> {
                while let Some(instance) = seq.next_element::<RawInstance>()? {
                    let sent = INSTANCE_SINK
                        .with(|slot| slot.borrow().as_ref().is_some_and(|sink| sink.send(instance).is_ok()));
                    if !sent {
                        return Err(de::Error::custom("nothing reads the instances of this site"));
                    }
                }
                Ok(InstanceStream)
            }
        }
        deserializer.deserialize_seq(Instances)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInstance {
    /// The package whose application this instantiates: `lamp` or `lamp@1.0.0`.
    pub application: Spanned<String>,
    pub title: Spanned<String>,
    pub profile: Option<Spanned<String>>,
    #[serde(default)]
    pub parameters: BTreeMap<String, Spanned<Value>>,
    /// Node name to the component reference(s) it hosts.
    #[serde(default)]
    pub nodes: BTreeMap<String, Spanned<OneOrMany>>,
    /// Parameters set on single components, by reference; they win over the application's.
    #[serde(default)]
    pub overrides: BTreeMap<String, BTreeMap<String, Spanned<Value>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPackage {
    pub name: Spanned<String>,
    pub version: Spanned<String>,
    /// For people reading the file; accepted and not used.
    #[allow(dead_code)]
    pub description: Option<String>,
    /// The application's parameters: what a site may set.
    #[serde(default)]
    pub parameters: BTreeMap<String, RawParamSpec>,
    /// Named parameter sets a site can pick.
    #[serde(default)]
    pub profiles: BTreeMap<String, BTreeMap<String, Spanned<Value>>>,
    /// Capability types this package defines.
    #[serde(default)]
    pub capabilities: BTreeMap<String, RawCapabilityType>,
    /// Component types, by type name (`Lamp::Db`).
    #[serde(default)]
    pub components: BTreeMap<String, RawComponentType>,
    pub application: RawApplication,
}

/// A parameter template: `port: integer` or `port: {type: integer, default: 80}`.
#[derive(Debug, Default)]
pub struct RawParamSpec {
    pub kind: Option<ParamType>,
    pub default: Option<Spanned<Value>>,
    pub mandatory: bool,
    pub secret: bool,
    /// For people reading the file; accepted and not used.
    #[allow(dead_code)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    String,
    Integer,
    Number,
    Boolean,
    Array,
    Hash,
    Any,
}

impl ParamType {
    /// The Puppet data type name, used in messages.
    pub fn puppet_name(self) -> &'static str {
        match self {
            ParamType::String => "String",
            ParamType::Integer => "Integer",
            ParamType::Number => "Numeric",
            ParamType::Boolean => "Boolean",
            ParamType::Array => "Array",
            ParamType::Hash => "Hash",
            ParamType::Any => "Any",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParamFull {
    #[serde(rename = "type")]
    kind: Option<ParamType>,
    default: Option<Spanned<Value>>,
    #[serde(default)]
    mandatory: bool,
    #[serde(default)]
    secret: bool,
    description: Option<String>,
}

impl<'de> Deserialize<'de> for RawParamSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SpecVisitor;
        impl<'de> Visitor<'de> for SpecVisitor {
            type Value = RawParamSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a type name or a map with type, default, mandatory, secret")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<RawParamSpec, E> {
                let kind = ParamType::deserialize(de::value::StrDeserializer::<E>::new(text))?;
                Ok(RawParamSpec { kind: Some(kind), ..RawParamSpec::default() })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawParamSpec, A::Error> {
                let full = RawParamFull::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawParamSpec {
                    kind: full.kind,
                    default: full.default,
                    mandatory: full.mandatory,
                    secret: full.secret,
                    description: full.description,
                })
            }
        }
        deserializer.deserialize_any(SpecVisitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCapabilityType {
    #[serde(default)]
    pub attributes: BTreeMap<String, RawParamSpec>,
    pub check: Option<RawCheck>,
}

/// An availability check; exactly one of `tcp`, `http`, `command`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    pub tcp: Option<Spanned<String>>,
    pub http: Option<Spanned<String>>,
    pub command: Option<Spanned<String>>,
    /// HTTP statuses that pass (any below 400 when absent).
    pub status_codes: Option<Vec<u16>>,
    /// The node a `command` runs on (this machine when absent).
    pub node: Option<Spanned<String>>,
    /// Seconds to keep retrying before the job stops.
    pub timeout: Option<Spanned<u64>>,
    /// Seconds between two attempts.
    pub ping_interval: Option<u64>,
}

/// The repository's settings file, `ordo.yaml`, as far as jobs read it; the Puppet front
/// end reads its own keys from the same file.
#[derive(Debug, Deserialize, Default)]
pub struct RawRepositorySettings {
    pub jobs: Option<RawJobSettings>,
}

/// How jobs of this repository handle failed nodes.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawJobSettings {
    pub on_failure: Option<Spanned<String>>,
    /// `N` nodes or `P%` of a group; a number or a string.
    pub max_failures: Option<Spanned<Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawComponentType {
    #[serde(default)]
    pub parameters: BTreeMap<String, RawParamSpec>,
    /// Capability type to attribute mapping, evaluated in the producer's scope.
    #[serde(default)]
    pub produces: BTreeMap<String, BTreeMap<String, Spanned<Value>>>,
    /// Capability type to parameter mapping, evaluated in the capability's attributes.
    #[serde(default)]
    pub consumes: BTreeMap<String, BTreeMap<String, Spanned<Value>>>,
    pub scripts: RawScripts,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScripts {
    pub apply: Spanned<String>,
    pub check: Option<Spanned<String>>,
    pub remove: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApplication {
    /// The application type, as in `application lamp`: instances are `Lamp[title]`.
    pub name: Spanned<String>,
    pub components: Vec<RawAppComponent>,
}

/// One component declaration inside the application (`lamp::db { $name: ... }`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAppComponent {
    pub component: Spanned<String>,
    pub title: Spanned<String>,
    /// Declares this many components; `${index}` runs from 1.
    pub count: Option<Spanned<Value>>,
    #[serde(default)]
    pub parameters: BTreeMap<String, Spanned<Value>>,
    pub export: Option<Spanned<OneOrMany>>,
    pub consume: Option<Spanned<OneOrMany>>,
    pub require: Option<Spanned<OneOrMany>>,
}

/// A string or a list of strings; list items keep their own locations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OneOrMany(pub Vec<Spanned<String>>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OneOrManyVisitor;
        impl<'de> Visitor<'de> for OneOrManyVisitor {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a reference such as Sql[app1], or a list of them")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<OneOrMany, E> {
                // A single string's location is the enclosing `Spanned`'s.
                let unknown = serde_saphyr::Location::UNKNOWN;
                Ok(OneOrMany(vec![Spanned::new(text.to_string(), unknown, unknown)]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<String>>()? {
                    items.push(item);
                }
                Ok(OneOrMany(items))
            }
        }
        deserializer.deserialize_any(OneOrManyVisitor)
    }
}
