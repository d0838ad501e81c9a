"""PyMongo sets fail points on `mongodb-auth serve --enable-test-commands` and sees them, logged in
with MONGODB-OIDC; and inserts three documents (a document sequence) and finds them.

Usage: pymongo_fail_points.py WITH_TEST_COMMANDS_ADDRESS WITHOUT_ADDRESS TOKEN_FILE
Prints one line per check ("ok: ..." or "FAILED: ...") and exits non-zero if any fails.
"""

import sys

from pymongo import MongoClient
from pymongo.auth_oidc import OIDCCallback, OIDCCallbackResult
from pymongo.errors import AutoReconnect, OperationFailure

with_address, without_address, token_file = sys.argv[1:4]
failures = []


def check(name, ok, detail=""):
    print(f"{'ok' if ok else 'FAILED'}: {name}{': ' + str(detail) if detail else ''}")
    if not ok:
        failures.append(name)


class Callback(OIDCCallback):
    def __init__(self):
        self.calls = 0

    def fetch(self, context):
        self.calls += 1
        with open(token_file) as f:
            return OIDCCallbackResult(access_token=f.read().strip())


def client(address, callback):
    return MongoClient(
        f"mongodb://{address}/?authMechanism=MONGODB-OIDC",
        authMechanismProperties={"OIDC_CALLBACK": callback},
        retryReads=False,
        retryWrites=False,
        serverSelectionTimeoutMS=5000,
        appname="pymongo-fail-points",
    )


def fail_point(c, mode, **data):
    c.admin.command("configureFailPoint", "failCommand", mode=mode, data=data)


def error_of(f):
    try:
        f()
        return None
    except Exception as e:  # noqa: BLE001 - the error is the verdict
        return e


callback = Callback()
c = client(with_address, callback)
things = c.test.things
things.drop()
things.insert_many([{"_id": i, "name": f"thing {i}"} for i in (1, 2, 3)])
found = sorted(d["_id"] for d in things.find({}))
check("insert_many of 3 (a document sequence), then find returns them", found == [1, 2, 3], found)

calls = callback.calls
fail_point(c, {"times": 1}, failCommands=["find"], errorCode=391)
found = [d["_id"] for d in things.find({})]
check("a find failing with 391 logs in again and succeeds", len(found) == 3, found)
check("the callback ran a second time", callback.calls == calls + 1, callback.calls - calls)

fail_point(c, {"times": 1}, failCommands=["find"], errorCode=2)
first = error_of(lambda: list(things.find({})))
second = error_of(lambda: list(things.find({})))
check("times: 1 fires once", isinstance(first, OperationFailure) and first.code == 2 and second is None,
      (first, second))

fail_point(c, {"times": 1}, failCommands=["find"], closeConnection=True)
closed = error_of(lambda: list(things.find({})))
after = error_of(lambda: list(things.find({})))
check("closeConnection closes the connection", isinstance(closed, AutoReconnect) and after is None,
      (closed, after))

fail_point(c, "alwaysOn", failCommands=["find"], errorCode=2)
one = error_of(lambda: list(things.find({})))
two = error_of(lambda: list(things.find({})))
c.admin.command("configureFailPoint", "failCommand", mode="off")
# The command the fail point held: off must clear it.
cleared = error_of(lambda: list(things.find({})))
fired = [isinstance(e, OperationFailure) and e.code == 2 for e in (one, two)]
check("alwaysOn fires until off, and off clears it", fired == [True, True] and cleared is None,
      (one, two, cleared))

other = client(without_address, Callback())
refused = error_of(lambda: fail_point(other, "alwaysOn", failCommands=["find"], errorCode=2))
check("without --enable-test-commands, configureFailPoint is CommandNotFound",
      isinstance(refused, OperationFailure) and refused.code == 59, refused)

c.close()
other.close()
print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
