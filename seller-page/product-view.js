// The product view: one product's photos in gallery order (GET /v1/products/{id}/photo-order
// on the write API, then each photo from the read API), as cards the seller reorders (by drag
// and drop or the Move buttons, reorder.js). Each change is saved with PUT …/photo-order and
// `If-Match: "v<version>"`; an order changed elsewhere meanwhile (412) is read again and said.

import { $, h, photoSelector } from './dom.js';
import { plural, sentence } from './format.js';
import { errorText, messages } from './messages.js';
import { ApiError, api, asApiError, photoPath, productPath, request } from './api.js';
import { acceptFromServer, drawStatus, drawThumb, photoLabel, store, worthPolling } from './photos.js';
import { watch } from './polling.js';
import { openDetail } from './detail.js';
import { limiter, sleep } from './concurrency.js';
import { drawMoveButtons, wireReorder } from './reorder.js';

/** @typedef {import('./photos.js').PhotoRecord} PhotoRecord */

/** A card's image width in the gallery's grid (features.css), for the srcset's choice. */
const CARD_SIZES = '(max-width: 30rem) calc(100vw - 5rem), 16rem';

/** At most this many photos are read at once. */
const readSlot = limiter(4);

export const productView = {
  /** The product shown ('' for none). */
  productId: '',
  /** The order's version last read or saved: sent as If-Match. */
  version: 0,
  /** @type {string[]} the photo ids, in gallery order, as shown */
  order: [],
  saving: false,
  /** A change is waiting to be saved after the one under way. */
  pending: false,
  /** @type {AbortController | null} */
  controller: null,

  /**
   * Shows product `productId`: its order, then its photos.
   * @param {string} productId
   * @param {{focus?: boolean}} [options] focus the view's heading (from a link elsewhere)
   */
  async show(productId, { focus = false } = {}) {
    $('#product-view-id').value = productId;
    if (focus) $('#product-title').focus();
    await this.load(productId);
  },

  /**
   * Reads the order (and the photos) of `productId` afresh, keeping the cards already drawn.
   * @param {string} productId
   * @returns {Promise<boolean>} whether it was read
   */
  async load(productId) {
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    const changedProduct = productId !== this.productId;
    this.productId = productId;
    if (changedProduct) {
      this.order = [];
      $('#product-gallery').replaceChildren();
      $('#product-status').textContent = '';
      drawProductState('loading');
    }
    $('#product-gallery').setAttribute('aria-busy', 'true');
    try {
      const { data, headers } = await request('write', productPath(productId, '/photo-order'), { signal: controller.signal });
      /** @type {import('./types.js').ProductOrder} */
      const order = data;
      if (controller.signal.aborted) return false;
      this.version = typeof order.version === 'number' ? order.version : versionOfEtag(headers.get('ETag'));
      this.order = Array.isArray(order.photo_ids) ? [...order.photo_ids] : [];
      drawGallery();
      drawProductState(this.order.length ? null : 'empty');
      readPhotos(this.order, controller.signal);
      return true;
    } catch (e) {
      if (controller.signal.aborted) return false;
      const error = asApiError(e);
      if (error.handled) return false;
      this.order = [];
      $('#product-gallery').replaceChildren();
      drawProductState('error', error);
      return false;
    } finally {
      if (this.controller === controller) $('#product-gallery').removeAttribute('aria-busy');
    }
  },

  /** Forgets the product shown (a session ended). */
  reset() {
    this.controller?.abort();
    this.productId = '';
    this.order = [];
    this.version = 0;
    drawProductState(null);
    $('#product-gallery').replaceChildren();
    $('#product-gallery').hidden = true;
    for (const id of ['#product-summary', '#product-status', '#product-save-state']) $(id).textContent = '';
  },

  /**
   * A photo of the product shown was uploaded: read the order again (it now holds it).
   * @param {string} productId
   */
  photoAdded(productId) {
    if (productId === this.productId && !this.saving) this.load(productId);
  },

  /**
   * A photo was deleted: it leaves the view (and the order the next save sends).
   * @param {string} id
   */
  remove(id) {
    const at = this.order.indexOf(id);
    if (at < 0) return;
    this.order.splice(at, 1);
    $(`#product-gallery ${photoSelector(id)}`)?.remove();
    drawPositions();
    if (!this.order.length) drawProductState('empty');
  },

  /** Saves the order shown; a change made while a save runs is saved right after it. */
  async save() {
    if (this.saving) {
      this.pending = true;
      return;
    }
    this.saving = true;
    const productId = this.productId;
    $('#product-save-state').textContent = 'Saving the order…';
    try {
      do {
        this.pending = false;
        const version = await putOrder(productId, [...this.order], this.version);
        if (productId !== this.productId) return; // another product is shown now
        this.version = version;
      } while (this.pending);
      $('#product-save-state').textContent = 'Order saved. Buyers see it in the gallery.';
    } catch (e) {
      if (productId !== this.productId) return;
      const error = asApiError(e);
      if (error.handled) return;
      $('#product-save-state').textContent = 'Your last change was not saved.';
      const focused = document.activeElement;
      if (error.status === 412) {
        messages.show('error', 'The order of this product was changed elsewhere (in another tab, or by someone else) after it was shown here, so your last change was not saved. The current order is shown again: make your change once more.', { key: 'product-order' });
      } else {
        messages.error(error, 'The order was not saved', { key: 'product-order' });
      }
      this.saving = false;
      this.pending = false;
      await this.load(productId);
      if (focused instanceof HTMLElement && focused.isConnected) focused.focus();
    } finally {
      this.saving = false;
      // A move made in another product's view while this one saved.
      if (this.pending && productId !== this.productId) {
        this.pending = false;
        this.save();
      }
    }
  },
};

/**
 * The version in an order's ETag (`"v7"`), 0 when there is none.
 * @param {string | null} etag
 */
function versionOfEtag(etag) {
  const match = /^(?:W\/)?"v(\d+)"$/.exec((etag ?? '').trim());
  return match ? Number(match[1]) : 0;
}

/**
 * PUT of the order, If-Match its version; once more after a `409 busy` that asks to wait.
 * @param {string} productId
 * @param {string[]} ids
 * @param {number} version
 * @returns {Promise<number>} the order's new version
 */
async function putOrder(productId, ids, version) {
  /** @type {import('./types.js').PhotoOrder} */
  const body = { photo_ids: ids };
  const send = () => api('write', productPath(productId, '/photo-order'), {
    method: 'PUT', json: body, headers: { 'If-Match': `"v${version}"` },
  });
  /** @type {import('./types.js').ProductVersion} */
  let answer;
  try {
    answer = await send();
  } catch (error) {
    if (!(error instanceof ApiError) || error.code !== 'busy' || (error.retryAfter ?? 1) > 5) throw error;
    await sleep((error.retryAfter ?? 1) * 1000);
    answer = await send();
  }
  return answer.version;
}

/**
 * Reads each photo of the order from the read API (four at a time); one the read model does
 * not list yet is read again until it does.
 * @param {string[]} ids
 * @param {AbortSignal} signal
 */
function readPhotos(ids, signal) {
  for (const id of ids) {
    readSlot(async () => {
      if (signal.aborted) return;
      try {
        acceptFromServer(await api('read', photoPath(id), { signal }));
        if (worthPolling(id)) watch(id, { soon: false });
      } catch (e) {
        if (signal.aborted) return;
        const error = asApiError(e);
        if (error.status === 404) watch(id, { soon: false });
        else if (!error.handled) messages.error(error, 'A photo of this product could not be read', { key: 'product-photo' });
      }
    });
  }
}

/**
 * The box under the gallery: loading, empty, an error (in words), or nothing (null).
 * @param {'loading' | 'empty' | 'error' | null} state
 * @param {ApiError} [error]
 */
function drawProductState(state, error) {
  const box = $('#product-state');
  const id = productView.productId;
  box.hidden = !state;
  box.dataset.state = state ?? '';
  $('#product-gallery').hidden = state === 'loading' || state === 'error' || state === 'empty';
  if (!state) return box.replaceChildren();
  if (state === 'loading') {
    return box.replaceChildren(h('p', { class: 'loading' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), `Loading product “${id}”…`));
  }
  if (state === 'empty') {
    return box.replaceChildren(h('p', { class: 'state-title', text: `Product “${id}” has no photos.` }),
      h('p', { class: 'muted', text: 'Its photos were all deleted. Upload some above with this product id.' }));
  }
  const code = error?.code;
  const title = error?.status === 404 ? `There is no product “${id}”.`
    : code === 'product-owned' ? `Product “${id}” belongs to another seller.`
      : `Product “${id}” could not be shown.`;
  const detail = error?.status === 404 ? 'No photo was ever added to it. Check the product id, or upload a photo with it.'
    : code === 'product-owned' ? 'Only its owner sees and orders its photos.'
      : errorText(error);
  return box.replaceChildren(h('p', { class: 'state-title', text: title }), h('p', { class: 'muted', text: sentence(detail) }),
    error?.status === 404 || code === 'product-owned' ? null
      : h('p', {}, h('button', { type: 'button', class: 'button', onclick: () => productView.load(id) }, 'Try again')));
}

/**
 * A card of the product view, for photo `id` (drawn once its record is known).
 * @param {string} id
 * @returns {HTMLElement}
 */
function productCard(id) {
  const card = h('li', { class: 'product-card', 'data-photo-id': id, 'data-status': '', draggable: 'true' },
    h('div', { class: 'card-head' },
      h('span', { class: 'card-position' }),
      h('span', { class: 'drag-handle', 'aria-hidden': 'true', title: 'Drag to move' })),
    h('div', { class: 'thumb thumb-card' }, h('span', { class: 'thumb-glyph', 'aria-hidden': 'true' })),
    h('p', { class: 'card-name', text: 'Loading…' }),
    h('div', { class: 'status-cell' }),
    h('div', { class: 'card-actions' },
      h('button', { type: 'button', class: 'button button-small move-up' }, h('span', { 'aria-hidden': 'true', text: '↑ ' }), 'Up'),
      h('button', { type: 'button', class: 'button button-small move-down' }, h('span', { 'aria-hidden': 'true', text: '↓ ' }), 'Down'),
      h('button', { type: 'button', class: 'button button-small move-first' }, 'Make primary'),
      h('button', {
        type: 'button', class: 'button button-small button-quiet open-photo',
        onclick: (/** @type {MouseEvent} */ event) => openDetail(id, /** @type {Element} */ (event.currentTarget)),
      }, 'Details', h('span', { class: 'visually-hidden card-details-name' }))));
  const record = store.get(id);
  if (record) drawProductCard(card, record);
  return card;
}

/**
 * Draws a product card from what the page knows of its photo.
 * @param {HTMLElement} card
 * @param {PhotoRecord} record
 */
export function drawProductCard(card, record) {
  const p = record.photo;
  card.dataset.status = p.status ?? '';
  drawThumb($('.thumb', card), record, CARD_SIZES);
  $('.card-name', card).textContent = photoLabel(record);
  $('.card-details-name', card).textContent = ` of ${photoLabel(record)}`;
  drawStatus($('.status-cell', card), record);
  drawMoveButtons(card, photoLabel(record));
}

/** The cards in the order, reusing those drawn; focus stays where it was. */
export function drawGallery() {
  const list = $('#product-gallery');
  const focused = document.activeElement;
  /** @type {Map<string, HTMLElement>} */
  const existing = new Map();
  for (const card of list.querySelectorAll('.product-card')) {
    if (card instanceof HTMLElement && card.dataset.photoId) existing.set(card.dataset.photoId, card);
  }
  productView.order.forEach((id, index) => {
    const card = existing.get(id) ?? productCard(id);
    existing.delete(id);
    if (list.children[index] !== card) list.insertBefore(card, list.children[index] ?? null);
  });
  for (const card of existing.values()) card.remove();
  drawPositions();
  if (focused instanceof HTMLElement && focused !== document.activeElement && focused.isConnected) focused.focus();
}

/** Each card's position ("1 of 3", "Primary"), its move buttons' state, and the summary. */
export function drawPositions() {
  const cards = [...$('#product-gallery').querySelectorAll('.product-card')];
  const total = cards.length;
  cards.forEach((card, index) => {
    const position = $('.card-position', card);
    position.replaceChildren(
      h('span', { class: 'visually-hidden', text: 'Position ' }), String(index + 1),
      h('span', { class: 'visually-hidden', text: ` of ${total}` }));
    if (index === 0) position.append(h('span', { class: 'primary-badge', text: 'Primary' }));
    const record = store.get(card.dataset.photoId ?? '');
    drawMoveButtons(card, record ? photoLabel(record) : 'this photo');
  });
  $('#product-summary').textContent = total
    ? `${plural(total, 'photo', 'photos')} of product “${productView.productId}”, in the order buyers see them (ready photos only). The first is its primary photo.`
    : '';
}

/** The "Show product" form; the gallery's moves (reorder.js). */
export function wireProductView() {
  $('#product-form').addEventListener('submit', (/** @type {SubmitEvent} */ event) => {
    event.preventDefault();
    const productId = $('#product-view-id').value.trim();
    if (!productId) {
      $('#product-view-id').focus();
      messages.show('info', 'Enter the product id to show.', { key: 'product-view-id' });
      return;
    }
    productView.show(productId);
  });
  wireReorder();
}
