"""One TLS case for PyMongo: log in to HOST:PORT as alice over TLS with the given TLS options and
print "ok", or "refused: <why>". The trust store is whatever the environment says
(SSL_CERT_FILE), as OpenSSL reads it.

Usage: python pymongo_tls_trust.py HOST:PORT [tlsCAFile=PATH] [tlsCRLFile=PATH]
"""

import sys

from pymongo import MongoClient
from pymongo.errors import PyMongoError

HOST, PORT = sys.argv[1].rsplit(":", 1)
OPTIONS = dict(argument.split("=", 1) for argument in sys.argv[2:])

client = MongoClient(
    HOST,
    int(PORT),
    tls=True,
    username="alice",
    password="pencil",
    authMechanism="SCRAM-SHA-256",
    directConnection=True,
    serverSelectionTimeoutMS=3000,
    connectTimeoutMS=3000,
    **OPTIONS,
)
try:
    client.admin.command("ping")
    print("ok")
except PyMongoError as error:
    print(f"refused: {error}".splitlines()[0])
finally:
    client.close()
