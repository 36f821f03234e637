import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EDGETOKENS_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"../shared not found at {SHARED}; set EDGETOKENS_SHARED to its path")
    return SHARED


@pytest.fixture(scope="session")
def cmu_root(shared_dir) -> Path:
    """The CMU mocap takes in ../shared (subjects 01, 02, 03 as ASF/AMC files)."""
    root = shared_dir / "data" / "cmu-mocap"
    if not (root / "02" / "02.asf").is_file():
        pytest.fail(f"CMU mocap files not found under {root}")
    return root


@pytest.fixture(scope="session")
def hot_checkpoint(tmp_path_factory) -> Path:
    """One random hot-mixste checkpoint per test session (shared by the runtime/predictor tests)."""
    import torch

    from edgetokens import create_model
    from edgetokens.checkpoint import save_checkpoint

    path = tmp_path_factory.getbasetemp() / "ckpt-hot-mixste"
    torch.manual_seed(0)
    save_checkpoint(create_model("hot-mixste"), path)
    return path


@pytest.fixture(scope="session")
def cache(tmp_path_factory) -> Path:
    """The edgetokens cache of this test session."""
    return tmp_path_factory.getbasetemp() / "edgetokens-cache"
