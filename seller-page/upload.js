// The uploads under way: each file is hashed, registered (POST /v1/photos), PUT to its
// presigned address with progress, and confirmed, at most three at a time. A running upload
// can be cancelled (its requests aborted, the photo it declared removed) and retried; Retry
// after a failure picks up where the upload stopped. Which files to upload comes from
// upload-form.js; their rows are drawn by upload-row.js.

import { $ } from './dom.js';
import { messages, showFieldErrors } from './messages.js';
import { ApiError, api, asApiError, isAbort, photoPath } from './api.js';
import { applyLocally, redraw, store } from './photos.js';
import { watch } from './polling.js';
import { inventory } from './inventory.js';
import { productView } from './product-view.js';
import { drawJobState, drawProgress, drawUploadSummary } from './upload-row.js';

const MAX_CONCURRENT_UPLOADS = 3;

/**
 * One file on its way: what it is sent as, and how far it got (so Retry resumes there).
 * @typedef {object} UploadJob
 * @property {File} file
 * @property {string} filename
 * @property {string} contentType
 * @property {string} productId
 * @property {string | null} caption
 * @property {string[]} tags
 * @property {string} idempotencyKey one per registration: a retry gets the same photo
 * @property {'queued' | 'hashing' | 'declaring' | 'uploading' | 'completing' | 'done' | 'error' | 'cancelled'} state
 * @property {string} step the state in words, shown in the row
 * @property {number} progress 0 to 1
 * @property {string | null} checksum
 * @property {string | null} photoId
 * @property {import('./types.js').UploadTarget | null} upload
 * @property {boolean} uploaded
 * @property {ApiError | null} error
 * @property {string | null} previewUrl the file's object URL, until the photo's thumbnail shows
 * @property {AbortController | null} controller aborts the running step (Cancel)
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
    const job = /** @type {UploadJob} */ (uploads.queue.shift());
    uploads.active += 1;
    runUpload(job).finally(() => {
      uploads.active -= 1;
      drawUploadSummary();
      pumpUploads();
    });
  }
}

/**
 * @param {UploadJob} job
 * @param {UploadJob['state']} state
 * @param {string} step
 */
function setJobState(job, state, step) {
  job.state = state;
  job.step = step;
  drawJobState(job);
}

/** @param {UploadJob} job */
async function runUpload(job) {
  job.error = null;
  const controller = new AbortController();
  job.controller = controller;
  const { signal } = controller;
  try {
    if (!job.checksum) {
      setJobState(job, 'hashing', 'Checking the file…');
      job.checksum = await sha256Hex(job.file);
      signal.throwIfAborted();
    }
    const expired = job.upload && Date.parse(job.upload.expires_at) - 30_000 < Date.now();
    if (!job.photoId || (expired && !job.uploaded)) {
      const abandoned = job.photoId;
      if (abandoned) job.idempotencyKey = crypto.randomUUID(); // the old key would answer the expired URL again
      setJobState(job, 'declaring', 'Registering the photo…');
      /** @type {import('./types.js').NewPhoto} */
      const body = {
        product_id: job.productId,
        filename: job.filename,
        content_type: job.contentType,
        size_bytes: job.file.size,
        checksum_sha256: job.checksum,
      };
      if (job.caption) body.caption = job.caption;
      if (job.tags.length) body.tags = job.tags;
      /** @type {import('./types.js').CreatedPhoto} */
      const created = await api('write', '/v1/photos', {
        method: 'POST', json: body, idempotencyKey: job.idempotencyKey, signal,
      });
      signal.throwIfAborted();
      const photoId = created.photo_id;
      job.photoId = photoId;
      job.upload = created.upload;
      const now = new Date().toISOString();
      store.set(photoId, {
        filename: job.filename,
        confirmed: false,
        photo: {
          photo_id: photoId, product_id: job.productId, seller_id: '', caption: job.caption, tags: job.tags,
          status: created.status ?? 'pending_upload', failure_reason: null, variants: {}, srcset: {},
          content_type: job.contentType, created_at: now, updated_at: now, version: created.version,
        },
      });
      job.el.dataset.photoId = photoId;
      redraw(photoId);
      if (abandoned) {
        // The first registration's upload address expired unused: remove that empty photo.
        api('write', photoPath(abandoned), { method: 'DELETE' }).catch(() => {});
      }
    }
    if (!job.uploaded) {
      setJobState(job, 'uploading', 'Uploading…');
      await putFile(job, signal);
      job.uploaded = true;
    }
    // The file is stored: S3's report records it even without us, so there is no cancelling now.
    setJobState(job, 'completing', 'Finishing the upload…');
    const photoId = /** @type {string} */ (job.photoId);
    /** @type {import('./types.js').PhotoSummary} */
    const done = await api('write', photoPath(photoId, '/upload-complete'), { method: 'POST' });
    job.progress = 1;
    drawProgress(job);
    setJobState(job, 'done', 'Uploaded.');
    applyLocally(photoId, { status: done.status ?? 'uploaded' }, done.version);
    inventory.addNew(photoId);
    productView.photoAdded(job.productId);
    watch(photoId);
  } catch (e) {
    if (job.state === 'cancelled' || isAbort(e)) return; // cancelUpload said so already
    const error = asApiError(e);
    if (error.handled) {
      setJobState(job, 'error', 'Stopped: signed out.');
      return;
    }
    job.error = error;
    setJobState(job, 'error', 'Upload stopped.');
    if (error.status === 422) {
      showFieldErrors(error.errors, { product_id: 'product-id', caption: 'upload-caption', tags: 'upload-tags' });
    }
    messages.error(error, job.filename, { key: `upload:${job.idempotencyKey}` });
  } finally {
    if (job.controller === controller) job.controller = null;
  }
}

/**
 * PUT to the presigned URL with XMLHttpRequest, for its upload progress events; `signal`
 * aborts it.
 * @param {UploadJob} job
 * @param {AbortSignal} signal
 * @returns {Promise<void>}
 */
function putFile(job, signal) {
  const { url, headers = {}, method = 'PUT' } = /** @type {import('./types.js').UploadTarget} */ (job.upload);
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new DOMException('The upload was cancelled.', 'AbortError'));
      return;
    }
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
      signal.removeEventListener('abort', onAbort);
      // 412: the address writes once and an earlier attempt already stored the file.
      if ((xhr.status >= 200 && xhr.status < 300) || xhr.status === 412) {
        resolve();
        return;
      }
      const s3Message = /<Message>([^<]*)<\/Message>/.exec(xhr.responseText ?? '')?.[1];
      const expired = /expired/i.test(xhr.responseText ?? '');
      if (expired && job.upload) job.upload.expires_at = new Date(0).toISOString();
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
    xhr.addEventListener('abort', () => reject(new DOMException('The upload was cancelled.', 'AbortError')));
    const onAbort = () => xhr.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    xhr.send(job.file);
  });
}

/**
 * Cancel: a queued upload leaves the queue; a running one has its request aborted, and the
 * photo it had declared (still without its file) is deleted, so nothing is left behind. The
 * row says "Cancelled" and offers Retry.
 * @param {UploadJob} job
 */
export function cancelUpload(job) {
  if (!['queued', 'hashing', 'declaring', 'uploading'].includes(job.state)) return;
  uploads.queue = uploads.queue.filter((queued) => queued !== job);
  job.controller?.abort();
  job.progress = 0;
  drawProgress(job);
  const declared = job.photoId;
  if (declared && !job.uploaded) {
    api('write', photoPath(declared), { method: 'DELETE' }).catch(() => {});
    applyLocally(declared, { status: 'deleted' });
    inventory.remove(declared);
    productView.remove(declared);
    delete job.el.dataset.photoId;
    delete job.el.dataset.status;
    $('.upload-photo-status', job.el).replaceChildren();
    // A retry declares the photo anew, under a new key (the old one answers the deleted photo).
    job.photoId = null;
    job.upload = null;
    job.idempotencyKey = crypto.randomUUID();
  }
  setJobState(job, 'cancelled', 'Cancelled.');
  $('.retry', job.el).focus();
  messages.show('info', `The upload of ${job.filename} was cancelled.`, { key: `upload:${job.idempotencyKey}` });
}

/**
 * Retry a failed or cancelled upload: back in the queue, resuming where it stopped.
 * @param {UploadJob} job
 */
export function retryUpload(job) {
  if (job.state !== 'error' && job.state !== 'cancelled') return;
  const productId = $('#product-id').value.trim();
  if (!job.photoId && productId && productId !== job.productId) {
    // Nothing was registered yet, and the product id has been corrected since: use it, under a
    // new key (the old key belongs to the old body).
    job.productId = productId;
    job.idempotencyKey = crypto.randomUUID();
  }
  job.error = null;
  setJobState(job, 'queued', 'Waiting to start…');
  uploads.queue.push(job);
  // The Retry button just hid itself: focus moves to Cancel, which took its place.
  $('.cancel-upload', job.el).focus();
  pumpUploads();
}
