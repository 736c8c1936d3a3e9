import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from pneumolib.models.checkpoint import save_checkpoint
from pneumolib.cli import main
from pneumolib.config import TrainConfig
from pneumolib.data import subsample
from pneumolib.errors import CheckpointError, ConfigError
from pneumolib.deploy.export import export_onnx
from pneumolib.images import ImageInputError
from pneumolib.deploy.detector import PneumoniaDetector
from pneumolib.models.zoo import build_model
from pneumolib.repro import seed_everything
from pneumolib.models.inference import predict_probabilities
from pneumolib.training.loop import fit

N_IMAGES = 24


def _train(data, tmp_path_factory, **overrides):
    config = TrainConfig(model="small_cnn", epochs=1, device="cpu", **overrides)
    seed_everything(0)
    model = build_model("small_cnn")
    fit(model, subsample(data, 600, 100, seed=0), config, progress=False)
    path = save_checkpoint(tmp_path_factory.mktemp("model") / "model.pt", model, config, threshold=0.5)
    return model.eval(), config, path


@pytest.fixture(scope="module")
def trained(real_data, tmp_path_factory):
    return _train(real_data, tmp_path_factory)


@pytest.fixture(scope="module")
def test_pngs(real_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pngs")
    for i in range(N_IMAGES):
        Image.fromarray(real_data.test.images[i]).save(folder / f"test_{i:03d}.png")
    return folder


def test_round_trip_equals_in_memory_model(trained, real_data, test_pngs):
    model, config, path = trained
    detector = PneumoniaDetector.from_checkpoint(path)
    files = sorted(str(p) for p in test_pngs.glob("*.png"))
    results = detector.predict(files)  # one batch, as the in-memory prediction below
    expected = predict_probabilities(model, real_data.test.images[:N_IMAGES], config, precision="run", device="cpu")
    assert [r["probability"] for r in results] == expected.tolist()
    # other batch sizes may pick other conv kernels: equal up to float rounding
    small_batches = detector.predict(files, batch_size=7)
    assert [r["probability"] for r in small_batches] == pytest.approx(expected.tolist(), abs=1e-6)
    assert {r["model"] for r in results} == {"small_cnn"} and {r["threshold"] for r in results} == {0.5}
    assert [r["label"] for r in results] == ["pneumonia" if p >= 0.5 else "normal" for p in expected]


def test_accepts_pil_arrays_and_lists(trained, real_data):
    detector = PneumoniaDetector.from_checkpoint(trained[2])
    image = real_data.test.images[0]
    reference = detector.predict(image)["probability"]
    assert set(detector.predict(image)) == {"label", "probability", "threshold", "model"}
    variants = [
        Image.fromarray(image),
        image[..., None],
        np.repeat(image[..., None], 3, axis=2),
        image.astype(np.float32) / 255.0,
        image.astype(np.float64),
        image.astype(np.uint16) * 257,
    ]
    for result in detector.predict(variants):
        assert result["probability"] == pytest.approx(reference, abs=1e-6)


def test_16_bit_png_and_rgb_jpeg_match_8_bit(trained, real_data, tmp_path):
    detector = PneumoniaDetector.from_checkpoint(trained[2])
    probs = detector.predict(list(real_data.test.images[:40]))
    clear = [i for i, r in enumerate(probs) if abs(r["probability"] - 0.5) > 0.15][:12]
    assert len(clear) >= 8
    for i in clear:
        gray = real_data.test.images[i]
        Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / f"{i}_16.png")
        Image.fromarray(np.repeat(gray[..., None], 3, axis=2)).save(tmp_path / f"{i}_rgb.jpg", quality=95)
        assert Image.open(tmp_path / f"{i}_16.png").mode.startswith("I")
        sixteen, jpeg = detector.predict([str(tmp_path / f"{i}_16.png"), str(tmp_path / f"{i}_rgb.jpg")])
        assert sixteen["probability"] == pytest.approx(probs[i]["probability"], abs=1e-6)
        assert jpeg["label"] == sixteen["label"] == probs[i]["label"]


def test_large_images_are_cropped_and_resized(trained):
    detector = PneumoniaDetector.from_checkpoint(trained[2])
    big = np.zeros((300, 400), np.uint8)
    big[:, 50:350] = 128
    assert detector.preprocess(big).shape == (28, 28)
    assert detector.preprocess(big).min() == 128  # the center square only


def _png_bytes(tmp_path):
    path = tmp_path / "ok.png"
    noise = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
    Image.fromarray(noise).save(path)
    return path.read_bytes()


def _bad_file(kind: str, folder: Path) -> Path:
    path = folder / f"{kind}.png"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("not an image")
    elif kind == "truncated":
        path.write_bytes(_png_bytes(folder)[:2000])
    return path


@pytest.mark.parametrize(
    "kind, message",
    [
        ("missing", "no such file"),
        ("empty", "the file is empty"),
        ("text", "not an image file"),
        ("truncated", "damaged or truncated"),
    ],
)
def test_bad_files(trained, tmp_path, kind, message):
    detector = PneumoniaDetector.from_checkpoint(trained[2])
    path = _bad_file(kind, tmp_path)
    with pytest.raises(ImageInputError, match=message) as err:
        detector.predict(str(path))
    assert path.name in str(err.value)


def test_bad_images_and_arrays(trained, monkeypatch):
    detector = PneumoniaDetector.from_checkpoint(trained[2])
    with pytest.raises(ImageInputError, match=r"empty \(0x0 pixels\)"):
        detector.predict(np.zeros((0, 0), np.uint8))
    with pytest.raises(ImageInputError, match="NaN"):
        detector.predict(np.full((28, 28), np.nan, np.float32))
    with pytest.raises(ImageInputError, match=r"span \[-3, 2\]"):
        detector.predict(np.array([[-3.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(ImageInputError, match="shape HxW or HxWxC"):
        detector.predict(np.zeros((2, 28, 28, 1), np.uint8))
    rgba = np.zeros((28, 28, 4), np.uint8)
    with pytest.raises(ImageInputError, match="alpha channel with transparent pixels"):
        detector.predict(Image.fromarray(rgba, "RGBA"))
    rgba[..., 3] = 255  # fully opaque alpha carries no information and is dropped
    assert detector.predict(Image.fromarray(rgba, "RGBA"))["label"] in ("normal", "pneumonia")
    with pytest.raises(ImageInputError, match="cannot read a dict"):
        detector.predict({"image": 1})


def test_decompression_bomb_limit_stays_on(trained, tmp_path, monkeypatch):
    detector = PneumoniaDetector.from_checkpoint(trained[2])
    Image.fromarray(np.zeros((200, 200), np.uint8)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # 40,000 px is "huge" now
    with pytest.raises(ImageInputError, match="too large to open safely"):
        detector.predict(str(tmp_path / "big.png"))


def test_report_mode_keeps_going(trained, test_pngs, tmp_path):
    detector = PneumoniaDetector.from_checkpoint(trained[2])
    (tmp_path / "bad.png").write_text("x")
    good = str(next(test_pngs.glob("*.png")))
    results = detector.predict([good, str(tmp_path / "bad.png"), good], errors="report")
    assert "error" in results[1] and "not an image" in results[1]["error"]
    # The same image sits at positions 0 and 1 of one batch of two. Batched fp32 inference on a
    # CPU is not bit-identical across batch positions: oneDNN picks its convolution kernels and
    # blocking by batch shape, so rows can be summed in a different order (seen on an AVX2 CPU
    # without native bf16: 0.82201129 and 0.82201135, one float32 ulp). Equal up to float rounding,
    # the tolerance the other batch-layout comparisons in this file use.
    assert results[0]["probability"] == pytest.approx(results[2]["probability"], abs=1e-6)
    assert results[0]["input"] == results[2]["input"] == good


def test_threshold_and_explain(trained, real_data):
    detector = PneumoniaDetector.from_checkpoint(trained[2], threshold=0.999)
    assert detector.threshold == 0.999
    result = detector.predict(real_data.test.images[0], explain=True)
    assert result["cam"].shape == (28, 28) and 0 <= result["cam"].min() and result["cam"].max() <= 1
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        PneumoniaDetector.from_checkpoint(trained[2], threshold=1.5)


def test_explain_maps_the_predicted_class(trained, real_data):
    """A normal call is explained by the normal class's map, a pneumonia call by pneumonia's."""
    from pneumolib.data import model_inputs
    from pneumolib.explain.cams import cam_maps

    model, config, path = trained
    images = real_data.test.images[:32]
    inputs = model_inputs(images, config.norm_mean, config.norm_std, config.input_size)
    normal_maps, pneumonia_maps = (cam_maps(model.eval(), inputs, target_class=c) for c in (0, 1))
    i = next(i for i in range(len(images)) if not np.allclose(normal_maps[i], pneumonia_maps[i]))
    for threshold, maps in ((0.999, normal_maps), (0.001, pneumonia_maps)):
        result = PneumoniaDetector.from_checkpoint(path, threshold=threshold).predict(images[i], explain=True)
        assert np.allclose(result["cam"], maps[i], atol=1e-5)


def test_checkpoint_problems(trained, tmp_path):
    model, config, path = trained
    payload = torch.load(path, weights_only=True)
    payload["state_dict"] = build_model("resnet18").state_dict()  # a resnet's weights, labelled small_cnn
    torch.save(payload, tmp_path / "mixed.pt")
    with pytest.raises(CheckpointError, match="do not fit this model"):
        PneumoniaDetector.from_checkpoint(tmp_path / "mixed.pt")
    (tmp_path / "image.pt").write_bytes(_png_bytes(tmp_path))
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        PneumoniaDetector.from_checkpoint(tmp_path / "image.pt")


def test_onnx_parity_and_detector(trained, real_data, test_pngs, tmp_path):
    model, config, path = trained
    max_diff = export_onnx(path, tmp_path / "m.onnx", real_data.test.images[:128])
    assert max_diff <= 1e-4
    files = sorted(str(p) for p in test_pngs.glob("*.png"))
    onnx_results = PneumoniaDetector.from_onnx(tmp_path / "m.onnx").predict(files)
    torch_results = PneumoniaDetector.from_checkpoint(path).predict(files)
    diffs = [abs(a["probability"] - b["probability"]) for a, b in zip(onnx_results, torch_results)]
    assert max(diffs) <= 1e-4
    assert [r["label"] for r in onnx_results] == [r["label"] for r in torch_results]
    with pytest.raises(ConfigError, match="needs the PyTorch checkpoint"):
        PneumoniaDetector.from_onnx(tmp_path / "m.onnx").predict(files[0], explain=True)


def test_onnx_parity_with_upsampling(real_data, tmp_path_factory, tmp_path):
    _, _, path = _train(real_data, tmp_path_factory, input_size=56)
    assert export_onnx(path, tmp_path / "up.onnx", real_data.test.images[:64]) <= 1e-4


@pytest.mark.integration
def test_onnx_detector_needs_no_torch(trained, real_data, test_pngs, tmp_path):
    export_onnx(trained[2], tmp_path / "m.onnx", real_data.test.images[:32])
    image = str(next(test_pngs.glob("*.png")))
    code = (
        "import sys\n"
        "for blocked in ('torch', 'torchvision', 'sklearn'): sys.modules[blocked] = None\n"
        "from pneumolib.deploy.detector import PneumoniaDetector\n"
        f"print(PneumoniaDetector.from_onnx({str(tmp_path / 'm.onnx')!r}).predict({image!r})['label'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision') and sys.modules[m]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-1500:]
    label, loaded = out.stdout.strip().splitlines()
    assert label in ("normal", "pneumonia") and loaded == "[]"


def test_predict_cli(trained, test_pngs, tmp_path, capsys):
    (tmp_path / "broken.png").write_text("x")
    code = main(["predict", str(test_pngs), str(tmp_path / "broken.png"), "--model", str(trained[2]), "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1 and len(lines) == N_IMAGES + 1
    assert sum("error" in line for line in lines) == 1
    assert main(["predict", str(test_pngs), "--model", str(trained[2]), "--threshold", "0.3"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == ["input", "label", "probability", "threshold"] and "0.3000" in table


def test_export_cli(trained, real_data_dir, tmp_path, capsys):
    code = main(["export", "--model", str(trained[2]), "--onnx", str(tmp_path / "cli.onnx"),
                 "--data-dir", str(real_data_dir), "--verify-images", "64"])
    assert code == 0 and (tmp_path / "cli.onnx").is_file()
    assert "verified on 64 test images" in capsys.readouterr().out


def test_bench_inference_runs(trained, real_data_dir, capsys):
    """Keeps the benchmark script working; timings are not asserted."""
    code = main(["bench-inference", "--model", str(trained[2]), "--data-dir", str(real_data_dir),
                 "--single-repeats", "2", "--batch-repeats", "1"])
    out = capsys.readouterr().out
    assert code == 0 and "onnxruntime / pytorch" in out and "pytorch" in out
    table = pd.read_csv(Path(os.environ["PNEUMOLIB_RESULTS"]) / "metrics" / "bench_inference.csv")
    assert list(table.backend) == ["pytorch", "onnxruntime"] and (table.batch_throughput_img_s > 0).all()
