#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import JSON
import KubeClient
import KubeRuntime
import Logging

/// The agent's check, at start, that its credentials belong to the node it was told to serve.
///
/// It asks the API server who it is (`SelfSubjectReview`, `authentication.k8s.io/v1`, served
/// since Kubernetes 1.28). A service-account token bound to a pod carries the pod's node in the
/// extra `authentication.kubernetes.io/node-name` (1.30+): when that differs from `--node-name`,
/// the agent would publish one node's devices and write its mapping file under another node's
/// name, so it refuses to start. Without that extra (a token not bound to a pod, a client
/// certificate, an older server), or when the API is not served (404) or not allowed (403), it
/// cannot tell: it logs a warning and goes on.
///
/// ```swift
/// let outcome = try await IdentityCheck.verify(client: client, nodeName: "worker-1", logger: logger)
/// ```
public enum IdentityCheck {
    /// The extra naming the node of the pod a service-account token is bound to.
    public static let nodeNameExtra = "authentication.kubernetes.io/node-name"
    /// Where the review is posted.
    public static let path = "/apis/authentication.k8s.io/v1/selfsubjectreviews"

    /// Who the API server says the credentials belong to.
    public struct UserInfo: Sendable, Equatable {
        public var username: String
        public var groups: [String]
        public var extra: [String: [String]]
    }

    /// What the check found (a mismatch is thrown, never returned).
    public enum Outcome: Sendable, Equatable {
        /// The credentials are bound to this node.
        case confirmed(user: String)
        /// The identity carries no node name: nothing to compare.
        case noNodeName(user: String)
        /// The API server does not serve SelfSubjectReview (404) or does not allow it (403).
        case unavailable(reason: String)
    }

    /// Asks the server once and decides. Throws ``AgentError/identity(node:message:)`` for a
    /// mismatch, and the client's error for anything that may pass (connection refused, 5xx,
    /// timeouts: the caller tries again).
    public static func check(client: KubernetesClient, nodeName: String) async throws -> Outcome {
        let body: JSONValue = ["kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1", "metadata": [:], "status": [:]]
        let result: Result<KubernetesClient.RawResponse, KubeClientError>
        do {
            result = .success(try await client.request(
                "POST", path: path, body: Array(body.jsonString().utf8), contentType: "application/json"))
        } catch {
            result = .failure(error)
        }
        let response: KubernetesClient.RawResponse
        switch result {
        case .success(let r):
            response = r
        case .failure(let error):
            if let code = error.httpCode, [403, 404, 405].contains(code) { return .unavailable(reason: "\(error)") }
            throw error
        }
        let info = try decode(response.body, url: client.url(path: path))
        return try decide(info, nodeName: nodeName)
    }

    /// The decision for a review's user info.
    public static func decide(_ info: UserInfo, nodeName: String) throws(AgentError) -> Outcome {
        guard let bound = info.extra[nodeNameExtra], !bound.isEmpty else { return .noNodeName(user: info.username) }
        guard bound.allSatisfy({ $0 == nodeName }) else {
            throw .identity(
                node: nodeName,
                message: "the credentials of '\(info.username)' are bound to node '\(bound.joined(separator: ","))' "
                    + "(SelfSubjectReview extra \(nodeNameExtra)); refusing to start: check --node-name "
                    + "(or NODE_NAME from spec.nodeName) and the token the agent uses")
        }
        return .confirmed(user: info.username)
    }

    /// Reads `status.userInfo` of a SelfSubjectReview.
    static func decode(_ body: Data, url: String) throws(KubeClientError) -> UserInfo {
        let review: JSONValue
        do { review = try JSONValue.parse(Array(body)) } catch {
            throw .decoding(url: url, message: "SelfSubjectReview: \(error)")
        }
        guard let user = review[path: ["status", "userInfo"]], case .object = user else {
            throw .decoding(url: url, message: "SelfSubjectReview without status.userInfo")
        }
        var extra: [String: [String]] = [:]
        if case .object(let fields)? = user["extra"] {
            for (key, value) in fields {
                guard case .array(let items) = value else {
                    throw .decoding(url: url, message: "SelfSubjectReview status.userInfo.extra[\(key)] is not a list")
                }
                extra[key] = items.compactMap(\.stringValue)
            }
        }
        let groups: [String]
        if case .array(let items)? = user["groups"] { groups = items.compactMap(\.stringValue) } else { groups = [] }
        return UserInfo(username: user["username"]?.stringValue ?? "", groups: groups, extra: extra)
    }

    /// Checks until the server answers (retrying connection failures, 5xx and timeouts with
    /// `backoff`), logs the outcome and returns it; throws on a mismatch. Cancelled before an
    /// answer: `.unavailable` (the agent is stopping anyway).
    public static func verify(
        client: KubernetesClient, nodeName: String, backoff: Backoff, logger: Logger
    ) async throws(AgentError) -> Outcome {
        var backoff = backoff
        while true {
            do {
                let outcome = try await check(client: client, nodeName: nodeName)
                switch outcome {
                case .confirmed(let user):
                    logger.info("identity confirmed: the credentials are bound to this node", metadata: ["user": .string(user)])
                case .noNodeName(let user):
                    logger.warning("cannot confirm that the credentials belong to this node: the identity has no \(nodeNameExtra) (not a pod-bound service-account token, or an API server older than 1.30); going on", metadata: ["user": .string(user)])
                case .unavailable(let reason):
                    logger.warning("cannot confirm that the credentials belong to this node: SelfSubjectReview is not available (\(reason)); going on")
                }
                return outcome
            } catch let error as AgentError {
                throw error
            } catch {
                if Task.isCancelled { return .unavailable(reason: "cancelled before the API server answered") }
                let delay = backoff.next(now: .now)
                logger.warning("could not ask the API server who this agent is; trying again", metadata: [
                    "error": .string("\(error)"), "retryIn": .string("\(delay)")])
                do { try await Task.sleep(for: delay) } catch {
                    return .unavailable(reason: "cancelled before the API server answered")
                }
            }
        }
    }
}
