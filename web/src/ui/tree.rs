//! `#/tree/<uuid>`: the whole workflow the task belongs to, from its root, as a tree: nodes
//! coloured by state with name, runtime and retries, connectors from parent to child. Laid out by
//! [`crate::treeview`]: chains stay in one column, wide groups are summarised, any subtree folds.
//! Orphans (children whose parent is not in memory) are shown as roots of their own.

use yew::prelude::*;

use super::store::Ctx;
use crate::route::Route;
use crate::treeview::{Folding, Line, MAX_INDENT, graph_edges, graph_point, graph_size, layout};
use crate::vm;

/// Properties of [`TreePage`].
#[derive(Properties, PartialEq)]
pub(crate) struct TreeProps {
    /// Any task of the workflow.
    pub(crate) uuid: String,
}

/// One workflow.
#[component]
pub(crate) fn TreePage(props: &TreeProps) -> Html {
    let ctx = use_context::<Ctx>().expect("context");
    let folding = use_state(Folding::default);
    // Drawn as a graph (SVG) or as a list.
    let as_graph = use_state(|| false);
    let model = ctx.store.model.borrow();
    let nodes = vm::tree_nodes(&model.state, &props.uuid);
    if nodes.is_empty() {
        return html! { <p class="empty">{ format!("Task {} is not in memory.", props.uuid) }</p> };
    }
    let lines = layout(&nodes, &folding);
    let toggle = |set: fn(&mut Folding, String)| {
        let folding = folding.clone();
        Callback::from(move |uuid: String| {
            let mut f = (*folding).clone();
            set(&mut f, uuid);
            folding.set(f);
        })
    };
    let fold = toggle(|f, u| {
        if !f.collapsed.remove(&u) {
            f.collapsed.insert(u);
        }
    });
    let expand = toggle(|f, u| {
        f.expanded.insert(u);
    });
    let collapse_all = {
        let folding = folding.clone();
        let parents: Vec<String> = lines
            .iter()
            .filter_map(|l| match l {
                Line::Node { node, children, .. } if *children > 0 => Some(node.uuid.clone()),
                _ => None,
            })
            .collect();
        Callback::from(move |_: MouseEvent| {
            folding.set(Folding {
                collapsed: parents.iter().cloned().collect(),
                ..Folding::default()
            })
        })
    };
    let reset = {
        let folding = folding.clone();
        Callback::from(move |_: MouseEvent| {
            folding.set(Folding {
                collapsed: Default::default(),
                ..(*folding).clone()
            })
        })
    };
    let failed = nodes.iter().filter(|n| n.state == "FAILURE").count();
    let switch = {
        let as_graph = as_graph.clone();
        Callback::from(move |_: MouseEvent| as_graph.set(!*as_graph))
    };
    let body = if *as_graph {
        graph(&lines, &props.uuid, &expand)
    } else {
        html! {
            <ul class="tree">
                { for lines.into_iter().map(|l| line(l, &props.uuid, &fold, &expand)) }
            </ul>
        }
    };
    html! {
        <section class="tree-page">
            <div class="toolbar">
                <h2>{ format!("Workflow: {} tasks", nodes.len()) }</h2>
                if failed > 0 { <span class="state FAILURE">{ format!("{failed} failed") }</span> }
                <button onclick={collapse_all}>{ "Collapse all" }</button>
                <button onclick={reset}>{ "Expand all" }</button>
                <button data-testid="tree-view-switch" onclick={switch}>
                    { if *as_graph { "Show as list" } else { "Show as graph" } }</button>
            </div>
            { body }
        </section>
    }
}

/// The same lines as an SVG graph: a box per task coloured by state, an elbow edge from each
/// parent; a wide group's summary line is a box too (click: expand). Names are SVG text.
fn graph(lines: &[Line], focus: &str, expand: &Callback<String>) -> Html {
    let (w, h) = graph_size(lines);
    let edges = graph_edges(lines);
    let items = lines.iter().enumerate().map(|(i, l)| {
        let (x, y) = graph_point(lines, i);
        let transform = format!("translate({x:.0},{y:.0})");
        match l {
            Line::Node { node: n, collapsed, descendants, .. } => {
                let mut label = format!("{} · {}", n.name, n.runtime);
                if n.retries > 0 {
                    label.push_str(&format!(" · {} retries", n.retries));
                }
                if *collapsed {
                    label.push_str(&format!(" · {descendants} folded"));
                }
                html! {
                    <g key={n.uuid.clone()} data-testid="tree-node" data-task-id={n.uuid.clone()}
                       data-state={n.state.clone()} {transform}
                       class={classes!("gnode", n.state.clone(), (n.uuid == focus).then_some("focus"))}>
                        <rect x="0" y="0" width="12" height="12" rx="3" />
                        <a href={Route::Task(n.uuid.clone()).href()}>
                            <text x="18" y="10">{ label }</text>
                        </a>
                    </g>
                }
            }
            Line::More { parent, hidden, by_state, .. } => {
                let summary: Vec<String> = by_state.iter().map(|(s, n)| format!("{n} {s}")).collect();
                let (expand, parent) = (expand.clone(), parent.clone());
                let onclick = Callback::from(move |_: MouseEvent| expand.emit(parent.clone()));
                html! {
                    <g data-testid="tree-more" data-hidden={hidden.to_string()} {transform} class="gmore" {onclick}>
                        <rect x="0" y="0" width="12" height="12" rx="6" />
                        <text x="18" y="10">{ format!("{hidden} more ({}) — click to show", summary.join(", ")) }</text>
                    </g>
                }
            }
        }
    });
    html! {
        <div class="graph-scroll">
            <svg class="tree-graph" data-testid="tree-graph" width={format!("{w:.0}")} height={format!("{h:.0}")}
                 viewBox={format!("0 0 {w:.0} {h:.0}")} role="img" aria-label="workflow graph">
                { for edges.into_iter().map(|d| html! { <path class="edge" data-testid="tree-edge" {d} /> }) }
                { for items }
            </svg>
        </div>
    }
}

fn line(l: Line, focus: &str, fold: &Callback<String>, expand: &Callback<String>) -> Html {
    match l {
        Line::Node {
            node: n,
            indent,
            chained,
            children,
            descendants,
            collapsed,
            ..
        } => {
            let style = format!("padding-left:{}em", indent as f64 * 1.5);
            let connector = match (n.depth, chained) {
                (0, _) => "",
                (_, true) => "↳ ",
                (_, false) => "├ ",
            };
            let toggle = (children > 0).then(|| {
                let (fold, uuid) = (fold.clone(), n.uuid.clone());
                let onclick = Callback::from(move |_: MouseEvent| fold.emit(uuid.clone()));
                html! {
                    <button class="fold" data-testid="tree-toggle" {onclick}
                            title={if collapsed { "show its subtree" } else { "fold its subtree" }}>
                        { if collapsed { "+" } else { "−" } }</button>
                }
            });
            html! {
                <li key={n.uuid.clone()} data-testid="tree-node" data-task-id={n.uuid.clone()}
                    data-state={n.state.clone()} data-depth={n.depth.to_string()} {style}
                    class={classes!((n.uuid == focus).then_some("focus"), n.orphan.then_some("orphan"))}>
                    <span class="connector">{ connector }</span>
                    { for toggle }
                    <span class={classes!("state", n.state.clone())}>{ n.state.clone() }</span>
                    { " " }<a href={Route::Task(n.uuid.clone()).href()}>{ n.name.clone() }</a>
                    { " " }<span class="muted">{ n.runtime.clone() }</span>
                    if n.retries > 0 { <span class="retries">{ format!(" · {} retries", n.retries) }</span> }
                    if indent == MAX_INDENT && n.depth > MAX_INDENT {
                        <span class="muted">{ format!(" · depth {}", n.depth) }</span>
                    }
                    if collapsed { <span class="muted">{ format!(" · {descendants} tasks folded") }</span> }
                    if n.orphan { <span class="muted">{ " (parent not in memory)" }</span> }
                </li>
            }
        }
        Line::More {
            parent,
            indent,
            hidden,
            by_state,
            ..
        } => {
            let style = format!("padding-left:{}em", indent as f64 * 1.5);
            let summary: Vec<String> = by_state.iter().map(|(s, n)| format!("{n} {s}")).collect();
            let key = format!("more-{parent}");
            let (expand, parent) = (expand.clone(), parent.clone());
            let onclick = Callback::from(move |_: MouseEvent| expand.emit(parent.clone()));
            html! {
                <li {key} class="more" data-testid="tree-more" data-hidden={hidden.to_string()} {style}>
                    <span class="connector">{ "└ " }</span>
                    <button {onclick}>{ format!("{hidden} more") }</button>
                    <span class="muted">{ format!(" ({})", summary.join(", ")) }</span>
                </li>
            }
        }
    }
}
