"""PyMongo over TLS against `mongodb-auth serve`: SCRAM-SHA-256, and MONGODB-X509 with and without
a username, plus the refusals X.509 must give.

Usage: python pymongo_tls.py HOST:PORT CA_FILE CLIENT_PEM SUBJECT OTHER_CLIENT_PEM
Prints one line per case and "N failure(s)"; exits non-zero if any case fails.
"""

import sys

from pymongo import MongoClient
from pymongo.errors import OperationFailure

ADDRESS, CA, CLIENT, SUBJECT, STRANGER = sys.argv[1:6]
HOST, PORT = ADDRESS.rsplit(":", 1)
COMMON = dict(
    directConnection=True,
    serverSelectionTimeoutMS=5000,
    connectTimeoutMS=5000,
    tls=True,
    tlsCAFile=CA,
    appname="pymongo-tls",
)
failures = []


def status(client):
    reply = client.admin.command("connectionStatus")
    return [(u["user"], u["db"]) for u in reply["authInfo"]["authenticatedUsers"]]


def case(name, expected, **kwargs):
    """`expected` is the (user, db) list connectionStatus must show, or an error code."""
    client = MongoClient(HOST, int(PORT), **COMMON, **kwargs)
    try:
        got = status(client)
        if got != expected:
            raise AssertionError(f"connectionStatus says {got}, expected {expected}")
        print(f"ok   {name}")
    except OperationFailure as e:
        if e.code == expected:
            print(f"ok   {name} (OperationFailure code {e.code})")
        else:
            failures.append(name)
            print(f"FAIL {name}: code {e.code}: {e}")
    except Exception as e:  # noqa: BLE001 - every failure is reported
        failures.append(name)
        print(f"FAIL {name}: {type(e).__name__}: {e}")
    finally:
        client.close()


case(
    "SCRAM-SHA-256 over TLS",
    [("alice", "admin")],
    username="alice",
    password="pencil",
    authMechanism="SCRAM-SHA-256",
)
case(
    "MONGODB-X509 without a username",
    [(SUBJECT, "$external")],
    tlsCertificateKeyFile=CLIENT,
    authMechanism="MONGODB-X509",
)
case(
    "MONGODB-X509 with the username",
    [(SUBJECT, "$external")],
    tlsCertificateKeyFile=CLIENT,
    authMechanism="MONGODB-X509",
    username=SUBJECT,
)
case(
    "MONGODB-X509 with another username",
    18,
    tlsCertificateKeyFile=CLIENT,
    authMechanism="MONGODB-X509",
    username="CN=someone-else",
)
case(
    "MONGODB-X509 with a certificate of an unknown subject",
    18,
    tlsCertificateKeyFile=STRANGER,
    authMechanism="MONGODB-X509",
)

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
