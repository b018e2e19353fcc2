"""Big results in JupyterLab: from a job succeeding in Python to each take's <video> being playable.

JupyterLab in Debian's Chromium (the browser-test harness), the simulator in its own process with
results padded to 2 MB or 80 MB, 1 or 4 takes. The JobView is shown while the job runs, as
``%%kling`` shows it; the page stamps the moment each <video> reaches ``readyState >= 2``; the
kernel's peak RSS growth is its high-water mark at the end minus the one at success. Measured on
both paths: the Jupyter server's ``files/`` URL (outputs under the server's root) and the kernel's
chunks (outputs outside it). Both clocks are this machine's wall clock. Playwright's DevTools
connection reports every WebSocket frame, which slows the chunk path here (a plain 4 MB WebSocket
round trip: 46 ms in Chromium alone, 211 ms under Playwright, on this machine).

    .venv/bin/python benchmarks/big_results.py [--sizes 2,80] [--takes 1,4]

Targets: 4 x 80 MB playable within 1 s of the 2 MB case, kernel growth under 48 MB; on the
chunk path one 80 MB take playable in under 3 s.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))

from _simproc import simulator_process
from harness import chromium, jupyterlab, open_notebook

SETUP = """import json, resource, time
import kling_nb
client = kling_nb.Client(api_key="benchmark-key", base_url={base_url!r}, outputs_dir={folder!r},
                         simulated=True)
def peak_rss():  # bytes: the kernel's high-water mark (no sampling thread to slow it down)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
marks = {{}}"""
# The mark is taken by an observer called before the view's own: at success, before the view
# reacts to it.
SHOW = """job = client.submit(kling_nb.VideoRequest(prompt="big results", duration=5), {takes})
job.observe(lambda j: j.done and marks.setdefault("done", (time.time(), peak_rss())))
kling_nb.JobView(job)"""
REPORT = """done, before = marks["done"]
print(json.dumps({"status": job.status, "done": done, "growth": peak_rss() - before}))"""
# Stamps, per take, the first moment its <video> has data to play (and from where it came).
WATCH = """() => {
  window.__ready = {};
  const poll = () => {
    const cell = document.querySelectorAll(".jp-Notebook .jp-Cell")[1];
    for (const card of cell?.querySelectorAll(".kling-gen") || []) {
      const v = card.querySelector("video");
      if (v && v.readyState >= 2 && !(card.dataset.index in window.__ready)) {
        window.__ready[card.dataset.index] = [Date.now() / 1000, v.dataset.source];
      }
    }
  };
  setInterval(poll, 5);
}"""
RUN_CELL = """(index) => {
  const panel = jupyterapp.shell.currentWidget;
  panel.content.activeCellIndex = index;
  jupyterapp.commands.execute("notebook:run-cell");
}"""


def scenario(browser: Any, lab: Any, base_url: str, takes: int, served: bool) -> dict[str, Any]:
    """One notebook: show a job of ``takes`` takes, wait until every video plays, report."""
    folder = "outputs" if served else str(lab.root.parent / "outside")
    cells = [SETUP.format(base_url=base_url, folder=folder), SHOW.format(takes=takes), REPORT]
    nb = open_notebook(lab, browser, f"big-{takes}-{served}.ipynb", cells, run=False)
    try:
        nb.page.evaluate(WATCH)
        for index in (0, 1):
            nb.page.evaluate(RUN_CELL, index)
            nb.page.wait_for_function(
                f"() => document.querySelectorAll('.jp-Notebook .jp-Cell')[{index}]"
                ".querySelector('.jp-InputPrompt').textContent.match(/\\[\\d+\\]/)",
                timeout=120_000,
            )
        nb.page.wait_for_function(
            f"() => Object.keys(window.__ready).length === {takes}", timeout=300_000
        )
        ready = nb.page.evaluate("() => window.__ready")
        nb.page.evaluate(RUN_CELL, 2)
        nb.output(2).locator("text=growth").wait_for(timeout=60_000)
        report = json.loads(nb.output(2).inner_text().strip())
    finally:
        nb.page.context.close()
        lab.shutdown_kernels()
    if report["status"] != "succeeded":
        raise SystemExit(f"the job ended {report['status']}")
    sources = {source for _, source in ready.values()}
    if sources != {"file" if served else "kernel"}:
        raise SystemExit(f"expected the {'file' if served else 'kernel'} path, got {sources}")
    delays = sorted(t - report["done"] for t, _ in ready.values())
    return {"first": delays[0], "last": delays[-1], "growth_mb": report["growth"] / 1e6}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2,80", help="result sizes in MB (default 2,80)")
    parser.add_argument("--takes", default="1,4", help="takes per job (default 1,4)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    takes_list = [int(n) for n in args.takes.split(",")]
    results: dict[tuple[bool, int, int], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp, chromium() as browser:
        for size in sizes:
            sim = simulator_process(generation_seconds=2, result_size_bytes=size * 1_000_000)
            with sim as base_url, jupyterlab(Path(tmp) / f"{size}mb") as lab:
                for served in (True, False):
                    for takes in takes_list:
                        got = scenario(browser, lab, base_url, takes, served)
                        results[served, size, takes] = got
                        path = "files/ URL" if served else "kernel chunks"
                        print(
                            f"{path:13} {takes} x {size:>2} MB: playable {got['first']:.2f} s "
                            f"(first) to {got['last']:.2f} s (last) after success; kernel "
                            f"peak RSS growth {got['growth_mb']:.1f} MB",
                            flush=True,
                        )
    small, big = min(sizes), max(sizes)
    for served in (True, False):
        for takes in takes_list:
            a, b = results.get((served, small, takes)), results.get((served, big, takes))
            if a and b and small != big:
                path = "files/ URL" if served else "kernel chunks"
                print(
                    f"{path:13} {takes} takes: {big} MB / {small} MB time to last playable "
                    f"{b['last']:.2f} / {a['last']:.2f} s = x{b['last'] / max(a['last'], 1e-3):.1f}"
                    f" (+{b['last'] - a['last']:.2f} s)"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
