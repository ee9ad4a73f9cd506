import Foundation
import JSON
@testable import LabAPIServer

let admin = LabUser(name: "kubernetes-admin", groups: ["system:masters"])

/// An in-process (sans-I/O) client of a `LabAPI`.
struct APIClient {
    let api: LabAPI
    var user: LabUser? = admin
    var token: String? = nil

    func call(_ method: String, _ path: String, query: [(String, String)] = [], json: JSONValue? = nil, body: [UInt8]? = nil,
              contentType: String = "application/json", accept: String = "application/json") -> LabResponse {
        var headers: [(name: String, value: String)] = [("Accept", accept), ("User-Agent", "lab-tests/1.0")]
        if json != nil || body != nil { headers.append(("Content-Type", contentType)) }
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        return api.perform(LabRequest(method: method, path: path, query: query.map { (name: $0.0, value: $0.1) }, headers: headers,
                                      body: body ?? json?.serialized() ?? [], clientCertificate: token == nil ? user : nil))
    }

    /// The current global resourceVersion (a list of namespaces reports it).
    func currentRV() -> String {
        call("GET", "/api/v1/namespaces").json?[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
    }
}

enum Fixtures {
    static let widgetCRD: JSONValue = [
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": ["name": "widgets.example.com"],
        "spec": [
            "group": "example.com", "scope": "Cluster",
            "names": ["kind": "Widget", "listKind": "WidgetList", "plural": "widgets", "singular": "widget", "shortNames": ["wd"]],
            "versions": [[
                "name": "v1", "served": true, "storage": true, "subresources": ["status": [:]],
                "additionalPrinterColumns": [["name": "Size", "type": "integer", "jsonPath": ".spec.size"]],
                "schema": ["openAPIV3Schema": [
                    "type": "object", "required": ["spec"],
                    "properties": [
                        "spec": ["type": "object", "required": ["size", "color"], "properties": [
                            "size": ["type": "integer", "minimum": 1, "maximum": 100],
                            "color": ["type": "string", "enum": ["red", "green", "blue"]],
                            "tags": ["type": "array", "maxItems": 3, "items": ["type": "string", "pattern": "^[a-z]+$"]],
                            "extra": ["type": "object", "x-kubernetes-preserve-unknown-fields": true],
                        ]],
                        "status": ["type": "object", "properties": ["phase": ["type": "string"]]],
                    ],
                ]],
            ]],
        ],
    ]

    static func widget(_ name: String, size: Int64 = 1, color: String = "red", labels: [String: String] = [:]) -> JSONValue {
        var meta: [String: JSONValue] = ["name": .string(name)]
        if !labels.isEmpty { meta["labels"] = .object(labels.mapValues { .string($0) }) }
        return ["apiVersion": "example.com/v1", "kind": "Widget", "metadata": .object(meta), "spec": ["size": .int(size), "color": .string(color)]]
    }

    /// A fresh API with the Widget CRD established.
    static func apiWithWidgets(_ configure: (inout LabAPIConfiguration) -> Void = { _ in }) -> (LabAPI, APIClient) {
        var config = LabAPIConfiguration()
        configure(&config)
        let api = LabAPI(configuration: config)
        let client = APIClient(api: api)
        let r = client.call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json: widgetCRD)
        precondition(r.status == 201, r.text)
        return (api, client)
    }
}

final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var _data = Data()
    private var _done = false
    func set(_ d: Data) { lock.lock(); _data = d; _done = true; lock.unlock() }
    var data: Data { lock.lock(); defer { lock.unlock() }; return _data }
    var done: Bool { lock.lock(); defer { lock.unlock() }; return _done }
}
