"""RequestForm: build a request in a form that validates as you type.

The browser sends the whole draft as one trait; Python turns it into a payload, validates it with
:class:`~kling_nb.requests.VideoRequest` (the one source of truth) and answers with per-field
errors, the cost estimate and the three exports. Submit sends the request through a client and
shows a :class:`JobView` under the form.
"""

from __future__ import annotations

import threading
from typing import Any

import anywidget
import ipywidgets
import traitlets as t
from pydantic import ValidationError

from kling_nb.widgets._draft import (
    draft_from_request,
    form_limits,
    model_choices,
    payload_from_draft,
)
from kling_nb.widgets._picker import Picker
from kling_nb.widgets._static import joined
from kling_nb.widgets.job_view import JobView, exports_for
from kling_nb.wording import sentence

__all__ = ["FormEditor", "RequestForm"]


class FormEditor(anywidget.AnyWidget):
    """The form itself (an anywidget); :class:`RequestForm` puts it above the job views."""

    _esm = joined("common.js", "picker.js", "inputs.js", "form.js")
    _css = joined("kling.css", "form.css")

    models = t.List(t.Dict()).tag(sync=True)
    limits = t.Dict().tag(sync=True)  # the request rules' numbers, from Python (one source)
    draft = t.Dict().tag(sync=True)
    validated_seq = t.Int(-1).tag(sync=True)
    valid = t.Bool(False).tag(sync=True)
    errors = t.Dict().tag(sync=True)
    cost = t.Unicode("").tag(sync=True)
    exports = t.Dict().tag(sync=True)
    notice = t.Unicode("").tag(sync=True)
    submitted = t.Int(0).tag(sync=True)


class RequestForm(ipywidgets.VBox):  # type: ignore[misc]
    """A request builder: ``RequestForm(client)``; ``form.request`` is the current VideoRequest.

    >>> form = RequestForm(client)  # doctest: +SKIP
    >>> form                          # fill it in, press Submit: a JobView appears below
    """

    children: tuple[Any, ...]

    def __init__(self, client: Any = None, *, draft: dict[str, Any] | None = None) -> None:
        self.editor = FormEditor(models=model_choices(), limits=form_limits())
        super().__init__(children=[self.editor])
        self._client = client
        self._lock = threading.Lock()
        self._request: Any = None
        self._num_generations = 1
        self.jobs: list[Any] = []
        self.editor.observe(self._on_draft, names="draft")
        self.editor.on_msg(self._on_msg)
        self._picker = Picker(lambda content, buffers: self.editor.send(content, buffers))
        self.editor.draft = draft if draft is not None else draft_from_request(None)

    @classmethod
    def from_request(
        cls, request: Any, num_generations: int = 1, client: Any = None
    ) -> RequestForm:
        """A form filled in from a :class:`~kling_nb.requests.VideoRequest`."""
        return cls(client, draft=draft_from_request(request, num_generations))

    @property
    def request(self) -> Any:
        """The current request as a VideoRequest; ValueError naming the problems if invalid."""
        if self._request is None:
            problems = " ".join(m for msgs in self.editor.errors.values() for m in msgs)
            raise ValueError(f"The form's request is not valid yet: {problems} Fix it in the form.")
        return self._request

    @property
    def num_generations(self) -> int:
        """The number of takes chosen in the form."""
        return self._num_generations

    def _on_draft(self, change: dict[str, Any]) -> None:
        self.validate(change["new"])

    def validate(self, draft: dict[str, Any]) -> dict[str, list[str]]:
        """Validate a draft and publish errors, cost and exports; returns the errors."""
        from kling_nb.local_images import LocalImageError, localize
        from kling_nb.requests import (
            VideoRequest,
            estimate_cost,
            field_errors,
            format_cost,
            validate_num_generations,
        )

        errors: dict[str, list[str]] = {}
        request = None
        try:
            n = validate_num_generations(draft.get("num_generations", 1))
        except ValueError as exc:
            errors["num_generations"] = [sentence(str(exc))]
            n = 1
        try:
            request = VideoRequest.model_validate(localize(payload_from_draft(draft)))
        except LocalImageError as exc:  # a typed path that is no usable image
            errors.setdefault("", []).append(str(exc))
        except ValidationError as exc:
            for path, messages in field_errors(exc).items():
                errors.setdefault(path, []).extend(messages)
        except ValueError as exc:  # e.g. an unknown model
            errors.setdefault("model", []).append(sentence(str(exc)))
        ok = not errors and request is not None
        with self._lock, self.editor.hold_sync():
            self._request = request if ok else None
            self._num_generations = n
            self.editor.errors = errors
            self.editor.valid = ok
            if request is not None:
                self.editor.cost = format_cost(estimate_cost(request, n)) + (
                    f" for {n} takes" if n > 1 else ""
                )
                self.editor.exports = exports_for(request, n)
            else:
                self.editor.cost = ""
                self.editor.exports = {}
            self.editor.validated_seq = int(draft.get("seq", 0))
        return errors

    def _on_msg(self, _widget: object, content: dict[str, Any], buffers: list[bytes]) -> None:
        if self._picker.handle(content, buffers):  # local files for image slots
            return
        if content.get("kind") != "submit":
            return
        try:
            self.submit(force=bool(content.get("force")))
        except Exception as exc:  # shown beside the button; a failed submit must not vanish
            self.editor.notice = f"{type(exc).__name__}: {sentence(str(exc))}"
        finally:
            self.editor.submitted += 1  # the button, disabled on click, comes back

    def submit(self, *, force: bool = False) -> Any:
        """Send the current request (as Submit does); returns the Job and shows its JobView.

        An unchanged request replays its recorded result (at no cost) once; submitting it again
        points at that view and sends nothing. ``force`` (the New take button) sends a new,
        billed take, as ``%%kling --force`` does.
        """
        from kling_nb.requests import estimate_cost, format_cost

        request, n = self.request, self._num_generations
        cost = format_cost(estimate_cost(request, n))
        last = self.jobs[-1] if self.jobs else None
        if last is not None and not force and _same(last, request, n):
            self.editor.notice = (
                f"Unchanged since job {last.id} above: nothing was sent. "
                f"New take sends it again, billed ({cost})."
            )
            return last
        client = self._client if self._client is not None else _default_client()
        job = client.submit(request, num_generations=n, force=force)
        self.jobs.append(job)
        view = JobView(job)
        earlier: list[Any] = list(self.children)[1:]
        self.children = (self.editor, view, *earlier)
        self.editor.notice = (
            "Replayed the recorded result of this unchanged request: nothing was sent, no cost. "
            f"New take makes another, billed ({cost})."
            if job.replayed
            else ""
        )
        return job


def _same(job: Any, request: Any, num_generations: int) -> bool:
    """Whether ``job`` was submitted for exactly this request and number of takes."""
    same_request = job.request.request_hash == request.request_hash
    return bool(same_request and job.num_generations == num_generations)


def _default_client() -> Any:
    """The notebook session's client, as ``%%kling`` uses (the simulator without OXEN_API_KEY)."""
    from kling_nb.active import current_session

    session = current_session()
    if session is None:
        raise ValueError(
            "This form has no client: create it with RequestForm(client=kling_nb.Client()), "
            "or run %load_ext kling_nb first to use the session's client."
        )
    return session.client()
