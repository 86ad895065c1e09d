package dev.weft.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.Test;

class OrderConfirmationTest {
    private static final Path AVRO = Path.of(System.getProperty("weft.avro.dir", "../../avro"));

    /** The self-contained schema of {@code file}, as the registry serves it. */
    private static String selfContained(String file) throws IOException {
        Schema.Parser p = new Schema.Parser();
        p.parse(Files.readString(AVRO.resolve("common/EventMetadata.avsc")));
        return p.parse(Files.readString(AVRO.resolve(file))).toString();
    }

    private static OrderConfirmation.Schemas schemas() throws IOException {
        return new OrderConfirmation.Schemas(selfContained("b2b/order/OrderPlaced.avsc"),
                selfContained("b2b/email/EmailNotificationRequested.avsc"), 42, null, "bench-producer");
    }

    private static ByteBuffer dec(long units) {
        return ByteBuffer.wrap(java.math.BigInteger.valueOf(units).toByteArray());
    }

    private static GenericRecord money(Schema s, long units) {
        GenericData.Record m = new GenericData.Record(s);
        m.put("amount", dec(units));
        m.put("currency", "USD");
        return m;
    }

    private static GenericRecord order(Schema in, String email) {
        Schema meta = in.getField("metadata").schema();
        Schema payload = in.getField("payload").schema();
        Schema itemArray = payload.getField("items").schema();
        Schema item = itemArray.getElementType();
        Schema moneyS = item.getField("unit_price").schema();
        Schema addr = payload.getField("shipping_address").schema();

        GenericData.Record m = new GenericData.Record(meta);
        m.put("event_id", "550e8400-e29b-41d4-a716-446655440000");
        m.put("event_type", "order.placed");
        m.put("event_version", "1.0");
        m.put("occurred_at", 1_764_000_000_123L);
        m.put("producer", "weft-bench");
        m.put("correlation_id", "corr-1");
        m.put("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736");
        m.put("priority", new GenericData.EnumSymbol(meta.getField("priority").schema(), "critical"));
        m.put("tenant_id", "tenant-7");
        m.put("user_id", "bench");
        m.put("session_id", null);
        m.put("environment", "test");

        GenericData.Record i = new GenericData.Record(item);
        i.put("product_id", "6F1A7B8C-9D0E-4F1A-8B2C-3D4E5F6A7B8C");
        i.put("variant_id", null);
        i.put("sku", "PROD-001");
        i.put("product_name", "Widget");
        i.put("quantity", 2);
        i.put("unit_price", money(moneyS, 999_900L));
        i.put("subtotal", money(moneyS, 1_999_800L));

        GenericData.Record a = new GenericData.Record(addr);
        for (Schema.Field f : addr.getFields()) {
            a.put(f.name(), f.name());
        }
        a.put("contact_name", "John Doe");

        GenericData.Record p = new GenericData.Record(payload);
        p.put("order_id", "5F6A7B8C9D0E4F1A8B2C3D4E5F6A7B8C"); // simple form, upper case
        p.put("order_number", "ORD-1");
        p.put("user_id", "7f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8c");
        p.put("user_email", "\u00a0 buyer@example.com\n");
        if (email != null) {
            p.put("user_email", email);
        }
        p.put("items", new GenericData.Array<>(itemArray, List.of(i)));
        p.put("shipping_address", a);
        p.put("subtotal", money(moneyS, 1_999_800L));
        p.put("tax", money(moneyS, 0L));
        p.put("shipping", money(moneyS, -5L));
        p.put("discount", null);
        p.put("total", money(moneyS, 2_299_800L));

        GenericData.Record e = new GenericData.Record(in);
        e.put("metadata", m);
        e.put("payload", p);
        return e;
    }

    private static byte[] frame(Schema s, GenericRecord r, int id) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(new byte[] {0, 0, 0, 0, (byte) id});
        BinaryEncoder e = EncoderFactory.get().binaryEncoder(out, null);
        new GenericDatumWriter<GenericRecord>(s).write(r, e);
        e.flush();
        return out.toByteArray();
    }

    @Test
    void derivedIdsAreUuidV5InTheOidNamespaceLikeRust() {
        Weft w = new Weft();
        // python3 -c "import uuid; print(uuid.uuid5(uuid.NAMESPACE_OID, '<seed>'))"
        assertEquals("28695ce3-6f75-5400-81a2-1478f684fcb3", w.derivedEventId(
                "550e8400-e29b-41d4-a716-446655440000", "b2b.email.EmailNotificationRequested", 0));
        assertEquals("1ad0b858-030e-5e2f-94e6-bc64fdefa2a2", w.derivedEventId("x", "y", 7));
    }

    @Test
    void uuidsDecimalsAndTrimFollowWeft() {
        assertEquals("5f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8c", Weft.canonicalUuid("5F6A7B8C9D0E4F1A8B2C3D4E5F6A7B8C"));
        assertEquals("5f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8c",
                Weft.canonicalUuid("urn:uuid:5f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8C"));
        assertEquals("5f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8c",
                Weft.canonicalUuid("{5f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8c}"));
        assertNull(Weft.canonicalUuid("not-a-uuid"));
        assertNull(Weft.canonicalUuid("5f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8g"));

        assertArrayEquals(new byte[] {0}, Weft.normalizeDecimal(new byte[0]));
        assertArrayEquals(new byte[] {0x7f}, Weft.normalizeDecimal(new byte[] {0, 0, 0x7f}));
        assertArrayEquals(new byte[] {(byte) 0x80}, Weft.normalizeDecimal(new byte[] {(byte) 0xff, (byte) 0x80}));
        assertArrayEquals(new byte[] {0, (byte) 0x80}, Weft.normalizeDecimal(new byte[] {0, (byte) 0x80}));
        assertNull(Weft.normalizeDecimal(java.math.BigInteger.TEN.pow(18).toByteArray()));
        assertNull(Weft.normalizeDecimal(new byte[17]));

        assertEquals("a b", Weft.rustTrim("\u00a0\u2003 a b\t\u3000"));
        assertEquals("", Weft.rustTrim(" \u0085 "));
    }

    @Test
    void traceparentIsAChildOfTheInputsOrARoot() {
        String child = Weft.traceparent(" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ", null);
        assertTrue(child.matches("00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01"), child);
        String root = Weft.traceparent("garbage", "0af7651916cd43dd8448eb211c80319c");
        assertTrue(root.matches("00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01"), root);
        String fresh = Weft.traceparent(null, "not-hex");
        assertTrue(fresh.matches("00-[0-9a-f]{32}-[0-9a-f]{16}-01"), fresh);
    }

    @Test
    void anOrderBecomesItsConfirmationEmailWithWeftsEnvelopeAndHeaders() throws Exception {
        OrderConfirmation.Schemas s = schemas();
        OrderConfirmation t = new OrderConfirmation(s);
        Headers in = new RecordHeaders();
        in.add("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".getBytes(StandardCharsets.UTF_8));
        in.add("weft-event-id", "input-id".getBytes(StandardCharsets.UTF_8));
        OrderConfirmation.Output out = t.apply(frame(s.input, order(s.input, null), 7), in);
        // twice through the same instance: the reused reader state must not leak
        out = t.apply(frame(s.input, order(s.input, null), 7), in);

        assertEquals("5f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8c", new String(out.key, StandardCharsets.UTF_8));
        assertArrayEquals(new byte[] {0, 0, 0, 0, 42}, java.util.Arrays.copyOf(out.value, 5));
        GenericRecord e = new GenericDatumReader<GenericRecord>(s.output).read(null,
                DecoderFactory.get().binaryDecoder(out.value, 5, out.value.length - 5, null));
        GenericRecord m = (GenericRecord) e.get("metadata");
        assertEquals("28695ce3-6f75-5400-81a2-1478f684fcb3", m.get("event_id").toString());
        assertEquals(out.eventId, m.get("event_id").toString());
        assertEquals("email.notification-requested", m.get("event_type").toString());
        assertEquals("1.0", m.get("event_version").toString());
        assertEquals(1_764_000_000_123L, m.get("occurred_at"));
        assertEquals("bench-producer", m.get("producer").toString());
        assertNull(m.get("producer_version"));
        assertNull(m.get("producer_instance"));
        assertEquals("corr-1", m.get("correlation_id").toString());
        assertEquals("550e8400-e29b-41d4-a716-446655440000", m.get("causation_id").toString());
        assertNull(m.get("parent_event_id"));
        assertEquals("4bf92f3577b34da6a3ce929d0e0e4736", m.get("trace_id").toString());
        assertEquals("normal", m.get("priority").toString());
        assertEquals("tenant-7", m.get("tenant_id").toString());
        assertEquals("bench", m.get("user_id").toString());
        assertNull(m.get("session_id"));
        assertEquals("test", m.get("environment").toString());

        GenericRecord p = (GenericRecord) e.get("payload");
        assertEquals("5f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8c", p.get("aggregate_id").toString());
        assertEquals("order", p.get("aggregate_type").toString());
        assertEquals("order_confirmation", p.get("template_type").toString());
        assertEquals("buyer@example.com", p.get("recipient").toString());
        assertEquals("high", p.get("priority").toString());
        assertEquals(0, p.get("retry_attempts"));
        assertEquals(5, p.get("max_retries"));
        GenericRecord d = (GenericRecord) p.get("data");
        assertEquals("ORD-1", d.get("order_number").toString());
        assertEquals("John Doe", d.get("customer_name").toString());
        assertNull(d.get("tracking_url"));
        GenericRecord total = (GenericRecord) d.get("total");
        assertEquals(dec(2_299_800L), total.get("amount"));
        assertEquals("USD", total.get("currency").toString());
        @SuppressWarnings("unchecked")
        List<GenericRecord> items = (List<GenericRecord>) d.get("items");
        assertEquals(1, items.size());
        assertEquals("Widget", items.get(0).get("product_name").toString());
        assertEquals("PROD-001", items.get(0).get("sku").toString());
        assertEquals(2, items.get(0).get("quantity"));
        assertEquals(dec(999_900L), ((GenericRecord) items.get(0).get("unit_price")).get("amount"));

        String[] names = new String[4];
        int n = 0;
        for (var h : out.headers) {
            names[n++] = h.key();
        }
        assertArrayEquals(new String[] {"traceparent", "weft-event-type", "weft-event-id", "weft-schema-version"}, names);
        assertEquals(out.eventId, new String(out.headers.lastHeader("weft-event-id").value(), StandardCharsets.UTF_8));
        assertTrue(new String(out.headers.lastHeader("traceparent").value(), StandardCharsets.UTF_8)
                .startsWith("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
    }

    @Test
    void whatWeftWouldDeadLetterIsRefused() throws Exception {
        OrderConfirmation.Schemas s = schemas();
        OrderConfirmation t = new OrderConfirmation(s);
        assertThrows(OrderConfirmation.Poison.class, () -> t.apply(frame(s.input, order(s.input, " \t"), 7), null));
        assertThrows(OrderConfirmation.Undecodable.class, () -> t.apply(null, null));
        assertThrows(OrderConfirmation.Undecodable.class, () -> t.apply(new byte[] {1, 0, 0, 0, 7, 2}, null));
        assertThrows(OrderConfirmation.Undecodable.class, () -> t.apply(new byte[] {0, 0, 0, 0, 7, 2, 3}, null));
        // and the instance still works afterwards
        t.apply(frame(s.input, order(s.input, null), 7), null);

        OrderConfirmation strict = new OrderConfirmation(new OrderConfirmation.Schemas(s.input.toString(),
                s.output.toString(), 42, 8, "p"));
        assertThrows(OrderConfirmation.Undecodable.class,
                () -> strict.apply(frame(s.input, order(s.input, null), 7), null));
    }
}
