"""A PyMongo client as a busy local application uses it, against `mongodb-auth serve` with its
default limits (and test commands): 100 threads at once through the default pool of 100
connections, then a collection filled until the server refuses more, and read back whole.
No operation may fail but the refused insert, and the pool may never be cleared.

Usage: pymongo_load.py HOST:PORT
"""

import sys
import threading

from pymongo import MongoClient, monitoring
from pymongo.errors import PyMongoError

address = sys.argv[1]


class Pool(monitoring.ConnectionPoolListener):
    def __init__(self):
        self.created = 0
        self.cleared = 0

    def connection_created(self, event):
        self.created += 1

    def pool_cleared(self, event):
        self.cleared += 1


pool = Pool()
client = MongoClient(
    f"mongodb://alice:pencil@{address}/",
    appname="load",
    serverSelectionTimeoutMS=10000,
    event_listeners=[pool],
)
failures = []

# Each find waits a second at the server, so the threads hold 100 connections at once.
client.admin.command(
    {
        "configureFailPoint": "failCommand",
        "mode": "alwaysOn",
        "data": {
            "failCommands": ["find"],
            "appName": "load",
            "blockConnection": True,
            "blockTimeMS": 1000,
        },
    }
)


def find():
    try:
        list(client.test.load.find({}))
    except PyMongoError as e:
        failures.append(f"find: {type(e).__name__}: {e}"[:300])


threads = [threading.Thread(target=find) for _ in range(100)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
if pool.created < 100:
    failures.append(f"the pool opened {pool.created} connections, not 100")

# Documents of 50 kB until the collection is full: what was kept comes back in one find.
kept, refused = 0, None
while refused is None and kept < 100:
    try:
        client.test.full.insert_one({"i": kept, "pad": "x" * 50_000})
        kept += 1
    except PyMongoError as e:
        refused = e
if getattr(refused, "code", None) != 146:
    failures.append(f"after {kept} inserts: {refused!r}")
try:
    found = len(list(client.test.full.find({})))
    if found != kept:
        failures.append(f"found {found} of {kept} documents")
except PyMongoError as e:
    failures.append(f"find of the full collection: {type(e).__name__}: {e}"[:300])
if pool.cleared:
    failures.append(f"the pool was cleared {pool.cleared} times")

for failure in failures[:5]:
    print("FAILED:", failure)
if not failures:
    print(f"ok: 100 finds at once over {pool.created} connections, {kept} documents kept and found")
