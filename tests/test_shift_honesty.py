"""Transductive methods read the new cohort's images, never its labels: permuting the test labels
changes no adapted probability and no method choice."""

import numpy as np

from pneumolib.config import TrainConfig
from pneumolib.data import PneumoniaData, Split, load_pneumoniamnist
from pneumolib.models import build_model
from pneumolib.shift.methods import METHODS, SourceReference, adapt, predict
from pneumolib.shift.select import choose_method
from pneumolib.models.inference import predict_probabilities
from pneumolib.training.loop import fit


def test_permuted_test_labels_change_nothing(fake_data_dir):
    data = load_pneumoniamnist(28, fake_data_dir, download=False)
    config = TrainConfig(model="small_cnn", epochs=1, batch_size=32, device="cpu", seed=0)
    model = build_model("small_cnn")
    fit(model, data, config, progress=False)
    permuted = PneumoniaData(data.train, data.val, Split(data.test.images, np.random.default_rng(1).permutation(data.test.labels)),
                             image_size=data.image_size, source=data.source)
    assert not np.array_equal(permuted.test.labels, data.test.labels)
    outputs = []
    for dataset in (data, permuted):
        source = SourceReference.fit(dataset.val.labels, predict_probabilities(model, dataset.val.images, config, precision="run"))
        adapted = {m: adapt(m, model, config, source, dataset.test.images) for m in METHODS if "BBSE" not in m}
        choice, table = choose_method(model, config, dataset, dataset.test.images)
        outputs.append((adapted, choice, table))
    (first, choice_a, table_a), (second, choice_b, table_b) = outputs
    for method in first:
        assert np.array_equal(first[method].probabilities, second[method].probabilities), method
        assert first[method].threshold == second[method].threshold and first[method].prior == second[method].prior
    assert choice_a == choice_b and table_a.equals(table_b)


def test_adapt_refuses_too_few_images_and_images_smaller_than_the_model(tmp_path, fake_data_dir):
    import pytest
    from PIL import Image

    from pneumolib.deploy.adapt import adapt_folder
    from pneumolib.errors import ConfigError
    from pneumolib.images import ImageInputError
    from pneumolib.models.checkpoint import save_checkpoint

    config = TrainConfig(model="small_cnn", epochs=1, device="cpu")
    checkpoint = save_checkpoint(tmp_path / "m.pt", build_model("small_cnn"), config)
    folder = tmp_path / "new"
    folder.mkdir()
    for i in range(5):
        Image.fromarray(np.full((32, 32), 100 + i, np.uint8)).save(folder / f"{i}.png")
    with pytest.raises(ConfigError, match="at least 20"):
        adapt_folder(checkpoint, [folder], data_dir=fake_data_dir)
    for i in range(5, 25):
        Image.fromarray(np.full((16 if i == 24 else 32, 32), 90, np.uint8)).save(folder / f"{i}.png")
    with pytest.raises(ImageInputError, match="smaller than the model's 28 px"):
        adapt_folder(checkpoint, [folder], data_dir=fake_data_dir)
    with pytest.raises(ConfigError, match="--method"):
        adapt_folder(checkpoint, [folder], method="magic", data_dir=fake_data_dir)


def test_the_notebook_study_reads_no_test_label(fake_data_dir):
    """Notebook 07's path (prior estimates and every method on every final model, with TTA) gives
    identical numbers when the test labels are permuted; only scoring reads them."""
    from pneumolib.experiments.runs import RunSpec, train_run
    from pneumocourse.adaptation import adapt_all, prior_estimates
    from pneumocourse.final_model import FinalModel
    from pneumolib.models.inference import analysis_copy

    data = load_pneumoniamnist(28, fake_data_dir, download=False)
    config = TrainConfig(model="small_cnn", epochs=1, batch_size=32, device="cpu", seed=0)
    record = train_run(RunSpec(config), data)
    model = analysis_copy(record.model)
    finals = [FinalModel("plain", record, model, config, False), FinalModel("tta", record, model, config, True)]
    permuted = PneumoniaData(data.train, data.val, Split(data.test.images, np.random.default_rng(2).permutation(data.test.labels)),
                             image_size=data.image_size, source=data.source)
    results = []
    for dataset in (data, permuted):
        adapted, errors = adapt_all(finals, dataset, METHODS)
        results.append((adapted, errors, prior_estimates(finals, dataset, n_boot=100)))
    (a, errors_a, priors_a), (b, errors_b, priors_b) = results
    assert errors_a == errors_b and list(a) == list(b) and "TENT" in a
    for method in a:
        for one, two in zip(a[method], b[method]):
            assert np.array_equal(one.probabilities, two.probabilities) and one.threshold == two.threshold, method
    assert priors_a.equals(priors_b)


def test_adapting_several_methods_at_once_gives_what_each_gives_alone(fake_data_dir):
    """adapt_methods shares predictions and adapted models between methods; the outputs must be
    exactly those of adapt called per method, and a failing method is reported, not dropped."""
    from pneumolib.shift.methods import adapt_methods

    data = load_pneumoniamnist(28, fake_data_dir, download=False)
    config = TrainConfig(model="small_cnn", epochs=1, batch_size=32, device="cpu", seed=0)
    model = build_model("small_cnn")
    fit(model, data, config, progress=False)
    source = SourceReference.fit(data.val.labels, predict_probabilities(model, data.val.images, config, precision="run"))
    together, errors = adapt_methods(METHODS, model, config, source, data.test.images, seed=0)
    for method in METHODS:
        try:
            alone = adapt(method, model, config, source, data.test.images, seed=0)
        except ValueError as exc:
            assert errors[method] == str(exc), method
            continue
        assert np.array_equal(together[method].probabilities, alone.probabilities), method
        assert together[method].threshold == alone.threshold and together[method].prior == alone.prior, method
    base = predict(model, data.test.images, config)  # what adapt_methods predicts itself
    shared, _ = adapt_methods(("none",), model, config, source, data.test.images, base_probabilities=base)
    assert np.array_equal(shared["none"].probabilities, together["none"].probabilities)
