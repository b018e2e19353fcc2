"""The sample reference images (``simulator/samples.py``): PNGs large enough for Kling, distinct,
served at ``/_simulator/samples/NAME.png``."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from kling_nb.local_images import load
from kling_nb.simulator import Simulator
from kling_nb.simulator.samples import SAMPLE_NAMES, sample_png


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_images_are_served_as_png(sim: Simulator, name: str) -> None:
    response = httpx.get(sim.sample_url(name))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG" and image.size == (512, 512)
    load(response.content, name=f"{name}.png")  # within Kling's limits (300 px and more)


def test_samples_are_distinct_and_unknown_ones_refused(sim: Simulator) -> None:
    pngs = {httpx.get(sim.sample_url(name)).content for name in SAMPLE_NAMES}
    assert len(pngs) == len(SAMPLE_NAMES)
    assert httpx.get(f"{sim.base_url}/_simulator/samples/cat.png").status_code == 404
    with pytest.raises(ValueError, match="unknown sample 'cat'"):
        sim.sample_url("cat")


def test_the_served_samples_are_the_drawn_ones_and_unknown_names_are_key_errors(
    sim: Simulator,
) -> None:
    for name in SAMPLE_NAMES:
        assert httpx.get(sim.sample_url(name)).content == sample_png(name)
    with pytest.raises(KeyError):
        sample_png("cat")
