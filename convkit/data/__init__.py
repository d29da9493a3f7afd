"""What models are fed: the user's data loaded and fitted to a model's inputs, or sample inputs made from them.

One loader (:func:`~convkit.data.loader.load_inputs`) serves ``check --inputs``,
``convert --calibrate`` and the Python API: ``.npz``/``.npy`` arrays
(:mod:`~convkit.data.arrays`), folders and globs of images decoded with Pillow
(:mod:`~convkit.data.images`, preprocessed by :mod:`~convkit.data.preprocess`),
CSV tables (:mod:`~convkit.data.tables`); without data, the bundled MNIST digits
or seeded random samples (:mod:`~convkit.data.samples`). What a copy whose
tensors are quantized or transposed is fed, and how its outputs come back, is
:mod:`~convkit.data.adapt`. Nothing here imports a runtime or an engine.
"""
