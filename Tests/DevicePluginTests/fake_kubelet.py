#!/usr/bin/env python3
"""A stand-in for the kubelet's device manager, for the device plugin's tests (grpcio).

  fake_kubelet.py serve --dir D --events FILE [--pod-resources SOCKET --pods PODS]
      Removes the sockets in D (as a starting kubelet does), serves Registration on D/kubelet.sock
      and, for every plugin that registers, calls GetDevicePluginOptions and follows ListAndWatch
      on D/<endpoint>, as the kubelet does. Every step is appended to FILE as one JSON line:
        {"event": "register", "resource": R, "version": V, "endpoint": E, "options": {...}, "time": T}
        {"event": "options", "resource": R, "options": {...}, "time": T}
        {"event": "list", "resource": R, "devices": [{"id", "health", "numa": [..]}], "time": T}
        {"event": "stream-end", "resource": R, "code": C, "time": T}
      T is the wall clock (seconds since the epoch). A version other than v1beta1 is refused with
      INVALID_ARGUMENT, as the kubelet does. SIGTERM stops it; kubelet.sock is left behind (a
      kubelet that dies does not clean up).
      With --pod-resources it also serves the pod resources API (v1.PodResourcesLister) on SOCKET:
      List answers the pods of the JSON file PODS, read at every call (absent: no pod):
        [{"namespace": NS, "name": N, "devices": {"automagic.dev/fast": [ID, ...]}}, ...]
      each pod with one container "main" holding those devices, as the kubelet's record says.

  fake_kubelet.py call --socket S options | allocate ID... | preferred --available IDs --must IDs --size N
      One call on a plugin's socket, as the kubelet makes it; prints the answer as JSON, or
      {"error": {"code": C, "details": D}}.

  fake_kubelet.py dra register --socket REG
      What the kubelet's plugin watcher does with a socket in its plugin registry folder: GetInfo,
      the kubelet's checks (type DRAPlugin, a supported version "v1.DRAPlugin", an absolute endpoint
      that exists), then NotifyRegistrationStatus with the verdict. Prints
      {"info": {"type", "name", "endpoint", "supportedVersions"}, "registered": B, "error": E}.

  fake_kubelet.py dra prepare|unprepare --socket ENDPOINT NAMESPACE/NAME/UID...
      One NodePrepareResources or NodeUnprepareResources call for the claims, as the kubelet's DRA
      manager makes it; prints {"claims": {UID: {"devices": [{"requests", "pool", "device",
      "cdi"}], "error": E}}, "seconds": S} (prepare, S the call's duration) or
      {"claims": {UID: {"error": E}}}, or {"error": {...}}.

The Python code is generated from protos/deviceplugin/v1beta1/api.proto, protos/podresources/v1/api.proto,
protos/dra/v1/api.proto and protos/pluginregistration/v1/api.proto (the files the Swift code comes
from) with grpc_tools.protoc
into a temporary folder at start.
"""
import argparse
import atexit
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_api():
    out = tempfile.mkdtemp(prefix="fake-kubelet-")
    atexit.register(shutil.rmtree, out, True)
    protos = os.path.join(REPO, "protos")
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", protos, "--python_out=" + out,
                    "--grpc_python_out=" + out, "deviceplugin/v1beta1/api.proto", "podresources/v1/api.proto",
                    "dra/v1/api.proto", "pluginregistration/v1/api.proto"], check=True)
    sys.path.insert(0, out)
    from deviceplugin.v1beta1 import api_pb2, api_pb2_grpc  # noqa: E402
    from podresources.v1 import api_pb2 as pr_pb2, api_pb2_grpc as pr_pb2_grpc  # noqa: E402
    from dra.v1 import api_pb2 as dra_pb2, api_pb2_grpc as dra_grpc  # noqa: E402
    from pluginregistration.v1 import api_pb2 as reg_pb2, api_pb2_grpc as reg_grpc  # noqa: E402
    return api_pb2, api_pb2_grpc, pr_pb2, pr_pb2_grpc, dra_pb2, dra_grpc, reg_pb2, reg_grpc


import grpc  # noqa: E402

pb, rpc, prpb, prrpc, dra_pb, dra_rpc, reg_pb, reg_rpc = load_api()
DRA_SERVICE_VERSION = "v1.DRAPlugin"
log_lock = threading.Lock()


def options_dict(o):
    return {"preStartRequired": o.pre_start_required,
            "getPreferredAllocationAvailable": o.get_preferred_allocation_available}


def devices_list(response):
    return [{"id": d.ID, "health": d.health, "numa": [n.ID for n in d.topology.nodes]} for d in response.devices]


class Events:
    def __init__(self, path):
        self.path = path

    def add(self, **fields):
        fields["time"] = time.time()
        line = json.dumps(fields, sort_keys=True)
        with log_lock, open(self.path, "a") as f:
            f.write(line + "\n")
            f.flush()


def follow(directory, request, events):
    """What the kubelet's device manager does after a plugin registered."""
    resource = request.resource_name
    channel = grpc.insecure_channel("unix://" + os.path.join(directory, request.endpoint))
    stub = rpc.DevicePluginStub(channel)
    try:
        options = stub.GetDevicePluginOptions(pb.Empty(), timeout=5)
        events.add(event="options", resource=resource, options=options_dict(options))
        for response in stub.ListAndWatch(pb.Empty()):
            events.add(event="list", resource=resource, devices=devices_list(response))
        events.add(event="stream-end", resource=resource, code="OK")
    except grpc.RpcError as e:
        events.add(event="stream-end", resource=resource, code=str(e.code().name), details=e.details())
    finally:
        channel.close()


class Registration(rpc.RegistrationServicer):
    def __init__(self, directory, events):
        self.directory = directory
        self.events = events

    def Register(self, request, context):
        self.events.add(event="register", resource=request.resource_name, version=request.version,
                        endpoint=request.endpoint, options=options_dict(request.options))
        if request.version != "v1beta1":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          "version %r is not supported (v1beta1)" % request.version)
        threading.Thread(target=follow, args=(self.directory, request, self.events), daemon=True).start()
        return pb.Empty()


class PodResources(prrpc.PodResourcesListerServicer):
    """List from the pods file the test writes (the kubelet's record of which pod holds what)."""

    def __init__(self, pods_path):
        self.pods_path = pods_path

    def List(self, request, context):
        try:
            with open(self.pods_path) as f:
                pods = json.load(f)
        except FileNotFoundError:
            pods = []
        answer = prpb.ListPodResourcesResponse()
        for pod in pods:
            container = prpb.ContainerResources(name="main", devices=[
                prpb.ContainerDevices(resource_name=resource, device_ids=ids)
                for resource, ids in sorted(pod.get("devices", {}).items())])
            answer.pod_resources.append(prpb.PodResources(name=pod["name"], namespace=pod.get("namespace", "default"),
                                                          containers=[container]))
        return answer


def serve(args):
    for path in glob.glob(os.path.join(args.dir, "*")):
        if os.path.basename(path) != "kubelet_internal_checkpoint" and not os.path.isdir(path):
            os.unlink(path)
    events = Events(args.events)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    rpc.add_RegistrationServicer_to_server(Registration(args.dir, events), server)
    server.add_insecure_port("unix://" + os.path.join(args.dir, "kubelet.sock"))
    if args.pod_resources:
        if os.path.exists(args.pod_resources):
            os.unlink(args.pod_resources)
        prrpc.add_PodResourcesListerServicer_to_server(PodResources(args.pods), server)
        server.add_insecure_port("unix://" + args.pod_resources)
    server.start()
    events.add(event="kubelet-started", resource="")
    stop = threading.Event()
    # A test runner may start this with signals blocked; SIGTERM must stop it.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.2):
        pass
    server.stop(0)


def one_call(socket, make_stub, body):
    """Opens a channel to `socket`, prints what body(stub) returns as JSON (an RPC error as
    {"error": {"code", "details"}}) and closes the channel."""
    channel = grpc.insecure_channel("unix://" + socket)
    try:
        out = body(make_stub(channel))
    except grpc.RpcError as e:
        out = {"error": {"code": e.code().name, "details": e.details()}}
    finally:
        channel.close()
    print(json.dumps(out, sort_keys=True))


def call(args):
    one_call(args.socket, rpc.DevicePluginStub, lambda stub: device_plugin_call(stub, args))


def device_plugin_call(stub, args):
    if args.what == "options":
        out = options_dict(stub.GetDevicePluginOptions(pb.Empty(), timeout=5))
    elif args.what == "allocate":
        request = pb.AllocateRequest(container_requests=[pb.ContainerAllocateRequest(devices_ids=args.ids)])
        started = time.monotonic()
        response = stub.Allocate(request, timeout=5)
        out = {"containers": [{"envs": dict(c.envs)} for c in response.container_responses],
               "seconds": time.monotonic() - started}
    elif args.what == "preferred":
        request = pb.PreferredAllocationRequest(container_requests=[pb.ContainerPreferredAllocationRequest(
            available_deviceIDs=args.available, must_include_deviceIDs=args.must, allocation_size=args.size)])
        response = stub.GetPreferredAllocation(request, timeout=5)
        out = {"containers": [list(c.deviceIDs) for c in response.container_responses]}
    elif args.what == "allocate-loop":
        # Allocate latency: args.count calls on one connection, as the kubelet makes them.
        request = pb.AllocateRequest(container_requests=[pb.ContainerAllocateRequest(devices_ids=args.ids)])
        stub.Allocate(request, timeout=5)  # connection set up
        samples = []
        for _ in range(args.count):
            started = time.monotonic()
            stub.Allocate(request, timeout=5)
            samples.append(time.monotonic() - started)
        out = {"seconds": samples}
    else:
        raise SystemExit("unknown call " + args.what)
    return out


def dra_register(args):
    """The kubelet's plugin watcher and DRA registration handler, for one registration socket."""
    one_call(args.socket, reg_rpc.RegistrationStub, dra_register_call)


def dra_register_call(stub):
    info = stub.GetInfo(reg_pb.InfoRequest(), timeout=5)
    out = {"info": {"type": info.type, "name": info.name, "endpoint": info.endpoint,
                    "supportedVersions": list(info.supported_versions)}}
    problem = ""
    if info.type != "DRAPlugin":
        problem = "plugin type %r is not DRAPlugin" % info.type
    elif DRA_SERVICE_VERSION not in info.supported_versions:
        problem = "none of the versions %r is supported (%s)" % (list(info.supported_versions), DRA_SERVICE_VERSION)
    elif not os.path.isabs(info.endpoint) or not os.path.exists(info.endpoint):
        problem = "endpoint %r is not an existing absolute path" % info.endpoint
    stub.NotifyRegistrationStatus(reg_pb.RegistrationStatus(plugin_registered=not problem, error=problem), timeout=5)
    out["registered"] = not problem
    out["error"] = problem
    return out


def dra_claims(specs):
    claims = []
    for spec in specs:
        namespace, name, uid = spec.split("/", 2)
        claims.append(dra_pb.Claim(namespace=namespace, name=name, uid=uid))
    return claims


def dra_call(args):
    """One NodePrepareResources or NodeUnprepareResources, as the kubelet's DRA manager calls it."""
    one_call(args.socket, dra_rpc.DRAPluginStub, lambda stub: dra_stub_call(stub, args))


def dra_stub_call(stub, args):
    if args.what == "prepare":
        started = time.monotonic()
        response = stub.NodePrepareResources(dra_pb.NodePrepareResourcesRequest(claims=dra_claims(args.claims)), timeout=30)
        out = {"seconds": time.monotonic() - started, "claims": {uid: {"error": r.error,
                                "devices": [{"requests": list(d.request_names), "pool": d.pool_name,
                                             "device": d.device_name, "cdi": list(d.cdi_device_ids)} for d in r.devices]}
                          for uid, r in response.claims.items()}}
    else:
        response = stub.NodeUnprepareResources(dra_pb.NodeUnprepareResourcesRequest(claims=dra_claims(args.claims)), timeout=30)
        out = {"claims": {uid: {"error": r.error} for uid, r in response.claims.items()}}
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--dir", required=True)
    s.add_argument("--events", required=True)
    s.add_argument("--pod-resources", help="serve the pod resources API on this socket")
    s.add_argument("--pods", help="the JSON file of pods and their devices that List answers")
    c = sub.add_parser("call")
    c.add_argument("--socket", required=True)
    calls = c.add_subparsers(dest="what", required=True)
    calls.add_parser("options")
    a = calls.add_parser("allocate")
    a.add_argument("ids", nargs="+")
    loop = calls.add_parser("allocate-loop")
    loop.add_argument("--count", type=int, default=1000)
    loop.add_argument("ids", nargs="+")
    p = calls.add_parser("preferred")
    p.add_argument("--available", nargs="*", default=[])
    p.add_argument("--must", nargs="*", default=[])
    p.add_argument("--size", type=int, required=True)
    d = sub.add_parser("dra")
    dra_calls = d.add_subparsers(dest="what", required=True)
    r = dra_calls.add_parser("register")
    r.add_argument("--socket", required=True)
    for what in ("prepare", "unprepare"):
        pr = dra_calls.add_parser(what)
        pr.add_argument("--socket", required=True)
        pr.add_argument("claims", nargs="+", help="NAMESPACE/NAME/UID")
    args = parser.parse_args()
    if args.command == "serve":
        serve(args)
    elif args.command == "dra":
        dra_register(args) if args.what == "register" else dra_call(args)
    else:
        call(args)


if __name__ == "__main__":
    main()
