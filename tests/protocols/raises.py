metadata = {"apiLevel": "2.13", "protocolName": "Raises"}


def run(ctx):
    tips = ctx.load_labware("opentrons_96_tiprack_300ul", 2)
    ctx.comment("about to fail")
    raise ValueError("volume must be positive")
