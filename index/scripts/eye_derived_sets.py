#!/usr/bin/env python3
"""Builds derived eye-image sets from real ones, to check the eye encoder on other frame
sizes, iris scales, positions, noise and blur.

    python3 index/scripts/eye_derived_sets.py DATA MANIFEST OUT [VARIANT…]

DATA is the image folder, MANIFEST its `path,person,eye,sample` list (the rows to use), OUT
the folder written: `OUT/VARIANT/<path as in MANIFEST, .png>` and `OUT/VARIANT.csv` (the
manifest of that variant, paths relative to OUT). Variants (all by default):

* `up640`   scaled by 2 (Lanczos) and centre-cropped or padded (edge rows) to 640×480;
* `down07`  scaled by 0.7 (bilinear);
* `shift`   scaled by 1.5 (bilinear) and placed at the top-left (CASIA-IrisV1) or
            bottom-right of a 640×480 frame filled with the image's median grey, so the
            eye lies off the frame's centre;
* `noise`   Gaussian sensor noise of 8 grey levels (seeded by the path);
* `blur`    Gaussian blur of radius 1.5 px.

Needs Pillow. The output is test data: keep it outside the repository.
"""

import csv
import random
import sys
import zlib
from pathlib import Path

from PIL import Image, ImageFilter


def fit(img, w, h):
    """Centre-crops or pads (repeating the edge rows and columns) to w×h."""
    out = Image.new("L", (w, h))
    x0 = (w - img.width) // 2
    y0 = (h - img.height) // 2
    out.paste(img, (x0, y0))
    if y0 > 0:
        top = img.crop((0, 0, img.width, 1)).resize((img.width, y0))
        bottom = img.crop((0, img.height - 1, img.width, img.height))
        bottom = bottom.resize((img.width, h - y0 - img.height))
        out.paste(top, (x0, 0))
        out.paste(bottom, (x0, y0 + img.height))
    if x0 > 0:
        left = out.crop((x0, 0, x0 + 1, h)).resize((x0, h))
        right = out.crop((x0 + img.width - 1, 0, x0 + img.width, h))
        right = right.resize((w - x0 - img.width, h))
        out.paste(left, (0, 0))
        out.paste(right, (x0 + img.width, 0))
    return out


def median(img):
    hist = img.histogram()
    half, seen = img.width * img.height / 2, 0
    for level, n in enumerate(hist):
        seen += n
        if seen >= half:
            return level
    return 128


def derive(variant, img, path):
    w, h = img.size
    if variant == "up640":
        return fit(img.resize((2 * w, 2 * h), Image.LANCZOS), 640, 480)
    if variant == "down07":
        return img.resize((round(0.7 * w), round(0.7 * h)), Image.BILINEAR)
    if variant == "shift":
        big = img.resize((round(1.5 * w), round(1.5 * h)), Image.BILINEAR)
        frame = Image.new("L", (640, 480), median(img))
        at = (0, 0) if path.startswith("casia") else (640 - big.width, 480 - big.height)
        frame.paste(big, at)
        return frame
    if variant == "noise":
        rng = random.Random(zlib.crc32(path.encode()))
        data = [min(255, max(0, round(v + rng.gauss(0.0, 8.0)))) for v in img.getdata()]
        out = Image.new("L", img.size)
        out.putdata(data)
        return out
    if variant == "blur":
        return img.filter(ImageFilter.GaussianBlur(1.5))
    raise SystemExit(f"unknown variant {variant}")


def main():
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    data, manifest, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    variants = sys.argv[4:] or ["up640", "down07", "shift", "noise", "blur"]
    with open(manifest, newline="") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], [r for r in rows[1:] if r]
    for variant in variants:
        listed = [header]
        for row in rows:
            img = Image.open(data / row[0]).convert("L")
            rel = Path(variant) / Path(row[0]).with_suffix(".png")
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            derive(variant, img, row[0]).save(out / rel)
            listed.append([str(rel)] + row[1:])
        with open(out / f"{variant}.csv", "w", newline="") as f:
            csv.writer(f).writerows(listed)
        print(f"{variant}: {len(rows)} images")


if __name__ == "__main__":
    main()
