"""Output discipline: atomic files and folders, no overwrite without force, collisions refused."""
import os, pytest
from tfstem import outputs
def test_all(tmp_path):
    p = tmp_path/"a"/"x.txt"
    outputs.write_text(p, "1")
    with pytest.raises(FileExistsError): outputs.write_text(p, "2")
    outputs.write_text(p, "2", force=True); assert p.read_text()=="2"
    with pytest.raises(KeyboardInterrupt):
        with outputs.atomic_file(p, force=True) as t:
            t.write_text("3"); raise KeyboardInterrupt
    assert p.read_text()=="2" and os.listdir(p.parent)==["x.txt"]
    f = tmp_path/"file"; f.write_text("")
    with pytest.raises(NotADirectoryError): outputs.check_new_file(f/"y.tif")
    d = tmp_path/"d"
    with outputs.atomic_directory(d) as s: (s/"v").write_text("old")
    with pytest.raises(RuntimeError):
        with outputs.atomic_directory(d, force=True) as s: (s/"v").write_text("new"); raise RuntimeError
    assert (d/"v").read_text()=="old"
    with outputs.atomic_directory(d, force=True) as s: (s/"v").write_text("new")
    assert (d/"v").read_text()=="new" and sorted(os.listdir(tmp_path))==["a","d","file"]
    with pytest.raises(ValueError): outputs.check_distinct_outputs(["a/x","b/x"],["o/x","o/x"])


def test_outputs_get_the_mode_a_plain_open_would_give(tmp_path):
    mask = os.umask(0o022)
    try:
        outputs.write_text(tmp_path / "x.txt", "1")
        with outputs.atomic_directory(tmp_path / "d") as staging:
            (staging / "f").write_text("")
    finally:
        os.umask(mask)
    assert (tmp_path / "x.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755
