"""Look at training data: decode stored samples back into result folders and a contact sheet."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from bghop.core.outputs import staged_folder
from bghop.data.shards import TRUNCATION, ShardDataset
from bghop.eval.runs import RunRecord, SampleRecord, hands_digest, write_run_record
from bghop.fields.encode import GridSettings
from bghop.geometry.sdf import sdf_grid_to_mesh
from bghop.hands.params import HandParams, Hands
from bghop.viz.render import contact_sheet
from bghop.viz.results import ResultSample, legacy_run_files, write_result_folder

__all__ = ["show_samples"]


def show_samples(data: str | os.PathLike, out: str | os.PathLike, k: int = 8, seed: int = 0) -> list[Path]:
    """Write ``k`` random samples of a data folder as result folders ``out/<i>/`` and ``out/contact_sheet.png``.

    The object is re-extracted from the stored truncated SDF (marching cubes, back to the
    object frame with the stored ``nTo``), so the picture shows what training sees. ``out/summary.json``
    is the run record (kind ``"data"``): per sample its prompt, category and object id. The folder is
    staged and swapped in whole (:func:`bghop.core.outputs.staged_folder`).
    """
    ds = ShardDataset(data)
    if len(ds) == 0:
        raise FileNotFoundError(f"{data} holds no samples")
    grid = GridSettings.from_dict(ds.manifest.settings["config"]["grid"]) if "config" in ds.manifest.settings \
        else GridSettings.from_dict(ds.manifest.settings["grid"])
    idx = np.random.default_rng(seed).choice(len(ds), size=min(k, len(ds)), replace=False)
    out = Path(out)
    with staged_folder(out, "data", legacy=legacy_run_files) as stage:
        names = _write_samples(ds, grid, idx, stage, data, k, seed)
    return [out / n for n in names]


def _write_samples(ds: ShardDataset, grid: GridSettings, idx: np.ndarray, out: Path, data, k: int, seed: int
                   ) -> list[str]:
    renders, labels, records = [], [], []
    for n, i in enumerate(sorted(idx.tolist())):
        item, meta = ds[i], ds.meta(i)
        sdf_n = item["object_tsdf"][0].cpu().numpy() * TRUNCATION
        oTn = np.linalg.inv(meta["nTo"])
        mesh = sdf_grid_to_mesh(sdf_n, grid.sdf_spec, transform=oTn)
        entries = {s: h for s, h in meta["hands"].items() if s in ("right", "left")}
        hands = Hands.from_params({s: HandParams.from_json_dict(h) for s, h in entries.items()},
                                  entries["right"].get("kind", "open"))
        folder = write_result_folder(out / str(n), ResultSample(mesh, hands, title=meta["text"]))
        renders.append(folder / "render.png")
        labels.append(f"{n}: {meta['text']}")
        records.append(SampleRecord(name=str(n), text=meta["text"], group=meta.get("object_id"),
                                    category=meta.get("category"),
                                    hands_digest=hands_digest(hands.to_json_dict()), scores={"index": int(i)}))
    sheet = contact_sheet(renders, out / "contact_sheet.png", cols=2, labels=labels)
    write_run_record(out, RunRecord(kind="data", samples=records, settings={"data": str(data), "k": k, "seed": seed}))
    return [*(r.parent.name for r in renders), sheet.name]
