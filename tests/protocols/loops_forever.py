metadata = {"apiLevel": "2.13"}


def run(ctx):
    while True:
        pass
