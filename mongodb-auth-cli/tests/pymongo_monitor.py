"""A PyMongo client held as an application holds it: heartbeats every 500 ms, a ping every 2 s,
for SECONDS seconds, against `mongodb-auth serve` with its default deadlines. No heartbeat may
fail and the pool may never be cleared.

Usage: pymongo_monitor.py HOST:PORT SECONDS
"""

import sys
import time

from pymongo import MongoClient, monitoring
from pymongo_events import PoolEvents

address, seconds = sys.argv[1], float(sys.argv[2])


class Counter(monitoring.ServerHeartbeatListener, PoolEvents):
    def __init__(self):
        self.heartbeats = 0
        self.heartbeat_failures = []
        # Not `pool_cleared`: an attribute of the method's name would hide the method, and
        # PyMongo would count nothing (it reports a listener's error and goes on).
        self.pools_cleared = 0
        self.connections_created = 0
        self.connections_closed = []

    def started(self, event):
        pass

    def succeeded(self, event):
        self.heartbeats += 1

    def failed(self, event):
        self.heartbeat_failures.append(repr(event.reply))

    def pool_cleared(self, event):
        self.pools_cleared += 1

    def connection_created(self, event):
        self.connections_created += 1

    def connection_closed(self, event):
        self.connections_closed.append(event.reason)


counter = Counter()
client = MongoClient(
    f"mongodb://alice:pencil@{address}/?authMechanism=SCRAM-SHA-256",
    heartbeatFrequencyMS=500,
    serverSelectionTimeoutMS=5000,
    event_listeners=[counter],
)
started = time.monotonic()
pings = 0
failures = []
while time.monotonic() - started < seconds:
    try:
        client.admin.command("ping")
        pings += 1
    except Exception as e:  # noqa: BLE001 - every failure is reported
        failures.append(repr(e))
    time.sleep(2)
client.close()


def check(name, ok, detail=""):
    print(f"{'ok' if ok else 'FAILED'}: {name}{': ' + str(detail) if detail else ''}")
    return ok


results = [
    check(f"{pings} pings in {seconds:.0f} s, none failed", not failures and pings >= seconds / 2 - 2,
          failures),
    # Every 500 ms, streamed or polled: at least one a second, or the monitor was not there.
    check(f"{counter.heartbeats} heartbeats in {seconds:.0f} s, none failed",
          not counter.heartbeat_failures and counter.heartbeats >= seconds,
          counter.heartbeat_failures),
    # The pool's events reach this listener (closing the client closes its connections), so
    # the two checks below could see a clear or a close.
    check("the pool's events were seen",
          counter.connections_created >= 1 and "poolClosed" in counter.connections_closed,
          (counter.connections_created, counter.connections_closed)),
    check("the pool was never cleared", counter.pools_cleared == 0, counter.pools_cleared),
    check("the server closed no connection", "error" not in counter.connections_closed,
          counter.connections_closed),
]
sys.exit(0 if all(results) else 1)
