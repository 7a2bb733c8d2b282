"""Finds the files plugins upload in the shared upload directory and names them by URL.

pywaggle's `upload_file` copies a file to `$WAGGLE_PLUGIN_UPLOAD_PATH/<ts>-<sha1>/data` (with a
`meta` JSON beside it) and publishes `upload` with the value `<ts>-<sha1>` and meta `filename`. The
data endpoint mounts that same directory (VWCLASS_DATA_UPLOAD_DIR) and serves the files in place:
nothing is copied, so a file costs its bytes once. The data-sharing service (beehive mode) has
already rewritten the value to a storage URL ending in `<ts>-<filename>`; the directory is then found
by timestamp and the filename recorded in its `meta`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from vwclass.dataendpoint.messages import Invalid, Message

FILES_PREFIX = "/api/v1/files/"
DIR_NAME = re.compile(r"^(\d{1,20})-([0-9a-f]{40})$")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Upload:
    directory: str  # `<ts>-<sha1>` under the upload directory
    filename: str
    size: int

    def url_path(self) -> str:
        """The path this endpoint serves the file at (made absolute against the public URL)."""
        return f"{FILES_PREFIX}{self.directory}/{quote(self.filename, safe='')}"


class UploadDirectory:
    """The upload directory shared with the plugin runner."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def data_path(self, directory: str) -> Path | None:
        """The file of an upload directory name, or None when the name is not one pywaggle makes."""
        if not DIR_NAME.match(directory):
            return None
        return self.root / directory / "data"

    def resolve(self, message: Message, *, from_data_service: bool) -> Upload:
        """The stored file an `upload` message refers to; raises Invalid when it is not there."""
        filename = message.meta.get("filename", "")
        if not filename or "/" in filename or filename in (".", ".."):
            raise Invalid("upload", f"upload has no usable meta 'filename' ({filename!r})")
        if from_data_service:
            directory = self._find(message.timestamp, filename)
        else:
            directory = message.value if isinstance(message.value, str) else ""
            match = DIR_NAME.match(directory)
            if not match:
                raise Invalid("upload", f"upload value {message.value!r} is not a <ts>-<sha1> directory name")
        path = self.data_path(directory) if directory else None
        try:
            size = path.stat().st_size if path else -1
        except OSError:
            size = -1
        if size < 0:
            raise Invalid(
                "upload",
                f"file of upload {directory or message.value!r} ({filename}) is not in {self.root}: "
                "the plugin runner's WAGGLE_PLUGIN_UPLOAD_PATH must be this endpoint's VWCLASS_DATA_UPLOAD_DIR",
            )
        return Upload(directory, filename, size)

    def _find(self, timestamp: int, filename: str) -> str:
        prefix = f"{timestamp}-"
        try:
            candidates = sorted(e.name for e in os.scandir(self.root) if e.name.startswith(prefix))
        except OSError:
            return ""
        for name in candidates:
            if not DIR_NAME.match(name):
                continue
            try:
                labels = json.loads((self.root / name / "meta").read_text()).get("labels", {})
            except (OSError, ValueError, AttributeError):
                continue
            if isinstance(labels, dict) and labels.get("filename") == filename:
                return name
        return ""

    def delete(self, directories: Iterable[str]) -> int:
        """Removes upload directories whose records are gone; returns how many it removed."""
        removed = 0
        for directory in directories:
            if not DIR_NAME.match(directory):
                continue
            try:
                shutil.rmtree(self.root / directory)
                removed += 1
            except FileNotFoundError:
                pass
            except OSError as error:
                log.warning("cannot remove expired upload %s: %s", directory, error)
        return removed

    def stale(self, older_than_s: float) -> list[str]:
        """Upload directories not modified for `older_than_s` seconds (candidates for sweeping)."""
        cutoff = time.time() - older_than_s
        names = []
        try:
            for entry in os.scandir(self.root):
                if DIR_NAME.match(entry.name) and entry.stat().st_mtime < cutoff:
                    names.append(entry.name)
        except OSError:
            return []
        return names
