"""Writes a synthetic recording of one wide group: a parent task and N children (a `group()` fan-out),
each child with `task-sent`, `task-received` (both naming the parent), `task-started` and
`task-succeeded`, in that order, one worker. For benchmarking what a big fan-out costs (every
event of a child links it to its parent, as Python's State does):

    python3 tools/python/wide_group.py 10000 > /tmp/group.ndjson
    target/release/stalk-state bench /tmp/group.ndjson --events 40001 --max-tasks 20000
    "$(tools/python/ensure-venv)" tools/python/state_oracle.py bench /tmp/group.ndjson --events 40001 --max-tasks 20000
"""

import json
import sys


def main():
    children = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    clock = 0

    def event(type_, uuid, **fields):
        nonlocal clock
        clock += 1
        t = 1_700_000_000 + clock / 1000
        e = {"type": type_, "uuid": uuid, "hostname": "celery@w", "timestamp": t,
             "local_received": t, "clock": clock, "utcoffset": 0, "pid": 1}
        e.update(fields)
        print(json.dumps(e))

    event("task-received", "parent", name="proj.fan_out", args="()", kwargs="{}", root_id="parent")
    kids = [f"child-{i}" for i in range(children)]
    link = {"name": "proj.child", "args": "()", "kwargs": "{}", "root_id": "parent", "parent_id": "parent"}
    for k in kids:
        event("task-sent", k, queue="celery", **link)
    for k in kids:
        event("task-received", k, **link)
    for k in kids:
        event("task-started", k)
    for k in kids:
        event("task-succeeded", k, result="1", runtime=0.01)


if __name__ == "__main__":
    main()
