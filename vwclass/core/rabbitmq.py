"""RabbitMQ configuration of one student's virtual Waggle node: rabbitmq.conf, plugins, definitions.

Mirrors what a real Waggle node loads (see waggle-edge-stack), with per-student passwords instead of
name-equals-password users, and the plugin user narrowed to what pywaggle does: publish to
`to-validator`, subscribe through a server-named queue bound to `data.topic`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

AMQP_PORT = 5672
MANAGEMENT_PORT = 15672
DEFINITIONS_PATH = "/etc/rabbitmq/definitions.json"
VHOST = "/"

# Exchanges and queues a Waggle node declares up front, so a plugin's first publish lands even
# before the data-sharing service (or the data endpoint in its place) has started.
EXCHANGES: tuple[tuple[str, str], ...] = (
    ("to-validator", "fanout"),
    ("to-beehive", "fanout"),
    ("data.topic", "topic"),
    ("data.fanout", "fanout"),
    ("messages", "topic"),
    ("to-node", "topic"),
)
QUEUES: tuple[str, ...] = ("to-validator", "to-beehive")
# Every queue of the node holds at most this many bytes of messages; past it a publish is refused (the
# newest message is dropped, as an overflowing real node's queue does), never written to the claim.
# A plugin in a tight loop while the consumer is down would otherwise fill the node's volume, which on
# a hostpath provisioner is the machine's disk.
QUEUE_MAX_BYTES = 128 * 2**20
# RabbitMQ stops taking messages while the disk it writes to has less free than this (its default,
# 50MB, is for a disk of its own; here the disk is shared with the whole class).
DISK_FREE_LIMIT = "1GB"
# pywaggle's subscribe() declares an exclusive queue with a server-generated amq.gen-* name.
_SERVER_NAMED = r"amq\.gen-.*"


@dataclass(frozen=True)
class NodeCredentials:
    """Passwords of one student's RabbitMQ users; generated once, never rotated by a reconcile."""

    admin: str
    service: str
    plugin: str


def rabbitmq_conf(
    amqp_port: int = AMQP_PORT,
    management_port: int = MANAGEMENT_PORT,
    definitions_path: str = DEFINITIONS_PATH,
) -> str:
    """The rabbitmq.conf (sysctl format) of a student node."""
    return (
        f"listeners.tcp.default = {amqp_port}\n"
        f"management.tcp.port = {management_port}\n"
        f"load_definitions = {definitions_path}\n"
        "log.console = true\n"
        "log.console.level = info\n"
        "log.file = false\n"
        f"disk_free_limit.absolute = {DISK_FREE_LIMIT}\n"
    )


def enabled_plugins() -> str:
    """The enabled_plugins file (an Erlang term) of a student node."""
    return "[rabbitmq_management,rabbitmq_prometheus].\n"


def definitions(credentials: NodeCredentials, queue_max_bytes: int = QUEUE_MAX_BYTES) -> dict[str, Any]:
    """The definitions document RabbitMQ imports at boot: users, permissions, exchanges, queues, and
    the policy that bounds every queue."""
    users = [
        {"name": "admin", "password": credentials.admin, "tags": ["administrator"]},
        {"name": "service", "password": credentials.service, "tags": []},
        # "management": students may watch their own node in the management UI, which shows a user
        # only the queues and exchanges its permissions reach.
        {"name": "plugin", "password": credentials.plugin, "tags": ["management"]},
    ]
    permissions = [
        {"user": "admin", "vhost": VHOST, "configure": ".*", "write": ".*", "read": ".*"},
        {"user": "service", "vhost": VHOST, "configure": ".*", "write": ".*", "read": ".*"},
        {
            "user": "plugin",
            "vhost": VHOST,
            "configure": f"^{_SERVER_NAMED}$",
            "write": f"^(to-validator|{_SERVER_NAMED})$",
            "read": f"^(data\\.topic|{_SERVER_NAMED})$",
        },
    ]
    exchanges = [
        {
            "name": name,
            "vhost": VHOST,
            "type": kind,
            "durable": True,
            "auto_delete": False,
            "internal": False,
            "arguments": {},
        }
        for name, kind in EXCHANGES
    ]
    queues = [{"name": name, "vhost": VHOST, "durable": True, "auto_delete": False, "arguments": {}} for name in QUEUES]
    bindings = [
        {
            "source": name,
            "vhost": VHOST,
            "destination": name,
            "destination_type": "queue",
            "routing_key": "",
            "arguments": {},
        }
        for name in QUEUES
    ]
    policies = [
        {
            "name": "bounded-queues",
            "vhost": VHOST,
            "pattern": ".*",
            "apply-to": "queues",
            "priority": 0,
            "definition": {"max-length-bytes": queue_max_bytes, "overflow": "reject-publish"},
        }
    ]
    return {
        "users": users,
        "vhosts": [{"name": VHOST}],
        "permissions": permissions,
        "exchanges": exchanges,
        "queues": queues,
        "bindings": bindings,
        "policies": policies,
    }


def definitions_json(credentials: NodeCredentials, queue_max_bytes: int = QUEUE_MAX_BYTES) -> str:
    """The definitions document as the JSON text mounted at DEFINITIONS_PATH (stable key order)."""
    return json.dumps(definitions(credentials, queue_max_bytes), indent=2, sort_keys=True) + "\n"
