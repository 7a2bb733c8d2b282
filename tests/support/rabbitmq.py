"""Runs Debian's rabbitmq-server as a private local process configured exactly like a student node.

The server gets a temp dir, a unique node name, free ports (AMQP, management, Prometheus, Erlang
distribution) and its own epmd on a private port, so concurrent test runs never meet. It loads the
rabbitmq.conf, enabled_plugins and definitions.json rendered by vwclass.core.rabbitmq, and is ready
once every user of those definitions can log in over AMQP.

    with running_rabbitmq(credentials, tmp_path) as rabbitmq:   # plain context manager
        pika.BlockingConnection(rabbitmq.parameters("service"))

    rabbitmq = rabbitmq_fixture(scope="session")               # pytest fixture factory, in a module

Startup takes several seconds, so prefer a module or session scope and `purge()` between tests.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pika
import pika.exceptions
import pytest

from vwclass.core.rabbitmq import (
    QUEUE_MAX_BYTES,
    QUEUES,
    NodeCredentials,
    definitions_json,
    enabled_plugins,
    rabbitmq_conf,
)

# The Debian wrapper (/usr/sbin/rabbitmq-server) switches to the rabbitmq user and its fixed
# directories; the script it wraps honours our RABBITMQ_* environment instead.
SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
EPMD = shutil.which("epmd") or "/usr/bin/epmd"
START_TIMEOUT = 120.0
Scope = Literal["session", "package", "module", "class", "function"]


class RabbitMQStartError(RuntimeError):
    """The server did not come up; the message carries the end of its log and the log's path."""


def publish_and_round_trip(channel: pika.adapters.blocking_connection.BlockingChannel, exchange: str) -> None:
    """Publishes to exchange, then declares a server-named queue (which a plugin may do).

    A publish is not answered: a refusal reaches the client as a closed channel on its next round trip.
    """
    channel.basic_publish(exchange, "all", b"{}")
    channel.queue_declare("", exclusive=True)


def random_credentials() -> NodeCredentials:
    """Fresh per-user passwords, as the operator generates them for a student."""
    return NodeCredentials(
        admin=secrets.token_urlsafe(16),
        service=secrets.token_urlsafe(16),
        plugin=secrets.token_urlsafe(16),
    )


@dataclass
class RabbitMQ:
    """A running private server. `stop()` is idempotent and also stops its epmd."""

    host: str
    amqp_port: int
    management_port: int
    prometheus_port: int
    epmd_port: int
    node_name: str
    credentials: NodeCredentials
    workdir: Path
    log_path: Path
    _server: subprocess.Popen[bytes] = field(repr=False)
    _epmd: subprocess.Popen[bytes] = field(repr=False)

    def password(self, user: str) -> str:
        """The password of one of the node's users (admin, service, plugin)."""
        value: str = getattr(self.credentials, user)
        return value

    def parameters(self, user: str = "admin", **options: Any) -> pika.ConnectionParameters:
        """pika connection parameters logging in as `user` with its password."""
        return pika.ConnectionParameters(
            host=self.host,
            port=self.amqp_port,
            credentials=pika.PlainCredentials(user, self.password(user)),
            **options,
        )

    @contextmanager
    def channel(self, user: str = "admin") -> Iterator[pika.adapters.blocking_connection.BlockingChannel]:
        """A short-lived blocking channel as `user`."""
        connection = pika.BlockingConnection(self.parameters(user))
        try:
            yield connection.channel()
        finally:
            with suppress(Exception):
                connection.close()

    def purge(self, *queues: str) -> None:
        """Empties the given queues (default: the node's durable queues) between tests."""
        with self.channel() as channel:
            for queue in queues or QUEUES:
                channel.queue_purge(queue)

    def queue_depth(self, queue: str) -> int:
        """Messages ready in `queue` (not counting ones delivered but unacknowledged)."""
        with self.channel() as channel:
            return int(channel.queue_declare(queue, passive=True).method.message_count)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Stops the server (SIGTERM, then SIGKILL of its whole process group) and its epmd."""
        _stop_process_group(self._server, grace=30.0)
        _stop_process_group(self._epmd, grace=5.0)


def start_rabbitmq(
    credentials: NodeCredentials | None,
    workdir: Path,
    *,
    timeout: float = START_TIMEOUT,
    queue_max_bytes: int = QUEUE_MAX_BYTES,
) -> RabbitMQ:
    """Starts a private server under `workdir` (created if needed) and waits until it accepts logins.

    A port taken by someone else between its choice and the server's bind is tried again on others."""
    for attempt in range(3):
        try:
            return _start_once(credentials, workdir, timeout, queue_max_bytes)
        except RabbitMQStartError as error:
            if "eaddrinuse" not in str(error) or attempt == 2:
                raise
    raise AssertionError("unreachable")


def _start_once(credentials: NodeCredentials | None, workdir: Path, timeout: float, queue_max_bytes: int) -> RabbitMQ:
    if not SERVER.exists():
        raise RabbitMQStartError(f"{SERVER} not found: install Debian's rabbitmq-server package")
    credentials = credentials or random_credentials()
    workdir = Path(workdir).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    amqp, management, prometheus, epmd_port, dist = _free_ports(5)
    node_name = f"vwtest-{uuid.uuid4().hex[:10]}@localhost"

    definitions_path = workdir / "definitions.json"
    definitions_path.write_text(definitions_json(credentials, queue_max_bytes))
    config_path = workdir / "rabbitmq.conf"
    # rabbitmq_prometheus (enabled like on a node) would otherwise listen on the fixed port 15692.
    config_path.write_text(
        rabbitmq_conf(amqp, management, str(definitions_path)) + f"prometheus.tcp.port = {prometheus}\n"
    )
    plugins_path = workdir / "enabled_plugins"
    plugins_path.write_text(enabled_plugins())
    # An empty env file keeps the machine's /etc/rabbitmq/rabbitmq-env.conf out of the picture.
    env_file = workdir / "rabbitmq-env.conf"
    env_file.write_text("")
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    log_path = workdir / "rabbitmq.log"

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": str(home),  # the Erlang cookie lives here
        "ERL_EPMD_PORT": str(epmd_port),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODENAME": node_name,
        "RABBITMQ_DIST_PORT": str(dist),
        "RABBITMQ_CONF_ENV_FILE": str(env_file),
        "RABBITMQ_CONFIG_FILE": str(config_path),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(plugins_path),
        "RABBITMQ_MNESIA_BASE": str(workdir / "mnesia"),
        "RABBITMQ_LOG_BASE": str(workdir / "log"),
        "RABBITMQ_PLUGINS_EXPAND_DIR": str(workdir / "plugins-expand"),
        "RABBITMQ_PID_FILE": str(workdir / "rabbitmq.pid"),
        "RABBITMQ_FEATURE_FLAGS_FILE": str(workdir / "feature_flags"),
        # Our epmd is already running on ERL_EPMD_PORT; erl must not daemonize one we cannot stop.
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-start_epmd false",
    }

    with open(log_path, "ab") as log:
        epmd = subprocess.Popen(
            [EPMD, "-port", str(epmd_port), "-address", "127.0.0.1"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        try:
            _wait_for_epmd(epmd_port, 10.0, epmd, log_path)
            server = subprocess.Popen(
                [str(SERVER)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=workdir,
                start_new_session=True,
            )
        except BaseException:
            _stop_process_group(epmd, grace=1.0)
            raise

    rabbitmq = RabbitMQ(
        host="127.0.0.1",
        amqp_port=amqp,
        management_port=management,
        prometheus_port=prometheus,
        epmd_port=epmd_port,
        node_name=node_name,
        credentials=credentials,
        workdir=workdir,
        log_path=log_path,
        _server=server,
        _epmd=epmd,
    )
    try:
        _wait_until_ready(rabbitmq, time.monotonic() + timeout)
    except BaseException:
        rabbitmq.stop()
        raise
    return rabbitmq


@contextmanager
def running_rabbitmq(
    credentials: NodeCredentials | None = None, workdir: Path | None = None, queue_max_bytes: int = QUEUE_MAX_BYTES
) -> Iterator[RabbitMQ]:
    """start_rabbitmq() as a context manager; without `workdir` it uses (and removes) a temp dir."""
    import tempfile

    with ExitStack() as cleanup:
        if workdir is None:  # removed after the server has stopped (the stack unwinds last)
            workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="vwclass-rabbitmq-")))
        rabbitmq = start_rabbitmq(credentials, workdir, queue_max_bytes=queue_max_bytes)
        try:
            yield rabbitmq
        finally:
            rabbitmq.stop()


def rabbitmq_fixture(scope: Scope = "module", credentials: NodeCredentials | None = None) -> Any:
    """A pytest fixture running one server for the given scope. Assign it to a name in a test module
    or conftest (`rabbitmq = rabbitmq_fixture(scope="session")`): that name is the fixture's name."""

    def _rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQ]:
        rabbitmq = start_rabbitmq(credentials, tmp_path_factory.mktemp("rabbitmq"))
        try:
            yield rabbitmq
        finally:
            rabbitmq.stop()

    return pytest.fixture(_rabbitmq, scope=scope)


# Below Linux's ephemeral range (32768-60999): a port the kernel hands out for bind(0) or for an outgoing
# connection can be taken again between our choosing it and RabbitMQ binding it (seen in CI:
# eaddrinuse on the prometheus port, with the API server's clients busy beside it).
_PORTS = range(20000, 32000)


def _free_ports(count: int) -> list[int]:
    # Hold every socket open until all are chosen so the same port is never handed out twice.
    sockets: list[socket.socket] = []
    try:
        while len(sockets) < count:
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", secrets.choice(_PORTS)))
            except OSError:
                s.close()
                continue
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _wait_for_port(
    host: str, port: int, timeout: float, process: subprocess.Popen[bytes], what: str, log_path: Path
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RabbitMQStartError(
                f"waiting for {what}: the process exited with {process.returncode}; see {log_path}"
            )
        with suppress(OSError), socket.create_connection((host, port), timeout=1.0):
            return
        if time.monotonic() > deadline:
            raise RabbitMQStartError(f"{what} did not listen within {timeout:.0f}s; see {log_path}")
        time.sleep(0.1)


def _wait_for_epmd(port: int, timeout: float, process: subprocess.Popen[bytes], log_path: Path) -> None:
    # A NAMES request (length 1, code 'n') gets a proper answer; a bare connect makes epmd log
    # "got partial packet".
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RabbitMQStartError(f"epmd exited with {process.returncode}; see {log_path}")
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            s.sendall(b"\x00\x01n")
            if len(s.recv(4)) == 4:
                return
        if time.monotonic() > deadline:
            raise RabbitMQStartError(f"epmd did not answer on port {port} within {timeout:.0f}s; see {log_path}")
        time.sleep(0.05)


def _wait_until_ready(rabbitmq: RabbitMQ, deadline: float) -> None:
    # pika logs every refused connection attempt at ERROR; while the server boots that is noise
    # which pytest would replay in the report of whichever test failed later.
    pika_log = logging.getLogger("pika")
    level = pika_log.level
    pika_log.setLevel(logging.CRITICAL)
    try:
        _wait_for_boot(rabbitmq, deadline)
    finally:
        pika_log.setLevel(level)


def _wait_for_boot(rabbitmq: RabbitMQ, deadline: float) -> None:
    users = ("admin", "service", "plugin")
    last: BaseException | None = None
    pending = list(users)
    while pending:
        if rabbitmq._server.poll() is not None:
            raise RabbitMQStartError(
                f"rabbitmq-server exited with {rabbitmq._server.returncode} during startup; "
                f"log {rabbitmq.log_path}:\n{rabbitmq.log_tail()}"
            )
        try:
            params = rabbitmq.parameters(pending[0], connection_attempts=1, socket_timeout=2.0)
            pika.BlockingConnection(params).close()
            pending.pop(0)
            continue
        except (pika.exceptions.AuthenticationError, pika.exceptions.ProbableAuthenticationError) as error:
            # Definitions are imported before the listener opens, so a refused login is final.
            raise RabbitMQStartError(
                f"user {pending[0]!r} of the definitions cannot log in ({error!r}): the definitions "
                f"import did not create it as rendered; log {rabbitmq.log_path}:\n{rabbitmq.log_tail()}"
            ) from error
        except (pika.exceptions.AMQPError, OSError) as error:
            last = error
        if time.monotonic() > deadline:
            raise RabbitMQStartError(
                f"rabbitmq-server did not accept AMQP logins on port {rabbitmq.amqp_port} "
                f"(last error {last!r}); log {rabbitmq.log_path}:\n{rabbitmq.log_tail()}"
            )
        time.sleep(0.25)
    _wait_for_port(
        rabbitmq.host,
        rabbitmq.management_port,
        max(1.0, deadline - time.monotonic()),
        rabbitmq._server,
        f"the management listener on port {rabbitmq.management_port}",
        rabbitmq.log_path,
    )
    # Logins work before the last plugins finish booting; this line marks the end of it.
    while "Server startup complete" not in rabbitmq.log_path.read_text(errors="replace"):
        if rabbitmq._server.poll() is not None or time.monotonic() > deadline:
            raise RabbitMQStartError(
                f"rabbitmq-server did not finish starting; log {rabbitmq.log_path}:\n{rabbitmq.log_tail()}"
            )
        time.sleep(0.05)


def _stop_process_group(process: subprocess.Popen[bytes], grace: float) -> None:
    if process.poll() is None:
        with suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    # Erlang leaves helpers (erl_child_setup, inet_gethost) in the session we created for it.
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5.0)
