//! `#/tree/<uuid>`: the whole workflow the task belongs to, as an indented tree (orphans shown).

use yew::prelude::*;

use super::store::Ctx;
use crate::route::Route;
use crate::vm::{self, TreeNode};

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
    let model = ctx.store.model.borrow();
    let nodes = vm::tree_nodes(&model.state, &props.uuid);
    if nodes.is_empty() {
        return html! { <p class="empty">{ format!("Task {} is not in memory.", props.uuid) }</p> };
    }
    let focus = props.uuid.clone();
    html! {
        <section>
            <h2>{ format!("Workflow ({} tasks)", nodes.len()) }</h2>
            <ul class="tree">{ for nodes.into_iter().map(|n| node(n, &focus)) }</ul>
        </section>
    }
}

fn node(n: TreeNode, focus: &str) -> Html {
    let style = format!("padding-left:{}em", n.depth * 2);
    html! {
        <li key={n.uuid.clone()} data-testid="tree-node" data-task-id={n.uuid.clone()}
            data-state={n.state.clone()} {style}
            class={classes!((n.uuid == focus).then_some("focus"), n.orphan.then_some("orphan"))}>
            <span class={classes!("state", n.state.clone())}>{ n.state }</span>
            { " " }<a href={Route::Task(n.uuid.clone()).href()}>{ n.name }</a>
            { " " }<span class="muted">{ n.runtime }</span>
            if n.orphan { <span class="muted">{ " (parent not in memory)" }</span> }
        </li>
    }
}
