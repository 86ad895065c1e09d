//! The demo's realistic scenario, one per seed system: input events as the seed services would
//! publish them (built from the contracts' examples), a few poison events, and one undecodable
//! record per system. Each input starts its own flow (correlation id = its event id).

use weft_contracts::{b2b, collector, composerp, cypher, viscount};
use weft_contracts::{dec, Contract, Event, EventMetadata, Example};
use weft_runtime::Out;

/// One system's scenario.
pub struct Scenario {
    pub system: &'static str,
    pub title: &'static str,
    pub events: Vec<Out>,
    /// Topics that get one record of junk bytes each (undecodable).
    pub junk_topics: Vec<&'static str>,
}

fn event<P: Contract>(producer: &str, tenant: &str, payload: P) -> Out {
    let mut m = EventMetadata::new_for::<P>(producer, "demo-user");
    m.tenant_id = Some(tenant.to_string());
    m.environment = Some("demo".into());
    Out::new(Event::new(m, payload))
}

/// The checkout's `order.created` of the cart `cart_id`: correlated with the cart.
fn checked_out(order: cypher::order::OrderCreated, cart_id: &str) -> Out {
    let mut m =
        EventMetadata::new_for::<cypher::order::OrderCreated>("checkout-service", "demo-user");
    m.tenant_id = Some("cypher-retail".to_string());
    m.environment = Some("demo".into());
    m.correlation_id = cart_id.to_string();
    Out::new(Event::new(m, order))
}

fn id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Every scenario of the demo; `run` makes entity ids unique per demo run.
pub fn all() -> Vec<Scenario> {
    vec![b2b(), collector(), cypher(), composerp(), viscount()]
}

fn b2b() -> Scenario {
    use b2b::order::{OrderCancelled, OrderPlaced, OrderShipped};
    let t = "acme-industrial";
    let placed = |n: u32| {
        let mut p = OrderPlaced::example();
        p.order_id = id();
        p.order_number = format!("ORD-DEMO-{n:04}");
        p
    };
    let first = placed(1);
    let second = placed(2);
    let mut cancelled = OrderCancelled::example();
    cancelled.order_id = second.order_id.clone();
    cancelled.order_number = second.order_number.clone();
    // The api restocked the cancelled order's first product: its release carries the real
    // availability before and after.
    let product = id();
    cancelled.items[0].product_id = product.clone();
    let mut restocked = b2b::inventory::InventoryRestocked::example();
    restocked.product_id = product;
    restocked.variant_id = cancelled.items[0].variant_id.clone();
    let mut shipped = OrderShipped::example();
    shipped.order_id = first.order_id.clone();
    shipped.order_number = first.order_number.clone();
    let mut poison = placed(3);
    poison.user_email = String::new();
    Scenario {
        system: "b2b",
        title: "B2B e-commerce (seed 003): a product restocked, two orders placed, one cancelled (its stock released), one shipped; one order without a buyer address",
        events: vec![
            event("ecommerce-api", t, restocked),
            event("ecommerce-api", t, first),
            event("ecommerce-api", t, second),
            event("ecommerce-api", t, cancelled),
            event("ecommerce-api", t, shipped),
            event("ecommerce-api", t, poison),
        ],
        junk_topics: vec![OrderPlaced::TOPIC],
    }
}

fn collector() -> Scenario {
    use collector::offer::OfferApproved;
    let mut offer = OfferApproved::example();
    offer.offer_id = id();
    offer.offer_number = "OFF-DEMO-0042".into();
    // Its product arrives in the warehouse, the order's goods are dispatched from there and
    // the stock falls below the reorder level (20): procurement is told.
    let product = id();
    offer.line_items[0].product_id = Some(product.clone());
    let mut arrived = collector::stock::StockReceived::example();
    arrived.receipt_id = id();
    arrived.product_id = product.clone();
    arrived.quantity = 22;
    let mut shipped = collector::delivery::DeliveryDispatched::example();
    shipped.delivery_note_id = id();
    shipped.order_id = weft_processors::collector::orders::order_id(&offer.offer_id);
    shipped.items.truncate(1);
    shipped.items[0].product_id = product;
    shipped.items[0].warehouse_id = arrived.warehouse_id.clone();
    shipped.items[0].quantity = 5;
    let mut empty = OfferApproved::example();
    empty.offer_id = id();
    empty.offer_number = "OFF-DEMO-0043".into();
    empty.line_items.clear();
    // The order the offer becomes is delivered: the invoices service invoices it (if the
    // confirmation overtakes the order, it is retried until the order is there).
    let mut delivered = collector::delivery::DeliveryConfirmed::example();
    delivered.delivery_note_id = id();
    delivered.order_id = weft_processors::collector::orders::order_id(&offer.offer_id);
    delivered.customer_id = offer.customer_id.clone();
    Scenario {
        system: "collector",
        title: "Collector (seed 001): goods received, an offer approved, its order dispatched (stock low), delivered and invoiced; an approved offer without line items",
        events: vec![
            event("crm-service", "collector-gmbh", offer),
            event("crm-service", "collector-gmbh", empty),
            event("procurement-service", "collector-gmbh", arrived),
            event("delivery-service", "collector-gmbh", shipped),
            event("delivery-service", "collector-gmbh", delivered),
        ],
        junk_topics: vec![OfferApproved::TOPIC],
    }
}

fn cypher() -> Scenario {
    use cypher::order::OrderPaid;
    use cypher::price::PriceChanged;
    use cypher::stock::StockChanged;
    let product = id();
    // The catalog learns the product, so its updates carry the real name.
    let mut known = cypher::product::ProductCreated::example();
    known.product_id = product.clone();
    let mut stock = StockChanged::example();
    stock.product_id = product.clone();
    let mut price = PriceChanged::example();
    price.product_id = product.clone();
    price.variant_id = None;
    // A cart holds the product: the price change reprices it, the order checked out from it
    // (its correlation id is the cart's, seed 000 section 5.5) clears it.
    let cart_id = format!("cart-{}", &id()[..8]);
    let mut cart = cypher::cart::CartUpdated::example();
    cart.cart_id = cart_id.clone();
    cart.items.truncate(1);
    cart.items[0].product_id = product;
    cart.changed_item = None;
    if let Some(t) = cart.totals.as_mut() {
        t.currency = price.currency.clone();
    }
    // A B2B order reserves credit on its customer's account; its payment settles it.
    let mut created = cypher::order::OrderCreated::example();
    created.order_id = id();
    created.customer_id = format!("CUST-{}", &id()[..8]);
    created.customer_type = cypher::order::OrderCustomerType::B2b;
    let mut paid = OrderPaid::example();
    paid.order_id = created.order_id.clone();
    paid.customer_id = created.customer_id.clone();
    paid.currency = created.totals.currency.clone();
    let mut invoice = cypher::invoice::InvoiceIssued::example();
    invoice.invoice_id = id();
    invoice.customer_id = created.customer_id.clone();
    invoice.order_id = Some(created.order_id.clone());
    invoice.total = created.totals.total;
    invoice.currency = created.totals.currency.clone();
    Scenario {
        system: "cypher",
        title: "Cypher ERP (seed 000): a product is created and put in a cart, its stock and price change (the cart is repriced if the change arrives after it); a B2B order checked out from the cart clears it, reserves credit, is invoiced and paid",
        events: vec![
            event("checkout-service", "cypher-retail", cart),
            event("catalog-service", "cypher-retail", known),
            event("inventory-service", "cypher-retail", stock),
            event("pricing-service", "cypher-retail", price),
            checked_out(created, &cart_id),
            event("invoicing-service", "cypher-retail", invoice),
            event("payment-service", "cypher-retail", paid),
        ],
        junk_topics: vec![StockChanged::TOPIC],
    }
}

fn composerp() -> Scenario {
    use composerp::inventory::InventoryUpdated;
    use composerp::receipt::ReceiptCompleted;
    use composerp::sale::SaleCompleted;
    let location = id();
    let receipt = |item: &str, quantity: &str| {
        let mut r = ReceiptCompleted::example();
        r.receipt_id = id();
        r.item_id = item.to_string();
        r.location_id = location.clone();
        r.quantity = dec(quantity);
        r
    };
    let (stocked, selling) = (id(), id());
    let mut sale = SaleCompleted::example();
    sale.sale_id = id();
    sale.item_id = selling.clone();
    sale.location_id = location.clone();
    sale.quantity = dec("45");
    Scenario {
        system: "composerp",
        title: "Composerp (seed 002): receipts stock two items through the ledger; a sale takes one below its threshold",
        events: vec![
            event("wms", "composerp-demo", receipt(&stocked, "500")),
            event("wms", "composerp-demo", receipt(&selling, "50")),
            event("pos", "composerp-demo", sale),
        ],
        junk_topics: vec![InventoryUpdated::TOPIC],
    }
}

fn viscount() -> Scenario {
    use viscount::inventory::InventoryUpdated;
    let update = |available: i32| {
        let mut u = InventoryUpdated::example();
        u.product_id = id();
        u.quantity = available + u.reserved_quantity;
        u.available_quantity = available;
        u
    };
    // A product counted in, then ordered: the inventory management service reserves it (or,
    // should the order overtake the count, rejects the order) and says so in order.validated.
    let product = format!("prod_{}", &id()[..8]);
    let mut counted = viscount::inventory::InventoryAdjusted::example();
    counted.product_id = product.clone();
    counted.new_quantity = 5;
    let mut ordered = viscount::order::OrderCreated::example();
    ordered.order_id = format!("order_{}", &id()[..8]);
    ordered.items.truncate(1);
    ordered.items[0].product_id = product;
    ordered.items[0].quantity = 3;
    ordered.items[0].total_price = ordered.items[0]
        .unit_price
        .checked_mul_int(3)
        .unwrap_or(ordered.items[0].total_price);
    ordered.total_amount = ordered.items[0].total_price;
    Scenario {
        system: "viscount",
        title: "First Viscount (seed 004): stock healthy, low, critical and gone; a product counted in and ordered",
        events: vec![
            event("inventory-service", "first-viscount", update(250)),
            event("inventory-service", "first-viscount", update(8)),
            event("inventory-service", "first-viscount", update(2)),
            event("inventory-service", "first-viscount", update(0)),
            event("inventory-management-service", "first-viscount", counted),
            event("order-management-service", "first-viscount", ordered),
        ],
        junk_topics: vec![InventoryUpdated::TOPIC],
    }
}
