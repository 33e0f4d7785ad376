// The inventory: the seller's photos (GET /v1/sellers/me/photos), newest first, filtered by
// status and paged by cursor ("Show more photos"), as a table that becomes cards on narrow
// screens, with a Details button per row; and its loading, empty and error states.

import { $, h, photoSelector } from './dom.js';
import { plural, splitTimeElement } from './format.js';
import { errorText, messages } from './messages.js';
import { api } from './api.js';
import { STATUS_LABELS, acceptFromServer, displayName, drawStatus, drawThumb, store, worthPolling } from './photos.js';
import { watch } from './polling.js';
import { openDetail } from './detail.js';

const PAGE_SIZE = 20;

export const inventory = {
  status: '',
  cursor: null,
  controller: null,
  shown: new Set(),

  async load({ more = false } = {}) {
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (this.status) params.set('status', this.status);
    if (more && this.cursor) params.set('cursor', this.cursor);
    if (!more) {
      this.cursor = null;
      this.shown.clear();
      $('#photo-rows').replaceChildren();
      $('#photo-table').hidden = true;
      $('#pager').hidden = true;
      drawInventoryState('loading');
    } else {
      $('#more').disabled = true;
      $('#more').textContent = 'Loading…';
    }
    $('#photo-table').setAttribute('aria-busy', 'true');
    try {
      const page = await api('read', `/v1/sellers/me/photos?${params}`, { signal: controller.signal });
      if (controller.signal.aborted) return;
      const items = Array.isArray(page.items) ? page.items : [];
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
    } catch (error) {
      if (error.name === 'AbortError' || controller.signal.aborted) return;
      if (error.handled) return;
      drawInventoryState('error', error);
      messages.error(error, 'Your photos could not be loaded', { key: 'inventory' });
    } finally {
      if (this.controller === controller) {
        $('#photo-table').removeAttribute('aria-busy');
        $('#more').disabled = false;
        $('#more').textContent = 'Show more photos';
        drawInventorySummary();
      }
    }
  },

  /** A photo this tab just uploaded goes to the top, if the current filter would list it. */
  addNew(id) {
    const record = store.get(id);
    if (!record || this.shown.has(id)) return;
    if (this.status && this.status !== record.photo.status) return;
    $('#photo-rows').prepend(photoRow(record));
    this.shown.add(id);
    $('#photo-table').hidden = false;
    drawInventoryState(null);
    drawInventorySummary();
  },

  remove(id) {
    for (const row of document.querySelectorAll(`tr${photoSelector(id)}`)) row.remove();
    this.shown.delete(id);
    if (this.shown.size === 0) {
      $('#photo-table').hidden = true;
      drawInventoryState(this.cursor ? null : 'empty');
    }
    drawInventorySummary();
  },
};

/** "Showing 20 photos; more below." */
function drawInventorySummary() {
  const count = inventory.shown.size;
  const label = inventory.status ? `${STATUS_LABELS[inventory.status].toLowerCase()} ` : '';
  $('#inventory-summary').textContent = count
    ? `Showing ${plural(count, `${label}photo`, `${label}photos`)}${inventory.cursor ? '; more below' : ''}.`
    : '';
}

/**
 * The box under the table: loading, empty (for this filter), an error, or nothing (null).
 * @param {'loading' | 'empty' | 'error' | null} state
 * @param {any} [error]
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
    if (inventory.status) {
      box.replaceChildren(
        h('p', { class: 'state-title', text: `No photos are ${STATUS_LABELS[inventory.status].toLowerCase()}.` }),
        h('p', {}, h('button', {
          type: 'button', class: 'button', onclick: () => {
            $('#status-filter').value = '';
            $('#status-filter').dispatchEvent(new Event('change'));
          },
        }, 'Show all statuses')));
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
 * @param {import('./photos.js').PhotoRecord} record
 */
function photoRow(record) {
  const id = record.photo.photo_id;
  const cell = (label, className, ...children) =>
    h('td', { role: 'cell', class: className, 'data-label': label }, ...children);
  const row = h('tr', { role: 'row', class: 'photo-row', 'data-photo-id': id, 'data-status': record.photo.status ?? '' },
    cell('Photo', 'col-photo', h('div', { class: 'thumb' })),
    cell('Product', 'col-product', h('span', { class: 'product-id' })),
    cell('Caption and tags', 'col-caption', h('p', { class: 'caption' }), h('ul', { class: 'tags', 'aria-label': 'Tags' })),
    cell('Status', 'col-status', h('div', { class: 'status-cell' })),
    cell('Updated', 'col-updated', h('span', { class: 'updated' })),
    cell('Actions', 'col-actions', h('button', {
      type: 'button', class: 'button button-small open-photo',
      onclick: (event) => openDetail(id, event.currentTarget),
    }, 'Details', h('span', { class: 'visually-hidden row-name' }))));
  drawRow(row, record);
  return row;
}

/**
 * @param {HTMLElement} row
 * @param {import('./photos.js').PhotoRecord} record
 */
export function drawRow(row, record) {
  const p = record.photo;
  drawThumb($('.thumb', row), record);
  $('.product-id', row).textContent = p.product_id ?? '';
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
}

/** The status filter, Refresh and "Show more photos". */
export function wireInventory() {
  $('#status-filter').addEventListener('change', (event) => {
    inventory.status = event.currentTarget.value;
    inventory.load();
  });
  $('#refresh').addEventListener('click', () => inventory.load());
  $('#more').addEventListener('click', () => inventory.load({ more: true }));
}
