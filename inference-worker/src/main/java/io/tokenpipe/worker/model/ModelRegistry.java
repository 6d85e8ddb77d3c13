package io.tokenpipe.worker.model;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * The models this worker serves, by the name a turn asks for. A backend configured to serve any
 * model is registered under {@value #ANY} and answers the names nothing else claims.
 */
public final class ModelRegistry implements AutoCloseable {

    public static final String ANY = "*";
    private static final Logger log = LoggerFactory.getLogger(ModelRegistry.class);

    private final Map<String, ChatModel> models;

    public ModelRegistry(Map<String, ChatModel> models) {
        this.models = Map.copyOf(models);
    }

    public Optional<ChatModel> find(String name) {
        ChatModel model = models.get(name);
        return Optional.ofNullable(model != null ? model : models.get(ANY));
    }

    public Set<String> names() {
        return new TreeSet<>(models.keySet());
    }

    /** Closes the backends that hold resources (HTTP clients), each once. */
    @Override
    public void close() {
        Map<ChatModel, Boolean> seen = new IdentityHashMap<>();
        for (ChatModel model : models.values()) {
            if (model instanceof AutoCloseable closeable && seen.put(model, Boolean.TRUE) == null) {
                try {
                    closeable.close();
                } catch (Exception e) {
                    log.warn("closing model backend: {}", e.toString());
                }
            }
        }
    }
}
