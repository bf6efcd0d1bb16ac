//! Renderers of a [`Plan`] for people and programs: text (in the spirit of `puppet job
//! plan`), Markdown (for pull-request comments), JSON (the stable interface), and the
//! graph as DOT or Mermaid. Renderers only format; they never decide anything, so the
//! same plan always renders to the same bytes.
//!
//! Names and values come from the repository, which may be a stranger's pull request, so
//! each format escapes them: control characters are shown escaped (no value can add a line
//! or a terminal escape to a text plan), and in Markdown every name is a code span that its
//! text cannot close, so no value can make a heading, a link or a mention in a comment.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;

use foldhash::{HashMap, HashMapExt};
use serde::Serialize;
use serde_json::Value;

use super::{Action, Change, EdgeRef, Plan};
use crate::model::{Model, Params};
use crate::text::{escape_controls, plural};

/// Terminal styling; plain when output is not a terminal or `NO_COLOR` is set.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(self, text: &str, code: &str) -> String {
        if self.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }
}

const RULE: &str = "-----------------------------------------------------------------------";

fn marker(action: Action) -> &'static str {
    match action {
        Action::Add => "+",
        Action::Change => "~",
        Action::Move => ">",
        Action::Remove => "-",
    }
}

fn action_color(action: Action) -> &'static str {
    match action {
        Action::Add => "32",
        Action::Change => "33",
        Action::Move => "36",
        Action::Remove => "31",
    }
}

/// The one-line summary: `Plan: 1 to add, 2 to change, 0 to move, 0 to remove; 3 nodes in 2 groups.`
pub fn summary(plan: &Plan) -> String {
    summary_with(plan, |text| escape_controls(text).into_owned())
}

/// The summary with the environment and revision shown by `name`.
fn summary_with(plan: &Plan, name: impl Fn(&str) -> String) -> String {
    if !plan.has_changes() {
        return format!("No changes: {} is up to date at {}.", name(&plan.environment), name(&plan.revision));
    }
    let n_nodes: usize = plan.groups.iter().map(Vec::len).sum();
    format!(
        "Plan: {} to add, {} to change, {} to move, {} to remove; {} in {}.",
        plan.count(Action::Add),
        plan.count(Action::Change),
        plan.count(Action::Move),
        plan.count(Action::Remove),
        plural(n_nodes, "node"),
        plural(plan.groups.len(), "group"),
    )
}

/// The plan as text.
pub fn text(plan: &Plan, style: Style) -> String {
    let changes = ChangeIndex::new(plan);
    let mut out = String::new();
    let _ = writeln!(out, "Plan for environment {}", style.paint(&plain(&plan.environment), "1"));
    let _ = writeln!(out, "  Revision  {}", plain(&plan.revision));
    let _ = writeln!(out, "  Base      {}", plain(plan.base_revision.as_deref().unwrap_or("(nothing applied yet)")));
    let _ = writeln!(out);
    // Only the instances with changes are listed, so the plan of a small change to a large
    // site stays small.
    let changed: HashSet<&str> = plan.changes.iter().map(|change| change.application.as_str()).collect();
    let listed: Vec<&str> = plan
        .applications
        .iter()
        .map(|(application, _)| application.as_str())
        .filter(|application| changed.contains(application))
        .collect();
    let n_unchanged = plan.applications.len() - listed.len();
    let _ = match n_unchanged {
        0 => writeln!(out, "Application instances: {}", plan.applications.len()),
        _ => writeln!(out, "Application instances: {} ({n_unchanged} unchanged)", plan.applications.len()),
    };
    for application in listed {
        let _ = writeln!(out, "  - {}", plain(application));
    }
    let _ = writeln!(out);
    if plan.groups.is_empty() {
        let _ = writeln!(out, "No node needs to run.");
    } else {
        let _ =
            writeln!(out, "Node run order (nodes in a group run at the same time; group 0 runs before group 1, etc.):");
        for (index, group) in plan.groups.iter().enumerate() {
            let _ = writeln!(out, "{index} {RULE}");
            for node in group {
                let _ = writeln!(out, "{}", style.paint(&plain(node), "33"));
                for change in changes.on(plan, node, false) {
                    write_change(&mut out, change, style, false);
                }
            }
            let _ = writeln!(out);
        }
    }
    if !plan.teardown_groups.is_empty() {
        let _ = writeln!(out, "Teardown (runs with --prune, after the groups above; consumers first):");
        for (index, group) in plan.teardown_groups.iter().enumerate() {
            let _ = writeln!(out, "{index} {RULE}");
            for node in group {
                let _ = writeln!(out, "{}", style.paint(&plain(node), "33"));
                for change in changes.on(plan, node, true) {
                    write_change(&mut out, change, style, true);
                }
            }
            let _ = writeln!(out);
        }
    }
    let _ = writeln!(out, "{}", summary(plan));
    out
}

/// Changes by (component, node): the node it runs on, or for teardowns the node it leaves.
struct ChangeIndex<'a> {
    runs: BTreeMap<(&'a str, &'a str), &'a Change>,
    teardowns: BTreeMap<(&'a str, &'a str), &'a Change>,
}

impl<'a> ChangeIndex<'a> {
    fn new(plan: &'a Plan) -> ChangeIndex<'a> {
        let mut index = ChangeIndex { runs: BTreeMap::new(), teardowns: BTreeMap::new() };
        for change in &plan.changes {
            match change.action {
                Action::Remove => {
                    index.teardowns.insert((&change.component, &change.node), change);
                }
                Action::Move => {
                    index.runs.insert((&change.component, &change.node), change);
                    if let Some(previous) = &change.previous_node {
                        index.teardowns.insert((&change.component, previous), change);
                    }
                }
                Action::Add | Action::Change => {
                    index.runs.insert((&change.component, &change.node), change);
                }
            }
        }
        index
    }

    /// The changes that run on a node, or that tear down on it, in their order.
    fn on(&self, plan: &'a Plan, node: &'a str, teardown: bool) -> Vec<&'a Change> {
        let (order, map) = if teardown { (&plan.teardowns, &self.teardowns) } else { (&plan.runs, &self.runs) };
        order
            .get(node)
            .into_iter()
            .flatten()
            .filter_map(|component| map.get(&(component.as_str(), node)).copied())
            .collect()
    }
}

fn write_change(out: &mut String, change: &Change, style: Style, teardown: bool) {
    let shown_action = if teardown { Action::Remove } else { change.action };
    let mut line = format!("{} {} - {}", marker(shown_action), plain(&change.application), plain(&change.component));
    match (change.action, &change.previous_node) {
        (Action::Move, Some(previous)) if !teardown => {
            let _ = write!(line, " (moved from {})", plain(previous));
        }
        (Action::Move, _) if teardown => {
            let _ = write!(line, " (moved to {})", plain(&change.node));
        }
        _ => {}
    }
    if change.action == Action::Change && change.reasons == ["code"] {
        line.push_str(" (code changed)");
    } else if change.action == Action::Change && change.reasons.contains(&"code") {
        line.push_str(" (parameters and code changed)");
    }
    let _ = writeln!(out, "    {}", style.paint(&line, action_color(shown_action)));
    if let Some(diff) = &change.diff
        && change.action == Action::Change
    {
        for diff_line in diff.lines() {
            let diff_line = &*plain(diff_line);
            let colored = match diff_line.chars().next() {
                Some('+') if !diff_line.starts_with("+++") => style.paint(diff_line, "32"),
                Some('-') if !diff_line.starts_with("---") => style.paint(diff_line, "31"),
                _ => diff_line.to_string(),
            };
            let _ = writeln!(out, "        {colored}");
        }
    }
}

/// The plan as Markdown, for pull-request comments.
pub fn markdown(plan: &Plan) -> String {
    let changes = ChangeIndex::new(plan);
    let mut out = String::new();
    let _ = writeln!(out, "### ordo plan for {}", code(&plan.environment));
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Revision {} against {}.",
        code(&plan.revision),
        plan.base_revision.as_deref().map_or("nothing applied yet".to_string(), code)
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "**{}**", summary_with(plan, code));
    let _ = writeln!(out);
    for (index, group) in plan.groups.iter().enumerate() {
        let _ = writeln!(out, "#### Group {index}");
        let _ = writeln!(out);
        for node in group {
            let _ = writeln!(out, "- {}", code(node));
            for change in changes.on(plan, node, false) {
                let from = match &change.previous_node {
                    Some(previous) => format!(", moved from {}", code(previous)),
                    None => String::new(),
                };
                let _ = writeln!(
                    out,
                    "  - {} {} ({}{from})",
                    change.action.as_str(),
                    code(&change.component),
                    code(&change.application)
                );
            }
        }
        let _ = writeln!(out);
    }
    if !plan.teardown_groups.is_empty() {
        let _ = writeln!(out, "#### Teardown (with `--prune`, consumers first)");
        let _ = writeln!(out);
        for group in &plan.teardown_groups {
            for node in group {
                for change in changes.on(plan, node, true) {
                    let _ = writeln!(
                        out,
                        "- remove {} from {} ({})",
                        code(&change.component),
                        code(node),
                        code(&change.application)
                    );
                }
            }
        }
        let _ = writeln!(out);
    }
    let diffs: Vec<&Change> =
        plan.changes.iter().filter(|change| change.action == Action::Change && change.diff.is_some()).collect();
    if !diffs.is_empty() {
        let _ = writeln!(out, "<details><summary>Parameter changes</summary>");
        let _ = writeln!(out);
        for change in diffs {
            let _ = writeln!(out, "{} on {}", code(&change.component), code(&change.node));
            let _ = writeln!(out);
            out.push_str(&fenced("diff", change.diff.as_deref().unwrap_or_default()));
            let _ = writeln!(out);
        }
        let _ = writeln!(out, "</details>");
    }
    out
}

/// Repository text for a text plan: control characters escaped.
fn plain(text: &str) -> Cow<'_, str> {
    escape_controls(text)
}

/// Repository text as a fenced Markdown code block that shows it literally: each line with
/// its control characters escaped, and a fence longer than any run of backticks in it, so no
/// line ends the block early.
pub fn fenced(info: &str, text: &str) -> String {
    let lines: String = text.lines().map(|line| format!("{}\n", escape_controls(line))).collect();
    let fence = "`".repeat(longest_run(&lines, '`').max(2) + 1);
    format!("{fence}{info}\n{lines}{fence}\n")
}

/// Repository text as a Markdown code span that shows it literally: delimited by more
/// backticks than it holds in a row, padded when it starts or ends with one, and with its
/// control characters escaped, so it cannot end early or spill into the lines around it.
pub fn code(text: &str) -> String {
    let text = escape_controls(text);
    let fence = "`".repeat(longest_run(&text, '`') + 1);
    let pad = text.starts_with('`') || text.ends_with('`') || (text.starts_with(' ') && text.ends_with(' '));
    let pad = if pad && !text.is_empty() { " " } else { "" };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// The length of the longest run of `c` in `text`.
fn longest_run(text: &str, c: char) -> usize {
    let (mut longest, mut current) = (0, 0);
    for next in text.chars() {
        current = if next == c { current + 1 } else { 0 };
        longest = longest.max(current);
    }
    longest
}

// The JSON documents are written straight from the plan and the model, without a
// `serde_json::Value` tree in between (at 100,000 nodes that tree alone held hundreds of
// megabytes). Their keys are in alphabetical order, as DESIGN.md shows them: each struct
// below, and `Change` and `EdgeRef`, declare their fields in that order.

/// An application instance and its components.
#[derive(Serialize)]
struct ApplicationJson<'a> {
    components: &'a [String],
    #[serde(rename = "ref")]
    reference: &'a str,
}

#[derive(Serialize)]
struct SummaryJson {
    add: usize,
    change: usize,
    groups: usize,
    #[serde(rename = "move")]
    moves: usize,
    nodes: usize,
    remove: usize,
}

/// `plan --format json`.
#[derive(Serialize)]
struct PlanJson<'a> {
    applications: Vec<ApplicationJson<'a>>,
    base_revision: &'a Option<String>,
    changes: &'a [Change],
    edges: &'a [EdgeRef],
    environment: &'a str,
    groups: &'a [Vec<String>],
    nodes: &'a BTreeMap<String, Vec<String>>,
    revision: &'a str,
    summary: SummaryJson,
    teardown_groups: &'a [Vec<String>],
}

/// `show --format json`.
#[derive(Serialize)]
struct ShowJson<'a> {
    applications: Vec<ApplicationJson<'a>>,
    capabilities: BTreeMap<&'a str, CapabilityJson<'a>>,
    components: BTreeMap<&'a str, ComponentJson<'a>>,
    edges: &'a [EdgeRef],
    groups: &'a [Vec<String>],
    nodes: &'a BTreeMap<String, Vec<String>>,
    revision: &'a str,
}

#[derive(Serialize)]
struct ComponentJson<'a> {
    application: &'a str,
    node: &'a str,
    parameters: ShownParams<'a>,
}

#[derive(Serialize)]
struct CapabilityJson<'a> {
    attributes: ShownParams<'a>,
    producer: &'a str,
}

/// Parameters by name (in name order), secrets as `(sensitive)`.
struct ShownParams<'a>(&'a Params);

impl Serialize for ShownParams<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(name, param)| {
            (name, if param.secret { ShownValue::Sensitive("(sensitive)") } else { ShownValue::Value(&param.value) })
        }))
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum ShownValue<'a> {
    Sensitive(&'static str),
    Value(&'a Value),
}

fn applications_json(plan: &Plan) -> Vec<ApplicationJson<'_>> {
    plan.applications.iter().map(|(reference, components)| ApplicationJson { components, reference }).collect()
}

/// `show --format json`: the desired state's graph, with all groups, and the resolved model:
/// what each shown component gets (`components`, secrets as `(sensitive)`) and what each
/// capability its producers export carries (`capabilities`).
pub fn show_json(plan: &Plan, model: &Model) -> String {
    let shown: std::collections::BTreeSet<&str> = plan.nodes.values().flatten().map(String::as_str).collect();
    let components = model
        .components
        .iter()
        .filter(|component| shown.contains(component.reference.as_str()))
        .map(|component| {
            let json = ComponentJson {
                application: &component.application,
                node: &component.node,
                parameters: ShownParams(&component.parameters),
            };
            (component.reference.as_str(), json)
        })
        .collect();
    let capabilities = model
        .capabilities
        .iter()
        .filter(|(_, capability)| shown.contains(capability.producer.as_str()))
        .map(|(reference, capability)| {
            let json =
                CapabilityJson { attributes: ShownParams(&capability.attributes), producer: &capability.producer };
            (reference.as_str(), json)
        })
        .collect();
    pretty(&ShowJson {
        applications: applications_json(plan),
        capabilities,
        components,
        edges: &plan.edges,
        groups: &plan.all_groups,
        nodes: &plan.nodes,
        revision: &plan.revision,
    })
}

/// `plan --format json`: the stable keys of DESIGN.md plus the summary.
pub fn json(plan: &Plan) -> String {
    pretty(&PlanJson {
        applications: applications_json(plan),
        base_revision: &plan.base_revision,
        changes: &plan.changes,
        edges: &plan.edges,
        environment: &plan.environment,
        groups: &plan.groups,
        nodes: &plan.nodes,
        revision: &plan.revision,
        summary: SummaryJson {
            add: plan.count(Action::Add),
            change: plan.count(Action::Change),
            groups: plan.groups.len(),
            moves: plan.count(Action::Move),
            nodes: plan.groups.iter().map(Vec::len).sum(),
            remove: plan.count(Action::Remove),
        },
        teardown_groups: &plan.teardown_groups,
    })
}

fn pretty(document: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(document).expect("a plan always serialises");
    text.push('\n');
    text
}

/// `show` as text, like `puppet app show`: each application, its components and nodes.
pub fn show_text(plan: &Plan, style: Style) -> String {
    let mut out = String::new();
    let node_of: BTreeMap<&str, &str> = plan
        .nodes
        .iter()
        .flat_map(|(node, components)| components.iter().map(move |component| (component.as_str(), node.as_str())))
        .collect();
    // Each component's edges out and in, in the plan's edge order, found once: scanning
    // every edge for every component is quadratic in the size of the site.
    let mut edges_from: HashMap<&str, Vec<&EdgeRef>> = HashMap::new();
    let mut edges_to: HashMap<&str, Vec<&EdgeRef>> = HashMap::new();
    for edge in &plan.edges {
        edges_from.entry(edge.from.as_str()).or_default().push(edge);
        edges_to.entry(edge.to.as_str()).or_default().push(edge);
    }
    for (application, components) in &plan.applications {
        let _ = writeln!(out, "{}", style.paint(&plain(application), "1"));
        for component in components {
            let node = node_of.get(component.as_str()).copied().unwrap_or("(unassigned)");
            let _ = writeln!(out, "  {} => {}", plain(component), style.paint(&plain(node), "33"));
            for edge in edges_from.get(component.as_str()).into_iter().flatten() {
                let via = edge
                    .capability
                    .as_deref()
                    .map_or("required by".to_string(), |cap| format!("+ produces {} for", plain(cap)));
                let _ = writeln!(out, "      {via} {}", plain(&edge.to));
            }
            for edge in edges_to.get(component.as_str()).into_iter().flatten() {
                let via = edge
                    .capability
                    .as_deref()
                    .map_or("requires".to_string(), |cap| format!("consumes {} from", plain(cap)));
                let _ = writeln!(out, "      {via} {}", plain(&edge.from));
            }
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "Node groups:");
    for (index, group) in plan.all_groups.iter().enumerate() {
        let _ = writeln!(out, "  {index}: {}", plain(&group.join(", ")));
    }
    out
}

/// The component graph as DOT, one cluster per node, clusters in group order.
pub fn dot(plan: &Plan) -> String {
    let mut out = String::from("digraph ordo {\n  rankdir=LR;\n  node [shape=box];\n");
    for (index, group) in plan.all_groups.iter().enumerate() {
        for node in group {
            let name = escape(node);
            let _ = writeln!(out, "  subgraph \"cluster_{name}\" {{\n    label=\"{name} (group {index})\";");
            for component in plan.nodes.get(node).into_iter().flatten() {
                let _ = writeln!(out, "    \"{}\";", escape(component));
            }
            out.push_str("  }\n");
        }
    }
    for edge in &plan.edges {
        let label = edge.capability.as_deref().map(|cap| format!(" [label=\"{}\"]", escape(cap))).unwrap_or_default();
        let _ = writeln!(out, "  \"{}\" -> \"{}\"{label};", escape(&edge.from), escape(&edge.to));
    }
    out.push_str("}\n");
    out
}

fn escape(text: &str) -> String {
    escape_controls(text).replace('\\', "\\\\").replace('"', "\\\"")
}

/// Text inside a Mermaid label's quotes.
fn mermaid_label(text: &str) -> String {
    escape_controls(text).replace('"', "#quot;")
}

/// The component graph as a Mermaid flowchart.
pub fn mermaid(plan: &Plan) -> String {
    let ids: BTreeMap<&str, String> = plan
        .nodes
        .values()
        .flatten()
        .enumerate()
        .map(|(index, component)| (component.as_str(), format!("c{index}")))
        .collect();
    let mut out = String::from("flowchart LR\n");
    let mut n_subgraph = 0;
    for (index, group) in plan.all_groups.iter().enumerate() {
        for node in group {
            let _ = writeln!(out, "  subgraph n{n_subgraph}[\"{} (group {index})\"]", mermaid_label(node));
            n_subgraph += 1;
            for component in plan.nodes.get(node).into_iter().flatten() {
                let _ = writeln!(out, "    {}[\"{}\"]", ids[component.as_str()], mermaid_label(component));
            }
            out.push_str("  end\n");
        }
    }
    for edge in &plan.edges {
        let (Some(from), Some(to)) = (ids.get(edge.from.as_str()), ids.get(edge.to.as_str())) else {
            continue;
        };
        match &edge.capability {
            Some(capability) => {
                let _ = writeln!(out, "  {from} -- \"{}\" --> {to}", mermaid_label(capability));
            }
            None => {
                let _ = writeln!(out, "  {from} -.-> {to}");
            }
        }
    }
    out
}
