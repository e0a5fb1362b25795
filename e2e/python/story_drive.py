"""Sends the story test's tasks (`e2e/tests/story.rs`) with the crawler demo's own scenarios, prints
their ids as one JSON line on stdout, then keeps the local site up (for the retries) until its
standard input closes or it is killed.

Runs with `examples/crawler` on PYTHONPATH and the crawler's environment (CRAWLER_ISOLATE, ...).
"""

import json
import sys

import pages
from drive import scenarios
from tasks import visit

# Two classic payloads: if the app ever rendered event strings as HTML, either would set the flag.
XSS = [["q", "<script>window.__xss=1</script>"], ["img", '<img src=x onerror="window.__xss=1">']]

base, closed = pages.start(), pages.closed_port_url()
send = dict(scenarios(base, closed))
ids = {
    "good": send["good"]().id,
    "missing": send["missing"]().id,
    "closed": send["closed-port"]().id,
    "expired": send["expired"]().id,
    # positional args, so the payloads are in the task's `args`
    "xss": visit.delay(f"{base}/page2.html", XSS).id,
}
print(json.dumps(ids), flush=True)
sys.stdin.read()
