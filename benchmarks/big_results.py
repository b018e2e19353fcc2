"""Big results in JupyterLab: from a job succeeding in Python to each take's <video> being playable.

JupyterLab in Debian's Chromium, the simulator in its own process with results padded to 2 MB or
80 MB, 1 or 4 takes. The JobView is shown while the job runs, as ``%%kling`` shows it; the page
stamps the moment each <video> reaches ``readyState >= 2``; the kernel's peak RSS growth is its
high-water mark at the end minus the one at success. Both clocks are this machine's wall clock.

Modes: ``files`` (outputs under the server's root: the Jupyter server's ``files/`` URL),
``kernel`` (outputs outside it: the kernel's chunks) and ``kernel-attached`` (the same with
Playwright attached throughout). Chromium runs on its own with a DevTools port; Playwright
connects over CDP to open the notebook and start the job, then disconnects while the takes
arrive, as in a user's browser, and reconnects to read the stamps. Attached, DevTools reports
every WebSocket frame to Playwright (base64-encoded), which slows the chunk path several-fold.

    .venv/bin/python benchmarks/big_results.py [--sizes 2,80] [--takes 1,4] [--modes ...]
        [--repeat N]

Targets: 4 x 80 MB playable within 1 s of the 2 MB case, kernel growth under 48 MB; on the
chunk path one 80 MB take playable in under 3 s. Measured (median of 3, to the last take, 2 MB /
80 MB): files/ 1 take 0.25 / 0.42 s, 4 takes 0.27 / 0.51 s; chunks 1 take 0.30 / 2.26 s, 4 takes
0.58 / 6.8 s; chunks with DevTools attached 1 take 0.40 / 6.5 s, 4 takes 1.45 / 22.5 s; kernel
growth 0.0 MB throughout. A plain 84 MB WebSocket transfer in 4 MB messages to this Chromium took
0.4 to 0.9 s detached and 6 to 8 s attached.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))

from _simproc import simulator_process
from harness import chromium_endpoint, jupyterlab, open_notebook

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
# Stamps, per take, the first moment its <video> has data to play (and from where it came); once
# all have, says so in the page's title, which the DevTools port lists without attaching.
WATCH = """(takes) => {
  window.__ready = {};
  const poll = () => {
    const cell = document.querySelectorAll(".jp-Notebook .jp-Cell")[1];
    for (const card of cell?.querySelectorAll(".kling-gen") || []) {
      const v = card.querySelector("video");
      if (v && v.readyState >= 2 && !(card.dataset.index in window.__ready)) {
        window.__ready[card.dataset.index] = [Date.now() / 1000, v.dataset.source];
      }
    }
    if (Object.keys(window.__ready).length === takes) document.title = "all playable";
  };
  setInterval(poll, 5);
}"""
RUN_CELL = """(index) => {
  const panel = jupyterapp.shell.currentWidget;
  panel.content.activeCellIndex = index;
  jupyterapp.commands.execute("notebook:run-cell");
}"""
RAN = """(index) => document.querySelectorAll(".jp-Notebook .jp-Cell")[index]
  .querySelector(".jp-InputPrompt").textContent.match(/\\[\\d+\\]/)"""


def the_page(playwright: Any, endpoint: str, name: str = "") -> tuple[Any, Any]:
    """Connect to the browser; the page showing notebook ``name``, or a new one, in the default
    context (whose pages outlive the connection)."""
    browser = playwright.chromium.connect_over_cdp(endpoint)
    context = browser.contexts[0]
    if not name:
        return browser, context.new_page()
    return browser, next(p for p in context.pages if p.url.split("?")[0].endswith(f"/{name}"))


def wait_for_title(endpoint: str, title: str, timeout: float) -> None:
    """Wait until a page has this title, reading the DevTools port's target list (no attaching)."""
    deadline = time.monotonic() + timeout
    while not any(target["title"] == title for target in requests.get(f"{endpoint}/json").json()):
        if time.monotonic() > deadline:
            raise SystemExit(f"no page titled {title!r} after {timeout} s")
        time.sleep(0.02)


def scenario(
    playwright: Any, endpoint: str, lab: Any, base_url: str, takes: int, mode: str, run: int
) -> dict[str, Any]:
    """One notebook: show a job of ``takes`` takes, wait until every video plays, report.
    Each run has its own outputs folder (the same request would be replayed from a ledger)."""
    served, attached = mode == "files", mode == "kernel-attached"
    folder = f"outputs-{run}" if served else str(lab.root.parent / f"outside-{mode}-{run}")
    cells = [SETUP.format(base_url=base_url, folder=folder), SHOW.format(takes=takes), REPORT]
    name = f"big-{takes}-{mode}-{run}.ipynb"
    browser, page = the_page(playwright, endpoint)
    try:
        nb = open_notebook(lab, None, name, cells, run=False, page=page)
        page.evaluate(WATCH, takes)
        for index in (0, 1):
            page.evaluate(RUN_CELL, index)
            page.wait_for_function(RAN, arg=index, timeout=120_000)
        if attached:
            page.wait_for_function("() => document.title === 'all playable'", timeout=300_000)
        else:  # the job is still running (its takes take 2 s): they arrive with no one attached
            browser.close()
            detached = time.time()
            wait_for_title(endpoint, "all playable", timeout=300)
            browser, page = the_page(playwright, endpoint, name)
            nb.page = page
        ready = page.evaluate("() => window.__ready")
        page.evaluate(RUN_CELL, 2)
        nb.output(2).locator("text=growth").wait_for(timeout=60_000)
        text = nb.output(2).inner_text().strip()
        report = json.loads(text)
    finally:
        page.close()  # with no beforeunload prompt
        browser.close()
        lab.shutdown_kernels()
    if report["status"] != "succeeded":
        raise SystemExit(f"the job ended {report['status']}")
    if not attached and report["done"] < detached:
        raise SystemExit("the job succeeded before Playwright detached: lengthen the takes")
    sources = {source for _, source in ready.values()}
    if sources != {"file" if served else "kernel"}:
        raise SystemExit(f"expected the {'file' if served else 'kernel'} path, got {sources}")
    delays = sorted(t - report["done"] for t, _ in ready.values())
    return {"first": delays[0], "last": delays[-1], "growth_mb": report["growth"] / 1e6}


MODES = {
    "files": "files/ URL",
    "kernel": "kernel chunks",
    "kernel-attached": "chunks, DevTools",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2,80", help="result sizes in MB (default 2,80)")
    parser.add_argument("--takes", default="1,4", help="takes per job (default 1,4)")
    parser.add_argument("--modes", default=",".join(MODES), help=f"of {', '.join(MODES)}")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each case (default 1)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    takes_list = [int(n) for n in args.takes.split(",")]
    modes = args.modes.split(",")
    results: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        chromium_endpoint(Path(tmp) / "profile") as endpoint,
        sync_playwright() as playwright,
    ):
        for size in sizes:
            sim = simulator_process(generation_seconds=2, result_size_bytes=size * 1_000_000)
            with sim as base_url, jupyterlab(Path(tmp) / f"{size}mb") as lab:
                for run in range(args.repeat):
                    for mode in modes:
                        for takes in takes_list:
                            got = scenario(playwright, endpoint, lab, base_url, takes, mode, run)
                            results.setdefault((mode, size, takes), []).append(got)
                            print(
                                f"{MODES[mode]:16} {takes} x {size:>2} MB: playable "
                                f"{got['first']:.2f} s (first) to {got['last']:.2f} s (last) "
                                f"after success; kernel peak RSS growth {got['growth_mb']:.1f} MB",
                                flush=True,
                            )
    if args.repeat > 1:
        print(f"Median of {args.repeat} runs (min to max), to the last take playable:")
        for (mode, size, takes), runs in results.items():
            last = sorted(r["last"] for r in runs)
            growth = max(r["growth_mb"] for r in runs)
            print(
                f"{MODES[mode]:16} {takes} x {size:>2} MB: {statistics.median(last):.2f} s "
                f"({last[0]:.2f} to {last[-1]:.2f}); kernel peak RSS growth at most {growth:.1f} MB"
            )
    small, big = min(sizes), max(sizes)
    for mode in modes:
        for takes in takes_list:
            a, b = results.get((mode, small, takes)), results.get((mode, big, takes))
            if a and b and small != big:
                a_last = statistics.median(r["last"] for r in a)
                b_last = statistics.median(r["last"] for r in b)
                print(
                    f"{MODES[mode]:16} {takes} takes: {big} MB / {small} MB time to last playable "
                    f"{b_last:.2f} / {a_last:.2f} s = x{b_last / max(a_last, 1e-3):.1f}"
                    f" (+{b_last - a_last:.2f} s)"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
