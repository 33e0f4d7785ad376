/**
 * The typed view of `resources.json`, the one list of names and routes that the local stack
 * (`./dev up`), the Rust services and this CDK app all read, so that the three cannot drift.
 *
 * Every AWS name is the file's name behind a prefix, exactly as the processes compute it from
 * `CATALOG_RESOURCE_PREFIX`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A global secondary index of the read-model table. */
export interface IndexSpec {
  readonly name: string;
  readonly partitionKey: string;
  readonly sortKey: string;
}

/** A read-model table: its name, key and global secondary indexes. */
export interface TableSpec {
  readonly name: string;
  readonly partitionKey: string;
  readonly indexes: readonly IndexSpec[];
}

/** An SQS queue of the pipeline, its dead-letter queue and the EventBridge rule that feeds it. */
export interface QueueSpec {
  /** What consumes the queue: `projector`, `images` or `notifier`. */
  readonly role: QueueRole;
  readonly name: string;
  readonly deadLetterQueue: string;
  readonly maxReceiveCount: number;
  readonly visibilityTimeoutSecs: number;
  readonly rule: string;
  /** The detail-types the rule matches, or `undefined` for every event of the source. */
  readonly detailTypes?: readonly string[];
}

/** An S3 object tag, and how long an object may keep it before the lifecycle expires it. */
export interface UploadTag {
  readonly key: string;
  readonly value: string;
  readonly expireAfterDays: number;
}

export type QueueRole = 'projector' | 'images' | 'notifier';

/**
 * S3's own "Object Created" events of the originals bucket, which S3 delivers to the account's
 * default bus: the rule that routes them to a consumer's queue, so an upload whose client never
 * said it was done is still recorded.
 */
export interface UploadEventsSpec {
  readonly rule: string;
  /** The consumer whose queue receives them. */
  readonly queueRole: QueueRole;
  /** The keys of originals start with this (`originals/`); the rule matches only those. */
  readonly keyPrefix: string;
}

export interface CatalogResources {
  readonly bus: string;
  readonly eventSource: string;
  readonly buckets: {
    readonly originals: string;
    readonly variants: string;
    /** The seller web page's static files, served only through its CloudFront distribution. */
    readonly sellerPage: string;
    /** The tag of an original uploaded but never confirmed; the write side removes it on upload-complete. */
    readonly unconfirmedUploadTag: UploadTag;
  };
  /** The read-model table of the current layout, the one the services use. */
  readonly table: TableSpec;
  /**
   * The table of the layout before, kept (untouched) while the current one is rebuilt beside it
   * and compared with it; `undefined` once a later change drops it.
   */
  readonly previousTable?: TableSpec;
  readonly queues: readonly QueueSpec[];
  readonly uploadEvents: UploadEventsSpec;
}

/** Where the file lives: beside this package, read at synth time (never copied). */
export const RESOURCES_FILE = path.join(__dirname, '..', '..', 'resources.json');

const QUEUE_ROLES: readonly QueueRole[] = ['projector', 'images', 'notifier'];

class ResourcesError extends Error {}

function field(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ResourcesError(`${where}: expected an object`);
  }
  return value as Record<string, unknown>;
}

function text(object: Record<string, unknown>, key: string, where: string): string {
  const value = object[key];
  if (typeof value !== 'string' || value.length === 0) {
    throw new ResourcesError(`${where}.${key}: expected a non-empty string`);
  }
  return value;
}

function positive(object: Record<string, unknown>, key: string, where: string): number {
  const value = object[key];
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new ResourcesError(`${where}.${key}: expected a positive integer`);
  }
  return value;
}

function list(object: Record<string, unknown>, key: string, where: string): unknown[] {
  const value = object[key];
  if (!Array.isArray(value)) {
    throw new ResourcesError(`${where}.${key}: expected an array`);
  }
  return value;
}

function uploadTag(value: unknown, where: string): UploadTag {
  const raw = field(value, where);
  return {
    key: text(raw, 'key', where),
    value: text(raw, 'value', where),
    expireAfterDays: positive(raw, 'expire_after_days', where),
  };
}

function tableSpec(value: unknown, where: string): TableSpec {
  const raw = field(value, where);
  return {
    name: text(raw, 'name', where),
    partitionKey: text(raw, 'partition_key', where),
    indexes: list(raw, 'indexes', where).map((entry, i) => {
      const index = field(entry, `${where}.indexes[${i}]`);
      return {
        name: text(index, 'name', `${where}.indexes[${i}]`),
        partitionKey: text(index, 'partition_key', `${where}.indexes[${i}]`),
        sortKey: text(index, 'sort_key', `${where}.indexes[${i}]`),
      };
    }),
  };
}

function queueRole(object: Record<string, unknown>, key: string, where: string): QueueRole {
  const role = text(object, key, where);
  if (!QUEUE_ROLES.includes(role as QueueRole)) {
    throw new ResourcesError(`${where}.${key}: expected one of ${QUEUE_ROLES.join(', ')}`);
  }
  return role as QueueRole;
}

function queue(value: unknown, where: string): QueueSpec {
  const raw = field(value, where);
  const role = queueRole(raw, 'role', where);
  const detailTypes = raw['detail_types'];
  if (detailTypes !== null && !(Array.isArray(detailTypes) && detailTypes.length > 0
      && detailTypes.every((type) => typeof type === 'string' && type.length > 0))) {
    throw new ResourcesError(`${where}.detail_types: expected null or a non-empty list of strings`);
  }
  return {
    role,
    name: text(raw, 'name', where),
    deadLetterQueue: text(raw, 'dead_letter_queue', where),
    maxReceiveCount: positive(raw, 'max_receive_count', where),
    visibilityTimeoutSecs: positive(raw, 'visibility_timeout_secs', where),
    rule: text(raw, 'rule', where),
    detailTypes: detailTypes === null ? undefined : (detailTypes as string[]),
  };
}

function uploadEvents(value: unknown, where: string): UploadEventsSpec {
  const raw = field(value, where);
  return {
    rule: text(raw, 'rule', where),
    queueRole: queueRole(raw, 'queue_role', where),
    keyPrefix: text(raw, 'key_prefix', where),
  };
}

/** Parses and checks the JSON text of `resources.json`. */
export function parseResources(json: string): CatalogResources {
  const raw = field(JSON.parse(json), 'resources.json');
  const buckets = field(raw['buckets'], 'buckets');
  const table = tableSpec(raw['table'], 'table');
  // Optional: absent (or null) once the rebuild is done and the old table is dropped.
  const previousRaw = raw['previous_table'];
  const previousTable = previousRaw === undefined || previousRaw === null
    ? undefined : tableSpec(previousRaw, 'previous_table');
  if (previousTable?.name === table.name) {
    throw new ResourcesError('previous_table.name: must differ from table.name (the new layout lives in a new table)');
  }
  const queues = list(raw, 'queues', 'resources.json').map((entry, i) => queue(entry, `queues[${i}]`));
  for (const role of QUEUE_ROLES) {
    if (queues.filter((spec) => spec.role === role).length !== 1) {
      throw new ResourcesError(`queues: expected exactly one queue with role ${role}`);
    }
  }
  return {
    bus: text(raw, 'bus', 'resources.json'),
    eventSource: text(raw, 'event_source', 'resources.json'),
    buckets: {
      originals: text(buckets, 'originals', 'buckets'),
      variants: text(buckets, 'variants', 'buckets'),
      sellerPage: text(buckets, 'seller_page', 'buckets'),
      unconfirmedUploadTag: uploadTag(buckets['unconfirmed_upload_tag'], 'buckets.unconfirmed_upload_tag'),
    },
    table,
    previousTable,
    queues,
    uploadEvents: uploadEvents(raw['upload_events'], 'upload_events'),
  };
}

/** Reads `resources.json` (or another file of the same shape). */
export function loadResources(file: string = RESOURCES_FILE): CatalogResources {
  return parseResources(fs.readFileSync(file, 'utf8'));
}

/** The queue a given consumer reads. */
export function queueFor(resources: CatalogResources, role: QueueRole): QueueSpec {
  const spec = resources.queues.find((candidate) => candidate.role === role);
  if (spec === undefined) {
    throw new ResourcesError(`no queue with role ${role}`);
  }
  return spec;
}

/** The prefix of every name, as `CATALOG_RESOURCE_PREFIX` gives it to the processes. */
export class Naming {
  constructor(readonly prefix: string) {
    if (!/^[a-z0-9][a-z0-9-]{0,29}$/.test(prefix)) {
      throw new Error(
        `resourcePrefix "${prefix}": use 1 to 30 lower-case letters, digits and hyphens `
        + '(it starts S3 bucket names, which are global: choose one nobody else uses)');
    }
  }

  /** The AWS name of a resources.json name. */
  name(base: string): string {
    return `${this.prefix}${base}`;
  }
}
