// What to upload: the upload form (product id, remembered in localStorage; caption; tags), the
// files chosen or dropped on the drop zone, refused when not an image the service takes, and
// files held until a product id is entered. Complete jobs go to upload.js to run.

import { $ } from './dom.js';
import { parseTags, plural } from './format.js';
import { messages, setFieldError } from './messages.js';
import { drawUploadSummary, pumpUploads, uploadRow, uploads } from './upload.js';

/** localStorage key: the last product id, filled in again on the next visit. */
const PRODUCT_ID_KEY = 'seller-page.product-id';
const ACCEPTED_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/heic', 'image/heif'];
const EXTENSION_TYPES = {
  jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp', heic: 'image/heic', heif: 'image/heif',
};

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
 * Files arrive (chosen or dropped): unsupported ones are refused, the rest start or wait.
 * @param {Iterable<File>} fileList
 */
function receiveFiles(fileList) {
  const files = [];
  const refused = [];
  for (const file of fileList) {
    if (contentTypeOf(file)) files.push(file);
    else refused.push(file.name);
  }
  if (refused.length) {
    messages.show('error', `${refused.join(', ')}: not a JPEG, PNG, WebP or HEIC image, so ${refused.length === 1 ? 'it was' : 'they were'} left out.`);
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
    const job = {
      file,
      filename: file.name,
      contentType: contentTypeOf(file),
      productId,
      caption: caption || null,
      tags,
      idempotencyKey: crypto.randomUUID(),
      state: 'queued',
      progress: 0,
      checksum: null,
      photoId: null,
      upload: null,
      uploaded: false,
      error: null,
      el: null,
    };
    job.el = uploadRow(job);
    uploads.jobs.push(job);
    $('#upload-list').prepend(job.el);
    uploads.queue.push(job);
  }
  $('#uploads').hidden = false;
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
  $('#files').addEventListener('change', (event) => {
    const input = event.currentTarget;
    receiveFiles([...input.files]);
    input.value = ''; // the same file can be chosen again
  });
  $('#upload-form').addEventListener('submit', (event) => {
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
    event.dataTransfer.dropEffect = over && !$('#app').hidden ? 'copy' : 'none';
  });
  window.addEventListener('drop', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    dragDepth = 0;
    zone.classList.remove('is-dragging', 'is-over');
    if (zone.contains(event.target) && !$('#app').hidden) {
      receiveFiles([...event.dataTransfer.files]);
      $('#files').focus();
    }
  });
  zone.addEventListener('click', (event) => {
    // The whole zone opens the chooser, not only its button.
    if (event.target === zone || event.target.matches('.dropzone-title, .dropzone-or')) $('#files').click();
  });
}
