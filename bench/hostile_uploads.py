"""Hostile model uploads: how much memory and disk it costs to refuse each one.

Each case runs in a fresh process (so one case's peak does not hide another's): it builds the hostile file,
imports TensorFlow, then hands the file to `core.uploads.load_uploaded_model`. Printed per case: the refusal,
the process's peak RSS while refusing it (sampled every 5 ms) above its RSS just before, and what was left in
the temp folder.
Run: python bench/hostile_uploads.py
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CASES = ("config-bomb-1GiB", "eight-members-of-250MiB", "dense-400000", "two-inputs", "two-outputs", "lambda-h5")


def hostile_file(case: str, folder: Path) -> bytes:
    """The hostile upload, built here (as tests/test_uploads.py builds its smaller twins)."""
    import io
    import zipfile

    import keras

    from core.config import SEED
    from core.model import build_model, model_to_bytes

    buffer = io.BytesIO()
    if case == "config-bomb-1GiB":  # a ~1 MB file whose config.json unpacks to 1 GiB
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("model.weights.h5", b"")
            with archive.open("config.json", "w", force_zip64=True) as member:
                for _ in range(1024):
                    member.write(b" " * 2**20)
        return buffer.getvalue()
    if case == "eight-members-of-250MiB":
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for index in range(8):
                with archive.open(f"assets/{index}.bin", "w", force_zip64=True) as member:
                    for _ in range(250):
                        member.write(bytes(2**20))
        return buffer.getvalue()
    if case == "dense-400000":  # the seed's config asking for Dense(400000): 314 million parameters
        with zipfile.ZipFile(io.BytesIO(model_to_bytes(build_model(SEED, (784,))))) as archive:
            members = {name: archive.read(name) for name in archive.namelist()}
        config = json.loads(members["config.json"])
        for layer in config["config"]["layers"]:
            layer.pop("build_config", None)
            if layer["class_name"] == "Dense" and layer["config"]["units"] == 512:
                layer["config"]["units"] = 400_000
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, data in {**members, "config.json": json.dumps(config).encode()}.items():
                archive.writestr(name, data)
        return buffer.getvalue()
    image = keras.Input((784,))
    if case == "two-inputs":
        other = keras.Input((784,))
        return model_to_bytes(keras.Model([image, other], keras.layers.Dense(10)(keras.layers.Add()([image, other]))))
    if case == "two-outputs":
        return model_to_bytes(keras.Model(image, [keras.layers.Dense(10)(image), keras.layers.Dense(10)(image)]))
    path = folder / "lambda.h5"  # a legacy .h5 with a Lambda layer
    keras.Model(image, keras.layers.Dense(10)(keras.layers.Lambda(lambda x: x * 2)(image))).save(path)
    return path.read_bytes()


def rss_kb() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() // 1024


def run_case(case: str) -> None:
    """In this (fresh) process: build the file, then measure the refusal."""
    import tensorflow  # noqa: F401  (its import is not the upload's cost)

    from core.uploads import UploadError, load_uploaded_model

    with tempfile.TemporaryDirectory() as scratch:
        data = hostile_file(case, Path(scratch))
    temp = Path(tempfile.gettempdir())
    before_files = set(temp.iterdir())
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:  # the resident set every 5 ms while the upload is checked
        while not done.wait(0.005):
            samples.append(rss_kb())

    sampler = threading.Thread(target=sample, daemon=True)
    before = rss_kb()
    sampler.start()
    try:
        load_uploaded_model(data)
        outcome = "ACCEPTED"
    except UploadError as error:
        outcome = f"refused: {error}"
    done.set()
    sampler.join()
    grown = (max(samples, default=before) - before) / 1024
    left = [path.name for path in set(temp.iterdir()) - before_files]
    print(json.dumps({"case": case, "size_mb": len(data) / 2**20, "outcome": outcome[:140], "peak_growth_mb": grown,
                      "left_in_temp": left}))  # fmt: skip


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--case":
        run_case(sys.argv[2])
        return
    print(f"{'case':26} {'file':>8} {'memory to refuse':>17}  left in temp  outcome")
    for case in CASES:
        result = subprocess.run([sys.executable, __file__, "--case", case], capture_output=True, text=True)
        line = next((line for line in result.stdout.splitlines() if line.startswith("{")), None)
        if line is None:
            print(f"{case:26} failed: {result.stderr.strip()[-300:]}")
            continue
        row = json.loads(line)
        print(f"{case:26} {row['size_mb']:6.2f}MB {row['peak_growth_mb']:14.0f} MB  {len(row['left_in_temp']):12d}  "
              f"{row['outcome']}")  # fmt: skip


if __name__ == "__main__":
    main()
