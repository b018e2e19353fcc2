"""How long the simulator takes to synthesise a clip, against the clip's own length.

Run: ``.venv/bin/python benchmarks/video_synthesis.py [--runs N]``. Every run renders a new take
(a new generation index), so the in-process cache never answers; the median of the runs is shown.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

from kling_nb.simulator.video import render_video

PROMPT = "A red fox trots through fresh snow at dawn, breath steaming, golden light in the pines"


def _payload(seconds: int, audio: bool, shots: int) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "model": "kling-video-o3-pro-reference-to-video",
        "aspect_ratio": "16:9",
        "generate_audio": audio,
    }
    if shots == 1:
        payload.update(prompt=PROMPT, duration=seconds)
    else:
        each = seconds // shots
        payload["multi_prompt"] = [
            {"prompt": f"{PROMPT}, part {i + 1}", "duration": each} for i in range(shots)
        ]
    return payload


def measure(seconds: int, audio: bool, shots: int, runs: int) -> tuple[float, float, int]:
    """Median wall and CPU seconds of ``runs`` fresh renders, and the size of the last one."""
    payload = _payload(seconds, audio, shots)
    render_video(payload, 10_000)  # warm fonts and codecs once
    walls, cpus = [], []
    size = 0
    for index in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        size = len(render_video(payload, index))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), size


def main() -> None:
    """Print the median render time of 5 s and 15 s clips at the default size (320x180, 12 fps)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7, help="renders per case (default 7)")
    args = parser.parse_args()
    print(f"video synthesis, default size 320x180 at 12 fps, median of {args.runs} runs")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'clip':<24}{'wall s':>8}{'cpu s':>8}{'wall/real time':>16}{'size':>10}")
    for seconds, audio, shots in [
        (5, False, 1),
        (5, True, 1),
        (15, False, 1),
        (15, True, 3),
    ]:
        wall, cpu, size = measure(seconds, audio, shots, args.runs)
        label = f"{seconds} s, {shots} shot{'s' if shots > 1 else ''}" + (
            ", audio" if audio else ""
        )
        print(f"{label:<24}{wall:>8.3f}{cpu:>8.3f}{wall / seconds:>16.3f}{size / 1024:>7.0f} KB")


if __name__ == "__main__":
    main()
