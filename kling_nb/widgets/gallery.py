"""Gallery: the ledger's saved results as a grid of videos, to browse and compare takes.

Built from the ledger files alone, so it works after a restart without any job in memory. Each card
carries its prompt, model, take, length, cost, date and the request as a ``%%kling`` cell; the
browser asks for a video's bytes only when its card scrolls into view (a gallery of 200 results
does not load 200 videos), and compares two to four results side by side with one play, pause and
seek for all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anywidget
import traitlets as t

from kling_nb.takes import Take, default_outputs, ledger_records, model_alias, takes
from kling_nb.widgets._media import video_mime
from kling_nb.widgets._static import joined

__all__ = ["Gallery", "gallery"]


def _card(take: Take) -> dict[str, Any]:
    from kling_nb.requests import VideoRequest, format_cost

    try:
        magic = VideoRequest.recorded(take.request).to_magic(num_generations=1)
    except ValueError as exc:  # a model or parameter the cell cannot say
        magic = f"# {exc}"
    return {
        "key": f"{take.job_id}-{take.take}",
        "job_id": take.job_id,
        "take": take.take,
        "takes": take.takes,
        "model": take.model,
        "prompt": take.prompt,
        "seconds": take.seconds,
        "cost": format_cost(take.cost),
        "created": take.created.strftime("%Y-%m-%d %H:%M"),
        "path": take.path or "",
        "simulated": take.simulated,
        "magic": magic,
    }


class Gallery(anywidget.AnyWidget):
    """A grid of saved results (latest first); see :func:`gallery`."""

    _esm = joined("common.js", "gallery.js")
    _css = joined("kling.css", "gallery.css")

    cards = t.List(t.Dict()).tag(sync=True)
    heading = t.Unicode("").tag(sync=True)

    def __init__(self, found: list[Take], heading: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._paths = {f"{x.job_id}-{x.take}": Path(x.path or "").absolute() for x in found}
        self.cards = [_card(x) for x in found]
        self.heading = heading
        self.on_msg(self._on_msg)

    def _on_msg(self, _widget: object, content: dict[str, Any], _buffers: list[bytes]) -> None:
        if content.get("kind") != "video":
            return
        key = str(content.get("key", ""))
        reply: dict[str, Any] = {"kind": "video-response", "id": content.get("id"), "key": key}
        path = self._paths.get(key)
        if path is None:
            self.send({**reply, "error": "No such result in this gallery."})
            return
        try:
            data = path.read_bytes()
        except OSError as exc:
            self.send({**reply, "error": f"Cannot read {path}: {exc.strerror}."})
            return
        self.send({**reply, "mime": video_mime(path)}, buffers=[data])


def gallery(
    outputs_dir: str | Path | None = None,
    *,
    last: int | None = None,
    model: str | None = None,
    search: str | None = None,
) -> Gallery:
    """The saved results of the ledger in ``outputs_dir`` (default: the session's), latest first.

    ``last`` keeps the latest N, ``model`` one model (id or alias), ``search`` the prompts that
    contain the text (any case)::

        kling_nb.gallery(last=20, search="lighthouse")
    """
    if last is not None and last < 1:
        raise ValueError(f"last is {last}; give a number of results, 1 or more.")
    folder = outputs_dir or default_outputs()
    found = [x for x in takes(ledger_records(folder)) if x.path and Path(x.path).is_file()]
    if model is not None:
        from kling_nb.catalog import get_model

        wanted = model_alias(get_model(model).id)  # an unknown model says which exist
        found = [x for x in found if x.model == wanted]
    if search:
        found = [x for x in found if search.lower() in x.prompt.lower()]
    found.sort(key=lambda x: (x.created, -x.take), reverse=True)  # latest job first
    if last is not None:
        found = found[:last]
    filters = [f"model {model}" if model else "", f"matching {search!r}" if search else ""]
    said = " ".join(f for f in filters if f)
    count = f"{len(found)} saved result{'' if len(found) == 1 else 's'}"
    heading = f"{count}{' ' + said if said else ''} in {folder}"
    return Gallery(found, heading)
