package io.tokenpipe.testing;

/** A started broker that tests share: which kind, where to reach it, and how to stop it. */
record TestBroker(BrokerChoice kind, String bootstrapServers, String description, Runnable stop) implements AutoCloseable {

    @Override
    public void close() {
        stop.run();
    }
}
