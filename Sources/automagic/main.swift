// The `automagic` CNI plugin. Executed by the container runtime once per attachment; links
// only JSON, MappingFile, CNI and CNIPlugin so that it starts fast and never needs the network.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNIPlugin

exit(AutomagicMain.run())
