import pytest

from pneumolib.config import TrainConfig
from pneumolib.errors import ConfigError


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lr": -1e-3}, "lr must be a positive number"),
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"epochs": 2.5}, "epochs must be a positive integer"),
        ({"model": "vgg"}, r"model='vgg' is not valid; choose one of \['small_cnn'"),
        ({"image_size": 32}, "image_size=32 is not valid"),
        ({"input_size": 14}, "input_size only upsamples"),
        ({"label_smoothing": 0.7}, "label_smoothing"),
        ({"head_hidden": (256,), "head_dropout": (0.5,)}, "one rate per linear layer"),
        ({"device": "tpu"}, "device='tpu' is not valid"),
        ({"patience": 0}, "patience must be a positive integer"),
    ],
)
def test_invalid_values_are_named(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**kwargs)


def test_round_trip_and_unknown_keys(tmp_path):
    config = TrainConfig(model="small_cnn", head_hidden=(128,), head_dropout=(0.5, 0.3), seed=7)
    restored = TrainConfig.from_dict(config.to_dict())
    assert restored == config
    config.save(tmp_path / "c.json")
    with pytest.raises(ConfigError, match=r"Unknown configuration keys \['learning_rate'\]"):
        TrainConfig.from_dict({"learning_rate": 1.0})
