//! The desired state: what the repository says should be true.
//!
//! A [`Model`] is built by a front end in `load` (YAML packages and sites, later Puppet
//! code) and consumed by `plan`. It is plain data with every value already resolved:
//! parameters carry their final values, capability values have flowed from producers into
//! consumers, and each component knows its node and the code that implements it. Nothing
//! here does IO, and every collection is ordered, so iterating a model is deterministic.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::diag::Location;

/// A resolved parameter value and whether it must never be shown.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub value: Value,
    pub secret: bool,
}

/// Parameters by name, ordered.
pub type Params = NameMap<Param>;

/// Values by name, ordered: a vector sorted by name. A component has a handful of
/// parameters, and a site hundreds of thousands of components; a B-tree would allocate room
/// for eleven entries for each of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameMap<V>(Vec<(String, V)>);

impl<V> Default for NameMap<V> {
    fn default() -> Self {
        NameMap(Vec::new())
    }
}

impl<V> NameMap<V> {
    pub fn new() -> NameMap<V> {
        NameMap::default()
    }

    /// Room for `capacity` values: a map that grew one insert at a time keeps room for four
    /// or more, which a component with one or two parameters would pay for.
    pub fn with_capacity(capacity: usize) -> NameMap<V> {
        NameMap(Vec::with_capacity(capacity))
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(key, _)| key.as_str().cmp(name))
    }

    /// Sets a value; the previous one, if there was one.
    pub fn insert(&mut self, name: String, value: V) -> Option<V> {
        match self.position(&name) {
            Ok(index) => Some(std::mem::replace(&mut self.0[index].1, value)),
            Err(index) => {
                self.0.insert(index, (name, value));
                None
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<&V> {
        self.position(name).ok().map(|index| &self.0[index].1)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.position(name).is_ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Names and values, in name order.
    pub fn iter(&self) -> NameMapIter<'_, V> {
        self.0.iter().map(|(name, value)| (name, value))
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(name, _)| name)
    }

    /// Keeps only the entries `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&String, &mut V) -> bool) {
        self.0.retain_mut(|(name, value)| keep(name, value));
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, value)| value)
    }
}

/// The iterator of [`NameMap::iter`].
pub type NameMapIter<'a, V> =
    std::iter::Map<std::slice::Iter<'a, (String, V)>, fn(&'a (String, V)) -> (&'a String, &'a V)>;

impl<'a, V> IntoIterator for &'a NameMap<V> {
    type Item = (&'a String, &'a V);
    type IntoIter = NameMapIter<'a, V>;

    fn into_iter(self) -> NameMapIter<'a, V> {
        self.iter()
    }
}

impl<V> IntoIterator for NameMap<V> {
    type Item = (String, V);
    type IntoIter = std::vec::IntoIter<(String, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<V> FromIterator<(String, V)> for NameMap<V> {
    /// Sorted by name; of equal names the last is kept, as in a map collected from them.
    fn from_iter<I: IntoIterator<Item = (String, V)>>(items: I) -> NameMap<V> {
        let mut map = NameMap(items.into_iter().collect());
        map.0.reverse();
        map.0.sort_by(|a, b| a.0.cmp(&b.0));
        map.0.dedup_by(|later, earlier| later.0 == earlier.0);
        map
    }
}

impl<V, const N: usize> From<[(String, V); N]> for NameMap<V> {
    fn from(items: [(String, V); N]) -> NameMap<V> {
        items.into_iter().collect()
    }
}

/// Written as a JSON object (a map), keys in order.
impl<V: serde::Serialize> serde::Serialize for NameMap<V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de, V: serde::Deserialize<'de>> serde::Deserialize<'de> for NameMap<V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<NameMap<V>, D::Error> {
        struct Visitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: serde::Deserialize<'de>> serde::de::Visitor<'de> for Visitor<V> {
            type Value = NameMap<V>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<NameMap<V>, A::Error> {
                let mut items = Vec::with_capacity(access.size_hint().unwrap_or(0).min(64));
                while let Some(item) = access.next_entry()? {
                    items.push(item);
                }
                Ok(items.into_iter().collect())
            }
        }
        deserializer.deserialize_map(Visitor(std::marker::PhantomData))
    }
}

/// The whole desired state of one environment at one revision.
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub nodes: BTreeMap<String, Node>,
    /// Application instances, ordered by reference.
    pub applications: Vec<Application>,
    /// Components, ordered by reference; the index is used as a component id.
    pub components: Vec<Component>,
    /// Capability instances by reference (`Sql[app1]`).
    pub capabilities: BTreeMap<String, Capability>,
    /// Component dependencies, ordered by (from, to).
    pub edges: Vec<Edge>,
    /// How the repository asks jobs to handle failed nodes (`ordo.yaml`'s `jobs`).
    pub policy: FailurePolicy,
}

/// What a job does after a node fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFailure {
    /// Finish the group, start nothing after it.
    #[default]
    Stop,
    /// Keep running every node that does not depend on a failed one.
    Continue,
}

impl OnFailure {
    pub fn parse(text: &str) -> Option<OnFailure> {
        match text {
            "stop" => Some(OnFailure::Stop),
            "continue" => Some(OnFailure::Continue),
            _ => None,
        }
    }
}

/// How many failed nodes a group tolerates before it starts no more of its nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxFailures {
    Count(usize),
    /// A percentage of the group's nodes.
    Percent(u32),
}

impl MaxFailures {
    /// `3` or `10%`.
    pub fn parse(text: &str) -> Option<MaxFailures> {
        let text = text.trim();
        match text.strip_suffix('%') {
            Some(percent) => percent.trim().parse().ok().filter(|percent| *percent <= 100).map(MaxFailures::Percent),
            None => text.parse().ok().map(MaxFailures::Count),
        }
    }

    /// Whether `failures` among a group of `n_nodes` is more than this allows.
    pub fn exceeded(self, failures: usize, n_nodes: usize) -> bool {
        match self {
            MaxFailures::Count(limit) => failures > limit,
            MaxFailures::Percent(percent) => failures * 100 > percent as usize * n_nodes,
        }
    }
}

impl std::fmt::Display for MaxFailures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MaxFailures::Count(limit) => write!(f, "{limit}"),
            MaxFailures::Percent(percent) => write!(f, "{percent}%"),
        }
    }
}

/// A failure policy; what is left unset falls back to the next source (command line, then
/// `ordo.yaml` or the controller's configuration, then the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FailurePolicy {
    pub on_failure: Option<OnFailure>,
    pub max_failures: Option<MaxFailures>,
}

impl FailurePolicy {
    /// This policy, with what it leaves unset taken from `fallback`.
    pub fn or(self, fallback: FailurePolicy) -> FailurePolicy {
        FailurePolicy {
            on_failure: self.on_failure.or(fallback.on_failure),
            max_failures: self.max_failures.or(fallback.max_failures),
        }
    }
}

impl Model {
    pub fn component(&self, reference: &str) -> Option<&Component> {
        self.component_index(reference).map(|index| &self.components[index])
    }

    /// Where the component named `reference` is in [`Model::components`] (sorted by reference).
    pub fn component_index(&self, reference: &str) -> Option<usize> {
        self.components.binary_search_by(|component| component.reference.as_str().cmp(reference)).ok()
    }

    /// Components by node, each list in component order.
    pub fn components_by_node(&self) -> BTreeMap<&str, Vec<&Component>> {
        let mut by_node: BTreeMap<&str, Vec<&Component>> = BTreeMap::new();
        for component in &self.components {
            by_node.entry(component.node.as_str()).or_default().push(component);
        }
        by_node
    }
}

/// How ordo reaches a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// A working directory on this machine, under the state directory.
    Local,
    /// A machine reached with the system `ssh` client.
    Ssh(Box<SshTarget>),
    /// Named by the code but absent from the inventory (which sets no default transport):
    /// shown and planned, never run.
    Unknown,
}

impl Transport {
    pub fn name(&self) -> &'static str {
        match self {
            Transport::Local => "local",
            Transport::Ssh(_) => "ssh",
            Transport::Unknown => "unknown",
        }
    }
}

/// How to reach a node over SSH: the inventory's keys, as written (what is left out is
/// left to the user's OpenSSH configuration, as for `ssh` itself).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SshTarget {
    /// A host name, an address, or a `Host` alias of `~/.ssh/config`.
    pub address: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub identity_file: Option<String>,
    /// The known-hosts file host keys are checked against; the user's own when `None`.
    pub known_hosts: Option<String>,
    /// A bastion to jump through (`ssh -J`).
    pub jump: Option<String>,
    /// Where components run on the node; `None` for the default (`/var/lib/ordo` for root,
    /// `~/.ordo` otherwise).
    pub work_dir: Option<String>,
    /// Several node names share this host and the default working directory: each node
    /// then works in a subdirectory named after it.
    pub shared_host: bool,
    /// Trust a host key seen for the first time (it is then recorded); a changed key is
    /// refused whatever this says.
    pub accept_new_host_keys: bool,
    /// Seconds the node's connection stays open after a run, for the next run to use
    /// (`ControlPersist`); 0: each run opens and closes its own.
    pub control_persist: u64,
}

/// A machine that components are applied to.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub transport: Transport,
    pub labels: BTreeMap<String, String>,
    /// Known facts (`fqdn`, `ipaddress`, ...), available to capability mappings.
    pub facts: serde_json::Map<String, Value>,
    /// How long one node's run may take before it is stopped and failed.
    pub timeout_secs: u64,
}

/// One use of an application definition (`Lamp[app1]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Application {
    pub reference: String,
    /// References of the components it declares, in declaration order.
    pub components: Vec<String>,
    pub origin: Option<Location>,
}

/// One unit of configuration on one node (`Lamp::Db[app1]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub reference: String,
    pub type_name: String,
    pub title: String,
    /// The application instance it belongs to.
    pub application: String,
    pub node: String,
    pub parameters: Params,
    pub implementation: Implementation,
    /// Identity of the code that implements it: the Git tree id of its package directory,
    /// shared by every component of the package.
    pub code_id: Arc<str>,
    /// Capability references this component produces, consumes and requires.
    pub produces: Vec<String>,
    pub consumes: Vec<String>,
    pub requires: Vec<String>,
    pub origin: Option<Location>,
}

/// What runs on the node to converge a component.
#[derive(Debug, Clone, PartialEq)]
pub enum Implementation {
    /// A deployment package's scripts, shared by every component of their type.
    Scripts(Arc<Scripts>),
    /// A Puppet defined type or class, applied with `puppet apply` in its node's catalog.
    Puppet(PuppetComponent),
    /// Read from an environment graph: ordered and planned, but there is no code to run.
    Graph,
}

/// A component implemented in Puppet code.
#[derive(Debug, Clone, PartialEq)]
pub struct PuppetComponent {
    /// The Puppet name of its type, as declared in code (`lamp::db`); empty for a node's own
    /// catalog (`Node[NAME]`: the main manifest's node definitions and top-scope code), which
    /// declares nothing more.
    pub puppet_type: String,
    /// Declared as a class (`class { 'x': }`) rather than as a defined type.
    pub is_class: bool,
    /// The module path the node's `puppet apply` uses, orchestration statements removed.
    pub code: Arc<PuppetCode>,
}

/// The lowered module path of an environment: every module file, with the
/// application-orchestration statements blanked out so Puppet 7 accepts them.
#[derive(Debug, Clone, PartialEq)]
pub struct PuppetCode {
    /// A digest of every file, naming this module path's content.
    pub code_id: String,
    /// The module path's directories, relative to the repository (`modules`, `site-modules`).
    pub modulepath: Vec<String>,
    /// Files relative to the repository (`modules/lamp/manifests/db.pp`).
    pub files: Vec<PackageFile>,
    /// The main manifest, orchestration blanked out: its node definitions and top-scope code
    /// are part of every node's run, as they were of a node's catalog under PE.
    pub main_manifest: MainManifest,
}

/// The main manifest's files as one manifest, with the application-orchestration statements
/// blanked out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MainManifest {
    pub text: String,
    /// A digest of `text`.
    pub digest: String,
}

/// The scripts of a package component, read from the revision being planned, with the
/// whole package they belong to (scripts may use files beside them, such as templates).
#[derive(Debug, Clone, PartialEq)]
pub struct Scripts {
    pub apply: Script,
    pub check: Option<Script>,
    pub remove: Option<Script>,
    pub package: Arc<PackageFiles>,
}

/// One script: its path inside the package directory and its contents.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub path: String,
    pub content: Arc<Vec<u8>>,
}

/// Every file of a package directory at the revision being planned.
#[derive(Debug, Clone, PartialEq)]
pub struct PackageFiles {
    pub name: String,
    /// The Git tree id of the package directory: names the files' content.
    pub code_id: String,
    pub files: Vec<PackageFile>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PackageFile {
    /// The path inside the package directory, with `/` separators.
    pub path: String,
    pub content: Vec<u8>,
    pub executable: bool,
}

/// A capability instance: typed data one component produces for others (`Sql[app1]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Capability {
    pub reference: String,
    pub producer: String,
    pub attributes: Params,
    pub check: Option<AvailabilityCheck>,
}

/// A test that a produced capability is really available before its consumers run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailabilityCheck {
    pub kind: CheckKind,
    /// How long to keep trying before giving up.
    pub timeout_secs: u64,
    /// How long to wait between two attempts.
    pub ping_interval_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    /// Connect to `host:port`.
    Tcp { address: String },
    /// GET a URL and expect one of `status_codes` (any status below 400 when empty),
    /// following redirects.
    Http { url: String, status_codes: Vec<u16> },
    /// Run a command (`sh -c`) on `node`, or on this machine; exit 0 means available. Values
    /// are never in `command`'s text: it refers to them as environment variables, in `env`.
    Command { command: String, env: Vec<(String, String)>, node: Option<String> },
}

/// A dependency between two components, by index into [`Model::components`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    /// The capability that carries data along the edge; `None` for a plain `require`.
    pub capability: Option<String>,
}

/// How a value reads inside a string, in a script's environment and as a Puppet fact:
/// strings as they are, `undef`/null as nothing, anything else as JSON.
pub fn display_value(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The longest node or environment name: a DNS name's limit.
pub const MAX_NAME_LEN: usize = 253;

/// Why `name` is not a valid node name, or `None` when it is one.
///
/// A node name is what a DNS name or an SSH `Host` alias allows: labels of ASCII letters,
/// digits, `-` and `_`, each 1 to 63 characters long and neither starting nor ending with
/// `-`, joined by single dots; at most 253 characters in all. So a name is never `.`, `..`,
/// a path, or text with spaces, control characters or NUL: it can be a file name, a lock
/// name and a word on a command line as it is.
pub fn node_name_problem(name: &str) -> Option<String> {
    name_problem(name)
}

/// Why `name` is not a valid environment name, or `None` when it is one; the rule is the
/// node names' (`production`, `staging-eu`, `pr-42`).
pub fn environment_name_problem(name: &str) -> Option<String> {
    name_problem(name)
}

fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("it is empty".to_string());
    }
    if name.len() > MAX_NAME_LEN {
        return Some(format!("it is {} bytes long, more than {MAX_NAME_LEN}", name.len()));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        return Some(format!(
            "it contains {}, and only ASCII letters, digits, `-`, `_` and `.` are allowed",
            describe_char(bad)
        ));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Some("it has an empty label: it starts or ends with `.`, or has `..`".to_string());
        }
        if label.len() > 63 {
            return Some(format!("its label `{}...` is longer than 63 characters", &label[..20]));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some(format!("its label `{label}` starts or ends with `-`"));
        }
    }
    None
}

/// A character as a message shows it: printable ones quoted, others by code point.
fn describe_char(c: char) -> String {
    if c.is_control() || c.is_whitespace() { format!("the character U+{:04X}", u32::from(c)) } else { format!("`{c}`") }
}

/// Splits `Type[title]` into its type and title.
pub fn split_reference(reference: &str) -> Option<(&str, &str)> {
    let open = reference.find('[')?;
    let inner = reference[open + 1..].strip_suffix(']')?;
    let type_name = &reference[..open];
    let title = inner.trim_matches(|c| c == '\'' || c == '"');
    (!type_name.is_empty() && !title.is_empty()).then_some((type_name, title))
}

/// A reference in Puppet's normal form: `pasture_app::db[x]` is `Pasture_app::Db[x]`; text
/// that is not a reference is returned as it is.
pub fn normalize_reference(reference: &str) -> String {
    match split_reference(reference) {
        Some((type_name, _)) => format!("{}{}", capitalize_type(type_name), &reference[type_name.len()..]),
        None => reference.to_string(),
    }
}

/// Puppet's normal form of a type name, which makes names case-insensitive: each `::`
/// segment capitalised as Ruby's `String#capitalize` does (first letter upper case, the rest
/// lower case), a leading `::` dropped. `pasture_APP::db` is `Pasture_app::Db`.
pub fn capitalize_type(name: &str) -> String {
    let mut capitalized = String::with_capacity(name.len());
    for (index, segment) in name.trim_start_matches("::").split("::").enumerate() {
        if index > 0 {
            capitalized.push_str("::");
        }
        capitalized.extend(capitalized_segment(segment));
    }
    capitalized
}

/// Whether `name`, as written in a package or manifest, names the type `type_name` (as
/// [`capitalize_type`] writes it): `lamp::db` names `Lamp::Db`. Compares without building
/// the capitalized name, since it runs for every mapping of every component.
pub fn names_type(name: &str, type_name: &str) -> bool {
    let mut written = name.trim_start_matches("::").split("::");
    let mut canonical = type_name.split("::");
    loop {
        match (written.next(), canonical.next()) {
            (None, None) => return true,
            (Some(segment), Some(expected)) if capitalized_segment(segment).eq(expected.chars()) => {}
            _ => return false,
        }
    }
}

/// A segment of a type name with its first letter upper case and the rest lower case.
fn capitalized_segment(segment: &str) -> impl Iterator<Item = char> + '_ {
    let mut chars = segment.chars();
    let first = chars.next().into_iter().flat_map(char::to_uppercase);
    first.chain(chars.flat_map(char::to_lowercase))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A script component with no parameters, for tests of later stages.
    pub(crate) fn component(reference: &str, node: &str) -> Component {
        let (type_name, title) = split_reference(reference).expect("a test reference is valid");
        let script = Script { path: "apply".into(), content: Arc::new(b"#!/bin/true\n".to_vec()) };
        Component {
            reference: reference.into(),
            type_name: type_name.into(),
            title: title.into(),
            application: "App[a]".into(),
            node: node.into(),
            parameters: Params::new(),
            implementation: Implementation::Scripts(Arc::new(Scripts {
                apply: script,
                check: None,
                remove: None,
                package: Arc::new(PackageFiles { name: "p".into(), code_id: "0".repeat(40), files: Vec::new() }),
            })),
            code_id: "0".repeat(40).into(),
            produces: Vec::new(),
            consumes: Vec::new(),
            requires: Vec::new(),
            origin: None,
        }
    }

    #[test]
    fn node_names_are_dns_names_or_ssh_aliases() {
        for good in ["db1", "db1.example.net", "web_2", "a-b.c", "10.0.0.1", &"a".repeat(63)] {
            assert_eq!(node_name_problem(good), None, "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../../escape",
            "/abs/path",
            "a/b",
            "a\0b",
            "a\nb",
            "a b",
            "-a",
            "a-",
            "a..b",
            "a.",
            ".a",
            "\u{1b}[31m",
            "é",
        ] {
            assert!(node_name_problem(bad).is_some(), "{bad:?}");
        }
        assert!(node_name_problem(&"a".repeat(64)).is_some());
        assert!(node_name_problem(&["a"; 130].join(".")).is_some());
        assert_eq!(
            node_name_problem("a\nb").unwrap(),
            "it contains the character U+000A, and only ASCII letters, digits, `-`, `_` and `.` are allowed"
        );
    }

    #[test]
    fn references_split_and_types_capitalise() {
        assert_eq!(split_reference("Lamp::Db[app1]"), Some(("Lamp::Db", "app1")));
        assert_eq!(split_reference("Sql['x']"), Some(("Sql", "x")));
        assert_eq!(split_reference("Sql"), None);
        assert_eq!(capitalize_type("lamp::db"), "Lamp::Db");
        assert_eq!(capitalize_type("::Pasture_App::dB"), "Pasture_app::Db");
        for (name, type_name) in [("lamp::db", "Lamp::Db"), ("::Pasture_App::dB", "Pasture_app::Db"), ("sql", "Sql")] {
            assert!(names_type(name, type_name), "{name}");
        }
        for (name, type_name) in [("lamp::db", "Lamp"), ("lamp", "Lamp::Db"), ("lamp::dbx", "Lamp::Db"), ("", "Sql")] {
            assert!(!names_type(name, type_name), "{name}");
        }
        assert_eq!(normalize_reference("pasture_APP::db['x']"), "Pasture_app::Db['x']");
    }
}
