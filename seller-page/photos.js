// The photos store: one record per photo id with what this tab knows of it (as the read API
// shows it, or ahead of it after a command), and how a photo's thumbnail and status are drawn
// wherever it appears. Uploads, the inventory, polling and the dialog all read and update
// photos here; `redraw` brings every element that shows a photo up to date.

import { h, photoSelector } from './dom.js';
import { pictureOf } from './picture.js';
import { drawRow } from './inventory.js';
import { drawUploadPhoto } from './upload-row.js';
import { drawProductCard } from './product-view.js';
import { detail, drawDetail } from './detail.js';

/** @typedef {import('./types.js').PhotoView} PhotoView */
/** @typedef {import('./types.js').PhotoStatus} PhotoStatus */

/**
 * @typedef {object} PhotoRecord
 * @property {PhotoView} photo as the read API showed it, or ahead of it after a command
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
 * A photo this tab knows only the id of, until the read API shows it.
 * @param {string} id
 * @returns {PhotoView}
 */
export function blankPhoto(id) {
  const now = new Date().toISOString();
  return {
    photo_id: id, product_id: '', seller_id: '', tags: [], status: 'pending_upload', content_type: '',
    variants: {}, srcset: {}, created_at: now, updated_at: now, version: 0,
  };
}

/**
 * A photo as the read API answered it. Older versions than what we know are ignored.
 * @param {PhotoView} photo
 * @returns {PhotoRecord}
 */
export function acceptFromServer(photo) {
  const current = store.get(photo.photo_id);
  if (current && photo.version < current.photo.version) {
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
 * @param {Partial<PhotoView>} changes
 * @param {number} [version]
 */
export function applyLocally(id, changes, version) {
  const current = store.get(id);
  /** @type {PhotoView} */
  const photo = { ...(current?.photo ?? blankPhoto(id)), ...changes };
  if (typeof version === 'number') photo.version = version;
  photo.updated_at = new Date().toISOString();
  store.set(id, { filename: current?.filename ?? null, photo, confirmed: false });
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

/**
 * How the page names a photo to the seller in labels: its file's name, caption, or id.
 * @param {PhotoRecord} record
 */
export function photoLabel(record) {
  return record.filename || record.photo.caption || `photo ${record.photo.photo_id}`;
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
    (status && STATUS_LABELS[status]) || status || 'Unknown');
}

/**
 * The thumbnail box: fixed size, so nothing moves when the image arrives; the ThumbHash (or
 * the dominant colour) shows until it does.
 * @param {HTMLElement} box
 * @param {PhotoRecord} record
 * @param {string} [sizes] the box's width, for the srcset's choice
 */
export function drawThumb(box, record, sizes = '4.5rem') {
  const p = record.photo;
  const variant = p.status === 'ready' ? p.variants?.thumb : null;
  // Drawn again when the formats offered change (AVIF arrives shortly after `ready`).
  const key = variant ? `${variant.url}|${Object.keys(variant.formats ?? {})}|${Object.keys(p.srcset ?? {})}` : `state:${p.status}`;
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
  const drawn = variant ? pictureOf(p, { sizes, alt: altText(record), variant: 'thumb' }) : null;
  if (drawn) {
    if (p.placeholder?.dominant_color && /^#[0-9a-f]{3,8}$/i.test(p.placeholder.dominant_color)) {
      box.style.setProperty('--placeholder', p.placeholder.dominant_color);
    }
    const { picture, img } = drawn;
    img.addEventListener('load', () => box.classList.add('is-loaded'), { once: true });
    img.addEventListener('error', () => {
      box.dataset.state = 'broken';
      picture.replaceWith(h('span', { class: 'thumb-note', text: 'Image unavailable' }));
    }, { once: true });
    box.append(picture);
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
    else if (el.matches('.product-card')) drawProductCard(el, record);
  }
  if (detail.id === id) drawDetail();
}
