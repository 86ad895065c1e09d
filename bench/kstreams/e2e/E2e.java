import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.*;

/**
 * Helpers of e2e.sh, run as a single-file program on the peer's classpath:
 *   create BOOTSTRAP PARTITIONS TOPIC...   create topics (one JVM instead of one TopicCommand each)
 *   garbage BOOTSTRAP TOPIC                two records weft dead-letters as undecodable
 *   dump BOOTSTRAP TOPIC                   every committed record: partition, key, hex value, headers
 *                                          (traceparent by name only: its span id is random)
 */
public class E2e {
    public static void main(String[] a) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", a[1]);
        switch (a[0]) {
            case "create" -> {
                List<NewTopic> topics = new ArrayList<>();
                for (int i = 3; i < a.length; i++) topics.add(new NewTopic(a[i], Integer.parseInt(a[2]), (short) 1));
                try (Admin admin = Admin.create(p)) {
                    admin.createTopics(topics).all().get();
                }
            }
            case "garbage" -> {
                p.put("key.serializer", ByteArraySerializer.class.getName());
                p.put("value.serializer", ByteArraySerializer.class.getName());
                try (KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(p)) {
                    pr.send(new ProducerRecord<>(a[2], "bad-1".getBytes(), "not avro at all".getBytes()));
                    pr.send(new ProducerRecord<>(a[2], "bad-2".getBytes(), new byte[] {0, 0, 0, 0, 16, 'g', 'a', 'r', 'b', 'a', 'g', 'e'}));
                }
            }
            case "dump" -> {
                p.put("isolation.level", "read_committed");
                p.put("key.deserializer", ByteArrayDeserializer.class.getName());
                p.put("value.deserializer", ByteArrayDeserializer.class.getName());
                try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
                    List<TopicPartition> tps = new ArrayList<>();
                    c.partitionsFor(a[2]).forEach(i -> tps.add(new TopicPartition(a[2], i.partition())));
                    c.assign(tps);
                    c.seekToBeginning(tps);
                    Map<TopicPartition, Long> end = c.endOffsets(tps);
                    HexFormat hex = HexFormat.of();
                    while (tps.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
                        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
                            StringBuilder h = new StringBuilder();
                            for (Header x : r.headers()) {
                                h.append(x.key());
                                if (!x.key().equals("traceparent")) h.append('=').append(new String(x.value()));
                                h.append(';');
                            }
                            System.out.println(r.partition() + "\t" + new String(r.key()) + "\t"
                                    + hex.formatHex(r.value()) + "\t" + h);
                        }
                    }
                }
            }
            default -> throw new IllegalArgumentException("create|garbage|dump");
        }
    }
}
