"""Raw-socket HTTP/1.1 exchanges: send arbitrary bytes, read back whatever the server answers (or not)."""

import select
import socket
import struct
import time


def build(method, target, headers=(), body=b"", content_length=True, version=b"HTTP/1.1", host=True, close=True):
    """Request bytes. Every argument may be bytes or str (str is UTF-8 encoded)."""
    def b(x):
        return x if isinstance(x, bytes) else str(x).encode("utf-8", "surrogateescape")
    lines = [b(method) + b" " + b(target) + b" " + b(version)]
    if host:
        lines.append(b"Host: 127.0.0.1")
    names = set()
    for k, v in headers:
        names.add(b(k).lower())
        lines.append(b(k) + b": " + b(v))
    if close and b"connection" not in names:
        lines.append(b"Connection: close")
    if content_length and body is not None and b"content-length" not in names and b"transfer-encoding" not in names \
            and (body or method not in ("GET", "HEAD", b"GET", b"HEAD")):
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


class Outcome:
    """What came back: `kind` is response / timeout (no answer, connection still open) / closed (EOF without a
    status line) / reset / refused (nothing listens)."""

    def __init__(self, kind, status=None, head=b"", body=b"", elapsed=0.0, sent_all=True, error=None):
        self.kind = kind
        self.status = status
        self.head = head
        self.body = body
        self.elapsed = elapsed
        self.sent_all = sent_all
        self.error = error

    def header(self, name):
        for line in self.head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == name.lower().encode():
                return v.strip().decode("latin-1")
        return None

    def describe(self):
        if self.kind == "response":
            first = self.head.split(b"\r\n", 1)[0].decode("latin-1", "replace")
            return "%s %s" % (first, self.body[:160].decode("utf-8", "replace").strip())
        return self.kind + (" (%s)" % self.error if self.error else "") + ("" if self.sent_all else " [request not fully sent]")


def _parse_head(buf):
    """(status, head, rest) for the first non-1xx response in buf, or None if incomplete."""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head, rest = buf[:end], buf[end + 4:]
        try:
            status = int(head.split(b" ", 2)[1])
        except (IndexError, ValueError):
            return (-1, head, rest)
        if 100 <= status < 200 and status != 101:
            buf = rest
            continue
        return (status, head, rest)


def exchange(host, port, data, half_close=False, timeout=10.0, head_request=False, body_limit=65536, connect_timeout=5.0,
             read_to_close=False):
    """Send `data` (bytes) and read one response. Sends and reads interleaved, so an early answer (413 to a huge
    upload) is seen even if the server stops reading.

    With `read_to_close`, `data` holds pipelined requests, the last asking `Connection: close`: read until the server
    closes, and return the last response. A connection still open at the deadline is a "timeout"."""
    t0 = time.time()
    try:
        s = socket.create_connection((host, port), timeout=connect_timeout)
    except ConnectionRefusedError as e:
        return Outcome("refused", error="connection refused", elapsed=time.time() - t0)
    except OSError as e:
        return Outcome("refused", error=repr(e), elapsed=time.time() - t0)
    s.setblocking(False)
    view = memoryview(data)
    sent = 0
    buf = b""
    parsed = None
    deadline = t0 + timeout
    eof = False
    error = None
    shut = False
    try:
        while True:
            now = time.time()
            if now >= deadline:
                break
            want_write = sent < len(data)
            if not want_write and half_close and not shut:
                try:
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                shut = True
            r, w, _ = select.select([s], [s] if want_write else [], [], min(0.5, deadline - now))
            if r:
                try:
                    chunk = s.recv(262144)
                except ConnectionResetError:
                    error = "reset"
                    break
                except OSError as e:
                    error = repr(e)
                    break
                if not chunk:
                    eof = True
                    break
                buf += chunk
                if parsed is None:
                    parsed = _parse_head(buf)
                    if parsed is not None:
                        parsed = (parsed[0], parsed[1], len(buf) - len(parsed[2]))
                if parsed is not None:
                    status, head, offset = parsed
                    rest = buf[offset:]
                    if not read_to_close and _body_complete(status, head, rest, head_request, body_limit):
                        break
                    # After the head, give the body only a short while.
                    deadline = min(deadline, time.time() + 2.0)
            if w and want_write:
                try:
                    sent += s.send(view[sent:sent + 262144])
                except (BrokenPipeError, ConnectionResetError) as e:
                    error = "reset while sending"
                    # keep reading: the answer may already be on its way
                    data = data[:sent]
                    view = memoryview(data)
                except BlockingIOError:
                    pass
    finally:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        s.close()
    elapsed = time.time() - t0
    sent_all = sent >= len(data) and error != "reset while sending"
    if read_to_close:
        if not eof and error is None:
            return Outcome("timeout", elapsed=elapsed, sent_all=sent_all,
                           error="still open after %d bytes: %r" % (len(buf), buf[-120:]))
        last = buf.rfind(b"HTTP/1.")
        if last > 0:
            buf = buf[last:]
            parsed = _parse_head(buf)
            if parsed is not None:
                parsed = (parsed[0], parsed[1], len(buf) - len(parsed[2]))
    if parsed is None and buf:
        parsed = _parse_head(buf + b"\r\n\r\n") if buf.startswith(b"HTTP/") else None
        if parsed is not None:
            parsed = (parsed[0], parsed[1], len(buf) + 4 - len(parsed[2]))
    if parsed is not None:
        status, head, offset = parsed
        rest = buf[offset:]
        return Outcome("response", status, head, rest[:body_limit], elapsed, sent_all, error)
    if buf:
        return Outcome("garbage", None, buf[:200], b"", elapsed, sent_all, error)
    if error and error.startswith("reset"):
        return Outcome("reset", elapsed=elapsed, sent_all=sent_all, error=error)
    if eof:
        return Outcome("closed", elapsed=elapsed, sent_all=sent_all)
    return Outcome("timeout", elapsed=elapsed, sent_all=sent_all, error=error)


def _body_complete(status, head, rest, head_request, limit):
    if head_request or status in (204, 304) or status < 200:
        return True
    lower = head.lower()
    idx = lower.find(b"\r\ncontent-length:")
    if idx >= 0:
        try:
            n = int(lower[idx + 17:].split(b"\r\n", 1)[0].strip())
        except ValueError:
            return True
        return len(rest) >= min(n, limit)
    if b"\r\ntransfer-encoding:" in lower:
        return rest.endswith(b"0\r\n\r\n") or len(rest) >= limit
    return len(rest) >= limit
