//! [`UserRepository`] on MongoDB. The password hash is read back only by
//! [`UserRepository::credentials`] (every other read projects it away); the welcome-email job is written inside the user's document (`outbox`), so
//! one single-document write stores both or neither.

use async_trait::async_trait;
use mongodb::bson::{Bson, DateTime, Document, doc};
use mongodb::options::ReturnDocument;

use super::outbox::pending;
use super::page::{PageRequest, find_page};
use super::{DUPLICATE_KEY, MongoStore, corrupt, error_code, map_err, oid, stored_id};
use crate::domain::{Email, ObjectId, Role, Timestamp, User};
use crate::query::UserQuery;
use crate::store::{Credentials, OutboxMessage, Page, StoreError, UserRepository};

/// What reads return: everything but the hash and the pending job.
fn public() -> Document {
    doc! {"passwordHash": 0, "outbox": 0}
}

#[async_trait]
impl UserRepository for MongoStore {
    async fn insert(
        &self,
        user: User,
        password_hash: String,
        message: OutboxMessage,
    ) -> Result<User, StoreError> {
        let at = DateTime::from_millis(user.created_at.millis());
        let document = doc! {
            "_id": oid(user.id),
            "name": user.name.as_str(),
            "email": user.email.as_str(),
            "passwordHash": password_hash,
            "role": user.role.as_str(),
            "createdAt": at,
            "updatedAt": DateTime::from_millis(user.updated_at.millis()),
            "deletedAt": Bson::Null,
            "outbox": pending(&message, user.created_at)?,
        };
        self.call(|c| async move {
            match c.users.insert_one(document).await {
                Ok(_) => Ok(user),
                // The only unique index besides `_id` (fresh, from the id generator) is email.
                Err(e) if error_code(&e) == Some(DUPLICATE_KEY) => Err(StoreError::EmailTaken),
                Err(e) => Err(map_err(e)),
            }
        })
        .await
    }

    async fn get(&self, id: ObjectId, include_deleted: bool) -> Result<User, StoreError> {
        self.call(|c| async move {
            let found = c
                .users
                .find_one(doc! {"_id": oid(id)})
                .projection(public())
                .await
                .map_err(map_err)?
                .ok_or(StoreError::NotFound)?;
            let user = from_document(&found)?;
            if user.deleted_at.is_some() && !include_deleted {
                return Err(StoreError::NotFound);
            }
            Ok(user)
        })
        .await
    }

    async fn list(&self, query: &UserQuery) -> Result<Page<User>, StoreError> {
        let filter = if query.include_deleted {
            Document::new()
        } else {
            doc! {"deletedAt": Bson::Null}
        };
        let request = PageRequest {
            filter,
            sort: doc! {"createdAt": -1, "_id": -1},
            skip: query.page.offset(),
            limit: i64::from(query.page.limit),
            projection: public(),
        };
        let max_time = self.config().timeout;
        self.call(|c| async move { find_page(&c.users, request, max_time, from_document).await })
            .await
    }

    async fn soft_delete(&self, id: ObjectId, now: Timestamp) -> Result<User, StoreError> {
        let at = DateTime::from_millis(now.millis());
        self.update_live(
            doc! {"_id": oid(id), "deletedAt": Bson::Null},
            doc! {"deletedAt": at, "updatedAt": at},
        )
        .await
    }

    async fn credentials(&self, email: &Email) -> Result<Option<Credentials>, StoreError> {
        let email = email.as_str().to_owned();
        self.call(|c| async move {
            let found = c
                .users
                .find_one(doc! {"email": email.as_str(), "deletedAt": Bson::Null})
                .projection(doc! {"outbox": 0})
                .await
                .map_err(map_err)?;
            let Some(found) = found else {
                return Ok(None);
            };
            let user = from_document(&found)?;
            let password_hash = found
                .get_str("passwordHash")
                .map_err(|e| corrupt("user", &user.id.to_string(), e))?
                .to_owned();
            Ok(Some(Credentials {
                user,
                password_hash,
            }))
        })
        .await
    }

    async fn update_profile(
        &self,
        id: ObjectId,
        name: Option<String>,
        password_hash: Option<String>,
        now: Timestamp,
    ) -> Result<User, StoreError> {
        let mut set = doc! {"updatedAt": DateTime::from_millis(now.millis())};
        if let Some(name) = name {
            set.insert("name", name);
        }
        if let Some(hash) = password_hash {
            set.insert("passwordHash", hash);
        }
        self.update_live(doc! {"_id": oid(id), "deletedAt": Bson::Null}, set)
            .await
    }

    async fn set_role(
        &self,
        email: &Email,
        role: Role,
        now: Timestamp,
    ) -> Result<User, StoreError> {
        let set = doc! {"role": role.as_str(), "updatedAt": DateTime::from_millis(now.millis())};
        self.update_live(doc! {"email": email.as_str(), "deletedAt": Bson::Null}, set)
            .await
    }
}

impl MongoStore {
    /// Applies `$set: set` to the live user `filter` matches and returns it.
    async fn update_live(&self, filter: Document, set: Document) -> Result<User, StoreError> {
        self.call(|c| async move {
            let found = c
                .users
                .find_one_and_update(filter, doc! {"$set": set})
                .projection(public())
                .return_document(ReturnDocument::After)
                .await
                .map_err(map_err)?
                .ok_or(StoreError::NotFound)?;
            from_document(&found)
        })
        .await
    }
}

fn from_document(d: &Document) -> Result<User, StoreError> {
    let id = stored_id(d.get("_id").unwrap_or(&Bson::Null))?;
    let bad = |name: &str| corrupt("user", &id.to_string(), format!("bad `{name}`"));
    let time = |name: &str| match d.get(name) {
        Some(Bson::DateTime(t)) => Ok(Timestamp::from_millis(t.timestamp_millis())),
        _ => Err(bad(name)),
    };
    let name = match d.get("name") {
        Some(Bson::String(s)) => s.clone(),
        _ => return Err(bad("name")),
    };
    let email = match d.get("email") {
        Some(Bson::String(s)) => Email::parse(s).map_err(|_| bad("email"))?,
        _ => return Err(bad("email")),
    };
    // Users stored before roles existed are plain users.
    let role = match d.get("role") {
        None | Some(Bson::Null) => Role::User,
        Some(Bson::String(s)) => Role::parse(s).map_err(|_| bad("role"))?,
        _ => return Err(bad("role")),
    };
    let deleted_at = match d.get("deletedAt") {
        None | Some(Bson::Null) => None,
        Some(Bson::DateTime(t)) => Some(Timestamp::from_millis(t.timestamp_millis())),
        _ => return Err(bad("deletedAt")),
    };
    Ok(User {
        id,
        name,
        email,
        role,
        created_at: time("createdAt")?,
        updated_at: time("updatedAt")?,
        deleted_at,
    })
}
