"""The demo's round trip, run inside a student's plugin runner: publish with pywaggle, read back the value.

It reads back through the node's data API ($SAGE_DATA_API) with sage-data-client, as a student would.
"""

import os
import time

import sage_data_client
from waggle.plugin import Plugin

value = round(20 + time.time() % 10, 2)
started = time.monotonic()
with Plugin() as plugin:
    plugin.publish("demo.temperature", value)
print(f"published demo.temperature={value} from the runner")
endpoint = os.environ["SAGE_DATA_API"]
while True:
    df = sage_data_client.query(start="-10m", filter={"name": "demo.temperature"}, endpoint=endpoint)
    if len(df) and value in set(df["value"]):
        row = df[df["value"] == value].iloc[-1]
        took = time.monotonic() - started
        print(f"read back through {endpoint} after {took:.1f}s:")
        meta = f"task {row.get('meta.task')}, host {row.get('meta.host')}"
        print(f"  {row['timestamp']}  {row['name']} = {row['value']}  ({meta})")
        break
    if time.monotonic() - started > 60:
        raise SystemExit("not read back within 60s")
    time.sleep(1)
