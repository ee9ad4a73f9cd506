print("automagic-controller: not built yet")
