"""The run store: one folder per run, named by its run id, holding ``record.json`` and ``model.pt``.

Any notebook or command that asks for a run the store already holds (same config, data
fingerprint, fold and teachers) loads it instead of training again. ``record.json`` is written
last and atomically, so a folder with a record is a finished run; a record whose model file is
missing still serves tables, and is trained again only where the model itself is needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from torch import nn

from ..errors import CheckpointError
from ..models import load_model, save_checkpoint
from ..paths import results_dir, write_atomically
from .runs import RECORD_FORMAT, RunRecord, RunSpec, data_provenance, teacher_ensemble

RECORD_FILE = "record.json"
MODEL_FILE = "model.pt"


def default_store_root() -> Path:
    """``results/store`` of the active profile (``results/smoke/store`` in the smoke profile)."""
    return results_dir() / "store"


class RunStore:
    """Finished runs under ``root``, looked up by run id."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_store_root()

    def folder(self, run_id: str) -> Path:
        return self.root / run_id

    def model_path(self, run_id: str) -> Path:
        return self.folder(run_id) / MODEL_FILE

    def has_model(self, run_id: str) -> bool:
        return self.model_path(run_id).is_file()

    def get(self, run_id: str) -> RunRecord | None:
        """The finished run ``run_id``, or None (also for an unreadable or foreign file)."""
        try:
            fields = json.loads((self.folder(run_id) / RECORD_FILE).read_text())
        except (OSError, ValueError):
            return None
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
        """Write ``record.json`` (last, atomically: a record means a finished run)."""
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
        if not path.is_file():
            raise CheckpointError(f"Run {run_id} has no model file in {self.root.name}/ ({MODEL_FILE}); "
                                  "run it again (the runner does this when a model is needed).")
        return load_model(path)[0]

    def teacher(self, run_ids: tuple[str, ...]) -> nn.Module:
        """The equal-weight ensemble of stored runs' models (a distillation teacher)."""
        return teacher_ensemble([self.load_model(run_id) for run_id in run_ids])

    def records(self) -> Iterator[RunRecord]:
        """Every finished run in the store, in folder order."""
        if not self.root.is_dir():
            return
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            record = self.get(folder.name)
            if record is not None:
                yield record
