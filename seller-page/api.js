// The API client: the page's settings (config.json beside the page: the two APIs and how to
// sign in), and one fetch wrapper for both APIs that sends the bearer token, reads JSON and
// turns problem+json answers into ApiError. A 401 ends the session here, for every caller.

import { auth } from './auth.js';

/**
 * The page's settings, as the rest of the page uses them (URLs without a trailing slash).
 * @typedef {object} Config
 * @property {string} writeApi
 * @property {string} readApi
 * @property {{kind: 'token' | 'cognito', domain: string, client_id?: string, redirect_uri?: string,
 *   logout_uri?: string, scopes: string[]}} auth
 */

/**
 * The settings once read; null before that, or when they could not be read.
 * @type {Config | null}
 */
export let config = null;

/**
 * Reads config.json beside the page into `config`.
 * @returns {Promise<Config>}
 */
export async function loadConfig() {
  let response;
  try {
    response = await fetch('config.json', { cache: 'no-cache', credentials: 'same-origin' });
  } catch {
    throw new Error("The page's settings (config.json) could not be fetched: the network is not answering.");
  }
  if (!response.ok) {
    throw new Error(`The page's settings (config.json) could not be read: ${response.status} ${response.statusText}.`);
  }
  let value;
  try {
    value = await response.json();
  } catch {
    throw new Error("The page's settings (config.json) are not valid JSON.");
  }
  /** @param {unknown} url */
  const trim = (url) => String(url ?? '').replace(/\/+$/, '');
  const auth = value?.auth ?? {};
  if (!value?.write_api || !value?.read_api || !['token', 'cognito'].includes(auth.kind)) {
    throw new Error("The page's settings (config.json) need write_api, read_api and auth.kind (token or cognito).");
  }
  if (auth.kind === 'cognito' && !(auth.domain && auth.client_id && auth.redirect_uri)) {
    throw new Error("The page's settings (config.json) need auth.domain, auth.client_id and auth.redirect_uri for Cognito.");
  }
  config = {
    writeApi: trim(value.write_api),
    readApi: trim(value.read_api),
    auth: { ...auth, domain: trim(auth.domain), scopes: auth.scopes ?? ['openid'] },
  };
  return config;
}

/**
 * Seconds from a Retry-After header (delta-seconds or an HTTP date), or null.
 * @param {string | null} value
 */
function parseRetryAfter(value) {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.round((date - Date.now()) / 1000));
}

/** An API's refusal (problem+json), or `status` 0 when it could not be reached. */
export class ApiError extends Error {
  /**
   * @param {{status: number, detail: string, title?: string, type?: string, errors?: unknown,
   *   retryAfter?: number | null, handled?: boolean}} problem
   */
  constructor({ status, detail, title, type, errors, retryAfter, handled = false }) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.title = title;
    this.type = type;
    /** @type {import('./types.js').FieldError[]} */
    this.errors = Array.isArray(errors) ? errors : [];
    this.retryAfter = retryAfter ?? null;
    this.network = status === 0;
    /** Already shown to the user (a 401 shows the sign-in view): callers say nothing more. */
    this.handled = handled;
  }

  /**
   * The stable code of the problem (`product-owned`, `busy`, …), or '' for none.
   * @returns {string}
   */
  get code() {
    return (this.type ?? '').replace(/^urn:photo-catalog:problem:/, '');
  }
}

/**
 * Whether `error` is a request this page cancelled itself (AbortController).
 * @param {unknown} error
 */
export function isAbort(error) {
  return error instanceof DOMException && error.name === 'AbortError';
}

/**
 * Any error as an ApiError, for code that reads its status and words: an ApiError as it is,
 * anything else (a sign-out, a bug) with its message and status -1.
 * @param {unknown} error
 * @returns {ApiError}
 */
export function asApiError(error) {
  if (error instanceof ApiError) return error;
  const handled = typeof error === 'object' && error !== null && 'handled' in error && error.handled === true;
  const detail = error instanceof Error ? error.message : String(error);
  return new ApiError({ status: -1, detail, handled });
}

/**
 * @typedef {object} RequestOptions
 * @property {string} [method]
 * @property {unknown} [json] the body, sent as JSON
 * @property {string} [idempotencyKey]
 * @property {Record<string, string>} [headers] more request headers (e.g. If-Match)
 * @property {AbortSignal} [signal]
 */

/**
 * One call to the write or read API, as JSON; throws ApiError (or AbortError).
 * @param {'read' | 'write'} side
 * @param {string} path from `/v1/…`, with its query
 * @param {RequestOptions} [options]
 * @returns {Promise<any>} the answer's JSON (typed by the caller from ./types.js)
 */
export async function api(side, path, options = {}) {
  return (await request(side, path, options)).data;
}

/**
 * As `api`, with the answer's headers too (for its ETag).
 * @param {'read' | 'write'} side
 * @param {string} path
 * @param {RequestOptions} [options]
 * @returns {Promise<{data: any, headers: Headers}>}
 */
export async function request(side, path, { method = 'GET', json, idempotencyKey, headers: extra, signal } = {}) {
  if (!config) throw new ApiError({ status: -1, detail: "The page's settings are not loaded." });
  const base = side === 'read' ? config.readApi : config.writeApi;
  const service = side === 'read' ? 'catalog read API' : 'catalog write API';
  /** @type {Record<string, string>} */
  const headers = {
    Accept: 'application/json, application/problem+json',
    Authorization: `Bearer ${await auth.accessToken()}`,
    ...extra,
  };
  let body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  }
  if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;

  let response;
  try {
    // `no-cache`: a ready photo is public and cacheable for a minute, but this page polls for
    // what changed since; the browser revalidates by ETag, so an unchanged photo costs a 304.
    /** @type {RequestInit} */
    const init = { method, headers, credentials: 'omit', cache: 'no-cache' };
    if (body !== undefined) init.body = body;
    if (signal) init.signal = signal;
    response = await fetch(`${base}${path}`, init);
  } catch (e) {
    if (isAbort(e)) throw e;
    throw new ApiError({
      status: 0,
      detail: `Could not reach the ${service}. Check your connection and try again.`,
    });
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch { /* not JSON */ }
  if (response.ok) return { data: data ?? {}, headers: response.headers };

  const problem = data && typeof data === 'object' ? data : {};
  const error = new ApiError({
    status: response.status,
    detail: problem.detail || problem.title || `The ${service} answered ${response.status} ${response.statusText}.`.replace(/ \./, '.'),
    title: problem.title,
    type: problem.type,
    errors: problem.errors,
    retryAfter: parseRetryAfter(response.headers.get('Retry-After')) ?? (Number.isFinite(problem.retry_after) ? problem.retry_after : null),
  });
  if (response.status === 401) {
    error.handled = true;
    auth.expire(error.detail);
  }
  throw error;
}

/**
 * `/v1/photos/{id}` and what follows it.
 * @param {string} id
 * @param {string} [rest]
 */
export const photoPath = (id, rest = '') => `/v1/photos/${encodeURIComponent(id)}${rest}`;

/**
 * `/v1/products/{product_id}` and what follows it.
 * @param {string} productId
 * @param {string} [rest]
 */
export const productPath = (productId, rest = '') => `/v1/products/${encodeURIComponent(productId)}${rest}`;
