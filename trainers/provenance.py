"""Where a bundled model came from: data, training length, code commit and the scores it reached.

Read from the run folder of the converted checkpoint (its config, step counter and TensorBoard
events), from git, and from benchmarks/quality.py --json files when given (one per photo set: the
plain rows and the clipped ones). The dict travels inside
weights/chromafill.pt; PROVENANCE.md beside it says the same for people.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import subprocess
from pathlib import Path
from typing import Any

from data.io import IMAGE_SUFFIXES
from utils.errors import ChromaFillError

REPO = Path(__file__).resolve().parent.parent
SCORE_KEYS = ("score", "ssim_full", "ssim_lost", "hist")
NOT_RECORDED = "not recorded"  # a checkpoint written before trainers/loop.py recorded its code commits


def git_commit(repo: Path = REPO) -> str:
    """HEAD's hash, with '+uncommitted changes' when the tree differs from it; 'unknown' outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}+uncommitted changes" if dirty else head


def training_minutes(run_dir: Path) -> float | None:
    """Wall-clock span of the run's TensorBoard events in minutes (None without events).

    The span from the first to the last logged scalar: the training time, validations included,
    and any pause between a stop and a resume.
    """
    folder = run_dir / "tensorboard"
    if not folder.is_dir():
        return None
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # slow import, used here only

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    times = [event.wall_time for tag in events.Tags()["scalars"] for event in events.Scalars(tag)]
    return (max(times) - min(times)) / 60 if times else None


def count_photos(root: str) -> int | None:
    """Image files under the data root (recursive; links followed), None when the folder is not here."""
    folder = Path(root)
    if not root or not folder.is_dir():
        return None
    return sum(1 for path in folder.rglob("*") if path.suffix.lower() in IMAGE_SUFFIXES)


def read_quality(path: Path) -> dict[str, Any]:
    """The `photos`, `seed`, `hole`, `exposure` and score rows of a benchmarks/quality.py --json file.

    `rows` maps each photo row (`all`, then the folders and thirds when the file has them) to its
    photo count and each method's terms, with the lost gain where the file has one.
    """
    try:
        data = json.loads(path.read_text())
        by_method = data.get("subsets") or {name: {"all": row} for name, row in data["results"].items()}  # method -> row -> terms
        sizes = data.get("subset_sizes") or {"all": data["photos"]}
        rows = {subset: {"photos": int(size), "methods": {name: _row(by_row[subset]) for name, by_row in by_method.items()}}
                for subset, size in sizes.items()}
        return {"photos": int(data["photos"]), "seed": int(data["seed"]), "hole": str(data["hole"]),
                "exposure": data.get("exposure"), "rows": rows}
    except FileNotFoundError:
        raise ChromaFillError(f"{path}: quality JSON not found") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise ChromaFillError(f"{path}: not a benchmarks/quality.py --json file ({type(err).__name__}: {err})") from None


def _row(row: dict[str, Any]) -> dict[str, float]:
    """The four terms, and the lost gain over the method's own pre-fill when there is one (None in JSON = not applicable)."""
    terms = {k: float(row[k]) for k in SCORE_KEYS}
    if row.get("lost_gain") is not None and not math.isnan(float(row["lost_gain"])):
        terms["lost_gain"] = float(row["lost_gain"])
    return terms


def collect(checkpoint: dict[str, Any], checkpoint_path: Path, data_note: str = "",
            quality: list[dict[str, Any]] | None = None, training_commit: str = "") -> dict[str, Any]:
    """The provenance of a bundled model converted from `checkpoint` (loaded from `checkpoint_path`).

    The training code's commits come from the checkpoint (trainers/loop.py records them), else from
    `training_commit` (for checkpoints written before that record existed), else 'not recorded'.
    """
    config = checkpoint["config"]
    run_dir = checkpoint_path.parent
    minutes = training_minutes(run_dir)
    return {
        "source_checkpoint": str(checkpoint_path),
        "commit": git_commit(),
        "training_commits": list(checkpoint.get("code_commits") or [training_commit or NOT_RECORDED]),
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "data": {"note": data_note, "format": config["data"]["format"], "root": config["data"]["root"],
                 "photos": count_photos(config["data"]["root"])},
        "training": {"epochs": int(checkpoint.get("epoch", 0)), "steps": int(checkpoint.get("global_step", 0)),
                     "max_minutes": config["train"]["max_minutes"],
                     "minutes": None if minutes is None else round(minutes, 1),
                     "val_scores": {k: float(v) for k, v in (checkpoint.get("scores") or {}).items()}},
        "model": _model(config["model"]["generator"]),
        "quality": quality or [],
    }


def _model(generator: dict[str, Any]) -> dict[str, Any]:
    """Type, encoder (the pretrained types' only) and head of the generator config."""
    encoder = generator.get("encoder") if generator["type"] != "unet" else None
    return {"generator": generator["type"], "encoder": encoder, "head": generator["head"]}


def markdown(provenance: dict[str, Any], file_name: str, file_bytes: bytes) -> str:
    """PROVENANCE.md: what the bundled file is and how it was made, with its size and SHA-256."""
    data, training, model = provenance["data"], provenance["training"], provenance["model"]
    photos = "unknown" if data["photos"] is None else str(data["photos"])
    minutes = ("minutes unknown (no TensorBoard events)" if training["minutes"] is None
               else f"{training['minutes']:.1f} minutes from the first to the last TensorBoard event")
    encoder = f" ({model['encoder']})" if model["encoder"] else ""
    lines = [
        f"# {file_name}", "",
        "The bundled ChromaFill generator (EMA weights, fp16), made by `tools/make_bundled_model.py`. To remake it, "
        "train, score and convert: `bash benchmarks/bundled_model.sh CAMVID_DIR BSDS500_DIR` (about 75 minutes on a "
        "2-core CPU).", "",
        "| what | value |", "| --- | --- |",
        f"| file | `{file_name}`, {len(file_bytes) / 1e6:.1f} MB, sha256 `{hashlib.sha256(file_bytes).hexdigest()}` |",
        f"| model | {model['generator']}{encoder}, head {model['head']} |",
        f"| data | {data['note'] or '-'} (data.format {data['format']}, data.root `{data['root']}`, {photos} image files) |",
        f"| training | {training['steps']} steps, {training['epochs']} epochs, {minutes} (train.max_minutes "
        f"{training['max_minutes']:g}) |",
        f"| best validation | {_terms(training['val_scores'])} |",
        f"| training code | {', then '.join(f'`{c}`' for c in provenance.get('training_commits', [NOT_RECORDED]))} |",
        f"| converted by code | `{provenance['commit']}` |",
        f"| source checkpoint | `{provenance['source_checkpoint']}` |",
        f"| created | {provenance['created']} |",
    ]
    for report in provenance.get("quality") or []:
        lines += ["", *_quality_table(report)]
    return "\n".join(lines) + "\n"


def _quality_table(report: dict[str, Any]) -> list[str]:
    """One markdown table of a quality report: a row per (photo row, method), and the lost gain column."""
    exposure = f", clipped {report['exposure']} (data/exposure.py)" if report.get("exposure") else ""
    lines = [f"Scores (benchmarks/quality.py: {report['photos']} photos{exposure}, damage seed {report['seed']}, "
             f"{report['hole']} filled; lost gain = SSIM_lost minus that of the model's own pre-fill alone):", "",
             "| photos | method | " + " | ".join(SCORE_KEYS) + " | lost gain |", "| --- | --- |" + " ---: |" * (len(SCORE_KEYS) + 1)]
    for subset, row in report["rows"].items():
        for name, terms in row["methods"].items():
            gain = f"{terms['lost_gain']:+.4f}" if "lost_gain" in terms else "-"
            lines.append(f"| {subset} ({row['photos']}) | {name} | " + " | ".join(f"{terms[k]:.4f}" for k in SCORE_KEYS)
                         + f" | {gain} |")
    return lines


def _terms(scores: dict[str, float]) -> str:
    shown = [f"{k} {v:.4f}" for k, v in scores.items() if not math.isnan(v)]
    return ", ".join(shown) if shown else "-"
