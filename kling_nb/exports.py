"""A request as something to paste elsewhere: a ``%%kling`` cell, a Python script, a cURL command.

The scripts look like the seeds' examples and read the key from the environment
(``os.environ["OXEN_API_KEY"]`` / ``$OXEN_API_KEY``); no export ever contains a key.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import TYPE_CHECKING, Any, Literal

from kling_nb.local_images import local_tokens, lookup, map_references, parse_token
from kling_nb.rules import validate_num_generations

if TYPE_CHECKING:
    from kling_nb.requests import VideoRequest

__all__ = [
    "BASE_URL",
    "ENDPOINTS",
    "MAGIC_FIELDS",
    "all_exports",
    "body_for",
    "to_curl",
    "to_magic",
    "to_python",
]

BASE_URL = "https://hub.oxen.ai"
ENDPOINTS: dict[str, str] = {"queue": "/api/ai/queue", "sync": "/api/ai/videos/generate"}
Endpoint = Literal["queue", "sync"]

#: Fields ``%%kling`` has options for; anything else needs the Python or cURL export.
MAGIC_FIELDS = frozenset(
    {
        "model",
        "prompt",
        "multi_prompt",
        "duration",
        "input_image",
        "elements",
        "start_image_url",
        "tail_image_url",
        "negative_prompt",
        "aspect_ratio",
        "generate_audio",
    }
)
# What the magic's body grammar reads as a shot marker, or refuses as a near miss ("[5 s]"),
# at the start of a stripped line (kling_nb.body).
_SHOT_HEADER = re.compile(r"\[\s*[0-9]+\s*(?:s|sec|secs|second|seconds)?\s*\]", re.IGNORECASE)


def body_for(request: VideoRequest, endpoint: Endpoint, num_generations: int = 1) -> dict[str, Any]:
    """The JSON body to send: the request's payload, plus ``num_generations`` when queueing more
    than one (the sync endpoint makes exactly one)."""
    count = validate_num_generations(num_generations)
    if endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint must be 'queue' or 'sync', not {endpoint!r}")
    body = request.payload()
    if count != 1:
        if endpoint == "sync":
            raise ValueError(
                "The sync endpoint makes one video; use endpoint='queue' for num_generations > 1."
            )
        body["num_generations"] = count
    return body


def _local_path(token: str) -> str:
    """The file a local image token came from, as the user wrote it; else its name."""
    parsed = parse_token(token)
    assert parsed is not None
    image = lookup(parsed[0])
    return image.given if image is not None and image.given else parsed[1]


def _upload_note(tokens: list[str]) -> str:
    """cURL: the local files must be uploaded first, and how."""
    repo = f"{BASE_URL}/api/repos/$NAMESPACE/playground"
    auth = '-H "Authorization: Bearer $OXEN_API_KEY"'
    lines = [
        "# Local files: each must be uploaded first (to one of your Oxen.ai repositories) and",
        "# its local:sha256:... value below replaced by the URL the second command answers:",
    ]
    for token in tokens:
        lines += [
            f"#   curl -X POST {repo}/workbench/context {auth} \\",
            f"#     -F {shlex.quote('file=@' + _local_path(token))} -F directory=kling_nb",
            f"#   curl {repo}/file/presigned_url/main/ASSET_PATH {auth}",
        ]
    lines.append("# (ASSET_PATH: the asset_path the upload answers; the URL lasts about an hour.)")
    return "\n".join(lines) + "\n"


def to_curl(request: VideoRequest, endpoint: Endpoint = "queue", num_generations: int = 1) -> str:
    """A cURL command like the seeds' examples; the key is read from ``$OXEN_API_KEY``. Local
    images are left as tokens, with a note on uploading them first."""
    payload = body_for(request, endpoint, num_generations)
    tokens = local_tokens(payload)
    body = _json(payload, indent=2)
    return (
        (_upload_note(tokens) if tokens else "")
        + f"curl -X POST {BASE_URL}{ENDPOINTS[endpoint]} \\\n"
        '  -H "Authorization: Bearer $OXEN_API_KEY" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f"  -d {shlex.quote(body)}\n"
    )


class _Code(str):
    """Python source to put in a literal as it is (a call, not a string)."""


_UPLOAD = f'''
API = "{BASE_URL}/api"
HEADERS = {{"Authorization": f"Bearer {{os.environ['OXEN_API_KEY']}}"}}


def upload(path, repo="playground"):
    """Upload a local image to your Oxen.ai repository; a URL the model can fetch for an hour."""
    user = requests.get(f"{{API}}/users/me", headers=HEADERS).json()["user"]["username"]
    base = f"{{API}}/repos/{{user}}/{{repo}}"
    if requests.get(base, headers=HEADERS).status_code == 404:
        requests.post(
            f"{{API}}/repos/",
            headers=HEADERS,
            json={{"name": repo, "namespace": user, "visibility": "private"}},
        ).raise_for_status()
    with open(path, "rb") as f:
        answer = requests.post(
            f"{{base}}/workbench/context",
            headers=HEADERS,
            files={{"file": (os.path.basename(path), f, mimetypes.guess_type(path)[0])}},
            data={{"directory": "kling_nb"}},
        )
    answer.raise_for_status()
    asset = answer.json()["asset_path"]
    answer = requests.get(f"{{base}}/file/presigned_url/main/{{asset}}", headers=HEADERS)
    answer.raise_for_status()
    return answer.json()["url"]


'''


def to_python(request: VideoRequest, endpoint: Endpoint = "queue", num_generations: int = 1) -> str:
    """A script using ``requests``, like the seeds' examples; the key comes from the environment.
    Local images are uploaded first by an ``upload(path)`` function in the script."""
    payload = body_for(request, endpoint, num_generations)
    local = bool(local_tokens(payload))
    if local:
        payload = map_references(
            payload,
            lambda v: (
                _Code(f"upload({_python_string(_local_path(v))})") if parse_token(str(v)) else v
            ),
        )
    body = _python_literal(payload, indent=1)
    if endpoint == "queue":
        handle = (
            'for g in response.json()["generations"]:\n'
            "    print(f\"ID: {g['generation_id']}, Status: {g['status']}\")\n"
        )
    elif request.response_format == "b64_json":
        handle = (
            'video = base64.b64decode(response.json()["videos"][0]["b64_json"])\n'
            'with open("video.mp4", "wb") as f:\n'
            "    f.write(video)\n"
            'print("Saved video.mp4")\n'
        )
    else:
        handle = 'print("Video URL:", response.json()["videos"][0]["url"])\n'
    imports = "import base64\nimport os\n" if "base64" in handle else "import os\n"
    if local:
        imports = imports.replace("import os\n", "import mimetypes\nimport os\n")
    return (
        f"{imports}\n"
        "import requests\n" + (_UPLOAD if local else "\n") + "response = requests.post(\n"
        f'    "{BASE_URL}{ENDPOINTS[endpoint]}",\n'
        "    headers={\n"
        '        "Authorization": f"Bearer {os.environ[\'OXEN_API_KEY\']}",\n'
        '        "Content-Type": "application/json",\n'
        "    },\n"
        f"    json={body},\n"
        ")\n"
        "response.raise_for_status()\n"
        f"{handle}"
    )


def _json(value: object, indent: int | None = None) -> str:
    """JSON keeping non-ASCII text readable (a request holds no lone surrogate, which UTF-8
    could not encode: validation refuses one)."""
    return json.dumps(value, indent=indent, ensure_ascii=False)


def _python_string(text: str) -> str:
    return _json(text)  # JSON string escapes are Python escapes too


def _python_literal(value: object, indent: int) -> str:
    """``value`` as Python source in the seeds' style: double quotes, 4-space indents."""
    pad, inner = "    " * indent, "    " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [
            f"{inner}{_python_string(k)}: {_python_literal(v, indent + 1)},"
            for k, v in value.items()
        ]
        return "{\n" + "\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list):
        if not value:
            return "[]"
        items = [f"{inner}{_python_literal(v, indent + 1)}," for v in value]
        return "[\n" + "\n".join(items) + f"\n{pad}]"
    if isinstance(value, _Code):
        return str(value)
    if isinstance(value, str):
        return _python_string(value)
    return repr(value)  # bool, None, int, float: Python's spelling (True, not true)


def _magic_text(text: str) -> str:
    """The magic formats ``{name}`` from the user's namespace: literal braces are doubled."""
    return text.replace("{", "{{").replace("}", "}}")


def _option(flag: str, value: object) -> str:
    """``flag value`` for the magic's line, which IPython expands (``$name``, ``{name}``) before
    the magic splits it the shell's way. Each ``$`` ends a quoted piece, so it is never followed
    by a name IPython would expand; braces are doubled. Long options take ``--flag=value``, so
    a value starting with ``-`` is not read as an option."""
    text = str(value)
    if text.splitlines() not in ([], [text]):
        raise ValueError(
            f"{flag} takes one line, and this value has a line break: use to_python() or "
            "to_curl() for this request."
        )
    pieces = [shlex.quote(piece) for piece in re.split(r"(?<=\$)", text) if piece]
    quoted = _magic_text("".join(pieces) or shlex.quote(""))
    return f"{flag}={quoted}" if flag.startswith("--") else f"{flag} {quoted}"


def _as_given(reference: str) -> str:
    """A reference for the magic: a local image as the path it was read from, when known."""
    return _local_path(reference) if parse_token(reference) else reference


def to_magic(request: VideoRequest, num_generations: int = 1) -> str:
    """The request as a ``%%kling`` cell: options on the first line, the prompt (or one
    ``[Ns] prompt`` line per shot) below. ``ValueError`` if the magic has no option for a field."""
    count = validate_num_generations(num_generations)
    payload = request.payload()
    missing = sorted(k for k, v in payload.items() if v is not None and k not in MAGIC_FIELDS)
    if missing:
        raise ValueError(
            f"%%kling has no option for {', '.join(map(repr, missing))}: "
            "use to_python() or to_curl() for this request."
        )
    options = [_option("-m", request.spec.alias)]
    if request.duration is not None and request.prompt is not None:
        options.append(_option("-d", request.duration))
    if request.aspect_ratio is not None:
        options.append(_option("-a", request.aspect_ratio))
    if request.generate_audio:
        options.append("--audio")
    options += [_option("-i", _as_given(url)) for url in request.images]
    for element in request.elements or []:
        urls = [_as_given(u) for u in (element.frontal_image_url, *element.reference_image_urls)]
        if any("," in url for url in urls):
            raise ValueError("--element separates URLs with commas; a URL here contains one.")
        options.append(_option("--element", ",".join(urls)))
    if request.start_image_url is not None:
        options.append(_option("--start", _as_given(request.start_image_url)))
    if request.tail_image_url is not None:
        options.append(_option("--end", _as_given(request.tail_image_url)))
    if request.negative_prompt is not None:
        options.append(_option("--negative", request.negative_prompt))
    if count != 1:
        options.append(_option("-n", count))
    if request.multi_prompt:
        body = [f"[{shot.duration}s] {shot.prompt}" for shot in request.multi_prompt]
    else:
        body = [request.prompt or ""]
    prompts = [shot.prompt for shot in request.multi_prompt or []]
    if request.prompt is not None:
        prompts.append(request.prompt)
    if any(not text.strip() for text in prompts):
        raise ValueError(
            "%%kling cannot write a blank prompt (its parser drops the blank space around a "
            "prompt): use to_python() or to_curl() for this request."
        )
    for block in body:
        lines = block.splitlines()
        if any(_SHOT_HEADER.match(line.strip()) for line in lines[1:]) or (
            not request.multi_prompt and _SHOT_HEADER.match(lines[0].strip())
        ):
            raise ValueError(
                "A prompt line starts like a shot header ('[5s] '), which %%kling would read as "
                "a new shot: use to_python() or to_curl() for this request."
            )
    return "%%kling " + " ".join(options) + "\n" + _magic_text("\n".join(body)) + "\n"


def all_exports(
    request: VideoRequest, num_generations: int = 1, endpoint: Endpoint = "queue"
) -> dict[str, str]:
    """``{"magic", "python", "curl"}`` texts for a view that shows all three. Where ``%%kling``
    cannot say the request, ``"magic"`` holds a one-line ``#`` comment saying why, not a cell."""
    try:
        magic = to_magic(request, num_generations)
    except ValueError as exc:
        magic = f"# Not expressible as a %%kling cell: {exc}\n"
    return {
        "magic": magic,
        "python": to_python(request, endpoint, num_generations),
        "curl": to_curl(request, endpoint, num_generations),
    }
