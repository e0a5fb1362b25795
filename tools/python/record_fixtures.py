"""Records each crawler scenario (examples/crawler/drive.py) from a real Celery worker, one
recording per scenario, with the project's recorder (tools/record-events).

    tools/record-fixtures [--out target/recordings] [--only good,missing] [--isolate]

For every scenario: start the recorder (its queue bound before anything publishes), start a fresh
prefork worker (`-E`, `-c 2`), wait for its `worker-online`, send the scenario, wait until every task
it started is finished (Celery's own State says SUCCESS / FAILURE / REVOKED / REJECTED) and the
stream is quiet, then stop the worker with a warm shutdown; the recorder stops by itself after
`worker-offline`. So each recording is a whole story: online, tasks, heartbeats, offline.

`--isolate` runs on a private queue and events exchange (CRAWLER_ISOLATE) for a broker shared with
other workers; without it the recordings use Celery's defaults (`celery`, `celeryev`), as a real
deployment would, so run it on a broker where no other crawler worker consumes `celery`.
How to refresh the project's fixtures with the result: docs/recordings.md.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CRAWLER = ROOT / "examples" / "crawler"
BROKER = os.environ.get("CRAWLER_BROKER", "amqp://guest:guest@127.0.0.1:5672//")
# Longest wait for one scenario's tasks to finish (the revoked-ETA one waits on a 30 s countdown).
SCENARIO_TIMEOUT = 60
# The stream must stay this quiet (no task events) before the worker is stopped.
QUIET_SECONDS = 1.5


def read_events(path):
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines()]


def wait_for(what, check, timeout):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"record-fixtures: timed out waiting for {what}")
        time.sleep(0.1)


def finished(events, state_cls, ready):
    """Every task seen is finished, and no task event came in the last QUIET_SECONDS."""
    state = state_cls()
    for e in events:
        state.event(dict(e))
    tasks = list(state.tasks.values())
    last = max((e["local_received"] for e in events if "uuid" in e), default=None)
    return (
        bool(tasks)
        and all(t.state in ready for t in tasks)
        and last is not None
        and time.time() - last > QUIET_SECONDS
    )


def record(name, send, out, env, python, node):
    events_path = out / f"{name}.ndjson"
    worker_cmd = ["celery", "-A", "tasks", "worker", "-E", "-P", "prefork", "-c", "2", "-n", f"{node}@%h"]
    recorder = subprocess.Popen(
        [
            python, str(ROOT / "tools/python/record_events.py"), name, "--out", str(out),
            "--broker", BROKER, "--exchange", env.get("CRAWLER_EVENT_EXCHANGE", "celeryev"),
            "--until-offline", node, "--note", "pool=prefork", "--note", "concurrency=2",
            "--note", "app=examples/crawler", "--note", f"worker_cmd={' '.join(worker_cmd)}",
        ],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    worker = None
    try:
        line = recorder.stdout.readline()
        if not line.startswith("recording "):
            raise SystemExit(f"record-fixtures: the recorder said {line!r}")
        log = open(out / f"{name}.worker.log", "w")
        worker = subprocess.Popen(
            [python, "-m", *worker_cmd, "-l", "info"], cwd=CRAWLER, env=env,
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )
        wait_for("worker-online", lambda: any(
            e["type"] == "worker-online" and e["hostname"].startswith(f"{node}@") for e in read_events(events_path)
        ), 30)
        send()
        from celery import states
        from celery.events.state import State

        ready = states.READY_STATES | {states.REJECTED}
        wait_for(f"{name}'s tasks to finish", lambda: finished(read_events(events_path), State, ready),
                 SCENARIO_TIMEOUT)
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        recorder.wait(timeout=30)
    finally:
        for p in (worker, recorder):
            if p is not None and p.poll() is None:
                p.kill()
    meta = json.loads((out / f"{name}.meta.json").read_text())
    print(f"{name}: {meta['events_total']} events, {meta['amqp_messages']} messages, tasks {meta['task_states']}",
          flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(ROOT / "target" / "recordings"), help="directory to write into")
    p.add_argument("--only", default="", help="comma-separated scenario names (default: all)")
    p.add_argument("--isolate", action="store_true", help="private queue and exchanges (shared broker)")
    args = p.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    node = f"record-{os.getpid()}"
    if args.isolate:
        os.environ["CRAWLER_ISOLATE"] = node
        os.environ["CRAWLER_EVENT_EXCHANGE"] = f"{node}.ev"
    os.environ.setdefault("CRAWLER_RESULTS", str(out / "results"))
    backend = out / "backend"
    backend.mkdir(exist_ok=True)
    os.environ.setdefault("CRAWLER_RESULT_BACKEND", f"file://{backend}")
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"  # the worker: no __pycache__ in the checkout
    sys.dont_write_bytecode = True  # and this process
    # The crawler's own modules, configured by the environment above, send the scenarios.
    sys.path.insert(0, str(CRAWLER))
    import pages
    from drive import scenarios

    base, closed = pages.start(), pages.closed_port_url()
    only = {s for s in args.only.split(",") if s}
    for name, send in scenarios(base, closed):
        if not only or name in only:
            record(name, send, out, dict(os.environ), sys.executable, node)
    if args.isolate:
        # Celery declares the events and pidbox exchanges to outlive the run: delete the private ones.
        from kombu import Connection

        with Connection(BROKER) as conn:
            for exchange in (os.environ["CRAWLER_EVENT_EXCHANGE"], f"{node}.ctl.pidbox", f"reply.{node}.ctl.pidbox"):
                conn.channel().exchange_delete(exchange)
    print(f"recordings in {out}")


if __name__ == "__main__":
    main()
