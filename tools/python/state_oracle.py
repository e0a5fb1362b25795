"""The Python oracle for stalk-state's differential tests and benchmarks.

    state_oracle.py dump  [--now S] [--max-tasks N] [--max-workers N] [--heap] FILE
    state_oracle.py bench FILE [--events N] [--max-tasks N]

`dump` feeds every line of FILE (receiver-form NDJSON, docs/recordings.md) to Celery's own
`celery.events.state.State` and prints the canonical dump, exactly as `stalk-state dump` does.
`bench` measures Python's State the way `stalk-state bench` measures ours (same per-pass rewrite of
uuids, clocks and times), except that Python only applies: the events are parsed beforehand.

Deterministic eviction: an evicted Task lingers in Python's weak indexes until the garbage collector
breaks its reference cycle. The oracle runs `gc.collect()` after every event that evicted a task,
which is the behaviour the State crate implements ("an evicted task leaves every structure at
once").
"""

import argparse
import copy
import gc
import json
import math
import re
import sys
import time
import tracemalloc

from celery.events.state import State

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def task_dump(state, task):
    children = sorted(c.uuid for c in task.children)
    return {
        "uuid": task.uuid,
        "name": task.name,
        "state": task.state,
        "received": task.received,
        "sent": task.sent,
        "started": task.started,
        "rejected": task.rejected,
        "succeeded": task.succeeded,
        "failed": task.failed,
        "retried": task.retried,
        "revoked": task.revoked,
        "args": task.args,
        "kwargs": task.kwargs,
        "eta": task.eta,
        "expires": task.expires,
        "retries": task.retries,
        "result": task.result,
        "exception": task.exception,
        "timestamp": task.timestamp,
        "runtime": task.runtime,
        "traceback": task.traceback,
        "exchange": task.exchange,
        "routing_key": task.routing_key,
        "clock": task.clock,
        "client": task.client,
        "root_id": task.root_id,
        "parent_id": task.parent_id,
        "worker": task.worker.hostname if task.worker is not None else None,
        "children": children,
    }


def worker_dump(worker, now):
    expires = worker.heartbeat_expires if worker.heartbeats else None
    return {
        "hostname": worker.hostname,
        "pid": worker.pid,
        "freq": worker.freq,
        "clock": worker.clock,
        "active": worker.active,
        "processed": worker.processed,
        "loadavg": worker.loadavg,
        "sw_ident": worker.sw_ident,
        "sw_ver": worker.sw_ver,
        "sw_sys": worker.sw_sys,
        "heartbeats": list(worker.heartbeats),
        "heartbeat_expires": expires,
        "alive": bool(worker.heartbeats and now < expires),
    }


def dump(args):
    state = State(max_tasks_in_memory=args.max_tasks, max_workers_in_memory=args.max_workers)
    latest = None
    with open(args.file, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError as e:
                print(f"line {lineno}: not JSON ({e}); skipped", file=sys.stderr)
                continue
            if not isinstance(event, dict):
                print(f"line {lineno}: not an object; skipped", file=sys.stderr)
                continue
            lr = event.get("local_received")
            if isinstance(lr, (int, float)) and not isinstance(lr, bool):
                latest = lr if latest is None else max(latest, lr)
            before = len(state.tasks)
            try:
                state.event(copy.deepcopy(event))
            except Exception as e:  # Python's State raises on missing keys; so do we, cleanly.
                print(f"line {lineno}: {type(e).__name__}: {e}; skipped", file=sys.stderr)
            if before == args.max_tasks and len(state.tasks) == before:
                gc.collect()
    now = args.now if args.now is not None else (latest if latest is not None else 0.0)
    out = {
        "event_count": state.event_count,
        "task_count": state.task_count,
        "task_types": sorted(state.task_types()),
        "tasks_by_time": [uuid for uuid, _ in state.tasks_by_time()],
        "tasks": {uuid: task_dump(state, t) for uuid, t in state.tasks.data.items()},
        "workers": {h: worker_dump(w, now) for h, w in state.workers.data.items()},
    }
    if args.heap:
        # The time heap entry by entry (timetuple: clock, timestamp, origin, weakref to the task).
        out["heap"] = [
            [float(clock), float(timestamp), origin, getattr(ref(), "uuid", None)]
            for clock, timestamp, origin, ref in state._taskheap
        ]
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


def rewrite(value, prefix, clock_shift, time_shift, key=None):
    """One bench pass's copy of an event value (same rewrite as stalk-state bench)."""
    if isinstance(value, dict):
        return {k: rewrite(v, prefix, clock_shift, time_shift, k) for k, v in value.items()}
    if isinstance(value, str) and UUID_RE.match(value):
        return prefix + value[8:]
    if key == "clock" and isinstance(value, int):
        return value + clock_shift
    if key in ("timestamp", "local_received") and isinstance(value, (int, float)):
        return float(value) + time_shift
    return value


def bench(args):
    with open(args.file, encoding="utf-8") as f:
        events = [json.loads(line) for line in f if line.strip()]
    clocks = [e["clock"] for e in events if isinstance(e.get("clock"), int)]
    times = [e[k] for e in events for k in ("timestamp", "local_received") if isinstance(e.get(k), (int, float))]
    clock_span = (max(clocks) if clocks else 0) + 1
    time_span = float(math.ceil(max(times) - min(times)) + 1) if times else 1.0

    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    state = State(max_tasks_in_memory=args.max_tasks)
    applied = 0
    elapsed = 0.0
    npass = 0
    tracemalloc.stop()  # tracing slows Python several-fold: time without it, measure memory after.
    while applied < args.events:
        batch = [
            rewrite(e, f"{npass:08x}", npass * clock_span, npass * time_span)
            for e in events[: args.events - applied]
        ]
        event = state.event
        started = time.perf_counter()
        for e in batch:
            event(e)
        elapsed += time.perf_counter() - started
        applied += len(batch)
        npass += 1
    del batch
    gc.collect()
    # Memory per task: rebuild one full state under tracemalloc (same events, same bound).
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    state = State(max_tasks_in_memory=args.max_tasks)
    filled = 0
    p = 0
    while len(state.tasks) < args.max_tasks and p < npass:
        for e in events:
            state.event(rewrite(e, f"{p:08x}", p * clock_span, p * time_span))
        filled += len(events)
        p += 1
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    tasks = len(state.tasks)
    print(json.dumps({
        "events": applied,
        "seconds": elapsed,
        "events_per_sec": applied / elapsed,
        "tasks_in_memory": tasks,
        "state_heap_bytes": held,
        "bytes_per_task": held / max(tasks, 1),
        "passes": npass,
    }))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("--now", type=float)
    d.add_argument("--max-tasks", type=int, default=10000)
    d.add_argument("--max-workers", type=int, default=5000)
    d.add_argument("--heap", action="store_true", help="add the time heap, entry by entry")
    d.add_argument("file")
    b = sub.add_parser("bench")
    b.add_argument("file")
    b.add_argument("--events", type=int, default=200000)
    b.add_argument("--max-tasks", type=int, default=10000)
    args = p.parse_args()
    dump(args) if args.cmd == "dump" else bench(args)


if __name__ == "__main__":
    main()
