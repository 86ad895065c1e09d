package dev.weft.bench;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;

import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Kafka Streams processor: one {@link OrderConfirmation} per task. Each output is forwarded
 * with weft's key and headers (the input's headers are replaced, not inherited) and stamped with
 * the wall clock, as weft's producer stamps its outputs at send time (Kafka Streams would
 * otherwise inherit the input's timestamp, and the bench measures from output timestamps).
 *
 * <p>A record weft would dead-letter (undecodable or poison) is counted and dropped; the first of
 * each kind is logged at WARN.
 */
final class ConfirmationProcessor implements Processor<byte[], byte[], byte[], byte[]> {
    private static final Logger LOG = LoggerFactory.getLogger(ConfirmationProcessor.class);

    /** Process-wide counters. */
    static final LongAdder IN = new LongAdder();
    static final LongAdder OUT = new LongAdder();
    static final LongAdder UNDECODABLE = new LongAdder();
    static final LongAdder POISON = new LongAdder();
    private static final AtomicBoolean LOGGED_UNDECODABLE = new AtomicBoolean();
    private static final AtomicBoolean LOGGED_POISON = new AtomicBoolean();

    private final OrderConfirmation.Schemas schemas;
    private OrderConfirmation transform;
    private ProcessorContext<byte[], byte[]> context;

    ConfirmationProcessor(OrderConfirmation.Schemas schemas) {
        this.schemas = schemas;
    }

    @Override
    public void init(ProcessorContext<byte[], byte[]> context) {
        this.context = context;
        this.transform = new OrderConfirmation(schemas);
    }

    @Override
    public void process(Record<byte[], byte[]> record) {
        IN.increment();
        OrderConfirmation.Output out;
        try {
            out = transform.apply(record.value(), record.headers());
        } catch (OrderConfirmation.Undecodable e) {
            UNDECODABLE.increment();
            if (LOGGED_UNDECODABLE.compareAndSet(false, true)) {
                LOG.warn("dropping an undecodable record (further ones are only counted): {}{}",
                        e.getMessage(), where());
            }
            return;
        } catch (OrderConfirmation.Poison e) {
            POISON.increment();
            if (LOGGED_POISON.compareAndSet(false, true)) {
                LOG.warn("dropping a poison record (further ones are only counted): {}{}", e.getMessage(), where());
            }
            return;
        }
        context.forward(new Record<>(out.key, out.value, System.currentTimeMillis(), out.headers));
        OUT.increment();
    }

    private String where() {
        return context.recordMetadata()
                .map(m -> " (" + m.topic() + "[" + m.partition() + "]@" + m.offset() + ")")
                .orElse("");
    }
}
