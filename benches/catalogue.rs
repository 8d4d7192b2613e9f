//! Seeds a large product catalogue straight through the embedded store, for `benches/api.sh`:
//! `SqliteStore::insert_many`, the statements of the API's `ProductRepository::insert` (so the
//! search index and every other index are filled by the same statements and triggers) in
//! batches, without HTTP in between, which would take hours for a million products.
//!
//! Run: `cargo build --release --bench catalogue`, then the binary it prints with
//! `--data-dir DIR --products N` (`DIR/svc.db` is created or added to). The products follow
//! `benches/api.sh`'s seeding: pseudo-random (fixed seed) titles, descriptions, brands,
//! categories, tags, prices and stock over the same word lists, so about 20 % of them match
//! `search=phone` and a tenth are laptops.

use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;
use svc::domain::{NewProduct, Product, Timestamp};
use svc::store::sqlite::SqliteStore;

const KINDS: [&str; 10] = [
    "Phone",
    "Laptop",
    "Tablet",
    "Headphones",
    "Camera",
    "Monitor",
    "Keyboard",
    "Mouse",
    "Speaker",
    "Watch",
];
const BRANDS: [&str; 8] = [
    "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka",
];
const ADJECTIVES: [&str; 8] = ["Pro", "Max", "Mini", "Air", "Ultra", "Lite", "Plus", "Neo"];
const TAGS: [&str; 7] = [
    "new",
    "sale",
    "popular",
    "eco",
    "5g",
    "wireless",
    "refurbished",
];
const STOCKS: [i64; 6] = [0, 0, 1, 5, 20, 100];

/// Product number `i`, as `benches/api.sh` makes them.
fn body(rng: &mut fastrand::Rng, i: u64) -> serde_json::Value {
    let kind = KINDS[rng.usize(..KINDS.len())];
    let first_tag = rng.usize(..TAGS.len());
    let second_tag = (first_tag + 1 + rng.usize(..TAGS.len() - 1)) % TAGS.len();
    json!({
        "title": format!("{} {kind} {} {i}", BRANDS[rng.usize(..BRANDS.len())], ADJECTIVES[rng.usize(..ADJECTIVES.len())]),
        "description": format!(
            "A {} {} for everyday use, model {i}",
            ADJECTIVES[rng.usize(..ADJECTIVES.len())].to_lowercase(),
            kind.to_lowercase()
        ),
        "price": ((rng.f64() * 2495.0 + 5.0) * 100.0).round() / 100.0,
        "brand": BRANDS[rng.usize(..BRANDS.len())],
        "category": format!("{}s", kind.to_lowercase()),
        "tags": [TAGS[first_tag], TAGS[second_tag]],
        "stock": STOCKS[rng.usize(..STOCKS.len())],
    })
}

/// Products per transaction (`SqliteStore::insert_many`): one transaction per product would
/// spend most of the time committing.
const BATCH: usize = 5_000;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(data_dir) = arg(&args, "--data-dir").map(PathBuf::from) else {
        // `cargo bench` runs every bench target without arguments: nothing to seed then.
        eprintln!("usage: catalogue --data-dir DIR --products N");
        return Ok(());
    };
    let products: u64 = arg(&args, "--products")
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let store = SqliteStore::open_in(&data_dir)?;
    let mut rng = fastrand::Rng::with_seed(42);
    let start = Instant::now();
    let base = Timestamp::now().millis() - i64::try_from(products)?;
    let mut batch = Vec::with_capacity(BATCH);
    for i in 0..products {
        let new = NewProduct::from_json(&body(&mut rng, i))
            .map_err(|e| anyhow::anyhow!("product {i}: {e:?}"))?;
        // One millisecond apart, so the default order (newest first) is the insertion order.
        let at = Timestamp::from_millis(base + i64::try_from(i)?);
        batch.push(Product::create(new, at));
        if batch.len() == BATCH || i + 1 == products {
            store.insert_many(std::mem::take(&mut batch)).await?;
        }
        if (i + 1) % 100_000 == 0 {
            eprintln!("{} products, {:.0} s", i + 1, start.elapsed().as_secs_f64());
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    eprintln!(
        "seeded {products} products through the store in {seconds:.1} s ({:.0}/s)",
        products as f64 / seconds
    );
    Ok(())
}
