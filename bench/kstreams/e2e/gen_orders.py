"""gen_orders.py N SEED: N OrderPlaced events as `weft produce` JSON, one per line, varied where the
peer could differ from weft: unicode and quotes, decimals at the edges of decimal(18,4) (zero,
negative, 18 digits), empty and large item lists, trace ids valid / upper case / not hex / absent,
optional envelope fields, e-mails padded with Unicode spaces (trimmed as Rust trims), and per 500
events two poison ones (a blank e-mail, and one blank only by Unicode White_Space)."""
import json, random, uuid, sys
random.seed(int(sys.argv[2]) if len(sys.argv) > 2 else 17)
n = int(sys.argv[1])
names = ["Widget", "Gadget ✨", "Schraube M8 – verzinkt", "椅子", "Ünïcödé \"quoted\" name", "Tab\tname", ""]
currencies = ["USD", "EUR", "JPY"]
def amt():
    r = random.random()
    if r < 0.05: return "0"
    if r < 0.1: return "-12.5"
    if r < 0.13: return "99999999999999.9999"
    if r < 0.16: return "-99999999999999.9999"
    if r < 0.2: return "0.0001"
    return f"{random.randint(0, 10**7)}.{random.randint(0, 9999):04d}"
def money():
    return {"amount": amt(), "currency": random.choice(currencies)}
for i in range(n):
    items = []
    for j in range(random.choice([0, 1, 1, 2, 3, 4])):
        items.append({
            "product_id": str(uuid.uuid4()),
            "variant_id": str(uuid.uuid4()) if random.random() < 0.3 else None,
            "sku": f"SKU-{i}-{j}",
            "product_name": random.choice(names),
            "quantity": random.choice([1, 2, 3, 0, -1, 2**31 - 1]),
            "unit_price": money(),
            "subtotal": money(),
        })
    email = random.choice(["buyer@example.com", "  padded@example.com\n", "\u00a0nbsp@example.com\u3000", f"u{i}@example.org"])
    if i % 500 == 7: email = "   "          # poison: no address
    if i % 500 == 9: email = "\u00a0\u2003"  # poison for Rust's trim (Unicode White_Space)
    meta = {
        "event_id": str(uuid.uuid4()),
        "occurred_at": f"2026-11-{random.randint(1, 28):02d}T{random.randint(0, 23):02d}:{random.randint(0, 59):02d}:{random.randint(0, 59):02d}.{random.randint(0, 999):03d}Z",
        "producer": "kpeer-gen",
        "producer_version": random.choice([None, "1.2.3"]),
        "producer_instance": random.choice([None, "pod-1"]),
        "correlation_id": random.choice([f"corr-{i}", str(uuid.uuid4())]),
        "causation_id": random.choice([None, str(uuid.uuid4())]),
        "parent_event_id": random.choice([None, str(uuid.uuid4())]),
        "trace_id": random.choice([None, uuid.uuid4().hex, "NOT-A-TRACE", uuid.uuid4().hex.upper()]),
        "priority": random.choice(["low", "normal", "high", "critical"]),
        "tenant_id": random.choice([None, "tenant-7", "tenant-ü"]),
        "user_id": random.choice(["user-1", "svc-checkout"]),
        "session_id": random.choice([None, "sess-" + str(i)]),
        "environment": random.choice([None, "dev", "prod"]),
    }
    p = {
        "order_id": str(uuid.uuid4()),
        "order_number": f"ORD-KP-{i:07d}",
        "user_id": str(uuid.uuid4()),
        "user_email": email,
        "items": items,
        "shipping_address": {"street": "1 Main St", "city": "Springfield", "state": "IL", "postal_code": "62701",
                             "country": "US", "contact_name": random.choice(["John Doe", "Zoë Ångström", "  spaced  "]),
                             "contact_phone": "+1-555-0100"},
        "po_number": random.choice([None, "PO-1"]),
        "notes": random.choice([None, "leave at door"]),
        "subtotal": money(), "tax": money(), "shipping": money(),
        "discount": random.choice([None, money()]),
        "total": money(),
    }
    print(json.dumps({"metadata": meta, "payload": p}, ensure_ascii=False))
