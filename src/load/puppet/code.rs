//! The environment's [`Code`] for the evaluator, gathered by Puppet's autoload rules:
//! functions written in the Puppet language (`MODULE/functions/NAME.pp` defines
//! `MODULE::NAME`, `functions/NAME.pp` of the environment `environment::NAME`, and the main
//! manifest may define any), the Ruby functions of the module path (by file, so a call can say
//! which file ordo cannot run), Hiera data, and `strict_variables`.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::eval::{Code, CodeFunction};
use super::layout::{Layout, Settings};
use super::{Parsed, hiera};
use crate::diag::Diagnostic;
use crate::lang::ast::StatementKind;
use crate::load::Loader;

pub fn gather(loader: &mut Loader, layout: &Layout, settings: &Settings, parsed: &[Parsed]) -> anyhow::Result<Code> {
    let mut functions: BTreeMap<String, CodeFunction> = BTreeMap::new();
    for file in parsed {
        let expected = autoloaded_name(layout, &file.path);
        for statement in &file.file.statements {
            let StatementKind::Function(definition) = &statement.kind else { continue };
            let name = definition.name.text.trim_start_matches("::").to_lowercase();
            if let Some(expected) = &expected
                && *expected != name
            {
                loader.diagnostics.push(
                    Diagnostic::error(format!(
                        "The code loaded from {} produced function with the wrong name, expected {expected}, actual {name}",
                        file.path
                    ))
                    .at(file.location(definition.name.span)),
                );
                continue;
            }
            let function = CodeFunction { definition: definition.clone(), file: Arc::clone(&file.path) };
            if functions.insert(name.clone(), function).is_some() {
                loader.diagnostics.push(
                    Diagnostic::error(format!("function '{name}' is already defined; it cannot be redefined"))
                        .at(file.location(definition.name.span)),
                );
            }
        }
    }
    let mut ruby_functions = BTreeMap::new();
    for dir in layout.modules.values() {
        ruby_function_files(loader, &format!("{dir}/lib/puppet/functions"), "", &mut ruby_functions)?;
        ruby_function_files(loader, &format!("{dir}/lib/puppet/parser/functions"), "", &mut ruby_functions)?;
    }
    Ok(Code {
        functions,
        ruby_functions,
        hiera: hiera::read(loader, layout)?,
        strict_variables: settings.strict_variables,
    })
}

/// The name Puppet's autoloader expects a functions file to define, or None for a file the
/// autoloader does not read (the main manifest).
fn autoloaded_name(layout: &Layout, path: &str) -> Option<String> {
    let (namespace, relative) = match path.strip_prefix("functions/") {
        Some(relative) => ("environment", relative),
        None => layout.modules.iter().find_map(|(module, dir)| {
            path.strip_prefix(dir.as_str())?.strip_prefix("/functions/").map(|relative| (module.as_str(), relative))
        })?,
    };
    let stem = relative.strip_suffix(".pp")?;
    Some(format!("{namespace}::{}", stem.replace('/', "::")).to_lowercase())
}

/// Ruby function files under a directory: `mymod/fn.rb` is `mymod::fn`.
fn ruby_function_files(
    loader: &Loader,
    dir: &str,
    namespace: &str,
    found: &mut BTreeMap<String, String>,
) -> anyhow::Result<()> {
    for entry in loader.snapshot.list_dir(dir)? {
        let path = format!("{dir}/{}", entry.name);
        if entry.is_dir {
            ruby_function_files(loader, &path, &format!("{namespace}{}::", entry.name), found)?;
        } else if let Some(stem) = entry.name.strip_suffix(".rb") {
            found.entry(format!("{namespace}{stem}").to_lowercase()).or_insert(path);
        }
    }
    Ok(())
}
