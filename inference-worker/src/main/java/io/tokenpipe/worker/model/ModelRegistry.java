package io.tokenpipe.worker.model;

import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/** The models this worker serves, by the name a turn asks for. */
public final class ModelRegistry {

    private final Map<String, ChatModel> models;

    public ModelRegistry(Map<String, ChatModel> models) {
        this.models = Map.copyOf(models);
    }

    public Optional<ChatModel> find(String name) {
        return Optional.ofNullable(models.get(name));
    }

    public java.util.Set<String> names() {
        return new TreeMap<>(models).keySet();
    }
}
