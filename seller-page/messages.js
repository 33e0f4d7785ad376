// Messages: the one live region (#messages) where errors and confirmations appear (errors stay
// until dismissed; confirmations fade out), the plain words for an error, and 422 field errors
// shown next to their inputs. Every part of the page reports through here, so repeats merge
// and the region can follow the user into the dialog.

import { $, h } from './dom.js';
import { plural, sentence } from './format.js';
import { ApiError } from './api.js';

/** @typedef {{field: string, message: string}} FieldError */

const FIELD_NAMES = {
  product_id: 'Product id', filename: 'File name', content_type: 'File type', size_bytes: 'File size',
  checksum_sha256: 'Checksum', caption: 'Caption', tags: 'Tags', alt_text: 'Alt text', body: 'Request',
  callback_url: 'Callback URL',
};

export const messages = {
  region: null,
  items: new Map(),

  /**
   * kind: 'error' | 'success' | 'info'. `key` merges repeats of the same message.
   * @param {'error' | 'success' | 'info'} kind
   * @param {string} text
   * @param {{fields?: FieldError[], key?: string, timeout?: number}} [options]
   */
  show(kind, text, { fields = [], key = `${kind}:${text}`, timeout } = {}) {
    let existing = this.items.get(key);
    if (existing && existing.kind !== kind) {
      // A newer outcome of the same thing (an error, then success) replaces the old one.
      this.dismiss(key);
      existing = null;
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
    const item = {
      kind, count: 1, textEl, countEl, timer: null,
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
    while (this.items.size > 4) this.dismiss(this.items.keys().next().value);
  },

  arm(key, item, kind, timeout) {
    clearTimeout(item.timer);
    const ms = timeout ?? (kind === 'error' ? 0 : 7000);
    if (ms > 0) item.timer = setTimeout(() => this.dismiss(key), ms);
  },

  dismiss(key) {
    const item = this.items.get(key);
    if (!item) return;
    clearTimeout(item.timer);
    const hadFocus = item.el.contains(document.activeElement);
    item.el.remove();
    this.items.delete(key);
    if (hadFocus) (this.region.closest('dialog') ? $('#dialog-title') : $('#main')).focus();
  },

  /** Shows an error from the API client (or any other) in plain words. */
  error(error, prefix = '', options = {}) {
    if (error?.handled) return; // a 401: the sign-in view already says it
    const text = errorText(error);
    this.show('error', prefix ? `${prefix}: ${text}` : text, { fields: error?.errors ?? [], ...options });
  },
};

/**
 * The words for an error, as a sentence.
 * @param {any} error
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
  return sentence(error?.message || String(error));
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
