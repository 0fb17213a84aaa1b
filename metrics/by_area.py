"""Scores split by lost-region area, as LaMa reports its metrics per mask-size group.

Small holes are mostly a colourisation problem, large ones an inpainting problem, so a change can
help one group and hurt another while the mean hides it. The groups are terciles of the evaluated
set (equal counts, sorted by the lost fraction of the image), with their area bounds reported.
"""

from __future__ import annotations

import numpy as np

from metrics.competition import KEYS, mean_scores

GROUPS = ("small", "medium", "large")


def area_groups(areas: dict[str, float]) -> dict[str, list[str]]:
    """{group: image names} over area terciles; groups left empty (under three images) are omitted."""
    names = sorted(areas, key=lambda name: (areas[name], name))
    groups = {}
    for group, members in zip(GROUPS, np.array_split(np.array(names, dtype=object), len(GROUPS))):
        if len(members):
            groups[group] = [str(name) for name in members]
    return groups


def split_by_area(rows: dict[str, dict[str, float]], areas: dict[str, float],
                  keys: tuple[str, ...] = KEYS) -> dict[str, dict[str, float]]:
    """{group: {count, area_min, area_max, <mean of each of `keys`>}} over area terciles.

    `areas` maps each image name to its lost fraction (0..1).
    """
    groups = {}
    for group, members in area_groups({name: areas[name] for name in rows}).items():
        fractions = [areas[name] for name in members]
        groups[group] = {
            "count": len(members),
            "area_min": float(min(fractions)),
            "area_max": float(max(fractions)),
            **mean_scores([rows[name] for name in members], keys),
        }
    return groups
