print("automagic: not built yet")
