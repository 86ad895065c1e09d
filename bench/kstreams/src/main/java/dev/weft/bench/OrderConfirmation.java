package dev.weft.bench;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * weft's {@code weft_processors::b2b::notifications::order_confirmation} (processors/src/b2b/notifications.rs)
 * with the runtime around it (crates/weft-runtime/src/typed.rs): one Confluent-framed Avro
 * {@code b2b.order.OrderPlaced} value in, one framed {@code b2b.email.EmailNotificationRequested}
 * value out, keyed by the order id, with weft's headers.
 *
 * <p>Envelope ({@code EventMetadata::caused}): a new event id, UUID v5 over
 * {@code "<input event id>/b2b.email.EmailNotificationRequested/0"}; {@code causation_id} = the
 * input's event id; {@code occurred_at}, {@code correlation_id}, {@code trace_id}, tenant, user,
 * session and environment copied from the input; {@code producer} = the processor name;
 * {@code event_type} {@code email.notification-requested}, {@code event_version} {@code 1.0},
 * {@code priority} {@code normal} (the contract's); producer version and instance and
 * {@code parent_event_id} null.
 *
 * <p>Payload: aggregate id = order id, aggregate type {@code order}, template
 * {@code order_confirmation}, recipient = the trimmed buyer e-mail, data = order number, the
 * shipping contact's name, the total, the lines (name, SKU, quantity, unit price), no tracking
 * URL; priority {@code high}; 0 attempts of 5.
 *
 * <p>Headers, in this order: {@code traceparent}, {@code weft-event-type}, {@code weft-event-id},
 * {@code weft-schema-version}. The input's headers are not carried over.
 *
 * <p>One instance per stream task (not thread-safe): the Avro reader, writer, decoder, encoder,
 * the reused input record and the output buffer live as long as it does; schemas are parsed once
 * per process ({@link Schemas}).
 */
final class OrderConfirmation {
    static final String INPUT_SCHEMA = "b2b.order.OrderPlaced";
    static final String OUTPUT_SCHEMA = "b2b.email.EmailNotificationRequested";
    static final String EVENT_TYPE = "email.notification-requested";
    static final String EVENT_VERSION = "1.0";
    static final String CONTRACT_PRIORITY = "normal";
    static final String AGGREGATE_TYPE = "order";
    static final String TEMPLATE = "order_confirmation";
    static final String EMAIL_PRIORITY = "high";
    static final int MAX_RETRIES = 5;
    /** The processor's name in weft (its consumer group and the {@code producer} of its outputs). */
    static final String DEFAULT_PRODUCER = "b2b.notification-worker";

    static final String TRACEPARENT = "traceparent";
    static final String H_EVENT_TYPE = "weft-event-type";
    static final String H_EVENT_ID = "weft-event-id";
    static final String H_SCHEMA_VERSION = "weft-schema-version";

    /** A record weft would dead-letter as undecodable. */
    static final class Undecodable extends Exception {
        private static final long serialVersionUID = 1L;

        Undecodable(String message) {
            super(message, null, false, false);
        }
    }

    /** A record weft would dead-letter as poison (an order without a buyer address). */
    static final class Poison extends Exception {
        private static final long serialVersionUID = 1L;

        Poison(String message) {
            super(message, null, false, false);
        }
    }

    /** The output record. */
    static final class Output {
        final byte[] key;
        final byte[] value;
        final Headers headers;
        /** The derived event id (also in the {@code weft-event-id} header). */
        final String eventId;

        Output(byte[] key, byte[] value, Headers headers, String eventId) {
            this.key = key;
            this.value = value;
            this.headers = headers;
            this.eventId = eventId;
        }
    }

    /** The parsed schemas and settings, shared by every instance; checked once at start. */
    static final class Schemas {
        final Schema input;
        final Schema output;
        final int outputSchemaId;
        /** When set, a record framed with another id is undecodable. */
        final Integer inputSchemaId;
        final String producer;

        final Schema outMetadata;
        final Schema outPayload;
        final Schema outData;
        final Schema outItem;
        final Schema outMoney;
        final Schema outItemsArray;
        final GenericData.EnumSymbol priorityNormal;
        final GenericData.EnumSymbol templateConfirmation;
        final GenericData.EnumSymbol emailPriorityHigh;

        Schemas(String inputText, String outputText, int outputSchemaId, Integer inputSchemaId, String producer) {
            this.input = new Schema.Parser().parse(inputText);
            this.output = new Schema.Parser().parse(outputText);
            this.outputSchemaId = outputSchemaId;
            this.inputSchemaId = inputSchemaId;
            this.producer = producer;
            expectName(input, INPUT_SCHEMA, "input");
            expectName(output, OUTPUT_SCHEMA, "output");

            Schema inMeta = record(input, "metadata", "input");
            Schema inPayload = record(input, "payload", "input");
            for (String f : new String[] {"event_id", "occurred_at", "correlation_id", "trace_id", "tenant_id",
                    "user_id", "session_id", "environment"}) {
                field(inMeta, f, "input metadata");
            }
            for (String f : new String[] {"order_id", "order_number", "user_id", "user_email", "items",
                    "shipping_address", "subtotal", "tax", "shipping", "discount", "total"}) {
                field(inPayload, f, "input payload");
            }
            field(record(inPayload, "shipping_address", "input payload"), "contact_name", "input shipping_address");
            Schema inItem = field(inPayload, "items", "input payload").schema().getElementType();
            for (String f : new String[] {"product_id", "variant_id", "sku", "product_name", "quantity",
                    "unit_price", "subtotal"}) {
                field(inItem, f, "input item");
            }

            outMetadata = record(output, "metadata", "output");
            outPayload = record(output, "payload", "output");
            for (String f : new String[] {"event_id", "event_type", "event_version", "occurred_at", "producer",
                    "producer_version", "producer_instance", "correlation_id", "causation_id", "parent_event_id",
                    "trace_id", "priority", "tenant_id", "user_id", "session_id", "environment"}) {
                field(outMetadata, f, "output metadata");
            }
            outData = record(outPayload, "data", "output payload");
            outItemsArray = field(outData, "items", "output data").schema();
            outItem = outItemsArray.getElementType();
            outMoney = nonNull(field(outData, "total", "output data").schema(), "output data.total");
            priorityNormal = symbol(field(outMetadata, "priority", "output metadata").schema(), CONTRACT_PRIORITY);
            templateConfirmation = symbol(field(outPayload, "template_type", "output payload").schema(), TEMPLATE);
            emailPriorityHigh = symbol(field(outPayload, "priority", "output payload").schema(), EMAIL_PRIORITY);
        }

        private static void expectName(Schema s, String name, String what) {
            if (s.getType() != Schema.Type.RECORD || !s.getFullName().equals(name)) {
                throw new IllegalArgumentException(what + " schema is " + s.getFullName() + ", expected " + name);
            }
        }

        private static Schema.Field field(Schema record, String name, String what) {
            Schema.Field f = record.getField(name);
            if (f == null) {
                throw new IllegalArgumentException(what + " (" + record.getFullName() + ") has no field " + name);
            }
            return f;
        }

        private static Schema record(Schema record, String name, String what) {
            Schema s = field(record, name, what).schema();
            if (s.getType() != Schema.Type.RECORD) {
                throw new IllegalArgumentException(what + " field " + name + " is not a record");
            }
            return s;
        }

        private static Schema nonNull(Schema union, String what) {
            if (union.getType() == Schema.Type.UNION) {
                for (Schema s : union.getTypes()) {
                    if (s.getType() != Schema.Type.NULL) {
                        return s;
                    }
                }
            }
            throw new IllegalArgumentException(what + " is not a nullable record");
        }

        private static GenericData.EnumSymbol symbol(Schema e, String symbol) {
            if (e.getType() != Schema.Type.ENUM || !e.hasEnumSymbol(symbol)) {
                throw new IllegalArgumentException(e.getFullName() + " has no symbol " + symbol);
            }
            return new GenericData.EnumSymbol(e, symbol);
        }
    }

    private final Schemas s;
    private final Weft weft = new Weft();
    private final GenericDatumReader<GenericRecord> reader;
    private final GenericDatumWriter<GenericRecord> writer;
    private final ByteArrayOutputStream buffer = new ByteArrayOutputStream(2048);
    private final byte[] frame;
    private BinaryDecoder decoder;
    private BinaryEncoder encoder;
    private GenericRecord reuse;

    OrderConfirmation(Schemas schemas) {
        this.s = schemas;
        // Writer schema = the schema registered for the input subject (the bench has one id).
        this.reader = new GenericDatumReader<>(schemas.input, schemas.input);
        this.writer = new GenericDatumWriter<>(schemas.output);
        int id = schemas.outputSchemaId;
        this.frame = new byte[] {0, (byte) (id >>> 24), (byte) (id >>> 16), (byte) (id >>> 8), (byte) id};
    }

    /** The output of one input value, or why there is none. */
    Output apply(byte[] value, Headers headers) throws Undecodable, Poison {
        if (value == null) {
            throw new Undecodable("the record has no value (a tombstone)");
        }
        if (value.length < 5 || value[0] != 0) {
            throw new Undecodable("not in the Confluent wire format (magic byte 0 and a 4-byte schema id)");
        }
        int id = ((value[1] & 0xff) << 24) | ((value[2] & 0xff) << 16) | ((value[3] & 0xff) << 8) | (value[4] & 0xff);
        if (s.inputSchemaId != null && id != s.inputSchemaId) {
            throw new Undecodable("unknown schema id " + id + " (expected " + s.inputSchemaId + ")");
        }
        GenericRecord in;
        try {
            decoder = DecoderFactory.get().binaryDecoder(value, 5, value.length - 5, decoder);
            in = reader.read(reuse, decoder);
            reuse = in;
        } catch (IOException | RuntimeException e) {
            reuse = null;
            throw new Undecodable("corrupt Avro for " + INPUT_SCHEMA + ": " + e);
        }
        GenericRecord meta = (GenericRecord) in.get("metadata");
        GenericRecord p = (GenericRecord) in.get("payload");

        // What weft's typed decode checks: uuid strings and decimal(18,4) amounts.
        String eventId = uuid(meta.get("event_id"), "metadata.event_id");
        String orderId = uuid(p.get("order_id"), "payload.order_id");
        uuid(p.get("user_id"), "payload.user_id");
        for (String m : new String[] {"subtotal", "tax", "shipping", "total"}) {
            amount((GenericRecord) p.get(m), "payload." + m);
        }
        if (p.get("discount") != null) {
            amount((GenericRecord) p.get("discount"), "payload.discount");
        }
        @SuppressWarnings("unchecked")
        List<GenericRecord> items = (List<GenericRecord>) p.get("items");
        for (GenericRecord i : items) {
            uuid(i.get("product_id"), "payload.items.product_id");
            if (i.get("variant_id") != null) {
                uuid(i.get("variant_id"), "payload.items.variant_id");
            }
            amount((GenericRecord) i.get("subtotal"), "payload.items.subtotal");
        }

        // order_confirmation
        String orderNumber = p.get("order_number").toString();
        String recipient = Weft.rustTrim((CharSequence) p.get("user_email"));
        if (recipient.isEmpty()) {
            throw new Poison("order " + orderNumber + " has no buyer e-mail address");
        }
        GenericData.Array<GenericRecord> lines = new GenericData.Array<>(items.size(), s.outItemsArray);
        for (GenericRecord i : items) {
            GenericData.Record line = new GenericData.Record(s.outItem);
            line.put("product_name", i.get("product_name"));
            line.put("sku", i.get("sku"));
            line.put("quantity", i.get("quantity"));
            line.put("unit_price", money((GenericRecord) i.get("unit_price"), "payload.items.unit_price"));
            lines.add(line);
        }
        GenericData.Record data = new GenericData.Record(s.outData);
        data.put("order_number", orderNumber);
        data.put("customer_name", ((GenericRecord) p.get("shipping_address")).get("contact_name"));
        data.put("total", money((GenericRecord) p.get("total"), "payload.total"));
        data.put("items", lines);
        data.put("tracking_url", null);

        GenericData.Record payload = new GenericData.Record(s.outPayload);
        payload.put("aggregate_id", orderId);
        payload.put("aggregate_type", AGGREGATE_TYPE);
        payload.put("template_type", s.templateConfirmation);
        payload.put("recipient", recipient);
        payload.put("data", data);
        payload.put("priority", s.emailPriorityHigh);
        payload.put("retry_attempts", 0);
        payload.put("max_retries", MAX_RETRIES);

        // In::emit(0, ..) -> EventMetadata::caused
        String outEventId = weft.derivedEventId(eventId, OUTPUT_SCHEMA, 0);
        GenericData.Record m = new GenericData.Record(s.outMetadata);
        m.put("event_id", outEventId);
        m.put("event_type", EVENT_TYPE);
        m.put("event_version", EVENT_VERSION);
        m.put("occurred_at", meta.get("occurred_at"));
        m.put("producer", s.producer);
        m.put("producer_version", null);
        m.put("producer_instance", null);
        m.put("correlation_id", meta.get("correlation_id"));
        m.put("causation_id", eventId);
        m.put("parent_event_id", null);
        m.put("trace_id", meta.get("trace_id"));
        m.put("priority", s.priorityNormal);
        m.put("tenant_id", meta.get("tenant_id"));
        m.put("user_id", meta.get("user_id"));
        m.put("session_id", meta.get("session_id"));
        m.put("environment", meta.get("environment"));

        GenericData.Record event = new GenericData.Record(s.output);
        event.put("metadata", m);
        event.put("payload", payload);

        byte[] out;
        try {
            buffer.reset();
            buffer.write(frame);
            encoder = EncoderFactory.get().binaryEncoder(buffer, encoder);
            writer.write(event, encoder);
            encoder.flush();
            out = buffer.toByteArray();
        } catch (IOException | RuntimeException e) {
            // weft: Fatal ("built an output that does not fit"): stops the processor.
            throw new IllegalStateException("the output does not fit " + OUTPUT_SCHEMA + ": " + e, e);
        }

        Headers h = new RecordHeaders();
        h.add(TRACEPARENT, Weft.traceparent(firstHeader(headers, TRACEPARENT), (CharSequence) meta.get("trace_id"))
                .getBytes(StandardCharsets.UTF_8));
        h.add(H_EVENT_TYPE, EVENT_TYPE.getBytes(StandardCharsets.UTF_8));
        h.add(H_EVENT_ID, outEventId.getBytes(StandardCharsets.UTF_8));
        h.add(H_SCHEMA_VERSION, EVENT_VERSION.getBytes(StandardCharsets.UTF_8));
        return new Output(orderId.getBytes(StandardCharsets.UTF_8), out, h, outEventId);
    }

    private static String firstHeader(Headers headers, String name) {
        if (headers == null) {
            return null;
        }
        for (Header h : headers) {
            if (h.key().equals(name)) {
                return h.value() == null ? null : new String(h.value(), StandardCharsets.UTF_8);
            }
        }
        return null;
    }

    private static String uuid(Object value, String what) throws Undecodable {
        String u = value == null ? null : Weft.canonicalUuid((CharSequence) value);
        if (u == null) {
            throw new Undecodable("corrupt Avro for " + INPUT_SCHEMA + ": " + what + " is not a UUID: " + value);
        }
        return u;
    }

    private static byte[] amount(GenericRecord money, String what) throws Undecodable {
        ByteBuffer b = ((ByteBuffer) money.get("amount")).duplicate();
        byte[] raw = new byte[b.remaining()];
        b.get(raw);
        byte[] normalized = Weft.normalizeDecimal(raw);
        if (normalized == null) {
            throw new Undecodable("corrupt Avro for " + INPUT_SCHEMA + ": " + what + ".amount exceeds decimal(18,4)");
        }
        return normalized;
    }

    private GenericData.Record money(GenericRecord in, String what) throws Undecodable {
        GenericData.Record m = new GenericData.Record(s.outMoney);
        m.put("amount", ByteBuffer.wrap(amount(in, what)));
        m.put("currency", in.get("currency"));
        return m;
    }
}
