//! The pages' markup (maud escapes every value, so text from a repository is shown as text).

use std::collections::BTreeMap;

use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::Value;

use crate::controller::{Controller, EnvironmentView, commit_of, short};
use crate::plan::EdgeRef;
use crate::plan::picture::{self, SvgOptions};
use crate::store::{
    JobDetail, JobRecord, NodePhase, NodeResultRecord, NodeState, PreviewDetail, PreviewRecord, PreviewState,
    timestamp_millis,
};

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · ordo" }
                link rel="stylesheet" href="/ui/style.css";
                script src="/ui/ui.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    a.brand href="/" { "ordo" }
                    nav aria-label="Main" { a href="/" { "Environments" } a href="/#jobs" { "Jobs" } }
                }
                main #main { (body) }
            }
        }
    }
}

fn badge(state: &str) -> Markup {
    let class = format!("badge s-{}", state.replace(' ', "-"));
    html! { span class=(class) { (state) } }
}

fn time(timestamp: Option<&str>) -> Markup {
    match timestamp {
        Some(timestamp) => html! { time datetime=(timestamp) { (timestamp) } },
        None => html! { span.muted { "–" } },
    }
}

/// A revision as its short commit, linked to the forge's page of it when there is one.
fn revision(controller: &Controller, revision: Option<&str>) -> Markup {
    let Some(revision) = revision else { return html! { span.muted { "none yet" } } };
    let Some(sha) = commit_of(revision) else { return html! { code { (revision) } } };
    let label = short(&sha).to_string();
    match controller.config().forge.commit_url(&sha) {
        Some(url) => html! { a.mono href=(url) title=(revision) { (label) } },
        None => html! { code title=(revision) { (label) } },
    }
}

fn duration(job: &JobRecord) -> String {
    let (Some(start), Some(end)) =
        (job.started_at.as_deref().and_then(timestamp_millis), job.finished_at.as_deref().and_then(timestamp_millis))
    else {
        return String::new();
    };
    format_duration(end - start)
}

fn format_duration(millis: i64) -> String {
    match millis {
        millis if millis < 1000 => format!("{millis} ms"),
        millis if millis < 60_000 => format!("{:.1} s", millis as f64 / 1000.0),
        millis => format!("{} min {} s", millis / 60_000, millis % 60_000 / 1000),
    }
}

fn jobs_table(jobs: &[JobRecord], controller: &Controller) -> Markup {
    html! {
        div.table {
            table {
                thead { tr {
                    th scope="col" { "Job" } th scope="col" { "Environment" } th scope="col" { "State" }
                    th scope="col" { "Revision" } th.wide scope="col" { "Trigger" } th scope="col" { "Started" }
                    th.wide scope="col" { "Duration" } th scope="col" { "Summary" }
                } }
                tbody {
                    @for job in jobs {
                        tr {
                            td { a href={ "/jobs/" (job.id) } { "#" (job.id) } }
                            td { a href={ "/environments/" (job.environment) } { (job.environment) } }
                            td { (badge(job.state.as_str())) }
                            td { (revision(controller, Some(&job.revision))) }
                            td.wide { (job.trigger.as_str()) }
                            td { (time(job.started_at.as_deref().or(Some(&job.queued_at)))) }
                            td.wide { (duration(job)) }
                            td { (job.summary) }
                        }
                    }
                }
            }
        }
        @if jobs.is_empty() { p.muted { "No jobs yet." } }
    }
}

pub fn home(
    controller: &Controller,
    environments: &[EnvironmentView],
    jobs: &[JobRecord],
    previews: &[PreviewRecord],
) -> Markup {
    layout(
        "Environments",
        html! {
            h1 { "Environments" }
            div.table { table {
                thead { tr {
                    th scope="col" { "Environment" } th scope="col" { "Branch" } th scope="col" { "Applied" }
                    th.wide scope="col" { "Attempted" } th scope="col" { "Condition" } th scope="col" { "Last job" }
                    th.wide scope="col" { "Queue" }
                } }
                tbody {
                    @for environment in environments {
                        tr {
                            td { a href={ "/environments/" (environment.name) } { (environment.name) } }
                            td { code { (environment.branch) } }
                            td { (revision(controller, environment.last_applied_revision.as_deref())) }
                            td.wide { (revision(controller, environment.last_attempted_revision.as_deref())) }
                            td { (badge(environment.condition.status)) " " span.muted { (environment.condition.reason) } }
                            td {
                                @if let Some(job) = &environment.last_job {
                                    a href={ "/jobs/" (job.id) } { "#" (job.id) } " " (badge(job.state.as_str()))
                                } @else { span.muted { "none" } }
                            }
                            td.wide { (queue(controller, environment)) }
                        }
                    }
                }
            } }
            h2 #jobs { "Jobs" }
            (jobs_table(jobs, controller))
            @if !previews.is_empty() {
                h2 #previews { "Pull-request previews" }
                div.table { table {
                    thead { tr {
                        th scope="col" { "Pull request" } th scope="col" { "Environment" } th scope="col" { "State" }
                        th.wide scope="col" { "Title" } th scope="col" { "Updated" } th scope="col" { "Summary" }
                    } }
                    tbody {
                        @for preview in previews {
                            tr {
                                td { a href={ "/previews/" (preview.number) } { "#" (preview.number) } }
                                td { (preview.environment) }
                                td { (badge(preview.state.as_str())) }
                                td.wide { code { (preview.title) } }
                                td { (time(Some(&preview.updated_at))) }
                                td { (preview.summary) }
                            }
                        }
                    }
                } }
            }
        },
    )
}

fn queue(controller: &Controller, environment: &EnvironmentView) -> Markup {
    html! {
        @if let Some(running) = &environment.queue.running {
            "running " (revision(controller, Some(&running.revision)))
            @if let Some(job) = running.job { " (" a href={ "/jobs/" (job) } { "#" (job) } ")" }
        }
        @if let Some(pending) = &environment.queue.pending {
            @if environment.queue.running.is_some() { "; " }
            "next " (revision(controller, Some(&pending.revision)))
        }
        @if environment.queue.running.is_none() && environment.queue.pending.is_none() { span.muted { "idle" } }
    }
}

pub fn job(controller: &Controller, detail: &JobDetail) -> Markup {
    let job = &detail.job;
    let live_url = format!("/jobs/{}/events", job.id);
    layout(
        &format!("Job {}", job.id),
        html! {
            h1 { "Job #" (job.id) " " (badge(job.state.as_str())) }
            dl.facts {
                dt { "Environment" } dd { a href={ "/environments/" (job.environment) } { (job.environment) } }
                dt { "Revision" } dd { (revision(controller, Some(&job.revision))) " " code.wide { (job.revision) } }
                dt { "Kind" } dd { (job.kind.as_str()) }
                dt { "Trigger" } dd { (job.trigger.as_str()) }
                dt { "Queued" } dd { (time(Some(&job.queued_at))) }
                dt { "Started" } dd { (time(job.started_at.as_deref())) }
                dt { "Finished" } dd { (time(job.finished_at.as_deref())) }
                dt { "Duration" } dd { (duration(job)) }
            }
            @if let Some(diagnostics) = &detail.diagnostics {
                h2 { "Why the revision could not be planned" }
                pre { (diagnostics) }
            }
            @if job.state.is_final() {
                div { (job_live(controller, detail)) }
            } @else {
                div data-live=(live_url) aria-live="polite" { (job_live(controller, detail)) }
            }
            @if let Some(plan) = &detail.plan { (plan_changes(plan)) }
        },
    )
}

/// The part of a job's page that changes while it runs.
pub fn job_live(_controller: &Controller, detail: &JobDetail) -> Markup {
    let job = &detail.job;
    let groups: Vec<Vec<String>> =
        detail.plan.as_ref().and_then(|plan| serde_json::from_value(plan["groups"].clone()).ok()).unwrap_or_default();
    let teardown_groups: Vec<Vec<String>> = detail
        .plan
        .as_ref()
        .and_then(|plan| serde_json::from_value(plan["teardown_groups"].clone()).ok())
        .unwrap_or_default();
    let results: BTreeMap<(NodePhase, &str), &NodeResultRecord> =
        detail.nodes.iter().map(|node| ((node.phase, node.node.as_str()), node)).collect();
    let start = job.started_at.as_deref().and_then(timestamp_millis);
    let end = job.finished_at.as_deref().and_then(timestamp_millis).or_else(|| {
        detail.nodes.iter().filter_map(|node| node.finished_at.as_deref().and_then(timestamp_millis)).max()
    });
    let apply_phase = if job.kind.as_str() == "noop" { NodePhase::Noop } else { NodePhase::Apply };
    let node_state = |phase: NodePhase, node: &str| -> String {
        match results.get(&(phase, node)) {
            Some(result) => result.state.as_str().to_string(),
            None if job.state.is_final() => "not started".to_string(),
            None => "waiting".to_string(),
        }
    };
    let picture = detail.plan.as_ref().map(|plan| {
        let nodes: BTreeMap<String, Vec<String>> = serde_json::from_value(plan["nodes"].clone()).unwrap_or_default();
        let edges: Vec<EdgeRef> = serde_json::from_value(plan["edges"].clone()).unwrap_or_default();
        let ran: std::collections::BTreeSet<String> = groups.iter().flatten().cloned().collect();
        let states = ran.iter().map(|node| (node.clone(), node_state(apply_phase, node))).collect();
        picture::svg(
            &picture::of_graph(&nodes, &edges).only(&ran),
            &SvgOptions { top_to_bottom: false, node_states: states },
        )
    });
    html! {
        div data-final[job.state.is_final()] {
            p { (badge(job.state.as_str())) " " (job.summary) }
            @if !groups.is_empty() {
                h2 { "Graph" }
                div.graph role="img" aria-label="The job's nodes by group, coloured by result" {
                    @if let Some(svg) = &picture { (PreEscaped(svg)) }
                }
            }
            @for (index, group) in groups.iter().enumerate() {
                (group_section(&format!("Group {index}"), group, apply_phase, &results, &node_state, start, end, job))
            }
            @for (index, group) in teardown_groups.iter().enumerate() {
                (group_section(&format!("Teardown {index}"), group, NodePhase::Teardown, &results, &node_state, start, end, job))
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn group_section(
    title: &str,
    group: &[String],
    phase: NodePhase,
    results: &BTreeMap<(NodePhase, &str), &NodeResultRecord>,
    node_state: &dyn Fn(NodePhase, &str) -> String,
    start: Option<i64>,
    end: Option<i64>,
    job: &JobRecord,
) -> Markup {
    html! {
        section.group {
            h2 { (title) }
            div.table { table {
                thead { tr { th scope="col" { "Node" } th scope="col" { "Result" } th scope="col" { "Timing" } th scope="col" { "Components" } } }
                tbody {
                    @for node in group {
                        @let result = results.get(&(phase, node.as_str())).copied();
                        tr {
                            td { code { (node) } }
                            td {
                                (badge(&node_state(phase, node)))
                                @if let Some(result) = result { @if result.finished_at.is_some() { " " span.muted { (format_duration(result.duration_ms)) } } }
                            }
                            td { (timing_bar(result, start, end)) }
                            td {
                                @if let Some(result) = result {
                                    ul.components {
                                        @for component in &result.components {
                                            li {
                                                code { (component.component) } " "
                                                (badge(serde_json::to_value(component.result).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default().as_str()))
                                                @if let Some(message) = &component.message { " " (message) }
                                            }
                                        }
                                    }
                                    @if !result.output.is_empty() {
                                        details { summary { "Output (tail)" } pre { (result.output) } }
                                    }
                                } @else if job.state.is_final() {
                                    // Why it never started: the run stopped first.
                                    span.muted { "did not run: " (job.summary) }
                                } @else {
                                    span.muted { "waiting for its group" }
                                }
                            }
                        }
                    }
                }
            } }
        }
    }
}

fn timing_bar(result: Option<&NodeResultRecord>, start: Option<i64>, end: Option<i64>) -> Markup {
    let (Some(result), Some(start), Some(end)) = (result, start, end) else { return html! {} };
    let Some(node_start) = timestamp_millis(&result.started_at) else { return html! {} };
    let node_end = result.finished_at.as_deref().and_then(timestamp_millis).unwrap_or(end.max(node_start));
    let span = (end - start).max(1) as f64;
    let left = ((node_start - start) as f64 / span * 100.0).clamp(0.0, 99.5);
    let width = ((node_end - node_start) as f64 / span * 100.0).clamp(0.5, 100.0 - left);
    let class = match result.state {
        NodeState::Success => "success",
        NodeState::Failed => "failed",
        _ => "running",
    };
    let style = format!("left:{left:.1}%;width:{width:.1}%");
    html! { div.bar title={ (format_duration(node_end - node_start)) } { span class=(class) style=(style) {} } }
}

fn plan_changes(plan: &Value) -> Markup {
    let changes = plan["changes"].as_array().cloned().unwrap_or_default();
    html! {
        h2 { "Plan" }
        @if changes.is_empty() { p.muted { "No changes." } }
        @else {
            details {
                summary { (changes.len()) " changes" }
                ul {
                    @for change in &changes {
                        li {
                            (badge(change["action"].as_str().unwrap_or_default())) " "
                            code { (change["component"].as_str().unwrap_or_default()) } " on "
                            code { (change["node"].as_str().unwrap_or_default()) }
                            @if let Some(diff) = change["diff"].as_str() { pre { (diff) } }
                        }
                    }
                }
            }
        }
    }
}

pub fn environment(
    controller: &Controller,
    view: &EnvironmentView,
    jobs: &[JobRecord],
    plan: Option<&Value>,
) -> Markup {
    let svg = plan.map(|plan| {
        let nodes: BTreeMap<String, Vec<String>> = serde_json::from_value(plan["nodes"].clone()).unwrap_or_default();
        let edges: Vec<EdgeRef> = serde_json::from_value(plan["edges"].clone()).unwrap_or_default();
        picture::svg(&picture::of_graph(&nodes, &edges), &SvgOptions::default())
    });
    layout(
        &view.name,
        html! {
            h1 { "Environment " (view.name) " " (badge(view.condition.status)) }
            dl.facts {
                dt { "Branch" } dd { code { (view.branch) } }
                dt { "Condition" } dd { (view.condition.reason) }
                dt { "Last applied" } dd { (revision(controller, view.last_applied_revision.as_deref())) }
                dt { "Last attempted" } dd { (revision(controller, view.last_attempted_revision.as_deref())) }
                dt { "Queue" } dd { (queue(controller, view)) }
            }
            h2 { "Graph" }
            @match &svg {
                Some(svg) => div.graph role="img" aria-label="The environment's nodes by group" { (PreEscaped(svg)) },
                None => p.muted { "No plan yet." },
            }
            h2 { "History" }
            (jobs_table(jobs, controller))
        },
    )
}

/// `/previews/N`: a pull request's previews, one per environment, showing what its comment
/// shows: the summary line, what merging does now and what the pull request itself changes,
/// then both plans (groups in order, each node's changes, parameter diffs with secrets
/// already shown as `(sensitive)`), or the diagnostics of a head that does not validate.
pub fn preview(controller: &Controller, number: u64, previews: &[PreviewDetail]) -> Markup {
    let title = previews.first().map(|detail| detail.preview.title.as_str()).unwrap_or_default();
    layout(
        &format!("Pull request {number}"),
        html! {
            h1 { "Pull request #" (number) }
            p { code { (title) } }
            @for detail in previews { (preview_section(controller, detail)) }
        },
    )
}

fn preview_section(controller: &Controller, detail: &PreviewDetail) -> Markup {
    let preview = &detail.preview;
    let environment = &preview.environment;
    let plan = detail.plan.as_ref();
    let base_plan = detail.base_plan.as_ref();
    html! {
        section.preview {
            h2 { "Preview of " code { (environment) } " " (badge(preview.state.as_str())) }
            @if preview.state == PreviewState::Outdated {
                p role="note" { "The pull request is closed: this is its last preview, and it is no longer updated." }
            }
            dl.facts {
                dt { "Environment" } dd { a href={ "/environments/" (environment) } { (environment) } }
                dt { "Base branch" } dd { code { (preview.base_branch) } }
                dt { "Head" } dd { (revision(controller, Some(&format!("pull/{}@sha1:{}", preview.number, preview.head_sha)))) }
                dt { "Branched from" } dd {
                    @match &preview.base_sha {
                        Some(sha) => (revision(controller, Some(&format!("{}@sha1:{sha}", preview.base_branch)))),
                        None => span.muted { "unknown" },
                    }
                }
                dt { "Updated" } dd { (time(Some(&preview.updated_at))) }
            }
            p { strong { (preview.summary) } }
            @if let Some(plan) = plan {
                ul {
                    li {
                        "What merging does to " code { (environment) } " now, against what it last applied ("
                        (revision_or(plan, "nothing applied yet")) "): " (summary_line(plan)) "."
                    }
                    li {
                        @match base_plan {
                            Some(base_plan) => {
                                "What this pull request itself changes, against the commit it branched from ("
                                (revision_or(base_plan, "its base")) "): " (summary_line(base_plan)) "."
                            }
                            None if preview.base_sha.is_none() => {
                                "What this pull request itself changes is not shown: it shares no commit with its base branch."
                            }
                            None => "What this pull request itself changes is not shown: the commit it branched from does not validate.",
                        }
                    }
                }
            }
            @if let Some(diagnostics) = &detail.diagnostics {
                @if plan.is_some() {
                    details { summary { "Warnings" } pre { (diagnostics) } }
                } @else {
                    h3 { "Why the pull request does not validate" }
                    pre { (diagnostics) }
                }
            }
            @if let Some(plan) = plan {
                details open {
                    summary { "What merging does to " (environment) " now" }
                    (preview_plan(plan))
                }
            }
            @if let Some(base_plan) = base_plan {
                details {
                    summary { "What this pull request itself changes" }
                    (preview_plan(base_plan))
                }
            }
        }
    }
}

fn revision_or(plan: &Value, none: &str) -> Markup {
    match plan["base_revision"].as_str() {
        Some(revision) => html! { code { (revision) } },
        None => html! { (none) },
    }
}

/// `3 to add, 1 to change, 0 to remove on 4 nodes in 2 groups`, from a plan's JSON.
fn summary_line(plan: &Value) -> String {
    let count = |key: &str| plan["summary"][key].as_u64().unwrap_or(0) as usize;
    format!(
        "{} to add, {} to change, {} to remove on {} in {}",
        count("add"),
        count("change") + count("move"),
        count("remove"),
        crate::text::plural(count("nodes"), "node"),
        crate::text::plural(count("groups"), "group")
    )
}

/// A plan's groups in order with each node's changes, its teardowns, and the parameter diffs,
/// as the comment lists them.
fn preview_plan(plan: &Value) -> Markup {
    let groups: Vec<Vec<String>> = serde_json::from_value(plan["groups"].clone()).unwrap_or_default();
    let teardown_groups: Vec<Vec<String>> = serde_json::from_value(plan["teardown_groups"].clone()).unwrap_or_default();
    let changes = plan["changes"].as_array().cloned().unwrap_or_default();
    let field = |change: &Value, key: &str| change[key].as_str().unwrap_or_default().to_string();
    // A node's changes in the order its components run.
    let on = |node: &str, teardown: bool| -> Vec<&Value> {
        let order: Vec<&str> = plan["nodes"][node].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let mut found: Vec<&Value> = changes
            .iter()
            .filter(|change| {
                let action = change["action"].as_str().unwrap_or_default();
                if teardown {
                    (action == "remove" && change["node"] == node)
                        || (action == "move" && change["previous_node"] == node)
                } else {
                    action != "remove" && change["node"] == node
                }
            })
            .collect();
        found.sort_by_key(|change| {
            order.iter().position(|component| change["component"] == *component).unwrap_or(usize::MAX)
        });
        found
    };
    let diffs: Vec<&Value> =
        changes.iter().filter(|change| change["action"] == "change" && change["diff"].is_string()).collect();
    html! {
        p { "Revision " code { (field(plan, "revision")) } " against " (revision_or(plan, "nothing applied yet")) "." }
        @if groups.is_empty() { p.muted { "No changes." } }
        @for (index, group) in groups.iter().enumerate() {
            section.group {
                h3 { "Group " (index) }
                ul {
                    @for node in group {
                        li {
                            code { (node) }
                            ul {
                                @for change in on(node, false) {
                                    li {
                                        (badge(&field(change, "action"))) " " code { (field(change, "component")) }
                                        " (" code { (field(change, "application")) }
                                        @if let Some(previous) = change["previous_node"].as_str() {
                                            ", moved from " code { (previous) }
                                        }
                                        ")"
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if !teardown_groups.is_empty() {
            section.group {
                h3 { "Teardown (with " code { "--prune" } ", consumers first)" }
                ul {
                    @for node in teardown_groups.iter().flatten() {
                        @for change in on(node, true) {
                            li {
                                (badge("remove")) " " code { (field(change, "component")) } " from " code { (node) }
                                " (" code { (field(change, "application")) } ")"
                            }
                        }
                    }
                }
            }
        }
        @if !diffs.is_empty() {
            h3 { "Parameter changes" }
            @for change in diffs {
                p { code { (field(change, "component")) } " on " code { (field(change, "node")) } }
                pre.diff { (field(change, "diff")) }
            }
        }
    }
}

pub fn login(next: &str, open: bool, failed: bool) -> Markup {
    layout(
        "Log in",
        html! {
            h1 { "Log in" }
            @if open { p { "Reading is open on this controller; the token is needed only to act." } }
            @if failed { p role="alert" { (badge("failed")) " That is not the API token." } }
            form.login method="post" action="/login" {
                label for="token" { "API token" }
                input #token type="password" name="token" autocomplete="current-password" required;
                input type="hidden" name="next" value=(next);
                button type="submit" { "Log in" }
            }
        },
    )
}

pub fn not_found(message: &str) -> Markup {
    layout("Not found", html! { h1 { "Not found" } p { (message) } p { a href="/" { "All environments" } } })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NodePhase;

    fn result(started: &str, finished: Option<&str>) -> NodeResultRecord {
        NodeResultRecord {
            node: "n".into(),
            phase: NodePhase::Apply,
            group_index: 0,
            state: NodeState::Running,
            started_at: started.into(),
            finished_at: finished.map(str::to_string),
            duration_ms: 0,
            components: Vec::new(),
            output: String::new(),
        }
    }

    #[test]
    fn timing_bars_stay_inside_the_job_whatever_the_times() {
        let start = timestamp_millis("2026-11-30T10:00:00.000Z");
        for (node_start, node_end, job_end) in [
            ("2026-11-30T10:00:01.000000Z", None, "2026-11-30T10:00:01.000Z"),
            ("2026-11-30T10:00:05.000000Z", Some("2026-11-30T10:00:04.000000Z"), "2026-11-30T10:00:02.000Z"),
            ("2026-11-30T09:00:00.000000Z", Some("2026-11-30T11:00:00.000000Z"), "2026-11-30T10:00:00.000Z"),
            ("not a time", None, "2026-11-30T10:00:00.000Z"),
        ] {
            let bar = timing_bar(Some(&result(node_start, node_end)), start, timestamp_millis(job_end)).into_string();
            assert!(!bar.contains("NaN") && !bar.contains("inf"), "{bar}");
        }
    }
}
