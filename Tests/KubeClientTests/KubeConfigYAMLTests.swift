import Testing
import Yams
@testable import KubeClient

/// The kubeconfig YAML reader (KubeConfigYAML) against Yams, the YAML library it replaced in
/// KubeClient (Yams stays a test-only reference here), plus its own error reporting.
@Suite struct KubeConfigYAMLTests {
    /// Documents in the shapes real kubeconfigs take (kubectl, kind, cloud exec plugins, hand-written).
    static let corpus: [String] = [
        // kubectl / kind output
        """
        apiVersion: v1
        clusters:
        - cluster:
            certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM=
            server: https://127.0.0.1:36271
          name: kind-kind
        contexts:
        - context:
            cluster: kind-kind
            user: kind-kind
          name: kind-kind
        current-context: kind-kind
        kind: Config
        preferences: {}
        users:
        - name: kind-kind
          user:
            client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t
            client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQ==
        """,
        // exec plugin with args, env, quoted strings, comments, a document marker
        """
        # managed by a tool
        ---
        apiVersion: v1
        kind: Config
        current-context: "arn:aws:eks:eu-west-1:123456789012:cluster/prod"   # quoted because of colons
        clusters:
          - name: "arn:aws:eks:eu-west-1:123456789012:cluster/prod"
            cluster:
              server: https://ABCDEF.gr7.eu-west-1.eks.amazonaws.com
              certificate-authority-data: 'LS0tLS1C'
        users:
          - name: eks
            user:
              exec:
                apiVersion: client.authentication.k8s.io/v1beta1
                command: aws
                args:
                  - --region
                  - eu-west-1
                  - eks
                  - get-token
                  - --cluster-name
                  - prod
                env:
                  - name: AWS_PROFILE
                    value: "prod # not a comment"
                  - {name: EMPTY, value: ''}
                interactiveMode: IfAvailable
                provideClusterInfo: false
        contexts:
        - name: "arn:aws:eks:eu-west-1:123456789012:cluster/prod"
          context: {cluster: "arn:aws:eks:eu-west-1:123456789012:cluster/prod", user: eks, namespace: ~}
        ...
        """,
        // flow style over several lines, escapes, single-quote doubling, nulls
        """
        clusters: [
          {name: a, cluster: {server: "https://a:6443", insecure-skip-tls-verify: true}},
          {name: b, cluster: {server: 'https://b:6443', tls-server-name: 'it''s'}}
        ]
        users: [{name: u, user: {token: "t\\tab\\u00e9\\x41\\\\\\"q\\""}}]
        contexts:
        - {name: x, context: {cluster: a, user: u}}
        - name: y
          context:
            cluster: b
        current-context: x
        empty:
        tilde: ~
        nothing: null
        """,
        // block scalars, plain scalars continued on more-indented lines, sequence at the key's indentation
        """
        literal: |
          line one
            indented
          line three

        keep: |+
          kept

        strip: |-
          stripped
        folded: >
          folded one
          folded two

          new paragraph
        plain: a plain
          scalar over
          three lines
        list:
        - one
        - two: 2
          three: 3
        - - nested
          - list
        -
          deep: value
        last: end
        """,
        // Windows line endings and a top-level key with an empty mapping
        "current-context: w\r\nclusters:\r\n- name: w\r\n  cluster:\r\n    server: https://w:1\r\npreferences: {}\r\n",
        // the shapes of KubeConfigTests
        "current-context: x\nclusters: [{name: c, cluster: {server: 'https://explicit:1'}}]\ncontexts: [{name: x, context: {cluster: c}}]\n",
        "current-context: x\nclusters: {name: c}\n",
        "- just\n- a list\n",
        "",
        "# only a comment\n",
    ]

    @Test(arguments: Array(corpus.indices))
    func parsesLikeYams(index: Int) throws {
        let text = Self.corpus[index]
        let ours = try KubeConfigYAML.parse(text)
        let reference = try Yams.compose(yaml: text).map(Self.convert)
        #expect(ours == reference, "document \(index)")
    }

    @Test func blockScalarsAndEscapesHaveTheirValues() throws {
        let root = try #require(try KubeConfigYAML.parse(Self.corpus[3])?.mapping)
        #expect(Self.string(root["literal"]) == "line one\n  indented\nline three\n")
        #expect(Self.string(root["keep"]) == "kept\n\n")
        #expect(Self.string(root["strip"]) == "stripped")
        #expect(Self.string(root["folded"]) == "folded one folded two\nnew paragraph\n")
        #expect(Self.string(root["plain"]) == "a plain scalar over three lines")
        let flows = try #require(try KubeConfigYAML.parse(Self.corpus[2])?.mapping)
        let token = flows["users"]?.sequence?.first?.mapping?["user"]?.mapping?["token"]
        #expect(Self.string(token) == "t\tab\u{e9}A\\\"q\"")
        let server = flows["clusters"]?.sequence?.last?.mapping?["cluster"]?.mapping?["tls-server-name"]
        #expect(Self.string(server) == "it's")
    }

    @Test func errorsNameTheLine() throws {
        let cases: [(String, Int, String)] = [
            ("a: 1\n\tb: 2\n", 2, "tab"),
            ("a: &anchor 1\nb: *anchor\n", 1, "anchors"),
            ("a: !!str 1\n", 1, "tags"),
            ("a: [1, 2\nb: 3\n", 2, "unterminated flow"),
            ("a: \"open\n", 1, "unterminated quoted"),
            ("a:\n  b: 1\n c: 2\n", 3, "indentation"),
            ("a: {b 1 2: }}\n", 1, "unexpected"),
            ("a: \"bad \\q escape\"\n", 1, "unknown escape"),
            ("? complex\n: key\n", 1, "complex"),
        ]
        for (text, line, fragment) in cases {
            let error = #expect(throws: YAMLSyntaxError.self, "\(text)") { try KubeConfigYAML.parse(text) }
            #expect(error?.line == line, "\(text)")
            #expect(error?.message.contains(fragment) == true, "\(text): \(error?.message ?? "")")
        }
    }

    @Test func kubeconfigFromKindShapeLoads() throws {
        let config = try KubeConfigLoader.load(yaml: Self.corpus[0], path: "/k/kind")
        #expect(config.server == "https://127.0.0.1:36271")
        #expect(config.clientCertificate != nil)
        #expect(config.clientKey != nil)
        let eks = try KubeConfigLoader.load(yaml: Self.corpus[1], path: "/k/eks")
        let exec = try #require(eks.exec)
        #expect(exec.command == "aws")
        #expect(exec.args == ["--region", "eu-west-1", "eks", "get-token", "--cluster-name", "prod"])
        #expect(exec.env == ["AWS_PROFILE": "prod # not a comment", "EMPTY": ""])
        #expect(eks.namespace == nil)
    }

    static func string(_ node: YAMLNode?) -> String? {
        if case .scalar(let scalar)? = node { return scalar.string }
        return nil
    }

    /// Yams' node as ours: scalars keep string and style (Yams' "any" style is plain).
    static func convert(_ node: Yams.Node) -> YAMLNode {
        switch node {
        case .scalar(let scalar):
            let style: YAMLScalar.Style = switch scalar.style {
            case .singleQuoted: .singleQuoted
            case .doubleQuoted: .doubleQuoted
            case .literal: .literal
            case .folded: .folded
            default: .plain
            }
            return .scalar(YAMLScalar(string: scalar.string, style: style))
        case .mapping(let mapping):
            return .mapping(YAMLMapping(mapping.map { pair in
                (key: pair.key.string ?? "", value: convert(pair.value))
            }))
        case .sequence(let sequence):
            return .sequence(sequence.map(convert))
        case .alias:
            return .scalar(YAMLScalar(string: "<alias>", style: .plain))
        }
    }
}
