"""Notebook 04 (Grad-CAM and its sanity checks): its setup, the CAM methods in words, and the
findings of each check."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import NamedTuple

import numpy as np
import pandas as pd

from pneumolib.config import MODEL_NAMES, TrainConfig
from pneumolib.explain import CAM_METHODS

from .. import nbtools


NOTEBOOK = "04_gradcam"  # the notebook this companion serves (its parameters cell holds the defaults)


class Setup(NamedTuple):
    session: nbtools.NotebookSession
    recipe: TrainConfig
    n_per_group: int
    n_sanity: int
    n_random_orders: int
    rho_cutoff: float


def setup(*, smoke: bool, seed: int, device: str, data_dir: str, image_size: int, models: list[str], epochs: int,
          batch_size: int, lr: float, compare_method: str, n_per_group: int, n_sanity: int, n_random_orders: int,
          rho_cutoff: float, progress: bool, interactive: bool) -> Setup:
    """Check 04's parameters, start the session, build the recipe and print the profile line. The
    smoke profile trains two epochs and checks a handful of images."""
    session = nbtools.start(smoke=smoke, seed=seed, device=device, data_dir=data_dir, image_size=image_size,
                            progress=progress, notebook=NOTEBOOK, parameters=locals())
    nbtools.check_choices("models", models, MODEL_NAMES)
    nbtools.check_choice("compare_method", compare_method, [m for m in CAM_METHODS if m != "gradcam"])
    nbtools.check_type("interactive", interactive, bool)
    nbtools.check_min_int("n_per_group", n_per_group, 1)
    nbtools.check_min_int("n_sanity", n_sanity, 1)
    nbtools.check_min_int("n_random_orders", n_random_orders, 2)
    rho_cutoff = nbtools.check_fraction("rho_cutoff", rho_cutoff)
    recipe = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=str(session.device))
    if session.smoke:  # same code path, seconds of work
        recipe, n_per_group, n_sanity, n_random_orders = replace(recipe, epochs=2), 3, 16, 5
    print(f"profile: {session.profile}; models {models}; {recipe.epochs} epochs, seed {seed}")
    return Setup(session, recipe, n_per_group, n_sanity, n_random_orders, rho_cutoff)


CAM_METHOD_TEXT = {
    "gradcam": "Grad-CAM weights each channel of the layer by the mean gradient of the target over the map, "
               "sums the weighted channels and keeps the positive part.",
    "gradcam++": "Grad-CAM++ (Chattopadhay et al., 2018) weights each channel by the sum of its *positive* "
                 "gradients only, each scaled by a factor built from second- and third-order gradient terms: it "
                 "still depends on the target class, but negative gradients do not count, so its channel weights "
                 "are almost never negative.",
    "eigencam": "EigenCAM takes the first principal component of the layer's activations and uses no gradients "
                "at all, so its map does not depend on the target class.",
}


def cam_method_description(method: str) -> str:
    """Notebook 04: one sentence on how a pytorch-grad-cam method builds its map."""
    if method not in CAM_METHOD_TEXT:
        raise ValueError(f"No description for CAM method {method!r}; known: {list(CAM_METHOD_TEXT)}.")
    return CAM_METHOD_TEXT[method]


CAM_METHOD_NAMES = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "eigencam": "EigenCAM"}


def method_agreement_findings(rho: Mapping[str, np.ndarray], method: str, strong: float = 0.8,
                              weak: float = 0.3) -> list[str]:
    """Notebook 04: how closely Grad-CAM and ``method`` rank the same cells, per model, from the
    per-image Spearman ρ (NaN where a map is empty), as Markdown bullets."""
    other = CAM_METHOD_NAMES.get(method, method)
    lines = []
    for model, values in rho.items():
        values = np.asarray(values, dtype=float)
        kept = values[~np.isnan(values)]
        if not len(kept):
            lines.append(f"- {model}: every image has an empty map under one of the methods, so they cannot be compared.")
            continue
        median = float(np.median(kept))
        verdict = ("nearly the same maps" if median >= strong else "different maps" if median < weak
                   else "partly similar maps")
        lines.append(f"- {model}: Grad-CAM and {other} give **{verdict}** (median Spearman ρ {median:+.2f} over "
                     f"{len(kept)} of {len(values)} images, range {kept.min():+.2f} to {kept.max():+.2f}).")
    return lines


def _pct(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{value:.0%}"


def empty_map_findings(empty: pd.DataFrame, contribution: pd.DataFrame) -> list[str]:
    """Notebook 04: how often the maps are empty, explaining pneumonia or the predicted class, and
    why (the layer's first-order term against the logit), as Markdown bullets.

    ``empty``: :func:`pneumolib.explain.empty_map_table` per model, index (model, predicted);
    ``contribution``: per model (index) the columns layer, images, mean logit, mean layer term,
    share layer term < 0, over the images the model calls pneumonia.
    """
    lines = []
    for model in empty.index.get_level_values(0).unique():
        table, c = empty.loc[model], contribution.loc[model]
        normal, pneumonia = table.loc["normal"], table.loc["pneumonia"]
        line = (f"- **{model}** ({c['layer']}): explaining the pneumonia logit, {_pct(normal['empty, explaining pneumonia'])} "
                f"of the maps of the {int(normal.images)} test images it calls normal are empty, and "
                f"{_pct(pneumonia['empty, explaining pneumonia'])} of the {int(pneumonia.images)} it calls pneumonia. "
                f"Explaining the predicted class: {_pct(normal['empty, explaining the prediction'])} and "
                f"{_pct(pneumonia['empty, explaining the prediction'])}.")
        if c["share layer term < 0"] > 0.5:
            line += (f" On the images it calls pneumonia, the layer's first-order term (gradient × activation, "
                     f"summed) is negative for {_pct(c['share layer term < 0'])} of them (mean {c['mean layer term']:+.2f} "
                     f"against a mean logit of {c['mean logit']:+.2f}): the activations at this layer, taken together, "
                     "argue *against* pneumonia, and the positive logit comes from the biases after the layer; "
                     f"{_pct(pneumonia['empty, explaining the prediction'])} of their Grad-CAM maps for pneumonia "
                     "are empty.")
        else:
            line += (f" The layer's first-order term is negative for only {_pct(c['share layer term < 0'])} of the images "
                     f"it calls pneumonia (mean {c['mean layer term']:+.2f}, mean logit {c['mean logit']:+.2f}).")
        lines.append(line)
    return lines


def location_findings(shares: pd.DataFrame, area: pd.Series, margin: float = 0.02) -> list[str]:
    """Notebook 04: where the map mass lies per model and outcome (fixed boxes, not anatomy), as
    Markdown lines. ``shares``: index (model, outcome), one column per region (mean share of the
    mass over the non-empty maps), ``maps`` (how many) and ``pairwise r``
    (:func:`pneumolib.explain.map_consistency`); ``area``: each region's area share. A share
    within ``margin`` of the area share is "about" what a flat map puts there. Whether the maps
    differ from image to image is sanity check 3 (:func:`dependence_findings`)."""
    regions = list(area.index)
    lines = [f"Share of the map mass in the {' / '.join(regions)} boxes (a flat map: "
             f"{' / '.join(f'{area[r]:.0%}' for r in regions)}):"]
    for model in shares.index.get_level_values(0).unique():
        table = shares.loc[model]
        parts = [f"{outcome} ({int(row.maps)} maps) " + " / ".join(f"{row[r]:.0%}" for r in regions) if row.maps
                 else f"{outcome}: no non-empty map" for outcome, row in table.iterrows()]
        line = f"- **{model}**: " + "; ".join(parts) + "."
        if "true positive" in table.index and table.loc["true positive", "maps"]:
            tp = table.loc["true positive"]
            lung, flat = tp["lung fields"], area["lung fields"]
            versus = "about as much as" if abs(lung - flat) <= margin else "more than" if lung > flat else "less than"
            above = [f"{r} ({tp[r]:.0%} against {area[r]:.0%})" for r in regions if tp[r] > area[r] + margin]
            line += (f" On true positives the lung-field boxes hold {lung:.0%} of the mass, {versus} a flat map "
                     f"({flat:.0%})" + (": these maps do not concentrate on the lung fields" if lung < flat - margin else "")
                     + (f"; above their area share: {', '.join(above)}." if above else "."))
        lines.append(line)
    return lines


def fill_findings(check: pd.DataFrame, chosen: str) -> str:
    """Notebook 04: what each deletion fill does alone and whether the chosen one is neutral.
    ``check``: :func:`pneumolib.explain.fill_check` per model, index (model, fill)."""
    models = check.index.get_level_values(0).unique()
    others = [f for f in check.index.get_level_values(1).unique() if f != chosen]
    raising = [f for f in others if all(check.loc[(m, f), "mean probability, fully filled"]
                                         > check.loc[(m, f), "mean probability, original"] for m in models)]
    numbers = "; ".join(f"{m}: original {check.loc[(m, chosen), 'mean probability, original']:.2f}, " +
                        ", ".join(f"{f} {check.loc[(m, f), 'mean probability, fully filled']:.2f}" for f in check.loc[m].index)
                        for m in models)
    text = f"Mean pneumonia probability of the test images, original and with every pixel replaced ({numbers}). "
    if raising:
        names = ", ".join(f"the {f}" for f in raising[:-1]) + (" and " if len(raising) > 1 else "") + f"the {raising[-1]}"
        text += (f"{names[0].upper() + names[1:]} raise{'s' if len(raising) == 1 else ''} the probability for both "
                 "models: a featureless or smoothed patch reads as an opacity, so deleting with "
                 f"{'it' if len(raising) == 1 else 'them'} adds pneumonia evidence. ")
    neutral = all(check.loc[(m, chosen), "mean probability, fully filled"] <= check.loc[(m, chosen), "mean probability, original"]
                  for m in models)
    text += (f"**The {chosen} fill does not push towards pneumonia** for either model, so it is the one used below." if neutral
             else f"**The {chosen} fill also raises the probability** for at least one model: read the deletion curves "
                  "with that in mind.")
    return text


def _verdict(row: pd.Series, check: str) -> str:
    """The verdict the notebook's cell put in the table by its rule (the rules stay on the page)."""
    if "verdict" not in row:
        raise ValueError(f"the {check} table has no 'verdict' column: notebook 04's cell adds it by the rule it "
                         "shows, before the findings are written")
    return str(row["verdict"])


def _deletion_verdict(row: pd.Series) -> tuple[str, str]:
    numbers = (f"gap {row.gap:+.3f}, 95% CI [{row['gap low']:+.3f}, {row['gap high']:+.3f}] over {int(row.images)} "
               "images")
    return {"passes": ("Grad-CAM order removes the pneumonia evidence faster than random order", numbers + ": above zero"),
            "fails": ("random order removes the pneumonia evidence faster than Grad-CAM order", numbers + ": below zero"),
            "about level": ("Grad-CAM order and random order are about level", numbers + ": the interval holds zero"),
            }[_verdict(row, "deletion")]


def deletion_findings(table: pd.DataFrame) -> list[str]:
    """Notebook 04: the deletion gap (random - Grad-CAM area) per model and the verdict the notebook's
    rule gave it (its ``verdict`` column: its CI above zero passes, below fails), as Markdown bullets.
    ``table`` (index model): images, empty maps, area Grad-CAM, area random, orders, gap, gap low,
    gap high (:func:`pneumolib.explain.deletion_summary`)."""
    lines = []
    for model, row in table.iterrows():
        verdict, numbers = _deletion_verdict(row)
        line = (f"- {model}: **{verdict}** (area {row['area Grad-CAM']:.3f} in Grad-CAM order, {row['area random']:.3f} "
                f"in random order, mean of {int(row['orders'])} orders; {numbers}).")
        if row["empty maps"]:
            line += (f" {int(row['empty maps'])} of the {int(row.images)} maps are empty; their pixels go in a random "
                     "order, which pulls the gap towards zero.")
        lines.append(line)
    return lines


def _road_verdict(row: pd.Series) -> tuple[str, str]:
    numbers = (f"mean ROAD score {row['mean ROAD']:+.4f}, 95% CI [{row.low:+.4f}, {row.high:+.4f}] over "
               f"{int(row.ranked)} of {int(row.images)} images")
    verdict = _verdict(row, "ROAD")
    return verdict, numbers + {
        "passes": ": removing the pixels the map ranks first lowers the pneumonia logit more",
        "fails": ": removing the pixels the map ranks *last* lowers the pneumonia logit more",
        "about level": ": the interval holds zero"}[verdict]


def road_findings(table: pd.DataFrame) -> list[str]:
    """Notebook 04: ROAD per model (:func:`pneumolib.explain.road_summary`, index model), in words,
    with the verdict the notebook's rule gave it (its ``verdict`` column: the CI of the mean score above
    zero passes, below fails, else about level)."""
    lines = []
    for model, row in table.iterrows():
        if not row.ranked:
            lines.append(f"- {model}: no image has a non-empty map, so ROAD says nothing.")
            continue
        verdict, numbers = _road_verdict(row)
        lines.append(f"- {model}: **{verdict}** ({numbers}).")
    return lines


def _randomisation_verdict(row: pd.Series, cutoff: float) -> tuple[str, str]:
    numbers = (f"mean Spearman ρ {row['mean rho']:+.3f}, 95% CI [{row.low:+.3f}, {row.high:+.3f}] over "
               f"{int(row.compared)} of {int(row.images)} images")
    verdict = _verdict(row, "randomisation")
    if verdict == "passes":
        weak = ("a weak inverse correlation remains (the interval lies below zero)" if row.high < 0
                else "a weak resemblance remains (the interval lies above zero)" if row.low > 0
                else "the interval holds zero")
        return ("passes", f"{numbers}: within ±{cutoff}, so the maps do not strongly resemble those of the "
                          f"re-initialised copy; {weak}")
    if verdict == "fails":
        return "fails", (f"{numbers}: above {cutoff}, the maps resemble those of the re-initialised copy" if row.low > 0
                         else f"{numbers}: below -{cutoff}, the maps mirror those of the re-initialised copy")
    return "inconclusive", f"{numbers}: the interval reaches beyond ±{cutoff}"


def randomisation_findings(table: pd.DataFrame, cutoff: float = 0.5) -> list[str]:
    """Notebook 04: the model-randomisation test per model, in words, with the verdict the
    notebook's rule gave it (its ``verdict`` column: "passes" only when the CI of the mean Spearman rho
    lies within ±``cutoff``, since a strongly negative rho, a mirrored map, depends on the random
    weights too). Markdown bullets. ``table`` (index model): images,
    compared (images where neither map is empty), mean rho, low, high
    (:func:`pneumolib.explain.randomisation_summary`)."""
    lines = []
    for model, row in table.iterrows():
        if not row.compared:
            lines.append(f"- {model}: no image has a non-empty map from both the trained and the re-initialised "
                         "model, so the test says nothing.")
            continue
        verdict, numbers = _randomisation_verdict(row, cutoff)
        line = f"- {model}: **{verdict}** ({numbers})."
        if row.compared < row.images:
            line += (f" Only {int(row.compared)} of {int(row.images)} images count: on the others one of the two maps "
                     "is empty, has no ranking, and is left out, so the test covers only those images.")
        lines.append(line)
    return lines


def _dependence_verdict(row: pd.Series, cutoff: float) -> tuple[str, str]:
    numbers = f"mean pairwise r {row['pairwise r']:+.2f}, 95% CI [{row.low:+.2f}, {row.high:+.2f}] over {int(row.maps)} maps"
    verdict = _verdict(row, "image-dependence")
    return verdict, numbers + {"fails": f": above {cutoff}", "passes": f": below {cutoff}",
                               "inconclusive": f": the interval reaches {cutoff}"}[verdict]


def dependence_findings(table: pd.DataFrame, cutoff: float = 0.5) -> list[str]:
    """Notebook 04, sanity check 3: do the maps depend on the image? Per model and predicted class,
    the mean correlation between the maps of different images (:func:`pneumolib.explain.dependence_table`,
    index (model, predicted)) in words, with the verdict the notebook's rule gave it (its ``verdict``
    column: "fails" when its CI lies above ``cutoff``, "passes" below, "inconclusive" otherwise), as
    Markdown bullets."""
    lines = []
    for (model, called), row in table.iterrows():
        if not row.maps or not np.isfinite(row["pairwise r"]):
            lines.append(f"- {model}, images called {called}: fewer than three non-empty maps, no verdict.")
            continue
        verdict, numbers = _dependence_verdict(row, cutoff)
        meaning = {
            "fails": ("these maps are largely **one pattern for every image**, what the layer favours for the class in "
                      "general: a map in the figures above says little about that image, and a hotspot that recurs "
                      "across images is the pattern, not a finding in each of them."),
            "passes": "the maps change from image to image, as a map of one image's evidence should.",
            "inconclusive": "the data cannot tell whether the maps are one pattern or image-specific.",
        }[verdict]
        lines.append(f"- {model}, images called {called}: **{verdict}** ({numbers}): {meaning}")
    return lines


def gradcam_summary(empty: pd.DataFrame, deletion: pd.DataFrame, randomisation: pd.DataFrame,
                    cutoff: float = 0.5, dependence: pd.DataFrame | None = None,
                    road: pd.DataFrame | None = None, contribution: pd.DataFrame | None = None) -> list[str]:
    """Notebook 04: one Markdown bullet per model with its empty maps, the sign of the target
    layer's first-order term (when ``contribution`` is given), the deletion verdict, ROAD verdict,
    randomisation verdict (on the true positives it ran on) and image-dependence verdicts (ROAD
    and image dependence when given; the tables of :func:`empty_map_findings`,
    :func:`deletion_findings`, :func:`road_findings`, :func:`randomisation_findings` and
    :func:`dependence_findings`)."""
    lines = []
    for model in deletion.index:
        table = empty.loc[model, "empty, explaining the prediction"]
        deleted, _ = _deletion_verdict(deletion.loc[model])
        d = deletion.loc[model]
        r = randomisation.loc[model]
        randomised = (_randomisation_verdict(r, cutoff)[0] if r.compared else "says nothing (no comparable maps)")
        lines.append(f"- **{model}**: empty maps (explaining the prediction) for {_pct(table.get('normal', np.nan))} of the "
                     f"images it calls normal and {_pct(table.get('pneumonia', np.nan))} of those it calls pneumonia. "
                     + ("" if contribution is None else
                        f"The {contribution.loc[model, 'layer']} layer's first-order term is negative for "
                        f"{_pct(contribution.loc[model, 'share layer term < 0'])} of the images it calls pneumonia (mean "
                        f"{contribution.loc[model, 'mean layer term']:+.2f} against a mean logit of "
                        f"{contribution.loc[model, 'mean logit']:+.2f}). ")
                     + f"Deletion: {deleted} (gap {d.gap:+.3f}, 95% CI [{d['gap low']:+.3f}, "
                     f"{d['gap high']:+.3f}])."
                     + ("" if road is None or not road.loc[model, "ranked"] else
                        f" ROAD: {_road_verdict(road.loc[model])[0]} (score {road.loc[model, 'mean ROAD']:+.4f}, 95% CI "
                        f"[{road.loc[model, 'low']:+.4f}, {road.loc[model, 'high']:+.4f}]).")
                     + f" Model randomisation, on true positives only: {randomised} (ρ {r['mean rho']:+.3f} on "
                     f"{int(r.compared)} of {int(r.images)} images)."
                     + ("" if dependence is None else " Image dependence: " + "; ".join(
                         f"{_dependence_verdict(row, cutoff)[0] if np.isfinite(row['pairwise r']) else 'no verdict'} "
                         f"for the images called {called} (r {row['pairwise r']:+.2f})"
                         for called, row in dependence.loc[model].iterrows()) + "."))
    return lines
