// Bulk actions on the photos selected in the inventory: delete (after a confirmation),
// reprocess, add or remove a tag (PATCH of the photo's tags, If-Match the version they were
// read at). Each runs the single-photo calls of docs/API.md four at a time (waiting out a 429
// or 503 once), then says what happened in words in #bulk-summary.

import { $ } from './dom.js';
import { parseTags, plural, sentence } from './format.js';
import { errorText, setFieldError } from './messages.js';
import { ApiError, api, asApiError, photoPath } from './api.js';
import { acceptFromServer, applyLocally, store } from './photos.js';
import { unwatch, watch } from './polling.js';
import { inventory } from './inventory.js';
import { productView } from './product-view.js';
import { settleEach, sleep } from './concurrency.js';
import { drawSelection, hideBulkConfirm, selectedIds, setSelected } from './selection.js';

const CONCURRENCY = 4;
const MAX_TAGS = 20;
const BUTTONS = ['#bulk-delete', '#confirm-bulk-delete', '#bulk-reprocess', '#bulk-add-tag', '#bulk-remove-tag'];

let busy = false;

/** Thrown for a photo left as it was on purpose (it already had the tag, …). */
class Skipped extends Error {}

/**
 * One call, with one more try after the wait a 429 or 503 asks for (up to 10 s).
 * @template T
 * @param {() => Promise<T>} call
 * @returns {Promise<T>}
 */
async function withOneRetry(call) {
  try {
    return await call();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if ((error.status !== 429 && error.status !== 503) || (error.retryAfter ?? 1) > 10) throw error;
    await sleep((error.retryAfter ?? 1) * 1000);
    return call();
  }
}

/**
 * "Deleted 3 photos." / "Reprocessed 2 of 3 photos; 1 could not be: <reason>."
 * @param {string} verb past tense, e.g. "Deleted", or "Added the tag “red” to"
 * @param {number} total
 * @param {{done: number, skipped?: number, skippedWhy?: string, errors: unknown[]}} outcome
 */
function summary(verb, total, { done, skipped = 0, skippedWhy = '', errors }) {
  const parts = [done === total ? `${verb} ${plural(total, 'photo', 'photos')}` : `${verb} ${done} of ${plural(total, 'photo', 'photos')}`];
  if (skipped) parts.push(`${skipped} ${skippedWhy}`);
  if (errors.length) {
    /** @type {Map<string, number>} */
    const reasons = new Map();
    for (const error of errors) {
      const text = errorText(error).replace(/\.$/, '');
      reasons.set(text, (reasons.get(text) ?? 0) + 1);
    }
    const why = reasons.size === 1 ? [...reasons.keys()][0]
      : [...reasons].map(([text, count]) => `${text} (${count})`).join('; ');
    parts.push(`${errors.length} could not be: ${why}`);
  }
  return sentence(parts.join('; '));
}

/**
 * Runs `task` on every selected photo, then writes the summary; returns the outcome.
 * @param {HTMLElement} button the button pressed (its words change while it works)
 * @param {string} busyText
 * @param {(id: string) => Promise<unknown>} task
 * @returns {Promise<{ids: string[], done: string[], skipped: string[], errors: unknown[]} | null>}
 */
async function runBulk(button, busyText, task) {
  if (busy) return null;
  const ids = selectedIds();
  if (!ids.length) return null;
  busy = true;
  const label = button.textContent;
  button.textContent = busyText;
  $('#bulk-bar').setAttribute('aria-busy', 'true');
  for (const selector of BUTTONS) $(selector).setAttribute('aria-disabled', 'true');
  try {
    const results = await settleEach(ids, CONCURRENCY, (id) => withOneRetry(() => task(id)));
    const done = results.filter((r) => r.ok).map((r) => r.item);
    const skipped = results.filter((r) => !r.ok && r.error instanceof Skipped).map((r) => r.item);
    const errors = results.flatMap((r) => (!r.ok && !(r.error instanceof Skipped) ? [r.error] : []));
    if (errors.some((e) => asApiError(e).handled)) return null; // signed out: the sign-in view says so
    return { ids, done, skipped, errors };
  } finally {
    busy = false;
    button.textContent = label;
    $('#bulk-bar').removeAttribute('aria-busy');
    for (const selector of BUTTONS) $(selector).removeAttribute('aria-disabled');
  }
}

/**
 * Shows the outcome in #bulk-summary (a live region), marked when something failed.
 * @param {string} text
 * @param {boolean} failed
 */
function say(text, failed) {
  const box = $('#bulk-summary');
  box.dataset.outcome = failed ? 'partial' : 'done';
  box.textContent = text;
}

async function bulkDelete() {
  const outcome = await runBulk($('#confirm-bulk-delete'), 'Deleting…', async (id) => {
    /** @type {import('./types.js').PhotoSummary} */
    const answer = await api('write', photoPath(id), { method: 'DELETE' });
    unwatch(id);
    applyLocally(id, { status: 'deleted' }, answer.version);
  });
  if (!outcome) return;
  // Focus stays in the list: on "Select all" while rows are left, else the list's heading.
  for (const id of outcome.done) {
    setSelected(id, false);
    inventory.remove(id);
    productView.remove(id);
  }
  hideBulkConfirm(false);
  drawSelection();
  say(summary('Deleted', outcome.ids.length, { done: outcome.done.length, errors: outcome.errors }), outcome.errors.length > 0);
  if (!$('#bulk-bar').hidden) $('#bulk-delete').focus();
  else if (!$('#select-all').disabled) $('#select-all').focus();
  else $('#inventory-title').focus();
}

async function bulkReprocess() {
  const outcome = await runBulk($('#bulk-reprocess'), 'Requesting…', async (id) => {
    /** @type {import('./types.js').PhotoVersion} */
    const answer = await api('write', photoPath(id, '/reprocess'), { method: 'POST' });
    applyLocally(id, { status: 'uploaded', failure_reason: null }, answer.version);
    watch(id);
  });
  if (!outcome) return;
  say(summary('Reprocessed', outcome.ids.length, { done: outcome.done.length, errors: outcome.errors }), outcome.errors.length > 0);
}

/**
 * Adds or removes the tags in #bulk-tag on every selected photo (PATCH of its `tags`, from the
 * tags the page knows it has).
 * @param {'add' | 'remove'} mode
 */
async function bulkTag(mode) {
  setFieldError('bulk-tag', null);
  const tags = parseTags($('#bulk-tag').value);
  if (!tags.length) {
    setFieldError('bulk-tag', `Enter the tag to ${mode}.`);
    $('#bulk-tag').focus();
    return;
  }
  if (tags.some((tag) => tag.length > 50)) {
    setFieldError('bulk-tag', 'A tag is at most 50 characters.');
    $('#bulk-tag').focus();
    return;
  }
  const lower = new Set(tags.map((tag) => tag.toLowerCase()));
  const button = $(mode === 'add' ? '#bulk-add-tag' : '#bulk-remove-tag');
  const outcome = await runBulk(button, mode === 'add' ? 'Adding…' : 'Removing…', async (id) => {
    let photo = store.get(id)?.photo;
    for (let attempt = 1; ; attempt += 1) {
      const current = photo?.tags ?? [];
      const has = new Set(current.map((tag) => tag.toLowerCase()));
      const next = mode === 'add'
        ? [...current, ...tags.filter((tag) => !has.has(tag.toLowerCase()))]
        : current.filter((tag) => !lower.has(tag.toLowerCase()));
      if (next.length === current.length) throw new Skipped();
      if (next.length > MAX_TAGS) throw new Error(`a photo has at most ${MAX_TAGS} tags`);
      // Only over the tags read: a photo changed since (another tab) answers 412.
      /** @type {Record<string, string>} */
      const headers = photo?.version ? { 'If-Match': `"v${photo.version}"` } : {};
      try {
        /** @type {import('./types.js').PhotoVersion} */
        const answer = await api('write', photoPath(id), { method: 'PATCH', json: { tags: next }, headers });
        applyLocally(id, { tags: next }, answer.version);
        watch(id);
        return;
      } catch (error) {
        if (attempt > 1 || !(error instanceof ApiError) || error.status !== 412) throw error;
        // Changed since the page read it: once more from the photo as it is now (event store).
        photo = acceptFromServer(await api('write', photoPath(id))).photo;
      }
    }
  });
  if (!outcome) return;
  const named = tags.map((tag) => `“${tag}”`).join(', ');
  const noun = tags.length === 1 ? 'the tag' : 'the tags';
  const verb = mode === 'add' ? `Added ${noun} ${named} to` : `Removed ${noun} ${named} from`;
  const skippedWhy = mode === 'add' ? 'already had it' : 'did not have it';
  if (!outcome.done.length && !outcome.errors.length) {
    say(`No change: ${mode === 'add' ? 'every selected photo already had' : 'no selected photo had'} ${noun} ${named}.`, false);
    return;
  }
  say(summary(verb, outcome.ids.length, {
    done: outcome.done.length, skipped: outcome.skipped.length, skippedWhy, errors: outcome.errors,
  }), outcome.errors.length > 0);
  if (!outcome.errors.length) $('#bulk-tag').value = '';
}

function showBulkConfirm() {
  if (busy) return;
  $('#bulk-delete-confirm').hidden = false;
  $('#bulk-delete').setAttribute('aria-expanded', 'true');
  $('#bulk-delete-confirm-title').focus();
}

/** The bulk bar's buttons; Escape backs out of the delete confirmation. */
export function wireBulk() {
  $('#bulk-delete').addEventListener('click', showBulkConfirm);
  $('#cancel-bulk-delete').addEventListener('click', () => hideBulkConfirm());
  $('#confirm-bulk-delete').addEventListener('click', bulkDelete);
  $('#bulk-reprocess').addEventListener('click', bulkReprocess);
  $('#bulk-add-tag').addEventListener('click', () => bulkTag('add'));
  $('#bulk-remove-tag').addEventListener('click', () => bulkTag('remove'));
  $('#bulk-tag').addEventListener('keydown', (/** @type {KeyboardEvent} */ event) => {
    if (event.key === 'Enter') {
      event.preventDefault();
      bulkTag('add');
    }
  });
  $('#bulk-delete-confirm').addEventListener('keydown', (/** @type {KeyboardEvent} */ event) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      hideBulkConfirm();
    }
  });
}
