// Photos as a catalog page shows them: a <picture> with AVIF and WebP sources and the JPEG or
// PNG <img> last, each with a srcset over the four variants and a `sizes` fitting where it is
// drawn; width and height on the <img> so nothing moves; and, until it loads, the ThumbHash
// placeholder (or the dominant colour) behind it.

import { h } from './dom.js';
import { thumbHashBytes, thumbHashToRGBA } from './thumbhash.js';

/** @typedef {import('./types.js').PhotoView} PhotoView */
/** @typedef {import('./types.js').VariantView} VariantView */

/** The variants, smallest first (longest side 150, 320, 800, 1600). */
export const VARIANTS = /** @type {const} */ (['thumb', 'small', 'medium', 'large']);
/** Lighter formats, most preferred first. */
const FORMATS = /** @type {const} */ (['image/avif', 'image/webp']);

/**
 * The photo's variants that exist, smallest first.
 * @param {PhotoView} photo
 * @returns {VariantView[]}
 */
function variantsOf(photo) {
  /** @type {VariantView[]} */
  const found = [];
  for (const name of VARIANTS) {
    const variant = photo.variants?.[name];
    if (variant?.url && variant.width > 0) found.push(variant);
  }
  return found;
}

/**
 * "url 150w, url 320w": one candidate per width (an original smaller than a bound gives two
 * variants of one width; the first is kept).
 * @param {Array<{url: string, width: number}>} candidates
 */
function srcsetOf(candidates) {
  const seen = new Set();
  const parts = [];
  for (const { url, width } of candidates) {
    if (seen.has(width)) continue;
    seen.add(width);
    parts.push(`${url} ${width}w`);
  }
  return parts.join(', ');
}

/**
 * The srcset of each content type for a photo: `photo.srcset` where the API gives it, else
 * built from the variants. A lighter format's srcset takes, for each size, that format where
 * the variant lists it, else the next lighter one (WebP for AVIF), else the variant's own file,
 * so a browser that picks the AVIF source still gets every size (it decodes by the bytes, not
 * the `type`). Types that no variant lists are left out.
 * @param {PhotoView} photo
 * @returns {{base: string, baseType: string, formats: Array<{type: string, srcset: string}>}}
 */
export function srcsets(photo) {
  const variants = variantsOf(photo);
  const baseType = variants[0]?.content_type ?? photo.content_type;
  const given = photo.srcset && typeof photo.srcset === 'object' ? photo.srcset : {};
  /** @param {string} type */
  const fromApi = (type) => {
    const value = given[type];
    return typeof value === 'string' && value.trim() ? value : null;
  };
  const base = fromApi(baseType) ?? srcsetOf(variants);
  const formats = [];
  for (const [index, type] of FORMATS.entries()) {
    const listed = fromApi(type);
    if (listed) {
      formats.push({ type, srcset: listed });
      continue;
    }
    if (!variants.some((v) => v.formats?.[type])) continue;
    const fallbacks = FORMATS.slice(index);
    formats.push({
      type,
      srcset: srcsetOf(variants.map((v) => {
        for (const candidate of fallbacks) {
          const format = v.formats?.[candidate];
          if (format?.url) return { url: format.url, width: /** @type {import('./types.js').FormatView} */ (format).width ?? v.width };
        }
        return v;
      })),
    });
  }
  return { base, baseType, formats };
}

/** thumbhash → data URL of its decoded image ('' when it cannot be drawn). */
const placeholderUrls = new Map();

/**
 * The data URL of a ThumbHash's image, drawn once per hash.
 * @param {string} thumbhash base64
 * @returns {string} '' when it cannot be decoded or drawn
 */
export function thumbHashDataUrl(thumbhash) {
  const cached = placeholderUrls.get(thumbhash);
  if (cached !== undefined) return cached;
  let url = '';
  try {
    const { w, h: height, rgba } = thumbHashToRGBA(thumbHashBytes(thumbhash));
    const canvas = document.createElement('canvas');
    canvas.width = w;
    canvas.height = height;
    const context = canvas.getContext('2d');
    if (context) {
      context.putImageData(new ImageData(new Uint8ClampedArray(rgba), w, height), 0, 0);
      url = canvas.toDataURL('image/png');
    }
  } catch {
    url = '';
  }
  placeholderUrls.set(thumbhash, url);
  return url;
}

/**
 * Shows the photo's placeholder behind `img` until it loads: the ThumbHash's blurred image, or
 * its dominant colour. Set through the CSS object model, which a strict CSP allows.
 * @param {HTMLImageElement} img
 * @param {PhotoView} photo
 */
export function showPlaceholder(img, photo) {
  const hash = photo.placeholder?.thumbhash;
  const color = photo.placeholder?.dominant_color;
  const url = hash ? thumbHashDataUrl(hash) : '';
  if (url) img.style.backgroundImage = `url("${url}")`;
  else if (color && /^#[0-9a-f]{3,8}$/i.test(color)) img.style.backgroundColor = color;
  else return;
  img.classList.add('has-placeholder');
  const clear = () => {
    img.classList.remove('has-placeholder');
    img.style.removeProperty('background-image');
    img.style.removeProperty('background-color');
  };
  img.addEventListener('load', clear, { once: true });
  img.addEventListener('error', clear, { once: true });
}

/**
 * A <picture> of a ready photo: AVIF and WebP sources where the photo has them, and the
 * <img> in the variants' own format, all with srcset over the variants and `sizes`.
 * @param {PhotoView} photo
 * @param {{sizes: string, alt: string, variant?: typeof VARIANTS[number], loading?: 'lazy' | 'eager'}} options
 *   `variant`: the size the <img> falls back to and takes its width and height from
 * @returns {{picture: HTMLElement, img: HTMLImageElement} | null} null without variants
 */
export function pictureOf(photo, { sizes, alt, variant = 'thumb', loading = 'lazy' }) {
  const fallback = photo.variants?.[variant] ?? variantsOf(photo)[0];
  if (!fallback?.url) return null;
  const { base, formats } = srcsets(photo);
  // The sources go in first and the <img> gets its address last, so the browser chooses among
  // them before it fetches anything (a detached <img> with a src would fetch at once).
  const picture = h('picture', {}, formats.map(({ type, srcset }) => h('source', { type, srcset, sizes })));
  const img = /** @type {HTMLImageElement} */ (h('img', {
    alt, width: fallback.width, height: fallback.height, loading, decoding: 'async',
  }));
  showPlaceholder(img, photo);
  picture.append(img);
  img.sizes = sizes;
  if (base) img.srcset = base;
  img.src = fallback.url;
  return { picture, img };
}
