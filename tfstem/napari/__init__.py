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
widgets need both.
"""
