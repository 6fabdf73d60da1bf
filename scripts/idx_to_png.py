#!/usr/bin/env python3
"""Write images of an IDX file (MNIST / Fashion-MNIST, gzipped or not) as grayscale PNGs.

    idx_to_png.py IMAGES LABELS OUT_DIR --first N            the first N images
    idx_to_png.py IMAGES LABELS OUT_DIR --per-class N         the first N images of each class
    [--names labels.txt]  name files {index:05d}_{class name}.png instead of {index:05d}_{label}.png

Standard library only (gzip, struct, zlib), so it runs anywhere Python 3 does.
"""
import argparse, gzip, os, struct, zlib


def read(path):
    with open(path, "rb") as f:
        b = f.read()
    return gzip.decompress(b) if b[:2] == b"\x1f\x8b" else b


def png(w, h, rows):
    def chunk(t, d):
        c = struct.pack(">I", len(d)) + t + d
        return c + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("images"); ap.add_argument("labels"); ap.add_argument("out")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--first", type=int); g.add_argument("--per-class", type=int)
    ap.add_argument("--names")
    a = ap.parse_args()
    im, lb = read(a.images), read(a.labels)
    magic, n, rows, cols = struct.unpack(">IIII", im[:16])
    assert magic == 0x803 and struct.unpack(">II", lb[:8]) == (0x801, n), "not a matching IDX pair"
    names = [l.strip() for l in open(a.names)] if a.names else None
    os.makedirs(a.out, exist_ok=True)
    count = {}
    for i in range(n):
        y = lb[8 + i]
        if a.first is not None and i >= a.first:
            break
        if a.per_class is not None:
            if count.get(y, 0) >= a.per_class:
                continue
            count[y] = count.get(y, 0) + 1
        px = im[16 + i * rows * cols: 16 + (i + 1) * rows * cols]
        tag = names[y].replace("/", "-").replace(" ", "_") if names else str(y)
        with open(os.path.join(a.out, f"{i:05d}_{tag}.png"), "wb") as f:
            f.write(png(cols, rows, [px[r * cols:(r + 1) * cols] for r in range(rows)]))


if __name__ == "__main__":
    main()
