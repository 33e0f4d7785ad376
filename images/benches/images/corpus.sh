#!/usr/bin/env bash
# The photos for `./dev bench images`: `corpus.sh OUT_DIR` fills OUT_DIR with the images that
# corpus.list names, each as CATEGORY-PACKAGE-BASENAME, installing their Debian packages first.
#
# One desktop's wallpapers make a poor benchmark: clean, large, artist-made pictures, all alike.
# Sellers upload phone photos of objects, portraits, night shots, screenshots and cut-outs with
# transparency, from 800 px to 8K. The times mean something only on such a mix. The images stay
# in their packages, so the repository holds only the list, and each one is a real file that
# anyone can get again. A listed file that is missing is an error, not a smaller corpus. An
# OUT_DIR that already holds every file is left as it is.
set -euo pipefail

die() { printf 'corpus.sh: %s\n' "$*" >&2; exit 1; }
(($# == 1)) || die "usage: corpus.sh OUT_DIR"
out=$1
list="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/corpus.list"

packages=() sources=() names=()
while IFS=$'\t' read -r package path category; do
  [[ -z $package || $package == \#* ]] && continue
  [[ -n $path && -n $category ]] || die "$list: a line for $package lacks its path or category"
  base=$(basename "$path")  # a KDE wallpaper's files are named by size alone: prefix its name
  [[ $path == */contents/images/* ]] && base="$(basename "${path%/contents/images/*}")-$base"
  packages+=("$package") sources+=("$path") names+=("$category-$package-$base")
done <"$list"
duplicates=$(printf '%s\n' "${names[@]}" | sort | uniq -d)
[[ -z $duplicates ]] || die "$list names two files alike: $duplicates"

complete=true
for name in "${names[@]}"; do [[ -s $out/$name ]] || complete=false; done
if $complete; then
  echo "corpus.sh: $out already holds the ${#names[@]} images" >&2
  exit 0
fi

missing=()
for package in $(printf '%s\n' "${packages[@]}" | sort -u); do
  # `dpkg -s` alone also succeeds for a removed package whose configuration files remain
  dpkg -s "$package" 2>/dev/null | grep -qx 'Status: install ok installed' || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "corpus.sh: installing ${missing[*]} (apt)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for i in "${!sources[@]}"; do
  [[ -f ${sources[i]} ]] || die "${packages[i]} has no ${sources[i]}"
done
mkdir -p "$out"
for i in "${!sources[@]}"; do cp "${sources[i]}" "$out/${names[i]}"; done
echo "corpus.sh: ${#names[@]} images in $out" >&2
