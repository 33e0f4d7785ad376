"""The reference side of `./dev bench images`: libvips making the same four variants.

For each image in a folder it reads the file once, then makes each variant with
`thumbnail_buffer` (shrink-on-load, as libvips is meant to be used) bounded on the longest
side, without upscaling, written as JPEG at quality 80 with metadata stripped (4:2:0 chroma,
libvips's default below quality 90). Run with VIPS_CONCURRENCY=1. Prints one JSON line per
image ({"file", "seconds"}) and a last line with the process's peak memory.
"""

import json
import pathlib
import resource
import sys
import time

import pyvips

SIZES = {"thumb": 150, "small": 320, "medium": 800, "large": 1600}


def main(folder, out):
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(pathlib.Path(folder).iterdir()):
        if path.suffix.lower() not in {".jpg", ".jpeg", ".png", ".webp"}:
            continue
        data = path.read_bytes()
        started = time.perf_counter()
        outputs = {}
        for name, bound in SIZES.items():
            image = pyvips.Image.thumbnail_buffer(data, bound, height=bound, size="down")
            if image.hasalpha():
                outputs[name] = image.write_to_buffer(".png", strip=True)
            else:
                outputs[name] = image.write_to_buffer(".jpg", Q=80, strip=True)
        seconds = time.perf_counter() - started
        for name, encoded in outputs.items():
            (out / f"{path.stem}.{name}").write_bytes(encoded)
        print(json.dumps({"file": path.name, "seconds": seconds}), flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"peak_bytes": peak}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
