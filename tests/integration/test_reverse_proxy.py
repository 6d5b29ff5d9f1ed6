"""The production deployment behind nginx (deploy/nginx/ledger.conf): slow clients cost nginx
a connection, never a gunicorn worker.

gunicorn's sync workers serve one connection each. Two clients that declare a body and then
send it slowly pin both workers, and `/health` waits behind them; nginx reads each request
in full before gunicorn sees it, so `/health` answers at once and the slow clients get
nginx's 408. Both are shown here on loopback, with the repository's own config, Debian's
nginx, gunicorn with production settings and a throwaway SQLite ledger.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "nginx" / "ledger.conf"
HOST = "ledger.example.com"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
# The config's 10 s between two reads of a body, shortened so the test waits less.
BODY_TIMEOUT_S = 2

pytestmark = pytest.mark.skipif(
    NGINX is None and os.environ.get("LEDGER_REQUIRE_NGINX") != "1",
    reason="nginx is not installed (Debian: apt-get install nginx-light)",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Endpoint:
    port: int
    tls: bool

    def connect(self, timeout: float) -> socket.socket:
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        if not self.tls:
            return raw
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the test's own self-signed certificate
        return context.wrap_socket(raw, server_hostname=HOST)


def request_head(method: str, path: str, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", "X-Forwarded-Proto: https"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(conn: socket.socket) -> tuple[int, dict[str, str], bytes]:
    answer = http.client.HTTPResponse(conn)  # type: ignore[arg-type]
    answer.begin()
    headers = {name.lower(): value for name, value in answer.getheaders()}
    return answer.status, headers, answer.read()


def health(endpoint: Endpoint, timeout: float) -> int:
    """The status of `GET /api/v1/health`; raises TimeoutError if none arrives in time."""
    with endpoint.connect(timeout) as conn:
        conn.sendall(request_head("GET", "/api/v1/health", Connection="close"))
        status, _, _ = read_response(conn)
        return status


@contextmanager
def slow_client(endpoint: Endpoint) -> Iterator[socket.socket]:
    """A write that promises 1,000 bytes of body and sends 10."""
    conn = endpoint.connect(timeout=30)
    try:
        conn.sendall(
            request_head(
                "POST",
                "/api/v1/parties",
                Content_Type="application/json",
                Content_Length="1000",
                Authorization="Bearer lk_never_checked",
            )
            + b'{"id": "ac'
        )
        yield conn
    finally:
        conn.close()


def self_signed(directory: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True)
    (directory / "fullchain.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (directory / "privkey.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def wait_until_healthy(endpoint: Endpoint, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"exited with {process.returncode}:\n{log.read_text()}")
        try:
            if health(endpoint, timeout=2) == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"no healthy answer within 60 s:\n{log.read_text()}")


@contextmanager
def started(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@dataclass(frozen=True)
class Deployment:
    gunicorn: Endpoint
    nginx: Endpoint
    logs: Path


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("proxy")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "LEDGER_")) and k != "DATABASE_URL"
    }
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        DATABASE_URL=f"sqlite:///{tmp / 'ledger.sqlite3'}",
        DJANGO_SETTINGS_MODULE="contracts.production",
        DJANGO_SECRET_KEY="proxy-test-" + "x" * 50,
        DJANGO_ALLOWED_HOSTS=HOST,
        DJANGO_SECURE_PROXY_SSL_HEADER="1",
        LEDGER_VAR_DIR=str(tmp / "var"),
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    upstream, front = free_port(), free_port()
    self_signed(tmp / "etc" / "tls")
    server_block = (
        CONFIG.read_text()
        .replace("127.0.0.1:8000", f"127.0.0.1:{upstream}")
        .replace("listen 443 ssl;", f"listen 127.0.0.1:{front} ssl;")
        .replace("/etc/ledger", str(tmp / "etc"))
        .replace("client_body_timeout 10s;", f"client_body_timeout {BODY_TIMEOUT_S}s;")
    )
    assert f"client_body_timeout {BODY_TIMEOUT_S}s;" in server_block
    (tmp / "ledger.conf").write_text(server_block)
    (tmp / "nginx.conf").write_text(
        f"daemon off;\nworker_processes 1;\npid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\n"
        "events { worker_connections 64; }\n"
        "http {\n"
        f"  access_log {tmp}/access.log;\n"
        + "".join(
            f"  {kind}_temp_path {tmp}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + f"  include {tmp}/ledger.conf;\n}}\n"
    )
    gunicorn = [
        *(sys.executable, "-m", "gunicorn", "contracts.wsgi:application"),
        *("--workers", "2", "--bind", f"127.0.0.1:{upstream}", "--timeout", "30"),
        "--access-logfile=-",
    ]
    assert NGINX is not None
    with ExitStack() as stack:
        app = stack.enter_context(started(gunicorn, env, tmp / "gunicorn.log"))
        wait_until_healthy(Endpoint(upstream, tls=False), app, tmp / "gunicorn.log")
        proxy = stack.enter_context(
            started([NGINX, "-p", str(tmp), "-c", str(tmp / "nginx.conf")], env, tmp / "nginx.log")
        )
        wait_until_healthy(Endpoint(front, tls=True), proxy, tmp / "error.log")
        yield Deployment(Endpoint(upstream, tls=False), Endpoint(front, tls=True), tmp)


def test_the_config_is_valid_for_debians_nginx(tmp_path: Path) -> None:
    assert NGINX is not None
    main = tmp_path / "nginx.conf"
    self_signed(tmp_path / "etc" / "tls")
    (tmp_path / "ledger.conf").write_text(
        CONFIG.read_text().replace("/etc/ledger", str(tmp_path / "etc"))
    )
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{ include {tmp_path}/ledger.conf; }}\n"
    )
    checked = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-c", str(main)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr


def test_without_the_proxy_two_slow_clients_hold_both_workers(deployment: Deployment) -> None:
    """The defect the proxy exists for, shown on the same gunicorn: with both sync workers
    waiting for bodies, /health gets no answer."""
    with slow_client(deployment.gunicorn) as first, slow_client(deployment.gunicorn) as second:
        time.sleep(0.5)  # both accepted by a worker each
        with pytest.raises(TimeoutError):
            health(deployment.gunicorn, timeout=3)
        # A body that never arrives in full is a 408 from the service itself, not a 500.
        for stalled in (first, second):
            stalled.shutdown(socket.SHUT_WR)
            status, headers, body = read_response(stalled)
            assert status == 408
            assert headers["content-type"] == "application/problem+json"
            assert json.loads(body)["detail"] == "the request body did not arrive in full"
    assert health(deployment.gunicorn, timeout=10) == 200


def test_behind_nginx_slow_clients_do_not_block_health(deployment: Deployment) -> None:
    reached_gunicorn = (deployment.logs / "gunicorn.log").read_text().count("POST /api/v1/parties")
    with slow_client(deployment.nginx) as first, slow_client(deployment.nginx) as second:
        time.sleep(0.5)
        for _ in range(5):
            assert health(deployment.nginx, timeout=3) == 200
        # After client_body_timeout nginx ends each request with a 408 in its log and
        # closes the connection without an answer: the client stopped sending, and nginx
        # does not wait on it to read either. gunicorn never saw these requests.
        for stalled in (first, second):
            assert closed_without_answer(stalled)
    access = (deployment.logs / "access.log").read_text()
    assert access.count('"POST /api/v1/parties HTTP/1.1" 408') == 2
    gunicorn_log = (deployment.logs / "gunicorn.log").read_text()
    assert gunicorn_log.count("POST /api/v1/parties") == reached_gunicorn


def closed_without_answer(conn: socket.socket) -> bool:
    try:
        return conn.recv(65536) == b""
    except ssl.SSLError:  # closed without TLS's close_notify
        return True
