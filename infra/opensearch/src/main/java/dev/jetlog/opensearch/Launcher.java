package dev.jetlog.opensearch;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.config.Configurator;
import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;

/**
 * Starts one OpenSearch node of a local cluster: {@code n<index>} of {@code --nodes}.
 *
 * <p>Every node of the cluster keeps its files under {@code <base-dir>/n<index>/}
 * ({@code config/}, {@code data/}, {@code logs/}, empty {@code modules/} and
 * {@code plugins/}); {@code fs} snapshots go to {@code <base-dir>/snapshots}, shared by
 * all nodes. Node {@code n} binds HTTP port {@code http-port + n - 1} and transport port
 * {@code transport-port + n - 1}. The process runs until it gets SIGTERM or SIGINT, then
 * closes the node.
 *
 * <p>Exit codes: 2 bad arguments, 3 a module class is missing from the classpath,
 * 1 the node failed to start.
 */
public final class Launcher {

    /** A module the node needs: the plugin class, the classes it needs, where they come from. */
    private static final class Module {
        final String name;
        final String pluginClass;
        final List<String[]> requires; // {class name, Maven artifact}

        Module(String name, String pluginClass, String artifact, String... moreRequirements) {
            this.name = name;
            this.pluginClass = pluginClass;
            this.requires = new ArrayList<>();
            this.requires.add(new String[] { pluginClass, artifact });
            for (int i = 0; i + 1 < moreRequirements.length; i += 2) {
                this.requires.add(new String[] { moreRequirements[i], moreRequirements[i + 1] });
            }
        }
    }

    private static final String PLUGIN_GROUP = "org.opensearch.plugin:";

    /** The modules every node loads; all of them must be on the classpath. */
    private static final List<Module> MODULES = List.of(
        new Module("transport-netty4", "org.opensearch.transport.Netty4Plugin", PLUGIN_GROUP + "transport-netty4-client"),
        new Module(
            "lang-painless",
            "org.opensearch.painless.PainlessPlugin",
            PLUGIN_GROUP + "lang-painless",
            "org.opensearch.painless.spi.PainlessExtension",
            PLUGIN_GROUP + "opensearch-scripting-painless-spi",
            "org.antlr.v4.runtime.Parser",
            "org.antlr:antlr4-runtime",
            "org.objectweb.asm.commons.GeneratorAdapter",
            "org.ow2.asm:asm-commons"
        ),
        new Module("analysis-common", "org.opensearch.analysis.common.CommonAnalysisPlugin", PLUGIN_GROUP + "analysis-common"),
        new Module("mapper-extras", "org.opensearch.index.mapper.MapperExtrasPlugin", PLUGIN_GROUP + "mapper-extras-client"),
        new Module("reindex", "org.opensearch.index.reindex.ReindexPlugin", PLUGIN_GROUP + "reindex-client"),
        new Module("lang-mustache", "org.opensearch.script.mustache.MustachePlugin", PLUGIN_GROUP + "lang-mustache-client"),
        new Module("ingest-common", "org.opensearch.ingest.common.IngestCommonPlugin", PLUGIN_GROUP + "ingest-common"),
        new Module(
            "aggs-matrix-stats",
            "org.opensearch.search.aggregations.matrix.MatrixAggregationPlugin",
            PLUGIN_GROUP + "aggs-matrix-stats-client"
        ),
        new Module("parent-join", "org.opensearch.join.ParentJoinPlugin", PLUGIN_GROUP + "parent-join-client")
    );

    /** Set once log4j is configured; before that, errors go to stderr only. */
    private static volatile boolean loggingReady;

    private static final int EXIT_USAGE = 2;
    private static final int EXIT_MISSING_MODULE = 3;
    private static final int EXIT_START_FAILED = 1;

    private static final String USAGE = String.join(
        "\n",
        "usage: java -cp <classes>:<lib>/* dev.jetlog.opensearch.Launcher --base-dir DIR [options]",
        "  --base-dir DIR         cluster folder; node n keeps its files in DIR/n<n> (required)",
        "  --node N               which node of the cluster this process runs, 1-based (default 1)",
        "  --nodes N              number of nodes in the cluster (default 1: discovery.type=single-node)",
        "  --http-port P          HTTP port of node 1; node n uses P+n-1 (default 9200)",
        "  --transport-port P     transport port of node 1; node n uses P+n-1 (default 9300)",
        "  --host ADDR            bind and publish address (default 127.0.0.1)",
        "  --cluster-name NAME    cluster.name (default jetlog-local)",
        "  --plugin CLASS         load one more plugin class from the classpath (repeatable)",
        "  -E key=value           any other node setting; wins over the defaults (repeatable)"
    );

    private Launcher() {}

    /** Entry point; see the class comment and {@code --help}. */
    public static void main(String[] args) {
        Options opts;
        try {
            opts = Options.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("jetlog-opensearch: " + e.getMessage());
            System.err.println(USAGE);
            System.exit(EXIT_USAGE);
            return;
        }
        if (opts.help) {
            System.out.println(USAGE);
            return;
        }

        List<Class<? extends Plugin>> plugins = loadPluginClasses(opts.extraPlugins);

        try {
            start(opts, plugins);
        } catch (Throwable t) {
            if (loggingReady) {
                LogManager.getLogger(Launcher.class).error("node failed to start", t);
            } else {
                t.printStackTrace(System.err);
            }
            // Last line of the output, so a log tail ends with the reason.
            Throwable root = t;
            while (root.getCause() != null && root.getCause() != root) {
                root = root.getCause();
            }
            System.err.println(
                "jetlog-opensearch: node n" + opts.node + " failed to start: " + t + (root != t ? " (cause: " + root + ")" : "")
            );
            System.exit(EXIT_START_FAILED);
            return;
        }

        // OpenSearch threads are daemon threads: this non-daemon main thread keeps the
        // JVM alive until the shutdown hook has closed the node.
        try {
            new CountDownLatch(1).await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Resolves every module class by name; exits with a message naming class and artifact when one is missing. */
    private static List<Class<? extends Plugin>> loadPluginClasses(List<String> extra) {
        List<Module> modules = new ArrayList<>(MODULES);
        for (String cls : extra) {
            modules.add(new Module(cls, cls, null));
        }
        ClassLoader loader = Launcher.class.getClassLoader();
        List<String> problems = new ArrayList<>();
        List<Class<? extends Plugin>> out = new ArrayList<>();
        for (Module m : modules) {
            boolean ok = true;
            for (String[] req : m.requires) {
                try {
                    Class.forName(req[0], false, loader);
                } catch (ClassNotFoundException | LinkageError e) {
                    String fix = req[1] == null
                        ? "put the jar that holds it on the classpath"
                        : "add artifact " + req[1] + ":" + org.opensearch.Version.CURRENT + " to infra/opensearch/pom.xml";
                    problems.add("module " + m.name + ": class " + req[0] + " not found (" + e + "); " + fix);
                    ok = false;
                }
            }
            if (!ok) {
                continue;
            }
            try {
                Class<?> cls = Class.forName(m.pluginClass, true, loader);
                if (!Plugin.class.isAssignableFrom(cls)) {
                    problems.add("module " + m.name + ": " + m.pluginClass + " is not an org.opensearch.plugins.Plugin");
                    continue;
                }
                out.add(cls.asSubclass(Plugin.class));
            } catch (ClassNotFoundException | LinkageError e) {
                problems.add("module " + m.name + ": cannot load " + m.pluginClass + ": " + e);
            }
        }
        if (!problems.isEmpty()) {
            PrintStream err = System.err;
            err.println("jetlog-opensearch: " + problems.size() + " module(s) cannot be loaded:");
            for (String p : problems) {
                err.println("  - " + p);
            }
            err.println("The classpath comes from infra/opensearch/pom.xml; rebuild with: infra/opensearch/opensearch.sh build");
            System.exit(EXIT_MISSING_MODULE);
        }
        return out;
    }

    private static void start(Options opts, List<Class<? extends Plugin>> plugins) throws Exception {
        String nodeName = "n" + opts.node;
        Path home = opts.baseDir.resolve(nodeName).toAbsolutePath().normalize();
        Path config = home.resolve("config");
        Path data = home.resolve("data");
        Path logs = home.resolve("logs");
        Path repo = opts.baseDir.resolve("snapshots").toAbsolutePath().normalize();
        for (Path p : List.of(config, data, logs, repo, home.resolve("modules"), home.resolve("plugins"))) {
            Files.createDirectories(p);
        }
        writeLogConfig(config);

        Settings.Builder b = Settings.builder()
            .put("cluster.name", opts.clusterName)
            .put("node.name", nodeName)
            .put("path.home", home.toString())
            .put("path.data", data.toString())
            .put("path.logs", logs.toString())
            .putList("path.repo", repo.toString())
            .put("network.host", opts.host)
            .put("http.port", Integer.toString(opts.httpPort + opts.node - 1))
            .put("transport.port", Integer.toString(opts.transportPort + opts.node - 1))
            .put("node.portsfile", true)
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("action.auto_create_index", "true");
        if (opts.nodes == 1) {
            b.put("discovery.type", "single-node");
        } else {
            List<String> seeds = new ArrayList<>();
            List<String> names = new ArrayList<>();
            for (int i = 1; i <= opts.nodes; i++) {
                seeds.add(opts.host + ":" + (opts.transportPort + i - 1));
                names.add("n" + i);
            }
            b.putList("discovery.seed_hosts", seeds);
            // Only a brand-new cluster is bootstrapped; a node that already holds
            // cluster state must not be given the setting again.
            if (!Files.exists(data.resolve("nodes").resolve("0").resolve("_state"))) {
                b.putList("cluster.initial_cluster_manager_nodes", names);
            }
        }
        for (Map.Entry<String, String> e : opts.extraSettings.entrySet()) {
            b.put(e.getKey(), e.getValue());
        }

        Environment env = InternalSettingsPreparer.prepareEnvironment(b.build(), Collections.emptyMap(), config, () -> nodeName);
        LogConfigurator.registerErrorListener();
        LogConfigurator.setNodeName(nodeName);
        LogConfigurator.configure(env);
        loggingReady = true;

        Logger log = LogManager.getLogger(Launcher.class);
        Thread.setDefaultUncaughtExceptionHandler(Launcher::uncaught);
        List<String> names = new ArrayList<>();
        for (Class<? extends Plugin> p : plugins) {
            names.add(p.getName());
        }
        log.info("jetlog launcher: home [{}], modules {}", home, names);

        List<String> painlessExtensions = PainlessExtensions.install();
        log.info("jetlog launcher: painless extensions {}", painlessExtensions);

        LocalNode node = new LocalNode(env, plugins);
        Thread hook = new Thread(() -> stop(node), "jetlog-opensearch-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            node.start();
        } catch (Throwable t) {
            // Close here rather than in the hook, so the failure is the last thing printed.
            Runtime.getRuntime().removeShutdownHook(hook);
            try {
                node.close();
            } catch (Throwable closeFailure) {
                t.addSuppressed(closeFailure);
            }
            throw t;
        }
        log.info(
            "jetlog launcher: node {} of {} ready on http://{}:{}",
            nodeName,
            opts.nodes,
            opts.host,
            opts.httpPort + opts.node - 1
        );
    }

    /**
     * Does what the distribution's bootstrap does with uncaught throwables: an Error
     * (out of memory, stack overflow, ...) halts the JVM at once, so a broken node never
     * lingers half-alive; anything else is logged.
     */
    private static void uncaught(Thread thread, Throwable t) {
        Logger log = LogManager.getLogger(Launcher.class);
        if (t instanceof Error) {
            try {
                log.error("fatal error in thread [" + thread.getName() + "], halting", t);
                System.err.println("jetlog-opensearch: fatal error in thread [" + thread.getName() + "]: " + t);
                t.printStackTrace(System.err);
            } finally {
                Runtime.getRuntime().halt(t instanceof OutOfMemoryError ? 127 : 1);
            }
        } else {
            log.warn("uncaught exception in thread [" + thread.getName() + "]", t);
        }
    }

    private static void stop(Node node) {
        Logger log = LogManager.getLogger(Launcher.class);
        log.info("jetlog launcher: closing node");
        try {
            node.close();
            if (!node.awaitClose(20, TimeUnit.SECONDS)) {
                log.warn("jetlog launcher: node did not close within 20s; outstanding tasks are dropped");
            } else {
                log.info("jetlog launcher: node closed");
            }
        } catch (IOException e) {
            log.error("jetlog launcher: failed to close node", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            // log4j's own shutdown hook is off (-Dlog4j.shutdownHookEnabled=false) so the
            // lines above are written; flush and stop it last.
            Configurator.shutdown((LoggerContext) LogManager.getContext(false));
        }
    }

    /** Writes the bundled log4j2.properties into the node's config folder on every start. */
    private static void writeLogConfig(Path config) throws IOException {
        try (InputStream in = Launcher.class.getResourceAsStream("/dev/jetlog/opensearch/log4j2.properties")) {
            if (in == null) {
                throw new IOException("log4j2.properties is missing from the launcher's classpath");
            }
            Files.copy(in, config.resolve("log4j2.properties"), StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** Command-line options. */
    private static final class Options {
        Path baseDir;
        int node = 1;
        int nodes = 1;
        int httpPort = 9200;
        int transportPort = 9300;
        String host = "127.0.0.1";
        String clusterName = "jetlog-local";
        boolean help;
        final List<String> extraPlugins = new ArrayList<>();
        final Map<String, String> extraSettings = new LinkedHashMap<>();

        static Options parse(String[] args) {
            Options o = new Options();
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                if (a.equals("-h") || a.equals("--help")) {
                    o.help = true;
                    return o;
                }
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException("missing value after " + a);
                }
                String v = args[++i];
                switch (a) {
                    case "--base-dir":
                        o.baseDir = Paths.get(v);
                        break;
                    case "--node":
                        o.node = positive(a, v);
                        break;
                    case "--nodes":
                        o.nodes = positive(a, v);
                        break;
                    case "--http-port":
                        o.httpPort = port(a, v);
                        break;
                    case "--transport-port":
                        o.transportPort = port(a, v);
                        break;
                    case "--host":
                        o.host = v;
                        break;
                    case "--cluster-name":
                        o.clusterName = v;
                        break;
                    case "--plugin":
                        o.extraPlugins.add(v);
                        break;
                    case "-E": {
                        int eq = v.indexOf('=');
                        if (eq <= 0) {
                            throw new IllegalArgumentException("-E wants key=value, got [" + v + "]");
                        }
                        o.extraSettings.put(v.substring(0, eq), v.substring(eq + 1));
                        break;
                    }
                    default:
                        throw new IllegalArgumentException("unknown option " + a);
                }
            }
            if (o.baseDir == null) {
                throw new IllegalArgumentException("--base-dir is required");
            }
            if (o.node > o.nodes) {
                throw new IllegalArgumentException("--node " + o.node + " is larger than --nodes " + o.nodes);
            }
            return o;
        }

        private static int positive(String name, String v) {
            try {
                int n = Integer.parseInt(v);
                if (n >= 1) {
                    return n;
                }
            } catch (NumberFormatException ignored) {
                // reported below
            }
            throw new IllegalArgumentException(name + " wants a whole number of at least 1, got [" + v + "]");
        }

        private static int port(String name, String v) {
            try {
                int n = Integer.parseInt(v);
                if (n >= 1 && n <= 65535) {
                    return n;
                }
            } catch (NumberFormatException ignored) {
                // reported below
            }
            throw new IllegalArgumentException(name + " wants a port number 1-65535, got [" + v + "]");
        }
    }
}
