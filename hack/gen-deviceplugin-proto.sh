#!/usr/bin/env bash
# Generates the Swift messages and gRPC stubs of the kubelet's plugin APIs. Run it after editing a
# .proto and commit the result: builds and CI never run protoc.
#   Sources/DevicePluginAPI/   protos/deviceplugin/v1beta1/api.proto (device plugin API) and
#                              protos/podresources/v1/api.proto (pod resources API: which pod holds which device)
#   Sources/KubeletPluginAPI/  protos/dra/v1/api.proto (DRA plugin API) and
#                              protos/pluginregistration/v1/api.proto (plugin registration)
#
# protoc comes from Debian's protobuf-compiler. protoc-gen-swift and protoc-gen-grpc-swift-2 are
# built once from the mirrored packages (the same versions as Package.swift's) into a scratch
# folder outside the repository (AUTOMAGIC_PROTOC_PLUGINS_DIR, default
# /var/tmp/automagic-protoc-plugins); a first build takes around ten minutes on two cores.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
scratch=${AUTOMAGIC_PROTOC_PLUGINS_DIR:-/var/tmp/automagic-protoc-plugins}
export PATH=/opt/swift/usr/bin:$PATH
swift_protobuf_version=1.39.0
grpc_swift_protobuf_version=2.4.1

command -v protoc >/dev/null || {
  echo "protoc not found: apt-get install protobuf-compiler" >&2; exit 1; }

mkdir -p "$scratch/Sources/placeholder"
cat > "$scratch/Package.swift" <<MANIFEST
// swift-tools-version:6.1
// Scratch package: only here to build the protoc plugins for hack/gen-deviceplugin-proto.sh.
import PackageDescription
let package = Package(
    name: "automagic-protoc-plugins",
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf", exact: "$swift_protobuf_version"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", exact: "$grpc_swift_protobuf_version"),
    ],
    targets: [.target(name: "placeholder")]
)
MANIFEST
echo "// empty" > "$scratch/Sources/placeholder/placeholder.swift"
for product in protoc-gen-swift protoc-gen-grpc-swift-2; do
  echo "building $product in $scratch (once)..." >&2
  swift build --package-path "$scratch" -c release --product "$product" >&2
done
bin=$(swift build --package-path "$scratch" -c release --show-bin-path)

# generate TARGET FILE_NAMING PROTO...: writes Sources/TARGET/ from the given protos.
generate() {
  local target=$1 naming=$2
  shift 2
  local out="$repo/Sources/$target" tmp
  tmp=$(mktemp -d)
  protoc --proto_path="$repo/protos" \
    --plugin=protoc-gen-swift="$bin/protoc-gen-swift" \
    --plugin=protoc-gen-grpc-swift="$bin/protoc-gen-grpc-swift-2" \
    --swift_opt=Visibility=Public --swift_opt=FileNaming="$naming" \
    --grpc-swift_opt=Visibility=Public --grpc-swift_opt=FileNaming="$naming" \
    --grpc-swift_opt=Client=true --grpc-swift_opt=Server=true \
    --swift_out="$tmp" --grpc-swift_out="$tmp" \
    "$@"
  mkdir -p "$out"
  rm -f "$out"/*.pb.swift "$out"/*.grpc.swift
  cp "$tmp"/*.swift "$out"/
  rm -rf "$tmp"
  echo "wrote $target: $(cd "$out" && ls *.swift | tr '\n' ' ')" >&2
}

# Several files called api.proto: their Swift files are named after their paths.
generate DevicePluginAPI PathToUnderscores deviceplugin/v1beta1/api.proto podresources/v1/api.proto
generate KubeletPluginAPI PathToUnderscores dra/v1/api.proto pluginregistration/v1/api.proto
