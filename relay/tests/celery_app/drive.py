"""Sends the end-to-end test's tasks and prints their ids as one JSON object (stdout).

A chain, a success, retries that end in failure, an exception, a rejection, a task whose events
hold what Python's json writes beyond strict JSON, and a task revoked while it waits on its ETA
(the worker reports `task-revoked` when the ETA comes).
"""

import json
import time

from tasks import add, app, boom, flaky, odd, refuse

chain = (add.s(1, 2) | add.s(3) | add.s(4)).apply_async()
ids = {
    "add": add.delay(2, 2).id,
    "chain_last": chain.id,
    "flaky": flaky.delay().id,
    "boom": boom.delay().id,
    "refuse": refuse.delay().id,
    "odd": odd.delay().id,
}
eta = add.apply_async((5, 5), countdown=2)
# revoke only once the worker holds it, waiting on its ETA
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    scheduled = app.control.inspect(timeout=0.5).scheduled() or {}
    if any(s["request"]["id"] == eta.id for tasks in scheduled.values() for s in tasks):
        break
else:
    raise SystemExit("the worker never scheduled the ETA task")
app.control.revoke(eta.id)
ids["revoked"] = eta.id
print(json.dumps(ids), flush=True)
