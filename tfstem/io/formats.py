"""The file formats :mod:`tfstem.io` reads and writes, by suffix, and the RosettaSciIO plugin of each."""

from __future__ import annotations

__all__ = ["READ_FORMATS", "WRITE_FORMATS", "TIFF_SUFFIXES", "HDF5_SUFFIXES", "RSCIIO_READERS", "RSCIIO_WRITERS",
           "IMAGE_ARRAY_NAMES", "rsciio_module"]

RSCIIO_READERS = {".dm3": "digitalmicrograph", ".dm4": "digitalmicrograph", ".emd": "emd", ".ser": "tia",
                   ".hspy": "hspy"}
RSCIIO_WRITERS = {".emd": "emd", ".hspy": "hspy"}
TIFF_SUFFIXES = (".tif", ".tiff")
HDF5_SUFFIXES = (".h5", ".hdf5")
READ_FORMATS = (TIFF_SUFFIXES + (".png", ".jpg", ".jpeg", ".npy", ".npz") + HDF5_SUFFIXES + (".mrc",)
                + tuple(RSCIIO_READERS))
WRITE_FORMATS = TIFF_SUFFIXES + (".npy", ".npz") + HDF5_SUFFIXES + (".mrc",) + tuple(RSCIIO_WRITERS)

#: Names of the array that holds the image in an HDF5 file or an ``.npz`` archive, in order of preference.
IMAGE_ARRAY_NAMES = ("data", "image", "images", "frames", "x", "noisy", "clean")


def rsciio_module(path, plugins):
    """The RosettaSciIO plugin for ``path``'s suffix in ``plugins``; without it an ImportError naming the extra."""
    try:
        return __import__(f"rsciio.{plugins[path.suffix.lower()]}", fromlist=["file_reader"])
    except ImportError as error:
        raise ImportError(f"{path.suffix} files need RosettaSciIO: pip install 'tfstem[em]'") from error
