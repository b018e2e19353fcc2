"""``kling-nb simulator``: serve the local Oxen.ai API in the foreground.

The first line on standard output is exactly ``KLING_NB_BASE_URL=http://HOST:PORT``, so scripts
can read it; SIGINT or SIGTERM stops the server cleanly (exit status 0).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from typing import Any

if importlib.util.find_spec("uvicorn") is None or importlib.util.find_spec("starlette") is None:
    raise ImportError(
        "the simulator needs the 'simulator' extra: pip install 'kling-nb[simulator]'"
    )

__all__ = ["add_arguments", "serve", "simulator_settings"]


def _error_list(text: str) -> list[Any]:
    """``502,429`` or JSON such as ``[502, {"status": 502, "queued": true}]``."""
    text = text.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
        if not isinstance(value, list):
            raise argparse.ArgumentTypeError("give a JSON list")
        return value
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            'give statuses like 502,429 or a JSON list like \'[{"status": 502, "queued": true}]\''
        ) from None


# (flag, type, metavar, help); a type of None is an on/off switch.
_FAULT_FLAGS: tuple[tuple[str, Any, str | None, str], ...] = (
    ("enqueue_errors", _error_list, "LIST", "statuses for the next enqueue calls, e.g. 502,429"),
    ("poll_errors", _error_list, "LIST", "statuses for the next GET /api/ai/queue/{id} calls"),
    ("upload_errors", _error_list, "LIST", "statuses for the next file uploads"),
    ("events_drop_after", int, "N", "close every event stream after N events"),
    ("events_unavailable", None, None, "GET /api/events answers 404"),
    ("events_lose", int, "N", "the next N completion events are never sent"),
    ("events_duplicate", None, None, "send every completion event twice"),
    ("events_foreign", None, None, "mix in other event types and unknown generation ids"),
    ("fail_next", int, "N", "the next N generations fail"),
    ("fail_message", str, "TEXT", "error message for --fail-next"),
    ("stuck", None, None, "generations stay 'processing' for ever"),
    ("result_url_ttl_seconds", float, "S", "result URLs expire after S seconds (default 3600)"),
    ("upload_url_ttl_seconds", float, "S", "presigned file URLs expire after S seconds"),
    ("download_truncate", int, "N", "the next N downloads stop half way"),
    ("download_bytes_per_second", int, "N", "throttle result downloads"),
    ("result_size_bytes", int, "N", "pad every result MP4 to N bytes"),
    ("credits_usd", float, "USD", "account balance; costlier enqueues answer 402"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options to ``parser`` (the ``kling-nb simulator`` subcommand)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8765, help="port to bind; 0 picks a free one (default 8765)"
    )
    parser.add_argument(
        "--generation-seconds",
        type=float,
        default=2.0,
        metavar="S",
        help="how long each generation takes (default 2)",
    )
    parser.add_argument(
        "--keepalive-seconds",
        type=float,
        default=15.0,
        metavar="S",
        help="idle time between ': keep-alive' comments on /api/events (default 15)",
    )
    parser.add_argument(
        "--api-key",
        default=None,
        metavar="KEY",
        help="accept only this bearer key (default: any non-empty key)",
    )
    parser.add_argument(
        "--video-height",
        type=int,
        default=180,
        metavar="PX",
        help="frame height of the produced videos (default 180)",
    )
    parser.add_argument(
        "--reuse-videos",
        action="store_true",
        help="render one video per shape of request (aspect ratio, shots, audio) and give it "
        "to every generation of that shape: for load tests",
    )
    faults = parser.add_argument_group("faults (see kling_nb.simulator.faults)")
    for name, kind, metavar, text in _FAULT_FLAGS:
        flag = "--" + name.replace("_", "-")
        if kind is None:
            faults.add_argument(flag, dest=f"fault_{name}", action="store_true", help=text)
        else:
            faults.add_argument(
                flag, dest=f"fault_{name}", type=kind, metavar=metavar, default=None, help=text
            )


def fault_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The faults given on the command line (switches only when on)."""
    out: dict[str, Any] = {}
    for name, kind, _, _ in _FAULT_FLAGS:
        value = getattr(args, f"fault_{name}", None)
        if (kind is None and value) or (kind is not None and value is not None):
            out[name] = value
    return out


def simulator_settings(args: argparse.Namespace) -> dict[str, Any]:
    """``Simulator``'s keyword arguments from parsed options (also ``%kling simulator start``'s)."""
    return {
        "host": args.host,
        "port": args.port,
        "generation_seconds": args.generation_seconds,
        "keepalive_seconds": args.keepalive_seconds,
        "api_key": args.api_key,
        "video_height": args.video_height,
        "reuse_videos": args.reuse_videos,
        **fault_settings(args),
    }


def serve(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; 0 on a clean stop, 2 on a bad setting, 1 if it cannot bind."""
    from kling_nb.simulator.faults import FaultError
    from kling_nb.simulator.server import Simulator

    try:
        sim = Simulator(**simulator_settings(args))
    except FaultError as exc:
        print(f"kling-nb simulator: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"kling-nb simulator: cannot listen on {args.host}:{args.port} ({exc.strerror}); "
            "choose another --port, or --port 0 for a free one",
            file=sys.stderr,
        )
        return 1
    print(f"KLING_NB_BASE_URL={sim.base_url}", flush=True)
    print(
        f"kling-nb simulator: serving a local Oxen.ai API at {sim.base_url} "
        "(Ctrl+C to stop; export KLING_NB_BASE_URL=... and any OXEN_API_KEY to use it)",
        file=sys.stderr,
        flush=True,
    )
    sim.serve_forever()
    print("kling-nb simulator: stopped", file=sys.stderr, flush=True)
    return 0
