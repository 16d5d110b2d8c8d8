//! Typed storage (issue 14): the enum columns refuse other words (migration
//! 0008's CHECK constraints), and a row whose column is missing or of the
//! wrong type fails to decode with an error naming it, never a default.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap fails it"
)]

use flare_edge::store::auth::{self, AuthMethod, Client, ClientStatus, GrantType, Role, User};
use flare_edge::store::export::{ExportKind, ExportStatus};
use flare_edge::store::row::FromRow;
use flare_edge::store::sqlite::SqliteDatabase;
use flare_edge::store::{Database, DbError, Statement};
use serde_json::json;

fn db() -> SqliteDatabase {
    SqliteDatabase::in_memory().expect("migrations apply")
}

fn run(db: &SqliteDatabase, sql: &str) -> Result<(), DbError> {
    pollster::block_on(db.batch(vec![Statement::new(sql, vec![])]))
}

const CLIENT: &str = "INSERT INTO clients (client_id, practice, name, auth_method, redirect_uris, grant_types, \
     scope, status, metadata, created_at, updated_at) VALUES ('c1', 'p', 'App', '{auth}', '[]', '[]', '', '{status}', '{}', 1, 1)";

#[test]
fn check_constraints_refuse_unknown_words() {
    let db = db();
    let client = |auth: &str, status: &str| CLIENT.replace("{auth}", auth).replace("{status}", status);
    let err = run(&db, &client("none", "approvd")).expect_err("a misspelt status is refused");
    assert!(err.0.contains("CHECK constraint failed"), "{err}");
    let err =
        run(&db, &client("client_secret_post", "pending")).expect_err("an unknown auth method is refused");
    assert!(err.0.contains("CHECK constraint failed"), "{err}");
    run(&db, &client("private_key_jwt", "pending")).expect("known words are stored");

    let user = |role: &str| {
        format!(
            "INSERT INTO users (user_id, username, practice, fhir_user, password_hash, created_at, role) \
             VALUES ('u-{role}', '{role}', 'p', 'Patient/1', 'x', 1, '{role}')"
        )
    };
    assert!(run(&db, &user("admin")).is_err(), "role admin is refused");
    run(&db, &user("test_patient")).expect("a known role is stored");

    let session = |kind: &str| {
        format!(
            "INSERT INTO developer_sessions (session_hash, developer_id, kind, created_at, expires_at) \
             VALUES ('s-{kind}', 'd', '{kind}', 1, 2)"
        )
    };
    assert!(run(&db, &session("cookie")).is_err(), "kind cookie is refused");
    run(&db, &session("api")).expect("a known kind is stored");

    let job = |kind: &str, status: &str| {
        format!(
            "INSERT INTO export_jobs (job_id, practice, client_id, request, kind, params, members, transaction_time, \
             status, state, version, lease_until, output, created_at, updated_at) \
             VALUES ('j-{kind}-{status}', 'p', 'c', 'u', '{kind}', '{{}}', '[]', 1, '{status}', '{{}}', 0, 0, '[]', 1, 1)"
        )
    };
    assert!(
        run(&db, &job("everything", "running")).is_err(),
        "kind everything is refused"
    );
    assert!(
        run(&db, &job("system", "complete")).is_err(),
        "status complete is refused"
    );
    run(&db, &job("group", "cancelled")).expect("known words are stored");
}

#[test]
fn the_enums_and_the_checks_list_the_same_words() {
    // Each word the code can write is accepted by the migrated schema.
    let db = db();
    for (i, status) in ClientStatus::ALL.iter().enumerate() {
        for (j, auth) in AuthMethod::ALL.iter().enumerate() {
            let sql = CLIENT
                .replace("'c1'", &format!("'c{i}{j}'"))
                .replace("{auth}", auth.as_str())
                .replace("{status}", status.as_str());
            run(&db, &sql).expect("every ClientStatus and AuthMethod is allowed");
        }
    }
    for role in Role::ALL {
        assert_eq!(Role::parse(role.as_str()), Some(*role));
    }
    assert_eq!(ExportKind::ALL.len(), 3);
    assert_eq!(ExportStatus::ALL.len(), 4);
    assert_eq!("pending".parse::<ClientStatus>(), Ok(ClientStatus::Pending));
    assert!("Pending".parse::<ClientStatus>().is_err());
    assert_eq!(
        serde_json::to_value(Role::PracticeAdmin).unwrap(),
        json!("practice_admin")
    );
}

#[test]
fn a_row_with_a_wrong_column_type_fails_to_decode() {
    let row = vec![
        json!("u1"),
        json!("ann"),
        json!("p"),
        json!("Patient/1"),
        json!(null),
        json!("hash"),
        json!("three"), // failed_signins: text where an integer belongs
        json!(0),
        json!("member"),
    ];
    let err = User::from_row(&row).expect_err("text is not an integer");
    assert!(err.0.contains("users.failed_signins"), "{err}");
    assert!(err.0.contains("expected an integer"), "{err}");

    // A NULL in a NOT NULL field is an error too, not "" or 0.
    let mut null_name = row.clone();
    null_name[6] = json!(0);
    null_name[1] = json!(null);
    let err = User::from_row(&null_name).expect_err("NULL is not text");
    assert!(err.0.contains("users.username"), "{err}");

    // An unknown role is an error, not `member`.
    let mut bad_role = null_name.clone();
    bad_role[1] = json!("ann");
    bad_role[8] = json!("owner");
    let err = User::from_row(&bad_role).expect_err("owner is no role");
    assert!(err.0.contains("users.role"), "{err}");

    // A row one column short (a column list edited by hand) is refused.
    let err = User::from_row(&bad_role[..8]).expect_err("a missing column is an error");
    assert!(
        err.0.contains("users") && err.0.contains("expected 9 columns"),
        "{err}"
    );

    // D1 returns integers as doubles: integral ones decode, fractions do not.
    let mut ok = bad_role.clone();
    ok[8] = json!("practice_admin");
    ok[7] = json!(1.7e12);
    assert_eq!(
        User::from_row(&ok).expect("decodes").locked_until,
        1_700_000_000_000
    );
    ok[7] = json!(1.5);
    assert!(User::from_row(&ok).is_err());
}

#[test]
fn a_stored_value_of_the_wrong_type_is_an_error_not_a_default() {
    // SQLite stores what it is given regardless of the declared type: a
    // number in a JSON text column reads back as a number, and decoding the
    // client fails, naming the column, instead of yielding no redirect URIs.
    let db = db();
    run(
        &db,
        &CLIENT
            .replace("{auth}", "none")
            .replace("{status}", "approved")
            .replace("'[]', '[]'", "42, '[]'"),
    )
    .expect("stored");
    let err = pollster::block_on(auth::client(&db, "c1")).expect_err("redirect_uris is not text");
    assert!(err.0.contains("clients.redirect_uris"), "{err}");

    run(
        &db,
        "UPDATE clients SET redirect_uris = '[\"https://app.example/cb\"]', grant_types = '[\"password\"]' \
         WHERE client_id = 'c1'",
    )
    .expect("stored");
    let err = pollster::block_on(auth::client(&db, "c1")).expect_err("password is no grant type here");
    assert!(err.0.contains("clients.grant_types"), "{err}");
    run(
        &db,
        "UPDATE clients SET grant_types = '[\"authorization_code\"]' WHERE client_id = 'c1'",
    )
    .expect("fixed");
    let c: Client = pollster::block_on(auth::client(&db, "c1"))
        .expect("decodes")
        .expect("found");
    assert_eq!(c.redirect_uris, vec!["https://app.example/cb".to_string()]);
    assert_eq!(c.status, ClientStatus::Approved);
    assert_eq!(c.auth_method, AuthMethod::None);
    assert_eq!(c.grant_types, vec![GrantType::AuthorizationCode]);
    assert!(Client::COLUMNS.starts_with("client_id, practice, name, auth_method"));
}

#[test]
fn the_words_written_into_store_sql_are_enum_values() {
    // The store's SQL names a few enum words as literals (`status = 'running'`);
    // a misspelt one would silently match nothing, so each is checked here.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("src/store") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("source");
        for (column, valid) in [
            (
                "status = '",
                ClientStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            ),
            ("role = '", Role::ALL.iter().map(|s| s.as_str()).collect()),
            ("kind = '", ExportKind::ALL.iter().map(|s| s.as_str()).collect()),
        ] {
            for (at, _) in text.match_indices(column) {
                let rest = &text[at + column.len()..];
                let word = &rest[..rest.find('\'').expect("closing quote")];
                let export = ExportStatus::ALL.iter().any(|s| s.as_str() == word);
                assert!(
                    valid.contains(&word) || (column == "status = '" && export),
                    "{}: {column}{word}' is no enum value",
                    path.display()
                );
                seen += 1;
            }
        }
    }
    assert!(seen >= 8, "found {seen} literals");
}
