"""The analysis chain gives exactly the results it gave before it was made faster.

Each case of :mod:`tests.chain_golden` (the Ruian sample as shipped; the sample with park
membership left to the outlines, loose firms, re-grades and a missing raster; the benchmark's
synthetic county with every industrial plot a candidate) runs through
:func:`analysis.pipeline.run_chain`, and every result frame is compared column by column with
the frames stored under ``tests/data/chain_golden/``.
"""
from __future__ import annotations

import pytest

from tests.chain_golden import CASES, compare_case, run_case

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("case", CASES)
def test_chain_results_unchanged(case, tmp_path):
    result, layers = run_case(case, tmp_path)
    problems = compare_case(case, result, layers)
    assert not problems, "\n".join(problems)
