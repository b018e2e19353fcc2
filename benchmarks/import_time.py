"""``import kling_nb`` in a process that already imported IPython, ipywidgets, anywidget, httpx
and pydantic: the added time (median of fresh processes), and that no simulator dependency
(starlette, uvicorn, av, numpy, PIL) was imported on the way.

    .venv/bin/python benchmarks/import_time.py [RUNS]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

PROBE = """
import json, sys, time
import IPython, ipywidgets, anywidget, httpx, pydantic
before = set(sys.modules)
start = time.perf_counter()
import kling_nb
plain = time.perf_counter() - start
from kling_nb import Client, VideoRequest
names = time.perf_counter() - start
heavy = sorted(m for m in ("starlette", "uvicorn", "av", "numpy", "PIL") if m in sys.modules)
print(json.dumps({"plain": plain, "names": names, "heavy": heavy,
                  "new": len(set(sys.modules) - before)}))
"""


def main(runs: int) -> None:
    results = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True)
        out.check_returncode()
        results.append(json.loads(out.stdout))
    plain = statistics.median(r["plain"] for r in results) * 1000
    names = statistics.median(r["names"] for r in results) * 1000
    heavy = sorted({m for r in results for m in r["heavy"]})
    print(f"import_time: median of {runs} fresh processes, after IPython/ipywidgets/anywidget/")
    print("  httpx/pydantic were imported:")
    print(f"  import kling_nb:                          {plain:6.1f} ms (target < 100)")
    print(f"  + from kling_nb import Client, VideoRequest: {names:6.1f} ms")
    print(f"  modules added by both: {results[0]['new']}")
    print(f"  simulator dependencies imported: {heavy or 'none'}")
    assert not heavy, f"the simulator's dependencies were imported: {heavy}"


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
