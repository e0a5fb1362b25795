"""Celery app for the relay's end-to-end test (`relay/tests/relay/celery.rs`).

Everything that could mix parallel test runs on one broker is unique per run and comes from the
environment: the events exchange, the control (pidbox) exchange and the task queue.
"""

import os

from celery import Celery
from celery.exceptions import Reject
from kombu import Exchange, Queue

QUEUE = os.environ["STALK_TEST_QUEUE"]

app = Celery("stalk_test", broker=os.environ["STALK_TEST_BROKER"])
app.conf.update(
    event_exchange=os.environ["STALK_TEST_EVENT_EXCHANGE"],
    control_exchange=os.environ["STALK_TEST_CONTROL_EXCHANGE"],
    # transient: nothing is left on the broker after the test
    task_queues=[
        Queue(
            QUEUE,
            Exchange(QUEUE, durable=False, auto_delete=True),
            routing_key=QUEUE,
            durable=False,
            auto_delete=True,
        )
    ],
    task_default_queue=QUEUE,
    task_default_exchange=QUEUE,
    task_default_routing_key=QUEUE,
    task_send_sent_event=True,
    worker_send_task_events=True,
    event_serializer="json",
    task_serializer="json",
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task
def add(x, y):
    return x + y


@app.task(bind=True, max_retries=2)
def flaky(self):
    """Retries twice, then fails for good."""
    raise self.retry(exc=ValueError("still broken"), countdown=0.1)


@app.task
def boom():
    raise RuntimeError("boom")


@app.task(acks_late=True)
def refuse():
    """Rejected without requeue (acks_late, so the worker still holds the message)."""
    raise Reject("not for us", requeue=False)


@app.task(bind=True)
def odd(self):
    """What Python's json writes beyond strict JSON, from a real worker: a custom event with a NaN,
    then a failure whose message holds a file name that is not UTF-8 (a lone surrogate once
    decoded, sent as `\\udcff`)."""
    self.send_event("task-progress", ratio=float("nan"))
    raise ValueError("cannot read " + os.fsdecode(b"report-\xff.csv"))
