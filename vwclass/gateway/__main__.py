"""`python -m vwclass.gateway`: the check beside a class's gateway nginx, configured by its environment."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from vwclass.gateway import check
from vwclass.gateway.server import Check, serve
from vwclass.kube.connect import connect


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cls = check.Class(
            name=os.environ["VWCLASS_GATEWAY_CLASS"],
            namespace_prefix=os.environ["VWCLASS_GATEWAY_NAMESPACE_PREFIX"],
            student_account=os.environ["VWCLASS_GATEWAY_STUDENT_ACCOUNT"],
        )
        port = int(os.environ.get("VWCLASS_GATEWAY_PORT", "8081"))
    except (KeyError, ValueError) as error:
        sys.exit(f"vwclass.gateway: environment variable {error} missing or not a number")
    server = serve(Check(connect(), cls), port)
    # SIGTERM stops serving at once: nginx beside it stops too, and nothing is in flight worth keeping.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    logging.getLogger("vwclass.gateway").info("class %s: checking on 127.0.0.1:%d", cls.name, port)
    server.serve_forever()


if __name__ == "__main__":
    main()
