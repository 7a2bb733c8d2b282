"""Render-core benchmark: one class of N students rendered cold (empty cache) and warm; prints, asserts nothing.

A reconcile renders every student again, so the warm number is what the operator pays per pass.

    .venv/bin/python bench/render_bench.py [--students 300] [--passes 5]
"""

from __future__ import annotations

import argparse
import time

from vwclass.core import names, render
from vwclass.core.rabbitmq import NodeCredentials
from vwclass.core.spec import parse_class


def render_all(students: int, credentials: NodeCredentials) -> float:
    cls = parse_class(
        {
            "apiVersion": names.API_VERSION,
            "kind": names.KIND,
            "metadata": {"name": "bench", "uid": "u"},
            "spec": {"students": students},
        }
    )
    started = time.perf_counter()
    for student in cls.students:
        render.student_objects(cls, student, credentials)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--passes", type=int, default=5)
    args = parser.parse_args()
    credentials = NodeCredentials("admin-pw", "service-pw", "plugin-pw")
    cold, warm = [], []
    for _ in range(args.passes):
        render._cached_student_objects.cache_clear()
        cold.append(render_all(args.students, credentials))
        warm.append(render_all(args.students, credentials))
    print(
        f"{args.students} students, best of {args.passes}: cold {min(cold) * 1000:.1f} ms, "
        f"warm {min(warm) * 1000:.1f} ms ({min(cold) / min(warm):.0f}x)"
    )


if __name__ == "__main__":
    main()
