metadata = {"apiLevel": "2.13", "protocolName": "Temperature module"}


def run(ctx):
    block = ctx.load_module("temperature module gen2", 3)
    tubes = block.load_labware("opentrons_24_aluminumblock_nest_1.5ml_snapcap")
    tips = ctx.load_labware("opentrons_96_tiprack_20ul", 6)
    pipette = ctx.load_instrument("p20_single_gen2", "left", tip_racks=[tips])
    block.set_temperature(4)
    pipette.transfer(10, tubes["A1"], tubes["B1"])
    block.deactivate()
