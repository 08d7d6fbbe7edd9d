#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/corpus/<target>/ (or --out DIR).

Synthetic seeds are always written: ISO 19794-2 and ANSI 378 records (with and without
extended data, several views, the 6-byte ANSI length form) and enrolment, identify and verify
request bodies that pass validation or fail at one chosen field. The repository's hostile
request corpus is copied in, and so are the records of ../shared/datasets/iso-edge-cases/ and
a few FVC 2002 ISO templates (also wrapped into request bodies) when that directory exists.
fuzz/corpus/ is git-ignored. fuzz/seeds/ is committed: it is this script's output with
--out fuzz/seeds --no-shared (synthetic seeds only, no real data), which CI fuzzes from.

Usage: python3 fuzz/seeds.py [--out DIR] [--no-shared] [--fvc N]
       (N real FVC templates per database, default 4)
"""

import base64
import contextlib
import io
import json
import os
import random
import shutil
import struct
import sys
import tempfile

FUZZ = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(FUZZ)
SHARED = os.path.join(os.path.dirname(REPO), "shared", "datasets")
TARGETS = ["iso_decode", "ansi_decode", "detect", "enrolment_json"]
IMAGE_TARGETS = [
    "image_wsq", "image_png", "image_jpeg", "image_tiff", "image_jp2", "image_iso19794_4",
    "image_iso19794_6", "image_bmp",
]
# make_fixtures.py writes the synthetic images the image seeds start from (NBIS WSQ, OpenJPEG
# and libjpeg through the `wsq` Python package and Pillow).
FIXTURE_SCRIPT_DIR = os.path.join(REPO, "index", "tests", "fixtures", "images")


def minutiae(rng, n, width, height, ansi):
    out = b""
    for _ in range(n):
        kind = rng.choice([0, 1, 2])
        x = rng.randrange(width)
        y = rng.randrange(height)
        angle = rng.randrange(180 if ansi else 256)
        out += struct.pack(">HHBB", (kind << 14) | x, y, angle, rng.randrange(101))
    return out


def extended(rng, n_minutiae, ansi):
    """A ridge-count block, a core/delta block and a vendor block."""
    counts = bytes([1]) + b"".join(
        bytes([rng.randrange(n_minutiae), rng.randrange(n_minutiae), rng.randrange(20)])
        for _ in range(3)
    )
    ridge = struct.pack(">HH", 0x0001, 4 + len(counts)) + counts
    if ansi:
        # ANSI: count byte (4 bits) then x/y (2 bytes each) and an angle per core.
        core = bytes([0x01]) + struct.pack(">HHB", 120, 200, 30)
        delta = bytes([0x01]) + struct.pack(">HHBBB", 200, 300, 10, 20, 30)
    else:
        # ISO: info type in the top bits of x, angle byte when the type says so.
        core = bytes([0x41]) + struct.pack(">HHB", (1 << 14) | 120, 200, 30)
        delta = bytes([0x41]) + struct.pack(">HHBBB", (1 << 14) | 200, 300, 10, 20, 30)
    cd_body = core + delta
    core_delta = struct.pack(">HH", 0x0002, 4 + len(cd_body)) + cd_body
    vendor = struct.pack(">HH", 0x0100, 8) + b"vend"
    area = ridge + core_delta + vendor
    return struct.pack(">H", len(area)) + area


def views(rng, n_views, n_minutiae, width, height, ansi, ext, first=1):
    out = b""
    for v in range(n_views):
        out += bytes([(first - 1 + v) % 10 + 1, (v // 10) << 4, 80, n_minutiae])
        out += minutiae(rng, n_minutiae, width, height, ansi)
        out += extended(rng, max(n_minutiae, 1), ansi) if ext else b"\0\0"
    return out


def iso_record(rng, n_views=1, n_minutiae=20, ext=False, first=1):
    width, height = 400, 500
    body = struct.pack(">HHHHHBB", 0, width, height, 197, 197, n_views, 0)
    body += views(rng, n_views, n_minutiae, width, height, False, ext, first)
    total = 12 + len(body)
    return b"FMR\0 20\0" + struct.pack(">I", total) + body


def ansi_record(rng, n_views=1, n_minutiae=20, ext=False, long_form=False, first=1):
    width, height = 400, 500
    body = struct.pack(">HHHHHHHBB", 0x0033, 0x0001, 0, width, height, 197, 197, n_views, 0)
    body += views(rng, n_views, n_minutiae, width, height, True, ext, first)
    if long_form:
        return b"FMR\0 20\0" + struct.pack(">HI", 0, 14 + len(body)) + body
    return b"FMR\0 20\0" + struct.pack(">H", 10 + len(body)) + body


def b64(data):
    return base64.b64encode(data).decode()


def iris(eye, rng):
    code = bytes(rng.randrange(256) for _ in range(256))
    mask = bytes([0xFF] * 256)
    return {"eye": eye, "layout": "daugman-2048", "code": b64(code), "mask": b64(mask)}


def finger(position, template, fmt="iso19794-2"):
    return {"position": position, "format": fmt, "quality": 80, "template": b64(template)}


def enrolment(fingers, irises, **over):
    body = {
        "request_id": "req-0001",
        "nik": "3171014508900001",
        "name": "Siti Rahayu",
        "sex": "female",
        "date_of_birth": "1990-08-05",
        "district": "317101",
        "service_point": "sp-1",
        "citizenship": "WNI",
        "fingerprints": fingers,
        "irises": irises,
    }
    body.update(over)
    return body


OUT = os.path.join(FUZZ, "corpus")


def grey_tiff(width, height, pixels):
    """A minimal little-endian uncompressed 8-bit grey TIFF with one strip."""
    entries = [
        (256, 3, 1, width), (257, 3, 1, height), (258, 3, 1, 8), (259, 3, 1, 1),
        (262, 3, 1, 1), (273, 4, 1, 8), (277, 3, 1, 1), (278, 3, 1, height),
        (279, 4, 1, len(pixels)),
    ]
    ifd_offset = 8 + len(pixels)
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        packed = struct.pack("<H", value) + b"\0\0" if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, count) + packed
    ifd += struct.pack("<I", 0)
    return b"II*\0" + struct.pack("<I", ifd_offset) + pixels + ifd


def fir_2005(payload, width, height, compression, ppi=500):
    """An ISO/IEC 19794-4:2005 record with one finger view."""
    head = struct.pack(">4sHHBBHHHHBBH", b"\0\0\0\0", 0, 31, 1, 1, ppi, ppi, ppi, ppi, 8,
                       compression, 0)
    view = struct.pack(">IBBBBBHHB", 14 + len(payload), 1, 1, 1, 80, 0, width, height, 0)
    total = 14 + len(head) + len(view) + len(payload)
    return b"FIR\x00010\x00" + struct.pack(">Q", total)[2:] + head + view + payload


def fir_2011(payload, width, height, compression, ppcm=197):
    """An ISO/IEC 19794-4:2011 record with one representation."""
    rep = b"\0" * 9 + b"\0" + b"\0" * 4 + bytes([1, 66, 0, 0, 0, 0]) + bytes([7, 1, 2])
    rep += struct.pack(">HHHHBBBHH", ppcm, ppcm, ppcm, ppcm, 8, compression, 0, width, height)
    rep += payload
    rep = struct.pack(">I", 4 + len(rep)) + rep
    return b"FIR\x00020\x00" + struct.pack(">IHBB", 16 + len(rep), 1, 0, 1) + rep


def bmp_file(width, height, bits, palette, pixels, top_down=False):
    """A BMP with a BITMAPINFOHEADER; `pixels` row-major, top row first, bits // 8 bytes each."""
    stride = width * bits // 8
    rows = [pixels[y * stride:(y + 1) * stride] for y in range(height)]
    if not top_down:
        rows.reverse()
    pad = b"\0" * ((4 - stride % 4) % 4)
    data = b"".join(r + pad for r in rows)
    offset = 14 + 40 + 4 * len(palette)
    head = b"BM" + struct.pack("<IHHI", offset + len(data), 0, 0, offset)
    info = struct.pack("<IiiHHIIiiII", 40, width, -height if top_down else height, 1, bits, 0,
                       len(data), 2835, 2835, len(palette), 0)
    pal = b"".join(bytes([b, g, r, 0]) for (r, g, b) in palette)
    return head + info + pal + data


def iir_2011(images, eyes=1):
    """An ISO/IEC 19794-6:2011 record; each image is (eye, kind, format, width, height,
    depth, data)."""
    reps = b""
    for number, (eye, kind, fmt, width, height, depth, data) in enumerate(images, 1):
        rep = b"\0" * 14 + bytes([1, 80, 0, 0, 0, 0]) + struct.pack(">H", number)
        rep += bytes([eye, kind, fmt, 0x45]) + struct.pack(">HHB", width, height, depth)
        rep += struct.pack(">9H", 0, 0x4000, 0x0e39, width // 2 - 2, width // 2 + 2,
                           height // 2 - 2, height // 2 + 2, width // 3, width // 2)
        rep += struct.pack(">I", len(data)) + data
        reps += struct.pack(">I", 4 + len(rep)) + rep
    return b"IIR\x00020\x00" + struct.pack(">IHBB", 16 + len(reps), len(images), 0, eyes) + reps


def iir_2005(fmt, width, height, depth, eyes):
    """An ISO/IEC 19794-6:2005 record; `eyes` lists (position, [image data, ...])."""
    body = b""
    for position, images in eyes:
        body += struct.pack(">BH", position, len(images))
        for number, data in enumerate(images, 1):
            body += struct.pack(">HBHHI", number, 80, 0x2000, 0xFFFF, len(data)) + data
    head = struct.pack(">HBHHHHHHBB", 0, len(eyes), 45, 0x0005, 120, fmt, width, height, depth, 1)
    head += b"0" * 16
    return b"IIR\x00010\x00" + struct.pack(">I", 8 + 4 + len(head) + len(body)) + head + body


def encoded_fixtures():
    """The 97x131 synthetic fixtures written by make_fixtures.py into a temporary folder:
    {extension: bytes}, or None (with a message) when its Python modules are absent."""
    sys.path.insert(0, FIXTURE_SCRIPT_DIR)
    try:
        import make_fixtures
    except ImportError as e:
        print(f"image seeds from encoded fixtures left out: {e} (pip install wsq)",
              file=sys.stderr)
        return None
    with tempfile.TemporaryDirectory() as tmp:
        with contextlib.redirect_stdout(io.StringIO()):
            make_fixtures.main(tmp)
        base = os.path.join(tmp, "ridges_97x131_hq")
        out = {ext: open(base + ext, "rb").read()
               for ext in [".wsq", ".jp2", ".png", ".jpg", ".progressive.jpg"]}
        # Progressive streams of 64 scans (the cap) and 127 scans (refused), 64x48.
        for scans in (64, 127):
            out[f"scans-{scans}.jpg"] = open(
                os.path.join(tmp, f"scans_{scans}_64x48.jpg"), "rb").read()
        return out


def small_encoded():
    """32x24 grey images as JPEG 2000 (reversible, two and three resolution levels, 8x8 code
    blocks, a raw codestream), PNG and JPEG (baseline and progressive), through Pillow: small enough that libFuzzer's
    -max_len keeps them whole, so mutations reach tile and scanline decoding rather than only
    the headers (the 97x131 fixtures are about 10 KB). {name: bytes}, or {} without Pillow."""
    try:
        from PIL import Image
    except ImportError as e:
        print(f"small encoded image seeds left out: {e}", file=sys.stderr)
        return {}
    image = Image.new("L", (32, 24))
    image.putdata([(x * 7 + y * 13 + (x * y) % 11) % 256 for y in range(24) for x in range(32)])
    out = {}
    for name, options in [("small.jp2", dict(irreversible=False, num_resolutions=2)),
                          ("small-cb8.jp2", dict(irreversible=False, num_resolutions=3,
                                                 codeblock_size=(8, 8))),
                          ("small.j2k", dict(irreversible=False, no_jp2=True)),
                          ("small.png", None),
                          ("small.jpg", dict(quality=90)),
                          ("small-progressive.jpg", dict(quality=75, progressive=True))]:
        buffer = io.BytesIO()
        try:
            if options is None:
                image.save(buffer, "PNG")
            elif name.endswith(".jpg"):
                image.save(buffer, "JPEG", **options)
            else:
                image.save(buffer, "JPEG2000", **options)
        except (OSError, KeyError) as e:
            print(f"small seed {name} left out: {e}", file=sys.stderr)
            continue
        out[name] = buffer.getvalue()
    return out


def image_seeds():
    """Small synthetic images (the 97x131 fixtures) and records wrapping them."""
    for t in IMAGE_TARGETS:
        os.makedirs(os.path.join(OUT, t), exist_ok=True)
    encoded = encoded_fixtures()
    if encoded is not None:
        wsq, jp2, png = encoded[".wsq"], encoded[".jp2"], encoded[".png"]
        write("image_wsq", "ridges.wsq", wsq)
        write("image_jp2", "ridges.jp2", jp2)
        write("image_png", "ridges.png", png)
        write("image_jpeg", "ridges.jpg", encoded[".jpg"])
        write("image_jpeg", "ridges-progressive.jpg", encoded[".progressive.jpg"])
        write("image_jpeg", "scans-64.jpg", encoded["scans-64.jpg"])
        write("image_jpeg", "scans-127.jpg", encoded["scans-127.jpg"])
        write("image_iso19794_4", "wsq-2005.fir", fir_2005(wsq, 97, 131, 2))
        write("image_iso19794_4", "png-2005.fir", fir_2005(png, 97, 131, 5))
        write("image_iso19794_4", "jp2-2011.fir", fir_2011(jp2, 97, 131, 5))
        write("image_iso19794_6", "png-k3-jp2-k7-2011.iir",
              iir_2011([(2, 3, 14, 97, 131, 8, png), (2, 7, 10, 97, 131, 8, jp2)]))
        write("image_iso19794_6", "jp2-2005.iir", iir_2005(14, 97, 131, 8, [(2, [jp2])]))
    small = small_encoded()
    for name, data in small.items():
        kind = {".png": "image_png", ".jpg": "image_jpeg"}.get(name[-4:], "image_jp2")
        write(kind, name, data)
    if "small.png" in small:
        png = small["small.png"]
        write("image_iso19794_4", "small-png-2005.fir", fir_2005(png, 32, 24, 5))
        write("image_iso19794_6", "small-png-2011.iir", iir_2011([(1, 2, 14, 32, 24, 8, png)]))
    if "small.jp2" in small:
        jp2 = small["small.jp2"]
        write("image_iso19794_4", "small-jp2-2011.fir", fir_2011(jp2, 32, 24, 5))
        write("image_iso19794_6", "small-jp2-2005.iir", iir_2005(14, 32, 24, 8, [(2, [jp2])]))
    pixels = bytes((x * 7 + y * 3) % 256 for y in range(24) for x in range(32))
    write("image_tiff", "grey-32x24.tif", grey_tiff(32, 24, pixels))
    write("image_iso19794_4", "raw-2005.fir", fir_2005(pixels, 32, 24, 0))
    write("image_iso19794_4", "raw-2011.fir", fir_2011(pixels, 32, 24, 0))
    write("image_iso19794_6", "raw-k2-2011.iir", iir_2011([(1, 2, 2, 32, 24, 8, pixels)]))
    rgb = bytes(v for p in pixels[:16 * 8] for v in (p, p, p))
    write("image_iso19794_6", "polar-rgb-2011.iir",
          iir_2011([(0, 0x10, 2, 32, 24, 8, pixels), (1, 3, 4, 16, 8, 24, rgb)], eyes=2))
    write("image_iso19794_6", "raw-2005.iir", iir_2005(2, 32, 24, 8, [(1, [pixels, pixels])]))
    grey = [(v, v, v) for v in range(256)]
    write("image_bmp", "grey8.bmp", bmp_file(32, 24, 8, grey, pixels))
    write("image_bmp", "grey8-top-down.bmp", bmp_file(31, 5, 8, grey, pixels[:31 * 5], True))
    write("image_bmp", "colour24.bmp", bmp_file(16, 8, 24, [], rgb))
    write("image_bmp", "palette4.bmp",
          bmp_file(8, 6, 8, [(0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255)],
                   bytes(i % 4 for i in range(48))))


def write(target, name, data):
    path = os.path.join(OUT, target, name)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else json.dumps(data).encode())


def main():
    global OUT
    n_fvc = 4
    if "--fvc" in sys.argv:
        n_fvc = int(sys.argv[sys.argv.index("--fvc") + 1])
    if "--out" in sys.argv:
        OUT = os.path.abspath(sys.argv[sys.argv.index("--out") + 1])
    shared = SHARED if "--no-shared" not in sys.argv else os.path.join(FUZZ, "no-shared-data")
    rng = random.Random(19794)
    for t in TARGETS:
        os.makedirs(os.path.join(OUT, t), exist_ok=True)

    isos = [
        iso_record(rng, 1, 0),
        iso_record(rng, 1, 12),
        iso_record(rng, 1, 40, ext=True),
        iso_record(rng, 3, 8, ext=True),
        iso_record(rng, 12, 2),
    ]
    ansis = [
        ansi_record(rng, 1, 0),
        ansi_record(rng, 1, 12),
        ansi_record(rng, 1, 40, ext=True),
        ansi_record(rng, 2, 8, ext=True, long_form=True),
    ]
    for i, rec in enumerate(isos):
        write("iso_decode", f"synthetic-{i}.iso-record", rec)
        write("detect", f"synthetic-{i}.iso-record", rec)
    for i, rec in enumerate(ansis):
        write("ansi_decode", f"synthetic-{i}.ansi", rec)
        write("detect", f"synthetic-{i}.ansi", rec)

    real = []
    edge = os.path.join(shared, "iso-edge-cases")
    if os.path.isdir(edge):
        for name in sorted(os.listdir(edge)):
            data = open(os.path.join(edge, name), "rb").read()
            for t in ["iso_decode", "ansi_decode", "detect"]:
                write(t, "edge-" + name, data)
    for db in range(1, 5):
        d = os.path.join(shared, "fvc2002-iso", f"DB{db}_B")
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d))[:n_fvc]:
            data = open(os.path.join(d, name), "rb").read()
            real.append(data)
            for t in ["iso_decode", "detect"]:
                write(t, f"fvc-DB{db}-{name}", data)

    hostile = os.path.join(REPO, "tests", "corpus", "hostile")
    for name in sorted(os.listdir(hostile)):
        if name != "README.md":
            dest = os.path.join(OUT, "enrolment_json", "hostile-" + name)
            shutil.copy(os.path.join(hostile, name), dest)

    small = iso_record(rng, 1, 6)
    ten = [finger(p, iso_record(rng, 1, 10, first=p)) for p in range(1, 11)]
    bodies = {
        "enrol-valid-ten": enrolment(ten, [iris("left", rng), iris("right", rng)]),
        "enrol-valid-ansi": enrolment(
            [finger(p, ansi_record(rng, 1, 6, first=p), "ansi378") for p in range(1, 11)], []
        ),
        "enrol-one-finger": enrolment([finger(1, small)], [iris("left", rng)]),
        "enrol-wna": enrolment(
            ten, [], citizenship="WNA", passport_number="A1234567", kitap_number="2C11AB123456"
        ),
        "enrol-attachments": enrolment(
            [finger(1, small)], [], photo=b64(b"\xff\xd8\xff\xe0photo"), signature=b64(b"sig"),
            callback_url="https://example.org/cb",
        ),
        "enrol-bad-nik": enrolment([finger(1, small)], [], nik="3171016508900001"),
        "enrol-dup-position": enrolment([finger(1, small), finger(1, small)], []),
        "identify": {"request_id": "id-1", "fingerprints": [finger(1, small)], "irises": [iris("right", rng)], "max_candidates": 5},
        "identify-iris-only": {"request_id": "id-2", "irises": [iris("left", rng)]},
        "verify": {"request_id": "v-1", "reference_id": "ref-1", "fingerprints": [finger(1, small)]},
        "verify-ansi": {"request_id": "v-2", "reference_id": "ref-2", "fingerprints": [finger(1, ansis[1], "ansi378")]},
    }
    for i, rec in enumerate(real[:4]):
        bodies[f"enrol-fvc-{i}"] = enrolment([finger(rec[24] or 1, rec)], [])
    for name, body in bodies.items():
        write("enrolment_json", name + ".json", body)

    image_seeds()
    for t in TARGETS + IMAGE_TARGETS:
        n = len(os.listdir(os.path.join(OUT, t)))
        print(f"{t}: {n} seeds")


if __name__ == "__main__":
    main()
