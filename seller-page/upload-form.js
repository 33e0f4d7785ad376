// What to upload: the upload form (product id, remembered in localStorage; caption; tags), the
// files chosen or dropped on the drop zone, checked in the browser before anything is sent (an
// image type the service takes, and its size limit; a refused file gets a row saying why), and
// files held until a product id is entered. Complete jobs go to upload.js to run.

import { $ } from './dom.js';
import { formatBytes, parseTags, plural } from './format.js';
import { messages, setFieldError } from './messages.js';
import { pumpUploads, uploads } from './upload.js';
import { drawUploadSummary, refusedRow, uploadRow } from './upload-row.js';

/** localStorage key: the last product id, filled in again on the next visit. */
const PRODUCT_ID_KEY = 'seller-page.product-id';
/** The content types `POST /v1/photos` accepts (docs/API.md). */
const ACCEPTED_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/heic', 'image/heif'];
/** @type {Record<string, string>} */
const EXTENSION_TYPES = {
  jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp', heic: 'image/heic', heif: 'image/heif',
};
/** The largest file `POST /v1/photos` accepts: `CATALOG_MAX_UPLOAD_BYTES`, 25 MiB (docs/API.md). */
export const MAX_UPLOAD_BYTES = 25 * 1024 * 1024;

/**
 * The type a file is registered as, from its own type or else its extension; null if refused.
 * @param {File} file
 */
function contentTypeOf(file) {
  if (ACCEPTED_TYPES.includes(file.type)) return file.type;
  if (file.type) return null;
  const extension = file.name.split('.').pop()?.toLowerCase() ?? '';
  return EXTENSION_TYPES[extension] ?? null;
}

/**
 * Why the service would refuse a file, checked before anything is sent; null if it would not.
 * @param {File} file
 * @returns {string | null}
 */
export function refusalOf(file) {
  if (!contentTypeOf(file)) {
    const kind = file.type ? ` (this file is ${file.type})` : '';
    return `Not a JPEG, PNG, WebP or HEIC image${kind}.`;
  }
  if (file.size === 0) return 'The file is empty.';
  if (file.size > MAX_UPLOAD_BYTES) {
    return `Too large: ${formatBytes(file.size)}; the largest file accepted is 25 MiB (${formatBytes(MAX_UPLOAD_BYTES)}).`;
  }
  return null;
}

/**
 * Files arrive (chosen or dropped): those the service would refuse get a row with their
 * reason; the rest start, or wait for a product id.
 * @param {Iterable<File>} fileList
 */
function receiveFiles(fileList) {
  /** @type {File[]} */
  const files = [];
  /** @type {string[]} */
  const refused = [];
  for (const file of fileList) {
    const reason = refusalOf(file);
    if (!reason) {
      files.push(file);
      continue;
    }
    refused.push(file.name);
    $('#upload-list').prepend(refusedRow(file, reason));
  }
  if (refused.length) {
    drawUploadSummary();
    messages.show('error', `Not uploaded: ${refused.join(', ')}. ${refused.length === 1 ? 'Its row says' : 'Their rows say'} why, under “This session's uploads”.`);
  }
  if (!files.length) return;
  uploads.held.push(...files);
  startHeld();
}

/** Starts the held files if the form is complete; otherwise says what is missing. */
function startHeld() {
  const productInput = $('#product-id');
  const productId = productInput.value.trim();
  if (!productId) {
    setFieldError('product-id', 'Enter the product id these photos belong to, then choose Upload.');
    drawHeld();
    productInput.focus();
    return;
  }
  setFieldError('product-id', null);
  setFieldError('upload-caption', null);
  setFieldError('upload-tags', null);
  localStorage.setItem(PRODUCT_ID_KEY, productId);
  const caption = $('#upload-caption').value.trim();
  const tags = parseTags($('#upload-tags').value);
  const files = uploads.held.splice(0);
  drawHeld();
  for (const file of files) {
    /** @type {import('./upload.js').UploadJob} */
    const job = {
      file,
      filename: file.name,
      contentType: contentTypeOf(file) ?? file.type,
      productId,
      caption: caption || null,
      tags,
      idempotencyKey: crypto.randomUUID(),
      state: 'queued',
      step: 'Waiting to start…',
      progress: 0,
      checksum: null,
      photoId: null,
      upload: null,
      uploaded: false,
      error: null,
      previewUrl: URL.createObjectURL(file),
      controller: null,
      el: document.createElement('li'),
    };
    job.el = uploadRow(job);
    uploads.jobs.push(job);
    $('#upload-list').prepend(job.el);
    uploads.queue.push(job);
  }
  drawUploadSummary();
  pumpUploads();
}

function drawHeld() {
  const count = uploads.held.length;
  $('#held').hidden = count === 0;
  $('#held-text').textContent = count
    ? `${plural(count, 'photo is', 'photos are')} waiting for a product id: ${uploads.held.map((f) => f.name).join(', ')}.`
    : '';
  $('#start-held').textContent = count ? `Upload ${plural(count, 'photo', 'photos')}` : 'Upload';
}

/** The upload form: the product id, the file chooser, Upload and Discard for held files. */
export function wireUploadForm() {
  const productInput = $('#product-id');
  productInput.value = localStorage.getItem(PRODUCT_ID_KEY) ?? '';
  productInput.addEventListener('input', () => {
    if (productInput.value.trim()) setFieldError('product-id', null);
  });
  productInput.addEventListener('change', () => {
    const value = productInput.value.trim();
    if (value) localStorage.setItem(PRODUCT_ID_KEY, value);
  });
  $('#files').addEventListener('change', (/** @type {Event} */ event) => {
    const input = /** @type {HTMLInputElement} */ (event.currentTarget);
    receiveFiles([...(input.files ?? [])]);
    input.value = ''; // the same file can be chosen again
  });
  $('#upload-form').addEventListener('submit', (/** @type {SubmitEvent} */ event) => {
    event.preventDefault();
    if (uploads.held.length) startHeld();
    else {
      messages.show('info', 'Choose or drop photos to upload.', { key: 'choose-files' });
      $('#files').focus();
    }
  });
  $('#discard-held').addEventListener('click', () => {
    uploads.held.length = 0;
    drawHeld();
    setFieldError('product-id', null);
    $('#files').focus();
  });
}

/** Drag and drop: the zone lights up while files are dragged over the window. */
export function wireDropzone() {
  const zone = $('#dropzone');
  let dragDepth = 0;
  /** @param {DragEvent} event */
  const hasFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes('Files');
  window.addEventListener('dragenter', (event) => {
    if (!hasFiles(event)) return;
    dragDepth += 1;
    zone.classList.add('is-dragging');
  });
  window.addEventListener('dragleave', (event) => {
    if (!hasFiles(event)) return;
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) zone.classList.remove('is-dragging', 'is-over');
  });
  window.addEventListener('dragover', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault(); // otherwise the browser would open the file
    const over = zone.contains(event.target);
    zone.classList.toggle('is-over', over);
    if (event.dataTransfer) event.dataTransfer.dropEffect = over && !$('#app').hidden ? 'copy' : 'none';
  });
  window.addEventListener('drop', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    dragDepth = 0;
    zone.classList.remove('is-dragging', 'is-over');
    if (zone.contains(event.target) && !$('#app').hidden) {
      receiveFiles([...(event.dataTransfer?.files ?? [])]);
      $('#files').focus();
    }
  });
  zone.addEventListener('click', (/** @type {MouseEvent} */ event) => {
    // The whole zone opens the chooser, not only its button.
    const target = event.target;
    if (target === zone || (target instanceof Element && target.matches('.dropzone-title, .dropzone-or'))) $('#files').click();
  });
}
