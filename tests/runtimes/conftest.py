"""The runtime tests run the check tests' TF.js copies of the tutorial's models (built once, kept between runs)."""

from __future__ import annotations

from tests.check.conftest import k2_tfjs_layers, k3_tfjs_graph  # noqa: F401  (fixtures shared with tests/check)
