//! How a workflow tree is laid out on screen, so that a chain of 100+ tasks and a group of 1,000+
//! children stay readable:
//!
//! - **chains do not drift right**: a child that is its parent's only child is drawn at its
//!   parent's indentation, marked as the next link of a chain; only branching indents;
//! - **wide groups are summarised**: past [`WIDE_SHOWN`] children, the rest of a parent's children
//!   collapse into one line that counts them by state, until the user expands it;
//! - **any subtree can be collapsed** to one line that says how many tasks it hides;
//! - indentation is capped at [`MAX_INDENT`] levels (the row says its real depth beyond that).
//!
//! Input is the depth-first list [`crate::vm::tree_nodes`] gives; output is the list of lines to
//! draw. Pure, so it is tested natively.

use std::collections::{BTreeMap, HashSet};

use crate::vm::TreeNode;

/// Children shown per parent before the rest is summarised.
pub const WIDE_SHOWN: usize = 50;

/// Deepest indentation drawn.
pub const MAX_INDENT: usize = 24;

/// One line of the drawn tree.
#[derive(Clone, Debug, PartialEq)]
pub enum Line {
    /// A task.
    Node {
        /// The task.
        node: TreeNode,
        /// The line of its parent, if drawn (an edge goes from there to here).
        parent: Option<usize>,
        /// Indentation level (chains do not indent; capped at [`MAX_INDENT`]).
        indent: usize,
        /// `true` when this is the only child of the line above's task (a chain link).
        chained: bool,
        /// Direct children in memory.
        children: usize,
        /// Tasks below it, all levels.
        descendants: usize,
        /// Its subtree is folded away.
        collapsed: bool,
    },
    /// Children of `parent` not drawn: the rest of a wide group.
    More {
        /// The parent's id (expanding it shows them all).
        parent: String,
        /// The parent's line.
        parent_line: usize,
        /// Indentation level of the hidden children.
        indent: usize,
        /// How many.
        hidden: usize,
        /// Hidden tasks (the children and everything below them) by state, most frequent first.
        by_state: Vec<(String, usize)>,
    },
}

/// What the user folded and unfolded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Folding {
    /// Tasks whose subtree is hidden.
    pub collapsed: HashSet<String>,
    /// Parents whose every child is shown, however many.
    pub expanded: HashSet<String>,
}

/// The lines to draw for `nodes` (depth-first, as [`crate::vm::tree_nodes`] returns them).
pub fn layout(nodes: &[TreeNode], folding: &Folding) -> Vec<Line> {
    let shape = Shape::of(nodes);
    let mut lines = Vec::new();
    for root in shape.roots.iter().copied() {
        let place = Place {
            indent: 0,
            chained: false,
            parent: None,
        };
        walk(nodes, &shape, folding, root, place, &mut lines);
    }
    lines
}

/// Where a node goes: its indentation, whether it continues a chain, its parent's line.
#[derive(Clone, Copy)]
struct Place {
    indent: usize,
    chained: bool,
    parent: Option<usize>,
}

/// Parent / children links recovered from the depth-first order.
struct Shape {
    children: Vec<Vec<usize>>,
    roots: Vec<usize>,
    /// Subtree sizes, excluding the node itself.
    descendants: Vec<usize>,
}

impl Shape {
    fn of(nodes: &[TreeNode]) -> Shape {
        let mut children = vec![Vec::new(); nodes.len()];
        let mut roots = Vec::new();
        // The open path from the current root: (index, depth).
        let mut path: Vec<(usize, usize)> = Vec::new();
        for (i, n) in nodes.iter().enumerate() {
            while path.last().is_some_and(|&(_, d)| d >= n.depth) {
                path.pop();
            }
            match path.last() {
                Some(&(parent, _)) if n.depth > 0 && !n.orphan => children[parent].push(i),
                _ => {
                    path.clear();
                    roots.push(i);
                }
            }
            path.push((i, n.depth));
        }
        // Depth-first order: a node's subtree follows it, so sizes add up from the end.
        let mut descendants = vec![0; nodes.len()];
        for i in (0..nodes.len()).rev() {
            descendants[i] = children[i].iter().map(|&c| 1 + descendants[c]).sum();
        }
        Shape {
            children,
            roots,
            descendants,
        }
    }
}

fn walk(
    nodes: &[TreeNode],
    shape: &Shape,
    folding: &Folding,
    i: usize,
    place: Place,
    lines: &mut Vec<Line>,
) {
    let Place {
        indent,
        chained,
        parent,
    } = place;
    let node = &nodes[i];
    let kids = &shape.children[i];
    let collapsed = folding.collapsed.contains(&node.uuid) && !kids.is_empty();
    let me = lines.len();
    lines.push(Line::Node {
        node: node.clone(),
        parent,
        indent: indent.min(MAX_INDENT),
        chained,
        children: kids.len(),
        descendants: shape.descendants[i],
        collapsed,
    });
    if collapsed {
        return;
    }
    let (child_indent, child_chained) = if kids.len() == 1 {
        (indent, true)
    } else {
        (indent + 1, false)
    };
    let child = Place {
        indent: child_indent,
        chained: child_chained,
        parent: Some(me),
    };
    let shown = if folding.expanded.contains(&node.uuid) {
        kids.len()
    } else {
        kids.len().min(WIDE_SHOWN)
    };
    for &c in &kids[..shown] {
        walk(nodes, shape, folding, c, child, lines);
    }
    if shown < kids.len() {
        lines.push(Line::More {
            parent: node.uuid.clone(),
            parent_line: me,
            indent: child_indent.min(MAX_INDENT),
            hidden: kids.len() - shown,
            by_state: states_below(nodes, shape, &kids[shown..]),
        });
    }
}

/// Tasks in these subtrees by state, most frequent first (ties by name).
fn states_below(nodes: &[TreeNode], shape: &Shape, tops: &[usize]) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for &top in tops {
        // A subtree is contiguous in depth-first order.
        for n in &nodes[top..=top + shape.descendants[top]] {
            *counts.entry(&n.state).or_default() += 1;
        }
    }
    let mut list: Vec<(String, usize)> =
        counts.into_iter().map(|(s, n)| (s.to_owned(), n)).collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    list
}

/// Horizontal step per indentation level in the graph, SVG units.
pub const GRAPH_DX: f64 = 28.0;
/// Vertical step per line in the graph.
pub const GRAPH_DY: f64 = 26.0;

/// A point of the graph: where line `i` is drawn (its node's left middle).
pub fn graph_point(lines: &[Line], i: usize) -> (f64, f64) {
    let indent = match &lines[i] {
        Line::Node { indent, .. } | Line::More { indent, .. } => *indent,
    };
    (8.0 + indent as f64 * GRAPH_DX, 14.0 + i as f64 * GRAPH_DY)
}

/// The graph's edges, parent -> child, as SVG path data: down from the parent's marker, then
/// across to the child (an elbow), so siblings share their parent's vertical stroke.
pub fn graph_edges(lines: &[Line]) -> Vec<String> {
    lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let parent = match l {
                Line::Node { parent, .. } => (*parent)?,
                Line::More { parent_line, .. } => *parent_line,
            };
            let (px, py) = graph_point(lines, parent);
            let (x, y) = graph_point(lines, i);
            Some(format!("M{:.0} {:.0}V{y:.0}H{x:.0}", px + 6.0, py + 6.0))
        })
        .collect()
}

/// The graph's size, SVG units.
pub fn graph_size(lines: &[Line]) -> (f64, f64) {
    let deepest = (0..lines.len())
        .map(|i| graph_point(lines, i).0)
        .fold(0.0, f64::max);
    (deepest + 560.0, 10.0 + lines.len() as f64 * GRAPH_DY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(uuid: &str, depth: usize, state: &str) -> TreeNode {
        TreeNode {
            uuid: uuid.to_owned(),
            name: format!("t.{uuid}"),
            state: state.to_owned(),
            depth,
            orphan: false,
            runtime: "-".to_owned(),
            retries: 0,
        }
    }

    /// `(uuid or "+N", indent, chained)` of each line.
    fn shape(lines: &[Line]) -> Vec<(String, usize, bool)> {
        lines
            .iter()
            .map(|l| match l {
                Line::Node {
                    node,
                    indent,
                    chained,
                    ..
                } => (node.uuid.clone(), *indent, *chained),
                Line::More { hidden, indent, .. } => (format!("+{hidden}"), *indent, false),
            })
            .collect()
    }

    #[test]
    fn chains_stay_left_and_branches_indent() {
        // a -> b -> c, and c has two children d, e; d has one child f.
        let nodes = [
            node("a", 0, "SUCCESS"),
            node("b", 1, "SUCCESS"),
            node("c", 2, "SUCCESS"),
            node("d", 3, "SUCCESS"),
            node("f", 4, "FAILURE"),
            node("e", 3, "STARTED"),
        ];
        let lines = layout(&nodes, &Folding::default());
        let want = [
            ("a", 0, false),
            ("b", 0, true),
            ("c", 0, true),
            ("d", 1, false),
            ("f", 1, true),
            ("e", 1, false),
        ];
        let want: Vec<(String, usize, bool)> = want
            .iter()
            .map(|(u, i, c)| (u.to_string(), *i, *c))
            .collect();
        assert_eq!(shape(&lines), want);
        let Line::Node {
            children,
            descendants,
            ..
        } = &lines[2]
        else {
            panic!()
        };
        assert_eq!((*children, *descendants), (2, 3));
    }

    #[test]
    fn graph_edges_join_each_child_to_its_parent() {
        let nodes = [
            node("a", 0, "SUCCESS"),
            node("b", 1, "SUCCESS"),
            node("c", 1, "FAILURE"),
            node("d", 2, "SUCCESS"),
        ];
        let lines = layout(&nodes, &Folding::default());
        let parents: Vec<Option<usize>> = lines
            .iter()
            .map(|l| match l {
                Line::Node { parent, .. } => *parent,
                Line::More { .. } => None,
            })
            .collect();
        assert_eq!(parents, [None, Some(0), Some(0), Some(2)]);
        // b and c hang off a (one level in); d continues c's chain (same column).
        assert_eq!(
            graph_edges(&lines),
            ["M14 20V40H36", "M14 20V66H36", "M42 72V92H36"]
        );
        assert_eq!(graph_size(&lines), (596.0, 114.0));
    }

    #[test]
    fn a_deep_chain_is_a_column() {
        let nodes: Vec<TreeNode> = (0..150)
            .map(|d| node(&d.to_string(), d, "SUCCESS"))
            .collect();
        let lines = layout(&nodes, &Folding::default());
        assert_eq!(lines.len(), 150);
        assert!(shape(&lines).iter().all(|(_, indent, _)| *indent == 0));
    }

    #[test]
    fn wide_groups_are_summarised_until_expanded() {
        let mut nodes = vec![node("root", 0, "SUCCESS")];
        for i in 0..1200 {
            let state = if i % 100 == 0 { "FAILURE" } else { "SUCCESS" };
            nodes.push(node(&format!("c{i}"), 1, state));
        }
        let lines = layout(&nodes, &Folding::default());
        assert_eq!(lines.len(), 1 + WIDE_SHOWN + 1);
        let Line::More {
            parent,
            hidden,
            by_state,
            indent,
            ..
        } = lines.last().unwrap()
        else {
            panic!("a summary line last")
        };
        assert_eq!((parent.as_str(), *hidden, *indent), ("root", 1150, 1));
        // c0, c100, ..., c1100 failed: 12, of which c0 is shown.
        assert_eq!(
            by_state,
            &[("SUCCESS".to_owned(), 1139), ("FAILURE".to_owned(), 11)]
        );
        let mut folding = Folding::default();
        folding.expanded.insert("root".to_owned());
        assert_eq!(layout(&nodes, &folding).len(), 1201);
    }

    #[test]
    fn collapsed_subtrees_and_orphans() {
        let mut orphan = node("o", 0, "STARTED");
        orphan.orphan = true;
        let nodes = [
            node("a", 0, "SUCCESS"),
            node("b", 1, "SUCCESS"),
            node("c", 1, "SUCCESS"),
            node("d", 2, "SUCCESS"),
            orphan,
            node("p", 1, "PENDING"),
        ];
        let mut folding = Folding::default();
        folding.collapsed.insert("c".to_owned());
        folding.collapsed.insert("b".to_owned()); // a leaf: nothing to fold
        let lines = layout(&nodes, &folding);
        let got: Vec<String> = shape(&lines).into_iter().map(|l| l.0).collect();
        assert_eq!(got, ["a", "b", "c", "o", "p"]);
        let flags: Vec<bool> = lines
            .iter()
            .map(|l| {
                matches!(
                    l,
                    Line::Node {
                        collapsed: true,
                        ..
                    }
                )
            })
            .collect();
        assert_eq!(flags, [false, false, true, false, false]);
        // The orphan starts a new root; its child chains under it.
        assert_eq!(
            shape(&lines)[3..],
            [("o".into(), 0, false), ("p".into(), 0, true)]
        );
    }
}
