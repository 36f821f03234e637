"""Joint-name maps: which joints of a foreign skeleton are the 17 H36M joints.

A name map lists, in H36M-17 order (``edgetokens.pose.skeleton.H36M_JOINT_NAMES``), one entry per
joint: a name, or a tuple of alternatives tried in turn. Names match exactly first, then ignoring
case and any namespace prefix (``mixamorig:Hips`` matches ``Hips``), so one map serves the usual
variants of a skeleton.
"""
from __future__ import annotations

from collections.abc import Sequence

from edgetokens.pose.skeleton import H36M_JOINT_NAMES

NameMap = Sequence["str | Sequence[str]"]


def bare(name: str) -> str:
    """``name`` without a namespace prefix (``mixamorig:LeftArm`` -> ``leftarm``), lower case."""
    return name.rpartition(":")[2].strip().lower()


def check_name_map(name_map: NameMap, where: str) -> list[tuple[str, ...]]:
    if isinstance(name_map, str) or len(name_map) != len(H36M_JOINT_NAMES):
        raise ValueError(f"{where}: a name map needs {len(H36M_JOINT_NAMES)} entries in H36M order "
                         f"({', '.join(H36M_JOINT_NAMES)}); got {name_map!r}")
    return [(entry,) if isinstance(entry, str) else tuple(entry) for entry in name_map]


def resolve_names(available: Sequence[str], name_map: NameMap, where: str) -> list[int]:
    """Indices into ``available`` of the 17 H36M joints; ValueError naming ``where`` and what is missing."""
    available = [str(n) for n in available]
    exact = {n: i for i, n in enumerate(available)}
    loose: dict[str, int] = {}
    for i, n in enumerate(available):
        loose.setdefault(bare(n), i)
    picked, missing = [], []
    for joint, options in zip(H36M_JOINT_NAMES, check_name_map(name_map, where)):
        found = next((exact[o] for o in options if o in exact), None)
        if found is None:
            found = next((loose[bare(o)] for o in options if bare(o) in loose), None)
        if found is None:
            missing.append(f"{joint} ({' | '.join(options)})")
        picked.append(found)
    if missing:
        shown = ", ".join(available[:40]) + (" ..." if len(available) > 40 else "")
        raise ValueError(f"{where}: no joint for {'; '.join(missing)}; the file has: {shown}. "
                         "Pass a name map that names them")
    return picked
