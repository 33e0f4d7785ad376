// Sign-in: the session ({access_token, refresh_token?, expires_at?, who}, kept in this tab's
// sessionStorage); the "token" kind (#token=… or the sign-in form) and the "cognito" kind
// (authorization code with PKCE, token refresh, revocation and sign-out). api.js asks it for
// the bearer token before every call; a dead session stops the app and shows the sign-in view.

import { ApiError, config } from './api.js';
import { messages } from './messages.js';
import { showSignIn, stopEverything } from './views.js';

/**
 * @typedef {object} Session
 * @property {string} access_token
 * @property {string | null} [refresh_token]
 * @property {number | null} [expires_at] milliseconds since the epoch
 * @property {string} who who is signed in, for the header
 */

/** sessionStorage keys. */
const STORAGE = {
  session: 'seller-page.session',
  pkce: 'seller-page.pkce',
};

/** @param {Uint8Array} bytes */
function base64url(bytes) {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString(byteCount = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(byteCount)));
}

/**
 * The claims of a JWT, unverified (for display and expiry only; the API verifies).
 * @param {string} token
 * @returns {Record<string, any>}
 */
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

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Thrown to callers when there is no session; the sign-in view already says why. */
class SignedOut extends Error {
  /** @param {string} [detail] */
  constructor(detail) {
    super(detail || 'You are signed out.');
    this.handled = true;
  }
}

/**
 * What the sign-in service's token endpoint answers.
 * @typedef {{access_token: string, id_token?: string, refresh_token?: string, expires_in?: number}} Tokens
 */

/** A failure of the sign-in service: `network` when it could not be reached. */
class SignInError extends Error {
  /**
   * @param {string} message
   * @param {{network?: boolean, status?: number}} [details]
   */
  constructor(message, { network = false, status = 0 } = {}) {
    super(message);
    this.network = network;
    this.status = status;
  }
}

/**
 * The page's settings, once loaded (app.js loads them before anything signs in).
 * @returns {import('./api.js').Config}
 */
function settings() {
  if (!config) throw new Error("The page's settings are not loaded.");
  return config;
}

export const auth = {
  /** @type {Session | null} */
  session: null,
  /** @type {Promise<void> | null} */
  refreshing: null,

  load() {
    try {
      this.session = JSON.parse(sessionStorage.getItem(STORAGE.session) ?? 'null');
    } catch {
      this.session = null;
    }
    return this.session;
  },

  /** @param {Session} session */
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

  /** @param {string} token */
  adoptToken(token) {
    const claims = jwtClaims(token);
    this.save({ access_token: token, who: claims.sub ?? '', expires_at: claims.exp ? claims.exp * 1000 : null });
  },

  /** kind "cognito": to the hosted UI, with PKCE (S256) and a state to check on return. */
  async signIn() {
    const { domain, client_id: clientId = '', redirect_uri: redirectUri = '', scopes } = settings().auth;
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
        client_id: settings().auth.client_id ?? '',
        code: code ?? '',
        redirect_uri: settings().auth.redirect_uri ?? '',
        code_verifier: pending.verifier,
      });
      this.adoptTokens(tokens);
      return null;
    } catch (e) {
      return `Sign-in did not complete: ${e instanceof Error ? e.message : e}`;
    }
  },

  /**
   * @param {Tokens} tokens
   * @param {Session | null} [previous]
   */
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

  /**
   * @param {Record<string, string>} fields
   * @returns {Promise<Tokens>}
   */
  async tokenRequest(fields) {
    let response;
    try {
      response = await fetch(`${settings().auth.domain}/oauth2/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(fields),
        credentials: 'omit',
      });
    } catch {
      throw new SignInError('the sign-in service could not be reached. Check your connection.', { network: true });
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok || !body.access_token) {
      throw new SignInError(`${body.error_description || body.error || `the sign-in service answered ${response.status}`}.`,
        { status: response.status });
    }
    return body;
  },

  /** The access token for an API call, refreshed first when it is about to expire. */
  async accessToken() {
    const session = this.session;
    if (!session) throw new SignedOut();
    const expiring = session.expires_at && Date.now() > session.expires_at - 60_000;
    if (settings().auth.kind !== 'cognito' || !expiring) return session.access_token;
    if (!session.refresh_token) {
      this.expire('Your sign-in has expired. Sign in again.');
      throw new SignedOut();
    }
    this.refreshing ??= this.tokenRequest({
      grant_type: 'refresh_token',
      client_id: settings().auth.client_id ?? '',
      refresh_token: session.refresh_token,
    }).then((tokens) => this.adoptTokens(tokens, session))
      .finally(() => { this.refreshing = null; });
    try {
      await this.refreshing;
    } catch (e) {
      if (e instanceof SignInError && e.network) throw new ApiError({ status: 0, detail: `Could not renew your sign-in: ${e.message}` });
      this.expire('Your sign-in has expired. Sign in again.');
      throw new SignedOut();
    }
    if (!this.session) throw new SignedOut();
    return this.session.access_token;
  },

  /**
   * A 401 or a dead refresh: forget the session and show why.
   * @param {string} detail
   */
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
    if (settings().auth.kind !== 'cognito') {
      showSignIn(null);
      messages.show('info', 'You are signed out. The token was removed from this tab.');
      return;
    }
    const { domain, client_id: clientId = '', redirect_uri: redirectUri = '', logout_uri: logoutUri } = settings().auth;
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
