use serde_json::json;

use super::*;
use crate::domain::NewProduct;

#[test]
fn documents_round_trip() {
    let product = Product::create(
        NewProduct::from_json(
            &json!({"title": "Phone", "price": 5, "tags": ["a"], "brand": "Acme"}),
        )
        .unwrap(),
        Timestamp::from_millis(1_700_000_000_123),
    );
    let d = to_document(&product);
    assert_eq!(d.get_str("searchText").unwrap(), "phone\u{1f}acme");
    assert_eq!(from_document(&d, None).unwrap(), product);
    let partial = doc! {"_id": oid(product.id), "title": "Phone"};
    let read = from_document(&partial, Some(&[ProductField::Title])).unwrap();
    assert_eq!((read.id, read.title.as_str()), (product.id, "Phone"));
    assert!(
        from_document(&partial, None).is_err(),
        "a whole read needs every field"
    );
    let mut wrong = d.clone();
    wrong.insert("price", "5");
    assert!(from_document(&wrong, None).is_err());
}
