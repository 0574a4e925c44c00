"""``GET /pipettes`` and ``GET /modules``: the robot's attached hardware, as robot software 4.7
lists it (legacy routes: their validation errors are ``{"message": ...}``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from ot2_notebook.simulator.api.dependencies import Hardware
from ot2_notebook.simulator.api.models import error_responses
from ot2_notebook.simulator.api.responses import Modules, PipettesByMount
from ot2_notebook.simulator.api.versioning import check_version

router = APIRouter(
    dependencies=[Depends(check_version)],
    responses=error_responses(400, 403, 422, legacy=True),
)


@router.get(
    "/pipettes",
    tags=["Pipettes"],
    summary="Get the pipettes currently attached",
    description=(
        "The pipette on each mount: model, name, serial (`id`), axes; `model`, `name`, "
        "`tip_length` and `id` are null on an empty mount. The simulated robot's pipettes "
        "are set with `ot2-sim --hardware`, `--left`, `--right`."
    ),
    response_model=PipettesByMount,
)
async def get_pipettes(
    hardware: Hardware,
    refresh: Annotated[
        bool,
        Query(description="Scan the mounts again (a robot disables its pipette motors)"),
    ] = False,
) -> dict[str, Any]:
    return hardware.pipettes_json()


@router.get(
    "/modules",
    tags=["Modules"],
    summary="Get Modules",
    description=(
        "Describe the modules attached to the OT-2 (set with `ot2-sim --hardware`, "
        "`--module`). Their live data is that of an idle module."
    ),
    response_model=Modules,
)
async def get_modules(hardware: Hardware) -> dict[str, Any]:
    return {"modules": hardware.modules_json()}
