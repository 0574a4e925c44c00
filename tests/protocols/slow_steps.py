"""Each step is a 2-second delay: with ot2-sim --speed 1 the run takes about a minute."""
metadata = {"apiLevel": "2.13", "protocolName": "Slow steps"}


def run(ctx):
    for index in range(30):
        ctx.delay(seconds=2, msg=f"waiting {index}")
