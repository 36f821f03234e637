"""`Predictor`: a model on one device, for any task; `Predictor(model)` builds the task's subclass.

    from edgetokens import Predictor
    predictor = Predictor("hot-mixste", device="npu", fallback="cpu")   # a PosePredictor
    predictor = Predictor("ait-depth", device="cpu")                    # a DepthPredictor
    predictor = Predictor("ait", task="instances")                      # the joint AiT: an InstancePredictor
    predictor = Predictor("ait", task="depth")                          # ... or its depth graph

A model serving several tasks (the joint AiT, task "instances+depth") needs `task=` to say which; there
is no default, and leaving it out is an error naming the choices. A single-task model takes `task=`
only when it names its own task.

Model sources: a zoo name (the shipped checkpoint, `edgetokens.zoo`), a name plus `weights=` (our
checkpoint directory, or an official HoT/MixSTE/MotionBERT file for the `-243` configurations),
or a bundle directory / bare .onnx / .xml. Checkpoints are exported once into the cache
(`edgetokens.resolve`); precision="int8" uses the checkpoint's shipped QAT state. The task's own
class (`edgetokens.pose_predictor`, `edgetokens.depth`, `edgetokens.instances_predictor`) holds the pre-
and post-processing.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from runtimes import ModelSource, Session, open_session

from .clitools import check_threads
from .resolve import ModelInfo, check_bundle_task, resolve_model, task_of
from .tasks import predictor_class


def chosen_task(model: str | Path, weights: str | Path | None, task: str | None) -> str:
    """The task a Predictor of `model` serves: the model's own, or `task` for a model serving several
    (a joint task-map entry "instances+depth" serves each of its parts)."""
    own = task_of(model, weights)
    served = own.split("+")
    if task is None:
        if len(served) > 1:
            choices = " or ".join(f"task={t!r}" for t in served)
            raise ValueError(f"{model} serves {' and '.join(served)}: pass {choices} (--task on the command line)")
        return own
    if task not in served:
        raise ValueError(f"{model} serves {' and '.join(served)}, not task={task!r}")
    return task


class Predictor:
    """A model on one device. `Predictor(model)` builds the predictor of the model's task, looked up in
    the task map (`edgetokens.tasks`): a `PosePredictor` for the pose lifters, a `DepthPredictor` for
    AiT depth, an `InstancePredictor` for AiT instances. `predict` is safe to call from several threads.

    Args:
        model: zoo name ("hot-mixste"), architecture name with `weights=`, or a bundle / .onnx / .xml path.
        device: "cpu", "gpu", "npu", "auto" or "backend:target" (see `runtimes.devices`).
        precision: "fp32", "fp16" or "int8"; the bundle must contain it (the error lists what it has).
        backend: restrict to "onnxruntime", "openvino" or "torch".
        weights: a checkpoint directory, an official checkpoint file, or "random" (seeded random
            weights: for speed measurements only).
        fallback: device to use, with a warning, when `device` is unavailable (e.g. "cpu").
        threads: CPU threads of the backend (None: the runtime's default).
        cache_dir: cache root (default `$EDGETOKENS_CACHE` or ~/.cache/edgetokens).
        task: which task of a model serving several ("instances" or "depth" for the joint "ait");
            required there, optional (and checked) for single-task models.
    """

    task = ""  # each subclass's key in `edgetokens.tasks.TASKS`

    def __new__(cls, model: str | Path = "hot-mixste", *args, **kwargs):
        if cls is Predictor:  # the factory: the task map names the class
            cls = predictor_class(chosen_task(model, kwargs.get("weights"), kwargs.get("task")))
        return super().__new__(cls)

    def __init__(self, model: str | Path = "hot-mixste", device: str = "cpu", precision: str = "fp32",
                 backend: str | None = None, weights: str | Path | None = None, fallback: str | None = None,
                 threads: int | None = None, cache_dir: str | Path | None = None, task: str | None = None):
        self._check_task_argument(task)
        check_threads(threads)  # before resolving, which may export the bundle
        self.device_request = device
        self.precision = precision
        self.info, torch_model = resolve_model(model, weights, cache_dir, precision=precision,
                                               need_torch=str(device).startswith("torch") or backend == "torch")
        source = ModelSource.open(self.info.bundle, torch_model, verify=not self.info.verified)
        check_bundle_task(source, self.task, type(self).__name__)
        self.manifest = source.manifest  # None for a bare .onnx / .xml
        self._check_manifest()
        self.session: Session = open_session(source, device, precision, backend, threads, fallback, cache_dir)
        self.first_inference_ms = self.session.warmup(1)
        self._check_inputs(self.session.inputs[0])

    def _check_task_argument(self, task: str | None) -> None:
        """`task=` given to a subclass directly must be its own (`Predictor(...)` picks the class by it)."""
        if task is not None and task != self.task:
            raise ValueError(f"{type(self).__name__} serves {self.task!r}, not task={task!r}; "
                             f"use Predictor(model, task={task!r})")

    def _check_manifest(self) -> None:
        """Task-specific checks of `self.manifest` (None for bare artifacts); BundleError when unusable."""

    def _check_inputs(self, spec) -> None:
        """Read the graph's input spec; raise BundleError when it is not this task's input."""
        raise NotImplementedError

    @property
    def frames_per_call(self) -> int:
        """Frames (or images) one graph call handles: the benchmark's frames/s."""
        return 1

    def timed_calls(self, stream_stride: int | None = None) -> dict[str, Callable[[], object]]:
        """What the benchmark times for this predictor: "" is one graph call at its static batch on the
        model's example inputs; tasks add their own (a pose lifter's ":stream")."""
        feeds = self.session.example_feeds()
        return {"": lambda: self.session.run(feeds)}

    def score_eval_file(self, path: str | Path, max_frames: int | None = None) -> float:
        """The task's metric on an evaluation file (`runtimes.benchmark --eval-data`)."""
        raise ValueError(f"--eval-data files are not defined for {self.task!r} models; their accuracy comes "
                         "from the bundle manifest")

    @property
    def device(self) -> str:
        """The resolved backend:target."""
        return self.session.device

    @property
    def load_ms(self) -> float:
        """Load + compile time of the session (export into the cache not included: see `info.export_ms`)."""
        return self.session.load_ms

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.info.name!r}, device={self.device!r}, precision={self.precision!r}, "
                f"execution_devices={self.session.execution_devices})")

    def close(self) -> None:
        self.session.close()


__all__ = ["ModelInfo", "Predictor"]
