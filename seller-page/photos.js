// The photos store: one record per photo id with what this tab knows of it (as the read API
// shows it, or ahead of it after a command), and how a photo's thumbnail and status are drawn
// wherever it appears. Uploads, the inventory, polling and the dialog all read and update
// photos here; `redraw` brings every element that shows a photo up to date.

import { h, photoSelector } from './dom.js';
import { drawRow } from './inventory.js';
import { drawUploadPhoto } from './upload.js';
import { detail, drawDetail } from './detail.js';

/**
 * A photo as the read API shows it (docs/API.md); only the fields the page uses.
 * @typedef {object} Photo
 * @property {string} photo_id
 * @property {string} [product_id]
 * @property {string | null} [caption]
 * @property {string[]} [tags]
 * @property {string | null} [alt_text]
 * @property {string} [status]
 * @property {string | null} [failure_reason]
 * @property {Record<string, any>} [variants] thumb, small, medium, large
 * @property {{dominant_color?: string}} [placeholder]
 * @property {string} [content_type]
 * @property {number} [width]
 * @property {number} [height]
 * @property {string} [created_at]
 * @property {string} [updated_at]
 * @property {number} [version]
 */

/**
 * @typedef {object} PhotoRecord
 * @property {Photo} photo
 * @property {boolean} confirmed whether the read API has shown this version
 * @property {string | null} filename the uploaded file's name, when this tab uploaded it
 */

/** @type {Record<string, string>} */
export const STATUS_LABELS = {
  pending_upload: 'Waiting for upload',
  uploaded: 'Uploaded, queued',
  processing: 'Processing',
  ready: 'Ready',
  failed: 'Failed',
  deleted: 'Deleted',
};
const FINAL = new Set(['ready', 'failed', 'deleted']);

/** id → { photo (as the read API shows it, maybe ahead of it locally), confirmed, filename }
 * @type {Map<string, PhotoRecord>} */
export const store = new Map();

/**
 * A photo as the read API answered it. Older versions than what we know are ignored.
 * @param {Photo} photo
 */
export function acceptFromServer(photo) {
  const current = store.get(photo.photo_id);
  if (current && typeof current.photo.version === 'number' && photo.version < current.photo.version) {
    return current;
  }
  const changed = !current || current.photo.version !== photo.version || !current.confirmed;
  const record = { filename: current?.filename ?? null, photo, confirmed: true };
  store.set(photo.photo_id, record);
  if (changed) redraw(photo.photo_id);
  return record;
}

/**
 * What a command just did, before the read model shows it.
 * @param {string} id
 * @param {Partial<Photo>} changes
 * @param {number} [version]
 */
export function applyLocally(id, changes, version) {
  const current = store.get(id);
  const photo = { ...(current?.photo ?? { photo_id: id, tags: [], variants: {} }), ...changes };
  if (typeof version === 'number') photo.version = version;
  photo.updated_at = new Date().toISOString();
  store.set(id, { filename: current?.filename ?? null, ...current, photo, confirmed: false });
  redraw(id);
}

/**
 * Whether what the page shows of a photo is final (ready, failed or deleted, and confirmed).
 * @param {string} id
 */
export function isSettled(id) {
  const record = store.get(id);
  if (!record) return false;
  if (record.photo.status === 'deleted') return true;
  return record.confirmed && FINAL.has(record.photo.status);
}

/**
 * Whether a photo is worth reading again: not settled yet, or ready with the AVIF variants
 * that the service adds shortly after `ready` to an opaque photo (where they are lighter than
 * its JPEGs) possibly still to come (for a minute at most), so that its detail lists them.
 * @param {string} id
 */
export function worthPolling(id) {
  if (!isSettled(id)) return true;
  const photo = store.get(id)?.photo;
  const large = photo?.variants?.large;
  if (photo?.status !== 'ready' || large?.content_type !== 'image/jpeg') return false;
  if (large.formats?.['image/avif']) return false;
  return Date.now() - Date.parse(photo.updated_at) < 60_000;
}

/** @param {PhotoRecord} record */
export function displayName(record) {
  const p = record.photo;
  return p.caption || record.filename || `photo of ${p.product_id ?? 'a product'}`;
}

/** @param {PhotoRecord} record */
export function altText(record) {
  const p = record.photo;
  return p.alt_text || p.caption || record.filename || `Photo of product ${p.product_id ?? ''}`.trim();
}

/** @param {string | undefined} status */
export function statusBadge(status) {
  return h('span', { class: `status status-${status ?? 'unknown'}` },
    h('span', { class: 'status-icon', 'aria-hidden': 'true' }),
    STATUS_LABELS[status] ?? status ?? 'Unknown');
}

/**
 * The thumbnail box: fixed size, so nothing moves when the image arrives.
 * @param {HTMLElement} box
 * @param {PhotoRecord} record
 */
export function drawThumb(box, record) {
  const p = record.photo;
  const variant = p.status === 'ready' ? p.variants?.thumb : null;
  const key = variant ? variant.url : `state:${p.status}`;
  if (box.dataset.key === key) {
    const img = box.querySelector('img');
    if (img) img.alt = altText(record);
    return;
  }
  box.dataset.key = key;
  box.dataset.state = p.status ?? 'unknown';
  box.replaceChildren();
  box.classList.remove('is-loaded');
  box.style.removeProperty('--placeholder');
  if (variant) {
    if (p.placeholder?.dominant_color && /^#[0-9a-f]{3,8}$/i.test(p.placeholder.dominant_color)) {
      box.style.setProperty('--placeholder', p.placeholder.dominant_color);
    }
    const img = h('img', {
      src: variant.url, width: variant.width, height: variant.height, alt: altText(record),
      loading: 'lazy', decoding: 'async',
    });
    img.addEventListener('load', () => box.classList.add('is-loaded'), { once: true });
    img.addEventListener('error', () => {
      box.dataset.state = 'broken';
      img.replaceWith(h('span', { class: 'thumb-note', text: 'Image unavailable' }));
    }, { once: true });
    box.append(img);
  } else {
    box.append(h('span', { class: 'thumb-glyph', 'aria-hidden': 'true' }));
  }
}

/**
 * @param {HTMLElement} container
 * @param {PhotoRecord} record
 */
export function drawStatus(container, record) {
  const p = record.photo;
  const key = `${p.status}|${p.failure_reason ?? ''}|${record.confirmed}`;
  if (container.dataset.key === key) return;
  container.dataset.key = key;
  container.replaceChildren(statusBadge(p.status));
  if (p.status === 'failed') {
    container.append(h('p', { class: 'failure-reason', text: p.failure_reason || 'The photo could not be processed.' }));
  }
}

/**
 * Draws photo `id` again wherever it is shown: inventory rows, upload rows, the dialog.
 * @param {string} id
 */
export function redraw(id) {
  const record = store.get(id);
  if (!record) return;
  for (const el of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll(photoSelector(id)))) {
    el.dataset.status = record.photo.status ?? '';
    if (el.matches('tr')) drawRow(el, record);
    else if (el.matches('.upload')) drawUploadPhoto(el, record);
  }
  if (detail.id === id) drawDetail();
}
