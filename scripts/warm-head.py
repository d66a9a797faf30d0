"""A warm standby's head (docs/design.md, decision 32).

    python warm-head.py RAY_SCRIPT ARG...

Run by a standby's keeper, in the head's process group, with the keeper's
fencing deadline and parent-death signal, like a head. It imports Ray's CLI
(what a cold `ray start` spends most of its first second on) and then waits,
touching no cluster state and listening on no port, for one line on its
stdin (a pipe only the orchestrator holds):

    {"env": {"NAME": "value", ...}}   the go: set these (the term's), then
                                      run `RAY_SCRIPT ARG...` here, as Ray's
                                      own console script would
    EOF, or anything else             exit 0 without running anything

RAY_SCRIPT is the `ray` console script the cold head would run (its
directory goes first on sys.path, as it would for that script).

One read is done faster than Ray does it (docs/design.md, decision 33): a
head with external Redis asks Redis for the cluster's persisted session name
through `_raylet.get_session_key_from_storage`, which always runs its event
loop for a full second, found or not. At the go (never ahead of it, so the
name cannot be stale), this process reads the same field of the same hash
itself, in milliseconds, over TLS too (verified as Ray's hiredis verifies:
the chain against Ray's RAY_REDIS_CA_CERT / _CA_PATH or the system's CAs,
Ray's client certificate, RAY_REDIS_SERVER_NAME for SNI), within 0.5 s in all
and at most 4 KiB of reply. It uses what it
read only when it looks like a session name; when the field is absent or
anything fails (too slow, too big too), Ray's own read runs (its second),
and a line on stderr says why.
"""
import base64
import json
import os
import re
import socket
import ssl
import sys
import time

SESSION_NAME = re.compile(rb"session_[A-Za-z0-9_.-]+")
# The whole direct read (connect, TLS, AUTH, HGET) gets this long in all, not
# per step: a server that drips its reply a byte at a time must not cost more
# than Ray's own read (a fixed second), which then runs instead.
DIRECT_READ_TIMEOUT_S = 0.5
# The most a reply may announce or hold (a session name is under 100 bytes):
# a server announcing a huge bulk string, or a line with no end, falls back
# to Ray's read instead of growing this process.
MAX_REPLY_BYTES = 4096


def log(msg: str) -> None:
    sys.stderr.write(f"ray-head-ha warm head: {msg}\n")
    sys.stderr.flush()


def resp_command(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def time_left(deadline: float) -> float:
    """Seconds until `deadline` (time.monotonic()), or TimeoutError (an OSError) when it has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError(f"no answer within {DIRECT_READ_TIMEOUT_S * 1000:.0f} ms in all")
    return left


class Reply:
    """RESP2 replies from a socket: a simple string, an error, an integer, a bulk string or nil; each recv bounded by the read's deadline."""

    def __init__(self, sock: socket.socket, deadline: float):
        self.sock = sock
        self.deadline = deadline
        self.buf = b""

    def _receive(self) -> None:
        self.sock.settimeout(time_left(self.deadline))
        chunk = self.sock.recv(65536)
        if not chunk:
            raise OSError("Redis closed the connection")
        self.buf += chunk
        if len(self.buf) > MAX_REPLY_BYTES + 2:
            raise ValueError(f"the reply is over {MAX_REPLY_BYTES} bytes")

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._receive()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"-":
            raise ValueError(f"Redis answered {rest.decode(errors='replace')}")
        if kind in (b"+", b":"):
            return rest
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            if n > MAX_REPLY_BYTES:
                raise ValueError(f"the reply announces {n} bytes, over {MAX_REPLY_BYTES}")
            while len(self.buf) < n + 2:
                self._receive()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        raise ValueError(f"unexpected Redis reply {line[:40]!r}")


def ray_setting(config: dict, name: str, default: str) -> str:
    """A setting as RayConfig resolves it: the system config, then RAY_<name>, then Ray's default."""
    if name in config:
        return str(config[name])
    return os.environ.get(f"RAY_{name}", default)


def tls_context(config: dict):
    """What Ray's hiredis checks: the chain (Ray's CA file or directory, else the system's), no host name; Ray's client certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ca, ca_path = ray_setting(config, "REDIS_CA_CERT", ""), ray_setting(config, "REDIS_CA_PATH", "")
    if ca or ca_path:
        ctx.load_verify_locations(cafile=ca or None, capath=ca_path or None)
    else:
        ctx.load_default_certs()
    cert = ray_setting(config, "REDIS_CLIENT_CERT", "")
    if cert:
        ctx.load_cert_chain(cert, ray_setting(config, "REDIS_CLIENT_KEY", "") or None)
    return ctx


def read_session_key(host: str, port: int, username: str, password: str, use_ssl: bool, config_b64: str, key: bytes):
    """The field Ray's StoreClientInternalKV keeps `session`/`key` in: hash RAY<namespace>@KV, field @namespace_session:<key>."""
    config = json.loads(base64.b64decode(config_b64) or b"{}")
    if not isinstance(config, dict):
        raise ValueError("the system config is not a JSON object")
    hash_key = b"RAY" + ray_setting(config, "external_storage_namespace", "default").encode() + b"@KV"
    field = b"@namespace_session:" + key
    deadline = time.monotonic() + DIRECT_READ_TIMEOUT_S
    with socket.create_connection((host, port), timeout=time_left(deadline)) as raw:
        raw.settimeout(time_left(deadline))  # the TLS handshake runs under it
        sock = tls_context(config).wrap_socket(raw, server_hostname=ray_setting(config, "REDIS_SERVER_NAME", "") or host) if use_ssl else raw
        reply = Reply(sock, deadline)
        if password:
            auth = (b"AUTH", username.encode(), password.encode()) if username else (b"AUTH", password.encode())
            sock.settimeout(time_left(deadline))
            sock.sendall(resp_command(*auth))
            reply.read()
        sock.settimeout(time_left(deadline))
        sock.sendall(resp_command(b"HGET", hash_key, field))
        return reply.read()


def fast_session_key(ray_read):
    """get_session_key_from_storage's signature; the direct read first, Ray's own when that cannot answer."""

    def get(host, port, username, password, use_ssl, config, key):
        started = time.monotonic()
        try:
            value = read_session_key(str(host), int(port), username or "", password or "", bool(use_ssl), config, key)
        except (OSError, ValueError) as e:
            why = f"the direct read failed: {e}"
        else:
            if value is not None and SESSION_NAME.fullmatch(value):
                log(f"session name {value.decode()} read from Redis directly in {(time.monotonic() - started) * 1000:.0f} ms")
                return value
            why = "none stored yet" if value is None else f"the stored value {value[:40]!r} is not a session name"
        log(f"session name: Ray's own read (about 1 s): {why}")
        return ray_read(host, port, username, password, use_ssl, config, key)

    return get


def speed_up_session_read() -> None:
    try:
        import ray._private.node as node
    except ImportError as e:
        log(f"session name: Ray's own read: {e}")
        return
    ray_read = getattr(node, "get_session_key_from_storage", None)
    if ray_read is None:
        log("session name: Ray's own read: this Ray has no ray._private.node.get_session_key_from_storage")
        return
    node.get_session_key_from_storage = fast_session_key(ray_read)


def main() -> int:
    if len(sys.argv) < 2:
        sys.stderr.write("usage: warm-head.py RAY_SCRIPT ARG...\n")
        return 2
    ray_script = sys.argv[1]
    sys.path[0] = os.path.dirname(os.path.abspath(ray_script))
    from ray.scripts.scripts import main as ray_main

    line = sys.stdin.readline()
    try:
        go = json.loads(line) if line.endswith("\n") else None
    except ValueError:
        go = None
    env = go.get("env") if isinstance(go, dict) else None
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        return 0
    os.environ.update(env)
    # As a cold head: stdin is /dev/null from here on.
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.argv = [ray_script, *sys.argv[2:]]
    speed_up_session_read()
    return ray_main()


if __name__ == "__main__":
    sys.exit(main())
