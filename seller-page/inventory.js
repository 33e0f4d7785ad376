// The inventory: the seller's photos (GET /v1/sellers/me/photos), newest first, filtered by
// status, product id and tag (filters.js) and paged by cursor ("Show more photos"), as a table
// that becomes cards on narrow screens, with a checkbox per row for bulk actions
// (selection.js, bulk.js), a link to each row's product (product-view.js) and a Details
// button; and its loading, empty and error states.

import { $, h, photoSelector } from './dom.js';
import { plural, splitTimeElement } from './format.js';
import { errorText, messages } from './messages.js';
import { api, asApiError, isAbort } from './api.js';
import { acceptFromServer, displayName, drawStatus, drawThumb, store, worthPolling } from './photos.js';
import { watch } from './polling.js';
import { openDetail } from './detail.js';
import { clearFilters, filterQuery, describeFilters, hasFilters, matchesFilters, wireFilters } from './filters.js';
import { drawSelection, drawSelectionLabel, selectionControl } from './selection.js';
import { productView } from './product-view.js';

/** @typedef {import('./photos.js').PhotoRecord} PhotoRecord */

const PAGE_SIZE = 20;

export const inventory = {
  /** @type {string | null} */
  cursor: null,
  /** @type {AbortController | null} */
  controller: null,
  /** @type {Set<string>} */
  shown: new Set(),

  async load({ more = false } = {}) {
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    /** @type {import('./types.js').InventoryQuery} */
    const query = { limit: PAGE_SIZE, ...filterQuery() };
    if (more && this.cursor) query.cursor = this.cursor;
    const params = new URLSearchParams(Object.entries(query).map(([name, value]) => [name, String(value)]));
    if (!more) {
      this.cursor = null;
      this.shown.clear();
      $('#photo-rows').replaceChildren();
      $('#photo-table').hidden = true;
      $('#pager').hidden = true;
      drawSelection();
      drawInventoryState('loading');
    } else {
      $('#more').disabled = true;
      $('#more').textContent = 'Loading…';
    }
    $('#photo-table').setAttribute('aria-busy', 'true');
    try {
      /** @type {import('./types.js').PhotoPage} */
      const page = await api('read', `/v1/sellers/me/photos?${params}`, { signal: controller.signal });
      if (controller.signal.aborted) return;
      const items = Array.isArray(page.items) ? page.items : [];
      /** @type {HTMLElement[]} */
      const firstNew = [];
      for (const photo of items) {
        if (this.shown.has(photo.photo_id)) continue;
        const record = acceptFromServer(photo);
        if (record.photo.status === 'deleted') continue; // deleted here; the listing lags behind
        const row = photoRow(record);
        $('#photo-rows').append(row);
        this.shown.add(photo.photo_id);
        firstNew.push(row);
        if (worthPolling(photo.photo_id)) watch(photo.photo_id, { soon: false });
      }
      this.cursor = page.next_cursor ?? null;
      $('#photo-table').hidden = this.shown.size === 0;
      $('#pager').hidden = !this.cursor;
      drawInventoryState(this.shown.size === 0 ? 'empty' : null);
      if (more && firstNew.length) $('.open-photo', firstNew[0])?.focus();
    } catch (e) {
      if (isAbort(e) || controller.signal.aborted) return;
      const error = asApiError(e);
      if (error.handled) return;
      drawInventoryState('error', error);
      messages.error(error, 'Your photos could not be loaded', { key: 'inventory' });
    } finally {
      if (this.controller === controller) {
        $('#photo-table').removeAttribute('aria-busy');
        $('#more').disabled = false;
        $('#more').textContent = 'Show more photos';
        drawSelection();
        drawInventorySummary();
      }
    }
  },

  /**
   * A photo this tab just uploaded goes to the top, if the filters in force would list it.
   * @param {string} id
   */
  addNew(id) {
    const record = store.get(id);
    if (!record || this.shown.has(id)) return;
    if (!matchesFilters(record.photo)) return;
    $('#photo-rows').prepend(photoRow(record));
    this.shown.add(id);
    $('#photo-table').hidden = false;
    drawInventoryState(null);
    drawSelection();
    drawInventorySummary();
  },

  /** @param {string} id */
  remove(id) {
    for (const row of document.querySelectorAll(`tr${photoSelector(id)}`)) row.remove();
    this.shown.delete(id);
    if (this.shown.size === 0) {
      $('#photo-table').hidden = true;
      drawInventoryState(this.cursor ? null : 'empty');
    }
    drawSelection();
    drawInventorySummary();
  },
};

/** "Showing 20 photos of product “sku-1”; more below." */
function drawInventorySummary() {
  const count = inventory.shown.size;
  const which = hasFilters() ? ` matching ${describeFilters()}` : '';
  $('#inventory-summary').textContent = count
    ? `Showing ${plural(count, 'photo', 'photos')}${which}${inventory.cursor ? '; more below' : ''}.`
    : '';
}

/**
 * The box under the table: loading, empty (for these filters), an error, or nothing (null).
 * @param {'loading' | 'empty' | 'error' | null} state
 * @param {unknown} [error]
 */
function drawInventoryState(state, error) {
  const box = $('#inventory-state');
  box.hidden = !state;
  box.dataset.state = state ?? '';
  if (!state) {
    box.replaceChildren();
    return;
  }
  if (state === 'loading') {
    box.replaceChildren(h('p', { class: 'loading' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Loading your photos…'));
  } else if (state === 'empty') {
    if (hasFilters()) {
      box.replaceChildren(
        h('p', { class: 'state-title', text: `No photos match ${describeFilters()}.` }),
        h('p', { class: 'muted', text: 'Clear the filters to see every photo you have.' }),
        h('p', {}, h('button', { type: 'button', class: 'button', id: 'clear-filters', onclick: clearFilters }, 'Clear filters')));
    } else {
      box.replaceChildren(
        h('p', { class: 'state-title', text: 'No photos yet.' }),
        h('p', { class: 'muted', text: 'Photos you upload above appear here, with their status as they are processed.' }));
    }
  } else if (state === 'error') {
    box.replaceChildren(
      h('p', { class: 'state-title', text: 'Your photos could not be loaded.' }),
      h('p', { class: 'muted', text: errorText(error) }),
      h('p', {}, h('button', { type: 'button', class: 'button', onclick: () => inventory.load() }, 'Try again')));
  }
}

/**
 * A new inventory row for a photo, drawn.
 * @param {PhotoRecord} record
 * @returns {HTMLElement}
 */
function photoRow(record) {
  const id = record.photo.photo_id;
  /**
   * @param {string} label
   * @param {string} className
   * @param {...(Node | string)} children
   */
  const cell = (label, className, ...children) =>
    h('td', { role: 'cell', class: className, 'data-label': label }, ...children);
  const row = h('tr', { role: 'row', class: 'photo-row', 'data-photo-id': id, 'data-status': record.photo.status ?? '' },
    cell('Select', 'col-select', selectionControl(record)),
    cell('Photo', 'col-photo', h('div', { class: 'thumb' })),
    cell('Product', 'col-product', h('a', {
      class: 'product-id product-link', href: '#product-panel',
      onclick: (/** @type {MouseEvent} */ event) => {
        event.preventDefault();
        const productId = store.get(id)?.photo.product_id;
        if (productId) productView.show(productId, { focus: true });
      },
    })),
    cell('Caption and tags', 'col-caption', h('p', { class: 'caption' }), h('ul', { class: 'tags', 'aria-label': 'Tags' })),
    cell('Status', 'col-status', h('div', { class: 'status-cell' })),
    cell('Updated', 'col-updated', h('span', { class: 'updated' })),
    cell('Actions', 'col-actions', h('button', {
      type: 'button', class: 'button button-small open-photo',
      onclick: (/** @type {MouseEvent} */ event) => openDetail(id, /** @type {Element} */ (event.currentTarget)),
    }, 'Details', h('span', { class: 'visually-hidden row-name' }))));
  drawRow(row, record);
  return row;
}

/**
 * @param {HTMLElement} row
 * @param {PhotoRecord} record
 */
export function drawRow(row, record) {
  const p = record.photo;
  drawThumb($('.thumb', row), record);
  const product = $('.product-id', row);
  product.textContent = p.product_id ?? '';
  product.setAttribute('aria-label', `Show product ${p.product_id ?? ''} in gallery order`);
  const caption = $('.caption', row);
  caption.textContent = p.caption || (record.filename ? record.filename : 'No caption');
  caption.classList.toggle('muted', !p.caption);
  const tags = $('.tags', row);
  tags.replaceChildren(...(p.tags ?? []).map((tag) => h('li', { class: 'tag', text: tag })));
  tags.hidden = !(p.tags ?? []).length;
  drawStatus($('.status-cell', row), record);
  const updated = $('.updated', row);
  updated.replaceChildren(p.updated_at ? splitTimeElement(p.updated_at) : '');
  $('.row-name', row).textContent = ` of ${displayName(record)}`;
  drawSelectionLabel(row, record);
}

/** The filters, Refresh and "Show more photos". */
export function wireInventory() {
  wireFilters(() => inventory.load());
  $('#refresh').addEventListener('click', () => inventory.load());
  $('#more').addEventListener('click', () => inventory.load({ more: true }));
}
