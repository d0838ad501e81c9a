"""What PyMongo makes of connection strings, for `pymongo.rs`'s comparison with the crate.

Reads a JSON list of [mode, uri] from stdin and prints a JSON list of results, one per URI:
{"ok": bool, "error": str} and, when accepted in mode "client", the credential and whether TLS
is on. Mode "client" is what `MongoClient(uri, connect=False)` builds (what a user gets; it
drops invalid option values with a warning); mode "strict" is whether
`parse_uri(uri, validate=True, warn=False)` accepts the string.
"""
import json
import sys
import warnings

from pymongo import MongoClient
from pymongo.uri_parser import parse_uri


def properties(credential):
    found = credential.mechanism_properties
    kind = type(found).__name__
    if kind == "GSSAPIProperties":
        named = {"SERVICE_NAME": found.service_name}
        if found.canonicalize_host_name not in (False, "none"):
            named["CANONICALIZE_HOST_NAME"] = str(found.canonicalize_host_name).lower()
        if found.service_realm is not None:
            named["SERVICE_REALM"] = found.service_realm
        if found.service_host is not None:
            named["SERVICE_HOST"] = found.service_host
        return named
    if kind == "_AWSProperties":
        token = found.aws_session_token
        return {} if token is None else {"AWS_SESSION_TOKEN": token}
    if kind == "_OIDCProperties":
        named = {}
        if found.environment is not None:
            named["ENVIRONMENT"] = found.environment
        if found.token_resource:
            named["TOKEN_RESOURCE"] = found.token_resource
        return named
    return {}


def client(uri):
    made = MongoClient(uri, connect=False)
    try:
        options = made.options.pool_options
        credential = options._credentials
        result = {"ok": True, "tls": options._ssl_context is not None, "credential": None}
        if credential is not None:
            result["credential"] = {
                "username": credential.username,
                "password": credential.password,
                "source": credential.source,
                "mechanism": None if credential.mechanism == "DEFAULT" else credential.mechanism,
                "properties": properties(credential),
            }
        return result
    finally:
        made.close()


def strict(uri):
    parse_uri(uri, validate=True, warn=False)
    return {"ok": True}


results = []
for mode, uri in json.load(sys.stdin):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            results.append(client(uri) if mode == "client" else strict(uri))
        except Exception as error:  # noqa: BLE001 - any refusal is the answer
            results.append({"ok": False, "error": f"{type(error).__name__}: {error}"})
print(json.dumps(results))
