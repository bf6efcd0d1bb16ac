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
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::Value;

use super::node::Step;
use super::output::{Masker, Output};
use super::process::ProcessError;
use super::transport::{Code, NodeCommand};
use super::{ComponentResult, ComponentWork, Phase, WorkKind};
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
pub async fn run(step: &Step<'_>, components: &[&ComponentWork]) -> Vec<ComponentResult> {
    let all = |result: ComponentResult| vec![result; components.len()];
    if step.phase == Phase::Teardown {
        // Puppet has no teardown of its own: removing resources is written in Puppet code.
        step.write("==> Puppet components are forgotten, not torn down (use ensure => absent in code)\n");
        return all(ComponentResult::Removed);
    }
    // The main manifest first, so Puppet's line numbers in it are the user's; then the
    // components, as a node's catalog under PE had its node definition and its components.
    let mut manifest = String::new();
    let mut code = None;
    for component in components {
        if let WorkKind::Puppet { declaration, code: component_code } = &component.kind {
            if manifest.is_empty() {
                manifest.push_str(&component_code.main_manifest.text);
            }
            manifest.push_str(declaration);
            code = Some(Arc::clone(component_code));
        }
    }
    let Some(code) = code else {
        return all(ComponentResult::Skipped);
    };
    let names: Vec<&str> = components.iter().map(|component| component.reference.as_str()).collect();
    step.write(&format!(
        "==> puppet apply{}: {}\n",
        noop_flag(step.phase),
        crate::text::escape_controls(&names.join(", "))
    ));
    let root = match step.transport.install(&Code::Puppet(Arc::clone(&code))).await {
        Ok(root) => root,
        Err(message) => return all(ComponentResult::Failed { message }),
    };
    let modulepath: Vec<String> = code.modulepath.iter().map(|dir| format!("{root}/{dir}")).collect();

    let work_dir = step.transport.work_dir();
    let puppet_dir = format!("{work_dir}/.puppet");
    let mut args: Vec<String> =
        ["apply", "--detailed-exitcodes", "--color", "false"].into_iter().map(String::from).collect();
    if step.phase == Phase::Noop {
        args.push("--noop".into());
    }
    args.extend(["--modulepath".into(), modulepath.join(":"), "--certname".into(), step.work.node.name.clone()]);
    for (setting, dir) in [
        ("--vardir", "var"),
        ("--confdir", "etc"),
        ("--codedir", "code"),
        ("--publicdir", "public"),
        ("--logdir", "log"),
        ("--rundir", "run"),
    ] {
        args.extend([setting.to_string(), format!("{puppet_dir}/{dir}")]);
    }
    let mut env = Vec::new();
    // Facts from the inventory win over what Facter finds on the node.
    for (name, value) in &step.work.node.facts {
        if !value.is_object() && !value.is_array() {
            env.push((format!("FACTER_{name}"), crate::model::display_value(value)));
        }
    }
    env.push(("FACTER_ordo_node".into(), step.work.node.name.clone()));
    env.push(("FACTER_ordo_node_dir".into(), work_dir.to_string()));
    let program = std::env::var("ORDO_PUPPET").unwrap_or_else(|_| "puppet".to_string());
    const SUMMARY: &str = ".puppet/public/last_run_summary.yaml";
    step.transport.remove(SUMMARY).await;

    let command = NodeCommand { program, args, env, stdin: manifest.into_bytes() };
    // Facter cannot read some of /proc in a sandbox and says so on every run; that is noise.
    let captured = Arc::new(Mutex::new(Output::new(Masker::default())));
    let status = step.transport.run(command, step.deadline, step.cancel, &captured).await;
    let captured = captured.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).finish();
    for line in captured.lines() {
        if !line.contains("Facter: Permission denied") {
            step.write(&format!("{line}\n"));
        }
    }
    // The cached catalog holds every parameter in clear, secrets included.
    step.transport.remove(".puppet/var/client_data").await;

    let summary: Summary = step
        .transport
        .read_file(SUMMARY)
        .await
        .and_then(|bytes| serde_saphyr::from_str(&String::from_utf8_lossy(&bytes)).ok())
        .unwrap_or_default();
    let counts = &summary.resources;
    let code = match status {
        Ok(finished) => finished.code,
        Err(ProcessError::TimedOut) => {
            return all(ComponentResult::Failed {
                message: format!("puppet apply timed out after {}s (the node's timeout)", step.work.node.timeout_secs),
            });
        }
        Err(ProcessError::Cancelled) => return all(ComponentResult::Cancelled),
        Err(ProcessError::Spawn(message)) => return all(ComponentResult::Failed { message }),
    };
    step.write(&format!(
        "==> puppet apply exited {}: {} resources, {} changed, {} failed, {} out of sync\n",
        code.map_or("by a signal".to_string(), |code| code.to_string()),
        counts.total,
        counts.changed,
        counts.failed,
        counts.out_of_sync
    ));
    let result = match (step.phase, code) {
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
