"""TF.js, the runtime of TF.js models: in Node.js or in headless Chromium, on any of its backends.

- :mod:`~convkit.runtimes.tfjs.runner`: a TF.js model on one backend (inputs and outputs from its ``model.json``).
- :mod:`~convkit.runtimes.tfjs.node`: the Node.js host (one process for every model of a run).
- :mod:`~convkit.runtimes.tfjs.browser`: the Chromium host (a local page server and one tab per backend).
- :mod:`~convkit.runtimes.tfjs.backends`: the backends a check run asks for and the host of each.
- :mod:`~convkit.runtimes.tfjs.protocol`: tensors as raw bytes and a JSON header, both ways.
- :mod:`~convkit.runtimes.tfjs.install`: where @tensorflow/tfjs is found, and ``convkit setup-tfjs``.
- ``tfjs_runner.mjs`` (Node), ``tfjs_page.html``/``tfjs_page.mjs`` (the browser page), ``tfjs_model.mjs`` (both).
"""
