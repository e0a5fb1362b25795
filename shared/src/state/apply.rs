//! The port of `State._event`: a worker event updates its worker, a task event its task, in
//! Python's steps (find or create, note the sender, merge, index, link), with the indexes and
//! counts kept in line; eviction takes a task out of every structure at once.

use std::rc::Rc;

use super::counts::{Before, TaskKey, root_key};
use super::task::Task;
use super::{
    Applied, ApplyError, Evicted, Handle, Link, NewWorker, Slot, State, TASK_TYPES_MAX,
    TaskStorage, Waiting, Worker, pairs, shared_str, strings,
};
use crate::event::{Event, TaskSubject, WorkerSubject};
use crate::json::JsonRef;
use crate::value::Num;

/// What every applied event needs, checked in this order: its sender, its time, and when it was
/// received.
fn sender_and_times<'e>(ev: &'e Event<'_>) -> Result<(&'e str, Num, Num), ApplyError> {
    let hostname = ev
        .hostname
        .as_deref()
        .ok_or(ApplyError::MissingField("hostname"))?;
    let timestamp = ev.timestamp.ok_or(ApplyError::MissingField("timestamp"))?;
    let local_received = ev
        .local_received
        .ok_or(ApplyError::MissingField("local_received"))?;
    Ok((hostname, timestamp, local_received))
}

impl State {
    pub(super) fn apply_worker(
        &mut self,
        subject: &WorkerSubject,
        ev: &Event<'_>,
    ) -> Result<Applied, ApplyError> {
        let (hostname, timestamp, local_received) = sender_and_times(ev)?;
        let offline = *subject == WorkerSubject::Offline;
        let (handle, created, evicted) = match self.workers.find(hostname) {
            Some(h) => (h, false, None),
            None if offline => {
                // Python builds a throw-away Worker that is never stored.
                let hostname = self.strings.shared(hostname);
                return Ok(Applied::Worker {
                    hostname,
                    created: false,
                    evicted: None,
                });
            }
            None => {
                let (h, evicted) = self.insert_worker(hostname);
                (h, true, evicted)
            }
        };
        let worker = self.workers.get_mut(handle).expect("worker handle is live");
        worker.copy_fields(ev.clock, &ev.fields, &mut self.strings);
        if offline {
            worker.heartbeats.clear();
        } else {
            worker.heartbeat(timestamp, local_received);
        }
        Ok(Applied::Worker {
            hostname: worker.hostname.clone(),
            created,
            evicted,
        })
    }

    fn insert_worker(&mut self, hostname: &str) -> (Handle, Option<Rc<str>>) {
        let evicted = if self.workers.len() >= self.limits.max_workers {
            self.workers_evicted += 1;
            self.workers.pop_front().map(|(_, w)| w.hostname)
        } else {
            None
        };
        let hostname = self.strings.shared(hostname);
        let mut worker = Worker::new(hostname);
        worker.id = self.strings.shared(&worker.id);
        (self.workers.push_back(worker), evicted)
    }

    /// The shared copy of a task event's hostname.
    fn sender(&mut self, hostname: &str) -> Rc<str> {
        if let Some((last, _)) = &self.last_sender
            && strings::same(last, hostname)
        {
            return last.clone();
        }
        let shared = self.strings.shared(hostname);
        self.last_sender = Some((shared.clone(), None));
        shared
    }

    /// The worker of a task event's sender (as returned by [`State::sender`]), created if new
    /// (then reported).
    fn sender_worker(&mut self, hostname: &Rc<str>) -> (Handle, Option<NewWorker>) {
        if let Some((last, Some(wh))) = &self.last_sender
            && Rc::ptr_eq(last, hostname)
            && self.workers.is_live(*wh)
        {
            return (*wh, None);
        }
        let (wh, new) = match self.workers.find(hostname) {
            Some(wh) => (wh, None),
            None => {
                let (wh, evicted) = self.insert_worker(hostname);
                let new = NewWorker {
                    hostname: hostname.clone(),
                    evicted,
                };
                (wh, Some(new))
            }
        };
        self.last_sender = Some((hostname.clone(), Some(wh)));
        (wh, new)
    }

    pub(super) fn apply_task(
        &mut self,
        subject: &TaskSubject,
        ev: &Event<'_>,
    ) -> Result<Applied, ApplyError> {
        let uuid = ev.uuid.as_deref().ok_or(ApplyError::MissingField("uuid"))?;
        let (hostname, timestamp, local_received) = sender_and_times(ev)?;
        let clock = ev.clock.ok_or(ApplyError::MissingField("clock"))?;
        let hostname = self.sender(hostname);

        // Python's `State._event` for a task, step by step.
        let (handle, created, evicted) = self.find_or_create_task(uuid);
        let sent = *subject == TaskSubject::Sent;
        // What this event may change of the task's counts and index entries.
        let before = Before::of(&self.slot(handle).task, ev, (!sent).then_some(&*hostname));
        let new_worker =
            self.note_sender(handle, sent, &hostname, timestamp, local_received, clock);
        if *subject == TaskSubject::Received {
            self.task_count += 1;
        }
        self.merge(handle, subject, ev, timestamp, clock, &before);
        self.reindex(handle, before);
        if ev.fields.name.is_some() {
            self.index_name(handle, created, hostname);
        }
        self.link_to_parent(handle);
        if created {
            self.adopt_waiting_children(handle, uuid);
        }
        Ok(Applied::Task {
            handle,
            created,
            evicted,
            new_worker,
        })
    }

    /// Step 1: the task with this id, or a new one (which may evict the oldest): its handle,
    /// whether it was created, and what was evicted.
    #[inline]
    fn find_or_create_task(&mut self, uuid: &str) -> (Handle, bool, Option<Evicted>) {
        if let Some(h) = self.tasks.find(uuid) {
            return (h, false, None);
        }
        let evicted = if self.tasks.len() >= self.limits.max_tasks {
            self.evict_oldest_task()
        } else {
            None
        };
        let uuid: Rc<str> = Rc::from(uuid);
        let task = Task::new(uuid.clone());
        self.counts.add(&TaskKey::of(&task), 1);
        let handle = self.tasks.push_back(Slot {
            task,
            indexed: pairs::PairId::NONE,
            link: Link::None,
        });
        (handle, true, evicted)
    }

    /// Steps 2-3: the task's client (`task-sent`) or worker, and the worker's heartbeat from the
    /// task event; then the event's entry in the time heap, under its sender. Returns the worker
    /// if this made it.
    #[inline]
    fn note_sender(
        &mut self,
        handle: Handle,
        sent: bool,
        hostname: &Rc<str>,
        timestamp: Num,
        local_received: Num,
        clock: Num,
    ) -> Option<NewWorker> {
        // Fields borrowed one by one, so the origin is lent to the heap, not cloned.
        let slot = self.tasks.get_mut(handle).expect("task handle is live");
        let (origin, new_worker) = if sent {
            slot.task.client = Some(hostname.clone());
            (hostname, None)
        } else {
            slot.task.worker = Some(hostname.clone());
            let (wh, new_worker) = self.sender_worker(hostname);
            let worker = self.workers.get_mut(wh).expect("worker handle is live");
            if local_received.is_truthy() {
                // Python calls worker.event(None, local_received, timestamp): the arguments are
                // swapped, so the heartbeat recorded is the event's timestamp.
                worker.heartbeat(local_received, timestamp);
            }
            (&worker.id, new_worker)
        };
        self.heap
            .push(clock.as_f64(), timestamp.as_f64(), origin, handle);
        new_worker
    }

    /// Steps 4-5: the event merged into the task (`Task.event`); long strings packed once the task
    /// is final, rather than at every retry.
    #[inline]
    fn merge(
        &mut self,
        handle: Handle,
        subject: &TaskSubject,
        ev: &Event<'_>,
        timestamp: Num,
        clock: Num,
        before: &Before,
    ) {
        let mut store = TaskStorage {
            root: self.known_id(ev.fields.root_id.as_ref(), handle),
            parent: self.known_id(ev.fields.parent_id.as_ref(), handle),
            strings: &mut self.strings,
            pack: false,
        };
        let slot = self.tasks.get_mut(handle).expect("task handle is live");
        slot.task
            .apply(subject, timestamp, clock, &ev.fields, &mut store);
        if slot.task.state.is_ready() && !before.state.is_ready() {
            slot.task.pack_long_fields(&mut self.strings);
        }
    }

    /// Step 6: task types and the creation-time indexes, after an event that carried a `name` (only
    /// such an event can change them; a task's name is added to the types when it is set, and
    /// the types are never emptied).
    #[inline]
    fn index_name(&mut self, handle: Handle, created: bool, hostname: Rc<str>) {
        let Some(name) = shared_str(&self.slot(handle).task.info.name) else {
            return;
        };
        if !self.task_types.contains(&name) {
            if self.task_types.len() < TASK_TYPES_MAX {
                self.task_types.insert(name.clone());
            } else {
                self.task_types_refused += 1;
            }
        }
        if created {
            let id = self.pairs.acquire(name, hostname);
            self.slot_mut(handle).indexed = id;
        }
    }

    /// Step 7: the task in its parent's children, or waiting for a parent not seen yet.
    #[inline]
    fn link_to_parent(&mut self, handle: Handle) {
        let parent_id =
            shared_str(&self.slot(handle).task.info.parent_id).filter(|p| !p.is_empty());
        let Some(parent_id) = parent_id else {
            return;
        };
        match self.tasks.find(&parent_id) {
            Some(parent) => {
                self.tasks.move_to_back(parent);
                if self.slot(handle).link != Link::Parent(parent) {
                    self.add_children(parent, &[handle]);
                }
            }
            None => self.add_pending_child(parent_id, handle),
        }
    }

    /// Step 8: children that arrived before their new parent. Only a task just created can have
    /// any: a child that finds its parent in memory links at once.
    #[inline]
    fn adopt_waiting_children(&mut self, handle: Handle, uuid: &str) {
        if let Some(waiting) = (self.pending_children.len() > 0)
            .then(|| self.pending_children.find(uuid))
            .flatten()
            .and_then(|p| self.pending_children.remove(p))
        {
            self.add_children(handle, &waiting.children);
        }
    }

    /// The map's own copy of a task id named by a field, so `root_id` / `parent_id` share it.
    /// `this` is the event's task: a root task names itself, which needs no lookup.
    fn known_id(&self, v: Option<&JsonRef<'_>>, this: Handle) -> Option<Rc<str>> {
        let id = v?.as_str()?;
        let own = &self.slot(this).task.uuid;
        if strings::same(own, id) {
            return Some(own.clone());
        }
        self.tasks
            .find(id)
            .and_then(|h| self.tasks.get(h))
            .map(|s| s.task.uuid.clone())
    }

    pub(super) fn slot(&self, h: Handle) -> &Slot {
        self.tasks.get(h).expect("task handle is live")
    }

    pub(super) fn slot_mut(&mut self, h: Handle) -> &mut Slot {
        self.tasks.get_mut(h).expect("task handle is live")
    }

    /// Brings counts and the root index in line with the task's values after an event.
    fn reindex(&mut self, h: Handle, before: Before) {
        let t = &self.tasks.get(h).expect("task handle is live").task;
        self.counts.change(&before, t);
        if let Some(old) = before.root {
            let new = root_key(t);
            if old != new {
                if let Some(r) = &old {
                    self.by_root.remove(r, h);
                }
                if let Some(r) = new {
                    self.by_root.insert(r, h);
                }
            }
        }
    }

    /// Adds live `children` to `parent`'s list (once each, as to Python's `WeakSet`), and notes
    /// the link on each child ([`Slot::link`]).
    fn add_children(&mut self, parent: Handle, children: &[Handle]) {
        let mut list = std::mem::take(&mut self.slot_mut(parent).task.children);
        for &c in children {
            let Some(child) = self.tasks.get_mut(c) else {
                continue;
            };
            child.link = Link::Parent(parent);
            if !list.contains(&c) {
                if list.len() == list.capacity() {
                    // Drop links to evicted tasks before growing (they are weak references).
                    list.retain(|&x| self.tasks.is_live(x));
                }
                list.push(c);
            }
        }
        self.slot_mut(parent).task.children = list;
    }

    fn add_pending_child(&mut self, parent_id: Rc<str>, child: Handle) {
        let h = match self.pending_children.find(&parent_id) {
            Some(h) => {
                self.pending_children.move_to_back(h);
                h
            }
            None => {
                if self.pending_children.len() >= self.limits.max_tasks {
                    self.pending_children.pop_front();
                    self.waiting_evicted += 1;
                }
                self.pending_children.push_back(Waiting {
                    parent: parent_id,
                    children: Vec::new(),
                })
            }
        };
        let link = &mut self.tasks.get_mut(child).expect("task handle is live").link;
        if *link == Link::Waiting(h) {
            return;
        }
        *link = Link::Waiting(h);
        let tasks = &self.tasks;
        let list = &mut self
            .pending_children
            .get_mut(h)
            .expect("pending handle is live")
            .children;
        if !list.contains(&child) {
            if list.len() == list.capacity() {
                list.retain(|&x| tasks.is_live(x));
            }
            list.push(child);
        }
    }

    /// Removes the oldest task from every structure at once.
    fn evict_oldest_task(&mut self) -> Option<Evicted> {
        let (handle, slot) = self.tasks.pop_front()?;
        self.tasks.prefetch_front();
        self.tasks_evicted += 1;
        self.forget(handle, &slot);
        Some(Evicted {
            handle,
            uuid: slot.task.uuid,
        })
    }

    /// Drops a removed task from counts and indexes (heap entries and children links are weak and
    /// die with the handle).
    pub(super) fn forget(&mut self, handle: Handle, slot: &Slot) {
        self.pairs.release(slot.indexed);
        let key = TaskKey::of(&slot.task);
        self.counts.add(&key, -1);
        if let Some(r) = &key.root {
            self.by_root.remove(r, handle);
        }
    }
}
