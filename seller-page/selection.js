// Choosing photos in the inventory for bulk actions: a checkbox per row, "Select all on this
// page", shift-click for a range, and the bulk bar that appears with the count selected.

import { $, h, photoSelector } from './dom.js';
import { plural } from './format.js';
import { photoLabel } from './photos.js';

/** The ids chosen, and the row last clicked (where a shift-click range starts). */
export const selection = {
  /** @type {Set<string>} */
  ids: new Set(),
  /** @type {string | null} */
  anchor: null,
};

/**
 * The selection cell's content for a row: a labelled checkbox.
 * @param {import('./photos.js').PhotoRecord} record
 * @returns {HTMLElement}
 */
export function selectionControl(record) {
  const id = record.photo.photo_id;
  const inputId = `select-${id}`;
  return h('div', { class: 'select-cell' },
    h('input', {
      type: 'checkbox', class: 'select-photo', id: inputId, value: id, checked: selection.ids.has(id),
    }),
    h('label', { for: inputId, class: 'select-label' },
      h('span', { class: 'visually-hidden select-name', text: `Select ${photoLabel(record)}` })));
}

/**
 * The label of a row's checkbox, kept in step with what the row shows.
 * @param {HTMLElement} row
 * @param {import('./photos.js').PhotoRecord} record
 */
export function drawSelectionLabel(row, record) {
  const name = $('.select-name', row);
  if (name) name.textContent = `Select ${photoLabel(record)}`;
}

/** @returns {HTMLInputElement[]} every row's checkbox, in the list's order */
function checkboxes() {
  return [...document.querySelectorAll('#photo-rows .select-photo')].filter((el) => el instanceof HTMLInputElement);
}

/**
 * The selected ids in the list's order (only rows still shown).
 * @returns {string[]}
 */
export function selectedIds() {
  return checkboxes().filter((box) => selection.ids.has(box.value)).map((box) => box.value);
}

/**
 * Marks `id` selected or not, in the set and on its row.
 * @param {string} id
 * @param {boolean} on
 */
export function setSelected(id, on) {
  if (on) selection.ids.add(id);
  else selection.ids.delete(id);
  const box = $(`#photo-rows ${photoSelector(id)} .select-photo`);
  if (box) box.checked = on;
}

/** Forgets rows no longer shown, then draws "Select all" and the bulk bar from the set. */
export function drawSelection() {
  const boxes = checkboxes();
  const shown = new Set(boxes.map((box) => box.value));
  for (const id of [...selection.ids]) if (!shown.has(id)) selection.ids.delete(id);
  for (const box of boxes) box.checked = selection.ids.has(box.value);
  const count = selection.ids.size;
  const all = /** @type {HTMLInputElement} */ ($('#select-all'));
  all.checked = count > 0 && count === boxes.length;
  all.indeterminate = count > 0 && count < boxes.length;
  all.disabled = boxes.length === 0;
  $('#selection-bar').hidden = boxes.length === 0;
  $('#bulk-bar').hidden = count === 0;
  $('#bulk-count').textContent = `${plural(count, 'photo', 'photos')} selected`;
  $('#bulk-delete-count').textContent = plural(count, 'photo', 'photos');
  if (count === 0) hideBulkConfirm(false);
}

/**
 * Hides the delete confirmation; focus back on "Delete…" unless told otherwise.
 * @param {boolean} [returnFocus]
 */
export function hideBulkConfirm(returnFocus = true) {
  $('#bulk-delete-confirm').hidden = true;
  $('#bulk-delete').setAttribute('aria-expanded', 'false');
  if (returnFocus && !$('#bulk-bar').hidden) $('#bulk-delete').focus();
}

/** Unselects everything. */
export function clearSelection() {
  selection.ids.clear();
  selection.anchor = null;
  drawSelection();
}

/**
 * A click on a row's checkbox: with Shift, every row between it and the last one clicked
 * takes its new state.
 * @param {HTMLInputElement} box
 * @param {boolean} shift
 */
function onCheckboxClick(box, shift) {
  const boxes = checkboxes();
  const anchor = selection.anchor ? boxes.findIndex((b) => b.value === selection.anchor) : -1;
  const here = boxes.indexOf(box);
  if (shift && anchor >= 0 && here >= 0) {
    const [from, to] = anchor < here ? [anchor, here] : [here, anchor];
    for (const other of boxes.slice(from, to + 1)) setSelected(other.value, box.checked);
  } else {
    setSelected(box.value, box.checked);
  }
  selection.anchor = box.value;
  drawSelection();
}

/** The row checkboxes (delegated from the list), "Select all on this page", "Clear selection". */
export function wireSelection() {
  $('#photo-rows').addEventListener('click', (/** @type {MouseEvent} */ event) => {
    const target = event.target;
    if (target instanceof HTMLInputElement && target.matches('.select-photo')) {
      onCheckboxClick(target, event.shiftKey);
    } else if (target instanceof Element && target.matches('.select-label') && event.shiftKey) {
      // A shift-click on the cell around the box: the label would not pass the Shift on.
      event.preventDefault();
      const box = target.parentElement?.querySelector('.select-photo');
      if (box instanceof HTMLInputElement) {
        box.checked = !box.checked;
        box.focus();
        onCheckboxClick(box, true);
      }
    }
  });
  $('#select-all').addEventListener('change', (/** @type {Event} */ event) => {
    const on = /** @type {HTMLInputElement} */ (event.currentTarget).checked;
    for (const box of checkboxes()) setSelected(box.value, on);
    selection.anchor = null;
    drawSelection();
  });
  $('#clear-selection').addEventListener('click', () => {
    clearSelection();
    $('#select-all').focus();
  });
}
