"""Reading every student's node for the teacher: a few students at a time, each failure one line.

Shared by `vwclass data`, `collect`, `report` (vwclass.cli.commands.teacher) and `vwclass dashboard`.
Each node is read where it runs, through the API server's proxy (vwclass.kube.proxy) with the
teacher's own credentials. The API layer is imported only when a read is made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from vwclass.core.classdata import Record
    from vwclass.core.spec import Student
    from vwclass.kube.api import Kube

Obj = dict[str, Any]
S = TypeVar("S")
T = TypeVar("T")
# Students read at once: enough to hide the proxy's round trips, few enough for the API server.
PARALLEL = 8


def each(students: Sequence[S], work: Callable[[S], T]) -> list[T]:
    """work(student) for every student, a few at a time, in the students' order."""
    if len(students) <= 1:
        return [work(s) for s in students]
    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(students))) as pool:
        return list(pool.map(work, students))


def why(error: Exception) -> str:
    """One line for a failed read of a student's node (an ApiError carries the proxy's own reason)."""
    from vwclass.kube.api import ApiError

    if isinstance(error, ApiError):
        if error.status == 0:
            return f"cannot reach the cluster: {error.message[:200]}"
        # No ready pod behind the Service, or (while the operator is still creating it) no Service yet.
        if (error.status == 503 and "no endpoints available" in error.message) or (
            error.status == 404 and error.message.startswith(("services ", "pods "))
        ):
            return "its node is not running (suspended, not ready, or not created yet: `vwclass status`)"
        return f"{error.status} {error.message[:300]}".strip()
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return str(error)


def unexplained(error: Exception) -> bool:
    """A bug rather than a node that did not answer: it keeps its traceback."""
    from vwclass.kube.api import ApiError

    return not isinstance(error, (ApiError, OSError, UnicodeError))


def query(
    kube: Kube, student: Student, document: Obj, timeout: float = 60.0, attempts: int | None = None
) -> list[Record]:
    """The student's stored records that the data API query document selects, from their data endpoint."""
    from vwclass.core import classdata
    from vwclass.kube import proxy

    path = proxy.service_path(student.namespace, classdata.SERVICE, classdata.SERVICE_PORT, classdata.QUERY_PATH)
    answer = proxy.request(
        kube, "POST", path, body=document, timeout=timeout, attempts=proxy.ATTEMPTS if attempts is None else attempts
    )
    return classdata.parse_answer(student.id, answer.decode("utf-8", "replace"))
