//! Facts from the node itself: `facter --json`, as Puppet gathers them.
//!
//! A local node is this machine, so its facts are gathered once per process and shared.
//! Facter may exit non-zero after printing its facts (it logs every /proc file it cannot
//! read); what counts is whether its output is a JSON object.

use std::sync::OnceLock;

use anyhow::{Context, bail};
use serde_json::{Map, Value};

use crate::model::Transport;

/// This machine's facts, gathered once.
static LOCAL_FACTS: OnceLock<Result<Map<String, Value>, String>> = OnceLock::new();

/// The facts of the node reached by `transport`.
pub fn gather(transport: &Transport) -> anyhow::Result<Map<String, Value>> {
    match transport {
        Transport::Local => {
            LOCAL_FACTS.get_or_init(|| facter().map_err(|err| format!("{err:#}"))).clone().map_err(anyhow::Error::msg)
        }
        other => bail!("facts cannot be gathered over the {} transport yet", other.name()),
    }
}

fn facter() -> anyhow::Result<Map<String, Value>> {
    let facter = std::env::var("ORDO_FACTER").unwrap_or_else(|_| "facter".to_string());
    let output = std::process::Command::new(&facter)
        .arg("--json")
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("running {facter} --json"))?;
    match serde_json::from_slice::<Value>(&output.stdout) {
        Ok(Value::Object(facts)) => Ok(facts),
        _ => bail!(
            "{facter} --json printed no facts (exit {}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or_default()
        ),
    }
}
