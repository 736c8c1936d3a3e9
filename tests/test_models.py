import urllib.error
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision import models as tv_models

from pneumolib.errors import ConfigError, PretrainedWeightsUnavailableError
from pneumolib.models.zoo import SmallCNN, apply_freeze, build_head, build_model, count_parameters


@pytest.mark.parametrize("name", ["small_cnn", "resnet18", "resnet34", "resnet50"])
@pytest.mark.parametrize("size", [28, 64])
def test_single_logit_on_one_channel(name, size):
    model = build_model(name).eval()
    assert model(torch.zeros(3, 1, size, size)).shape == (3, 1)


def test_small_cnn_shape_and_size():
    model = build_model("small_cnn")
    assert isinstance(model, SmallCNN)
    assert count_parameters(model) == 582305  # ~0.6M: 3 conv blocks 32/64/128 and a 1152-256-1 head
    assert [m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d)][::2] == [32, 64, 128]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 6


def test_small_stem():
    model = build_model("resnet18", stem="small")
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert isinstance(model.maxpool, nn.Identity)
    assert build_model("resnet18").conv1.kernel_size == (7, 7)


def test_mlp_head_layout():
    head = build_head(512, hidden=(256,), dropout=(0.5, 0.3))
    kinds = [type(m).__name__ for m in head]
    assert kinds == ["Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert [head[0].p, head[3].p] == [0.5, 0.3]
    assert head[1].in_features == 512 and head[4].out_features == 1
    model = build_model("resnet18", head_hidden=(512, 256), head_dropout=(0.5, 0.3, 0.0))
    assert [m.out_features for m in model.fc if isinstance(m, nn.Linear)] == [512, 256, 1]
    with pytest.raises(ConfigError, match="dropout rates"):
        build_head(512, hidden=(256,), dropout=(0.5,))


@pytest.mark.parametrize(
    "policy, frozen, trainable",
    [
        ("none", [], ["conv1.weight", "layer4.0.conv1.weight", "fc.0.weight"]),
        ("backbone", ["conv1.weight", "layer4.1.bn2.bias"], ["fc.0.weight"]),
        ("up_to_layer2", ["conv1.weight", "bn1.weight", "layer2.1.conv2.weight"], ["layer3.0.conv1.weight", "fc.0.weight"]),
        ("up_to_layer3", ["layer3.1.conv2.weight"], ["layer4.0.conv1.weight", "fc.0.weight"]),
    ],
)
def test_freeze_policies(policy, frozen, trainable):
    model = build_model("resnet18", freeze=policy)
    grads = {n: p.requires_grad for n, p in model.named_parameters()}
    assert all(not grads[n] for n in frozen)
    assert all(grads[n] for n in trainable)


def test_freeze_small_cnn_and_bad_policy():
    model = build_model("small_cnn", freeze="up_to_layer2")
    grads = {n.split(".")[0]: p.requires_grad for n, p in model.named_parameters()}
    assert grads == {"layer1": False, "layer2": False, "layer3": True, "fc": True}
    assert count_parameters(apply_freeze(model, "backbone"), trainable_only=True) == count_parameters(model.fc)
    with pytest.raises(ConfigError, match="choose one of"):
        apply_freeze(model, "layer9")


def test_unknown_model_name():
    with pytest.raises(ConfigError, match=r"Unknown model 'vgg16'.*resnet18"):
        build_model("vgg16")


def _saved_resnet18(path: Path) -> dict:
    torch.manual_seed(1)
    state = tv_models.resnet18(weights=None).state_dict()
    torch.save(state, path)
    return state


def test_local_state_dict_sums_rgb_kernels(tmp_path):
    state = _saved_resnet18(tmp_path / "r18.pth")
    model = build_model("resnet18", pretrained=str(tmp_path / "r18.pth"))
    assert model.conv1.weight.shape == (64, 1, 7, 7)
    assert torch.allclose(model.conv1.weight, state["conv1.weight"].sum(dim=1, keepdim=True))
    assert torch.equal(model.layer3[0].conv1.weight, state["layer3.0.conv1.weight"])
    # a grey image as 1 channel gives what the RGB model gives on the replicated image
    rgb = tv_models.resnet18(weights=None)
    rgb.load_state_dict(state)
    x = torch.rand(2, 1, 28, 28)
    assert torch.allclose(model.conv1(x), rgb.conv1(x.repeat(1, 3, 1, 1)), atol=1e-5)


@pytest.fixture
def hub_dir(tmp_path, monkeypatch) -> Path:
    """A private torch hub cache for one test (restored afterwards)."""
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    return tmp_path / "hub"


def test_imagenet_path_through_torch_hub_cache(hub_dir):
    """The real torchvision weights API, fed from the hub cache as it would be offline."""
    weights = tv_models.ResNet18_Weights.IMAGENET1K_V1
    cache = hub_dir / "checkpoints"
    cache.mkdir(parents=True)
    state = _saved_resnet18(cache / Path(weights.url).name)
    model = build_model("resnet18", pretrained="imagenet")
    assert torch.equal(model.layer1[0].conv2.weight, state["layer1.0.conv2.weight"])
    assert torch.allclose(model.conv1.weight, state["conv1.weight"].sum(dim=1, keepdim=True))


def test_imagenet_missing_offline_is_actionable(hub_dir, monkeypatch, capsys):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)  # hermetic even with network
    with pytest.raises(PretrainedWeightsUnavailableError) as err:
        build_model("resnet34", pretrained="imagenet")
    message = str(err.value)
    assert "Downloading" not in capsys.readouterr().out  # torch.hub's notice (with a local path) stays out
    assert "resnet34-b627a593.pth" in message
    assert str(hub_dir / "checkpoints") in message
    assert "pretrained='/path/to/" in message
    notice = message.splitlines()[0]  # what a notebook shows for a skipped arm: no raw error text
    assert "resnet34-b627a593.pth" in notice and "Error" not in notice and str(hub_dir) not in notice


def test_bad_local_weights(tmp_path):
    with pytest.raises(PretrainedWeightsUnavailableError, match="does not exist"):
        build_model("resnet18", pretrained=str(tmp_path / "missing.pth"))
    torch.save(tv_models.resnet34(weights=None).state_dict(), tmp_path / "r34.pth")
    with pytest.raises(PretrainedWeightsUnavailableError, match="do not fit torchvision's resnet18"):
        build_model("resnet18", pretrained=str(tmp_path / "r34.pth"))
    with pytest.raises(ConfigError, match="small_cnn has no ImageNet weights"):
        build_model("small_cnn", pretrained="imagenet")
