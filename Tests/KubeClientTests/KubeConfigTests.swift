import Foundation
import KubeClient
import Testing
import TestSupport

@Suite struct KubeConfigTests {
    static let caB64 = Data("-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n".utf8).base64EncodedString()

    @Test func singleFileWithInlineDataAndToken() throws {
        let yaml = """
        apiVersion: v1
        kind: Config
        current-context: dev
        clusters:
        - name: c1
          cluster:
            server: https://10.0.0.1:6443
            certificate-authority-data: \(Self.caB64)
            tls-server-name: api.internal
        users:
        - name: u1
          user:
            token: abc123
        contexts:
        - name: dev
          context:
            cluster: c1
            user: u1
            namespace: team-a
        """
        let config = try KubeConfigLoader.load(yaml: yaml, path: "/tmp/x/config")
        #expect(config.server == "https://10.0.0.1:6443")
        #expect(config.token == "abc123")
        #expect(config.namespace == "team-a")
        #expect(config.tlsServerName == "api.internal")
        #expect(config.insecureSkipTLSVerify == false)
        #expect(config.certificateAuthority == .data(Array("-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n".utf8)))
    }

    @Test func kubeconfigEnvironmentMergeFirstFileWins() throws {
        let dir = try makeTempDir("kubeclient-test")
        defer { removeTestFiles(dir) }
        try write("token-from-file\n", to: dir + "/tok")
        let first = """
        clusters:
        - name: shared
          cluster: {server: "https://first:6443", insecure-skip-tls-verify: true}
        users:
        - name: me
          user: {tokenFile: tok}
        contexts:
        - name: ctx-first
          context: {cluster: shared, user: me}
        """
        let second = """
        current-context: ctx-second
        clusters:
        - name: shared
          cluster: {server: "https://second:6443"}
        - name: only-second
          cluster: {server: "https://only-second:6443"}
        users:
        - name: me
          user: {token: second-token}
        contexts:
        - name: ctx-second
          context: {cluster: only-second, user: me}
        - name: ctx-first
          context: {cluster: only-second}
        """
        let third = "current-context: ctx-first\n"
        try write(first, to: dir + "/a")
        try write(second, to: dir + "/b")
        try write(third, to: dir + "/c")
        let env = ["KUBECONFIG": "\(dir)/missing:\(dir)/a:\(dir)/b:\(dir)/c", "HOME": dir]
        // current-context comes from the first file that sets it (b), the user "me" from a (first wins).
        let config = try KubeConfigLoader.load(explicitPath: nil, context: nil, environment: env)
        #expect(config.server == "https://only-second:6443")
        #expect(config.tokenFile == dir + "/tok")   // relative to the file that named it
        #expect(config.token == nil)
        // An explicit context picks a's ctx-first (a defines it first), with a's "shared" cluster.
        let other = try KubeConfigLoader.load(explicitPath: nil, context: "ctx-first", environment: env)
        #expect(other.server == "https://first:6443")
        #expect(other.insecureSkipTLSVerify == true)
    }

    @Test func explicitPathWinsOverEnvironment() throws {
        let dir = try makeTempDir("kubeclient-test")
        defer { removeTestFiles(dir) }
        try write("current-context: x\nclusters: [{name: c, cluster: {server: 'https://explicit:1'}}]\ncontexts: [{name: x, context: {cluster: c}}]\n", to: dir + "/explicit")
        try write("current-context: x\nclusters: [{name: c, cluster: {server: 'https://env:1'}}]\ncontexts: [{name: x, context: {cluster: c}}]\n", to: dir + "/env")
        let env = ["KUBECONFIG": dir + "/env", "HOME": dir]
        #expect(try KubeConfigLoader.load(explicitPath: dir + "/explicit", environment: env).server == "https://explicit:1")
        #expect(try KubeConfigLoader.defaultConfiguration(kubeconfig: dir + "/explicit", environment: env).server == "https://explicit:1")
        #expect(try KubeConfigLoader.defaultConfiguration(kubeconfig: nil, environment: env).server == "https://env:1")
        // ~/.kube/config when nothing else is set
        try FileManager.default.createDirectory(atPath: dir + "/.kube", withIntermediateDirectories: true)
        try write("current-context: x\nclusters: [{name: c, cluster: {server: 'https://home:1'}}]\ncontexts: [{name: x, context: {cluster: c}}]\n", to: dir + "/.kube/config")
        #expect(try KubeConfigLoader.defaultConfiguration(kubeconfig: nil, environment: ["HOME": dir]).server == "https://home:1")
    }

    @Test func missingExplicitFileNamesTheFile() throws {
        let error = #expect(throws: KubeClientError.self) {
            try KubeConfigLoader.load(explicitPath: "/nonexistent/kubeconfig", environment: [:])
        }
        let text = try #require(error).description
        #expect(text.contains("/nonexistent/kubeconfig"))
        #expect(text.contains("not found"))
    }

    @Test func missingCertificateFileNamesFileAndField() throws {
        let yaml = """
        current-context: x
        clusters: [{name: c, cluster: {server: "https://a:1"}}]
        users:
        - name: u
          user:
            client-certificate: /nope/cert.pem
            client-key: /nope/key.pem
        contexts: [{name: x, context: {cluster: c, user: u}}]
        """
        let error = #expect(throws: KubeClientError.self) { try KubeConfigLoader.load(yaml: yaml, path: "/x/y") }
        #expect(try #require(error).description == "kubeconfig /x/y: users[0].user.client-certificate: file '/nope/cert.pem' not found")
    }

    @Test func malformedYAMLAndWrongShapesAreNamed() throws {
        // kubeconfig text, its path, and the whole message (or, for YAML errors, how it starts).
        let cases: [(yaml: String, path: String, message: String, prefixOnly: Bool)] = [
            ("clusters: [ {name: c, cluster: {server: \"https://a:1\"}\n  - oops: [", "/k/broken",
             "kubeconfig /k/broken: not valid YAML", true),
            ("current-context: x\nclusters: {name: c}\n", "/k/shape", "kubeconfig /k/shape: clusters: expected a list", false),
            ("current-context: x\nclusters: [{name: c, cluster: {}}]\ncontexts: [{name: x, context: {cluster: c}}]\n", "/k/nosrv",
             "kubeconfig /k/nosrv: clusters[0].cluster.server: missing", false),
            ("current-context: x\nclusters: [{name: c, cluster: {server: 'https://a:1', certificate-authority-data: '!!!'}}]\ncontexts: [{name: x, context: {cluster: c}}]\n",
             "/k/b64", "kubeconfig /k/b64: clusters[0].cluster.certificate-authority-data: not valid base64", false),
            ("current-context: nope\nclusters: []\n", "/k/ctx", "kubeconfig /k/ctx: current-context: context 'nope' not found", false),
            ("current-context: x\nclusters: [{name: c, cluster: {server: 'https://a:1'}}]\ncontexts: [{name: x, context: {cluster: c, user: ghost}}]\n",
             "/k/user", "kubeconfig /k/user: contexts[0].context.user: user 'ghost' not found", false),
            ("- just\n- a list\n", "/k/list", "kubeconfig /k/list: expected a mapping at the top level", false),
        ]
        for c in cases {
            let error = #expect(throws: KubeClientError.self, "\(c.path)") { try KubeConfigLoader.load(yaml: c.yaml, path: c.path) }
            let description = try #require(error, "\(c.path)").description
            if c.prefixOnly {
                #expect(description.hasPrefix(c.message), "\(description)")
            } else {
                #expect(description == c.message)
            }
        }
    }

    @Test func execPluginConfiguration() throws {
        let yaml = """
        current-context: x
        clusters: [{name: c, cluster: {server: "https://a:1"}}]
        users:
        - name: u
          user:
            exec:
              apiVersion: client.authentication.k8s.io/v1
              command: ./bin/get-token
              args: ["--cluster", "c"]
              env: [{name: FOO, value: bar}]
              provideClusterInfo: true
              interactiveMode: Never
        contexts: [{name: x, context: {cluster: c, user: u}}]
        """
        let config = try KubeConfigLoader.load(yaml: yaml, path: "/etc/kube/config")
        let exec = try #require(config.exec)
        #expect(exec.command == "/etc/kube/bin/get-token")
        #expect(exec.args == ["--cluster", "c"])
        #expect(exec.env == ["FOO": "bar"])
        #expect(exec.provideClusterInfo)

        let badVersion = yaml.replacingOccurrences(of: "client.authentication.k8s.io/v1", with: "client.authentication.k8s.io/v1alpha1")
        let error = #expect(throws: KubeClientError.self) { try KubeConfigLoader.load(yaml: badVersion, path: "/etc/kube/config") }
        #expect(try #require(error).description.contains("users[0].user.exec.apiVersion"))
    }

    @Test func inClusterConfigurationFromFixtureRoot() throws {
        let root = try makeTempDir("kubeclient-test")
        defer { removeTestFiles(root) }
        try write("tok\n", to: root + "/token")
        try write("-----BEGIN CERTIFICATE-----\n", to: root + "/ca.crt")
        try write("kube-system\n", to: root + "/namespace")
        let v4 = try KubeConfigLoader.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"], root: root)
        #expect(v4.server == "https://10.96.0.1:443")
        #expect(v4.tokenFile == root + "/token")
        #expect(v4.certificateAuthority == .file(root + "/ca.crt"))
        #expect(v4.namespace == "kube-system")
        let v6 = try KubeConfigLoader.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"], root: root)
        #expect(v6.server == "https://[fd00::1]:6443")
        // defaultConfiguration prefers in-cluster when the variables are set and no kubeconfig is given
        let chosen = try KubeConfigLoader.defaultConfiguration(
            kubeconfig: nil, environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443", "KUBECONFIG": "/nope"],
            inClusterRoot: root)
        #expect(chosen.server == "https://10.96.0.1:443")

        let noPort = #expect(throws: KubeClientError.self) {
            try KubeConfigLoader.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1"], root: root)
        }
        #expect(try #require(noPort).description.contains("KUBERNETES_SERVICE_PORT"))
        let noToken = #expect(throws: KubeClientError.self) {
            try KubeConfigLoader.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"], root: root + "/missing")
        }
        #expect(try #require(noToken).description.contains(root + "/missing/token"))
    }
}
