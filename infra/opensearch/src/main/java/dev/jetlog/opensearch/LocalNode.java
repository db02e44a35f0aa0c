package dev.jetlog.opensearch;

import java.util.Collection;

import org.opensearch.env.Environment;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;

/**
 * A real OpenSearch node whose modules are plugin classes on the JVM classpath.
 *
 * <p>The distribution loads modules from {@code modules/<name>/} folders through the
 * bootstrap (security manager, jar-hell check, plugin descriptors). The jars on Maven
 * Central carry no descriptors, so this node takes the module classes directly, through
 * the constructor that the OpenSearch test framework uses for the same purpose.
 * Bootstrap checks do not run: {@link Node#validateNodeBeforeAcceptingRequests} is a
 * no-op in the base class, which suits a node bound to loopback for development.
 */
final class LocalNode extends Node {

    LocalNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
        // forbidPrivateIndexSettings=true: behave like a production node.
        super(environment, plugins, true);
    }
}
