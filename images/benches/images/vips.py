"""The reference side of `./dev bench images`: libvips making the same files.

`vips.py DIR OUT QUALITIES`, QUALITIES a JSON file of each photo's qualities as the service
chose them ({"name.jpg": {"jpeg": 74, "webp": 80, "avif": 62}}; `jpeg` and `avif` null for a
transparent photo).

What a libvips expert writes for a chain of sizes: the file is decoded once, with
shrink-on-load (`thumbnail_buffer` to the largest size: libjpeg's DCT scaling, libwebp's
scaled decode), kept in memory, and each smaller size is made from the one before
(`thumbnail_image`). Each size is written as JPEG (4:2:0, Huffman tables optimized, as the
service writes it) or PNG with transparency, as WebP at the photo's quality, and, when
opaque, as AVIF (libheif with libaom, 4:2:0; libvips's effort is 9 minus libaom's speed 7),
metadata stripped: the same files the service makes.

Run with VIPS_CONCURRENCY=1. Prints one JSON line per image ({"file", "seconds", "cpu",
"cpu_ready"}: wall and CPU seconds of the process, all its threads, and the CPU seconds without
the AVIF encodes, which the service makes after a photo is ready).
"""

import json
import pathlib
import sys
import time

import pyvips

SIZES = [("large", 1600), ("medium", 800), ("small", 320), ("thumb", 150)]
AVIF_EFFORT = 9 - 7


def chain(data, quality):
    """The files of one photo, and the CPU seconds their AVIF encodes took."""
    outputs = {}
    avif_cpu = 0.0
    current = None
    for name, bound in SIZES:
        if current is None:
            current = pyvips.Image.thumbnail_buffer(data, bound, height=bound, size="down")
        else:
            current = current.thumbnail_image(bound, height=bound, size="down")
        current = current.copy_memory()
        if quality["jpeg"] is None:  # transparent, as the service judged it
            outputs[name] = current.write_to_buffer(".png", strip=True)
        else:
            outputs[name] = current.write_to_buffer(
                ".jpg", Q=quality["jpeg"], optimize_coding=True, subsample_mode="on", strip=True
            )
        outputs[name + ".webp"] = current.write_to_buffer(".webp", Q=quality["webp"], strip=True)
        if quality["avif"] is not None:
            started = time.process_time()
            outputs[name + ".avif"] = current.write_to_buffer(
                ".avif", Q=quality["avif"], effort=AVIF_EFFORT, subsample_mode="on", strip=True
            )
            avif_cpu += time.process_time() - started
    return outputs, avif_cpu


def main(folder, out, qualities):
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    qualities = json.loads(pathlib.Path(qualities).read_text())
    for path in sorted(pathlib.Path(folder).iterdir()):
        if path.name not in qualities:
            continue
        data = path.read_bytes()
        started, cpu = time.perf_counter(), time.process_time()
        outputs, avif_cpu = chain(data, qualities[path.name])
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        for name, encoded in outputs.items():
            (out / f"{path.stem}.{name}").write_bytes(encoded)
        timing = {"file": path.name, "seconds": seconds, "cpu": cpu, "cpu_ready": cpu - avif_cpu}
        print(json.dumps(timing), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
