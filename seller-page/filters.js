// The inventory's filters: status, product id and tag, sent as `status=`, `product_id=` and
// `tag=` to GET /v1/sellers/me/photos (combinable). A product id or tag applies on Enter or
// "Apply", or by itself a moment after typing stops; the status as soon as it is chosen.

import { $ } from './dom.js';
import { STATUS_LABELS } from './photos.js';

/** How long typing pauses before a product id or tag filter applies by itself. */
const DEBOUNCE_MS = 600;

/**
 * The filters in force (what the list shows), each '' for none.
 * @type {{status: import('./types.js').PhotoStatus | '', product: string, tag: string}}
 */
export const filters = {
  status: '',
  product: '',
  tag: '',
};

/**
 * The filters as the inventory listing's query.
 * @returns {import('./types.js').InventoryQuery}
 */
export function filterQuery() {
  /** @type {import('./types.js').InventoryQuery} */
  const query = {};
  if (filters.status) query.status = filters.status;
  if (filters.product) query.product_id = filters.product;
  if (filters.tag) query.tag = filters.tag;
  return query;
}

/** Whether any filter is in force. */
export function hasFilters() {
  return Boolean(filters.status || filters.product || filters.tag);
}

/**
 * Whether a photo would be listed under the filters in force.
 * @param {import('./types.js').PhotoView} photo
 */
export function matchesFilters(photo) {
  if (filters.status && photo.status !== filters.status) return false;
  if (filters.product && photo.product_id !== filters.product) return false;
  if (filters.tag && !(photo.tags ?? []).includes(filters.tag)) return false;
  return true;
}

/**
 * The filters in words: 'status “Ready”, product “sku-1” and tag “red”' ('' for none).
 * @returns {string}
 */
export function describeFilters() {
  const parts = [];
  if (filters.status) parts.push(`status “${STATUS_LABELS[filters.status] ?? filters.status}”`);
  if (filters.product) parts.push(`product “${filters.product}”`);
  if (filters.tag) parts.push(`tag “${filters.tag}”`);
  if (parts.length < 2) return parts.join('');
  return `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
}

/**
 * Reads the form into `filters`; true when they changed.
 * @returns {boolean}
 */
function readForm() {
  /** @type {typeof filters} */
  const next = {
    status: $('#status-filter').value,
    product: $('#filter-product').value.trim(),
    tag: $('#filter-tag').value.trim(),
  };
  const changed = next.status !== filters.status || next.product !== filters.product || next.tag !== filters.tag;
  Object.assign(filters, next);
  return changed;
}

/** @type {() => void} */
let onChange = () => {};
/** @type {ReturnType<typeof setTimeout> | undefined} */
let debounce;

/**
 * Applies what the form says, if it changed (or always, with `force`).
 * @param {boolean} [force]
 */
function apply(force = false) {
  clearTimeout(debounce);
  if (readForm() || force) onChange();
}

/** Clears every filter and lists everything again; focus goes to the first filter. */
export function clearFilters() {
  $('#status-filter').value = '';
  $('#filter-product').value = '';
  $('#filter-tag').value = '';
  apply();
  $('#status-filter').focus();
}

/**
 * The filter form: its fields, "Apply", and typing that applies by itself.
 * @param {() => void} changed called when the filters in force change
 */
export function wireFilters(changed) {
  onChange = changed;
  $('#inventory-filters').addEventListener('submit', (/** @type {SubmitEvent} */ event) => {
    event.preventDefault();
    apply(true);
  });
  $('#status-filter').addEventListener('change', () => apply());
  for (const id of ['#filter-product', '#filter-tag']) {
    $(id).addEventListener('input', () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => apply(), DEBOUNCE_MS);
    });
  }
}
