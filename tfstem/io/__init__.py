"""Reading and writing electron-microscopy images, keeping the pixel size and its unit.

Formats
-------
Read: TIFF stacks and ImageJ/Fiji hyperstacks (tifffile), PNG/JPEG (imageio), NumPy ``.npy``/``.npz``,
HDF5 ``.h5``/``.hdf5`` (h5py), MRC (mrcfile), and through RosettaSciIO (the optional extra
``pip install 'tfstem[em]'``) ``.dm3``, ``.dm4``, ``.ser``, ``.emd`` and ``.hspy``.
Write: ``.tif``/``.tiff``, ``.npy``, ``.npz``, ``.h5``/``.hdf5``, ``.mrc``, and with RosettaSciIO ``.emd``
(NCEM) and ``.hspy``. ``.dm3``, ``.dm4``, ``.ser``, PNG and JPEG are read only.

Pixel size and unit
-------------------
Every reader returns the pixel size and unit the file records and every writer stores them so that the
reader gives them back. Units are normalised by :func:`normalize_unit`: ``"um"``, ``"μm"`` (Greek mu),
``"micron"``, ``"\\u00B5m"`` -> ``"µm"`` (micro sign, as ImageJ spells it); ``"A"``, ``"angstrom"``,
``"Å"`` (Angstrom sign) -> ``"Å"``; other length units to ``pm``, ``nm``, ``mm``, ``cm``, ``m``,
``inch``; anything else is kept as written. Per format:

* TIFF: ImageJ hyperstack; the pixel size in the XResolution/YResolution tags (pixels per unit,
  ResolutionUnit NONE) and the unit in the ImageJ description, as Fiji writes it: ``unit=micron`` for µm
  (ASCII: every ImageJ version and ``tifffile``'s ``imagej_metadata`` read it), other non-ASCII characters
  escaped as ImageJ's own ``FileSaver`` does (``unit=\\u00C5`` for Å), which Fiji decodes and so does this
  reader. A TIFF whose ResolutionUnit is CENTIMETER or INCH (without an ImageJ unit) is converted to a
  metric length: the largest of nm, µm, mm in which the size is at least 1, else nm.
* MRC records Å only: the reader returns Å; the writer converts any length unit to Å and refuses a pixel
  size whose unit is missing or not a length.
* HDF5: attributes ``pixel_size`` and ``unit`` of the image dataset. ``.npz``: arrays ``pixel_size`` and
  ``unit``, or one array ``pixel_size_<unit>`` (as in ``examples/data/*.npz``). ``.npy`` has no metadata.
* ``.emd``/``.hspy``: the scale and units of the two image axes (RosettaSciIO's axes dictionaries); a
  pixel size needs a unit there.

A pixel size without a unit is kept without one (never relabelled ``nm``); a unit without a pixel size
is refused.

Shapes
------
Images are ``[H, W]``, ``[N, H, W]``, ``[H, W, C]`` or ``[N, H, W, C]``; a 3-D array whose last axis has
at most 4 entries is ``[H, W, C]`` (the rule of :mod:`tfstem.restore`). TIFF keeps every one of these
shapes, ``C = 1`` included; ImageJ/Fiji hyperstacks (``TCYX``, ``CYX``, ``ZCYX``) come out channels last.
MRC, ``.emd`` and ``.hspy`` hold ``[H, W]`` and ``[N, H, W]``: a single channel is written without its
channel axis, several are refused.

Series
------
:func:`read_series` reads the series a trainer or a command takes (``[N, H, W]`` or ``[N, H, W, C]``, as
stored) and :func:`as_series` is the one validator of frames and series (float32 ``[N, H, W, C]``): every
user of a series calls it, or :func:`series_view` (the same checks, a view in the caller's dtype) when it
computes in float64.

Modules
-------
:mod:`~tfstem.io.readers` (:func:`read_image`), :mod:`~tfstem.io.writers` (:func:`write_image`),
:mod:`~tfstem.io.tiff` (TIFF both ways), :mod:`~tfstem.io.units` (units and pixel sizes),
:mod:`~tfstem.io.image` (:class:`Image`, shapes), :mod:`~tfstem.io.formats` (suffixes),
:mod:`~tfstem.io.series` (series).
"""

from __future__ import annotations

from tfstem.io.formats import IMAGE_ARRAY_NAMES, READ_FORMATS, WRITE_FORMATS
from tfstem.io.image import Image, move_channels_last
from tfstem.io.readers import check_readable, read_image
from tfstem.io.series import as_series, read_series, series_view
from tfstem.io.units import LENGTH_UNITS, convert_length, normalize_unit
from tfstem.io.writers import check_writable_format, write_image

__all__ = ["Image", "read_image", "write_image", "READ_FORMATS", "WRITE_FORMATS", "check_readable",
           "check_writable_format", "move_channels_last", "normalize_unit", "convert_length", "LENGTH_UNITS",
           "IMAGE_ARRAY_NAMES", "read_series", "as_series", "series_view"]
