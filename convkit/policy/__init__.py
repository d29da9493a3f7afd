"""What may run when a model file is loaded: the one policy ``inspect``, ``convert`` and ``check`` apply.

- :mod:`~convkit.policy.code`: what counts as code in a Keras config.
- :mod:`~convkit.policy.graph_ops`: ops in a SavedModel graph that reach files, processes or Python.
- :mod:`~convkit.policy.shipped`: the classes Keras ships without exporting, found in Keras' own modules.
- :mod:`~convkit.policy.safe_mode`: ``--unsafe`` scoped to one load (Keras safe mode), and plain loads.
- :mod:`~convkit.policy.screening`: the one screening of a file, with the layer cap, before any runtime sees it.
"""
