"""Each classical pre-fill alone, as the prediction: its score and its time per image on real photos.

Usage:
    python benchmarks/prefills.py PHOTOS_DIR [PHOTOS_DIR ...] [--methods none telea ns fsr_fast shiftmap]
        [--subset-methods fsr_best] [--subset 10] [--masks true detected] [--seed 0] [--limit N]
        [--markdown] [--json OUT.json]

The photos get the seeded damage of benchmarks/quality.py (same seed, same damage). A method's
prediction is the damaged gray with the hole filled by data/prefill.py, as RGB (gray), scored with
the exact metric on the true lost region; HIST is the same for every gray prediction, so the
methods differ in SSIM_lost (and a little SSIM_full). The filled region is the true mask and/or
the one the constant-fill detector finds (what a submission has). `s/image` is the wall time of
the fill alone (mean over the row's photos, one thread: run with OMP_NUM_THREADS=1).

Rows: all photos and each folder. --subset-methods (fsr_best: 20 to 35 s per photo) run only on
the first --subset photos of each folder, in rows labelled "first N of ...", where every other
method is scored on the same photos too, so they compare.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.quality import Damaged, folder_label, damaged_photos, summarise  # noqa: E402
from data.prefill import PREFILL_METHODS, prefill  # noqa: E402
from metrics.competition import score_image  # noqa: E402
from utils.atomic import atomic_write_bytes  # noqa: E402

COLUMNS = ("score", "ssim_full", "ssim_lost", "s/image")


def score_method(photos: list[Damaged], method: str) -> list[dict[str, float]]:
    """Per photo: the score terms of the filled gray and the seconds the fill took."""
    rows = []
    for photo in photos:
        start = time.perf_counter()
        filled = prefill(photo.gray, photo.hole, method)
        seconds = time.perf_counter() - start
        row = score_image(photo.rgb, np.repeat(filled[:, :, None], 3, axis=2), photo.mask)
        row["s/image"] = seconds
        rows.append(row)
    return rows


def row_sets(photos: list[Damaged], subset: int) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """(rows of every photo: all + per folder, rows of the first `subset` photos of each folder)."""
    folders = list(dict.fromkeys(p.folder for p in photos))
    full = {"all": list(range(len(photos)))}
    full.update({folder_label(f): [i for i, p in enumerate(photos) if p.folder == f] for f in folders})
    firsts = {f: [i for i, p in enumerate(photos) if p.folder == f][:subset] for f in folders}
    small = {f"first {subset} of each folder": sorted(i for idx in firsts.values() for i in idx)} if subset else {}
    if subset:
        small.update({f"first {subset} of {folder_label(f)}": idx for f, idx in firsts.items()})
    return full, small


def mean_row(rows: list[dict[str, float]]) -> dict[str, float]:
    means = summarise(rows)
    means["s/image"] = float(np.mean([r["s/image"] for r in rows]))
    return means


def format_table(table: list[dict], markdown: bool) -> str:
    header = ["photos", "n", "mask", "method", *COLUMNS]
    lines = [[r["photos"], str(r["n"]), r["mask"], r["method"], *(f"{r[k]:.4f}" if k != "s/image" else f"{r[k]:.3f}" for k in COLUMNS)]
             for r in table]
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + " --- |" * 4 + " ---: |" * len(COLUMNS)]
        return "\n".join(out + ["| " + " | ".join(line) + " |" for line in lines])
    widths = [max(len(x) for x in column) for column in zip(header, *lines)]
    return "\n".join("  ".join(x.ljust(w) for x, w in zip(line, widths)).rstrip() for line in [header, *lines])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photos", nargs="+", type=Path, help="folders of colour photos (searched recursively)")
    methods = PREFILL_METHODS
    parser.add_argument("--methods", nargs="+", choices=methods, default=["none", "telea", "ns", "fsr_fast", "shiftmap"],
                        help="pre-fills scored on every photo")
    parser.add_argument("--subset-methods", nargs="*", choices=methods, default=["fsr_best"],
                        help="pre-fills too slow for every photo: scored on the first --subset photos of each folder")
    parser.add_argument("--subset", type=int, default=10, help="photos per folder for --subset-methods (0 = no subset rows)")
    parser.add_argument("--masks", nargs="+", choices=("true", "detected"), default=["true", "detected"],
                        help="which hole the methods fill: the true lost region, the detector's, or both")
    parser.add_argument("--seed", type=int, default=0, help="damage seed (as benchmarks/quality.py)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N photos of each folder (0 = all)")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the table as JSON")
    args = parser.parse_args(argv)
    detected = damaged_photos(args.photos, args.seed, args.limit)
    full_rows, subset_rows = row_sets(detected, args.subset if args.subset_methods else 0)
    table = []
    for mask in args.masks:
        photos = detected if mask == "detected" else [replace(p, hole=p.mask) for p in detected]
        subset_photos = sorted(set(i for idx in subset_rows.values() for i in idx))
        for method in dict.fromkeys([*args.methods, *args.subset_methods]):
            on_all = method in args.methods
            chosen = range(len(photos)) if on_all else subset_photos
            scored = dict(zip(chosen, score_method([photos[i] for i in chosen], method)))
            rows = {**(full_rows if on_all else {}), **subset_rows}
            for label, indices in rows.items():
                table.append({"photos": label, "n": len(indices), "mask": mask, "method": method,
                              **mean_row([scored[i] for i in indices])})
            print(f"done: {mask} mask, {method}", file=sys.stderr, flush=True)
    order = {label: i for i, label in enumerate([*full_rows, *subset_rows])}
    table.sort(key=lambda r: (order[r["photos"]], args.masks.index(r["mask"])))  # stable: methods keep their order
    print(f"{len(detected)} photos, damage seed {args.seed}", file=sys.stderr)
    print(format_table(table, args.markdown))
    if args.json:
        atomic_write_bytes(args.json, json.dumps({"photos": len(detected), "seed": args.seed, "rows": table}, indent=1).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
