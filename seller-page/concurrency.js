// Running many requests a few at a time: a counting semaphore (status polling, product photos)
// and a settled map over a list (bulk actions), so no part of the page floods an API.

/**
 * A counting semaphore: at most `limit` callers hold a slot at once.
 * @param {number} limit
 * @returns {<T>(task: () => Promise<T>) => Promise<T>}
 */
export function limiter(limit) {
  let active = 0;
  /** @type {Array<() => void>} */
  const waiting = [];
  return async function run(task) {
    if (active >= limit) await new Promise((/** @type {(value?: unknown) => void} */ resolve) => waiting.push(resolve));
    active += 1;
    try {
      return await task();
    } finally {
      active -= 1;
      waiting.shift()?.();
    }
  };
}

/**
 * @template T, R
 * @typedef {{item: T, ok: true, value: R} | {item: T, ok: false, error: unknown}} Settled
 */

/**
 * `task` for every item, at most `limit` at once; every outcome, in the items' order.
 * @template T, R
 * @param {T[]} items
 * @param {number} limit
 * @param {(item: T) => Promise<R>} task
 * @returns {Promise<Settled<T, R>[]>}
 */
export async function settleEach(items, limit, task) {
  const run = limiter(limit);
  return Promise.all(items.map((item) => run(() => task(item)).then(
    (value) => /** @type {Settled<T, R>} */ ({ item, ok: true, value }),
    (error) => /** @type {Settled<T, R>} */ ({ item, ok: false, error }),
  )));
}

/**
 * Resolves after `ms` milliseconds.
 * @param {number} ms
 * @returns {Promise<void>}
 */
export const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });
