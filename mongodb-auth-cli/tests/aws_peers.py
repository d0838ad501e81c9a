"""The Python side of the MONGODB-AWS peer tests.

  python aws_peers.py sign          JSON cases on stdin, one a line; prints, one a line, the
                                    {a, d[, t]} pymongo-auth-aws computes for each, its clock
                                    pinned to the case's epoch.
  python aws_peers.py boto3-chain   JSON cases on stdin, one a line ({"env": {...}, "profile":
                                    name or null}); prints, one a line, where boto3 finds
                                    credentials in exactly that environment: {"method",
                                    "access_key"}, or null.
  python aws_peers.py sts-endpoint  JSON cases on stdin, one a line ({"env": {...}}); prints, one
                                    a line, where boto3 sends the first STS request of resolving
                                    credentials in that environment: {"url", "region"} (the
                                    region the request is signed for), or {"error"}. No request
                                    leaves the process.
  python aws_peers.py split         JSON cases on stdin, one a line ({"line"}); prints, one a line,
                                    how botocore splits that credential_process line before
                                    running it: {"posix": shlex.split's words, "windows": its
                                    Windows splitter's}, each a list or {"error"}.
  python aws_peers.py config-profiles
                                    JSON cases on stdin, one a line ({"text"}); prints, one a
                                    line, the profiles botocore finds in that config file, each
                                    with its settings ({name: {key: value}}, values as written:
                                    no nested parsing), or {"error"}.
  python aws_peers.py moto-setup URL
                                    Against a moto server: an IAM user with an access key, a
                                    role the user may assume, and temporary credentials of that
                                    role; prints them as JSON, then turns moto's signature
                                    checking on for every later request.
"""

import base64
import datetime
import json
import sys
import urllib.request


def sign():
    import botocore.auth
    from pymongo_auth_aws import auth

    for line in sys.stdin:
        case = json.loads(line)
        pinned = datetime.datetime.fromtimestamp(case["epoch"], datetime.timezone.utc).replace(tzinfo=None)
        # botocore's SigV4 signer reads the time through this name.
        botocore.auth.get_current_datetime = lambda remove_tzinfo=True, at=pinned: at
        credential = auth.AwsCredential(
            case["access_key_id"], case["secret_access_key"], case.get("session_token")
        )
        nonce = base64.b64decode(case["server_nonce"])
        print(json.dumps(auth._aws_auth_header(credential, nonce, case["host"])), flush=True)


def boto3_chain():
    import os

    import boto3

    import botocore.credentials
    import botocore.tokens

    for line in sys.stdin:
        case = json.loads(line)
        os.environ.clear()
        os.environ.update(case["env"])
        # botocore fixes the SSO token cache directory when it is imported, under the HOME of
        # that moment: point it at this case's HOME, as a process started in it would see.
        cache = os.path.join(os.environ.get("HOME", ""), ".aws", "sso", "cache")
        botocore.credentials.SSOProvider._SSO_TOKEN_CACHE_DIR = cache
        botocore.tokens.SSOTokenProvider._SSO_TOKEN_CACHE_DIR = cache
        try:
            credentials = boto3.Session(profile_name=case.get("profile")).get_credentials()
            if credentials is None:
                print("null", flush=True)
            else:
                print(json.dumps({"method": credentials.method, "access_key": credentials.access_key}), flush=True)
        except Exception as error:  # noqa: BLE001 - an error is an answer too
            print(json.dumps({"error": type(error).__name__}), flush=True)


def sts_endpoint():
    import os

    import boto3

    class Sent(Exception):
        pass

    for line in sys.stdin:
        case = json.loads(line)
        os.environ.clear()
        os.environ.update(case["env"])
        seen = {}

        def stop(request, **_):
            authorization = request.headers.get("Authorization", b"")
            if isinstance(authorization, bytes):
                authorization = authorization.decode()
            # "AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/sts/aws4_request, ..."
            scope = authorization.split("Credential=", 1)[-1].split(",", 1)[0].split("/")
            seen.update(url=request.url, region=scope[2] if len(scope) > 2 else None)
            raise Sent()

        session = boto3.Session()
        session._session.register("before-send", stop)
        try:
            session.get_credentials().get_frozen_credentials()
            print(json.dumps({"error": "no request"}), flush=True)
        except Sent:
            print(json.dumps(seen), flush=True)
        except Exception as error:  # noqa: BLE001 - an error is an answer too
            print(json.dumps({"error": type(error).__name__}), flush=True)


def split():
    import shlex

    from botocore.compat import _windows_shell_split

    def words(split_line, line):
        try:
            return split_line(line)
        except ValueError as error:
            return {"error": str(error)}

    for line in sys.stdin:
        text = json.loads(line)["line"]
        print(json.dumps({"posix": words(shlex.split, text), "windows": words(_windows_shell_split, text)}), flush=True)


def config_profiles():
    import os
    import tempfile

    from botocore import configloader

    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "config")
        for line in sys.stdin:
            with open(path, "w", encoding="utf-8", newline="") as file:
                file.write(json.loads(line)["text"])
            try:
                parsed = configloader.raw_config_parse(path, parse_subsections=False)
                print(json.dumps(configloader.build_profile_map(parsed)["profiles"]), flush=True)
            except Exception as error:  # noqa: BLE001 - an error is an answer too
                print(json.dumps({"error": type(error).__name__}), flush=True)


def moto_setup(endpoint):
    import boto3

    def client(service, key="AKIAIOSFODNN7EXAMPLE", secret="setup", token=None):
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            aws_session_token=token,
        )

    iam = client("iam")
    user = iam.create_user(UserName="alice")["User"]
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    allow_assume = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
    iam.put_user_policy(UserName="alice", PolicyName="assume", PolicyDocument=json.dumps(allow_assume))
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": user["Arn"]}}],
    }
    role = iam.create_role(RoleName="dbrole", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    temporary = client("sts", key["AccessKeyId"], key["SecretAccessKey"]).assume_role(
        RoleArn=role["Arn"], RoleSessionName="session1"
    )["Credentials"]
    # From here on moto checks the signature of every request.
    request = urllib.request.Request(
        endpoint.rstrip("/") + "/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
    )
    urllib.request.urlopen(request).read()
    print(json.dumps({
        "user_arn": user["Arn"],
        "access_key_id": key["AccessKeyId"],
        "secret_access_key": key["SecretAccessKey"],
        "role_arn": role["Arn"],
        "temporary": {
            "access_key_id": temporary["AccessKeyId"],
            "secret_access_key": temporary["SecretAccessKey"],
            "session_token": temporary["SessionToken"],
        },
    }))


if __name__ == "__main__":
    if sys.argv[1] == "sign":
        sign()
    elif sys.argv[1] == "boto3-chain":
        boto3_chain()
    elif sys.argv[1] == "sts-endpoint":
        sts_endpoint()
    elif sys.argv[1] == "split":
        split()
    elif sys.argv[1] == "config-profiles":
        config_profiles()
    else:
        moto_setup(sys.argv[2])
