"""Graph-level models in memory: GraphDefs, MetaGraphs and TF.js graph topologies read as data.

What the Keras model is to :mod:`convkit.keras_model`, a frozen TensorFlow graph
is here: every graph-level format (a frozen ``.pb``, a TF1 checkpoint's
``.meta``, a TF.js graph model, the pre-1.0 TF.js ``tensorflowjs_model.pb``, a
TF1 SavedModel) comes down to one :class:`~convkit.graph_model.model.GraphModel`,
a GraphDef whose weights are all constants, with named inputs and outputs. Its
format reads it, without TensorFlow; :mod:`convkit.runtimes.graph` runs it.

- ``messages``: the protobuf messages, read under convkit's limits; tensors to and from numpy.
- ``analysis``: the structural checks (cycles, self-calling functions, sizes) and the
  facts ``inspect`` shows (op histogram, inferred inputs and outputs, constants).
- ``model``: ``GraphModel``, ``GraphSource`` (a source that converts as a graph), and
  inputs/outputs chosen from a signature, inferred, or given (``--inputs``/``--outputs``).
- ``tfjs``: a TF.js graph rebuilt as a TensorFlow GraphDef (weights dequantized,
  TF.js-only ops undone).
- ``freeze``: a MetaGraph's variables replaced by the values of its checkpoint.
- ``loops``: TF1-style while loops raised back into ``While`` ops, for the converters
  that read only those (TensorFlow traces the loop functions; nothing runs).
"""
