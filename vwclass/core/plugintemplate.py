"""What `vwclass newplugin NAME` writes: a pywaggle plugin that runs unchanged with `vwclass plugin run --dir`
and, built on plugin-base, as an image on a real Waggle node. Pure: a name in, file contents out."""

from __future__ import annotations

from vwclass.core import schema


def default_base_image() -> str:
    """The plugin-base image a class runs plugins in unless it names another (the CRD's default)."""
    images = schema.class_schema()["properties"]["spec"]["properties"]["images"]["properties"]
    return str(images["pluginRunner"]["default"])


def measurement(name: str) -> str:
    """A measurement name pywaggle accepts (dot-separated [a-z0-9_] parts) made from a plugin name."""
    return name.replace("-", "_") + ".value"


_MAIN = '''"""{name}: a Waggle plugin. It publishes a measurement every --interval seconds, --count times.

On your virtual Waggle node, without building anything (from this folder):
    vwclass plugin run {name} --dir . -- --count 3
"""

import argparse
import logging
import random
import time

from waggle.plugin import Plugin


def measure() -> float:
    """Replace this with your own measurement (a sensor, a camera frame, a model's output)."""
    return round(random.uniform(20.0, 25.0), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description="{name}: publishes a measurement to the node.")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between measurements")
    parser.add_argument("--count", type=int, default=5, help="how many to publish (0: forever)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    # Plugin() reads WAGGLE_PLUGIN_HOST/PORT/USERNAME/PASSWORD and WAGGLE_APP_ID: the node sets them.
    with Plugin() as plugin:
        sent = 0
        while args.count == 0 or sent < args.count:
            value = measure()
            plugin.publish("{measurement}", value, meta={{"units": "C"}})
            logging.info("published {measurement} = %s", value)
            sent += 1
            if args.count == 0 or sent < args.count:
                time.sleep(args.interval)


if __name__ == "__main__":
    main()
'''

_REQUIREMENTS = """# Python packages your plugin needs, one per line (pywaggle is already in plugin-base).
# `vwclass plugin run --dir` installs them when the plugin starts; the Dockerfile, when it is built.
"""

_SAGE = """name: "{name}"
description: "{name}: publishes a measurement to its Waggle node"
version: "0.1.0"
keywords: "example"
authors: "Your Name <you@example.org>"
collaborators: ""
funding: ""
license: ""
homepage: ""
source:
  architectures:
    - "linux/amd64"
    - "linux/arm64"
"""

_DOCKERFILE = """FROM {base_image}

WORKDIR /app
COPY requirements.txt .
# Installs only when requirements.txt names something (comments and blank lines do not count).
RUN if grep -qvE '^[[:space:]]*(#.*)?$' requirements.txt; then pip3 install --no-cache-dir -r requirements.txt; fi
COPY . .

ENTRYPOINT ["python3", "-u", "/app/main.py"]
"""

_README = """# {name}

A Waggle plugin made with `vwclass newplugin {name}`. It publishes `{measurement}` a few times.
Edit `measure()` in `main.py` to publish your own measurement; list packages in `requirements.txt`.

## On your virtual Waggle node (no Docker needed)

From this folder, with the kubeconfig your teacher gave you (`export KUBECONFIG=...`):

```sh
vwclass plugin run {name} --dir . -- --count 3        # runs until it ends, shows its output
vwclass plugin deploy {name} --dir . --type job        # keeps running after you close the terminal
vwclass plugin ps                                        # what runs
vwclass plugin logs {name} -f                           # its output
vwclass plugin rm {name}                                 # stop and remove it
```

## On a real Waggle node

Build the image (the Dockerfile is on plugin-base, as Waggle plugins are), push it, and run it:

```sh
docker build -t registry.example.org/you/{name}:0.1.0 .
pluginctl run --name {name} registry.example.org/you/{name}:0.1.0 -- --count 3
```

`sage.yaml` describes the plugin for the Edge Code Repository; fill in your details before publishing.
"""


def files(name: str, base_image: str | None = None) -> dict[str, str]:
    """The template's files (relative path -> text) for plugin `name` (a DNS label)."""
    values = {"name": name, "measurement": measurement(name), "base_image": base_image or default_base_image()}
    return {
        "main.py": _MAIN.format(**values),
        "requirements.txt": _REQUIREMENTS,
        "sage.yaml": _SAGE.format(**values),
        "Dockerfile": _DOCKERFILE.format(**values),
        "README.md": _README.format(**values),
    }
