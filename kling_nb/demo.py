"""``make demo``: execute a notebook headless against the bundled simulator and report what it made.

``python -m kling_nb.demo [NOTEBOOK] [--out DIR]`` runs the notebook with nbclient (widget state
saved) in a kernel that has no ``OXEN_API_KEY``, so the kernel starts kling_nb's simulator itself:
no key, no network, no bill. It writes the executed notebook and an HTML export into ``DIR``
(default ``demo-output/``), prints each generation (job, duration, file size, estimated cost at
Oxen's prices) and exits non-zero if a cell failed or any generation did not succeed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kling_nb.env import API_KEY_ENV, BASE_URL_ENV, OUTPUTS_ENV
from kling_nb.requests import format_cost
from kling_nb.store import JobRecord, Ledger

#: Variables removed from the kernel's environment so that the demo can never reach Oxen.ai.
_LIVE_SETTINGS = (API_KEY_ENV, BASE_URL_ENV)


@dataclass(frozen=True)
class Execution:
    """An executed notebook: where it was written and the errors its cells raised."""

    notebook: Path
    html: Path | None
    errors: list[str]
    seconds: float


def execute_notebook(
    source: Path,
    out_dir: Path,
    *,
    env: Mapping[str, str],
    html: bool = True,
    timeout: int = 600,
) -> Execution:
    """Run ``source`` in a fresh kernel whose working directory is ``out_dir``.

    ``env`` replaces the kernel's environment. The executed copy (widget state saved) is written to
    ``out_dir/<name>.ipynb`` and, with ``html``, exported to ``out_dir/<name>.html``.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    read: Any = nbformat.read  # nbformat and nbconvert are untyped
    write: Any = nbformat.write
    exporter_class: Any = HTMLExporter
    # The page must show each result without a kernel or a network: prefer an output's static
    # HTML (status, poster, path, provenance) to a widget view, whose scripts come from a CDN.
    priority = ["text/html", "application/vnd.jupyter.widget-view+json", "application/javascript"]
    priority += [
        m for m in exporter_class().config.NbConvertBase.display_data_priority if m not in priority
    ]
    exporter = exporter_class(config={"NbConvertBase": {"display_data_priority": priority}})

    out_dir.mkdir(parents=True, exist_ok=True)
    nb = read(source, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        store_widget_state=True,
        timeout=timeout,
        allow_errors=True,
        resources={"metadata": {"path": str(out_dir)}},
    )
    started = time.perf_counter()
    client.execute(env=dict(env))  # passed through to KernelManager.start_kernel
    seconds = time.perf_counter() - started
    errors = [
        f"cell {i}: {o.get('ename')}: {o.get('evalue')}"
        for i, cell in enumerate(nb.cells)
        for o in cell.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    target = out_dir / source.name
    write(nb, target)
    html_path = None
    if html:
        body, _ = exporter.from_notebook_node(nb)
        html_path = target.with_suffix(".html")
        html_path.write_text(body, encoding="utf-8")
    return Execution(notebook=target, html=html_path, errors=errors, seconds=seconds)


def simulated_env(outputs: Path) -> dict[str, str]:
    """This process's environment without any Oxen.ai key, with results kept in ``outputs``."""
    env = {k: v for k, v in os.environ.items() if k not in _LIVE_SETTINGS}
    env[OUTPUTS_ENV] = str(outputs)
    return env


def _video_seconds(path: Path) -> float | None:
    try:
        import av
    except ImportError:
        return None
    with av.open(str(path)) as container:
        duration: Any = container.duration
        return None if duration is None else float(duration) / 1_000_000


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def report(jobs: Sequence[JobRecord], folder: Path, out: Any = None) -> bool:
    """Print one line per generation and a total; True when every generation succeeded.

    Result paths in the ledger are relative to its ``folder``.
    """
    out = out or sys.stdout
    ok = bool(jobs)
    total_cost = 0.0
    unknown = False
    rows = [("job", "take", "status", "seconds", "size", "est. cost", "file")]
    for job in jobs:
        if job.estimated_cost is None:
            unknown = True
        else:
            total_cost += job.estimated_cost
        for gen in sorted(job.generations.values(), key=lambda g: g.index):
            path = folder / gen.result["path"] if gen.result else None
            seconds = _video_seconds(path) if path and path.is_file() else None
            ok = ok and gen.status == "succeeded"
            rows.append(
                (
                    job.job_id,
                    str(gen.index + 1),
                    gen.status,
                    "-" if seconds is None else f"{seconds:.1f}",
                    "-" if path is None or not path.is_file() else f"{path.stat().st_size:,} B",
                    format_cost((job.estimated_cost or 0) / job.num_generations)
                    if job.estimated_cost is not None
                    else format_cost(None),
                    _shown(path) if path else (gen.error or "-"),
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print(
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1], file=out
        )
    cost = format_cost(total_cost) + (" + models with unknown price" if unknown else "")
    print(
        f"{len(jobs)} jobs, {len(rows) - 1} generations, estimated cost at Oxen's prices: {cost}",
        file=out,
    )
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kling_nb.demo", description=__doc__)
    parser.add_argument("notebook", nargs="?", default="notebooks/quickstart.ipynb", type=Path)
    parser.add_argument("--out", default="demo-output", type=Path)
    args = parser.parse_args(argv)
    out_dir: Path = args.out.resolve()
    outputs = out_dir / "kling_outputs"
    shutil.rmtree(outputs, ignore_errors=True)  # a demo shows generation, not replay
    print(f"kling_nb demo: running {args.notebook} on the bundled simulator (no key, no network)")
    run = execute_notebook(args.notebook.resolve(), out_dir, env=simulated_env(outputs))
    print(f"executed in {run.seconds:.1f} s -> {run.notebook}")
    if run.html:
        print(f"HTML export -> {run.html}")
    ledger = Ledger(outputs / "simulated")
    jobs = sorted(ledger.jobs().values(), key=lambda j: j.created_at)
    ok = report(jobs, ledger.folder)
    for error in run.errors:
        print(f"error in {error}", file=sys.stderr)
    if not jobs:
        print("no generation was recorded: the notebook made no video", file=sys.stderr)
    return 0 if ok and not run.errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
