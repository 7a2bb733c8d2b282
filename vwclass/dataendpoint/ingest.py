"""Turns one AMQP delivery into a record to store (and, in validator mode, to republish) or a rejection.

beehive mode: the node's data-sharing service already validated and tagged the message and
published it to `to-beehive`; it is stored as it is (uploads are matched to their file).

validator mode (no data-sharing service): the delivery comes from a plugin via `to-validator`, so
this does that service's work: the routing key must be a scope (all, node, beehive), the AMQP
user_id must be set (RabbitMQ guarantees it is the authenticated user), the body must be a valid
message, and the meta gets `plugin` (VWCLASS_DATA_PLUGIN, else the AMQP app_id, else the user),
`app_id` when the publisher set one (there is no app-meta cache to resolve it), `node` and `vsn`.
Scopes all/beehive are stored, all/node republished to data.topic.
"""

from __future__ import annotations

from dataclasses import dataclass

from vwclass.dataendpoint.config import Mode
from vwclass.dataendpoint.messages import (
    UPLOAD_NAME,
    Invalid,
    Message,
    decode,
    encode,
    scope_of,
    tagged,
)
from vwclass.dataendpoint.store import Record, Rejection
from vwclass.dataendpoint.uploads import UploadDirectory


@dataclass(frozen=True)
class Delivery:
    body: bytes
    routing_key: str
    user_id: str | None
    app_id: str | None


@dataclass(frozen=True)
class Accepted:
    record: Record
    store: bool
    publish: bool


class Processor:
    def __init__(
        self,
        mode: Mode,
        uploads: UploadDirectory,
        *,
        node: str,
        vsn: str,
        plugin: str,
        local_url: str,
    ) -> None:
        self.mode = mode
        self.uploads = uploads
        self.node = node
        self.vsn = vsn
        self.plugin = plugin
        self.local_url = local_url

    def process(self, delivery: Delivery) -> Accepted | Rejection:
        try:
            if self.mode == "validator":
                return self._validate(delivery)
            message = decode(delivery.body)
            upload = None
            if message.name == UPLOAD_NAME:
                upload = self.uploads.resolve(message, from_data_service=True)
            return Accepted(Record(message, upload), store=True, publish=False)
        except Invalid as invalid:
            return Rejection(
                invalid.reason,
                invalid.detail,
                delivery.body,
                delivery.routing_key,
                delivery.user_id,
                delivery.app_id,
            )

    def _validate(self, delivery: Delivery) -> Accepted:
        scope = scope_of(delivery.routing_key)
        if not delivery.user_id:
            raise Invalid("user_id", "message has no AMQP user_id property (pywaggle always sets it)")
        message = decode(delivery.body)
        plugin = self.plugin or delivery.app_id or delivery.user_id
        message = tagged(message, plugin=plugin, app_id=delivery.app_id, node=self.node, vsn=self.vsn)
        upload = None
        if message.name == UPLOAD_NAME:
            upload = self.uploads.resolve(message, from_data_service=False)
        return Accepted(
            Record(message, upload),
            store=scope in ("all", "beehive"),
            publish=scope in ("all", "node"),
        )

    def republished(self, accepted: Accepted) -> bytes:
        """The body for data.topic: the tagged message, an upload's value made its download URL."""
        record = accepted.record
        message = record.message
        if record.upload is not None:
            url = self.local_url + record.upload.url_path()
            message = Message(message.name, message.timestamp, url, message.meta)
        return encode(message)
