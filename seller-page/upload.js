// The uploads under way: each file is hashed, registered (POST /v1/photos), PUT to its
// presigned address with progress, and confirmed, at most three at a time. Each has a row in
// "This session's uploads" with its progress, the photo's status once it exists, and Retry,
// which picks up where the upload stopped. Which files to upload comes from upload-form.js.

import { $, h } from './dom.js';
import { formatBytes, integerFormat, plural } from './format.js';
import { errorText, messages, showFieldErrors } from './messages.js';
import { ApiError, api, photoPath } from './api.js';
import { applyLocally, drawStatus, drawThumb, isSettled, redraw, store } from './photos.js';
import { watch } from './polling.js';
import { inventory } from './inventory.js';
import { openDetail } from './detail.js';

const MAX_CONCURRENT_UPLOADS = 3;

/**
 * One file on its way: what it is sent as, and how far it got (so Retry resumes there).
 * @typedef {object} UploadJob
 * @property {File} file
 * @property {string} filename
 * @property {string | null} contentType
 * @property {string} productId
 * @property {string | null} caption
 * @property {string[]} tags
 * @property {string} idempotencyKey one per registration: a retry gets the same photo
 * @property {string} state queued, hashing, declaring, uploading, completing, done or error
 * @property {number} progress 0 to 1
 * @property {string | null} checksum
 * @property {string | null} photoId
 * @property {{url: string, method?: string, headers?: Record<string, string>, expires_at: string} | null} upload
 * @property {boolean} uploaded
 * @property {any} error
 * @property {HTMLElement} el its row
 */

/**
 * SHA-256 of a file, lower-case hex.
 * @param {Blob} blob
 */
export async function sha256Hex(blob) {
  const digest = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The queue, every job of this session, how many run, and files held for a product id.
 * @type {{queue: UploadJob[], jobs: UploadJob[], active: number, held: File[]}} */
export const uploads = {
  queue: [],
  jobs: [],
  active: 0,
  held: [],
};

/**
 * Request headers a page may not set (the browser sends its own, e.g. Content-Length).
 * @param {string} name
 */
export function browserMaySet(name) {
  const lower = name.toLowerCase();
  const forbidden = new Set([
    'accept-charset', 'accept-encoding', 'access-control-request-headers', 'access-control-request-method',
    'access-control-request-private-network', 'connection', 'content-length', 'cookie', 'cookie2', 'date',
    'dnt', 'expect', 'host', 'keep-alive', 'origin', 'referer', 'set-cookie', 'te', 'trailer',
    'transfer-encoding', 'upgrade', 'via',
  ]);
  return !forbidden.has(lower) && !lower.startsWith('proxy-') && !lower.startsWith('sec-');
}

export function pumpUploads() {
  while (uploads.active < MAX_CONCURRENT_UPLOADS && uploads.queue.length) {
    const job = uploads.queue.shift();
    uploads.active += 1;
    runUpload(job).finally(() => {
      uploads.active -= 1;
      drawUploadSummary();
      pumpUploads();
    });
  }
}

function setJobState(job, state, text) {
  job.state = state;
  job.el.dataset.uploadState = state;
  $('.upload-step', job.el).textContent = text;
  if (state !== 'done') {
    // Until the upload is done the thumbnail box shows the upload's own state.
    const box = $('.thumb', job.el);
    box.dataset.key = '';
    box.dataset.state = state === 'error' ? 'failed' : 'uploading';
  }
  drawUploadSummary();
}

/** @param {UploadJob} job */
async function runUpload(job) {
  job.error = null;
  drawJobError(job);
  try {
    if (!job.checksum) {
      setJobState(job, 'hashing', 'Checking the file…');
      job.checksum = await sha256Hex(job.file);
    }
    const expired = job.upload && Date.parse(job.upload.expires_at) - 30_000 < Date.now();
    if (!job.photoId || (expired && !job.uploaded)) {
      const abandoned = job.photoId;
      if (abandoned) job.idempotencyKey = crypto.randomUUID(); // the old key would answer the expired URL again
      setJobState(job, 'declaring', 'Registering the photo…');
      const body = {
        product_id: job.productId,
        filename: job.filename,
        content_type: job.contentType,
        size_bytes: job.file.size,
        checksum_sha256: job.checksum,
      };
      if (job.caption) body.caption = job.caption;
      if (job.tags.length) body.tags = job.tags;
      const created = await api('write', '/v1/photos', { method: 'POST', json: body, idempotencyKey: job.idempotencyKey });
      job.photoId = created.photo_id;
      job.upload = created.upload;
      const now = new Date().toISOString();
      store.set(job.photoId, {
        filename: job.filename,
        confirmed: false,
        photo: {
          photo_id: job.photoId, product_id: job.productId, caption: job.caption, tags: job.tags,
          status: created.status ?? 'pending_upload', failure_reason: null, variants: {},
          content_type: job.contentType, created_at: now, updated_at: now, version: created.version,
        },
      });
      job.el.dataset.photoId = job.photoId;
      redraw(job.photoId);
      if (abandoned) {
        // The first registration's upload address expired unused: remove that empty photo.
        api('write', photoPath(abandoned), { method: 'DELETE' }).catch(() => {});
      }
    }
    if (!job.uploaded) {
      setJobState(job, 'uploading', 'Uploading…');
      await putFile(job);
      job.uploaded = true;
    }
    setJobState(job, 'completing', 'Finishing the upload…');
    const done = await api('write', photoPath(job.photoId, '/upload-complete'), { method: 'POST' });
    job.progress = 1;
    drawProgress(job);
    setJobState(job, 'done', 'Uploaded.');
    applyLocally(job.photoId, { status: done.status ?? 'uploaded' }, done.version);
    inventory.addNew(job.photoId);
    watch(job.photoId);
  } catch (error) {
    if (error.handled) {
      setJobState(job, 'error', 'Stopped: signed out.');
      return;
    }
    job.error = error;
    setJobState(job, 'error', 'Upload stopped.');
    drawJobError(job);
    if (error.status === 422) {
      showFieldErrors(error.errors, { product_id: 'product-id', caption: 'upload-caption', tags: 'upload-tags' });
    }
    messages.error(error, job.filename, { key: `upload:${job.idempotencyKey}` });
  }
}

/**
 * PUT to the presigned URL with XMLHttpRequest, for its upload progress events.
 * @param {UploadJob} job
 * @returns {Promise<void>}
 */
function putFile(job) {
  const { url, headers = {}, method = 'PUT' } = job.upload;
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [name, value] of Object.entries(headers)) {
      if (browserMaySet(name)) xhr.setRequestHeader(name, value);
    }
    xhr.upload.addEventListener('progress', (event) => {
      if (!event.lengthComputable) return;
      job.progress = event.loaded / event.total;
      drawProgress(job);
    });
    xhr.addEventListener('load', () => {
      // 412: the address writes once and an earlier attempt already stored the file.
      if ((xhr.status >= 200 && xhr.status < 300) || xhr.status === 412) {
        resolve();
        return;
      }
      const s3Message = /<Message>([^<]*)<\/Message>/.exec(xhr.responseText ?? '')?.[1];
      const expired = /expired/i.test(xhr.responseText ?? '');
      if (expired) job.upload.expires_at = new Date(0).toISOString();
      reject(new ApiError({
        status: xhr.status,
        detail: expired
          ? 'The upload address expired before the file was sent. Retry to get a new one.'
          : `The file storage refused the upload (${xhr.status}${s3Message ? `: ${s3Message}` : ''}).`,
      }));
    });
    xhr.addEventListener('error', () => reject(new ApiError({
      status: 0,
      detail: 'The upload to file storage did not go through (the network failed, or the storage does not accept uploads from this page). Check your connection and retry.',
    })));
    xhr.addEventListener('abort', () => reject(new ApiError({ status: 0, detail: 'The upload was cancelled.' })));
    xhr.send(job.file);
  });
}

/**
 * The row of an upload in "This session's uploads".
 * @param {UploadJob} job
 */
export function uploadRow(job) {
  const progress = h('progress', { max: '1', value: '0', 'aria-label': `Upload of ${job.filename}` });
  const el = h('li', { class: 'upload', 'data-upload': job.filename },
    h('div', { class: 'thumb thumb-small', 'data-state': 'uploading' },
      h('span', { class: 'thumb-glyph', 'aria-hidden': 'true' })),
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
        type: 'button', class: 'button button-small retry', hidden: true,
        onclick: () => retryUpload(job),
      }, 'Retry', h('span', { class: 'visually-hidden', text: ` ${job.filename}` })),
      h('button', {
        type: 'button', class: 'button button-small open-photo', hidden: true,
        onclick: (event) => openDetail(job.photoId, event.currentTarget),
      }, 'Details', h('span', { class: 'visually-hidden', text: ` of ${job.filename}` }))));
  return el;
}

function drawProgress(job) {
  const progress = $('progress', job.el);
  progress.value = job.progress;
  $('.upload-percent', job.el).textContent = `${Math.round(job.progress * 100)}%`;
}

function drawJobError(job) {
  const note = $('.upload-error', job.el);
  note.hidden = !job.error;
  note.textContent = job.error ? errorText(job.error) : '';
  $('.retry', job.el).hidden = !job.error;
}

function retryUpload(job) {
  if (job.state !== 'error') return;
  const productId = $('#product-id').value.trim();
  if (!job.photoId && productId && productId !== job.productId) {
    // Nothing was registered yet, and the product id has been corrected since: use it, under a
    // new key (the old key belongs to the old body).
    job.productId = productId;
    job.idempotencyKey = crypto.randomUUID();
  }
  job.state = 'queued';
  $('.retry', job.el).hidden = true;
  setJobState(job, 'queued', 'Waiting to start…');
  uploads.queue.push(job);
  pumpUploads();
  // The Retry button just hid itself: keep focus on the row it belonged to.
  job.el.tabIndex = -1;
  job.el.focus();
}

/**
 * The photo part of an upload row: thumbnail, status, failure reason, details button.
 * @param {HTMLElement} el
 * @param {import('./photos.js').PhotoRecord} record
 */
export function drawUploadPhoto(el, record) {
  if (el.dataset.uploadState === 'done') drawThumb($('.thumb', el), record);
  drawStatus($('.upload-photo-status', el), record);
  $('.open-photo', el).hidden = record.photo.status === 'deleted';
  el.classList.toggle('is-settled', isSettled(record.photo.photo_id));
}

export function drawUploadSummary() {
  const jobs = uploads.jobs;
  if (!jobs.length) {
    $('#uploads-summary').textContent = '';
    return;
  }
  const done = jobs.filter((j) => j.state === 'done').length;
  const failed = jobs.filter((j) => j.state === 'error').length;
  const parts = [`${integerFormat.format(done)} of ${plural(jobs.length, 'photo', 'photos')} uploaded`];
  if (failed) parts.push(`${integerFormat.format(failed)} stopped`);
  const text = `${parts.join(', ')}.`;
  // A live region: only a real change is announced.
  if ($('#uploads-summary').textContent !== text) $('#uploads-summary').textContent = text;
}

function clearFinishedUploads() {
  uploads.jobs = uploads.jobs.filter((job) => {
    const finished = job.state === 'done' && (!job.photoId || isSettled(job.photoId));
    if (finished) job.el.remove();
    return !finished;
  });
  $('#uploads').hidden = uploads.jobs.length === 0;
  drawUploadSummary();
  if ($('#uploads').hidden) $('#files').focus();
}

/** "Clear finished". */
export function wireUploads() {
  $('#clear-finished').addEventListener('click', clearFinishedUploads);
}
