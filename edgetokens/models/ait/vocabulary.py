"""The shared token vocabulary of the AiT models (specs/AIT.md §1.3), reduced to the tasks a model has.

Ranges in id order, each present only with its task:

    [bins: num_bins + 1][classes: num_classes][noise: 1][mask codes]   if "instances" in tasks
    [depth codes]                                                       if "depth" in tasks

Differences from the official layout: no unused special token before "noise" and no reserved
"other task" codes. For `tasks=("depth",)` the depth codes start at 0 and the vocabulary holds only
them: the layout of the depth-only solver (`TaskSolver`, code_offset 0, vocab 128), so its shipped
checkpoints keep their meaning.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

TASK_ORDER: tuple[str, ...] = ("instances", "depth")  # also the rows of the task prompt / position tables
RANGE_TASK: dict[str, str] = {"bins": "instances", "classes": "instances", "noise": "instances",
                              "mask_codes": "instances", "depth_codes": "depth"}
IGNORE_ID = -100  # target id of an unsupervised position (torch cross_entropy's default ignore_index)


@dataclass(frozen=True)
class Vocabulary:
    """Id ranges of one model's vocabulary; `range(name)` -> (start, stop), stop exclusive."""

    tasks: tuple[str, ...]
    num_bins: int = 256  # box coordinate bins 0 .. num_bins inclusive (num_bins + 1 ids; paper: 2000)
    num_classes: int = 80
    mask_codes: int = 128
    depth_codes: int = 128

    def __post_init__(self) -> None:
        tasks = (self.tasks,) if isinstance(self.tasks, str) else tuple(self.tasks)
        object.__setattr__(self, "tasks", tasks)  # config.json round trips give lists
        if not tasks or any(t not in TASK_ORDER for t in tasks) or len(set(tasks)) != len(tasks):
            raise ValueError(f"tasks must be a non-empty subset of {TASK_ORDER} without repeats, got {tasks}")
        if tasks != tuple(t for t in TASK_ORDER if t in tasks):
            raise ValueError(f"tasks must come in the order {TASK_ORDER}, got {tasks}")
        for name in ("num_bins", "num_classes", "mask_codes", "depth_codes"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    @property
    def _sizes(self) -> list[tuple[str, int]]:
        sizes = []
        if "instances" in self.tasks:
            sizes += [("bins", self.num_bins + 1), ("classes", self.num_classes), ("noise", 1),
                      ("mask_codes", self.mask_codes)]
        if "depth" in self.tasks:
            sizes.append(("depth_codes", self.depth_codes))
        return sizes

    def range(self, name: str) -> tuple[int, int]:
        """(start, stop) of the range `name`: "bins", "classes", "noise", "mask_codes" or "depth_codes"."""
        if name not in RANGE_TASK:
            raise ValueError(f"unknown vocabulary range {name!r}; ranges: {', '.join(RANGE_TASK)}")
        start = 0
        for range_name, size in self._sizes:
            if range_name == name:
                return start, start + size
            start += size
        raise ValueError(f"this vocabulary has no {name!r} range: it belongs to the task {RANGE_TASK[name]!r}, "
                         f"and the vocabulary's tasks are {self.tasks}")

    def offset(self, name: str) -> int:
        """First id of the range `name`: full id = offset + local id (a bin, class, or code)."""
        return self.range(name)[0]

    @property
    def size(self) -> int:
        return sum(size for _, size in self._sizes)

    @property
    def noise_id(self) -> int:
        """The "noise" class id: the class target of fake and duplicate boxes (never a detection)."""
        return self.range("noise")[0]

    def task_index(self, task: str) -> int:
        """The task's row of the prompt embedding and decoder-position tables: its place in `tasks`."""
        if task not in self.tasks:
            raise ValueError(f"task {task!r} is not in this vocabulary's tasks {self.tasks}")
        return self.tasks.index(task)


def recorded_vocabulary(fields: Mapping) -> Vocabulary:
    """The vocabulary of a checkpoint's recorded architecture fields (`config.json`'s "config"); a
    depth-only model records no `tasks` and holds the depth codes alone."""
    tasks = tuple(fields.get("tasks", ("depth",)))
    default = Vocabulary(tasks)
    return Vocabulary(tasks, fields.get("num_bins", default.num_bins), fields.get("num_classes", default.num_classes),
                      fields.get("mask_vq_num_codes", default.mask_codes),
                      fields.get("vq_num_codes", default.depth_codes))
