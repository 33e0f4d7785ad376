// Formatting and parsing of what the page shows and reads: dates, byte counts, counted nouns,
// sentences, comma-separated tags. Shared by messages, uploads, the inventory and the detail
// dialog, so the page words and formats things the same way everywhere.

import { h } from './dom.js';

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const preciseFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const dayFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
const clockFormat = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });
export const integerFormat = new Intl.NumberFormat();

/**
 * @param {string | number | null | undefined} value an ISO 8601 time
 * @param {boolean} [precise] with seconds
 */
function formatTime(value, precise = false) {
  const date = new Date(value ?? NaN);
  if (Number.isNaN(date.getTime())) return String(value ?? '');
  return (precise ? preciseFormat : dateFormat).format(date);
}

/**
 * Date above time of day, for narrow table cells.
 * @param {string} value an ISO 8601 time
 */
export function splitTimeElement(value) {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value ?? '');
  return h('time', { datetime: value, title: preciseFormat.format(date) },
    h('span', { text: dayFormat.format(date) }), ' ',
    h('span', { class: 'time-of-day', text: clockFormat.format(date) }));
}

/**
 * @param {string} value an ISO 8601 time
 * @param {boolean} [precise] with seconds
 */
export function timeElement(value, precise = false) {
  return h('time', { datetime: value, text: formatTime(value, precise) });
}

/**
 * 4211 → "4.2 kB" (decimal units, as file managers show them).
 * @param {unknown} bytes
 */
export function formatBytes(bytes) {
  if (typeof bytes !== 'number' || !Number.isFinite(bytes)) return '';
  const units = ['byte', 'kilobyte', 'megabyte', 'gigabyte'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  // Bytes in words ("43 bytes": CLDR's short form is "43 byte"), larger units short ("4.2 kB").
  return new Intl.NumberFormat(undefined, {
    style: 'unit', unit: units[unit], unitDisplay: unit === 0 ? 'long' : 'short', maximumFractionDigits: unit === 0 ? 0 : 1,
  }).format(value);
}

/**
 * 3, 'photo', 'photos' → "3 photos".
 * @param {number} count
 * @param {string} one
 * @param {string} many
 */
export function plural(count, one, many) {
  return `${integerFormat.format(count)} ${count === 1 ? one : many}`;
}

/**
 * "the token has expired" → "the token has expired." (details come without a full stop).
 * @param {unknown} text
 */
export function sentence(text) {
  const trimmed = String(text ?? '').trim();
  return /[.!?…]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

/**
 * "red, leather, Red" → ['red', 'leather']: trimmed, empty and repeated (any case) tags left out.
 * @param {unknown} text
 * @returns {string[]}
 */
export function parseTags(text) {
  const seen = new Set();
  const tags = [];
  for (const raw of String(text ?? '').split(',')) {
    const tag = raw.trim();
    if (tag && !seen.has(tag.toLowerCase())) {
      seen.add(tag.toLowerCase());
      tags.push(tag);
    }
  }
  return tags;
}
