//! Hiera 5 data for `lookup()` and automatic parameter lookup: the environment's layer
//! (`hiera.yaml`, `data/`) and each module's (`modules/NAME/hiera.yaml`, `data/`), with the
//! hierarchy's paths interpolated from the variables of the scope looking up (facts among
//! them), the merge strategies `first`, `unique`, `hash` and `deep`, dotted keys, and
//! interpolation in values (`%{facts.x}`, `%{lookup('k')}`, `%{alias('k')}`, `%{literal('%')}`).
//!
//! `lookup_options` is read as Puppet's lookup adapter reads it: the hashes of every level
//! merged (`hash`), the environment's over those of the key's module, a key's entry found by
//! its name and else by the first pattern (`^...`) matching it. Its `merge` applies to a lookup
//! that names no strategy (automatic parameter lookup, `lookup('k')`); its `convert_to` is
//! applied by the evaluator ([`Hiera::key_options`]).
//!
//! [`read`] reads `hiera.yaml` files and every data file of their data directories up front,
//! through the snapshot, so a lookup itself does no IO. Backends other than `yaml_data` and
//! `json_data` (eyaml, custom Ruby backends) cannot be read without Ruby: [`read`] reports them
//! as errors naming the backend.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::layout::Layout;
use crate::diag::{Diagnostic, Location};
use crate::load::Loader;
use crate::load::puppet::value::Value;

/// How the values found at several levels combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// The value of the first level that has the key.
    First,
    /// Arrays (and single values) of all levels, flattened, duplicates removed.
    Unique,
    /// Hashes of all levels, keys of higher levels winning.
    Hash,
    /// Hashes merged recursively, arrays as `unique`.
    Deep,
}

impl Merge {
    /// `'first'`, `'unique'`, `'hash'`, `'deep'`, or `{'strategy' => ...}`; `undef` names none,
    /// which leaves the choice to `lookup_options`.
    pub fn from_value(value: &Value) -> Result<Option<Merge>, String> {
        let name = match value {
            Value::Hash(entries) => entries
                .iter()
                .find(|(key, _)| key.to_string() == "strategy")
                .map(|(_, value)| value.to_string())
                .unwrap_or_default(),
            Value::Undef => return Ok(None),
            other => other.to_string(),
        };
        match name.as_str() {
            "first" => Ok(Some(Merge::First)),
            "unique" => Ok(Some(Merge::Unique)),
            "hash" => Ok(Some(Merge::Hash)),
            "deep" => Ok(Some(Merge::Deep)),
            other => Err(format!("Unknown merge strategy: '{other}'")),
        }
    }
}

/// The key Hiera reserves for the options of other keys.
const LOOKUP_OPTIONS: &str = "lookup_options";

/// What `lookup_options` says of one key.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct KeyOptions {
    /// The merge strategy of a lookup that names none.
    pub merge: Option<Merge>,
    /// `convert_to`: the type (a type expression's text) and the further arguments of the
    /// `new` that converts the value found.
    pub convert_to: Option<(String, Vec<Value>)>,
}

/// The Hiera layers of an environment, with their data read.
#[derive(Debug, Default)]
pub struct Hiera {
    layers: Vec<Layer>,
    /// Data files by repository path: the parsed data, or why it could not be parsed.
    files: BTreeMap<String, Result<Json, String>>,
    /// Whether any data file has `lookup_options`: without them no lookup looks for options.
    has_lookup_options: bool,
}

/// The environment's layer, or a module's (which answers only keys in its namespace).
#[derive(Debug)]
struct Layer {
    module: Option<String>,
    levels: Vec<Level>,
}

/// A hierarchy level: its paths, relative to the repository, still to be interpolated.
#[derive(Debug)]
struct Level {
    paths: Vec<String>,
}

/// Finds a variable's value for an interpolation (`facts.os.family`, `::fqdn`).
pub type Variables<'a> = &'a dyn Fn(&str) -> Option<Value>;

/// The part of `hiera.yaml` (version 5) ordo reads.
#[derive(Debug, Default, serde::Deserialize)]
struct RawConfig {
    version: Option<i64>,
    #[serde(default)]
    defaults: RawLevel,
    hierarchy: Option<Vec<RawLevel>>,
}

#[derive(Debug, Default, Clone, serde::Deserialize)]
struct RawLevel {
    name: Option<String>,
    datadir: Option<String>,
    data_hash: Option<String>,
    lookup_key: Option<String>,
    data_dig: Option<String>,
    hiera3_backend: Option<String>,
    path: Option<String>,
    paths: Option<Vec<String>>,
    glob: Option<String>,
    globs: Option<Vec<String>>,
    mapped_paths: Option<serde_json::Value>,
    uri: Option<String>,
    uris: Option<Vec<String>>,
}

/// Reads the environment's and the modules' Hiera configuration and data.
pub fn read(loader: &mut Loader, layout: &Layout) -> anyhow::Result<Hiera> {
    let mut hiera = Hiera::default();
    let mut roots: Vec<(Option<String>, String)> = vec![(None, String::new())];
    roots.extend(layout.modules.iter().map(|(name, dir)| (Some(name.clone()), format!("{dir}/"))));
    for (module, root) in roots {
        let config_path = format!("{root}hiera.yaml");
        let text = loader.snapshot.read_text(&config_path)?.unwrap_or_default();
        let config = if text.is_empty() {
            RawConfig::default()
        } else {
            loader.sources.add(&config_path, &text);
            match serde_saphyr::from_str::<RawConfig>(&text) {
                Ok(config) => config,
                Err(err) => {
                    let reason = err.to_string();
                    loader.diagnostics.push(
                        Diagnostic::error(format!("{config_path}: {}", reason.lines().next().unwrap_or_default()))
                            .at(Some(Location { file: config_path.clone(), range: 0..0 })),
                    );
                    continue;
                }
            }
        };
        let at = Some(Location { file: config_path.clone(), range: 0..0 });
        // A level's problems point at its name in the file.
        let level_at = |name: &str| {
            let range = text
                .match_indices(name)
                .find(|(offset, _)| text[..*offset].trim_end_matches(['"', '\'']).trim_end().ends_with("name:"))
                .map_or(0..0, |(offset, _)| offset..offset + name.len());
            Some(Location { file: config_path.clone(), range })
        };
        if let Some(version) = config.version
            && version != 5
        {
            loader.diagnostics.push(
                Diagnostic::error(format!(
                    "{config_path}: hiera.yaml version {version} is not supported; ordo reads version 5"
                ))
                .at(at),
            );
            continue;
        }
        let hierarchy = config.hierarchy.clone().unwrap_or_else(|| {
            vec![RawLevel { name: Some("Common".into()), path: Some("common.yaml".into()), ..RawLevel::default() }]
        });
        let mut levels = Vec::new();
        let mut datadirs = Vec::new();
        for level in hierarchy {
            let name = level.name.clone().unwrap_or_default();
            let unsupported = [
                ("lookup_key", level.lookup_key.as_ref().or(config.defaults.lookup_key.as_ref())),
                ("data_dig", level.data_dig.as_ref().or(config.defaults.data_dig.as_ref())),
                ("hiera3_backend", level.hiera3_backend.as_ref()),
            ];
            let data_hash = level.data_hash.as_ref().or(config.defaults.data_hash.as_ref());
            let backend = unsupported
                .iter()
                .find_map(|(kind, value)| value.map(|value| format!("{kind}: {value}")))
                .or_else(|| {
                    data_hash
                        .filter(|hash| !matches!(hash.as_str(), "yaml_data" | "json_data"))
                        .map(|hash| format!("data_hash: {hash}"))
                });
            if let Some(backend) = backend {
                loader.diagnostics.push(
                    Diagnostic::error(format!(
                        "{config_path}: the Hiera backend '{backend}' of hierarchy level '{name}' is not supported; ordo reads yaml_data and json_data"
                    ))
                    .at(level_at(&name)),
                );
                continue;
            }
            if level.glob.is_some()
                || level.globs.is_some()
                || level.mapped_paths.is_some()
                || level.uri.is_some()
                || level.uris.is_some()
            {
                loader.diagnostics.push(
                    Diagnostic::error(format!(
                        "{config_path}: hierarchy level '{name}' uses globs, mapped_paths or uris, which ordo does not read; use path or paths"
                    ))
                    .at(level_at(&name)),
                );
                continue;
            }
            let datadir = level.datadir.clone().or(config.defaults.datadir.clone()).unwrap_or_else(|| "data".into());
            let datadir = format!("{root}{}", datadir.trim_start_matches("./").trim_end_matches('/'));
            let paths: Vec<String> =
                level.path.iter().chain(level.paths.iter().flatten()).map(|path| format!("{datadir}/{path}")).collect();
            if !datadirs.contains(&datadir) {
                datadirs.push(datadir);
            }
            levels.push(Level { paths });
        }
        for datadir in datadirs {
            read_data_files(loader, &datadir, &mut hiera.files)?;
        }
        hiera.layers.push(Layer { module, levels });
    }
    hiera.has_lookup_options =
        hiera.files.values().any(|data| data.as_ref().is_ok_and(|data| data.get(LOOKUP_OPTIONS).is_some()));
    Ok(hiera)
}

/// Every YAML and JSON file under a data directory, parsed.
fn read_data_files(
    loader: &Loader,
    dir: &str,
    files: &mut BTreeMap<String, Result<Json, String>>,
) -> anyhow::Result<()> {
    for entry in loader.snapshot.list_dir(dir)? {
        let path = format!("{dir}/{}", entry.name);
        if entry.is_dir {
            read_data_files(loader, &path, files)?;
            continue;
        }
        let Some(text) = loader.snapshot.read_text(&path)? else { continue };
        let parsed = if path.ends_with(".json") {
            serde_json::from_str::<Json>(&text).map_err(|err| err.to_string())
        } else if path.ends_with(".yaml") || path.ends_with(".yml") {
            if text.trim().is_empty() || text.trim() == "---" {
                Ok(Json::Object(serde_json::Map::new()))
            } else {
                serde_saphyr::from_str::<Json>(&text).map_err(|err| err.to_string())
            }
        } else {
            continue;
        };
        files.insert(path, parsed.map_err(|reason| reason.lines().next().unwrap_or_default().to_string()));
    }
    Ok(())
}

impl Hiera {
    /// Looks `key` up through the layers; None when no level has it. Without a merge
    /// strategy, the key's `lookup_options` choose one, else `first`.
    pub fn lookup(&self, key: &str, merge: Option<Merge>, variables: Variables) -> Result<Option<Value>, String> {
        self.lookup_at_depth(key, merge, variables, 0)
    }

    /// What `lookup_options` says of `key` (nothing when they do not name it).
    pub fn key_options(&self, key: &str, variables: Variables) -> Result<KeyOptions, String> {
        if !self.has_lookup_options {
            return Ok(KeyOptions::default());
        }
        let root = key.split('.').next().unwrap_or_default();
        let module = root.split_once("::").map(|(module, _)| module);
        let mut found = Vec::new();
        for layer in &self.layers {
            if layer.module.is_none() || layer.module.as_deref() == module {
                let from = found.len();
                self.found_in_layer(layer, LOOKUP_OPTIONS, Merge::Hash, variables, &mut found)?;
                for options in &found[from..] {
                    validate_lookup_options(options, layer.module.as_deref())?;
                }
            }
        }
        let Some(Json::Object(options)) = merge_all(found, Merge::Hash) else { return Ok(KeyOptions::default()) };
        let entry = match options.get(root) {
            Some(entry) => Some(entry),
            None => {
                let mut matching = None;
                for (pattern, entry) in options.iter().filter(|(pattern, _)| pattern.starts_with('^')) {
                    let regex = super::eval::regex::compile(pattern)
                        .map_err(|reason| format!("Invalid pattern '{pattern}' in {LOOKUP_OPTIONS}: {reason}"))?;
                    if regex.is_match(root) {
                        matching = Some(entry);
                        break;
                    }
                }
                matching
            }
        };
        let Some(entry) = entry else { return Ok(KeyOptions::default()) };
        let Value::Hash(entry) = self.interpolate_value(entry, variables, 0)? else {
            return Ok(KeyOptions::default());
        };
        let option = |name: &str| entry.iter().find(|(key, _)| key.to_string() == name).map(|(_, value)| value);
        let merge = option("merge").map(Merge::from_value).transpose()?.flatten();
        let convert_to = match option("convert_to") {
            None | Some(Value::Undef) => None,
            Some(Value::Array(parts)) => match parts.split_first() {
                Some((Value::String(type_name), args)) => Some((type_name.clone(), args.to_vec())),
                _ => {
                    return Err(format!(
                        "Invalid convert_to in {LOOKUP_OPTIONS} for key '{key}': expected a type name"
                    ));
                }
            },
            Some(Value::String(type_name)) => Some((type_name.clone(), Vec::new())),
            Some(other) => {
                return Err(format!(
                    "Invalid convert_to in {LOOKUP_OPTIONS} for key '{key}': expected a type name, got {}",
                    other.type_name()
                ));
            }
        };
        Ok(KeyOptions { merge, convert_to })
    }

    fn lookup_at_depth(
        &self,
        key: &str,
        merge: Option<Merge>,
        variables: Variables,
        depth: usize,
    ) -> Result<Option<Value>, String> {
        if depth > 32 {
            return Err(format!("Interpolation of '{key}' is recursive"));
        }
        let mut segments = key.split('.');
        let root = segments.next().unwrap_or_default();
        // The options of keys are not data of their own.
        if root == LOOKUP_OPTIONS {
            return Ok(None);
        }
        let merge = match merge {
            Some(merge) => merge,
            None => self.key_options(key, variables)?.merge.unwrap_or(Merge::First),
        };
        let dig: Vec<&str> = segments.collect();
        let namespace = root.split_once("::").map(|(namespace, _)| namespace);
        let mut found: Vec<Json> = Vec::new();
        for layer in &self.layers {
            if let Some(module) = &layer.module
                && namespace != Some(module.as_str())
            {
                continue;
            }
            self.found_in_layer(layer, root, merge, variables, &mut found)?;
            if merge == Merge::First && !found.is_empty() {
                break;
            }
        }
        let Some(merged) = merge_all(found, merge) else { return Ok(None) };
        let mut value = self.interpolate_value(&merged, variables, depth)?;
        for segment in dig {
            value = match &value {
                Value::Hash(entries) => match entries.iter().find(|(key, _)| key.to_string() == segment) {
                    Some((_, value)) => value.clone(),
                    None => return Ok(None),
                },
                Value::Array(items) => match segment.parse::<usize>().ok().and_then(|index| items.get(index)) {
                    Some(value) => value.clone(),
                    None => return Ok(None),
                },
                _ => return Ok(None),
            };
        }
        Ok(Some(value))
    }

    /// Adds the values of `root` at the levels of `layer` to `found`, highest priority first;
    /// with `first`, only the first one.
    fn found_in_layer(
        &self,
        layer: &Layer,
        root: &str,
        merge: Merge,
        variables: Variables,
        found: &mut Vec<Json>,
    ) -> Result<(), String> {
        for level in &layer.levels {
            for template in &level.paths {
                let path = interpolate_path(template, variables);
                let Some(data) = self.files.get(&path) else { continue };
                let data = data.as_ref().map_err(|reason| format!("Unable to parse {path}: {reason}"))?;
                if let Some(value) = data.get(root) {
                    found.push(value.clone());
                    if merge == Merge::First {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    /// A data value with the interpolations in its strings done.
    fn interpolate_value(&self, value: &Json, variables: Variables, depth: usize) -> Result<Value, String> {
        Ok(match value {
            Json::String(text) if text.contains("%{") => self.interpolate_string(text, variables, depth)?,
            Json::Array(items) => Value::Array(
                items.iter().map(|item| self.interpolate_value(item, variables, depth)).collect::<Result<_, _>>()?,
            ),
            Json::Object(map) => Value::Hash(
                map.iter()
                    .map(|(key, value)| {
                        Ok((Value::String(key.clone()), self.interpolate_value(value, variables, depth)?))
                    })
                    .collect::<Result<_, String>>()?,
            ),
            other => Value::from_json(other),
        })
    }

    fn interpolate_string(&self, text: &str, variables: Variables, depth: usize) -> Result<Value, String> {
        // `%{alias('key')}` alone keeps the aliased value's type.
        let trimmed = text.trim();
        if let Some(inner) = trimmed.strip_prefix("%{").and_then(|rest| rest.strip_suffix('}'))
            && let Some(key) = function_argument(inner, "alias")
        {
            return Ok(self.lookup_at_depth(&key, None, variables, depth + 1)?.unwrap_or(Value::Undef));
        }
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("%{") {
            out.push_str(&rest[..start]);
            let Some(end) = rest[start..].find('}') else {
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let inner = rest[start + 2..start + end].trim();
            let value = if let Some(literal) = function_argument(inner, "literal") {
                Value::String(literal)
            } else if let Some(key) = function_argument(inner, "lookup").or_else(|| function_argument(inner, "hiera")) {
                self.lookup_at_depth(&key, None, variables, depth + 1)?.unwrap_or(Value::Undef)
            } else if function_argument(inner, "alias").is_some() {
                return Err(format!(
                    "'alias' interpolation is only permitted if the expression is equal to the entire string: '{text}'"
                ));
            } else {
                let name = function_argument(inner, "scope").unwrap_or_else(|| inner.to_string());
                variables(&name).unwrap_or(Value::Undef)
            };
            if value != Value::Undef {
                out.push_str(&value.to_string());
            }
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Ok(Value::String(out))
    }
}

/// Puppet's checks of a `lookup_options` value: a hash and, in a module's data, only keys
/// and patterns of that module's keys.
fn validate_lookup_options(options: &Json, module: Option<&str>) -> Result<(), String> {
    let Json::Object(options) = options else {
        return Err(format!("value of {LOOKUP_OPTIONS} must be a hash"));
    };
    let Some(module) = module else { return Ok(()) };
    let prefix = format!("{module}::");
    for key in options.keys() {
        if let Some(pattern) = key.strip_prefix('^') {
            if !pattern.starts_with(&prefix) {
                return Err(format!(
                    "all {LOOKUP_OPTIONS} patterns must match a key starting with module name '{module}'"
                ));
            }
        } else if !key.starts_with(&prefix) {
            return Err(format!("all {LOOKUP_OPTIONS} keys must start with module name '{module}'"));
        }
    }
    Ok(())
}

/// `name('arg')` or `name("arg")`: the argument.
fn function_argument(expression: &str, name: &str) -> Option<String> {
    let inner = expression.strip_prefix(name)?.trim_start().strip_prefix('(')?.strip_suffix(')')?.trim();
    let unquoted = inner.strip_prefix('\'').and_then(|rest| rest.strip_suffix('\''));
    let unquoted = unquoted.or_else(|| inner.strip_prefix('"').and_then(|rest| rest.strip_suffix('"')));
    unquoted.map(str::to_string)
}

/// A hierarchy path with `%{facts.x}` (and `%{::x}`, `%{trusted.certname}`) replaced; an
/// unknown variable interpolates as empty, as in Hiera.
fn interpolate_path(template: &str, variables: Variables) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("%{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else { break };
        let name = rest[start + 2..start + end].trim();
        let name = function_argument(name, "scope").unwrap_or_else(|| name.to_string());
        if let Some(value) = variables(&name)
            && value != Value::Undef
        {
            out.push_str(&value.to_string());
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

/// The values found, highest priority first, combined by the merge strategy.
fn merge_all(found: Vec<Json>, merge: Merge) -> Option<Json> {
    let mut found = found.into_iter();
    let first = found.next()?;
    Some(found.fold(first, |merged, lower| merge_two(merged, lower, merge)))
}

/// `higher` merged over `lower`.
fn merge_two(higher: Json, lower: Json, merge: Merge) -> Json {
    match (merge, higher, lower) {
        (Merge::First, higher, _) => higher,
        (Merge::Unique, higher, lower)
        | (
            Merge::Deep,
            higher @ (Json::Array(_) | Json::String(_) | Json::Number(_) | Json::Bool(_)),
            lower @ Json::Array(_),
        ) => {
            let mut items: Vec<Json> = Vec::new();
            for value in [higher, lower] {
                let values = match value {
                    Json::Array(values) => values,
                    other => vec![other],
                };
                for value in values {
                    if !items.contains(&value) {
                        items.push(value);
                    }
                }
            }
            Json::Array(items)
        }
        (Merge::Hash | Merge::Deep, Json::Object(higher), Json::Object(mut lower)) => {
            for (key, value) in higher {
                let value = match (merge, lower.remove(&key)) {
                    (Merge::Deep, Some(below)) => merge_two(value, below, Merge::Deep),
                    _ => value,
                };
                lower.insert(key, value);
            }
            Json::Object(lower)
        }
        (_, higher, _) => higher,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hiera(files: &[(&str, &str)], levels: &[&str]) -> Hiera {
        let mut hiera = Hiera::default();
        for (path, text) in files {
            hiera.files.insert(path.to_string(), serde_saphyr::from_str::<Json>(text).map_err(|err| err.to_string()));
        }
        hiera.layers.push(Layer {
            module: None,
            levels: levels.iter().map(|path| Level { paths: vec![path.to_string()] }).collect(),
        });
        hiera
    }

    #[test]
    fn levels_interpolations_and_merges() {
        let hiera = hiera(
            &[
                ("data/nodes/db1.yaml", "app::port: 5432\napp::users: [a]\napp::opts: {x: 1, deep: {a: 1}}\n"),
                (
                    "data/common.yaml",
                    "app::port: 80\napp::users: [b, a]\napp::opts: {y: 2, deep: {b: 2}}\napp::url: 'db://%{facts.fqdn}:%{lookup(\"app::port\")}'\napp::same: '%{alias(\"app::users\")}'\n",
                ),
            ],
            &["data/nodes/%{trusted.certname}.yaml", "data/common.yaml"],
        );
        let variables = |name: &str| match name {
            "trusted.certname" => Some(Value::String("db1".into())),
            "facts.fqdn" => Some(Value::String("db1.example.net".into())),
            _ => None,
        };
        let show = |key: &str, merge: Merge| format!("{:?}", hiera.lookup(key, Some(merge), &variables));
        assert_eq!(show("app::port", Merge::First), "Ok(Some(Integer(5432)))");
        assert_eq!(show("app::users", Merge::Unique), r#"Ok(Some(Array([String("a"), String("b")])))"#);
        assert_eq!(
            show("app::opts", Merge::Deep),
            r#"Ok(Some(Hash([(String("deep"), Hash([(String("a"), Integer(1)), (String("b"), Integer(2))])), (String("x"), Integer(1)), (String("y"), Integer(2))])))"#
        );
        assert_eq!(show("app::url", Merge::First), r#"Ok(Some(String("db://db1.example.net:5432")))"#);
        assert_eq!(show("app::same", Merge::First), r#"Ok(Some(Array([String("a")])))"#);
        assert_eq!(show("app::opts.deep.a", Merge::First), "Ok(Some(Integer(1)))");
        assert_eq!(show("app::missing", Merge::First), "Ok(None)");
        assert!(
            matches!(Merge::from_value(&Value::String("nope".into())), Err(message) if message == "Unknown merge strategy: 'nope'")
        );
    }

    fn with_module_layer(mut hiera: Hiera, module: &str, path: &str, text: &str) -> Hiera {
        hiera.files.insert(path.to_string(), serde_saphyr::from_str::<Json>(text).map_err(|err| err.to_string()));
        hiera.layers.push(Layer { module: Some(module.into()), levels: vec![Level { paths: vec![path.into()] }] });
        hiera.has_lookup_options = true;
        hiera
    }

    #[test]
    fn lookup_options_choose_the_merge_of_a_lookup_that_names_none() {
        let hiera = with_module_layer(
            hiera(
                &[
                    (
                        "data/high.yaml",
                        "lookup_options: {app::a: {merge: first}}\napp::a: [1]\napp::b: [1]\napp::d: [4]\n",
                    ),
                    (
                        "data/low.yaml",
                        "lookup_options: {app::a: {merge: unique}, '^app::(b|d)$': {merge: unique}}\napp::a: [2]\napp::b: [2]\napp::d: [5]\n",
                    ),
                ],
                &["data/high.yaml", "data/low.yaml"],
            ),
            "app",
            "modules/app/data/common.yaml",
            "lookup_options: {app::b: {merge: first}, app::c: {convert_to: [Sensitive]}}\napp::b: [3]\n",
        );
        let variables = |_: &str| None;
        let show = |key: &str, merge: Option<Merge>| format!("{:?}", hiera.lookup(key, merge, &variables).unwrap());
        // The higher level's entry for app::a replaces the lower one's whole.
        assert_eq!(show("app::a", None), "Some(Array([Integer(1)]))");
        // A key's own entry, even the module's, comes before any pattern.
        assert_eq!(show("app::b", None), "Some(Array([Integer(1)]))");
        // Without one, the first pattern that matches.
        assert_eq!(show("app::d", None), "Some(Array([Integer(4), Integer(5)]))");
        assert_eq!(show("app::d", Some(Merge::First)), "Some(Array([Integer(4)]))");
        assert_eq!(show("lookup_options", Some(Merge::Hash)), "None");
        let options = hiera.key_options("app::c.x", &variables).unwrap();
        assert_eq!(options, KeyOptions { merge: None, convert_to: Some(("Sensitive".to_string(), Vec::new())) });
    }

    #[test]
    fn lookup_options_that_puppet_refuses_are_errors() {
        let variables = |_: &str| None;
        let foreign = with_module_layer(
            Hiera::default(),
            "app",
            "modules/app/data/common.yaml",
            "lookup_options: {other::x: {merge: unique}}\n",
        );
        assert_eq!(
            foreign.lookup("app::x", None, &variables).unwrap_err(),
            "all lookup_options keys must start with module name 'app'"
        );
        let pattern =
            with_module_layer(Hiera::default(), "app", "modules/app/data/common.yaml", "lookup_options: {'^x': {}}\n");
        assert_eq!(
            pattern.lookup("app::x", None, &variables).unwrap_err(),
            "all lookup_options patterns must match a key starting with module name 'app'"
        );
        let not_a_hash =
            with_module_layer(Hiera::default(), "app", "modules/app/data/common.yaml", "lookup_options: [x]\n");
        assert_eq!(
            not_a_hash.lookup("app::x", None, &variables).unwrap_err(),
            "value of lookup_options must be a hash"
        );
        let bad_merge = with_module_layer(
            Hiera::default(),
            "app",
            "modules/app/data/common.yaml",
            "lookup_options: {app::x: {merge: sideways}}\n",
        );
        assert_eq!(bad_merge.lookup("app::x", None, &variables).unwrap_err(), "Unknown merge strategy: 'sideways'");
    }
}
