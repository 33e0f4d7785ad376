// The detail dialog of one photo: its preview, facts and sizes; editing caption, tags and alt
// text (PATCH with only what changed); reprocessing; deleting after a confirmation; and its
// history (`history.js`). The message region moves into the dialog while it is open.

import { $, h, photoSelector } from './dom.js';
import { formatBytes, integerFormat, parseTags, timeElement } from './format.js';
import { messages, setFieldError, showFieldErrors } from './messages.js';
import { api, asApiError, photoPath } from './api.js';
import { acceptFromServer, altText, applyLocally, statusBadge, store, worthPolling } from './photos.js';
import { VARIANTS, pictureOf } from './picture.js';
import { unwatch, watch } from './polling.js';
import { inventory } from './inventory.js';
import { productView } from './product-view.js';
import { loadHistory, resetHistory } from './history.js';

/** The preview's width in the dialog's layout (style.css), for the srcset's choice. */
const PREVIEW_SIZES = '(max-width: 40rem) calc(100vw - 2rem), (max-width: 56rem) calc(52vw - 3rem), 26rem';

/**
 * @param {string[]} [a]
 * @param {string[]} [b]
 */
function sameList(a = [], b = []) {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

/**
 * The dialog's state: which photo it shows (null: closed), where focus returns, the form's
 * values as loaded.
 * @type {{id: string | null, opener: Element | null, baseline: {caption: string, tags: string[], alt_text: string} | null,
 *   busy: boolean}}
 */
export const detail = {
  id: null,
  opener: null,
  baseline: null,
  busy: false,
};

/** @returns {HTMLDialogElement} */
export const detailDialog = () => $('#photo-dialog');

/** API field name → input id in the dialog's form. */
const DETAIL_FIELDS = { caption: 'caption', tags: 'tags', alt_text: 'alt-text' };

/**
 * Opens the dialog for photo `id`; focus returns to `opener` when it closes.
 * @param {string | null} id
 * @param {Element} [opener]
 */
export function openDetail(id, opener) {
  if (!id || !store.has(id)) return;
  const dialog = detailDialog();
  detail.id = id;
  detail.opener = opener ?? document.activeElement;
  detail.baseline = null;
  // Messages follow the user into the dialog (the page behind it is inert while it is open).
  $('#dialog-messages-slot').append(messages.region);
  messages.region?.classList.add('in-dialog');
  hideDeleteConfirm(false);
  for (const field of Object.values(DETAIL_FIELDS)) setFieldError(field, null);
  fillDetailForm();
  drawDetail();
  resetHistory();
  dialog.showModal();
  $('#dialog-body').scrollTop = 0;
  $('#dialog-title').focus();
  refreshDetail(id);
  loadHistory(true);
}

/**
 * Reads the photo again from the read side, and the form with it unless the seller is editing.
 * @param {string} id
 */
export async function refreshDetail(id) {
  try {
    /** @type {import('./types.js').PhotoView} */
    const photo = await api('read', photoPath(id));
    if (detail.id !== id) return;
    acceptFromServer(photo);
    if (!isDetailDirty()) fillDetailForm();
  } catch (e) {
    const error = asApiError(e);
    if (detail.id !== id || error.handled) return;
    if (error.status === 404) {
      if (worthPolling(id)) watch(id);
      return; // the read model has not caught up yet; drawn from what this tab knows
    }
    messages.error(error, 'The photo could not be refreshed');
  }
}

function fillDetailForm() {
  const p = detail.id ? store.get(detail.id)?.photo : undefined;
  if (!p) return;
  detail.baseline = { caption: p.caption ?? '', tags: [...(p.tags ?? [])], alt_text: p.alt_text ?? '' };
  $('#caption').value = detail.baseline.caption;
  $('#tags').value = detail.baseline.tags.join(', ');
  $('#alt-text').value = detail.baseline.alt_text;
}

/** @returns {import('./types.js').DetailsPatch} */
function detailChanges() {
  const base = detail.baseline ?? { caption: '', tags: [], alt_text: '' };
  /** @type {import('./types.js').DetailsPatch} */
  const changes = {};
  const caption = $('#caption').value.trim();
  if (caption !== base.caption) changes.caption = caption;
  const tags = parseTags($('#tags').value);
  if (!sameList(tags, base.tags)) changes.tags = tags;
  const alt = $('#alt-text').value.trim();
  // Only when changed: servers before alt_text refuse unknown fields.
  if (alt !== base.alt_text) changes.alt_text = alt;
  return changes;
}

function isDetailDirty() {
  return Object.keys(detailChanges()).length > 0;
}

export function drawDetail() {
  const record = detail.id ? store.get(detail.id) : undefined;
  if (!record) return;
  const p = record.photo;
  $('#dialog-title').textContent = p.caption ? `Photo: ${p.caption}` : 'Photo details';

  // Preview: a <picture> over every size and format, its box sized from the contract's width
  // and height, the ThumbHash behind it until it loads.
  const preview = $('#detail-preview');
  const variant = p.status === 'ready' ? (p.variants?.medium ?? p.variants?.small ?? p.variants?.thumb) : null;
  const previewKey = variant ? `${variant.url}|${Object.keys(variant.formats ?? {}).join()}` : `state:${p.status}`;
  if (preview.dataset.key !== previewKey) {
    preview.dataset.key = previewKey;
    preview.replaceChildren();
    const drawn = variant ? pictureOf(p, {
      sizes: PREVIEW_SIZES, alt: altText(record), variant: p.variants?.medium ? 'medium' : 'thumb', loading: 'eager',
    }) : null;
    if (drawn) {
      const { picture, img } = drawn;
      img.addEventListener('error', () => picture.replaceWith(h('p', { class: 'muted', text: 'The image is not available.' })), { once: true });
      preview.append(picture);
    } else {
      preview.append(h('div', { class: 'preview-empty', 'data-state': p.status ?? '' },
        h('span', { class: 'thumb-glyph', 'aria-hidden': 'true' }),
        h('p', { text: p.status === 'failed' ? 'No image: processing failed.' : 'The image appears here when processing is done.' })));
    }
  } else {
    const img = $('img', preview);
    if (img) img.alt = altText(record);
  }

  // Facts.
  const facts = [
    ['Status', h('div', {}, statusBadge(p.status),
      p.status === 'failed' ? h('p', { class: 'detail-failure', text: p.failure_reason || 'The photo could not be processed.' }) : null,
      !record.confirmed && p.status !== 'deleted' ? h('p', { class: 'muted small', text: 'Updating…' }) : null)],
    ['Product', h('span', { class: 'mono', text: p.product_id ?? '' })],
    record.filename ? ['File', record.filename] : null,
    p.width && p.height ? ['Original', `${integerFormat.format(p.width)} × ${integerFormat.format(p.height)} px${p.content_type ? `, ${p.content_type.replace('image/', '').toUpperCase()}` : ''}`] : null,
    p.created_at ? ['Created', timeElement(p.created_at)] : null,
    p.updated_at ? ['Updated', timeElement(p.updated_at)] : null,
    ['Photo id', h('span', { class: 'mono small', text: p.photo_id })],
  ];
  $('#detail-facts').replaceChildren(...facts.flatMap((fact) => (fact ? [h('dt', { text: fact[0] }), h('dd', {}, fact[1])] : [])));

  // Sizes.
  const names = VARIANTS.filter((name) => p.variants?.[name]);
  const variants = p.variants ?? {};
  const box = $('#detail-variants');
  if (!names.length) {
    box.replaceChildren(h('p', { class: 'muted', text: p.status === 'failed' ? 'No sizes: processing failed. Reprocess to try again.' : 'Sizes are made when processing finishes.' }));
  } else {
    box.replaceChildren(h('ul', { class: 'variants' }, names.map((name) => {
      const v = variants[name];
      const formats = Object.entries(v.formats ?? {});
      return h('li', { class: 'variant' },
        h('span', { class: 'variant-name', text: name[0].toUpperCase() + name.slice(1) }),
        h('span', { class: 'variant-size', text: `${integerFormat.format(v.width)} × ${integerFormat.format(v.height)} px` }),
        h('span', { class: 'variant-bytes' }, formatBytes(v.bytes),
          h('span', { class: 'muted', text: ` (${integerFormat.format(v.bytes)} bytes)` })),
        h('a', { href: v.url, target: '_blank', rel: 'noopener noreferrer', class: 'variant-link' },
          'Open', h('span', { class: 'visually-hidden', text: ` the ${name} ${(v.content_type ?? '').replace('image/', '').toUpperCase()} image (new tab)` })),
        formats.length ? h('span', { class: 'variant-formats' }, 'Also as ', formats.map(([type, f], i) => [
          i ? ', ' : '',
          h('a', { href: f.url, target: '_blank', rel: 'noopener noreferrer' },
            type.replace('image/', '').toUpperCase(),
            h('span', { class: 'visually-hidden', text: ` ${name} image (new tab)` })),
          ` ${formatBytes(f.bytes)}`,
        ])) : null);
    })));
  }

  const deleted = p.status === 'deleted';
  for (const id of ['save-details', 'reprocess', 'delete-photo']) $(`#${id}`).disabled = deleted;
}

const ACTION_BUTTONS = ['save-details', 'reprocess', 'delete-photo', 'confirm-delete'];

/**
 * One command at a time from the dialog. Buttons are marked aria-disabled rather than
 * disabled, so the one the user pressed keeps focus while it works.
 * @param {HTMLElement} button
 * @param {string} busyText
 * @param {() => Promise<void>} task
 */
async function withBusy(button, busyText, task) {
  if (detail.busy) return;
  detail.busy = true;
  const text = /** @type {ChildNode} */ (button.firstChild);
  const label = text.textContent;
  text.textContent = busyText;
  for (const id of ACTION_BUTTONS) $(`#${id}`).setAttribute('aria-disabled', 'true');
  try {
    await task();
  } finally {
    detail.busy = false;
    text.textContent = label;
    for (const id of ACTION_BUTTONS) $(`#${id}`).removeAttribute('aria-disabled');
  }
}

/** @param {SubmitEvent} event */
async function saveDetails(event) {
  event.preventDefault();
  const id = detail.id;
  if (!id) return;
  for (const field of Object.values(DETAIL_FIELDS)) setFieldError(field, null);
  const changes = detailChanges();
  if (!Object.keys(changes).length) {
    messages.show('info', 'Nothing has changed, so there is nothing to save.');
    return;
  }
  if (changes.tags && changes.tags.length > 20) {
    setFieldError('tags', 'At most 20 tags.');
    $('#tags').focus();
    return;
  }
  await withBusy($('#save-details'), 'Saving…', async () => {
    try {
      /** @type {import('./types.js').PhotoVersion} */
      const answer = await api('write', photoPath(id), { method: 'PATCH', json: changes });
      if (detail.id !== id) return;
      /** @type {Partial<import('./types.js').PhotoView>} */
      const applied = {};
      if (changes.caption !== undefined) applied.caption = changes.caption;
      if (changes.alt_text !== undefined) applied.alt_text = changes.alt_text;
      if (changes.tags) applied.tags = changes.tags;
      applyLocally(id, applied, answer.version);
      watch(id); // until the read model shows this version
      fillDetailForm();
      messages.show('success', 'Changes saved.', { key: `save:${id}` });
      loadHistory(true);
    } catch (e) {
      const error = asApiError(e);
      if (error.status === 422 && showFieldErrors(error.errors, DETAIL_FIELDS)) {
        /** @type {Record<string, string>} */
        const fields = DETAIL_FIELDS;
        const first = error.errors.map((fieldError) => fields[fieldError.field]).find(Boolean);
        if (first) document.getElementById(first)?.focus();
      }
      messages.error(error, 'Not saved', { key: `save:${id}` });
    }
  });
}

async function reprocess() {
  const id = detail.id;
  if (!id) return;
  await withBusy($('#reprocess'), 'Requesting…', async () => {
    try {
      /** @type {import('./types.js').PhotoVersion} */
      const answer = await api('write', photoPath(id, '/reprocess'), { method: 'POST' });
      applyLocally(id, { status: 'uploaded', failure_reason: null }, answer.version);
      watch(id);
      messages.show('success', 'Reprocessing requested. The status updates here by itself.', { key: `reprocess:${id}` });
      loadHistory(true);
    } catch (error) {
      messages.error(error, 'Not reprocessed', { key: `reprocess:${id}` });
    }
  });
}

function showDeleteConfirm() {
  $('#delete-confirm').hidden = false;
  $('#delete-photo').setAttribute('aria-expanded', 'true');
  $('#delete-confirm-title').focus();
}

/** @param {boolean} [returnFocus] */
function hideDeleteConfirm(returnFocus = true) {
  $('#delete-confirm').hidden = true;
  $('#delete-photo').setAttribute('aria-expanded', 'false');
  if (returnFocus) $('#delete-photo').focus();
}

async function deletePhoto() {
  const id = detail.id;
  if (!id) return;
  await withBusy($('#confirm-delete'), 'Deleting…', async () => {
    try {
      /** @type {import('./types.js').PhotoSummary} */
      const answer = await api('write', photoPath(id), { method: 'DELETE' });
      unwatch(id);
      // Where focus goes once the dialog closes: the next photo's button in the list it was
      // opened from (inventory or product view), or that list's heading.
      const inGallery = detail.opener?.closest('#product-gallery');
      const row = inGallery ? detail.opener?.closest('.product-card') : $(`tr${photoSelector(id)}`);
      const next = row?.nextElementSibling ?? row?.previousElementSibling;
      detail.opener = next ? $('.open-photo', next) : $(inGallery ? '#product-title' : '#inventory-title');
      applyLocally(id, { status: 'deleted' }, answer.version);
      inventory.remove(id);
      productView.remove(id);
      detailDialog().close();
      messages.show('success', 'Photo deleted.', { key: `delete:${id}` });
    } catch (error) {
      messages.error(error, 'Not deleted', { key: `delete:${id}` });
    }
  });
}

function onDialogClose() {
  // Messages go back to the page.
  $('#main').prepend(messages.region);
  messages.region?.classList.remove('in-dialog');
  const id = detail.id;
  detail.id = null;
  const target = detail.opener;
  detail.opener = null;
  if (target instanceof HTMLElement && target.isConnected && !target.hidden) target.focus();
  else if (id) ($(`${photoSelector(id)} .open-photo`) ?? $('#inventory-title'))?.focus();
}

/** Closing, Escape (which first backs out of the delete confirmation), the form and actions. */
export function wireDetail() {
  const dialog = detailDialog();
  $('#close-dialog').addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', onDialogClose);
  dialog.addEventListener('cancel', (/** @type {Event} */ event) => {
    // Escape first backs out of the delete confirmation, then closes.
    if (!$('#delete-confirm').hidden) {
      event.preventDefault();
      hideDeleteConfirm();
    }
  });
  dialog.addEventListener('click', (/** @type {MouseEvent} */ event) => {
    // A click on the backdrop (outside the dialog's box) closes it.
    if (event.target !== dialog || event.detail === 0) return;
    const box = dialog.getBoundingClientRect();
    const inside = event.clientX >= box.left && event.clientX <= box.right
      && event.clientY >= box.top && event.clientY <= box.bottom;
    if (!inside) dialog.close();
  });
  $('#details-form').addEventListener('submit', saveDetails);
  $('#reprocess').addEventListener('click', reprocess);
  $('#delete-photo').addEventListener('click', showDeleteConfirm);
  $('#cancel-delete').addEventListener('click', () => hideDeleteConfirm());
  $('#confirm-delete').addEventListener('click', deletePhoto);
}
