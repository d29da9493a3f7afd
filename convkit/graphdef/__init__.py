"""TensorFlow graphs as data: GraphDefs, MetaGraphs and TF.js graph topologies, without TensorFlow.

Every graph-level format (a frozen ``.pb``, a TF1 checkpoint's ``.meta``, a TF.js
graph model, the pre-1.0 TF.js ``tensorflowjs_model.pb``, a TF1 SavedModel) comes
down to one :class:`~convkit.graphdef.model.GraphModel`: a GraphDef whose weights
are all constants, with named inputs and outputs. The modules:

- ``messages``: the protobuf messages, read under convkit's limits; tensors to and from numpy.
- ``analysis``: the structural checks (cycles, self-calling functions, sizes) and the
  facts ``inspect`` shows (op histogram, inferred inputs and outputs, constants).
- ``model``: the ``GraphModel`` record, and inputs/outputs chosen from a signature,
  inferred, or given by the user (``--inputs``/``--outputs``).
- ``tfjs``: a TF.js graph model rebuilt as a TensorFlow GraphDef (weights dequantized,
  TF.js-only ops undone).
- ``freeze``: a MetaGraph's variables replaced by the values of its checkpoint.
- ``live``: the one module here that imports TensorFlow: a ``GraphModel`` imported and
  wrapped as a function, for the writers and the runner.

Nothing here runs a graph except ``live``, and only after the safety policy's op scan.
"""
