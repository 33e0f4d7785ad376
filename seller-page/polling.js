// Status polling: each photo not settled yet (or ready but still awaiting its AVIF variants) is
// read again from the read API, every 0.5 s at first backing off to 5 s, at most four reads at
// once, paused while the tab is hidden. It is how uploads, edits and reprocessing show their
// outcome on the page without a reload.

import { photoSelector } from './dom.js';
import { plural, sentence } from './format.js';
import { messages } from './messages.js';
import { api, asApiError, photoPath } from './api.js';
import { limiter } from './concurrency.js';
import { acceptFromServer, applyLocally, store, worthPolling } from './photos.js';
import { detail } from './detail.js';

const MAX_CONCURRENT_POLLS = 4;
const POLL_FIRST_MS = 500;
const POLL_MAX_MS = 5000;

/**
 * Resolves once the tab is visible (at once if it is).
 * @returns {Promise<void>}
 */
function whenVisible() {
  if (!document.hidden) return Promise.resolve();
  return new Promise((resolve) => {
    const onChange = () => {
      if (!document.hidden) {
        document.removeEventListener('visibilitychange', onChange);
        resolve();
      }
    };
    document.addEventListener('visibilitychange', onChange);
  });
}

/**
 * @typedef {object} Poller
 * @property {string} id
 * @property {number} delay the next wait, in milliseconds
 * @property {ReturnType<typeof setTimeout> | null} timer
 * @property {boolean} seen whether the read API has listed the photo
 * @property {number} started
 * @property {boolean} waitingNoted
 * @property {boolean} [stopped]
 */

/** id → its poller. @type {Map<string, Poller>} */
export const pollers = new Map();
const pollSlot = limiter(MAX_CONCURRENT_POLLS);

/**
 * Reads photo `id` again until it is settled; `soon: false` for a photo just listed.
 * @param {string} id
 * @param {{soon?: boolean}} [options]
 */
export function watch(id, { soon = true } = {}) {
  const existing = pollers.get(id);
  if (existing) {
    if (soon) {
      existing.delay = POLL_FIRST_MS;
      schedule(existing, POLL_FIRST_MS);
    }
    return;
  }
  // A photo just read from the listing is fresh: its first check can wait a little.
  const first = soon ? POLL_FIRST_MS : 2000;
  const poller = {
    id, delay: first, timer: null, seen: store.get(id)?.confirmed ?? false, started: Date.now(), waitingNoted: false,
  };
  pollers.set(id, poller);
  schedule(poller, first);
}

/**
 * @param {Poller} poller
 * @param {number} ms
 */
function schedule(poller, ms) {
  if (poller.timer) clearTimeout(poller.timer);
  poller.timer = setTimeout(() => tick(poller), ms);
}

/** @param {string} id */
export function unwatch(id) {
  const poller = pollers.get(id);
  if (!poller) return;
  if (poller.timer) clearTimeout(poller.timer);
  poller.stopped = true;
  pollers.delete(id);
}

/** @param {Poller} poller */
async function tick(poller) {
  if (poller.stopped) return;
  // Nothing on the page shows it any more (filter changed, row cleared): stop.
  if (!document.querySelector(photoSelector(poller.id)) && detail.id !== poller.id) {
    unwatch(poller.id);
    return;
  }
  if (!worthPolling(poller.id)) {
    unwatch(poller.id);
    return;
  }
  await whenVisible();
  let next = Math.min(poller.delay * 1.5, POLL_MAX_MS);
  try {
    /** @type {import('./types.js').PhotoView} */
    const photo = await pollSlot(() => api('read', photoPath(poller.id)));
    if (poller.stopped) return;
    poller.seen = true;
    acceptFromServer(photo);
    messages.dismiss('poll:network');
    if (!worthPolling(poller.id)) {
      unwatch(poller.id);
      return;
    }
  } catch (e) {
    const error = asApiError(e);
    if (poller.stopped || error.handled) return;
    if (error.status === 404) {
      if (poller.seen) {
        // It was there and is gone: deleted (here or elsewhere).
        applyLocally(poller.id, { status: 'deleted' });
        unwatch(poller.id);
        return;
      }
      // Not in the read model yet: it catches up within moments.
      if (!poller.waitingNoted && Date.now() - poller.started > 60_000) {
        poller.waitingNoted = true;
        messages.show('info', 'The catalog is taking longer than usual to list a new photo. Its status keeps updating here.', { key: 'poll:slow' });
      }
    } else if (error.status === 429 || error.status === 503) {
      const seconds = error.retryAfter ?? 5;
      next = seconds * 1000;
      if (error.status === 429) {
        messages.show('error', `${sentence(error.detail)} Status checks resume in ${plural(seconds, 'second', 'seconds')}.`, { key: 'poll:429' });
      }
    } else if (error.network) {
      next = POLL_MAX_MS;
      messages.show('error', 'Could not reach the catalog to check photo status. Checks continue by themselves.', { key: 'poll:network' });
    } else {
      next = POLL_MAX_MS;
      messages.show('error', `Checking a photo's status failed: ${sentence(error.detail)}`, { key: `poll:${error.status}` });
    }
  }
  poller.delay = next;
  schedule(poller, next);
}

/** Checks every watched photo as soon as the tab is visible again. */
export function wirePolling() {
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) return;
    for (const poller of pollers.values()) schedule(poller, 0);
  });
}
