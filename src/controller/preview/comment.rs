//! The preview's comment: what a reviewer reads on the pull request, in Markdown.
//!
//! It opens with the summary line of what merging does to the environment now, then the
//! same against the commit the pull request branched from, then both plans as
//! `plan::render::markdown` writes them (groups, changes, parameter diffs with secrets shown
//! as `(sensitive)`). A head that does not validate gets its diagnostics instead.
//!
//! Everything that comes from the pull request (its title, names and values of its files,
//! diagnostics quoting them) is shown through `plan::render`'s code spans and fences, which
//! no text can close early: nothing in a pull request can make a heading, a link, a mention
//! or a marker in the comment. Environment names, the only names written as they are, keep
//! to their syntax (letters, digits, `.`, `_`, `-`).

use std::fmt::Write;

use crate::plan::Plan;
use crate::plan::render::{code, fenced, markdown};

/// What every form of the comment shows about the pull request.
pub(super) struct Heading<'a> {
    pub environment: &'a str,
    pub number: u64,
    pub title: &'a str,
    /// The head as a revision: `pull/12@sha1:...`.
    pub head_revision: &'a str,
    /// The preview's page on the controller.
    pub link: &'a str,
}

/// What is known of the pull request's own changes.
pub(super) enum Base<'a> {
    /// The head planned against the commit it branched from.
    Planned(&'a Plan),
    /// That commit does not load or plan; only the plan against the environment is shown.
    Invalid { revision: &'a str },
    /// The head shares no history with the base branch, or the branch is gone.
    Unknown,
}

/// The comment of a head that planned: `summary` (of `plan`) first, then both plans.
pub(super) fn planned(heading: &Heading, summary: &str, plan: &Plan, base: &Base, warnings: Option<&str>) -> String {
    let mut out = header(heading);
    let _ = writeln!(out, "**{summary}**");
    let _ = writeln!(out);
    let environment = code(heading.environment);
    let applied = plan.base_revision.as_deref().map_or("nothing applied yet".to_string(), code);
    let _ =
        writeln!(out, "- What merging does to {environment} now, against what it last applied ({applied}): {summary}.");
    match base {
        Base::Planned(base_plan) => {
            let revision = base_plan.base_revision.as_deref().map_or("its base".to_string(), code);
            let _ = writeln!(
                out,
                "- What this pull request itself changes, against the commit it branched from ({revision}): {}.",
                crate::controller::change_line(base_plan)
            );
        }
        Base::Invalid { revision } => {
            let _ = writeln!(
                out,
                "- What this pull request itself changes is not shown: the commit it branched from ({}) does not validate.",
                code(revision)
            );
        }
        Base::Unknown => {
            let _ = writeln!(
                out,
                "- What this pull request itself changes is not shown: it shares no commit with its base branch."
            );
        }
    }
    let _ = writeln!(out);
    if let Some(warnings) = warnings {
        let _ = writeln!(out, "<details><summary>Warnings</summary>");
        let _ = writeln!(out);
        out.push_str(&fenced("text", warnings));
        let _ = writeln!(out);
        let _ = writeln!(out, "</details>");
        let _ = writeln!(out);
    }
    section(&mut out, &format!("What merging does to {} now", heading.environment), true, &markdown(plan));
    if let Base::Planned(base_plan) = base {
        section(&mut out, "What this pull request itself changes", false, &markdown(base_plan));
    }
    out.push_str(FOOTER);
    out
}

/// The comment of a head that does not validate, or whose nodes cannot be ordered.
pub(super) fn invalid(heading: &Heading, summary: &str, diagnostics: &str) -> String {
    let mut out = header(heading);
    let _ = writeln!(out, "**The pull request does not validate:** {}", code(summary));
    let _ = writeln!(out);
    out.push_str(&fenced("text", diagnostics));
    let _ = writeln!(out);
    out.push_str(FOOTER);
    out
}

const FOOTER: &str = "<sub>A preview reads the pull request's files and plans them; it runs nothing.</sub>\n";

fn header(heading: &Heading) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### ordo preview of {}", code(heading.environment));
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Pull request #{} {}, head {} ([the preview]({})).",
        heading.number,
        code(heading.title),
        code(heading.head_revision),
        heading.link
    );
    let _ = writeln!(out);
    out
}

/// A plan in a `<details>` block, open or folded.
fn section(out: &mut String, title: &str, open: bool, body: &str) {
    let _ = writeln!(out, "<details{}><summary>{title}</summary>", if open { " open" } else { "" });
    let _ = writeln!(out);
    out.push_str(body.trim_end());
    let _ = writeln!(out);
    let _ = writeln!(out);
    let _ = writeln!(out, "</details>");
    let _ = writeln!(out);
}
