"""The simulator's videos play to the end in Debian's Chromium (the browser the notebooks use)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from kling_nb.simulator.video import render_video

FPS = 12
BASE: dict[str, Any] = {
    "model": "kling-video-o3-pro-reference-to-video",
    "prompt": "A red fox trots through fresh snow at dawn, breath steaming, golden light",
    "duration": 5,
}
MULTI: dict[str, Any] = {
    "model": "kling-video-o3-pro-reference-to-video",
    "multi_prompt": [
        {"prompt": "A lighthouse at night, waves crashing", "duration": 2},
        {"prompt": "A sailor walks along the pier", "duration": 3},
    ],
    "generate_audio": True,
}


def with_(payload: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**payload, **changes}


@pytest.mark.browser
def test_clips_play_to_the_end_in_chromium(browser: Any) -> None:
    """Chromium (Debian's, via Playwright) plays plain, multi-shot, audio and padded clips."""
    clips = {
        "audio": (render_video(with_(BASE, duration=2, generate_audio=True)), (320, 180), 2),
        "multi": (
            render_video(
                with_(
                    MULTI,
                    aspect_ratio="9:16",
                    multi_prompt=[{"prompt": "a", "duration": 1}, {"prompt": "b", "duration": 2}],
                )
            ),
            (102, 180),
            3,
        ),
        "padded": (
            render_video(with_(BASE, duration=2, aspect_ratio="1:1"), pad_to=3_000_000),
            (180, 180),
            2,
        ),
        "mdat grown by 3 bytes": (
            render_video(
                with_(BASE, duration=1), pad_to=len(render_video(with_(BASE, duration=1))) + 3
            ),
            (320, 180),
            1,
        ),
    }
    play = """async (b64) => {
      const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
      const v = document.createElement('video');
      v.muted = true;
      v.defaultPlaybackRate = 4;
      v.playbackRate = 4;
      document.body.appendChild(v);
      v.src = URL.createObjectURL(new Blob([bytes], {type: 'video/mp4'}));
      return await new Promise(done => {
        v.onerror = () => done({error: v.error ? v.error.message : 'unknown'});
        v.onended = () => done({duration: v.duration, w: v.videoWidth, h: v.videoHeight,
                                frames: v.getVideoPlaybackQuality().totalVideoFrames});
        v.play().catch(e => done({error: String(e)}));
        setTimeout(() => done({error: 'timeout at ' + v.currentTime}), 15000);
      });
    }"""
    page = browser.new_page()
    try:
        page.set_content("<html><body></body></html>")
        results = {
            name: page.evaluate(play, base64.b64encode(data).decode())
            for name, (data, _, _) in clips.items()
        }
    finally:
        page.context.close()
    for name, (_, (w, h), seconds) in clips.items():
        result = results[name]
        assert "error" not in result, (name, result)
        assert (result["w"], result["h"]) == (w, h), name
        assert abs(result["duration"] - seconds) <= 1 / FPS, (name, result)
        assert result["frames"] >= seconds * FPS - 1, (name, result)


@pytest.mark.browser
@pytest.mark.slow
def test_a_4k_take_from_the_simulator_plays_in_chromium(browser: Any, tmp_path: Any) -> None:
    """A real 3840x2160 clip (the 4K model, ``video_height=2160``, the CLI's --video-height)
    made through the client plays to its end in Chromium."""
    import kling_nb
    from kling_nb.simulator import run

    with run(video_height=2160) as sim:
        client = kling_nb.Client(
            api_key="sk-test", base_url=sim.base_url, outputs_dir=tmp_path, simulated=True
        )
        try:
            request = kling_nb.VideoRequest(model="o3-4k", prompt="A 4K test card", duration=3)
            job = client.submit(request).wait(300)
        finally:
            client.close()
    [result] = job.results
    page = browser.new_page()
    try:
        page.set_content("<html><body></body></html>")
        played = page.evaluate(
            """async (b64) => {
          const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
          const v = document.createElement('video');
          v.muted = true;
          document.body.appendChild(v);
          v.src = URL.createObjectURL(new Blob([bytes], {type: 'video/mp4'}));
          return await new Promise(done => {
            v.onerror = () => done({error: v.error ? v.error.message : 'unknown'});
            v.onended = () => done({w: v.videoWidth, h: v.videoHeight, duration: v.duration,
                                    frames: v.getVideoPlaybackQuality().totalVideoFrames});
            v.play().catch(e => done({error: String(e)}));
          });
        }""",
            base64.b64encode(result.path.read_bytes()).decode(),
        )
    finally:
        page.context.close()
    assert "error" not in played, played
    assert (played["w"], played["h"]) == (3840, 2160)
    assert abs(played["duration"] - 3.0) <= 1 / FPS and played["frames"] > 0
