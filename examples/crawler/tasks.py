"""The crawler demo: the Celery app a user of the events tutorial writes.

`visit(url, url_params=[])` fetches a page. HTTP errors are retried (3 times, exponential backoff),
a refused connection rejects the message for good (`Reject(requeue=False)`), and a fetched page is
handed on to `extract_data_from_html.s(html, data) | store_data.s()`. A few helper tasks make the
canvas scenarios (groups, chords, deep chains).

Run a worker with events on:  celery -A tasks worker -E -P prefork -c 2 -n crawler@%h
"""

import json
import os
import time
from pathlib import Path

import requests
from bs4 import BeautifulSoup
from celery import Celery
from celery.exceptions import Reject
from kombu import Exchange, Queue

app = Celery(
    "crawler",
    broker=os.environ.get("CRAWLER_BROKER", "amqp://guest:guest@127.0.0.1:5672//"),
)
app.conf.update(
    task_send_sent_event=True,  # task-sent events: tasks show up as soon as they are sent
    worker_send_task_events=True,  # same as `celery worker -E`
    event_serializer="json",
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    # Chords need a result backend; a directory keeps the demo free of extra services.
    result_backend=os.environ.get("CRAWLER_RESULT_BACKEND", "file:///tmp/stalk-crawler-backend"),
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
)

# Tests and recordings run the crawler beside other workers on one broker: CRAWLER_ISOLATE=NAME gives
# this run its own task queue (transient), events exchange (NAME.ev) and control exchange (NAME.ctl).
# Unset (a normal deployment, the demo): Celery's defaults, `celery` and `celeryev`.
ISOLATE = os.environ.get("CRAWLER_ISOLATE")
if ISOLATE:
    app.conf.update(
        task_queues=[
            Queue(ISOLATE, Exchange(ISOLATE, durable=False, auto_delete=True), routing_key=ISOLATE,
                  durable=False, auto_delete=True)
        ],
        task_default_queue=ISOLATE,
        task_default_exchange=ISOLATE,
        task_default_routing_key=ISOLATE,
        event_exchange=f"{ISOLATE}.ev",
        control_exchange=f"{ISOLATE}.ctl",
    )

RESULTS = Path(os.environ.get("CRAWLER_RESULTS", "/tmp/stalk-crawler-results"))
Path("/tmp/stalk-crawler-backend").mkdir(exist_ok=True)
# Seconds before the first retry of a failed fetch, doubling after (Celery uses at least 1).
BACKOFF = float(os.environ.get("CRAWLER_BACKOFF", "1"))


@app.task(
    bind=True,
    acks_late=True,
    autoretry_for=(requests.HTTPError,),
    max_retries=3,
    retry_backoff=BACKOFF,
    retry_backoff_max=8,
    retry_jitter=False,
)
def visit(self, url, url_params=[]):
    """Fetch `url`; on success, extract its data and store it (a chain of two tasks)."""
    try:
        response = requests.get(url, params=url_params, timeout=5)
    except requests.ConnectionError as exc:
        raise Reject(f"cannot connect to {url}: {exc}", requeue=False)
    response.raise_for_status()
    data = {"url": url, "status": response.status_code, "fetched_by": self.request.id}
    (extract_data_from_html.s(response.text, data) | store_data.s()).delay()
    return {"url": url, "bytes": len(response.content)}


@app.task
def extract_data_from_html(html, data):
    """Title, links and images of a page."""
    soup = BeautifulSoup(html, "html.parser")
    data = dict(data)
    data["title"] = soup.title.string if soup.title else None
    data["links"] = [a.get("href") for a in soup.find_all("a") if a.get("href")]
    data["images"] = [img.get("src") for img in soup.find_all("img") if img.get("src")]
    return data


@app.task
def store_data(data):
    """Write the extracted data to a JSON file; returns its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = data["url"].rstrip("/").rsplit("/", 1)[-1] or "index"
    path = RESULTS / f"{int(time.time() * 1000)}-{name}.json"
    path.write_text(json.dumps(data, indent=2))
    return str(path)


@app.task
def count_links(data):
    """A step of the deep chains: counts a page's links and passes the data on."""
    data = dict(data or {})
    data["steps"] = data.get("steps", 0) + 1
    return data


@app.task
def summarize(pages):
    """A chord callback: how many pages the group fetched."""
    return {"pages": len(pages)}


@app.task
def slow(seconds):
    """Sleeps (a task to revoke while it waits on its ETA)."""
    time.sleep(seconds)
    return seconds
