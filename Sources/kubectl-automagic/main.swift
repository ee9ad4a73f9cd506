// kubectl-automagic: the kubectl plugin (`kubectl automagic ...`). All logic lives in KubectlPlugin.
import Foundation
import KubectlPlugin

exit(await KubectlAutomagic.run(Array(CommandLine.arguments.dropFirst())))
