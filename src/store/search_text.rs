//! The text a product `search` matches: title, description, brand and category, lowercased
//! with Rust's Unicode rules. Both backends store it, so they answer a search alike.

use crate::domain::Product;

/// Separates the fields; a control character, which `search` never contains (the query parser
/// refuses them), so a search cannot match across two fields.
const FIELD_SEPARATOR: char = '\u{1f}';

/// The lowercased text `search` matches against.
pub(crate) fn search_text(product: &Product) -> String {
    let fields = [
        Some(product.title.as_str()),
        product.description.as_deref(),
        product.brand.as_deref(),
        product.category.as_deref(),
    ];
    let mut text = String::new();
    for field in fields.into_iter().flatten() {
        if !text.is_empty() {
            text.push(FIELD_SEPARATOR);
        }
        text.push_str(&field.to_lowercase());
    }
    text
}
