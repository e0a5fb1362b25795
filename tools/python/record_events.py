"""Records Celery's monitoring events off the broker in the two forms of the project's recordings.

    tools/record-events NAME [--out DIR] [--broker URL] [--exchange celeryev]
                             [--count N] [--duration S] [--until-offline HOSTNAME] [--note KEY=VALUE]

Writes, in DIR (default: the current directory):

- `NAME.raw.ndjson`: one line per AMQP message as it came off the broker, before Celery touched
  it: `seq`, `recv` (receive time), `body_type` (`dict` / `list`), `n_events`, `types`,
  `routing_key`, `content_type`, `headers`, `body`. What the relay sees; `stalk-relay --replay`
  reads it.
- `NAME.ndjson`: one line per event exactly as Celery's own `EventReceiver` hands it to handlers
  (`event_from_message`: `task-sent` clock rewritten, timestamps localised, `local_received`
  added; `task.multi` batches taken apart in order). The input of `stalk-state dump`.
- `NAME.meta.json`: versions, counts per type and body shape, the task states Celery's own `State`
  ends with, plus any `--note`s.

Its queue is its own (exclusive, bound with `#`, no TTL, no length limit), declared before the first
line on stdout (`recording ...`): whatever is published after that line is recorded. Lines are
flushed one by one, so another process may follow the files while they grow.

Stops on SIGINT / SIGTERM, after `--count` events, after `--duration` seconds, or after the
`worker-offline` of `--until-offline` (a full hostname, or a node name without `@host`). Then it
writes the meta file and exits 0.
"""

import argparse
import base64
import collections
import json
import os
import platform
import signal
import socket
import sys
import time
import uuid
from pathlib import Path

import celery
import kombu
from celery import Celery
from kombu import Connection, Consumer, Exchange, Queue

# How long one wait for a message may block before the stop conditions are looked at again.
POLL_SECONDS = 0.2


class Recorder:
    """Writes each message in both forms as it arrives, and keeps the counts for the meta file."""

    def __init__(self, app, raw, events):
        self.raw, self.events = raw, events
        # Celery's receiver, used only for its `event_from_message` (its Lamport clock included);
        # it consumes nothing itself.
        self.receiver = app.events.Receiver(app.connection_for_read(), handlers={})
        self.state = app.events.State()
        self.messages = 0
        self.by_type = collections.Counter()
        self.body_types = collections.Counter()
        self.list_lengths = collections.Counter()
        self.offline = set()

    def on_message(self, message):
        recv = time.time()
        body, body_type = decode(message)
        items = body if isinstance(body, list) else [body] if isinstance(body, dict) else []
        types = [e.get("type") for e in items if isinstance(e, dict)]
        line = {
            "seq": self.messages,
            "recv": recv,
            "body_type": body_type,
            "n_events": len(items),
            "types": types,
            "routing_key": message.delivery_info.get("routing_key"),
            "content_type": message.content_type,
            "headers": message.headers or {},
            "body": body,
        }
        # The raw line first: the receiver below rewrites the events in place.
        write(self.raw, line)
        self.messages += 1
        self.body_types[body_type] += 1
        if body_type == "list":
            self.list_lengths[str(len(items))] += 1
        for event in items:
            if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                continue
            _, event = self.receiver.event_from_message(event)
            write(self.events, event)
            self.by_type[event["type"]] += 1
            self.state.event(event)
            if event["type"] == "worker-offline":
                self.offline.add(event.get("hostname"))

    def meta(self, name, started, notes):
        states = collections.Counter(t.state for t in self.state.tasks.values())
        return {
            "scenario": name,
            "file": f"{name}.ndjson",
            "raw_file": f"{name}.raw.ndjson",
            "raw_mode": "full",
            "celery_version": celery.__version__,
            "kombu_version": kombu.__version__,
            "python": platform.python_version(),
            "recorder_time_timezone": time.timezone,
            "wall_seconds": round(time.time() - started, 2),
            "events_total": sum(self.by_type.values()),
            "events_by_type": dict(sorted(self.by_type.items())),
            "amqp_messages": self.messages,
            "body_types": dict(sorted(self.body_types.items())),
            "list_body_lengths": dict(sorted(self.list_lengths.items(), key=lambda kv: int(kv[0]))),
            "worker_offline_seen": bool(self.offline),
            "tasks_in_live_state": len(self.state.tasks),
            "task_states": dict(sorted(states.items())),
            **notes,
        }


def decode(message):
    """The body as JSON when it is JSON; otherwise base64 text, so the line is still written."""
    try:
        body = json.loads(message.body)
    except (ValueError, TypeError):
        return base64.b64encode(bytes(message.body)).decode(), "undecodable"
    return body, {dict: "dict", list: "list"}.get(type(body), "other")


def write(f, obj):
    f.write(json.dumps(obj) + "\n")
    f.flush()


def offline_matches(seen, wanted):
    return any(h == wanted or (h or "").split("@", 1)[0] == wanted for h in seen)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", help="recording name: NAME.raw.ndjson, NAME.ndjson, NAME.meta.json")
    p.add_argument("--out", default=".", help="directory to write into (created)")
    p.add_argument("--broker", default=os.environ.get("STALK_BROKER", "amqp://guest:guest@127.0.0.1:5672//"))
    p.add_argument("--exchange", default="celeryev", help="Celery's event_exchange")
    p.add_argument("--count", type=int, default=0, help="stop after this many events (0: no limit)")
    p.add_argument("--duration", type=float, default=0, help="stop after this many seconds (0: no limit)")
    p.add_argument("--until-offline", metavar="HOSTNAME", help="stop after this worker's worker-offline")
    p.add_argument("--note", action="append", default=[], metavar="KEY=VALUE", help="added to the meta file")
    args = p.parse_args()
    notes = dict(n.split("=", 1) for n in args.note)

    stop = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.append(True))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    app = Celery("stalk-record", broker=args.broker, set_as_current=False)
    app.conf.event_exchange = args.exchange
    started = time.time()
    with Connection(args.broker) as conn, open(out / f"{args.name}.raw.ndjson", "w") as raw, open(
        out / f"{args.name}.ndjson", "w"
    ) as events:
        recorder = Recorder(app, raw, events)
        # Declared exactly as Celery declares it, so the recorder may start before any worker.
        exchange = Exchange(args.exchange, type="topic", durable=True, auto_delete=False)
        queue = Queue(
            f"stalk-record.{uuid.uuid4().hex[:12]}", exchange, routing_key="#", exclusive=True, auto_delete=True
        )
        consumer = Consumer(conn.channel(), queues=[queue], on_message=recorder.on_message, no_ack=True)
        consumer.consume()
        print(f"recording {args.name}: queue {queue.name} bound to {args.exchange}", flush=True)
        deadline = started + args.duration if args.duration else None
        while not stop:
            if args.count and sum(recorder.by_type.values()) >= args.count:
                break
            if args.until_offline and offline_matches(recorder.offline, args.until_offline):
                break
            if deadline and time.time() >= deadline:
                break
            try:
                conn.drain_events(timeout=POLL_SECONDS)
            except socket.timeout:
                conn.heartbeat_check()
            except InterruptedError:
                pass
    meta = recorder.meta(args.name, started, notes)
    (out / f"{args.name}.meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(
        f"recorded {args.name}: {meta['events_total']} events in {meta['amqp_messages']} messages", file=sys.stderr
    )


if __name__ == "__main__":
    main()
