// swift-tools-version:6.1
// Automagic: semantic secondary networks for Kubernetes pods.
//
// Layering (lower never imports higher):
//   C shims:      CCurl (libcurl), CTLS (OpenSSL), CSockets (accept4, pipe2), CNetlink (netlink, ioctl, setns, packet sockets)
//   pure core:    JSON, HardwareAddresses, KubeCore, AutomagicAPI, Resolver, DRA (no I/O, no clock)
//   local I/O:    NativeThreads (pthreads), MappingFile (reads; writes with fsync + rename),
//                 CNI (spawns and execs the delegate plugins)
//   edges:        KubeClient (libcurl; posix_spawn for exec credentials), KubeRuntime (watch loops, queues,
//                 leader election, clocks), DeviceProbe (netlink, ethtool, sysfs, LLDP), HTTPServer (sockets),
//                 HTTPServerTLS (OpenSSL), Observability (swift-prometheus metrics, /proc, health endpoints over HTTPServer)
//   programs:     Agent, Controller, CNIPlugin, LabAPIServer, KubectlPlugin, DevicePlugin
//   thin mains:   automagic-agent, automagic-controller, automagic, automagic-lab-apiserver, kubectl-automagic,
//                 automagic-device-plugin
//   benchmarks:   SyntheticFleets, automagic-bench (no product module or binary holds benchmark code)
// The CNI plugin (`automagic`) links only JSON, HardwareAddresses, MappingFile, CNI and CNIPlugin: no libcurl, no Kubernetes client.
// Every target declares exactly the modules it imports (hack/check-imports.py, run by hack/test.sh).
// Only the device plugin (DevicePluginAPI, KubeletPluginAPI, DevicePlugin, automagic-device-plugin) links gRPC; the
// agent and the CNI plugin must not (docs/decisions.md, "Device plugin: its own process").
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]
// The modules linked into the CNI plugin (JSON, HardwareAddresses, MappingFile, CNI, CNIPlugin, automagic): concrete
// generic metadata through direct accessors, not mangled names, so the short-lived plugin process
// neither demangles type names nor scans every conformance record of the binary at run time
// (measured: −30 % of the plugin's user-space instructions per invocation).
let cniPluginSwiftSettings: [SwiftSetting] = swiftSettings + [
    .unsafeFlags(["-Xfrontend", "-disable-concrete-type-metadata-mangled-name-accessors", "-Xfrontend", "-function-sections"]),
]

let package = Package(
    name: "automagic",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "automagic", targets: ["automagic"]),
        .executable(name: "automagic-agent", targets: ["automagic-agent"]),
        .executable(name: "automagic-controller", targets: ["automagic-controller"]),
        .executable(name: "automagic-lab-apiserver", targets: ["automagic-lab-apiserver"]),
        .executable(name: "kubectl-automagic", targets: ["kubectl-automagic"]),
        .executable(name: "automagic-device-plugin", targets: ["automagic-device-plugin"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // Prometheus metrics (the registry and text format), and swift-metrics for libraries' metrics.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        // The kubelet device plugin API (gRPC over unix sockets); only the device-plugin targets.
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // C shims
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("curl")]),
        .target(name: "CTLS", linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]),
        .target(name: "CSockets"),
        .target(name: "CNetlink"),
        // pthread threads and a condition lock, for modules that must not link corelibs Foundation.
        .target(name: "NativeThreads", swiftSettings: swiftSettings),

        // Pure core
        .target(name: "JSON", swiftSettings: cniPluginSwiftSettings),
        .target(name: "KubeCore", dependencies: ["JSON"], swiftSettings: swiftSettings),
        .target(name: "AutomagicAPI", dependencies: ["KubeCore", "JSON"], swiftSettings: swiftSettings),
        .target(name: "Resolver", dependencies: ["AutomagicAPI", "KubeCore"], swiftSettings: swiftSettings),
        // Dynamic Resource Allocation: the one encoding of devices as DRA attributes, device names,
        // and maps compiled to DeviceClass CEL (pure; the agent publishes, the controller renders).
        .target(name: "DRA", dependencies: ["AutomagicAPI", "KubeCore", "Resolver", "JSON", "HardwareAddresses"], swiftSettings: swiftSettings),
        // PCI addresses, parsed once for the probe, the mapping file and DRA (linked by the CNI plugin).
        .target(name: "HardwareAddresses", swiftSettings: cniPluginSwiftSettings),
        .target(name: "MappingFile", dependencies: ["JSON", "HardwareAddresses"], swiftSettings: cniPluginSwiftSettings),
        .target(name: "CNI", dependencies: ["JSON"], swiftSettings: cniPluginSwiftSettings),

        // Edges
        // No Yams here: it imports corelibs Foundation (CoreFoundation + ICU) into every program
        // linking KubeClient, the node agent included; kubeconfigs are read by KubeConfigYAML.
        .target(name: "KubeClient", dependencies: [
            "CCurl", "KubeCore", "JSON", "NativeThreads",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        .target(name: "KubeRuntime", dependencies: [
            "KubeClient", "KubeCore",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        .target(name: "DeviceProbe", dependencies: ["CNetlink", "AutomagicAPI", "KubeCore", "JSON", "NativeThreads", "HardwareAddresses"], swiftSettings: swiftSettings),
        // Plain HTTP/1.1 (no OpenSSL: the agent's health and metrics server); HTTPServerTLS adds TLS.
        .target(name: "HTTPServer", dependencies: ["CSockets", "NativeThreads", .product(name: "Logging", package: "swift-log")], swiftSettings: swiftSettings),
        .target(name: "HTTPServerTLS", dependencies: ["HTTPServer", "CTLS"], swiftSettings: swiftSettings),
        .target(name: "Observability", dependencies: [
            "HTTPServer", .product(name: "Logging", package: "swift-log"), .product(name: "Prometheus", package: "swift-prometheus"),
        ], swiftSettings: swiftSettings),

        // Programs
        .target(name: "CNIPlugin", dependencies: ["CNI", "MappingFile", "JSON"], swiftSettings: cniPluginSwiftSettings),
        .target(name: "LabAPIServer", dependencies: [
            "HTTPServer", "HTTPServerTLS", "KubeCore", "JSON",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
        ], swiftSettings: swiftSettings),
        .target(name: "Agent", dependencies: [
            "KubeClient", "KubeRuntime", "KubeCore", "AutomagicAPI", "Resolver", "DeviceProbe", "MappingFile", "Observability", "JSON",
            "NativeThreads", "DRA", .product(name: "Logging", package: "swift-log"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ], swiftSettings: swiftSettings),
        .target(name: "Controller", dependencies: [
            "KubeClient", "KubeRuntime", "KubeCore", "AutomagicAPI", "Resolver", "DRA", "Observability", "JSON",
            .product(name: "Logging", package: "swift-log"), .product(name: "Prometheus", package: "swift-prometheus"),
        ], swiftSettings: swiftSettings),
        // The kubelet's device plugin API v1beta1: generated by hack/gen-deviceplugin-proto.sh
        // from protos/deviceplugin/v1beta1/api.proto (committed; builds never run protoc).
        .target(name: "DevicePluginAPI", dependencies: [
            .product(name: "GRPCCore", package: "grpc-swift-2"),
            .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        // The kubelet's DRA plugin API v1 and plugin registration API v1: generated by the same
        // script from protos/dra/v1 and protos/pluginregistration/v1 (committed).
        .target(name: "KubeletPluginAPI", dependencies: [
            .product(name: "GRPCCore", package: "grpc-swift-2"),
            .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        .target(name: "DevicePlugin", dependencies: [
            "DevicePluginAPI", "KubeletPluginAPI", "MappingFile", "DeviceProbe", "AutomagicAPI", "DRA", "JSON", "KubeClient", "KubeCore",
            .product(name: "GRPCCore", package: "grpc-swift-2"),
            .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        .target(name: "KubectlPlugin", dependencies: [
            "KubeClient", "KubeCore", "AutomagicAPI", "Resolver", "JSON",
            .product(name: "Yams", package: "Yams"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: swiftSettings),

        // Thin mains
        .executableTarget(name: "automagic", dependencies: ["CNIPlugin"], swiftSettings: cniPluginSwiftSettings,
                         linkerSettings: [
                             .unsafeFlags(["-static-executable", "-l_FoundationCollections", "-l_FoundationCShims", "-lswiftSynchronization", "-lswiftDispatch"], .when(platforms: [.linux])),
                             .unsafeFlags(["-use-ld=lld", "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/hack/automagic-hot-functions.txt",
                                           "-Xlinker", "--no-warn-symbol-ordering"], .when(platforms: [.linux], configuration: .release)),
                         ]),
        // Release: linked by lld with packed relative relocations (DT_RELR, glibc >= 2.36): the
        // PIE's relocation table shrinks from ~1.9 MiB (read, hence resident, at every start) to
        // a few KiB; the agent's resident memory is a product target (issue 5).
        // No swift-argument-parser in the agent: see AgentCommandLine.
        .executableTarget(name: "automagic-agent", dependencies: [
            "Agent", "DeviceProbe", "KubeClient", "KubeRuntime", "Observability", .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"), .product(name: "Prometheus", package: "swift-prometheus"),
        ], swiftSettings: swiftSettings,
           linkerSettings: [.unsafeFlags(["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"],
                                         .when(platforms: [.linux], configuration: .release))]),
        .executableTarget(name: "automagic-controller", dependencies: [
            "Controller", "KubeClient", "KubeCore", "KubeRuntime", "Observability",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"), .product(name: "Prometheus", package: "swift-prometheus"),
        ], swiftSettings: swiftSettings),
        .executableTarget(name: "automagic-lab-apiserver", dependencies: [
            "LabAPIServer", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        // Benchmarks: every benchmark lives in automagic-bench, none in the product modules or binaries
        // (hack/bench.sh builds it in release mode; the smoke tests run the built binary). SyntheticFleets
        // generates the deterministic nodes, devices and maps that the benchmark and the resolver's property tests share.
        .target(name: "SyntheticFleets", dependencies: ["AutomagicAPI", "KubeCore", "Resolver"], swiftSettings: swiftSettings),
        .executableTarget(name: "automagic-bench", dependencies: [
            "AutomagicAPI", "Controller", "DeviceProbe", "DRA", "JSON", "KubeClient", "KubeCore", "LabAPIServer", "Resolver", "SyntheticFleets",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        .executableTarget(name: "automagic-lab-switch", dependencies: [
            "DeviceProbe", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: swiftSettings),
        // The kubelet device plugin for exclusive networks: a process of its own beside the agent.
        .executableTarget(name: "automagic-device-plugin", dependencies: [
            "DevicePlugin", "MappingFile", "KubeClient", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        .executableTarget(name: "kubectl-automagic", dependencies: ["KubectlPlugin"], swiftSettings: swiftSettings),

        // Tests (Swift Testing). Unit tiers need no root and no server; integration tiers start the
        // lab API server in-process over real HTTPS; privileged tiers (netns, real CNI plugins) need root.
        // Helpers the test targets share (commands, netns, temp dirs, clean-up, the repository root and its
        // fixture files: examples, CRDs, YAML, kube-api-traces).
        .target(name: "TestSupport", dependencies: ["JSON", .product(name: "Yams", package: "Yams")], path: "Tests/TestSupport"),
        // The in-process lab API server fixture, the real cluster of AUTOMAGIC_TEST_KUBECONFIG and the
        // repository's CRDs, for the test targets that talk to an API server (only those link it).
        .target(name: "LabTesting", dependencies: [
            "TestSupport", "LabAPIServer", "KubeClient", "JSON",
            .product(name: "Logging", package: "swift-log"),
        ], path: "Tests/LabTesting", swiftSettings: swiftSettings),
        .testTarget(name: "TestSupportTests", dependencies: ["TestSupport"]),
        .testTarget(name: "JSONTests", dependencies: ["JSON", "TestSupport"]),
        .testTarget(name: "KubeCoreTests", dependencies: ["KubeCore", "JSON", "TestSupport"]),
        .testTarget(name: "ResolverTests", dependencies: [
            "Resolver", "AutomagicAPI", "KubeCore", "JSON", "SyntheticFleets", "TestSupport",
            .product(name: "PropertyBased", package: "swift-property-based"),
        ], exclude: ["Fixtures"]),
        // The generated DeviceClass CEL against the resolver, evaluated by cel-python (cel_eval.py).
        .testTarget(name: "DRATests", dependencies: [
            "DRA", "AutomagicAPI", "JSON", "KubeCore", "Resolver", "SyntheticFleets", "TestSupport",
            .product(name: "PropertyBased", package: "swift-property-based"),
        ], exclude: ["cel_eval.py"]),
        .testTarget(name: "HardwareAddressesTests", dependencies: ["HardwareAddresses"]),
        .testTarget(name: "CNIPluginTests", dependencies: ["CNIPlugin", "CNI", "MappingFile", "JSON", "TestSupport"]),
        .testTarget(name: "DeviceProbeTests", dependencies: ["DeviceProbe", "CNetlink", "AutomagicAPI", "JSON", "TestSupport"]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "HTTPServerTLS", "TestSupport"]),
        .testTarget(name: "ObservabilityTests", dependencies: [
            "Observability", "TestSupport", .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .testTarget(name: "LabAPIServerTests", dependencies: ["LabAPIServer", "LabTesting", "JSON", "KubeCore", "TestSupport"]),
        .testTarget(name: "KubeClientTests", dependencies: [
            "KubeClient", "LabAPIServer", "LabTesting", "HTTPServer", "HTTPServerTLS", "KubeCore", "JSON", "TestSupport",
            .product(name: "Yams", package: "Yams"),  // reference for the kubeconfig YAML reader
        ]),
        .testTarget(name: "KubeRuntimeTests", dependencies: ["KubeRuntime", "KubeClient", "KubeCore", "LabTesting", "HTTPServer", "TestSupport"]),
        .testTarget(name: "AgentTests", dependencies: [
            "Agent", "AutomagicAPI", "DeviceProbe", "DRA", "JSON", "KubeClient", "KubeCore", "KubeRuntime", "LabAPIServer", "LabTesting", "MappingFile",
            "NativeThreads", "Resolver", "TestSupport", .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),  // reads manifests/ (least-privilege checks)
        ]),
        .testTarget(name: "ControllerTests", dependencies: [
            "Controller", "AutomagicAPI", "JSON", "KubeClient", "KubeCore", "KubeRuntime", "LabTesting", "Resolver", "TestSupport",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The real automagic-device-plugin against a fake kubelet in Python (grpcio), in network namespaces.
        .testTarget(name: "DevicePluginTests", dependencies: [
            "DevicePlugin", "MappingFile", "JSON", "KubeClient", "KubeCore", "LabTesting", "TestSupport",
            .product(name: "Logging", package: "swift-log"),
        ],
                    exclude: ["fake_kubelet.py"]),
        // The lab end to end through hack/lab.sh with the binaries of this build (root).
        .testTarget(name: "LabEndToEndTests", dependencies: ["TestSupport"]),
        .testTarget(name: "KubectlPluginTests", dependencies: [
            "KubectlPlugin", "AutomagicAPI", "JSON", "KubeClient", "KubeCore", "LabAPIServer", "LabTesting", "Resolver", "TestSupport",
            .product(name: "Yams", package: "Yams"),
        ]),
        // CRDs, examples, invalid objects and manifests through the real kubectl against the lab API server.
        .testTarget(name: "ConformanceTests", dependencies: ["LabAPIServer", "LabTesting", "JSON", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
