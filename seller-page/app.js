// The seller inventory page: sign-in, uploads, the inventory and a photo's details, against the
// HTTP contract of the photo catalog (docs/API.md). Plain JavaScript, no dependencies, no
// build step; CSP-friendly (no inline script or handlers, no eval, no inline styles for layout).
//
// Sections, in order: small helpers; messages; settings (config.json); sign-in; the API client;
// the photos store and how a photo is drawn; status polling; uploads; the inventory; the
// detail dialog; start-up.

'use strict';

// ---------------------------------------------------------------------------------------------
// Small helpers

const $ = (selector, root = document) => root.querySelector(selector);

/** Builds an element: h('p', {class: 'x', text: 'hi'}, child, ...). Listeners via on<event>. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (name === 'class') el.className = value;
    else if (name === 'text') el.textContent = value;
    else if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

const STORAGE = {
  session: 'seller-page.session',
  pkce: 'seller-page.pkce',
  productId: 'seller-page.product-id',
};

const STATUS_LABELS = {
  pending_upload: 'Waiting for upload',
  uploaded: 'Uploaded, queued',
  processing: 'Processing',
  ready: 'Ready',
  failed: 'Failed',
  deleted: 'Deleted',
};
const FINAL = new Set(['ready', 'failed', 'deleted']);
const VARIANTS = ['thumb', 'small', 'medium', 'large'];
const ACCEPTED_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/heic', 'image/heif'];
const EXTENSION_TYPES = {
  jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp', heic: 'image/heic', heif: 'image/heif',
};
const MAX_CONCURRENT_UPLOADS = 3;
const MAX_CONCURRENT_POLLS = 4;
const POLL_FIRST_MS = 500;
const POLL_MAX_MS = 5000;
const PAGE_SIZE = 20;

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const preciseFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const dayFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
const clockFormat = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });
const integerFormat = new Intl.NumberFormat();

function formatTime(value, precise = false) {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value ?? '');
  return (precise ? preciseFormat : dateFormat).format(date);
}

/** Date above time of day, for narrow table cells. */
function splitTimeElement(value) {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value ?? '');
  return h('time', { datetime: value, title: preciseFormat.format(date) },
    h('span', { text: dayFormat.format(date) }), ' ',
    h('span', { class: 'time-of-day', text: clockFormat.format(date) }));
}

function timeElement(value, precise = false) {
  return h('time', { datetime: value, text: formatTime(value, precise) });
}

/** 4211 → "4.2 kB" (decimal units, as file managers show them). */
function formatBytes(bytes) {
  if (typeof bytes !== 'number' || !Number.isFinite(bytes)) return '';
  const units = ['byte', 'kilobyte', 'megabyte', 'gigabyte'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return new Intl.NumberFormat(undefined, {
    style: 'unit', unit: units[unit], unitDisplay: 'short', maximumFractionDigits: unit === 0 ? 0 : 1,
  }).format(value);
}

function plural(count, one, many) {
  return `${integerFormat.format(count)} ${count === 1 ? one : many}`;
}

function base64url(bytes) {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString(byteCount = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(byteCount)));
}

/** The claims of a JWT, unverified (for display and expiry only; the API verifies). */
function jwtClaims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const padded = part + '='.repeat((4 - (part.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return {};
  }
}

async function sha256Hex(blob) {
  const digest = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

function parseTags(text) {
  const seen = new Set();
  const tags = [];
  for (const raw of String(text ?? '').split(',')) {
    const tag = raw.trim();
    if (tag && !seen.has(tag.toLowerCase())) {
      seen.add(tag.toLowerCase());
      tags.push(tag);
    }
  }
  return tags;
}

function sameList(a = [], b = []) {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

/** Seconds from a Retry-After header (delta-seconds or an HTTP date), or null. */
function parseRetryAfter(value) {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.round((date - Date.now()) / 1000));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

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

/** A counting semaphore: at most `limit` callers hold a slot at once. */
function limiter(limit) {
  let active = 0;
  const waiting = [];
  return async function run(task) {
    if (active >= limit) await new Promise((resolve) => waiting.push(resolve));
    active += 1;
    try {
      return await task();
    } finally {
      active -= 1;
      waiting.shift()?.();
    }
  };
}

function photoSelector(id) {
  return `[data-photo-id="${CSS.escape(id)}"]`;
}

// ---------------------------------------------------------------------------------------------
// Messages: one live region (#messages). Errors stay until dismissed; confirmations fade out.

const FIELD_NAMES = {
  product_id: 'Product id', filename: 'File name', content_type: 'File type', size_bytes: 'File size',
  checksum_sha256: 'Checksum', caption: 'Caption', tags: 'Tags', alt_text: 'Alt text', body: 'Request',
  callback_url: 'Callback URL',
};

const messages = {
  region: null,
  items: new Map(),

  /** kind: 'error' | 'success' | 'info'. `key` merges repeats of the same message. */
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

/** "the token has expired" → "the token has expired." (details come without a full stop). */
function sentence(text) {
  const trimmed = String(text ?? '').trim();
  return /[.!?…]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

function errorText(error) {
  if (error instanceof ApiError) {
    let text = sentence(error.detail);
    if (error.status === 429 && error.retryAfter != null) {
      text += ` Try again in ${plural(error.retryAfter, 'second', 'seconds')}.`;
    }
    return text;
  }
  return sentence(error?.message || String(error));
}

/** Puts 422 field errors next to the fields they name; returns whether any was placed. */
function showFieldErrors(errors, fieldIds) {
  let placed = false;
  for (const { field, message } of errors ?? []) {
    const id = fieldIds[field];
    if (!id) continue;
    setFieldError(id, message);
    placed = true;
  }
  return placed;
}

function setFieldError(inputId, message) {
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

// ---------------------------------------------------------------------------------------------
// Settings: config.json beside the page.

let config = null;

async function loadConfig() {
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
  const trim = (url) => String(url ?? '').replace(/\/+$/, '');
  const auth = value?.auth ?? {};
  if (!value?.write_api || !value?.read_api || !['token', 'cognito'].includes(auth.kind)) {
    throw new Error("The page's settings (config.json) need write_api, read_api and auth.kind (token or cognito).");
  }
  if (auth.kind === 'cognito' && !(auth.domain && auth.client_id && auth.redirect_uri)) {
    throw new Error("The page's settings (config.json) need auth.domain, auth.client_id and auth.redirect_uri for Cognito.");
  }
  return {
    writeApi: trim(value.write_api),
    readApi: trim(value.read_api),
    auth: { ...auth, domain: trim(auth.domain), scopes: auth.scopes ?? ['openid'] },
  };
}

// ---------------------------------------------------------------------------------------------
// Sign-in. A session is {access_token, refresh_token?, expires_at?, who} in sessionStorage.

class SignedOut extends Error {
  constructor(detail) {
    super(detail || 'You are signed out.');
    this.handled = true;
  }
}

const auth = {
  session: null,
  refreshing: null,

  load() {
    try {
      this.session = JSON.parse(sessionStorage.getItem(STORAGE.session) ?? 'null');
    } catch {
      this.session = null;
    }
    return this.session;
  },

  save(session) {
    this.session = session;
    sessionStorage.setItem(STORAGE.session, JSON.stringify(session));
  },

  clear() {
    this.session = null;
    sessionStorage.removeItem(STORAGE.session);
  },

  /** kind "token": a #token=<JWT> fragment becomes the session; the address bar loses it. */
  adoptTokenFromFragment() {
    const fragment = new URLSearchParams(location.hash.replace(/^#/, ''));
    const token = fragment.get('token');
    if (!token) return false;
    fragment.delete('token');
    const rest = fragment.toString();
    history.replaceState(history.state, '', `${location.pathname}${location.search}${rest ? `#${rest}` : ''}`);
    this.adoptToken(token.trim());
    return true;
  },

  adoptToken(token) {
    const claims = jwtClaims(token);
    this.save({ access_token: token, who: claims.sub ?? '', expires_at: claims.exp ? claims.exp * 1000 : null });
  },

  /** kind "cognito": to the hosted UI, with PKCE (S256) and a state to check on return. */
  async signIn() {
    const { domain, client_id: clientId, redirect_uri: redirectUri, scopes } = config.auth;
    const verifier = randomString(48);
    const state = randomString(24);
    const challenge = base64url(new Uint8Array(
      await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
    sessionStorage.setItem(STORAGE.pkce, JSON.stringify({ verifier, state, at: Date.now() }));
    const params = new URLSearchParams({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: redirectUri,
      scope: scopes.join(' '),
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    location.assign(`${domain}/oauth2/authorize?${params}`);
  },

  /** Handles ?code=&state= (or ?error=) on return from the hosted UI. Returns an error text or null. */
  async completeSignIn() {
    const params = new URLSearchParams(location.search);
    if (!params.has('code') && !params.has('error')) return null;
    const code = params.get('code');
    const returnedState = params.get('state');
    const error = params.get('error');
    const errorDescription = params.get('error_description');
    for (const name of ['code', 'state', 'error', 'error_description', 'error_uri']) params.delete(name);
    const rest = params.toString();
    history.replaceState(null, '', `${location.pathname}${rest ? `?${rest}` : ''}${location.hash}`);

    let pending = null;
    try {
      pending = JSON.parse(sessionStorage.getItem(STORAGE.pkce) ?? 'null');
    } catch { /* treated as missing */ }
    sessionStorage.removeItem(STORAGE.pkce);

    if (error) return `Sign-in did not complete: ${errorDescription || error}.`;
    if (!pending || !returnedState || pending.state !== returnedState) {
      return 'The sign-in answer did not match a sign-in started in this tab, so it was ignored. Sign in again.';
    }
    if (Date.now() - pending.at > 15 * 60 * 1000) return 'The sign-in took too long. Sign in again.';
    try {
      const tokens = await this.tokenRequest({
        grant_type: 'authorization_code',
        client_id: config.auth.client_id,
        code,
        redirect_uri: config.auth.redirect_uri,
        code_verifier: pending.verifier,
      });
      this.adoptTokens(tokens);
      return null;
    } catch (e) {
      return `Sign-in did not complete: ${e.message}`;
    }
  },

  adoptTokens(tokens, previous = null) {
    const idClaims = tokens.id_token ? jwtClaims(tokens.id_token) : {};
    const accessClaims = jwtClaims(tokens.access_token);
    this.save({
      access_token: tokens.access_token,
      refresh_token: tokens.refresh_token ?? previous?.refresh_token ?? null,
      expires_at: tokens.expires_in ? Date.now() + tokens.expires_in * 1000
        : (accessClaims.exp ? accessClaims.exp * 1000 : null),
      who: idClaims.email ?? previous?.who ?? accessClaims.username ?? accessClaims.sub ?? '',
    });
  },

  async tokenRequest(fields) {
    let response;
    try {
      response = await fetch(`${config.auth.domain}/oauth2/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(fields),
        credentials: 'omit',
      });
    } catch {
      const e = new Error('the sign-in service could not be reached. Check your connection.');
      e.network = true;
      throw e;
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok || !body.access_token) {
      const e = new Error(`${body.error_description || body.error || `the sign-in service answered ${response.status}`}.`);
      e.status = response.status;
      throw e;
    }
    return body;
  },

  /** The access token for an API call, refreshed first when it is about to expire. */
  async accessToken() {
    const session = this.session;
    if (!session) throw new SignedOut();
    const expiring = session.expires_at && Date.now() > session.expires_at - 60_000;
    if (config.auth.kind !== 'cognito' || !expiring) return session.access_token;
    if (!session.refresh_token) {
      this.expire('Your sign-in has expired. Sign in again.');
      throw new SignedOut();
    }
    this.refreshing ??= this.tokenRequest({
      grant_type: 'refresh_token',
      client_id: config.auth.client_id,
      refresh_token: session.refresh_token,
    }).then((tokens) => this.adoptTokens(tokens, session))
      .finally(() => { this.refreshing = null; });
    try {
      await this.refreshing;
    } catch (e) {
      if (e.network) throw new ApiError({ status: 0, detail: `Could not renew your sign-in: ${e.message}` });
      this.expire('Your sign-in has expired. Sign in again.');
      throw new SignedOut();
    }
    return this.session.access_token;
  },

  /** A 401 or a dead refresh: forget the session and show why. */
  expire(detail) {
    if (!this.session) return;
    this.clear();
    stopEverything();
    showSignIn(detail);
  },

  async signOut() {
    const session = this.session;
    this.clear();
    stopEverything();
    if (config.auth.kind !== 'cognito') {
      showSignIn(null);
      messages.show('info', 'You are signed out. The token was removed from this tab.');
      return;
    }
    const { domain, client_id: clientId, redirect_uri: redirectUri, logout_uri: logoutUri } = config.auth;
    if (session?.refresh_token) {
      // Best effort: the refresh token stops working now, not in 30 days.
      await Promise.race([
        fetch(`${domain}/oauth2/revoke`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ token: session.refresh_token, client_id: clientId }),
          credentials: 'omit',
        }).catch(() => null),
        sleep(1500),
      ]);
    }
    const params = new URLSearchParams({ client_id: clientId, logout_uri: logoutUri || redirectUri });
    location.assign(`${domain}/logout?${params}`);
  },
};

// ---------------------------------------------------------------------------------------------
// The API client: JSON in and out, problem+json errors, the bearer token on every call.

class ApiError extends Error {
  constructor({ status, detail, title, type, errors, retryAfter }) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.title = title;
    this.type = type;
    this.errors = Array.isArray(errors) ? errors : [];
    this.retryAfter = retryAfter ?? null;
    this.network = status === 0;
  }
}

async function api(side, path, { method = 'GET', json, idempotencyKey, signal } = {}) {
  const base = side === 'read' ? config.readApi : config.writeApi;
  const service = side === 'read' ? 'catalog read API' : 'catalog write API';
  const headers = {
    Accept: 'application/json, application/problem+json',
    Authorization: `Bearer ${await auth.accessToken()}`,
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
    response = await fetch(`${base}${path}`, {
      method, headers, body, signal, credentials: 'omit', cache: 'no-cache',
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
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
  if (response.ok) return data ?? {};

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

const photoPath = (id, rest = '') => `/v1/photos/${encodeURIComponent(id)}${rest}`;

// ---------------------------------------------------------------------------------------------
// The photos store: one record per photo id, drawn wherever that id appears on the page.

/** id → { photo (as the read API shows it, maybe ahead of it locally), confirmed, filename } */
const store = new Map();

/** A photo as the read API answered it. Older versions than what we know are ignored. */
function acceptFromServer(photo) {
  const current = store.get(photo.photo_id);
  if (current && typeof current.photo.version === 'number' && photo.version < current.photo.version) {
    return current;
  }
  const changed = !current || current.photo.version !== photo.version || !current.confirmed;
  const record = { filename: current?.filename ?? null, photo, confirmed: true };
  store.set(photo.photo_id, record);
  if (changed) redraw(photo.photo_id);
  return record;
}

/** What a command just did, before the read model shows it. */
function applyLocally(id, changes, version) {
  const current = store.get(id);
  const photo = { ...(current?.photo ?? { photo_id: id, tags: [], variants: {} }), ...changes };
  if (typeof version === 'number') photo.version = version;
  photo.updated_at = new Date().toISOString();
  store.set(id, { filename: current?.filename ?? null, ...current, photo, confirmed: false });
  redraw(id);
}

function isSettled(id) {
  const record = store.get(id);
  if (!record) return false;
  if (record.photo.status === 'deleted') return true;
  return record.confirmed && FINAL.has(record.photo.status);
}

/**
 * Whether a photo is worth reading again: not settled yet, or ready with the AVIF variants
 * that the service adds shortly after `ready` to an opaque photo still to come (for a minute
 * at most), so that its detail lists them.
 */
function worthPolling(id) {
  if (!isSettled(id)) return true;
  const photo = store.get(id)?.photo;
  const large = photo?.variants?.large;
  if (photo?.status !== 'ready' || large?.content_type !== 'image/jpeg') return false;
  if (large.formats?.['image/avif']) return false;
  return Date.now() - Date.parse(photo.updated_at) < 60_000;
}

function displayName(record) {
  const p = record.photo;
  return p.caption || record.filename || `photo of ${p.product_id ?? 'a product'}`;
}

function altText(record) {
  const p = record.photo;
  return p.alt_text || p.caption || record.filename || `Photo of product ${p.product_id ?? ''}`.trim();
}

function statusBadge(status) {
  return h('span', { class: `status status-${status ?? 'unknown'}` },
    h('span', { class: 'status-icon', 'aria-hidden': 'true' }),
    STATUS_LABELS[status] ?? status ?? 'Unknown');
}

/** The thumbnail box: fixed size, so nothing moves when the image arrives. */
function drawThumb(box, record) {
  const p = record.photo;
  const variant = p.status === 'ready' ? p.variants?.thumb : null;
  const key = variant ? variant.url : `state:${p.status}`;
  if (box.dataset.key === key) {
    const img = box.querySelector('img');
    if (img) img.alt = altText(record);
    return;
  }
  box.dataset.key = key;
  box.dataset.state = p.status ?? 'unknown';
  box.replaceChildren();
  box.classList.remove('is-loaded');
  box.style.removeProperty('--placeholder');
  if (variant) {
    if (p.placeholder?.dominant_color && /^#[0-9a-f]{3,8}$/i.test(p.placeholder.dominant_color)) {
      box.style.setProperty('--placeholder', p.placeholder.dominant_color);
    }
    const img = h('img', {
      src: variant.url, width: variant.width, height: variant.height, alt: altText(record),
      loading: 'lazy', decoding: 'async',
    });
    img.addEventListener('load', () => box.classList.add('is-loaded'), { once: true });
    img.addEventListener('error', () => {
      box.dataset.state = 'broken';
      img.replaceWith(h('span', { class: 'thumb-note', text: 'Image unavailable' }));
    }, { once: true });
    box.append(img);
  } else {
    box.append(h('span', { class: 'thumb-glyph', 'aria-hidden': 'true' }));
  }
}

function drawStatus(container, record) {
  const p = record.photo;
  const key = `${p.status}|${p.failure_reason ?? ''}|${record.confirmed}`;
  if (container.dataset.key === key) return;
  container.dataset.key = key;
  container.replaceChildren(statusBadge(p.status));
  if (p.status === 'failed') {
    container.append(h('p', { class: 'failure-reason', text: p.failure_reason || 'The photo could not be processed.' }));
  }
}

function redraw(id) {
  const record = store.get(id);
  if (!record) return;
  for (const el of document.querySelectorAll(photoSelector(id))) {
    el.dataset.status = record.photo.status ?? '';
    if (el.matches('tr')) drawRow(el, record);
    else if (el.matches('.upload')) drawUploadPhoto(el, record);
  }
  if (detail.id === id) drawDetail();
}

// ---------------------------------------------------------------------------------------------
// Polling: each photo not settled (or awaiting its AVIF) is read again, 0.5 s at first, backing
// off to 5 s.

const pollers = new Map();
const pollSlot = limiter(MAX_CONCURRENT_POLLS);

function watch(id, { soon = true } = {}) {
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

function schedule(poller, ms) {
  clearTimeout(poller.timer);
  poller.timer = setTimeout(() => tick(poller), ms);
}

function unwatch(id) {
  const poller = pollers.get(id);
  if (!poller) return;
  clearTimeout(poller.timer);
  poller.stopped = true;
  pollers.delete(id);
}

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
    const photo = await pollSlot(() => api('read', photoPath(poller.id)));
    if (poller.stopped) return;
    poller.seen = true;
    acceptFromServer(photo);
    messages.dismiss('poll:network');
    if (!worthPolling(poller.id)) {
      unwatch(poller.id);
      return;
    }
  } catch (error) {
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

function stopEverything() {
  for (const id of [...pollers.keys()]) unwatch(id);
  inventory.controller?.abort();
  if (detailDialog()?.open) detailDialog().close();
}

// ---------------------------------------------------------------------------------------------
// Uploads: hash, declare, PUT (with progress), confirm. At most three at once.

const uploads = {
  queue: [],
  jobs: [],
  active: 0,
  held: [],
};

/** Request headers a page may not set (the browser sends its own, e.g. Content-Length). */
function browserMaySet(name) {
  const lower = name.toLowerCase();
  const forbidden = new Set([
    'accept-charset', 'accept-encoding', 'access-control-request-headers', 'access-control-request-method',
    'access-control-request-private-network', 'connection', 'content-length', 'cookie', 'cookie2', 'date',
    'dnt', 'expect', 'host', 'keep-alive', 'origin', 'referer', 'set-cookie', 'te', 'trailer',
    'transfer-encoding', 'upgrade', 'via',
  ]);
  return !forbidden.has(lower) && !lower.startsWith('proxy-') && !lower.startsWith('sec-');
}

function contentTypeOf(file) {
  if (ACCEPTED_TYPES.includes(file.type)) return file.type;
  if (file.type) return null;
  const extension = file.name.split('.').pop()?.toLowerCase() ?? '';
  return EXTENSION_TYPES[extension] ?? null;
}

/** Files arrive (chosen or dropped): unsupported ones are refused, the rest start or wait. */
function receiveFiles(fileList) {
  const files = [];
  const refused = [];
  for (const file of fileList) {
    if (contentTypeOf(file)) files.push(file);
    else refused.push(file.name);
  }
  if (refused.length) {
    messages.show('error', `${refused.join(', ')}: not a JPEG, PNG, WebP or HEIC image, so ${refused.length === 1 ? 'it was' : 'they were'} left out.`);
  }
  if (!files.length) return;
  uploads.held.push(...files);
  startHeld();
}

/** Starts the held files if the form is complete; otherwise says what is missing. */
function startHeld() {
  const productInput = $('#product-id');
  const productId = productInput.value.trim();
  if (!productId) {
    setFieldError('product-id', 'Enter the product id these photos belong to, then choose Upload.');
    drawHeld();
    productInput.focus();
    return;
  }
  setFieldError('product-id', null);
  setFieldError('upload-caption', null);
  setFieldError('upload-tags', null);
  localStorage.setItem(STORAGE.productId, productId);
  const caption = $('#upload-caption').value.trim();
  const tags = parseTags($('#upload-tags').value);
  const files = uploads.held.splice(0);
  drawHeld();
  for (const file of files) {
    const job = {
      file,
      filename: file.name,
      contentType: contentTypeOf(file),
      productId,
      caption: caption || null,
      tags,
      idempotencyKey: crypto.randomUUID(),
      state: 'queued',
      progress: 0,
      checksum: null,
      photoId: null,
      upload: null,
      uploaded: false,
      error: null,
      el: null,
    };
    job.el = uploadRow(job);
    uploads.jobs.push(job);
    $('#upload-list').prepend(job.el);
    uploads.queue.push(job);
  }
  $('#uploads').hidden = false;
  drawUploadSummary();
  pumpUploads();
}

function drawHeld() {
  const count = uploads.held.length;
  $('#held').hidden = count === 0;
  $('#held-text').textContent = count
    ? `${plural(count, 'photo is', 'photos are')} waiting for a product id: ${uploads.held.map((f) => f.name).join(', ')}.`
    : '';
  $('#start-held').textContent = count ? `Upload ${plural(count, 'photo', 'photos')}` : 'Upload';
}

function pumpUploads() {
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

/** PUT to the presigned URL with XMLHttpRequest, for its upload progress events. */
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

function uploadRow(job) {
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

/** The photo part of an upload row: thumbnail, status, failure reason, details button. */
function drawUploadPhoto(el, record) {
  if (el.dataset.uploadState === 'done') drawThumb($('.thumb', el), record);
  drawStatus($('.upload-photo-status', el), record);
  $('.open-photo', el).hidden = record.photo.status === 'deleted';
  el.classList.toggle('is-settled', isSettled(record.photo.photo_id));
}

function drawUploadSummary() {
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

// ---------------------------------------------------------------------------------------------
// The inventory: the seller's photos, newest first, filtered by status, paged by cursor.

const inventory = {
  status: '',
  cursor: null,
  controller: null,
  shown: new Set(),

  async load({ more = false } = {}) {
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (this.status) params.set('status', this.status);
    if (more && this.cursor) params.set('cursor', this.cursor);
    if (!more) {
      this.cursor = null;
      this.shown.clear();
      $('#photo-rows').replaceChildren();
      $('#photo-table').hidden = true;
      $('#pager').hidden = true;
      drawInventoryState('loading');
    } else {
      $('#more').disabled = true;
      $('#more').textContent = 'Loading…';
    }
    $('#photo-table').setAttribute('aria-busy', 'true');
    try {
      const page = await api('read', `/v1/sellers/me/photos?${params}`, { signal: controller.signal });
      if (controller.signal.aborted) return;
      const items = Array.isArray(page.items) ? page.items : [];
      const firstNew = [];
      for (const photo of items) {
        if (this.shown.has(photo.photo_id)) continue;
        const record = acceptFromServer(photo);
        if (record.photo.status === 'deleted') continue; // deleted here; the listing lags behind
        const row = photoRow(record);
        $('#photo-rows').append(row);
        this.shown.add(photo.photo_id);
        firstNew.push(row);
        if (worthPolling(photo.photo_id)) watch(photo.photo_id, { soon: false });
      }
      this.cursor = page.next_cursor ?? null;
      $('#photo-table').hidden = this.shown.size === 0;
      $('#pager').hidden = !this.cursor;
      drawInventoryState(this.shown.size === 0 ? 'empty' : null);
      if (more && firstNew.length) $('.open-photo', firstNew[0])?.focus();
    } catch (error) {
      if (error.name === 'AbortError' || controller.signal.aborted) return;
      if (error.handled) return;
      drawInventoryState('error', error);
      messages.error(error, 'Your photos could not be loaded', { key: 'inventory' });
    } finally {
      if (this.controller === controller) {
        $('#photo-table').removeAttribute('aria-busy');
        $('#more').disabled = false;
        $('#more').textContent = 'Show more photos';
        drawInventorySummary();
      }
    }
  },

  /** A photo this tab just uploaded goes to the top, if the current filter would list it. */
  addNew(id) {
    const record = store.get(id);
    if (!record || this.shown.has(id)) return;
    if (this.status && this.status !== record.photo.status) return;
    $('#photo-rows').prepend(photoRow(record));
    this.shown.add(id);
    $('#photo-table').hidden = false;
    drawInventoryState(null);
    drawInventorySummary();
  },

  remove(id) {
    for (const row of document.querySelectorAll(`tr${photoSelector(id)}`)) row.remove();
    this.shown.delete(id);
    if (this.shown.size === 0) {
      $('#photo-table').hidden = true;
      drawInventoryState(this.cursor ? null : 'empty');
    }
    drawInventorySummary();
  },
};

function drawInventorySummary() {
  const count = inventory.shown.size;
  const label = inventory.status ? `${STATUS_LABELS[inventory.status].toLowerCase()} ` : '';
  $('#inventory-summary').textContent = count
    ? `Showing ${plural(count, `${label}photo`, `${label}photos`)}${inventory.cursor ? '; more below' : ''}.`
    : '';
}

function drawInventoryState(state, error) {
  const box = $('#inventory-state');
  box.hidden = !state;
  box.dataset.state = state ?? '';
  if (!state) {
    box.replaceChildren();
    return;
  }
  if (state === 'loading') {
    box.replaceChildren(h('p', { class: 'loading' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Loading your photos…'));
  } else if (state === 'empty') {
    if (inventory.status) {
      box.replaceChildren(
        h('p', { class: 'state-title', text: `No photos are ${STATUS_LABELS[inventory.status].toLowerCase()}.` }),
        h('p', {}, h('button', {
          type: 'button', class: 'button', onclick: () => {
            $('#status-filter').value = '';
            $('#status-filter').dispatchEvent(new Event('change'));
          },
        }, 'Show all statuses')));
    } else {
      box.replaceChildren(
        h('p', { class: 'state-title', text: 'No photos yet.' }),
        h('p', { class: 'muted', text: 'Photos you upload above appear here, with their status as they are processed.' }));
    }
  } else if (state === 'error') {
    box.replaceChildren(
      h('p', { class: 'state-title', text: 'Your photos could not be loaded.' }),
      h('p', { class: 'muted', text: errorText(error) }),
      h('p', {}, h('button', { type: 'button', class: 'button', onclick: () => inventory.load() }, 'Try again')));
  }
}

function photoRow(record) {
  const id = record.photo.photo_id;
  const cell = (label, className, ...children) =>
    h('td', { role: 'cell', class: className, 'data-label': label }, ...children);
  const row = h('tr', { role: 'row', class: 'photo-row', 'data-photo-id': id, 'data-status': record.photo.status ?? '' },
    cell('Photo', 'col-photo', h('div', { class: 'thumb' })),
    cell('Product', 'col-product', h('span', { class: 'product-id' })),
    cell('Caption and tags', 'col-caption', h('p', { class: 'caption' }), h('ul', { class: 'tags', 'aria-label': 'Tags' })),
    cell('Status', 'col-status', h('div', { class: 'status-cell' })),
    cell('Updated', 'col-updated', h('span', { class: 'updated' })),
    cell('Actions', 'col-actions', h('button', {
      type: 'button', class: 'button button-small open-photo',
      onclick: (event) => openDetail(id, event.currentTarget),
    }, 'Details', h('span', { class: 'visually-hidden row-name' }))));
  drawRow(row, record);
  return row;
}

function drawRow(row, record) {
  const p = record.photo;
  drawThumb($('.thumb', row), record);
  $('.product-id', row).textContent = p.product_id ?? '';
  const caption = $('.caption', row);
  caption.textContent = p.caption || (record.filename ? record.filename : 'No caption');
  caption.classList.toggle('muted', !p.caption);
  const tags = $('.tags', row);
  tags.replaceChildren(...(p.tags ?? []).map((tag) => h('li', { class: 'tag', text: tag })));
  tags.hidden = !(p.tags ?? []).length;
  drawStatus($('.status-cell', row), record);
  const updated = $('.updated', row);
  updated.replaceChildren(p.updated_at ? splitTimeElement(p.updated_at) : '');
  $('.row-name', row).textContent = ` of ${displayName(record)}`;
}

// ---------------------------------------------------------------------------------------------
// The detail dialog.

const detail = {
  id: null,
  opener: null,
  baseline: null,
  historyAfter: null,
  historyLoading: false,
  busy: false,
};

const detailDialog = () => $('#photo-dialog');

const DETAIL_FIELDS = { caption: 'caption', tags: 'tags', alt_text: 'alt-text' };

function openDetail(id, opener) {
  if (!id || !store.has(id)) return;
  const dialog = detailDialog();
  detail.id = id;
  detail.opener = opener ?? document.activeElement;
  detail.baseline = null;
  // Messages follow the user into the dialog (the page behind it is inert while it is open).
  $('#dialog-messages-slot').append(messages.region);
  messages.region.classList.add('in-dialog');
  hideDeleteConfirm(false);
  for (const field of Object.values(DETAIL_FIELDS)) setFieldError(field, null);
  fillDetailForm();
  drawDetail();
  $('#history-list').replaceChildren();
  $('#history-more').hidden = true;
  detail.historyAfter = null;
  dialog.showModal();
  $('#dialog-body').scrollTop = 0;
  $('#dialog-title').focus();
  refreshDetail(id);
  loadHistory(true);
}

async function refreshDetail(id) {
  try {
    const photo = await api('read', photoPath(id));
    if (detail.id !== id) return;
    acceptFromServer(photo);
    if (!isDetailDirty()) fillDetailForm();
  } catch (error) {
    if (detail.id !== id || error.handled) return;
    if (error.status === 404) {
      if (worthPolling(id)) watch(id);
      return; // the read model has not caught up yet; drawn from what this tab knows
    }
    messages.error(error, 'The photo could not be refreshed');
  }
}

function fillDetailForm() {
  const p = store.get(detail.id)?.photo;
  if (!p) return;
  detail.baseline = { caption: p.caption ?? '', tags: [...(p.tags ?? [])], alt_text: p.alt_text ?? '' };
  $('#caption').value = detail.baseline.caption;
  $('#tags').value = detail.baseline.tags.join(', ');
  $('#alt-text').value = detail.baseline.alt_text;
}

function detailChanges() {
  const base = detail.baseline ?? { caption: '', tags: [], alt_text: '' };
  const changes = {};
  const caption = $('#caption').value.trim();
  if (caption !== base.caption) changes.caption = caption;
  const tags = parseTags($('#tags').value);
  if (!sameList(tags, base.tags)) changes.tags = tags;
  const alt = $('#alt-text').value.trim();
  // Only when changed: servers before alt_text refuse unknown fields.
  if (alt !== base.alt_text) changes.alt_text = alt;
  return changes;
}

function isDetailDirty() {
  return Object.keys(detailChanges()).length > 0;
}

function drawDetail() {
  const record = store.get(detail.id);
  if (!record) return;
  const p = record.photo;
  $('#dialog-title').textContent = p.caption ? `Photo: ${p.caption}` : 'Photo details';

  // Preview: the medium size, its box sized from the contract's width and height.
  const preview = $('#detail-preview');
  const variant = p.status === 'ready' ? (p.variants?.medium ?? p.variants?.small ?? p.variants?.thumb) : null;
  const previewKey = variant ? variant.url : `state:${p.status}`;
  if (preview.dataset.key !== previewKey) {
    preview.dataset.key = previewKey;
    preview.replaceChildren();
    if (variant) {
      const img = h('img', { src: variant.url, width: variant.width, height: variant.height, alt: altText(record), decoding: 'async' });
      img.addEventListener('error', () => img.replaceWith(h('p', { class: 'muted', text: 'The image is not available.' })), { once: true });
      preview.append(img);
    } else {
      preview.append(h('div', { class: 'preview-empty', 'data-state': p.status ?? '' },
        h('span', { class: 'thumb-glyph', 'aria-hidden': 'true' }),
        h('p', { text: p.status === 'failed' ? 'No image: processing failed.' : 'The image appears here when processing is done.' })));
    }
  } else {
    const img = $('img', preview);
    if (img) img.alt = altText(record);
  }

  // Facts.
  const facts = [
    ['Status', h('div', {}, statusBadge(p.status),
      p.status === 'failed' ? h('p', { class: 'detail-failure', text: p.failure_reason || 'The photo could not be processed.' }) : null,
      !record.confirmed && p.status !== 'deleted' ? h('p', { class: 'muted small', text: 'Updating…' }) : null)],
    ['Product', h('span', { class: 'mono', text: p.product_id ?? '' })],
    record.filename ? ['File', record.filename] : null,
    p.width && p.height ? ['Original', `${integerFormat.format(p.width)} × ${integerFormat.format(p.height)} px${p.content_type ? `, ${p.content_type.replace('image/', '').toUpperCase()}` : ''}`] : null,
    p.created_at ? ['Created', timeElement(p.created_at)] : null,
    p.updated_at ? ['Updated', timeElement(p.updated_at)] : null,
    ['Photo id', h('span', { class: 'mono small', text: p.photo_id })],
  ].filter(Boolean);
  $('#detail-facts').replaceChildren(...facts.flatMap(([term, value]) => [h('dt', { text: term }), h('dd', {}, value)]));

  // Sizes.
  const names = VARIANTS.filter((name) => p.variants?.[name]);
  const box = $('#detail-variants');
  if (!names.length) {
    box.replaceChildren(h('p', { class: 'muted', text: p.status === 'failed' ? 'No sizes: processing failed. Reprocess to try again.' : 'Sizes are made when processing finishes.' }));
  } else {
    box.replaceChildren(h('ul', { class: 'variants' }, names.map((name) => {
      const v = p.variants[name];
      const formats = Object.entries(v.formats ?? {});
      return h('li', { class: 'variant' },
        h('span', { class: 'variant-name', text: name[0].toUpperCase() + name.slice(1) }),
        h('span', { class: 'variant-size', text: `${integerFormat.format(v.width)} × ${integerFormat.format(v.height)} px` }),
        h('span', { class: 'variant-bytes' }, formatBytes(v.bytes),
          h('span', { class: 'muted', text: ` (${integerFormat.format(v.bytes)} bytes)` })),
        h('a', { href: v.url, target: '_blank', rel: 'noopener noreferrer', class: 'variant-link' },
          'Open', h('span', { class: 'visually-hidden', text: ` the ${name} ${(v.content_type ?? '').replace('image/', '').toUpperCase()} image (new tab)` })),
        formats.length ? h('span', { class: 'variant-formats' }, 'Also as ', formats.map(([type, f], i) => [
          i ? ', ' : '',
          h('a', { href: f.url, target: '_blank', rel: 'noopener noreferrer' },
            type.replace('image/', '').toUpperCase(),
            h('span', { class: 'visually-hidden', text: ` ${name} image (new tab)` })),
          ` ${formatBytes(f.bytes)}`,
        ])) : null);
    })));
  }

  const deleted = p.status === 'deleted';
  for (const id of ['save-details', 'reprocess', 'delete-photo']) $(`#${id}`).disabled = deleted;
}

const ACTION_BUTTONS = ['save-details', 'reprocess', 'delete-photo', 'confirm-delete'];

/** One command at a time from the dialog. Buttons are marked aria-disabled rather than
 *  disabled, so the one the user pressed keeps focus while it works. */
async function withBusy(button, busyText, task) {
  if (detail.busy) return;
  detail.busy = true;
  const label = button.firstChild.textContent;
  button.firstChild.textContent = busyText;
  for (const id of ACTION_BUTTONS) $(`#${id}`).setAttribute('aria-disabled', 'true');
  try {
    await task();
  } finally {
    detail.busy = false;
    button.firstChild.textContent = label;
    for (const id of ACTION_BUTTONS) $(`#${id}`).removeAttribute('aria-disabled');
  }
}

async function saveDetails(event) {
  event.preventDefault();
  const id = detail.id;
  for (const field of Object.values(DETAIL_FIELDS)) setFieldError(field, null);
  const changes = detailChanges();
  if (!Object.keys(changes).length) {
    messages.show('info', 'Nothing has changed, so there is nothing to save.');
    return;
  }
  if (changes.tags && changes.tags.length > 20) {
    setFieldError('tags', 'At most 20 tags.');
    $('#tags').focus();
    return;
  }
  await withBusy($('#save-details'), 'Saving…', async () => {
    try {
      const answer = await api('write', photoPath(id), { method: 'PATCH', json: changes });
      if (detail.id !== id) return;
      applyLocally(id, changes, answer.version);
      watch(id); // until the read model shows this version
      fillDetailForm();
      messages.show('success', 'Changes saved.', { key: `save:${id}` });
      loadHistory(true);
    } catch (error) {
      if (error.status === 422 && showFieldErrors(error.errors, DETAIL_FIELDS)) {
        const first = (error.errors ?? []).map((e) => DETAIL_FIELDS[e.field]).find(Boolean);
        if (first) document.getElementById(first).focus();
      }
      messages.error(error, 'Not saved', { key: `save:${id}` });
    }
  });
}

async function reprocess() {
  const id = detail.id;
  await withBusy($('#reprocess'), 'Requesting…', async () => {
    try {
      const answer = await api('write', photoPath(id, '/reprocess'), { method: 'POST' });
      applyLocally(id, { status: 'uploaded', failure_reason: null }, answer.version);
      watch(id);
      messages.show('success', 'Reprocessing requested. The status updates here by itself.', { key: `reprocess:${id}` });
      loadHistory(true);
    } catch (error) {
      messages.error(error, 'Not reprocessed', { key: `reprocess:${id}` });
    }
  });
}

function showDeleteConfirm() {
  $('#delete-confirm').hidden = false;
  $('#delete-photo').setAttribute('aria-expanded', 'true');
  $('#delete-confirm-title').focus();
}

function hideDeleteConfirm(returnFocus = true) {
  $('#delete-confirm').hidden = true;
  $('#delete-photo').setAttribute('aria-expanded', 'false');
  if (returnFocus) $('#delete-photo').focus();
}

async function deletePhoto() {
  const id = detail.id;
  await withBusy($('#confirm-delete'), 'Deleting…', async () => {
    try {
      const answer = await api('write', photoPath(id), { method: 'DELETE' });
      unwatch(id);
      // Where focus goes once the dialog closes: the next photo's button, or the list heading.
      const row = $(`tr${photoSelector(id)}`);
      const next = row?.nextElementSibling ?? row?.previousElementSibling;
      detail.opener = next ? $('.open-photo', next) : $('#inventory-title');
      applyLocally(id, { status: 'deleted' }, answer.version);
      inventory.remove(id);
      detailDialog().close();
      messages.show('success', 'Photo deleted.', { key: `delete:${id}` });
    } catch (error) {
      messages.error(error, 'Not deleted', { key: `delete:${id}` });
    }
  });
}

async function loadHistory(reset) {
  const id = detail.id;
  if (!id || detail.historyLoading) return;
  detail.historyLoading = true;
  const list = $('#history-list');
  const state = $('#history-state');
  if (reset) detail.historyAfter = null;
  state.textContent = 'Loading the history…';
  $('#history-more').hidden = true;
  try {
    const params = new URLSearchParams({ limit: '50' });
    if (detail.historyAfter != null) params.set('after', String(detail.historyAfter));
    const page = await api('write', `${photoPath(id, '/history')}?${params}`);
    if (detail.id !== id) return;
    const events = Array.isArray(page.events) ? page.events : [];
    if (reset) list.replaceChildren();
    list.append(...events.map(historyItem));
    detail.historyAfter = page.next_after ?? null;
    $('#history-more').hidden = detail.historyAfter == null;
    state.textContent = list.children.length ? '' : 'No events yet.';
  } catch (error) {
    if (detail.id !== id) return;
    state.textContent = error.handled ? '' : `The history could not be loaded: ${errorText(error)}`;
    if (detail.historyAfter != null) $('#history-more').hidden = false;
  } finally {
    detail.historyLoading = false;
  }
}

const EVENT_LABELS = {
  PhotoUploadRequested: 'Upload requested',
  PhotoUploaded: 'Original uploaded',
  PhotoProcessingStarted: 'Processing started',
  PhotoProcessed: 'Processed: sizes ready',
  PhotoProcessingFailed: 'Processing failed',
  PhotoDetailsUpdated: 'Description changed',
  PhotoDeleted: 'Deleted',
  PhotoReprocessRequested: 'Reprocessing requested',
  PhotoWebhookDelivered: 'Webhook delivered',
  PhotoWebhookGaveUp: 'Webhook given up',
};

function eventLabel(type) {
  return EVENT_LABELS[type] ?? String(type ?? 'Event').replace(/^Photo/, '').replace(/([a-z])([A-Z])/g, '$1 $2');
}

function historyItem(event) {
  const label = eventLabel(event.event_type);
  const reason = event.payload?.reason;
  return h('li', { class: `history-item history-${String(event.event_type ?? '').toLowerCase()}` },
    h('div', { class: 'history-line' },
      h('span', { class: 'history-type', text: label }),
      event.occurred_at ? timeElement(event.occurred_at, true) : null,
      event.sequence != null ? h('span', { class: 'muted small', text: `#${event.sequence}` }) : null),
    typeof reason === 'string' ? h('p', { class: 'history-note', text: reason }) : null,
    h('details', {},
      h('summary', {}, 'Event data', h('span', { class: 'visually-hidden', text: ` of “${label}”` })),
      h('pre', { class: 'json' }, h('code', { text: JSON.stringify(event.payload ?? null, null, 2) }))));
}

function onDialogClose() {
  // Messages go back to the page.
  $('#main').prepend(messages.region);
  messages.region.classList.remove('in-dialog');
  const id = detail.id;
  detail.id = null;
  const target = detail.opener;
  detail.opener = null;
  if (target?.isConnected && !target.hidden) target.focus();
  else if (id) ($(`${photoSelector(id)} .open-photo`) ?? $('#inventory-title'))?.focus();
}

// ---------------------------------------------------------------------------------------------
// Start-up and the two views (signed out, signed in).

function showSignIn(problem) {
  $('#loading-panel').hidden = true;
  $('#app').hidden = true;
  $('#account').hidden = true;
  $('#signin-panel').hidden = false;
  const note = $('#signin-problem');
  note.hidden = !problem;
  note.textContent = problem ? sentence(problem) : '';
  $('#signin-cognito').hidden = config?.auth.kind !== 'cognito';
  $('#signin-token').hidden = config?.auth.kind !== 'token';
  // Focus follows only when the view changed under the user (a 401, signing out).
  if (appStarted) $('#signin-title').focus();
  appStarted = false;
}

let appStarted = false;

function showApp() {
  $('#loading-panel').hidden = true;
  $('#signin-panel').hidden = true;
  $('#app').hidden = false;
  $('#account').hidden = false;
  $('#account-name').textContent = auth.session?.who ? `Signed in as ${auth.session.who}` : 'Signed in';
  if (appStarted) return;
  appStarted = true;
  inventory.load();
}

function showFatal(text) {
  $('#loading-panel').hidden = false;
  $('#loading-title').textContent = 'The page could not start';
  $('#loading-panel p').textContent = text;
  messages.show('error', text);
}

function wireUp() {
  messages.region = $('#messages');
  $('#signin-title').setAttribute('tabindex', '-1');
  $('#inventory-title').setAttribute('tabindex', '-1');

  // Sign-in and out.
  $('#sign-in').addEventListener('click', () => auth.signIn().catch((e) => messages.error(e, 'Could not start sign-in')));
  $('#sign-out').addEventListener('click', () => auth.signOut());
  $('#token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = $('#token-input').value.trim().replace(/^Bearer\s+/i, '');
    if (!token) {
      $('#token-input').focus();
      return;
    }
    $('#token-input').value = '';
    auth.adoptToken(token);
    showApp();
  });
  window.addEventListener('hashchange', () => {
    if (config?.auth.kind === 'token' && auth.adoptTokenFromFragment()) {
      stopEverything();
      appStarted = false;
      showApp();
    }
  });

  // Upload form.
  const productInput = $('#product-id');
  productInput.value = localStorage.getItem(STORAGE.productId) ?? '';
  productInput.addEventListener('input', () => {
    if (productInput.value.trim()) setFieldError('product-id', null);
  });
  productInput.addEventListener('change', () => {
    const value = productInput.value.trim();
    if (value) localStorage.setItem(STORAGE.productId, value);
  });
  $('#files').addEventListener('change', (event) => {
    const input = event.currentTarget;
    receiveFiles([...input.files]);
    input.value = ''; // the same file can be chosen again
  });
  $('#upload-form').addEventListener('submit', (event) => {
    event.preventDefault();
    if (uploads.held.length) startHeld();
    else {
      messages.show('info', 'Choose or drop photos to upload.', { key: 'choose-files' });
      $('#files').focus();
    }
  });
  $('#discard-held').addEventListener('click', () => {
    uploads.held.length = 0;
    drawHeld();
    setFieldError('product-id', null);
    $('#files').focus();
  });
  $('#clear-finished').addEventListener('click', clearFinishedUploads);

  // Drag and drop: the zone lights up while files are dragged over the window.
  const zone = $('#dropzone');
  let dragDepth = 0;
  const hasFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes('Files');
  window.addEventListener('dragenter', (event) => {
    if (!hasFiles(event)) return;
    dragDepth += 1;
    zone.classList.add('is-dragging');
  });
  window.addEventListener('dragleave', (event) => {
    if (!hasFiles(event)) return;
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) zone.classList.remove('is-dragging', 'is-over');
  });
  window.addEventListener('dragover', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault(); // otherwise the browser would open the file
    const over = zone.contains(event.target);
    zone.classList.toggle('is-over', over);
    event.dataTransfer.dropEffect = over && !$('#app').hidden ? 'copy' : 'none';
  });
  window.addEventListener('drop', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    dragDepth = 0;
    zone.classList.remove('is-dragging', 'is-over');
    if (zone.contains(event.target) && !$('#app').hidden) {
      receiveFiles([...event.dataTransfer.files]);
      $('#files').focus();
    }
  });
  zone.addEventListener('click', (event) => {
    // The whole zone opens the chooser, not only its button.
    if (event.target === zone || event.target.matches('.dropzone-title, .dropzone-or')) $('#files').click();
  });

  // Inventory.
  $('#status-filter').addEventListener('change', (event) => {
    inventory.status = event.currentTarget.value;
    inventory.load();
  });
  $('#refresh').addEventListener('click', () => inventory.load());
  $('#more').addEventListener('click', () => inventory.load({ more: true }));

  // Dialog.
  const dialog = detailDialog();
  $('#close-dialog').addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', onDialogClose);
  dialog.addEventListener('cancel', (event) => {
    // Escape first backs out of the delete confirmation, then closes.
    if (!$('#delete-confirm').hidden) {
      event.preventDefault();
      hideDeleteConfirm();
    }
  });
  dialog.addEventListener('click', (event) => {
    // A click on the backdrop (outside the dialog's box) closes it.
    if (event.target !== dialog || event.detail === 0) return;
    const box = dialog.getBoundingClientRect();
    const inside = event.clientX >= box.left && event.clientX <= box.right
      && event.clientY >= box.top && event.clientY <= box.bottom;
    if (!inside) dialog.close();
  });
  $('#details-form').addEventListener('submit', saveDetails);
  $('#reprocess').addEventListener('click', reprocess);
  $('#delete-photo').addEventListener('click', showDeleteConfirm);
  $('#cancel-delete').addEventListener('click', () => hideDeleteConfirm());
  $('#confirm-delete').addEventListener('click', deletePhoto);
  $('#history-more').addEventListener('click', () => loadHistory(false));

  document.addEventListener('visibilitychange', () => {
    if (document.hidden) return;
    for (const poller of pollers.values()) schedule(poller, 0);
  });
}

async function main() {
  wireUp();
  try {
    config = await loadConfig();
  } catch (error) {
    showFatal(error.message);
    return;
  }
  if (!window.isSecureContext || !crypto.subtle) {
    showFatal('This page needs a secure address (https, or http on localhost or 127.0.0.1) to check files and sign in.');
    return;
  }
  let problem = null;
  if (config.auth.kind === 'token') {
    if (!auth.adoptTokenFromFragment()) auth.load();
  } else {
    problem = await auth.completeSignIn();
    auth.load();
  }
  if (auth.session?.access_token) {
    showApp();
    // A stale or refused sign-in answer does not end a session that still works.
    if (problem) messages.show('error', problem.replace(/ Sign in again\.$/, ' You are still signed in.'));
  } else {
    showSignIn(problem);
  }
}

main().catch((error) => showFatal(`Something went wrong while starting: ${error.message}`));
