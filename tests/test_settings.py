"""Training settings from dictionaries (the --settings JSON of the commands, config.yaml sections)."""

import pytest

from vocalsep.carvana import train as carvana_train
from vocalsep.unet import train as unet_train


@pytest.mark.parametrize("cls, name", [(carvana_train.TrainSettings, "Carvana training"),
                                       (unet_train.TrainSettings, "training")])
def test_known_keys_build_the_settings_and_a_misspelt_one_is_named(cls, name):
    assert cls.from_dict({"epochs": 3}).epochs == 3
    with pytest.raises(ValueError, match=f"unknown {name} settings: epoch, lr_decya"):
        cls.from_dict({"epoch": 3, "lr_decya": 0.5})
