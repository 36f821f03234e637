import math

import cv2
import numpy as np
import pytest
import torch

from edgetokens.vision.coco_classes import COCO_CLASSES
from edgetokens.vision.image import IMAGENET_MEAN, IMAGENET_STD
from training.data.scenes import (
    CLASSES,
    MAX_DEPTH,
    RENDERED_CLASS_INDEX,
    SURFACES,
    Scene,
    SceneConfig,
    SceneDataset,
    mask_boxes,
    render_scene,
)

torch.set_num_threads(1)
cv2.setNumThreads(1)

SEEDS = range(8)
SIZE = 128


@pytest.fixture(scope="module")
def scenes() -> list[Scene]:
    return [render_scene(seed, SIZE) for seed in SEEDS]


def world_rays(scene: Scene) -> np.ndarray:
    """(H, W, 3) world ray directions from the reported intrinsics and pose, camera-z component 1."""
    h, w = scene.depth.shape
    k = scene.intrinsics.astype(np.float64)
    u, v = np.meshgrid(np.arange(w), np.arange(h))
    cam = np.stack([(u - k[0, 2]) / k[0, 0], (v - k[1, 2]) / k[1, 1], np.ones((h, w))], -1)
    return cam @ scene.camera_to_world[:3, :3].T


def room_depth(scene: Scene) -> np.ndarray:
    """z-depth of the empty room (camera inside an axis-aligned box), computed independently of the renderer."""
    rays, origin = world_rays(scene), scene.camera_to_world[:3, 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(rays > 0, (scene.room_size - origin) / rays, -origin / rays)
    return np.where(rays != 0, t, np.inf).min(-1)


def test_same_seed_is_bit_identical_and_seeds_differ():
    a, b, c = render_scene(5, (64, 96)), render_scene(5, (64, 96)), render_scene(6, (64, 96))
    for name in ("image", "depth", "depth_complete", "masks", "classes", "boxes", "intrinsics", "camera_to_world",
                 "surface"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert not np.array_equal(a.image, c.image)
    assert not np.array_equal(a.depth_complete, c.depth_complete)


def test_output_types_and_shapes(scenes):
    for s in scenes:
        assert s.image.shape == (SIZE, SIZE, 3) and s.image.dtype == np.uint8
        assert s.depth.dtype == s.depth_complete.dtype == np.float32 and s.depth.shape == (SIZE, SIZE)
        assert s.masks.dtype == bool and s.masks.shape == (len(s.classes), SIZE, SIZE)
        assert s.classes.dtype == np.int64 and s.intrinsics.shape == (3, 3)
        assert s.image.std() > 5  # not a flat frame
    other = render_scene(1, (48, 80))
    assert other.image.shape == (48, 80, 3) and other.depth.shape == (48, 80)
    assert abs(other.intrinsics[0, 2] - 39.5) < 0.05 * 80 and abs(other.intrinsics[1, 2] - 23.5) < 0.05 * 48


def test_depth_range_and_holes(scenes):
    fractions = []
    for s in scenes:
        assert np.isfinite(s.depth_complete).all() and (s.depth_complete > 0).all()
        valid = s.depth > 0
        assert ((s.depth == 0) | valid).all()  # holes are exactly 0, nothing negative or NaN
        assert (s.depth[valid] <= MAX_DEPTH).all() and (s.depth[valid] <= s.max_range).all()
        np.testing.assert_array_equal(s.depth[valid], s.depth_complete[valid])
        assert not valid[s.depth_complete > s.max_range].any()  # beyond the sensor range -> hole
        fractions.append(1 - valid.mean())
    assert 0.02 <= np.mean(fractions) <= 0.30, fractions
    assert max(fractions) <= 0.5 and min(fractions) > 0, fractions


def test_no_holes_config_keeps_depth_in_range():
    s = render_scene(2, 96, SceneConfig(holes=False, max_range=(10.0, 10.0)))
    expected = np.where((s.depth_complete > 10) | (s.depth_complete < 0.4), 0, s.depth_complete)
    np.testing.assert_array_equal(s.depth, expected)


def test_holes_concentrate_at_depth_edges(scenes):
    near_edge, elsewhere = [], []
    for s in scenes:
        z = s.depth_complete
        edge = np.zeros(z.shape, bool)
        for axis in (0, 1):
            a, b = np.moveaxis(z, axis, 0)[1:], np.moveaxis(z, axis, 0)[:-1]
            jump = np.abs(a - b) > 0.05 * np.minimum(a, b)
            np.moveaxis(edge, axis, 0)[1:] |= jump
            np.moveaxis(edge, axis, 0)[:-1] |= jump
        band = cv2.dilate(edge.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        in_range = z <= s.max_range
        hole = s.depth == 0
        near_edge.append(hole[band & in_range])
        elsewhere.append(hole[~band & in_range])
    rate_edge, rate_else = np.concatenate(near_edge).mean(), np.concatenate(elsewhere).mean()
    assert rate_edge > 4 * rate_else and rate_edge > 0.1, (rate_edge, rate_else)


def test_instance_masks_are_objects_in_front_of_the_room(scenes):
    total, gaps = 0, []
    for s in scenes:
        total += len(s.masks)
        assert ((0 <= s.classes) & (s.classes < len(COCO_CLASSES))).all()
        assert {COCO_CLASSES[c] for c in s.classes} <= set(CLASSES)
        assert (s.masks.sum((1, 2)) >= SceneConfig().min_instance_pixels).all()  # non-empty
        assert (s.masks.sum(0) <= 1).all()  # disjoint
        labelled = s.surface == SURFACES.index("object")
        objects = labelled | (s.surface == SURFACES.index("clutter"))
        union = s.masks.any(0)
        assert not (union & ~labelled).any()  # masks only on labelled objects, never on the room or clutter
        assert (union == labelled).mean() > 0.98  # labelled objects without a mask are only the tiny ones
        room = room_depth(s)
        np.testing.assert_allclose(s.depth_complete[~objects], room[~objects], rtol=2e-4)
        if objects.any():
            assert (s.depth_complete[objects] <= room[objects] * (1 + 2e-4)).all()
        if union.any():
            gaps.append((room[union] - s.depth_complete[union]) / room[union])
    gaps = np.concatenate(gaps)  # objects stand in front of the room, touching it at most
    assert (gaps > 1e-3).mean() > 0.97 and np.median(gaps) > 0.05
    assert total >= 2 * len(scenes)


def test_classes_are_coco_and_look_like_their_category():
    """Over small scenes: many categories appear, masks and boxes agree, couches are wide and people tall."""
    assert CLASSES == tuple(sorted(CLASSES, key=COCO_CLASSES.index)) and len(set(CLASSES)) == len(CLASSES)
    assert all(COCO_CLASSES[RENDERED_CLASS_INDEX[name]] == name for name in CLASSES)
    assert RENDERED_CLASS_INDEX["person"] == 0 and RENDERED_CLASS_INDEX["dining table"] == 60
    seen, aspect = set(), {"couch": [], "person": []}
    for seed in range(60):
        s = render_scene(seed, 64, SceneConfig(person_probability=0.8))
        assert s.boxes.shape == (len(s.masks), 4) and s.boxes.dtype == np.float32
        for mask, cls, box in zip(s.masks, s.classes, s.boxes):
            rows, cols = np.nonzero(mask)
            np.testing.assert_array_equal(box, [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1])
            name = COCO_CLASSES[cls]
            seen.add(name)
            x1, y1, x2, y2 = box
            # the frame border cuts a box only in its own direction: a couch cut at the bottom is still as wide
            cut = (x1 == 0 or x2 == 64) if name == "couch" else (y1 == 0 or y2 == 64)
            if name in aspect and not cut and mask.sum() >= 30:
                aspect[name].append((x2 - x1) / (y2 - y1))
    assert len(seen) >= 10, seen
    assert {"person", "chair", "couch", "dining table", "potted plant"} <= seen, seen
    assert len(aspect["person"]) >= 5 and np.mean(aspect["person"]) < 0.6, aspect["person"]
    assert len(aspect["couch"]) >= 3 and np.mean(aspect["couch"]) > 1.2, aspect["couch"]
    people = SceneConfig(person_probability=0.0)
    assert not any((render_scene(seed, 48, people).classes == 0).any() for seed in range(10))


def test_mask_boxes_follow_coco_pixel_bounds():
    masks = np.zeros((3, 5, 6), bool)
    masks[0, 1:3, 2:5] = True
    masks[1, 4, 0] = True
    np.testing.assert_array_equal(mask_boxes(masks), [[2, 1, 5, 3], [0, 4, 1, 5], [0, 0, 0, 0]])
    assert mask_boxes(masks).dtype == np.float32 and mask_boxes(masks[:0]).shape == (0, 4)


def test_image_effects_touch_only_the_image():
    """Exposure, colour jitter, vignetting, blur, noise and JPEG change the picture, never depth or masks."""
    plain = SceneConfig(exposure=(1.0, 1.0), color_jitter=0.0, vignette=(0.0, 0.0), blur_probability=0.0,
                        image_noise=0.0, jpeg_probability=0.0)
    heavy = SceneConfig(vignette=(0.5, 0.5), blur_probability=1.0, jpeg_probability=1.0, jpeg_quality=(30, 30),
                        color_jitter=0.2, image_noise=4.0)
    for seed in (3, 4):
        a, b, c = render_scene(seed, 64, plain), render_scene(seed, 64, heavy), render_scene(seed, 64)
        for name in ("depth", "depth_complete", "masks", "classes", "boxes", "surface", "intrinsics"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
            np.testing.assert_array_equal(getattr(a, name), getattr(c, name), err_msg=name)
        assert np.abs(a.image.astype(int) - b.image.astype(int)).mean() > 3
        # vignetting darkens the corners relative to the centre, blur removes fine detail
        corners = np.concatenate([x.reshape(-1, 3) for x in (b.image[:8, :8], b.image[-8:, -8:])])
        plain_corners = np.concatenate([x.reshape(-1, 3) for x in (a.image[:8, :8], a.image[-8:, -8:])])
        centre, plain_centre = b.image[24:40, 24:40].mean(), a.image[24:40, 24:40].mean()
        assert corners.mean() / centre < plain_corners.mean() / plain_centre
    sharp = render_scene(3, 64, plain).image.astype(float)
    blurred = render_scene(3, 64, SceneConfig(**{**plain.__dict__, "blur_probability": 1.0,
                                                 "blur_sigma": (6.0, 6.0)})).image.astype(float)
    assert np.abs(np.diff(blurred, axis=1)).mean() < 0.8 * np.abs(np.diff(sharp, axis=1)).mean()


def test_lighting_and_clutter_options():
    """Two lights, shadows and the clutter / object counts are real knobs: they change the frame as asked."""
    base = SceneConfig(person_probability=0.0)
    empty = render_scene(7, 64, SceneConfig(objects=(0, 0), clutter=(0, 0), person_probability=0.0))
    assert len(empty.masks) == 0 and (empty.surface < SURFACES.index("object")).all()
    only_clutter = [render_scene(s, 64, SceneConfig(objects=(0, 0), clutter=(4, 4), person_probability=0.0))
                    for s in range(6)]
    assert all(len(s.masks) == 0 or {COCO_CLASSES[c] for c in s.classes} <= {"book", "vase", "bowl", "bottle",
               "cup", "potted plant", "laptop", "sports ball", "tv"} for s in only_clutter)
    assert any((s.surface == SURFACES.index("clutter")).any() for s in only_clutter)
    one = render_scene(8, 64, SceneConfig(**{**base.__dict__, "second_light_probability": 0.0}))
    two = render_scene(8, 64, SceneConfig(**{**base.__dict__, "second_light_probability": 1.0}))
    np.testing.assert_array_equal(one.depth_complete, two.depth_complete)  # light changes the picture only
    assert not np.array_equal(one.image, two.image)
    lit = render_scene(9, 64, SceneConfig(**{**base.__dict__, "shadow_strength": (0.0, 0.0)}))
    shaded = render_scene(9, 64, SceneConfig(**{**base.__dict__, "shadow_strength": (1.0, 1.0)}))
    floor = lit.surface == SURFACES.index("floor")
    assert floor.any() and (shaded.image[floor].astype(int) <= lit.image[floor].astype(int) + 3).all()
    assert shaded.image[floor].astype(float).mean() < lit.image[floor].astype(float).mean()


def test_depth_matches_pinhole_geometry(scenes):
    assert sum((s.surface == SURFACES.index("floor")).any() for s in scenes) >= len(scenes) // 2
    for s in scenes:
        rays, origin = world_rays(s), s.camera_to_world[:3, 3]
        points = origin + rays * s.depth_complete[..., None].astype(np.float64)  # back-projection (t = z-depth)
        floor = s.surface == SURFACES.index("floor")
        ceiling = s.surface == SURFACES.index("ceiling")
        walls = s.surface == SURFACES.index("wall")
        # floor: depth = camera height / downward component of the ray; back-projected points at z = 0
        np.testing.assert_allclose(s.depth_complete[floor], origin[2] / -rays[floor][:, 2], rtol=2e-4)
        assert np.abs(points[floor][:, 2]).max(initial=0) < 2e-3
        assert np.abs(points[ceiling][:, 2] - s.room_size[2]).max(initial=0) < 2e-3
        wall_points = points[walls][:, :2]
        to_wall = np.minimum(np.abs(wall_points), np.abs(wall_points - s.room_size[:2])).min(1)
        assert to_wall.max() < 2e-3
        # camera looks roughly horizontally: the optical axis is within 30 degrees of the horizon
        forward = s.camera_to_world[:3, 2]
        assert abs(math.degrees(math.asin(forward[2]))) <= 30


def test_primitive_hits_match_ray_marching():
    """Analytic ray casts (slab, sphere, cylinder) agree with brute-force marching, also for a primitive that
    reaches behind the camera, and the screen rectangle used for culling holds every hit."""
    from edgetokens.vision.camera import Camera, pixel_rays
    from training.data.scene_geometry import Box as _Box
    from training.data.scene_geometry import Cylinder as _Cylinder
    from training.data.scene_geometry import Sphere as _Sphere
    from training.data.scene_geometry import screen_rect as _screen_rect

    height, width = 24, 32
    rotation = np.array([[0, -1, 0], [0, 0, -1], [1, 0, 0]], dtype=np.float64)  # world->camera: looks along +x, z up
    camera = Camera(rotation, [0.0, 0.0, 1.0], (20.0, 20.0), (15.5, 11.5), width, height)
    dirs = pixel_rays(camera).astype(np.float64)
    box, sphere = _Box([3.0, 0.2, 1.0], [0.5, 0.3, 0.4], 0.6, 0, 0), _Sphere([2.5, -0.8, 0.8], 0.4, 0, 0)
    cylinder, slab = _Cylinder([2.0, 1.0, 0.0], 0.5, 0.0, 0.4, 0, 0), _Box([0.0, 0.0, 0.3], [1.0, 1.0, 0.2], 0.3, 0, 0)

    def inside(prim, p):
        if isinstance(prim, _Sphere):
            return np.linalg.norm(p - prim.center, axis=-1) <= prim.radius
        if isinstance(prim, _Cylinder):
            return (np.hypot(p[..., 0] - prim.center[0], p[..., 1] - prim.center[1]) <= prim.radius) & (
                p[..., 2] >= prim.z0) & (p[..., 2] <= prim.z1)
        c, s = math.cos(prim.yaw), math.sin(prim.yaw)
        d = p - prim.center
        local = np.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1], d[..., 2]], -1)
        return (np.abs(local) <= prim.half).all(-1)

    steps = np.arange(0.01, 5.0, 0.002)
    rays = dirs.reshape(3, -1).T
    for prim in (box, sphere, cylinder, slab):
        t = prim.intersect(camera.position.astype(np.float32), dirs.astype(np.float32)).ravel()
        hit_march = np.array([inside(prim, camera.position + steps[:, None] * r).any() for r in rays])
        first = np.array([steps[inside(prim, camera.position + steps[:, None] * r)].min(initial=np.inf) for r in rays])
        assert (np.isfinite(t) == hit_march).mean() > 0.98 and np.isfinite(t).sum() > 10
        both = np.isfinite(t) & hit_march
        np.testing.assert_allclose(t[both], first[both], atol=0.004)
        v0, v1, u0, u1 = _screen_rect(prim, camera, height, width)
        rows, cols = np.nonzero(np.isfinite(t).reshape(height, width))
        assert rows.min() >= v0 and rows.max() < v1 and cols.min() >= u0 and cols.max() < u1


def test_dataset_items_normalisation_and_flip():
    torch.set_num_threads(1)
    size = (48, 64)
    ds = SceneDataset(6, seed=20, size=size, train=True, instances=True)
    assert len(ds) == 6
    flips = {}
    for epoch in (0, 1, 2):
        ds.set_epoch(epoch)
        flips[epoch] = [ds[i]["flipped"] for i in range(len(ds))]
    assert any(any(f) for f in flips.values()) and not all(all(f) for f in flips.values())
    assert len({tuple(f) for f in flips.values()}) > 1  # flips change with the epoch
    ds.set_epoch(1)
    assert [ds[i]["flipped"] for i in range(len(ds))] == flips[1]  # and are reproducible
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    flipped_case = next((e, i) for e in flips for i in range(len(ds)) if flips[e][i])
    plain_case = next((e, i) for e in flips for i in range(len(ds)) if not flips[e][i])
    for epoch, i in (flipped_case, plain_case):
        ds.set_epoch(epoch)
        item, scene = ds[i], render_scene(20 + i, size)
        assert item["image"].shape == (3, *size) and item["image"].dtype == torch.float32
        assert item["depth"].shape == item["depth_complete"].shape == (1, *size)
        mirror = (lambda a: a[..., ::-1]) if item["flipped"] else (lambda a: a)
        rgb = (item["image"] * std + mean) * 255
        np.testing.assert_allclose(rgb.numpy(), mirror(scene.image.transpose(2, 0, 1)), atol=1e-3)
        np.testing.assert_array_equal(item["depth"][0].numpy(), mirror(scene.depth))
        np.testing.assert_array_equal(item["depth_complete"][0].numpy(), mirror(scene.depth_complete))
        np.testing.assert_array_equal(item["masks"].numpy(), mirror(scene.masks))
        np.testing.assert_array_equal(item["classes"].numpy(), scene.classes)
        boxes = item["boxes"].numpy()
        assert boxes.dtype == np.float32 and boxes.shape == (len(scene.classes), 4)
        expected = scene.boxes.copy()
        if item["flipped"]:
            expected[:, [0, 2]] = size[1] - scene.boxes[:, [2, 0]]
        np.testing.assert_array_equal(boxes, expected)
        cx = scene.intrinsics[0, 2]
        assert item["intrinsics"][0, 2].item() == pytest.approx(size[1] - 1 - cx if item["flipped"] else cx)
    evaluation = SceneDataset(3, seed=20, size=size)
    assert not any(evaluation[i]["flipped"] for i in range(3)) and "masks" not in evaluation[0]
    with pytest.raises(IndexError):
        evaluation[3]
    batch = next(iter(torch.utils.data.DataLoader(evaluation, batch_size=3)))
    assert batch["image"].shape == (3, 3, *size) and batch["depth"].shape == (3, 1, *size)


def test_fresh_training_scenes_change_each_epoch_and_never_reach_the_test_scenes():
    from training.depth import TEST_SEED_OFFSET, depth_sources

    size = (24, 32)
    ds = SceneDataset(3, seed=5, size=size, train=True, fresh=True)
    seen = []
    for epoch in (0, 1, 2):
        ds.set_epoch(epoch)
        seen += [ds.scene_id(i) for i in range(3)]
    assert seen == list(range(5, 14))  # every epoch new rooms, none repeated
    ds.set_epoch(1)
    item = ds[0]
    mirror = (lambda a: a[:, ::-1]) if item["flipped"] else (lambda a: a)
    np.testing.assert_array_equal(item["depth"][0].numpy(), mirror(render_scene(8, size).depth))
    with pytest.raises(ValueError, match="fresh"):
        SceneDataset(3, seed=5, size=size, fresh=True)  # an evaluation set must not change
    train, test = depth_sources("scenes", 32, 5, 10, 4, epochs=3)
    assert train.fresh and not test.train and test.scene_id(0) == 5 + TEST_SEED_OFFSET
    with pytest.raises(ValueError, match="test scenes"):
        depth_sources("scenes", 32, 5, 1000, 4, epochs=TEST_SEED_OFFSET // 1000)


@pytest.mark.parametrize("size", [0, -4, (0, 64), (64, -1), float("nan"), (64, float("nan")), 64.0, (64,), True, None])
def test_bad_size_is_a_clear_error(size):
    with pytest.raises(ValueError, match="size"):
        render_scene(0, size)
    with pytest.raises(ValueError, match="size"):
        SceneDataset(2, size=size)


@pytest.mark.parametrize("seed", [-1, float("nan"), 1.5, None])
def test_bad_seed_is_a_clear_error(seed):
    with pytest.raises(ValueError, match="seed"):
        render_scene(seed, 32)


@pytest.mark.parametrize("field, value", [("fov_deg", (float("nan"), 60.0)), ("baseline", float("nan")),
                                          ("max_range", (8.0, float("inf"))), ("room_size", (5.0, 3.0)),
                                          ("min_range", float("nan")), ("edge_dropout", 1.5), ("fov_deg", (0.0, 60.0)),
                                          ("objects", [-1, 3]), ("objects", (2.5, 4)), ("clutter", (3, 1)),
                                          ("items_per_support", (-1, 2)), ("person_probability", 1.2),
                                          ("person_probability", "often"), ("ambient", (-0.1, 0.2)),
                                          ("second_light_probability", -0.5), ("sun_probability", float("nan")),
                                          ("color_temperature", (500.0, 6500.0)),
                                          ("color_temperature", (2700.0, 30000.0)), ("shadow_strength", (0.5, 1.5)),
                                          ("exposure", (0.0, 1.0)), ("color_jitter", -0.1), ("vignette", (0.0, 2.0)),
                                          ("blur_probability", 2.0), ("blur_sigma", (-1.0, 1.0)),
                                          ("jpeg_probability", -1.0), ("jpeg_quality", (0, 90)),
                                          ("jpeg_quality", (50, 101)), ("jpeg_quality", (50.5, 90)),
                                          ("pitch_deg", (-95.0, 0.0)), ("roll_deg", -1.0)])
def test_bad_config_is_a_clear_error(field, value):
    with pytest.raises(ValueError, match=field):
        SceneConfig(**{field: value})


def test_bad_count_is_a_clear_error():
    for count in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="count"):
            SceneDataset(count)


def test_scene_camera_is_the_shared_pinhole_camera():
    """The renderer's rays, its reported intrinsics / pose and the shared camera's projection agree: a
    rendered surface point, back-projected from its pixel and depth with the shared camera, lands on the
    renderer's ray, and projecting it through the shared camera gives that pixel back."""
    from edgetokens.vision.camera import Camera, camera_to_world, pixel_rays, project, unproject, world_to_camera
    from training.data.scenes import _sample_camera

    height, width = 48, 64
    cfg = SceneConfig()
    for seed in range(4):
        rng = np.random.default_rng([seed, 0x5CE7E])
        room = np.array([rng.uniform(*cfg.room_size), rng.uniform(*cfg.room_size), rng.uniform(*cfg.room_height)])
        camera = _sample_camera(rng, cfg, room, height, width)
        assert isinstance(camera, Camera)
        np.testing.assert_allclose(camera.rotation @ camera.rotation.T, np.eye(3), atol=1e-6)  # world->camera
        scene = render_scene(seed, (height, width))
        np.testing.assert_array_equal(scene.intrinsics, camera.intrinsics.astype(np.float32))
        np.testing.assert_array_equal(scene.camera_to_world, camera.camera_to_world_matrix)
        np.testing.assert_allclose(camera.forward, scene.camera_to_world[:3, 2])
        v, u = np.mgrid[0:height, 0:width]
        pixels = np.stack([u, v], -1).astype(np.float64)
        depth = scene.depth_complete.astype(np.float64)
        world = camera_to_world(unproject(pixels, depth, camera), camera)
        rays = pixel_rays(camera).astype(np.float64).transpose(1, 2, 0)
        hits = camera.position + depth[..., None] * rays  # where the renderer's rays hit the room / objects
        np.testing.assert_allclose(world, hits, atol=1e-4)
        floor, ceiling = scene.surface == SURFACES.index("floor"), scene.surface == SURFACES.index("ceiling")
        assert floor.any() or ceiling.any()
        np.testing.assert_allclose(world[floor][:, 2], 0.0, atol=1e-3)  # back-projected floor pixels lie on z = 0
        np.testing.assert_allclose(world[ceiling][:, 2], scene.room_size[2], atol=1e-3)
        # (the rotation is rounded to float32, so R @ R.T = I to ~1e-7 only)
        np.testing.assert_allclose(project(world_to_camera(hits, camera), camera), pixels, atol=1e-3)
        np.testing.assert_allclose(project(world_to_camera(world, camera), camera), pixels, atol=1e-4)
        np.testing.assert_allclose(rays, world_rays(scene), atol=1e-6)
