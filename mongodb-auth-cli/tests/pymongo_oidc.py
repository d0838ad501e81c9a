"""PyMongo logs in to `mongodb-auth serve` with MONGODB-OIDC.

Usage: pymongo_oidc.py HOST:PORT PRINCIPAL GOOD BAD_SIGNATURE WRONG_AUDIENCE EXPIRED
(the last four are files holding one token each). Prints one line per check and exits non-zero
if any check fails.
"""

import os
import sys

from pymongo import MongoClient
from pymongo.auth_oidc import OIDCCallback, OIDCCallbackResult
from pymongo.errors import OperationFailure

address, principal, good, bad_signature, wrong_audience, expired = sys.argv[1:7]
failures = []


def read(path):
    with open(path) as f:
        return f.read().strip()


class FileCallback(OIDCCallback):
    def __init__(self, path):
        self.path = path
        self.calls = 0
        self.contexts = []

    def fetch(self, context):
        self.calls += 1
        self.contexts.append(context)
        return OIDCCallbackResult(access_token=read(self.path))


def client(**kwargs):
    return MongoClient(
        f"mongodb://{address}/?authMechanism=MONGODB-OIDC",
        retryReads=False,
        serverSelectionTimeoutMS=5000,
        **kwargs,
    )


def check(name, ok, detail=""):
    print(f"{'ok' if ok else 'FAILED'}: {name}{': ' + detail if detail else ''}")
    if not ok:
        failures.append(name)


def users(c):
    status = c.admin.command("connectionStatus")
    return [(u["user"], u["db"]) for u in status["authInfo"]["authenticatedUsers"]]


# A custom machine callback (OIDC_CALLBACK).
callback = FileCallback(good)
with client(authMechanismProperties={"OIDC_CALLBACK": callback}) as c:
    found = c.test.coll.find_one()
    c.test.coll.insert_one({"x": 1})
    kept = c.test.coll.find_one()
    check("OIDC_CALLBACK: find and insert", found is None and kept is not None and kept["x"] == 1,
          str(kept))
    check("OIDC_CALLBACK: authenticated as the token's principal, under the provider's prefix",
          users(c) == [("oidc/" + principal, "$external")], str(users(c)))
    check("OIDC_CALLBACK: called once, with version 1",
          callback.calls == 1 and callback.contexts[0].version == 1,
          f"{callback.calls} calls")

# The built-in test environment (OIDC_TOKEN_FILE).
os.environ["OIDC_TOKEN_FILE"] = good
with MongoClient(
    f"mongodb://{address}/?authMechanism=MONGODB-OIDC"
    "&authMechanismProperties=ENVIRONMENT:test",
    retryReads=False,
    serverSelectionTimeoutMS=5000,
) as c:
    c.test.coll.find_one()
    check("ENVIRONMENT:test: authenticated", users(c) == [("oidc/" + principal, "$external")], str(users(c)))

# Refused tokens: each gets AuthenticationFailed (18).
for name, path in [
    ("a token with a wrong signature", bad_signature),
    ("a token for another audience", wrong_audience),
    ("an expired token", expired),
]:
    with client(authMechanismProperties={"OIDC_CALLBACK": FileCallback(path)}) as c:
        try:
            c.test.coll.find_one()
            check(f"{name} is refused", False, "the server accepted it")
        except OperationFailure as e:
            check(f"{name} is refused with 18", e.code == 18, f"code {e.code}: {e}")

sys.exit(1 if failures else 0)
