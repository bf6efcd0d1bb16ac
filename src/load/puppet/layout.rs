//! The control repository as r10k and Code Manager deploy it: `environment.conf` (its
//! `modulepath` and `manifest` settings, defaulting as Puppet does), the main manifest
//! (`manifests/`, every `.pp` file in it in Puppet's order), the module directories, and a
//! `Puppetfile` whose modules must be present. Also the capability types modules define in
//! `lib/puppet/type/*.rb` with `:is_capability => true`, read without running Ruby, and the
//! settings of `ordo.yaml` the Puppet front end reads (capability types, `strict_variables`).

use std::collections::BTreeMap;

use crate::diag::{Diagnostic, Location};
use crate::load::Loader;

/// Where the Puppet code of a control repository is.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// Module directories in search order, relative to the repository (`site-modules`, `modules`).
    pub modulepath: Vec<String>,
    /// The main manifest's files, in the order Puppet reads them.
    pub manifests: Vec<String>,
    /// Module name to its directory (`modules/lamp`), the first found along the module path.
    pub modules: BTreeMap<String, String>,
}

/// Whether a repository looks like a Puppet control repository.
pub(crate) fn is_control_repository(loader: &Loader) -> anyhow::Result<bool> {
    if loader.snapshot.read("environment.conf")?.is_some() {
        return Ok(true);
    }
    Ok(loader.snapshot.list_dir("manifests")?.iter().any(|entry| entry.name.ends_with(".pp")))
}

/// Reads the layout, reporting a missing Puppetfile module as a diagnostic.
pub fn read(loader: &mut Loader) -> anyhow::Result<Layout> {
    let settings = match loader.snapshot.read_text("environment.conf")? {
        Some(text) => {
            loader.sources.add("environment.conf", &text);
            parse_settings(&text)
        }
        None => BTreeMap::new(),
    };
    let mut layout = Layout::default();
    match settings.get("modulepath") {
        Some(modulepath) => {
            for entry in modulepath.split(':') {
                let entry = entry.trim().trim_start_matches("./").trim_end_matches('/');
                // `$basemodulepath` and absolute paths are outside the repository.
                if !entry.is_empty() && !entry.starts_with('$') && !entry.starts_with('/') {
                    layout.modulepath.push(entry.to_string());
                }
            }
        }
        None => {
            for candidate in ["site-modules", "site", "modules"] {
                if !loader.snapshot.list_dir(candidate)?.is_empty() {
                    layout.modulepath.push(candidate.to_string());
                }
            }
        }
    }
    let manifest = settings.get("manifest").map_or("manifests", |value| value.trim().trim_end_matches('/'));
    if manifest.ends_with(".pp") {
        layout.manifests.push(manifest.to_string());
    } else {
        collect_pp_files(loader, manifest, &mut layout.manifests)?;
    }
    for dir in &layout.modulepath {
        for entry in loader.snapshot.list_dir(dir)? {
            if entry.is_dir {
                layout.modules.entry(entry.name.clone()).or_insert_with(|| format!("{dir}/{}", entry.name));
            }
        }
    }
    check_puppetfile(loader, &layout)?;
    Ok(layout)
}

/// `key = value` lines; `#` starts a comment.
fn parse_settings(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.split('#').next())
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_string(), value.trim().trim_matches('"').to_string()))
        .collect()
}

/// Every `.pp` file under a directory, recursively, in the order Puppet reads them (sorted
/// by path).
pub fn collect_pp_files(loader: &Loader, dir: &str, files: &mut Vec<String>) -> anyhow::Result<()> {
    for entry in loader.snapshot.list_dir(dir)? {
        let path = format!("{dir}/{}", entry.name);
        if entry.is_dir {
            collect_pp_files(loader, &path, files)?;
        } else if entry.name.ends_with(".pp") {
            files.push(path);
        }
    }
    Ok(())
}

/// Each `mod 'author/name'` of the Puppetfile must be installed along the module path.
fn check_puppetfile(loader: &mut Loader, layout: &Layout) -> anyhow::Result<()> {
    let Some(text) = loader.snapshot.read_text("Puppetfile")? else { return Ok(()) };
    loader.sources.add("Puppetfile", &text);
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("mod ").or_else(|| trimmed.strip_prefix("mod(")) {
            let quoted = rest.trim_start();
            let quote = quoted.chars().next().filter(|c| *c == '\'' || *c == '"');
            if let Some(quote) = quote
                && let Some(end) = quoted[1..].find(quote)
            {
                let full = &quoted[1..1 + end];
                let name = full.rsplit(['/', '-']).next().unwrap_or(full);
                if !layout.modules.contains_key(name) {
                    let start = offset + (line.len() - trimmed.len());
                    let dirs =
                        if layout.modulepath.is_empty() { "modules".to_string() } else { layout.modulepath.join(", ") };
                    loader.diagnostics.push(
                        Diagnostic::error(format!(
                            "module {name} ({full}) is declared in the Puppetfile but not installed"
                        ))
                        .at(Some(Location { file: "Puppetfile".into(), range: start..offset + line.trim_end().len() }))
                        .with_note(format!(
                            "looked in {dirs}; vendor it there, or run `r10k puppetfile install` before ordo"
                        )),
                    );
                }
            }
        }
        offset += line.len();
    }
    Ok(())
}

/// A capability type: its name, parameters and properties, as Puppet's `newparam` and
/// `newproperty` (and `ensurable`, the `ensure` property) define them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapabilityType {
    pub name: String,
    /// Parameters but the namevar `name`, which every type has; sorted.
    pub parameters: Vec<String>,
    /// Properties, `ensure` among them for an ensurable type; sorted.
    pub properties: Vec<String>,
    pub file: String,
}

impl CapabilityType {
    /// Every attribute: `name`, the parameters and the properties, sorted.
    pub fn attributes(&self) -> Vec<&str> {
        let mut attributes: Vec<&str> =
            std::iter::once("name").chain(self.parameters.iter().chain(&self.properties).map(String::as_str)).collect();
        attributes.sort_unstable();
        attributes.dedup();
        attributes
    }
}

/// Capability types defined in modules' `lib/puppet/type/*.rb` with `:is_capability => true`,
/// and in `ordo.yaml`.
pub fn capability_types(
    loader: &mut Loader,
    layout: &Layout,
    settings: &Settings,
) -> anyhow::Result<Vec<CapabilityType>> {
    let mut types = settings.capability_types.clone();
    for dir in layout.modules.values() {
        let type_dir = format!("{dir}/lib/puppet/type");
        for entry in loader.snapshot.list_dir(&type_dir)? {
            if !entry.name.ends_with(".rb") {
                continue;
            }
            let file = format!("{type_dir}/{}", entry.name);
            let Some(text) = loader.snapshot.read_text(&file)? else { continue };
            if let Some(capability) = parse_capability_type(&text, &file) {
                types.push(capability);
            }
        }
    }
    Ok(types)
}

/// The repository's settings file, as far as the Puppet front end reads it.
#[derive(Debug, serde::Deserialize)]
struct RawSettings {
    /// Capability types declared without Ruby: `Sql: {attributes: [host, port]}`.
    #[serde(default)]
    capabilities: BTreeMap<String, RawCapabilitySetting>,
    /// Puppet's `strict_variables`: an unknown variable is an error.
    #[serde(default)]
    strict_variables: bool,
}

/// What `ordo.yaml` sets for the Puppet front end.
#[derive(Debug, Default)]
pub struct Settings {
    pub capability_types: Vec<CapabilityType>,
    pub strict_variables: bool,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCapabilitySetting {
    attributes: Vec<String>,
}

/// `ordo.yaml`: capability types declared there, for modules that do not ship a Ruby type, and
/// `strict_variables`.
pub fn settings(loader: &mut Loader) -> anyhow::Result<Settings> {
    const SETTINGS: &str = "ordo.yaml";
    let Some(settings) = crate::load::yaml::read_yaml::<RawSettings>(loader, SETTINGS)? else {
        return Ok(Settings::default());
    };
    let strict_variables = settings.strict_variables;
    let capability_types = settings
        .capabilities
        .into_iter()
        .map(|(name, setting)| {
            let mut attributes = setting.attributes;
            attributes.sort();
            attributes.dedup();
            attributes.retain(|attribute| attribute != "name");
            CapabilityType {
                name: crate::model::capitalize_type(&name),
                parameters: attributes,
                properties: Vec::new(),
                file: SETTINGS.to_string(),
            }
        })
        .collect();
    Ok(Settings { capability_types, strict_variables })
}

/// `Puppet::Type.newtype :sql, :is_capability => true do ... newparam :host ... end`.
fn parse_capability_type(text: &str, file: &str) -> Option<CapabilityType> {
    let newtype = text.find("newtype")?;
    let declaration = &text[newtype..text[newtype..].find('\n').map_or(text.len(), |end| newtype + end)];
    let is_capability = declaration.contains(":is_capability => true") || declaration.contains("is_capability: true");
    if !is_capability {
        return None;
    }
    let name = symbol_after(declaration, "newtype")?;
    let mut found = [Vec::new(), Vec::new()];
    for (slot, keyword) in ["newparam", "newproperty"].into_iter().enumerate() {
        let mut rest = text;
        while let Some(at) = rest.find(keyword) {
            if let Some(attribute) = symbol_after(&rest[at..], keyword)
                && attribute != "name"
            {
                found[slot].push(attribute);
            }
            rest = &rest[at + keyword.len()..];
        }
    }
    let [mut parameters, mut properties] = found;
    // `ensurable` (alone on its line, or with a block) defines the `ensure` property.
    if text.lines().any(|line| line.trim() == "ensurable" || line.trim().starts_with("ensurable do")) {
        properties.push("ensure".to_string());
    }
    for list in [&mut parameters, &mut properties] {
        list.sort();
        list.dedup();
    }
    Some(CapabilityType { name: crate::model::capitalize_type(&name), parameters, properties, file: file.to_string() })
}

/// The Ruby symbol after a keyword: `newparam(:host)` or `newparam :host` -> `host`.
fn symbol_after(text: &str, keyword: &str) -> Option<String> {
    let rest = text.strip_prefix(keyword)?.trim_start_matches(['(', ' ']);
    let rest = rest.strip_prefix(':')?;
    let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_types_are_read_from_ruby_without_running_it() {
        let ruby = "Puppet::Type.newtype :sql, :is_capability => true do\n  ensurable\n  newparam :name, :namevar => true\n  newparam :user\n  newproperty(:host)\n  newparam :port\nend\n";
        let capability = parse_capability_type(ruby, "x.rb").unwrap();
        assert_eq!(capability.name, "Sql");
        assert_eq!(capability.parameters, ["port", "user"]);
        assert_eq!(capability.properties, ["ensure", "host"]);
        assert_eq!(capability.attributes(), ["ensure", "host", "name", "port", "user"]);
        assert_eq!(parse_capability_type("Puppet::Type.newtype(:file) do\nend\n", "y.rb"), None);
    }

    #[test]
    fn settings_ignore_comments() {
        let settings =
            parse_settings("# r10k\nmodulepath = site-modules:modules:$basemodulepath\nmanifest = manifests/ # main\n");
        assert_eq!(settings["modulepath"], "site-modules:modules:$basemodulepath");
        assert_eq!(settings["manifest"], "manifests/");
    }
}
