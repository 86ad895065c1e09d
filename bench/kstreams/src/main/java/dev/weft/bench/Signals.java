package dev.weft.bench;

import sun.misc.Signal;

/**
 * SIGTERM and SIGINT as a request to stop. With the JVM's default handling, SIGTERM runs the
 * shutdown hooks and the process exits 143; handling the signals here lets the main thread close
 * Kafka Streams (commit, leave the group) and exit 0.
 */
final class Signals {
    private Signals() {}

    static void onTermination(Runnable stop) {
        for (String name : new String[] {"TERM", "INT"}) {
            Signal.handle(new Signal(name), s -> stop.run());
        }
    }
}
