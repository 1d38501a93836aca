"""napari sample data: the example HAADF series and ADF + BF video that ship with tfstem.

Both files are copies of ``examples/data/noise2atom_series.tif`` (Noise2Atom's simulated Pt-on-carbon
HAADF movie, 40 x 256 x 256 uint16 counts, 0.04 nm pixels; ``examples/make_noise2atom_series.py``) and
``examples/data/n2v_dual_channel_video.npz`` (the simulated adatoms-on-graphene ADF + BF video,
48 x 128 x 128 x 2, 0.025 nm pixels; ``examples/make_n2v_video.py``), kept in ``tfstem/napari/data/`` as
package data so that a wheel has them (``examples/`` is not installed); ``tests/napari`` checks that the
copies equal the originals byte for byte.
"""

from __future__ import annotations

from pathlib import Path

from tfstem import io
from tfstem.napari.reader import layer_data

__all__ = ["DATA_DIR", "noise2atom_series", "n2v_dual_channel_video"]

#: Where the sample files are (package data).
DATA_DIR = Path(__file__).resolve().parent / "data"


def _sample(file_name: str, name: str, channel_names=None) -> list[tuple]:
    path = DATA_DIR / file_name
    return layer_data(io.read_image(path), name, str(path), channel_names)


def noise2atom_series() -> list[tuple]:
    """The simulated low-dose HAADF series: one ``[40, 256, 256]`` uint16 layer, scale 0.04 nm."""
    return _sample("noise2atom_series.tif", "noise2atom series")


def n2v_dual_channel_video() -> list[tuple]:
    """The simulated ADF + BF video: two ``[48, 128, 128]`` float16 layers, ``[ADF]`` and ``[BF]``, 0.025 nm.

    The ``.npz`` also holds the noise-free ``clean`` frames; only the ``noisy`` ones are opened.
    """
    return _sample("n2v_dual_channel_video.npz", "n2v video", ("ADF", "BF"))
