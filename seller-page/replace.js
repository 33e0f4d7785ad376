// Replacing a photo's image from its detail dialog: the chosen file is checked (SHA-256),
// declared (`POST /v1/photos/{id}/replace`), PUT to the address the answer gives and recorded
// (`upload-complete`). The photo keeps showing its current image until the new one is ready.

import { $ } from './dom.js';
import { messages } from './messages.js';
import { ApiError, api, photoPath } from './api.js';
import { browserMaySet, sha256Hex } from './upload.js';
import { detail, refreshDetail } from './detail.js';
import { loadHistory } from './history.js';

/** @param {File} file */
async function replaceWith(file) {
  const id = detail.id;
  if (!id || detail.busy) return;
  detail.busy = true;
  const key = `replace:${id}`;
  try {
    messages.show('info', `Uploading ${file.name}…`, { key });
    const body = {
      filename: file.name,
      content_type: file.type || 'application/octet-stream',
      size_bytes: file.size,
      checksum_sha256: await sha256Hex(file),
    };
    const created = await api('write', photoPath(id, '/replace'), { method: 'POST', json: body, idempotencyKey: crypto.randomUUID() });
    const { url, headers = {}, method = 'PUT' } = created.upload;
    const sent = await fetch(url, {
      method,
      headers: Object.fromEntries(Object.entries(headers).filter(([name]) => browserMaySet(name))),
      body: file,
    });
    if (!sent.ok && sent.status !== 412) {
      throw new ApiError({ status: sent.status, detail: `The file storage refused the upload (${sent.status}).` });
    }
    await api('write', photoPath(id, '/upload-complete'), { method: 'POST' });
    messages.show('success', 'New image uploaded. It replaces the current one as soon as it is processed.', { key });
    if (detail.id === id) {
      await refreshDetail(id);
      loadHistory(true);
    }
  } catch (error) {
    messages.error(error, 'Not replaced', { key });
  } finally {
    detail.busy = false;
  }
}

export function wireReplace() {
  const input = /** @type {HTMLInputElement} */ ($('#replace-file'));
  input.addEventListener('change', () => {
    const file = input.files?.[0];
    input.value = '';
    if (file) replaceWith(file);
  });
}
