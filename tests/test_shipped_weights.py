"""The models this project ships under weights/ load by name, follow the serving contract and restore."""

import numpy as np
import pytest

from tfstem.paths import WEIGHTS_DIR
from tfstem.registry import list_models, load_model

SHIPPED = sorted(p.name for p in WEIGHTS_DIR.iterdir() if p.is_dir()) if WEIGHTS_DIR.is_dir() else []


def test_weights_directory_ships_the_hrstem_model_with_a_card():
    assert "cgrdn_hrstem" in SHIPPED
    card = WEIGHTS_DIR / "cgrdn_hrstem" / "MODEL_CARD.md"
    assert card.is_file() and "PSNR" in card.read_text()


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_is_listed_loads_and_has_a_savedmodel(name):
    assert name in list_models()
    versions = [p for p in (WEIGHTS_DIR / name).iterdir() if p.is_dir() and p.name.isdigit()]
    assert versions, f"weights/{name} has no version directory"
    newest = max(versions, key=lambda p: int(p.name))
    assert (newest / "saved_model.pb").is_file() and (newest / f"{name}.keras").is_file()
    size_mb = sum(f.stat().st_size for f in newest.rglob("*") if f.is_file()) / 1e6
    assert size_mb <= 30, f"weights/{name}/{newest.name} is {size_mb:.1f} MB (limit ~30 MB)"
    model = load_model(name)
    image = np.random.default_rng(0).poisson(30.0, (1, 40, 36, 1)).astype(np.float32)
    out = np.asarray(model(image, training=False))
    assert out.shape == image.shape and np.isfinite(out).all()


def test_shipped_hrstem_model_restores_the_authors_test_images():
    """On tk-r-em's simulated HR-STEM test pairs the shipped model raises PSNR and SSIM well above the input."""
    pytest.importorskip("tk_r_em", reason="the sfr_hrstem test pairs ship with tk-r-em: pip install 'tk-r-em>=1.0.4' (a core dependency)")
    import tfstem
    from tfstem.metrics import psnr, ssim
    from tfstem.r_em import load_test_data

    x, y = load_test_data("hrstem")
    x, y = x[:4, ..., 0], y[:4, ..., 0]
    restored = tfstem.restore(x, model="cgrdn_hrstem", verbose=False)
    gain = np.mean([psnr(c, r) - psnr(c, n) for n, r, c in zip(x, restored, y)])
    ssim_gain = np.mean([ssim(c, r) - ssim(c, n) for n, r, c in zip(x, restored, y)])
    assert gain > 5.0, f"PSNR gain {gain:.2f} dB"
    assert ssim_gain > 0.1, f"SSIM gain {ssim_gain:.3f}"
