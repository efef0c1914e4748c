import Makemore
print("makemore")
