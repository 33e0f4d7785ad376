// Messages: the one live region (#messages) where errors and confirmations appear (errors stay
// until dismissed; confirmations fade out), the plain words for an error, and 422 field errors
// shown next to their inputs. Every part of the page reports through here, so repeats merge
// and the region can follow the user into the dialog.

import { $, h } from './dom.js';
import { plural, sentence } from './format.js';
import { ApiError, asApiError } from './api.js';

/** @typedef {import('./types.js').FieldError} FieldError */

/** @type {Record<string, string>} */
const FIELD_NAMES = {
  product_id: 'Product id', filename: 'File name', content_type: 'File type', size_bytes: 'File size',
  checksum_sha256: 'Checksum', caption: 'Caption', tags: 'Tags', alt_text: 'Alt text', body: 'Request',
  callback_url: 'Callback URL', photo_ids: 'Photos',
};

/**
 * One message shown.
 * @typedef {object} MessageItem
 * @property {'error' | 'success' | 'info'} kind
 * @property {number} count
 * @property {HTMLElement} el
 * @property {HTMLElement} textEl
 * @property {HTMLElement} countEl
 * @property {ReturnType<typeof setTimeout> | undefined} timer
 */

/** @typedef {{fields?: FieldError[], key?: string, timeout?: number}} MessageOptions */

export const messages = {
  /** The live region; app.js sets it before anything is shown. @type {HTMLElement} */
  region: document.createElement('div'),
  /** @type {Map<string, MessageItem>} */
  items: new Map(),

  /**
   * kind: 'error' | 'success' | 'info'. `key` merges repeats of the same message.
   * @param {'error' | 'success' | 'info'} kind
   * @param {string} text
   * @param {MessageOptions} [options]
   */
  show(kind, text, { fields = [], key = `${kind}:${text}`, timeout } = {}) {
    let existing = this.items.get(key);
    if (existing && existing.kind !== kind) {
      // A newer outcome of the same thing (an error, then success) replaces the old one.
      this.dismiss(key);
      existing = undefined;
    }
    if (existing) {
      existing.count += 1;
      existing.countEl.textContent = ` (${existing.count} times)`;
      existing.textEl.textContent = text;
      this.region.append(existing.el);
      this.arm(key, existing, kind, timeout);
      return;
    }
    const label = { error: 'Problem:', success: 'Done:', info: 'Note:' }[kind] ?? '';
    const textEl = h('span', { text });
    const countEl = h('span', { class: 'message-count' });
    /** @type {MessageItem} */
    const item = {
      kind, count: 1, textEl, countEl, timer: undefined,
      el: h('div', { class: `message message-${kind}` },
        h('div', { class: 'message-text' },
          h('p', {}, h('strong', { class: 'message-kind', text: label }), ' ', textEl, countEl),
          fields.length ? h('ul', { class: 'message-fields' },
            fields.map((f) => h('li', { text: `${FIELD_NAMES[f.field] ?? f.field}: ${f.message}` }))) : null),
        h('button', {
          type: 'button', class: 'message-dismiss', 'aria-label': 'Dismiss message',
          onclick: () => this.dismiss(key),
        }, h('span', { 'aria-hidden': 'true', text: '×' }))),
    };
    this.items.set(key, item);
    this.region.append(item.el);
    this.arm(key, item, kind, timeout);
    // Keep the stack short: the oldest messages give way.
    while (this.items.size > 4) this.dismiss(/** @type {string} */ (this.items.keys().next().value));
  },

  /**
   * Starts the timer that dismisses a message (errors stay until dismissed).
   * @param {string} key
   * @param {MessageItem} item
   * @param {'error' | 'success' | 'info'} kind
   * @param {number | undefined} timeout
   */
  arm(key, item, kind, timeout) {
    clearTimeout(item.timer);
    const ms = timeout ?? (kind === 'error' ? 0 : 7000);
    if (ms > 0) item.timer = setTimeout(() => this.dismiss(key), ms);
  },

  /** @param {string} key */
  dismiss(key) {
    const item = this.items.get(key);
    if (!item) return;
    clearTimeout(item.timer);
    const hadFocus = item.el.contains(document.activeElement);
    item.el.remove();
    this.items.delete(key);
    if (hadFocus) (this.region.closest('dialog') ? $('#dialog-title') : $('#main')).focus();
  },

  /**
   * Shows an error from the API client (or any other) in plain words.
   * @param {unknown} error
   * @param {string} [prefix]
   * @param {MessageOptions} [options]
   */
  error(error, prefix = '', options = {}) {
    const problem = asApiError(error);
    if (problem.handled) return; // a 401: the sign-in view already says it
    const text = errorText(error);
    this.show('error', prefix ? `${prefix}: ${text}` : text, { fields: problem.errors, ...options });
  },
};

/**
 * The words for an error, as a sentence.
 * @param {unknown} error
 * @returns {string}
 */
export function errorText(error) {
  if (error instanceof ApiError) {
    let text = sentence(error.detail);
    if (error.status === 429 && error.retryAfter != null) {
      text += ` Try again in ${plural(error.retryAfter, 'second', 'seconds')}.`;
    }
    return text;
  }
  return sentence((error instanceof Error && error.message) || String(error));
}

/**
 * Puts 422 field errors next to the fields they name; returns whether any was placed.
 * @param {FieldError[] | undefined} errors
 * @param {Record<string, string>} fieldIds API field name → input id
 */
export function showFieldErrors(errors, fieldIds) {
  let placed = false;
  for (const { field, message } of errors ?? []) {
    const id = fieldIds[field];
    if (!id) continue;
    setFieldError(id, message);
    placed = true;
  }
  return placed;
}

/**
 * Marks input `inputId` invalid with `message` in its `#<id>-error` note, or clears it (null).
 * @param {string} inputId
 * @param {string | null} message
 */
export function setFieldError(inputId, message) {
  const input = document.getElementById(inputId);
  const note = document.getElementById(`${inputId}-error`);
  if (!input || !note) return;
  if (message) {
    input.setAttribute('aria-invalid', 'true');
    note.textContent = message;
    note.hidden = false;
  } else {
    input.removeAttribute('aria-invalid');
    note.textContent = '';
    note.hidden = true;
  }
}
