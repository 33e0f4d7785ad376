// The photo's history in the detail dialog: its events from the event store, a page at a time
// (`after`/`next_after`); for each, the photo as it was right after it (`GET
// /v1/photos/{id}?as_of=`), and for each change of its description, bringing that description
// back (`POST /v1/photos/{id}/restore`, a new event).

import { $, h } from './dom.js';
import { timeElement } from './format.js';
import { errorText, messages } from './messages.js';
import { api, asApiError, photoPath } from './api.js';
import { detail, refreshDetail } from './detail.js';

/** Where the history continues, and whether a page is loading. */
const history = {
  /** @type {number | null} */
  after: null,
  loading: false,
};

/** Events that set the photo's caption, alt text or tags: their version can be restored. */
const DESCRIBING = new Set(['PhotoUploadRequested', 'PhotoDetailsUpdated']);

/** @type {Record<string, string>} */
const EVENT_LABELS = {
  PhotoUploadRequested: 'Upload requested',
  PhotoUploaded: 'Original uploaded',
  PhotoProcessingStarted: 'Processing started',
  PhotoProcessed: 'Processed: sizes ready',
  PhotoFormatAdded: 'Lighter format made',
  PhotoFormatsRequested: 'Lighter formats requested',
  PhotoProcessingFailed: 'Processing failed',
  PhotoDetailsUpdated: 'Description changed',
  PhotoDeleted: 'Deleted',
  PhotoReprocessRequested: 'Reprocessing requested',
  PhotoWebhookDelivered: 'Webhook delivered',
  PhotoWebhookGaveUp: 'Webhook given up',
};

/** @param {unknown} type */
function eventLabel(type) {
  return EVENT_LABELS[String(type)] ?? String(type ?? 'Event').replace(/^Photo/, '').replace(/([a-z])([A-Z])/g, '$1 $2');
}

/** Empties the history for the photo the dialog opens on. */
export function resetHistory() {
  $('#history-list').replaceChildren();
  $('#history-more').hidden = true;
  closeAsOf();
  history.after = null;
}

/** @param {boolean} reset from the first event again */
export async function loadHistory(reset) {
  const id = detail.id;
  if (!id || history.loading) return;
  history.loading = true;
  const list = $('#history-list');
  const state = $('#history-state');
  if (reset) history.after = null;
  state.textContent = 'Loading the history…';
  $('#history-more').hidden = true;
  try {
    const params = new URLSearchParams({ limit: '50' });
    if (history.after != null) params.set('after', String(history.after));
    /** @type {import('./types.js').History} */
    const page = await api('write', `${photoPath(id, '/history')}?${params}`);
    if (detail.id !== id) return;
    const events = Array.isArray(page.events) ? page.events : [];
    if (reset) list.replaceChildren();
    list.append(...events.map(historyItem));
    history.after = page.next_after ?? null;
    $('#history-more').hidden = history.after == null;
    state.textContent = list.children.length ? '' : 'No events yet.';
  } catch (error) {
    if (detail.id !== id) return;
    state.textContent = asApiError(error).handled ? '' : `The history could not be loaded: ${errorText(error)}`;
    if (history.after != null) $('#history-more').hidden = false;
  } finally {
    history.loading = false;
  }
}

/**
 * An event of the history, with its actions.
 * @param {import('./types.js').HistoryEvent} event
 */
function historyItem(event) {
  const label = eventLabel(event.event_type);
  const reason = /** @type {{reason?: unknown}} */ (event.payload)?.reason;
  const when = event.occurred_at ? timeElement(event.occurred_at, true) : null;
  const actions = h('div', { class: 'history-actions' },
    event.occurred_at
      ? h('button', {
        type: 'button', class: 'button button-quiet button-small', 'data-as-of': event.occurred_at,
        text: 'As it was then', 'aria-label': `Show the photo as it was after “${label}” (#${event.sequence})`,
      })
      : null,
    DESCRIBING.has(event.event_type) && event.sequence != null
      ? h('button', {
        type: 'button', class: 'button button-quiet button-small', 'data-restore': String(event.sequence),
        text: 'Restore this description',
        'aria-label': `Restore the caption, alt text and tags of version ${event.sequence}`,
      })
      : null);
  return h('li', { class: `history-item history-${String(event.event_type ?? '').toLowerCase()}` },
    h('div', { class: 'history-line' },
      h('span', { class: 'history-type', text: label }),
      when,
      event.sequence != null ? h('span', { class: 'muted small', text: `#${event.sequence}` }) : null),
    typeof reason === 'string' ? h('p', { class: 'history-note', text: reason }) : null,
    actions,
    h('details', {},
      h('summary', {}, 'Event data', h('span', { class: 'visually-hidden', text: ` of “${label}”` })),
      h('pre', { class: 'json' }, h('code', { text: JSON.stringify(event.payload ?? null, null, 2) }))));
}

function closeAsOf() {
  const view = $('#as-of-view');
  view.hidden = true;
  view.replaceChildren();
}

/**
 * Shows the photo as it was at `moment`, from the event store.
 * @param {string} moment RFC 3339
 */
async function showAsOf(moment) {
  const id = detail.id;
  if (!id) return;
  const view = $('#as-of-view');
  try {
    /** @type {import('./types.js').PhotoView} */
    const photo = await api('write', `${photoPath(id)}?${new URLSearchParams({ as_of: moment })}`);
    if (detail.id !== id) return;
    /**
     * @param {string} name
     * @param {string} value
     */
    const fact = (name, value) => h('div', {}, h('dt', { text: name }), h('dd', { text: value }));
    const none = '(none)';
    view.replaceChildren(
      h('h4', { id: 'as-of-title', tabindex: '-1' }, 'As it was on ', timeElement(moment, true)),
      h('dl', { class: 'facts' },
        fact('Status', String(photo.status ?? '')),
        fact('Caption', photo.caption || none),
        fact('Alt text', photo.alt_text || none),
        fact('Tags', (photo.tags ?? []).join(', ') || none),
        fact('Version', String(photo.version ?? ''))),
      h('button', { type: 'button', class: 'button button-quiet', id: 'close-as-of', text: 'Close this view' }));
    view.hidden = false;
    $('#close-as-of').addEventListener('click', () => {
      closeAsOf();
      $('#history-title').focus();
    });
    $('#as-of-title').focus();
  } catch (error) {
    if (detail.id !== id) return;
    messages.error(error, 'The photo as it was could not be shown', { key: `as-of:${id}` });
  }
}

/**
 * Brings back the caption, alt text and tags of `version`, as a new event.
 * @param {number} version
 */
async function restore(version) {
  const id = detail.id;
  if (!id || detail.busy) return;
  detail.busy = true;
  try {
    await api('write', photoPath(id, '/restore'), { method: 'POST', json: { version } });
    if (detail.id !== id) return;
    messages.show('success', `Description of version ${version} restored.`, { key: `restore:${id}` });
    await refreshDetail(id);
    loadHistory(true);
  } catch (error) {
    messages.error(error, 'Not restored', { key: `restore:${id}` });
  } finally {
    detail.busy = false;
  }
}

/** "Show later events", and the actions of each event (delegated from the list). */
export function wireHistory() {
  $('#history-more').addEventListener('click', () => loadHistory(false));
  $('#history-list').addEventListener('click', (/** @type {MouseEvent} */ event) => {
    const target = event.target instanceof Element ? event.target.closest('button') : null;
    if (!target) return;
    const moment = target.getAttribute('data-as-of');
    if (moment) showAsOf(moment);
    const version = target.getAttribute('data-restore');
    if (version) restore(Number(version));
  });
}
