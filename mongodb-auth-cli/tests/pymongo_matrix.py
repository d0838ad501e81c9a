"""PyMongo against `mongodb-auth serve`: the auth spec's test plan, steps 2 to 4, and
load-balanced mode.

Usage: python pymongo_matrix.py HOST:PORT
Prints one line per case and exits non-zero if any case fails. The serve process logs which
mechanism each login used; the Rust side of the test checks that log.
"""

import sys
from urllib.parse import quote_plus

from pymongo import MongoClient
from pymongo.errors import OperationFailure

ADDRESS = sys.argv[1]
HOST, PORT = ADDRESS.rsplit(":", 1)
COMMON = dict(directConnection=True, serverSelectionTimeoutMS=5000, connectTimeoutMS=5000, appname="pymongo-matrix")
failures = []


def status(client):
    reply = client.admin.command("connectionStatus")
    return [(u["user"], u["db"]) for u in reply["authInfo"]["authenticatedUsers"]]


def expect_login(name, user, db="admin", uri=None, **kwargs):
    # An option given as None here is one of COMMON's left out.
    options = {key: value for key, value in {**COMMON, **kwargs}.items() if value is not None}
    client = MongoClient(uri, **options) if uri else MongoClient(HOST, int(PORT), **options)
    try:
        got = status(client)
        if got != [(user, db)]:
            raise AssertionError(f"connectionStatus says {got}, expected {[(user, db)]}")
        client.admin.command("ping")
        print(f"ok   {name}")
    except Exception as e:  # noqa: BLE001 - every failure is reported
        failures.append(name)
        print(f"FAIL {name}: {type(e).__name__}: {e}")
    finally:
        client.close()


def expect_refusal(name, **kwargs):
    client = MongoClient(HOST, int(PORT), **COMMON, **kwargs)
    try:
        status(client)
        failures.append(name)
        print(f"FAIL {name}: the login was accepted")
    except OperationFailure as e:
        if e.code == 18:
            print(f"ok   {name} (OperationFailure code 18)")
        else:
            failures.append(name)
            print(f"FAIL {name}: code {e.code}: {e}")
    except Exception as e:  # noqa: BLE001
        failures.append(name)
        print(f"FAIL {name}: {type(e).__name__}: {e}")
    finally:
        client.close()


# Step 2: each user with each of its mechanisms, and with negotiation.
expect_login("both SCRAM-SHA-1", "both", username="both", password="pencil", authMechanism="SCRAM-SHA-1")
expect_login("both SCRAM-SHA-256", "both", username="both", password="pencil", authMechanism="SCRAM-SHA-256")
expect_login("both negotiated", "both", username="both", password="pencil")
expect_login("sha1 SCRAM-SHA-1", "sha1", username="sha1", password="sha1pw", authMechanism="SCRAM-SHA-1")
expect_login("sha1 negotiated", "sha1", username="sha1", password="sha1pw")
expect_login("sha256 SCRAM-SHA-256", "sha256", username="sha256", password="sha256pw", authMechanism="SCRAM-SHA-256")
expect_login("sha256 negotiated", "sha256", username="sha256", password="sha256pw")
expect_login("app database", "appuser", db="app", username="appuser", password="apppw", authSource="app")

# Step 3: a mechanism the user lacks, an unknown user, a wrong password.
expect_refusal("sha1 asks for SCRAM-SHA-256", username="sha1", password="sha1pw", authMechanism="SCRAM-SHA-256")
expect_refusal("sha256 asks for SCRAM-SHA-1", username="sha256", password="sha256pw", authMechanism="SCRAM-SHA-1")
expect_refusal("unknown user negotiated", username="nobody", password="pencil")
expect_refusal("wrong password negotiated", username="both", password="wrong")
expect_refusal("wrong password SCRAM-SHA-1", username="both", password="wrong", authMechanism="SCRAM-SHA-1")

# Step 4: SASLprep, in code and in the URI.
for user, password in [("IX", "IX"), ("IX", "I\u00adX"), ("\u2168", "IV"), ("\u2168", "I\u00adV")]:
    label = f"SASLprep {user.encode('unicode_escape').decode()}/{password.encode('unicode_escape').decode()}"
    expect_login(label + " in code", user, username=user, password=password)
    expect_login(label + " in code, SCRAM-SHA-256", user, username=user, password=password, authMechanism="SCRAM-SHA-256")
    uri = f"mongodb://{quote_plus(user)}:{quote_plus(password)}@{ADDRESS}/admin"
    expect_login(label + " in the URI", user, uri=uri)
    expect_login(label + " in the URI, SCRAM-SHA-256", user, uri=uri + "?authMechanism=SCRAM-SHA-256")

# The load balancer spec: in load-balanced mode PyMongo says `loadBalanced: true` in hello and
# requires the reply's `serviceId` (a direct connection may not be load balanced).
balanced = f"mongodb://both:pencil@{ADDRESS}/admin?loadBalanced=true"
expect_login("load balanced", "both", uri=balanced, directConnection=None)

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
