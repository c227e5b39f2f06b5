"""Train the object-category classifier used by ``bghop eval`` for text faithfulness.

    OMP_NUM_THREADS=1 python scripts/train_category_classifier.py --threads 1 \
        --shards /work/data/synth_bi --report runs/category_classifier

Data (every category of :func:`bghop.data.objects.category_names`):

* **procedural objects**: ``--per-category`` fresh objects per category
  (:func:`bghop.data.objects.make_object`, seeds disjoint from the synthetic set's), each under a
  uniformly random rotation and a small random offset, SDF on the 64³ interaction grid
  (n-units, scale 5, ±1.5 n); the last ``--test-per-category`` objects of each category are held out;
* **synthetic shards** (``--shards``): the ``object_tsdf`` of the two-hand samples (objects in the
  right hand's normalised frame), category from the metadata; objects held out by ``object_id``
  (every ``--shard-test-every``-th distinct object);
* with the autoencoder (default: the shipped one; ``--no-autoencoder`` to skip): every object is
  also passed through it (encode → decode) and added with the same label and split, so the
  classifier knows what each category looks like after the autoencoder — generated objects are
  always autoencoder decodes.

Training: :func:`bghop.train.classifier.fit_classifier` (random rotations and shifts of the
32³ pooled grids). Held-out evaluation: accuracy per source and per category and the confusion
matrices (``REPORT/confusion.png``), with the same test-time rotation averaging ``bghop eval``
uses. The model is written to ``--out`` (default: the package's shipped classifier) with the
measurements in its ``config.json``, and the classifier section of the model card is rewritten.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from bghop.data.objects import category_names, make_object
from bghop.data.shards import TRUNCATION, ShardDataset
from bghop.geometry.sdf import mesh_to_sdf_grid
from bghop.models.classifier import CategoryClassifier, ClassifierConfig
from bghop.train.classifier import ClassifierFitConfig, fit_classifier

logger = logging.getLogger("train_category_classifier")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "src" / "bghop" / "assets" / "models" / "category_classifier"
MODEL_CARD = ROOT / "src" / "bghop" / "assets" / "models" / "MODEL_CARD.md"
CARD_BEGIN = "<!-- category_classifier:begin -->"
CARD_END = "<!-- category_classifier:end -->"
#: seeds of the procedural objects start here (the synthetic set uses small seeds)
SEED_BASE = 1_000_000


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniform random rotation (normalised Gaussian quaternion)."""
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def procedural_sdfs(config: ClassifierConfig, per_category: int, seed: int, max_offset_n: float = 0.15):
    """Yield ``(category, object index, sdf (R,R,R) n-units)`` for fresh procedural objects."""
    cats = category_names()
    jobs = [(c, k) for k in range(per_category) for c in cats]  # interleaved: a cut-off run stays balanced
    for c, k in tqdm(jobs, desc="procedural SDFs", unit="obj"):
        rng = np.random.default_rng([seed, SEED_BASE + cats.index(c), k])
        obj = make_object(c, rng)
        T = np.eye(4)
        T[:3, :3] = config.scale * _random_rotation(rng)
        T[:3, 3] = rng.uniform(-max_offset_n, max_offset_n, 3)
        sdf = mesh_to_sdf_grid(obj.mesh, config.grid_spec, transform=T, max_distance=config.truncation)
        yield c, k, sdf


def shard_sdfs(folders: list[str]):
    """Yield ``(category, object_id, sdf (R,R,R) n-units)`` from shard folders."""
    for folder in folders:
        ds = ShardDataset(folder)
        for i in tqdm(range(len(ds)), desc=f"shards {Path(folder).name}", unit="sample"):
            meta = ds.meta(i)
            cat = meta.get("category") or re.split(r"[-_]", meta["object_id"])[0]
            yield cat, f"{Path(folder).name}:{meta['object_id']}", ds[i]["object_tsdf"][0].numpy() * TRUNCATION


def _held_out(key: str, every: int) -> bool:
    return int(hashlib.sha1(key.encode()).hexdigest(), 16) % every == 0


class _Set:
    """Preprocessed grids with labels, split and source tags."""

    def __init__(self) -> None:
        self.x: list[torch.Tensor] = []
        self.y: list[int] = []
        self.test: list[bool] = []
        self.source: list[str] = []

    def add(self, x: torch.Tensor, y: int, test: bool, source: str) -> None:
        self.x.append(x.half())
        self.y.append(y)
        self.test.append(test)
        self.source.append(source)

    def arrays(self, test: bool, source_prefix: str = ""):
        idx = [i for i, (t, s) in enumerate(zip(self.test, self.source)) if t == test and s.startswith(source_prefix)]
        if not idx:
            return torch.zeros(0), torch.zeros(0, dtype=torch.long)
        return (torch.stack([self.x[i] for i in idx]).float(), torch.tensor([self.y[i] for i in idx]))


def build_data(model: CategoryClassifier, args, autoencoder) -> _Set:
    cats = model.categories
    data = _Set()

    def add(sdf: np.ndarray, label: int, test: bool, source: str) -> None:
        s = torch.from_numpy(np.asarray(sdf, dtype=np.float32))[None, None]
        data.add(model.preprocess(s)[0], label, test, source)
        if autoencoder is not None:
            with torch.no_grad():
                rec = autoencoder.decode(autoencoder.encode(s).mean)
            if float(rec.min()) < 0:  # an object the autoencoder loses entirely carries no label
                data.add(model.preprocess(rec)[0], label, test, source + "_ae")

    n_test = args.test_per_category
    for c, k, sdf in procedural_sdfs(model.config, args.per_category, args.seed):
        add(sdf, cats.index(c), k >= args.per_category - n_test, "procedural")
    for c, key, sdf in shard_sdfs(args.shards):
        if c not in cats:
            logger.warning("skipping a shard sample of unknown category %r", c)
            continue
        add(sdf, cats.index(c), _held_out(key, args.shard_test_every), "shards")
    return data


def evaluate(model: CategoryClassifier, x: torch.Tensor, y: torch.Tensor, tta: int) -> tuple[np.ndarray, np.ndarray]:
    """(predictions, confusion matrix [true, predicted]) on preprocessed grids."""
    c = len(model.categories)
    if len(y) == 0:
        return np.zeros(0, dtype=int), np.zeros((c, c), dtype=int)
    pred = model.predict_proba(x, tta=tta, preprocessed=True).argmax(1).numpy()
    conf = np.zeros((c, c), dtype=int)
    np.add.at(conf, (y.numpy(), pred), 1)
    return pred, conf


def confusion_figure(confusions: dict[str, np.ndarray], categories: tuple[str, ...], path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.2 * len(confusions), 6.6), layout="constrained")
    axes = fig.subplots(1, len(confusions), squeeze=False)[0]
    for ax, (name, conf) in zip(axes, confusions.items()):
        rates = conf / np.maximum(conf.sum(1, keepdims=True), 1)
        ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
        for i in range(conf.shape[0]):
            for j in range(conf.shape[1]):
                if conf[i, j]:
                    ax.text(j, i, str(conf[i, j]), ha="center", va="center", fontsize=6,
                            color="white" if rates[i, j] > 0.6 else "black")
        ax.set_xticks(range(len(categories)), categories, rotation=90, fontsize=7)
        ax.set_yticks(range(len(categories)), categories, fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        acc = np.trace(conf) / max(conf.sum(), 1)
        ax.set_title(f"{name}: {conf.sum()} held-out objects, accuracy {acc:.1%}", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def write_card_section(info: dict, size_mb: float) -> None:
    """Rewrite the classifier section of MODEL_CARD.md (between markers; appended if absent)."""
    acc = info["held_out"]
    per_cat = acc["per_category_clean"]
    worst = sorted(per_cat.items(), key=lambda kv: kv[1])[:4]
    lines = [
        CARD_BEGIN,
        "## category_classifier",
        "",
        (f"- type: `category_classifier` (text faithfulness in `bghop eval`), weights {size_mb:.2f} MB "
         "(float32 safetensors)"),
        (f"- architecture: 3D CNN on the 64³ object SDF (truncated ±0.2 n, average-pooled to 32³), conv channels "
         f"{info['config']['channels']}, {info['num_parameters']} parameters, {len(info['config']['categories'])} "
         "categories"),
        f"- data: {info['data']['procedural_objects_per_category']} fresh procedural objects per category "
        f"(random rotation and offset; {info['data']['procedural_test_per_category']} per category held out) "
        f"and the object SDFs of {info['data']['shard_samples']} synthetic-set samples ({', '.join(info['data']['shards'])}; "
        "objects held out by id); "
        + ("each also passed through the shipped autoencoder" if info['data']['autoencoder'] else "no autoencoder copies")
        + f": {info['data']['train_grids']} training grids, {info['data']['test_grids']} held-out grids",
        (f"- training: {info['steps']} steps, batch {info['fit']['batch_size']}, AdamW lr {info['fit']['lr']}, "
         f"random rotations (uniform SO(3)) and shifts, {info['seconds'] / 60:.1f} min on 1 CPU thread "
         f"(+ {info['data_seconds'] / 60:.1f} min building the data; a shared 2-core machine)"),
        (f"- held-out accuracy ({info['tta']} cube rotations averaged): procedural objects {acc['procedural']:.1%}, "
         f"after the autoencoder {acc['procedural_ae']:.1%}; synthetic-set objects {acc['shards']:.1%}, "
         f"after the autoencoder {acc['shards_ae']:.1%}"),
        "- hardest categories (clean held-out accuracy): " + ", ".join(f"{c} {a:.0%}" for c, a in worst),
        ("- limits: only the 21 procedural categories; objects of real data (ARCTIC, YCB) were never seen. "
         "Retrain with `python scripts/train_category_classifier.py`."),
        CARD_END,
    ]
    section = "\n".join(lines) + "\n"
    text = MODEL_CARD.read_text() if MODEL_CARD.is_file() else "# bghop default models\n"
    if CARD_BEGIN in text and CARD_END in text:
        a, b = text.index(CARD_BEGIN), text.index(CARD_END) + len(CARD_END)
        text = text[:a] + section.rstrip("\n") + text[b:]
    else:
        marker = "\n## How these were trained"
        if marker in text:
            i = text.index(marker)
            text = text[:i].rstrip("\n") + "\n\n" + section + text[i:]
        else:
            text = text.rstrip("\n") + "\n\n" + section
    MODEL_CARD.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="model folder to write (default: the shipped one)")
    ap.add_argument("--report", default="runs/category_classifier", help="folder for confusion.png, metrics.json")
    ap.add_argument("--shards", nargs="*", default=["/work/data/synth_bi"], help="synthetic shard folders")
    ap.add_argument("--per-category", type=int, default=24, help="procedural objects per category (train + test)")
    ap.add_argument("--test-per-category", type=int, default=6, help="procedural objects held out per category")
    ap.add_argument("--shard-test-every", type=int, default=5, help="hold out 1 of this many shard objects")
    ap.add_argument("--autoencoder", default=None, help="autoencoder folder (default: the shipped one)")
    ap.add_argument("--no-autoencoder", action="store_true", help="do not add autoencoder reconstructions")
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--max-minutes", type=float, default=8.0, help="training time limit (the data take ~5 more)")
    ap.add_argument("--tta", type=int, default=8, help="cube rotations averaged at evaluation")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-card", action="store_true", help="do not rewrite the model card section")
    ap.add_argument("--card-only", action="store_true",
                    help="only rewrite the model card section from the config.json of --out (no training)")
    ap.add_argument("--reuse-data", action="store_true",
                    help="reuse REPORT/data_cache.pt from an earlier run with the same data options")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.card_only:
        meta = json.loads((Path(args.out) / "config.json").read_text())
        write_card_section({**meta["training"], "config": meta["config"]},
                           (Path(args.out) / "model.safetensors").stat().st_size / 2**20)
        print(f"rewrote the category_classifier section of {MODEL_CARD}")
        return
    t_start = time.perf_counter()

    config = ClassifierConfig(categories=category_names())
    model = CategoryClassifier(config)
    autoencoder = None
    if not args.no_autoencoder:
        from bghop.models.autoencoder import ObjectAutoencoder

        autoencoder = ObjectAutoencoder.from_pretrained(args.autoencoder).eval()
        if autoencoder.config.resolution != config.resolution or autoencoder.config.truncation != config.truncation:
            raise SystemExit("the autoencoder's grid does not match the classifier's")
    cache = Path(args.report) / "data_cache.pt"
    key = {k: getattr(args, k) for k in ("shards", "per_category", "test_per_category", "shard_test_every",
                                         "autoencoder", "no_autoencoder", "seed")}
    data = None
    if args.reuse_data and cache.is_file():
        saved = torch.load(cache, weights_only=False)
        if saved.get("key") == key and tuple(saved.get("categories", ())) == config.categories:
            data = saved["data"]
            logger.info("reusing the data of %s", cache)
    if data is None:
        data = build_data(model, args, autoencoder)
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"key": key, "categories": list(config.categories), "data": data}, cache)
    t_data = time.perf_counter() - t_start
    x_train, y_train = data.arrays(test=False)
    logger.info("data: %d training grids, %d held-out grids (%.0f s)", len(y_train), sum(data.test), t_data)

    fit = ClassifierFitConfig(steps=args.steps, batch_size=args.batch, lr=args.lr, seed=args.seed,
                              max_seconds=args.max_minutes * 60)
    res = fit_classifier(model, x_train, y_train, fit)
    logger.info("trained %d steps in %.0f s, final loss %.3f, train accuracy %.1f%%", res.steps, res.seconds,
                float(np.mean(res.losses[-50:])), 100 * res.train_accuracy)

    cats = config.categories
    held_out: dict = {}
    confusions: dict[str, np.ndarray] = {}
    for name, prefix_ok in (("procedural", lambda s: s == "procedural"), ("procedural_ae", lambda s: s == "procedural_ae"),
                            ("shards", lambda s: s == "shards"), ("shards_ae", lambda s: s == "shards_ae"),
                            ("clean", lambda s: not s.endswith("_ae")), ("ae", lambda s: s.endswith("_ae"))):
        idx = [i for i, (t, s) in enumerate(zip(data.test, data.source)) if t and prefix_ok(s)]
        x = torch.stack([data.x[i] for i in idx]).float() if idx else torch.zeros(0, 1, 32, 32, 32)
        y = torch.tensor([data.y[i] for i in idx], dtype=torch.long)
        _, conf = evaluate(model, x, y, args.tta)
        held_out[name] = float(np.trace(conf) / max(conf.sum(), 1))
        held_out[f"{name}_count"] = int(conf.sum())
        confusions[name] = conf
    for kind in ("clean", "ae"):
        conf = confusions[kind]
        held_out[f"per_category_{kind}"] = {c: float(conf[i, i] / conf[i].sum()) if conf[i].sum() else None
                                           for i, c in enumerate(cats)}
    report = Path(args.report)
    confusion_figure({"held-out objects": confusions["clean"], "after the autoencoder": confusions["ae"]}, cats,
                     report / "confusion.png")

    info = {
        "steps": res.steps, "seconds": round(res.seconds, 1), "data_seconds": round(t_data, 1),
        "final_loss": float(np.mean(res.losses[-50:])), "train_accuracy": res.train_accuracy,
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "fit": {k: v for k, v in vars(fit).items()}, "tta": args.tta,
        "data": {"procedural_objects_per_category": args.per_category,
                 "procedural_test_per_category": args.test_per_category, "procedural_seed": args.seed,
                 "shards": [str(s) for s in args.shards],
                 "shard_samples": sum(1 for s in data.source if s == "shards"),
                 "autoencoder": autoencoder is not None, "train_grids": len(y_train),
                 "test_grids": int(sum(data.test))},
        "held_out": held_out,
    }
    out = model.save_pretrained(args.out, extra={"training": info})
    size_mb = (out / "model.safetensors").stat().st_size / 2**20
    report.mkdir(parents=True, exist_ok=True)
    (report / "metrics.json").write_text(json.dumps({**info, "config": config.to_dict(),
                                                     "confusion": {k: v.tolist() for k, v in confusions.items()}},
                                                    indent=1))
    if not args.no_card:
        write_card_section({**info, "config": config.to_dict()}, size_mb)

    print(f"\nheld-out accuracy (tta {args.tta}):")
    for name in ("procedural", "procedural_ae", "shards", "shards_ae", "clean", "ae"):
        print(f"  {name:14s} {held_out[name]:6.1%}  ({held_out[name + '_count']} grids)")
    print("\nper category (clean / after autoencoder):")
    for c in cats:
        a, b = held_out["per_category_clean"][c], held_out["per_category_ae"][c]
        fmt = lambda v: "   -  " if v is None else f"{v:6.1%}"
        print(f"  {c:10s} {fmt(a)} / {fmt(b)}")
    print(f"\nwrote {out} ({size_mb:.2f} MB), {report / 'confusion.png'}, {report / 'metrics.json'} "
          f"in {(time.perf_counter() - t_start) / 60:.1f} min")


if __name__ == "__main__":
    main()
