//! The node graph as a picture: a standalone SVG laid out by group, each node a box that
//! lists its components, each edge labelled with the capabilities it carries, and the
//! edges of a cycle drawn in red.
//!
//! The layout is a simple layered one: one column (or row) per group, nodes ordered inside
//! their column by the average place of the nodes they depend on (ties by name), edges as
//! curves between box sides. Everything is computed from sorted data and written with fixed
//! precision, so the same graph always gives the same bytes; no Graphviz is needed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::{Cause, EdgeRef, NodeGraph, Plan};
use crate::model::Model;

/// A graph to draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    /// Columns in group order, each with its nodes.
    pub columns: Vec<Vec<PictureNode>>,
    /// Node edges, each once, with the capabilities behind it.
    pub edges: Vec<PictureEdge>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PictureNode {
    pub name: String,
    pub components: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PictureEdge {
    pub from: String,
    pub to: String,
    /// Capabilities carried (`Sql[app1]`); `require` edges carry none.
    pub labels: Vec<String>,
    pub in_cycle: bool,
}

/// How a picture is drawn.
#[derive(Debug, Clone, Default)]
pub struct SvgOptions {
    pub top_to_bottom: bool,
    /// A state per node (`success`, `failed`, `running`, ...), drawn as the box's colour and
    /// written as its class, so a job's picture shows how each node went.
    pub node_states: BTreeMap<String, String>,
}

/// The picture of a plan's whole graph.
pub fn of_plan(plan: &Plan) -> Picture {
    of_graph(&plan.nodes, &plan.edges)
}

/// The picture of a model's graph, which may hold cycles (a plan cannot).
pub fn of_model(model: &Model) -> Picture {
    let nodes: BTreeMap<String, Vec<String>> = model
        .components_by_node()
        .into_iter()
        .map(|(node, components)| {
            (node.to_string(), components.iter().map(|component| component.reference.clone()).collect())
        })
        .collect();
    let edges: Vec<EdgeRef> = model
        .edges
        .iter()
        .map(|edge| EdgeRef {
            from: model.components[edge.from].reference.clone(),
            to: model.components[edge.to].reference.clone(),
            capability: edge.capability.clone(),
        })
        .collect();
    of_graph(&nodes, &edges)
}

/// The picture of components by node and the edges between components, as plans and their
/// JSON hold them. Nodes are placed by group; a cycle's nodes share a column.
pub fn of_graph(nodes: &BTreeMap<String, Vec<String>>, edges: &[EdgeRef]) -> Picture {
    let node_of: BTreeMap<&str, &str> = nodes
        .iter()
        .flat_map(|(node, components)| components.iter().map(move |component| (component.as_str(), node.as_str())))
        .collect();
    let mut graph = NodeGraph::default();
    for node in nodes.keys() {
        graph.add_node(node);
    }
    let mut labels: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for edge in edges {
        let (Some(from), Some(to)) = (node_of.get(edge.from.as_str()), node_of.get(edge.to.as_str())) else {
            continue;
        };
        if from != to {
            let cause = Cause { from_component: String::new(), to_component: String::new(), capability: None };
            graph.add_edge(from, to, cause);
            labels.entry((from.to_string(), to.to_string())).or_default().extend(edge.capability.clone());
        }
    }
    let (levels, cycle_edges) = graph.levels_allowing_cycles();
    let columns = levels
        .into_iter()
        .map(|level| {
            level
                .into_iter()
                .map(|name| PictureNode { components: nodes.get(&name).cloned().unwrap_or_default(), name })
                .collect()
        })
        .collect();
    let edges = labels
        .into_iter()
        .map(|((from, to), labels)| PictureEdge {
            in_cycle: cycle_edges.contains(&(from.clone(), to.clone())),
            from,
            to,
            labels: labels.into_iter().collect(),
        })
        .collect();
    order_columns(Picture { columns, edges })
}

impl Picture {
    /// Only the nodes in `keep` and the edges between them, in the same places' order.
    pub fn only(&self, keep: &BTreeSet<String>) -> Picture {
        let columns = self
            .columns
            .iter()
            .map(|column| column.iter().filter(|node| keep.contains(&node.name)).cloned().collect::<Vec<_>>())
            .filter(|column| !column.is_empty())
            .collect();
        let edges =
            self.edges.iter().filter(|edge| keep.contains(&edge.from) && keep.contains(&edge.to)).cloned().collect();
        Picture { columns, edges }
    }
}

/// Orders each column by the average place of its nodes' predecessors, ties by name.
fn order_columns(mut picture: Picture) -> Picture {
    let mut place: BTreeMap<String, f64> = BTreeMap::new();
    let predecessors: BTreeMap<&str, Vec<&str>> = picture.edges.iter().fold(BTreeMap::new(), |mut map, edge| {
        map.entry(edge.to.as_str()).or_insert_with(Vec::new).push(edge.from.as_str());
        map
    });
    let predecessors: BTreeMap<String, Vec<String>> = predecessors
        .into_iter()
        .map(|(node, from)| (node.to_string(), from.into_iter().map(str::to_string).collect()))
        .collect();
    for column in &mut picture.columns {
        let key = |node: &PictureNode| -> f64 {
            let placed: Vec<f64> = predecessors
                .get(&node.name)
                .into_iter()
                .flatten()
                .filter_map(|from| place.get(from).copied())
                .collect();
            if placed.is_empty() { f64::MAX } else { placed.iter().sum::<f64>() / placed.len() as f64 }
        };
        let mut keyed: Vec<(f64, PictureNode)> = column.drain(..).map(|node| (key(&node), node)).collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
        for (index, (_, node)) in keyed.iter().enumerate() {
            place.insert(node.name.clone(), index as f64);
        }
        column.extend(keyed.into_iter().map(|(_, node)| node));
    }
    picture
}

const FONT: f64 = 12.0;
/// A generous width of one character of the monospace font, so text never overflows.
const CHAR: f64 = 7.4;
const LINE: f64 = 17.0;
const PADDING: f64 = 10.0;
const RANK_GAP: f64 = 120.0;
const ORDER_GAP: f64 = 24.0;
const MARGIN: f64 = 20.0;
const MAX_COMPONENTS_SHOWN: usize = 12;
/// How far an edge within one column loops out beside the boxes.
const LOOP: f64 = 50.0;

/// A box's place: its top-left corner and size.
#[derive(Debug, Clone, Copy)]
struct Placed {
    x: f64,
    y: f64,
    width: f64,
    height: f64,
}

/// The picture as a standalone SVG document.
pub fn svg(picture: &Picture, options: &SvgOptions) -> String {
    // Box sizes from their text.
    let lines = |node: &PictureNode| -> Vec<String> {
        let mut lines = vec![node.name.clone()];
        let shown = node.components.len().min(MAX_COMPONENTS_SHOWN);
        lines.extend(node.components[..shown].iter().cloned());
        if node.components.len() > shown {
            lines.push(format!("… and {} more", node.components.len() - shown));
        }
        lines
    };
    let size = |node: &PictureNode| -> (f64, f64) {
        let lines = lines(node);
        let longest = lines.iter().map(|line| line.chars().count()).max().unwrap_or(0) as f64;
        (longest * CHAR + 2.0 * PADDING, lines.len() as f64 * LINE + 2.0 * PADDING - 4.0)
    };
    // Along the rank axis (columns) and the order axis (within a column).
    let extent = |node: &PictureNode| -> (f64, f64) {
        let (width, height) = size(node);
        if options.top_to_bottom { (height, width) } else { (width, height) }
    };
    let column_depth: Vec<f64> =
        picture.columns.iter().map(|column| column.iter().map(|node| extent(node).0).fold(0.0, f64::max)).collect();
    let column_length: Vec<f64> = picture
        .columns
        .iter()
        .map(|column| {
            column.iter().map(|node| extent(node).1).sum::<f64>() + ORDER_GAP * column.len().saturating_sub(1) as f64
        })
        .collect();
    let longest = column_length.iter().copied().fold(0.0, f64::max);
    // Edges within one column (cycles) loop around its boxes: room on both sides for them.
    let column_of: BTreeMap<&str, usize> = picture
        .columns
        .iter()
        .enumerate()
        .flat_map(|(index, column)| column.iter().map(move |node| (node.name.as_str(), index)))
        .collect();
    let loops = picture.edges.iter().any(|edge| column_of.get(edge.from.as_str()) == column_of.get(edge.to.as_str()));
    let loop_room = if loops { LOOP } else { 0.0 };
    // Between columns, room for the widest label (left to right) or a few lines (top to bottom).
    let widest_label = picture.edges.iter().map(|edge| label_width(&label_text(edge))).fold(0.0, f64::max);
    let rank_gap = if options.top_to_bottom { RANK_GAP } else { RANK_GAP.max(widest_label + 40.0) };
    let mut placed: BTreeMap<&str, Placed> = BTreeMap::new();
    let mut rank = MARGIN + loop_room;
    for (index, column) in picture.columns.iter().enumerate() {
        let mut order = MARGIN + (longest - column_length[index]) / 2.0;
        for node in column {
            let (depth, length) = extent(node);
            let (width, height) = size(node);
            let rank_start = rank + (column_depth[index] - depth) / 2.0;
            let (x, y) = if options.top_to_bottom { (order, rank_start) } else { (rank_start, order) };
            placed.insert(node.name.as_str(), Placed { x, y, width, height });
            order += length + ORDER_GAP;
        }
        rank += column_depth[index] + rank_gap + loop_room;
    }
    let total_rank = rank - rank_gap + MARGIN;
    let total_order = longest + 2.0 * MARGIN;
    let (width, height) = if options.top_to_bottom { (total_order, total_rank) } else { (total_rank, total_order) };

    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"ordo-graph\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" \
         font-family=\"ui-monospace, SFMono-Regular, Menlo, Consolas, monospace\" font-size=\"{FONT}\">",
        num(width),
        num(height),
        num(width),
        num(height)
    );
    out.push_str(
        "<defs>\n\
         <marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/></marker>\n\
         <marker id=\"arrow-cycle\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#c62828\"/></marker>\n\
         </defs>\n",
    );
    let _ = writeln!(out, "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>");
    let mut labels = Labels::default();
    for edge in &picture.edges {
        let (Some(from), Some(to)) = (placed.get(edge.from.as_str()), placed.get(edge.to.as_str())) else {
            continue;
        };
        write_edge(&mut out, edge, from, to, options.top_to_bottom, &mut labels);
    }
    for column in &picture.columns {
        for node in column {
            let place = placed[node.name.as_str()];
            let state = options.node_states.get(&node.name).map(String::as_str);
            write_node(&mut out, &lines(node), place, state);
        }
    }
    out.push_str("</svg>\n");
    out
}

fn write_node(out: &mut String, lines: &[String], place: Placed, state: Option<&str>) {
    let (fill, stroke) = match state {
        Some("success") => ("#e8f5e9", "#2e7d32"),
        Some("failed") => ("#ffebee", "#c62828"),
        Some("running") => ("#e3f2fd", "#1565c0"),
        Some("cancelled" | "interrupted") => ("#fff8e1", "#f9a825"),
        Some("skipped" | "not started") => ("#f5f5f5", "#9e9e9e"),
        _ => ("#fafafa", "#455a64"),
    };
    let class = state.map(|state| format!(" node-{}", state.replace(' ', "-"))).unwrap_or_default();
    let _ = writeln!(
        out,
        "<g class=\"node{class}\" data-node=\"{}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"6\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.5\"/>",
        xml(&lines[0]),
        num(place.x),
        num(place.y),
        num(place.width),
        num(place.height)
    );
    for (index, line) in lines.iter().enumerate() {
        let weight = if index == 0 { " font-weight=\"bold\"" } else { "" };
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\"{weight}>{}</text>",
            num(place.x + PADDING),
            num(place.y + PADDING + FONT + index as f64 * LINE - 2.0),
            xml(line)
        );
    }
    out.push_str("</g>\n");
}

fn write_edge(
    out: &mut String,
    edge: &PictureEdge,
    from: &Placed,
    to: &Placed,
    top_to_bottom: bool,
    labels: &mut Labels,
) {
    let (color, marker) = if edge.in_cycle { ("#c62828", "arrow-cycle") } else { ("#555", "arrow") };
    // Work in rank/order coordinates (rank runs from group to group), then map to x/y.
    let rank_of = |place: &Placed| if top_to_bottom { (place.y, place.height) } else { (place.x, place.width) };
    let order_of = |place: &Placed| if top_to_bottom { (place.x, place.width) } else { (place.y, place.height) };
    let point = |rank: f64, order: f64| if top_to_bottom { (order, rank) } else { (rank, order) };
    let ((from_rank, from_depth), (from_order, from_length)) = (rank_of(from), order_of(from));
    let ((to_rank, to_depth), (to_order, to_length)) = (rank_of(to), order_of(to));
    let (from_middle, to_middle) = (from_order + from_length / 2.0, to_order + to_length / 2.0);
    let (start, control1, control2, end, label_at);
    if (from_rank - to_rank).abs() < 0.5 {
        // Within one column (a cycle): a loop beside the boxes, downwards edges on the far
        // side and upwards ones on the near side, so a pair never overlaps.
        let forward = from_order < to_order;
        let (side_from, side_to, out) =
            if forward { (from_rank + from_depth, to_rank + to_depth, LOOP) } else { (from_rank, to_rank, -LOOP) };
        let far = if forward { side_from.max(side_to) + out } else { side_from.min(side_to) + out };
        start = point(side_from, from_middle);
        control1 = point(far, from_middle);
        control2 = point(far, to_middle);
        end = point(side_to, to_middle);
        // The apex of the loop.
        label_at = point(
            (side_from + side_to) / 2.0 + (far - (side_from + side_to) / 2.0) * 0.75,
            (from_middle + to_middle) / 2.0,
        );
    } else {
        let (start_rank, end_rank) = (from_rank + from_depth, to_rank);
        let middle = (start_rank + end_rank) / 2.0;
        start = point(start_rank, from_middle);
        control1 = point(middle, from_middle);
        control2 = point(middle, to_middle);
        end = point(end_rank, to_middle);
        label_at = point(middle, (from_middle + to_middle) / 2.0);
    }
    let path = format!(
        "M{},{} C{},{} {},{} {},{}",
        num(start.0),
        num(start.1),
        num(control1.0),
        num(control1.1),
        num(control2.0),
        num(control2.1),
        num(end.0),
        num(end.1)
    );
    let class = if edge.in_cycle { "edge edge-cycle" } else { "edge" };
    let _ = writeln!(
        out,
        "<g class=\"{class}\" data-from=\"{}\" data-to=\"{}\"><path d=\"{path}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" marker-end=\"url(#{marker})\"/>",
        xml(&edge.from),
        xml(&edge.to)
    );
    if !edge.labels.is_empty() {
        let label = label_text(edge);
        let width = label_width(&label);
        let label_at = labels.place(label_at.0, label_at.1 + 4.0, width);
        let _ = writeln!(
            out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"15\" rx=\"3\" fill=\"#ffffff\" fill-opacity=\"0.9\"/><text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\" fill=\"{color}\">{}</text>",
            num(label_at.0 - width / 2.0),
            num(label_at.1 - 11.0),
            num(width),
            num(label_at.0),
            num(label_at.1),
            xml(&label)
        );
    }
    out.push_str("</g>\n");
}

/// An edge's label as drawn: its capabilities, cut to a readable length.
fn label_text(edge: &PictureEdge) -> String {
    let label = edge.labels.join(", ");
    if label.chars().count() > 48 { format!("{}…", label.chars().take(47).collect::<String>()) } else { label }
}

fn label_width(label: &str) -> f64 {
    label.chars().count() as f64 * 6.6 + 8.0
}

/// Labels already drawn, as rectangles; a new one moves down until it is clear of them.
#[derive(Default)]
struct Labels(Vec<(f64, f64, f64, f64)>);

impl Labels {
    fn place(&mut self, center_x: f64, baseline: f64, width: f64) -> (f64, f64) {
        let mut y = baseline;
        for _ in 0..20 {
            let (left, top) = (center_x - width / 2.0, y - 11.0);
            let clear = self
                .0
                .iter()
                .all(|&(x, y0, w, h)| left + width <= x || x + w <= left || top + 15.0 <= y0 || y0 + h <= top);
            if clear {
                self.0.push((left, top, width, 15.0));
                return (center_x, y);
            }
            y += 16.0;
        }
        (center_x, y)
    }
}

/// A coordinate with one decimal, the same on every machine.
fn num(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 { format!("{}", rounded as i64) } else { format!("{rounded:.1}") }
}

/// Text as XML character data or an attribute value; control characters are dropped.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, components: &[&str]) -> PictureNode {
        PictureNode { name: name.into(), components: components.iter().map(|c| c.to_string()).collect() }
    }

    #[test]
    fn text_is_escaped_and_numbers_are_fixed() {
        let picture = Picture {
            columns: vec![vec![node("db<1>", &["Db[\"x\" & <y>]"])], vec![node("web", &[])]],
            edges: vec![PictureEdge {
                from: "db<1>".into(),
                to: "web".into(),
                labels: vec!["Sql[<x>]".into()],
                in_cycle: false,
            }],
        };
        let svg = svg(&picture, &SvgOptions::default());
        assert!(
            svg.contains("db&lt;1&gt;")
                && svg.contains("Db[&quot;x&quot; &amp; &lt;y&gt;]")
                && svg.contains("Sql[&lt;x&gt;]")
        );
        assert!(!svg.contains("<1>") && !svg.contains("<x>"));
        assert_eq!(svg, super::svg(&picture, &SvgOptions::default()), "the same picture gives the same bytes");
        assert_eq!(num(1.25), "1.3");
        assert_eq!(num(3.0), "3");
    }
}
