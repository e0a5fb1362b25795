//! Shared state: the [`Model`] behind a `RefCell` (too big to clone per change), frames waiting for
//! the next animation frame, and a small reducer whose version bump tells components to redraw.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use yew::{Reducible, UseReducerDispatcher};

use crate::model::{ConnState, Model};

/// What components redraw on: a version per applied batch, and the connection state.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Ui {
    /// Bumped after each batch applied.
    pub(crate) version: u64,
    /// The WebSocket.
    pub(crate) conn: ConnState,
}

impl Default for Ui {
    fn default() -> Ui {
        Ui {
            version: 0,
            conn: ConnState::Connecting,
        }
    }
}

/// Changes to [`Ui`].
pub(crate) enum Action {
    /// The model changed.
    Applied,
    /// The WebSocket changed state.
    Conn(ConnState),
}

impl Reducible for Ui {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut next = (*self).clone();
        match action {
            Action::Applied => next.version += 1,
            Action::Conn(c) if c == self.conn => return self,
            // Offline is final for the page's life (reload to go live again).
            Action::Conn(_) if self.conn == ConnState::Offline => return self,
            Action::Conn(c) => next.conn = c,
        }
        Rc::new(next)
    }
}

/// Frames queued before they are applied without waiting for an animation frame.
const MAX_QUEUED_FRAMES: usize = 64;

/// The model plus the frames received since the last animation frame.
pub(crate) struct Store {
    /// The model; borrowed only briefly (render, apply), never across an `await`.
    pub(crate) model: RefCell<Model>,
    pending: RefCell<Vec<String>>,
    scheduled: Cell<bool>,
    /// The recording shown instead of the relay (offline mode), by file name.
    offline: RefCell<Option<String>>,
}

impl Store {
    /// A store around `model`.
    pub(crate) fn new(model: Model) -> Store {
        Store {
            model: RefCell::new(model),
            pending: RefCell::new(Vec::new()),
            scheduled: Cell::new(false),
            offline: RefCell::new(None),
        }
    }

    /// The recording shown instead of the relay, if any.
    pub(crate) fn offline(&self) -> Option<String> {
        self.offline.borrow().clone()
    }

    /// Shows the recording `name` (its text) instead of the relay: the connection stops and
    /// frames still arriving are dropped. Returns the events applied and the unreadable lines.
    pub(crate) fn open_recording(&self, name: &str, text: &str) -> (usize, usize) {
        *self.offline.borrow_mut() = Some(name.to_owned());
        self.discard();
        self.model.borrow_mut().load_recording(text)
    }

    /// Queues a frame; the queue is applied once, at the next animation frame.
    pub(crate) fn push(self: &Rc<Self>, text: String, ui: &UseReducerDispatcher<Ui>) {
        if self.offline.borrow().is_some() {
            return;
        }
        let queued = {
            let mut pending = self.pending.borrow_mut();
            pending.push(text);
            pending.len()
        };
        if queued >= MAX_QUEUED_FRAMES {
            // No animation frame for a while (a hidden tab gets none): apply now rather than
            // let the queue grow without bound. The redraw still waits for a frame.
            self.flush();
        }
        if self.scheduled.replace(true) {
            return;
        }
        let (store, ui) = (Rc::clone(self), ui.clone());
        let cb = Closure::once_into_js(move |_ts: f64| {
            store.scheduled.set(false);
            if store.flush() {
                ui.dispatch(Action::Applied);
            }
        });
        if let Some(w) = web_sys::window() {
            let _ = w.request_animation_frame(cb.unchecked_ref());
        }
    }

    /// Applies every queued frame now; `true` when there was any.
    pub(crate) fn flush(&self) -> bool {
        let frames = std::mem::take(&mut *self.pending.borrow_mut());
        if frames.is_empty() {
            return false;
        }
        let now = super::now_secs();
        let mut model = self.model.borrow_mut();
        for f in &frames {
            model.frame(f, now);
        }
        true
    }

    /// Drops queued frames (before a full reset).
    pub(crate) fn discard(&self) {
        self.pending.borrow_mut().clear();
    }
}

/// The context every view reads: the store, and a snapshot of [`Ui`] (copied, so that a new
/// version compares unequal to the old context and the provider tells every reader to redraw).
#[derive(Clone)]
pub(crate) struct Ctx {
    /// The store.
    pub(crate) store: Rc<Store>,
    /// [`Ui`] when this context was made.
    pub(crate) ui: Ui,
    /// Changes [`Ui`] (views that change the model outside the connection loop use it).
    pub(crate) dispatch: UseReducerDispatcher<Ui>,
}

impl PartialEq for Ctx {
    fn eq(&self, other: &Ctx) -> bool {
        Rc::ptr_eq(&self.store, &other.store) && self.ui == other.ui
    }
}
