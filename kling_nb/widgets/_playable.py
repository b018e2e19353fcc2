"""A copy of a result whose sound VS Code can play: the same H.264 video with MP3 audio.

VS Code's Electron build decodes H.264, MP3, Vorbis, FLAC and WAV but not AAC or Opus (a licensing
decision, microsoft/vscode#162062): a Kling clip made with ``generate_audio`` (AAC) plays silent
there. An MP4 of H.264 and MP3 plays with sound there and in every browser, so the copy keeps
the video stream as it is (no re-encoding) and re-encodes only the audio, with PyAV.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SILENT_IN_VSCODE", "copy_path", "make_copy"]

SILENT_IN_VSCODE = frozenset({"aac", "opus"})
_SUFFIX = ".mp3.mp4"


def copy_path(original: Path) -> Path:
    """Where the copy of ``original`` lives: beside it, ``take.mp4`` -> ``take.mp3.mp4``."""
    return original.with_name(original.stem + _SUFFIX)


def make_copy(original: Path) -> Path:
    """Write the copy (once; an existing one is kept) and return its path.

    Written to a temporary name and renamed, so a copy that exists is whole.
    """
    target = copy_path(original)
    if target.is_file():
        return target
    try:
        import av
    except ImportError:
        raise RuntimeError(
            "Making a copy with MP3 sound needs PyAV: pip install 'kling-nb[simulator]' or av"
        ) from None
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        with (
            av.open(str(original)) as source,
            av.open(str(partial), "w", format="mp4", options={"movflags": "+faststart"}) as out,
        ):
            if not source.streams.video or not source.streams.audio:
                raise RuntimeError(f"{original.name} has no video and audio to copy.")
            video_in, audio_in = source.streams.video[0], source.streams.audio[0]
            video_out = out.add_stream_from_template(video_in)
            audio_out = out.add_stream("libmp3lame", rate=audio_in.rate, layout=audio_in.layout)
            for packet in source.demux(video_in, audio_in):
                if packet.dts is None:  # the demuxer's end-of-stream marker
                    continue
                if packet.stream is video_in:
                    packet.stream = video_out
                    out.mux(packet)
                    continue
                for frame in packet.decode():
                    assert isinstance(frame, av.AudioFrame)
                    frame.pts = None  # the encoder re-frames 1024-sample AAC into 1152-sample MP3
                    out.mux(audio_out.encode(frame))
            out.mux(audio_out.encode(None))
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target
