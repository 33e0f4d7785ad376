//! How a command's events are appended: one statement (`INSERT ... SELECT FROM UNNEST`),
//! which also checks or claims the photo's product and keeps an idempotent request's answer,
//! so that all of it happens at once or not at all.

use catalog_events::PhotoState;

use crate::aggregate::PhotoCommand;

/// The statement that appends a command's events: `$1` the aggregate type, `$2` the photo,
/// then one array per column (`$3` to `$7`); it is one statement, so atomic on its own.
///
/// - With a [`Claim`], `$8` is the photo's product and `$9` its seller: a [`ClaimKind::Check`]
///   appends only if no other seller owns the product, a [`ClaimKind::Take`] first claims the
///   product for the seller and appends only if the seller owns it (see
///   `migrations/0008_products.sql`).
/// - With `answered`, it appends only if the idempotency key (`$n+2`, `$n+3`) is still
///   unanswered, storing the answer (`$n`, `$n+1`) in the same statement; a refused claim
///   leaves the key unanswered.
/// - With `keyed` (a new photo), it keeps the photo's sealed data key (`$m`, its seller `$m+1`,
///   after the parameters above) with its events, under the same conditions, so that a photo
///   never has events without its key nor a key without its events.
pub(super) fn append_statement(
    claim: Option<ClaimKind>,
    answered: bool,
    keyed: bool,
) -> &'static str {
    /// The twelve statements, made once: `[claim][answered as usize][keyed as usize]`.
    static STATEMENTS: std::sync::LazyLock<[[[String; 2]; 2]; 3]> =
        std::sync::LazyLock::new(|| {
            [None, Some(ClaimKind::Check), Some(ClaimKind::Take)].map(|claim| {
                [false, true]
                    .map(|answered| [false, true].map(|keyed| build_append(claim, answered, keyed)))
            })
        });
    let row = match claim {
        None => 0,
        Some(ClaimKind::Check) => 1,
        Some(ClaimKind::Take) => 2,
    };
    &STATEMENTS[row][usize::from(answered)][usize::from(keyed)]
}

fn build_append(claim: Option<ClaimKind>, answered: bool, keyed: bool) -> String {
    let mut ctes = Vec::new();
    let mut conditions = Vec::new();
    let mut next = 8;
    let owned = match claim {
        None => "",
        Some(ClaimKind::Check) => {
            " AND NOT EXISTS (SELECT 1 FROM products WHERE product_id = $8 AND seller_id <> $9)"
        }
        Some(ClaimKind::Take) => {
            ctes.push(
                "claim AS (INSERT INTO products (product_id, seller_id) VALUES ($8, $9) \
                 ON CONFLICT (product_id) DO UPDATE SET seller_id = products.seller_id \
                 RETURNING seller_id)"
                    .to_owned(),
            );
            " AND (SELECT seller_id FROM claim) = $9"
        }
    };
    if claim.is_some() {
        conditions.push(format!("TRUE{owned}"));
        next = 10;
    }
    if answered {
        let [status, body, seller, key] = [next, next + 1, next + 2, next + 3];
        ctes.push(format!(
            "answered AS (UPDATE idempotency_keys SET status = ${status}, body = ${body} \
             WHERE seller_id = ${seller} AND key = ${key} AND status IS NULL{owned} RETURNING 1)"
        ));
        conditions.push("EXISTS (SELECT 1 FROM answered)".to_owned());
        next += 4;
    }
    if keyed {
        let [sealed, seller] = [next, next + 1];
        let only_if = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        ctes.push(format!(
            "keyed AS (INSERT INTO photo_keys (photo_id, seller_id, sealed) \
             SELECT $2, ${seller}, ${sealed}{only_if} ON CONFLICT (photo_id) DO NOTHING)"
        ));
    }
    let with = if ctes.is_empty() {
        String::new()
    } else {
        format!("WITH {} ", ctes.join(", "))
    };
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    format!(
        "{with}INSERT INTO events \
         (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         SELECT $1, $2, e.* \
         FROM UNNEST($3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[]) AS e{filter}"
    )
}

/// What a command asks of its photo's product.
pub(super) struct Claim {
    pub(super) kind: ClaimKind,
    pub(super) product_id: String,
    pub(super) seller_id: String,
}

/// How a command stands to its photo's product: a photo only declared must not be of another
/// seller's product, and a photo whose file arrived takes its product if nobody has it yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ClaimKind {
    Check,
    Take,
}

impl Claim {
    /// The claim of `command` on the product of the photo it is decided on (`before`).
    pub(super) fn of(command: &PhotoCommand, before: Option<&PhotoState>) -> Option<Self> {
        let (kind, request) = match command {
            PhotoCommand::RequestUpload(request) => (ClaimKind::Check, request),
            PhotoCommand::RecordUpload { request, .. } => (ClaimKind::Take, request),
            PhotoCommand::ConfirmUpload { .. } | PhotoCommand::RequestReprocess { .. } => {
                let photo = before?;
                return Some(Self {
                    kind: ClaimKind::Take,
                    product_id: photo.product_id.clone(),
                    seller_id: photo.seller_id.clone(),
                });
            }
            _ => return None,
        };
        Some(Self {
            kind,
            product_id: request.product_id.clone(),
            seller_id: request.seller_id.clone(),
        })
    }
}
