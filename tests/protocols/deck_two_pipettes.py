"""An 8-channel and a single-channel pipette, a reservoir, a 384-well and a 96-well plate:
which wells the nozzles reach, and which pipette did what (the deck timeline tests)."""

metadata = {"apiLevel": "2.13", "protocolName": "Two pipettes"}

# The tests read these to derive what the protocol does.
MULTI_TO_384 = 10.0
MULTI_TO_96 = 5.0
SINGLE_VOLUME = 50.0


def run(ctx):
    tips20 = ctx.load_labware("opentrons_96_tiprack_20ul", 1)
    tips300 = ctx.load_labware("opentrons_96_tiprack_300ul", 4)
    reservoir = ctx.load_labware("nest_12_reservoir_15ml", 2)
    plate384 = ctx.load_labware("corning_384_wellplate_112ul_flat", 3)
    plate96 = ctx.load_labware("corning_96_wellplate_360ul_flat", 5)
    multi = ctx.load_instrument("p20_multi_gen2", "left", tip_racks=[tips20])
    single = ctx.load_instrument("p300_single_gen2", "right", tip_racks=[tips300])

    multi.pick_up_tip()
    multi.aspirate(MULTI_TO_384, reservoir["A1"])
    multi.dispense(MULTI_TO_384, plate384["A1"])
    multi.aspirate(MULTI_TO_96, reservoir["A1"])
    multi.dispense(MULTI_TO_96, plate96["A2"])
    multi.drop_tip()

    single.pick_up_tip()
    single.transfer(SINGLE_VOLUME, reservoir["A2"], plate96["A1"], new_tip="never")
    single.drop_tip()
