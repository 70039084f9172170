#!/usr/bin/env python3
"""A Docker-Hub-like token server for Pier's end-to-end mirror tests (Python standard library + the openssl CLI).

It issues RS256 JWTs that CNCF Distribution 2.8.2 accepts with `auth.token` (realm = this server's /token,
rootcertbundle = DIR/cert.pem): the JWT header carries the signing certificate in `x5c`, and that self-signed
certificate is the whole root bundle. Policy, like Docker Hub:
  - with right basic credentials (--user NAME:PASSWORD), pull and push on every repository;
  - anonymously, pull on every repository except those under `private/`, and never push;
  - wrong basic credentials are refused with 401 whatever the scope.
Every request to /token is logged to stdout as one JSON line: {"event": "token", "scope": ..., "user": ..., "status": ...}.

  token-server.py --dir DIR --addr 127.0.0.1:PORT --issuer ISS --service SVC --user u:p
The server writes DIR/key.pem and DIR/cert.pem before it listens; GET /health answers 200 once it does.
"""
import argparse
import base64
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--addr", required=True)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--user", action="append", default=[], help="NAME:PASSWORD (repeatable)")
    parser.add_argument("--private-prefix", default="private/")
    arguments = parser.parse_args()

    key = os.path.join(arguments.dir, "key.pem")
    cert = os.path.join(arguments.dir, "cert.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
         "-days", "2", "-subj", "/CN=pier-e2e-token-issuer"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], check=True, stdout=subprocess.PIPE).stdout
    x5c = [base64.b64encode(der).decode()]
    users = dict(entry.split(":", 1) for entry in arguments.user)
    log_lock = threading.Lock()

    def sign(payload: bytes) -> bytes:
        return subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=payload, check=True, stdout=subprocess.PIPE).stdout

    def log(**fields) -> None:
        with log_lock:
            print(json.dumps(fields), flush=True)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # the JSON lines are the log
            pass

        def reply(self, status: int, body: dict, headers: dict = {}) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/health":
                return self.reply(200, {})
            if url.path != "/token":
                return self.reply(404, {"error": "not found"})
            query = urllib.parse.parse_qs(url.query)
            scopes = [s for value in query.get("scope", []) for s in value.split(" ") if s]
            service = query.get("service", [""])[0]
            user = ""
            header = self.headers.get("Authorization", "")
            if header.lower().startswith("basic "):
                try:
                    name, _, password = base64.b64decode(header[6:]).decode().partition(":")
                except Exception:
                    name, password = "", None
                if users.get(name) != password:
                    log(event="token", scope=" ".join(scopes), service=service, user=name, status=401,
                        agent=self.headers.get("User-Agent", ""))
                    return self.reply(401, {"details": "incorrect username or password"},
                                      {"WWW-Authenticate": 'Basic realm="pier-e2e-token"'})
                user = name
            access = []
            for scope in scopes:
                parts = scope.split(":")
                if len(parts) < 3 or parts[0] != "repository":
                    continue
                kind, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1].split(",")
                if user:
                    granted = [a for a in actions if a in ("pull", "push")]
                elif name.startswith(arguments.private_prefix):
                    granted = []
                else:
                    granted = [a for a in actions if a == "pull"]
                access.append({"type": kind, "name": name, "actions": granted})
            now = int(time.time())
            claims = {
                "iss": arguments.issuer, "sub": user, "aud": service, "exp": now + 300, "nbf": now - 10,
                "iat": now, "jti": b64url(os.urandom(12)), "access": access,
            }
            header_b64 = b64url(json.dumps({"typ": "JWT", "alg": "RS256", "x5c": x5c}).encode())
            signing_input = (header_b64 + "." + b64url(json.dumps(claims).encode())).encode()
            token = signing_input.decode() + "." + b64url(sign(signing_input))
            log(event="token", scope=" ".join(scopes), service=service, user=user, status=200,
                granted=access, agent=self.headers.get("User-Agent", ""))
            self.reply(200, {"token": token, "access_token": token, "expires_in": 300,
                             "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))})

    host, _, port = arguments.addr.rpartition(":")
    server = http.server.ThreadingHTTPServer((host, int(port)), Handler)
    log(event="listening", addr=arguments.addr, cert=cert, fingerprint=hashlib.sha256(der).hexdigest())
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
