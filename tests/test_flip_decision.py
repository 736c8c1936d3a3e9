"""No augmentation mirrors the chest unless a recipe asks for it, and editing a preset makes new runs."""

from dataclasses import replace


from pneumolib.config import TrainConfig
from pneumolib.data import AUGMENT_PRESETS, augmentation_preset
from pneumolib.data.augment import BatchAugment
from pneumolib.experiments.runs import RunSpec
from pneumolib.experiments.studies import full_recipe, recipe_settings


def test_no_preset_flips_and_the_hflip_option_adds_the_flip_to_any_preset():
    assert not any(params.get("hflip") for params in AUGMENT_PRESETS.values())
    for name in ("light", "strong"):
        assert not BatchAugment.preset(name).hflip and BatchAugment.preset(name, hflip=True).hflip
        assert BatchAugment.preset(name, hflip=True).rotation == AUGMENT_PRESETS[name]["rotation"]
    assert BatchAugment.preset("none") is None and BatchAugment.preset("none", hflip=True) == BatchAugment(hflip=True)
    assert augmentation_preset("light", 28, hflip=True).augment.hflip and not augmentation_preset("light", 28).augment.hflip


def test_the_flip_is_part_of_a_runs_identity_and_so_is_what_a_preset_draws(monkeypatch):
    spec = RunSpec(TrainConfig(model="small_cnn"))
    plain = spec.run_id("data")
    assert RunSpec(replace(spec.config, hflip=True)).run_id("data") != plain
    monkeypatch.setitem(AUGMENT_PRESETS, "light", {**AUGMENT_PRESETS["light"], "rotation": 20.0})
    assert spec.run_id("data") != plain  # same preset name, different draws: a new run


def test_augmentation_rows_are_described_from_the_presets():
    light = BatchAugment.preset("light")
    assert light.describe() == "rotation ±10°, translate ±5%, zoom 0.95-1.05"
    parts = BatchAugment.preset("strong").components()
    assert [p.describe() for p in parts][-1] == "square crop of 80%-100% of the area" and len(parts) == 4


def test_the_full_recipe_table_spells_out_the_small_cnns_default_head():
    settings = recipe_settings(full_recipe("small_cnn"), "full recipe")
    assert settings["head_hidden"] == "(256,) (model default)" and settings["head_dropout"] == "(0.5, 0.0) (model default)"
    resnet = recipe_settings(full_recipe("resnet18"))
    assert list(resnet["head_dropout"]) == [0.5, 0.0]  # given explicitly: shown as is


def test_a_stored_record_is_found_again(tmp_path):
    """The identity saved in record.json (JSON: tuples become lists) must equal the spec's, or the
    store would never reuse a run whose preset holds a tuple (the light preset's zoom range)."""
    import json

    from pneumolib.experiments.runs import RunRecord
    from pneumolib.experiments.store import RunStore

    spec = RunSpec(TrainConfig(model="small_cnn"))
    assert isinstance(AUGMENT_PRESETS["light"]["scale"], tuple)
    fields = {"format": "pneumolib-run", "run_id": spec.run_id("fp"), "identity": spec.identity("fp")}
    store = RunStore(tmp_path)
    from pneumolib.experiments import store as store_module

    fields["format"] = store_module.RECORD_FORMAT
    folder = store.folder(fields["run_id"])
    folder.mkdir(parents=True)
    (folder / store_module.RECORD_FILE).write_text(json.dumps(fields))
    assert isinstance(store.find(spec, "fp"), RunRecord)
