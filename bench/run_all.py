"""Run every benchmark in bench/ one after another (each prints its own table).

Benchmarks are separate processes so one's memory and caches do not colour the next.
Pass extra arguments after ``--`` to every script, e.g. ``--quick``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    extra = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
    failed = 0
    for script in sorted(Path(__file__).parent.glob("bench_*.py")):
        print(f"\n## {script.stem}\n", flush=True)
        rc = subprocess.call([sys.executable, "-m", f"bench.{script.stem}", *extra])
        failed += rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
