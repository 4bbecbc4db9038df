"""Hand-style digits: two sets no model trains on, a tuning set and a held-out set, to benchmark how well MNIST
models read handwriting.

The two sets share no font and no pen: whole font families go to one set or the other (TUNING_FONTS,
HELD_OUT_FONTS), and so do the ways of writing each digit with a pen (PEN_DIGITS: the first and third way of each
digit for tuning, the second for held-out), with the held-out pens bending more (PEN_STYLES). Tune only on the
tuning set; report both, and never change a choice because of the held-out number alone.

Half of each digit's images are rendered from handwriting fonts (bubbly and rounded ones among them), half are
scripted pen strokes drawn like a mouse on the app's 280x280 black canvas, sometimes with strokes that do not quite
meet. Both get a random size (small digits too), position (off-centre too), slant, rotation and stroke weight (up
to the pen slider's 40 px), and are then read through the app's own `core.preprocess.grayscale_to_mnist`.

Fonts come from these Debian packages: fonts-bwht fonts-dkg-handwriting fonts-comic-neue fonts-dancingscript
fonts-humor-sans fonts-kristi fonts-rufscript fonts-tlwg-purisa-ttf fonts-kaushanscript fonts-cherrybomb
fonts-breip fonts-leckerli-one fonts-ecolier-court fonts-eurofurence fonts-klee fonts-fantasma fonts-comfortaa
(`apt-get install` them). Without them the fonts half falls back to DejaVu/Liberation italics and sans, and
without those to pen strokes only: the sets stay usable but the numbers change, so report `fonts_found()`.
Run: python bench/handstyle.py [sheet-prefix]  (writes a contact sheet per set of what the model sees)
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.preprocess import grayscale_to_mnist  # noqa: E402

CANVAS = 280  # the app's drawing canvas, light ink on black
SUPERSAMPLE = 2  # draw at twice the size, then shrink: anti-aliased edges like the browser's canvas
HEIGHT_RANGE = (70, 250)  # the digit's height on the canvas, pixels: from small (a quarter of the canvas) to full
PEN_RANGE = (8, 40)  # the predict page's pen-width slider
WEIGHT_RANGE = (0.04, 0.3)  # stroke width as a share of the digit's height (pens: then clipped to PEN_RANGE)
SLANT_RANGE = (-0.25, 0.45)  # shear: x moves by slant * height above the centre; people lean right more often
ROTATION_DEGREES = 10.0
TREMOR = 0.004  # pen strokes: per-point shake
GAP_SHARE = 0.5  # pen digits whose strokes stop short of meeting
GAP_RANGE = (0.02, 0.08)  # how much of each end such a stroke leaves out, as a share of its length
# 28x28 stroke widths (weight x the 20-pixel box) by bucket: MNIST's own are about 2-3 pixels.
WEIGHT_BUCKETS = {
    "light (under 2 px)": (0.0, 2.0),
    "medium (2-3.5 px)": (2.0, 3.5),
    "heavy (3.5-5 px)": (3.5, 5.0),
    "heaviest (5-6 px)": (5.0, 99.0),
}
FONT_DIR = Path("/usr/share/fonts")
SPLITS = ("tuning", "held-out")
TUNING_FONTS = (
    "BecauseWeBuild-Regular.otf",
    "BecauseWeConnect-Regular.otf",
    "BecauseWeCreate-Regular.otf",
    "dkg.ttf",
    "dkgBd.ttf",
    "dkgIt.ttf",
    "ComicNeue-Regular.otf",
    "ComicNeue-Italic.otf",
    "Humor-Sans.ttf",
    "Purisa.ttf",
    "Purisa-Oblique.ttf",
    "KaushanScript-Regular.otf",
    "CherryBomb-Regular.otf",
    "eurof55.ttf",
    "Ecolier-court.ttf",
)  # CherryBomb: bubbly; eurofurence: rounded
HELD_OUT_FONTS = (
    "BecauseWeLearn-Regular.otf",
    "BecauseWeMentor-Regular.otf",
    "BecauseWeOrganize-Regular.otf",
    "DancingScript-Regular.otf",
    "Kristi.ttf",
    "Rufscript010.ttf",
    "Breip.ttf",
    "LeckerliOne-Regular.ttf",
    "Comfortaa-Bold.ttf",
    "KleeOne-Regular.ttf",
    "Fantasma-Bold.otf",
)  # Leckerli One: fat and bubbly; Comfortaa: rounded
HANDWRITING_FONTS = TUNING_FONTS + HELD_OUT_FONTS
FALLBACK_FONTS = {
    "tuning": ("DejaVuSans.ttf", "DejaVuSans-Oblique.ttf"),
    "held-out": ("DejaVuSerif-Italic.ttf", "LiberationSans-Italic.ttf"),
}


@dataclass(frozen=True)
class PenStyle:
    """How a set's pen strokes wander from their template."""

    ways: tuple[int, ...]  # which of PEN_DIGITS' ways of writing a digit (indices that exist) this set uses
    bend: float  # size of each smooth random bend, as a share of the digit's height
    proportion: float  # up to exp(p) as the power that moves a digit's waist or loop


PEN_STYLES = {"tuning": PenStyle((0, 2), 0.025, 0.3), "held-out": PenStyle((1,), 0.035, 0.4)}

Stroke = list[tuple[float, float]]  # points in a unit box: x right, y down
Preprocess = Callable[[np.ndarray], np.ndarray | None]  # (H, W) uint8 light-on-dark -> (28, 28) float32


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, sweep: float, points: int = 20) -> Stroke:
    """Points along an ellipse from angle `start` (degrees, 0 = right, 90 = down) over `sweep` degrees."""
    angles = np.radians(start + sweep * np.linspace(0.0, 1.0, points))
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]


# Each digit: a few ways people write it; each way: one or more pen strokes.
PEN_DIGITS: dict[int, list[list[Stroke]]] = {
    0: [[_arc(0.5, 0.5, 0.3, 0.48, -90, -370)], [_arc(0.5, 0.5, 0.26, 0.46, -100, 375)]],
    1: [
        [[(0.5, 0.02), (0.5, 0.98)]],
        [[(0.3, 0.2), (0.55, 0.02), (0.55, 0.98)]],
        [[(0.3, 0.2), (0.55, 0.02), (0.55, 0.98)], [(0.3, 0.98), (0.8, 0.98)]],
    ],
    2: [
        [_arc(0.5, 0.3, 0.3, 0.28, 200, 200)[:-4] + [(0.15, 0.98), (0.88, 0.98)]],
        [_arc(0.5, 0.28, 0.32, 0.26, 190, 215) + _arc(0.3, 0.88, 0.12, 0.1, -90, -250)[3:] + [(0.88, 0.94)]],
        [[(0.15, 0.15), (0.45, 0.02), (0.8, 0.12), (0.75, 0.35), (0.15, 0.98), (0.88, 0.97)]],
    ],
    3: [
        [[*_arc(0.48, 0.26, 0.3, 0.24, 200, 250), *_arc(0.48, 0.73, 0.34, 0.25, -90, 240)]],
        [[(0.15, 0.03), (0.85, 0.03), (0.42, 0.42), *_arc(0.48, 0.7, 0.36, 0.28, -80, 230)]],
    ],
    4: [
        [[(0.62, 0.98), (0.62, 0.02), (0.1, 0.65), (0.9, 0.65)]],
        [[(0.2, 0.02), (0.12, 0.6), (0.9, 0.6)], [(0.68, 0.2), (0.68, 0.98)]],
    ],
    5: [
        [[(0.28, 0.02), (0.22, 0.45), *_arc(0.48, 0.68, 0.32, 0.3, -120, 240)], [(0.28, 0.03), (0.85, 0.02)]],
        [[(0.82, 0.02), (0.28, 0.02), (0.22, 0.45), *_arc(0.48, 0.68, 0.32, 0.3, -120, 240)]],
    ],
    6: [
        [_arc(0.75, 0.55, 0.55, 0.53, -85, -95)[:-2] + _arc(0.5, 0.7, 0.3, 0.28, 180, -340)],
        [[(0.72, 0.02), (0.22, 0.65), *_arc(0.5, 0.72, 0.3, 0.26, 160, -330)]],
    ],
    7: [
        [[(0.1, 0.04), (0.9, 0.02), (0.4, 0.98)]],
        [[(0.1, 0.04), (0.9, 0.02), (0.4, 0.98)], [(0.4, 0.5), (0.85, 0.5)]],
        [[(0.12, 0.2), (0.15, 0.02), (0.9, 0.02), (0.5, 0.98)]],
    ],
    8: [
        [[(0.5 - 0.3 * math.sin(2 * t), 0.5 - 0.48 * math.cos(t)) for t in np.linspace(0, 2 * math.pi, 48)]],
        [_arc(0.5, 0.26, 0.24, 0.24, 90, -360) + _arc(0.5, 0.74, 0.3, 0.25, -90, 360)],
    ],
    9: [
        [_arc(0.5, 0.3, 0.3, 0.28, 0, -360) + [(0.8, 0.6), (0.72, 0.98)]],
        [_arc(0.48, 0.3, 0.3, 0.28, 10, -350) + _arc(0.2, 0.35, 0.58, 0.63, 0, 80)],
    ],
}


def fonts_found(font_dir: Path | None = None, split: str | None = None) -> list[Path]:
    """The handwriting fonts installed here for `split` (both sets' for None), or else that split's fallback print
    fonts; sorted, so seeds repeat."""
    font_dir = FONT_DIR if font_dir is None else font_dir
    names = {"tuning": TUNING_FONTS, "held-out": HELD_OUT_FONTS, None: HANDWRITING_FONTS}[split]
    fallback = FALLBACK_FONTS[split] if split else (*FALLBACK_FONTS["tuning"], *FALLBACK_FONTS["held-out"])
    for candidates in (names, fallback):
        found = sorted(path for name in candidates for path in font_dir.rglob(name))
        if found:
            return found
    return []


def _transform(
    rng: np.random.Generator, height: float, aspect: float, lean: float = 0.0, margin: float = 6.0
) -> np.ndarray:
    """A random 2x3 affine map from unit-box coordinates to canvas pixels: size, slant, rotation, position.

    The digit's box, plus `margin` pixels of ink around it, stays inside the canvas (shrunk if need be)."""
    slant, angle = rng.uniform(*SLANT_RANGE) - lean, math.radians(rng.uniform(-ROTATION_DEGREES, ROTATION_DEGREES))
    rotate = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    linear = rotate @ np.array([[1.0, -slant], [0.0, 1.0]]) @ np.diag([height * aspect, height])
    half = np.abs(linear).sum(axis=1) / 2  # half the transformed box's extent
    linear *= min(1.0, (CANVAS / 2 - margin) / half.max())
    room = np.maximum(CANVAS / 2 - margin - np.abs(linear).sum(axis=1) / 2, 0)
    centre = CANVAS / 2 + rng.uniform(-room, room)
    return np.column_stack([linear, centre - linear @ [0.5, 0.5]])


def _bend(rng: np.random.Generator, stroke: Stroke, style: PenStyle, gap: bool) -> np.ndarray:
    """The stroke resampled evenly along its length and bent by a smooth random curve: a hand is no plotter.
    With `gap`, each end stops a little short: strokes that do not quite meet."""
    points = np.array(stroke)
    length = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(points, axis=0).T))])
    first, last = rng.uniform(*GAP_RANGE, size=2) if gap else (0.0, 0.0)
    along = np.linspace(first, 1.0 - last, 48)
    dense = np.column_stack([np.interp(along * length[-1], length, points[:, axis]) for axis in (0, 1)])
    waves = np.sin(np.pi * np.outer(along, [1, 2, 3]) + rng.uniform(0, 2 * np.pi, 3))  # three gentle bends
    return dense + waves @ rng.normal(0.0, style.bend, size=(3, 2)) + rng.normal(0.0, TREMOR, size=dense.shape)


def _pen_digit(rng: np.random.Generator, digit: int, style: PenStyle) -> tuple[np.ndarray, float]:
    """A digit drawn with the mouse: bent, shifted template strokes and a random pen, on a black canvas; and its
    stroke weight (pen width over the digit's height)."""
    ways = [way for way in style.ways if way < len(PEN_DIGITS[digit])]
    strokes = PEN_DIGITS[digit][ways[rng.integers(len(ways))]]
    height = rng.uniform(*HEIGHT_RANGE)
    pen = float(np.clip(rng.uniform(*WEIGHT_RANGE) * height, *PEN_RANGE))
    gap = rng.random() < GAP_SHARE
    margin = pen / 2 + 3 * style.bend * height + 4  # the pen's radius and the bends
    affine = _transform(rng, height, rng.uniform(0.55, 0.8), margin=margin)
    drawn_height = float(np.abs(affine[1, :2]).sum())  # after any shrinking to fit the canvas
    affine, pen = affine * SUPERSAMPLE, pen * SUPERSAMPLE
    proportions = np.exp(rng.uniform(-style.proportion, style.proportion, size=2))  # x**p, y**p: a bigger top, ...
    image = Image.new("L", (CANVAS * SUPERSAMPLE,) * 2, 0)
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        points = np.clip(_bend(rng, stroke, style, gap), 0, 1) ** proportions + rng.normal(0.0, 0.02, size=2)
        xy = [tuple(affine @ (x, y, 1.0)) for x, y in points]  # each stroke lands a bit off
        draw.line(xy, fill=255, width=round(pen), joint="curve")
        for x, y in (xy[0], xy[-1]):  # round pen caps
            draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=255)
    return np.asarray(image.resize((CANVAS, CANVAS), Image.Resampling.BOX)), pen / SUPERSAMPLE / drawn_height


def _lean(ink: np.ndarray) -> float:
    """How far a glyph leans right: the shear -mu11/mu02 of its ink (rows grow downwards)."""
    rows, cols = np.indices(ink.shape) - np.array(ndimage.center_of_mass(ink))[:, None, None]
    return float(-(ink * rows * cols).sum() / (ink * rows**2).sum())


def _font_digit(rng: np.random.Generator, digit: int, font_path: Path) -> tuple[np.ndarray, float]:
    """A digit typeset in a handwriting font, then slanted, rotated, placed, and re-weighted on a black canvas;
    and its stroke weight (stroke width over the digit's height)."""
    font = ImageFont.truetype(str(font_path), 200 * SUPERSAMPLE)
    glyph = Image.new("L", (400 * SUPERSAMPLE,) * 2, 0)
    ImageDraw.Draw(glyph).text((50 * SUPERSAMPLE,) * 2, str(digit), font=font, fill=255)
    glyph = glyph.crop(glyph.getbbox())
    height, weight = rng.uniform(*HEIGHT_RANGE), rng.uniform(*WEIGHT_RANGE)
    aspect = glyph.width / glyph.height * rng.uniform(0.85, 1.15)
    to_unit_box = np.diag([1 / glyph.width, 1 / glyph.height, 1])
    lean = _lean(np.asarray(glyph, dtype=np.float64))  # the drawn slant replaces the font's own
    affine = _transform(rng, height, aspect, lean, margin=weight * height / 2 + 6) @ to_unit_box
    inverse = np.linalg.inv(np.vstack([affine, [0, 0, 1]]))[:2].ravel()
    placed = glyph.transform((CANVAS, CANVAS), Image.Transform.AFFINE, tuple(inverse), Image.Resampling.BILINEAR)
    ink = np.asarray(placed) > 127
    drawn_height = float(np.ptp(np.flatnonzero(ink.any(axis=1)))) + 1 if ink.any() else height
    return _reweight(ink, weight * drawn_height), weight


def _reweight(ink: np.ndarray, target_width: float) -> np.ndarray:
    """Thicken or thin a binary glyph towards a stroke width in pixels; anti-aliased uint8 out."""
    depth = ndimage.distance_transform_edt(ink)
    width = 2.0 * float(np.percentile(depth[ink], 90))  # a stroke's width is twice its deepest points' depth
    change = (target_width - width) / 2
    if change > 0:
        ink = ndimage.distance_transform_edt(~ink) <= change
    elif change < 0:
        ink = depth > min(-change, 0.25 * width)  # never thin a font's hairlines away
    soft = Image.fromarray((ink * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.8))
    return np.asarray(soft)


@dataclass(frozen=True)
class HandStyleSet:
    """A hand-style set as the model sees it, with what made each digit."""

    images: np.ndarray  # (n, 28, 28) float32 in [0, 1]
    labels: np.ndarray  # (n,) int64
    weights: np.ndarray  # (n,) stroke width over the digit's height, as drawn
    sources: np.ndarray  # (n,) str: the font's file name, or "pen"

    @property
    def widths(self) -> np.ndarray:
        """The drawn stroke width on the model's 28x28 image (the digit's longer side is 20 pixels), pixels."""
        return self.weights * 20.0

    def bucket(self, name: str) -> np.ndarray:
        """A mask of the digits in one of WEIGHT_BUCKETS."""
        low, high = WEIGHT_BUCKETS[name]
        return (self.widths >= low) & (self.widths < high)


SPLIT_SEEDS = {"tuning": 0, "held-out": 1_000_003}  # the sets never share a random stream


def hand_style_set(
    split: str = "tuning", count_per_digit: int = 60, seed: int = 0, preprocess: Preprocess = grayscale_to_mnist
) -> HandStyleSet:
    """One split's digits, `count_per_digit` of each, read by `preprocess` (each 280x280 uint8 canvas -> the
    model's image: pass another to compare preprocessing); same split and seed, same set."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    rng = np.random.default_rng([SPLIT_SEEDS[split], seed])
    fonts, style = fonts_found(split=split), PEN_STYLES[split]
    images, labels, weights, sources = [], [], [], []
    for index in range(count_per_digit):
        for digit in range(10):
            if fonts and index % 2 == 0:
                font = fonts[rng.integers(len(fonts))]
                gray, weight = _font_digit(rng, digit, font)
                sources.append(font.name)
            else:
                gray, weight = _pen_digit(rng, digit, style)
                sources.append("pen")
            image = preprocess(gray)
            if image is None:
                raise RuntimeError(f"a blank hand-style {digit} ({split}, seed {seed}, index {index})")
            images.append(image)
            labels.append(digit)
            weights.append(weight)
    return HandStyleSet(np.stack(images), np.array(labels, dtype=np.int64), np.array(weights), np.array(sources))


def hand_style_digits(
    count_per_digit: int = 60, seed: int = 0, preprocess: Preprocess = grayscale_to_mnist, split: str = "tuning"
) -> tuple[np.ndarray, np.ndarray]:
    """(n, 28, 28) float32 images in [0, 1] as the model sees them, and their int64 labels (see `hand_style_set`)."""
    made = hand_style_set(split, count_per_digit, seed, preprocess)
    return made.images, made.labels


def contact_sheet(images: np.ndarray, labels: np.ndarray, columns: int = 24, zoom: int = 3) -> Image.Image:
    """One row per digit, the first `columns` images of each, enlarged `zoom` times with a 1-pixel grey grid."""
    cell = 28 * zoom + 1
    sheet = Image.new("L", (columns * cell + 1, 10 * cell + 1), 96)
    for digit in range(10):
        for column, image in enumerate(images[labels == digit][:columns]):
            tile = Image.fromarray((image * 255).astype(np.uint8)).resize((28 * zoom,) * 2, Image.Resampling.NEAREST)
            sheet.paste(tile, (column * cell + 1, digit * cell + 1))
    return sheet


if __name__ == "__main__":
    prefix = sys.argv[1] if len(sys.argv) > 1 else "hand_style"
    for name in SPLITS:
        made = hand_style_set(name)
        contact_sheet(made.images, made.labels).save(f"{prefix}-{name}.png")
        print(
            f"{name}: {len(made.labels)} digits from {len(fonts_found(split=name))} fonts and pen strokes; "
            f"sheet written to {prefix}-{name}.png"
        )
