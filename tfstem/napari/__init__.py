"""tfstem in napari: a reader for EM files, "Restore" and "Train" widgets, and sample data.

Install with ``pip install 'tfstem[napari]'``; napari finds the plugin through the ``napari.manifest``
entry point (``tfstem/napari/napari.yaml``, npe2). In napari:

* **File > Open** reads ``.tif``, ``.mrc``, ``.emd``, ``.dm3``/``.dm4``, ``.ser``, ``.h5``, ``.npy``,
  ``.npz``, ... through :func:`tfstem.io.read_image`, with the pixel size as the layer's ``scale`` and its
  unit as the layer's ``units`` (:mod:`tfstem.napari.reader`);
* **Plugins > tfstem > Restore** restores a layer with a registry model, a trained one or a ``.keras``
  file, in a worker thread (:class:`tfstem.napari.restore_widget.RestoreWidget`);
* **Plugins > tfstem > Train** trains dual-channel Noise2Void or Noise2Atom on a layer within a minutes
  budget, with a live loss readout; the model is saved and offered by the Restore widget
  (:class:`tfstem.napari.train_widget.TrainWidget`);
* **File > Open Sample > tfstem** opens the example HAADF series and the ADF + BF video
  (:mod:`tfstem.napari.sample_data`).

The reader, the sample data and :mod:`tfstem.napari.trained_models` import neither napari nor Qt; the
widgets need both. TensorFlow is imported only when a widget starts a job, through
:func:`import_tensorflow`.
"""

import os
import sys

__all__ = ["import_tensorflow"]


def import_tensorflow():
    """Import TensorFlow so that it coexists with napari's OpenGL; return the module.

    Mesa's OpenGL drivers (llvmpipe on machines without a GPU, Xvfb, remote desktops, and Mesa's hardware
    drivers) load their own LLVM with ``RTLD_GLOBAL`` when napari first draws. TensorFlow bundles another
    LLVM; imported after Mesa's, its symbols bind to Mesa's copy and the process crashes (segmentation
    fault). Imported with ``RTLD_DEEPBIND`` (Linux/glibc), TensorFlow resolves its own symbols first and
    both work. The widgets call this in their worker thread before anything else imports TensorFlow; it
    does nothing when TensorFlow is already imported or the platform has no ``RTLD_DEEPBIND``.
    """
    if "tensorflow" in sys.modules or not hasattr(os, "RTLD_DEEPBIND") or not hasattr(sys, "setdlopenflags"):
        import tensorflow

        return tensorflow
    flags = sys.getdlopenflags()
    sys.setdlopenflags(flags | os.RTLD_DEEPBIND)
    try:
        import tensorflow
    finally:
        sys.setdlopenflags(flags)
    return tensorflow
