// KubeRuntime: the controller runtime of Automagic, in layers (kube-rs style):
//
//   ListWatchSource (ResourceClient or a fake)
//     → WatcherState (pure list/watch/relist state machine) → Watcher (driver + Backoff)
//       → Store (cache by ObjectKey, change subscriptions, hasSynced) = Informer
//         → WorkQueue (dedupe, one in flight per key, delayed and rate-limited requeue)
//           → ReconcileRunner (level-based, with per-key backoff)
//   LeaderElectionState (pure) → LeaderElector (Lease acquire/renew/release)
//   retryOnConflict / ResourceClient.modify, ShutdownSignals (SIGTERM/SIGINT → cancellation)
//
// Every state machine takes `now` explicitly; drivers read a `RuntimeClock` (`ManualClock` in tests).
// Client-side QPS/burst limiting and Retry-After handling live in KubeClient's transport.
