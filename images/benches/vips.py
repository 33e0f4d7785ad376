"""The reference side of `./dev bench images`: libvips making the same variants.

`vips.py CHAIN DIR OUT WEBP_QUALITY AVIF_QUALITY AVIF_SPEED`, with CHAIN one of:

- `one-decode`: what a libvips expert writes for a chain of sizes. The file is decoded once,
  with shrink-on-load (`thumbnail_buffer` to the largest size: libjpeg's DCT scaling, libwebp's
  scaled decode), kept in memory, and each smaller size is made from the one before
  (`thumbnail_image`). Each size is written as JPEG at quality 80 (4:2:0, libvips's default
  below 90) or PNG with transparency, as WebP at the quality the service uses, and, when
  opaque, as AVIF (libheif with libaom, 4:2:0) at the service's quality and speed (libvips's
  effort is 9 minus libaom's speed), metadata stripped: the same work the service does.
- `four-decode`: four independent `thumbnail_buffer` calls, one per size, JPEG/PNG only (the
  weaker reference: it decodes four times).

Run with VIPS_CONCURRENCY=1. Prints one JSON line per image ({"file", "seconds", "cpu",
"cpu_ready"}: wall and CPU seconds of the process, all its threads, and the CPU seconds without
the AVIF encodes, which the service makes after a photo is ready) and a last line with its peak
memory.
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


def one_decode(data, quality):
    """The variants, and the CPU seconds their AVIF encodes took."""
    outputs = {}
    avif_cpu = 0.0
    current = None
    for name, bound in SIZES:
        if current is None:
            current = pyvips.Image.thumbnail_buffer(data, bound, height=bound, size="down")
            current = current.copy_memory()
        else:
            current = current.thumbnail_image(bound, height=bound, size="down").copy_memory()
        outputs[name] = encode(current)
        outputs[name + ".webp"] = current.write_to_buffer(".webp", Q=quality["webp"], strip=True)
        if not current.hasalpha():
            started = time.process_time()
            outputs[name + ".avif"] = current.write_to_buffer(
                ".avif",
                Q=quality["avif"],
                effort=9 - quality["avif_speed"],
                subsample_mode="on",
                strip=True,
            )
            avif_cpu += time.process_time() - started
    return outputs, avif_cpu


def four_decode(data, _quality):
    outputs = {}
    for name, bound in SIZES:
        image = pyvips.Image.thumbnail_buffer(data, bound, height=bound, size="down")
        outputs[name] = encode(image)
    return outputs, 0.0


def main(chain, folder, out, quality):
    make = {"one-decode": one_decode, "four-decode": four_decode}[chain]
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(pathlib.Path(folder).iterdir()):
        if path.suffix.lower() not in {".jpg", ".jpeg", ".png", ".webp"}:
            continue
        data = path.read_bytes()
        started, cpu = time.perf_counter(), time.process_time()
        outputs, avif_cpu = make(data, quality)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        for name, encoded in outputs.items():
            (out / f"{path.stem}.{name}").write_bytes(encoded)
        timing = {"file": path.name, "seconds": seconds, "cpu": cpu, "cpu_ready": cpu - avif_cpu}
        print(json.dumps(timing), flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"peak_bytes": peak}), flush=True)


if __name__ == "__main__":
    main(
        sys.argv[1],
        sys.argv[2],
        sys.argv[3],
        {
            "webp": round(float(sys.argv[4])),
            "avif": int(sys.argv[5]),
            "avif_speed": int(sys.argv[6]),
        },
    )
