//! Script components: a package's `apply`, `check` or `remove` script, run on the node from
//! the package's directory there.
//!
//! A script gets its parameters twice: as environment variables named like the parameters
//! (`$db_host`), and as a JSON document on stdin with the component, node and facts.

use serde_json::json;

use super::node::Step;
use super::process::ProcessError;
use super::transport::{Code, NodeCommand};
use super::{ComponentResult, ComponentWork, Phase};
use crate::model::display_value;
use crate::text::escape_controls;

/// Runs one script component; `script` is its path inside the component's code, `None`
/// when the package has no script for this phase.
pub async fn run(step: &Step<'_>, component: &ComponentWork, script: Option<&str>) -> ComponentResult {
    let Some(script) = script else {
        return match step.phase {
            Phase::Apply => ComponentResult::Failed { message: "the component has no apply script".into() },
            Phase::Noop => ComponentResult::WouldChange,
            Phase::Teardown => ComponentResult::Removed,
        };
    };
    let action = match step.phase {
        Phase::Apply => "apply",
        Phase::Noop => "check",
        Phase::Teardown => "remove",
    };
    // The header is ordo's own line in the output: a title cannot add lines to it.
    step.write(&format!("==> {} {action}\n", escape_controls(&component.reference)));
    let result = match command(step, component, script, action).await {
        Ok(command) => {
            exit_result(step, action, step.transport.run(command, step.deadline, step.cancel, step.output).await)
        }
        Err(message) => ComponentResult::Failed { message },
    };
    if let ComponentResult::Failed { message } = &result {
        step.write(&format!("==> {} failed: {message}\n", escape_controls(&component.reference)));
    }
    result
}

async fn command(
    step: &Step<'_>,
    component: &ComponentWork,
    script: &str,
    action: &str,
) -> Result<NodeCommand, String> {
    let code = component.code();
    let installed = step.transport.install(&code).await?;
    let (program, package_dir) = match code {
        Code::Script(_) => (installed, None),
        Code::Package(_) | Code::Puppet(_) => (format!("{installed}/{script}"), Some(installed)),
    };
    let node = &step.work.node;
    let mut env = vec![
        ("ORDO_ACTION".to_string(), action.to_string()),
        ("ORDO_NOOP".to_string(), (step.phase == Phase::Noop).to_string()),
        ("ORDO_COMPONENT".to_string(), component.reference.clone()),
        ("ORDO_TYPE".to_string(), component.type_name.clone()),
        ("ORDO_TITLE".to_string(), component.title.clone()),
        ("ORDO_APPLICATION".to_string(), component.application.clone()),
        ("ORDO_NODE".to_string(), node.name.clone()),
        ("ORDO_NODE_DIR".to_string(), step.transport.work_dir().to_string()),
    ];
    if let Some(package_dir) = package_dir {
        env.push(("ORDO_PACKAGE_DIR".to_string(), package_dir));
    }
    for (name, param) in &component.parameters {
        env.push((name.clone(), display_value(&param.value)));
    }
    let parameters: serde_json::Map<String, serde_json::Value> =
        component.parameters.iter().map(|(name, param)| (name.clone(), param.value.clone())).collect();
    let document = json!({
        "action": action,
        "noop": step.phase == Phase::Noop,
        "component": component.reference,
        "type": component.type_name,
        "title": component.title,
        "application": component.application,
        "node": node.name,
        "parameters": parameters,
        "facts": node.facts,
    });
    Ok(NodeCommand { program, args: Vec::new(), env, stdin: document.to_string().into_bytes() })
}

fn exit_result(
    step: &Step<'_>,
    action: &str,
    finished: Result<super::process::Finished, ProcessError>,
) -> ComponentResult {
    match finished {
        Ok(finished) => match (step.phase, finished.code) {
            (Phase::Apply, Some(0)) => ComponentResult::Applied,
            (Phase::Noop, Some(0)) => ComponentResult::InSync,
            (Phase::Noop, Some(2)) => ComponentResult::WouldChange,
            (Phase::Teardown, Some(0)) => ComponentResult::Removed,
            (_, Some(code)) => ComponentResult::Failed { message: format!("{action} exited with code {code}") },
            (_, None) => ComponentResult::Failed { message: format!("{action} was killed by a signal") },
        },
        Err(ProcessError::TimedOut) => ComponentResult::Failed {
            message: format!("timed out after {}s (the node's timeout)", step.work.node.timeout_secs),
        },
        Err(ProcessError::Cancelled) => ComponentResult::Cancelled,
        Err(ProcessError::Spawn(message)) => ComponentResult::Failed { message },
    }
}
