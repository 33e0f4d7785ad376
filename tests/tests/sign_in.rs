//! Sign-in with an identity provider's key set (JWKS), as Amazon Cognito publishes it: a key
//! set served on loopback with keys made here, and the write API configured as in AWS (JWKS
//! only, an issuer and an audience, no HS256 secret). Every refusal is `401` problem+json and
//! appends nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{App, HttpResponse, HttpServer, web};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use catalog_http::auth::AuthConfig;
use catalog_tests::{WriteApi, eventually, expect_json, expect_problem};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_test";
const CLIENT: &str = "seller-page-client";

/// A signing key made here: what signs tokens, and its public half as a JWK.
struct Key {
    kid: String,
    algorithm: Algorithm,
    signing: EncodingKey,
    jwk: Value,
    /// The public key's DER, as an attacker would find it.
    public_der: Vec<u8>,
}

impl Key {
    fn rsa(kid: &str) -> Self {
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let pkcs8: Pkcs8V1Der = pair.as_der().unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(pkcs8.as_ref())
        );
        let public = pair.public_key();
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        Self {
            kid: kid.to_owned(),
            algorithm: Algorithm::RS256,
            signing: EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
            jwk: json!({
                "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                "n": b64(public.modulus().big_endian_without_leading_zero()),
                "e": b64(public.exponent().big_endian_without_leading_zero()),
            }),
            public_der: public.as_der().unwrap().as_ref().to_vec(),
        }
    }

    fn ec(kid: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        Self {
            kid: kid.to_owned(),
            algorithm: Algorithm::ES256,
            signing: EncodingKey::from_ec_der(pair.to_pkcs8v1().unwrap().as_ref()),
            jwk: json!({
                "kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256",
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
            }),
            public_der: point,
        }
    }

    /// A token signed with this key under `kid`, with `claims`.
    fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &self.signing).unwrap()
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, claims)
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The claims of a Cognito access token for `seller`.
fn access_token(seller: &str) -> Value {
    json!({
        "sub": seller, "iss": ISSUER, "client_id": CLIENT, "token_use": "access",
        "exp": now() + 3600, "iat": now(), "scope": "openid email profile",
    })
}

/// The identity provider: its key set on loopback, and how often it was fetched.
struct Provider {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

impl Provider {
    fn start(keys: &[&Key]) -> Self {
        let keys = Arc::new(Mutex::new(
            keys.iter().map(|key| key.jwk.clone()).collect::<Vec<_>>(),
        ));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (Arc::clone(&keys), Arc::clone(&fetches));
        let server = HttpServer::new(move || {
            let (keys, fetches) = (Arc::clone(&served), Arc::clone(&counted));
            App::new().route(
                "/.well-known/jwks.json",
                web::get().to(move || {
                    let (keys, fetches) = (Arc::clone(&keys), Arc::clone(&fetches));
                    async move {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        let keys = keys.lock().unwrap().clone();
                        HttpResponse::Ok().json(json!({ "keys": keys }))
                    }
                }),
            )
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        Self {
            url: format!("http://127.0.0.1:{port}/.well-known/jwks.json"),
            keys,
            fetches,
        }
    }

    fn publish(&self, key: &Key) {
        self.keys.lock().unwrap().push(key.jwk.clone());
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// The write API as in AWS: tokens from `provider` only, for our issuer and client.
async fn api(provider: &Provider, refresh_secs: u64) -> WriteApi {
    let url = provider.url.parse().unwrap();
    WriteApi::spawn_with(|config| {
        config.auth = AuthConfig {
            jwt_secret: None,
            jwks_url: Some(url),
            issuer: Some(ISSUER.into()),
            audience: Some(CLIENT.into()),
            jwks_refresh_secs: refresh_secs,
        };
    })
    .await
    .unwrap()
}

/// A new photo of a product of its own (a product is its first seller's).
fn photo() -> Value {
    let product = format!("sku-{}", uuid::Uuid::new_v4().simple());
    json!({"product_id": product, "filename": "a.jpg", "content_type": "image/jpeg", "size_bytes": 100})
}

/// `POST /v1/photos` with `token`.
async fn create(api: &WriteApi, token: &str) -> reqwest::Response {
    api.http
        .post(api.url("/v1/photos"))
        .bearer_auth(token)
        .json(&photo())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn rs256_and_es256_tokens_of_the_providers_keys_are_accepted() {
    let (rsa, ec) = (Key::rsa("rsa-1"), Key::ec("ec-1"));
    let provider = Provider::start(&[&rsa, &ec]);
    let api = api(&provider, 60).await;
    for (key, seller) in [(&rsa, "seller-rsa"), (&ec, "seller-ec")] {
        let created = expect_json(
            create(&api, &key.sign(&access_token(seller))).await,
            StatusCode::CREATED,
        )
        .await
        .unwrap();
        let events = api.events().await.unwrap();
        let id = created["photo_id"].as_str().unwrap();
        assert!(events.iter().any(|(photo, _, _)| photo == id));
    }
    // An ID token names the client in `aud` instead.
    let id_token = json!({"sub": "seller-id", "iss": ISSUER, "aud": CLIENT, "token_use": "id", "exp": now() + 60});
    expect_json(
        create(&api, &rsa.sign(&id_token)).await,
        StatusCode::CREATED,
    )
    .await
    .unwrap();
    assert_eq!(
        provider.fetches(),
        1,
        "the key set is fetched once and kept"
    );
}

#[tokio::test]
async fn forged_and_misdirected_tokens_are_refused_with_401_and_append_nothing() {
    let (rsa, ec) = (Key::rsa("rsa-1"), Key::ec("ec-1"));
    let provider = Provider::start(&[&rsa, &ec]);
    let api = api(&provider, 60).await;
    let attacker = Key::rsa("rsa-attacker");
    let claims = |change: &dyn Fn(&mut Value)| {
        let mut claims = access_token("seller-1");
        change(&mut claims);
        claims
    };
    let hs256_with_public_key = |public: &[u8]| {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("rsa-1".into());
        jsonwebtoken::encode(
            &header,
            &access_token("seller-1"),
            &EncodingKey::from_secret(public),
        )
        .unwrap()
    };
    let refused = [
        (
            "another key under a known kid",
            attacker.sign_as("rsa-1", &access_token("seller-1")),
        ),
        (
            "an EC-signed token under an RSA kid",
            ec.sign_as("rsa-1", &access_token("seller-1")),
        ),
        (
            "a wrong issuer",
            rsa.sign(&claims(&|c| c["iss"] = json!("https://evil.example"))),
        ),
        (
            "a wrong audience",
            rsa.sign(&claims(&|c| c["client_id"] = json!("another-client"))),
        ),
        (
            "an ID token for another audience",
            rsa.sign(&claims(&|c| {
                c["token_use"] = json!("id");
                c["aud"] = json!("another-client");
                c.as_object_mut().unwrap().remove("client_id");
            })),
        ),
        (
            "no audience at all",
            rsa.sign(&claims(&|c| {
                c.as_object_mut().unwrap().remove("client_id");
            })),
        ),
        (
            "an expired token",
            rsa.sign(&claims(&|c| c["exp"] = json!(now() - 3600))),
        ),
        (
            "a token not valid yet",
            rsa.sign(&claims(&|c| c["nbf"] = json!(now() + 3600))),
        ),
        (
            "HS256 keyed with the RSA public key",
            hs256_with_public_key(&rsa.public_der),
        ),
        (
            "HS256 keyed with the EC public key",
            hs256_with_public_key(&ec.public_der),
        ),
        ("an unknown kid", attacker.sign(&access_token("seller-1"))),
        ("garbage", "not.a.token".to_owned()),
    ];
    for (what, token) in refused {
        let problem = expect_problem(create(&api, &token).await, StatusCode::UNAUTHORIZED)
            .await
            .unwrap_or_else(|error| panic!("{what}: {error}"));
        assert!(
            problem["type"].as_str().unwrap().ends_with(":unauthorized"),
            "{what}: {problem}"
        );
    }
    assert!(api.events().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_key_published_later_is_accepted_without_a_restart() {
    let first = Key::rsa("rsa-1");
    let provider = Provider::start(&[&first]);
    let api = api(&provider, 1).await;
    expect_json(
        create(&api, &first.sign(&access_token("s"))).await,
        StatusCode::CREATED,
    )
    .await
    .unwrap();
    let rotated = Key::ec("ec-2");
    provider.publish(&rotated);
    let token = rotated.sign(&access_token("s"));
    eventually(Duration::from_secs(10), || async {
        Ok((create(&api, &token).await.status() == StatusCode::CREATED).then_some(()))
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn twenty_tokens_with_unknown_kids_cause_at_most_one_refresh() {
    let key = Key::rsa("rsa-1");
    let provider = Provider::start(&[&key]);
    let api = api(&provider, 60).await;
    let forged = (0..20).map(|n| key.sign_as(&format!("forged-{n}"), &access_token("s")));
    let answers = futures_util::future::join_all(forged.map(|token| {
        let api = &api;
        async move { create(api, &token).await.status() }
    }))
    .await;
    assert!(
        answers
            .iter()
            .all(|status| *status == StatusCode::UNAUTHORIZED)
    );
    assert_eq!(provider.fetches(), 1, "20 unknown kids, one fetch");
    // The fetch they caused serves the real key from then on.
    expect_json(
        create(&api, &key.sign(&access_token("s"))).await,
        StatusCode::CREATED,
    )
    .await
    .unwrap();
    assert_eq!(provider.fetches(), 1);
}
