// swift-tools-version:6.0
// Automagic: semantic secondary networks for Kubernetes pods.
//
// Layering (lower never imports higher):
//   C shims:      CCurl, CTLS, CNetlink
//   pure core:    JSON, KubeCore, AutomagicAPI, Resolver, MappingFile, CNI
//   edges:        KubeClient (libcurl), KubeRuntime, DeviceProbe (netlink), HTTPServer (sockets + OpenSSL), Observability
//   programs:     Agent, Controller, CNIPlugin, LabAPIServer, KubectlPlugin
//   thin mains:   automagic-agent, automagic-controller, automagic, automagic-lab-apiserver, kubectl-automagic
// The CNI plugin (`automagic`) links only JSON, MappingFile, CNI and CNIPlugin: no libcurl, no Kubernetes client.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]
// The modules linked into the CNI plugin (JSON, MappingFile, CNI, CNIPlugin, automagic): concrete
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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    ],
    targets: [
        // C shims
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("curl")]),
        .target(name: "CTLS", linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]),
        .target(name: "CNetlink"),
        // pthread threads and a condition lock, for modules that must not link corelibs Foundation.
        .target(name: "NativeThreads", swiftSettings: swiftSettings),

        // Pure core
        .target(name: "JSON", swiftSettings: cniPluginSwiftSettings),
        .target(name: "KubeCore", dependencies: ["JSON"], swiftSettings: swiftSettings),
        .target(name: "AutomagicAPI", dependencies: ["KubeCore", "JSON"], swiftSettings: swiftSettings),
        .target(name: "Resolver", dependencies: ["AutomagicAPI", "KubeCore"], swiftSettings: swiftSettings),
        .target(name: "MappingFile", dependencies: ["JSON"], swiftSettings: cniPluginSwiftSettings),
        .target(name: "CNI", dependencies: ["JSON"], swiftSettings: cniPluginSwiftSettings),

        // Edges
        // No Yams here: it imports corelibs Foundation (CoreFoundation + ICU) into every program
        // linking KubeClient, the node agent included; kubeconfigs are read by KubeConfigYAML.
        .target(name: "KubeClient", dependencies: [
            "CCurl", "KubeCore", "JSON", "NativeThreads",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        .target(name: "KubeRuntime", dependencies: [
            "KubeClient", "KubeCore", "JSON",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        .target(name: "DeviceProbe", dependencies: ["CNetlink", "AutomagicAPI", "KubeCore", "JSON"], swiftSettings: swiftSettings),
        .target(name: "HTTPServer", dependencies: ["CTLS", "NativeThreads", .product(name: "Logging", package: "swift-log")], swiftSettings: swiftSettings),
        .target(name: "Observability", dependencies: ["HTTPServer", .product(name: "Logging", package: "swift-log")], swiftSettings: swiftSettings),

        // Programs
        .target(name: "CNIPlugin", dependencies: ["CNI", "MappingFile", "JSON"], swiftSettings: cniPluginSwiftSettings),
        .target(name: "LabAPIServer", dependencies: [
            "HTTPServer", "CTLS", "KubeCore", "JSON",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
        ], swiftSettings: swiftSettings),
        .target(name: "Agent", dependencies: [
            "KubeClient", "KubeRuntime", "KubeCore", "AutomagicAPI", "Resolver", "DeviceProbe", "MappingFile", "Observability", "JSON",
            "NativeThreads", .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        .target(name: "Controller", dependencies: [
            "KubeClient", "KubeRuntime", "KubeCore", "AutomagicAPI", "Resolver", "Observability", "JSON",
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
        ], swiftSettings: swiftSettings,
           linkerSettings: [.unsafeFlags(["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"],
                                         .when(platforms: [.linux], configuration: .release))]),
        .executableTarget(name: "automagic-controller", dependencies: [
            "Controller", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: swiftSettings),
        .executableTarget(name: "automagic-lab-apiserver", dependencies: [
            "LabAPIServer", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: swiftSettings),
        // Benchmarks (hack/bench.sh builds it in release mode).
        .executableTarget(name: "automagic-bench", dependencies: [
            "KubeClient", "KubeCore", "AutomagicAPI", "LabAPIServer", "Resolver", "JSON",
        ], swiftSettings: swiftSettings),
        .executableTarget(name: "automagic-lab-switch", dependencies: [
            "DeviceProbe", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: swiftSettings),
        .executableTarget(name: "kubectl-automagic", dependencies: [
            "KubectlPlugin", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: swiftSettings),

        // Tests (Swift Testing). Unit tiers need no root and no server; integration tiers start the
        // lab API server in-process over real HTTPS; privileged tiers (netns, real CNI plugins) need root.
        // Helpers the test targets share (commands, netns, temp dirs, clean-up).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "KubeCoreTests", dependencies: ["KubeCore"]),
        .testTarget(name: "ResolverTests", dependencies: [
            "Resolver", "AutomagicAPI", "KubeCore", "JSON",
            .product(name: "PropertyBased", package: "swift-property-based"),
            .product(name: "Yams", package: "Yams"),
        ], exclude: ["Fixtures"]),
        .testTarget(name: "CNIPluginTests", dependencies: ["CNIPlugin", "CNI", "MappingFile", "TestSupport"]),
        .testTarget(name: "DeviceProbeTests", dependencies: ["DeviceProbe", "AutomagicAPI", "CNetlink", "TestSupport"]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "CTLS", "TestSupport"]),
        .testTarget(name: "ObservabilityTests", dependencies: ["Observability", "HTTPServer"]),
        .testTarget(name: "LabAPIServerTests", dependencies: ["LabAPIServer", "KubeCore", "TestSupport"]),
        .testTarget(name: "KubeClientTests", dependencies: [
            "KubeClient", "LabAPIServer", "HTTPServer", "KubeCore", "JSON", "TestSupport",
            .product(name: "Yams", package: "Yams"),  // reference for the kubeconfig YAML reader
        ]),
        .testTarget(name: "KubeRuntimeTests", dependencies: ["KubeRuntime", "KubeClient", "LabAPIServer"]),
        .testTarget(name: "AgentTests", dependencies: [
            "Agent", "AutomagicAPI", "DeviceProbe", "JSON", "KubeClient", "KubeCore", "KubeRuntime", "LabAPIServer", "MappingFile",
            "NativeThreads", "Resolver", "TestSupport", .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "ControllerTests", dependencies: ["Controller", "LabAPIServer"]),
        // The lab end to end through hack/lab.sh with the binaries of this build (root).
        .testTarget(name: "LabEndToEndTests"),
        .testTarget(name: "KubectlPluginTests", dependencies: ["KubectlPlugin", "LabAPIServer"]),
        // CRDs, examples, invalid objects and manifests through the real kubectl against the lab API server.
        .testTarget(name: "ConformanceTests", dependencies: ["LabAPIServer", "KubeCore", "JSON", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
