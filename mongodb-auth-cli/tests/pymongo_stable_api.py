"""PyMongo declares the stable API to `mongodb-auth serve --require-api-version`.

Usage: python pymongo_stable_api.py HOST:PORT
Prints one line per check ("ok: ..." or "FAILED: ...") and exits non-zero if any fails.

The server refuses every command that declares no API version, so a client that logs in and
runs commands has sent `apiVersion` with each of them, its handshake and SCRAM login included;
with `strict`, a command outside version 1 is refused (323), and so would the legacy `isMaster`
be, so the handshake was `hello`.
"""

import sys

from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError
from pymongo.server_api import ServerApi

ADDRESS = sys.argv[1]
URI = f"mongodb://alice:pencil@{ADDRESS}/?authSource=admin&directConnection=true"
failures = []


def check(name, ok, detail=""):
    print(f"{'ok' if ok else 'FAILED'}: {name}" + (f": {detail}" if detail != "" else ""))
    if not ok:
        failures.append(name)


def client(**kwargs):
    return MongoClient(URI, serverSelectionTimeoutMS=3000, connectTimeoutMS=3000, **kwargs)


with client(server_api=ServerApi("1", strict=True, deprecation_errors=True)) as strict:
    try:
        strict.admin.command("ping")
        collection = strict.stable.things
        collection.drop()
        collection.insert_many([{"n": n} for n in range(5)])
        found = sorted(doc["n"] for doc in collection.find({}, {"_id": 0}))
        check("a strict client logs in, inserts and finds", found == list(range(5)), found)
    except PyMongoError as e:
        check("a strict client logs in, inserts and finds", False, repr(e))
    try:
        strict.admin.command("connectionStatus")
        check("strict refuses a command outside version 1", False, "connectionStatus ran")
    except OperationFailure as e:
        check("strict refuses a command outside version 1", e.code == 323, e.code)

with client(server_api=ServerApi("1")) as declared:
    try:
        status = declared.admin.command("connectionStatus")
        users = [(u["user"], u["db"]) for u in status["authInfo"]["authenticatedUsers"]]
        check("a client that declares version 1 is alice", users == [("alice", "admin")], users)
    except PyMongoError as e:
        check("a client that declares version 1 is alice", False, repr(e))

with client() as undeclared:
    try:
        undeclared.admin.command("ping")
        check("a client that declares nothing is refused", False, "ping ran")
    except PyMongoError as e:
        check("a client that declares nothing is refused", "498870" in str(e), repr(e)[:300])

sys.exit(1 if failures else 0)
