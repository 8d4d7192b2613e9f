//! Validated types of the service: products, users, ids and timestamps. No I/O lives here.
//!
//! Everything a client sends is checked once, at this boundary, into a type that cannot hold an
//! invalid value; the store and the handlers then trust those types. Validation is strict on
//! purpose: no type coercion (`{"email":{"$ne":""}}` is refused rather than turned
//! into a string), unknown fields are refused (no mass assignment), strings are trimmed and emails
//! lowercased, and every problem of one input is reported at once, naming its field.

pub mod id;
pub mod product;
pub mod time;
pub mod user;
mod validate;

pub use id::{IdError, ObjectId};
pub use product::{NewProduct, Product, ProductField, ProductPatch};
pub use time::Timestamp;
pub use user::{Email, LoginRequest, NewUser, Password, ProfilePatch, RefreshRequest, Role, User};
pub use validate::{FieldError, Invalid};
