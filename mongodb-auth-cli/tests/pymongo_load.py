"""A PyMongo client as a busy local application uses it, against `mongodb-auth serve` with its
default limits (and test commands): 100 threads at once through the default pool of 100
connections, then a collection filled until the server refuses more, and read back whole.
No operation may fail but the refused insert, and the pool may never be cleared.

Usage: pymongo_load.py HOST:PORT
"""

import sys
import threading

from pymongo import MongoClient
from pymongo.errors import PyMongoError
from pymongo_events import PoolEvents

address = sys.argv[1]


class Pool(PoolEvents):
    """Which connections were made, and whether the pool was cleared."""

    def __init__(self):
        # A set of ids, not a counter: events come from 100 threads, and `add` is atomic.
        self.created = set()
        self.cleared = []

    def connection_created(self, event):
        self.created.add(event.connection_id)

    def pool_cleared(self, event):
        self.cleared.append(event.address)


pool = Pool()
client = MongoClient(
    f"mongodb://alice:pencil@{address}/",
    appname="load",
    serverSelectionTimeoutMS=10000,
    event_listeners=[pool],
)
failures = []

# Each find waits 3 s at the server, so the threads hold 100 connections at once (PyMongo
# opens two at a time: a slow machine needs the time to open them all).
client.admin.command(
    {
        "configureFailPoint": "failCommand",
        "mode": "alwaysOn",
        "data": {
            "failCommands": ["find"],
            "appName": "load",
            "blockConnection": True,
            "blockTimeMS": 3000,
        },
    }
)


def find():
    try:
        list(client.test.load.find({}))
    # Any exception: one that is not PyMongo's would otherwise end the thread uncounted.
    except Exception as e:  # noqa: BLE001 - every failure is reported
        failures.append(f"find: {type(e).__name__}: {e}"[:300])


threads = [threading.Thread(target=find) for _ in range(100)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
if len(pool.created) < 100:
    failures.append(f"the pool opened {len(pool.created)} connections, not 100")

# Documents of 50 kB until the collection is full: what was kept comes back in one find.
kept, refused = 0, None
while refused is None and kept < 100:
    try:
        client.test.full.insert_one({"i": kept, "pad": "x" * 50_000})
        kept += 1
    except PyMongoError as e:
        refused = e
# About 20 fit in the default 1 MiB; the refusal must be that cap's, not another's.
if getattr(refused, "code", None) != 146 or "one find reply" not in str(refused) or kept < 15:
    failures.append(f"after {kept} inserts: {refused!r}")
try:
    found = len(list(client.test.full.find({})))
    if found != kept:
        failures.append(f"found {found} of {kept} documents")
except PyMongoError as e:
    failures.append(f"find of the full collection: {type(e).__name__}: {e}"[:300])
if pool.cleared:
    failures.append(f"the pool was cleared {len(pool.cleared)} times")

for failure in failures[:5]:
    print("FAILED:", failure)
if not failures:
    print(
        f"ok: 100 finds at once over {len(pool.created)} connections, "
        f"{kept} documents kept and found"
    )
