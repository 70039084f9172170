#!/usr/bin/env python3
"""botocore's S3 Signature Version 4 signer, as the reference for Pier's (RegistryStorageS3's SigV4Signer).

Reads a JSON array of requests on stdin and prints, as a JSON array in the same order, what botocore makes of each:
the canonical request, the string to sign, the signature, and the Authorization header with the headers it added
(header signing, botocore.auth.S3SigV4Auth) or the presigned URL (query signing, botocore.auth.S3SigV4QueryAuth).
The clock is fixed to each request's "time" (seconds since 1970, UTC); nothing is sent anywhere.

A request: {"kind": "header"|"presign", "method", "scheme", "host", "port" (absent or null: the default), "path" (decoded, from "/"),
"query": [[name, value], ...] (decoded), "headers": [[name, value], ...], "payload": {"kind": "empty"|"unsigned"}
or {"kind": "body", "hex": "..."}, "accessKey", "secretKey", "token" (absent or null: none), "region", "time", "expires"}.

The object key's path is encoded with botocore.utils.percent_encode(path, safe="/~"), as botocore's serializer
encodes an S3 key, so that the path encoding is botocore's too. Exit status 3 when botocore is missing.
"""
import datetime
import json
import sys

try:
    import botocore
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
    import botocore.utils
except ImportError as error:  # the test command's venv must have it: say what is missing, loudly
    sys.stderr.write(f"botocore is not installed for {sys.executable} ({error}); scripts/test.sh pip-installs it\n")
    sys.exit(3)


class _Recording:
    """Keeps the canonical request and string to sign that botocore computes on the way."""

    def canonical_request(self, request):
        self.recorded_canonical_request = super().canonical_request(request)
        return self.recorded_canonical_request

    def string_to_sign(self, request, canonical_request):
        self.recorded_string_to_sign = super().string_to_sign(request, canonical_request)
        return self.recorded_string_to_sign

    def signature(self, string_to_sign, request):
        self.recorded_signature = super().signature(string_to_sign, request)
        return self.recorded_signature


class HeaderSigner(_Recording, botocore.auth.S3SigV4Auth):
    pass


class QuerySigner(_Recording, botocore.auth.S3SigV4QueryAuth):
    pass


class _S3Config:
    """Stands for a client config whose s3 section disables payload signing (botocore reads only this)."""

    s3 = {"payload_signing_enabled": False}


def sign(case):
    moment = datetime.datetime.fromtimestamp(case["time"], tz=datetime.timezone.utc).replace(tzinfo=None)
    botocore.auth.get_current_datetime = lambda remove_tzinfo=True: moment
    credentials = botocore.credentials.Credentials(case["accessKey"], case["secretKey"], case.get("token"))
    host = case["host"]
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    netloc = host if case.get("port") is None else f"{host}:{case['port']}"
    # The URL's authority as botocore writes the Host header (lower case, no default port), so that presigned URLs
    # compare whole.
    netloc = botocore.auth._host_from_url(f"{case['scheme']}://{netloc}/")
    url = f"{case['scheme']}://{netloc}{botocore.utils.percent_encode(case['path'], safe='/~')}"
    request = botocore.awsrequest.AWSRequest(method=case["method"], url=url)
    for name, value in case["headers"]:
        request.headers[name] = value  # HTTPHeaders appends: a repeated name keeps every value
    if case["kind"] == "presign":
        request.params = {name: value for name, value in case["query"]}
        signer = QuerySigner(credentials, "s3", case["region"], expires=case["expires"])
        signer.add_auth(request)
        return {
            "canonicalRequest": signer.recorded_canonical_request,
            "stringToSign": signer.recorded_string_to_sign,
            "signature": signer.recorded_signature,
            "url": request.url,
        }
    request.params = [(name, value) for name, value in case["query"]]
    payload = case.get("payload", {"kind": "empty"})
    if payload["kind"] == "body":
        request.data = bytes.fromhex(payload["hex"])
    elif payload["kind"] == "unsigned":
        request.context["client_config"] = _S3Config()
    signer = HeaderSigner(credentials, "s3", case["region"])
    signer.add_auth(request)
    return {
        "canonicalRequest": signer.recorded_canonical_request,
        "stringToSign": signer.recorded_string_to_sign,
        "signature": signer.recorded_signature,
        "authorization": request.headers["Authorization"],
        "amzHeaders": {
            name: request.headers.get(name)
            for name in ("X-Amz-Date", "X-Amz-Content-SHA256", "X-Amz-Security-Token")
            if request.headers.get(name) is not None
        },
    }


def main():
    cases = json.load(sys.stdin)
    json.dump({"botocore": botocore.__version__, "results": [sign(case) for case in cases]}, sys.stdout)


if __name__ == "__main__":
    main()
