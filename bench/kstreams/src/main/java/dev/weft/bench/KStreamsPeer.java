package dev.weft.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;

/**
 * The Kafka Streams peer of {@code weft bench}: weft's B2B order-confirmation pipeline
 * (OrderPlaced -> EmailNotificationRequested, Confluent-framed Avro) as a Kafka Streams
 * application. Usage and contract: {@link #USAGE} and bench/kstreams/README.md.
 *
 * <p>Exit codes: 0 after SIGTERM/SIGINT and a clean close; 1 on a fatal error (message on stderr,
 * prefixed {@code kstreams-peer: fatal:}); 2 on bad arguments (usage on stderr). stdout carries
 * exactly one line, {@code READY}, when the application first reaches RUNNING.
 */
public final class KStreamsPeer {
    static final String USAGE = String.join("\n",
            "usage: java -cp <classpath> dev.weft.bench.KStreamsPeer \\",
            "         --bootstrap HOST:PORT --application-id ID --input TOPIC --output TOPIC \\",
            "         --input-schema FILE --output-schema FILE --output-schema-id N \\",
            "         --guarantee exactly_once_v2|at_least_once \\",
            "         [--threads N] [--state-dir DIR] [--input-schema-id N] [--producer NAME] \\",
            "         [--ready-timeout-ms MS] [--config KEY=VALUE]...",
            "",
            "  --bootstrap          Kafka bootstrap servers",
            "  --application-id     Kafka Streams application.id (= consumer group, transactional id prefix)",
            "  --input, --output    topics (both must exist)",
            "  --input-schema       self-contained Avro schema of b2b.order.OrderPlaced (the registered text)",
            "  --output-schema      self-contained Avro schema of b2b.email.EmailNotificationRequested",
            "  --output-schema-id   registry id of the output schema, written in each output's 5-byte header",
            "  --guarantee          processing.guarantee: exactly_once_v2 or at_least_once",
            "  --threads            num.stream.threads (default 1)",
            "  --state-dir          state.dir (default: a fresh temporary directory, removed at exit)",
            "  --input-schema-id    only accept inputs framed with this id (default: any id)",
            "  --producer           metadata.producer of outputs (default " + OrderConfirmation.DEFAULT_PRODUCER + ")",
            "  --ready-timeout-ms   fail if not RUNNING within this time (default 120000)",
            "  --config KEY=VALUE   any other StreamsConfig / client property (repeatable; last wins)",
            "",
            "Prints READY on stdout once RUNNING; runs until SIGTERM or SIGINT (clean close, exit 0);",
            "exit 1 on fatal errors, 2 on bad arguments.");

    /** weft's max_batch (records per transaction / poll) in `weft bench`. */
    static final int MAX_POLL_RECORDS = 500;

    private KStreamsPeer() {}

    /** Bad command-line arguments. */
    static final class UsageError extends Exception {
        private static final long serialVersionUID = 1L;

        UsageError(String message) {
            super(message);
        }
    }

    /** A fatal error with a message for people. */
    static final class Fatal extends Exception {
        private static final long serialVersionUID = 1L;

        Fatal(String message) {
            super(message);
        }

        Fatal(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** The parsed command line. */
    static final class Args {
        String bootstrap;
        String applicationId;
        String input;
        String output;
        Path inputSchema;
        Path outputSchema;
        Integer outputSchemaId;
        Integer inputSchemaId;
        String guarantee;
        int threads = 1;
        Path stateDir;
        String producer = OrderConfirmation.DEFAULT_PRODUCER;
        long readyTimeoutMs = 120_000;
        final List<String[]> configs = new ArrayList<>();

        static Args parse(String[] argv) throws UsageError {
            Args a = new Args();
            for (int i = 0; i < argv.length; i++) {
                String flag = argv[i];
                String value;
                int eq = flag.indexOf('=');
                if (flag.startsWith("--") && eq > 0) {
                    value = flag.substring(eq + 1);
                    flag = flag.substring(0, eq);
                } else if (flag.equals("-h") || flag.equals("--help")) {
                    throw new UsageError(null);
                } else {
                    if (i + 1 >= argv.length) {
                        throw new UsageError(flag + " needs a value");
                    }
                    value = argv[++i];
                }
                switch (flag) {
                    case "--bootstrap":
                        a.bootstrap = value;
                        break;
                    case "--application-id":
                        a.applicationId = value;
                        break;
                    case "--input":
                        a.input = value;
                        break;
                    case "--output":
                        a.output = value;
                        break;
                    case "--input-schema":
                        a.inputSchema = Path.of(value);
                        break;
                    case "--output-schema":
                        a.outputSchema = Path.of(value);
                        break;
                    case "--output-schema-id":
                        a.outputSchemaId = integer(flag, value, 0);
                        break;
                    case "--input-schema-id":
                        a.inputSchemaId = integer(flag, value, 0);
                        break;
                    case "--guarantee":
                        if (!value.equals(StreamsConfig.EXACTLY_ONCE_V2) && !value.equals(StreamsConfig.AT_LEAST_ONCE)) {
                            throw new UsageError("--guarantee must be exactly_once_v2 or at_least_once, not " + value);
                        }
                        a.guarantee = value;
                        break;
                    case "--threads":
                        a.threads = integer(flag, value, 1);
                        break;
                    case "--state-dir":
                        a.stateDir = Path.of(value);
                        break;
                    case "--producer":
                        a.producer = value;
                        break;
                    case "--ready-timeout-ms":
                        a.readyTimeoutMs = integer(flag, value, 1);
                        break;
                    case "--config": {
                        int e = value.indexOf('=');
                        if (e <= 0) {
                            throw new UsageError("--config takes KEY=VALUE, not " + value);
                        }
                        a.configs.add(new String[] {value.substring(0, e), value.substring(e + 1)});
                        break;
                    }
                    default:
                        throw new UsageError("unknown argument " + flag);
                }
            }
            List<String> missing = new ArrayList<>();
            if (a.bootstrap == null) missing.add("--bootstrap");
            if (a.applicationId == null) missing.add("--application-id");
            if (a.input == null) missing.add("--input");
            if (a.output == null) missing.add("--output");
            if (a.inputSchema == null) missing.add("--input-schema");
            if (a.outputSchema == null) missing.add("--output-schema");
            if (a.outputSchemaId == null) missing.add("--output-schema-id");
            if (a.guarantee == null) missing.add("--guarantee");
            if (!missing.isEmpty()) {
                throw new UsageError("missing " + String.join(", ", missing));
            }
            return a;
        }

        private static int integer(String flag, String value, int min) throws UsageError {
            try {
                int v = Integer.parseInt(value);
                if (v < min) {
                    throw new UsageError(flag + " must be at least " + min + ", not " + value);
                }
                return v;
            } catch (NumberFormatException e) {
                throw new UsageError(flag + " takes a number, not " + value);
            }
        }
    }

    public static void main(String[] argv) {
        int code;
        PrintStream err = System.err;
        try {
            code = run(Args.parse(argv));
        } catch (UsageError e) {
            if (e.getMessage() == null) { // --help
                System.out.println(USAGE);
                code = 0;
            } else {
                err.println("kstreams-peer: " + e.getMessage());
                err.println(USAGE);
                code = 2;
            }
        } catch (Fatal e) {
            err.println("kstreams-peer: fatal: " + e.getMessage()
                    + (e.getCause() != null ? " (" + e.getCause() + ")" : ""));
            code = 1;
        } catch (Throwable e) {
            err.println("kstreams-peer: fatal: " + e);
            e.printStackTrace(err);
            code = 1;
        }
        System.out.flush();
        err.flush();
        System.exit(code);
    }

    static Properties streamsConfig(Args a, Path stateDir) {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, a.applicationId);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, a.bootstrap);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, a.guarantee);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, "100");
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, Integer.toString(a.threads));
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.ByteArraySerde.class.getName());
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.ByteArraySerde.class.getName());
        // As weft's loop: at most 500 records per poll (its batch), earliest for a new group.
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.MAX_POLL_RECORDS_CONFIG), Integer.toString(MAX_POLL_RECORDS));
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        // As weft's producers (librdkafka): linger.ms=5 (Kafka Streams' default is 100), idempotent,
        // batches up to librdkafka's default batch.size (1,000,000 bytes; Java's default is 16 KiB),
        // with room in the buffer pool for the bigger batches.
        p.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), "5");
        p.put(StreamsConfig.producerPrefix(ProducerConfig.BATCH_SIZE_CONFIG), "1000000");
        p.put(StreamsConfig.producerPrefix(ProducerConfig.BUFFER_MEMORY_CONFIG), Long.toString(64L << 20));
        if (a.guarantee.equals(StreamsConfig.AT_LEAST_ONCE)) {
            // exactly_once_v2 forces it (and warns when it is set); weft's raw pipe is idempotent too.
            p.put(StreamsConfig.producerPrefix(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG), "true");
        }
        // There is no global state; this only silences a Kafka 4.x deprecation warning.
        p.put(StreamsConfig.PROCESSING_EXCEPTION_HANDLER_GLOBAL_ENABLED_CONFIG, "true");
        for (String[] kv : a.configs) {
            p.put(kv[0], kv[1]);
        }
        return p;
    }

    static Topology topology(Args a, OrderConfirmation.Schemas schemas) {
        Topology t = new Topology();
        t.addSource("orders", new ByteArrayDeserializer(), new ByteArrayDeserializer(), a.input);
        t.addProcessor("order-confirmation", () -> new ConfirmationProcessor(schemas), "orders");
        t.addSink("emails", a.output, new ByteArraySerializer(), new ByteArraySerializer(), "order-confirmation");
        return t;
    }

    static int run(Args a) throws Fatal {
        // First of all, so that a SIGTERM during start-up is a clean stop too (exit 0).
        CountDownLatch done = new CountDownLatch(1);
        AtomicBoolean stopRequested = new AtomicBoolean();
        Signals.onTermination(() -> {
            stopRequested.set(true);
            done.countDown();
        });
        OrderConfirmation.Schemas schemas;
        try {
            schemas = new OrderConfirmation.Schemas(read(a.inputSchema), read(a.outputSchema), a.outputSchemaId,
                    a.inputSchemaId, a.producer);
        } catch (RuntimeException e) {
            throw new Fatal("the schemas do not fit the pipeline: " + e.getMessage());
        }
        checkTopics(a);
        if (stopRequested.get()) {
            return 0;
        }

        boolean tempState = a.stateDir == null;
        Path stateDir;
        try {
            stateDir = tempState ? Files.createTempDirectory("weft-kstreams-peer-") : a.stateDir;
        } catch (IOException e) {
            throw new Fatal("cannot create a state directory", e);
        }
        try {
            return runStreams(a, schemas, stateDir, done, stopRequested);
        } finally {
            if (tempState) {
                deleteTree(stateDir);
            }
        }
    }

    private static int runStreams(Args a, OrderConfirmation.Schemas schemas, Path stateDir, CountDownLatch done,
            AtomicBoolean stopRequested) throws Fatal {
        AtomicBoolean ready = new AtomicBoolean();
        AtomicReference<Throwable> died = new AtomicReference<>();

        KafkaStreams streams;
        try {
            streams = new KafkaStreams(topology(a, schemas), streamsConfig(a, stateDir));
        } catch (RuntimeException e) {
            throw new Fatal("invalid Kafka Streams configuration: " + e.getMessage());
        }
        streams.setUncaughtExceptionHandler(e -> {
            died.compareAndSet(null, e);
            return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        streams.setStateListener((now, before) -> {
            if (now == KafkaStreams.State.RUNNING && ready.compareAndSet(false, true)) {
                System.out.println("READY");
                System.out.flush();
            }
            if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.PENDING_ERROR) {
                done.countDown();
            }
        });
        long started = System.nanoTime();
        try {
            streams.start();
        } catch (RuntimeException e) {
            throw new Fatal("Kafka Streams did not start: " + e.getMessage(), e);
        }
        try {
            long deadline = started + TimeUnit.MILLISECONDS.toNanos(a.readyTimeoutMs);
            while (!done.await(100, TimeUnit.MILLISECONDS)) {
                if (!ready.get() && System.nanoTime() > deadline) {
                    streams.close(Duration.ofSeconds(10));
                    throw new Fatal("Kafka Streams was not RUNNING after " + a.readyTimeoutMs + " ms (state "
                            + streams.state() + ")");
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            stopRequested.set(true);
        }

        Throwable cause = died.get();
        boolean failed = cause != null || streams.state() == KafkaStreams.State.ERROR
                || streams.state() == KafkaStreams.State.PENDING_ERROR;
        long t0 = System.nanoTime();
        boolean closed = streams.close(CloseOptions.timeout(Duration.ofSeconds(30))
                .withGroupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP));
        long closeMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        System.err.printf("kstreams-peer: stats in=%d out=%d undecodable=%d poison=%d close_ms=%d%n",
                ConfirmationProcessor.IN.sum(), ConfirmationProcessor.OUT.sum(),
                ConfirmationProcessor.UNDECODABLE.sum(), ConfirmationProcessor.POISON.sum(), closeMs);
        if (failed) {
            throw new Fatal("a stream thread failed: " + describe(cause));
        }
        if (!closed) {
            throw new Fatal("Kafka Streams did not close within 30 s");
        }
        return 0;
    }

    private static String describe(Throwable e) {
        if (e == null) {
            return "Kafka Streams went to state ERROR";
        }
        StringBuilder b = new StringBuilder(e.toString());
        for (Throwable c = e.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
            b.append(" <- ").append(c);
        }
        return b.toString();
    }

    /** Both topics must exist (topics come from code; auto-creation is off): fail fast if not. */
    private static void checkTopics(Args a) throws Fatal {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, a.bootstrap);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        // Security and other client settings given with --config apply to the check too.
        for (String[] kv : a.configs) {
            if (AdminClientConfig.configNames().contains(kv[0])) {
                p.put(kv[0], kv[1]);
            }
        }
        try (Admin admin = Admin.create(p)) {
            for (String topic : Set.of(a.input, a.output)) {
                try {
                    TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames()
                            .get(35, TimeUnit.SECONDS).get(topic);
                    if (d == null || d.partitions().isEmpty()) {
                        throw new Fatal("topic " + topic + " has no partitions");
                    }
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof UnknownTopicOrPartitionException) {
                        throw new Fatal("topic " + topic + " does not exist on " + a.bootstrap);
                    }
                    throw new Fatal("cannot describe topic " + topic + " on " + a.bootstrap + ": " + e.getCause());
                } catch (TimeoutException e) {
                    throw new Fatal("no answer from " + a.bootstrap + " within 35 s");
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new Fatal("interrupted while checking the topics");
        } catch (RuntimeException e) {
            throw new Fatal("cannot reach " + a.bootstrap + ": " + e.getMessage());
        }
    }

    private static String read(Path file) throws Fatal {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new Fatal("cannot read " + file + ": " + e);
        }
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException | RuntimeException ignored) {
            // best effort: a temporary directory
        }
    }
}
