"""Content: compile once, render per contact — CPU per render and per resolve.

Seeds the demo content (4 blocks, 3 messages in en/uk/ru/de) into a temporary DuckDB,
resolves the "New arrivals" promo email and renders it for contacts in rotating
languages with 4 products each. Prints medians of ``--runs`` runs of CPU time per unit
(``time.process_time``, which counts every thread of this process) and the load.

The issue's bound on rendering is end to end (render + DKIM ≥ 3,000 emails/s on 2 cores,
bench_email.py); this shows the content layer's share of it.

    uv run python bench/bench_content.py            # 3 runs × 3,000 renders
    uv run python bench/bench_content.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from retenta.app import build_container
from retenta.messaging.content import for_database
from retenta.messaging.content.seed import LANGUAGES, seed_content
from retenta.messaging.email.render import RenderedEmail
from retenta.settings import Settings


def contacts(count: int) -> list[dict[str, Any]]:
    products = [
        {"name": f"Product {i}", "price": 10 + i, "currency": "EUR",
         "url": f"https://shop.example/p/{i}", "image_url": f"https://shop.example/{i}.png"}
        for i in range(4)
    ]  # fmt: skip
    return [
        {
            "contact": {"first_name": f"Name{i}", "language": LANGUAGES[i % len(LANGUAGES)]},
            "products": products,
            "links": {"unsubscribe": f"https://shop.example/u/{i}"},
        }
        for i in range(count)
    ]


def per_unit(fn: Any, count: int) -> float:
    """CPU seconds per call of ``fn`` over ``count`` calls."""
    start = time.process_time()
    for _ in range(count):
        fn()
    return (time.process_time() - start) / count


def recent(service: Any, workspace_id: str, message_id: str) -> Any:
    return service.resolve(workspace_id, message_id, "email", max_age_s=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (1 run, 300 renders)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--renders", type=int, default=3000)
    args = parser.parse_args()
    runs, renders = (1, 300) if args.quick else (args.runs, args.renders)

    with tempfile.TemporaryDirectory() as tmp:
        container = build_container(Settings(data_dir=Path(tmp) / "data", background_workers=False))
        try:
            workspace_id = container.tenancy.create_workspace(name="Bench")
            service = for_database(container.db)
            message_id = asyncio.run(seed_content(service, workspace_id))["messages"][
                "New arrivals"
            ]
            variables = contacts(renders)
            compile_s, hit_s, recent_s, render_s = [], [], [], []
            for _ in range(runs):
                service.cache._items.clear()  # a cold compile in each run
                start = time.process_time()
                resolved = service.resolve(workspace_id, message_id, "email")
                compile_s.append(time.process_time() - start)
                hit_s.append(
                    per_unit(lambda: service.resolve(workspace_id, message_id, "email"), 200)
                )
                recent_s.append(per_unit(lambda: recent(service, workspace_id, message_id), 2000))
                start = time.process_time()
                for v in variables:
                    assert isinstance(resolved.render(v), RenderedEmail)
                render_s.append((time.process_time() - start) / len(variables))
        finally:
            container.close()

    size = len(resolved.render(variables[0]).html)  # type: ignore[union-attr]
    render = statistics.median(render_s)
    print(f"load (1/5/15 min): {os.getloadavg()}")
    print(f"render per contact ({size:,}-char HTML, 4 languages, 4 products): "
          f"{render * 1000:.3f} ms CPU = {1 / render:,.0f} renders/s per core")  # fmt: skip
    print(
        f"first resolve (compile every language): {statistics.median(compile_s) * 1000:.1f} ms CPU"
    )
    print(f"resolve, cache hit (2 reads): {statistics.median(hit_s) * 1000:.3f} ms CPU")
    print(f"resolve, max_age_s answer: {statistics.median(recent_s) * 1000:.4f} ms CPU")
    print("bound (issue #4): render + DKIM sign >= 3,000 emails/s on 2 cores (bench_email.py);")
    print(f"  the content render takes {render * 3000:.2f} CPU-s of the 2 CPU-s per 3,000 emails")


if __name__ == "__main__":
    main()
