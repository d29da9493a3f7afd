"""Files the inspect tests share beyond the session's trained folders.

TF.js models come from tensorflowjs's own converter (``convert(argv)``, the
function behind ``tensorflowjs_converter``), run in the test process, which has
TensorFlow loaded already; the outputs are kept between runs (tests/_cache.py),
keyed on the converted files and the library versions. Weights-only HDF5 files
are cut out of the trained files with h5py/zipfile, byte for byte, in the
layouts Keras writes.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

from tests import _cache

# tensorflowjs imports tensorflow_decision_forests, whose welcome banner needs IPython when stdout is captured.
os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")

_cache_in_session: dict[str, dict[str, Path]] = {}


def tfjs_models(trained_k2: Path, trained_k3: Path, root: Path) -> dict[str, Path]:
    """``layers`` (tf_keras .h5), ``layers_uint8`` (same, --quantize_uint8) and ``graph`` (Keras 3 SavedModel)."""
    session_key = f"{trained_k2}|{trained_k3}"
    if session_key in _cache_in_session:
        return _cache_in_session[session_key]
    h5, saved_model = trained_k2 / "my_model.h5", trained_k3 / "saved_model" / "my_model"
    jobs = {
        "layers": ["--input_format", "keras", str(h5)],
        "layers_uint8": ["--input_format", "keras", "--quantize_uint8", "*", str(h5)],
        "graph": ["--input_format", "tf_saved_model", str(saved_model)],
    }
    key = _cache.key_of("tfjs_models", inputs=[_cache.digest(h5), _cache.digest(saved_model)],
                        jobs={name: args[:-1] for name, args in jobs.items()})

    def build(out: Path) -> None:
        from tensorflowjs.converters import converter

        for name, args in jobs.items():
            converter.convert([*args, str(out / name)])

    built = _cache.built(key, build, root)
    _cache_in_session[session_key] = {name: built / name for name in jobs}
    return _cache_in_session[session_key]


def keras3_weights_h5(trained_k3: Path, out: Path) -> Path:
    """The ``model.weights.h5`` stored in the Keras 3 archive, as a standalone ``.weights.h5``."""
    target = out / "my_model.weights.h5"
    if not target.exists():
        with zipfile.ZipFile(trained_k3 / "my_model.keras") as archive, archive.open("model.weights.h5") as src:
            with target.open("wb") as dst:
                shutil.copyfileobj(src, dst)
    return target


def keras2_weights_h5(trained_k2: Path, out: Path) -> Path:
    """A tf_keras ``save_weights('w.h5')`` layout: the ``model_weights`` group of the full model at the root."""
    import h5py

    target = out / "weights_k2.h5"
    if not target.exists():
        with h5py.File(trained_k2 / "my_model.h5", "r") as src, h5py.File(target, "w") as dst:
            group = src["model_weights"]
            for name, value in group.attrs.items():
                dst.attrs[name] = value
            for name in group:
                group.copy(name, dst)
    return target


def copy_tree(src: Path, dst: Path) -> Path:
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copy2(src, dst)
    return dst


def copy_checkpoint(prefix: Path, out: Path) -> Path:
    """Copies every file of the checkpoint at ``prefix`` into ``out``; returns the new prefix."""
    out.mkdir(parents=True, exist_ok=True)
    for file in prefix.parent.glob(prefix.name + ".*"):
        shutil.copy2(file, out / file.name)
    return out / prefix.name
