print("kubectl-automagic: not built yet")
