//! The README's main job: `weft demo` runs to completion on the local broker, prints a causation
//! tree per scenario and the summary, and exits 0. With PostgreSQL, as `scripts/demo.sh` runs it:
//! Cypher's checkout goes through the outbox and its relay, the ERP sync writes into the database.

use std::process::Command;

#[test]
fn the_demo_runs_every_scenario_and_prints_trees_and_a_summary() {
    weft_testkit::broker();
    let database = weft_testkit::postgres();
    let out = Command::new(env!("CARGO_BIN_EXE_weft"))
        .current_dir(weft_testkit::repo_root())
        .env("WEFT_DATABASE_URL", &database)
        .args([
            "demo",
            "--registry-listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "weft demo failed:\n{stdout}\n{stderr}"
    );
    for system in [
        "B2B e-commerce",
        "Collector",
        "Cypher ERP",
        "Composerp",
        "First Viscount",
    ] {
        assert!(
            stdout.contains(&format!("== {system}")),
            "no {system} tree:\n{stdout}"
        );
    }
    // Every flow of every system, end to end through the processors on the broker.
    for flow in [
        "-> email.notification-requested [b2b.email.notification-requested.v1]",
        "-> inventory.released [b2b.inventory.released.v1]",
        "-> order.created [collector.order.created.v1]",
        "-> product.updated [cypher.product.updated.v1]",
        "-> credit.payment_received [cypher.credit.payment-received.v1]",
        "-> credit.changed [cypher.credit.changed.v1]",
        "-> cart.updated [cypher.cart.updated.v1]",
        "-> INVENTORY_LOW_STOCK [composerp.inventory.low-stock.v1]",
        "-> REPLENISHMENT_TRIGGERED [composerp.replenishment.triggered.v1]",
        "-> LowStockAlert [viscount.inventory.low-stock-alert.v1]",
        "-> product.out_of_stock [viscount.product.out-of-stock.v1]",
        "-> order.validated [viscount.order.validated.v1]",
        "-> invoice.issued [collector.invoice.issued.v1]",
        "-> stock.low [collector.stock.low.v1]",
    ] {
        assert!(stdout.contains(flow), "missing {flow}:\n{stdout}");
    }
    // One undecodable record per system, dead-lettered by the processor of its topic.
    for dlq in [
        "b2b.notification-worker.dlq",
        "collector.orders-service.dlq",
        "cypher.catalog-worker.dlq",
        "composerp.replenishment-service.dlq",
        "viscount.inventory-service.dlq",
    ] {
        assert!(
            stdout.contains(&format!("dead-lettered [{dlq}]")),
            "nothing dead-lettered to {dlq}:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("(poison)") && stdout.contains("(undecodable)"),
        "{stdout}"
    );
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("== summary:"))
        .unwrap_or_else(|| panic!("no summary:\n{stdout}"));
    assert!(
        summary.contains("dead-lettered") && summary.contains("p99"),
        "{summary}"
    );
    assert!(!stdout.contains("was not read back"), "{stdout}");
    // The checkout's order.created went through the outbox; the ERP sync wrote it to PostgreSQL.
    assert!(
        stdout.contains("checkout rows: 1 written with their order, 1 published by the relay")
            && stdout.contains("ERP sync: 1 of them in sink_documents"),
        "{stdout}"
    );
    assert!(stdout.contains("stopped cleanly"), "{stdout}");
}
