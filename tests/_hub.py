"""A tiny fake Oxen hub for ``httpx.MockTransport``: it records every request, answers the queue,
status, model and generate calls, serves results from ``cdn.test``, and lets a test override the
next answers of each route."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx

KEY = "sk-kling-FAKE-KEY-unit-3141"
BASE = "https://hub.test"
VIDEO = b"\x00\x00\x00\x18ftypmp42" + b"v" * 1000

Handler = Callable[[httpx.Request], httpx.Response]


class Hub:
    """A tiny fake hub: records requests; routes can be overridden per test."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.ids = ["gen-1"]
        self.result_url = "https://cdn.test/results/gen-1.mp4"
        self.enqueue: list[Handler] = []
        self.polls: list[Handler] = []
        self.downloads: list[Handler] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
        path, method = request.url.path, request.method
        if request.url.host == "cdn.test":
            if self.downloads:
                return self.downloads.pop(0)(request)
            return httpx.Response(200, content=VIDEO, headers={"content-type": "video/mp4"})
        if path == "/api/events":
            return httpx.Response(404, json={"error": {"title": "not found"}})
        if path == "/api/ai/queue" and method == "POST":
            if self.enqueue:
                return self.enqueue.pop(0)(request)
            rows = [{"generation_id": g, "status": "queued"} for g in self.ids]
            return httpx.Response(200, json={"generations": rows})
        if path == "/api/ai/queue" and method == "GET":
            if self.polls:
                return self.polls.pop(0)(request)
            return httpx.Response(200, json={"generations": []})
        if path.startswith("/api/ai/queue/") and method == "GET":
            gid = path.rsplit("/", 1)[1]
            row = {"generation_id": gid, "status": "succeeded", "result_url": self.result_url}
            return httpx.Response(200, json=row)
        if path == "/api/ai/models":
            model = {"id": "m1", "json_request_schema": {"type": "object"}}
            return httpx.Response(200, json={"object": "list", "data": [model]})
        if path == "/api/ai/videos/generate":
            return httpx.Response(200, json={"videos": [{"video_url": self.result_url}]})
        return httpx.Response(404, json={"error": {"title": "no route"}})

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]
