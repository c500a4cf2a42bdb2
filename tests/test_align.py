"""The alignment check finds lag, polarity and gain on real-like music, and distrusts a wrong take."""

import numpy as np
import pytest

from vocalsep.align import apply, estimate, shift
from vocalsep.demo import synthesise

SR = 22050


@pytest.fixture(scope="module")
def song():
    mix, vocal = synthesise(seed=11, sr=SR, seconds=6.0)
    return mix.mean(axis=1).astype(np.float64), vocal.mean(axis=1).astype(np.float64)


@pytest.mark.parametrize("lag,polarity", [(0, 1), (1, 1), (-1, -1), (457, -1), (-457, 1), (3000, 1), (-10000, -1)])
def test_recovers_a_known_shift_and_polarity(song, lag, polarity):
    mix, vocal = song
    # the stem as delivered: out by `lag` samples (the fix is to delay it by `lag`) and maybe inverted
    delivered = polarity * shift(vocal, -lag)
    found = estimate(mix, delivered, SR, max_lag_seconds=0.5)
    assert abs(found.lag_samples - lag) <= 1
    assert found.polarity == polarity
    assert found.gain == pytest.approx(1.0, abs=0.05)
    assert found.trusted, found.warnings
    repaired = apply(delivered, found)
    accompaniment = mix - vocal
    # after correction the null test leaves (nearly) the accompaniment alone
    residual = mix - repaired
    inner = slice(abs(lag) + 10, len(mix) - abs(lag) - 10)
    assert np.allclose(residual[inner], accompaniment[inner], atol=1e-4)
    if abs(lag) > 100 or polarity < 0:  # a 1-sample slip hardly shows in a null test; these do
        assert found.null_db < found.null_db_uncorrected - 1.0


def test_estimates_the_gain_of_a_quieter_acapella(song):
    mix, vocal = song
    found = estimate(mix, 0.5 * vocal, SR)
    assert found.gain == pytest.approx(2.0, rel=0.02)  # the stem sits in the mix at twice its level


def test_a_different_take_is_flagged_untrustworthy(song):
    mix, _ = song
    _, other_take = synthesise(seed=99, sr=SR, seconds=6.0)
    found = estimate(mix, other_take.mean(axis=1), SR)
    assert not found.trusted
    assert any("different take" in w or "explains little" in w for w in found.warnings)


def test_lag_outside_the_search_window_is_not_found(song):
    mix, vocal = song
    far = shift(vocal, -int(0.8 * SR))  # 0.8 s late, window is +/-0.5 s
    found = estimate(mix, far, SR, max_lag_seconds=0.5)
    assert abs(found.lag_samples) <= int(0.5 * SR)
    assert not found.trusted
