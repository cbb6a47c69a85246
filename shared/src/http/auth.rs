//! Who is calling: tenant, user and permissions.
//!
//! In AWS the HTTP API's JWT authorizer has verified the token and the claims arrive in the
//! request context. Locally the server verifies the same claims itself (HS256, local secret).

use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use serde::{Deserialize, Serialize};

pub use crate::domain::caller::Caller;
use crate::domain::ids::{TenantId, UserId};
use crate::error::OmsError;

/// The claims of an OMS token, as minted locally and as the authorizer passes them on.
/// Required: `sub` (the user), `tenant` and `exp` (seconds since the epoch); optional: `scope`
/// (space-separated permissions), `iat`, and `iss`, which must be `oms-local` when present.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub tenant: String,
    /// Space-separated permissions.
    #[serde(default)]
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    pub exp: i64,
}

pub const LOCAL_ISSUER: &str = "oms-local";
/// Seconds a token is still accepted after its `exp`, for clocks that disagree a little.
const EXPIRY_LEEWAY_SECONDS: i64 = 60;

/// Signs and verifies local tokens.
#[derive(Clone)]
pub struct LocalJwt {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for LocalJwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalJwt")
    }
}

impl LocalJwt {
    pub fn new(secret: &str) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
        }
    }

    pub fn mint(
        &self,
        tenant: &TenantId,
        user: &UserId,
        permissions: &[&str],
        now: i64,
        ttl_seconds: i64,
    ) -> anyhow::Result<String> {
        let claims = Claims {
            sub: user.as_str().into(),
            tenant: tenant.as_str().into(),
            scope: permissions.join(" "),
            iss: Some(LOCAL_ISSUER.into()),
            iat: Some(now),
            exp: now + ttl_seconds,
        };
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?)
    }

    /// Checks the signature, then `exp` against `now` (seconds) and `iss` when present.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, OmsError> {
        let mut validation = Validation::new(Algorithm::HS256);
        // The library reads exp/nbf through deserialize_any, which exact (arbitrary precision)
        // JSON numbers break: the claims are checked below on the typed struct instead.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| OmsError::Unauthorized(format!("invalid token: {e}")))?;
        if claims.exp.saturating_add(EXPIRY_LEEWAY_SECONDS) < now {
            return Err(OmsError::Unauthorized("invalid token: it has expired (exp)".into()));
        }
        if let Some(issuer) = claims.iss.as_deref()
            && issuer != LOCAL_ISSUER
        {
            return Err(OmsError::Unauthorized(format!(
                "invalid token: iss is {issuer:?}; local tokens carry iss \"{LOCAL_ISSUER}\" or none"
            )));
        }
        Ok(claims)
    }
}

/// How a function learns who calls it.
#[derive(Debug, Clone)]
pub enum AuthMode {
    /// Trust the claims of the API Gateway JWT authorizer (AWS, and `cargo lambda invoke`).
    Authorizer,
    /// Verify `Authorization: Bearer` tokens with the local secret (the local server).
    Local(LocalJwt),
}

fn caller_from_claims(sub: Option<&str>, tenant: Option<&str>, scope: Option<&str>) -> Result<Caller, OmsError> {
    let tenant = tenant.ok_or_else(|| OmsError::Unauthorized("the token has no tenant claim".into()))?;
    let tenant = TenantId::parse(tenant)
        .map_err(|e| OmsError::Unauthorized(format!("the token's tenant claim is invalid: {e}")))?;
    let user = sub.ok_or_else(|| OmsError::Unauthorized("the token has no sub claim".into()))?;
    let user =
        UserId::parse(user).map_err(|e| OmsError::Unauthorized(format!("the token's sub claim is invalid: {e}")))?;
    let permissions = scope.unwrap_or_default().split_whitespace().map(str::to_owned).collect();
    Ok(Caller { tenant, user, permissions })
}

/// Authenticates a request from its headers and (in Lambda) its request context.
pub fn authenticate(
    mode: &AuthMode,
    headers: &HeaderMap,
    extensions: &axum::http::Extensions,
    now: i64,
) -> Result<Caller, OmsError> {
    match mode {
        AuthMode::Authorizer => {
            let claims = match extensions.request_context_ref() {
                #[allow(irrefutable_let_patterns)]
                Some(RequestContext::ApiGatewayV2(ctx)) => {
                    ctx.authorizer.as_ref().and_then(|a| a.jwt.as_ref()).map(|jwt| &jwt.claims)
                }
                _ => None,
            };
            let claims = claims.ok_or_else(|| {
                OmsError::Unauthorized("no verified token: send Authorization: Bearer <token>".into())
            })?;
            let tenant = claims.get("tenant").or_else(|| claims.get("custom:tenant"));
            caller_from_claims(
                claims.get("sub").map(String::as_str),
                tenant.map(String::as_str),
                claims.get("scope").map(String::as_str),
            )
        }
        AuthMode::Local(jwt) => {
            let header = headers
                .get(axum::http::header::AUTHORIZATION)
                .ok_or_else(|| OmsError::Unauthorized("no token: send Authorization: Bearer <token>".into()))?;
            let token = header
                .to_str()
                .ok()
                .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
                .ok_or_else(|| OmsError::Unauthorized("the Authorization header must be Bearer <token>".into()))?;
            let claims = jwt.verify(token.trim(), now)?;
            caller_from_claims(Some(&claims.sub), Some(&claims.tenant), Some(&claims.scope))
        }
    }
}

/// The tenant headers of the sources must name the token's tenant when they are sent.
pub fn check_tenant_headers(headers: &HeaderMap, caller: &Caller) -> Result<(), OmsError> {
    let expected = caller.tenant.as_str();
    let refuse = |header: &str, named: &str| {
        Err(OmsError::Forbidden(format!(
            "header {header} names tenant {named:?} but the token is for tenant {expected:?}"
        )))
    };
    for name in ["x-vol-tenant", "selectedorganization"] {
        if let Some(value) = headers.get(name) {
            let value = value.to_str().unwrap_or_default().trim();
            if value != expected {
                return refuse(name, value);
            }
        }
    }
    if let Some(value) = headers.get("x-site-context") {
        let raw = value.to_str().unwrap_or_default();
        let account = serde_json::from_str::<serde_json::Value>(raw)
            .ok()
            .and_then(|v| v.get("account").and_then(|a| a.as_str().map(str::to_owned)))
            .ok_or_else(|| {
                OmsError::validation("x-site-context", "must be a JSON object with an \"account\" naming the tenant")
            })?;
        if account != expected {
            return refuse("x-site-context", &account);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(tenant: &str) -> Caller {
        Caller {
            tenant: TenantId::parse(tenant).unwrap(),
            user: UserId::parse("u").unwrap(),
            permissions: std::collections::BTreeSet::new(),
        }
    }

    #[test]
    fn when_token_is_minted_should_verify_with_the_same_secret_only() {
        let jwt = LocalJwt::new("a-local-secret-of-some-length");
        let now = chrono::Utc::now().timestamp();
        let token = jwt
            .mint(&TenantId::parse("demo").unwrap(), &UserId::parse("alice").unwrap(), &["api::order::read"], now, 60)
            .unwrap();
        let claims = jwt.verify(&token, now).unwrap();
        assert_eq!(
            (claims.tenant.as_str(), claims.sub.as_str(), claims.scope.as_str()),
            ("demo", "alice", "api::order::read")
        );
        assert!(LocalJwt::new("another-secret-entirely").verify(&token, now).is_err());
    }

    #[test]
    fn when_token_is_expired_should_be_unauthorized() {
        let jwt = LocalJwt::new("a-local-secret-of-some-length");
        let long_ago = chrono::Utc::now().timestamp() - 3600;
        let token =
            jwt.mint(&TenantId::parse("demo").unwrap(), &UserId::parse("alice").unwrap(), &[], long_ago, 60).unwrap();
        assert!(matches!(jwt.verify(&token, chrono::Utc::now().timestamp()), Err(OmsError::Unauthorized(_))));
    }

    /// A token minted by another JWT library from the documented claims, without `iss`.
    fn foreign_token(secret: &str, claims: serde_json::Value) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes()))
            .unwrap()
    }

    #[test]
    fn when_a_token_has_no_iss_should_be_accepted_with_its_claims() {
        let jwt = LocalJwt::new("a-local-secret-of-some-length");
        let now = 1_800_000_000;
        let token = foreign_token(
            "a-local-secret-of-some-length",
            serde_json::json!({"sub": "bob", "tenant": "demo", "scope": "api::order::read", "exp": now + 60}),
        );
        let claims = jwt.verify(&token, now).unwrap();
        assert_eq!((claims.sub.as_str(), claims.tenant.as_str(), claims.iss), ("bob", "demo", None));
    }

    #[test]
    fn when_a_token_names_another_issuer_should_be_unauthorized_naming_iss() {
        let jwt = LocalJwt::new("a-local-secret-of-some-length");
        let now = 1_800_000_000;
        let token = foreign_token(
            "a-local-secret-of-some-length",
            serde_json::json!({"sub": "bob", "tenant": "demo", "iss": "elsewhere", "exp": now + 60}),
        );
        let err = jwt.verify(&token, now).unwrap_err();
        assert!(matches!(&err, OmsError::Unauthorized(m) if m.contains("iss")), "{err}");
    }

    #[test]
    fn when_a_token_lacks_exp_or_sub_should_be_unauthorized() {
        let jwt = LocalJwt::new("a-local-secret-of-some-length");
        for claims in [
            serde_json::json!({"sub": "bob", "tenant": "demo"}),
            serde_json::json!({"tenant": "demo", "exp": 1_800_000_060}),
        ] {
            let token = foreign_token("a-local-secret-of-some-length", claims);
            assert!(matches!(jwt.verify(&token, 1_800_000_000), Err(OmsError::Unauthorized(_))));
        }
    }

    #[test]
    fn when_tenant_header_disagrees_with_token_should_be_forbidden() {
        let mut headers = HeaderMap::new();
        headers.insert("x-vol-tenant", "other".parse().unwrap());
        assert!(matches!(check_tenant_headers(&headers, &caller("demo")), Err(OmsError::Forbidden(_))));
    }

    #[test]
    fn when_site_context_names_the_token_tenant_should_pass() {
        let mut headers = HeaderMap::new();
        headers.insert("x-site-context", r#"{"account":"demo","channel":12}"#.parse().unwrap());
        headers.insert("x-vol-tenant", "demo".parse().unwrap());
        assert!(check_tenant_headers(&headers, &caller("demo")).is_ok());
    }

    #[test]
    fn when_site_context_is_not_json_should_name_the_header() {
        let mut headers = HeaderMap::new();
        headers.insert("x-site-context", "demo".parse().unwrap());
        let err = check_tenant_headers(&headers, &caller("demo")).unwrap_err();
        assert_eq!(err.field(), Some("x-site-context"));
    }
}
