// The rows of "This session's uploads": each file's local preview (an object URL, revoked once
// the photo's own thumbnail shows or the row goes), its progress and step, Cancel, Retry and
// Details; refused files with their reason; the summary line and "Clear finished".

import { $, h } from './dom.js';
import { formatBytes, integerFormat, plural } from './format.js';
import { errorText } from './messages.js';
import { drawStatus, drawThumb, isSettled } from './photos.js';
import { openDetail } from './detail.js';
import { cancelUpload, retryUpload, uploads } from './upload.js';

/** @typedef {import('./upload.js').UploadJob} UploadJob */
/** @typedef {import('./photos.js').PhotoRecord} PhotoRecord */

/** The job each row shows. @type {WeakMap<Element, UploadJob>} */
const rowJobs = new WeakMap();

/** A refused file's row → its preview's object URL. @type {WeakMap<Element, string>} */
const refusedPreviews = new WeakMap();

/**
 * The local preview of a file in its row's thumbnail box (an object URL; a file the browser
 * cannot draw, such as HEIC in most browsers, shows the box's glyph instead).
 * @param {HTMLElement} box
 * @param {string} url
 * @param {string} name
 */
function drawPreview(box, url, name) {
  box.dataset.key = `preview:${url}`;
  const img = /** @type {HTMLImageElement} */ (h('img', { class: 'preview', alt: `Preview of ${name}`, decoding: 'async' }));
  img.addEventListener('error', () => img.replaceWith(h('span', { class: 'thumb-glyph', 'aria-hidden': 'true' })), { once: true });
  img.src = url;
  box.replaceChildren(img);
}

/**
 * Lets go of a job's preview (its object URL).
 * @param {UploadJob} job
 */
export function revokePreview(job) {
  if (!job.previewUrl) return;
  URL.revokeObjectURL(job.previewUrl);
  job.previewUrl = null;
}

/**
 * The row of an upload in "This session's uploads".
 * @param {UploadJob} job
 * @returns {HTMLElement}
 */
export function uploadRow(job) {
  const progress = h('progress', { max: '1', value: '0', 'aria-label': `Upload of ${job.filename}` });
  const box = h('div', { class: 'thumb thumb-small', 'data-state': 'uploading' },
    h('span', { class: 'thumb-glyph', 'aria-hidden': 'true' }));
  if (job.previewUrl) drawPreview(box, job.previewUrl, job.filename);
  const el = h('li', { class: 'upload', 'data-upload': job.filename, 'data-upload-state': 'queued' },
    box,
    h('div', { class: 'upload-main' },
      h('p', { class: 'upload-name' }, h('span', { class: 'filename', text: job.filename }),
        h('span', { class: 'muted', text: ` · ${formatBytes(job.file.size)}` })),
      h('div', { class: 'upload-progress' }, progress,
        h('span', { class: 'upload-percent', 'aria-hidden': 'true', text: '0%' })),
      h('p', { class: 'upload-step', text: 'Waiting to start…' }),
      h('div', { class: 'upload-photo-status' }),
      h('p', { class: 'upload-error', hidden: true })),
    h('div', { class: 'upload-actions' },
      h('button', {
        type: 'button', class: 'button button-small cancel-upload', onclick: () => cancelUpload(job),
      }, 'Cancel', h('span', { class: 'visually-hidden', text: ` the upload of ${job.filename}` })),
      h('button', {
        type: 'button', class: 'button button-small retry', hidden: true, onclick: () => retryUpload(job),
      }, 'Retry', h('span', { class: 'visually-hidden', text: ` ${job.filename}` })),
      h('button', {
        type: 'button', class: 'button button-small open-photo', hidden: true,
        onclick: (/** @type {MouseEvent} */ event) => openDetail(job.photoId, /** @type {Element} */ (event.currentTarget)),
      }, 'Details', h('span', { class: 'visually-hidden', text: ` of ${job.filename}` })),
      h('button', {
        type: 'button', class: 'button button-small button-quiet remove-upload', hidden: true,
        onclick: () => removeRow(el),
      }, 'Remove', h('span', { class: 'visually-hidden', text: ` ${job.filename} from this list` }))));
  rowJobs.set(el, job);
  return el;
}

/**
 * The row of a file refused before anything was sent: its preview and why.
 * @param {File} file
 * @param {string} reason
 * @returns {HTMLElement}
 */
export function refusedRow(file, reason) {
  const url = URL.createObjectURL(file);
  const box = h('div', { class: 'thumb thumb-small', 'data-state': 'failed' });
  drawPreview(box, url, file.name);
  const el = h('li', { class: 'upload', 'data-upload': file.name, 'data-refused': 'true', 'data-upload-state': 'refused' },
    box,
    h('div', { class: 'upload-main' },
      h('p', { class: 'upload-name' }, h('span', { class: 'filename', text: file.name }),
        h('span', { class: 'muted', text: ` · ${formatBytes(file.size)}` })),
      h('p', { class: 'refusal-reason' }, h('strong', { text: 'Not uploaded. ' }), reason)),
    h('div', { class: 'upload-actions' },
      h('button', {
        type: 'button', class: 'button button-small button-quiet remove-upload', onclick: () => removeRow(el),
      }, 'Remove', h('span', { class: 'visually-hidden', text: ` ${file.name} from this list` }))));
  refusedPreviews.set(el, url);
  return el;
}

/**
 * Takes a row off the list (a refused or cancelled file), its preview with it; focus goes to
 * the next row's first button, or to the file chooser.
 * @param {HTMLElement} el
 */
function removeRow(el) {
  const next = /** @type {HTMLElement | null} */ (el.nextElementSibling ?? el.previousElementSibling);
  const job = rowJobs.get(el);
  if (job) {
    revokePreview(job);
    uploads.jobs = uploads.jobs.filter((j) => j !== job);
  }
  const url = refusedPreviews.get(el);
  if (url) URL.revokeObjectURL(url);
  el.remove();
  drawUploadSummary();
  const target = next?.querySelector('.upload-actions .button:not([hidden])');
  if (target instanceof HTMLElement) target.focus();
  else $('#files').focus();
}

/**
 * The job's step in words, and the row's state (`data-upload-state`).
 * @param {UploadJob} job
 */
export function drawJobState(job) {
  const el = job.el;
  el.dataset.uploadState = job.state;
  $('.upload-step', el).textContent = job.step;
  const running = ['queued', 'hashing', 'declaring', 'uploading'].includes(job.state);
  $('.cancel-upload', el).hidden = !running;
  $('.retry', el).hidden = !(job.state === 'error' || job.state === 'cancelled');
  $('.remove-upload', el).hidden = job.state !== 'cancelled';
  if (job.state !== 'done') {
    // Until the upload is done the thumbnail box shows the upload's own state.
    const box = $('.thumb', el);
    box.dataset.state = job.state === 'error' ? 'failed' : job.state === 'cancelled' ? 'cancelled' : 'uploading';
  }
  const note = $('.upload-error', el);
  note.hidden = !job.error;
  note.textContent = job.error ? errorText(job.error) : '';
  drawUploadSummary();
}

/** @param {UploadJob} job */
export function drawProgress(job) {
  const progress = $('progress', job.el);
  progress.value = job.progress;
  $('.upload-percent', job.el).textContent = `${Math.round(job.progress * 100)}%`;
}

/**
 * The photo part of an upload row: thumbnail (the preview until the photo is ready), status,
 * failure reason, Details.
 * @param {HTMLElement} el
 * @param {PhotoRecord} record
 */
export function drawUploadPhoto(el, record) {
  const job = rowJobs.get(el);
  if (el.dataset.uploadState === 'done' && (record.photo.status === 'ready' || !job?.previewUrl)) {
    drawThumb($('.thumb', el), record, '3.5rem');
    if (job) revokePreview(job);
  }
  drawStatus($('.upload-photo-status', el), record);
  $('.open-photo', el).hidden = record.photo.status === 'deleted' || el.dataset.uploadState === 'cancelled';
  el.classList.toggle('is-settled', isSettled(record.photo.photo_id));
}

export function drawUploadSummary() {
  const jobs = uploads.jobs;
  const refused = document.querySelectorAll('#upload-list [data-refused]').length;
  $('#uploads').hidden = !jobs.length && !refused;
  if (!jobs.length && !refused) {
    $('#uploads-summary').textContent = '';
    return;
  }
  const done = jobs.filter((j) => j.state === 'done').length;
  const failed = jobs.filter((j) => j.state === 'error').length;
  const cancelled = jobs.filter((j) => j.state === 'cancelled').length;
  const parts = [`${integerFormat.format(done)} of ${plural(jobs.length, 'photo', 'photos')} uploaded`];
  if (failed) parts.push(`${integerFormat.format(failed)} stopped`);
  if (cancelled) parts.push(`${integerFormat.format(cancelled)} cancelled`);
  if (refused) parts.push(`${plural(refused, 'file', 'files')} refused`);
  const text = `${parts.join(', ')}.`;
  // A live region: only a real change is announced.
  if ($('#uploads-summary').textContent !== text) $('#uploads-summary').textContent = text;
}

/** "Clear finished": uploads done and settled, and refused files. */
function clearFinishedUploads() {
  uploads.jobs = uploads.jobs.filter((job) => {
    const finished = job.state === 'done' && (!job.photoId || isSettled(job.photoId));
    if (finished) {
      revokePreview(job);
      job.el.remove();
    }
    return !finished;
  });
  for (const el of document.querySelectorAll('#upload-list [data-refused]')) {
    const url = refusedPreviews.get(el);
    if (url) URL.revokeObjectURL(url);
    el.remove();
  }
  drawUploadSummary();
  if ($('#uploads').hidden) $('#files').focus();
}

/** "Clear finished". */
export function wireUploadRows() {
  $('#clear-finished').addEventListener('click', clearFinishedUploads);
}
