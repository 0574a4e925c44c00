metadata = {"apiLevel": "2.13"}


def run(ctx):
    hoard = []
    while True:
        hoard.append(bytearray(64 * 1024 * 1024))
