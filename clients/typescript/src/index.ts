// Typed clients for the photo catalog's two HTTP APIs, built on openapi-fetch over the `paths`
// that openapi-typescript generates from docs/openapi/write-api.json and read-api.json (see
// README.md). Every call is checked against the documents: its path, parameters, body and the
// shape of each answer, success or problem.

import createClient, { type Client, type ClientOptions, type Middleware } from 'openapi-fetch';
import type { components as WriteComponents, paths as WritePaths } from '../generated/write-api.js';
import type { components as ReadComponents, paths as ReadPaths } from '../generated/read-api.js';

export type { WritePaths, ReadPaths };

/** The write API's schemas by name (`WriteSchemas['NewPhoto']`, `WriteSchemas['PhotoOrder']`, …). */
export type WriteSchemas = WriteComponents['schemas'];
/** The read API's schemas by name (`ReadSchemas['PhotoView']`, `ReadSchemas['Page']`, …). */
export type ReadSchemas = ReadComponents['schemas'];

/** A photo as the read API (and the write API's `GET /v1/photos/{id}`) shows it. */
export type PhotoView = ReadSchemas['PhotoView'];
/** One of a photo's sizes (`thumb`, `small`, `medium`, `large`). */
export type VariantView = ReadSchemas['VariantView'];
/** Where a photo is in its life. */
export type PhotoStatus = ReadSchemas['PhotoStatus'];
/** An RFC 9457 problem, as every 4xx and 5xx answer carries it. */
export type Problem = WriteSchemas['Problem'];

/** The bearer token, or a function that gives the current one (called before every request). */
export type TokenSource = string | (() => string | Promise<string>);

export interface CatalogClientOptions {
  /** The write API's base URL, e.g. `https://api.example` (a trailing slash is ignored). */
  writeApi: string;
  /** The read API's base URL. */
  readApi: string;
  /** Sent as `Authorization: Bearer <token>`; leave out for the read API's public answers. */
  token?: TokenSource;
  /** Another fetch (tests, a server-side runtime); the global one by default. */
  fetch?: (input: Request) => Promise<Response>;
  /** Anything else openapi-fetch takes for both clients (headers, credentials, …). */
  init?: Omit<ClientOptions, 'baseUrl' | 'fetch'>;
}

export interface CatalogClients {
  /** Commands, a photo's history and its past, product gallery order, webhooks. */
  write: Client<WritePaths>;
  /** Photos, galleries and products as buyers see them; the seller's own inventory. */
  read: Client<ReadPaths>;
}

/** The prefix of every problem `type`; the rest is a stable code (`not-found`, `busy`, …). */
export const PROBLEM_TYPE_PREFIX = 'urn:photo-catalog:problem:';

/**
 * The two clients, each sending the token (when given) with every request.
 *
 * ```ts
 * const { write, read } = createCatalogClients({ writeApi, readApi, token: () => session.accessToken });
 * const { data, error } = await read.GET('/v1/photos/{id}', { params: { path: { id } } });
 * ```
 */
export function createCatalogClients(options: CatalogClientOptions): CatalogClients {
  const shared: ClientOptions = { ...options.init };
  if (options.fetch) shared.fetch = options.fetch;
  const write = createClient<WritePaths>({ ...shared, baseUrl: trimSlash(options.writeApi) });
  const read = createClient<ReadPaths>({ ...shared, baseUrl: trimSlash(options.readApi) });
  if (options.token !== undefined) {
    const auth = bearer(options.token);
    write.use(auth);
    read.use(auth);
  }
  return { write, read };
}

/** A middleware that sets `Authorization: Bearer <token>` unless the request has one. */
export function bearer(token: TokenSource): Middleware {
  return {
    async onRequest({ request }) {
      if (request.headers.has('Authorization')) return undefined;
      const value = typeof token === 'function' ? await token() : token;
      request.headers.set('Authorization', `Bearer ${value}`);
      return request;
    },
  };
}

/**
 * The stable code of a problem (`product-owned`, `busy`, …), or null for anything else.
 * @example if (problemCode(error) === 'product-owned') …
 */
export function problemCode(problem: unknown): string | null {
  if (typeof problem !== 'object' || problem === null || !('type' in problem)) return null;
  const type = (problem as { type: unknown }).type;
  if (typeof type !== 'string' || !type.startsWith(PROBLEM_TYPE_PREFIX)) return null;
  return type.slice(PROBLEM_TYPE_PREFIX.length);
}

/**
 * The `If-Match` value for a product's gallery order at `version` (`"v<version>"`, the `ETag`
 * of `GET /v1/products/{product_id}/photo-order`).
 */
export function orderIfMatch(version: number): string {
  return `"v${version}"`;
}

/** The version in an order's `ETag` (`"v7"` or `W/"v7"`), or null. */
export function orderVersionOf(etag: string | null | undefined): number | null {
  const match = /^(?:W\/)?"v(\d+)"$/.exec(etag?.trim() ?? '');
  return match?.[1] === undefined ? null : Number(match[1]);
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
