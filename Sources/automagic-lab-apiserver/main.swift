print("automagic-lab-apiserver: not built yet")
