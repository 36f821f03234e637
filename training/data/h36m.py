"""Human3.6M in the VideoPose3D ``.npz`` format: loader, the 4 cameras, and a writer for our sources.

Files (``np.savez_compressed`` of pickled dicts). They are read without running their pickles:
numpy would unpickle them with ``allow_pickle=True``, and a crafted ``.npz`` then runs any code it
likes. :func:`read_npz_entry` unpickles with a restricted unpickler that builds only dicts, lists,
strings, numbers and numpy arrays (the few numpy reconstruction functions their pickles name) and
refuses any other global with a ``ValueError`` naming the file, so a file from a stranger is data,
never code. Keys without pickles are read with ``allow_pickle=False``.

- ``data_3d_h36m.npz``: ``positions_3d`` -> dict[subject][action] = (T, 32, 3) world metres
  (Z-up). 17-joint arrays are accepted too.
- ``data_2d_h36m_<keypoints>.npz`` (e.g. ``cpn_ft_h36m_dbb``, ``gt``): ``positions_2d`` ->
  dict[subject][action] = list of 4 per-camera (T2, 17, 2) pixel arrays, ``metadata`` -> dict with
  ``keypoints_symmetry``. T2 >= T; the 2D is cut to the mocap length T.

Extensions written by :func:`save_videopose3d` (ignored by other readers): ``cameras`` in the 3D
file (dict[subject][action] = list of camera dicts in the official table's convention: quaternion
``orientation`` (w, x, y, z) camera->world, ``translation`` = camera centre in world millimetres,
``focal_length``/``center`` in pixels, ``res_w``/``res_h``) and ``scores_2d`` in the 2D file.

Cameras: :data:`H36M_CAMERA_INTRINSICS` and :data:`H36M_CAMERA_EXTRINSICS` are the values of
VideoPose3D's ``common/h36m_dataset.py`` (facebookresearch/VideoPose3D, read at commit 11e90ad),
which come from the Human3.6M calibration. Only S1, S5-S9 and S11 have extrinsics there (S2-S4 are
empty); pass ``extrinsics={subject: [{"orientation": ..., "translation": ...}] * 4}`` to use
other subjects or your own calibration. World -> camera is ``R(q)^T (X - t / 1000)``. Projection
in this project is pinhole (``cameras.project``); the distortion coefficients are kept for
reference only, and the 2D keypoints of the H36M files are used as given.
"""

from __future__ import annotations

import collections
import importlib
import logging
import os
import pickle
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from edgetokens.pose.skeleton import H36M_32_PARENTS, H36M_32_TO_17, H36M_JOINTS_LEFT, H36M_JOINTS_RIGHT
from training.data import MotionSequence
from training.data.cameras import Camera, ViewSequence, camera_to_world, world_to_camera

log = logging.getLogger(__name__)

TRAIN_SUBJECTS: tuple[str, ...] = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS: tuple[str, ...] = ("S9", "S11")
H36M_FPS = 50.0

H36M_CAMERA_INTRINSICS: tuple[dict, ...] = (
    {"id": "54138969", "center": [512.54150390625, 515.4514770507812],
     "focal_length": [1145.0494384765625, 1143.7811279296875],
     "radial_distortion": [-0.20709891617298126, 0.24777518212795258, -0.0030751503072679043],
     "tangential_distortion": [-0.0009756988729350269, -0.00142447161488235], "res_w": 1000, "res_h": 1002},
    {"id": "55011271", "center": [508.8486328125, 508.0649108886719],
     "focal_length": [1149.6756591796875, 1147.5916748046875],
     "radial_distortion": [-0.1942136287689209, 0.2404085397720337, 0.006819975562393665],
     "tangential_distortion": [-0.0016190266469493508, -0.0027408944442868233], "res_w": 1000, "res_h": 1000},
    {"id": "58860488", "center": [519.8158569335938, 501.40264892578125],
     "focal_length": [1149.1407470703125, 1148.7989501953125],
     "radial_distortion": [-0.2083381861448288, 0.25548800826072693, -0.0024604974314570427],
     "tangential_distortion": [0.0014843869721516967, -0.0007599993259645998], "res_w": 1000, "res_h": 1000},
    {"id": "60457274", "center": [514.9682006835938, 501.88201904296875],
     "focal_length": [1145.5113525390625, 1144.77392578125],
     "radial_distortion": [-0.198384091258049, 0.21832367777824402, -0.008947807364165783],
     "tangential_distortion": [-0.0005872055771760643, -0.0018133620033040643], "res_w": 1000, "res_h": 1002},
)


def _ext(q, t):
    return {"orientation": q, "translation": t}


# orientation: quaternion (w, x, y, z), camera -> world; translation: camera centre, world millimetres.
H36M_CAMERA_EXTRINSICS: dict[str, tuple[dict, ...]] = {
    "S1": (
        _ext([0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088],
             [1841.1070556640625, 4955.28466796875, 1563.4454345703125]),
        _ext([0.6157187819480896, -0.764836311340332, -0.14833825826644897, 0.11794740706682205],
             [1761.278564453125, -5078.0068359375, 1606.2650146484375]),
        _ext([0.14651472866535187, -0.14647851884365082, 0.7653023600578308, -0.6094175577163696],
             [-1846.7777099609375, 5215.04638671875, 1491.972412109375]),
        _ext([0.5834008455276489, -0.7853162288665771, 0.14548823237419128, -0.14749594032764435],
             [-1794.7896728515625, -3722.698974609375, 1574.8927001953125]),
    ),
    "S5": (
        _ext([0.1467377245426178, -0.162370964884758, -0.7551892995834351, 0.6178938746452332],
             [2097.3916015625, 4880.94482421875, 1605.732421875]),
        _ext([0.6159758567810059, -0.7626792192459106, -0.15728192031383514, 0.1189815029501915],
             [2031.7008056640625, -5167.93310546875, 1612.923095703125]),
        _ext([0.14291371405124664, -0.12907841801643372, 0.7678384780883789, -0.6110143065452576],
             [-1620.5948486328125, 5171.65869140625, 1496.43701171875]),
        _ext([0.5920479893684387, -0.7814217805862427, 0.1274748593568802, -0.15036417543888092],
             [-1637.1737060546875, -3867.3173828125, 1547.033203125]),
    ),
    "S6": (
        _ext([0.1337897777557373, -0.15692396461963654, -0.7571090459823608, 0.6198879480361938],
             [1935.4517822265625, 4950.24560546875, 1618.0838623046875]),
        _ext([0.6147197484970093, -0.7628812789916992, -0.16174767911434174, 0.11819244921207428],
             [1969.803955078125, -5128.73876953125, 1632.77880859375]),
        _ext([0.1529948115348816, -0.13529130816459656, 0.7646096348762512, -0.6112781167030334],
             [-1769.596435546875, 5185.361328125, 1476.993408203125]),
        _ext([0.5916101336479187, -0.7804774045944214, 0.12832270562648773, -0.1561593860387802],
             [-1721.668701171875, -3884.13134765625, 1540.4879150390625]),
    ),
    "S7": (
        _ext([0.1435241848230362, -0.1631336808204651, -0.7548328638076782, 0.6188824772834778],
             [1974.512939453125, 4926.3544921875, 1597.8326416015625]),
        _ext([0.6141672730445862, -0.7638262510299683, -0.1596645563840866, 0.1177929937839508],
             [1937.0584716796875, -5119.7900390625, 1631.5665283203125]),
        _ext([0.14550060033798218, -0.12874816358089447, 0.7660516500473022, -0.6127139329910278],
             [-1741.8111572265625, 5208.24951171875, 1464.8245849609375]),
        _ext([0.5912848114967346, -0.7821764349937439, 0.12445473670959473, -0.15196487307548523],
             [-1734.7105712890625, -3832.42138671875, 1548.5830078125]),
    ),
    "S8": (
        _ext([0.14110587537288666, -0.15589867532253265, -0.7561917304992676, 0.619644045829773],
             [2150.65185546875, 4896.1611328125, 1611.9046630859375]),
        _ext([0.6169601678848267, -0.7647668123245239, -0.14846350252628326, 0.11158157885074615],
             [2219.965576171875, -5148.453125, 1613.0440673828125]),
        _ext([0.1471444070339203, -0.13377119600772858, 0.7670128345489502, -0.6100369691848755],
             [-1571.2215576171875, 5137.0185546875, 1498.1761474609375]),
        _ext([0.5927824378013611, -0.7825870513916016, 0.12147816270589828, -0.14631995558738708],
             [-1476.913330078125, -3896.7412109375, 1547.97216796875]),
    ),
    "S9": (
        _ext([0.15540587902069092, -0.15548215806484222, -0.7532095313072205, 0.6199594736099243],
             [2044.45849609375, 4935.1171875, 1481.2275390625]),
        _ext([0.618784487247467, -0.7634735107421875, -0.14132238924503326, 0.11933968216180801],
             [1990.959716796875, -5123.810546875, 1568.8048095703125]),
        _ext([0.13357827067375183, -0.1367100477218628, 0.7689454555511475, -0.6100738644599915],
             [-1670.9921875, 5211.98583984375, 1528.387939453125]),
        _ext([0.5879399180412292, -0.7823407053947449, 0.1427614390850067, -0.14794869720935822],
             [-1696.04345703125, -3827.099853515625, 1591.4127197265625]),
    ),
    "S11": (
        _ext([0.15232472121715546, -0.15442320704460144, -0.7547563314437866, 0.6191070079803467],
             [2098.440185546875, 4926.5546875, 1500.278564453125]),
        _ext([0.6189449429512024, -0.7600917220115662, -0.15300633013248444, 0.1255258321762085],
             [2083.182373046875, -4912.1728515625, 1561.07861328125]),
        _ext([0.14943228662014008, -0.15650227665901184, 0.7681233882904053, -0.6026304364204407],
             [-1609.8153076171875, 5177.3359375, 1537.896728515625]),
        _ext([0.5894251465797424, -0.7818877100944519, 0.13991211354732513, -0.14715361595153809],
             [-1590.738037109375, -3854.1689453125, 1578.017578125]),
    ),
}


def h36m_subjects(split: str) -> tuple[str, ...]:
    """The official protocol: train S1, S5, S6, S7, S8; test S9, S11."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    return TRAIN_SUBJECTS if split == "train" else TEST_SUBJECTS


def action_group(action: str) -> str:
    """Evaluation action name: the sub-action number is stripped at the first space ("Walking 1" -> "Walking")."""
    return action.split(" ")[0]


def camera_from_params(params: dict, name: str = "") -> Camera:
    """A camera from a dict in the official table's convention (translation in millimetres)."""
    try:
        return Camera.from_quaternion(params["orientation"], np.asarray(params["translation"], float) / 1000.0,
                                      params["focal_length"], params["center"], int(params["res_w"]),
                                      int(params["res_h"]), str(params.get("id") or name))
    except KeyError as e:
        raise ValueError(f"camera {name!r} parameters lack {e.args[0]!r}; need orientation, translation, "
                         "focal_length, center, res_w, res_h") from None


def h36m_camera(subject: str, index: int, extrinsics: dict | None = None) -> Camera:
    """Camera ``index`` (0-3) of a Human3.6M subject; ``extrinsics`` overrides / extends the table."""
    table = {**H36M_CAMERA_EXTRINSICS, **(extrinsics or {})}
    cams = table.get(subject)
    if not cams or len(cams) <= index or not cams[index]:
        raise ValueError(
            f"no extrinsics for {subject} camera {index}; known subjects: {sorted(table)}. "
            "Pass extrinsics={subject: [{'orientation': [w, x, y, z], 'translation': [x, y, z] mm}, ...]}"
        )
    return camera_from_params({**H36M_CAMERA_INTRINSICS[index], **cams[index]})


def _numpy_function(module: str, name: str):
    """numpy's own object for a name its pickles use (numpy 2 moved `numpy.core` to `numpy._core`)."""
    try:
        core = importlib.import_module(f"numpy._core.{module}")
    except ImportError:  # numpy 1.x
        core = importlib.import_module(f"numpy.core.{module}")
    return getattr(core, name)


# The globals that pickles of dicts / lists of numpy arrays name (protocols 2-5, numpy 1.x and 2.x),
# all of which only rebuild arrays, dtypes and scalars. Anything else is refused.
_SAFE_GLOBALS = {
    **{(f"{package}.multiarray", name): ("multiarray", name) for package in ("numpy.core", "numpy._core")
       for name in ("_reconstruct", "scalar")},
    **{(f"{package}.numeric", "_frombuffer"): ("numeric", "_frombuffer") for package in ("numpy.core", "numpy._core")},
}


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """`_codecs.encode` as protocol-2 pickles use it (bytes stored as latin-1 text), and nothing else."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"it calls _codecs.encode with {encoding!r}")
    return text.encode("latin1")


_SAFE_OBJECTS = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
                 ("_codecs", "encode"): _latin1_encode, ("collections", "OrderedDict"): collections.OrderedDict}


class _DataUnpickler(pickle.Unpickler):
    """Unpickles data only: numpy arrays, dtypes and scalars inside dicts, lists and tuples."""

    def find_class(self, module: str, name: str):
        if (module, name) in _SAFE_OBJECTS:
            return _SAFE_OBJECTS[(module, name)]
        if (module, name) in _SAFE_GLOBALS:
            return _numpy_function(*_SAFE_GLOBALS[(module, name)])
        raise pickle.UnpicklingError(f"it refers to {module}.{name}")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("it uses persistent ids")


def _read_pickled_entry(path: Path, key: str) -> np.ndarray:
    """An object array of an .npz (a pickle inside its .npy member), unpickled as data only."""
    with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as fp:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise ValueError(f"{path}: {key!r} is a .npy of version {version}, which this loader does not read")
        try:
            value = _DataUnpickler(fp).load()
        except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError) as err:
            raise ValueError(f"{path}: refusing to unpickle {key!r}: {err}. A VideoPose3D file holds only "
                             "dicts, lists and numpy arrays, and anything else could run code on this "
                             "machine; use the original file (or write one with save_videopose3d)") from None
    if not isinstance(value, np.ndarray) or value.shape != tuple(shape) or value.dtype != dtype:
        raise ValueError(f"{path}: {key!r} does not hold the {dtype} array of shape {shape} its header says")
    return value


def read_npz_entry(path: str | os.PathLike, key: str, required: bool = True):
    """One entry of an .npz, its pickled dicts read as data (never code); None when absent and not
    `required`. A 0-d object array is returned as the object it holds."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; download the VideoPose3D Human3.6M files or write them "
                                "with save_videopose3d")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not an .npz archive (damaged, or not a VideoPose3D file?)")
    try:
        with np.load(path, allow_pickle=False) as data:
            if key not in data.files:
                if not required:
                    return None
                raise ValueError(f"{path}: missing key {key!r} (keys: {data.files}); is this a VideoPose3D file?")
            try:
                value = data[key]
            except ValueError as err:  # an object array: numpy would need allow_pickle=True
                if "allow_pickle" not in str(err):
                    raise
                value = None
        if value is None:
            value = _read_pickled_entry(path, key)
    except (zipfile.BadZipFile, EOFError, OSError) as err:
        raise ValueError(f"{path} is not a readable .npz file (damaged or not a VideoPose3D file?): {err}") from err
    return value.item() if value.dtype == object and value.shape == () else value


def _load_npz(path, key: str):
    return read_npz_entry(path, key)


def _optional_npz(path, key: str):
    return read_npz_entry(path, key, required=False)


def _to_17(positions: np.ndarray, where: str) -> np.ndarray:
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim == 3 and positions.shape[1:] == (32, 3):
        return positions[:, list(H36M_32_TO_17)]
    if positions.ndim == 3 and positions.shape[1:] == (17, 3):
        return positions
    raise ValueError(f"{where}: 3D positions must be (T, 32, 3) or (T, 17, 3); got {positions.shape}")


def load_h36m_motions(path_3d: str | os.PathLike, subjects=None) -> list[MotionSequence]:
    """World-frame 17-joint motions of a 3D file (e.g. to view them with virtual cameras)."""
    data = _load_npz(path_3d, "positions_3d")
    out = []
    for subject in subjects or sorted(data):
        if subject not in data:
            raise ValueError(f"{path_3d}: missing key positions_3d[{subject!r}]")
        for action, positions in sorted(data[subject].items()):
            where = f"{path_3d}: positions_3d[{subject!r}][{action!r}]"
            out.append(MotionSequence(f"h36m/{subject}/{action}", subject, H36M_FPS, _to_17(positions, where)))
    return out


def load_h36m(path_3d: str | os.PathLike, path_2d: str | os.PathLike, subjects=None,
              extrinsics: dict | None = None, skip_missing_subjects: bool = False) -> list[ViewSequence]:
    """(subject, action, camera) views: file 2D pixels (cut to the mocap length) + camera-frame 3D.

    ``subjects`` defaults to every subject of the 3D file (use :func:`h36m_subjects` for a split);
    a requested subject absent from the file is an error unless ``skip_missing_subjects``.
    Cameras come from the 3D file's ``cameras`` entry when present, else from the official table.
    """
    data_3d = _load_npz(path_3d, "positions_3d")
    cameras = _optional_npz(path_3d, "cameras")
    data_2d = _load_npz(path_2d, "positions_2d")
    scores_2d = _optional_npz(path_2d, "scores_2d")
    views = []
    for subject in subjects or sorted(data_3d):
        if subject not in data_3d and skip_missing_subjects:
            log.warning("%s: no subject %s, skipped", path_3d, subject)
            continue
        if subject not in data_3d:
            raise ValueError(f"{path_3d}: missing key positions_3d[{subject!r}]")
        if subject not in data_2d:
            raise ValueError(f"{path_2d}: missing key positions_2d[{subject!r}]")
        for action, positions in sorted(data_3d[subject].items()):
            world = _to_17(positions, f"{path_3d}: positions_3d[{subject!r}][{action!r}]")
            if action not in data_2d[subject]:
                raise ValueError(f"{path_2d}: missing key positions_2d[{subject!r}][{action!r}]")
            per_camera = data_2d[subject][action]
            for c, kp in enumerate(per_camera):
                where = f"{path_2d}: positions_2d[{subject!r}][{action!r}][{c}]"
                kp = np.asarray(kp, dtype=np.float32)
                if kp.ndim != 3 or kp.shape[1] != 17 or kp.shape[2] < 2:
                    raise ValueError(f"{where}: expected (T, 17, 2) pixels; got {kp.shape}")
                if len(kp) < len(world):
                    raise ValueError(f"{where}: {len(kp)} 2D frames but {len(world)} mocap frames; "
                                     "the 2D must not be shorter")
                if cameras is not None:
                    camera = camera_from_params(cameras[subject][action][c], f"{subject}/{action}/{c}")
                else:
                    camera = h36m_camera(subject, c, extrinsics)
                score = None
                if scores_2d is not None:
                    score = np.asarray(scores_2d[subject][action][c], dtype=np.float32)[: len(world)]
                views.append(ViewSequence(
                    name=f"h36m/{subject}/{action}/{camera.name or c}", subject=subject, camera=camera,
                    keypoints=kp[: len(world), :, :2], positions_cam=world_to_camera(world, camera).astype(np.float32),
                    scores=score, fps=H36M_FPS, action=action,
                ))
    log.info("loaded %d Human3.6M views from %s", len(views), path_2d)
    return views


def to_32_joints(positions_17: np.ndarray) -> np.ndarray:
    """17-joint positions -> (T, 32, 3) in the original layout; dropped joints copy their parent."""
    positions_17 = np.asarray(positions_17)
    out = np.zeros((len(positions_17), 32, 3), dtype=positions_17.dtype)
    out[:, list(H36M_32_TO_17)] = positions_17
    kept = set(H36M_32_TO_17)
    for j in range(32):  # parents come before children in this layout
        if j not in kept:
            out[:, j] = out[:, H36M_32_PARENTS[j]]
    return out


def camera_params(camera: Camera) -> dict:
    """A camera as a dict in the official table's convention (see :func:`camera_from_params`)."""
    return {"id": camera.name, "orientation": camera.orientation.tolist(),
            "translation": (camera.position * 1000.0).tolist(), "focal_length": list(camera.focal),
            "center": list(camera.center), "res_w": camera.width, "res_h": camera.height}


def save_videopose3d(path_3d: str | os.PathLike, path_2d: str | os.PathLike, views: list[ViewSequence]) -> None:
    """Write views (e.g. CMU / synthetic motions seen by virtual cameras) in the VideoPose3D format.

    Views are grouped by (subject, action); views of one group must show the same motion (their
    world positions, recovered through each camera, are stored once).
    """
    groups: dict[tuple[str, str], list[ViewSequence]] = defaultdict(list)
    for v in views:
        groups[(v.subject, v.action or v.name.split("@")[0])].append(v)
    positions_3d, positions_2d, scores_2d, cameras = (defaultdict(dict) for _ in range(4))
    with_scores = all(v.scores is not None for v in views)
    for (subject, action), group in groups.items():
        world = camera_to_world(group[0].positions_cam, group[0].camera)
        for v in group[1:]:
            other = camera_to_world(v.positions_cam, v.camera)
            if other.shape != world.shape or np.abs(other - world).max() > 1e-3:
                raise ValueError(f"views of {subject}/{action} show different motions; "
                                 "give each motion its own action name")
        positions_3d[subject][action] = to_32_joints(world.astype(np.float32))
        positions_2d[subject][action] = [v.keypoints.astype(np.float32) for v in group]
        cameras[subject][action] = [camera_params(v.camera) for v in group]
        if with_scores:
            scores_2d[subject][action] = [v.scores.astype(np.float32) for v in group]
    metadata = {"layout_name": "h36m", "num_joints": 17,
                "keypoints_symmetry": [list(H36M_JOINTS_LEFT), list(H36M_JOINTS_RIGHT)]}
    np.savez_compressed(path_3d, positions_3d=dict(positions_3d), cameras=dict(cameras))
    extra = {"scores_2d": dict(scores_2d)} if with_scores else {}
    np.savez_compressed(path_2d, positions_2d=dict(positions_2d), metadata=metadata, **extra)
