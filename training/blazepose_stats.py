"""Real BlazePose output against the simulated BlazePose-style views: the numbers behind
`training.data.layouts.blazepose_noise`.

    python -m training.blazepose_stats --video ../shared/data/videos/one-by-one-person-detection.mp4 \
        --fixtures ../shared/golden/blazepose/blazepose_one_by_one.npz \
        --positions ../shared/data/cmu-positions/test/walking

Both sides go through the same statistics, in COCO-17 order and relative to the person's box
diagonal: jitter is the residual of each joint's track from a local quadratic fit over 5 frames
(Savitzky-Golay), at the video's frame rate, so the motion left in it is the same for both; the
simulated side also reports it for its noiseless keypoints (what the motion alone contributes).
Geometry: the body's proportions in BlazePose's own 3D world landmarks (trunk / thigh, trunk /
shoulder width, hip / shoulder width) against those of the 3D keypoints `synthesize_coco17` places
on the motions, for each candidate placement of the hips. Confidence: the share of joint-frames under 0.5 and at 0 (a dropped joint). Real: our BlazePose
tracker (`edgetokens.blazepose_video`, conformant with MediaPipe) over the whole `--video`, with and
without landmark smoothing, cut into its tracked segments; and MediaPipe's own tracked segment in the
fixtures (a person standing almost still: what smoothing leaves of a still pose).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
from scipy.signal import savgol_filter

from edgetokens.keypoints2d.skeleton import COCO17_FROM_BLAZEPOSE, to_coco17
from edgetokens.video_frames import FrameReader
from training.data.cameras import CameraRigConfig, DetectorNoiseConfig, sample_camera
from training.data.layouts import GEOMETRY, CocoGeometry, coco_view, synthesize_coco17
from training.data.positions import load_positions

GROUPS = {"face": (0, 1, 2, 3, 4), "shoulders": (5, 6), "elbows": (7, 8), "wrists": (9, 10), "hips": (11, 12),
          "knees": (13, 14), "ankles": (15, 16)}
WINDOW = 5  # frames of the local quadratic fit
JUMP = 0.05  # a keypoint this far (box diagonals) from its track's fit is a jump (outlier, swap, lost track)


def box_diagonal(xy: np.ndarray) -> np.ndarray:
    """(T,) diagonal of each frame's keypoint box, px."""
    return np.hypot(*(np.nanmax(xy, 1) - np.nanmin(xy, 1)).T)


def jitter(xy: np.ndarray) -> np.ndarray:
    """(T - 4, 17) distance of each keypoint from its track's local quadratic fit, in box diagonals."""
    fit = savgol_filter(xy, WINDOW, 2, axis=0, mode="interp")
    residual = np.linalg.norm(xy - fit, axis=-1) / box_diagonal(xy)[:, None]
    return residual[WINDOW // 2: -(WINDOW // 2)]


def real_tracks(fixtures: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """COCO-17 (T, 17, 2) px, scores (T, 17) and the frame rate of the fixture's tracked segment."""
    data = np.load(fixtures, allow_pickle=False)
    found = data["video_found"]
    frames = data["video_frames"]
    if not found.all() or (np.diff(frames) != 1).any():
        raise ValueError(f"{fixtures}: the video segment must be contiguous with a person in every frame")
    width, height = data["image_size"]
    landmarks = data["video_landmarks"].astype(np.float64)
    landmarks[..., 0] *= width
    landmarks[..., 1] *= height
    coco = to_coco17(landmarks)
    return coco[..., :2].astype(np.float64), coco[..., 2].astype(np.float64), video_fps(fixtures, data)


def video_fps(fixtures: Path, data) -> float:
    """The fixture video's frame rate (its meta's `fps`, else the shared video's header)."""
    meta = json.loads(str(data["meta"]))
    if "fps" in meta:
        return float(meta["fps"])

    video = fixtures.parents[2] / "data" / "videos" / "one-by-one-person-detection.mp4"
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    if not fps:
        raise ValueError(f"no frame rate for {fixtures}: its meta has no fps and {video} does not open")
    return float(fps)


def proportions(coco3d: np.ndarray) -> dict[str, float]:
    """Median trunk / thigh, trunk / shoulder width and hip / shoulder width of (..., 17, 3) COCO-17 points."""
    c = np.asarray(coco3d, np.float64)
    shoulders, hips = c[..., 5, :] - c[..., 6, :], c[..., 11, :] - c[..., 12, :]
    trunk = np.linalg.norm((c[..., 5, :] + c[..., 6, :] - c[..., 11, :] - c[..., 12, :]) / 2, axis=-1)
    thigh = np.linalg.norm(c[..., (11, 12), :] - c[..., (13, 14), :], axis=-1).mean(-1)
    width = np.linalg.norm(shoulders, axis=-1)
    return {"trunk/thigh": float(np.nanmedian(trunk / thigh)), "trunk/shoulders": float(np.nanmedian(trunk / width)),
            "hips/shoulders": float(np.nanmedian(np.linalg.norm(hips, axis=-1) / width))}


def world_proportions(fixtures: Path) -> dict[str, dict[str, float]]:
    """`proportions` of MediaPipe's world landmarks (metres) in the fixtures' still and tracked frames."""
    data = np.load(fixtures, allow_pickle=False)
    return {f"BlazePose world, {part}": proportions(data[f"{part}_world"][data[f"{part}_found"]][:, COCO17_FROM_BLAZEPOSE, :3])
            for part in ("still", "video")}


def placed_proportions(folder: Path, placements: dict[str, CocoGeometry]) -> dict[str, dict[str, float]]:
    """`proportions` of the COCO-17 points each geometry places on the motions in `folder`."""
    positions = np.concatenate([load_positions(p).positions for p in sorted(folder.rglob("*.npz"))])
    return {name: proportions(synthesize_coco17(positions, g)) for name, g in placements.items()}


def tracked_segments(video: Path, smooth: bool, min_frames: int = 2 * WINDOW
                     ) -> tuple[list[tuple[np.ndarray, np.ndarray]], float, int]:
    """Our tracker over `video`: its tracked runs of >= `min_frames` frames as (COCO-17 px, scores),
    the frame rate and the number of frames read."""
    # the shipped tracker (top layer, OpenVINO): only this real-video measurement needs it
    from edgetokens.blazepose_video import BlazePoseTracker

    reader = FrameReader(video)
    tracker = BlazePoseTracker(smooth=smooth)
    segments, run, count = [], [], 0
    for index, frame in reader:
        found, _, coco = tracker.push(frame, 1000.0 * index / reader.fps)
        count += 1
        if found:
            run.append(coco)
        elif run:
            segments.append(np.stack(run))
            run = []
    if run:
        segments.append(np.stack(run))
    kept = [(s[..., :2].astype(np.float64), s[..., 2].astype(np.float64)) for s in segments if len(s) >= min_frames]
    return kept, float(reader.fps), count


def simulated_tracks(folder: Path, layout: str, fps: float, views: int, seed: int,
                     noise: DetectorNoiseConfig | None = None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(noisy px, scores, clean px) COCO-17 tracks of `views` cameras on each motion in `folder`."""
    rng = np.random.default_rng(seed)
    files = sorted(folder.rglob("*.npz"))
    if not files:
        raise ValueError(f"no joint-position npz files under {folder}")
    tracks = []
    for path in files:
        motion = load_positions(path, target_fps=fps)
        for v in range(views):
            camera = sample_camera(motion.positions, rng, CameraRigConfig(), name=f"{path.stem}-{v}")
            noisy, scores, clean = coco_view(motion.positions, camera, rng, layout, noise)
            tracks.append((noisy.astype(np.float64), scores.astype(np.float64), clean))
    return tracks


def pooled(tracks: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, dict[str, float]]:
    """Per joint group over (px, scores) tracks pooled frame by frame: median and 90th-percentile
    jitter (% of the box diagonal); shares (%) of joint-frames off their track by more than `JUMP`
    box diagonals, with score < 0.5 and with score 0."""
    jit = np.concatenate([jitter(xy) for xy, _ in tracks])
    scores = np.concatenate([s for _, s in tracks])
    out = {}
    for name, idx in GROUPS.items():
        out[name] = {"jitter_p50": 100 * float(np.median(jit[:, idx])), "jitter_p90": 100 * float(np.quantile(jit[:, idx], 0.9)),
                     "jumps": 100 * float((jit[:, idx] > JUMP).mean()), "low": 100 * float((scores[:, idx] < 0.5).mean()),
                     "dropped": 100 * float((scores[:, idx] == 0).mean())}
    return out


def table(columns: dict[str, dict[str, dict[str, float]]]) -> str:
    names = list(columns)
    lines = ["| joints | " + " | ".join(f"{n}: jitter p50 / p90, jumps, score<0.5, dropped (%)" for n in names) + " |",
             "|---|" + "---|" * len(names)]
    for group in GROUPS:
        cells = [f"{c[group]['jitter_p50']:.2f} / {c[group]['jitter_p90']:.2f}, {c[group]['jumps']:.1f}, "
                 f"{c[group]['low']:.1f}, {c[group]['dropped']:.1f}"
                 for c in columns.values()]
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, required=True, help="a real video with people in it")
    parser.add_argument("--fixtures", type=Path, required=True, help="MediaPipe's outputs (golden/blazepose npz)")
    parser.add_argument("--positions", type=Path, required=True, help="folder of joint-position npz motions to simulate")
    parser.add_argument("--views", type=int, default=4, help="virtual cameras per motion")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    smoothed, fps, count = tracked_segments(args.video, smooth=True)
    raw, _, _ = tracked_segments(args.video, smooth=False)
    xy, scores, fixture_fps = real_tracks(args.fixtures)
    sim = simulated_tracks(args.positions, "blazepose", fps, args.views, args.seed)
    columns = {"ours, smoothed": pooled(smoothed), "ours, raw": pooled(raw),
               "MediaPipe, still person": pooled([(xy, scores)]),
               "simulated": pooled([(n, s) for n, s, _ in sim]),
               "simulated, noiseless": pooled([(c, np.ones(c.shape[:2])) for _, _, c in sim])}
    print(f"{args.video.name}: {count} frames at {fps:g} fps, {sum(len(x) for x, _ in smoothed)} in "
          f"{len(smoothed)} tracked segments (smoothed), {sum(len(x) for x, _ in raw)} in {len(raw)} (raw); "
          f"fixtures: {len(xy)} frames at {fixture_fps:g} fps; simulated: {len(sim)} views of {args.positions}")
    print(table(columns))
    rows = {**world_proportions(args.fixtures), **placed_proportions(args.positions, {
        "simulated, BlazePose-style hips": GEOMETRY["blazepose"],
        "simulated, hips 0.30 w up, 0.05 w out": CocoGeometry(hip_out_up=(0.05, 0.30))})}
    print("\n| 3D keypoints | trunk / thigh | trunk / shoulder width | hip / shoulder width |\n|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['trunk/thigh']:.2f} | {r['trunk/shoulders']:.2f} | {r['hips/shoulders']:.2f} |")


if __name__ == "__main__":
    main()
