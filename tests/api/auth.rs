//! Accounts and access control against the real `svc api`, on both stores: who may do what
//! (every row of docs/API.md's table), login, refresh with reuse detection, logout, the
//! account's own routes, revocation, bad tokens, key rotation, the lockout shared by two
//! instances, the timing of failed logins, the limit on `/api/auth/*`, the scrape's access
//! rules, and `svc user`.

use crate::common::api;

use std::time::{Duration, Instant};

use api::{App, Backend, PASSWORD, Resp, Spawn, TEST_AUTH_SECRET, uuid_like};
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(
    every_row_of_the_access_table_holds,
    login_refresh_and_logout,
    a_replayed_refresh_token_revokes_its_whole_login,
    the_account_reads_changes_and_deletes_itself,
    a_password_change_or_a_deletion_ends_every_login,
    tampered_expired_and_foreign_tokens_are_refused,
    a_rotated_key_still_verifies_its_predecessors_tokens,
    five_failed_logins_lock_the_account_on_every_instance,
    unknown_emails_and_wrong_passwords_take_the_same_time,
    a_demoted_or_deleted_admin_loses_its_rights_at_once,
);

fn email() -> String {
    format!("u-{}@example.com", uuid_like())
}

async fn call(app: &App, token: Option<&str>, method: Method, path: &str) -> Resp {
    let request = match token {
        Some(token) => app.with_token(token, method, path),
        None => app.anonymous(method, path),
    };
    app.send(request).await
}

async fn call_json(
    app: &App,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: &Value,
) -> Resp {
    let request = match token {
        Some(token) => app.with_token(token, method, path),
        None => app.anonymous(method, path),
    };
    app.send(request.json(body)).await
}

async fn login_with(app: &App, email: &str, password: &str) -> Resp {
    call_json(
        app,
        None,
        Method::POST,
        "/api/auth/login",
        &json!({"email": email, "password": password}),
    )
    .await
}

async fn refresh(app: &App, refresh_token: &str) -> Resp {
    call_json(
        app,
        None,
        Method::POST,
        "/api/auth/refresh",
        &json!({"refreshToken": refresh_token}),
    )
    .await
}

fn unauthenticated(resp: &Resp) {
    resp.error(401, "UNAUTHENTICATED");
    assert_eq!(resp.header("www-authenticate"), Some("Bearer"), "{resp:?}");
}

async fn every_row_of_the_access_table_holds(backend: Backend) {
    let app = backend.spawn().start().await;
    let (_, admin) = app.account(&email(), true).await;
    let (ann_id, ann) = app.account(&email(), false).await;
    let (bob_id, _) = app.account(&email(), false).await;
    let product = call_json(
        &app,
        Some(&admin),
        Method::POST,
        "/api/products",
        &json!({"title": "Lamp", "price": 10}),
    )
    .await;
    assert_eq!(product.status, 201, "{}", product.text);
    let pid = product.json()["data"]["id"].as_str().unwrap().to_owned();

    // Reading the catalogue: everyone.
    for token in [None, Some(ann.as_str()), Some(admin.as_str())] {
        assert_eq!(
            call(&app, token, Method::GET, "/api/products").await.status,
            200
        );
        let one = call(&app, token, Method::GET, &format!("/api/products/{pid}")).await;
        assert_eq!(one.status, 200);
    }
    // includeDeleted, and every write of the catalogue: 401, 403, admin.
    let writes: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::GET,
            "/api/products?includeDeleted=true".into(),
            None,
        ),
        (
            Method::GET,
            format!("/api/products/{pid}?includeDeleted=true"),
            None,
        ),
        (
            Method::POST,
            "/api/products".into(),
            Some(json!({"title": "T", "price": 1})),
        ),
        (
            Method::PATCH,
            format!("/api/products/{pid}"),
            Some(json!({"price": 2})),
        ),
        (Method::DELETE, format!("/api/products/{pid}"), None),
        (Method::POST, format!("/api/products/{pid}/restore"), None),
    ];
    for (method, path, body) in &writes {
        let send = |token: Option<&str>| {
            let request = match token {
                Some(token) => app.with_token(token, method.clone(), path),
                None => app.anonymous(method.clone(), path),
            };
            match body {
                Some(body) => request.json(body),
                None => request,
            }
        };
        unauthenticated(&app.send(send(None)).await);
        app.send(send(Some(&ann))).await.error(403, "FORBIDDEN");
        let ok = app.send(send(Some(&admin))).await;
        assert!(ok.status.is_success(), "{method} {path}: {}", ok.text);
    }
    // The user list: 401, 403, admin.
    unauthenticated(&call(&app, None, Method::GET, "/api/users").await);
    call(
        &app,
        Some(&ann),
        Method::GET,
        "/api/users?includeDeleted=true",
    )
    .await
    .error(403, "FORBIDDEN");
    let listed = call(&app, Some(&admin), Method::GET, "/api/users").await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json()["meta"]["total"], 3);
    // One user: anonymous 401, itself yes, another user 404 (as if it did not exist), admin yes.
    for suffix in ["", "/welcome-email"] {
        let own = format!("/api/users/{ann_id}{suffix}");
        let other = format!("/api/users/{bob_id}{suffix}");
        unauthenticated(&call(&app, None, Method::GET, &own).await);
        assert_eq!(call(&app, Some(&ann), Method::GET, &own).await.status, 200);
        let hidden = call(&app, Some(&ann), Method::GET, &other).await;
        hidden.error(404, "NOT_FOUND");
        let missing = call(
            &app,
            Some(&ann),
            Method::GET,
            &format!("/api/users/0123456789abcdef01234567{suffix}"),
        )
        .await;
        assert_eq!(
            hidden.json()["message"],
            missing.json()["message"],
            "another user's id looks exactly like a missing one"
        );
        assert_eq!(
            call(&app, Some(&admin), Method::GET, &other).await.status,
            200
        );
    }
    call(
        &app,
        Some(&ann),
        Method::GET,
        &format!("/api/users/{ann_id}?includeDeleted=true"),
    )
    .await
    .error(403, "FORBIDDEN");
    unauthenticated(&call(&app, None, Method::DELETE, &format!("/api/users/{bob_id}")).await);
    call(
        &app,
        Some(&ann),
        Method::DELETE,
        &format!("/api/users/{bob_id}"),
    )
    .await
    .error(404, "NOT_FOUND");
    assert_eq!(
        call(
            &app,
            Some(&admin),
            Method::DELETE,
            &format!("/api/users/{bob_id}")
        )
        .await
        .status,
        200
    );
    let own = call(
        &app,
        Some(&ann),
        Method::DELETE,
        &format!("/api/users/{ann_id}"),
    )
    .await;
    assert_eq!(own.status, 200);
    assert!(own.json()["data"]["deletedAt"].is_string());
    // Sign-up stays public, makes a plain user, and refuses a role.
    let signup = call_json(
        &app,
        None,
        Method::POST,
        "/api/users",
        &json!({"name": "Eve", "email": email(), "password": PASSWORD}),
    )
    .await;
    assert_eq!(signup.status, 201);
    assert_eq!(signup.json()["data"]["role"], "user");
    let escalate = call_json(
        &app,
        None,
        Method::POST,
        "/api/users",
        &json!({"name": "Eve", "email": email(), "password": PASSWORD, "role": "admin"}),
    )
    .await;
    escalate.error(400, "VALIDATION_ERROR");
    assert_eq!(escalate.detail_fields(), ["role"]);
    // A header that is not a bearer token is a 401 even on a public route.
    let basic = app
        .send(
            app.anonymous(Method::GET, "/api/products")
                .header("authorization", "Basic YTpi"),
        )
        .await;
    unauthenticated(&basic);
}

async fn login_refresh_and_logout(backend: Backend) {
    let app = backend.spawn().env("AUTH_TOKEN_TTL", "10m").start().await;
    let email = email();
    let id = app.create_account(&email, false).await;
    let pair = app.login(&email).await;
    assert_eq!(pair["tokenType"], "Bearer");
    assert_eq!(pair["expiresIn"], 600);
    let access = pair["accessToken"].as_str().unwrap();
    let first = pair["refreshToken"].as_str().unwrap();
    assert!(first.len() >= 43, "at least 256 bits: {first}");
    let me = call(&app, Some(access), Method::GET, "/api/users/me").await;
    assert_eq!(me.json()["data"]["id"], id.as_str());
    assert_eq!(me.json()["data"]["role"], "user");

    // The refresh token is stored only as a hash.
    let stored = stored_refresh_hashes(&app).await;
    assert!(!stored.is_empty() && stored.iter().all(|h| h.len() == 64 && h != first));

    let renewed = refresh(&app, first).await;
    assert_eq!(renewed.status, 200, "{}", renewed.text);
    let renewed = renewed.json()["data"].clone();
    let second = renewed["refreshToken"].as_str().unwrap();
    assert_ne!(second, first);
    let new_access = renewed["accessToken"].as_str().unwrap();
    assert_eq!(
        call(&app, Some(new_access), Method::GET, "/api/users/me")
            .await
            .status,
        200
    );

    // Logout ends that login: its refresh token stops working at once.
    unauthenticated(
        &call_json(
            &app,
            None,
            Method::POST,
            "/api/auth/logout",
            &json!({"refreshToken": second}),
        )
        .await,
    );
    let out = call_json(
        &app,
        Some(new_access),
        Method::POST,
        "/api/auth/logout",
        &json!({"refreshToken": second}),
    )
    .await;
    assert_eq!(out.status, 204, "{}", out.text);
    unauthenticated(&refresh(&app, second).await);
    // Another login of the same account is untouched.
    let other = app.login(&email).await;
    assert_eq!(
        refresh(&app, other["refreshToken"].as_str().unwrap())
            .await
            .status,
        200
    );

    // Bad credentials: one answer for all.
    let wrong = login_with(&app, &email, "not the password").await;
    wrong.error(401, "INVALID_CREDENTIALS");
    assert_eq!(wrong.header("www-authenticate"), Some("Bearer"));
    let unknown = login_with(&app, "nobody@example.com", PASSWORD).await;
    unknown.error(401, "INVALID_CREDENTIALS");
    assert_eq!(wrong.json()["message"], unknown.json()["message"]);
    let bad = call_json(
        &app,
        None,
        Method::POST,
        "/api/auth/login",
        &json!({"email": {"$ne": ""}}),
    )
    .await;
    bad.error(400, "VALIDATION_ERROR");
    unauthenticated(&refresh(&app, "made-up").await);
}

/// The hashes of the stored refresh tokens.
async fn stored_refresh_hashes(app: &App) -> Vec<String> {
    match &app.backend {
        Backend::Sqlite => {
            let db = app.db();
            let mut statement = db.prepare("SELECT hash FROM auth_refresh_tokens").unwrap();
            statement
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        }
        Backend::Mongo(server) => {
            collect_ids(&server.database().await, "auth_refresh_tokens").await
        }
    }
}

/// Reads every `_id` of a collection (strings).
async fn collect_ids(db: &mongodb::Database, collection: &str) -> Vec<String> {
    let mut cursor = db
        .collection::<mongodb::bson::Document>(collection)
        .find(mongodb::bson::doc! {})
        .await
        .expect("find");
    let mut ids = Vec::new();
    while cursor.advance().await.expect("cursor") {
        let document = cursor.deserialize_current().expect("document");
        ids.push(document.get_str("_id").expect("_id").to_owned());
    }
    ids
}

async fn a_replayed_refresh_token_revokes_its_whole_login(backend: Backend) {
    let app = backend.spawn().start().await;
    let email = email();
    app.create_account(&email, false).await;
    let login = app.login(&email).await;
    let first = login["refreshToken"].as_str().unwrap().to_owned();
    let second = refresh(&app, &first).await.json()["data"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let third = refresh(&app, &second).await.json()["data"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let parallel = app.login(&email).await;
    // An attacker replays the first (spent) token: refused, and every token descended from
    // that login dies with it, the legitimate client's newest one included.
    unauthenticated(&refresh(&app, &first).await);
    unauthenticated(&refresh(&app, &third).await);
    unauthenticated(&refresh(&app, &second).await);
    // A separate login of the same account is not part of that family.
    let other = refresh(&app, parallel["refreshToken"].as_str().unwrap()).await;
    assert_eq!(other.status, 200, "{}", other.text);
    assert!(
        app.logs().iter().any(|l| l["msg"]
            .as_str()
            .is_some_and(|m| m.contains("presented again"))),
        "the reuse is logged"
    );
}

async fn the_account_reads_changes_and_deletes_itself(backend: Backend) {
    let app = backend.spawn().start().await;
    let email = email();
    let (id, token) = app.account(&email, false).await;
    unauthenticated(&call(&app, None, Method::GET, "/api/users/me").await);
    let renamed = call_json(
        &app,
        Some(&token),
        Method::PATCH,
        "/api/users/me",
        &json!({"name": "Zoë"}),
    )
    .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    assert_eq!(renamed.json()["data"]["name"], "Zoë");
    for (body, field) in [
        (json!({"password": "a brand new one"}), "currentPassword"),
        (json!({"currentPassword": PASSWORD}), "currentPassword"),
        (json!({"role": "admin"}), "role"),
        (json!({"email": "x@example.com"}), "email"),
        (json!({}), "body"),
        (
            json!({"password": "short", "currentPassword": PASSWORD}),
            "password",
        ),
    ] {
        let refused = call_json(&app, Some(&token), Method::PATCH, "/api/users/me", &body).await;
        refused.error(400, "VALIDATION_ERROR");
        assert!(
            refused.detail_fields().contains(&field.to_owned()),
            "{body}: {}",
            refused.text
        );
    }
    let wrong_current = call_json(
        &app,
        Some(&token),
        Method::PATCH,
        "/api/users/me",
        &json!({"password": "a brand new one", "currentPassword": "not it at all"}),
    )
    .await;
    wrong_current.error(400, "VALIDATION_ERROR");
    assert_eq!(wrong_current.detail_fields(), ["currentPassword"]);
    let changed = call_json(
        &app,
        Some(&token),
        Method::PATCH,
        "/api/users/me",
        &json!({"password": "a brand new one", "currentPassword": PASSWORD}),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    login_with(&app, &email, PASSWORD)
        .await
        .error(401, "INVALID_CREDENTIALS");
    assert_eq!(
        login_with(&app, &email, "a brand new one").await.status,
        200
    );
    assert!(app.password_hash(&id).await.starts_with("$argon2id$"));

    let deleted = call(&app, Some(&token), Method::DELETE, "/api/users/me").await;
    assert_eq!(deleted.status, 200);
    assert!(deleted.json()["data"]["deletedAt"].is_string());
    // The account is gone: its token says so, and it cannot log in (same answer as a wrong
    // password).
    unauthenticated(&call(&app, Some(&token), Method::GET, "/api/users/me").await);
    login_with(&app, &email, "a brand new one")
        .await
        .error(401, "INVALID_CREDENTIALS");
}

async fn a_password_change_or_a_deletion_ends_every_login(backend: Backend) {
    let app = backend.spawn().start().await;
    let changer = email();
    app.create_account(&changer, false).await;
    let (one, two) = (app.login(&changer).await, app.login(&changer).await);
    let access = one["accessToken"].as_str().unwrap();
    let changed = call_json(
        &app,
        Some(access),
        Method::PATCH,
        "/api/users/me",
        &json!({"password": "another good one", "currentPassword": PASSWORD}),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    for login in [&one, &two] {
        unauthenticated(&refresh(&app, login["refreshToken"].as_str().unwrap()).await);
    }

    let other = email();
    app.create_account(&other, false).await;
    let (one, two) = (app.login(&other).await, app.login(&other).await);
    let deleted = call(
        &app,
        one["accessToken"].as_str(),
        Method::DELETE,
        "/api/users/me",
    )
    .await;
    assert_eq!(deleted.status, 200);
    for login in [&one, &two] {
        unauthenticated(&refresh(&app, login["refreshToken"].as_str().unwrap()).await);
    }
}

async fn tampered_expired_and_foreign_tokens_are_refused(backend: Backend) {
    // Whole seconds: a token lives between 2 and 3 s.
    let app = backend.spawn().env("AUTH_TOKEN_TTL", "3s").start().await;
    let email = email();
    app.create_account(&email, true).await;
    let token = app.login(&email).await["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        call(&app, Some(&token), Method::GET, "/api/users/me")
            .await
            .status,
        200
    );
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    // A payload edited to another user or role, with the original signature.
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value = serde_json::from_slice(&engine.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = json!("0123456789abcdef01234567");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        engine.encode(serde_json::to_vec(&claims).unwrap()),
        parts[2]
    );
    let none = format!(
        "{}.{}.",
        engine.encode(br#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    for bad in [
        forged.as_str(),
        none.as_str(),
        "garbage",
        &format!("{token}x"),
    ] {
        unauthenticated(&call(&app, Some(bad), Method::GET, "/api/users/me").await);
    }
    // Signed by another deployment's key.
    let foreign = match &app.backend {
        Backend::Sqlite => Spawn::new(),
        Backend::Mongo(_) => app
            .backend
            .spawn()
            .env("AUTH_SECRET", "a-completely-different-key-0123456789abcdef"),
    }
    .start()
    .await;
    let foreign_email = email_for(&foreign).await;
    let foreign_token = foreign.login(&foreign_email).await["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    unauthenticated(&call(&app, Some(&foreign_token), Method::GET, "/api/users/me").await);
    // Expired: the same token, once its `exp` has passed.
    let exp = claims["exp"].as_i64().unwrap() * 1000;
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let wait = u64::try_from(exp - now + 300).unwrap_or(0);
    // The test: the token's lifetime runs out.
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let expired = call(&app, Some(&token), Method::GET, "/api/users/me").await;
    unauthenticated(&expired);
    assert!(
        expired.json()["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

/// An account on `app`, made there; its email.
async fn email_for(app: &App) -> String {
    let email = email();
    app.create_account(&email, false).await;
    email
}

async fn a_rotated_key_still_verifies_its_predecessors_tokens(backend: Backend) {
    const OLD: &str = "the-old-signing-key-0123456789abcdef0123";
    const NEW: &str = "the-new-signing-key-0123456789abcdef0123";
    let data = tempfile::tempdir().unwrap();
    let spawn = |vars: &[(&str, &str)]| {
        let mut spawn = backend.spawn().data_dir(data.path());
        for (k, v) in vars {
            spawn = spawn.env(k, v);
        }
        spawn
    };
    let old = spawn(&[("AUTH_SECRET", OLD)]).start().await;
    let email = email_for(&old).await;
    let token = old.login(&email).await["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(old);
    let rotated = spawn(&[("AUTH_SECRET", NEW), ("AUTH_SECRET_PREVIOUS", OLD)])
        .start()
        .await;
    assert_eq!(
        call(&rotated, Some(&token), Method::GET, "/api/users/me")
            .await
            .status,
        200
    );
    let fresh = rotated.login(&email).await["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(rotated);
    let only_new = spawn(&[("AUTH_SECRET", NEW)]).start().await;
    unauthenticated(&call(&only_new, Some(&token), Method::GET, "/api/users/me").await);
    assert_eq!(
        call(&only_new, Some(&fresh), Method::GET, "/api/users/me")
            .await
            .status,
        200
    );
}

async fn five_failed_logins_lock_the_account_on_every_instance(backend: Backend) {
    let data = tempfile::tempdir().unwrap();
    let one = backend.spawn().data_dir(data.path()).start().await;
    let two = backend.spawn().data_dir(data.path()).start().await;
    let email = email();
    one.create_account(&email, false).await;
    let bystander = email_for(&one).await;
    for attempt in 0..5 {
        let app = if attempt % 2 == 0 { &one } else { &two };
        login_with(app, &email, "wrong password")
            .await
            .error(401, "INVALID_CREDENTIALS");
    }
    for app in [&one, &two] {
        let locked = login_with(app, &email, PASSWORD).await;
        locked.error(429, "RATE_LIMITED");
        let retry: u64 = locked.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=900).contains(&retry), "{retry}");
    }
    assert_eq!(login_with(&two, &bystander, PASSWORD).await.status, 200);
    // Unknown emails are counted too: the lockout does not tell which accounts exist.
    let ghost = "ghost@example.com";
    for _ in 0..5 {
        login_with(&one, ghost, "whatever")
            .await
            .error(401, "INVALID_CREDENTIALS");
    }
    login_with(&two, ghost, "whatever")
        .await
        .error(429, "RATE_LIMITED");
}

async fn unknown_emails_and_wrong_passwords_take_the_same_time(backend: Backend) {
    let app = backend.spawn().start().await;
    let email = email_for(&app).await;
    // Warm-up (connections, the dummy hash), then interleaved samples.
    login_with(&app, "warm@example.com", "whatever").await;
    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    for i in 0..8 {
        // Fresh emails so the lockout never triggers; the registered one changes each round.
        let registered = if i % 4 == 0 {
            email.clone()
        } else {
            email_for(&app).await
        };
        let start = Instant::now();
        login_with(
            &app,
            &format!("nobody-{i}-{}@example.com", uuid_like()),
            "wrong password",
        )
        .await
        .error(401, "INVALID_CREDENTIALS");
        unknown.push(start.elapsed());
        let start = Instant::now();
        login_with(&app, &registered, "wrong password")
            .await
            .error(401, "INVALID_CREDENTIALS");
        wrong.push(start.elapsed());
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (unknown, wrong) = (median(&mut unknown), median(&mut wrong));
    // Both pay for one argon2id verification; without the dummy hash an unknown email would
    // answer in a fraction of the time. The band is wide: tests run in parallel.
    let ratio = unknown.as_secs_f64() / wrong.as_secs_f64();
    assert!(
        (0.5..=2.0).contains(&ratio),
        "median unknown {unknown:?} vs wrong password {wrong:?}"
    );
}

async fn a_demoted_or_deleted_admin_loses_its_rights_at_once(backend: Backend) {
    let app = backend.spawn().start().await;
    let email = email();
    let (id, admin) = app.account(&email, true).await;
    let create = |token: String| {
        let app = &app;
        async move {
            call_json(
                app,
                Some(&token),
                Method::POST,
                "/api/products",
                &json!({"title": "T", "price": 1}),
            )
            .await
        }
    };
    assert_eq!(create(admin.clone()).await.status, 201);
    let (code, out, err) = app.svc_user(&["set-role", &email, "user"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.trim(), format!("{email} is now user"));
    // The token still says admin; the store says otherwise, and wins.
    create(admin.clone()).await.error(403, "FORBIDDEN");
    app.svc_user(&["set-role", &email, "admin"], "");
    assert_eq!(create(admin.clone()).await.status, 201);
    let (_, other_admin) = app.account(&format!("second-{email}"), true).await;
    let gone = call(
        &app,
        Some(&other_admin),
        Method::DELETE,
        &format!("/api/users/{id}"),
    )
    .await;
    assert_eq!(gone.status, 200);
    unauthenticated(&create(admin).await);
}

#[tokio::test]
async fn mongodb_without_auth_secret_refuses_to_start() {
    let (status, stderr) = Spawn::new()
        .env("DB_URL", "mongodb://127.0.0.1:9/shop")
        .run_to_exit();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("AUTH_SECRET"), "{stderr}");
    let (status, stderr) = Spawn::new().env("AUTH_SECRET", "too short").run_to_exit();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("AUTH_SECRET") && !stderr.contains("too short"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_embedded_store_makes_one_private_key_for_every_instance() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().unwrap();
    let one = Spawn::new().data_dir(data.path()).start().await;
    let two = Spawn::new().data_dir(data.path()).start().await;
    let email = email_for(&one).await;
    let token = one.login(&email).await["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        call(&two, Some(&token), Method::GET, "/api/users/me")
            .await
            .status,
        200
    );
    let mode = std::fs::metadata(data.path().join("auth.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn the_auth_routes_have_their_own_limit_per_client() {
    let app = Spawn::new().env("AUTH_RATE_LIMIT", "3/1h").start().await;
    for _ in 0..3 {
        login_with(&app, "a@example.com", "whatever")
            .await
            .error(401, "INVALID_CREDENTIALS");
    }
    let limited = refresh(&app, "anything").await;
    limited.error(429, "RATE_LIMITED");
    assert!(limited.header("retry-after").is_some());
    // Other routes are not affected by it.
    assert_eq!(app.get("/api/products").await.status, 200);
}

#[tokio::test]
async fn metrics_are_served_to_loopback_allowed_networks_and_the_token_only() {
    const TOKEN: &str = "scrape-token-0123456789";
    let app = Spawn::new()
        .env("TRUSTED_PROXIES", "127.0.0.1")
        .env("METRICS_ALLOW", "198.51.100.0/24")
        .env("METRICS_TOKEN", TOKEN)
        .start()
        .await;
    let from = |client: &str| {
        app.anonymous(Method::GET, "/metrics")
            .header("x-forwarded-for", client.to_owned())
    };
    assert_eq!(app.get("/metrics").await.status, 200, "loopback");
    let outsider = app.send(from("203.0.113.9")).await;
    outsider.error(403, "FORBIDDEN");
    assert!(!outsider.text.contains("http_requests_total"));
    assert_eq!(
        app.send(from("198.51.100.7")).await.status,
        200,
        "an allowed network"
    );
    let with_token = app.send(from("203.0.113.9").bearer_auth(TOKEN)).await;
    assert_eq!(with_token.status, 200);
    assert!(with_token.text.contains("http_requests_total"));
    app.send(from("203.0.113.9").bearer_auth("wrong-token-0123456789"))
        .await
        .error(403, "FORBIDDEN");
}

#[tokio::test]
async fn svc_user_never_shows_the_password_and_refuses_bad_input() {
    let app = Spawn::new().start().await;
    let secret = "a very secret passphrase";
    let (code, out, err) = app.svc_user(
        &[
            "create",
            "--email",
            "Ada@Example.com",
            "--name",
            "Ada",
            "--admin",
            "--password-stdin",
        ],
        &format!("{secret}\n"),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("created admin ada@example.com (id "),
        "{out}"
    );
    assert!(!out.contains(secret) && !err.contains(secret));
    assert_eq!(
        login_with(&app, "ada@example.com", secret).await.json()["success"],
        true,
        "the trailing newline is not part of the password"
    );
    let (code, _, err) = app.svc_user(
        &[
            "create",
            "--email",
            "ada@example.com",
            "--name",
            "Ada",
            "--password-stdin",
        ],
        secret,
    );
    assert_eq!(code, 1);
    assert!(err.contains("already registered"), "{err}");
    let (code, _, err) = app.svc_user(
        &[
            "create",
            "--email",
            "x@example.com",
            "--name",
            "X",
            "--password-stdin",
        ],
        "short",
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("at least 8") && !err.contains("short\n"),
        "{err}"
    );
    let (code, _, err) = app.svc_user(&["create", "--email", "y@example.com", "--name", "Y"], "");
    assert_eq!(code, 2, "--password-stdin is required: {err}");
    let (code, _, err) = app.svc_user(&["set-role", "nobody@example.com", "admin"], "");
    assert_eq!(code, 1);
    assert!(err.contains("no account"), "{err}");
    let (code, _, _) = app.svc_user(&["set-role", "ada@example.com", "root"], "");
    assert_eq!(code, 2);
    assert!(
        !app.logs().iter().any(|l| l.to_string().contains(secret)),
        "nothing the API logged holds the password"
    );
}

#[tokio::test]
async fn with_redis_the_lockout_and_the_auth_limit_count_there_for_every_instance() {
    let redis = crate::common::redis_server::RedisServer::start();
    // Separate data folders: the SQLite file cannot be what shares the counts, and the
    // accounts live in each instance's own store, so the lockout is checked on unknown emails
    // (counted all the same).
    let instance = || {
        Spawn::new()
            .env("REDIS_URL", &redis.url())
            .env("AUTH_SECRET", TEST_AUTH_SECRET)
            .env("AUTH_RATE_LIMIT", "8/24h")
            .start()
    };
    let (one, two) = (instance().await, instance().await);
    assert_ne!(one.data_dir, two.data_dir);
    for attempt in 0..5 {
        let app = if attempt % 2 == 0 { &one } else { &two };
        login_with(app, "target@example.com", "guess")
            .await
            .error(401, "INVALID_CREDENTIALS");
    }
    login_with(&two, "target@example.com", "guess")
        .await
        .error(429, "RATE_LIMITED");
    let mut conn = redis.conn();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("svc:ratelimit:*")
        .query(&mut conn)
        .unwrap();
    assert!(
        keys.iter()
            .any(|k| k.starts_with("svc:ratelimit:900000:login:")),
        "{keys:?}"
    );
    assert!(
        !keys.iter().any(|k| k.contains("target")),
        "no address in a key: {keys:?}"
    );
    // 6 requests to /api/auth/* so far; the 9th across both instances is over the limit.
    login_with(&one, "other@example.com", "guess").await;
    login_with(&two, "other@example.com", "guess").await;
    refresh(&one, "anything").await.error(429, "RATE_LIMITED");
}
