"""compression.shape_sweep: per-shape eager / OpenVINO FP32 / OpenVINO INT8 timings."""
import pytest

from compression import shape_sweep

TINY = "frames=27,embed_dim=32,mlp_hidden=64,depth=2,heads=2,token_num=9,layer_index=1"


def test_two_shapes_give_two_rows_with_their_own_flops(tmp_path, capsys):
    md = tmp_path / "sweep.md"
    assert shape_sweep.main(["--model", "hot-mixste", "--threads", "1", "--repeats", "2", "--md", str(md),
                             "--shapes", f"{TINY};{TINY.replace('mlp_hidden=64', 'mlp_hidden=128')}"]) == 0
    rows = [line for line in md.read_text().splitlines() if line.startswith("| frames=27")]
    assert len(rows) == 2
    narrow, wide = (float(r.split("|")[2]) for r in rows)
    assert wide > narrow > 0  # a wider MLP counts more GFLOPs
    for row in rows:  # every timing measured and positive
        assert all(float(cell.strip().rstrip("x")) > 0 for cell in row.split("|")[3:8])


def test_a_bad_shape_is_a_message(capsys):
    assert shape_sweep.main(["--model", "hot-mixste", "--shapes", "width=3"]) == 2
    assert "no setting width" in capsys.readouterr().err


@pytest.mark.parametrize("text", [";", " ; "])
def test_an_empty_shape_list_is_refused(text):
    with pytest.raises(ValueError, match="empty"):
        shape_sweep.parse_shapes(text, "hot-mixste")
