"""Two pipettes holding tips at the same time, taking turns: the step texts do not say which
pipette aspirates, and reading them guesses wrong; the structured step data says (the deck
timeline tests)."""

metadata = {"apiLevel": "2.13", "protocolName": "Two pipettes, taking turns"}

# The tests read these to derive what the protocol does.
MULTI_VOLUME = 10.0
SINGLE_VOLUME = 50.0


def run(ctx):
    tips20 = ctx.load_labware("opentrons_96_tiprack_20ul", 1)
    tips300 = ctx.load_labware("opentrons_96_tiprack_300ul", 4)
    reservoir = ctx.load_labware("nest_12_reservoir_15ml", 2)
    plate = ctx.load_labware("corning_96_wellplate_360ul_flat", 5)
    multi = ctx.load_instrument("p20_multi_gen2", "left", tip_racks=[tips20])
    single = ctx.load_instrument("p300_single_gen2", "right", tip_racks=[tips300])

    multi.pick_up_tip()
    single.pick_up_tip()
    multi.aspirate(MULTI_VOLUME, reservoir["A1"])  # the single picked up last
    multi.dispense(MULTI_VOLUME, plate["A2"])
    single.aspirate(SINGLE_VOLUME, reservoir["A2"])
    single.dispense(SINGLE_VOLUME, plate["A1"])
    multi.drop_tip()
    single.drop_tip()
