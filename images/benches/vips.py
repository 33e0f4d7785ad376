"""The reference side of `./dev bench images`: libvips making the same variants.

`vips.py CHAIN DIR OUT WEBP_QUALITY`, with CHAIN one of:

- `one-decode`: what a libvips expert writes for a chain of sizes. The file is decoded once,
  with shrink-on-load (`thumbnail_buffer` to the largest size: libjpeg's DCT scaling, libwebp's
  scaled decode), kept in memory, and each smaller size is made from the one before
  (`thumbnail_image`). Each size is written as JPEG at quality 80 (4:2:0, libvips's default
  below 90) or PNG with transparency, and as WebP at the quality the service uses, metadata
  stripped: the same work the service does.
- `four-decode`: four independent `thumbnail_buffer` calls, one per size, JPEG/PNG only (the
  weaker reference: it decodes four times).

Run with VIPS_CONCURRENCY=1. Prints one JSON line per image ({"file", "seconds"}) and a last
line with the process's peak memory.
"""

import json
import pathlib
import resource
import sys
import time

import pyvips

SIZES = [("large", 1600), ("medium", 800), ("small", 320), ("thumb", 150)]


def encode(image):
    if image.hasalpha():
        return image.write_to_buffer(".png", strip=True)
    return image.write_to_buffer(".jpg", Q=80, strip=True)


def one_decode(data, webp_quality):
    outputs = {}
    current = None
    for name, bound in SIZES:
        if current is None:
            current = pyvips.Image.thumbnail_buffer(data, bound, height=bound, size="down")
            current = current.copy_memory()
        else:
            current = current.thumbnail_image(bound, height=bound, size="down").copy_memory()
        outputs[name] = encode(current)
        outputs[name + ".webp"] = current.write_to_buffer(".webp", Q=webp_quality, strip=True)
    return outputs


def four_decode(data, _webp_quality):
    outputs = {}
    for name, bound in SIZES:
        image = pyvips.Image.thumbnail_buffer(data, bound, height=bound, size="down")
        outputs[name] = encode(image)
    return outputs


def main(chain, folder, out, webp_quality):
    make = {"one-decode": one_decode, "four-decode": four_decode}[chain]
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(pathlib.Path(folder).iterdir()):
        if path.suffix.lower() not in {".jpg", ".jpeg", ".png", ".webp"}:
            continue
        data = path.read_bytes()
        started = time.perf_counter()
        outputs = make(data, webp_quality)
        seconds = time.perf_counter() - started
        for name, encoded in outputs.items():
            (out / f"{path.stem}.{name}").write_bytes(encoded)
        print(json.dumps({"file": path.name, "seconds": seconds}), flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"peak_bytes": peak}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], round(float(sys.argv[4])))
