"""A student's data endpoint: a one-node Beehive that stores the node's measurements and serves them.

It consumes the namespace's RabbitMQ (never another namespace's, never the Kubernetes API) as the
`service` user, stores each Waggle message in SQLite (WAL) and answers the Sage data API subset that
sage-data-client uses, so `sage_data_client.query(..., endpoint="http://<this>/api/v1/query")` works
as against the real Beehive.

Modes (VWCLASS_DATA_MODE):
  beehive (default)  behind the node's data-sharing service: consume `to-beehive`, store as is.
  validator          no data-sharing service (`components.dataSharingService: false`): consume
                     `to-validator`, validate and tag as that service does, republish scope node/all
                     to `data.topic` for local subscribers, store scope beehive/all.

Delivery guarantees: a batch is acknowledged only after its transaction commits (synchronous=FULL).
A record's identity is (name, meta, timestamp), InfluxDB's point identity, and writes are upserts,
so a redelivery after a crash between commit and ack changes nothing: nothing lost, nothing doubled.
A message that cannot be decoded or is invalid is acknowledged and set aside in the `rejected` table
with its reason (GET /api/v1/rejected, metric messages_rejected_total{reason}); it never blocks.

Uploads: the endpoint mounts the plugin runner's upload directory (VWCLASS_DATA_UPLOAD_DIR = the
runner's WAGGLE_PLUGIN_UPLOAD_PATH, default /run/waggle/uploads) read-write on a shared volume and
serves files in place; nothing is copied. An `upload` record's value is the file's URL here,
`<VWCLASS_DATA_PUBLIC_URL or http://<the request's Host>>/api/v1/files/<ts>-<sha1>/<filename>`
(republished to data.topic with VWCLASS_DATA_LOCAL_URL, default http://data-endpoint). Retention
deletes an upload's directory with its record; directories no record refers to are swept once older
than the retention age (at least an hour), and only while the queue is drained.

Retention (VWCLASS_DATA_RETENTION_AGE, VWCLASS_DATA_MAX_BYTES): records older than the age (since
stored) are deleted, and when the database in use plus referenced files exceed the budget the
oldest records go first, down to 90% of it. A plugin publishing a new meta value with every message
is stopped at VWCLASS_DATA_MAX_SERIES distinct series (further new series are rejected).

HTTP (VWCLASS_DATA_LISTEN_PORT, default 8080): POST /api/v1/query, GET /api/v1/files/..., GET
/api/v1/rejected, /healthz (process alive), /readyz (consuming and store writable), /metrics.

Run `python -m vwclass.dataendpoint --help` for every environment variable and its default.
Modules: config (env), messages (decode/validate/tag), ingest (delivery -> record), uploads,
store (SQLite writer), retention, times, queries (parsing/filters), reader (answers), consumer
(pika), server (HTTP), metrics, service (wiring).
"""
