import sys

metadata = {"apiLevel": "2.13"}


def run(ctx):
    ctx.comment("leaving")
    sys.exit(1)
