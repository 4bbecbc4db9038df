"""Hostile uploads: how much time, memory and disk it costs to refuse each one, and what the largest upload that
is allowed costs everyone else.

Each refusal case runs in a fresh process (so one case's peak does not hide another's): it builds the hostile
file, imports TensorFlow, then hands the file to `core.uploads.load_uploaded_model` (a model) or
`core.data.dataset_from_zip` (a zip of digit pictures). Printed per case: the seconds and the process's peak RSS
while refusing it (sampled every 5 ms) above its RSS just before, what was left in the temp folder, and the
refusal.
Then, with --under-load: a learner's strokes on Draw & predict (the page's own server time per stroke, AppTest in
this process, strokes sent as the canvas sends them) with nothing else running, and while the largest upload of
each kind that the limits allow is processed on the training cluster (core.tasks: a model just under the
multiply-add limit, evaluated on the 10,000 test digits; a zip of pictures just under the pixel limits).
Run: python bench/hostile_uploads.py [--under-load]
"""

from __future__ import annotations

import base64
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CASES = (
    "config-bomb-1GiB",
    "eight-members-of-250MiB",
    "dense-400000",
    "two-inputs",
    "two-outputs",
    "lambda-h5",
    "four-conv256",
    "zip-of-1140-pngs-of-36MP",
)


def hostile_file(case: str, folder: Path) -> bytes:
    """The hostile upload, built here (as tests/test_uploads.py builds its smaller twins)."""
    import io
    import zipfile

    import keras

    from core.config import SEED
    from core.model import build_model, model_to_bytes

    buffer = io.BytesIO()
    if case == "four-conv256":  # 1.8 M parameters, 7 MB, ~1.4 billion multiply-adds per digit
        return model_to_bytes(conv_stack(256, 4))
    if case == "zip-of-1140-pngs-of-36MP":  # 44 KB each, 0.5-0.7 s of decoding each before the limits
        png = flat_png(6000, 6000)
        with zipfile.ZipFile(buffer, "w") as archive:
            for index in range(1140):
                archive.writestr(f"digits/{index % 10}/{index}.png", png)
        return buffer.getvalue()
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

    from core.data import DatasetError
    from core.uploads import UploadError, load_uploaded_model
    from core.zip_import import dataset_from_zip

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
    started = time.perf_counter()
    try:
        if case.startswith("zip"):
            dataset = dataset_from_zip(data, case)
            outcome = f"ACCEPTED with {len(dataset.problems)} pictures listed: {dataset.problems[0]}"
        else:
            load_uploaded_model(data)
            outcome = "ACCEPTED"
    except (UploadError, DatasetError) as error:
        outcome = f"refused: {error}"
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    grown = (max(samples, default=before) - before) / 1024
    left = [path.name for path in set(temp.iterdir()) - before_files]
    print(
        json.dumps(
            {
                "case": case,
                "size_mb": len(data) / 2**20,
                "outcome": outcome[:140],
                "peak_growth_mb": grown,
                "left_in_temp": left,
                "seconds": seconds,
            }
        )
    )


def conv_stack(filters: int, count: int):
    """`count` Conv2D(filters, 3, padding="same") on 28x28x1: small on disk, heavy in arithmetic."""
    import keras

    convs = [keras.layers.Conv2D(filters, 3, padding="same", activation="relu") for _ in range(count)]
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            *convs,
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def flat_png(width: int, height: int) -> bytes:
    """A real 1-bit PNG, white with a black bar: a few KB however many pixels it decodes to."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = (width + 7) // 8
    white, bar = (
        b"\x00" + b"\xff" * row,
        b"\x00" + b"\xff" * (row // 2 - 1) + b"\x00\x00" + b"\xff" * (row - row // 2 - 1),
    )
    packer = zlib.compressobj(9)
    rows = [packer.compress(bar if height // 5 < y < 4 * height // 5 else white) for y in range(height)]
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", b"".join(rows) + packer.flush())
        + chunk(b"IEND", b"")
    )


def largest_allowed() -> dict[str, tuple]:
    """The heaviest upload of each kind that the limits let through: (task function, bytes, its arguments)."""
    import io
    import zipfile

    from core.model import model_to_bytes
    from core.tasks import check_model, import_digits
    from core.uploads import MAX_MULTIPLY_ADDS, estimated_multiply_adds
    from core.zip_import import MAX_DIGIT_PIXELS, MAX_TOTAL_PIXELS

    filters = 16
    while estimated_multiply_adds(_config_of(conv_stack(filters + 8, 4))) < MAX_MULTIPLY_ADDS:
        filters += 8
    model = conv_stack(filters, 4)
    side = int(MAX_DIGIT_PIXELS**0.5) - 8  # just under the per-picture limit
    count = min(MAX_TOTAL_PIXELS // (side * side), 20_000)
    png = flat_png(side, side)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range(count):
            archive.writestr(f"digits/{index % 10}/{index}.png", png)
    macs = estimated_multiply_adds(_config_of(model))
    return {
        f"model: 4 x Conv2D({filters}), {macs / 1e6:.0f} M multiply-adds": (check_model, model_to_bytes(model)),
        f"zip: {count} pictures of {side}x{side}": (import_digits, buffer.getvalue()),
    }


def _config_of(model) -> dict:
    import io
    import zipfile

    from core.model import model_to_bytes

    with zipfile.ZipFile(io.BytesIO(model_to_bytes(model))) as archive:
        return json.loads(archive.read("config.json"))


def under_load() -> None:
    """Strokes' server time alone, then while each largest allowed upload is processed on the cluster."""
    import dataclasses

    import numpy as np
    from streamlit.testing.v1 import AppTest

    from bench.predict_latency import SERVER_TIME, STROKES, canvas_png
    from core.cluster_client import TrainingCluster
    from core.config import SEED
    from core.runs import LocalReporter, TrainingRequest
    from core.store import new_run_id
    from core.tasks import Task
    from core.training import run_training

    store = tempfile.mkdtemp(prefix="digitlab-uploads-")
    os.environ["DIGITLAB_MODEL_DIR"] = store
    run_id = new_run_id()
    run_training(
        TrainingRequest(run_id, dataclasses.replace(SEED, epochs=1), "mnist", 5_000, store_root=store), LocalReporter()
    )
    app = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "pages" / "predict.py"), default_timeout=180)
    app.session_state["chosen_run"] = run_id
    app.run()
    urls = ["data:image/png;base64," + base64.b64encode(canvas_png(points)).decode() for points in STROKES.values()]
    strokes = [0]

    def stroke() -> float:
        strokes[0] += 1
        objects = [{"type": "path"}] * strokes[0]  # one stroke more each time: a new canvas value
        app.session_state["canvas"] = {"drawing": {"raw": {"objects": objects}, "data": urls[strokes[0] % len(urls)]}}
        app.run()
        caption = next(c.value for c in app.caption if SERVER_TIME.match(c.value))
        time.sleep(0.05)  # a person's pace is slower still
        return float(SERVER_TIME.match(caption).group(1))

    def summary(times: list[float]) -> str:
        return f"p50 {np.median(times):6.1f} ms  p95 {np.percentile(times, 95):6.1f} ms  ({len(times)} strokes)"

    cluster = TrainingCluster(max_workers=1, state_dir=store)
    try:
        uploads = largest_allowed()
        client = cluster.client()
        [stroke() for _ in range(10)]  # warm up the page's caches
        idle = [stroke() for _ in range(100)]
        print(f"{'strokes, nothing else running':58} {summary(idle)}")
        for label, (function, data) in uploads.items():
            extra = (str(Path(store) / "datasets"),) if function.__name__ == "import_digits" else (str(Path(store)),)
            name = "bench" if function.__name__ == "import_digits" else "bench.keras"
            started = time.perf_counter()
            task = Task(client, Path(store) / ".uploads", name, function, data, name, *extra)
            times = []
            while not (state := task.state()).finished:
                times.append(stroke())
            seconds = time.perf_counter() - started
            outcome = state.error or f"done: {state.result}"
            print(
                f"{'strokes while ' + label:58} {summary(times)}; the upload took {seconds:.0f} s ({outcome[:60]}); "
                f"p95 {np.percentile(times, 95) / np.percentile(idle, 95):.1f}x idle"
            )
    finally:
        cluster.shutdown()
        shutil.rmtree(store, ignore_errors=True)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--case":
        run_case(sys.argv[2])
        return
    if "--under-load" in sys.argv:
        under_load()
        return
    print(f"{'case':26} {'file':>8} {'seconds':>8} {'memory to refuse':>17}  left in temp  outcome")
    for case in CASES:
        result = subprocess.run([sys.executable, __file__, "--case", case], capture_output=True, text=True)
        line = next((line for line in result.stdout.splitlines() if line.startswith("{")), None)
        if line is None:
            print(f"{case:26} failed: {result.stderr.strip()[-300:]}")
            continue
        row = json.loads(line)
        print(
            f"{case:26} {row['size_mb']:6.2f}MB {row['seconds']:8.2f} {row['peak_growth_mb']:14.0f} MB  "
            f"{len(row['left_in_temp']):12d}  {row['outcome']}"
        )


if __name__ == "__main__":
    main()
