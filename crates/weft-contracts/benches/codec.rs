//! The codec's cost per event: `cargo bench -p weft-contracts --bench codec`.
//!
//! A real event (the weft envelope and the B2B `order.placed` payload: lines, money as
//! `decimal(18,4)`, an address, uuids, timestamps) encoded and decoded with its self-contained
//! schema, against a plain clone of the same struct (the baseline measured in the same run: the
//! least a decode into an owned struct could cost). Two decode paths are measured: same schema
//! (the writer's schema is the contract's own: a `Value` tree, then serde) and resolved (a
//! writer schema that differs: the tree is resolved to the reader's schema first, as every
//! record was before the runtime learnt to tell them apart). Criterion prints time per event and
//! events/s (throughput elements = events).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use weft_contracts::b2b::order::OrderPlaced;
use weft_contracts::catalog::repo_avro_dir;
use weft_contracts::{codec, Catalog, Event, EventMetadata, Example};

fn codec_bench(c: &mut Criterion) {
    let catalog = Catalog::load(repo_avro_dir()).expect("the repository's schemas");
    let schema = catalog
        .self_contained("b2b.order.OrderPlaced")
        .expect("the order.placed schema");
    let event = Event::new(
        EventMetadata::new_for::<OrderPlaced>("bench", "bench"),
        OrderPlaced::example(),
    );
    let bytes = codec::encode(&schema, &event).expect("encodes");
    let mut g = c.benchmark_group("order.placed");
    g.throughput(Throughput::Elements(1));
    g.bench_function("baseline: struct clone", |b| {
        b.iter(|| black_box(&event).clone())
    });
    g.bench_function("encode", |b| {
        b.iter(|| codec::encode(&schema, black_box(&event)).unwrap())
    });
    g.bench_function("decode, same schema", |b| {
        b.iter(|| {
            codec::decode_resolved::<Event<OrderPlaced>>(&schema, None, black_box(&bytes)).unwrap()
        })
    });
    let plan = weft_contracts::direct::Plan::new(&schema).expect("compiles");
    g.bench_function("decode direct", |b| {
        b.iter(|| {
            plan.decode::<Event<OrderPlaced>>(black_box(&bytes))
                .unwrap()
        })
    });
    g.bench_function("encode direct", |b| {
        b.iter(|| plan.encode(black_box(&event)).unwrap())
    });
    g.bench_function("decode direct + encode direct", |b| {
        b.iter(|| {
            let e: Event<OrderPlaced> = plan.decode(black_box(&bytes)).unwrap();
            plan.encode(&e).unwrap()
        })
    });
    g.bench_function("decode resolved", |b| {
        b.iter(|| {
            codec::decode_resolved::<Event<OrderPlaced>>(&schema, Some(&schema), black_box(&bytes))
                .unwrap()
        })
    });
    g.bench_function("decode, same schema + encode", |b| {
        b.iter(|| {
            let e: Event<OrderPlaced> =
                codec::decode_resolved(&schema, None, black_box(&bytes)).unwrap();
            codec::encode(&schema, &e).unwrap()
        })
    });
    g.bench_function("decode resolved + encode", |b| {
        b.iter(|| {
            let e: Event<OrderPlaced> =
                codec::decode_resolved(&schema, Some(&schema), black_box(&bytes)).unwrap();
            codec::encode(&schema, &e).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, codec_bench);
criterion_main!(benches);
