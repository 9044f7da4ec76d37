"""The delivery size field of the Generate tab (Studio.generate): candidates at the
delivery size, recorded; a bad size refused naming the field, nothing recorded."""

from __future__ import annotations

import pytest
from bgart.ui.handlers import Studio
from helpers.ui import SHOT, req

from bgart.errors import InputError


def test_generate_with_a_delivery_size_makes_plates_of_that_size(studio: Studio) -> None:
    alice = req("alice")
    cands = studio.generate(alice, SHOT, "street", "quiet street", 7, 1, delivery="512x384")
    assert [c.image.size for c in cands] == [(512, 384)]
    studio.choose(alice, SHOT, cands[0].number)
    view = studio.open_shot(SHOT)
    assert (view.width, view.height) == (512, 384)


def test_a_bad_delivery_size_is_refused_by_name_and_nothing_is_recorded(studio: Studio) -> None:
    with pytest.raises(InputError, match=r"^delivery: width 500 must be a multiple of 8"):
        studio.generate(req("alice"), SHOT, "street", "quiet street", 7, 1, delivery="500x384")
    assert studio.open_shot(SHOT).status == "no plate"
