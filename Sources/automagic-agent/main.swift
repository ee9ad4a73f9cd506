print("automagic-agent: not built yet")
