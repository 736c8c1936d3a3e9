"""The analyses' precision (pneumolib.models.inference): float64 on a CPU gives the same
probabilities, Grad-CAM maps and randomisation check on another kind of CPU. The stand-in for an
AVX2 CPU without native bf16 is a subprocess whose oneDNN, ATen and MKL kernels are limited to
AVX2 (on an AVX2 machine both sides simply run the same kernels)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from pneumolib.config import TrainConfig
from pneumolib.models.inference import analysis_copy, as_model_input, inference_dtype, predict_probabilities
from pneumolib.training.tta import TTA_VIEWS

pytestmark = pytest.mark.integration  # starts processes: the integration layer

AVX2 = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}

# Computes what 04 and 07 compute from a model, on a seeded random ResNet-18 and synthetic images,
# and prints it as JSON (the same script runs here and under the AVX2 stand-in).
SCRIPT = r"""
import json, sys
import numpy as np, torch
import pneumolib
from pneumolib.config import TrainConfig
from pneumolib.data import model_inputs
from pneumolib.explain import cam_maps, randomization_similarity
from pneumolib.models.inference import analysis_copy, as_model_input, predict_probabilities
from pneumolib.models.zoo import build_model


torch.manual_seed(0)
model = analysis_copy(build_model(sys.argv[1]))
images = np.random.default_rng(0).integers(0, 256, (32, 28, 28), dtype=np.uint8)
config = TrainConfig(model=sys.argv[1])
probabilities = predict_probabilities(model, images, config)
x = as_model_input(model_inputs(images, config.norm_mean, config.norm_std), model)
layer = "layer2" if sys.argv[1] == "resnet18" else "layer3"
maps = cam_maps(model, x, getattr(model, layer), target_class=1)
rho = randomization_similarity(model, x, layer, seed=0, target_class=1, constant=np.nan)
print(json.dumps({"p": probabilities.tolist(), "maps": maps.tolist(), "rho": rho.tolist()}))
"""


def _run(model: str, env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-c", SCRIPT, model], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1", **env})
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("model", ["resnet18", "small_cnn"])
def test_analyses_agree_on_an_avx2_cpu(model):
    here, avx2 = _run(model, {}), _run(model, AVX2)
    p, q = np.asarray(here["p"]), np.asarray(avx2["p"])
    assert np.abs(p - q).max() < 1e-12, f"probabilities differ by {np.abs(p - q).max():.2e} on the AVX2 stand-in"
    maps_a, maps_b = np.asarray(here["maps"]), np.asarray(avx2["maps"])
    assert np.abs(maps_a - maps_b).max() < 1e-6  # float32 maps (pytorch-grad-cam scales in float32)
    rho_a, rho_b = np.asarray(here["rho"]), np.asarray(avx2["rho"])
    assert np.array_equal(np.isnan(rho_a), np.isnan(rho_b))
    assert np.nanmax(np.abs(rho_a - rho_b), initial=0.0) < 1e-9


def test_float64_on_cpu_and_the_model_left_as_it_was():
    from pneumolib.models.zoo import build_model

    assert inference_dtype("cpu") == torch.float64 and inference_dtype("cuda") == torch.float32
    model = build_model("small_cnn")
    copy = analysis_copy(model)
    assert next(model.parameters()).dtype == torch.float32 and next(copy.parameters()).dtype == torch.float64
    assert not copy.training
    assert as_model_input(torch.zeros(2, 1, 28, 28), copy).dtype == torch.float64


def test_same_probability_at_any_batch_position_and_tta_views():
    from pneumolib.models.zoo import build_model

    torch.manual_seed(1)
    model = build_model("resnet18").eval()
    images = np.random.default_rng(1).integers(0, 256, (40, 28, 28), dtype=np.uint8)
    config = TrainConfig(model="resnet18")
    whole = predict_probabilities(model, images, config, batch_size=256)
    assert whole.dtype == np.float64 and whole.shape == (40,)
    shifted = predict_probabilities(model, np.concatenate([images[7:], images[:7]]), config, batch_size=16)
    assert np.abs(np.concatenate([whole[7:], whole[:7]]) - shifted).max() < 1e-12
    identity = predict_probabilities(model, images, config, views=[TTA_VIEWS["identity"]])
    assert np.abs(identity - whole).max() < 1e-9  # the identity warp resamples at the pixel centres
    tta = predict_probabilities(model, images, config, views=list(TTA_VIEWS.values()))
    assert np.abs(tta - whole).max() > 1e-6  # the other views change the images


def test_bad_images_are_refused():
    from pneumolib.models.zoo import build_model

    with pytest.raises(ValueError, match="uint8 array"):
        predict_probabilities(build_model("small_cnn"), np.zeros((28, 28), np.uint8), TrainConfig())
