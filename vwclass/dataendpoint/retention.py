"""Bounds the store by age and size, deleting the oldest records and the upload files they refer to.

Runs on the writer's connection between batches, so it never contends with ingestion. Records are
deleted from the low end of their insertion-ordered ids in chunks, each its own short transaction;
files are removed only after the commit that drops their records, so a crash can orphan a file
(swept later) but never leave a record pointing at nothing it once had.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from vwclass.dataendpoint.store import Writer
from vwclass.dataendpoint.uploads import UploadDirectory

CHUNK = 20000
KEEP_REJECTED = 1000
SIZE_TARGET = 0.9  # once over budget, delete down to this fraction so the next batch is not over again
MIN_SWEEP_AGE_S = 3600.0
log = logging.getLogger(__name__)


@dataclass
class RetentionReport:
    records: int = 0
    files: int = 0
    series: int = 0


class Retention:
    def __init__(self, writer: Writer, uploads: UploadDirectory, *, max_age_s: float, max_bytes: int) -> None:
        self.writer = writer
        self.uploads = uploads
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes

    def used_bytes(self) -> int:
        """What counts against the size budget: the database in use plus the files it references."""
        files = self.writer.conn.execute("SELECT COALESCE(SUM(bytes), 0) FROM uploads").fetchone()[0]
        return self.writer.used_bytes() + int(files)

    def run(self, *, sweep_uploads: bool = False) -> RetentionReport:
        """One pass: age, then size, then orphans. `sweep_uploads` only when the queue is drained,
        so a file whose message still waits in the queue is never taken for an orphan."""
        report = RetentionReport()
        cutoff = int(time.time() - self.max_age_s)
        boundary = self._age_boundary(cutoff)
        if boundary is not None:
            self._delete_through(boundary, report)
        used = self.used_bytes()
        while used > self.max_bytes:
            first = self.writer.conn.execute("SELECT MIN(id) FROM records").fetchone()[0]
            if first is None:
                break
            deleted = self._delete_through(first + self._rows_to_free(used) - 1, report, chunked=False)
            used = self.used_bytes()
            if not deleted or used <= self.max_bytes * SIZE_TARGET:
                break
        self._trim(cutoff)
        if sweep_uploads:
            report.files += self._sweep(max(self.max_age_s, MIN_SWEEP_AGE_S))
        if report.records or report.files:
            log.info(
                "retention removed %d records, %d files, %d series; %d bytes in use",
                report.records,
                report.files,
                report.series,
                self.used_bytes(),
            )
        return report

    def _rows_to_free(self, used: int) -> int:
        """About how many of the oldest rows bring usage down to the target (re-measured after)."""
        rows = self.writer.conn.execute("SELECT COUNT(*) FROM records").fetchone()[0] or 1
        per_row = max(1.0, self.writer.used_bytes() / rows)
        excess = used - self.max_bytes * SIZE_TARGET
        return max(100, min(CHUNK, int(excess / per_row * 1.1) + 1))

    def _age_boundary(self, cutoff: int) -> int | None:
        """The largest record id stored before `cutoff`, by binary search over insertion order
        (stored_at grows with id), so no index on stored_at is needed."""
        conn = self.writer.conn
        first = conn.execute("SELECT id, stored_at FROM records ORDER BY id LIMIT 1").fetchone()
        if first is None or first[1] >= cutoff:
            return None
        low = int(first[0])  # exists and is old
        high = int(conn.execute("SELECT MAX(id) FROM records").fetchone()[0]) + 1  # exclusive
        while high - low > 1:
            middle = (low + high) // 2
            row = conn.execute(
                "SELECT id, stored_at FROM records WHERE id >= ? ORDER BY id LIMIT 1", (middle,)
            ).fetchone()
            if row is None or row[0] >= high or row[1] >= cutoff:
                high = middle
            else:
                low = int(row[0])
        return low

    def _delete_through(self, last: int, report: RetentionReport, *, chunked: bool = True) -> int:
        conn = self.writer.conn
        total = 0
        while True:
            end = last
            if chunked:
                row = conn.execute(
                    "SELECT id FROM records WHERE id <= ? ORDER BY id LIMIT 1 OFFSET ?", (last, CHUNK - 1)
                ).fetchone()
                end = last if row is None else int(row[0])
            conn.execute("BEGIN IMMEDIATE")
            try:
                directories = {r[0] for r in conn.execute("SELECT directory FROM uploads WHERE record <= ?", (end,))}
                conn.execute("DELETE FROM uploads WHERE record <= ?", (end,))
                deleted = conn.execute("DELETE FROM records WHERE id <= ?", (end,)).rowcount
                # A directory may back a newer record too (the same point written again): keep it.
                still = {
                    d for d in directories if conn.execute("SELECT 1 FROM uploads WHERE directory = ?", (d,)).fetchone()
                }
                removed_series = conn.execute(
                    "DELETE FROM series WHERE NOT EXISTS (SELECT 1 FROM records WHERE records.series = series.id)"
                ).rowcount
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            if removed_series:
                self.writer.forget_series()
            report.series += removed_series
            report.records += deleted
            report.files += self.uploads.delete(directories - still)
            total += deleted
            if end >= last or not deleted:
                return total

    def _trim(self, cutoff: int) -> None:
        conn = self.writer.conn
        conn.execute(
            "DELETE FROM rejected WHERE received_at < ? OR id <= (SELECT MAX(id) FROM rejected) - ?",
            (cutoff, KEEP_REJECTED),
        )

    def _sweep(self, older_than_s: float) -> int:
        stale = self.uploads.stale(older_than_s)
        if not stale:
            return 0
        conn = self.writer.conn
        orphans = [d for d in stale if not conn.execute("SELECT 1 FROM uploads WHERE directory = ?", (d,)).fetchone()]
        return self.uploads.delete(orphans)
