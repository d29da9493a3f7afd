"""A short fuzz run of every reader in the test suite (the long run: ``python -m tests.fuzz.run``).

Property: whatever the damage, each TensorFlow-free reader either answers or
raises a ``ConvkitError``; never another exception, never a hang.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.fuzz._mutate import HypothesisChooser
from tests.fuzz.run import SECONDS_PER_INPUT
from tests.fuzz.targets import TARGETS, run_trial
from tests.hostile._corpus import deadline

SHORT_RUN_EXAMPLES = 60

# Mutated archives repeat member names on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name")


@pytest.mark.parametrize("name", list(TARGETS))
def test_reader_answers_or_refuses_every_mutation(name: str, tmp_path) -> None:
    target = TARGETS[name]
    work = tmp_path / "work"
    tried = []

    @settings(max_examples=SHORT_RUN_EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink])
    @given(st.data())
    def reader_survives(data: st.DataObject) -> None:
        with deadline(SECONDS_PER_INPUT):
            trial = run_trial(target, work, HypothesisChooser(data))
        tried.append(trial.outcome)
        assert trial.outcome != "finding", f"{trial.signature}\n{trial.detail}"

    reader_survives()
    assert len(tried) >= SHORT_RUN_EXAMPLES // 2
    assert "rejected" in tried, "no mutation was ever refused: the target does not reach the reader"
