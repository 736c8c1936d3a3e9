"""The run store: one folder per run, named by its run id, holding ``record.json`` and ``model.pt``.

The committed store (``results/store/``) is the **reference**: its ``checksums.sha256`` lists the
SHA-256 of every record and model file it ships, checked whenever one is read, and no run made
elsewhere replaces a record there (:meth:`RunStore.save_record` refuses a record whose numbers
differ from the stored one, unless the reference is being updated on purpose with
``python -m tools.notebooks run --update-reference``, which sets ``PNEUMOLIB_UPDATE_REFERENCE=1``).

A store may have a read-only **reference** beside it (:func:`pneumolib.paths.reference_dir`): a
render (``results/render/store``) or a run with other parameters (``results/custom/.../store``)
reads every run it lacks from the committed store, checked against that store's checksums, and
writes only into its own folder.

Any notebook or command that asks for a run the store already holds (same config, data
fingerprint, fold and teachers) loads it instead of training again. ``record.json`` is written
last and atomically, so a folder with a record is a finished run; a record whose model file is
missing still serves tables, and is trained again only where the model itself is needed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator

from torch import nn

from ..errors import CheckpointError, ReferenceChangedError
from ..models import load_model, save_checkpoint
from ..models.checkpoint import store_half_precision
from ..paths import display_path, reference_dir, results_base, results_dir, write_atomically
from ..models.formats import describe_cpu
from .checksums import sha256_of
from .runs import RECORD_FORMAT, RunRecord, RunSpec, data_provenance, teacher_ensemble

RECORD_FILE = "record.json"
MODEL_FILE = "model.pt"
CHECKSUMS_FILE = "checksums.sha256"  # ``sha256sum`` format, paths relative to the store root
UPDATE_REFERENCE_ENV = "PNEUMOLIB_UPDATE_REFERENCE"
MODEL_LOG_ENV = "PNEUMOLIB_MODEL_LOG"  # a file that collects the run ids whose models were loaded
SCORED_FIELDS = ("val", "test", "tuned", "probabilities")  # what makes two records of one run the same numbers


_missing_file_source: Callable[[str], Path | None] | None = None


def use_missing_file_source(source: Callable[[str], Path | None] | None) -> None:
    """Where the default results' store gets a record or model file it lacks: ``source`` is called
    with the file's path relative to the results folder (``store/<run id>/record.json``) and makes
    it present, or returns None. The course sets its published reference results here (fetched and
    checked against their SHA-256); None (the default) means a missing file is simply missing."""
    global _missing_file_source
    _missing_file_source = source


def updating_reference() -> bool:
    """Whether this process may replace stored records with other numbers (``--update-reference``)."""
    return os.environ.get(UPDATE_REFERENCE_ENV, "") == "1"


def where_it_ran(fields: dict[str, Any]) -> str:
    """A record's machine and precision in a few words, for messages. Records that combine or adapt
    stored runs (ensembles, adapted models) carry no machine of their own: they were computed
    from stored weights or probabilities by whatever machine rendered them."""
    formats = fields.get("formats")
    if not formats:
        return f"{fields.get('kind', 'derived')} record, computed from stored runs by the machine that rendered it"
    precision = "bf16" if formats.get("bf16") else "fp32"
    return f"{formats.get('cpu') or fields.get('device', 'an unknown device')}, {precision}"


def default_store_root() -> Path:
    """``results/store`` of the active profile (``results/smoke/store`` in the smoke profile)."""
    return results_dir() / "store"


def default_reference_root() -> Path | None:
    """The store of the active results' reference folder, or None (see :func:`pneumolib.paths.reference_dir`)."""
    reference = reference_dir()
    return None if reference is None else reference / "store"


class RunStore:
    """Finished runs under ``root``, looked up by run id; what ``root`` lacks is read from the
    read-only ``reference`` store when there is one (default: the active results' reference, for
    the default store)."""

    def __init__(self, root: str | Path | None = None, reference: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_store_root()
        if reference is None and root is None:
            reference = default_reference_root()
        self.reference = RunStore(reference) if reference is not None else None
        if self.reference is not None and self.reference.root.resolve() == self.root.resolve():
            self.reference = None
        self._checksums: dict[str, str] | None = None

    def checksums(self) -> dict[str, str]:
        """``{relative path: sha256}`` from ``checksums.sha256`` (empty when the store ships none)."""
        if self._checksums is None:
            self._checksums = {}
            path = self.root / CHECKSUMS_FILE
            if path.is_file():
                for line in path.read_text().splitlines():
                    if line.strip():
                        digest, name = line.split(maxsplit=1)
                        self._checksums[name.lstrip("*")] = digest
        return self._checksums

    def verify(self, path: Path) -> None:
        """Check ``path`` against the store's checksum list (files it does not list pass)."""
        if updating_reference():
            return  # new reference files are being written; the list is rewritten at the end
        name = path.relative_to(self.root).as_posix()
        expected = self.checksums().get(name)
        if expected is not None and sha256_of(path) != expected:
            raise ReferenceChangedError(
                f"{display_path(path)} does not match its checksum in {display_path(self.root / CHECKSUMS_FILE)}: the "
                "file was changed or damaged. Restore it with `git checkout -- results/store`; to make new "
                "reference results on purpose, run `python -m tools.notebooks run --update-reference`.")

    def write_checksums(self) -> Path:
        """List every record and model file of the store in ``checksums.sha256`` (``--update-reference``),
        after storing the large models' weights at half precision (:func:`store_half_precision`)."""
        for path in sorted(self.root.glob(f"*/{MODEL_FILE}")):
            store_half_precision(path)
        files = sorted(p for p in self.root.glob("*/*") if p.name in (RECORD_FILE, MODEL_FILE))
        lines = [f"{sha256_of(p)}  {p.relative_to(self.root).as_posix()}" for p in files]
        self._checksums = None
        return write_atomically(self.root / CHECKSUMS_FILE, lambda h: h.write("\n".join(lines) + "\n"))

    def folder(self, run_id: str) -> Path:
        return self.root / run_id

    def model_path(self, run_id: str) -> Path:
        return self.folder(run_id) / MODEL_FILE

    def has_model(self, run_id: str) -> bool:
        self._fetch(self.model_path(run_id))
        if self.model_path(run_id).is_file():
            return True
        return self.reference is not None and self.reference.has_model(run_id)

    def _fetch(self, path: Path) -> None:
        """Ask the missing-file source (:func:`use_missing_file_source`) for a missing file of the
        default results' store."""
        if path.is_file() or _missing_file_source is None or self.root.resolve() != (results_base() / "store").resolve():
            return
        _missing_file_source(path.relative_to(self.root.parent).as_posix())

    def get(self, run_id: str) -> RunRecord | None:
        """The finished run ``run_id``, or None (also for an unreadable or foreign file)."""
        path = self.folder(run_id) / RECORD_FILE
        if not path.is_file() and self.reference is not None:
            return self.reference.get(run_id)
        self._fetch(path)
        try:
            fields = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        self.verify(path)
        return RunRecord(fields) if fields.get("format") == RECORD_FORMAT and fields.get("run_id") == run_id else None

    def find(self, spec: RunSpec, fingerprint: str, need_model: bool = False) -> RunRecord | None:
        """The stored run for ``spec`` on data ``fingerprint`` (with its model file when ``need_model``)."""
        run_id = spec.run_id(fingerprint)
        record = self.get(run_id)
        if record is None or record.fields.get("identity") != spec.identity(fingerprint):
            return None
        if need_model and not self.has_model(run_id):
            return None
        return record

    def save_model(self, record: RunRecord, model: nn.Module, provenance: dict[str, Any]) -> Path:
        """The run's model as an ordinary checkpoint, with its val-picked threshold."""
        return save_checkpoint(self.model_path(record.run_id), model, record.config, threshold=record.threshold,
                               metrics=record.fields["test"], provenance=provenance)

    def save_record(self, record: RunRecord) -> Path:
        """Write ``record.json`` (last, atomically: a record means a finished run). A stored record
        of the same run with other numbers is another machine's (or precision's) measurement: it is
        never replaced, except with ``--update-reference``."""
        stored = self.get(record.run_id)
        if stored is not None:
            same = all(stored.fields.get(k) == json.loads(json.dumps(record.fields.get(k))) for k in SCORED_FIELDS)
            if same:
                return self.folder(record.run_id) / RECORD_FILE  # nothing new: leave the file (and its checksum) as it is
            if not updating_reference():
                raise ReferenceChangedError(
                    f"Run {record.run_id} in {display_path(self.root)}/ holds other numbers (stored: "
                    f"{where_it_ran(stored.fields)}) than this run (computed here, on {describe_cpu()}); "
                    "it is not replaced. A run on another machine or in another precision is a replicate: run "
                    "`python -m tools.notebooks run --replicate` (or set PNEUMOLIB_RESULTS to a folder of "
                    "your own), and compare with `python -m tools.notebooks report`.")
        return write_atomically(self.folder(record.run_id) / RECORD_FILE, lambda h: h.write(record.to_json() + "\n"))

    def save(self, record: RunRecord, data=None) -> RunRecord:
        """Save a record and, when it carries one, its model."""
        if record.model is not None and data is not None:
            self.save_model(record, record.model, data_provenance(data))
        self.save_record(record)
        return record

    def load_model(self, run_id: str) -> nn.Module:
        """The trained model of a stored run, in eval mode."""
        path = self.model_path(run_id)
        if not path.is_file() and self.reference is not None and self.reference.has_model(run_id):
            return self.reference.load_model(run_id)
        self._fetch(path)
        if not path.is_file():
            raise CheckpointError(f"Run {run_id} has no model file in {self.root.name}/ ({MODEL_FILE}); "
                                  "run it again (the runner does this when a model is needed).")
        self.verify(path)
        log = os.environ.get(MODEL_LOG_ENV)
        if log:  # a reference update ships exactly the models the notebooks load
            with open(log, "a") as handle:
                handle.write(run_id + "\n")
        return load_model(path)[0]

    def prune_models(self, keep: set[str]) -> list[str]:
        """Delete the model files of runs not in ``keep`` (their records stay); returns their run ids."""
        removed = [p.parent.name for p in self.root.glob(f"*/{MODEL_FILE}") if p.parent.name not in keep]
        for run_id in removed:
            self.model_path(run_id).unlink()
        return sorted(removed)

    def teacher(self, run_ids: tuple[str, ...]) -> nn.Module:
        """The equal-weight ensemble of stored runs' models (a distillation teacher)."""
        return teacher_ensemble([self.load_model(run_id) for run_id in run_ids])

    def run_ids(self) -> set[str]:
        """The run ids of every folder in this store and its reference."""
        own = {p.name for p in self.root.iterdir() if p.is_dir()} if self.root.is_dir() else set()
        return own | (self.reference.run_ids() if self.reference is not None else set())

    def records(self) -> Iterator[RunRecord]:
        """Every finished run in the store (and its reference), in run id order."""
        for run_id in sorted(self.run_ids()):
            record = self.get(run_id)
            if record is not None:
                yield record
