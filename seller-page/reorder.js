// Reordering the product view's cards: "Up", "Down" and "Make primary" on each card (keyboard
// and pointer alike; focus stays on the button pressed, which is aria-disabled rather than
// disabled where it cannot move further), and drag and drop of a card onto another's place.
// Each move is said in #product-status and saved (productView.save).

import { $, photoSelector } from './dom.js';
import { store, photoLabel } from './photos.js';
import { drawGallery, productView } from './product-view.js';

/** The id of the card being dragged, or null. @type {string | null} */
let dragging = null;

/**
 * Each move button's accessible name (with the photo's name) and whether it can act.
 * @param {HTMLElement} card
 * @param {string} name
 */
export function drawMoveButtons(card, name) {
  const index = productView.order.indexOf(card.dataset.photoId ?? '');
  const last = productView.order.length - 1;
  /** @type {Array<[string, string, boolean]>} */
  const buttons = [
    ['.move-up', `Move ${name} up`, index <= 0],
    ['.move-down', `Move ${name} down`, index < 0 || index >= last],
    ['.move-first', `Make primary: ${name} (move to first)`, index <= 0],
  ];
  for (const [selector, label, stuck] of buttons) {
    const button = $(selector, card);
    button.setAttribute('aria-label', label);
    if (stuck) button.setAttribute('aria-disabled', 'true');
    else button.removeAttribute('aria-disabled');
  }
}

/**
 * Says something in the product view's live region.
 * @param {string} text
 */
function announce(text) {
  const status = $('#product-status');
  // The same words twice in a row are still announced: the region changes either way.
  status.textContent = status.textContent === text ? `${text}\u00a0` : text;
}

/**
 * Moves photo `id` to `index` (0 is first), redraws, says where it went and saves. Focus goes
 * back to the card's button of class `focusClass`, when given.
 * @param {string} id
 * @param {number} index
 * @param {string | null} focusClass
 */
export function moveTo(id, index, focusClass) {
  const order = productView.order;
  const from = order.indexOf(id);
  const record = store.get(id);
  const name = record ? photoLabel(record) : 'The photo';
  const to = Math.max(0, Math.min(order.length - 1, index));
  if (from < 0) return;
  if (from === to) {
    announce(`${name} is already at position ${from + 1} of ${order.length}${from === 0 ? ', the primary photo' : ''}.`);
    return;
  }
  order.splice(from, 1);
  order.splice(to, 0, id);
  drawGallery();
  if (focusClass) $(`#product-gallery ${photoSelector(id)} .${focusClass}`)?.focus();
  announce(`${name} moved to position ${to + 1} of ${order.length}${to === 0 ? ', the primary photo' : ''}.`);
  productView.save();
}

/**
 * The card under a drag and which side of it the dragged card would go to.
 * @param {DragEvent} event
 * @returns {{card: HTMLElement, after: boolean} | null}
 */
function dropTarget(event) {
  const card = event.target instanceof Element ? event.target.closest('.product-card') : null;
  if (!(card instanceof HTMLElement) || card.dataset.photoId === dragging) return null;
  const box = card.getBoundingClientRect();
  const list = $('#product-gallery').getBoundingClientRect();
  // One card a row: above or below its middle; several: left or right of it.
  const stacked = box.width > list.width * 0.6;
  const after = stacked ? event.clientY > box.top + box.height / 2 : event.clientX > box.left + box.width / 2;
  return { card, after };
}

function clearDropMarks() {
  for (const el of document.querySelectorAll('#product-gallery .drop-before, #product-gallery .drop-after, #product-gallery .is-dragging')) {
    el.classList.remove('drop-before', 'drop-after', 'is-dragging');
  }
}

/** The move buttons (delegated from the gallery) and drag and drop. */
export function wireReorder() {
  const gallery = $('#product-gallery');
  gallery.addEventListener('click', (/** @type {MouseEvent} */ event) => {
    const button = event.target instanceof Element ? event.target.closest('.move-up, .move-down, .move-first') : null;
    const card = button?.closest('.product-card');
    if (!(button instanceof HTMLElement) || !(card instanceof HTMLElement) || !card.dataset.photoId) return;
    const id = card.dataset.photoId;
    const from = productView.order.indexOf(id);
    if (button.classList.contains('move-up')) moveTo(id, from - 1, 'move-up');
    else if (button.classList.contains('move-down')) moveTo(id, from + 1, 'move-down');
    else moveTo(id, 0, 'move-first');
  });

  gallery.addEventListener('dragstart', (/** @type {DragEvent} */ event) => {
    const card = event.target instanceof Element ? event.target.closest('.product-card') : null;
    if (!(card instanceof HTMLElement) || !event.dataTransfer) return;
    dragging = card.dataset.photoId ?? null;
    event.dataTransfer.effectAllowed = 'move';
    event.dataTransfer.setData('text/plain', dragging ?? '');
    card.classList.add('is-dragging');
  });
  gallery.addEventListener('dragover', (/** @type {DragEvent} */ event) => {
    if (!dragging) return;
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = 'move';
    const target = dropTarget(event);
    for (const el of gallery.querySelectorAll('.drop-before, .drop-after')) {
      if (el !== target?.card) el.classList.remove('drop-before', 'drop-after');
    }
    if (target) {
      target.card.classList.toggle('drop-before', !target.after);
      target.card.classList.toggle('drop-after', target.after);
    }
  });
  gallery.addEventListener('drop', (/** @type {DragEvent} */ event) => {
    if (!dragging) return;
    event.preventDefault();
    const id = dragging;
    const target = dropTarget(event);
    dragging = null;
    clearDropMarks();
    if (!target?.card.dataset.photoId) return;
    const order = productView.order;
    const from = order.indexOf(id);
    let to = order.indexOf(target.card.dataset.photoId) + (target.after ? 1 : 0);
    if (from < to) to -= 1; // the dragged card leaves its place first
    moveTo(id, to, null);
  });
  gallery.addEventListener('dragend', () => {
    dragging = null;
    clearDropMarks();
  });
}
