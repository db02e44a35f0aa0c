package dev.jetlog.opensearch;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Enumeration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

import org.opensearch.painless.PainlessPlugin;

/**
 * Gives Painless the allow-list extensions that other modules contribute.
 *
 * <p>OpenSearch 2.x calls {@code ExtensiblePlugin.loadExtensions} only for plugins loaded
 * from folders with descriptors, never for plugin classes passed on the classpath. Without
 * this step the Painless additions of ingest-common (for example
 * {@code Processors.lowercase} in ingest scripts) and analysis-common (analysis predicate
 * scripts) would be missing. {@link PainlessPlugin} is final, so it cannot be subclassed;
 * in 2.19 it keeps its allow-lists in a static map, so feeding the extensions to one
 * instance before the node starts makes them visible to the instance the node creates.
 * The launcher's painless checks (see the README) catch it if a later version changes that.
 */
final class PainlessExtensions {

    private PainlessExtensions() {}

    /** Loads every {@code PainlessExtension} listed under META-INF/services into Painless' allow-lists. */
    static List<String> install() {
        List<String> loaded = new ArrayList<>();
        new PainlessPlugin().loadExtensions(new org.opensearch.plugins.ExtensiblePlugin.ExtensionLoader() {
            @Override
            public <T> List<T> loadExtensions(Class<T> type) {
                List<T> out = classpathExtensions(type);
                for (T t : out) {
                    loaded.add(t.getClass().getName());
                }
                return out;
            }
        });
        return loaded;
    }

    static <T> List<T> classpathExtensions(Class<T> type) {
        ClassLoader loader = PainlessExtensions.class.getClassLoader();
        List<T> out = new ArrayList<>();
        for (String name : providerNames(loader, type)) {
            try {
                Class<?> cls = Class.forName(name, true, loader);
                out.add(type.cast(cls.getConstructor().newInstance()));
            } catch (ReflectiveOperationException | LinkageError e) {
                throw new IllegalStateException("cannot create " + type.getSimpleName() + " extension [" + name + "]: " + e, e);
            }
        }
        return Collections.unmodifiableList(out);
    }

    private static Set<String> providerNames(ClassLoader loader, Class<?> type) {
        Set<String> names = new LinkedHashSet<>();
        try {
            Enumeration<URL> files = loader.getResources("META-INF/services/" + type.getName());
            while (files.hasMoreElements()) {
                URL file = files.nextElement();
                try (BufferedReader r = new BufferedReader(new InputStreamReader(file.openStream(), StandardCharsets.UTF_8))) {
                    String line;
                    while ((line = r.readLine()) != null) {
                        int hash = line.indexOf('#');
                        String name = (hash >= 0 ? line.substring(0, hash) : line).trim();
                        if (!name.isEmpty()) {
                            names.add(name);
                        }
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + type.getName() + " providers", e);
        }
        return names;
    }
}
