"""What several model formats share, read under convkit's limits: the containers their bytes sit in.

- :mod:`~convkit.containers.hdf5`: HDF5 files (``.h5``, a ``.keras`` archive's weights) and the Keras weight
  layouts in them, walked with size and object-count limits always on.
- :mod:`~convkit.containers.isolate`: HDF5 structures read in a child process with a deadline.
- :mod:`~convkit.containers.tensor_bundle`: TensorFlow's tensor bundle (checkpoints, SavedModel variables).
- :mod:`~convkit.containers.protobuf`: TensorFlow's protobuf messages without TensorFlow.
- :mod:`~convkit.containers.zip`: zip archives, read in place, never extracted.
- :mod:`~convkit.containers.limits`: every size limit; :mod:`~convkit.containers.files`: regular files only.
- :mod:`~convkit.containers.tensors`: element counts, dtype sizes and statistics of plain tensors.
"""
