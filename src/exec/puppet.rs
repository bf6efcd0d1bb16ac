//! Puppet components on a node: one `puppet apply` of every Puppet component the node runs,
//! declared with all their parameters resolved after the main manifest (its node definitions
//! and top-scope code, as a node's catalog had them under PE), against the lowered module path.
//!
//! The generated manifest goes to Puppet on stdin, so secret values (declared `Sensitive`)
//! never touch the disk, and the catalog Puppet caches is deleted after the run. Puppet's
//! own state lives under the node's directory (`.puppet/`), never in the system's. Exit
//! codes follow `--detailed-exitcodes`: 0 and 2 succeed; 1, 4 and 6 fail. Under `--noop`
//! Puppet exits 0 even with changes pending, so the run summary's `out_of_sync` decides.

use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

use super::local::{ProcessError, run_process};
use super::{ComponentResult, ComponentWork, NodeWork, Phase, Runner};
use crate::model::{Params, PuppetComponent};

/// The Puppet code that declares one component with its resolved parameters.
pub fn declaration(puppet: &PuppetComponent, title: &str, parameters: &Params) -> String {
    let mut out = String::new();
    // A node's own catalog (node definitions, top-scope code) declares nothing more.
    if puppet.puppet_type.is_empty() {
        return out;
    }
    if puppet.is_class {
        let _ = writeln!(out, "class {{ {}:", quote(&puppet.puppet_type));
    } else {
        let _ = writeln!(out, "{} {{ {}:", puppet.puppet_type, quote(title));
    }
    for (name, param) in parameters {
        let value = literal(&param.value);
        let value = if param.secret { format!("Sensitive({value})") } else { value };
        let _ = writeln!(out, "  {name} => {value},");
    }
    out.push_str("}\n");
    out
}

/// A JSON value as a Puppet literal.
pub fn literal(value: &Value) -> String {
    match value {
        Value::Null => "undef".to_string(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::String(text) => quote(text),
        Value::Array(items) => format!("[{}]", items.iter().map(literal).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(key, value)| format!("{} => {}", quote(key), literal(value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A single-quoted Puppet string: only `\` and `'` need escaping.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Counts from Puppet's `last_run_summary.yaml`.
#[derive(Debug, Default, Deserialize)]
struct Summary {
    #[serde(default)]
    resources: ResourceCounts,
}

#[derive(Debug, Default, Deserialize)]
struct ResourceCounts {
    #[serde(default)]
    total: u64,
    #[serde(default)]
    changed: u64,
    #[serde(default)]
    failed: u64,
    #[serde(default)]
    out_of_sync: u64,
}

/// Runs the node's Puppet components in one `puppet apply`; one result per component.
pub async fn run(
    work: &NodeWork,
    components: &[&ComponentWork],
    phase: Phase,
    node_dir: &Path,
    deadline: Instant,
    output: &mut Vec<u8>,
) -> Vec<ComponentResult> {
    let all = |result: ComponentResult| vec![result; components.len()];
    if phase == Phase::Teardown {
        // Puppet has no teardown of its own: removing resources is written in Puppet code.
        output
            .extend_from_slice(b"==> Puppet components are forgotten, not torn down (use ensure => absent in code)\n");
        return all(ComponentResult::Removed);
    }
    // The main manifest first, so Puppet's line numbers in it are the user's; then the
    // components, as a node's catalog under PE had its node definition and its components.
    let mut manifest = String::new();
    let mut modulepath = String::new();
    for component in components {
        if let Runner::Puppet { declaration, modulepath: path, main_manifest } = &component.runner {
            if manifest.is_empty() {
                manifest.push_str(main_manifest);
            }
            manifest.push_str(declaration);
            modulepath.clone_from(path);
        }
    }
    let names: Vec<&str> = components.iter().map(|component| component.reference.as_str()).collect();
    output.extend_from_slice(format!("==> puppet apply{}: {}\n", noop_flag(phase), names.join(", ")).as_bytes());

    let puppet_dir = node_dir.join(".puppet");
    let puppet = std::env::var("ORDO_PUPPET").unwrap_or_else(|_| "puppet".to_string());
    let mut command = std::process::Command::new(puppet);
    command.current_dir(node_dir).arg("apply").arg("--detailed-exitcodes").arg("--color").arg("false");
    if phase == Phase::Noop {
        command.arg("--noop");
    }
    command.arg("--modulepath").arg(&modulepath).arg("--certname").arg(&work.node.name);
    for (setting, dir) in [
        ("--vardir", "var"),
        ("--confdir", "etc"),
        ("--codedir", "code"),
        ("--publicdir", "public"),
        ("--logdir", "log"),
        ("--rundir", "run"),
    ] {
        command.arg(setting).arg(puppet_dir.join(dir));
    }
    // Facts from the inventory win over what Facter finds on this machine.
    for (name, value) in &work.node.facts {
        if !value.is_object() && !value.is_array() {
            command.env(format!("FACTER_{name}"), crate::load::display_value(value));
        }
    }
    command.env("FACTER_ordo_node", &work.node.name).env("FACTER_ordo_node_dir", node_dir);
    let summary_path = puppet_dir.join("public").join("last_run_summary.yaml");
    let _ = std::fs::remove_file(&summary_path);

    let mut captured = Vec::new();
    let status = run_process(command, manifest.into_bytes(), deadline, &mut captured).await;
    // Facter cannot read some of /proc in a sandbox and says so on every run; that is noise.
    for line in String::from_utf8_lossy(&captured).lines() {
        if !line.contains("Facter: Permission denied") {
            output.extend_from_slice(line.as_bytes());
            output.push(b'\n');
        }
    }
    // The cached catalog holds every parameter in clear, secrets included.
    let _ = std::fs::remove_dir_all(puppet_dir.join("var").join("client_data"));

    let summary: Summary = std::fs::read_to_string(&summary_path)
        .ok()
        .and_then(|text| serde_saphyr::from_str(&text).ok())
        .unwrap_or_default();
    let counts = &summary.resources;
    let code = match status {
        Ok(code) => code,
        Err(ProcessError::TimedOut) => {
            return all(ComponentResult::Failed {
                message: format!("puppet apply timed out after {}s (the node's timeout)", work.node.timeout_secs),
            });
        }
        Err(ProcessError::Spawn(message)) => return all(ComponentResult::Failed { message }),
    };
    output.extend_from_slice(
        format!(
            "==> puppet apply exited {}: {} resources, {} changed, {} failed, {} out of sync\n",
            code.map_or("by a signal".to_string(), |code| code.to_string()),
            counts.total,
            counts.changed,
            counts.failed,
            counts.out_of_sync
        )
        .as_bytes(),
    );
    let result = match (phase, code) {
        (Phase::Noop, Some(0)) if counts.out_of_sync > 0 => ComponentResult::WouldChange,
        (Phase::Noop, Some(0)) => ComponentResult::InSync,
        (_, Some(0 | 2)) => ComponentResult::Applied,
        (_, Some(code @ (4 | 6))) => ComponentResult::Failed {
            message: format!("puppet apply: {} resources failed (exit {code})", counts.failed),
        },
        (_, Some(code)) => ComponentResult::Failed { message: format!("puppet apply failed (exit {code})") },
        (_, None) => ComponentResult::Failed { message: "puppet apply was killed by a signal".into() },
    };
    all(result)
}

fn noop_flag(phase: Phase) -> &'static str {
    if phase == Phase::Noop { " --noop" } else { "" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Param, PuppetCode};
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn declarations_quote_values_and_wrap_secrets() {
        let puppet = PuppetComponent {
            puppet_type: "lamp::db".into(),
            is_class: false,
            code: Arc::new(PuppetCode {
                code_id: String::new(),
                modulepath: Vec::new(),
                files: Vec::new(),
                main_manifest: Default::default(),
            }),
        };
        let parameters: Params = [
            ("user".to_string(), Param { value: json!("o'brien"), secret: false }),
            ("password".to_string(), Param { value: json!("s3cr3t"), secret: true }),
            ("ports".to_string(), Param { value: json!([1, 2]), secret: false }),
            ("opts".to_string(), Param { value: json!({"a": null, "b": true}), secret: false }),
        ]
        .into();
        assert_eq!(
            declaration(&puppet, "app1", &parameters),
            "lamp::db { 'app1':\n  opts => {'a' => undef, 'b' => true},\n  password => Sensitive('s3cr3t'),\n  ports => [1, 2],\n  user => 'o\\'brien',\n}\n"
        );
    }
}
