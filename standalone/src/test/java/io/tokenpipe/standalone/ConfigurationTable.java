package io.tokenpipe.standalone;

import io.tokenpipe.common.config.Setting;
import io.tokenpipe.delivery.DeliveryService;
import io.tokenpipe.ingest.IngestService;
import io.tokenpipe.worker.WorkerService;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The README's configuration table, generated from the settings the services declare. Run
 * {@code main} to print it after adding or changing a setting; {@link ReadmeConfigurationTest}
 * fails until the README matches.
 */
final class ConfigurationTable {

    private ConfigurationTable() {
    }

    static List<String> rows() {
        Map<Setting, List<String>> readers = new LinkedHashMap<>();
        add(readers, "standalone", StandaloneSettings.SETTINGS);
        add(readers, "ingest", IngestService.SETTINGS);
        add(readers, "worker", WorkerService.SETTINGS);
        add(readers, "delivery", DeliveryService.SETTINGS);
        List<String> rows = new ArrayList<>();
        rows.add("| variable | default | read by | what it does |");
        rows.add("|---|---|---|---|");
        readers.forEach((setting, services) -> rows.add("| `" + setting.name() + "` | "
                + (setting.defaultValue() == null ? "—" : setting.defaultValue().isEmpty() ? "(empty)" : "`" + setting.defaultValue() + "`")
                + " | " + String.join(", ", services) + " | " + setting.description().replace("|", "\\|") + " |"));
        return rows;
    }

    private static void add(Map<Setting, List<String>> readers, String service, List<Setting> settings) {
        for (Setting setting : settings) {
            readers.computeIfAbsent(setting, s -> new ArrayList<>()).add(service);
        }
    }

    public static void main(String[] args) {
        rows().forEach(System.out::println);
    }
}
