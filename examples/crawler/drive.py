"""Sends the crawler scenarios at a steady rate, as a client application would.

    python drive.py [--rate 2] [--count 0]     # count 0: until interrupted

Each round picks the next scenario: a good page (visit -> extract -> store), a missing page (404:
retried 3 times, then FAILURE), a closed port (rejected), an expired visit (revoked by the worker), a
visit revoked while it waits on its ETA, a group, a chord, and a deep chain.
"""

import argparse
import itertools
import time

from celery import chain, chord, group

import pages
from tasks import count_links, slow, summarize, visit


def scenarios(base, closed):
    page = itertools.cycle(range(1, 6))
    yield "good", lambda: visit.delay(f"{base}/page{next(page)}.html")
    yield "good-params", lambda: visit.delay(f"{base}/page{next(page)}.html", url_params=[["q", "celery"]])
    yield "missing", lambda: visit.delay(f"{base}/missing.html")
    yield "closed-port", lambda: visit.delay(closed)
    # Expires while the worker holds it for its ETA: the worker revokes it (task-revoked, expired).
    # (An `expires` already past is a zero message TTL: RabbitMQ drops the message unless a
    # consumer can take it at once, and then no event at all tells of it.)
    yield "expired", lambda: visit.apply_async((f"{base}/page1.html",), countdown=5, expires=3)
    yield "revoked-eta", lambda: slow.apply_async((1,), countdown=30).revoke()
    yield "group", lambda: group(visit.s(f"{base}/page{i}.html") for i in range(1, 4)).delay()
    yield "chord", lambda: chord(visit.s(f"{base}/page{i}.html") for i in range(1, 5))(summarize.s())
    yield "deep-chain", lambda: chain(count_links.s({"url": base}), *[count_links.s() for _ in range(11)]).delay()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=2.0, help="scenarios per second")
    p.add_argument("--count", type=int, default=0, help="stop after this many scenarios (0: never)")
    args = p.parse_args()
    base, closed = pages.start(), pages.closed_port_url()
    print(f"crawler demo: site {base}, closed port {closed}, {args.rate}/s", flush=True)
    sent = 0
    for name, send in itertools.cycle(list(scenarios(base, closed))):
        send()
        sent += 1
        print(f"sent {name}", flush=True)
        if args.count and sent >= args.count:
            break
        time.sleep(1.0 / args.rate)
    # keep the site up a little so retries and late visits can still fetch
    time.sleep(20 if args.count else 0)


if __name__ == "__main__":
    main()
