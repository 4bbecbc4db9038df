"""Digits as a person draws them on the canvas, and the canvas's own widget value for each stroke: a fabric.js
drawing and a 280x280 PNG, as streamlit-drawable-canvas 0.13's frontend sends them."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import math
import random

from PIL import Image, ImageDraw

CANVAS = 280  # pages/predict.py CANVAS_SIZE


PEN = 22  # the page's default pen width


FABRIC_VERSION = "7.4.0"


# Strokes as points in a unit box (x right, y down); the pen is lifted between a digit's two strokes.
DIGIT_STROKES: dict[int, list[list[tuple[float, float]]]] = {
    0: [
        [(0.5, 0.0), (0.2, 0.15), (0.08, 0.5), (0.2, 0.85), (0.5, 1.0)],
        [(0.5, 1.0), (0.8, 0.85), (0.92, 0.5), (0.8, 0.15), (0.5, 0.0)],
    ],
    1: [[(0.3, 0.2), (0.55, 0.0)], [(0.55, 0.0), (0.55, 1.0)]],
    2: [[(0.1, 0.25), (0.35, 0.0), (0.75, 0.05), (0.85, 0.3), (0.6, 0.6)], [(0.6, 0.6), (0.1, 1.0), (0.95, 1.0)]],
    3: [[(0.1, 0.1), (0.5, 0.0), (0.85, 0.2), (0.45, 0.48)], [(0.45, 0.48), (0.9, 0.72), (0.5, 1.0), (0.1, 0.9)]],
    4: [[(0.6, 0.0), (0.05, 0.65), (0.95, 0.65)], [(0.7, 0.3), (0.7, 1.0)]],
    5: [[(0.85, 0.0), (0.2, 0.0)], [(0.2, 0.0), (0.15, 0.45), (0.6, 0.38), (0.9, 0.65), (0.6, 1.0), (0.1, 0.9)]],
    6: [[(0.75, 0.0), (0.3, 0.3), (0.1, 0.7)], [(0.1, 0.7), (0.4, 1.0), (0.85, 0.8), (0.6, 0.5), (0.15, 0.65)]],
    7: [[(0.05, 0.0), (0.95, 0.0)], [(0.95, 0.0), (0.4, 1.0)]],
    8: [
        [(0.8, 0.15), (0.5, 0.0), (0.2, 0.15), (0.5, 0.5), (0.85, 0.8)],
        [(0.85, 0.8), (0.5, 1.0), (0.15, 0.8), (0.5, 0.5), (0.8, 0.15)],
    ],
    9: [[(0.85, 0.2), (0.5, 0.0), (0.15, 0.25), (0.45, 0.5), (0.85, 0.3)], [(0.85, 0.2), (0.8, 1.0)]],
}


@dataclasses.dataclass(frozen=True)
class Drawing:
    """One digit as the canvas sends it, stroke by stroke: the widget's JSON value after each stroke."""

    digit: int
    values: tuple[str, ...]  # the canvas widget's json_value after stroke 1, 2, ...
    pngs: tuple[bytes, ...]  # the PNG in each value (the test reads it the page's way)


def mouse_points(
    points: list[tuple[float, float]], box: tuple[float, float, float, float], slant: float, rng: random.Random
) -> list[tuple[float, float]]:
    """A stroke as the mouse reports it: a point every ~8 canvas pixels along the template, a little shaky."""
    left, top, width, height = box
    placed = [(left + (x + slant * (1 - y)) * width, top + y * height) for x, y in points]
    path = [placed[0]]
    for (x0, y0), (x1, y1) in zip(placed, placed[1:], strict=False):
        steps = max(1, int(math.hypot(x1 - x0, y1 - y0) / 8))
        for step in range(1, steps + 1):
            f = step / steps
            path.append((x0 + (x1 - x0) * f + rng.uniform(-0.6, 0.6), y0 + (y1 - y0) * f + rng.uniform(-0.6, 0.6)))
    return [(min(max(x, 1.0), CANVAS - 1.0), min(max(y, 1.0), CANVAS - 1.0)) for x, y in path]


def fabric_path(points: list[tuple[float, float]]) -> dict:
    """The fabric.js Path object the canvas's free-drawing brush makes of these points (fabric 7's toObject)."""
    commands: list[list] = [["M", round(points[0][0], 6), round(points[0][1], 6)]]
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        commands.append(["Q", round(x0, 6), round(y0, 6), round((x0 + x1) / 2, 6), round((y0 + y1) / 2, 6)])
    commands.append(["L", round(points[-1][0], 6), round(points[-1][1], 6)])
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return {
        "lockMovementX": False,
        "lockMovementY": False,
        "lockRotation": False,
        "lockScalingX": False,
        "lockScalingY": False,
        "lockSkewingX": False,
        "lockSkewingY": False,
        "lockScalingFlip": False,
        "type": "Path",
        "version": FABRIC_VERSION,
        "originX": "center",
        "originY": "center",
        "left": round((min(xs) + max(xs)) / 2, 4),
        "top": round((min(ys) + max(ys)) / 2, 4),
        "width": round(max(xs) - min(xs), 4),
        "height": round(max(ys) - min(ys), 4),
        "fill": None,
        "stroke": "#FFFFFF",
        "strokeWidth": PEN,
        "strokeDashArray": None,
        "strokeLineCap": "round",
        "strokeDashOffset": 0,
        "strokeLineJoin": "round",
        "strokeUniform": False,
        "strokeMiterLimit": 10,
        "scaleX": 1,
        "scaleY": 1,
        "angle": 0,
        "flipX": False,
        "flipY": False,
        "opacity": 1,
        "shadow": None,
        "visible": True,
        "backgroundColor": "",
        "fillRule": "nonzero",
        "paintFirst": "fill",
        "globalCompositeOperation": "source-over",
        "skewX": 0,
        "skewY": 0,
        "path": commands,
    }


def canvas_png(strokes: list[list[tuple[float, float]]]) -> bytes:
    """The canvas as `toDataURL("png")` gives it: 280x280 RGBA, opaque black, white round-capped strokes,
    anti-aliased (drawn at 4x and reduced)."""
    scale = 4
    image = Image.new("L", (CANVAS * scale, CANVAS * scale), 0)
    draw = ImageDraw.Draw(image)
    radius = PEN * scale / 2
    for stroke in strokes:
        scaled = [(x * scale, y * scale) for x, y in stroke]
        draw.line(scaled, fill=255, width=PEN * scale)
        for x, y in scaled:  # round caps and joins
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    gray = image.resize((CANVAS, CANVAS), Image.Resampling.BOX)
    rgba = Image.merge("RGBA", (gray, gray, gray, Image.new("L", gray.size, 255)))
    buffer = io.BytesIO()
    rgba.save(buffer, format="PNG")
    return buffer.getvalue()


def canvas_value(objects: list[dict], png: bytes) -> str:
    """The canvas widget's JSON value, as the component's setStateValue("drawing", ...) serialises it."""
    data = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    drawing = {"raw": {"version": FABRIC_VERSION, "objects": objects, "background": "#000000"}, "data": data}
    return json.dumps({"drawing": drawing}, separators=(",", ":"))


def make_drawing(rng: random.Random) -> Drawing:
    """A random digit, large and roughly centred as the page asks, stroke by stroke."""
    digit = rng.randrange(10)
    height = rng.uniform(150, 210)
    width = height * rng.uniform(0.45, 0.7)
    box = (rng.uniform(30, CANVAS - 30 - width), rng.uniform(25, CANVAS - 25 - height), width, height)
    slant = rng.uniform(-0.1, 0.3)
    strokes = [mouse_points(points, box, slant, rng) for points in DIGIT_STROKES[digit]]
    values, pngs = [], []
    for count in range(1, len(strokes) + 1):
        png = canvas_png(strokes[:count])
        values.append(canvas_value([fabric_path(stroke) for stroke in strokes[:count]], png))
        pngs.append(png)
    return Drawing(digit, tuple(values), tuple(pngs))


def blank_canvas_value() -> str:
    """What the canvas sends when its toolbar's bin clears it."""
    return canvas_value([], canvas_png([]))


def make_pool(count: int = 40, seed: int = 0) -> list[Drawing]:
    rng = random.Random(seed)
    return [make_drawing(rng) for _ in range(count)]
