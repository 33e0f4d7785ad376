// The page's types, for JSDoc only: taken from the APIs' OpenAPI documents through the types
// that clients/typescript generates from them (`clients/typescript/check` type-checks the page
// against them). Nothing here runs; other modules refer to these as
// `import('./types.js').PhotoView` in their comments.

/** @typedef {import('../clients/typescript/generated/read-api').components['schemas']} ReadSchemas */
/** @typedef {import('../clients/typescript/generated/write-api').components['schemas']} WriteSchemas */
/** @typedef {import('../clients/typescript/generated/read-api').paths} ReadPaths */
/** @typedef {import('../clients/typescript/generated/write-api').paths} WritePaths */

/** @typedef {ReadSchemas['FormatView']} FormatView another format of a variant (`image/webp`, `image/avif`) */

/** @typedef {ReadSchemas['VariantView']} VariantView one of `thumb`, `small`, `medium`, `large` */
/** @typedef {ReadSchemas['PhotoStatus']} PhotoStatus */
/** @typedef {ReadSchemas['Placeholder']} Placeholder */

/**
 * A photo as the read API (and the write API's `GET /v1/photos/{id}`) shows it. Its `srcset`
 * (a ready-made `srcset` string per content type) is `{}` until the photo is ready, and absent
 * from services older than it: the page then builds one from the variants.
 * @typedef {ReadSchemas['PhotoView']} PhotoView
 */

/** @typedef {ReadSchemas['Page']} PhotoPage a page of the inventory or a gallery */

/** @typedef {WriteSchemas['CreatedPhoto']} CreatedPhoto the answer of `POST /v1/photos` and of a replace */
/** @typedef {WriteSchemas['Upload']} UploadTarget where and how to PUT an original */
/** @typedef {WriteSchemas['NewPhoto']} NewPhoto the body of `POST /v1/photos` */
/** @typedef {WriteSchemas['NewOriginal']} NewOriginal the body of `POST /v1/photos/{id}/replace` */
/** @typedef {WriteSchemas['DetailsPatch']} DetailsPatch the body of `PATCH /v1/photos/{id}` */
/** @typedef {WriteSchemas['PhotoSummary']} PhotoSummary status and version after a command */
/** @typedef {WriteSchemas['PhotoVersion']} PhotoVersion version after a command */
/** @typedef {WriteSchemas['History']} History a page of a photo's history */
/** @typedef {WriteSchemas['HistoryEvent']} HistoryEvent */
/** @typedef {WriteSchemas['Problem']} Problem an RFC 9457 problem */
/** @typedef {WriteSchemas['FieldError']} FieldError one invalid field of a 422 */
/** @typedef {WriteSchemas['PhotoOrder']} PhotoOrder the body of `PUT /v1/products/{product_id}/photo-order` */
/** @typedef {WriteSchemas['ProductVersion']} ProductVersion the answer of that PUT */
/** @typedef {WriteSchemas['ProductOrder']} ProductOrder the answer of `GET /v1/products/{product_id}/photo-order` */

/**
 * The query of `GET /v1/sellers/me/photos` (`status`, `product_id`, `tag`, `limit`, `cursor`).
 * @typedef {NonNullable<ReadPaths['/v1/sellers/me/photos']['get']['parameters']['query']>} InventoryQuery
 */

export {};
